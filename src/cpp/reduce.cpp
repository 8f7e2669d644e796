// Adaptive uniformization (van Moorsel & Sanders, 1994) as an exact reduction to a Coxian.
//
// Uniformizing at a rate that changes with the jump count m is exact as long as lambda_m bounds
// the out-rate of every state the chain can occupy after m jumps:
//   pi(t) = sum_m P(N(t) = m) v_m,  v_(m+1) = v_m (I - A / lambda_m),
// with N a pure birth process of rates lambda_0, lambda_1, ...  Take lambda_m as the largest
// out-rate on the support of v_m: the states that attain it leave without a self-loop, so on an
// acyclic graph the support can empty after M jumps.  It does when the rates depend on the
// level alone (the coalescent: C(k, 2) / N at k lineages, block counting included), after M =
// depth jumps, each state visited once.  Then the absorption time is exactly that of the Coxian
// with M phases, phase m of rate lambda_m going on with probability |v_(m+1)| / |v_m| and
// absorbed otherwise: density, survival and cdf are computed on M phases instead of n states
// (a uniformization sweep over M phases per step), after one pass over the edges here.
//
// States whose rate is within a relative kTie of lambda_m count as attaining it (their rates
// are sums of the same edge weights in another order); their out-probabilities are taken
// relative to their own rate, so no mass is lost.  That moves a rate by < 1e-14 relative.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.hpp"

