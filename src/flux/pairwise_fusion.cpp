#include <flux/pairwise_fusion.h>

#include <stdexcept>

namespace flux {

std::vector<Tensor> PairwiseFusionImpl::outputs(const std::vector<Tensor>& xs) {
  check_inputs(xs.size());
  if (size() == 0) throw std::invalid_argument("PairwiseFusion: has no layers");
  auto input = [&](size_t i) -> const Tensor& { return xs.size() == 1 ? xs[0] : xs[i]; };
  std::vector<Tensor> ys{layers()[0](input(0))};
  for (size_t i = 1; i < size(); ++i) ys.push_back(layers()[i](connection()({ys.back(), input(i)})));
  return ys;
}

Tensor PairwiseFusionImpl::forward_multi(const std::vector<Tensor>& xs) { return outputs(xs).back(); }

}  // namespace flux
