// Distribution functions by power series of the (uniformized) transition matrix.
//
// Continuous: P = I - A / lambda with lambda >= max_i d_i (uniformization), and
//   pi(t) = sum_k Pois(k; lambda t) alpha P^k,  f(t) = pi(t) . e,  S(t) = pi(t) . 1,
// with e the exit rates.  Discrete: P = I - A, lambda = 1, P(tau = k) = alpha P^(k-1) . e and
// P(tau > k) = alpha P^k . 1.  All time points share one sweep: the sweep produces the scalars
// c_k = u_k . r (u_k = alpha P^k, r = e or 1) and every time point combines them with its weights.
//
// Truncation (continuous): terms are non-negative, so a partial sum is a lower bound.  The
// remainder after step K is at most r_max * (u_K . 1) * P(Pois > K), with P(Pois > K) summed from
// Fox–Glynn weights.  The sweep stops when, for every time point, that bound is
// <= tol * min(1, partial sum): an absolute and a relative error bound at once (relative accuracy
// in the far tails).
//
// Gradients (vjp): with y_j = sum_m q_(j+1+m) P^m r (q_k = sum_t g_t w_k(t)), computed backwards
// as y_j = q_(j+1) r + P y_(j+1), the theta-gradient is sum_j u_j (dP) y_j, where
// dP = dS / lambda per edge i -> j: c * u_i (y_j - y_i) / lambda (lambda held fixed: the series is
// exact for any lambda >= max d, so its derivative is too).  d/d alpha = y_(-1).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.hpp"

namespace phasic {
namespace {

constexpr int64_t kMaxSteps = 20'000'000;

struct Chunk {
  int64_t b0 = 0, Bc = 0;
  std::vector<double> lambda;  // (Bc) uniformization rate per theta row (1 when discrete)
  std::vector<double> w;     // (E, Bc) edge weights
  std::vector<double> ws;    // (E, Bc) edge weights / lambda
  std::vector<double> dl;    // (n, Bc) d / lambda
  std::vector<double> d;     // (n, Bc) total out-weight without self-loops
  std::vector<double> r;     // (n, Bc) reward of the series: exit rates or ones
  std::vector<double> rmax;  // (Bc)
  // In-edges of every transient vertex (self-loops and exits left out), for a gather step:
  // in-edge t of vertex j comes from tsrc[t] with weight wsT[t * Bc + b] (= ws of that edge).
  std::vector<int64_t> tptr;   // (n + 1)
  std::vector<int32_t> tsrc;   // (E')
  std::vector<double> wsT;     // (E', Bc)
  std::vector<double> cT;      // (E', p) coefficients of the in-edges
  std::vector<double> csum;    // (n, p) coefficient sums of the out-edges (exits in, self-loops out)
};

Status prepare_chunk(const GraphView& g, const double* theta, const SeriesSpec& spec, Chunk& c) {
  const int64_t n = g.n, Bc = c.Bc, p = g.p;
  const int64_t E = g.indptr[n];
  c.w.assign(static_cast<size_t>(E * Bc), 0.0);
  c.d.assign(static_cast<size_t>(n * Bc), 0.0);
  c.r.assign(static_cast<size_t>(n * Bc), spec.density ? 0.0 : 1.0);
  c.rmax.assign(static_cast<size_t>(Bc), spec.density ? 0.0 : 1.0);
  // One rate per theta row (not per batch): a row's result does not depend on its batch-mates,
  // so sharding particles over devices changes nothing, bit for bit.
  std::vector<double> dmax(static_cast<size_t>(Bc), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t j = g.indices[e];
      double* we = c.w.data() + e * Bc;
      for (int64_t b = 0; b < Bc; ++b) {
        double v = g.base[e];
        const double* th = theta + (c.b0 + b) * p;
        for (int64_t q = 0; q < p; ++q) v += g.coef[e * p + q] * th[q];
        if (!(v >= 0.0)) return Status{kBadWeight, e, c.b0 + b};
        we[b] = v;
        if (j != i) c.d[i * Bc + b] += v;
        if (spec.density && j >= n) c.r[i * Bc + b] += v;
      }
    }
    for (int64_t b = 0; b < Bc; ++b) {
      dmax[b] = std::max(dmax[b], c.d[i * Bc + b]);
      if (spec.density) c.rmax[b] = std::max(c.rmax[b], c.r[i * Bc + b]);
      if (spec.discrete && c.d[i * Bc + b] > 1.0 + 1e-12)
        return Status{kBadProbability, i, c.b0 + b};
    }
  }
  c.lambda.resize(static_cast<size_t>(Bc));
  for (int64_t b = 0; b < Bc; ++b)
    c.lambda[b] = spec.discrete ? 1.0 : (dmax[b] > 0.0 ? dmax[b] : 1.0);
  c.ws.resize(c.w.size());
  for (int64_t e = 0; e < E; ++e)
    for (int64_t b = 0; b < Bc; ++b) c.ws[e * Bc + b] = c.w[e * Bc + b] / c.lambda[b];
  c.dl.resize(c.d.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < Bc; ++b) c.dl[i * Bc + b] = c.d[i * Bc + b] / c.lambda[b];
  // Transposed (in-edge) lists in ascending source order: the gather step adds the same terms in
  // the same order as a scatter over the rows would, so results are identical.
  c.tptr.assign(static_cast<size_t>(n + 1), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t j = g.indices[e];
      if (j != i && j < n) ++c.tptr[j + 1];
    }
  for (int64_t j = 0; j < n; ++j) c.tptr[j + 1] += c.tptr[j];
  c.tsrc.resize(static_cast<size_t>(c.tptr[n]));
  c.wsT.resize(static_cast<size_t>(c.tptr[n] * Bc));
  c.cT.resize(static_cast<size_t>(c.tptr[n] * p));
  c.csum.assign(static_cast<size_t>(n * p), 0.0);
  std::vector<int64_t> fill(c.tptr.begin(), c.tptr.end() - 1);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t j = g.indices[e];
      if (j == i) continue;
      for (int64_t q = 0; q < p; ++q) c.csum[i * p + q] += g.coef[e * p + q];
      if (j >= n) continue;
      const int64_t t = fill[j]++;
      c.tsrc[t] = static_cast<int32_t>(i);
      std::memcpy(c.wsT.data() + t * Bc, c.ws.data() + e * Bc, sizeof(double) * Bc);
      std::memcpy(c.cT.data() + t * p, g.coef + e * p, sizeof(double) * p);
    }
  return Status{};
}

