// Adjoint pieces of the sweep: the theta-gradient of lam^T A^{-1} r (edge_grad) and the products
// A_q x with dA/dtheta_q (coef_matvec), both single passes over the edges.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.hpp"
#include "simd.hpp"

namespace phasic {

using detail::bad_weight;
using detail::edge_weights;
using detail::transpose_theta;
using simd::load8;
using simd::store8;
using simd::v8d;

namespace {

// edge_grad for one column and P parameters: the sums in registers, row by row (the general
// loop's += on grad in memory is a store chain per edge and parameter).
template <int P>
__attribute__((always_inline)) inline Status edge_grad_column(const GraphView& g,
                                                              const double* lam,
                                                              const double* xb, double* grad) {
  double acc[P] = {};
  for (int64_t i = 0; i < g.n; ++i) {
    const double xi = xb[i];
    double s[P] = {};
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const double d = xi - xb[g.indices[e]];  // a self-loop contributes xi - xi = 0
      const double* c = g.coef + e * P;
      for (int q = 0; q < P; ++q) s[q] += c[q] * d;
    }
    for (int q = 0; q < P; ++q) acc[q] -= lam[i] * s[q];
  }
  for (int q = 0; q < P; ++q) grad[q] = acc[q];
  return Status{};
}

}  // namespace

PHASIC_MULTIVERSION
Status edge_grad(const GraphView& g, const double* theta, int64_t B, const double* lam,
                 const double* x, int64_t K, double* grad) {
  const int64_t n = g.n, BK = B * K, p = g.p;
  std::memset(grad, 0, sizeof(double) * static_cast<size_t>(BK * p));
  if (p == 0 || n == 0) return Status{};
  (void)theta;
  // Padded copy of x (row n = absorption = 0): no branch on the edge target.
  std::vector<double> xb(static_cast<size_t>((n + 1) * BK), 0.0);
  std::memcpy(xb.data(), x, sizeof(double) * static_cast<size_t>(n * BK));
  if (BK == 1) {
    switch (p) {
      case 1:
        return edge_grad_column<1>(g, lam, xb.data(), grad);
      case 2:
        return edge_grad_column<2>(g, lam, xb.data(), grad);
      case 3:
        return edge_grad_column<3>(g, lam, xb.data(), grad);
      case 4:
        return edge_grad_column<4>(g, lam, xb.data(), grad);
      default:
        break;
    }
  }
  std::vector<double> ge(static_cast<size_t>(BK));
  for (int64_t i = 0; i < n; ++i) {
    const double* li = lam + i * BK;
    const double* xi = xb.data() + i * BK;
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const double* c = g.coef + e * p;
      bool any = false;
      for (int64_t q = 0; q < p; ++q) any |= (c[q] != 0.0);
      if (!any) continue;
      const double* xj = xb.data() + static_cast<int64_t>(g.indices[e]) * BK;
      for (int64_t t = 0; t < BK; ++t) ge[t] = -li[t] * (xi[t] - xj[t]);
      for (int64_t t = 0; t < BK; ++t) {
        double* gt = grad + t * p;
        const double gv = ge[t];
        for (int64_t q = 0; q < p; ++q) gt[q] += c[q] * gv;
      }
    }
  }
  return Status{};
}

PHASIC_MULTIVERSION
void coef_matvec(const GraphView& g, int64_t B, const double* x, int64_t K, double* out,
                 bool transpose) {
  const int64_t n = g.n, p = g.p, Kp = K * p;
  std::memset(out, 0, sizeof(double) * static_cast<size_t>(B * n * Kp));
  if (p == 0) return;
  if (transpose) {  // (A_q^T x)_j = sum_(e: j -> *) c_eq x_j - sum_(e: i -> j, i != j) c_eq x_i
    for (int64_t b = 0; b < B; ++b) {
      const double* xb = x + b * n * K;
      double* ob = out + b * n * Kp;
      if (Kp == 1) {  // one parameter, one column: the row's own sum, then its scatter
        for (int64_t i = 0; i < n; ++i) {
          const double xi = xb[i];
          double own = 0.0;
          for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
            const int64_t j = g.indices[e];
            if (j == i) continue;
            const double v = g.coef[e] * xi;
            own += v;
            if (j < n) ob[j] -= v;
          }
          ob[i] += own;
        }
        continue;
      }
      for (int64_t i = 0; i < n; ++i) {
        const double* xi = xb + i * K;
        for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
          const int64_t j = g.indices[e];
          if (j == i) continue;
          const double* c = g.coef + e * p;
          double* oi = ob + i * Kp;
          double* oj = j < n ? ob + j * Kp : nullptr;
          for (int64_t k = 0; k < K; ++k)
            for (int64_t q = 0; q < p; ++q) {
              const double v = c[q] * xi[k];
              oi[k * p + q] += v;
              if (oj) oj[k * p + q] -= v;
            }
        }
      }
    }
    return;
  }
  if (K == 1 && p <= 8 && B > 1) {  // 8 theta rows at a time, transposed into a packed (n, 8)
    std::vector<double> buf(static_cast<size_t>(n * 8));
    v8d acc[8];
    for (int64_t b0 = 0; b0 < B; b0 += 8) {
      const int64_t Bc = std::min<int64_t>(8, B - b0);
      for (int64_t b = 0; b < 8; ++b) {
        const double* xr = x + (b0 + std::min(b, Bc - 1)) * n;
        for (int64_t i = 0; i < n; ++i) buf[i * 8 + b] = xr[i];
      }
      for (int64_t i = 0; i < n; ++i) {
        const v8d xi = load8(buf.data() + i * 8);
        for (int64_t q = 0; q < p; ++q) acc[q] = v8d{};
        for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
          const int64_t j = g.indices[e];  // a self-loop gives xi - xi = 0
          const v8d d = j < n ? xi - load8(buf.data() + j * 8) : xi;
          for (int64_t q = 0; q < p; ++q) acc[q] += g.coef[e * p + q] * d;
        }
        for (int64_t b = 0; b < Bc; ++b)
          for (int64_t q = 0; q < p; ++q) out[((b0 + b) * n + i) * p + q] = acc[q][b];
      }
    }
    return;
  }
  for (int64_t b = 0; b < B; ++b) {
    const double* xb = x + b * n * K;
    double* ob = out + b * n * Kp;
    for (int64_t i = 0; i < n; ++i) {
      const double* xi = xb + i * K;
      double* oi = ob + i * Kp;
      if (Kp == 1) {  // one parameter, one column: a CSR row sum
        double acc = 0.0;
        for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
          const int64_t j = g.indices[e];
          acc += g.coef[e] * (xi[0] - (j < n ? xb[j] : 0.0));  // a self-loop gives 0
        }
        oi[0] = acc;
        continue;
      }
      for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
        const int64_t j = g.indices[e];
        if (j == i) continue;
        const double* c = g.coef + e * p;
        for (int64_t k = 0; k < K; ++k) {
          const double d = xi[k] - (j < n ? xb[j * K + k] : 0.0);
          for (int64_t q = 0; q < p; ++q) oi[k * p + q] += c[q] * d;
        }
      }
    }
  }
}

}  // namespace phasic
