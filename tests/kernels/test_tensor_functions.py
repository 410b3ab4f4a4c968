"""The kernels of the filter-less tensor functions (kernels/tile.py, bandpart.py, shuffle.py,
compare.py, topk.py): each against a loop written from the formula, gradients by central
differences, and the error inputs."""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import pytest

from bnns.kernels import bandpart, compare, shuffle, tile, topk
from bnns.kernels.errors import InvalidArgumentError
from tests.numeric import assert_gradient_matches, projection


# ------------------------------------------------------------------------------------ tile
def test_tile_matches_the_modulo_loop():
    x = np.random.default_rng(0).standard_normal((2, 3, 1))
    y = tile.tile(x, (4, 6, 3))
    for i, j, k in np.ndindex(*y.shape):
        assert y[i, j, k] == x[i % 2, j % 3, k % 1]


def test_tile_backward_is_the_gradient_of_tile():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3))
    w = projection(rng, (4, 9))
    assert_gradient_matches(tile.tile_backward(w, x.shape), lambda v: float(np.sum(w * tile.tile(v, (4, 9)))), x)


@pytest.mark.parametrize("out_shape", [(3, 3), (4,), (4, 6, 1)])
def test_tile_refuses_shapes_that_are_not_multiples(out_shape):
    with pytest.raises(InvalidArgumentError, match="output|rank"):
        tile.tile(np.zeros((2, 3)), out_shape)


# ------------------------------------------------------------------------------- band part
@pytest.mark.parametrize("lower, upper", [(0, 0), (1, -1), (-1, 0), (2, 1), (-1, -1)])
def test_band_part_matches_the_indicator_loop(lower, upper):
    x = np.random.default_rng(2).standard_normal((2, 4, 5))
    y = bandpart.band_part(x, lower, upper)
    for b, m, n in np.ndindex(*x.shape):
        keep = (lower < 0 or m - n <= lower) and (upper < 0 or n - m <= upper)
        assert y[b, m, n] == (x[b, m, n] if keep else 0)


def test_band_part_gradient_is_band_part_of_the_gradient():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 3)), projection(rng, (3, 3))
    assert_gradient_matches(bandpart.band_part(w, 1, 0), lambda v: float(np.sum(w * bandpart.band_part(v, 1, 0))), x)


def test_band_part_refuses_a_vector():
    with pytest.raises(InvalidArgumentError, match="matrix"):
        bandpart.band_part(np.zeros(4), 0, 0)


# --------------------------------------------------------------------------------- shuffle
@pytest.mark.parametrize("kind", [shuffle.PIXEL_SHUFFLE_NCHW, shuffle.DEPTH_TO_SPACE_NCHW])
def test_pixel_shuffle_matches_the_crd_formula(kind):
    r = 3
    x = np.random.default_rng(4).standard_normal((2, 2 * r * r, 2, 3))
    y = shuffle.shuffle(x, kind, (2, 2, 2 * r, 3 * r))
    for n, c, h, w, i, j in itertools.product(range(2), range(2), range(2), range(3), range(r), range(r)):
        assert y[n, c, h * r + i, w * r + j] == x[n, c * r * r + i * r + j, h, w]


@pytest.mark.parametrize("kind", [shuffle.PIXEL_UNSHUFFLE_NCHW, shuffle.SPACE_TO_DEPTH_NCHW])
def test_unshuffle_inverts_the_shuffle_on_one_image(kind):
    x = np.random.default_rng(5).standard_normal((8, 3, 2))              # (C, H, W): ImageCHW
    y = shuffle.shuffle(x, shuffle.PIXEL_SHUFFLE_NCHW, (2, 6, 4))
    np.testing.assert_array_equal(shuffle.shuffle(y, kind, x.shape), x)


@pytest.mark.parametrize("kind, out_shape, phrase", [(0, (3, 4, 4), "whole factor"), (9, (2, 4, 4), "ShuffleType"),
                                                     (0, (2, 4, 4, 1), "rank")])
def test_shuffle_refuses_shapes_without_a_factor(kind, out_shape, phrase):
    with pytest.raises(InvalidArgumentError, match=phrase):
        shuffle.shuffle(np.zeros((8, 2, 2)), kind, out_shape)


# --------------------------------------------------------------------------------- compare
_OPS = {0: lambda a, b: a == b, 1: lambda a, b: a < b, 2: lambda a, b: a <= b, 3: lambda a, b: a > b,
        4: lambda a, b: a >= b, 5: lambda a, b: a != b, 6: lambda a, b: bool(a) and bool(b),
        7: lambda a, b: bool(a) or bool(b), 8: lambda a, b: not a, 9: lambda a, b: not (a and b),
        10: lambda a, b: not (a or b), 11: lambda a, b: bool(a) != bool(b)}


@pytest.mark.parametrize("op", sorted(_OPS))
def test_every_relational_operator_matches_python(op):
    a = np.array([0, 1, 2, 2, -1, 0.5], np.float32)
    b = np.array([0, 2, 1, 2, 0, 0], np.float32)
    out = compare.compare(a, b, op)
    assert out.dtype == bool
    assert out.tolist() == [bool(_OPS[op](float(p), float(q))) for p, q in zip(a, b)]


def test_compare_refuses_other_shapes_and_unknown_operators():
    with pytest.raises(InvalidArgumentError, match="broadcasting"):
        compare.compare(np.zeros(3), np.zeros(4), 0)
    with pytest.raises(InvalidArgumentError, match="RelationalOperator"):
        compare.compare(np.zeros(3), np.zeros(3), 12)


