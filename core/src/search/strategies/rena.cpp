#include "search/strategies/rena.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "repnas/error.h"
#include "search/alpha_strategy.h"
#include "search/cost_selection.h"

namespace repnas {
namespace {

constexpr int kB = kNumBranchKinds;

/// The strategy's numbers after each controller update, in sorted order (as the checkpoint
/// stores them): the best child's validation accuracy, the REINFORCE loss, the updates so far,
/// the evaluator's calls, the mean entropy of a proposal, the baseline its advantages used, the
/// children's mean reward.
const std::vector<std::string> kMetricNames = {"children_best_val_accuracy", "controller_loss",
                                               "controller_updates", "evaluations", "policy_entropy",
                                               "reward_baseline", "reward_mean"};

int countIn(const BranchMask& m) { return static_cast<int>(m.count()); }

Pin pinOf(const Budget& b, int layer, int branch) {
  return b.pins.empty() ? Pin::Auto : b.pins[layer][branch];
}
int minOf(const Budget& b, int layer) { return b.layer_min.empty() ? 0 : b.layer_min[layer]; }
int maxOf(const Budget& b, int layer) { return b.layer_max.empty() ? kB : b.layer_max[layer]; }

/// A categorical draw over `logits` (1-D): the index, its log-probability and the entropy.
struct Draw {
  int64_t index;
  torch::Tensor log_prob, entropy;
};
Draw drawFrom(const torch::Tensor& logits, torch::Generator& gen) {
  const auto log_p = torch::log_softmax(logits, 0);
  const auto p = log_p.exp();
  const int64_t index = torch::multinomial(p.detach(), 1, /*replacement=*/false, gen).item<int64_t>();
  return {index, log_p[index], -(p * log_p).sum()};
}

/// The bits of a mask list, as the cache's key.
std::vector<int> keyOf(const std::vector<BranchMask>& masks) { return maskToBits(masks); }

}  // namespace

std::vector<RenaLayerFeatures> renaLayerFeatures(const BackboneSpec& backbone, const BranchCostTable* costs) {
  std::vector<RenaLayerFeatures> out;
  int h = backbone.input_height;
  for (int l = 0; l < backbone.numLayers(); ++l) {
    const auto& b = backbone.layers[l].block;
    h = (h - 1) / b.stride + 1;  // padding K/2, odd K
    RenaLayerFeatures f;
    f.in_channels = b.in_channels;
    f.out_channels = b.out_channels;
    f.stride = b.stride;
    f.spatial = h;
    f.identity = b.hasIdentityBranch();
    if (costs && l < static_cast<int>(costs->ms.size()))
      for (int j = 0; j < kB; ++j) f.cost[j] = costs->ms[l][j];
    out.push_back(f);
  }
  return out;
}

torch::Tensor renaTokens(const std::vector<RenaLayerFeatures>& layers, const std::vector<BranchMask>& masks) {
  const int L = static_cast<int>(layers.size());
  double most = 0;
  for (const auto& f : layers)
    for (double c : f.cost) most = std::max(most, c);
  std::vector<float> v;
  v.reserve(static_cast<size_t>(L) * kRenaTokenSize);
  for (int l = 0; l < L; ++l) {
    const auto& f = layers[l];
    for (int j = 0; j < kB; ++j) v.push_back(masks[l].test(j) ? 1.f : 0.f);
    v.push_back(static_cast<float>(std::log2(std::max(1, f.in_channels)) / 10));
    v.push_back(static_cast<float>(std::log2(std::max(1, f.out_channels)) / 10));
    v.push_back(static_cast<float>(f.stride - 1));
    v.push_back(static_cast<float>(std::log2(std::max(1, f.spatial)) / 8));
    v.push_back(f.identity ? 1.f : 0.f);
    for (int j = 0; j < kB; ++j) v.push_back(most > 0 ? static_cast<float>(f.cost[j] / most) : 0.f);
  }
  return torch::tensor(v).view({L, kRenaTokenSize});
}

RenaPolicyImpl::RenaPolicyImpl(int hidden) {
  embed = register_module("embed", torch::nn::Linear(kRenaTokenSize, hidden));
  lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(hidden, hidden).bidirectional(true)));
  drop_head = register_module("drop_head", torch::nn::Linear(2 * hidden, kB));
  insert_head = register_module("insert_head", torch::nn::Linear(2 * hidden, kB));
  noop = register_parameter("noop", torch::zeros({}));
}

