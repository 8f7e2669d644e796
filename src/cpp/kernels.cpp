#include "kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace phasic {
namespace {

// theta (B, p) -> (p, B) so that weights for all theta rows of one edge are a contiguous loop.
std::vector<double> transpose_theta(const double* theta, int64_t B, int64_t p) {
  std::vector<double> t(static_cast<size_t>(p * B));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t q = 0; q < p; ++q) t[q * B + b] = theta[b * p + q];
  return t;
}

// w[b] = base[e] + coef[e, :] . theta[b, :], for b in [0, B). Returns false on a negative/NaN weight.
inline bool edge_weights(const GraphView& g, const double* thT, int64_t B, int64_t e, double* w) {
  const double w0 = g.base[e];
  for (int64_t b = 0; b < B; ++b) w[b] = w0;
  const double* c = g.coef + e * g.p;
  for (int64_t q = 0; q < g.p; ++q) {
    const double cq = c[q];
    if (cq == 0.0) continue;
    const double* t = thT + q * B;
    for (int64_t b = 0; b < B; ++b) w[b] += cq * t[b];
  }
  bool ok = true;
  for (int64_t b = 0; b < B; ++b) ok &= (w[b] >= 0.0);  // false for NaN too
  return ok;
}

inline Status bad_weight(const double* w, int64_t B, int64_t e) {
  for (int64_t b = 0; b < B; ++b)
    if (!(w[b] >= 0.0)) return Status{kBadWeight, e, b};
  return Status{kBadWeight, e, 0};
}

inline double edge_weight_scalar(const GraphView& g, const double* theta, int64_t b, int64_t e) {
  double w = g.base[e];
  const double* c = g.coef + e * g.p;
  const double* t = theta + b * g.p;
  for (int64_t q = 0; q < g.p; ++q) w += c[q] * t[q];
  return w;
}

// In-place LU with partial pivoting of the m x m row-major matrix M; false when singular.
bool lu_factor(double* M, int64_t m, int64_t* piv) {
  for (int64_t c = 0; c < m; ++c) {
    int64_t best = c;
    double bv = std::fabs(M[c * m + c]);
    for (int64_t r = c + 1; r < m; ++r) {
      double v = std::fabs(M[r * m + c]);
      if (v > bv) { bv = v; best = r; }
    }
    piv[c] = best;
    if (!(bv > 0.0)) return false;
    if (best != c)
      for (int64_t k = 0; k < m; ++k) std::swap(M[c * m + k], M[best * m + k]);
    const double inv = 1.0 / M[c * m + c];
    for (int64_t r = c + 1; r < m; ++r) {
      const double f = (M[r * m + c] *= inv);
      if (f == 0.0) continue;
      for (int64_t k = c + 1; k < m; ++k) M[r * m + k] -= f * M[c * m + k];
    }
  }
  return true;
}

// Solve M y = rhs (or M^T y = rhs) for K columns; rhs is (m, K) row-major and overwritten by y.
void lu_solve(const double* M, int64_t m, const int64_t* piv, double* y, int64_t K, bool transpose) {
  if (!transpose) {
    for (int64_t c = 0; c < m; ++c)
      if (piv[c] != c)
        for (int64_t k = 0; k < K; ++k) std::swap(y[c * K + k], y[piv[c] * K + k]);
    for (int64_t r = 0; r < m; ++r)  // L (unit diagonal)
      for (int64_t c = 0; c < r; ++c) {
        const double f = M[r * m + c];
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
    for (int64_t r = m - 1; r >= 0; --r) {  // U
      for (int64_t c = r + 1; c < m; ++c) {
        const double f = M[r * m + c];
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
      const double inv = 1.0 / M[r * m + r];
      for (int64_t k = 0; k < K; ++k) y[r * K + k] *= inv;
    }
  } else {
    // (P^T L U)^T y = rhs  ->  U^T z = rhs, L^T w = z, y = P^T w
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = 0; c < r; ++c) {
        const double f = M[c * m + r];
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
      const double inv = 1.0 / M[r * m + r];
      for (int64_t k = 0; k < K; ++k) y[r * K + k] *= inv;
    }
    for (int64_t r = m - 1; r >= 0; --r)
      for (int64_t c = r + 1; c < m; ++c) {
        const double f = M[c * m + r];
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
    for (int64_t c = m - 1; c >= 0; --c)
      if (piv[c] != c)
        for (int64_t k = 0; k < K; ++k) std::swap(y[c * K + k], y[piv[c] * K + k]);
  }
}

// A cyclic SCC [lo, hi) for one theta row b: its dense block and the edges leaving it.
Status solve_block(const GraphView& g, const double* theta, int64_t B, int64_t b, int64_t lo,
                   int64_t hi, double* x, int64_t K, bool transpose, std::vector<double>& M,
                   std::vector<int64_t>& piv, std::vector<double>& y) {
  const int64_t m = hi - lo;
  M.assign(static_cast<size_t>(m * m), 0.0);
  piv.resize(static_cast<size_t>(m));
  y.resize(static_cast<size_t>(m * K));
  const int64_t BK = B * K;
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t ii = i - lo;
    double* yi = y.data() + ii * K;
    const double* xi = x + i * BK + b * K;
    for (int64_t k = 0; k < K; ++k) yi[k] = xi[k];
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const double w = edge_weight_scalar(g, theta, b, e);
      if (!(w >= 0.0)) return Status{kBadWeight, e, b};
      const int64_t j = g.indices[e];
      M[ii * m + ii] += w;
      if (j >= lo && j < hi) {
        M[ii * m + (j - lo)] -= w;
      } else if (j < g.n && !transpose) {
        const double* xj = x + j * BK + b * K;
        for (int64_t k = 0; k < K; ++k) yi[k] += w * xj[k];
      }
    }
  }
  // Relative pivot test: a block whose exit rates vanish is singular up to rounding.
  double scale = 0.0;
  for (int64_t ii = 0; ii < m; ++ii) scale = std::max(scale, M[ii * m + ii]);
  if (!lu_factor(M.data(), m, piv.data())) return Status{kSingular, lo, b};
  for (int64_t ii = 0; ii < m; ++ii)
    if (std::fabs(M[ii * m + ii]) <= 1e-13 * scale) return Status{kSingular, lo + ii, b};
  lu_solve(M.data(), m, piv.data(), y.data(), K, transpose);
  for (int64_t i = lo; i < hi; ++i) {
    const double* yi = y.data() + (i - lo) * K;
    double* xi = x + i * BK + b * K;
    for (int64_t k = 0; k < K; ++k) xi[k] = yi[k];
    if (transpose) {  // push the solved values along edges that leave the block
      for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
        const int64_t j = g.indices[e];
        if (j >= hi && j < g.n) {
          const double w = edge_weight_scalar(g, theta, b, e);
          double* xj = x + j * BK + b * K;
          for (int64_t k = 0; k < K; ++k) xj[k] += w * yi[k];
        }
      }
    }
  }
  return Status{};
}

}  // namespace

