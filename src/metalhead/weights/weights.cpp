// weights.cpp — load_weights / save_weights over the safetensors and .pth readers.
#include <metalhead/weights.h>
#include <metalhead/features.h>
#include <metalhead/layers/embeddings.h>
#include <metalhead/regular_file.h>
#include <metalhead/registry.h>
#include <metalhead/placeholders.h>
#include <metalhead/weights/pth.h>
#include <metalhead/weights/safetensors.h>

#include "naming.h"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

namespace metalhead {
namespace {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

const char* naming_name(Naming n) {
  switch (n) {
    case Naming::automatic: return "automatic";
    case Naming::metalhead: return "metalhead";
    case Naming::torchvision: return "torchvision";
    case Naming::timm: return "timm";
  }
  return "?";
}

/// Our tensors (parameters, then buffers, module by module) by their full names.
NamedTensors our_tensors(const torch::nn::Module& model) {
  NamedTensors out;
  for (const auto& m : model.named_modules()) {
    for (const auto& p : m.value()->named_parameters(false)) out.emplace_back(m.key().empty() ? p.key() : m.key() + "." + p.key(), p.value());
    for (const auto& b : m.value()->named_buffers(false)) out.emplace_back(m.key().empty() ? b.key() : m.key() + "." + b.key(), b.value());
  }
  return out;
}

NamedTensors read_any(const std::filesystem::path& path) {
  char magic[9] = {};
  const std::size_t got = RegularFile(path, "load_weights(" + path.string() + ")").read(magic, 9);
  // torch.save writes a zip ("PK") or, in the legacy format, a pickle (protocol 2: 0x80 0x02).
  if (got >= 2 && ((magic[0] == 'P' && magic[1] == 'K') || (uint8_t(magic[0]) == 0x80 && magic[1] == 2))) {
    return weights::read_pth(path.string());
  }
  if (got == 9 && magic[8] == '{') return weights::read_safetensors(path).tensors;
  throw std::runtime_error("load_weights(" + path.string() +
                           "): not a safetensors file or a torch.save checkpoint (unrecognised first bytes)");
}

std::string shape_of(const Tensor& t) { return flux::shape_string(t.sizes()); }

std::vector<int64_t> squeezed(at::IntArrayRef s) {
  std::vector<int64_t> out;
  for (auto d : s) if (d != 1) out.push_back(d);
  return out;
}

std::string list(const std::vector<std::string>& items, size_t most = 8) {
  std::ostringstream os;
  for (size_t i = 0; i < items.size() && i < most; ++i) os << (i ? ", " : "") << items[i];
  if (items.size() > most) os << " and " << items.size() - most << " more";
  return os.str();
}

bool has_naming(const Model& model, Naming naming) {
  switch (naming) {
    case Naming::torchvision: return weights::detail::has_torchvision_naming(model);
    case Naming::timm: return weights::detail::has_timm_naming(model);
    default: return true;
  }
}

weights::detail::KeyMap key_map(const Model& model, Naming naming) {
  return naming == Naming::timm ? weights::detail::timm_keys(model) : weights::detail::torchvision_keys(model);
}

}  // namespace

namespace weights {

Tensor adapt_input_conv(const Tensor& weight, int64_t inchannels) {
  if (weight.dim() != 4 || weight.size(1) == inchannels) return weight;
  if (weight.size(1) != 3) return weight;  // not an RGB stem: the shape check reports it
  if (inchannels == 1) return weight.sum(1, /*keepdim=*/true);
  const int64_t repeat = (inchannels + 2) / 3;
  return weight.repeat({1, repeat, 1, 1}).slice(1, 0, inchannels) * (3.0 / static_cast<double>(inchannels));
}

}  // namespace weights

std::string LoadReport::summary() const {
  std::ostringstream os;
  os << file << ": " << loaded << " tensors loaded (" << naming_name(naming) << " names)";
  if (!missing.empty()) os << "; missing from the file: " << list(missing);
  if (!misshaped.empty()) os << "; wrong shape: " << list(misshaped);
  if (!unused.empty()) os << "; not in the model: " << list(unused);
  return os.str();
}

NamedTensors named_tensors(const Model& model, Naming naming) {
  NamedTensors ours = our_tensors(*model.ptr());
  if (naming == Naming::metalhead || naming == Naming::automatic) return ours;
  std::unordered_map<std::string, weights::detail::KeyPair> theirs;
  for (auto& k : key_map(model, naming)) theirs.emplace(k.ours, k);
  NamedTensors out;
  for (auto& [name, t] : ours) {
    auto it = theirs.find(name);
    if (it == theirs.end()) throw std::logic_error(std::string("named_tensors: no ") + naming_name(naming) + " name for " + name);
    out.emplace_back(it->second.theirs, it->second.leading_one ? t.unsqueeze(0) : t);
  }
  return out;
}

LoadReport load_weights(Model& model, const std::filesystem::path& path, const LoadOptions& options) {
  return load_weights(model, read_any(path), path.string(), options);
}

LoadReport load_weights(Model& model, NamedTensors file, const std::string& source, const LoadOptions& options) {
  const std::string where = "load_weights(" + source + ")";
  // A `metalhead train` checkpoint keeps its optimiser and RNG state under "training/".
  std::erase_if(file, [](const auto& e) { return e.first.rfind("training/", 0) == 0; });

  // DataParallel checkpoints prefix every key with "module.".
  const std::string dp = "module.";
  if (!file.empty() && std::all_of(file.begin(), file.end(), [&](const auto& e) { return e.first.rfind(dp, 0) == 0; })) {
    for (auto& e : file) e.first.erase(0, dp.size());
  }
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < file.size(); ++i) by_name.emplace(file[i].first, i);

