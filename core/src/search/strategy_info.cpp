#include "repnas/strategy_info.h"

#include <algorithm>

#include "repnas/error.h"

namespace repnas {
namespace {

BranchMask kinds(std::initializer_list<BranchKind> list) {
  BranchMask m;
  for (auto k : list) m.set(static_cast<size_t>(k));
  return m;
}

StrategyInfo fixedStrategy(std::string name, std::string summary, BranchMask branches, bool identity) {
  StrategyInfo s;
  s.name = std::move(name);
  s.method = "fixed";
  s.summary = std::move(summary);
  s.phases = {Phase::Train};
  s.branches = branches;
  s.identity = identity;
  return s;
}

/// A search over all six branches (+ identity): warm-up, search, fixed phase; live budget edits
/// before the fix; the schedule, budget and fix keys beside its own.
StrategyInfo searchStrategy(std::string name, std::string method, std::string summary,
                            std::vector<std::string> own_keys, std::string importance) {
  StrategyInfo s;
  s.name = std::move(name);
  s.method = std::move(method);
  s.summary = std::move(summary);
  s.phases = {Phase::Warmup, Phase::Search, Phase::Fixed};
  s.capabilities.searches = true;
  s.capabilities.accepts_budget_edits = true;
  s.capabilities.accepts_cost_budgets = true;
  s.branches = allBranches();
  s.identity = true;
  s.keys = {"warmup_epochs", "search_epochs", "fixed_epochs", "search_seconds", "budget", "budget_ratio",
            "layer_min", "layer_max", "pins", "norm_reset", "second_kxk_at_stride2",
            "bn_recalibration_batches"};
  s.keys.insert(s.keys.end(), own_keys.begin(), own_keys.end());
  s.importance = std::move(importance);
  return s;
}

std::vector<StrategyInfo> makeRegistry() {
  std::vector<StrategyInfo> r;
  auto repnas = searchStrategy(
      "search", "RepNAS", "search (RepNAS: noisy global top-k of α, straight-through, one stage)",
      {"arch_lr", "arch_travel", "arch_beta1", "arch_beta2", "arch_weight_decay", "noise_start",
       "noise_end", "clip_alpha_from_start"},
      "σ(α): the branch importance the search learns; the fix keeps the top k of α");
  repnas.aliases = {"repnas"};
  r.push_back(repnas);
  auto gdas = searchStrategy(
      "gdas", "GDAS",
      "gdas (GDAS: Gumbel-softmax over each layer's branch subsets under k, bi-level on a validation split)",
      {"gdas_tau_start", "gdas_tau_end", "gdas_arch_lr", "gdas_arch_travel", "arch_beta1",
       "arch_beta2", "gdas_arch_weight_decay"},
      "σ(α): the subset logits are sums of α; the fix keeps the top k of α");
  gdas.capabilities.needs_validation_split = true;
  r.push_back(gdas);
  auto rena = searchStrategy(
      "rena", "RENA",
      "rena (RENA: a Bi-LSTM policy proposes swaps from the best networks so far; children "
      "evaluated with shared weights on a validation split; reward accuracy minus resource overruns)",
      {"rena_update_every", "rena_children", "rena_swaps", "rena_buffer", "rena_cache_steps",
       "rena_bn_batches", "rena_val_batches", "rena_lr", "rena_entropy", "rena_baseline_decay",
       "rena_hidden", "rena_penalty", "rena_limit_ms", "rena_limit_mb", "rena_limit_params",
       "rena_min_intensity"},
      "keep probability: the chance the controller keeps each branch after one swap from its "
      "best network; the fix keeps the best feasible trial");
  rena.capabilities.needs_validation_split = true;
  rena.capabilities.needs_measured_costs = true;
  rena.importance_is_probability = true;
  rena.capabilities.accepts_cost_budgets = false;
  r.push_back(rena);
  r.push_back(fixedStrategy("plain", "plain (KxK only)", kinds({BranchKind::KxK}), false));
  r.push_back(fixedStrategy("plain+identity", "plain+identity (KxK + identity)", kinds({BranchKind::KxK}), true));
  r.push_back(fixedStrategy("repvgg", "repvgg (KxK + 1x1 + identity)",
                            kinds({BranchKind::KxK, BranchKind::OneByOne}), true));
  r.push_back(fixedStrategy("dbb", "dbb (KxK, 1x1, 1x1-KxK, 1x1-AVG)",
                            kinds({BranchKind::KxK, BranchKind::OneByOneKxK, BranchKind::OneByOne,
                                   BranchKind::OneByOneAvg}),
                            false));
  auto odbb = fixedStrategy("odbb", "odbb (the mask in 'mask', + identity: a found ODBB retrained)",
                            allBranches(), true);
  odbb.given_mask = true;
  odbb.keys = {"mask", "mask_source", "budget", "budget_ratio", "layer_min", "layer_max", "pins"};
  r.push_back(odbb);
  return r;
}

}  // namespace

const std::vector<StrategyInfo>& strategyRegistry() {
  static const std::vector<StrategyInfo> registry = makeRegistry();
  return registry;
}

const StrategyInfo* findStrategy(const std::string& name) {
  for (const auto& s : strategyRegistry())
    if (s.name == name || std::find(s.aliases.begin(), s.aliases.end(), name) != s.aliases.end())
      return &s;
  return nullptr;
}

const StrategyInfo& strategyInfo(const std::string& name) {
  if (const auto* s = findStrategy(name)) return *s;
  throw Error("unknown mode '" + name + "' (expected " + strategyNameList() + ")");
}

bool strategyUsesKey(const std::string& name, const std::string& key) {
  const auto* s = findStrategy(name);
  return s && std::find(s->keys.begin(), s->keys.end(), key) != s->keys.end();
}

std::string strategyNameList(const std::string& last_separator) {
  const auto& r = strategyRegistry();
  std::string out;
  for (size_t i = 0; i < r.size(); ++i) {
    if (i > 0) out += i + 1 == r.size() ? last_separator : ", ";
    out += r[i].name;
    for (const auto& alias : r[i].aliases) out += " (or " + alias + ")";
  }
  return out;
}

}  // namespace repnas
