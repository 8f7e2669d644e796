// XLA FFI handlers (CPU) over the kernels.  Graph arrays are operands (never re-serialized).
//
// Batching: every per-row operand (theta, alpha, times, right-hand sides, cotangents) may carry
// leading batch dimensions, as `jax.ffi.ffi_call(..., vmap_method="expand_dims")` produces under
// vmap; an operand's row count is the product of its leading dimensions and must be 1 (shared)
// or B (one per row).  Graph operands keep size-1 leading dimensions and are read as flat arrays.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <string>
#include <vector>

#include "ffi.hpp"
#include "kernels.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

// The operand types the Python side passes (GraphArrays' dtypes), checked at compile time as in
// jax's FFI examples.
static_assert(std::is_same_v<ffi::NativeType<ffi::S64>, int64_t>, "indptr, scc_ptr: int64");
static_assert(std::is_same_v<ffi::NativeType<ffi::S32>, int32_t>, "indices: int32");
static_assert(std::is_same_v<ffi::NativeType<ffi::F64>, double>, "weights and values: float64");

namespace phasic {
namespace {

using I64 = ffi::Buffer<ffi::S64>;
using I32 = ffi::Buffer<ffi::S32>;
using F64 = ffi::Buffer<ffi::F64>;
using F64Out = ffi::ResultBuffer<ffi::F64>;

template <typename Buf>
int64_t last_dim(const Buf& b, size_t from_end = 0) {
  auto d = b.dimensions();
  return d.size() > from_end ? d[d.size() - 1 - from_end] : 1;
}

template <typename Buf>
int64_t rows(const Buf& b, size_t core) {
  auto d = b.dimensions();
  int64_t r = 1;
  for (size_t k = 0; k + core < d.size(); ++k) r *= d[k];
  return r;
}

struct Graph {
  GraphView g;
  ffi::Error error = ffi::Error::Success();
};

Graph view(const I64& indptr, const I32& indices, const F64& base, const F64& coef,
           const I64& scc_ptr) {
  Graph out;
  GraphView& g = out.g;
  g.n = static_cast<int64_t>(indptr.element_count()) - 1;
  g.indptr = indptr.typed_data();
  g.indices = indices.typed_data();
  g.base = base.typed_data();
  g.p = last_dim(coef);
  g.coef = coef.typed_data();
  g.n_scc = static_cast<int64_t>(scc_ptr.element_count()) - 1;
  g.scc_ptr = scc_ptr.typed_data();
  const int64_t E = static_cast<int64_t>(indices.element_count());
  if (g.n < 0 || static_cast<int64_t>(base.element_count()) != E ||
      (g.p > 0 && static_cast<int64_t>(coef.element_count()) != E * g.p))
    out.error = ffi::Error::InvalidArgument("phasic: inconsistent graph operands");
  return out;
}

// Under jit a row that fails (a negative or NaN weight, an unreachable absorption, a bad time,
// too many steps) comes back NaN and the call goes on, so a sampler can reject the point; the
// messages for eager calls live in one Python table (phasic.graph._native). A status reaching
// here is a bug in a kernel, not bad input.
ffi::Error unexpected(const Status& s) {
  if (s.code == kOk) return ffi::Error::Success();
  return ffi::Error::Internal("phasic: native kernel returned status " + std::to_string(s.code) +
                              " in row mode; please report this");
}

// Leading (batch) dimensions of an operand whose last `core` dimensions are one row.
template <typename Buf>
std::vector<int64_t> lead_dims(const Buf& b, size_t core) {
  auto d = b.dimensions();
  const size_t m = d.size() > core ? d.size() - core : 0;
  return std::vector<int64_t>(d.begin(), d.begin() + m);
}

// Broadcast shape of leading dimensions (numpy rules, right-aligned), as nested vmaps produce
// (theta batched by the outer vmap, times by the inner one); false if they do not broadcast.
bool broadcast_shape(const std::vector<std::vector<int64_t>>& leads, std::vector<int64_t>& shape) {
  size_t m = 0;
  for (const auto& l : leads) m = std::max(m, l.size());
  shape.assign(m, 1);
  for (const auto& l : leads)
    for (size_t k = 0; k < l.size(); ++k) {
      int64_t& d = shape[m - l.size() + k];
      if (l[k] == d || l[k] == 1) continue;
      if (d != 1) return false;
      d = l[k];
    }
  return true;
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

// Rows of `data` (leading dims `lead`, `width` values each) laid out as (prod(shape), width)
// under broadcasting; returns data itself when nothing needs copying.
const double* broadcast_rows(const double* data, const std::vector<int64_t>& lead,
                             const std::vector<int64_t>& shape, int64_t width,
                             std::vector<double>& store) {
  const size_t m = shape.size();
  std::vector<int64_t> dims(m, 1);
  for (size_t k = 0; k < lead.size(); ++k) dims[m - lead.size() + k] = lead[k];
  if (dims == shape) return data;
  const int64_t B = product(shape);
  store.resize(static_cast<size_t>(B * width));
  std::vector<int64_t> idx(m, 0);
  for (int64_t r = 0; r < B; ++r) {
    int64_t src = 0;
    for (size_t k = 0; k < m; ++k) src = src * dims[k] + (dims[k] == 1 ? 0 : idx[k]);
    std::memcpy(&store[r * width], data + src * width, sizeof(double) * width);
    for (size_t k = m; k-- > 0;) {  // next multi-index, last dimension fastest
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return store.data();
}

ffi::Error SolveImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, F64 theta, F64 rhs,
                     F64Out out, bool transpose) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t K = last_dim(rhs), n = g.n;
  if (last_dim(rhs, 1) != n || last_dim(theta) != g.p)
    return ffi::Error::InvalidArgument("phasic solve: operand shapes do not match the graph");
  std::vector<int64_t> shape;
  const auto lr = lead_dims(rhs, 2);
  if (!broadcast_shape({lead_dims(theta, 1), lr}, shape) || rows(*out, 2) != product(shape))
    return ffi::Error::InvalidArgument("phasic solve: inconsistent batch dimensions");
  const int64_t B = product(shape);
  std::vector<double> ts, rs;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, g.p, ts);
  // One shared right-hand side is read in place by the kernel (it packs theta chunks of the
  // (B, n, K) operand itself); per-row ones are laid out as (B, n, K) first.
  const bool shared = product(lr) == 1 && B > 1;
  const double* r = shared ? rhs.typed_data()
                           : broadcast_rows(rhs.typed_data(), lr, shape, n * K, rs);
  double* x = out->typed_data();
  if (solve(g, th, B, r, K, x, transpose, /*batch_major=*/true, shared).code == kOk)
    return ffi::Error::Success();
  // Some row failed: solve row by row, failed rows NaN (rare, so the batch stays one sweep).
  const int64_t nk = n * K;
  for (int64_t b = 0; b < B; ++b) {
    if (solve(g, th + b * g.p, 1, r + (shared ? 0 : b * nk), K, x + b * nk, transpose).code != kOk)
      std::fill(x + b * nk, x + (b + 1) * nk, std::numeric_limits<double>::quiet_NaN());
  }
  return ffi::Error::Success();
}

ffi::Error CoefMatvecImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, F64 x,
                          F64Out out, bool transpose) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t K = last_dim(x), B = rows(x, 2);
  if (last_dim(x, 1) != g.n || rows(*out, 3) != B || last_dim(*out) != g.p ||
      last_dim(*out, 1) != K || last_dim(*out, 2) != g.n)
    return ffi::Error::InvalidArgument("phasic coef_matvec: operand shapes do not match the graph");
  coef_matvec(g, B, x.typed_data(), K, out->typed_data(), transpose);
  return ffi::Error::Success();
}

