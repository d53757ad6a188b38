// export_onnx against independent readers: Debian's python3-onnx checker (full check with
// shape inference) and ONNX Runtime (the onnxruntime-node npm package, CPU), whose logits
// must be ours within 1e-4 of their scale.
#include "randomise_norms.h"
#include "temp_dir.h"

#include <metalhead/onnx.h>
#include <metalhead/registry.h>

#include <flux/flux.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
namespace mh = metalhead;
using nlohmann::json;

namespace {

std::string shell(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int s = ::pclose(p);
  if (status) *status = WIFEXITED(s) ? WEXITSTATUS(s) : -1;
  return out;
}

bool have_ort() { return fs::exists(fs::path(METALHEAD_ORT_NODE_MODULES) / "onnxruntime-node"); }

// ONNX Runtime's output for `x` on the file.
torch::Tensor ort_logits(const fs::path& file, const torch::Tensor& x) {
  const auto in = file.string() + ".in", out = file.string() + ".out";
  {
    const auto c = x.contiguous();
    std::ofstream f(in, std::ios::binary);
    f.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * 4));
  }
  std::string shape;
  for (int64_t i = 0; i < x.dim(); ++i) shape += (i ? "," : "") + std::to_string(x.size(i));
  int status = 0;
  const std::string report = shell("NODE_PATH=" + std::string(METALHEAD_ORT_NODE_MODULES) + " node " +
                                   METALHEAD_TEST_REFERENCES + "/ort_run.js " + file.string() + " " + in + " " + shape +
                                   " " + out + " 2>&1", &status);
  if (status != 0) throw std::runtime_error("ONNX Runtime failed on " + file.string() + ": " + report);
  const auto j = json::parse(report);
  std::vector<int64_t> dims = j.at("dims").get<std::vector<int64_t>>();
  std::ifstream f(out, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto t = torch::from_blob(bytes.data(), dims, torch::kFloat).clone();
  fs::remove(in);
  fs::remove(out);
  return t;
}

json checked(const fs::path& file) {
  int status = 0;
  const std::string out =
      shell("/usr/bin/python3 " + std::string(METALHEAD_TEST_REFERENCES) + "/onnx_check.py " + file.string() + " 2>&1", &status);
  if (status != 0) throw std::runtime_error("the ONNX checker refuses " + file.string() + ": " + out);
  return json::parse(out);
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

}  // namespace

TEST(OnnxExport, ResNet18PassesTheCheckerAndOnnxRuntimeGivesOurLogitsAtAnyBatch) {
  if (!have_ort()) GTEST_SKIP() << "no onnxruntime-node in " << METALHEAD_ORT_NODE_MODULES << " (scripts/install-deps)";
  torch::manual_seed(0);
  mh::Model m = mh::create_model("resnet18");
  flux::testmode(m);
  const auto file = fresh_dir("r18") / "resnet18.onnx";
  const auto report = mh::export_onnx(m, file, {.input_size = {64, 64}});
  EXPECT_EQ(report.folded_batchnorms, 20);
  EXPECT_EQ(report.ops.count("BatchNormalization"), 0u);
  EXPECT_EQ(report.ops.at("Conv"), 20);
  const auto j = checked(file);
  EXPECT_EQ(j["inputs"], json::array({"images"}));
  EXPECT_EQ(j["outputs"], json::array({"logits"}));
  EXPECT_EQ(j["output_dims"], json::array({"batch", 1000}));
  EXPECT_EQ(j["metadata"]["registry_name"], "resnet18");
  EXPECT_EQ(j["metadata"]["model"], "ResNet");
  EXPECT_EQ(j["metadata"]["mean"], "[0.485, 0.456, 0.406]");
  EXPECT_EQ(j["metadata"]["input_size"], "[3, 64, 64]");
  // Exported at batch 2 and 3; run at 1 and 5.
  for (int64_t n : {1, 5}) {
    const auto x = torch::randn({n, 3, 64, 64});
    torch::NoGradGuard g;
    const auto ours = m(x);
    EXPECT_LT(relative_error(ort_logits(file, x), ours), 1e-4) << "batch " << n;
  }
  // Static: batch 1 only.
  const auto fixed = file.parent_path() / "static.onnx";
  mh::export_onnx(m, fixed, {.dynamic_batch = false, .input_size = {64, 64}});
  EXPECT_EQ(checked(fixed)["output_dims"], json::array({1, 1000}));
}

