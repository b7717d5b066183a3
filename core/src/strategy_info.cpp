#include "repnas/strategy_info.h"

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

std::vector<StrategyInfo> makeRegistry() {
  std::vector<StrategyInfo> r;
  StrategyInfo repnas;
  repnas.name = "search";
  repnas.method = "RepNAS";
  repnas.summary = "search (RepNAS: noisy global top-k of α, straight-through, one stage)";
  repnas.phases = {Phase::Warmup, Phase::Search, Phase::Fixed};
  repnas.capabilities.searches = true;
  repnas.capabilities.accepts_budget_edits = true;
  repnas.branches = allBranches();
  repnas.identity = true;
  repnas.keys = {"warmup_epochs", "search_epochs", "fixed_epochs", "budget", "budget_ratio",
                 "layer_min", "layer_max", "pins", "arch_lr", "arch_travel", "arch_beta1",
                 "arch_beta2", "arch_weight_decay", "noise_start", "noise_end", "norm_reset",
                 "clip_alpha_from_start", "second_kxk_at_stride2"};
  repnas.importance = "σ(α): the branch importance the search learns; the fix keeps the top k of α";
  r.push_back(repnas);
  StrategyInfo gdas;
  gdas.name = "gdas";
  gdas.method = "GDAS";
  gdas.summary = "gdas (GDAS: Gumbel-softmax over each layer's branch subsets under k, bi-level on a validation split)";
  gdas.phases = {Phase::Warmup, Phase::Search, Phase::Fixed};
  gdas.capabilities.searches = true;
  gdas.capabilities.needs_validation_split = true;
  gdas.capabilities.accepts_budget_edits = true;
  gdas.branches = allBranches();
  gdas.identity = true;
  gdas.keys = {"warmup_epochs", "search_epochs", "fixed_epochs", "budget", "budget_ratio",
               "layer_min", "layer_max", "pins", "val_split", "gdas_tau_start", "gdas_tau_end",
               "gdas_arch_lr", "arch_beta1", "arch_beta2", "gdas_arch_weight_decay", "norm_reset",
               "second_kxk_at_stride2"};
  gdas.importance = "σ(α): the subset logits are sums of α; the fix keeps the top k of α";
  r.push_back(gdas);
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
    if (s.name == name) return &s;
  return nullptr;
}

const StrategyInfo& strategyInfo(const std::string& name) {
  if (const auto* s = findStrategy(name)) return *s;
  throw Error("unknown mode '" + name + "' (expected " + strategyNameList() + ")");
}

std::string strategyNameList(const std::string& last_separator) {
  const auto& r = strategyRegistry();
  std::string out;
  for (size_t i = 0; i < r.size(); ++i) {
    if (i > 0) out += i + 1 == r.size() ? last_separator : ", ";
    out += r[i].name;
  }
  return out;
}

}  // namespace repnas
