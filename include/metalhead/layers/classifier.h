// classifier.h — create_classifier, the head of most models.
#pragma once

#include <flux/activations.h>
#include <flux/chain.h>
#include <flux/pooling.h>

#include <array>
#include <optional>

namespace metalhead::layers {

struct ClassifierOptions {
  bool use_conv = false;                                    // a 1×1 Conv instead of the Dense
  flux::Layer pool_layer = flux::AdaptiveMeanPool({1, 1});  // `flux::identity` (or {}): no pooling
  std::optional<double> dropout_prob;                       // nullopt: no Dropout layer at all
};

/// create_classifier(inplanes, nclasses, activation = identity, {.use_conv = false,
///                   .pool_layer = AdaptiveMeanPool({1, 1}), .dropout_prob = nullopt})
/// The classifier head: pool_layer, flatten (unless use_conv or no pooling), Dropout when
/// dropout_prob is given (a rate of 0 still adds the layer), then Dense(inplanes => nclasses,
/// activation) or a 1×1 Conv (use_conv, which needs pool_layer = identity).
/// Example: create_classifier(512, 10) maps [N, 512, 7, 7] to [N, 10].
flux::Chain create_classifier(int64_t inplanes, int64_t nclasses, flux::Activation activation = flux::identity,
                              ClassifierOptions options = {});

struct HiddenClassifierOptions {
  std::array<bool, 2> use_conv = {false, false};  // per layer: hidden, output
  flux::Layer pool_layer = flux::AdaptiveMeanPool({1, 1});
  std::optional<double> dropout_prob;             // after the hidden layer
};

/// create_classifier(inplanes, hidden_planes, nclasses, activations = {relu, identity},
///                   {.use_conv = {false, false}, .pool_layer, .dropout_prob})
/// The head with one hidden layer (MobileNetv3): pool_layer, flatten, Dense(inplanes =>
/// hidden_planes, activations[0]), Dropout when given, Dense(hidden_planes => nclasses,
/// activations[1]); each Dense a 1×1 Conv where use_conv says so.
flux::Chain create_classifier(int64_t inplanes, int64_t hidden_planes, int64_t nclasses,
                              std::array<flux::Activation, 2> activations = {flux::relu, flux::identity},
                              HiddenClassifierOptions options = {});

/// True for an empty layer or the identity function layer (Metalhead's `identity`).
bool is_identity(const flux::Layer& layer);

}  // namespace metalhead::layers
