// nanobind bindings of the kernels: numpy in, caller-allocated numpy out, GIL released.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <nanobind/stl/string.h>
#include <nanobind/stl/map.h>

#include "ffi.hpp"
#include "kernels.hpp"

namespace nb = nanobind;
using namespace nb::literals;

void bind_state_table(nb::module_& m);  // state_table.cpp

namespace {

template <typename T>
using In = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;
template <typename T>
using Out = nb::ndarray<T, nb::c_contig, nb::device::cpu>;

// The five graph arrays, checked once and kept alive for as long as the object lives: every
// binding takes this one object instead of rebuilding (and re-checking) the view per call.
struct NativeGraph {
  In<int64_t> indptr;
  In<int32_t> indices;
  In<double> base;
  In<double> coef;
  In<int64_t> scc_ptr;
  phasic::GraphView g;

  NativeGraph(In<int64_t> indptr_, In<int32_t> indices_, In<double> base_, In<double> coef_,
              In<int64_t> scc_ptr_)
      : indptr(indptr_), indices(indices_), base(base_), coef(coef_), scc_ptr(scc_ptr_) {
    if (indptr.ndim() != 1 || indptr.shape(0) < 1) throw std::invalid_argument("indptr must be 1-D");
    if (indices.ndim() != 1 || base.ndim() != 1 || coef.ndim() != 2 || scc_ptr.ndim() != 1)
      throw std::invalid_argument("indices, base, scc_ptr must be 1-D and coef 2-D");
    g.n = static_cast<int64_t>(indptr.shape(0)) - 1;
    const int64_t E = static_cast<int64_t>(indices.shape(0));
    if (static_cast<int64_t>(base.shape(0)) != E || static_cast<int64_t>(coef.shape(0)) != E)
      throw std::invalid_argument("indices, base and coef must have one row per edge");
    const int64_t* ip = indptr.data();
    if (ip[0] != 0 || ip[g.n] != E)
      throw std::invalid_argument("indptr must start at 0 and end at the number of edges");
    for (int64_t i = 0; i < g.n; ++i)
      if (ip[i + 1] < ip[i]) throw std::invalid_argument("indptr must be non-decreasing");
    for (int64_t e = 0; e < E; ++e)
      if (indices.data()[e] < 0 || indices.data()[e] > g.n)
        throw std::invalid_argument("edge targets must lie in [0, n]");
    g.n_scc = static_cast<int64_t>(scc_ptr.shape(0)) - 1;
    const int64_t* sp = scc_ptr.data();
    if (g.n_scc < 0 || (g.n_scc == 0 && g.n > 0) || (g.n_scc > 0 && (sp[0] != 0 || sp[g.n_scc] != g.n)))
      throw std::invalid_argument("scc_ptr must run from 0 to n");
    for (int64_t s = 0; s < g.n_scc; ++s)
      if (sp[s + 1] <= sp[s]) throw std::invalid_argument("scc_ptr must be increasing");
    g.indptr = ip;
    g.indices = indices.data();
    g.base = base.data();
    g.coef = coef.data();
    g.p = static_cast<int64_t>(coef.shape(1));
    g.scc_ptr = sp;
  }
};

// Returns (code, where, batch); the Python layer turns a non-zero code into a PhasicError that
// names the vertex, edge and theta involved (one table: phasic.graph._native).
nb::tuple status_tuple(const phasic::Status& s) { return nb::make_tuple(s.code, s.where, s.batch); }

int64_t batch_of(const phasic::GraphView& g, const In<double>& theta) {
  if (theta.ndim() != 2 || static_cast<int64_t>(theta.shape(1)) != g.p)
    throw std::invalid_argument("theta must have shape (B, p) with p = " + std::to_string(g.p));
  return static_cast<int64_t>(theta.shape(0));
}

template <typename A>
void check_nbk(const phasic::GraphView& g, int64_t B, const A& a, const char* what) {
  if (a.ndim() != 3 || static_cast<int64_t>(a.shape(0)) != g.n ||
      static_cast<int64_t>(a.shape(1)) != B)
    throw std::invalid_argument(std::string(what) + " must have shape (n, B, K)");
}

void check_alpha(const phasic::GraphView& g, int64_t B, const In<double>& alpha) {
  if (alpha.ndim() != 2 || static_cast<int64_t>(alpha.shape(0)) != B ||
      static_cast<int64_t>(alpha.shape(1)) != g.n)
    throw std::invalid_argument("alpha must have shape (B, n)");
}

phasic::SeriesSpec make_spec(const In<double>& times, bool discrete, double tol,
                             int64_t max_steps) {
  if (times.ndim() != 1) throw std::invalid_argument("times must be 1-D");
  phasic::SeriesSpec spec;
  spec.discrete = discrete;
  spec.tol = tol;
  spec.max_steps = max_steps;
  spec.times = times.data();
  spec.T = static_cast<int64_t>(times.shape(0));
  return spec;
}

using NbkKernel = phasic::Status (*)(const phasic::GraphView&, const double*, int64_t,
                                     const double*, int64_t, double*, bool);

phasic::Status phasic_solve(const phasic::GraphView& g, const double* theta, int64_t B,
                            const double* r, int64_t K, double* x, bool transpose) {
  return phasic::solve(g, theta, B, r, K, x, transpose);
}

// A binding of a kernel mapping (n, B, K) to (n, B, K) at a theta batch (B, p): solve, matvec.
auto nbk_binding(NbkKernel kernel) {
  return [kernel](const NativeGraph& G, const In<double>& theta, const In<double>& x,
                  Out<double> out, bool transpose) {
    const auto& g = G.g;
    const int64_t B = batch_of(g, theta);
    check_nbk(g, B, x, "the input");
    check_nbk(g, B, out, "out");
    const int64_t K = static_cast<int64_t>(x.shape(2));
    if (static_cast<int64_t>(out.shape(2)) != K)
      throw std::invalid_argument("out must have the shape of the input");
    phasic::Status st;
    {
      nb::gil_scoped_release release;
      st = kernel(g, theta.data(), B, x.data(), K, out.data(), transpose);
    }
    return status_tuple(st);
  };
}

template <typename T>
nb::capsule encapsulate(T* fn) {
  return nb::capsule(reinterpret_cast<void*>(fn));
}

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "phasic native kernels (C++17): sweeps in SCC order on compiled phase-type graphs.";
  // NativeGraph objects are cached on GraphArrays, which jit caches and user globals keep until
  // interpreter exit; nanobind would report those as leaks at shutdown although nothing leaks.
  nb::set_leak_warnings(false);
  bind_state_table(m);