  // For each naming the family has: our key → the file's key (by name, never by
  // position); the naming that finds most of the file's tensors wins.
  const NamedTensors ours = our_tensors(*model.ptr());
  std::map<Naming, std::unordered_map<std::string, std::string>> candidates;
  for (Naming n : {Naming::metalhead, Naming::torchvision, Naming::timm}) {
    if (options.naming != Naming::automatic && options.naming != n) continue;
    auto refuse = [&](const std::string& why) {
      throw std::invalid_argument(where + ": " + naming_name(n) + "'s names do not fit this " + model->type_name + why);
    };
    if (!has_naming(model, n)) {
      if (options.naming == n) refuse("");
      continue;
    }
    auto& keys = candidates[n];
    if (n == Naming::metalhead) {
      for (const auto& [name, t] : ours) keys.emplace(name, name);
      continue;
    }
    try {
      for (auto& k : key_map(model, n)) keys.emplace(k.ours, k.theirs);
    } catch (const std::logic_error& e) {  // a configuration the original does not have
      candidates.erase(n);
      if (options.naming == n) refuse(std::string(" configuration: ") + e.what());
    }
  }
  auto coverage = [&](const std::unordered_map<std::string, std::string>& keys) {
    return std::count_if(keys.begin(), keys.end(), [&](const auto& k) { return by_name.count(k.second) > 0; });
  };
  LoadReport report{.file = source};
  long best = -1;
  for (const auto& [n, keys] : candidates) {
    if (const long c = coverage(keys); c > best) best = c, report.naming = n;
  }
  const auto& keys = candidates.at(report.naming);
  if (best == 0 && !ours.empty()) {
    throw std::runtime_error(where + ": none of the file's " + std::to_string(file.size()) + " tensors (" +
                             (file.empty() ? std::string("none") : file[0].first + ", ...") + ") is a " +
                             model->type_name + " tensor under our, torchvision's or timm's names");
  }

  // Check everything into temporaries first; the model changes only if all is well.
  std::vector<std::pair<size_t, Tensor>> staged;  // (index into ours, value)
  std::set<std::string> used;
  const std::set<std::string> keep(options.keep.begin(), options.keep.end());
  bool first_conv = true;  // adapt_inchannels applies to the first 4-D weight only
  std::map<std::string, const layers::ViPosEmbeddingImpl*> pos_embeds;  // by our tensor name
  if (options.resample_pos_embed) {
    for (const auto& m : model->named_modules()) {
      auto e = dynamic_cast<const layers::ViPosEmbeddingImpl*>(m.value().get());
      if (e && !e->grid.empty()) pos_embeds.emplace((m.key().empty() ? "" : m.key() + ".") + "vectors", e);
    }
  }
  for (size_t i = 0; i < ours.size(); ++i) {
    const auto& [name, target] = ours[i];
    auto named = keys.find(name);
    if (named == keys.end()) throw std::logic_error(where + ": no " + naming_name(report.naming) + " name for " + name);
    const std::string& key = named->second;
    auto it = by_name.find(key);
    if (keep.count(name)) {
      if (it != by_name.end()) used.insert(key);
      continue;
    }
    if (it == by_name.end()) {
      report.missing.push_back(key == name ? name : key + " (our " + name + ")");
      continue;
    }
    used.insert(key);
    Tensor value = file[it->second].second;
    if (target.dim() == 4 && std::exchange(first_conv, false) && options.adapt_inchannels) {
      value = weights::adapt_input_conv(value, target.size(1));
    }
    if (auto e = pos_embeds.find(name); e != pos_embeds.end() && value.numel() != target.numel()) {
      const Tensor v = value.dim() == 3 && value.size(0) == 1 ? value[0] : value;
      try {
        value = layers::resample_pos_embed(v, e->second->grid, e->second->prefix);
      } catch (const std::invalid_argument& err) {
        report.misshaped.push_back(key + ": " + err.what());
        continue;
      }
    }
    const bool same = value.sizes() == target.sizes();
    // A leading or trailing 1 differs between layouts (torchvision's ViT position
    // embedding is [1, T, D], ours [T, D]): same elements, same order.
    if (!same && !(value.numel() == target.numel() && squeezed(value.sizes()) == squeezed(target.sizes()))) {
      report.misshaped.push_back(key + ": file " + shape_of(value) + ", model " + shape_of(target));
      continue;
    }
    if (!value.is_floating_point() && target.is_floating_point()) {
      report.misshaped.push_back(key + ": file dtype " + std::string(c10::toString(value.scalar_type())) +
                                 ", model " + c10::toString(target.scalar_type()));
      continue;
    }
    staged.emplace_back(i, value.reshape(target.sizes()));
  }
  for (const auto& [name, t] : file) {
    const bool counter = name.size() > 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
    if (!used.count(name) && !counter) report.unused.push_back(name);
  }
  if (!report.missing.empty() || !report.misshaped.empty() || (options.strict && !report.unused.empty())) {
    throw std::runtime_error(where + ": cannot load into " + model->type_name + ", model unchanged: " + report.summary());
  }