namespace phasic {
namespace {

constexpr double kTie = 1e-14;
constexpr int64_t kMaxPhases = 256;

// Scratch of one reduction, reused across theta rows.
struct Work {
  // edge weights (E), rates (n), nu_m and nu_m P_m (n; -1 off the next support, so joining it
  // costs no second random access)
  std::vector<double> w, q, v, nxt;
  std::vector<double> dq, dv, dnxt;  // tangents (n, p) of q, nu_m, nu_m P_m
  std::vector<int64_t> cur, nx;      // supports
  std::vector<double> buf;           // the weights of the state rate() read last
};

// One theta row: the phases' rates (fwd_m, ext_m interleaved: on to phase m + 1, absorbed) per
// unit of mass in phase m, and with `da` (alpha's tangents, (n, p)) their tangents dph (2M, p)
// and that of the start mass (dm0, p).  Tangents hold lambda_m = q of the fastest state as a
// function of theta: exact while the states tied with it have the same rate function (checked
// with or without tangents, so a value and its vjp take the same path: a mere numerical tie
// would break the reduction under a perturbation) and no support state has
// zero mass but a nonzero tangent (a weight at 0 that theta moves).  False when the support
// does not empty within the work cap, or a weight, rate or alpha is unusable (the full sweep
// then reports it).
// PT: the parameter count when small (loops over parameters unrolled), -1 for any; TAN: with
// tangents (da given).
template <int PT, bool TAN>
bool reduce_row(const GraphView& g, const double* theta, int64_t b, const double* a,
                const double* da, int64_t work_cap, Work& W, std::vector<double>& phases,
                double& mass0, std::vector<double>& dph, std::vector<double>& dm0,
                ReductionTrace* tr) {
  // P: the rate functions' coefficients (ties are checked on them, with or without tangents);
  // p: the tangents carried
  const int64_t n = g.n, P = PT >= 0 ? PT : g.p, p = TAN ? P : 0;
  auto at = [](int64_t i) { return static_cast<size_t>(i); };
  // a state tied with the fastest has the same rate function: equal coefficients (a mere
  // numerical tie would break the reduction under a perturbation)
  auto same_rate = [](double dq, double dlam, double lam) {
    return !(std::fabs(dq - dlam) > 1e-12 * (std::fabs(dlam) + lam));
  };
  auto weight = [&](int64_t ed) {  // base + coef . theta, the loop unrolled for small P
    double x = g.base[ed];
    for (int64_t k = 0; k < P; ++k) x += g.coef[ed * P + k] * theta[b * P + k];
    return x;
  };
  // The out-rate q_i (and its coefficients dq_i) of a support state, when the support reaches
  // it: only the states the chain can occupy are read, each level's edges just before the
  // sweep that reads them again (in cache). With tangents the weights are kept (the vjp's
  // backward pass reads them); without, the sweep recomputes them rather than store E doubles.
  auto rate = [&](int64_t i) {
    double qi = 0.0;
    double* dqi = W.dq.data() + i * P;
    // q's coefficients summed in registers where P is known (through dqi, every edge would
    // store and reload them: coef may alias it)
    double acc[PT > 0 ? PT : 1] = {};
    std::fill(dqi, dqi + P, 0.0);
    const int64_t e0 = g.indptr[i];
    if (W.buf.size() < at(g.indptr[i + 1] - e0)) W.buf.resize(at(g.indptr[i + 1] - e0));
    double all = 0.0;  // finite iff every weight is (NaN and negatives fail below)
    for (int64_t ed = e0; ed < g.indptr[i + 1]; ++ed) {
      const double x = weight(ed);
      if (!(x >= 0.0)) return false;
      all += x;
      W.buf[at(ed - e0)] = x;
      if constexpr (TAN) W.w[at(ed)] = x;
      if (g.indices[ed] == i) continue;
      qi += x;
      if constexpr (PT > 0)
        for (int64_t k = 0; k < PT; ++k) acc[k] += g.coef[ed * P + k];
      else
        for (int64_t k = 0; k < P; ++k) dqi[k] += g.coef[ed * P + k];
    }
    if constexpr (PT > 0) std::copy(acc, acc + PT, dqi);
    W.q[at(i)] = qi;
    return static_cast<bool>(std::isfinite(all));
  };
  W.cur.clear();
  double rho = 0.0;
  std::vector<double> drho(static_cast<size_t>(p), 0.0), dr(static_cast<size_t>(p)),
      dx(static_cast<size_t>(p)), ds(static_cast<size_t>(p)), dc(static_cast<size_t>(p));
  for (int64_t i = 0; i < n; ++i) {
    if (!(a[i] >= 0.0)) return false;
    if (a[i] > 0.0) {
      W.cur.push_back(i);
      rho += a[i];
    } else {
      for (int64_t k = 0; k < p; ++k)
        if (da[i * p + k] != 0.0) return false;
    }
    for (int64_t k = 0; k < p; ++k) drho[at(k)] += da[i * p + k];
  }
  if (!(rho > 0.0) || !std::isfinite(rho)) return false;
  for (int64_t i : W.cur) {
    W.v[at(i)] = a[i] / rho;
    for (int64_t k = 0; k < p; ++k)
      W.dv[at(i * p + k)] = da[i * p + k] / rho - a[i] * drho[at(k)] / (rho * rho);
  }
  mass0 = rho;
  dm0 = drho;
  phases.clear();
  dph.clear();
  int64_t work = 0;
  if (tr) *tr = ReductionTrace{};
  for (int64_t m = 0; !W.cur.empty(); ++m) {
    if (tr) {  // nu_m (and its tangents) on its support
      tr->start.push_back(static_cast<int64_t>(tr->idx.size()));
      for (int64_t i : W.cur) {
        tr->idx.push_back(i);
        tr->nu.push_back(W.v[at(i)]);
        for (int64_t k = 0; k < p; ++k) tr->dnu.push_back(W.dv[at(i * p + k)]);
      }
    }
    double lam = 0.0, ext = 0.0;
    int64_t top = -1, lo = n, hi = -1;  // top: the fastest state; [lo, hi]: the next support
    std::fill(dx.begin(), dx.end(), 0.0);
    W.nx.clear();
    // nxt[j] += x, dnxt[j] += dxv
    auto push = [&](int64_t j, double x, const double* dxv) {
      if (W.nxt[at(j)] < 0.0) {
        W.nx.push_back(j);
        lo = std::min(lo, j);
        hi = std::max(hi, j);
        W.nxt[at(j)] = 0.0;
        std::fill_n(W.dnxt.data() + j * p, p, 0.0);
      }
      W.nxt[at(j)] += x;
      for (int64_t k = 0; k < p; ++k) W.dnxt[at(j * p + k)] += dxv[k];
    };
    // The sweep at rate lam (the fastest state `top`): tied states at their own rate, the others
    // at lam keeping (lam - q) / lam of their mass.
    auto sweep_at_top = [&]() {
      const double cut = lam * (1.0 - kTie);
      const double* dlam = W.dq.data() + top * P;
      for (int64_t i : W.cur) {
        const double vi = W.v[at(i)], qi = W.q[at(i)];
        const double* dvi = W.dv.data() + i * p;
        const double* dqi = W.dq.data() + i * P;
        W.v[at(i)] = 0.0;
        const bool tied = qi >= cut;
        const double r = tied ? qi : lam;  // this state's uniformization rate
        if (tr) tr->rate.push_back(r);
        const double s = vi / r;
        const double* dr_ = tied ? dqi : dlam;
        for (int64_t k = 0; tied && k < P; ++k)
          if (!same_rate(dqi[k], dlam[k], lam)) return false;
        for (int64_t k = 0; k < p; ++k) ds[at(k)] = dvi[k] / r - vi * dr_[k] / (r * r);
        if (!tied) {
          for (int64_t k = 0; k < p; ++k)
            dc[at(k)] = dvi[k] * ((lam - qi) / lam) - vi * (dqi[k] * lam - qi * dlam[k]) / (lam * lam);
          push(i, vi * ((lam - qi) / lam), dc.data());
        }
        for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
          const int64_t j = g.indices[ed];
          if (j == i) continue;
          const double we = TAN ? W.w[at(ed)] : weight(ed);
          const double x = s * we;
          for (int64_t k = 0; k < p; ++k) dc[at(k)] = ds[at(k)] * we + s * g.coef[ed * P + k];
          if (j >= n) {
            ext += x;
            for (int64_t k = 0; k < p; ++k) dx[at(k)] += dc[at(k)];
          } else {
            push(j, x, dc.data());
          }
        }
        work += (g.indptr[i + 1] - g.indptr[i] + 1) * (1 + p);
      }
      return true;
    };
    bool swept = false;
    if constexpr (!TAN) {
      // First try the sweep as if every state of the support had the top rate (a coalescent's
      // level): each state at its own rate, its edges read once while they are in cache.
      // Kept only when that holds (the same tests as below); else undone and swept below.
      double qmin = std::numeric_limits<double>::infinity();
      for (int64_t i : W.cur) {
        if (!rate(i)) return false;
        const double qi = W.q[at(i)];
        if (qi > lam) {
          lam = qi;
          top = i;
        }
        qmin = std::min(qmin, qi);
        if (!(qi > 0.0)) break;
        const double s = W.v[at(i)] / qi;
        // locals: through W and g, every store to nxt would reload the bounds and spill x
        const int64_t e0 = g.indptr[i], deg = g.indptr[i + 1] - e0;
        const int32_t* __restrict idx = g.indices + e0;
        const double* __restrict wb = W.buf.data();  // rate(i) just read the weights
        double* __restrict nxt = W.nxt.data();
        for (int64_t k = 0; k < deg; ++k) {
          const int64_t j = idx[k];
          if (j == i) continue;
          const double x = s * wb[k];
          if (j >= n) {
            ext += x;
            continue;
          }
          double y = nxt[j];
          if (y < 0.0) {  // joins the next support
            W.nx.push_back(j);
            lo = std::min(lo, j);
            hi = std::max(hi, j);
            y = 0.0;
          }
          nxt[j] = y + x;
        }
        work += deg + 1;
      }
      swept = lam > 0.0 && qmin >= lam * (1.0 - kTie);
      const double* dlam = W.dq.data() + (top < 0 ? 0 : top) * P;
      for (int64_t i : W.cur)
        for (int64_t k = 0; swept && k < P; ++k)
          swept = same_rate(W.dq[at(i * P + k)], dlam[k], lam);
      if (swept) {
        for (int64_t i : W.cur) {
          W.v[at(i)] = 0.0;
          if (tr) tr->rate.push_back(W.q[at(i)]);
        }
      } else {
        for (int64_t j : W.nx) W.nxt[at(j)] = -1.0;
        W.nx.clear();
        lam = ext = 0.0;
        top = hi = -1;
        lo = n;
      }
    }
    if (!swept) {
      for (int64_t i : W.cur)
        if (!rate(i)) return false;
      for (int64_t i : W.cur)
        if (W.q[at(i)] > lam) {
          lam = W.q[at(i)];
          top = i;
        }
      if (!(lam > 0.0)) return false;  // a state without exit: the full sweep reports it
      if (!sweep_at_top()) return false;
    }
    const double* dlam = W.dq.data() + top * P;
    if (work > work_cap) return false;
    double rho1 = 0.0;
    std::fill(dr.begin(), dr.end(), 0.0);
    // The next sweep in index order: the supports' edges are then read in memory order. With
    // compile's level order a coalescent's support is one contiguous run of states, collected
    // in order by a scan of it (no sort); else the support is sorted.
    auto take = [&](int64_t j) {  // false: off the support (zero mass) or unusable
      const double y = W.nxt[at(j)];
      const double* dy = W.dnxt.data() + j * p;
      if (!(y > 0.0)) {
        for (int64_t k = 0; k < p; ++k)
          if (dy[k] != 0.0) return false;
        W.nxt[at(j)] = -1.0;
        return true;
      }
      rho1 += y;
      for (int64_t k = 0; k < p; ++k) dr[at(k)] += dy[k];
      return true;
    };
    if (hi - lo < 4 * static_cast<int64_t>(W.nx.size())) {
      W.nx.clear();
      for (int64_t j = lo; j <= hi; ++j) {
        if (W.nxt[at(j)] < 0.0) continue;  // never reached this step
        if (!take(j)) return false;
        if (W.nxt[at(j)] > 0.0) W.nx.push_back(j);
      }
    } else {
      size_t kept = 0;
      for (int64_t j : W.nx) {
        if (!take(j)) return false;
        if (W.nxt[at(j)] > 0.0) W.nx[kept++] = j;
      }
      W.nx.resize(kept);
      std::sort(W.nx.begin(), W.nx.end());
    }
    if (tr) tr->lam.push_back(lam);
    phases.push_back(lam * rho1);
    phases.push_back(lam * ext);
    for (int64_t k = 0; k < p; ++k) dph.push_back(dlam[k] * rho1 + lam * dr[at(k)]);
    for (int64_t k = 0; k < p; ++k) dph.push_back(dlam[k] * ext + lam * dx[at(k)]);
    const double inv = 1.0 / rho1;  // one division per step, not per state
    for (int64_t j : W.nx) {
      const double y = W.nxt[at(j)];
      W.v[at(j)] = y * inv;
      W.nxt[at(j)] = -1.0;
      for (int64_t k = 0; k < p; ++k)
        W.dv[at(j * p + k)] = (W.dnxt[at(j * p + k)] - y * dr[at(k)] * inv) * inv;
    }
    W.cur.swap(W.nx);
  }
  if (tr) {
    tr->start.push_back(static_cast<int64_t>(tr->idx.size()));
    tr->w.swap(W.w);  // a trace is kept for one row only (reduce_to_coxian): W is done
    tr->q.swap(W.q);
  }
  return true;
}

template <bool TAN>
bool reduce_row_any(const GraphView& g, const double* theta, int64_t b, const double* a,
                    const double* da, int64_t work_cap, Work& W, std::vector<double>& phases,
                    double& mass0, std::vector<double>& dph, std::vector<double>& dm0,
                    ReductionTrace* tr) {
  switch (g.p) {
    case 0:
      return reduce_row<0, TAN>(g, theta, b, a, da, work_cap, W, phases, mass0, dph, dm0, tr);
    case 1:
      return reduce_row<1, TAN>(g, theta, b, a, da, work_cap, W, phases, mass0, dph, dm0, tr);
    case 2:
      return reduce_row<2, TAN>(g, theta, b, a, da, work_cap, W, phases, mass0, dph, dm0, tr);
    default:
      return reduce_row<-1, TAN>(g, theta, b, a, da, work_cap, W, phases, mass0, dph, dm0, tr);
  }
}

}  // namespace

