#include "repnas/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>

#include "formats/input_file.h"
#include "formats/json_fields.h"
#include "repnas/backbone.h"
#include "repnas/run_folder.h"
#include "repnas/strategy_info.h"
#include "repnas/runtime.h"

namespace repnas {

using nlohmann::json;

/// The name of the key `strategy` before configuration version 3.
constexpr const char* kStrategyAlias = "mode";

bool RunConfig::isSearch() const {
  const auto* s = findStrategy(mode);
  return s && s->capabilities.searches;
}

int64_t RunConfig::resolvedValSplit(int64_t train_images) const {
  if (val_split > 0) return val_split;
  const auto* s = findStrategy(mode);
  if (!s || !s->capabilities.needs_validation_split) return 0;
  const int64_t usable = train_limit > 0 ? std::min(train_limit, train_images) : train_images;
  return usable / 6;
}

int RunConfig::resolvedFixedEpochs() const {
  if (!isSearch()) return epochs;
  return fixed_epochs >= 0 ? fixed_epochs : epochs;
}

int RunConfig::resolvedWarmupEpochs() const {
  if (!isSearch()) return 0;
  // The official run's ratios to its fixed phase: 15 warm-up and 35 search epochs for 100.
  return warmup_epochs >= 0 ? warmup_epochs
                            : static_cast<int>(std::lround(0.15 * resolvedFixedEpochs()));
}

int RunConfig::resolvedSearchEpochs() const {
  if (!isSearch()) return 0;
  if (search_epochs >= 0) return search_epochs;
  return std::max(1, static_cast<int>(std::lround(0.35 * resolvedFixedEpochs())));
}

int RunConfig::totalEpochs() const {
  return resolvedWarmupEpochs() + resolvedSearchEpochs() + resolvedFixedEpochs();
}

namespace {
/// A learning rate set explicitly (>= 0), or the one that lets α travel `travel` in `steps`.
double travelLr(double lr, double travel, int64_t steps) {
  if (lr >= 0) return lr;
  return steps > 0 ? travel / static_cast<double>(steps) : 0.0;
}
}  // namespace

double RunConfig::resolvedArchLr(int64_t search_steps) const {
  return travelLr(arch_lr, arch_travel, search_steps);
}

double RunConfig::resolvedGdasArchLr(int64_t search_steps) const {
  return travelLr(gdas_arch_lr, gdas_arch_travel, search_steps);
}

double RunConfig::noiseScale(double search_progress) const {
  const double p = std::clamp(search_progress, 0.0, 1.0);
  if (noise_start <= 0 || noise_end <= 0)  // no geometric path through 0: linear
    return noise_start + (noise_end - noise_start) * p;
  return noise_start * std::pow(noise_end / noise_start, p);
}

RunConfig RunConfig::resolved(int64_t steps_per_epoch) const {
  RunConfig r = *this;
  if (isSearch()) {
    r.warmup_epochs = resolvedWarmupEpochs();
    r.search_epochs = resolvedSearchEpochs();
    r.fixed_epochs = resolvedFixedEpochs();
    const int64_t search_steps = r.search_epochs * steps_per_epoch;
    const auto& method = strategyInfo(mode).method;
    if (method == "RepNAS") r.arch_lr = resolvedArchLr(search_steps);
    if (method == "GDAS") r.gdas_arch_lr = resolvedGdasArchLr(search_steps);
  }
  return r;
}

const std::vector<std::string>& modeNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& s : strategyRegistry()) out.push_back(s.name);
    return out;
  }();
  return names;
}

BranchMask modeBranches(const std::string& mode) {
  const auto* s = findStrategy(mode);
  return s ? s->branches : allBranches();
}

bool modeHasIdentity(const std::string& mode) {
  const auto* s = findStrategy(mode);
  return s && s->identity;
}

BackboneSpec backboneFor(const RunConfig& config, int in_channels, int height, int width,
                         int num_classes) {
  auto spec = makeBackbone(config.backbone, in_channels, height, width, num_classes,
                           config.kernel_size);
  spec.head_dropout = config.head_dropout;
  const bool given = config.mode == "odbb" && config.mask.kind == MaskSetting::Kind::Given &&
                     static_cast<int>(config.mask.layers.size()) == spec.numLayers();
  for (int l = 0; l < spec.numLayers(); ++l) {
    auto& block = spec.layers[l].block;
    // An ODBB's layers have just the branches it keeps; a random mask is drawn (and recorded
    // as a given one) when the run starts, so until then its network has every branch.
    block.branches = given ? config.mask.layers[l] : modeBranches(config.mode);
    block.identity = modeHasIdentity(config.mode);
    block.identity_init_1x1 = config.identity_init;
    block.second_kxk_at_stride2 =
        (config.isSearch() || config.mode == "odbb") && config.second_kxk_at_stride2;
  }
  return spec;
}

int maxComputeThreads() { return std::max(64, 4 * hardwareThreads()); }

