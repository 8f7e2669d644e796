// The absorption sweep's pieces for one block of theta-dependent edge weights: the block's
// weights for one theta row (`block_weights`), and the Thomas algorithm with Grassmann-Taksar-
// Heyman pivots for a cyclic SCC whose in-block edges join neighbouring rows (a birth-death
// block: migration between two demes at a fixed lineage count, after the compile's Cuthill-McKee
// order), for one theta row or eight in the lanes of a vector. Included by solve.cpp only: the
// functions inline into its multiversioned clones.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels.hpp"
#include "simd.hpp"

namespace phasic::tri {

using simd::load8;
using simd::store8;
using simd::v8d;
using simd::v8l;

// Weights of edges [e0, e1) for one theta row t (p values) into w: the parameter loop unrolled
// for the common small p, one tight loop per block instead of one call per edge.
__attribute__((always_inline)) inline void block_weights(const GraphView& g, const double* t,
                                                         int64_t e0, int64_t e1, double* w) {
  const double* base = g.base;
  const double* c = g.coef;
  switch (g.p) {
    case 0:
      for (int64_t e = e0; e < e1; ++e) w[e - e0] = base[e];
      break;
    case 1:
      for (int64_t e = e0; e < e1; ++e) w[e - e0] = base[e] + c[e] * t[0];
      break;
    case 2:
      for (int64_t e = e0; e < e1; ++e) w[e - e0] = base[e] + c[2 * e] * t[0] + c[2 * e + 1] * t[1];
      break;
    case 3:
      for (int64_t e = e0; e < e1; ++e)
        w[e - e0] = base[e] + c[3 * e] * t[0] + c[3 * e + 1] * t[1] + c[3 * e + 2] * t[2];
      break;
    default:
      for (int64_t e = e0; e < e1; ++e) {
        double v = base[e];
        for (int64_t q = 0; q < g.p; ++q) v += c[e * g.p + q] * t[q];
        w[e - e0] = v;
      }
  }
}

// Weight of edge e for eight theta rows, the first at thT in a (p, tstride) transposed theta.
// P: the parameter count when small (the loop over parameters unrolled), -1 for any.
template <int P = -1>
__attribute__((always_inline)) inline v8d weights8(const GraphView& g, const double* thT,
                                                   int64_t tstride, int64_t e) {
  const int64_t p = P < 0 ? g.p : P;
  v8d w = v8d{} + g.base[e];
  for (int64_t q = 0; q < p; ++q) w += g.coef[e * p + q] * load8(thT + q * tstride);
  return w;
}

// The number type of the tridiagonal path: one theta row in a double (`OneRow`: x at x[i * ld],
// theta a row of p values) or eight in the lanes of a vector (`EightRows`: x at x + i * ld, eight
// contiguous values; theta transposed, (p, tstride)). A mask holds a test per row.
struct OneRow {
  using V = double;
  using Mask = bool;
  static constexpr int64_t W = 1;
  static double load(const double* p) { return *p; }
  static void store(double* p, double v) { *p = v; }
  template <int P>
  static double weight(const GraphView& g, const double* t, int64_t, int64_t e) {
    if constexpr (P < 0) {
      return detail::edge_weight_scalar(g, t, 0, e);
    } else {
      const double* c = g.coef + e * P;
      double w = g.base[e];
      for (int q = 0; q < P; ++q) w += c[q] * t[q];
      return w;
    }
  }
  static Mask within(double v) { return v > 1e-200 && v < 1e200; }
  static bool all(Mask m) { return m; }
  static bool any_negative(double v) { return v < 0.0; }
  static bool any_nan(double v) { return v != v; }
  // 2^-ilogb(d) from d's exponent bits (d normal; so is the result)
  static double power_scale(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    bits = (uint64_t{2046} - ((bits >> 52) & 0x7FF)) << 52;
    double s;
    std::memcpy(&s, &bits, sizeof s);
    return s;
  }
};

struct EightRows {
  using V = v8d;
  using Mask = v8l;
  static constexpr int64_t W = 8;
  static v8d load(const double* p) { return load8(p); }
  static void store(double* p, v8d v) { store8(p, v); }
  template <int P>
  static v8d weight(const GraphView& g, const double* thT, int64_t tstride, int64_t e) {
    return weights8<P>(g, thT, tstride, e);
  }
  static Mask within(v8d v) { return (v > 1e-200) & (v < 1e200); }
  static bool all(Mask m) {
    bool ok = true;
    for (int b = 0; b < 8; ++b) ok &= (m[b] != 0);
    return ok;
  }
  static bool any_negative(v8d v) { return !all(v >= 0.0); }  // never NaN: see scan_row
  static bool any_nan(v8d v) { return !all(v == v); }
  static v8d power_scale(v8d d) {
    const v8l bits = (2046 - (((v8l)d >> 52) & 0x7FF)) << 52;  // vector casts keep the bits
    return (v8d)bits;
  }
};

// Scratch of the tridiagonal path: per block row (W values each), the rates to the previous and
// next row and out of the block, the elimination's multipliers and inverse pivots, the
// right-hand side, and the block's edge weights.
struct Tri {
  std::vector<double> down, up, leave, mult, inv, y, w;
};

// Row i of a block [lo, hi): its rates to row i - 1 (`down`), to row i + 1 (`up`) and out of the
// block (`leave`), with leaving(j, w) called for every edge out of it; w = weight(e). False when
// an in-block edge skips a row (the block is not tridiagonal) or a self-loop's weight is NaN.
// Sums in locals: a += on the arrays would be a store chain. Edges never go to an earlier SCC,
// so j < hi alone tells an in-block edge. Bad weights cost one min per edge: `least` keeps the
// smallest weight (below 0: the caller fails), and a NaN weight reaches `down`, `up` or `leave`
// and with them every later pivot, which `PivotChain` then refuses.
template <typename L, typename Weight, typename Leaving>
__attribute__((always_inline)) inline bool scan_row(const GraphView& g, int64_t i, int64_t hi,
                                                    Weight&& weight, Leaving&& leaving,
                                                    typename L::V& least, typename L::V& down,
                                                    typename L::V& up, typename L::V& leave) {
  using V = typename L::V;
  V dn = V{}, u = V{}, out = V{};
  for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
    const V w = weight(e);
    least = w < least ? w : least;
    const int64_t j = g.indices[e];
    if (j < hi) {
      if (j == i + 1) {
        u += w;
      } else if (j == i - 1) {
        dn += w;
      } else if (j != i || L::any_nan(w)) {  // a self-loop adds to D and W alike
        return false;
      }
    } else {
      out += w;
      leaving(j, w);
    }
  }
  down = dn;
  up = u;
  leave = out;
  return true;
}