bool coxian_smaller(const GraphView& g, int64_t M) {
  // one_hot_rates takes (2M)^2 doubles, hence the cap on M
  return 2 * M < g.indptr[g.n] && M <= kMaxPhases;
}

bool reduce_to_coxian(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                      const double* dalpha, CoxianRows& out, ReductionTrace* trace,
                      bool any_size) {
  const int64_t n = g.n, E = g.indptr[n], p = dalpha ? g.p : 0;
  if (n == 0 || g.n_scc != n || B <= 0) return false;  // a cyclic SCC never empties the support
  const int64_t work_cap = (3 * E + 16 * n) * (1 + p);
  Work W;
  if (dalpha) W.w.resize(static_cast<size_t>(E));  // kept for the vjp (see reduce_row)
  W.q.resize(static_cast<size_t>(n));
  W.v.assign(static_cast<size_t>(n), 0.0);
  W.nxt.assign(static_cast<size_t>(n), -1.0);
  W.dq.assign(static_cast<size_t>(n * g.p), 0.0);
  W.dv.assign(static_cast<size_t>(n * p), 0.0);
  W.dnxt.assign(static_cast<size_t>(n * p), 0.0);
  std::vector<std::vector<double>> phases(static_cast<size_t>(B)), dph(static_cast<size_t>(B)),
      dm0(static_cast<size_t>(B));
  std::vector<double> mass0(static_cast<size_t>(B));
  int64_t M = 0;
  for (int64_t b = 0; b < B; ++b) {
    const size_t bb = static_cast<size_t>(b);
    const double* da = dalpha ? dalpha + b * n * p : nullptr;
    ReductionTrace* tr = B == 1 ? trace : nullptr;
    const bool ok =
        da ? reduce_row_any<true>(g, theta, b, alpha + b * n, da, work_cap, W, phases[bb],
                                  mass0[bb], dph[bb], dm0[bb], tr)
           : reduce_row_any<false>(g, theta, b, alpha + b * n, da, work_cap, W, phases[bb],
                                   mass0[bb], dph[bb], dm0[bb], tr);
    if (!ok) return false;
    M = std::max<int64_t>(M, static_cast<int64_t>(phases[bb].size() / 2));
  }
  if (!any_size && !coxian_smaller(g, M)) return false;
  const int64_t P = 2 * M;
  out.M = M;
  out.theta.assign(static_cast<size_t>(B * P), 0.0);
  out.alpha.assign(static_cast<size_t>(B * M), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<double>& ph = phases[static_cast<size_t>(b)];
    std::copy(ph.begin(), ph.end(), out.theta.begin() + b * P);
    out.alpha[static_cast<size_t>(b * M)] = mass0[static_cast<size_t>(b)];
  }
  if (dalpha) {
    out.dtheta.assign(static_cast<size_t>(B * P * p), 0.0);
    out.dmass0.assign(static_cast<size_t>(B * p), 0.0);
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<double>& d = dph[static_cast<size_t>(b)];
      std::copy(d.begin(), d.end(), out.dtheta.begin() + b * P * p);
      std::copy(dm0[static_cast<size_t>(b)].begin(), dm0[static_cast<size_t>(b)].end(),
                out.dmass0.begin() + b * p);
    }
  }
  // Phase m: edge 2m on to m + 1 (the last phase: a zero-weight edge to absorption), edge 2m + 1
  // absorbed. The weights are the caller's: one row's rates as constants (base), their affine
  // functions (base, coef), or the whole batch through one_hot_rates.
  out.indptr.resize(static_cast<size_t>(M + 1));
  out.indices.resize(static_cast<size_t>(2 * M));
  out.scc_ptr.resize(static_cast<size_t>(M + 1));
  for (int64_t m = 0; m <= M; ++m) {
    out.indptr[static_cast<size_t>(m)] = 2 * m;
    out.scc_ptr[static_cast<size_t>(m)] = m;
  }
  for (int64_t m = 0; m < M; ++m) {
    out.indices[static_cast<size_t>(2 * m)] = static_cast<int32_t>(m + 1);
    out.indices[static_cast<size_t>(2 * m + 1)] = static_cast<int32_t>(M);
  }
  out.view.n = M;
  out.view.indptr = out.indptr.data();
  out.view.indices = out.indices.data();
  out.view.n_scc = M;
  out.view.scc_ptr = out.scc_ptr.data();
  return true;
}