std::vector<ConfigProblem> RunConfig::problems() const {
  std::vector<ConfigProblem> found;
  auto fail = [&found](const std::string& key, const std::string& why) {
    found.push_back({key, why});
  };
  const auto& modes = modeNames();
  if (std::find(modes.begin(), modes.end(), mode) == modes.end())
    fail("strategy", "'" + clippedText(mode) + "' is not one of " + strategyNameList(", "));
  const auto presets = backbonePresets();
  if (std::find(presets.begin(), presets.end(), backbone) == presets.end())
    fail("backbone", "'" + clippedText(backbone) + "' is not one of tiny, small, repvgg-a0, resnet18");
  if (dataset != "fashion-mnist" && dataset != "mnist" && dataset != "idx" && dataset != "cifar10")
    fail("dataset", "'" + clippedText(dataset) + "' is not one of fashion-mnist, mnist, idx, cifar10");
  if ((dataset == "mnist" || dataset == "idx" || dataset == "cifar10") && data_dir.empty())
    fail("data_dir", "dataset '" + dataset + "' needs a folder");
  const int max_epochs = kMaxEpochs;
  const std::string upto = " (at most " + std::to_string(max_epochs) + ")";
  if (epochs < 1 || epochs > max_epochs) fail("epochs", "must be in 1.." + std::to_string(max_epochs) + ", got " + std::to_string(epochs));
  if (warmup_epochs < -1 || warmup_epochs > max_epochs) fail("warmup_epochs", "must be >= 0 (or -1 for automatic)" + upto);
  if (search_epochs < -1 || search_epochs > max_epochs) fail("search_epochs", "must be >= 0 (or -1 for automatic)" + upto);
  if (fixed_epochs < -1 || fixed_epochs > max_epochs) fail("fixed_epochs", "must be >= 0 (or -1 for epochs)" + upto);
  if (!(search_seconds >= 0 && search_seconds <= 1e8)) fail("search_seconds", "must be between 0 and 1e8 (0: no time limit)");
  if (found.empty() && isSearch() && totalEpochs() < 1)
    fail("fixed_epochs", "warm-up, search and fixed epochs are all 0: nothing to train");
  if (mode == "odbb" && mask.kind == MaskSetting::Kind::None)
    fail("mask", "mode odbb trains a given mask: set mask to \"random\" or to one list of "
                 "branch names per layer");
  if (mode != "odbb" && mask.kind != MaskSetting::Kind::None)
    fail("mask", "only mode odbb trains a given mask (mode is " + mode + ")");
  if (budget < -1) fail("budget", "must be >= 0 (or -1 for ⌊budget_ratio · 6L⌋)");
  if (!(budget_ratio > 0 && budget_ratio <= 1)) fail("budget_ratio", "must be in (0, 1]");
  for (const auto& [key, limit] : {std::pair<const char*, double>{"budget_ms", budget_ms}, {"budget_mb", budget_mb}})
    if (!(limit >= 0) || !std::isfinite(limit)) fail(key, "must be a number >= 0 (0: no limit)");
  if (!budget_count && !(budget_ms > 0) && !(budget_mb > 0))
    fail("budget_count", "false leaves the selection unlimited: set budget_ms or budget_mb");
  if (batch_size < 1 || batch_size > kMaxBatchSize)
    fail("batch_size", "must be in 1.." + std::to_string(kMaxBatchSize));
  if (eval_batch_size < 1 || eval_batch_size > kMaxBatchSize)
    fail("eval_batch_size", "must be in 1.." + std::to_string(kMaxBatchSize));
  if (train_limit < 0) fail("train_limit", "must be >= 0");
  if (test_limit < 0) fail("test_limit", "must be >= 0");
  if (val_split < 0) fail("val_split", "must be >= 0");
  if (threads < 0 || threads > maxComputeThreads())
    fail("threads", "must be in 0.." + std::to_string(maxComputeThreads()) +
                        " (0: all cores; at most 4× this machine's " +
                        std::to_string(hardwareThreads()) + " hardware threads, or 64)");
  for (const auto& [key, text] : {std::pair<const char*, const std::string*>{"data_dir", &data_dir},
                                  {"mask_source", &mask_source}})
    if (text->size() > kMaxConfigStringLength)
      fail(key, "is " + std::to_string(text->size()) + " characters long (at most " +
                    std::to_string(kMaxConfigStringLength) + ")");
  if (kernel_size != 3 && kernel_size != 5) fail("kernel_size", "must be 3 or 5");
  if (!(lr > 0) || !std::isfinite(lr)) fail("lr", "must be a positive number");
  if (momentum < 0 || momentum >= 1) fail("momentum", "must be in [0, 1)");
  if (weight_decay < 0) fail("weight_decay", "must be >= 0");
  if (!(arch_lr >= 0 || arch_lr == -1) || !std::isfinite(arch_lr))
    fail("arch_lr", "must be >= 0 (or -1: arch_travel / search steps)");
  if (!(arch_travel >= 0) || !std::isfinite(arch_travel)) fail("arch_travel", "must be >= 0");
  if (!(noise_start >= 0) || !std::isfinite(noise_start)) fail("noise_start", "must be >= 0");
  if (!(noise_end >= 0) || !std::isfinite(noise_end)) fail("noise_end", "must be >= 0");
  if (!(head_dropout >= 0 && head_dropout < 1)) fail("head_dropout", "must be in [0, 1)");
  if (arch_beta1 < 0 || arch_beta1 >= 1) fail("arch_beta1", "must be in [0, 1)");
  if (arch_beta2 < 0 || arch_beta2 >= 1) fail("arch_beta2", "must be in [0, 1)");
  if (arch_weight_decay < 0) fail("arch_weight_decay", "must be >= 0");
  if (!(gdas_tau_start > 0) || !std::isfinite(gdas_tau_start)) fail("gdas_tau_start", "must be > 0");
  if (!(gdas_tau_end > 0) || !std::isfinite(gdas_tau_end)) fail("gdas_tau_end", "must be > 0");
  if (!(gdas_arch_lr >= 0 || gdas_arch_lr == -1) || !std::isfinite(gdas_arch_lr))
    fail("gdas_arch_lr", "must be >= 0 (or -1: gdas_arch_travel / search steps)");
  if (!(gdas_arch_travel >= 0) || !std::isfinite(gdas_arch_travel)) fail("gdas_arch_travel", "must be >= 0");
  if (!(gdas_arch_weight_decay >= 0) || !std::isfinite(gdas_arch_weight_decay))
    fail("gdas_arch_weight_decay", "must be >= 0");
  for (const auto& [key, value, lo, hi] :
       {std::tuple<const char*, int, int, int>{"rena_update_every", rena_update_every, 1, 100000},
        {"rena_children", rena_children, 1, 1024}, {"rena_swaps", rena_swaps, 1, 64},
        {"rena_buffer", rena_buffer, 1, 1024}, {"rena_cache_steps", rena_cache_steps, 0, 100000000},
        {"rena_bn_batches", rena_bn_batches, 0, 10000}, {"rena_val_batches", rena_val_batches, 1, 10000},
        {"rena_hidden", rena_hidden, 1, 1024}})
    if (value < lo || value > hi)
      fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  if (!(rena_lr > 0) || !std::isfinite(rena_lr)) fail("rena_lr", "must be a positive number");
  if (!(rena_baseline_decay >= 0 && rena_baseline_decay < 1)) fail("rena_baseline_decay", "must be in [0, 1)");
  for (const auto& [key, value] :
       {std::pair<const char*, double>{"rena_entropy", rena_entropy}, {"rena_penalty", rena_penalty},
        {"rena_limit_ms", rena_limit_ms}, {"rena_limit_mb", rena_limit_mb},
        {"rena_limit_params", rena_limit_params}, {"rena_min_intensity", rena_min_intensity}})
    if (!(value >= 0) || !std::isfinite(value)) fail(key, "must be >= 0");
  if (const auto* s = findStrategy(mode); s && s->method == "RENA") {
    // Its actions swap branches one for one: k is exact; cost limits are its rena_limit_* penalties.
    if (!budget_count) fail("budget_count", "rena keeps exactly k branches (its resource limits are rena_limit_ms and rena_limit_mb)");
    if (budget_ms > 0) fail("budget_ms", "rena counts cost in its reward: use rena_limit_ms");
    if (budget_mb > 0) fail("budget_mb", "rena counts cost in its reward: use rena_limit_mb");
  }
  if (grad_clip < 0) fail("grad_clip", "must be >= 0");
  if (crop_padding < 0 || crop_padding > 16) fail("crop_padding", "must be in 0..16");
  if (snapshot_every < 1) fail("snapshot_every", "must be >= 1");
  if (bn_recalibration_batches < 0 || bn_recalibration_batches > 10000)
    fail("bn_recalibration_batches", "must be between 0 and 10000");
  for (int v : layer_min) if (v < 0 || v > 6) fail("layer_min", "values must be in 0..6");
  for (int v : layer_max) if (v < 0 || v > 6) fail("layer_max", "values must be in 0..6");
  for (const auto& p : pins) if (p.layer < 0) fail("pins", "layer must be >= 0");
  if (mask.kind == MaskSetting::Kind::Given &&
      std::find(presets.begin(), presets.end(), backbone) != presets.end() &&
      (kernel_size == 3 || kernel_size == 5)) {
    const auto spec = makeBackbone(backbone, 1, 32, 32, 10, kernel_size);
    if (static_cast<int>(mask.layers.size()) != spec.numLayers()) {
      fail("mask", std::to_string(mask.layers.size()) + " layers given but backbone " + backbone +
                       " has " + std::to_string(spec.numLayers()));
    } else {
      for (int l = 0; l < spec.numLayers(); ++l) {
        auto block = spec.layers[l].block;
        block.identity = true;  // odbb keeps the identity where the layer has one
        if (mask.layers[l].none() && !block.hasIdentityBranch()) {
          fail("mask", "layer " + std::to_string(l) + " keeps no branch and has no identity: "
                       "its output would be constant");
          break;
        }
      }
    }
  }
  // Whether the budget fits the backbone (the engine resolves it the same way when it starts).
  if (found.empty() && (isSearch() || mask.kind == MaskSetting::Kind::Random)) {
    try {
      searchBudget(*this, backboneFor(*this, 1, 32, 32, 10));
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      const auto q1 = what.find('\'') + 1, q2 = what.find('\'', q1);
      fail(what.substr(q1, q2 - q1), what.substr(what.find(": ") + 2));
    }
  }
  return found;
}

