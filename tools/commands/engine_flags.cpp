// engine_flags.cpp — --precision, --no-optimise, --layout, --no-winograd and --device, shared by classify, eval,
// bench and train.
#include "../cli.h"

#include <metalhead/inference.h>

#include <torch/cuda.h>

namespace cli {

void add_engine_flags(CLI::App* cmd, EngineFlags& flags, bool inference) {
  cmd->add_option("--device", flags.device, "cpu, or cuda where libtorch has it")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  if (!inference) return;
  cmd->add_option("--precision", flags.precision, "fp32, or bf16 on CPUs with AVX512-BF16 or AMX")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_flag("--no-optimise", flags.no_optimise, "the plain model, not optimize_for_inference's");
  cmd->add_option("--layout", flags.layout, "activations: automatic (blocked from batch 8), native (oneDNN's pick), blocked or channels_last")
      ->check(CLI::IsMember({"automatic", "native", "blocked", "channels_last"}));
  cmd->add_flag("--no-winograd", flags.no_winograd, "direct 3x3 convolutions only (Winograd's are within 2e-6)");
}

void check_engine_flags(const EngineFlags& flags) {
  if (flags.device == "cuda") {
    if (!torch::cuda::is_available()) {
      throw CLI::ValidationError("--device cuda: this libtorch has no CUDA (or no GPU is visible); use --device cpu");
    }
    throw CLI::ValidationError("--device cuda: the metalhead program runs on the CPU only for now; "
                               "use the library's models with model->to(torch::kCUDA)");
  }
  if (flags.precision == "bf16") {
    if (flags.no_optimise) throw CLI::ValidationError("--precision bf16 needs the optimised path (drop --no-optimise)");
    if (!metalhead::cpu_has_bf16()) {
      throw CLI::ValidationError("--precision bf16: this CPU has neither AVX512-BF16 nor AMX; use fp32");
    }
  }
}

metalhead::Model inference_model(const metalhead::Model& model, const EngineFlags& flags) {
  check_engine_flags(flags);
  if (flags.no_optimise) return model;
  return metalhead::optimize_for_inference(model, {.precision = metalhead::precision_from_string(flags.precision),
                                                  .layout = metalhead::layout_from_string(flags.layout),
                                                  .winograd = !flags.no_winograd});
}

}  // namespace cli