// next = u P (row vector), u and next (n, Bc), as a gather over in-edges: each next[j] is summed
// in registers and stored once (a scatter over out-edges stores to memory per edge).
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
  std::vector<double> inv(static_cast<size_t>(Bc));
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

// out = P y (column vector), y and out (n, Bc).
void step_backward(const GraphView& g, const Chunk& c, const double* y, double* out) {
  const int64_t n = g.n, Bc = c.Bc;
  for (int64_t i = 0; i < n; ++i) {
    double* oi = out + i * Bc;
    const double* yi = y + i * Bc;
    const double* di = c.dl.data() + i * Bc;
    for (int64_t b = 0; b < Bc; ++b) oi[b] = yi[b] * (1.0 - di[b]);
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t j = g.indices[e];
      if (j == i || j >= n) continue;
      const double* we = c.ws.data() + e * Bc;
      const double* yj = y + j * Bc;
      for (int64_t b = 0; b < Bc; ++b) oi[b] += we[b] * yj[b];
    }
  }
}

// Weights of term k for every time point (continuous: Poisson(lambda t); discrete: indicator).
// Poisson weights follow Fox & Glynn (1988): start at the mode with weight 1, recur outwards by
// ratios (mu / k, k / mu) and normalize by the sum.  Unlike log-space recursions, whose rounding
// grows with the magnitude k log(mu), every weight keeps ~1e-16 relative accuracy even after
// millions of steps (stiff models).  The window [L, R] = mu -/+ (40 sqrt(mu) + 40) loses
// nothing representable (the Poisson mass outside is below 1e-300).
struct Weights {
  const SeriesSpec* spec = nullptr;
  std::vector<int64_t> lo, hi;                  // window per time point
  std::vector<std::vector<double>> p, suffix;   // p[t][k - lo], suffix[t][k - lo] = sum_{k' > k}
  void init(const SeriesSpec& s, double lambda) {
    spec = &s;
    if (s.discrete) return;
    const int64_t T = s.T;
    lo.assign(T, 0);
    hi.assign(T, 0);
    p.assign(T, {});
    suffix.assign(T, {});
    for (int64_t t = 0; t < T; ++t) {
      const double mu = lambda * s.times[t];
      const double spread = 40.0 * std::sqrt(mu) + 40.0;
      const int64_t m = static_cast<int64_t>(std::floor(mu));
      const int64_t L = std::max<int64_t>(0, static_cast<int64_t>(std::floor(mu - spread)));
      const int64_t R = static_cast<int64_t>(std::ceil(mu + spread));
      lo[t] = L;
      hi[t] = R;
      std::vector<double>& w = p[t];
      w.assign(static_cast<size_t>(R - L + 1), 0.0);
      w[m - L] = 1.0;
      for (int64_t k = m + 1; k <= R; ++k) w[k - L] = w[k - 1 - L] * (mu / static_cast<double>(k));
      for (int64_t k = m - 1; k >= L; --k)
        w[k - L] = w[k + 1 - L] * (static_cast<double>(k + 1) / mu);
      // The weights are unimodal: summing each side from its far end towards the mode adds
      // small terms first, so the normalization is accurate without sorting.
      double left = 0.0, right = 0.0;
      for (int64_t k = L; k < m; ++k) left += w[k - L];
      for (int64_t k = R; k >= m; --k) right += w[k - L];
      const double total = left + right;
      for (double& v : w) v /= total;
      std::vector<double>& sf = suffix[t];
      sf.assign(w.size(), 0.0);
      double acc = 0.0;
      for (int64_t k = R; k >= L; --k) {
        sf[k - L] = acc;
        acc += w[k - L];
      }
    }
  }
  double at(int64_t t, int64_t k) const {
    if (spec->discrete) {
      // density: P(tau = jumps) uses u_(jumps - 1); survival: P(tau > jumps) uses u_jumps
      const int64_t target = static_cast<int64_t>(spec->times[t]) - (spec->density ? 1 : 0);
      return k == target ? 1.0 : 0.0;
    }
    return (k < lo[t] || k > hi[t]) ? 0.0 : p[t][k - lo[t]];
  }
  // sum_{k' > k} w_k'(t)
  double tail(int64_t t, int64_t k) const {
    if (spec->discrete) {
      const int64_t target = static_cast<int64_t>(spec->times[t]) - (spec->density ? 1 : 0);
      return target > k ? 1.0 : 0.0;
    }
    if (k < lo[t]) return 1.0;
    if (k >= hi[t]) return 0.0;
    return suffix[t][k - lo[t]];
  }
};

