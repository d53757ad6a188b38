// conv_norm.h — a convolution with its normalisation layer: conv_norm,
// basic_conv_bn, dwsep_conv_norm, and NormLayer, the `norm_layer` argument.
#pragma once

#include <flux/activations.h>
#include <flux/dense.h>
#include <flux/init.h>
#include <flux/layer.h>
#include <flux/normalise.h>
#include <flux/padding.h>

#include <concepts>
#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

namespace metalhead::layers {

using flux::Tensor;

/// The `norm_layer` argument: a callable of the number of planes that makes a
/// normalisation layer, Metalhead's `BatchNorm` / `planes -> GroupNorm(planes, 4)`.
/// A callable of (planes, activation) fuses the activation into the layer, as
/// Flux's norm layers do; one of planes alone gets the activation appended as a
/// separate layer. Empty (`{}`, `nullptr` or `flux::identity`) means no
/// normalisation, Metalhead's `norm_layer = identity`.
class NormLayer {
 public:
  using Fn = std::function<std::vector<flux::Layer>(int64_t planes, const flux::Activation& activation)>;

  NormLayer() = default;
  NormLayer(std::nullptr_t) {}
  /// Only `flux::identity` is accepted: it means no normalisation.
  NormLayer(const flux::Activation& identity);
  template <class F>
    requires std::convertible_to<std::invoke_result_t<const F&, int64_t, const flux::Activation&>, flux::Layer>
  NormLayer(F f)
      : fn_([f = std::move(f)](int64_t planes, const flux::Activation& act) {
          return std::vector<flux::Layer>{flux::Layer(f(planes, act))};
        }) {}
  template <class F>
    requires(std::convertible_to<std::invoke_result_t<const F&, int64_t>, flux::Layer> &&
             !std::is_invocable_v<const F&, int64_t, const flux::Activation&>)
  NormLayer(F f)
      : fn_([f = std::move(f)](int64_t planes, const flux::Activation& act) {
          std::vector<flux::Layer> out{flux::Layer(f(planes))};
          if (!act.is_identity()) out.emplace_back(act);
          return out;
        }) {}

  explicit operator bool() const { return static_cast<bool>(fn_); }
  /// The layers for `planes` channels ending in `activation`; throws when empty.
  std::vector<flux::Layer> operator()(int64_t planes, const flux::Activation& activation = flux::identity) const;

 private:
  Fn fn_;
};

/// Norm layer factories for the common cases (Metalhead passes the types).
NormLayer batch_norm(flux::BatchNormOptions options = {});
NormLayer group_norm(int64_t groups, flux::GroupNormOptions options = {});
NormLayer instance_norm(flux::InstanceNormOptions options = {});
NormLayer layer_norm(flux::LayerNormOptions options = {});

struct ConvNormOptions {
  NormLayer norm_layer = batch_norm();
  bool revnorm = false;          // normalise before the convolution (on inplanes)
  bool preact = false;           // activation before the normalisation; not with revnorm
  flux::Dims stride = 1;
  flux::Padding pad = 0;
  flux::Dims dilation = 1;
  int64_t groups = 1;
  std::optional<bool> bias;      // default: false with a norm layer, true without
  flux::Init init = flux::glorot_uniform;
};

/// conv_norm(kernel_size, inplanes, outplanes, activation = relu, {.norm_layer = batch_norm(),
///           .revnorm = false, .preact = false, .stride = 1, .pad = 0, .dilation = 1,
///           .groups = 1, .bias, .init})
/// A convolution and a normalisation layer with the activation, returned as the vector of
/// layers that a Chain splices in (Julia's `conv_norm(...)...`). By default
/// `[Conv(k, in => out; bias=false), BatchNorm(out, activation)]`; `revnorm` puts
/// `norm_layer(inplanes)` first and the activation on the Conv; `preact` moves the
/// activation onto the Conv. Without a norm layer it is the single biased Conv.
/// Example: Chain(conv_norm({3, 3}, 32, 64)) maps [N, 32, H, W] to [N, 64, H-2, W-2].
std::vector<flux::Layer> conv_norm(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t outplanes,
                                   flux::Activation activation = flux::relu, ConvNormOptions options = {});
/// conv_norm(kernel_size, {in, out}, ...): the same with Flux's `in => out`.
std::vector<flux::Layer> conv_norm(std::vector<int64_t> kernel_size, flux::InOut io,
                                   flux::Activation activation = flux::relu, ConvNormOptions options = {});

struct BasicConvBnOptions {
  bool batchnorm = true;         // false: a plain biased Conv
  bool revnorm = false;
  bool preact = false;
  flux::Dims stride = 1;
  flux::Padding pad = 0;
  flux::Dims dilation = 1;
  int64_t groups = 1;
  std::optional<bool> bias;
  flux::Init init = flux::glorot_uniform;
};

/// basic_conv_bn(kernel_size, inplanes, outplanes, activation = relu, {.batchnorm = true, ...})
/// conv_norm with TensorFlow's BatchNorm defaults, as the Inception family uses them:
/// eps = 1e-3 and momentum = 0.003 (Keras' 0.997 decay; the release notes' value).
std::vector<flux::Layer> basic_conv_bn(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t outplanes,
                                       flux::Activation activation = flux::relu, BasicConvBnOptions options = {});

struct DwsepConvNormOptions {
  NormLayer norm_layer = batch_norm();
  flux::Dims stride = 1;         // of the depthwise convolution
  flux::Padding pad = 0;         // of the depthwise convolution
  std::optional<bool> bias;
  flux::Init init = flux::glorot_uniform;
};

/// dwsep_conv_norm(kernel_size, inplanes, outplanes, activation = relu, {.norm_layer,
///                 .stride = 1, .pad = 0, .bias, .init})
/// A depthwise separable convolution (MobileNetv1): a depthwise `kernel_size` conv_norm
/// on inplanes, then a 1×1 conv_norm to outplanes, both ending in `activation`.
std::vector<flux::Layer> dwsep_conv_norm(std::vector<int64_t> kernel_size, int64_t inplanes, int64_t outplanes,
                                         flux::Activation activation = flux::relu, DwsepConvNormOptions options = {});

}  // namespace metalhead::layers
