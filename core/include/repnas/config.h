#pragma once
/// @file config.h
/// @brief The configuration of a run: JSON in and out, strict about keys and types.

#include <cstdint>
#include <string>
#include <vector>

#include "repnas/branch_kind.h"
#include "repnas/budget.h"
#include "repnas/error.h"

namespace repnas {

/// @brief A configuration problem; what() names the key.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// @brief A pin from the configuration.
struct PinSetting {
  int layer = 0;
  BranchKind branch = BranchKind::KxK;
  Pin pin = Pin::Auto;
};

/// @brief One invalid field: its JSON key and why.
struct ConfigProblem {
  std::string key;
  std::string message;
};

/// @brief The version of the configuration format that configToJson writes (key
/// `config_version`). Version 1 (no key; written before the search was scaled to the run):
/// `epochs` was the total of a search and warm-up / search were fractions of it, arch_lr was a
/// fixed 1e-4, the noise was not annealed, and there was no norm reset, head dropout,
/// α in the warm-up clip norm or stride-2 second KxK. A version-1 file loads with that meaning.
/// Version 3: the key `mode` is called `strategy` (`mode` is still read, in every version).
/// Version 4: GDAS's α learning rate is scaled to the run (`gdas_arch_lr` -1: gdas_arch_travel /
/// search steps); a file of an earlier version without `gdas_arch_lr` meant the fixed 3e-4, and
/// without `bn_recalibration_batches` no BatchNorm recalibration before the fix (0).
inline constexpr int kConfigVersion = 4;

/// @brief Largest configuration file read (a run's config.json is about 2 KB).
inline constexpr uint64_t kMaxConfigFileBytes = uint64_t{1} << 20;
/// @brief Most epochs of any phase (and of `epochs`), and the largest batch.
inline constexpr int kMaxEpochs = 100000;
inline constexpr int kMaxBatchSize = 1 << 16;

/// @brief Longest string value (a path, a mask's source) a configuration may hold.
inline constexpr size_t kMaxConfigStringLength = 4096;

/// @brief Most LibTorch threads a run may ask for on this machine: 4× its hardware threads,
/// and at least 64 (so that a configuration written on a larger machine still loads).
int maxComputeThreads();

/// @brief Which branches a run trains when it does not search.
struct MaskSetting {
  enum class Kind { None, Random, Given };
  Kind kind = Kind::None;             ///< None: the mode's own branches
  std::vector<BranchMask> layers;     ///< Given: one mask per layer
  bool operator==(const MaskSetting& o) const { return kind == o.kind && layers == o.layers; }
};

/// @brief Everything a run needs. Fields named as the JSON keys.
struct RunConfig {
  std::string mode = "search";          ///< JSON key `strategy` (`mode` before version 3); see modeNames()
  std::string backbone = "tiny";        ///< see backbonePresets()
  std::string dataset = "fashion-mnist";  ///< fashion-mnist | mnist | idx | cifar10
  std::string data_dir;                 ///< empty: the data set's default folder
  int epochs = 10;                      ///< training epochs of a fixed-mask run (the baselines)
  int warmup_epochs = -1;               ///< search: -1: round(0.15 · fixed epochs)
  int search_epochs = -1;               ///< search: -1: round(0.35 · fixed epochs)
  int fixed_epochs = -1;                ///< search: epochs after the fix; -1: `epochs`
  /// Search: the steps before the fix (warm-up and search) take at most this many seconds of
  /// step time; then the fix, and the rest of the search epochs train the fixed architecture
  /// (equal search wall time across strategies); 0: the epochs alone.
  double search_seconds = 0;
  int budget = -1;                      ///< global k; -1: ⌊budget_ratio · 6L⌋
  double budget_ratio = 0.34;
  std::vector<int> layer_min;           ///< per layer; empty: 1 without identity, else 0
  std::vector<int> layer_max;           ///< per layer; empty: 6
  std::vector<PinSetting> pins;
  bool budget_count = true;             ///< false: k does not bind, the cost limits alone do
  double budget_ms = 0;                 ///< predicted training ms per step ≤ this (measured costs); 0: no limit
  double budget_mb = 0;                 ///< predicted training MiB ≤ this (measured costs); 0: no limit
  MaskSetting mask;                     ///< mode odbb: the mask it trains
  std::string mask_source;              ///< where `mask` came from (free text, recorded)
  int batch_size = 128;
  int eval_batch_size = 500;
  int64_t train_limit = 0;              ///< use only the first N training images (0: all)
  int64_t test_limit = 0;               ///< use only the first N test images (0: all)
  /// Hold out N training images for validation; 0: none, or for a strategy that needs a
  /// validation split (GDAS) one sixth of the training images (10,000 of Fashion-MNIST's 60,000).
  int64_t val_split = 0;
  std::uint64_t seed = 1;
  int threads = 0;                      ///< LibTorch threads; 0: all cores
  int kernel_size = 3;
  double lr = 0.1;                      ///< SGD, cosine to 0 over all steps
  double momentum = 0.9;
  double weight_decay = 1e-4;           ///< not on BN parameters and biases
  double arch_lr = -1;                  ///< Adam on α; -1: arch_travel / search steps
  double arch_travel = 17.5;            ///< how far α may travel in the search (see arch_lr)
  double arch_beta1 = 0.5;
  double arch_beta2 = 0.999;
  double arch_weight_decay = 5e-4;      ///< cosine-annealed to 0 over the search epochs
  double noise_start = 1.0;             ///< scale τ of the logistic noise at the search start
  double noise_end = 0.1;               ///< τ at the search end (geometric in between)
  bool norm_reset = true;               ///< at the fix, BN-fed kernels back to their initial norm
  double head_dropout = 0.1;            ///< Dropout before the linear head (official code)
  bool clip_alpha_from_start = true;    ///< α's gradient in the clip norm from warm-up on
  /// Search space: the stride-2 1x1-KxK is a second KxK (the official code). Off by default:
  /// DBB's 1x1 -> BN-and-pad -> KxK learned faster early on here (bench/README.md).
  bool second_kxk_at_stride2 = false;
  double gdas_tau_start = 10.0;         ///< GDAS: Gumbel-softmax temperature at the search start
  double gdas_tau_end = 0.1;            ///< GDAS: temperature at the search end (linear in between)
  double gdas_arch_lr = -1;             ///< GDAS: Adam on α (betas arch_beta1/2); -1: gdas_arch_travel / search steps
  /// GDAS: how far α may travel in the search when gdas_arch_lr is -1 (the official CIFAR-10
  /// search: 3e-4 × 250 epochs × 98 steps of 25,000 images at batch 256 ≈ 7.35).
  double gdas_arch_travel = 7.35;
  double gdas_arch_weight_decay = 1e-3; ///< GDAS: Adam's weight decay on α
  // RENA (strategy rena; STRATEGIES.md §3)
  int rena_update_every = 10;           ///< search steps of the supernet between controller updates
  int rena_children = 8;                ///< proposals evaluated per update
  int rena_swaps = 2;                   ///< swap actions per proposal (each may be a no-op)
  int rena_buffer = 4;                  ///< best networks kept as parents
  int rena_cache_steps = 100;           ///< an evaluation is reused for this many steps; 0: never
  int rena_bn_batches = 4;              ///< training batches re-estimating a child's BatchNorms
  int rena_val_batches = 8;             ///< validation batches a child is evaluated on
  double rena_lr = 1e-3;                ///< the controller's Adam
  double rena_entropy = 1e-4;           ///< entropy bonus
  double rena_baseline_decay = 0.9;     ///< the reward baseline's moving average
  int rena_hidden = 32;                 ///< embedding and LSTM width
  double rena_penalty = 0.1;            ///< λ: reward = accuracy − λ Σ max(0, cost/limit − 1)
  double rena_limit_ms = 0;             ///< predicted training ms per step; 0: none
  double rena_limit_mb = 0;             ///< predicted training MiB; 0: none
  double rena_limit_params = 0;         ///< parameters during training; 0: none
  double rena_min_intensity = 0;        ///< the folded network's FLOPs per byte at least; 0: none
  double grad_clip = 5.0;               ///< global gradient norm (weights and α); 0: off
  int crop_padding = 2;                 ///< random crop after zero padding; 0: off
  bool flip = true;                     ///< random horizontal flip
  int snapshot_every = 1;               ///< emit a step snapshot every N steps
  bool identity_init = true;            ///< 1x1 of 1x1-KxK starts as identity (DBB)
  /// Search, before the fix: the architecture found so far is evaluated after re-estimating
  /// the BatchNorm statistics for it on this many training batches (0: the supernet's own).
  int bn_recalibration_batches = 20;

