#include "engine.h"

#include "kernels.h"

#include <ATen/ATen.h>
#include <flux/threads.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/operator.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace metalhead::inference {
namespace {

namespace jit = torch::jit;
using md_t = dnnl::memory::desc;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using alg = dnnl::algorithm;

dnnl::engine& cpu() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory::dims dims_of(at::IntArrayRef a) { return {a.begin(), a.end()}; }

dt dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return dt::f32;
    case at::kBFloat16: return dt::bf16;
    default: return dt::undef;
  }
}

tag plain_tag(size_t ndims) {
  switch (ndims) {
    case 1: return tag::a;
    case 2: return tag::ab;
    case 3: return tag::abc;
    case 4: return tag::abcd;
    case 5: return tag::abcde;
    default: return tag::abcdef;
  }
}

// A value while the graph runs: a non-tensor or a plain (strided) tensor in `value`,
// and/or the same tensor in a oneDNN layout (`buffer`, bytes, laid out as `md`).
struct Slot {
  c10::IValue value;
  at::Tensor buffer;
  md_t md;
  bool reserved = false;  // `buffer` is storage set aside for a concatenation not yet made
  bool has_buffer() const { return buffer.defined(); }
  bool has_plain() const { return value.isTensor(); }
};
using SlotPtr = std::shared_ptr<Slot>;
using Frame = std::vector<SlotPtr>;

// The named layout `d` is in (of the 4-d ones the engine makes), or undef.
tag tag_of(const md_t& d) {
  for (tag t : {tag::abcd, tag::acdb, tag::aBcd16b, tag::aBcd8b, tag::aBcd4b}) {
    if (d == md_t(d.dims(), d.data_type(), t)) return t;
  }
  return tag::undef;
}

md_t desc_of(const at::Tensor& t) { return md_t(dims_of(t.sizes()), dtype_of(t.scalar_type()), dims_of(t.strides())); }

dnnl::memory memory_of(const md_t& md, const at::Tensor& storage) {
  return dnnl::memory(md, cpu(), storage.data_ptr());
}

// A run's activations from one planned block of memory. The first run after the build
// records each allocation's size and lifetime; buffers are then placed by size, largest
// first, each at the lowest offset clear of those living at the same time (the plan ONNX
// Runtime and TFLite make), and later runs take allocation k at offset k. glibc's heap
// spread EfficientNet-B0's 16 large buffers of a run (15.6 MB) over 69 MB of addresses,
// which with the weights passes the 32 MB L3. A run that allocates otherwise than the
// recorded one (it should not: the steps are the same) gets glibc's memory from there on.
class Arena {
 public:
  at::Tensor take(size_t n) {
    if (mode_ == Mode::replay) {
      if (next_ < plan_.size() && sizes_[next_] == n) {
        return at::from_blob(static_cast<char*>(block_.get()) + plan_[next_++], {static_cast<int64_t>(n)},
                             [keep = block_](void*) {}, at::kByte);
      }
      mode_ = Mode::off;
    }
    if (mode_ != Mode::record) return at::empty({static_cast<int64_t>(n)}, at::kByte);
    const size_t k = sizes_.size();
    sizes_.push_back(n);
    born_.push_back(clock_++);
    died_.push_back(SIZE_MAX);
    void* p = aligned(n);
    return at::from_blob(p, {static_cast<int64_t>(n)}, [this, k](void* q) {
      died_[k] = clock_++;
      std::free(q);
    }, at::kByte);
  }
  // Around each run (the build's is not recorded: it reorders weights and makes primitives).
  void begin(bool built) {
    next_ = 0;
    if (built && mode_ == Mode::waiting) mode_ = Mode::record;
  }
  void end() {
    if (mode_ == Mode::replay && next_ != plan_.size()) mode_ = Mode::off;
    if (mode_ == Mode::record) place();
  }
  // glibc's memory from now on (after a run that failed part way).
  void stop() { mode_ = Mode::off; }

 private:
  static void* aligned(size_t n) {  // (64 bytes, as oneDNN's kernels like it)
    void* p = std::aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }

  void place() {
    mode_ = Mode::off;
    if (sizes_.empty() || std::count(died_.begin(), died_.end(), SIZE_MAX) > 0) return;  // a buffer outlived its run
    std::vector<size_t> order(sizes_.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes_[a] > sizes_[b]; });
    plan_.assign(sizes_.size(), 0);
    std::vector<size_t> placed;
    size_t total = 0;
    for (const size_t k : order) {
      std::vector<std::pair<size_t, size_t>> taken;  // address ranges of buffers alive with k
      for (const size_t j : placed) {
        if (born_[j] < died_[k] && born_[k] < died_[j]) taken.emplace_back(plan_[j], plan_[j] + sizes_[j]);
      }
      std::sort(taken.begin(), taken.end());
      size_t at = 0;
      for (const auto& [from, to] : taken) {
        if (at + sizes_[k] <= from) break;
        at = std::max(at, (to + 63) / 64 * 64);
      }
      plan_[k] = at;
      placed.push_back(k);
      total = std::max(total, at + sizes_[k]);
    }
    // Only a block that stays in cache pays (EfficientNet-B0 at batch 1: 6 MB; at 16, 96 MB
    // and 4% slower than glibc's heap), and a large one would add to the peak memory.
    if (total > kMostBytes) return;
    block_ = std::shared_ptr<void>(aligned(total), std::free);
    mode_ = Mode::replay;
  }

  static constexpr size_t kMostBytes = size_t{16} << 20;
  enum class Mode { waiting, record, replay, off };
  Mode mode_ = [] {  // METALHEAD_INFERENCE_ARENA=0: glibc's heap, for comparisons
    const char* v = std::getenv("METALHEAD_INFERENCE_ARENA");
    return v && std::string(v) == "0" ? Mode::off : Mode::waiting;
  }();
  std::vector<size_t> sizes_, born_, died_, plan_;
  size_t clock_ = 0, next_ = 0;
  std::shared_ptr<void> block_;
};

// The arena of the engine running on this thread, if any.
thread_local Arena* running_arena = nullptr;

at::Tensor bytes(const md_t& md) {
  return running_arena ? running_arena->take(md.get_size()) : at::empty({static_cast<int64_t>(md.get_size())}, at::kByte);
}

SlotPtr in_layout(at::Tensor buffer, md_t md) {
  auto s = std::make_shared<Slot>();
  s->buffer = std::move(buffer);
  s->md = std::move(md);
  return s;
}

SlotPtr plain_slot(c10::IValue v) {
  auto s = std::make_shared<Slot>();
  s->value = std::move(v);
  return s;
}

void reorder(dnnl::stream& s, const dnnl::memory& from, const dnnl::memory& to) {
  dnnl::reorder(from, to).execute(s, const_cast<dnnl::memory&>(from), const_cast<dnnl::memory&>(to));
}

// The slot's tensor as a plain fp32 tensor (libtorch's operators take these), cached. An
// fp32 buffer in a strided layout (channels-last) is viewed where it lies.
const at::Tensor& plain(Slot& slot, dnnl::stream& s) {
  if (!slot.has_plain()) {
    const auto d = slot.md.dims();
    const auto& m = slot.md.data;
    if (m.data_type == dnnl_f32 && m.format_kind == dnnl_blocked && m.format_desc.blocking.inner_nblks == 0 &&
        m.offset0 == 0 && std::equal(d.begin(), d.end(), m.padded_dims)) {
      const std::vector<int64_t> sizes(d.begin(), d.end()),
          strides(m.format_desc.blocking.strides, m.format_desc.blocking.strides + d.size());
      slot.value = slot.buffer.view(at::kFloat).as_strided(sizes, strides);
      return slot.value.toTensor();
    }
    at::Tensor t = at::empty(std::vector<int64_t>(d.begin(), d.end()), at::kFloat);
    reorder(s, memory_of(slot.md, slot.buffer), memory_of(md_t(d, dt::f32, plain_tag(d.size())), t));
    slot.value = t;
  }
  return slot.value.toTensor();
}

md_t current_desc(const Slot& slot) { return slot.has_buffer() ? slot.md : desc_of(slot.value.toTensor()); }

dnnl::memory::dims logical_dims(const Slot& slot) {
  return slot.has_buffer() ? slot.md.dims() : dims_of(slot.value.toTensor().sizes());
}

// The slot's tensor laid out as `want` (a tensor holding the data: a byte buffer or the
// plain tensor), reordering when it is not; a slot without a oneDNN layout keeps the
// reordered one.
at::Tensor as_desc(Slot& slot, const md_t& want, dnnl::stream& s) {
  if (slot.has_buffer() && slot.md == want) return slot.buffer;
  if (!slot.has_buffer() && desc_of(slot.value.toTensor()) == want) return slot.value.toTensor();
  const dnnl::memory from =
      slot.has_buffer() ? memory_of(slot.md, slot.buffer) : memory_of(desc_of(slot.value.toTensor()), slot.value.toTensor());
  at::Tensor to = bytes(want);
  reorder(s, from, memory_of(want, to));
  if (!slot.has_buffer()) {
    slot.buffer = to;
    slot.md = want;
  }
  return to;
}

// A primitive with its arguments' memory objects made once: a run only points them at its
// data. Making the objects and an argument map on every run cost about 0.6 us a step, a
// tenth of the small steps EfficientNet-B0 runs some 250 of at batch 1. (Copies share the
// objects: one run at a time.)
class Bound {
 public:
  Bound() = default;
  explicit Bound(dnnl::primitive p) : prim_(std::move(p)) {}
  // An argument whose data stays (weights, a bias, statistics), held here.
  Bound& fixed(int arg, const md_t& md, const at::Tensor& data) {
    keep_.push_back(data);
    return add(arg, md, data.data_ptr());
  }
  // An argument each run gives, in the order of the call's pointers.
  Bound& varying(int arg, const md_t& md) {
    varying_.push_back(mems_.size());
    return add(arg, md, DNNL_MEMORY_NONE);
  }
  void operator()(dnnl::stream& s, std::initializer_list<const void*> data) const {
    auto k = varying_.begin();
    for (const void* d : data) mems_[*k++].set_data_handle(const_cast<void*>(d));
    dnnl::error::wrap_c_api(dnnl_primitive_execute(prim_.get(), s.get(), static_cast<int>(args_.size()), args_.data()),
                            "could not execute a primitive");
  }

 private:
  Bound& add(int arg, const md_t& md, void* data) {
    mems_.emplace_back(md, cpu(), data);
    args_.push_back({arg, mems_.back().get()});
    return *this;
  }
  dnnl::primitive prim_;
  std::vector<dnnl::memory> mems_;
  std::vector<dnnl_exec_arg_t> args_;
  std::vector<at::Tensor> keep_;
  std::vector<size_t> varying_;
};

// After an in-place change of `changed`, any oneDNN-layout copy of the same storage (but
// `except`'s) is stale.
void invalidate_copies(Frame& f, const at::Tensor& changed, const Slot* except = nullptr) {
  for (auto& slot : f) {
    if (slot && slot.get() != except && slot->has_plain() && slot->has_buffer() &&
        slot->value.toTensor().is_alias_of(changed)) {
      slot->buffer = at::Tensor();
    }
  }
}