RenaPolicyImpl::Logits RenaPolicyImpl::forward(const torch::Tensor& tokens) {
  const auto e = torch::tanh(embed->forward(tokens)).unsqueeze(1);  // [L, 1, H]: sequence of layers
  const auto h = std::get<0>(lstm->forward(e)).squeeze(1);          // [L, 2H]
  return {drop_head->forward(h), insert_head->forward(h), noop};
}

bool renaMaskFits(const std::vector<BranchMask>& masks, const Budget& budget) {
  if (budget.countLimited() && countBranches(masks) != budget.k) return false;
  for (int l = 0; l < static_cast<int>(masks.size()); ++l)
    if (!layerAllowsSubset(budget, l, static_cast<int>(masks[l].to_ulong()))) return false;
  return true;
}

std::vector<RenaPosition> renaInserts(const std::vector<BranchMask>& masks, const Budget& budget,
                                      RenaPosition drop) {
  const int L = static_cast<int>(masks.size());
  const int dl = drop / kB;
  std::vector<RenaPosition> out;
  for (int l = 0; l < L; ++l) {
    // Another layer: the dropping one loses a branch, this one gains one.
    if (l != dl && (countIn(masks[dl]) - 1 < minOf(budget, dl) || countIn(masks[l]) + 1 > maxOf(budget, l)))
      continue;
    for (int j = 0; j < kB; ++j) {
      const int pos = l * kB + j;
      if (pos != drop && !masks[l].test(j) && pinOf(budget, l, j) != Pin::Drop) out.push_back(pos);
    }
  }
  return out;
}

std::vector<RenaPosition> renaDrops(const std::vector<BranchMask>& masks, const Budget& budget) {
  std::vector<RenaPosition> out;
  for (int l = 0; l < static_cast<int>(masks.size()); ++l)
    for (int j = 0; j < kB; ++j)
      if (masks[l].test(j) && pinOf(budget, l, j) != Pin::Keep && !renaInserts(masks, budget, l * kB + j).empty())
        out.push_back(l * kB + j);
  return out;
}

std::vector<std::pair<std::string, double>> renaResourceList(const RenaResources& r) {
  return {{"train_ms", r.train_ms}, {"train_mb", r.train_mb}, {"params", r.params}, {"intensity", r.intensity}};
}

void renaScore(RenaEvaluation& e, const RenaLimits& limits) {
  double over = 0;
  auto upper = [&](double value, double limit) {
    if (limit > 0) over += std::max(0.0, value / limit - 1);
  };
  upper(e.resources.train_ms, limits.train_ms);
  upper(e.resources.train_mb, limits.train_mb);
  upper(e.resources.params, limits.params);
  if (limits.min_intensity > 0)
    over += std::max(0.0, limits.min_intensity / std::max(e.resources.intensity, 1e-12) - 1);
  e.feasible = over == 0;
  e.reward = e.accuracy - limits.penalty * over;
}

// ----------------------------------------------------------------------------- the controller

RenaController::RenaController(std::vector<RenaLayerFeatures> layers, RenaOptions options)
    : layers_(std::move(layers)),
      options_(options),
      policy_(options.hidden),
      adam_(policy_->parameters(), torch::optim::AdamOptions(options.lr)) {}

