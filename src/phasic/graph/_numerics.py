"""Eager numerical methods of `Graph` (numpy in, numpy out), on the native kernels.

Conventions shared by every method:

* ``theta``: shape (p,) for one parameter vector or (B, p) for a batch; the result then gains a
  leading axis of length B. Omitted, the θ set by `Graph.update_weights` is used.
* ``rewards``: shape (vertices_length(),) — one reward per vertex in `Graph.vertices` order,
  entries of the start and absorbing vertices ignored — or (vertices_length(), R) for R reward
  columns at once (the result then gains a trailing axis of length R). Omitted, every transient
  vertex has reward 1 (the absorption time / number of jumps).
* Continuous models read edge weights as rates; discrete models read them as jump probabilities
  whose shortfall from 1 at each vertex is a self-loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._errors import ParameterError
from .._typing import ArrayLike, FloatArray, Theta
from . import _moments, _sampling, _transform
from ._arrays import GraphArrays
from ._kernels import initial_distribution

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["GraphNumerics", "MomentGradients"]


class MomentGradients(NamedTuple):
    """Raw moments with their exact gradients (adjoint sweeps).

    Attributes
    ----------
    moments : shape (k,) [+ (R,)]
        E[Y^j], j = 1..k.
    d_theta : shape (k, [R,] p)
        d E[Y^j] / d θ.
    d_rewards : shape (k, [R,] vertices_length())
        d E[Y^j] / d reward of each vertex (0 for start and absorbing vertices).

    With a θ batch every field gains a leading axis of length B.
    """

    moments: FloatArray
    d_theta: FloatArray
    d_rewards: FloatArray


class GraphNumerics:
    """Mixin with the numerical methods of `Graph`; see the module docstring for conventions."""

    # ------------------------------------------------------------------ helpers
    def _prepare(
        self: Graph, theta: Theta | None, rewards: ArrayLike | None = None, *, nonneg: bool = False
    ) -> tuple[GraphArrays, FloatArray, FloatArray, bool, bool]:
        ga = self.compile()
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        r, squeeze_r = self._rewards(ga, rewards, nonneg=nonneg)
        return ga, th, r, batched, squeeze_r

    def _rewards(
        self: Graph, ga: GraphArrays, rewards: ArrayLike | None, *, nonneg: bool = False
    ) -> tuple[FloatArray, bool]:
        return ga.reward_matrix(rewards, self.vertices_length(), nonneg=nonneg)

    @staticmethod
    def _shape(out: FloatArray, batched: bool, squeeze_r: bool, r_axis: int = -1) -> Any:
        if squeeze_r:
            out = np.take(out, 0, axis=r_axis)
        if not batched:
            out = out[0]
        return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out

    def _to_vertices(self: Graph, ga: GraphArrays, values: FloatArray) -> FloatArray:
        """Scatter (..., n_transient) values to (..., vertices_length()) with zeros elsewhere."""
        out = np.zeros(values.shape[:-1] + (self.vertices_length(),))
        out[..., ga.vertex_index] = values
        return out

    def _check_discrete(self: Graph, ga: GraphArrays, th: FloatArray) -> None:
        w = ga.weights(th)
        if ga.n_edges:
            d = np.add.reduceat(w, ga.indptr[:-1], axis=1)
            if np.any(d > 1 + 1e-12):
                b, i = np.argwhere(d > 1 + 1e-12)[0]
                raise ParameterError(
                    f"discrete model: out-weights of state {ga.states[i].tolist()} sum to "
                    f"{d[b, i]:.6g} > 1 at θ = {th[b].tolist()}; they are jump probabilities"
                )

    # ------------------------------------------------------------------ moments
    def moments(self: Graph, k: int, rewards: ArrayLike | None = None, theta: Theta | None = None):
        """Raw moments E[Y^j], j = 1..k, of the accumulated reward (Bladt–Nielsen).

        Returns
        -------
        float64 array, shape ([B,] k [, R])
        """
        return self._moments(k, rewards, theta, discrete=False)

    def moments_discrete(
        self: Graph, k: int, rewards: ArrayLike | None = None, theta: Theta | None = None
    ):
        """Raw moments of a discrete phase-type reward (first-step recursion); shape ([B,] k [, R])."""
        return self._moments(k, rewards, theta, discrete=True)

    def _moments(self: Graph, k: int, rewards, theta, discrete: bool):
        if not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k = {k!r}: the number of moments must be an integer >= 1")
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        if discrete:
            self._check_discrete(ga, th)
        out = _moments.raw_moments(ga, th, int(k), r, discrete=discrete)
        return self._shape(out, batched, sq)

    def expectation(self: Graph, rewards: ArrayLike | None = None, theta: Theta | None = None):
        """E[Y]: expected absorption time, or expected accumulated reward; shape ([B,] [R])."""
        return self._expectation(rewards, theta, discrete=False)

    def expectation_discrete(
        self: Graph, rewards: ArrayLike | None = None, theta: Theta | None = None
    ):
        """E[Y] of a discrete model (expected number of jumps by default); shape ([B,] [R])."""
        return self._expectation(rewards, theta, discrete=True)

    def _expectation(self: Graph, rewards, theta, discrete: bool):
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        if discrete:
            self._check_discrete(ga, th)
        out = _moments.raw_moments(ga, th, 1, r, discrete=discrete)[:, 0]
        return self._shape(out, batched, sq)

    def variance(self: Graph, rewards: ArrayLike | None = None, theta: Theta | None = None):
        """Var[Y]; shape ([B,] [R])."""
        return self._variance(rewards, theta, discrete=False)

    def variance_discrete(
        self: Graph, rewards: ArrayLike | None = None, theta: Theta | None = None
    ):
        """Var[Y] of a discrete model; shape ([B,] [R])."""
        return self._variance(rewards, theta, discrete=True)

    def _variance(self: Graph, rewards, theta, discrete: bool):
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        if discrete:
            self._check_discrete(ga, th)
        m = _moments.raw_moments(ga, th, 2, r, discrete=discrete)
        return self._shape(m[:, 1] - m[:, 0] ** 2, batched, sq)

    def covariance(
        self: Graph,
        rewards1: ArrayLike,
        rewards2: ArrayLike | None = None,
        theta: Theta | None = None,
    ):
        """Cov[Y1, Y2] of two reward vectors, or the (R, R) covariance matrix of a reward matrix.

        Parameters
        ----------
        rewards1 : shape (vertices_length(),) or (vertices_length(), R)
        rewards2 : shape (vertices_length(),), optional
            Omit to get the covariance matrix of the columns of ``rewards1``.
        """
        return self._covariance(rewards1, rewards2, theta, discrete=False)

    def covariance_discrete(self: Graph, rewards1, rewards2=None, theta: Theta | None = None):
        """Covariance of rewards accumulated by a discrete model (see `covariance`)."""
        return self._covariance(rewards1, rewards2, theta, discrete=True)

    def _covariance(self: Graph, rewards1, rewards2, theta, discrete: bool):
        if rewards2 is not None:
            r1, r2 = np.asarray(rewards1, dtype=float), np.asarray(rewards2, dtype=float)
            if r1.ndim != 1 or r2.ndim != 1:
                raise ParameterError("covariance(r1, r2) takes two 1-D reward vectors")
            if r1.shape != r2.shape:
                raise ParameterError(
                    f"covariance(r1, r2): r1 has {r1.size} entries and r2 {r2.size}; give one "
                    f"reward per vertex ({self.vertices_length()}) in both"
                )
            ga, th, r, batched, _ = self._prepare(theta, np.stack([r1, r2], axis=1))
            if discrete:
                self._check_discrete(ga, th)
            cov = _moments.covariance_matrix(ga, th, r, discrete)[:, 0, 1]
            return self._shape(cov, batched, False)
        ga, th, r, batched, sq = self._prepare(theta, rewards1)
        if discrete:
            self._check_discrete(ga, th)
        cov = _moments.covariance_matrix(ga, th, r, discrete)
        return self._shape(cov, batched, False)

    def expected_waiting_time(
        self: Graph, rewards: ArrayLike | None = None, theta: Theta | None = None
    ):
        """Expected remaining accumulated reward from each vertex, shape ([B,] vertices_length() [, R]).

        The start vertex's entry is the expectation; absorbing vertices have 0.
        """
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        x = _moments.expected_visits(ga, th, r)  # (n, B, R)
        alpha, _ = initial_distribution(ga, th)
        out = self._to_vertices(ga, np.moveaxis(x, 0, -1))  # (B, R, nv)
        out[..., 0] = np.einsum("bn,nbr->br", alpha, x)
        return self._shape(np.moveaxis(out, 1, -1), batched, sq)

    def expected_residence_time(self: Graph, theta: Theta | None = None):
        """Expected total time spent in each vertex, shape ([B,] vertices_length()); 0 off transient."""
        ga, th, _, batched, _ = self._prepare(theta)
        alpha, _ = initial_distribution(ga, th)
        tau = _moments.expected_visits(ga, th, alpha.T[:, :, None], transpose=True)[:, :, 0]
        return self._shape(self._to_vertices(ga, tau.T), batched, False)

    def moments_gradient(
        self: Graph, k: int, rewards: ArrayLike | None = None, theta: Theta | None = None
    ) -> MomentGradients:
        """Raw moments of a continuous model with exact gradients w.r.t. θ and rewards.

        One forward chain of k solves and k adjoint (transposed) sweeps; see `MomentGradients`.
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k = {k!r}: the number of moments must be an integer >= 1")
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        mu, dth, dr = _moments.moments_gradient(ga, th, int(k), r)
        dr_v = self._to_vertices(ga, dr)
        return MomentGradients(
            self._shape(mu, batched, sq),
            self._shape(dth, batched, sq, r_axis=2),
            self._shape(dr_v, batched, sq, r_axis=2),
        )

    # ------------------------------------------------------------------ matrices, transforms
    def as_matrices(self: Graph, theta: Theta | None = None, discrete: bool = False):
        """(alpha, S, states, vertex_index) at one θ; rows are transient vertices by vertex index.

        ``S`` is the sub-intensity matrix, or the sub-transition matrix with ``discrete=True``.
        """
        ga, th, _, batched, _ = self._prepare(theta)
        if batched:
            raise ParameterError("as_matrices takes one θ of shape (p,), not a batch")
        if discrete:
            self._check_discrete(ga, th)
        return _transform.as_matrices(ga, th, discrete)

    @classmethod
    def from_matrices(
        cls, alpha: ArrayLike, S: ArrayLike, states: ArrayLike | None = None, discrete: bool = False
    ) -> Graph:
        """A graph from an initial vector (shape (n,), sum <= 1) and a sub-intensity matrix (n, n).

        A defect ``1 - sum(alpha)`` becomes a start edge to the absorbing vertex. States default
        to ``[i]`` for row i and ``[n]`` for the absorbing vertex.
        """
        return _transform.from_matrices(cls, alpha, S, states, discrete)  # type: ignore[arg-type]

    def reward_transform(self: Graph, rewards: ArrayLike, theta: Theta | None = None) -> Graph:
        """The graph whose absorption time is the accumulated reward (continuous, rewards >= 0).

        Vertices with zero reward are bypassed. The result is a constant graph at the given θ.
        """
        ga, th, r, batched, sq = self._prepare(theta, rewards, nonneg=True)
        if batched or not sq:
            raise ParameterError("reward_transform takes one θ and one reward vector")
        return _transform.reward_transform(self, ga, th, r[:, 0], discrete=False)

    def reward_transform_discrete(
        self: Graph, rewards: ArrayLike, theta: Theta | None = None
    ) -> Graph:
        """The discrete graph whose number of jumps is the accumulated integer reward."""
        ga, th, r, batched, sq = self._prepare(theta, rewards, nonneg=True)
        if batched or not sq:
            raise ParameterError("reward_transform_discrete takes one θ and one reward vector")
        if not np.all(r == np.round(r)):
            raise ParameterError("reward_transform_discrete: rewards must be integers")
        self._check_discrete(ga, th)
        return _transform.reward_transform(self, ga, th, r[:, 0], discrete=True)

    def discretize(self: Graph, reward_rates: ArrayLike, theta: Theta | None = None):
        """Discrete model counting events that occur at ``reward_rates`` per unit time.

        Parameters
        ----------
        reward_rates : (vertices_length(),) or (vertices_length(), R), >= 0
            Event rate of each type in each vertex (e.g. mutation rate × lineages of a class).

        Returns
        -------
        graph : Graph
            Discrete model; the accumulated reward of a column counts events of that type.
        rewards : (graph.vertices_length(), R) float array
            Its reward matrix (squeezed to a vector for 1-D ``reward_rates``). E.g. the discrete
            site frequency spectrum: ``g2.reward_transform_discrete(rewards[:, i]).pmf_discrete(k)``.
        """
        ga, th, r, batched, sq = self._prepare(theta, reward_rates, nonneg=True)
        if batched:
            raise ParameterError("discretize takes one θ of shape (p,), not a batch")
        g, rew = _transform.discretize(self, ga, th, r)
        return g, (rew[:, 0] if sq else rew)

    # ------------------------------------------------------------------ sampling
    def sample(
        self: Graph,
        n: int,
        rewards: ArrayLike | None = None,
        rng: np.random.Generator | int | None = None,
        theta: Theta | None = None,
    ) -> FloatArray:
        """``n`` exact draws of the absorption time (or accumulated reward), shape (n,)."""
        return self._sample(n, rewards, rng, theta, discrete=False, multi=False)

    def sample_discrete(
        self: Graph,
        n: int,
        rewards: ArrayLike | None = None,
        rng: np.random.Generator | int | None = None,
        theta: Theta | None = None,
    ) -> FloatArray:
        """``n`` draws of the number of jumps (or accumulated reward) of a discrete model."""
        return self._sample(n, rewards, rng, theta, discrete=True, multi=False)

    def sample_multivariate(
        self: Graph,
        n: int,
        rewards: ArrayLike,
        rng: np.random.Generator | int | None = None,
        theta: Theta | None = None,
        discrete: bool = False,
    ) -> FloatArray:
        """``n`` joint draws of the R rewards of a reward matrix (vertices_length(), R); (n, R)."""
        return self._sample(n, rewards, rng, theta, discrete=discrete, multi=True)

    def _sample(self: Graph, n, rewards, rng, theta, discrete: bool, multi: bool) -> FloatArray:
        if not isinstance(n, int | np.integer) or n < 0:
            raise ParameterError(f"n = {n!r}: the number of samples must be an integer >= 0")
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        if batched:
            raise ParameterError("sampling takes one θ of shape (p,), not a batch")
        if multi and sq:
            r = r.reshape(-1, 1)
        if discrete:
            self._check_discrete(ga, th)
        out = _sampling.simulate(ga, th, int(n), r, _sampling.as_generator(rng), discrete)
        return out if multi else out[:, 0]
