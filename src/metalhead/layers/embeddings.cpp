#include <metalhead/layers/embeddings.h>

#include <ATen/ops/_upsample_bicubic2d_aa.h>

#include <cmath>

#include <flux/activations.h>
#include <flux/conv.h>

#include <torch/types.h>

#include <stdexcept>

namespace metalhead::layers {

flux::Layer flatten_spatial() {
  return flux::fn("flatten_spatial", [](const Tensor& x) {
    if (x.dim() != 4) throw std::invalid_argument("flatten_spatial: expected [N, C, H, W], got a tensor of shape " +
                                                  flux::shape_string(x));
    return x.flatten(2).transpose(1, 2);
  });
}

flux::Chain PatchEmbedding(std::vector<int64_t> imsize, PatchEmbeddingOptions options) {
  const auto& patch = options.patch_size;
  if (imsize.size() != 2 || patch.size() != 2) {
    throw std::invalid_argument("PatchEmbedding: imsize and patch_size need two values (height, width)");
  }
  if (patch[0] <= 0 || patch[1] <= 0 || imsize[0] % patch[0] != 0 || imsize[1] % patch[1] != 0) {
    throw std::invalid_argument("PatchEmbedding: image size " + flux::shape_string(imsize) +
                                " must be divisible by the patch size " + flux::shape_string(patch));
  }
  flux::Conv conv(patch, {options.inchannels, options.embedplanes}, flux::identity, {.stride = patch});
  std::vector<flux::Layer> layers{conv, options.flatten ? flatten_spatial() : flux::Layer(flux::identity)};
  if (options.norm_layer) {
    auto norm = options.norm_layer(options.embedplanes);
    layers.insert(layers.end(), norm.begin(), norm.end());
  } else {
    layers.emplace_back(flux::identity);
  }
  return flux::Chain(std::move(layers));
}

ViPosEmbeddingImpl::ViPosEmbeddingImpl(int64_t embedsize, int64_t npatches, ViPosEmbeddingOptions options) {
  if (embedsize <= 0 || npatches <= 0) option_error("sizes must be positive");
  // Flux's (embedsize, npatches) array is our [npatches, embedsize].
  Tensor v = options.init({embedsize, npatches});
  if (v.sizes() != at::IntArrayRef{embedsize, npatches}) option_error("init returned the wrong shape");
  vectors = register_parameter("vectors", v.t().contiguous());
  grid = options.grid;
  prefix = options.prefix;
  if (!grid.empty() && (grid.size() != 2 || prefix < 0 || prefix + grid[0] * grid[1] != npatches)) {
    option_error("grid " + flux::shape_string(grid) + " with " + std::to_string(prefix) + " prefix tokens is not " +
                 std::to_string(npatches) + " tokens");
  }
}

Tensor resample_pos_embed(const Tensor& vectors, const std::vector<int64_t>& grid, int64_t prefix) {
  const int64_t old_tokens = vectors.size(0) - prefix;
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(old_tokens, 0)))));
  if (vectors.dim() != 2 || grid.size() != 2 || old_tokens <= 0 || side * side != old_tokens) {
    throw std::invalid_argument("resample_pos_embed: expected [" + std::to_string(prefix) +
                                " + a square, D] position vectors and a grid [h, w], got " +
                                flux::shape_string(vectors) + " and " + flux::shape_string(grid));
  }
  if (side == grid[0] && side == grid[1]) return vectors;
  const int64_t d = vectors.size(1);
  const Tensor map = vectors.slice(0, prefix).to(at::kFloat).t().reshape({1, d, side, side});
  const Tensor resized = at::_upsample_bicubic2d_aa(map, grid, /*align_corners=*/false);
  const Tensor tokens = resized.reshape({d, grid[0] * grid[1]}).t().to(vectors.scalar_type());
  return at::cat({vectors.slice(0, 0, prefix), tokens}, 0);
}

Tensor ViPosEmbeddingImpl::forward(const Tensor& x) {
  if (x.dim() < 2 || x.size(-2) != vectors.size(0) || x.size(-1) != vectors.size(1)) {
    input_error("[N, " + std::to_string(vectors.size(0)) + ", " + std::to_string(vectors.size(1)) + "] tokens", x);
  }
  return x + vectors;
}

void ViPosEmbeddingImpl::pretty_print(std::ostream& os) const {
  os << "ViPosEmbedding(" << vectors.size(1) << ", " << vectors.size(0) << ')';
}

ClassTokensImpl::ClassTokensImpl(int64_t planes, ClassTokensOptions options) {
  if (planes <= 0) option_error("planes must be positive");
  Tensor t = options.init({planes, 1, 1});
  if (t.numel() != planes) option_error("init returned the wrong shape");
  token = register_parameter("token", t.reshape({1, 1, planes}).contiguous());
}

Tensor ClassTokensImpl::forward(const Tensor& x) {
  if (x.dim() != 3 || x.size(2) != token.size(2)) input_error("[N, T, " + std::to_string(token.size(2)) + "] tokens", x);
  return torch::cat({token.expand({x.size(0), 1, token.size(2)}), x}, 1);
}

void ClassTokensImpl::pretty_print(std::ostream& os) const { os << "ClassTokens(" << token.size(2) << ')'; }

}  // namespace metalhead::layers
