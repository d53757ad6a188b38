// predict.cpp — `metalhead eval` (accuracy, per class, confusion matrix), `metalhead
// classify` (top-k classes of image files) and `metalhead samples` (a data set's images as PNGs).
#include "../cli.h"

#include <metalhead/data/images.h>
#include <metalhead/features.h>
#include <metalhead/onnx.h>
#include <metalhead/weights/safetensors.h>
#include <metalhead/placeholders.h>
#include <metalhead/regular_file.h>
#include <metalhead/registry.h>
#include <metalhead/train.h>
#include <metalhead/weights.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <flux/mode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>

namespace cli {

namespace fs = std::filesystem;
using nlohmann::json;
namespace mt = metalhead::train;

namespace {

metalhead::data::Split split_of(const std::string& s) {
  return s == "train" ? metalhead::data::Split::train : metalhead::data::Split::test;
}

// A checkpoint of `metalhead train`, read once, or nothing for other weights files. Only a
// safetensors file without our run metadata is "other weights": a corrupt or unreadable
// file is an error to report, not a reason to ask for --model.
std::optional<mt::Checkpoint> checkpoint_of(const fs::path& path, const std::string& expect_model) {
  char magic[9] = {};
  if (metalhead::RegularFile(path, "classify(" + path.string() + ")").read(magic, 9) < 9 || magic[8] != '{') {
    return std::nullopt;  // not safetensors: torchvision's or timm's .pth, say
  }
  try {
    return mt::load_checkpoint(path, expect_model);
  } catch (const mt::NotACheckpoint&) {
    return std::nullopt;
  }
}

// A model with its weights, its class names and the preprocessing its weights expect:
// a checkpoint's own, or a registry model's pretrained config for other weights files.
struct WeightedModel {
  metalhead::Model model{nullptr};
  std::vector<std::string> classes;
  std::function<at::Tensor(const std::string&)> prepare;
};

WeightedModel weighted_model(const std::string& weights, const std::string& name) {
  WeightedModel out;
  if (auto checkpoint = checkpoint_of(weights, name)) {
    // Our own: the checkpoint's classes and preprocessing (its size, channels, mean and std).
    const mt::CheckpointInfo& info = checkpoint->info;
    out.model = std::move(checkpoint->model);
    out.classes = info.classes;
    const auto mean = at::tensor(std::vector<float>(info.mean.begin(), info.mean.end())).reshape({-1, 1, 1});
    const auto stdv = at::tensor(std::vector<float>(info.std.begin(), info.std.end())).reshape({-1, 1, 1});
    out.prepare = [info, mean, stdv](const std::string& file) {
      at::Tensor img = metalhead::data::resize(metalhead::data::read_image(file, info.inchannels), info.input_size);
      return (img.to(at::kFloat).div(255.0) - mean) / stdv;
    };
    return out;
  }
  if (name.empty()) throw CLI::ValidationError("--model is needed: " + weights + " is not a checkpoint of `metalhead train`");
  const auto& info = metalhead::model_info(name);
  out.model = metalhead::placeholder_model(info);
  metalhead::load_weights(out.model, weights);
  flux::testmode(*out.model.ptr());
  out.classes = metalhead::class_names(info.pretrained);
  // The evaluation transform the pretrained weights were made for (timm's or torchvision's).
  const metalhead::PretrainedCfg cfg = info.pretrained;
  out.prepare = [cfg](const std::string& file) {
    return metalhead::data::preprocess(metalhead::data::read_image(file, 3), cfg);
  };
  return out;
}

}  // namespace

// metalhead embed IMAGE... --weights FILE [--model NAME] --out FILE.safetensors
void add_embed(CLI::App& app) {
  auto* cmd = app.add_subcommand("embed", "one pooled feature row per image (the features a classifier takes)");
  struct Args {
    std::vector<std::string> images;
    std::string model, weights, out;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("images", a->images, "image files (PNG, JPEG, ...)")->required();
  cmd->add_option("--model", a->model, "a registry name (optional for our checkpoints)");
  cmd->add_option("--weights", a->weights, "a checkpoint of `metalhead train`, or pretrained weights (.safetensors, .pth)")
      ->required();
  cmd->add_option("--out", a->out, "the safetensors file to write: `embeddings` [images, features], the image "
                  "paths in its metadata")->required();
  cmd->add_option("--threads", a->threads, "compute threads (default: one per core)");
  cmd->callback([a] {
    set_threads(a->threads);
    if (fs::path(a->out).extension() != ".safetensors") {
      throw CLI::ValidationError("--out " + a->out + ": expected a .safetensors file name");
    }
    auto [model, classes, prepare] = weighted_model(a->weights, a->model);
    std::vector<at::Tensor> inputs;  // every image read before anything is written
    for (const auto& f : a->images) inputs.push_back(prepare(f));
    c10::InferenceMode guard;
    std::vector<at::Tensor> rows;
    for (const auto& x : inputs) {
      const at::Tensor f = metalhead::forward_features(model, x.unsqueeze(0));
      rows.push_back(metalhead::forward_head(model, f, /*pre_logits=*/true).reshape({1, -1}));
    }
    const at::Tensor embeddings = at::cat(rows);
    if (!at::isfinite(embeddings).all().item<bool>()) {
      throw std::runtime_error("the model gives non-finite features; the weights " + a->weights +
                               " hold NaN or infinite values");
    }
    metalhead::weights::write_safetensors(
        a->out, {{"embeddings", embeddings.contiguous()}},
        {{"images", json(a->images).dump()}, {"model", a->model.empty() ? model->type_name : a->model},
         {"weights", a->weights}});
    std::cout << a->out << ": " << embeddings.size(0) << " × " << embeddings.size(1) << " features\n";
  });
}

// metalhead export [MODEL] [--weights FILE] -o model.onnx [--opset N] [--static-batch]
void add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "write a model as ONNX (ONNX Runtime, OpenCV DNN, TensorRT, OpenVINO)");
  struct Args {
    std::string model, weights, out;
    int64_t opset = 17;
    bool static_batch = false;
    std::vector<int64_t> input_size;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "a registry name (optional for our checkpoints)");
  cmd->add_option("--weights", a->weights, "a checkpoint of `metalhead train`, or weights (.safetensors, .pth); "
                  "default: the model as initialised");
  cmd->add_option("-o,--output", a->out, "the .onnx file to write")->required();
  cmd->add_option("--opset", a->opset, "the ONNX opset, 13 to 17")->check(CLI::Range(13, 17))->capture_default_str();
  cmd->add_flag("--static-batch", a->static_batch, "a fixed batch of 1 instead of a symbolic one");
  cmd->add_option("--input-size", a->input_size, "H W (default: the checkpoint's or the model's input size)")
      ->expected(2);
  cmd->callback([a] {
    if (fs::path(a->out).extension() != ".onnx") throw CLI::ValidationError("-o " + a->out + ": expected a .onnx file name");
    if (a->model.empty() && a->weights.empty()) throw CLI::ValidationError("give a MODEL, --weights or both");
    metalhead::OnnxOptions o{.opset = a->opset, .dynamic_batch = !a->static_batch, .input_size = a->input_size};
    metalhead::Model model{nullptr};
    if (auto checkpoint = a->weights.empty() ? std::nullopt : checkpoint_of(a->weights, a->model)) {
      model = std::move(checkpoint->model);
      const mt::CheckpointInfo& info = checkpoint->info;
      if (o.input_size.empty()) o.input_size = info.input_size;
      o.mean = info.mean;
      o.std = info.std;
      o.registry_name = metalhead::model_info(info.model).name;
    } else {
      if (a->model.empty()) throw CLI::ValidationError("--model is needed: " + a->weights + " is not a checkpoint of `metalhead train`");
      model = metalhead::create_model(a->model);
      if (!a->weights.empty()) metalhead::load_weights(model, a->weights);
      o.registry_name = metalhead::model_info(a->model).name;
    }
    flux::testmode(*model.ptr());
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = metalhead::export_onnx(model, a->out, o);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << a->out << ": " << r.nodes << " nodes, " << r.initializers << " initializers, " << r.bytes
              << " bytes, opset " << o.opset << ", " << r.folded_batchnorms << " BatchNorms folded, "
              << std::fixed << std::setprecision(2) << seconds << " s\n";
  });
}

