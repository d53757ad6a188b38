// layers_tour — two small models: a LeNet from flux layers, and a custom network assembled
// from Metalhead's Layers blocks; their Flux-style summaries, a forward pass on a
// random batch, and a few training steps.
#include <flux/flux.h>
#include <metalhead/layers.h>
#include <torch/optim/sgd.h>
#include <torch/torch.h>

#include <iomanip>
#include <iostream>

namespace {

// Fits random labels for a few steps and prints the falling loss.
void train_briefly(torch::nn::Module& model, const flux::Layer& forward, const flux::Tensor& x, int steps) {
  flux::Tensor labels = torch::randint(0, 10, {x.size(0)});
  torch::optim::SGD opt(model.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  for (int step = 1; step <= steps; ++step) {
    opt.zero_grad();
    flux::Tensor loss = torch::nn::functional::cross_entropy(forward(x), labels);
    loss.backward();
    opt.step();
    if (step % 5 == 0) std::cout << "  step " << std::setw(2) << step << "  loss " << loss.item<float>() << "\n";
  }
}

void metalhead_layers_part() {
  using namespace flux;
  namespace ml = metalhead::layers;
  std::cout << "\n== A custom network from metalhead::layers ==\n\n";
  // The guide's `Chain(..., conv_norm(...)..., ...)`: vectors of layers splice into a Chain.
  Chain model(ml::conv_norm({3, 3}, 3, 32, relu, {.stride = 2, .pad = 1}),  // [N, 32, 16, 16]
              ml::invertedresidual({3, 3}, 32, 128, 32, swish,              // with skip + stochastic depth
                                   {.block = {.reduction = 16}, .stochastic_depth_prob = 0.1}),
              ml::DropBlock(0.1, 3),
              ml::mbconv({3, 3}, 32, 128, 64, swish, {.stride = 2}),         // [N, 64, 8, 8]
              ml::squeeze_excite(64),
              ml::create_classifier(64, 10, identity,
                                    {.pool_layer = ml::AdaptiveMeanMaxPool(), .dropout_prob = 0.2}));
  std::cout << model << "\n\n";

  Tensor x = torch::randn({8, 3, 32, 32});
  {
    torch::InferenceMode guard;
    std::cout << "Forward pass " << shape_string(x) << " -> " << shape_string(model(x)) << "\n\n";
  }
  std::cout << "Training on that batch (DropBlock, StochasticDepth and Dropout active):\n";
  train_briefly(*model, model, x, 15);
  testmode(model);
  Tensor a, b;
  {
    torch::InferenceMode guard;
    a = model(x);
    b = model(x);
  }
  std::cout << "\nIn test mode the stochastic layers are the identity: two calls agree exactly: "
            << std::boolalpha << a.equal(b) << "\n";
}

}  // namespace

int main() {
  torch::manual_seed(0);
  using namespace flux;
  std::cout << "== A LeNet from flux layers ==\n\n";

  // A LeNet-style classifier for 28x28 grey images, in Flux's vocabulary.
  Chain model(Conv({5, 5}, {1, 6}, relu, {.pad = SamePad{}}),  // [N, 6, 28, 28]
              BatchNorm(6),
              MaxPool({2, 2}),                                // [N, 6, 14, 14]
              Conv({5, 5}, {6, 16}, relu),                    // [N, 16, 10, 10]
              MaxPool({2, 2}),                                // [N, 16, 5, 5]
              flatten,
              Dense({16 * 5 * 5, 120}, relu),
              Dropout(0.25),
              Dense({120, 10}));

  std::cout << "The model, as Flux prints it:\n\n" << model << "\n\n";

  Tensor x = torch::randn({8, 1, 28, 28});
  {
    torch::InferenceMode guard;  // automatic mode: test behaviour
    Tensor logits = model(x);
    std::cout << "Forward pass on a random batch " << shape_string(x) << " -> " << shape_string(logits) << "\n";
    std::cout << "Class probabilities of the first image: " << softmax(logits[0]).sizes() << " summing to "
              << softmax(logits[0]).sum().item<float>() << "\n\n";
  }

  // Fit random labels for a few steps: BatchNorm and Dropout train, as autograd records.
  std::cout << "Training on that batch (loss should fall):\n";
  train_briefly(*model, model, x, 20);

  testmode(model);
  std::cout << "\nAfter testmode the BatchNorm and Dropout are fixed:\n" << model[1] << "\n" << model[7] << "\n";
  std::cout << "parameter_count(model) = " << parameter_count(model) << "\n";

  metalhead_layers_part();
  return 0;
}
