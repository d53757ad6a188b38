#include <metalhead/layers/pool.h>

#include <flux/parallel.h>
#include <flux/pooling.h>

namespace metalhead::layers {

flux::Layer AdaptiveMeanMaxPool(flux::Connection connection, std::vector<int64_t> output_size) {
  return flux::Parallel(std::move(connection), flux::AdaptiveMeanPool(output_size), flux::AdaptiveMaxPool(output_size));
}

flux::Layer AdaptiveMeanMaxPool(std::vector<int64_t> output_size) {
  return AdaptiveMeanMaxPool(flux::plus, std::move(output_size));
}

}  // namespace metalhead::layers
