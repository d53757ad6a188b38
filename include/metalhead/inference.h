// inference.h — a model compiled for inference: traced, BatchNorms folded into their
// convolutions, activations and residual sums fused, and convolutions run by oneDNN on
// weights reordered once.
//
//   metalhead::Model fast = metalhead::optimize_for_inference(model);
//   Tensor logits = fast(images);       // fp32 NCHW images in, fp32 logits out
//   std::cout << fast;                  // what was folded and fused
//
// The engine is libtorch's own TorchScript frozen-graph passes (the C++ side of
// `torch.jit.freeze` + `torch.jit.optimize_for_inference`) over a trace of the model, so
// any layer works: an operation without a fused kernel runs as it does in the model.
// Each new input shape is traced once (a trace bakes in sizes), from the original model
// as it was optimised: the optimised model keeps its own copy of every weight.
#pragma once
#include <metalhead/model.h>

#include <cstdint>
#include <string>

namespace metalhead {

enum class Precision { fp32, bf16, fp16 };

/// How convolutions lay out their activations. native: as oneDNN picks (channels-last
/// for its brgemm kernels); blocked: 16-channel blocks (nChw16c, for its jit kernels, which
/// run batches faster); channels_last: nhwc throughout (libtorch's permutes to [N, H, W, C]
/// then view the data where it lies); automatic: channels_last for fp32 networks that
/// permute maps to channels-last for their norms and linear layers (ConvNeXt), else blocked
/// from batch 8, and at every batch for fp32 networks with depthwise convolutions,
/// concatenations or (with `winograd`) 3x3 convolutions Winograd's algorithm takes (bf16 on
/// AMX CPUs: always native), native otherwise.
/// METALHEAD_INFERENCE_LAYOUT=native|blocked|channels_last overrides automatic.
enum class Layout { automatic, native, blocked, channels_last };
/// "automatic", "native", "blocked", "channels_last" to a Layout (throws
/// std::invalid_argument naming them).
Layout layout_from_string(const std::string& s);

/// "fp32", "bf16", "fp16"; and back (throws std::invalid_argument naming the choices).
std::string to_string(Precision p);
Precision precision_from_string(const std::string& s);

struct InferenceOptions {
  /// bf16: convolutions and matrix products in bfloat16 with fp32 accumulation (torch's
  /// autocast rules: norms, softmax and the logits stay fp32); needs a CPU with
  /// AVX512-BF16 or AMX. fp16 is for CUDA builds.
  Precision precision = Precision::fp32;
  /// Compute threads while the model runs (for its calls only); 0 is every CPU the process
  /// may run on.
  int threads = 0;
  Layout layout = Layout::automatic;
  /// fp32 3x3 stride-1 convolutions with channels in multiples of 16, on maps of 14x14 and
  /// up at batch 1, by Winograd's minimal filtering (oneDNN's F(2,3) and F(4,3) kernels):
  /// 1.4-3x faster than direct convolution, and within 2e-6 of it per convolution
  /// (relative to the output's scale). Its transformed weights are up to 4x the size, so
  /// a convolution whose would pass 16 MB stays direct. It needs 16-channel blocks, which
  /// automatic then picks. false: direct convolution only.
  bool winograd = true;
};

/// Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16), detected at run time.
bool cpu_has_bf16();
/// Whether it has AMX-BF16 (tile matrix units), where bf16 keeps oneDNN's own layouts.
bool cpu_has_amx_bf16();

/// A new inference-only Model computing what `model` computes in test mode. `model` is
/// left as it was (its parameters, buffers and train/test modes). Throws
/// std::invalid_argument for bf16 on a CPU without it, fp16 on a CPU build, or a model that
/// is already optimised.
Model optimize_for_inference(const Model& model, const InferenceOptions& options = {});

/// Whether `model` is what optimize_for_inference returns.
bool is_optimized(const Model& model);

}  // namespace metalhead
