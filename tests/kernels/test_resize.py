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
from bnns.kernels.params import CropResizeParameters, ResizeParameters
from tests.numeric import assert_gradient_matches, projection


def make(method, in_size, out_size, align=False):
    return rs.ResizeFilter(ResizeParameters(method=method, i_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, in_size),
                                            o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, out_size), align_corners=align))


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


# ------------------------------------------------------------------------------ crop and resize

def crop_reference(x, roi, out_hw, sampling, extrapolation=0.0, normalized=False):
    """TensorFlow's crop_and_resize as a scalar loop (boxes [index, y0, x0, y1, x1]), with the
    documented sample positions of each BNNSLinearSamplingMode."""
    n, c, h, w = x.shape
    out = np.zeros((len(roi), c) + out_hw)

    def positions(a, b, count, size):
        if normalized:
            a, b = a * (size - 1), b * (size - 1)
        if sampling in (rs.SAMPLING_DEFAULT, rs.SAMPLING_ALIGN_CORNERS, rs.SAMPLING_STRICT_ALIGN_CORNERS):
            if count == 1:
                return [a if sampling == rs.SAMPLING_STRICT_ALIGN_CORNERS else (a + b) / 2]
            return [a + o * (b - a) / (count - 1) for o in range(count)]
        shift = 0.5 if sampling == rs.SAMPLING_UNALIGN_CORNERS else 0.0
        return [a + (o + 0.5) * (b - a) / count - shift for o in range(count)]

    for k, (index, y0, x0, y1, x1) in enumerate(roi):
        for i, sy in enumerate(positions(y0, y1, out_hw[0], h)):
            for j, sx in enumerate(positions(x0, x1, out_hw[1], w)):
                if not (0 <= sy <= h - 1 and 0 <= sx <= w - 1):
                    out[k, :, i, j] = extrapolation
                    continue
                r0, c0 = int(math.floor(sy)), int(math.floor(sx))
                r1, c1 = min(r0 + 1, h - 1), min(c0 + 1, w - 1)
                ty, tx = sy - r0, sx - c0
                img = x[int(index)]
                out[k, :, i, j] = ((1 - ty) * ((1 - tx) * img[:, r0, c0] + tx * img[:, r0, c1])
                                   + ty * ((1 - tx) * img[:, r1, c0] + tx * img[:, r1, c1]))
    return out


ROI = np.array([[0, 0.5, 1.0, 3.0, 4.5], [1, 2.0, 0.0, 0.5, 2.0], [1, -1.0, 1.0, 2.0, 6.0]])


@pytest.mark.parametrize("sampling", sorted(rs.SAMPLING_NAMES))
def test_crop_resize_matches_the_scalar_reference(sampling):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 6))
    crop = rs.CropResize(CropResizeParameters(method=rs.LINEAR, sampling_mode=sampling, extrapolation_value=-7.0))
    np.testing.assert_allclose(crop.apply(x, ROI, (3, 5)), crop_reference(x, ROI, (3, 5), sampling, -7.0),
                               rtol=1e-12, atol=1e-12)


def test_crop_resize_box_modes_and_normalized_coordinates_name_the_same_box():
    x = np.random.default_rng(4).standard_normal((1, 2, 5, 5))
    corners = rs.CropResize(CropResizeParameters(method=rs.LINEAR)).apply(x, np.array([[0, 1.0, 0.5, 3.0, 3.5]]), (2, 3))
    for mode, row in ((rs.CORNERS_WIDTH_FIRST, [0, 0.5, 1.0, 3.5, 3.0]),
                      (rs.CENTER_SIZE_HEIGHT_FIRST, [0, 2.0, 2.0, 2.0, 3.0]),
                      (rs.CENTER_SIZE_WIDTH_FIRST, [0, 2.0, 2.0, 3.0, 2.0])):
        got = rs.CropResize(CropResizeParameters(method=rs.LINEAR, box_coordinate_mode=mode)).apply(x, np.array([row]), (2, 3))
        np.testing.assert_allclose(got, corners, rtol=1e-12)
    scaled = rs.CropResize(CropResizeParameters(method=rs.LINEAR, normalized_coordinates=True, spatial_scale=2.0))
    np.testing.assert_allclose(scaled.apply(x, np.array([[0, 0.125, 0.0625, 0.375, 0.4375]]), (2, 3)), corners,
                               rtol=1e-12)


@pytest.mark.parametrize("method", [rs.LINEAR, rs.NEAREST])
def test_crop_resize_backward_is_the_adjoint_by_finite_differences(method):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 4, 5))
    crop = rs.CropResize(CropResizeParameters(method=method, sampling_mode=rs.SAMPLING_UNALIGN_CORNERS,
                                              extrapolation_value=3.0))
    proj = projection(rng, (3, 2, 3, 4))
    analytic = crop.apply_backward(ROI, proj, x.shape)
    assert_gradient_matches(analytic, lambda z: float((proj * crop.apply(z, ROI, (3, 4))).sum()), x)


def test_crop_resize_refuses_bad_boxes_and_parameters():
    crop = rs.CropResize(CropResizeParameters(method=rs.LINEAR))
    x = np.zeros((2, 1, 3, 3))
    with pytest.raises(InvalidArgumentError, match="image 2"):
        crop.apply(x, np.array([[2, 0, 0, 1, 1]]), (2, 2))
    with pytest.raises(InvalidArgumentError, match="roi has shape"):
        crop.apply(x, np.zeros((1, 3)), (2, 2))
    with pytest.raises(InvalidArgumentError, match="sampling_mode"):
        rs.CropResize(CropResizeParameters(sampling_mode=9))
    with pytest.raises(InvalidArgumentError, match="box_coordinate_mode"):
        rs.CropResize(CropResizeParameters(box_coordinate_mode=4))
