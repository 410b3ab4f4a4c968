"""Tests for bnns.kernels.convolution: convolution, transposed convolution, fully connected.

Semantics checked (bnns.md 1.1, 1.2, 2.1, 6 items 1-5, 11, 14): cross-correlation without a kernel
flip over the zero-padded input, floor output sizes with dilation, x_padding / y_padding
symmetric and pad = (left, right, up, down) used only when both are 0, groups, the three weight
layouts, bias and a fused activation whose derivative comes from y, sums over the batch for the
weight and bias gradients, fully connected as row-major O x I on the input flattened in memory
order, and transposed convolution as the adjoint of convolution (PyTorch's conv_transpose2d,
see the module's Notes).

CONV_CASES is a pairwise covering table over stride x dilation x groups x padding kind x bias x
activation: every value of every option meets every value of every other option in at least one
row (test_conv_case_table_covers_every_pair keeps it so). Each row is checked forward against
explicit loops (naive_conv) and backward against central finite differences in float64.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Callable, Tuple

import numpy as np
import pytest

from bnns.kernels import activation as act_mod
from bnns.kernels import convolution as conv_mod
from bnns.kernels.activation import Activation
from bnns.kernels.convolution import ConvGeometry, ConvolutionFilter, FullyConnectedFilter, TransposedConvolutionFilter, conv2d, conv2d_backward_input, conv2d_backward_weights, linear
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.layout import (
    DTYPE_FLOAT16, LAYOUT_2D_FIRST_MAJOR, LAYOUT_2D_LAST_MAJOR, LAYOUT_3D_LAST_MAJOR,
    LAYOUT_COLUMN_MAJOR_MATRIX, LAYOUT_CONV_WEIGHTS_IOHRWR, LAYOUT_CONV_WEIGHTS_OIHRWR,
    LAYOUT_CONV_WEIGHTS_OIHW, LAYOUT_CONV_WEIGHTS_OIHW_PACK32, LAYOUT_IMAGE_CHW,
    LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_VECTOR, Descriptor, read_batch)
from bnns.kernels.params import ConvolutionParameters, FullyConnectedParameters
from tests.numeric import assert_gradient_matches, projection

N = 2   # batch of every table case: two items catch a batch mixed into another or not summed


# ============================================================================ tolerances
@dataclasses.dataclass(frozen=True)
class Tol:
    rtol: float
    atol: float
    reason: str


FLOAT32_VS_FLOAT64 = Tol(2e-5, 2e-5, "float32 kernel against float64 loops: sums of at most "
                                     "4 channels x 9 taps of O(1) products, eps32 = 1.2e-7")
FINITE_DIFFERENCES = Tol(1e-6, 1e-7, "central differences in float64 with eps 1e-6: truncation "
                                     "~eps^2, rounding ~1e-16 / eps relative to O(10) sums")
SAME_MATH = Tol(1e-12, 1e-12, "float64 both sides, the same sums in another order")
FLOAT32_SAME_MATH = Tol(1e-6, 1e-6, "float32 both sides, the same sums in another order")
FLOAT16_WEIGHTS = Tol(5e-3, 5e-3, "float16 weights carry a relative error up to 2**-11 = 4.9e-4 "
                                  "each; 36-term sums of O(1) products")
HAND = Tol(1e-6, 1e-6, "hand-computed decimals against float32 arithmetic")


def assert_close(actual, expected, tol: Tol):
    np.testing.assert_allclose(actual, expected, rtol=tol.rtol, atol=tol.atol, err_msg=tol.reason)


# ============================================================================ activations
# Independent elementwise references (NumPy float64), not the kernel's activation table.
ACTS: dict[str, Tuple[Activation, Callable]] = {
    "identity": (Activation(act_mod.IDENTITY), lambda z: z),
    "relu": (Activation(act_mod.RECTIFIED_LINEAR), lambda z: np.where(z > 0, z, 0.0)),
    "sigmoid": (Activation(act_mod.SIGMOID), lambda z: 1 / (1 + np.exp(-z))),
    "tanh": (Activation(act_mod.TANH), np.tanh),
    "leaky": (Activation(act_mod.LEAKY_RECTIFIED_LINEAR, 0.1), lambda z: np.where(z >= 0, z, 0.1 * z)),
    "clamp": (Activation(act_mod.CLAMP, -0.5, 0.5), lambda z: np.minimum(np.maximum(z, -0.5), 0.5)),
    "elu": (Activation(act_mod.ELU, 1.0), lambda z: np.where(z < 0, np.exp(np.minimum(z, 0)) - 1, z)),
    "linear": (Activation(act_mod.LINEAR, 0.5), lambda z: 0.5 * z),
}


# ============================================================================ the case table
@dataclasses.dataclass(frozen=True)
class Padding:
    """A BNNS padding spec and the (top, bottom, left, right) it means."""

    kind: str
    x_padding: int
    y_padding: int
    pad: Tuple[int, ...]
    effective: Tuple[int, int, int, int]


NO_PAD = Padding("none", 0, 0, (0, 0, 0, 0), (0, 0, 0, 0))
SYMMETRIC = Padding("sym", 1, 2, (0, 0, 0, 0), (2, 2, 1, 1))
# pad = (left 2, right 0, up 3, down 1): all four different, so a swapped pair shows. up 3 exceeds
# the 2-row kernels, so whole output rows lie in the padding.
ASYMMETRIC = Padding("asym", 0, 0, (2, 0, 3, 1), (3, 1, 2, 0))
# x_padding set: pad is ignored entirely, and y gets no padding (y_padding 0).
PAD_IGNORED = Padding("xpad-ignores-pad", 1, 0, (3, 2, 3, 2), (0, 0, 1, 1))
PADDINGS = (NO_PAD, SYMMETRIC, ASYMMETRIC, PAD_IGNORED)

STRIDES = {"s1": (1, 1), "s2": (2, 2), "sx2": (2, 1), "sy2": (1, 2)}     # (x_stride, y_stride)

# (C_in, C_out, H, W, kH, kW): even channel counts so that groups 2 divide them.
SHAPE_A = (2, 4, 7, 6, 3, 3)
SHAPE_B = (4, 2, 6, 7, 2, 3)
SHAPE_C = (4, 4, 5, 6, 3, 2)
SHAPE_D = (2, 2, 7, 5, 2, 2)


@dataclasses.dataclass(frozen=True)
class ConvCase:
    id: str
    stride: str
    dilation: int
    groups: int
    padding: Padding
    bias: bool
    act: str
    shape: Tuple[int, int, int, int, int, int]
    forward_tol: Tol = FLOAT32_VS_FLOAT64
    grad_tol: Tol = FINITE_DIFFERENCES

    @property
    def c_in(self):
        return self.shape[0]

    @property
    def c_out(self):
        return self.shape[1]

    @property
    def hw(self):
        return self.shape[2], self.shape[3]

    @property
    def k(self):
        return self.shape[4], self.shape[5]

    @property
    def sxy(self):
        return STRIDES[self.stride]

    def output_hw(self):
        """Floor rule with the effective (dilated) kernel, written out here independently."""
        top, bottom, left, right = self.padding.effective
        (h, w), (kh, kw), (sx, sy), d = self.hw, self.k, self.sxy, self.dilation
        return ((h + top + bottom - ((kh - 1) * d + 1)) // sy + 1,
                (w + left + right - ((kw - 1) * d + 1)) // sx + 1)


def _case(stride, dilation, groups, padding, bias, act, shape):
    cid = f"{stride}-d{dilation}-g{groups}-{padding.kind}-{'bias' if bias else 'nobias'}-{act}"
    return ConvCase(cid, stride, dilation, groups, padding, bias, act, shape)


CONV_CASES = [
    _case("sx2", 1, 1, NO_PAD, False, "identity", SHAPE_A),
    _case("s2", 2, 2, SYMMETRIC, True, "identity", SHAPE_B),
    _case("sy2", 1, 2, ASYMMETRIC, True, "identity", SHAPE_C),
    _case("s1", 2, 1, PAD_IGNORED, False, "identity", SHAPE_D),
    _case("sy2", 2, 2, NO_PAD, False, "relu", SHAPE_A),
    _case("s1", 1, 1, SYMMETRIC, True, "relu", SHAPE_B),
    _case("s2", 1, 1, ASYMMETRIC, False, "relu", SHAPE_C),
    _case("sx2", 2, 2, PAD_IGNORED, True, "relu", SHAPE_D),
    _case("s1", 1, 2, NO_PAD, True, "sigmoid", SHAPE_B),
    _case("sy2", 2, 1, SYMMETRIC, False, "sigmoid", SHAPE_C),
    _case("sx2", 2, 1, ASYMMETRIC, True, "sigmoid", SHAPE_D),
    _case("s2", 1, 1, PAD_IGNORED, True, "sigmoid", SHAPE_A),
    _case("s2", 1, 1, NO_PAD, False, "tanh", SHAPE_C),
    _case("sx2", 2, 2, SYMMETRIC, True, "tanh", SHAPE_D),
    _case("s1", 1, 1, ASYMMETRIC, True, "tanh", SHAPE_A),
    _case("sy2", 2, 1, PAD_IGNORED, True, "tanh", SHAPE_B),
    _case("s2", 2, 1, NO_PAD, False, "leaky", SHAPE_D),
    _case("s1", 1, 2, SYMMETRIC, True, "leaky", SHAPE_A),
    _case("sx2", 2, 2, ASYMMETRIC, False, "leaky", SHAPE_B),
    _case("sy2", 1, 2, PAD_IGNORED, False, "leaky", SHAPE_C),
    _case("sx2", 2, 1, NO_PAD, True, "clamp", SHAPE_A),
    _case("s1", 1, 2, SYMMETRIC, False, "clamp", SHAPE_B),
    _case("sy2", 1, 1, ASYMMETRIC, False, "clamp", SHAPE_C),
    _case("s2", 2, 1, PAD_IGNORED, False, "clamp", SHAPE_D),
    _case("sx2", 2, 2, NO_PAD, False, "elu", SHAPE_B),
    _case("s2", 1, 1, SYMMETRIC, True, "elu", SHAPE_C),
    _case("sy2", 2, 1, ASYMMETRIC, True, "elu", SHAPE_D),
    _case("s1", 1, 1, PAD_IGNORED, True, "elu", SHAPE_A),
    _case("sy2", 1, 1, NO_PAD, True, "linear", SHAPE_C),
    _case("s1", 2, 2, SYMMETRIC, False, "linear", SHAPE_D),
    _case("sx2", 1, 2, ASYMMETRIC, True, "linear", SHAPE_A),
    _case("s2", 2, 1, PAD_IGNORED, False, "linear", SHAPE_B),
]
CONV_PARAMS = [pytest.param(c, id=c.id) for c in CONV_CASES]
CONV_BY_ID = {c.id: c for c in CONV_CASES}


# ============================================================================ references
def pad_zeros(x, padding):
    top, bottom, left, right = padding
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + top + bottom, w + left + right))
    xp[:, :, top:top + h, left:left + w] = x
    return xp


def naive_conv(x, w, b, case: ConvCase):
    """Explicit loops over n, o, i, j, c, u, v on a zero-padded float64 copy (bnns.md 6.1)."""
    (sx, sy), d, g = case.sxy, case.dilation, case.groups
    ho, wo = case.output_hw()
    xp = pad_zeros(np.asarray(x, np.float64), case.padding.effective).tolist()
    wl = np.asarray(w, np.float64).tolist()
    n_out, kh, kw = case.c_out, case.k[0], case.k[1]
    cg, og = case.c_in // g, case.c_out // g
    out = np.zeros((x.shape[0], n_out, ho, wo))
    for n in range(x.shape[0]):
        for o in range(n_out):
            first = (o // og) * cg          # first input channel of o's group
            for i in range(ho):
                for j in range(wo):
                    s = float(b[o]) if b is not None else 0.0
                    for c in range(cg):
                        for u in range(kh):
                            for v in range(kw):
                                s += wl[o][c][u][v] * xp[n][first + c][i * sy + u * d][j * sx + v * d]
                    out[n, o, i, j] = s
    return ACTS[case.act][1](out)


def tap_conv(x, w, b, case: ConvCase):
    """The same sum vectorized over (n, i, j): loops over groups and taps only, float64.

    Fast enough to be the function under finite differences for the weights and the bias;
    test_tap_reference_matches_naive_loops ties it to naive_conv.
    """
    (sx, sy), d, g = case.sxy, case.dilation, case.groups
    ho, wo = case.output_hw()
    xp = pad_zeros(np.asarray(x, np.float64), case.padding.effective)
    cg, og = case.c_in // g, case.c_out // g
    z = np.zeros((x.shape[0], case.c_out, ho, wo))
    for gi in range(g):
        for u in range(case.k[0]):
            for v in range(case.k[1]):
                patch = xp[:, gi * cg:(gi + 1) * cg, u * d:u * d + (ho - 1) * sy + 1:sy,
                           v * d:v * d + (wo - 1) * sx + 1:sx]
                z[:, gi * og:(gi + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[gi * og:(gi + 1) * og, :, u, v])
    if b is not None:
        z = z + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return ACTS[case.act][1](z)


# ============================================================================ builders
def image_desc(c, h, w, stride=()):
    return Descriptor(LAYOUT_IMAGE_CHW, (w, h, c), tuple(stride))


def weights_desc(w_logical, layout=LAYOUT_CONV_WEIGHTS_OIHW, data_type=None):
    """A weights descriptor holding logical OIHW weights in the given BNNS layout."""
    storage = to_layout(np.asarray(w_logical), layout)
    if data_type is None:
        return Descriptor.for_shape(layout, storage.shape, storage)
    return Descriptor.for_shape(layout, storage.shape, storage, data_type=data_type)


def to_layout(w_logical, layout):
    """OIHW (O, I, kH, kW) -> the NumPy array of the layout (bnns.md 1.2): OIHrWr rotates the
    kernel 180 degrees; IOHrWr also swaps O and I (size (kW, kH, Cout, Cin))."""
    if layout == LAYOUT_CONV_WEIGHTS_OIHRWR:
        return np.ascontiguousarray(w_logical[:, :, ::-1, ::-1])
    if layout == LAYOUT_CONV_WEIGHTS_IOHRWR:
        return np.ascontiguousarray(w_logical.swapaxes(0, 1)[:, :, ::-1, ::-1])
    return np.ascontiguousarray(w_logical)


def vector_desc(values):
    return Descriptor.for_shape(LAYOUT_VECTOR, (len(values),), np.asarray(values, np.float32))


def conv_params(case: ConvCase, w, b, layout=LAYOUT_CONV_WEIGHTS_OIHW, **overrides) -> ConvolutionParameters:
    ho, wo = case.output_hw()
    (sx, sy) = case.sxy
    fields = dict(
        i_desc=image_desc(case.c_in, *case.hw), w_desc=weights_desc(w, layout),
        o_desc=image_desc(case.c_out, ho, wo), bias=vector_desc(b) if b is not None else None,
        activation=ACTS[case.act][0], x_stride=sx, y_stride=sy, x_dilation_stride=case.dilation,
        y_dilation_stride=case.dilation, x_padding=case.padding.x_padding,
        y_padding=case.padding.y_padding, groups=case.groups, pad=case.padding.pad)
    fields.update(overrides)
    return ConvolutionParameters(**fields)


def sample_conv(case: ConvCase, seed: int):
    """x (float64), weights (float32 values, OIHW) and bias (float32 or None) for a case.

    Weights ~ N(0, 0.5^2) keep pre-activations O(1), on both sides of every activation's kinks
    and bends.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, case.c_in) + case.hw)
    w = (0.5 * rng.standard_normal((case.c_out, case.c_in // case.groups) + case.k)).astype(np.float32)
    b = (0.5 * rng.standard_normal(case.c_out)).astype(np.float32) if case.bias else None
    return rng, x, w, b


# ============================================================================ 1. forward
def test_conv_case_table_covers_every_pair():
    options: dict[str, set] = {
        "stride": set(STRIDES), "dilation": {1, 2}, "groups": {1, 2},
        "padding": {p.kind for p in PADDINGS}, "bias": {True, False}, "act": set(ACTS)}
    rows = [dict(stride=c.stride, dilation=c.dilation, groups=c.groups, padding=c.padding.kind,
                 bias=c.bias, act=c.act) for c in CONV_CASES]
    for a, b in itertools.combinations(options, 2):
        seen = {(r[a], r[b]) for r in rows}
        missing = set(itertools.product(options[a], options[b])) - seen
        assert not missing, f"no case has ({a}, {b}) in {sorted(missing, key=str)}"


@pytest.mark.parametrize("case", CONV_PARAMS)
def test_tap_reference_matches_naive_loops(case):
    _, x, w, b = sample_conv(case, seed=11)
    assert_close(tap_conv(x, w, b, case), naive_conv(x, w, b, case), SAME_MATH)


@pytest.mark.parametrize("case", CONV_PARAMS)
def test_conv_forward_matches_naive_loops(case):
    _, x, w, b = sample_conv(case, seed=1)
    x32 = x.astype(np.float32)
    y = ConvolutionFilter(conv_params(case, w, b)).apply(x32)
    assert y.dtype == np.float32
    assert y.shape == (N, case.c_out) + case.output_hw()
    assert_close(y, naive_conv(x32, w, b, case), case.forward_tol)


# ============================================================================ 2. backward
@pytest.mark.parametrize("case", CONV_PARAMS)
def test_conv_backward_matches_finite_differences(case):
    rng, x, w, b = sample_conv(case, seed=2)
    filt = ConvolutionFilter(conv_params(case, w, b))
    y = filt.apply(x)
    proj = projection(rng, y.shape)
    d_in, d_w, d_b = filt.apply_backward(x, y, proj, input_grad=True, weights_grad=True, bias_grad=case.bias)
    tol = case.grad_tol
    assert_gradient_matches(d_in, lambda xx: np.sum(proj * filt.apply(xx)), x, rtol=tol.rtol, atol=tol.atol)
    assert_gradient_matches(d_w, lambda ww: np.sum(proj * tap_conv(x, ww, b, case)), w.astype(np.float64),
                            rtol=tol.rtol, atol=tol.atol)
    if case.bias:
        assert_gradient_matches(d_b, lambda bb: np.sum(proj * tap_conv(x, w, bb, case)), b.astype(np.float64),
                                rtol=tol.rtol, atol=tol.atol)
    else:
        assert d_b is None


def test_conv_backward_returns_none_for_what_was_not_asked():
    case = CONV_BY_ID["s2-d2-g2-sym-bias-identity"]
    rng, x, w, b = sample_conv(case, seed=3)
    filt = ConvolutionFilter(conv_params(case, w, b))
    y = filt.apply(x)
    assert filt.apply_backward(x, y, np.ones_like(y), input_grad=False) == (None, None, None)


# Two cases with strides, groups, bias and an activation from y: the batch stride and padded
# rows must change where items are read, never the numbers.
STRIDED_BUFFER_CASES = [pytest.param(CONV_BY_ID[i], id=i) for i in ("sx2-d2-g2-sym-bias-tanh", "s1-d1-g2-sym-bias-leaky")]


def strided_buffer(batch: np.ndarray, desc: Descriptor, batch_stride: int, fill=np.nan) -> np.ndarray:
    """A flat float32 buffer holding ``batch`` (N, C, H, W) as BNNS reads it: item b at
    b * batch_stride, elements at desc's strides; every gap holds ``fill``."""
    flat = np.full(batch.shape[0] * batch_stride, fill, dtype=np.float32)
    strides = desc.numpy_strides
    for index in np.ndindex(batch.shape):
        flat[index[0] * batch_stride + sum(i * s for i, s in zip(index[1:], strides))] = batch[index]
    return flat


@pytest.mark.parametrize("case", STRIDED_BUFFER_CASES)
def test_conv_batch_stride_and_padded_rows_give_the_packed_numbers(case):
    rng, x, w, b = sample_conv(case, seed=4)
    x = x.astype(np.float32)
    c, (h, wd), (ho, wo) = case.c_in, case.hw, case.output_hw()
    i_strided = image_desc(c, h, wd, stride=(1, wd + 3, (wd + 3) * (h + 1)))     # padded rows and planes
    o_strided = image_desc(case.c_out, ho, wo, stride=(1, wo + 2, 0))
    packed = ConvolutionFilter(conv_params(case, w, b))
    strided = ConvolutionFilter(conv_params(case, w, b, i_desc=i_strided, o_desc=o_strided))
    x_view = read_batch(strided_buffer(x, i_strided, i_strided.span + 5), i_strided, N, i_strided.span + 5)
    y = packed.apply(x)
    d_out = projection(rng, y.shape).astype(np.float32)
    d_out_view = read_batch(strided_buffer(d_out, o_strided, o_strided.span + 1), o_strided, N, o_strided.span + 1)
    y_view = strided.apply(x_view)
    assert_close(y_view, y, FLOAT32_SAME_MATH)
    got = strided.apply_backward(x_view, y_view, d_out_view, weights_grad=True, bias_grad=True)
    want = packed.apply_backward(x, y, d_out, weights_grad=True, bias_grad=True)
    for g, e in zip(got, want):
        assert_close(g, e, FLOAT32_SAME_MATH)


# x_stride 1 (extended rows, with and without y stride) and x_stride 2 (plain columns).
CHUNK_CASES = [pytest.param(CONV_BY_ID[i], id=i) for i in (
    "s1-d2-g1-xpad-ignores-pad-nobias-identity", "sy2-d2-g1-sym-nobias-sigmoid", "sx2-d2-g2-asym-nobias-leaky")]


@pytest.mark.parametrize("samples_per_chunk", [1, 2])
@pytest.mark.parametrize("case", CHUNK_CASES)
def test_conv_split_into_column_chunks_gives_the_one_chunk_numbers(case, samples_per_chunk, monkeypatch):
    # Three samples in chunks of 1 or 2 (the last chunk shorter): forward and both gradients
    # must not depend on how the batch is cut. Per-sample column bytes as the module's Notes
    # describe them: C kH kW H_out rows of the padded width when x_stride is 1, of W_out otherwise.
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3, case.c_in) + case.hw)
    w = (0.5 * rng.standard_normal((case.c_out, case.c_in // case.groups) + case.k)).astype(np.float32)
    b = np.zeros(case.c_out, np.float32)
    filt = ConvolutionFilter(conv_params(case, w, b))
    y = filt.apply(x)
    d_out = projection(rng, y.shape)
    want = filt.apply_backward(x, y, d_out, weights_grad=True, bias_grad=True)
    ho, wo = case.output_hw()
    top, bottom, left, right = case.padding.effective
    row = case.hw[1] + left + right if case.sxy[0] == 1 else wo
    per_sample = case.c_in * case.k[0] * case.k[1] * ho * row * x.itemsize
    monkeypatch.setattr(conv_mod, "_COLUMN_CHUNK_BYTES", samples_per_chunk * per_sample)
    assert_close(filt.apply(x), y, SAME_MATH)
    for got, expected in zip(filt.apply_backward(x, y, d_out, weights_grad=True, bias_grad=True), want):
        assert_close(got, expected, SAME_MATH)


def test_bias_descriptor_without_data_means_no_bias():
    case = CONV_BY_ID["s1-d1-g1-sym-bias-relu"]
    _, x, w, b = sample_conv(case, seed=22)
    no_data = ConvolutionFilter(conv_params(case, w, None, bias=Descriptor(LAYOUT_VECTOR, (case.c_out,))))
    assert_close(no_data.apply(x), tap_conv(x, w, None, case), SAME_MATH)


def test_dilation_and_groups_below_two_are_ignored():
    # bnns.md 2.1: "dilation ignored if <= 1; groups ignored if <= 1".
    case = CONV_BY_ID["s1-d1-g1-sym-bias-relu"]
    _, x, w, b = sample_conv(case, seed=23)
    zeros = ConvolutionFilter(conv_params(case, w, b, x_dilation_stride=0, y_dilation_stride=0, groups=0))
    assert_close(zeros.apply(x), ConvolutionFilter(conv_params(case, w, b)).apply(x), SAME_MATH)


# ============================================================================ 3. weight layouts
LAYOUT_CASES = [
    pytest.param(ConvolutionFilter, CONV_BY_ID["s2-d1-g1-asym-nobias-relu"], id="conv-s2-asym-relu"),
    pytest.param(ConvolutionFilter, CONV_BY_ID["sy2-d2-g1-sym-nobias-sigmoid"], id="conv-sy2-d2-sym-sigmoid"),
    pytest.param(TransposedConvolutionFilter, None, id="transposed"),
]
WEIGHT_LAYOUTS = [LAYOUT_CONV_WEIGHTS_OIHW, LAYOUT_CONV_WEIGHTS_OIHRWR, LAYOUT_CONV_WEIGHTS_IOHRWR]


@pytest.mark.parametrize("cls, case", LAYOUT_CASES)
def test_weight_layouts_give_the_same_output_and_gradients_in_their_own_layout(cls, case):
    if cls is TransposedConvolutionFilter:
        case = TCONV_BY_ID["s2-sym-extra1-relu"]
        rng, x, w, b = sample_tconv(case, seed=5)
        filters = {layout: cls(tconv_params(case, w, b, layout)) for layout in WEIGHT_LAYOUTS}
    else:
        rng, x, w, b = sample_conv(case, seed=5)
        filters = {layout: cls(conv_params(case, w, b, layout)) for layout in WEIGHT_LAYOUTS}
    y_ref = filters[LAYOUT_CONV_WEIGHTS_OIHW].apply(x)
    d_out = projection(rng, y_ref.shape)
    dx_ref, dw_ref, _ = filters[LAYOUT_CONV_WEIGHTS_OIHW].apply_backward(x, y_ref, d_out, weights_grad=True)
    for layout, filt in filters.items():
        y = filt.apply(x)
        assert_close(y, y_ref, SAME_MATH)
        dx, dw, _ = filt.apply_backward(x, y, d_out, weights_grad=True)
        assert_close(dx, dx_ref, SAME_MATH)
        assert dw.shape == to_layout(w, layout).shape
        assert_close(dw, to_layout(dw_ref, layout), SAME_MATH)


def test_iohrwr_weights_descriptor_size_is_kw_kh_cout_cin():
    # (C_in 3, C_out 2): IOHrWr size (kW, kH, Cout, Cin) = (3, 2, 2, 3) is accepted as is.
    w = np.arange(2 * 3 * 2 * 3, dtype=np.float32).reshape(2, 3, 2, 3)
    desc = weights_desc(w, LAYOUT_CONV_WEIGHTS_IOHRWR)
    assert desc.size == (3, 2, 2, 3)
    case = ConvCase("iohrwr", "s1", 1, 1, NO_PAD, False, "identity", (3, 2, 4, 5, 2, 3))
    x = np.random.default_rng(6).standard_normal((N, 3, 4, 5))
    y = ConvolutionFilter(conv_params(case, w, None, LAYOUT_CONV_WEIGHTS_IOHRWR)).apply(x)
    assert_close(y, naive_conv(x, w, None, case), SAME_MATH)


# ============================================================================ 4. transposed convolution
@dataclasses.dataclass(frozen=True)
class TConvCase:
    """A transposed convolution: i_desc (C_in, H, W) -> o_desc (C_out, H_out, W_out)."""

    id: str
    stride: Tuple[int, int]             # (x_stride, y_stride)
    dilation: Tuple[int, int]           # (x, y)
    padding: Padding
    extra: Tuple[int, int]              # (x, y) rows/columns beyond the base size, < stride
    bias: bool
    act: str
    shape: Tuple[int, int, int, int, int, int]     # C_in, C_out, H, W, kH, kW
    grad_tol: Tol = FINITE_DIFFERENCES
    forward_tol: Tol = FLOAT32_VS_FLOAT64

    def base_hw(self):
        """(H - 1) s - top - bottom + (k - 1) d + 1 (PyTorch's rule without output_padding)."""
        top, bottom, left, right = self.padding.effective
        _, _, h, w, kh, kw = self.shape
        (sx, sy), (dx, dy) = self.stride, self.dilation
        return (h - 1) * sy - top - bottom + (kh - 1) * dy + 1, (w - 1) * sx - left - right + (kw - 1) * dx + 1

    def output_hw(self):
        bh, bw = self.base_hw()
        return bh + self.extra[1], bw + self.extra[0]

    def as_conv_case(self) -> ConvCase:
        """The convolution this one is the adjoint of: o_desc -> i_desc, weights W^T."""
        c_in, c_out, _, _, kh, kw = self.shape
        stride = next(k for k, v in STRIDES.items() if v == self.stride)
        return ConvCase(self.id, stride, self.dilation[0], 1, self.padding, False, "identity",
                        (c_out, c_in) + self.output_hw() + (kh, kw))


TCONV_CASES = [
    TConvCase("s1-nopad", (1, 1), (1, 1), NO_PAD, (0, 0), True, "identity", (3, 2, 4, 5, 3, 3)),
    # up 3 > kH - 1 = 2: the stride-1 adjoint runs with negative padding (a crop).
    TConvCase("s1-asym-clamp", (1, 1), (1, 1), ASYMMETRIC, (0, 0), True, "clamp", (2, 3, 5, 5, 3, 3)),
    TConvCase("s2-sym-extra1-relu", (2, 2), (1, 1), SYMMETRIC, (1, 1), True, "relu", (2, 3, 4, 3, 3, 3)),
    TConvCase("sx2-d2-asym-tanh", (2, 1), (2, 2), ASYMMETRIC, (1, 0), False, "tanh", (2, 2, 4, 4, 2, 3)),
    TConvCase("sy2-d2-padignored-extra-y-sigmoid", (1, 2), (2, 2), PAD_IGNORED, (0, 1), True, "sigmoid",
              (3, 2, 3, 4, 2, 2)),
    TConvCase("s2-s1pad-elu", (2, 2), (1, 1), SYMMETRIC, (0, 1), True, "elu", (2, 2, 3, 4, 3, 2)),
]
TCONV_PARAMS = [pytest.param(c, id=c.id) for c in TCONV_CASES]
TCONV_BY_ID = {c.id: c for c in TCONV_CASES}


def tconv_params(case: TConvCase, w, b, layout=LAYOUT_CONV_WEIGHTS_OIHW, **overrides) -> ConvolutionParameters:
    c_in, c_out, h, wd, _, _ = case.shape
    fields = dict(
        i_desc=image_desc(c_in, h, wd), w_desc=weights_desc(w, layout),
        o_desc=image_desc(c_out, *case.output_hw()), bias=vector_desc(b) if b is not None else None,
        activation=ACTS[case.act][0], x_stride=case.stride[0], y_stride=case.stride[1],
        x_dilation_stride=case.dilation[0], y_dilation_stride=case.dilation[1],
        x_padding=case.padding.x_padding, y_padding=case.padding.y_padding, pad=case.padding.pad)
    fields.update(overrides)
    return ConvolutionParameters(**fields)


def sample_tconv(case: TConvCase, seed: int):
    """x (float64, (N, C_in, H, W)), W (float32 values, (C_out, C_in, kH, kW)), bias or None."""
    rng = np.random.default_rng(seed)
    c_in, c_out, h, w, kh, kw = case.shape
    x = rng.standard_normal((N, c_in, h, w))
    wt = (0.5 * rng.standard_normal((c_out, c_in, kh, kw))).astype(np.float32)
    b = (0.5 * rng.standard_normal(c_out)).astype(np.float32) if case.bias else None
    return rng, x, wt, b


def naive_tconv(x, w, b, case: TConvCase):
    """Explicit scatter loops: every input pixel adds x * W[o, i] at each tap of its window in the
    full (unpadded) output, which is then cropped at (top, left) to the output size. Rows past
    the full output (the extra ones, beyond the bottom padding) get no contribution."""
    top, _, left, _ = case.padding.effective
    c_in, c_out, h, wd, kh, kw = case.shape
    (sx, sy), (dx, dy) = case.stride, case.dilation
    ho, wo = case.output_hw()
    full = np.zeros((x.shape[0], c_out, top + ho + (h - 1) * sy + kh * dy, left + wo + (wd - 1) * sx + kw * dx))
    xl, wl = np.asarray(x, np.float64).tolist(), np.asarray(w, np.float64).tolist()
    for n in range(x.shape[0]):
        for i in range(c_in):
            for p in range(h):
                for q in range(wd):
                    for o in range(c_out):
                        for u in range(kh):
                            for v in range(kw):
                                full[n, o, p * sy + u * dy, q * sx + v * dx] += xl[n][i][p][q] * wl[o][i][u][v]
    z = full[:, :, top:top + ho, left:left + wo]
    if b is not None:
        z = z + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return ACTS[case.act][1](z)


def scatter_tconv(x, w, b, case: TConvCase):
    """naive_tconv vectorized over (n, p, q) with loops over taps: the function under finite
    differences for W and bias (tied to naive_tconv by test_transposed_forward_matches_naive_scatter)."""
    top, _, left, _ = case.padding.effective
    _, c_out, h, wd, kh, kw = case.shape
    (sx, sy), (dx, dy) = case.stride, case.dilation
    ho, wo = case.output_hw()
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    full = np.zeros((x.shape[0], c_out, top + ho + (h - 1) * sy + kh * dy, left + wo + (wd - 1) * sx + kw * dx))
    for u in range(kh):
        for v in range(kw):
            full[:, :, u * dy:u * dy + (h - 1) * sy + 1:sy, v * dx:v * dx + (wd - 1) * sx + 1:sx] += np.einsum(
                "nipq,oi->nopq", x, w[:, :, u, v])
    z = full[:, :, top:top + ho, left:left + wo]
    if b is not None:
        z = z + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return ACTS[case.act][1](z)


@pytest.mark.parametrize("case", TCONV_PARAMS)
def test_transposed_forward_matches_naive_scatter(case):
    _, x, w, b = sample_tconv(case, seed=7)
    x32 = x.astype(np.float32)
    y = TransposedConvolutionFilter(tconv_params(case, w, b)).apply(x32)
    expected = naive_tconv(x32, w, b, case)
    assert y.shape == (N, case.shape[1]) + case.output_hw()
    assert_close(y, expected, case.forward_tol)
    assert_close(scatter_tconv(x32, w, b, case), expected, SAME_MATH)


@pytest.mark.parametrize("case", TCONV_PARAMS)
def test_transposed_forward_is_the_adjoint_of_convolution(case):
    # <tconv_W(x), y> == <x, conv_{W^T}(y)>, W^T[i, o] = W[o, i] (the module's Notes: OIHW data
    # W[o, i] is PyTorch's conv_transpose2d weight[i, o]). Linear parts only: no bias, Identity.
    rng, x, w, _ = sample_tconv(case, seed=8)
    linear_case = dataclasses.replace(case, bias=False, act="identity")
    tconv = TransposedConvolutionFilter(tconv_params(linear_case, w, None))
    conv_case = linear_case.as_conv_case()
    conv = ConvolutionFilter(conv_params(conv_case, np.ascontiguousarray(w.swapaxes(0, 1)), None))
    y = rng.standard_normal((N, case.shape[1]) + case.output_hw())
    assert conv_case.output_hw() == case.shape[2:4]
    assert math.isclose(np.vdot(tconv.apply(x), y), np.vdot(x, conv.apply(y)),
                        rel_tol=SAME_MATH.rtol, abs_tol=SAME_MATH.atol)


@pytest.mark.parametrize("case", TCONV_PARAMS)
def test_transposed_output_size_accepts_exactly_base_to_base_plus_stride_minus_one(case):
    _, x, w, b = sample_tconv(case, seed=9)
    c_out = case.shape[1]
    bh, bw = case.base_hw()
    sx, sy = case.stride
    for extra_y in range(-1, sy + 1):
        for extra_x in range(-1, sx + 1):
            params = tconv_params(case, w, b, o_desc=image_desc(c_out, bh + extra_y, bw + extra_x))
            if 0 <= extra_y < sy and 0 <= extra_x < sx:
                assert TransposedConvolutionFilter(params).apply(x).shape[2:] == (bh + extra_y, bw + extra_x)
            else:
                with pytest.raises(InvalidArgumentError, match=rf"expected width {bw}\.\.{bw + sx - 1} "
                                                               rf"and height {bh}\.\.{bh + sy - 1}"):
                    TransposedConvolutionFilter(params)


@pytest.mark.parametrize("case", TCONV_PARAMS)
def test_transposed_backward_matches_finite_differences(case):
    rng, x, w, b = sample_tconv(case, seed=10)
    filt = TransposedConvolutionFilter(tconv_params(case, w, b))
    y = filt.apply(x)
    proj = projection(rng, y.shape)
    d_in, d_w, d_b = filt.apply_backward(x, y, proj, weights_grad=True, bias_grad=case.bias)
    tol = case.grad_tol
    assert_gradient_matches(d_in, lambda xx: np.sum(proj * filt.apply(xx)), x, rtol=tol.rtol, atol=tol.atol)
    assert_gradient_matches(d_w, lambda ww: np.sum(proj * scatter_tconv(x, ww, b, case)), w.astype(np.float64),
                            rtol=tol.rtol, atol=tol.atol)
    if case.bias:
        assert_gradient_matches(d_b, lambda bb: np.sum(proj * scatter_tconv(x, w, bb, case)),
                                b.astype(np.float64), rtol=tol.rtol, atol=tol.atol)


def test_transposed_convolution_rejects_groups():
    case = TCONV_BY_ID["s1-nopad"]
    _, _, w, b = sample_tconv(case, seed=12)
    with pytest.raises(InvalidArgumentError, match="groups 2: transposed convolution does not support groups"):
        TransposedConvolutionFilter(tconv_params(case, w, b, groups=2))


# ============================================================================ 5. fully connected
def fc_desc_for(w_logical, layout):
    """A matrix descriptor holding logical row-major W (O x I) in ``layout`` (bnns.md 1.2, 6.3)."""
    if layout in (LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_2D_FIRST_MAJOR):
        storage = np.ascontiguousarray(w_logical)                 # W(o, i) at i + o * I
    else:
        storage = np.ascontiguousarray(w_logical.T)               # column-major: W(o, i) at o + i * O
    return Descriptor.for_shape(layout, storage.shape, storage)


def test_fully_connected_hand_case_from_bnns_reference():
    # bnns.md 6.3: weights 0, 0.02, ... as a [9 2] RowMajorMatrix (9 columns = I, 2 rows = O),
    # W(o, i) = 0.02 (i + 9 o); x = 1.0 ... 1.8; bias (0.3, 0.7).
    # y0 = 0.02 sum_i i (1 + 0.1 i) + 0.3 = 0.02 (36 + 20.4) + 0.3 = 1.428
    # y1 = 0.02 sum_i (i + 9)(1 + 0.1 i) + 0.7 = 0.02 (56.4 + 81 + 32.4) + 0.7 = 4.096
    flat = (0.02 * np.arange(18)).astype(np.float32)
    w_desc = Descriptor(LAYOUT_ROW_MAJOR_MATRIX, (9, 2), data=flat)
    filt = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=Descriptor(LAYOUT_VECTOR, (9,)), w_desc=w_desc, o_desc=Descriptor(LAYOUT_VECTOR, (2,)), bias=vector_desc([0.3, 0.7])))
    x = (1.0 + 0.1 * np.arange(9, dtype=np.float32)).reshape(1, 9)
    assert_close(filt.apply(x), [[1.428, 4.096]], HAND)


def test_fully_connected_flattens_chw_input_in_memory_order():
    rng = np.random.default_rng(13)
    c, h, wd, n_out = 2, 3, 4, 5
    x = rng.standard_normal((N, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((n_out, c * h * wd)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    filt = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=image_desc(c, h, wd), w_desc=fc_desc_for(w, LAYOUT_ROW_MAJOR_MATRIX), o_desc=Descriptor(LAYOUT_VECTOR, (n_out,)),
        bias=vector_desc(b)))
    expected = np.zeros((N, n_out))
    for n in range(N):
        for o in range(n_out):
            expected[n, o] = b[o] + sum(float(w[o, xx + wd * (yy + h * cc)]) * float(x[n, cc, yy, xx])
                                        for cc in range(c) for yy in range(h) for xx in range(wd))
    assert_close(filt.apply(x), expected, FLOAT32_VS_FLOAT64)


FC_LAYOUTS = [
    pytest.param(LAYOUT_ROW_MAJOR_MATRIX, id="RowMajorMatrix"),
    pytest.param(LAYOUT_COLUMN_MAJOR_MATRIX, id="ColumnMajorMatrix"),
    pytest.param(LAYOUT_2D_FIRST_MAJOR, id="2DFirstMajor"),
    pytest.param(LAYOUT_2D_LAST_MAJOR, id="2DLastMajor"),
]


@pytest.mark.parametrize("layout", FC_LAYOUTS)
def test_fully_connected_weight_layouts_agree_and_return_gradients_in_their_layout(layout):
    rng = np.random.default_rng(14)
    n_in, n_out = 7, 3
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    x = rng.standard_normal((N, n_in))
    desc = fc_desc_for(w, layout)
    filt = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=Descriptor(LAYOUT_VECTOR, (n_in,)), w_desc=desc, o_desc=Descriptor(LAYOUT_VECTOR, (n_out,))))
    y = filt.apply(x)
    assert_close(y, linear(x, w.astype(np.float64)), SAME_MATH)
    d_out = projection(rng, y.shape)
    _, d_w, _ = filt.apply_backward(x, y, d_out, weights_grad=True)
    d_w_logical = d_out.T @ x                       # dW(o, i) summed over the batch
    expected = d_w_logical if layout in (LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_2D_FIRST_MAJOR) else d_w_logical.T
    assert d_w.shape == desc.shape
    assert_close(d_w, expected, SAME_MATH)


@pytest.mark.parametrize("layout", [pytest.param(LAYOUT_COLUMN_MAJOR_MATRIX, id="ColumnMajorMatrix"),
                                    pytest.param(LAYOUT_2D_LAST_MAJOR, id="2DLastMajor")])
def test_fully_connected_square_column_major_weights_gradient_comes_back_column_major(layout):
    rng = np.random.default_rng(25)
    n = 4                                          # I == O
    w = rng.standard_normal((n, n)).astype(np.float32)
    x = rng.standard_normal((N, n))
    filt = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=Descriptor(LAYOUT_VECTOR, (n,)), w_desc=fc_desc_for(w, layout), o_desc=Descriptor(LAYOUT_VECTOR, (n,))))
    y = filt.apply(x)
    assert_close(y, x @ w.T.astype(np.float64), SAME_MATH)
    d_out = projection(rng, y.shape)
    _, d_w, _ = filt.apply_backward(x, y, d_out, weights_grad=True)
    assert_close(d_w, (d_out.T @ x).T, SAME_MATH)