RenaController::Proposal RenaController::propose(const std::vector<BranchMask>& parent,
                                                 const Budget& budget, torch::Generator& gen) {
  Proposal p;
  p.mask = parent;
  p.log_prob = torch::zeros({});
  p.entropy = torch::zeros({});
  for (int s = 0; s < options_.swaps; ++s) {
    const auto drops = renaDrops(p.mask, budget);
    if (drops.empty()) break;  // nothing can move: every proposal is the parent
    const auto logits = policy_->forward(renaTokens(layers_, p.mask));
    const auto drop_flat = logits.drop.reshape({-1});
    // The drop: one of the droppable positions, or the no-op (last).
    const auto choices = torch::cat({drop_flat.index_select(0, torch::tensor(std::vector<int64_t>(drops.begin(), drops.end()))),
                                     logits.noop.reshape({1})});
    const auto d = drawFrom(choices, gen);
    p.log_prob = p.log_prob + d.log_prob;
    p.entropy = p.entropy + d.entropy;
    if (d.index == static_cast<int64_t>(drops.size())) continue;  // no-op
    const RenaPosition drop = drops[d.index];
    const auto inserts = renaInserts(p.mask, budget, drop);
    const auto ins_logits = logits.insert.reshape({-1}).index_select(
        0, torch::tensor(std::vector<int64_t>(inserts.begin(), inserts.end())));
    const auto i = drawFrom(ins_logits, gen);
    p.log_prob = p.log_prob + i.log_prob;
    p.entropy = p.entropy + i.entropy;
    const RenaPosition insert = inserts[i.index];
    p.mask[drop / kB].reset(drop % kB);
    p.mask[insert / kB].set(insert % kB);
  }
  return p;
}

bool RenaController::fresh(const Entry& e, int64_t now) const {
  return options_.cache_steps > 0 && now - e.evaluated_at < options_.cache_steps;
}

RenaController::Entry RenaController::evaluated(const std::vector<BranchMask>& mask, int64_t now,
                                                const Evaluator& evaluate, bool* cached, int* evaluations) {
  const auto key = keyOf(mask);
  const auto it = cache_.find(key);
  if (it != cache_.end() && fresh(it->second, now)) {
    *cached = true;
    return it->second;
  }
  *cached = false;
  ++*evaluations;
  Entry e{mask, evaluate(mask), now};
  cache_[key] = e;
  return e;
}

RenaController::Update RenaController::update(const Budget& budget, torch::Generator& gen, int64_t now,
                                              const Evaluator& evaluate) {
  Update u;
  ++updates_;
  // Expired evaluations leave the cache (its size stays bounded by what cache_steps covers).
  for (auto it = cache_.begin(); it != cache_.end();)
    it = fresh(it->second, now) ? std::next(it) : cache_.erase(it);
  // The buffer: networks that no longer fit the budget (it was edited) leave; the others'
  // evaluations are renewed when they expired (the shared weights moved on).
  std::vector<Entry> parents;
  for (const auto& e : buffer_) {
    if (!renaMaskFits(e.mask, budget)) continue;
    bool cached = false;
    parents.push_back(fresh(e, now) ? e : evaluated(e.mask, now, evaluate, &cached, &u.evaluations));
  }
  std::vector<torch::Tensor> log_probs, entropies;
  std::vector<double> rewards;
  for (int c = 0; c < options_.children; ++c) {
    std::vector<BranchMask> parent;
    if (parents.empty()) {
      const auto seed = torch::randint(0, int64_t{1} << 62, {1}, gen, torch::kLong).item<int64_t>();
      parent = randomBranches(budget, static_cast<uint64_t>(seed));
    } else {
      parent = parents[torch::randint(0, static_cast<int64_t>(parents.size()), {1}, gen, torch::kLong).item<int64_t>()].mask;
    }
    auto p = propose(parent, budget, gen);
    RenaTrialRecord t;
    t.parent = parent;
    t.mask = p.mask;
    t.update = updates_;
    t.evaluation = evaluated(p.mask, now, evaluate, &t.cached, &u.evaluations).evaluation;
    log_probs.push_back(p.log_prob);
    entropies.push_back(p.entropy);
    rewards.push_back(t.evaluation.reward);
    u.trials.push_back(std::move(t));
  }
  // REINFORCE: advantage against the moving baseline (set to the first update's mean).
  u.mean_reward = std::accumulate(rewards.begin(), rewards.end(), 0.0) / std::max<size_t>(1, rewards.size());
  if (!has_baseline_) {
    baseline_ = u.mean_reward;
    has_baseline_ = true;
  }
  auto loss = torch::zeros({});
  auto entropy = torch::zeros({});
  for (size_t c = 0; c < rewards.size(); ++c) {
    loss = loss - static_cast<float>(rewards[c] - baseline_) * log_probs[c];
    entropy = entropy + entropies[c];
  }
  const double n = static_cast<double>(std::max<size_t>(1, rewards.size()));
  loss = loss / n - options_.entropy * entropy / n;
  u.entropy = entropy.item<double>() / n;
  u.loss = loss.item<double>();
  adam_.zero_grad();
  if (loss.requires_grad()) {
    loss.backward();
    adam_.step();
  }
  u.baseline = baseline_;
  baseline_ = options_.baseline_decay * baseline_ + (1 - options_.baseline_decay) * u.mean_reward;
  // The buffer keeps the best distinct networks: feasible ones first, by accuracy; then by reward.
  for (const auto& t : u.trials) {
    const auto key = keyOf(t.mask);
    if (std::none_of(parents.begin(), parents.end(), [&](const Entry& e) { return keyOf(e.mask) == key; }))
      parents.push_back(cache_.count(key) ? cache_[key] : Entry{t.mask, t.evaluation, now});
  }
  std::stable_sort(parents.begin(), parents.end(), [](const Entry& a, const Entry& b) {
    if (a.evaluation.feasible != b.evaluation.feasible) return a.evaluation.feasible;
    return a.evaluation.feasible ? a.evaluation.accuracy > b.evaluation.accuracy
                                 : a.evaluation.reward > b.evaluation.reward;
  });
  if (static_cast<int>(parents.size()) > options_.buffer) parents.resize(options_.buffer);
  buffer_ = std::move(parents);
  return u;
}

