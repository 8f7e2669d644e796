"""Differentiable JAX operations on one compiled graph, with two interchangeable implementations.

``FfiOps`` calls the native kernels through XLA FFI custom calls (CPU) with `jax.custom_vjp`
gradients from the adjoint kernels; ``DenseOps`` is pure JAX on the dense sub-intensity matrix
(other platforms, and the test oracle). Both expose the same four operations, each for one θ —
``jax.vmap`` batches them (the FFI calls then receive the whole batch in one kernel call):

* ``alpha(theta) -> (n,)``: initial distribution from the start edges;
* ``solve(theta, rhs, transpose) -> x`` with ``A x = rhs``, rhs (n, K), A = D - W;
* ``matvec(theta, x) -> A x``;
* ``series(theta, times, discrete, density, tol, max_steps) -> (T,)``: density or survival.

The dense path computes densities with ``expm`` (continuous) or binary matrix powers (discrete)
rather than uniformization: that keeps it reverse-differentiable without data-dependent loop
lengths, and makes it an independent check of the native series.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

import jax

from .._errors import PhasicError
from ..graph import GraphArrays

__all__ = ["DenseOps", "FfiOps", "jit_with_graph", "ops_for"]

_REGISTERED = False


def _register() -> None:
    """Register the FFI targets with XLA once, on first use (not at import)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from .. import _core

    check_jax_version(jax.__version__, _core.JAX_BUILD_VERSION)
    for name, capsule in _core.ffi_targets().items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")
    _REGISTERED = True


def check_jax_version(running: str, built: str) -> None:
    """Refuse a jax of another minor series than the one whose FFI headers were compiled in.

    XLA's FFI structs may change between minor releases; a mismatch would surface as a crash or
    garbage inside a kernel, so it is named here, before any kernel runs.
    """
    if running.split(".")[:2] != built.split(".")[:2]:
        raise PhasicError(
            f"phasic's native extension was built against jax {built}, but this process runs "
            f"jax {running}: install jax=={'.'.join(built.split('.')[:2])}.* or rebuild phasic "
            "with this jax (pip install --no-build-isolation --force-reinstall phasic)"
        )


def _support(ga: GraphArrays) -> tuple[tuple[jax.Array, jax.Array], jax.Array | None]:
    """The distinct weight rows (base, coef) that bound the support in θ, and a stand-in θ
    inside it (ones, when every base weight and coefficient is >= 0; else None)."""
    rows = np.column_stack(
        [np.concatenate([ga.base, ga.start_base]), np.concatenate([ga.coef, ga.start_coef])]
    )
    rows = rows[np.any(rows[:, 1:] != 0, axis=1) | (rows[:, 0] < 0)]  # constant >= 0: no bound
    rows = np.unique(rows, axis=0) if rows.size else np.zeros((0, 1 + ga.param_length))
    nonneg = bool(np.all(rows >= 0))
    stand_in = _const(np.ones(ga.param_length)) if nonneg and ga.param_length else None
    return (_const(rows[:, 0]), _const(rows[:, 1:])), stand_in


def _const(x: np.ndarray, dtype: Any = None) -> jax.Array:
    """A numpy array on the device as is: ``jnp.asarray`` would compile a small program per
    shape (a large share of a small model's first call), ``device_put`` compiles nothing."""
    return jax.device_put(np.ascontiguousarray(x, dtype=dtype))


