"""JAX functions of a graph: densities/pmfs and moments, jit/vmap/grad-ready, float64."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

import jax

from .._clock import clock_start
from .._epoch_chain import epoch_moments
from .._errors import ParameterError, PhasicError
from .._moment_chain import moment_chain
from .._settings import DEFAULT_MAX_STEPS, check_max_steps, check_tol
from ._epochs import across_epochs, carry_forward, fixed_origin, make_carry, make_propagator
from ._ops import jit_with_graph, ops_for
from ._time_change import clock_change_first_moment, clock_density

if TYPE_CHECKING:
    from ..graph import Graph

__all__ = ["moments_from_graph", "pmf_and_moments_from_graph", "pmf_from_graph"]


def _require_x64() -> None:
    if not jax.config.read("jax_enable_x64"):
        raise PhasicError(
            "phasic's JAX functions compute in float64, but JAX is in 32-bit mode: call "
            "jax.config.update('jax_enable_x64', True) or initialize_distributed(enable_x64=True) "
            "before building the model"
        )


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _theta(theta, p: int):
    th = jnp.asarray(theta, dtype=jnp.float64)
    if th.shape != (p,):
        raise ParameterError(
            f"θ has shape {th.shape}; this model takes θ of shape ({p},) (use jax.vmap for a batch)"
        )
    if _is_concrete(th) and not np.all(np.isfinite(np.asarray(th))):
        raise ParameterError(f"θ = {np.asarray(th).tolist()} holds NaN or infinite values")
    return th


def _epoch_count(epochs, graph: Graph, discrete: bool) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ParameterError(
            f"epochs = {epochs!r} must be the number of epochs, an integer >= 1 (the start times "
            "are an argument of the returned function)"
        )
    if discrete:
        raise ParameterError(
            "epochs are start times on the continuous clock; a discrete model has none"
        )
    if not graph.parameterized:
        raise ParameterError(
            "epochs change θ over time, but this graph has no parameters: build it with "
            "parameterized=True (edge weights base + coefficients · θ)"
        )
    return int(epochs)


def _theta_rows(theta, n_epochs: int, p: int):
    th = jnp.asarray(theta, dtype=jnp.float64)
    if th.shape != (n_epochs, p):
        raise ParameterError(
            f"θ has shape {th.shape}; with {n_epochs} epochs this model takes one θ row per "
            f"epoch, shape ({n_epochs}, {p}) (use jax.vmap for a batch)"
        )
    if _is_concrete(th) and not np.all(np.isfinite(np.asarray(th))):
        raise ParameterError(f"θ = {np.asarray(th).tolist()} holds NaN or infinite values")
    return th


def _starts(starts, n_epochs: int):
    """Epoch start times (E,); checked when concrete. Traced, a first start other than 0 or a
    decreasing pair makes the result NaN instead (see `_epochs`)."""
    st = jnp.asarray(starts, dtype=jnp.float64)
    if st.shape != (n_epochs,):
        raise ParameterError(
            f"starts has shape {st.shape}; expected ({n_epochs},): one start time per epoch, "
            "the first 0"
        )
    if _is_concrete(st):
        v = np.asarray(st)
        if not np.all(np.isfinite(v)) or v[0] != 0 or np.any(np.diff(v) <= 0):
            raise ParameterError(
                f"starts = {v.tolist()} must be increasing finite times beginning at 0, "
                "e.g. [0, t1, t2]"
            )
    return st


def _times(times, discrete: bool):
    t = jnp.asarray(times, dtype=jnp.float64)
    if t.ndim > 1:
        raise ParameterError(f"times must be a scalar or 1-D, got shape {t.shape}")
    if _is_concrete(t):
        tv = np.asarray(t)
        if not np.all(np.isfinite(tv)) or np.any(tv < 0):
            raise ParameterError(f"times must be finite and >= 0; got {tv.ravel().tolist()[:8]}")
        if discrete and np.any(tv != np.round(tv)):
            raise ParameterError(
                f"jumps must be non-negative integers; got {tv.ravel().tolist()[:8]}"
            )
    return t


def pmf_from_graph(
    graph: Graph,
    discrete: bool = False,
    *,
    epochs: int | None = None,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
    log: bool = False,
) -> Callable:
    """A JAX function of the absorption-time density (or discrete pmf).

    Parameters
    ----------
    graph : Graph
    discrete : bool
        Probability mass of the number of jumps instead of the continuous density.
    epochs : int, optional
        Number of epochs of piecewise-constant θ (continuous models): the model then takes
        ``(theta, times, starts)``, one θ row per epoch (E, p) and the start times (E,) from 0,
        with exact gradients in all three. Each density is then accurate to ``tol`` relative
        to the largest exit rate of its epoch (not relative to itself in a far tail).
    tol : float
        Error bound of the uniformization series (absolute and relative), in (0, 1).
    max_steps : int
        Most uniformization steps one evaluation may take (about largest rate × largest time);
        beyond it the value is NaN, so a sampler rejects the point instead of running out of
        time (memory does not grow with the step count).
    backend : {"auto", "ffi", "jax"}
        ``"ffi"``: native kernels through XLA FFI (CPU); ``"jax"``: pure JAX (dense); ``"auto"``
        picks ``"ffi"`` on CPU.
    log : bool
        Return the natural log of the density, computed in log space: exact, with exact
        gradients, in tails far below 1e-308 where the density itself underflows to 0 (-inf
        where the density is 0). Without epochs; with them, the log of the density.

    Returns
    -------
    model
        ``model(theta, times)`` for a parameterized graph, ``model(times)`` otherwise; ``theta``
        shape (p,), ``times`` scalar or (T,); returns float64 of the shape of ``times``. Works
        under ``jax.jit``, ``jax.vmap`` (a θ batch becomes one kernel call), ``jax.grad`` and
        ``shard_map``. ``model.log_density`` is the same model with ``log=True``: the density
        likelihood of `SVGD` and `NUTS` uses it, so observations in far tails keep their weight.
    """
    _require_x64()
    n_epochs = None if epochs is None else _epoch_count(epochs, graph, discrete)
    tol = check_tol(tol)
    max_steps = check_max_steps(max_steps)
    ga = graph.compile()
    ops = ops_for(ga, backend)
    p = ga.param_length
    if n_epochs is not None:
        tag = f"{ga.fingerprint()}:{tol}"
        if clock_start(ga) is not None:  # a θ-scaled chain: the θ = 1 density on the clock
            clock = clock_density(ops, n_epochs, tol, max_steps, log)
            return _pmf_by_epoch(ops, n_epochs, max_steps, f"{tag}:clock:{log}", clock)
        carried = _carried_density(ops, n_epochs, tol, max_steps)
        epoch_model = _pmf_by_epoch(ops, n_epochs, max_steps, tag, carried)
        if not log:
            return epoch_model

        def log_epoch_model(*args):
            return jnp.log(epoch_model(*args))

        tag = getattr(epoch_model, "phasic_fingerprint", "")
        vars(log_epoch_model)["phasic_fingerprint"] = f"log:{tag}"
        return log_epoch_model

    def build(log: bool) -> Callable:
        def density(o, th: jax.Array, t1: jax.Array) -> jax.Array:
            def pmf(th):
                out = o.series(th, t1, discrete, True, tol, max_steps, log)
                if discrete:  # P(τ = 0) is the defect
                    d0 = o.defect(th)
                    out = jnp.where(t1 == 0, jnp.log(d0) if log else d0, out)
                return out

            if discrete or not o.series_checks_support:
                return o.guard(th, pmf)
            return pmf(th)

        # the graph's arrays as parameters of the program: a small model's first call compiles
        # in about half the time
        compute = jit_with_graph(ops, density)

        def model(theta, times) -> jax.Array:
            th = _theta(theta, p)
            t = _times(times, discrete)
            return compute(th, jnp.atleast_1d(t)).reshape(t.shape)

        out = model if graph.parameterized else (lambda times: model(jnp.zeros(0), times))
        tag = f"pmf:{ga.fingerprint()}:{discrete}:{tol}:{max_steps}:{log}"
        vars(out)["phasic_fingerprint"] = tag  # identifies the model in SVGD checkpoints
        return out

    out = build(log)
    if not log:  # what the density likelihood uses (jit compiles it only when it is called)
        vars(out)["log_density"] = build(True)
    return out


def _carried_density(ops, n_epochs: int, tol: float, max_steps: int) -> Callable:
    """``density(th (E, p), t (T,), starts (E,))`` under piecewise-constant θ, through the graph.

    The state distribution α_e at each epoch's start is carried forward (row vectors), and the
    density at the epoch's times is α_e · exp(S_e τ) s_e with the exit rates s_e propagated to
    every local time τ at once (one series, one column per time); a time uses the epoch it
    falls in.
    """
    zero_r = jnp.zeros((ops.n, 1))
    rows = make_propagator(ops, zero_r, 1, tol, max_steps, transpose=True)
    cols = make_propagator(ops, zero_r, 1, tol, max_steps)

    def density(th: jax.Array, t: jax.Array, st: jax.Array) -> jax.Array:
        deltas = jnp.diff(st)
        alpha = ops.alpha(th[0])
        out = jnp.zeros_like(t)
        for e in range(n_epochs):
            last = e + 1 == n_epochs
            tau = jnp.maximum(t - st[e], 0.0)
            if not last:  # times past the epoch are not used: keep their series short
                tau = jnp.minimum(tau, deltas[e])
            s_e = ops.exit_rates(th[e])
            u = jnp.broadcast_to(s_e[:, None, None], (ops.n, 1, t.shape[0]))
            scale = jax.lax.stop_gradient(jnp.broadcast_to(jnp.max(s_e), (1, t.shape[0])))
            f_e = alpha @ cols(th[e], u, tau, scale)[:, 0, :]
            inside = t >= st[e] if last else (t >= st[e]) & (t < st[e + 1])
            out = jnp.where(inside, f_e, out)
            if not last:
                alpha = carry_forward(rows, th[e], alpha, deltas[e])
        return out

    return density


def _pmf_by_epoch(ops, n_epochs: int, max_steps: int, tag: str, density: Callable) -> Callable:
    """``model(theta, times, starts)``: ``density(th, t, starts)`` (`_carried_density`, or
    `_time_change.clock_density` for a θ-scaled chain) with the inputs checked, outside the
    support and with a first start other than 0 NaN."""
    p = ops.p

    @jax.jit
    def compute(th: jax.Array, t1: jax.Array, st: jax.Array) -> jax.Array:
        out = ops.guard(th, lambda x: density(x, t1, fixed_origin(st)))
        return jnp.where(st[0] == 0, out, jnp.nan)

    def model(theta, times, starts) -> jax.Array:
        th = _theta_rows(theta, n_epochs, p)
        t = _times(times, False)
        st = _starts(starts, n_epochs)
        return compute(th, jnp.atleast_1d(t), st).reshape(t.shape)

    vars(model)["phasic_fingerprint"] = f"pmf:{tag}:epochs={n_epochs}:{max_steps}"
    return model


def moments_from_graph(
    graph: Graph,
    nr_moments: int = 2,
    rewards=None,
    *,
    discrete: bool = False,
    epochs: int | None = None,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
) -> Callable:
    """A JAX function of the raw moments E[Y^j], j = 1..nr_moments, of the accumulated reward.

    Parameters
    ----------
    graph : Graph
    nr_moments : int
    rewards : (vertices_length(),) or (vertices_length(), R), optional
        Reward per vertex (per unit time); default 1 (the absorption time).
    discrete : bool
        Moments of a discrete model (first-step recursion).
    epochs : int, optional
        Number of epochs of piecewise-constant θ (continuous models). The function then takes
        ``(theta, starts)``: one θ row per epoch and the epochs' start times.
    tol, max_steps
        With epochs: relative truncation error of each finite epoch's uniformization series
        (against the largest entry of its stack), and the most terms one series may take
        (about largest rate × epoch length); beyond it the moments are NaN.
    backend : {"auto", "ffi", "jax"}

    Returns
    -------
    fn
        ``fn(theta)`` (or ``fn()`` for a constant graph), or ``fn(theta, starts)`` with epochs:
        theta (E, p), starts (E,) increasing from 0. Returns shape (nr_moments,), or
        (nr_moments, R) for a reward matrix. Exact (series-accurate across finite epochs), with
        exact gradients with respect to θ and the start times; jit/vmap/grad-ready.
    """
    _require_x64()
    if not isinstance(nr_moments, int) or nr_moments < 1:
        raise ParameterError(f"nr_moments = {nr_moments!r} must be an integer >= 1")
    n_epochs = None if epochs is None else _epoch_count(epochs, graph, discrete)
    tol = check_tol(tol)
    max_steps = check_max_steps(max_steps)
    ga = graph.compile()
    graph._require_absorption(ga)  # moments of a closed class are infinite
    ops = ops_for(ga, backend)
    r_np, squeeze = ga.reward_matrix(rewards, graph.vertices_length())
    r = jnp.asarray(r_np)
    p = ga.param_length
    k = nr_moments
    plain = rewards is None  # r = 1: no reward products in the chain
    factorial = jnp.asarray([1.0 if discrete else math.factorial(j) for j in range(1, k + 1)])

    def chain(th: jax.Array) -> jax.Array:
        """Stack (n, k, R) of y_j (discrete) or z_j = y_j / j! (continuous), j = 1..k."""
        # Continuous: the factorials go on the moments, so no (n, R)-sized array is scaled per
        # θ (they dominate large batches).
        ys = moment_chain(
            lambda b: ops.solve(th, b),
            lambda x: ops.matvec(th, x),
            None if plain else r,
            jnp.ones_like(r),
            k,
            discrete,
            scaled=True,
        )
        return jnp.stack(ys[1:], axis=1)

    def finish(th0: jax.Array, w: jax.Array) -> jax.Array:
        out = ops.alpha_dot(th0, w.reshape(w.shape[0], -1)).reshape(k, -1) * factorial[:, None]
        return out[:, 0] if squeeze else out

    tag = f"moments:{ga.fingerprint()}:{nr_moments}:{discrete}:" + (
        "ones" if plain else hashlib.sha1(np.ascontiguousarray(r_np).tobytes()).hexdigest()
    )
    # graphs whose rates are θ times constants: first moments by a change of clock, with or
    # without epochs (`_time_change`)
    clock = clock_change_first_moment(ga, r_np, max_steps) if k == 1 and not discrete else None
    if n_epochs is None:

        def value(t: jax.Array) -> jax.Array:
            if clock is not None:
                out = clock(t[None], jnp.zeros(0))
                return out[:, 0] if squeeze else out
            if k == 1 and r.shape[1] > 1:  # E[Y] = (α U) r: one transposed solve, not R columns
                tau = ops.solve(t, ops.alpha(t)[:, None], transpose=True)[:, 0]
                return (tau @ r)[None]  # a reward matrix (never squeezed); 1! = 1
            return finish(t, chain(t))

        compute = jax.jit(lambda th: ops.guard(th, value))

        def fn(theta=None) -> jax.Array:
            return compute(_theta(jnp.zeros(0) if theta is None else theta, p))

        vars(fn)["phasic_fingerprint"] = tag
        return fn

    propagate = make_propagator(ops, r, k, tol, max_steps)
    carry = make_carry(ops, tol, max_steps)

    def first_moment(th: jax.Array, deltas: jax.Array) -> jax.Array:
        """E[Y] (1, R) = τ · r with τ the expected time in each state: the occupations of the
        finite epochs (`make_carry`: no solve where the graph reduces to a Coxian) plus a U of
        the last, a_e the state distribution at t_e. One row vector carried forward instead of
        the R columns of the backward stack. Graphs whose rates are θ times constants take
        the change of clock instead (`_time_change`: no pass over the graph per call)."""
        if clock is not None:
            return clock(th, deltas)
        a = ops.alpha(th[0])
        tau = jnp.zeros_like(a)
        for e in range(n_epochs - 1):
            a, occ = carry(th[e], a, deltas[e])
            tau = tau + occ
        tau = tau + ops.solve(th[-1], a[:, None], transpose=True)[:, 0]
        return (tau @ r)[None]

    def by_epoch(th: jax.Array, starts: jax.Array) -> jax.Array:
        deltas = jnp.diff(fixed_origin(starts))
        if k == 1:
            out = first_moment(th, deltas)
            out = out[:, 0] if squeeze else out
        else:
            across = across_epochs(propagate, th, deltas)
            out = finish(th[0], epoch_moments(lambda e: chain(th[e]), across, n_epochs))
        return jnp.where(starts[0] == 0, out, jnp.nan)

    @jax.jit
    def compute_epochs(th: jax.Array, st: jax.Array) -> jax.Array:
        return ops.guard(th, lambda t: by_epoch(t, st))

    def fn_epochs(theta, starts) -> jax.Array:
        return compute_epochs(_theta_rows(theta, n_epochs, p), _starts(starts, n_epochs))

    vars(fn_epochs)["phasic_fingerprint"] = f"{tag}:epochs={n_epochs}:{tol}:{max_steps}"
    return fn_epochs


def pmf_and_moments_from_graph(
    graph: Graph,
    nr_moments: int = 2,
    discrete: bool = False,
    rewards=None,
    *,
    epochs: int | None = None,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
) -> Callable:
    """``model(theta, times) -> (pmf, moments)``: `pmf_from_graph` and `moments_from_graph` in
    one; ``model(theta, times, starts)`` with ``epochs``."""
    kw = dict(epochs=epochs, tol=tol, max_steps=max_steps, backend=backend)
    pmf = pmf_from_graph(graph, discrete, **kw)  # type: ignore[arg-type]
    mom = moments_from_graph(graph, nr_moments, rewards, discrete=discrete, **kw)  # type: ignore[arg-type]
    if epochs is not None:
        return lambda theta, times, starts: (pmf(theta, times, starts), mom(theta, starts))
    if graph.parameterized:
        return lambda theta, times: (pmf(theta, times), mom(theta))
    return lambda times: (pmf(times), mom())
