"""Convolution family through the SDK, against the live server and in process (the `bnns`
fixture runs every test on both backends)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from bnns.kernels.errors import InvalidArgumentError, NotFoundError

RTOL = 1e-5   # float32 GEMM sums of <= 600 terms against a float64 reference


def reference_conv(x, w, b, stride=1, pad=(0, 0, 0, 0), dilation=1):
    """Independent float64 conv: sliding windows + einsum. pad = (top, bottom, left, right)."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), pad[:2], pad[2:]))
    kh, kw = w.shape[2:]
    windows = sliding_window_view(x, ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride, ::dilation, ::dilation]
    y = np.einsum("nchwij,ocij->nohw", windows, w.astype(np.float64))
    return y + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def image(bnns, c, h, w, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data)


def conv_filter(bnns, rng, n_in=3, n_out=4, hw=6, k=3, activation=None, bias=True, **params):
    w = rng.standard_normal((n_out, n_in, k, k)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32) if bias else None
    pad = params.get("x_padding", 0)
    out_hw = (hw + 2 * pad - k) // params.get("x_stride", 1) + 1
    p = bnns.BNNSLayerParametersConvolution(
        i_desc=image(bnns, n_in, hw, hw), o_desc=image(bnns, n_out, out_hw, out_hw),
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW),
        bias=bnns.BNNSNDArrayDescriptor.from_array(b, bnns.BNNSDataLayoutVector) if bias else None,
        activation=activation, **{"y_padding": pad, "y_stride": params.get("x_stride", 1), **params})
    f = bnns.BNNSFilterCreateLayerConvolution(p, None)
    assert f is not None, bnns.last_error()
    return f, w, b, out_hw


def test_convolution_forward_matches_reference(bnns):
    rng = np.random.default_rng(1)
    f, w, b, ohw = conv_filter(bnns, rng, x_padding=1, x_stride=2)
    x = rng.standard_normal((5, 3, 6, 6)).astype(np.float32)
    y = np.zeros((5, 4, ohw, ohw), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 5, x, 3 * 36, y, 4 * ohw * ohw) == 0
    np.testing.assert_allclose(y, reference_conv(x, w, b, stride=2, pad=(1, 1, 1, 1)), rtol=RTOL, atol=1e-5)


