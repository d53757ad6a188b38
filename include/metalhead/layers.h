// layers.h — Metalhead's Layers module: the building blocks of the model zoo.
#pragma once

#include <metalhead/layers/attention.h>
#include <metalhead/layers/classifier.h>
#include <metalhead/layers/connections.h>
#include <metalhead/layers/conv_norm.h>
#include <metalhead/layers/drop.h>
#include <metalhead/layers/embeddings.h>
#include <metalhead/layers/mbconv.h>
#include <metalhead/layers/mlp.h>
#include <metalhead/layers/normalise.h>
#include <metalhead/layers/partition_attention.h>
#include <metalhead/layers/pool.h>
#include <metalhead/layers/scale.h>
#include <metalhead/layers/shape.h>
#include <metalhead/layers/squeeze_excite.h>
#include <metalhead/layers/window_attention.h>