class _Base:
    # True where `series` itself returns NaN with a zero derivative outside the support, so the
    # models call it without `guard` (whose ops would double a small model's compile time)
    series_checks_support = False
    # the attributes that hold the graph's device arrays (pytrees of them): what `bound` replaces
    _ARRAYS: tuple[str, ...] = (
        "_s_idx",
        "_s_base",
        "_s_coef",
        "_src",
        "_dst",
        "_base",
        "_coef",
        "_support",
        "_stand_in",
    )

    def __init__(self, ga: GraphArrays):
        self.ga = ga
        self.n = ga.n_transient
        self.p = ga.param_length
        self._s_idx = _const(ga.start_indices, np.int32)
        self._s_base = _const(ga.start_base)
        self._s_coef = _const(ga.start_coef)
        self._src = _const(ga.edge_sources(), np.int32)
        self._dst = _const(ga.indices, np.int32)
        self._base = _const(ga.base)
        self._coef = _const(ga.coef)
        self._support, self._stand_in = _support(ga)

    def arrays(self) -> dict[str, Any]:
        """The graph's device arrays, a pytree for `bound`."""
        return {k: getattr(self, k) for k in self._ARRAYS}

    def bound(self, arrays: dict[str, Any]) -> Any:
        """A copy of these operations that reads ``arrays`` (the pytree of `arrays`, such as the
        tracers of a jitted function's parameters) instead of its own device arrays. The copy
        shares the caches of derivative rules: those take the arrays as arguments (a rule
        closing over a jit's tracers would leak them, since JAX traces rules later)."""
        new = copy.copy(self)
        vars(new).update(arrays)
        return new

    def guard(self, theta: jax.Array, f: Callable[[jax.Array], Any]) -> Any:
        """``f(theta)`` inside the support; outside it (a negative or NaN weight, a NaN θ) NaN
        values whose derivative is exactly 0, so a log-likelihood can be -inf with a finite
        gradient there. ``f`` then runs at a stand-in θ inside the support (when the graph has
        one: all base weights and coefficients >= 0; otherwise f runs as is and fails to NaN).
        ``theta`` is one θ (p,) or one θ row per epoch (E, p); every row must be inside."""
        if self._stand_in is None:
            return f(theta)
        base, coef = self._support
        rows = jnp.atleast_2d(theta)
        ok = jnp.all(base[:, None] + coef @ rows.T >= 0) & jnp.all(jnp.isfinite(theta))
        out = f(jnp.where(ok, theta, self._stand_in))
        return jax.tree_util.tree_map(lambda o: jnp.where(ok, o, jnp.nan), out)

    def alpha(self, theta):
        """Initial distribution over transient vertices, shape (n,)."""
        return self._start(theta)[: self.n]

    def defect(self, theta):
        """Probability of starting absorbed (start edges into absorbing vertices)."""
        return self._start(theta)[self.n]

    def alpha_dot(self, theta, y):
        """α · y for y of shape (n, K): a gather at the start edges, O(start edges) not O(n)."""
        w = self._start_weights(theta)
        live = self._s_idx < self.n  # start edges into absorption carry the defect: y = 0 there
        rows = y[jnp.minimum(self._s_idx, self.n - 1)]  # (S, K)
        return jnp.where(live, w, 0.0) @ rows / jnp.sum(w)

    def out_rates(self, theta):
        """Total out-weight of each transient vertex (the diagonal of A), shape (n,)."""
        return jax.ops.segment_sum(self._base + self._coef @ theta, self._src, num_segments=self.n)

    def exit_rates(self, theta):
        """Rate of each transient vertex into absorption, shape (n,)."""
        w = jnp.where(self._dst == self.n, self._base + self._coef @ theta, 0.0)
        return jax.ops.segment_sum(w, self._src, num_segments=self.n)

    def coef_matvec(self, x, transpose: bool = False):
        """(A_q x) (or A_qᵀ x) for every parameter q: shape (n, K, p) for x of shape (n, K);
        A_q = dA/dθ_q."""
        if transpose:  # (A_qᵀ y)_j = Σ_{e out of j} c_eq y_j - Σ_{e: i -> j, i != j} c_eq y_i
            loop = (self._dst == self._src)[:, None]
            own = jax.ops.segment_sum(
                jnp.where(loop, 0.0, self._coef), self._src, num_segments=self.n
            )
            push = jnp.where(loop[:, :, None], 0.0, x[self._src][:, :, None] * self._coef[:, None])
            into = jax.ops.segment_sum(push, self._dst, num_segments=self.n + 1)[: self.n]
            return own[:, None, :] * x[:, :, None] - into
        xp = jnp.concatenate([x, jnp.zeros((1, *x.shape[1:]), x.dtype)])
        diff = xp[self._src] - xp[self._dst]  # (E, K)
        return jax.ops.segment_sum(
            diff[:, :, None] * self._coef[:, None, :], self._src, num_segments=self.n
        )

    def _start_weights(self, theta):
        """Out-weights of the start vertex, base + coef · θ, shape (S,)."""
        return self._s_base + self._s_coef @ theta

    def _start(self, theta):
        w = self._start_weights(theta)
        full = jnp.zeros(self.n + 1, dtype=w.dtype).at[self._s_idx].add(w)
        return full / jnp.sum(w)


