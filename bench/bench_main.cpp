// repnas-bench: benchmark programs. Each prints a table and writes bench/results/<name>.json.
// torch first (private core headers), no Qt here.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/script.h>

#include "bench_costs.h"
#include "bench_quality.h"
#include "bench_util.h"
#include "nn/block.h"
#include "export/export_internal.h"
#include "nn/network.h"
#include "repnas/budget.h"
#include "repnas/config.h"
#include "repnas/runtime.h"
#include "repnas/strategy_info.h"
#include "data/data.h"
#include "search/strategy.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

using repnas::bench::utcNow;
using repnas::bench::writeJsonAtomically;

// A 20-layer RepVGG-like stack of all-branch blocks: stem, stages of 2/6/10/1 layers.
std::vector<repnas::BlockSpec> twentyLayerNetwork() {
  std::vector<repnas::BlockSpec> layers;
  auto add = [&](int in, int out, int stride) {
    repnas::BlockSpec s;
    s.in_channels = in;
    s.out_channels = out;
    s.stride = stride;
    layers.push_back(s);
  };
  add(3, 32, 2);
  const std::vector<std::pair<int, int>> stages = {{48, 2}, {96, 6}, {192, 10}, {384, 1}};
  int in = 32;
  for (auto [width, depth] : stages) {
    for (int i = 0; i < depth; ++i) {
      add(in, width, i == 0 ? 2 : 1);
      in = width;
    }
  }
  return layers;
}

int benchFusion(const std::filesystem::path& out_path, int threads, int repeats) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const auto specs = twentyLayerNetwork();
  torch::nn::Sequential multi;
  std::vector<repnas::DiverseBranchBlock> blocks;
  const auto x = torch::randn({8, 3, 96, 96});
  auto h = x;
  for (const auto& s : specs) {
    blocks.emplace_back(s);
    auto& block = blocks.back();
    repnas::randomizeForTesting(*block);
    block->eval();
    // Random BN statistics make activations grow layer after layer; scaling the last BN's γ
    // and β of every branch by c scales the block's pre-activation by exactly c, so keep it
    // near unit size (the statistics stay random).
    const double std = block->preActivation(h, s.branches).std().item<double>();
    for (auto& m : block->modules(/*include_self=*/false)) {
      if (auto* branch = m->as<repnas::ConvBatchNormBranch>()) {
        branch->bn->weight.div_(std);
        branch->bn->bias.div_(std);
      } else if (auto* seq = m->as<repnas::Sequential1x1Branch>()) {
        seq->second_bn->weight.div_(std);
        seq->second_bn->bias.div_(std);
      } else if (auto* id = m->as<repnas::IdentityBranch>()) {
        id->bn->weight.div_(std);
        id->bn->bias.div_(std);
      }
    }
    h = block->forward(h);
    multi->push_back(block);
  }
  multi->eval();

  // Fold every layer `repeats` times; report the best, which is least disturbed by the
  // shared machine.
  double best_ms = 1e300;
  std::vector<double> layer_ms(specs.size(), 1e300);
  std::vector<repnas::fold::KernelBias> folded(specs.size());
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    for (size_t i = 0; i < specs.size(); ++i) {
      const auto tl = Clock::now();
      folded[i] = repnas::fold::castTo(blocks[i]->fold(), torch::kFloat);
      layer_ms[i] = std::min(layer_ms[i], msSince(tl));
    }
    best_ms = std::min(best_ms, msSince(t0));
  }
  torch::nn::Sequential plain;
  for (size_t i = 0; i < specs.size(); ++i) plain->push_back(repnas::FoldedBlock(specs[i], folded[i]));
  plain->eval();

  // Whole-network error and per-layer error (each layer fed the multi-branch activations).
  auto y_multi = multi->forward(x);
  auto y_plain = plain->forward(x);
  const double net_err = (y_multi - y_plain).abs().max().item<double>();
  const double net_max = y_multi.abs().max().item<double>();
  nlohmann::json layers = nlohmann::json::array();
  std::printf("%-5s %-22s %10s %12s %12s\n", "layer", "geometry", "fold_ms", "max_abs_err",
              "rel_err");
  h = x;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto a = blocks[i]->preActivation(h, specs[i].branches);
    const auto b = plain[i]->as<repnas::FoldedBlockImpl>()->preActivation(h);
    const double err = (a - b).abs().max().item<double>();
    const double mx = a.abs().max().item<double>();
    std::printf("%-5zu %-22s %10.3f %12.3e %12.3e\n", i, specs[i].geometryName().c_str(),
                layer_ms[i], err, err / mx);
    layers.push_back({{"layer", i}, {"geometry", specs[i].geometryName()},
                      {"fold_ms", layer_ms[i]}, {"max_abs_err", err}, {"rel_err", err / mx}});
    h = torch::relu(a);
  }
  std::printf("\n20-layer network, all 6 branches + identity per layer, %d thread(s)\n", threads);
  std::printf("fold all layers: %.2f ms (best of %d)\n", best_ms, repeats);
  std::printf("network output: max abs err %.3e, max |y| %.3e, rel %.3e\n", net_err, net_max,
              net_err / net_max);

  nlohmann::json j = {
      {"benchmark", "fusion"},
      {"date", utcNow()},
      {"machine", {{"cpu", cpuModel()}, {"threads", threads}}},
      {"torch", repnas::torchVersion()},
      {"repnas", repnas::version()},
      {"network", "20 blocks, widths 32/48/96/192/384, all branches, input 8x3x96x96"},
      {"repeats", repeats},
      {"fold_total_ms_best", best_ms},
      {"network_max_abs_err", net_err},
      {"network_max_abs_y", net_max},
      {"network_rel_err", net_err / net_max},
      {"layers", layers},
  };
  writeJsonAtomically(out_path, j);
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}

