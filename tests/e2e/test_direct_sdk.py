"""The filter-less functions of issue 12, part C, through the SDK on both backends (in process and a
live server): each against a NumPy float64 reference, gradients against central differences,
error inputs that change nothing, local == remote bit for bit, the random generators' streams
(same seed, same numbers, everywhere; state that survives a restart), and REST with JSON bodies."""

from __future__ import annotations

import base64
import signal
from typing import Any

import httpx
import numpy as np
import pytest
from google.protobuf import json_format

from bnns.server import direct
from bnns.server.core import Core
from bnns.v1 import service_pb2 as pb

from ..numeric import numerical_gradient
from .test_durability import Durable

RTOL: dict[str, Any] = {"rtol": 1e-6, "atol": 1e-6}        # float32 results against float64 references


def desc(bnns, array, layout=None, size=None, data_type=None, stride=()):
    """A descriptor over ``array`` (its NumPy shape is the logical shape unless size is given)."""
    array = np.asarray(array)
    layouts = {1: bnns.BNNSDataLayoutVector, 2: bnns.BNNSDataLayoutRowMajorMatrix, 3: bnns.BNNSDataLayoutImageCHW,
               4: bnns.BNNSDataLayout4DLastMajor}
    types = {np.dtype(np.float32): bnns.BNNSDataTypeFloat32, np.dtype(bool): bnns.BNNSDataTypeBoolean,
             np.dtype(np.int32): bnns.BNNSDataTypeInt32, np.dtype(np.int64): bnns.BNNSDataTypeInt64}
    return bnns.BNNSNDArrayDescriptor(layout=layout or layouts[len(size) if size is not None else array.ndim],
                                      size=size if size is not None else tuple(reversed(array.shape)),
                                      stride=stride, data=array, data_type=data_type or types[array.dtype])


def ok(bnns, rc):
    assert rc == 0, bnns.last_error()


# --------------------------------------------------------------------------------- quantizer

def _int8(bnns, array, size):
    """An Int8 descriptor of one item of ``size`` over ``array`` (which may hold a whole batch)."""
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector if len(size) == 1 else
                                      bnns.BNNSDataLayoutRowMajorMatrix, size=size, data=array,
                                      data_type=bnns.BNNSDataTypeInt8)


def test_direct_quantizer_quantizes_per_axis_at_both_strides_against_the_closed_form(bnns):
    """y = round_half_even(scale * x + bias), saturated to Int8; one scale and bias per column
    (axis 0 of a row-major 4x2 item: size[0] = 4 columns)."""
    rng = np.random.default_rng(4)
    x_flat = rng.uniform(-40, 40, (3, 10)).astype(np.float32)             # 3 items of 2x4 at stride 10
    x_flat[:, 8:] = 1e9                                                    # the gap after each item is never read
    x_flat[0, 2], x_flat[1, 6] = -1000, 1000                               # beyond Int8 both ways
    y = np.full((3, 9), 99, np.int8)                                       # out stride 9
    scale, bias = np.array([0.5, 2, 4, 1], np.float32), np.array([1, -1, 0, 3], np.float32)
    params = bnns.BNNSLayerParametersQuantization(
        axis_mask=1, function=bnns.BNNSQuantizerFunctionQuantize,
        i_desc=desc(bnns, x_flat, layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(4, 2)),
        o_desc=_int8(bnns, y, (4, 2)), scale=desc(bnns, scale), bias=desc(bnns, bias))
    ok(bnns, bnns.BNNSDirectApplyQuantizer(params, None, 3, 10, 9))
    items = x_flat[:, :8].reshape(3, 2, 4).astype(np.float64)
    expected = np.clip(np.round(items * scale + bias), -128, 127).astype(np.int8)     # np.round: half to even
    np.testing.assert_array_equal(y[:, :8].reshape(3, 2, 4), expected)
    assert np.all(y[:, 8] == 99)                                           # nothing written between items
    assert (expected == 127).any() and (expected == -128).any()            # saturation was exercised