def test_fully_connected_multidimensional_output_recomputes_the_preactivation_with_its_bias():
    rng = np.random.default_rng(26)
    n_in = 6
    w = (0.5 * rng.standard_normal((4, n_in))).astype(np.float32)
    b = (0.5 * rng.standard_normal(4)).astype(np.float32)
    filt = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=Descriptor(LAYOUT_VECTOR, (n_in,)), w_desc=fc_desc_for(w, LAYOUT_ROW_MAJOR_MATRIX), o_desc=image_desc(1, 2, 2),
        bias=vector_desc(b), activation=ACTS["tanh"][0]))
    x = rng.standard_normal((N, n_in))
    proj = projection(rng, (N, 1, 2, 2))
    d_in, _, d_b = filt.apply_backward(x, None, proj, bias_grad=True)
    tol = FINITE_DIFFERENCES
    assert_gradient_matches(d_in, lambda xx: np.sum(proj * filt.apply(xx)), x, rtol=tol.rtol, atol=tol.atol)
    assert_gradient_matches(d_b, lambda bb: np.sum(proj.reshape(N, -1) * np.tanh(x @ w.T + bb)),
                            b.astype(np.float64), rtol=tol.rtol, atol=tol.atol)


FC_BACKWARD_CASES = [
    pytest.param(LAYOUT_ROW_MAJOR_MATRIX, "tanh", id="RowMajor-tanh"),
    pytest.param(LAYOUT_COLUMN_MAJOR_MATRIX, "sigmoid", id="ColumnMajor-sigmoid"),
    pytest.param(LAYOUT_2D_FIRST_MAJOR, "leaky", id="2DFirstMajor-leaky"),
    pytest.param(LAYOUT_2D_LAST_MAJOR, "elu", id="2DLastMajor-elu"),
]