// y = A x (or A^T x) per row: theta (..., p), x and y (..., n, K); a row with a bad weight is NaN.
ffi::Error MatvecImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, F64 theta, F64 x,
                      F64Out out, bool transpose) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t K = last_dim(x), n = g.n;
  if (last_dim(x, 1) != n || last_dim(theta) != g.p)
    return ffi::Error::InvalidArgument("phasic matvec: operand shapes do not match the graph");
  std::vector<int64_t> shape;
  const auto lx = lead_dims(x, 2);
  if (!broadcast_shape({lead_dims(theta, 1), lx}, shape) || rows(*out, 2) != product(shape))
    return ffi::Error::InvalidArgument("phasic matvec: inconsistent batch dimensions");
  const int64_t B = product(shape), nk = n * K;
  std::vector<double> ts, xs;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, g.p, ts);
  const double* xr = broadcast_rows(x.typed_data(), lx, shape, nk, xs);
  double* y = out->typed_data();
  for (int64_t b = 0; b < B; ++b) {  // (n, K) per row is the kernel's (n, 1, K) layout
    if (matvec(g, th + b * g.p, 1, xr + b * nk, K, y + b * nk, transpose).code != kOk)
      std::fill(y + b * nk, y + (b + 1) * nk, std::numeric_limits<double>::quiet_NaN());
  }
  return ffi::Error::Success();
}