inline double dot_col(const double* u, const double* r, int64_t n, int64_t Bc, int64_t b) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += u[i * Bc + b] * r[i * Bc + b];
  return s;
}

// Forward sweep of one chunk.  Each row (theta) stops accumulating at its own last index K_b, so
// its result does not depend on the other rows of the batch.  Calls visit(k, u_k, c_k, active)
// at every step, active[b] = 1 while row b still accumulates; returns K = max_b K_b and Kb.
template <typename Visit>
Status sweep(const GraphView& g, const Chunk& c, const SeriesSpec& spec, const double* alpha,
             std::vector<double>& acc, std::vector<Weights>& W, int64_t& K,
             std::vector<int64_t>& Kb, Visit&& visit) {
  const int64_t n = g.n, Bc = c.Bc, T = spec.T;
  std::vector<double> u(static_cast<size_t>(n * Bc)), next(u.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < Bc; ++b) u[i * Bc + b] = alpha[(c.b0 + b) * n + i];
  W.resize(static_cast<size_t>(Bc));
  for (int64_t b = 0; b < Bc; ++b) W[b].init(spec, c.lambda[b]);
  int64_t kmax_discrete = -1;
  if (spec.discrete)
    for (int64_t t = 0; t < T; ++t)
      kmax_discrete = std::max<int64_t>(kmax_discrete, static_cast<int64_t>(spec.times[t]));
  std::vector<double> cval(static_cast<size_t>(Bc)), mass(static_cast<size_t>(Bc));
  std::vector<char> active(static_cast<size_t>(Bc), 1);
  Kb.assign(static_cast<size_t>(Bc), 0);
  int64_t remaining = Bc;
  for (int64_t k = 0;; ++k) {
    if (k > kMaxSteps) return Status{kTooManySteps, k, c.b0};
    for (int64_t b = 0; b < Bc; ++b) {
      cval[b] = dot_col(u.data(), c.r.data(), n, Bc, b);
      double m = 0.0;
      for (int64_t i = 0; i < n; ++i) m += u[i * Bc + b];
      mass[b] = m;
    }
    for (int64_t b = 0; b < Bc; ++b)
      if (active[b])
        for (int64_t t = 0; t < T; ++t) acc[b * T + t] += W[b].at(t, k) * cval[b];
    visit(k, u.data(), cval.data(), active.data());
    for (int64_t b = 0; b < Bc; ++b) {
      if (!active[b]) continue;
      bool done = true;
      if (spec.discrete) {
        done = k >= kmax_discrete;
      } else {
        for (int64_t t = 0; t < T && done; ++t) {
          const double tail = W[b].tail(t, k);
          if (tail == 0.0) continue;
          const double bound = c.rmax[b] * mass[b] * tail;
          const double s = acc[b * T + t];
          done = !(bound > spec.tol * std::min(1.0, s) && bound > 1e-300);
        }
      }
      if (done) {
        active[b] = 0;
        Kb[b] = k;
        --remaining;
      }
    }
    if (remaining == 0) {
      K = k;
      return Status{};
    }
    step_forward(g, c, u.data(), next.data());
    u.swap(next);
  }
}

