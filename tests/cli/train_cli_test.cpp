// `metalhead train`, `eval`, `classify` and `samples` as a user runs them, and how they
// refuse bad input: exit status, message, nothing lost on disk.
#include "image_folder.h"
#include "run.h"
#include "temp_dir.h"

#include <metalhead/data/images.h>
#include <metalhead/registry.h>
#include <metalhead/train.h>
#include <metalhead/weights.h>
#include <metalhead/weights/safetensors.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A quick run: 256 Fashion-MNIST images, batches of 64, one thread, no per-epoch test set.
const std::string kQuick = "--model resnet18 --limit 256 --batch-size 64 --threads 1 --workers 1 --test-data '' -q";

// The model tensors of a checkpoint (not the training state), by name.
std::map<std::string, torch::Tensor> model_tensors(const fs::path& ckpt) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : metalhead::weights::read_safetensors(ckpt).tensors) {
    if (name.rfind("training/", 0) != 0) out.emplace(name, t.clone());
  }
  return out;
}

std::vector<fs::path> leftovers(const fs::path& dir) {
  std::vector<fs::path> tmp;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (contains(e.path().filename().string(), ".tmp-")) tmp.push_back(e.path());
  }
  return tmp;
}

}  // namespace

TEST(CliTrain, TrainEvalSamplesClassify) {
  const auto dir = fresh_dir("run");
  auto r = run("train " + kQuick + " --epochs 2 --output " + dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"checkpoint.safetensors", "metrics.csv", "metrics.svg"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
  EXPECT_TRUE(leftovers(dir).empty());
  std::ifstream csv(dir / "metrics.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,images_per_second,seconds");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 2);

  auto e = run("eval " + dir.string() + " --data fashion-mnist --limit 300 --threads 1 --json");
  ASSERT_EQ(e.status, 0) << e.err;
  const auto j = json::parse(e.out);
  EXPECT_EQ(j["images"], 300);
  EXPECT_EQ(j["model"], "resnet18");
  int64_t total = 0, diagonal = 0;
  for (size_t i = 0; i < 10; ++i) {
    for (size_t k = 0; k < 10; ++k) total += j["confusion"][i][k].get<int64_t>();
    diagonal += j["confusion"][i][i].get<int64_t>();
  }
  EXPECT_EQ(total, 300);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), diagonal / 300.0);
  EXPECT_EQ(j["class_accuracy"].size(), 10u);
  auto text = run("eval " + dir.string() + " --limit 100 --threads 1");
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "confusion matrix")) << text.out;
  EXPECT_TRUE(contains(text.out, "Ankle boot")) << text.out;

  auto s = run("samples --count 3 --output " + (dir / "samples").string());
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_TRUE(fs::exists(dir / "samples" / "00000-Ankle-boot.png")) << s.out;  // test image 0 is an ankle boot
  auto c = run("classify " + (dir / "samples" / "*.png").string() + " --weights " +
               (dir / "checkpoint.safetensors").string() + " --threads 1 --json");
  ASSERT_EQ(c.status, 0) << c.err;
  std::istringstream lines(c.out);
  int images = 0;
  while (std::getline(lines, line)) {
    const auto k = json::parse(line);
    ASSERT_EQ(k["top"].size(), 5u);
    double sum = 0, last = 1;
    for (const auto& t : k["top"]) {
      const double p = t["probability"];
      EXPECT_LE(p, last);
      last = p;
      sum += p;
      const auto& names = metalhead::data::fashion_mnist_classes();
      EXPECT_NE(std::find(names.begin(), names.end(), t["class"].get<std::string>()), names.end());
    }
    EXPECT_LE(sum, 1 + 1e-6);
    ++images;
  }
  EXPECT_EQ(images, 3);

  // The plain path gives the same classes and probabilities (to float rounding), and the
  // same evaluation.
  auto plain = run("classify " + (dir / "samples" / "*.png").string() + " --weights " +
                   (dir / "checkpoint.safetensors").string() + " --threads 1 --json --no-optimise");
  ASSERT_EQ(plain.status, 0) << plain.err;
  std::istringstream a(c.out), b(plain.out);
  for (std::string x, y; std::getline(a, x) && std::getline(b, y);) {
    const auto fast = json::parse(x)["top"], slow = json::parse(y)["top"];
    EXPECT_EQ(fast[0]["class"], slow[0]["class"]);
    EXPECT_NEAR(fast[0]["probability"].get<double>(), slow[0]["probability"].get<double>(), 1e-4);
  }
  auto p = run("eval " + dir.string() + " --data fashion-mnist --limit 300 --threads 1 --json --no-optimise");
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(json::parse(p.out)["optimised"], false);
  EXPECT_NEAR(json::parse(p.out)["accuracy"].get<double>(), j["accuracy"].get<double>(), 1.0 / 300);
}

