"""Differentiable JAX operations on one compiled graph, with two interchangeable implementations.

``FfiOps`` calls the native kernels through XLA FFI custom calls (CPU) with `jax.custom_vjp`
gradients from the adjoint kernels; ``DenseOps`` is pure JAX on the dense sub-intensity matrix
(other platforms, and the test oracle). Both expose the same four operations, each for one θ —
``jax.vmap`` batches them (the FFI calls then receive the whole batch in one kernel call):

* ``alpha(theta) -> (n,)``: initial distribution from the start edges;
* ``solve(theta, rhs, transpose) -> x`` with ``A x = rhs``, rhs (n, K), A = D - W;
* ``matvec(theta, x) -> A x``;
* ``series(theta, alpha, times, discrete, density, tol) -> (T,)``: density or survival.

The dense path computes densities with ``expm`` (continuous) or binary matrix powers (discrete)
rather than uniformization: that keeps it reverse-differentiable without data-dependent loop
lengths, and makes it an independent check of the native series.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

import jax

from ..graph import GraphArrays

__all__ = ["DenseOps", "FfiOps", "ops_for"]

_REGISTERED = False


def _register() -> None:
    """Register the FFI targets with XLA once, on first use (not at import)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from .. import _core

    for name, capsule in _core.ffi_targets().items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")
    _REGISTERED = True


def _match_vma(x, like):
    """Give a cotangent the manual-axis (shard_map) variance of its primal, as custom_vjp needs."""
    want = getattr(jax.typeof(like), "vma", frozenset())
    have = getattr(jax.typeof(x), "vma", frozenset())
    extra = tuple(sorted(have - want))
    if extra:  # the primal was broadcast over these axes: its cotangent sums over them
        x = jax.lax.psum(x, extra)
    missing = tuple(sorted(want - have))
    return jax.lax.pcast(x, missing, to="varying") if missing else x


class _Base:
    def __init__(self, ga: GraphArrays):
        self.ga = ga
        self.n = ga.n_transient
        self.p = ga.param_length
        self._s_idx = jnp.asarray(ga.start_indices, dtype=jnp.int32)
        self._s_base = jnp.asarray(ga.start_base)
        self._s_coef = jnp.asarray(ga.start_coef)

    def alpha(self, theta):
        """Initial distribution over transient vertices, shape (n,)."""
        return self._start(theta)[: self.n]

    def defect(self, theta):
        """Probability of starting absorbed (start edges into absorbing vertices)."""
        return self._start(theta)[self.n]

    def _start(self, theta):
        w = self._s_base + self._s_coef @ theta
        full = jnp.zeros(self.n + 1, dtype=w.dtype).at[self._s_idx].add(w)
        return full / jnp.sum(w)


class FfiOps(_Base):
    """Native kernels via XLA FFI (CPU)."""

    def __init__(self, ga: GraphArrays):
        super().__init__(ga)
        _register()
        self._graph = tuple(jnp.asarray(a) for a in ga.kernel_args())
        self.solve = self._make_solve()
        self.matvec = self._make_matvec()
        self._series_cache: dict = {}

    # -- solve with adjoint ----------------------------------------------------------------
    def _call(self, name, out_shapes, *args, **attrs):
        return jax.ffi.ffi_call(name, out_shapes, vmap_method="expand_dims")(
            *self._graph, *args, **attrs
        )

    def _solve_raw(self, theta, rhs, transpose):
        out = jax.ShapeDtypeStruct((1, *rhs.shape), jnp.float64)
        return self._call("phasic_solve", out, theta[None], rhs[None], transpose=transpose)[0]

    def _edge_grad(self, theta, lam, x):
        K = x.shape[-1]
        out = jax.ShapeDtypeStruct((1, K, self.p), jnp.float64)
        return self._call("phasic_edge_grad", out, theta[None], lam[None], x[None])[0].sum(0)

    def _make_solve(self):
        @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
        def solve(theta, rhs, transpose=False):
            return self._solve_raw(theta, rhs, transpose)

        def fwd(theta, rhs, transpose):
            x = self._solve_raw(theta, rhs, transpose)
            return x, (theta, rhs, x)

        def bwd(transpose, res, g):
            theta, rhs, x = res
            lam = self._solve_raw(theta, g, not transpose)
            # d(g^T A^{-1} r)/dθ = -lam^T (dA) x; with a transposed solve the roles swap.
            dth = (
                self._edge_grad(theta, lam, x) if not transpose else self._edge_grad(theta, x, lam)
            )
            return _match_vma(dth, theta), _match_vma(lam, rhs)

        solve.defvjp(fwd, bwd)
        return lambda theta, rhs, transpose=False: solve(theta, rhs, transpose)

    def _make_matvec(self):
        def raw(theta, x, transpose):
            out = jax.ShapeDtypeStruct((1, *x.shape), jnp.float64)
            return self._call("phasic_matvec", out, theta[None], x[None], transpose=transpose)[0]

        @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
        def matvec(theta, x, transpose=False):
            return raw(theta, x, transpose)

        def fwd(theta, x, transpose):
            return raw(theta, x, transpose), (theta, x)

        def bwd(transpose, res, g):
            theta, x = res
            # d(g^T A x)/dθ = sum_e c_e g_i (x_i - x_j) = -edge_grad(g, x)
            dth = -self._edge_grad(theta, g, x) if not transpose else -self._edge_grad(theta, x, g)
            return _match_vma(dth, theta), _match_vma(raw(theta, g, not transpose), x)

        matvec.defvjp(fwd, bwd)
        return lambda theta, x, transpose=False: matvec(theta, x, transpose)

    # -- density / survival series with adjoint ----------------------------------------------
    def series(self, theta, alpha, times, discrete: bool, density: bool, tol: float):
        key = (bool(discrete), bool(density), float(tol))
        fn = self._series_cache.get(key)
        if fn is None:
            fn = self._series_cache[key] = self._make_series(*key)
        return fn(theta, alpha, times)

    def _make_series(self, discrete, density, tol):
        attrs = dict(discrete=discrete, density=density, tol=tol)

        def raw(theta, alpha, times):
            out = jax.ShapeDtypeStruct((1, times.shape[-1]), jnp.float64)
            return self._call("phasic_series", out, theta[None], alpha[None], times[None], **attrs)[
                0
            ]

        @jax.custom_vjp
        def series(theta, alpha, times):
            return raw(theta, alpha, times)

        def fwd(theta, alpha, times):
            return raw(theta, alpha, times), (theta, alpha, times)

        def bwd(res, g):
            theta, alpha, times = res
            outs = (
                jax.ShapeDtypeStruct((1, self.p), jnp.float64),
                jax.ShapeDtypeStruct((1, self.n), jnp.float64),
                jax.ShapeDtypeStruct((1, times.shape[-1]), jnp.float64),
            )
            dth, dal, dt = self._call(
                "phasic_series_vjp", outs, theta[None], alpha[None], times[None], g[None], **attrs
            )
            dt = jnp.zeros_like(times) if discrete else dt[0]
            return (
                _match_vma(dth[0], theta),
                _match_vma(dal[0], alpha),
                _match_vma(dt, times),
            )

        series.defvjp(fwd, bwd)
        return series


