// custom_resnet — a new ResNet variant from Metalhead's low-level builders: a
// ResNet-26 with a deep stem, effective squeeze-excite in every block, half-width
// early stages and no downsampling in the last stage (for dense prediction), in a
// few lines, without touching the library.
#include <metalhead/metalhead.h>

#include <torch/torch.h>

#include <iostream>

int main() {
  namespace mh = metalhead;
  namespace ml = metalhead::layers;
  const std::vector<int64_t> repeats{2, 2, 2, 2};

  mh::ResNetOptions options{
      .attn_fn = [](int64_t planes) { return ml::effective_squeeze_excite(planes); },
      .stem_width = 32,
      // The replaceable callbacks: stride 2 at the start of stages 2 and 3 only...
      .stride_fn = [](int64_t stage, int64_t block) { return (stage == 2 || stage == 3) && block == 1 ? 2 : 1; },
      // ...and widths 32, 64, 256, 512 instead of 64 · 2^stage.
      .planes_fn = [](const std::vector<int64_t>& r) {
        const int64_t widths[] = {32, 64, 256, 512};
        std::vector<int64_t> planes;
        for (size_t s = 0; s < r.size(); ++s) planes.insert(planes.end(), r[s], widths[s]);
        return planes;
      }};
  options.inplanes = 2 * options.stem_width;  // what the deep stem gives

  auto builder = mh::bottleneck_builder(repeats, options);
  flux::Chain layers = mh::build_resnet(mh::resnet_stem(mh::StemType::deep, options), builder, repeats,
                                        ml::addact(), [](int64_t nf) { return ml::create_classifier(nf, 10); },
                                        512 * 4);
  mh::Model model("ResNet26-SE-dilated", layers, 3);

  std::cout << "parameter_count = " << flux::parameter_count(model) << "\n";
  flux::testmode(model);
  torch::InferenceMode guard;
  auto x = torch::randn({2, 3, 128, 128});
  std::cout << "features " << mh::backbone(model)(x).sizes() << ", logits " << model(x).sizes() << "\n";
  return 0;
}
