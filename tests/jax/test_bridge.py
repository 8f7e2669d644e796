"""JAX bridges: FFI and pure-JAX paths agree, gradients are exact, vmap/jit/shard_map work."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import jax
from phasic import Graph, ParameterError, PhasicError
from random_models import models
from reference_models import block_counting, kingman, sfs_rewards, two_island_migration

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T = jnp.array([0.0, 0.2, 1.0, 3.0])


@pytest.mark.slow
@SETTINGS
@given(models(cyclic=True, p=2))
def test_ffi_and_pure_jax_paths_agree(m):
    th = jnp.asarray(m.theta)
    f_ffi = Graph.pmf_from_graph(m.graph, backend="ffi")
    f_jax = Graph.pmf_from_graph(m.graph, backend="jax")
    f1, f2 = f_ffi(th, T), f_jax(th, T)
    # The dense path's expm (Padé, scaling and squaring) is accurate to ~1e-12 of the largest
    # value, not absolutely: at make_model(1394, cyclic) it was 2.7e-12 off where the native
    # series agreed with 50-digit mpmath to 2e-19.
    np.testing.assert_allclose(f1, f2, rtol=1e-10, atol=1e-11 * float(jnp.max(jnp.abs(f2))))
    g1 = jax.grad(lambda t: jnp.sum(f_ffi(t, T) ** 2))(th)
    g2 = jax.grad(lambda t: jnp.sum(f_jax(t, T) ** 2))(th)
    np.testing.assert_allclose(g1, g2, rtol=1e-8, atol=1e-12)
    mf = Graph.moments_from_graph(m.graph, 3, backend="ffi")
    mj = Graph.moments_from_graph(m.graph, 3, backend="jax")
    np.testing.assert_allclose(mf(th), mj(th), rtol=1e-10)
    np.testing.assert_allclose(jax.jacrev(mf)(th), jax.jacfwd(mj)(th), rtol=1e-8, atol=1e-12)


@pytest.mark.slow
@SETTINGS
@given(models(cyclic=True, discrete=True))
def test_discrete_pmf_and_moments_paths_agree(m):
    ks = jnp.arange(0.0, 8.0)
    f_ffi = Graph.pmf_from_graph(m.graph, True, backend="ffi")
    f_jax = Graph.pmf_from_graph(m.graph, True, backend="jax")
    np.testing.assert_allclose(f_ffi(ks), f_jax(ks), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(
        f_ffi(ks), m.graph.pmf_discrete(np.arange(8)), rtol=1e-13, atol=1e-16
    )
    mf = Graph.moments_from_graph(m.graph, 3, discrete=True, backend="ffi")
    np.testing.assert_allclose(mf(), m.graph.moments_discrete(3), rtol=1e-12)


def test_gradients_match_central_differences_and_jvp():
    g = two_island_migration(4)
    model = Graph.pmf_from_graph(g)
    pure = Graph.pmf_from_graph(g, backend="jax")
    th = jnp.array([1.0, 0.6, 0.8])
    t = jnp.linspace(0.1, 4.0, 9)
    w = jnp.linspace(1.0, 2.0, 9)

    def loss(f):
        return lambda x: jnp.sum(w * jnp.log(f(x, t)))

    grad = jax.grad(loss(model))(th)
    h = 1e-5
    for q in range(3):
        e = jnp.zeros(3).at[q].set(h)
        fd = (loss(model)(th + e) - loss(model)(th - e)) / (2 * h)
        assert abs(grad[q] - fd) <= 1e-6 * abs(fd) + 1e-9
        _, tangent = jax.jvp(loss(pure), (th,), (jnp.zeros(3).at[q].set(1.0),))
        assert abs(grad[q] - tangent) <= 1e-7 * abs(tangent)
    # gradient with respect to time: d pdf / dt
    dt = jax.grad(lambda x: model(th, x))(1.3)
    fd = (model(th, 1.3 + h) - model(th, 1.3 - h)) / (2 * h)
    assert abs(dt - fd) <= 1e-6 * abs(fd)
    # jacrev and jvp through the FFI path agree
    J = jax.jacrev(model)(th, t)
    _, jv = jax.jvp(lambda x: pure(x, t), (th,), (jnp.array([0.3, -0.2, 0.5]),))
    np.testing.assert_allclose(J @ jnp.array([0.3, -0.2, 0.5]), jv, rtol=1e-7, atol=1e-12)


def test_vmap_over_100_thetas_equals_loop_and_compiles_once():
    g = kingman(8)
    model = Graph.pmf_from_graph(g)
    traces = []

    def f(th, t):
        traces.append(1)
        return model(th, t)

    jf = jax.jit(jax.vmap(f, in_axes=(0, None)))
    thetas = jnp.linspace(0.3, 3.0, 100)[:, None]
    t = jnp.linspace(0.05, 6.0, 40)
    batch = jf(thetas, t)
    loop = np.stack([np.asarray(model(thetas[i], t)) for i in range(100)])
    np.testing.assert_allclose(batch, loop, rtol=1e-12, atol=1e-300)
    jf(thetas * 1.1, t)
    jf(thetas * 0.9, t)
    assert len(traces) == 1  # one compilation serves every θ of the same shape
    # the batch shares one series on the θ = 1 clock (kingman's rates are θ times constants),
    # the loop runs its own: both are accurate to the series' tolerance, and the sum of 40
    # log-density derivatives of both signs amplifies that a little
    grads = jax.jit(jax.vmap(jax.grad(lambda th: jnp.sum(jnp.log(model(th, t))))))(thetas)
    np.testing.assert_allclose(
        grads[7], jax.grad(lambda th: jnp.sum(jnp.log(model(th, t))))(thetas[7]), rtol=1e-10
    )


def test_a_density_hands_the_graph_to_its_program_as_parameters():
    # XLA compiles arrays embedded as constants into the program, which doubled a small model's
    # first call; as parameters they cost nothing to compile. Values and derivatives go through
    # the same kernels either way (the tests above).
    g = block_counting(12)
    ga = g.compile()
    model = Graph.pmf_from_graph(g)
    th, t = jnp.array([1.3]), jnp.array([0.5, 1.0, 2.0])
    outer = jax.make_jaxpr(model)(th, t)
    program = max((e for e in outer.eqns if "jaxpr" in e.params), key=lambda e: len(e.invars))
    inner = program.params["jaxpr"]
    assert max((np.size(c) for c in inner.consts), default=0) < ga.n_edges
    sizes = sorted(np.size(v) for v in outer.consts)
    assert ga.n_edges in sizes and ga.n_transient + 1 in sizes  # edges and row pointers
    # and under grad, whose rule gets the arrays as arguments (a rule closing over the
    # program's parameters would leak them)
    grad = jax.grad(lambda x: jnp.sum(jnp.log(model(x, t))))(th)
    h = 1e-6
    fd = (jnp.sum(jnp.log(model(th + h, t))) - jnp.sum(jnp.log(model(th - h, t)))) / (2 * h)
    np.testing.assert_allclose(grad[0], fd, rtol=1e-7)


def test_seed_cells_4_to_6_give_the_hypoexponential_pdf():
    g = kingman(8)
    model = Graph.pmf_from_graph(g, discrete=False)
    theta = 1.5
    t = jnp.linspace(0.1, 5.0, 50)
    rates = np.array([k * (k - 1) / 2 * theta for k in range(2, 9)])
    closed = sum(
        np.prod([lj / (lj - li) for j, lj in enumerate(rates) if j != i]) * li * np.exp(-li * t)
        for i, li in enumerate(rates)
    )
    np.testing.assert_allclose(model(jnp.array([theta]), t), closed, rtol=1e-9)
    assert model(jnp.array([theta]), 1.0).shape == ()


def test_moments_and_sfs_through_jax():
    n = 6
    g = block_counting(n)
    fn = Graph.moments_from_graph(g, 1, rewards=sfs_rewards(g, n))
    np.testing.assert_allclose(fn(jnp.array([1.0]))[0], 2 / np.arange(1, n), rtol=1e-12)
    both = Graph.pmf_and_moments_from_graph(kingman(5), nr_moments=2)
    pdf, mom = both(jnp.array([2.0]), jnp.array([0.5, 1.0]))
    np.testing.assert_allclose(mom[0], 2 * (1 - 1 / 5) / 2.0, rtol=1e-13)
    assert pdf.shape == (2,)


def test_shard_map_over_two_cpu_devices():
    from jax.sharding import Mesh, PartitionSpec

    devices = jax.devices()
    assert len(devices) >= 2
    mesh = Mesh(np.array(devices[:2]), ("p",))
    model = Graph.pmf_from_graph(kingman(6))
    t = jnp.linspace(0.1, 3.0, 5)

    def local(thetas):
        return jax.vmap(lambda th: model(th, t))(thetas)

    sharded = jax.jit(
        jax.shard_map(local, mesh=mesh, in_specs=PartitionSpec("p"), out_specs=PartitionSpec("p"))
    )
    thetas = jnp.linspace(0.5, 2.0, 8)[:, None]
    # devices batch their own particles (own uniformization rate): equal to rounding
    np.testing.assert_allclose(sharded(thetas), local(thetas), rtol=1e-12)


def test_bad_input_is_a_clear_error():
    model = Graph.pmf_from_graph(kingman(4))
    with pytest.raises(ParameterError, match=r"times must be finite and >= 0"):
        model(jnp.array([1.0]), jnp.array([1.0, -0.5]))
    with pytest.raises(ParameterError, match=r"times must be finite"):
        model(jnp.array([1.0]), jnp.array([jnp.nan]))
    with pytest.raises(
        ParameterError, match=r"θ has shape \(2,\); this model takes θ of shape \(1,\)"
    ):
        model(jnp.array([1.0, 2.0]), 1.0)
    pmf = Graph.pmf_from_graph(Graph.from_matrices([1.0], [[0.5]], discrete=True), discrete=True)
    with pytest.raises(ParameterError, match="non-negative integers"):
        pmf(jnp.array([1.5]))
    with pytest.raises(ParameterError, match="NaN"):
        model(jnp.array([jnp.nan]), 1.0)


def test_forward_mode_jvp_through_the_native_path():
    g = two_island_migration(4)
    th = jnp.array([1.0, 0.6, 0.8])
    v = jnp.array([0.3, -0.2, 0.5])
    t = jnp.linspace(0.1, 3.0, 6)
    native, pure = Graph.pmf_from_graph(g), Graph.pmf_from_graph(g, backend="jax")
    _, jn = jax.jvp(lambda x: native(x, t), (th,), (v,))
    _, jp = jax.jvp(lambda x: pure(x, t), (th,), (v,))
    np.testing.assert_allclose(jn, jp, rtol=1e-8, atol=1e-13)
    _, dt = jax.jvp(lambda s: native(th, s), (t,), (jnp.ones_like(t),))
    _, dtp = jax.jvp(lambda s: pure(th, s), (t,), (jnp.ones_like(t),))
    np.testing.assert_allclose(dt, dtp, rtol=1e-8, atol=1e-13)
    mn, mp = Graph.moments_from_graph(g, 3), Graph.moments_from_graph(g, 3, backend="jax")
    np.testing.assert_allclose(jax.jvp(mn, (th,), (v,))[1], jax.jvp(mp, (th,), (v,))[1], rtol=1e-9)
    np.testing.assert_allclose(jax.jacfwd(mn)(th), jax.jacrev(mn)(th), rtol=1e-10)


def test_gradients_inside_shard_map():
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(jax.devices()[:2]), ("p",))
    model = Graph.pmf_from_graph(kingman(6))
    t = jnp.linspace(0.1, 3.0, 5)
    score = jax.vmap(jax.grad(lambda th: jnp.sum(jnp.log(model(th, t)))))
    # FFI results carry no varying-axis type: gradients inside shard_map need check_vma=False
    sharded = jax.jit(
        jax.shard_map(
            score,
            mesh=mesh,
            in_specs=PartitionSpec("p"),
            out_specs=PartitionSpec("p"),
            check_vma=False,
        )
    )
    thetas = jnp.linspace(0.5, 2.0, 8)[:, None]
    np.testing.assert_allclose(sharded(thetas), score(thetas), rtol=1e-12)


def test_the_extension_refuses_another_jax_minor_series():
    """Issue 14: the FFI ABI is compiled in, so a jax of another minor series is named, not run."""
    from phasic import _core
    from phasic.jax._ops import check_jax_version

    assert _core.JAX_BUILD_VERSION == jax.__version__  # the one this suite runs with
    check_jax_version("0.10.7", "0.10.2")  # patch releases keep the FFI structs
    with pytest.raises(PhasicError, match=r"built against jax 0\.10\.2.*runs jax 0\.11\.0"):
        check_jax_version("0.11.0", "0.10.2")


def _parameterized_start() -> Graph:
    """Two routes chosen at the start with weights θ0 and 1 + θ1 - θ0, and a start edge straight
    into absorption (a defect) of weight 0.5 θ1: α and dα/dθ depend on θ."""
    g = Graph(state_length=1, parameterized=True)
    a, b, c = (g.find_or_create_vertex([k]) for k in (1, 2, 3))
    dead = g.find_or_create_vertex([0])
    g.starting_vertex().add_edge_parameterized(a, 0.0, [1.0, 0.0])
    g.starting_vertex().add_edge_parameterized(b, 1.0, [-1.0, 1.0])
    g.starting_vertex().add_edge_parameterized(dead, 0.0, [0.0, 0.5])
    a.add_edge_parameterized(c, 0.5, [1.0, 0.0])
    b.add_edge_parameterized(c, 0.0, [0.0, 2.0])
    c.add_edge_parameterized(dead, 1.0, [0.5, 0.5])
    return g


def test_theta_dependent_start_distribution_values_gradients_and_support():
    g = _parameterized_start()
    th = jnp.array([0.7, 1.3])
    for log in (False, True):
        ffi = Graph.pmf_from_graph(g, backend="ffi", log=log)
        dense = Graph.pmf_from_graph(g, backend="jax", log=log)
        t = jnp.array([0.1, 0.9, 4.0])
        np.testing.assert_allclose(ffi(th, t), dense(th, t), rtol=1e-11)
        g1 = jax.jacrev(ffi)(th, t)
        np.testing.assert_allclose(g1, jax.jacfwd(dense)(th, t), rtol=1e-9, atol=1e-13)
        g2 = jax.vmap(jax.grad(ffi), in_axes=(None, 0))(th, t)
        np.testing.assert_allclose(g2, g1, rtol=1e-12)
    # θ0 = 3 makes the start weight 1 + θ1 - θ0 negative (every edge weight stays >= 0): outside
    # the support, NaN with a zero gradient under jit, vmap and grad
    pdf = Graph.pmf_from_graph(g)
    bad = jnp.array([3.0, 1.0])
    assert np.all(np.isnan(jax.jit(pdf)(bad, jnp.array([0.5, 1.0]))))
    grad = jax.grad(lambda x: jnp.sum(jnp.nan_to_num(pdf(x, jnp.array([0.5, 1.0])), nan=0.0)))
    np.testing.assert_array_equal(grad(bad), [0.0, 0.0])
    batch = jax.vmap(pdf, in_axes=(0, None))(jnp.stack([th, bad]), jnp.array([0.5]))
    assert np.isfinite(batch[0, 0]) and np.isnan(batch[1, 0])