std::optional<std::vector<BranchMask>> RenaController::best(const Budget& budget) const {
  for (const auto& e : buffer_)  // best first
    if (renaMaskFits(e.mask, budget)) return e.mask;
  return std::nullopt;
}

std::vector<float> RenaController::keepProbabilities(const std::vector<BranchMask>& parent, const Budget& budget) {
  torch::NoGradGuard no_grad;
  const int L = static_cast<int>(parent.size());
  std::vector<float> out(static_cast<size_t>(L) * kB, 0.f);
  for (int l = 0; l < L; ++l)
    for (int j = 0; j < kB; ++j) out[l * kB + j] = parent[l].test(j) ? 1.f : 0.f;
  const auto drops = renaDrops(parent, budget);
  if (drops.empty()) return out;
  const auto logits = policy_->forward(renaTokens(layers_, parent));
  const auto drop_flat = logits.drop.reshape({-1});
  const auto insert_flat = logits.insert.reshape({-1});
  const auto p_drop = torch::softmax(
      torch::cat({drop_flat.index_select(0, torch::tensor(std::vector<int64_t>(drops.begin(), drops.end()))),
                  logits.noop.reshape({1})}),
      0);
  for (size_t d = 0; d < drops.size(); ++d) {
    const float pd = p_drop[static_cast<int64_t>(d)].item<float>();
    out[drops[d]] -= pd;
    const auto inserts = renaInserts(parent, budget, drops[d]);
    const auto p_ins = torch::softmax(
        insert_flat.index_select(0, torch::tensor(std::vector<int64_t>(inserts.begin(), inserts.end()))), 0);
    for (size_t i = 0; i < inserts.size(); ++i) out[inserts[i]] += pd * p_ins[static_cast<int64_t>(i)].item<float>();
  }
  return out;
}