@pytest.mark.parametrize("layout, act", FC_BACKWARD_CASES)
def test_fully_connected_backward_matches_finite_differences(layout, act):
    rng = np.random.default_rng(15)
    c, h, wd, n_out = 2, 2, 3, 4
    x = rng.standard_normal((N, c, h, wd))
    w = (0.5 * rng.standard_normal((n_out, c * h * wd))).astype(np.float32)
    b = (0.5 * rng.standard_normal(n_out)).astype(np.float32)
    desc = fc_desc_for(w, layout)
    storage = desc.tensor().astype(np.float64)
    row_major = layout in (LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_2D_FIRST_MAJOR)
    filt = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=image_desc(c, h, wd), w_desc=desc, o_desc=Descriptor(LAYOUT_VECTOR, (n_out,)), bias=vector_desc(b), activation=ACTS[act][0]))
    y = filt.apply(x)
    proj = projection(rng, y.shape)
    d_in, d_w, d_b = filt.apply_backward(x, y, proj, weights_grad=True, bias_grad=True)

    def loss(s, bb):
        wl = s if row_major else s.T
        return np.sum(proj * ACTS[act][1](x.reshape(N, -1) @ wl.T + bb))

    tol = FINITE_DIFFERENCES
    assert d_in.shape == x.shape
    assert_gradient_matches(d_in, lambda xx: np.sum(proj * filt.apply(xx)), x, rtol=tol.rtol, atol=tol.atol)
    assert_gradient_matches(d_w, lambda s: loss(s, b), storage, rtol=tol.rtol, atol=tol.atol)
    assert_gradient_matches(d_b, lambda bb: loss(storage, bb), b.astype(np.float64), rtol=tol.rtol, atol=tol.atol)


