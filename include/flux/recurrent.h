// recurrent.h — RNN, LSTM and GRU cells, the stateful Recur wrapper, and reset.
//
// Flux 0.13/0.14's design: a cell maps (state, x) to (new state, output), and
// Recur keeps the state between calls. Sequences are [time, batch, features]
// (torch's default order; Flux's (features, batch, time)). The initial state
// `state0` is a trainable parameter of shape [1, out], broadcast over the batch.
#pragma once

#include <flux/activations.h>
#include <flux/dense.h>
#include <flux/init.h>
#include <flux/layer.h>

#include <functional>
#include <utility>
#include <vector>

namespace flux {

/// A recurrent state: one tensor (RNN, GRU) or two (LSTM's h and c).
using State = std::vector<Tensor>;

struct RecurrentOptions {
  Init init = glorot_uniform;
  Init initb = zeros32;
  Init init_state = zeros32;
};

/// A recurrent cell: `step(h, x)` returns the new state and the output.
class CellImpl : public LayerImpl {
 public:
  virtual std::pair<State, Tensor> step(const State& h, const Tensor& x) = 0;
  /// The trainable initial state.
  virtual State state0() const = 0;
  /// One step from the initial state.
  Tensor forward(const Tensor& x) override { return step(state0(), x).second; }
  int64_t in_features() const { return Wi.size(1); }
  int64_t out_features() const { return Wh.size(1); }

  Tensor Wi, Wh, b;

 protected:
  /// Validates x ([in] or [batch, in]) and returns it as a matrix.
  Tensor as_batch(const Tensor& x) const;
};

/// RNNCell({in, out}, σ = tanh, {.init, .initb, .init_state}): h' = σ(Wi x + Wh h + b).
/// From explicit arrays (Flux's RNNCell(σ, Wi, Wh, b, state0)): Wi [out, in], Wh [out, out],
/// b [out], state0 [out] or [1, out]; their float types are kept.
class RNNCellImpl : public CellImpl {
 public:
  RNNCellImpl(InOut io, Activation activation = flux::tanh, RecurrentOptions options = {});
  RNNCellImpl(Activation activation, Tensor Wi, Tensor Wh, Tensor b, Tensor state0);
  std::pair<State, Tensor> step(const State& h, const Tensor& x) override;
  State state0() const override { return {h0}; }
  void pretty_print(std::ostream& os) const override;

  Tensor h0;
  Activation activation;
};

/// LSTMCell({in, out}, {...}): gates in torch's order (input, forget, cell, output);
/// the forget gate's bias starts at 1, as in Flux. LSTMCell(Wi [4out, in], Wh [4out, out],
/// b [4out], {h0, c0}) from explicit arrays.
class LSTMCellImpl : public CellImpl {
 public:
  LSTMCellImpl(InOut io, RecurrentOptions options = {});
  LSTMCellImpl(Tensor Wi, Tensor Wh, Tensor b, State state0);
  std::pair<State, Tensor> step(const State& h, const Tensor& x) override;
  State state0() const override { return {h0, c0}; }
  void pretty_print(std::ostream& os) const override;

  Tensor h0, c0;
};

/// GRUCell({in, out}, {...}): Flux's GRU (v1): one bias, added outside the reset
/// gate's product (torch keeps a second bias inside it). GRUCell(Wi [3out, in],
/// Wh [3out, out], b [3out], state0) from explicit arrays.
class GRUCellImpl : public CellImpl {
 public:
  GRUCellImpl(InOut io, RecurrentOptions options = {});
  GRUCellImpl(Tensor Wi, Tensor Wh, Tensor b, Tensor state0);
  std::pair<State, Tensor> step(const State& h, const Tensor& x) override;
  State state0() const override { return {h0}; }
  void pretty_print(std::ostream& os) const override;

