// naming.cpp — torchvision's names for our models' tensors, family by family.
#include "naming.h"

#include <flux/conv.h>
#include <flux/normalise.h>
#include <flux/pooling.h>

#include <functional>
#include <map>
#include <stdexcept>

namespace metalhead::weights::detail {
namespace {


// ---- families -------------------------------------------------------------------------

void alexnet_vgg_squeezenet(KeyMap& out, const Node& backbone, const Node& head, const std::string& family) {
  // torchvision's `features` numbers every module: conv, [BatchNorm], ReLU, pools.
  // Our convs carry their relu, so a conv group advances the index by one more.
  auto kids = children(backbone);
  size_t i = 0;
  for (size_t k = 0; k < kids.size(); ++k) {
    const Node& c = kids[k];
    if (is<flux::ConvImpl>(c)) {
      Leaves(out, c)(at("features", i++)).finish();
      if (k + 1 < kids.size() && is<flux::BatchNormImpl>(kids[k + 1])) Leaves(out, kids[++k])(at("features", i++)).finish();
      ++i;  // ReLU
    } else if (is<flux::PoolImpl>(c) || is<flux::AdaptivePoolImpl>(c)) {
      ++i;
    } else if (has_tensors_under(*c.module)) {  // a Fire module
      const std::string p = at("features", i++);
      Leaves(out, c)(p + ".squeeze")(p + ".expand1x1")(p + ".expand3x3").finish();
    }
  }
  Leaves h(out, head);
  if (family == "AlexNet") h("classifier.1")("classifier.4")("classifier.6");
  if (family == "VGG") h("classifier.0")("classifier.3")("classifier.6");
  if (family == "SqueezeNet") h("classifier.1");
  h.finish();
}

void resnet(KeyMap& out, const Node& backbone, const Node& head) {
  auto stages = children(backbone);
  Leaves(out, stages.at(0))("conv1")("bn1").finish();
  for (size_t s = 1; s < stages.size(); ++s) {
    auto blocks = children(stages[s]);
    for (size_t b = 0; b < blocks.size(); ++b) {
      // Each block is Parallel(shortcut, residual) joined by addact.
      const std::string p = "layer" + std::to_string(s) + "." + std::to_string(b) + ".";
      Leaves shortcut(out, child(blocks[b], 0));
      if (!shortcut.done()) shortcut(p + "downsample.0")(p + "downsample.1");
      shortcut.finish();
      Leaves residual(out, child(blocks[b], 1));
      for (int k = 1; !residual.done(); ++k) residual(p + "conv" + std::to_string(k))(p + "bn" + std::to_string(k));
    }
  }
  Leaves(out, head)("fc").finish();
}

void densenet(KeyMap& out, const Node& backbone, const Node& head) {
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("features.conv0").finish();
  Leaves(out, kids.at(1))("features.norm0").finish();
  int block = 1, layer = 1;
  for (size_t k = 2; k < kids.size(); ++k) {
    Leaves l(out, kids[k]);
    const std::string b = "features.denseblock" + std::to_string(block) + ".denselayer" + std::to_string(layer);
    switch (l.remaining()) {
      case 0: break;  // pools
      case 4: l(b + ".norm1")(b + ".conv1")(b + ".norm2")(b + ".conv2"); ++layer; break;
      case 2: l("features.transition" + std::to_string(block) + ".norm")("features.transition" + std::to_string(block) + ".conv"); ++block, layer = 1; break;
      case 1: l("features.norm5"); break;
      default: l.finish();
    }
    l.finish();
  }
  Leaves(out, head)("classifier").finish();
}

void googlenet(KeyMap& out, const Node& backbone, const Node& head) {
  const std::vector<std::string> names = {"conv1",       "conv2",       "conv3",       "inception3a", "inception3b",
                                          "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
                                          "inception5a", "inception5b"};
  size_t j = 0;
  for (const auto& c : children(backbone)) {
    Leaves l(out, c);
    if (l.done()) continue;
    const std::string& n = names.at(j++);
    if (j <= 3) {
      l(n + ".conv")(n + ".bn");
    } else {
      for (const char* branch : {"branch1", "branch2.0", "branch2.1", "branch3.0", "branch3.1", "branch4.1"}) {
        l(n + "." + branch + ".conv")(n + "." + branch + ".bn");
      }
    }
    l.finish();
  }
  Leaves(out, head)("fc").finish();
}

void inceptionv3(KeyMap& out, const Node& backbone, const Node& head) {
  using Names = std::vector<std::string>;
  const Names a = {"branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3",
                   "branch_pool"};
  const Names b = {"branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"};
  const Names c = {"branch1x1",      "branch7x7_1",    "branch7x7_2",    "branch7x7_3",    "branch7x7dbl_1",
                   "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool"};
  const Names d = {"branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"};
  const Names e = {"branch1x1",      "branch3x3_1",    "branch3x3_2a",   "branch3x3_2b",
                   "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"};
  const std::vector<std::pair<std::string, const Names*>> modules = {
      {"Conv2d_1a_3x3", nullptr}, {"Conv2d_2a_3x3", nullptr}, {"Conv2d_2b_3x3", nullptr}, {"Conv2d_3b_1x1", nullptr},
      {"Conv2d_4a_3x3", nullptr}, {"Mixed_5b", &a},           {"Mixed_5c", &a},           {"Mixed_5d", &a},
      {"Mixed_6a", &b},           {"Mixed_6b", &c},           {"Mixed_6c", &c},           {"Mixed_6d", &c},
      {"Mixed_6e", &c},           {"Mixed_7a", &d},           {"Mixed_7b", &e},           {"Mixed_7c", &e}};
  size_t j = 0;
  for (const auto& node : children(backbone)) {
    Leaves l(out, node);
    if (l.done()) continue;
    const auto& [name, branches] = modules.at(j++);
    if (!branches) l(name + ".conv")(name + ".bn");
    for (const auto& br : branches ? *branches : Names{}) l(name + "." + br + ".conv")(name + "." + br + ".bn");
    l.finish();
  }
  Leaves(out, head)("fc").finish();
}

/// The blocks of an inverted-residual model (our backbone: stem conv, stem norm, one
/// Chain per stage, head conv, head norm), each named by `block(leaves, stage, index)`.
void inverted_residual(KeyMap& out, const Node& backbone, const std::string& stem, const std::string& head_conv,
                       const std::function<void(Leaves&, size_t, size_t)>& block) {
  auto kids = children(backbone);
  if (kids.size() < 5) throw std::logic_error("torchvision naming: unexpected backbone " + backbone.path);
  Leaves(out, kids[0])(stem + ".0").finish();
  Leaves(out, kids[1])(stem + ".1").finish();
  for (size_t s = 2; s + 2 < kids.size(); ++s) {
    auto blocks = children(kids[s]);
    for (size_t b = 0; b < blocks.size(); ++b) {
      Leaves l(out, blocks[b]);
      block(l, s - 1, b);
      l.finish();
    }
  }
  Leaves(out, kids[kids.size() - 2])(head_conv + ".0").finish();
  Leaves(out, kids[kids.size() - 1])(head_conv + ".1").finish();
}

/// torchvision's MBConv/FusedMBConv/InvertedResidual (v3) body: `block.j` for each
/// conv-norm pair and each squeeze-excitation (fc1, fc2).
void mbconv_body(Leaves& l, const std::string& p) {
  for (size_t j = 0; !l.done(); ++j) {
    const std::string q = at(p, j);
    if (l.pair_is_conv_norm()) {
      l.conv_norm(q);
    } else {
      l(q + ".fc1")(q + ".fc2");
    }
  }
}

void mobilenetv2(KeyMap& out, const Node& backbone, const Node& head) {
  size_t k = 1;
  inverted_residual(out, backbone, "features.0", "features.18", [&](Leaves& l, size_t, size_t) {
    // conv.0, conv.1, ... for the conv-norm pairs, then the projection as conv.j and its norm conv.j+1.
    const std::string p = at("features", k++) + ".conv";
    size_t j = 0;
    for (; l.remaining() > 2; ++j) l.conv_norm(at(p, j));
    l(at(p, j))(at(p, j + 1));
  });
  Leaves(out, head)("classifier.1").finish();
}

void mobilenetv3(KeyMap& out, const Node& backbone, const Node& head) {
  auto kids = children(backbone);
  size_t nblocks = 0;
  for (size_t s = 2; s + 2 < kids.size(); ++s) nblocks += children(kids[s]).size();
  size_t k = 1;
  inverted_residual(out, backbone, "features.0", at("features", nblocks + 1),
                    [&](Leaves& l, size_t, size_t) { mbconv_body(l, at("features", k++) + ".block"); });
  Leaves(out, head)("classifier.0")("classifier.3").finish();
}

void efficientnet(KeyMap& out, const Node& backbone, const Node& head) {
  const size_t nstages = children(backbone).size() - 4;
  inverted_residual(out, backbone, "features.0", at("features", nstages + 1), [&](Leaves& l, size_t s, size_t b) {
    mbconv_body(l, at(at("features", s), b) + ".block");
  });
  Leaves(out, head)("classifier.1").finish();
}

void mnasnet(KeyMap& out, const Node& backbone, const Node& head) {
  // torchvision's `layers` Sequential: stem conv 0, bn 1, the separable conv 3, 4, 6, 7,
  // the stacks 8 ... 13 (blocks of layers 0, 1, 3, 4, 6, 7), head conv 14, bn 15.
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("layers.0").finish();
  Leaves(out, kids.at(1))("layers.1").finish();
  for (size_t s = 2; s + 2 < kids.size(); ++s) {
    auto blocks = children(kids[s]);
    for (size_t b = 0; b < blocks.size(); ++b) {
      Leaves l(out, blocks[b]);
      if (s == 2) {
        l("layers.3")("layers.4")("layers.6")("layers.7");
      } else {
        const std::string p = at(at("layers", s + 5), b) + ".layers";
        for (int j : {0, 1, 3, 4, 6, 7}) l(at(p, j));
      }
      l.finish();
    }
  }
  Leaves(out, kids[kids.size() - 2])("layers.14").finish();
  Leaves(out, kids[kids.size() - 1])("layers.15").finish();
  Leaves(out, head)("classifier.1").finish();
}

void convnext(KeyMap& out, const Node& backbone, const Node& head) {
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("features.0.0")("features.0.1").finish();
  for (size_t i = 1; i < kids.size(); ++i) {
    const std::string f = at("features", i);
    if (i % 2 == 0) {  // downsampling: LayerNorm2d, then the 2×2 conv
      Leaves(out, kids[i])(f + ".0")(f + ".1").finish();
      continue;
    }
    auto blocks = children(kids[i]);
    for (size_t b = 0; b < blocks.size(); ++b) {
      const std::string p = at(f, b);
      Leaves(out, blocks[b])(p + ".block.0")(p + ".block.2")(p + ".block.3")(p + ".block.5")
          .keys({{"scale", p + ".layer_scale"}})
          .finish();
    }
  }
  Leaves(out, head)("classifier.0")("classifier.2").finish();
}

void vit(KeyMap& out, const Node& backbone, const Node& head) {
  Leaves l(out, backbone);
  l("conv_proj").keys({{"token", "class_token"}}).keys({{"vectors", "encoder.pos_embedding"}}, true);
  for (size_t i = 0; !l.done(); ++i) {
    const std::string p = "encoder.layers.encoder_layer_" + std::to_string(i);
    l(p + ".ln_1")
        .keys({{"weight", p + ".self_attention.in_proj_weight"}, {"bias", p + ".self_attention.in_proj_bias"}})(
            p + ".self_attention.out_proj")(p + ".ln_2")(p + ".mlp.0")(p + ".mlp.3");
  }
  Leaves(out, head)("encoder.ln")("heads.head").finish();
}

void shufflenet(KeyMap& out, const Node& backbone, const Node& head) {
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("conv1.0")("conv1.1").finish();
  for (size_t s = 2; s + 1 < kids.size(); ++s) {
    auto units = children(kids[s]);
    for (size_t u = 0; u < units.size(); ++u) {
      const std::string p = "stage" + std::to_string(s) + "." + std::to_string(u) + ".";
      Leaves l(out, units[u]);
      if (l.remaining() == 10) l(p + "branch1.0")(p + "branch1.1")(p + "branch1.2")(p + "branch1.3");  // stride 2
      for (int j : {0, 1, 3, 4, 5, 6}) l(p + "branch2." + std::to_string(j));  // 2 is its ReLU
      l.finish();
    }
  }
  Leaves(out, kids.back())("conv5.0")("conv5.1").finish();
  Leaves(out, head)("fc").finish();
}

void regnet(KeyMap& out, const Node& backbone, const Node& head) {
  auto stages = children(backbone);
  Leaves(out, stages.at(0))("stem.0")("stem.1").finish();
  for (size_t s = 1; s < stages.size(); ++s) {
    auto blocks = children(stages[s]);
    for (size_t b = 0; b < blocks.size(); ++b) {
      // Parallel(addact, shortcut, f): torchvision's proj and f.
      const std::string i = std::to_string(s);
      const std::string p = "trunk_output.block" + i + ".block" + i + "-" + std::to_string(b) + ".";
      Leaves shortcut(out, child(blocks[b], 0));
      if (!shortcut.done()) shortcut(p + "proj.0")(p + "proj.1");
      shortcut.finish();
      Leaves f(out, child(blocks[b], 1));
      f(p + "f.a.0")(p + "f.a.1")(p + "f.b.0")(p + "f.b.1");
      if (f.remaining() == 4) f(p + "f.se.fc1")(p + "f.se.fc2");
      f(p + "f.c.0")(p + "f.c.1").finish();
    }
  }
  Leaves(out, head)("fc").finish();
}

void swin(KeyMap& out, const Node& backbone, const Node& head) {
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("features.0.0")("features.0.2").finish();
  for (size_t i = 1; i < kids.size(); ++i) {
    const std::string f = at("features", i);
    if (i % 2 == 0) {  // PatchMerging: its norm and reduction keep their names
      Leaves(out, kids[i])(f + ".norm")(f + ".reduction").finish();
      continue;
    }
    auto blocks = children(kids[i]);
    for (size_t b = 0; b < blocks.size(); ++b) {
      const std::string p = at(f, b) + ".";
      Leaves l(out, blocks[b]);
      // The attention's own tensors first, then its Dense layers (and V2's cpb_mlp): 9
      // leaves in a V2 block, 7 in a V1 block.
      const bool v2 = l.remaining() > 8;
      if (!v2) l(p + "norm1");
      if (v2) {
        l.keys({{"logit_scale", p + "attn.logit_scale"}, {"relative_position_index", p + "attn.relative_position_index"},
                {"relative_coords_table", p + "attn.relative_coords_table"}});
      } else {
        l.keys({{"relative_position_bias_table", p + "attn.relative_position_bias_table"},
                {"relative_position_index", p + "attn.relative_position_index"}});
      }
      l(p + "attn.qkv")(p + "attn.proj");
      if (v2) l(p + "attn.cpb_mlp.0")(p + "attn.cpb_mlp.2")(p + "norm1")(p + "mlp.0")(p + "mlp.3")(p + "norm2");
      else l(p + "norm2")(p + "mlp.0")(p + "mlp.3");
      l.finish();
    }
  }
  Leaves(out, head)("norm")("head").finish();
}

void maxvit(KeyMap& out, const Node& backbone, const Node& head) {
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("stem.0.0")("stem.0.1")("stem.1.0").finish();
  for (size_t s = 1; s < kids.size(); ++s) {
    auto layers = children(kids[s]);
    for (size_t j = 0; j < layers.size(); ++j) {
      const std::string p = "blocks." + std::to_string(s - 1) + ".layers." + std::to_string(j) + ".layers.";
      // Chain(MBConv = Parallel(plus, shortcut, f), window attention, grid attention).
      const Node mb = child(layers[j], 0);
      Leaves shortcut(out, child(mb, 0));
      const bool pooled = !shortcut.done() && children(child(mb, 0)).size() == 2;  // AvgPool, Conv
      if (!shortcut.done()) shortcut(p + "MBconv.proj." + (pooled ? "1" : "0"));
      shortcut.finish();
      const std::string f = p + "MBconv.layers.";
      Leaves(out, child(mb, 1))(f + "pre_norm")(f + "conv_a.0")(f + "conv_a.1")(f + "conv_b.0")(f + "conv_b.1")(
          f + "squeeze_excitation.fc1")(f + "squeeze_excitation.fc2")(f + "conv_c")
          .finish();
      for (size_t a = 1; a <= 2; ++a) {
        const std::string q = p + (a == 1 ? "window_attention." : "grid_attention.");
        Leaves(out, child(layers[j], a))(q + "attn_layer.0")(q + "attn_layer.1")(q + "attn_layer.1.to_qkv")(
            q + "attn_layer.1.merge")(q + "mlp_layer.0")(q + "mlp_layer.1")(q + "mlp_layer.3")
            .finish();
      }
    }
  }
  Leaves(out, head)("classifier.2")("classifier.3")("classifier.5").finish();
}

const Namers& namers() {
  static const Namers table = {
      {"AlexNet", [](KeyMap& o, const Node& b, const Node& h) { alexnet_vgg_squeezenet(o, b, h, "AlexNet"); }},
      {"VGG", [](KeyMap& o, const Node& b, const Node& h) { alexnet_vgg_squeezenet(o, b, h, "VGG"); }},
      {"SqueezeNet", [](KeyMap& o, const Node& b, const Node& h) { alexnet_vgg_squeezenet(o, b, h, "SqueezeNet"); }},
      {"ResNet", resnet},
      {"WideResNet", resnet},
      {"ResNeXt", resnet},
      {"DenseNet", densenet},
      {"GoogLeNet", googlenet},
      {"Inceptionv3", inceptionv3},
      {"MobileNetv2", mobilenetv2},
      {"MobileNetv3", mobilenetv3},
      {"MNASNet", mnasnet},
      {"EfficientNet", efficientnet},
      {"EfficientNetv2", efficientnet},
      {"ConvNeXt", convnext},
      {"ViT", vit},
      {"RegNet", regnet},
      {"ShuffleNetv2", shufflenet},
      {"SwinTransformer", swin},
      {"MaxViT", maxvit},
  };
  return table;
}

}  // namespace

bool has_torchvision_naming(const Model& model) { return namers().count(model->type_name) > 0; }

KeyMap torchvision_keys(const Model& model) { return run_namer(namers(), model, "torchvision"); }

}  // namespace metalhead::weights::detail
