// bf16 inference keeps a trained model's accuracy (issue 16): a resnet18 trained here on
// part of Fashion-MNIST, evaluated on the whole test set by the plain model, the optimised
// fp32 model and the optimised bf16 model.
#include <metalhead/data/idx.h>
#include <metalhead/inference.h>
#include <metalhead/train.h>

#include <gtest/gtest.h>

namespace mt = metalhead::train;
namespace md = metalhead::data;

TEST(Bf16Inference, KeepsTestAccuracyWithinAThirdOfAPoint) {
  if (!metalhead::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no bf16 (AVX512-BF16 or AMX)";
  auto train = md::fashion_mnist(md::Split::train);
  train.images = train.images.narrow(0, 0, 12000);
  train.labels = train.labels.narrow(0, 0, 12000);
  // The demo's recipe (scripts/demo), one epoch of a fifth of the data.
  mt::Trainer t({.model = "resnet18", .epochs = 1, .batch_size = 128, .optimiser = mt::OptimiserKind::adamw,
                 .lr = 3e-3, .weight_decay = 0.05, .warmup_epochs = 0.3, .label_smoothing = 0.1, .seed = 1},
                std::move(train));
  t.train_epoch();
  auto loader = t.test_loader(md::fashion_mnist(md::Split::test));
  const mt::Evaluation plain = mt::evaluate(t.model(), *loader, 10);
  metalhead::Model fp32 = metalhead::optimize_for_inference(t.model());
  metalhead::Model bf16 = metalhead::optimize_for_inference(t.model(), {.precision = metalhead::Precision::bf16});
  const mt::Evaluation a = mt::evaluate(fp32, *loader, 10), b = mt::evaluate(bf16, *loader, 10);
  std::printf("test accuracy: plain %.2f%%, optimised fp32 %.2f%%, bf16 %.2f%%\n", 100 * plain.accuracy,
              100 * a.accuracy, 100 * b.accuracy);
  EXPECT_GT(plain.accuracy, 0.8);  // it did learn
  EXPECT_EQ(a.count, 10000);
  EXPECT_NEAR(a.accuracy, plain.accuracy, 0.0005);  // fp32: the same predictions but for ties
  EXPECT_NEAR(b.accuracy, a.accuracy, 0.003);
}
