// flux.h — the whole flux layer library.
#pragma once

#include <flux/activations.h>
#include <flux/bilinear.h>
#include <flux/chain.h>
#include <flux/connection.h>
#include <flux/conv.h>
#include <flux/dense.h>
#include <flux/dropout.h>
#include <flux/embedding.h>
#include <flux/init.h>
#include <flux/layer.h>
#include <flux/maxout.h>
#include <flux/mode.h>
#include <flux/normalise.h>
#include <flux/padding.h>
#include <flux/pairwise_fusion.h>
#include <flux/parallel.h>
#include <flux/pooling.h>
#include <flux/printing.h>
#include <flux/recurrent.h>
#include <flux/scale.h>
#include <flux/skip_connection.h>
#include <flux/upsample.h>
