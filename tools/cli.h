// cli.h — what the `metalhead` subcommands share.
#pragma once

#include <metalhead/data/idx.h>
#include <metalhead/model.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace cli {

// Each adds one subcommand to the program.
void add_list(CLI::App& app);
void add_summary(CLI::App& app);
void add_bench(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_classify(CLI::App& app);
void add_samples(CLI::App& app);
void add_embed(CLI::App& app);
void add_export(CLI::App& app);

std::string size_string(const std::vector<int64_t>& hw);  // "224×224"

/// A data set by name: "fashion-mnist" (Debian's package) or an image folder; `size`
/// resizes a folder's images ([H, W]; empty: they must agree); `limit` > 0 keeps the first
/// `limit` images.
metalhead::data::LabelledImages load_data(const std::string& data, metalhead::data::Split split,
                                          const std::vector<int64_t>& size = {}, int64_t channels = 0,
                                          int64_t limit = 0);

/// `metalhead train --nproc-per-node N`: runs this program's command line (less that flag)
/// as N local ranks with torchrun's environment, waits, and throws when a rank failed.
void launch_local_ranks(int nproc, int master_port, std::chrono::seconds timeout);

/// Intra-op threads: `threads` if positive, else one per core; more than 4 per core is refused.
void set_threads(int threads);

/// Refuses (as a usage error) an input size outside 1..kMaxImageSide or a batch of inputs
/// that would not fit in a quarter of the machine's memory.
void check_input(const std::vector<int64_t>& hw, int64_t batch, int64_t channels);

/// How classify, eval and bench run a model: --precision fp32|bf16, --no-optimise (the plain
/// model instead of metalhead::optimize_for_inference's), --layout, --device cpu|cuda.
struct EngineFlags {
  std::string precision = "fp32";
  bool no_optimise = false;
  std::string layout = "automatic";
  bool no_winograd = false;
  std::string device = "cpu";
};

/// Adds --device (every command) and, when `inference`, --precision and --no-optimise.
void add_engine_flags(CLI::App* cmd, EngineFlags& flags, bool inference = true);

/// Refuses (as a usage error) --device cuda where this libtorch has no CUDA, and a
/// --precision this CPU or path cannot run.
void check_engine_flags(const EngineFlags& flags);

/// The model to run: optimised (at --precision) unless --no-optimise.
metalhead::Model inference_model(const metalhead::Model& model, const EngineFlags& flags);

}  // namespace cli
