// conv.h — Conv, CrossCor, ConvTranspose and DepthwiseConv in 1, 2 or 3 spatial dimensions.
//
// Kernels are stored the way torch runs them: `weight` is [out, in/groups, k...]
// (ConvTranspose: [in, out/groups, k...]) in torch's cross-correlation
// orientation, so a forward pass is one torch convolution and torchvision
// weights load as they are. Flux's Conv is a true convolution: a Conv built from
// an explicit Flux-orientation kernel flips it once, and `flux_weight()` flips it
// back. CrossCor takes and gives the kernel unflipped.
#pragma once

#include <flux/activations.h>
#include <flux/dense.h>
#include <flux/init.h>
#include <flux/layer.h>
#include <flux/padding.h>

#include <vector>

namespace flux {

struct ConvOptions {
  Dims stride = 1;
  Padding pad = 0;
  Dims dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  Init init = glorot_uniform;
};

struct ConvTransposeOptions {
  Dims stride = 1;
  Padding pad = 0;
  Dims outpad = 0;
  Dims dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  Init init = glorot_uniform;
};

/// convfilter(kernel, {in, out}, {.init, .groups}): a weight [out, in/groups, k...]
/// drawn by `init` with Flux's dimensions (k reversed..., in/groups, out).
Tensor convfilter(const std::vector<int64_t>& kernel, InOut io, const Init& init = glorot_uniform, int64_t groups = 1);
/// depthwiseconvfilter(kernel, {in, out}): the weight of a depthwise Conv, [out, 1, k...].
Tensor depthwiseconvfilter(const std::vector<int64_t>& kernel, InOut io, const Init& init = glorot_uniform);

/// Conv(kernel, {in, out}, σ = identity, {.stride, .pad, .dilation, .groups, .bias, .init})
/// Conv(weight, bias = true, σ = identity, {...}) with a Flux-orientation kernel [out, in/groups, k...]
/// Input [N, in, spatial...] (kernel.size() spatial dimensions), output
/// [N, out, floor((I + lo + hi - d(k-1) - 1) / s) + 1, ...].
/// Example: Conv({5, 5}, {3, 7}, relu, {.stride = 2, .pad = SamePad{}}) maps
/// [50, 3, 100, 100] to [50, 7, 50, 50].
class ConvImpl : public LayerImpl {
 public:
  ConvImpl(std::vector<int64_t> kernel, InOut io, Activation activation = identity, ConvOptions options = {});
  ConvImpl(Tensor flux_weight, Bias bias = true, Activation activation = identity, ConvOptions options = {});

  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;

  /// The kernel in Flux's orientation (flipped for a true convolution).
  Tensor flux_weight() const;
  int64_t in_channels() const { return weight.size(1) * groups; }
  int64_t out_channels() const { return weight.size(0); }
  const std::vector<int64_t>& kernel() const { return kernel_; }
  const std::vector<int64_t>& pad() const { return pad_; }  // 2N form, torch dimension order

  Tensor weight, bias;
  Activation activation;
  std::vector<int64_t> stride, dilation;
  int64_t groups = 1;

 protected:
  ConvImpl(bool flipped, Tensor weight, Bias bias, Activation activation, const ConvOptions& options);
  ConvImpl(bool flipped, std::vector<int64_t> kernel, InOut io, Activation activation, const ConvOptions& options);
  virtual const char* type_name() const { return "Conv"; }
  bool flipped_ = true;  // a true convolution: the stored kernel is Flux's, flipped