Budget searchBudget(const RunConfig& config, const BackboneSpec& backbone) {
  const int layers = backbone.numLayers();
  Budget budget = defaultBudget(backbone.layerHasIdentity(), config.budget_ratio);
  if (config.budget >= 0) budget.k = config.budget;
  if (!config.budget_count) budget.k = kAnyCount;
  budget.max_ms = config.budget_ms;
  budget.max_mb = config.budget_mb;
  auto perLayer = [&](const std::vector<int>& values, std::vector<int>& out, const char* key) {
    if (values.empty()) return;
    if (values.size() == 1) out.assign(layers, values[0]);
    else if (static_cast<int>(values.size()) == layers) out = values;
    else
      throw ConfigError(std::string("config key '") + key + "': " +
                        std::to_string(values.size()) + " values for " + std::to_string(layers) +
                        " layers");
  };
  perLayer(config.layer_min, budget.layer_min, "layer_min");
  perLayer(config.layer_max, budget.layer_max, "layer_max");
  for (const auto& p : config.pins) {
    if (p.layer >= layers)
      throw ConfigError("config key 'pins': layer " + std::to_string(p.layer) +
                        " does not exist (the network has " + std::to_string(layers) + " layers)");
    budget.pins[p.layer][static_cast<int>(p.branch)] = p.pin;
  }
  if (auto problem = budgetProblem(budget, layers))
    throw ConfigError("config key 'budget': infeasible budget: " + *problem);
  return budget;
}

