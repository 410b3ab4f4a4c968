"""Pooling, normalization, arithmetic and the optimizer step through the SDK, on both backends.
The kernels' own tests check the maths exhaustively; these check call shapes, in-place writes,
indices, cached training state and UseClientPtr semantics across the transport."""

from __future__ import annotations

import numpy as np

from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError


def image(bnns, c, h, w, data=None, data_type=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data,
                                      data_type=data_type or bnns.BNNSDataTypeFloat32)


def vector(bnns, n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


# --------------------------------------------------------------------------------------- pooling

def max_pool(bnns, c=2, hw=4):
    p = bnns.BNNSLayerParametersPooling(i_desc=image(bnns, c, hw, hw), o_desc=image(bnns, c, hw // 2, hw // 2),
                                        pooling_function=bnns.BNNSPoolingFunctionMax, k_width=2, k_height=2,
                                        x_stride=2, y_stride=2)
    f = bnns.BNNSFilterCreateLayerPooling(p, None)
    assert f is not None, bnns.last_error()
    return f


def test_max_pooling_writes_values_and_flat_chw_indices(bnns):
    x = np.random.default_rng(0).permutation(2 * 2 * 16).astype(np.float32).reshape(2, 2, 4, 4)
    f = max_pool(bnns)
    y = np.zeros((2, 2, 2, 2), np.float32)
    idx = np.zeros((2, 2, 2, 2), np.uint64)
    assert bnns.BNNSPoolingFilterApplyBatch(f, 2, x, 32, y, 8, idx, 8) == 0, bnns.last_error()
    windows = x.reshape(2, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 2, 2, 2, 4)
    np.testing.assert_array_equal(y, windows.max(-1))
    # Index = c*H*W + h*W + w within the sample.
    for n in range(2):
        np.testing.assert_array_equal(x[n].reshape(-1)[idx[n].astype(np.int64)], y[n])
    # UInt32 indices through the Ex form give the same numbers.
    idx32 = np.zeros((2, 2, 2, 2), np.uint32)
    assert bnns.BNNSPoolingFilterApplyBatchEx(f, 2, x, 32, y, 8, bnns.BNNSDataTypeUInt32, idx32, 8) == 0
    np.testing.assert_array_equal(idx32, idx)


def test_max_pooling_backward_with_and_without_indices_agree(bnns):
    rng = np.random.default_rng(1)
    x = rng.permutation(64).astype(np.float32).reshape(2, 2, 4, 4)
    f = max_pool(bnns)
    y, idx = np.zeros((2, 2, 2, 2), np.float32), np.zeros((2, 2, 2, 2), np.uint64)
    bnns.BNNSPoolingFilterApplyBatch(f, 2, x, 32, y, 8, idx, 8)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grads = []
    for indices in (idx, None):
        dx = np.zeros_like(x)
        rc = bnns.BNNSPoolingFilterApplyBackwardBatch(f, 2, x, 32, image(bnns, 2, 4, 4, dx), 32, y, 8,
                                                      image(bnns, 2, 2, 2, dy), 8, None, indices, 8)
        assert rc == 0, bnns.last_error()
        grads.append(dx)
    np.testing.assert_array_equal(grads[0], grads[1])
    assert np.isclose(grads[0].sum(), dy.sum()) and np.count_nonzero(grads[0]) == dy.size


def test_pooling_indices_out_of_range_are_rejected(bnns):
    f = max_pool(bnns)
    x = np.zeros((1, 2, 4, 4), np.float32)
    bad = np.full((1, 2, 2, 2), 10_000, np.uint64)
    rc = bnns.BNNSPoolingFilterApplyBackwardBatch(f, 1, x, 0, image(bnns, 2, 4, 4, np.zeros_like(x)), 0,
                                                  np.zeros(8, np.float32), 0, image(bnns, 2, 2, 2, np.ones(8, np.float32)),
                                                  0, None, bad, 0)
    assert rc == -1 and isinstance(bnns.last_error(), InvalidArgumentError)


def test_average_pooling_layer_object_api(bnns):
    BNNS = bnns.BNNS
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    with BNNS.PoolingLayer(BNNS.PoolingType.average(count_includes_padding=True), input=image(bnns, 1, 4, 4),
                           output=image(bnns, 1, 2, 2), kernel_size=(2, 2), stride=(2, 2)) as layer:
        y = np.zeros((1, 1, 2, 2), np.float32)
        layer.apply(batch_size=1, input=image(bnns, 1, 4, 4, x), output=image(bnns, 1, 2, 2, y))
    np.testing.assert_array_equal(y.ravel(), [2.5, 4.5, 10.5, 12.5])


# --------------------------------------------------------------------------------- normalization

def batch_norm(bnns, c, hw, flags=0, moving=True):
    gamma, beta = np.linspace(0.5, 1.5, c).astype(np.float32), np.linspace(-1, 1, c).astype(np.float32)
    mean, var = np.zeros(c, np.float32), np.ones(c, np.float32)
    p = bnns.BNNSLayerParametersNormalization(
        i_desc=image(bnns, c, hw, hw), o_desc=image(bnns, c, hw, hw), beta_desc=vector(bnns, c, beta),
        gamma_desc=vector(bnns, c, gamma), moving_mean_desc=vector(bnns, c, mean) if moving else None,
        moving_variance_desc=vector(bnns, c, var) if moving else None, momentum=0.9, epsilon=1e-5)
    f = bnns.BNNSFilterCreateLayerNormalization(bnns.BNNSBatchNorm, p, bnns.BNNSFilterParameters(flags=flags))
    assert f is not None, bnns.last_error()
    return f, gamma, beta, mean, var


def test_batch_norm_training_normalises_and_updates_callers_moving_stats(bnns):
    rng = np.random.default_rng(2)
    c, hw, n = 3, 4, 5
    f, gamma, beta, mean, var = batch_norm(bnns, c, hw, flags=bnns.BNNSFlagsUseClientPtr)
    x = (rng.standard_normal((n, c, hw, hw)) * 2 + 3).astype(np.float32)
    y = np.zeros_like(x)
    assert bnns.BNNSNormalizationFilterApplyBatch(f, n, x, c * hw * hw, y, c * hw * hw, True) == 0, bnns.last_error()
    mu, sigma2 = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = gamma[:, None, None] * (x - mu[:, None, None]) / np.sqrt(sigma2[:, None, None] + 1e-5) + beta[:, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    # UseClientPtr: the caller's moving statistics were updated in place (momentum * old + (1 - m) * batch).
    np.testing.assert_allclose(mean, 0.1 * mu, rtol=1e-4)
    np.testing.assert_allclose(var, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-4)
    # Backward uses the cached forward (no `in` argument, as in BNNS).
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx, dbeta, dgamma = np.zeros_like(x), np.zeros(c, np.float32), np.zeros(c, np.float32)
    rc = bnns.BNNSNormalizationFilterApplyBackwardBatch(f, n, image(bnns, c, hw, hw, dx), c * hw * hw, y, c * hw * hw,
                                                        image(bnns, c, hw, hw, dy), c * hw * hw,
                                                        vector(bnns, c, dbeta), vector(bnns, c, dgamma))
    assert rc == 0, bnns.last_error()
    x_hat = (x - mu[:, None, None]) / np.sqrt(sigma2[:, None, None] + 1e-5)
    np.testing.assert_allclose(dbeta, dy.sum(axis=(0, 2, 3)), rtol=1e-4)
    np.testing.assert_allclose(dgamma, (dy * x_hat).sum(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4)
    assert abs(dx.sum()) < 1e-2      # batch-norm input gradients sum to zero per channel


def test_normalization_backward_before_training_forward_is_failed_precondition(bnns):
    f, *_ = batch_norm(bnns, 2, 2)
    rc = bnns.BNNSNormalizationFilterApplyBackwardBatch(f, 1, image(bnns, 2, 2, 2, np.zeros(8, np.float32)), 0, None, 0,
                                                        image(bnns, 2, 2, 2, np.ones(8, np.float32)), 0, None, None)
    assert rc == -1 and isinstance(bnns.last_error(), FailedPreconditionError)


# ------------------------------------------------------------------------------------ arithmetic

def test_binary_arithmetic_with_a_parameter_operand(bnns):
    BNNS = bnns.BNNS
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    with BNNS.BinaryArithmeticLayer(input_a=vector(bnns, 3), input_b=vector(bnns, 3, b),
                                    input_b_descriptor_type=BNNS.DescriptorType.parameter, output=vector(bnns, 3),
                                    function=bnns.BNNSArithmeticMultiply) as layer:
        y = np.zeros_like(a)
        layer.apply(batch_size=4, input_a=vector(bnns, 3, a), input_b=None, output=vector(bnns, 3, y))
        np.testing.assert_allclose(y, a * b, rtol=1e-6)
        dy = rng.standard_normal(a.shape).astype(np.float32)
        da, db = np.zeros_like(a), np.zeros_like(b)
        layer.apply_backward(batch_size=4, input_a=vector(bnns, 3, a), input_b=vector(bnns, 3, b),
                             output=vector(bnns, 3, y), output_gradient=vector(bnns, 3, dy),
                             generating_input_a_gradient=vector(bnns, 3, da),
                             generating_input_b_gradient=vector(bnns, 3, db))
    np.testing.assert_allclose(da, dy * b, rtol=1e-6)
    np.testing.assert_allclose(db, (dy * a).sum(axis=0), rtol=1e-5)   # Parameter: summed over the batch


# ------------------------------------------------------------------------------------- optimizer

def fc_with_client_ptr(bnns, w, b, flags):
    p = bnns.BNNSLayerParametersFullyConnected(
        i_desc=vector(bnns, w.shape[1]), o_desc=vector(bnns, w.shape[0]),
        w_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=w.shape[::-1], data=w),
        bias=vector(bnns, w.shape[0], b))
    f = bnns.BNNSFilterCreateLayerFullyConnected(p, bnns.BNNSFilterParameters(flags=flags))
    assert f is not None, bnns.last_error()
    return f, p


def test_optimizer_step_on_client_ptr_weights_updates_both_sides(bnns):
    rng = np.random.default_rng(4)
    w, b = rng.standard_normal((2, 3)).astype(np.float32), np.zeros(2, np.float32)
    f, p = fc_with_client_ptr(bnns, w, b, bnns.BNNSFlagsUseClientPtr)
    x = rng.standard_normal((1, 3)).astype(np.float32)
    gw, gb = rng.standard_normal(w.shape).astype(np.float32), np.ones(2, np.float32)
    accumulators = [np.zeros_like(w), np.zeros_like(b), np.zeros_like(w), np.zeros_like(b)]   # m_w, m_b, v_w, v_b
    fields = bnns.BNNSOptimizerAdamFields(learning_rate=0.1, time_step=1)
    w_before = w.copy()
    rc = bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, fields, 2, [p.w_desc, p.bias],
                                [bnns.BNNSNDArrayDescriptor(data=gw), bnns.BNNSNDArrayDescriptor(data=gb)],
                                [bnns.BNNSNDArrayDescriptor(data=a) for a in accumulators], None)
    assert rc == 0, bnns.last_error()
    # First Adam step moves every weight by -lr * sign(g) (bias correction makes m_hat/sqrt(v_hat) = sign).
    np.testing.assert_allclose(w, w_before - 0.1 * np.sign(gw), rtol=1e-5)
    np.testing.assert_allclose(accumulators[0], 0.1 * gw, rtol=1e-5)            # m = (1 - beta1) g
    # v = (1 - beta2) g^2; (1 - 0.999) is not exact in float32 (relative error ~1e-5).
    np.testing.assert_allclose(accumulators[2], 0.001 * gw ** 2, rtol=1e-4)
    # The server's copy moved too: the next forward uses the new weights.
    y = np.zeros(2, np.float32)
    bnns.BNNSFilterApply(f, x, y)
    np.testing.assert_allclose(y, x[0] @ w.T + b, rtol=1e-5)


def test_optimizer_step_without_client_ptr_leaves_the_filter_alone(bnns):
    rng = np.random.default_rng(5)
    w, b = rng.standard_normal((2, 3)).astype(np.float32), np.zeros(2, np.float32)
    f, p = fc_with_client_ptr(bnns, w, b, 0)
    original = w.copy()
    sgd = bnns.BNNS.SGDMomentumOptimizer(learning_rate=1.0)
    sgd.step(parameters=[p.w_desc], gradients=[bnns.BNNSNDArrayDescriptor(data=np.ones_like(w))])
    np.testing.assert_allclose(w, original - 1.0)                      # the caller's array moved...
    x = np.ones((1, 3), np.float32)
    y = np.zeros(2, np.float32)
    bnns.BNNSFilterApply(f, x, y)
    np.testing.assert_allclose(y, original.sum(axis=1), rtol=1e-6)     # ...the filter kept its copy (as on a Mac)


def test_failed_optimizer_step_changes_nothing(bnns):
    rng = np.random.default_rng(6)
    w, b = rng.standard_normal((2, 3)).astype(np.float32), np.zeros(2, np.float32)
    f, p = fc_with_client_ptr(bnns, w, b, bnns.BNNSFlagsUseClientPtr)
    before = w.copy()
    rc = bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam,
                                bnns.BNNSOptimizerAdamFields(learning_rate=float("nan")), 1, [p.w_desc],
                                [bnns.BNNSNDArrayDescriptor(data=np.ones_like(w))], None, None)
    assert rc == -1 and isinstance(bnns.last_error(), InvalidArgumentError)
    rc = bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, bnns.BNNSOptimizerAdamFields(learning_rate=0.1), 1,
                                [p.w_desc], [bnns.BNNSNDArrayDescriptor(data=np.ones(5, np.float32))], None, None)
    assert rc == -1 and "gradients[0] has 5 values" in str(bnns.last_error())
    assert np.array_equal(w, before)
    y = np.zeros(2, np.float32)
    bnns.BNNSFilterApply(f, np.ones(3, np.float32), y)
    np.testing.assert_allclose(y, before.sum(axis=1), rtol=1e-6)


