// The ridge fit of HANT's per-(layer, operation) latencies to measured students
// (hant/latency_fit.h): normal equations (λI + AᵀA) d = λ·prior + Aᵀ(y − base) over the
// available non-teacher operations, A the 0/1 indicator of each student's operations, solved
// by Cholesky (the matrix is positive definite for λ > 0).
#include "hant/latency_fit.h"

#include <cmath>
#include <string>

#include "repnas/error.h"

namespace repnas {
namespace {

struct Unknowns {
  std::vector<std::vector<int>> index;  // [layer][op] → unknown, −1 for op 0 and unavailable
  int count = 0;
};

Unknowns unknownsOf(const std::vector<std::vector<bool>>& available) {
  Unknowns u;
  u.index.resize(available.size());
  for (size_t l = 0; l < available.size(); ++l) {
    u.index[l].assign(available[l].size(), -1);
    for (size_t o = 1; o < available[l].size(); ++o)
      if (available[l][o]) u.index[l][o] = u.count++;
  }
  return u;
}

/// The deltas fitted to the observations `use` (indices into obs) under `ridge`.
std::vector<double> solveRidge(double base, const std::vector<double>& prior, const Unknowns& u,
                               const std::vector<LatencyObservation>& obs, const std::vector<int>& use, double ridge) {
  const int n = u.count;
  std::vector<double> m(static_cast<size_t>(n) * n, 0.0), rhs(n, 0.0);
  for (int i = 0; i < n; ++i) {
    m[i * n + i] = ridge;
    rhs[i] = ridge * prior[i];
  }
  std::vector<int> active;
  for (int s : use) {
    active.clear();
    for (size_t l = 0; l < obs[s].choice.size(); ++l) {
      const int k = u.index[l][obs[s].choice[l]];
      if (k >= 0) active.push_back(k);
    }
    for (int a : active) {
      rhs[a] += obs[s].ms - base;
      for (int b : active) m[a * n + b] += 1;
    }
  }
  // Cholesky: m = L Lᵀ in place (lower triangle), then two triangular solves.
  for (int j = 0; j < n; ++j) {
    double d = m[j * n + j];
    for (int k = 0; k < j; ++k) d -= m[j * n + k] * m[j * n + k];
    if (!(d > 0)) throw Error("hant: the latency fit is singular (ridge " + std::to_string(ridge) + ")");
    m[j * n + j] = std::sqrt(d);
    for (int i = j + 1; i < n; ++i) {
      double v = m[i * n + j];
      for (int k = 0; k < j; ++k) v -= m[i * n + k] * m[j * n + k];
      m[i * n + j] = v / m[j * n + j];
    }
  }
  std::vector<double> x(rhs);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < i; ++k) x[i] -= m[i * n + k] * x[k];
    x[i] /= m[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    for (int k = i + 1; k < n; ++k) x[i] -= m[k * n + i] * x[k];
    x[i] /= m[i * n + i];
  }
  return x;
}

/// The unknowns `d` as [layer][op] deltas (0 where there is no unknown).
std::vector<std::vector<double>> deltasOf(const Unknowns& u, const std::vector<double>& d) {
  std::vector<std::vector<double>> delta(u.index.size());
  for (size_t l = 0; l < u.index.size(); ++l) {
    delta[l].assign(u.index[l].size(), 0.0);
    for (size_t o = 0; o < u.index[l].size(); ++o)
      if (u.index[l][o] >= 0) delta[l][o] = d[u.index[l][o]];
  }
  return delta;
}

}  // namespace

LatencyFit fitLatencies(double base, const std::vector<std::vector<double>>& prior,
                        const std::vector<std::vector<bool>>& available,
                        const std::vector<LatencyObservation>& observations, const std::vector<double>& ridges) {
  if (ridges.empty()) throw Error("hant: the latency fit needs at least one ridge weight");
  for (double r : ridges)
    if (!(r > 0) || !std::isfinite(r)) throw Error("hant: a ridge weight of the latency fit must be > 0");
  if (prior.size() != available.size()) throw Error("hant: the latency prior has the wrong number of layers");
  const auto u = unknownsOf(available);
  std::vector<double> prior_flat(u.count, 0.0);
  for (size_t l = 0; l < available.size(); ++l) {
    if (prior[l].size() != available[l].size()) throw Error("hant: the latency prior of layer " + std::to_string(l) + " has the wrong size");
    for (size_t o = 0; o < available[l].size(); ++o)
      if (u.index[l][o] >= 0) {
        if (!std::isfinite(prior[l][o])) throw Error("hant: the latency prior is not finite at layer " + std::to_string(l));
        prior_flat[u.index[l][o]] = prior[l][o];
      }
  }
  for (size_t s = 0; s < observations.size(); ++s) {
    const auto& ob = observations[s];
    if (ob.choice.size() != available.size())
      throw Error("hant: measured network " + std::to_string(s) + " has " + std::to_string(ob.choice.size()) +
                  " layers, the model " + std::to_string(available.size()));
    if (!(ob.ms > 0) || !std::isfinite(ob.ms))
      throw Error("hant: measured network " + std::to_string(s) + " has a latency that is not a positive number");
    for (size_t l = 0; l < ob.choice.size(); ++l) {
      const int o = ob.choice[l];
      if (o < 0 || o >= static_cast<int>(available[l].size()) || (o != 0 && !available[l][o]))
        throw Error("hant: measured network " + std::to_string(s) + " uses an operation layer " + std::to_string(l) +
                    " does not have");
    }
  }

  LatencyFit fit;
  fit.observations = static_cast<int>(observations.size());
  const int n = fit.observations;
  constexpr int kFolds = 5;
  if (n < kFolds) {
    fit.ridge = ridges[ridges.size() / 2];
  } else {
    double best = INFINITY;
    for (double ridge : ridges) {
      double sq = 0;
      for (int f = 0; f < kFolds; ++f) {
        std::vector<int> train;
        for (int s = 0; s < n; ++s)
          if (s % kFolds != f) train.push_back(s);
        LatencyFit held_out;
        held_out.delta = deltasOf(u, solveRidge(base, prior_flat, u, observations, train, ridge));
        for (int s = f; s < n; s += kFolds) {
          const double e = (predictLatency(base, held_out, observations[s].choice) - observations[s].ms) / observations[s].ms;
          sq += e * e;
        }
      }
      const double err = std::sqrt(sq / n);
      if (err < best) {
        best = err;
        fit.ridge = ridge;
      }
    }
    fit.cv_error = best;
  }
  std::vector<int> all(n);
  for (int s = 0; s < n; ++s) all[s] = s;
  fit.delta = deltasOf(u, n == 0 ? prior_flat : solveRidge(base, prior_flat, u, observations, all, fit.ridge));
  return fit;
}

double predictLatency(double base, const LatencyFit& fit, const std::vector<int>& choice) {
  double y = base;
  for (size_t l = 0; l < choice.size() && l < fit.delta.size(); ++l)
    if (choice[l] >= 0 && choice[l] < static_cast<int>(fit.delta[l].size())) y += fit.delta[l][choice[l]];
  return y;
}

}  // namespace repnas