// A constant fp32 weight, laid out once as `from` describes it, reordered into `to`.
at::Tensor reordered_weights(const at::Tensor& w, const md_t& from, const md_t& to) {
  at::Tensor out = at::empty({static_cast<int64_t>(to.get_size())}, at::kByte);
  dnnl::stream s(cpu());
  reorder(s, memory_of(from, w.contiguous()), memory_of(to, out));
  s.wait();
  return out;
}

struct Eltwise {
  alg algorithm;
  float alpha = 0, beta = 0;
};

std::optional<double> constant_number(const jit::Value* v) {
  auto iv = jit::toIValue(v);
  if (!iv) return std::nullopt;
  if (iv->isDouble()) return iv->toDouble();
  if (iv->isInt()) return static_cast<double>(iv->toInt());
  return std::nullopt;
}

bool is_none(const jit::Value* v) {
  auto iv = jit::toIValue(v);
  return iv && iv->isNone();
}

bool inplace(const jit::Node* n) {
  const std::string s = n->kind().toUnqualString();
  return !s.empty() && s.back() == '_';
}

// The node as oneDNN element-wise operations of its first input, or nothing.
std::optional<std::vector<Eltwise>> eltwise_of(const jit::Node* n) {
  const std::string k = n->kind().toQualString();
  auto base = [&](const char* name) { return k == std::string("aten::") + name || k == std::string("aten::") + name + "_"; };
  const auto in = n->inputs();
  if (base("relu")) return std::vector<Eltwise>{{alg::eltwise_relu}};
  if (base("relu6")) return std::vector<Eltwise>{{alg::eltwise_clip, 0, 6}};
  if (base("sigmoid")) return std::vector<Eltwise>{{alg::eltwise_logistic}};
  if (base("tanh")) return std::vector<Eltwise>{{alg::eltwise_tanh}};
  if (base("silu")) return std::vector<Eltwise>{{alg::eltwise_swish, 1}};
  if (base("hardswish")) return std::vector<Eltwise>{{alg::eltwise_hardswish}};
  if (base("hardsigmoid")) return std::vector<Eltwise>{{alg::eltwise_linear, 1.f / 6, 0.5f}, {alg::eltwise_clip, 0, 1}};
  if (base("gelu")) {
    auto approximate = jit::toIValue(in.at(1));
    if (!approximate || !approximate->isString()) return std::nullopt;
    const std::string a = approximate->toStringRef();
    if (a == "none") return std::vector<Eltwise>{{alg::eltwise_gelu_erf}};
    if (a == "tanh") return std::vector<Eltwise>{{alg::eltwise_gelu_tanh}};
    return std::nullopt;
  }
  if (base("leaky_relu")) {
    auto slope = constant_number(in.at(1));
    if (!slope) return std::nullopt;
    return std::vector<Eltwise>{{alg::eltwise_relu, static_cast<float>(*slope)}};
  }
  if (base("hardtanh") || base("clamp")) {
    auto lo = constant_number(in.at(1)), hi = constant_number(in.at(2));
    if (!lo || !hi || in.size() != 3) return std::nullopt;
    return std::vector<Eltwise>{{alg::eltwise_clip, static_cast<float>(*lo), static_cast<float>(*hi)}};
  }
  // Arithmetic with a constant number (hardsigmoid written out as (x + 3).clamp(0, 6) / 6).
  if ((base("add") || base("sub")) && in.size() == 3) {
    auto c = constant_number(in.at(1)), a = constant_number(in.at(2));
    if (!c || !a) return std::nullopt;
    const double shift = (base("add") ? 1 : -1) * *c * *a;
    return std::vector<Eltwise>{{alg::eltwise_linear, 1, static_cast<float>(shift)}};
  }
  if (base("mul") && in.size() == 2) {
    auto c = constant_number(in.at(1));
    if (!c) return std::nullopt;
    return std::vector<Eltwise>{{alg::eltwise_linear, static_cast<float>(*c), 0}};
  }
  if (base("div") && in.size() == 2) {
    auto c = constant_number(in.at(1));
    if (!c || *c == 0) return std::nullopt;
    return std::vector<Eltwise>{{alg::eltwise_linear, static_cast<float>(1 / *c), 0}};
  }
  return std::nullopt;
}

// A post-op: an element-wise operation, or the residual sum.
struct PostOp {
  bool sum = false;
  Eltwise e{alg::eltwise_linear, 1, 0};
};

// The same operations with every scale-and-shift merged into one and moved past the clips
// (clip(a·x + b, lo, hi) = a·clip(x, (lo − b)/a, (hi − b)/a) + b for a > 0): hardsigmoid's
// x + 3, clamp(0, 6), / 6 becomes clip(−3, 3), x/6 + 0.5.
std::vector<PostOp> canonical(const std::vector<PostOp>& in) {
  std::vector<PostOp> out;
  double a = 1, b = 0;
  auto flush = [&] {
    if (a != 1 || b != 0) out.push_back({false, {alg::eltwise_linear, static_cast<float>(a), static_cast<float>(b)}});
    a = 1, b = 0;
  };
  for (const PostOp& op : in) {
    if (!op.sum && op.e.algorithm == alg::eltwise_linear) {
      a *= op.e.alpha;
      b = op.e.alpha * b + op.e.beta;
    } else if (!op.sum && op.e.algorithm == alg::eltwise_clip && a > 0) {
      out.push_back({false, {alg::eltwise_clip, static_cast<float>((op.e.alpha - b) / a), static_cast<float>((op.e.beta - b) / a)}});
    } else {
      flush();
      out.push_back(op);
    }
  }
  flush();
  return out;
}

// Whether an element-wise algorithm occurs twice: oneDNN 2.6's brgemm convolutions then
// apply the first one's parameters to both (seen with two eltwise_linear post-ops).
bool repeats(const std::vector<PostOp>& ops) {
  std::set<int> seen;
  for (const PostOp& op : ops) {
    if (!op.sum && !seen.insert(static_cast<int>(op.e.algorithm)).second) return true;
  }
  return false;
}

bool is_tensor_add(const jit::Node* n) {
  const std::string k = n->kind().toQualString();
  if ((k != "aten::add" && k != "aten::add_") || n->inputs().size() != 3) return false;
  auto alpha = constant_number(n->inputs()[2]);
  return alpha && *alpha == 1 && !constant_number(n->inputs()[1]) && n->inputs()[1]->type()->kind() == c10::TypeKind::TensorType;
}

bool is_silu(const Eltwise& e) { return e.algorithm == alg::eltwise_swish && e.alpha == 1; }

// The engine's own SiLU on an fp32 oneDNN-laid-out buffer (a blocked one's padding is
// zeros, and stays zeros).
void own_silu(const md_t& md, void* data, dnnl::stream& s) {
  s.wait();
  silu_in_place(static_cast<float*>(data), static_cast<int64_t>(md.get_size()) / 4);
}

std::vector<int64_t> int_list(const jit::Value* v) {
  auto iv = jit::toIValue(v);
  if (!iv || !iv->isIntList()) return {};
  return iv->toIntVector();
}

}  // namespace

struct Engine::Impl {
  using Step = std::function<void(Frame&, dnnl::stream&)>;

  std::shared_ptr<jit::Graph> graph;
  Precision precision;
  Layout layout;
  bool winograd;
  std::vector<jit::Node*> order;
  std::unordered_map<const jit::Node*, int> index;
  std::unordered_map<const jit::Value*, int> ids;
  std::vector<std::pair<int, SlotPtr>> constants;
  std::vector<Step> steps;
  bool built = false;
  // For the report: steps on oneDNN by kind, fused post-ops, nodes left to libtorch by kind.
  std::map<std::string, int64_t> native, on_libtorch;
  int64_t fused_activations = 0, fused_sums = 0, by_winograd = 0, folded_gates = 0;
  std::unordered_set<const jit::Node*> deferred;
  // In-place concatenation (batch 1, 16-channel blocks): each image's whole-block channel
  // slice of a blocked map is a dense blocked map of its own, so a convolution can write its
  // part of a concatenation where it belongs. A chain of concatenations each extending the
  // one before (DenseNet's blocks) grows in one storage sized for the last.
  struct CatPlan {
    std::vector<int64_t> offsets;  // each element's channel offset
    int64_t total = 0;             // channels of the result
    int64_t capacity = 0;          // channels of the storage (the chain's last concatenation)
    const jit::Node* extends = nullptr;  // the planned concatenation whose result is element 0, when only this one extends it
  };
  std::unordered_map<const jit::Node*, CatPlan> cat_plans;
  std::unordered_map<const jit::Value*, std::pair<const jit::Node*, size_t>> cat_element;  // element → (concatenation, index)
  std::unordered_set<const jit::Node*> weights_taken;  // convolutions and inner products holding reordered weights
  // Squeeze-excite at batch 1: a convolution of x·g, g a per-channel gate, is the
  // convolution with its weights' input channels scaled by g. Where the weights are much
  // smaller than the map (the early, wide stages), scaling them each run (one reorder, the
  // gate as its scales) replaces the multiplication's pass over the map: EfficientNet-B0 at
  // batch 1, 2-6% faster.
  struct Gate {
    const jit::Node* mul;
    const jit::Value* map;   // [1, C, H, W]
    const jit::Value* gate;  // [1, C, 1, 1]
  };
  std::unordered_map<const jit::Node*, Gate> gated;  // by the convolution reading the product
  std::unordered_set<const jit::Node*> gate_muls;    // the multiplications they stand for
  std::vector<int> step_node;                          // each step's node index
  std::vector<std::pair<int, int>> releases;           // (last use, value id), by last use
  // METALHEAD_INFERENCE_PROFILE: seconds spent per node kind, printed when the engine goes.
  bool profile = std::getenv("METALHEAD_INFERENCE_PROFILE") != nullptr;
  // The engine's own kernels (kernels.h) where the CPU runs them; METALHEAD_INFERENCE_OWN_KERNELS=0
  // keeps oneDNN's, for comparisons.
  bool own_kernels = own_silu_available() && [] {
    const char* v = std::getenv("METALHEAD_INFERENCE_OWN_KERNELS");
    return !v || std::string(v) != "0";
  }();
  std::map<std::string, std::pair<double, int64_t>> profiled;
  std::vector<std::string> step_names;

  ~Impl() {
    if (profile && !profiled.empty()) {
      std::vector<std::pair<double, std::string>> rows;
      double total = 0;
      for (const auto& [k, v] : profiled) rows.emplace_back(v.first, k), total += v.first;
      std::sort(rows.rbegin(), rows.rend());
      std::cerr << "engine profile (" << total * 1e3 << " ms in all):\n";
      for (const auto& [t, k] : rows) {
        std::cerr << "  " << k << ": " << t * 1e3 << " ms (" << 100 * t / total << "%), " << profiled[k].second << " steps\n";
      }
    }
  }

