// metalhead — the command-line tool: list, summary, bench, train, eval, classify, samples.
//
// Conventions: --help on every subcommand; results to stdout (--json for scripts),
// progress and errors to stderr (errors as `metalhead <command>: <message>`); exit status
// 0 on success, 1 when the command fails, 2 for a usage error.
#include "cli.h"

#include <flux/memory.h>
#include <metalhead/atomic_file.h>

#include <iostream>
#include <string>

namespace {

// libtorch appends its C++ stack to every error ("Exception raised from ... frame #0 ...");
// users get the first lines, which say what went wrong, wherever the message was wrapped.
std::string without_backtrace(std::string message) {
  for (const char* marker : {"\nException raised from ", "Exception raised from "}) {
    if (auto at = message.find(marker); at != std::string::npos) message.erase(at);
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

}  // namespace

int main(int argc, char** argv) {
  // Large activations are otherwise page-faulted in afresh on every batch (flux/memory.h).
  flux::reuse_freed_memory();
  // Ctrl-C or a kill during a checkpoint write leaves no temporary file behind.
  metalhead::remove_temporaries_on_signal();
  CLI::App app{"metalhead " METALHEAD_VERSION " — Flux's layers and Metalhead's models in C++", "metalhead"};
  app.set_version_flag("--version", "metalhead " METALHEAD_VERSION);
  app.require_subcommand(1);
  cli::add_list(app);
  cli::add_summary(app);
  cli::add_bench(app);
  cli::add_train(app);
  cli::add_eval(app);
  cli::add_classify(app);
  cli::add_samples(app);
  cli::add_embed(app);
  cli::add_export(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version exit 0; usage errors 2
  } catch (const std::exception& e) {
    const auto* sub = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
    std::cerr << "metalhead" << (sub ? " " + sub->get_name() : std::string()) << ": " << without_backtrace(e.what())
              << "\n";
    return 1;
  }
  return 0;
}
