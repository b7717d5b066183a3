#pragma once
/// @file hant.h
/// @brief HANT, hardware-aware network transformation (Molchanov et al., 2021; issue 17,
/// STRATEGIES.md §4) on a finished run: the run's folded network is the teacher; every layer's
/// KxK conv gets real inference-time alternatives (dense, depthwise + pointwise, grouped,
/// low-rank, 1xK then Kx1, 1x1, identity), each trained by layer-wise distillation from the
/// teacher's features and scored by the validation loss change when only that layer is
/// swapped; their latency is measured on this machine; the multiple-choice knapsack (CBC)
/// picks one per layer under a latency budget; the student is fine-tuned with distillation.
/// Plain C++ (no torch).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "repnas/export.h"

namespace repnas {

/// @brief An inference-time operation that can take a layer's KxK conv's place.
enum class HantOp {
  Dense = 0,           ///< the teacher's own KxK conv
  DepthwisePointwise,  ///< depthwise KxK (stride s) then pointwise 1x1
  Grouped2,            ///< KxK with 2 groups
  Grouped4,            ///< KxK with 4 groups
  LowRankHalf,         ///< KxK C → C'/2, then 1x1 → C'
  LowRankQuarter,      ///< KxK C → C'/4, then 1x1 → C'
  Separable,           ///< 1xK then Kx1
  Pointwise,           ///< 1x1 (stride s)
  Identity,            ///< nothing (where in = out channels and stride 1)
};
inline constexpr int kNumHantOps = 9;
/// @brief "dense", "dw+pw", "group2", "group4", "lowrank/2", "lowrank/4", "1xK+Kx1", "1x1", "identity".
std::string hantOpName(HantOp op);

/// @brief What `repnas hant` is asked.
struct HantOptions {
  std::string run_dir;          ///< a finished run (weights.pt): the teacher
  std::string out_dir;          ///< receives hant.json and (with a budget) the student: student.onnx, student.pt (TorchScript), student.json + student.safetensors
  double latency_budget_ms = 0; ///< the student's predicted latency at batch_latency; 0: use speedup
  double speedup = 0;           ///< budget = teacher latency / speedup (when no ms budget)
  int latency_batch = 1;        ///< the batch the budget is in (1: a single image)
  int throughput_batch = 64;    ///< measured beside it
  int latency_repeats = 9;      ///< timed rounds (interleaved over every (layer, op))
  /// Random students measured to fit the latency model (each layer a random operation, the
  /// share of swapped layers uniform per student); 0: the single-swap deltas alone.
  int fit_students = 150;
  /// The share of them whose swapped layers take one of the layer's faster half of operations
  /// (by the single-swap prior), to cover the cheap students tight budgets choose; 0: all drawn
  /// uniformly (until measured otherwise, bench/README.md "hant").
  double fit_faster_share = 0;
  int distill_steps = 400;      ///< phase 1: steps of every alternative on teacher features
  int finetune_steps = 400;     ///< the chosen student's distillation fine-tuning
  int batch = 128;              ///< of phase 1 and the fine-tuning
  double distill_lr = 3e-3;     ///< Adam, phase 1
  /// Adam learning rates of the fine-tuning: each run from the distilled student, the state
  /// kept the best seen on the validation split over all of them. Measured (bench/README.md
  /// "hant"): 1e-3 wrecks repvgg-a0's student (59% → 10–47%); 1e-4 or 3e-4 is the best on
  /// every run of tiny and repvgg-a0.
  std::vector<double> finetune_lrs = {1e-4, 3e-4};
  int64_t val_images = 5000;    ///< held out of the training images for the scores (never the test set)
  int threads = 1;
  uint64_t seed = 1;
  std::vector<double> sweep;    ///< speed-ups for --sweep (each solved; no fine-tuning)
  /// Asked between the steps of every stage; true stops the run (Error "hant: cancelled";
  /// nothing is written).
  std::function<bool()> cancelled;
};

/// @brief One alternative of one layer, measured and scored.
struct HantCandidate {
  HantOp op = HantOp::Dense;
  bool available = false;     ///< the layer's shapes allow it
  /// What this operation adds to a student's latency at latency_batch (the dense conv's is 0):
  /// the latency model fitted to every measured student, with swap_ms as its prior.
  double latency_ms = 0;
  /// The network's latency with only this layer swapped minus the teacher's (median over
  /// rounds of paired differences), and its quartiles.
  double swap_ms = 0;
  double latency_low = 0, latency_high = 0;
  double throughput_ms = 0;   ///< the same at throughput_batch
  double distill_loss = 0;    ///< layer MSE after phase 1 (relative to the teacher output's mean square)
  double distill_loss_start = 0;  ///< before phase 1
  double score = 0;           ///< validation loss change when only this layer is swapped
  int64_t params = 0;
};

/// @brief One point of the speed-up / accuracy curve.
struct HantPoint {
  double budget_ms = 0;
  double predicted_ms = 0;        ///< by the latency model, before this student was measured
  double measured_ms = 0;         ///< the student, interleaved with the teacher:
  double teacher_measured_ms = 0; ///< the teacher in the same measurement (compare ratios)
  /// measured_ms in the time of the latency table: × teacher_ms / teacher_measured_ms (the
  /// machine drifts between the two measurements); what the budget is checked against.
  double normalized_ms = 0;
  bool meets_budget = false;      ///< normalized_ms <= budget_ms
  int iterations = 0;             ///< knapsack solves until it met the budget (at most 4)
  double val_accuracy = 0;        ///< the distilled student before fine-tuning
  std::vector<HantOp> choice;     ///< per layer
  double solve_seconds = 0;
  bool optimal = false;
};

/// @brief What `repnas hant` found.
struct HantResult {
  std::string teacher;                   ///< the run folder
  std::string backbone;                  ///< the teacher's
  std::vector<std::vector<HantCandidate>> layers;  ///< [layer][op]
  double base_ms = 0;                    ///< what a student's prediction starts from: the teacher's latency
  /// The latency model's fit: its ridge weight, its cross-validated relative error (the RMS of
  /// (predicted − measured) / measured over held-out students; −1 with fewer than 5), and the
  /// students it was fitted to (the random ones, then every student measured in the solve loop).
  double fit_ridge = 0, fit_cv_error = -1;
  /// The knapsack solves under budget × (1 − margin): half the cross-validated error of the
  /// fit to the random students (at most 0.25).
  double margin = 0;
  std::vector<HantPoint> samples;
  double teacher_ms = 0;                 ///< measured, at latency_batch
  double teacher_throughput_ms = 0;
  HantPoint chosen;                      ///< under the budget, fine-tuned
  double budget_ms = 0;
  double teacher_val = 0, teacher_test = 0;
  /// Validation accuracy before fine-tuning, the best seen while fine-tuning (checked every
  /// quarter of the steps of each learning rate; the state kept is the best one, step 0 the
  /// distilled student), and that state's test accuracy.
  double student_val_before = 0, student_val = 0, student_test = 0;
  int student_best_step = 0;
  double student_best_lr = 0;            ///< the learning rate of the state kept (0: the distilled student)
  struct FinetuneCheck {
    double lr = 0;
    int step = 0;
    double val_accuracy = 0;
    double val_loss = 0;   ///< the student's cross-entropy on the validation labels
  };
  std::vector<FinetuneCheck> finetune_curve;  ///< every check, learning rate after learning rate
  std::vector<HantPoint> sweep;
  /// The fine-tuned student's exported form (plain convs, what the files hold) against the
  /// student on validation images ("multi_branch" is the student, "folded" its export), and
  /// the files written: student.onnx, student.pt (TorchScript), student.json + .safetensors.
  VerificationReport export_check;
  std::vector<std::string> exported;
  /// Every layer the same op (the dense conv where a layer does not allow it), distilled, not
  /// fine-tuned: the baseline the knapsack's choice must beat at equal latency (with --sweep).
  std::vector<HantPoint> uniform;
  double seconds = 0;
};

/// @brief Progress: a stage and its fraction done.
using HantProgress = std::function<void(const std::string& stage, double fraction)>;

/// @brief Runs HANT. Throws repnas::Error naming the problem (no finished run, an impossible
/// budget with the least latency any choice has, a folder that cannot be written).
HantResult runHant(const HantOptions& options, const HantProgress& progress = {});

/// @brief Phase 2 alone, on a phase-1 result: the choice of the least total score whose
/// predicted latency is within `budget_ms` (CBC). Throws repnas::Error with the least any
/// choice is predicted to take when none fits.
HantPoint solveHantBudget(const HantResult& result, double budget_ms);
/// @brief The least latency any choice is predicted to take: base + each layer's cheapest.
double leastHantLatency(const HantResult& result);
/// @brief The predicted latency of `choice`: base + the layers' operations.
double predictedHantLatency(const HantResult& result, const std::vector<HantOp>& choice);

/// @brief The result as hant.json.
std::string hantResultToJson(const HantResult& result, const HantOptions& options);

}  // namespace repnas
