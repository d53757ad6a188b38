// onnx.h — a Model written as a standard ONNX file, for ONNX Runtime, OpenCV's DNN module,
// TensorRT and OpenVINO:
//
//   metalhead::export_onnx(metalhead::create_model("resnet50"), "resnet50.onnx");
//   metalhead::export_onnx(my_model, "mine.onnx", {.opset = 17, .input_size = {64, 64}});
//
// The model is traced in test mode and lowered the way optimize_for_inference lowers it
// (BatchNorms folded into the convolutions and Dense layers before them); each traced
// operator becomes its ONNX nodes, the weights become initializers. The input is `images`
// ([batch, C, H, W] float32, the batch symbolic with dynamic_batch) and the output `logits`.
// The metadata carries the model's name, its registry row and the preprocessing (mean,
// std, input size) its pretrained config gives. The file is written atomically.
//
// Refused, with nothing written: a function layer without a name (a user's lambda, whose
// contents are not known to be ONNX), an operator without a lowering (named, with the layer
// that holds it where it can be told), an opset below what an operator needs (LayerNorm
// needs 17), and a model whose graph changes with the batch size when dynamic_batch is on.
#pragma once

#include <metalhead/model.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace metalhead {

struct OnnxOptions {
  int64_t opset = 17;                  // 13 to 17
  bool dynamic_batch = true;           // a symbolic batch; false: batch 1
  std::vector<int64_t> input_size{};   // [H, W]; default: the registry row's, else 224 × 224
  // Preprocessing for the metadata; default: the registry row's pretrained config. A
  // checkpoint's own (its mean and std) go here.
  std::vector<double> mean{}, std{};
  std::string registry_name{};         // default: the model's row
};

struct OnnxReport {
  int64_t nodes = 0, initializers = 0, bytes = 0;
  std::map<std::string, int64_t> ops;  // ONNX op type -> count
  int64_t folded_batchnorms = 0;
};

/// Writes `model` to `path` as ONNX (see above); returns what was written.
OnnxReport export_onnx(const Model& model, const std::filesystem::path& path, const OnnxOptions& options = {});

}  // namespace metalhead