# ------------------------------------------------------------------------------------ top-k
def test_top_k_matches_sorting_each_slice():
    x = np.random.default_rng(6).standard_normal((3, 4, 5))
    values, indices = topk.top_k(x, 2, 1)                 # item axis 1 = array axis 2
    for n, i in np.ndindex(3, 4):
        order = sorted(range(5), key=lambda j: (-x[n, i, j], j))[:2]
        assert indices[n, i].tolist() == order
        assert values[n, i].tolist() == [x[n, i, j] for j in order]


def test_top_k_keeps_the_lower_index_first_among_ties():
    values, indices = topk.top_k(np.array([[1.0, 3.0, 3.0, 2.0]]), 3, 0)
    assert indices.tolist() == [[1, 2, 3]] and values.tolist() == [[3, 3, 2]]


def test_in_top_k_counts_strictly_larger_entries():
    x = np.array([[5.0, 3.0, 3.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    got = topk.in_top_k(x, np.array([2, 1]), 2, 0)
    # row 0: one entry (5) is larger than 3 -> in the top 2 (tie with index 1); row 1: two are larger than 1
    assert got.tolist() == [True, False]


@pytest.mark.parametrize("k, axis, phrase", [(0, 0, "K"), (6, 0, "larger"), (1, 1, "axis")])
def test_top_k_refuses_bad_k_and_axis(k, axis, phrase):
    with pytest.raises(InvalidArgumentError, match=phrase):
        topk.top_k(np.zeros((2, 5)), k, axis)


def test_in_top_k_refuses_out_of_range_test_indices():
    with pytest.raises(InvalidArgumentError, match="test_indices"):
        topk.in_top_k(np.zeros((1, 4)), np.array([4]), 1, 0)


# ---------------------------------------------------------------------------- gather / scatter
from bnns.kernels import gather as gk          # noqa: E402
from bnns.kernels.reduction import MAX, MIN, NONE, PRODUCT, SUM   # noqa: E402


def test_gather_element_mode_matches_the_torch_formula():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5))
    idx = rng.integers(0, 4, (2, 3, 5))
    y = gk.gather(x, idx, 1, idx.shape)
    for i, j, k in np.ndindex(*idx.shape):
        assert y[i, j, k] == x[i, idx[i, j, k], k]


def test_gather_slice_mode_matches_the_tf_formula():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4))
    idx = rng.integers(0, 4, (2, 2))
    y = gk.gather(x, idx, 1, (3, 2, 2))
    for a, i, j in np.ndindex(3, 2, 2):
        assert y[a, i, j] == x[a, idx[i, j]]


@pytest.mark.parametrize("op", [NONE, SUM, MAX, MIN, PRODUCT])
def test_scatter_combines_with_the_existing_output_in_c_order(op):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3))
    idx = np.array([[0, 2, 0], [1, 0, 0]])            # repeats along axis 0 of a (3, 3) output
    y0 = rng.standard_normal((3, 3))
    got = gk.scatter(x, idx, y0, 0, op)
    expected = y0.copy()
    combines: dict[int, Callable] = {NONE: lambda old, new: new, SUM: lambda o, n: o + n, MAX: max, MIN: min,
                                     PRODUCT: lambda o, n: o * n}
    combine = combines[op]
    for i, j in np.ndindex(*idx.shape):
        expected[idx[i, j], j] = combine(expected[idx[i, j], j], x[i, j])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_gather_nd_and_scatter_nd_follow_the_index_vectors():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 4, 2))
    idx = np.array([[[0, 1], [2, 3]], [[1, 1], [0, 0]]])   # (2, 2, K=2) -> output (2, 2, 2)
    y = gk.gather_nd(x, idx)
    for p, q in np.ndindex(2, 2):
        np.testing.assert_array_equal(y[p, q], x[idx[p, q, 0], idx[p, q, 1]])
    out = gk.scatter_nd(np.ones((2, 2, 2)), idx, np.zeros((3, 4, 2)), SUM)
    expected = np.zeros((3, 4, 2))
    for p, q in np.ndindex(2, 2):
        expected[idx[p, q, 0], idx[p, q, 1]] += 1
    np.testing.assert_array_equal(out, expected)


def test_gather_gradient_is_a_sum_scatter():
    rng = np.random.default_rng(11)
    x, idx = rng.standard_normal((4, 3)), np.array([3, 0, 3])
    w = projection(rng, (3, 3))
    grad = gk.scatter(w, idx, np.zeros_like(x), 0, SUM)
    assert_gradient_matches(grad, lambda v: float(np.sum(w * gk.gather(v, idx, 0, (3, 3)))), x)


@pytest.mark.parametrize("call, phrase", [
    (lambda: gk.gather(np.zeros((2, 3)), np.array([3]), 1, (2, 1)), "valid positions"),
    (lambda: gk.gather(np.zeros((2, 3)), np.array([-1]), 1, (2, 1)), "valid positions"),
    (lambda: gk.gather(np.zeros((2, 3)), np.array([0.0]), 1, (2, 1)), "integers"),
    (lambda: gk.gather(np.zeros((2, 3)), np.array([0]), 1, (5, 5)), "neither"),
    (lambda: gk.scatter(np.zeros(2), np.array([0, 1]), np.zeros(3), 0, 4), "scatter reduction"),
    (lambda: gk.gather_nd(np.zeros((2, 3)), np.array([[0, 3]])), "positions|extent"),
    (lambda: gk.scatter_nd(np.zeros(3), np.array([[0, 1]]), np.zeros((2, 2)), SUM), "need")])
def test_gather_and_scatter_errors(call, phrase):
    with pytest.raises(InvalidArgumentError, match=phrase):
        call()
