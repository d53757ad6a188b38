// bench.cpp — `metalhead bench`: forward and training-step throughput.
#include "../cli.h"

#include <metalhead/metalhead.h>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <metalhead/train.h>

#include <chrono>
#include <functional>
#include <iomanip>
#include <iostream>

namespace cli {

using nlohmann::json;

// metalhead bench MODEL [--batch-size B...] [--threads T] [--seconds S] [--input-size H W]
//                 [--precision fp32|bf16] [--no-optimise] [--device cpu|cuda] [--json]
void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "forward (inference) and training-step images per second");
  struct Args {
    std::string model;
    std::vector<int64_t> batch_sizes{1, 16}, input_size;
    int64_t inchannels = 3, nclasses = 1000;
    int threads = 0;
    double seconds = 3;
    bool json = false;
    EngineFlags engine;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "a registry name")->required();
  cmd->add_option("--batch-size", a->batch_sizes, "one or more batch sizes")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a->threads, "intra-op threads (default: one per core)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--inchannels", a->inchannels, "input channels")->check(CLI::PositiveNumber);
  cmd->add_option("--nclasses", a->nclasses, "classes")->check(CLI::PositiveNumber);
  cmd->add_option("--seconds", a->seconds, "time per measurement")->check(CLI::PositiveNumber);
  cmd->add_option("--input-size", a->input_size, "H W (default: the model's own)")->expected(2);
  cmd->add_flag("--json", a->json, "one JSON object per measurement");
  add_engine_flags(cmd, a->engine);
  cmd->callback([a] {
    set_threads(a->threads);
    check_engine_flags(a->engine);
    const auto& info = metalhead::model_info(a->model);
    const auto size = a->input_size.empty() ? info.input_size : a->input_size;
    for (int64_t batch : a->batch_sizes) check_input(size, batch, a->inchannels);
    metalhead::Model m = info.build({.inchannels = a->inchannels, .nclasses = a->nclasses});
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
      const auto x = torch::randn({batch, a->inchannels, size[0], size[1]});
      const auto y = torch::randint(0, a->nclasses, {batch});
      m.ptr()->eval();
      const double plain = rate(batch, [&] {
        c10::InferenceMode guard;
        m(x);
      });
      // The optimised path (traced and built in its warm-up call), unless --no-optimise.
      const metalhead::Model fast = inference_model(m, a->engine);
      const double forward = a->engine.no_optimise ? plain : rate(batch, [&] {
        c10::InferenceMode guard;
        fast(x);
      });
      // The step `metalhead train` takes: SGD with momentum and weight decay.
      m.ptr()->train();
      metalhead::train::Optimiser opt(m.ptr()->parameters(), {.lr = 1e-4});
      const double train = rate(batch, [&] {
        opt.zero_grad();
        at::cross_entropy_loss(m(x), y).backward();
        opt.step(1e-4);
      });
      if (a->json) {
        std::cout << json{{"model", info.name}, {"batch_size", batch}, {"input_size", size}, {"inchannels", a->inchannels},
                          {"threads", at::get_num_threads()}, {"optimised", !a->engine.no_optimise},
                          {"precision", a->engine.precision}, {"winograd", !a->engine.no_optimise && !a->engine.no_winograd},
                          {"forward_img_per_s", forward},
                          {"plain_forward_img_per_s", plain}, {"train_img_per_s", train}}
                         .dump()
                  << "\n";
      } else {
        std::cout << info.name << "  batch " << batch << "  " << size_string(size) << "  threads "
                  << at::get_num_threads() << "  forward " << std::fixed << std::setprecision(1) << forward << " img/s ("
                  << (a->engine.no_optimise ? "plain" : "optimised " + a->engine.precision) << "; plain " << plain
                  << ")  training step " << train << " img/s\n";
      }
    }
  });
}

}  // namespace cli
