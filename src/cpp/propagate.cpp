// exp(M Δ) u for the coupled stacks of epochs (phasic/_epoch_chain.py), and its vector-Jacobian
// product, by uniformization: one row (theta, u, Δ per column) at a time.
//
// A stack u has shape (n, k, R): per transient state, k orders and R columns; M acts as
//   (M u)_j = -A u_j + c r ∘ u_{j-1}          (transpose: -Aᵀ u_j + c r ∘ u_{j+1}),
// with c = 1 or theta[coupling], r (n, R). With λ the largest out-weight of a state,
//   exp(M Δ_col) u = Σ_m Pois(m; λ Δ_col) (I + M/λ)^m u,
// each column stopping when its tail bound (tail_bound in phasic/_epoch_chain.py: ratio
// q = g λΔ / (m + 1), g = 1 + |c| max|r| / λ when k > 1) is below floor[col].
//
// The vjp: ū = Σ π_m (I + Mᵀ/λ)^m ȳ and Δ̄_col = ȳ · M y per column; θ̄ either from the stored
// iterates paired with the adjoint series run backward (vjp_stored), or, past store_limit,
// from p forward tangents carried beside x_m as in phasic/jax/_epochs.py (vjp_tangents).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.hpp"

namespace phasic {
namespace {


// The off-diagonal of P = I - A/λ as a gather list per state: out-edges (y_i gathers x_t) for
// P, in-edges (y_t gathers x_i) for Pᵀ; absorption and self-loops dropped (they only shift the
// diagonal). Built once per row, so a step is one pass of gathers either way.
struct Adjacency {
  std::vector<int64_t> ptr;
  std::vector<int32_t> idx;
  std::vector<double> f;
};

struct Row {
  std::vector<double> w;  // E: edge weights at this row's theta
  std::vector<double> a;  // n: diagonal of P, 1 - (out-weight without self-loops) / λ
  double lam = 0.0;       // uniformization rate: the largest total out-weight
  Adjacency out, in;
};

bool row_weights(const GraphView& g, const double* th, Row& row) {
  const int64_t n = g.n, E = g.indptr[n];
  row.w.resize(static_cast<size_t>(E));
  std::vector<double> d(static_cast<size_t>(n), 0.0);
  double lam = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double total = 0.0;
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const double w = detail::edge_weight_scalar(g, th, 0, e);
      if (!(w >= 0.0)) return false;
      row.w[e] = w;
      total += w;
      if (g.indices[e] != i) d[i] += w;
    }
    lam = std::max(lam, total);
  }
  row.lam = std::max(lam, 1e-300);
  const double inv = 1.0 / row.lam;
  row.a.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) row.a[i] = 1.0 - d[i] * inv;
  // out-edges in CSR order; in-edges by counting sort on the target
  Adjacency& o = row.out;
  Adjacency& t = row.in;
  o.ptr.assign(static_cast<size_t>(n + 1), 0);
  t.ptr.assign(static_cast<size_t>(n + 1), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t j = g.indices[e];
      if (j >= n || j == i) continue;
      ++o.ptr[i + 1];
      ++t.ptr[j + 1];
    }
  for (int64_t i = 0; i < n; ++i) {
    o.ptr[i + 1] += o.ptr[i];
    t.ptr[i + 1] += t.ptr[i];
  }
  o.idx.resize(static_cast<size_t>(o.ptr[n]));
  o.f.resize(o.idx.size());
  t.idx.resize(o.idx.size());
  t.f.resize(o.idx.size());
  std::vector<int64_t> fill(t.ptr.begin(), t.ptr.end() - 1);
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t j = g.indices[e];
      if (j >= n || j == i) continue;
      const double f = row.w[e] * inv;
      o.idx[k] = static_cast<int32_t>(j);
      o.f[k++] = f;
      t.idx[fill[j]] = static_cast<int32_t>(i);
      t.f[fill[j]++] = f;
    }
  return true;
}

