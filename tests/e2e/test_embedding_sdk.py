"""Embedding through the SDK on both backends (the kind's row in server/kinds.py gives it the test
matrix; this checks the C and Swift forms): Apple's documented example, the backward's scatter-add
against its closed form with padding index and scale-by-frequency, max-norm renormalisation of the
live dictionary, errors, and local == remote bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import bnns.client as sdk
from bnns.kernels.errors import BNNSError

DICTIONARY = np.array([[r * 10 + c + 1 for c in range(5)] for r in range(7)], np.float32)   # Apple's example


def descs(bnns, count, rows=7, dim=5, index_type=None, dictionary=None):
    index_type = index_type or bnns.BNNSDataTypeInt8
    i = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(count,), data_type=index_type)
    d = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(dim, rows),
                                   data=DICTIONARY.copy() if dictionary is None else dictionary)
    o = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(dim, count))
    return i, d, o


def test_apples_example_through_the_swift_layer(bnns):
    """Apple's BNNS.EmbeddingLayer documentation: indices 1, 5, 2 of a 7 x 5 dictionary."""
    i, d, o = descs(bnns, 3)
    indices = np.array([1, 5, 2], np.int8)
    out = np.zeros((3, 5), np.float32)
    with bnns.BNNS.EmbeddingLayer(input=i, output=o, dictionary=d, padding_index=0, maximum_norm=0,
                                  norm_type="euclidean", scales_gradient_by_frequency=False) as layer:
        layer.apply(1, indices, out)
    np.testing.assert_array_equal(out.reshape(-1), [11, 12, 13, 14, 15, 51, 52, 53, 54, 55, 21, 22, 23, 24, 25])


@pytest.mark.parametrize("padding, frequency", [(None, False), (2, False), (None, True), (2, True)])
def test_backward_scatter_adds_into_the_dictionary(bnns, padding, frequency):
    i, d, o = descs(bnns, 4, index_type=bnns.BNNSDataTypeInt32)
    params = bnns.BNNSLayerParametersEmbedding(i_desc=i, o_desc=o, dictionary=d, padding_idx=padding,
                                               flags=bnns.BNNSEmbeddingFlagScaleGradientByFrequency if frequency else 0)
    f = bnns.BNNSFilterCreateLayerEmbedding(params, None)
    assert f is not None, bnns.last_error()
    idx = np.array([[1, 2, 1, 6], [2, 2, 0, 1]], np.int32)
    dy = np.random.default_rng(0).normal(size=(2, 4, 5)).astype(np.float32)
    out = np.zeros((2, 4, 5), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 2, idx, 0, out, 0) == 0, bnns.last_error()
    np.testing.assert_array_equal(out, DICTIONARY[idx])                    # the padding row is looked up too
    grad = np.full((7, 5), 9, np.float32)
    wd = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(5, 7), data=grad)
    od = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(5, 4), data=dy)
    assert bnns.BNNSFilterApplyBackwardBatch(f, 2, idx, 0, None, 0, None, 0, od, 0, wd, None) == 0, bnns.last_error()
    expected = np.zeros((7, 5))
    counts = np.zeros(7)
    for n in range(2):
        for p in range(4):
            expected[idx[n, p]] += dy[n, p]
            counts[idx[n, p]] += 1
    if frequency:
        expected /= np.maximum(counts, 1)[:, None]
    if padding is not None:
        expected[padding] = 0
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)
    bnns.BNNSFilterDestroy(f)


def test_max_norm_renormalises_the_rows_looked_up(bnns):
    i, d, o = descs(bnns, 2)
    params = bnns.BNNSLayerParametersEmbedding(i_desc=i, o_desc=o, dictionary=d, max_norm=20.0)
    f = bnns.BNNSFilterCreateLayerEmbedding(params, None)
    out = np.zeros((1, 2, 5), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 1, np.array([0, 3], np.int8), 0, out, 0) == 0, bnns.last_error()
    np.testing.assert_allclose(out[0, 0], DICTIONARY[0], rtol=1e-6)     # norm 7.4 <= 20: unchanged
    row = DICTIONARY[3].astype(np.float64)
    np.testing.assert_allclose(out[0, 1], row * 20 / (np.linalg.norm(row) + 1e-7), rtol=1e-6)
    p1 = bnns.BNNSLayerParametersEmbedding(i_desc=i, o_desc=o, dictionary=descs(bnns, 2)[1], max_norm=3.0,
                                           norm_type=1.0)
    g = bnns.BNNSFilterCreateLayerEmbedding(p1, None)
    assert bnns.BNNSFilterApplyBatch(g, 1, np.array([0, 0], np.int8), 0, out, 0) == 0
    np.testing.assert_allclose(np.abs(out[0]).sum(axis=1), [3, 3], rtol=1e-5)   # the 1-norm, as norm_type says