# ============================================================================ 6. hand cases
HAND_X = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)     # [[1 2 3] [4 5 6] [7 8 9]]
HAND_K = np.array([[1, 2], [3, 4]], dtype=np.float32).reshape(1, 1, 2, 2)

HAND_CASES = [
    # No flip: y[i, j] = 1 x[i, j] + 2 x[i, j+1] + 3 x[i+1, j] + 4 x[i+1, j+1] + 0.5
    #   y[0,0] = 1 + 4 + 12 + 20 + .5 = 37.5   y[0,1] = 2 + 6 + 15 + 24 + .5 = 47.5
    #   y[1,0] = 4 + 10 + 21 + 32 + .5 = 67.5  y[1,1] = 5 + 12 + 24 + 36 + .5 = 77.5
    # (a flipped kernel would give 23.5 at [0,0]).
    pytest.param(dict(), [[37.5, 47.5], [67.5, 77.5]], id="3x3-k2x2-s1-nopad"),
    # Padding 1 makes the input 5x5 with x at rows/cols 1..3; stride 2 gives floor(3/2)+1 = 2:
    #   y[0,0]: window rows 0-1, cols 0-1 holds only x[0,0] = 1 at tap (1,1): 4*1 + .5 = 4.5
    #   y[0,1]: rows 0-1, cols 2-3: x[0,1] = 2, x[0,2] = 3 at taps (1,0), (1,1): 6 + 12 + .5 = 18.5
    #   y[1,0]: rows 2-3, cols 0-1: x[1,0] = 4, x[2,0] = 7 at taps (0,1), (1,1): 8 + 28 + .5 = 36.5
    #   y[1,1]: rows 2-3, cols 2-3: x[1,1], x[1,2], x[2,1], x[2,2] = 5 6 8 9: 5+12+24+36+.5 = 77.5
    pytest.param(dict(x_padding=1, y_padding=1, x_stride=2, y_stride=2), [[4.5, 18.5], [36.5, 77.5]],
                 id="3x3-k2x2-s2-pad1"),
]