// y = (I + M/λ) x (or the transpose) for x of shape (n, nb, k, R): nb stacks side by side.
PHASIC_MULTIVERSION
void step(const GraphView& g, const Row& row, const double* r, double c, int64_t nb, int64_t k,
          int64_t R, bool transpose, const double* __restrict x, double* __restrict y) {
  const int64_t n = g.n, C = nb * k * R;
  const Adjacency& adj = transpose ? row.in : row.out;
  for (int64_t i = 0; i < n; ++i) {
    double* yi = y + i * C;
    const double a = row.a[i];
    const double* xi = x + i * C;
    for (int64_t z = 0; z < C; ++z) yi[z] = a * xi[z];
    for (int64_t q = adj.ptr[i]; q < adj.ptr[i + 1]; ++q) {
      const double f = adj.f[q];
      const double* xj = x + static_cast<int64_t>(adj.idx[q]) * C;
      for (int64_t z = 0; z < C; ++z) yi[z] += f * xj[z];
    }
  }
  if (k < 2 || c == 0.0) return;
  const double ci = c / row.lam;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t j = 0; j < k; ++j) {
        const int64_t from = transpose ? j + 1 : j - 1;
        if (from < 0 || from >= k) continue;
        const double* xs = x + ((i * nb + b) * k + from) * R;
        double* yd = y + ((i * nb + b) * k + j) * R;
        for (int64_t col = 0; col < R; ++col) yd[col] += ci * r[i * R + col] * xs[col];
      }
}

double tail_bound(int64_t m, double pi, double norm, double lt, double gr) {
  const double q = gr * lt / (static_cast<double>(m) + 1.0);
  if (!(q < 1.0)) return std::numeric_limits<double>::infinity();
  return pi * norm * q / std::max(1.0 - q, 1e-300);
}

void column_norms(const double* x, int64_t n, int64_t k, int64_t R, double* out) {
  std::fill(out, out + R, 0.0);
  for (int64_t i = 0; i < n * k; ++i)
    for (int64_t col = 0; col < R; ++col) out[col] = std::max(out[col], std::fabs(x[i * R + col]));
}

// y[z, col] (+)= w[col] * x[z, col] over `rows` rows of R columns.
PHASIC_MULTIVERSION
void axpy_columns(const double* w, const double* x, int64_t rows, int64_t R, double* y,
                  bool assign) {
  for (int64_t z = 0; z < rows; ++z) {
    const double* xz = x + z * R;
    double* yz = y + z * R;
    if (assign)
      for (int64_t col = 0; col < R; ++col) yz[col] = w[col] * xz[col];
    else
      for (int64_t col = 0; col < R; ++col) yz[col] += w[col] * xz[col];
  }
}

// out (n, p, k, R) = (A_q x) (or A_qᵀ x) for every q: the θ-derivative of -M without coupling.
PHASIC_MULTIVERSION
void coef_apply(const GraphView& g, const double* __restrict x, int64_t k, int64_t R,
                bool transpose, double* __restrict out) {
  const int64_t n = g.n, p = g.p, kR = k * R;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(n * p * kR));
  for (int64_t i = 0; i < n; ++i) {
    const double* xi = x + i * kR;
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t t = g.indices[e];
      if (t == i) continue;
      const double* cf = g.coef + e * p;
      const double* xt = t < n ? x + t * kR : nullptr;
      for (int64_t q = 0; q < p; ++q) {
        const double cq = cf[q];
        if (cq == 0.0) continue;
        double* ai = out + (i * p + q) * kR;
        if (!transpose) {  // (A_q x)_i = Σ_e c_eq (x_i - x_t), x_t = 0 at absorption
          if (xt)
            for (int64_t z = 0; z < kR; ++z) ai[z] += cq * (xi[z] - xt[z]);
          else
            for (int64_t z = 0; z < kR; ++z) ai[z] += cq * xi[z];
        } else {  // (A_qᵀ y)_i += c_eq y_i, (A_qᵀ y)_t -= c_eq y_i
          for (int64_t z = 0; z < kR; ++z) ai[z] += cq * xi[z];
          if (xt) {
            double* at = out + (t * p + q) * kR;
            for (int64_t z = 0; z < kR; ++z) at[z] -= cq * xi[z];
          }
        }
      }
    }
  }
}