// exp(M Δ) u per row (propagate.cpp): theta (..., p), u (..., n, k, R), delta and floor (..., R),
// r (n, R) shared; y like u, steps (...).
ffi::Error PropagateImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, F64 theta,
                         F64 u, F64 delta, F64 floor, F64 r, F64Out out, F64Out steps,
                         bool transpose, int64_t coupling, int64_t max_steps) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t R = last_dim(u), k = last_dim(u, 1), n = g.n, S = n * k * R;
  std::vector<int64_t> shape;
  if (last_dim(u, 2) != n || last_dim(theta) != g.p || last_dim(delta) != R ||
      last_dim(floor) != R || static_cast<int64_t>(r.element_count()) != n * R ||
      coupling >= g.p ||
      !broadcast_shape({lead_dims(theta, 1), lead_dims(u, 3), lead_dims(delta, 1),
                        lead_dims(floor, 1)},
                       shape) ||
      rows(*out, 3) != product(shape) || static_cast<int64_t>(steps->element_count()) != product(shape))
    return ffi::Error::InvalidArgument("phasic propagate: inconsistent operand shapes");
  const int64_t B = product(shape);
  std::vector<double> ts, us, ds, fs;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, g.p, ts);
  const double* ur = broadcast_rows(u.typed_data(), lead_dims(u, 3), shape, S, us);
  const double* dl = broadcast_rows(delta.typed_data(), lead_dims(delta, 1), shape, R, ds);
  const double* fl = broadcast_rows(floor.typed_data(), lead_dims(floor, 1), shape, R, fs);
  for (int64_t b = 0; b < B; ++b)
    propagate(g, th + b * g.p, r.typed_data(), k, R, coupling, transpose, ur + b * S, dl + b * R,
              fl + b * R, max_steps, out->typed_data() + b * S, steps->typed_data() + b);
  return ffi::Error::Success();
}

ffi::Error PropagateVjpImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, F64 theta,
                            F64 u, F64 delta, F64 steps, F64 y, F64 ybar, F64 r, F64Out ubar,
                            F64Out thbar, F64Out dbar, bool transpose, int64_t coupling,
                            int64_t store_limit) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t R = last_dim(u), k = last_dim(u, 1), n = g.n, S = n * k * R, p = g.p;
  std::vector<int64_t> shape;
  if (last_dim(u, 2) != n || last_dim(theta) != p || last_dim(delta) != R ||
      static_cast<int64_t>(r.element_count()) != n * R || coupling >= p ||
      !broadcast_shape({lead_dims(theta, 1), lead_dims(u, 3), lead_dims(delta, 1),
                        lead_dims(steps, 0), lead_dims(y, 3), lead_dims(ybar, 3)},
                       shape) ||
      rows(*ubar, 3) != product(shape) || rows(*thbar, 1) != product(shape) ||
      rows(*dbar, 1) != product(shape))
    return ffi::Error::InvalidArgument("phasic propagate_vjp: inconsistent operand shapes");
  const int64_t B = product(shape);
  std::vector<double> ts, us, ds, ss, ys, bs;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, p, ts);
  const double* ur = broadcast_rows(u.typed_data(), lead_dims(u, 3), shape, S, us);
  const double* dl = broadcast_rows(delta.typed_data(), lead_dims(delta, 1), shape, R, ds);
  const double* st = broadcast_rows(steps.typed_data(), lead_dims(steps, 0), shape, 1, ss);
  const double* yr = broadcast_rows(y.typed_data(), lead_dims(y, 3), shape, S, ys);
  const double* yb = broadcast_rows(ybar.typed_data(), lead_dims(ybar, 3), shape, S, bs);
  for (int64_t b = 0; b < B; ++b)
    propagate_vjp(g, th + b * p, r.typed_data(), k, R, coupling, transpose, ur + b * S,
                  dl + b * R, static_cast<int64_t>(st[b]), yr + b * S, yb + b * S,
                  ubar->typed_data() + b * S, thbar->typed_data() + b * p,
                  dbar->typed_data() + b * R, store_limit);
  return ffi::Error::Success();
}