// ---------------------------------------------------------------- training throughput

/// One training step of `mode` on the tiny backbone, as the engine takes it: the engine's
/// weight trainer (forward, backward, clip, SGD) and, for a search, the strategy's own step in
/// its search phase (RepNAS: α's update; GDAS: a second sample and α's step on a validation
/// batch).
struct TrainBench {
  std::string mode;
  repnas::Network net{nullptr};
  std::unique_ptr<repnas::Strategy> strategy;
  std::unique_ptr<torch::optim::SGD> sgd;
  std::unique_ptr<repnas::WeightTrainer> trainer;
  repnas::Budget budget;
  repnas::Batch batch, val;
  uint64_t step = 0;

  TrainBench(const std::string& m, int batch_size) : mode(m) {
    torch::manual_seed(0);
    repnas::RunConfig c;
    c.mode = mode;
    c = c.resolved(469);
    const auto spec = repnas::backboneFor(c, 1, 28, 28, 10);
    net = repnas::Network(spec);
    net->train();
    strategy = repnas::makeStrategy(c, spec);
    if (c.isSearch()) {
      budget = repnas::defaultBudget(spec.layerHasIdentity());
    } else {
      budget.k = repnas::countBranches(strategy->derive(budget));
      budget.resize(spec.numLayers(), spec.layerHasIdentity());
    }
    sgd = std::make_unique<torch::optim::SGD>(net->parameters(),
                                              torch::optim::SGDOptions(0.05).momentum(0.9));
    trainer = std::make_unique<repnas::WeightTrainer>(net, *sgd, 5.0);
    // Throughput does not depend on pixel values: random images and labels.
    batch = {torch::randn({batch_size, 1, 28, 28}), torch::randint(0, 10, {batch_size}, torch::kLong)};
    val = {torch::randn({batch_size, 1, 28, 28}), torch::randint(0, 10, {batch_size}, torch::kLong)};
  }

