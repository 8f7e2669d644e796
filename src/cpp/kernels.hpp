// Kernels on a compiled phase-type graph (GraphArrays), batched over theta and right-hand sides.
//
// The graph holds n transient vertices numbered in topological order of their strongly connected
// components (SCC s occupies [scc_ptr[s], scc_ptr[s+1]); edges go from an SCC to itself or to a
// later one).  Edge e (CSR, row i) goes to indices[e] in [0, n]; index n stands for absorption.
// Its weight for the theta row b is base[e] + sum_q coef[e*p + q] * theta[b*p + q].
//
// Every quantity the library computes is built from the matrix A = D - W on the transient vertices,
// where W holds the edge weights and D the total out-weight of each vertex (edges to absorption
// included).  For a continuous model A = -S (S the sub-intensity matrix); for a discrete model whose
// missing out-mass is a self-loop, A = I - P.  The kernels are:
//   solve:      A x = r   (or A^T x = r), one sweep in SCC order, scalar updates for singleton SCCs
//               and a dense LU for cyclic ones; r and x have shape (n, B, K).
//   matvec:     y = A x   (or A^T x).
//   edge_grad:  d/dtheta of lam^T A^{-1} r given x = A^{-1} r and lam = A^{-T} g, per column:
//               grad[b, k, q] = -sum_e coef[e, q] * lam[i,b,k] * (x[i,b,k] - x[j,b,k]).
// Pure C++17 without Python objects, so the nanobind module and the XLA FFI handlers share them.
#pragma once

#include <cstdint>
#include <vector>

#include "graph_view.hpp"