@pytest.mark.parametrize("options, expected", HAND_CASES)
def test_conv_hand_case(options, expected):
    expected = np.array(expected, dtype=np.float32).reshape(1, 1, 2, 2)
    filt = ConvolutionFilter(ConvolutionParameters(
        i_desc=image_desc(1, 3, 3), w_desc=weights_desc(HAND_K), o_desc=image_desc(1, 2, 2), bias=vector_desc([0.5]), **options))
    assert_close(filt.apply(HAND_X), expected, HAND)


# ============================================================================ 7. errors
# Base for the error inputs: 4 -> 4 channels, H 6 x W 7, 3x3 kernel, output H 4 x W 5
# (non-square, so a swapped (W, H) in a message shows).
ERR_CASE = ConvCase("err", "s1", 1, 1, NO_PAD, True, "identity", (4, 4, 6, 7, 3, 3))
_ERR_RNG = np.random.default_rng(16)
ERR_W = _ERR_RNG.standard_normal((4, 4, 3, 3)).astype(np.float32)
ERR_W_G2 = _ERR_RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)
ERR_B = np.ones(4, np.float32)


def _create(w=ERR_W, b=ERR_B, layout=LAYOUT_CONV_WEIGHTS_OIHW, **overrides):
    return lambda: ConvolutionFilter(conv_params(ERR_CASE, w, b, layout, **overrides))