def test_backward_gradients_match_reference(bnns):
    rng = np.random.default_rng(2)
    f, w, b, ohw = conv_filter(bnns, rng, x_padding=1)
    n = 3
    x = rng.standard_normal((n, 3, 6, 6)).astype(np.float32)
    y = np.zeros((n, 4, 6, 6), np.float32)
    bnns.BNNSFilterApplyBatch(f, n, x, 108, y, 144)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros(4, np.float32)
    rc = bnns.BNNSFilterApplyBackwardBatch(
        f, n, x, 108, image(bnns, 3, 6, 6, dx), 108, y, 144, image(bnns, 4, 6, 6, dy), 144,
        bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, 3, 4), data=dw),
        bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(4,), data=db))
    assert rc == 0, bnns.last_error()
    # Closed forms: dW = sum_n corr(x_n, dy_n); db = sum dy; dx via the adjoint identity.
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(xp, (3, 3), axis=(2, 3))
    np.testing.assert_allclose(dw, np.einsum("nchwij,nohw->ocij", windows, dy), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    probe = rng.standard_normal(x.shape)
    lhs = (reference_conv(probe, w, None, pad=(1, 1, 1, 1)) * dy).sum()
    np.testing.assert_allclose((probe * dx).sum(), lhs, rtol=1e-4)


def test_strided_buffers_leave_gaps_untouched(bnns):
    rng = np.random.default_rng(3)
    f, w, b, ohw = conv_filter(bnns, rng, k=3, x_padding=1)
    n, item_in, item_out, gap = 2, 3 * 36, 4 * 36, 7
    x = rng.standard_normal((n, 3, 6, 6)).astype(np.float32)
    x_strided = np.full(n * (item_in + gap), np.nan, np.float32)     # NaN gaps: must never be read
    for i in range(n):
        x_strided[i * (item_in + gap): i * (item_in + gap) + item_in] = x[i].ravel()
    y = np.full(n * (item_out + gap), -7.0, np.float32)
    assert bnns.BNNSFilterApplyBatch(f, n, x_strided, item_in + gap, y, item_out + gap) == 0, bnns.last_error()
    expected = reference_conv(x, w, b, pad=(1, 1, 1, 1)).astype(np.float32)
    for i in range(n):
        start = i * (item_out + gap)
        np.testing.assert_allclose(y[start:start + item_out], expected[i].ravel(), rtol=RTOL, atol=1e-5)
        assert np.all(y[start + item_out:start + item_out + gap] == -7.0)


def test_accumulate_flag_adds_into_gradient(bnns):
    rng = np.random.default_rng(4)
    f, w, b, ohw = conv_filter(bnns, rng, x_padding=1)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    dy = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    grads = []
    for flags, start in ((bnns.BNNSNDArrayFlagBackpropSet, 100.0), (bnns.BNNSNDArrayFlagBackpropAccumulate, 100.0)):
        dw = np.full_like(w, start)
        rc = bnns.BNNSFilterApplyBackwardBatch(
            f, 2, x, 108, None, 0, None, 0, image(bnns, 4, 6, 6, dy), 144,
            bnns.BNNSNDArrayDescriptor(flags=flags, layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW,
                                       size=(3, 3, 3, 4), data=dw), None)
        assert rc == 0, bnns.last_error()
        grads.append(dw)
    np.testing.assert_allclose(grads[1], grads[0] + 100.0, rtol=1e-6)


def test_local_and_remote_backends_give_identical_numbers(grpc_server):
    import bnns.client as sdk
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    outputs = []
    for target in ("local", grpc_server.grpc_target):
        sdk.connect(target)
        f, *_ , ohw = conv_filter(sdk, np.random.default_rng(6), x_padding=1,
                                  activation=sdk.BNNSActivation(sdk.BNNSActivationFunctionTanh))
        y = np.zeros((4, 4, 6, 6), np.float32)
        dx = np.zeros_like(x)
        sdk.BNNSFilterApplyBatch(f, 4, x, 108, y, 144)
        sdk.BNNSFilterApplyBackwardBatch(f, 4, x, 108, image(sdk, 3, 6, 6, dx), 108, y, 144,
                                         image(sdk, 4, 6, 6, np.ones_like(y)), 144, None, None)
        outputs.append((y, dx))
        sdk.BNNSFilterDestroy(f)
    sdk.connect("local")
    assert np.array_equal(outputs[0][0], outputs[1][0]) and np.array_equal(outputs[0][1], outputs[1][1])


def test_transposed_convolution_is_adjoint_of_convolution(bnns):
    rng = np.random.default_rng(7)
    # Transposed conv 4 -> 3 channels, 3x3 -> 6x6 (stride 2, pad 1, one extra row/column).
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)     # OIHW: O = 3 outputs of the tconv
    p = bnns.BNNSLayerParametersConvolution(
        i_desc=image(bnns, 4, 3, 3), o_desc=image(bnns, 3, 6, 6),
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW),
        x_stride=2, y_stride=2, x_padding=1, y_padding=1)
    f = bnns.BNNSFilterCreateLayerTransposedConvolution(p, None)
    assert f is not None, bnns.last_error()
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    y = np.zeros((2, 3, 6, 6), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 2, x, 36, y, 108) == 0
    probe = rng.standard_normal((2, 3, 6, 6))
    # <tconv(x), probe> = <x, conv(probe)> with conv weights W^T (4, 3, 3, 3).
    conv_probe = reference_conv(probe, w.transpose(1, 0, 2, 3), None, stride=2, pad=(1, 1, 1, 1))
    np.testing.assert_allclose((y * probe).sum(), (x * conv_probe).sum(), rtol=1e-4)


