#pragma once
/// @file fusion_check.h
/// @brief Equivalence check of a multi-branch block against its folded KxK convolution.
///
/// Each case builds a block with random weights and random BatchNorm running statistics,
/// γ and β, runs it in eval mode and compares it with the single folded convolution.
/// Errors are measured on the pre-activation (the sum of branches, before the block's
/// ReLU), which is stricter than comparing after the ReLU.

#include <cstdint>
#include <string>
#include <vector>

#include "repnas/block_spec.h"

namespace repnas {

/// @brief A deliberate mistake injected into a case, to show that the check catches it.
enum class FusionFault {
  None,                ///< the correct construction
  ZeroPadding,         ///< BN-and-pad pads with 0 instead of β − μγ/σ (the classic bug)
  AsymmetricWrongAxis, ///< 1xK / Kx1 kernels placed along the wrong axis of the KxK kernel
  PerturbedKernel,     ///< one tap of the folded kernel is off by 1e-3
  TrainModeReference,  ///< the multi-branch block runs in training mode (batch statistics)
};

/// @brief Name of a fault, e.g. "zero-padding"; "none" for FusionFault::None.
std::string faultName(FusionFault fault);

/// @brief One equivalence case.
struct FusionCase {
  BlockSpec block;      ///< the block under test
  int batch = 2;        ///< input batch size
  int height = 15;      ///< input height
  int width = 15;       ///< input width
  std::uint64_t seed = 1;  ///< seed of weights, statistics and input
  FusionFault fault = FusionFault::None;  ///< injected mistake, if any

  /// @brief e.g. "1x1-AVG k3 s2 g1 16->32 15x12" (fault appended in brackets).
  std::string name() const;
};

/// @brief Outcome of one case.
struct FusionResult {
  std::string name;               ///< FusionCase::name()
  double max_abs_err = 0;         ///< max |y_folded − y_branches| over all outputs
  double rel_err = 0;             ///< max_abs_err / max |y_branches|
  double max_abs_y = 0;           ///< max |y_branches|
  double max_abs_err_border = 0;  ///< max error over outputs whose window touches padding
  double max_abs_err_interior = 0;  ///< max error over the other outputs
  bool pass = false;              ///< max_abs_err <= fusionTolerance(max_abs_y)
};

/// @brief The pass threshold: 1e-5 · max(1, max |y|).
double fusionTolerance(double max_abs_y);

/// @brief The standard cases: every branch kind alone, identity alone, all branches;
/// K 3 and 5; stride 1 and 2; groups 1, 2, depthwise; channel change; odd, even and
/// non-square inputs.
std::vector<FusionCase> standardFusionCases();

/// @brief Runs one case. Throws repnas::Error when the case is invalid.
FusionResult runFusionCase(const FusionCase& c);

}  // namespace repnas
