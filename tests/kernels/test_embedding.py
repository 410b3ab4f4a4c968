"""Embedding filter (kernels/embedding.py): Apple's documented example, forward against a loop,
backward (scatter-add) against a loop and central differences, padding_idx, gradient scaling by
frequency, max_norm renormalisation, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels import embedding as em
from bnns.kernels import layout as L
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import EmbeddingParameters
from tests.numeric import assert_gradient_matches, projection

ROWS, DIM = 7, 5


def make(table, index_shape=(3,), padding_idx=None, max_norm=0.0, norm_type=2.0, flags=0, out_size=None,
         index_type=L.DTYPE_INT32):
    """Natural layouts: dictionary view (ROWS, DIM) = size (DIM, ROWS), output view (*I, DIM)."""
    index_layout = {1: L.LAYOUT_VECTOR, 2: L.LAYOUT_2D_LAST_MAJOR}[len(index_shape)]
    i_desc = L.Descriptor.for_shape(index_layout, index_shape, data_type=index_type)
    out_shape = tuple(index_shape) + (DIM,)
    o_layout = {2: L.LAYOUT_2D_LAST_MAJOR, 3: L.LAYOUT_3D_LAST_MAJOR}[len(out_shape)]
    o_desc = L.Descriptor(o_layout, out_size or tuple(reversed(out_shape)))
    dictionary = L.Descriptor.for_shape(L.LAYOUT_COLUMN_MAJOR_MATRIX, table.shape, table)
    return em.EmbeddingFilter(EmbeddingParameters(i_desc=i_desc, o_desc=o_desc, dictionary=dictionary, flags=flags, padding_idx=padding_idx,
                                                  max_norm=max_norm, norm_type=norm_type))


def table(rng):
    return rng.standard_normal((ROWS, DIM)).astype(np.float32)


def test_apple_example_three_lookups():
    values = np.arange(1, ROWS * DIM + 1, dtype=np.float32).reshape(ROWS, DIM)   # item r = 5r+1 .. 5r+5
    y = make(values).apply(np.array([[1, 5, 2]], np.int8))
    np.testing.assert_array_equal(y[0], values[[1, 5, 2]])


def naive_scatter(idx, d_out, rows):
    grad = np.zeros((rows, d_out.shape[-1]))
    for pos in np.ndindex(*idx.shape):
        grad[idx[pos]] += d_out[pos]
    return grad


@pytest.mark.parametrize("index_shape", [(3,), (2, 4)], ids=["vector", "matrix"])
def test_forward_and_backward_match_loops_and_finite_differences(index_shape):
    rng = np.random.default_rng(0)
    t = table(rng)
    filt = make(t, index_shape)
    idx = rng.integers(0, ROWS, (2,) + index_shape)
    y = filt.apply(idx)
    for pos in np.ndindex(*idx.shape):
        np.testing.assert_array_equal(y[pos], t[idx[pos]])
    proj = projection(rng, y.shape)
    d_in, d_dict, d_b = filt.apply_backward(idx, None, proj)
    assert d_in is None and d_b is None
    np.testing.assert_allclose(d_dict, naive_scatter(idx, proj, ROWS), rtol=1e-12)
    assert_gradient_matches(d_dict, lambda v: float(np.sum(proj * em.lookup(v, idx))), t.astype(np.float64))


def test_padding_index_outputs_its_row_but_gets_no_gradient():
    rng = np.random.default_rng(1)
    t = table(rng)
    filt = make(t, padding_idx=2)
    idx = np.array([[2, 0, 2]])
    np.testing.assert_array_equal(filt.apply(idx)[0, 0], t[2])
    _, grad, _ = filt.apply_backward(idx, None, np.ones((1, 3, DIM)))
    np.testing.assert_array_equal(grad[2], 0)
    np.testing.assert_array_equal(grad[0], 1)


def test_out_of_range_padding_index_means_none():
    filt = make(table(np.random.default_rng(2)), padding_idx=ROWS)
    assert filt.padding_idx is None


def test_scale_gradient_by_frequency_divides_by_batch_counts():
    filt = make(table(np.random.default_rng(3)), flags=em.SCALE_GRADIENT_BY_FREQUENCY)
    idx = np.array([[1, 1, 3], [1, 4, 4]])
    _, grad, _ = filt.apply_backward(idx, None, np.ones((2, 3, DIM)))
    np.testing.assert_allclose(grad[[1, 3, 4, 0]], np.repeat([[1.0], [1.0], [1.0], [0.0]], DIM, axis=1))


def test_max_norm_renormalises_referenced_rows_in_place():
    rng = np.random.default_rng(4)
    t = table(rng) * 3
    filt = make(t, max_norm=1.0, norm_type=2.0)
    y = filt.apply(np.array([[0, 1, 0]]))
    live = filt.parameters()["dictionary"]
    for r in (0, 1):
        norm = np.linalg.norm(t[r].astype(np.float64))
        np.testing.assert_allclose(live[r], t[r] * (1.0 / (norm + em.RENORM_EPSILON)), rtol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(y[0, r]), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(live[2:], t[2:])      # rows not referenced are untouched


def test_dictionary_is_live():
    filt = make(np.zeros((ROWS, DIM), np.float32))
    filt.parameters()["dictionary"][3] = 7.0
    np.testing.assert_array_equal(filt.apply(np.array([[3, 3, 3]])), np.full((1, 3, DIM), 7.0))


ERRORS = [
    pytest.param(dict(out_size=(DIM, 4)), r"o_desc.size \(5, 4\) must be \(embedding_dim, \*i_desc.size\) = \(5, 3\)",
                 id="output_size"),
    pytest.param(dict(flags=4), "flags 0x4 has unknown bits", id="flags"),
    pytest.param(dict(max_norm=-1.0), "max_norm -1.0 must be >= 0", id="max_norm"),
    pytest.param(dict(max_norm=1.0, norm_type=0.0), "norm_type 0.0 must be > 0", id="norm_type"),
    pytest.param(dict(index_type=L.DTYPE_FLOAT32), "i_desc.data_type 0x10020 is not supported", id="float_indices"),
]


@pytest.mark.parametrize("kwargs, message", ERRORS)
def test_invalid_parameters_raise_invalid_argument(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make(table(np.random.default_rng(5)), **kwargs)


def test_invalid_indices_and_requests_raise_invalid_argument():
    filt = make(table(np.random.default_rng(6)))
    with pytest.raises(InvalidArgumentError, match=r"indices has value 7, outside \[0, 7\)"):
        filt.apply(np.array([[0, 7, 1]]))
    with pytest.raises(InvalidArgumentError, match=r"indices has value -1"):
        filt.apply(np.array([[0, -1, 1]]))
    with pytest.raises(InvalidArgumentError, match="indices hold float64; expected integers"):
        filt.apply(np.zeros((1, 3)))
    with pytest.raises(InvalidArgumentError, match="indices of an embedding have no gradient"):
        filt.apply_backward(np.zeros((1, 3), int), None, np.ones((1, 3, DIM)), input_grad=True)
    with pytest.raises(InvalidArgumentError, match="dictionary has rank 1"):
        em.EmbeddingFilter(EmbeddingParameters(
            i_desc=L.Descriptor.for_shape(L.LAYOUT_VECTOR, (3,), data_type=L.DTYPE_INT32),
            o_desc=L.Descriptor(L.LAYOUT_2D_LAST_MAJOR, (DIM, 3)),
            dictionary=L.Descriptor.for_shape(L.LAYOUT_VECTOR, (DIM,), np.ones(DIM))))


@pytest.mark.parametrize("draw", ["all_distinct", "all_the_same", "mixed"])
def test_scatter_add_equals_add_at_for_any_grouping(draw):
    """lookup_backward copies rows hit once and sums rows hit more often: the same numbers as
    np.add.at (float64 here, so the summation order cannot hide a difference of values)."""
    rng = np.random.default_rng(3)
    idx = {"all_distinct": rng.permutation(40)[:25], "all_the_same": np.full(25, 7),
           "mixed": rng.integers(0, 9, 25)}[draw].reshape(5, 5)
    d = rng.standard_normal((5, 5, 3))
    expected = np.zeros((40, 3))
    np.add.at(expected, idx.reshape(-1), d.reshape(-1, 3))
    np.testing.assert_allclose(em.lookup_backward(idx, d, 40), expected, rtol=1e-12, atol=1e-12)
