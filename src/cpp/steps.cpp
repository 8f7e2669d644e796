// Distribution functions of a Coxian at many time points by stepping its phase masses from one
// time point to the next, x(u') = x(u) exp(C (u' - u)), each step by uniformization.
//
// The series sweep (series.cpp) pays, per time point, the scalar work of its Poisson window
// ([0, mu + ~7 sqrt(mu)] of mu = lambda t, the left end cut only past mu ~ 1600); for thousands
// of time points on a short Coxian (a theta batch on the clock, one series of B T points) that
// window work is the whole cost. A step across a gap d costs ~(lambda d + 6 sqrt(lambda d) + 10)
// phase updates instead, so sorted, dense time points cost little each.
//
// Accuracy: the uniformized matrix P = I + C / lambda is non-negative, and mass only moves to
// later phases, so (x P^k)_j <= S_j, the mass of phase j and of the phases that flow into it, for
// every k. A step stops after term K when P(Pois(lambda d) > K) S_j <= eps y_j for every phase j
// (y the partial sum), so every phase mass is accurate to eps relative to itself. Non-negative
// linear maps carry each component's relative error unchanged, so after g steps each mass is
// accurate to g (eps + a few ulps); eps = 1e-4 tol / g at most, so rounding dominates (~1e-16
// per step). Densities and survivals are non-negative combinations of the masses; the cdf is
// the absorbed mass (carried as one more component) while that is below half, then 1 - the
// transient mass: each accurate relative to itself.
//
// Chains: up to kLaneMin points, one chain from time 0 (restarted every kChain points). Beyond,
// the sorted points are cut into segments of at most kChain; one chain from time 0 reaches each
// segment's first point, and kLanes segments are stepped in lock step, one per vector lane
// (advance_lanes), gaps wider than kLaneMu on their own.
//
// Gradients (coxian_rows_jac): eight theta rows stepped at once with their forward tangents,
// dv_(k+1) = dv_k P + v_k dP (lambda held fixed: the series is exact for any lambda >= the
// rates, and so is its derivative), stopped where the masses stop, as series_jac's sweep does.
//
// Far tails: a step is cut into pieces of at most kPieceMu (lambda d), after each of which the
// masses are rescaled by a power of two when below kRescaleBelow (density and survival; the
// power is kept as an integer, so the value is exact to the last bit): they never underflow.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels.hpp"
#include "poisson.hpp"
#include "simd.hpp"

namespace phasic {
namespace {

constexpr int64_t kChain = 256;    // gaps stepped before a chain restarts from time 0
constexpr int64_t kReanchor = 64;  // a step's Poisson weight is recomputed every so many terms
constexpr double kRescaleBelow = 0x1p-200;  // masses below are rescaled (density, survival)
constexpr double kPieceMu = 256.0;           // the widest step (lambda d) between rescalings
constexpr int64_t kPad = 16;       // phase arrays padded with zeros to at least this length
constexpr int kLanes = 8;          // chains stepped in lock step (advance_lanes)
constexpr double kLaneMu = 16.0;   // the largest gap (lambda d) a lane steps in lock step
constexpr int64_t kLaneMin = 256;  // time points from which the lanes pay
static_assert(kLaneMin <= kChain, "a chain below kLaneMin points never restarts");

// The power e by which masses whose largest is mx are rescaled (times 2^-e) when they grew
// small, or 0 when none is due.
inline int rescale_power(double mx) {
  return mx > 0.0 && mx < kRescaleBelow ? std::ilogb(mx) : 0;
}

// The Coxian's uniformized step: phase m keeps `stay`, sends `on` to m + 1 and `out` to
// absorption (per step of rate lambda); `exit` its exit rate (the density's weights).
struct Coxian {
  int64_t M = 0;
  double lam = 0.0;
  std::vector<double> stay, on, out, exit;

