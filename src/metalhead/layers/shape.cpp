#include <metalhead/layers/shape.h>

#include <flux/chain.h>
#include <flux/padding.h>

#include <torch/types.h>

#include <stdexcept>

namespace metalhead::layers {

flux::Layer swapdims(std::vector<int64_t> perm) {
  const std::string name = "swapdims(" + flux::tuple_string(perm) + ")";
  return flux::fn(name, [perm, name](const Tensor& x) {
    if (x.dim() != static_cast<int64_t>(perm.size())) {
      throw std::invalid_argument(name + ": expected a tensor of rank " + std::to_string(perm.size()) +
                                  ", got a tensor of shape " + flux::shape_string(x));
    }
    return x.permute(perm);
  });
}

flux::Layer seconddimmean() {
  return flux::fn("seconddimmean", [](const Tensor& x) {
    if (x.dim() != 3) throw std::invalid_argument("seconddimmean: expected [N, T, D] tokens, got a tensor of shape " +
                                                  flux::shape_string(x));
    return x.mean(1);
  });
}

std::vector<flux::Layer> flatten_chains(const flux::Layer& m) {
  auto chain = m.as<flux::ChainImpl>();
  if (!chain) return {m};
  std::vector<flux::Layer> out;
  for (const auto& layer : *chain) {
    auto leaves = flatten_chains(layer);
    out.insert(out.end(), leaves.begin(), leaves.end());
  }
  return out;
}

}  // namespace metalhead::layers
