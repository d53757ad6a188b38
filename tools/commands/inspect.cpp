// inspect.cpp — `metalhead list` and `metalhead summary`.
#include "../cli.h"

#include <metalhead/atomic_file.h>
#include <metalhead/flops.h>
#include <metalhead/metalhead.h>
#include <metalhead/placeholders.h>

#include <flux/printing.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace cli {

using nlohmann::json;

std::string size_string(const std::vector<int64_t>& s) { return std::to_string(s.at(0)) + "×" + std::to_string(s.at(1)); }

namespace {

json cfg_json(const metalhead::PretrainedCfg& c) {
  return {{"weights", c.weights},       {"naming", c.naming},   {"input_size", c.input_size},
          {"crop_pct", c.crop_pct},     {"resize", c.resize},   {"crop_mode", c.squash ? "squash" : "center"},
          {"interpolation", c.interpolation}, {"mean", c.mean}, {"std", c.std},
          {"num_classes", c.num_classes}, {"first_conv", c.first_conv}, {"classifier", c.classifier},
          {"label_set", c.label_set}};
}

}  // namespace

// metalhead list [FILTER] [--json]
void add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "every registry model with its parameter count and GFLOPs");
  auto filter = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false), live = std::make_shared<bool>(false);
  cmd->add_option("filter", *filter, "only names containing this text");
  cmd->add_flag("--json", *as_json, "one JSON array instead of a table");
  cmd->add_flag("--live", *live, "count GFLOPs now (a forward per model) instead of reading the table");
  cmd->callback([=] {
    json rows = json::array();
    if (!*as_json) {
      std::cout << std::left << std::setw(30) << "model" << std::setw(18) << "family" << std::setw(12) << "source"
                << std::right << std::setw(14) << "parameters" << std::setw(10) << "GFLOPs" << "  input\n";
    }
    for (const auto& name : metalhead::list_models(*filter)) {
      const auto& info = metalhead::model_info(name);
      const int64_t params = *live ? flux::parameter_count(*metalhead::placeholder_model(info).ptr()) : info.parameters;
      const double g = *live ? metalhead::gflops(name, info.input_size) : info.gflops;
      if (*as_json) {
        rows.push_back({{"name", name}, {"aliases", info.aliases}, {"family", info.family}, {"source", info.source},
                        {"parameters", params}, {"gflops", g},
                        {"multiply_adds", std::llround(g * 1e9)}, {"input_size", info.input_size},
                        {"pretrained_cfg", cfg_json(info.pretrained)}});
      } else {
        char gf[32];
        std::snprintf(gf, sizeof gf, "%.2f", g);
        std::cout << std::left << std::setw(30) << name << std::setw(18) << info.family << std::setw(12) << info.source
                  << std::right << std::setw(14) << params << std::setw(10) << gf << "  " << size_string(info.input_size)
                  << "\n";
      }
    }
    if (*as_json) std::cout << rows.dump(2) << "\n";
  });
}

namespace {

// One line of the summary table: a layer, what it prints as, its output's shape.
struct LayerRow {
  std::string path, what, shape;
  int64_t parameters = 0;
};

// Runs `x` through `layer`, descending into Chains `depth` levels, one row per leaf.
at::Tensor walk(const flux::Layer& layer, const std::string& path, at::Tensor x, int depth, std::vector<LayerRow>& rows) {
  if (auto chain = layer.as<flux::ChainImpl>(); chain && depth > 0) {
    for (size_t i = 0; i < chain->size(); ++i) {
      const std::string& name = chain->names().size() > i ? chain->names()[i] : std::string();
      x = walk((*chain)[i], path + (name.empty() ? "[" + std::to_string(i) + "]" : "." + name), x, depth - 1, rows);
    }
    return x;
  }
  at::Tensor y = layer(x);
  std::string what = flux::repr(*layer);
  if (what.size() > 64) what = what.substr(0, 61) + "...";
  rows.push_back({path, what, flux::shape_string(y), flux::parameter_count(*layer)});
  return y;
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The layer graph for Graphviz: the input, one node per row, the output; edges in order.
std::string dot_graph(const std::string& name, const std::string& input, const std::vector<LayerRow>& rows) {
  std::ostringstream g;
  g << "digraph \"" << dot_escape(name) << "\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
    << "  input [label=\"input\\n" << dot_escape(input) << "\", shape=ellipse];\n";
  std::string previous = "input";
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string id = "l" + std::to_string(i);
    g << "  " << id << " [label=\"" << dot_escape(rows[i].path) << "\\n" << dot_escape(rows[i].what) << "\\n"
      << dot_escape(rows[i].shape) << "\"];\n  " << previous << " -> " << id << ";\n";
    previous = id;
  }
  g << "}\n";
  return g.str();
}

}  // namespace

