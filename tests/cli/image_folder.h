// image_folder: a data set on disk for the CLI tests.
#pragma once

#include "temp_dir.h"

#include <metalhead/data/images.h>

#include <torch/torch.h>

#include <filesystem>
#include <string>

/// An image folder fresh_dir(name): classes a and b, `a` and `b` grey 12×12 PNGs (a dark, b light).
inline std::filesystem::path image_folder(const std::string& name, int a, int b) {
  const auto dir = fresh_dir(name);
  for (const auto& [c, n] : {std::pair{"a", a}, std::pair{"b", b}}) {
    std::filesystem::create_directories(dir / c);
    for (int i = 0; i < n; ++i) {
      auto img = torch::randint(0, 100, {1, 12, 12}, torch::kLong).to(torch::kByte);
      if (c[0] == 'b') img += 150;
      metalhead::data::write_png(dir / c / (std::to_string(i) + ".png"), img);
    }
  }
  return dir;
}
