#include <metalhead/layers/window_attention.h>

#include <flux/printing.h>

#include <torch/types.h>

#include <cmath>
#include <stdexcept>

namespace metalhead::layers {

WindowAttentionImpl::WindowAttentionImpl(int64_t planes_, int64_t nheads_, std::array<int64_t, 2> window_,
                                         WindowAttentionOptions options_)
    : planes(planes_), nheads(nheads_), window(window_), options(options_) {
  const std::string who = "WindowAttention(" + std::to_string(planes) + ", " + std::to_string(nheads) + ")";
  if (planes <= 0 || nheads <= 0 || planes % nheads != 0) {
    throw std::invalid_argument(who + ": planes must be a positive multiple of nheads");
  }
  if (window[0] <= 0 || window[1] <= 0 || options.shift[0] < 0 || options.shift[1] < 0 ||
      options.shift[0] >= window[0] || options.shift[1] >= window[1]) {
    throw std::invalid_argument(who + ": expected a positive window and 0 <= shift < window, got window " +
                                flux::tuple_string(std::vector<int64_t>(window.begin(), window.end())) + " and shift " +
                                flux::tuple_string(std::vector<int64_t>(options.shift.begin(), options.shift.end())));
  }
  if (options.cosine && (window[0] < 2 || window[1] < 2)) {
    throw std::invalid_argument(who + ": the continuous position bias needs a window of at least 2 × 2");
  }
  qkv = register_module("qkv", flux::Dense({planes, 3 * planes}, flux::identity, {.bias = options.qkv_bias}));
  proj = register_module("proj", flux::Dense({planes, planes}));
  const int64_t wh = window[0], ww = window[1];
  // Flat, as torchvision's Swin keeps it.
  relative_position_index = register_buffer("relative_position_index", layers::relative_position_index(window).flatten());
  if (!options.cosine) {
    relative_position_bias_table = register_parameter(
        "relative_position_bias_table", (0.02 * torch::randn({(2 * wh - 1) * (2 * ww - 1), nheads})).clamp(-0.04, 0.04));
    return;
  }
  logit_scale = register_parameter("logit_scale", torch::full({nheads, 1, 1}, std::log(10.0)));
  cpb_mlp = register_module("cpb_mlp", flux::Chain(flux::Dense({2, 512}, flux::relu),
                                                   flux::Dense({512, nheads}, flux::identity, {.bias = false})));
  auto coords = torch::empty({1, 2 * wh - 1, 2 * ww - 1, 2});
  auto c = coords.accessor<float, 4>();
  auto log_spaced = [](double t) { return t == 0 ? 0.0 : std::copysign(std::log2(std::abs(t) + 1.0) / 3.0, t); };
  for (int64_t a = 0; a < 2 * wh - 1; ++a) {
    for (int64_t b = 0; b < 2 * ww - 1; ++b) {
      c[0][a][b][0] = static_cast<float>(log_spaced(8.0 * static_cast<double>(a - (wh - 1)) / static_cast<double>(wh - 1)));
      c[0][a][b][1] = static_cast<float>(log_spaced(8.0 * static_cast<double>(b - (ww - 1)) / static_cast<double>(ww - 1)));
    }
  }
  relative_coords_table = register_buffer("relative_coords_table", coords);
}

Tensor relative_position_index(std::array<int64_t, 2> window) {
  const int64_t wh = window[0], ww = window[1], T = wh * ww;
  auto index = torch::empty({T, T}, torch::kLong);
  auto idx = index.accessor<int64_t, 2>();
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j < T; ++j) idx[i][j] = (i / ww - j / ww + wh - 1) * (2 * ww - 1) + (i % ww - j % ww + ww - 1);
  }
  return index;
}

Tensor relative_position_bias(const Tensor& table, const Tensor& index) {
  const int64_t T = index.size(0);
  // The index stays integral even where a whole model was cast (Module::to casts buffers too).
  return table.index_select(0, index.reshape({-1}).to(torch::kLong)).view({T, T, -1}).permute({2, 0, 1}).contiguous();
}

