// The re-parameterization explainer (repnas/explain.h): the block it explains (a demo or a run's
// layer) and the six folding steps, computed with the same fold:: functions the block and the
// exporter use. The proof on a real image is in proof.cpp, the sample images and the text form in
// text.cpp.
#include "repnas/explain.h"

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <optional>
#include <sstream>

#include "explain/explain_internal.h"
#include "fold/fold.h"
#include "repnas/error.h"

namespace repnas {

namespace explain_detail {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

ExplainImage imageOf(const std::string& caption, const torch::Tensor& hw) {
  const auto t = hw.to(torch::kDouble).contiguous();
  ExplainImage img;
  img.caption = caption;
  img.height = static_cast<int>(t.size(0));
  img.width = static_cast<int>(t.size(1));
  img.values.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  return img;
}

}  // namespace explain_detail

namespace {

using explain_detail::num;
using explain_detail::imageOf;

/// A factor in a written-out formula: negative numbers in parentheses.
std::string factor(double v) { return v < 0 ? "(" + num(v) + ")" : num(v); }

/// The kh × kw slice [o, i] of a kernel [O, I, kh, kw] as a matrix.
ExplainMatrix sliceMatrix(const std::string& caption, const torch::Tensor& kernel, int64_t o,
                          int64_t i, const torch::Tensor& bias = {}) {
  const auto s = kernel[o][i].to(torch::kDouble).contiguous();
  ExplainMatrix m;
  m.caption = caption;
  m.rows = static_cast<int>(s.size(0));
  m.cols = static_cast<int>(s.size(1));
  m.values.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  if (bias.defined()) {
    m.has_bias = true;
    m.bias = bias[o].item<double>();
  }
  return m;
}

/// A vector as a column matrix (at most `cap` rows).
ExplainMatrix columnMatrix(const std::string& caption, const torch::Tensor& v, int64_t cap = 16) {
  const auto c = v.to(torch::kDouble).contiguous().flatten();
  const int64_t n = std::min<int64_t>(c.numel(), cap);
  ExplainMatrix m;
  m.caption = caption + (n < c.numel() ? " (first " + std::to_string(n) + ")" : "");
  m.rows = static_cast<int>(n);
  m.cols = 1;
  m.values.assign(c.data_ptr<double>(), c.data_ptr<double>() + n);
  return m;
}

std::vector<std::string> batchNormLines(const fold::BatchNormStats& bn, int64_t c) {
  const double g = bn.weight[c].item<double>(), b = bn.bias[c].item<double>(),
               mu = bn.running_mean[c].item<double>(), var = bn.running_var[c].item<double>();
  const double sigma = std::sqrt(var + bn.eps);
  // Four short lines (the step's formula above them gives b' = β − μγ/σ): they fit an item
  // of the teaching page without wrapping.
  return {"BN channel " + std::to_string(c) + ": γ = " + num(g) + ", β = " + num(b) + ",",
          "μ = " + num(mu) + ", σ² = " + num(var) + ", ε = " + num(bn.eps),
          "γ/σ = " + num(g) + " / √(" + num(var) + " + " + num(bn.eps) + ") = " + num(g / sigma),
          "b'[" + std::to_string(c) + "] = " + num(b) + " − " + factor(mu) + "·" + factor(g / sigma) +
              " = " + num(b - mu * g / sigma)};
}

/// Products written out, e.g. "a·b + c·(−d)" (at most 6 terms shown).
std::string productTerms(const std::vector<std::pair<double, double>>& products) {
  std::string s;
  const size_t shown = std::min<size_t>(products.size(), 6);
  for (size_t k = 0; k < shown; ++k) {
    if (k) s += " + ";
    s += factor(products[k].first) + "·" + factor(products[k].second);
  }
  if (shown < products.size()) s += " + … (" + std::to_string(products.size()) + " terms)";
  return products.empty() ? "0" : s;
}

/// Max |a − b| over two kernels (or biases) of the same shape.
double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

KernelData toKernelData(const std::string& name, const fold::KernelBias& kb) {
  return repnas::toKernelData(name, kb.kernel, kb.bias);
}


/// The order the steps list branches in: the plain ones first, the two-stage ones last.
constexpr BranchKind kExplainOrder[] = {BranchKind::KxK,         BranchKind::OneByOne,
                                        BranchKind::OneByK,      BranchKind::KByOne,
                                        BranchKind::OneByOneKxK, BranchKind::OneByOneAvg};

bool isSkippedTensor(const std::string& name) {
  auto ends = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // Constants of the construction, not weights: the pooling kernel, the 1x1's +I, counters.
  return ends("num_batches_tracked") || ends("identity_1x1") || ends("average_kernel");
}

std::vector<std::pair<std::string, torch::Tensor>> namedTensors(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers())
    if (!isSkippedTensor(b.key())) out.emplace_back(b.key(), b.value());
  return out;
}


}  // namespace

