// Eight doubles in a vector register (GCC vector extensions): AVX-512, AVX2 or SSE2 code in the
// respective multiversioned clones of the sweeps, since the compiler does not vectorize
// fixed-width loops of that shape itself. Loads and stores go through memcpy (no alignment).
#pragma once

#include <cstdint>
#include <cstring>

namespace phasic::simd {

typedef double v8d __attribute__((vector_size(64)));
typedef int64_t v8l __attribute__((vector_size(64)));

inline v8d load8(const double* p) {
  v8d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(double* p, v8d v) { std::memcpy(p, &v, sizeof v); }

}  // namespace phasic::simd
