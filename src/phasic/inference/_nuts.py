"""`NUTS`: the no-U-turn sampler (blackjax) on the same problem as `SVGD`.

The gold standard beside SVGD: the same model / likelihood / prior / transform arguments, chains
sharded over every device and process like SVGD particles, the shared run loop (progress bar,
checkpoints), and r̂ and effective sample sizes in `summary`. Warm-up is blackjax's window
adaptation (step size and a diagonal mass matrix per chain).

References
----------
Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn Sampler. JMLR 15.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jax

from .._errors import ParameterError, PhasicError
from ._checkpoint import Checkpoint, resume_point, save_checkpoint
from ._loop import block_length, run_blocks
from ._posterior import ParticlePosterior, _arviz
from ._problem import (
    ProblemAttributes,
    check_count,
    define_problem,
    on_mesh,
    start_on_mesh,
    start_points,
    with_auto_transform,
)

__all__ = ["NUTS"]

AXIS = "chains"
_DIAGNOSTICS = ("acceptance", "divergences")


def _blackjax() -> Any:
    try:
        import blackjax
    except ImportError as exc:  # pragma: no cover - a dependency; only broken installs get here
        raise ImportError("NUTS needs blackjax: pip install blackjax") from exc
    return blackjax


class NUTS(ProblemAttributes, ParticlePosterior):
    """Bayesian inference by the no-U-turn sampler, with `SVGD`'s interface.

    Parameters
    ----------
    model, observed_data, prior, theta_dim, likelihood, noise_scale, weights, log_likelihood,
    transform
        As for `SVGD`: the same problem, the same likelihood families.
    n_chains : int
        Independent chains (at least 2 for r̂), sharded over all devices.
    n_warmup : int
        Window-adaptation steps per chain (step size, diagonal mass matrix); not kept.
    n_samples : int
        Draws kept per chain.
    theta_init : array (n_chains, theta_dim), optional
        Starting points on the natural scale; default Uniform(0.5, 2) draws from ``seed``.
    target_accept : float
        Target acceptance rate of the adaptation, in (0, 1).
    checkpoint_path : path, optional
        Resume support: the state after warm-up and after every block of draws.
    block_size : int
        Draws per jitted block (one dispatch and one progress update each).

    Attributes (after `fit`)
    ------------------------
    draws : (n_chains, n_samples, theta_dim)
    particles : (n_chains * n_samples, theta_dim), the draws pooled
    diagnostics : dict with ``r_hat`` (theta_dim,), ``ess`` (theta_dim,), per-draw mean
        ``acceptance`` and ``divergences`` counts.
    """

    def __init__(
        self,
        model: Callable | None,
        observed_data: Any,
        prior: Callable | None = None,
        theta_dim: int | None = None,
        n_chains: int = 4,
        n_warmup: int = 500,
        n_samples: int = 1000,
        seed: int = 42,
        verbose: bool = True,
        *,
        likelihood: str | None = None,
        noise_scale: float | None = None,
        weights: Any = None,
        log_likelihood: Callable | None = None,
        transform: Any = "auto",
        theta_init: Any = None,
        target_accept: float = 0.8,
        checkpoint_path: str | os.PathLike | None = None,
        block_size: int = 100,
    ) -> None:
        self._problem = define_problem(
            "NUTS",
            model,
            observed_data,
            prior,
            likelihood=likelihood,
            noise_scale=noise_scale,
            weights=weights,
            log_likelihood=log_likelihood,
            transform=transform,
        )
        self.n_warmup = check_count("n_warmup", n_warmup)
        self.n_samples = check_count("n_samples", n_samples)
        self.block_size = check_count("block_size", block_size)
        if not 0 < float(target_accept) < 1:
            raise ParameterError(f"target_accept = {target_accept!r} must be in (0, 1)")
        self.target_accept = float(target_accept)
        self.seed = int(seed)
        self.verbose = bool(verbose)
        self.checkpoint_path = None if checkpoint_path is None else os.fspath(checkpoint_path)
        self.theta_init = start_points(
            self._problem,
            theta_init,
            theta_dim,
            n_chains,
            self.seed,
            count_name="n_chains",
            default_n=4,
            distinct=False,
        )
        self.n_chains, self.theta_dim = self.theta_init.shape
        # softplus, not exp, for rates: the step-size search of the warm-up throws z far, and
        # e^z would cost millions of uniformization steps per gradient (> 10 min on the
        # two-island model against 13 s)
        self._problem = with_auto_transform(self._problem, transform, self.theta_init)
        self.draws: np.ndarray | None = None
        self.diagnostics: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ fitting
    def _fingerprint(self) -> str:
        parts = [
            "nuts",
            self.n_chains,
            self.theta_dim,
            self.n_warmup,
            self.n_samples,
            self.target_accept,
            self.transform.name,
            self.block_size,
            self.seed,
            hashlib.sha1(np.ascontiguousarray(self.theta_init).tobytes()).hexdigest(),
            self._problem.identity(),
        ]
        return "|".join(map(str, parts))

    def fit(self) -> NUTS:
        """Warm up, then draw; returns self with `draws`, `particles` and `diagnostics`."""
        bj = _blackjax()
        logdensity = self._problem.logdensity()
        mesh = Mesh(np.array(jax.devices()), (AXIS,))
        n_dev = mesh.devices.size
        n_pad = -self.n_chains % n_dev
        chains = self.n_chains + n_pad
        spec = PartitionSpec(AXIS)
        sharding = NamedSharding(mesh, spec)
        replicate = jax.jit(lambda x: x, out_shardings=NamedSharding(mesh, PartitionSpec()))

        def place(host: np.ndarray) -> jax.Array:
            return on_mesh(host, sharding)

        self.theta_init, z0 = start_on_mesh(self.theta_init, self.transform, n_pad)
        keys = np.asarray(jax.random.split(jax.random.PRNGKey(self.seed), 2 * chains))
        warm_keys, keys = keys[:chains], keys[chains:]

        def sharded(fn: Callable, n_in: int) -> Callable:
            return jax.jit(
                jax.shard_map(
                    jax.vmap(fn),
                    mesh=mesh,
                    in_specs=(spec,) * n_in,
                    out_specs=spec,
                    check_vma=False,
                )
            )

        kernel = bj.nuts.build_kernel()

        def warm(key, z):
            adapt = bj.window_adaptation(
                bj.nuts, logdensity, target_acceptance_rate=self.target_accept
            )
            (state, params), _ = adapt.run(key, z, num_steps=self.n_warmup)
            return state, params["step_size"], params["inverse_mass_matrix"]

        def draw_block(length: int) -> Callable:
            def run(key, state, step, imm):
                def body(carry, _):
                    k, st = carry
                    k, sub = jax.random.split(k)
                    st, info = kernel(sub, st, logdensity, step, imm)
                    return (k, st), (st.position, info.acceptance_rate, info.is_divergent)

                (key, state), out = jax.lax.scan(body, (key, state), None, length=length)
                return key, state, step, imm, out

            return sharded(run, 4)

        history: list[np.ndarray] = []
        diag: dict[str, list[float]] = {name: [] for name in _DIAGNOSTICS}
        start = 0
        resumed = self._load(chains, place)
        if resumed is not None:
            carry, start, history, diag = resumed
        else:
            state, step, imm = sharded(warm, 2)(place(warm_keys), place(z0))
            carry = (place(keys), state, step, imm)
            if self.checkpoint_path:
                self._save(carry, 0, history, diag, replicate)

        runners: dict[int, Callable] = {}

        def run_block(carry: tuple, length: int) -> tuple:
            if length not in runners:
                runners[length] = draw_block(length)
            key, state, step, imm, (zs, acc, div) = runners[length](*carry)
            out = jax.tree_util.tree_map(replicate, (zs, acc, div))
            return (key, state, step, imm), out, None

        def record(it: int, take: int, out, _info) -> bool:
            zs, acc, div = (np.asarray(a) for a in out)  # (chains, take, ...)
            for k in range(take):
                history.append(zs[: self.n_chains, k])
            diag["acceptance"].extend(acc[: self.n_chains].mean(axis=0).tolist())
            diag["divergences"].extend(div[: self.n_chains].sum(axis=0).tolist())
            return False

        coordinator = jax.process_index() == 0
        carry, it = run_blocks(
            run_block,
            carry,
            start=start,
            n_iterations=self.n_samples,
            block=block_length(self.block_size, None),
            record=record,
            save=(
                (lambda c, i: self._save(c, i, history, diag, replicate))
                if self.checkpoint_path
                else None
            ),
            progress="NUTS" if self.verbose and coordinator else None,
        )
        zs = np.stack(history, axis=1)  # (chains, draws, d) unconstrained
        draws = np.asarray(self.transform.forward(jnp.asarray(zs)))
        self.draws = draws
        self.particles = draws.reshape(-1, self.theta_dim)
        bjd = _blackjax().diagnostics
        per_dim = [jnp.asarray(draws[:, :, i]) for i in range(self.theta_dim)]  # (chains, draws)
        self.diagnostics = {
            "r_hat": np.array([float(bjd.potential_scale_reduction(a)) for a in per_dim]),
            "ess": np.array([float(bjd.effective_sample_size(a)) for a in per_dim]),
            **{name: np.asarray(v) for name, v in diag.items()},
        }
        return self

    # ------------------------------------------------------------------ checkpoints
    def _save(self, carry, it: int, history, diag, replicate) -> None:
        leaves = [np.asarray(replicate(a)) for a in jax.tree_util.tree_leaves(carry)]
        if jax.process_index() != 0:
            return
        assert self.checkpoint_path is not None
        hist = np.asarray(history) if history else np.zeros((0, self.n_chains, self.theta_dim))
        save_checkpoint(
            self.checkpoint_path, self._fingerprint(), Checkpoint(leaves, it, hist, diag)
        )

    def _load(self, chains: int, place: Callable) -> tuple | None:
        """The carry, iteration, history and diagnostics to resume from; None to start afresh."""
        like = self._carry_like(chains)
        leaves_ref, treedef = jax.tree_util.tree_flatten(like)
        cp = resume_point(
            self.checkpoint_path,
            self._fingerprint(),
            [np.zeros(a.shape, a.dtype) for a in leaves_ref],
            _DIAGNOSTICS,
            self.n_samples,
        )
        if cp is None:
            return None
        carry = jax.tree_util.tree_unflatten(treedef, [place(a) for a in cp.leaves])
        return carry, cp.iteration, list(cp.history), cp.diagnostics

    def _carry_like(self, chains: int) -> Any:
        """Shapes of the sampling carry (keys, HMC state, step sizes, mass matrices)."""
        bj = _blackjax()
        d = self.theta_dim
        state = bj.mcmc.hmc.HMCState(
            jax.ShapeDtypeStruct((chains, d), jnp.float64),
            jax.ShapeDtypeStruct((chains,), jnp.float64),
            jax.ShapeDtypeStruct((chains, d), jnp.float64),
        )
        return (
            jax.ShapeDtypeStruct((chains, 2), jnp.uint32),
            state,
            jax.ShapeDtypeStruct((chains,), jnp.float64),
            jax.ShapeDtypeStruct((chains, d), jnp.float64),
        )

    # ------------------------------------------------------------------ results
    def summary(self, level: float = 0.95) -> str:
        """Posterior mean, sd, interval, r̂ and effective sample size per parameter."""
        table = super().summary(level).split("\n")
        if not self.diagnostics:
            raise PhasicError("call fit() first")
        r_hat, ess = self.diagnostics["r_hat"], self.diagnostics["ess"]
        rows = [table[0] + f" {'r_hat':>7} {'ess':>8}"]
        rows += [
            row + f" {r:7.3f} {e:8.0f}" for row, r, e in zip(table[1:], r_hat, ess, strict=True)
        ]
        n_div = int(np.sum(self.diagnostics["divergences"]))
        if n_div:
            rows.append(f"{n_div} divergent transitions: the posterior may be biased")
        if np.any(r_hat > 1.01):
            rows.append("r_hat > 1.01: the chains disagree; draw more samples")
        return "\n".join(rows)

    def to_arviz(self) -> Any:
        """The draws as an ``arviz.InferenceData`` posterior (chains × draws)."""
        az = _arviz()
        if self.draws is None:
            raise PhasicError("call fit() first")
        return az.from_dict(
            posterior={f"theta_{i}": self.draws[:, :, i] for i in range(self.theta_dim)}
        )
