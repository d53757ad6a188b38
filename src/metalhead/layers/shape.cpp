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

flux::Layer channel_shuffle(int64_t groups) {
  if (groups <= 0) throw std::invalid_argument("channel_shuffle: groups must be positive, got " + std::to_string(groups));
  const std::string name = "channel_shuffle(" + std::to_string(groups) + ")";
  return flux::fn(name, [groups, name](const Tensor& x) {
    if (x.dim() != 4 || x.size(1) % groups != 0) {
      throw std::invalid_argument(name + ": expected [N, C, H, W] with C a multiple of " + std::to_string(groups) +
                                  ", got a tensor of shape " + flux::shape_string(x));
    }
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    return x.reshape({n, groups, c / groups, h, w}).transpose(1, 2).reshape({n, c, h, w});
  });
}

flux::Layer channel_chunk(int64_t chunks, int64_t index) {
  if (chunks <= 0 || index < 0 || index >= chunks) {
    throw std::invalid_argument("channel_chunk: expected 0 <= index < chunks, got chunks " + std::to_string(chunks) +
                                " and index " + std::to_string(index));
  }
  const std::string name = "channel_chunk(" + std::to_string(chunks) + ", " + std::to_string(index) + ")";
  return flux::fn(name, [chunks, index, name](const Tensor& x) {
    if (x.dim() < 2 || x.size(1) % chunks != 0) {
      throw std::invalid_argument(name + ": expected [N, C, ...] with C a multiple of " + std::to_string(chunks) +
                                  ", got a tensor of shape " + flux::shape_string(x));
    }
    const int64_t part = x.size(1) / chunks;
    return x.narrow(1, index * part, part);
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
