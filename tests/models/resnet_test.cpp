// The ResNet family: parameter counts against torchvision/timm, shapes, the three
// levels of the API and the research options.
#include <metalhead/metalhead.h>

#include "flux/testing.h"
#include "reference.h"

using namespace flux;
namespace mh = metalhead;

TEST(ResNetFamily, RegistryCountsEqualTorchvision) {
  SkipInit skip;  // counting needs no random draws
  for (const char* name : {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2",
                           "wide_resnet101_2", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("torchvision", name)) << name;
  }
  EXPECT_EQ(parameter_count(mh::create_model("resnet50", {.nclasses = 10})), reference_params("torchvision", "resnet50@10"));
}

TEST(ResNetFamily, RegistryCountsEqualTimm) {
  SkipInit skip;  // counting needs no random draws
  for (const char* name : {"seresnet18", "seresnet34", "seresnet50", "seresnet101", "seresnet152", "seresnext50_32x4d",
                           "seresnext101_32x4d", "seresnext101_32x8d", "seresnext101_64x4d", "res2net50_26w_4s",
                           "res2net50_26w_6s", "res2net50_26w_8s", "res2net50_48w_2s", "res2net50_14w_8s",
                           "res2net101_26w_4s", "res2next50"}) {
    EXPECT_EQ(parameter_count(mh::create_model(name)), reference_params("timm", name)) << name;
  }
}

TEST(ResNetFamily, MetalheadOnlyConfigurationsMatchTheirReferences) {
  SkipInit skip;  // counting needs no random draws
  EXPECT_EQ(parameter_count(mh::ResNeXt(152)), reference_params("metalhead", "resnext152_32x4d"));
  EXPECT_EQ(parameter_count(mh::SEResNeXt(152)), reference_params("metalhead", "seresnext152_32x4d"));
  EXPECT_EQ(parameter_count(mh::Res2Net(152)), reference_params("metalhead", "res2net152_26w_4s"));
}

TEST(ResNetFamily, HighLevelTypesAreTheRegistryModels) {
  SkipInit skip;  // counting needs no random draws
  EXPECT_EQ(parameter_count(mh::ResNet(50)), reference_params("torchvision", "resnet50"));
  EXPECT_EQ(parameter_count(mh::WideResNet(50)), reference_params("torchvision", "wide_resnet50_2"));
  EXPECT_EQ(parameter_count(mh::ResNeXt(101, {.cardinality = 64, .base_width = 4})),
            reference_params("torchvision", "resnext101_64x4d"));
  EXPECT_EQ(parameter_count(mh::SEResNet(50)), reference_params("timm", "seresnet50"));
  EXPECT_EQ(parameter_count(mh::SEResNeXt(50)), reference_params("timm", "seresnext50_32x4d"));
  EXPECT_EQ(parameter_count(mh::Res2Net(50)), reference_params("timm", "res2net50_26w_4s"));
  EXPECT_EQ(parameter_count(mh::Res2NeXt(50)), reference_params("timm", "res2next50"));
}

TEST(ResNetFamily, OutputShapesForOneAndThreeChannels) {
  const std::vector<std::function<mh::Model(int64_t)>> builders = {
      [](int64_t c) { return mh::ResNet(18, {.inchannels = c, .nclasses = 10}); },
      [](int64_t c) { return mh::ResNet(50, {.inchannels = c, .nclasses = 10}); },
      [](int64_t c) { return mh::WideResNet(50, {.inchannels = c, .nclasses = 10}); },
      [](int64_t c) { return mh::ResNeXt(50, {.inchannels = c, .nclasses = 10}); },
      [](int64_t c) { return mh::SEResNet(18, {.inchannels = c, .nclasses = 10}); },
      [](int64_t c) { return mh::SEResNeXt(50, {.inchannels = c, .nclasses = 10}); },
      [](int64_t c) { return mh::Res2Net(50, {.inchannels = c, .nclasses = 10}); },
      [](int64_t c) { return mh::Res2NeXt(50, {.scale = 4, .base_width = 4, .cardinality = 8, .inchannels = c, .nclasses = 10}); },
  };
  for (int64_t c : {1, 3}) {
    for (const auto& build : builders) {
      mh::Model m = build(c);
      EXPECT_EQ(shape(run(m, torch::randn({2, c, 64, 64}))), (Shape{2, 10})) << m->type_name << " inchannels " << c;
    }
  }
}

TEST(ResNetFamily, DefaultInputSizeOnce) {
  mh::Model m = mh::ResNet(18);
  EXPECT_EQ(shape(run(m, torch::randn({1, 3, 224, 224}))), (Shape{1, 1000}));
  torch::InferenceMode guard;
  EXPECT_EQ(shape(mh::backbone(m)(torch::randn({1, 3, 224, 224}))), (Shape{1, 512, 7, 7}));
}

