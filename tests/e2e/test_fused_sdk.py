"""Fused layers through the SDK on both backends: the fused result equals the layers run one after
the other (the kernel tests check that exhaustively; here across the transport), in BNNS's
delta_parameters order, including the two-input FusedParametersLayer of seed 003."""

from __future__ import annotations

import numpy as np

from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError


def image(bnns, c, h, w, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data)


def vector(bnns, n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


def test_fused_conv_batchnorm_relu_equals_separate_layers(bnns):
    BNNS = bnns.BNNS
    rng = np.random.default_rng(0)
    n, c_in, c_out, hw = 4, 2, 3, 5
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    beta, gamma = rng.standard_normal(c_out).astype(np.float32), rng.uniform(0.5, 1.5, c_out).astype(np.float32)
    x = rng.standard_normal((n, c_in, hw, hw)).astype(np.float32)
    relu = BNNS.ActivationFunction.rectified_linear
    wd = bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW)
    fused = BNNS.FusedConvolutionNormalizationLayer(
        input=image(bnns, c_in, hw, hw), output=image(bnns, c_out, hw, hw), convolution_weights=wd,
        convolution_bias=vector(bnns, c_out, b), convolution_padding=BNNS.ConvolutionPadding.symmetric(x=1, y=1),
        normalization=BNNS.NormalizationType.batch(), normalization_beta=vector(bnns, c_out, beta),
        normalization_gamma=vector(bnns, c_out, gamma), normalization_activation=relu)
    conv = BNNS.ConvolutionLayer(input=image(bnns, c_in, hw, hw), output=image(bnns, c_out, hw, hw), weights=wd,
                                 bias=vector(bnns, c_out, b), padding=BNNS.ConvolutionPadding.symmetric(x=1, y=1))
    norm = BNNS.NormalizationLayer(BNNS.NormalizationType.batch(), input=image(bnns, c_out, hw, hw),
                                   output=image(bnns, c_out, hw, hw), beta=vector(bnns, c_out, beta),
                                   gamma=vector(bnns, c_out, gamma), activation=relu)
    y_fused, mid, y_sep = (np.zeros((n, c_out, hw, hw), np.float32) for _ in range(3))
    fused.apply(n, image(bnns, c_in, hw, hw, x), image(bnns, c_out, hw, hw, y_fused), BNNS.LearningPhase.training)
    conv.apply(n, image(bnns, c_in, hw, hw, x), image(bnns, c_out, hw, hw, mid))
    norm.apply(n, image(bnns, c_out, hw, hw, mid), image(bnns, c_out, hw, hw, y_sep), BNNS.LearningPhase.training)
    np.testing.assert_allclose(y_fused, y_sep, rtol=1e-6, atol=1e-6)

    dy = rng.standard_normal(y_fused.shape).astype(np.float32)
    dx_f, dw_f, db_f = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    dbeta_f, dgamma_f = np.zeros_like(beta), np.zeros_like(gamma)
    fused.apply_backward(n, image(bnns, c_in, hw, hw, x), image(bnns, c_out, hw, hw, y_fused),
                         image(bnns, c_out, hw, hw, dy), image(bnns, c_in, hw, hw, dx_f),
                         [bnns.BNNSNDArrayDescriptor(layout=wd.layout, size=wd.size, data=dw_f),
                          vector(bnns, c_out, db_f), vector(bnns, c_out, dbeta_f), vector(bnns, c_out, dgamma_f)])
    dmid, dbeta_s, dgamma_s = np.zeros_like(mid), np.zeros_like(beta), np.zeros_like(gamma)
    norm.apply_backward(n, None, image(bnns, c_out, hw, hw, y_sep), image(bnns, c_out, hw, hw, dy),
                        image(bnns, c_out, hw, hw, dmid), vector(bnns, c_out, dbeta_s), vector(bnns, c_out, dgamma_s))
    dx_s, dw_s, db_s = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    conv.apply_backward(n, image(bnns, c_in, hw, hw, x), image(bnns, c_out, hw, hw, mid),
                        image(bnns, c_out, hw, hw, dmid), image(bnns, c_in, hw, hw, dx_s),
                        bnns.BNNSNDArrayDescriptor(layout=wd.layout, size=wd.size, data=dw_s), vector(bnns, c_out, db_s))
    for fused_grad, separate_grad in ((dx_f, dx_s), (dw_f, dw_s), (db_f, db_s), (dbeta_f, dbeta_s),
                                      (dgamma_f, dgamma_s)):
        np.testing.assert_allclose(fused_grad, separate_grad, rtol=1e-5, atol=1e-5)
    for layer in (fused, conv, norm):
        layer.close()


