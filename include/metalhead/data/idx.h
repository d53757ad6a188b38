// idx.h — the IDX format of MNIST and Fashion-MNIST (gzip-compressed or not), and
// Fashion-MNIST from Debian's dataset-fashion-mnist package.
//
//   auto train = metalhead::data::fashion_mnist(metalhead::data::Split::train);
//   train.images;   // [60000, 1, 28, 28] uint8
//   train.labels;   // [60000] int64
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace metalhead::data {

/// An IDX file's contents: its dimensions and its unsigned bytes (the only element type
/// MNIST-style data sets use; other IDX types are refused by name).
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

/// read_idx(path): a `.gz` or plain IDX file. Throws std::runtime_error naming the file for
/// a bad magic number, an unsupported element type, or data shorter or longer than its
/// dimensions say.
IdxArray read_idx(const std::filesystem::path& path);

enum class Split { train, test };

/// An image classification data set in memory.
struct LabelledImages {
  at::Tensor images;                 // [N, C, H, W] uint8
  at::Tensor labels;                 // [N] int64
  std::vector<std::string> classes;  // class names, by label
};

/// Where Debian's dataset-fashion-mnist package puts the files.
std::filesystem::path default_fashion_mnist_dir();

/// fashion_mnist(split, dir): the 60000 training or 10000 test images of Fashion-MNIST.
LabelledImages fashion_mnist(Split split, const std::filesystem::path& dir = default_fashion_mnist_dir());

/// Fashion-MNIST's ten class names, by label.
const std::vector<std::string>& fashion_mnist_classes();

}  // namespace metalhead::data
