// Poisson weights shared by the series (series.cpp) and the Coxian's stepping (steps.cpp).
#pragma once

#include <cmath>
#include <cstdint>

namespace phasic {

// Loader (2000), "Fast and accurate computation of binomial probabilities": the Poisson pmf as
// exp(-stirlerr(k) - bd0(k, mu)) / sqrt(2 pi k), accurate to a few ulps for any k and mu.
inline double stirlerr(double n) {
  constexpr double S0 = 1.0 / 12, S1 = 1.0 / 360, S2 = 1.0 / 1260, S3 = 1.0 / 1680,
                   S4 = 1.0 / 1188;
  if (n <= 15.0)
    return std::lgamma(n + 1.0) - (n + 0.5) * std::log(n) + n - 0.918938533204672741780329736406;
  const double nn = n * n;
  if (n > 500) return (S0 - S1 / nn) / n;
  if (n > 80) return (S0 - (S1 - S2 / nn) / nn) / n;
  if (n > 35) return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n;
  return (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n;
}

// x log(x / np) + np - x without cancellation.
inline double bd0(double x, double np) {
  if (std::fabs(x - np) < 0.1 * (x + np)) {
    double v = (x - np) / (x + np);
    double s = (x - np) * v;
    double ej = 2 * x * v;
    v *= v;
    for (int j = 1; j < 1000; ++j) {
      ej *= v;
      const double s1 = s + ej / (2 * j + 1);
      if (s1 == s) return s1;
      s = s1;
    }
    return s;
  }
  return x * std::log(x / np) + np - x;
}

inline double dpois(int64_t k, double mu) {
  if (mu == 0.0) return k == 0 ? 1.0 : 0.0;
  if (k == 0) return std::exp(-mu);
  const double x = static_cast<double>(k);
  return std::exp(-stirlerr(x) - bd0(x, mu)) / std::sqrt(6.283185307179586476925286766559 * x);
}

// Upper end of the spread of Poisson(mu) kept: the mass beyond mu +/- spread is below 1e-300.
inline double poisson_spread(double mu) { return 40.0 * std::sqrt(mu) + 40.0; }

}  // namespace phasic
