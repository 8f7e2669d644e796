"""Property-based fuzzing of the public entry points (issue 14). The only assertion is the
contract: a finite, correct-shaped value, or a `PhasicError` that names the bad input; never a
crash, a hang, a raw exception or a silent NaN."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from phasic import Graph, PhasicError, models

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_numbers = st.one_of(
    st.floats(min_value=0.05, max_value=20.0),  # valid
    st.floats(allow_nan=True, allow_infinity=True),  # anything, negatives and NaN included
    st.integers(-3, 3),
)
_valid_theta = st.lists(st.floats(min_value=0.05, max_value=20.0), min_size=3, max_size=3)
_theta = st.one_of(
    _valid_theta,  # drawn about half the time, so the valid paths are exercised too
    _valid_theta,
    _valid_theta,
    _valid_theta,
    st.lists(_numbers, min_size=0, max_size=4),
    st.lists(st.lists(_numbers, min_size=3, max_size=3), min_size=1, max_size=3),
    st.just("abc"),
    st.just([[1.0], [1.0, 2.0]]),  # ragged
    st.none(),
)
_valid_times = st.lists(st.floats(min_value=0.0, max_value=50.0), min_size=1, max_size=5)
_times = st.one_of(
    _valid_times,
    _valid_times,
    _valid_times,
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just([[0.5, 1.0]]),
    st.just("later"),
)

GRAPH = models.two_island_migration(3)  # θ = (coalescence 1, coalescence 2, migration)


def _keeps_the_contract(call) -> None:
    try:
        out = call()
    except PhasicError as exc:
        assert str(exc)  # a message, naming the value
        return
    values = np.asarray(out.moments if hasattr(out, "moments") else out, dtype=float)
    assert np.all(np.isfinite(values)), f"silent non-finite value {values}"


@FUZZ
@given(theta=_theta, times=_times, k=st.one_of(st.integers(-1, 4), st.just(1.5)))
# no migration and a subnormal Laplace argument: a cyclic block's pivot of 2e-311, whose inverse
# overflowed to a silent NaN (now an AbsorptionError naming the state)
@example(theta=[[1.0, 1.0, 0.0]], times=[2.225073858507e-311], k=1)
def test_eager_methods_keep_the_contract(theta, times, k):
    g = GRAPH
    for call in (
        lambda: g.expectation(theta=theta),
        lambda: g.variance(theta=theta),
        lambda: g.moments(k, theta=theta),
        lambda: g.pdf(times, theta=theta),
        lambda: g.cdf(times, theta=theta),
        lambda: g.survival(times, theta=theta),
        lambda: g.stop_probability(times, theta=theta),
        lambda: g.laplace_transform(times, theta=theta),
        lambda: g.moments_gradient(1, theta=theta),
    ):
        _keeps_the_contract(call)


@FUZZ
@given(
    theta=_theta,
    rewards=st.one_of(
        st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=10, max_size=10),  # valid
        st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=10, max_size=10),
        st.lists(_numbers, min_size=0, max_size=12),
        st.just([[1.0, 2.0]]),
        st.just("r"),
    ),
    n=st.one_of(st.integers(-2, 5), st.just(2.5)),
)
def test_rewards_and_sampling_keep_the_contract(theta, rewards, n):
    g = GRAPH
    for call in (
        lambda: g.expectation(rewards, theta=theta),
        lambda: g.covariance(rewards, rewards, theta=theta),
        lambda: g.sample(n, rewards, rng=0, theta=theta),
        lambda: g.joint_prob_table(rewards, 2, rate=0.5, theta=theta),
    ):
        _keeps_the_contract(call)


_state = st.one_of(
    st.lists(st.integers(-5, 5), min_size=1, max_size=3),
    st.lists(st.floats(allow_nan=True), min_size=1, max_size=2),
    st.just([]),
    st.just("s"),
    st.just([[1], [2]]),
    st.integers(0, 3),
)
_weight = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just("w"), st.just([1.0]))


@FUZZ
@given(
    transitions=st.lists(st.tuples(_state, _weight), min_size=0, max_size=4),
    depth=st.integers(1, 4),
)
def test_callbacks_returning_anything_keep_the_contract(transitions, depth):
    # a callback that returns the drawn transitions from the start and from states up to a
    # depth, then nothing: the graph is built and used, or the error names what was wrong
    def cb(state):
        if not state.size:
            return [list(t) for t in transitions]
        return [list(t) for t in transitions] if abs(int(np.sum(state))) < depth else []

    def build_and_use():
        g = Graph(callback=cb, max_vertices=200)
        return g.expectation()

    _keeps_the_contract(build_and_use)


@FUZZ
@given(
    kinds=st.lists(
        st.tuples(
            st.sampled_from(["ok", "float", "short", "rows"]),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(1.0)),
        ),
        min_size=0,
        max_size=3,
    )
)
def test_vectorized_rules_returning_anything_keep_the_contract(kinds):
    def rules(states):
        B = states.shape[0]
        if states.shape[1] == 0:
            return [[np.array([[3, 0]]), [1.0]]]
        out = []
        for kind, w in kinds:
            nxt = states - np.array([1, 0])
            weight = np.full(B, w) * (states[:, 0] > 0)
            if kind == "float":
                nxt = nxt.astype(float)
            elif kind == "short":
                nxt = nxt[:, :1]
            elif kind == "rows":
                nxt = nxt[:-1]
            out.append([nxt, weight])
        return out

    _keeps_the_contract(
        lambda: Graph(callback=rules, vectorized=True, max_vertices=100).expectation()
    )


@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf])
def test_the_fuzz_contract_itself_catches_a_silent_nan(bad):
    # the checker must fail on a silent non-finite value (a test that cannot fail is a defect)
    with pytest.raises(AssertionError, match="silent non-finite"):
        _keeps_the_contract(lambda: np.array([1.0, bad if bad != -1.0 else np.nan]))
