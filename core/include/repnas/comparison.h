#pragma once
/// @file comparison.h
/// @brief Strategies side by side (issue 19, STRATEGIES.md §5): the trials of one comparison —
/// per seed each strategy's search, its ODBB retrained from scratch with one recipe, random masks
/// of the same k, the fixed baselines — each a normal run folder that a finished trial leaves a
/// summary in (trial.json), and the table computed from those summaries alone. The comparison
/// folder holds its request (comparison.json) and one sub-folder per seed; a folder made by
/// `repnas-bench protocol` (bench_run.json summaries) reads as one. With "hant" among the
/// strategies, each seed's plain baseline is also the teacher of a HANT trial (`repnas hant` at
/// one speed-up, and a sweep). Plain C++ (no torch, no Qt).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "repnas/budget.h"
#include "repnas/config.h"

namespace repnas {

/// @brief What a search run's event log says about its architecture parameters.
struct SearchStats {
  bool has = false;
  double max_abs_alpha = 0;           ///< at the fix
  std::optional<double> alpha_margin; ///< k-th minus (k+1)-th α at the last search step
  double final_noise = 0;             ///< τ at the last search step
  double agreement_last_epoch = 0;    ///< mean mask agreement over the last search epoch
};

/// @brief What a finished trial left in its folder.
struct TrialOutcome {
  std::string status;
  double test_accuracy = 0;     ///< fraction
  double seconds = 0;           ///< wall time of the invocation that finished it
  double epoch_seconds = 0;     ///< Σ epoch durations in the event log: the whole run
  /// Σ of its warm-up and search epochs (0: not a search; nullopt: not recorded, a summary
  /// kept without its event log)
  std::optional<double> search_seconds;
  std::optional<double> cpu_seconds;  ///< process CPU time of the invocation that finished it
  std::optional<double> peak_rss_mb;  ///< peak resident memory of that process (MiB)
  bool resumed = false;         ///< finished by a resumed invocation (cpu and rss: that part only)
  int branches = 0;             ///< kept branches, identity not counted
  int budget_k = 0;             ///< the budget in force at the end
  std::optional<double> val_accuracy;  ///< of the last epoch, with val_split
  SearchStats search;           ///< search runs only
  std::vector<BranchMask> mask; ///< the trial's architecture (empty: not recorded)
  /// HANT trials: the student's and the teacher's latency measured side by side (ms, batch 1),
  /// and the sweep's points (measured ms, validation accuracy of the distilled student).
  std::optional<double> latency_ms, teacher_latency_ms;
  std::vector<std::pair<double, double>> latency_points;
};

/// @brief What a run reads of its configuration (config.json's JSON), for deciding whether a
/// recorded run is the experiment `config`: threads (speed, rounding), the BatchNorm
/// recalibration of search-epoch evaluations, and keys only other strategies read, left out.
bool sameExperiment(const std::string& recorded_config_json, const RunConfig& config);

/// @brief The outcome of the finished trial of `config` in `dir`, or nullopt when the folder
/// holds no finished trial of that experiment.
std::optional<TrialOutcome> finishedTrial(const std::string& dir, const RunConfig& config);

/// @brief The summary a finished trial left in `dir` (trial.json, or a benchmark's
/// bench_run.json), whatever its experiment; nullopt when there is none or it does not parse.
std::optional<TrialOutcome> readTrialSummary(const std::string& dir);

/// @brief Runs `config` in `dir` in this process (a finished trial of it there is reused; an
/// interrupted one with the same experiment resumes from its checkpoint; anything else there is
/// replaced) and writes the summary. Error when the run does not complete.
TrialOutcome runTrial(const RunConfig& config, const std::string& dir, bool quiet = true);

/// @brief HANT's options in a comparison (`repnas hant`'s, --hant-set KEY=VALUE).
struct ComparisonHant {
  double speedup = 1.5;                        ///< the student's budget: the teacher's latency / speedup
  std::vector<double> sweep = {1.25, 1.5, 2, 3};  ///< the speed-up/accuracy curve (distilled students)
  int distill_steps = 400, finetune_steps = 400, fit_students = 150, repeats = 9, batch = 128;
  bool operator==(const ComparisonHant& o) const {
    return speedup == o.speedup && sweep == o.sweep && distill_steps == o.distill_steps &&
           finetune_steps == o.finetune_steps && fit_students == o.fit_students && repeats == o.repeats &&
           batch == o.batch;
  }
};
/// @brief Sets one option ("speedup", "sweep" as A/B/C or A,B,C, "distill_steps", "finetune_steps",
/// "fit_students", "repeats", "batch") from KEY=VALUE; Error naming the key.
void setComparisonHantOption(ComparisonHant& hant, const std::string& key_value);

/// @brief The request of a comparison (comparison.json).
struct ComparisonRequest {
  std::vector<std::string> strategies = {"search", "gdas", "rena"};  ///< search strategies
  /// "hant" among the strategies asked: each seed's plain baseline (which must be asked) is
  /// transformed by HANT with these options.
  std::optional<ComparisonHant> hant;
  std::vector<std::uint64_t> seeds = {1, 2, 3};
  int random_masks = 3;  ///< random masks of the same k per seed
  std::vector<std::string> baselines = {"plain", "repvgg", "dbb"};
  std::vector<std::string> overrides;  ///< KEY=VALUE, applied to every run
};

/// @brief One run of a comparison.
struct ComparisonTrial {
  enum class Kind { Search, Retrained, Random, Baseline, Hant };
  Kind kind = Kind::Search;
  std::string group;     ///< its row: the strategy, "<strategy> retrained", "random", a baseline
  std::string strategy;  ///< Search, Retrained: the strategy; Baseline: the mode; Hant: "hant"
  std::uint64_t seed = 0;  ///< the protocol seed (a random mask's run seed differs: seed + 1000 r)
  std::string dir;       ///< relative to the comparison folder, e.g. "protocol-seed1/gdas"
  std::string after;     ///< the trial whose result it needs ("" for none; Hant: its teacher)
};

/// @brief Validates the request (strategies, baselines, seeds, overrides); Error naming the field.
void validateComparison(const ComparisonRequest& request);
/// @brief Every trial, searches first (a retrained trial comes after its search).
std::vector<ComparisonTrial> comparisonTrials(const ComparisonRequest& request);
/// @brief The configuration of `trial` in the comparison folder `root` (a retrained trial reads
/// its search's folder: Error when that search has not finished; a HANT trial: its teacher's).
RunConfig comparisonTrialConfig(const ComparisonRequest& request, const ComparisonTrial& trial,
                                const std::string& root);
/// @brief The trial named by its dir; Error when the request has none.
ComparisonTrial comparisonTrial(const ComparisonRequest& request, const std::string& dir);
/// @brief The outcome of `trial` when it has finished as the request asks (nullopt otherwise,
/// a retraining or HANT trial whose prerequisite has not finished included).
std::optional<TrialOutcome> finishedComparisonTrial(const ComparisonRequest& request, const ComparisonTrial& trial,
                                                    const std::string& root);
/// @brief Runs `trial` in this process (runTrial; a HANT trial runs `repnas hant` on its teacher
/// and writes its summary). Error when it cannot complete.
TrialOutcome runComparisonTrial(const ComparisonRequest& request, const ComparisonTrial& trial,
                                const std::string& root, bool quiet = true);

/// @brief comparison.json and back (format "repnas-comparison-1"); Error naming the file/field.
std::string comparisonRequestToJson(const ComparisonRequest& request);
ComparisonRequest comparisonRequestFromJson(const std::string& text);
/// @brief The request in `root` (Error naming the file when it is missing or bad).
ComparisonRequest loadComparison(const std::string& root);
/// @brief Writes `request` to `root`/comparison.json; when one is there already it must be the
/// same request (Error naming the first difference): a comparison folder holds one comparison.
void saveComparison(const ComparisonRequest& request, const std::string& root);
inline constexpr const char* kComparisonFile = "comparison.json";

// --- the arithmetic, separately testable -------------------------------------------------------

/// @brief Mean and sample standard deviation (n − 1; 0 for one value).
std::pair<double, double> meanStd(const std::vector<double>& v);
/// @brief The pooled sample standard deviation of two groups (0 without degrees of freedom).
double pooledStd(const std::vector<double>& a, const std::vector<double>& b);
/// @brief Kendall's τ-b of two equally long sequences (ties corrected); nullopt when either is
/// constant or shorter than 2.
std::optional<double> kendallTau(const std::vector<double>& a, const std::vector<double>& b);
/// @brief (layer, branch) positions where two masks differ (identity not counted).
int hammingDistance(const std::vector<BranchMask>& a, const std::vector<BranchMask>& b);
/// @brief The mean Hamming distance over all pairs of `masks` (nullopt for fewer than two).
std::optional<double> meanPairwiseHamming(const std::vector<std::vector<BranchMask>>& masks);

/// @brief The Pareto front of points (cost, accuracy): the indices of the points no other point
/// beats (cost ≤ and accuracy ≥, one of them strictly), by increasing cost.
std::vector<size_t> paretoFront(const std::vector<double>& cost, const std::vector<double>& accuracy);
/// @brief How often each (layer, branch) is kept over `masks` (equally long), 0..1.
std::vector<std::array<double, kNumBranchKinds>> keepFrequency(const std::vector<std::vector<BranchMask>>& masks);

// --- the run catalogue (the GUI's comparison view) ----------------------------------------------

/// @brief The run folders `dir` names: itself when it holds a run (config.json); a comparison
/// folder's trials that exist (comparison.json); else the run folders below it, up to three
/// levels deep, sorted. Empty when it holds none.
std::vector<std::string> findRunFolders(const std::string& dir);
/// @brief What a HANT output folder (hant.json) says, for the comparison view: latencies in the
/// time of its latency table (ms per image at its batch; a student's measured latency scaled by
/// the teacher's in the same measurement), accuracies as fractions.
struct HantSummary {
  std::string dir;
  std::string backbone;        ///< the teacher's ("" when neither hant.json nor the teacher says)
  double teacher_ms = 0;
  double teacher_test = 0;
  std::optional<double> student_ms, student_test;   ///< the budget's student, fine-tuned
  std::vector<std::pair<double, double>> sweep;     ///< (ms, validation accuracy), distilled students
};
/// @brief The summary of `dir`/hant.json; nullopt when there is none or it does not parse.
std::optional<HantSummary> readHantSummary(const std::string& dir);
/// @brief The HANT output folders `dir` names, as findRunFolders does for runs (itself, a
/// comparison's HANT trials, or the folders below it up to three levels deep).
std::vector<std::string> findHantFolders(const std::string& dir);
/// @brief Whether `key` means something in the configuration (JSON text): false for a key of
/// another strategy than the configuration's (e.g. gdas_tau_start in a RepNAS run).
bool configKeyApplies(const std::string& config_json, const std::string& key);
/// @brief The configuration keys whose values differ between the configurations (JSON texts,
/// as config.json holds them), sorted; each compared among the configurations it applies to; a
/// key absent from one counts as differing.
std::vector<std::string> differingConfigKeys(const std::vector<std::string>& config_jsons);
/// @brief The value of `key` in a configuration (JSON text) as compact JSON ("" when absent).
std::string configValueText(const std::string& config_json, const std::string& key);

// --- the table ----------------------------------------------------------------------------------

/// @brief One row: a group of runs over the seeds.
struct ComparisonRow {
  std::string group;
  ComparisonTrial::Kind kind = ComparisonTrial::Kind::Baseline;
  std::string strategy;
  int n = 0;                      ///< finished runs
  int missing = 0;                ///< trials not finished yet
  std::vector<double> accuracy;   ///< test accuracy %, per finished run
  double mean = 0, std = 0;       ///< of accuracy
  double wall_seconds = 0;        ///< mean Σ epoch seconds per run
  std::optional<double> search_seconds;  ///< mean warm-up + search seconds over runs that recorded it
  std::optional<double> cpu_seconds;  ///< mean over runs that recorded it
  std::optional<double> peak_rss_mb;  ///< max over runs that recorded it
  int branches = 0;               ///< of the last run
  std::optional<double> train_ms, train_mb;  ///< the mask's measured training cost (mean)
  int k_compliant = 0;            ///< runs whose kept branches equal their budget's k
  std::optional<double> hamming;  ///< mean pairwise Hamming distance of the masks over seeds
  std::optional<double> score_tau;  ///< search rows: τ(search's own accuracy, retrained accuracy)
  /// HANT: the student's measured latency and speed-up over its teacher (means over seeds).
  std::optional<double> latency_ms, speedup;
  std::vector<std::vector<BranchMask>> masks;  ///< per finished run
  std::vector<std::uint64_t> seeds;            ///< per finished run
};

/// @brief A verdict: `a` against `b`, called only beyond twice their pooled std.
struct ComparisonVerdict {
  std::string a, b;
  double difference = 0;  ///< mean a − mean b, points
  double pooled_std = 0;  ///< points
  std::string call;       ///< "better", "worse" or "no call"
};

struct ComparisonTable {
  std::vector<ComparisonRow> rows;
  std::vector<ComparisonVerdict> verdicts;  ///< each retrained row vs random, and pairwise
  bool complete = false;                    ///< every trial finished
};

/// @brief The table from the finished trials' summaries in `root` (unfinished ones counted
/// as missing). `costs` (optional) prices each mask in measured ms and MiB.
ComparisonTable comparisonTable(const ComparisonRequest& request, const std::string& root,
                                const BranchCostTable* costs = nullptr);
/// @brief The table as text (fixed-width), CSV (one line per row) and JSON.
std::string comparisonTableText(const ComparisonTable& table);
std::string comparisonTableCsv(const ComparisonTable& table);
std::string comparisonTableJson(const ComparisonTable& table, const ComparisonRequest& request);
/// @brief Writes the table as `root`/comparison-table.json and .csv (atomically); their paths.
std::vector<std::string> saveComparisonTable(const ComparisonTable& table, const ComparisonRequest& request,
                                             const std::string& root);

}  // namespace repnas
