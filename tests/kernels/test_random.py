"""kernels/random.py: the documented stream (NumPy PCG64 from the seed), the distributions'
ranges and moments, state save and restore, and the error inputs."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels import random as rk
from bnns.kernels.errors import InvalidArgumentError


def test_seeded_stream_is_numpy_pcg64_from_the_seed():
    g = rk.RandomGenerator(rk.AES_CTR, 42)
    reference = np.random.default_rng(42)
    np.testing.assert_array_equal(g.uniform((3, 4), -1, 2), reference.uniform(-1, 2, (3, 4)).astype(np.float32))
    np.testing.assert_array_equal(g.normal((5,), 1, 3), reference.normal(1, 3, (5,)).astype(np.float32))
    np.testing.assert_array_equal(g.uniform_int((6,), 1, 6, np.int32),
                                  reference.integers(1, 6, (6,), endpoint=True).astype(np.int32))


def test_uniform_stays_in_the_half_open_interval_and_normal_has_its_moments():
    g = rk.RandomGenerator(rk.AES_CTR, 1)
    u = g.uniform((20000,), 2.0, 2.0 + 1e-6)
    assert u.min() >= np.float32(2.0) and u.max() < np.float32(2.0 + 1e-6)
    n = g.normal((200000,), 3.0, 0.5).astype(np.float64)
    assert abs(n.mean() - 3.0) < 0.01 and abs(n.std() - 0.5) < 0.01
    ints = g.uniform_int((5000,), -2, 2, np.int8)
    assert set(ints.tolist()) == {-2, -1, 0, 1, 2}


def test_state_round_trip_replays_the_same_numbers():
    g = rk.RandomGenerator(rk.AES_CTR, 9)
    g.normal((3,), 0, 1)
    state = g.get_state()
    assert len(state) == rk.STATE_BYTES
    first = g.uniform((7,), 0, 1)
    g.set_state(state)
    np.testing.assert_array_equal(g.uniform((7,), 0, 1), first)


def test_unseeded_generators_differ():
    assert not np.array_equal(rk.RandomGenerator().uniform((8,), 0, 1), rk.RandomGenerator().uniform((8,), 0, 1))


@pytest.mark.parametrize("call, phrase", [
    (lambda g: g.uniform((2,), 1, 1), "below"), (lambda g: g.uniform((2,), 0, float("inf")), "b"),
    (lambda g: g.normal((2,), 0, -1), "stddev"), (lambda g: g.uniform_int((2,), 3, 2, np.int32), "a 3"),
    (lambda g: g.uniform_int((2,), 0, 300, np.uint8), "outside"), (lambda g: g.set_state(b"\0" * 39), "40"),
    (lambda g: g.set_state(b"\0" * 40), "state")])
def test_bad_arguments_are_invalid_and_leave_the_stream_alone(call, phrase):
    g, twin = rk.RandomGenerator(rk.AES_CTR, 3), rk.RandomGenerator(rk.AES_CTR, 3)
    with pytest.raises(InvalidArgumentError, match=phrase):
        call(g)
    np.testing.assert_array_equal(g.uniform((4,), 0, 1), twin.uniform((4,), 0, 1))


def test_unknown_method_is_refused():
    with pytest.raises(InvalidArgumentError, match="AES_CTR"):
        rk.RandomGenerator(1, 0)


def _categorical_loop(p: np.ndarray, u: np.ndarray, log: bool) -> np.ndarray:
    """The inverse CDF, one draw at a time: the first event whose cumulative probability exceeds u."""
    out = np.zeros(u.shape, np.int64)
    for row in np.ndindex(p.shape[:-1]):
        weights = np.exp(p[row] - p[row].max()) if log else p[row].astype(np.float64)
        cdf = np.cumsum(weights / weights.sum())
        cdf[-1] = 1.0
        for j in range(u.shape[-1]):
            out[row + (j,)] = min(int(np.sum(cdf <= u[row + (j,)])), len(cdf) - 1)
    return out


@pytest.mark.parametrize("log", [False, True])
def test_categorical_is_the_inverse_cdf_of_the_streams_uniforms(log):
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, (2, 3, 5)) if not log else rng.normal(0, 2, (2, 3, 5))
    if not log:
        p[0, 1, 2] = 0.0                                   # an impossible event is never drawn
    draws = rk.RandomGenerator(seed=11).categorical(p, (2, 3, 400), log, np.int32)
    uniforms = np.random.default_rng(11).random((2, 3, 400))
    np.testing.assert_array_equal(draws, _categorical_loop(p, uniforms, log))
    assert draws.dtype == np.int32 and (log or not (draws[0, 1] == 2).any())


def test_categorical_frequencies_follow_the_probabilities_unnormalized():
    draws = rk.RandomGenerator(seed=2).categorical(np.array([[2.0, 6.0, 0.0, 2.0]]), (1, 20000), False, np.int64)
    np.testing.assert_allclose(np.bincount(draws[0], minlength=4) / 20000, [0.2, 0.6, 0.0, 0.2], atol=0.015)


@pytest.mark.parametrize("p, shape, log, phrase", [
    (np.array([[0.5, -0.1]]), (1, 3), False, "non-negative"),
    (np.array([[0.0, 0.0]]), (1, 3), False, "positive sum"),
    (np.array([[-np.inf, -np.inf]]), (1, 3), True, "above -inf"),
    (np.array([[0.5, 0.5]]), (2, 3), False, "same leading axes"),
    (np.full((1, 300), 1.0), (1, 2), False, "do not fit"),
])
def test_bad_categorical_arguments_are_invalid_and_leave_the_stream_alone(p, shape, log, phrase):
    generator = rk.RandomGenerator(seed=4)
    with pytest.raises(InvalidArgumentError, match=phrase):
        generator.categorical(p, shape, log, np.int8)
    np.testing.assert_array_equal(generator.uniform((3,), 0, 1), rk.RandomGenerator(seed=4).uniform((3,), 0, 1))