double growth(const Row& row, const double* r, int64_t n, int64_t k, int64_t R, double c) {
  if (k < 2) return 1.0;
  double rmax = 0.0;
  for (int64_t z = 0; z < n * R; ++z) rmax = std::max(rmax, std::fabs(r[z]));
  return 1.0 + std::fabs(c) * rmax / row.lam;
}

}  // namespace

Status propagate(const GraphView& g, const double* theta, const double* r, int64_t k, int64_t R,
                 int64_t coupling, bool transpose, const double* u, const double* delta,
                 const double* floor, int64_t max_steps, double* y, double* steps,
                 bool reduced) {
  const int64_t n = g.n, S = n * k * R;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // A state distribution carried forward on a graph that reduces to a Coxian (reduce.cpp)
  if (reduced && k == 1 && R == 1 && transpose &&
      carry_reduced(g, theta, u, delta[0], max_steps, y)) {
    *steps = 0;
    return Status{};
  }
  Row row;
  bool ok = row_weights(g, theta, row);
  for (int64_t col = 0; ok && col < R; ++col)
    ok = delta[col] >= 0.0 && std::isfinite(delta[col]) && std::isfinite(floor[col]);
  for (int64_t z = 0; ok && z < S; ++z) ok = std::isfinite(u[z]);
  if (!ok) {
    std::fill(y, y + S, nan);
    *steps = 0;
    return Status{};
  }
  const double c = coupling >= 0 ? theta[coupling] : 1.0;
  const double gr = growth(row, r, n, k, R, c);
  std::vector<double> lt(R), logpi(R), pi(R), norm(R), x(u, u + S), nx(S);
  for (int64_t col = 0; col < R; ++col) {
    lt[col] = row.lam * delta[col];
    logpi[col] = -lt[col];
    pi[col] = std::exp(-lt[col]);
  }
  axpy_columns(pi.data(), x.data(), n * k, R, y, /*assign=*/true);
  const double lt_max = *std::max_element(lt.begin(), lt.end());
  auto done = [&](int64_t m) {
    // the tail bound is infinite until m + 1 > g λΔ: no need to measure x before
    if (gr * lt_max >= static_cast<double>(m) + 1.0) return false;
    column_norms(x.data(), n, k, R, norm.data());
    for (int64_t col = 0; col < R; ++col)
      if (!(tail_bound(m, pi[col], norm[col], lt[col], gr) <= floor[col])) return false;
    return true;
  };
  int64_t m = 0;
  while (!done(m)) {
    if (m >= max_steps) {
      std::fill(y, y + S, nan);
      *steps = static_cast<double>(m);
      return Status{};
    }
    step(g, row, r, c, 1, k, R, transpose, x.data(), nx.data());
    x.swap(nx);
    ++m;
    for (int64_t col = 0; col < R; ++col) {
      logpi[col] += std::log(lt[col]) - std::log(static_cast<double>(m));
      pi[col] = std::exp(logpi[col]);
    }
    axpy_columns(pi.data(), x.data(), n * k, R, y, /*assign=*/false);
  }
  *steps = static_cast<double>(m);
  return Status{};
}

