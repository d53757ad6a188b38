# The two commands of the README: `make demo` and `make test`. Both install what
# is missing (scripts/install-deps), configure, build and run.
BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_TYPE ?= Release
CMAKE_FLAGS ?=

.PHONY: all deps configure build test parity demo transfer-demo bench install clean

all: build

deps:
	@scripts/install-deps

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS); \
	fi

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

# Parity with torchvision for every configuration, the largest (> 150M parameters) too.
parity: build
	cd $(BUILD_DIR) && METALHEAD_PARITY_ALL=1 ctest --output-on-failure -j$(JOBS) -L parity

# Trains resnet18 on Fashion-MNIST in a fresh runs/demo-DATE-TIME, evaluates, classifies.
demo: build
	scripts/demo $(BUILD_DIR)

# Pretrains resnet18 on Fashion-MNIST classes 0-4, then learns classes 5-9 from 20 images
# each, fine-tuned and from scratch, and prints both test accuracies.
transfer-demo: build
	scripts/transfer-demo $(BUILD_DIR)

# Inference against PyTorch (eager, channels_last, TorchScript frozen, bf16 autocast) and
# ONNX Runtime, then training-step throughput against PyTorch (not part of the tests).
bench: build
	bench/inference $(BUILD_DIR)
	bench/train $(BUILD_DIR)
	bench/distributed $(BUILD_DIR)

install: build
	cmake --install $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