// The pivots of `band_factor` on a tridiagonal block (Grassmann-Taksar-Heyman:
// exit_{c+1} = leave_{c+1} + down_{c+1} exit_c / pivot_c, pivot_c = exit_c + up_c, sums of
// non-negative rates), carried as exit_c = N / D with D_{c+1} = N_c + up_c D_c and
// N_{c+1} = leave_{c+1} D_{c+1} + down_{c+1} N_c: the chain holds two multiply-adds and no
// division (the inverse pivots D_c / D_{c+1} are computed beside it). N and D are rescaled by a
// power of two (exactly) every 8 rows, so leaving [1e-200, 1e200] takes pivots beyond 1e25 or
// below 1e-25 on average, or a zero pivot (a singular block), or a NaN weight: the band path
// then takes the block. One row stops at once (`close` is false); eight rows gather their lanes'
// tests in a mask and stop at the end, their later values garbage, never written.
template <typename L>
struct PivotChain {
  using V = typename L::V;
  // N, D and Dn are the caller's locals: as members of an object inlined into the sweep, N was
  // kept in memory in one build (a store and a load on the chain per row).
  // 1 / pivot of row c (whose exit is N / D) into inv; `in` gathers the rows' range tests
  static bool close(const V& N, const V& D, V& Dn, V up, V& inv, typename L::Mask& in) {
    Dn = N + up * D;
    inv = D / Dn;
    if constexpr (L::W == 1) {
      return L::within(Dn);
    } else {
      in &= L::within(Dn);
      return true;
    }
  }
  // After close(row c): row c + 1's exit from its rates; returns its multiplier down / pivot_c.
  static V advance(V& N, V& D, const V& Dn, V leave, V down, V inv, int64_t c) {
    N = leave * Dn + down * N;
    D = Dn;
    if ((c & 7) == 7) {
      const V s = L::power_scale(D);
      N *= s;
      D *= s;
    }
    return down * inv;
  }
};