  m.def(
      "scc_order",
      [](const In<int64_t>& indptr, const In<int32_t>& indices, Out<int64_t> perm) {
        const int64_t n = static_cast<int64_t>(indptr.shape(0)) - 1;
        if (static_cast<int64_t>(perm.shape(0)) != n) throw std::invalid_argument("perm size");
        std::vector<int64_t> ptr;
        {
          nb::gil_scoped_release release;
          ptr = phasic::scc_order(n, indptr.data(), indices.data(), perm.data());
        }
        return ptr;
      },
      "indptr"_a, "indices"_a, "perm"_a,
      "Tarjan SCCs; fills perm (new -> old) in topological order and returns scc_ptr as a list.");

  m.def(
      "coxian_reduction",
      [](const NativeGraph& G, const In<double>& theta, const In<double>& alpha) -> nb::object {
        const auto& g = G.g;
        if (theta.ndim() != 1 || static_cast<int64_t>(theta.shape(0)) != g.p)
          throw std::invalid_argument("theta must have shape (p,)");
        if (alpha.ndim() != 1 || static_cast<int64_t>(alpha.shape(0)) != g.n)
          throw std::invalid_argument("alpha must have shape (n,)");
        phasic::CoxianRows cx;
        phasic::ReductionTrace tr;
        bool ok;
        {
          nb::gil_scoped_release release;
          ok = phasic::reduce_to_coxian(g, theta.data(), 1, alpha.data(), nullptr, cx, &tr);
        }
        if (!ok) return nb::none();
        std::vector<int64_t> idx(tr.idx.begin(), tr.idx.end());
        return nb::make_tuple(cx.theta, cx.alpha[0], tr.start, idx, tr.nu);
      },
      "graph"_a, "theta"_a, "alpha"_a,
      "The exact Coxian of an acyclic level-structured graph at one theta (reduce.cpp), or None: "
      "(rates (2M,) on / absorbed per phase, start mass, step starts (M + 1,), states, nu).");

  m.def(
      "coxian_state",
      [](const In<double>& rates, double mass0, const In<double>& u, Out<double> occ,
         Out<double> x, int64_t max_steps) {
        if (rates.ndim() != 1 || u.ndim() != 1 || occ.ndim() != 2 || x.ndim() != 2)
          throw std::invalid_argument("coxian_state: rates (2M,), u (U,), occ and x (U, M)");
        const int64_t M = static_cast<int64_t>(rates.shape(0)) / 2, U = static_cast<int64_t>(u.shape(0));
        if (rates.shape(0) != static_cast<size_t>(2 * M) || static_cast<int64_t>(occ.shape(0)) != U ||
            static_cast<int64_t>(occ.shape(1)) != M || static_cast<int64_t>(x.shape(0)) != U ||
            static_cast<int64_t>(x.shape(1)) != M)
          throw std::invalid_argument("coxian_state: rates (2M,), u (U,), occ and x (U, M)");
        bool ok = true;
        {
          nb::gil_scoped_release release;
          for (int64_t k = 0; k < U && ok; ++k)
            ok = phasic::coxian_state(rates.data(), M, mass0, u.data()[k], max_steps,
                                      x.data() + k * M, occ.data() + k * M);
        }
        return ok;
      },
      "rates"_a, "mass0"_a, "u"_a, "occ"_a, "x"_a, "max_steps"_a,
      "A Coxian's time in each phase during [0, u] and its phase masses at u (reduce.cpp); "
      "False for a bad u or past max_steps.");

