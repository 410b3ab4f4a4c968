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
