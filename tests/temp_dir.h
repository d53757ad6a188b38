// Helpers the file-writing test suites share.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

/// fresh_dir(name): an empty folder testing::TempDir()/metalhead-SUITE-TEST-NAME, SUITE and
/// TEST the running test's, so that tests (and test binaries) never share one.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto* test = testing::UnitTest::GetInstance()->current_test_info();
  std::string suite = test ? test->test_suite_name() : "none";
  std::replace(suite.begin(), suite.end(), '/', '-');  // parameterised suites: Prefix/Suite
  // The test's name too: ctest runs a suite's shards side by side, and two of its tests may
  // ask for the same name at once.
  std::string test_name = test ? test->name() : "none";
  std::replace(test_name.begin(), test_name.end(), '/', '-');  // parameterised tests: Name/Param
  const auto d = std::filesystem::path(testing::TempDir()) / ("metalhead-" + suite + "-" + test_name + "-" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

/// Whether `text` contains `part` (messages, outputs).
inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
