#include "repnas/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "repnas/backbone.h"

namespace repnas {

using nlohmann::json;

int RunConfig::resolvedWarmupEpochs() const {
  if (mode != "search") return 0;
  return warmup_epochs >= 0 ? warmup_epochs : static_cast<int>(std::lround(0.10 * epochs));
}

int RunConfig::resolvedSearchEpochs() const {
  if (mode != "search") return 0;
  if (search_epochs >= 0) return search_epochs;
  return std::max(1, static_cast<int>(std::lround(0.23 * epochs)));
}

BranchMask modeBranches(const std::string& mode) {
  auto mask = [](std::initializer_list<BranchKind> kinds) {
    BranchMask m;
    for (auto k : kinds) m.set(static_cast<size_t>(k));
    return m;
  };
  if (mode == "plain") return mask({BranchKind::KxK});
  if (mode == "repvgg") return mask({BranchKind::KxK, BranchKind::OneByOne});
  if (mode == "dbb")
    return mask({BranchKind::KxK, BranchKind::OneByOne, BranchKind::OneByOneKxK,
                 BranchKind::OneByOneAvg});
  return allBranches();
}

bool modeHasIdentity(const std::string& mode) { return mode == "search" || mode == "repvgg"; }

BackboneSpec backboneFor(const RunConfig& config, int in_channels, int height, int width,
                         int num_classes) {
  auto spec = makeBackbone(config.backbone, in_channels, height, width, num_classes,
                           config.kernel_size);
  for (auto& layer : spec.layers) {
    layer.block.branches = modeBranches(config.mode);
    layer.block.identity = modeHasIdentity(config.mode);
    layer.block.identity_init_1x1 = config.identity_init;
  }
  return spec;
}

std::vector<ConfigProblem> RunConfig::problems() const {
  std::vector<ConfigProblem> found;
  auto fail = [&found](const std::string& key, const std::string& why) {
    found.push_back({key, why});
  };
  if (mode != "search" && mode != "plain" && mode != "repvgg" && mode != "dbb")
    fail("mode", "'" + mode + "' is not one of search, plain, repvgg, dbb");
  const auto presets = backbonePresets();
  if (std::find(presets.begin(), presets.end(), backbone) == presets.end())
    fail("backbone", "'" + backbone + "' is not one of tiny, small, repvgg-a0, resnet18");
  if (dataset != "fashion-mnist" && dataset != "mnist" && dataset != "idx" && dataset != "cifar10")
    fail("dataset", "'" + dataset + "' is not one of fashion-mnist, mnist, idx, cifar10");
  if ((dataset == "mnist" || dataset == "idx" || dataset == "cifar10") && data_dir.empty())
    fail("data_dir", "dataset '" + dataset + "' needs a folder");
  if (epochs < 1) fail("epochs", "must be >= 1, got " + std::to_string(epochs));
  if (warmup_epochs < -1) fail("warmup_epochs", "must be >= 0 (or -1 for automatic)");
  if (search_epochs < -1) fail("search_epochs", "must be >= 0 (or -1 for automatic)");
  if (mode == "search" && resolvedWarmupEpochs() + resolvedSearchEpochs() > epochs)
    fail("search_epochs", "warm-up " + std::to_string(resolvedWarmupEpochs()) + " + search " +
                              std::to_string(resolvedSearchEpochs()) + " epochs exceed epochs " +
                              std::to_string(epochs));
  if (budget < -1) fail("budget", "must be >= 0 (or -1 for ⌊budget_ratio · 6L⌋)");
  if (!(budget_ratio > 0 && budget_ratio <= 1)) fail("budget_ratio", "must be in (0, 1]");
  if (batch_size < 1) fail("batch_size", "must be >= 1");
  if (eval_batch_size < 1) fail("eval_batch_size", "must be >= 1");
  if (train_limit < 0) fail("train_limit", "must be >= 0");
  if (test_limit < 0) fail("test_limit", "must be >= 0");
  if (val_split < 0) fail("val_split", "must be >= 0");
  if (threads < 0) fail("threads", "must be >= 0");
  if (kernel_size != 3 && kernel_size != 5) fail("kernel_size", "must be 3 or 5");
  if (!(lr > 0) || !std::isfinite(lr)) fail("lr", "must be a positive number");
  if (momentum < 0 || momentum >= 1) fail("momentum", "must be in [0, 1)");
  if (weight_decay < 0) fail("weight_decay", "must be >= 0");
  if (!(arch_lr >= 0) || !std::isfinite(arch_lr)) fail("arch_lr", "must be >= 0");
  if (arch_beta1 < 0 || arch_beta1 >= 1) fail("arch_beta1", "must be in [0, 1)");
  if (arch_beta2 < 0 || arch_beta2 >= 1) fail("arch_beta2", "must be in [0, 1)");
  if (arch_weight_decay < 0) fail("arch_weight_decay", "must be >= 0");
  if (grad_clip < 0) fail("grad_clip", "must be >= 0");
  if (crop_padding < 0 || crop_padding > 16) fail("crop_padding", "must be in 0..16");
  if (snapshot_every < 1) fail("snapshot_every", "must be >= 1");
  for (int v : layer_min) if (v < 0 || v > 6) fail("layer_min", "values must be in 0..6");
  for (int v : layer_max) if (v < 0 || v > 6) fail("layer_max", "values must be in 0..6");
  for (const auto& p : pins) if (p.layer < 0) fail("pins", "layer must be >= 0");
  // Whether the budget fits the backbone (the engine resolves it the same way when it starts).
  if (found.empty() && mode == "search") {
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
  return json{
      {"mode", c.mode}, {"backbone", c.backbone}, {"dataset", c.dataset},
      {"data_dir", c.data_dir}, {"epochs", c.epochs}, {"warmup_epochs", c.warmup_epochs},
      {"search_epochs", c.search_epochs}, {"budget", c.budget},
      {"budget_ratio", c.budget_ratio}, {"layer_min", c.layer_min}, {"layer_max", c.layer_max},
      {"pins", pins}, {"batch_size", c.batch_size}, {"eval_batch_size", c.eval_batch_size},
      {"train_limit", c.train_limit}, {"test_limit", c.test_limit}, {"val_split", c.val_split},
      {"seed", c.seed}, {"threads", c.threads}, {"kernel_size", c.kernel_size}, {"lr", c.lr},
      {"momentum", c.momentum}, {"weight_decay", c.weight_decay}, {"arch_lr", c.arch_lr},
      {"arch_beta1", c.arch_beta1}, {"arch_beta2", c.arch_beta2},
      {"arch_weight_decay", c.arch_weight_decay}, {"grad_clip", c.grad_clip},
      {"crop_padding", c.crop_padding}, {"flip", c.flip}, {"snapshot_every", c.snapshot_every},
      {"identity_init", c.identity_init},
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
}

template <typename Int>
void readInteger(const json& obj, const std::string& key, Int& out) {
  const auto& v = obj.at(key);
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
    out = static_cast<Int>(v.get<double>());
    return;
  }
  if (!v.is_number_integer())
    throw ConfigError("config key '" + key + "': expected an integer, got " +
                      (v.is_number() ? std::string("a fraction") : std::string(typeName(v))));
  if (std::is_unsigned_v<Int> && v.is_number_integer() && !v.is_number_unsigned() &&
      v.get<int64_t>() < 0)
    throw ConfigError("config key '" + key + "': must not be negative");
  out = v.get<Int>();
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
  if (v.is_number_integer()) {  // one value for every layer is written as a list later
    out = {v.get<int>()};
    return;
  }
  if (!v.is_array())
    throw ConfigError("config key '" + key + "': expected a list of integers, got " + typeName(v));
  out.clear();
  for (const auto& e : v) {
    if (!e.is_number_integer())
      throw ConfigError("config key '" + key + "': expected a list of integers, found " +
                        std::string(typeName(e)));
    out.push_back(e.get<int>());
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
    readInteger(e, "layer", p.layer);
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

RunConfig fromJson(const json& j) {
  if (!j.is_object()) throw ConfigError("the configuration must be a JSON object");
  RunConfig c;
  const json known = toJson(c);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.contains(it.key())) throw ConfigError("unknown config key '" + it.key() + "'");
#define REPNAS_READ(field) \
  if (j.contains(#field)) readField(j, #field, c.field)
  REPNAS_READ(mode); REPNAS_READ(backbone); REPNAS_READ(dataset); REPNAS_READ(data_dir);
  REPNAS_READ(epochs); REPNAS_READ(warmup_epochs); REPNAS_READ(search_epochs);
  REPNAS_READ(budget); REPNAS_READ(budget_ratio); REPNAS_READ(layer_min); REPNAS_READ(layer_max);
  REPNAS_READ(pins); REPNAS_READ(batch_size); REPNAS_READ(eval_batch_size);
  REPNAS_READ(train_limit); REPNAS_READ(test_limit); REPNAS_READ(val_split); REPNAS_READ(seed);
  REPNAS_READ(threads); REPNAS_READ(kernel_size); REPNAS_READ(lr); REPNAS_READ(momentum);
  REPNAS_READ(weight_decay); REPNAS_READ(arch_lr); REPNAS_READ(arch_beta1);
  REPNAS_READ(arch_beta2); REPNAS_READ(arch_weight_decay); REPNAS_READ(grad_clip);
  REPNAS_READ(crop_padding); REPNAS_READ(flip); REPNAS_READ(snapshot_every);
  REPNAS_READ(identity_init);
#undef REPNAS_READ
  c.validate();
  return c;
}

}  // namespace

RunConfig configFromJson(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(std::string("the configuration is not valid JSON: ") + e.what());
  }
  return fromJson(j);
}

std::string configToJson(const RunConfig& config) { return toJson(config).dump(2); }

void applyConfigOverrides(RunConfig& config, const std::vector<std::string>& overrides) {
  json j = toJson(config);
  for (const auto& kv : overrides) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("--set expects key=value, got '" + kv + "'");
    const std::string key = kv.substr(0, eq);
    const std::string text = kv.substr(eq + 1);
    if (!j.contains(key)) throw ConfigError("unknown config key '" + key + "'");
    json value;
    try {
      value = json::parse(text);
    } catch (const json::parse_error&) {
      value = text;  // a bare word is a string
    }
    j[key] = value;
  }
  config = fromJson(j);
}

void applyConfigOverride(RunConfig& config, const std::string& kv) {
  applyConfigOverrides(config, {kv});
}

RunConfig loadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return configFromJson(ss.str());
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
}

const std::vector<ConfigKeyHelp>& configKeyHelp() {
  static const std::vector<ConfigKeyHelp> help = {
      {"mode", "search (RepNAS), plain (KxK only), repvgg (KxK + 1x1 + identity) or dbb (KxK, 1x1, 1x1-KxK, 1x1-AVG)"},
      {"backbone", "network preset: tiny, small, repvgg-a0 or resnet18"},
      {"dataset", "fashion-mnist, mnist, idx (IDX files in data_dir) or cifar10 (binary batches in data_dir)"},
      {"data_dir", "folder of the data files; empty: the data set's default (/usr/share/datasets/fashion-mnist)"},
      {"epochs", "training epochs in total"},
      {"warmup_epochs", "epochs with every branch and α frozen; -1: round(0.10 * epochs)"},
      {"search_epochs", "epochs that train α (search mode); -1: round(0.23 * epochs)"},
      {"budget", "global branch budget k (identity not counted); -1: floor(budget_ratio * 6 * layers)"},
      {"budget_ratio", "k as a fraction of all searchable branches when budget is -1"},
      {"layer_min", "minimum of kept branches: [n] for every layer or one value per layer; empty: 1 in layers without identity, else 0"},
      {"layer_max", "maximum of kept branches: [n] for every layer or one value per layer; empty: 6"},
      {"pins", "list of {\"layer\": L, \"branch\": \"1x1\", \"pin\": \"keep\"|\"drop\"|\"auto\"}"},
      {"batch_size", "training batch size"},
      {"eval_batch_size", "batch size for evaluation"},
      {"train_limit", "use only the first N training images; 0: all"},
      {"test_limit", "use only the first N test images; 0: all"},
      {"val_split", "hold out N training images as a validation set; 0: none"},
      {"seed", "random seed (weights, noise, augmentation, batch order)"},
      {"threads", "LibTorch compute threads; 0: all cores"},
      {"kernel_size", "K of the blocks: 3 or 5"},
      {"lr", "SGD learning rate of the weights (cosine to 0 over all steps)"},
      {"momentum", "SGD momentum"},
      {"weight_decay", "SGD weight decay (not on BatchNorm parameters and biases)"},
      {"arch_lr", "Adam learning rate of the importance logits α"},
      {"arch_beta1", "Adam β1 of α"},
      {"arch_beta2", "Adam β2 of α"},
      {"arch_weight_decay", "weight decay of α (cosine-annealed to 0 over the search epochs)"},
      {"grad_clip", "global gradient-norm clip of weights and α; 0: off"},
      {"crop_padding", "random crop after zero padding by this many pixels; 0: off"},
      {"flip", "random horizontal flip (true/false)"},
      {"snapshot_every", "emit a step snapshot (event) every N steps"},
      {"identity_init", "the 1x1 of the 1x1-KxK branch starts as the identity (as in DBB)"},
  };
  return help;
}

}  // namespace repnas
