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
        fused_layer_parameters=[BNNS.FusedBinaryArithmeticParameters(function=BNNS.ArithmeticBinaryFunction.add),
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


# --------------------------------------------------------------- moving statistics reach the caller

def _fused_conv1x1_norm(bnns, norm_type, c_in, c_out, hw, w, b, mean, var, flags):
    conv = bnns.BNNSLayerParametersConvolution(
        i_desc=image(bnns, c_in, hw, hw),
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(w.reshape(c_out, c_in, 1, 1),
                                                     bnns.BNNSDataLayoutConvolutionWeightsOIHW),
        o_desc=image(bnns, c_out, hw, hw), bias=vector(bnns, c_out, b))
    norm = bnns.BNNSLayerParametersNormalization(
        i_desc=image(bnns, c_out, hw, hw), o_desc=image(bnns, c_out, hw, hw),
        moving_mean_desc=vector(bnns, c_out, mean), moving_variance_desc=vector(bnns, c_out, var),
        momentum=0.9, epsilon=1e-5)
    f = bnns.BNNSFilterCreateFusedLayer(2, [bnns.BNNSConvolution, norm_type], [conv, norm],
                                        bnns.BNNSFilterParameters(flags=flags))
    assert f is not None, bnns.last_error()
    return f


def _moving_reference(mid, norm_type, batch_norm, mean0, var0):
    """Independent float64 reference of one training step's moving statistics (momentum 0.9,
    the unbiased variance): BatchNorm over (N, H, W) per channel; InstanceNorm per (n, c) over
    (H, W), then averaged over the batch."""
    if norm_type == batch_norm:
        count = mid.shape[0] * mid.shape[2] * mid.shape[3]
        mean, var = mid.mean(axis=(0, 2, 3)), mid.var(axis=(0, 2, 3)) * count / (count - 1)
    else:
        count = mid.shape[2] * mid.shape[3]
        mean = mid.mean(axis=(2, 3)).mean(axis=0)
        var = (mid.var(axis=(2, 3)) * count / (count - 1)).mean(axis=0)
    return 0.9 * mean0 + 0.1 * mean, 0.9 * var0 + 0.1 * var


def test_fused_training_forward_updates_the_callers_moving_statistics(bnns):
    # Defect of issue 10: the fused compute -> Batch/Instance norm layer never wrote the moving
    # statistics back (the response had no field for them). With BNNSFlagsUseClientPtr it now
    # does, as the stand-alone normalization filter does, on every training forward.
    rng = np.random.default_rng(41)
    n, c_in, c_out, hw = 3, 2, 3, 4
    w, b = rng.standard_normal((c_out, c_in)), rng.standard_normal(c_out)
    x = (rng.standard_normal((n, c_in, hw, hw)) * 2 + 1).astype(np.float32)
    mid = np.einsum("oi,nihw->nohw", w.astype(np.float32).astype(np.float64), x.astype(np.float64)) \
        + b.astype(np.float32)[None, :, None, None]
    for norm_type in (bnns.BNNSBatchNorm, bnns.BNNSInstanceNorm):
        mean, var = np.full(c_out, 0.5, np.float32), np.full(c_out, 2.0, np.float32)
        f = _fused_conv1x1_norm(bnns, norm_type, c_in, c_out, hw, w.astype(np.float32), b.astype(np.float32),
                                mean, var, bnns.BNNSFlagsUseClientPtr)
        y = np.zeros((n, c_out, hw, hw), np.float32)
        assert bnns.BNNSFusedFilterApplyBatch(f, n, x, 0, y, 0, True) == 0, bnns.last_error()
        expected_mean, expected_var = _moving_reference(mid, norm_type, bnns.BNNSBatchNorm, 0.5, 2.0)
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(var, expected_var, rtol=1e-5, atol=1e-6)
        # A second step moves them again from the caller's (now updated) values.
        assert bnns.BNNSFusedFilterApplyBatch(f, n, x, 0, y, 0, True) == 0, bnns.last_error()
        twice_mean, twice_var = _moving_reference(mid, norm_type, bnns.BNNSBatchNorm, expected_mean, expected_var)
        np.testing.assert_allclose(mean, twice_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(var, twice_var, rtol=1e-5, atol=1e-6)
        # Inference normalises with them.
        assert bnns.BNNSFusedFilterApplyBatch(f, n, x, 0, y, 0, False) == 0, bnns.last_error()
        np.testing.assert_allclose(y, (mid - twice_mean[None, :, None, None])
                                   / np.sqrt(twice_var[None, :, None, None] + 1e-5), rtol=1e-4, atol=1e-4)
        bnns.BNNSFilterDestroy(f)


def test_fused_moving_statistics_without_client_pointer_stay_in_the_filter(bnns):
    # Without BNNSFlagsUseClientPtr BNNS copies the arrays at creation: the caller's are untouched.
    rng = np.random.default_rng(42)
    w, b = rng.standard_normal((2, 2)).astype(np.float32), np.zeros(2, np.float32)
    mean, var = np.zeros(2, np.float32), np.ones(2, np.float32)
    f = _fused_conv1x1_norm(bnns, bnns.BNNSBatchNorm, 2, 2, 3, w, b, mean, var, 0)
    x = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    assert bnns.BNNSFusedFilterApplyBatch(f, 2, x, 0, np.zeros_like(x), 0, True) == 0, bnns.last_error()
    np.testing.assert_array_equal(mean, np.zeros(2))
    np.testing.assert_array_equal(var, np.ones(2))
    bnns.BNNSFilterDestroy(f)


def test_swift_fused_layer_updates_moving_statistics(bnns):
    BNNS = bnns.BNNS
    rng = np.random.default_rng(43)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    layer = BNNS.FusedParametersLayer(
        input=vector(bnns, 4), output=vector(bnns, 3),
        fused_layer_parameters=[
            BNNS.FusedFullyConnectedParameters(weights=bnns.BNNSNDArrayDescriptor(
                layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(4, 3), data=w)),
            BNNS.FusedNormalizationParameters(type=BNNS.NormalizationType.batch(
                moving_mean=vector(bnns, 3, mean), moving_variance=vector(bnns, 3, var)))],
        filter_parameters=bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    layer.apply(5, vector(bnns, 4, x), vector(bnns, 3, np.zeros((5, 3), np.float32)), BNNS.LearningPhase.training)
    mid = x.astype(np.float64) @ w.astype(np.float64).T
    np.testing.assert_allclose(mean, 0.1 * mid.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, 0.9 + 0.1 * mid.var(axis=0, ddof=1), rtol=1e-5, atol=1e-6)
    layer.close()
