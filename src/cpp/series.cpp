// Distribution functions by power series of the (uniformized) transition matrix.
//
// Continuous: P = I - A / lambda with lambda >= max_i d_i (uniformization), u_k = alpha P^k and
//   pi(t) = sum_k w_k(t) u_k,  w_k(t) = Pois(k; lambda t),
//   f(t) = sum_k w_k c_k with c_k = u_k . e (density), S(t) with c_k = u_k . 1 (survival), and
//   F(t) with c_k = a_k = defect + sum_(i<k) u_i . e / lambda (cdf: the absorbed mass after k
//   uniformized steps).  Every term is non-negative, so each value is accurate relative to
//   itself: a cdf in its left tail is never 1 - S(t).
// Discrete: P = I - A, P(tau = k) = u_(k-1) . e, P(tau > k) = u_k . 1, P(tau <= k) = a_k.
//
// Cost: one sweep of K steps (K = the largest time's truncation point) plus, per time point,
// O(its Poisson window) scalar work: at step k only the time points whose window holds k are
// visited (time points are sorted once; windows move monotonically).  Memory is O(n + T) per
// theta row: Poisson weights are streamed (Loader's saddle-point pmf, re-anchored every 64
// steps, ratio recurrence in between), never tabulated, so nothing grows with lambda * t.
//
// Truncation: each time point stops at its own index, so its value never depends on the other
// time points of the call. (Coxians with many time points are stepped from one time point to the
// next instead where that is cheaper, steps.cpp: there the other times change a value only
// through rounding.)  A scalar series stops when the remainder bound
// cmax_k * P(Pois > k) is <= tol * min(1, partial sum) (cmax_k bounds every later c: rmax * mass,
// mass, or for the cdf the growth a_k' - a_k <= mass, with a_k times the remaining weight
// added at convergence), i.e. relative and absolute error tol.  Vector series (state
// distribution, accumulated time) run over each time point's full window
// [mu - 40 sqrt(mu) - 40, mu + 40 sqrt(mu) + 40], outside which the Poisson mass is < 1e-300,
// so every component is accurate relative to itself.
//
// Far tails: u_k decays geometrically and would underflow (and the row close as negligible) long
// before the Poisson window of a large t is reached, though the value there is a perfectly good
// tiny number (a likelihood needs its log and gradient).  At block ends a lane whose transient
// mass fell below kRescaleBelow is multiplied by 1 / mass, with its tangents and the partial
// sums of its open time points, and each time point keeps the log of its scale: value =
// sum * exp(offset).  With spec.log the kernels return log(sum) + offset (and d log / d theta
// = jac / sum), so log-densities far past 1e-308 stay exact.  Density and survival only (the
// cdf's absorbed mass is not a scaled quantity).
//
// Before sweeping, the number of steps a row needs is checked against spec.max_steps; rows with
// a bad weight, a bad time or too many steps get a status (eager callers raise it; the FFI
// handlers write NaN for that row and carry on, so a sampler can reject the point).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels.hpp"
#include "poisson.hpp"

// The gather steps are multiversioned (PHASIC_MULTIVERSION, graph_view.hpp): the lane loops over
// theta rows vectorize 4 or 8 wide where the CPU allows.

namespace phasic {
namespace {

constexpr double kNegligible = 1e-300;
constexpr double kRescaleBelow = 1e-100;
// Scalar series buffer their terms for blocks of kBlock steps (see `series`).
constexpr int64_t kBlock = 16;
constexpr int64_t kAnchorEvery = 64;
static_assert(kAnchorEvery % kBlock == 0, "anchors fall on block starts");
// Theta rows swept together (lanes of the gather step).
constexpr int64_t kChunk = 16;
static_assert(kChunk <= 64, "per-lane scratch arrays hold 64 lanes");

// 1 / k, 1 / (k + 1), 1 / (k + 2) of the current step, shared by every time point.
struct StepInv {
  double k = 0.0, k1 = 1.0, k2 = 0.5;
  explicit StepInv(int64_t step) {
    const double x = static_cast<double>(step);
    k = step > 0 ? 1.0 / x : 0.0;
    k1 = 1.0 / (x + 1.0);
    k2 = 1.0 / (x + 2.0);
  }
};

// Weights w_k of one time point for consecutive k in [L, R] (handed out by for_weights).
struct Stream {
  int64_t L = 0, R = -1, anchor = 0;
  double mu = 0.0, w = 0.0, seen = 0.0;  // seen: sum of the weights handed out so far
  bool discrete = false;

