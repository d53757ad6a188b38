#include <metalhead/layers/pool.h>

#include <flux/parallel.h>
#include <flux/padding.h>
#include <flux/pooling.h>

#include <ATen/ATen.h>

#include <stdexcept>

namespace metalhead::layers {

flux::Layer AdaptiveMeanMaxPool(flux::Connection connection, std::vector<int64_t> output_size) {
  return flux::Parallel(std::move(connection), flux::AdaptiveMeanPool(output_size), flux::AdaptiveMaxPool(output_size));
}

flux::Layer AdaptiveMeanMaxPool(std::vector<int64_t> output_size) {
  return AdaptiveMeanMaxPool(flux::plus, std::move(output_size));
}

flux::Layer adaptive_avg_pool(std::vector<int64_t> output_size) {
  if (output_size.size() != 2) throw std::invalid_argument("adaptive_avg_pool: expected an output size {H, W}");
  const std::string name = "adaptive_avg_pool(" + flux::tuple_string(output_size) + ")";
  return flux::fn(name, [output_size, name](const Tensor& x) {
    if (x.dim() != 4) throw std::invalid_argument(name + ": expected [N, C, H, W], got a tensor of shape " + flux::shape_string(x));
    return at::adaptive_avg_pool2d(x, output_size);
  });
}

}  // namespace metalhead::layers