std::vector<ConfigProblem> RunConfig::dataProblems(int64_t train_images) const {
  std::vector<ConfigProblem> out;
  const int64_t usable = train_limit > 0 ? std::min(train_limit, train_images) : train_images;
  if (val_split > 0 && val_split >= usable)
    out.push_back({"val_split", "holds out " + std::to_string(val_split) + " of the " +
                                    std::to_string(usable) + " training images" +
                                    (train_limit > 0 && train_limit < train_images ? " (train_limit)" : "") +
                                    ": none would be left to train on"});
  return out;
}

void RunConfig::validate() const {
  const auto found = problems();
  if (!found.empty())
    throw ConfigError("config key '" + found.front().key + "': " + found.front().message);
}

namespace {

json toJson(const RunConfig& c) {
  json pins = json::array();
  for (const auto& p : c.pins)
    pins.push_back({{"layer", p.layer}, {"branch", std::string(branchName(p.branch))},
                    {"pin", pinName(p.pin)}});
  json mask = nullptr;
  if (c.mask.kind == MaskSetting::Kind::Random) mask = "random";
  if (c.mask.kind == MaskSetting::Kind::Given) {
    mask = json::array();
    for (const auto& m : c.mask.layers) {
      json names = json::array();
      for (BranchKind k : maskKinds(m)) names.push_back(std::string(branchName(k)));
      mask.push_back(names);
    }
  }
  return json{
      {"config_version", kConfigVersion},
      {"strategy", c.mode}, {"backbone", c.backbone}, {"dataset", c.dataset},
      {"data_dir", c.data_dir}, {"epochs", c.epochs}, {"warmup_epochs", c.warmup_epochs},
      {"search_epochs", c.search_epochs}, {"fixed_epochs", c.fixed_epochs}, {"search_seconds", c.search_seconds},
      {"budget", c.budget}, {"budget_ratio", c.budget_ratio}, {"layer_min", c.layer_min},
      {"layer_max", c.layer_max}, {"pins", pins}, {"budget_count", c.budget_count},
      {"budget_ms", c.budget_ms}, {"budget_mb", c.budget_mb}, {"mask", mask},
      {"mask_source", c.mask_source}, {"batch_size", c.batch_size}, {"eval_batch_size", c.eval_batch_size},
      {"train_limit", c.train_limit}, {"test_limit", c.test_limit}, {"val_split", c.val_split},
      {"seed", c.seed}, {"threads", c.threads}, {"kernel_size", c.kernel_size}, {"lr", c.lr},
      {"momentum", c.momentum}, {"weight_decay", c.weight_decay}, {"arch_lr", c.arch_lr},
      {"arch_travel", c.arch_travel}, {"arch_beta1", c.arch_beta1},
      {"arch_beta2", c.arch_beta2}, {"arch_weight_decay", c.arch_weight_decay},
      {"noise_start", c.noise_start}, {"noise_end", c.noise_end},
      {"norm_reset", c.norm_reset}, {"head_dropout", c.head_dropout},
      {"clip_alpha_from_start", c.clip_alpha_from_start},
      {"second_kxk_at_stride2", c.second_kxk_at_stride2},
      {"gdas_tau_start", c.gdas_tau_start}, {"gdas_tau_end", c.gdas_tau_end},
      {"gdas_arch_lr", c.gdas_arch_lr}, {"gdas_arch_travel", c.gdas_arch_travel},
      {"gdas_arch_weight_decay", c.gdas_arch_weight_decay},
      {"rena_update_every", c.rena_update_every}, {"rena_children", c.rena_children},
      {"rena_swaps", c.rena_swaps}, {"rena_buffer", c.rena_buffer},
      {"rena_cache_steps", c.rena_cache_steps}, {"rena_bn_batches", c.rena_bn_batches},
      {"rena_val_batches", c.rena_val_batches}, {"rena_lr", c.rena_lr},
      {"rena_entropy", c.rena_entropy}, {"rena_baseline_decay", c.rena_baseline_decay},
      {"rena_hidden", c.rena_hidden}, {"rena_penalty", c.rena_penalty},
      {"rena_limit_ms", c.rena_limit_ms}, {"rena_limit_mb", c.rena_limit_mb},
      {"rena_limit_params", c.rena_limit_params}, {"rena_min_intensity", c.rena_min_intensity},
      {"grad_clip", c.grad_clip},
      {"crop_padding", c.crop_padding}, {"flip", c.flip}, {"snapshot_every", c.snapshot_every},
      {"identity_init", c.identity_init}, {"bn_recalibration_batches", c.bn_recalibration_batches},
  };
}

const char* typeName(const json& v) { return v.type_name(); }

template <typename T>
void readField(const json& obj, const std::string& key, T& out);

template <>
void readField(const json& obj, const std::string& key, std::string& out) {
  const auto& v = obj.at(key);
  if (!v.is_string())
    throw ConfigError("config key '" + key + "': expected a string, got " + typeName(v));
  out = v.get<std::string>();
}

template <>
void readField(const json& obj, const std::string& key, bool& out) {
  const auto& v = obj.at(key);
  if (!v.is_boolean())
    throw ConfigError("config key '" + key + "': expected true or false, got " + typeName(v));
  out = v.get<bool>();
}

template <>
void readField(const json& obj, const std::string& key, double& out) {
  const auto& v = obj.at(key);
  if (!v.is_number())
    throw ConfigError("config key '" + key + "': expected a number, got " + typeName(v));
  out = v.get<double>();
  if (!std::isfinite(out)) throw ConfigError("config key '" + key + "': must be a finite number");
}

// An integer of type Int from a JSON number, or a ConfigError naming `key` and the range:
// never a value that wrapped (4294967297 read as an int, 2^64 as a uint64, 1e12 as an int).
template <typename Int>
Int integerValue(const json& v, const std::string& key) {
  using Limits = std::numeric_limits<Int>;
  const auto out_of_range = [&](const std::string& value) {
    return ConfigError("config key '" + key + "': " + value + " is out of range (" +
                       std::to_string(Limits::min()) + ".." + std::to_string(Limits::max()) + ")");
  };
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(Limits::max())) throw out_of_range(std::to_string(u));
    return static_cast<Int>(u);
  }
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    if (std::is_unsigned_v<Int> && i < 0) throw ConfigError("config key '" + key + "': must not be negative");
    if (i < static_cast<int64_t>(Limits::min()) ||
        (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(Limits::max())))
      throw out_of_range(std::to_string(i));
    return static_cast<Int>(i);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d)
      throw ConfigError("config key '" + key + "': expected an integer, got a fraction");
    // [-2^digits, 2^digits) is exactly the type's range and exactly representable.
    const double bound = std::ldexp(1.0, Limits::digits);
    if (d < (std::is_signed_v<Int> ? -bound : 0.0) || d >= bound) {
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", d);
      throw out_of_range(text);
    }
    return static_cast<Int>(d);
  }
  throw ConfigError("config key '" + key + "': expected an integer, got " + typeName(v));
}

