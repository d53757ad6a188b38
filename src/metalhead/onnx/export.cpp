// export.cpp — export_onnx: the traced, folded TorchScript graph (inference/trace.h), each
// aten operator lowered to ONNX nodes, written with Debian's onnx_proto (libonnx-dev).
#include <metalhead/onnx.h>

#include <metalhead/atomic_file.h>
#include <metalhead/registry.h>

#include "../inference/trace.h"

#include <flux/chain.h>
#include <flux/layer.h>

#include <onnx/onnx_pb.h>
#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace metalhead {
namespace {

namespace jit = torch::jit;

[[noreturn]] void refuse(const std::string& why) { throw std::invalid_argument("export_onnx: " + why); }

std::string kind(const jit::Node* n) { return n->kind().toQualString(); }

// The first anonymous function layer (a user's lambda), with its position.
void find_lambda(const torch::nn::Module& m, const std::string& path, std::string& found) {
  if (!found.empty()) return;
  if (auto fn = dynamic_cast<const flux::FnImpl*>(&m)) {
    std::ostringstream name;
    fn->pretty_print(name);
    if (name.str().rfind('#', 0) == 0) found = "the function layer " + name.str() + " at " + path;
    return;
  }
  for (const auto& child : m.named_children()) find_lambda(*child.value(), path + "." + child.key(), found);
}

// Batch-proportional integers of the trace at batch 2, found against the trace at batch 3:
// for an integer list constant, per element, 0 (fixed) or a (the element is a · batch).
struct BatchScaling {
  std::unordered_map<const jit::Node*, std::vector<int64_t>> lists;
  std::unordered_map<const jit::Node*, bool> rows;  // a tensor constant: one row per image
};

std::optional<BatchScaling> batch_scaling(const jit::Graph& g2, const jit::Graph& g3) {
  BatchScaling s;
  std::vector<const jit::Node*> a(g2.nodes().begin(), g2.nodes().end()), b(g3.nodes().begin(), g3.nodes().end());
  if (a.size() != b.size()) return std::nullopt;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i]->kind() != b[i]->kind() || a[i]->inputs().size() != b[i]->inputs().size()) return std::nullopt;
    if (a[i]->kind() != jit::prim::Constant) continue;
    auto va = jit::toIValue(a[i]->output()), vb = jit::toIValue(b[i]->output());
    if (!va || !vb) continue;
    if (va->isIntList() && vb->isIntList()) {
      const auto x = va->toIntVector(), y = vb->toIntVector();
      if (x.size() != y.size()) return std::nullopt;
      std::vector<int64_t> m(x.size(), 0);
      bool any = false;
      for (size_t k = 0; k < x.size(); ++k) {
        if (x[k] == y[k]) continue;
        if (x[k] % 2 != 0 || y[k] != x[k] / 2 * 3) return std::nullopt;
        m[k] = x[k] / 2;
        any = true;
      }
      if (any) s.lists[a[i]] = m;
    } else if (va->isInt() && vb->isInt()) {
      if (va->toInt() != vb->toInt()) return std::nullopt;  // a lone batch-sized integer: not lowered
    } else if (va->isTensor() && vb->isTensor()) {
      const at::Tensor &x = va->toTensor(), &y = vb->toTensor();
      if (x.sizes() == y.sizes()) continue;
      if (x.dim() >= 1 && x.dim() == y.dim() && x.size(0) == 2 && y.size(0) == 3 &&
          x.sizes().slice(1) == y.sizes().slice(1) && at::equal(x[0].expand_as(x), x)) {
        s.rows[a[i]] = true;
      } else {
        return std::nullopt;
      }
    }
  }
  return s;
}

class Lowering {
 public:
  Lowering(onnx::GraphProto& g, int64_t opset, const BatchScaling* scaling)
      : g_(g), opset_(opset), scaling_(scaling) {}

  void input(const jit::Value* v, const std::string& name) { names_[v] = name; }

  // ---- names ----
  std::string fresh(const std::string& hint) { return hint + "_" + std::to_string(counter_++); }

