// testmode, trainmode and Flux's automatic mode.
#include "testing.h"

using namespace flux;

TEST(Mode, AutomaticBatchNormTrainsOnlyWhenAutogradRecords) {
  BatchNorm bn(2);
  Tensor x = torch::randn({8, 2}) * 3 + 1;
  {
    torch::NoGradGuard no_grad;
    Tensor y = bn(x);
    EXPECT_TRUE(torch::equal(bn->running_mean, torch::zeros({2})));  // test behaviour: running stats used
    EXPECT_TRUE(close(y, x / std::sqrt(1 + 1e-5)));
  }
  {
    c10::InferenceMode inference;
    bn(x);
    EXPECT_TRUE(torch::equal(bn->running_mean, torch::zeros({2})));
  }
  bn(x);  // grad mode on and γ requires grad: training
  EXPECT_TRUE(close(bn->running_mean, 0.1 * x.mean(0)));
}

TEST(Mode, AutomaticModeWithoutGradientsAnywhereIsTestMode) {
  BatchNorm bn(2, identity, {.affine = false});  // no parameters to require grad
  Tensor x = torch::randn({8, 2});
  bn(x);
  EXPECT_TRUE(torch::equal(bn->running_mean, torch::zeros({2})));
  bn(x.clone().requires_grad_(true));  // an input that requires grad: training
  EXPECT_FALSE(torch::equal(bn->running_mean, torch::zeros({2})));
}

TEST(Mode, TestmodeTrainmodeAndTorchFlagsAgree) {
  Chain m(Dense({4, 4}), BatchNorm(4), Dropout(0.5));
  testmode(m);
  EXPECT_FALSE(m->is_training());
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5, active=false)");
  Tensor x = torch::ones({3, 4});
  EXPECT_TRUE(torch::equal(m[2](x), x));
  trainmode(m);
  EXPECT_TRUE(m->is_training());
  EXPECT_EQ(m[1]->repr(), "BatchNorm(4, active=true)");
  testmode(m, automatic);
  EXPECT_EQ(m[1]->repr(), "BatchNorm(4)");
  m->eval();  // torch's eval is testmode
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5, active=false)");
  trainmode(m, false);
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5, active=false)");
  testmode(m, false);
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5, active=true)");
  trainmode(m, automatic);
  EXPECT_EQ(m[2]->repr(), "Dropout(0.5)");
}

TEST(Mode, EvalGivesTheSameOutputAsTestmode) {
  Chain a(Dense({3, 4}), BatchNorm(4), Dropout(0.5));
  {
    trainmode(a);
    a(torch::randn({16, 3}));  // move the running statistics
  }
  Tensor x = torch::randn({5, 3});
  testmode(a);
  Tensor by_testmode = a(x);
  trainmode(a);
  a->eval();
  EXPECT_TRUE(torch::equal(a(x), by_testmode));
  auto bn = a[1].as<BatchNormImpl>();
  EXPECT_TRUE(close(by_testmode.detach(),
                    (a[0](x) - bn->running_mean) / (bn->running_var + 1e-5).sqrt()));
}

TEST(Mode, ForcedTrainingIgnoresGradMode) {
  torch::manual_seed(0);
  Dropout d(0.5, {.active = true});
  torch::NoGradGuard no_grad;
  Tensor y = d(torch::ones({1000}));
  EXPECT_GT((y == 0).sum().item<int64_t>(), 300);
}

TEST(Mode, ModeReachesLayersInsideNestedContainers) {
  Chain m(SkipConnection(Chain(Dropout(0.1)), plus), Parallel(plus, BatchNorm(2), GroupNorm(2, 1)));
  trainmode(m);
  EXPECT_EQ(m->repr(), "Chain(SkipConnection(Chain(Dropout(0.1, active=true)), +), "
                       "Parallel(+, BatchNorm(2, active=true), GroupNorm(2, 1, active=true)))");
  testmode(m, automatic);
  EXPECT_EQ(m->repr(), "Chain(SkipConnection(Chain(Dropout(0.1)), +), Parallel(+, BatchNorm(2), GroupNorm(2, 1)))");
}
