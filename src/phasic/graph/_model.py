"""`PhaseTypeModel`: the one abstract base of the numerical methods (numpy in, numpy out).

`Graph` (mutable, built from rules) and `FrozenGraph` (a compiled snapshot for parameter sweeps)
are its two final subclasses; what a subclass provides is declared abstract below.

Conventions shared by every method:

* ``theta``: shape (p,) for one parameter vector or (B, p) for a batch; the result then gains a
  leading axis of length B. Omitted, the θ set by `Graph.update_weights` is used.
* ``rewards``: shape (vertices_length(),) — one reward per vertex in `Graph.vertices` order,
  entries of the start and absorbing vertices ignored — or (vertices_length(), R) for R reward
  columns at once (the result then gains a trailing axis of length R). Omitted, every transient
  vertex has reward 1 (the absorption time / number of jumps).
* Continuous models read edge weights as rates; discrete models read them as jump probabilities
  whose shortfall from 1 at each vertex is a self-loop.
Time-inhomogeneous models take piecewise-constant parameters: ``theta`` of shape (n_epochs, p)
with ``epochs`` the increasing start times (the first must be 0).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from .._clock import clock_coxian, clock_residence
from .._errors import AbsorptionError, ParameterError
from .._settings import DEFAULT_MAX_STEPS, DEFAULT_TOL
from .._typing import ArrayLike, FloatArray, IntArray, Theta
from . import _moments, _native, _sampling, _series, _transform
from ._arrays import EdgeArrays, GraphArrays
from ._distributions import Distributions
from ._epochs import epoch_plan
from ._moments import MomentGradients
from ._native import initial_distribution
from ._quantities import Quantities

_NO_THETA = np.zeros(0)

__all__ = ["PhaseTypeModel"]


class PhaseTypeModel(Distributions, Quantities, abc.ABC):
    """Abstract: a phase-type model with exact moments, distributions, gradients and sampling.

    See the module docstring for the conventions every method follows (θ batches, rewards,
    epochs).
    """

    _theta: FloatArray | None  # the current θ (update_weights), validated
    _parameterized: bool

    @abc.abstractmethod
    def compile(self) -> GraphArrays:
        """The frozen, kernel-ready arrays of the model."""

    @property
    @abc.abstractmethod
    def parameterized(self) -> bool:
        """Whether edge weights are ``base + coefficients · θ``."""

    @abc.abstractmethod
    def param_length(self) -> int:
        """p, the length of θ (0 for a constant model)."""

    @abc.abstractmethod
    def vertices_length(self) -> int:
        """Number of vertices, the start and absorbing vertices included."""

    @abc.abstractmethod
    def states(self) -> IntArray:
        """States of all vertices, shape (vertices_length(), state_length), int64."""

    @abc.abstractmethod
    def _describe(self, v: int) -> str:
        """Vertex ``v`` for error messages (its state, or "start")."""

    @abc.abstractmethod
    def _edge_arrays(self) -> EdgeArrays:
        """Every edge in vertex order (absorbing targets kept apart, unlike `GraphArrays`)."""

    @abc.abstractmethod
    def _resolve_theta(self, theta: Theta | None) -> FloatArray:
        """θ as a checked (B, p) array (the current θ when None)."""

    # ------------------------------------------------------------------ helpers
    def _prepare(
        self,
        theta: Theta | None,
        rewards: ArrayLike | None = None,
        *,
        nonneg: bool = False,
        finite: bool = True,
    ) -> tuple[GraphArrays, FloatArray, FloatArray, bool, bool]:
        ga = self.compile()
        if finite:
            self._require_absorption(ga)
        th = self._resolve_theta(theta)
        batched = theta is not None and np.ndim(theta) == 2
        r, squeeze_r = self._rewards(ga, rewards, nonneg=nonneg)
        return ga, th, r, batched, squeeze_r

    def _require_absorption(self, ga: GraphArrays) -> None:
        """Refuse a graph with a closed class for what needs absorption (moments, sampling)."""
        if ga.closed.size:
            raise AbsorptionError(
                f"absorption is unreachable from {ga.closed.size} vertex/vertices, e.g. state "
                f"{self._describe(int(ga.closed[0]))} (a closed class): the expected absorption "
                "time and the moments are infinite and sampling would not end. Distributions "
                "(pdf, cdf, survival, stop_probability, accumulated_visiting_time) and "
                "as_matrices are finite and work; for moments, add an edge towards an absorbing "
                "vertex (one without out-edges)."
            )

    def _rewards(
        self, ga: GraphArrays, rewards: ArrayLike | None, *, nonneg: bool = False
    ) -> tuple[FloatArray, bool]:
        return ga.reward_matrix(rewards, self.vertices_length(), nonneg=nonneg)

    @staticmethod
    def _shape(out: FloatArray, batched: bool, squeeze_r: bool, r_axis: int = -1) -> Any:
        if squeeze_r:
            out = np.take(out, 0, axis=r_axis)
        if not batched:
            out = out[0]
        return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out

    def _to_vertices(self, ga: GraphArrays, values: FloatArray) -> FloatArray:
        """Scatter (..., n_transient) values to (..., vertices_length()) with zeros elsewhere."""
        out = np.zeros(values.shape[:-1] + (self.vertices_length(),))
        out[..., ga.vertex_index] = values
        return out

    def _check_discrete(self, ga: GraphArrays, th: FloatArray) -> None:
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
    def moments(
        self,
        k: int,
        rewards: ArrayLike | None = None,
        theta: Theta | None = None,
        *,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """Raw moments E[Y^j], j = 1..k, of the accumulated reward (Bladt–Nielsen).

        Parameters
        ----------
        k : number of moments
        rewards : (vertices_length(),) or (vertices_length(), R), optional
        theta : (p,), (B, p), or (n_epochs, p) with ``epochs``
        epochs : (n_epochs,) increasing start times from 0, optional
            Piecewise-constant θ: row e of ``theta`` holds from ``epochs[e]`` on. Exact up to
            the uniformization series across each finite epoch (relative error ``tol`` per
            epoch, at most ``max_steps`` terms each).

        Returns
        -------
        float64 array, shape ([B,] k [, R])
        """
        return self._moments(k, rewards, theta, False, epochs=(epochs, tol, max_steps))

    def moments_discrete(
        self, k: int, rewards: ArrayLike | None = None, theta: Theta | None = None
    ) -> FloatArray | float:
        """Raw moments of a discrete phase-type reward (first-step recursion); shape ([B,] k [, R])."""
        return self._moments(k, rewards, theta, discrete=True)

    def _moments(
        self,
        k: int,
        rewards,
        theta,
        discrete: bool,
        pick: Any = None,
        epochs: tuple[Any, float, int] = (None, DEFAULT_TOL, DEFAULT_MAX_STEPS),
    ) -> FloatArray | float:
        """Raw moments (B, k, R) of either model type, ``pick(m)`` of them, shaped for the user;
        ``epochs`` is (start times or None, tol, max_steps)."""
        if not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k = {k!r}: the number of moments must be an integer >= 1")
        if epochs[0] is not None:
            ga, ths, ep, _ = epoch_plan(self, theta, epochs[0])
            self._require_absorption(ga)
            r, sq = self._rewards(ga, rewards)
            settings = _series_settings(epochs)
            if k == 1:  # E[Y] = τ · r: one state distribution carried, not R columns
                out = (_residence_by_epoch(ga, ths, ep, *settings) @ r)[:, None, :]
            else:
                out = _moments.epoch_raw_moments(ga, ths, ep, int(k), r, *settings)
            return self._shape(out if pick is None else pick(out), False, sq)
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        if discrete:
            self._check_discrete(ga, th)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
            out = _moments.raw_moments(ga, th, int(k), r, discrete=discrete)
        _check_overflow(out)
        return self._shape(out if pick is None else pick(out), batched, sq)

    def expectation(
        self,
        rewards: ArrayLike | None = None,
        theta: Theta | None = None,
        *,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """E[Y]: expected absorption time, or expected accumulated reward; shape ([B,] [R]).

        With ``epochs`` (start times from 0) and one θ row per epoch, the expectation under
        piecewise-constant θ (see `moments`), e.g. the expected SFS under a size change.
        """
        if rewards is None and epochs is None:
            one = self._expectation_one(theta)
            if one is not None:
                return one
        return self._moments(1, rewards, theta, False, lambda m: m[:, 0], (epochs, tol, max_steps))

    def _expectation_one(self, theta: Theta | None) -> np.float64 | None:
        """E[T] at one θ in one native call (a small model's eager call is otherwise mostly
        fixed cost), or None: batches, and anything the general path must explain."""
        if theta is None:
            th = self._theta if self._parameterized else _NO_THETA
            if th is None:
                return None
        elif type(theta) is np.ndarray and theta.ndim == 1 and theta.dtype == np.float64:
            th = theta
        elif type(theta) is list or type(theta) is tuple:
            try:
                th = np.array(theta, dtype=np.float64)
            except (TypeError, ValueError):
                return None
            if th.ndim != 1:
                return None
        else:
            return None
        ga = self.compile()
        v = ga.native.expectation_one(th, ga.start_indices, ga.start_base, ga.start_coef)
        return None if v != v else np.float64(v)

    def expectation_discrete(
        self, rewards: ArrayLike | None = None, theta: Theta | None = None
    ) -> FloatArray | float:
        """E[Y] of a discrete model (expected number of jumps by default); shape ([B,] [R])."""
        return self._moments(1, rewards, theta, True, lambda m: m[:, 0])

    def variance(
        self,
        rewards: ArrayLike | None = None,
        theta: Theta | None = None,
        *,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """Var[Y]; shape ([B,] [R]). ``epochs``: see `moments`."""
        return self._moments(2, rewards, theta, False, _variance_of, (epochs, tol, max_steps))

    def variance_discrete(
        self, rewards: ArrayLike | None = None, theta: Theta | None = None
    ) -> FloatArray | float:
        """Var[Y] of a discrete model; shape ([B,] [R])."""
        return self._moments(2, rewards, theta, True, _variance_of)

    def covariance(
        self,
        rewards1: ArrayLike,
        rewards2: ArrayLike | None = None,
        theta: Theta | None = None,
        *,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """Cov[Y1, Y2] of two reward vectors, or the (R, R) covariance matrix of a reward matrix.

        Parameters
        ----------
        rewards1 : shape (vertices_length(),) or (vertices_length(), R)
        rewards2 : shape (vertices_length(),), optional
            Omit to get the covariance matrix of the columns of ``rewards1``.
        epochs : optional
            Piecewise-constant θ (see `moments`); covariances then come from the variances of
            the columns and of their pairwise sums.
        """
        return self._covariance(rewards1, rewards2, theta, False, (epochs, tol, max_steps))

    def covariance_discrete(
        self, rewards1, rewards2=None, theta: Theta | None = None
    ) -> FloatArray | float:
        """Covariance of rewards accumulated by a discrete model (see `covariance`)."""
        return self._covariance(rewards1, rewards2, theta, discrete=True)

    def _covariance(
        self,
        rewards1,
        rewards2,
        theta,
        discrete: bool,
        epochs: tuple[Any, float, int] = (None, DEFAULT_TOL, DEFAULT_MAX_STEPS),
    ):
        nv = self.vertices_length()
        if epochs[0] is not None:
            ga, ths, ep, _ = epoch_plan(self, theta, epochs[0])
            pair = rewards2 is not None
            r, _ = self._rewards(ga, _two_columns(rewards1, rewards2, nv) if pair else rewards1)
            cov = _moments.covariance_from_variances(
                lambda rr: _moments.epoch_raw_moments(
                    ga, ths, ep, 2, rr, *_series_settings(epochs)
                ),
                r,
            )
            return self._shape(cov[:, 0, 1] if pair else cov, False, False)
        if rewards2 is not None:
            ga, th, r, batched, _ = self._prepare(theta, _two_columns(rewards1, rewards2, nv))
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
        self, rewards: ArrayLike | None = None, theta: Theta | None = None
    ) -> FloatArray | float:
        """Expected remaining accumulated reward from each vertex, shape ([B,] vertices_length() [, R]).

        The start vertex's entry is the expectation; absorbing vertices have 0.
        """
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        x = _moments.expected_visits(ga, th, r)  # (n, B, R)
        alpha, _ = initial_distribution(ga, th)
        out = self._to_vertices(ga, np.moveaxis(x, 0, -1))  # (B, R, nv)
        out[..., 0] = np.einsum("bn,nbr->br", alpha, x)
        return self._shape(np.moveaxis(out, 1, -1), batched, sq)

    def expected_residence_time(
        self,
        theta: Theta | None = None,
        *,
        epochs: ArrayLike | None = None,
        tol: float = DEFAULT_TOL,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> FloatArray | float:
        """Expected total time spent in each vertex, shape ([B,] vertices_length()); 0 off transient.

        With ``epochs`` (see `moments`): the time spent in each finite epoch is summed from
        non-negative series terms (each component accurate relative to itself), the last epoch's
        from one transposed solve.
        """
        if epochs is not None:
            ga, ths, ep, _ = epoch_plan(self, theta, epochs)
            self._require_absorption(ga)
            settings = _series_settings((epochs, tol, max_steps))
            tau = _residence_by_epoch(ga, ths, ep, *settings)
            return self._shape(self._to_vertices(ga, tau), False, False)
        ga, th, _, batched, _ = self._prepare(theta)
        alpha, _ = initial_distribution(ga, th)
        tau = _moments.expected_visits(ga, th, alpha.T[:, :, None], transpose=True)[:, :, 0]
        return self._shape(self._to_vertices(ga, tau.T), batched, False)

    def moments_gradient(
        self, k: int, rewards: ArrayLike | None = None, theta: Theta | None = None
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
    def as_matrices(
        self, theta: Theta | None = None, discrete: bool = False
    ) -> _transform.MatrixRepresentation:
        """(alpha, S, states, vertex_index) at one θ; rows are transient vertices by vertex index.

        ``S`` is the sub-intensity matrix, or the sub-transition matrix with ``discrete=True``.
        """
        ga, th, _, batched, _ = self._prepare(theta, finite=False)
        if batched:
            raise ParameterError("as_matrices takes one θ of shape (p,), not a batch")
        if discrete:
            self._check_discrete(ga, th)
        return _transform.as_matrices(ga, th, discrete)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        n: int,
        rewards: ArrayLike | None = None,
        rng: np.random.Generator | int | None = None,
        theta: Theta | None = None,
    ) -> FloatArray:
        """``n`` exact draws of the absorption time (or accumulated reward), shape (n,)."""
        return self._sample(n, rewards, rng, theta, discrete=False, multi=False)

    def sample_discrete(
        self,
        n: int,
        rewards: ArrayLike | None = None,
        rng: np.random.Generator | int | None = None,
        theta: Theta | None = None,
    ) -> FloatArray:
        """``n`` draws of the number of jumps (or accumulated reward) of a discrete model."""
        return self._sample(n, rewards, rng, theta, discrete=True, multi=False)

    def sample_multivariate(
        self,
        n: int,
        rewards: ArrayLike,
        rng: np.random.Generator | int | None = None,
        theta: Theta | None = None,
        discrete: bool = False,
    ) -> FloatArray:
        """``n`` joint draws of the R rewards of a reward matrix (vertices_length(), R); (n, R)."""
        return self._sample(n, rewards, rng, theta, discrete=discrete, multi=True)

    def _prepare_sampling(
        self, theta: Theta | None, rewards: ArrayLike | None, discrete: bool
    ) -> tuple[GraphArrays, FloatArray, FloatArray, bool]:
        """(ga, θ (1, p), rewards, squeeze) for simulation, refusing what would never end."""
        ga, th, r, batched, sq = self._prepare(theta, rewards)
        if batched:
            raise ParameterError("sampling takes one θ of shape (p,), not a batch")
        if discrete:
            self._check_discrete(ga, th)
        # One solve first: it names a state whose exit rates vanish at this θ (a closed class
        # only at this θ), where the simulation would otherwise never end.
        _native.solve(ga, th, np.ones((ga.n_transient, 1, 1)))
        return ga, th, r, sq

    def _sample(self, n, rewards, rng, theta, discrete: bool, multi: bool) -> FloatArray:
        if not isinstance(n, int | np.integer) or n < 0:
            raise ParameterError(f"n = {n!r}: the number of samples must be an integer >= 0")
        ga, th, r, sq = self._prepare_sampling(theta, rewards, discrete)
        if multi and sq:
            r = r.reshape(-1, 1)
        out = _sampling.simulate(ga, th, int(n), r, _sampling.as_generator(rng), discrete)
        return out if multi else out[:, 0]


def _check_overflow(raw: FloatArray) -> None:
    """Raw moments (B, k, R) from finite inputs are finite unless they pass float64's range."""
    bad = ~np.isfinite(raw)
    if bad.any():
        j = int(np.argwhere(bad)[0][1]) + 1
        raise ParameterError(
            f"E[Y^{j}] overflows float64 (beyond 1.8e308): ask for fewer than {j} moments, or "
            "rescale time or rewards (moments grow like j! · scale^j)"
        )


