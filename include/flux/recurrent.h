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
class RNNCellImpl : public CellImpl {
 public:
  RNNCellImpl(InOut io, Activation activation = flux::tanh, RecurrentOptions options = {});
  std::pair<State, Tensor> step(const State& h, const Tensor& x) override;
  State state0() const override { return {h0}; }
  void pretty_print(std::ostream& os) const override;

  Tensor h0;
  Activation activation;
};

/// LSTMCell({in, out}, {...}): gates in torch's order (input, forget, cell, output);
/// the forget gate's bias starts at 1, as in Flux.
class LSTMCellImpl : public CellImpl {
 public:
  LSTMCellImpl(InOut io, RecurrentOptions options = {});
  std::pair<State, Tensor> step(const State& h, const Tensor& x) override;
  State state0() const override { return {h0, c0}; }
  void pretty_print(std::ostream& os) const override;

  Tensor h0, c0;
};

/// GRUCellImpl({in, out}, {...}): Flux's GRU (v1): one bias, added outside the reset
/// gate's product (torch keeps a second bias inside it).
class GRUCellImpl : public CellImpl {
 public:
  GRUCellImpl(InOut io, RecurrentOptions options = {});
  std::pair<State, Tensor> step(const State& h, const Tensor& x) override;
  State state0() const override { return {h0}; }
  void pretty_print(std::ostream& os) const override;

  Tensor h0;
};

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

/// RNN({in, out}, σ = tanh) = Recur(RNNCell(...)); LSTM and GRU likewise.
Recur RNN(InOut io, Activation activation = flux::tanh, RecurrentOptions options = {});
Recur LSTM(InOut io, RecurrentOptions options = {});
Recur GRU(InOut io, RecurrentOptions options = {});

/// reset(m): every Recur inside `m` back to its initial state.
void reset(torch::nn::Module& m);
template <class T>
void reset(const torch::nn::ModuleHolder<T>& m) {
  reset(*m.ptr());
}
inline void reset(const Layer& m) { reset(*m); }

}  // namespace flux
