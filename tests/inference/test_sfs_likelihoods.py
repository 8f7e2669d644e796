"""SFS and segregating-site likelihood families against scipy, and folding by hand."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jax
from phasic import ParameterError
from phasic.inference import (
    fold_joint_sfs,
    fold_sfs,
    multinomial_sfs_log_likelihood,
    poisson_sfs_log_likelihood,
    segregating_sites_log_likelihood,
)
from phasic.inference._target import log_likelihood_of

EXPECTED = np.array([40.0, 19.5, 13.1, 10.2, 7.9])
OBSERVED = np.array([37, 25, 11, 9, 10])


def test_poisson_and_multinomial_match_scipy():
    np.testing.assert_allclose(
        poisson_sfs_log_likelihood(EXPECTED, OBSERVED),
        stats.poisson.logpmf(OBSERVED, EXPECTED).sum(),
        rtol=1e-13,
    )
    p = EXPECTED / EXPECTED.sum()
    want = stats.multinomial.logpmf(OBSERVED, OBSERVED.sum(), p)
    np.testing.assert_allclose(multinomial_sfs_log_likelihood(EXPECTED, OBSERVED), want, rtol=1e-13)
    # the multinomial sees only the shape of the SFS
    np.testing.assert_allclose(
        multinomial_sfs_log_likelihood(3.7 * EXPECTED, OBSERVED), want, rtol=1e-13
    )


def test_gradients_and_outside_the_support():
    g = jax.grad(poisson_sfs_log_likelihood)(jnp.asarray(EXPECTED), OBSERVED)
    np.testing.assert_allclose(g, OBSERVED / EXPECTED - 1, rtol=1e-13)
    nan = jnp.asarray(EXPECTED).at[2].set(jnp.nan)
    for f in (poisson_sfs_log_likelihood, multinomial_sfs_log_likelihood):
        assert f(nan, OBSERVED) == -jnp.inf
        assert np.all(jax.grad(f)(nan, OBSERVED) == 0)
    # classes expected and observed empty (a joint SFS's corners): finite, zero derivative
    zero = jnp.asarray(np.append(EXPECTED, 0.0))
    obs0 = np.append(OBSERVED, 0)
    slope = {  # d/dλ of the empty class: -1 (Poisson), -S / Σλ (multinomial)
        poisson_sfs_log_likelihood: -1.0,
        multinomial_sfs_log_likelihood: -OBSERVED.sum() / EXPECTED.sum(),
    }
    for f, want in slope.items():
        assert np.isfinite(f(zero, obs0))
        g0 = jax.grad(f)(zero, obs0)
        assert np.all(np.isfinite(g0))
        np.testing.assert_allclose(g0[-1], want, rtol=1e-13)
    # sites observed where none are expected: impossible
    assert poisson_sfs_log_likelihood(EXPECTED * [1, 1, 0, 1, 1], OBSERVED) == -jnp.inf


def test_folding_by_hand():
    x = np.array([1.0, 2, 3, 4, 5])  # n = 6: classes 1..5
    np.testing.assert_array_equal(fold_sfs(x), [1 + 5, 2 + 4, 3])
    y = np.array([1.0, 2, 3, 4])  # n = 5: classes 1..4
    np.testing.assert_array_equal(fold_sfs(y), [1 + 4, 2 + 3])
    j = np.arange(12.0).reshape(3, 4)  # n1 = 2, n2 = 3: total 5, no middle line
    f = np.asarray(fold_joint_sfs(j))
    for i in range(3):
        for k in range(4):
            if i + k < 2.5:
                assert f[i, k] == j[i, k] + j[2 - i, 3 - k]
            else:
                assert f[i, k] == 0
    assert f.sum() == j.sum()
    m = np.arange(9.0).reshape(3, 3)  # n1 = n2 = 2: middle line i + j = 2
    fm = np.asarray(fold_joint_sfs(m))
    assert fm[0, 2] == m[0, 2] + m[2, 0] and fm[2, 0] == 0 and fm[1, 1] == m[1, 1]
    assert fm.sum() == m.sum()


def test_segregating_sites():
    pmf = stats.geom.pmf(np.arange(1, 12), 0.3)  # any pmf on 0..10
    s = np.array([0, 3, 3, 7, 1])
    np.testing.assert_allclose(
        segregating_sites_log_likelihood(pmf, s), np.log(pmf[s]).sum(), rtol=1e-14
    )
    with pytest.raises(ParameterError, match="max_count >= 12"):
        segregating_sites_log_likelihood(pmf, [12])


def test_bad_sfs_input_is_refused():
    with pytest.raises(ParameterError, match="must match"):
        poisson_sfs_log_likelihood(EXPECTED, OBSERVED[:4])
    with pytest.raises(ParameterError, match="counts"):
        poisson_sfs_log_likelihood(EXPECTED, OBSERVED + 0.5)
    with pytest.raises(ParameterError, match="1-D SFS"):
        fold_sfs(np.ones((3, 3)))


def test_the_families_by_name():
    model = lambda th: th[0] * jnp.asarray(EXPECTED)  # noqa: E731
    f = log_likelihood_of("poisson", model, jnp.asarray(OBSERVED, dtype=float))
    np.testing.assert_allclose(
        f(jnp.array([1.0])), stats.poisson.logpmf(OBSERVED, EXPECTED).sum(), rtol=1e-13
    )
    f = log_likelihood_of("multinomial", model, jnp.asarray(OBSERVED, dtype=float))
    np.testing.assert_allclose(f(jnp.array([2.0])), f(jnp.array([0.5])), rtol=1e-14)


def test_samplers_refuse_an_sfs_that_is_not_counts():
    from phasic import SVGD

    model = lambda th: th[0] * jnp.asarray(EXPECTED)  # noqa: E731
    with pytest.raises(ParameterError, match=r"likelihood='poisson'.*counts.*1\.5"):
        SVGD(model, OBSERVED + 0.5, likelihood="poisson", theta_dim=1, verbose=False)
    with pytest.raises(ParameterError, match=r"likelihood='multinomial'.*counts"):
        SVGD(model, -OBSERVED, likelihood="multinomial", theta_dim=1, verbose=False)