template <typename Int>
void readInteger(const json& obj, const std::string& key, Int& out) {
  out = integerValue<Int>(obj.at(key), key);
}

template <>
void readField(const json& obj, const std::string& key, int& out) { readInteger(obj, key, out); }
template <>
void readField(const json& obj, const std::string& key, int64_t& out) { readInteger(obj, key, out); }
template <>
void readField(const json& obj, const std::string& key, std::uint64_t& out) {
  readInteger(obj, key, out);
}

template <>
void readField(const json& obj, const std::string& key, std::vector<int>& out) {
  const auto& v = obj.at(key);
  if (v.is_number()) {  // one value for every layer is written as a list later
    out = {integerValue<int>(v, key)};
    return;
  }
  if (!v.is_array())
    throw ConfigError("config key '" + key + "': expected a list of integers, got " + typeName(v));
  out.clear();
  for (const auto& e : v) {
    if (!e.is_number())
      throw ConfigError("config key '" + key + "': expected a list of integers, found " +
                        std::string(typeName(e)));
    out.push_back(integerValue<int>(e, key));
  }
}

template <>
void readField(const json& obj, const std::string& key, std::vector<PinSetting>& out) {
  const auto& v = obj.at(key);
  if (!v.is_array())
    throw ConfigError("config key '" + key + "': expected a list of {layer, branch, pin}");
  out.clear();
  for (const auto& e : v) {
    if (!e.is_object() || !e.contains("layer") || !e.contains("branch") || !e.contains("pin"))
      throw ConfigError("config key 'pins': each entry needs layer, branch and pin");
    PinSetting p;
    p.layer = integerValue<int>(e["layer"], "pins");
    if (!e["branch"].is_string() || !e["pin"].is_string())
      throw ConfigError("config key 'pins': branch and pin must be strings");
    const auto kind = parseBranchKind(e["branch"].get<std::string>());
    if (!kind)
      throw ConfigError("config key 'pins': unknown branch '" + e["branch"].get<std::string>() +
                        "' (expected 1x1, 1x1-AVG, KxK, 1x1-KxK, 1xK or Kx1)");
    const auto pin = parsePin(e["pin"].get<std::string>());
    if (!pin)
      throw ConfigError("config key 'pins': unknown pin '" + e["pin"].get<std::string>() +
                        "' (expected keep, auto or drop)");
    p.branch = *kind;
    p.pin = *pin;
    out.push_back(p);
  }
}

template <>
void readField(const json& obj, const std::string& key, MaskSetting& out) {
  const auto& v = obj.at(key);
  out = {};
  if (v.is_null()) return;
  if (v.is_string() && v.get<std::string>() == "random") {
    out.kind = MaskSetting::Kind::Random;
    return;
  }
  if (!v.is_array())
    throw ConfigError("config key 'mask': expected null, \"random\" or one list of branch "
                      "names per layer, got " + std::string(typeName(v)));
  out.kind = MaskSetting::Kind::Given;
  for (size_t l = 0; l < v.size(); ++l) {
    const auto& names = v[l];
    if (!names.is_array())
      throw ConfigError("config key 'mask': layer " + std::to_string(l) +
                        ": expected a list of branch names, got " + typeName(names));
    BranchMask m;
    for (const auto& n : names) {
      const auto kind = n.is_string() ? parseBranchKind(n.get<std::string>()) : std::nullopt;
      if (!kind)
        throw ConfigError("config key 'mask': layer " + std::to_string(l) + ": unknown branch " +
                          n.dump() + " (expected 1x1, 1x1-AVG, KxK, 1x1-KxK, 1xK or Kx1)");
      m.set(static_cast<size_t>(*kind));
    }
    out.layers.push_back(m);
  }
}