double ExplainImage::maxAbs() const {
  double m = 0;
  for (double v : values) m = std::max(m, std::abs(v));
  return m;
}

// ------------------------------------------------------------------ state


ReparamExplainer::ReparamExplainer(std::unique_ptr<State> state) : state_(std::move(state)) {}
ReparamExplainer::ReparamExplainer(ReparamExplainer&&) noexcept = default;
ReparamExplainer& ReparamExplainer::operator=(ReparamExplainer&&) noexcept = default;
ReparamExplainer::~ReparamExplainer() = default;

namespace {

DiverseBranchBlock makeDemoBlock(const ReparamExplainer::DemoOptions& o) {
  if (o.channels < 1 || o.channels > 8)
    throw Error("demo block: channels must be between 1 and 8 (got " +
                std::to_string(o.channels) + ")");
  BlockSpec spec;
  spec.in_channels = spec.out_channels = o.channels;
  spec.kernel_size = o.kernel_size;
  spec.stride = 1;
  spec.groups = 1;
  spec.branches = o.branches;
  spec.identity = o.identity;
  spec.identity_init_1x1 = false;  // the 1x1 is a plain weight: what a student types is used
  DiverseBranchBlock block(spec);
  block->eval();
  return block;
}

void randomizeBlock(DiverseBranchBlock& block, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  randomizeForTesting(*block, gen);
}

}  // namespace

ReparamExplainer ReparamExplainer::demo(const DemoOptions& options) {
  auto s = std::make_unique<State>();
  s->demo = true;
  s->seed = options.seed;
  s->block = makeDemoBlock(options);
  randomizeBlock(s->block, options.seed);
  s->active = options.branches;
  return ReparamExplainer(std::move(s));
}

ReparamExplainer ReparamExplainer::fromRun(const std::string& run_dir, int layer) {
  auto s = std::make_unique<State>();
  s->demo = false;
  s->run_dir = run_dir;
  s->run = loadNewestRunArchive(run_dir, "explain");
  const int layers = s->run->backbone.numLayers();
  if (layer < 0 || layer >= layers)
    throw Error("layer " + std::to_string(layer) + " does not exist (the network has " +
                std::to_string(layers) + " layers)");
  s->layer = layer;
  s->run->net->eval();
  s->block = s->run->net->block(layer);
  s->active = s->run->masks[layer] & s->block->spec().branches;
  return ReparamExplainer(std::move(s));
}

const BlockSpec& ReparamExplainer::spec() const { return state_->block->spec(); }
uint64_t ReparamExplainer::seed() const { return state_->seed; }
bool ReparamExplainer::isDemo() const { return state_->demo; }
int ReparamExplainer::layers() const { return state_->run ? state_->run->backbone.numLayers() : 0; }
BranchMask ReparamExplainer::active() const { return state_->active; }

std::string ReparamExplainer::label() const {
  const auto& sp = spec();
  if (state_->demo)
    return "demo block " + std::to_string(sp.in_channels) + "->" + std::to_string(sp.out_channels) +
           ", K=" + std::to_string(sp.kernel_size) + ", seed " + std::to_string(state_->seed);
  return state_->run->backbone.layerLabel(state_->layer) + " of " + state_->run_dir;
}

