// Running the `metalhead` program from a test: exit status, stdout, stderr.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace cli_test {

struct Run {
  int status;
  std::string out, err;
};

// `shell` goes before the program in the shell command (limits, traps: "ulimit -f 64; exec").
inline Run run(const std::string& args, const std::string& shell = "") {
  // Per process: ctest runs the suite's shards side by side.
  const std::string err_file = testing::TempDir() + "metalhead-cli-stderr-" + std::to_string(::getpid());
  const std::string cmd = shell + " " + std::string(METALHEAD_CLI) + " " + args + " 2>" + err_file;
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  FILE* e = std::fopen(err_file.c_str(), "r");
  while (size_t n = std::fread(buf.data(), 1, buf.size(), e)) r.err.append(buf.data(), n);
  std::fclose(e);
  return r;
}

}  // namespace cli_test

using cli_test::run;
