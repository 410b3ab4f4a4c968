"""Padding filter (kernels/padding.py): every mode against an element loop that maps each output
index to its source, backward (the adjoint) against central differences, the padding_value bit
pattern, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels import layout as L
from bnns.kernels import padding as pd
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import PaddingParameters
from tests.numeric import assert_gradient_matches, projection

SIZE = (4, 3, 2)                    # ImageCHW (W, H, C): view (2, 3, 4)
PADS = ((2, 1), (0, 2), (1, 0))     # per BNNS dimension: W, H, C
ONE = 0x3F800000                    # float32 1.0


def out_size(pads=PADS):
    return tuple(s + b + a for s, (b, a) in zip(SIZE, pads))


def make(mode, pads=PADS, value=0, out=None):
    return pd.PaddingFilter(PaddingParameters(
        i_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, SIZE), o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, out or out_size(pads)),
        padding_size=sum(pads + ((0, 0),) * 5, ()), padding_mode=mode, padding_value=value))


def source(i, size, before, mode):
    """Input index feeding output index i of one dimension, or None for a constant pad."""
    j = i - before
    if 0 <= j < size:
        return j
    if mode == pd.CONSTANT:
        return None
    if mode == pd.REFLECT:
        return -j if j < 0 else 2 * (size - 1) - j
    return -j - 1 if j < 0 else 2 * size - 1 - j


def naive(x, mode, value):
    osz = out_size()
    y = np.zeros((x.shape[0],) + tuple(reversed(osz)))
    for n in range(x.shape[0]):
        for pos in np.ndindex(*osz):                      # BNNS dims (w, h, c)
            src = [source(pos[d], SIZE[d], PADS[d][0], mode) for d in range(3)]
            index = (n,) + tuple(reversed(pos))
            y[index] = value if None in src else x[(n,) + tuple(reversed(src))]
    return y


@pytest.mark.parametrize("mode", [pd.CONSTANT, pd.REFLECT, pd.SYMMETRIC], ids=["constant", "reflect", "symmetric"])
def test_forward_matches_index_loop_and_backward_matches_finite_differences(mode):
    rng = np.random.default_rng(mode)
    filt = make(mode, value=ONE)
    x = rng.standard_normal((2,) + tuple(reversed(SIZE)))
    y = filt.apply(x)
    np.testing.assert_array_equal(y, naive(x, mode, 1.0))
    proj = projection(rng, y.shape)
    d_in, d_w, d_b = filt.apply_backward(None, None, proj)
    assert d_w is None and d_b is None
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * filt.apply(v))), x)


def test_padding_value_is_a_float32_bit_pattern():
    y = make(pd.CONSTANT, value=0xC0490FDB).apply(np.zeros((1, 2, 3, 4), np.float32))   # -3.1415927
    assert y[0, 0, 0, 0] == np.float32(-3.1415927)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode=3), "padding_mode 3 is not a BNNSPaddingMode"),
    (dict(mode=pd.CONSTANT, out=(7, 5, 4)), r"o_desc.size \(7, 5, 4\) must be i_desc.size \(4, 3, 2\) plus"),
    (dict(mode=pd.REFLECT, pads=((4, 0), (0, 0), (0, 0))),
     r"padding_size\[0\] \(4, 0\) is too wide for Reflect padding of a dimension of size 4 \(at most 3\)"),
    (dict(mode=pd.SYMMETRIC, pads=((0, 0), (0, 4), (0, 0))), r"too wide for Symmetric .* size 3 \(at most 3\)"),
    (dict(mode=pd.CONSTANT, pads=((-1, 0), (0, 0), (0, 0))), r"padding_size\[0\]\[0\] -1 must be >= 0"),
    (dict(mode=pd.CONSTANT, value=-1), "padding_value -1 must be >= 0"),
], ids=["mode", "output_size", "reflect_too_wide", "symmetric_too_wide", "negative", "value"])
def test_invalid_parameters_raise_invalid_argument(kwargs, message):
    mode = kwargs.pop("mode")
    pads = kwargs.pop("pads", PADS)
    with pytest.raises(InvalidArgumentError, match=message):
        make(mode, pads, **kwargs)


def test_symmetric_may_pad_by_the_full_size_and_reflect_by_one_less():
    make(pd.SYMMETRIC, ((4, 4), (3, 3), (2, 2)))
    make(pd.REFLECT, ((3, 3), (2, 2), (1, 1)))