// metalhead eval CHECKPOINT [--data fashion-mnist|DIR] [--split test|train] [--json]
void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "accuracy, per-class accuracy and confusion matrix of a trained checkpoint");
  struct Args {
    std::string checkpoint, data, split = "test", model;
    int64_t batch_size = 256, limit = 0;
    int threads = 0;
    double require = -1;
    bool json = false;
    EngineFlags engine;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->checkpoint, "a checkpoint `metalhead train` wrote (or its run folder)")->required();
  cmd->add_option("--data", a->data, "fashion-mnist or an image folder (default: the checkpoint's test data)");
  cmd->add_option("--split", a->split, "fashion-mnist's split")->check(CLI::IsMember({"test", "train"}))
      ->capture_default_str();
  cmd->add_option("--model", a->model, "check that the checkpoint is of this model");
  cmd->add_option("--batch-size", a->batch_size, "images per forward pass")->check(CLI::PositiveNumber);
  cmd->add_option("--limit", a->limit, "only the first N images")->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", a->threads, "compute threads (default: one per core)");
  cmd->add_option("--require-accuracy", a->require, "fail (exit 1) below this accuracy, 0 to 1")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--json", a->json, "the results as one JSON object");
  add_engine_flags(cmd, a->engine);
  cmd->callback([a] {
    set_threads(a->threads);
    check_engine_flags(a->engine);
    // After the report: the results are shown either way.
    struct Requirement {
      const Args& a;
      double accuracy = -1;
      double loss = 0;
      void check() const {
        if (!std::isfinite(loss)) {
          throw std::runtime_error("the loss is " + std::to_string(loss) +
                                   ": the checkpoint's weights (or the data) give non-finite logits");
        }
        if (a.require >= 0 && accuracy < a.require) {
          throw std::runtime_error("accuracy " + std::to_string(100 * accuracy) + "% is below the required " +
                                   std::to_string(100 * a.require) + "%");
        }
      }
    };
    fs::path path = a->checkpoint;
    if (fs::is_directory(path)) path /= "checkpoint.safetensors";
    auto [plain, info] = mt::load_checkpoint(path, a->model);
    metalhead::Model model = inference_model(plain, a->engine);
    std::string data = a->data.empty() ? (info.options.test_data.empty() ? info.options.data : info.options.test_data)
                                       : a->data;
    auto set = load_data(data, split_of(a->split), info.input_size, info.inchannels, a->limit);
    if (set.classes != info.classes) {
      throw std::runtime_error(data + " has other classes than the checkpoint " + path.string() + " was trained on");
    }
    if (set.images.size(1) != info.inchannels) {
      throw std::runtime_error(data + " has " + std::to_string(set.images.size(1)) + " channels; the model takes " +
                               std::to_string(info.inchannels));
    }
    metalhead::data::DataLoader loader(
        std::move(set), {.batch_size = a->batch_size,
                         .augment = {.mean = info.mean, .std = info.std, .resize = info.input_size}});
    const int64_t k = static_cast<int64_t>(info.classes.size());
    const mt::Evaluation e = mt::evaluate(model, loader, k);
    const Requirement requirement{*a, e.accuracy, e.loss};
    if (a->json) {
      std::vector<std::vector<int64_t>> confusion;
      for (int64_t i = 0; i < k; ++i) {
        const auto row = e.confusion[i].contiguous();
        confusion.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + k);
      }
      json per_class = json::object();
      for (int64_t i = 0; i < k; ++i) per_class[info.classes[i]] = e.class_accuracy[i];
      std::cout << json{{"checkpoint", path.string()}, {"model", info.model}, {"data", data}, {"images", e.count},
                        {"optimised", !a->engine.no_optimise}, {"precision", a->engine.precision},
                        {"loss", e.loss}, {"accuracy", e.accuracy}, {"class_accuracy", per_class},
                        {"classes", info.classes}, {"confusion", confusion}}
                       .dump(2)
                << "\n";
      requirement.check();
      return;
    }
    std::cout << info.model << " (" << path.string() << ", epoch " << info.epoch << ") on " << data << " "
              << a->split << ": " << e.count << " images\naccuracy " << std::fixed << std::setprecision(2)
              << 100 * e.accuracy << "%  loss " << std::setprecision(4) << e.loss << "\n\nper class:\n";
    size_t wide = 5;
    for (const auto& c : info.classes) wide = std::max(wide, c.size());
    for (int64_t i = 0; i < k; ++i) {
      std::cout << "  " << std::left << std::setw(static_cast<int>(wide)) << info.classes[i] << std::right
                << std::setw(8) << std::setprecision(2) << 100 * e.class_accuracy[i] << "%\n";
    }
    std::cout << "\nconfusion matrix (rows: true class, columns: predicted):\n" << std::string(wide + 4, ' ');
    for (int64_t j = 0; j < k; ++j) std::cout << std::setw(6) << j;
    std::cout << "\n";
    for (int64_t i = 0; i < k; ++i) {
      std::cout << std::setw(2) << i << "  " << std::left << std::setw(static_cast<int>(wide)) << info.classes[i]
                << std::right;
      for (int64_t j = 0; j < k; ++j) std::cout << std::setw(6) << e.confusion[i][j].item<int64_t>();
      std::cout << "\n";
    }
    std::cout << std::flush;
    requirement.check();
  });
}

