#pragma once
/// @file command_journal.h
/// @brief The engine's journal of budget edits (issue 16): the run's undo history, kept with
/// the run as Okular keeps its undo stack with the document. Every accepted budget edit is an
/// entry (the budget before and after it); a refused one never enters; edits of one slider
/// drag (the same non-zero Command::merge, one after another) are one entry; Undo and Redo
/// are commands the engine applies between steps like any edit. The journal is saved in the
/// checkpoint, so a resumed run can still undo; the GUI's undo stack is a view of it. Plain
/// C++ (no torch, no Qt).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repnas/budget.h"
#include "repnas/events.h"

namespace repnas {

/// @brief What the budget edit from `before` to `after` changed, for the history and the
/// undo menu: "budget k 16 → 20", "layer 3 limits 0..6 → 1..6", "pin layer 2 1x1-AVG: auto →
/// keep" (several changes are joined with "; ").
std::string describeBudgetChange(const Budget& before, const Budget& after);

/// @brief Whether two budget edits change the same setting (k; one layer's limits; one pin):
/// the edits of one drag merge only then.
bool sameBudgetSetting(const Command& a, const Command& b);

class CommandJournal {
 public:
  struct Entry {
    int64_t id = 0;      ///< the command that made it (the first of a merged drag)
    int64_t merge = 0;   ///< Command::merge of its commands (0: not mergeable)
    Command command;     ///< its last command
    Budget before, after;
  };

  /// @brief Applies `command` (a budget edit, Undo or Redo) to `budget` for a network of
  /// `layers` layers: nullopt when applied, else why not (`budget` and the journal
  /// unchanged). Other command types are refused.
  std::optional<std::string> apply(int64_t id, const Command& command, int layers, Budget& budget);

  /// @brief The entries (oldest first) and how many of them are in force.
  const std::vector<Entry>& entries() const { return entries_; }
  int index() const { return index_; }
  /// @brief What the GUI shows: describeBudgetChange of every entry, and the index.
  JournalView view() const;
  /// @brief What Undo (Redo) would do now, or "" when there is nothing.
  std::string undoText() const;
  std::string redoText() const;

  /// @brief The journal as JSON (for the checkpoint) and back; fromJson checks every budget
  /// against `layers` and throws repnas::Error naming the problem.
  std::string toJson() const;
  static CommandJournal fromJson(const std::string& text, int layers);

 private:
  std::vector<Entry> entries_;
  int index_ = 0;
};

}  // namespace repnas
