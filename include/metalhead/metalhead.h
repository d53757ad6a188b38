// metalhead.h — the whole public API: flux layers, Metalhead's Layers module, the
// model zoo and its registry.
#pragma once

#include <flux/flux.h>
#include <metalhead/layers.h>
#include <metalhead/model.h>
#include <metalhead/models/alexnet.h>
#include <metalhead/models/convmixer.h>
#include <metalhead/models/convnext.h>
#include <metalhead/models/densenet.h>
#include <metalhead/models/efficientnets.h>
#include <metalhead/models/googlenet.h>
#include <metalhead/models/inceptionv3.h>
#include <metalhead/models/inceptionv4.h>
#include <metalhead/models/invresmodel.h>
#include <metalhead/models/maxvit.h>
#include <metalhead/models/mixers.h>
#include <metalhead/models/mobilenets.h>
#include <metalhead/models/regnet.h>
#include <metalhead/models/resnet.h>
#include <metalhead/models/shufflenet.h>
#include <metalhead/models/squeezenet.h>
#include <metalhead/models/swin.h>
#include <metalhead/models/unet.h>
#include <metalhead/models/vgg.h>
#include <metalhead/models/vit.h>
#include <metalhead/models/xception.h>
#include <metalhead/registry.h>
#include <metalhead/weights.h>
