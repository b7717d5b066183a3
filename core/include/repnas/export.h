#pragma once
/// @file export.h
/// @brief Fold a trained run into the plain network, verify it on real images, and export it
/// (ONNX, TorchScript, JSON spec + safetensors); evaluate any exported file. No torch types.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "repnas/dataset.h"

namespace repnas {

/// @brief Multi-branch network (eval mode) against the folded network on the same images.
struct VerificationReport {
  int64_t images = 0;
  double max_abs_err = 0;        ///< max |logits_folded − logits_multi| over all images
  double max_rel_err = 0;        ///< max_abs_err / max |logits_multi|
  double max_abs_logit = 0;      ///< max |logits_multi|
  double tolerance = 0;          ///< 1e-5 · max(1, max |logits_multi|)
  double accuracy_multi_branch = 0;
  double accuracy_folded = 0;
  int64_t prediction_mismatches = 0;  ///< images whose arg-max differs
  bool pass = false;
  /// Inference parameters: the kept branches (conv weights, BN γ/β; identity BNs) + head,
  /// against the folded network's conv weights and biases + head.
  int64_t parameters_multi_branch = 0;
  int64_t parameters_folded = 0;
  /// Median milliseconds per batch of `latency_batch` images, the two networks timed in
  /// alternation (this machine's speed drifts), eval mode, no gradients.
  int latency_batch = 1;
  double latency_multi_branch_ms = 0;
  double latency_folded_ms = 0;
  /// What a reader of the report should know about the folded network, e.g. a layer that kept
  /// no searchable branch (identity + BN only) yet becomes a dense KxK conv, with its share of
  /// the folded parameters.
  std::vector<std::string> notes;
  std::string summary() const;   ///< one line for people
};

/// @brief What to export, and where.
struct ExportRequest {
  std::string run_dir;            ///< holds config.json and weights.pt
  std::string onnx_path;          ///< empty: no ONNX file
  std::string torchscript_path;   ///< empty: no TorchScript file
  std::string spec_path;          ///< empty: no spec (the weights go to <spec>.safetensors)
  bool force = false;             ///< write even when verification fails
  int64_t verify_images = 0;      ///< test images to verify on (0: all; at least 1,000)
  std::string data_dir;           ///< override the run's data folder (empty: the run's)
  int threads = 0;
  /// Asked after loading, between verification batches and before the files are written:
  /// true stops the export there (nothing is written; the result says "cancelled"). Once
  /// writing has begun, every requested file is written. Called from the exporting thread.
  std::function<bool()> cancelled;
};

/// @brief The outcome: the report, and what was written.
struct ExportResult {
  VerificationReport report;
  bool exported = false;
  std::string message;            ///< why nothing was written, when so
  std::vector<std::string> written;
  bool cancelled = false;         ///< stopped by request.cancelled; nothing written
};

/// @brief Folds, verifies, and writes the requested files atomically (temporary file +
/// rename). Refuses (exported = false, message says why) when verification fails and not
/// `force`. Throws repnas::Error for an unreadable run, bad data, or an unwritable path.
ExportResult exportRun(const ExportRequest& request);

/// @brief Test accuracy of an exported file (.onnx, .pt TorchScript, .json spec) or a run
/// directory, on the test split of `data`.
struct Evaluation {
  std::string format;  ///< "onnx", "torchscript", "spec", "run"
  int64_t images = 0;
  double accuracy = 0;
};
Evaluation evaluateExport(const std::string& path, const DatasetSpec& data, int64_t limit = 0,
                          int threads = 0);

}  // namespace repnas