  void init(double mu_, bool discrete_, int64_t target) {
    discrete = discrete_;
    if (discrete) {  // a single term: k = target (none if target < 0)
      L = R = target;
      return;
    }
    mu = mu_;
    const double spread = poisson_spread(mu);
    // L a multiple of kBlock: the anchors L + j kAnchorEvery are then block starts, where a
    // group of time points can take them (RowTimes::flush).
    L = std::max<int64_t>(0, static_cast<int64_t>(std::floor(mu - spread)));
    L -= L % kBlock;
    R = static_cast<int64_t>(std::ceil(mu + spread));
    anchor = L;
  }
  // Whether cmax * sum_(k' > k) w_k' <= limit, given w = w_k.  Past the mode the tail is at most
  // w_(k+1) / (1 - mu / (k + 2)) (the ratios w_(j+1) / w_j = mu / (j + 1) keep falling); the test
  // is written without divisions (it runs for every active time point at every step).
  bool tail_below(int64_t k, const StepInv& inv, double cmax, double limit) const {
    if (discrete || k >= R) return true;
    const double d = 1.0 - mu * inv.k2;
    if (d <= 0.0) return cmax <= limit;
    return cmax * std::min(d, w * mu * inv.k1) <= limit * d;
  }
  // sum_(k' > k) w_k' once the weights up to k were handed out (1 before the window), accurate
  // relative to itself: past the mode it is summed forward from w_(k+1), not taken as 1 - seen.
  double tail_after(int64_t k) const {
    if (discrete) return 0.0;
    if (k < L) return 1.0;
    if (static_cast<double>(k) + 1.0 < mu) return std::max(0.0, 1.0 - seen);
    double term = w, sum = 0.0;
    for (int64_t j = k + 1; j <= R + 1; ++j) {
      term *= mu / static_cast<double>(j);
      sum += term;
      if (term <= 1e-17 * sum || term == 0.0) break;
    }
    return sum;
  }
};

struct Chunk {
  int64_t Bc = 0;
  std::vector<int64_t> row;    // (Bc) theta row of each lane
  std::vector<double> lambda;  // (Bc) uniformization rate per theta row (1 when discrete)
  std::vector<double> ws;      // (E, Bc) edge weights / lambda
  std::vector<double> dl;      // (n, Bc) d / lambda
  std::vector<double> e;       // (n, Bc) exit weights (to absorption)
  std::vector<double> emax;    // (Bc)
  std::vector<Status> bad;     // (Bc) per-row failure (code kOk if fine)
  // In-edges of every transient vertex (self-loops and exits left out), for a gather step:
  // in-edge t of vertex j comes from tsrc[t] with weight wsT[t * Bc + b] (= ws of that edge).
  std::vector<int64_t> tptr;  // (n + 1)
  std::vector<int32_t> tsrc;  // (E')
  std::vector<double> wsT;    // (E', Bc)
  std::vector<double> cT;     // (E', p) coefficients of the in-edges
  std::vector<double> csum;   // (n, p) coefficient sums of the out-edges (exits in, self-loops out)
};

void prepare_chunk(const GraphView& g, const double* theta, const SeriesSpec& spec, Chunk& c) {
  const int64_t n = g.n, Bc = c.Bc, p = g.p;
  const int64_t E = g.indptr[n];
  std::vector<double> w(static_cast<size_t>(E * Bc), 0.0), d(static_cast<size_t>(n * Bc), 0.0);
  c.e.assign(static_cast<size_t>(n * Bc), 0.0);
  c.emax.assign(static_cast<size_t>(Bc), 0.0);
  c.bad.assign(static_cast<size_t>(Bc), Status{});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
      const int64_t j = g.indices[ed];
      double* we = w.data() + ed * Bc;
      for (int64_t b = 0; b < Bc; ++b) {
        double v = g.base[ed];
        const double* th = theta + (c.row[b]) * p;
        for (int64_t q = 0; q < p; ++q) v += g.coef[ed * p + q] * th[q];
        if (!(v >= 0.0) || !std::isfinite(v)) {
          if (c.bad[b].code == kOk) c.bad[b] = Status{kBadWeight, ed, c.row[b]};
          v = 0.0;
        }
        we[b] = v;
        if (j != i) d[i * Bc + b] += v;
        if (j >= n) c.e[i * Bc + b] += v;
      }
    }
    for (int64_t b = 0; b < Bc; ++b) {
      c.emax[b] = std::max(c.emax[b], c.e[i * Bc + b]);
      if (spec.discrete && d[i * Bc + b] > 1.0 + 1e-12 && c.bad[b].code == kOk)
        c.bad[b] = Status{kBadProbability, i, c.row[b]};
    }
  }
  std::vector<double> dmax(static_cast<size_t>(Bc), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < Bc; ++b) dmax[b] = std::max(dmax[b], d[i * Bc + b]);
  c.lambda.resize(static_cast<size_t>(Bc));
  // One rate per theta row (not per batch): a row's result does not depend on its batch-mates,
  // so sharding particles over devices changes nothing beyond rounding (a row alone and the
  // same row in a batch differ by <= ~2e-15 relative: one lane and many take different loops).
  for (int64_t b = 0; b < Bc; ++b)
    c.lambda[b] = spec.discrete ? 1.0 : (dmax[b] > 0.0 ? dmax[b] : 1.0);
  c.ws.resize(w.size());
  for (int64_t ed = 0; ed < E; ++ed)
    for (int64_t b = 0; b < Bc; ++b) c.ws[ed * Bc + b] = w[ed * Bc + b] / c.lambda[b];
  c.dl.resize(d.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < Bc; ++b) c.dl[i * Bc + b] = d[i * Bc + b] / c.lambda[b];
  // Transposed (in-edge) lists in ascending source order.
  c.tptr.assign(static_cast<size_t>(n + 1), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
      const int64_t j = g.indices[ed];
      if (j != i && j < n) ++c.tptr[j + 1];
    }
  for (int64_t j = 0; j < n; ++j) c.tptr[j + 1] += c.tptr[j];
  c.tsrc.resize(static_cast<size_t>(c.tptr[n]));
  c.wsT.resize(static_cast<size_t>(c.tptr[n] * Bc));
  c.cT.resize(static_cast<size_t>(c.tptr[n] * p));
  c.csum.assign(static_cast<size_t>(n * p), 0.0);
  std::vector<int64_t> fill(c.tptr.begin(), c.tptr.end() - 1);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
      const int64_t j = g.indices[ed];
      if (j == i) continue;
      for (int64_t q = 0; q < p; ++q) c.csum[i * p + q] += g.coef[ed * p + q];
      if (j >= n) continue;
      const int64_t t = fill[j]++;
      c.tsrc[t] = static_cast<int32_t>(i);
      std::memcpy(c.wsT.data() + t * Bc, c.ws.data() + ed * Bc, sizeof(double) * Bc);
      std::memcpy(c.cT.data() + t * p, g.coef + ed * p, sizeof(double) * p);
    }
}

// next = u P (row vector), u and next (n, Bc), as a gather over in-edges.
PHASIC_MULTIVERSION
void step_forward(const GraphView& g, const Chunk& c, const double* u, double* next) {
  const int64_t n = g.n, Bc = c.Bc;
  const int64_t* tp = c.tptr.data();
  const int32_t* ts = c.tsrc.data();
  const double* wt = c.wsT.data();
  if (Bc == 1) {
    for (int64_t j = 0; j < n; ++j) {
      double s = u[j] * (1.0 - c.dl[j]);
      for (int64_t t = tp[j]; t < tp[j + 1]; ++t) s += wt[t] * u[ts[t]];
      next[j] = s;
    }
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    double* nj = next + j * Bc;
    const double* uj = u + j * Bc;
    const double* dj = c.dl.data() + j * Bc;
    for (int64_t b = 0; b < Bc; ++b) nj[b] = uj[b] * (1.0 - dj[b]);
    for (int64_t t = tp[j]; t < tp[j + 1]; ++t) {
      const double* w = wt + t * Bc;
      const double* ui = u + static_cast<int64_t>(ts[t]) * Bc;
      for (int64_t b = 0; b < Bc; ++b) nj[b] += w[b] * ui[b];
    }
  }
}

// next = uq P + u (dS / dtheta_q) / lambda: one step of the tangent of u_k along theta_q (lambda
// held fixed), as one gather. (u dS_q)_j = sum over in-edges i -> j of c_q u_i - u_j csum_jq.
PHASIC_MULTIVERSION
void step_tangent(const GraphView& g, const Chunk& c, int64_t q, const double* uq, const double* u,
                  double* next) {
  const int64_t n = g.n, Bc = c.Bc, p = g.p;
  const int64_t* tp = c.tptr.data();
  const int32_t* ts = c.tsrc.data();
  const double* wt = c.wsT.data();
  const double* ct = c.cT.data();
  if (Bc == 1) {
    const double inv = 1.0 / c.lambda[0];
    for (int64_t j = 0; j < n; ++j) {
      double s = uq[j] * (1.0 - c.dl[j]), d = -u[j] * c.csum[j * p + q];
      for (int64_t t = tp[j]; t < tp[j + 1]; ++t) {
        const int64_t i = ts[t];
        s += wt[t] * uq[i];
        d += ct[t * p + q] * u[i];
      }
      next[j] = s + d * inv;
    }
    return;
  }
  double inv[64];
  for (int64_t b = 0; b < Bc; ++b) inv[b] = 1.0 / c.lambda[b];
  for (int64_t j = 0; j < n; ++j) {
    double* nj = next + j * Bc;
    const double cs = c.csum[j * p + q];
    for (int64_t b = 0; b < Bc; ++b)
      nj[b] = uq[j * Bc + b] * (1.0 - c.dl[j * Bc + b]) - u[j * Bc + b] * cs * inv[b];
    for (int64_t t = tp[j]; t < tp[j + 1]; ++t) {
      const double* w = wt + t * Bc;
      const int64_t i = ts[t];
      const double* uqi = uq + i * Bc;
      const double* ui = u + i * Bc;
      const double cq = ct[t * p + q];
      for (int64_t b = 0; b < Bc; ++b) nj[b] += w[b] * uqi[b] + cq * ui[b] * inv[b];
    }
  }
}

// Calls term(k, w_k) for k = lo..hi of stream st (ik[k - k0] = 1 / k), in a tight loop: the
// weights live in locals (stores through the stream's members could alias the caller's arrays).
template <typename F>
inline void for_weights(Stream& st, int64_t lo, int64_t hi, int64_t k0, const double* ik,
                        F&& term) {
  if (st.discrete) {
    for (int64_t k = lo; k <= hi; ++k) term(k, 1.0);
    return;
  }
  double w = st.w, seen = st.seen;
  const double mu = st.mu;
  int64_t k = lo;
  while (k <= hi) {
    if (k >= st.anchor) {
      w = dpois(k, mu);
      st.anchor = k + kAnchorEvery;
      seen += w;
      term(k, w);
      ++k;
    }
    const int64_t stop = std::min(hi, st.anchor - 1);
    for (; k <= stop; ++k) {
      w *= mu * ik[k - k0];
      seen += w;
      term(k, w);
    }
  }
  st.w = w;
  st.seen = seen;
}

