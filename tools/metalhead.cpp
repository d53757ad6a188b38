// metalhead — the command-line tool: `metalhead list`, `summary MODEL`, `bench MODEL`.
//
// Conventions: --help on every subcommand; results to stdout (--json for scripts),
// errors to stderr as `metalhead <command>: <message>`; exit status 0 on success,
// 1 when the command fails, 2 for a usage error.
#include <metalhead/flops.h>
#include <metalhead/metalhead.h>
#include <metalhead/placeholders.h>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <CLI/CLI.hpp>
#include <flux/memory.h>
#include <flux/printing.h>
#include <nlohmann/json.hpp>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>

namespace {

using nlohmann::json;

std::string size_string(const std::vector<int64_t>& s) { return std::to_string(s.at(0)) + "×" + std::to_string(s.at(1)); }

// metalhead list [FILTER] [--json]
void add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "every registry model with its parameter count and GFLOPs");
  auto filter = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("filter", *filter, "only names containing this text");
  cmd->add_flag("--json", *as_json, "one JSON array instead of a table");
  cmd->callback([=] {
    json rows = json::array();
    if (!*as_json) {
      std::cout << std::left << std::setw(30) << "model" << std::setw(18) << "family" << std::setw(12) << "source"
                << std::right << std::setw(14) << "parameters" << std::setw(10) << "GFLOPs" << "  input\n";
    }
    for (const auto& name : metalhead::list_models(*filter)) {
      const auto& info = metalhead::model_info(name);
      const int64_t params = flux::parameter_count(*metalhead::placeholder_model(info).ptr());
      const double g = metalhead::gflops(name);
      if (*as_json) {
        rows.push_back({{"name", name}, {"aliases", info.aliases}, {"family", info.family}, {"source", info.source},
                        {"parameters", params}, {"gflops", g}, {"input_size", info.input_size}});
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

// metalhead summary MODEL [--input-size H W] [--inchannels C] [--nclasses N] [--json]
void add_summary(CLI::App& app) {
  auto* cmd = app.add_subcommand("summary", "a model's structure as Flux prints it, its output shape and totals");
  struct Args {
    std::string model;
    std::vector<int64_t> input_size;
    int64_t inchannels = 3, nclasses = 1000;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "a registry name (see `metalhead list`)")->required();
  cmd->add_option("--input-size", a->input_size, "H W (default: the model's own)")->expected(2);
  cmd->add_option("--inchannels", a->inchannels, "input channels")->check(CLI::PositiveNumber);
  cmd->add_option("--nclasses", a->nclasses, "classes")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", a->json, "totals as JSON instead of the printed structure");
  cmd->callback([a] {
    const auto& info = metalhead::model_info(a->model);
    const auto size = a->input_size.empty() ? info.input_size : a->input_size;
    metalhead::Model m = info.build({.inchannels = a->inchannels, .nclasses = a->nclasses});
    torch::NoGradGuard no_grad;
    m.ptr()->eval();
    const auto out = m(torch::zeros({1, a->inchannels, size[0], size[1]}));
    const int64_t params = flux::parameter_count(*m.ptr());
    const double g = static_cast<double>(metalhead::multiply_adds(m, size)) / 1e9;
    if (a->json) {
      std::cout << json{{"name", info.name}, {"family", info.family}, {"parameters", params}, {"gflops", g},
                        {"input", {1, a->inchannels, size[0], size[1]}}, {"output", out.sizes().vec()}}
                       .dump(2)
                << "\n";
      return;
    }
    std::cout << *m.ptr() << "\n\ninput  [1, " << a->inchannels << ", " << size[0] << ", " << size[1] << "]\noutput "
              << flux::shape_string(out) << "\n" << params << " parameters, " << std::fixed << std::setprecision(2) << g
              << " GFLOPs (multiply-adds) at " << size_string(size) << "\n";
  });
}

// metalhead bench MODEL [--batch-size B...] [--threads T] [--seconds S] [--input-size H W] [--json]
void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "forward (inference) and training-step images per second");
  struct Args {
    std::string model;
    std::vector<int64_t> batch_sizes{1, 16}, input_size;
    int threads = 0;
    double seconds = 3;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "a registry name")->required();
  cmd->add_option("--batch-size", a->batch_sizes, "one or more batch sizes")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a->threads, "intra-op threads (default: libtorch's)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seconds", a->seconds, "time per measurement")->check(CLI::PositiveNumber);
  cmd->add_option("--input-size", a->input_size, "H W (default: the model's own)")->expected(2);
  cmd->add_flag("--json", a->json, "one JSON object per measurement");
  cmd->callback([a] {
    if (a->threads > 0) at::set_num_threads(a->threads);
    const auto& info = metalhead::model_info(a->model);
    const auto size = a->input_size.empty() ? info.input_size : a->input_size;
    metalhead::Model m = info.build({});
    using clock = std::chrono::steady_clock;
    // Runs `step` repeatedly for the time budget (after one warm-up call); images per second.
    auto rate = [&](int64_t batch, const std::function<void()>& step) {
      step();
      int64_t n = 0;
      const auto t0 = clock::now();
      double elapsed = 0;
      do {
        step();
        ++n;
        elapsed = std::chrono::duration<double>(clock::now() - t0).count();
      } while (elapsed < a->seconds);
      return static_cast<double>(n * batch) / elapsed;
    };
    for (int64_t batch : a->batch_sizes) {
      const auto x = torch::randn({batch, 3, size[0], size[1]});
      const auto y = torch::randint(0, 1000, {batch});
      m.ptr()->eval();
      const double forward = rate(batch, [&] {
        c10::InferenceMode guard;
        m(x);
      });
      m.ptr()->train();
      torch::optim::SGD opt(m.ptr()->parameters(), torch::optim::SGDOptions(1e-4).momentum(0.9));
      const double train = rate(batch, [&] {
        opt.zero_grad();
        torch::nn::functional::cross_entropy(m(x), y).backward();
        opt.step();
      });
      if (a->json) {
        std::cout << json{{"model", info.name}, {"batch_size", batch}, {"input_size", size},
                          {"threads", at::get_num_threads()}, {"forward_img_per_s", forward},
                          {"train_img_per_s", train}}
                         .dump()
                  << "\n";
      } else {
        std::cout << info.name << "  batch " << batch << "  " << size_string(size) << "  threads "
                  << at::get_num_threads() << "  forward " << std::fixed << std::setprecision(1) << forward
                  << " img/s  training step " << train << " img/s\n";
      }
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  // Large activations are otherwise page-faulted in afresh on every batch (flux/memory.h).
  flux::reuse_freed_memory();
  CLI::App app{"metalhead " METALHEAD_VERSION " — Flux's layers and Metalhead's models in C++", "metalhead"};
  app.set_version_flag("--version", "metalhead " METALHEAD_VERSION);
  app.require_subcommand(1);
  add_list(app);
  add_summary(app);
  add_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version exit 0; usage errors 2
  } catch (const std::exception& e) {
    const auto* sub = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
    std::cerr << "metalhead" << (sub ? " " + sub->get_name() : std::string()) << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