  bool init(const double* rates, int64_t M_) {
    M = M_;
    lam = 0.0;
    for (int64_t m = 0; m < M; ++m) {
      const double f = rates[2 * m], e = rates[2 * m + 1];
      if (!(f >= 0.0 && e >= 0.0) || !std::isfinite(f + e)) return false;
      lam = std::max(lam, f + e);
    }
    if (!(lam > 0.0)) return false;
    const size_t n = static_cast<size_t>(std::max<int64_t>(M, kPad));  // padding: zeros
    stay.assign(n, 0.0);
    on.assign(n, 0.0);
    out.assign(n, 0.0);
    exit.assign(n, 0.0);
    for (int64_t m = 0; m < M; ++m) {
      // the last phase's way on is an exit (its edge goes to absorption)
      const double f = m + 1 < M ? rates[2 * m] : 0.0;
      const double e = rates[2 * m + 1] + (m + 1 < M ? 0.0 : rates[2 * m]);
      stay[m] = 1.0 - (f + e) / lam;
      on[m] = f / lam;
      out[m] = e / lam;
      exit[m] = e;
    }
    return true;
  }
};

// 1 / k, from a table for the first terms of a step (its weights' ratio recurrence).
inline double inv_k(int64_t k) {
  static const std::array<double, 256> table = [] {
    std::array<double, 256> t{};
    for (size_t i = 1; i < t.size(); ++i) t[i] = 1.0 / static_cast<double>(i);
    return t;
  }();
  return k < 256 ? table[static_cast<size_t>(k)] : 1.0 / static_cast<double>(k);
}

// Phase masses x (padded with zeros to kPad), the absorbed mass xa (tracked for the cdf) and
// scratch for long Coxians.
struct State {
  std::vector<double> x, v, y, S;
  double xa = 0.0, u = 0.0;  // absorbed mass; time
  int64_t scale = 0;         // the masses are 2^-scale times their value
  explicit State(int64_t M) {
    const size_t n = static_cast<size_t>(std::max<int64_t>(M, kPad));
    x.assign(n, 0.0);
    v.assign(n, 0.0);
    y.assign(n, 0.0);
    S.assign(n, 0.0);
  }
};

// x <- x exp(C delta) for mu = lambda delta, each mass (and xa when `absorbed`) to eps relative
// to itself. W phases: N at compile time (padding phases hold nothing and stay empty), so the
// vectors live in registers across the terms (through memory, each term would wait on a store
// of the last), or M at run time (N = 0).
template <int N>
__attribute__((always_inline)) inline void advance_body(const Coxian& c, double mu, double eps,
                                                        bool absorbed, State& s) {
  const int64_t W = N > 0 ? N : c.M;
  constexpr int kLocal = N > 0 ? N : 1;
  double xl[kLocal], Sl[kLocal], yl[kLocal], vl[kLocal];
  double* x = N > 0 ? xl : s.x.data();
  double* S = N > 0 ? Sl : s.S.data();
  double* y = N > 0 ? yl : s.y.data();
  double* v = N > 0 ? vl : s.v.data();
  const double *st = c.stay.data(), *on = c.on.data(), *out = c.out.data();
  for (int64_t m = 0; N > 0 && m < W; ++m) x[m] = s.x[static_cast<size_t>(m)];
  const double spread = poisson_spread(mu);
  const int64_t L = std::max<int64_t>(0, static_cast<int64_t>(std::floor(mu - spread)));
  const int64_t R = static_cast<int64_t>(std::ceil(mu + spread));
  // S_j bounds every later mass of phase j: its own and what can flow in from earlier phases.
  // r = min_j x_j / S_j: since y_j >= w_0 x_j, tail <= eps w_0 r settles every phase at once
  // (r = 0 when a phase is still empty: the test then goes phase by phase).
  double total = s.xa, r = 1.0;
  for (int64_t m = 0; m < W; ++m) {
    S[m] = x[m] + (m > 0 && on[m - 1] > 0.0 ? S[m - 1] : 0.0);
    total += x[m];
  }
  for (int64_t m = 0; m < W; ++m) r = std::min(r, S[m] > 0.0 ? x[m] / S[m] : 1.0);
  if (absorbed && total > 0.0) r = std::min(r, s.xa / total);
  double va = s.xa, ya = 0.0;
  // v <- v P in place (from the last phase back, so each reads its predecessor's old mass)
  auto step = [&]() {
    if (absorbed) {
      double a = 0.0;
      for (int64_t m = 0; m < W; ++m) a += v[m] * out[m];
      va += a;
    }
    for (int64_t m = W - 1; m > 0; --m) v[m] = v[m] * st[m] + v[m - 1] * on[m - 1];
    v[0] *= st[0];
  };
  for (int64_t m = 0; m < W; ++m) {
    v[m] = x[m];
    y[m] = 0.0;
  }
  for (int64_t k = 0; k < L; ++k) step();  // weights < 1e-300
  double w = dpois(L, mu);
  const double quick = L == 0 ? eps * w * r : 0.0;
  int64_t anchor = L + kReanchor;
  for (int64_t k = L;; ++k) {
    if (k > L) {
      if (k >= anchor) {
        w = dpois(k, mu);
        anchor = k + kReanchor;
      } else {
        w *= mu * inv_k(k);
      }
    }
    for (int64_t m = 0; m < W; ++m) y[m] += w * v[m];
    ya += w * va;
    if (k >= R) break;
    const double kd = static_cast<double>(k);
    if (kd + 2.0 > mu) {
      // past the mode: P(Pois > k) <= tail = w_(k+1) / (1 - mu / (k + 2)) = w mu (k + 2) / den
      const double num = w * mu * (kd + 2.0), den = (kd + 1.0) * (kd + 2.0 - mu);
      if (num <= quick * den || num <= 1e-300 * den) break;
      if (quick == 0.0 || mu > 1.0) {
        const double tail = num / den;
        bool ok = !absorbed || tail * total <= eps * ya;
        for (int64_t m = 0; m < W; ++m) ok &= tail * S[m] <= eps * y[m];
        if (ok) break;
      }
    }
    step();
  }
  for (int64_t m = 0; m < W; ++m) s.x[static_cast<size_t>(m)] = y[m];
  s.xa = ya;
}

PHASIC_MULTIVERSION
void advance8(const Coxian& c, double mu, double eps, bool absorbed, State& s) {
  advance_body<8>(c, mu, eps, absorbed, s);
}
PHASIC_MULTIVERSION
void advance16(const Coxian& c, double mu, double eps, bool absorbed, State& s) {
  advance_body<16>(c, mu, eps, absorbed, s);
}
PHASIC_MULTIVERSION
void advance_any(const Coxian& c, double mu, double eps, bool absorbed, State& s) {
  advance_body<0>(c, mu, eps, absorbed, s);
}

void advance(const Coxian& c, double delta, double eps, bool absorbed, State& s) {
  const double mu = c.lam * delta;
  if (!(mu > 0.0)) return;
  if (c.M <= 8) {
    advance8(c, mu, eps, absorbed, s);
  } else if (c.M <= 16) {
    advance16(c, mu, eps, absorbed, s);
  } else {
    advance_any(c, mu, eps, absorbed, s);
  }
}

// kLanes chains stepped in lock step, lane l one chain: the masses of a phase over the lanes are
// one vector, so each phase update is one vector operation. Gaps up to kLaneMu (lambda d) only:
// their windows start at 0 and end before a weight would need re-anchoring.
struct Lanes {
  int64_t M = 0;
  // (M, kLanes): masses and scratch, and each lane's Coxian (stay, on, out per uniformized step
  // at its own lambda); vectors go through load8 / store8 (no alignment)
  std::vector<double> x, y, v, S, st, on, out;
  double xa[kLanes] = {}, u[kLanes] = {};
  int64_t scale[kLanes] = {};
  // With p > 0, tangents (p, M, kLanes) of the masses (dx, scratch dv, dy) along p directions,
  // and of each lane's stay and on (dst, don): dv_(k+1) = dv_k P + v_k dP.
  int64_t p = 0;
  std::vector<double> dx, dv, dy, dst, don;
  explicit Lanes(int64_t M_, int64_t p_ = 0)
      : M(M_), x(static_cast<size_t>(M * kLanes), 0.0), y(x.size()), v(x.size()), S(x.size()),
        st(x.size(), 0.0), on(x.size(), 0.0), out(x.size(), 0.0), p(p_),
        dx(static_cast<size_t>(p * M * kLanes), 0.0), dv(dx.size()), dy(dx.size()),
        dst(dx.size(), 0.0), don(dx.size(), 0.0) {}
  // Lane l's masses (and tangents) times 2^-e when they grew small; whether they were.
  bool rescale(int l) {
    double mx = 0.0;
    for (int64_t m = 0; m < M; ++m) mx = std::max(mx, x[m * kLanes + l]);
    const int e = rescale_power(mx);
    if (e == 0) return false;
    const double f = std::ldexp(1.0, -e);
    for (int64_t m = 0; m < M; ++m) x[m * kLanes + l] *= f;
    for (int64_t z = 0; z < p * M; ++z) dx[z * kLanes + l] *= f;
    scale[l] -= e;
    return true;
  }
  void set_coxian(int l, const Coxian& c) {
    for (int64_t m = 0; m < M; ++m) {
      st[m * kLanes + l] = c.stay[m];
      on[m * kLanes + l] = c.on[m];
      out[m * kLanes + l] = c.out[m];
    }
  }
};

// Lane l of the lanes into a State and back.
inline void lane_out(const Lanes& ln, int l, int64_t M, State& s) {
  for (int64_t m = 0; m < M; ++m) s.x[m] = ln.x[m * kLanes + l];
  s.xa = ln.xa[l];
  s.u = ln.u[l];
  s.scale = ln.scale[l];
}
inline void lane_in(Lanes& ln, int l, int64_t M, const State& s) {
  for (int64_t m = 0; m < M; ++m) ln.x[m * kLanes + l] = s.x[m];
  ln.xa[l] = s.xa;
  ln.u[l] = s.u;
  ln.scale[l] = s.scale;
}


// Every lane l to its time + mu[l] / lambda (mu[l] in [0, kLaneMu]), each mass to eps relative
// to itself as in advance_body.
PHASIC_MULTIVERSION
void advance_lanes(const double* mu_, double eps, bool absorbed, Lanes& s) {
  using simd::load8;
  using simd::store8;
  using simd::v8d;
  using simd::v8l;
  static_assert(kLanes == 8, "lanes are one v8d");
  const int64_t M = s.M;
  const double *st = s.st.data(), *on = s.on.data(), *out = s.out.data();
  double *x = s.x.data(), *S = s.S.data(), *y = s.y.data(), *v = s.v.data();
  const v8d zero = {}, one = zero + 1.0, mu = load8(mu_);
  v8d tot = load8(s.xa), va = tot, ya = zero, r = one, w, Sp = zero;
  for (int l = 0; l < kLanes; ++l) w[l] = std::exp(-mu[l]);
  for (int64_t m = 0; m < M; ++m) {
    const v8d xm = load8(x + m * kLanes);
    Sp = xm + (m > 0 ? (load8(on + (m - 1) * kLanes) > zero ? Sp : zero) : zero);
    store8(S + m * kLanes, Sp);
    store8(v + m * kLanes, xm);
    store8(y + m * kLanes, zero);
    tot += xm;
    const v8d ratio = Sp > zero ? xm / Sp : one;
    r = ratio < r ? ratio : r;
  }
  if (absorbed) {
    const v8d ratio = tot > zero ? va / tot : one;
    r = ratio < r ? ratio : r;
  }
  const int64_t PM = s.p * M;
  double *dv = s.dv.data(), *dy = s.dy.data();
  const double *dst = s.dst.data(), *don = s.don.data();
  std::copy(s.dx.begin(), s.dx.end(), s.dv.begin());
  std::fill(s.dy.begin(), s.dy.end(), 0.0);
  const v8d quick = eps * w * r;
  // Each lane's last term: where the quick test settles it (mu <= 1, no empty phase), found
  // from the weights alone before the sweep; otherwise (+inf here) by the full test as it goes.
  const int64_t R = static_cast<int64_t>(std::ceil(kLaneMu + poisson_spread(kLaneMu)));
  constexpr double kOpen = std::numeric_limits<double>::infinity();
  v8d last;
  int64_t kend = 0;
  bool open = false;
  for (int l = 0; l < kLanes; ++l) {
    const double ml = mu[l], ql = quick[l];
    if (!(ml > 0.0)) {
      last[l] = 0.0;
      continue;
    }
    if (!(ql > 0.0) || ml > 1.0) {
      last[l] = kOpen;
      open = true;
      continue;
    }
    double wl = w[l];
    int64_t k = 0;
    for (;; ++k) {
      if (k > 0) wl *= ml * inv_k(k);
      const double kd = static_cast<double>(k);
      if (k >= R || (wl * ml * (kd + 2.0) <= ql * (kd + 1.0) * (kd + 2.0 - ml))) break;
    }
    last[l] = static_cast<double>(k);
    kend = std::max(kend, k);
  }
  for (int64_t k = 0; k <= kend || open; ++k) {
    const double kd = static_cast<double>(k);
    if (k > 0) w *= mu * (inv_k(k) * (kd <= last ? one : zero));
    for (int64_t m = 0; m < M; ++m)
      store8(y + m * kLanes, load8(y + m * kLanes) + w * load8(v + m * kLanes));
    for (int64_t z = 0; z < PM; ++z)
      store8(dy + z * kLanes, load8(dy + z * kLanes) + w * load8(dv + z * kLanes));
    ya += w * va;
    if (k >= R) break;
    if (open) {  // the full test for open lanes past their mode (as in advance_body)
      const v8d num = w * mu * (kd + 2.0), den = (kd + 1.0) * ((kd + 2.0) - mu);
      const v8l live = (last == kOpen) & ((kd + 2.0) > mu);
      const v8d tail = live ? num / den : zero;
      v8l ok = live;
      if (absorbed) ok &= tail * tot <= eps * ya;
      for (int64_t m = 0; m < M; ++m)
        ok &= tail * load8(S + m * kLanes) <= eps * load8(y + m * kLanes);
      ok |= live & (num <= 1e-300 * den);
      last = ok ? zero + kd : last;
      open = false;
      for (int l = 0; l < kLanes; ++l) open = open || last[l] == kOpen;
      if (!open)
        for (int l = 0; l < kLanes; ++l) kend = std::max(kend, static_cast<int64_t>(last[l]));
    }
    if (k >= kend && !open) break;
    if (absorbed)
      for (int64_t m = 0; m < M; ++m) va += load8(v + m * kLanes) * load8(out + m * kLanes);
    for (int64_t q = 0; q < s.p; ++q) {  // tangents first: they read the old masses
      double* d = dv + q * M * kLanes;
      const double *ds = dst + q * M * kLanes, *dn = don + q * M * kLanes;
      for (int64_t m = M - 1; m >= 0; --m) {
        v8d t = load8(d + m * kLanes) * load8(st + m * kLanes) +
                load8(v + m * kLanes) * load8(ds + m * kLanes);
        if (m > 0)
          t += load8(d + (m - 1) * kLanes) * load8(on + (m - 1) * kLanes) +
               load8(v + (m - 1) * kLanes) * load8(dn + (m - 1) * kLanes);
        store8(d + m * kLanes, t);
      }
    }
    v8d below = load8(v + (M - 1) * kLanes);  // phase m's old masses, read before m - 1's
    for (int64_t m = M - 1; m > 0; --m) {
      const v8d prev = load8(v + (m - 1) * kLanes);
      store8(v + m * kLanes,
             below * load8(st + m * kLanes) + prev * load8(on + (m - 1) * kLanes));
      below = prev;
    }
    store8(v, below * load8(st));
  }
  s.x.swap(s.y);
  s.dx.swap(s.dy);
  store8(s.xa, ya);
}

// Every lane's value sum (its masses weighted by wt, (M, kLanes)), derivative sum (by dwt) and
// largest mass.
PHASIC_MULTIVERSION
void lane_sums(const Lanes& ln, const double* wt, const double* dwt, int64_t M, double* val,
               double* dval, double* mx) {
  simd::v8d v = {}, dv = {}, x = {};
  for (int64_t m = 0; m < M; ++m) {
    const simd::v8d xm = simd::load8(ln.x.data() + m * kLanes);
    x = xm > x ? xm : x;
    v += xm * simd::load8(wt + m * kLanes);
    dv += xm * simd::load8(dwt + m * kLanes);
  }
  simd::store8(val, v);
  simd::store8(dval, dv);
  simd::store8(mx, x);
}

// Start, steps and values of one spec on one Coxian: a State is stepped to later times and
// read at each.
struct Stepper {
  Coxian c;
  const SeriesSpec* spec = nullptr;
  double mass0 = 0.0, eps = 0.0, defect = 0.0;
  bool absorbed = false;

