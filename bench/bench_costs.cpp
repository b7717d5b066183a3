// repnas-bench costs (issue 17): is the cost model right, is the selection fast enough, and does
// a search under an ms-per-step budget find a network that meets it?
//  1. additivity: the engine's training step of random masks (and the least and every-branch
//     masks), measured interleaved, against base + Σ branches of the machine's cost table;
//  2. the selection's time per call (count budget, and binding ms limits solved by CBC) for
//     RepNAS's per-branch and GDAS's per-subset scores, on tiny (8 layers) and repvgg-a0 (22);
//  3. a short RepNAS search on Fashion-MNIST under budget_ms, its found mask's step measured.
#include <torch/torch.h>

#include <malloc.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "bench_costs.h"
#include "bench_util.h"
#include "repnas/backbone.h"
#include "repnas/config.h"
#include "repnas/costs.h"
#include "repnas/engine.h"
#include "repnas/runtime.h"
#include "search/cost_selection.h"
#include "search/strategy.h"

namespace repnas::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

double heapInUse() {
  const auto m = mallinfo2();
  return static_cast<double>(m.uordblks) + static_cast<double>(m.hblkhd);
}

struct StepTimes {
  std::vector<double> ms;  ///< per mask: median over the rounds
  std::vector<double> mb;  ///< per mask: heap its forward keeps (median)
};

/// The engine's training step (WeightTrainer, lr 0) of each mask, interleaved: `rounds` rounds
/// after one warm-up round, every mask once per round.
StepTimes timeSteps(const BackboneSpec& spec, const std::vector<std::vector<BranchMask>>& masks, int batch,
                    int rounds) {
  torch::manual_seed(1);
  Network net(spec);
  net->train();
  auto sgd = torch::optim::SGD(net->parameters(), torch::optim::SGDOptions(0.0).momentum(0.9));
  WeightTrainer trainer(net, sgd, 5.0);
  Batch b{torch::randn({batch, spec.in_channels, spec.input_height, spec.input_width}),
          torch::randint(spec.num_classes, {batch}, torch::TensorOptions().dtype(torch::kLong))};
  std::vector<std::vector<double>> ms(masks.size()), mb(masks.size());
  for (int round = 0; round <= rounds; ++round)
    for (size_t i = 0; i < masks.size(); ++i) {
      const auto t0 = Clock::now();
      trainer.step(b, {masks[i], {}});
      const double t = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      const double before = heapInUse();
      auto logits = net->forward(b.x, masks[i], {});
      const double kept = heapInUse() - before - static_cast<double>(logits.nbytes());
      logits = torch::Tensor();
      if (round == 0) continue;
      ms[i].push_back(t);
      mb[i].push_back(kept / (1024.0 * 1024.0));
    }
  StepTimes out;
  for (size_t i = 0; i < masks.size(); ++i) {
    out.ms.push_back(median(ms[i]));
    out.mb.push_back(median(mb[i]));
  }
  return out;
}

std::vector<BranchMask> leastMask(const BackboneSpec& spec) {
  std::vector<BranchMask> least(spec.numLayers());
  const auto identity = spec.layerHasIdentity();
  for (int l = 0; l < spec.numLayers(); ++l)
    if (!identity[l]) least[l].set(static_cast<int>(BranchKind::OneByOne));
  return least;
}

TrainingCosts tableFor(const BackboneSpec& spec, int batch, int threads, int repeats) {
  CostRequest r;
  r.backbone = spec;
  r.batch = batch;
  r.threads = threads;
  r.repeats = repeats;
  return cachedTrainingCosts(r, defaultCostCachePath(r), /*remeasure=*/false);
}

