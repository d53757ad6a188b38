// timm_naming.cpp — timm's names for our models' tensors, family by family.
#include "naming.h"

#include <flux/conv.h>
#include <flux/normalise.h>


namespace metalhead::weights::detail {
namespace {

/// Whether a node is a depthwise convolution (one input channel per group, several outputs).
bool is_depthwise(const Node& n) {
  if (!is<flux::ConvImpl>(n)) return false;
  for (const auto& p : n.module->named_parameters(false)) {
    if (p.key() == "weight") return p.value().dim() == 4 && p.value().size(1) == 1 && p.value().size(0) > 1;
  }
  return false;
}

/// The child nodes of `n` that hold tensors somewhere below them.
std::vector<Node> parametrised_children(const Node& n) {
  std::vector<Node> out;
  for (const auto& c : children(n)) {
    if (has_tensors_under(*c.module)) out.push_back(c);
  }
  return out;
}

// ---- transformers and MLPs -------------------------------------------------------------

void vit(KeyMap& out, const Node& backbone, const Node& head) {
  // Our token and position embedding are [1, 1, D] and [T, D]; timm's pos_embed is [1, T, D].
  Leaves l(out, backbone);
  l("patch_embed.proj").keys({{"token", "cls_token"}}).keys({{"vectors", "pos_embed"}}, true);
  for (size_t i = 0; !l.done(); ++i) {
    const std::string p = at("blocks", i);
    l(p + ".norm1")(p + ".attn.qkv")(p + ".attn.proj")(p + ".norm2")(p + ".mlp.fc1")(p + ".mlp.fc2");
  }
  Leaves(out, head)("norm")("head").finish();
}

void mlpmixer(KeyMap& out, const Node& backbone, const Node& head) {
  Leaves l(out, backbone);
  l("stem.proj");
  for (size_t i = 0; !l.done(); ++i) {
    const std::string p = at("blocks", i);
    l(p + ".norm1")(p + ".mlp_tokens.fc1")(p + ".mlp_tokens.fc2")(p + ".norm2")(p + ".mlp_channels.fc1")(
        p + ".mlp_channels.fc2");
  }
  Leaves(out, head)("norm")("head").finish();
}

void resmlp(KeyMap& out, const Node& backbone, const Node& head) {
  // timm's Affine is (alpha, beta), ours (scale, bias); the layer scales are bare tensors ls1, ls2.
  auto affine = [](const std::string& p) { return std::map<std::string, std::string>{{"scale", p + ".alpha"}, {"bias", p + ".beta"}}; };
  Leaves l(out, backbone);
  l("stem.proj");
  for (size_t i = 0; !l.done(); ++i) {
    const std::string p = at("blocks", i);
    l.keys(affine(p + ".norm1"))(p + ".linear_tokens").keys({{"scale", p + ".ls1"}});
    l.keys(affine(p + ".norm2"))(p + ".mlp_channels.fc1")(p + ".mlp_channels.fc2").keys({{"scale", p + ".ls2"}});
  }
  Leaves(out, head).keys(affine("norm"))("head").finish();
}

void gmlp(KeyMap& out, const Node& backbone, const Node& head) {
  Leaves l(out, backbone);
  l("stem.proj");
  for (size_t i = 0; !l.done(); ++i) {
    const std::string p = at("blocks", i) + ".";
    l(p + "norm")(p + "mlp_channels.fc1")(p + "mlp_channels.gate.norm")(p + "mlp_channels.gate.proj")(
        p + "mlp_channels.fc2");
  }
  Leaves(out, head)("norm")("head").finish();
}

// ---- convolutional ---------------------------------------------------------------------

void convnext(KeyMap& out, const Node& backbone, const Node& head) {
  // Our backbone: stem, blocks, (downsample, blocks)...; timm's stage 0 has no downsample.
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("stem.0")("stem.1").finish();
  for (size_t i = 1; i < kids.size(); ++i) {
    const std::string s = at("stages", i / 2);
    if (i % 2 == 0) {  // downsampling: LayerNorm2d, then the 2×2 conv
      Leaves(out, kids[i])(s + ".downsample.0")(s + ".downsample.1").finish();
      continue;
    }
    auto blocks = children(kids[i]);
    for (size_t b = 0; b < blocks.size(); ++b) {
      const std::string p = at(s + ".blocks", b);
      // timm's gamma is [C], our layer scale [C, 1, 1].
      Leaves(out, blocks[b])(p + ".conv_dw")(p + ".norm")(p + ".mlp.fc1")(p + ".mlp.fc2")
          .keys({{"scale", p + ".gamma"}})
          .finish();
    }
  }
  Leaves(out, head)("head.norm")("head.fc").finish();
}

void convmixer(KeyMap& out, const Node& backbone, const Node& head) {
  // timm's Sequentials count the activations: stem (conv 0, act 1, norm 2) and each
  // block (Residual(conv 0, act 1, norm 2) as .0.fn, pointwise conv 1, act 2, norm 3).
  Leaves l(out, backbone);
  l("stem.0")("stem.2");
  for (size_t i = 0; !l.done(); ++i) {
    const std::string p = at("blocks", i);
    l(p + ".0.fn.0")(p + ".0.fn.2")(p + ".1")(p + ".3");
  }
  Leaves(out, head)("head").finish();
}

/// One block of timm's EfficientNet builder, its kind told by its layers: ConvBnAct
/// (one conv-norm pair), DepthwiseSeparable (depthwise, pointwise), EdgeResidual (full
/// expansion conv, pointwise) or InvertedResidual (pointwise, depthwise, pointwise), each
/// with an optional squeeze-excitation (two convs without norms) where timm has it.
void efficientnet_block(KeyMap& out, const Node& block, const std::string& p) {
  const auto leaves = leaves_of(block);
  auto conv_norm_at = [&](size_t i) {
    return i + 1 < leaves.size() && is<flux::ConvImpl>(leaves[i]) && is<flux::BatchNormImpl>(leaves[i + 1]);
  };
  size_t pairs = 0;
  for (size_t i = 0; i < leaves.size(); ++i) pairs += conv_norm_at(i);
  std::vector<std::string> names;
  if (pairs == 1) names = {"conv", "bn1"};
  if (pairs == 2) names = is_depthwise(leaves[0]) ? std::vector<std::string>{"conv_dw", "bn1", "conv_pw", "bn2"}
                                                  : std::vector<std::string>{"conv_exp", "bn1", "conv_pwl", "bn2"};
  if (pairs == 3) names = {"conv_pw", "bn1", "conv_dw", "bn2", "conv_pwl", "bn3"};
  if (names.empty()) throw std::logic_error(naming_error_prefix + "timm: unknown EfficientNet block " + block.path);
  Leaves l(out, block);
  for (size_t i = 0, j = 0; !l.done();) {
    if (conv_norm_at(i)) {
      l(p + "." + names.at(j))(p + "." + names.at(j + 1));
      j += 2;
    } else {
      l(p + ".se.conv_reduce")(p + ".se.conv_expand");
    }
    i += 2;
  }
  l.finish();
}

/// timm's EfficientNet (also its MobileNetv1 and MNASNets): conv_stem, bn1, blocks.s.b,
/// [conv_head, bn2], classifier. Our backbone: stem conv, stem norm, one Chain per stage,
/// then (not for MobileNetv1) the head conv and norm.
void efficientnet(KeyMap& out, const Node& backbone, const Node& head) {
  auto kids = children(backbone);
  Leaves(out, kids.at(0))("conv_stem").finish();
  Leaves(out, kids.at(1))("bn1").finish();
  size_t s = 0;
  for (size_t k = 2; k < kids.size(); ++k) {
    const Node& c = kids[k];
    if (is<flux::ConvImpl>(c)) {
      Leaves(out, c)("conv_head").finish();
    } else if (is<flux::BatchNormImpl>(c)) {
      Leaves(out, c)("bn2").finish();
    } else if (has_tensors_under(*c.module)) {
      auto blocks = parametrised_children(c);
      for (size_t b = 0; b < blocks.size(); ++b) efficientnet_block(out, blocks[b], at(at("blocks", s), b));
      ++s;
    }
  }
  Leaves(out, head)("classifier").finish();
}

// ---- ResNets -------------------------------------------------------------------------

size_t conv_norm_pairs(const std::vector<Node>& leaves) {
  size_t pairs = 0;
  for (size_t i = 0; i + 1 < leaves.size(); ++i) {
    pairs += is<flux::ConvImpl>(leaves[i]) && is<flux::BatchNormImpl>(leaves[i + 1]);
  }
  return pairs;
}

/// timm's ResNet (SE-ResNet, SE-ResNeXt) and Res2Net: torchvision's layout (conv1, bn1,
/// layerS.B.{convK, bnK, downsample.0/1}, fc), with the squeeze-excitation as se.fc1/fc2
/// and Res2Net's middle conv-norm pairs (one per scale but the last) as convs.i/bns.i.
void resnet(KeyMap& out, const Node& backbone, const Node& head, bool res2net) {
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
      const Node residual = child(blocks[b], 1);
      const size_t pairs = conv_norm_pairs(leaves_of(residual));
      Leaves l(out, residual);
      for (size_t k = 1; k <= pairs; ++k) {
        if (!res2net || k == 1) {
          l(p + "conv" + std::to_string(k))(p + "bn" + std::to_string(k));
        } else if (k == pairs) {
          l(p + "conv3")(p + "bn3");
        } else {
          l(at(p + "convs", k - 2))(at(p + "bns", k - 2));
        }
      }
      if (!l.done()) l(p + "se.fc1")(p + "se.fc2");
      l.finish();
    }
  }
  Leaves(out, head)("fc").finish();
}

