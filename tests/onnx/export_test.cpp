// export_onnx against independent readers: Debian's python3-onnx checker (full check with
// shape inference) and ONNX Runtime (the onnxruntime-node npm package, CPU), whose logits
// must be ours within 1e-4 of their scale.
#include "randomise_norms.h"
#include "temp_dir.h"

#include <metalhead/onnx.h>
#include <metalhead/registry.h>
#include <metalhead/train.h>

#include <flux/flux.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <sstream>
#include <variant>

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

torch::Tensor read_f32(const fs::path& file, const std::vector<int64_t>& dims) {
  std::ifstream f(file, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return torch::from_blob(bytes.data(), dims, torch::kFloat).clone();
}

// One file to verify: what each reader made of it.
struct Verified {
  json check;                                   // the checker's row (checker_error on refusal)
  std::variant<torch::Tensor, std::string> ort, opencv;  // logits, or the reader's error
};

// Runs ONNX Runtime (one node process) and the checker with OpenCV (one python process) on
// every (file, input) pair: readers start once, not once per model.
std::vector<Verified> verify(const std::vector<std::pair<fs::path, torch::Tensor>>& jobs, bool opencv = true) {
  json manifest = json::array();
  for (const auto& [file, x] : jobs) {
    const auto c = x.contiguous();
    std::ofstream(file.string() + ".in", std::ios::binary)
        .write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * 4));
    json job{{"onnx", file.string()}, {"input", file.string() + ".in"}, {"shape", x.sizes().vec()},
             {"output", file.string() + ".ort"}};
    if (opencv) job["opencv_output"] = file.string() + ".cv";
    manifest.push_back(job);
  }
  const fs::path list = jobs.front().first.string() + ".manifest.json";
  std::ofstream(list) << manifest.dump();
  auto lines = [](const std::string& text) {
    std::vector<json> rows;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l[0] == '{') rows.push_back(json::parse(l));
    }
    return rows;
  };
  int status = 0;
  const std::string ort_out = shell("NODE_PATH=" + std::string(METALHEAD_ORT_NODE_MODULES) + " node " +
                                    METALHEAD_TEST_REFERENCES + "/ort_run.js " + list.string() + " 2>&1", &status);
  const auto ort = lines(ort_out);
  if (status != 0 || ort.size() != jobs.size()) throw std::runtime_error("ort_run.js: " + ort_out);
  const std::string check_out = shell("/usr/bin/python3 " + std::string(METALHEAD_TEST_REFERENCES) + "/onnx_check.py " +
                                      list.string() + " 2>/dev/null", &status);
  const auto checks = lines(check_out);
  if (status != 0 || checks.size() != jobs.size()) throw std::runtime_error("onnx_check.py: " + check_out);
  std::vector<Verified> out(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const std::string file = jobs[i].first.string();
    out[i].check = checks[i];
    if (ort[i].contains("error")) out[i].ort = ort[i]["error"].get<std::string>();
    else out[i].ort = read_f32(file + ".ort", ort[i]["dims"].get<std::vector<int64_t>>());
    if (checks[i].contains("opencv_error")) out[i].opencv = checks[i]["opencv_error"].get<std::string>();
    else if (checks[i].contains("opencv_dims")) out[i].opencv = read_f32(file + ".cv", checks[i]["opencv_dims"].get<std::vector<int64_t>>());
    for (const char* ext : {".in", ".ort", ".cv"}) fs::remove(file + ext);
  }
  fs::remove(list);
  return out;
}

torch::Tensor ort_logits(const fs::path& file, const torch::Tensor& x) {
  auto r = verify({{file, x}}, false)[0].ort;
  if (auto* e = std::get_if<std::string>(&r)) throw std::runtime_error("ONNX Runtime failed on " + file.string() + ": " + *e);
  return std::get<torch::Tensor>(r);
}

std::variant<torch::Tensor, std::string> opencv_logits(const fs::path& file, const torch::Tensor& x) {
  return verify({{file, x}})[0].opencv;
}

