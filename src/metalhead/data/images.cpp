// images.cpp — OpenCV for decoding, encoding and resizing; torch tensors everywhere else.
#include <metalhead/data/images.h>
#include <metalhead/regular_file.h>
#include <metalhead/data/image_header.h>

#include <metalhead/atomic_file.h>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iostream>
#include <set>
#include <stdexcept>

namespace metalhead::data {
namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool is_image_file(const std::filesystem::path& p) {
  static const std::set<std::string> kinds{".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return kinds.count(ext) > 0;
}

// [H, W, C] uint8 cv::Mat (RGB or grey) → [C, H, W] tensor, owning its memory.
at::Tensor to_tensor(const cv::Mat& m) {
  const int64_t c = m.channels();
  cv::Mat cont = m.isContinuous() ? m : m.clone();
  return at::from_blob(cont.data, {cont.rows, cont.cols, c}, at::kByte).permute({2, 0, 1}).clone();
}

cv::Mat to_mat(const at::Tensor& image) {
  at::Tensor hwc = image.permute({1, 2, 0}).contiguous();
  const int c = static_cast<int>(image.size(0));
  cv::Mat m(static_cast<int>(image.size(1)), static_cast<int>(image.size(2)), CV_8UC(c), hwc.data_ptr());
  return m.clone();
}

void check_image(const at::Tensor& image, const char* who) {
  if (!image.defined() || image.dim() != 3 || image.scalar_type() != at::kByte ||
      (image.size(0) != 1 && image.size(0) != 3)) {
    throw std::invalid_argument(std::string(who) + ": expected a [C, H, W] uint8 image with 1 or 3 channels, got " +
                                (image.defined() ? shape_text(image.sizes().vec()) + " " +
                                                       std::string(c10::toString(image.scalar_type()))
                                                 : std::string("an undefined tensor")));
  }
}

}  // namespace

at::Tensor read_image(const std::filesystem::path& path, int64_t channels) {
  const std::string who = "read_image(" + path.string() + ")";
  if (channels != 0 && channels != 1 && channels != 3) {
    throw std::invalid_argument(who + ": channels must be 0, 1 or 3, got " + std::to_string(channels));
  }
  // Read the bytes ourselves: cv::imread cannot tell "unreadable" from "not an image".
  RegularFile file(path, who);
  std::vector<uchar> bytes(file.size());
  if (file.read(bytes.data(), bytes.size()) != bytes.size()) throw std::runtime_error(who + ": the file shrank while being read");
  if (bytes.empty()) throw std::runtime_error(who + ": the file is empty");
  // Only formats whose declared size is checked are decoded: OpenCV's own guard (2^30 pixels)
  // is fixed when it loads, too late to lower, and EXR or HDR would decode into floats.
  const auto dims = declared_image_size(bytes.data(), bytes.size());
  if (!dims) {
    throw std::runtime_error(who +
                             ": cannot decode the image: not a PNG, JPEG, BMP, WebP, TIFF or PNM image (or its header is cut short)");
  }
  const uint64_t pixels = dims->width * dims->height;  // each below 2^32: no overflow
  if (dims->width == 0 || dims->height == 0 || pixels > kMaxImagePixels) {
    throw std::runtime_error(who + ": the image declares " + std::to_string(dims->width) + " × " +
                             std::to_string(dims->height) + " pixels; at most " + std::to_string(kMaxImagePixels) +
                             " are decoded (a decompression bomb, or a corrupt header)");
  }
  if (truncated_jpeg(bytes.data(), bytes.size())) {
    std::cerr << "warning: " << who << ": the JPEG is truncated (no end-of-image marker); its missing part decodes as grey\n";
  }
  const int flag = channels == 1 ? cv::IMREAD_GRAYSCALE : channels == 3 ? cv::IMREAD_COLOR : cv::IMREAD_ANYCOLOR;
  cv::Mat m;
  try {
    m = cv::imdecode(bytes, flag);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(who + ": cannot decode the image: " + e.what());
  }
  if (m.empty()) throw std::runtime_error(who + ": cannot decode the image (not an image, or corrupt)");
  if (m.depth() != CV_8U) m.convertTo(m, CV_8U);
  if (m.channels() == 4) cv::cvtColor(m, m, cv::COLOR_BGRA2RGB);
  else if (m.channels() == 3) cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
  return to_tensor(m);
}

void write_png(const std::filesystem::path& path, const at::Tensor& image) {
  const std::string who = "write_png(" + path.string() + ")";
  check_image(image, who.c_str());
  cv::Mat m = to_mat(image.cpu());
  if (m.channels() == 3) cv::cvtColor(m, m, cv::COLOR_RGB2BGR);
  std::vector<uchar> png;
  if (!cv::imencode(".png", m, png)) throw std::runtime_error(who + ": cannot encode the image");
  AtomicFile f(path, who);
  f.write(png.data(), png.size());
  f.commit();
}

namespace {

at::Tensor resize_with(const at::Tensor& image, const std::vector<int64_t>& size, int enlarging) {
  check_image(image, "resize");
  if (size.size() != 2 || size[0] < 1 || size[1] < 1) {
    throw std::invalid_argument("resize: expected a size [H, W] of positive numbers, got " + shape_text(size));
  }
  if (image.size(1) == size[0] && image.size(2) == size[1]) return image;
  const bool shrinking = size[0] < image.size(1) || size[1] < image.size(2);
  cv::Mat out;
  cv::resize(to_mat(image.cpu()), out, cv::Size(static_cast<int>(size[1]), static_cast<int>(size[0])), 0, 0,
             shrinking ? cv::INTER_AREA : enlarging);
  if (out.channels() != image.size(0)) out = out.reshape(static_cast<int>(image.size(0)));
  return to_tensor(out);
}

}  // namespace

at::Tensor resize(const at::Tensor& image, const std::vector<int64_t>& size) {
  return resize_with(image, size, cv::INTER_LINEAR);
}

LabelledImages image_folder(const std::filesystem::path& dir, const ImageFolderOptions& options) {
  const std::string who = "image_folder(" + dir.string() + ")";
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::runtime_error(who + ": " + (fs::exists(dir, ec) ? "not a folder" : "no such folder"));
  }
  std::vector<fs::path> class_dirs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory()) class_dirs.push_back(e.path());
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  if (class_dirs.empty()) {
    throw std::runtime_error(who + ": no classes: expected one sub-folder of images per class");
  }
  LabelledImages out;
  std::vector<std::pair<fs::path, int64_t>> files;
  for (size_t k = 0; k < class_dirs.size(); ++k) {
    std::vector<fs::path> mine;
    for (const auto& e : fs::directory_iterator(class_dirs[k])) {
      if (e.is_regular_file() && is_image_file(e.path())) mine.push_back(e.path());
    }
    if (mine.empty()) {
      throw std::runtime_error(who + ": class folder " + class_dirs[k].filename().string() +
                               " has no images (.png, .jpg, .jpeg, .bmp, .webp, .tif, .pgm, .ppm)");
    }
    std::sort(mine.begin(), mine.end());
    for (auto& p : mine) files.emplace_back(std::move(p), static_cast<int64_t>(k));
    out.classes.push_back(class_dirs[k].filename().string());
  }
  std::vector<at::Tensor> images;
  images.reserve(files.size());
  int64_t channels = options.channels;
  for (const auto& [path, label] : files) {
    at::Tensor img = read_image(path, options.channels);
    if (!options.size.empty()) img = resize(img, options.size);
    images.push_back(img);
  }
  if (channels == 0) {
    channels = std::any_of(images.begin(), images.end(), [](const at::Tensor& t) { return t.size(0) == 3; }) ? 3 : 1;
  }
  for (size_t i = 0; i < images.size(); ++i) {
    if (images[i].size(0) != channels) images[i] = images[i].expand({channels, -1, -1});
    if (images[i].sizes() != images[0].sizes()) {
      throw std::runtime_error(who + ": " + files[i].first.string() + " is " +
                               shape_text({images[i].size(1), images[i].size(2)}) + " but " +
                               files[0].first.string() + " is " + shape_text({images[0].size(1), images[0].size(2)}) +
                               "; give a size to resize them to (--image-size H W)");
    }
  }
  out.images = at::stack(images);
  std::vector<int64_t> labels;
  for (const auto& f : files) labels.push_back(f.second);
  out.labels = at::tensor(labels, at::kLong);
  return out;
}