  std::string initializer(const at::Tensor& t0, const std::string& hint) {
    at::Tensor t = t0.contiguous().cpu();
    auto* init = g_.add_initializer();
    const std::string name = fresh(hint);
    init->set_name(name);
    for (auto d : t.sizes()) init->add_dims(d);
    if (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble || t.scalar_type() == at::kHalf ||
        t.scalar_type() == at::kBFloat16) {
      t = t.to(at::kFloat);
      init->set_data_type(onnx::TensorProto::FLOAT);
    } else if (t.scalar_type() == at::kLong || t.scalar_type() == at::kInt) {
      t = t.to(at::kLong);
      init->set_data_type(onnx::TensorProto::INT64);
    } else if (t.scalar_type() == at::kBool) {
      init->set_data_type(onnx::TensorProto::BOOL);
    } else {
      refuse(std::string("a constant of dtype ") + c10::toString(t.scalar_type()) + " has no ONNX lowering here");
    }
    init->set_raw_data(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
    bytes_ += t.numel() * static_cast<int64_t>(t.element_size());
    return name;
  }
  std::string ints(const std::vector<int64_t>& v) { return initializer(at::tensor(v, at::kLong), "ints"); }
  std::string scalar(double v) { return initializer(at::scalar_tensor(v, at::kFloat), "scalar"); }

  // The ONNX name of a tensor value (constants become initializers once).
  std::string name(const jit::Value* v) {
    if (auto it = names_.find(v); it != names_.end()) return it->second;
    const jit::Node* n = v->node();
    if (n->kind() == jit::prim::Constant) {
      auto iv = jit::toIValue(v);
      if (iv && iv->isTensor()) {
        const at::Tensor t = iv->toTensor();
        std::string out;
        if (scaling_ && scaling_->rows.count(n)) {  // one row per image: a row expanded to the batch
          std::vector<int64_t> ones(static_cast<size_t>(t.dim() - 1), 1);
          out = emit("Expand", {initializer(t.narrow(0, 0, 1), "row"), shape_with_batch(ones)}, "rows");
        } else {
          out = initializer(t, "const");
        }
        return names_[v] = out;
      }
      if (iv && (iv->isDouble() || iv->isInt() || iv->isBool())) return names_[v] = scalar(iv->toScalar().toDouble());
    }
    refuse("the value " + v->debugName() + " (from " + kind(n) + ") is not a tensor the lowering knows");
  }

  // ---- constants of a node ----
  static c10::IValue constant(const jit::Value* v) {
    auto iv = jit::toIValue(v);
    if (!iv) refuse("an argument of " + kind(v->uses().empty() ? v->node() : v->uses()[0].user) + " is not constant");
    return *iv;
  }
  static std::vector<int64_t> int_list(const jit::Value* v) {
    auto iv = constant(v);
    if (iv.isInt()) return {iv.toInt()};
    return iv.toIntVector();
  }
  static bool is_none(const jit::Value* v) {
    auto iv = jit::toIValue(v);
    return iv && iv->isNone();
  }
  static int64_t rank(const jit::Value* v) {
    auto t = v->type()->cast<c10::TensorType>();
    if (!t || !t->dim()) refuse("the rank of " + v->debugName() + " is not known from the trace");
    return static_cast<int64_t>(*t->dim());
  }
  static std::vector<int64_t> sizes(const jit::Value* v) {
    auto t = v->type()->cast<c10::TensorType>();
    auto s = t ? t->sizes().concrete_sizes() : c10::nullopt;
    if (!s) refuse("the shape of " + v->debugName() + " is not known from the trace");
    return *s;
  }

  // ---- nodes ----
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out) {
    auto* n = g_.add_node();
    n->set_op_type(op);
    n->set_name(fresh(op));
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    ++ops_[op];
    return n;
  }
  std::string emit(const std::string& op, const std::vector<std::string>& in, const std::string& hint = "t") {
    const std::string out = fresh(hint);
    node(op, in, {out});
    return out;
  }
  static void attr(onnx::NodeProto* n, const std::string& key, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& key, float v) {
    auto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& key, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  static void attr(onnx::NodeProto* n, const std::string& key, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(key);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }

  // [batch] as a 1-element int64 tensor, from the input's shape (once).
  std::string batch() {
    if (batch_.empty()) {
      const std::string shape = emit("Shape", {"images"}, "shape");
      batch_ = emit("Slice", {shape, ints({0}), ints({1})}, "batch");
    }
    return batch_;
  }
  // [batch, rest...] as an int64 shape tensor.
  std::string shape_with_batch(const std::vector<int64_t>& rest) {
    if (!scaling_) {
      std::vector<int64_t> all{1};
      all.insert(all.end(), rest.begin(), rest.end());
      return ints(all);
    }
    auto* n = node("Concat", {batch(), ints(rest)}, {fresh("shape")});
    attr(n, "axis", int64_t{0});
    return n->output(0);
  }
  // An int-list constant as a shape tensor; entries proportional to the batch computed from it.
  // For Expand (`broadcast`), torch's -1 (keep the size) is ONNX's 1.
  // For Reshape of `reshaped`, a leading batch that is the input's own is ONNX's 0 (copy the
  // dimension), which OpenCV and TensorRT read without shape arithmetic.
  std::string shape_list(const jit::Value* v, bool broadcast = false, const jit::Value* reshaped = nullptr) {
    auto list = int_list(v);
    if (broadcast) {
      for (auto& d : list) d = d < 0 ? 1 : d;
    }
    const std::vector<int64_t>* scale = nullptr;
    if (scaling_) {
      if (auto it = scaling_->lists.find(v->node()); it != scaling_->lists.end()) scale = &it->second;
    }
    if (!scale) return ints(list);
    if (reshaped && (*scale)[0] == 1 && std::count((*scale).begin(), (*scale).end(), 0) + 1 == (int64_t)scale->size()) {
      auto t = reshaped->type()->cast<c10::TensorType>();
      auto s = t ? t->sizes().concrete_sizes() : c10::nullopt;
      if (s && !s->empty() && (*s)[0] == list[0]) {
        list[0] = 0;
        return ints(list);
      }
    }
    std::vector<std::string> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      if ((*scale)[i] == 0) {
        parts.push_back(ints({list[i]}));
      } else if ((*scale)[i] == 1) {
        parts.push_back(batch());
      } else {
        parts.push_back(emit("Mul", {batch(), ints({(*scale)[i]})}, "dim"));
      }
    }
    auto* n = node("Concat", parts, {fresh("shape")});
    attr(n, "axis", int64_t{0});
    return n->output(0);
  }

  void bind(const jit::Value* v, const std::string& name) { names_[v] = name; }
  const std::map<std::string, int64_t>& ops() const { return ops_; }
  int64_t bytes() const { return bytes_; }
  int64_t opset() const { return opset_; }
  std::unordered_map<const jit::Value*, std::vector<std::string>> lists;  // tensor lists

 private:
  onnx::GraphProto& g_;
  int64_t opset_;
  const BatchScaling* scaling_;
  std::unordered_map<const jit::Value*, std::string> names_;
  std::map<std::string, int64_t> ops_;
  std::string batch_;
  int64_t counter_ = 0, bytes_ = 0;
};