TEST(CliTrain, ResumeEqualsUninterrupted) {
  const auto whole = fresh_dir("whole"), cut = fresh_dir("cut");
  const std::string run_options = kQuick + " --epochs 3 --seed 5 --pad-crop 2 --hflip --warmup-epochs 0.5";
  ASSERT_EQ(run("train " + run_options + " --output " + whole.string()).status, 0);
  // Interrupted after the first of three epochs, then resumed.
  ASSERT_EQ(run("train " + run_options + " --stop-after 1 --output " + cut.string()).status, 0);
  EXPECT_EQ(metalhead::train::checkpoint_info(cut / "checkpoint.safetensors").epoch, 1);
  auto r = run("train --resume " + cut.string() + " --threads 1 --workers 1 -q");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(metalhead::train::checkpoint_info(cut / "checkpoint.safetensors").epoch, 3);
  const auto a = model_tensors(whole / "checkpoint.safetensors"), b = model_tensors(cut / "checkpoint.safetensors");
  ASSERT_EQ(a.size(), b.size());
  size_t differing = 0;
  for (const auto& [name, t] : a) differing += !torch::equal(t, b.at(name));
  EXPECT_EQ(differing, 0u) << "of " << a.size();
  // The metrics of all three epochs are in the resumed run's CSV.
  std::ifstream csv(cut / "metrics.csv");
  std::string line;
  int rows = -1;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 3);
}

TEST(CliTrain, ContradictoryOptionsAreUsageErrors) {
  auto r = run("train --optimiser adam --momentum 0.5");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--momentum")) << r.err;
  r = run("train --warmup-epochs 3 --epochs 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "warm-up")) << r.err;
  r = run("train --schedule cosine --step-size 3");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--step-size")) << r.err;
  r = run("train --optimiser rmsprop");
  EXPECT_EQ(r.status, 2);
  const auto dir = fresh_dir("contradict");
  ASSERT_EQ(run("train " + kQuick + " --epochs 2 --stop-after 1 --output " + dir.string()).status, 0);
  r = run("train --resume " + dir.string() + " --lr 0.5");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--lr contradicts --resume")) << r.err;
  // Training into a folder that holds a run would overwrite it.
  r = run("train " + kQuick + " --epochs 1 --output " + dir.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "already holds a run")) << r.err;
  EXPECT_EQ(run("train --model resnet5O -q").status, 1);
}

TEST(CliTrain, ADiskThatFillsMidSaveKeepsThePreviousCheckpoint) {
  const auto dir = fresh_dir("full");
  ASSERT_EQ(run("train " + kQuick + " --epochs 2 --stop-after 1 --output " + dir.string()).status, 0);
  const auto ckpt = dir / "checkpoint.safetensors";
  const auto before = model_tensors(ckpt);
  const auto size = fs::file_size(ckpt);
  // Files may grow to 1 MB (about 2% of the checkpoint): the next save fails part-way.
  auto r = run("train --resume " + dir.string() + " --threads 1 --workers 1 -q", "trap '' XFSZ; ulimit -f 2048; exec");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "metalhead train: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "File too large")) << r.err;
  EXPECT_TRUE(leftovers(dir).empty());
  EXPECT_EQ(fs::file_size(ckpt), size);
  EXPECT_EQ(metalhead::train::checkpoint_info(ckpt).epoch, 1);
  const auto after = model_tensors(ckpt);
  for (const auto& [name, t] : before) EXPECT_TRUE(torch::equal(t, after.at(name))) << name;
  // ...and the run resumes from it once there is room.
  EXPECT_EQ(run("train --resume " + dir.string() + " --threads 1 --workers 1 -q").status, 0);
  EXPECT_EQ(metalhead::train::checkpoint_info(ckpt).epoch, 2);
}

