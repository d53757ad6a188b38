// load_weights / save_weights / pretrain: round trips in both namings, placeholders
// from SkipInit, and every bad file refused with the model left as it was.
#include <flux/init.h>
#include <gtest/gtest.h>
#include <metalhead/layers/embeddings.h>
#include <metalhead/metalhead.h>
#include <metalhead/weights.h>
#include <metalhead/weights/safetensors.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;
namespace mh = metalhead;
using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

namespace {

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("metalhead-load-" + std::to_string(::getpid()) + "-" +
                                         testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path operator/(const std::string& f) const { return path_ / f; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { old_ ? (void)::setenv(name_, old_->c_str(), 1) : (void)::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// Deep copies of every tensor, to check a model is unchanged.
std::vector<at::Tensor> snapshot(const mh::Model& m) {
  std::vector<at::Tensor> out;
  for (auto& [name, t] : mh::named_tensors(m)) out.push_back(t.clone());
  return out;
}

bool same(const std::vector<at::Tensor>& a, const mh::Model& m) {
  auto now = mh::named_tensors(m);
  if (now.size() != a.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], now[i].second)) return false;
  }
  return true;
}

mh::Model small_resnet() { return mh::create_model("resnet18", {.nclasses = 10}); }

template <class E = std::runtime_error>
void expect_refused(const std::function<void()>& f, std::vector<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nlacks: " << p;
  }
}

Tensors without(Tensors ts, const std::string& name) {
  std::erase_if(ts, [&](const auto& e) { return e.first == name; });
  return ts;
}

}  // namespace

TEST(LoadWeights, RoundTripInOurNames) {
  TempDir dir;
  auto a = small_resnet();
  {
    // Non-default running statistics, so that buffers are checked too.
    torch::NoGradGuard g;
    for (auto& [n, t] : mh::named_tensors(a)) t.add_(torch::rand_like(t));
  }
  mh::save_weights(a, dir / "a.safetensors");
  auto b = small_resnet();
  auto report = mh::load_weights(b, dir / "a.safetensors");
  EXPECT_EQ(report.naming, mh::Naming::metalhead);
  auto ta = mh::named_tensors(a), tb = mh::named_tensors(b);
  ASSERT_EQ(ta.size(), tb.size());
  EXPECT_EQ(report.loaded, ta.size());
  for (size_t i = 0; i < ta.size(); ++i) EXPECT_TRUE(torch::equal(ta[i].second, tb[i].second)) << ta[i].first;
  auto file = mh::weights::read_safetensors(dir / "a.safetensors");
  EXPECT_EQ(file.metadata.at("naming"), "metalhead");
  EXPECT_EQ(file.metadata.at("model"), "ResNet");
}

TEST(LoadWeights, TorchvisionNamesBothWays) {
  TempDir dir;
  auto a = mh::create_model("vit_b_32", {.nclasses = 3});
  mh::save_weights(a, dir / "tv.safetensors", {.naming = mh::Naming::torchvision});
  std::map<std::string, at::Tensor> file;
  for (auto& [k, t] : mh::weights::read_safetensors(dir / "tv.safetensors").tensors) file[k] = t;
  // torchvision's own keys and layouts (its ViT position embedding has a leading 1).
  ASSERT_TRUE(file.count("encoder.pos_embedding"));
  EXPECT_EQ(file.at("encoder.pos_embedding").sizes(), (std::vector<int64_t>{1, 50, 768}));
  EXPECT_EQ(file.at("encoder.layers.encoder_layer_11.self_attention.in_proj_weight").sizes(),
            (std::vector<int64_t>{2304, 768}));
  EXPECT_EQ(file.at("heads.head.weight").sizes(), (std::vector<int64_t>{3, 768}));
  EXPECT_TRUE(file.count("class_token"));

  auto b = mh::create_model("vit_b_32", {.nclasses = 3});
  auto report = mh::load_weights(b, dir / "tv.safetensors");
  EXPECT_EQ(report.naming, mh::Naming::torchvision);
  auto x = torch::randn({1, 3, 224, 224});
  flux::testmode(*a.ptr());
  flux::testmode(*b.ptr());
  EXPECT_TRUE(torch::equal(a(x), b(x)));
}

