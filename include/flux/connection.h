// connection.h — how Parallel and SkipConnection combine their branches.
#pragma once

#include <flux/layer.h>

#include <functional>
#include <string>
#include <vector>

namespace flux {

/// A named function of several tensors, called once with every branch's output
/// (`+` adds them all). Also made from a binary callable (folded left to right),
/// or from a layer of several inputs such as Bilinear, whose parameters then
/// belong to the container.
class Connection {
 public:
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  /// Like Fn, free to overwrite (or move from) the first input.
  using OwnedFn = std::function<Tensor(std::vector<Tensor>&)>;
  /// `first_owned`, when given, computes the same as `f` reusing the first input's memory.
  Connection(std::string name, Fn f, OwnedFn first_owned = {})
      : name_(std::move(name)), f_(std::move(f)), owned_(std::move(first_owned)) {}
  // A layer holder (Parallel, Bilinear) is a layer with parameters, never a plain function.
  template <class F>
    requires(std::is_invocable_r_v<Tensor, const F&, const Tensor&, const Tensor&> &&
             !requires { typename F::ContainedType; } && !std::is_same_v<F, Layer>)
  Connection(F f) : Connection("", fold(std::function<Tensor(const Tensor&, const Tensor&)>(std::move(f)))) {}
  template <class T>
    requires std::derived_from<T, LayerImpl>
  Connection(const torch::nn::ModuleHolder<T>& layer) : Connection(Layer(layer)) {}
  Connection(Layer layer);

  Tensor operator()(const std::vector<Tensor>& xs) const;
  /// With inputs the caller gives up: the first one is reused when nothing else sees it
  /// (SkipConnection's branch output), saving a full-size temporary.
  Tensor operator()(std::vector<Tensor>&& xs) const;
  /// The name printed (`+`, `vcat`), or the layer's one-line form.
  std::string name() const;
  const Layer& layer() const { return layer_; }

 private:
  static Fn fold(std::function<Tensor(const Tensor&, const Tensor&)> f);
  std::string name_;
  Fn f_;
  OwnedFn owned_;
  Layer layer_;
};

extern const Connection plus;  // `+`, broadcasting
/// The sum of xs, accumulated into xs[0] (moved from) where shapes allow: the OwnedFn of `+`.
Tensor add_into(std::vector<Tensor>& xs);
extern const Connection vcat;  // Julia's dim 1: torch's last dimension
extern const Connection hcat;  // Julia's dim 2: torch's second-to-last dimension
/// Concatenation along torch dimension `dim`.
Connection cat(int64_t dim);

}  // namespace flux
