#pragma once
/// @file branch_kind.h
/// @brief The searchable branch kinds of a re-parameterizing block (DESIGN.md 1.1).

#include <array>
#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace repnas {

/// @brief One of the six searchable branches; the value is its index in α and in masks.
enum class BranchKind : int {
  OneByOne = 0,     ///< 1x1 conv (stride s) -> BN
  OneByOneAvg = 1,  ///< 1x1 conv -> BN-and-pad -> AvgPool KxK (stride s) -> BN
  KxK = 2,          ///< KxK conv (stride s, pad K//2) -> BN
  OneByOneKxK = 3,  ///< 1x1 conv -> BN-and-pad -> KxK conv (stride s, pad 0) -> BN
  OneByK = 4,       ///< 1xK conv (pad (0, K//2)) -> BN
  KByOne = 5,       ///< Kx1 conv (pad (K//2, 0)) -> BN
};

/// @brief Number of searchable branch kinds.
inline constexpr int kNumBranchKinds = 6;

/// @brief All searchable kinds in index order.
inline constexpr std::array<BranchKind, kNumBranchKinds> kAllBranchKinds = {
    BranchKind::OneByOne, BranchKind::OneByOneAvg, BranchKind::KxK,
    BranchKind::OneByOneKxK, BranchKind::OneByK, BranchKind::KByOne};

/// @brief A set of searchable branches (bit i = BranchKind i).
using BranchMask = std::bitset<kNumBranchKinds>;

/// @brief Canonical short name: "1x1", "1x1-AVG", "KxK", "1x1-KxK", "1xK", "Kx1".
std::string_view branchName(BranchKind kind);

/// @brief Name with K substituted, e.g. "1x1-3x3" for OneByOneKxK and K = 3.
std::string branchDisplayName(BranchKind kind, int kernel_size);
/// @brief `text` (e.g. an engine command "pin layer 1 1x1-KxK keep") with the generic branch
/// names replaced by those for `kernel_size` ("pin layer 1 1x1-3x3 keep").
std::string withKernelSizeNames(std::string text, int kernel_size);

/// @brief Parses a canonical name (case-insensitive; also accepts K substituted, e.g. "3x3").
std::optional<BranchKind> parseBranchKind(std::string_view name, int kernel_size = 3);

/// @brief Branch names of a mask joined by '+', e.g. "1x1+KxK"; "none" when empty.
std::string maskName(const BranchMask& mask);

/// @brief The kinds set in a mask, in index order.
std::vector<BranchKind> maskKinds(const BranchMask& mask);

/// @brief Mask with every searchable branch set.
inline BranchMask allBranches() { return BranchMask().set(); }

}  // namespace repnas