int64_t chunk_size(const GraphView& g, int64_t B) {
  const int64_t E = std::max<int64_t>(g.indptr[g.n], 1);
  const int64_t cap = std::max<int64_t>(1, (int64_t{1} << 24) / E);  // <= 128 MiB of weights
  return std::max<int64_t>(1, std::min<int64_t>({B, 64, cap}));
}

// Runs body(chunk) for consecutive chunks of at most chunk_size rows, each prepared (weights,
// rates, exit vectors) for its rows; stops at the first error.
template <typename Body>
Status for_each_chunk(const GraphView& g, const double* theta, int64_t B, const SeriesSpec& spec,
                      Body&& body) {
  const int64_t step = chunk_size(g, B);
  for (int64_t b0 = 0; b0 < B; b0 += step) {
    Chunk c;
    c.b0 = b0;
    c.Bc = std::min(step, B - b0);
    Status st = prepare_chunk(g, theta, spec, c);
    if (st.code == kOk) st = body(c);
    if (st.code != kOk) return st;
  }
  return Status{};
}

}  // namespace

Status series(const GraphView& g, const double* theta, int64_t B, const double* alpha,
              const SeriesSpec& spec, double* out) {
  const int64_t T = spec.T;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(B * T));
  return for_each_chunk(g, theta, B, spec, [&](const Chunk& c) -> Status {
    const int64_t b0 = c.b0;
    Status st;
    std::vector<double> acc(static_cast<size_t>(c.Bc * T), 0.0);
    std::vector<Weights> W;
    int64_t K = 0;
    std::vector<int64_t> Kb;
    st = sweep(g, c, spec, alpha, acc, W, K, Kb,
               [](int64_t, const double*, const double*, const char*) {});
    if (st.code != kOk) return st;
    std::memcpy(out + b0 * T, acc.data(), sizeof(double) * acc.size());
    return Status{};
  });
}