def test_two_input_fused_layer_apply_backward(bnns):
    """Seed 003: applyBackward(batchSize:inputA:inputB:output:outputGradient:generatingInputAGradient:
    generatingInputBGradient:generatingParameterGradients:) on an Add -> LayerNorm layer."""
    BNNS = bnns.BNNS
    rng = np.random.default_rng(1)
    n, width = 3, 6
    a, b = rng.standard_normal((n, width)).astype(np.float32), rng.standard_normal((n, width)).astype(np.float32)
    layer = BNNS.FusedParametersLayer(
        input=[vector(bnns, width), vector(bnns, width)], output=vector(bnns, width),
        fused_layer_parameters=[BNNS.FusedArithmeticParameters(function=bnns.BNNSArithmeticAdd),
                                BNNS.FusedNormalizationParameters(type=BNNS.NormalizationType.layer(),
                                                                  beta=vector(bnns, width, np.zeros(width, np.float32)),
                                                                  gamma=vector(bnns, width, np.ones(width, np.float32)))])
    y = np.zeros((n, width), np.float32)
    layer.apply(n, input_a=vector(bnns, width, a), input_b=vector(bnns, width, b), output=vector(bnns, width, y),
                for_=BNNS.LearningPhase.training)
    s = a + b
    expected = (s - s.mean(1, keepdims=True)) / np.sqrt(s.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    da, db = np.zeros_like(a), np.zeros_like(b)
    dbeta, dgamma = np.zeros(width, np.float32), np.zeros(width, np.float32)
    layer.apply_backward(n, input_a=vector(bnns, width, a), input_b=vector(bnns, width, b),
                         output=vector(bnns, width, y), output_gradient=vector(bnns, width, dy),
                         generating_input_a_gradient=vector(bnns, width, da),
                         generating_input_b_gradient=vector(bnns, width, db),
                         generating_parameter_gradients=[vector(bnns, width, dbeta), vector(bnns, width, dgamma)])
    np.testing.assert_array_equal(da, db)                        # Add: both inputs get the same gradient
    np.testing.assert_allclose(dbeta, dy.sum(0), rtol=1e-5)      # [beta, gamma]: BNNS's order
    np.testing.assert_allclose(dgamma, (dy * expected).sum(0), rtol=1e-4, atol=1e-5)
    assert abs(da.sum()) < 1e-4                                  # layer-norm input gradients sum to zero
    layer.close()


def test_fused_backward_before_training_forward_is_failed_precondition(bnns):
    BNNS = bnns.BNNS
    w = np.ones((2, 4), np.float32)
    layer = BNNS.FusedFullyConnectedNormalizationLayer(
        input=vector(bnns, 4), output=vector(bnns, 2),
        fully_connected_weights=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(4, 2), data=w),
        normalization=BNNS.NormalizationType.batch())
    try:
        layer.apply_backward(2, vector(bnns, 4, np.ones(8, np.float32)), vector(bnns, 2, np.ones(4, np.float32)),
                             vector(bnns, 2, np.ones(4, np.float32)), vector(bnns, 4, np.zeros(8, np.float32)))
        raise AssertionError("backward without a training forward must fail")
    except FailedPreconditionError as error:
        assert "training" in str(error)
    layer.close()


def test_disallowed_fused_pair_is_rejected(bnns):
    w = bnns.BNNSNDArrayDescriptor.from_array(np.ones((2, 2, 1, 1), np.float32), bnns.BNNSDataLayoutConvolutionWeightsOIHW)
    conv = bnns.BNNSLayerParametersConvolution(i_desc=image(bnns, 2, 3, 3), w_desc=w, o_desc=image(bnns, 2, 3, 3))
    assert bnns.BNNSFilterCreateFusedLayer(2, [bnns.BNNSConvolution, bnns.BNNSConvolution], [conv, conv], None) is None
    assert isinstance(bnns.last_error(), InvalidArgumentError)