  Impl(std::shared_ptr<jit::Graph> g, Precision p, Layout l, bool w)
      : graph(std::move(g)), precision(p), layout(l), winograd(w) {
    for (jit::Node* n : graph->nodes()) {
      index[n] = static_cast<int>(order.size());
      order.push_back(n);
    }
    auto id = [&](const jit::Value* v) { ids.emplace(v, static_cast<int>(ids.size())); };
    for (const jit::Value* v : graph->inputs()) id(v);
    for (jit::Node* n : order) {
      for (const jit::Value* v : n->outputs()) id(v);
    }
  }

  int id(const jit::Value* v) const { return ids.at(v); }

  dt compute_type() const { return precision == Precision::bf16 ? dt::bf16 : dt::f32; }

  // Each run gets its own slots for tensor constants: a run may cache a oneDNN layout in
  // one, and runs may be concurrent.
  Frame fresh_frame() const {
    Frame f(ids.size());
    for (const auto& [i, s] : constants) f[i] = s->value.isTensor() ? std::make_shared<Slot>(*s) : s;
    return f;
  }

  // One run at a time: oneDNN's primitives share the library's scratchpad unless oneDNN is
  // built for concurrent execution (Debian's is not), so concurrent runs corrupt each other.
  std::mutex running;

  Arena arena;

  at::Tensor run(const at::Tensor& x) {
    std::lock_guard lock(running);
    struct Current {  // (restored on the way out, exceptions included)
      Arena* before;
      explicit Current(Arena* a) : before(running_arena) { running_arena = a; }
      ~Current() { running_arena = before; }
    } current(&arena);
    arena.begin(built);
    at::Tensor y;
    try {
      y = execute(x);  // every buffer of the run is freed by now
    } catch (...) {
      arena.stop();
      throw;
    }
    arena.end();
    return y;
  }

  at::Tensor execute(const at::Tensor& x) {
    dnnl::stream s(cpu());
    Frame f = built ? fresh_frame() : Frame(ids.size());
    f[id(graph->inputs()[0])] = plain_slot(x);
    if (!built) {
      build(f, s);
      built = true;
    } else {
      size_t next = 0;
      for (size_t k = 0; k < steps.size(); ++k) {
        if (profile) {
          const auto t0 = std::chrono::steady_clock::now();
          steps[k](f, s);
          s.wait();
          auto& [t, count] = profiled[step_names[k]];
          t += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          ++count;
        } else {
          steps[k](f, s);
        }
        release(f, next, step_node[k]);
      }
    }
    s.wait();
    Slot& out = *f.at(id(graph->outputs()[0]));
    if (!out.value.isTensor() && !out.has_buffer()) throw std::runtime_error("optimised model: the output is not a tensor");
    return plain(out, s).to(at::kFloat).clone(at::MemoryFormat::Contiguous);  // (not the arena's memory)
  }

  // Builds each node's step and runs it at once, so later nodes see real shapes.
  void build(Frame& f, dnnl::stream& s) {
    std::unordered_set<const jit::Node*> absorbed;
    // A list made only for a concat is not built: the concat reads its elements.
    for (jit::Node* n : order) {
      if (n->kind() == jit::prim::ListConstruct && n->output()->uses().size() == 1 &&
          n->output()->uses()[0].user->kind().toQualString() == std::string("aten::cat")) {
        deferred.insert(n);
      }
    }
    if (layout == Layout::blocked) plan_concatenations();
    plan_gates();
    // A value is dropped after the first step at or past its last use (aliases keep
    // their slot), so a run holds only live activations.
    std::unordered_set<const jit::Value*> outputs(graph->outputs().begin(), graph->outputs().end());
    for (const auto& [v, i] : ids) {
      if (outputs.count(v) || v->node()->kind() == jit::prim::Constant) continue;
      int last = -1;
      for (const auto& use : v->uses()) {
        // (a deferred list is read by its concat, a gate's product by its convolution)
        const bool later = deferred.count(use.user) || gate_muls.count(use.user);
        const jit::Node* user = later ? use.user->output()->uses()[0].user : use.user;
        last = std::max(last, index.at(user));
      }
      releases.emplace_back(last, i);
    }
    std::sort(releases.begin(), releases.end());
    size_t next = 0;
    for (jit::Node* n : order) {
      if (deferred.count(n)) continue;
      if (n->kind() == jit::prim::Constant) {
        auto slot = plain_slot(jit::toIValue(n->output()).value());
        constants.emplace_back(id(n->output()), slot);
        f[id(n->output())] = slot->value.isTensor() ? std::make_shared<Slot>(*slot) : slot;
        continue;
      }
      if (absorbed.count(n) || gate_muls.count(n)) continue;
      if (gated.count(n)) {
        auto step = convolution(n, f, absorbed);
        if (!step) {  // the product after all, then the convolution of it
          gate_muls.erase(gated.at(n).mul);
          run_new_step(compile(const_cast<jit::Node*>(gated.at(n).mul), f, absorbed), index.at(n), f, s);
          gated.erase(n);
          step = compile(n, f, absorbed);
        }
        run_new_step(std::move(*step), index.at(n), f, s);
      } else {
        run_new_step(compile(n, f, absorbed), index.at(n), f, s);
      }
      if (weights_taken.count(n)) drop_weights(n, f);
      release(f, next, index.at(n));
    }
    // Weights now live reordered inside the primitives: the graph's copies go. The
    // constants still read while running get copies of their own (a trace's constants
    // are the model's tensors).
    std::vector<std::pair<int, SlotPtr>> kept;
    for (jit::Node* n : order) {
      if (n->kind() != jit::prim::Constant || !n->output()->type()->cast<c10::TensorType>()) continue;
      bool needed = false;
      for (const auto& use : n->output()->uses()) {
        needed |= !(weights_taken.count(use.user) && (use.offset == 1 || use.offset == 2));
      }
      const int i = id(n->output());
      if (!needed) {
        n->t_(jit::attr::value, at::Tensor());
        continue;
      }
      const at::Tensor own = n->t(jit::attr::value).clone();
      n->t_(jit::attr::value, own);
      kept.emplace_back(i, plain_slot(own));
    }
    for (auto& c : constants) {
      if (!c.second->value.isTensor()) kept.push_back(c);
    }
    constants = std::move(kept);
  }

  void run_new_step(Step step, int node, Frame& f, dnnl::stream& s) {
    step(f, s);
    steps.push_back(std::move(step));
    step_node.push_back(node);
    if (profile) step_names.push_back(step_name(steps.size() - 1));
  }

  void plan_gates() {
    // METALHEAD_INFERENCE_GATES=0 keeps the multiplications, for comparisons.
    if (const char* v = std::getenv("METALHEAD_INFERENCE_GATES"); v && std::string(v) == "0") return;
    for (jit::Node* n : order) {
      if (n->kind().toQualString() != std::string("aten::mul") || n->inputs().size() != 2) continue;
      const auto a = traced_sizes(n->inputs()[0]), b = traced_sizes(n->inputs()[1]);
      if (!a || !b || a->size() != 4 || b->size() != 4) continue;
      const bool gate_second = (*b)[2] == 1 && (*b)[3] == 1;
      const std::vector<int64_t>& map = gate_second ? *a : *b;
      if (map[0] != 1 || (gate_second ? *b : *a) != std::vector<int64_t>{1, map[1], 1, 1}) continue;
      const jit::Value* product = n->output();
      if (product->uses().size() != 1 || product->uses()[0].offset != 0) continue;
      const jit::Node* conv = product->uses()[0].user;
      const std::string k = conv->kind().toQualString();
      const bool full = k == "aten::_convolution";
      if (!full && k != "aten::conv2d") continue;
      auto w = jit::toIValue(conv->inputs()[1]);
      auto groups = jit::toIValue(conv->inputs()[full ? 8 : 6]);
      auto transposed = full ? jit::toIValue(conv->inputs()[6]) : c10::optional<c10::IValue>(false);
      if (!w || !w->isTensor() || w->toTensor().dim() != 4 || w->toTensor().size(1) != map[1] || !groups ||
          groups->toInt() != 1 || !transposed || transposed->toBool()) {
        continue;
      }
      // A quarter of the map or less: 16-40 output channels on EfficientNet-B0's 28x28-112x112 maps.
      if (4 * w->toTensor().numel() > map[1] * map[2] * map[3]) continue;
      gated[conv] = {n, n->inputs()[gate_second ? 0 : 1], n->inputs()[gate_second ? 1 : 0]};
      gate_muls.insert(n);
    }
  }

  // A weight or bias constant that only `n` reads goes as soon as `n` holds its reordered
  // copy, so the build never holds the folded weights and their copies at once.
  void drop_weights(jit::Node* n, Frame& f) {
    for (size_t k : {1, 2}) {
      jit::Value* v = n->inputs()[k];
      if (v->node()->kind() != jit::prim::Constant || v->uses().size() != 1 || !v->type()->cast<c10::TensorType>()) continue;
      const int i = id(v);
      f[i].reset();
      constants.erase(std::remove_if(constants.begin(), constants.end(), [i](const auto& c) { return c.first == i; }),
                      constants.end());
      v->node()->t_(jit::attr::value, at::Tensor());
    }
  }

  std::string step_name(size_t k) const {  // while the weights are still in the graph
    const jit::Node* n = order[step_node[k]];
    std::ostringstream name;  // (GCC 12 warns, falsely, of overflow in a chain of string +s)
    name << n->kind().toQualString();
    if (n->kind().toQualString() == std::string("aten::_convolution")) {
      auto w = jit::toIValue(n->inputs()[1]);
      auto g = jit::toIValue(n->inputs()[8]);
      if (g && g->isInt() && g->toInt() > 1) name << " grouped";
      if (w && w->isTensor() && w->toTensor().defined() && w->toTensor().dim() == 4)
        name << ' ' << w->toTensor().size(2) << 'x' << w->toTensor().size(3);
      if (const auto sizes = traced_sizes(n->inputs()[0]); sizes && sizes->size() == 4) {
        name << " on " << (*sizes)[2] << 'x' << (*sizes)[3];
      }
    }
    return name.str();
  }

  static std::optional<std::vector<int64_t>> traced_sizes(const jit::Value* v) {
    auto t = v->type()->cast<c10::TensorType>();
    if (!t || !t->sizes().concrete_sizes()) return std::nullopt;
    return *t->sizes().concrete_sizes();
  }