void ReparamExplainer::setActive(const BranchMask& active) {
  if ((active & ~spec().branches).any())
    throw Error("branches " + maskName(active & ~spec().branches) + " are not in this block");
  state_->active = active;
}

void ReparamExplainer::setDemoBranches(const BranchMask& branches, bool identity) {
  if (!state_->demo) throw Error("only the demo block's branches can be changed");
  DemoOptions o;
  o.channels = spec().in_channels;
  o.kernel_size = spec().kernel_size;
  o.branches = branches;
  o.identity = identity;
  auto block = makeDemoBlock(o);
  randomizeBlock(block, state_->seed);
  // Keep what the old block had (and what the user typed) for tensors both blocks share.
  torch::NoGradGuard no_grad;
  const auto old = namedTensors(*state_->block);
  for (auto& [name, t] : namedTensors(*block))
    for (const auto& [old_name, old_t] : old)
      if (old_name == name && old_t.sizes() == t.sizes()) t.copy_(old_t);
  state_->block = block;
  state_->active = branches;
}

void ReparamExplainer::randomize(uint64_t seed) {
  if (!state_->demo) throw Error("only the demo block can be randomised (a run's block is trained)");
  state_->seed = seed;
  randomizeBlock(state_->block, seed);
}

std::vector<ExplainTensor> ReparamExplainer::tensors() const {
  std::vector<ExplainTensor> out;
  for (const auto& [name, t] : namedTensors(*state_->block)) {
    const auto d = t.detach().to(torch::kDouble).contiguous();
    out.push_back({name, d.sizes().vec(),
                   std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel())});
  }
  return out;
}

void ReparamExplainer::setValue(const std::string& tensor, int64_t index, double value) {
  for (auto& [name, t] : namedTensors(*state_->block)) {
    if (name != tensor) continue;
    if (index < 0 || index >= t.numel())
      throw Error(tensor + ": index " + std::to_string(index) + " is out of range (it has " +
                  std::to_string(t.numel()) + " values)");
    if (!std::isfinite(value)) throw Error(tensor + ": the value must be a finite number");
    if (name.size() >= 11 && name.compare(name.size() - 11, 11, "running_var") == 0 && value <= 0)
      throw Error(tensor + ": a running variance must be positive (got " + num(value) + ")");
    torch::NoGradGuard no_grad;
    t.view({-1})[index].fill_(value);
    return;
  }
  throw Error("the block has no tensor named '" + tensor + "'");
}

// ------------------------------------------------------------------ steps

std::vector<std::string> foldStageForms(const BlockSpec& spec, const BranchMask& active, int stage) {
  const std::string K = std::to_string(spec.kernel_size);
  const std::string kxk = K + "x" + K;
  if (stage >= 6) return {"one " + kxk + " conv + bias"};
  const std::string folded = kxk + " conv + b";
  std::vector<std::string> out;
  for (int b = 0; b < kNumBranchKinds; ++b) {
    if (!active.test(b)) continue;
    const auto kind = static_cast<BranchKind>(b);
    const bool second_kxk = kind == BranchKind::OneByOneKxK && spec.second_kxk_at_stride2 && spec.stride == 2;
    if (kind == BranchKind::KxK || second_kxk) {
      out.push_back(stage == 0 ? kxk + " conv → BN" : folded);
    } else if (kind == BranchKind::OneByOne || kind == BranchKind::OneByK || kind == BranchKind::KByOne) {
      const std::string k = kind == BranchKind::OneByOne ? "1x1" : kind == BranchKind::OneByK ? "1x" + K : K + "x1";
      out.push_back(stage == 0 ? k + " conv → BN" : stage == 1 ? k + " conv + b" : folded + " (" + k + " padded)");
    } else if (kind == BranchKind::OneByOneKxK) {
      out.push_back(stage == 0 ? "1x1 → BN-and-pad → " + kxk + " → BN"
                    : stage <= 3 ? "1x1 + b1 → pad b1 → " + kxk + " + b2"
                                 : folded + " (merged)");
    } else {  // 1x1-AVG
      out.push_back(stage == 0 ? "1x1 → BN-and-pad → avg " + kxk + " → BN"
                    : stage <= 2 ? "1x1 + b1 → pad b1 → avg " + kxk + " → BN"
                    : stage == 3 ? "1x1 + b1 → pad b1 → " + kxk + " + b2"
                                 : folded + " (merged)");
    }
  }
  if (spec.hasIdentityBranch()) out.push_back(stage <= 4 ? "identity → BN" : folded + " (identity kernel)");
  return out;
}

