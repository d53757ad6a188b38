#include <flux/conv.h>

#include <torch/types.h>

#include <algorithm>
#include <numeric>
#include <sstream>

namespace flux {
namespace {

std::vector<int64_t> reversed_dims(int64_t n) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.rbegin(), p.rend(), 0);
  return p;
}

std::vector<int64_t> spatial_dims(const Tensor& w) {
  std::vector<int64_t> d;
  for (int64_t i = 2; i < w.dim(); ++i) d.push_back(i);
  return d;
}

// A freshly drawn kernel in the stored (flipped) orientation. Under flux::SkipInit the
// kernel is a meta tensor without values: nothing to flip.
Tensor flip_kernel(const Tensor& w) { return w.is_meta() ? w : w.flip(spatial_dims(w)).contiguous(); }

void check_positive(const std::vector<int64_t>& v, const char* who, const char* what) {
  for (int64_t x : v) {
    if (x < 1) throw std::invalid_argument(std::string(who) + ": " + what + " must be positive, got " + std::to_string(x));
  }
}

// Checks rank, channels and that the padded input fits the (dilated) kernel.
void check_conv_input(const LayerImpl& layer, const Tensor& x, int64_t in, const std::vector<int64_t>& kernel,
                      const std::vector<int64_t>& dilation, const std::vector<int64_t>& pad2n) {
  auto fail = [&](const std::string& what, const Tensor& t) { layer.input_error(what, t); };
  const auto n = static_cast<int64_t>(kernel.size());
  if (x.dim() != n + 2) fail("a [N, C" + std::string(n == 1 ? ", L" : n == 2 ? ", H, W" : ", D, H, W") + "] input", x);
  if (x.size(1) != in) fail("input with " + std::to_string(in) + " channels", x);
  for (int64_t d = 0; d < n; ++d) {
    int64_t padded = x.size(d + 2) + pad2n[2 * d] + pad2n[2 * d + 1];
    if (padded < dilation[d] * (kernel[d] - 1) + 1) {
      fail("spatial size at least " + std::to_string(dilation[d] * (kernel[d] - 1) + 1) + " after padding", x);
    }
  }
}

// A kernel of size 1 is the same whatever its dilation: Flux accepts 0 there (k ÷ 2 of 1).
void unit_dilation_of_unit_kernels(std::vector<int64_t>& dilation, const std::vector<int64_t>& kernel) {
  for (size_t d = 0; d < dilation.size(); ++d) {
    if (kernel[d] == 1 && dilation[d] == 0) dilation[d] = 1;
  }
}

// Flux converts other element types (Float64, integers) to the weight's.
Tensor as_float(const Tensor& x, const Tensor& w) { return x.scalar_type() == w.scalar_type() ? x : x.to(w.scalar_type()); }

std::vector<int64_t> symmetric_half(const std::vector<int64_t>& pad2n) {
  std::vector<int64_t> half;
  for (size_t i = 0; i < pad2n.size(); i += 2) half.push_back(pad2n[i]);
  return half;
}

}  // namespace

Tensor convfilter(const std::vector<int64_t>& kernel, InOut io, const Init& init, int64_t groups) {
  if (groups < 1 || io.in % groups != 0 || io.out % groups != 0) {
    throw std::invalid_argument("convfilter: groups (" + std::to_string(groups) + ") must divide both in (" +
                                std::to_string(io.in) + ") and out (" + std::to_string(io.out) + ")");
  }
  std::vector<int64_t> julia(kernel.rbegin(), kernel.rend());
  julia.push_back(io.in / groups);
  julia.push_back(io.out);
  Tensor w = init(julia).reshape(julia);
  return w.permute(reversed_dims(w.dim())).contiguous();
}

Tensor depthwiseconvfilter(const std::vector<int64_t>& kernel, InOut io, const Init& init) {
  return convfilter(kernel, io, init, io.in);
}

// ---- Conv / CrossCor ---------------------------------------------------------

ConvImpl::ConvImpl(std::vector<int64_t> kernel, InOut io, Activation act, ConvOptions options)
    : ConvImpl(true, std::move(kernel), io, std::move(act), options) {}

