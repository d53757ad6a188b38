// The training suite's data: the first images of Fashion-MNIST's training set.
#pragma once

#include <metalhead/data/idx.h>

/// A small slice of Fashion-MNIST: enough for a few steps, quick on 2 cores.
inline metalhead::data::LabelledImages slice(int64_t n) {
  auto d = metalhead::data::fashion_mnist(metalhead::data::Split::train);
  d.images = d.images.narrow(0, 0, n);
  d.labels = d.labels.narrow(0, 0, n);
  return d;
}