std::vector<ExplainStep> ReparamExplainer::steps(int out_channel, int in_channel) const {
  torch::NoGradGuard no_grad;
  const auto& sp = spec();
  const int K = sp.kernel_size, g = sp.groups;
  const int64_t O = sp.out_channels, Ig = sp.in_channels / g;
  if (out_channel < 0 || out_channel >= O || in_channel < 0 || in_channel >= Ig)
    throw Error("channel pair (" + std::to_string(out_channel) + ", " + std::to_string(in_channel) +
                ") is outside the kernel [" + std::to_string(O) + ", " + std::to_string(Ig) + "]");
  const int64_t o = out_channel, i = in_channel;
  const std::string oi = "[" + std::to_string(o) + "," + std::to_string(i) + "]";
  const std::string centre = "(" + std::to_string(K / 2) + "," + std::to_string(K / 2) + ")";

  ExplainStep s1{1, "Fold each BatchNorm into its convolution",
                 "BN(W∗x) = (γ/σ)·W∗x + β − μγ/σ, so F' = (γ/σ)·W and b' = β − μγ/σ, σ = √(var + ε)",
                 {}, {}, {}, {}};
  ExplainStep s2{2, "Pad 1x1, 1xK and Kx1 kernels to KxK",
                 "A kh×kw kernel placed at the centre of a K×K kernel of zeros (padding K//2) "
                 "computes the same output",
                 {}, {}, {}, {}};
  ExplainStep s3{3, "Average pooling as a convolution",
                 "KxK average pooling = a conv with 1/K² at [c, c] and 0 elsewhere; then fold its BN",
                 {}, {}, {}, {}};
  ExplainStep s4{4, "Merge a 1x1 conv and the KxK conv after it",
                 "F[o,i] = Σ_d F2[o,d]·F1[d,i],  b[o] = b2[o] + Σ_{d,u,v} F2[o,d,u,v]·b1[d]",
                 {}, {}, {}, {}};
  ExplainStep s5{5, "The identity as a kernel",
                 "x = conv(x, I) with I[c, c, K//2, K//2] = 1 and 0 elsewhere; then fold its BN",
                 {}, {}, {}, {}};
  ExplainStep s6{6, "Sum into one kernel and one bias",
                 "Σ_b conv(x, F_b) + b_b = conv(x, Σ_b F_b) + Σ_b b_b (same size, stride, padding)",
                 {}, {}, {}, {}};

  std::vector<std::pair<std::string, fold::KernelBias>> finals;  // per branch, for step 6

  auto convBnItem = [&](const std::string& branch, const std::string& caption,
                        const std::string& symbol, const torch::Tensor& raw,
                        const fold::BatchNormStats& bn, int64_t c_out, int64_t c_in) {
    const auto kb = fold::foldBatchNorm(raw, {}, bn);
    ExplainItem item;
    item.branch = branch;
    item.caption = caption;
    const std::string at = "[" + std::to_string(c_out) + "," + std::to_string(c_in) + "]";
    item.inputs.push_back(sliceMatrix(symbol + at, raw, c_out, c_in));
    item.outputs.push_back(sliceMatrix("F'" + at + " = (γ/σ)·" + symbol, kb.kernel, c_out, c_in, kb.bias));
    item.lines = batchNormLines(bn, c_out);
    return std::make_pair(item, kb);
  };

  for (BranchKind kind : kExplainOrder) {
    if (!state_->active.test(static_cast<int>(kind))) continue;
    const std::string name = branchDisplayName(kind, K);
    auto* branch = state_->branch(kind);
    if (auto* c = dynamic_cast<ConvBatchNormBranch*>(branch)) {
      const auto raw = c->conv->weight.detach().to(torch::kDouble);
      auto [item, kb] = convBnItem(name, name + " conv → BN", "W", raw, fold::batchNormStats(c->bn), o, i);
      s1.items.push_back(item);
      if (raw.size(2) != K || raw.size(3) != K) {
        const auto padded = fold::padKernelToSize(kb.kernel, K);
        ExplainItem pad;
        pad.branch = name;
        pad.caption = name + ": " + std::to_string(raw.size(2)) + "×" + std::to_string(raw.size(3)) +
                      " → " + std::to_string(K) + "×" + std::to_string(K);
        pad.inputs.push_back(sliceMatrix("F'" + oi, kb.kernel, o, i, kb.bias));
        pad.outputs.push_back(sliceMatrix("padded F'" + oi, padded, o, i, kb.bias));
        const int top = (K - static_cast<int>(raw.size(2))) / 2,
                  left = (K - static_cast<int>(raw.size(3))) / 2;
        pad.lines.push_back("zeros around it: " + std::to_string(top) + " row(s) above and below, " +
                            std::to_string(left) + " column(s) left and right; the bias is unchanged");
        s2.items.push_back(pad);
        kb.kernel = padded;
      }
      finals.emplace_back(name, kb);
    } else if (auto* q = dynamic_cast<Sequential1x1Branch*>(branch)) {
      const bool avg = q->kind == Sequential1x1Branch::Second::AveragePool;
      const auto w1 = q->firstKernel().detach().to(torch::kDouble);  // [D, C/g, 1, 1]
      const int64_t D = w1.size(0), Dg = D / g;
      const int64_t group = o / (O / g);
      const auto bn1 = q->first_bn->stats();
      const auto kb1 = fold::foldBatchNorm(w1, {}, bn1);
      // Step 1, first stage: show the column F1[·, i] of this output's group.
      ExplainItem first;
      first.branch = name;
      first.caption = name + ", first stage: 1x1 conv → BN" +
                      (q->identity_1x1.defined() ? " (the 1x1 is W + I)" : "");
      const auto rows = torch::arange(group * Dg, (group + 1) * Dg);
      first.inputs.push_back(columnMatrix("W1[·," + std::to_string(i) + "]",
                                          w1.index_select(0, rows).select(1, i).flatten()));
      first.outputs.push_back(columnMatrix("F1[·," + std::to_string(i) + "]",
                                           kb1.kernel.index_select(0, rows).select(1, i).flatten()));
      first.outputs.push_back(columnMatrix("b1[·]", kb1.bias.index_select(0, rows)));
      first.lines = batchNormLines(bn1, group * Dg);
      first.lines.push_back("BN-and-pad: its output's border holds b1 (BN of 0), not 0");
      s1.items.push_back(first);

      torch::Tensor w2;
      fold::KernelBias kb2;
      const auto bn2 = fold::batchNormStats(q->second_bn);
      if (!avg) {
        w2 = q->second_conv->weight.detach().to(torch::kDouble);
        kb2 = fold::foldBatchNorm(w2, {}, bn2);
        ExplainItem second;
        second.branch = name;
        second.caption = name + ", second stage: KxK conv → BN";
        for (int64_t d = 0; d < std::min<int64_t>(Dg, 4); ++d)
          second.inputs.push_back(sliceMatrix("W2[" + std::to_string(o) + "," + std::to_string(d) + "]", w2, o, d));
        for (int64_t d = 0; d < std::min<int64_t>(Dg, 4); ++d)
          second.outputs.push_back(sliceMatrix("F2[" + std::to_string(o) + "," + std::to_string(d) + "]",
                                               kb2.kernel, o, d, d == 0 ? kb2.bias : torch::Tensor()));
        second.lines = batchNormLines(bn2, o);
        s1.items.push_back(second);
      } else {
        w2 = fold::averagePoolKernel(static_cast<int>(D), K, g);
        kb2 = fold::foldBatchNorm(w2, {}, bn2);
        const int64_t od = o % Dg;  // the diagonal input of output o within its group
        ExplainItem pool;
        pool.branch = name;
        pool.caption = name + ": " + std::to_string(K) + "×" + std::to_string(K) +
                       " average pooling → BN";
        pool.inputs.push_back(sliceMatrix("A[" + std::to_string(o) + "," + std::to_string(od) + "]", w2, o, od));
        if (Dg > 1) {
          const int64_t other = (od + 1) % Dg;
          pool.inputs.push_back(
              sliceMatrix("A[" + std::to_string(o) + "," + std::to_string(other) + "]", w2, o, other));
        }
        pool.outputs.push_back(sliceMatrix("F2[" + std::to_string(o) + "," + std::to_string(od) + "]",
                                           kb2.kernel, o, od, kb2.bias));
        pool.lines.push_back("1/K² = 1/" + std::to_string(K * K) + " = " + num(1.0 / (K * K)) +
                             " (every window averages K² values, the border ones included: "
                             "there they are the BN-and-pad value b1 of step 4, not zeros)");
        auto bn_lines = batchNormLines(bn2, o);
        pool.lines.insert(pool.lines.end(), bn_lines.begin(), bn_lines.end());
        const double gs = bn2.weight[o].item<double>() / std::sqrt(bn2.running_var[o].item<double>() + bn2.eps);
        pool.lines.push_back("F2[" + std::to_string(o) + "," + std::to_string(od) + "] = (γ/σ)/K² = " +
                             num(gs) + "/" + std::to_string(K * K) + " = " + num(gs / (K * K)));
        s3.items.push_back(pool);
      }

      const auto merged = fold::mergeSequential1x1KxK(kb1, kb2, g);
      ExplainItem merge;
      merge.branch = name;
      merge.caption = name + ": 1x1 (F1, b1) then KxK (F2, b2) → one KxK";
      merge.inputs.push_back(columnMatrix("F1[·," + std::to_string(i) + "]",
                                          kb1.kernel.index_select(0, rows).select(1, i).flatten()));
      merge.inputs.push_back(columnMatrix("b1[·]", kb1.bias.index_select(0, rows)));
      for (int64_t d = 0; d < std::min<int64_t>(Dg, 4); ++d)
        merge.inputs.push_back(sliceMatrix("F2[" + std::to_string(o) + "," + std::to_string(d) + "]",
                                           kb2.kernel, o, d, d == 0 ? kb2.bias : torch::Tensor()));
      merge.outputs.push_back(sliceMatrix("F" + oi, merged.kernel, o, i, merged.bias));
      // The formulas with this channel pair's numbers: the centre tap and the bias.
      std::vector<std::pair<double, double>> kterms, bterms;
      for (int64_t d = 0; d < Dg; ++d) {
        kterms.emplace_back(kb2.kernel[o][d][K / 2][K / 2].item<double>(),
                            kb1.kernel[group * Dg + d][i][0][0].item<double>());
        bterms.emplace_back(kb2.kernel[o][d].sum().item<double>(), kb1.bias[group * Dg + d].item<double>());
      }
      merge.lines.push_back("F" + oi + centre + " = Σ_d F2[" + std::to_string(o) + ",d]" + centre +
                            "·F1[d," + std::to_string(i) + "] = " + productTerms(kterms) + " = " +
                            num(merged.kernel[o][i][K / 2][K / 2].item<double>()));
      merge.lines.push_back("b[" + std::to_string(o) + "] = b2[" + std::to_string(o) +
                            "] + Σ_d (Σ_uv F2[" + std::to_string(o) + ",d,u,v])·b1[d] = " +
                            num(kb2.bias[o].item<double>()) + " + " + productTerms(bterms) + " = " +
                            num(merged.bias[o].item<double>()));
      merge.lines.push_back("exact because the border is b1 (BN-and-pad): every tap of F2 sees b1, "
                            "inside the image and on its border");
      s4.items.push_back(merge);
      finals.emplace_back(name, merged);
    }
  }

  if (const auto identity = state_->block->identity()) {
    auto* id = dynamic_cast<IdentityBranch*>(identity.get());
    const auto I = fold::identityKernel(sp.in_channels, K, g);
    auto [item, kb] = convBnItem("identity", "identity → BN", "I", I, fold::batchNormStats(id->bn), o, i);
    item.lines.push_back(o % Ig == i ? "I" + oi + " has its 1 at the centre: output " + std::to_string(o) +
                                           " copies input " + std::to_string(i)
                                     : "I" + oi + " is all zeros: output " + std::to_string(o) +
                                           " does not copy input " + std::to_string(i));
    s5.items.push_back(item);
    finals.emplace_back("identity", kb);
  }

  // Step 6: the sum, with the same function the block's fold uses.
  {
    std::vector<fold::KernelBias> parts;
    ExplainItem sum;
    sum.branch = "all";
    sum.caption = "Σ over " + std::to_string(finals.size()) + " branch kernel(s)";
    std::vector<std::pair<double, double>> kterms, bterms;
    for (const auto& [name, kb] : finals) {
      parts.push_back(kb);
      sum.inputs.push_back(sliceMatrix(name + " " + oi, kb.kernel, o, i, kb.bias));
    }
    if (!parts.empty()) {
      const auto total = fold::sumBranches(parts);
      sum.outputs.push_back(sliceMatrix("fused F" + oi, total.kernel, o, i, total.bias));
      std::string kline = "F" + oi + centre + " = ", bline = "b[" + std::to_string(o) + "] = ";
      for (size_t k = 0; k < finals.size(); ++k) {
        kline += (k ? " + " : "") + factor(finals[k].second.kernel[o][i][K / 2][K / 2].item<double>());
        bline += (k ? " + " : "") + factor(finals[k].second.bias[o].item<double>());
      }
      sum.lines.push_back(kline + " = " + num(total.kernel[o][i][K / 2][K / 2].item<double>()));
      sum.lines.push_back(bline + " = " + num(total.bias[o].item<double>()));
      const auto core = state_->block->fold(state_->active);
      sum.lines.push_back("max |Σ − the exporter's fold| over the whole kernel = " +
                          num(std::max(maxAbsDiff(total.kernel, core.kernel),
                                       maxAbsDiff(total.bias, core.bias))));
    }
    s6.items.push_back(sum);
  }

  auto none = [](ExplainStep& s, const std::string& why) {
    if (s.items.empty()) s.notes.push_back(why);
  };
  none(s2, "no active 1x1, 1xK or Kx1 branch: nothing to pad (the KxK branch is KxK already)");
  none(s3, "no active 1x1-AVG branch: no average pooling to convert");
  none(s4, "no active 1x1-KxK or 1x1-AVG branch: nothing to merge");
  none(s5, !sp.identity ? "the identity branch is off"
                         : "this block has no identity branch (it needs stride 1 and as many "
                           "output as input channels)");
  if (state_->active.test(static_cast<int>(BranchKind::OneByOneAvg)))
    s1.notes.push_back("the 1x1-AVG branch's second BN is folded in step 3, once the pooling "
                       "is a convolution");
  if (sp.hasIdentityBranch()) s1.notes.push_back("the identity's BN is folded in step 5");
  std::vector<ExplainStep> out{s1, s2, s3, s4, s5, s6};
  for (auto& step : out) {
    step.before = foldStageForms(sp, active(), step.number - 1);
    step.after = foldStageForms(sp, active(), step.number);
  }
  return out;
}

std::vector<KernelData> ReparamExplainer::coreBranchFolds() const {
  torch::NoGradGuard no_grad;
  std::vector<KernelData> out;
  const int K = spec().kernel_size;
  for (BranchKind kind : kExplainOrder)
    if (state_->active.test(static_cast<int>(kind)))
      out.push_back(toKernelData(branchDisplayName(kind, K), state_->block->branch(kind)->fold()));
  if (const auto id = state_->block->identity()) out.push_back(toKernelData("identity", id->fold()));
  return out;
}

KernelData ReparamExplainer::coreFused() const {
  torch::NoGradGuard no_grad;
  return toKernelData("fused KxK", state_->block->fold(state_->active));
}

}  // namespace repnas
