#pragma once
/// @file explain.h
/// @brief The re-parameterization explainer: one block folded step by step with the core
/// folding functions (the exporter's own), a proof on a real image, and two counter-examples.
/// Plain C++; the UI only displays what this computes.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "repnas/block_spec.h"
#include "repnas/branch_kind.h"
#include "repnas/dataset.h"
#include "repnas/inspect.h"

namespace repnas {

/// @brief A small matrix shown as an annotated heatmap: a kernel slice, a 1x1 kernel as an
/// out × in matrix, or per-channel BatchNorm numbers.
struct ExplainMatrix {
  std::string caption;
  int rows = 0;
  int cols = 0;
  std::vector<double> values;  ///< row-major
  bool has_bias = false;
  double bias = 0;
};

/// @brief One transform of one branch: what goes in, what comes out, and the formula with the
/// actual numbers of the selected channel pair.
struct ExplainItem {
  std::string branch;  ///< "1x1", "KxK", ..., "identity"
  std::string caption;
  std::vector<ExplainMatrix> inputs;
  std::vector<ExplainMatrix> outputs;
  std::vector<std::string> lines;  ///< worked formulas, e.g. "γ/σ = 0.83 / √(1.2 + 1e-05) = 0.758"
};

/// @brief One of the six steps.
struct ExplainStep {
  int number = 0;
  std::string title;
  std::string formula;              ///< the step's formula in one line
  std::vector<std::string> notes;   ///< e.g. "this block has no 1x1-AVG branch"
  std::vector<ExplainItem> items;
  /// The block as it stands before and after this step: one line per active branch (identity
  /// last), e.g. "1x1 → BN-and-pad → 3x3 → BN" becoming "1x1 + b1 → pad b1 → 3x3 + b2";
  /// after step 6, the one KxK conv.
  std::vector<std::string> before;
  std::vector<std::string> after;
};

/// @brief The forms of a block's branches after `stage` folding steps (0: as trained, 1–6: after
/// step n), one line per active branch and the identity last; stage 6 is the single conv.
std::vector<std::string> foldStageForms(const BlockSpec& spec, const BranchMask& active, int stage);

/// @brief A single-channel image (row-major).
struct ExplainImage {
  std::string caption;
  int height = 0;
  int width = 0;
  std::vector<double> values;
  double maxAbs() const;
};

/// @brief How the proof is run.
struct ProofOptions {
  int out_channel = 0;  ///< channel of the outputs shown
  int in_channel = 0;   ///< channel of the input shown
  /// Counter-example 1: the BN-and-pad layers pad with zeros instead of β − μγ/σ.
  bool zero_padding = false;
  /// Counter-example 2: the multi-branch block normalises with the statistics of this input
  /// (training mode) while the folded conv uses the running statistics.
  bool batch_statistics = false;
};

/// @brief Multi-branch block vs folded conv on one input.
struct ProofResult {
  std::string input_source;  ///< where the input came from, in words
  ExplainImage input;        ///< the block input, channel in_channel
  ExplainImage multi_branch; ///< Σ branches (pre-activation), channel out_channel
  ExplainImage folded;       ///< the folded KxK conv, channel out_channel
  ExplainImage difference;   ///< |multi_branch − folded|, channel out_channel
  double max_abs_difference = 0;  ///< over every output channel and position
  double max_abs_output = 0;      ///< max |folded output|, for scale
  double border_max = 0;     ///< max |difference| where the KxK window touches the padding
  double interior_max = 0;   ///< max |difference| elsewhere
  /// Output rows/columns whose window touches the padding, per side (stride 2 can make the
  /// sides differ).
  int border_top = 0, border_bottom = 0, border_left = 0, border_right = 0;
  /// @brief The widest side of the border.
  int borderWidth() const { return std::max({border_top, border_bottom, border_left, border_right}); }
  ProofOptions options;
};

/// @brief A named tensor of the block (a weight or a BatchNorm statistic), for editing.
struct ExplainTensor {
  std::string name;            ///< e.g. "KxK.conv.weight", "KxK.bn.running_var"
  std::vector<int64_t> shape;
  std::vector<double> values;
};

/// @brief The block being explained and everything computed from it.
class ReparamExplainer {
 public:
  /// @brief A demo block: `channels` in and out, stride 1, with random weights and random
  /// BatchNorm statistics from `seed`.
  struct DemoOptions {
    int channels = 2;
    int kernel_size = 3;
    BranchMask branches = allBranches();
    bool identity = true;
    uint64_t seed = 1;
  };
  static ReparamExplainer demo(const DemoOptions& options);
  /// @brief Layer `layer` of a run (weights.pt, else checkpoint.pt), with the run's kept
  /// branches. Throws repnas::Error.
  static ReparamExplainer fromRun(const std::string& run_dir, int layer);

  ReparamExplainer(ReparamExplainer&&) noexcept;
  ReparamExplainer& operator=(ReparamExplainer&&) noexcept;
  ~ReparamExplainer();

  const BlockSpec& spec() const;
  /// @brief e.g. "demo block 2->2, K=3" or "L3 s2 32->64 of runs/default".
  std::string label() const;
  bool isDemo() const;
  int layers() const;  ///< layers of the run (0 for the demo)
  /// @brief The branches folded and run (⊆ spec().branches).
  BranchMask active() const;
  void setActive(const BranchMask& active);
  /// @brief Demo only: rebuild with another branch set / identity; values of the tensors both
  /// blocks have are kept.
  void setDemoBranches(const BranchMask& branches, bool identity);
  /// @brief Demo only: new random weights and statistics.
  void randomize(uint64_t seed);
  /// @brief The demo block's seed (its last randomisation).
  uint64_t seed() const;

  /// @brief Every weight and BatchNorm statistic of the block.
  std::vector<ExplainTensor> tensors() const;
  /// @brief Sets one value (a user-typed weight). Throws repnas::Error for an unknown name, an
  /// index out of range, or a running variance that is not positive.
  void setValue(const std::string& tensor, int64_t index, double value);

  /// @brief The six steps for the channel pair (out_channel, in_channel).
  std::vector<ExplainStep> steps(int out_channel, int in_channel) const;
  /// @brief Each active branch's (and the identity's) KxK kernel as the block folds it, and
  /// the fused kernel the exporter writes: what step 6 must reproduce.
  std::vector<KernelData> coreBranchFolds() const;
  KernelData coreFused() const;

  /// @brief Runs the block and its fold on `image` (pixels / 255, [C, H, W] of the data set):
  /// layer 0 and the demo see the normalised image (the demo's channels past the image's own
  /// repeat it, mirrored); deeper layers see the run's own activations of that image.
  ProofResult prove(const ExplainImage& image, int image_channels, const std::string& source,
                    const ProofOptions& options) const;

 private:
  struct State;
  explicit ReparamExplainer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

/// @brief One test image of a data set (pixels / 255, all channels stacked row-major as
/// [C, H, W] in `values`, height = H, width = W), its label and class name.
struct SampleImage {
  ExplainImage image;
  int channels = 1;
  int label = 0;
  std::string class_name;
  std::string source;  ///< e.g. "Fashion-MNIST test image 7 (Sneaker)"
};
/// @brief Reads test image `index` of a data set. Throws DataError.
SampleImage loadSampleImage(const DatasetSpec& spec, int64_t index);

/// @brief The six steps and the formulas as plain text (for "copy as text").
std::string explainStepsText(const std::vector<ExplainStep>& steps);
std::string explainProofText(const ProofResult& proof);

}  // namespace repnas