namespace phasic {

// x may alias r. theta has shape (B, p) row-major (ignored when p == 0). With batch_major, r and x
// have shape (B, n, K) instead of (n, B, K) (the layout of a vmapped JAX operand); with
// shared_rhs, r is one (n, K) right-hand side for every theta row.
Status solve(const GraphView& g, const double* theta, int64_t B, const double* r, int64_t K,
             double* x, bool transpose, bool batch_major = false, bool shared_rhs = false);

// y must not alias x.
Status matvec(const GraphView& g, const double* theta, int64_t B, const double* x, int64_t K,
              double* y, bool transpose);

// grad has shape (B, K, p) and is overwritten.
Status edge_grad(const GraphView& g, const double* theta, int64_t B, const double* lam,
                 const double* x, int64_t K, double* grad);

// (A_q x) for every parameter q, A_q = dA / dtheta_q (independent of theta):
//   out[b, i, k, q] = sum over edges e: i -> j of coef[e, q] * (x[b, i, k] - x[b, j, k]),
// with x = 0 at absorption and self-loops contributing nothing. Batch-major: x (B, n, K),
// out (B, n, K, p). The JAX bridge's tangent of a solve is A^{-1} (dr - sum_q dtheta_q A_q x).
// With transpose, (A_q^T x) instead (the tangent of a transposed solve).
void coef_matvec(const GraphView& g, int64_t B, const double* x, int64_t K, double* out,
                 bool transpose = false);

// Power series of the (uniformized) transition matrix; see series.cpp.
enum SeriesKind : int32_t { kDensity = 0, kSurvival = 1, kCdf = 2 };

constexpr int64_t kDefaultMaxSteps = 100'000'000;

struct SeriesSpec {
  bool discrete = false;          // discrete model (jumps) or continuous (uniformization)
  int32_t kind = kDensity;        // pdf / pmf, survival P(tau > t), or cdf P(tau <= t)
  const double* times = nullptr;  // (T): times (continuous) or jump counts (discrete)
  int64_t T = 0;
  double tol = 1e-12;
  int64_t max_steps = kDefaultMaxSteps;  // a row needing more steps fails with kTooManySteps
  const double* defect = nullptr;        // (B) cdf only: mass absorbed at time 0 (else 0)
  int32_t* row_codes = nullptr;  // (B) if set: per-row status codes, failed rows NaN, call goes on
  bool log = false;  // density / survival: natural logs out (series_jac: d log / d theta, d log / dt)
};

// A continuous graph reduced to a Coxian for a batch of theta rows (reduce.cpp): `view` is the
// Coxian's structure (M phases, edges 2m on and 2m + 1 absorbed; weights for the caller to set),
// theta (B, 2M) its rates per row and alpha (B, M) its start (all of a row's transient mass in
// phase 0).  Its absorption time is the graph's.
// With dalpha (B, n, p) given, also the tangents of the rates, dtheta (B, 2M, p), and of the
// start mass, dmass0 (B, p).
struct CoxianRows {
  int64_t M = 0;
  std::vector<double> theta, alpha, base, coef, dtheta, dmass0;
  std::vector<int64_t> indptr, scc_ptr;
  std::vector<int32_t> indices;
  GraphView view;
};

// The reduction's steps for one row: nu_m (normalized to mass 1) on its support S_m, entries
// [start[m], start[m + 1]) of idx / nu / rate (each state's uniformization rate at step m; dnu,
// (entries, p), with tangents), lambda_m, and the edge weights w (E) and out-rates q (n).
struct ReductionTrace {
  std::vector<int64_t> start;
  std::vector<int32_t> idx;
  std::vector<double> nu, dnu, rate, lam, w, q;
};

// Fills `out` and returns true when every row reduces exactly (acyclic graphs whose rates
// depend on the level, such as the coalescent) to a Coxian smaller than the graph (with
// any_size, to a Coxian of any size: the stepping of steps.cpp pays on any).
bool reduce_to_coxian(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                      const double* dalpha, CoxianRows& out, ReductionTrace* trace = nullptr,
                      bool any_size = false);
// Whether a Coxian of M phases is worth sweeping instead of the graph g.
bool coxian_smaller(const GraphView& g, int64_t M);

// The view with the 2M rates of each row as one-hot parameters: a batch of rows (theta) in one
// sweep.
const GraphView& one_hot_rates(CoxianRows& cx);

// Density, survival or cdf (spec.kind, .log, .tol, .defect[0]) of a Coxian (rates as in
// coxian_state, mass0 in phase 0) at spec.T continuous times (ord: their indices sorted by
// time), by stepping its phase masses from one time point to the next (steps.cpp); false, with
// out unspecified, for a bad rate, mass or time or past spec.max_steps (the series sweep then
// answers, with its errors). stepping_pays: whether that costs less than the sweep's
// per-time-point windows (with `lanes`, stepped eight rows at once as coxian_rows does).
bool stepping_pays(const double* rates, int64_t M, const SeriesSpec& spec, const int64_t* ord,
                   bool lanes = false);
// With dt, also the values' time derivatives (of their logs with spec.log).
bool coxian_times(const double* rates, int64_t M, double mass0, const SeriesSpec& spec,
                  const int64_t* ord, double* out, double* dt = nullptr);
// The same for B Coxians of M phases at once (rates (B, 2M); alpha (B, M), each row's start,
// all of its mass in phase 0, as CoxianRows holds it; spec.defect (B) if set; out (B, T)):
// eight rows in lock step, one per vector lane.
bool coxian_rows(const double* rates, int64_t B, int64_t M, const double* alpha,
                 const SeriesSpec& spec, const int64_t* ord, double* out);
// With their derivatives along the rates' tangents drates (B, 2M, p) and dmass0 (B, p), jac
// (B, T, p), and in time, dfdt (B, T), the tangents stepped with the masses (logs with
// spec.log); density and survival only (false for a cdf, and as coxian_times otherwise).
bool coxian_rows_jac(const double* rates, const double* drates, int64_t B, int64_t M, int64_t p,
                     const double* alpha, const double* dmass0, const SeriesSpec& spec,
                     const int64_t* ord, double* out, double* jac, double* dfdt);

// A Coxian of M phases (rates: on, absorbed per phase, interleaved) started with mass0 in phase 0:
// its phase masses x (M) at time u and the time spent in each phase during [0, u], occ (M), by
// uniformization; false for a bad u or past max_steps.
bool coxian_state(const double* rates, int64_t M, double mass0, double u, int64_t max_steps,
                  double* x, double* occ);

// A state distribution a (n) carried across time delta, y = a exp(S delta), and with occ (n)
// the expected time spent in each state during [0, delta], through the Coxian reduction (one
// theta row); false (nothing written) when the graph does not reduce or the series would pass
// max_steps: propagate's own series then answers.
bool carry_reduced(const GraphView& g, const double* theta, const double* a, double delta,
                   int64_t max_steps, double* y, double* occ = nullptr);

// Its vector-Jacobian product from the cotangents ybar (n) and obar (n, or null without occ):
// abar (n), thbar (p), dbar (1).
bool carry_reduced_vjp(const GraphView& g, const double* theta, const double* a, double delta,
                       int64_t max_steps, const double* ybar, const double* obar, double* abar,
                       double* thbar, double* dbar);

// One epoch of a state distribution a (n): y = a exp(S delta) and occ = int_0^delta a exp(S s)
// ds (n), the expected time in each state (carry.cpp). The Coxian reduction where the graph
// reduces (*steps = 0); else propagate's series (floor: its absolute truncation error) and
// occ = (a - y) A^-1, one transposed solve. NaN where the series fails.
Status carry(const GraphView& g, const double* theta, const double* a, double delta, double floor,
             int64_t max_steps, double* y, double* occ, double* steps);

// Its vector-Jacobian product at (theta, a, delta) with its results and `steps`, from the
// cotangents ybar, obar (n): abar (n), thbar (p), dbar (1).
Status carry_vjp(const GraphView& g, const double* theta, const double* a, double delta,
                 int64_t steps, const double* y, const double* occ, const double* ybar,
                 const double* obar, double* abar, double* thbar, double* dbar);

// out (B, T): density, survival or cdf at every time point. alpha (B, n).  A graph that reduces
// to a smaller Coxian (reduce_to_coxian) is swept on the Coxian.
Status series(const GraphView& g, const double* theta, int64_t B, const double* alpha,
              const SeriesSpec& spec, double* out);

// Values (B, T), Jacobian d out / d theta (B, T, p) by forward tangents from dalpha (B, n, p) =
// d alpha / d theta, and d out / d t (B, T) (zero for discrete models).
Status series_jac(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                  const double* dalpha, const SeriesSpec& spec, double* out, double* jac,
                  double* dfdt);

// out (B, T, n): the state distribution alpha exp(S t) (continuous) or alpha P^k (discrete);
// with `accumulated` (continuous), the expected time spent in each state during [0, t].
Status series_state(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                    const SeriesSpec& spec, bool accumulated, double* out);

// exp(M Δ) u for one row's coupled stack u (n, k, R) (see propagate.cpp): r (n, R), delta and
// floor (R); y (n, k, R); steps: the number of series terms taken. A bad weight, delta or u, or
// more than max_steps terms, gives a NaN y (row mode: status ok).
// With `reduced`, a carried state distribution (k = R = 1, transpose) goes through the Coxian
// reduction where the graph reduces.
Status propagate(const GraphView& g, const double* theta, const double* r, int64_t k, int64_t R,
                 int64_t coupling, bool transpose, const double* u, const double* delta,
                 const double* floor, int64_t max_steps, double* y, double* steps,
                 bool reduced = true);

// The vector-Jacobian product of propagate at (theta, u, delta) with its result y and `steps`:
// ubar (n, k, R), thbar (p), dbar (R), from the cotangent ybar (n, k, R). With at most
// store_limit doubles of iterates (steps * n * k * R) it stores them and runs the adjoint
// series backward (2 passes per step); beyond, it carries p forward tangents (about 4 + p).
constexpr int64_t kDefaultStoreLimit = int64_t{1} << 23;  // 64 MiB
Status propagate_vjp(const GraphView& g, const double* theta, const double* r, int64_t k,
                     int64_t R, int64_t coupling, bool transpose, const double* u,
                     const double* delta, int64_t steps, const double* y, const double* ybar,
                     double* ubar, double* thbar, double* dbar,
                     int64_t store_limit = kDefaultStoreLimit, bool reduced = true);

// Tarjan's algorithm on the CSR graph (targets outside [0, n) ignored).  Fills perm (new -> old
// index) with the SCCs in topological order (sources first) and returns scc_ptr.
std::vector<int64_t> scc_order(int64_t n, const int64_t* indptr, const int32_t* indices,
                               int64_t* perm);

}  // namespace phasic