Status series_vjp(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                  const SeriesSpec& spec, const double* gout, double* dtheta, double* dalpha,
                  double* dtimes) {
  const int64_t n = g.n, T = spec.T, p = g.p;
  std::memset(dtheta, 0, sizeof(double) * static_cast<size_t>(B * p));
  std::memset(dalpha, 0, sizeof(double) * static_cast<size_t>(B * n));
  std::memset(dtimes, 0, sizeof(double) * static_cast<size_t>(B * T));
  return for_each_chunk(g, theta, B, spec, [&](const Chunk& c) -> Status {
    const int64_t b0 = c.b0;
    const int64_t Bc = c.Bc;
    Status st;
    std::vector<double> acc(static_cast<size_t>(Bc * T), 0.0);
    std::vector<Weights> W;
    int64_t K = 0;
    // Forward, keeping every u_k and c_k, and q_k = sum_t g_t w_k(t).
    std::vector<double> us, cs, qs;
    const int64_t nb = n * Bc;
    std::vector<int64_t> Kb;
    st = sweep(g, c, spec, alpha, acc, W, K, Kb,
               [&](int64_t k, const double* u, const double* cv, const char* active) {
                 us.insert(us.end(), u, u + nb);
                 cs.insert(cs.end(), cv, cv + Bc);
                 for (int64_t b = 0; b < Bc; ++b) {
                   double q = 0.0;
                   if (active[b])  // rows past their own truncation contribute nothing
                     for (int64_t t = 0; t < T; ++t)
                       q += gout[(b0 + b) * T + t] * W[b].at(t, k);
                   qs.push_back(q);
                 }
               });
    if (st.code != kOk) return st;
    // One more term c_(K+1) for the time derivative of the continuous series.
    std::vector<double> unext(static_cast<size_t>(nb));
    step_forward(g, c, us.data() + K * nb, unext.data());
    std::vector<double> cnext(static_cast<size_t>(Bc));
    for (int64_t b = 0; b < Bc; ++b) cnext[b] = dot_col(unext.data(), c.r.data(), n, Bc, b);

    // Backward: y_K = 0 beyond truncation ... y_j = q_(j+1) r + P y_(j+1); grad += u_j dP y_j.
    std::vector<double> y(static_cast<size_t>(nb), 0.0), tmp(static_cast<size_t>(nb));
    std::vector<double> gth(static_cast<size_t>(Bc * p), 0.0);
    std::vector<double> ubar(static_cast<size_t>(nb), 0.0);  // sum_k q_k u_k (exit-edge term)
    for (int64_t k = 0; k <= K; ++k) {
      const double* u = us.data() + k * nb;
      for (int64_t t = 0; t < nb; ++t) ubar[t] += qs[k * Bc + t % Bc] * u[t];
    }
    for (int64_t j = K; j >= -1; --j) {
      // y currently holds y_(j+1) (zero for j = K, since q_(K+1) is truncated); form y_j.
      step_backward(g, c, y.data(), tmp.data());
      if (j + 1 <= K)
        for (int64_t i = 0; i < n; ++i)
          for (int64_t b = 0; b < Bc; ++b)
            tmp[i * Bc + b] += qs[(j + 1) * Bc + b] * c.r[i * Bc + b];
      y.swap(tmp);
      if (j < 0) break;
      const double* u = us.data() + j * nb;
      for (int64_t i = 0; i < n; ++i) {
        const double* ui = u + i * Bc;
        const double* yi = y.data() + i * Bc;
        for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
          const int64_t jj = g.indices[e];
          if (jj == i) continue;
          const double* ce = g.coef + e * p;
          const double* yj = jj < n ? y.data() + jj * Bc : nullptr;
          for (int64_t b = 0; b < Bc; ++b) {
            const double v = ui[b] * ((yj ? yj[b] : 0.0) - yi[b]) / c.lambda[b];
            for (int64_t q = 0; q < p; ++q) gth[b * p + q] += ce[q] * v;
          }
        }
      }
    }
    // y now holds y_(-1) = d/d alpha.
    for (int64_t b = 0; b < Bc; ++b)
      for (int64_t i = 0; i < n; ++i) dalpha[(b0 + b) * n + i] = y[i * Bc + b];
    if (spec.density) {  // the exit rates r = e depend on theta through the edges to absorption
      for (int64_t i = 0; i < n; ++i)
        for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
          if (g.indices[e] < n) continue;
          const double* ce = g.coef + e * p;
          for (int64_t b = 0; b < Bc; ++b)
            for (int64_t q = 0; q < p; ++q) gth[b * p + q] += ce[q] * ubar[i * Bc + b];
        }
    }
    for (int64_t b = 0; b < Bc; ++b)
      for (int64_t q = 0; q < p; ++q) dtheta[(b0 + b) * p + q] = gth[b * p + q];
    // d/dt sum_k Pois(k; lambda t) c_k = lambda sum_k Pois(k; lambda t) (c_(k+1) - c_k).
    if (!spec.discrete) {
      for (int64_t k = 0; k <= K; ++k) {
        for (int64_t b = 0; b < Bc; ++b) {
          if (k > Kb[b]) continue;
          const double ck1 = k < K ? cs[(k + 1) * Bc + b] : cnext[b];
          const double diff = c.lambda[b] * (ck1 - cs[k * Bc + b]);
          for (int64_t t = 0; t < T; ++t)
            dtimes[(b0 + b) * T + t] += gout[(b0 + b) * T + t] * W[b].at(t, k) * diff;
        }
      }
    }
    return Status{};
  });
}

Status series_state(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                    const SeriesSpec& spec, double* out) {
  const int64_t n = g.n, T = spec.T;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(B * T * n));
  return for_each_chunk(g, theta, B, spec, [&](const Chunk& c) -> Status {
    const int64_t b0 = c.b0;
    const int64_t Bc = c.Bc;
    Status st;
    std::vector<double> acc(static_cast<size_t>(Bc * T), 0.0);
    std::vector<Weights> W;
    int64_t K = 0;
    std::vector<int64_t> Kb;
    st = sweep(g, c, spec, alpha, acc, W, K, Kb,
               [&](int64_t k, const double* u, const double*, const char* active) {
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t b = 0; b < Bc; ++b) {
          if (!active[b]) continue;
          const double wk = W[b].at(t, k);
          if (wk == 0.0) continue;
          double* o = out + ((b0 + b) * T + t) * n;
          for (int64_t i = 0; i < n; ++i) o[i] += wk * u[i * Bc + b];
        }
      }
    });
    if (st.code != kOk) return st;
    return Status{};
  });
}

}  // namespace phasic

