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
  j["seconds_before_fix"] = m.seconds_before_fix;
  j["search_phase_seconds"] = m.search_phase_seconds;
  return j.dump();
}

RunArchiveMeta parseRunArchiveMeta(const std::string& text) {
  RunArchiveMeta m;
  try {
    const auto j = json::parse(text);
    m.config_json = field(j, "config").dump();
    const auto& norm = field(j, "normalization");
    m.mean = numbersField(norm, "mean", kMaxChannels);
    m.std = numbersField(norm, "std", kMaxChannels);
    if (j.contains("input")) {
      const auto& in = field(j, "input");
      m.input = InputShape{integerField<int>(in, "channels"), integerField<int>(in, "height"),
                           integerField<int>(in, "width"), integerField<int>(in, "classes")};
    }
    if (j.contains("mask")) {  // weights.pt (every format: the final architecture)
      m.kind = RunArchiveMeta::Kind::Weights;
      m.mask = maskField(j, "mask");
      return m;
    }
    m.kind = RunArchiveMeta::Kind::Checkpoint;
    m.step = integerField<int64_t>(j, "step", 0);
    m.fixed = boolField(j, "fixed");
    m.fixed_masks = maskField(j, "fixed_mask");
    if (j.contains("budget")) m.budget = budgetFromJson(field(j, "budget").dump());
    if (j.contains("journal")) m.journal_json = field(j, "journal").dump();
    if (j.contains("epoch_totals")) {
      const auto& t = field(j, "epoch_totals");
      m.epoch_totals = {numberField(t, "loss_sum"), integerField<int64_t>(t, "correct", 0),
                        integerField<int64_t>(t, "count", 0), numberField(t, "seconds")};
    }
    if (j.contains("seconds_before_fix")) m.seconds_before_fix = numberField(j, "seconds_before_fix");
    if (j.contains("search_phase_seconds")) m.search_phase_seconds = numberField(j, "search_phase_seconds");
  } catch (const json::exception& e) {
    throw Error("malformed metadata: " + jsonMessage(e));
  } catch (const Error& e) {
    throw Error(std::string("malformed metadata: ") + e.what());
  }
  return m;
}

}  // namespace repnas