TEST(ResNetFamily, BackboneThenClassifierIsTheModel) {
  mh::Model m = mh::SEResNet(18, {.nclasses = 7});
  testmode(m);
  Tensor x = torch::randn({2, 3, 48, 48});
  torch::InferenceMode guard;
  EXPECT_TRUE(torch::equal(mh::classifier(m)(mh::backbone(m)(x)), m(x)));
  EXPECT_EQ(mh::backbone(m).size(), 5u);  // stem and four stages
}

TEST(ResNetFamily, RefusesUnknownConfigurationsAndWrongInput) {
  expect_error<std::invalid_argument>([] { mh::ResNet(42); }, {"ResNet", "depth 42", "18, 34, 50, 101, 152"});
  expect_error<std::invalid_argument>([] { mh::WideResNet(18); }, {"WideResNet", "depth 18", "50"});
  expect_error<std::invalid_argument>([] { mh::ResNeXt(34); }, {"ResNeXt", "depth 34"});
  mh::Model m = mh::ResNet(18);
  expect_error<std::invalid_argument>([&] { m(torch::randn({1, 1, 32, 32})); }, {"ResNet", "[N, 3, H, W]", "[1, 1, 32, 32]"});
}

TEST(ResNetBlocks, BasicblockAndBottleneckLayout) {
  Chain basic = mh::basicblock(64, 64);
  // Metalhead's layout, but for the DropBlock slot (identity here), which Metalhead drops:
  // ours stays so that no tensor is renamed when a DropBlock is asked for (issue 17).
  EXPECT_EQ(basic->repr(), "Chain(Conv((3, 3), 64 => 64, pad=1, bias=false), BatchNorm(64), identity, relu, "
                           "Conv((3, 3), 64 => 64, pad=1, bias=false), BatchNorm(64))");
  Chain bottleneck = mh::bottleneck(256, 128, {.stride = 2, .cardinality = 32, .base_width = 4});
  // torchvision resnext50_32x4d layer2[0]: width ⌊128 · 4 / 64⌋ · 32 = 256, the grouped
  // 3×3 carries the stride, conv3 expands to 4 · 128.
  EXPECT_EQ(bottleneck[0]->repr(), "Conv((1, 1), 256 => 256, bias=false)");
  EXPECT_EQ(bottleneck[1]->repr(), "BatchNorm(256, relu)");
  EXPECT_EQ(bottleneck[2]->repr(), "Conv((3, 3), 256 => 256, pad=1, stride=2, groups=32, bias=false)");
  EXPECT_EQ(bottleneck[4]->repr(), "identity");  // the DropBlock slot
  EXPECT_EQ(bottleneck[6]->repr(), "Conv((1, 1), 256 => 512, bias=false)");
}

