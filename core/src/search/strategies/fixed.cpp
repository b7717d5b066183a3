#include "search/strategies/fixed.h"

#include "repnas/error.h"

namespace repnas {
namespace {

class FixedStrategy : public Strategy {
 public:
  FixedStrategy(const StrategyInfo& info, std::vector<BranchMask> masks)
      : info_(info), masks_(std::move(masks)) {}

  const StrategyInfo& info() const override { return info_; }
  StepOutcome step(SearchContext&) override {
    throw Error("the fixed strategy " + info_.name + " has no searching phase");
  }
  std::vector<BranchMask> derive(const Budget&) const override { return masks_; }
  std::vector<float> importance() const override {
    return std::vector<float>(masks_.size() * kNumBranchKinds, 0.f);
  }
  void save(torch::serialize::OutputArchive&) const override {}
  void load(torch::serialize::InputArchive&) override {}

 private:
  const StrategyInfo& info_;
  std::vector<BranchMask> masks_;
};

}  // namespace

std::unique_ptr<Strategy> makeFixedStrategy(const RunConfig& config, const BackboneSpec& backbone) {
  const auto& info = strategyInfo(config.mode);
  auto masks = info.given_mask ? config.mask.layers : uniformMasks(backbone, info.branches);
  if (static_cast<int>(masks.size()) != backbone.numLayers())
    throw Error("mode " + info.name + ": the mask has " + std::to_string(masks.size()) +
                " layers, the network " + std::to_string(backbone.numLayers()));
  return std::make_unique<FixedStrategy>(info, std::move(masks));
}

}  // namespace repnas