  void plan_concatenations() {
    for (jit::Node* n : order) {
      if (n->kind().toQualString() != std::string("aten::cat") || !deferred.count(n->inputs()[0]->node())) continue;
      auto dim = constant_number(n->inputs()[1]);
      const auto out = traced_sizes(n->output());
      if (!dim || *dim != 1 || !out || out->size() != 4 || (*out)[0] != 1) continue;
      bool mutated = false;  // the result changed in place would change the parts with it
      for (const auto& use : n->output()->uses()) mutated |= inplace(use.user);
      if (mutated) continue;
      CatPlan plan;
      int64_t at = 0;
      bool whole_blocks = true;
      for (const jit::Value* e : n->inputs()[0]->node()->inputs()) {
        const auto es = traced_sizes(e);
        whole_blocks = whole_blocks && es && es->size() == 4 && (*es)[1] % 16 == 0 && (*es)[2] == (*out)[2] && (*es)[3] == (*out)[3];
        if (!whole_blocks) break;
        plan.offsets.push_back(at);
        at += (*es)[1];
      }
      if (!whole_blocks || at != (*out)[1]) continue;
      plan.total = plan.capacity = at;
      const jit::Value* first = n->inputs()[0]->node()->inputs()[0];
      if (auto it = cat_plans.find(first->node()); it != cat_plans.end()) {
        // Only one concatenation may extend its storage, and nothing may change it in place
        // (this one would change with it).
        int lists = 0;
        for (const auto& use : first->uses()) {
          lists += use.user->kind() == jit::prim::ListConstruct;
          mutated |= inplace(use.user);
        }
        if (lists == 1 && !mutated) plan.extends = first->node();
      }
      cat_plans[n] = plan;
      const auto elements = n->inputs()[0]->node()->inputs();
      for (size_t k = 0; k < elements.size(); ++k) cat_element.emplace(elements[k], std::make_pair(n, k));
    }
    // Each chain's storage is sized for its last concatenation.
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      auto p = cat_plans.find(*it);
      if (p == cat_plans.end() || !p->second.extends) continue;
      CatPlan& before = cat_plans.at(p->second.extends);
      before.capacity = std::max(before.capacity, p->second.capacity);
    }
  }

  // The storage of planned concatenation `cat` (output `out`) in this run, set aside at its
  // first use: the storage element 0 lies at the start of, when this concatenation extends
  // it and it has room, or new storage.
  at::Tensor cat_storage(Frame& fr, const jit::Node* cat, int out, int64_t channel_bytes) const {
    SlotPtr& r = fr[out];
    if (r && r->reserved) return r->buffer;
    const CatPlan& plan = cat_plans.at(cat);
    at::Tensor storage;
    const int64_t need = plan.total * channel_bytes;
    if (plan.extends) {
      const SlotPtr& e = fr[id(cat->inputs()[0]->node()->inputs()[0])];
      if (e && e->has_buffer() && e->buffer.numel() >= need && e->buffer.data_ptr() == e->buffer.storage().data()) {
        storage = e->buffer;
      }
    }
    if (!storage.defined()) storage = at::empty({plan.capacity * channel_bytes}, at::kByte);
    r = std::make_shared<Slot>();
    r->buffer = storage;
    r->reserved = true;
    return storage;
  }

  void release(Frame& f, size_t& next, int node) const {
    while (next < releases.size() && releases[next].first <= node) f[releases[next++].second].reset();
  }

  // The single-use chain after `v`: element-wise operations and at most one residual sum
  // (an add of a tensor computed before `first`), as oneDNN post-ops.
  struct Fusion {
    dnnl::post_ops ops;
    const jit::Value* residual = nullptr;
    bool residual_dead = false;  // its buffer may take the result
    const jit::Value* last = nullptr;
    std::vector<PostOp> seq;              // canonical
    std::vector<Eltwise> list;            // its element-wise operations, in order
    bool silu_after = false;              // the last, a SiLU, is the engine's own, run after the primitive
    std::vector<const jit::Node*> nodes;  // the nodes it took

    void give_back(std::unordered_set<const jit::Node*>& absorbed) const {
      for (const jit::Node* u : nodes) absorbed.erase(u);
    }
  };

  Fusion fuse_after(const jit::Node* first, Frame& f, std::unordered_set<const jit::Node*>& absorbed,
                    const dnnl::memory::dims& sum_dims = {}) {
    Fusion fu;
    fu.last = first->output();
    std::vector<PostOp> taken;
    while (fu.last->uses().size() == 1) {
      const jit::Node* u = fu.last->uses()[0].user;
      if (u->owningBlock() != graph->block()) break;
      std::vector<PostOp> more = taken;
      if (auto e = eltwise_of(u); e && u->inputs()[0] == fu.last) {
        for (const Eltwise& op : *e) more.push_back({false, op});
        if (repeats(canonical(more))) break;
      } else if (!sum_dims.empty() && !fu.residual && is_tensor_add(u)) {
        const jit::Value* other = u->inputs()[0] == fu.last ? u->inputs()[1] : u->inputs()[0];
        if (other == fu.last) break;
        const int at = index.at(u), from = index.at(first);
        if (other->node()->kind() != jit::prim::Param && index.at(other->node()) >= from) break;
        bool touched = false;  // used in between: it may change before the add
        for (const auto& use : other->uses()) {
          const int i = index.at(use.user);
          if (i > from && i < at) touched = true;
        }
        const SlotPtr& r = f.at(id(other));
        if (touched || !r || !(r->has_buffer() || r->has_plain()) || logical_dims(*r) != sum_dims) break;
        fu.residual = other;
        bool later = other == graph->inputs()[0];
        for (const auto& use : other->uses()) later |= index.at(use.user) > at;
        for (const jit::Value* out : graph->outputs()) later |= out == other;
        fu.residual_dead = !later;
        more.push_back({true});
      } else {
        break;
      }
      taken = std::move(more);
      absorbed.insert(u);
      fu.nodes.push_back(u);
      fu.last = u->output();
    }
    fu.seq = canonical(taken);
    // (Only in fp32: the results of a bf16 engine's convolutions are bf16.)
    fu.silu_after = own_kernels && precision == Precision::fp32 && !fu.seq.empty() && !fu.seq.back().sum &&
                    is_silu(fu.seq.back().e);
    for (const PostOp& op : fu.seq) {
      if (fu.silu_after && &op == &fu.seq.back()) {
        fu.list.push_back(op.e);
      } else if (op.sum) {
        fu.ops.append_sum(1.f);
      } else {
        fu.ops.append_eltwise(1, op.e.algorithm, op.e.alpha, op.e.beta);
        fu.list.push_back(op.e);
      }
    }
    return fu;
  }

  Step compile(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const std::string kind = n->kind().toQualString();
    if (kind == "aten::_convolution" || kind == "aten::conv2d") {
      if (auto s = convolution(n, f, absorbed)) return *s;
    } else if (kind == "aten::linear") {
      if (auto s = linear(n, f, absorbed)) return *s;
    } else if (kind == "aten::max_pool2d" || kind == "aten::avg_pool2d" || kind == "aten::adaptive_avg_pool2d" ||
               kind == "aten::mean") {
      if (auto s = pooling(n, f, absorbed)) return *s;
    } else if (kind == "aten::batch_norm") {
      if (auto s = batch_norm(n, f, absorbed)) return *s;
    } else if (kind == "aten::cat") {
      if (auto s = concat(n, f, absorbed)) return *s;
    } else if (kind == "aten::add" || kind == "aten::add_" || kind == "aten::mul" || kind == "aten::mul_") {
      if (auto s = binary(n, f, absorbed)) return *s;
    } else if (kind == "aten::matmul") {
      if (auto s = matmul(n, f, absorbed)) return *s;
    } else if (kind == "aten::layer_norm") {
      if (auto s = layer_norm(n, f)) return *s;
    } else if (kind == "aten::softmax") {
      if (auto s = softmax(n, f)) return *s;
    }
    if (eltwise_of(n) && n->inputs()[0]->type()->kind() == c10::TypeKind::TensorType) {
      if (auto s = eltwise(n, f, absorbed)) return *s;
    }
    return fallback(n);
  }

  std::optional<Step> convolution(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const auto in = n->inputs();
    auto weight = jit::toIValue(in[1]);
    auto bias = jit::toIValue(in[2]);
    const bool full = n->kind().toQualString() == std::string("aten::_convolution");
    if (!weight || !weight->isTensor() || !bias || !(bias->isNone() || bias->isTensor())) return std::nullopt;
    const at::Tensor w = weight->toTensor();
    const auto stride = int_list(in[3]), pad = int_list(in[4]), dilation = int_list(in[5]);
    const c10::optional<c10::IValue> transposed = full ? jit::toIValue(in[6]) : c10::optional<c10::IValue>(false);
    auto groups_iv = jit::toIValue(in[full ? 8 : 6]);
    const auto gate = gated.find(n);
    const jit::Value* src_value = gate != gated.end() ? gate->second.map : in[0];
    const SlotPtr& x = f.at(id(src_value));
    if (!transposed || transposed->toBool() || !groups_iv || w.dim() != 4 || stride.size() != 2 || pad.size() != 2 ||
        dilation.size() != 2 || !x || logical_dims(*x).size() != 4 || w.scalar_type() != at::kFloat) {
      return std::nullopt;
    }
    const int64_t g = groups_iv->toInt();
    const auto xd = logical_dims(*x);
    const int64_t o = w.size(0), kh = w.size(2), kw = w.size(3);
    const int64_t oh = (xd[2] + 2 * pad[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
    const int64_t ow = (xd[3] + 2 * pad[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
    Fusion fu = fuse_after(n, f, absorbed, {xd[0], o, oh, ow});
    const dt ct = compute_type();
    // Blocked: activations in 16-channel blocks (a 3-channel image stays as it is).
    const bool blocked = layout == Layout::blocked;
    // Channels-last: nhwc, which libtorch's permutes to [N, H, W, C] view without a copy.
    const tag activations = blocked ? tag::aBcd16b : layout == Layout::channels_last ? tag::acdb : tag::any;
    const md_t src_any({xd[0], xd[1], xd[2], xd[3]}, ct, blocked && xd[1] < 8 ? tag::any : activations);
    const dnnl::memory::dims wdims = g == 1 ? dnnl::memory::dims{o, xd[1], kh, kw}
                                            : dnnl::memory::dims{g, o / g, xd[1] / g, kh, kw};
    const md_t w_any(wdims, ct, tag::any);
    const md_t b_md({o}, dt::f32, tag::a);
    const md_t dst_any({xd[0], o, oh, ow}, ct, activations);
    dnnl::primitive_attr attr;
    attr.set_post_ops(fu.ops);
    const dnnl::memory::dims strides{stride[0], stride[1]}, dil{dilation[0] - 1, dilation[1] - 1}, padding{pad[0], pad[1]};
    const bool has_bias = bias->isTensor();
    auto primitive = [&](alg a) {
      auto d = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, a, src_any, w_any, b_md,
                                                          dst_any, strides, dil, padding, padding)
                        : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, a, src_any, w_any, dst_any,
                                                          strides, dil, padding, padding);
      return dnnl::convolution_forward::primitive_desc(d, attr, cpu());
    };
    // Winograd's minimal filtering (oneDNN's F(2,3) and F(4,3) kernels, on 16-channel
    // blocks) for fp32 3x3 stride-1 convolutions: on a 2-core EPYC 1.4-3x faster than
    // direct from 14x14 maps at batch 1, slower on 7x7 ones; within 2e-6 of direct (relative
    // to the output's scale) per convolution. Its transformed weights are 1.8x (F(2,3)) or 4x
    // (F(4,3), at larger batches) the size: past 16 MB (ResNet-50's last stage, 38 MB for
    // each of three), direct, or ResNet-50 at batch 16 would peak above PyTorch's memory.
    // Where the kernels refuse (post-ops they lack), direct.
    const bool wino = winograd && ct == dt::f32 && blocked &&
                      winograd_shape(kh, kw, stride, dilation, g, xd[1], o, xd[0] * oh * ow);
    dnnl::convolution_forward::primitive_desc pd;
    bool by_wino = false;
    if (wino) {
      try {
        pd = primitive(alg::convolution_winograd);
        by_wino = pd.weights_desc().get_size() <= (size_t{16} << 20);
      } catch (const dnnl::error&) {
      }
    }
    if (!by_wino) {
      try {
        pd = primitive(alg::convolution_direct);
      } catch (const dnnl::error&) {
        fu.give_back(absorbed);
        return std::nullopt;
      }
    }
    // Weights reordered once into the layout the primitive wants.
    const md_t w_plain(wdims, dt::f32, g == 1 ? tag::oihw : tag::goihw);
    const at::Tensor wbuf = reordered_weights(w, w_plain, pd.weights_desc());
    const at::Tensor b = has_bias ? bias->toTensor().to(at::kFloat).clone() : at::Tensor();
    const int xi = id(src_value), out = id(fu.last), ri = fu.residual ? id(fu.residual) : -1;
    // A gated convolution keeps its plain weights, reordered into `wbuf` each run with the
    // gate as the input channels' scales.
    const int gi = gate != gated.end() ? id(gate->second.gate) : -1;
    const at::Tensor unscaled = gi >= 0 ? w.contiguous().clone() : at::Tensor();
    const md_t gate_md({1, xd[1], 1, 1}, dt::f32, tag::abcd);
    // A [1, C, 1, 1] fp32 gate in any of the engine's named layouts is C floats in a row.
    md_t gate_layout;
    Bound scale;
    if (gi >= 0) {
      const Slot& gs = *f.at(gi);
      if (gs.has_buffer() && gs.md.data_type() == dt::f32 && tag_of(gs.md) != tag::undef) gate_layout = gs.md;
      dnnl::primitive_attr scales;
      scales.set_output_scales(g == 1 ? 1 << 1 : 1 << 2, {DNNL_RUNTIME_F32_VAL});
      try {
        scale = Bound(dnnl::reorder(dnnl::reorder::primitive_desc(cpu(), w_plain, cpu(), pd.weights_desc(), scales)));
      } catch (const dnnl::error&) {
        fu.give_back(absorbed);
        return std::nullopt;
      }
      scale.fixed(DNNL_ARG_FROM, w_plain, unscaled)
          .fixed(DNNL_ARG_TO, pd.weights_desc(), wbuf)
          .varying(DNNL_ARG_ATTR_OUTPUT_SCALES, md_t({xd[1]}, dt::f32, tag::a));
    }
    folded_gates += gi >= 0;
    // A dead residual's buffer takes the result, unless it is this convolution's own input
    // (a one-convolution residual block, as EfficientNetV2's first stage): the result would
    // overwrite what is still to be read.
    const bool reuse = fu.residual_dead && fu.residual != in[0], silu = fu.silu_after;
    // A part of a planned concatenation is written where it belongs in the result.
    const jit::Node* cat = nullptr;
    int64_t part_offset = 0, channel_bytes = 0;
    if (auto it = cat_element.find(fu.last); it != cat_element.end() && !fu.residual && xd[0] == 1 &&
                                               tag_of(pd.dst_desc()) == tag::aBcd16b) {
      cat = it->second.first;
      part_offset = cat_plans.at(cat).offsets[it->second.second];
      channel_bytes = static_cast<int64_t>(pd.dst_desc().get_size()) / o;
    }
    const int cat_out = cat ? id(cat->output()) : -1;
    const md_t src_md = pd.src_desc(), dst_md = pd.dst_desc();
    Bound prim{dnnl::convolution_forward(pd)};
    prim.varying(DNNL_ARG_SRC, src_md).fixed(DNNL_ARG_WEIGHTS, pd.weights_desc(), wbuf).varying(DNNL_ARG_DST, dst_md);
    if (b.defined()) prim.fixed(DNNL_ARG_BIAS, md_t({b.size(0)}, dt::f32, tag::a), b);
    weights_taken.insert(n);
    ++native["convolutions"];
    by_winograd += by_wino;
    fused_activations += !fu.list.empty();
    fused_sums += fu.residual != nullptr;
    return [=, this](Frame& fr, dnnl::stream& s) {
      if (gi >= 0) {
        Slot& gs = *fr[gi];
        scale(s, {gs.has_buffer() && gs.md == gate_layout ? gs.buffer.data_ptr() : as_desc(gs, gate_md, s).data_ptr()});
      }
      const at::Tensor src = as_desc(*fr[xi], src_md, s);
      at::Tensor dst;
      if (ri >= 0) {
        Slot& r = *fr[ri];
        // (Not storage a concatenation shares.)
        if (reuse && r.has_buffer() && r.md == dst_md && r.buffer.storage().use_count() == 1) {
          dst = r.buffer;
        } else {
          dst = bytes(dst_md);
          const md_t from = current_desc(r);
          reorder(s, r.has_buffer() ? memory_of(r.md, r.buffer) : memory_of(from, r.value.toTensor()), memory_of(dst_md, dst));
        }
      } else if (cat) {
        dst = cat_storage(fr, cat, cat_out, channel_bytes).narrow(0, part_offset * channel_bytes, dst_md.get_size());
      } else {
        dst = bytes(dst_md);
      }
      prim(s, {src.data_ptr(), dst.data_ptr()});
      if (silu) own_silu(dst_md, dst.data_ptr(), s);
      fr[out] = in_layout(dst, dst_md);
    };
  }

  std::optional<Step> linear(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const auto in = n->inputs();
    auto weight = jit::toIValue(in[1]);
    auto bias = jit::toIValue(in[2]);
    if (!weight || !weight->isTensor() || !bias || !(bias->isNone() || bias->isTensor())) return std::nullopt;
    const at::Tensor w = weight->toTensor();
    const SlotPtr& x = f.at(id(in[0]));
    if (w.dim() != 2 || w.scalar_type() != at::kFloat || !x) return std::nullopt;
    const auto xd = logical_dims(*x);
    if (xd.empty() || xd.back() != w.size(1)) return std::nullopt;
    int64_t m = 1;
    for (size_t i = 0; i + 1 < xd.size(); ++i) m *= xd[i];
    const int64_t k = w.size(1), o = w.size(0);
    std::vector<int64_t> out_sizes(xd.begin(), xd.end());
    out_sizes.back() = o;
    Fusion fu = fuse_after(n, f, absorbed, dims_of(out_sizes));
    const dt ct = compute_type();
    const md_t src_md({m, k}, ct, tag::ab), dst_md({m, o}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_post_ops(fu.ops);
    // oneDNN's matmul (brgemm kernels), not its inner product (gemm): ViT-B/16 runs 1.4x faster.
    const md_t b_md({1, o}, dt::f32, tag::ab), w_any({k, o}, ct, tag::any);
    dnnl::matmul::primitive_desc pd;
    try {
      auto d = bias->isTensor() ? dnnl::matmul::desc(src_md, w_any, b_md, dst_md) : dnnl::matmul::desc(src_md, w_any, dst_md);
      pd = dnnl::matmul::primitive_desc(d, attr, cpu());
    } catch (const dnnl::error&) {
      fu.give_back(absorbed);
      return std::nullopt;
    }
    const md_t w_md = pd.weights_desc();
    const at::Tensor wbuf = reordered_weights(w, md_t({k, o}, dt::f32, tag::ba), w_md);
    const at::Tensor b = bias->isTensor() ? bias->toTensor().to(at::kFloat).clone() : at::Tensor();
    Bound prim{dnnl::matmul(pd)};
    prim.varying(DNNL_ARG_SRC, src_md).fixed(DNNL_ARG_WEIGHTS, w_md, wbuf).varying(DNNL_ARG_DST, dst_md);
    if (b.defined()) prim.fixed(DNNL_ARG_BIAS, b_md, b);
    const int xi = id(in[0]), out = id(fu.last), ri = fu.residual ? id(fu.residual) : -1;
    const bool silu = fu.silu_after;
    weights_taken.insert(n);
    ++native["inner products"];
    fused_activations += !fu.list.empty();
    fused_sums += ri >= 0;
    return [=](Frame& fr, dnnl::stream& s) {
      at::Tensor xs = plain(*fr[xi], s).reshape({m, k});
      xs = ct == dt::f32 ? xs.contiguous() : xs.to(at::kBFloat16).contiguous();
      // The residual's sum post-op adds to what the destination holds.
      at::Tensor y = ri >= 0 ? plain(*fr[ri], s).reshape({m, o}).to(at::kFloat).clone(at::MemoryFormat::Contiguous)
                             : at::empty({m, o}, at::kFloat);
      prim(s, {xs.data_ptr(), y.data_ptr()});
      if (silu) own_silu(dst_md, y.data_ptr(), s);
      fr[out] = plain_slot(y.view(out_sizes));
    };
  }


  // A plain tensor, in the element type and strides `want` describes (a copy when it is not).
  static at::Tensor laid_out(const at::Tensor& t, const md_t& want) {
    if (desc_of(t) == want) return t;
    const auto d = want.dims();
    const at::ScalarType type = want.data_type() == dt::bf16 ? at::kBFloat16 : at::kFloat;
    std::vector<int64_t> sizes(d.begin(), d.end()), strides(want.data.format_desc.blocking.strides,
                                                           want.data.format_desc.blocking.strides + d.size());
    return at::empty_strided(sizes, strides, at::TensorOptions().dtype(type)).copy_(t);
  }

  // A matrix product of two computed tensors (attention's q·kᵀ and p·v) on the strided
  // tensors themselves, with the element-wise operations after it as post-ops.
  std::optional<Step> matmul(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const SlotPtr& a = f.at(id(n->inputs()[0]));
    const SlotPtr& b = f.at(id(n->inputs()[1]));
    if (!a || !b || !(a->has_buffer() || a->has_plain()) || !(b->has_buffer() || b->has_plain())) return std::nullopt;
    const auto ad = logical_dims(*a), bd = logical_dims(*b);
    const size_t r = ad.size();
    if (r < 2 || r > 6 || bd.size() != r || ad[r - 1] != bd[r - 2]) return std::nullopt;
    for (size_t i = 0; i + 2 < r; ++i) {
      if (ad[i] != bd[i]) return std::nullopt;
    }
    dnnl::memory::dims od = ad;
    od[r - 1] = bd[r - 1];
    Fusion fu = fuse_after(n, f, absorbed);
    const dt ct = compute_type();
    // fp32 operands are read where they lie; bf16 ones are converted into plain copies.
    auto operand = [&](const Slot& slot) {
      if (ct == dt::f32 && slot.has_plain() && slot.value.toTensor().scalar_type() == at::kFloat) {
        return desc_of(slot.value.toTensor());
      }
      return md_t(logical_dims(slot), ct, plain_tag(r));
    };
    md_t a_md = operand(*a), b_md = operand(*b);
    const md_t dst_md(od, dt::f32, plain_tag(r));
    dnnl::primitive_attr attr;
    attr.set_post_ops(fu.ops);
    dnnl::matmul::primitive_desc pd;
    try {
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, dst_md), attr, cpu());
    } catch (const dnnl::error&) {
      try {  // strides it does not take: contiguous copies
        a_md = md_t(ad, ct, plain_tag(r));
        b_md = md_t(bd, ct, plain_tag(r));
        pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, dst_md), attr, cpu());
      } catch (const dnnl::error&) {
        fu.give_back(absorbed);
        return std::nullopt;
      }
    }
    const int ai = id(n->inputs()[0]), bi = id(n->inputs()[1]), out = id(fu.last);
    const std::vector<int64_t> out_sizes(od.begin(), od.end());
    const bool silu = fu.silu_after;
    Bound prim{dnnl::matmul(pd)};
    prim.varying(DNNL_ARG_SRC, a_md).varying(DNNL_ARG_WEIGHTS, b_md).varying(DNNL_ARG_DST, dst_md);
    ++native["matrix products"];
    fused_activations += !fu.list.empty();
    return [=](Frame& fr, dnnl::stream& s) {
      const at::Tensor x = laid_out(plain(*fr[ai], s), a_md), w = laid_out(plain(*fr[bi], s), b_md);
      at::Tensor y = at::empty(out_sizes, at::kFloat);
      prim(s, {x.data_ptr(), w.data_ptr(), y.data_ptr()});
      if (silu) own_silu(dst_md, y.data_ptr(), s);
      fr[out] = plain_slot(y);
    };
  }

  // LayerNorm over the last dimension, in fp32.
  std::optional<Step> layer_norm(jit::Node* n, Frame& f) {
    const auto in = n->inputs();
    const SlotPtr& x = f.at(id(in[0]));
    auto weight = jit::toIValue(in[2]), bias = jit::toIValue(in[3]);
    auto eps = constant_number(in[4]);
    const auto shape = int_list(in[1]);
    if (!x || !(x->has_buffer() || x->has_plain()) || !weight || !bias || !eps || shape.size() != 1) return std::nullopt;
    const auto xd = logical_dims(*x);
    if (xd.size() < 2 || xd.size() > 5 || xd.back() != shape[0]) return std::nullopt;
    const int64_t c = shape[0];
    const at::Tensor scale = weight->isTensor() ? weight->toTensor().to(at::kFloat).clone() : at::ones({c});
    const at::Tensor shift = bias->isTensor() ? bias->toTensor().to(at::kFloat).clone() : at::zeros({c});
    const md_t data(xd, dt::f32, plain_tag(xd.size()));
    dnnl::layer_normalization_forward::primitive_desc pd;
    try {
      dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, data, static_cast<float>(*eps),
                                                dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift);
      pd = dnnl::layer_normalization_forward::primitive_desc(d, cpu());
    } catch (const dnnl::error&) {
      return std::nullopt;
    }
    const md_t stat({c}, dt::f32, tag::a);
    const int xi = id(in[0]), out = id(n->output());
    const std::vector<int64_t> sizes(xd.begin(), xd.end());
    Bound prim{dnnl::layer_normalization_forward(pd)};
    prim.varying(DNNL_ARG_SRC, data).fixed(DNNL_ARG_SCALE, stat, scale).fixed(DNNL_ARG_SHIFT, stat, shift).varying(DNNL_ARG_DST, data);
    ++native["layer norms"];
    return [=](Frame& fr, dnnl::stream& s) {
      const at::Tensor src = laid_out(plain(*fr[xi], s), data);
      at::Tensor dst = at::empty(sizes, at::kFloat);
      prim(s, {src.data_ptr(), dst.data_ptr()});
      fr[out] = plain_slot(dst);
    };
  }

  // Softmax over one dimension, in fp32.
  std::optional<Step> softmax(jit::Node* n, Frame& f) {
    const auto in = n->inputs();
    const SlotPtr& x = f.at(id(in[0]));
    auto dim = constant_number(in[1]);
    if (!x || !(x->has_buffer() || x->has_plain()) || !dim || (in.size() > 2 && !is_none(in[2]))) return std::nullopt;
    const auto xd = logical_dims(*x);
    const int r = static_cast<int>(xd.size());
    const int axis = static_cast<int>(*dim < 0 ? *dim + r : *dim);
    if (r < 1 || r > 6 || axis < 0 || axis >= r) return std::nullopt;
    const md_t data(xd, dt::f32, plain_tag(xd.size()));
    dnnl::softmax_forward::primitive_desc pd;
    try {
      pd = dnnl::softmax_forward::primitive_desc(dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, data, axis),
                                                 cpu());
    } catch (const dnnl::error&) {
      return std::nullopt;
    }
    const int xi = id(in[0]), out = id(n->output());
    const std::vector<int64_t> sizes(xd.begin(), xd.end());
    Bound prim{dnnl::softmax_forward(pd)};
    prim.varying(DNNL_ARG_SRC, data).varying(DNNL_ARG_DST, data);
    ++native["softmaxes"];
    return [=](Frame& fr, dnnl::stream& s) {
      const at::Tensor src = laid_out(plain(*fr[xi], s), data);
      at::Tensor dst = at::empty(sizes, at::kFloat);
      prim(s, {src.data_ptr(), dst.data_ptr()});
      fr[out] = plain_slot(dst);
    };
  }

  std::optional<Step> pooling(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const std::string kind = n->kind().toQualString();
    const auto in = n->inputs();
    const SlotPtr& x = f.at(id(in[0]));
    if (!x || logical_dims(*x).size() != 4) return std::nullopt;
    const auto xd = logical_dims(*x);
    std::vector<int64_t> kernel, stride, pad{0, 0}, dilation{1, 1};
    bool ceil = false, include_pad = true;
    alg a = alg::pooling_max;
    if (kind == "aten::mean") {  // over H and W, keeping them: a global average
      const auto dims = int_list(in[1]);
      auto keep = jit::toIValue(in[2]);
      const bool spatial = dims == std::vector<int64_t>{2, 3} || dims == std::vector<int64_t>{-2, -1} ||
                           dims == std::vector<int64_t>{3, 2} || dims == std::vector<int64_t>{-1, -2};
      if (!spatial || !keep || !keep->toBool() || (in.size() > 3 && !is_none(in[3]))) return std::nullopt;
      kernel = {xd[2], xd[3]};
      stride = kernel;
      a = alg::pooling_avg_exclude_padding;
    } else if (kind == "aten::adaptive_avg_pool2d") {
      if (int_list(in[1]) != std::vector<int64_t>{1, 1}) return std::nullopt;
      kernel = {xd[2], xd[3]};
      stride = kernel;
      a = alg::pooling_avg_exclude_padding;
    } else {
      kernel = int_list(in[1]);
      stride = int_list(in[2]);
      pad = int_list(in[3]);
      if (stride.empty()) stride = kernel;
      if (kind == "aten::max_pool2d") {
        dilation = int_list(in[4]);
        auto c = jit::toIValue(in[5]);
        if (!c) return std::nullopt;
        ceil = c->toBool();
      } else {
        auto c = jit::toIValue(in[4]), inc = jit::toIValue(in[5]);
        if (!c || !inc || !is_none(in[6])) return std::nullopt;
        ceil = c->toBool();
        include_pad = inc->toBool();
        a = include_pad ? alg::pooling_avg_include_padding : alg::pooling_avg_exclude_padding;
      }
    }
    for (auto* list : {&kernel, &stride, &pad, &dilation}) {
      if (list->size() == 1) list->push_back(list->front());  // one value for both sides
      if (list->size() != 2) return std::nullopt;
    }
    dnnl::memory::dims out_hw(2), pad_r(2);
    for (int i = 0; i < 2; ++i) {
      const int64_t span = dilation[i] * (kernel[i] - 1) + 1, size = xd[2 + i] + 2 * pad[i] - span;
      int64_t o = (ceil ? (size + stride[i] - 1) / stride[i] : size / stride[i]) + 1;
      if (ceil && (o - 1) * stride[i] >= xd[2 + i] + pad[i]) --o;  // torch: the last window starts inside
      out_hw[i] = o;
      pad_r[i] = (o - 1) * stride[i] + span - xd[2 + i] - pad[i];
      // Past the given padding, torch's average counts only real and padded cells.
      if (a == alg::pooling_avg_include_padding && pad_r[i] > pad[i]) return std::nullopt;
      if (pad_r[i] < 0) pad_r[i] = 0;
    }
    const md_t src = current_desc(*x);
    const md_t dst_any({xd[0], xd[1], out_hw[0], out_hw[1]}, src.data_type(), tag::any);
    dnnl::pooling_v2_forward::primitive_desc pd;
    try {
      dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, a, src, dst_any, {stride[0], stride[1]},
                                       {kernel[0], kernel[1]}, {dilation[0] - 1, dilation[1] - 1}, {pad[0], pad[1]}, pad_r);
      pd = dnnl::pooling_v2_forward::primitive_desc(d, cpu());
    } catch (const dnnl::error&) {
      return std::nullopt;
    }
    const int xi = id(in[0]), out = id(n->output());
    const md_t src_md = pd.src_desc(), dst_md = pd.dst_desc();
    Bound prim{dnnl::pooling_v2_forward(pd)};
    prim.varying(DNNL_ARG_SRC, src_md).varying(DNNL_ARG_DST, dst_md);
    ++native["poolings"];
    return [=](Frame& fr, dnnl::stream& s) {
      const at::Tensor sm = as_desc(*fr[xi], src_md, s);
      at::Tensor dst = bytes(dst_md);
      prim(s, {sm.data_ptr(), dst.data_ptr()});
      fr[out] = in_layout(dst, dst_md);
    };
  }

  std::optional<Step> batch_norm(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const auto in = n->inputs();
    auto weight = jit::toIValue(in[1]), bias = jit::toIValue(in[2]), mean = jit::toIValue(in[3]),
         var = jit::toIValue(in[4]), training = jit::toIValue(in[5]);
    auto eps = constant_number(in[7]);
    const SlotPtr& x = f.at(id(in[0]));
    if (!weight || !bias || !mean || !var || !training || !eps || training->toBool() || !mean->isTensor() ||
        !var->isTensor() || !x || logical_dims(*x).size() != 4) {
      return std::nullopt;
    }
    const int64_t c = logical_dims(*x)[1];
    const at::Tensor scale = weight->isTensor() ? weight->toTensor().to(at::kFloat).clone() : at::ones({c});
    const at::Tensor shift = bias->isTensor() ? bias->toTensor().to(at::kFloat).clone() : at::zeros({c});
    const at::Tensor m = mean->toTensor().to(at::kFloat).clone(), v = var->toTensor().to(at::kFloat).clone();
    // A ReLU right after is fused by the primitive's own flag.
    bool relu = false;
    const jit::Value* last = n->output();
    if (last->uses().size() == 1) {
      const jit::Node* u = last->uses()[0].user;
      const std::string k = u->kind().toQualString();
      if ((k == "aten::relu" || k == "aten::relu_") && u->inputs()[0] == last) {
        relu = true;
        absorbed.insert(u);
        last = u->output();
      }
    }
    // Norms compute in fp32. A bf16 input is read as fp32 in blocks, unless only
    // convolutions read the result: they take it as bf16, so a result stored as bf16 is
    // rounded where it would be anyway, and the input is read as it is (DenseNet's
    // concatenated maps, half the bytes).
    md_t data = current_desc(*x);
    bool convolutions_only = !last->uses().empty();
    for (const auto& use : last->uses()) {
      const std::string k = use.user->kind().toQualString();
      convolutions_only &= (k == "aten::_convolution" || k == "aten::conv2d") && use.offset == 0;
    }
    if (data.data_type() != dt::f32 && !(data.data_type() == dt::bf16 && convolutions_only)) {
      data = md_t(data.dims(), dt::f32, tag::aBcd16b);
    }
    auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                 dnnl::normalization_flags::use_shift;
    if (relu) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
    dnnl::batch_normalization_forward::primitive_desc pd;
    try {
      dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, data, static_cast<float>(*eps), flags);
      pd = dnnl::batch_normalization_forward::primitive_desc(d, cpu());
    } catch (const dnnl::error&) {
      if (relu) absorbed.erase(last->node());
      return std::nullopt;
    }
    const md_t stat({c}, dt::f32, tag::a);
    const int xi = id(in[0]), out = id(last);
    const md_t src_md = pd.src_desc(), dst_md = pd.dst_desc();
    Bound prim{dnnl::batch_normalization_forward(pd)};
    prim.varying(DNNL_ARG_SRC, src_md)
        .fixed(DNNL_ARG_MEAN, stat, m)
        .fixed(DNNL_ARG_VARIANCE, stat, v)
        .fixed(DNNL_ARG_SCALE, stat, scale)
        .fixed(DNNL_ARG_SHIFT, stat, shift)
        .varying(DNNL_ARG_DST, dst_md);
    ++native["batch norms"];
    fused_activations += relu;
    return [=](Frame& fr, dnnl::stream& s) {
      const at::Tensor src = as_desc(*fr[xi], src_md, s);
      at::Tensor dst = bytes(dst_md);
      prim(s, {src.data_ptr(), dst.data_ptr()});
      fr[out] = in_layout(dst, dst_md);
    };
  }

  std::optional<Step> concat(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const jit::Node* list = n->inputs()[0]->node();
    auto dim = constant_number(n->inputs()[1]);
    if (!deferred.count(list) || !dim) return std::nullopt;
    std::vector<int> xs;
    std::vector<md_t> descs;
    size_t rank = 0;
    for (const jit::Value* v : list->inputs()) {
      const SlotPtr& s = f.at(id(v));
      if (!s || !(s->has_buffer() || s->has_plain())) return std::nullopt;
      const md_t d = current_desc(*s);
      rank = d.dims().size();
      if (rank != 4 || (!descs.empty() && d.data_type() != descs[0].data_type())) return std::nullopt;
      xs.push_back(id(v));
      descs.push_back(d);
    }
    if (xs.empty()) return std::nullopt;
    const int axis = static_cast<int>(*dim < 0 ? *dim + static_cast<double>(rank) : *dim);
    // The result's layout is chosen here. oneDNN 2.6 fills a concatenation into channel
    // blocks (nChw16c) with values from memory it has not written unless every input is
    // in those blocks and whole blocks of them (ShuffleNet's plain channel slice beside a
    // blocked convolution output fails; so do its 24-channel halves), and left to choose,
    // it picks the blocks. So: the first oneDNN-laid-out input's layout, unless that is
    // blocked and the inputs are not all whole blocks of it; then plain.
    dnnl::memory::dims out_dims = descs[0].dims();
    out_dims[axis] = 0;
    for (const md_t& d : descs) out_dims[axis] += d.dims()[axis];
    tag first = tag::abcd;
    for (size_t i = 0; i < descs.size(); ++i) {
      if (f.at(xs[i])->has_buffer()) {
        first = tag_of(descs[i]);
        break;
      }
    }
    const int64_t block = first == tag::aBcd16b ? 16 : first == tag::aBcd8b ? 8 : first == tag::aBcd4b ? 4 : 1;
    for (const md_t& d : descs) {
      if (first == tag::undef || (block > 1 && (tag_of(d) != first || d.dims()[1] % block != 0))) first = tag::abcd;
    }
    if (auto plan = cat_plans.find(n); plan != cat_plans.end() && axis == 1 && out_dims[0] == 1) {
      bool blocks = true;
      for (const md_t& d : descs) blocks = blocks && tag_of(d) == tag::aBcd16b;
      if (blocks) return concat_in_place(n, xs, descs, md_t(out_dims, descs[0].data_type(), tag::aBcd16b));
    }
    bool runs = axis == 1 && first != tag::acdb;  // channels-last runs are a pixel's channels
    for (const md_t& d : descs) runs = runs && tag_of(d) == first;
    if (runs) return concat_runs(n, xs, descs, md_t(out_dims, descs[0].data_type(), first));
    dnnl::concat::primitive_desc pd;
    for (tag t : {first, tag::abcd}) {
      try {
        pd = dnnl::concat::primitive_desc(md_t(out_dims, descs[0].data_type(), t), axis, descs, cpu());
        break;
      } catch (const dnnl::error&) {
        if (t == tag::abcd) return std::nullopt;
      }
    }
    const int out = id(n->output());
    dnnl::concat prim(pd);
    ++native["concatenations"];
    return [=](Frame& fr, dnnl::stream& s) {
      std::unordered_map<int, dnnl::memory> args;
      std::vector<at::Tensor> inputs;  // alive until the primitive has run
      for (size_t i = 0; i < xs.size(); ++i) {
        inputs.push_back(as_desc(*fr[xs[i]], descs[i], s));
        args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), dnnl::memory(descs[i], cpu(), inputs.back().data_ptr()));
      }
      at::Tensor dst = bytes(pd.dst_desc());
      args.emplace(DNNL_ARG_DST, memory_of(pd.dst_desc(), dst));
      prim.execute(s, args);
      fr[out] = in_layout(dst, pd.dst_desc());
    };
  }

  // A planned concatenation (plan_concatenations): the parts its convolutions wrote in place
  // are where they belong; the others are copied there.
  Step concat_in_place(jit::Node* n, const std::vector<int>& xs, const std::vector<md_t>& descs, const md_t& dst_md) {
    const CatPlan& plan = cat_plans.at(n);
    const int64_t channel_bytes = static_cast<int64_t>(dst_md.get_size()) / dst_md.dims()[1];
    const std::vector<int64_t> offsets = plan.offsets;
    const int out = id(n->output());
    ++native["concatenations"];
    return [=, this](Frame& fr, dnnl::stream& s) {
      std::vector<at::Tensor> inputs;
      for (size_t i = 0; i < xs.size(); ++i) inputs.push_back(as_desc(*fr[xs[i]], descs[i], s));
      s.wait();
      const at::Tensor storage = cat_storage(fr, n, out, channel_bytes);
      auto* base = static_cast<char*>(storage.data_ptr());
      for (size_t i = 0; i < xs.size(); ++i) {
        char* to = base + offsets[i] * channel_bytes;
        const void* from = inputs[i].data_ptr();
        if (from != to) std::memcpy(to, from, descs[i].get_size());
      }
      fr[out] = in_layout(storage, dst_md);
    };
  }

  // A concatenation along channels of inputs in one layout in which each image's part of
  // each input is one contiguous run (plain, or whole channel blocks): the result is those
  // runs in order, copied on every thread. oneDNN 2.6's own copies a batch of 1 on one
  // thread, at about 1.5 GB/s (a third of DenseNet-121's time at batch 1 in blocks).
  Step concat_runs(jit::Node* n, const std::vector<int>& xs, const std::vector<md_t>& descs, const md_t& dst_md) {
    const dnnl::memory::dims d = dst_md.dims();
    const int64_t images = d[0], element = static_cast<int64_t>(dst_md.get_size()) / (d[0] * d[1] * d[2] * d[3]);
    std::vector<int64_t> starts{0};  // each input's run's offset in an image's part, in bytes
    for (const md_t& in : descs) starts.push_back(starts.back() + in.dims()[1] * d[2] * d[3] * element);
    const int64_t image = starts.back();
    const int out = id(n->output());
    ++native["concatenations"];
    return [=](Frame& fr, dnnl::stream& s) {
      std::vector<at::Tensor> inputs;
      for (size_t i = 0; i < xs.size(); ++i) inputs.push_back(as_desc(*fr[xs[i]], descs[i], s));
      s.wait();
      at::Tensor dst = bytes(dst_md);
      auto* to = static_cast<char*>(dst.data_ptr());
      flux::parallel_for(0, images * image, 1 << 16, [&](int64_t begin, int64_t end) {
        while (begin < end) {
          const int64_t n = begin / image, within = begin % image;
          const size_t i = std::upper_bound(starts.begin(), starts.end(), within) - starts.begin() - 1;
          const int64_t run = starts[i + 1] - starts[i], at = within - starts[i], len = std::min(end - begin, run - at);
          const auto* from = static_cast<const char*>(inputs[i].data_ptr());
          std::memcpy(to + begin, from + n * run + at, static_cast<size_t>(len));
          begin += len;
        }
      });
      fr[out] = in_layout(dst, dst_md);
    };
  }

  // add or mul of two tensors, the second broadcast over the first (an SE gate, a residual).
  std::optional<Step> binary(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const std::string kind = n->kind().toQualString();
    const bool add = kind.rfind("aten::add", 0) == 0;
    if (add && !is_tensor_add(n)) return std::nullopt;
    if (!add && (n->inputs().size() != 2 || n->inputs()[1]->type()->kind() != c10::TypeKind::TensorType)) return std::nullopt;
    const SlotPtr& a = f.at(id(n->inputs()[0]));
    const SlotPtr& b = f.at(id(n->inputs()[1]));
    if (!a || !b || !(a->has_buffer() || a->has_plain()) || !(b->has_buffer() || b->has_plain())) return std::nullopt;
    const auto ad = logical_dims(*a), bd = logical_dims(*b);
    if (ad.size() != 4 || bd.size() != 4) return std::nullopt;
    bool a_full = true, b_full = true;
    for (int i = 0; i < 4; ++i) {
      if (ad[i] != bd[i]) {
        if (bd[i] == 1) b_full = false;
        else if (ad[i] == 1) a_full = false;
        else return std::nullopt;
      }
    }
    if (!a_full && !b_full) return std::nullopt;
    const bool swap = !a_full;  // the full one is src0 (both ops commute)
    if (swap && inplace(n)) return std::nullopt;
    const int i0 = id(n->inputs()[swap ? 1 : 0]), i1 = id(n->inputs()[swap ? 0 : 1]);
    // A strided libtorch operand (a permuted constant, say) is read dense: oneDNN's binary
    // has only its reference kernel for arbitrary strides, many times slower than a reorder.
    auto dense = [](const Slot& s, const md_t& d) {
      if (s.has_buffer() || s.value.toTensor().is_contiguous() || tag_of(d) != tag::undef) return d;
      return md_t(d.dims(), d.data_type(), tag::abcd);
    };
    const bool in_place = inplace(n);
    const md_t d0 = in_place ? current_desc(*f[i0]) : dense(*f[i0], current_desc(*f[i0]));
    md_t d1 = dense(*f[i1], current_desc(*f[i1]));
    if (d1.dims() == d0.dims()) d1 = d0;  // same shape: same layout
    Fusion fu = fuse_after(n, f, absorbed);
    dnnl::primitive_attr attr;
    attr.set_post_ops(fu.ops);
    dnnl::binary::primitive_desc pd;
    try {
      dnnl::binary::desc d(add ? alg::binary_add : alg::binary_mul, d0, d1, d0);
      pd = dnnl::binary::primitive_desc(d, attr, cpu());
    } catch (const dnnl::error&) {
      fu.give_back(absorbed);
      return std::nullopt;
    }
    const int out = id(fu.last);
    const bool silu = fu.silu_after;
    // A full operand read last here gives its buffer to the result: the result is written
    // where the operand is still in cache, not in new memory.
    const auto release = std::find_if(releases.begin(), releases.end(), [&](const auto& r) { return r.second == i0; });
    const bool dies = i0 != i1 && release != releases.end() && release->first == index.at(n);
    Bound prim{dnnl::binary(pd)};
    prim.varying(DNNL_ARG_SRC_0, d0).varying(DNNL_ARG_SRC_1, d1).varying(DNNL_ARG_DST, d0);
    ++native["binary operations"];
    return [=](Frame& fr, dnnl::stream& s) {
      Slot& x = *fr[i0];
      const at::Tensor m0 = as_desc(x, d0, s);
      const at::Tensor m1 = as_desc(*fr[i1], d1, s);
      if (in_place) {
        prim(s, {m0.data_ptr(), m1.data_ptr(), m0.data_ptr()});
        if (silu) own_silu(d0, m0.data_ptr(), s);
        changed_in_place(fr, x, m0.data_ptr(), s);
        fr[out] = fr[i0];
        return;
      }
      // (Its slot held by no other value, its storage by no view or concatenation.)
      const bool reuse = dies && fr[i0].use_count() == 1 && x.has_buffer() && !x.has_plain() && !x.reserved &&
                         x.md == d0 && x.buffer.storage().use_count() == 1;
      at::Tensor dst = reuse ? x.buffer : bytes(d0);
      prim(s, {m0.data_ptr(), m1.data_ptr(), dst.data_ptr()});
      if (silu) own_silu(d0, dst.data_ptr(), s);
      fr[out] = in_layout(dst, d0);
    };
  }

  std::optional<Step> eltwise(jit::Node* n, Frame& f, std::unordered_set<const jit::Node*>& absorbed) {
    const SlotPtr& x = f.at(id(n->inputs()[0]));
    if (!x || !(x->has_buffer() || x->has_plain())) return std::nullopt;
    std::vector<PostOp> seq;
    const auto own = eltwise_of(n);  // (a range over *eltwise_of(n) would outlive the optional)
    for (const Eltwise& e : *own) seq.push_back({false, e});
    Fusion fu = fuse_after(n, f, absorbed);
    seq.insert(seq.end(), fu.seq.begin(), fu.seq.end());
    std::vector<Eltwise> ops;
    for (const PostOp& op : canonical(seq)) ops.push_back(op.e);
    const md_t d = current_desc(*x);
    // The own kernel runs over the whole span: only on dense data (a view's span is not all its own).
    const bool dense = x->has_buffer() || x->value.toTensor().is_contiguous();
    const bool silu = own_kernels && dense && !ops.empty() && is_silu(ops.back()) && d.data_type() == dt::f32;
    if (silu) ops.pop_back();
    if (ops.empty() && !silu) ops.push_back({alg::eltwise_linear, 1, 0});
    const bool in_place = inplace(n);
    const int xi = id(n->inputs()[0]), out = id(fu.last);
    std::vector<Bound> prims;
    try {
      for (const Eltwise& e : ops) {
        dnnl::eltwise_forward::desc ed(dnnl::prop_kind::forward_inference, e.algorithm, d, e.alpha, e.beta);
        prims.emplace_back(dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(ed, cpu())));
        prims.back().varying(DNNL_ARG_SRC, d).varying(DNNL_ARG_DST, d);
      }
    } catch (const dnnl::error&) {
      fu.give_back(absorbed);
      return std::nullopt;
    }
    native["element-wise operations"] += static_cast<int64_t>(prims.size()) + silu;
    return [=](Frame& fr, dnnl::stream& s) {
      Slot& sx = *fr[xi];
      const at::Tensor src = as_desc(sx, d, s);
      if (in_place) {
        for (const auto& p : prims) p(s, {src.data_ptr(), src.data_ptr()});
        if (silu) own_silu(d, src.data_ptr(), s);
        changed_in_place(fr, sx, src.data_ptr(), s);
        fr[out] = fr[xi];
        return;
      }
      at::Tensor dst = bytes(d);
      if (prims.empty()) {
        s.wait();
        std::memcpy(dst.data_ptr(), src.data_ptr(), d.get_size());
      } else {
        prims[0](s, {src.data_ptr(), dst.data_ptr()});
        for (size_t i = 1; i < prims.size(); ++i) prims[i](s, {dst.data_ptr(), dst.data_ptr()});
      }
      if (silu) own_silu(d, dst.data_ptr(), s);
      fr[out] = in_layout(dst, d);
    };
  }

  // `changed` (one of the slot's representations) was written in place: bring the other
  // up to date (a plain tensor may have views), and drop stale copies elsewhere.
  static void changed_in_place(Frame& fr, Slot& slot, const void* changed, dnnl::stream& s) {
    const bool plain_changed = slot.has_plain() && changed == slot.value.toTensor().data_ptr();
    if (plain_changed) {
      slot.buffer = at::Tensor();
    } else if (slot.has_plain()) {
      const at::Tensor& t = slot.value.toTensor();
      reorder(s, memory_of(slot.md, slot.buffer), memory_of(desc_of(t), t));
    }
    if (slot.has_plain()) invalidate_copies(fr, slot.value.toTensor(), &slot);
  }

  // An input of a libtorch operator: its value, tensors as plain fp32 ones; a deferred
  // list is made now.
  c10::IValue argument(const jit::Value* v, Frame& fr, dnnl::stream& s) const {
    if (deferred.count(v->node())) {
      c10::List<at::Tensor> list;
      for (const jit::Value* e : v->node()->inputs()) list.push_back(argument(e, fr, s).toTensor());
      return list;
    }
    Slot& slot = *fr[id(v)];
    return slot.has_buffer() && !slot.has_plain() ? c10::IValue(plain(slot, s)) : slot.value;
  }

  // The graph's own list and tuple nodes, which have no operator to call.
  std::optional<Step> structural(jit::Node* n) {
    std::vector<const jit::Value*> ins(n->inputs().begin(), n->inputs().end());
    std::vector<int> outs;
    for (const jit::Value* v : n->outputs()) outs.push_back(id(v));
    const auto kind = n->kind();
    if (kind == jit::prim::ListConstruct) {
      const c10::TypePtr element = n->output()->type()->expectRef<c10::ListType>().getElementType();
      return [this, ins, outs, element](Frame& fr, dnnl::stream& s) {
        c10::impl::GenericList list(element);
        for (const jit::Value* v : ins) list.push_back(argument(v, fr, s));
        fr[outs[0]] = plain_slot(c10::IValue(list));
      };
    }
    if (kind == jit::prim::TupleConstruct) {
      return [this, ins, outs](Frame& fr, dnnl::stream& s) {
        std::vector<c10::IValue> items;
        for (const jit::Value* v : ins) items.push_back(argument(v, fr, s));
        fr[outs[0]] = plain_slot(c10::ivalue::Tuple::create(std::move(items)));
      };
    }
    if (kind == jit::prim::ListUnpack || kind == jit::prim::TupleUnpack) {
      return [this, ins, outs](Frame& fr, dnnl::stream& s) {
        const c10::IValue whole = argument(ins[0], fr, s);
        const std::vector<c10::IValue> items = whole.isTuple() ? whole.toTupleRef().elements().vec() : whole.toListRef().vec();
        for (size_t i = 0; i < outs.size() && i < items.size(); ++i) fr[outs[i]] = plain_slot(items[i]);
      };
    }
    return std::nullopt;
  }

  // libtorch's own operator, on plain fp32 tensors.
  Step fallback(jit::Node* n) {
    if (!n->maybeOperator()) {
      if (auto step = structural(n)) return *step;
      throw std::runtime_error(std::string("optimize_for_inference: the traced graph has a ") + n->kind().toQualString() +
                               " node, which neither oneDNN nor libtorch can run here");
    }
    std::vector<const jit::Value*> ins(n->inputs().begin(), n->inputs().end());
    std::vector<int> outs;
    for (const jit::Value* v : n->outputs()) outs.push_back(id(v));
    jit::Operation op = n->getOperation();
    const bool mutates = inplace(n);
    const int first = ins.empty() ? -1 : id(ins[0]);
    ++on_libtorch[n->kind().toQualString()];
    return [this, ins, outs, op, mutates, first](Frame& fr, dnnl::stream& s) mutable {
      jit::Stack stack;
      stack.reserve(ins.size());
      for (const jit::Value* v : ins) stack.push_back(argument(v, fr, s));
      s.wait();
      op(stack);
      if (mutates && first >= 0 && fr[first]->has_plain()) {
        fr[first]->buffer = at::Tensor();
        invalidate_copies(fr, fr[first]->value.toTensor());
        fr[outs[0]] = fr[first];
        return;
      }
      for (size_t i = 0; i < outs.size(); ++i) fr[outs[i]] = plain_slot(std::move(stack[i]));
    };
  }
};