nlohmann::json additivity(const BackboneSpec& spec, const TrainingCosts& costs, int batch, int rounds) {
  const auto table = trainingCostTable(costs);
  std::vector<std::vector<BranchMask>> masks = {leastMask(spec),
                                                std::vector<BranchMask>(spec.numLayers(), allBranches())};
  std::vector<std::string> names = {"least", "every branch"};
  Budget b = defaultBudget(spec.layerHasIdentity());
  for (int i = 0; i < 12; ++i) {
    b.k = 8 + 8 * (i % 5);  // 8..40 branches
    masks.push_back(randomBranches(b, 1000 + i));
    names.push_back("random k=" + std::to_string(b.k));
  }
  const auto measured = timeSteps(spec, masks, batch, rounds);
  nlohmann::json rows = nlohmann::json::array();
  std::vector<double> err_ms, err_mb;
  std::printf("\n1. additivity (%s, batch %d, %d rounds): the engine's step against base + Σ branches\n",
              spec.name.c_str(), batch, rounds);
  std::printf("%-16s %10s %10s %8s %10s %10s %8s\n", "mask", "ms", "predicted", "error", "MiB", "predicted",
              "error");
  for (size_t i = 0; i < masks.size(); ++i) {
    const double pm = table.msOf(masks[i]), pb = table.mbOf(masks[i]);
    const double em = 100 * (pm / measured.ms[i] - 1);
    const double eb = measured.mb[i] > 0 ? 100 * (pb / measured.mb[i] - 1) : 0;
    if (i >= 2) {  // the random masks; least and every-branch went into the base and the check
      err_ms.push_back(std::abs(em));
      err_mb.push_back(std::abs(eb));
    }
    std::printf("%-16s %10.2f %10.2f %+7.1f%% %10.1f %10.1f %+7.1f%%\n", names[i].c_str(), measured.ms[i], pm, em,
                measured.mb[i], pb, eb);
    rows.push_back({{"mask", names[i]}, {"branches", countBranches(masks[i])}, {"ms", measured.ms[i]},
                    {"predicted_ms", pm}, {"ms_error_percent", em}, {"mb", measured.mb[i]},
                    {"predicted_mb", pb}, {"mb_error_percent", eb}});
  }
  std::printf("random masks: |ms error| median %.1f%%, max %.1f%%; |MiB error| median %.1f%%, max %.1f%%\n",
              median(err_ms), quantile(err_ms, 1.0), median(err_mb), quantile(err_mb, 1.0));
  return {{"backbone", spec.name}, {"batch", batch}, {"rounds", rounds}, {"masks", rows},
          {"abs_ms_error_percent_median", median(err_ms)}, {"abs_ms_error_percent_max", quantile(err_ms, 1.0)},
          {"abs_mb_error_percent_median", median(err_mb)}, {"abs_mb_error_percent_max", quantile(err_mb, 1.0)}};
}

/// Mean predicted ms of uniform masks of the default k.
double meanRandomMs(const BackboneSpec& spec, const BranchCostTable& table) {
  Budget b = defaultBudget(spec.layerHasIdentity());
  double sum = 0;
  for (int i = 0; i < 200; ++i) sum += table.msOf(randomBranches(b, 5000 + i));
  return sum / 200;
}

nlohmann::json selectionTimes(const BackboneSpec& spec, const TrainingCosts& costs, int calls) {
  auto table = std::make_shared<const BranchCostTable>(trainingCostTable(costs));
  const int layers = spec.numLayers();
  std::mt19937 rng(7);
  std::normal_distribution<double> normal(0, 1);
  std::extreme_value_distribution<double> gumbel(0, 1);
  nlohmann::json rows = nlohmann::json::array();
  const double typical = meanRandomMs(spec, *table);
  struct Case {
    std::string name;
    double ms_factor;  // the limit as a fraction of a uniform mask's mean cost; 0: none
    bool subsets;      // GDAS's per-subset scores
  };
  for (const Case& c : {Case{"count only (top-k)", 0, false}, Case{"ms <= 0.85 x mean", 0.85, false},
                        Case{"ms <= 0.7 x mean", 0.7, false}, Case{"GDAS count only (DP)", 0, true},
                        Case{"GDAS ms <= 0.85 x mean", 0.85, true}}) {
    Budget b = defaultBudget(spec.layerHasIdentity());
    b.costs = table;
    b.max_ms = c.ms_factor * typical;
    std::vector<double> ms;
    int solved = 0;
    for (int call = 0; call < calls; ++call) {
      std::vector<double> scores(layers * kNumBranchKinds);
      for (auto& v : scores) v = normal(rng);
      std::vector<std::vector<double>> subset_scores;
      if (c.subsets) {
        subset_scores.assign(layers, std::vector<double>(kNumSubsets));
        for (int l = 0; l < layers; ++l)
          for (int s = 0; s < kNumSubsets; ++s) subset_scores[l][s] = subsetSum(s, &scores[l * kNumBranchKinds]) + gumbel(rng);
      }
      double solve = 0;
      const auto t0 = Clock::now();
      std::vector<BranchMask> masks;
      if (c.subsets) {
        for (SubsetBits s : selectSubsets(subset_scores, b, &solve)) masks.emplace_back(static_cast<unsigned long>(s));
      } else {
        masks = selectBudgetBranches(scores, b);
      }
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (b.max_ms > 0 && table->msOf(masks) > b.max_ms + 1e-9) throw std::runtime_error("a selection broke its limit");
      if (c.subsets) solved += solve > 0;
      else if (b.max_ms > 0) {
        Budget count = b;
        count.max_ms = 0;
        solved += table->msOf(selectBranches(scores, count)) > b.max_ms;
      }
    }
    std::printf("%-12s %-24s %10.3f %10.3f %10.3f %9.0f%%\n", spec.name.c_str(), c.name.c_str(), median(ms),
                quantile(ms, 0.9), quantile(ms, 1.0), 100.0 * solved / calls);
    rows.push_back({{"backbone", spec.name}, {"layers", layers}, {"case", c.name}, {"max_ms", b.max_ms},
                    {"calls", calls}, {"ms_median", median(ms)}, {"ms_p90", quantile(ms, 0.9)},
                    {"ms_max", quantile(ms, 1.0)}, {"cbc_share", static_cast<double>(solved) / calls}});
  }
  return rows;
}

