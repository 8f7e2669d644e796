// The absorption sweep: solve A x = r (or A^T x = r) in SCC order, scalar updates for singleton
// SCCs (one theta row, 8 rows in vector registers, or any batch) and a banded LU for cyclic
// ones; and y = A x.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels.hpp"
#include "simd.hpp"
#include "tridiagonal.hpp"

namespace phasic {
namespace {

using detail::bad_weight;
using detail::edge_weight_scalar;
using detail::edge_weights;
using detail::transpose_theta;
using simd::load8;
using simd::store8;
using simd::v8d;
using simd::v8l;

// Banded LU without pivoting of a cyclic SCC block.  A block of A = D - W is a nonsingular
// M-matrix (diagonally dominant, non-positive off-diagonal) whenever absorption is reachable, so
// Gaussian elimination needs no pivoting and fill stays inside the band.
// Storage: row r holds columns [r - bl, r + bu] at M[r * w + (c - r + bl)], w = bl + bu + 1.
struct Band {
  int64_t m = 0, bl = 0, bu = 0, w = 1;
  std::vector<double> M;
  std::vector<double> wv;  // scratch: the block's edge weights for one theta row
  double& at(int64_t r, int64_t c) { return M[static_cast<size_t>(r * w + (c - r + bl))]; }
  double at(int64_t r, int64_t c) const { return M[static_cast<size_t>(r * w + (c - r + bl))]; }
};

// Elimination in the style of Grassmann, Taksar and Heyman: every remaining row of the Schur
// complement keeps its sum, the rate at which it leaves the block (`exit`, updated as flow routed
// through an eliminated state: exit_r += |f| exit_c). A pivot is then that exit plus the row's
// remaining off-diagonal rates, a sum of non-negative terms, never the difference D - W that
// cancels when rates span many orders (a ring with rates 1e7 and 1e-7 lost every digit of its
// 1e-7 exit). A pivot is 0 only where the block truly cannot be left; one below 1e-300 (a
// singleton's bound) counts as 0, since its inverse would overflow to inf and the solution to NaN.
// Returns -1 on success, else the row whose pivot vanished (singular block).
int64_t band_factor(Band& A, std::vector<double>& exit) {
  const int64_t m = A.m;
  for (int64_t c = 0; c < m; ++c) {
    const int64_t kmax = std::min(m - 1, c + A.bu);
    double piv = exit[c];
    for (int64_t k = c + 1; k <= kmax; ++k) piv -= A.at(c, k);  // off-diagonals are <= 0
    if (!(piv > 1e-300)) return c;  // as a singleton's: beyond, 1 / piv overflows toward inf
    A.at(c, c) = piv;
    const double inv = 1.0 / piv;
    const int64_t rmax = std::min(m - 1, c + A.bl);
    for (int64_t r = c + 1; r <= rmax; ++r) {
      double& f = A.at(r, c);
      if (f == 0.0) continue;
      f *= inv;  // <= 0
      const double fr = f;
      exit[r] -= fr * exit[c];
      for (int64_t k = c + 1; k <= kmax; ++k)
        if (k != r) A.at(r, k) -= fr * A.at(c, k);
    }
  }
  return -1;
}

// y (m, K) row-major: solve A y = y, or A^T y = y.
// K1: one column known at compile time (the common case), so the column loops vanish.
template <bool K1>
void band_solve(const Band& A, double* y, int64_t Kdyn, bool transpose) {
  const int64_t m = A.m, K = K1 ? 1 : Kdyn;
  if (!transpose) {
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = std::max<int64_t>(0, r - A.bl); c < r; ++c) {
        const double f = A.at(r, c);
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
    for (int64_t r = m - 1; r >= 0; --r) {
      for (int64_t c = r + 1; c <= std::min(m - 1, r + A.bu); ++c) {
        const double f = A.at(r, c);
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
      const double inv = 1.0 / A.at(r, r);
      for (int64_t k = 0; k < K; ++k) y[r * K + k] *= inv;
    }
  } else {
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = std::max<int64_t>(0, r - A.bu); c < r; ++c) {
        const double f = A.at(c, r);
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
      const double inv = 1.0 / A.at(r, r);
      for (int64_t k = 0; k < K; ++k) y[r * K + k] *= inv;
    }
    for (int64_t r = m - 1; r >= 0; --r)
      for (int64_t c = r + 1; c <= std::min(m - 1, r + A.bl); ++c) {
        const double f = A.at(c, r);
        if (f != 0.0)
          for (int64_t k = 0; k < K; ++k) y[r * K + k] -= f * y[c * K + k];
      }
  }
}

// A cyclic SCC [lo, hi) for one theta row b, in place on xb (n rows).
template <bool K1>
Status solve_block(const GraphView& g, const double* theta, int64_t ld, int64_t b, int64_t lo,
                   int64_t hi, double* xb, int64_t Kdyn, bool transpose, Band& A,
                   std::vector<double>& scale, std::vector<double>& y) {
  const int64_t m = hi - lo, BK = ld, K = K1 ? 1 : Kdyn;
  const int64_t e0 = g.indptr[lo], e1 = g.indptr[hi];
  A.wv.resize(static_cast<size_t>(e1 - e0));
  double* wv = A.wv.data();
  tri::block_weights(g, theta + b * g.p, e0, e1, wv);
  for (int64_t e = e0; e < e1; ++e)
    if (!(wv[e - e0] >= 0.0)) return Status{kBadWeight, e, b};  // NaN too
  if (b == 0) {  // the band only depends on the structure: measure it once per block
    A.bl = A.bu = 0;
    for (int64_t i = lo; i < hi; ++i)
      for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
        const int64_t j = g.indices[e];
        if (j >= lo && j < hi) {
          A.bl = std::max(A.bl, i - j);
          A.bu = std::max(A.bu, j - i);
        }
      }
    A.m = m;
    A.w = A.bl + A.bu + 1;
  }
  A.M.assign(static_cast<size_t>(m * A.w), 0.0);
  scale.assign(static_cast<size_t>(m), 0.0);
  y.resize(static_cast<size_t>(m * K));
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t ii = i - lo;
    double* yi = y.data() + ii * K;
    const double* xi = xb + i * BK + b * K;
    for (int64_t k = 0; k < K; ++k) yi[k] = xi[k];
    double leave = 0.0;  // rate out of the block (later SCCs and absorption)
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      const double w = wv[e - e0];
      const int64_t j = g.indices[e];
      if (j == i) continue;  // a self-loop adds to D and W alike: no effect on A
      if (j >= lo && j < hi) {
        A.at(ii, j - lo) -= w;
      } else {
        leave += w;
        if (!transpose && j < g.n) {  // absorption contributes 0
          const double* xj = xb + j * BK + b * K;
          for (int64_t k = 0; k < K; ++k) yi[k] += w * xj[k];
        }
      }
    }
    scale[ii] = leave;  // the diagonal is formed in band_factor from this and the row's rates
  }
  const int64_t bad = band_factor(A, scale);
  if (bad >= 0) return Status{kSingular, lo + bad, b};
  band_solve<K1>(A, y.data(), K, transpose);
  for (int64_t i = lo; i < hi; ++i) {
    const double* yi = y.data() + (i - lo) * K;
    double* xi = xb + i * BK + b * K;
    for (int64_t k = 0; k < K; ++k) xi[k] = yi[k];
    if (transpose) {  // push the solved values along edges that leave the block
      for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
        const int64_t j = g.indices[e];
        if (j >= hi && j < g.n) {
          const double w = wv[e - e0];
          double* xj = xb + j * BK + b * K;
          for (int64_t k = 0; k < K; ++k) xj[k] += w * yi[k];
        }
      }
    }
  }
  return Status{};
}