// metalhead classify IMAGE... [--model NAME] --weights FILE [--top K] [--json]
void add_classify(CLI::App& app) {
  auto* cmd = app.add_subcommand("classify", "the top classes of image files, with their probabilities");
  struct Args {
    std::vector<std::string> images;
    std::string model, weights;
    int64_t top = 5;
    int threads = 0;
    bool json = false;
    EngineFlags engine;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("images", a->images, "image files (PNG, JPEG, ...)")->required();
  cmd->add_option("--model", a->model, "a registry name (optional for our checkpoints)");
  cmd->add_option("--weights", a->weights, "a checkpoint of `metalhead train`, or ImageNet weights (.safetensors, .pth)")
      ->required();
  cmd->add_option("--top", a->top, "how many classes to show")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--threads", a->threads, "compute threads (default: one per core)");
  cmd->add_flag("--json", a->json, "one JSON object per image");
  add_engine_flags(cmd, a->engine);
  cmd->callback([a] {
    set_threads(a->threads);
    check_engine_flags(a->engine);
    auto [plain, classes, prepare] = weighted_model(a->weights, a->model);
    metalhead::Model model = plain;
    model = inference_model(model, a->engine);
    // Read every image first: a bad file fails before any output.
    std::vector<at::Tensor> inputs;
    for (const auto& f : a->images) inputs.push_back(prepare(f));
    c10::InferenceMode guard;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const at::Tensor probs = at::softmax(model(inputs[i].unsqueeze(0)), 1)[0];
      if (!at::isfinite(probs).all().item<bool>()) {
        throw std::runtime_error(a->images[i] + ": the model gives non-finite scores; the weights " + a->weights +
                                 " hold NaN or infinite values");
      }
      if (probs.size(0) != static_cast<int64_t>(classes.size())) {
        throw std::runtime_error("the model gives " + std::to_string(probs.size(0)) + " scores for " +
                                 std::to_string(classes.size()) + " class names");
      }
      const auto [p, idx] = probs.topk(std::min<int64_t>(a->top, probs.size(0)));
      if (a->json) {
        json top = json::array();
        for (int64_t k = 0; k < p.size(0); ++k) {
          top.push_back({{"class", classes[idx[k].item<int64_t>()]}, {"index", idx[k].item<int64_t>()},
                         {"probability", p[k].item<double>()}});
        }
        std::cout << json{{"image", a->images[i]}, {"top", top}}.dump() << "\n";
        continue;
      }
      std::cout << a->images[i] << "\n";
      for (int64_t k = 0; k < p.size(0); ++k) {
        char line[256];
        std::snprintf(line, sizeof line, "  %lld. %-28s %6.2f%%\n", static_cast<long long>(k + 1),
                      classes[idx[k].item<int64_t>()].c_str(), 100 * p[k].item<double>());
        std::cout << line;
      }
    }
  });
}