Status solve(const GraphView& g, const double* theta, int64_t B, const double* r, int64_t K,
             double* x, bool transpose) {
  const int64_t n = g.n, BK = B * K;
  if (x != r) std::memcpy(x, r, sizeof(double) * static_cast<size_t>(n * BK));
  const std::vector<double> thT = transpose_theta(theta, B, g.p);
  int64_t maxdeg = 0;
  for (int64_t i = 0; i < n; ++i) maxdeg = std::max(maxdeg, g.indptr[i + 1] - g.indptr[i]);
  std::vector<double> w(static_cast<size_t>(std::max<int64_t>(maxdeg, 1) * B));
  std::vector<double> diag(B), selfw(B);
  std::vector<double> M, y;
  std::vector<int64_t> piv;

  for (int64_t step = 0; step < g.n_scc; ++step) {
    const int64_t s = transpose ? step : g.n_scc - 1 - step;
    const int64_t lo = g.scc_ptr[s], hi = g.scc_ptr[s + 1];
    if (hi - lo > 1) {
      for (int64_t b = 0; b < B; ++b) {
        Status st = solve_block(g, theta, B, b, lo, hi, x, K, transpose, M, piv, y);
        if (st.code != kOk) return st;
      }
      continue;
    }
    const int64_t i = lo;
    double* xi = x + i * BK;
    std::fill(diag.begin(), diag.end(), 0.0);
    std::fill(selfw.begin(), selfw.end(), 0.0);
    const int64_t e0 = g.indptr[i], e1 = g.indptr[i + 1];
    for (int64_t e = e0; e < e1; ++e) {
      double* we = w.data() + (e - e0) * B;
      if (!edge_weights(g, thT.data(), B, e, we)) return bad_weight(we, B, e);
      const int64_t j = g.indices[e];
      for (int64_t b = 0; b < B; ++b) diag[b] += we[b];
      if (j == i) {
        for (int64_t b = 0; b < B; ++b) selfw[b] += we[b];
      } else if (j < n && !transpose) {
        const double* xj = x + j * BK;
        if (K == 1) {
          for (int64_t b = 0; b < B; ++b) xi[b] += we[b] * xj[b];
        } else {
          for (int64_t b = 0; b < B; ++b)
            for (int64_t k = 0; k < K; ++k) xi[b * K + k] += we[b] * xj[b * K + k];
        }
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      const double den = diag[b] - selfw[b];
      if (!(den > 1e-300 && den > 1e-14 * diag[b])) return Status{kSingular, i, b};
      const double inv = 1.0 / den;
      for (int64_t k = 0; k < K; ++k) xi[b * K + k] *= inv;
    }
    if (transpose) {
      for (int64_t e = e0; e < e1; ++e) {
        const int64_t j = g.indices[e];
        if (j == i || j >= n) continue;
        const double* we = w.data() + (e - e0) * B;
        double* xj = x + j * BK;
        if (K == 1) {
          for (int64_t b = 0; b < B; ++b) xj[b] += we[b] * xi[b];
        } else {
          for (int64_t b = 0; b < B; ++b)
            for (int64_t k = 0; k < K; ++k) xj[b * K + k] += we[b] * xi[b * K + k];
        }
      }
    }
  }
  return Status{};
}

Status matvec(const GraphView& g, const double* theta, int64_t B, const double* x, int64_t K,
              double* y, bool transpose) {
  const int64_t n = g.n, BK = B * K;
  const std::vector<double> thT = transpose_theta(theta, B, g.p);
  std::vector<double> w(B), diag(B);
  if (transpose) std::memset(y, 0, sizeof(double) * static_cast<size_t>(n * BK));
  for (int64_t i = 0; i < n; ++i) {
    const double* xi = x + i * BK;
    double* yi = y + i * BK;
    std::fill(diag.begin(), diag.end(), 0.0);
    if (!transpose) std::memset(yi, 0, sizeof(double) * static_cast<size_t>(BK));
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      if (!edge_weights(g, thT.data(), B, e, w.data())) return bad_weight(w.data(), B, e);
      for (int64_t b = 0; b < B; ++b) diag[b] += w[b];
      const int64_t j = g.indices[e];
      if (j >= n) continue;
      if (!transpose) {
        const double* xj = x + j * BK;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t k = 0; k < K; ++k) yi[b * K + k] -= w[b] * xj[b * K + k];
      } else {
        double* yj = y + j * BK;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t k = 0; k < K; ++k) yj[b * K + k] -= w[b] * xi[b * K + k];
      }
    }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < K; ++k) yi[b * K + k] += diag[b] * xi[b * K + k];
  }
  return Status{};
}

