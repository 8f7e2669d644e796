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
#include <vector>

#include "kernels.hpp"

namespace phasic {
namespace {

constexpr double kTie = 1e-14;
constexpr int64_t kMaxPhases = 256;

// Scratch of one reduction, reused across theta rows.
struct Work {
  std::vector<double> w, q, v, nxt;       // edge weights (E), rates (n), nu_m and nu_m P_m (n)
  std::vector<double> dq, dv, dnxt;        // tangents (n, p) of q, nu_m, nu_m P_m
  std::vector<int64_t> mark, cur, nx;      // step a state joined the next support; supports
};

// One theta row: the phases' rates (fwd_m, ext_m interleaved: on to phase m + 1, absorbed) per
// unit of mass in phase m, and with `da` (alpha's tangents, (n, p)) their tangents dph (2M, p)
// and that of the start mass (dm0, p).  Tangents hold lambda_m = q of the fastest state as a
// function of theta: exact while the states tied with it have the same rate function (checked;
// a mere numerical tie would break the reduction under a perturbation) and no support state has
// zero mass but a nonzero tangent (a weight at 0 that theta moves).  False when the support
// does not empty within the work cap, or a weight, rate or alpha is unusable (the full sweep
// then reports it).
bool reduce_row(const GraphView& g, const double* theta, int64_t b, const double* a,
                const double* da, int64_t work_cap, Work& W, std::vector<double>& phases,
                double& mass0, std::vector<double>& dph, std::vector<double>& dm0) {
  const int64_t n = g.n, p = da ? g.p : 0;
  auto at = [](int64_t i) { return static_cast<size_t>(i); };
  for (int64_t i = 0; i < n; ++i) {
    double qi = 0.0;
    double* dqi = W.dq.data() + i * p;
    std::fill(dqi, dqi + p, 0.0);
    for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
      const double x = detail::edge_weight_scalar(g, theta, b, ed);
      if (!(x >= 0.0) || !std::isfinite(x)) return false;
      W.w[at(ed)] = x;
      if (g.indices[ed] == i) continue;
      qi += x;
      for (int64_t k = 0; k < p; ++k) dqi[k] += g.coef[ed * g.p + k];
    }
    if (!std::isfinite(qi)) return false;
    W.q[at(i)] = qi;
  }
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
  std::fill(W.mark.begin(), W.mark.end(), -1);
  int64_t work = 0;
  for (int64_t m = 0; !W.cur.empty(); ++m) {
    double lam = 0.0;
    int64_t top = -1;
    for (int64_t i : W.cur)
      if (W.q[at(i)] > lam) {
        lam = W.q[at(i)];
        top = i;
      }
    if (!(lam > 0.0)) return false;  // a state without exit: the full sweep reports it
    const double cut = lam * (1.0 - kTie);
    const double* dlam = W.dq.data() + top * p;
    double ext = 0.0;
    std::fill(dx.begin(), dx.end(), 0.0);
    W.nx.clear();
    // nxt[j] += x, dnxt[j] += dxv
    auto push = [&](int64_t j, double x, const double* dxv) {
      if (W.mark[at(j)] != m + 1) {
        W.mark[at(j)] = m + 1;
        W.nx.push_back(j);
        W.nxt[at(j)] = 0.0;
        std::fill_n(W.dnxt.data() + j * p, p, 0.0);
      }
      W.nxt[at(j)] += x;
      for (int64_t k = 0; k < p; ++k) W.dnxt[at(j * p + k)] += dxv[k];
    };
    for (int64_t i : W.cur) {
      const double vi = W.v[at(i)], qi = W.q[at(i)];
      const double* dvi = W.dv.data() + i * p;
      const double* dqi = W.dq.data() + i * p;
      W.v[at(i)] = 0.0;
      const bool tied = qi >= cut;
      const double r = tied ? qi : lam;  // this state's uniformization rate
      const double s = vi / r;
      const double* dr_ = tied ? dqi : dlam;
      for (int64_t k = 0; k < p; ++k) {
        if (tied && std::fabs(dqi[k] - dlam[k]) > 1e-12 * (std::fabs(dlam[k]) + lam)) return false;
        ds[at(k)] = dvi[k] / r - vi * dr_[k] / (r * r);
      }
      if (!tied) {
        for (int64_t k = 0; k < p; ++k)
          dc[at(k)] = dvi[k] * ((lam - qi) / lam) - vi * (dqi[k] * lam - qi * dlam[k]) / (lam * lam);
        push(i, vi * ((lam - qi) / lam), dc.data());
      }
      for (int64_t ed = g.indptr[i]; ed < g.indptr[i + 1]; ++ed) {
        const int64_t j = g.indices[ed];
        if (j == i) continue;
        const double x = s * W.w[at(ed)];
        for (int64_t k = 0; k < p; ++k) dc[at(k)] = ds[at(k)] * W.w[at(ed)] + s * g.coef[ed * g.p + k];
        if (j >= n) {
          ext += x;
          for (int64_t k = 0; k < p; ++k) dx[at(k)] += dc[at(k)];
        } else {
          push(j, x, dc.data());
        }
      }
      work += (g.indptr[i + 1] - g.indptr[i] + 1) * (1 + p);
    }
    if (work > work_cap) return false;
    double rho1 = 0.0;
    std::fill(dr.begin(), dr.end(), 0.0);
    size_t kept = 0;
    for (int64_t j : W.nx) {
      const double y = W.nxt[at(j)];
      const double* dy = W.dnxt.data() + j * p;
      if (!(y > 0.0)) {
        for (int64_t k = 0; k < p; ++k)
          if (dy[k] != 0.0) return false;
        continue;
      }
      rho1 += y;
      for (int64_t k = 0; k < p; ++k) dr[at(k)] += dy[k];
      W.nx[kept++] = j;
    }
    W.nx.resize(kept);
    phases.push_back(lam * rho1);
    phases.push_back(lam * ext);
    for (int64_t k = 0; k < p; ++k) dph.push_back(dlam[k] * rho1 + lam * dr[at(k)]);
    for (int64_t k = 0; k < p; ++k) dph.push_back(dlam[k] * ext + lam * dx[at(k)]);
    for (int64_t j : W.nx) {
      const double y = W.nxt[at(j)];
      W.v[at(j)] = y / rho1;
      for (int64_t k = 0; k < p; ++k)
        W.dv[at(j * p + k)] = W.dnxt[at(j * p + k)] / rho1 - y * dr[at(k)] / (rho1 * rho1);
    }
    W.cur.swap(W.nx);
  }
  return true;
}

}  // namespace