// One epoch of a state distribution per row (carry.cpp): theta (..., p), a (..., n), delta and
// floor (...); y and occ like a, steps (...).
ffi::Error CarryImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, F64 theta, F64 a,
                     F64 delta, F64 floor, F64Out y, F64Out occ, F64Out steps,
                     int64_t max_steps) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t n = g.n;
  std::vector<int64_t> shape;
  if (last_dim(a) != n || last_dim(theta) != g.p ||
      !broadcast_shape({lead_dims(theta, 1), lead_dims(a, 1), lead_dims(delta, 0),
                        lead_dims(floor, 0)},
                       shape) ||
      rows(*y, 1) != product(shape) || rows(*occ, 1) != product(shape) ||
      static_cast<int64_t>(steps->element_count()) != product(shape))
    return ffi::Error::InvalidArgument("phasic carry: inconsistent operand shapes");
  const int64_t B = product(shape);
  std::vector<double> ts, as, ds, fs;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, g.p, ts);
  const double* ar = broadcast_rows(a.typed_data(), lead_dims(a, 1), shape, n, as);
  const double* dl = broadcast_rows(delta.typed_data(), lead_dims(delta, 0), shape, 1, ds);
  const double* fl = broadcast_rows(floor.typed_data(), lead_dims(floor, 0), shape, 1, fs);
  for (int64_t b = 0; b < B; ++b)
    carry(g, th + b * g.p, ar + b * n, dl[b], fl[b], max_steps, y->typed_data() + b * n,
          occ->typed_data() + b * n, steps->typed_data() + b);
  return ffi::Error::Success();
}

ffi::Error CarryVjpImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, F64 theta, F64 a,
                        F64 delta, F64 steps, F64 y, F64 occ, F64 ybar, F64 obar, F64Out abar,
                        F64Out thbar, F64Out dbar) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t n = g.n, p = g.p;
  std::vector<int64_t> shape;
  if (last_dim(a) != n || last_dim(theta) != p ||
      !broadcast_shape({lead_dims(theta, 1), lead_dims(a, 1), lead_dims(delta, 0),
                        lead_dims(steps, 0), lead_dims(y, 1), lead_dims(occ, 1),
                        lead_dims(ybar, 1), lead_dims(obar, 1)},
                       shape) ||
      rows(*abar, 1) != product(shape) || rows(*thbar, 1) != product(shape) ||
      static_cast<int64_t>(dbar->element_count()) != product(shape))
    return ffi::Error::InvalidArgument("phasic carry_vjp: inconsistent operand shapes");
  const int64_t B = product(shape);
  std::vector<double> ts, as, ds, ss, ys, os, yb, ob;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, p, ts);
  const double* ar = broadcast_rows(a.typed_data(), lead_dims(a, 1), shape, n, as);
  const double* dl = broadcast_rows(delta.typed_data(), lead_dims(delta, 0), shape, 1, ds);
  const double* st = broadcast_rows(steps.typed_data(), lead_dims(steps, 0), shape, 1, ss);
  const double* yr = broadcast_rows(y.typed_data(), lead_dims(y, 1), shape, n, ys);
  const double* orr = broadcast_rows(occ.typed_data(), lead_dims(occ, 1), shape, n, os);
  const double* ybr = broadcast_rows(ybar.typed_data(), lead_dims(ybar, 1), shape, n, yb);
  const double* obr = broadcast_rows(obar.typed_data(), lead_dims(obar, 1), shape, n, ob);
  for (int64_t b = 0; b < B; ++b)
    carry_vjp(g, th + b * p, ar + b * n, dl[b], static_cast<int64_t>(st[b]), yr + b * n,
              orr + b * n, ybr + b * n, obr + b * n, abar->typed_data() + b * n,
              thbar->typed_data() + b * p, dbar->typed_data() + b);
  return ffi::Error::Success();
}