// Four weight chains at once over n consecutive steps (1 / k in ik, terms in c): w_k = w_(k-1)
// mu / k, seen += w_k, acc += w_k c_k per chain, as for_weights does for one; four lanes wide.
PHASIC_MULTIVERSION
void weights4(const double* ik, const double* c, int64_t n, const double* mu, double* w,
              double* seen, double* acc) {
  double w_[4], s_[4], a_[4], m_[4];
  for (int j = 0; j < 4; ++j) {
    w_[j] = w[j];
    s_[j] = seen[j];
    a_[j] = acc[j];
    m_[j] = mu[j];
  }
  for (int64_t k = 0; k < n; ++k) {
    const double f = ik[k], ck = c[k];
    for (int j = 0; j < 4; ++j) {
      w_[j] *= m_[j] * f;
      s_[j] += w_[j];
      a_[j] += w_[j] * ck;
    }
  }
  for (int j = 0; j < 4; ++j) {
    w[j] = w_[j];
    seen[j] = s_[j];
    acc[j] = a_[j];
  }
}

// A time point that is NaN, infinite, negative, or (discrete) not an integer.
bool bad_time(const SeriesSpec& spec, int64_t t) {
  const double tv = spec.times[t];
  return !std::isfinite(tv) || tv < 0.0 || (spec.discrete && tv != std::floor(tv));
}

// The time points of one theta row: streams, per-point truncation, and the active range.
struct RowTimes {
  std::vector<Stream> s;
  std::vector<char> done;
  const int64_t* order = nullptr;  // time indices sorted by time (shared by all rows)
  int64_t T = 0, a = 0, z = 0, kend = -1;

  void init(const SeriesSpec& spec, const int64_t* ord, double lambda) {
    T = spec.T;
    order = ord;
    s.assign(static_cast<size_t>(T), Stream{});
    done.assign(static_cast<size_t>(T), 0);
    a = z = 0;
    kend = -1;
    for (int64_t t = 0; t < T; ++t) {
      if (bad_time(spec, t)) {  // row mode only: never visited, NaN at the end
        done[t] = 1;
        continue;
      }
      const double tv = spec.times[t];
      int64_t target = static_cast<int64_t>(tv);
      if (spec.discrete && spec.kind == kDensity) target -= 1;  // P(tau = k) uses u_(k-1)
      s[t].init(lambda * tv, spec.discrete, target);
      if (s[t].R < 0) done[t] = 1;
      kend = std::max(kend, s[t].R);
    }
  }
  bool finished() const { return a >= T; }
  // Calls f(t, w_k(t)) for every active time point at step k; f returns true when t is done.
  template <typename F>
  void visit(int64_t k, const StepInv& inv, F&& f) {
    while (z < T && s[order[z]].L <= k) ++z;
    while (a < z && (done[order[a]] || s[order[a]].R < k)) ++a;
    for (int64_t pos = a; pos < z; ++pos) {
      const int64_t t = order[pos];
      if (done[t]) continue;
      double w = 0.0;
      for_weights(s[t], k, k, k, &inv.k, [&](int64_t, double wk) { w = wk; });
      if (f(t, w) || k >= s[t].R) done[t] = 1;
    }
    while (a < z && done[order[a]]) ++a;
  }
  // Block [k0, k1] of the sweep: for every time point whose window meets it, span(t, lo, hi)
  // adds the terms lo..hi (use for_weights); at a block end (k1) done_at(t, k1, 1 / k1...)
  // tests truncation and returns true (after adding any tail of its own) when t has converged.
  // Time points that take the whole block (an anchor only at its start) go four at a time to
  // group(ts, k0, k1) when it returns true: four independent weight chains instead of one
  // latency-bound chain, the same operations per time point as for_weights.
  template <typename Span, typename Done, typename Group>
  void flush(int64_t k0, int64_t k1, bool block_end, Span&& span, Done&& done_at,
             Group&& group) {
    const StepInv inv(k1);
    while (z < T && s[order[z]].L <= k1) ++z;
    int64_t grp[4];
    int ng = 0;
    for (int64_t pos = a; pos < z; ++pos) {
      const int64_t t = order[pos];
      if (done[t]) continue;
      const Stream& st = s[t];
      const int64_t lo = std::max(k0, st.L), hi = std::min(k1, st.R);
      if (lo > hi) continue;
      if (lo == k0 && hi == k1 && !st.discrete && (st.anchor > k1 || st.anchor == k0)) {
        grp[ng++] = t;
        if (ng == 4) {
          if (!group(grp, k0, k1))
            for (int64_t x : grp) span(x, k0, k1);
          ng = 0;
        }
      } else {
        span(t, lo, hi);
      }
    }
    for (int j = 0; j < ng; ++j) span(grp[j], k0, k1);
    for (int64_t pos = a; pos < z; ++pos) {
      const int64_t t = order[pos];
      if (done[t]) continue;
      const Stream& st = s[t];
      const int64_t hi = std::min(k1, st.R);
      if (hi >= st.R || (block_end && hi == k1 && done_at(t, k1, inv))) done[t] = 1;
    }
    while (a < z && (done[order[a]] || s[order[a]].R <= k1)) ++a;
  }
  // Step k of a blocked scalar sweep whose terms k0..k the caller has buffered. A row with
  // `negligible` mass left closes: terms k0..k-1 are added and rest(t, weight of k, k+1, ...)
  // runs for every open time point. At a block end the block is added and truncation tested.
  // Returns whether the row is finished.
  template <typename Span, typename Rest, typename Done, typename Group>
  bool block_step(int64_t k, int64_t k0, bool block_end, bool negligible, Span&& span,
                  Rest&& rest, Done&& done_at, Group&& group) {
    if (negligible) {
      if (k > k0)
        flush(
            k0, k - 1, false, span,
            [](int64_t, int64_t, const StepInv&) { return false; }, group);
      finish(k, rest);
      return true;
    }
    if (block_end) flush(k0, k, true, span, done_at, group);
    return block_end && finished();
  }
  // Before step k: marks every remaining time point done, calling f(t, weight of the terms
  // k, k+1, ...) for each.
  template <typename F>
  void finish(int64_t k, F&& f) {
    for (int64_t t = 0; t < T; ++t)
      if (!done[t]) {
        f(t, s[t].discrete ? 1.0 : (k <= s[t].L ? 1.0 : s[t].tail_after(k - 1)));
        done[t] = 1;
      }
    a = T;
  }
};

// Per-lane log scales of the far-tail rescaling (see the top of the file).
struct Scales {
  std::vector<double> lane, off;  // (Bc) log scale of each lane; (Bc, T) of each time point
  int64_t T = 0;
  bool on = false;
  void init(const SeriesSpec& spec, int64_t Bc) {
    T = spec.T;
    on = spec.kind != kCdf;
    lane.assign(static_cast<size_t>(Bc), 0.0);
    off.assign(static_cast<size_t>(Bc * T), 0.0);
  }
  // At a block end: if lane b's mass is small, the factor to multiply its vectors and open sums
  // by (calling scale_t(t, factor) for every open time point); 0 when nothing changes.
  template <typename F>
  double rescale(int64_t b, double mass, const RowTimes& rt, F&& scale_t) {
    if (!on || !(mass > 0.0) || mass >= kRescaleBelow) return 0.0;
    const double f = 1.0 / mass;
    lane[b] += std::log(mass);
    for (int64_t t = 0; t < T; ++t)
      if (!rt.done[t]) {
        scale_t(t, f);
        off[b * T + t] = lane[b];
      }
    return f;
  }
};

// Lane b of a (n, Bc) array times f.
inline void scale_lane(double* v, int64_t n, int64_t Bc, int64_t b, double f) {
  for (int64_t i = 0; i < n; ++i) v[i * Bc + b] *= f;
}

