// Precompiled header for the library, the tools and the tests: libtorch is
// parsed once per build instead of once per file.
#pragma once
#include <torch/torch.h>

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