Status first_bad_weight(const GraphView& g, const double* theta, int64_t B, int64_t i) {
  for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e)
    for (int64_t b = 0; b < B; ++b)
      if (!(edge_weight_scalar(g, theta, b, e) >= 0.0)) return Status{kBadWeight, e, b};
  return Status{kBadWeight, g.indptr[i], 0};
}

// f(std::integral_constant<int, P>{}, theta) with P = p where p <= 3, else -1 (loops over the
// parameters unrolled where p is small), theta's values for P >= 0 a copy in locals: a kernel
// that stores to x while it reads theta then keeps theta in registers (a store to x could alias
// theta, which was read again after every store: the transposed sweep took 2x the plain one).
template <typename F>
__attribute__((always_inline)) inline auto with_small_p(int64_t p, const double* theta, F&& f) {
  double local[3] = {};
  for (int64_t q = 0; q < p && q < 3; ++q) local[q] = theta[q];
  switch (p) {
    case 0:
      return f(std::integral_constant<int, 0>{}, static_cast<const double*>(local));
    case 1:
      return f(std::integral_constant<int, 1>{}, static_cast<const double*>(local));
    case 2:
      return f(std::integral_constant<int, 2>{}, static_cast<const double*>(local));
    case 3:
      return f(std::integral_constant<int, 3>{}, static_cast<const double*>(local));
    default:
      return f(std::integral_constant<int, -1>{}, theta);
  }
}

