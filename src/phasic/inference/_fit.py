"""`SVGD`: the seed's class around the pure SVGD step. It assembles the target (`_target`), runs
the shared loop (`_loop`) with checkpoints (`_checkpoint`) and offers the posterior summaries
(`_posterior`)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jax

from .._errors import ParameterError, PhasicError
from ._checkpoint import Checkpoint, resume_point, save_checkpoint
from ._fingerprint import identity
from ._loop import block_length, run_blocks
from ._posterior import ParticlePosterior
from ._problem import (
    ProblemAttributes,
    check_count,
    define_problem,
    on_mesh,
    start_on_mesh,
    start_points,
    with_auto_transform,
)
from ._stein_kernels import resolve_kernel
from ._svgd import AXIS, SVGDState, make_block_runner, svgd_init
from ._trust import Trust, assess

__all__ = ["SVGD"]

# Per-iteration diagnostics kept in `SVGD.diagnostics` and in checkpoints.
_DIAGNOSTICS = ("movement", "bandwidth", "logdensity")

_OPTIMIZERS = {
    # The original SVGD code's "AdaGrad" keeps an exponential average of squared gradients
    # (decay 0.9), i.e. RMSprop: steps stay ~learning_rate instead of shrinking like 1/sqrt(t).
    "adagrad": lambda lr: optax.rmsprop(lr, decay=0.9, eps=1e-6),
    "adam": lambda lr: optax.adam(lr),
    "sgd": lambda lr: optax.sgd(lr),
}


def _schedule(learning_rate, n_iterations: int) -> Callable:
    """A schedule as given, or for a number: held for the first three quarters of the run (time
    to reach and fill the target), then decayed geometrically to 1 % of it by the last
    iteration, so the particles settle where the direction vanishes instead of jittering by
    ~learning_rate forever (RMSprop and Adam steps do not shrink with the gradient)."""
    if callable(learning_rate):
        return lambda count: learning_rate(count)
    lr = float(learning_rate)
    if not lr > 0:
        raise ParameterError(f"learning_rate = {learning_rate!r} must be > 0 or a schedule")
    hold = (3 * n_iterations) // 4
    return optax.join_schedules(
        [
            optax.constant_schedule(lr),
            optax.exponential_decay(lr, max(n_iterations - hold, 1), 0.01),
        ],
        [hold],
    )


def default_particles(theta_dim: int) -> int:
    """Enough particles for the dimension: SVGD's spread shrinks as d / n grows."""
    return max(50, 10 * theta_dim)


