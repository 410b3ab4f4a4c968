"""The kernels of the filter-less tensor functions (kernels/tile.py, bandpart.py, shuffle.py,
compare.py, topk.py): each against a loop written from the formula, gradients by central
differences, and the error inputs."""

from __future__ import annotations

import itertools

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