bool reduce_to_coxian(const GraphView& g, const double* theta, int64_t B, const double* alpha,
                      const double* dalpha, CoxianRows& out) {
  const int64_t n = g.n, E = g.indptr[n], p = dalpha ? g.p : 0;
  if (n == 0 || g.n_scc != n || B <= 0) return false;  // a cyclic SCC never empties the support
  const int64_t work_cap = (3 * E + 16 * n) * (1 + p);
  Work W;
  W.w.resize(static_cast<size_t>(E));
  W.q.resize(static_cast<size_t>(n));
  W.v.assign(static_cast<size_t>(n), 0.0);
  W.nxt.assign(static_cast<size_t>(n), 0.0);
  W.dq.assign(static_cast<size_t>(n * p), 0.0);
  W.dv.assign(static_cast<size_t>(n * p), 0.0);
  W.dnxt.assign(static_cast<size_t>(n * p), 0.0);
  W.mark.resize(static_cast<size_t>(n));
  std::vector<std::vector<double>> phases(static_cast<size_t>(B)), dph(static_cast<size_t>(B)),
      dm0(static_cast<size_t>(B));
  std::vector<double> mass0(static_cast<size_t>(B));
  int64_t M = 0;
  for (int64_t b = 0; b < B; ++b) {
    const size_t bb = static_cast<size_t>(b);
    if (!reduce_row(g, theta, b, alpha + b * n, dalpha ? dalpha + b * n * p : nullptr, work_cap,
                    W, phases[bb], mass0[bb], dph[bb], dm0[bb]))
      return false;
    M = std::max<int64_t>(M, static_cast<int64_t>(phases[bb].size() / 2));
  }
  // Worth it only when the Coxian is smaller than the graph it stands for (its one-hot
  // coefficients take (2M)^2 doubles, hence the cap on M).
  if (2 * M >= E || M > kMaxPhases) return false;
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
  // absorbed; edge e's weight is theta'[e] (one-hot coefficients).
  out.indptr.resize(static_cast<size_t>(M + 1));
  out.indices.resize(static_cast<size_t>(2 * M));
  out.base.assign(static_cast<size_t>(2 * M), 0.0);
  out.coef.assign(static_cast<size_t>(2 * M * P), 0.0);
  out.scc_ptr.resize(static_cast<size_t>(M + 1));
  for (int64_t m = 0; m <= M; ++m) {
    out.indptr[static_cast<size_t>(m)] = 2 * m;
    out.scc_ptr[static_cast<size_t>(m)] = m;
  }
  for (int64_t m = 0; m < M; ++m) {
    out.indices[static_cast<size_t>(2 * m)] = static_cast<int32_t>(m + 1);
    out.indices[static_cast<size_t>(2 * m + 1)] = static_cast<int32_t>(M);
  }
  for (int64_t e = 0; e < 2 * M; ++e) out.coef[static_cast<size_t>(e * P + e)] = 1.0;
  out.view.n = M;
  out.view.indptr = out.indptr.data();
  out.view.indices = out.indices.data();
  out.view.base = out.base.data();
  out.view.coef = out.coef.data();
  out.view.p = P;
  out.view.n_scc = M;
  out.view.scc_ptr = out.scc_ptr.data();
  return true;
}

}  // namespace phasic
