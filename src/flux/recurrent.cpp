#include <flux/recurrent.h>

#include <torch/types.h>

namespace flux {
namespace {

void check_io(InOut io, const char* who) {
  if (io.in < 1 || io.out < 1) throw std::invalid_argument(std::string(who) + ": sizes must be positive");
}

Tensor initial(const Init& init, int64_t out) { return init({out, 1}).reshape({1, out}); }

}  // namespace

Tensor CellImpl::as_batch(const Tensor& x) const {
  if (x.dim() < 1 || x.dim() > 2 || x.size(-1) != in_features()) {
    input_error("a [" + std::to_string(in_features()) + "] or [batch, " + std::to_string(in_features()) + "] input", x);
  }
  Tensor xf = x.scalar_type() == Wi.scalar_type() ? x : x.to(Wi.scalar_type());
  return x.dim() == 1 ? xf.unsqueeze(0) : xf;
}

RNNCellImpl::RNNCellImpl(InOut io, Activation act, RecurrentOptions o) : activation(std::move(act)) {
  check_io(io, "RNNCell");
  Wi = register_parameter("weight_ih", o.init({io.out, io.in}).reshape({io.out, io.in}));
  Wh = register_parameter("weight_hh", o.init({io.out, io.out}).reshape({io.out, io.out}));
  b = register_parameter("bias", o.initb({io.out}).reshape({io.out}));
  h0 = register_parameter("state0", initial(o.init_state, io.out));
}

std::pair<State, Tensor> RNNCellImpl::step(const State& h, const Tensor& x) {
  Tensor hn = activation(torch::addmm(b, as_batch(x), Wi.t()) + torch::matmul(h.at(0), Wh.t()));
  return {{hn}, hn};
}

void RNNCellImpl::pretty_print(std::ostream& os) const {
  os << "RNNCell(" << in_features() << " => " << out_features();
  if (!activation.is_identity()) os << ", " << activation.name();
  os << ')';
}

LSTMCellImpl::LSTMCellImpl(InOut io, RecurrentOptions o) {
  check_io(io, "LSTMCell");
  const int64_t out = io.out;
  Wi = register_parameter("weight_ih", o.init({4 * out, io.in}).reshape({4 * out, io.in}));
  Wh = register_parameter("weight_hh", o.init({4 * out, out}).reshape({4 * out, out}));
  Tensor bias = o.initb({4 * out}).reshape({4 * out});
  bias.slice(0, out, 2 * out).fill_(1);  // forget gate
  b = register_parameter("bias", bias);
  h0 = register_parameter("state0_h", initial(o.init_state, out));
  c0 = register_parameter("state0_c", initial(o.init_state, out));
}

std::pair<State, Tensor> LSTMCellImpl::step(const State& h, const Tensor& x) {
  Tensor g = torch::addmm(b, as_batch(x), Wi.t()) + torch::matmul(h.at(0), Wh.t());
  auto gates = g.chunk(4, -1);
  Tensor c = torch::sigmoid(gates[1]) * h.at(1) + torch::sigmoid(gates[0]) * torch::tanh(gates[2]);
  Tensor hn = torch::sigmoid(gates[3]) * torch::tanh(c);
  return {{hn, c}, hn};
}

void LSTMCellImpl::pretty_print(std::ostream& os) const {
  os << "LSTMCell(" << in_features() << " => " << out_features() << ')';
}

GRUCellImpl::GRUCellImpl(InOut io, RecurrentOptions o) {
  check_io(io, "GRUCell");
  const int64_t out = io.out;
  Wi = register_parameter("weight_ih", o.init({3 * out, io.in}).reshape({3 * out, io.in}));
  Wh = register_parameter("weight_hh", o.init({3 * out, out}).reshape({3 * out, out}));
  b = register_parameter("bias", o.initb({3 * out}).reshape({3 * out}));
  h0 = register_parameter("state0", initial(o.init_state, out));
}

std::pair<State, Tensor> GRUCellImpl::step(const State& h, const Tensor& x) {
  auto gx = torch::matmul(as_batch(x), Wi.t()).chunk(3, -1);
  auto gh = torch::matmul(h.at(0), Wh.t()).chunk(3, -1);
  auto bs = b.chunk(3, 0);
  Tensor r = torch::sigmoid(gx[0] + gh[0] + bs[0]);
  Tensor z = torch::sigmoid(gx[1] + gh[1] + bs[1]);
  Tensor n = torch::tanh(gx[2] + r * gh[2] + bs[2]);
  Tensor hn = (1 - z) * n + z * h.at(0);
  return {{hn}, hn};
}

void GRUCellImpl::pretty_print(std::ostream& os) const {
  os << "GRUCell(" << in_features() << " => " << out_features() << ')';
}

RecurImpl::RecurImpl(std::shared_ptr<CellImpl> c) : cell(std::move(c)) {
  if (!cell) throw std::invalid_argument("Recur: empty cell");
  register_module("cell", cell);
  state = cell->state0();
}

RecurImpl::RecurImpl(CellFn f, State s0) : state(s0), fn_(std::move(f)), fn_state0_(std::move(s0)) {
  if (!fn_) throw std::invalid_argument("Recur: empty cell function");
}

Tensor RecurImpl::step(const Tensor& x) {
  auto [h, y] = cell ? cell->step(state, x) : fn_(state, x);
  state = std::move(h);
  // A vector input gives a vector, as Flux's reshape(h, :).
  return x.dim() == 1 && y.dim() == 2 ? y.reshape({-1}) : y;
}

Tensor RecurImpl::forward(const Tensor& x) {
  if (x.dim() != 3) return step(x);
  std::vector<Tensor> ys;
  for (int64_t t = 0; t < x.size(0); ++t) ys.push_back(step(x[t]));
  return torch::stack(ys, 0);
}

void RecurImpl::reset() { state = cell ? cell->state0() : fn_state0_; }

std::vector<ShowItem> RecurImpl::show_items() const {
  if (!cell) return {};
  return {{"", cell, ""}};
}

void RecurImpl::pretty_print(std::ostream& os) const {
  os << "Recur(" << (cell ? cell->repr() : std::string("#cell")) << ')';
}

Recur RNN(InOut io, Activation act, RecurrentOptions o) { return Recur(std::make_shared<RNNCellImpl>(io, std::move(act), std::move(o))); }
Recur LSTM(InOut io, RecurrentOptions o) { return Recur(std::make_shared<LSTMCellImpl>(io, std::move(o))); }
Recur GRU(InOut io, RecurrentOptions o) { return Recur(std::make_shared<GRUCellImpl>(io, std::move(o))); }

void reset(torch::nn::Module& m) {
  if (auto* r = dynamic_cast<RecurImpl*>(&m)) r->reset();
  for (auto& child : m.modules(/*include_self=*/false)) {
    if (auto* r = dynamic_cast<RecurImpl*>(child.get())) r->reset();
  }
}

}  // namespace flux
