#include <metalhead/layers/mlp.h>

#include <flux/dropout.h>

#include <torch/types.h>

#include <limits>
#include <stdexcept>

namespace metalhead::layers {

flux::Chain mlp_block(int64_t inplanes, int64_t hidden_planes, int64_t outplanes, MlpOptions options) {
  return flux::Chain(flux::Dense({inplanes, hidden_planes}, options.activation), flux::Dropout(options.dropout_prob),
                     flux::Dense({hidden_planes, outplanes}), flux::Dropout(options.dropout_prob));
}

flux::Chain mlp_block(int64_t inplanes, int64_t hidden_planes, MlpOptions options) {
  return mlp_block(inplanes, hidden_planes, inplanes, std::move(options));
}

flux::Chain gated_mlp_block(const GateLayer& gate_layer, int64_t inplanes, int64_t hidden_planes, int64_t outplanes,
                            MlpOptions options) {
  if (!gate_layer) return mlp_block(inplanes, hidden_planes, outplanes, std::move(options));
  if (hidden_planes % 2 != 0) {
    throw std::invalid_argument("gated_mlp_block: `hidden_planes` must be even, got " + std::to_string(hidden_planes));
  }
  return flux::Chain(flux::Dense({inplanes, hidden_planes}, options.activation), flux::Dropout(options.dropout_prob),
                     gate_layer(hidden_planes), flux::Dense({hidden_planes / 2, outplanes}),
                     flux::Dropout(options.dropout_prob));
}

flux::Chain gated_mlp_block(const GateLayer& gate_layer, int64_t inplanes, int64_t hidden_planes, MlpOptions options) {
  return gated_mlp_block(gate_layer, inplanes, hidden_planes, inplanes, std::move(options));
}

SpatialGatingUnitImpl::SpatialGatingUnitImpl(int64_t p, int64_t n, SpatialGatingUnitOptions options)
    : planes(p), npatches(n) {
  if (planes <= 0 || planes % 2 != 0) option_error("planes must be positive and even");
  if (npatches <= 0) option_error("npatches must be positive");
  std::vector<flux::Layer> norm_layers = options.norm_layer(planes / 2);
  norm = norm_layers.size() == 1 ? norm_layers[0] : flux::Layer(flux::Chain(std::move(norm_layers)));
  // gMLP's initialisation: U(0, 2ε) weights and unit bias.
  const double eps = std::numeric_limits<float>::epsilon();
  proj = flux::Dense(torch::rand({npatches, npatches}) * (2 * eps), torch::ones({npatches}));
  register_module("norm", norm.ptr());
  register_module("proj", proj.ptr());
}

Tensor SpatialGatingUnitImpl::forward(const Tensor& x) {
  if (x.dim() != 3 || x.size(1) != npatches || x.size(2) != planes) {
    input_error("[N, " + std::to_string(npatches) + ", " + std::to_string(planes) + "] tokens", x);
  }
  auto halves = x.chunk(2, -1);
  Tensor v = norm(halves[1]);
  v = proj(v.transpose(1, 2)).transpose(1, 2);
  return halves[0] * v;
}

std::vector<flux::ShowItem> SpatialGatingUnitImpl::show_items() const {
  return {{"", norm.ptr(), ""}, {"", proj.ptr(), ""}};
}

void SpatialGatingUnitImpl::pretty_print(std::ostream& os) const {
  os << "SpatialGatingUnit(" << norm->repr() << ", " << proj->repr() << ')';
}

}  // namespace metalhead::layers