  void run(int steps) {
    for (int i = 0; i < steps; ++i, ++step) {
      if (!strategy->info().capabilities.searches) {
        trainer->step(batch, {strategy->derive(budget), {}});
        continue;
      }
      repnas::SearchContext ctx;
      ctx.network = net;
      ctx.trainer = trainer.get();
      ctx.budget = &budget;
      ctx.phase = repnas::Phase::Search;
      ctx.phase_progress = 0.5;
      ctx.training_batch = [this] { return batch; };
      ctx.validation_batch = [this] { return val; };
      ctx.random = [this](uint64_t stream) {
        return repnas::data::makeGenerator(0, {stream, step});
      };
      strategy->step(ctx);
    }
  }
};

long peakRssKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

/// Child process: a few steps of one mode, then print the peak resident memory in KiB.
int trainMemoryChild(const std::string& mode, int batch, int threads) {
  repnas::setComputeThreads(threads);
  const long before = peakRssKb();
  TrainBench b(mode, batch);
  b.run(5);
  std::printf("%ld %ld\n", before, peakRssKb());
  return 0;
}

/// Runs this program as a child for `mode` and returns (baseline, peak) RSS in KiB.
std::pair<long, long> measurePeakMemory(const std::string& mode, int batch, int threads) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  const std::string b = std::to_string(batch), t = std::to_string(threads);
  std::vector<std::string> args = {"repnas-bench", "train-memory-child", mode, b, t};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) { close(fds[0]); return {-1, -1}; }
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  long before = -1, peak = -1;
  std::sscanf(out.c_str(), "%ld %ld", &before, &peak);
  return {before, peak};
}

int benchTrain(const std::filesystem::path& out_path, int threads, int repeats, int batch) {
  const std::vector<std::string> modes = {"plain", "repvgg", "dbb", "search", "gdas"};
  // Memory first, each mode in its own process (peak RSS only ever grows in one process).
  std::map<std::string, std::pair<long, long>> memory;
  for (const auto& m : modes) memory[m] = measurePeakMemory(m, batch, threads);

  std::vector<std::unique_ptr<TrainBench>> benches;
  for (const auto& m : modes) {
    benches.push_back(std::make_unique<TrainBench>(m, batch));
    benches.back()->run(3);  // warm-up: oneDNN primitives, allocator
  }
  // Interleaved rounds: this machine's speed drifts over minutes, so every round measures
  // every mode, and the ratio to plain is taken within a round.
  const int steps = 10;
  std::map<std::string, std::vector<double>> ips, ratio;
  for (int r = 0; r < repeats; ++r) {
    std::map<std::string, double> round;
    for (auto& b : benches) {
      const auto t0 = Clock::now();
      b->run(steps);
      round[b->mode] = steps * batch / (msSince(t0) / 1000.0);
      ips[b->mode].push_back(round[b->mode]);
    }
    for (const auto& m : modes) ratio[m].push_back(round[m] / round["plain"]);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("tiny backbone, batch %d, %d thread(s), %d rounds of %d steps, modes interleaved\n\n",
              batch, threads, repeats, steps);
  std::printf("%-8s %12s %14s %16s %14s\n", "mode", "images/s", "ratio_to_plain", "peak_rss_MiB", "branches/layer");
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < modes.size(); ++i) {
    const auto& m = modes[i];
    // Branches per layer a step runs: the budget's k for a search, the branch set otherwise.
    const auto& bench = *benches[i];
    const double branches = static_cast<double>(bench.budget.k) / bench.budget.layer_min.size();
    const double mem = memory[m].second / 1024.0;
    std::printf("%-8s %12.0f %14.3f %16.1f %14.2f\n", m.c_str(), median(ips[m]), median(ratio[m]),
                mem, branches);
    rows.push_back({{"mode", m}, {"images_per_second_median", median(ips[m])},
                    {"ratio_to_plain_median", median(ratio[m])}, {"images_per_second", ips[m]},
                    {"ratio_to_plain", ratio[m]}, {"peak_rss_mib", mem},
                    {"baseline_rss_mib", memory[m].first / 1024.0}});
  }
  nlohmann::json j = {{"benchmark", "train"}, {"date", utcNow()},
                      {"machine", {{"cpu", cpuModel()}, {"threads", threads}}},
                      {"torch", repnas::torchVersion()}, {"repnas", repnas::version()},
                      {"backbone", "tiny"}, {"input", "1x28x28"}, {"batch", batch},
                      {"rounds", repeats}, {"steps_per_round", steps}, {"modes", rows}};
  writeJsonAtomically(out_path, j);
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}

