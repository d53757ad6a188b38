// drop.h — DropBlock, dropblock, StochasticDepth and linear_scheduler.
#pragma once

#include <ATen/core/Generator.h>
#include <flux/layer.h>
#include <flux/mode.h>

#include <optional>
#include <string_view>
#include <vector>

namespace metalhead::layers {

using flux::Tensor;

/// dropblock(x, drop_block_prob, block_size, gamma_scale, rng = default)
/// The DropBlock function on an [N, C, H, W] batch: block centres are drawn with
/// probability γ = gamma_scale · p · HW / b² / ((W - b + 1)(H - b + 1)) (the paper's
/// formula, b = min(block_size, H, W)), every element within a b × b block of a centre
/// is zeroed, and the rest rescaled by numel / kept so the expectation is preserved.
/// `drop_block_prob = nullopt` (Julia's `nothing`) or 0 returns x. Always active: use
/// the DropBlock layer to switch it off at test time.
/// (Metalhead uses block_size, not b, in the denominator; they agree whenever the
/// block fits in the feature map, and b keeps γ finite when it does not. An even b
/// pools one pixel wider; the extra last row and column are dropped.)
Tensor dropblock(const Tensor& x, std::optional<double> drop_block_prob, int64_t block_size, double gamma_scale,
                 std::optional<at::Generator> rng = std::nullopt);

/// The DropBlock layer; build it with `DropBlock(...)`.
class DropBlockImpl : public flux::ModalLayerImpl {
 public:
  DropBlockImpl(double drop_block_prob, int64_t block_size, double gamma_scale, std::optional<at::Generator> rng);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  double drop_block_prob;
  int64_t block_size;
  double gamma_scale;
  std::optional<at::Generator> rng;
};

/// DropBlock(drop_block_prob = 0.1, block_size = 7, gamma_scale = 1.0, rng = default)
/// While training, zeroes contiguous block_size × block_size regions of its [N, C, H, W]
/// input (see `dropblock`); in test mode it is the identity. `drop_block_prob = nullopt`
/// returns the identity layer itself, as Metalhead's `DropBlock(nothing)`.
/// ([reference](https://arxiv.org/abs/1810.12890))
flux::Layer DropBlock(std::optional<double> drop_block_prob = 0.1, int64_t block_size = 7, double gamma_scale = 1.0,
                      std::optional<at::Generator> rng = std::nullopt);

/// The StochasticDepth layer; build it with `StochasticDepth(...)`.
class StochasticDepthImpl : public flux::ModalLayerImpl {
 public:
  StochasticDepthImpl(double p, bool batch_mode, std::optional<at::Generator> rng);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  double p;
  bool batch_mode;  // one decision for the whole batch, not one per sample
  std::optional<at::Generator> rng;
};

/// StochasticDepth(p, mode = "row", rng = default)
/// Drops whole residual branches while training: "row" zeroes each sample of the
/// batch (torch dimension 0) with probability p, "batch" the whole input; survivors are
/// scaled by 1 / (1 - p). The identity in test mode, and the identity layer itself for
/// `p = nullopt`. ([reference](https://arxiv.org/abs/1603.09382))
/// Metalhead builds a `Dropout(p; dims = 4)`, which on 3-d token batches would drop the
/// whole batch; here "row" is per sample for any rank, as in timm's drop_path.
flux::Layer StochasticDepth(std::optional<double> p, std::string_view mode = "row",
                            std::optional<at::Generator> rng = std::nullopt);

/// linear_scheduler(drop_prob = 0.0, depth, start_value = 0.0)
/// `depth` evenly spaced values from start_value towards drop_prob, excluding drop_prob:
/// start + (drop_prob - start) · i / depth for i = 0 … depth-1.
/// Example: linear_scheduler(0.1, 4) == {0.0, 0.025, 0.05, 0.075}.
std::vector<double> linear_scheduler(double drop_prob, int64_t depth, double start_value = 0.0);
/// linear_scheduler(nullopt, depth): `depth` times nullopt (Julia's `nothing`).
std::vector<std::optional<double>> linear_scheduler(std::nullopt_t, int64_t depth);

}  // namespace metalhead::layers
