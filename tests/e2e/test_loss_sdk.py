"""Loss filters through the SDK on both backends (the kernels' own tests cover every function ×
reduction × weights form; these check the call shapes and the transport)."""

from __future__ import annotations

import numpy as np

from bnns.kernels.errors import InvalidArgumentError


def vector(bnns, n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


def softmax_ce(bnns, classes=4, reduction=None, smoothing=0.0):
    reduction = bnns.BNNSLossReductionMean if reduction is None else reduction
    p = bnns.BNNSLayerParametersLossSoftmaxCrossEntropy(
        function=bnns.BNNSLossFunctionSoftmaxCrossEntropy, i_desc=vector(bnns, classes),
        o_desc=vector(bnns, 1), reduction=reduction, label_smooth=smoothing)
    f = bnns.BNNSFilterCreateLayerLoss(p, None)
    assert f is not None, bnns.last_error()
    return f


def test_softmax_cross_entropy_mean_matches_closed_form(bnns):
    rng = np.random.default_rng(0)
    n, c = 5, 4
    logits = rng.standard_normal((n, c)).astype(np.float32)
    labels = np.eye(c, dtype=np.float32)[rng.integers(0, c, n)]
    f = softmax_ce(bnns, c)
    out, d_in = np.zeros(1, np.float32), np.zeros((n, c), np.float32)
    assert bnns.BNNSLossFilterApplyBatch(f, n, logits, c, labels, c, None, 0, out, vector(bnns, c, d_in), c) == 0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(out[0], -(labels * np.log(p)).sum() / n, rtol=1e-5)   # PyTorch's mean
    np.testing.assert_allclose(d_in, (p - labels) / n, rtol=1e-5, atol=1e-7)        # d(mean loss)/d logits


def test_backward_scales_by_out_delta_and_weights(bnns):
    rng = np.random.default_rng(1)
    n, c = 3, 4
    logits = rng.standard_normal((n, c)).astype(np.float32)
    labels = np.eye(c, dtype=np.float32)[[0, 2, 3]]
    weights = np.array([1.0, 0.0, 2.0], np.float32)
    f = softmax_ce(bnns, c, reduction=bnns.BNNSLossReductionSum)
    grad = np.zeros((n, c), np.float32)
    rc = bnns.BNNSLossFilterApplyBackwardBatch(f, n, logits, c, vector(bnns, c, grad), c, labels, c, weights, n,
                                               vector(bnns, 1, np.array([0.5], np.float32)), 1)
    assert rc == 0, bnns.last_error()
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(grad, 0.5 * weights[:, None] * (p - labels), rtol=1e-5, atol=1e-7)


def test_unreduced_mean_square_error_writes_one_loss_per_element(bnns):
    n, c = 2, 3
    x = np.arange(6, dtype=np.float32).reshape(n, c)
    y = np.ones((n, c), np.float32)
    p = bnns.BNNSLayerParametersLossBase(function=bnns.BNNSLossFunctionMeanSquareError, i_desc=vector(bnns, c),
                                         o_desc=vector(bnns, c), reduction=bnns.BNNSLossReductionNone)
    f = bnns.BNNSFilterCreateLayerLoss(p, None)
    out = np.zeros(n * c, np.float32)
    assert bnns.BNNSLossFilterApplyBatch(f, n, x, c, y, c, None, 0, out, None, 0) == 0, bnns.last_error()
    np.testing.assert_array_equal(out, (x - y).ravel() ** 2)


def test_loss_layer_object_api(bnns):
    BNNS = bnns.BNNS
    x = np.array([[2.0, 0.0], [0.0, 2.0]], np.float32)
    labels = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
    with BNNS.LossLayer(input=vector(bnns, 2), output=vector(bnns, 1),
                        loss_function=BNNS.LossFunction.sigmoid_cross_entropy(label_smoothing=0.0),
                        loss_reduction=BNNS.LossReduction.sum) as layer:
        out, grad = np.zeros(1, np.float32), np.zeros_like(x)
        layer.apply(batch_size=2, input=vector(bnns, 2, x), labels=vector(bnns, 2, labels),
                    output=vector(bnns, 1, out), generating_input_gradient=vector(bnns, 2, grad))
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(out[0], -(labels * np.log(sig) + (1 - labels) * np.log(1 - sig)).sum(), rtol=1e-5)
    np.testing.assert_allclose(grad, sig - labels, rtol=1e-5)


def test_weights_size_not_allowed_is_a_clear_error(bnns):
    f = softmax_ce(bnns, 4)
    x = np.zeros((2, 4), np.float32)
    rc = bnns.BNNSLossFilterApplyBatch(f, 2, x, 4, x, 4, np.ones(8, np.float32), 8, np.zeros(1, np.float32), None, 0)
    assert rc == -1
    error = bnns.last_error()
    assert isinstance(error, InvalidArgumentError) and "weights_size 8 is not allowed" in str(error)


def test_labels_of_wrong_size_change_nothing(bnns):
    f = softmax_ce(bnns, 4)
    x = np.zeros((2, 4), np.float32)
    out = np.full(1, 9.0, np.float32)
    assert bnns.BNNSLossFilterApplyBatch(f, 2, x, 4, np.zeros(5, np.float32), 4, None, 0, out, None, 0) == -1
    assert "labels has 5 elements" in str(bnns.last_error())
    assert out[0] == 9.0
