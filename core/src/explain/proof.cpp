// The proof of the explainer (repnas/explain.h): the multi-branch block and its folded KxK on one
// real image, and the two counter-examples (zero padding after the BN, batch statistics).
#include <torch/torch.h>

#include "explain/explain_internal.h"
#include "repnas/error.h"

namespace repnas {

using explain_detail::imageOf;

ProofResult ReparamExplainer::prove(const ExplainImage& image, int image_channels,
                                    const std::string& source, const ProofOptions& options) const {
  torch::NoGradGuard no_grad;
  const auto& sp = spec();
  if (image_channels < 1 || image.height < 1 || image.width < 1 ||
      image.values.size() != static_cast<size_t>(image_channels) * image.height * image.width)
    throw Error("proof: the image's size does not match its shape");
  if (options.out_channel < 0 || options.out_channel >= sp.out_channels || options.in_channel < 0 ||
      options.in_channel >= sp.in_channels)
    throw Error("proof: channel out of range");
  auto img = torch::tensor(image.values, torch::kDouble)
                 .view({1, image_channels, image.height, image.width})
                 .to(torch::kFloat);
  torch::Tensor x;
  ProofResult r;
  r.options = options;
  if (state_->demo) {
    // Standardise the image, then channel c = the image, mirrored for odd c.
    img = (img - img.mean()) / (img.std() + 1e-6);
    std::vector<torch::Tensor> chans;
    for (int c = 0; c < sp.in_channels; ++c) {
      auto ch = img.select(1, c % image_channels);
      chans.push_back((c / image_channels) % 2 ? ch.flip({2}) : ch);
    }
    x = torch::stack(chans, 1);
    r.input_source = source + (sp.in_channels > image_channels
                                   ? ", standardised; channels past the image's " +
                                         std::to_string(image_channels) + " repeat it mirrored"
                                   : ", standardised");
  } else {
    const auto& run = *state_->run;
    if (static_cast<size_t>(image_channels) != run.norm.mean.size())
      throw Error("proof: the run was trained on " + std::to_string(run.norm.mean.size()) +
                  "-channel images, the sample has " + std::to_string(image_channels));
    const auto mean = torch::tensor(run.norm.mean, torch::kFloat).view({1, -1, 1, 1});
    const auto stdev = torch::tensor(run.norm.std, torch::kFloat).view({1, -1, 1, 1});
    x = state_->run->net->layerInput((img - mean) / stdev, run.masks, state_->layer);
    r.input_source = source + (state_->layer == 0
                                   ? ", normalised as in training"
                                   : ", through layers 0–" + std::to_string(state_->layer - 1) +
                                         " of the run");
  }
  auto& block = state_->block;
  // The folded conv, from the same fold the exporter writes (cast once to float).
  const auto folded_kb = fold::castTo(block->fold(state_->active), torch::kFloat);
  const auto folded = torch::conv2d(x, folded_kb.kernel, folded_kb.bias, sp.stride, sp.padding(),
                                    1, sp.groups);
  // The multi-branch block, possibly broken on purpose. Whatever happens (a training-mode
  // BatchNorm refuses a 1x1 output, say), its padding, mode and every buffer (running
  // statistics, counters) are as before when this returns or throws.
  struct Restore {
    DiverseBranchBlock& block;
    std::vector<torch::Tensor> saved;
    ~Restore() {
      block->setBorderPadding(BorderPadding::BatchNormValue);
      block->eval();
      auto buffers = block->buffers();
      for (size_t k = 0; k < buffers.size() && k < saved.size(); ++k) buffers[k].copy_(saved[k]);
    }
  } restore{block, {}};
  for (const auto& b : block->buffers()) restore.saved.push_back(b.clone());
  if (options.zero_padding) block->setBorderPadding(BorderPadding::Zero);
  if (options.batch_statistics) block->train();
  const auto multi = block->preActivation(x, state_->active);

  const auto diff = (multi - folded).abs();
  r.input = imageOf("input channel " + std::to_string(options.in_channel), x[0][options.in_channel]);
  r.multi_branch = imageOf("multi-branch output channel " + std::to_string(options.out_channel),
                           multi[0][options.out_channel]);
  r.folded = imageOf("folded conv output channel " + std::to_string(options.out_channel),
                     folded[0][options.out_channel]);
  r.difference = imageOf("|difference| channel " + std::to_string(options.out_channel),
                         diff[0][options.out_channel]);
  r.max_abs_difference = diff.max().item<double>();
  r.max_abs_output = folded.abs().max().item<double>();
  // Output positions whose K×K window reaches into the padding.
  const int64_t H = x.size(2), W = x.size(3), Ho = folded.size(2), Wo = folded.size(3);
  const int p = sp.padding(), s = sp.stride, K = sp.kernel_size;
  auto touches = [&](int64_t r_out, int64_t n) { return r_out * s - p < 0 || r_out * s - p + K - 1 > n - 1; };
  auto rows = torch::zeros({Ho}, torch::kBool), cols = torch::zeros({Wo}, torch::kBool);
  for (int64_t y = 0; y < Ho; ++y) rows[y] = touches(y, H);
  for (int64_t xx = 0; xx < Wo; ++xx) cols[xx] = touches(xx, W);
  const auto border = rows.view({Ho, 1}).logical_or(cols.view({1, Wo}));
  const auto per_pos = diff[0].amax(0);  // max over channels, [Ho, Wo]
  r.border_max = per_pos.masked_select(border).numel() ? per_pos.masked_select(border).max().item<double>() : 0;
  const auto inner = border.logical_not();
  r.interior_max = per_pos.masked_select(inner).numel() ? per_pos.masked_select(inner).max().item<double>() : 0;
  auto count = [&](int64_t n_out, int64_t n_in, bool from_end) {
    int w = 0;
    while (w < n_out && touches(from_end ? n_out - 1 - w : w, n_in)) ++w;
    return w;
  };
  r.border_top = count(Ho, H, false);
  r.border_bottom = count(Ho, H, true);
  r.border_left = count(Wo, W, false);
  r.border_right = count(Wo, W, true);
  return r;
}
}  // namespace repnas
