#pragma once
// ONNX (opset 13) writer and reader for the folded network, with libonnx's protobuf types.
// No torch here. The reader understands exactly what the writer writes.

#include <string>

#include "fold/folded_model.h"

namespace repnas {

/// @brief Writes `model` as ONNX: input "input" [N, C, H, W] (N dynamic), output "logits";
/// Conv, Relu, Add, GlobalAveragePool, Flatten and Gemm nodes named after their layer; the
/// ODBB (kept branches per layer) and the input normalisation as metadata_props. The model is
/// checked with onnx::checker before it is written (atomically). Throws repnas::Error.
void writeOnnx(const FoldedModel& model, const std::string& path);

/// @brief Reads an ONNX file written by writeOnnx back into a FoldedModel. Throws
/// repnas::Error naming the file and the problem.
FoldedModel readOnnx(const std::string& path);

/// @brief The same on the bytes of a file (`path` names it in messages): every field is
/// validated (validateFoldedModel) before the model is returned; throws repnas::Error for any
/// bytes.
FoldedModel parseOnnx(const std::string& bytes, const std::string& path);

}  // namespace repnas