// Singleton SCC i, one theta (B == 1) and one column (K == 1): the hot scalar loop. P: the
// parameter count when small, -1 for any; t: theta (`with_small_p`).
template <int P>
__attribute__((always_inline)) inline Status singleton_scalar(const GraphView& g, const double* t,
                                                              int64_t i, double* xb,
                                                              bool transpose) {
  const int64_t e0 = g.indptr[i], e1 = g.indptr[i + 1];
  const int32_t* idx = g.indices;
  double den = 0.0, acc = xb[i];
  bool ok = true;
  for (int64_t e = e0; e < e1; ++e) {
    const double w = tri::OneRow::weight<P>(g, t, 0, e);
    ok &= (w >= 0.0);
    const int64_t j = idx[e];
    const double ws = (j == i) ? 0.0 : w;
    den += ws;
    if (!transpose && j < g.n) acc += ws * xb[j];
  }
  if (!ok) return first_bad_weight(g, t, 1, i);
  if (!(den > 1e-300)) return Status{kSingular, i, 0};
  const double xi = acc / den;
  xb[i] = xi;
  if (transpose) {  // push x_i along the out-edges: A^T is solved sources first
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t j = idx[e];
      if (j == i || j >= g.n) continue;
      xb[j] += tri::OneRow::weight<P>(g, t, 0, e) * xi;
    }
  }
  return Status{};
}

// Singleton SCC i for a batch of B thetas (thT is (p, B)) and K columns.
// Rows of x are ld apart (ld >= B * K): the batch may be a chunk of a wider one.
__attribute__((always_inline)) inline Status singleton_batch(const GraphView& g, const double* thT, const double* theta,
                              int64_t B, int64_t K, int64_t ld, int64_t i, double* xb, bool transpose,
                              double* w, double* den, double* wmin) {
  const int64_t e0 = g.indptr[i], e1 = g.indptr[i + 1], p = g.p, BK = ld;
  double* xi = xb + i * BK;
  for (int64_t b = 0; b < B; ++b) den[b] = 0.0, wmin[b] = 0.0;
  if (p == 1 && K == 1 && !transpose) {
    // The common case (one parameter, one column): one fused, vectorizable loop per edge.
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t j = g.indices[e];
      const double b0 = g.base[e], c0 = g.coef[e];
      if (j == i || j >= g.n) {
        for (int64_t b = 0; b < B; ++b) {
          const double wb = b0 + c0 * thT[b];
          wmin[b] = std::min(wmin[b], wb);
          if (j != i) den[b] += wb;
        }
        continue;
      }
      const double* xj = xb + j * BK;
#pragma GCC ivdep
      for (int64_t b = 0; b < B; ++b) {
        const double wb = b0 + c0 * thT[b];
        wmin[b] = std::min(wmin[b], wb);
        den[b] += wb;
        xi[b] += wb * xj[b];
      }
    }
  } else {
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t j = g.indices[e];
      const double b0 = g.base[e];
      const double* c = g.coef + e * p;
      for (int64_t b = 0; b < B; ++b) w[b] = b0;
      for (int64_t q = 0; q < p; ++q) {
        const double cq = c[q];
        const double* t = thT + q * B;
        for (int64_t b = 0; b < B; ++b) w[b] += cq * t[b];
      }
      for (int64_t b = 0; b < B; ++b) wmin[b] = std::min(wmin[b], w[b]);
      if (j == i) continue;
      for (int64_t b = 0; b < B; ++b) den[b] += w[b];
      if (transpose || j >= g.n) continue;
      const double* xj = xb + j * BK;
      if (K == 1) {
        for (int64_t b = 0; b < B; ++b) xi[b] += w[b] * xj[b];
      } else {
        for (int64_t b = 0; b < B; ++b)
          for (int64_t k = 0; k < K; ++k) xi[b * K + k] += w[b] * xj[b * K + k];
      }
    }
  }
  // A NaN weight escapes std::min but poisons den: re-scan before calling a vertex singular.
  double lowest = 0.0;
  for (int64_t b = 0; b < B; ++b) lowest = std::min(lowest, wmin[b]);
  if (!(lowest >= 0.0)) return first_bad_weight(g, theta, B, i);
  for (int64_t b = 0; b < B; ++b) {
    if (!(den[b] > 1e-300)) {
      for (int64_t e = e0; e < e1; ++e)
        for (int64_t bb = 0; bb < B; ++bb)
          if (!(edge_weight_scalar(g, theta, bb, e) >= 0.0)) return Status{kBadWeight, e, bb};
      return Status{kSingular, i, b};
    }
    const double inv = 1.0 / den[b];
    for (int64_t k = 0; k < K; ++k) xi[b * K + k] *= inv;
  }
  if (transpose) {
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t j = g.indices[e];
      if (j == i || j >= g.n) continue;
      const double b0 = g.base[e];
      const double* c = g.coef + e * p;
      for (int64_t b = 0; b < B; ++b) w[b] = b0;
      for (int64_t q = 0; q < p; ++q) {
        const double cq = c[q];
        const double* t = thT + q * B;
        for (int64_t b = 0; b < B; ++b) w[b] += cq * t[b];
      }
      double* xj = xb + j * BK;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < K; ++k) xj[b * K + k] += w[b] * xi[b * K + k];
    }
  }
  return Status{};
}

