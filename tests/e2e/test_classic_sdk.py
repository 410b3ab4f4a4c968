"""The classic creators (deprecated since macOS 11) through the SDK on both backends: each makes
the filter its BNNSFilterCreateLayer* successor makes, from the classic structs and memory layouts
(an image stack's row_stride and image_stride, OIHW convolution weights, out_size x in_size fully
connected weights), checked against NumPy closed forms; bad structs are refused with a reason."""

from __future__ import annotations

import numpy as np
import pytest


def ok(bnns, rc):
    assert rc == 0, bnns.last_error()


def test_classic_convolution_reads_and_writes_strided_image_stacks(bnns):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)          # (out, in, ky, kx)
    b = rng.standard_normal(3).astype(np.float32)
    # Input 2 channels of 4x5 with rows 6 apart and channels 40 apart (padding never read).
    in_stack = bnns.BNNSImageStackDescriptor(width=4, height=5, channels=2, row_stride=6, image_stride=40)
    out_stack = bnns.BNNSImageStackDescriptor(width=4, height=5, channels=3)          # packed
    params = bnns.BNNSConvolutionLayerParameters(
        x_stride=1, y_stride=1, x_padding=1, y_padding=1, k_width=3, k_height=3, in_channels=2, out_channels=3,
        weights=bnns.BNNSLayerData(data=w), bias=bnns.BNNSLayerData(data=b),
        activation=bnns.BNNSActivation(bnns.BNNSActivationFunctionRectifiedLinear))
    f = bnns.BNNSFilterCreateConvolutionLayer(in_stack, out_stack, params, None)
    assert f is not None, bnns.last_error()
    batch = 2
    memory = np.full((batch, 80), 1e6, np.float32)                     # item stride 80 (2 x 40)
    x = rng.standard_normal((batch, 2, 5, 4)).astype(np.float32)
    for n, c, y_, x_ in np.ndindex(*x.shape):
        memory[n, x_ + 6 * y_ + 40 * c] = x[n, c, y_, x_]
    out = np.zeros((batch, 3 * 5 * 4), np.float32)
    ok(bnns, bnns.BNNSFilterApplyBatch(f, batch, memory, 80, out, 60))
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros((batch, 3, 5, 4))
    for o, i, ky, kx in np.ndindex(*w.shape):
        expected[:, o] += w[o, i, ky, kx] * padded[:, i, ky:ky + 5, kx:kx + 4]
    expected = np.maximum(expected + b[None, :, None, None], 0)
    np.testing.assert_allclose(out.reshape(batch, 3, 5, 4), expected, rtol=1e-5, atol=1e-5)
    bnns.BNNSFilterDestroy(f)


def test_classic_fully_connected_and_vector_activation(bnns):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 5)).astype(np.float32)                # out_size rows of in_size
    b = rng.standard_normal(3).astype(np.float32)
    f = bnns.BNNSFilterCreateFullyConnectedLayer(
        bnns.BNNSVectorDescriptor(5), bnns.BNNSVectorDescriptor(3),
        bnns.BNNSFullyConnectedLayerParameters(in_size=5, out_size=3, weights=bnns.BNNSLayerData(data=w),
                                               bias=bnns.BNNSLayerData(data=b)), None)
    assert f is not None, bnns.last_error()
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = np.zeros((4, 3), np.float32)
    ok(bnns, bnns.BNNSFilterApplyBatch(f, 4, x, 5, y, 3))
    np.testing.assert_allclose(y, x.astype(np.float64) @ w.T + b, rtol=1e-5, atol=1e-6)
    tanh = bnns.BNNSFilterCreateVectorActivationLayer(bnns.BNNSVectorDescriptor(3), bnns.BNNSVectorDescriptor(3),
                                                      bnns.BNNSActivation(bnns.BNNSActivationFunctionTanh), None)
    assert tanh is not None, bnns.last_error()
    z = np.zeros_like(y)
    ok(bnns, bnns.BNNSFilterApplyBatch(tanh, 4, y, 3, z, 3))
    np.testing.assert_allclose(z, np.tanh(y.astype(np.float64)), rtol=1e-6, atol=1e-7)
    for handle in (f, tanh):
        bnns.BNNSFilterDestroy(handle)


def test_classic_max_pooling(bnns):
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 4)).astype(np.float32)
    f = bnns.BNNSFilterCreatePoolingLayer(
        bnns.BNNSImageStackDescriptor(4, 4, 2), bnns.BNNSImageStackDescriptor(2, 2, 2),
        bnns.BNNSPoolingLayerParameters(x_stride=2, y_stride=2, k_width=2, k_height=2, in_channels=2, out_channels=2,
                                        pooling_function=bnns.BNNSPoolingFunctionMax), None)
    assert f is not None, bnns.last_error()
    y = np.zeros((1, 2, 2, 2), np.float32)
    ok(bnns, bnns.BNNSFilterApplyBatch(f, 1, x, 32, y, 8))
    np.testing.assert_array_equal(y, x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    bnns.BNNSFilterDestroy(f)


@pytest.mark.parametrize("case, phrase", [
    ("channels", "channels"), ("table", "data_table"), ("no_weights", "weights.data is not set"),
    ("overlap", "overlap"),
])
def test_classic_structs_that_do_not_fit_are_refused_with_a_reason(bnns, case, phrase):
    w = bnns.BNNSLayerData(data=np.zeros((1, 1, 1, 1), np.float32))
    stack = bnns.BNNSImageStackDescriptor(2, 2, 1)
    params = bnns.BNNSConvolutionLayerParameters(in_channels=1, out_channels=1, weights=w)
    if case == "channels":
        params.in_channels = 2
    elif case == "table":
        params.weights = bnns.BNNSLayerData(data=np.zeros(1, np.uint8), data_table=np.zeros(256, np.float32))
    elif case == "no_weights":
        params.weights = bnns.BNNSLayerData()
    else:
        stack = bnns.BNNSImageStackDescriptor(2, 2, 1, row_stride=1)
    assert bnns.BNNSFilterCreateConvolutionLayer(stack, bnns.BNNSImageStackDescriptor(2, 2, 1), params, None) is None
    assert phrase in str(bnns.last_error())
