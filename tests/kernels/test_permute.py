"""Permute, Transpose and Copy (kernels/permute.py): forward against BNNS's address formulas
element by element, backward against central differences, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels import layout as L
from bnns.kernels import permute as pm
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import PermuteParameters
from tests.numeric import assert_gradient_matches, projection

BATCH = 2
LAST3, FIRST3 = L.LAYOUT_3D_LAST_MAJOR, L.LAYOUT_3D_FIRST_MAJOR


def bnns_get(x_item, desc, dims):
    """Element of a logical NumPy item at BNNS dimension indices dims (dims[k] indexes size[k])."""
    if desc.layout in L.FIRST_MAJOR_LAYOUTS:
        return x_item[tuple(dims)]
    return x_item[tuple(reversed(dims))]


def naive_permute(x, i_desc, o_desc, perm):
    """out(dims) = in(dims') with dims'[perm[k]] = dims[k], one element at a time."""
    out = np.zeros((x.shape[0],) + o_desc.shape)
    rank = i_desc.rank
    o_size = tuple(o_desc.size[:rank])
    for n in range(x.shape[0]):
        for dims in np.ndindex(*o_size):
            src = [0] * rank
            for k in range(rank):
                src[perm[k]] = dims[k]
            value = bnns_get(x[n], i_desc, src)
            index = tuple(dims) if o_desc.layout in L.FIRST_MAJOR_LAYOUTS else tuple(reversed(dims))
            out[(n,) + index] = value
    return out


def size_desc(layout, size):
    return L.Descriptor(layout=layout, size=tuple(size))


PERMUTE_CASES = [
    pytest.param(LAST3, (2, 3, 4), (1, 2, 0), LAST3, id="last_major_rotate"),
    pytest.param(L.LAYOUT_IMAGE_CHW, (5, 4, 3), (2, 0, 1), LAST3, id="chw_to_hwc"),
    pytest.param(FIRST3, (2, 3, 4), (2, 1, 0), FIRST3, id="first_major_reverse"),
    pytest.param(LAST3, (2, 3, 4), (0, 2, 1), FIRST3, id="last_to_first_major"),
    pytest.param(0x48000, (2, 3, 1, 2), (3, 0, 2, 1, 0, 0, 0, 0), 0x48000, id="rank4_with_8_entries"),
    pytest.param(LAST3, (2, 3, 4), (2, 0, 1, 7, 9, 9, 9, 9), LAST3, id="entries_beyond_rank_not_read"),
]


@pytest.mark.parametrize("in_layout, in_size, perm, out_layout", PERMUTE_CASES)
def test_permute_forward_matches_addresses_and_backward_finite_differences(in_layout, in_size, perm, out_layout):
    rng = np.random.default_rng(0)
    rank = len(in_size)
    i_desc = size_desc(in_layout, in_size)
    o_desc = size_desc(out_layout, [in_size[perm[k]] for k in range(rank)])
    filt = pm.PermuteFilter(PermuteParameters(i_desc=i_desc, o_desc=o_desc, permutation=perm))
    x = rng.standard_normal((BATCH,) + i_desc.shape)
    np.testing.assert_array_equal(filt.apply(x), naive_permute(x, i_desc, o_desc, perm[:rank]))
    proj = projection(rng, (BATCH,) + o_desc.shape)
    d_in, d_w, d_b = filt.apply_backward(None, None, proj)
    assert d_w is None and d_b is None
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * filt.apply(v))), x)


def test_transpose_swaps_two_bnns_dimensions():
    rng = np.random.default_rng(1)
    i_desc = size_desc(L.LAYOUT_IMAGE_CHW, (5, 4, 3))          # (W, H, C)
    o_desc = size_desc(L.LAYOUT_IMAGE_CHW, (3, 4, 5))          # W and C swapped
    filt = pm.TransposeFilter(i_desc, o_desc, axis0=0, axis1=2)
    x = rng.standard_normal((BATCH,) + i_desc.shape)
    np.testing.assert_array_equal(filt.apply(x), naive_permute(x, i_desc, o_desc, (2, 1, 0)))
    np.testing.assert_array_equal(pm.transpose(x[0], i_desc, 0, 2), filt.apply(x)[0])
    proj = projection(rng, (BATCH,) + o_desc.shape)
    assert_gradient_matches(filt.apply_backward(None, None, proj)[0],
                            lambda v: float(np.sum(proj * filt.apply(v))), x)


def test_copy_between_layouts_keeps_logical_elements():
    rng = np.random.default_rng(2)
    i_desc = size_desc(LAST3, (2, 3, 4))                        # logical (4, 3, 2)
    o_desc = size_desc(FIRST3, (4, 3, 2))                       # logical (4, 3, 2)
    filt = pm.CopyFilter(i_desc, o_desc)
    x = rng.standard_normal((BATCH,) + i_desc.shape)
    y = filt.apply(x)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    d_out = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(filt.apply_backward(None, None, d_out)[0], d_out)


PERMUTE_ERRORS = [
    pytest.param((2, 3, 4), (0, 0, 1), (2, 2, 3), "are not a permutation of 0..2", id="repeated"),
    pytest.param((2, 3, 4), (0, 1), (2, 3, 4), r"must have between 3 \(the rank\)", id="too_short"),
    pytest.param((2, 3, 4), (1, 0, 2), (2, 3, 4), r"o_desc.size \(2, 3, 4\) does not match .* expected \(3, 2, 4\)",
                 id="sizes"),
    pytest.param((2, 3, 4), (0, 1, -1), (2, 3, 4), r"permutation\[2\] -1 must be >= 0", id="negative"),
]


@pytest.mark.parametrize("in_size, perm, out_size, message", PERMUTE_ERRORS)
def test_permute_invalid_parameters_raise_invalid_argument(in_size, perm, out_size, message):
    with pytest.raises(InvalidArgumentError, match=message):
        pm.PermuteFilter(PermuteParameters(i_desc=size_desc(LAST3, in_size), o_desc=size_desc(LAST3, out_size), permutation=perm))


def test_other_errors_name_the_argument():
    d3 = size_desc(LAST3, (2, 3, 4))
    with pytest.raises(InvalidArgumentError, match="o_desc has rank 2 .* permute keeps the rank"):
        pm.PermuteFilter(PermuteParameters(i_desc=d3, o_desc=size_desc(L.LAYOUT_2D_LAST_MAJOR, (2, 12)), permutation=(0, 1, 2)))
    with pytest.raises(InvalidArgumentError, match="axis1 3 must be <= 2"):
        pm.TransposeFilter(d3, d3, 0, 3)
    with pytest.raises(InvalidArgumentError, match=r"a copy keeps the logical shape"):
        pm.CopyFilter(d3, size_desc(LAST3, (4, 3, 2)))
    filt = pm.PermuteFilter(PermuteParameters(i_desc=d3, o_desc=d3, permutation=(0, 1, 2)))
    with pytest.raises(InvalidArgumentError, match=r"d_out has shape \(2, 3, 4\); expected \(N, \*\(4, 3, 2\)\)"):
        filt.apply_backward(None, None, np.ones((2, 3, 4)))
    with pytest.raises(InvalidArgumentError, match="weights_delta was asked but a permute filter"):
        filt.apply_backward(None, None, np.ones((1, 4, 3, 2)), weights_grad=True)
