// pickle.cpp — the pickle machine without execution: a stack, a mark stack and a memo of values.
#include <metalhead/weights/pickle.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace metalhead::weights {

namespace {

// Opcode names for messages (pickletools' names); an empty name is not an opcode.
std::string_view opcode_name(unsigned char op) {
  switch (op) {
    case '(': return "MARK";         case '.': return "STOP";          case '0': return "POP";
    case '1': return "POP_MARK";     case '2': return "DUP";           case 'F': return "FLOAT";
    case 'I': return "INT";          case 'J': return "BININT";        case 'K': return "BININT1";
    case 'L': return "LONG";         case 'M': return "BININT2";       case 'N': return "NONE";
    case 'P': return "PERSID";       case 'Q': return "BINPERSID";     case 'R': return "REDUCE";
    case 'S': return "STRING";       case 'T': return "BINSTRING";     case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";      case 'X': return "BINUNICODE";    case 'a': return "APPEND";
    case 'b': return "BUILD";        case 'c': return "GLOBAL";        case 'd': return "DICT";
    case '}': return "EMPTY_DICT";   case 'e': return "APPENDS";       case 'g': return "GET";
    case 'h': return "BINGET";       case 'i': return "INST";          case 'j': return "LONG_BINGET";
    case 'l': return "LIST";         case ']': return "EMPTY_LIST";    case 'o': return "OBJ";
    case 'p': return "PUT";          case 'q': return "BINPUT";        case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";      case 't': return "TUPLE";         case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";     case 'G': return "BINFLOAT";      case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";       case 0x81: return "NEWOBJ";       case 0x82: return "EXT1";
    case 0x83: return "EXT2";        case 0x84: return "EXT4";         case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";      case 0x87: return "TUPLE3";       case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";    case 0x8a: return "LONG1";        case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";   case 0x90: return "ADDITEMS";     case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";   case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";       case 0x96: return "BYTEARRAY8";   case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return "";
  }
}

std::string hex(unsigned char c) {
  const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[c >> 4] + digits[c & 15];
}

class Machine {
 public:
  Machine(std::string_view in, const std::string& name, const PickleLimits& limits, std::deque<PickleValue>& values)
      : in_(in), name_(name), limits_(limits), values_(values) {}

  size_t end() const { return pos_; }

