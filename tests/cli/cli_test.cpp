// The `metalhead` program as a user runs it: exit codes, stdout/stderr, --json.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "run.h"

TEST(Cli, HelpAndVersion) {
  auto help = run("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("list"), std::string::npos);
  EXPECT_NE(help.out.find("summary"), std::string::npos);
  for (const char* sub : {"list --help", "summary --help", "bench --help"}) EXPECT_EQ(run(sub).status, 0) << sub;
  auto version = run("--version");
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.out.find("metalhead"), std::string::npos);
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(run("").status, 2);                               // no subcommand
  EXPECT_EQ(run("list --no-such-flag").status, 2);
  EXPECT_EQ(run("summary").status, 2);                        // MODEL is required
  EXPECT_EQ(run("summary resnet18 --input-size 64").status, 2);  // H and W
  EXPECT_EQ(run("summary resnet18 --inchannels 0").status, 2);
}

TEST(Cli, FailuresExitWithOneAndSayWhy) {
  auto r = run("summary resnet5O");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("metalhead summary: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown model 'resnet5O'"), std::string::npos) << r.err;
  auto other = run("summary vit_b_16 --input-size 32 32");  // the registry's ViT is built for 224²
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("expected [N, 197, 768] tokens"), std::string::npos) << other.err;
}

TEST(Cli, ListAsJson) {
  auto r = run("list resnet18 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);  // resnet18, seresnet18
  const auto& r18 = rows[0];
  EXPECT_EQ(r18["name"], "resnet18");
  EXPECT_EQ(r18["parameters"], 11689512);  // torchvision's resnet18
  EXPECT_NEAR(r18["gflops"].get<double>(), 1.81, 0.01);  // torchvision's documented GFLOPS
  EXPECT_EQ(r18["input_size"], nlohmann::json::array({224, 224}));
}

TEST(Cli, SummaryPrintsTheStructureAndTotals) {
  auto r = run("summary resnet18 --nclasses 10 --inchannels 1 --input-size 64 64");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ResNet("), std::string::npos);
  EXPECT_NE(r.out.find("output [1, 10]"), std::string::npos) << r.out;
  // Per-layer output shapes: the stem's max pool halves 32 to 16, the head ends in 10.
  EXPECT_NE(r.out.find("MaxPool((3, 3), pad=1, stride=2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1, 64, 16, 16]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Dense(512 => 10)"), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(run("summary resnet18 --json").out);
  EXPECT_EQ(j["parameters"], 11689512);
  EXPECT_EQ(j["output"], nlohmann::json::array({1, 1000}));
  int64_t total = 0;
  for (const auto& layer : j["layers"]) total += layer["parameters"].get<int64_t>();
  EXPECT_EQ(total, 11689512);  // the rows partition the model
  EXPECT_EQ(j["layers"].back()["output"], "[1, 1000]");
  EXPECT_EQ(j["layers"][0]["output"], "[1, 64, 112, 112]");  // the stem's 7×7 stride-2 convolution
  // --dot: a Graphviz digraph from the input through every row.
  const std::string dot = testing::TempDir() + "metalhead-r18.dot";
  ASSERT_EQ(run("summary resnet18 --dot " + dot).status, 0);
  std::ifstream in(dot);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str().rfind("digraph \"resnet18\" {", 0), 0u) << text.str();
  size_t edges = 0;
  for (size_t p = text.str().find(" -> "); p != std::string::npos; p = text.str().find(" -> ", p + 1)) ++edges;
  EXPECT_EQ(edges, j["layers"].size());
}

TEST(Cli, BenchMeasuresForwardAndTrainingSteps) {
  auto r = run("bench squeezenet1_1 --batch-size 2 4 --input-size 64 64 --threads 1 --seconds 0.2 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<int64_t> batches;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    batches.push_back(j["batch_size"]);
    EXPECT_EQ(j["threads"], 1);
    EXPECT_GT(j["forward_img_per_s"].get<double>(), 0);  // the optimised path's
    EXPECT_GT(j["plain_forward_img_per_s"].get<double>(), 0);
    EXPECT_EQ(j["optimised"], true);
    EXPECT_EQ(j["precision"], "fp32");
    EXPECT_EQ(j["winograd"], true);
    EXPECT_GT(j["train_img_per_s"].get<double>(), 0);
  }
  EXPECT_EQ(batches, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(run("bench squeezenet1_1 --batch-size 0").status, 2);
  // --no-optimise reports the plain path as the forward figure.
  auto plain = run("bench squeezenet1_1 --batch-size 2 --input-size 64 64 --threads 1 --seconds 0.2 --no-optimise --json");
  ASSERT_EQ(plain.status, 0) << plain.err;
  const auto j = nlohmann::json::parse(plain.out);
  EXPECT_EQ(j["optimised"], false);
  EXPECT_EQ(j["winograd"], false);
  EXPECT_EQ(j["forward_img_per_s"], j["plain_forward_img_per_s"]);
  auto direct = run("bench squeezenet1_1 --batch-size 2 --input-size 64 64 --threads 1 --seconds 0.2 --no-winograd --json");
  ASSERT_EQ(direct.status, 0) << direct.err;
  EXPECT_EQ(nlohmann::json::parse(direct.out)["winograd"], false);
}

TEST(Cli, EngineFlagsAreCheckedUpFront) {
  // This libtorch (Debian's) has no CUDA: a usage error, for every command that takes --device.
  for (const char* cmd : {"bench squeezenet1_1", "classify x.png --model resnet18 --weights w.pth", "eval run",
                          "train --epochs 1"}) {
    auto r = run(std::string(cmd) + " --device cuda");
    EXPECT_EQ(r.status, 2) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("--device cuda"), std::string::npos) << r.err;
  }
  auto r = run("bench squeezenet1_1 --precision bf16 --no-optimise");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--no-optimise"), std::string::npos) << r.err;
  EXPECT_EQ(run("bench squeezenet1_1 --precision int8").status, 2);
  EXPECT_EQ(run("train --epochs 1 --precision bf16").status, 2);  // inference only
}
