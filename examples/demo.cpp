// demo — a small convolutional network from flux layers: its Flux-style
// summary, a forward pass on a random batch, and a few training steps.
#include <flux/flux.h>
#include <torch/optim/sgd.h>
#include <torch/torch.h>

#include <iomanip>
#include <iostream>

int main() {
  torch::manual_seed(0);
  using namespace flux;

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
  Tensor labels = torch::randint(0, 10, {8});
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  std::cout << "Training on that batch (loss should fall):\n";
  for (int step = 1; step <= 20; ++step) {
    opt.zero_grad();
    Tensor loss = torch::nn::functional::cross_entropy(model(x), labels);
    loss.backward();
    opt.step();
    if (step % 5 == 0) std::cout << "  step " << std::setw(2) << step << "  loss " << loss.item<float>() << "\n";
  }

  testmode(model);
  std::cout << "\nAfter testmode the BatchNorm and Dropout are fixed:\n" << model[1] << "\n" << model[7] << "\n";
  std::cout << "parameter_count(model) = " << parameter_count(model) << "\n";
  return 0;
}