def _series_settings(epochs: tuple[Any, float, int]) -> tuple[float, int]:
    return _series.check_tol(epochs[1]), _series.check_max_steps(epochs[2])


def _two_columns(rewards1: ArrayLike, rewards2: ArrayLike, n_vertices: int) -> FloatArray:
    """The (vertices, 2) reward matrix of ``covariance(r1, r2)``."""
    try:
        r1, r2 = np.asarray(rewards1, dtype=float), np.asarray(rewards2, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"covariance(r1, r2): rewards {rewards1!r:.60} and {rewards2!r:.60} must be numbers"
        ) from exc
    if r1.ndim != 1 or r2.ndim != 1:
        raise ParameterError("covariance(r1, r2) takes two 1-D reward vectors")
    if r1.shape != r2.shape:
        raise ParameterError(
            f"covariance(r1, r2): r1 has {r1.size} entries and r2 {r2.size}; give one "
            f"reward per vertex ({n_vertices}) in both"
        )
    return np.stack([r1, r2], axis=1)


def _residence_by_epoch(
    ga: GraphArrays, thetas: list[FloatArray], starts: FloatArray, tol: float, max_steps: int
) -> FloatArray:
    """Expected time (1, n) in each transient vertex under piecewise-constant θ: each finite
    epoch's from non-negative series terms (every component accurate relative to itself), the
    last one's from one transposed solve of the state distribution at its start. A θ-scaled
    chain (`phasic._clock`) takes the θ = 1 clock instead: one Coxian, no pass per epoch."""
    cx = clock_coxian(ga)
    if cx is not None:
        th = np.array([np.ravel(t)[0] for t in thetas])
        tau = clock_residence(cx, ga.n_transient, th, np.diff(starts), max_steps)
        if tau is not None:
            return tau[None]
    alpha, _ = initial_distribution(ga, thetas[0])
    tau = np.zeros_like(alpha)
    kw: dict[str, Any] = dict(discrete=False, tol=tol, max_steps=max_steps)
    for e in range(len(thetas) - 1):
        span = np.array([starts[e + 1] - starts[e]])
        tau += _series.series_state(ga, thetas[e], alpha, span, accumulated=True, **kw)[:, 0]
        alpha = _series.series_state(ga, thetas[e], alpha, span, **kw)[:, 0]
    last = _moments.expected_visits(ga, thetas[-1], alpha.T[:, :, None], transpose=True)
    return tau + last[:, :, 0].T


def _variance_of(m: FloatArray) -> FloatArray:
    """Var[Y] = E[Y²] - E[Y]² from raw moments (B, 2, R)."""
    return m[:, 1] - m[:, 0] ** 2