class DenseOps(_Base):
    """Pure JAX on the dense matrix A(θ) (any platform; O(n^2) memory)."""

    def __init__(self, ga: GraphArrays):
        super().__init__(ga)
        self._src = jnp.asarray(ga.edge_sources(), dtype=jnp.int32)
        self._dst = jnp.asarray(ga.indices, dtype=jnp.int32)
        self._base = jnp.asarray(ga.base)
        self._coef = jnp.asarray(ga.coef)

    def weights(self, theta):
        return self._base + self._coef @ theta

    def matrix(self, theta):
        """A = D - W (n, n) and exit weights (n,)."""
        w = self.weights(theta)
        n = self.n
        W = jnp.zeros((n, n + 1), dtype=w.dtype).at[self._src, self._dst].add(w)
        d = W.sum(axis=1)
        return jnp.diag(d) - W[:, :n], W[:, n]

    def solve(self, theta, rhs, transpose=False):
        A, _ = self.matrix(theta)
        return jnp.linalg.solve(A.T if transpose else A, rhs)

    def matvec(self, theta, x, transpose=False):
        A, _ = self.matrix(theta)
        return (A.T if transpose else A) @ x

    def series(self, theta, alpha, times, discrete: bool, density: bool, tol: float):
        A, exit_ = self.matrix(theta)
        r = exit_ if density else jnp.ones(self.n)
        if not discrete:
            return jax.vmap(lambda t: alpha @ jax.scipy.linalg.expm(-A * t) @ r)(times)
        P = jnp.eye(self.n) - A
        k = times - 1.0 if density else times
        vals = jax.vmap(lambda kk: alpha @ _matrix_power(P, kk) @ r)(jnp.maximum(k, 0.0))
        return jnp.where(k < 0, 0.0, vals)


def _matrix_power(P, k, bits: int = 40):
    """P ** k for a traced non-negative integer-valued k, by binary powers."""
    k = jnp.asarray(k).astype(jnp.int64)
    result = jnp.eye(P.shape[0], dtype=P.dtype)
    base = P
    for i in range(bits):
        result = jnp.where((k >> i) & 1, result @ base, result)
        base = base @ base
    return result


def ops_for(ga: GraphArrays, backend: str = "auto"):
    """The operations for ``ga``: ``"ffi"`` (native, CPU), ``"jax"`` (pure JAX) or ``"auto"``."""
    if backend == "auto":
        backend = "ffi" if jax.default_backend() == "cpu" else "jax"
    if backend == "ffi":
        return FfiOps(ga)
    if backend == "jax":
        return DenseOps(ga)
    raise ValueError(f"backend = {backend!r}; choose 'auto', 'ffi' or 'jax'")


def _as_np(x) -> np.ndarray:
    return np.asarray(x)
