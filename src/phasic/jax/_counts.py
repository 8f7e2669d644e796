"""Counts of events during the absorption time, as JAX functions of θ and the event rate.

Events of a Poisson process of rate μ · r(state) (mutations on the branches of a coalescent:
r = branch count) happen until absorption. With A = -S, s the exit rates, Λ = μ diag(r) and
B = A + Λ, the generating function is E[z^N] = α (B - zΛ)⁻¹ s (plus the defect), so

    P(N = k) = α x_k,   x_0 = B⁻¹ s,   x_k = B⁻¹ Λ x_{k-1},

one sparse solve per count on the graph with an absorbing edge of weight μ r_i added at each
vertex (`with_event_rate`: μ becomes the last parameter, so the solves and their exact
gradients are the ones every moment uses). For several rewards (event types a = 1..R) the
joint table follows ``x_k = B⁻¹ Σ_a Λ_a x_{k - e_a}`` with B = A + Σ_a Λ_a, one solve per level
|k|. Across finite epochs the stack (x_0..x_K) is carried by the coupled propagator of
`phasic.jax._epochs` (diagonal -B, coupling Λ from count k-1 to k), as moments are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

import jax

from .._count_chain import joint_count_vectors
from .._epoch_chain import epoch_moments
from .._errors import ParameterError
from .._settings import DEFAULT_MAX_STEPS, check_max_steps, check_tol
from ..graph._transform import with_event_rate
from ._bridge import (
    _epoch_count,
    _is_concrete,
    _require_x64,
    _starts,
    _theta,
    _theta_rows,
    moments_from_graph,
)
from ._epochs import across_epochs, fixed_origin, make_propagator
from ._joint_epochs import joint_counts_with_epochs
from ._ops import ops_for

if TYPE_CHECKING:
    from ..graph import Graph

__all__ = ["counts_from_graph", "laplace_transform_from_graph"]


def _rate(rate) -> jax.Array:
    mu = jnp.asarray(rate, dtype=jnp.float64)
    if mu.shape != ():
        raise ParameterError(f"rate has shape {mu.shape}; it is one event rate (a scalar)")
    if _is_concrete(mu) and not (np.isfinite(float(mu)) and float(mu) >= 0):
        raise ParameterError(f"rate = {float(mu)!r} must be finite and >= 0 (events per unit time)")
    return mu


def counts_from_graph(
    graph: Graph,
    rewards=None,
    max_count: int = 10,
    *,
    epochs: int | None = None,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
) -> Callable:
    """A JAX function of the distribution of event counts during the absorption time.

    Events happen at ``rate × reward(state)`` per unit time (module docstring): with rewards
    the branch counts of a coalescent and ``rate`` = θ/2, the counts are segregating sites;
    with `phasic.models.sfs_rewards` columns, the site frequency spectrum.

    Parameters
    ----------
    graph : Graph
    rewards : (vertices_length(),) or (vertices_length(), R), >= 0, optional
        Reward per vertex (default 1); a matrix gives the joint counts of its R columns.
    max_count : int
        K: the table covers counts 0..K (per column).
    epochs : int, optional
        Number of epochs of piecewise-constant θ. The function then takes
        ``(theta, rate, starts)``. A joint table is then the expected occupation of the
        expanded (state, counts) chain, n (K + 1)^R states (`phasic.jax._joint_epochs`).
    tol, max_steps
        With epochs: the series settings of `moments_from_graph`.
    backend : {"auto", "ffi", "jax"}

    Returns
    -------
    fn
        ``fn(theta, rate)`` (``fn(rate)`` for a constant graph, ``fn(theta, rate, starts)`` with
        epochs), giving P(N = 0..K), shape (K+1,), or the joint table (K+1,)*R for a reward
        matrix. Exact, with exact gradients in θ, the rate and the start times; θ outside the
        support or a negative traced rate give NaN with zero gradient.
    """
    _require_x64()
    if isinstance(max_count, bool) or not isinstance(max_count, int | np.integer) or max_count < 0:
        raise ParameterError(f"max_count = {max_count!r} must be an integer >= 0")
    K = int(max_count)
    n_epochs = None if epochs is None else _epoch_count(epochs, graph, False)
    tol = check_tol(tol)
    max_steps = check_max_steps(max_steps)
    ga = graph.compile()
    graph._require_absorption(ga)  # the counts' solves need absorption (mass would be lost)
    r_np, squeeze = ga.reward_matrix(rewards, graph.vertices_length(), nonneg=True)
    p = ga.param_length
    base = ops_for(ga, backend)
    ops = ops_for(with_event_rate(ga, r_np.sum(axis=1)), backend)
    r = jnp.asarray(r_np)

    def chain(th: jax.Array, mu: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(θ with μ appended, the stack (n, K+1, 1) of x_0..x_K), one reward."""
        ta = jnp.concatenate([th, mu[None]])
        x = ops.solve(ta, base.exit_rates(th)[:, None])
        xs = [x]
        for _ in range(K):
            x = ops.solve(ta, mu * r * x)
            xs.append(x)
        return ta, jnp.stack(xs, axis=1)

    def finish(ta: jax.Array, w: jax.Array) -> jax.Array:
        pk = ops.alpha_dot(ta, w.reshape(w.shape[0], -1))
        return pk.at[0].add(ops.defect(ta))

    def joint(th: jax.Array, mu: jax.Array) -> jax.Array:
        ta = jnp.concatenate([th, mu[None]])
        cells, x = joint_count_vectors(
            lambda b: ops.solve(ta, b), jnp.stack, base.exit_rates(th), r, mu, K
        )
        out = (
            jnp.zeros((K + 1,) * r.shape[1]).at[tuple(np.array(cells).T)].set(ops.alpha_dot(ta, x))
        )
        return out.at[(0,) * r.shape[1]].add(ops.defect(ta))

    if n_epochs is None:

        def table(ta: jax.Array) -> jax.Array:
            t, m = ta[:p], ta[p]
            return finish(*chain(t, m)) if squeeze else joint(t, m)

        compute = jax.jit(lambda th, mu: ops.guard(jnp.concatenate([th, mu[None]]), table))

        def fn(theta, rate) -> jax.Array:
            return compute(_theta(jnp.zeros(0) if theta is None else theta, p), _rate(rate))

        return fn if graph.parameterized else (lambda rate: fn(None, rate))

    if not squeeze:  # the joint table: the expanded (state, counts) chain (_joint_epochs)
        joint_table = joint_counts_with_epochs(
            ga, r_np, K, n_epochs, moments_from_graph, tol=tol, max_steps=max_steps, backend=backend
        )

        def fn_joint(theta, rate, starts) -> jax.Array:
            th, st = _theta_rows(theta, n_epochs, p), _starts(starts, n_epochs)
            return joint_table(th, _rate(rate), st)

        return fn_joint

    propagate = make_propagator(ops, r, K + 1, tol, max_steps, coupling_param=p)

    def by_epoch(ta: jax.Array, starts: jax.Array) -> jax.Array:
        th, mu = ta[:, :p], ta[0, p]
        across = across_epochs(propagate, ta, jnp.diff(fixed_origin(starts)))
        w = epoch_moments(lambda e: chain(th[e], mu)[1], across, n_epochs)
        return jnp.where(starts[0] == 0, finish(ta[0], w), jnp.nan)

    @jax.jit
    def compute_epochs(th: jax.Array, mu: jax.Array, st: jax.Array) -> jax.Array:
        ta = jnp.concatenate([th, jnp.broadcast_to(mu, (n_epochs, 1))], axis=1)
        return ops.guard(ta, lambda t: by_epoch(t, st))

    def fn_epochs(theta, rate, starts) -> jax.Array:
        th = _theta_rows(theta, n_epochs, p)
        return compute_epochs(th, _rate(rate), _starts(starts, n_epochs))

    return fn_epochs


def laplace_transform_from_graph(graph: Graph, *, backend: str = "auto") -> Callable:
    """``fn(theta, s)``: E[exp(-s T)] of the absorption time, differentiable in θ and s.

    The Laplace transform is the probability that no event of a Poisson process of rate s
    happens before absorption, P(N = 0) of `counts_from_graph` with reward 1: one mechanism
    for both (``jax.vmap`` over s for several). ``fn(s)`` for a constant graph.
    """
    counts = counts_from_graph(graph, None, 0, backend=backend)
    if graph.parameterized:
        return lambda theta, s: counts(theta, s)[0]
    return lambda s: counts(s)[0]