class FfiOps(_Base):
    """Native kernels via XLA FFI (CPU), differentiable in forward and reverse mode.

    * ``solve`` (plain or transposed) is a `jax.custom_jvp`: the value is one native sweep, the
      tangent d x = A⁻¹ (d r − Σ_q dθ_q A_q x) (transposed: A⁻ᵀ and A_qᵀ) with A_q x from one
      native pass over the edges (``phasic_coef_matvec``) and A⁻¹ a
      `jax.lax.custom_linear_solve` whose solves, forward and transposed, are native sweeps. Reverse mode thus costs one transposed sweep and an einsum
      per solve, with no edge-sized intermediate arrays in JAX.
    * ``series`` is a `jax.custom_jvp`: one native sweep returns the values, the Jacobian with
      respect to θ (forward tangents) and the time derivative; the tangent ``J dθ + f' dt`` is
      plain JAX, so `jax.jvp`, `jax.grad`, `jax.jacrev` and `jax.vmap` all work.
    """

    series_checks_support = True
    _ARRAYS = (*_Base._ARRAYS, "_graph")

    def __init__(self, ga: GraphArrays):
        super().__init__(ga)
        _register()
        self._graph = tuple(_const(a) for a in ga.kernel_args())
        self._series_cache: dict = {}
        self._solve_jvp = {t: self._make_solve(t) for t in (False, True)}

    @property
    def _start_args(self) -> tuple[jax.Array, ...]:
        # the series kernels compute α (and dα/dθ) themselves from the start edges
        return (self._s_idx, self._s_base, self._s_coef)

    def _call(self, name, out_shapes, *args, **attrs):
        return jax.ffi.ffi_call(name, out_shapes, vmap_method="expand_dims")(
            *self._graph, *args, **attrs
        )

    def _solve_raw(self, theta, rhs, transpose):
        out = jax.ShapeDtypeStruct((1, *rhs.shape), jnp.float64)
        return self._call("phasic_solve", out, theta[None], rhs[None], transpose=transpose)[0]

    def matvec(self, theta, x, transpose=False):
        """A x (or Aᵀ x) in pure JAX over the edge list: O(E K), differentiable."""
        w = self._base + self._coef @ theta
        xp = jnp.concatenate([x, jnp.zeros((1, *x.shape[1:]), x.dtype)])
        if not transpose:  # (A x)_i = sum_{e: i->j} w_e (x_i - x_j)
            contrib = w[:, None] * (xp[self._src] - xp[self._dst])
            return jax.ops.segment_sum(contrib, self._src, num_segments=self.n)
        # (Aᵀ y)_j = sum_{e: i->j} w_e (y_j [j == i's own row] ...) : D y - Wᵀ y
        d = jax.ops.segment_sum(w, self._src, num_segments=self.n)
        selfloop = (self._dst == self._src)[:, None]
        push = jnp.where(selfloop, 0.0, w[:, None] * x[self._src])
        wty = jax.ops.segment_sum(push, self._dst, num_segments=self.n + 1)[: self.n]
        dself = jax.ops.segment_sum(
            jnp.where(selfloop[:, 0], w, 0.0), self._src, num_segments=self.n
        )
        return (d - dself)[:, None] * x - wty

    def solve(self, theta, rhs, transpose=False):
        return self._solve_jvp[bool(transpose)](self.arrays(), theta, rhs)

    def _linear_solve(self, theta, rhs, transpose):
        """A⁻¹ rhs (or A⁻ᵀ rhs) as a custom_linear_solve: linear (and transposable) in rhs."""

        def mv(x):
            return self.matvec(theta, x, transpose)

        return jax.lax.custom_linear_solve(
            mv,
            rhs,
            solve=lambda _, b: self._solve_raw(theta, b, transpose),
            transpose_solve=lambda _, b: self._solve_raw(theta, b, not transpose),
        )

    def apply(self, theta, x, transpose=False):
        """A x (or Aᵀ x) by one native pass, not differentiable (for loops under a custom
        derivative rule); a bad weight gives NaN."""
        out = jax.ShapeDtypeStruct((1, *x.shape), jnp.float64)
        return self._call("phasic_matvec", out, theta[None], x[None], transpose=transpose)[0]

    def propagate_raw(self, theta, u, delta, floor, r, transpose, coupling, max_steps):
        """exp(M Δ) u for a coupled stack u (n, k, R) by the native series (see
        ``src/cpp/propagate.cpp``): (y, number of terms); y is NaN where it fails."""
        outs = (
            jax.ShapeDtypeStruct((1, *u.shape), jnp.float64),
            jax.ShapeDtypeStruct((1,), jnp.float64),
        )
        y, steps = self._call(
            "phasic_propagate",
            outs,
            theta[None],
            u[None],
            delta[None],
            floor[None],
            r,
            transpose=transpose,
            coupling=np.int64(coupling),
            max_steps=np.int64(max_steps),
        )
        return y[0], steps[0]

    def propagate_vjp_raw(
        self, theta, u, delta, steps, y, ybar, r, transpose, coupling, store_limit=1 << 23
    ):
        """(ū, θ̄, Δ̄ per column) of `propagate_raw` at its inputs, result and term count; the
        series' iterates are stored when they fit in ``store_limit`` doubles (else the kernel
        carries forward tangents: same values, more passes)."""
        outs = (
            jax.ShapeDtypeStruct((1, *u.shape), jnp.float64),
            jax.ShapeDtypeStruct((1, self.p), jnp.float64),
            jax.ShapeDtypeStruct((1, u.shape[-1]), jnp.float64),
        )
        ubar, thbar, dbar = self._call(
            "phasic_propagate_vjp",
            outs,
            theta[None],
            u[None],
            delta[None],
            steps[None],
            y[None],
            ybar[None],
            r,
            transpose=transpose,
            coupling=np.int64(coupling),
            store_limit=np.int64(store_limit),
        )
        return ubar[0], thbar[0], dbar[0]

    def carry_raw(self, theta, a, delta, floor, max_steps):
        """One epoch of a state distribution a (n,) (see ``src/cpp/carry.cpp``): (a exp(SΔ), the
        expected time in each state during [0, Δ], number of series terms); NaN where it
        fails."""
        vec = jax.ShapeDtypeStruct((1, self.n), jnp.float64)
        y, occ, steps = self._call(
            "phasic_carry",
            (vec, vec, jax.ShapeDtypeStruct((1,), jnp.float64)),
            theta[None],
            a[None],
            delta[None],
            floor[None],
            max_steps=np.int64(max_steps),
        )
        return y[0], occ[0], steps[0]

    def carry_vjp_raw(self, theta, a, delta, steps, y, occ, ybar, obar):
        """(ā, θ̄, Δ̄) of `carry_raw` at its inputs and results."""
        outs = (
            jax.ShapeDtypeStruct((1, self.n), jnp.float64),
            jax.ShapeDtypeStruct((1, self.p), jnp.float64),
            jax.ShapeDtypeStruct((1,), jnp.float64),
        )
        args = (theta, a, delta, steps, y, occ, ybar, obar)
        abar, thbar, dbar = self._call("phasic_carry_vjp", outs, *(x[None] for x in args))
        return abar[0], thbar[0], dbar[0]

    def coef_matvec(self, x, transpose: bool = False):
        """(A_q x) (or A_qᵀ x) for every parameter q: shape (n, K, p) for x of shape (n, K), one
        native pass over the edges, no edge-sized array."""
        out = jax.ShapeDtypeStruct((1, *x.shape, self.p), jnp.float64)
        return self._call("phasic_coef_matvec", out, x[None], transpose=bool(transpose))[0]

    def _make_solve(self, transpose: bool):
        @jax.custom_jvp
        def solve(arrays, theta, rhs):
            return self.bound(arrays)._solve_raw(theta, rhs, transpose)

        @solve.defjvp
        def solve_jvp(primals, tangents):
            arrays, theta, rhs = primals
            _, dth, drhs = tangents
            o = self.bound(arrays)
            x = o._solve_raw(theta, rhs, transpose)
            d = drhs  # A(θ) x = r  =>  A dx = dr - (dA) x,  dA = Σ_q dθ_q A_q (Aᵀ: A_qᵀ)
            if self.p:  # negate the p-vector, not the (n, K) cotangent in reverse mode
                d = d + o.coef_matvec(x, transpose) @ (-dth)
            return x, o._linear_solve(theta, d, transpose)

        return solve

    # -- density / survival series ---------------------------------------------------------------
    def series(
        self,
        theta,
        times,
        discrete: bool,
        density: bool,
        tol: float,
        max_steps: int,
        log: bool = False,
    ):
        key = (bool(discrete), bool(density), float(tol), int(max_steps), bool(log))
        fn = self._series_cache.get(key)
        if fn is None:
            fn = self._series_cache[key] = self._make_series(*key)
        return fn(self.arrays(), theta, times)

    def _make_series(self, discrete, density, tol, max_steps, log):
        # A row that fails (negative or NaN weight, bad time, too many steps) comes back NaN.
        # With `log` the kernels return log values and the derivatives of the logs.
        attrs = dict(
            discrete=discrete, density=density, tol=tol, max_steps=np.int64(max_steps), log=log
        )

        @jax.custom_jvp
        def series(arrays, theta, times):
            o = self.bound(arrays)
            out = jax.ShapeDtypeStruct((1, times.shape[-1]), jnp.float64)
            return o._call("phasic_series", out, *o._start_args, theta[None], times[None], **attrs)[
                0
            ]

        @series.defjvp
        def series_jvp(primals, tangents):
            arrays, theta, times = primals
            _, dth, dt = tangents
            o = self.bound(arrays)
            T = times.shape[-1]
            outs = (
                jax.ShapeDtypeStruct((1, T), jnp.float64),
                jax.ShapeDtypeStruct((1, T, self.p), jnp.float64),
                jax.ShapeDtypeStruct((1, T), jnp.float64),
            )
            val, jac, dfdt = o._call(
                "phasic_series_jac", outs, *o._start_args, theta[None], times[None], **attrs
            )
            # A failed point (NaN value: outside the support, a bad time, too many steps) has a
            # zero derivative, so a likelihood reading it as -inf keeps a finite gradient.
            failed = jnp.isnan(val[0])
            tangent = jnp.where(failed[:, None], 0.0, jac[0]) @ dth
            if not discrete:
                tangent = tangent + jnp.where(failed, 0.0, dfdt[0]) * dt
            return val[0], tangent

        return series


