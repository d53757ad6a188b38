// inference — forward throughput (images per second) of registry models: the plain model
// and metalhead::optimize_for_inference at fp32 (fp32_direct: without Winograd's
// convolutions) and (where the CPU has it) bf16, as `bench/inference` compares with
// PyTorch and ONNX Runtime.
//   metalhead_bench_inference [--threads N] [--seconds S] [--paths plain,fp32,fp32_direct,bf16]
//                             [--layout automatic|native|blocked|channels_last] [--size PIXELS] MODEL:BATCH ...
// (--size: square inputs of that side instead of the model's own, to see per-step costs)
// prints one JSON line per measurement, with the largest logit difference from the plain
// model relative to the logits' scale.
#include <flux/memory.h>
#include <metalhead/inference.h>
#include <metalhead/metalhead.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  double budget = 3.0;
  std::vector<std::string> paths{"plain", "fp32", "bf16"}, jobs;
  metalhead::Layout layout = metalhead::Layout::automatic;
  int64_t side = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) budget = std::atof(argv[++i]);
    else if (a == "--paths" && i + 1 < argc) paths = split(argv[++i]);
    else if (a == "--size" && i + 1 < argc) side = std::atoll(argv[++i]);
    else if (a == "--layout" && i + 1 < argc) {
      try {
        layout = metalhead::layout_from_string(argv[++i]);
      } catch (const std::invalid_argument& e) {
        std::cerr << "metalhead_bench_inference: " << e.what() << "\n";
        return 2;
      }
    }
    else jobs.push_back(a);
  }
  if (jobs.empty()) {
    std::cerr << "usage: metalhead_bench_inference [--threads N] [--seconds S] [--paths plain,fp32,fp32_direct,bf16] "
                 "[--layout automatic|native|blocked|channels_last] [--size PIXELS] MODEL:BATCH ...\n";
    return 2;
  }
  at::set_num_threads(threads);
  flux::reuse_freed_memory();
  for (const auto& job : jobs) {
    const auto colon = job.find(':');
    const std::string name = job.substr(0, colon);
    const int64_t batch = colon == std::string::npos ? 1 : std::stoll(job.substr(colon + 1));
    try {
      torch::manual_seed(0);
      metalhead::Model model = metalhead::create_model(name);
      flux::testmode(model);
      const auto& size = metalhead::model_info(name).input_size;
      torch::Tensor x = side > 0 ? torch::randn({batch, 3, side, side}) : torch::randn({batch, 3, size[0], size[1]});
      for (const auto& path : paths) {
        if (path == "bf16" && !metalhead::cpu_has_bf16()) continue;
        const bool direct = path == "fp32_direct";
        metalhead::Model m = path == "plain" ? model
                                             : metalhead::optimize_for_inference(
                                                   model, {.precision = metalhead::precision_from_string(direct ? "fp32" : path),
                                                           .layout = layout,
                                                           .winograd = !direct});
        torch::InferenceMode guard;
        torch::Tensor y;
        for (int i = 0; i < 3; ++i) y = m(x);  // warm-up: trace and oneDNN primitives
        int64_t iterations = 0;
        const auto t0 = std::chrono::steady_clock::now();
        do {
          m(x);
          ++iterations;
        } while (seconds_since(t0) < budget);
        const double elapsed = seconds_since(t0);
        rusage usage{};
        ::getrusage(RUSAGE_SELF, &usage);  // before the plain model's reference run below
        const torch::Tensor reference = path == "plain" ? y : model(x);
        const double error = ((y - reference).abs().max() / reference.abs().max()).item<double>();
        std::cout << "{\"impl\": \"metalhead\", \"path\": \"" << path << "\", \"model\": \"" << name
                  << "\", \"batch\": " << batch << ", \"threads\": " << threads
                  << ", \"images_per_s\": " << double(iterations * batch) / elapsed
                  << ", \"ms_per_batch\": " << 1000 * elapsed / double(iterations) << ", \"relative_error\": " << error
                  << ", \"max_rss_mb\": " << usage.ru_maxrss / 1024.0 << "}" << std::endl;
        if (path != "plain" && std::getenv("METALHEAD_BENCH_SHOW")) std::cerr << m << "\n";
      }
    } catch (const std::exception& e) {
      std::cerr << "metalhead_bench_inference: " << job << ": " << e.what() << "\n";
      return 1;
    }
  }
  return 0;
}
