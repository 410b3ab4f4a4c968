"""The five Apple documentation pages the project was created from (reference/seeds/000-004),
ported as literally as Python allows: Apple's functions and Swift methods with their arguments in
Apple's order (C: all positional; Swift: positionally in Swift's order, then again by label),
each result checked against an independent float64 reference, on both backends."""

from __future__ import annotations

import numpy as np


def image(bnns, c, h, w, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data)


def vector(bnns, n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


# --------------------------------------------------------------- 000 BNNSPoolingFilterApplyBackwardBatch

def test_seed_000_pooling_filter_apply_backward_batch(bnns):
    """BNNSPoolingFilterApplyBackwardBatch(_ filter, _ batch_size, _ in, _ in_stride, _ in_delta,
    _ in_delta_stride, _ out, _ out_stride, _ out_delta, _ out_delta_stride, _ bias_delta,
    _ indices, _ idx_stride) on 2x2 max pooling with a bias, after the forward that wrote the
    indices."""
    rng = np.random.default_rng(0)
    n, c, hw = 2, 2, 4
    x = rng.permutation(n * c * hw * hw).astype(np.float32).reshape(n, c, hw, hw)   # no ties
    bias = np.array([0.5, -1.0], np.float32)
    params = bnns.BNNSLayerParametersPooling(image(bnns, c, hw, hw), image(bnns, c, 2, 2), vector(bnns, c, bias),
                                             None, bnns.BNNSPoolingFunctionMax, 2, 2, 2, 2)
    filter = bnns.BNNSFilterCreateLayerPooling(params, None)
    assert filter is not None, bnns.last_error()
    out = np.zeros((n, c, 2, 2), np.float32)
    indices = np.zeros((n, c, 2, 2), np.uint64)
    assert bnns.BNNSPoolingFilterApplyBatch(filter, n, x, c * hw * hw, out, c * 4, indices, c * 4) == 0
    out_delta_data = rng.standard_normal((n, c, 2, 2)).astype(np.float32)
    in_delta_data = np.zeros_like(x)
    bias_delta_data = np.zeros(c, np.float32)
    in_delta, out_delta = image(bnns, c, hw, hw, in_delta_data), image(bnns, c, 2, 2, out_delta_data)
    bias_delta = vector(bnns, c, bias_delta_data)
    rc = bnns.BNNSPoolingFilterApplyBackwardBatch(filter, n, x, c * hw * hw, in_delta, c * hw * hw, out, c * 4,
                                                  out_delta, c * 4, bias_delta, indices, c * 4)
    assert rc == 0, bnns.last_error()
    # float64 reference: the gradient goes to each window's maximum; the bias gets the sum.
    expected = np.zeros(x.shape)
    x64 = x.astype(np.float64)
    for b in range(n):
        for ch in range(c):
            for r in range(2):
                for q in range(2):
                    window = x64[b, ch, 2 * r:2 * r + 2, 2 * q:2 * q + 2]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    expected[b, ch, 2 * r + i, 2 * q + j] += out_delta_data[b, ch, r, q]
    np.testing.assert_allclose(in_delta_data, expected, rtol=1e-6)
    np.testing.assert_allclose(bias_delta_data, out_delta_data.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-5)
    bnns.BNNSFilterDestroy(filter)


# ------------------------------------------------------------------ 001 BNNSLossFilterApplyBackwardBatch

def test_seed_001_loss_filter_apply_backward_batch(bnns):
    """BNNSLossFilterApplyBackwardBatch(_ filter, _ batch_size, _ in, _ in_stride, _ in_delta,
    _ in_delta_stride, _ labels, _ labels_stride, _ weights, _ weights_size, _ out_delta,
    _ out_delta_stride): softmax cross-entropy, summed, one weight per sample."""
    rng = np.random.default_rng(1)
    n, classes = 3, 4
    params = bnns.BNNSLayerParametersLossSoftmaxCrossEntropy(bnns.BNNSLossFunctionSoftmaxCrossEntropy,
                                                             vector(bnns, classes), vector(bnns, 1),
                                                             bnns.BNNSLossReductionSum)
    filter = bnns.BNNSFilterCreateLayerLoss(params, None)
    assert filter is not None, bnns.last_error()
    x = rng.standard_normal((n, classes)).astype(np.float32)
    labels = np.eye(classes, dtype=np.float32)[[0, 3, 1]]
    weights = np.array([1.0, 0.5, 2.0], np.float32)
    in_delta_data = np.zeros_like(x)
    out_delta = vector(bnns, 1, np.array([0.75], np.float32))
    rc = bnns.BNNSLossFilterApplyBackwardBatch(filter, n, x, classes, vector(bnns, classes, in_delta_data), classes,
                                               labels, classes, weights, n, out_delta, 1)
    assert rc == 0, bnns.last_error()
    x64 = x.astype(np.float64)
    p = np.exp(x64 - x64.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(in_delta_data, 0.75 * weights[:, None] * (p - labels), rtol=1e-5, atol=1e-7)
    bnns.BNNSFilterDestroy(filter)


# --------------------------------------------------------------------------- 002 BNNS.ConvolutionLayer

def _convolution_reference(x, w, b):
    """float64 cross-correlation with zero padding 1: x (N, I, H, W), w (O, I, 3, 3)."""
    n, _, h, wd = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for r in range(h):
        for q in range(wd):
            out[:, :, r, q] = np.einsum("nikl,oikl->no", padded[:, :, r:r + 3, q:q + 3], w.astype(np.float64))
    return out + b[None, :, None, None]


def test_seed_002_convolution_layer(bnns):
    """BNNS.ConvolutionLayer(type:input:weights:output:bias:padding:activation:groupCount:stride:
    dilationStride:filterParameters:) and applyBackward(batchSize:input:output:outputGradient:
    generatingInputGradient:generatingWeightsGradient:generatingBiasGradient:), positionally in
    Swift's order and by label."""
    BNNS = bnns.BNNS
    rng = np.random.default_rng(2)
    n, c_in, c_out, hw = 2, 2, 3, 4
    x = rng.standard_normal((n, c_in, hw, hw)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    weights = bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW)
    positional = BNNS.ConvolutionLayer(BNNS.ConvolutionType.standard, image(bnns, c_in, hw, hw), weights,
                                       image(bnns, c_out, hw, hw), vector(bnns, c_out, b),
                                       BNNS.ConvolutionPadding.symmetric(x=1, y=1), BNNS.ActivationFunction.identity,
                                       1, (1, 1), (1, 1), None)
    labelled = BNNS.ConvolutionLayer(type=BNNS.ConvolutionType.standard, input=image(bnns, c_in, hw, hw),
                                     weights=weights, output=image(bnns, c_out, hw, hw), bias=vector(bnns, c_out, b),
                                     padding=BNNS.ConvolutionPadding.symmetric(x=1, y=1),
                                     activation=BNNS.ActivationFunction.identity, group_count=1, stride=(1, 1),
                                     dilation_stride=(1, 1), filter_parameters=None)
    expected = _convolution_reference(x, w, b)
    dy = rng.standard_normal(expected.shape).astype(np.float32)
    # float64 references of the gradients (the convolution is linear: exact by construction).
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    dw_expected = np.zeros(w.shape)
    dx_padded = np.zeros(padded.shape)
    for r in range(hw):
        for q in range(hw):
            dw_expected += np.einsum("no,nikl->oikl", dy[:, :, r, q], padded[:, :, r:r + 3, q:q + 3])
            dx_padded[:, :, r:r + 3, q:q + 3] += np.einsum("no,oikl->nikl", dy[:, :, r, q], w.astype(np.float64))
    for layer, by_label in ((positional, False), (labelled, True)):
        y = np.zeros(expected.shape, np.float32)
        layer.apply(n, image(bnns, c_in, hw, hw, x), image(bnns, c_out, hw, hw, y))
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
        dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
        arguments = (n, image(bnns, c_in, hw, hw, x), image(bnns, c_out, hw, hw, y), image(bnns, c_out, hw, hw, dy),
                     image(bnns, c_in, hw, hw, dx),
                     bnns.BNNSNDArrayDescriptor(layout=weights.layout, size=weights.size, data=dw),
                     vector(bnns, c_out, db))
        if by_label:
            names = ("batch_size", "input", "output", "output_gradient", "generating_input_gradient",
                     "generating_weights_gradient", "generating_bias_gradient")
            layer.apply_backward(**dict(zip(names, arguments)))
        else:
            layer.apply_backward(*arguments)
        np.testing.assert_allclose(dx, dx_padded[:, :, 1:-1, 1:-1], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dw, dw_expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
        layer.close()


# -------------------------------------------- 003 FusedParametersLayer.applyBackward(batchSize:inputA:...)

def test_seed_003_fused_parameters_layer_with_two_inputs(bnns):
    """BNNS.FusedParametersLayer(inputA:inputB:output:fusedLayerParameters:filterParameters:) with
    BNNS.FusedBinaryArithmeticParameters(inputADescriptorType:inputBDescriptorType:
    outputDescriptorType:function:) -> BNNS.FusedNormalizationParameters, then
    apply(batchSize:inputA:inputB:output:for:) and applyBackward(batchSize:inputA:inputB:output:
    outputGradient:generatingInputAGradient:generatingInputBGradient:generatingParameterGradients:)."""
    BNNS = bnns.BNNS
    rng = np.random.default_rng(3)
    n, width = 4, 5
    a, b = rng.standard_normal((n, width)).astype(np.float32), rng.standard_normal((n, width)).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, width).astype(np.float32)
    beta = rng.standard_normal(width).astype(np.float32)
    layer = BNNS.FusedParametersLayer(
        input_a=vector(bnns, width), input_b=vector(bnns, width), output=vector(bnns, width),
        fused_layer_parameters=[
            BNNS.FusedBinaryArithmeticParameters(input_a_descriptor_type=BNNS.DescriptorType.sample,
                                                 input_b_descriptor_type=BNNS.DescriptorType.sample,
                                                 output_descriptor_type=BNNS.DescriptorType.sample,
                                                 function=BNNS.ArithmeticBinaryFunction.multiply),
            BNNS.FusedNormalizationParameters(type=BNNS.NormalizationType.layer(normalization_axis=0),
                                              beta=vector(bnns, width, beta), gamma=vector(bnns, width, gamma),
                                              momentum=0.9, epsilon=1e-5, activation=BNNS.ActivationFunction.identity)],
        filter_parameters=None)
    y = np.zeros((n, width), np.float32)
    layer.apply(n, vector(bnns, width, a), vector(bnns, width, b), vector(bnns, width, y), BNNS.LearningPhase.training)
    s = a.astype(np.float64) * b.astype(np.float64)
    mean, var = s.mean(axis=1, keepdims=True), s.var(axis=1, keepdims=True)
    x_hat = (s - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(y, gamma * x_hat + beta, rtol=1e-4, atol=1e-5)

    dy = rng.standard_normal((n, width))
    da, db = np.zeros_like(a), np.zeros_like(b)
    dbeta, dgamma = np.zeros(width, np.float32), np.zeros(width, np.float32)
    layer.apply_backward(n, vector(bnns, width, a), vector(bnns, width, b), vector(bnns, width, y),
                         vector(bnns, width, dy.astype(np.float32)), vector(bnns, width, da), vector(bnns, width, db),
                         [vector(bnns, width, dbeta), vector(bnns, width, dgamma)])
    # float64 reference: layer-norm backward over each row, then the product rule.
    g = dy * gamma
    ds = (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True)) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(da, ds * b, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(db, ds * a, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dbeta, dy.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dgamma, (dy * x_hat).sum(axis=0), rtol=1e-4, atol=1e-4)

    # The same call by Swift's labels gives the same gradients.
    da2, db2 = np.zeros_like(a), np.zeros_like(b)
    layer.apply_backward(batch_size=n, input_a=vector(bnns, width, a), input_b=vector(bnns, width, b),
                         output=vector(bnns, width, y), output_gradient=vector(bnns, width, dy.astype(np.float32)),
                         generating_input_a_gradient=vector(bnns, width, da2),
                         generating_input_b_gradient=vector(bnns, width, db2),
                         generating_parameter_gradients=[])
    np.testing.assert_array_equal(da2, da)
    np.testing.assert_array_equal(db2, db)
    layer.close()


# ------------------------------------------------------------------ 004 BNNSFusedFilterApplyBackwardBatch

def test_seed_004_fused_filter_apply_backward_batch(bnns):
    """BNNSFusedFilterApplyBackwardBatch(_ filter, _ batch_size, _ in, _ in_stride, _ in_delta,
    _ in_delta_stride, _ out, _ out_stride, _ out_delta, _ out_delta_stride, _ delta_parameters)
    on fully connected -> batch norm, created with BNNSFilterCreateFusedLayer."""
    rng = np.random.default_rng(4)
    n, i, o = 6, 4, 3
    w = rng.standard_normal((o, i)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, o).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    fc = bnns.BNNSLayerParametersFullyConnected(
        vector(bnns, i), bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(i, o), data=w),
        vector(bnns, o), vector(bnns, o, bias))
    norm = bnns.BNNSLayerParametersNormalization(vector(bnns, o), vector(bnns, o), vector(bnns, o, beta),
                                                 vector(bnns, o, gamma))
    filter = bnns.BNNSFilterCreateFusedLayer(2, [bnns.BNNSFullyConnected, bnns.BNNSBatchNorm], [fc, norm],
                                             bnns.BNNSFilterParameters(bnns.BNNSFlagsUseClientPtr))
    assert filter is not None, bnns.last_error()
    x = rng.standard_normal((n, i)).astype(np.float32)
    out = np.zeros((n, o), np.float32)
    assert bnns.BNNSFusedFilterApplyBatch(filter, n, x, i, out, o, True) == 0, bnns.last_error()
    mid = x.astype(np.float64) @ w.astype(np.float64).T + bias
    mean, var = mid.mean(axis=0), mid.var(axis=0)
    x_hat = (mid - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(out, gamma * x_hat + beta, rtol=1e-4, atol=1e-4)

    dy = rng.standard_normal((n, o))
    in_delta = np.zeros_like(x)
    dw, db, dbeta, dgamma = (np.zeros_like(w), np.zeros_like(bias), np.zeros_like(beta), np.zeros_like(gamma))
    delta_parameters = [bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(i, o), data=dw),
                        vector(bnns, o, db), vector(bnns, o, dbeta), vector(bnns, o, dgamma)]
    rc = bnns.BNNSFusedFilterApplyBackwardBatch(filter, n, x, i, vector(bnns, i, in_delta), i, out, o,
                                                vector(bnns, o, dy.astype(np.float32)), o, delta_parameters)
    assert rc == 0, bnns.last_error()
    g = dy * gamma
    d_mid = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(in_delta, d_mid @ w.astype(np.float64), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dw, d_mid.T @ x.astype(np.float64), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(db, d_mid.sum(axis=0), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dbeta, dy.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dgamma, (dy * x_hat).sum(axis=0), rtol=1e-4, atol=1e-4)
    bnns.BNNSFilterDestroy(filter)