// Row b's final values from its sums: sum * exp(offset), or log(sum) + offset with spec.log
// (then the derivatives, `width` per time point in d and one in dt, become those of the log).
void unscale_row(const SeriesSpec& spec, const Scales& sc, int64_t b, double* o, double* d,
                 int64_t width, double* dt) {
  for (int64_t t = 0; t < spec.T; ++t) {
    const double off = sc.off[b * spec.T + t], v = o[t];
    if (spec.log) {
      const double inv = v > 0.0 ? 1.0 / v : 0.0;  // log 0 = -inf with a zero derivative
      o[t] = std::log(v) + off;
      if (spec.kind != kDensity) o[t] = std::min(0.0, o[t]);
      for (int64_t q = 0; d && q < width; ++q) d[t * width + q] *= inv;
      if (dt) dt[t] *= inv;
    } else if (off != 0.0) {
      const double f = std::exp(off);
      o[t] = v * f;
      for (int64_t q = 0; d && q < width; ++q) d[t * width + q] *= f;
      if (dt) dt[t] *= f;
    }
  }
}

// Checks the times and the step count of every row. Eagerly (no row_codes) a bad time fails
// every row; in row mode only that time point becomes NaN (see nan_bad_times).
void check_rows(const SeriesSpec& spec, Chunk& c) {
  double tmax = 0.0;
  for (int64_t t = 0; t < spec.T; ++t) {
    if (!bad_time(spec, t)) {
      tmax = std::max(tmax, spec.times[t]);
      continue;
    }
    if (spec.row_codes) continue;
    for (int64_t b = 0; b < c.Bc; ++b)
      if (c.bad[b].code == kOk) c.bad[b] = Status{kBadTime, t, c.row[b]};
    return;
  }
  for (int64_t b = 0; b < c.Bc; ++b) {
    if (c.bad[b].code != kOk) continue;
    const double mu = spec.discrete ? tmax : c.lambda[b] * tmax;
    const double need = spec.discrete ? mu : mu + poisson_spread(mu);
    if (!(need <= static_cast<double>(spec.max_steps)))
      c.bad[b] = Status{kTooManySteps, static_cast<int64_t>(std::min(need, 9e18)), c.row[b]};
  }
}

// Row mode: the outputs of bad time points of good rows are NaN; `width` values per time point
// at out + row * T * width.
void nan_bad_times(const SeriesSpec& spec, const Chunk& c, double* out, int64_t width) {
  for (int64_t t = 0; t < spec.T; ++t) {
    if (!bad_time(spec, t)) continue;
    for (int64_t b = 0; b < c.Bc; ++b)
      if (c.bad[b].code == kOk)
        std::fill_n(out + (c.row[b] * spec.T + t) * width, width,
                    std::numeric_limits<double>::quiet_NaN());
  }
}

int64_t chunk_size(const GraphView& g, int64_t B) {
  const int64_t E = std::max<int64_t>(g.indptr[g.n], 1);
  const int64_t cap = std::max<int64_t>(1, (int64_t{1} << 24) / E);  // <= 128 MiB of weights
  return std::max<int64_t>(1, std::min<int64_t>({B, kChunk, cap}));
}

// Theta rows in increasing order of their uniformization rate (largest total out-weight): a chunk
// sweeps until its slowest row converges, so rows of similar rates share chunks. NaN rates (bad
// weights) go last. Each row's result is independent of its lane-mates, so the order changes
// no value.
std::vector<int64_t> rows_by_rate(const GraphView& g, const double* theta, int64_t B) {
  std::vector<int64_t> order(static_cast<size_t>(B));
  std::iota(order.begin(), order.end(), 0);
  if (B <= kChunk) return order;
  const int64_t n = g.n, p = g.p;
  std::vector<double> rate(static_cast<size_t>(B), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const double* th = theta + b * p;
    double dmax = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double d = 0.0;
      for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
        if (g.indices[ed] == i) continue;
        double v = g.base[ed];
        for (int64_t q = 0; q < p; ++q) v += g.coef[ed * p + q] * th[q];
        d += v;
      }
      dmax = (d > dmax || std::isnan(d)) ? d : dmax;
    }
    rate[b] = std::isnan(dmax) ? std::numeric_limits<double>::infinity() : dmax;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return rate[x] < rate[y]; });
  return order;
}

// Runs body(chunk) for chunks of rows, each prepared (weights, rates, exit vectors, row
// checks).  Rows that fail get a status: with row_codes the body fills them with NaN (via the
// chunk's `bad`) and the call goes on; without, the first failing row's status is returned.
template <typename Body>
Status for_each_chunk(const GraphView& g, const double* theta, int64_t B, const SeriesSpec& spec,
                      Body&& body) {
  const int64_t step = chunk_size(g, B);
  const std::vector<int64_t> order = rows_by_rate(g, theta, B);
  Status first;
  for (int64_t b0 = 0; b0 < B; b0 += step) {
    Chunk c;
    c.Bc = std::min(step, B - b0);
    c.row.assign(order.begin() + b0, order.begin() + b0 + c.Bc);
    prepare_chunk(g, theta, spec, c);
    check_rows(spec, c);
    if (!spec.row_codes)
      for (const Status& s : c.bad)
        if (s.code != kOk && (first.code == kOk || s.batch < first.batch)) first = s;
    if (!spec.row_codes && first.code != kOk) continue;  // only the first failing row matters
    body(c);
    for (int64_t b = 0; b < c.Bc; ++b)
      if (spec.row_codes) spec.row_codes[c.row[b]] = c.bad[b].code;
  }
  return spec.row_codes ? Status{} : first;
}

// Time indices sorted by time, ties by index. Finite times go through buckets of equal width
// (about two times each; the few in one bucket are sorted by comparisons): thousands of points
// (a theta batch on the clock) cost a few passes, several times less than a comparison sort.
// Non-finite times (NaN last) take a stable comparison sort.
std::vector<int64_t> time_order(const SeriesSpec& spec) {
  const int64_t T = spec.T;
  std::vector<int64_t> ord(static_cast<size_t>(T));
  std::iota(ord.begin(), ord.end(), 0);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int64_t t = 0; t < T; ++t) {
    lo = std::min(lo, spec.times[t]);
    hi = std::max(hi, spec.times[t]);
  }
  bool finite = std::isfinite(lo) && std::isfinite(hi) && std::isfinite(hi - lo);
  for (int64_t t = 0; t < T && finite; ++t) finite = !std::isnan(spec.times[t]);
  auto before = [&](int64_t x, int64_t y) {
    const double a = spec.times[x], b = spec.times[y];
    return a < b || (a == b && x < y) || (std::isnan(b) && !std::isnan(a));
  };
  if (!finite || T < 64 || !(hi > lo)) {
    std::stable_sort(ord.begin(), ord.end(), before);
    return ord;
  }
  const size_t nb = static_cast<size_t>(T / 2);
  const double scale = static_cast<double>(nb) / (hi - lo);
  std::vector<size_t> start(nb + 1, 0), bucket(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const double x = (spec.times[t] - lo) * scale;
    const size_t k = std::min(nb - 1, static_cast<size_t>(x));
    bucket[static_cast<size_t>(t)] = k;
    ++start[k + 1];
  }
  for (size_t k = 0; k < nb; ++k) start[k + 1] += start[k];
  std::vector<size_t> fill(start.begin(), start.end() - 1);
  for (int64_t t = 0; t < T; ++t) ord[fill[bucket[static_cast<size_t>(t)]]++] = t;
  for (size_t k = 0; k < nb; ++k) {
    int64_t* a = ord.data() + start[k];
    int64_t* z = ord.data() + start[k + 1];
    if (z - a > 16) {
      std::sort(a, z, before);
      continue;
    }
    for (int64_t* p = a + 1; p < z; ++p)  // insertion: a bucket holds ~2
      for (int64_t* q = p; q > a && before(q[0], q[-1]); --q) std::swap(q[0], q[-1]);
  }
  return ord;
}