  const PickleValue* run() {
    if (in_.size() > limits_.max_bytes) {
      fail("is " + std::to_string(in_.size()) + " bytes, more than the limit of " + std::to_string(limits_.max_bytes));
    }
    while (true) {
      if (pos_ >= in_.size()) fail("ends at offset " + std::to_string(pos_) + " without a STOP opcode (truncated)");
      op_at_ = pos_;
      op_ = static_cast<unsigned char>(in_[pos_++]);
      if (step()) return result_;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error("pickle " + name_ + ": " + what); }
  [[noreturn]] void fail_here(const std::string& what) const {
    const std::string_view op = opcode_name(op_);
    fail(what + " at offset " + std::to_string(op_at_) + (op.empty() ? "" : " (" + std::string(op) + ")"));
  }

  // --- input ---
  std::string_view take(uint64_t n) {
    if (n > in_.size() - pos_) {
      fail_here("truncated: needs " + std::to_string(n) + " more bytes, " + std::to_string(in_.size() - pos_) + " remain");
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  uint64_t uint_le(int bytes) {
    std::string_view s = take(bytes);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[i]);
    return v;
  }
  std::string_view line() {
    const size_t end = in_.find('\n', pos_);
    if (end == std::string_view::npos) fail_here("truncated: no newline ends the argument");
    std::string_view s = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  // --- values ---
  PickleValue* make(PickleKind kind) {
    if (values_.size() >= limits_.max_values) fail_here("more than " + std::to_string(limits_.max_values) + " values");
    values_.emplace_back();
    values_.back().kind = kind;
    return &values_.back();
  }
  void nest(PickleValue* parent, const PickleValue* child) {
    if (child && child->depth + 1 > parent->depth) parent->depth = child->depth + 1;
    if (parent->depth > limits_.max_depth) fail_here("values nest deeper than " + std::to_string(limits_.max_depth));
  }
  void push(PickleValue* v) { stack_.push_back(v); }

  // Values above the innermost mark: MARK starts a fresh stack, as in Python's unpickler.
  size_t available() const { return stack_.size() - (marks_.empty() ? 0 : marks_.back()); }
  void need(size_t n) {
    if (available() < n) {
      fail_here("stack underflow: needs " + std::to_string(n) + " values, has " + std::to_string(available()));
    }
  }
  PickleValue* pop() {
    need(1);
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() {
    need(1);
    return stack_.back();
  }
  // The values above the innermost mark, which is removed.
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) fail_here("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }

  PickleValue* container(PickleKind kind, const std::vector<PickleValue*>& items) {
    PickleValue* v = make(kind);
    for (auto* i : items) add_item(v, i);
    return v;
  }
  void add_item(PickleValue* target, const PickleValue* item) {
    target->items.push_back(item);
    nest(target, item);
  }
  void add_entry(PickleValue* target, const PickleValue* key, const PickleValue* value) {
    if (target->kind != PickleKind::dict && target->kind != PickleKind::object) {
      fail_here("cannot set items on a " + std::string(kind_name(target->kind)));
    }
    target->entries.emplace_back(key, value);
    nest(target, key);
    nest(target, value);
  }
  void append_to(PickleValue* target, const PickleValue* item) {
    if (target->kind != PickleKind::list && target->kind != PickleKind::object) {
      fail_here("cannot append to a " + std::string(kind_name(target->kind)));
    }
    add_item(target, item);
  }
  PickleValue* text_value(PickleKind kind, std::string_view s) {
    PickleValue* v = make(kind);
    v->text = std::string(s);
    return v;
  }
  PickleValue* integer(int64_t i) {
    PickleValue* v = make(PickleKind::integer);
    v->integer = i;
    return v;
  }
  // LONG1/LONG4: little-endian two's complement of n bytes; only 64-bit values are kept.
  PickleValue* long_integer(uint64_t n) {
    if (n > 8) fail_here("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
    std::string_view s = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s[i]);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(s[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
    return integer(static_cast<int64_t>(v));
  }
  PickleValue* global(std::string module, std::string name) {
    PickleValue* v = make(PickleKind::global);
    v->text = std::move(module);
    v->name = std::move(name);
    return v;
  }
  PickleValue* object(const PickleValue* callable, const PickleValue* args, const PickleValue* kwargs) {
    if (args->kind != PickleKind::tuple) fail_here("arguments must be a tuple, got a " + std::string(kind_name(args->kind)));
    PickleValue* v = make(PickleKind::object);
    v->callable = callable;
    v->args = args;
    v->kwargs = kwargs;
    nest(v, callable);
    nest(v, args);
    nest(v, kwargs);
    return v;
  }
  void memo_put(uint64_t index) {
    if (memo_.size() >= limits_.max_values && !memo_.count(index)) fail_here("memo holds too many values");
    memo_[index] = top();
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail_here("memo index " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  // Runs one opcode; true at STOP.
  bool step() {
    switch (op_) {
      case 0x80: {  // PROTO
        const uint64_t v = uint_le(1);
        if (v > 5) fail_here("protocol " + std::to_string(v) + " is newer than 5");
        return false;
      }
      case 0x95: {  // FRAME: frames only group opcodes; check the length and read on.
        const uint64_t n = uint_le(8);
        if (n > in_.size() - pos_) fail_here("truncated: frame of " + std::to_string(n) + " bytes");
        return false;
      }
      case '.':  // STOP
        result_ = pop();
        return true;
      case '(':
        marks_.push_back(stack_.size());
        return false;
      case '0':  // POP: Python's POP discards the mark when nothing is above it.
        if (available() == 0 && !marks_.empty()) {
          pop_mark();
        } else {
          pop();
        }
        return false;
      case '1':
        pop_mark();
        return false;
      case '2':
        push(top());
        return false;
      case 'N': push(make(PickleKind::none)); return false;
      case 0x88:
      case 0x89: {
        PickleValue* v = make(PickleKind::boolean);
        v->boolean = op_ == 0x88;
        push(v);
        return false;
      }
      case 'J': push(integer(static_cast<int32_t>(static_cast<uint32_t>(uint_le(4))))); return false;
      case 'K': push(integer(static_cast<int64_t>(uint_le(1)))); return false;
      case 'M': push(integer(static_cast<int64_t>(uint_le(2)))); return false;
      case 0x8a: push(long_integer(uint_le(1))); return false;
      case 0x8b: {
        const auto n = static_cast<int32_t>(static_cast<uint32_t>(uint_le(4)));
        if (n < 0) fail_here("negative length");
        push(long_integer(static_cast<uint64_t>(n)));
        return false;
      }
      case 'G': {  // 8 bytes, big-endian IEEE 754
        std::string_view s = take(8);
        uint64_t bits = 0;
        for (char c : s) bits = (bits << 8) | static_cast<unsigned char>(c);
        PickleValue* v = make(PickleKind::floating);
        v->floating = std::bit_cast<double>(bits);
        push(v);
        return false;
      }
      case 0x8c: push(text_value(PickleKind::string, take(uint_le(1)))); return false;
      case 'X': push(text_value(PickleKind::string, take(uint_le(4)))); return false;
      case 0x8d: push(text_value(PickleKind::string, take(uint_le(8)))); return false;
      case 'U': push(text_value(PickleKind::string, take(uint_le(1)))); return false;  // Python 2 str
      case 'T': {
        const auto n = static_cast<int32_t>(static_cast<uint32_t>(uint_le(4)));
        if (n < 0) fail_here("negative length");
        push(text_value(PickleKind::string, take(static_cast<uint64_t>(n))));
        return false;
      }
      case 'C': push(text_value(PickleKind::bytes, take(uint_le(1)))); return false;
      case 'B': push(text_value(PickleKind::bytes, take(uint_le(4)))); return false;
      case 0x8e: push(text_value(PickleKind::bytes, take(uint_le(8)))); return false;
      case '}': push(make(PickleKind::dict)); return false;
      case ']': push(make(PickleKind::list)); return false;
      case ')': push(make(PickleKind::tuple)); return false;
      case 0x8f: push(make(PickleKind::set)); return false;
      case 't': push(container(PickleKind::tuple, pop_mark())); return false;
      case 'l': push(container(PickleKind::list, pop_mark())); return false;
      case 0x91: push(container(PickleKind::set, pop_mark())); return false;
      case 0x85:
      case 0x86:
      case 0x87: {
        const size_t n = op_ - 0x84;
        need(n);
        std::vector<PickleValue*> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        push(container(PickleKind::tuple, items));
        return false;
      }
      case 'd': {
        auto items = pop_mark();
        if (items.size() % 2) fail_here("odd number of values for a dict");
        PickleValue* d = make(PickleKind::dict);
        for (size_t i = 0; i < items.size(); i += 2) add_entry(d, items[i], items[i + 1]);
        push(d);
        return false;
      }
      case 's': {
        need(3);
        PickleValue* value = pop();
        PickleValue* key = pop();
        add_entry(top(), key, value);
        return false;
      }
      case 'u': {
        auto items = pop_mark();
        if (items.size() % 2) fail_here("odd number of values for SETITEMS");
        PickleValue* target = top();
        for (size_t i = 0; i < items.size(); i += 2) add_entry(target, items[i], items[i + 1]);
        return false;
      }
      case 'a': {
        need(2);
        PickleValue* item = pop();
        append_to(top(), item);
        return false;
      }
      case 'e': {
        auto items = pop_mark();
        PickleValue* target = top();
        for (auto* i : items) append_to(target, i);
        return false;
      }
      case 0x90: {  // ADDITEMS
        auto items = pop_mark();
        PickleValue* target = top();
        if (target->kind != PickleKind::set) fail_here("cannot add items to a " + std::string(kind_name(target->kind)));
        for (auto* i : items) add_item(target, i);
        return false;
      }
      case 'c': {
        std::string module(line());
        std::string name(line());
        push(global(std::move(module), std::move(name)));
        return false;
      }
      case 0x93: {
        need(2);
        PickleValue* name = pop();
        PickleValue* module = pop();
        if (module->kind != PickleKind::string || name->kind != PickleKind::string) fail_here("module and name must be strings");
        push(global(module->text, name->text));
        return false;
      }
      case 'R': {
        need(2);
        PickleValue* args = pop();
        PickleValue* callable = pop();
        push(object(callable, args, nullptr));
        return false;
      }
      case 0x81: {
        need(2);
        PickleValue* args = pop();
        PickleValue* cls = pop();
        push(object(cls, args, nullptr));
        return false;
      }
      case 0x92: {
        need(3);
        PickleValue* kwargs = pop();
        PickleValue* args = pop();
        PickleValue* cls = pop();
        if (kwargs->kind != PickleKind::dict) fail_here("keyword arguments must be a dict");
        push(object(cls, args, kwargs));
        return false;
      }
      case 'b': {
        need(2);
        PickleValue* state = pop();
        PickleValue* target = top();
        if (target->kind != PickleKind::object) fail_here("cannot BUILD a " + std::string(kind_name(target->kind)));
        target->state = state;
        nest(target, state);
        return false;
      }
      case 'Q': {
        PickleValue* id = pop();
        PickleValue* v = make(PickleKind::persistent_id);
        v->args = id;
        nest(v, id);
        push(v);
        return false;
      }
      case 'q': memo_put(uint_le(1)); return false;
      case 'r': memo_put(uint_le(4)); return false;
      case 0x94: memo_put(memo_.size()); return false;
      case 'h': memo_get(uint_le(1)); return false;
      case 'j': memo_get(uint_le(4)); return false;
      default: {
        const std::string_view known = opcode_name(op_);
        if (known.empty()) fail_here("unknown opcode " + hex(op_));
        fail_here("unsupported opcode " + hex(op_));
      }
    }
  }

  std::string_view in_;
  const std::string& name_;
  const PickleLimits& limits_;
  std::deque<PickleValue>& values_;
  size_t pos_ = 0, op_at_ = 0;
  unsigned char op_ = 0;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
  const PickleValue* result_ = nullptr;
};

void describe_into(std::string& out, const PickleValue* v, int depth) {
  if (!v || depth < -8) {  // -8: chains of callables and persistent ids are bounded too
    out += v ? "..." : "?";
    return;
  }
  constexpr size_t kShown = 4;
  auto list = [&](const char* open, const char* close, const std::vector<const PickleValue*>& items) {
    out += open;
    if (depth <= 0 && !items.empty()) {
      out += "...";
    } else {
      for (size_t i = 0; i < items.size() && i < kShown; ++i) {
        if (i) out += ", ";
        describe_into(out, items[i], depth - 1);
      }
      if (items.size() > kShown) out += ", ...";
      if (items.size() == 1 && v->kind == PickleKind::tuple) out += ",";
    }
    out += close;
  };
  switch (v->kind) {
    case PickleKind::none: out += "None"; break;
    case PickleKind::boolean: out += v->boolean ? "True" : "False"; break;
    case PickleKind::integer: out += std::to_string(v->integer); break;
    case PickleKind::floating: out += std::to_string(v->floating); break;
    case PickleKind::string:
    case PickleKind::bytes:
      out += v->kind == PickleKind::bytes ? "b'" : "'";
      out += v->text.size() > 40 ? v->text.substr(0, 40) + "..." : v->text;
      out += "'";
      break;
    case PickleKind::list: list("[", "]", v->items); break;
    case PickleKind::tuple: list("(", ")", v->items); break;
    case PickleKind::set: list("{", "}", v->items); break;
    case PickleKind::dict: out += "{" + std::string(v->entries.empty() ? "" : "...") + "}"; break;
    case PickleKind::global: out += v->text + "." + v->name; break;
    case PickleKind::object:
      describe_into(out, v->callable, std::min(depth, 0) - 1);
      if (v->args) {
        list("(", ")", v->args->items);
      } else {
        out += "()";
      }
      break;
    case PickleKind::persistent_id:
      out += "persistent_id";
      if (v->args) describe_into(out, v->args, depth - 1);
      break;
  }
}

}  // namespace

Pickle parse_pickle(std::string_view bytes, const std::string& name, const PickleLimits& limits) {
  Pickle p;
  // Memory in proportion to the input: a pickle of 1-byte opcodes that each make a value
  // would otherwise cost ~200 bytes per input byte before a limit is reached.
  PickleLimits bounded = limits;
  const uint64_t budget = (uint64_t{64} << 20) + 16 * static_cast<uint64_t>(bytes.size());
  bounded.max_values = std::min<uint64_t>(limits.max_values, budget / sizeof(PickleValue));
  Machine machine(bytes, name, bounded, *p.values_);
  p.root_ = machine.run();
  p.end_ = machine.end();
  return p;
}

std::string_view kind_name(PickleKind kind) {
  switch (kind) {
    case PickleKind::none: return "None";
    case PickleKind::boolean: return "bool";
    case PickleKind::integer: return "int";
    case PickleKind::floating: return "float";
    case PickleKind::string: return "str";
    case PickleKind::bytes: return "bytes";
    case PickleKind::list: return "list";
    case PickleKind::tuple: return "tuple";
    case PickleKind::dict: return "dict";
    case PickleKind::set: return "set";
    case PickleKind::global: return "global";
    case PickleKind::object: return "object";
    case PickleKind::persistent_id: return "persistent id";
  }
  return "?";
}

std::string describe(const PickleValue& value, int max_depth) {
  std::string out;
  describe_into(out, &value, max_depth);
  return out;
}

}  // namespace metalhead::weights
