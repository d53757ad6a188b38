// Fine-tuning from the command line (`train --weights/--pretrained/--freeze-backbone`),
// `embed`, and their refusals: exit status, message, nothing left on disk.
#include "run.h"
#include "temp_dir.h"

#include <metalhead/data/images.h>
#include <metalhead/weights/safetensors.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kQuick = "--limit 256 --batch-size 64 --threads 1 --workers 1 --test-data '' -q";

std::map<std::string, torch::Tensor> tensors(const fs::path& file) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : metalhead::weights::read_safetensors(file).tensors) out.emplace(name, t.clone());
  return out;
}

// Three classes of 28×28 grey PNGs, 24 each: a dark, b light, c striped.
fs::path three_classes(const std::string& name) {
  const auto dir = fresh_dir(name);
  for (const char* c : {"a", "b", "c"}) {
    fs::create_directories(dir / c);
    for (int i = 0; i < 24; ++i) {
      auto img = torch::randint(0, 80, {1, 28, 28}, torch::kLong);
      if (c[0] == 'b') img += 160;
      if (c[0] == 'c') img.slice(1, 0, 28, 4) += 170;
      metalhead::data::write_png(dir / c / (std::to_string(i) + ".png"), img.to(torch::kByte));
    }
  }
  return dir;
}

// A 10-class Fashion-MNIST resnet18 to start from (one quick epoch), made once.
const fs::path& source_run() {
  static const fs::path dir = [] {
    auto d = fresh_dir("source");
    auto r = run("train --model resnet18 " + kQuick + " --epochs 1 --output " + d.string());
    EXPECT_EQ(r.status, 0) << r.err;
    return d;
  }();
  return dir;
}

TEST(CliFineTune, WeightsGiveTheBackboneAndAHeadForTheData) {
  const fs::path source = source_run() / "checkpoint.safetensors";
  const auto data = three_classes("data");
  const auto dir = fresh_dir("tuned");
  auto r = run("train --model resnet18 --data " + data.string() + " --weights " + source.string() +
               " --freeze-backbone --head-lr-mult 5 --epochs 1 --batch-size 24 --threads 1 --workers 1 -q --output " +
               dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto before = tensors(source), after = tensors(dir / "checkpoint.safetensors");
  int compared = 0;
  for (const auto& [name, t] : after) {
    if (name.rfind("layers.0.", 0) != 0 || contains(name, "running_") || contains(name, "num_batches")) continue;
    ASSERT_TRUE(before.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, before.at(name))) << name << ": a frozen backbone tensor changed";
    ++compared;
  }
  EXPECT_GT(compared, 40);
  // resnet18's head: pool, flatten, Dropout, Dense: the data's three classes.
  EXPECT_EQ(after.at("layers.1.3.weight").size(0), 3);
  EXPECT_EQ(before.at("layers.1.3.weight").size(0), 10);
  const auto meta = metalhead::weights::read_safetensors(dir / "checkpoint.safetensors").metadata;
  EXPECT_TRUE(contains(meta.at("metalhead.checkpoint"), source.string())) << "the run records where its backbone came from";
}

TEST(CliFineTune, BadInputIsRefusedWithNothingLeft) {
  const fs::path source = source_run() / "checkpoint.safetensors";
  auto refused = [](const std::string& args, const std::string& message) {
    const auto dir = fs::path(testing::TempDir()) / "metalhead-finetune-cli-refused";
    fs::remove_all(dir);
    auto r = run("train " + args + " " + kQuick + " --epochs 1 --output " + dir.string());
    EXPECT_NE(r.status, 0) << args;
    EXPECT_TRUE(contains(r.err, message)) << args << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir / "checkpoint.safetensors")) << args;
  };
  refused("--model resnet18 --head-lr-mult 0", "learning-rate multiplier must be positive");
  refused("--model resnet18 --head-lr-mult -2", "learning-rate multiplier must be positive");
  refused("--model resnet18 --unfreeze-after 1", "needs a frozen backbone");
  // UNet is built for the data's size (a multiple of its encoder's 32 here, or it is refused for that).
  refused("--model unet --image-size 64 64 --freeze-backbone", "no backbone and classifier head");
  refused("--model unet", "not divisible by the encoder's downsampling 32");
  refused("--model resnet34 --weights " + source.string(), "cannot load into ResNet");
  refused("--model resnet18 --weights /nonexistent/w.safetensors", "no such file");
  refused("--model resnet18 --weights " + source.string() + " --pretrained", "give one");
}

TEST(CliFineTune, PretrainedNeedsItsFile) {
  const auto dir = fresh_dir("pretrained");
  auto r = run("train --model resnet18 --pretrained " + kQuick + " --output " + (dir / "run").string(),
               "METALHEAD_WEIGHTS=" + dir.string() + " HOME=" + dir.string());
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "scripts/export-weights resnet18")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "run" / "checkpoint.safetensors"));
}

TEST(CliEmbed, OnePooledRowPerImage) {
  const fs::path ckpt = source_run() / "checkpoint.safetensors";
  const auto imgs = fresh_dir("embed-images");
  auto s = run("samples --count 2 --output " + imgs.string());
  ASSERT_EQ(s.status, 0) << s.err;
  const std::string a = (imgs / "00000-Ankle-boot.png").string(), b = (imgs / "00001-Pullover.png").string();
  const auto out = imgs / "embeddings.safetensors";
  auto r = run("embed " + a + " " + b + " " + a + " --weights " + ckpt.string() + " --threads 1 --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto file = metalhead::weights::read_safetensors(out);
  ASSERT_EQ(file.tensors.size(), 1u);
  const auto e = file.tensors[0].second;
  EXPECT_EQ(file.tensors[0].first, "embeddings");
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{3, 512}));  // resnet18's pooled features
  EXPECT_TRUE(torch::equal(e[0], e[2]));
  EXPECT_FALSE(torch::equal(e[0], e[1]));
  EXPECT_TRUE((e >= 0).all().item<bool>());  // pooled after a ReLU
  EXPECT_EQ(json::parse(file.metadata.at("images")), json({a, b, a}));

  auto bad = run("embed " + a + " --weights " + ckpt.string() + " --out " + (imgs / "e.bin").string());
  EXPECT_NE(bad.status, 0);
  auto missing = run("embed /nonexistent.png --weights " + ckpt.string() + " --out " + (imgs / "f.safetensors").string());
  EXPECT_NE(missing.status, 0);
  EXPECT_FALSE(fs::exists(imgs / "f.safetensors"));
}

}  // namespace