// The time points of every good row of a chunk; returns the last step any of them may need.
int64_t init_rows(const Chunk& c, const SeriesSpec& spec, const int64_t* ord,
                  std::vector<RowTimes>& rt) {
  rt.assign(static_cast<size_t>(c.Bc), RowTimes{});
  int64_t kend = -1;
  for (int64_t b = 0; b < c.Bc; ++b) {
    if (c.bad[b].code != kOk) continue;
    rt[b].init(spec, ord, c.lambda[b]);
    kend = std::max(kend, rt[b].kend);
  }
  return kend;
}

// u_0 = alpha of each lane's row, laid out (n, Bc).
std::vector<double> start_lanes(const Chunk& c, const double* alpha, int64_t n) {
  std::vector<double> u(static_cast<size_t>(n * c.Bc));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < c.Bc; ++b) u[i * c.Bc + b] = alpha[c.row[b] * n + i];
  return u;
}

// Per-row running quantities of the scalar series at step k.
struct Scalars {
  std::vector<double> c, cmax, absorbed;  // (Bc) value term, bound on later terms, a_k
  void init(const SeriesSpec& spec, const Chunk& c_) {
    c.assign(static_cast<size_t>(c_.Bc), 0.0);
    cmax.assign(c.size(), 0.0);
    absorbed.assign(c.size(), 0.0);
    for (int64_t b = 0; b < c_.Bc; ++b)
      absorbed[b] = spec.defect ? spec.defect[c_.row[b]] : 0.0;
  }
  // Fills c, cmax for step k from u (n, Bc); returns the transient masses in `mass`.
  void update(const GraphView& g, const Chunk& ch, const SeriesSpec& spec, const double* u,
              std::vector<double>& mass, std::vector<double>& exitflow) {
    const int64_t n = g.n, Bc = ch.Bc;
    // Sums in locals (Bc <= 64): accumulating through the vectors' memory costs a store per term.
    double ms[64], fl[64];  // only the Bc used are cleared: this runs every step
    std::fill_n(ms, Bc, 0.0);
    std::fill_n(fl, Bc, 0.0);
    const double* e = ch.e.data();
    if (Bc == 1) {
      double m0 = 0.0, f0 = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        m0 += u[i];
        f0 += u[i] * e[i];
      }
      ms[0] = m0;
      fl[0] = f0;
    } else {
      for (int64_t i = 0; i < n; ++i)
        for (int64_t b = 0; b < Bc; ++b) {
          ms[b] += u[i * Bc + b];
          fl[b] += u[i * Bc + b] * e[i * Bc + b];
        }
    }
    for (int64_t b = 0; b < Bc; ++b) {
      mass[b] = ms[b];
      exitflow[b] = fl[b];
    }
    for (int64_t b = 0; b < Bc; ++b) {
      switch (spec.kind) {
        case kDensity:
          c[b] = exitflow[b];
          cmax[b] = ch.emax[b] * mass[b];
          break;
        case kSurvival:
          c[b] = mass[b];
          cmax[b] = mass[b];
          break;
        default:  // cdf: a_k; a_(k') - a_k <= mass_k for every later k', and a converged
                  // point adds a_k times the rest of its weights, so mass bounds the error
          c[b] = absorbed[b];
          cmax[b] = mass[b];
      }
    }
  }
  void advance(const Chunk& ch, const std::vector<double>& exitflow) {
    for (int64_t b = 0; b < ch.Bc; ++b) absorbed[b] += exitflow[b] / ch.lambda[b];
  }
};

// Whether a scalar series at time t has converged after adding term k: the remainder is at most
// cmax * P(Pois > k), kept below tol relative to the value (and absolutely).
inline bool converged(const Stream& s, int64_t k, const StepInv& inv, double cmax, double value,
                      double tol) {
  return s.tail_below(k, inv, cmax, std::max(tol * std::min(1.0, value), kNegligible));
}

void fill_nan(double* p, int64_t count) {
  std::fill(p, p + count, std::numeric_limits<double>::quiet_NaN());
}

Status series_sweep(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                    const SeriesSpec& spec, double* out) {
  const int64_t n = g.n, T = spec.T;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(B * T));
  const std::vector<int64_t> ord = time_order(spec);
  return for_each_chunk(g, theta, B, spec, [&](const Chunk& c) {
    const int64_t Bc = c.Bc;
    std::vector<RowTimes> rt;
    int64_t kend = init_rows(c, spec, ord.data(), rt);
    std::vector<double> u = start_lanes(c, alpha, n), next(u.size());
    Scalars sc;
    sc.init(spec, c);
    Scales scl;
    scl.init(spec, Bc);
    std::vector<double> mass(static_cast<size_t>(Bc)), flow(static_cast<size_t>(Bc));
    // Terms are buffered per row for a block of kBlock steps and added to every time point in a
    // tight loop per block; truncation is tested at block ends (k = 15, 31, ...), so a time
    // point's stopping index still depends on that time point alone.
    std::vector<double> cb(static_cast<size_t>(Bc * kBlock)), ik(static_cast<size_t>(kBlock));
    int64_t k0 = 0;
    for (int64_t k = 0; k <= kend; ++k) {
      sc.update(g, c, spec, u.data(), mass, flow);
      ik[k - k0] = k > 0 ? 1.0 / static_cast<double>(k) : 0.0;
      const bool block_end = k - k0 == kBlock - 1 || k == kend;
      bool all = true;
      for (int64_t b = 0; b < Bc; ++b) {
        if (c.bad[b].code != kOk || rt[b].finished()) continue;
        double* o = out + (c.row[b]) * T;
        double* cbb = cb.data() + b * kBlock;
        const double cv = sc.c[b], cm = sc.cmax[b];
        auto span = [&](int64_t t, int64_t lo, int64_t hi) {
          double acc = o[t];
          for_weights(rt[b].s[t], lo, hi, k0, ik.data(),
                      [&](int64_t kk, double w) { acc += w * cbb[kk - k0]; });
          o[t] = acc;
        };
        cbb[k - k0] = cv;
        auto group = [&](const int64_t* ts, int64_t lo, int64_t hi) {
          Stream* st[4];
          double w[4], seen[4], acc[4], mu[4];
          for (int j = 0; j < 4; ++j) {  // term lo (an anchor there or not) as for one
            st[j] = &rt[b].s[ts[j]];
            acc[j] = o[ts[j]];
            for_weights(*st[j], lo, lo, k0, ik.data(),
                        [&](int64_t, double wk) { acc[j] += wk * cbb[lo - k0]; });
            w[j] = st[j]->w;
            seen[j] = st[j]->seen;
            mu[j] = st[j]->mu;
          }
          weights4(ik.data() + (lo + 1 - k0), cbb + (lo + 1 - k0), hi - lo, mu, w, seen, acc);
          for (int j = 0; j < 4; ++j) {
            st[j]->w = w[j];
            st[j]->seen = seen[j];
            o[ts[j]] = acc[j];
          }
          return true;
        };
        auto rest = [&](int64_t t, double w) {  // the cdf's terms past truncation: a_k each
          if (spec.kind == kCdf) o[t] += w * cv;
        };
        const bool stop = rt[b].block_step(
            k, k0, block_end, !spec.discrete && cm <= kNegligible, span, rest,
            [&](int64_t t, int64_t kk, const StepInv& inv) {
              if (spec.discrete || !converged(rt[b].s[t], kk, inv, cm, o[t], spec.tol))
                return false;
              if (spec.kind == kCdf) rest(t, rt[b].s[t].tail_after(kk));
              return true;
            },
            group);
        all = all && stop;
      }
      if (all) break;
      if (block_end) {
        k0 = k + 1;
        for (int64_t b = 0; b < Bc; ++b) {
          if (c.bad[b].code != kOk || rt[b].finished()) continue;
          double* o = out + (c.row[b]) * T;
          const double f = scl.rescale(b, mass[b], rt[b], [&](int64_t t, double x) { o[t] *= x; });
          if (f != 0.0) scale_lane(u.data(), n, Bc, b, f);
        }
      }
      sc.advance(c, flow);
      step_forward(g, c, u.data(), next.data());
      u.swap(next);
    }
    for (int64_t b = 0; b < Bc; ++b) {
      double* o = out + (c.row[b]) * T;
      if (c.bad[b].code != kOk) {
        fill_nan(o, T);
        continue;
      }
      unscale_row(spec, scl, b, o, nullptr, 0, nullptr);
      if (spec.kind != kDensity && !spec.log)  // probabilities, not densities
        for (int64_t t = 0; t < T; ++t) o[t] = std::min(1.0, std::max(0.0, o[t]));
    }
    nan_bad_times(spec, c, out, 1);
  });
}