int64_t axis_of(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

// torch's one-element window lists stand for every spatial dimension; ONNX wants them all.
std::vector<int64_t> spatial(std::vector<int64_t> v, size_t dims) {
  if (v.size() == 1 && dims > 1) v.assign(dims, v[0]);
  return v;
}

// The elementwise operators that are one ONNX node of the same meaning.
const std::map<std::string, std::string> kUnary = {
    {"aten::relu", "Relu"}, {"aten::sigmoid", "Sigmoid"}, {"aten::tanh", "Tanh"},  {"aten::exp", "Exp"},
    {"aten::log", "Log"},   {"aten::sqrt", "Sqrt"},       {"aten::erf", "Erf"},    {"aten::neg", "Neg"},
    {"aten::abs", "Abs"},   {"aten::reciprocal", "Reciprocal"}};

// One aten node to ONNX. Returns false for a kind it has no lowering for.
bool lower(Lowering& L, const jit::Node* n) {
  const std::string k = kind(n);
  auto in = [&](size_t i) { return L.name(n->inputs()[i]); };
  auto out = [&](size_t i = 0) { return n->outputs()[i]; };
  auto unary = [&](const std::string& op) { L.bind(out(), L.emit(op, {in(0)})); };
  auto is = [&](std::initializer_list<const char*> names) {
    return std::any_of(names.begin(), names.end(), [&](const char* s) { return k == s; });
  };
  // Tensor or number operands of the arithmetic.
  auto operand = [&](size_t i) { return L.name(n->inputs()[i]); };

  if (is({"aten::_convolution", "aten::conv2d", "aten::conv1d"})) {
    const bool full = k == "aten::_convolution";
    const auto w = Lowering::sizes(n->inputs()[1]);
    const size_t dims = w.size() - 2;
    const auto stride = spatial(Lowering::int_list(n->inputs()[3]), dims),
               pad = spatial(Lowering::int_list(n->inputs()[4]), dims),
               dilation = spatial(Lowering::int_list(n->inputs()[5]), dims);
    const bool transposed = full && Lowering::constant(n->inputs()[6]).toBool();
    const int64_t groups = Lowering::constant(n->inputs()[full ? 8 : 6]).toInt();
    std::vector<std::string> ins{in(0), in(1)};
    if (!Lowering::is_none(n->inputs()[2])) ins.push_back(in(2));
    std::vector<int64_t> pads(pad);
    pads.insert(pads.end(), pad.begin(), pad.end());
    auto* c = L.node(transposed ? "ConvTranspose" : "Conv", ins, {L.fresh("conv")});
    Lowering::attr(c, "kernel_shape", std::vector<int64_t>(w.begin() + 2, w.end()));
    Lowering::attr(c, "strides", stride);
    Lowering::attr(c, "pads", pads);
    Lowering::attr(c, "dilations", dilation);
    Lowering::attr(c, "group", groups);
    if (transposed) Lowering::attr(c, "output_padding", spatial(Lowering::int_list(n->inputs()[7]), dims));
    L.bind(out(), c->output(0));
  } else if (k == "aten::batch_norm") {
    const auto c = Lowering::sizes(n->inputs()[0])[1];
    auto* b = L.node("BatchNormalization",
                     {in(0), Lowering::is_none(n->inputs()[1]) ? L.initializer(at::ones({c}), "gamma") : in(1),
                      Lowering::is_none(n->inputs()[2]) ? L.initializer(at::zeros({c}), "beta") : in(2), in(3), in(4)},
                     {L.fresh("bn")});
    Lowering::attr(b, "epsilon", static_cast<float>(Lowering::constant(n->inputs()[7]).toDouble()));
    L.bind(out(), b->output(0));
  } else if (k == "aten::layer_norm") {
    if (L.opset() < 17) refuse("LayerNorm needs opset 17 (LayerNormalization); opset " + std::to_string(L.opset()) + " asked");
    const auto shape = Lowering::int_list(n->inputs()[1]);
    const at::Tensor ones = at::ones(shape), zeros = at::zeros(shape);
    auto* ln = L.node("LayerNormalization",
                      {in(0), Lowering::is_none(n->inputs()[2]) ? L.initializer(ones, "gamma") : in(2),
                       Lowering::is_none(n->inputs()[3]) ? L.initializer(zeros, "beta") : in(3)},
                      {L.fresh("ln")});
    Lowering::attr(ln, "axis", -static_cast<int64_t>(shape.size()));
    Lowering::attr(ln, "epsilon", static_cast<float>(Lowering::constant(n->inputs()[4]).toDouble()));
    L.bind(out(), ln->output(0));
  } else if (k == "aten::group_norm") {
    // InstanceNormalization over [N, G, rest]: each group's statistics; then the affine.
    const int64_t groups = Lowering::constant(n->inputs()[1]).toInt();
    const auto s = Lowering::sizes(n->inputs()[0]);
    const std::string grouped = L.emit("Reshape", {in(0), L.ints({0, groups, -1})});
    auto* inorm = L.node("InstanceNormalization",
                         {grouped, L.initializer(at::ones({groups}), "ones"), L.initializer(at::zeros({groups}), "zeros")},
                         {L.fresh("gn")});
    Lowering::attr(inorm, "epsilon", static_cast<float>(Lowering::constant(n->inputs()[4]).toDouble()));
    std::string y = L.emit("Reshape", {inorm->output(0), L.emit("Shape", {in(0)})});
    std::vector<int64_t> affine(s.size() - 1, 1);
    affine[0] = s[1];
    if (!Lowering::is_none(n->inputs()[2])) y = L.emit("Mul", {y, L.emit("Reshape", {in(2), L.ints(affine)})});
    if (!Lowering::is_none(n->inputs()[3])) y = L.emit("Add", {y, L.emit("Reshape", {in(3), L.ints(affine)})});
    L.bind(out(), y);
  } else if (k == "aten::linear") {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    const bool bias = !Lowering::is_none(n->inputs()[2]);
    if (r == 2) {
      std::vector<std::string> ins{in(0), in(1)};
      if (bias) ins.push_back(in(2));
      auto* gemm = L.node("Gemm", ins, {L.fresh("gemm")});
      Lowering::attr(gemm, "transB", int64_t{1});
      L.bind(out(), gemm->output(0));
    } else {
      auto w = jit::toIValue(n->inputs()[1]);
      const std::string wt = w && w->isTensor() ? L.initializer(w->toTensor().t(), "weight_t")
                                                : [&] {
                                                    auto* t = L.node("Transpose", {in(1)}, {L.fresh("wt")});
                                                    Lowering::attr(t, "perm", std::vector<int64_t>{1, 0});
                                                    return t->output(0);
                                                  }();
      std::string y = L.emit("MatMul", {in(0), wt});
      if (bias) y = L.emit("Add", {y, in(2)});
      L.bind(out(), y);
    }
  } else if (is({"aten::matmul", "aten::bmm", "aten::mm"})) {
    L.bind(out(), L.emit("MatMul", {in(0), in(1)}));
  } else if (k == "aten::addmm") {
    auto* gemm = L.node("Gemm", {in(1), in(2), in(0)}, {L.fresh("gemm")});
    Lowering::attr(gemm, "beta", static_cast<float>(Lowering::constant(n->inputs()[3]).toScalar().toDouble()));
    Lowering::attr(gemm, "alpha", static_cast<float>(Lowering::constant(n->inputs()[4]).toScalar().toDouble()));
    L.bind(out(), gemm->output(0));
  } else if (auto op = kUnary.find(k.back() == '_' ? k.substr(0, k.size() - 1) : k); op != kUnary.end()) {
    unary(op->second);  // in place (relu_) or not, the same node
  } else if (k == "aten::rsqrt") {
    L.bind(out(), L.emit("Reciprocal", {L.emit("Sqrt", {in(0)})}));
  } else if (is({"aten::hardswish", "aten::hardswish_"})) {
    unary("HardSwish");
  } else if (is({"aten::hardsigmoid", "aten::hardsigmoid_"})) {
    auto* h = L.node("HardSigmoid", {in(0)}, {L.fresh("hsig")});
    Lowering::attr(h, "alpha", 1.0f / 6);
    Lowering::attr(h, "beta", 0.5f);
    L.bind(out(), h->output(0));
  } else if (is({"aten::silu", "aten::silu_"})) {
    L.bind(out(), L.emit("Mul", {in(0), L.emit("Sigmoid", {in(0)})}));
  } else if (k == "aten::mish") {
    L.bind(out(), L.emit("Mul", {in(0), L.emit("Tanh", {L.emit("Softplus", {in(0)})})}));
  } else if (is({"aten::gelu", "aten::gelu_"})) {
    const std::string approx = n->inputs().size() > 1 ? Lowering::constant(n->inputs()[1]).toStringRef() : "none";
    const std::string x = in(0);
    std::string inner;
    if (approx == "tanh") {  // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
      const std::string cube = L.emit("Mul", {x, L.emit("Mul", {x, x})});
      inner = L.emit("Tanh", {L.emit("Mul", {L.emit("Add", {x, L.emit("Mul", {cube, L.scalar(0.044715)})}),
                                             L.scalar(std::sqrt(2.0 / M_PI))})});
    } else {  // 0.5 x (1 + erf(x / √2))
      inner = L.emit("Erf", {L.emit("Mul", {x, L.scalar(M_SQRT1_2)})});
    }
    L.bind(out(), L.emit("Mul", {L.emit("Mul", {x, L.scalar(0.5)}), L.emit("Add", {inner, L.scalar(1.0)})}));
  } else if (is({"aten::hardtanh", "aten::hardtanh_", "aten::clamp", "aten::clamp_", "aten::relu6", "aten::relu6_"})) {
    double lo = 0, hi = 6;
    bool has_lo = true, has_hi = true;
    if (k.rfind("aten::relu6", 0) != 0) {
      auto a = jit::toIValue(n->inputs()[1]), b = jit::toIValue(n->inputs()[2]);
      has_lo = a && !a->isNone();
      has_hi = b && !b->isNone();
      if (has_lo) lo = a->toScalar().toDouble();
      if (has_hi) hi = b->toScalar().toDouble();
    }
    L.bind(out(), L.emit("Clip", {in(0), has_lo ? L.scalar(lo) : "", has_hi ? L.scalar(hi) : ""}));
  } else if (is({"aten::leaky_relu", "aten::leaky_relu_"})) {
    auto* r = L.node("LeakyRelu", {in(0)}, {L.fresh("lrelu")});
    Lowering::attr(r, "alpha", static_cast<float>(Lowering::constant(n->inputs()[1]).toScalar().toDouble()));
    L.bind(out(), r->output(0));
  } else if (is({"aten::elu", "aten::elu_"})) {
    auto* r = L.node("Elu", {in(0)}, {L.fresh("elu")});
    Lowering::attr(r, "alpha", static_cast<float>(Lowering::constant(n->inputs()[1]).toScalar().toDouble()));
    L.bind(out(), r->output(0));
  } else if (k == "aten::softplus") {
    if (Lowering::constant(n->inputs()[1]).toScalar().toDouble() != 1) return false;
    unary("Softplus");
  } else if (is({"aten::softmax", "aten::log_softmax"})) {
    auto* s = L.node(k == "aten::softmax" ? "Softmax" : "LogSoftmax", {in(0)}, {L.fresh("softmax")});
    Lowering::attr(s, "axis", Lowering::constant(n->inputs()[1]).toInt());
    L.bind(out(), s->output(0));
  } else if (is({"aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::rsub"})) {
    std::string b = operand(1);
    if (n->inputs().size() > 2) {
      const double alpha = Lowering::constant(n->inputs()[2]).toScalar().toDouble();
      if (alpha != 1) b = L.emit("Mul", {b, L.scalar(alpha)});
    }
    if (k == "aten::rsub") {
      L.bind(out(), L.emit("Sub", {b, operand(0)}));
    } else {
      L.bind(out(), L.emit(k.find("add") != std::string::npos ? "Add" : "Sub", {operand(0), b}));
    }
  } else if (is({"aten::mul", "aten::mul_"})) {
    L.bind(out(), L.emit("Mul", {operand(0), operand(1)}));
  } else if (is({"aten::div", "aten::div_"})) {
    if (n->inputs().size() > 2 && !Lowering::is_none(n->inputs()[2])) return false;  // rounding modes
    L.bind(out(), L.emit("Div", {operand(0), operand(1)}));
  } else if (k == "aten::pow") {
    L.bind(out(), L.emit("Pow", {operand(0), operand(1)}));
  } else if (is({"aten::maximum", "aten::minimum"})) {
    L.bind(out(), L.emit(k == "aten::maximum" ? "Max" : "Min", {in(0), in(1)}));
  } else if (is({"aten::max_pool2d", "aten::max_pool2d_with_indices", "aten::avg_pool2d"})) {
    const bool avg = k == "aten::avg_pool2d";
    const auto kernel = spatial(Lowering::int_list(n->inputs()[1]), 2);
    auto stride = spatial(Lowering::int_list(n->inputs()[2]), 2);
    if (stride.empty()) stride = kernel;
    const auto pad = spatial(Lowering::int_list(n->inputs()[3]), 2);
    std::vector<int64_t> pads(pad);
    pads.insert(pads.end(), pad.begin(), pad.end());
    std::string x = in(0);
    const bool padded = std::any_of(pad.begin(), pad.end(), [](int64_t v) { return v != 0; });
    const bool include_pad = avg && Lowering::constant(n->inputs()[5]).toBool();
    if (include_pad && padded) {
      // The zeros counted in the average, as an explicit Pad: readers differ on
      // count_include_pad (OpenCV's importer decides it by the producer's name).
      std::vector<int64_t> full(8, 0);
      full[2] = pad[0], full[3] = pad[1], full[6] = pad[0], full[7] = pad[1];
      x = L.emit("Pad", {x, L.ints(full), L.scalar(0)});
      pads.assign(4, 0);
    }
    auto* p = L.node(avg ? "AveragePool" : "MaxPool", {x}, {L.fresh("pool")});
    Lowering::attr(p, "kernel_shape", kernel);
    Lowering::attr(p, "strides", stride);
    Lowering::attr(p, "pads", pads);
    if (avg) {
      Lowering::attr(p, "ceil_mode", static_cast<int64_t>(Lowering::constant(n->inputs()[4]).toBool()));
      // On the padded map, windows that ceil_mode runs past the edge average what they cover, as torch's do.
      Lowering::attr(p, "count_include_pad", int64_t{0});
      if (n->inputs().size() > 6 && !Lowering::is_none(n->inputs()[6])) return false;
    } else {
      const auto dilation = spatial(Lowering::int_list(n->inputs()[4]), 2);
      Lowering::attr(p, "dilations", dilation);
      Lowering::attr(p, "ceil_mode", static_cast<int64_t>(Lowering::constant(n->inputs()[5]).toBool()));
    }
    L.bind(out(), p->output(0));
  } else if (is({"aten::adaptive_avg_pool2d", "aten::adaptive_max_pool2d", "aten::adaptive_avg_pool1d"})) {
    const bool avg = k != "aten::adaptive_max_pool2d";
    const auto size = Lowering::int_list(n->inputs()[1]);
    const auto s = Lowering::sizes(n->inputs()[0]);
    if (std::all_of(size.begin(), size.end(), [](int64_t v) { return v == 1; })) {
      L.bind(out(), L.emit(avg ? "GlobalAveragePool" : "GlobalMaxPool", {in(0)}));
    } else {
      // Whole factors pool with a fixed window (the identity where the size already is the
      // output's); otherwise an average is linear: per spatial dimension a matrix whose row
      // i averages torch's bin [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
      std::vector<int64_t> kernel;
      bool whole = true;
      for (size_t i = 0; i < size.size(); ++i) {
        const int64_t from = s[s.size() - size.size() + i];
        whole = whole && from % size[i] == 0;
        kernel.push_back(whole ? from / size[i] : 0);
      }
      if (whole) {
        auto* p = L.node(avg ? "AveragePool" : "MaxPool", {in(0)}, {L.fresh("pool")});
        Lowering::attr(p, "kernel_shape", kernel);
        Lowering::attr(p, "strides", kernel);
        L.bind(out(), p->output(0));
      } else {
        if (!avg || size.size() != 2) {
          refuse("an adaptive max pool to a size that does not divide its input has no ONNX lowering; export at "
                 "another input size");
        }
        auto bins = [](int64_t from, int64_t to) {
          at::Tensor a = at::zeros({to, from});
          for (int64_t i = 0; i < to; ++i) {
            const int64_t start = i * from / to, end = ((i + 1) * from + to - 1) / to;
            a[i].narrow(0, start, end - start).fill_(1.0 / static_cast<double>(end - start));
          }
          return a;
        };
        // x·Bwᵀ over W, then the same over H between two transposes: the constant stays the
        // second operand, which is the form OpenCV's importer takes.
        const int64_t h = s[s.size() - 2], w = s[s.size() - 1];
        const std::string cols = L.emit("MatMul", {in(0), L.initializer(bins(w, size[1]).t(), "pool_w")});
        auto* t = L.node("Transpose", {cols}, {L.fresh("tr")});
        Lowering::attr(t, "perm", std::vector<int64_t>{0, 1, 3, 2});
        const std::string rows = L.emit("MatMul", {t->output(0), L.initializer(bins(h, size[0]).t(), "pool_h")});
        auto* back = L.node("Transpose", {rows}, {L.fresh("tr")});
        Lowering::attr(back, "perm", std::vector<int64_t>{0, 1, 3, 2});
        L.bind(out(), back->output(0));
      }
    }
  } else if (k == "aten::flatten") {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    const int64_t start = axis_of(Lowering::constant(n->inputs()[1]).toInt(), r),
                  end = axis_of(Lowering::constant(n->inputs()[2]).toInt(), r);
    if (end == r - 1) {
      auto* f = L.node("Flatten", {in(0)}, {L.fresh("flat")});
      Lowering::attr(f, "axis", start);
      L.bind(out(), f->output(0));
      if (start != 1 && start != 0) {
        // Flatten makes 2-D; [d0, ..., d(start-1), rest] needs a Reshape with 0s.
        std::vector<int64_t> shape(static_cast<size_t>(start), 0);
        shape.push_back(-1);
        L.bind(out(), L.emit("Reshape", {in(0), L.ints(shape)}));
      }
    } else {
      std::vector<int64_t> shape(static_cast<size_t>(start), 0);
      shape.push_back(-1);
      const auto s = Lowering::sizes(n->inputs()[0]);
      for (int64_t d = end + 1; d < r; ++d) shape.push_back(s[static_cast<size_t>(d)]);
      L.bind(out(), L.emit("Reshape", {in(0), L.ints(shape)}));
    }
  } else if (is({"aten::view", "aten::reshape"})) {
    L.bind(out(), L.emit("Reshape", {in(0), L.shape_list(n->inputs()[1], false, n->inputs()[0])}));
  } else if (k == "aten::permute") {
    auto* t = L.node("Transpose", {in(0)}, {L.fresh("perm")});
    auto perm = Lowering::int_list(n->inputs()[1]);
    const int64_t r = static_cast<int64_t>(perm.size());
    for (auto& p : perm) p = axis_of(p, r);
    Lowering::attr(t, "perm", perm);
    L.bind(out(), t->output(0));
  } else if (is({"aten::transpose", "aten::t"})) {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    std::vector<int64_t> perm(static_cast<size_t>(r));
    for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = i;
    int64_t a = r - 2, b = r - 1;
    if (k == "aten::transpose") {
      a = axis_of(Lowering::constant(n->inputs()[1]).toInt(), r);
      b = axis_of(Lowering::constant(n->inputs()[2]).toInt(), r);
    }
    if (r < 2) {
      L.bind(out(), in(0));
      return true;
    }
    std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
    auto* t = L.node("Transpose", {in(0)}, {L.fresh("tr")});
    Lowering::attr(t, "perm", perm);
    L.bind(out(), t->output(0));
  } else if (is({"aten::contiguous", "aten::clone", "aten::detach", "aten::dropout", "aten::feature_dropout",
                 "aten::alpha_dropout", "aten::to", "aten::type_as"})) {
    if (k == "aten::to") {
      auto t = n->outputs()[0]->type()->cast<c10::TensorType>();
      if (t && t->scalarType() && *t->scalarType() != at::kFloat) return false;
    }
    L.bind(out(), in(0));
  } else if (k == "aten::unsqueeze") {
    L.bind(out(), L.emit("Unsqueeze", {in(0), L.ints({axis_of(Lowering::constant(n->inputs()[1]).toInt(),
                                                            Lowering::rank(n->inputs()[0]) + 1)})}));
  } else if (k == "aten::squeeze") {
    if (n->inputs().size() < 2) {
      L.bind(out(), L.emit("Squeeze", {in(0)}));
    } else {
      L.bind(out(), L.emit("Squeeze", {in(0), L.ints({axis_of(Lowering::constant(n->inputs()[1]).toInt(),
                                                            Lowering::rank(n->inputs()[0]))})}));
    }
  } else if (k == "aten::expand") {
    // Batch-proportional sizes come from the input's batch.
    L.bind(out(), L.emit("Expand", {in(0), L.shape_list(n->inputs()[1], /*broadcast=*/true)}));
  } else if (is({"aten::cat", "aten::stack"})) {
    const jit::Value* list = n->inputs()[0];
    if (list->node()->kind() != jit::prim::ListConstruct) return false;
    std::vector<std::string> parts;
    const int64_t r = Lowering::rank(list->node()->inputs()[0]) + (k == "aten::stack" ? 1 : 0);
    const int64_t axis = axis_of(Lowering::constant(n->inputs()[1]).toInt(), r);
    for (const jit::Value* v : list->node()->inputs()) {
      parts.push_back(k == "aten::stack" ? L.emit("Unsqueeze", {L.name(v), L.ints({axis})}) : L.name(v));
    }
    auto* c = L.node("Concat", parts, {L.fresh("cat")});
    Lowering::attr(c, "axis", axis);
    L.bind(out(), c->output(0));
  } else if (k == "aten::slice") {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    const int64_t dim = axis_of(Lowering::constant(n->inputs()[1]).toInt(), r);
    auto start = jit::toIValue(n->inputs()[2]), end = jit::toIValue(n->inputs()[3]);
    const int64_t s = start && !start->isNone() ? start->toInt() : 0;
    int64_t e = end && !end->isNone() ? end->toInt() : std::numeric_limits<int64_t>::max();
    const int64_t step = Lowering::constant(n->inputs()[4]).toInt();
    L.bind(out(), L.emit("Slice", {in(0), L.ints({s}), L.ints({e}), L.ints({dim}), L.ints({step})}));
  } else if (k == "aten::narrow") {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    const int64_t dim = axis_of(Lowering::constant(n->inputs()[1]).toInt(), r);
    const int64_t start = Lowering::constant(n->inputs()[2]).toInt(), len = Lowering::constant(n->inputs()[3]).toInt();
    L.bind(out(), L.emit("Slice", {in(0), L.ints({start}), L.ints({start + len}), L.ints({dim})}));
  } else if (k == "aten::index_select") {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    auto* gth = L.node("Gather", {in(0), in(2)}, {L.fresh("index_select")});
    Lowering::attr(gth, "axis", axis_of(Lowering::constant(n->inputs()[1]).toInt(), r));
    L.bind(out(), gth->output(0));
  } else if (k == "aten::select") {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    auto* gth = L.node("Gather", {in(0), L.initializer(at::scalar_tensor(Lowering::constant(n->inputs()[2]).toInt(), at::kLong), "index")},
                       {L.fresh("select")});
    Lowering::attr(gth, "axis", axis_of(Lowering::constant(n->inputs()[1]).toInt(), r));
    L.bind(out(), gth->output(0));
  } else if (is({"aten::unbind", "aten::chunk", "aten::split", "aten::split_with_sizes"})) {
    // A list of pieces along a dimension; prim::ListUnpack hands them out.
    const auto s = Lowering::sizes(n->inputs()[0]);
    const int64_t r = static_cast<int64_t>(s.size());
    const int64_t dim = axis_of(Lowering::constant(n->inputs()[k == "aten::unbind" ? 1 : 2]).toInt(), r);
    const int64_t len = s[static_cast<size_t>(dim)];
    std::vector<int64_t> pieces;
    if (k == "aten::unbind") {
      pieces.assign(static_cast<size_t>(len), 1);
    } else if (k == "aten::chunk") {
      const int64_t c = Lowering::constant(n->inputs()[1]).toInt(), each = (len + c - 1) / c;
      for (int64_t at = 0; at < len; at += each) pieces.push_back(std::min(each, len - at));
    } else if (k == "aten::split") {
      auto v = Lowering::constant(n->inputs()[1]);
      if (v.isInt()) {
        for (int64_t at = 0; at < len; at += v.toInt()) pieces.push_back(std::min(v.toInt(), len - at));
      } else {
        pieces = v.toIntVector();
      }
    } else {
      pieces = Lowering::int_list(n->inputs()[1]);
    }
    std::vector<std::string> outs;
    for (size_t i = 0; i < pieces.size(); ++i) outs.push_back(L.fresh("piece"));
    auto* sp = L.node("Split", {in(0), L.ints(pieces)}, outs);
    Lowering::attr(sp, "axis", dim);
    if (k == "aten::unbind") {
      for (auto& o : outs) o = L.emit("Squeeze", {o, L.ints({dim})});
    }
    L.lists[out()] = outs;
  } else if (k == "prim::ListUnpack") {
    auto it = L.lists.find(n->inputs()[0]);
    if (it == L.lists.end() || it->second.size() != n->outputs().size()) return false;
    for (size_t i = 0; i < n->outputs().size(); ++i) L.bind(out(i), it->second[i]);
  } else if (k == "aten::pixel_shuffle") {
    auto* d = L.node("DepthToSpace", {in(0)}, {L.fresh("shuffle")});
    Lowering::attr(d, "blocksize", Lowering::constant(n->inputs()[1]).toInt());
    Lowering::attr(d, "mode", std::string("CRD"));
    L.bind(out(), d->output(0));
  } else if (is({"aten::upsample_nearest2d", "aten::upsample_bilinear2d"})) {
    const bool nearest = k == "aten::upsample_nearest2d";
    const auto from = Lowering::sizes(n->inputs()[0]), to = Lowering::sizes(out());
    if (!nearest && Lowering::constant(n->inputs()[2]).toBool()) return false;  // align_corners
    std::vector<float> scales{1, 1, static_cast<float>(to[2]) / from[2], static_cast<float>(to[3]) / from[3]};
    auto* rs = L.node("Resize", {in(0), "", L.initializer(at::tensor(scales), "scales")}, {L.fresh("resize")});
    Lowering::attr(rs, "mode", std::string(nearest ? "nearest" : "linear"));
    Lowering::attr(rs, "coordinate_transformation_mode", std::string(nearest ? "asymmetric" : "half_pixel"));
    if (nearest) Lowering::attr(rs, "nearest_mode", std::string("floor"));
    L.bind(out(), rs->output(0));
  } else if (k == "aten::constant_pad_nd") {
    const auto pad = Lowering::int_list(n->inputs()[1]);
    const int64_t r = Lowering::rank(n->inputs()[0]);
    std::vector<int64_t> pads(static_cast<size_t>(2 * r), 0);
    for (size_t i = 0; i + 1 < pad.size() + 1 && i / 2 < static_cast<size_t>(r); i += 2) {
      const int64_t d = r - 1 - static_cast<int64_t>(i / 2);
      pads[static_cast<size_t>(d)] = pad[i];
      pads[static_cast<size_t>(d + r)] = pad[i + 1];
    }
    const double value = Lowering::constant(n->inputs()[2]).toScalar().toDouble();
    L.bind(out(), L.emit("Pad", {in(0), L.ints(pads), L.scalar(value)}));
  } else if (is({"aten::mean", "aten::sum", "aten::amax"})) {
    const int64_t r = Lowering::rank(n->inputs()[0]);
    std::vector<int64_t> axes = n->inputs().size() > 1 ? Lowering::int_list(n->inputs()[1]) : std::vector<int64_t>{};
    for (auto& a : axes) a = axis_of(a, r);
    const bool keep = n->inputs().size() > 2 && Lowering::constant(n->inputs()[2]).toBool();
    if (k == "aten::sum") {
      std::vector<std::string> ins{in(0)};
      if (!axes.empty()) ins.push_back(L.ints(axes));
      auto* s = L.node("ReduceSum", ins, {L.fresh("sum")});
      Lowering::attr(s, "keepdims", static_cast<int64_t>(keep));
      L.bind(out(), s->output(0));
    } else {
      auto* m = L.node(k == "aten::mean" ? "ReduceMean" : "ReduceMax", {in(0)}, {L.fresh("reduce")});
      if (!axes.empty()) Lowering::attr(m, "axes", axes);
      Lowering::attr(m, "keepdims", static_cast<int64_t>(keep));
      L.bind(out(), m->output(0));
    }
  } else if (is({"aten::norm", "aten::linalg_vector_norm"})) {
    // The 2-norm over the given axes (Swin V2's cosine attention).
    auto p = jit::toIValue(n->inputs()[1]);
    if (!p || (!p->isNone() && p->toScalar().toDouble() != 2)) return false;
    const int64_t r = Lowering::rank(n->inputs()[0]);
    std::vector<int64_t> axes = Lowering::int_list(n->inputs()[2]);
    for (auto& a : axes) a = axis_of(a, r);
    auto* m = L.node("ReduceL2", {in(0)}, {L.fresh("norm")});
    Lowering::attr(m, "axes", axes);
    Lowering::attr(m, "keepdims", static_cast<int64_t>(Lowering::constant(n->inputs()[3]).toBool()));
    L.bind(out(), m->output(0));
  } else if (is({"aten::clamp_min", "aten::clamp_max"})) {
    const std::string bound = L.scalar(Lowering::constant(n->inputs()[1]).toScalar().toDouble());
    L.bind(out(), L.emit("Clip", {in(0), k == "aten::clamp_min" ? bound : "", k == "aten::clamp_max" ? bound : ""}));
  } else if (k == "aten::roll") {
    // A cyclic shift per dimension: the last `shift` entries moved to the front, as two
    // Slices and a Concat.
    const auto sizes = Lowering::sizes(n->inputs()[0]);
    const auto shifts = Lowering::int_list(n->inputs()[1]), dims = Lowering::int_list(n->inputs()[2]);
    if (shifts.size() != dims.size()) return false;
    std::string x = in(0);
    for (size_t i = 0; i < dims.size(); ++i) {
      const int64_t d = axis_of(dims[i], static_cast<int64_t>(sizes.size()));
      const int64_t len = sizes[static_cast<size_t>(d)];
      const int64_t shift = ((shifts[i] % len) + len) % len;
      if (shift == 0) continue;
      const std::string tail = L.emit("Slice", {x, L.ints({len - shift}), L.ints({len}), L.ints({d})});
      const std::string head = L.emit("Slice", {x, L.ints({0}), L.ints({len - shift}), L.ints({d})});
      auto* c = L.node("Concat", {tail, head}, {L.fresh("roll")});
      Lowering::attr(c, "axis", d);
      x = c->output(0);
    }
    L.bind(out(), x);
  } else {
    return false;
  }
  return true;
}

}  // namespace