// Singleton SCC i for 8 theta rows at once and one column (K == 1), register-blocked: the
// accumulator, denominator and weight check live in vector registers across the vertex's edges,
// so an edge costs one vector load of x[j]. Explicit vectors (GCC vector extensions), because
// the compiler does not vectorize fixed-width loops of this shape itself; they compile to
// AVX-512, AVX2 or SSE2 in the respective clones of `solve`. thT points at the first of the 8
// rows in a (p, tstride) transposed theta; rows of x are ld apart. A failed status carries a
// batch index in [0, 8).
__attribute__((always_inline)) inline Status singleton_v8(const GraphView& g, const double* thT,
                                                         int64_t tstride, const double* theta,
                                                         int64_t i, double* x, int64_t ld,
                                                         bool transpose) {
  const int64_t e0 = g.indptr[i], e1 = g.indptr[i + 1], n = g.n;
  double* xi = x + i * ld;
  v8d acc = load8(xi), den = v8d{};
  v8l ok = v8l{} - 1;  // all true; a NaN weight fails w >= 0 too
  for (int64_t e = e0; e < e1; ++e) {
    const int64_t j = g.indices[e];
    const v8d w = tri::weights8(g, thT, tstride, e);
    ok &= (w >= 0.0);
    if (j == i) continue;  // a self-loop adds to D and W alike: no effect on A
    den += w;
    if (transpose || j >= n) continue;
    acc += w * load8(x + j * ld);
  }
  bool all_ok = true, all_pos = true;
  for (int b = 0; b < 8; ++b) all_ok &= (ok[b] != 0), all_pos &= (den[b] > 1e-300);
  if (!all_ok) return first_bad_weight(g, theta, 8, i);
  if (!all_pos) {
    for (int b = 0; b < 8; ++b)
      if (!(den[b] > 1e-300)) return Status{kSingular, i, b};
  }
  const v8d xv = acc / den;
  store8(xi, xv);
  if (transpose) {  // push x_i along the out-edges: A^T is solved sources first
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t j = g.indices[e];
      if (j == i || j >= n) continue;
      double* xj = x + j * ld;
      store8(xj, load8(xj) + tri::weights8(g, thT, tstride, e) * xv);
    }
  }
  return Status{};
}

