// images.h — image files (decoded by OpenCV): one image, an image-folder data set (one
// sub-folder per class), ImageNet's evaluation preprocessing, and writing PNGs.
//
//   auto data = metalhead::data::image_folder("flowers/train", {.size = {64, 64}});
//   data.classes;   // the sub-folder names, sorted
//   auto x = metalhead::data::imagenet_preprocess(metalhead::data::read_image("cat.jpg", 3));
#pragma once

#include <metalhead/pretrained_cfg.h>

#include <metalhead/data/idx.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace metalhead::data {

/// read_image(path, channels): [C, H, W] uint8, RGB order. `channels` 1 converts to grey,
/// 3 to RGB, 0 keeps the file's (grey stays 1, colour becomes 3, alpha is dropped). A missing,
/// unreadable or undecodable file throws std::runtime_error naming it.
at::Tensor read_image(const std::filesystem::path& path, int64_t channels = 0);

/// write_png(path, image): [C, H, W] uint8 with C 1 or 3 (RGB), written atomically.
void write_png(const std::filesystem::path& path, const at::Tensor& image);

/// resize(image, size): [C, H, W] uint8 resized to [H', W'] (area averaging when shrinking,
/// bilinear when growing).
at::Tensor resize(const at::Tensor& image, const std::vector<int64_t>& size);

struct ImageFolderOptions {
  std::vector<int64_t> size;  // [H, W] every image is resized to (empty: all must agree)
  int64_t channels = 0;       // 1 or 3 (0: 3 if any image has colour, else 1)
};

/// image_folder(dir): every image in each sub-folder of `dir` (one sub-folder per class,
/// classes sorted by name; files ending .png .jpg .jpeg .bmp .webp .tif .tiff .pgm .ppm,
/// case-insensitive). Throws naming the folder or file for: no such folder, no class
/// sub-folders, a class with no images, an image that cannot be decoded, and images of
/// different sizes without `size`.
LabelledImages image_folder(const std::filesystem::path& dir, const ImageFolderOptions& options = {});

/// imagenet_preprocess(image, crop = 224, resize_to = 256): torchvision's evaluation
/// transform — shorter side resized to `resize_to` (bilinear), centre crop `crop`², scaled to
/// [0, 1] and normalised with ImageNet's mean and std. [3, H, W] uint8 → [3, crop, crop] float.
at::Tensor imagenet_preprocess(const at::Tensor& image, int64_t crop = 224, int64_t resize_to = 256);

/// preprocess(image, cfg): the evaluation transform `cfg` describes — shorter side resized
/// to cfg.resize (or straight to [H, W] where cfg.squash), centre crop [H, W], scaled to
/// [0, 1], (x − mean) / std. Shrinking averages source pixels (an antialiased resize, as
/// torchvision's and timm's PIL transforms are); enlarging interpolates bilinearly or
/// bicubically, as cfg.interpolation says. [C, h, w] uint8 → [cfg C, H, W] float.
at::Tensor preprocess(const at::Tensor& image, const PretrainedCfg& cfg);

}  // namespace metalhead::data