namespace {

// θ̄ and ū by forward tangents carried beside x_m (memory O(p S), about 4 passes per step).
void vjp_tangents(const GraphView& g, const Row& row, const double* r, int64_t k, int64_t R,
                  int64_t coupling, double c, bool transpose, const double* u, const double* pis,
                  int64_t steps, const double* ybar, double* ubar, double* thbar) {
  const int64_t n = g.n, p = g.p, S = n * k * R, kR = k * R;
  std::vector<double> x(u, u + S), nx(S), yt(ybar, ybar + S), nyt(S);
  std::vector<double> tau(static_cast<size_t>(S * p), 0.0), ntau(tau.size()), aq(tau.size());
  axpy_columns(pis, ybar, n * k, R, ubar, /*assign=*/true);
  const double inv = 1.0 / row.lam;
  for (int64_t m = 0; m < steps; ++m) {
    // aq[i, q] = -(∂M/∂θ_q) x_m, laid out (n, p, k, R) like the tangents
    coef_apply(g, x.data(), k, R, transpose, aq.data());
    if (coupling >= 0 && k > 1)
      for (int64_t i = 0; i < n; ++i) {
        const double* xi = x.data() + i * kR;
        double* ai = aq.data() + (i * p + coupling) * kR;
        for (int64_t j = 0; j < k; ++j) {
          const int64_t from = transpose ? j + 1 : j - 1;
          if (from < 0 || from >= k) continue;
          for (int64_t col = 0; col < R; ++col)
            ai[j * R + col] -= r[i * R + col] * xi[from * R + col];
        }
      }
    step(g, row, r, c, p, k, R, transpose, tau.data(), ntau.data());
    for (size_t z = 0; z < tau.size(); ++z) tau[z] = ntau[z] - aq[z] * inv;
    step(g, row, r, c, 1, k, R, transpose, x.data(), nx.data());
    x.swap(nx);
    step(g, row, r, c, 1, k, R, !transpose, yt.data(), nyt.data());
    yt.swap(nyt);
    const double* pi = pis + (m + 1) * R;
    axpy_columns(pi, yt.data(), n * k, R, ubar, /*assign=*/false);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = 0; q < p; ++q) {
        const double* tq = tau.data() + (i * p + q) * kR;
        const double* yb = ybar + i * kR;
        double s = 0.0;
        for (int64_t j = 0; j < k; ++j)
          for (int64_t col = 0; col < R; ++col) s += pi[col] * yb[j * R + col] * tq[j * R + col];
        thbar[q] += s;
      }
  }
}

// <G, (∂F/∂θ_q) X> added to thbar[q] for every q, F = I + M/λ (or its transpose): the edges'
// θ-coefficients paired with G and X in one pass, plus the coupling parameter's term.
PHASIC_MULTIVERSION
void pair_into(const GraphView& g, const Row& row, const double* r, int64_t k, int64_t R,
               int64_t coupling, bool transpose, const double* __restrict G,
               const double* __restrict X, double* thbar) {
  const int64_t n = g.n, p = g.p, kR = k * R;
  const double inv = 1.0 / row.lam;
  // forward: <G, A_q X> = Σ_e c_eq G_i·(X_i - X_t); transpose: Σ_e c_eq (G_i - G_t)·X_i, with
  // X_t (G_t) = 0 at absorption. Both are Σ_e c_eq (a_i·b_i - a_i·b_t) for (a, b) = (G, X) or
  // (X, G): the diagonal dot once per state, the off-diagonal one per edge.
  const double* a = transpose ? X : G;
  const double* b = transpose ? G : X;
  for (int64_t i = 0; i < n; ++i) {
    const double* ai = a + i * kR;
    const double* bi = b + i * kR;
    double own = 0.0;
    for (int64_t z = 0; z < kR; ++z) own += ai[z] * bi[z];
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t t = g.indices[e];
      if (t == i) continue;
      double s = own;
      if (t < n) {
        const double* bt = b + t * kR;
        for (int64_t z = 0; z < kR; ++z) s -= ai[z] * bt[z];
      }
      const double* cf = g.coef + e * p;
      for (int64_t q = 0; q < p; ++q) thbar[q] -= cf[q] * s * inv;
    }
    if (coupling >= 0 && k > 1) {
      const double* gi = G + i * kR;
      const double* xi = X + i * kR;
      double s = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t from = transpose ? j + 1 : j - 1;
        if (from < 0 || from >= k) continue;
        for (int64_t col = 0; col < R; ++col)
          s += gi[j * R + col] * r[i * R + col] * xi[from * R + col];
      }
      thbar[coupling] += s * inv;
    }
  }
}