// metalhead samples [--data fashion-mnist|DIR] [--split test] [--count N] [--start I]
//                   [--classes I...] [--per-class N] [--image-folder] --output DIR
void add_samples(CLI::App& app) {
  auto* cmd = app.add_subcommand("samples", "write images of a data set as PNG files (INDEX-CLASS.png, or an image "
                                            "folder CLASS/INDEX.png)");
  struct Args {
    std::string data = "fashion-mnist", split = "test", output;
    int64_t count = 8, start = 0, per_class = 0;
    std::vector<int64_t> classes;
    bool image_folder = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--data", a->data, "fashion-mnist or an image folder")->capture_default_str();
  cmd->add_option("--split", a->split, "fashion-mnist's split")->check(CLI::IsMember({"test", "train"}))
      ->capture_default_str();
  auto* count = cmd->add_option("--count", a->count, "how many images (with --per-class: at most, default all)")
                    ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--start", a->start, "the first image's index")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--classes", a->classes, "only these classes (indices)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--per-class", a->per_class, "at most this many images of each class")->check(CLI::PositiveNumber);
  cmd->add_flag("--image-folder", a->image_folder, "write OUTPUT/CLASS/INDEX.png: a folder `train --data` reads");
  cmd->add_option("--output", a->output, "the folder to write them to")->required();
  cmd->callback([a, count] {
    const auto set = load_data(a->data, split_of(a->split));
    const int64_t n = set.labels.size(0);
    if (a->start >= n) {
      throw std::runtime_error("--start " + std::to_string(a->start) + " is past the " + std::to_string(n) + " images");
    }
    const auto nclasses = static_cast<int64_t>(set.classes.size());
    for (int64_t c : a->classes) {
      if (c >= nclasses) {
        throw CLI::ValidationError("--classes " + std::to_string(c) + ": the data has classes 0 to " +
                                   std::to_string(nclasses - 1));
      }
    }
    const int64_t most = a->per_class > 0 && count->count() == 0 ? n : a->count;
    auto name_of = [&](int64_t label) {
      std::string name = set.classes[label];
      for (char& c : name) if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
      return name;
    };
    std::vector<int64_t> taken(nclasses, 0);
    const auto labels = set.labels.contiguous();
    const int64_t* label = labels.data_ptr<int64_t>();
    fs::create_directories(a->output);
    int64_t written = 0;
    for (int64_t i = a->start; i < n && written < most; ++i) {
      const int64_t c = label[i];
      if (!a->classes.empty() && std::find(a->classes.begin(), a->classes.end(), c) == a->classes.end()) continue;
      if (a->per_class > 0 && taken[c] >= a->per_class) continue;
      ++taken[c];
      char index[32];
      std::snprintf(index, sizeof index, "%05lld", static_cast<long long>(i));
      fs::path path;
      if (a->image_folder) {
        fs::create_directories(fs::path(a->output) / name_of(c));
        path = fs::path(a->output) / name_of(c) / (std::string(index) + ".png");
      } else {
        path = fs::path(a->output) / (std::string(index) + "-" + name_of(c) + ".png");
      }
      metalhead::data::write_png(path, set.images[i]);
      if (!a->image_folder) std::cout << path.string() << "\n";
      ++written;
    }
    if (a->image_folder) std::cout << a->output << ": " << written << " images\n";
  });
}

}  // namespace cli