ConvImpl::ConvImpl(bool flipped, std::vector<int64_t> kernel, InOut io, Activation act, const ConvOptions& options)
    : activation(std::move(act)), flipped_(flipped) {
  if (kernel.empty() || kernel.size() > 3) {
    throw std::invalid_argument("Conv: expected a kernel of 1 to 3 dimensions, got " + std::to_string(kernel.size()));
  }
  check_positive(kernel, "Conv", "kernel sizes");
  if (io.in < 1 || io.out < 1) throw std::invalid_argument("Conv: channel counts must be positive");
  if (options.groups < 1 || io.in % options.groups != 0 || io.out % options.groups != 0) {
    throw std::invalid_argument("Conv: groups (" + std::to_string(options.groups) + ") must divide both in (" +
                                std::to_string(io.in) + ") and out (" + std::to_string(io.out) + ") channels");
  }
  // convfilter gives Flux's kernel, stored as an explicit weight would be: flipped for a true convolution.
  Tensor w = convfilter(kernel, io, options.init, options.groups);
  setup(options, flipped ? flip_kernel(w) : w, options.bias);
}

ConvImpl::ConvImpl(Tensor w, Bias b, Activation act, ConvOptions options) : ConvImpl(true, std::move(w), std::move(b), std::move(act), options) {}

ConvImpl::ConvImpl(bool flipped, Tensor w, Bias b, Activation act, const ConvOptions& options)
    : activation(std::move(act)), flipped_(flipped) {
  if (!w.defined() || w.dim() < 3 || w.dim() > 5) {
    throw std::invalid_argument("Conv: expected a weight [out, in/groups, k...] with 1 to 3 spatial dimensions, got " + shape_string(w));
  }
  if (options.groups < 1 || w.size(0) % options.groups != 0) {
    throw std::invalid_argument("Conv: groups (" + std::to_string(options.groups) + ") must divide the " +
                                std::to_string(w.size(0)) + " output channels");
  }
  Tensor stored = parameter_copy(w);
  if (flipped) stored = stored.flip(spatial_dims(stored));
  setup(options, stored.contiguous(), std::move(b));
}

void ConvImpl::setup(const ConvOptions& options, const Tensor& w, Bias b) {
  const size_t n = static_cast<size_t>(w.dim() - 2);
  kernel_.assign(w.sizes().begin() + 2, w.sizes().end());
  stride = options.stride.expand(n, "Conv stride");
  dilation = options.dilation.expand(n, "Conv dilation");
  unit_dilation_of_unit_kernels(dilation, kernel_);
  check_positive(stride, "Conv", "stride");
  check_positive(dilation, "Conv", "dilation");
  pad_ = options.pad.resolve(kernel_, dilation);
  groups = options.groups;
  weight = register_parameter("weight", w);
  if (auto v = b.make(w.size(0), "Conv", w.scalar_type())) bias = register_parameter("bias", *v);
}

Tensor ConvImpl::forward(const Tensor& x) {
  check_conv_input(*this, x, in_channels(), kernel_, dilation, pad_);
  Tensor xf = as_float(x, weight);
  std::vector<int64_t> padding(kernel_.size(), 0);
  if (is_symmetric(pad_)) padding = symmetric_half(pad_);
  else xf = torch::constant_pad_nd(xf, torch_pad_order(pad_), 0);
  std::vector<int64_t> no_outpad(kernel_.size(), 0);
  Tensor y = at::convolution(xf, weight, bias.defined() ? bias : Tensor(), stride, padding, dilation,
                             /*transposed=*/false, no_outpad, groups);
  return activation(std::move(y));
}

Tensor ConvImpl::flux_weight() const { return flipped_ ? weight.flip(spatial_dims(weight)) : weight; }

namespace {
void print_conv_options(std::ostream& os, const Activation& act, const std::vector<int64_t>& pad,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& dilation, int64_t groups,
                        bool has_bias, bool show_groups) {
  if (!act.is_identity()) os << ", " << act.name();
  if (std::any_of(pad.begin(), pad.end(), [](int64_t p) { return p != 0; })) os << ", pad=" << pad_string(pad);
  if (std::any_of(stride.begin(), stride.end(), [](int64_t s) { return s != 1; })) os << ", stride=" << compact_string(stride);
  if (std::any_of(dilation.begin(), dilation.end(), [](int64_t d) { return d != 1; })) os << ", dilation=" << compact_string(dilation);
  if (show_groups && groups != 1) os << ", groups=" << groups;
  if (!has_bias) os << ", bias=false";
}
}  // namespace

