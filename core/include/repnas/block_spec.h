#pragma once
/// @file block_spec.h
/// @brief Plain description of one re-parameterizing block: geometry and which branches it has.

#include <string>

#include "repnas/branch_kind.h"

namespace repnas {

/// @brief What the product builds, and so the most a file it reads may describe: kernels
/// 3..kMaxKernelSize, up to kMaxChannels channels per layer, kMaxNetworkLayers layers, inputs
/// up to kMaxInputSide pixels a side. Readers of outside files refuse anything larger.
inline constexpr int kMaxKernelSize = 7;
inline constexpr int kMaxChannels = 4096;
inline constexpr int kMaxNetworkLayers = 64;
inline constexpr int kMaxInputSide = 1024;

/// @brief Geometry and branch set of a Diverse Branch Block (DESIGN.md 1.1).
struct BlockSpec {
  int in_channels = 16;   ///< C_in
  int out_channels = 16;  ///< C_out
  int kernel_size = 3;    ///< K, odd (3 or 5)
  int stride = 1;         ///< 1 or 2
  int groups = 1;         ///< 1, g, or C_in for depthwise
  BranchMask branches = allBranches();  ///< which searchable branches the block has
  bool identity = true;   ///< add the identity-BN branch when stride 1 and C_in == C_out
  bool identity_init_1x1 = true;  ///< the 1x1 of 1x1-KxK is W + I with W = 0 (DBB)
  /// At stride 2 the 1x1-KxK branch is a second KxK conv -> BN (the official RepNAS code drops
  /// its 1x1 there); false: DBB's 1x1 -> BN-and-pad -> KxK at every stride.
  bool second_kxk_at_stride2 = false;

  /// @brief True when the identity-BN branch is present.
  bool hasIdentityBranch() const {
    return identity && stride == 1 && in_channels == out_channels;
  }
  /// @brief True when groups == C_in (one filter group per input channel).
  bool isDepthwise() const { return groups == in_channels && groups > 1; }
  /// @brief Padding of the folded KxK conv: K // 2.
  int padding() const { return kernel_size / 2; }
  /// @brief Throws repnas::Error naming the first invalid field (including sizes beyond the
  /// limits above).
  void validate() const;
  /// @brief Geometry in words, e.g. "k3 s2 g1 16->32" or "k3 s1 gdw 16->16".
  std::string geometryName() const;
  /// @brief Branch set in words, e.g. "1x1-AVG", "all+id", "1x1+KxK+id".
  std::string branchSetName() const;
};

}  // namespace repnas