// Runs sweep(b, spec_b) for each theta row b alone, spec_b carrying row b's defect and row
// code; returns the first failing row's status with its batch index.
template <typename Sweep>
Status row_by_row(const SeriesSpec& spec, int64_t B, Sweep&& sweep) {
  Status first;
  for (int64_t b = 0; b < B; ++b) {
    SeriesSpec sb = spec;
    if (spec.defect) sb.defect = spec.defect + b;
    if (spec.row_codes) sb.row_codes = spec.row_codes + b;
    const Status st = sweep(b, sb);
    if (st.code != kOk && first.code == kOk) {
      first = st;
      first.batch = b;
    }
  }
  return first;
}

// A batch of rows of a graph whose weights are theta times constants (p = 1, no base weights)
// from one start distribution: row b is the theta = 1 chain on the clock theta_b t, so its density
// is theta_b f_1(theta_b t) and its survival and cdf are S_1(theta_b t), F_1(theta_b t). The rows
// then share one series of B T time points at theta = 1 (one sweep; the setup, reduction and
// step checks once) instead of B series. Fills the clock times u (B T) and returns true where
// that holds; bad rows and times (reported per row) are left to the rows' own series.
bool clock_times(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                 const double* dalpha, const SeriesSpec& spec, std::vector<double>& u) {
  const int64_t n = g.n, T = spec.T;
  if (B < 2 || spec.discrete || g.p != 1 || T == 0) return false;
  for (int64_t b = 0; b < B; ++b)
    if (!(theta[b] > 0.0) || !std::isfinite(theta[b])) return false;
  for (int64_t t = 0; t < T; ++t)
    if (!(spec.times[t] >= 0.0) || !std::isfinite(spec.times[t])) return false;
  for (int64_t b = 1; b < B; ++b)
    if (!std::equal(alpha, alpha + n, alpha + b * n) ||
        (spec.defect && spec.defect[b] != spec.defect[0]))
      return false;
  for (int64_t z = 0; dalpha && z < B * n; ++z)
    if (dalpha[z] != 0.0) return false;
  for (int64_t e = 0; e < g.indptr[n]; ++e)
    if (g.base[e] != 0.0) return false;
  u.resize(static_cast<size_t>(B * T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) u[static_cast<size_t>(b * T + t)] = theta[b] * spec.times[t];
  return true;
}

SeriesSpec clock_spec(const SeriesSpec& spec, const std::vector<double>& u) {
  SeriesSpec s = spec;
  s.times = u.data();
  s.T = static_cast<int64_t>(u.size());
  s.row_codes = nullptr;  // one row: a failure sends the batch to its own series
  return s;
}

// Whether stepping (steps.cpp) pays for every row of a batch reduced to Coxians.
bool rows_step(const CoxianRows& cx, int64_t B, const SeriesSpec& spec, const int64_t* ord) {
  for (int64_t b = 0; b < B; ++b)
    if (!stepping_pays(cx.theta.data() + b * 2 * cx.M, cx.M, spec, ord, B > 1)) return false;
  return true;
}

// Values and time derivatives of the theta = 1 graph at the clock's times (clock_spec) by
// stepping its Coxian (steps.cpp), where that pays; false (nothing promised) otherwise.
bool clock_steps(const GraphView& g, const double* alpha, const SeriesSpec& cs, double* out,
                 double* dt) {
  const double one = 1.0;
  CoxianRows cx;
  if (!reduce_to_coxian(g, &one, 1, alpha, nullptr, cx, nullptr, true)) return false;
  const std::vector<int64_t> ord = time_order(cs);
  return stepping_pays(cx.theta.data(), cx.M, cs, ord.data()) &&
         coxian_times(cx.theta.data(), cx.M, cx.alpha[0], cs, ord.data(), out, dt);
}

}  // namespace

Status series(const GraphView& g, const double* theta, int64_t B, const double* alpha,
              const SeriesSpec& spec, double* out) {
  std::vector<double> u;
  if (clock_times(g, theta, B, alpha, nullptr, spec, u)) {
    const double one = 1.0;
    if (series(g, &one, 1, alpha, clock_spec(spec, u), out).code == kOk) {
      const int64_t T = spec.T;
      for (int64_t b = 0; spec.kind == kDensity && b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
          out[b * T + t] = spec.log ? out[b * T + t] + std::log(theta[b]) : out[b * T + t] * theta[b];
      if (spec.row_codes) std::fill(spec.row_codes, spec.row_codes + B, kOk);
      return Status{};
    }
  }
  CoxianRows cx;
  if (spec.discrete || !reduce_to_coxian(g, theta, B, alpha, nullptr, cx, nullptr, true))
    return series_sweep(g, theta, B, alpha, spec, out);
  const int64_t M = cx.M, T = spec.T;
  // Many time points on a Coxian: step the phase masses between them (steps.cpp) where that
  // beats the time points' Poisson windows.
  const std::vector<int64_t> ord = time_order(spec);
  const bool step = rows_step(cx, B, spec, ord.data());
  if (step && B > 1) {  // rows in lock step (their masses one vector per phase)
    if (coxian_rows(cx.theta.data(), B, M, cx.alpha.data(), spec, ord.data(), out)) {
      if (spec.row_codes) std::fill(spec.row_codes, spec.row_codes + B, kOk);
      return Status{};
    }
  }
  if (!step && !coxian_smaller(g, M)) return series_sweep(g, theta, B, alpha, spec, out);
  // Rows share one sweep through the one-hot parameters while their (2M)^2 coefficients cost
  // no more than a few passes over the graph; long Coxians go row by row with constant weights.
  if (!step && (M * M <= g.indptr[g.n] || B == 1))
    return series_sweep(one_hot_rates(cx), cx.theta.data(), B, cx.alpha.data(), spec, out);
  GraphView v = cx.view;  // p = 0: each row's rates as constant weights
  const double none = 0.0;
  return row_by_row(spec, B, [&](int64_t b, const SeriesSpec& sb) {
    const double* rates = cx.theta.data() + b * 2 * M;
    if (step && coxian_times(rates, M, cx.alpha[b * M], sb, ord.data(), out + b * T)) {
      if (sb.row_codes) sb.row_codes[0] = kOk;
      return Status{};
    }
    v.base = rates;
    return series_sweep(v, &none, 1, cx.alpha.data() + b * M, sb, out + b * T);
  });
}

Status series_state(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                    const SeriesSpec& spec_in, bool accumulated, double* out) {
  SeriesSpec spec = spec_in;
  spec.kind = kSurvival;  // term k = u_k (no shift of discrete jump counts)
  const int64_t n = g.n, T = spec.T;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(B * T * n));
  const std::vector<int64_t> ord = time_order(spec);
  return for_each_chunk(g, theta, B, spec, [&](const Chunk& c) {
    const int64_t Bc = c.Bc, nb = n * Bc;
    std::vector<RowTimes> rt;
    int64_t kend = init_rows(c, spec, ord.data(), rt);
    std::vector<double> u = start_lanes(c, alpha, n), next(u.size());
    std::vector<double> V(accumulated ? static_cast<size_t>(nb) : 0, 0.0);  // sum_(i<k) u_i
    // accumulated: int_0^t pi = (1/lambda) sum_k P(Pois > k) u_k = (1/lambda) sum_k w_k V_k.
    const double* src = accumulated ? V.data() : u.data();
    for (int64_t k = 0; k <= kend; ++k) {
      const StepInv inv(k);
      bool all = true;
      src = accumulated ? V.data() : u.data();
      for (int64_t b = 0; b < Bc; ++b) {
        if (c.bad[b].code != kOk || rt[b].finished()) continue;
        const double scale = accumulated ? 1.0 / c.lambda[b] : 1.0;
        auto add = [&](int64_t t, double w) {
          double* o = out + ((c.row[b]) * T + t) * n;
          const double f = w * scale;
          for (int64_t i = 0; i < n; ++i) o[i] += f * src[i * Bc + b];
          return false;
        };
        double m = 0.0;
        for (int64_t i = 0; i < n; ++i) m += u[i * Bc + b];
        if (!spec.discrete && m <= kNegligible) {  // u is (and stays) negligible
          if (accumulated) rt[b].finish(k, add);
          else rt[b].finish(k, [](int64_t, double) {});
          continue;
        }
        rt[b].visit(k, inv, add);
        all = all && rt[b].finished();
      }
      if (all) break;
      if (accumulated)
        for (int64_t x = 0; x < nb; ++x) V[x] += u[x];
      step_forward(g, c, u.data(), next.data());
      u.swap(next);
    }
    for (int64_t b = 0; b < Bc; ++b)
      if (c.bad[b].code != kOk) fill_nan(out + (c.row[b]) * T * n, T * n);
    nan_bad_times(spec, c, out, n);
  });
}