namespace {
// Entries as tensors: masks [N, L·6] int, and per entry its numbers [N, 8] double.
void writeEntries(torch::serialize::OutputArchive& a, const std::string& name,
                  const std::vector<std::vector<BranchMask>>& masks, const std::vector<RenaEvaluation>& evals,
                  const std::vector<int64_t>& when) {
  const int64_t n = static_cast<int64_t>(masks.size());
  const int64_t width = n ? static_cast<int64_t>(masks[0].size()) * kB : 0;
  auto bits = torch::zeros({n, width}, torch::kInt);
  auto numbers = torch::zeros({n, 8}, torch::kDouble);
  for (int64_t i = 0; i < n; ++i) {
    const auto b = maskToBits(masks[i]);
    for (int64_t j = 0; j < width; ++j) bits[i][j] = b[j];
    const auto& e = evals[i];
    const double v[8] = {e.accuracy, e.resources.train_ms, e.resources.train_mb, e.resources.params,
                         e.resources.intensity, e.reward, e.feasible ? 1.0 : 0.0, static_cast<double>(when[i])};
    for (int k = 0; k < 8; ++k) numbers[i][k] = v[k];
  }
  a.write(name + "_masks", bits);
  a.write(name + "_numbers", numbers);
}

template <typename Entry>
std::vector<Entry> readEntries(torch::serialize::InputArchive& a, const std::string& name) {
  torch::Tensor bits, numbers;
  a.read(name + "_masks", bits);
  a.read(name + "_numbers", numbers);
  if (bits.dim() != 2 || numbers.dim() != 2 || numbers.size(1) != 8 || bits.size(0) != numbers.size(0) ||
      bits.size(1) % kB != 0)
    throw Error("the checkpoint's RENA " + name + " is malformed");
  std::vector<Entry> out;
  const auto b = bits.contiguous();
  const auto num = numbers.contiguous();
  for (int64_t i = 0; i < bits.size(0); ++i) {
    std::vector<int> row(b[i].data_ptr<int>(), b[i].data_ptr<int>() + bits.size(1));
    Entry e;
    e.mask = maskFromBits(row);
    const auto row_numbers = num[i];
    const auto v = row_numbers.accessor<double, 1>();
    e.evaluation.accuracy = v[0];
    e.evaluation.resources = {v[1], v[2], v[3], v[4]};
    e.evaluation.reward = v[5];
    e.evaluation.feasible = v[6] != 0;
    e.evaluated_at = static_cast<int64_t>(v[7]);
    out.push_back(std::move(e));
  }
  return out;
}
}  // namespace

void RenaController::save(torch::serialize::OutputArchive& a) const {
  torch::serialize::OutputArchive policy, adam;
  policy_->save(policy);
  adam_.save(adam);
  a.write("policy", policy);
  a.write("adam", adam);
  auto put = [&](const std::string& name, auto begin, auto end) {
    std::vector<std::vector<BranchMask>> masks;
    std::vector<RenaEvaluation> evals;
    std::vector<int64_t> when;
    for (auto it = begin; it != end; ++it) {
      const Entry& e = *it;
      masks.push_back(e.mask);
      evals.push_back(e.evaluation);
      when.push_back(e.evaluated_at);
    }
    writeEntries(a, name, masks, evals, when);
  };
  put("buffer", buffer_.begin(), buffer_.end());
  std::vector<Entry> cached;
  for (const auto& [key, e] : cache_) cached.push_back(e);
  put("cache", cached.begin(), cached.end());
  a.write("state", torch::tensor({baseline_, has_baseline_ ? 1.0 : 0.0, static_cast<double>(updates_)},
                                 torch::kDouble));
}

void RenaController::load(torch::serialize::InputArchive& a) {
  torch::serialize::InputArchive policy, adam;
  a.read("policy", policy);
  a.read("adam", adam);
  policy_->load(policy);
  adam_.load(adam);
  buffer_ = readEntries<Entry>(a, "buffer");
  cache_.clear();
  for (auto& e : readEntries<Entry>(a, "cache")) cache_[keyOf(e.mask)] = e;
  torch::Tensor state;
  a.read("state", state);
  if (state.numel() != 3) throw Error("the checkpoint's RENA state is malformed");
  const auto s = state.to(torch::kDouble).contiguous();
  baseline_ = s[0].item<double>();
  has_baseline_ = s[1].item<double>() != 0;
  updates_ = static_cast<int>(s[2].item<double>());
}

// ----------------------------------------------------------------------------- the strategy