  // chain: the most steps any value goes through from time 0 (its error bound is chain * eps);
  // false also when reaching tmax would take more than spec.max_steps terms
  bool init(const double* rates, int64_t M, double mass0_, const SeriesSpec& sp, int64_t chain,
            double tmax) {
    if (sp.discrete || M <= 0 || !(mass0_ >= 0.0) || !std::isfinite(mass0_)) return false;
    if (!c.init(rates, M)) return false;
    const double mt = c.lam * tmax;
    if (!(mt + poisson_spread(mt) <= static_cast<double>(sp.max_steps))) return false;
    spec = &sp;
    mass0 = mass0_;
    absorbed = sp.kind == kCdf;
    // far below tol: a term or two per step buys errors near the rounding of the masses
    eps = sp.tol * 1e-4 / static_cast<double>(std::max<int64_t>(chain, 16));
    defect = sp.defect ? sp.defect[0] : 0.0;
    return true;
  }
  void start(State& s) const {
    std::fill(s.x.begin(), s.x.end(), 0.0);
    s.x[0] = mass0;
    s.xa = s.u = 0.0;
    s.scale = 0;
  }
  // s to time u >= s.u, in pieces of at most kPieceMu (lambda d), each followed by a rescaling
  // by a power of two when the masses grow small: a piece shrinks them by at most e^-kPieceMu,
  // so they never underflow however far the tail.
  void to(State& s, double u) const {
    const double mu = c.lam * (u - s.u);
    const int64_t pieces = mu > kPieceMu ? static_cast<int64_t>(std::ceil(mu / kPieceMu)) : 1;
    const double from = s.u;
    for (int64_t i = 1; i <= pieces; ++i) {
      const double next = i == pieces ? u : from + (u - from) * static_cast<double>(i) /
                                                        static_cast<double>(pieces);
      advance(c, next - s.u, eps, absorbed, s);
      s.u = next;
      rescale(s);
    }
  }
  // The masses times 2^-e when below kRescaleBelow (e < 0): scale -= e, exactly.
  void rescale(State& s) const {
    if (absorbed) return;  // the cdf's absorbed mass is not a scaled quantity
    const int e = rescale_power(*std::max_element(s.x.begin(), s.x.begin() + c.M));
    if (e == 0) return;
    const double f = std::ldexp(1.0, -e);
    for (int64_t m = 0; m < c.M; ++m) s.x[m] *= f;
    s.scale -= e;
  }
  // The weight of phase m's mass in the value's sum: its exit rate (density) or 1; and in the
  // value's time derivative: (C exit)_m (density), -exit_m (survival: -f), exit_m (cdf: f).
  double weight(int64_t m) const { return spec->kind == kDensity ? c.exit[m] : 1.0; }
  double dweight(int64_t m) const {
    if (spec->kind == kSurvival) return -c.exit[m];
    if (spec->kind == kCdf) return c.exit[m];
    const double next = m + 1 < c.M ? c.on[m] * c.lam * c.exit[m + 1] : 0.0;
    return next - (1.0 - c.stay[m]) * c.lam * c.exit[m];
  }
  // The value (and with d its time derivative, of the log with spec.log) of masses x (M,
  // `stride` apart), absorbed mass xa and scale.
  double read(const double* x, int64_t stride, double& xa, int64_t scale, double* d) const {
    double sum = 0.0, dsum = 0.0;
    for (int64_t m = 0; m < c.M; ++m) {
      sum += x[m * stride] * weight(m);
      if (d) dsum += x[m * stride] * dweight(m);
    }
    return from_sums(sum, dsum, xa, scale, d);
  }
  double value(State& s, double* d = nullptr) const {
    return read(s.x.data(), 1, s.xa, s.scale, d);
  }
  // The value from its weighted sums of masses. The cdf is the absorbed mass xa while that is
  // the smaller part of the mass, and mass0 - (transient mass) from there on (then xa takes it):
  // each accurate relative to itself, where the other would be a difference near 1.
  double from_sums(double sum, double dsum, double& xa, int64_t scale, double* d) const {
    double raw = sum;
    if (spec->kind == kCdf) {
      if (sum <= xa) xa = mass0 - sum;
      raw = defect + xa;
      scale = 0;  // the cdf's masses are never rescaled
    }
    if (d) *d = derivative(dsum, raw, scale);
    return finish(raw, scale);
  }
  // A derivative from its weighted sum of masses scaled by 2^scale: of the log (over the
  // value's raw sum) with spec.log.
  double derivative(double dsum, double raw, int64_t scale) const {
    return spec->log ? dsum / raw : std::ldexp(dsum, static_cast<int>(-scale));
  }
  // Lane l's value (and derivative) from its sums and largest mass (lane_sums), rescaled and
  // read again when its masses grew small.
  double lane_value(Lanes& ln, int l, double val, double dval, double mx, double* d) const {
    if (absorbed || rescale_power(mx) == 0 || !ln.rescale(l))
      return from_sums(val, dval, ln.xa[l], ln.scale[l], d);
    return read(ln.x.data() + l, kLanes, ln.xa[l], ln.scale[l], d);
  }
  // Lane l to time u: in lock step (mu[l] set) or, across a gap wider than kLaneMu, alone.
  void lane_to(Lanes& ln, int l, double u, double* mu, State& s) const {
    mu[l] = c.lam * (u - ln.u[l]);
    if (mu[l] > kLaneMu) {
      lane_out(ln, l, c.M, s);
      to(s, u);
      lane_in(ln, l, c.M, s);
      mu[l] = 0.0;
    }
    ln.u[l] = u;
  }
  // The value out of its sum scaled by 2^scale: log, clamped into [0, 1] for probabilities.
  double finish(double val, int64_t scale) const {
    if (spec->log) {
      const double o =
          std::log(val) - static_cast<double>(scale) * 0.69314718055994530941723212145818;
      return spec->kind == kDensity ? o : std::min(0.0, o);
    }
    const double o = std::ldexp(val, static_cast<int>(-scale));
    return spec->kind == kDensity ? o : std::min(1.0, std::max(0.0, o));
  }
};

// Work of one step across mu = lambda d, in phase updates of width W (the phases a step
// updates: padded to 8 or 16 alone, a quarter of M in lanes); past mu = 1 every term also tests
// every phase. Of one time point's window in the sweep (a window term costs about two phase
// updates); of the sweep's own steps to mu.
inline double step_work(double W, double mu) {
  return W * (mu > 1.0 ? 2.0 : 1.0) * (mu + 6.0 * std::sqrt(mu) + 11.0);
}
inline double window_work(double mu) {
  return 2.0 * (std::min(mu, poisson_spread(mu)) + 7.0 * std::sqrt(mu) + 16.0);
}
inline double sweep_work(double M, double mu) {
  return 2.0 * M * (mu + 7.0 * std::sqrt(mu) + 16.0);
}

bool good_times(const SeriesSpec& spec) {
  for (int64_t t = 0; t < spec.T; ++t)
    if (!(spec.times[t] >= 0.0) || !std::isfinite(spec.times[t])) return false;
  return spec.T > 0 && !spec.discrete;
}

double max_rate(const double* rates, int64_t M) {
  double lam = 0.0;
  for (int64_t m = 0; m < M; ++m) lam = std::max(lam, rates[2 * m] + rates[2 * m + 1]);
  return lam;
}

}  // namespace

bool stepping_pays(const double* rates, int64_t M, const SeriesSpec& spec, const int64_t* ord,
                   bool lanes) {
  const double lam = max_rate(rates, M), Md = static_cast<double>(M);
  if (!good_times(spec) || !(lam > 0.0) || !std::isfinite(lam)) return false;
  lanes = lanes || spec.T >= kLaneMin;
  const double W = lanes ? 0.25 * Md : M <= 8 ? 8.0 : M <= 16 ? 16.0 : Md;
  // Every stride-th gap (at most ~512 of them) stands for the stride gaps that end at it: the
  // gaps of a sorted sequence telescope, so a skipped run costs at least one wide gap and at
  // most `stride` narrow ones; counting it as stride steps over its average gap keeps the
  // estimate on the sweep's side of the truth.
  const int64_t T = spec.T, stride = std::max<int64_t>(1, T / 512);
  double step = 0.0, window = 0.0, prev = 0.0;
  for (int64_t i = stride - 1; i < T; i += stride) {
    const double u = spec.times[ord[i]], k = static_cast<double>(stride);
    const double from = i < stride ? 0.0 : prev;
    step += k * step_work(W, lam * (u - from) / k);
    window += k * window_work(lam * u);
    prev = u;
  }
  const double last = spec.times[ord[T - 1]];
  return step < window + sweep_work(Md, lam * last);
}

bool coxian_times(const double* rates, int64_t M, double mass0, const SeriesSpec& spec,
                  const int64_t* ord, double* out, double* dt) {
  const int64_t T = spec.T;
  // Many points: segments of G sorted points, kLanes of them stepped in lock step, each from
  // its first point, which one chain through the segments' first points reaches from time 0.
  const int64_t G = T >= kLaneMin ? std::min(kChain, (T + kLanes - 1) / kLanes) : kChain;
  Stepper st;
  if (!good_times(spec) ||
      !st.init(rates, M, mass0, spec, std::min(T, 2 * kChain), spec.times[ord[T - 1]]))
    return false;
  State s(M);
  if (T < kLaneMin) {  // one chain from time 0 (kLaneMin <= kChain)
    st.start(s);
    for (int64_t i = 0; i < T; ++i) {
      st.to(s, spec.times[ord[i]]);
      out[ord[i]] = st.value(s, dt ? dt + ord[i] : nullptr);
    }
    return true;
  }
  const int64_t nseg = (T + G - 1) / G;
  std::vector<State> first(static_cast<size_t>(nseg), State(M));
  for (int64_t g = 0; g < nseg; ++g) {
    if (g % kChain == 0) st.start(s);
    st.to(s, spec.times[ord[g * G]]);
    out[ord[g * G]] = st.value(s, dt ? dt + ord[g * G] : nullptr);
    first[static_cast<size_t>(g)] = s;
  }
  Lanes ln(M);
  for (int l = 0; l < kLanes; ++l) ln.set_coxian(l, st.c);
  double mu[kLanes];
  std::vector<double> wt(static_cast<size_t>(M * kLanes)), dwt(wt.size());
  for (int64_t m = 0; m < M; ++m)
    for (int l = 0; l < kLanes; ++l) {
      wt[m * kLanes + l] = st.weight(m);
      dwt[m * kLanes + l] = st.dweight(m);
    }
  for (int64_t g0 = 0; g0 < nseg; g0 += kLanes) {
    for (int l = 0; l < kLanes; ++l) {  // lane l: segment g0 + l (an idle lane holds zeros)
      if (g0 + l < nseg) {
        lane_in(ln, l, M, first[static_cast<size_t>(g0 + l)]);
        continue;
      }
      for (int64_t m = 0; m < M; ++m) ln.x[m * kLanes + l] = 0.0;
      ln.xa[l] = ln.u[l] = 0.0;
      ln.scale[l] = 0;
    }
    for (int64_t i = 1; i < G; ++i) {
      bool any = false;
      for (int l = 0; l < kLanes; ++l) {
        const int64_t pos = (g0 + l) * G + i;
        mu[l] = 0.0;
        if (g0 + l >= nseg || pos >= T) continue;
        any = true;
        st.lane_to(ln, l, spec.times[ord[pos]], mu, s);
      }
      if (!any) break;
      advance_lanes(mu, st.eps, st.absorbed, ln);
      double val[kLanes], dval[kLanes], mx[kLanes];
      lane_sums(ln, wt.data(), dwt.data(), M, val, dval, mx);
      for (int l = 0; l < kLanes; ++l) {
        const int64_t pos = (g0 + l) * G + i;
        if (g0 + l >= nseg || pos >= T) continue;
        out[ord[pos]] = st.lane_value(ln, l, val[l], dval[l], mx[l], dt ? dt + ord[pos] : nullptr);
      }
    }
  }
  return true;
}

namespace {

// A Stepper for each of B rows (rates (B, 2M), starts alpha (B, M)), each with its own spec
// (its defect), from time 0 through the sorted times; false as Stepper::init for any row.
bool init_rows(const double* rates, int64_t B, int64_t M, const double* alpha,
               const SeriesSpec& spec, const int64_t* ord, std::vector<SeriesSpec>& sb,
               std::vector<Stepper>& st) {
  if (!good_times(spec) || B < 1) return false;
  sb.assign(static_cast<size_t>(B), spec);
  st.assign(static_cast<size_t>(B), Stepper{});
  for (int64_t b = 0; b < B; ++b) {
    SeriesSpec& sp = sb[static_cast<size_t>(b)];
    if (spec.defect) sp.defect = spec.defect + b;
    if (!st[static_cast<size_t>(b)].init(rates + b * 2 * M, M, alpha[b * M], sp, spec.T,
                                         spec.times[ord[spec.T - 1]]))
      return false;
  }
  return true;
}

}  // namespace

bool coxian_rows(const double* rates, int64_t B, int64_t M, const double* alpha,
                 const SeriesSpec& spec, const int64_t* ord, double* out) {
  const int64_t T = spec.T;
  std::vector<SeriesSpec> sb;
  std::vector<Stepper> st;
  if (!init_rows(rates, B, M, alpha, spec, ord, sb, st)) return false;
  // kLanes rows at a time, one per lane, all from time 0 through the sorted times
  Lanes ln(M);
  State s(M);
  std::vector<double> wt(static_cast<size_t>(M * kLanes)), dwt(wt.size());
  double mu[kLanes], val[kLanes], dval[kLanes], mx[kLanes];
  for (int64_t b0 = 0; b0 < B; b0 += kLanes) {
    const int nl = static_cast<int>(std::min<int64_t>(kLanes, B - b0));
    ln = Lanes(M);  // idle lanes: no mass, no rates
    std::fill(wt.begin(), wt.end(), 0.0);
    for (int l = 0; l < nl; ++l) {
      const Stepper& sl = st[static_cast<size_t>(b0 + l)];
      ln.set_coxian(l, sl.c);
      sl.start(s);
      lane_in(ln, l, M, s);
      for (int64_t m = 0; m < M; ++m) wt[m * kLanes + l] = sl.weight(m);
    }
    std::fill(mu, mu + kLanes, 0.0);
    for (int64_t i = 0; i < T; ++i) {
      const double u = spec.times[ord[i]];
      for (int l = 0; l < nl; ++l) st[static_cast<size_t>(b0 + l)].lane_to(ln, l, u, mu, s);
      advance_lanes(mu, st[0].eps, st[0].absorbed, ln);
      lane_sums(ln, wt.data(), dwt.data(), M, val, dval, mx);
      for (int l = 0; l < nl; ++l)
        out[(b0 + l) * T + ord[i]] =
            st[static_cast<size_t>(b0 + l)].lane_value(ln, l, val[l], dval[l], mx[l], nullptr);
    }
  }
  return true;
}

bool coxian_rows_jac(const double* rates, const double* drates, int64_t B, int64_t M, int64_t p,
                     const double* alpha, const double* dmass0, const SeriesSpec& spec,
                     const int64_t* ord, double* out, double* jac, double* dfdt) {
  const int64_t T = spec.T;
  std::vector<SeriesSpec> sb;
  std::vector<Stepper> st;
  if (spec.kind == kCdf || !init_rows(rates, B, M, alpha, spec, ord, sb, st)) return false;
  const size_t ML = static_cast<size_t>(M * kLanes);
  std::vector<double> wt(ML), twt(ML), dwv(static_cast<size_t>(p) * ML);
  double mu[kLanes], val[kLanes], dval[kLanes], mx[kLanes];
  for (int64_t b0 = 0; b0 < B; b0 += kLanes) {
    const int nl = static_cast<int>(std::min<int64_t>(kLanes, B - b0));
    Lanes ln(M, p);
    std::fill(wt.begin(), wt.end(), 0.0);
    std::fill(twt.begin(), twt.end(), 0.0);
    std::fill(dwv.begin(), dwv.end(), 0.0);
    for (int l = 0; l < nl; ++l) {
      const int64_t b = b0 + l;
      const Stepper& sl = st[static_cast<size_t>(b)];
      ln.set_coxian(l, sl.c);
      ln.x[l] = alpha[b * M];
      const double lam = sl.c.lam;
      const double* dr = drates + b * 2 * M * p;
      for (int64_t m = 0; m < M; ++m) {
        wt[m * kLanes + l] = sl.weight(m);
        twt[m * kLanes + l] = sl.dweight(m);
        for (int64_t q = 0; q < p; ++q) {
          const double df = dr[(2 * m) * p + q], de = dr[(2 * m + 1) * p + q];
          const bool last = m + 1 == M;  // its way on is an exit
          const size_t z = static_cast<size_t>((q * M + m) * kLanes + l);
          ln.dst[z] = -(df + de) / lam;
          ln.don[z] = last ? 0.0 : df / lam;
          dwv[z] = spec.kind == kDensity ? de + (last ? df : 0.0) : 0.0;
        }
      }
      for (int64_t q = 0; q < p; ++q)
        ln.dx[static_cast<size_t>(q * M * kLanes + l)] = dmass0[b * p + q];
    }
    for (int64_t i = 0; i < T; ++i) {
      const int64_t t = ord[i];
      const double u = spec.times[t];
      // every lane's gap in the same number of lock-step pieces of at most kLaneMu
      double widest = 0.0;
      for (int l = 0; l < nl; ++l) widest = std::max(widest, st[b0 + l].c.lam * (u - ln.u[l]));
      const int64_t pieces =
          std::max<int64_t>(1, static_cast<int64_t>(std::ceil(widest / kLaneMu)));
      for (int64_t j = 0; j < pieces; ++j) {
        std::fill(mu, mu + kLanes, 0.0);
        for (int l = 0; l < nl; ++l)
          mu[l] = st[b0 + l].c.lam * (u - ln.u[l]) / static_cast<double>(pieces);
        advance_lanes(mu, st[0].eps, false, ln);
        for (int l = 0; l < nl; ++l) ln.rescale(l);
      }
      lane_sums(ln, wt.data(), twt.data(), M, val, dval, mx);
      for (int l = 0; l < nl; ++l) {
        ln.u[l] = u;
        const int64_t b = b0 + l;
        const Stepper& sl = st[static_cast<size_t>(b)];
        out[b * T + t] = sl.from_sums(val[l], dval[l], ln.xa[l], ln.scale[l], dfdt + b * T + t);
        for (int64_t q = 0; q < p; ++q) {
          double g = 0.0;
          for (int64_t m = 0; m < M; ++m) {
            const size_t z = static_cast<size_t>((q * M + m) * kLanes + l);
            g += ln.dx[z] * wt[m * kLanes + l] + ln.x[m * kLanes + l] * dwv[z];
          }
          jac[(b * T + t) * p + q] = sl.derivative(g, val[l], ln.scale[l]);
        }
      }
    }
  }
  return true;
}

}  // namespace phasic