// Values, the Jacobian with respect to theta (forward tangents, one per parameter) and the time
// derivative, in one sweep.  With u'_k the tangent of u_k along theta_q:
//   u'_(k+1) = u'_k P + u_k P'_q,  P'_q = dS_q / lambda (lambda held fixed: the series is exact
//   for any lambda >= max d, so its derivative is too),
//   f'(t) = sum_k w_k(t) (u'_k . r + u_k . r'_q),  r'_q = d(exit rates)/d theta_q (density only),
// and u'_0 = d alpha / d theta_q (given).  The time derivative uses
// d/dt Pois(k; lambda t) = Pois(k; lambda t) (k / t - lambda), and lambda (c_1 - c_0) at t = 0.
// Each time point stops where its value does.
static Status series_jac_sweep(const GraphView& g, const double* theta, int64_t B,
                               const double* alpha, const double* dalpha, const SeriesSpec& spec,
                               double* out, double* jac, double* dfdt) {
  const int64_t n = g.n, T = spec.T, p = g.p;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(B * T));
  std::memset(jac, 0, sizeof(double) * static_cast<size_t>(B * T * p));
  std::memset(dfdt, 0, sizeof(double) * static_cast<size_t>(B * T));
  const std::vector<int64_t> ord = time_order(spec);
  bool zero_time = false;
  for (int64_t t = 0; t < T; ++t) zero_time = zero_time || spec.times[t] == 0.0;
  return for_each_chunk(g, theta, B, spec, [&](const Chunk& c) {
    const int64_t Bc = c.Bc, nb = n * Bc;
    std::vector<RowTimes> rt;
    int64_t kend = init_rows(c, spec, ord.data(), rt);
    if (!spec.discrete && zero_time) kend = std::max<int64_t>(kend, 1);
    std::vector<double> u = start_lanes(c, alpha, n), next(u.size());
    std::vector<double> ut(static_cast<size_t>(p * nb)), tmp(static_cast<size_t>(nb));
    for (int64_t q = 0; q < p; ++q)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t b = 0; b < Bc; ++b)
          ut[q * nb + i * Bc + b] = dalpha[((c.row[b]) * n + i) * p + q];
    // d(exit weight)/d theta_q; the cdf's a_k carries its own tangent (da_k/d theta_q).
    std::vector<double> et(static_cast<size_t>(p * n), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed)
        if (g.indices[ed] >= n)
          for (int64_t q = 0; q < p; ++q) et[q * n + i] += g.coef[ed * p + q];
    Scalars sc;
    sc.init(spec, c);
    std::vector<double> at(static_cast<size_t>(p * Bc), 0.0);  // tangents of a_k
    if (spec.defect)  // defect = 1 - sum(alpha)
      for (int64_t q = 0; q < p; ++q)
        for (int64_t b = 0; b < Bc; ++b)
          for (int64_t i = 0; i < n; ++i) at[q * Bc + b] -= dalpha[((c.row[b]) * n + i) * p + q];
    std::vector<double> ct(static_cast<size_t>(p * Bc)), ft(static_cast<size_t>(p * Bc));
    std::vector<double> mass(static_cast<size_t>(Bc)), flow(static_cast<size_t>(Bc));
    std::vector<double> c0(static_cast<size_t>(Bc), 0.0), tm(static_cast<size_t>(Bc));
    std::vector<double> cb(static_cast<size_t>(Bc * kBlock)), ik(static_cast<size_t>(kBlock));
    std::vector<double> ctb(static_cast<size_t>(Bc * kBlock * p));
    Scales scl;
    scl.init(spec, Bc);
    int64_t k0 = 0;
    for (int64_t k = 0; k <= kend; ++k) {
      ik[k - k0] = k > 0 ? 1.0 / static_cast<double>(k) : 0.0;
      const bool block_end = k - k0 == kBlock - 1 || k == kend;
      sc.update(g, c, spec, u.data(), mass, flow);
      // Tangents of c_k (ct) and of the exit flow u_k . e (ft), per parameter, and a bound on
      // the size of later tangent terms (tm): the value's truncation test alone can stop while
      // the tangent still moves (e.g. u_k = 0 but u'_k != 0).
      std::fill(tm.begin(), tm.end(), 0.0);
      for (int64_t q = 0; q < p; ++q) {
        const double* uq = ut.data() + q * nb;
        for (int64_t b = 0; b < Bc; ++b) {
          double sm = 0.0, fl = 0.0, ab = 0.0, eu = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            const double x = uq[i * Bc + b];
            sm += x;
            ab += std::fabs(x);
            fl += x * c.e[i * Bc + b] + u[i * Bc + b] * et[q * n + i];
            eu += u[i * Bc + b] * std::fabs(et[q * n + i]);
          }
          ft[q * Bc + b] = fl;
          ct[q * Bc + b] = spec.kind == kDensity ? fl : spec.kind == kSurvival ? sm : at[q * Bc + b];
          tm[b] += spec.kind == kDensity ? c.emax[b] * ab + eu : ab;
        }
      }
      bool all = true;
      for (int64_t b = 0; b < Bc; ++b) {
        if (c.bad[b].code != kOk) continue;
        const double lam = c.lambda[b], cv = sc.c[b], cm = sc.cmax[b];
        double* o = out + (c.row[b]) * T;
        double* jb = jac + (c.row[b]) * T * p;
        double* db = dfdt + (c.row[b]) * T;
        if (!spec.discrete && zero_time && k <= 1) {  // d/dt at t = 0: lambda (c_1 - c_0)
          if (k == 0) c0[b] = cv;
          else
            for (int64_t t = 0; t < T; ++t)
              if (spec.times[t] == 0.0) db[t] = lam * (cv - c0[b]);
        }
        if (rt[b].finished()) continue;
        double* cbb = cb.data() + b * kBlock;
        double* ctbb = ctb.data() + b * kBlock * p;
        auto span = [&](int64_t t, int64_t lo, int64_t hi) {
          const double tv = spec.times[t];
          const double it = tv > 0.0 ? 1.0 / tv : 0.0;
          double acc = o[t], dd = db[t];
          double* jt = jb + t * p;
          for_weights(rt[b].s[t], lo, hi, k0, ik.data(), [&](int64_t kk, double w) {
            const double cvk = cbb[kk - k0];
            acc += w * cvk;
            const double* ctk = ctbb + (kk - k0) * p;
            for (int64_t q = 0; q < p; ++q) jt[q] += w * ctk[q];
            dd += w * cvk * (static_cast<double>(kk) * it - lam);
          });
          o[t] = acc;
          if (!spec.discrete && tv > 0.0) db[t] = dd;
        };
        cbb[k - k0] = cv;
        for (int64_t q = 0; q < p; ++q) ctbb[(k - k0) * p + q] = ct[q * Bc + b];
        auto rest = [&](int64_t t, double w) {  // the cdf's terms past truncation: a_k each
          if (spec.kind != kCdf) return;
          o[t] += w * cv;
          for (int64_t q = 0; q < p; ++q) jb[t * p + q] += w * ct[q * Bc + b];
        };
        const bool negligible = !spec.discrete && cm <= kNegligible && tm[b] <= kNegligible;
        const bool stop = rt[b].block_step(k, k0, block_end, negligible, span, rest, [&](int64_t t, int64_t kk, const StepInv& inv) {
          if (spec.discrete || !converged(rt[b].s[t], kk, inv, cm, o[t], spec.tol)) return false;
          double jmax = 0.0;
          for (int64_t q = 0; q < p; ++q) jmax = std::max(jmax, std::fabs(jb[t * p + q]));
          const double limit = std::max(spec.tol * std::max(std::min(1.0, o[t]), jmax), kNegligible);
          if (!rt[b].s[t].tail_below(kk, inv, tm[b], limit)) return false;
          if (spec.kind == kCdf) rest(t, rt[b].s[t].tail_after(kk));
          return true;
        }, [](const int64_t*, int64_t, int64_t) { return false; });
        all = all && stop;
      }
      if (all && !(zero_time && !spec.discrete && k < 1)) break;
      if (block_end) {
        k0 = k + 1;
        for (int64_t b = 0; b < Bc; ++b) {
          if (c.bad[b].code != kOk || rt[b].finished()) continue;
          double* o = out + (c.row[b]) * T;
          double* jb = jac + (c.row[b]) * T * p;
          double* db = dfdt + (c.row[b]) * T;
          const double f = scl.rescale(b, mass[b], rt[b], [&](int64_t t, double x) {
            o[t] *= x;
            db[t] *= x;
            for (int64_t q = 0; q < p; ++q) jb[t * p + q] *= x;
          });
          if (f == 0.0) continue;
          scale_lane(u.data(), n, Bc, b, f);
          for (int64_t q = 0; q < p; ++q) scale_lane(ut.data() + q * nb, n, Bc, b, f);
        }
      }
      for (int64_t q = 0; q < p; ++q)
        for (int64_t b = 0; b < Bc; ++b)
          at[q * Bc + b] += ft[q * Bc + b] / c.lambda[b];
      sc.advance(c, flow);
      for (int64_t q = 0; q < p; ++q) {
        double* uq = ut.data() + q * nb;
        step_tangent(g, c, q, uq, u.data(), tmp.data());  // u'P + u dS_q / lambda
        std::memcpy(uq, tmp.data(), sizeof(double) * static_cast<size_t>(nb));
      }
      step_forward(g, c, u.data(), next.data());
      u.swap(next);
    }
    for (int64_t b = 0; b < Bc; ++b) {
      if (c.bad[b].code == kOk) {
        unscale_row(spec, scl, b, out + c.row[b] * T, jac + c.row[b] * T * p, p,
                    dfdt + c.row[b] * T);
        continue;
      }
      fill_nan(out + (c.row[b]) * T, T);
      fill_nan(jac + (c.row[b]) * T * p, T * p);
      fill_nan(dfdt + (c.row[b]) * T, T);
    }
    nan_bad_times(spec, c, out, 1);
    nan_bad_times(spec, c, jac, p);
    nan_bad_times(spec, c, dfdt, 1);
  });
}