// θ̄ and ū from the stored iterates X_m = F^m u: G_m = π_{m+1} ȳ + Fᵀ G_{m+1} downward,
// θ̄_q = Σ_m <G_m, ∂F/∂θ_q X_m>, ū = π_0 ȳ + Fᵀ G_0 (memory O(steps S), 2 passes per step).
void vjp_stored(const GraphView& g, const Row& row, const double* r, int64_t k, int64_t R,
                int64_t coupling, double c, bool transpose, const double* u, const double* pis,
                int64_t steps, const double* ybar, double* ubar, double* thbar) {
  const int64_t n = g.n, S = n * k * R;
  std::vector<double> X(static_cast<size_t>(std::max<int64_t>(steps, 1) * S));
  std::copy(u, u + S, X.begin());
  for (int64_t m = 1; m < steps; ++m)
    step(g, row, r, c, 1, k, R, transpose, X.data() + (m - 1) * S, X.data() + m * S);
  std::vector<double> G(S, 0.0), ng(S);
  for (int64_t m = steps - 1; m >= 0; --m) {
    step(g, row, r, c, 1, k, R, !transpose, G.data(), ng.data());
    axpy_columns(pis + (m + 1) * R, ybar, n * k, R, ng.data(), /*assign=*/false);
    G.swap(ng);
    pair_into(g, row, r, k, R, coupling, transpose, G.data(), X.data() + m * S, thbar);
  }
  step(g, row, r, c, 1, k, R, !transpose, G.data(), ubar);
  axpy_columns(pis, ybar, n * k, R, ubar, /*assign=*/false);
}

}  // namespace

Status propagate_vjp(const GraphView& g, const double* theta, const double* r, int64_t k,
                     int64_t R, int64_t coupling, bool transpose, const double* u,
                     const double* delta, int64_t steps, const double* y, const double* ybar,
                     double* ubar, double* thbar, double* dbar, int64_t store_limit,
                     bool reduced) {
  const int64_t n = g.n, p = g.p, S = n * k * R;
  std::fill(ubar, ubar + S, 0.0);
  std::fill(thbar, thbar + p, 0.0);
  std::fill(dbar, dbar + R, 0.0);
  // steps > 0: the forward pass took the series (the reduction had failed), so no retry
  if (reduced && steps == 0 && k == 1 && R == 1 && transpose &&
      carry_reduced_vjp(g, theta, u, delta[0], kDefaultMaxSteps, ybar, nullptr, ubar, thbar,
                        dbar))
    return Status{};
  Row row;
  if (!row_weights(g, theta, row)) return Status{};
  const double c = coupling >= 0 ? theta[coupling] : 1.0;
  // π_m = Pois(m; λΔ) per column, m = 0..steps: the weights of both vjp paths
  std::vector<double> pis(static_cast<size_t>((steps + 1) * R));
  for (int64_t col = 0; col < R; ++col) {
    const double lt = row.lam * delta[col];
    double lp = -lt;
    pis[col] = std::exp(lp);
    for (int64_t m = 1; m <= steps; ++m) {
      lp += std::log(lt) - std::log(static_cast<double>(m));
      pis[m * R + col] = std::exp(lp);
    }
  }
  if (steps * S <= store_limit) {
    vjp_stored(g, row, r, k, R, coupling, c, transpose, u, pis.data(), steps, ybar, ubar, thbar);
  } else {
    vjp_tangents(g, row, r, k, R, coupling, c, transpose, u, pis.data(), steps, ybar, ubar,
                 thbar);
  }
  // Δ̄_col = ȳ · M y = λ ȳ · ((I + M/λ) y - y)
  std::vector<double> ny(S);
  step(g, row, r, c, 1, k, R, transpose, y, ny.data());
  for (int64_t z = 0; z < n * k; ++z)
    for (int64_t col = 0; col < R; ++col)
      dbar[col] += ybar[z * R + col] * row.lam * (ny[z * R + col] - y[z * R + col]);
  return Status{};
}

}  // namespace phasic