const GraphView& one_hot_rates(CoxianRows& cx) {
  const int64_t P = 2 * cx.M;
  cx.base.assign(static_cast<size_t>(P), 0.0);
  cx.coef.assign(static_cast<size_t>(P * P), 0.0);
  for (int64_t e = 0; e < P; ++e) cx.coef[static_cast<size_t>(e * P + e)] = 1.0;
  cx.view.base = cx.base.data();
  cx.view.coef = cx.coef.data();
  cx.view.p = P;
  return cx.view;
}

namespace {

// The Coxian of `ph` (fwd_m, ext_m interleaved, M phases) started with mass rho0 in phase 0, at
// time delta, by uniformization at Lam = its largest phase rate over the full Poisson window
// (the mass beyond is < 1e-300, so every phase mass is accurate relative to itself): x (M), and
// with `occ` the time spent in each phase during [0, delta], (1/Lam) sum_k P(Pois > k) u_k =
// (1/Lam) sum_k w_k V_k with V_k = u_0 + ... + u_(k-1) (sums of positive terms: no tail to
// subtract). With c (M) (and d (M) when occ is wanted) also the time derivative dGdt of
// G = x . c + occ . d, and with tangents dph (2M, p) of the rates, dG (p) along them (Lam held
// fixed: the series is exact for any Lam >= the rates). False past max_steps terms.
bool coxian_at(const double* ph, int64_t M, double rho0, double delta, int64_t max_steps,
               double* x, double* occ, const double* c, const double* d, const double* dph,
               int64_t p, double* dG, double* dGdt) {
  auto at = [](int64_t i) { return static_cast<size_t>(i); };
  double lam = 0.0;
  for (int64_t m = 0; m < M; ++m) lam = std::max(lam, ph[2 * m] + ph[2 * m + 1]);
  if (!(lam > 0.0)) lam = 1.0;
  const double mu = lam * delta;
  const double K = std::ceil(mu + 40.0 * std::sqrt(mu) + 40.0);
  if (!(K <= static_cast<double>(max_steps))) return false;
  const bool acc = occ != nullptr, tan = dG != nullptr;
  std::vector<double> u(at(M), 0.0), nu(at(M)), ut(at(M * p), 0.0), nut(at(M * p));
  std::vector<double> V(acc ? at(M) : 0, 0.0), Vt(acc && tan ? at(M * p) : 0, 0.0);
  u[0] = rho0;
  std::fill(x, x + M, 0.0);
  if (acc) std::fill(occ, occ + M, 0.0);
  double Gt = 0.0, c0 = 0.0, c1 = 0.0;
  if (tan) std::fill(dG, dG + p, 0.0);
  const double lmu = mu > 0.0 ? std::log(mu) : 0.0, inv = 1.0 / lam;
  for (int64_t k = 0; k <= static_cast<int64_t>(K); ++k) {
    const double kd = static_cast<double>(k);
    const double w = mu > 0.0 ? std::exp(kd * lmu - mu - std::lgamma(kd + 1.0)) : (k == 0);
    double uc = 0.0;
    if (c)
      for (int64_t m = 0; m < M; ++m) uc += u[at(m)] * c[m];
    if (k == 0) c0 = uc;
    if (k == 1) c1 = uc;
    if (w > 0.0) {
      for (int64_t m = 0; m < M; ++m) x[m] += w * u[at(m)];
      if (delta > 0.0) Gt += w * uc * (kd / delta - lam);
      for (int64_t m = 0; acc && m < M; ++m) occ[m] += w * V[at(m)];
      for (int64_t q = 0; tan && q < p; ++q) {
        double s = 0.0;
        for (int64_t m = 0; m < M; ++m) s += ut[at(q * M + m)] * c[m];
        for (int64_t m = 0; acc && m < M; ++m) s += Vt[at(q * M + m)] * d[m] * inv;
        dG[q] += w * s;
      }
    }
    if (k == static_cast<int64_t>(K) || (mu == 0.0 && k >= 1)) break;
    for (int64_t m = 0; acc && m < M; ++m) V[at(m)] += u[at(m)];
    for (int64_t z = 0; acc && tan && z < M * p; ++z) Vt[at(z)] += ut[at(z)];
    // u Q with Q = I + C / lam: C[m, m] = -(fwd_m + ext_m), C[m, m + 1] = fwd_m
    for (int64_t m = 0; m < M; ++m) {
      const double r = ph[2 * m] + ph[2 * m + 1];
      nu[at(m)] = u[at(m)] * (1.0 - r * inv) + (m > 0 ? u[at(m - 1)] * ph[2 * m - 2] * inv : 0.0);
      for (int64_t q = 0; tan && q < p; ++q) {
        const double dr = dph[(2 * m) * p + q] + dph[(2 * m + 1) * p + q];
        double v = ut[at(q * M + m)] * (1.0 - r * inv) - u[at(m)] * dr * inv;
        if (m > 0)
          v += ut[at(q * M + m - 1)] * ph[2 * m - 2] * inv +
               u[at(m - 1)] * dph[(2 * m - 2) * p + q] * inv;
        nut[at(q * M + m)] = v;
      }
    }
    u.swap(nu);
    ut.swap(nut);
  }
  for (int64_t m = 0; acc && m < M; ++m) occ[m] *= inv;
  if (dGdt) {
    *dGdt = delta > 0.0 ? Gt : lam * (c1 - c0);
    for (int64_t m = 0; acc && d && m < M; ++m) *dGdt += x[m] * d[m];  // d/dt int_0^t = x(t)
  }
  return true;
}

}  // namespace