bool winograd_shape(int64_t kh, int64_t kw, const std::vector<int64_t>& stride, const std::vector<int64_t>& dilation,
                    int64_t groups, int64_t in_channels, int64_t out_channels, int64_t pixels) {
  const std::vector<int64_t> ones{1, 1};
  return kh == 3 && kw == 3 && stride == ones && dilation == ones && groups == 1 && in_channels % 16 == 0 &&
         out_channels % 16 == 0 && pixels >= 14 * 14;
}

Engine::Engine(std::shared_ptr<jit::Graph> graph, Precision precision, Layout layout, bool winograd)
    : impl_(std::make_unique<Impl>(std::move(graph), precision, layout, winograd)) {}

Engine::~Engine() = default;

at::Tensor Engine::run(const at::Tensor& x) { return impl_->run(x); }

Layout Engine::layout() const { return impl_->layout; }

std::string Engine::report() const {
  std::ostringstream os;
  for (const auto& [what, n] : impl_->native) os << (os.tellp() > 0 ? ", " : "") << n << ' ' << what;
  int64_t torch_ops = 0;
  for (const auto& [what, n] : impl_->on_libtorch) torch_ops += n;
  os << " on oneDNN (" << impl_->fused_activations << " with fused activations, " << impl_->fused_sums
     << " with fused residual sums";
  if (impl_->by_winograd) os << ", " << impl_->by_winograd << " convolutions by Winograd";
  if (impl_->folded_gates) os << ", " << impl_->folded_gates << " squeeze-excite gates in convolution weights";
  os << "); " << torch_ops << " other operations on libtorch";
  if (torch_ops) {
    os << " (";
    bool first = true;
    for (const auto& [what, n] : impl_->on_libtorch) {
      os << (first ? "" : ", ") << what << " ×" << n;
      first = false;
    }
    os << ')';
  }
  return os.str();
}

}  // namespace metalhead::inference