/// What a version-1 file meant: its schedule as explicit epochs, and every key added since at
/// the value that reproduces version 1's behaviour (unless the file sets it).
void upgradeFromVersion1(const json& j, RunConfig& c) {
  if (!j.contains("arch_lr")) c.arch_lr = 1e-4;
  c.noise_start = c.noise_end = 1.0;
  c.norm_reset = false;
  c.head_dropout = 0;
  c.clip_alpha_from_start = false;
  c.second_kxk_at_stride2 = false;
  if (c.isSearch()) {
    const int warmup = c.warmup_epochs >= 0 ? c.warmup_epochs
                                            : static_cast<int>(std::lround(0.10 * c.epochs));
    const int search = c.search_epochs >= 0
                           ? c.search_epochs
                           : std::max(1, static_cast<int>(std::lround(0.23 * c.epochs)));
    c.warmup_epochs = warmup;
    c.search_epochs = search;
    const int64_t fixed = int64_t{c.epochs} - warmup - search;  // no int overflow for any input
    c.fixed_epochs = static_cast<int>(std::clamp<int64_t>(fixed, 0, std::numeric_limits<int>::max()));
    if (fixed < 0)
      throw ConfigError("config key 'search_epochs': warm-up " + std::to_string(warmup) +
                        " + search " + std::to_string(search) + " epochs exceed epochs " +
                        std::to_string(c.epochs));
  }
}

RunConfig fromJson(const json& j, int version_when_absent) {
  if (!j.is_object()) throw ConfigError("the configuration must be a JSON object");
  RunConfig c;
  int version = version_when_absent;
  if (j.contains("config_version")) readInteger(j, "config_version", version);
  if (version < 1 || version > kConfigVersion)
    throw ConfigError("config key 'config_version': version " + std::to_string(version) +
                      " is not one this program reads (1.." + std::to_string(kConfigVersion) +
                      "): it was written by a newer RepNAS Studio");
  const json known = toJson(c);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.contains(it.key()) && it.key() != kStrategyAlias)
      throw ConfigError("unknown config key '" + clippedText(it.key()) + "'");
  // `mode`, the name of `strategy` before version 3, is read in every version.
  const bool alias = j.contains(kStrategyAlias);
  // Values are compared by the strategy they name ("repnas" is "search").
  const auto strategyNamed = [&](const char* key) {
    const auto& v = j.at(key);
    const auto* s = v.is_string() ? findStrategy(v.get<std::string>()) : nullptr;
    return s ? json(s->name) : v;
  };
  if (alias && j.contains("strategy") && strategyNamed("strategy") != strategyNamed(kStrategyAlias))
    throw ConfigError("config keys 'strategy' and 'mode' disagree: 'mode' is the old name of "
                      "'strategy'; keep one");
  if (alias) readField(j, kStrategyAlias, c.mode);
#define REPNAS_READ(field) \
  if (j.contains(#field)) readField(j, #field, c.field)
  if (j.contains("strategy")) readField(j, "strategy", c.mode);
  if (const auto* s = findStrategy(c.mode)) c.mode = s->name;  // an alias read as its name
  REPNAS_READ(backbone); REPNAS_READ(dataset); REPNAS_READ(data_dir);
  REPNAS_READ(epochs); REPNAS_READ(warmup_epochs); REPNAS_READ(search_epochs);
  REPNAS_READ(budget); REPNAS_READ(budget_ratio); REPNAS_READ(layer_min); REPNAS_READ(layer_max);
  REPNAS_READ(pins); REPNAS_READ(budget_count); REPNAS_READ(budget_ms); REPNAS_READ(budget_mb);
  REPNAS_READ(batch_size); REPNAS_READ(eval_batch_size);
  if (version == 1) upgradeFromVersion1(j, c);
  REPNAS_READ(fixed_epochs); REPNAS_READ(search_seconds); REPNAS_READ(mask); REPNAS_READ(mask_source);
  REPNAS_READ(arch_travel); REPNAS_READ(noise_start); REPNAS_READ(noise_end);
  REPNAS_READ(norm_reset); REPNAS_READ(head_dropout); REPNAS_READ(clip_alpha_from_start);
  REPNAS_READ(second_kxk_at_stride2); REPNAS_READ(gdas_tau_start); REPNAS_READ(gdas_tau_end);
  if (version < 4 && !j.contains("gdas_arch_lr")) c.gdas_arch_lr = 3e-4;  // fixed before version 4
  REPNAS_READ(gdas_arch_lr); REPNAS_READ(gdas_arch_travel); REPNAS_READ(gdas_arch_weight_decay);
  REPNAS_READ(train_limit); REPNAS_READ(test_limit); REPNAS_READ(val_split); REPNAS_READ(seed);
  REPNAS_READ(threads); REPNAS_READ(kernel_size); REPNAS_READ(lr); REPNAS_READ(momentum);
  REPNAS_READ(weight_decay); REPNAS_READ(arch_lr); REPNAS_READ(arch_beta1);
  REPNAS_READ(arch_beta2); REPNAS_READ(arch_weight_decay); REPNAS_READ(grad_clip);
  REPNAS_READ(crop_padding); REPNAS_READ(flip); REPNAS_READ(snapshot_every);
  REPNAS_READ(identity_init);
  if (version < 4 && !j.contains("bn_recalibration_batches")) c.bn_recalibration_batches = 0;
  REPNAS_READ(bn_recalibration_batches);
  REPNAS_READ(rena_update_every); REPNAS_READ(rena_children); REPNAS_READ(rena_swaps);
  REPNAS_READ(rena_buffer); REPNAS_READ(rena_cache_steps); REPNAS_READ(rena_bn_batches);
  REPNAS_READ(rena_val_batches); REPNAS_READ(rena_lr); REPNAS_READ(rena_entropy);
  REPNAS_READ(rena_baseline_decay); REPNAS_READ(rena_hidden); REPNAS_READ(rena_penalty);
  REPNAS_READ(rena_limit_ms); REPNAS_READ(rena_limit_mb); REPNAS_READ(rena_limit_params);
  REPNAS_READ(rena_min_intensity);
#undef REPNAS_READ
  try {
    c.validate();
  } catch (const ConfigError& e) {
    const std::string prefix = "config key 'strategy'";
    std::string what = e.what();
    if (alias && !j.contains("strategy") && what.rfind(prefix, 0) == 0)
      throw ConfigError("config key 'mode' (the old name of 'strategy')" + what.substr(prefix.size()));
    throw;
  }
  return c;
}

}  // namespace

