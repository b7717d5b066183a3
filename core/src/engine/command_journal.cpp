#include "repnas/command_journal.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

#include "formats/json_fields.h"
#include "repnas/error.h"

namespace repnas {

using nlohmann::json;

namespace {

/// The oldest entries go beyond this many (an undo limit, as QUndoStack's): the journal rides
/// in every command's event and in the checkpoint.
constexpr size_t kJournalLimit = 200;

std::string limitsText(const Budget& b, size_t l) {
  return std::to_string(b.layer_min[l]) + ".." + std::to_string(b.layer_max[l]);
}

std::string countText(int k) { return k == kAnyCount ? "any" : std::to_string(k); }

std::string costText(double limit) {
  if (limit <= 0) return "none";
  std::ostringstream o;
  o << limit;
  return o.str();
}

}  // namespace

bool sameBudgetSetting(const Command& a, const Command& b) {
  if (a.type != b.type) return false;
  if (a.type == Command::Type::SetBudget) return true;
  if (a.type == Command::Type::SetCostLimits) return (a.max_ms >= 0) == (b.max_ms >= 0) && (a.max_mb >= 0) == (b.max_mb >= 0);
  if (a.type == Command::Type::SetPin) return a.layer == b.layer && a.branch == b.branch;
  return a.layer == b.layer;
}

std::string describeBudgetChange(const Budget& before, const Budget& after) {
  std::vector<std::string> parts;
  if (before.k != after.k)
    parts.push_back("budget k " + countText(before.k) + " → " + countText(after.k));
  if (before.max_ms != after.max_ms)
    parts.push_back("ms per step limit " + costText(before.max_ms) + " → " + costText(after.max_ms));
  if (before.max_mb != after.max_mb)
    parts.push_back("training MB limit " + costText(before.max_mb) + " → " + costText(after.max_mb));
  const size_t layers = std::min(before.layer_min.size(), after.layer_min.size());
  for (size_t l = 0; l < layers; ++l) {
    if (before.layer_min[l] != after.layer_min[l] || before.layer_max[l] != after.layer_max[l])
      parts.push_back("layer " + std::to_string(l) + " limits " + limitsText(before, l) + " → " +
                      limitsText(after, l));
    for (int j = 0; j < kNumBranchKinds; ++j)
      if (before.pins[l][j] != after.pins[l][j])
        parts.push_back("pin layer " + std::to_string(l) + " " +
                        std::string(branchName(static_cast<BranchKind>(j))) + ": " + pinName(before.pins[l][j]) +
                        " → " + pinName(after.pins[l][j]));
  }
  if (parts.empty()) return "no change";
  std::string out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) out += "; " + parts[i];
  return out;
}

std::optional<std::string> CommandJournal::apply(int64_t id, const Command& c, int layers,
                                                 Budget& budget) {
  if (c.type == Command::Type::Undo) {
    if (index_ == 0) return std::string("nothing to undo");
    budget = entries_[--index_].before;
    return std::nullopt;
  }
  if (c.type == Command::Type::Redo) {
    if (index_ == static_cast<int>(entries_.size())) return std::string("nothing to redo");
    budget = entries_[index_++].after;
    return std::nullopt;
  }
  const Budget before = budget;
  if (auto why = applyBudgetEdit(c, layers, budget)) return why;  // refused: never enters
  if (budget == before) return std::nullopt;                      // nothing to undo
  entries_.resize(index_);  // a new edit ends the redo side
  if (c.merge != 0 && !entries_.empty() && entries_.back().merge == c.merge &&
      sameBudgetSetting(entries_.back().command, c)) {  // the same drag: one entry
    auto& top = entries_.back();
    top.command = c;
    top.after = budget;
    if (top.after == top.before) entries_.pop_back();  // the drag came back where it started
  } else {
    entries_.push_back({id, c.merge, c, before, budget});
    if (entries_.size() > kJournalLimit) entries_.erase(entries_.begin());
  }
  index_ = static_cast<int>(entries_.size());
  return std::nullopt;
}

JournalView CommandJournal::view() const {
  JournalView v;
  v.known = true;
  v.index = index_;
  for (const auto& e : entries_) v.entries.push_back(describeBudgetChange(e.before, e.after));
  return v;
}

std::string CommandJournal::undoText() const {
  return index_ > 0 ? describeBudgetChange(entries_[index_ - 1].before, entries_[index_ - 1].after) : "";
}

std::string CommandJournal::redoText() const {
  return index_ < static_cast<int>(entries_.size())
             ? describeBudgetChange(entries_[index_].before, entries_[index_].after)
             : "";
}

std::string CommandJournal::toJson() const {
  json entries = json::array();
  for (const auto& e : entries_)
    entries.push_back({{"id", e.id},
                       {"command", e.command.describe()},
                       {"before", json::parse(budgetToJson(e.before))},
                       {"after", json::parse(budgetToJson(e.after))}});
  return json{{"index", index_}, {"entries", entries}}.dump();
}

CommandJournal CommandJournal::fromJson(const std::string& text, int layers) {
  CommandJournal out;
  try {
    const json j = json::parse(text);
    const json& entries = field(j, "entries");
    if (!entries.is_array() || entries.size() > kJournalLimit)
      badField("entries", "expected a list of at most " + std::to_string(kJournalLimit) + " edits");
    for (const auto& e : entries) {
      Entry entry;
      entry.id = integerField<int64_t>(e, "id", 1);
      entry.before = budgetFromJson(field(e, "before").dump());
      entry.after = budgetFromJson(field(e, "after").dump());
      for (const Budget* b : {&entry.before, &entry.after})
        if (auto problem = budgetProblem(*b, layers)) badField("entries", *problem);
      // The command and merge id serve merging only: a restored entry merges with nothing.
      out.entries_.push_back(std::move(entry));
    }
    out.index_ = integerField<int>(j, "index", 0, static_cast<int>(out.entries_.size()));
  } catch (const json::exception& e) {
    throw Error("the budget-edit journal: " + jsonMessage(e));
  } catch (const Error& e) {
    throw Error(std::string("the budget-edit journal: ") + e.what());
  }
  return out;
}

}  // namespace repnas
