// layer.h — what every flux layer is: a libtorch module with a tensor-to-tensor
// forward pass and Flux's printing, plus `Layer`, a handle to any of them.
//
// Layout: tensors are in torch's order. Julia's column-major WHCN batch is the
// same memory as our NCHW, and Flux's `in × N` matrix is our `[N, in]`, so every
// per-dimension tuple (kernel, stride, pad, window) is written here in torch's
// order: `{kH, kW}`, not Flux's `(kW, kH)`. Indices are 0-based.
#pragma once

#include <ATen/core/Tensor.h>
#include <flux/activations.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flux {

using at::Tensor;

class LayerImpl;

/// One line of a container's expanded printing: a child layer (with its name in
/// a named container), or a plain text such as a connection `+`.
struct ShowItem {
  std::string name;
  std::shared_ptr<LayerImpl> layer;  // null for a text line
  std::string text;
};

/// Base of every flux layer. Subclasses implement `forward` and `pretty_print`
/// (the one-line form, e.g. `Dense(5 => 2, tanh)`); containers also list their
/// children with `show_items`.
class LayerImpl : public torch::nn::Module {
 public:
  LayerImpl() = default;

  virtual Tensor forward(const Tensor& x) = 0;
  /// Several inputs at once (Parallel, Bilinear, a Chain starting with either).
  /// Layers of one input accept a list of exactly one tensor.
  virtual Tensor forward_multi(const std::vector<Tensor>& xs);

  /// Children shown one per line by the expanded printing; empty for leaves.
  virtual std::vector<ShowItem> show_items() const { return {}; }
  /// The name a container prints before `(`: `Chain`, `Parallel`, ...
  virtual std::string show_name() const { return name(); }
  /// Non-trainable arrays that are not buffers (the running state of a Recur).
  virtual std::vector<Tensor> extra_state() const { return {}; }

  /// The one-line form as a string.
  std::string repr() const;

  /// Throws the standard bad-input error: `<repr>: expected <what>, got a tensor of shape [..]`.
  [[noreturn]] void input_error(std::string_view expected, const Tensor& got) const;
  /// Throws `<repr>: <message>` as std::invalid_argument (bad construction options).
  [[noreturn]] void option_error(std::string_view message) const;
};

/// Formats a shape as `[8, 4, 32, 32]`.
std::string shape_string(const Tensor& t);
std::string shape_string(at::IntArrayRef sizes);

/// A handle to any flux layer, as stored by containers. Converts from every layer
/// holder (`Dense`, `Conv`, ...), from activations and from plain callables
/// `Tensor(const Tensor&)`, which become layers that print by name.
class Layer {
 public:
  Layer() = default;
  Layer(std::shared_ptr<LayerImpl> impl) : impl_(std::move(impl)) {}
  template <class T>
    requires std::derived_from<T, LayerImpl>
  Layer(std::shared_ptr<T> impl) : impl_(std::move(impl)) {}
  template <class T>
    requires std::derived_from<T, LayerImpl>
  Layer(const torch::nn::ModuleHolder<T>& holder) : impl_(holder.ptr()) {}
  /// An activation becomes a layer that prints its name (`relu`, `σ`).
  Layer(const Activation& f) : Layer(wrap(f, f.name())) {}
  template <class F>
    requires(std::is_invocable_r_v<Tensor, const F&, const Tensor&> &&
             !std::derived_from<std::remove_cvref_t<F>, Layer> &&
             !std::derived_from<std::remove_cvref_t<F>, Activation> &&
             !requires(const F& f) { f.ptr(); })
  Layer(F f) : Layer(wrap(std::function<Tensor(const Tensor&)>(std::move(f)), "")) {}

  Tensor operator()(const Tensor& x) const { return impl_->forward(x); }
  Tensor operator()(const std::vector<Tensor>& xs) const { return impl_->forward_multi(xs); }
  template <class... Ts>
    requires(sizeof...(Ts) >= 1 && (std::convertible_to<Ts, Tensor> && ...))
  Tensor operator()(const Tensor& x, const Ts&... rest) const {
    return impl_->forward_multi({x, rest...});
  }

  LayerImpl* operator->() const { return impl_.get(); }
  LayerImpl& operator*() const { return *impl_; }
  const std::shared_ptr<LayerImpl>& ptr() const { return impl_; }
  explicit operator bool() const { return impl_ != nullptr; }
  /// The layer as its concrete type, or null when it is another kind.
  template <class T>
  std::shared_ptr<T> as() const {
    return std::dynamic_pointer_cast<T>(impl_);
  }

 private:
  static std::shared_ptr<LayerImpl> wrap(std::function<Tensor(const Tensor&)> f, std::string name);
  std::shared_ptr<LayerImpl> impl_;
};

/// A plain function as a layer, printed by its name (anonymous ones as `#1`, `#2`, ...).
class FnImpl : public LayerImpl {
 public:
  FnImpl(std::function<Tensor(const Tensor&)> f, std::string name);
  Tensor forward(const Tensor& x) override { return f_(x); }
  void pretty_print(std::ostream& os) const override { os << name_; }

 private:
  std::function<Tensor(const Tensor&)> f_;
  std::string name_;
};

/// A named function layer: `flux::fn("square", [](const Tensor& x) { return x * x; })`.
Layer fn(std::string name, std::function<Tensor(const Tensor&)> f);

/// Holder base for our layer types: like TORCH_MODULE, but with constructors
/// written out, so braced arguments (`Dense({5, 2})`) work.
template <class Impl>
class Holder : public torch::nn::ModuleHolder<Impl> {
 public:
  using Base = torch::nn::ModuleHolder<Impl>;
  Holder(std::nullptr_t) : Base(nullptr) {}
  Holder(std::shared_ptr<Impl> impl) : Base(std::move(impl)) {}

 protected:
  template <class... Args>
  static std::shared_ptr<Impl> make(Args&&... args) {
    return std::make_shared<Impl>(std::forward<Args>(args)...);
  }
};

}  // namespace flux
