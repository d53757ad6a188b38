// printing.h — Flux's printing and parameter counting for any layer or model.
//
//   std::cout << flux::Dense({5, 2});        // Dense(5 => 2)       # 12 parameters
//
// Containers print one child per line with counts and a `# Total: ...` footer,
// exactly as Flux's REPL does; `repr(m)` gives the one-line form.
#pragma once

#include <flux/layer.h>

#include <cstdint>
#include <ostream>
#include <string>

namespace flux {

/// Number of trainable scalars (shared arrays counted once).
int64_t parameter_count(const torch::nn::Module& m);
template <class T>
int64_t parameter_count(const torch::nn::ModuleHolder<T>& m) {
  return parameter_count(*m);
}
inline int64_t parameter_count(const Layer& m) { return parameter_count(*m); }

/// Flux's expanded printing of a layer or model, with counts.
void show(std::ostream& os, const LayerImpl& m);
/// The one-line form, as Flux's 2-argument `show`.
std::string repr(const LayerImpl& m);

/// `1_607_680`: Flux's digit grouping.
std::string format_count(int64_t n);
/// `0.1`, `1.0`, `1.0e-5`: a Float64 as Julia prints it (shortest round trip).
std::string float_string(double x);
/// `344 bytes`, `1.023 KiB`, `6.211 MiB`: Julia's Base.format_bytes.
std::string format_bytes(int64_t n);

inline std::ostream& operator<<(std::ostream& os, const Layer& m) {
  show(os, *m);
  return os;
}
inline std::ostream& operator<<(std::ostream& os, const LayerImpl& m) {
  show(os, m);
  return os;
}
// More constrained than torch's own operator<< for module holders, so it wins.
template <class T>
  requires std::derived_from<T, LayerImpl>
std::ostream& operator<<(std::ostream& os, const torch::nn::ModuleHolder<T>& m) {
  show(os, *m);
  return os;
}

}  // namespace flux
