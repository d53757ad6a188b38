// Precompiled header for the library, the tools and the tests. ATen and the
// module base rather than <torch/torch.h>: the full header makes a PCH of
// ~800 MB whose loading dominates each compile.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>
