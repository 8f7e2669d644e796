"""Epochs in the JAX path: exp(M Δ) u across a finite epoch, differentiable in θ, u and Δ.

M is the coupled moment generator of `phasic._epoch_chain` (``(M u)_j = -A u_j + r ∘ u_{j-1}``
on a stack u of shape (n, k, R)). The value is a uniformization series in a `jax.lax.while_loop`
that stops at a proven tail bound (`tail_bound`), so its length follows λΔ and memory does not.
Reverse mode is a `jax.custom_vjp`, since JAX cannot differentiate a while loop backwards:

* ū = exp(Mᵀ Δ) ȳ, the same series transposed, with the same number of terms;
* θ̄_q = ȳ · d y / d θ_q, with the p tangents ``τ_{m+1} = (I + M/λ) τ_m - A_q x_m / λ`` carried
  beside ``x_m`` (λ is held fixed: the series is exact for any λ >= every exit rate, so it
  carries no derivative);
* Δ̄ = ȳ · M y.

The backward pass thus costs about (p + 2) times the value, whatever the number of epochs.
A series that would pass ``max_steps`` (or a negative Δ) gives NaN with zero derivatives.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

import jax

from .._epoch_chain import coupled_step, shift_orders, tail_bound

__all__ = ["across_epochs", "carry_forward", "fixed_origin", "make_carry", "make_propagator"]


def fixed_origin(starts: jax.Array) -> jax.Array:
    """Epoch start times with t_0 held fixed: it is 0 by definition, so it has no derivative
    (a traced non-zero t_0 makes the callers' results NaN)."""
    return starts.at[0].set(jax.lax.stop_gradient(starts[0]))


def across_epochs(propagate: Callable, thetas: jax.Array, deltas: jax.Array) -> Callable:
    """`epoch_moments`' ``propagate(e, u, w)``: exp(M_e Δ_e) u at θ row e, the series'
    tolerance set by the size of w (each order and column)."""

    def across(e: int, u: jax.Array, w: jax.Array) -> jax.Array:
        scale = jax.lax.stop_gradient(jnp.max(jnp.abs(w), axis=0))  # (k, R)
        return propagate(thetas[e], u, deltas[e], scale)

    return across


def carry_forward(rows: Callable, theta: jax.Array, a: jax.Array, delta: jax.Array) -> jax.Array:
    """The state distribution a (n,) one epoch of length ``delta`` later, by a row propagator
    (``make_propagator(..., k=1, transpose=True)``), accurate relative to its largest entry."""
    one = jax.lax.stop_gradient(jnp.ones((1, 1)) * jnp.max(a))
    return rows(theta, a[:, None, None], delta, one)[:, 0, 0]


def make_carry(ops, tol: float, max_steps: int) -> Callable:
    """``carry(theta, a, delta) -> (y, occ)``: a state distribution a (n,) one epoch of length
    ``delta`` later, y = a exp(SΔ), and the expected time it spends in each state meanwhile,
    occ = ∫₀^Δ a exp(Ss) ds = (a - y) A⁻¹, accurate relative to max(a).

    Native graphs take one kernel (``src/cpp/carry.cpp``: the Coxian reduction where the graph
    reduces, no solve), with a native vjp; other backends the row propagator and a transposed
    solve. NaN (zero derivatives) where the series fails."""
    if not hasattr(ops, "carry_raw"):
        rows = make_propagator(ops, jnp.zeros((ops.n, 1)), 1, tol, max_steps, transpose=True)

        def composed(theta, a, delta):
            y = carry_forward(rows, theta, a, delta)
            return y, ops.solve(theta, (a - y)[:, None], transpose=True)[:, 0]

        return composed

    def raw(theta, a, delta):
        floor = tol * jax.lax.stop_gradient(jnp.max(a))
        d = jnp.asarray(delta, jnp.float64)
        return ops.carry_raw(theta, a, d, floor, max_steps), d

    @jax.custom_vjp
    def carry(theta, a, delta):
        (y, occ, _), _ = raw(theta, a, delta)
        return y, occ

    def fwd(theta, a, delta):
        (y, occ, steps), d = raw(theta, a, delta)
        return (y, occ), (theta, a, d, steps, y, occ)

    def bwd(res, cts):
        theta, a, d, steps, y, occ = res
        ybar, obar = cts
        abar, thbar, dbar = ops.carry_vjp_raw(theta, a, d, steps, y, occ, ybar, obar)
        ok = jnp.all(jnp.isfinite(y))
        zero = jnp.zeros_like
        return (
            jnp.where(ok, thbar, zero(thbar)),
            jnp.where(ok, abar, zero(abar)),
            jnp.where(ok, dbar, zero(dbar)),
        )

    carry.defvjp(fwd, bwd)
    return carry


def make_propagator(
    ops,
    r: jax.Array,
    k: int,
    tol: float,
    max_steps: int,
    coupling_param: int | None = None,
    transpose: bool = False,
) -> Callable:
    """``propagate(theta, u, delta, scale) -> exp(M Δ) u`` for stacks u of shape (n, k, R).

    Parameters
    ----------
    ops : FfiOps or DenseOps of the graph
    r : shape (n, R), the reward of each transient vertex per column
    k : number of orders in the stack (the coupling is zero for k = 1)
    tol : relative truncation error of the series (see ``scale`` below)
    max_steps : most terms of one series; beyond it the result is NaN
    coupling_param : the coupling is ``θ[coupling_param] · r`` instead of ``r`` (the event
        rate of `counts_from_graph`, which also sits on the graph's edges)
    transpose : propagate row vectors, ``exp(Mᵀ Δ) u`` (a state distribution forward in time)

    ``delta`` is one time span, or one per column (R,) (a density at several times). The
    series of column c stops when its tail is below ``tol`` times the smallest entry of
    ``scale[:, c]`` ((k, R): the size of each order and column of what the caller builds from
    the result; floored at 1e-8 of the largest, so a zero column cannot hold the series open).
    ``scale`` carries no derivative.
    """
    n = ops.n
    r_max = jnp.max(jnp.abs(r)) if r.size else jnp.float64(0.0)

    def coupling(theta):
        return 1.0 if coupling_param is None else theta[coupling_param]

    def step(theta, x, lam, trans: bool):
        """(I + M/λ) x (or (I + Mᵀ/λ) x) for x of shape (n, ..., k, R)."""

        def mv(y):
            return ops.apply(theta, y.reshape(n, -1), trans).reshape(y.shape)

        rr = coupling(theta) * r.reshape((n,) + (1,) * (x.ndim - 2) + (r.shape[1],))
        return coupled_step(mv, x, rr, lam, jnp, trans)

    def rates(theta, delta, R):
        lam = jax.lax.stop_gradient(jnp.maximum(jnp.max(ops.out_rates(theta)), 1e-300))
        g = 1.0 + jax.lax.stop_gradient(jnp.abs(coupling(theta))) * r_max / lam if k > 1 else 1.0
        return lam, jnp.broadcast_to(lam * delta, (R,)), g

    native = hasattr(ops, "propagate_raw")
    cp = -1 if coupling_param is None else coupling_param

    def native_operands(delta, R):
        """Δ per column (R,) and r as (n, R) (k = 1 never reads it; the kernel checks its
        shape), as the native kernels take them."""
        d = jnp.broadcast_to(delta, (R,)).astype(jnp.float64)
        return d, jnp.broadcast_to(r, (n, R))

    def series(theta, u, delta, scale):
        R = u.shape[-1]
        floor = tol * jnp.maximum(jnp.min(scale, axis=0), 1e-8 * jnp.max(scale))  # (R,)
        if native:
            d, rr = native_operands(delta, R)
            y, m = ops.propagate_raw(theta, u, d, floor, rr, transpose, cp, max_steps)
            return y, m, jnp.all(jnp.isfinite(y))
        lam, lt, g = rates(theta, delta, R)
        log_lt = jnp.log(lt)

        def done(m, pi, x):
            norm = jnp.max(jnp.abs(x), axis=(0, 1))
            return jnp.all(tail_bound(m, pi, norm, lt, g, jnp) <= floor)

        def body(c):
            m, logpi, x, acc, _ = c
            m = m + 1
            x = step(theta, x, lam, transpose)
            logpi = logpi + log_lt - jnp.log(m)
            pi = jnp.exp(logpi)
            acc = acc + pi * x
            return m, logpi, x, acc, done(m, pi, x)

        pi0 = jnp.exp(-lt)
        # else no loop (a NaN never passes the tail test): NaN at once
        valid = (
            jnp.all(delta >= 0)
            & jnp.all(jnp.isfinite(lt))
            & jnp.all(jnp.isfinite(floor))
            & jnp.all(jnp.isfinite(u))
        )
        init = (0, -lt, u, pi0 * u, done(0, pi0, u) | ~valid)
        m, _, _, acc, ok = jax.lax.while_loop(lambda c: ~c[4] & (c[0] < max_steps), body, init)
        ok = ok & valid
        return jnp.where(ok, acc, jnp.nan), m, ok

    @jax.custom_vjp
    def propagate(theta, u, delta, scale):
        return series(theta, u, delta, scale)[0]

    def fwd(theta, u, delta, scale):
        y, m, ok = series(theta, u, delta, scale)
        return y, (theta, u, delta, scale, y, m, ok)

    def bwd(res, ybar):
        theta, u, delta, scale, y, steps, ok = res
        R = u.shape[-1]
        if native:
            d, rr = native_operands(delta, R)
            ubar, thbar, dbar = ops.propagate_vjp_raw(
                theta, u, d, steps, y, ybar, rr, transpose, cp
            )
        else:
            ubar, thbar, dbar = loop_vjp(theta, u, delta, y, steps, ybar)
        dbar = jnp.sum(dbar) if jnp.ndim(delta) == 0 else dbar
        zero = jnp.zeros_like
        return (
            jnp.where(ok, thbar, zero(thbar)),
            jnp.where(ok, ubar, zero(ubar)),
            jnp.where(ok, dbar, zero(dbar)),
            zero(scale),
        )

    def loop_vjp(theta, u, delta, y, steps, ybar):
        """(ū, θ̄, Δ̄ per column) in pure JAX (module docstring)."""
        lam, lt, _ = rates(theta, delta, u.shape[-1])
        log_lt = jnp.log(lt)
        p = theta.shape[0]

        def a_q(x):  # -(dM/dθ_q) x (or its transpose) for every q, laid out (n, p, k, R)
            cm = ops.coef_matvec(x.reshape(n, -1), transpose)  # (n, kR, p)
            out = jnp.moveaxis(cm, -1, 1).reshape((n, p) + x.shape[1:])
            if coupling_param is None:
                return out
            return out.at[:, coupling_param].add(-shift_orders(r[:, None, :] * x, transpose, jnp))

        def body(m, c):
            logpi, x, tau, yt, ubar, thbar = c
            # term m + 1 from term m
            tau = step(theta, tau, lam, transpose) - a_q(x) / lam
            x = step(theta, x, lam, transpose)
            yt = step(theta, yt, lam, not transpose)
            logpi = logpi + log_lt - jnp.log(m + 1.0)
            pi = jnp.exp(logpi)
            ubar = ubar + pi * yt
            thbar = thbar + jnp.einsum("nkr,nqkr,r->q", ybar, tau, pi)
            return logpi, x, tau, yt, ubar, thbar

        init = (
            -lt,
            u,
            jnp.zeros((n, p) + u.shape[1:], u.dtype),
            ybar,
            jnp.exp(-lt) * ybar,
            jnp.zeros(p, u.dtype),
        )
        _, _, _, _, ubar, thbar = jax.lax.fori_loop(0, steps, body, init)
        my = lam * (step(theta, y, lam, transpose) - y)
        return ubar, thbar, jnp.sum(ybar * my, axis=(0, 1)).reshape(-1)

    propagate.defvjp(fwd, bwd)
    return propagate
