// forward — forward-pass throughput (images per second) of registry models, in
// evaluation mode under InferenceMode, as `bench/run` compares with torchvision.
//   metalhead_bench_forward [--threads N] [--seconds S] MODEL:BATCH ...
// prints one JSON line per measurement.
#include <flux/memory.h>
#include <metalhead/metalhead.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  double budget = 3.0;
  bool reuse = true;  // keep freed memory, as the metalhead tool does (flux/memory.h)
  std::vector<std::string> jobs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) budget = std::atof(argv[++i]);
    else if (a == "--default-malloc") reuse = false;
    else jobs.push_back(a);
  }
  if (jobs.empty()) {
    std::cerr << "usage: metalhead_bench_forward [--threads N] [--seconds S] [--default-malloc] MODEL:BATCH ...\n";
    return 2;
  }
  at::set_num_threads(threads);
  if (reuse) flux::reuse_freed_memory();
  for (const auto& job : jobs) {
    const auto colon = job.find(':');
    const std::string name = job.substr(0, colon);
    const int64_t batch = colon == std::string::npos ? 1 : std::stoll(job.substr(colon + 1));
    try {
      metalhead::Model model = metalhead::create_model(name);
      flux::testmode(model);
      const auto& size = metalhead::model_info(name).input_size;
      torch::InferenceMode guard;
      torch::Tensor x = torch::randn({batch, 3, size[0], size[1]});
      for (int i = 0; i < 2; ++i) model(x);  // warm-up: allocator, oneDNN primitives
      int64_t iterations = 0;
      const auto t0 = std::chrono::steady_clock::now();
      do {
        model(x);
        ++iterations;
      } while (seconds_since(t0) < budget);
      const double elapsed = seconds_since(t0);
      std::cout << "{\"impl\": \"metalhead\", \"model\": \"" << name << "\", \"batch\": " << batch
                << ", \"threads\": " << threads << ", \"malloc\": \"" << (reuse ? "reuse" : "default")
                << "\", \"images_per_s\": " << double(iterations * batch) / elapsed
                << ", \"ms_per_batch\": " << 1000 * elapsed / double(iterations) << "}" << std::endl;
    } catch (const std::exception& e) {
      std::cerr << "metalhead_bench_forward: " << job << ": " << e.what() << "\n";
      return 1;
    }
  }
  return 0;
}