namespace {

// uint8 [C, H, W] → float, (x/255 − mean) / std per channel.
at::Tensor normalised(const at::Tensor& image, const PretrainedCfg& cfg) {
  const int64_t c = image.size(0);
  const auto mean = at::tensor(std::vector<float>(cfg.mean.begin(), cfg.mean.begin() + c)).reshape({c, 1, 1});
  const auto stdv = at::tensor(std::vector<float>(cfg.std.begin(), cfg.std.begin() + c)).reshape({c, 1, 1});
  return ((image.to(at::kFloat).div(255.0) - mean) / stdv).contiguous();
}

}  // namespace

at::Tensor imagenet_preprocess(const at::Tensor& image, int64_t crop, int64_t resize_to) {
  check_image(image, "imagenet_preprocess");
  PretrainedCfg cfg{.input_size = {3, crop, crop}, .resize = resize_to, .interpolation = "bilinear",
                    .mean = imagenet_mean, .std = imagenet_std};
  return preprocess(image, cfg);
}

at::Tensor preprocess(const at::Tensor& image, const PretrainedCfg& cfg) {
  check_image(image, "preprocess");
  if (cfg.input_size.size() != 3 || cfg.input_size[1] < 1 || cfg.input_size[2] < 1 || cfg.resize < 1 ||
      (cfg.input_size[0] != 1 && cfg.input_size[0] != 3)) {
    throw std::invalid_argument("preprocess: expected a config with input_size [1 or 3, H, W] and a positive resize, got " +
                                shape_text(cfg.input_size) + " and " + std::to_string(cfg.resize));
  }
  if (cfg.interpolation != "bilinear" && cfg.interpolation != "bicubic") {
    throw std::invalid_argument("preprocess: interpolation must be bilinear or bicubic, got '" + cfg.interpolation + "'");
  }
  const int enlarging = cfg.interpolation == "bicubic" ? cv::INTER_CUBIC : cv::INTER_LINEAR;
  auto resize = [&](const at::Tensor& img, const std::vector<int64_t>& size) { return resize_with(img, size, enlarging); };
  const int64_t ch = cfg.input_size[1], cw = cfg.input_size[2], resize_to = cfg.resize, crop = std::max(ch, cw);
  at::Tensor rgb = image;  // the channels the config wants
  if (cfg.input_size[0] == 3 && image.size(0) == 1) rgb = image.expand({3, -1, -1}).contiguous();
  if (cfg.input_size[0] == 1 && image.size(0) == 3) rgb = image.to(at::kFloat).mean(0, true).round().to(at::kByte);
  if (cfg.squash) return normalised(resize(rgb, {ch, cw}), cfg);
  const int64_t h = rgb.size(1), w = rgb.size(2);
  // The shorter side becomes resize_to, the other keeps the aspect ratio (torchvision's Resize(int)).
  const std::vector<int64_t> size = h <= w ? std::vector<int64_t>{resize_to, std::max<int64_t>(1, resize_to * w / h)}
                                           : std::vector<int64_t>{std::max<int64_t>(1, resize_to * h / w), resize_to};
  at::Tensor r;
  const int64_t longer = std::max(size[0], size[1]);
  if (longer > 4 * std::max(resize_to, crop)) {
    // An extreme aspect ratio (1 × 10000, say) would resize to a huge strip of which only
    // the centre is kept: resize just the centre's source rows or columns (plus a margin).
    const bool wide = h <= w;
    const int64_t source = wide ? w : h, target = wide ? size[1] : size[0];
    const double scale = static_cast<double>(target) / static_cast<double>(source);
    const int64_t keep = std::min<int64_t>(source, static_cast<int64_t>(std::ceil(2 * crop / scale)) + 4);
    const int64_t start = (source - keep) / 2;
    at::Tensor centre = rgb.narrow(wide ? 2 : 1, start, keep);
    const int64_t kept = std::max<int64_t>(crop, static_cast<int64_t>(std::llround(static_cast<double>(keep) * scale)));
    r = resize(centre, wide ? std::vector<int64_t>{resize_to, kept} : std::vector<int64_t>{kept, resize_to});
  } else {
    r = resize(rgb, size);
  }
  // torchvision's offset: round((size - crop) / 2), ties to even as Python rounds.
  auto offset = [](int64_t n, int64_t c) { return std::max<int64_t>(0, static_cast<int64_t>(std::nearbyint((n - c) / 2.0))); };
  const int64_t top = offset(r.size(1), ch), left = offset(r.size(2), cw);
  return normalised(r.narrow(1, top, std::min(ch, r.size(1))).narrow(2, left, std::min(cw, r.size(2))), cfg);
}

}  // namespace metalhead::data