def _raw_weights(layout, w=ERR_W):
    return lambda: ConvolutionFilter(conv_params(
        ERR_CASE, w, ERR_B, w_desc=Descriptor(layout, tuple(reversed(w.shape)), data=w.reshape(-1))))


def _backward(filter_bias, *, x_given=True, **asked):
    def call():
        filt = ConvolutionFilter(conv_params(ERR_CASE, ERR_W, ERR_B if filter_bias else None))
        x = np.zeros((1, 4, 6, 7), np.float32)
        y = filt.apply(x)
        filt.apply_backward(x if x_given else None, y, np.ones_like(y), **asked)
    return call


_w_nan = ERR_W.copy()
_w_nan[1, 2, 0, 1] = np.nan

CONV_ERRORS = [
    pytest.param(_create(o_desc=image_desc(4, 5, 5)),
                 r"o_desc.size \(5, 5, 4\) does not match the convolution output \(5, 4, 4\)", id="o_desc-size"),
    pytest.param(_create(groups=3), "groups 3 must divide the input channels 4 and the output channels 4",
                 id="groups-not-dividing"),
    pytest.param(_create(w=ERR_W_G2, layout=LAYOUT_CONV_WEIGHTS_OIHRWR, groups=2),
                 r"grouped convolution \(groups 2\) needs ConvolutionWeightsOIHW", id="grouped-OIHrWr"),
    pytest.param(_create(w=ERR_W[:, :3]), r"w_desc.size \(3, 3, 3, 4\) gives 4 output and 3 input channels",
                 id="weights-channel-mismatch"),
    pytest.param(_create(w=ERR_W_G2), r"w_desc.size \(3, 3, 2, 4\) gives 4 output and 2 input channels per group",
                 id="weights-channels-ignore-groups"),
    pytest.param(_create(w=np.zeros((4, 4, 7, 7), np.float32)), "kernel .* does not fit the padded input 7x6",
                 id="kernel-larger-than-padded-input"),
    pytest.param(_create(i_desc=Descriptor(LAYOUT_3D_LAST_MAJOR, (7, 6, 4))),
                 r"i_desc.layout 0x38000 must be ImageCHW \(0x30000\)", id="i_desc-not-ImageCHW"),
    pytest.param(_create(o_desc=Descriptor(LAYOUT_3D_LAST_MAJOR, (5, 4, 4))),
                 r"o_desc.layout 0x38000 must be ImageCHW", id="o_desc-not-ImageCHW"),
    pytest.param(_raw_weights(0x48000), "w_desc.layout 0x48000 must be ConvolutionWeightsOIHW",
                 id="weights-4DLastMajor"),
    pytest.param(_raw_weights(LAYOUT_CONV_WEIGHTS_OIHW_PACK32), "w_desc.layout 0x40010 must be",
                 id="weights-OIHW_Pack32"),
    pytest.param(_create(b=np.ones(3, np.float32)), "bias has 3 values but the output has 4 channels",
                 id="bias-wrong-length"),
    pytest.param(_create(w=_w_nan), "w_desc.data contains NaN", id="nan-in-weights"),
    pytest.param(_create(b=np.array([0, np.inf, 0, 0], np.float32)), "bias contains NaN or infinite",
                 id="inf-in-bias"),
    pytest.param(_create(pad=(1, 1, 1)), r"pad has 3 values; BNNS takes 4 \(left, right, up, down\)",
                 id="pad-with-3-values"),
    pytest.param(_create(x_stride=-1), "x_stride -1 must be between 0 and 2", id="negative-stride"),
    pytest.param(_backward(False, bias_grad=True), "bias_delta was asked but this convolution filter has no bias",
                 id="bias-grad-without-bias"),
    pytest.param(_backward(True, x_given=False, weights_grad=True), "weights_delta needs the forward input",
                 id="weights-grad-without-x"),
]


@pytest.mark.parametrize("call, phrase", CONV_ERRORS)
def test_conv_error(call, phrase):
    with pytest.raises(InvalidArgumentError, match=phrase):
        call()


def _fc(w_desc, n_in=9, n_out=2, activation=Activation()):
    return lambda: FullyConnectedFilter(FullyConnectedParameters(
        i_desc=Descriptor(LAYOUT_VECTOR, (n_in,)), w_desc=w_desc, o_desc=Descriptor(LAYOUT_VECTOR, (n_out,)), activation=activation))


def _fc_bias_grad_without_bias():
    filt = _fc(Descriptor(LAYOUT_ROW_MAJOR_MATRIX, (9, 2), data=np.zeros(18, np.float32)))()
    x = np.zeros((1, 9), np.float32)
    filt.apply_backward(x, filt.apply(x), np.ones((1, 2), np.float32), bias_grad=True)


FC_ERRORS = [
    pytest.param(_fc_bias_grad_without_bias, "bias_delta was asked but this fully_connected filter has no bias",
                 id="fc-bias-grad-without-bias"),
    pytest.param(_fc(Descriptor(LAYOUT_ROW_MAJOR_MATRIX, (9, 3), data=np.zeros(27, np.float32))),
                 r"w_desc.size \(9, 3\) gives a 3 x 9 \(O x I\) matrix; i_desc has 9 elements and o_desc 2",
                 id="fc-weights-shape"),
    pytest.param(_fc(Descriptor(LAYOUT_IMAGE_CHW, (9, 2, 1), data=np.zeros(18, np.float32))),
                 "w_desc.layout 0x30000 must be a matrix", id="fc-weights-layout"),
    pytest.param(_fc(Descriptor(LAYOUT_ROW_MAJOR_MATRIX, (9, 2), data=np.full(18, np.nan, np.float32))),
                 "w_desc.data contains NaN", id="fc-nan-weights"),
]


@pytest.mark.parametrize("call, phrase", FC_ERRORS)
def test_fully_connected_error(call, phrase):
    with pytest.raises(InvalidArgumentError, match=phrase):
        call()


# ============================================================================ 8. activations that need x
# Functions whose derivative y does not determine (Abs, SiLU) must be recomputed from x; Sigmoid
# with y=None takes the same path.
X_ACTIVATIONS = [
    pytest.param(act_mod.ABS, lambda z: np.abs(z), id="Abs"),
    pytest.param(act_mod.SILU, lambda z: z / (1 + np.exp(-z)), id="SiLU"),
    pytest.param(act_mod.SIGMOID, lambda z: 1 / (1 + np.exp(-z)), id="Sigmoid-without-y"),
]


@pytest.mark.parametrize("function, ref", X_ACTIVATIONS)
def test_conv_backward_recomputes_preactivation_from_x_when_y_is_none(function, ref, monkeypatch):
    if function not in act_mod.ACTIVATIONS:
        pytest.skip(f"activation {function} is not in kernels.activation.ACTIVATIONS yet")
    monkeypatch.setitem(ACTS, "x-only", (Activation(function), ref))
    case = dataclasses.replace(CONV_BY_ID["s2-d2-g2-sym-bias-identity"], act="x-only")
    rng, x, w, b = sample_conv(case, seed=17)
    filt = ConvolutionFilter(conv_params(case, w, b))
    proj = projection(rng, (N, case.c_out) + case.output_hw())
    d_in, d_w, d_b = filt.apply_backward(x, None, proj, weights_grad=True, bias_grad=True)
    tol = FINITE_DIFFERENCES
    assert_close(filt.apply(x), tap_conv(x, w, b, case), SAME_MATH)
    assert_gradient_matches(d_in, lambda xx: np.sum(proj * filt.apply(xx)), x, rtol=tol.rtol, atol=tol.atol)
    assert_gradient_matches(d_w, lambda ww: np.sum(proj * tap_conv(x, ww, b, case)), w.astype(np.float64),
                            rtol=tol.rtol, atol=tol.atol)
    assert_gradient_matches(d_b, lambda bb: np.sum(proj * tap_conv(x, w, bb, case)), b.astype(np.float64),
                            rtol=tol.rtol, atol=tol.atol)


@pytest.mark.parametrize("function, name", [pytest.param(act_mod.ABS, "Abs", id="Abs"),
                                            pytest.param(act_mod.SILU, "SiLU", id="SiLU")])
def test_conv_backward_of_x_only_activation_without_x_is_rejected(function, name):
    if function not in act_mod.ACTIVATIONS:
        pytest.skip(f"activation {function} is not in kernels.activation.ACTIVATIONS yet")
    case = CONV_BY_ID["s2-d2-g2-sym-bias-identity"]
    _, x, w, b = sample_conv(case, seed=24)
    filt = ConvolutionFilter(conv_params(case, w, b, activation=Activation(function)))
    y = filt.apply(x)
    with pytest.raises(InvalidArgumentError, match=f"activation {name} needs the input to recompute"):
        filt.apply_backward(None, y, np.ones_like(y))


def test_conv_backward_without_x_or_y_names_what_is_missing():
    case = dataclasses.replace(CONV_BY_ID["s2-d2-g2-sym-bias-identity"], act="tanh")
    _, x, w, b = sample_conv(case, seed=18)
    filt = ConvolutionFilter(conv_params(case, w, b))
    d_out = np.ones((N, case.c_out) + case.output_hw())
    with pytest.raises(InvalidArgumentError, match="with activation Tanh needs `out`"):
        filt.apply_backward(None, None, d_out)


# ============================================================================ 9. float16
def test_float16_weights_match_float32():
    case = CONV_BY_ID["sx2-d2-g1-asym-bias-sigmoid"]          # bias, dilation 2, strided x, asymmetric padding
    _, x, w, b = sample_conv(case, seed=19)
    x = x.astype(np.float32)
    w16 = w.astype(np.float16)
    half = ConvolutionFilter(conv_params(
        case, w, b, w_desc=weights_desc(w16, data_type=DTYPE_FLOAT16),
        bias=Descriptor.for_shape(LAYOUT_VECTOR, (case.c_out,), b.astype(np.float16), data_type=DTYPE_FLOAT16)))
    y = half.apply(x)
    assert y.dtype == np.float32
    # Exactly the float32 filter given the float16-rounded values ...
    rounded = ConvolutionFilter(conv_params(case, w16.astype(np.float32), b.astype(np.float16).astype(np.float32)))
    assert_close(y, rounded.apply(x), FLOAT32_SAME_MATH)
    # ... and the full-precision float32 result within float16 rounding of the weights.
    assert_close(y, ConvolutionFilter(conv_params(case, w, b)).apply(x), FLOAT16_WEIGHTS)


