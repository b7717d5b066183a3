// The cost model (repnas/costs.h): every (layer, branch) of a backbone timed alone, forward +
// backward at the run's batch, interleaved over the branches, and the heap its forward keeps.
#include "repnas/costs.h"

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "formats/atomic_file.h"
#include "formats/input_file.h"
#include "formats/json_fields.h"
#include "nn/network.h"
#include "search/strategy.h"
#include "repnas/error.h"
#include "repnas/runtime.h"

namespace repnas {

namespace fs = std::filesystem;

namespace {

// Format 3: a branch's MiB leaves out its output (the network sums outputs at once); format 2
// counted it; format 1 had no base and no all-branches step. Older tables still read (a run
// folder's), the cache measures them again.
constexpr int kCostsFormatVersion = 3;
std::string formatName(int version) { return "repnas-costs-" + std::to_string(version); }

/// Bytes the process's heap holds in use (glibc: small blocks and mmapped ones).
double heapInUse() {
  const auto m = mallinfo2();
  return static_cast<double>(m.uordblks) + static_cast<double>(m.hblkhd);
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(at);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (at - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

nlohmann::json costJson(const BranchCost& c) {
  if (!c.present) return nullptr;
  return {{"ms", c.ms}, {"ms_low", c.ms_low}, {"ms_high", c.ms_high}, {"mb", c.mb}};
}

BranchCost costFromJson(const nlohmann::json& j) {
  BranchCost c;
  if (j.is_null()) return c;
  c.present = true;
  c.ms = numberField(j, "ms");
  c.ms_low = numberField(j, "ms_low");
  c.ms_high = numberField(j, "ms_high");
  c.mb = numberField(j, "mb");
  return c;
}

/// A table with only the cache key of `r` filled in (what measuring under it would record).
TrainingCosts keyOf(const CostRequest& r) {
  TrainingCosts key;
  key.backbone = r.backbone.name;
  key.in_channels = r.backbone.in_channels;
  key.height = r.backbone.input_height;
  key.width = r.backbone.input_width;
  key.classes = r.backbone.num_classes;
  key.batch = r.batch;
  key.threads = r.threads > 0 ? r.threads : hardwareThreads();
  key.cpu = cpuModelName();
  key.torch_version = torchVersion();
  return key;
}

}  // namespace

bool TrainingCosts::sameKey(const TrainingCosts& o) const {
  return backbone == o.backbone && in_channels == o.in_channels && height == o.height &&
         width == o.width && classes == o.classes && batch == o.batch && threads == o.threads &&
         cpu == o.cpu && torch_version == o.torch_version;
}

std::string cpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto name = line.substr(colon + 1);
    name.erase(0, name.find_first_not_of(" \t"));
    return name.empty() ? "unknown" : clippedText(name, 200);
  }
  return "unknown";
}

TrainingCosts measureTrainingCosts(const CostRequest& request) {
  const auto& spec = request.backbone;
  if (request.batch < 1 || request.batch > 4096) throw Error("costs: batch must be between 1 and 4096");
  if (request.repeats < 1 || request.repeats > 1000) throw Error("costs: repeats must be between 1 and 1000");
  const auto t0 = std::chrono::steady_clock::now();
  TrainingCosts out = keyOf(request);
  out.repeats = request.repeats;

  // The process's thread count and global random stream are put back afterwards (the GUI may
  // measure beside a run).
  struct Restore {
    int threads = torch::get_num_threads();
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    at::Tensor state = gen.get_state();
    ~Restore() {
      setComputeThreads(threads);
      gen.set_state(state);
    }
  } restore;
  out.threads = setComputeThreads(request.threads);

  torch::manual_seed(1);
  Network net(spec);
  net->train();
  const std::vector<BranchMask> all(spec.numLayers(), allBranches());
  // One task per (layer, branch): its module and the shape of its layer's input.
  struct Task {
    int layer;
    int kind;  // a BranchKind, or -1: the identity branch
    std::shared_ptr<BranchImpl> module;
    torch::Tensor input;
    std::vector<double> ms, bytes;
  };
  std::vector<Task> tasks;
  {
    torch::NoGradGuard no_grad;
    const auto probe = torch::zeros({1, spec.in_channels, spec.input_height, spec.input_width});
    for (int l = 0; l < spec.numLayers(); ++l) {
      auto shape = net->layerInput(probe, all, l).sizes().vec();
      shape[0] = request.batch;
      const auto input = torch::randn(shape);
      const auto block = net->block(l);
      for (BranchKind k : kAllBranchKinds)
        if (auto b = block->branch(k)) tasks.push_back({l, static_cast<int>(k), b, input, {}, {}});
      if (auto id = block->identity()) tasks.push_back({l, -1, id, input, {}, {}});
    }
  }
  // The engine's training step on the least mask and on every branch (random labels; lr 0,
  // so the weights stay as they are). The least mask: each layer's identity, or its 1x1 branch
  // (the first it has) where it has no identity.
  std::vector<BranchMask> least(spec.numLayers());
  for (int l = 0; l < spec.numLayers(); ++l) {
    const auto block = net->block(l);
    if (block->identity()) continue;
    for (BranchKind k : {BranchKind::OneByOne, BranchKind::KxK, BranchKind::OneByK, BranchKind::KByOne,
                         BranchKind::OneByOneKxK, BranchKind::OneByOneAvg})
      if (block->branch(k)) {
        least[l].set(static_cast<int>(k));
        break;
      }
  }
  auto sgd = torch::optim::SGD(net->parameters(), torch::optim::SGDOptions(0.0).momentum(0.9));
  WeightTrainer trainer(net, sgd, /*grad_clip=*/5.0);
  Batch batch{torch::randn({request.batch, spec.in_channels, spec.input_height, spec.input_width}),
              torch::randint(spec.num_classes, {request.batch}, torch::TensorOptions().dtype(torch::kLong))};
  struct StepTask {
    std::vector<BranchMask> masks;
    std::vector<double> ms, bytes;
  };
  StepTask least_step{least, {}, {}}, all_step{all, {}, {}};

  // A branch's ms is its marginal cost in the engine's step, where the clipping, the update of
  // its parameters and the sum of the outputs are paid too (alone, a branch's forward and
  // backward miss 4–10% of what a network of them takes): a step of the least mask with the
  // branch added, minus one without it. The least mask's own branch (a layer without identity)
  // is measured beside another: (least with both) minus (least with the other instead).
  struct Marginal {
    std::vector<BranchMask> with, without;  // `without` empty: the least mask
    std::vector<double> ms;
  };
  std::vector<Marginal> marginals(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    if (t.kind < 0) continue;
    auto& m = marginals[i];
    m.with = least;
    if (!least[t.layer].test(t.kind)) {
      m.with[t.layer].set(t.kind);
      continue;
    }
    for (const auto& other : tasks)  // the other branch: the first present one
      if (other.layer == t.layer && other.kind >= 0 && other.kind != t.kind) {
        m.with[t.layer].set(other.kind);
        m.without = m.with;
        m.without[t.layer].reset(t.kind);
        break;
      }
    if (m.without.empty()) m.with.clear();  // a layer of one branch: its cost alone
  }
  using Clock = std::chrono::steady_clock;
  auto stepMs = [&](const std::vector<BranchMask>& masks) {
    const auto start = Clock::now();
    trainer.step(batch, {masks, {}});
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  };

  for (int round = 0; round <= request.repeats; ++round) {  // round 0 warms up
    for (auto& t : tasks) {
      const double heap_before = heapInUse();
      const auto start = Clock::now();
      auto y = t.module->forward(t.input);
      // What the forward keeps for the backward, without the output itself: in the network
      // the branches' outputs are summed at once and only what their backward needs stays.
      const double kept = heapInUse() - heap_before - static_cast<double>(y.nbytes());
      y.sum().backward();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      y = torch::Tensor();
      if (round == 0) continue;
      t.ms.push_back(ms);
      t.bytes.push_back(kept);
    }
    net->zero_grad();
    // The least mask's step at the start and the end of the round: the reference of the round.
    const double least_before = stepMs(least);
    std::vector<double> with_ms(tasks.size(), 0.0), without_ms(tasks.size(), 0.0);
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (marginals[i].with.empty()) continue;
      with_ms[i] = stepMs(marginals[i].with);
      if (!marginals[i].without.empty()) without_ms[i] = stepMs(marginals[i].without);
    }
    const double least_ms = 0.5 * (least_before + stepMs(least));
    for (auto* st : {&least_step, &all_step}) {
      const double ms = st == &least_step ? least_ms : stepMs(st->masks);
      const double heap_before = heapInUse();
      auto logits = net->forward(batch.x, st->masks, {});
      const double kept = heapInUse() - heap_before - static_cast<double>(logits.nbytes());
      logits = torch::Tensor();
      if (round == 0) continue;
      st->ms.push_back(ms);
      st->bytes.push_back(kept);
    }
    if (round == 0) continue;
    for (size_t i = 0; i < tasks.size(); ++i)
      if (!marginals[i].with.empty())
        marginals[i].ms.push_back(with_ms[i] - (marginals[i].without.empty() ? least_ms : without_ms[i]));
  }
  auto summary = [](const std::vector<double>& ms, const std::vector<double>& bytes) {
    BranchCost c;
    c.present = true;
    c.ms = quantile(ms, 0.5);
    c.ms_low = quantile(ms, 0.25);
    c.ms_high = quantile(ms, 0.75);
    c.mb = std::max(0.0, quantile(bytes, 0.5)) / (1024.0 * 1024.0);
    return c;
  };
  out.branches.assign(spec.numLayers(), {});
  out.identity.assign(spec.numLayers(), {});
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    // The branch's own forward and backward bound its marginal from below (a difference of two
    // noisy steps can come out smaller, even negative, for a cheap branch).
    auto c = summary(t.ms, t.bytes);
    if (!marginals[i].ms.empty()) {
      const auto in_step = summary(marginals[i].ms, t.bytes);
      c.ms = std::max(c.ms, in_step.ms);
      c.ms_low = std::max(c.ms_low, in_step.ms_low);
      c.ms_high = std::max(c.ms_high, in_step.ms_high);
    }
    (t.kind < 0 ? out.identity[t.layer] : out.branches[t.layer][t.kind]) = c;
  }
  out.base = summary(least_step.ms, least_step.bytes);
  for (int l = 0; l < spec.numLayers(); ++l)
    for (int j = 0; j < kNumBranchKinds; ++j)
      if (least[l].test(j)) {
        out.base.ms -= out.branches[l][j].ms;
        out.base.ms_low -= out.branches[l][j].ms;
        out.base.ms_high -= out.branches[l][j].ms;
        out.base.mb -= out.branches[l][j].mb;
      }
  // A step's base is never negative; the branches' marginals, each at least its own forward and
  // backward, can add up to more than the least mask's step on a tiny network (then the
  // prediction errs high, on the budget's safe side).
  out.base.mb = std::max(0.0, out.base.mb);
  out.base.ms = std::max(0.0, out.base.ms);
  out.base.ms_low = std::max(0.0, out.base.ms_low);
  out.base.ms_high = std::max(out.base.ms, out.base.ms_high);
  out.all_branches = summary(all_step.ms, all_step.bytes);
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