  Tensor h0;
};

/// GRUv3Cell({in, out}, {...}): Flux's GRU v3 (the GRU of Cho et al. v3, torch's), where
/// the reset gate scales the state before its own product:
///   r = σ(Wi_r x + Wh_r h + b_r),  z = σ(Wi_z x + Wh_z h + b_z),
///   h̃ = tanh(Wi_h x + Wh_h (r ⊙ h) + b_h),  h' = (1 − z) ⊙ h̃ + z ⊙ h.
/// Wi [3out, in], Wh [2out, out] (r and z), b [3out], Wh_h [out, out].
class GRUv3CellImpl : public CellImpl {
 public:
  GRUv3CellImpl(InOut io, RecurrentOptions options = {});
  GRUv3CellImpl(Tensor Wi, Tensor Wh, Tensor b, Tensor Wh_h, Tensor state0);
  std::pair<State, Tensor> step(const State& h, const Tensor& x) override;
  State state0() const override { return {h0}; }
  void pretty_print(std::ostream& os) const override;

  Tensor Wh_h, h0;
};

/// The cells as shared pointers, for Recur: `Recur(RNNCell({2, 3}))`.
std::shared_ptr<RNNCellImpl> RNNCell(InOut io, Activation activation = flux::tanh, RecurrentOptions options = {});
std::shared_ptr<RNNCellImpl> RNNCell(Activation activation, Tensor Wi, Tensor Wh, Tensor b, Tensor state0);
std::shared_ptr<LSTMCellImpl> LSTMCell(InOut io, RecurrentOptions options = {});
std::shared_ptr<LSTMCellImpl> LSTMCell(Tensor Wi, Tensor Wh, Tensor b, State state0);
std::shared_ptr<GRUCellImpl> GRUCell(InOut io, RecurrentOptions options = {});
std::shared_ptr<GRUCellImpl> GRUCell(Tensor Wi, Tensor Wh, Tensor b, Tensor state0);
std::shared_ptr<GRUv3CellImpl> GRUv3Cell(InOut io, RecurrentOptions options = {});
std::shared_ptr<GRUv3CellImpl> GRUv3Cell(Tensor Wi, Tensor Wh, Tensor b, Tensor Wh_h, Tensor state0);

/// A cell given as a function, for Flux's `Recur(accum, 0)` example.
using CellFn = std::function<std::pair<State, Tensor>(const State& h, const Tensor& x)>;

/// Recur(cell): calls `cell` with the stored state and keeps the new one.
/// A [time, batch, features] input runs the whole sequence and stacks the outputs.
class RecurImpl : public LayerImpl {
 public:
  explicit RecurImpl(std::shared_ptr<CellImpl> cell);
  RecurImpl(CellFn cell, State state0);

  Tensor forward(const Tensor& x) override;
  /// Back to the cell's initial state (Flux's reset!).
  void reset();

  std::vector<ShowItem> show_items() const override;
  std::string show_name() const override { return "Recur"; }
  void pretty_print(std::ostream& os) const override;
  std::vector<Tensor> extra_state() const override { return state; }

  std::shared_ptr<CellImpl> cell;  // null for a function cell
  State state;

 private:
  Tensor step(const Tensor& x);
  CellFn fn_;
  State fn_state0_;
};

class Recur : public Holder<RecurImpl> {
 public:
  using Holder::Holder;
  template <class T>
    requires std::derived_from<T, CellImpl>
  Recur(const std::shared_ptr<T>& cell) : Holder(make(std::static_pointer_cast<CellImpl>(cell))) {}
  Recur(CellFn cell, State state0) : Holder(make(std::move(cell), std::move(state0))) {}
};

/// RNN({in, out}, σ = tanh) = Recur(RNNCell(...)); LSTM, GRU and GRUv3 likewise.
Recur RNN(InOut io, Activation activation = flux::tanh, RecurrentOptions options = {});
Recur LSTM(InOut io, RecurrentOptions options = {});
Recur GRU(InOut io, RecurrentOptions options = {});
Recur GRUv3(InOut io, RecurrentOptions options = {});

/// reset(m): every Recur inside `m` back to its initial state.
void reset(torch::nn::Module& m);
template <class T>
void reset(const torch::nn::ModuleHolder<T>& m) {
  reset(*m.ptr());
}
inline void reset(const Layer& m) { reset(*m); }

}  // namespace flux