void ConvImpl::pretty_print(std::ostream& os) const {
  os << type_name() << '(' << tuple_string(kernel_) << ", " << in_channels() << " => " << out_channels();
  print_conv_options(os, activation, pad_, stride, dilation, groups, bias.defined(), true);
  os << ')';
}

CrossCorImpl::CrossCorImpl(std::vector<int64_t> kernel, InOut io, Activation act, ConvOptions options)
    : ConvImpl(false, std::move(kernel), io, std::move(act), options) {
  if (options.groups != 1) throw std::invalid_argument("CrossCor: Flux's CrossCor has no groups");
}

CrossCorImpl::CrossCorImpl(Tensor w, Bias b, Activation act, ConvOptions options)
    : ConvImpl(false, std::move(w), std::move(b), std::move(act), options) {
  if (options.groups != 1) throw std::invalid_argument("CrossCor: Flux's CrossCor has no groups");
}

Conv DepthwiseConv(std::vector<int64_t> kernel, InOut io, Activation act, ConvOptions options) {
  if (io.in < 1 || io.out % io.in != 0) {
    throw std::invalid_argument("DepthwiseConv: out (" + std::to_string(io.out) + ") must be a multiple of in (" +
                                std::to_string(io.in) + ")");
  }
  options.groups = io.in;
  return Conv(std::move(kernel), io, std::move(act), std::move(options));
}

Conv DepthwiseConv(Tensor w, Bias bias, Activation act, ConvOptions options) {
  if (!w.defined() || w.dim() < 3 || w.dim() > 5) {
    throw std::invalid_argument("DepthwiseConv: expected a weight [multiplier, in, k...] with 1 to 3 spatial dimensions, got " +
                                shape_string(w));
  }
  if (options.groups != 1) throw std::invalid_argument("DepthwiseConv: groups is set by the weight (its in channels)");
  // Flux reshapes (k..., in, mult) to (k..., 1, in·mult): torch order [mult, in, k...] to [mult·in, 1, k...].
  std::vector<int64_t> shape(w.sizes().begin(), w.sizes().end());
  options.groups = shape[1];
  shape[0] *= shape[1];
  shape[1] = 1;
  return Conv(w.reshape(shape), std::move(bias), std::move(act), std::move(options));
}

// ---- ConvTranspose -------------------------------------------------------------

ConvTransposeImpl::ConvTransposeImpl(std::vector<int64_t> kernel, InOut io, Activation act, ConvTransposeOptions options)
    : activation(std::move(act)) {
  if (kernel.empty() || kernel.size() > 3) {
    throw std::invalid_argument("ConvTranspose: expected a kernel of 1 to 3 dimensions, got " + std::to_string(kernel.size()));
  }
  check_positive(kernel, "ConvTranspose", "kernel sizes");
  if (options.groups < 1 || io.in % options.groups != 0 || io.out % options.groups != 0) {
    throw std::invalid_argument("ConvTranspose: groups (" + std::to_string(options.groups) + ") must divide both in (" +
                                std::to_string(io.in) + ") and out (" + std::to_string(io.out) + ") channels");
  }
  // Flux builds it as convfilter(k, out => in): [in, out/groups, k...] in torch's layout.
  Tensor w = convfilter(kernel, InOut{io.out, io.in}, options.init, options.groups);
  setup(options, flip_kernel(w), options.bias);  // stored flipped, as an explicit weight
}

ConvTransposeImpl::ConvTransposeImpl(Tensor w, Bias b, Activation act, ConvTransposeOptions options)
    : activation(std::move(act)) {
  if (!w.defined() || w.dim() < 3 || w.dim() > 5) {
    throw std::invalid_argument("ConvTranspose: expected a weight [in, out/groups, k...], got " + shape_string(w));
  }
  if (options.groups < 1 || w.size(0) % options.groups != 0) {
    throw std::invalid_argument("ConvTranspose: groups must divide the input channels");
  }
  Tensor stored = parameter_copy(w);
  setup(options, stored.flip(spatial_dims(stored)).contiguous(), std::move(b));
}