// Copy theta rows [b0, b0 + Bc) of a batch into a packed chunk (n rows ld apart, zero padding
// after Bc * K values) and back. The batch is (n, B, K), or (B, n, K) when batch_major; a
// `shared` source is one (n, K) block used for every theta row.
void pack_chunk(const double* src, bool shared, double* buf, int64_t n, int64_t B, int64_t K,
                int64_t b0, int64_t Bc, int64_t ld, bool batch_major) {
  for (int64_t i = 0; i < n; ++i) std::fill(buf + i * ld + Bc * K, buf + (i + 1) * ld, 0.0);
  for (int64_t b = 0; b < Bc; ++b) {
    for (int64_t i = 0; i < n; ++i) {
      const double* from = shared        ? src + i * K
                           : batch_major ? src + ((b0 + b) * n + i) * K
                                         : src + (i * B + b0 + b) * K;
      for (int64_t k = 0; k < K; ++k) buf[i * ld + b * K + k] = from[k];
    }
  }
}

void unpack_chunk(const double* buf, double* x, int64_t n, int64_t B, int64_t K, int64_t b0,
                  int64_t Bc, int64_t ld, bool batch_major) {
  for (int64_t b = 0; b < Bc; ++b)
    for (int64_t i = 0; i < n; ++i) {
      double* to = batch_major ? x + ((b0 + b) * n + i) * K : x + (i * B + b0 + b) * K;
      for (int64_t k = 0; k < K; ++k) to[k] = buf[i * ld + b * K + k];
    }
}

// Columns of theta per sweep: a chunk's slice of x (n rows) should stay in cache between the
// visits of a vertex's successors, while loops over the chunk stay wide enough to vectorize.
// Every theta row is independent, so chunking changes no result.
int64_t theta_chunk(int64_t n, int64_t B, int64_t K) {
  constexpr int64_t kCacheBytes = 1024 * 1024;  // about a core's L2
  int64_t c = kCacheBytes / (8 * std::max<int64_t>(1, n * K));
  c = std::max<int64_t>(8, std::min<int64_t>(64, c / 8 * 8));
  return std::min(B, c);
}

}  // namespace

namespace detail {

// A tridiagonal block for one theta row, or eight in the lanes of a vector (`tri::one_column`),
// one column: functions with clones of their own, since inlined into `solve` the two crowded
// each other's registers (the one-row path ~5% slower per edge).
PHASIC_MULTIVERSION __attribute__((noinline)) bool tridiagonal_row(const GraphView& g,
                                                                   const double* t, int64_t ld,
                                                                   int64_t lo, int64_t hi,
                                                                   double* x, bool transpose,
                                                                   tri::Tri& T) {
  return transpose ? tri::one_column<tri::OneRow, true>(g, t, 0, ld, lo, hi, x, T)
                   : tri::one_column<tri::OneRow, false>(g, t, 0, ld, lo, hi, x, T);
}

PHASIC_MULTIVERSION __attribute__((noinline)) bool tridiagonal_lanes(
    const GraphView& g, const double* thT, int64_t tstride, int64_t ld, int64_t lo, int64_t hi,
    double* x, bool transpose, tri::Tri& T) {
  return transpose ? tri::one_column<tri::EightRows, true>(g, thT, tstride, ld, lo, hi, x, T)
                   : tri::one_column<tri::EightRows, false>(g, thT, tstride, ld, lo, hi, x, T);
}

}  // namespace detail