// A Coxian's time in each phase and phase masses at each u (reduce.cpp): rates (2M) and mass0
// (1) shared, u (...); occ and x (..., M). NaN where u is bad or the series too long.
ffi::Error CoxianStateImpl(F64 rates, F64 mass0, F64 u, F64Out occ, F64Out x, int64_t max_steps) {
  const int64_t M = static_cast<int64_t>(rates.element_count()) / 2;
  const int64_t U = static_cast<int64_t>(u.element_count());
  if (static_cast<int64_t>(rates.element_count()) != 2 * M || mass0.element_count() != 1 ||
      static_cast<int64_t>(occ->element_count()) != U * M ||
      static_cast<int64_t>(x->element_count()) != U * M)
    return ffi::Error::InvalidArgument("phasic coxian_state: inconsistent operand shapes");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t k = 0; k < U; ++k) {
    double* o = occ->typed_data() + k * M;
    double* xs = x->typed_data() + k * M;
    if (!coxian_state(rates.typed_data(), M, mass0.typed_data()[0], u.typed_data()[k], max_steps,
                      xs, o)) {
      std::fill(o, o + M, nan);
      std::fill(xs, xs + M, nan);
    }
  }
  return ffi::Error::Success();
}

SeriesSpec spec_of(bool discrete, bool density, double tol, int64_t max_steps, int64_t T,
                   bool log) {
  SeriesSpec spec;
  spec.log = log;
  spec.discrete = discrete;
  spec.kind = density ? kDensity : kSurvival;
  spec.tol = tol;
  spec.max_steps = max_steps;
  spec.T = T;
  return spec;
}

// The initial distribution of each theta row from the start edges (targets s_idx, into the
// absorbing vertex n for the defect; weights s_base + s_coef theta): alpha (B, n) and, with
// `tangents`, d alpha / d theta (B, n, p).  Computed here rather than in JAX so the jitted
// model is one custom call (XLA compiles a scatter and a support check in ~60 ms, more than the
// whole first call of a small model should take).  A row whose start weights are negative, NaN
// or all 0 is outside the support: it gets the placeholder alpha = e_0 and bad[b] = 1, and the
// caller turns its values to NaN.
struct Start {
  std::vector<double> alpha, dalpha;
  std::vector<char> bad;
};

Start start_rows(const I32& s_idx, const F64& s_base, const F64& s_coef, const double* th,
                 int64_t B, int64_t n, int64_t p, bool tangents) {
  const int64_t S = static_cast<int64_t>(s_idx.element_count());
  const int32_t* idx = s_idx.typed_data();
  const double* sb = s_base.typed_data();
  const double* sc = s_coef.typed_data();
  Start out;
  out.alpha.assign(static_cast<size_t>(B * n), 0.0);
  out.bad.assign(static_cast<size_t>(B), 0);
  if (tangents) out.dalpha.assign(static_cast<size_t>(B * n * p), 0.0);
  std::vector<double> w(static_cast<size_t>(S)), csum(static_cast<size_t>(p), 0.0);
  for (int64_t s = 0; s < S; ++s)  // sum_s c_s: the same for every row
    for (int64_t q = 0; q < p; ++q) csum[q] += sc[s * p + q];
  for (int64_t b = 0; b < B; ++b) {
    const double total = detail::start_weights(S, p, sb, sc, th + b * p, w.data());
    double* a = out.alpha.data() + b * n;
    if (!(total > 0.0) || !std::isfinite(total)) {  // NaN: a negative or NaN weight
      out.bad[b] = 1;
      if (n > 0) a[0] = 1.0;
      continue;
    }
    for (int64_t s = 0; s < S; ++s)
      if (idx[s] < n) a[idx[s]] += w[s] / total;
    if (!tangents) continue;
    // d alpha_i = (sum_{s -> i} c_s - alpha_i sum_s c_s) / total
    double* da = out.dalpha.data() + b * n * p;
    for (int64_t s = 0; s < S; ++s)
      if (idx[s] < n)
        for (int64_t q = 0; q < p; ++q) da[idx[s] * p + q] += sc[s * p + q] / total;
    for (int64_t i = 0; i < n; ++i)
      if (a[i] != 0.0)
        for (int64_t q = 0; q < p; ++q) da[i * p + q] -= a[i] * csum[q] / total;
  }
  return out;
}