std::string trainingCostsToJson(const TrainingCosts& c) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < c.branches.size(); ++l) {
    nlohmann::json branches = nlohmann::json::object();
    for (BranchKind k : kAllBranchKinds)
      branches[std::string(branchName(k))] = costJson(c.branches[l][static_cast<int>(k)]);
    layers.push_back({{"index", l}, {"branches", branches},
                      {"identity", l < c.identity.size() ? costJson(c.identity[l]) : nullptr}});
  }
  return nlohmann::json{{"format", formatName(kCostsFormatVersion)},
                        {"backbone", c.backbone},
                        {"input", {{"channels", c.in_channels}, {"height", c.height},
                                   {"width", c.width}, {"classes", c.classes}}},
                        {"batch", c.batch},
                        {"threads", c.threads},
                        {"cpu", c.cpu},
                        {"libtorch", c.torch_version},
                        {"repeats", c.repeats},
                        {"seconds", c.seconds},
                        {"units", {{"ms", "forward + backward per step, median of the repeats (quartiles ms_low, ms_high)"},
                                   {"mb", "heap the forward keeps for the backward, MiB"},
                                   {"base", "a training step of the least mask minus its branches: stem, head, identity, loss, update"},
                                   {"all_branches", "a training step with every branch, measured (base + the branches predicts it)"}}},
                        {"base", costJson(c.base)},
                        {"all_branches", costJson(c.all_branches)},
                        {"layers", layers}}
      .dump(2) + "\n";
}

