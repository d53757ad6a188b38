#include <flux/printing.h>

#include <torch/types.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <unordered_set>

namespace flux {
namespace {

struct Tally {
  int64_t arrays = 0, params = 0;    // trainable, shared arrays once
  int64_t states = 0, state_params = 0;  // non-trainable
  int64_t bytes = 0;
  bool all_zero = true, some_nan = false, some_inf = false;
};

Tally tally(const torch::nn::Module& m) {
  Tally t;
  std::unordered_set<const void*> seen;
  for (const auto& p : m.parameters()) {
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    ++t.arrays;
    t.params += p.numel();
    t.bytes += p.numel() * static_cast<int64_t>(p.element_size());
    if (p.is_meta()) {
      t.all_zero = false;  // a SkipInit placeholder has no values to judge
    } else if (p.numel() > 0 && p.is_floating_point()) {
      torch::NoGradGuard no_grad;
      if (t.all_zero && p.count_nonzero().item<int64_t>() != 0) t.all_zero = false;
      if (p.isnan().any().item<bool>()) t.some_nan = true;
      if (p.isinf().any().item<bool>()) t.some_inf = true;
    }
  }
  auto count_state = [&](const Tensor& b) {
    if (!b.defined()) return;
    ++t.states;
    t.state_params += b.numel();
    t.bytes += b.numel() * static_cast<int64_t>(b.element_size());
  };
  for (const auto& b : m.buffers()) count_state(b);
  auto add_extra = [&](const torch::nn::Module& x) {
    if (auto* l = dynamic_cast<const LayerImpl*>(&x)) {
      for (const auto& s : l->extra_state()) count_state(s);
    }
  };
  add_extra(m);
  for (const auto& child : m.modules(/*include_self=*/false)) add_extra(*child);
  return t;
}

bool is_leaflike(const LayerImpl& m) {
  for (const auto& item : m.show_items()) {
    if (!item.layer) continue;
    if (!item.layer->show_items().empty()) return false;
    if (!item.layer->parameters().empty() || !item.layer->buffers().empty()) return false;
  }
  return true;
}

// Column arithmetic counts characters, not bytes (σ is one column).
size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string spaces(int64_t n) { return std::string(static_cast<size_t>(std::max<int64_t>(n, 0)), ' '); }

std::string markers(const Tally& t) {
  std::string s;
  if (t.params > 0 && t.all_zero) s += "  (all zero)";
  if (t.some_nan) s += "  (some NaN)";
  if (t.some_inf) s += "  (some Inf)";
  return s;
}

void show_children(std::ostream& os, const LayerImpl& m, int indent);

void show_item(std::ostream& os, const ShowItem& item, int indent) {
  const std::string pad = spaces(indent);
  const std::string prefix = item.name.empty() ? "" : item.name + " = ";
  if (!item.layer) {
    os << pad << prefix << item.text << ",\n";
    return;
  }
  const LayerImpl& child = *item.layer;
  if (!child.show_items().empty() && !is_leaflike(child)) {
    os << pad << prefix << child.show_name() << "(\n";
    show_children(os, child, indent + 2);
    os << pad << "),\n";
    return;
  }
  std::string text = prefix + child.repr();
  os << pad << text << ',';
  Tally t = tally(child);
  if (t.params > 0) {
    os << spaces(std::max<int64_t>(2, 39 - indent - static_cast<int64_t>(columns(text))));
    os << "# " << format_count(t.params) << " parameters";
    if (t.state_params > 0) os << ", plus " << format_count(t.state_params);
    os << markers(t);
  }
  os << '\n';
}

void show_children(std::ostream& os, const LayerImpl& m, int indent) {
  for (const auto& item : m.show_items()) show_item(os, item, indent);
}

}  // namespace

int64_t parameter_count(const torch::nn::Module& m) {
  // Only the sizes: tally() also scans every value for the printing's NaN/zero markers.
  std::unordered_set<const void*> seen;
  int64_t n = 0;
  for (const auto& p : m.parameters()) {
    if (seen.insert(p.unsafeGetTensorImpl()).second) n += p.numel();
  }
  return n;
}

std::string repr(const LayerImpl& m) {
  std::ostringstream os;
  m.pretty_print(os);
  return os.str();
}

void show(std::ostream& os, const LayerImpl& m) {
  Tally t = tally(m);
  if (m.show_items().empty() || is_leaflike(m)) {
    std::string text = repr(m);
    os << text;
    if (t.params > 0) {
      os << spaces(std::max<int64_t>(2, 20 - static_cast<int64_t>(columns(text))));
      os << "# " << format_count(t.params) << " parameters";
      if (t.state_params > 0) os << ", plus " << format_count(t.state_params) << " non-trainable";
      os << markers(t);
    }
    return;
  }
  os << m.show_name() << "(\n";
  show_children(os, m, 2);
  os << ')';
  if (t.arrays > 2) {
    if (t.states == 0) {
      os << spaces(19) << "# Total: " << t.arrays << " arrays, " << format_count(t.params)
         << " parameters, " << format_bytes(t.bytes) << '.';
    } else {
      os << spaces(9) << "# Total: " << t.arrays << " trainable arrays, " << format_count(t.params)
         << " parameters,\n"
         << spaces(10) << "# plus " << t.states << " non-trainable, " << format_count(t.state_params)
         << " parameters, summarysize " << format_bytes(t.bytes) << '.';
    }
  }
}

std::string float_string(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Inf" : "-Inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Julia's layout: plain between 1e-4 and 1e6.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::abs(x), std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e + 1));
  std::string out = x < 0 ? "-" : "";
  if (exp10 < -4 || exp10 >= 6) {
    out += digits.substr(0, 1) + "." + (digits.size() > 1 ? digits.substr(1) : "0") + "e" + std::to_string(exp10);
  } else if (exp10 < 0) {
    out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
  } else {
    const auto int_len = static_cast<size_t>(exp10 + 1);
    if (digits.size() <= int_len) out += digits + std::string(int_len - digits.size(), '0') + ".0";
    else out += digits.substr(0, int_len) + "." + digits.substr(int_len);
  }
  return out;
}

std::string format_count(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += '_';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string format_bytes(int64_t n) {
  if (n < 1024) return std::to_string(n) + " bytes";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f %s", v, units[u]);
  return buf;
}

}  // namespace flux