PHASIC_MULTIVERSION
Status solve(const GraphView& g, const double* theta, int64_t B, const double* r, int64_t K,
             double* x, bool transpose, bool batch_major, bool shared_rhs) {
  const int64_t n = g.n, BK = B * K, p = g.p;
  const int64_t C = theta_chunk(n, B, K);
  // One column and several theta rows: 8-wide vector sweeps over theta chunks, each swept in a
  // packed copy read straight from r (rows of the full batch can lie a multiple of 4 KiB apart,
  // where loads and stores of different rows alias in L1) and padded to a multiple of 8 by
  // repeating the chunk's last theta row. A padding lane fails only where that real row fails
  // first, so errors name real rows. Unpacked sweeps work in place on x. Edges to absorption
  // (index n) are a well-predicted branch: cheaper than a padded copy of x.
  const bool vec = (K == 1 && B > 1);
  const bool pack = vec || C < B || (batch_major && B > 1);
  if (!pack && x != r) {  // one theta row or a single chunk of (n, B, K) columns
    if (shared_rhs)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t b = 0; b < B; ++b)
          std::memcpy(x + (i * B + b) * K, r + i * K, sizeof(double) * static_cast<size_t>(K));
    else
      std::memcpy(x, r, sizeof(double) * static_cast<size_t>(n * BK));
  }
  const int64_t ldc = vec ? (C + 7) / 8 * 8 : C * K;
  std::vector<double> packed(pack ? static_cast<size_t>(n * ldc) : 0);
  std::vector<double> thp(static_cast<size_t>(ldc * p));
  std::vector<double> w(static_cast<size_t>(C)), den(static_cast<size_t>(C)),
      wmin(static_cast<size_t>(C));
  std::vector<double> scale, y;
  Band band;
  tri::Tri tri;
  std::vector<char> banded(static_cast<size_t>(g.n_scc), 0);
  const bool scalar = (B == 1 && K == 1);

  for (int64_t b0 = 0; b0 < B; b0 += C) {
    const int64_t Bc = std::min(C, B - b0);
    const int64_t lanes = vec ? (Bc + 7) / 8 * 8 : Bc;  // theta rows swept, padding included
    const int64_t ld = pack ? lanes * K : BK;
    for (int64_t b = 0; b < lanes; ++b)
      std::memcpy(thp.data() + b * p, theta + (b0 + std::min(b, Bc - 1)) * p,
                  sizeof(double) * static_cast<size_t>(p));
    const double* th = thp.data();
    const std::vector<double> thT = transpose_theta(th, lanes, p);
    double* xb = pack ? packed.data() : x;
    if (pack) pack_chunk(r, shared_rhs, xb, n, B, K, b0, Bc, ld, batch_major);
    for (int64_t step = 0; step < g.n_scc; ++step) {
      const int64_t s = transpose ? step : g.n_scc - 1 - step;
      const int64_t lo = g.scc_ptr[s], hi = g.scc_ptr[s + 1];
      Status st;
      if (hi - lo > 1) {
        for (int64_t b = 0; b < Bc && st.code == kOk; ++b) {
          if (!banded[s]) {  // a block the band path had to take once goes there for every row
            if (vec && b % 8 == 0 &&
                detail::tridiagonal_lanes(g, thT.data() + b, lanes, ld, lo, hi, xb + b, transpose,
                                          tri)) {
              b += 7;  // eight rows at once, one per vector lane (padding lanes included)
              continue;
            }
            const bool done =
                K == 1 ? detail::tridiagonal_row(g, th + b * p, ld, lo, hi, xb + b, transpose, tri)
                       : tri::several_columns(g, th, ld, b, lo, hi, xb, K, transpose, tri);
            if (done) continue;
            banded[s] = 1;
          }
          st = K == 1 ? solve_block<true>(g, th, ld, b, lo, hi, xb, K, transpose, band, scale, y)
                      : solve_block<false>(g, th, ld, b, lo, hi, xb, K, transpose, band, scale, y);
        }
      } else if (scalar) {
        st = with_small_p(g.p, th, [&](auto kp, const double* t) {
          return singleton_scalar<decltype(kp)::value>(g, t, lo, xb, transpose);
        });
      } else if (vec) {
        for (int64_t sb = 0; sb < lanes && st.code == kOk; sb += 8) {
          st = singleton_v8(g, thT.data() + sb, lanes, th + sb * p, lo, xb + sb, ld,
                                  transpose);
          if (st.code != kOk && st.batch >= 0) st.batch += sb;  // local to the 8 lanes
        }
      } else {
        st = singleton_batch(g, thT.data(), th, Bc, K, ld, lo, xb, transpose, w.data(),
                             den.data(), wmin.data());
      }
      if (st.code != kOk) {
        if (st.batch >= 0) st.batch = b0 + std::min(st.batch, Bc - 1);
        return st;
      }
    }
    if (pack) unpack_chunk(xb, x, n, B, K, b0, Bc, ld, batch_major);
  }
  return Status{};
}

PHASIC_MULTIVERSION
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

}  // namespace phasic