TrainingCosts trainingCostsFromJson(const std::string& text) {
  TrainingCosts c;
  try {
    const auto j = nlohmann::json::parse(text);
    const auto format = stringField(j, "format");
    c.format = 0;
    for (int v = 1; v <= kCostsFormatVersion; ++v)
      if (format == formatName(v)) c.format = v;
    if (c.format == 0)
      throw Error("format '" + clippedText(format, 40) + "' is not " + formatName(kCostsFormatVersion));
    if (c.format >= 2) {
      c.base = costFromJson(field(j, "base"));
      c.all_branches = costFromJson(field(j, "all_branches"));
    }
    c.backbone = stringField(j, "backbone");
    const auto& in = field(j, "input");
    c.in_channels = integerField<int>(in, "channels", 1, kMaxChannels);
    c.height = integerField<int>(in, "height", 1, kMaxInputSide);
    c.width = integerField<int>(in, "width", 1, kMaxInputSide);
    c.classes = integerField<int>(in, "classes", 2, 256);
    c.batch = integerField<int>(j, "batch", 1, 4096);
    c.threads = integerField<int>(j, "threads", 1, 4096);
    c.cpu = stringField(j, "cpu");
    c.torch_version = stringField(j, "libtorch");
    c.repeats = integerField<int>(j, "repeats", 1, 1000);
    c.seconds = numberField(j, "seconds");
    for (const auto& layer : listField(j, "layers", kMaxNetworkLayers)) {
      std::array<BranchCost, kNumBranchKinds> row{};
      const auto& branches = field(layer, "branches");
      for (BranchKind k : kAllBranchKinds)
        row[static_cast<int>(k)] = costFromJson(field(branches, std::string(branchName(k))));
      c.branches.push_back(row);
      c.identity.push_back(costFromJson(field(layer, "identity")));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(jsonMessage(e));
  }
  return c;
}

BranchCostTable trainingCostTable(const TrainingCosts& c) {
  if (!c.base.present)
    throw Error("the cost table has no measured base step (an older format): measure it again");
  BranchCostTable t;
  t.base_ms = c.base.ms;
  t.base_mb = c.base.mb;
  for (const auto& row : c.branches) {
    std::array<double, kNumBranchKinds> ms{}, mb{};
    for (int j = 0; j < kNumBranchKinds; ++j) {
      ms[j] = row[j].present ? row[j].ms : 0.0;
      mb[j] = row[j].present ? row[j].mb : 0.0;
    }
    t.ms.push_back(ms);
    t.mb.push_back(mb);
  }
  return t;
}

void writeTrainingCosts(const TrainingCosts& costs, const std::string& path) {
  writeTextAtomically(path, trainingCostsToJson(costs));
}

std::string defaultCostCachePath(const CostRequest& r) {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home && *home ? home : "/tmp") / ".cache";
  const auto& b = r.backbone;
  return (base / "repnas-studio" / "costs" /
          (b.name + "-" + std::to_string(b.in_channels) + "x" + std::to_string(b.input_height) + "x" +
           std::to_string(b.input_width) + "-b" + std::to_string(r.batch) + "-t" +
           std::to_string(r.threads > 0 ? r.threads : hardwareThreads()) + ".json"))
      .string();
}

