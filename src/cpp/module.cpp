// nanobind bindings of the kernels: numpy in, caller-allocated numpy out, GIL released.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <stdexcept>
#include <string>

#include <nanobind/stl/string.h>
#include <nanobind/stl/map.h>

#include "ffi.hpp"
#include "kernels.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename T>
using In = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;
template <typename T>
using Out = nb::ndarray<T, nb::c_contig, nb::device::cpu>;

phasic::GraphView make_view(const In<int64_t>& indptr, const In<int32_t>& indices,
                            const In<double>& base, const In<double>& coef,
                            const In<int64_t>& scc_ptr) {
  phasic::GraphView g;
  if (indptr.ndim() != 1 || indptr.shape(0) < 1) throw std::invalid_argument("indptr must be 1-D");
  g.n = static_cast<int64_t>(indptr.shape(0)) - 1;
  g.indptr = indptr.data();
  g.indices = indices.data();
  g.base = base.data();
  g.coef = coef.data();
  const int64_t E = static_cast<int64_t>(indices.shape(0));
  if (static_cast<int64_t>(base.shape(0)) != E || coef.ndim() != 2 ||
      static_cast<int64_t>(coef.shape(0)) != E)
    throw std::invalid_argument("indices, base and coef must have one row per edge");
  g.p = static_cast<int64_t>(coef.shape(1));
  g.n_scc = static_cast<int64_t>(scc_ptr.shape(0)) - 1;
  g.scc_ptr = scc_ptr.data();
  return g;
}

// Returns (code, where, batch); the Python layer turns a non-zero code into a PhasicError that
// names the vertex, edge and theta involved.
nb::tuple status_tuple(const phasic::Status& s) { return nb::make_tuple(s.code, s.where, s.batch); }

void check_batch(const phasic::GraphView& g, const In<double>& theta, int64_t& B) {
  if (theta.ndim() != 2 || static_cast<int64_t>(theta.shape(1)) != g.p)
    throw std::invalid_argument("theta must have shape (B, p) with p = " + std::to_string(g.p));
  B = static_cast<int64_t>(theta.shape(0));
}

void check_rhs(const phasic::GraphView& g, int64_t B, size_t ndim, size_t s0, size_t s1,
               const char* what) {
  if (ndim != 3 || static_cast<int64_t>(s0) != g.n || static_cast<int64_t>(s1) != B)
    throw std::invalid_argument(std::string(what) + " must have shape (n, B, K)");
}

}  // namespace

template <typename T>
nb::capsule encapsulate(T* fn) {
  return nb::capsule(reinterpret_cast<void*>(fn));
}

phasic::SeriesSpec make_spec(const In<double>& times, bool discrete, double tol,
                             int64_t max_steps) {
  phasic::SeriesSpec spec;
  spec.discrete = discrete;
  spec.tol = tol;
  spec.max_steps = max_steps;
  spec.times = times.data();
  spec.T = static_cast<int64_t>(times.shape(0));
  return spec;
}

void check_alpha(const phasic::GraphView& g, int64_t B, const In<double>& alpha) {
  if (alpha.ndim() != 2 || static_cast<int64_t>(alpha.shape(0)) != B ||
      static_cast<int64_t>(alpha.shape(1)) != g.n)
    throw std::invalid_argument("alpha must have shape (B, n)");
}