# ============================================================================ pure functions
def test_pure_conv_functions_are_adjoint_and_match_the_filter():
    # conv2d's input and weights backward are the adjoints of the forward: <conv(x, W), g> is
    # bilinear, so <g, conv(x, W)> = <backward_input(g, W), x> = <backward_weights(x, g), W>.
    case = CONV_BY_ID["sx2-d2-g2-asym-nobias-leaky"]          # strided x, dilation 2, groups 2, asymmetric padding
    rng, x, w, _ = sample_conv(case, seed=20)
    w = w.astype(np.float64)
    top, bottom, left, right = case.padding.effective
    geom = ConvGeometry(stride=case.sxy[::-1], dilation=(case.dilation,) * 2,
                        padding=(top, bottom, left, right), groups=case.groups)
    y = conv2d(x, w, geom)
    assert_close(y, tap_conv(x, w, None, dataclasses.replace(case, act="identity")), SAME_MATH)
    g = rng.standard_normal(y.shape)
    inner = np.vdot(g, y)
    assert math.isclose(np.vdot(conv2d_backward_input(g, w, geom, case.hw), x), inner, rel_tol=SAME_MATH.rtol)
    assert math.isclose(np.vdot(conv2d_backward_weights(x, g, w.shape, geom), w), inner, rel_tol=SAME_MATH.rtol)


# ============================================================================ out= buffers
def out_views(shape, dtype=np.float32):
    """Caller buffers of ``shape``: a contiguous array, a view with padded rows and channels (unit
    inner stride, so the GEMM can write it), and a view whose items are every other float."""
    n, c, *rest = shape
    contiguous = np.full(shape, np.nan, dtype)
    padded = np.full((n, c + 1) + tuple(r + 2 for r in rest), np.nan, dtype)
    every_other = np.full(tuple(shape[:-1]) + (2 * shape[-1],), np.nan, dtype)
    return {"contiguous": contiguous,
            "padded": padded[(slice(None), slice(1, c + 1)) + tuple(slice(1, r + 1) for r in rest)],
            "every-other": every_other[..., ::2]}


OUT_KINDS = ["contiguous", "padded", "every-other"]

# (id, C_in, C_out, H, W, k, stride, pad, groups, act): the pointwise fast path, the stride-1 tap
# path, im2col (strided, grouped) and a fused activation applied in place.
OUT_CONV_CASES = [
    ("pointwise", 3, 5, 6, 7, 1, 1, 0, 1, "identity"),
    ("pointwise-relu", 8, 4, 5, 5, 1, 1, 0, 1, "relu"),
    ("taps", 8, 8, 6, 5, 3, 1, 1, 1, "sigmoid"),
    ("strided", 3, 4, 9, 8, 3, 2, 1, 1, "relu"),
    ("grouped", 4, 4, 6, 6, 3, 1, 1, 2, "tanh"),
]