TrainingCosts cachedTrainingCosts(const CostRequest& request, const std::string& cache_path,
                                  bool remeasure, bool* measured) {
  const auto key = keyOf(request);
  if (!remeasure && fs::exists(cache_path)) {
    try {
      auto cached = trainingCostsFromJson(readInputFile(cache_path, kMaxCostTableBytes, "a cost table"));
      if (cached.sameKey(key) && cached.format == kCostsFormatVersion &&
          static_cast<int>(cached.branches.size()) == request.backbone.numLayers()) {
        if (measured) *measured = false;
        return cached;
      }
    } catch (const Error&) {
      // An unreadable cache is measured again (and replaced).
    }
  }
  auto costs = measureTrainingCosts(request);
  fs::create_directories(fs::path(cache_path).parent_path());
  writeTrainingCosts(costs, cache_path);
  if (measured) *measured = true;
  return costs;
}

std::optional<TrainingCosts> cachedTrainingCostsFor(const RunConfig& config) {
  const bool cifar = config.dataset == "cifar10";
  if (!cifar && config.dataset != "fashion-mnist" && config.dataset != "mnist") return std::nullopt;
  CostRequest request;
  request.backbone = backboneFor(config, cifar ? 3 : 1, cifar ? 32 : 28, cifar ? 32 : 28, 10);
  request.batch = config.batch_size;
  request.threads = config.threads;
  const auto cache = defaultCostCachePath(request);
  if (!std::filesystem::exists(cache)) return std::nullopt;
  try {
    return cachedTrainingCosts(request, cache, /*remeasure=*/false);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace repnas