void ConvTransposeImpl::setup(const ConvTransposeOptions& options, const Tensor& w, Bias b) {
  const size_t n = static_cast<size_t>(w.dim() - 2);
  kernel_.assign(w.sizes().begin() + 2, w.sizes().end());
  stride = options.stride.expand(n, "ConvTranspose stride");
  dilation = options.dilation.expand(n, "ConvTranspose dilation");
  unit_dilation_of_unit_kernels(dilation, kernel_);
  outpad = options.outpad.expand(n, "ConvTranspose outpad");
  check_positive(stride, "ConvTranspose", "stride");
  check_positive(dilation, "ConvTranspose", "dilation");
  for (int64_t p : outpad) {
    if (p < 0) throw std::invalid_argument("ConvTranspose: outpad must be non-negative");
  }
  if (options.pad.is_same()) {
    // Flux: Conv's SamePad for a kernel k − stride + 1, so that the output is I·stride.
    // Where the stride exceeds the kernel the padding is negative: the output grows.
    pad_.clear();
    for (size_t d = 0; d < n; ++d) {
      const int64_t total = (kernel_[d] - stride[d]) * dilation[d];
      pad_.push_back(total >= 0 ? (total + 1) / 2 : -((-total) / 2));  // Julia's cld(total, 2)
      pad_.push_back(total >= 0 ? total / 2 : -((-total + 1) / 2));    // Julia's fld(total, 2)
    }
  } else {
    pad_ = options.pad.resolve(kernel_, dilation);
  }
  groups = options.groups;
  weight = register_parameter("weight", w);
  if (auto v = b.make(w.size(1) * groups, "ConvTranspose", w.scalar_type())) bias = register_parameter("bias", *v);
}

Tensor ConvTransposeImpl::forward(const Tensor& x) {
  const auto n = static_cast<int64_t>(kernel_.size());
  if (x.dim() != n + 2) input_error("a [N, C, spatial...] input with " + std::to_string(n) + " spatial dimensions", x);
  if (x.size(1) != in_channels()) input_error("input with " + std::to_string(in_channels()) + " channels", x);
  for (int64_t d = 0; d < n; ++d) {
    int64_t size = (x.size(d + 2) - 1) * stride[d] + dilation[d] * (kernel_[d] - 1) + 1 - pad_[2 * d] - pad_[2 * d + 1] + outpad[d];
    if (size < 1) input_error("an input large enough for a non-empty output", x);
  }
  Tensor xf = as_float(x, weight);
  bool fast = is_symmetric(pad_) && std::all_of(pad_.begin(), pad_.end(), [](int64_t p) { return p >= 0; });
  for (int64_t d = 0; d < n; ++d) fast = fast && outpad[d] < std::max(stride[d], dilation[d]);
  if (fast) {
    return activation(at::convolution(xf, weight, bias.defined() ? bias : Tensor(), stride, symmetric_half(pad_),
                                      dilation, /*transposed=*/true, outpad, groups));
  }
  // Asymmetric padding crops lo/hi from the full output; outpad extends the end.
  std::vector<int64_t> zeros(static_cast<size_t>(n), 0);
  Tensor y = at::convolution(xf, weight, Tensor(), stride, zeros, dilation, true, zeros, groups);
  std::vector<int64_t> crop;
  for (int64_t d = n - 1; d >= 0; --d) crop.insert(crop.end(), {-pad_[2 * d], -pad_[2 * d + 1] + outpad[d]});
  y = torch::constant_pad_nd(y, crop, 0);
  if (bias.defined()) {
    std::vector<int64_t> shape(static_cast<size_t>(n + 2), 1);
    shape[1] = bias.size(0);
    y = y + bias.view(shape);
  }
  return activation(std::move(y));
}

Tensor ConvTransposeImpl::flux_weight() const { return weight.flip(spatial_dims(weight)); }

void ConvTransposeImpl::pretty_print(std::ostream& os) const {
  os << "ConvTranspose(" << tuple_string(kernel_) << ", " << in_channels() << " => " << out_channels();
  print_conv_options(os, activation, pad_, stride, dilation, groups, bias.defined(), true);
  if (std::any_of(outpad.begin(), outpad.end(), [](int64_t p) { return p != 0; })) os << ", outpad=" << tuple_string(outpad);
  os << ')';
}

}  // namespace flux