  torch::NoGradGuard no_grad;
  for (auto& [i, value] : staged) {
    // A placeholder takes the value's storage: give it its own, not the file's.
    fill_placeholder(ours[i].second, ours[i].second.is_meta() ? value.clone() : value);
  }
  report.loaded = staged.size();
  return report;
}

void save_weights(const Model& model, const std::filesystem::path& path, const SaveOptions& options) {
  NamedTensors tensors = named_tensors(model, options.naming);
  for (const auto& [name, t] : tensors) {
    if (t.is_meta()) {
      throw std::invalid_argument("save_weights(" + path.string() + "): " + name +
                                  " has no values (the model was built under flux::SkipInit and not loaded)");
    }
  }
  auto metadata = options.metadata;
  metadata.emplace("format", "pt");
  metadata.emplace("naming", naming_name(options.naming == Naming::automatic ? Naming::metalhead : options.naming));
  metadata.emplace("model", model->type_name);
  weights::write_safetensors(path, tensors, metadata);
}

std::filesystem::path pretrained_weights_path(const std::string& name) {
  const std::string file = name + ".safetensors";
  std::vector<std::filesystem::path> looked;
  if (const char* dir = std::getenv("METALHEAD_WEIGHTS"); dir && *dir) looked.push_back(std::filesystem::path(dir) / file);
  if (const char* home = std::getenv("HOME"); home && *home) {
    looked.push_back(std::filesystem::path(home) / ".cache" / "metalhead" / "weights" / file);
  }
  for (const auto& p : looked) {
    if (std::filesystem::is_regular_file(p)) return p;
  }
  std::ostringstream os;
  os << "pretrain: no weights for " << name << "; looked for ";
  for (size_t i = 0; i < looked.size(); ++i) os << (i ? " and " : "") << looked[i].string();
  if (looked.empty()) os << "nothing ($METALHEAD_WEIGHTS and $HOME are unset)";
  os << ". Make the file from torchvision/timm's pretrained weights with: scripts/export-weights " << name
     << " --output " << (looked.empty() ? std::string("DIR") : looked.back().parent_path().string());
  throw std::runtime_error(os.str());
}

Model load_pretrained(Model model, const std::string& name) {
  std::filesystem::path path;
  try {
    path = pretrained_weights_path(name);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(model->type_name + ": " + e.what());
  }
  LoadOptions options{.adapt_inchannels = model->inchannels != 3, .resample_pos_embed = true};
  // Another number of classes (transfer learning): the logits layer stays as initialised.
  if (detail::num_logits(model) != pretrained_cfg(name).num_classes) options.keep = detail::logits_tensor_names(model);
  load_weights(model, path, options);
  return model;
}

namespace detail {

Model pretrained(Model model, bool pretrain, std::string row, const std::string& why_none) {
  if (!row.empty()) row = is_registered(row) ? model_info(row).name : "";
  model->row = row;
  if (!pretrain) return model;
  if (row.empty()) {
    throw std::invalid_argument("pretrain: " + model->type_name + ": " +
                                (why_none.empty() ? std::string("no registry model has this configuration") : why_none) +
                                ", so there are no weights for it; see list_models()");
  }
  return load_pretrained(std::move(model), row);
}

}  // namespace detail

}  // namespace metalhead
