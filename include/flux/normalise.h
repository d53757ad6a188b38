// normalise.h — normalise, BatchNorm, InstanceNorm, GroupNorm and LayerNorm.
//
// Channels are torch's dimension 1 (Flux's N-1 of an N-d array). Flux's
// `normalise` and `LayerNorm` add eps to the standard deviation, not inside the
// square root as torch does; BatchNorm, InstanceNorm and GroupNorm agree with
// torch (biased variance to normalise, unbiased in the running average).
#pragma once

#include <flux/activations.h>
#include <flux/init.h>
#include <flux/mode.h>

#include <memory>
#include <optional>
#include <vector>

namespace flux {

struct NormaliseOptions {
  std::vector<int64_t> dims = {0};  // torch dims; Flux's default, the last Julia dim, is torch's 0
  double eps = 1e-5;
};

/// normalise(x, {.dims, .eps}): (x - μ) / (σ + eps), population σ over `dims`.
Tensor normalise(const Tensor& x, NormaliseOptions options = {});

struct BatchNormOptions {
  Init init_beta = zeros32;  // Flux's initβ
  Init init_gamma = ones32;  // Flux's initγ
  bool affine = true;
  bool track_stats = true;
  std::optional<bool> active;
  double eps = 1e-5;
  double momentum = 0.1;
};

/// Sums tensors over the replicas of a data-parallel group, for a BatchNorm whose training
/// statistics span the group (torch's SyncBatchNorm; metalhead::train::convert_sync_batchnorm
/// provides one over c10d). Every replica calls it in the same order.
class ReplicaReducer {
 public:
  virtual ~ReplicaReducer() = default;
  virtual void sum(Tensor& t) = 0;  // in place
};

/// BatchNorm(channels, λ = identity, {.init_beta, .init_gamma, .affine, .track_stats,
/// .active, .eps = 1e-5, .momentum = 0.1}): statistics over every dimension but 1.
/// In training, running_mean/var move by `momentum` towards the batch's; in test
/// mode they normalise (or, without track_stats, the batch's own statistics do).
class BatchNormImpl : public ModalLayerImpl {
 public:
  BatchNormImpl(int64_t channels, Activation activation = identity, BatchNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;                  // γ and β, when affine
  Tensor running_mean, running_var;     // when track_stats
  Activation activation;
  int64_t channels;
  double eps, momentum;
  /// When set, training statistics (and their gradients) are over every replica.
  std::shared_ptr<ReplicaReducer> sync;

 protected:
  BatchNormImpl(bool instance, int64_t channels, Activation activation, BatchNormOptions options);
  bool instance_ = false;
};

class BatchNorm : public Holder<BatchNormImpl> {
 public:
  using Holder::Holder;
  BatchNorm(int64_t channels, Activation activation = identity, BatchNormOptions options = {})
      : Holder(make(channels, std::move(activation), std::move(options))) {}
};

struct InstanceNormOptions {
  Init init_beta = zeros32;
  Init init_gamma = ones32;
  bool affine = false;
  bool track_stats = false;
  std::optional<bool> active;
  double eps = 1e-5;
  double momentum = 0.1;
};

/// InstanceNorm(channels, λ = identity, {.affine = false, .track_stats = false, ...}):
/// statistics per sample and channel over the spatial dimensions.
class InstanceNormImpl : public BatchNormImpl {
 public:
  InstanceNormImpl(int64_t channels, Activation activation = identity, InstanceNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;
};

class InstanceNorm : public Holder<InstanceNormImpl> {
 public:
  using Holder::Holder;
  InstanceNorm(int64_t channels, Activation activation = identity, InstanceNormOptions options = {})
      : Holder(make(channels, std::move(activation), std::move(options))) {}
};

struct GroupNormOptions {
  Init init_beta = zeros32;
  Init init_gamma = ones32;
  bool affine = true;
  std::optional<bool> active;
  double eps = 1e-5;
  double momentum = 0.1;
};

/// GroupNorm(channels, groups, λ = identity, {.affine, .eps, ...}): statistics per sample
/// over groups of consecutive channels. Note Flux's argument order (channels first),
/// the reverse of torch's. No running statistics (Flux 0.14).
class GroupNormImpl : public ModalLayerImpl {
 public:
  GroupNormImpl(int64_t channels, int64_t groups, Activation activation = identity, GroupNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;
  Activation activation;
  int64_t channels, groups;
  double eps;
};

class GroupNorm : public Holder<GroupNormImpl> {
 public:
  using Holder::Holder;
  GroupNorm(int64_t channels, int64_t groups, Activation activation = identity, GroupNormOptions options = {})
      : Holder(make(channels, groups, std::move(activation), std::move(options))) {}
};

struct LayerNormOptions {
  bool affine = true;
  double eps = 1e-5;
};

/// LayerNorm(size, λ = identity, {.affine = true, .eps = 1e-5}): normalises over the
/// trailing dimensions `size` (torch order) with Flux's (x - μ) / (σ + eps), then an
/// elementwise scale and shift of shape `size` (a Scale) and λ.
class LayerNormImpl : public LayerImpl {
 public:
  LayerNormImpl(std::vector<int64_t> size, Activation activation = identity, LayerNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  Tensor weight, bias;
  Activation activation;
  std::vector<int64_t> size;
  double eps;
};

class LayerNorm : public Holder<LayerNormImpl> {
 public:
  using Holder::Holder;
  LayerNorm(std::vector<int64_t> size, Activation activation = identity, LayerNormOptions options = {})
      : Holder(make(std::move(size), std::move(activation), std::move(options))) {}
  LayerNorm(int64_t size, Activation activation = identity, LayerNormOptions options = {})
      : Holder(make(std::vector<int64_t>{size}, std::move(activation), std::move(options))) {}
};

}  // namespace flux
