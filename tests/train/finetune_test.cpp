// Fine-tuning: the Trainer takes any Model, starts from a file's backbone with a new head,
// freezes and unfreezes the backbone, scales the head's learning rate, and resumes exactly.
#include "temp_dir.h"
#include "train/fashion_slice.h"

#include <metalhead/data/idx.h>
#include <metalhead/features.h>
#include <metalhead/metalhead.h>
#include <metalhead/train.h>
#include <metalhead/weights.h>

#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/pooling.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

namespace fs = std::filesystem;
namespace mt = metalhead::train;

namespace {

// A 1-channel resnet18 trained on nothing: its own random weights, a 5-class head.
fs::path source_weights(metalhead::Model& source) {
  torch::manual_seed(99);
  source = metalhead::create_model("resnet18", {.inchannels = 1, .nclasses = 5});
  const fs::path file = fresh_dir("source") / "resnet18-5.safetensors";
  metalhead::save_weights(source, file);
  return file;
}

std::vector<std::pair<std::string, torch::Tensor>> params_of(const flux::Chain& c) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : c->named_parameters()) out.emplace_back(p.key(), p.value().clone());
  return out;
}

TEST(FineTune, WeightsGiveTheBackboneAndANewHead) {
  metalhead::Model source(nullptr);
  const fs::path file = source_weights(source);
  mt::Trainer t({.model = "resnet18", .epochs = 1, .batch_size = 64, .seed = 1, .weights = file.string(),
                 .freeze_backbone = true},
                slice(128));
  const auto want = params_of(metalhead::backbone(source));
  const auto got = params_of(metalhead::backbone(t.model()));
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(torch::equal(want[i].second, got[i].second)) << want[i].first;
  EXPECT_EQ(metalhead::classifier(t.model())->parameters().front().size(0), 10);  // the data's classes

  // Frozen: one epoch trains the head only.
  const auto head_before = params_of(metalhead::classifier(t.model()));
  t.train_epoch();
  const auto after = params_of(metalhead::backbone(t.model()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(torch::equal(want[i].second, after[i].second)) << want[i].first;
  EXPECT_FALSE(torch::equal(head_before[0].second, metalhead::classifier(t.model())->parameters().front()));
}

TEST(FineTune, ResumedRunEqualsUninterrupted) {
  metalhead::Model source(nullptr);
  const fs::path file = source_weights(source);
  const mt::TrainOptions o{.model = "resnet18", .epochs = 2, .batch_size = 64, .seed = 5, .weights = file.string(),
                           .freeze_backbone = true, .unfreeze_after = 1, .head_lr_mult = 10};
  const auto data = slice(192);
  mt::Trainer whole(o, data);
  whole.train_epoch();
  whole.train_epoch();
  const fs::path ckpt = fresh_dir("resume") / "checkpoint.safetensors";
  {
    mt::Trainer first(o, data);
    first.train_epoch();
    first.save(ckpt);
  }
  auto resumed = mt::Trainer::resume(ckpt, data);
  resumed->train_epoch();
  const auto a = metalhead::named_tensors(whole.model()), b = metalhead::named_tensors(resumed->model());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  // Unfrozen in epoch 2: the backbone moved away from the file's.
  EXPECT_FALSE(torch::equal(metalhead::backbone(whole.model())->parameters().front(),
                            metalhead::backbone(source)->parameters().front()));
}

TEST(FineTune, HeadLearningRateMultiplier) {
  // SGD without momentum or decay: p ← p − lr·scale·g, by hand.
  auto body = torch::ones({2}).requires_grad_(true), head = torch::ones({2}).requires_grad_(true);
  mt::Optimiser opt({body, head}, {.momentum = 0, .weight_decay = 0}, {1.0, 10.0});
  (body.sum() + head.sum()).backward();
  opt.step(0.01);
  EXPECT_TRUE(torch::allclose(body, torch::full({2}, 0.99)));
  EXPECT_TRUE(torch::allclose(head, torch::full({2}, 0.9)));
}

TEST(FineTune, TrainerTakesAnyModel) {
  torch::manual_seed(0);
  // A user's own Chain: backbone and head, 1 channel in, 10 classes out.
  metalhead::Model mine("Tiny", flux::Chain(flux::Conv({3, 3}, {1, 8}, flux::relu, {.stride = 2})),
                        flux::Chain(flux::AdaptiveMeanPool({1, 1}), flux::flatten, flux::Dense({8, 10})), 1);
  const auto before = mine->parameters().front().clone();
  mt::Trainer t(mine, {.model = "tiny", .epochs = 1, .batch_size = 64, .lr = 0.05, .head_lr_mult = 2}, slice(128));
  t.train_epoch();
  EXPECT_FALSE(torch::equal(mine->parameters().front(), before));  // the same layers trained
  const fs::path ckpt = fresh_dir("tiny") / "checkpoint.safetensors";
  t.save(ckpt);

  // A mid-level model, too.
  metalhead::Model vgg("VGG", metalhead::vgg({32, 32}, {.config = {{8, 1}, {16, 1}}, .fcsize = 16, .inchannels = 1,
                                                        .nclasses = 10}),
                       1);
  mt::Trainer v(vgg, {.model = "small-vgg", .epochs = 1, .batch_size = 64, .lr = 0.01, .image_size = {32, 32}},
                slice(128));
  EXPECT_TRUE(std::isfinite(v.train_epoch().loss));
}

TEST(FineTune, BadInputIsRefused) {
  auto data = slice(128);
  EXPECT_THROW(mt::Trainer({.model = "resnet18", .head_lr_mult = 0}, data), std::invalid_argument);
  EXPECT_THROW(mt::Trainer({.model = "resnet18", .head_lr_mult = -1}, data), std::invalid_argument);
  EXPECT_THROW(mt::Trainer({.model = "resnet18", .unfreeze_after = 2}, data), std::invalid_argument);
  EXPECT_THROW(mt::Trainer({.model = "unet", .batch_size = 64, .freeze_backbone = true}, data), std::invalid_argument);
  // Another architecture's weights.
  torch::manual_seed(0);
  auto other = metalhead::create_model("resnet34", {.inchannels = 1, .nclasses = 10});
  const fs::path file = fresh_dir("other") / "resnet34.safetensors";
  metalhead::save_weights(other, file);
  EXPECT_THROW(mt::Trainer({.model = "resnet18", .batch_size = 64, .weights = file.string()}, data), std::runtime_error);
  // A Model of the wrong class count.
  auto eleven = metalhead::create_model("resnet18", {.inchannels = 1, .nclasses = 11});
  EXPECT_THROW(mt::Trainer(eleven, {.batch_size = 64}, data), std::invalid_argument);
}

}  // namespace

namespace {

TEST(Fit, TheEpochLoopTrainsEvaluatesAndSaves) {
  const fs::path dir = fresh_dir("fit");
  mt::Trainer t({.model = "resnet18", .epochs = 2, .batch_size = 64, .seed = 3}, slice(128));
  auto test = t.test_loader(slice(64));
  int calls = 0;
  int64_t batches = 0;
  const mt::FitOptions options{.run_dir = dir, .test = test.get(), .stop_after = 1,
                               .progress = [&](const mt::Progress&) { ++batches; },
                               .epoch_done = [&](const mt::MetricsRow& row) {
                                 ++calls;
                                 EXPECT_TRUE(std::isfinite(row.test_accuracy));
                               }};
  EXPECT_EQ(t.fit(options).size(), 1u);  // stop_after: one epoch now
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(batches, 2);
  for (const char* f : {"checkpoint.safetensors", "metrics.csv", "metrics.svg"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
  EXPECT_EQ(mt::checkpoint_info(dir / "checkpoint.safetensors").epoch, 1);
  t.fit(options);
  EXPECT_EQ(t.epoch(), 2);
  EXPECT_EQ(calls, 2);
  t.fit(options);  // the run is done: nothing more
  EXPECT_EQ(calls, 2);
}

}  // namespace