TEST(LoadWeights, FillsSkipInitPlaceholders) {
  TempDir dir;
  auto a = small_resnet();
  mh::save_weights(a, dir / "a.safetensors");
  mh::Model b = [] {
    flux::SkipInit skip;
    return small_resnet();
  }();
  EXPECT_TRUE(mh::named_tensors(b)[0].second.is_meta());
  expect_refused<std::invalid_argument>([&] { mh::save_weights(b, dir / "b.safetensors"); }, {"SkipInit", "b.safetensors"});
  mh::load_weights(b, dir / "a.safetensors");
  for (auto& [n, t] : mh::named_tensors(b)) EXPECT_FALSE(t.is_meta()) << n;
  flux::testmode(*a.ptr());
  flux::testmode(*b.ptr());
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(a(x), b(x)));
  // Loaded placeholders are ordinary parameters: they train.
  b(x).sum().backward();
  EXPECT_TRUE(mh::named_tensors(b)[0].second.grad().defined());
}

TEST(LoadWeights, RefusesAMissingTensorAndLeavesTheModel) {
  TempDir dir;
  auto src = mh::named_tensors(small_resnet(), mh::Naming::torchvision);
  mh::weights::write_safetensors(dir / "missing.safetensors", without(src, "layer2.1.bn2.running_var"));
  auto m = small_resnet();
  auto before = snapshot(m);
  expect_refused([&] { mh::load_weights(m, dir / "missing.safetensors"); },
                 {"missing.safetensors", "layer2.1.bn2.running_var", "unchanged"});
  EXPECT_TRUE(same(before, m));
}

TEST(LoadWeights, RefusesAWrongShapeAndLeavesTheModel) {
  TempDir dir;
  auto src = mh::named_tensors(small_resnet(), mh::Naming::torchvision);
  for (auto& [k, t] : src) {
    if (k == "fc.weight") t = torch::zeros({1000, 512});
  }
  mh::weights::write_safetensors(dir / "shape.safetensors", src);
  auto m = small_resnet();
  auto before = snapshot(m);
  expect_refused([&] { mh::load_weights(m, dir / "shape.safetensors"); },
                 {"shape.safetensors", "fc.weight", "[1000, 512]", "[10, 512]"});
  EXPECT_TRUE(same(before, m));
}

TEST(LoadWeights, UnknownNamesAreRefusedWhenStrictAndReportedOtherwise) {
  TempDir dir;
  auto src = mh::named_tensors(small_resnet(), mh::Naming::torchvision);
  src.emplace_back("aux1.fc.weight", torch::zeros({10, 4}));
  mh::weights::write_safetensors(dir / "extra.safetensors", src);
  auto m = small_resnet();
  auto before = snapshot(m);
  expect_refused([&] { mh::load_weights(m, dir / "extra.safetensors"); }, {"extra.safetensors", "aux1.fc.weight"});
  EXPECT_TRUE(same(before, m));
  auto report = mh::load_weights(m, dir / "extra.safetensors", {.strict = false});
  EXPECT_EQ(report.unused, std::vector<std::string>{"aux1.fc.weight"});
  EXPECT_EQ(report.loaded, src.size() - 1);
}

TEST(LoadWeights, RefusesFilesOfAnotherModel) {
  TempDir dir;
  mh::save_weights(mh::create_model("mobilenet_v2", {.nclasses = 10}), dir / "other.safetensors");
  auto m = small_resnet();
  auto before = snapshot(m);
  expect_refused([&] { mh::load_weights(m, dir / "other.safetensors"); }, {"other.safetensors", "ResNet"});
  EXPECT_TRUE(same(before, m));
}