def test_swift_dequantize_inverts_quantize_and_bad_parameters_change_nothing(bnns):
    q = np.array([[-128, -3, 0, 127], [5, 6, 7, 8]], np.int8)               # a batch of two 4-vectors
    y = np.zeros((2, 4), np.float32)
    scale, bias = np.array([0.25], np.float32), np.array([2], np.float32)
    bnns.BNNS.dequantize(batch_size=2, input=_int8(bnns, q, (4,)), output=desc(bnns, y, size=(4,)),
                         scale=desc(bnns, scale), bias=desc(bnns, bias))
    np.testing.assert_allclose(y, (q.astype(np.float64) - 2) / 0.25, rtol=1e-7)
    back = np.zeros((2, 4), np.int8)
    bnns.BNNS.quantize(2, desc(bnns, y, size=(4,)), _int8(bnns, back, (4,)), None, desc(bnns, scale),
                       desc(bnns, bias))
    np.testing.assert_array_equal(back, q)
    untouched = np.full(4, 7, np.float32)
    with pytest.raises(bnns.BNNSError, match="scale has a zero value"):
        bnns.BNNS.dequantize(1, _int8(bnns, q[0], (4,)), desc(bnns, untouched),
                             scale=desc(bnns, np.zeros(1, np.float32)))
    assert np.all(untouched == 7)
    short = np.full(3, 7, np.int8)
    with pytest.raises(bnns.BNNSError, match="keeps the shape"):                # 4 values into 3
        bnns.BNNS.quantize(1, desc(bnns, y[0]), _int8(bnns, short, (3,)), None, desc(bnns, scale), desc(bnns, bias))
    assert np.all(short == 7)


# --------------------------------------------------------------------------- clipping and norms

def test_clip_by_value_writes_dest_at_its_strides(bnns):
    x = np.random.default_rng(0).uniform(-3, 3, (2, 3)).astype(np.float32)
    dest = np.full((2, 5), 99, np.float32)                     # rows 5 apart: stride (1, 5)
    ok(bnns, bnns.BNNSClipByValue(desc(bnns, dest, size=(3, 2), stride=(1, 5)), desc(bnns, x), -1, 2))
    np.testing.assert_array_equal(dest[:, :3], np.clip(x.astype(np.float64), -1, 2).astype(np.float32))
    assert np.all(dest[:, 3:] == 99)                            # the gaps are not written


def test_clip_by_norm_reproduces_apples_example_and_clip_by_global_norm_scales_together(bnns):
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    y = np.zeros_like(x)
    ok(bnns, bnns.BNNSClipByNorm(desc(bnns, y), desc(bnns, x), 10, 0b10))
    row = np.array([7, 8, 9.0])
    np.testing.assert_allclose(y, np.vstack([x[:2], row * 10 / np.linalg.norm(row)]), **RTOL)
    a, b = np.array([3, 0], np.float32), np.array([4], np.float32)
    ya, yb = np.zeros_like(a), np.zeros_like(b)
    ok(bnns, bnns.BNNSClipByGlobalNorm([desc(bnns, ya), desc(bnns, yb)], [desc(bnns, a), desc(bnns, b)], 2, 1, 0))
    np.testing.assert_allclose(np.concatenate([ya, yb]), [0.6, 0, 0.8], **RTOL)
    ok(bnns, bnns.BNNSClipByGlobalNorm([desc(bnns, ya), desc(bnns, yb)], [desc(bnns, a), desc(bnns, b)], 2, 1, 10))
    np.testing.assert_allclose(np.concatenate([ya, yb]), [0.3, 0, 0.4], **RTOL)        # use_norm wins


def test_compute_norm_and_its_backward_match_the_closed_form_and_finite_differences(bnns):
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    norms = np.zeros(2, np.float32)
    ok(bnns, bnns.BNNSComputeNorm(desc(bnns, norms), desc(bnns, x), bnns.BNNSL2Norm, 0b10))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(norms, np.sqrt((x64 ** 2).sum(axis=1)), **RTOL)
    w = np.array([0.5, -2.0])                                   # dL/dnorm
    dx = np.zeros_like(x)
    ok(bnns, bnns.BNNSComputeNormBackward(desc(bnns, x), desc(bnns, dx), desc(bnns, norms),
                                          desc(bnns, w.astype(np.float32)), bnns.BNNSL2Norm, 0b10))
    numeric = numerical_gradient(lambda v: float(w @ np.sqrt((v ** 2).sum(axis=1))), x64)
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ batch functions

def test_direct_activation_batch_honours_both_strides_and_softmax_axes(bnns):
    x = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)   # 3 items of 4, stride 6
    y = np.full((3, 5), 7, np.float32)                                           # out stride 5
    params = bnns.BNNSLayerParametersActivation(
        i_desc=desc(bnns, x, size=(4,)), o_desc=desc(bnns, y, size=(4,)),
        activation=bnns.BNNSActivation(function=bnns.BNNSActivationFunctionSoftmax))
    ok(bnns, bnns.BNNSDirectApplyActivationBatch(params, None, 3, 6, 5))
    e = np.exp(x[:, :4].astype(np.float64))
    np.testing.assert_allclose(y[:, :4], e / e.sum(axis=1, keepdims=True), rtol=1e-6)
    assert np.all(y[:, 4] == 7)
    relu_in = np.array([[-1, 0, 2], [3, -4, 5]], np.float32)
    relu_out = np.zeros_like(relu_in)
    bnns.BNNS.apply_activation(bnns.BNNSActivation(function=bnns.BNNSActivationFunctionRectifiedLinear),
                              desc(bnns, relu_in, size=(3,)), desc(bnns, relu_out, size=(3,)), 2)
    np.testing.assert_array_equal(relu_out, np.maximum(relu_in, 0))


def test_top_k_and_in_top_k_per_item(bnns):
    x = np.random.default_rng(3).permutation(20).reshape(4, 5).astype(np.float32)
    values, indices = np.zeros((4, 2), np.float32), np.zeros((4, 2), np.int64)
    ok(bnns, bnns.BNNSDirectApplyTopK(2, 0, 4, desc(bnns, x, size=(5,)), 5, desc(bnns, values, size=(2,)), 2,
                                      desc(bnns, indices, size=(2,)), 2, None))
    order = np.argsort(-x, axis=1)[:, :2]
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(values, np.take_along_axis(x, order, 1))
    labels = np.array([[order[0, 0]], [order[1, 1]], [0], [4]], np.int32)
    hits = np.zeros((4, 1), bool)
    bnns.BNNS.apply_in_top_k(k=2, input=desc(bnns, x, size=(5,)), test_indices=desc(bnns, labels, size=(1,)),
                          output=desc(bnns, hits, size=(1,)), axis=0, batch_size=4)
    expected = [(x[n] > x[n, labels[n, 0]]).sum() < 2 for n in range(4)]
    assert hits[:, 0].tolist() == expected and hits[0, 0] and hits[1, 0]


# ----------------------------------------------------------------------------- tensor functions

def test_tile_and_its_backward_against_numpy_and_finite_differences(bnns):
    x = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    y = np.zeros((4, 9), np.float32)
    bnns.BNNS.tile(input=desc(bnns, x), output=desc(bnns, y))
    np.testing.assert_array_equal(y, np.tile(x, (2, 3)))
    w = np.random.default_rng(5).standard_normal((4, 9))
    dx = np.zeros_like(x)
    bnns.BNNS.tile_backward(output_gradient=desc(bnns, w.astype(np.float32)), generating_input_gradient=desc(bnns, dx))
    numeric = numerical_gradient(lambda v: float(np.sum(w * np.tile(v, (2, 3)))), x.astype(np.float64))
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-6)


def test_band_part_shuffle_and_compare(bnns):
    m = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    band = np.zeros_like(m)
    ok(bnns, bnns.BNNSBandPart(1, 0, desc(bnns, m), desc(bnns, band), None))
    np.testing.assert_array_equal(band, np.tril(m) - np.tril(m, -2))
    x = np.arange(16, dtype=np.float32).reshape(4, 2, 2)           # (C, H, W): ImageCHW size (2, 2, 4)
    y = np.zeros((1, 4, 4), np.float32)
    bnns.BNNS.shuffle(bnns.BNNS.ShuffleType.depth_to_space_nchw, input=desc(bnns, x), output=desc(bnns, y))
    expected = x.reshape(1, 2, 2, 2, 2).transpose(0, 3, 1, 4, 2).reshape(1, 4, 4)   # PyTorch's pixel_shuffle
    np.testing.assert_array_equal(y, expected)
    a, b = np.array([1, 5, 3], np.float32), np.array([2, 5, 1], np.float32)
    out = np.zeros(3, bool)
    bnns.BNNS.compare(desc(bnns, a), desc(bnns, b), using=bnns.BNNS.RelationalOperator.greater_equal,
                      output=desc(bnns, out))
    assert out.tolist() == [False, True, True]


def test_gather_and_scatter_in_both_forms(bnns):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    rows = np.zeros((2, 4), np.float32)
    bnns.BNNS.gather(input=desc(bnns, x), indices=desc(bnns, np.array([2, 0], np.int32)), output=desc(bnns, rows),
                     axis=0)
    np.testing.assert_array_equal(rows, x[[2, 0]])
    canvas = np.ones((3, 4), np.float32)
    bnns.BNNS.scatter(input=desc(bnns, rows), indices=desc(bnns, np.array([1, 1], np.int32)),
                      output=desc(bnns, canvas), axis=0, reduction_function=6)            # Sum
    expected = np.ones((3, 4))
    expected[1] += x[2] + x[0]
    np.testing.assert_array_equal(canvas, expected)
    picks = np.zeros(2, np.float32)
    points = np.array([[0, 1], [2, 3]], np.int32)
    ok(bnns, bnns.BNNSGatherND(desc(bnns, x), desc(bnns, points), desc(bnns, picks), None))
    np.testing.assert_array_equal(picks, [x[0, 1], x[2, 3]])
    grid = np.zeros((3, 4), np.float32)
    bnns.BNNS.scatter_nd(input=desc(bnns, picks), indices=desc(bnns, points), output=desc(bnns, grid))   # None: copy
    assert grid[0, 1] == x[0, 1] and grid[2, 3] == x[2, 3] and np.count_nonzero(grid) == 2


# ------------------------------------------------------------------------------------ errors

@pytest.mark.parametrize("case", ["shape", "norm_type", "tile_multiple", "shuffle_factor", "bad_op", "missing_data"])
def test_error_inputs_are_invalid_argument_and_write_nothing(bnns, case):
    x = np.ones((2, 3), np.float32)
    out = np.full((2, 3), 5, np.float32)
    calls = {
        "shape": lambda: bnns.BNNSClipByValue(desc(bnns, np.full((3, 3), 5, np.float32)), desc(bnns, x), 0, 1),
        "norm_type": lambda: bnns.BNNSComputeNorm(desc(bnns, np.zeros(1, np.float32)), desc(bnns, x), 2, 0),
        "tile_multiple": lambda: bnns.BNNSTile(desc(bnns, x), desc(bnns, np.zeros((3, 3), np.float32)), None),
        "shuffle_factor": lambda: bnns.BNNSShuffle(0, desc(bnns, np.ones((4, 2, 2), np.float32)),
                                                   desc(bnns, np.zeros((2, 4, 4), np.float32)), None),
        "bad_op": lambda: bnns.BNNSCompareTensor(desc(bnns, x), desc(bnns, x), 12, desc(bnns, np.zeros((2, 3), bool))),
        "missing_data": lambda: bnns.BNNSClipByValue(desc(bnns, out), bnns.BNNSNDArrayDescriptor(
            layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(3, 2)), 0, 1),
    }
    assert calls[case]() == -1
    error = bnns.last_error()
    assert error is not None and error.status == "INVALID_ARGUMENT", error
    assert np.all(out == 5)


# --------------------------------------------------------------------------- local == remote

def _run_everything(bnns) -> list:
    """Every function once on fixed inputs; the outputs, in order."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    outs = [np.zeros((3, 4), np.float32) for _ in range(4)] + [np.zeros(3, np.float32), np.zeros((3, 4), np.float32),
                                                                np.zeros((6, 8), np.float32), np.zeros((3, 4), bool)]
    bnns.BNNSClipByValue(desc(bnns, outs[0]), desc(bnns, x), -0.5, 0.5)
    bnns.BNNSClipByNorm(desc(bnns, outs[1]), desc(bnns, x), 1.0, 0b10)
    bnns.BNNSClipByGlobalNorm([desc(bnns, outs[2])], [desc(bnns, x)], 1, 0.7, 0)
    bnns.BNNSBandPart(0, 1, desc(bnns, x), desc(bnns, outs[3]), None)
    bnns.BNNSComputeNorm(desc(bnns, outs[4]), desc(bnns, x), bnns.BNNSL2Norm, 0b10)
    bnns.BNNSComputeNormBackward(desc(bnns, x), desc(bnns, outs[5]), desc(bnns, outs[4]),
                                 desc(bnns, np.ones(3, np.float32)), bnns.BNNSL2Norm, 0b10)
    bnns.BNNSTile(desc(bnns, x), desc(bnns, outs[6]), None)
    bnns.BNNSCompareTensor(desc(bnns, x), desc(bnns, outs[0]), bnns.BNNSRelationalOperatorEqual, desc(bnns, outs[7]))
    y = np.zeros((3, 4), np.float32)
    params = bnns.BNNSLayerParametersActivation(
        i_desc=desc(bnns, x, size=(4,)), o_desc=desc(bnns, y, size=(4,)),
        activation=bnns.BNNSActivation(function=bnns.BNNSActivationFunctionGELU))
    bnns.BNNSDirectApplyActivationBatch(params, None, 3, 4, 4)
    quantized = np.zeros((3, 4), np.int8)
    bnns.BNNSDirectApplyQuantizer(bnns.BNNSLayerParametersQuantization(
        axis_mask=0, function=bnns.BNNSQuantizerFunctionQuantize, i_desc=desc(bnns, x, size=(4,)),
        o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(4,), data=quantized,
                                          data_type=bnns.BNNSDataTypeInt8),
        scale=desc(bnns, np.array([37.5], np.float32)), bias=desc(bnns, np.array([0.5], np.float32))), None, 3, 4, 4)
    generator = bnns.BNNSCreateRandomGeneratorWithSeed(bnns.BNNSRandomGeneratorMethodAES_CTR, 123)
    noise: list[np.ndarray] = [np.zeros(16, np.float32), np.zeros(16, np.float32), np.zeros(16, np.int32)]
    bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, noise[0]), -1, 1)
    bnns.BNNSRandomFillNormalFloat(generator, desc(bnns, noise[1]), 0, 2)
    bnns.BNNSRandomFillUniformInt(generator, desc(bnns, noise[2]), -5, 5)
    categories = np.zeros((1, 64), np.int32)
    bnns.BNNSRandomFillCategoricalFloat(generator, desc(bnns, categories),
                                        desc(bnns, np.array([[1, 2, 3, 4]], np.float32)), False)
    noise.append(categories)
    bnns.BNNSDestroyRandomGenerator(generator)
    gathered, scattered = np.zeros((3, 2), np.float32), np.ones((3, 4), np.float32)
    bnns.BNNSGather(1, desc(bnns, x), desc(bnns, np.array([[3, 0], [1, 1], [2, 3]], np.int64)),
                    desc(bnns, gathered), None)
    bnns.BNNSScatter(1, 0, desc(bnns, gathered), desc(bnns, np.array([[0, 1], [1, 2], [3, 3]], np.int64)),
                     desc(bnns, scattered), None)
    return outs + [y] + noise + [gathered, scattered, quantized]


def test_local_and_remote_agree_bit_for_bit(grpc_server):
    import bnns.client as sdk
    try:
        sdk.connect("local")
        local = _run_everything(sdk)
        sdk.connect(grpc_server.grpc_target)
        remote = _run_everything(sdk)
    finally:
        sdk.connect("local")
    for k, (a, b) in enumerate(zip(local, remote)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), k
    assert local[5].any() and local[8].any() and np.unique(local[11]).size > 3   # nothing trivially zero


# -------------------------------------------------------------------------- random generators

def test_seeded_generator_is_numpy_pcg64_from_the_seed_and_fills_resident_tensors(bnns):
    generator = bnns.BNNSCreateRandomGeneratorWithSeed(bnns.BNNSRandomGeneratorMethodAES_CTR, 77)
    assert generator is not None, bnns.last_error()
    first = np.zeros((3, 4), np.float32)
    ok(bnns, bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, first), -0.1, 0.1))
    reference = np.random.default_rng(77)
    tenth = float(np.float32(0.1))
    np.testing.assert_array_equal(first, reference.uniform(-tenth, tenth, (3, 4)).astype(np.float32))
    with bnns.BNNSTensor.empty((3, 4)) as weights:                    # weight initialisation on the server
        ok(bnns, bnns.BNNSRandomFillNormalFloat(generator, bnns.BNNSNDArrayDescriptor(
            layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(4, 3), data=weights), 0, 0.02))
        sigma = float(np.float32(0.02))                                # the C API's parameters are floats
        np.testing.assert_array_equal(weights.numpy(), reference.normal(0, sigma, (3, 4)).astype(np.float32))
    state = bytearray(bnns.BNNSRandomGeneratorStateSize(generator))
    ok(bnns, bnns.BNNSRandomGeneratorGetState(generator, len(state), state))
    again = [np.zeros(5, np.float32), np.zeros(5, np.float32)]
    ok(bnns, bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, again[0]), 0, 1))
    ok(bnns, bnns.BNNSRandomGeneratorSetState(generator, len(state), state))
    ok(bnns, bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, again[1]), 0, 1))
    np.testing.assert_array_equal(again[0], again[1])
    bnns.BNNSDestroyRandomGenerator(generator)
    assert bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, again[0]), 0, 1) == -1


def test_categorical_fill_draws_event_indices_per_distribution_from_the_stream(bnns):
    """Two distributions (rows of probabilities) of 3 events; 500 draws each into Int32, into a
    resident tensor too; the same seed gives the same draws as the kernel in process."""
    p = np.array([[0.5, 0.0, 1.5], [-1.0, 2.0, 0.5]], np.float32)       # the second row: log probabilities
    draws = np.zeros((2, 500), np.int32)
    with bnns.BNNS.RandomGenerator(seed=21) as generator:
        ok(bnns, bnns.BNNSRandomFillCategoricalFloat(generator, desc(bnns, draws[:1]), desc(bnns, p[:1]), False))
        logged = np.zeros((1, 500), np.int32)
        ok(bnns, bnns.BNNSRandomFillCategoricalFloat(generator, desc(bnns, logged), desc(bnns, p[1:]), True))
    from bnns.kernels.random import RandomGenerator
    reference = RandomGenerator(seed=21)
    np.testing.assert_array_equal(draws[:1], reference.categorical(p[:1], (1, 500), False, np.int32))
    np.testing.assert_array_equal(logged, reference.categorical(p[1:], (1, 500), True, np.int32))
    assert not (draws[0] == 1).any() and abs((draws[0] == 2).mean() - 0.75) < 0.07
    with bnns.BNNS.RandomGenerator(seed=21) as generator, bnns.BNNSTensor.empty((1, 500), bnns.BNNSDataTypeInt32) as resident:
        ok(bnns, bnns.BNNSRandomFillCategoricalFloat(generator, bnns.BNNSNDArrayDescriptor(
            layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(500, 1), data=resident, data_type=bnns.BNNSDataTypeInt32),
            desc(bnns, p[:1]), False))
        np.testing.assert_array_equal(resident.numpy(), draws[:1])
    untouched = np.full((2, 4), 9, np.int32)
    with bnns.BNNS.RandomGenerator(seed=21) as generator:
        assert bnns.BNNSRandomFillCategoricalFloat(generator, desc(bnns, untouched), desc(bnns, p[:1]), False) == -1
        assert "same leading axes" in str(bnns.last_error()) and np.all(untouched == 9)


def test_swift_allocate_random_uniform_using_a_generator(bnns):
    with bnns.BNNS.RandomGenerator(bnns.BNNS.RandomGeneratorMethod.aes_ctr, 8) as generator:
        floats = bnns.BNNSNDArrayDescriptor.allocate(random_uniform_using=generator, range=(-1.0, 1.0),
                                                     shape=bnns.BNNS.Shape.matrix_row_major(3, 2), batch_size=2)
        ints = bnns.BNNSNDArrayDescriptor.allocate(random_uniform_using=generator, range=(1, 6),
                                                   shape=bnns.BNNS.Shape.vector(50), data_type=bnns.BNNSDataTypeInt32)
    reference = np.random.default_rng(8)
    assert floats.data.shape == (2, 2, 3)
    np.testing.assert_array_equal(floats.data.reshape(-1), reference.uniform(-1, 1, 12).astype(np.float32))
    np.testing.assert_array_equal(ints.data.reshape(-1), reference.integers(1, 6, 50, endpoint=True))


def test_bad_fill_is_invalid_and_does_not_move_the_generator(bnns):
    with bnns.BNNS.RandomGenerator(seed=5) as generator:
        out = np.full(4, 3, np.float32)
        assert bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, out), 1, 1) == -1
        assert bnns.last_error().status == "INVALID_ARGUMENT" and np.all(out == 3)
        assert bnns.BNNSRandomFillUniformInt(generator, desc(bnns, out), 0, 3) == -1    # a float destination
        ok(bnns, bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, out), 0, 1))
        np.testing.assert_array_equal(out, np.random.default_rng(5).uniform(0, 1, 4).astype(np.float32))
    with pytest.raises(bnns.BNNSError, match="destroyed"):            # a closed generator is refused
        _ = generator.state


def test_a_session_keeps_generators_alive_and_destroys_them(bnns):
    with bnns.session() as session:
        generator = bnns.BNNSCreateRandomGenerator(bnns.BNNSRandomGeneratorMethodAES_CTR)
        assert generator.generator_id in session._ids()
        renewed = generator.backend.call("KeepAlive", pb.KeepAliveRequest(handle_ids=session._ids()))
        assert list(renewed.missing) == []
        ok(bnns, bnns.BNNSRandomFillUniformFloat(generator, desc(bnns, np.zeros(3, np.float32)), 0, 1))
    assert generator.destroyed
    missing = generator.backend.call("KeepAlive", pb.KeepAliveRequest(handle_ids=[generator.generator_id])).missing
    assert list(missing) == [generator.generator_id]


def test_generator_state_survives_a_restart(tmp_path):
    import bnns.client as sdk
    server = Durable(tmp_path)
    try:
        sdk.connect(server.target)
        generator = sdk.BNNSCreateRandomGeneratorWithSeed(sdk.BNNSRandomGeneratorMethodAES_CTR, 31)
        before, after = np.zeros(6, np.float32), np.zeros(6, np.float32)
        weights = sdk.BNNSTensor.empty((6,))
        ok(sdk, sdk.BNNSRandomFillUniformFloat(generator, desc(sdk, before), 0, 1))
        ok(sdk, sdk.BNNSRandomFillNormalFloat(generator, sdk.BNNSNDArrayDescriptor(size=(6,), data=weights), 0, 1))
        server.restart(signal.SIGKILL)
        ok(sdk, sdk.BNNSRandomFillUniformFloat(generator, desc(sdk, after), 0, 1))
        reference = np.random.default_rng(31)
        np.testing.assert_array_equal(before, reference.uniform(0, 1, 6).astype(np.float32))
        expected_weights = reference.normal(0, 1, 6).astype(np.float32)
        np.testing.assert_array_equal(weights.numpy(), expected_weights)          # the filled tensor survived too
        np.testing.assert_array_equal(after, reference.uniform(0, 1, 6).astype(np.float32))
        sdk.BNNSDestroyRandomGenerator(generator)
        server.restart(signal.SIGTERM)
        assert sdk.BNNSRandomFillUniformFloat(generator, desc(sdk, after), 0, 1) == -1   # destroyed stays destroyed
        assert getattr(sdk.last_error(), "status", None) == "INVALID_ARGUMENT"                     # the SDK knows it is destroyed
    finally:
        sdk.connect("local")
        server.stop()


# ----------------------------------------------------------------------------------------- REST

def _local_answer(rpc: str, body: dict) -> dict:
    from bnns.server.rest import render_json
    request = json_format.ParseDict(body, getattr(pb, rpc + "Request")())
    return render_json(Core().call(rpc, request), request, lambda: np.dtype("<f4"))


@pytest.mark.parametrize("rpc", sorted(direct.EXAMPLES))
def test_rest_serves_each_function_with_a_json_body(server, rpc):
    summary, body = direct.EXAMPLES[rpc]
    name = rpc[0].lower() + rpc[1:]
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        response = http.post(f"/v1/{name}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == _local_answer(rpc, body)


def test_rest_random_generator_round_trip(server):
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        made = http.post("/v1/createRandomGeneratorWithSeed", json={"seed": direct.SEED})
        assert made.status_code == 200, made.text
        generator_id = made.json()["generator_id"]
        assert generator_id.startswith("g-")
        examples = direct.generator_examples(generator_id)
        state = http.post("/v1/randomGeneratorGetState", json={"generator_id": generator_id}).json()["state"]
        assert len(base64.b64decode(state)) == 40
        fill = http.post("/v1/randomFillUniformFloat", params={"values": "true"},
                         json=examples["RandomFillUniformFloat"][1]).json()
        expected = np.random.default_rng(direct.SEED).uniform(0, 1, 4).astype(np.float32)
        np.testing.assert_array_equal(np.array(fill["desc"]["values"], np.float32), expected)
        dice = http.post("/v1/randomFillUniformInt", params={"values": "true"},
                         json=examples["RandomFillUniformInt"][1]).json()
        assert all(1 <= v <= 6 for v in dice["desc"]["values"])
        missing = http.post("/v1/randomFillUniformFloat", json={**examples["RandomFillUniformFloat"][1],
                                                                 "generator_id": "g-0000000000000000"})
        assert missing.status_code == 404 and "GENERATOR_NOT_FOUND" in missing.text
        assert http.post("/v1/destroyRandomGenerator", json={"generator_id": generator_id}).status_code == 200


# ----------------------------------------------------------------------- descriptor arithmetic

def test_data_size_counts_the_span_at_the_type_width():
    import bnns.client as sdk
    D = sdk.BNNSNDArrayDescriptor
    assert sdk.BNNSNDArrayGetDataSize(D(layout=sdk.BNNSDataLayoutImageCHW, size=(4, 3, 2))) == 4 * 3 * 2 * 4
    # rows 5 apart: elements 0..2, 5..7 -> a span of 8 Float16 values
    assert sdk.BNNSNDArrayGetDataSize(D(layout=sdk.BNNSDataLayoutRowMajorMatrix, size=(3, 2), stride=(1, 5),
                                        data_type=sdk.BNNSDataTypeFloat16)) == 16
    assert sdk.BNNSNDArrayGetDataSize(D(size=(5,), data_type=sdk.BNNSDataTypeInt4)) == 3          # 20 bits
    # FirstMajor: stride[0] pairs with the last extent (3), stride[1] = 4 with the first (2): span 1 + 2 + 4
    assert sdk.BNNSNDArrayGetDataSize(D(layout=sdk.BNNSDataLayout2DFirstMajor, size=(2, 3), stride=(1, 4))) == 28
    assert sdk.BNNSNDArrayGetDataSize(D(layout=sdk.BNNSDataLayoutImageCHW, size=(4, 0, 2))) == 0


def test_layout_rank_and_tensor_allocation_size():
    import types
    import bnns.client as sdk
    ranks = {sdk.BNNSDataLayoutVector: 1, sdk.BNNSDataLayoutRowMajorMatrix: 2, sdk.BNNSDataLayout2DFirstMajor: 2,
             sdk.BNNSDataLayoutImageCHW: 3, sdk.BNNSDataLayoutConvolutionWeightsOIHW: 4,
             sdk.BNNSDataLayout8DLastMajor: 8, 0x12345: 0}
    for value, rank in ranks.items():
        assert sdk.BNNSDataLayoutGetRank(value) == rank, hex(value)
    sdk.connect("local")
    with sdk.BNNSTensor.from_array(np.zeros((3, 4), np.float32)) as tensor:
        assert sdk.BNNSTensorGetAllocationSize(tensor) == 48 == tensor.data_size_in_bytes
    padded = types.SimpleNamespace(shape=(2, 3), stride=(8, 1), data_type=sdk.BNNSDataTypeFloat32)
    assert sdk.BNNSTensorGetAllocationSize(padded) == (1 + 1 * 8 + 2 * 1) * 4


# ------------------------------------------------------------- resident tensors and Float16

def test_functions_chain_on_server_tensors_and_a_failure_leaves_the_target_alone(bnns):
    x = np.random.default_rng(12).standard_normal((4, 6)).astype(np.float32)
    D = bnns.BNNSNDArrayDescriptor
    with bnns.BNNSTensor.from_array(x) as src, bnns.BNNSTensor.empty((4, 6)) as clipped, \
            bnns.BNNSTensor.empty((4, 2)) as best:
        matrix = dict(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(6, 4))
        ok(bnns, bnns.BNNSClipByValue(D(**matrix, data=clipped), D(**matrix, data=src), -0.5, 0.5))
        ok(bnns, bnns.BNNSDirectApplyTopK(2, 0, 4, D(size=(6,), data=clipped), 6, D(size=(2,), data=best), 2,
                                          None, 0, None))
        expected = -np.sort(-np.clip(x, -0.5, 0.5), axis=1)[:, :2]
        np.testing.assert_array_equal(best.numpy(), expected)
        before = clipped.numpy()
        assert bnns.BNNSClipByValue(D(**matrix, data=clipped), D(**matrix, data=src), 1, -1) == -1   # min > max
        assert bnns.last_error().status == "INVALID_ARGUMENT"
        np.testing.assert_array_equal(clipped.numpy(), before)


def test_float16_descriptors_are_converted_on_the_way_in_and_out(bnns):
    x = np.array([[0.1, -3.0, 2.5]], np.float16)
    y = np.zeros_like(x)
    D = bnns.BNNSNDArrayDescriptor
    ok(bnns, bnns.BNNSClipByValue(D(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(3, 1), data=y,
                                    data_type=bnns.BNNSDataTypeFloat16),
                                  D(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(3, 1), data=x,
                                    data_type=bnns.BNNSDataTypeFloat16), -1, 1))
    np.testing.assert_array_equal(y, np.clip(x.astype(np.float32), -1, 1).astype(np.float16))


def test_a_small_request_for_a_huge_result_is_refused_before_allocation(grpc_server):
    import bnns.client as sdk
    backend = sdk.connect(grpc_server.grpc_target)
    try:
        tile = json_format.ParseDict({"input": {"layout": "DATA_LAYOUT_ROW_MAJOR_MATRIX", "size": [1, 1],
                                                "data": {"values": [1]}},
                                      "output": {"layout": "DATA_LAYOUT_ROW_MAJOR_MATRIX", "size": [2**30, 2**9]}},
                                     pb.TileRequest())
        generator = backend.call("CreateRandomGeneratorWithSeed", pb.CreateRandomGeneratorWithSeedRequest(seed=1))
        fill = json_format.ParseDict({"generator_id": generator.generator_id, "a": 0, "b": 1,
                                      "desc": {"layout": "DATA_LAYOUT_ROW_MAJOR_MATRIX", "size": [2**30, 2**5]}},
                                     pb.RandomFillUniformFloatRequest())
        for rpc, request in (("Tile", tile), ("RandomFillUniformFloat", fill)):
            assert request.ByteSize() < 100
            with pytest.raises(sdk.BNNSError) as error:
                backend.call(rpc, request)
            assert error.value.status == "RESOURCE_EXHAUSTED" and "max_call_bytes" in error.value.message
        state = backend.call("RandomGeneratorGetState", pb.RandomGeneratorGetStateRequest(
            generator_id=generator.generator_id)).state
        with sdk.BNNS.RandomGenerator(seed=1) as fresh:
            assert state == fresh.state                               # the refused fill did not move it
    finally:
        sdk.connect("local")