// metalhead summary MODEL [--input-size H W] [--inchannels C] [--nclasses N] [--depth D] [--dot FILE] [--json]
void add_summary(CLI::App& app) {
  auto* cmd = app.add_subcommand("summary", "a model's structure as Flux prints it, per-layer output shapes and totals");
  struct Args {
    std::string model, dot;
    std::vector<int64_t> input_size;
    int64_t inchannels = 3, nclasses = 1000;
    int depth = 2;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "a registry name (see `metalhead list`)")->required();
  cmd->add_option("--input-size", a->input_size, "H W (default: the model's own)")->expected(2);
  cmd->add_option("--inchannels", a->inchannels, "input channels")->check(CLI::PositiveNumber);
  cmd->add_option("--nclasses", a->nclasses, "classes")->check(CLI::PositiveNumber);
  cmd->add_option("--depth", a->depth, "how many levels of Chains the table opens")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--dot", a->dot, "write the layer graph to this Graphviz file");
  cmd->add_flag("--json", a->json, "layers and totals as JSON instead of the printed structure");
  cmd->callback([a] {
    const auto& info = metalhead::model_info(a->model);
    const auto size = a->input_size.empty() ? info.input_size : a->input_size;
    check_input(size, 1, a->inchannels);
    metalhead::Model m = info.build({.inchannels = a->inchannels, .nclasses = a->nclasses});
    torch::NoGradGuard no_grad;
    m.ptr()->eval();
    const auto x = torch::zeros({1, a->inchannels, size[0], size[1]});
    const auto out = m(x);
    std::vector<LayerRow> rows;
    walk(flux::Layer(m.ptr()->layers), "layers", x, a->depth + 1, rows);
    const int64_t params = flux::parameter_count(*m.ptr());
    const double g = static_cast<double>(metalhead::multiply_adds(m, size)) / 1e9;
    if (!a->dot.empty()) metalhead::write_file_atomically(a->dot, dot_graph(info.name, flux::shape_string(x), rows));
    if (a->json) {
      json layers = json::array();
      for (const auto& r : rows) {
        layers.push_back({{"path", r.path}, {"layer", r.what}, {"output", r.shape}, {"parameters", r.parameters}});
      }
      std::cout << json{{"name", info.name}, {"family", info.family}, {"parameters", params}, {"gflops", g},
                        {"input", {1, a->inchannels, size[0], size[1]}}, {"output", out.sizes().vec()},
                        {"layers", layers}}
                       .dump(2)
                << "\n";
      return;
    }
    std::cout << *m.ptr() << "\n\n";
    size_t wide_path = 5, wide_what = 5, wide_shape = 12;
    for (const auto& r : rows) {
      wide_path = std::max(wide_path, r.path.size());
      wide_what = std::max(wide_what, r.what.size());
      wide_shape = std::max(wide_shape, r.shape.size());
    }
    std::cout << std::left << std::setw(static_cast<int>(wide_path + 2)) << "layer"
              << std::setw(static_cast<int>(wide_what + 2)) << "" << std::setw(static_cast<int>(wide_shape + 2))
              << "output shape" << std::right << std::setw(12) << "parameters\n";
    std::cout << std::left << std::setw(static_cast<int>(wide_path + 2)) << "input"
              << std::setw(static_cast<int>(wide_what + 2)) << "" << flux::shape_string(x) << "\n";
    for (const auto& r : rows) {
      std::cout << std::left << std::setw(static_cast<int>(wide_path + 2)) << r.path
                << std::setw(static_cast<int>(wide_what + 2)) << r.what << std::setw(static_cast<int>(wide_shape + 2))
                << r.shape << std::right << std::setw(11) << flux::format_count(r.parameters) << "\n";
    }
    std::cout << "\ninput  [1, " << a->inchannels << ", " << size[0] << ", " << size[1] << "]\noutput "
              << flux::shape_string(out) << "\n" << params << " parameters, " << std::fixed << std::setprecision(2) << g
              << " GFLOPs (multiply-adds) at " << size_string(size) << "\n";
    if (!a->dot.empty()) std::cout << "layer graph: " << a->dot << "\n";
  });
}

}  // namespace cli