 private:
  void setup(const ConvOptions& options, const Tensor& w, Bias b);
  std::vector<int64_t> kernel_, pad_;
};

class Conv : public Holder<ConvImpl> {
 public:
  using Holder::Holder;
  Conv(std::vector<int64_t> kernel, InOut io, Activation activation = identity, ConvOptions options = {})
      : Holder(make(std::move(kernel), io, std::move(activation), std::move(options))) {}
  Conv(Tensor flux_weight, Bias bias = true, Activation activation = identity, ConvOptions options = {})
      : Holder(make(std::move(flux_weight), std::move(bias), std::move(activation), std::move(options))) {}
};

/// CrossCor(kernel, {in, out}, σ = identity, {.stride, .pad, .dilation, .bias, .init}):
/// like Conv but a cross-correlation (torch's conv), so an explicit weight is used
/// unflipped. Flux's CrossCor has no groups.
class CrossCorImpl : public ConvImpl {
 public:
  CrossCorImpl(std::vector<int64_t> kernel, InOut io, Activation activation = identity, ConvOptions options = {});
  CrossCorImpl(Tensor weight, Bias bias = true, Activation activation = identity, ConvOptions options = {});

 protected:
  const char* type_name() const override { return "CrossCor"; }
};

class CrossCor : public Holder<CrossCorImpl> {
 public:
  using Holder::Holder;
  CrossCor(std::vector<int64_t> kernel, InOut io, Activation activation = identity, ConvOptions options = {})
      : Holder(make(std::move(kernel), io, std::move(activation), std::move(options))) {}
  CrossCor(Tensor weight, Bias bias = true, Activation activation = identity, ConvOptions options = {})
      : Holder(make(std::move(weight), std::move(bias), std::move(activation), std::move(options))) {}
};

/// DepthwiseConv(kernel, {in, out}, σ, {.stride, .pad, .dilation, .bias, .init}): a Conv with
/// groups = in; `out` must be a multiple of `in`. As in Flux 0.13+, it is a Conv
/// and prints as one.
Conv DepthwiseConv(std::vector<int64_t> kernel, InOut io, Activation activation = identity, ConvOptions options = {});
/// DepthwiseConv(weight, bias = true, σ, {.stride, .pad, .dilation}) from Flux's explicit
/// (k..., in, multiplier) weight, in torch order [multiplier, in, k...]: a Conv with
/// groups = in and multiplier·in outputs, the weight reshaped as Flux reshapes it.
Conv DepthwiseConv(Tensor weight, Bias bias = true, Activation activation = identity, ConvOptions options = {});

/// ConvTranspose(kernel, {in, out}, σ, {.stride, .pad, .outpad, .dilation, .groups, .bias, .init})
/// The adjoint of Conv. Output size per dimension:
/// (I - 1)·s + d·(k - 1) + 1 - (lo + hi) + outpad; SamePad gives I·s.
/// Example: ConvTranspose({5, 5}, {3, 7}, identity, {.stride = 2}) maps [50, 3, 100, 100] to [50, 7, 203, 203].
class ConvTransposeImpl : public LayerImpl {
 public:
  ConvTransposeImpl(std::vector<int64_t> kernel, InOut io, Activation activation = identity,
                    ConvTransposeOptions options = {});
  ConvTransposeImpl(Tensor flux_weight, Bias bias = true, Activation activation = identity,
                    ConvTransposeOptions options = {});

  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;
  Tensor flux_weight() const;
  int64_t in_channels() const { return weight.size(0); }
  int64_t out_channels() const { return weight.size(1) * groups; }

  Tensor weight, bias;  // weight [in, out/groups, k...]
  Activation activation;
  std::vector<int64_t> stride, dilation, outpad;
  int64_t groups = 1;

 private:
  void setup(const ConvTransposeOptions& options, const Tensor& w, Bias b);
  std::vector<int64_t> kernel_, pad_;
};

class ConvTranspose : public Holder<ConvTransposeImpl> {
 public:
  using Holder::Holder;
  ConvTranspose(std::vector<int64_t> kernel, InOut io, Activation activation = identity,
                ConvTransposeOptions options = {})
      : Holder(make(std::move(kernel), io, std::move(activation), std::move(options))) {}
  ConvTranspose(Tensor flux_weight, Bias bias = true, Activation activation = identity,
                ConvTransposeOptions options = {})
      : Holder(make(std::move(flux_weight), std::move(bias), std::move(activation), std::move(options))) {}
};

}  // namespace flux