// The checker's row for one file (throws with its words when it refuses).
json checked(const fs::path& file) {
  const json row = verify({{file, torch::zeros({1, 1, 1, 1})}}, false)[0].check;
  if (row.contains("checker_error")) throw std::runtime_error("the ONNX checker refuses " + file.string() + ": " + row["checker_error"].get<std::string>());
  return row;
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

// Every registry model up to 150M parameters (UNet's 10-class maps too): the checker
// accepts it and ONNX Runtime gives its logits (10 classes, statistics randomised so
// that folding matters) at batch 1 from an export traced at batches 2 and 3.
namespace {

std::vector<std::string> exportable_models() {
  std::vector<std::string> names;
  for (const auto& info : mh::registered_models()) {
    if (info.parameters <= 150'000'000) names.push_back(info.name);
  }
  return names;
}

// What Debian's OpenCV 4.6 DNN module cannot read or run, and why.
const std::string kClip = "OpenCV 4.6's importer takes Clip only in its opset-6 form (min and max as attributes); since opset 11 they are inputs, as relu6/hardtanh export";
const std::string kLayerNorm = "OpenCV 4.6 has no LayerNormalization (opset 17; OpenCV added it in 4.8)";
const std::string kResMlp = "OpenCV 4.6 fails an assertion in its shape computation (shape_utils.hpp total()) on ResMLP's per-channel Affine over [N, L, D] tokens";
const std::map<std::string, std::string> kOpenCvCannot = {
    {"mobilenetv1_100", kClip},
    {"mobilenet_v2", kClip},
    {"mobilenet_v3_small", kClip},
    {"mobilenet_v3_large", kClip},
    {"mixer_s16_224", kLayerNorm},
    {"mixer_s32_224", kLayerNorm},
    {"mixer_b16_224", kLayerNorm},
    {"mixer_b32_224", kLayerNorm},
    {"gmlp_ti16_224", kLayerNorm},
    {"gmlp_s16_224", kLayerNorm},
    {"gmlp_b16_224", kLayerNorm},
    {"vit_b_16", kLayerNorm},
    {"vit_b_32", kLayerNorm},
    {"vit_tiny_patch16_224", kLayerNorm},
    {"vit_small_patch16_224", kLayerNorm},
    {"convnext_tiny", kLayerNorm},
    {"convnext_small", kLayerNorm},
    {"convnext_base", kLayerNorm},
    {"swin_t", kLayerNorm},
    {"swin_s", kLayerNorm},
    {"swin_b", kLayerNorm},
    {"swin_v2_t", kLayerNorm},
    {"swin_v2_s", kLayerNorm},
    {"swin_v2_b", kLayerNorm},
    {"maxvit_t", kLayerNorm},
    {"resmlp_12_224", kResMlp},
    {"resmlp_24_224", kResMlp},
    {"resmlp_36_224", kResMlp},
    {"resmlp_big_24_224", kResMlp},
};

// Half of them (`part` 0 or 1), so that ctest's two shards share the work.
void every_model(int part) {
  if (!have_ort()) GTEST_SKIP() << "no onnxruntime-node in " << METALHEAD_ORT_NODE_MODULES;
  const auto names = exportable_models();
  const auto dir = fresh_dir("every" + std::to_string(part));
  std::vector<std::pair<fs::path, torch::Tensor>> jobs;
  std::vector<std::string> which;
  std::vector<torch::Tensor> ours;
  std::vector<json> rows;
  for (size_t i = static_cast<size_t>(part); i < names.size(); i += 2) {
    const std::string& name = names[i];
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
    const auto file = dir / (name + ".onnx");
    const auto t0 = std::chrono::steady_clock::now();
    mh::OnnxReport report;
    try {
      report = mh::export_onnx(m, file, {.input_size = hw});
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": " << e.what();
      continue;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto x = torch::randn({1, 3, hw[0], hw[1]});
    {
      torch::NoGradGuard g;
      ours.push_back(m(x));
    }
    jobs.emplace_back(file, x);
    which.push_back(name);
    rows.push_back({{"model", name}, {"input", hw}, {"seconds", seconds}, {"bytes", report.bytes}, {"nodes", report.nodes}});
  }
  const auto results = verify(jobs);
  std::ofstream log(fs::path(testing::TempDir()) / "metalhead-onnx-report.jsonl", std::ios::app);
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string& name = which[i];
    const Verified& v = results[i];
    EXPECT_FALSE(v.check.contains("checker_error")) << name << ": " << v.check.value("checker_error", "");
    // Classifiers give [batch, 10] logits; UNet, a dense predictor, [batch, 10, H, W] maps.
    const json dims = ours[i].dim() == 2 ? json::array({"batch", 10}) : json::array({"batch", 10, ours[i].size(2), ours[i].size(3)});
    EXPECT_EQ(v.check.value("output_dims", json()), dims) << name;
    if (const auto* t = std::get_if<torch::Tensor>(&v.ort)) {
      rows[i]["onnxruntime"] = relative_error(*t, ours[i]);
      EXPECT_LT(rows[i]["onnxruntime"].get<double>(), 1e-4) << name;
    } else {
      ADD_FAILURE() << name << ": ONNX Runtime: " << std::get<std::string>(v.ort);
    }
    // OpenCV 4.6's DNN module: the same logits where it reads and runs the file.
    const auto why = kOpenCvCannot.find(name);
    if (const auto* t = std::get_if<torch::Tensor>(&v.opencv)) {
      rows[i]["opencv"] = relative_error(*t, ours[i]);
      EXPECT_LT(rows[i]["opencv"].get<double>(), 1e-4) << name;
      EXPECT_EQ(why, kOpenCvCannot.end()) << name << " runs in OpenCV now: take it off kOpenCvCannot";
    } else {
      rows[i]["opencv_error"] = std::get<std::string>(v.opencv);
      EXPECT_NE(why, kOpenCvCannot.end()) << name << ": OpenCV cannot run it (" << std::get<std::string>(v.opencv)
                                          << "); say why in kOpenCvCannot";
    }
    log << rows[i].dump() << "\n";
    fs::remove(jobs[i].first);
  }
}

}  // namespace

TEST(EveryRegistryModel, FirstHalf) { every_model(0); }
TEST(EveryRegistryModel, SecondHalf) { every_model(1); }

// The demo's kind of checkpoint (1 channel, 10 classes, 28×28), through `metalhead export`.
TEST(OnnxExport, OurCheckpointFromTheCommandLine) {
  if (!have_ort()) GTEST_SKIP() << "no onnxruntime-node in " << METALHEAD_ORT_NODE_MODULES;
  const auto dir = fresh_dir("checkpoint");
  int status = 0;
  const std::string cli = METALHEAD_CLI;
  std::string out = shell(cli + " train --model resnet18 --limit 256 --batch-size 64 --epochs 1 --threads 1 --workers 1 "
                          "--test-data '' -q --output " + dir.string() + " 2>&1", &status);
  ASSERT_EQ(status, 0) << out;
  const auto ckpt = dir / "checkpoint.safetensors", file = dir / "demo.onnx";
  out = shell(cli + " export --weights " + ckpt.string() + " -o " + file.string() + " 2>&1", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_TRUE(contains(out, "20 BatchNorms folded")) << out;
  const auto j = checked(file);
  EXPECT_EQ(j["metadata"]["registry_name"], "resnet18");
  EXPECT_EQ(j["metadata"]["input_size"], "[1, 28, 28]");
  EXPECT_EQ(j["output_dims"], json::array({"batch", 10}));
  const auto c = metalhead::train::load_checkpoint(ckpt);
  const auto mean = json::parse(j["metadata"]["mean"].get<std::string>()), stdv = json::parse(j["metadata"]["std"].get<std::string>());
  EXPECT_NEAR(mean[0].get<double>(), c.info.mean[0], 1e-8);
  EXPECT_NEAR(stdv[0].get<double>(), c.info.std[0], 1e-8);
  const auto x = torch::randn({3, 1, 28, 28});
  torch::Tensor ours;
  {
    torch::NoGradGuard g;
    ours = c.model(x);
  }
  EXPECT_LT(relative_error(ort_logits(file, x), ours), 1e-4);
  const auto cv = opencv_logits(file, x);
  ASSERT_TRUE(std::holds_alternative<torch::Tensor>(cv)) << std::get<std::string>(cv);
  EXPECT_LT(relative_error(std::get<torch::Tensor>(cv), ours), 1e-4);
  // Bad input: no file is written.
  out = shell(cli + " export resnet18 -o " + (dir / "x.txt").string() + " 2>&1", &status);
  EXPECT_EQ(status, 2) << out;
  out = shell(cli + " export resnet18 --opset 12 -o " + (dir / "x.onnx").string() + " 2>&1", &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_FALSE(fs::exists(dir / "x.onnx"));
}