TEST(LoadWeights, RefusesBrokenFiles) {
  TempDir dir;
  auto m = small_resnet();
  auto before = snapshot(m);
  mh::save_weights(m, dir / "good.safetensors");
  const auto size = fs::file_size(dir / "good.safetensors");
  // Truncated: the header promises more bytes than there are.
  fs::copy_file(dir / "good.safetensors", dir / "cut.safetensors");
  fs::resize_file(dir / "cut.safetensors", size / 2);
  expect_refused([&] { mh::load_weights(m, dir / "cut.safetensors"); }, {"cut.safetensors"});
  // Not a weights file at all.
  std::ofstream(dir / "text.pth") << "hello, weights";
  expect_refused([&] { mh::load_weights(m, dir / "text.pth"); }, {"text.pth", "not a safetensors file"});
  // A torch.save file cut short.
  const fs::path pth = fs::path(METALHEAD_TEST_DATA) / "weights" / "tiny_net.pth";
  fs::copy_file(pth, dir / "cut.pth");
  fs::resize_file(dir / "cut.pth", fs::file_size(pth) - 100);
  expect_refused([&] { mh::load_weights(m, dir / "cut.pth"); }, {"cut.pth"});
  expect_refused([&] { mh::load_weights(m, dir / "absent.safetensors"); }, {"absent.safetensors", "cannot open"});
  EXPECT_TRUE(same(before, m));
}

TEST(LoadWeights, ReadsTorchSaveFiles) {
  // The .pth fixtures are not models; a state dict of the wrong model is refused by name.
  auto m = small_resnet();
  expect_refused([&] { mh::load_weights(m, fs::path(METALHEAD_TEST_DATA) / "weights" / "tiny_net.pth"); },
                 {"tiny_net.pth", "ResNet"});
}

TEST(LoadWeights, TorchvisionNamingOnlyWhereTorchvisionHasTheFamily) {
  expect_refused<std::invalid_argument>(
      [] { mh::named_tensors(mh::create_model("inception_v4"), mh::Naming::torchvision); }, {"Inceptionv4"});
}

TEST(Pretrain, LooksUpTheRegistryNameAndSaysHowToMakeIt) {
  TempDir dir;
  ScopedEnv weights("METALHEAD_WEIGHTS", dir.path().string());
  ScopedEnv home("HOME", (dir / "home").string());
  expect_refused([] { mh::create_model("resnet18", {.pretrain = true}); },
                 {"ResNet", "resnet18.safetensors", dir.path().string(), "scripts/export-weights resnet18"});
  expect_refused([] { mh::ResNet(18, {.pretrain = true}); }, {"ResNet", "resnet18.safetensors"});

  auto original = mh::create_model("resnet18");
  mh::save_weights(original, dir / "resnet18.safetensors", {.naming = mh::Naming::torchvision});
  flux::testmode(*original.ptr());
  auto x = torch::randn({1, 3, 64, 64});
  auto expected = original(x);
  for (mh::Model m : {mh::create_model("resnet18", {.pretrain = true}), mh::Model(mh::ResNet(18, {.pretrain = true}))}) {
    flux::testmode(*m.ptr());
    EXPECT_TRUE(torch::equal(m(x), expected));
  }
  // Another number of classes: the pretrained backbone and a fresh classifier.
  mh::Model ten = mh::ResNet(18, {.nclasses = 10, .pretrain = true});
  EXPECT_TRUE(torch::equal(mh::named_tensors(ten)[0].second, mh::named_tensors(original)[0].second));
  EXPECT_EQ(mh::classifier(ten)->parameters().back().size(0), 10);
}

// The position vectors of a model's ViPosEmbedding.
at::Tensor pos_vectors(const mh::Model& m) {
  for (const auto& mod : m->modules()) {
    if (auto e = dynamic_cast<mh::layers::ViPosEmbeddingImpl*>(mod.get())) return e->vectors;
  }
  throw std::logic_error("no ViPosEmbedding");
}

