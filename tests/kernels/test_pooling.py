"""Pooling filter (kernels/pooling.py): forward against a naive loop over windows, backward against
central differences, indices on hand-computed cases, the UnMax round trip, and every error input."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Union

import numpy as np
import pytest

from bnns.kernels import layout as L
from bnns.kernels import pooling as P
from bnns.kernels.activation import (IDENTITY, LEAKY_RECTIFIED_LINEAR, RECTIFIED_LINEAR, SIGMOID,
                                     Activation)
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import PoolingParameters
from tests.numeric import assert_gradient_matches, projection

FUNCTIONS = {
    P.MAX: "max",
    P.AVERAGE_COUNT_INCLUDE_PADDING: "avg_include",
    P.AVERAGE_COUNT_EXCLUDE_PADDING: "avg_exclude",
    P.L2_NORM: "l2",
}
# x_padding/y_padding (symmetric) or pad = (left, right, up, down); every window keeps an input tap
PADDINGS: dict[str, dict] = {
    "nopad": {},
    "sym": {"x_padding": 1, "y_padding": 1},
    "asym": {"pad": (1, 2, 1, 0)},
}


# ------------------------------------------------------------------------------------ case table
@dataclasses.dataclass(frozen=True)
class Geo:
    """One window geometry, NumPy order (H, W) for pairs; ``padding`` is a PADDINGS key or dict."""

    id: str
    in_chw: tuple
    kernel: tuple = (2, 3)
    stride: tuple = (1, 1)
    dilation: tuple = (1, 1)
    padding: Union[str, dict] = "nopad"     # a PADDINGS key, or the BNNS padding fields as a dict

    @property
    def pad_fields(self) -> dict:
        return PADDINGS[self.padding] if isinstance(self.padding, str) else dict(self.padding)

    @property
    def pads(self) -> tuple:
        """((up, left), (down, right)) as the test understands the BNNS fields."""
        f = self.pad_fields
        if f.get("x_padding") or f.get("y_padding"):
            return (f["y_padding"], f["x_padding"]), (f["y_padding"], f["x_padding"])
        left, right, up, down = f.get("pad", (0, 0, 0, 0))
        return (up, left), (down, right)

    @property
    def out_chw(self) -> tuple:
        (p0, p1) = self.pads
        out = [(n + a + b - ((k - 1) * d + 1)) // s + 1 for n, a, b, k, d, s in
               zip(self.in_chw[1:], p0, p1, self.kernel, self.dilation, self.stride)]
        return (self.in_chw[0], *out)


# every padding kind x stride x dilation, kernel 2x3 (h x w) on a 7x8 image
FORWARD_GEOS = [
    Geo(f"{pad}_s{s}_d{d}", (2, 7, 8), stride=(s, s), dilation=(d, d), padding=pad)
    for pad, s, d in itertools.product(PADDINGS, (1, 2), (1, 2))
] + [
    Geo("rect_stride_3x2", (2, 7, 8), kernel=(3, 2), stride=(3, 2), padding="sym"),
    # windows starting two pads before the image with dilation 2: tap 0 in padding, tap 1 inside
    Geo("wide_pad_d2", (2, 7, 8), dilation=(2, 2), padding={"pad": (2, 1, 2, 0)}),
    # more taps than output positions: the kernel walks windows instead of taps
    Geo("large_kernel_by_window", (2, 5, 6), kernel=(4, 5), padding="sym"),
    Geo("global", (3, 4, 5), kernel=(4, 5)),
]

# overlapping windows in both directions (k > stride), so gradients add up
GRAD_GEOS = [Geo(f"grad_{pad}", (2, 5, 6), kernel=(2, 3), stride=(1, 2), padding=pad)
             for pad in PADDINGS]
# non-overlapping windows (k == stride) give distinct UnMax indices; "large" is the unpooled side
UNMAX_GEOS = [Geo(f"unmax_{pad}", (2, 6, 7), kernel=(3, 3), stride=(3, 3), padding=pad)
              for pad in PADDINGS]

ACTIVATIONS = {
    "identity": Activation(IDENTITY),
    "relu": Activation(RECTIFIED_LINEAR),
    "sigmoid": Activation(SIGMOID),
    # y does not determine the derivative (alpha 0): backward recomputes the pre-activation from x
    "leaky_relu_alpha0": Activation(LEAKY_RECTIFIED_LINEAR, alpha=0.0),
}

# Forward: float64 filter vs float64 loop, only the summation order differs.
FORWARD_RTOL, FORWARD_ATOL = 1e-12, 1e-12
# Central differences in float64, eps 1e-6: truncation ~1e-12 relative for these smooth pieces
# (inputs keep every kink - argmax switch, ReLU at 0 - much farther than eps away).
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-8
BATCH = 2


# ------------------------------------------------------------------------------------ helpers
def image(chw) -> L.Descriptor:
    return L.Descriptor.for_shape(L.LAYOUT_IMAGE_CHW, chw)


def bias_desc(values) -> L.Descriptor:
    values = np.asarray(values, np.float32)
    return L.Descriptor.for_shape(L.LAYOUT_VECTOR, values.shape, data=values)


def make_filter(geo: Geo, function: int, *, bias=None, activation=Activation(), **override):
    """The filter for ``geo``; UnMax gets the roles reversed (i_desc pooled, o_desc large).
    ``bias`` is a list of values or a Descriptor given as is."""
    i_chw, o_chw = (geo.out_chw, geo.in_chw) if function == P.UN_MAX else (geo.in_chw, geo.out_chw)
    fields = dict(
        i_desc=image(i_chw), o_desc=image(o_chw),
        bias=bias if bias is None or isinstance(bias, L.Descriptor) else bias_desc(bias),
        activation=activation,
        pooling_function=function, k_width=geo.kernel[1], k_height=geo.kernel[0],
        x_stride=geo.stride[1], y_stride=geo.stride[0],
        x_dilation_stride=geo.dilation[1], y_dilation_stride=geo.dilation[0], **geo.pad_fields)
    fields.update(override)
    return P.PoolingFilter(PoolingParameters(**fields))


def distinct_values(rng, shape):
    """Values at least 0.01 apart (a stable argmax under eps-sized perturbations), mixed signs."""
    n = math.prod(shape)
    return (rng.permutation(n) - n / 2).reshape(shape) * 0.01 + rng.uniform(0, 1e-3, shape)


def naive_pool(x, geo: Geo, function: int):
    """Loop over every output position and every tap of its window (float64)."""
    n, c, h, w = x.shape
    (top, left), _ = geo.pads
    _, ho, wo = geo.out_chw
    y = np.zeros((n, c, ho, wo))
    idx = np.zeros((n, c, ho, wo), np.int64)
    for b, ch, i, j in itertools.product(range(n), range(c), range(ho), range(wo)):
        values, offsets = [], []
        for a, t in itertools.product(range(geo.kernel[0]), range(geo.kernel[1])):
            r = i * geo.stride[0] - top + a * geo.dilation[0]
            q = j * geo.stride[1] - left + t * geo.dilation[1]
            if 0 <= r < h and 0 <= q < w:      # padding: skipped (zeros for the sums)
                values.append(x[b, ch, r, q])
                offsets.append(ch * h * w + r * w + q)
        window = np.array(values)
        if function == P.MAX:
            first = int(np.argmax(window))     # first of equal maxima
            y[b, ch, i, j], idx[b, ch, i, j] = window[first], offsets[first]
        elif function == P.AVERAGE_COUNT_INCLUDE_PADDING:
            y[b, ch, i, j] = window.sum() / (geo.kernel[0] * geo.kernel[1])
        elif function == P.AVERAGE_COUNT_EXCLUDE_PADDING:
            y[b, ch, i, j] = window.sum() / len(window)
        else:
            y[b, ch, i, j] = math.sqrt((window ** 2).sum())
    return y, idx


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ------------------------------------------------------------------------------------ forward
@pytest.mark.parametrize("geo", FORWARD_GEOS, ids=lambda g: g.id)
@pytest.mark.parametrize("function", FUNCTIONS, ids=FUNCTIONS.get)
def test_forward_matches_naive_loop(geo, function):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((BATCH, *geo.in_chw))
    y, idx = make_filter(geo, function).apply(x, want_indices=True)
    y_ref, idx_ref = naive_pool(x, geo, function)
    np.testing.assert_allclose(y, y_ref, rtol=FORWARD_RTOL, atol=FORWARD_ATOL)
    if function == P.MAX:
        np.testing.assert_array_equal(idx, idx_ref)
    else:
        assert idx is None


@pytest.mark.parametrize("function", FUNCTIONS, ids=FUNCTIONS.get)
def test_forward_adds_bias_then_activation(function):
    geo = FORWARD_GEOS[5]
    rng = np.random.default_rng(11)
    x = rng.standard_normal((BATCH, *geo.in_chw))
    bias = [0.25, -0.5]
    y, _ = make_filter(geo, function, bias=bias, activation=Activation(SIGMOID)).apply(x)
    pooled, _ = naive_pool(x, geo, function)
    expected = sigmoid(pooled + np.asarray(bias, np.float32).astype(np.float64)[None, :, None, None])
    np.testing.assert_allclose(y, expected, rtol=FORWARD_RTOL, atol=FORWARD_ATOL)


def test_forward_keeps_float32():
    geo = FORWARD_GEOS[0]
    x = np.random.default_rng(12).standard_normal((BATCH, *geo.in_chw)).astype(np.float32)
    for function in FUNCTIONS:
        y, _ = make_filter(geo, function).apply(x)
        assert y.dtype == np.float32


def test_max_indices_on_hand_computed_case():
    # two channels of a 4x4 image, 2x2 windows, stride 2: index = c*16 + h*4 + w
    x = np.zeros((1, 2, 4, 4))
    x[0, 0] = [[1, 5, 0, 0],
               [2, 3, 0, 9],
               [0, 0, 4, 4],
               [7, 0, 4, 4]]
    x[0, 1] = -1.0
    x[0, 1, 1, 2] = 8.0
    geo = Geo("hand", (2, 4, 4), kernel=(2, 2), stride=(2, 2))
    y, idx = make_filter(geo, P.MAX).apply(x, want_indices=True)
    np.testing.assert_array_equal(y[0, 0], [[5, 9], [7, 4]])
    # channel 0: 5 at (0,1); 9 at (1,3); 7 at (3,0); tie of four 4s -> first tap (2,2)
    np.testing.assert_array_equal(idx[0, 0], [[1, 7], [12, 10]])
    # channel 1: all -1 except 8 at (1,2); ties of -1 -> each window's first tap
    np.testing.assert_array_equal(idx[0, 1], [[16, 22], [24, 26]])


def test_max_padding_never_wins():
    # all inputs negative: a zero from the padding would win if padding took part in the max
    geo = Geo("pad", (1, 3, 3), kernel=(3, 3), stride=(2, 2), padding="sym")
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y, idx = make_filter(geo, P.MAX).apply(x, want_indices=True)
    np.testing.assert_array_equal(y[0, 0], [[-1, -2], [-4, -5]])
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])


def test_average_counts_at_the_border():
    # 3x3 window, stride 1, pad 1 on ones: the corner window holds 4 inputs, the edge one 6
    geo = Geo("corner", (1, 3, 3), kernel=(3, 3), padding="sym")
    x = np.ones((1, 1, 3, 3))
    include, _ = make_filter(geo, P.AVERAGE_COUNT_INCLUDE_PADDING).apply(x)
    exclude, _ = make_filter(geo, P.AVERAGE_COUNT_EXCLUDE_PADDING).apply(x)
    np.testing.assert_allclose(include[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9)
    np.testing.assert_allclose(exclude[0, 0], np.ones((3, 3)))


def test_l2_norm_on_hand_computed_case():
    geo = Geo("l2", (1, 2, 2), kernel=(2, 2))
    y, _ = make_filter(geo, P.L2_NORM).apply(np.array([[[[3.0, 0.0], [4.0, 12.0]]]]))
    np.testing.assert_allclose(y[0, 0], [[13.0]])


def test_nan_in_window_gives_nan_and_points_at_it():
    geo = Geo("nan", (1, 3, 3), kernel=(2, 2))
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    x[0, 0, 0, 1] = np.nan
    y, idx = make_filter(geo, P.MAX).apply(x, want_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y[0, 0, 0, 1])
    np.testing.assert_array_equal(idx[0, 0], [[1, 1], [7, 8]])


def test_stride_and_dilation_zero_read_as_one():
    geo = FORWARD_GEOS[0]
    x = np.random.default_rng(13).standard_normal((BATCH, *geo.in_chw))
    y_one, _ = make_filter(geo, P.MAX).apply(x)
    y_zero, _ = make_filter(geo, P.MAX, x_stride=0, y_stride=0, x_dilation_stride=0,
                            y_dilation_stride=0).apply(x)
    np.testing.assert_array_equal(y_zero, y_one)


def test_pad_array_ignored_when_symmetric_padding_set():
    # x_padding alone (y_padding 0) is symmetric padding (left = right = 1, none up or down)
    geo = Geo("x_only", (2, 7, 8), padding={"pad": (1, 1, 0, 0)})
    x = np.random.default_rng(14).standard_normal((BATCH, *geo.in_chw))
    y_pad, _ = make_filter(geo, P.AVERAGE_COUNT_INCLUDE_PADDING).apply(x)
    y_sym, _ = make_filter(geo, P.AVERAGE_COUNT_INCLUDE_PADDING, x_padding=1, y_padding=0,
                           pad=(0, 2, 1, 1)).apply(x)
    np.testing.assert_array_equal(y_sym, y_pad)


def test_chunked_threaded_engine_matches_one_chunk(monkeypatch):
    # 3 planes per chunk with 2 channels: chunks start at either channel and span samples
    geo = Geo("engine", (2, 9, 10), kernel=(3, 3), stride=(2, 2), padding="sym")
    rng = np.random.default_rng(15)
    x = rng.standard_normal((5, *geo.in_chw)).astype(np.float32)
    d = rng.standard_normal((5, *geo.out_chw)).astype(np.float32)

    def run():
        results = []
        for function in FUNCTIONS:
            f = make_filter(geo, function)
            y, idx = f.apply(x, want_indices=True)
            results += [y, idx, f.apply_backward(x, y, d, indices=idx)[0],
                        f.apply_backward(x, y, d)[0]]
        return results

    whole = run()
    monkeypatch.setattr(P, "_chunk_planes", lambda g, dtype: 3)
    monkeypatch.setattr(P.parallel, "PARALLEL_BYTES", 0)
    for got, want in zip(run(), whole):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)


def test_parameters_return_the_bias():
    f = make_filter(FORWARD_GEOS[0], P.MAX, bias=[1.5, -2.0])
    np.testing.assert_array_equal(f.parameters()["bias"], np.array([1.5, -2.0], np.float32))
    assert make_filter(FORWARD_GEOS[0], P.MAX).parameters() == {}


# ------------------------------------------------------------------------------------ backward
GRAD_CASES = [
    pytest.param(geo, function, act, use_indices,
                 id=f"{FUNCTIONS[function]}-{geo.padding}-{act}" + ("-indices" * use_indices))
    for geo in GRAD_GEOS
    for function in FUNCTIONS
    for act in ACTIVATIONS
    for use_indices in ((False, True) if function == P.MAX else (False,))
]


@pytest.mark.parametrize("geo, function, act, use_indices", GRAD_CASES)
def test_input_gradient_matches_finite_differences(geo, function, act, use_indices):
    rng = np.random.default_rng(20)
    x = distinct_values(rng, (BATCH, *geo.in_chw))
    bias = None if act == "identity" else [0.3, -0.2]
    f = make_filter(geo, function, bias=bias, activation=ACTIVATIONS[act])
    proj = projection(rng, (BATCH, *geo.out_chw))
    y, idx = f.apply(x, want_indices=True)
    d_in, _ = f.apply_backward(x, y, proj, indices=idx if use_indices else None)
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * f.apply(v)[0])), x,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("geo", UNMAX_GEOS, ids=lambda g: g.id)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_unmax_gradient_matches_finite_differences(geo, act):
    rng = np.random.default_rng(21)
    _, idx = make_filter(geo, P.MAX).apply(rng.standard_normal((BATCH, *geo.in_chw)),
                                           want_indices=True)
    bias = None if act == "identity" else [0.3, -0.2]
    f = make_filter(geo, P.UN_MAX, bias=bias, activation=ACTIVATIONS[act])
    x = distinct_values(rng, (BATCH, *geo.out_chw))
    proj = projection(rng, (BATCH, *geo.in_chw))
    y, _ = f.apply(x, indices=idx)
    d_in, _ = f.apply_backward(x, y, proj, indices=idx)
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * f.apply(v, indices=idx)[0])), x,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("function", FUNCTIONS, ids=FUNCTIONS.get)
def test_bias_gradient_is_activation_gradient_summed(function):
    geo = GRAD_GEOS[1]
    rng = np.random.default_rng(22)
    x = distinct_values(rng, (BATCH, *geo.in_chw))
    f = make_filter(geo, function, bias=[0.3, -0.2], activation=Activation(SIGMOID))
    y, _ = f.apply(x)
    d_out = rng.standard_normal(y.shape)
    d_in, d_bias = f.apply_backward(x, y, d_out, input_grad=False, bias_grad=True)
    assert d_in is None
    # d(sigmoid(z))/dz = y (1 - y); the bias reaches every output of its channel
    np.testing.assert_allclose(d_bias, (d_out * y * (1 - y)).sum(axis=(0, 2, 3)), rtol=1e-12)


def test_backward_without_output_recomputes_it():
    geo = GRAD_GEOS[2]
    rng = np.random.default_rng(23)
    x = distinct_values(rng, (BATCH, *geo.in_chw))
    f = make_filter(geo, P.L2_NORM, bias=[0.1, 0.2], activation=Activation(SIGMOID))
    y, _ = f.apply(x)
    d_out = rng.standard_normal(y.shape)
    with_y = f.apply_backward(x, y, d_out, bias_grad=True)
    without_y = f.apply_backward(x, None, d_out, bias_grad=True)
    for got, want in zip(without_y, with_y):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_average_backward_needs_neither_input_nor_output():
    geo = GRAD_GEOS[0]   # no padding: every tap is an input, so the gradient's total is kept
    rng = np.random.default_rng(24)
    x = rng.standard_normal((1, *geo.in_chw))
    f = make_filter(geo, P.AVERAGE_COUNT_EXCLUDE_PADDING)
    y, _ = f.apply(x)
    d_out = rng.standard_normal(y.shape)
    d_in, _ = f.apply_backward(None, None, d_out)
    np.testing.assert_array_equal(d_in, f.apply_backward(x, y, d_out)[0])
    np.testing.assert_allclose(d_in.sum(), d_out.sum(), rtol=1e-12)


def test_max_backward_routes_overlapping_windows_to_one_input():
    # a single large value wins every window holding it: its gradient is the sum of theirs
    geo = Geo("overlap", (1, 3, 3), kernel=(2, 2))
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0
    d_out = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    d_in, _ = make_filter(geo, P.MAX).apply_backward(x, None, d_out)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(d_in, expected)


def test_l2_backward_of_all_zero_window_is_zero():
    geo = Geo("zeros", (1, 2, 4), kernel=(2, 2), stride=(2, 2))
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[3.0, 4.0], [0.0, 0.0]]
    d_in, _ = make_filter(geo, P.L2_NORM).apply_backward(x, None, np.ones((1, 1, 1, 2)))
    np.testing.assert_allclose(d_in[0, 0], [[0.0, 0.0, 0.6, 0.8], [0.0, 0.0, 0.0, 0.0]])


# ------------------------------------------------------------------------------------ UnMax
def test_unmax_round_trip_keeps_maxima_in_place():
    geo = Geo("round_trip", (2, 7, 8), kernel=(3, 3), stride=(2, 2), padding="sym")
    rng = np.random.default_rng(30)
    x = rng.uniform(0.5, 1.5, (BATCH, *geo.in_chw))     # positive: the zeros never win again
    pooled, idx = make_filter(geo, P.MAX).apply(x, want_indices=True)
    unpooled, _ = make_filter(geo, P.UN_MAX).apply(pooled, indices=idx)
    flat, x_flat = unpooled.reshape(BATCH, -1), x.reshape(BATCH, -1)
    kept = np.zeros_like(flat, bool)
    np.put_along_axis(kept, idx.reshape(BATCH, -1), True, axis=1)
    np.testing.assert_array_equal(flat[kept], x_flat[kept])
    assert not flat[~kept].any()
    np.testing.assert_array_equal(make_filter(geo, P.MAX).apply(unpooled)[0], pooled)


def test_unmax_accepts_uint_indices():
    geo = UNMAX_GEOS[0]
    rng = np.random.default_rng(31)
    _, idx = make_filter(geo, P.MAX).apply(rng.standard_normal((1, *geo.in_chw)), want_indices=True)
    x = rng.standard_normal((1, *geo.out_chw))
    f = make_filter(geo, P.UN_MAX)
    np.testing.assert_array_equal(f.apply(x, indices=idx.astype(np.uint32))[0],
                                  f.apply(x, indices=idx)[0])


# ------------------------------------------------------------------------------------ errors
BASE = Geo("base", (2, 7, 8), kernel=(2, 3), stride=(2, 2), padding="sym")   # out (2, 4, 4)

CONSTRUCTION_ERRORS = [
    pytest.param(dict(o_desc=image((2, 5, 5))), r"o_desc\.size \(5, 5, 2\) does not match the "
                 r"pooling output \(4, 4, 2\)", id="wrong_output_size_shows_expected"),
    pytest.param(dict(k_width=0), r"k_width 0 and k_height 2 must both be at least 1",
                 id="zero_kernel"),
    pytest.param(dict(k_height=-1), r"k_width 3 and k_height -1", id="negative_kernel"),
    pytest.param(dict(x_padding=0, y_padding=0, pad=(-1, 0, 0, 0)),
                 r"pad\[0\] -1 must be at least 0", id="negative_pad"),
    pytest.param(dict(x_padding=-2), r"x_padding -2 must be at least 0", id="negative_x_padding"),
    pytest.param(dict(x_padding=0, y_padding=0, pad=(3, 0, 0, 0)),
                 r"output width position 0 has a window of padding only", id="pad_beyond_kernel"),
    pytest.param(dict(x_padding=2**40), r"x_padding 1099511627776 must be below 2\*\*31",
                 id="absurd_pad"),
    pytest.param(dict(x_padding=0, y_padding=0, pad=(1, 2)), r"pad \(1, 2\) must have 4 entries",
                 id="short_pad_array"),
    pytest.param(dict(k_width=20), r"effective kernel width 20 .* exceeds the padded input "
                 r"width 10", id="kernel_larger_than_input"),
    pytest.param(dict(x_stride=-1), r"x_stride -1 must be at least 0", id="negative_stride"),
    pytest.param(dict(k_width=2.5), r"k_width must be an integer, got 2\.5", id="float_kernel"),
    pytest.param(dict(o_desc=image((3, 4, 4))),
                 r"has 2 channels but o_desc\.size \(4, 4, 3\) has 3", id="channel_mismatch"),
    pytest.param(dict(bias=bias_desc([1.0, 2.0, 3.0])), r"bias has 3 values .* 2 channels",
                 id="bias_wrong_length"),
    pytest.param(dict(bias=L.Descriptor(L.LAYOUT_VECTOR, (2,))), r"bias has no data",
                 id="bias_without_data"),
    pytest.param(dict(i_desc=L.Descriptor.for_shape(L.LAYOUT_3D_LAST_MAJOR, (2, 7, 8))),
                 r"i_desc\.layout 0x38000 is not ImageCHW \(0x30000\)", id="non_image_layout"),
    pytest.param(dict(o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (4, 4, 2), data_type=L.DTYPE_UINT32)),
                 r"o_desc\.data_type 0x40020 is not supported", id="integer_data_type"),
    pytest.param(dict(pooling_function=7), r"pooling_function 7 is not a BNNSPoolingFunction",
                 id="unknown_function"),
    pytest.param(dict(activation=Activation(99)), r"activation function 99 is not supported",
                 id="unknown_activation"),
]


@pytest.mark.parametrize("override, message", CONSTRUCTION_ERRORS)
def test_invalid_parameters_are_rejected(override, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make_filter(BASE, P.MAX, **override)


def test_unmax_with_wrong_pooled_size_shows_expected():
    with pytest.raises(InvalidArgumentError, match=r"i_desc\.size \(3, 4, 2\) does not match "
                                                   r"\(4, 4, 2\), the max pooling"):
        make_filter(BASE, P.UN_MAX, i_desc=image((2, 4, 3)))


def test_apply_rejects_wrong_input_shape():
    f = make_filter(BASE, P.MAX)
    with pytest.raises(InvalidArgumentError, match=r"x \(in\) has shape \(1, 2, 7, 7\); the filter "
                                                   r"expects \(N, 2, 7, 8\)"):
        f.apply(np.zeros((1, 2, 7, 7)))
    with pytest.raises(InvalidArgumentError, match=r"x \(in\) has dtype int64"):
        f.apply(np.zeros((1, 2, 7, 8), np.int64))


def test_backward_rejects_mismatched_batches():
    f = make_filter(BASE, P.MAX)
    with pytest.raises(InvalidArgumentError, match=r"x \(in\) has batch size 2 but d_out has 1"):
        f.apply_backward(np.zeros((2, 2, 7, 8)), None, np.zeros((1, 2, 4, 4)))


def test_unmax_without_indices_is_rejected():
    f = make_filter(BASE, P.UN_MAX)
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(InvalidArgumentError,
                       match=r"UnMax requires indices \(shape \(1, 2, 4, 4\)\)"):
        f.apply(x)
    with pytest.raises(InvalidArgumentError, match=r"UnMax backward requires indices"):
        f.apply_backward(x, None, np.zeros((1, 2, 7, 8)))


UNMAX_INDEX_ERRORS = [
    pytest.param((0, 0, 0, 0), 2 * 56, r"indices\[0, 0, 0, 0\] = 112 is outside channel 0's output "
                 r"plane \[0, 56\)", id="beyond_sample"),
    pytest.param((0, 1, 2, 3), 3, r"indices\[0, 1, 2, 3\] = 3 is outside channel 1's output plane "
                 r"\[56, 112\)", id="other_channel"),
    pytest.param((0, 0, 1, 1), -1, r"indices\[0, 0, 1, 1\] = -1 is outside", id="negative"),
]


@pytest.mark.parametrize("where, value, message", UNMAX_INDEX_ERRORS)
def test_unmax_out_of_range_index_is_rejected(where, value, message):
    f = make_filter(BASE, P.UN_MAX)
    x = np.zeros((1, 2, 4, 4))
    idx = np.zeros((1, 2, 4, 4), np.int64)
    idx[0, 1] = 56
    idx[where] = value
    with pytest.raises(InvalidArgumentError, match=message):
        f.apply(x, indices=idx)
    with pytest.raises(InvalidArgumentError, match=message):
        f.apply_backward(x, None, np.zeros((1, 2, 7, 8)), indices=idx)


def test_unmax_index_dtype_and_shape_are_checked():
    f = make_filter(BASE, P.UN_MAX)
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(InvalidArgumentError,
                       match=r"indices must be an integer NumPy array, got float64"):
        f.apply(x, indices=np.zeros((1, 2, 4, 4)))
    with pytest.raises(InvalidArgumentError, match=r"indices have shape \(1, 2, 4\), expected"):
        f.apply(x, indices=np.zeros((1, 2, 4), np.int64))
    with pytest.raises(InvalidArgumentError, match=r"index 18446744073709551615 is out of range"):
        f.apply(x, indices=np.full((1, 2, 4, 4), 2**64 - 1, np.uint64))


MAX_INDEX_ERRORS = [
    # BASE: 2x3 (h x w) windows, stride 2, pad 1: window (0, 0) covers rows -1..0, columns -1..1
    pytest.param((0, 0, 0, 0), 2, r"indices\[0, 0, 0, 0\] = 2 does not name an input of channel 0 "
                 r"inside output \(0, 0\)'s window \(rows -1\.\.0 step 1, columns -1\.\.1",
                 id="outside_window"),
    pytest.param((0, 1, 0, 0), 0, r"indices\[0, 1, 0, 0\] = 0 does not name an input of channel 1",
                 id="other_channel"),
    pytest.param((0, 0, 0, 0), -1, r"indices\[0, 0, 0, 0\] = -1", id="negative"),
    pytest.param((0, 1, 3, 3), 2 * 56, r"indices\[0, 1, 3, 3\] = 112", id="beyond_sample"),
    # column 7 of row 1 wraps to column -1 of row 2 in flat terms: still outside window (1, 0)
    pytest.param((0, 0, 1, 0), 15, r"indices\[0, 0, 1, 0\] = 15 does not name", id="row_wrap"),
    # window (2, 2) lies inside the image (rows 3..4, columns 3..5): the fast table test alone
    pytest.param((0, 1, 2, 2), 56 + 3 * 8 + 6, r"indices\[0, 1, 2, 2\] = 86 does not name",
                 id="interior_next_column"),
    pytest.param((0, 1, 2, 2), 56 + 2 * 8 + 4, r"indices\[0, 1, 2, 2\] = 76 does not name",
                 id="interior_row_above"),
    pytest.param((0, 1, 2, 2), 3 * 8 + 4, r"indices\[0, 1, 2, 2\] = 28 does not name an input of channel 1",
                 id="interior_other_channel"),
]


@pytest.mark.parametrize("where, value, message", MAX_INDEX_ERRORS)
def test_max_backward_rejects_index_outside_its_window(where, value, message):
    f = make_filter(BASE, P.MAX)
    x = distinct_values(np.random.default_rng(40), (1, 2, 7, 8))
    y, idx = f.apply(x, want_indices=True)
    idx[where] = value
    with pytest.raises(InvalidArgumentError, match=message):
        f.apply_backward(x, y, np.ones_like(y), indices=idx)


@pytest.mark.parametrize("where, value, message", MAX_INDEX_ERRORS)
def test_max_backward_checking_on_the_second_core_rejects_the_same_indices(where, value, message, monkeypatch):
    # Large inputs are checked on the second core while this thread scatters (forced here, in
    # slabs of one plane): the same error, after the scatter, whatever the scatter met first.
    monkeypatch.setattr(P.parallel, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(P, "_CHECK_SLAB_BYTES", 1)
    monkeypatch.setattr(P, "_chunk_planes", lambda g, dtype: 1)
    test_max_backward_rejects_index_outside_its_window(where, value, message)


@pytest.mark.parametrize("in_hw, kernel", [((8, 8), (2, 2)), ((7, 9), (3, 2)), ((5, 4), (1, 4)), ((6, 6), (2, 3))],
                         ids=["2x2", "3x2_cropped", "1x4", "as_many_taps_as_windows"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_max_pool_tiled_windows_gathered_tap_major_as_the_general_path(in_hw, kernel, dtype, monkeypatch):
    # Windows that tile a small input are pooled from one tap-major copy: the same y and indices,
    # bit for bit, as the general scratch path, with ties (first tap wins), NaN (first NaN tap),
    # infinities and a strided input (the rows and columns no window covers are left out).
    g = P.PoolingGeometry.create(in_hw, kernel, kernel)
    assert P._tiled_path(np.zeros((3, 4) + in_hw, dtype), g)
    rng = np.random.default_rng(42)
    x = rng.standard_normal((3, 4) + in_hw).round(0).astype(dtype)
    x[0, 0, 0, :2], x[1, 2, -1, -1], x[2, 3, 0, 0] = np.nan, -np.inf, np.inf
    x[2, 1] = -0.0
    x[2, 1, 0, 0] = 0.0
    for source in (x, np.repeat(x, 2, axis=0)[::2]):
        tiled = [P.max_pool(source, g, with_indices=w) for w in (True, False)]
        monkeypatch.setattr(P, "_TILED_BYTES", -1)
        general = [P.max_pool(source, g, with_indices=w) for w in (True, False)]
        monkeypatch.undo()
        for (y_t, i_t), (y_g, i_g) in zip(tiled, general):
            np.testing.assert_array_equal(y_t.view(np.uint16 if dtype == np.float16 else np.uint32),
                                          y_g.view(np.uint16 if dtype == np.float16 else np.uint32))
            assert (i_t is None and i_g is None) or (i_t is not None and i_g is not None and
                                                     i_t.dtype == i_g.dtype and np.array_equal(i_t, i_g))


@pytest.mark.parametrize("chunk", [None, 7], ids=["one_chunk", "chunks_of_two_samples"])
def test_max_backward_scatters_small_samples_together_as_one_by_one(chunk, monkeypatch):
    # Small samples scatter their gradients in one np.add.at over several samples (each plane's
    # indices moved by its sample's offset): the same d_x, bit for bit, as the scatter sample by
    # sample, with windows that overlap (winners shared, sums in order) and a batch cut into chunks.
    g = P.PoolingGeometry.create((7, 6), (3, 3), (1, 2), pad_before=(1, 1), pad_after=(1, 0))
    rng = np.random.default_rng(41)
    x = rng.standard_normal((5, 3, 7, 6)).astype(np.float32).round(1)      # ties: repeated winners
    _, idx = P.max_pool(x, g, with_indices=True)
    d_y = rng.standard_normal(idx.shape).astype(np.float32)
    if chunk is not None:
        monkeypatch.setattr(P, "_chunk_planes", lambda g, dtype: chunk)
    together = P.max_pool_backward(d_y, g, indices=idx)
    monkeypatch.setattr(P, "_SMALL_SAMPLE", 0)
    one_by_one = P.max_pool_backward(d_y, g, indices=idx)
    np.testing.assert_array_equal(together.view(np.uint32), one_by_one.view(np.uint32))
    np.testing.assert_array_equal(together, P.max_pool_backward(d_y, g, x=x))


def test_max_backward_index_check_is_made_once_per_small_geometry_and_shared_read_only():
    # A small geometry's index check is built once and shared (its tables read-only); every part
    # of its key gives its own; a large one is built per call. The rejections above run on it.
    g = P.PoolingGeometry.create((7, 8), (2, 3), (2, 2), pad_before=(1, 1), pad_after=(0, 1))
    check = P._index_check(g, 2, 4)
    assert check is P._index_check(P.PoolingGeometry.create((7, 8), (2, 3), (2, 2), pad_before=(1, 1),
                                                            pad_after=(0, 1)), 2, 4)
    assert check.strips and not check.base.flags.writeable and not check.outside.flags.writeable
    assert all(not a.flags.writeable for strip in check.strips for a in strip[1:] if a is not None)
    others = [P._index_check(g, 3, 4), P._index_check(g, 2, 5),
              P._index_check(P.PoolingGeometry.create((7, 8), (2, 3), (2, 2), pad_before=(1, 1)), 2, 4)]
    assert all(other is not check for other in others)
    large = P.PoolingGeometry.create((512, 512), (2, 2), (2, 2))
    assert P._index_check(large, 3, 8) is not P._index_check(large, 3, 8)


def test_max_backward_without_input_or_indices_is_rejected():
    f = make_filter(BASE, P.MAX)
    with pytest.raises(InvalidArgumentError, match=r"needs x \(in\)"):
        f.apply_backward(None, None, np.zeros((1, 2, 4, 4)))


def test_l2_backward_without_input_is_rejected():
    f = make_filter(BASE, P.L2_NORM)
    with pytest.raises(InvalidArgumentError, match=r"L2Norm pooling backward needs x \(in\)"):
        f.apply_backward(None, np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 4)))


def test_bias_gradient_without_bias_is_rejected():
    f = make_filter(BASE, P.AVERAGE_COUNT_EXCLUDE_PADDING)
    with pytest.raises(InvalidArgumentError, match=r"bias_grad was requested but the pooling layer "
                                                   r"has no bias"):
        f.apply_backward(None, None, np.zeros((1, 2, 4, 4)), bias_grad=True)


@pytest.mark.parametrize("geo", [BASE, Geo("dilated", (3, 9, 8), kernel=(3, 2), stride=(2, 3), dilation=(2, 2),
                                         padding="sym")], ids=lambda g: g.id)
def test_max_backward_accepts_exactly_the_indices_inside_their_windows(geo):
    # Every output, one at a time, gets indices from all over (and around) its sample: the fast
    # table tests must agree with the row/column definition on each.
    f = make_filter(geo, P.MAX)
    rng = np.random.default_rng(44)
    x = distinct_values(rng, (1,) + geo.in_chw)
    y, idx = f.apply(x, want_indices=True)
    c, h, w = geo.in_chw
    (up, left), _ = geo.pads
    rows = np.arange(y.shape[2]) * geo.stride[0] - up         # input row of each window's tap 0
    cols = np.arange(y.shape[3]) * geo.stride[1] - left
    (kh, kw), (dh, dw) = geo.kernel, geo.dilation
    for where in [(0, ch, i, j) for ch in range(c) for i in range(y.shape[2]) for j in range(y.shape[3])]:
        for value in rng.integers(-3, c * h * w + 3, 12):
            bad = idx.copy()
            bad[where] = value
            ch, i, j = where[1:]
            r, q = divmod(int(value) - ch * h * w, w)
            inside = (0 <= int(value) - ch * h * w < h * w and 0 <= r - rows[i] <= (kh - 1) * dh
                      and (r - rows[i]) % dh == 0 and 0 <= q - cols[j] <= (kw - 1) * dw and (q - cols[j]) % dw == 0)
            if inside:
                f.apply_backward(x, y, np.ones_like(y), indices=bad)
            else:
                with pytest.raises(InvalidArgumentError, match="does not name an input"):
                    f.apply_backward(x, y, np.ones_like(y), indices=bad)