Tensor WindowAttentionImpl::relative_position_bias() {
  const int64_t T = window[0] * window[1];
  const Tensor index = relative_position_index.view({T, T});
  if (!options.cosine) return layers::relative_position_bias(relative_position_bias_table, index);
  const Tensor table = cpb_mlp->forward(relative_coords_table).view({-1, nheads});
  return 16 * torch::sigmoid(layers::relative_position_bias(table, index));
}

// [nW, T, T]: −100 between tokens of a window that came from different regions of the
// rolled map (torchvision's three bands per side: the part that stays, the window-wide
// band before the seam, the rolled-in shift), 0 elsewhere. Built from tensor operations
// only, so that a trace records it (writes through an accessor would be lost).
Tensor WindowAttentionImpl::mask(int64_t h, int64_t w, std::array<int64_t, 2> shift) const {
  const int64_t wh = window[0], ww = window[1], T = wh * ww, nh = h / wh, nw = w / ww;
  auto bands = [](int64_t side, int64_t win, int64_t s) {
    const Tensor r = torch::arange(side);
    if (s == 0) return torch::zeros({side}, torch::kLong);
    return (r >= side - win).to(torch::kLong) + (r >= side - s).to(torch::kLong);
  };
  const Tensor region = (3 * bands(h, wh, shift[0]).view({h, 1}) + bands(w, ww, shift[1]).view({1, w}))
                            .view({nh, wh, nw, ww})
                            .permute({0, 2, 1, 3})
                            .reshape({nh * nw, T});
  return (region.unsqueeze(1) != region.unsqueeze(2)).to(torch::kFloat) * -100.0;
}

Tensor WindowAttentionImpl::forward(const Tensor& input) {
  if (input.dim() != 4 || input.size(3) != planes) input_error("[N, H, W, " + std::to_string(planes) + "] maps", input);
  const int64_t B = input.size(0), H = input.size(1), W = input.size(2), wh = window[0], ww = window[1];
  const int64_t pad_b = (wh - H % wh) % wh, pad_r = (ww - W % ww) % ww;
  Tensor x = pad_b || pad_r ? at::constant_pad_nd(input, {0, 0, 0, pad_r, 0, pad_b}) : input;
  const int64_t ph = H + pad_b, pw = W + pad_r, nh = ph / wh, nw = pw / ww, T = wh * ww, d = planes / nheads;
  std::array<int64_t, 2> shift = options.shift;
  if (wh >= ph) shift[0] = 0;  // one window covers the side: nothing to shift
  if (ww >= pw) shift[1] = 0;
  const bool shifted = shift[0] + shift[1] > 0;
  if (shifted) x = torch::roll(x, {-shift[0], -shift[1]}, {1, 2});
  x = x.view({B, nh, wh, nw, ww, planes}).permute({0, 1, 3, 2, 4, 5}).reshape({B * nh * nw, T, planes});
  Tensor qkv_bias = qkv->bias;
  if (options.cosine && qkv_bias.defined()) {  // V2 has no key bias
    qkv_bias = torch::cat({qkv_bias.narrow(0, 0, planes), torch::zeros({planes}, qkv_bias.options()),
                           qkv_bias.narrow(0, 2 * planes, planes)});
  }
  auto parts = torch::linear(x, qkv->weight, qkv_bias).view({B * nh * nw, T, 3, nheads, d}).permute({2, 0, 3, 1, 4});
  Tensor q = parts[0], k = parts[1], v = parts[2];
  Tensor attn;
  if (options.cosine) {
    auto unit = [](const Tensor& t) { return t / t.norm(2, -1, true).clamp_min(1e-12); };
    attn = torch::matmul(unit(q), unit(k).transpose(-2, -1)) * logit_scale.clamp_max(std::log(100.0)).exp();
  } else {
    attn = torch::matmul(q * std::pow(static_cast<double>(d), -0.5), k.transpose(-2, -1));
  }
  attn = attn + relative_position_bias().unsqueeze(0);
  if (shifted) {
    attn = (attn.view({B, nh * nw, nheads, T, T}) + mask(ph, pw, shift).to(attn.options()).unsqueeze(1).unsqueeze(0))
               .view({-1, nheads, T, T});
  }
  attn = torch::softmax(attn, -1);
  if (is_training() && options.attn_dropout_prob > 0) attn = torch::dropout(attn, options.attn_dropout_prob, true);
  x = torch::matmul(attn, v).transpose(1, 2).reshape({B * nh * nw, T, planes});
  x = proj(x);
  if (is_training() && options.proj_dropout_prob > 0) x = torch::dropout(x, options.proj_dropout_prob, true);
  x = x.view({B, nh, nw, wh, ww, planes}).permute({0, 1, 3, 2, 4, 5}).reshape({B, ph, pw, planes});
  if (shifted) x = torch::roll(x, {shift[0], shift[1]}, {1, 2});
  return pad_b || pad_r ? x.slice(1, 0, H).slice(2, 0, W).contiguous() : x;
}

