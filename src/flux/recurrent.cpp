#include <flux/recurrent.h>

#include <torch/types.h>

namespace flux {
namespace {

void check_io(InOut io, const char* who) {
  if (io.in < 1 || io.out < 1) throw std::invalid_argument(std::string(who) + ": sizes must be positive");
}

Tensor initial(const Init& init, int64_t out) { return init({out, 1}).reshape({1, out}); }

// An explicit cell's arrays share one float type, as Julia's arithmetic promotes them:
// the widest float type among them (integer arrays take part as Float32).
at::ScalarType common_type(std::initializer_list<Tensor> ts) {
  at::ScalarType type = at::kFloat;
  for (const auto& t : ts) {
    if (t.defined() && t.is_floating_point()) type = at::promote_types(type, t.scalar_type());
  }
  return type;
}

Tensor stored(const Tensor& t, at::ScalarType type) { return t.detach().to(type).clone(); }

// Checks an explicit array's shape for `who` and returns the copy a cell stores.
Tensor explicit_array(const Tensor& t, std::vector<int64_t> shape, at::ScalarType type, const char* who, const char* what) {
  if (!t.defined() || t.sizes() != at::IntArrayRef(shape)) {
    throw std::invalid_argument(std::string(who) + ": expected " + what + " of shape " + shape_string(shape) + ", got " +
                                shape_string(t));
  }
  return stored(t, type);
}

// Wi [k·out, in] and Wh [rows_h, out] give (in, out); checked against k.
InOut explicit_sizes(const Tensor& Wi, const Tensor& Wh, int64_t k, int64_t k_h, const char* who) {
  if (!Wh.defined() || Wh.dim() != 2 || Wh.size(1) < 1 || Wh.size(0) != k_h * Wh.size(1)) {
    throw std::invalid_argument(std::string(who) + ": expected Wh of shape [" + std::to_string(k_h) + "·out, out], got " +
                                shape_string(Wh));
  }
  const int64_t out = Wh.size(1);
  if (!Wi.defined() || Wi.dim() != 2 || Wi.size(0) != k * out) {
    throw std::invalid_argument(std::string(who) + ": expected Wi of shape [" + std::to_string(k * out) + ", in], got " +
                                shape_string(Wi));
  }
  return {Wi.size(1), out};
}

// A state of [out] or [1, out] as the stored [1, out].
Tensor explicit_state(const Tensor& s, int64_t out, at::ScalarType type, const char* who) {
  if (!s.defined() || s.numel() != out || s.dim() > 2 || (s.dim() == 2 && s.size(0) != 1)) {
    throw std::invalid_argument(std::string(who) + ": expected an initial state of shape [" + std::to_string(out) +
                                "] or [1, " + std::to_string(out) + "], got " + shape_string(s));
  }
  return stored(s, type).reshape({1, out});
}

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

RNNCellImpl::RNNCellImpl(Activation act, Tensor wi, Tensor wh, Tensor bias, Tensor state)
    : activation(std::move(act)) {
  const InOut io = explicit_sizes(wi, wh, 1, 1, "RNNCell");
  const auto type = common_type({wi, wh, bias, state});
  Wi = register_parameter("weight_ih", stored(wi, type));
  Wh = register_parameter("weight_hh", stored(wh, type));
  b = register_parameter("bias", explicit_array(bias, {io.out}, type, "RNNCell", "b"));
  h0 = register_parameter("state0", explicit_state(state, io.out, type, "RNNCell"));
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

LSTMCellImpl::LSTMCellImpl(Tensor wi, Tensor wh, Tensor bias, State state) {
  const InOut io = explicit_sizes(wi, wh, 4, 4, "LSTMCell");
  if (state.size() != 2) {
    throw std::invalid_argument("LSTMCell: expected an initial state {h, c}, got " + std::to_string(state.size()) + " arrays");
  }
  const auto type = common_type({wi, wh, bias, state[0], state[1]});
  Wi = register_parameter("weight_ih", stored(wi, type));
  Wh = register_parameter("weight_hh", stored(wh, type));
  b = register_parameter("bias", explicit_array(bias, {4 * io.out}, type, "LSTMCell", "b"));
  h0 = register_parameter("state0_h", explicit_state(state[0], io.out, type, "LSTMCell"));
  c0 = register_parameter("state0_c", explicit_state(state[1], io.out, type, "LSTMCell"));
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

GRUCellImpl::GRUCellImpl(Tensor wi, Tensor wh, Tensor bias, Tensor state) {
  const InOut io = explicit_sizes(wi, wh, 3, 3, "GRUCell");
  const auto type = common_type({wi, wh, bias, state});
  Wi = register_parameter("weight_ih", stored(wi, type));
  Wh = register_parameter("weight_hh", stored(wh, type));
  b = register_parameter("bias", explicit_array(bias, {3 * io.out}, type, "GRUCell", "b"));
  h0 = register_parameter("state0", explicit_state(state, io.out, type, "GRUCell"));
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

GRUv3CellImpl::GRUv3CellImpl(InOut io, RecurrentOptions o) {
  check_io(io, "GRUv3Cell");
  const int64_t out = io.out;
  Wi = register_parameter("weight_ih", o.init({3 * out, io.in}).reshape({3 * out, io.in}));
  Wh = register_parameter("weight_hh", o.init({2 * out, out}).reshape({2 * out, out}));
  b = register_parameter("bias", o.initb({3 * out}).reshape({3 * out}));
  Wh_h = register_parameter("weight_hh_h", o.init({out, out}).reshape({out, out}));
  h0 = register_parameter("state0", initial(o.init_state, out));
}

GRUv3CellImpl::GRUv3CellImpl(Tensor wi, Tensor wh, Tensor bias, Tensor wh_h, Tensor state) {
  const InOut io = explicit_sizes(wi, wh, 3, 2, "GRUv3Cell");
  const auto type = common_type({wi, wh, bias, wh_h, state});
  Wi = register_parameter("weight_ih", stored(wi, type));
  Wh = register_parameter("weight_hh", stored(wh, type));
  b = register_parameter("bias", explicit_array(bias, {3 * io.out}, type, "GRUv3Cell", "b"));
  Wh_h = register_parameter("weight_hh_h", explicit_array(wh_h, {io.out, io.out}, type, "GRUv3Cell", "Wh_h"));
  h0 = register_parameter("state0", explicit_state(state, io.out, type, "GRUv3Cell"));
}

std::pair<State, Tensor> GRUv3CellImpl::step(const State& h, const Tensor& x) {
  auto gx = torch::matmul(as_batch(x), Wi.t()).chunk(3, -1);
  auto gh = torch::matmul(h.at(0), Wh.t()).chunk(2, -1);
  auto bs = b.chunk(3, 0);
  Tensor r = torch::sigmoid(gx[0] + gh[0] + bs[0]);
  Tensor z = torch::sigmoid(gx[1] + gh[1] + bs[1]);
  Tensor n = torch::tanh(gx[2] + torch::matmul(r * h.at(0), Wh_h.t()) + bs[2]);
  Tensor hn = (1 - z) * n + z * h.at(0);
  return {{hn}, hn};
}

void GRUv3CellImpl::pretty_print(std::ostream& os) const {
  os << "GRUv3Cell(" << in_features() << " => " << out_features() << ')';
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

std::shared_ptr<RNNCellImpl> RNNCell(InOut io, Activation act, RecurrentOptions o) {
  return std::make_shared<RNNCellImpl>(io, std::move(act), std::move(o));
}
std::shared_ptr<RNNCellImpl> RNNCell(Activation act, Tensor Wi, Tensor Wh, Tensor b, Tensor state0) {
  return std::make_shared<RNNCellImpl>(std::move(act), std::move(Wi), std::move(Wh), std::move(b), std::move(state0));
}
std::shared_ptr<LSTMCellImpl> LSTMCell(InOut io, RecurrentOptions o) { return std::make_shared<LSTMCellImpl>(io, std::move(o)); }
std::shared_ptr<LSTMCellImpl> LSTMCell(Tensor Wi, Tensor Wh, Tensor b, State state0) {
  return std::make_shared<LSTMCellImpl>(std::move(Wi), std::move(Wh), std::move(b), std::move(state0));
}
std::shared_ptr<GRUCellImpl> GRUCell(InOut io, RecurrentOptions o) { return std::make_shared<GRUCellImpl>(io, std::move(o)); }
std::shared_ptr<GRUCellImpl> GRUCell(Tensor Wi, Tensor Wh, Tensor b, Tensor state0) {
  return std::make_shared<GRUCellImpl>(std::move(Wi), std::move(Wh), std::move(b), std::move(state0));
}
std::shared_ptr<GRUv3CellImpl> GRUv3Cell(InOut io, RecurrentOptions o) { return std::make_shared<GRUv3CellImpl>(io, std::move(o)); }
std::shared_ptr<GRUv3CellImpl> GRUv3Cell(Tensor Wi, Tensor Wh, Tensor b, Tensor Wh_h, Tensor state0) {
  return std::make_shared<GRUv3CellImpl>(std::move(Wi), std::move(Wh), std::move(b), std::move(Wh_h), std::move(state0));
}

Recur RNN(InOut io, Activation act, RecurrentOptions o) { return Recur(RNNCell(io, std::move(act), std::move(o))); }
Recur LSTM(InOut io, RecurrentOptions o) { return Recur(LSTMCell(io, std::move(o))); }
Recur GRU(InOut io, RecurrentOptions o) { return Recur(GRUCell(io, std::move(o))); }
Recur GRUv3(InOut io, RecurrentOptions o) { return Recur(GRUv3Cell(io, std::move(o))); }

void reset(torch::nn::Module& m) {
  if (auto* r = dynamic_cast<RecurImpl*>(&m)) r->reset();
  for (auto& child : m.modules(/*include_self=*/false)) {
    if (auto* r = dynamic_cast<RecurImpl*>(child.get())) r->reset();
  }
}

}  // namespace flux