class DenseOps(_Base):
    """Pure JAX on the dense matrix A(θ) (any platform; O(n^2) memory)."""

    def weights(self, theta):
        """Edge weights (E,); all NaN when one is negative or NaN (the native path's NaN row)."""
        w = self._base + self._coef @ theta
        return jnp.where(jnp.all(w >= 0), w, jnp.nan)

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

    apply = matvec

    def series(
        self,
        theta,
        times,
        discrete: bool,
        density: bool,
        tol: float,
        max_steps: int,
        log: bool = False,
    ):
        if log:  # dense reference: the log of the value (underflows where the native one does not)
            return jnp.log(self.series(theta, times, discrete, density, tol, max_steps))
        alpha = self.alpha(theta)
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


def jit_with_graph(ops: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``jax.jit`` of ``fn(ops, *args)`` as a function of ``*args``, with the graph's arrays
    passed to the compiled program as parameters rather than embedded in it as constants, which
    XLA compiles: a small model's first call takes half the time so
    (``bench/bench_fixed_costs.py``)."""
    leaves, tree = jax.tree_util.tree_flatten(ops.arrays())
    k = len(leaves)
    # flat positional arrays: the cheapest arguments for jit's dispatch
    compiled = jax.jit(lambda *a: fn(ops.bound(jax.tree_util.tree_unflatten(tree, a[:k])), *a[k:]))

    def call(*args: Any) -> Any:
        return compiled(*leaves, *args)

    return call


def ops_for(ga: GraphArrays, backend: str = "auto"):
    """The operations for ``ga``: ``"ffi"`` (native, CPU), ``"jax"`` (pure JAX) or ``"auto"``."""
    if backend == "auto":
        backend = "ffi" if jax.default_backend() == "cpu" else "jax"
    if backend == "ffi":
        return FfiOps(ga)
    if backend == "jax":
        return DenseOps(ga)
    raise ValueError(f"backend = {backend!r}; choose 'auto', 'ffi' or 'jax'")
