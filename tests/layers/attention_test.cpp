// MultiHeadSelfAttention against torch's MultiheadAttention with the same weights.
#include <metalhead/layers.h>

#include "flux/testing.h"

using namespace flux;
namespace ml = metalhead::layers;

namespace {

// torch::nn::MultiheadAttention loaded with our weights: q, k, v from in_proj in that
// order, as torchvision's ViT stores them.
Tensor torch_reference(const ml::MultiHeadSelfAttention& m, const Tensor& x, int64_t heads) {
  const int64_t D = x.size(2);
  torch::nn::MultiheadAttention ref(torch::nn::MultiheadAttentionOptions(D, heads).bias(true));
  auto out_proj = (*m->projection)[0].as<DenseImpl>();
  {
    torch::NoGradGuard no_grad;
    ref->in_proj_weight.copy_(m->qkv_layer->weight);
    if (m->qkv_layer->bias.defined()) ref->in_proj_bias.copy_(m->qkv_layer->bias);
    else ref->in_proj_bias.zero_();
    ref->out_proj->weight.copy_(out_proj->weight);
    ref->out_proj->bias.copy_(out_proj->bias);
  }
  ref->eval();
  Tensor xt = x.transpose(0, 1);  // torch wants [T, N, D]
  return std::get<0>(ref->forward(xt, xt, xt)).transpose(0, 1);
}

}  // namespace

TEST(MultiHeadSelfAttention, EqualsTorchMultiheadAttention) {
  torch::manual_seed(0);
  for (bool qkv_bias : {false, true}) {
    ml::MultiHeadSelfAttention m(16, 4, {.qkv_bias = qkv_bias});
    Tensor x = torch::randn({3, 7, 16});
    EXPECT_TRUE(close(m(x), torch_reference(m, x, 4), 1e-4, 1e-5)) << "qkv_bias=" << qkv_bias;
  }
}

TEST(MultiHeadSelfAttention, StructureCountsAndPrinting) {
  ml::MultiHeadSelfAttention m(768, 12, {.qkv_bias = true});
  // torchvision ViT-B's self_attention: in_proj 768·2304 + 2304, out_proj 768·768 + 768.
  EXPECT_EQ(parameter_count(m), 2'362'368);
  EXPECT_EQ(ml::MHAttention(64)->repr(),
            "MultiHeadSelfAttention(Dense(64 => 192; bias=false), Dropout(0.0), Chain(Dense(64 => 64), Dropout(0.0)))");
  expect_error<std::invalid_argument>([] { ml::MultiHeadSelfAttention(10, 3); }, {"MultiHeadSelfAttention", "divisible"});
  ml::MultiHeadSelfAttention small(8, 2);
  expect_error<std::invalid_argument>([&] { small(torch::randn({2, 8})); }, {"MultiHeadSelfAttention", "[N, T, 8]", "[2, 8]"});
}

TEST(MultiHeadSelfAttention, AttentionDropoutOnlyInTraining) {
  ml::MultiHeadSelfAttention m(8, 2, {.attn_dropout_prob = 0.5, .proj_dropout_prob = 0.5});
  Tensor x = torch::randn({2, 5, 8});
  testmode(m);
  EXPECT_TRUE(close(m(x), torch_reference(m, x, 2), 1e-4, 1e-5));
  trainmode(m);
  EXPECT_FALSE(torch::allclose(m(x), torch_reference(m, x, 2)));
}

TEST(MultiHeadSelfAttention, GradientsMatchFiniteDifferences) {
  expect_layer_gradients(ml::MultiHeadSelfAttention(4, 2, {.qkv_bias = true}), torch::randn({2, 3, 4}));
}