// A tridiagonal block for one column in two passes: each row's scan is followed at once by its
// step of the pivot recurrence and of the forward substitution, so their chains overlap the next
// row's scan; the back substitution writes x. Not transposed (the moments' case): L y = b with
// the right-hand side's sums made in the scan, then U x = y. Transposed (the adjoint's case):
// U^T z = b, then L^T x = z, and x pushed along the edges that leave the block. Both back
// substitutions read x_c = Y_c + A_c x_(c+1), their products made in the forward pass. x: the
// first of the W theta rows' values, rows of the graph ld apart; t: theta as `L` reads it.
// Returns false, having written nothing to x, when the block is not tridiagonal, holds a bad
// weight or has extreme pivots (in any of the W rows): the caller then takes another path.
template <typename L, int P, bool Transposed>
__attribute__((always_inline)) inline bool block_one_column(const GraphView& g, const double* t,
                                                            int64_t tstride, int64_t ld,
                                                            int64_t lo, int64_t hi, double* x,
                                                            Tri& T) {
  using V = typename L::V;
  constexpr int64_t W = L::W;
  const int64_t m = hi - lo;
  T.y.resize(static_cast<size_t>(m * W));
  T.mult.resize(static_cast<size_t>(m * W));
  double *Y = T.y.data(), *A = T.mult.data();  // of the back substitution
  using Chain = PivotChain<L>;
  V least = V{}, N = V{}, D = V{} + 1.0, Dn = V{};
  typename L::Mask in = L::within(V{} + 1.0);  // eight rows: every pivot in range
  V yprev = V{}, uprev = V{}, up2 = V{}, inv;  // row c - 1's up; transposed, up_(c-2) at row c
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t c = i - lo;
    V dn, out, u, acc = L::load(x + i * ld);
    if (!scan_row<L>(
            g, i, hi, [&](int64_t e) { return L::template weight<P>(g, t, tstride, e); },
            [&](int64_t j, V w) {
              if (!Transposed && j < g.n) acc += w * L::load(x + j * ld);  // absorption: 0
            },
            least, dn, u, out))
      return false;
    if (c == 0) {
      N = out;
    } else {  // row c - 1's pivot, then row c's exit and forward step
      if (!Chain::close(N, D, Dn, uprev, inv, in)) return false;
      const V mult = Chain::advance(N, D, Dn, out, dn, inv, c - 1);  // down_c / pivot_(c-1)
      if constexpr (Transposed) {
        yprev = (L::load(x + (i - 1) * ld) + up2 * yprev) * inv;  // z_(c-1)
        L::store(Y + (c - 1) * W, yprev);
        L::store(A + (c - 1) * W, mult);  // L^T: x_(c-1) = z_(c-1) + mult_c x_c
        up2 = uprev;
      } else {
        acc += mult * yprev;
        L::store(Y + (c - 1) * W, yprev * inv);
        L::store(A + (c - 1) * W, uprev * inv);
      }
    }
    uprev = u;
    if (!Transposed) yprev = acc;
  }
  // the last row has no rate up
  if (!Chain::close(N, D, Dn, V{}, inv, in) || L::any_negative(least) || !L::all(in)) return false;
  V next = Transposed ? (L::load(x + (hi - 1) * ld) + up2 * yprev) * inv : yprev * inv;
  L::store(x + (hi - 1) * ld, next);
  // Two rows per step, both from x of the row after them (x_(c-1) = Y_(c-1) + A_(c-1) Y_c +
  // A_(c-1) A_c x_(c+1)): one multiply-add on the chain per two rows.
  int64_t c = m - 2;
  for (; c >= 1; c -= 2) {
    const V Yc = L::load(Y + c * W), Ac = L::load(A + c * W);
    const V Yb = L::load(Y + (c - 1) * W), Ab = L::load(A + (c - 1) * W);
    const V y2 = Yb + Ab * Yc, a2 = Ab * Ac;
    L::store(x + (lo + c) * ld, Yc + Ac * next);
    next = y2 + a2 * next;
    L::store(x + (lo + c - 1) * ld, next);
  }
  if (c == 0) L::store(x + lo * ld, L::load(Y) + L::load(A) * next);
  if constexpr (Transposed) {
    for (int64_t i = lo; i < hi; ++i) {  // push along the edges that leave the block
      const V xi = L::load(x + i * ld);
      for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
        const int64_t j = g.indices[e];
        if (j >= hi && j < g.n)
          L::store(x + j * ld,
                   L::load(x + j * ld) + L::template weight<P>(g, t, tstride, e) * xi);
      }
    }
  }
  return true;
}

// `block_one_column` with the parameter count known at compile time where it is small.
template <typename L, bool Transposed>
__attribute__((always_inline)) inline bool one_column(const GraphView& g, const double* t,
                                                      int64_t tstride, int64_t ld, int64_t lo,
                                                      int64_t hi, double* x, Tri& T) {
  switch (g.p) {
    case 0:
      return block_one_column<L, 0, Transposed>(g, t, tstride, ld, lo, hi, x, T);
    case 1:
      return block_one_column<L, 1, Transposed>(g, t, tstride, ld, lo, hi, x, T);
    case 2:
      return block_one_column<L, 2, Transposed>(g, t, tstride, ld, lo, hi, x, T);
    case 3:
      return block_one_column<L, 3, Transposed>(g, t, tstride, ld, lo, hi, x, T);
    default:
      return block_one_column<L, -1, Transposed>(g, t, tstride, ld, lo, hi, x, T);
  }
}

