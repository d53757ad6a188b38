// The training library: schedules by hand, optimisers against libtorch's torch::optim,
// resume-equals-uninterrupted, checkpoints, metrics files.
#include "temp_dir.h"
#include "train/fashion_slice.h"

#include <metalhead/data/idx.h>
#include <metalhead/registry.h>
#include <metalhead/train.h>
#include <metalhead/weights.h>
#include <metalhead/weights/safetensors.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
namespace mt = metalhead::train;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Schedule, WarmupThenCosineOrStep) {
  mt::TrainOptions o{.epochs = 10, .lr = 0.2, .warmup_epochs = 2};
  EXPECT_DOUBLE_EQ(mt::learning_rate(o, 0), 0);
  EXPECT_DOUBLE_EQ(mt::learning_rate(o, 1), 0.1);  // half-way through the warm-up
  EXPECT_DOUBLE_EQ(mt::learning_rate(o, 2), 0.2);  // cosine starts at the peak...
  EXPECT_NEAR(mt::learning_rate(o, 6), 0.1, 1e-15);  // ...is half-way down half-way through...
  EXPECT_NEAR(mt::learning_rate(o, 10), 0, 1e-15);   // ...and ends at zero
  EXPECT_NEAR(mt::learning_rate(o, 4), 0.2 * 0.5 * (1 + std::cos(M_PI / 4)), 1e-15);
  o.schedule = mt::ScheduleKind::step;
  o.warmup_epochs = 0;
  o.step_size = 3;
  o.gamma = 0.5;
  EXPECT_DOUBLE_EQ(mt::learning_rate(o, 2.9), 0.2);
  EXPECT_DOUBLE_EQ(mt::learning_rate(o, 3), 0.1);
  EXPECT_DOUBLE_EQ(mt::learning_rate(o, 6.5), 0.05);
  o.schedule = mt::ScheduleKind::constant;
  EXPECT_DOUBLE_EQ(mt::learning_rate(o, 9), 0.2);
}

TEST(Options, ContradictionsAreRefusedByName) {
  auto refused = [](mt::TrainOptions o, const std::string& words) {
    try {
      o.validate();
      ADD_FAILURE() << "accepted: " << words;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  refused({.epochs = 2, .warmup_epochs = 2}, "warm-up");
  refused({.optimiser = mt::OptimiserKind::adam, .nesterov = true}, "Nesterov");
  refused({.momentum = 0, .nesterov = true}, "Nesterov");
  refused({.lr = -1}, "learning rate");
  refused({.label_smoothing = 1}, "label smoothing");
  refused({.epochs = 0}, "epochs");
  EXPECT_NO_THROW(mt::TrainOptions{}.validate());
  EXPECT_THROW(mt::optimiser_kind("rmsprop"), std::invalid_argument);
}

TEST(Options, JsonRoundTrip) {
  mt::TrainOptions o{.model = "mobilenet_v2", .epochs = 7, .optimiser = mt::OptimiserKind::adamw, .lr = 3e-4,
                     .schedule = mt::ScheduleKind::step, .warmup_epochs = 0.5, .label_smoothing = 0.1, .seed = 42,
                     .hflip = true, .image_size = {32, 32}, .data = "/tmp/x", .limit = 99};
  nlohmann::json j = o;
  const auto back = j.get<mt::TrainOptions>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.optimiser, mt::OptimiserKind::adamw);
  EXPECT_EQ(back.image_size, (std::vector<int64_t>{32, 32}));
}

// Our optimisers against libtorch's own torch::optim over several steps, with weight decay.
void compare_with_torch(const mt::TrainOptions& o, torch::optim::Optimizer& reference, std::vector<torch::Tensor> theirs,
                        std::vector<torch::Tensor> ours) {
  mt::Optimiser opt(ours, o);
  torch::manual_seed(3);
  for (int step = 0; step < 6; ++step) {
    for (size_t i = 0; i < ours.size(); ++i) {
      const auto g = torch::randn_like(ours[i]);
      ours[i].mutable_grad() = g.clone();
      theirs[i].mutable_grad() = g.clone();
    }
    opt.step(o.lr);
    reference.step();
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-12, 1e-13)) << "step " << step << " parameter " << i;
    }
  }
  EXPECT_EQ(opt.steps(), 6);
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> twin_parameters() {
  torch::manual_seed(1);
  std::vector<torch::Tensor> a{torch::randn({3, 4}, torch::kDouble), torch::randn({5}, torch::kDouble)};
  std::vector<torch::Tensor> b;
  for (auto& t : a) {
    b.push_back(t.clone().set_requires_grad(true));
    t.set_requires_grad(true);
  }
  return {a, b};
}