OnnxReport export_onnx(const Model& model, const std::filesystem::path& path, const OnnxOptions& o) {
  if (!model) refuse("the model is empty");
  const std::string who = "export_onnx(" + model->type_name + ")";
  if (o.opset < 13 || o.opset > 17) {
    refuse("opset " + std::to_string(o.opset) + " is outside 13 to 17 (what this exporter writes and checks)");
  }
  std::string lambda;
  find_lambda(*model.ptr(), "model", lambda);
  if (!lambda.empty()) {
    refuse(lambda + " has no ONNX lowering: a function layer without a name is a user's lambda, whose operations "
           "are not known; give it a name (flux::fn(\"name\", f)) if it is made of torch operations");
  }
  const ModelInfo* row = nullptr;
  const std::string row_name = !o.registry_name.empty() ? o.registry_name : model->row;
  if (!row_name.empty() && is_registered(row_name)) row = &model_info(row_name);
  std::vector<int64_t> hw = o.input_size;
  if (hw.empty()) hw = row ? std::vector<int64_t>{row->pretrained.input_size[1], row->pretrained.input_size[2]}
                           : std::vector<int64_t>{224, 224};
  if (hw.size() != 2 || hw[0] < 1 || hw[1] < 1) refuse("input_size must be [H, W], got " + flux::shape_string(hw));

  // The graph at batch 2 (checked against batch 3 for what scales with the batch), or at 1.
  auto image = [&](int64_t n) {
    return torch::randn({n, model->inchannels, hw[0], hw[1]}, torch::TensorOptions().dtype(torch::kFloat));
  };
  at::NoGradGuard no_grad;
  std::shared_ptr<jit::Graph> g;
  std::optional<BatchScaling> scaling;
  if (o.dynamic_batch) {
    g = inference::trace(*model.ptr(), image(2));
    auto g3 = inference::trace(*model.ptr(), image(3));
    scaling = batch_scaling(*g, *g3);
    if (!scaling) {
      refuse("the " + model->type_name + "'s traced graph changes with the batch size in a way this exporter cannot "
             "make symbolic; export with a static batch (dynamic_batch = false, --static-batch)");
    }
  } else {
    g = inference::trace(*model.ptr(), image(1));
  }
  int64_t bn_before = 0, bn_after = 0;
  for (const jit::Node* n : g->nodes()) bn_before += kind(n) == "aten::batch_norm";
  {
    // Folding replaces constants: the batch-scaling table is keyed by nodes, which it keeps
    // for what it does not fold (shape lists and tensors other than weights).
    inference::fold(g);
  }
  for (const jit::Node* n : g->nodes()) bn_after += kind(n) == "aten::batch_norm";

  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("metalhead.cpp");
  m.set_producer_version(METALHEAD_VERSION);
  m.set_model_version(1);
  m.set_doc_string(model->type_name + " exported by metalhead.cpp");
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(o.opset);
  auto meta = [&](const std::string& key, const std::string& value) {
    auto* p = m.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  };
  auto list = [](const auto& v) {
    std::ostringstream s;
    s.precision(9);
    s << '[';
    for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
    s << ']';
    return s.str();
  };
  meta("model", model->type_name);
  if (row) meta("registry_name", row->name);
  std::vector<double> mean = o.mean, stdv = o.std;
  if (mean.empty() && row) mean.assign(row->pretrained.mean.begin(), row->pretrained.mean.end());
  if (stdv.empty() && row) stdv.assign(row->pretrained.std.begin(), row->pretrained.std.end());
  if (!mean.empty()) meta("mean", list(mean));
  if (!stdv.empty()) meta("std", list(stdv));
  meta("input_size", list(std::vector<int64_t>{model->inchannels, hw[0], hw[1]}));

  onnx::GraphProto& graph = *m.mutable_graph();
  graph.set_name(row ? row->name : model->type_name);
  auto declare = [&](onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& rest) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = t->mutable_shape();
    auto* b = shape->add_dim();
    if (o.dynamic_batch) b->set_dim_param("batch");
    else b->set_dim_value(1);
    for (auto d : rest) shape->add_dim()->set_dim_value(d);
  };
  declare(graph.add_input(), "images", {model->inchannels, hw[0], hw[1]});

  Lowering L(graph, o.opset, scaling ? &*scaling : nullptr);
  if (g->inputs().size() != 1 || g->outputs().size() != 1) refuse("expected one input and one output in the trace");
  L.input(g->inputs()[0], "images");
  for (const jit::Node* n : g->nodes()) {
    const std::string k = kind(n);
    if (k == "prim::Constant" || k == "prim::ListConstruct") continue;  // taken by their users
    if (!lower(L, n)) {
      refuse("the operation " + k + " in " + model->type_name +
             " has no ONNX lowering (the traced operation whose output is %" + n->outputs()[0]->debugName() + ")");
    }
  }
  const std::string result = L.name(g->outputs()[0]);
  // The output under its own name.
  L.node("Identity", {result}, {"logits"});
  const auto out_sizes = [&] {
    auto t = g->outputs()[0]->type()->cast<c10::TensorType>();
    auto s = t ? t->sizes().concrete_sizes() : c10::nullopt;
    return s ? std::vector<int64_t>(s->begin() + 1, s->end()) : std::vector<int64_t>{};
  }();
  declare(graph.add_output(), "logits", out_sizes);

  std::string bytes;
  if (!m.SerializeToString(&bytes)) refuse("the ONNX protobuf could not be serialised (over 2 GB?)");
  AtomicFile f(path, who);
  f.write(bytes.data(), bytes.size());
  f.commit();
  OnnxReport r;
  r.nodes = graph.node_size();
  r.initializers = graph.initializer_size();
  r.bytes = static_cast<int64_t>(bytes.size());
  r.ops = L.ops();
  r.folded_batchnorms = bn_before - bn_after;
  return r;
}

}  // namespace metalhead