bool coxian_state(const double* rates, int64_t M, double mass0, double u, int64_t max_steps,
                  double* x, double* occ) {
  if (!(u >= 0.0) || !std::isfinite(u) || !(mass0 >= 0.0)) return false;
  return coxian_at(rates, M, mass0, u, max_steps, x, occ, nullptr, nullptr, nullptr, 0, nullptr,
                   nullptr);
}

bool carry_reduced(const GraphView& g, const double* theta, const double* a, double delta,
                   int64_t max_steps, double* y, double* occ) {
  if (!(delta >= 0.0) || !std::isfinite(delta)) return false;
  CoxianRows cx;
  ReductionTrace tr;
  if (!reduce_to_coxian(g, theta, 1, a, nullptr, cx, &tr)) return false;
  const int64_t M = cx.M;
  std::vector<double> x(static_cast<size_t>(M)), o(occ ? static_cast<size_t>(M) : 0);
  if (!coxian_at(cx.theta.data(), M, cx.alpha[0], delta, max_steps, x.data(),
                 occ ? o.data() : nullptr, nullptr, nullptr, nullptr, 0, nullptr, nullptr))
    return false;
  std::fill(y, y + g.n, 0.0);
  if (occ) std::fill(occ, occ + g.n, 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t e = tr.start[m]; e < tr.start[m + 1]; ++e) {
      const size_t i = static_cast<size_t>(tr.idx[static_cast<size_t>(e)]);
      const double nu = tr.nu[static_cast<size_t>(e)];
      y[i] += x[static_cast<size_t>(m)] * nu;
      if (occ) occ[i] += o[static_cast<size_t>(m)] * nu;
    }
  return true;
}