RenaStrategy::RenaStrategy(const BackboneSpec& backbone, const RunConfig& c)
    : info_(strategyInfo(c.mode)), config_(c), backbone_(backbone) {
  limits_.train_ms = c.rena_limit_ms;
  limits_.train_mb = c.rena_limit_mb;
  limits_.params = c.rena_limit_params;
  limits_.min_intensity = c.rena_min_intensity;
  limits_.penalty = c.rena_penalty;
  RenaOptions o;
  o.children = c.rena_children;
  o.swaps = c.rena_swaps;
  o.buffer = c.rena_buffer;
  o.cache_steps = c.rena_cache_steps;
  o.lr = c.rena_lr;
  o.entropy = c.rena_entropy;
  o.baseline_decay = c.rena_baseline_decay;
  o.hidden = c.rena_hidden;
  controller_ = std::make_unique<RenaController>(renaLayerFeatures(backbone, nullptr), o);
  importance_.assign(static_cast<size_t>(backbone.numLayers()) * kB, 0.f);
  // The folded network's compute intensity: per layer one KxK conv, batch 1, float32.
  double flops = 0, bytes = 0;
  int h = backbone.input_height, w = backbone.input_width;
  for (const auto& layer : backbone.layers) {
    const auto& b = layer.block;
    const int ho = (h - 1) / b.stride + 1, wo = (w - 1) / b.stride + 1;
    const double weights = static_cast<double>(b.out_channels) * (b.in_channels / b.groups) * b.kernel_size * b.kernel_size;
    flops += 2 * weights * ho * wo;
    bytes += 4 * (weights + b.out_channels + static_cast<double>(b.in_channels) * h * w +
                  static_cast<double>(b.out_channels) * ho * wo);
    h = ho;
    w = wo;
  }
  intensity_ = bytes > 0 ? flops / bytes : 0;
}

RenaResources RenaStrategy::resources(const std::vector<BranchMask>& masks, const BranchCostTable* costs) const {
  RenaResources r;
  if (costs) {
    r.train_ms = costs->msOf(masks);
    r.train_mb = costs->mbOf(masks);
  }
  r.params = base_params_;
  for (size_t l = 0; l < masks.size() && l < branch_params_.size(); ++l)
    for (int j = 0; j < kB; ++j)
      if (masks[l].test(j)) r.params += branch_params_[l][j];
  r.intensity = intensity_;  // every subset folds to the same convs: the same for every mask
  return r;
}

RenaEvaluation RenaStrategy::evaluate(SearchContext& ctx, const std::vector<BranchMask>& masks) const {
  torch::NoGradGuard no_grad;
  auto& net = ctx.network;
  // The supernet's statistics and training mode come back however the evaluation ends.
  struct Restore {
    Network& net;
    NetworkImpl::BatchNormStatistics saved;
    ~Restore() {
      net->restoreBatchNormStatistics(saved);
      net->train();
    }
  } restore{net, net->batchNormStatistics()};
  RenaEvaluation e;
  net->recalibrateBatchNorm(masks, ctx.recalibration_images(config_.rena_bn_batches));
  net->eval();
  int64_t correct = 0, seen = 0;
  for (int i = 0; i < config_.rena_val_batches; ++i) {
    const auto b = ctx.fixed_validation_batch(i);
    correct += net->forward(b.x, masks).argmax(1).eq(b.labels).sum().item<int64_t>();
    seen += b.size();
  }
  e.accuracy = static_cast<double>(correct) / std::max<int64_t>(1, seen);
  e.resources = resources(masks, ctx.budget->costs.get());
  renaScore(e, limits_);
  return e;
}