TEST(ResNetBlocks, ShortcutKinds) {
  Tensor x = torch::randn({2, 8, 8, 8});
  EXPECT_EQ(mh::downsample_identity(8, 8)->repr(), "identity");
  Tensor padded = mh::downsample_identity(8, 12)(x);
  EXPECT_EQ(shape(padded), (Shape{2, 12, 4, 4}));
  EXPECT_TRUE(torch::equal(padded.slice(1, 0, 8), x.slice(2, 0, 8, 2).slice(3, 0, 8, 2)));
  EXPECT_EQ(padded.slice(1, 8).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(shape(mh::downsample_conv(8, 16, {.stride = 2})(x)), (Shape{2, 16, 4, 4}));
  EXPECT_EQ(shape(mh::downsample_pool(8, 16, {.stride = 2})(x)), (Shape{2, 16, 4, 4}));
  expect_error<std::invalid_argument>([] { mh::resnet_shortcut('E'); }, {"resnet_shortcut", "'E'", "'A'"});
  // Option A: no projection parameters at all in the shortcuts of a ResNet-18.
  auto a = mh::resnet(mh::BlockType::basicblock, {2, 2, 2, 2}, {.downsample_opt = mh::resnet_shortcut('A')});
  EXPECT_EQ(parameter_count(a), reference_params("torchvision", "resnet18") -
                                    (64 * 128 + 2 * 128) - (128 * 256 + 2 * 256) - (256 * 512 + 2 * 512));
}

TEST(ResNetOptions, StemVariants) {
  auto deep = mh::resnet_stem(mh::StemType::deep);
  EXPECT_EQ(deep->repr().find("Chain(Chain(Conv((3, 3), 3 => 32, pad=1, stride=2, bias=false), BatchNorm(32, relu), "
                              "Conv((3, 3), 32 => 32, pad=1, bias=false), BatchNorm(32, relu), "
                              "Conv((3, 3), 32 => 64, pad=1, bias=false)), BatchNorm(64, relu), MaxPool"),
            0u);
  auto tiered = mh::resnet_stem(mh::StemType::deep_tiered);
  EXPECT_NE(tiered->repr().find("Conv((3, 3), 3 => 24"), std::string::npos);
  EXPECT_NE(tiered->repr().find("Conv((3, 3), 24 => 32"), std::string::npos);
  auto replaced = mh::resnet_stem(mh::StemType::default_stem, {.replace_stem_pool = true});
  EXPECT_EQ(shape(replaced(torch::randn({1, 3, 64, 64}))), (Shape{1, 64, 16, 16}));
  // A deep-stem ResNet-50 (timm's resnet50c/d stem) still classifies.
  auto m = mh::resnet(mh::BlockType::bottleneck, {3, 4, 6, 3}, {.stem_type = mh::StemType::deep, .nclasses = 5});
  testmode(m);
  EXPECT_EQ(shape(m(torch::randn({1, 3, 64, 64}))), (Shape{1, 5}));
}

TEST(ResNetOptions, StochasticDepthAndDropBlockFollowALinearSchedule) {
  auto m = mh::resnet(mh::BlockType::basicblock, {2, 2, 2, 2}, {.dropblock_prob = 0.2, .stochastic_depth_prob = 0.1});
  std::vector<double> drops;
  std::vector<std::string> blocks;
  for (const auto& layer : metalhead::layers::flatten_chains(m[0])) {
    auto parallel = layer.as<ParallelImpl>();
    if (!parallel) continue;
    auto block = (*parallel)[1].as<ChainImpl>();
    blocks.push_back((*block)[2]->repr());
    drops.push_back((*block)[block->size() - 1].as<metalhead::layers::StochasticDepthImpl>()->p);
  }
  ASSERT_EQ(drops.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(drops[i], 0.1 * double(i) / 8, 1e-12) << i;
  EXPECT_EQ(blocks[4], "DropBlock(0.1, block_size = 7, gamma_scale = 1.0)");
}

TEST(ResNetOptions, AttentionPoolRevnormAndHead) {
  auto se = mh::resnet(mh::BlockType::basicblock, {1, 1, 1, 1},
                       {.attn_fn = [](int64_t planes) { return metalhead::layers::effective_squeeze_excite(planes); },
                        .pool_layer = metalhead::layers::AdaptiveMeanMaxPool(), .dropout_prob = 0.3, .nclasses = 4});
  EXPECT_NE(se->repr().find("Conv((1, 1), 512 => 512, σ)"), std::string::npos);
  EXPECT_EQ(se[1]->repr(), "Chain(Parallel(+, AdaptiveMeanPool((1, 1)), AdaptiveMaxPool((1, 1))), Flux.flatten, "
                           "Dropout(0.3), Dense(512 => 4))");
  auto rev = mh::resnet(mh::BlockType::bottleneck, {1, 1, 1, 1}, {.revnorm = true, .nclasses = 3});
  testmode(rev);
  EXPECT_EQ(shape(rev(torch::randn({1, 3, 64, 64}))), (Shape{1, 3}));
  auto conv_head = mh::resnet(mh::BlockType::basicblock, {1, 1, 1, 1},
                              {.pool_layer = identity, .use_conv = true, .nclasses = 6});
  testmode(conv_head);
  EXPECT_EQ(shape(conv_head(torch::randn({1, 3, 64, 64}))), (Shape{1, 6, 2, 2}));
}

TEST(ResNetBuilders, ACustomVariantInAFewLines) {
  // Widths 32·2^stage, no stride in the last stage, a DropBlock everywhere: the
  // builders with replaced callbacks.
  std::vector<int64_t> repeats{1, 1, 1, 1};
  mh::ResNetOptions o{.inplanes = 64,
                      .stride_fn = [](int64_t stage, int64_t block) { return (stage == 1 || stage == 4 || block != 1) ? 1 : 2; },
                      .planes_fn = [](const std::vector<int64_t>& r) {
                        std::vector<int64_t> p;
                        for (size_t s = 0; s < r.size(); ++s) p.insert(p.end(), r[s], int64_t{32} << s);
                        return p;
                      }};
  auto builder = mh::bottleneck_builder(repeats, o);
  auto model = mh::build_resnet(mh::resnet_stem(mh::StemType::default_stem), builder, repeats, metalhead::layers::addact(),
                                [](int64_t nf) { return metalhead::layers::create_classifier(nf, 10); }, 256 * 4);
  testmode(model);
  EXPECT_EQ(shape(model[0](torch::randn({1, 3, 64, 64}))), (Shape{1, 1024, 4, 4}));
  EXPECT_EQ(shape(model(torch::randn({1, 3, 64, 64}))), (Shape{1, 10}));
}

TEST(ResNetBlocks, GradientsReachTheStem) {
  mh::Model m = mh::Res2Net(50, {.nclasses = 3});
  Tensor x = torch::randn({2, 3, 32, 32});
  m(x).sum().backward();
  auto stem_conv = mh::backbone(m)[0].as<ChainImpl>()->operator[](0).as<ConvImpl>();
  ASSERT_TRUE(stem_conv->weight.grad().defined());
  EXPECT_GT(stem_conv->weight.grad().abs().sum().item<double>(), 0.0);
}