def test_bad_indices_and_parameters_are_refused(bnns):
    i, d, o = descs(bnns, 3)
    f = bnns.BNNSFilterCreateLayerEmbedding(bnns.BNNSLayerParametersEmbedding(i_desc=i, o_desc=o, dictionary=d), None)
    out = np.full((1, 3, 5), 4, np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 1, np.array([1, 7, 2], np.int8), 0, out, 0) == -1
    assert bnns.last_error().status == "INVALID_ARGUMENT" and "outside [0, 7)" in str(bnns.last_error())
    assert np.all(out == 4)
    dx = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(3,), data=np.zeros((1, 3), np.float32))
    od = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(5, 3), data=np.ones((1, 3, 5), np.float32))
    assert bnns.BNNSFilterApplyBackwardBatch(f, 1, np.array([1, 2, 3], np.int8), 0, dx, 0, None, 0, od, 0,
                                             None, None) == -1
    assert "no gradient" in str(bnns.last_error())
    bad = bnns.BNNSLayerParametersEmbedding(i_desc=i, o_desc=descs(bnns, 4)[2], dictionary=d)
    assert bnns.BNNSFilterCreateLayerEmbedding(bad, None) is None and "o_desc" in str(bnns.last_error())
    with pytest.raises(BNNSError, match="norm_type"):
        bnns.BNNS.EmbeddingLayer(input=i, output=o, dictionary=d, norm_type="chebyshev")


def test_in_process_equals_remote_bit_for_bit(grpc_server):
    results = []
    for target in ("local", grpc_server.grpc_target):
        sdk.connect(target)
        try:
            i, d, o = descs(sdk, 4, index_type=sdk.BNNSDataTypeInt32)
            f = sdk.BNNSFilterCreateLayerEmbedding(sdk.BNNSLayerParametersEmbedding(
                i_desc=i, o_desc=o, dictionary=d, max_norm=30.0, flags=1), None)
            idx = np.array([[1, 2, 1, 6], [2, 2, 0, 1]], np.int32)
            out = np.zeros((2, 4, 5), np.float32)
            assert sdk.BNNSFilterApplyBatch(f, 2, idx, 0, out, 0) == 0
            grad = np.zeros((7, 5), np.float32)
            dy = np.random.default_rng(1).normal(size=(2, 4, 5)).astype(np.float32)
            assert sdk.BNNSFilterApplyBackwardBatch(
                f, 2, idx, 0, None, 0, None, 0,
                sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayout2DLastMajor, size=(5, 4), data=dy), 0,
                sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayout2DLastMajor, size=(5, 7), data=grad), None) == 0
            results.append((out, grad))
        finally:
            sdk.connect("local")
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_swift_initializer_takes_positional_order_and_labels(bnns):
    """BNNS.EmbeddingLayer(input:output:dictionary:paddingIndex:maximumNorm:normType:
    scalesGradientByFrequency:filterParameters:), positionally in that order or by label."""
    outputs = []
    for make in (lambda i, o, d: bnns.BNNS.EmbeddingLayer(i, o, d, None, 20.0, 2.0, True, None),
                 lambda i, o, d: bnns.BNNS.EmbeddingLayer(input=i, output=o, dictionary=d, padding_index=None,
                                                          maximum_norm=20.0, norm_type="euclidean",
                                                          scales_gradient_by_frequency=True, filter_parameters=None)):
        i, d, o = descs(bnns, 3)
        out, grad = np.zeros((1, 3, 5), np.float32), np.zeros((7, 5), np.float32)
        with make(i, o, d) as layer:
            layer.apply(1, np.array([3, 1, 3], np.int8), out)
            layer.apply_backward(1, np.array([3, 1, 3], np.int8), out, np.ones_like(out), bnns.BNNSNDArrayDescriptor(
                layout=bnns.BNNSDataLayout2DLastMajor, size=(5, 7), data=grad))
        outputs.append((out, grad))
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(outputs[0][1][3], 1.0)            # two hits, scaled by their frequency
    assert np.linalg.norm(outputs[0][0][0, 0]) <= 20.0 + 1e-4   # row 3 (norm 71) renormalised
