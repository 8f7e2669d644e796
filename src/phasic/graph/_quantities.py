"""More quantities of a phase-type model: the defect, the Laplace transform, visits of a discrete
model, and sampled paths (a mixin of `PhaseTypeModel`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._count_chain import joint_count_vectors
from .._errors import ParameterError
from .._typing import ArrayLike, FloatArray, IntArray, Theta
from . import _moments, _native, _sampling, _series
from ._epochs import defect as _defect
from ._transform import with_event_rate

if TYPE_CHECKING:
    from ._model import PhaseTypeModel

__all__ = ["Path", "Quantities"]


class Path(NamedTuple):
    """One sampled path of a model, from its first state to absorption.

    Attributes
    ----------
    vertices : int64, shape (m,)
        Graph vertex index of each visited vertex in order; the last is absorbing (m = 0 when
        the path starts absorbed through a defect ... then ``vertices`` holds that vertex).
    states : int64, shape (m, state_length)
    holding_times : float64, shape (m,)
        Time spent in each vertex (continuous), or the number of steps (discrete, ≥ 1: the
        shortfall of a vertex's jump probabilities from 1 is a self-loop); ``inf`` for the
        absorbing vertex at the end.
    """

    vertices: IntArray
    states: IntArray
    holding_times: FloatArray


class Quantities:
    """Methods of `PhaseTypeModel` beyond moments and distributions."""

    def defect(self: PhaseTypeModel, theta: Theta | None = None) -> FloatArray | float:  # type: ignore[misc]
        """Probability of starting absorbed (start edges into absorbing vertices), shape ([B])."""
        ga, th, _, batched, _ = self._prepare(theta, finite=False)
        return self._shape(_defect(ga, th)[:, None], batched, True)

    def laplace_transform(  # type: ignore[misc]
        self: PhaseTypeModel,
        s: ArrayLike,
        theta: Theta | None = None,
    ) -> FloatArray | float:
        """E[exp(-s T)] = defect + α (sI - S)⁻¹ s_exit, exact, for each s ≥ 0.

        One sparse solve per (θ, s) on the graph with an extra exit at rate s from every
        transient vertex; the right-hand side is the exit rates (non-negative terms: accurate
        relative to the value for any s). Differentiable in θ and s under JAX:
        `phasic.jax.laplace_transform_from_graph`.

        Returns
        -------
        float64 array, shape ([B,] [S])
        """
        sv = _series.check_times(s, "s")  # finite, >= 0, a scalar or 1-D
        ga, th, _, batched, _ = self._prepare(theta, finite=bool(np.all(sv == 0)))
        s1 = np.atleast_1d(sv)
        B, S, n = th.shape[0], s1.size, ga.n_transient
        aug = with_event_rate(ga, np.ones(n))
        th_aug = np.column_stack([np.repeat(th, S, axis=0), np.tile(s1, B)])  # (B S, p + 1)
        exit_rates = ga.exit_rates(th).T  # (n, B)
        rhs = np.repeat(exit_rates, S, axis=1)[:, :, None]  # (n, B S, 1)
        x = _native.solve(aug, th_aug, rhs)[:, :, 0]
        alpha, _ = _native.initial_distribution(ga, th)
        out = np.einsum("bn,nbs->bs", alpha, x.reshape(n, B, S)) + _defect(ga, th)[:, None]
        out = np.minimum(out, 1.0)  # rounding above 1 at s = 0
        res = out if batched else out[0]
        if sv.ndim == 0:
            res = res[..., 0]
        return res[()] if res.ndim == 0 else res

    def joint_prob_table(  # type: ignore[misc]
        self: PhaseTypeModel,
        rewards: ArrayLike,
        max_count: int,
        rate: float = 1.0,
        theta: Theta | None = None,
    ) -> FloatArray:
        """Joint probabilities of the counts of events of R types up to ``max_count`` each,
        events of type a happening at ``rate × rewards[:, a]`` per unit time until absorption
        (mutations by SFS class: the joint SFS probabilities of a small sample).

        Exact (one sparse solve per level of the table, the recursion of
        `phasic.jax.counts_from_graph`, which gives the same table differentiably).

        Returns
        -------
        float64 array, shape (K+1,) * R (squeezed to (K+1,) for a reward vector)
        """
        if isinstance(max_count, bool) or not isinstance(max_count, int | np.integer):
            raise ParameterError(f"max_count = {max_count!r} must be an integer >= 0")
        if max_count < 0 or not (np.isfinite(rate) and rate >= 0):
            raise ParameterError(
                f"max_count = {max_count!r} must be >= 0 and rate = {rate!r} finite and >= 0"
            )
        ga, th, r, batched, sq = self._prepare(theta, rewards, nonneg=True)
        if batched:
            raise ParameterError("joint_prob_table takes one θ of shape (p,), not a batch")
        aug = with_event_rate(ga, r.sum(axis=1))
        ta = np.append(th[0], float(rate))[None, :]
        exits = ga.exit_rates(th)[0]
        cells, x = joint_count_vectors(
            lambda b: _native.solve(aug, ta, b[:, None, :])[:, 0, :],
            np.stack,
            exits,
            r,
            float(rate),
            int(max_count),
        )
        alpha, _ = _native.initial_distribution(ga, th)
        out = np.zeros((int(max_count) + 1,) * r.shape[1])
        out[tuple(np.array(cells).T)] = alpha[0] @ x
        out[(0,) * r.shape[1]] += _defect(ga, th)[0]
        return out

    def expected_visits_discrete(  # type: ignore[misc]
        self: PhaseTypeModel,
        theta: Theta | None = None,
    ) -> FloatArray | float:
        """Expected number of visits to each vertex until absorption (discrete model),
        α (I - P)⁻¹, shape ([B,] vertices_length()); 0 off transient vertices."""
        ga, th, _, batched, _ = self._prepare(theta)
        self._check_discrete(ga, th)
        alpha, _ = _native.initial_distribution(ga, th)
        visits = _moments.expected_visits(ga, th, alpha.T[:, :, None], transpose=True)[:, :, 0]
        return self._shape(self._to_vertices(ga, visits.T), batched, False)

    def accumulated_visits_discrete(  # type: ignore[misc]
        self: PhaseTypeModel,
        jumps: ArrayLike,
        theta: Theta | None = None,
    ) -> FloatArray | float:
        """Expected number of visits to each vertex at steps 0, 1, ..., k - 1 (the first k
        steps) of a discrete model, shape ([B,] [K,] vertices_length())."""
        k = _series.check_jumps(jumps)
        ga, th, _, batched, _ = self._prepare(theta)
        self._check_discrete(ga, th)
        alpha, _ = _native.initial_distribution(ga, th)
        out = _series.series_state(ga, th, alpha, k, discrete=True, accumulated=True)
        return self._finish(self._to_vertices(ga, out), batched, np.ndim(jumps) == 0)

    def sample_path(  # type: ignore[misc]
        self: PhaseTypeModel,
        theta: Theta | None = None,
        rng: np.random.Generator | int | None = None,
        discrete: bool = False,
        max_steps: int = 10_000_000,
    ) -> Path:
        """One path from the start to absorption: visited vertices, states and holding times."""
        return self._paths(theta, rng, discrete, max_steps, None, 1)[0]

    def sample_stop_vertex(  # type: ignore[misc]
        self: PhaseTypeModel,
        time: float,
        n: int = 1,
        theta: Theta | None = None,
        rng: np.random.Generator | int | None = None,
        discrete: bool = False,
    ) -> IntArray:
        """Graph vertex index occupied at ``time`` (steps, for a discrete model) by ``n``
        independent paths, shape (n,); an absorbing vertex once absorbed. Its distribution is
        `stop_probability` (`stop_probability_discrete`)."""
        t = float(time)
        if not (np.isfinite(t) and t >= 0):
            raise ParameterError(f"time = {time!r} must be finite and >= 0")
        if not isinstance(n, int | np.integer) or n < 0:
            raise ParameterError(f"n = {n!r}: the number of samples must be an integer >= 0")
        paths = self._paths(theta, rng, discrete, 10_000_000, t, int(n))
        out = np.empty(int(n), dtype=np.int64)
        for i, p in enumerate(paths):
            ends = np.cumsum(p.holding_times)
            out[i] = p.vertices[int(np.searchsorted(ends, t, side="right"))]
        return out

    def _paths(  # type: ignore[misc]
        self: PhaseTypeModel,
        theta: Any,
        rng: Any,
        discrete: bool,
        max_steps: int,
        until: float | None,
        n: int,
    ) -> list[Path]:
        _, th, _, _ = self._prepare_sampling(theta, None, discrete)
        counts, _, dst, base, coef = self._edge_arrays()
        w = base + coef @ th[0] if coef.shape[1] else base.copy()
        return _sampling.paths(
            counts,
            dst,
            w,
            self.states(),
            _sampling.as_generator(rng),
            discrete,
            max_steps,
            until,
            n,
        )
