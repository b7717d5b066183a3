#pragma once
// Pieces of the exporter that benchmarks and tests use directly. Private to core.

#include <functional>
#include <string>
#include <vector>

#include "data/data.h"
#include "fold/folded_model.h"
#include "nn/network.h"
#include "repnas/config.h"
#include "repnas/export.h"
#include "repnas/inspect.h"

namespace repnas {

/// @brief A trained (or training) network read from weights.pt or checkpoint.pt, eval mode.
struct LoadedRun {
  std::string source;  ///< the archive read
  RunConfig config;
  std::vector<BranchMask> masks;  ///< final (weights.pt), fixed, or best-k under the budget
  data::Normalization norm;
  BackboneSpec backbone;
  Network net{nullptr};
  bool complete = false;  ///< read from weights.pt
  int64_t step = 0;       ///< steps trained (checkpoints)
};

/// @brief Loads weights.pt or checkpoint.pt. `data` supplies the input shape for archives that
/// do not record it (may be null). Throws repnas::Error naming the file.
LoadedRun loadRunArchive(const std::string& path, const data::LoadedDataset* data = nullptr);
/// @brief Loads run_dir/weights.pt (a completed run).
LoadedRun loadRun(const std::string& run_dir, const data::LoadedDataset* data = nullptr);

/// @brief Loads run_dir/weights.pt, else run_dir/checkpoint.pt (a run still training). Throws
/// Error("nothing to <what> in DIR yet: …") when neither exists.
LoadedRun loadNewestRunArchive(const std::string& run_dir, const std::string& what);

/// @brief A kernel [out, in/g, kh, kw] and its bias (may be undefined) as plain float64 data.
KernelData toKernelData(const std::string& name, const torch::Tensor& kernel,
                        const torch::Tensor& bias = {});

/// @brief A conv module as plain data (a zero bias where it has none). Throws repnas::Error
/// for padding other than kernel / 2.
FoldedConv foldedConvOf(const torch::nn::Conv2dImpl& conv);

/// @brief The folded network as plain data (weights copied out of `folded`).
FoldedModel makeFoldedModel(const BackboneSpec& backbone, const std::string& mode,
                            const std::vector<BranchMask>& masks, const std::vector<double>& mean,
                            const std::vector<double>& std, FoldedNetworkImpl& folded);

/// @brief The first line of a LibTorch message (no backtrace, no TorchScript source excerpt).
std::string torchMessage(const c10::Error& e);

/// @brief A tensor's values as float32, in its (contiguous) order.
std::vector<float> toVector(const torch::Tensor& t);

/// @brief Runs a FoldedModel with plain torch ops (what the ONNX and spec files describe).
torch::Tensor runFoldedModel(const FoldedModel& m, const torch::Tensor& x);

/// @brief The spec JSON (`path`) and its safetensors weights beside it, atomically; readSpec reads
/// them back (bounded, validated: formats/spec_io.h).
void writeSpec(const FoldedModel& m, const VerificationReport& r, const std::string& path);
FoldedModel readSpec(const std::string& path);

/// @brief A torch::jit::Module with the folded weights and a forward defined in TorchScript,
/// saved atomically; loadable by torch.jit.load and torch::jit::load.
void writeTorchScript(const FoldedModel& model, const std::string& path);

using LogitsFn = std::function<torch::Tensor(const torch::Tensor&)>;

/// @brief Runs `reference` and `candidate` on `set` (batches of 500, normalised by `norm`) and
/// fills `r`: images, the max abs / rel error of the logits (NaN sticks), the tolerance
/// 1e-5 · max(1, max |reference logit|), both accuracies (multi_branch: the reference), the
/// arg-max mismatches, pass. `stop` is asked before each batch: true returns false at once
/// (`r` incomplete).
bool compareOnImages(VerificationReport& r, const data::ImageSet& set, const data::Normalization& norm,
                     const LogitsFn& reference, const LogitsFn& candidate, const std::function<bool()>& stop = {});

/// @brief Where writeModelFiles writes (empty: not that format).
struct ModelFiles {
  std::string onnx, torchscript, spec;
};

/// @brief Writes `model` to each requested file (atomically), loads each back and checks that
/// it gives `reference` (the network's logits on `probe`) within 1e-5 · max(1, |logit|); `r`
/// goes into the spec. Returns the files written (the spec's safetensors beside it). Throws
/// repnas::Error naming the file that cannot be written or does not reproduce the network.
std::vector<std::string> writeModelFiles(const FoldedModel& model, const VerificationReport& r,
                                         const torch::Tensor& probe, const torch::Tensor& reference,
                                         const ModelFiles& files);

}  // namespace repnas