TEST(Pretrain, ViTAtAnotherSizeResamplesThePositionEmbedding) {
  TempDir dir;
  ScopedEnv weights("METALHEAD_WEIGHTS", dir.path().string());
  ScopedEnv home("HOME", (dir / "home").string());
  auto original = mh::create_model("vit_tiny_patch16_224");
  // The 14 × 14 grid holds its row in channel 0 and its column in channel 1.
  at::Tensor v = pos_vectors(original);
  {
    torch::NoGradGuard no_grad;
    for (int64_t r = 0; r < 14; ++r) {
      for (int64_t c = 0; c < 14; ++c) {
        v[1 + r * 14 + c][0] = static_cast<double>(r);
        v[1 + r * 14 + c][1] = static_cast<double>(c);
      }
    }
  }
  mh::save_weights(original, dir / "vit_tiny_patch16_224.safetensors", {.naming = mh::Naming::timm});
  // 384 × 320 images: a 24 × 20 grid.
  auto m = mh::create_model("vit_tiny_patch16_224", {.pretrain = true, .imsize = {384, 320}});
  const at::Tensor w = pos_vectors(m);
  ASSERT_EQ(w.sizes(), (at::IntArrayRef{1 + 24 * 20, 192}));
  EXPECT_TRUE(torch::equal(w[0], v[0]));  // the class token's is kept
  EXPECT_TRUE(torch::equal(mh::named_tensors(m)[0].second, mh::named_tensors(original)[0].second));
  // Cubic convolution reproduces a linear ramp where its four taps lie inside the grid:
  // there the value is the source coordinate, (i + 0.5) · 14 / n − 0.5 (align_corners false).
  auto interior = [](int64_t i, int64_t n, double& at) {
    at = (static_cast<double>(i) + 0.5) * 14.0 / static_cast<double>(n) - 0.5;
    return std::floor(at) - 1 >= 0 && std::floor(at) + 2 <= 13;
  };
  int checked = 0;
  for (int64_t r = 0; r < 24; ++r) {
    for (int64_t c = 0; c < 20; ++c) {
      double y = 0, x = 0;
      const auto token = w[1 + r * 20 + c];
      if (interior(r, 24, y)) {
        EXPECT_NEAR(token[0].item<double>(), y, 1e-4) << r << ", " << c;
        ++checked;
      }
      if (interior(c, 20, x)) {
        EXPECT_NEAR(token[1].item<double>(), x, 1e-4) << r << ", " << c;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 500);
  // Without resampling, the grid sizes differ and the load is refused.
  auto plain = mh::create_model("vit_tiny_patch16_224", {.imsize = {384, 320}});
  expect_refused([&] { mh::load_weights(plain, dir / "vit_tiny_patch16_224.safetensors"); },
                 {"wrong shape", "[1, 197, 192]", "[481, 192]"});
}

TEST(Pretrain, HomeCacheIsTheFallback) {
  TempDir dir;
  ScopedEnv weights("METALHEAD_WEIGHTS", "");
  ScopedEnv home("HOME", dir.path().string());
  const fs::path cache = dir / ".cache/metalhead/weights";
  fs::create_directories(cache);
  mh::save_weights(mh::create_model("squeezenet1_1"), cache / "squeezenet1_1.safetensors");
  EXPECT_EQ(mh::pretrained_weights_path("squeezenet1_1"), cache / "squeezenet1_1.safetensors");
  EXPECT_NO_THROW(mh::create_model("squeezenet1_1", {.pretrain = true}));
}

TEST(Pretrain, ArchitecturesWithoutARegistryEntryHaveNoWeights) {
  // Metalhead's VGG (no conv bias next to BatchNorm) is not torchvision's vgg16_bn.
  expect_refused<std::invalid_argument>([] { mh::VGG(16, {.batchnorm = true, .pretrain = true}); },
                                        {"VGG", "no conv bias next to a BatchNorm", "vgg16_bn"});
}

TEST(ImageNet, ClassNames) {
  const auto& names = mh::imagenet_classes();
  ASSERT_EQ(names.size(), 1000u);
  EXPECT_EQ(names[0], "tench");
  EXPECT_EQ(names[1], "goldfish");
  EXPECT_EQ(names[207], "golden retriever");
  EXPECT_EQ(names[999], "toilet tissue");
}
