"""Resize filter (kernels/resize.py): nearest and linear, with and without align_corners, against
a scalar loop of the documented coordinate rules, cross-checked against PyTorch's interpolate
numbers written out for one case; backward against central differences; errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnns.kernels import layout as L
from bnns.kernels import resize as rs
from bnns.kernels.errors import InvalidArgumentError
from tests.numeric import assert_gradient_matches, projection


def make(method, in_size, out_size, align=False):
    return rs.ResizeFilter(rs.ResizeParams(method, L.Descriptor(L.LAYOUT_IMAGE_CHW, in_size),
                                           L.Descriptor(L.LAYOUT_IMAGE_CHW, out_size), align))


def coordinate(o, n_in, n_out, method, align):
    if align:
        return o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    if method == rs.LINEAR:
        return max((o + 0.5) * n_in / n_out - 0.5, 0.0)
    return o * n_in / n_out


def weights_1d(o, n_in, n_out, method, align):
    """[(input index, weight)] for output index o of one dimension."""
    if n_in == n_out:
        return [(o, 1.0)]
    s = coordinate(o, n_in, n_out, method, align)
    if method == rs.NEAREST:
        return [(min(int(math.floor(s + 0.5)) if align else int(math.floor(s)), n_in - 1), 1.0)]
    lo = min(int(math.floor(s)), n_in - 1)
    hi = min(lo + 1, n_in - 1)
    return [(lo, 1 - (s - lo)), (hi, s - lo)]


def naive(x, in_size, out_size, method, align):
    """y[c, h, w] = sum of the product of 1-D weights over every source (w', h', c')."""
    y = np.zeros((x.shape[0],) + tuple(reversed(out_size)))
    for n in range(x.shape[0]):
        for pos in np.ndindex(*out_size):               # (w, h, c)
            per_dim = [weights_1d(pos[d], in_size[d], out_size[d], method, align) for d in range(3)]
            total = 0.0
            for (w, a), (h, b), (c, e) in [(p, q, r) for p in per_dim[0] for q in per_dim[1] for r in per_dim[2]]:
                total += a * b * e * x[n, c, h, w]
            y[(n,) + tuple(reversed(pos))] = total
    return y


CASES = [((3, 2, 2), (6, 4, 2)), ((6, 4, 2), (3, 2, 2)), ((2, 3, 1), (8, 3, 1))]


@pytest.mark.parametrize("align", [False, True], ids=["half_pixel", "align_corners"])
@pytest.mark.parametrize("method", [rs.NEAREST, rs.LINEAR], ids=["nearest", "linear"])
@pytest.mark.parametrize("in_size, out_size", CASES, ids=["up_2x", "down_2x", "up_4x_one_dim"])
def test_forward_matches_loop_and_backward_matches_finite_differences(method, align, in_size, out_size):
    rng = np.random.default_rng(method * 10 + align)
    filt = make(method, in_size, out_size, align)
    x = rng.standard_normal((2,) + tuple(reversed(in_size)))
    y = filt.apply(x)
    np.testing.assert_allclose(y, naive(x, in_size, out_size, method, align), rtol=1e-12, atol=1e-12)
    proj = projection(rng, y.shape)
    d_in, _, _ = filt.apply_backward(None, None, proj)
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * filt.apply(v))), x)


def test_linear_matches_pytorch_numbers():
    # torch.nn.functional.interpolate(torch.tensor([[[1., 2., 4.]]]), size=6, mode="linear")
    # and the same with align_corners=True and mode="nearest", as torch 2 prints them.
    x = np.array([[[[1.0, 2.0, 4.0]]]])
    y = make(rs.LINEAR, (3, 1, 1), (6, 1, 1)).apply(x)
    np.testing.assert_allclose(y[0, 0, 0], [1.0, 1.25, 1.75, 2.5, 3.5, 4.0], rtol=1e-12)
    y = make(rs.LINEAR, (3, 1, 1), (6, 1, 1), align=True).apply(x)
    np.testing.assert_allclose(y[0, 0, 0], [1.0, 1.4, 1.8, 2.4, 3.2, 4.0], rtol=1e-12)
    y = make(rs.NEAREST, (3, 1, 1), (6, 1, 1)).apply(x)
    np.testing.assert_array_equal(y[0, 0, 0], [1, 1, 2, 2, 4, 4])


@pytest.mark.parametrize("kwargs, message", [
    (dict(method=2, in_size=(3, 2, 2), out_size=(6, 4, 2)), "method 2 is not a BNNSInterpolationMethod"),
    (dict(method=0, in_size=(3, 4, 2), out_size=(6, 2, 2)), "upsamples some dimensions .* and downsamples"),
    (dict(method=1, in_size=(3, 2, 2), out_size=(5, 2, 2)), r"dimension 0: size 3 -> 5 is not an integral scale"),
], ids=["method", "mixed", "not_integral"])
def test_invalid_parameters_raise_invalid_argument(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make(kwargs["method"], kwargs["in_size"], kwargs["out_size"])