// On a Coxian reduction (reduce_to_coxian), row by row: the Coxian whose weights are the affine
// functions base = theta'(theta_b), coef = dtheta'/dtheta at a zero parameter vector has this
// row's values and first derivatives, so the sweep carries p tangents over M phases instead of
// the graph's edges (theta' exactly as reduced: no rounding of base + coef . theta).
Status series_jac(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                  const double* dalpha, const SeriesSpec& spec, double* out, double* jac,
                  double* dfdt) {
  std::vector<double> u;
  if (clock_times(g, theta, B, alpha, dalpha, spec, u)) {
    // value v_1(u), its u-derivative d_1 (of the log with spec.log) at theta = 1; then
    // d/dtheta v_theta(t) = t d_1 (+ v_1, or + 1/theta for the log of a density), d/dt = theta d_1
    // (times theta for a density's value)
    const double one = 1.0;
    const int64_t T = spec.T, n = g.n;
    std::vector<double> j1(u.size()), d1(u.size()), da(static_cast<size_t>(n), 0.0);
    if (clock_steps(g, alpha, clock_spec(spec, u), out, d1.data()) ||
        series_jac(g, &one, 1, alpha, da.data(), clock_spec(spec, u), out, j1.data(),
                   d1.data())
            .code == kOk) {
      const bool dens = spec.kind == kDensity;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
          const int64_t z = b * T + t;
          const double th = theta[b], d = d1[static_cast<size_t>(z)], v = out[z];
          if (dens && spec.log) {
            out[z] = v + std::log(th);
            jac[z] = 1.0 / th + spec.times[t] * d;
            dfdt[z] = th * d;
          } else if (dens) {
            out[z] = th * v;
            jac[z] = v + th * spec.times[t] * d;
            dfdt[z] = th * th * d;
          } else {
            jac[z] = spec.times[t] * d;
            dfdt[z] = th * d;
          }
        }
      if (spec.row_codes) std::fill(spec.row_codes, spec.row_codes + B, kOk);
      return Status{};
    }
  }
  CoxianRows cx;
  if (spec.discrete || !reduce_to_coxian(g, theta, B, alpha, dalpha, cx, nullptr, true))
    return series_jac_sweep(g, theta, B, alpha, dalpha, spec, out, jac, dfdt);
  const int64_t M = cx.M, p = g.p, T = spec.T;
  {  // rows and their tangents stepped eight at once between the time points (steps.cpp)
    const std::vector<int64_t> ord = time_order(spec);
    if (spec.kind != kCdf && rows_step(cx, B, spec, ord.data()) &&
        coxian_rows_jac(cx.theta.data(), cx.dtheta.data(), B, M, p, cx.alpha.data(),
                        cx.dmass0.data(), spec, ord.data(), out, jac, dfdt)) {
      if (spec.row_codes) std::fill(spec.row_codes, spec.row_codes + B, kOk);
      return Status{};
    }
  }
  if (!coxian_smaller(g, M))
    return series_jac_sweep(g, theta, B, alpha, dalpha, spec, out, jac, dfdt);
  std::vector<double> zero(static_cast<size_t>(p), 0.0), da(static_cast<size_t>(M * p), 0.0);
  GraphView v = cx.view;
  v.p = p;
  return row_by_row(spec, B, [&](int64_t b, const SeriesSpec& sb) {
    v.base = cx.theta.data() + b * 2 * M;
    v.coef = cx.dtheta.data() + b * 2 * M * p;
    std::copy_n(cx.dmass0.data() + b * p, p, da.begin());
    return series_jac_sweep(v, zero.data(), 1, cx.alpha.data() + b * M, da.data(), sb,
                            out + b * T, jac + b * T * p, dfdt + b * T);
  });
}

}  // namespace phasic