TEST(CliTrain, BadImagesAndCheckpointsAreRefusedClearly) {
  const auto dir = fresh_dir("bad");
  ASSERT_EQ(run("train " + kQuick + " --epochs 1 --output " + dir.string()).status, 0);
  const auto ckpt = (dir / "checkpoint.safetensors").string();
  auto r = run("classify " + (dir / "missing.png").string() + " --weights " + ckpt);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "missing.png")) << r.err;
  EXPECT_TRUE(contains(r.err, "no such file")) << r.err;
  std::ofstream(dir / "corrupt.png") << "\x89PNG not really";
  r = run("classify " + (dir / "corrupt.png").string() + " --weights " + ckpt);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "cannot decode")) << r.err;
  // A checkpoint of another model.
  r = run("classify " + (dir / "corrupt.png").string() + " --weights " + ckpt + " --model resnet34");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "a checkpoint of resnet18, not of resnet34")) << r.err;
  r = run("eval " + ckpt + " --model mobilenet_v2 --limit 10");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "not of mobilenet_v2")) << r.err;
  // Weights that are not a checkpoint need --model; with one, they must fit it.
  r = run("classify " + (dir / "corrupt.png").string() + " --weights " + (dir / "metrics.csv").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--model is needed")) << r.err;
}

TEST(CliTrain, ImageFolders) {
  const auto data = image_folder("folder", 6, 6);
  const auto out = fresh_dir("folder-run");
  auto r = run("train --model resnet18 --data " + data.string() + " --test-data " + data.string() +
               " --image-size 16 16 --batch-size 4 --epochs 1 --threads 1 --workers 1 --json --output " + out.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto line = json::parse(r.out);
  EXPECT_EQ(line["epoch"], 1);
  EXPECT_TRUE(line.contains("test_accuracy"));
  const auto info = metalhead::train::checkpoint_info(out / "checkpoint.safetensors");
  EXPECT_EQ(info.classes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(info.inchannels, 1);
  EXPECT_EQ(info.input_size, (std::vector<int64_t>{16, 16}));

  const auto empty = fresh_dir("no-classes");
  r = run("train --data " + empty.string() + " -q");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "no classes")) << r.err;
  const auto hollow = image_folder("hollow", 1, 1);
  fs::create_directories(hollow / "c");
  r = run("train --data " + hollow.string() + " -q");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "class folder c has no images")) << r.err;
  const auto broken = image_folder("broken", 2, 2);
  std::ofstream(broken / "a" / "9.jpg") << "not a jpeg";
  r = run("train --data " + broken.string() + " -q");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "9.jpg")) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot decode")) << r.err;
  r = run("train --data " + (empty / "nowhere").string() + " -q");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "no such folder")) << r.err;
}

TEST(CliTrain, ClassifyWithImagenetWeightsNamesImagenetClasses) {
  const auto dir = fresh_dir("imagenet");
  torch::manual_seed(0);
  auto model = metalhead::create_model("squeezenet1_1");
  metalhead::save_weights(model, dir / "squeezenet1_1.safetensors", {.naming = metalhead::Naming::torchvision});
  metalhead::data::write_png(dir / "photo.png", torch::randint(0, 256, {3, 300, 240}, torch::kLong).to(torch::kByte));
  auto r = run("classify " + (dir / "photo.png").string() + " --model squeezenet1_1 --weights " +
               (dir / "squeezenet1_1.safetensors").string() + " --threads 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_EQ(j["top"].size(), 5u);
  const auto& names = metalhead::imagenet_classes();
  for (const auto& t : j["top"]) {
    EXPECT_EQ(t["class"].get<std::string>(), names.at(t["index"].get<size_t>()));
  }
  // The same weights for another architecture are refused, naming the file.
  r = run("classify " + (dir / "photo.png").string() + " --model resnet18 --weights " +
          (dir / "squeezenet1_1.safetensors").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "squeezenet1_1.safetensors")) << r.err;
}