TEST(OnnxExport, RefusesWhatItCannotLowerAndWritesNothing) {
  const auto dir = fresh_dir("refused");
  mh::Model lambda("Mine", flux::Chain(flux::Conv({3, 3}, {3, 4}), flux::Layer([](const torch::Tensor& x) { return x * 2; }),
                                       flux::GlobalMeanPool(), flux::flatten),
                   flux::Chain(flux::Dense({4, 2})), 3);
  try {
    mh::export_onnx(lambda, dir / "lambda.onnx", {.input_size = {16, 16}});
    ADD_FAILURE() << "a lambda was exported";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "function layer #")) << e.what();
    EXPECT_TRUE(contains(e.what(), "model.layers.0.1")) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "lambda.onnx"));
  // The same, named: traced like any layer.
  mh::Model named("Mine", flux::Chain(flux::Conv({3, 3}, {3, 4}), flux::fn("double", [](const torch::Tensor& x) { return x * 2; }),
                                      flux::GlobalMeanPool(), flux::flatten),
                  flux::Chain(flux::Dense({4, 2})), 3);
  EXPECT_NO_THROW(mh::export_onnx(named, dir / "named.onnx", {.input_size = {16, 16}}));
  // An operation without a lowering, named.
  mh::Model sorting("Mine", flux::Chain(flux::fn("sort", [](const torch::Tensor& x) { return std::get<0>(x.sort(1)); }),
                                        flux::GlobalMeanPool(), flux::flatten),
                    flux::Chain(flux::Dense({3, 2})), 3);
  try {
    mh::export_onnx(sorting, dir / "sort.onnx", {.input_size = {8, 8}});
    ADD_FAILURE() << "aten::sort was exported";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "aten::sort")) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "sort.onnx"));
  // LayerNormalization is opset 17's.
  mh::Model vit = mh::create_model("vit_tiny_patch16_224", {.imsize = {32, 32}});
  try {
    mh::export_onnx(vit, dir / "vit.onnx", {.opset = 16, .input_size = {32, 32}});
    ADD_FAILURE() << "LayerNorm at opset 16";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "opset 17")) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "vit.onnx"));
  EXPECT_THROW(mh::export_onnx(vit, dir / "vit.onnx", {.opset = 12, .input_size = {32, 32}}), std::invalid_argument);
}

// Every registry model up to 150M parameters: the checker accepts it and ONNX Runtime
// gives its logits (10 classes, statistics randomised so that folding matters) at batch 1
// from an export traced at batches 2 and 3.
namespace {

std::vector<std::string> exportable_models() {
  std::vector<std::string> names;
  for (const auto& info : mh::registered_models()) {
    if (info.parameters <= 150'000'000 && info.family != "UNet") names.push_back(info.name);
  }
  return names;
}

class EveryModel : public testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(EveryModel, OnnxRuntimeGivesOurLogits) {
  if (!have_ort()) GTEST_SKIP() << "no onnxruntime-node in " << METALHEAD_ORT_NODE_MODULES;
  const std::string& name = GetParam();
  torch::manual_seed(0);
  mh::Model m = mh::create_model(name, {.nclasses = 10});
  randomise_norms(*m.ptr());
  flux::testmode(m);
  // A small input where the model takes one (fixed-size models keep their own).
  std::vector<int64_t> hw{64, 64};
  try {
    torch::NoGradGuard no_grad;
    m(torch::randn({1, 3, 64, 64}));
  } catch (const std::exception&) {
    hw = mh::model_info(name).input_size;
  }
  const auto file = fresh_dir("every") / (name + ".onnx");
  mh::export_onnx(m, file, {.input_size = hw});
  EXPECT_EQ(checked(file)["output_dims"], json::array({"batch", 10}));
  const auto x = torch::randn({1, 3, hw[0], hw[1]});
  torch::Tensor ours;
  {
    torch::NoGradGuard g;
    ours = m(x);
  }
  const double error = relative_error(ort_logits(file, x), ours);
  EXPECT_LT(error, 1e-4) << name;
  fs::remove(file);
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryModel, testing::ValuesIn(exportable_models()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });
