"""Fused layers (kernels/fused.py): the fused result equals the same layers run one after the
other, forward and backward; the backward matches central finite differences in float64; BNNS's
delta_parameters order; quantization on hand-computed numbers (Apple's own example included);
and every error input.

CASES lists the pairs checked (bnns.md 3.6): Convolution -> Batch/Instance/Layer/GroupNorm,
FullyConnected -> Batch/LayerNorm, TransposedConvolution -> BatchNorm, Arithmetic Add (two Sample
inputs) -> BatchNorm, MultiplyAdd (three inputs, one broadcast) -> LayerNorm, and Multiply by a
Parameter operand -> GroupNorm. Each runs with ReLU and Sigmoid on the normalization.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import pytest

from bnns.kernels import arithmetic as ar
from bnns.kernels import convolution as cv
from bnns.kernels import fused as fu
from bnns.kernels import layout as L
from bnns.kernels import normalization as nm
from bnns.kernels.activation import IDENTITY, RECTIFIED_LINEAR, SIGMOID, Activation
from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError
from bnns.kernels.params import ConvolutionParameters, FullyConnectedParameters, NormalizationParameters, QuantizationParameters
from tests.kernels.test_arithmetic import arithmetic_params
from tests.numeric import assert_gradient_matches, projection

N = 3            # batch: BatchNorm statistics span it, so more than one item matters
EPSILON = 1e-5   # the normalization's epsilon


# ============================================================================ tolerances
@dataclasses.dataclass(frozen=True)
class Tol:
    rtol: float
    atol: float
    reason: str


FINITE_DIFFERENCES = Tol(1e-6, 1e-7, "central differences in float64 with eps 1e-6: truncation "
                                     "~eps^2, rounding ~1e-16 / eps on O(10) sums")
FLOAT64_REFERENCE = Tol(1e-11, 1e-12, "float64 both sides, the same maths with sums in another "
                                      "order")
HAND = Tol(0, 0, "small integers and halves: exact in float32")


def assert_close(actual, expected, tol: Tol):
    np.testing.assert_allclose(actual, expected, rtol=tol.rtol, atol=tol.atol, err_msg=tol.reason)


# ============================================================================ the case table
@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    first: str              # key of FIRSTS
    norm: int               # the normalization's BNNSFilterType
    norm_axis: int = 0      # LayerNorm normalization_axis
    num_groups: int = 1     # GroupNorm
    moving: bool = False    # Batch/InstanceNorm with moving statistics


CASES = [
    Case("conv_batch", "conv", nm.BATCH_NORM, moving=True),
    Case("conv_instance", "conv", nm.INSTANCE_NORM, moving=True),
    Case("conv_layer", "conv", nm.LAYER_NORM),
    Case("conv_group", "conv", nm.GROUP_NORM, num_groups=2),
    Case("fc_batch", "fc", nm.BATCH_NORM, moving=True),
    Case("fc_layer", "fc", nm.LAYER_NORM),
    Case("tconv_batch", "tconv", nm.BATCH_NORM, moving=True),
    Case("add_batch", "add", nm.BATCH_NORM, moving=True),
    Case("multiply_add_layer", "madd", nm.LAYER_NORM, norm_axis=1),
    Case("multiply_parameter_group", "mul_param", nm.GROUP_NORM, num_groups=2),
]
CASE_IDS = [c.id for c in CASES]

ACTS = [pytest.param(Activation(RECTIFIED_LINEAR), id="relu"),
        pytest.param(Activation(SIGMOID), id="sigmoid")]


def f32(a):
    """Values a float32 filter holds exactly, as float64 (filter and reference see the same)."""
    return np.asarray(a, np.float32).astype(np.float64)


def desc(layout, shape, data=None):
    return L.Descriptor.for_shape(layout, shape, data)


def vector(values):
    values = np.asarray(values, np.float32).reshape(-1)
    return L.Descriptor.for_shape(L.LAYOUT_VECTOR, (values.size,), values)


def image(shape, data=None):
    return desc(L.LAYOUT_IMAGE_CHW, shape, data)


@dataclasses.dataclass
class First:
    """The first member: its type, params, sample inputs (None for a Parameter operand), its
    parameter values (float64) and a float64 reference of its output."""

    filter_type: int
    params: Any
    inputs: list
    values: dict
    reference: Callable     # (inputs, values) -> mid
    input_grads: list       # what may be asked per input

    def output(self):
        """The descriptor of the member's output (an arithmetic one's is its function fields' out)."""
        return ar.function_fields(self.params)[1].out if self.filter_type == fu.ARITHMETIC else self.params.o_desc


def first_conv(rng) -> First:
    w, b = f32(rng.standard_normal((4, 2, 3, 3)) * 0.5), f32(rng.standard_normal(4))
    p = ConvolutionParameters(i_desc=image((2, 5, 4)), w_desc=desc(L.LAYOUT_CONV_WEIGHTS_OIHW, w.shape, w),
                              o_desc=image((4, 5, 4)), bias=vector(b), x_padding=1, y_padding=1)
    geom = cv.geometry(p)

    def reference(inputs, v):
        return cv.conv2d(inputs[0], v["weights"], geom) + v["bias"][None, :, None, None]
    return First(fu.CONVOLUTION, p, [f32(rng.standard_normal((N, 2, 5, 4)))],
                 {"weights": w, "bias": b}, reference, [True])


def first_tconv(rng) -> First:
    # stride 2, 3x3: 3x3 -> 7x7; OIHW weights with O = the output's 4 channels
    w, b = f32(rng.standard_normal((4, 2, 3, 3)) * 0.5), f32(rng.standard_normal(4))
    p = ConvolutionParameters(i_desc=image((2, 3, 3)), w_desc=desc(L.LAYOUT_CONV_WEIGHTS_OIHW, w.shape, w),
                              o_desc=image((4, 7, 7)), bias=vector(b), x_stride=2, y_stride=2)
    geom = cv.geometry(p)

    def reference(inputs, v):
        w_t = np.ascontiguousarray(v["weights"].swapaxes(0, 1))
        return (cv.conv2d_backward_input(inputs[0], w_t, geom, (7, 7))
                + v["bias"][None, :, None, None])
    return First(fu.TRANSPOSED_CONVOLUTION, p, [f32(rng.standard_normal((N, 2, 3, 3)))],
                 {"weights": w, "bias": b}, reference, [True])


def first_fc(rng) -> First:
    w, b = f32(rng.standard_normal((4, 6)) * 0.5), f32(rng.standard_normal(4))
    p = FullyConnectedParameters(i_desc=desc(L.LAYOUT_VECTOR, (6,)),
                                 w_desc=desc(L.LAYOUT_ROW_MAJOR_MATRIX, w.shape, w),
                                 o_desc=desc(L.LAYOUT_VECTOR, (4,)), bias=vector(b))

    def reference(inputs, v):
        return inputs[0] @ v["weights"].T + v["bias"]
    return First(fu.FULLY_CONNECTED, p, [f32(rng.standard_normal((N, 6)))],
                 {"weights": w, "bias": b}, reference, [True])


SHAPE = (4, 3, 2)   # (C, H, W) of the arithmetic cases


def _arith(function, operands, reference, inputs, values, grads) -> First:
    p = arithmetic_params(function, operands, image(SHAPE))
    return First(fu.ARITHMETIC, p, inputs, values, reference, grads)


def first_add(rng) -> First:
    ops = [(image(SHAPE), ar.SAMPLE)] * 2
    return _arith(ar.ADD, ops, lambda i, v: i[0] + i[1],
                  [f32(rng.standard_normal((N,) + SHAPE)) for _ in range(2)], {}, [True, True])


def first_madd(rng) -> First:
    ops = [(image(SHAPE), ar.SAMPLE)] * 2 + [(image((1, 3, 2)), ar.SAMPLE)]        # broadcast over channels
    inputs = [f32(rng.standard_normal((N,) + SHAPE)) for _ in range(2)]
    inputs.append(f32(rng.standard_normal((N, 1, 3, 2))))
    return _arith(ar.MULTIPLY_ADD, ops, lambda i, v: i[0] * i[1] + i[2], inputs, {},
                  [True, True, True])


def first_mul_param(rng) -> First:
    scale = f32(rng.uniform(0.5, 2.0, (4, 1, 1)))
    ops = [(image(SHAPE), ar.SAMPLE), (image((4, 1, 1), scale), ar.PARAMETER)]
    return _arith(ar.MULTIPLY, ops, lambda i, v: i[0] * v["in1"][None],
                  [f32(rng.standard_normal((N,) + SHAPE)), None], {"in1": scale}, [True, True])


FIRSTS = {"conv": first_conv, "tconv": first_tconv, "fc": first_fc, "add": first_add,
          "madd": first_madd, "mul_param": first_mul_param}
SEPARATE = {fu.CONVOLUTION: cv.ConvolutionFilter, fu.TRANSPOSED_CONVOLUTION: cv.TransposedConvolutionFilter,
            fu.FULLY_CONNECTED: cv.FullyConnectedFilter, fu.ARITHMETIC: ar.ArithmeticFilter}


@dataclasses.dataclass
class Setup:
    case: Case
    first: First
    norm_params: NormalizationParameters
    values: dict            # every parameter, float64: the first member's, beta, gamma
    geometry: nm.Geometry

    @property
    def fused_params(self):
        return ((self.first.filter_type, self.first.params), (self.case.norm, self.norm_params))

    def fused(self) -> fu.FusedFilter:
        return fu.FusedFilter(self.fused_params)

    def separate(self):
        return SEPARATE[self.first.filter_type](self.first.params), nm.NormalizationFilter(self.norm_params)

    def reference(self, inputs, values) -> np.ndarray:
        """The float64 composition at the given parameter values (training statistics)."""
        mid = self.first.reference(inputs, values)
        y, _ = nm.forward(mid, self.geometry, values["gamma"], values["beta"], epsilon=EPSILON,
                          activation=self.norm_params.activation)
        return y

    def inputs32(self):
        return [None if a is None else a.astype(np.float32) for a in self.first.inputs]


def setup(case: Case, act: Activation, rng) -> Setup:
    first = FIRSTS[case.first](rng)
    mid_desc = first.output()
    item = mid_desc.shape
    geo = nm.geometry(case.norm, item, case.num_groups, case.norm_axis)
    beta = f32(rng.standard_normal(geo.param_shape) * 0.5)
    gamma = f32(rng.uniform(0.5, 1.5, geo.param_shape))
    fields = dict(type=case.norm, i_desc=mid_desc, o_desc=mid_desc, beta_desc=vector(beta),
                  gamma_desc=vector(gamma), epsilon=EPSILON, activation=act,
                  num_groups=case.num_groups, normalization_axis=case.norm_axis)
    if case.moving:
        fields["moving_mean_desc"] = vector(rng.standard_normal(item[0]))
        fields["moving_variance_desc"] = vector(rng.uniform(0.5, 2.0, item[0]))
    return Setup(case, first, NormalizationParameters(**fields),
                 {**first.values, "beta": beta, "gamma": gamma}, geo)


def run_first(member, filter_type, inputs):
    return member.apply(inputs) if filter_type == fu.ARITHMETIC else member.apply(inputs[0])


def chained_backward(s: Setup, first, norm, inputs, y, d_out):
    """The separate filters' backward calls, chained by hand: ({name: gradient}, d_inputs)."""
    d_mid, d_beta, d_gamma = norm.apply_backward(y, d_out, input_grad=True, beta_grad=True,
                                                 gamma_grad=True)
    grads = {"beta": d_beta, "gamma": d_gamma}
    if s.first.filter_type == fu.ARITHMETIC:
        d_inputs = first.apply_backward(inputs, None, d_mid, wanted=s.first.input_grads)
    else:
        d_in, d_w, d_b = first.apply_backward(inputs[0], None, d_mid, input_grad=True,
                                              weights_grad=True, bias_grad=True)
        d_inputs = [d_in]
        grads.update(weights=d_w, bias=d_b)
    return grads, d_inputs


# ============================================================================ fused = one after the other
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fused_forward_equals_the_layers_run_one_after_the_other(case, act, training):
    rng = np.random.default_rng(301)
    s = setup(case, act, rng)
    fused, (first, norm) = s.fused(), s.separate()
    inputs = s.inputs32()
    before = {k: v.copy() for k, v in fused.parameters().items()}
    y = fused.apply(inputs, training=training)
    expected = norm.apply(run_first(first, s.first.filter_type, inputs), training=training)
    assert y.dtype == np.float32 and y.shape == (N,) + s.norm_params.o_desc.shape
    np.testing.assert_array_equal(y, expected)        # the same kernel calls: bit for bit
    after = fused.parameters()
    for name, value in norm.parameters().items():     # moving statistics updated alike
        np.testing.assert_array_equal(after[name], value)
    if case.moving:
        changed = not np.array_equal(after["moving_mean"], before["moving_mean"])
        assert changed == training


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fused_backward_equals_the_chained_separate_backward_calls(case, act):
    rng = np.random.default_rng(302)
    s = setup(case, act, rng)
    fused, (first, norm) = s.fused(), s.separate()
    inputs = s.inputs32()
    y = fused.apply(inputs, training=True)
    y_separate = norm.apply(run_first(first, s.first.filter_type, inputs), training=True)
    d_out = rng.standard_normal(y.shape).astype(np.float32)
    names = fused.delta_parameter_names()
    d_inputs, d_params = fused.apply_backward(inputs, y, d_out, input_grads=s.first.input_grads,
                                              delta_parameters=[True] * len(names))
    grads, expected_inputs = chained_backward(s, first, norm, inputs, y_separate, d_out)
    assert len(d_inputs) == len(expected_inputs)
    for got, want in zip(d_inputs, expected_inputs):
        np.testing.assert_array_equal(got, want)
    for name, got in zip(names, d_params):
        np.testing.assert_array_equal(got, grads[name])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fused_backward_matches_finite_differences(case, act):
    # L = sum(proj * y). Inputs: through a second fused filter, a training forward per
    # evaluation (BatchNorm's output depends on the batch statistics; the moving statistics it
    # updates do not enter a training output). Parameters: through the float64 reference, since
    # the filter holds them in float32; the reference is first checked against the filter.
    rng = np.random.default_rng(303)
    s = setup(case, act, rng)
    fused = s.fused()
    inputs = s.first.inputs
    y = fused.apply(inputs, training=True)
    assert y.dtype == np.float64
    assert_close(y, s.reference(inputs, s.values), FLOAT64_REFERENCE)
    proj = projection(rng, y.shape)
    names = fused.delta_parameter_names()
    d_inputs, d_params = fused.apply_backward(inputs, y, proj, input_grads=s.first.input_grads,
                                              delta_parameters=[True] * len(names))
    probe = s.fused()
    tol = FINITE_DIFFERENCES
    for k, x in enumerate(inputs):
        if x is None:
            continue

        def loss_of_input(xx, k=k):
            trial = list(inputs)
            trial[k] = xx
            return float(np.sum(proj * probe.apply(trial, training=True)))
        assert_gradient_matches(d_inputs[k], loss_of_input, x, rtol=tol.rtol, atol=tol.atol)

    grads = dict(zip(names, d_params))
    if "in1" in s.values:                               # the Parameter operand's gradient
        grads["in1"] = d_inputs[1]
    assert set(grads) == set(s.values)
    for name, analytic in grads.items():
        def loss_of_parameter(v, name=name):
            return float(np.sum(proj * s.reference(inputs, {**s.values, name: v})))
        assert_gradient_matches(analytic, loss_of_parameter, s.values[name], rtol=tol.rtol,
                                atol=tol.atol)


# ============================================================================ delta_parameters
def test_delta_parameters_fill_only_the_asked_slot_in_bnns_order():
    # BNNS: [weights_delta, bias_delta, beta_delta, gamma_delta] for Conv -> Norm.
    rng = np.random.default_rng(304)
    s = setup(CASES[0], Activation(SIGMOID), rng)
    fused, (first, norm) = s.fused(), s.separate()
    inputs = s.inputs32()
    y = fused.apply(inputs, training=True)
    norm.apply(first.apply(inputs[0]), training=True)
    d_out = rng.standard_normal(y.shape).astype(np.float32)
    grads, _ = chained_backward(s, first, norm, inputs, y, d_out)
    # bias, beta and gamma all have 4 values: different numbers make a swap visible
    assert not np.allclose(grads["bias"], grads["beta"])
    assert not np.allclose(grads["beta"], grads["gamma"])
    order = [grads["weights"], grads["bias"], grads["beta"], grads["gamma"]]
    for slot in range(4):
        asked = [k == slot for k in range(4)]
        d_inputs, d_params = fused.apply_backward(inputs, y, d_out, input_grads=[False],
                                                  delta_parameters=asked)
        assert d_inputs == [None]
        for k, got in enumerate(d_params):
            if k == slot:
                np.testing.assert_array_equal(got, order[k])
            else:
                assert got is None


def test_arithmetic_pair_delta_parameters_are_beta_then_gamma():
    rng = np.random.default_rng(305)
    s = setup(CASES[7], Activation(RECTIFIED_LINEAR), rng)      # Add -> BatchNorm
    fused, (first, norm) = s.fused(), s.separate()
    inputs = s.inputs32()
    y = fused.apply(inputs, training=True)
    norm.apply(first.apply(inputs), training=True)
    d_out = rng.standard_normal(y.shape).astype(np.float32)
    grads, _ = chained_backward(s, first, norm, inputs, y, d_out)
    assert not np.allclose(grads["beta"], grads["gamma"])
    for slot, name in enumerate(["beta", "gamma"]):
        asked = [k == slot for k in range(2)]
        d_inputs, d_params = fused.apply_backward(inputs, y, d_out, input_grads=[False, False],
                                                  delta_parameters=asked)
        assert d_inputs == [None, None]
        np.testing.assert_array_equal(d_params[slot], grads[name])
        assert d_params[1 - slot] is None


@pytest.mark.parametrize("first_type, second, names", [
    pytest.param("conv", nm.LAYER_NORM, ["weights", "bias", "beta", "gamma"], id="conv_norm"),
    pytest.param("fc", nm.GROUP_NORM, ["weights", "bias", "beta", "gamma"], id="fc_norm"),
    pytest.param("madd", nm.INSTANCE_NORM, ["beta", "gamma"], id="arithmetic_norm"),
    pytest.param("conv", fu.QUANTIZATION, [], id="conv_quantization"),
])
def test_delta_parameter_names_follow_the_pair(first_type, second, names):
    rng = np.random.default_rng(306)
    first = FIRSTS[first_type](rng)
    mid = first.output()
    member: Any
    if second == fu.QUANTIZATION:
        member = QuantizationParameters(axis_mask=0, function=fu.QUANTIZE, i_desc=mid,
                                        o_desc=dataclasses.replace(mid, data_type=fu.DTYPE_INT8))
    else:
        member = NormalizationParameters(type=second, i_desc=mid, o_desc=mid)
    fused = fu.FusedFilter(((first.filter_type, first.params), (second, member)))
    assert fused.delta_parameter_names() == names


# ============================================================================ state and parameters
@pytest.mark.parametrize("forward", [None, False], ids=["no_forward", "inference_forward_only"])
def test_backward_without_a_training_forward_is_failed_precondition(forward):
    rng = np.random.default_rng(307)
    s = setup(CASES[0], Activation(RECTIFIED_LINEAR), rng)
    fused = s.fused()
    inputs = s.inputs32()
    y = np.zeros((N,) + s.norm_params.o_desc.shape, np.float32)
    if forward is not None:
        y = fused.apply(inputs, training=forward)
    assert not fused.has_training_cache
    with pytest.raises(FailedPreconditionError, match="training-mode forward"):
        fused.apply_backward(inputs, y, np.ones_like(y), input_grads=[True],
                             delta_parameters=[True] * 4)


def test_parameters_merge_the_members_live_arrays():
    rng = np.random.default_rng(308)
    s = setup(CASES[0], Activation(IDENTITY), rng)       # Conv -> BatchNorm with moving stats
    fused = s.fused()
    params = fused.parameters()
    assert set(params) == {"weights", "bias", "beta", "gamma", "moving_mean", "moving_variance"}
    assert np.shares_memory(params["weights"], fused.members[0].weights_storage)
    inputs = s.inputs32()
    y0 = fused.apply(inputs, training=True)
    params["beta"] += 1.0                                 # an optimizer step, say
    y1 = fused.apply(inputs, training=True)
    np.testing.assert_allclose(y1 - y0, 1.0, rtol=0, atol=1e-5)
    assert fused.bytes_held == sum(a.nbytes for a in params.values())


def test_arithmetic_pair_parameters_hold_the_parameter_operand():
    rng = np.random.default_rng(309)
    s = setup(CASES[9], Activation(IDENTITY), rng)       # Multiply by a Parameter -> GroupNorm
    fused = s.fused()
    params = fused.parameters()
    assert set(params) == {"in1", "beta", "gamma"}
    np.testing.assert_array_equal(params["in1"], s.values["in1"])
    assert fused.input_descs[1] is s.first.params.binary.in2 and fused.arity == 2


# ============================================================================ quantization
def quantization(shape, o_type, *, layout=L.LAYOUT_IMAGE_CHW, function=fu.QUANTIZE, axis_mask=0,
                 scale=None, bias=None, i_type=L.DTYPE_FLOAT32):
    i_desc = desc(layout, shape)
    return fu.QuantizationFilter(QuantizationParameters(
        axis_mask=axis_mask, function=function, i_desc=dataclasses.replace(i_desc, data_type=i_type),
        o_desc=dataclasses.replace(i_desc, data_type=o_type),
        scale=None if scale is None else vector(scale), bias=None if bias is None else vector(bias)))


def test_quantize_per_column_reproduces_apples_example():
    # Apple's BNNSQuantizerFunctionQuantize page: RowMajorMatrix size (4, 2), axis_mask 1, scale
    # (1, 10, 100, 1000), Int16 output -> [1, 20, 300, 4000, 5, 60, 700, 8000].
    filt = quantization((2, 4), fu.DTYPE_INT16, layout=L.LAYOUT_ROW_MAJOR_MATRIX, axis_mask=1,
                        scale=[1, 10, 100, 1000])
    y = filt.apply(np.arange(1, 9, dtype=np.float32).reshape(1, 2, 4))
    assert_close(y.reshape(-1), [1, 20, 300, 4000, 5, 60, 700, 8000], HAND)


def test_quantize_to_int8_rounds_half_to_even_and_saturates():
    # y = 0.5 x + 3 -> -147, 2.55, 3.25, 3.5, 4.5, 5.5, 153
    filt = quantization((7,), fu.DTYPE_INT8, layout=L.LAYOUT_VECTOR, scale=[0.5], bias=[3.0])
    y = filt.apply(np.array([[-300, -0.9, 0.5, 1.0, 3.0, 5.0, 300]], np.float32))
    assert y.dtype == np.float32
    assert_close(y, [[-128, 3, 3, 4, 4, 6, 127]], HAND)


def test_quantize_to_uint8_saturates_at_0_and_255_and_maps_nan_to_0():
    filt = quantization((5,), fu.DTYPE_UINT8, layout=L.LAYOUT_VECTOR)
    y = filt.apply(np.array([[-3.0, 0.4, 254.6, 1e6, np.nan]], np.float32))
    assert_close(y, [[0, 0, 255, 255, 0]], HAND)


def test_dequantize_per_channel_gives_floats_unrounded():
    # (x - bias) / scale with scale (2, 4) and bias (0, 1) per channel of an ImageCHW (C=2, H=1, W=3)
    filt = quantization((2, 1, 3), L.DTYPE_FLOAT32, function=fu.DEQUANTIZE, axis_mask=4,
                        scale=[2, 4], bias=[0, 1], i_type=fu.DTYPE_INT8)
    x = np.array([[[[-128, 0, 127]], [[-128, 1, 127]]]], np.int8)
    y = filt.apply(x)
    assert_close(y, [[[[-64, 0, 63.5]], [[-32.25, 0, 31.5]]]], HAND)


def test_dequantize_to_int32_rounds_half_to_even_in_float64():
    filt = quantization((4,), fu.DTYPE_INT32, layout=L.LAYOUT_VECTOR, function=fu.DEQUANTIZE,
                        scale=[2.0], i_type=fu.DTYPE_INT32)
    y = filt.apply(np.array([[1, 3, 5, 2**31 - 1]], np.int32))
    assert y.dtype == np.float64                  # 2**30 - 0.5 rounds to an even 2**30
    assert_close(y, [[0, 2, 2, 2**30]], HAND)


@pytest.mark.parametrize("layout, shape, axis_mask, axis", [
    pytest.param(L.LAYOUT_IMAGE_CHW, (2, 3, 4), 1, 3, id="chw_size0_is_W"),
    pytest.param(L.LAYOUT_IMAGE_CHW, (2, 3, 4), 2, 2, id="chw_size1_is_H"),
    pytest.param(L.LAYOUT_IMAGE_CHW, (2, 3, 4), 4, 1, id="chw_size2_is_C"),
    pytest.param(L.LAYOUT_2D_FIRST_MAJOR, (3, 4), 1, 1, id="first_major_size0_is_rows"),
    pytest.param(L.LAYOUT_2D_FIRST_MAJOR, (3, 4), 2, 2, id="first_major_size1_is_columns"),
])
def test_axis_mask_bit_k_selects_size_k_against_naive_loops(layout, shape, axis_mask, axis):
    rng = np.random.default_rng(310)
    count = ((N,) + shape)[axis]
    scale, bias = f32(rng.uniform(0.5, 2, count)), f32(rng.standard_normal(count))
    filt = quantization(shape, L.DTYPE_FLOAT32, layout=layout, axis_mask=axis_mask, scale=scale,
                        bias=bias)
    x = f32(rng.standard_normal((N,) + shape))
    y = filt.apply(x)
    expected = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        expected[index] = scale[index[axis]] * x[index] + bias[index[axis]]
    assert_close(y, expected, FLOAT64_REFERENCE)


def conv_quantization_params(rng, *, activation=Activation(RECTIFIED_LINEAR), o_type=fu.DTYPE_INT8):
    first = first_conv(rng)
    conv = dataclasses.replace(first.params, activation=activation)
    mid = conv.o_desc
    quant = QuantizationParameters(axis_mask=4, function=fu.QUANTIZE, i_desc=mid, o_desc=dataclasses.replace(mid, data_type=o_type),
                                   scale=vector([4, 8, 16, 32]), bias=vector([0, 1, -1, 2]))
    return ((fu.CONVOLUTION, conv), (fu.QUANTIZATION, quant)), first


def test_fused_conv_quantization_equals_conv_then_quantization():
    # The first member may keep its ReLU here: the pair is inference only.
    rng = np.random.default_rng(311)
    params, first = conv_quantization_params(rng)
    fused = fu.FusedFilter(params)
    conv, quant = cv.ConvolutionFilter(params[0][1]), fu.QuantizationFilter(params[1][1])
    x = first.inputs[0].astype(np.float32)
    expected = quant.apply(conv.apply(x))
    assert np.any(expected == 127) and np.any(expected == 0)     # saturated and ReLU-clipped
    for training in (True, False):                                # the flag is ignored
        np.testing.assert_array_equal(fused.apply([x], training=training), expected)
    assert fused.parameters().keys() == {"weights", "bias"}
    assert fused.bytes_held == sum(a.nbytes for a in fused.parameters().values()) + 2 * 4 * 4


def test_fused_quantization_backward_is_rejected():
    rng = np.random.default_rng(312)
    params, first = conv_quantization_params(rng, activation=Activation(IDENTITY))
    fused = fu.FusedFilter(params)
    x = first.inputs[0].astype(np.float32)
    y = fused.apply([x], training=True)
    with pytest.raises(InvalidArgumentError, match="forward only"):
        fused.apply_backward([x], y, np.ones_like(y), input_grads=[True], delta_parameters=[])
    with pytest.raises(InvalidArgumentError, match="forward only"):
        fused.members[1].apply_backward(x, y, np.ones_like(y))


QUANTIZATION_ERRORS = [
    pytest.param(dict(function=2), "function 2 is not a BNNSQuantizerFunction", id="function"),
    pytest.param(dict(axis_mask=3, scale=[1, 2]), "sets 2 bits", id="two_axes"),
    pytest.param(dict(axis_mask=8, scale=[1]), "selects dimension 3", id="batch_axis"),
    pytest.param(dict(axis_mask=-1), "non-negative", id="negative_mask"),
    pytest.param(dict(axis_mask=4, scale=[1, 2, 3]), "scale has 3 values", id="scale_count"),
    pytest.param(dict(bias=[1, 2]), "bias has 2 values", id="bias_count_whole_tensor"),
    pytest.param(dict(scale=[np.nan]), "NaN", id="nan_scale"),
    pytest.param(dict(function=fu.DEQUANTIZE, scale=[0.0], o_type=L.DTYPE_FLOAT32),
                 "zero value", id="dequantize_by_zero"),
    pytest.param(dict(i_type=fu.DTYPE_INT8), "i_desc.data_type 0x20008", id="quantize_from_int8"),
    pytest.param(dict(function=fu.DEQUANTIZE, o_type=fu.DTYPE_INT8), "o_desc.data_type 0x20008",
                 id="dequantize_to_int8"),
    pytest.param(dict(o_shape=(2, 3, 3)), "o_desc shape", id="shape_change"),
]


@pytest.mark.parametrize("change, message", QUANTIZATION_ERRORS)
def test_invalid_quantization_parameters_raise_invalid_argument(change, message):
    change = dict(change)
    i_desc = image((2, 3, 4))
    o_desc = image(change.pop("o_shape", (2, 3, 4)))
    scale, bias = change.pop("scale", None), change.pop("bias", None)
    params = QuantizationParameters(
        axis_mask=change.pop("axis_mask", 0), function=change.pop("function", fu.QUANTIZE),
        i_desc=dataclasses.replace(i_desc, data_type=change.pop("i_type", L.DTYPE_FLOAT32)),
        o_desc=dataclasses.replace(o_desc, data_type=change.pop("o_type", fu.DTYPE_INT8)),
        scale=None if scale is None else vector(scale), bias=None if bias is None else vector(bias))
    assert not change
    with pytest.raises(InvalidArgumentError, match=message):
        fu.QuantizationFilter(params)


# ============================================================================ errors
def _conv_bn(rng, **norm_changes):
    s = setup(CASES[0], Activation(RECTIFIED_LINEAR), rng)
    norm = dataclasses.replace(s.norm_params, **norm_changes)
    return (fu.CONVOLUTION, s.first.params), (fu.BATCH_NORM, norm)


def _layers_norm_then_conv(rng):
    conv, norm = _conv_bn(rng)
    return (norm, conv)


def _layers_conv_then_conv(rng):
    conv, _ = _conv_bn(rng)
    p = conv[1]
    second = dataclasses.replace(p, i_desc=p.o_desc, w_desc=desc(
        L.LAYOUT_CONV_WEIGHTS_OIHW, (4, 4, 3, 3), np.zeros((4, 4, 3, 3))))
    return (conv, (fu.CONVOLUTION, second))


def _layers_arithmetic_then_quantization(rng):
    first = first_add(rng)
    mid = first.output()
    quant = QuantizationParameters(axis_mask=0, function=fu.QUANTIZE, i_desc=mid, o_desc=dataclasses.replace(mid, data_type=fu.DTYPE_INT8))
    return ((fu.ARITHMETIC, first.params), (fu.QUANTIZATION, quant))


def _layers_three(rng):
    conv, norm = _conv_bn(rng)
    return (conv, norm, norm)


def _layers_one(rng):
    return _conv_bn(rng)[:1]


def _layers_shape_mismatch(rng):
    return _conv_bn(rng, i_desc=image((4, 5, 5)), o_desc=image((4, 5, 5)))


def _layers_type_mismatch(rng):
    mid = dataclasses.replace(image((4, 5, 4)), data_type=L.DTYPE_FLOAT16)
    return _conv_bn(rng, i_desc=mid, o_desc=mid)


def _layers_layout_mismatch(rng):
    mid = desc(L.LAYOUT_3D_LAST_MAJOR, (4, 5, 4))       # the same memory, another layout
    return _conv_bn(rng, i_desc=mid, o_desc=mid)


def _layers_stride_mismatch(rng):
    mid = dataclasses.replace(image((4, 5, 4)), stride=(1, 4, 24))   # padded channels
    return _conv_bn(rng, i_desc=mid, o_desc=mid)


def _layers_relu_on_conv(rng):
    conv, norm = _conv_bn(rng)
    return ((fu.CONVOLUTION, dataclasses.replace(conv[1], activation=Activation(RECTIFIED_LINEAR))), norm)


def _layers_relu_on_arithmetic(rng):
    s = setup(CASES[7], Activation(IDENTITY), rng)
    arith = dataclasses.replace(s.first.params, activation=Activation(SIGMOID))
    return ((fu.ARITHMETIC, arith), (fu.BATCH_NORM, s.norm_params))


def _layers_wrong_params_type(rng):
    conv, norm = _conv_bn(rng)
    return ((fu.FULLY_CONNECTED, conv[1]), norm)


def _layers_norm_type_mismatch(rng):
    conv, norm = _conv_bn(rng)
    return (conv, (fu.LAYER_NORM, norm[1]))


def _layers_unknown_type(rng):
    conv, norm = _conv_bn(rng)
    return ((9, conv[1]), norm)


def _layers_bad_member(rng):
    conv, norm = _conv_bn(rng)
    return ((fu.CONVOLUTION, dataclasses.replace(conv[1], x_padding=0, y_padding=0)), norm)


def _layers_not_a_pair(rng):
    conv, norm = _conv_bn(rng)
    return (conv, norm[1])


CREATE_ERRORS = [
    pytest.param(_layers_norm_then_conv, "BatchNorm .2. -> Convolution .0. is not a pair",
                 id="norm_then_conv"),
    pytest.param(_layers_conv_then_conv, "Convolution .0. -> Convolution .0. is not a pair",
                 id="conv_then_conv"),
    pytest.param(_layers_arithmetic_then_quantization, "Arithmetic .8. -> Quantization .7. is not a pair",
                 id="arithmetic_then_quantization"),
    pytest.param(_layers_three, "layers has 3 members", id="three_members"),
    pytest.param(_layers_one, "layers has 1 members", id="one_member"),
    pytest.param(_layers_shape_mismatch,
                 r"layers\[0\].o_desc .* must equal layers\[1\].i_desc .*size \(5, 5, 4\)",
                 id="shape_mismatch"),
    pytest.param(_layers_type_mismatch, r"must equal layers\[1\].i_desc .*data_type 0x10010",
                 id="data_type_mismatch"),
    pytest.param(_layers_layout_mismatch, r"must equal layers\[1\].i_desc \(layout 0x38000",
                 id="layout_mismatch"),
    pytest.param(_layers_stride_mismatch, r"must equal layers\[1\].i_desc .*strides \(1, 4, 24\)",
                 id="stride_mismatch"),
    pytest.param(_layers_relu_on_conv, r"layers\[0\] \(Convolution\) has activation RectifiedLinear",
                 id="activation_on_conv"),
    pytest.param(_layers_relu_on_arithmetic, r"layers\[0\] \(Arithmetic\) has activation Sigmoid",
                 id="activation_on_arithmetic"),
    pytest.param(_layers_wrong_params_type, "expected FullyConnectedParameters", id="params_type"),
    pytest.param(_layers_norm_type_mismatch, "differs from its NormalizationParameters.type 2",
                 id="norm_type_mismatch"),
    pytest.param(_layers_unknown_type, "filter_type 9 is not a BNNSFilterType", id="unknown_type"),
    pytest.param(_layers_bad_member, r"layers\[0\] \(Convolution\): o_desc.size", id="invalid_member"),
    pytest.param(_layers_not_a_pair, r"layers\[1\] must be a \(filter_type, params\) pair",
                 id="member_not_a_pair"),
]


@pytest.mark.parametrize("build, message", CREATE_ERRORS)
def test_invalid_fused_layers_raise_invalid_argument(build, message):
    layers = build(np.random.default_rng(313))
    with pytest.raises(InvalidArgumentError, match=message):
        fu.FusedFilter(layers)


@pytest.mark.parametrize("case_index, count", [
    pytest.param(0, 2, id="conv_given_two"),
    pytest.param(7, 1, id="add_given_one"),
    pytest.param(8, 2, id="multiply_add_given_two"),
])
def test_wrong_number_of_inputs_is_invalid_argument(case_index, count):
    rng = np.random.default_rng(314)
    s = setup(CASES[case_index], Activation(RECTIFIED_LINEAR), rng)
    fused = s.fused()
    x = s.inputs32()[0]
    message = f"inputs has {count} entries but .* takes {fused.arity}"
    with pytest.raises(InvalidArgumentError, match=message):
        fused.apply([x] * count, training=True)


def test_input_of_wrong_shape_is_invalid_argument():
    rng = np.random.default_rng(315)
    s = setup(CASES[0], Activation(RECTIFIED_LINEAR), rng)
    with pytest.raises(InvalidArgumentError, match=r"inputs\[0\] has shape \(3, 2, 4, 5\)"):
        s.fused().apply([np.zeros((N, 2, 4, 5), np.float32)], training=True)


@pytest.mark.parametrize("input_grads, delta_parameters, message", [
    pytest.param([True], [True] * 3, "delta_parameters must be a list of 4", id="three_slots"),
    pytest.param([True, True], [True] * 4, "input_grads must be a list of 1", id="two_inputs"),
    pytest.param([False], [True, False, False, False], "weights_delta needs the forward input",
                 id="weights_without_x"),
])
def test_backward_flag_errors_are_invalid_argument(input_grads, delta_parameters, message):
    rng = np.random.default_rng(316)
    s = setup(CASES[0], Activation(RECTIFIED_LINEAR), rng)
    fused = s.fused()
    x = s.inputs32()[0]
    y = fused.apply([x], training=True)
    inputs = [None] if message.startswith("weights") else [x]
    with pytest.raises(InvalidArgumentError, match=message):
        fused.apply_backward(inputs, y, np.ones_like(y), input_grads=input_grads,
                             delta_parameters=delta_parameters)


@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[6]], ids=lambda c: c.id)
def test_input_and_bias_gradients_do_not_need_the_input(case):
    # BNNS: `in` is read only for weights_delta (its activation is Identity here).
    rng = np.random.default_rng(318)
    s = setup(case, Activation(SIGMOID), rng)
    fused = s.fused()
    x = s.inputs32()[0]
    y = fused.apply([x], training=True)
    d_out = rng.standard_normal(y.shape).astype(np.float32)
    asked = dict(input_grads=[True], delta_parameters=[False, True, False, False])
    without_x = fused.apply_backward([None], y, d_out, **asked)
    with_x = fused.apply_backward([x], y, d_out, **asked)
    np.testing.assert_array_equal(without_x[0][0], with_x[0][0])
    np.testing.assert_array_equal(without_x[1][1], with_x[1][1])


def test_bias_gradient_without_a_bias_is_invalid_argument():
    rng = np.random.default_rng(317)
    s = setup(CASES[0], Activation(RECTIFIED_LINEAR), rng)
    conv = dataclasses.replace(s.first.params, bias=None)
    fused = fu.FusedFilter(((fu.CONVOLUTION, conv), (fu.BATCH_NORM, s.norm_params)))
    x = s.inputs32()[0]
    y = fused.apply([x], training=True)
    with pytest.raises(InvalidArgumentError, match=r"delta_parameters\[1\] \(bias\) was asked"):
        fused.apply_backward([x], y, np.ones_like(y), input_grads=[False],
                             delta_parameters=[False, True, False, False])
