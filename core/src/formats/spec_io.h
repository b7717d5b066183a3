#pragma once
// The spec export (a JSON description + a safetensors file beside it) parsed from bytes. No
// torch and no files here: a fuzzer calls it on any bytes.

#include <functional>
#include <string>

#include "fold/folded_model.h"

namespace repnas {

/// @brief Parses spec JSON `text` (from `path`, for messages); `read_beside(file)` returns
/// the bytes of the weights file it names, which must be a bare file name in the spec's
/// folder. Everything is validated (validateFoldedModel; safetensors ranges inside the data and
/// disjoint); throws repnas::Error naming the file and the problem.
FoldedModel parseSpec(const std::string& text, const std::string& path,
                      const std::function<std::string(const std::string& file)>& read_beside);

}  // namespace repnas
