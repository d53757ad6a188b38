// Output parity with torchvision: its randomly initialised weights (written by
// tests/parity/make-reference, the ctest fixture `parity.reference`) loaded into our
// model of the same registry name give the same eval logits, train-mode logits and
// input gradient, within 1e-4 of the reference's largest magnitude.
#include <flux/dropout.h>
#include <flux/mode.h>
#include <gtest/gtest.h>
#include <metalhead/features.h>
#include <metalhead/layers/drop.h>
#include <metalhead/inference.h>
#include <metalhead/metalhead.h>
#include <metalhead/weights.h>
#include <metalhead/weights/safetensors.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace {

constexpr double kTolerance = 1e-4;

struct Config {
  std::string name;
  int64_t size;
  bool ci;
};

void PrintTo(const Config& c, std::ostream* os) { *os << c.name; }

bool run_all() {
  const char* all = std::getenv("METALHEAD_PARITY_ALL");
  return all && *all && std::string(all) != "0";
}

std::vector<Config> configs() {
  std::vector<Config> out;
  std::ifstream in(METALHEAD_PARITY_CONFIGS);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream row(line);
    Config c;
    std::string where;
    if (row >> c.name >> c.size >> where) {
      c.ci = where == "ci";
      if (c.ci || run_all()) out.push_back(c);
    }
  }
  return out;
}

fs::path reference_dir() {
  const char* dir = std::getenv("METALHEAD_PARITY_DIR");
  return dir && *dir ? fs::path(dir) : fs::path(METALHEAD_PARITY_DIR);
}

/// max |a - b| / max |b|: the deviation relative to the reference's scale.
double deviation(const at::Tensor& ours, const at::Tensor& theirs) {
  EXPECT_EQ(ours.sizes(), theirs.sizes());
  if (ours.sizes() != theirs.sizes()) return INFINITY;
  return (ours - theirs).abs().max().item<double>() / theirs.abs().max().item<double>();
}

/// Train mode for BatchNorm only, as the reference: dropout and stochastic depth are random.
void train_batchnorm_only(torch::nn::Module& model) {
  flux::trainmode(model);
  for (const auto& m : model.modules()) {
    if (dynamic_cast<flux::DropoutImpl*>(m.get()) || dynamic_cast<metalhead::layers::StochasticDepthImpl*>(m.get()) ||
        dynamic_cast<metalhead::layers::DropBlockImpl*>(m.get())) {
      flux::testmode(*m);
    }
  }
}

class Parity : public testing::TestWithParam<Config> {};

TEST_P(Parity, MatchesTorchvision) {
  const Config& c = GetParam();
  const fs::path dir = reference_dir();
  const fs::path ref_file = dir / (c.name + ".reference.safetensors");
  fs::path weights = dir / (c.name + ".pth");
  if (!fs::exists(weights)) weights = dir / (c.name + ".safetensors");
  ASSERT_TRUE(fs::exists(ref_file) && fs::exists(weights))
      << "no reference for " << c.name << " in " << dir << ": run tests/parity/make-reference " << dir;

  std::map<std::string, at::Tensor> ref;
  for (auto& [k, t] : metalhead::weights::read_safetensors(ref_file).tensors) ref[k] = t;
  ASSERT_EQ(ref.at("input").size(2), c.size);

  metalhead::Model model = [&] {
    flux::SkipInit placeholders;  // every tensor comes from the file
    return metalhead::create_model(c.name);
  }();
  const auto report = metalhead::load_weights(model, weights);
  EXPECT_EQ(report.naming, metalhead::Naming::torchvision);
  EXPECT_TRUE(report.unused.empty()) << report.summary();

  model->to(torch::kFloat64);  // as the reference (see make-reference)
  flux::testmode(*model.ptr());
  at::Tensor x = ref.at("input").clone().requires_grad_(true);
  at::Tensor logits = model(x);
  const double eval = deviation(logits.detach(), ref.at("eval_logits"));
  (logits * ref.at("weights")).sum().backward();
  const double grad = deviation(x.grad(), ref.at("input_grad"));

  // The optimised path (fp32 in, fp32 out) against the same float64 reference.
  model->to(torch::kFloat);
  const at::Tensor fast = metalhead::optimize_for_inference(model)(ref.at("input").to(torch::kFloat));
  const double optimised = deviation(fast.to(torch::kFloat64), ref.at("eval_logits"));
  model->to(torch::kFloat64);

  // The feature pyramid: torchvision's maps at the nodes that are timm's stages (in eval
  // mode, before the train-mode pass moves BatchNorm's running statistics).
  if (ref.count("feature_0")) {
    torch::NoGradGuard no_grad;
    flux::testmode(*model);
    const auto maps = metalhead::features(model)(ref.at("input"));
    ASSERT_EQ(static_cast<int64_t>(maps.size()), static_cast<int64_t>(metalhead::feature_info(model).size()));
    for (size_t i = 0; i < maps.size(); ++i) {
      const auto it = ref.find("feature_" + std::to_string(i));
      ASSERT_NE(it, ref.end()) << c.name << ": torchvision has fewer feature nodes than our " << maps.size() << " stages";
      EXPECT_LE(deviation(maps[i], it->second), kTolerance) << c.name << ": feature map " << i;
    }
    EXPECT_EQ(ref.count("feature_" + std::to_string(maps.size())), 0u) << c.name << ": torchvision has more feature nodes";
  }
  train_batchnorm_only(*model.ptr());
  at::Tensor train_logits;
  {
    torch::NoGradGuard no_grad;
    train_logits = model(ref.at("input"));
  }
  const double train = deviation(train_logits, ref.at("train_logits"));

  std::printf("parity %-20s eval %.2e  optimised %.2e  train %.2e  input grad %.2e  (%s, %zu tensors)\n", c.name.c_str(),
              eval, optimised, train, grad, weights.extension().c_str(), report.loaded);
  EXPECT_LE(eval, kTolerance) << c.name << ": eval-mode logits";
  EXPECT_LE(optimised, kTolerance) << c.name << ": optimize_for_inference's fp32 logits";

  EXPECT_LE(train, kTolerance) << c.name << ": train-mode logits";
  EXPECT_LE(grad, kTolerance) << c.name << ": gradient with respect to the input";
}

INSTANTIATE_TEST_SUITE_P(Torchvision, Parity, testing::ValuesIn(configs()),
                         [](const testing::TestParamInfo<Config>& info) { return info.param.name; });

}  // namespace