Status edge_grad(const GraphView& g, const double* theta, int64_t B, const double* lam,
                 const double* x, int64_t K, double* grad) {
  const int64_t n = g.n, BK = B * K, p = g.p;
  std::memset(grad, 0, sizeof(double) * static_cast<size_t>(BK * p));
  if (p == 0) return Status{};
  (void)theta;
  std::vector<double> ge(BK);
  for (int64_t i = 0; i < n; ++i) {
    const double* li = lam + i * BK;
    const double* xi = x + i * BK;
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const int64_t j = g.indices[e];
      if (j == i) continue;
      const double* c = g.coef + e * p;
      bool any = false;
      for (int64_t q = 0; q < p; ++q) any |= (c[q] != 0.0);
      if (!any) continue;
      if (j < n) {
        const double* xj = x + j * BK;
        for (int64_t t = 0; t < BK; ++t) ge[t] = -li[t] * (xi[t] - xj[t]);
      } else {
        for (int64_t t = 0; t < BK; ++t) ge[t] = -li[t] * xi[t];
      }
      for (int64_t t = 0; t < BK; ++t) {
        double* gt = grad + t * p;
        for (int64_t q = 0; q < p; ++q) gt[q] += c[q] * ge[t];
      }
    }
  }
  return Status{};
}

std::vector<int64_t> scc_order(int64_t n, const int64_t* indptr, const int32_t* indices,
                               int64_t* perm) {
  // Iterative Tarjan. SCCs are emitted sinks first; reversed at the end.
  std::vector<int64_t> index(n, -1), low(n, 0), stack, comps_flat, comp_sizes;
  std::vector<char> on_stack(n, 0);
  std::vector<std::pair<int64_t, int64_t>> call;  // (vertex, next edge)
  stack.reserve(n);
  comps_flat.reserve(n);
  int64_t counter = 0;
  for (int64_t root = 0; root < n; ++root) {
    if (index[root] >= 0) continue;
    call.emplace_back(root, indptr[root]);
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack[root] = 1;
    while (!call.empty()) {
      auto& [v, e] = call.back();
      bool descended = false;
      while (e < indptr[v + 1]) {
        const int64_t w = indices[e++];
        if (w < 0 || w >= n) continue;
        if (index[w] < 0) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = 1;
          call.emplace_back(w, indptr[w]);
          descended = true;
          break;
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
      }
      if (descended) continue;
      const int64_t vv = v;
      if (low[vv] == index[vv]) {
        int64_t size = 0, w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          comps_flat.push_back(w);
          ++size;
        } while (w != vv);
        comp_sizes.push_back(size);
      }
      call.pop_back();
      if (!call.empty()) {
        const int64_t parent = call.back().first;
        low[parent] = std::min(low[parent], low[vv]);
      }
    }
  }
  // Reverse the component order (sources first); keep vertices of a component contiguous.
  const int64_t nc = static_cast<int64_t>(comp_sizes.size());
  std::vector<int64_t> scc_ptr(nc + 1, 0);
  int64_t pos = 0, end = n;
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t sz = comp_sizes[nc - 1 - c];
    const int64_t start = end - sz;
    // components in comps_flat are stored in emission order; the last emitted ends at n
    for (int64_t t = 0; t < sz; ++t) perm[pos + t] = comps_flat[start + sz - 1 - t];
    end = start;
    pos += sz;
    scc_ptr[c + 1] = pos;
  }
  return scc_ptr;
}

}  // namespace phasic
