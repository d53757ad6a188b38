#include <metalhead/layers/scale.h>

#include <flux/scale.h>

#include <torch/types.h>

#include <sstream>

namespace metalhead::layers {

flux::Layer LayerScale(int64_t planes, double lambda) {
  if (planes <= 0) throw std::invalid_argument("LayerScale: planes must be positive, got " + std::to_string(planes));
  if (!(lambda > 0)) return flux::identity;
  return flux::Scale(torch::full({planes}, lambda), false);
}

flux::Layer inputscale(double lambda, flux::Activation activation) {
  std::ostringstream name;
  name << "inputscale(" << lambda;
  if (!activation.is_identity()) name << ", " << activation.name();
  name << ')';
  return flux::fn(name.str(), [lambda, activation](const Tensor& x) { return activation(x * lambda); });
}

}  // namespace metalhead::layers
