#pragma once
// HANT's latency model fitted to measured networks (issue 17). A student's latency is modelled
// as base + Σ_l d[l][op_l] (the teacher's own operation, op 0, adds 0). Deltas measured one
// swap at a time predicted students 7–60% too fast: at batch 1 the savings of several cheaper
// layers overlap, and a knapsack over noisy single-swap deltas picks exactly the operations
// whose savings were over-estimated. Here the deltas are fitted by ridge least squares to
// whole students measured on this machine (random mixtures of operations), pulled toward the
// single-swap deltas as a prior; the ridge weight is chosen by cross-validation on the
// students, and the cross-validated error is the model's own estimate of its accuracy.
// Plain C++ (no torch).

#include <vector>

namespace repnas {

/// @brief One measured network: the operation index of each layer, and its latency (ms).
struct LatencyObservation {
  std::vector<int> choice;
  double ms = 0;
};

/// @brief The fitted model.
struct LatencyFit {
  std::vector<std::vector<double>> delta;  ///< [layer][op] in ms; 0 for op 0 and unavailable ops
  double ridge = 0;                        ///< the weight chosen (of the prior against one network)
  /// Cross-validated relative error: the root mean square of (predicted − measured) / measured
  /// over networks held out of the fit (5 folds); negative when there are fewer than 5 networks.
  double cv_error = -1;
  int observations = 0;
};

/// @brief Minimises Σ_s (ms_s − base − Σ_l d[l][c_sl])² + λ Σ_{l, o ≠ 0} (d[l][o] − prior[l][o])²
/// over the available (layer, op), λ chosen from `ridges` by 5-fold cross-validation (the least
/// held-out relative error; with fewer than 5 networks the middle of `ridges`). With no
/// observations the fit is the prior. Error on a choice of the wrong length or an unavailable
/// op, a non-finite or non-positive latency, or empty `ridges`.
LatencyFit fitLatencies(double base, const std::vector<std::vector<double>>& prior,
                        const std::vector<std::vector<bool>>& available,
                        const std::vector<LatencyObservation>& observations,
                        const std::vector<double>& ridges = {0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100});

/// @brief base + Σ_l fit.delta[l][choice[l]].
double predictLatency(double base, const LatencyFit& fit, const std::vector<int>& choice);

}  // namespace repnas
