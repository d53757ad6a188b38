// pickle.h — a safe reader of Python pickles: the subset that torch.save writes.
//
// parse_pickle runs the pickle machine's stack and memo but executes nothing: GLOBAL only
// records a module and a name, REDUCE/NEWOBJ build an `object` value holding the callable
// and its arguments, BINPERSID a `persistent_id` value. The caller decides what a value means
// (pth.cpp recognises torch's tensors). Every length is checked against the input; stack
// underflow, a bad memo index, truncation and unknown opcodes throw std::runtime_error, and
// PickleLimits bounds the input size, the number of values and their nesting. No libtorch.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace metalhead::weights {

enum class PickleKind {
  none, boolean, integer, floating, string, bytes, list, tuple, dict, set,
  global,         // GLOBAL / STACK_GLOBAL: `text` is the module, `name` the name
  object,         // REDUCE / NEWOBJ: `callable` applied to `args`, then `state`, `entries`, `items`
  persistent_id,  // BINPERSID: `args` is the id (torch: ('storage', class, key, location, numel))
};

/// One value of a parsed pickle. Values are owned by their Pickle and point at each other; a
/// value reached twice through the memo is the same object, and a hostile pickle may even
/// make a container hold itself, so walkers must bound their depth (see describe()).
struct PickleValue {
  PickleKind kind = PickleKind::none;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  std::string text;  // string (UTF-8 as stored), bytes, the module of a global
  std::string name;  // the name of a global
  std::vector<const PickleValue*> items;                                  // list, tuple, set; APPENDS on an object
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;  // dict in insertion order; SETITEMS on an object
  const PickleValue* callable = nullptr;  // object: what REDUCE called / NEWOBJ instantiated
  const PickleValue* args = nullptr;      // object: its argument tuple; persistent_id: the id
  const PickleValue* kwargs = nullptr;    // object made by NEWOBJ_EX: its keyword dict
  const PickleValue* state = nullptr;     // object: the argument of BUILD, if any
  size_t depth = 0;                       // nesting seen when the value was built or extended

  /// is_global(module, name): a GLOBAL with this module and name.
  bool is_global(std::string_view module, std::string_view global_name) const {
    return kind == PickleKind::global && text == module && name == global_name;
  }
  /// is_call_of(module, name): an object made by calling that global.
  bool is_call_of(std::string_view module, std::string_view global_name) const {
    return kind == PickleKind::object && callable && callable->is_global(module, global_name);
  }
};

struct PickleLimits {
  uint64_t max_bytes = uint64_t{1} << 31;  // input size
  uint64_t max_values = uint64_t{1} << 24; // values created (each opcode creates at most one)
  size_t max_depth = 200;                  // nesting of containers and calls
};

class Pickle;

/// parse_pickle(bytes, name = "pickle", limits = {})
/// Runs the opcodes of pickle protocols 2-5 that torch.save and plain containers use (PROTO,
/// FRAME, MARK, STOP, POP, DUP, the BIN* integers, floats, strings and bytes, tuples, lists,
/// dicts, sets, GLOBAL, STACK_GLOBAL, REDUCE, BUILD, NEWOBJ(_EX), BINPERSID, the memo opcodes)
/// and returns the value tree. Text-protocol-0 opcodes, extension codes and out-of-band
/// buffers are refused. `name` starts every error message, e.g.
/// "pickle resnet18.pth:resnet18/data.pkl: stack underflow at offset 812 (REDUCE needs 2 values, has 1)".
Pickle parse_pickle(std::string_view bytes, const std::string& name = "pickle", const PickleLimits& limits = {});

/// A parsed pickle: the values and the one STOP returned. Move-only; values keep their
/// addresses for the Pickle's lifetime.
class Pickle {
 public:
  /// root(): the value that STOP returned.
  const PickleValue& root() const { return *root_; }
  /// size(): how many values the pickle created.
  size_t size() const { return values_->size(); }
  /// values(): every value the pickle created, in creation order.
  const std::deque<PickleValue>& values() const { return *values_; }
  /// end(): the offset just past STOP; a stream of pickles (torch's legacy format) goes on there.
  size_t end() const { return end_; }

 private:
  friend Pickle parse_pickle(std::string_view, const std::string&, const PickleLimits&);
  std::unique_ptr<std::deque<PickleValue>> values_ = std::make_unique<std::deque<PickleValue>>();
  const PickleValue* root_ = nullptr;
  size_t end_ = 0;
};

/// kind_name(kind): "none", "int", "str", "dict", ... for messages.
std::string_view kind_name(PickleKind kind);

/// describe(value, max_depth = 2): a short Python-like rendering for error messages, e.g.
/// "torch._utils._rebuild_tensor_v2(...)", "'conv1.weight'", "(1, 2)"; long containers are cut.
std::string describe(const PickleValue& value, int max_depth = 2);

}  // namespace metalhead::weights