def test_fully_connected_hand_case(bnns):
    # bnns.md 6.3: weights 0, 0.02, ... as a 9 x 2 (I x O) row-major matrix, x = 1.0 .. 1.8,
    # bias (0.3, 0.7) -> (1.428, 4.096).
    w = (0.02 * np.arange(18, dtype=np.float32)).reshape(2, 9)
    p = bnns.BNNSLayerParametersFullyConnected(
        i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(9,)),
        w_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(9, 2), data=w),
        o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(2,)),
        bias=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(2,),
                                        data=np.array([0.3, 0.7], np.float32)))
    f = bnns.BNNSFilterCreateLayerFullyConnected(p, None)
    out = np.zeros(2, np.float32)
    assert bnns.BNNSFilterApply(f, np.arange(10, 19, dtype=np.float32) / 10, out) == 0
    np.testing.assert_allclose(out, [1.428, 4.096], rtol=1e-6)


def test_object_api_convolution_layer(bnns):
    BNNS = bnns.BNNS
    rng = np.random.default_rng(8)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    x = rng.standard_normal((3, 1, 5, 5)).astype(np.float32)
    with BNNS.ConvolutionLayer(
            input=image(bnns, 1, 5, 5), output=image(bnns, 2, 5, 5),
            weights=bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW),
            padding=BNNS.ConvolutionPadding.asymmetric(left=2, right=0, up=0, down=2),
            activation=BNNS.ActivationFunction.identity) as layer:
        y = np.zeros((3, 2, 5, 5), np.float32)
        layer.apply(batch_size=3, input=image(bnns, 1, 5, 5, x), output=image(bnns, 2, 5, 5, y))
        np.testing.assert_allclose(y, reference_conv(x, w, None, pad=(0, 2, 2, 0)), rtol=RTOL, atol=1e-5)
        dx, dw = np.zeros_like(x), np.zeros_like(w)
        layer.apply_backward(batch_size=3, input=image(bnns, 1, 5, 5, x), output=image(bnns, 2, 5, 5, y),
                             output_gradient=image(bnns, 2, 5, 5, np.ones_like(y)),
                             generating_input_gradient=image(bnns, 1, 5, 5, dx),
                             generating_weights_gradient=bnns.BNNSNDArrayDescriptor(
                                 layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, 1, 2), data=dw))
        assert np.abs(dx).sum() > 0 and np.abs(dw).sum() > 0
        with pytest.raises(bnns.BNNSError, match="bias_delta"):
            layer.apply_backward(batch_size=3, input=image(bnns, 1, 5, 5, x), output=image(bnns, 2, 5, 5, y),
                                 output_gradient=image(bnns, 2, 5, 5, np.ones_like(y)),
                                 generating_bias_gradient=bnns.BNNSNDArrayDescriptor(
                                     layout=bnns.BNNSDataLayoutVector, size=(2,), data=np.zeros(2, np.float32)))
    assert layer.filter.destroyed


def test_object_api_rejects_bad_layer_with_bnns_error(bnns):
    with pytest.raises(InvalidArgumentError, match="groups 2 must divide"):
        bnns.BNNS.ConvolutionLayer(
            input=image(bnns, 3, 5, 5), output=image(bnns, 4, 3, 3), group_count=2,
            weights=bnns.BNNSNDArrayDescriptor.from_array(np.zeros((4, 1, 3, 3), np.float32),
                                                          bnns.BNNSDataLayoutConvolutionWeightsOIHW))