// ---- Inception, Xception -------------------------------------------------------------

using Names = std::vector<std::string>;

/// timm's BasicConv2d (`.conv`, `.bn`) for each branch of `module`, in order; the
/// branch "" is the module itself.
void basic_convs(Leaves& l, const std::string& module, const Names& branches) {
  for (const auto& b : branches) {
    const std::string n = b.empty() ? module : module + "." + b;
    l(n + ".conv")(n + ".bn");
  }
}

void inceptionv4(KeyMap& out, const Node& backbone, const Node& head) {
  // Our backbone's children are timm's `features`, one for one.
  const Names itself = {""}, conv = {"conv"};
  const Names mixed_4a = {"branch0.0", "branch0.1", "branch1.0", "branch1.1", "branch1.2", "branch1.3"};  // = reduction B
  const Names a = {"branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2", "branch3.1"};
  const Names reduction_a = {"branch0", "branch1.0", "branch1.1", "branch1.2"};
  const Names b = {"branch0",   "branch1.0", "branch1.1", "branch1.2", "branch2.0",
                   "branch2.1", "branch2.2", "branch2.3", "branch2.4", "branch3.1"};
  const Names c = {"branch0",   "branch1_0", "branch1_1a", "branch1_1b", "branch2_0",
                   "branch2_1", "branch2_2", "branch2_3a", "branch2_3b", "branch3.1"};
  auto kids = children(backbone);
  if (kids.size() != 22) throw std::logic_error(naming_error_prefix + "timm: unexpected Inceptionv4 " + backbone.path);
  for (size_t i = 0; i < kids.size(); ++i) {
    const Names& names = i < 3 ? itself : i == 3 || i == 5 ? conv : i == 4 || i == 18 ? mixed_4a
                       : i < 10 ? a : i == 10 ? reduction_a : i < 18 ? b : c;
    Leaves l(out, kids[i]);
    basic_convs(l, at("features", i), names);
    l.finish();
  }
  Leaves(out, head)("last_linear").finish();
}

