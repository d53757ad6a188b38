// Reference parameter counts from tests/data/reference_counts.json (torchvision 0.14,
// timm, and Metalhead configurations built from their classes; see tests/data/README.md),
// and the helpers the model tests share.
#pragma once

#include <flux/mode.h>
#include <metalhead/layers/drop.h>
#include <metalhead/model.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <stdexcept>
#include <string>

inline const nlohmann::json& reference_counts() {
  static const nlohmann::json data = [] {
    std::ifstream in(METALHEAD_TEST_DATA "/reference_counts.json");
    if (!in) throw std::runtime_error("cannot open " METALHEAD_TEST_DATA "/reference_counts.json");
    return nlohmann::json::parse(in);
  }();
  return data;
}

/// The reference parameter count of `key` in `section` (torchvision, timm, metalhead).
inline int64_t reference_params(const std::string& section, const std::string& key) {
  const auto& s = reference_counts().at(section);
  if (!s.contains(key)) throw std::runtime_error("no reference count for " + section + "/" + key);
  return s.at(key).at("params").get<int64_t>();
}

/// Every StochasticDepth rate of the model, in module order.
inline std::vector<double> drop_paths(const metalhead::Model& m) {
  std::vector<double> out;
  for (const auto& sub : m->modules()) {
    if (auto d = dynamic_cast<metalhead::layers::StochasticDepthImpl*>(sub.get())) out.push_back(d->p);
  }
  return out;
}

/// The model's logits in test mode without autograd: what most shape checks need.
inline flux::Tensor run(const metalhead::Model& m, const flux::Tensor& x) {
  flux::testmode(m);
  torch::InferenceMode guard;
  return m(x);
}