def test_non_finite_gradient_for_server_held_weights_is_refused(bnns):
    rng = np.random.default_rng(7)
    w, b = rng.standard_normal((2, 3)).astype(np.float32), np.zeros(2, np.float32)
    f, p = fc_with_client_ptr(bnns, w, b, bnns.BNNSFlagsUseClientPtr)
    before = w.copy()
    bad = np.ones_like(w)
    bad[0, 1] = np.nan
    rc = bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionSGDMomentum,
                                bnns.BNNSOptimizerSGDMomentumFields(learning_rate=0.1), 1, [p.w_desc],
                                [bnns.BNNSNDArrayDescriptor(data=bad)], None, None)
    assert rc == -1 and "NaN or infinite" in str(bnns.last_error())
    assert np.array_equal(w, before)
    y = np.zeros(2, np.float32)
    bnns.BNNSFilterApply(f, np.ones(3, np.float32), y)
    np.testing.assert_allclose(y, before.sum(axis=1), rtol=1e-6)


def test_a_training_batch_with_nan_is_refused_and_moves_no_statistics(bnns):
    """A non-finite batch would poison the moving statistics for good: refused, as OptimizerStep
    refuses non-finite gradients for weights that live on the server."""
    c = 3
    mean, var = np.zeros(c, np.float32), np.ones(c, np.float32)
    vec = lambda data: bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(c,), data=data)
    img = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(4, 4, c))
    p = bnns.BNNSLayerParametersNormalization(i_desc=img, o_desc=img, beta_desc=vec(np.zeros(c, np.float32)),
                                              gamma_desc=vec(np.ones(c, np.float32)), moving_mean_desc=vec(mean),
                                              moving_variance_desc=vec(var), momentum=0.9, epsilon=1e-5)
    f = bnns.BNNSFilterCreateLayerNormalization(bnns.BNNSBatchNorm, p,
                                                bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr))
    x = np.random.default_rng(6).standard_normal((2, c, 4, 4)).astype(np.float32)
    x[1, 2, 3, 0] = np.nan
    y = np.zeros_like(x)
    assert bnns.BNNSNormalizationFilterApplyBatch(f, 2, x, 48, y, 48, True) == -1
    assert "NaN" in bnns.last_error().message
    assert (mean == 0).all() and (var == 1).all()
    x[1, 2, 3, 0] = 0
    assert bnns.BNNSNormalizationFilterApplyBatch(f, 2, x, 48, y, 48, True) == 0
    assert not (mean == 0).all()
    assert bnns.BNNSNormalizationFilterApplyBatch(f, 2, np.full_like(x, np.inf), 48, y, 48, False) == 0  # inference