void inceptionresnetv2(KeyMap& out, const Node& backbone, const Node& head) {
  // timm's named modules; the residual blocks (repeat, repeat_1, repeat_2 and block8)
  // end in a biased 1×1 conv, `conv2d`.
  const Names itself = {""};
  const Names mixed_5b = {"branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2", "branch3.1"};
  const Names block35 = {"branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2"};
  const Names mixed_6a = {"branch0", "branch1.0", "branch1.1", "branch1.2"};
  const Names block17_8 = {"branch0", "branch1.0", "branch1.1", "branch1.2"};
  const Names mixed_7a = {"branch0.0", "branch0.1", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2"};
  std::vector<std::pair<std::string, const Names*>> modules = {{"conv2d_1a", &itself}, {"conv2d_2a", &itself},
                                                               {"conv2d_2b", &itself}, {"conv2d_3b", &itself},
                                                               {"conv2d_4a", &itself}, {"mixed_5b", &mixed_5b}};
  for (size_t i = 0; i < 10; ++i) modules.emplace_back(at("repeat", i), &block35);
  modules.emplace_back("mixed_6a", &mixed_6a);
  for (size_t i = 0; i < 20; ++i) modules.emplace_back(at("repeat_1", i), &block17_8);
  modules.emplace_back("mixed_7a", &mixed_7a);
  for (size_t i = 0; i < 9; ++i) modules.emplace_back(at("repeat_2", i), &block17_8);
  modules.emplace_back("block8", &block17_8);
  modules.emplace_back("conv2d_7b", &itself);
  auto kids = parametrised_children(backbone);
  if (kids.size() != modules.size()) throw std::logic_error(naming_error_prefix + "timm: unexpected InceptionResNetv2 " + backbone.path);
  for (size_t i = 0; i < kids.size(); ++i) {
    const auto& [name, names] = modules[i];
    Leaves l(out, kids[i]);
    basic_convs(l, name, *names);
    if (!l.done()) l(name + ".conv2d");
    l.finish();
  }
  Leaves(out, head)("classif").finish();
}

void xception(KeyMap& out, const Node& backbone, const Node& head) {
  // Our blocks' `rep` Chains hold timm's modules at timm's indices (relu, separable
  // conv, norm, ...); a separable conv is (conv1: depthwise, pointwise).
  auto kids = children(backbone);
  if (kids.size() != 20) throw std::logic_error(naming_error_prefix + "timm: unexpected Xception " + backbone.path);
  Leaves(out, kids[0])("conv1").finish();
  Leaves(out, kids[1])("bn1").finish();
  Leaves(out, kids[2])("conv2").finish();
  Leaves(out, kids[3])("bn2").finish();
  for (size_t i = 4; i < 16; ++i) {
    const std::string p = "block" + std::to_string(i - 3);
    Leaves skip(out, child(kids[i], 0));
    if (!skip.done()) skip(p + ".skip")(p + ".skipbn");
    skip.finish();
    for (const auto& c : children(child(kids[i], 1))) {
      const std::string r = p + ".rep." + c.path.substr(c.path.rfind('.') + 1);
      Leaves l(out, c);
      if (l.remaining() == 2) l(r + ".conv1")(r + ".pointwise");
      if (l.remaining() == 1) l(r);
      l.finish();
    }
  }
  Leaves(out, kids[16])("conv3.conv1")("conv3.pointwise").finish();
  Leaves(out, kids[17])("bn3").finish();
  Leaves(out, kids[18])("conv4.conv1")("conv4.pointwise").finish();
  Leaves(out, kids[19])("bn4").finish();
  Leaves(out, head)("fc").finish();
}

const Namers& namers() {
  static const Namers table = {
      {"ViT", vit},
      {"MLPMixer", mlpmixer},
      {"ResMLP", resmlp},
      {"gMLP", gmlp},
      {"ConvNeXt", convnext},
      {"ConvMixer", convmixer},
      {"EfficientNet", efficientnet},
      {"EfficientNetv2", efficientnet},
      {"MobileNetv1", efficientnet},
      {"MNASNet", efficientnet},
      {"SEResNet", [](KeyMap& o, const Node& b, const Node& h) { resnet(o, b, h, false); }},
      {"SEResNeXt", [](KeyMap& o, const Node& b, const Node& h) { resnet(o, b, h, false); }},
      {"Res2Net", [](KeyMap& o, const Node& b, const Node& h) { resnet(o, b, h, true); }},
      {"Res2NeXt", [](KeyMap& o, const Node& b, const Node& h) { resnet(o, b, h, true); }},
      {"Inceptionv4", inceptionv4},
      {"InceptionResNetv2", inceptionresnetv2},
      {"Xception", xception},
  };
  return table;
}

}  // namespace

bool has_timm_naming(const Model& model) { return namers().count(model->type_name) > 0; }

KeyMap timm_keys(const Model& model) { return run_namer(namers(), model, "timm"); }

}  // namespace metalhead::weights::detail
