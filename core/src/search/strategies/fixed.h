#pragma once
// The fixed strategies: plain, plain+identity, repvgg, dbb (a branch set in every layer) and
// odbb (a given mask: the retrain path). Their architecture is fixed from the first step.

#include "search/strategy.h"

namespace repnas {

std::unique_ptr<Strategy> makeFixedStrategy(const RunConfig& config, const BackboneSpec& backbone);

}  // namespace repnas