TEST(Optimiser, SgdMomentumWeightDecayMatchesTorch) {
  auto [ours, theirs] = twin_parameters();
  mt::TrainOptions o{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-2};
  torch::optim::SGD ref(theirs, torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-2));
  compare_with_torch(o, ref, theirs, ours);
}

TEST(Optimiser, SgdNesterovMatchesTorch) {
  auto [ours, theirs] = twin_parameters();
  mt::TrainOptions o{.lr = 0.05, .momentum = 0.8, .nesterov = true, .weight_decay = 1e-3};
  torch::optim::SGD ref(theirs, torch::optim::SGDOptions(0.05).momentum(0.8).nesterov(true).weight_decay(1e-3));
  compare_with_torch(o, ref, theirs, ours);
}

TEST(Optimiser, AdamMatchesTorch) {
  auto [ours, theirs] = twin_parameters();
  mt::TrainOptions o{.optimiser = mt::OptimiserKind::adam, .lr = 1e-2, .beta1 = 0.8, .beta2 = 0.99,
                     .weight_decay = 1e-2};
  torch::optim::Adam ref(theirs, torch::optim::AdamOptions(1e-2).betas({0.8, 0.99}).weight_decay(1e-2));
  compare_with_torch(o, ref, theirs, ours);
}

TEST(Optimiser, AdamCountsEachParametersOwnSteps) {
  // The second parameter has no gradient for three steps (frozen, then unfrozen): torch's
  // Adam skips it and starts its bias correction at step 1 when it first has one.
  auto [ours, theirs] = twin_parameters();
  mt::TrainOptions o{.optimiser = mt::OptimiserKind::adam, .lr = 1e-2, .weight_decay = 0};
  torch::optim::Adam ref(theirs, torch::optim::AdamOptions(1e-2));
  mt::Optimiser opt(ours, o);
  torch::manual_seed(4);
  for (int step = 0; step < 6; ++step) {
    for (size_t i = 0; i < ours.size(); ++i) {
      const bool frozen = i == 1 && step < 3;
      const auto g = torch::randn_like(ours[i]);
      ours[i].mutable_grad() = frozen ? torch::Tensor() : g.clone();
      theirs[i].mutable_grad() = frozen ? torch::Tensor() : g.clone();
    }
    const auto before = ours[1].clone();
    opt.step(o.lr);
    ref.step();
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-12, 1e-13)) << "step " << step << " parameter " << i;
    }
    // By hand: its first step is lr · g / (|g| + eps), about lr in size.
    if (step == 3) EXPECT_NEAR((ours[1] - before).abs().max().item<double>(), 1e-2, 1e-7);
  }
}

