#include "formats/run_archive_meta.h"

#include <nlohmann/json.hpp>

#include "formats/json_fields.h"
#include "repnas/error.h"
#include "repnas/events.h"

namespace repnas {

using nlohmann::json;

namespace {
constexpr const char* kWeightsFormat = "repnas-weights-2";
constexpr const char* kCheckpointFormat = "repnas-checkpoint-2";
}  // namespace

std::optional<std::vector<BranchMask>> RunArchiveMeta::architecture() const {
  if (kind == Kind::Weights) return mask;
  if (fixed) return fixed_masks;
  return std::nullopt;
}

std::string runArchiveMetaJson(const RunArchiveMeta& m) {
  json j = {{"format", m.kind == RunArchiveMeta::Kind::Weights ? kWeightsFormat : kCheckpointFormat},
            {"normalization", {{"mean", m.mean}, {"std", m.std}}},
            {"config", json::parse(m.config_json)}};
  if (m.input)
    j["input"] = {{"channels", m.input->channels}, {"height", m.input->height},
                  {"width", m.input->width}, {"classes", m.input->classes}};
  if (m.kind == RunArchiveMeta::Kind::Weights) {
    j["mask"] = maskToBits(m.mask);
    return j.dump();
  }
  j["step"] = m.step;
  j["fixed"] = m.fixed;
  j["fixed_mask"] = maskToBits(m.fixed_masks);
  if (m.budget) j["budget"] = json::parse(budgetToJson(*m.budget));
  if (m.journal_json) j["journal"] = json::parse(*m.journal_json);
  const auto& t = m.epoch_totals;
  j["epoch_totals"] = {{"loss_sum", t.loss_sum}, {"correct", t.correct}, {"count", t.count},
                       {"seconds", t.seconds}};
  return j.dump();
}

RunArchiveMeta parseRunArchiveMeta(const std::string& text) {
  RunArchiveMeta m;
  try {
    const auto j = json::parse(text);
    m.config_json = j.at("config").dump();
    m.mean = j.at("normalization").at("mean").get<std::vector<double>>();
    m.std = j.at("normalization").at("std").get<std::vector<double>>();
    if (j.contains("input")) {
      const auto& in = j.at("input");
      m.input = InputShape{in.at("channels").get<int>(), in.at("height").get<int>(),
                           in.at("width").get<int>(), in.at("classes").get<int>()};
    }
    if (j.contains("mask")) {  // weights.pt (every format: the final architecture)
      m.kind = RunArchiveMeta::Kind::Weights;
      m.mask = maskFromBits(j.at("mask").get<std::vector<int>>());
      return m;
    }
    m.kind = RunArchiveMeta::Kind::Checkpoint;
    m.step = j.at("step").get<int64_t>();
    m.fixed = j.at("fixed").get<bool>();
    m.fixed_masks = maskFromBits(j.at("fixed_mask").get<std::vector<int>>());
    if (j.contains("budget")) m.budget = budgetFromJson(j.at("budget").dump());
    if (j.contains("journal")) m.journal_json = j.at("journal").dump();
    if (j.contains("epoch_totals")) {
      const auto& t = j.at("epoch_totals");
      m.epoch_totals = {t.at("loss_sum").get<double>(), t.at("correct").get<int64_t>(),
                        t.at("count").get<int64_t>(), t.at("seconds").get<double>()};
    }
  } catch (const json::exception& e) {
    throw Error("malformed metadata: " + jsonMessage(e));
  }
  return m;
}

}  // namespace repnas
