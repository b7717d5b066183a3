// Precompiled header of repnas_core: the torch C++ API. Private to core (and its tests).
#pragma once
#include <torch/torch.h>