def test_float16_buffers_are_converted(bnns):
    rng = np.random.default_rng(9)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    p = bnns.BNNSLayerParametersConvolution(
        i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(4, 4, 2),
                                          data_type=bnns.BNNSDataTypeFloat16),
        o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(2, 2, 2),
                                          data_type=bnns.BNNSDataTypeFloat16),
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW))
    f = bnns.BNNSFilterCreateLayerConvolution(p, None)
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float16)
    y = np.zeros((1, 2, 2, 2), np.float16)
    assert bnns.BNNSFilterApplyBatch(f, 1, x, 0, y, 0) == 0, bnns.last_error()
    np.testing.assert_allclose(y, reference_conv(x.astype(np.float32), w, None), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("change, message", [
    ({"o_size": (5, 5, 4)}, "does not match the convolution output"),
    ({"groups": 2}, "groups 2 must divide"),
    ({"layout": 0x38000}, "must be ImageCHW"),
    ({"w_layout": 0x40010}, "Pack32"),
    ({"data_type": 0x20008}, "not supported"),
], ids=["output-size", "groups", "input-layout", "weights-layout", "int8-data"])
def test_bad_parameters_return_none_with_reason(bnns, change, message):
    w = np.zeros((4, 3, 3, 3), np.float32)
    p = bnns.BNNSLayerParametersConvolution(
        i_desc=bnns.BNNSNDArrayDescriptor(layout=change.get("layout", bnns.BNNSDataLayoutImageCHW), size=(6, 6, 3),
                                          data_type=change.get("data_type", bnns.BNNSDataTypeFloat32)),
        o_desc=image(bnns, 4, 4, 4) if "o_size" not in change else bnns.BNNSNDArrayDescriptor(
            layout=bnns.BNNSDataLayoutImageCHW, size=change["o_size"]),
        w_desc=bnns.BNNSNDArrayDescriptor(layout=change.get("w_layout", bnns.BNNSDataLayoutConvolutionWeightsOIHW),
                                          size=(3, 3, 3 // change.get("groups", 1) or 1, 4), data=w),
        groups=change.get("groups", 1))
    assert bnns.BNNSFilterCreateLayerConvolution(p, None) is None
    error = bnns.last_error()
    assert isinstance(error, InvalidArgumentError) and message in str(error)


def test_failed_calls_leave_the_filter_working(bnns):
    rng = np.random.default_rng(10)
    f, w, b, ohw = conv_filter(bnns, rng, x_padding=1)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    before = np.zeros((2, 4, 6, 6), np.float32)
    bnns.BNNSFilterApplyBatch(f, 2, x, 108, before, 144)
    assert bnns.BNNSFilterApplyBatch(f, 3, x, 108, np.zeros(3 * 144, np.float32), 144) == -1   # in too short
    assert "needs 324" in str(bnns.last_error())
    assert bnns.BNNSFilterApplyBatch(f, 2, x, 100, before.copy(), 144) == -1                    # overlapping items
    dw = np.zeros((5,), np.float32)                                                               # wrong gradient shape
    assert bnns.BNNSFilterApplyBackwardBatch(
        f, 2, x, 108, None, 0, None, 0, image(bnns, 4, 6, 6, before), 144,
        bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(5,), data=dw), None) == -1
    after = np.zeros_like(before)
    assert bnns.BNNSFilterApplyBatch(f, 2, x, 108, after, 144) == 0
    assert np.array_equal(before, after)


def test_unknown_and_destroyed_handles_are_not_found(bnns):
    rng = np.random.default_rng(11)
    f, *_ = conv_filter(bnns, rng, x_padding=1)
    other, *_ = conv_filter(bnns, rng, x_padding=1)
    bnns.BNNSFilterDestroy(f)
    f.destroyed = False   # pretend the client forgot: the server must say NOT_FOUND
    x = np.zeros((1, 3, 6, 6), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 1, x, 0, np.zeros(144, np.float32), 0) == -1
    assert isinstance(bnns.last_error(), NotFoundError)
    f.filter_id = "f-does-not-exist"
    assert bnns.BNNSFilterApplyBatch(f, 1, x, 0, np.zeros(144, np.float32), 0) == -1
    assert isinstance(bnns.last_error(), NotFoundError)
    assert bnns.BNNSFilterApplyBatch(other, 1, x, 0, np.zeros(144, np.float32), 0) == 0
