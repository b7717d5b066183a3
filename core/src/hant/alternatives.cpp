#include "hant/alternatives.h"

#include "repnas/error.h"

namespace repnas {

std::string hantOpName(HantOp op) {
  switch (op) {
    case HantOp::Dense: return "dense";
    case HantOp::DepthwisePointwise: return "dw+pw";
    case HantOp::Grouped2: return "group2";
    case HantOp::Grouped4: return "group4";
    case HantOp::LowRankHalf: return "lowrank/2";
    case HantOp::LowRankQuarter: return "lowrank/4";
    case HantOp::Separable: return "1xK+Kx1";
    case HantOp::Pointwise: return "1x1";
    case HantOp::Identity: return "identity";
  }
  return "?";
}

namespace {

int rankOf(HantOp op, const BlockSpec& c) {
  return op == HantOp::LowRankHalf ? c.out_channels / 2 : c.out_channels / 4;
}

torch::nn::Conv2d conv(int in, int out, int kh, int kw, int sh, int sw, int groups, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, {kh, kw})
                               .stride({sh, sw})
                               .padding({kh / 2, kw / 2})
                               .groups(groups)
                               .bias(bias));
}

}  // namespace

bool hantOpAvailable(HantOp op, const BlockSpec& c) {
  if (c.groups != 1) return op == HantOp::Dense;  // the teacher is grouped already: keep it
  switch (op) {
    case HantOp::Dense:
    case HantOp::DepthwisePointwise:
    case HantOp::Separable:
    case HantOp::Pointwise: return true;
    case HantOp::Grouped2: return c.in_channels % 2 == 0 && c.out_channels % 2 == 0 && c.in_channels >= 2;
    case HantOp::Grouped4: return c.in_channels % 4 == 0 && c.out_channels % 4 == 0 && c.in_channels >= 4;
    case HantOp::LowRankHalf:
    case HantOp::LowRankQuarter: {
      const int r = rankOf(op, c);
      return r >= 1 && r < std::min(c.in_channels, c.out_channels);
    }
    case HantOp::Identity: return c.in_channels == c.out_channels && c.stride == 1;
  }
  return false;
}

HantAltImpl::HantAltImpl(HantOp op, const BlockSpec& c, const torch::nn::Conv2d& teacher) : op_(op) {
  if (!hantOpAvailable(op, c))
    throw Error("HANT: " + hantOpName(op) + " does not fit a " + std::to_string(c.in_channels) + "->" +
                std::to_string(c.out_channels) + " layer of stride " + std::to_string(c.stride));
  const int k = c.kernel_size, s = c.stride, in = c.in_channels, out = c.out_channels;
  switch (op) {
    case HantOp::Dense: convs = {conv(in, out, k, k, s, s, c.groups, true)}; break;
    case HantOp::DepthwisePointwise: convs = {conv(in, in, k, k, s, s, in, false), conv(in, out, 1, 1, 1, 1, 1, true)}; break;
    case HantOp::Grouped2: convs = {conv(in, out, k, k, s, s, 2, true)}; break;
    case HantOp::Grouped4: convs = {conv(in, out, k, k, s, s, 4, true)}; break;
    case HantOp::LowRankHalf:
    case HantOp::LowRankQuarter: {
      const int r = rankOf(op, c);
      convs = {conv(in, r, k, k, s, s, 1, false), conv(r, out, 1, 1, 1, 1, 1, true)};
      break;
    }
    case HantOp::Separable: convs = {conv(in, out, 1, k, 1, s, 1, false), conv(out, out, k, 1, s, 1, 1, true)}; break;
    case HantOp::Pointwise: convs = {conv(in, out, 1, 1, s, s, 1, true)}; break;
    case HantOp::Identity: break;
  }
  for (size_t i = 0; i < convs.size(); ++i) register_module("conv" + std::to_string(i), convs[i]);
  if (op == HantOp::Dense && teacher) {
    torch::NoGradGuard no_grad;
    convs[0]->weight.copy_(teacher->weight);
    convs[0]->bias.copy_(teacher->bias);
  }
}

torch::Tensor HantAltImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& c : convs) h = c->forward(h);
  return h;
}

int64_t HantAltImpl::parameterCount() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace repnas