void nan_bad_rows(const std::vector<char>& bad, int64_t width, double* out) {
  for (size_t b = 0; b < bad.size(); ++b)
    if (bad[b])
      std::fill(out + b * width, out + (b + 1) * width, std::numeric_limits<double>::quiet_NaN());
}

// Under jit a row that fails (a weight < 0 or NaN, a bad time, too many steps) becomes NaN
// instead of an exception, so a sampler can reject the point: the kernels run in row mode.
ffi::Error SeriesImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, I32 s_idx,
                      F64 s_base, F64 s_coef, F64 theta, F64 times, F64Out out, bool discrete,
                      bool density, double tol, int64_t max_steps, bool log) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t T = last_dim(times), n = g.n;
  std::vector<int64_t> shape;
  const auto lt = lead_dims(times, 1);
  if (!broadcast_shape({lead_dims(theta, 1), lt}, shape) || rows(*out, 1) != product(shape) ||
      last_dim(theta) != g.p ||
      static_cast<int64_t>(s_coef.element_count()) != s_idx.element_count() * g.p)
    return ffi::Error::InvalidArgument("phasic series: inconsistent operand shapes");
  const int64_t B = product(shape);
  std::vector<double> ts, tms;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, g.p, ts);
  const Start st = start_rows(s_idx, s_base, s_coef, th, B, n, g.p, false);
  const double* al = st.alpha.data();
  SeriesSpec spec = spec_of(discrete, density, tol, max_steps, T, log);
  std::vector<int32_t> codes(static_cast<size_t>(B));
  spec.row_codes = codes.data();
  double* o = out->typed_data();
  if (product(lt) == 1 || B == 1) {  // time points shared by every row: one sweep
    spec.times = times.typed_data();
    ffi::Error e = unexpected(series(g, th, B, al, spec, o));
    nan_bad_rows(st.bad, T, o);
    return e;
  }
  const double* tm = broadcast_rows(times.typed_data(), lt, shape, T, tms);
  for (int64_t b = 0; b < B; ++b) {  // per-row time points: one sweep per row
    spec.times = tm + b * T;
    spec.row_codes = codes.data() + b;
    Status s = series(g, th + b * g.p, 1, al + b * n, spec, o + b * T);
    if (s.code != kOk) return unexpected(s);
  }
  nan_bad_rows(st.bad, T, o);
  return ffi::Error::Success();
}

