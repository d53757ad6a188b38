// mode.h — Flux's train/test modes: `testmode`, `trainmode` and the automatic mode.
#pragma once

#include <flux/layer.h>

#include <optional>

namespace flux {

/// The tag for Flux's automatic mode (`:auto` / `nothing`).
struct Automatic {};
inline constexpr Automatic automatic{};

/// A mode argument: `true`, `false` or `flux::automatic`.
struct Mode {
  Mode(bool on) : value(on) {}
  Mode(Automatic) {}
  std::optional<bool> value;  // nullopt: automatic
};

/// A layer whose behaviour differs between training and testing (BatchNorm,
/// Dropout, ...). `active` is Flux's field: true trains, false tests, nullopt is
/// automatic. Flux's automatic mode trains exactly inside a gradient computation;
/// ours trains exactly when autograd records this layer's call: grad mode is on
/// and the input or one of the layer's parameters requires grad. So a plain call
/// outside `torch::NoGradGuard`/`InferenceMode` on a trainable model trains:
/// evaluate under `torch::InferenceMode`, or call `testmode`.
///
/// torch's `train()`/`eval()` set the mode too, so `model->eval()` is `testmode(model)`.
class ModalLayerImpl : public LayerImpl {
 public:
  std::optional<bool> active;

  void train(bool on = true) override;
  /// Whether this call trains, resolving the automatic mode for input `x`.
  bool is_active(const Tensor& x) const;

 protected:
  /// `, active=true` / `, active=false` when forced, as Flux prints it.
  void print_active(std::ostream& os) const;
};

/// testmode(m, mode = true): puts every train/test-dependent layer inside `m` in
/// test mode (true), training mode (false) or back to automatic. Also sets
/// libtorch's training flags (automatic counts as training for them).
void testmode(torch::nn::Module& m, Mode mode = true);
/// trainmode(m, mode = true): the same with the meaning of a bool reversed.
void trainmode(torch::nn::Module& m, Mode mode = true);

template <class T>
const torch::nn::ModuleHolder<T>& testmode(const torch::nn::ModuleHolder<T>& m, Mode mode = true) {
  testmode(*m.ptr(), mode);
  return m;
}
template <class T>
const torch::nn::ModuleHolder<T>& trainmode(const torch::nn::ModuleHolder<T>& m, Mode mode = true) {
  trainmode(*m.ptr(), mode);
  return m;
}
inline const Layer& testmode(const Layer& m, Mode mode = true) {
  testmode(*m.ptr(), mode);
  return m;
}
inline const Layer& trainmode(const Layer& m, Mode mode = true) {
  trainmode(*m.ptr(), mode);
  return m;
}

}  // namespace flux