def _out_conv_filter(case_id, c_in, c_out, h, w, k, stride, pad, groups, act, transposed=False):
    rng = np.random.default_rng(7)
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    wts = (0.5 * rng.standard_normal((c_out, c_in // groups, k, k))).astype(np.float32)
    b = (0.5 * rng.standard_normal(c_out if not transposed else c_in)).astype(np.float32)
    if transposed:   # the adjoint: (C_out, Ho, Wo) -> (C_in, H, W), weights O = C_in
        wts = np.ascontiguousarray(wts.swapaxes(0, 1))
        params = ConvolutionParameters(i_desc=image_desc(c_out, ho, wo), w_desc=weights_desc(wts),
                                       o_desc=image_desc(c_in, h, w), bias=vector_desc(b), activation=ACTS[act][0],
                                       x_stride=stride, y_stride=stride, x_padding=pad, y_padding=pad)
        return TransposedConvolutionFilter(params), (c_out, ho, wo), (c_in, h, w), rng
    params = ConvolutionParameters(i_desc=image_desc(c_in, h, w), w_desc=weights_desc(wts),
                                   o_desc=image_desc(c_out, ho, wo), bias=vector_desc(b), activation=ACTS[act][0],
                                   x_stride=stride, y_stride=stride, x_padding=pad, y_padding=pad, groups=groups)
    return ConvolutionFilter(params), (c_in, h, w), (c_out, ho, wo), rng


# Transposed convolutions have no groups: those cases are for the plain convolution only.
OUT_CASES = [(case, transposed) for case in OUT_CONV_CASES for transposed in (False, True)
             if not (transposed and case[8] != 1)]


@pytest.mark.parametrize("kind", OUT_KINDS)
@pytest.mark.parametrize("case, transposed", OUT_CASES,
                         ids=[f"{c[0]}-{'transposed' if t else 'conv'}" for c, t in OUT_CASES])
def test_conv_out_buffers_get_the_numbers_of_the_call_without_them(case, transposed, kind):
    f, in_shape, out_shape, rng = _out_conv_filter(*case, transposed=transposed)  # type: ignore[misc]  # case: the 10 before it
    x = rng.standard_normal((N,) + in_shape).astype(np.float32)
    d_out = rng.standard_normal((N,) + out_shape).astype(np.float32)
    out = out_views((N,) + out_shape)[kind]
    y = f.apply(x, out=out)
    assert y is out
    np.testing.assert_array_equal(out, f.apply(x))
    d_in_out = out_views((N,) + in_shape)[kind]
    d_in, d_w, d_b = f.apply_backward(x, out, d_out, weights_grad=True, bias_grad=True, in_delta_out=d_in_out)
    expected = f.apply_backward(x, f.apply(x), d_out, weights_grad=True, bias_grad=True)
    assert d_in is d_in_out
    for got, want in zip((d_in, d_w, d_b), expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", OUT_KINDS[:2])
def test_conv_out_buffer_outside_the_written_view_is_untouched(kind):
    f, in_shape, out_shape, rng = _out_conv_filter(*OUT_CONV_CASES[0])
    x = rng.standard_normal((N,) + in_shape).astype(np.float32)
    base = np.full((N, out_shape[0] + 2) + out_shape[1:], np.nan, np.float32)
    f.apply(x, out=base[:, 1:-1])
    assert np.isnan(base[:, 0]).all() and np.isnan(base[:, -1]).all()
    assert not np.isnan(base[:, 1:-1]).any()


def test_pointwise_conv_matches_a_plain_matrix_product_per_image():
    # The 1x1 fast path is one GEMM per image; the reference is einsum in float64.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 5, 4)).astype(np.float32)
    w = rng.standard_normal((7, 6, 1, 1)).astype(np.float32)
    expected = np.einsum("oc,nchw->nohw", w[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
    geom = ConvGeometry()
    assert conv_mod._pointwise_applies(x, w, geom, None)
    assert_close(conv2d(x, w, geom), expected, FLOAT32_SAME_MATH)
    # A non-contiguous input (every other image) takes the same path through a copy.
    x2 = np.repeat(x, 2, axis=0)[::2]
    assert_close(conv2d(x2, w, geom), expected, FLOAT32_SAME_MATH)


@pytest.mark.parametrize("kind", OUT_KINDS)
def test_fully_connected_out_buffers_get_the_numbers_of_the_call_without_them(kind):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 2 * 3 * 5)).astype(np.float32)
    f = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=image_desc(2, 3, 5), w_desc=fc_desc_for(w, LAYOUT_ROW_MAJOR_MATRIX),
        o_desc=Descriptor.for_shape(LAYOUT_VECTOR, (4,)), bias=vector_desc(rng.standard_normal(4)),
        activation=ACTS["relu"][0]))
    x = rng.standard_normal((N, 2, 3, 5)).astype(np.float32)
    d_out = rng.standard_normal((N, 4)).astype(np.float32)
    out = out_views((N, 4))[kind]
    assert f.apply(x, out=out) is out
    np.testing.assert_array_equal(out, f.apply(x))
    d_in_out = out_views((N, 2, 3, 5))[kind]
    d_in, d_w, d_b = f.apply_backward(x, out, d_out, weights_grad=True, bias_grad=True, in_delta_out=d_in_out)
    assert d_in is d_in_out
    for got, want in zip((d_in, d_w, d_b), f.apply_backward(x, out, d_out, weights_grad=True, bias_grad=True)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("out, phrase", [
    (np.zeros((N, 5, 6, 6), np.float32), r"out has shape \(2, 5, 6, 6\); expected \(2, 5, 6, 7\)"),
    (np.zeros((N, 5, 6, 7), np.int32), "out must be a floating-point ndarray"),
    (np.zeros((N, 5, 6, 7), np.float32).view(), None),   # replaced by a read-only view below
])
def test_conv_out_buffer_errors(out, phrase):
    f, in_shape, _, rng = _out_conv_filter(*OUT_CONV_CASES[0])
    x = rng.standard_normal((N,) + in_shape).astype(np.float32)
    if phrase is None:
        out.flags.writeable = False
        phrase = "out is read-only"
    with pytest.raises(InvalidArgumentError, match=phrase):
        f.apply(x, out=out)


# ============================================================================ strided fast path
def _strided_reference(x, w, stride, padding):
    """Float64 sum over taps of strided slices of the zero-padded input (no kernel flip)."""
    (sy, sx), (top, bottom, left, right) = stride, padding
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    o, _, kh, kw = w.shape
    ho, wo = (xp.shape[2] - kh) // sy + 1, (xp.shape[3] - kw) // sx + 1
    y = np.zeros((x.shape[0], o, ho, wo))
    for u in range(kh):
        for v in range(kw):
            window = xp[:, :, u:u + sy * (ho - 1) + 1:sy, v:v + sx * (wo - 1) + 1:sx]
            y += np.einsum("oc,ncij->noij", w[:, :, u, v].astype(np.float64), window)
    return y


@pytest.mark.parametrize("stride, kernel, padding, hw", [
    ((2, 2), (7, 7), (3, 3, 3, 3), (13, 12)),     # the stem's shape, odd and even sides
    ((3, 2), (2, 5), (0, 2, 1, 0), (11, 10)),     # kernel shorter than the stride, uneven padding
    ((1, 3), (3, 3), (1, 1, 1, 1), (7, 9)),       # strided along x only
    ((2, 4), (3, 4), (2, 0, 0, 3), (9, 15)),      # kernel width equal to the stride
])
def test_strided_conv_from_stride_phases_matches_the_tap_sums(stride, kernel, padding, hw, monkeypatch):
    # Strided convolutions build their columns from the input split by stride phase (contiguous
    # runs per tap); one sample per chunk so that runs cross into the next sample's phase.
    monkeypatch.setattr(conv_mod, "_COLUMN_CHUNK_BYTES", 1)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2) + hw).astype(np.float32)
    w = rng.standard_normal((4, 2) + kernel).astype(np.float32)
    geom = ConvGeometry(stride=stride, padding=padding)
    assert_close(conv2d(x, w, geom), _strided_reference(x, w, stride, padding), FLOAT32_VS_FLOAT64)
    dz = rng.standard_normal(conv2d(x, w, geom).shape).astype(np.float32)
    # The weight gradient reads the same columns: <dz, conv(x, W)> is linear in W.
    d_w = conv2d_backward_weights(x, dz, w.shape, geom)
    e = np.zeros_like(w)
    e[1, 0, -1, 0] = 1
    assert math.isclose(float(d_w[1, 0, -1, 0]), float(np.sum(dz * _strided_reference(x, e, stride, padding))),
                        rel_tol=1e-4, abs_tol=1e-4)


@pytest.mark.parametrize("case", OUT_CONV_CASES[:3], ids=[c[0] for c in OUT_CONV_CASES[:3]])
def test_out_buffers_over_the_input_get_the_numbers_of_the_call_without_them(case):
    # The caller may reuse its input's memory for the result (same shape when C_in == C_out).
    f, in_shape, out_shape, rng = _out_conv_filter(case[0], 4, 4, *case[3:])
    x = rng.standard_normal((N,) + in_shape).astype(np.float32)
    d_out = rng.standard_normal((N,) + out_shape).astype(np.float32)
    expected = f.apply(x)
    grads = f.apply_backward(x, expected, d_out, weights_grad=True, bias_grad=True)
    buffer = x.copy()
    assert f.apply(buffer, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)
    buffer = d_out.copy()
    got = f.apply_backward(x, expected, buffer, weights_grad=True, bias_grad=True, in_delta_out=buffer)
    for a, b in zip(got, grads):
        np.testing.assert_array_equal(a, b)


def test_fully_connected_shared_over_the_cores_gives_the_same_numbers(monkeypatch):
    # Big products are cut into row ranges, one per thread (each thread's BLAS on one core).
    from bnns.kernels import parallel
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    w = rng.standard_normal((3, 7)).astype(np.float32)
    dz = rng.standard_normal((5, 3)).astype(np.float32)
    one = (linear(x, w),) + conv_mod.linear_backward(x, dz, w, True, True)
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    shared = (linear(x, w),) + conv_mod.linear_backward(x, dz, w, True, True)
    for got, want in zip(shared, one):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert_close(shared[0], x.astype(np.float64) @ w.T.astype(np.float64), FLOAT32_SAME_MATH)


def test_strided_conv_shared_over_the_cores_gives_the_same_numbers(monkeypatch):
    monkeypatch.setattr(conv_mod, "_COLUMN_CHUNK_BYTES", 1)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((5, 3, 13, 12)).astype(np.float32)
    w = rng.standard_normal((4, 3, 7, 7)).astype(np.float32)
    geom = ConvGeometry(stride=(2, 2), padding=(3, 3, 3, 3))
    one = conv2d(x, w, geom)
    monkeypatch.setattr(conv_mod.parallel, "PARALLEL_BYTES", 0)
    np.testing.assert_array_equal(conv2d(x, w, geom), one)
    assert_close(one, _strided_reference(x, w, (2, 2), (3, 3, 3, 3)), FLOAT32_VS_FLOAT64)


def _strided_adjoint_references(x, w, dz, stride, dilation, padding):
    """(dx, dW) in float64 by plain loops over taps: each tap's contribution W^T dz scattered into
    every sy-th row and sx-th column of the zero-padded input's gradient (then cropped), and
    dz correlated with the tap's strided window of the padded input."""
    (sy, sx), (dy, dx_), (top, bottom, left, right) = stride, dilation, padding
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    _, _, kh, kw = w.shape
    ho, wo = dz.shape[2:]
    for u in range(kh):
        for v in range(kw):
            rows = slice(u * dy, u * dy + sy * (ho - 1) + 1, sy)
            cols = slice(v * dx_, v * dx_ + sx * (wo - 1) + 1, sx)
            dxp[:, :, rows, cols] += np.einsum("oc,noij->ncij", w[:, :, u, v].astype(np.float64), dz)
            dw[:, :, u, v] = np.einsum("noij,ncij->oc", dz, xp[:, :, rows, cols])
    return dxp[:, :, top:top + x.shape[2], left:left + x.shape[3]], dw


@pytest.mark.parametrize("stride, dilation, kernel, padding, hw", [
    ((2, 2), (1, 1), (7, 7), (3, 3, 3, 3), (13, 12)),     # the stem's shape, odd and even sides
    ((3, 2), (2, 1), (2, 5), (0, 2, 1, 0), (11, 10)),     # dilated rows: taps land in other phases
    ((1, 2), (1, 3), (3, 3), (1, 1, 2, 2), (7, 13)),      # strided along x only, dilated across it
    ((2, 2), (1, 1), (3, 3), (0, 0, 0, 0), (9, 8)),       # no padding: the last rows unread
])
def test_strided_gradients_by_stride_phase_match_the_scatter_loops(stride, dilation, kernel, padding, hw, monkeypatch):
    # The strided input gradient adds each tap's block as one contiguous run into its stride
    # phase (the phases then interleaved): it must give the loops' numbers, and neither gradient
    # may depend on how the batch is cut into blocks or shared over the cores.
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, 3) + hw).astype(np.float32)
    w = rng.standard_normal((4, 3) + kernel).astype(np.float32)
    geom = ConvGeometry(stride=stride, dilation=dilation, padding=padding)
    dz = rng.standard_normal(conv2d(x, w, geom).shape).astype(np.float32)
    want_dx, want_dw = _strided_adjoint_references(x, w, dz.astype(np.float64), stride, dilation, padding)
    whole_dx = conv2d_backward_input(dz, w, geom, hw)
    whole_dw = conv2d_backward_weights(x, dz, w.shape, geom)
    assert_close(whole_dx, want_dx, FLOAT32_VS_FLOAT64)
    assert_close(whole_dw, want_dw, FLOAT32_VS_FLOAT64)
    monkeypatch.setattr(conv_mod.parallel, "BLOCK_BYTES", 1)      # one sample per block
    monkeypatch.setattr(conv_mod.parallel, "PARALLEL_BYTES", 0)   # blocks shared over the cores
    np.testing.assert_array_equal(conv2d_backward_input(dz, w, geom, hw), whole_dx)
    assert_close(conv2d_backward_weights(x, dz, w.shape, geom), whole_dw, FLOAT32_SAME_MATH)


def test_strided_input_gradient_of_an_infinite_weight_reaches_only_its_taps():
    # The phase adds run past each row's end over zero-padded columns of dz; an infinite weight
    # times those zeros must not leak NaN into positions its taps never reach.
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 2, 13, 12)).astype(np.float32)
    w = rng.standard_normal((3, 2, 7, 7)).astype(np.float32)
    w[1, 0, 2, 5] = np.inf
    geom = ConvGeometry(stride=(2, 2), padding=(3, 3, 3, 3))
    dz = rng.standard_normal((2, 3) + geom.output_hw(13, 12, 7, 7)).astype(np.float32)
    with np.errstate(invalid="ignore"):
        want, _ = _strided_adjoint_references(x, w, dz.astype(np.float64), (2, 2), (1, 1), (3, 3, 3, 3))
        got = conv2d_backward_input(dz, w, geom, (13, 12))
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    assert 0 < np.isfinite(want).sum() < want.size


@pytest.mark.parametrize("stride", [(2, 2), (3, 2), (1, 3)])
@pytest.mark.parametrize("padding", [(0, 0, 0, 0), (3, 3, 3, 3), (1, 0, 2, 1), (-1, 2, -1, 0), (0, -2, 3, -1)])
def test_phase_split_from_x_is_the_padded_input_split_by_phase(stride, padding):
    # Phases are filled straight from x (negative padding crops it): each must be the zero-padded
    # input's every sy-th row and sx-th column from (a, b), zero past its end, then the slack.
    x = np.random.default_rng(14).standard_normal((2, 3, 7, 8))
    geom = ConvGeometry(stride=stride, padding=padding)
    flat, (hq, wq) = conv_mod._phase_split(x, geom, slack=3)
    top, bottom, left, right = padding
    xp = np.pad(x, ((0, 0), (0, 0), (max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))))
    xp = xp[:, :, max(-top, 0):xp.shape[2] - max(-bottom, 0), max(-left, 0):xp.shape[3] - max(-right, 0)]
    sy, sx = stride
    phases = flat[:-3].reshape(sy, sx, 2, 3, hq, wq)
    for a in range(sy):
        for b in range(sx):
            part = xp[:, :, a::sy, b::sx]
            want = np.zeros((2, 3, hq, wq))
            want[:, :, :part.shape[2], :part.shape[3]] = part
            np.testing.assert_array_equal(phases[a, b], want)
    assert not flat[-3:].any()