RunConfig configFromJson(const std::string& text, int version_when_absent) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw ConfigError("the configuration is not valid JSON: " + jsonMessage(e));
  }
  return fromJson(j, version_when_absent);
}

std::string configToJson(const RunConfig& config) { return toJson(config).dump(2); }

void applyConfigOverrides(RunConfig& config, const std::vector<std::string>& overrides) {
  json j = toJson(config);
  for (const auto& kv : overrides) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("--set expects key=value, got '" + clippedText(kv) + "'");
    const std::string given = kv.substr(0, eq);
    const std::string key = given == kStrategyAlias ? "strategy" : given;  // its old name
    const std::string text = kv.substr(eq + 1);
    if (!j.contains(key)) throw ConfigError("unknown config key '" + clippedText(key) + "'");
    json value;
    try {
      value = json::parse(text);
    } catch (const json::out_of_range&) {
      throw ConfigError("config key '" + key + "': " + clippedText(text) + " is out of range of a number");
    } catch (const json::exception&) {
      value = text;  // a bare word is a string
    }
    j[key] = value;
  }
  config = fromJson(j, kConfigVersion);
}

void applyConfigOverride(RunConfig& config, const std::string& kv) {
  applyConfigOverrides(config, {kv});
}

RunConfig loadConfigFile(const std::string& path, int version_when_absent) {
  std::string text;
  try {
    text = readInputFile(path, kMaxConfigFileBytes, "a configuration file");
  } catch (const Error& e) {
    throw ConfigError(e.what());
  }
  try {
    return configFromJson(text, version_when_absent);
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
}

RunConfig loadRunConfig(const std::string& run_dir) {
  return loadConfigFile(RunFolder(run_dir).config(), /*version_when_absent=*/1);
}

const std::vector<ConfigKeyHelp>& configKeyHelp() {
  static const std::vector<ConfigKeyHelp> help = {
      {"config_version", "format version of this file (written as " + std::to_string(kConfigVersion) + "; a file without it is version 1 when it comes from a run folder)"},
      {"strategy", [] {
         std::string text = "the search strategy or fixed baseline ('mode' is its old name and still read): ";
         const auto& r = strategyRegistry();
         for (size_t i = 0; i < r.size(); ++i)
           text += (i == 0 ? "" : i + 1 == r.size() ? " or " : ", ") + r[i].summary;
         return text;
       }()},
      {"backbone", "network preset: tiny, small, repvgg-a0 or resnet18"},
      {"dataset", "fashion-mnist, mnist, idx (IDX files in data_dir) or cifar10 (binary batches in data_dir)"},
      {"data_dir", "folder of the data files; empty: the data set's default (/usr/share/datasets/fashion-mnist)"},
      {"epochs", "training epochs of a fixed-mask mode; in search mode the default length of the fixed phase"},
      {"warmup_epochs", "search: epochs that train random k-subsets of the branches (uniform, α frozen) before the search; -1: round(0.15 * fixed epochs)"},
      {"search_epochs", "search: epochs that train α on noisy top-k masks; -1: round(0.35 * fixed epochs)"},
      {"fixed_epochs", "search: epochs after the fix (warm-up and search come on top); -1: epochs, as long as a baseline trains"},
      {"search_seconds", "search: the steps before the fix (warm-up and search) take at most this many seconds of step time, then the fix comes and the rest of the search epochs train the fixed architecture (equal search wall time: set search_epochs high enough that the time ends it); 0: the epochs alone"},
      {"budget", "global branch budget k (identity not counted); -1: floor(budget_ratio * 6 * layers)"},
      {"budget_ratio", "k as a fraction of all searchable branches when budget is -1"},
      {"layer_min", "minimum of kept branches: [n] for every layer or one value per layer; empty: 1 in layers without identity, else 0"},
      {"layer_max", "maximum of kept branches: [n] for every layer or one value per layer; empty: 6"},
      {"pins", "list of {\"layer\": L, \"branch\": \"1x1\", \"pin\": \"keep\"|\"drop\"|\"auto\"}"},
      {"budget_count", "true: exactly k branches are kept; false: any number, the cost limits (budget_ms, budget_mb) alone bind"},
      {"budget_ms", "predicted training milliseconds per step <= this, from the costs measured on this machine (repnas costs); 0: no limit"},
      {"budget_mb", "predicted training memory in MiB <= this (activations kept for the backward, measured); 0: no limit"},
      {"mask", "mode odbb: the branches to train, one list of names per layer (e.g. [[\"KxK\"], ...]), or \"random\": uniform under budget, pins and limits, drawn with seed; null otherwise"},
      {"mask_source", "where mask came from (recorded by repnas retrain and by mask=random)"},
      {"batch_size", "training batch size"},
      {"eval_batch_size", "batch size for evaluation"},
      {"train_limit", "use only the first N training images; 0: all"},
      {"test_limit", "use only the first N test images; 0: all"},
      {"val_split", "hold out N training images as a validation set; 0: none (gdas: one sixth of the training images)"},
      {"seed", "random seed (weights, noise, augmentation, batch order)"},
      {"threads", "LibTorch compute threads; 0: all cores"},
      {"kernel_size", "K of the blocks: 3 or 5"},
      {"lr", "SGD learning rate of the weights (cosine to 0 over all steps)"},
      {"momentum", "SGD momentum"},
      {"weight_decay", "SGD weight decay (not on BatchNorm parameters and biases)"},
      {"arch_lr", "Adam learning rate of the importance logits α; -1: arch_travel / search steps (the resolved value is written to config.json)"},
      {"arch_travel", "how far α can travel in the search when arch_lr is -1 (the official ImageNet run: 1e-4 * 175k steps = 17.5)"},
      {"arch_beta1", "Adam β1 of α"},
      {"arch_beta2", "Adam β2 of α"},
      {"arch_weight_decay", "weight decay of α (cosine-annealed to 0 over the search epochs)"},
      {"noise_start", "scale τ of the logistic noise in r = α + τ·ε when the search starts"},
      {"noise_end", "τ when the search ends (geometric in between); noise_end = noise_start = 1 is the official run"},
      {"norm_reset", "at the fix, rescale every conv kernel that feeds a BatchNorm to its norm at initialisation (function unchanged, effective learning rate restored)"},
      {"head_dropout", "Dropout probability before the linear head (the official code: 0.1)"},
      {"clip_alpha_from_start", "include α's gradient in the clip norm from the first warm-up step, as the official code does (α itself stays frozen until the search)"},
      {"second_kxk_at_stride2", "search space: at stride 2 the 1x1-KxK branch is a second KxK conv (the official code drops its 1x1)"},
      {"gdas_tau_start", "gdas: Gumbel-softmax temperature when the search starts (10 in the paper)"},
      {"gdas_tau_end", "gdas: temperature when the search ends, linear in between (0.1 in the paper)"},
      {"gdas_arch_lr", "gdas: Adam's learning rate on α, betas arch_beta1 and arch_beta2; -1: gdas_arch_travel / search steps (3e-4 in the paper; the resolved value is written to config.json)"},
      {"gdas_arch_travel", "gdas: how far α can travel in the search when gdas_arch_lr is -1 (the official CIFAR-10 search: 3e-4 * 250 epochs * 98 steps = 7.35)"},
      {"gdas_arch_weight_decay", "gdas: Adam's weight decay on α (1e-3 in the paper)"},
      {"rena_update_every", "rena: supernet training steps (on uniformly drawn masks) between controller updates"},
      {"rena_children", "rena: proposals evaluated per controller update (EAS: 10 networks per episode)"},
      {"rena_swaps", "rena: swap actions per proposal, each drop-one-insert-one or a no-op, so exactly k stays kept"},
      {"rena_buffer", "rena: the best networks found so far, kept as the parents proposals start from"},
      {"rena_cache_steps", "rena: an evaluation is reused while the supernet has trained fewer steps since; 0: never reused"},
      {"rena_bn_batches", "rena: training batches re-estimating a child's BatchNorm statistics before it is evaluated"},
      {"rena_val_batches", "rena: validation batches (the same ones for every child) a child's accuracy is measured on"},
      {"rena_lr", "rena: the controller's Adam learning rate (EAS: 2e-3)"},
      {"rena_entropy", "rena: weight of the policy's entropy bonus in the REINFORCE loss"},
      {"rena_baseline_decay", "rena: the reward baseline is this moving average of the children's mean reward"},
      {"rena_hidden", "rena: width of the layer embedding and of each direction of the Bi-LSTM"},
      {"rena_penalty", "rena: λ in reward = accuracy − λ Σ max(0, cost/limit − 1): 0.1 makes a 10% overrun cost one point"},
      {"rena_limit_ms", "rena: training ms per step (the measured cost model) a network may take; 0: no limit"},
      {"rena_limit_mb", "rena: training MiB (the measured cost model) a network may take; 0: no limit"},
      {"rena_limit_params", "rena: parameters of the multi-branch network during training; 0: no limit"},
      {"rena_min_intensity", "rena: the folded network's FLOPs per byte at least (every subset folds to the same convs, so in this space it is the same for every mask); 0: no limit"},
      {"grad_clip", "global gradient-norm clip of weights and α; 0: off"},
      {"crop_padding", "random crop after zero padding by this many pixels; 0: off"},
      {"flip", "random horizontal flip (true/false)"},
      {"snapshot_every", "emit a step snapshot (event) every N steps"},
      {"identity_init", "the 1x1 of the 1x1-KxK branch starts as the identity (as in DBB)"},
      {"bn_recalibration_batches", "search: before the fix, the validation accuracy of the architecture found so far is measured after re-estimating BatchNorm statistics for it on this many training batches (the supernet's statistics are of the sampled subsets); 0: with the supernet's statistics"},
  };
  return help;
}

}  // namespace repnas
