"""Clipping and norm utilities (kernels/clipping.py): Apple's documented ClipByNorm example,
loops for every function, ComputeNorm's backward against central differences, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnns.kernels import clipping as cl
from bnns.kernels.errors import InvalidArgumentError
from tests.numeric import assert_gradient_matches, projection


def test_clip_by_norm_reproduces_apples_example():
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)          # RowMajorMatrix size (3, 3)
    y = cl.clip_by_norm(x, 10, 0b0010)
    np.testing.assert_allclose(y, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [5.0257072, 5.743665, 6.461623]], rtol=1e-6)


def test_clip_by_value_matches_loop():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (4, 5))
    y = cl.clip_by_value(x, -1.0, 2.0)
    for idx in np.ndindex(*x.shape):
        assert y[idx] == (-1.0 if x[idx] < -1 else 2.0 if x[idx] > 2 else x[idx])


@pytest.mark.parametrize("flags, axes", [(0, (0, 1, 2)), (0b001, (0,)), (0b110, (1, 2))])
def test_clip_by_norm_matches_loop_over_slices(flags, axes):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4)) * 2
    y = cl.clip_by_norm(x, 1.5, flags)
    kept = [a for a in range(3) if a not in axes]
    for index in np.ndindex(*[x.shape[a] for a in kept]):
        sl = [slice(None)] * 3
        for a, i in zip(kept, index):
            sl[a] = i
        block = x[tuple(sl)]
        norm = math.sqrt(float(np.sum(block ** 2)))
        expected = block * (1.5 / norm) if norm > 1.5 else block
        np.testing.assert_allclose(y[tuple(sl)], expected, rtol=1e-12)


def test_clip_by_global_norm_scales_every_tensor_by_one_factor():
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    g = math.sqrt(sum(float(np.sum(a ** 2)) for a in xs))
    ys = cl.clip_by_global_norm(xs, g / 2)
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(y, x * 0.5, rtol=1e-12)
    ys = cl.clip_by_global_norm(xs, 1.0, use_norm=4.0)          # the given norm wins
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(y, x / 4, rtol=1e-12)
    ys = cl.clip_by_global_norm(xs, 2 * g)                       # under the limit: unchanged
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(y, x, rtol=1e-12)


@pytest.mark.parametrize("flags, out_shape", [(0, (1,)), (0b010, (2, 4)), (0b101, (3,))])
def test_compute_norm_matches_loop_and_backward_matches_finite_differences(flags, out_shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    y = cl.compute_norm(x, cl.L2_NORM, flags)
    assert y.shape == out_shape
    axes = cl.axes_from_flags(flags, 3)
    kept = [a for a in range(3) if a not in axes]
    for index in np.ndindex(*[x.shape[a] for a in kept]):
        total = 0.0
        for full in np.ndindex(*x.shape):
            if all(full[a] == i for a, i in zip(kept, index)):
                total += float(x[full] ** 2)
        assert y[index if kept else (0,)] == pytest.approx(math.sqrt(total), rel=1e-12)
    proj = projection(rng, out_shape)
    d_x = cl.compute_norm_backward(x, y, proj, cl.L2_NORM, flags)
    assert_gradient_matches(d_x, lambda v: float(np.sum(proj * cl.compute_norm(v, cl.L2_NORM, flags))), x)


def test_compute_norm_backward_is_zero_where_the_norm_is_zero():
    x = np.zeros((2, 3))
    x[1] = [3.0, 4.0, 0.0]
    y = cl.compute_norm(x, cl.L2_NORM, 0b10)
    d = cl.compute_norm_backward(x, y, np.ones(2), cl.L2_NORM, 0b10)
    np.testing.assert_allclose(d, [[0.0, 0.0, 0.0], [0.6, 0.8, 0.0]])


def test_errors_name_the_argument():
    x = np.ones((2, 3))
    with pytest.raises(InvalidArgumentError, match="min_val 2.0 must be <= max_val 1.0"):
        cl.clip_by_value(x, 2.0, 1.0)
    with pytest.raises(InvalidArgumentError, match="max_norm -1.0 must be >= 0"):
        cl.clip_by_norm(x, -1.0)
    with pytest.raises(InvalidArgumentError, match=r"axis_flags 0b100 selects axes beyond the tensor's 2"):
        cl.clip_by_norm(x, 1.0, 0b100)
    with pytest.raises(InvalidArgumentError, match="norm_type 2 is not supported"):
        cl.compute_norm(x, 2)
    with pytest.raises(InvalidArgumentError, match=r"out has shape \(3,\); expected \(2,\)"):
        cl.compute_norm_backward(x, np.ones(3), np.ones(3), cl.L2_NORM, 0b10)
    with pytest.raises(InvalidArgumentError, match="srcs is empty"):
        cl.clip_by_global_norm([], 1.0)