// A tridiagonal block [lo, hi) for one theta row b and K columns (the several-column solves;
// `one_column` serves K = 1): one pass over the edges gathers the three diagonals and the
// right-hand side, then the Thomas algorithm with the pivots of `PivotChain`. The general band
// path costs ~2.5x more per edge on such blocks. Returns false, having written nothing to xb,
// when the block is not tridiagonal, holds a bad weight or has extreme pivots: the band path
// then answers (and names a bad weight or a singular block).
__attribute__((always_inline)) inline bool several_columns(const GraphView& g,
                                                           const double* theta, int64_t ld,
                                                           int64_t b, int64_t lo, int64_t hi,
                                                           double* xb, int64_t K, bool transpose,
                                                           Tri& T) {
  const int64_t m = hi - lo;
  const int64_t e0 = g.indptr[lo], e1 = g.indptr[hi];
  T.w.resize(static_cast<size_t>(e1 - e0));
  const double* wv = T.w.data();
  block_weights(g, theta + b * g.p, e0, e1, T.w.data());
  T.down.resize(static_cast<size_t>(m));
  T.up.resize(static_cast<size_t>(m));
  T.leave.resize(static_cast<size_t>(m));
  T.mult.resize(static_cast<size_t>(m));
  T.inv.resize(static_cast<size_t>(m));
  T.y.resize(static_cast<size_t>(m * K));
  double *down = T.down.data(), *up = T.up.data(), *leave = T.leave.data(), *y = T.y.data();
  double least = 0.0;
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t ii = i - lo;
    double* yi = y + ii * K;
    const double* xi = xb + i * ld + b * K;
    for (int64_t k = 0; k < K; ++k) yi[k] = xi[k];
    if (!scan_row<OneRow>(
            g, i, hi, [&](int64_t e) { return wv[e - e0]; },
            [&](int64_t j, double w) {
              if (transpose || j >= g.n) return;  // absorption contributes 0
              const double* xj = xb + j * ld + b * K;
              for (int64_t k = 0; k < K; ++k) yi[k] += w * xj[k];
            },
            least, down[ii], up[ii], leave[ii]))
      return false;
  }
  double* mult = T.mult.data();
  double* inv = T.inv.data();
  using Chain = PivotChain<OneRow>;
  double N = leave[0], D = 1.0, Dn = 0.0;
  bool in = true;
  for (int64_t c = 0; c < m; ++c) {
    if (!Chain::close(N, D, Dn, up[c], inv[c], in)) return false;
    if (c + 1 < m) mult[c + 1] = Chain::advance(N, D, Dn, leave[c + 1], down[c + 1], inv[c], c);
  }
  if (least < 0.0) return false;
  if (!transpose) {  // L y = b, then U y = y
    for (int64_t r = 1; r < m; ++r)
      for (int64_t k = 0; k < K; ++k) y[r * K + k] += mult[r] * y[(r - 1) * K + k];
    for (int64_t k = 0; k < K; ++k) y[(m - 1) * K + k] *= inv[m - 1];
    for (int64_t r = m - 2; r >= 0; --r) {
      const double a = up[r] * inv[r];
      for (int64_t k = 0; k < K; ++k) y[r * K + k] = y[r * K + k] * inv[r] + a * y[(r + 1) * K + k];
    }
  } else {  // U^T y = b, then L^T y = y
    for (int64_t k = 0; k < K; ++k) y[k] *= inv[0];
    for (int64_t r = 1; r < m; ++r) {
      const double a = up[r - 1] * inv[r];
      for (int64_t k = 0; k < K; ++k) y[r * K + k] = y[r * K + k] * inv[r] + a * y[(r - 1) * K + k];
    }
    for (int64_t r = m - 2; r >= 0; --r)
      for (int64_t k = 0; k < K; ++k) y[r * K + k] += mult[r + 1] * y[(r + 1) * K + k];
  }
  for (int64_t i = lo; i < hi; ++i) {
    const double* yi = y + (i - lo) * K;
    double* xi = xb + i * ld + b * K;
    for (int64_t k = 0; k < K; ++k) xi[k] = yi[k];
    if (!transpose) continue;
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {  // push along edges that leave
      const int64_t j = g.indices[e];
      if (j < hi || j >= g.n) continue;
      double* xj = xb + j * ld + b * K;
      for (int64_t k = 0; k < K; ++k) xj[k] += wv[e - e0] * yi[k];
    }
  }
  return true;
}

}  // namespace phasic::tri