StepOutcome RenaStrategy::step(SearchContext& ctx) {
  if (!features_have_costs_) {  // the run's measured costs and the network's parameter counts
    controller_->setLayers(renaLayerFeatures(backbone_, ctx.budget->costs.get()));
    branch_params_.assign(backbone_.numLayers(), {});
    double total = 0;
    for (const auto& item : ctx.network->named_parameters()) {
      const double n = static_cast<double>(item.value().numel());
      total += n;
      for (int l = 0; l < backbone_.numLayers(); ++l)
        for (BranchKind k : kAllBranchKinds)
          if (item.key().rfind("layer" + std::to_string(l) + "." + std::string(branchName(k)) + ".", 0) == 0)
            branch_params_[l][static_cast<int>(k)] += n;
    }
    base_params_ = total;
    for (const auto& layer : branch_params_)
      for (double n : layer) base_params_ -= n;
    features_have_costs_ = true;
  }
  StepOutcome out;
  // The supernet's step: a mask drawn uniformly from the masks the budget allows.
  auto gen = ctx.random(2);
  const auto seed = torch::randint(0, int64_t{1} << 62, {1}, gen, torch::kLong).item<int64_t>();
  out.selection.masks = randomBranches(*ctx.budget, static_cast<uint64_t>(seed));
  out.trained = ctx.trainer->step(ctx.training_batch(), out.selection);
  if (ctx.phase == Phase::Search && ++search_steps_ % std::max(1, config_.rena_update_every) == 0) {
    auto controller_gen = ctx.random(4);
    const auto u = controller_->update(*ctx.budget, controller_gen, ctx.step,
                                       [&](const std::vector<BranchMask>& m) { return evaluate(ctx, m); });
    for (const auto& t : u.trials) {
      Trial trial;
      trial.index = trials_++;
      trial.step = ctx.step;
      trial.update = t.update;
      trial.mask = t.mask;
      trial.parent = t.parent;
      trial.val_accuracy = t.evaluation.accuracy;
      trial.resources = renaResourceList(t.evaluation.resources);
      trial.reward = t.evaluation.reward;
      trial.feasible = t.evaluation.feasible;
      trial.cached = t.cached;
      out.trials.push_back(std::move(trial));
    }
    double best_accuracy = 0;
    for (const auto& t : u.trials) best_accuracy = std::max(best_accuracy, t.evaluation.accuracy);
    const double values[] = {best_accuracy, u.loss, static_cast<double>(controller_->updates()),
                             static_cast<double>(u.evaluations), u.entropy, u.baseline, u.mean_reward};
    last_metrics_.clear();
    for (size_t i = 0; i < kMetricNames.size(); ++i) last_metrics_[kMetricNames[i]] = values[i];
    if (const auto best = controller_->best(*ctx.budget))
      importance_ = controller_->keepProbabilities(*best, *ctx.budget);
  }
  out.metrics = last_metrics_;
  return out;
}

std::vector<BranchMask> RenaStrategy::derive(const Budget& budget) const {
  if (const auto best = controller_->best(budget)) return *best;
  // Before the first update (or after a budget edit no buffered network fits): the branches
  // the controller's last keep probabilities favour, under the budget.
  return selectBudgetBranches(std::vector<double>(importance_.begin(), importance_.end()), budget);
}

void RenaStrategy::save(torch::serialize::OutputArchive& checkpoint) const {
  torch::serialize::OutputArchive a;
  controller_->save(a);
  a.write("counters", torch::tensor({search_steps_, trials_}, torch::kLong));
  a.write("importance", torch::tensor(importance_));
  std::vector<double> metrics;  // the last update's numbers, by name (sorted: the map's order)
  for (const auto& [name, v] : last_metrics_) metrics.push_back(v);
  a.write("metrics", torch::tensor(metrics, torch::kDouble));
  checkpoint.write("rena", a);
}

void RenaStrategy::load(torch::serialize::InputArchive& checkpoint) {
  torch::serialize::InputArchive a;
  checkpoint.read("rena", a);
  controller_->load(a);
  torch::Tensor counters, importance;
  a.read("counters", counters);
  a.read("importance", importance);
  if (counters.numel() != 2 || importance.numel() != static_cast<int64_t>(importance_.size()))
    throw Error("the checkpoint's RENA counters do not fit this network");
  torch::Tensor metrics;
  a.read("metrics", metrics);
  last_metrics_.clear();
  if (metrics.numel() > 0) {
    if (metrics.numel() != static_cast<int64_t>(kMetricNames.size()))
      throw Error("the checkpoint's RENA metrics do not fit this program");
    for (size_t i = 0; i < kMetricNames.size(); ++i)
      last_metrics_[kMetricNames[i]] = metrics[static_cast<int64_t>(i)].item<double>();
  }
  search_steps_ = counters[0].item<int64_t>();
  trials_ = counters[1].item<int64_t>();
  const auto imp = importance.to(torch::kFloat).contiguous();
  importance_.assign(imp.data_ptr<float>(), imp.data_ptr<float>() + imp.numel());
}

std::unique_ptr<RenaStrategy> makeRenaStrategy(const BackboneSpec& backbone, const RunConfig& config) {
  return std::make_unique<RenaStrategy>(backbone, config);
}

}  // namespace repnas