ffi::Error SeriesJacImpl(I64 indptr, I32 indices, F64 base, F64 coef, I64 scc_ptr, I32 s_idx,
                         F64 s_base, F64 s_coef, F64 theta, F64 times, F64Out out, F64Out jac,
                         F64Out dfdt, bool discrete, bool density, double tol, int64_t max_steps,
                         bool log) {
  Graph G = view(indptr, indices, base, coef, scc_ptr);
  if (G.error.failure()) return G.error;
  const GraphView& g = G.g;
  const int64_t T = last_dim(times), n = g.n, p = g.p;
  std::vector<int64_t> shape;
  const auto lt = lead_dims(times, 1);
  if (!broadcast_shape({lead_dims(theta, 1), lt}, shape) || rows(*out, 1) != product(shape) ||
      rows(*jac, 2) != product(shape) || rows(*dfdt, 1) != product(shape) ||
      last_dim(theta) != p ||
      static_cast<int64_t>(s_coef.element_count()) != s_idx.element_count() * p)
    return ffi::Error::InvalidArgument("phasic series_jac: inconsistent operand shapes");
  const int64_t B = product(shape);
  std::vector<double> ts, tms;
  const double* th = broadcast_rows(theta.typed_data(), lead_dims(theta, 1), shape, p, ts);
  const Start st = start_rows(s_idx, s_base, s_coef, th, B, n, p, true);
  const double* al = st.alpha.data();
  const double* da = st.dalpha.data();
  SeriesSpec spec = spec_of(discrete, density, tol, max_steps, T, log);
  std::vector<int32_t> codes(static_cast<size_t>(B));
  spec.row_codes = codes.data();
  double *o = out->typed_data(), *j = jac->typed_data(), *d = dfdt->typed_data();
  if (product(lt) == 1 || B == 1) {
    spec.times = times.typed_data();
    ffi::Error e = unexpected(series_jac(g, th, B, al, da, spec, o, j, d));
    nan_bad_rows(st.bad, T, o);
    return e;
  }
  const double* tm = broadcast_rows(times.typed_data(), lt, shape, T, tms);
  for (int64_t b = 0; b < B; ++b) {
    spec.times = tm + b * T;
    spec.row_codes = codes.data() + b;
    Status s = series_jac(g, th + b * p, 1, al + b * n, da + b * n * p, spec, o + b * T,
                          j + b * T * p, d + b * T);
    if (s.code != kOk) return unexpected(s);
  }
  nan_bad_rows(st.bad, T, o);
  return ffi::Error::Success();
}

}  // namespace

#define PHASIC_GRAPH_ARGS                                                                   \
  .Arg<I64>()      /* indptr */                                                             \
      .Arg<I32>()  /* indices */                                                            \
      .Arg<F64>()  /* base */                                                               \
      .Arg<F64>()  /* coef */                                                               \
      .Arg<I64>()  /* scc_ptr */

#define PHASIC_START_ARGS                                                                   \
  .Arg<I32>()      /* start edge targets */                                                 \
      .Arg<F64>()  /* start base weights */                                                 \
      .Arg<F64>()  /* start coefficients */

XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicSolve, SolveImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS.Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Attr<bool>("transpose"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicMatvec, MatvecImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS.Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Attr<bool>("transpose"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicPropagate, PropagateImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS.Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Attr<bool>("transpose")
                                  .Attr<int64_t>("coupling")
                                  .Attr<int64_t>("max_steps"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicPropagateVjp, PropagateVjpImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS.Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Attr<bool>("transpose")
                                  .Attr<int64_t>("coupling")
                                  .Attr<int64_t>("store_limit"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicCarry, CarryImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS.Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Attr<int64_t>("max_steps"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicCarryVjp, CarryVjpImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS.Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicCoxianState, CoxianStateImpl,
                              ffi::Ffi::Bind()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Attr<int64_t>("max_steps"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicCoefMatvec, CoefMatvecImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS.Arg<F64>()
                                  .Ret<F64>()
                                  .Attr<bool>("transpose"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicSeries, SeriesImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS PHASIC_START_ARGS
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Attr<bool>("discrete")
                                  .Attr<bool>("density")
                                  .Attr<double>("tol")
                                  .Attr<int64_t>("max_steps")
                                  .Attr<bool>("log"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(PhasicSeriesJac, SeriesJacImpl,
                              ffi::Ffi::Bind() PHASIC_GRAPH_ARGS PHASIC_START_ARGS
                                  .Arg<F64>()
                                  .Arg<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Ret<F64>()
                                  .Attr<bool>("discrete")
                                  .Attr<bool>("density")
                                  .Attr<double>("tol")
                                  .Attr<int64_t>("max_steps")
                                  .Attr<bool>("log"));
}  // namespace phasic