nlohmann::json budgetSearch(const CostsOptions& opt, const TrainingCosts& costs, const BackboneSpec& spec) {
  const auto table = trainingCostTable(costs);
  const double limit = 0.8 * meanRandomMs(spec, table);
  RunConfig c;
  c.train_limit = opt.train_limit;
  c.test_limit = 2000;
  c.warmup_epochs = 1;
  c.search_epochs = 1;
  c.fixed_epochs = 1;
  c.threads = opt.threads;
  c.seed = 1;
  c.budget_ms = limit;
  const auto dir = fs::path(opt.runs_dir) / "costs-search";
  fs::remove_all(dir);
  std::printf("\n3. a RepNAS search on Fashion-MNIST (%lld training images, 1+1+1 epochs) under ms per step <= %.1f\n",
              static_cast<long long>(c.train_limit), limit);
  const auto t0 = Clock::now();
  Engine engine(c, dir.string());
  const auto result = engine.run();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (result.status != "completed") throw std::runtime_error("the search " + result.status + ": " + result.message);
  // The found mask's step, interleaved with uniform masks of the same k, on a table measured
  // again now (the machine drifts: the run's own table was measured before the search).
  CostRequest r;
  r.backbone = spec;
  r.batch = c.batch_size;
  r.threads = opt.threads;
  const auto fresh = trainingCostTable(measureTrainingCosts(r));
  Budget b = defaultBudget(spec.layerHasIdentity());
  std::vector<std::vector<BranchMask>> masks = {result.mask};
  for (int i = 0; i < 4; ++i) masks.push_back(randomBranches(b, 7000 + i));
  const auto measured = timeSteps(spec, masks, c.batch_size, opt.rounds);
  std::printf("%-22s %10s %14s %14s\n", "mask", "measured ms", "run's table", "table now");
  for (size_t i = 0; i < masks.size(); ++i)
    std::printf("%-22s %10.2f %14.2f %14.2f\n", i == 0 ? "found (budget)" : "uniform k=16", measured.ms[i],
                table.msOf(masks[i]), fresh.msOf(masks[i]));
  const double found = measured.ms[0];
  std::printf("found network: %d branches, test %.2f%%, step %.1f ms measured vs the budget %.1f ms: %s "
              "(search %.0f s)\n",
              countBranches(result.mask), 100 * result.test_accuracy.value_or(0), found, limit,
              found <= limit ? "meets it" : "over it", seconds);
  std::vector<double> uniform(measured.ms.begin() + 1, measured.ms.end());
  return {{"limit_ms", limit}, {"train_limit", c.train_limit}, {"search_seconds", seconds},
          {"found_branches", countBranches(result.mask)}, {"test_accuracy", result.test_accuracy.value_or(0)},
          {"found_ms_measured", found}, {"found_ms_predicted_run_table", table.msOf(result.mask)},
          {"found_ms_predicted_table_now", fresh.msOf(result.mask)}, {"uniform_ms_measured", uniform},
          {"meets_budget", found <= limit}};
}

}  // namespace

int benchCosts(const CostsOptions& opt) {
  setComputeThreads(opt.threads);
  const auto t0 = Clock::now();
  const auto tiny = makeBackbone("tiny", 1, 28, 28, 10);
  const auto tiny_costs = tableFor(tiny, 128, opt.threads, 7);
  nlohmann::json out = {{"benchmark", "costs"}, {"date", utcNow()},
                        {"machine", {{"cpu", cpuModelName()}, {"threads", opt.threads}}},
                        {"torch", torchVersion()}};
  out["additivity"] = additivity(tiny, tiny_costs, 128, opt.rounds);
  std::printf("\n2. the selection's time per call (random scores; the limit a fraction of a uniform k-mask's mean cost)\n");
  std::printf("%-12s %-24s %10s %10s %10s %10s\n", "backbone", "budget", "median ms", "p90 ms", "max ms", "CBC needed");
  auto rows = selectionTimes(tiny, tiny_costs, opt.calls);
  const auto a0 = makeBackbone("repvgg-a0", 1, 28, 28, 10);
  const auto a0_costs = tableFor(a0, 16, opt.threads, 2);  // the solve time, not the table, is measured here
  for (auto& row : selectionTimes(a0, a0_costs, opt.calls)) rows.push_back(row);
  out["selection"] = rows;
  if (opt.search) out["search"] = budgetSearch(opt, tiny_costs, tiny);
  out["seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
  writeJsonAtomically(opt.out, out);
  std::printf("\nwrote %s (%.0f s)\n", opt.out.c_str(), out["seconds"].get<double>());
  return 0;
}

}  // namespace repnas::bench