std::vector<flux::ShowItem> WindowAttentionImpl::show_items() const {
  std::vector<flux::ShowItem> items{{"", qkv.ptr(), ""}, {"", proj.ptr(), ""}};
  if (options.cosine) items.push_back({"", cpb_mlp.ptr(), ""});
  return items;
}

void WindowAttentionImpl::pretty_print(std::ostream& os) const {
  os << "WindowAttention(" << planes << ", " << nheads << ", window="
     << flux::tuple_string(std::vector<int64_t>(window.begin(), window.end()));
  if (options.shift[0] || options.shift[1]) {
    os << ", shift=" << flux::tuple_string(std::vector<int64_t>(options.shift.begin(), options.shift.end()));
  }
  if (options.cosine) os << ", cosine=true";
  os << ')';
}

PatchMergingImpl::PatchMergingImpl(int64_t planes_, PatchMergingOptions options)
    : planes(planes_), postnorm(options.postnorm) {
  if (planes <= 0) throw std::invalid_argument("PatchMerging: planes must be positive, got " + std::to_string(planes));
  norm = register_module("norm", LayerNormV2(postnorm ? 2 * planes : 4 * planes, flux::identity, {.eps = options.eps}));
  reduction = register_module("reduction", flux::Dense({4 * planes, 2 * planes}, flux::identity, {.bias = false}));
}

Tensor PatchMergingImpl::forward(const Tensor& input) {
  if (input.dim() != 4 || input.size(3) != planes) input_error("[N, H, W, " + std::to_string(planes) + "] maps", input);
  const int64_t H = input.size(1), W = input.size(2);
  const Tensor x = H % 2 || W % 2 ? at::constant_pad_nd(input, {0, 0, 0, W % 2, 0, H % 2}) : input;
  auto at = [&](int64_t r, int64_t c) { return x.slice(1, r, x.size(1), 2).slice(2, c, x.size(2), 2); };
  const Tensor merged = torch::cat({at(0, 0), at(1, 0), at(0, 1), at(1, 1)}, -1);
  return postnorm ? norm(reduction(merged)) : reduction(norm(merged));
}

std::vector<flux::ShowItem> PatchMergingImpl::show_items() const {
  if (postnorm) return {{"", reduction.ptr(), ""}, {"", norm.ptr(), ""}};
  return {{"", norm.ptr(), ""}, {"", reduction.ptr(), ""}};
}

void PatchMergingImpl::pretty_print(std::ostream& os) const {
  os << "PatchMerging(" << planes;
  if (postnorm) os << ", postnorm=true";
  os << ')';
}

}  // namespace metalhead::layers
