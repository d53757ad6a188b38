// metalhead — the command-line tool. For now: version and help.
#include <cstring>
#include <iostream>

namespace {
constexpr const char* kUsage =
    "metalhead " METALHEAD_VERSION " — Flux's layers and Metalhead's models in C++\n"
    "\n"
    "Usage: metalhead [--help] [--version]\n"
    "\n"
    "  --help      show this help\n"
    "  --version   print the version\n";
}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << kUsage;
      return 0;
    }
    if (!std::strcmp(argv[i], "--version")) {
      std::cout << "metalhead " METALHEAD_VERSION "\n";
      return 0;
    }
    std::cerr << "metalhead: unknown argument '" << argv[i] << "'\n\n" << kUsage;
    return 2;
  }
  std::cout << kUsage;
  return 0;
}