  m.def("ffi_targets", []() {
    std::map<std::string, nb::capsule> t;
    t.emplace("phasic_solve", encapsulate(phasic::PhasicSolve));
    t.emplace("phasic_coef_matvec", encapsulate(phasic::PhasicCoefMatvec));
    t.emplace("phasic_matvec", encapsulate(phasic::PhasicMatvec));
    t.emplace("phasic_propagate", encapsulate(phasic::PhasicPropagate));
    t.emplace("phasic_propagate_vjp", encapsulate(phasic::PhasicPropagateVjp));
    t.emplace("phasic_carry", encapsulate(phasic::PhasicCarry));
    t.emplace("phasic_carry_vjp", encapsulate(phasic::PhasicCarryVjp));
    t.emplace("phasic_coxian_state", encapsulate(phasic::PhasicCoxianState));
    t.emplace("phasic_series", encapsulate(phasic::PhasicSeries));
    t.emplace("phasic_series_jac", encapsulate(phasic::PhasicSeriesJac));
    return t;
  }, "XLA FFI handler capsules (CPU), by target name.");

  m.attr("DEFAULT_MAX_STEPS") = phasic::kDefaultMaxSteps;
#ifndef PHASIC_JAX_VERSION
#define PHASIC_JAX_VERSION "unknown"
#endif
  m.attr("JAX_BUILD_VERSION") = PHASIC_JAX_VERSION;
  m.attr("STATUS") = nb::make_tuple(
      nb::make_tuple("ok", static_cast<int>(phasic::kOk)),
      nb::make_tuple("bad_weight", static_cast<int>(phasic::kBadWeight)),
      nb::make_tuple("singular", static_cast<int>(phasic::kSingular)),
      nb::make_tuple("bad_probability", static_cast<int>(phasic::kBadProbability)),
      nb::make_tuple("too_many_steps", static_cast<int>(phasic::kTooManySteps)),
      nb::make_tuple("bad_time", static_cast<int>(phasic::kBadTime)));

