#pragma once
// Small helpers shared by the widgets (private to ui/).

#include <QString>

#include <string>
#include <string_view>

#include "repnas/branch_kind.h"

namespace repnas::ui {

inline QString qs(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<int>(s.size())); }
inline QString qs(const std::string& s) { return QString::fromStdString(s); }
inline QString qs(const char* s) { return QString::fromUtf8(s); }
inline QString branchLabel(int kind) { return qs(branchName(static_cast<BranchKind>(kind))); }

}  // namespace repnas::ui