NB_MODULE(_core, m) {
  m.doc() = "phasic native kernels (C++17): sweeps in SCC order on compiled phase-type graphs.";

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

  m.def("ffi_targets", []() {
    std::map<std::string, nb::capsule> t;
    t.emplace("phasic_solve", encapsulate(phasic::PhasicSolve));
    t.emplace("phasic_matvec", encapsulate(phasic::PhasicMatvec));
    t.emplace("phasic_coef_matvec", encapsulate(phasic::PhasicCoefMatvec));
    t.emplace("phasic_series", encapsulate(phasic::PhasicSeries));
    t.emplace("phasic_series_jac", encapsulate(phasic::PhasicSeriesJac));
    return t;
  }, "XLA FFI handler capsules (CPU), by target name.");

  m.def(
      "series",
      [](const In<int64_t>& indptr, const In<int32_t>& indices, const In<double>& base,
         const In<double>& coef, const In<int64_t>& scc_ptr, const In<double>& theta,
         const In<double>& alpha, const In<double>& times, const In<double>& defect,
         Out<double> out, bool discrete, int kind, double tol, int64_t max_steps) {
        auto g = make_view(indptr, indices, base, coef, scc_ptr);
        int64_t B;
        check_batch(g, theta, B);
        check_alpha(g, B, alpha);
        auto spec = make_spec(times, discrete, tol, max_steps);
        spec.kind = kind;
        if (kind == phasic::kCdf) {
          if (static_cast<int64_t>(defect.shape(0)) != B)
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
      "indptr"_a, "indices"_a, "base"_a, "coef"_a, "scc_ptr"_a, "theta"_a, "alpha"_a, "times"_a,
      "defect"_a, "out"_a, "discrete"_a, "kind"_a, "tol"_a, "max_steps"_a,
      "Density (kind 0), survival (1) or cdf (2) at all time points in one sweep.");

  m.def(
      "series_state",
      [](const In<int64_t>& indptr, const In<int32_t>& indices, const In<double>& base,
         const In<double>& coef, const In<int64_t>& scc_ptr, const In<double>& theta,
         const In<double>& alpha, const In<double>& times, Out<double> out, bool discrete,
         bool accumulated, double tol, int64_t max_steps) {
        auto g = make_view(indptr, indices, base, coef, scc_ptr);
        int64_t B;
        check_batch(g, theta, B);
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
      "indptr"_a, "indices"_a, "base"_a, "coef"_a, "scc_ptr"_a, "theta"_a, "alpha"_a, "times"_a,
      "out"_a, "discrete"_a, "accumulated"_a, "tol"_a, "max_steps"_a,
      "State distribution (or accumulated time) at each time point: out (B, T, n).");

  m.def(
      "solve",
      [](const In<int64_t>& indptr, const In<int32_t>& indices, const In<double>& base,
         const In<double>& coef, const In<int64_t>& scc_ptr, const In<double>& theta,
         const In<double>& rhs, Out<double> out, bool transpose) {
        auto g = make_view(indptr, indices, base, coef, scc_ptr);
        int64_t B;
        check_batch(g, theta, B);
        check_rhs(g, B, rhs.ndim(), rhs.shape(0), rhs.shape(1), "rhs");
        check_rhs(g, B, out.ndim(), out.shape(0), out.shape(1), "out");
        const int64_t K = static_cast<int64_t>(rhs.shape(2));
        if (static_cast<int64_t>(out.shape(2)) != K) throw std::invalid_argument("out K");
        phasic::Status st;
        {
          nb::gil_scoped_release release;
          st = phasic::solve(g, theta.data(), B, rhs.data(), K, out.data(), transpose);
        }
        return status_tuple(st);
      },
      "indptr"_a, "indices"_a, "base"_a, "coef"_a, "scc_ptr"_a, "theta"_a, "rhs"_a, "out"_a,
      "transpose"_a = false, "Solve A x = rhs (A = D - W) or its transpose; returns a status.");

  m.def(
      "matvec",
      [](const In<int64_t>& indptr, const In<int32_t>& indices, const In<double>& base,
         const In<double>& coef, const In<int64_t>& scc_ptr, const In<double>& theta,
         const In<double>& x, Out<double> out, bool transpose) {
        auto g = make_view(indptr, indices, base, coef, scc_ptr);
        int64_t B;
        check_batch(g, theta, B);
        check_rhs(g, B, x.ndim(), x.shape(0), x.shape(1), "x");
        check_rhs(g, B, out.ndim(), out.shape(0), out.shape(1), "out");
        const int64_t K = static_cast<int64_t>(x.shape(2));
        phasic::Status st;
        {
          nb::gil_scoped_release release;
          st = phasic::matvec(g, theta.data(), B, x.data(), K, out.data(), transpose);
        }
        return status_tuple(st);
      },
      "indptr"_a, "indices"_a, "base"_a, "coef"_a, "scc_ptr"_a, "theta"_a, "x"_a, "out"_a,
      "transpose"_a = false, "y = A x (A = D - W) or A^T x; returns a status.");

  m.def(
      "edge_grad",
      [](const In<int64_t>& indptr, const In<int32_t>& indices, const In<double>& base,
         const In<double>& coef, const In<int64_t>& scc_ptr, const In<double>& theta,
         const In<double>& lam, const In<double>& x, Out<double> grad) {
        auto g = make_view(indptr, indices, base, coef, scc_ptr);
        int64_t B;
        check_batch(g, theta, B);
        check_rhs(g, B, lam.ndim(), lam.shape(0), lam.shape(1), "lam");
        check_rhs(g, B, x.ndim(), x.shape(0), x.shape(1), "x");
        const int64_t K = static_cast<int64_t>(x.shape(2));
        if (grad.ndim() != 3 || static_cast<int64_t>(grad.shape(0)) != B ||
            static_cast<int64_t>(grad.shape(1)) != K || static_cast<int64_t>(grad.shape(2)) != g.p)
          throw std::invalid_argument("grad must have shape (B, K, p)");
        phasic::Status st;
        {
          nb::gil_scoped_release release;
          st = phasic::edge_grad(g, theta.data(), B, lam.data(), x.data(), K, grad.data());
        }
        return status_tuple(st);
      },
      "indptr"_a, "indices"_a, "base"_a, "coef"_a, "scc_ptr"_a, "theta"_a, "lam"_a, "x"_a,
      "grad"_a, "grad[b,k] = -sum_e coef_e lam_ik (x_ik - x_jk): theta-gradient of lam^T A^-1 r per column.");
}
