"""The epoch propagator's vector-Jacobian product three ways: native with stored iterates,
native with forward tangents (store_limit=0), and the pure-JAX loop; and against jvp."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jax
from phasic.graph._transform import with_event_rate
from phasic.jax._epochs import make_propagator
from phasic.jax._ops import DenseOps, FfiOps
from reference_models import block_counting, sfs_rewards, two_island_migration

CASES = {
    # (graph arrays, θ, k, coupling parameter, transpose)
    "moments k=3, cyclic": (two_island_migration(3).compile(), [1.0, 0.5, 0.7], 3, None, False),
    "rows (state distribution)": (block_counting(5).compile(), [1.3], 1, None, True),
    "counts, rate coupled": (None, [1.3, 0.6], 4, 1, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_vjp_paths_agree(name):
    ga, theta, k, cp, transpose = CASES[name]
    if ga is None:  # the counts graph: block counting with the event edge μ · r
        bc = block_counting(5)
        base = bc.compile()
        r_np = base.reward_matrix(sfs_rewards(bc, 5)[:, 1], bc.vertices_length())[0]
        ga = with_event_rate(base, r_np.sum(axis=1))
    else:
        r_np = np.linspace(0.5, 2.0, ga.n_transient)[:, None]
    rng = np.random.default_rng(0)
    r = jnp.asarray(r_np)
    u = jnp.asarray(rng.random((ga.n_transient, k, 1)))
    ybar = jnp.asarray(rng.normal(size=u.shape))
    th = jnp.asarray(theta)
    delta, scale = 0.4, jnp.ones((k, 1))
    ffi, dense = FfiOps(ga), DenseOps(ga)
    grads = {}
    for label, ops in (("ffi", ffi), ("jax", dense)):
        prop = make_propagator(ops, r, k, 1e-13, 10**6, coupling_param=cp, transpose=transpose)
        _, vjp = jax.vjp(lambda t, x, d, f=prop: f(t, x, d, scale), th, u, jnp.float64(delta))
        grads[label] = vjp(ybar)
    # the native kernel without stored iterates (forward tangents)
    y, steps = ffi.propagate_raw(
        th, u, jnp.full(1, delta), jnp.full(1, 1e-13), r, transpose, -1 if cp is None else cp, 10**6
    )
    ubar, thbar, dbar = ffi.propagate_vjp_raw(
        th, u, jnp.full(1, delta), steps, y, ybar, r, transpose, -1 if cp is None else cp, 0
    )
    grads["tangents"] = (thbar, ubar, dbar[0])
    for label in ("jax", "tangents"):
        for a, b in zip(grads["ffi"], grads[label], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13)
    # and a directional derivative by jvp of the forward value (finite differences of y)
    prop = make_propagator(ffi, r, k, 1e-13, 10**6, coupling_param=cp, transpose=transpose)
    dth = jnp.asarray(rng.normal(size=th.shape))
    eps = 1e-6
    fd = (
        jnp.sum(ybar * prop(th + eps * dth, u, delta, scale))
        - jnp.sum(ybar * prop(th - eps * dth, u, delta, scale))
    ) / (2 * eps)
    np.testing.assert_allclose(jnp.dot(grads["ffi"][0], dth), fd, rtol=1e-6)