namespace phasic {

// Values, the Jacobian with respect to theta (forward tangents, one per parameter) and the time
// derivative, in one sweep.  With u'_k the tangent of u_k along theta_q:
//   u'_(k+1) = u'_k P + u_k P'_q,  P'_q = dS_q / lambda (lambda held fixed),
//   f'(t) = sum_k w_k(t) (u'_k . r + u_k . r'_q),  r'_q = d(exit rates)/d theta_q (density only),
// and u'_0 = d alpha / d theta_q (given).  Each row stops at its own truncation index.
Status series_jac(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                  const double* dalpha, const SeriesSpec& spec, double* out, double* jac,
                  double* dfdt) {
  const int64_t n = g.n, T = spec.T, p = g.p;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(B * T));
  std::memset(jac, 0, sizeof(double) * static_cast<size_t>(B * T * p));
  std::memset(dfdt, 0, sizeof(double) * static_cast<size_t>(B * T));
  return for_each_chunk(g, theta, B, spec, [&](const Chunk& c) -> Status {
    const int64_t b0 = c.b0;
    const int64_t Bc = c.Bc, nb = n * Bc;
    Status st;
    std::vector<double> ut(static_cast<size_t>(p * nb)), tmp(static_cast<size_t>(nb));
    for (int64_t q = 0; q < p; ++q)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t b = 0; b < Bc; ++b)
          ut[q * nb + i * Bc + b] = dalpha[((b0 + b) * n + i) * p + q];
    std::vector<double> rt(static_cast<size_t>(p * n), 0.0);  // d r_i / d theta_q
    if (spec.density)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e)
          if (g.indices[e] >= n)
            for (int64_t q = 0; q < p; ++q) rt[q * n + i] += g.coef[e * p + q];
    std::vector<double> acc(static_cast<size_t>(Bc * T), 0.0), cs, last(static_cast<size_t>(nb));
    std::vector<Weights> W;
    std::vector<int64_t> Kb;
    int64_t K = 0;
    st = sweep(g, c, spec, alpha, acc, W, K, Kb,
               [&](int64_t k, const double* u, const double* cv, const char* active) {
                 cs.insert(cs.end(), cv, cv + Bc);
                 std::memcpy(last.data(), u, sizeof(double) * static_cast<size_t>(nb));
                 for (int64_t q = 0; q < p; ++q) {
                   double* uq = ut.data() + q * nb;
                   for (int64_t b = 0; b < Bc; ++b) {
                     if (!active[b]) continue;
                     double ct = 0.0;
                     for (int64_t i = 0; i < n; ++i)
                       ct += uq[i * Bc + b] * c.r[i * Bc + b] + u[i * Bc + b] * rt[q * n + i];
                     for (int64_t t = 0; t < T; ++t)
                       jac[((b0 + b) * T + t) * p + q] += W[b].at(t, k) * ct;
                   }
                   step_tangent(g, c, q, uq, u, tmp.data());  // u'P + u dS_q / lambda
                   std::memcpy(uq, tmp.data(), sizeof(double) * static_cast<size_t>(nb));
                 }
               });
    if (st.code != kOk) return st;
    for (int64_t b = 0; b < Bc; ++b)
      std::memcpy(out + (b0 + b) * T, acc.data() + b * T, sizeof(double) * T);
    if (spec.discrete) return Status{};
    step_forward(g, c, last.data(), tmp.data());
    std::vector<double> cnext(static_cast<size_t>(Bc));
    for (int64_t b = 0; b < Bc; ++b) cnext[b] = dot_col(tmp.data(), c.r.data(), n, Bc, b);
    for (int64_t b = 0; b < Bc; ++b)
      for (int64_t k = 0; k <= Kb[b]; ++k) {
        const double ck1 = k < K ? cs[(k + 1) * Bc + b] : cnext[b];
        const double diff = c.lambda[b] * (ck1 - cs[k * Bc + b]);
        for (int64_t t = 0; t < T; ++t) dfdt[(b0 + b) * T + t] += W[b].at(t, k) * diff;
      }
    return Status{};
  });
}

}  // namespace phasic