// ---------------------------------------------------------------- profile of training steps

/// Profiles `steps` training steps of `mode` (after a warm-up) with LibTorch's profiler: writes
/// the Chrome trace and prints, per operator, the time it took inclusive of what it called.
int benchProfile(const std::filesystem::path& out_path, const std::string& mode, int threads,
                 int steps, int batch) {
  TrainBench bench(mode, batch);
  bench.run(3);
  const auto t0 = Clock::now();
  {
    torch::autograd::profiler::RecordProfile guard(out_path.string());
    bench.run(steps);
  }
  const double wall = msSince(t0);
  std::ifstream in(out_path);
  const auto trace = nlohmann::json::parse(in);
  std::map<std::string, std::pair<double, int>> ops;  // name -> (total µs, calls)
  for (const auto& e : trace)
    if (e.value("ph", "") == "X") {
      auto& [us, calls] = ops[e.value("name", "?")];
      us += e.value("dur", 0.0);
      ++calls;
    }
  std::vector<std::pair<std::string, std::pair<double, int>>> rows(ops.begin(), ops.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::printf("%s, tiny backbone, batch %d, %d thread(s), %d profiled steps: %.1f ms per step "
              "(profiler overhead included)\n\n%-44s %12s %8s\n",
              mode.c_str(), batch, threads, steps, wall / steps, "operator (inclusive)",
              "ms/step", "calls");
  for (size_t i = 0; i < rows.size() && i < 40; ++i)
    std::printf("%-44s %12.2f %8d\n", rows[i].first.c_str(), rows[i].second.first / 1000.0 / steps,
                rows[i].second.second / steps);
  std::printf("trace: %s\n", out_path.c_str());
  return 0;
}

// ---------------------------------------------------------------- deploy (inference)

int benchDeploy(const std::filesystem::path& out_path, int threads, int repeats) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  auto spec = repnas::makeBackbone("tiny", 1, 28, 28, 10);
  // The searched network: all six branches built, the default budget's worth kept.
  repnas::Network multi(spec);
  repnas::randomizeForTesting(*multi);
  multi->eval();
  std::vector<double> scores(spec.numLayers() * repnas::kNumBranchKinds);
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = std::sin(1.7 * i);  // any fixed choice
  const auto masks = repnas::selectBranches(scores, repnas::defaultBudget(spec.layerHasIdentity()));
  repnas::FoldedNetwork folded(*multi, masks);
  folded->eval();
  const auto model = repnas::makeFoldedModel(spec, "search", masks, {0.0}, {1.0}, *folded);
  const auto ts_path = std::filesystem::temp_directory_path() / "repnas-bench-deploy.pt";
  repnas::writeTorchScript(model, ts_path.string());
  auto script = torch::jit::load(ts_path.string());
  script.eval();
  std::filesystem::remove(ts_path);
  // A plain network of the same shape: one conv (with bias) + ReLU per layer, written by hand.
  repnas::RunConfig plain_config;
  plain_config.mode = "plain";
  const auto plain_spec = repnas::backboneFor(plain_config, 1, 28, 28, 10);
  repnas::Network plain_multi(plain_spec);
  plain_multi->eval();
  repnas::FoldedNetwork plain(*plain_multi, repnas::uniformMasks(plain_spec, repnas::modeBranches("plain")));
  plain->eval();

  struct Variant {
    std::string name;
    std::function<torch::Tensor(const torch::Tensor&)> forward;
  };
  const std::vector<Variant> variants = {
      {"multi-branch", [&](const torch::Tensor& x) { return multi->forward(x, masks); }},
      {"folded", [&](const torch::Tensor& x) { return folded->forward(x); }},
      {"torchscript", [&](const torch::Tensor& x) { return script.forward({x}).toTensor(); }},
      {"plain", [&](const torch::Tensor& x) { return plain->forward(x); }},
  };
  nlohmann::json rows = nlohmann::json::array();
  std::printf("tiny backbone (8 layers, %d branches kept + identities), 1x28x28, %d thread(s), "
              "%d interleaved rounds per batch size, medians\n\n", repnas::countBranches(masks),
              threads, repeats * 8);
  std::printf("%-6s %-13s %12s %16s %14s\n", "batch", "network", "images/s", "ratio_to_plain",
              "vs_multi");
  for (int batch : {1, 32, 256}) {
    const auto x = torch::randn({batch, 1, 28, 28});
    // Small chunks, round-robin over the variants, many rounds: the machine's speed drifts,
    // so every variant sees the same conditions; ratios are taken per round, then the median.
    const int iters = std::max(2, 128 / batch);
    const int rounds = repeats * 8;
    // Warm-up: oneDNN primitives, the allocator, and TorchScript's profiling executor, which
    // optimises the graph during the first calls.
    for (int i = 0; i < 5; ++i)
      for (const auto& v : variants) v.forward(x);
    std::map<std::string, std::vector<double>> ips, ratio;
    for (int r = 0; r < rounds; ++r) {
      std::map<std::string, double> round;
      for (const auto& v : variants) {
        const auto t0 = Clock::now();
        for (int i = 0; i < iters; ++i) v.forward(x);
        round[v.name] = iters * batch / (msSince(t0) / 1000.0);
        ips[v.name].push_back(round[v.name]);
      }
      for (const auto& v : variants) {
        ratio[v.name + "/plain"].push_back(round[v.name] / round["plain"]);
        ratio[v.name + "/multi"].push_back(round[v.name] / round["multi-branch"]);
      }
    }
    auto median = [](std::vector<double> values) {
      std::sort(values.begin(), values.end());
      return values[values.size() / 2];
    };
    for (const auto& v : variants) {
      const double m = median(ips[v.name]);
      const double to_plain = median(ratio[v.name + "/plain"]);
      const double vs_multi = median(ratio[v.name + "/multi"]);
      std::printf("%-6d %-13s %12.0f %16.3f %14.2f\n", batch, v.name.c_str(), m, to_plain, vs_multi);
      std::fflush(stdout);
      rows.push_back({{"batch", batch}, {"network", v.name}, {"images_per_second_median", m},
                      {"ratio_to_plain_median", to_plain}, {"speedup_over_multi_branch_median", vs_multi},
                      {"images_per_second", ips[v.name]}});
    }
  }
  nlohmann::json j = {{"benchmark", "deploy"}, {"date", utcNow()},
                      {"machine", {{"cpu", cpuModel()}, {"threads", threads}}},
                      {"torch", repnas::torchVersion()}, {"repnas", repnas::version()},
                      {"backbone", "tiny"}, {"rounds", repeats}, {"rows", rows}};
  writeJsonAtomically(out_path, j);
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  repnas::reuseFreedMemory();  // before any thread starts, as the programs do (see runtime.h)
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 4 && args[0] == "train-memory-child")
    return trainMemoryChild(args[1], std::stoi(args[2]), std::stoi(args[3]));
  // --help anywhere prints the usage (and runs nothing: a benchmark overwrites its results).
  const bool help = std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
  if (args.empty() || help) {
    std::puts(
        "usage: repnas-bench fusion|train|deploy [--out FILE] [--threads N] [--repeats N] [--batch N]\n"
        "       repnas-bench profile [--mode plain|repvgg|dbb|search] [--repeats STEPS] [--out TRACE]\n"
        "       repnas-bench quality [--modes plain,repvgg,dbb,search] [--seeds 1,2,3]\n"
        "                            [--set key=value ...] [--runs DIR] [--out FILE]\n"
        "       repnas-bench protocol [--seeds 1,2,3] [--random 3] [--baselines plain,plain+identity,repvgg,dbb]\n"
        "                             [--controls-only yes] [--strategy search|gdas|rena]\n"
        "                             [--set key=value ...] [--runs DIR] [--out FILE]\n"
        "       repnas-bench sweep [--budgets 8,12,16,24,32] [--seeds 1,2,3]\n"
        "                          [--set key=value ...] [--runs DIR] [--out FILE]\n"
        "       repnas-bench rena-proxy [--seed 1] [--masks 10] [--standalone-epochs 2]\n"
        "                               [--set key=value ...] [--runs DIR] [--out FILE]\n"
        "       repnas-bench costs [--threads N] [--rounds N] [--calls N] [--train-limit N] [--search yes|no]\n"
        "                          [--runs DIR] [--out FILE]");
    return args.empty() ? 2 : 0;
  }
  std::filesystem::path out = std::filesystem::path(REPNAS_SOURCE_DIR) / "bench/results" /
                              (args[0] + ".json");
  if (args[0] == "costs") {
    repnas::bench::CostsOptions opt;
    opt.out = out.string();
    opt.runs_dir = (std::filesystem::path(REPNAS_SOURCE_DIR) / "build/bench-runs").string();
    try {
      for (size_t i = 1; i < args.size(); i += 2) {
        if (i + 1 >= args.size()) {
          std::fprintf(stderr, "option %s needs a value\n", args[i].c_str());
          return 2;
        }
        const auto& key = args[i];
        const auto& value = args[i + 1];
        if (key == "--out") opt.out = value;
        else if (key == "--runs") opt.runs_dir = value;
        else if (key == "--threads") opt.threads = std::stoi(value);
        else if (key == "--rounds") opt.rounds = std::stoi(value);
        else if (key == "--calls") opt.calls = std::stoi(value);
        else if (key == "--train-limit") opt.train_limit = std::stoll(value);
        else if (key == "--search") opt.search = value == "yes";
        else {
          std::fprintf(stderr, "unknown option %s\n", key.c_str());
          return 2;
        }
      }
      return repnas::bench::benchCosts(opt);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "repnas-bench costs: %s\n", e.what());
      return 1;
    }
  }
  if (args[0] == "protocol") {
    repnas::bench::ProtocolOptions opt;
    bool out_given = false;
    opt.out = (std::filesystem::path(REPNAS_SOURCE_DIR) / "bench/results/quality-protocol.json").string();
    try {
      for (size_t i = 1; i < args.size(); i += 2) {
        if (i + 1 >= args.size()) {
          std::fprintf(stderr, "option %s needs a value\n", args[i].c_str());
          return 2;
        }
        const auto& key = args[i];
        const auto& value = args[i + 1];
        std::vector<std::string> items;
        std::stringstream in(value);
        for (std::string item; std::getline(in, item, ',');) items.push_back(item);
        if (key == "--out") opt.out = value, out_given = true;
        else if (key == "--runs") opt.runs_dir = value;
        else if (key == "--set") opt.overrides.push_back(value);
        else if (key == "--random") opt.random_masks = std::stoi(value);
        else if (key == "--controls-only") opt.controls_only = value == "yes";
        else if (key == "--strategy") opt.strategy = repnas::strategyInfo(value).name;  // "repnas" is "search"
        else if (key == "--baselines") opt.baselines = items;
        else if (key == "--seeds") {
          opt.seeds.clear();
          for (const auto& s : items) opt.seeds.push_back(std::stoull(s));
        } else {
          std::fprintf(stderr, "unknown option %s\n", key.c_str());
          return 2;
        }
      }
      if (opt.strategy != "search" && !out_given)  // each strategy's protocol its own file
        opt.out = (std::filesystem::path(REPNAS_SOURCE_DIR) / "bench/results" /
                   ("quality-protocol-" + opt.strategy + ".json")).string();
      return repnas::bench::benchProtocol(opt);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "repnas-bench protocol: %s\n", e.what());
      return 1;
    }
  }
  if (args[0] == "rena-proxy") {
    repnas::bench::ProxyOptions opt;
    opt.out = (std::filesystem::path(REPNAS_SOURCE_DIR) / "bench/results/rena-proxy.json").string();
    try {
      for (size_t i = 1; i < args.size(); i += 2) {
        if (i + 1 >= args.size()) {
          std::fprintf(stderr, "option %s needs a value\n", args[i].c_str());
          return 2;
        }
        const auto& key = args[i];
        const auto& value = args[i + 1];
        if (key == "--out") opt.out = value;
        else if (key == "--runs") opt.runs_dir = value;
        else if (key == "--set") opt.overrides.push_back(value);
        else if (key == "--seed") opt.seed = std::stoull(value);
        else if (key == "--masks") opt.masks = std::stoi(value);
        else if (key == "--standalone-epochs") opt.standalone_epochs = std::stoi(value);
        else {
          std::fprintf(stderr, "unknown option %s\n", key.c_str());
          return 2;
        }
      }
      return repnas::bench::benchRenaProxy(opt);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "repnas-bench rena-proxy: %s\n", e.what());
      return 1;
    }
  }
  if (args[0] == "quality" || args[0] == "sweep") {
    repnas::bench::QualityOptions opt;
    opt.sweep = args[0] == "sweep";
    opt.out = out.string();
    auto split = [](const std::string& list) {
      std::vector<std::string> items;
      std::stringstream in(list);
      for (std::string item; std::getline(in, item, ',');) items.push_back(item);
      return items;
    };
    try {
      for (size_t i = 1; i + 1 < args.size(); i += 2) {
        const auto& key = args[i];
        const auto& value = args[i + 1];
        if (key == "--out") opt.out = value;
        else if (key == "--runs") opt.runs_dir = value;
        else if (key == "--set") opt.overrides.push_back(value);
        else if (key == "--modes") opt.modes = split(value);
        else if (key == "--seeds") {
          opt.seeds.clear();
          for (const auto& s : split(value)) opt.seeds.push_back(std::stoull(s));
        } else if (key == "--budgets") {
          opt.budgets.clear();
          for (const auto& s : split(value)) opt.budgets.push_back(std::stoi(s));
        } else {
          std::fprintf(stderr, "unknown option %s\n", key.c_str());
          return 2;
        }
      }
      if (args.size() % 2 == 0) {
        std::fprintf(stderr, "option %s needs a value\n", args.back().c_str());
        return 2;
      }
      return repnas::bench::benchQuality(opt);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "repnas-bench %s: %s\n", args[0].c_str(), e.what());
      return 1;
    }
  }
  int threads = 2, repeats = 5, batch = 128;
  std::string mode = "dbb";
  if (args[0] == "profile") out = std::filesystem::temp_directory_path() / "repnas-profile.json";
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    if (args[i] == "--out") out = args[i + 1];
    else if (args[i] == "--threads") threads = std::stoi(args[i + 1]);
    else if (args[i] == "--repeats") repeats = std::stoi(args[i + 1]);
    else if (args[i] == "--batch") batch = std::stoi(args[i + 1]);
    else if (args[i] == "--mode" && args[0] == "profile") mode = args[i + 1];
    else { std::fprintf(stderr, "unknown option %s\n", args[i].c_str()); return 2; }
  }
  if (args.size() % 2 == 0) {
    std::fprintf(stderr, "option %s needs a value\n", args.back().c_str());
    return 2;
  }
  threads = repnas::setComputeThreads(threads);
  try {
    if (args[0] == "fusion") return benchFusion(out, threads, repeats);
    if (args[0] == "train") return benchTrain(out, threads, repeats, batch);
    if (args[0] == "deploy") return benchDeploy(out, threads, repeats);
    if (args[0] == "profile") return benchProfile(out, mode, threads, repeats, batch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "repnas-bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown benchmark '%s'\n", args[0].c_str());
  return 2;
}
