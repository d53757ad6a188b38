#include <metalhead/layers/connections.h>

#include <torch/types.h>

#include <stdexcept>

namespace metalhead::layers {
namespace {

void check_inputs(const std::vector<flux::Tensor>& xs, const std::string& who) {
  if (xs.empty()) throw std::invalid_argument(who + ": needs at least one input");
}

}  // namespace

const flux::Connection cat_channels("cat_channels", [](const std::vector<flux::Tensor>& xs) {
  check_inputs(xs, "cat_channels");
  for (const auto& x : xs) {
    if (x.dim() < 2 || x.dim() != xs[0].dim()) {
      throw std::invalid_argument("cat_channels: expected batches [N, C, ...] of one rank, got a tensor of shape " +
                                  flux::shape_string(x));
    }
  }
  return torch::cat(xs, 1);
});

const flux::Connection times(".*", [](const std::vector<flux::Tensor>& xs) {
  check_inputs(xs, ".*");
  flux::Tensor y = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) y = y * xs[i];
  return y;
});

flux::Connection addact(flux::Activation activation) {
  const std::string name = "addact(" + activation.name() + ")";
  return flux::Connection(
      name,
      [activation, name](const std::vector<flux::Tensor>& xs) {
        check_inputs(xs, name);
        flux::Tensor y = xs[0];
        for (size_t i = 1; i < xs.size(); ++i) y = y + xs[i];
        return activation(std::move(y));
      },
      [activation, name](std::vector<flux::Tensor>& xs) {
        check_inputs(xs, name);
        return activation(flux::add_into(xs));
      });
}

flux::Connection actadd(flux::Activation activation) {
  const std::string name = "actadd(" + activation.name() + ")";
  return flux::Connection(name, [activation, name](const std::vector<flux::Tensor>& xs) {
    check_inputs(xs, name);
    flux::Tensor y = activation(xs[0]);
    for (size_t i = 1; i < xs.size(); ++i) y = y + activation(xs[i]);
    return y;
  });
}

}  // namespace metalhead::layers
