// One epoch of a state distribution: where it ends and how long it stayed in each state.
//
//   y = a exp(S Δ),   occ = ∫_0^Δ a exp(S s) ds = (a - y) A^-1   (A = -S),
//
// the two quantities an epoch contributes to first moments (E[Y] = Σ_e occ_e r, the last epoch's
// occ = a A^-1). Where the graph reduces to a Coxian (reduce.cpp) both come from the reduction's
// one pass over the edges, without a solve; else y from propagate's series and occ from one
// transposed solve.
//
// The vjp of the fallback: with w = A^-1 obar, obar . occ = (a - y) . w, so
//   abar = w + (dy/da)^T (ybar - w),   thbar_q = (dy/dtheta_q)^T (ybar - w) - occ . (A_q w),
// the y terms being propagate's vjp with the cotangent ybar - w.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.hpp"

namespace phasic {

Status carry(const GraphView& g, const double* theta, const double* a, double delta, double floor,
             int64_t max_steps, double* y, double* occ, double* steps) {
  const int64_t n = g.n;
  *steps = 0.0;
  if (carry_reduced(g, theta, a, delta, max_steps, y, occ)) return Status{};
  const std::vector<double> r(static_cast<size_t>(n), 0.0);  // k = 1: no coupling is read
  Status st = propagate(g, theta, r.data(), 1, 1, -1, /*transpose=*/true, a, &delta, &floor,
                        max_steps, y, steps, /*reduced=*/false);
  bool ok = st.code == kOk;
  for (int64_t i = 0; ok && i < n; ++i) ok = std::isfinite(y[i]);
  if (ok) {
    for (int64_t i = 0; i < n; ++i) occ[i] = a[i] - y[i];
    ok = solve(g, theta, 1, occ, 1, occ, /*transpose=*/true).code == kOk;
  }
  if (!ok) {
    std::fill(y, y + n, std::numeric_limits<double>::quiet_NaN());
    std::fill(occ, occ + n, std::numeric_limits<double>::quiet_NaN());
  }
  return Status{};
}

Status carry_vjp(const GraphView& g, const double* theta, const double* a, double delta,
                 int64_t steps, const double* y, const double* occ, const double* ybar,
                 const double* obar, double* abar, double* thbar, double* dbar) {
  const int64_t n = g.n, p = g.p;
  std::fill(abar, abar + n, 0.0);
  std::fill(thbar, thbar + p, 0.0);
  *dbar = 0.0;
  // steps > 0: the forward pass took the series (the reduction had failed), so no retry
  if (steps == 0 &&
      carry_reduced_vjp(g, theta, a, delta, kDefaultMaxSteps, ybar, obar, abar, thbar, dbar))
    return Status{};
  std::vector<double> w(obar, obar + n), yb(static_cast<size_t>(n)), Aw(static_cast<size_t>(n * p));
  if (solve(g, theta, 1, w.data(), 1, w.data(), /*transpose=*/false).code != kOk) return Status{};
  for (int64_t i = 0; i < n; ++i) yb[static_cast<size_t>(i)] = ybar[i] - w[static_cast<size_t>(i)];
  const std::vector<double> r(static_cast<size_t>(n), 0.0);
  Status st = propagate_vjp(g, theta, r.data(), 1, 1, -1, /*transpose=*/true, a, &delta, steps, y,
                            yb.data(), abar, thbar, dbar, kDefaultStoreLimit, /*reduced=*/false);
  if (st.code != kOk) return st;
  for (int64_t i = 0; i < n; ++i) abar[i] += w[static_cast<size_t>(i)];
  coef_matvec(g, 1, w.data(), 1, Aw.data(), /*transpose=*/false);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t q = 0; q < p; ++q) thbar[q] -= occ[i] * Aw[static_cast<size_t>(i * p + q)];
  return Status{};
}

}  // namespace phasic
