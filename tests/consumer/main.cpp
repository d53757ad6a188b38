// Every public header compiles with only what find_package(metalhead) gives, and a
// registry model runs.
#include <metalhead/inference.h>
#include <metalhead/metalhead.h>
#include <metalhead/train.h>
#include <metalhead/weights.h>

#include <torch/torch.h>

#include <iostream>

int main() {
  metalhead::Model m = metalhead::create_model("resnet18", {.nclasses = 10});
  torch::NoGradGuard no_grad;
  const auto y = m(torch::randn({1, 3, 32, 32}));
  std::cout << "consumer: resnet18 gives " << y.sizes() << ", its weights resize to "
            << metalhead::pretrained_cfg("resnet18").resize << "\n";
  return y.size(1) == 10 ? 0 : 1;
}
