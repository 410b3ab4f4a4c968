"""Activation filters through the SDK on both backends."""

from __future__ import annotations

import numpy as np


def image(bnns, c, h, w, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data)


def test_softmax_over_channels_with_axis_flags(bnns):
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32)
    y = np.zeros_like(x)
    # ImageCHW size = (W, H, C): bit 2 selects the channel axis.
    with bnns.BNNS.ActivationLayer(function=bnns.BNNS.ActivationFunction.softmax, axes=[2],
                                   input=image(bnns, 3, 2, 2), output=image(bnns, 3, 2, 2)) as layer:
        layer.apply(batch_size=2, input=image(bnns, 3, 2, 2, x), output=image(bnns, 3, 2, 2, y))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-6)


def test_prelu_returns_alpha_gradient_in_weights_delta(bnns):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    p = bnns.BNNSLayerParametersActivation(
        i_desc=image(bnns, 3, 2, 2), o_desc=image(bnns, 3, 2, 2),
        activation=bnns.BNNSActivation(bnns.BNNSActivationFunctionPReLUPerChannel, 0.25))
    f = bnns.BNNSFilterCreateLayerActivation(p, None)
    y = np.zeros_like(x)
    assert bnns.BNNSFilterApplyBatch(f, 4, x, 12, y, 12) == 0, bnns.last_error()
    np.testing.assert_allclose(y, np.where(x >= 0, x, 0.25 * x))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx, d_alpha = np.zeros_like(x), np.zeros(3, np.float32)
    rc = bnns.BNNSFilterApplyBackwardBatch(
        f, 4, x, 12, image(bnns, 3, 2, 2, dx), 12, y, 12, image(bnns, 3, 2, 2, dy), 12,
        bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(3,), data=d_alpha), None)
    assert rc == 0, bnns.last_error()
    np.testing.assert_allclose(dx, dy * np.where(x >= 0, 1, 0.25), rtol=1e-6)
    np.testing.assert_allclose(d_alpha, (dy * np.minimum(x, 0)).sum(axis=(0, 2, 3)), rtol=1e-5)


def test_gumbel_is_reproducible_from_seed_and_has_no_gradient(bnns):
    outputs = []
    for _ in range(2):
        p = bnns.BNNSLayerParametersActivation(
            i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(8,)),
            o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(8,)),
            activation=bnns.BNNSActivation(bnns.BNNSActivationFunctionGumbel, 1.0, 0.0), seed=42)
        f = bnns.BNNSFilterCreateLayerActivation(p, None)
        y = np.zeros(16, np.float32)
        assert bnns.BNNSFilterApplyBatch(f, 2, np.zeros(16, np.float32), 8, y, 8) == 0, bnns.last_error()
        outputs.append(y)
    assert np.array_equal(outputs[0], outputs[1]) and np.std(outputs[0]) > 0
    dx = np.zeros(16, np.float32)
    rc = bnns.BNNSFilterApplyBackwardBatch(
        f, 2, None, 0, bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(8,), data=dx), 8,
        outputs[1], 8, bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(8,), data=np.ones(16, np.float32)), 8,
        None, None)
    assert rc == -1 and "gradient" in str(bnns.last_error()).lower()


def test_integer_saturation_is_rejected(bnns):
    p = bnns.BNNSLayerParametersActivation(
        i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(4,)),
        o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(4,)),
        activation=bnns.BNNSActivation(bnns.BNNSActivationFunctionIntegerLinearSaturate))
    assert bnns.BNNSFilterCreateLayerActivation(p, None) is None
    assert "IntegerLinearSaturate" in str(bnns.last_error())
