// cli.h — what the `metalhead` subcommands share.
#pragma once

#include <metalhead/data/idx.h>

#include <CLI/CLI.hpp>

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

std::string size_string(const std::vector<int64_t>& hw);  // "224×224"

/// A data set by name: "fashion-mnist" (Debian's package) or an image folder; `size`
/// resizes a folder's images ([H, W]; empty: they must agree); `limit` > 0 keeps the first
/// `limit` images.
metalhead::data::LabelledImages load_data(const std::string& data, metalhead::data::Split split,
                                          const std::vector<int64_t>& size = {}, int64_t channels = 0,
                                          int64_t limit = 0);

/// Intra-op threads: `threads` if positive, else one per core; more than 4 per core is refused.
void set_threads(int threads);

/// Refuses (as a usage error) an input size outside 1..kMaxImageSide or a batch of inputs
/// that would not fit in a quarter of the machine's memory.
void check_input(const std::vector<int64_t>& hw, int64_t batch, int64_t channels);

}  // namespace cli
