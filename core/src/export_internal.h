#pragma once
// Pieces of the exporter that benchmarks and tests use directly. Private to core.

#include <string>
#include <vector>

#include "folded_model.h"
#include "network.h"

namespace repnas {

/// @brief The folded network as plain data (weights copied out of `folded`).
FoldedModel makeFoldedModel(const BackboneSpec& backbone, const std::string& mode,
                            const std::vector<BranchMask>& masks, const std::vector<double>& mean,
                            const std::vector<double>& std, FoldedNetworkImpl& folded);

/// @brief A torch::jit::Module with the folded weights and a forward defined in TorchScript,
/// saved atomically; loadable by torch.jit.load and torch::jit::load.
void writeTorchScript(const FoldedModel& model, const std::string& path);

}  // namespace repnas
