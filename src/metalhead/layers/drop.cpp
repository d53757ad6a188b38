#include <metalhead/layers/drop.h>

#include <flux/activations.h>
#include <flux/pooling.h>
#include <flux/printing.h>

#include <torch/types.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace metalhead::layers {
namespace {

void check_probability(double p, const char* who, const char* what) {
  if (!(p >= 0 && p <= 1)) {
    std::ostringstream os;
    os << who << ": " << what << " must be in [0, 1], got " << p;
    throw std::invalid_argument(os.str());
  }
}

Tensor uniform(at::IntArrayRef shape, const Tensor& like, const std::optional<at::Generator>& rng) {
  auto options = like.options().dtype(like.is_floating_point() ? like.scalar_type() : torch::kFloat32);
  return rng ? at::rand(shape, *rng, options) : at::rand(shape, options);
}

}  // namespace

Tensor dropblock(const Tensor& x, std::optional<double> drop_block_prob, int64_t block_size, double gamma_scale,
                 std::optional<at::Generator> rng) {
  if (!drop_block_prob) return x;
  check_probability(*drop_block_prob, "dropblock", "drop_block_prob");
  check_probability(gamma_scale, "dropblock", "gamma_scale");
  if (block_size < 1) throw std::invalid_argument("dropblock: block_size must be positive, got " + std::to_string(block_size));
  if (x.dim() != 4) {
    throw std::invalid_argument("dropblock: expected an [N, C, H, W] batch, got a tensor of shape " + flux::shape_string(x));
  }
  if (*drop_block_prob == 0) return x;
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t b = std::min({block_size, H, W});
  const double gamma = gamma_scale * *drop_block_prob * static_cast<double>(H * W) / static_cast<double>(b * b) /
                       static_cast<double>((W - b + 1) * (H - b + 1));
  Tensor keep;
  {
    torch::NoGradGuard no_grad;
    Tensor centres = (uniform(x.sizes(), x, rng) < gamma).to(x.scalar_type());
    Tensor blocks = at::max_pool2d(centres, {b, b}, {1, 1}, {b / 2, b / 2});
    if (b % 2 == 0) blocks = blocks.slice(2, 0, H).slice(3, 0, W);
    keep = 1 - blocks;
    keep.mul_(static_cast<double>(keep.numel()) / (keep.sum().item<double>() + 1e-6));
  }
  return x * keep;
}

DropBlockImpl::DropBlockImpl(double p, int64_t bs, double gs, std::optional<at::Generator> gen)
    : drop_block_prob(p), block_size(bs), gamma_scale(gs), rng(std::move(gen)) {
  check_probability(p, "DropBlock", "drop_block_prob");
  check_probability(gs, "DropBlock", "gamma_scale");
  if (bs < 1) option_error("block_size must be positive");
}

Tensor DropBlockImpl::forward(const Tensor& x) {
  if (x.dim() != 4) input_error("an [N, C, H, W] batch", x);
  return is_active(x) ? dropblock(x, drop_block_prob, block_size, gamma_scale, rng) : x;
}

void DropBlockImpl::pretty_print(std::ostream& os) const {
  os << "DropBlock(" << flux::float_string(drop_block_prob) << ", block_size = " << block_size
     << ", gamma_scale = " << flux::float_string(gamma_scale);
  print_active(os);
  os << ')';
}

flux::Layer DropBlock(std::optional<double> drop_block_prob, int64_t block_size, double gamma_scale,
                      std::optional<at::Generator> rng) {
  if (!drop_block_prob) return flux::identity;
  return flux::Layer(std::make_shared<DropBlockImpl>(*drop_block_prob, block_size, gamma_scale, std::move(rng)));
}

StochasticDepthImpl::StochasticDepthImpl(double prob, bool batch, std::optional<at::Generator> gen)
    : p(prob), batch_mode(batch), rng(std::move(gen)) {
  check_probability(p, "StochasticDepth", "p");
}

Tensor StochasticDepthImpl::forward(const Tensor& x) {
  if (p == 0 || !is_active(x)) return x;
  if (x.dim() == 0) input_error("a batch with at least one dimension", x);
  if (p == 1) return x * 0;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  if (!batch_mode) shape[0] = x.size(0);
  Tensor keep = (uniform(shape, x, rng) > p).to(x.scalar_type());
  return x * keep / (1 - p);
}

void StochasticDepthImpl::pretty_print(std::ostream& os) const {
  os << "StochasticDepth(" << flux::float_string(p) << (batch_mode ? ", :batch" : ", :row");
  print_active(os);
  os << ')';
}

flux::Layer StochasticDepth(std::optional<double> p, std::string_view mode, std::optional<at::Generator> rng) {
  if (mode != "row" && mode != "batch") {
    throw std::invalid_argument("StochasticDepth: mode must be either \"batch\" or \"row\", got \"" + std::string(mode) +
                                "\"");
  }
  if (!p) return flux::identity;
  return flux::Layer(std::make_shared<StochasticDepthImpl>(*p, mode == "batch", std::move(rng)));
}

std::vector<double> linear_scheduler(double drop_prob, int64_t depth, double start_value) {
  if (depth < 0) throw std::invalid_argument("linear_scheduler: depth must be non-negative, got " + std::to_string(depth));
  std::vector<double> out;
  out.reserve(static_cast<size_t>(depth));
  for (int64_t i = 0; i < depth; ++i) {
    // Julia's LinRange element: (1 - t)·start + t·stop.
    const double t = static_cast<double>(i) / static_cast<double>(depth);
    out.push_back((1 - t) * start_value + t * drop_prob);
  }
  return out;
}

std::vector<std::optional<double>> linear_scheduler(std::nullopt_t, int64_t depth) {
  if (depth < 0) throw std::invalid_argument("linear_scheduler: depth must be non-negative, got " + std::to_string(depth));
  return std::vector<std::optional<double>>(static_cast<size_t>(depth));
}

}  // namespace metalhead::layers
