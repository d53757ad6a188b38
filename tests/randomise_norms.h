// randomise_norms: statistics and affine parameters away from their initial values, so
// that folding BatchNorms into convolutions is exercised (fresh ones are the identity).
#pragma once

#include <torch/torch.h>

inline void randomise_norms(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& item : m.named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) item.value().uniform_(-0.5, 0.5);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
  }
  for (auto& item : m.named_parameters()) {
    if (item.value().dim() == 1) item.value().uniform_(-1, 1);  // γ and β, biases
  }
}
