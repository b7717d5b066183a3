#include "repnas/branch_kind.h"

#include <utility>

#include <algorithm>
#include <cctype>

namespace repnas {

std::string_view branchName(BranchKind kind) {
  switch (kind) {
    case BranchKind::OneByOne: return "1x1";
    case BranchKind::OneByOneAvg: return "1x1-AVG";
    case BranchKind::KxK: return "KxK";
    case BranchKind::OneByOneKxK: return "1x1-KxK";
    case BranchKind::OneByK: return "1xK";
    case BranchKind::KByOne: return "Kx1";
  }
  return "?";
}

std::string branchDisplayName(BranchKind kind, int kernel_size) {
  std::string name(branchName(kind));
  const std::string k = std::to_string(kernel_size);
  for (size_t pos; (pos = name.find('K')) != std::string::npos;) name.replace(pos, 1, k);
  return name;
}

std::optional<BranchKind> parseBranchKind(std::string_view name, int kernel_size) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  const std::string wanted = lower(std::string(name));
  for (BranchKind kind : kAllBranchKinds) {
    if (wanted == lower(std::string(branchName(kind))) ||
        wanted == lower(branchDisplayName(kind, kernel_size)))
      return kind;
  }
  return std::nullopt;
}

std::vector<BranchKind> maskKinds(const BranchMask& mask) {
  std::vector<BranchKind> kinds;
  for (BranchKind kind : kAllBranchKinds)
    if (mask.test(static_cast<size_t>(kind))) kinds.push_back(kind);
  return kinds;
}

std::string maskName(const BranchMask& mask) {
  if (mask.none()) return "none";
  std::string out;
  for (BranchKind kind : maskKinds(mask)) {
    if (!out.empty()) out += '+';
    out += branchName(kind);
  }
  return out;
}

std::string withKernelSizeNames(std::string text, int kernel_size) {
  const std::string k = std::to_string(kernel_size);
  // Longest first: "1x1-KxK" holds "KxK".
  const std::pair<std::string, std::string> names[] = {
      {"1x1-KxK", "1x1-" + k + "x" + k}, {"KxK", k + "x" + k}, {"1xK", "1x" + k}, {"Kx1", k + "x1"}};
  for (const auto& [from, to] : names)
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  return text;
}

}  // namespace repnas
