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

/// @brief Everything a run needs. Fields named as the JSON keys.
struct RunConfig {
  std::string mode = "search";          ///< search | plain | repvgg | dbb
  std::string backbone = "tiny";        ///< see backbonePresets()
  std::string dataset = "fashion-mnist";  ///< fashion-mnist | mnist | idx | cifar10
  std::string data_dir;                 ///< empty: the data set's default folder
  int epochs = 10;
  int warmup_epochs = -1;               ///< -1: round(0.10 · epochs)
  int search_epochs = -1;               ///< -1: round(0.23 · epochs)
  int budget = -1;                      ///< global k; -1: ⌊budget_ratio · 6L⌋
  double budget_ratio = 0.34;
  std::vector<int> layer_min;           ///< per layer; empty: 1 without identity, else 0
  std::vector<int> layer_max;           ///< per layer; empty: 6
  std::vector<PinSetting> pins;
  int batch_size = 128;
  int eval_batch_size = 500;
  int64_t train_limit = 0;              ///< use only the first N training images (0: all)
  int64_t test_limit = 0;               ///< use only the first N test images (0: all)
  int64_t val_split = 0;                ///< hold out N training images for validation
  std::uint64_t seed = 1;
  int threads = 0;                      ///< LibTorch threads; 0: all cores
  int kernel_size = 3;
  double lr = 0.1;                      ///< SGD, cosine to 0 over all steps
  double momentum = 0.9;
  double weight_decay = 1e-4;           ///< not on BN parameters and biases
  double arch_lr = 1e-4;                ///< Adam on α
  double arch_beta1 = 0.5;
  double arch_beta2 = 0.999;
  double arch_weight_decay = 5e-4;      ///< cosine-annealed to 0 over the search epochs
  double grad_clip = 5.0;               ///< global gradient norm (weights and α); 0: off
  int crop_padding = 2;                 ///< random crop after zero padding; 0: off
  bool flip = true;                     ///< random horizontal flip
  int snapshot_every = 1;               ///< emit a step snapshot every N steps
  bool identity_init = true;            ///< 1x1 of 1x1-KxK starts as identity (DBB)

  /// @brief Warm-up epochs after resolving -1.
  int resolvedWarmupEpochs() const;
  /// @brief Search epochs after resolving -1 (0 for fixed-mask modes).
  int resolvedSearchEpochs() const;
  /// @brief Every invalid field (empty when valid), in key order of the JSON object; includes
  /// whether an explicit budget fits the backbone (budgetProblem).
  std::vector<ConfigProblem> problems() const;
  /// @brief Throws ConfigError naming the first invalid key.
  void validate() const;
};

/// @brief One configuration key and what it means (for --help, the man page and tooltips).
struct ConfigKeyHelp {
  std::string key;
  std::string description;
};
/// @brief Every key of the JSON configuration, in its order, with a one-line description.
const std::vector<ConfigKeyHelp>& configKeyHelp();

/// @brief Parses a JSON object; unknown keys, wrong types and bad values are ConfigErrors that
/// name the key. Missing keys keep their defaults.
RunConfig configFromJson(const std::string& json_text);
/// @brief The config as pretty JSON (all keys).
std::string configToJson(const RunConfig& config);
/// @brief Applies "key=value" (value parsed as JSON when it parses, else as a string).
void applyConfigOverride(RunConfig& config, const std::string& key_equals_value);
/// @brief Applies several "key=value" overrides together, then validates once (so that
/// dataset=idx and data_dir=... may come in either order).
void applyConfigOverrides(RunConfig& config, const std::vector<std::string>& overrides);
/// @brief Reads a JSON config file; ConfigError names the file on a read or parse problem.
RunConfig loadConfigFile(const std::string& path);

/// @brief The branch set a fixed-mask mode trains ("plain": KxK; "repvgg": KxK+1x1;
/// "dbb": KxK+1x1+1x1-KxK+1x1-AVG); all six for "search".
BranchMask modeBranches(const std::string& mode);
/// @brief Whether the mode's blocks have the identity-BN branch (search, repvgg).
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