class SVGD(ProblemAttributes, ParticlePosterior):
    """Bayesian inference by Stein variational gradient descent.

    Parameters
    ----------
    model : callable
        ``model(theta) -> prediction`` of ``observed_data`` (Gaussian likelihood, the default), or
        with ``likelihood="density"`` a density ``model(theta, x)`` evaluated at the observations.
    observed_data : array
        Observations: shape of ``model(theta)`` (Gaussian) or (N,) absorption times / counts.
    prior : callable, optional
        ``log_prior(theta)`` on the natural scale (up to a constant); flat if None.
    theta_dim : int, optional
        Number of parameters; inferred from ``theta_init`` or by probing ``model``.
    n_particles : int, optional
        Defaults to ``len(theta_init)`` or max(50, 10 · theta_dim).
    n_iterations : int
    learning_rate : float, callable ``iteration -> rate``, or optax schedule
        A number is the step of the first three quarters of the iterations; it then decays
        geometrically to 1 % of it, so the particles settle (pass a schedule, e.g.
        ``optax.constant_schedule(0.01)``, for another course).
    kernel : 'auto', 'median', 'rbf_adaptive', 'imq', float bandwidth, or `Kernel`
        'auto' (default): RBF in coordinates whitened by the particles' mean and covariance,
        so every direction has its own scale; 'median': the SVGD paper's RBF kernel.
    theta_init : array (n_particles, theta_dim), optional
        Initial particles on the natural scale; default Uniform(0.5, 2) draws from ``seed``.
    seed : int
    verbose : bool
        Progress bar and messages (only on the coordinator process).
    likelihood : {'gaussian', 'density', 'poisson', 'multinomial'} or None
        None (default): 'density' for a density from `Graph.pmf_from_graph` (not one built
        with ``log=True``, which returns logs), else 'gaussian'.
        'gaussian': ``-0.5 Σ (y - model(θ))² / σ²`` with ``noise_scale`` σ, or, when σ is None,
        the profile likelihood ``-(N/2) log(RSS / N)`` (σ estimated per particle).
        'density': ``Σ w_i log model(θ, x_i)`` (exact likelihood of observed absorption times,
        with optional ``weights`` for binned data).
        'poisson' / 'multinomial': ``model(θ)`` is an expected SFS (expected site counts for
        'poisson', any scale for 'multinomial') and ``observed_data`` the observed SFS counts;
        see `poisson_sfs_log_likelihood` and `multinomial_sfs_log_likelihood`.
    log_likelihood : callable, optional
        ``log_likelihood(theta)`` replaces the two above.
    transform : 'auto', None, 'softplus', 'log' or `Transform`
        Particles move in unconstrained space; prior on the natural scale plus the Jacobian.
        'auto' (default): θ_i = softplus(z_i) for every coordinate that is a rate (positive at
        every starting point, and the likelihood or prior is -inf when it alone turns negative,
        as for phasic models), identity for the others.
    optimizer : 'adagrad' (default, as in the SVGD paper), 'adam', 'sgd', or an optax
        ``GradientTransformation``.
    checkpoint_path, checkpoint_every : resume support (atomic ``.npz`` writes).
    history_every : int
        Keep particles every this many iterations when ``fit(return_history=True)``.
    early_stop_tol : float, optional
        Stop when the mean particle movement of an iteration falls below this.
    moments_fn : callable, optional
        ``moments_fn(theta) -> moments`` for `fit_regularized`.
    """

    def __init__(
        self,
        model: Callable | None,
        observed_data: Any,
        prior: Callable | None = None,
        theta_dim: int | None = None,
        n_particles: int | None = None,
        n_iterations: int = 1000,
        learning_rate: Any = 0.01,
        kernel: Any = "auto",
        theta_init: Any = None,
        seed: int = 42,
        verbose: bool = True,
        *,
        likelihood: str | None = None,
        noise_scale: float | None = None,
        weights: Any = None,
        log_likelihood: Callable | None = None,
        transform: Any = "auto",
        optimizer: Any = "adagrad",
        checkpoint_path: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        history_every: int = 1,
        early_stop_tol: float | None = None,
        moments_fn: Callable | None = None,
        block_size: int = 50,
    ) -> None:
        problem = define_problem(
            "SVGD",
            model,
            observed_data,
            prior,
            likelihood=likelihood,
            noise_scale=noise_scale,
            weights=weights,
            log_likelihood=log_likelihood,
            transform=transform,
        )
        self._problem = problem
        self.n_iterations = check_count("n_iterations", n_iterations)
        history_every = check_count("history_every", history_every)
        block_size = check_count("block_size", block_size)
        if checkpoint_every is not None:
            checkpoint_every = check_count("checkpoint_every", checkpoint_every)
        self.learning_rate = learning_rate
        self.kernel = resolve_kernel(kernel)
        self.seed = int(seed)
        self.verbose = bool(verbose)
        self.checkpoint_path = None if checkpoint_path is None else os.fspath(checkpoint_path)
        self.checkpoint_every = checkpoint_every
        self.history_every = int(history_every)
        self.early_stop_tol = early_stop_tol
        self.moments_fn = moments_fn
        self.block_size = int(block_size)
        if isinstance(optimizer, str):
            if optimizer not in _OPTIMIZERS:
                raise ParameterError(f"optimizer = {optimizer!r}; choose {sorted(_OPTIMIZERS)}")
            self._optimizer_name = optimizer
            self._step_size: Callable | None = _schedule(learning_rate, self.n_iterations)
            self.optimizer = _OPTIMIZERS[optimizer](self._step_size)
        else:
            self._optimizer_name = type(optimizer).__name__
            self._step_size = None  # the optimizer's own
            self.optimizer = optimizer
        self.theta_init = start_points(
            problem, theta_init, theta_dim, n_particles, self.seed, default_n=default_particles
        )
        self.n_particles, self.theta_dim = self.theta_init.shape
        # softplus for rates, as in NUTS (see with_auto_transform for why not exp)
        self._problem = with_auto_transform(self._problem, transform, self.theta_init)

        self.particles: np.ndarray | None = None
        self.history: np.ndarray | None = None
        self.diagnostics: dict[str, np.ndarray] = {}
        self.trust: Trust | None = None  # set by fit(): see `summary`
        self._extra_logp: Callable | None = None
        self._extra_key: tuple | None = None  # what the penalty is (compiled runners, checkpoints)
        self._runners: dict = {}

    # ------------------------------------------------------------------ target density
    def log_likelihood(self, theta: jax.Array) -> jax.Array:
        """Log-likelihood at θ (d,) on the natural scale (a scalar, up to a constant)."""
        return self._problem.log_likelihood()(theta)

    def _logdensity(self) -> Callable[[jax.Array], jax.Array]:
        return self._problem.logdensity(self._extra_logp)

    # ------------------------------------------------------------------ fitting
    def _mesh(self) -> Mesh:
        return Mesh(np.array(jax.devices()), (AXIS,))

    def _fingerprint(self) -> str:
        parts = [
            self.n_particles,
            self.theta_dim,
            self.n_iterations,
            self.kernel.name,
            self._optimizer_name,
            f"{self.learning_rate!r}:settling" if not callable(self.learning_rate) else "schedule",
            self.transform.name,
            self.block_size,
            hashlib.sha1(np.ascontiguousarray(self.theta_init).tobytes()).hexdigest(),
            self._problem.identity(self._extra_key),  # the target, with any penalty
        ]
        return "|".join(map(str, parts))

    def fit(self, return_history: bool = True, history_every: int | None = None) -> SVGD:
        """Run SVGD; returns self with `particles`, `theta_mean`, `theta_std`, `history`."""
        if history_every is not None:
            self.history_every = check_count("history_every", history_every)
        mesh = self._mesh()
        n_dev = mesh.devices.size
        n_pad = -self.n_particles % n_dev
        self.theta_init, z0 = start_on_mesh(self.theta_init, self.transform, n_pad)
        w = np.concatenate([np.ones(self.n_particles), np.zeros(n_pad)])
        sharding = NamedSharding(mesh, PartitionSpec(AXIS))
        weights = on_mesh(w, sharding)
        replicate_key = ("replicate", n_dev)
        if replicate_key not in self._runners:  # compiled once per instance, like the blocks
            self._runners[replicate_key] = jax.jit(
                lambda x: x, out_shardings=NamedSharding(mesh, PartitionSpec())
            )
            # the optimizer's eager init is a dozen small dispatches per fit
            self._runners[("init", n_dev)] = jax.jit(lambda z: svgd_init(z, self.optimizer))
        self._replicate = self._runners[replicate_key]
        state = self._runners[("init", n_dev)](on_mesh(z0, sharding))

        history: list[np.ndarray] = []
        diag: dict[str, list[float]] = {name: [] for name in _DIAGNOSTICS}
        start = 0
        if self.checkpoint_path:
            state, start, history, diag = self._load_checkpoint(
                state, sharding, (start, history, diag)
            )
        runners = self._runners  # compiled blocks survive across fit() calls of this instance
        logdensity = self._logdensity()

        def run_block(state: SVGDState, length: int):
            key = (length, n_dev, self._extra_key)
            if key not in runners:
                runners[key] = make_block_runner(
                    logdensity, self.kernel, self.optimizer, mesh, length
                )
            return runners[key](state, weights)

        self._last_particles = z0  # before the current block (to name a failing particle's θ)

        def record(it: int, take: int, xs, info) -> bool:
            xs = np.asarray(xs)
            bad = np.asarray(info.bad_particle)[:take]
            if np.any(bad >= 0):
                k = int(np.argmax(bad >= 0))
                prev = xs[k - 1] if k else self._last_particles
                th = np.asarray(self.transform.forward(jnp.asarray(prev[bad[k]])))
                raise PhasicError(
                    f"non-finite gradient at iteration {it + k} for particle {bad[k]} with "
                    f"θ = {th.tolist()}; lower the learning rate, use a positive transform "
                    "(transform='softplus') or a prior that keeps θ in range"
                )
            for k in range(take):
                if return_history and (it + k + 1) % self.history_every == 0:
                    history.append(xs[k, : self.n_particles])
            self._last_particles = xs[take - 1]
            diag["movement"].extend(np.asarray(info.movement)[:take].tolist())
            diag["bandwidth"].extend(np.asarray(info.bandwidth)[:take].tolist())
            diag["logdensity"].extend(np.asarray(info.logdensity)[:take].tolist())
            self._check_divergence(diag["logdensity"])
            tol = self.early_stop_tol
            return tol is not None and diag["movement"][-1] < tol

        def postfix(it: int) -> dict[str, str]:
            lr = self._step_size(it) if self._step_size is not None else self.learning_rate
            return {"step": f"{float(lr):.3g}", "movement": f"{diag['movement'][-1]:.3g}"}

        coordinator = jax.process_index() == 0
        state, it = run_blocks(
            run_block,
            state,
            start=start,
            n_iterations=self.n_iterations,
            block=block_length(self.block_size, self.checkpoint_every),
            record=record,
            save=(
                (lambda st, i: self._save_checkpoint(st, i, history, diag))
                if self.checkpoint_path
                else None
            ),
            checkpoint_every=self.checkpoint_every,
            progress="SVGD" if self.verbose and coordinator else None,
            postfix=postfix,
        )
        z = np.asarray(self._replicate(state.particles))[: self.n_particles]
        self.particles = np.asarray(self.transform.forward(jnp.asarray(z)))
        self.n_iterations_run = it
        if return_history and history:
            self.history = np.asarray(self.transform.forward(jnp.asarray(np.stack(history))))
        else:
            self.history = None
        self.diagnostics = {name: np.asarray(v) for name, v in diag.items()}
        if "scores" not in runners:  # the trust check's gradients, compiled once per instance
            runners["scores"] = jax.jit(jax.vmap(jax.grad(logdensity)))
        self.trust = assess(runners["scores"], z, self.diagnostics["movement"])
        return self

    def summary(self, level: float = 0.95) -> str:
        """Posterior mean, sd and interval per parameter, then what makes them suspect
        (`trust`: the spread against a Laplace approximation, particles still moving)."""
        table = super().summary(level)
        if self.trust is None or not self.trust.warnings:
            return table + "\ntrust: spread consistent with the Laplace approximation; settled"
        return table + "".join(f"\nwarning: {w}" for w in self.trust.warnings)

    def fit_regularized(
        self,
        observed_times: Any = None,
        observed_moments: Any = None,
        regularization: float = 1.0,
        nr_moments: int | None = None,
        **fit_kwargs: Any,
    ) -> SVGD:
        """SVGD with a moment-matching term ``-regularization * Σ_j ((m_j(θ) - m̂_j) / m̂_j)²``.

        The moments come from ``moments_fn`` given to the constructor (e.g.
        ``Graph.moments_from_graph(graph, 2)``); ``observed_moments`` are the user's estimates
        (or are computed from ``observed_times`` when omitted). Relative errors make every moment
        count alike whatever its scale.
        """
        moments_fn = self.moments_fn
        if moments_fn is None:
            raise ParameterError(
                "fit_regularized needs moments_fn=... in SVGD(...), e.g. "
                "Graph.moments_from_graph(graph, nr_moments=2)"
            )
        if observed_moments is None:
            if observed_times is None:
                raise ParameterError("give observed_moments or observed_times")
            t = np.asarray(observed_times, dtype=float)
            k = nr_moments or 2
            observed_moments = [np.mean(t**j) for j in range(1, k + 1)]
        target = jnp.asarray(observed_moments, dtype=jnp.float64)
        if not np.all(np.isfinite(np.asarray(target))):
            raise ParameterError(
                f"observed_moments = {np.asarray(target).tolist()} must be finite numbers"
            )
        if not np.all(np.asarray(target) != 0):
            raise ParameterError("observed_moments must be non-zero (they scale the penalty)")
        lam = float(regularization)

        def penalty(theta):
            m = jnp.ravel(moments_fn(theta))[: target.size]
            return -lam * jnp.sum(((m - target) / target) ** 2)

        self._extra_logp = penalty
        self._extra_key = (
            "moments",
            lam,
            tuple(np.asarray(target).tolist()),
            identity(self.moments_fn),
        )
        try:
            return self.fit(**fit_kwargs)
        finally:
            self._extra_logp = None
            self._extra_key = None

    def _check_divergence(self, logdensity: list[float]) -> None:
        """Stop when the particles' mean log density has fallen far below its best.

        Particles spreading over a posterior lose about d/2 nats of mean log density from the
        mode, whatever the data; a fall of 100 + 10 d nats is a step running away (a learning
        rate too large for the target), even when every score stays finite.
        """
        lp = np.asarray(logdensity)
        if lp.size == 0 or not np.isfinite(lp[-1]) and not lp[-1] == -np.inf:
            return
        if lp[-1] == -np.inf:  # some particle sits outside the support (zero score there)
            z = jnp.asarray(self._last_particles[: self.n_particles])
            outside = np.flatnonzero(np.asarray(jax.vmap(self._logdensity())(z)) == -np.inf)
            if outside.size:
                th = np.asarray(self.transform.forward(z[outside[0]]))
                raise PhasicError(
                    f"particle {outside[0]} left the model's support by iteration {lp.size} "
                    f"(log density -inf at θ = {th.tolist()}): use a positive transform "
                    "(transform='softplus'), a prior that keeps θ inside, or a lower learning_rate"
                )
        finite = np.where(np.isfinite(lp), lp, -np.inf)
        best = int(np.argmax(finite))
        fall = finite[best] - lp[-1]
        if np.isfinite(finite[best]) and fall > 100 + 10 * self.theta_dim:
            now = self.transform.forward(jnp.asarray(self._last_particles[: self.n_particles]))
            lo, hi = float(jnp.min(now)), float(jnp.max(now))
            rate = "a schedule" if callable(self.learning_rate) else repr(self.learning_rate)
            raise PhasicError(
                f"SVGD diverged: the particles' mean log density fell from {finite[best]:.6g} "
                f"(iteration {best + 1}) to {lp[-1]:.6g} (iteration {lp.size}), with θ now in "
                f"[{lo:.3g}, {hi:.3g}]; the step is too large for this target: lower "
                f"learning_rate (now {rate}) or use a decaying schedule"
            )

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, state: SVGDState, it: int, history, diag) -> None:
        # every process gathers (a collective); only the coordinator writes
        leaves = [np.asarray(self._replicate(a)) for a in jax.tree_util.tree_leaves(state)]
        if jax.process_index() != 0:
            return
        assert self.checkpoint_path is not None  # saving is only set up with a path
        hist = np.asarray(history) if history else np.zeros((0, self.n_particles, self.theta_dim))
        save_checkpoint(
            self.checkpoint_path, self._fingerprint(), Checkpoint(leaves, it, hist, diag)
        )

    def _load_checkpoint(self, state: SVGDState, sharding: NamedSharding, fresh: tuple):
        """The state to start from: the checkpoint's, or ``(state, *fresh)`` when there is none."""
        like, treedef = jax.tree_util.tree_flatten(state)
        cp = resume_point(
            self.checkpoint_path,
            self._fingerprint(),
            [np.zeros(a.shape, a.dtype) for a in like],
            _DIAGNOSTICS,
            self.n_iterations,
        )
        if cp is None:
            return (state, *fresh)
        placed = [
            on_mesh(
                a, sharding if np.ndim(a) >= 1 else NamedSharding(sharding.mesh, PartitionSpec())
            )
            for a in cp.leaves
        ]
        state = jax.tree_util.tree_unflatten(treedef, placed)
        return state, cp.iteration, cp.history, cp.diagnostics

    # ------------------------------------------------------------------ results
    def plot_predictive(
        self, path: str | os.PathLike | None = None, x=None, n_draws: int = 50
    ) -> Any:
        """Posterior predictive curves over the observed data (``model(theta)`` models only):
        the figure, or saved to ``path``."""
        if self.likelihood != "gaussian":
            raise ParameterError("plot_predictive needs a model(theta) predicting observed_data")
        from ._plots import plot_predictive

        return plot_predictive(self, path, x, n_draws)