  /// @brief True for a searching strategy (warm-up, search, fix, fixed phase), as the strategy
  /// registry says; false for the fixed ones and for an unknown mode.
  bool isSearch() const;
  /// @brief The validation images a run holds out of `train_images` (after train_limit):
  /// val_split, or when it is 0 and the strategy needs a validation split, one sixth of them.
  int64_t resolvedValSplit(int64_t train_images) const;
  /// @brief Epochs after the fix (search) or of the whole run (fixed-mask modes).
  int resolvedFixedEpochs() const;
  /// @brief Warm-up epochs after resolving -1 (0 for fixed-mask modes).
  int resolvedWarmupEpochs() const;
  /// @brief Search epochs after resolving -1 (0 for fixed-mask modes).
  int resolvedSearchEpochs() const;
  /// @brief All epochs of the run: warm-up + search + fixed.
  int totalEpochs() const;
  /// @brief α's Adam learning rate for a search phase of `search_steps` steps: arch_lr when set,
  /// else arch_travel / search_steps (0 without search steps).
  double resolvedArchLr(int64_t search_steps) const;
  /// @brief GDAS's α learning rate likewise: gdas_arch_lr when set, else gdas_arch_travel /
  /// search_steps (one α step per search step).
  double resolvedGdasArchLr(int64_t search_steps) const;
  /// @brief The noise scale τ at `search_progress` (0..1 over the search phase): geometric from
  /// noise_start to noise_end; noise_start before the search.
  double noiseScale(double search_progress) const;
  /// @brief This configuration with every automatic (-1) schedule value and the strategy's α
  /// learning rate (arch_lr, gdas_arch_lr) resolved, for `steps_per_epoch` training steps per epoch (what config.json records; the
  /// engine resolves val_split before, when it knows the data set's size).
  RunConfig resolved(int64_t steps_per_epoch) const;
  /// @brief Every invalid field (empty when valid), in key order of the JSON object; includes
  /// whether an explicit budget fits the backbone (budgetProblem).
  std::vector<ConfigProblem> problems() const;
  /// @brief Throws ConfigError naming the first invalid key.
  void validate() const;
  /// @brief The rules that need the data set's size (`train_images` training images in the
  /// files): val_split must leave at least one image to train on after train_limit. The engine
  /// checks them once the data are read; the GUI's form as soon as it has read them.
  std::vector<ConfigProblem> dataProblems(int64_t train_images) const;
};

/// @brief One configuration key and what it means (for --help, the man page and tooltips).
struct ConfigKeyHelp {
  std::string key;
  std::string description;
};
/// @brief Every key of the JSON configuration, in its order, with a one-line description.
const std::vector<ConfigKeyHelp>& configKeyHelp();

/// @brief Parses a JSON object; unknown keys, wrong types and bad values are ConfigErrors that
/// name the key. Missing keys keep their defaults. An object without `config_version` is read
/// as `version_when_absent`: the current version for what a user writes, 1 for what a run
/// folder saved before the key existed (see kConfigVersion).
RunConfig configFromJson(const std::string& json_text, int version_when_absent = kConfigVersion);
/// @brief The config as pretty JSON (all keys).
std::string configToJson(const RunConfig& config);
/// @brief Applies "key=value" (value parsed as JSON when it parses, else as a string).
void applyConfigOverride(RunConfig& config, const std::string& key_equals_value);
/// @brief Applies several "key=value" overrides together, then validates once (so that
/// dataset=idx and data_dir=... may come in either order).
void applyConfigOverrides(RunConfig& config, const std::vector<std::string>& overrides);
/// @brief Reads a JSON config file; ConfigError names the file on a read or parse problem.
RunConfig loadConfigFile(const std::string& path, int version_when_absent = kConfigVersion);
/// @brief Reads the config.json of a run folder (a file without `config_version` is version 1).
RunConfig loadRunConfig(const std::string& run_dir);

/// @brief The modes: search (RepNAS), plain, plain+identity, repvgg, dbb, odbb (a given mask).
const std::vector<std::string>& modeNames();

/// @brief The branch set a fixed-mask mode trains ("plain", "plain+identity": KxK; "repvgg":
/// KxK+1x1; "dbb": KxK+1x1+1x1-KxK+1x1-AVG); all six for "search" and "odbb" (whose layers
/// keep what config.mask says).
BranchMask modeBranches(const std::string& mode);
/// @brief Whether the mode's blocks have the identity-BN branch (search, odbb, repvgg,
/// plain+identity).
bool modeHasIdentity(const std::string& mode);

struct BackboneSpec;
/// @brief The network a run with `config` trains on inputs of the given shape: the backbone
/// preset with the mode's branches, identity and 1x1 initialisation in every layer.
BackboneSpec backboneFor(const RunConfig& config, int in_channels, int height, int width,
                         int num_classes);

/// @brief The budget a search starts with: ⌊budget_ratio · 6L⌋ or `budget`, the per-layer
/// limits (one value for all layers, or one per layer) and the pins of `config`. Throws
/// ConfigError naming the key when it does not fit the backbone or is infeasible.
Budget searchBudget(const RunConfig& config, const BackboneSpec& backbone);

}  // namespace repnas