TEST(Optimiser, AdamWMatchesTorch) {
  auto [ours, theirs] = twin_parameters();
  mt::TrainOptions o{.optimiser = mt::OptimiserKind::adamw, .lr = 1e-2, .weight_decay = 0.1};
  torch::optim::AdamW ref(theirs, torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  compare_with_torch(o, ref, theirs, ours);
}

TEST(Optimiser, StateRoundTripsAndRefusesAnotherShape) {
  auto [ours, unused] = twin_parameters();
  mt::TrainOptions o{.optimiser = mt::OptimiserKind::adam};
  mt::Optimiser a(ours, o);
  for (auto& p : ours) p.mutable_grad() = torch::ones_like(p);
  a.step(0.1);
  const auto state = a.state();
  EXPECT_EQ(state.size(), 6u);  // exp_avg and exp_avg_sq of two parameters, steps, param_steps
  mt::Optimiser b(ours, o);
  b.load_state(state);
  EXPECT_EQ(b.steps(), 1);
  auto s = b.state();
  for (size_t i = 0; i < s.size(); ++i) EXPECT_TRUE(torch::equal(s[i].second, state[i].second)) << s[i].first;
  // A state from before per-parameter steps: each parameter takes the global count.
  auto old = state;
  old.pop_back();
  mt::Optimiser c(ours, o);
  c.load_state(old);
  EXPECT_TRUE(torch::equal(c.state().back().second, torch::tensor({1, 1}, torch::kLong)));
  auto bad = state;
  bad[0].second = torch::zeros({2});
  EXPECT_THROW(b.load_state(bad), std::runtime_error);
  mt::Optimiser sgd(ours, {});
  EXPECT_THROW(sgd.load_state(state), std::runtime_error);  // Adam's state for SGD
}

TEST(Statistics, ChannelMeanAndStdByHand) {
  // Channel 0: 0 and 255 → mean 0.5, std 0.5; channel 1: all 51 → mean 0.2, std 0 (floored).
  auto images = torch::zeros({2, 2, 1, 1}, torch::kByte);
  images[1][0] = 255;
  images.select(1, 1).fill_(51);
  const auto [mean, stdv] = mt::channel_statistics(images);
  EXPECT_DOUBLE_EQ(mean[0], 0.5);
  EXPECT_DOUBLE_EQ(stdv[0], 0.5);
  EXPECT_NEAR(mean[1], 0.2, 1e-15);
  EXPECT_EQ(stdv[1], 1e-6);
}

// Checkpoint after epoch 1, resume in a new Trainer, train epoch 2: the weights equal an
// uninterrupted two-epoch run's bit for bit (momentum, schedule, data order, dropout RNG).
void resume_equals_uninterrupted(const mt::TrainOptions& o) {
  const auto data = slice(320);
  mt::Trainer whole(o, data);
  whole.train_epoch();
  whole.train_epoch();

  const fs::path ckpt = fresh_dir("resume-" + o.model) / "checkpoint.safetensors";
  {
    mt::Trainer first(o, data);
    first.train_epoch();
    first.save(ckpt);
  }
  torch::manual_seed(12345);  // whatever happens to the global RNG in between must not matter
  torch::randn({100});
  auto resumed = mt::Trainer::resume(ckpt, data);
  EXPECT_EQ(resumed->epoch(), 1);
  resumed->train_epoch();
  ASSERT_EQ(resumed->history().size(), 2u);
  EXPECT_EQ(resumed->history()[1].train.loss, whole.history()[1].train.loss);

  const auto a = metalhead::named_tensors(whole.model()), b = metalhead::named_tensors(resumed->model());
  ASSERT_EQ(a.size(), b.size());
  size_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += !torch::equal(a[i].second, b[i].second);
  EXPECT_EQ(differing, 0u) << "of " << a.size() << " tensors";
  // ...and differ from the weights after one epoch: the second epoch did train.
  auto one = mt::load_checkpoint_model(ckpt);
  EXPECT_FALSE(torch::equal(metalhead::named_tensors(one)[0].second, a[0].second));
}

TEST(Trainer, ResumeEqualsUninterruptedSgd) {
  resume_equals_uninterrupted({.model = "resnet18", .epochs = 2, .batch_size = 64, .warmup_epochs = 0.5,
                               .seed = 7, .pad_crop = 2, .hflip = true});
}

TEST(Trainer, ResumeEqualsUninterruptedAdamWWithDropout) {
  // MobileNet v3's classifier has dropout: the checkpoint's RNG state must carry over.
  resume_equals_uninterrupted({.model = "mobilenet_v3_small", .epochs = 2, .batch_size = 64,
                               .optimiser = mt::OptimiserKind::adamw, .lr = 1e-3, .weight_decay = 0.05,
                               .label_smoothing = 0.1, .seed = 3});
}

TEST(Trainer, CheckpointKnowsItsRunAndLoadsAsWeights) {
  const auto data = slice(128);
  mt::Trainer t({.model = "resnet18", .epochs = 3, .batch_size = 64}, data);
  t.train_epoch();
  const fs::path ckpt = fresh_dir("info") / "checkpoint.safetensors";
  t.save(ckpt);
  const auto info = mt::checkpoint_info(ckpt);
  EXPECT_EQ(info.model, "resnet18");
  EXPECT_EQ(info.epoch, 1);
  EXPECT_EQ(info.inchannels, 1);
  EXPECT_EQ(info.classes, metalhead::data::fashion_mnist_classes());
  EXPECT_EQ(info.input_size, (std::vector<int64_t>{28, 28}));
  EXPECT_EQ(info.options.batch_size, 64);
  // The model part loads with load_weights (the training state is skipped)...
  auto m = metalhead::create_model("resnet18", {.inchannels = 1, .nclasses = 10});
  EXPECT_EQ(metalhead::load_weights(m, ckpt).loaded, metalhead::named_tensors(m).size());
  // ...into that model only.
  EXPECT_THROW(mt::load_checkpoint_model(ckpt, "resnet34"), std::invalid_argument);
  auto other = metalhead::create_model("resnet34", {.inchannels = 1, .nclasses = 10});
  EXPECT_THROW(metalhead::load_weights(other, ckpt), std::runtime_error);
  // A weights file that is not a checkpoint is named as such.
  const fs::path plain = ckpt.parent_path() / "plain.safetensors";
  metalhead::save_weights(m, plain);
  for (auto read : {+[](const fs::path& p) { mt::checkpoint_info(p); }, +[](const fs::path& p) { mt::load_checkpoint(p); }}) {
    try {
      read(plain);
      ADD_FAILURE();
    } catch (const mt::NotACheckpoint& e) {
      EXPECT_NE(std::string(e.what()).find("not a checkpoint"), std::string::npos) << e.what();
    }
  }
  // One read gives the run and the model, with the trained weights.
  const auto [loaded, run] = mt::load_checkpoint(ckpt);
  EXPECT_EQ(run.model, "resnet18");
  EXPECT_EQ(run.epoch, 1);
  EXPECT_EQ(run.classes, info.classes);
  const auto trained = metalhead::named_tensors(t.model()), read_back = metalhead::named_tensors(loaded);
  ASSERT_EQ(trained.size(), read_back.size());
  for (size_t i = 0; i < trained.size(); ++i) EXPECT_TRUE(torch::equal(trained[i].second, read_back[i].second)) << trained[i].first;
  // Resuming on other classes is refused.
  auto relabelled = data;
  relabelled.classes[0] = "T-shirt";
  EXPECT_THROW(mt::Trainer::resume(ckpt, relabelled), std::invalid_argument);
}

TEST(Evaluate, ConfusionMatrixAgreesWithArgmax) {
  auto data = slice(100);
  mt::Trainer t({.model = "resnet18", .epochs = 1, .batch_size = 50}, data);
  t.train_epoch();
  auto loader = t.test_loader(data, 30);
  const auto e = mt::evaluate(t.model(), *loader, 10);
  EXPECT_EQ(e.count, 100);
  EXPECT_EQ(e.confusion.sum().item<int64_t>(), 100);
  // The same predictions computed directly, batch by batch.
  torch::NoGradGuard g;
  loader->start_epoch(0);
  auto expected = torch::zeros({10, 10}, torch::kLong);
  while (auto b = loader->next()) {
    const auto pred = t.model()(b->images).argmax(1);
    for (int64_t i = 0; i < pred.size(0); ++i) expected[b->labels[i].item<int64_t>()][pred[i].item<int64_t>()] += 1;
  }
  EXPECT_TRUE(torch::equal(e.confusion, expected));
  EXPECT_DOUBLE_EQ(e.accuracy, expected.diagonal().sum().item<double>() / 100);
  const auto row = expected.sum(1);
  for (int64_t k = 0; k < 10; ++k) {
    if (row[k].item<int64_t>() > 0) {
      EXPECT_DOUBLE_EQ(e.class_accuracy[k], expected[k][k].item<double>() / row[k].item<double>());
    }
  }
}

TEST(Metrics, CsvAndSvg) {
  std::vector<mt::MetricsRow> rows(2);
  rows[0].train = {.epoch = 1, .lr = 0.1, .loss = 0.9, .accuracy = 0.7, .images_per_second = 500, .seconds = 12};
  rows[0].test_loss = 0.6;
  rows[0].test_accuracy = 0.8;
  rows[1].train = {.epoch = 2, .lr = 0.05, .loss = 0.5, .accuracy = 0.85, .images_per_second = 510, .seconds = 11.5};
  const auto dir = fresh_dir("metrics");
  mt::write_metrics_csv(dir / "m.csv", rows);
  EXPECT_EQ(read_text(dir / "m.csv"),
            "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,images_per_second,seconds\n"
            "1,0.1,0.9,0.7,0.6,0.8,500.0,12.00\n"
            "2,0.05,0.5,0.85,,,510.0,11.50\n");
  mt::write_metrics_svg(dir / "m.svg", rows, "a <title>");
  const auto svg = read_text(dir / "m.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a &lt;title&gt;"), std::string::npos);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  // Two series with points in the loss panel, one test point, in the accuracy panel the same.
  size_t polylines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++polylines;
  EXPECT_EQ(polylines, 4u);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 2u);  // no temporary files left behind
}
