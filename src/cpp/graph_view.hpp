// The graph every kernel reads (a view of GraphArrays' arrays), the status a kernel returns, and
// the edge-weight helpers the sweeps share: weight of edge e for theta row b is
// base[e] + sum_q coef[e*p + q] * theta[b*p + q].
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

// Hot kernels are compiled for several instruction sets and picked at load time (GCC function
// multi-versioning): portable wheels, yet AVX-512/AVX2 where the CPU has them.
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define PHASIC_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PHASIC_MULTIVERSION
#endif

namespace phasic {

struct GraphView {
  int64_t n = 0;                     // transient vertices
  const int64_t* indptr = nullptr;   // n + 1
  const int32_t* indices = nullptr;  // E, in [0, n]
  const double* base = nullptr;      // E
  const double* coef = nullptr;      // E * p, row-major
  int64_t p = 0;                     // parameters
  int64_t n_scc = 0;
  const int64_t* scc_ptr = nullptr;  // n_scc + 1
};

// Mirrored in Python as phasic._core.STATUS; messages live in phasic.graph._native.
enum StatusCode : int32_t {
  kOk = 0,
  kBadWeight = 1,   // negative or NaN edge weight: where = edge, batch = theta row
  kSingular = 2,    // absorption unreachable (zero out-rate or singular SCC block): where = vertex
  kBadProbability = 4,  // discrete model: out-probabilities of vertex `where` sum to > 1
  kTooManySteps = 5,    // the series needs more steps (where) than the limit
  kBadTime = 6,         // a time (where) is NaN, infinite or negative (or not an integer jump)
};

struct Status {
  int32_t code = kOk;
  int64_t where = -1;
  int64_t batch = -1;
};

namespace detail {

// theta (B, p) -> (p, B) so that weights for all theta rows of one edge are a contiguous loop.
inline std::vector<double> transpose_theta(const double* theta, int64_t B, int64_t p) {
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

// Start-edge weights base + coef . theta of one theta row (p values) into w (S); returns their
// sum, or NaN when one is negative or NaN (theta outside the support).
inline double start_weights(int64_t S, int64_t p, const double* base, const double* coef,
                            const double* theta, double* w) {
  double total = 0.0;
  for (int64_t s = 0; s < S; ++s) {
    double v = base[s];
    for (int64_t q = 0; q < p; ++q) v += coef[s * p + q] * theta[q];
    if (!(v >= 0.0)) return std::numeric_limits<double>::quiet_NaN();
    w[s] = v;
    total += v;
  }
  return total;
}

}  // namespace detail
}  // namespace phasic