// y = sum_m x_m nu_m and occ = sum_m o_m nu_m with x, o the Coxian's phase masses at delta and
// time in each phase. With cotangents ybar, obar: G = ybar . y + obar . occ = sum_m x_m c_m +
// o_m d_m, c_m = nu_m . ybar, d_m = nu_m . obar, so thbar = dG/dtheta through the Coxian's rates
// (coxian_at's tangents) plus sum_m (x_m dc_m + o_m dd_m) (the tangents of nu_m), and dbar =
// dG/ddelta. In a, both are linear with lambda_m and the supports fixed: y = sum_m pi_m a P_0
// ... P_(m-1) with pi the birth process of rates lambda_m, occ the same with Pi_m = int_0^delta
// pi_m, so abar = sum_m P_0 ... P_(m-1) (pi_m ybar + Pi_m obar), one backward pass over the
// supports.
bool carry_reduced_vjp(const GraphView& g, const double* theta, const double* a, double delta,
                       int64_t max_steps, const double* ybar, const double* obar, double* abar,
                       double* thbar, double* dbar) {
  if (!(delta >= 0.0) || !std::isfinite(delta)) return false;
  const int64_t n = g.n, p = g.p;
  auto at = [](int64_t i) { return static_cast<size_t>(i); };
  std::vector<double> da(at(n * p), 0.0);
  CoxianRows cx;
  ReductionTrace tr;
  if (!reduce_to_coxian(g, theta, 1, a, da.data(), cx, &tr)) return false;
  const int64_t M = cx.M;
  const size_t Mo = obar ? at(M) : 0;
  std::vector<double> c(at(M), 0.0), dc(at(M * p), 0.0), x(at(M)), dG(at(p)), pi(at(M));
  std::vector<double> d(Mo, 0.0), dd(Mo * at(p), 0.0), o(Mo), Pi(Mo);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t e = tr.start[m]; e < tr.start[m + 1]; ++e) {
      const int64_t i = tr.idx[at(e)];
      const double yb = ybar[i], ob = obar ? obar[i] : 0.0;
      c[at(m)] += tr.nu[at(e)] * yb;
      if (obar) d[at(m)] += tr.nu[at(e)] * ob;
      for (int64_t q = 0; q < p; ++q) {
        dc[at(m * p + q)] += tr.dnu[at(e * p + q)] * yb;
        if (obar) dd[at(m * p + q)] += tr.dnu[at(e * p + q)] * ob;
      }
    }
  double dGdt = 0.0;
  if (!coxian_at(cx.theta.data(), M, cx.alpha[0], delta, max_steps, x.data(),
                 obar ? o.data() : nullptr, c.data(), obar ? d.data() : nullptr,
                 cx.dtheta.data(), p, dG.data(), &dGdt))
    return false;
  // pi_m: the pure birth process of rates lambda_m (the last phase's way on left as an exit)
  std::vector<double> birth(at(2 * M), 0.0);
  for (int64_t m = 0; m < M; ++m) birth[at(2 * m + (m + 1 < M ? 0 : 1))] = tr.lam[at(m)];
  if (!coxian_at(birth.data(), M, 1.0, delta, max_steps, pi.data(), obar ? Pi.data() : nullptr,
                 nullptr, nullptr, nullptr, 0, nullptr, nullptr))
    return false;
  for (int64_t q = 0; q < p; ++q) {
    double s = dG[at(q)];
    for (int64_t m = 0; m < M; ++m) s += x[at(m)] * dc[at(m * p + q)];
    for (size_t m = 0; m < Mo; ++m) s += o[m] * dd[m * at(p) + at(q)];
    thbar[q] = s;
  }
  *dbar = dGdt;
  // abar by the backward pass h_m = pi_m ybar + Pi_m obar + P_m h_(m+1) on S_m (h dense in
  // `next`), with the reduction's own weights and per-state rates (a state keeps (lam - q) / lam
  // of its mass only where its rate is lam itself)
  std::vector<double> next(at(n), 0.0), h(tr.nu.size());
  for (int64_t m = M - 1; m >= 0; --m) {
    const double lam = tr.lam[at(m)];
    for (int64_t e = tr.start[m]; e < tr.start[m + 1]; ++e) {
      const int64_t i = tr.idx[at(e)];
      const double r = tr.rate[at(e)];
      double s = pi[at(m)] * ybar[i] + (obar ? Pi[at(m)] * obar[i] : 0.0) +
                 (r == lam ? ((lam - tr.q[at(i)]) / lam) * next[at(i)] : 0.0);
      for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
        const int64_t j = g.indices[ed];
        if (j != i && j < n) s += (tr.w[at(ed)] / r) * next[at(j)];
      }
      h[at(e)] = s;
    }
    if (m + 1 < M)
      for (int64_t e = tr.start[m + 1]; e < tr.start[m + 2]; ++e) next[at(tr.idx[at(e)])] = 0.0;
    for (int64_t e = tr.start[m]; e < tr.start[m + 1]; ++e) next[at(tr.idx[at(e)])] = h[at(e)];
  }
  std::copy(next.begin(), next.end(), abar);
  return true;
}

}  // namespace phasic