  nb::class_<NativeGraph>(m, "NativeGraph",
                          "A compiled graph's arrays, checked once, for the kernels below.")
      .def(nb::init<In<int64_t>, In<int32_t>, In<double>, In<double>, In<int64_t>>(), "indptr"_a,
           "indices"_a, "base"_a, "coef"_a, "scc_ptr"_a)
      .def_prop_ro("n", [](const NativeGraph& G) { return G.g.n; })
      .def(
          "series",
          [](const NativeGraph& G, const In<double>& theta, const In<double>& alpha,
             const In<double>& times, const In<double>& defect, Out<double> out, bool discrete,
             int kind, double tol, int64_t max_steps, bool log) {
            const auto& g = G.g;
            const int64_t B = batch_of(g, theta);
            check_alpha(g, B, alpha);
            auto spec = make_spec(times, discrete, tol, max_steps);
            spec.kind = kind;
            spec.log = log && kind != phasic::kCdf;
            if (kind == phasic::kCdf) {
              if (defect.ndim() != 1 || static_cast<int64_t>(defect.shape(0)) != B)
                throw std::invalid_argument("defect must have shape (B,)");
              spec.defect = defect.data();
            }
            if (out.ndim() != 2 || static_cast<int64_t>(out.shape(0)) != B ||
                static_cast<int64_t>(out.shape(1)) != spec.T)
              throw std::invalid_argument("out must have shape (B, T)");
            phasic::Status st;
            {
              nb::gil_scoped_release release;
              st = phasic::series(g, theta.data(), B, alpha.data(), spec, out.data());
            }
            return status_tuple(st);
          },
          "theta"_a, "alpha"_a, "times"_a, "defect"_a, "out"_a, "discrete"_a, "kind"_a, "tol"_a,
          "max_steps"_a, "log"_a = false,
          "Density (kind 0), survival (1) or cdf (2) at all time points in one sweep; with log, "
          "the natural log of the density or survival, exact far past 1e-308.")
      .def(
          "series_state",
          [](const NativeGraph& G, const In<double>& theta, const In<double>& alpha,
             const In<double>& times, Out<double> out, bool discrete, bool accumulated, double tol,
             int64_t max_steps) {
            const auto& g = G.g;
            const int64_t B = batch_of(g, theta);
            check_alpha(g, B, alpha);
            auto spec = make_spec(times, discrete, tol, max_steps);
            if (out.ndim() != 3 || static_cast<int64_t>(out.shape(0)) != B ||
                static_cast<int64_t>(out.shape(1)) != spec.T ||
                static_cast<int64_t>(out.shape(2)) != g.n)
              throw std::invalid_argument("out must have shape (B, T, n)");
            phasic::Status st;
            {
              nb::gil_scoped_release release;
              st = phasic::series_state(g, theta.data(), B, alpha.data(), spec, accumulated,
                                        out.data());
            }
            return status_tuple(st);
          },
          "theta"_a, "alpha"_a, "times"_a, "out"_a, "discrete"_a, "accumulated"_a, "tol"_a,
          "max_steps"_a,
          "State distribution (or accumulated time) at each time point: out (B, T, n).")
      .def(
          "expectation_one",
          [](const NativeGraph& G, const In<double>& theta, const In<int32_t>& s_idx,
             const In<double>& s_base, const In<double>& s_coef) -> double {
            // E[T] at one theta in one call: the fixed cost of a small model's eager
            // expectation is the Python around it. NaN for anything the general path must
            // explain (non-finite theta, a bad start weight, a kernel status): the caller then
            // takes that path, which names the problem.
            const auto& g = G.g;
            const int64_t S = static_cast<int64_t>(s_idx.shape(0));
            if (theta.ndim() != 1 || static_cast<int64_t>(theta.shape(0)) != g.p ||
                s_base.shape(0) != s_idx.shape(0) || s_coef.ndim() != 2 ||
                s_coef.shape(0) != s_idx.shape(0) || static_cast<int64_t>(s_coef.shape(1)) != g.p)
              return std::nan("");
            const double* th = theta.data();
            for (int64_t q = 0; q < g.p; ++q)
              if (!std::isfinite(th[q])) return std::nan("");
            nb::gil_scoped_release release;
            std::vector<double> ones(static_cast<size_t>(g.n), 1.0), x(static_cast<size_t>(g.n));
            if (g.n && phasic::solve(g, th, 1, ones.data(), 1, x.data(), false).code != phasic::kOk)
              return std::nan("");
            std::vector<double> w(static_cast<size_t>(S));
            const double total = phasic::detail::start_weights(S, g.p, s_base.data(),
                                                               s_coef.data(), th, w.data());
            if (!(total > 0.0)) return std::nan("");  // NaN too: a negative or NaN weight
            double acc = 0.0;
            for (int64_t s = 0; s < S; ++s) {
              const int32_t j = s_idx.data()[s];
              if (j < g.n) acc += w[static_cast<size_t>(s)] * x[static_cast<size_t>(j)];
            }
            return acc / total;
          },
          "theta"_a, "start_indices"_a, "start_base"_a, "start_coef"_a,
          "E[T] at one theta (p,); NaN where the general path must report a problem.")
      .def("solve", nbk_binding(phasic_solve), "theta"_a, "rhs"_a, "out"_a, "transpose"_a = false,
           "Solve A x = rhs (A = D - W) or its transpose, shapes (n, B, K); returns a status.")
      .def("matvec", nbk_binding(phasic::matvec), "theta"_a, "x"_a, "out"_a,
           "transpose"_a = false, "y = A x (A = D - W) or A^T x, shapes (n, B, K); returns a status.")
      .def(
          "edge_grad",
          [](const NativeGraph& G, const In<double>& theta, const In<double>& lam,
             const In<double>& x, Out<double> grad) {
            const auto& g = G.g;
            const int64_t B = batch_of(g, theta);
            check_nbk(g, B, lam, "lam");
            check_nbk(g, B, x, "x");
            const int64_t K = static_cast<int64_t>(x.shape(2));
            if (static_cast<int64_t>(lam.shape(2)) != K)
              throw std::invalid_argument("lam must have the shape of x");
            if (grad.ndim() != 3 || static_cast<int64_t>(grad.shape(0)) != B ||
                static_cast<int64_t>(grad.shape(1)) != K ||
                static_cast<int64_t>(grad.shape(2)) != g.p)
              throw std::invalid_argument("grad must have shape (B, K, p)");
            phasic::Status st;
            {
              nb::gil_scoped_release release;
              st = phasic::edge_grad(g, theta.data(), B, lam.data(), x.data(), K, grad.data());
            }
            return status_tuple(st);
          },
          "theta"_a, "lam"_a, "x"_a, "grad"_a,
          "grad[b,k] = -sum_e coef_e lam_ik (x_ik - x_jk): theta-gradient of lam^T A^-1 r per "
          "column.");
}
