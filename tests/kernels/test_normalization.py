"""Normalization filters (kernels/normalization.py): forward against naive loops, backward against
central differences, moving statistics on hand-computed numbers, the training cache, and errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bnns.kernels import layout as L
from bnns.kernels import normalization as nm
from bnns.kernels.activation import (IDENTITY, LEAKY_RECTIFIED_LINEAR, RECTIFIED_LINEAR, SIGMOID,
                                     SOFTMAX, Activation)
from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError
from bnns.kernels.params import NormalizationParameters
from tests.numeric import assert_gradient_matches, projection

EPS = 1e-5


# ------------------------------------------------------------------------------------ case table
@dataclasses.dataclass(frozen=True)
class Kind:
    id: str
    type: int
    item_shape: tuple      # logical (C, H, W) unless said
    layout: int = L.LAYOUT_IMAGE_CHW
    num_groups: int = 1
    axis: int = 0
    # float32 filter vs float64 naive reference: x - mean loses ~|mean| / std digits in float32;
    # groups of only 2 values can have a tiny spread, so they get a looser bound.
    f32_tol: float = 1e-5

    @property
    def geometry(self):
        return nm.geometry(self.type, self.item_shape, self.num_groups, self.axis)

    @property
    def param_shape(self):
        return self.item_shape[self.axis:] if self.type == nm.LAYER_NORM else self.item_shape[:1]


KINDS = [
    Kind("batch", nm.BATCH_NORM, (3, 4, 2)),
    Kind("instance", nm.INSTANCE_NORM, (3, 4, 2)),
    Kind("group", nm.GROUP_NORM, (4, 3, 2), num_groups=2),
    Kind("layer_chw", nm.LAYER_NORM, (3, 4, 2), axis=0),
    Kind("layer_hw", nm.LAYER_NORM, (3, 4, 2), axis=1),
    Kind("layer_w", nm.LAYER_NORM, (3, 4, 2), axis=2, f32_tol=1e-4),
    Kind("batch_vector", nm.BATCH_NORM, (5,), layout=L.LAYOUT_VECTOR),
    Kind("layer_2d_last_axis", nm.LAYER_NORM, (4, 6), layout=L.LAYOUT_2D_FIRST_MAJOR, axis=1),
]

ACTIVATIONS = [
    pytest.param(Activation(IDENTITY), id="identity"),
    pytest.param(Activation(RECTIFIED_LINEAR), id="relu"),
    pytest.param(Activation(SIGMOID), id="sigmoid"),
    # derivative not recoverable from y (alpha 0): backward must use the cached pre-activation
    pytest.param(Activation(LEAKY_RECTIFIED_LINEAR, alpha=0.0), id="leaky_relu_alpha0"),
]

# Finite differences in float64 with eps 1e-6: truncation error ~1e-12 relative, so 1e-6 / 1e-8
# is loose enough for every kind and still fails on any wrong term.
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-8
BATCH = 3


# ------------------------------------------------------------------------------------ references
def naive_forward(x, kind: Kind, gamma, beta, eps=EPS, activation=Activation()):
    """Loop over every statistics group; biased variance; then gamma, beta and the activation."""
    x = np.asarray(x, np.float64)
    n_items, channels = x.shape[0], x.shape[1]
    x_hat = np.empty_like(x)

    def normalise(index):
        block = x[index]
        x_hat[index] = (block - block.mean()) / math.sqrt(block.var() + eps)

    if kind.type == nm.BATCH_NORM:
        for c in range(channels):
            normalise((slice(None), c))
    elif kind.type == nm.INSTANCE_NORM:
        for n in range(n_items):
            for c in range(channels):
                normalise((n, c))
    elif kind.type == nm.GROUP_NORM:
        width = channels // kind.num_groups
        for n in range(n_items):
            for group in range(kind.num_groups):
                normalise((n, slice(group * width, (group + 1) * width)))
    else:
        for n in range(n_items):
            for outer in np.ndindex(*x.shape[1:1 + kind.axis]):
                normalise((n,) + outer)
    g = np.ones(kind.param_shape) if gamma is None else np.asarray(gamma, np.float64)
    b = np.zeros(kind.param_shape) if beta is None else np.asarray(beta, np.float64)
    if kind.type == nm.LAYER_NORM:
        pre = x_hat * g + b            # the normalised axes are the trailing ones
    else:
        expand = (slice(None),) + (None,) * (x.ndim - 2)
        pre = x_hat * g[expand] + b[expand]
    return {IDENTITY: lambda z: z,
            RECTIFIED_LINEAR: lambda z: np.maximum(z, 0),
            SIGMOID: lambda z: 1 / (1 + np.exp(-z)),
            LEAKY_RECTIFIED_LINEAR: lambda z: np.where(z >= 0, z, activation.alpha * z),
            }[activation.function](pre)


def desc(kind: Kind, shape=None, layout=None):
    return L.Descriptor.for_shape(layout or kind.layout, shape or kind.item_shape)


def vector(values):
    values = np.asarray(values, np.float32)
    return L.Descriptor.for_shape(L.LAYOUT_VECTOR, (values.size,), values.reshape(-1))


def make_params(kind: Kind, rng, *, affine=True, moving=False, activation=Activation(), **extra):
    channels = kind.item_shape[0]
    fields = dict(type=kind.type, i_desc=desc(kind), o_desc=desc(kind), activation=activation,
                  num_groups=kind.num_groups, normalization_axis=kind.axis, epsilon=EPS)
    if affine:
        fields["beta_desc"] = vector(rng.standard_normal(kind.param_shape))
        fields["gamma_desc"] = vector(rng.uniform(0.5, 1.5, kind.param_shape))
    if moving:
        fields["moving_mean_desc"] = vector(rng.standard_normal(channels))
        fields["moving_variance_desc"] = vector(rng.uniform(0.5, 2.0, channels))
    fields.update(extra)
    return NormalizationParameters(**fields)


def batch(kind: Kind, rng, n=BATCH, dtype=np.float32):
    # an offset mean checks the two-pass variance too
    return (rng.standard_normal((n,) + kind.item_shape) * 2 + 3).astype(dtype)


# ------------------------------------------------------------------------------------ forward
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_training_forward_matches_naive_loops(kind, activation):
    rng = np.random.default_rng(101)
    filt = nm.NormalizationFilter(make_params(kind, rng, activation=activation))
    x = batch(kind, rng)
    y = filt.apply(x, training=True)
    params = filt.parameters()
    expected = naive_forward(x, kind, params["gamma"], params["beta"], activation=activation)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, expected, rtol=kind.f32_tol, atol=kind.f32_tol)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_forward_computes_in_float64_when_given_float64(kind):
    rng = np.random.default_rng(102)
    filt = nm.NormalizationFilter(make_params(kind, rng))
    x = batch(kind, rng, dtype=np.float64)
    y = filt.apply(x, training=True)
    params = filt.parameters()
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, naive_forward(x, kind, params["gamma"], params["beta"]),
                               rtol=1e-12, atol=1e-12)


def test_statistics_groups_follow_the_documented_axes():
    # Per-group mean 0 and (biased) variance 1 over exactly the documented axes.
    rng = np.random.default_rng(103)
    x = rng.standard_normal((4, 6, 3, 5)) * 3 + 1
    checks = {
        (nm.BATCH_NORM, 1, 0): (0, 2, 3),        # per channel over (N, H, W)
        (nm.INSTANCE_NORM, 1, 0): (2, 3),        # per (n, c) over (H, W)
        (nm.LAYER_NORM, 1, 0): (1, 2, 3),        # per n over (C, H, W)
        (nm.LAYER_NORM, 1, 1): (2, 3),           # per (n, c) over (H, W)
        (nm.LAYER_NORM, 1, 2): (3,),             # per (n, c, h) over W
    }
    for (kind, groups, axis), axes in checks.items():
        y, _ = nm.forward(x, nm.geometry(kind, x.shape[1:], groups, axis), epsilon=0.0)
        np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)
        np.testing.assert_allclose(y.var(axis=axes), 1, rtol=1e-12)
    y, _ = nm.forward(x, nm.geometry(nm.GROUP_NORM, x.shape[1:], 3), epsilon=0.0)
    grouped = y.reshape(4, 3, 2, 3, 5)                # per (n, group of 2 channels)
    np.testing.assert_allclose(grouped.mean(axis=(2, 3, 4)), 0, atol=1e-12)
    np.testing.assert_allclose(grouped.var(axis=(2, 3, 4)), 1, rtol=1e-12)


def test_batch_norm_hand_computed_output():
    # one channel, values 1, 3, 5, 7: mean 4, biased variance 5
    kind = Kind("batch", nm.BATCH_NORM, (1, 1, 2))
    params = make_params(kind, None, affine=False, beta_desc=vector([0.5]), gamma_desc=vector([2.0]))
    y = nm.NormalizationFilter(params).apply(np.array([[[[1, 3]]], [[[5, 7]]]], np.float32),
                                             training=True)
    expected = 2 * (np.array([1, 3, 5, 7]) - 4) / math.sqrt(5 + EPS) + 0.5
    np.testing.assert_allclose(y.reshape(-1), expected, rtol=1e-6)


def test_softmax_activation_acts_along_the_items_last_axis():
    rng = np.random.default_rng(119)
    kind = KINDS[0]
    filt = nm.NormalizationFilter(make_params(kind, rng, activation=Activation(SOFTMAX)))
    x = batch(kind, rng)
    y = filt.apply(x, training=True)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-6)     # along W (BNNS size[0])
    params = filt.parameters()
    pre = naive_forward(x, kind, params["gamma"], params["beta"])
    expected = np.exp(pre) / np.exp(pre).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_descriptor_without_data_counts_as_absent():
    rng = np.random.default_rng(104)
    kind = KINDS[0]
    empty = L.Descriptor.for_shape(L.LAYOUT_VECTOR, (kind.item_shape[0],))   # data None
    with_empty = nm.NormalizationFilter(
        make_params(kind, rng, affine=False, beta_desc=empty, gamma_desc=empty))
    without = nm.NormalizationFilter(make_params(kind, rng, affine=False))
    x = batch(kind, rng)
    assert with_empty.parameters() == {}
    np.testing.assert_array_equal(with_empty.apply(x, training=True),
                                  without.apply(x, training=True))


# ------------------------------------------------------------------------------------ backward
@pytest.mark.parametrize("affine", [True, False], ids=["beta_gamma", "no_beta_gamma"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_backward_matches_finite_differences(kind, activation, affine):
    rng = np.random.default_rng(105)
    geo = kind.geometry
    x = batch(kind, rng, dtype=np.float64)
    gamma = rng.uniform(0.5, 1.5, kind.param_shape) if affine else None
    beta = rng.standard_normal(kind.param_shape) if affine else None
    proj = projection(rng, x.shape)

    def loss(x_=x, gamma_=gamma, beta_=beta):
        return float(np.sum(proj * nm.forward(x_, geo, gamma_, beta_, epsilon=EPS,
                                              activation=activation)[0]))

    y, saved = nm.forward(x, geo, gamma, beta, epsilon=EPS, activation=activation)
    d_in, d_beta, d_gamma = nm.backward(proj, y, saved, gamma, activation=activation,
                                        input_grad=True, beta_grad=True, gamma_grad=True)
    assert_gradient_matches(d_in, lambda v: loss(x_=v), x, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    # absent beta/gamma: the gradients at beta = 0, gamma = 1
    at_gamma = gamma if gamma is not None else np.ones(kind.param_shape)
    at_beta = beta if beta is not None else np.zeros(kind.param_shape)
    assert_gradient_matches(d_gamma, lambda v: loss(gamma_=v), at_gamma,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_gradient_matches(d_beta, lambda v: loss(beta_=v), at_beta,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_filter_backward_uses_the_last_training_forward(kind, activation):
    rng = np.random.default_rng(106)
    filt = nm.NormalizationFilter(make_params(kind, rng, activation=activation))
    params = filt.parameters()
    # replaced by the next one (same shape and dtype: its buffer is reused for the new x_hat)
    filt.apply(batch(kind, rng, dtype=np.float64), training=True)
    x = batch(kind, rng, dtype=np.float64)
    y = filt.apply(x, training=True)
    filt.apply(batch(kind, rng, n=1), training=False)            # inference keeps the cache
    d_out = projection(rng, x.shape)
    d_in, d_beta, d_gamma = filt.apply_backward(y, d_out, beta_grad=True, gamma_grad=True)
    ref_y, saved = nm.forward(x, kind.geometry, params["gamma"], params["beta"], epsilon=EPS,
                              activation=activation)
    expected = nm.backward(d_out, ref_y, saved, params["gamma"], activation=activation,
                           beta_grad=True, gamma_grad=True)
    for got, want in zip((d_in, d_beta, d_gamma), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert d_beta.shape == d_gamma.shape == kind.param_shape


def test_backward_returns_only_what_was_asked():
    rng = np.random.default_rng(107)
    kind = KINDS[0]
    filt = nm.NormalizationFilter(make_params(kind, rng))
    x = batch(kind, rng)
    y = filt.apply(x, training=True)
    d_out = rng.standard_normal(x.shape).astype(np.float32)
    d_in, d_beta, d_gamma = filt.apply_backward(y, d_out, input_grad=False, gamma_grad=True)
    assert d_in is None and d_beta is None and d_gamma.shape == (kind.item_shape[0],)
    d_copy = d_out.copy()
    filt.apply_backward(y, d_out, input_grad=True, beta_grad=True, gamma_grad=True)
    np.testing.assert_array_equal(d_out, d_copy)        # the caller's d_out is left alone


def test_layer_norm_without_gamma_leaves_d_out_intact():
    rng = np.random.default_rng(108)
    kind = KINDS[3]
    filt = nm.NormalizationFilter(make_params(kind, rng, affine=False))
    x = batch(kind, rng)
    y = filt.apply(x, training=True)
    d_out = rng.standard_normal(x.shape).astype(np.float32)
    d_copy = d_out.copy()
    filt.apply_backward(y, d_out)
    np.testing.assert_array_equal(d_out, d_copy)


@pytest.mark.parametrize("spread", [1e-3, 1.0, 30.0])
def test_layer_norm_float32_gradients_follow_the_float64_ones(spread):
    # LayerNorm keeps x - mean (not x_hat) and folds inv_std into per-row factors (s g for y,
    # s^3 <p, g> / m for dL/dx): in float32 that must stay within float32 rounding of the same
    # computation in float64 (itself checked against finite differences above), for rows of
    # small, unit and large spread around a large mean, so inv_std ranges over 1e-2 .. 1e3.
    rng = np.random.default_rng(111)
    item = (16, 256)
    geo = nm.geometry(nm.LAYER_NORM, item, normalization_axis=1)
    x64 = (5.0 + spread * rng.standard_normal((3,) + item)).astype(np.float32).astype(np.float64)
    gamma, beta = rng.uniform(0.5, 1.5, 256), rng.standard_normal(256)
    d_out = rng.standard_normal(x64.shape)

    def run(dtype):
        x, g, b, d = (np.asarray(a, dtype) for a in (x64, gamma, beta, d_out))
        y, saved = nm.forward(x, geo, g, b, epsilon=1e-6)
        return (y,) + nm.backward(d, y, saved, g, beta_grad=True, gamma_grad=True)

    # float32's mean of values near 5 is off by about 5 * 2^-24: x - mean keeps ~|mean| / spread
    # fewer digits (the case table's note), whatever the formula.
    tolerance = 2e-6 * max(1.0, 5.0 / spread)
    for got, want, name in zip(run(np.float32), run(np.float64), ("y", "dx", "dbeta", "dgamma")):
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance * np.abs(want).max(), err_msg=name)


@pytest.mark.parametrize("affine", [True, False], ids=["beta_gamma", "no_beta_gamma"])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_blocks_of_one_row_on_every_core_give_the_one_block_numbers(kind, affine, monkeypatch):
    # The kernels cut the statistics rows into cache-sized blocks shared over the cores
    # (kernels/parallel.py); the small cases above fit in one block. One row per block, threads
    # on: the same numbers, up to the order of float64 sums, and the naive loops forward.
    from bnns.kernels import parallel
    rng = np.random.default_rng(109)
    geo = kind.geometry
    x = batch(kind, rng, n=4, dtype=np.float64)
    gamma = rng.uniform(0.5, 1.5, kind.param_shape) if affine else None
    beta = rng.standard_normal(kind.param_shape) if affine else None
    d_out = projection(rng, x.shape)

    def run():
        y, saved = nm.forward(x, geo, gamma, beta, epsilon=EPS, activation=Activation(RECTIFIED_LINEAR))
        grads = nm.backward(d_out, y, saved, gamma, activation=Activation(RECTIFIED_LINEAR),
                            beta_grad=True, gamma_grad=True)
        return (y,) + grads

    one_block = run()
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1)
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    blocked = run()
    for got, want in zip(blocked, one_block):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(blocked[0], naive_forward(x, kind, gamma, beta,
                                                         activation=Activation(RECTIFIED_LINEAR)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False], ids=["beta_gamma", "no_beta_gamma"])
def test_layer_norm_backward_outer_products_by_blas_equal_numpys(affine, dtype, monkeypatch):
    # The layer-norm backward forms its outer products with rank-1 GEMMs (normalization._outer);
    # each element is one product (and one sum) either way, so NumPy's broadcasts give the same
    # bits.
    from bnns.kernels import blas
    kind = next(k for k in KINDS if k.id == "layer_hw")
    rng = np.random.default_rng(110)
    x = batch(kind, rng, n=5, dtype=dtype)
    gamma = rng.uniform(0.5, 1.5, kind.param_shape).astype(dtype) if affine else None
    d_out = rng.standard_normal(x.shape).astype(dtype)
    _, saved = nm.forward(x, kind.geometry, gamma, None, epsilon=EPS)

    def run():
        return nm.backward(d_out, None, saved, gamma, beta_grad=True, gamma_grad=True)

    with_blas = run()
    monkeypatch.setattr(blas, "dtype_supported", lambda dtype: False)
    without = run()
    for got, want in zip(with_blas, without):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("blas_outer", [True, False], ids=["blas", "numpy"])
@pytest.mark.parametrize("affine", [True, False], ids=["beta_gamma", "no_beta_gamma"])
def test_layer_norm_forward_fast_path_equals_the_plain_formula(affine, blas_outer, monkeypatch):
    # The layer-norm forward writes the factor inv_std gamma into y (a rank-1 GEMM, or NumPy's
    # broadcast without BLAS) and multiplies it by x - mean in place, block by block on every
    # core. The plain formula on whole arrays, from the statistics it kept, gives the same bits:
    # cache = x - mean, y = (x - mean) * (inv_std gamma) + beta, each element one product and
    # one sum either way.
    from bnns.kernels import blas, parallel
    rng = np.random.default_rng(112)
    item = (6, 40)
    geo = nm.geometry(nm.LAYER_NORM, item, normalization_axis=1)
    x = (3 + 2 * rng.standard_normal((4,) + item)).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, 40).astype(np.float32) if affine else None
    beta = rng.standard_normal(40).astype(np.float32) if affine else None
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 5 * 40 * 4)       # blocks of 7 rows (1.5x)
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    if not blas_outer:
        monkeypatch.setattr(blas, "dtype_supported", lambda dtype: False)
    y, saved = nm.forward(x, geo, gamma, beta, epsilon=EPS)

    mean, inv_std = saved.mean.reshape(4, 6, 1), saved.inv_std.reshape(4, 6, 1)
    centred = x - mean
    np.testing.assert_array_equal(saved.x_hat, centred)
    factor = inv_std * (np.float32(1) if gamma is None else gamma)
    want = centred * factor if beta is None else centred * factor + beta
    np.testing.assert_array_equal(y, want)
    # and the statistics are the float64 ones, to float32 rounding
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(saved.mean.reshape(4, 6), x64.mean(axis=2), rtol=1e-6)
    np.testing.assert_allclose(saved.inv_std.reshape(4, 6), 1 / np.sqrt(x64.var(axis=2) + EPS), rtol=1e-5)


# ------------------------------------------------------------------------------------ moving stats
def test_batch_norm_moving_stats_update_hand_computed():
    # channel 0: 1, 3, 5, 7 -> mean 4, unbiased var 20/3; channel 1: 0, 0, 0, 2 -> mean 0.5, var 1
    kind = Kind("batch", nm.BATCH_NORM, (2, 1, 2))
    params = make_params(kind, None, affine=False, momentum=0.9,
                         moving_mean_desc=vector([0.0, 1.0]), moving_variance_desc=vector([1.0, 2.0]))
    filt = nm.NormalizationFilter(params)
    x = np.array([[[[1, 3]], [[0, 0]]], [[[5, 7]], [[0, 2]]]], np.float32)
    filt.apply(x, training=True)
    stats = filt.parameters()
    np.testing.assert_allclose(stats["moving_mean"], [0.1 * 4, 0.9 + 0.1 * 0.5], rtol=1e-6)
    np.testing.assert_allclose(stats["moving_variance"], [0.9 + 0.1 * 20 / 3, 1.8 + 0.1 * 1.0],
                               rtol=1e-6)
    filt.apply(x, training=True)      # a second step compounds
    np.testing.assert_allclose(filt.parameters()["moving_mean"][0], 0.9 * 0.4 + 0.4, rtol=1e-6)


def test_instance_norm_moving_stats_average_the_instances():
    # samples [1, 3] (mean 2, unbiased var 2) and [5, 9] (mean 7, unbiased var 8)
    kind = Kind("instance", nm.INSTANCE_NORM, (1, 1, 2))
    params = make_params(kind, None, affine=False, momentum=0.9,
                         moving_mean_desc=vector([0.0]), moving_variance_desc=vector([1.0]))
    filt = nm.NormalizationFilter(params)
    filt.apply(np.array([[[[1, 3]]], [[[5, 9]]]], np.float32), training=True)
    np.testing.assert_allclose(filt.parameters()["moving_mean"], [0.1 * 4.5], rtol=1e-6)
    np.testing.assert_allclose(filt.parameters()["moving_variance"], [0.9 + 0.1 * 5], rtol=1e-6)


@pytest.mark.parametrize("kind", [KINDS[0], KINDS[1]], ids=lambda k: k.id)
def test_inference_uses_moving_stats_and_keeps_them(kind):
    rng = np.random.default_rng(109)
    filt = nm.NormalizationFilter(make_params(kind, rng, moving=True))
    before = {k: v.copy() for k, v in filt.parameters().items()}
    x = batch(kind, rng)
    y = filt.apply(x, training=False)
    p = before
    expand = (slice(None), None, None)
    expected = (p["gamma"][expand] * (x.astype(np.float64) - p["moving_mean"][expand])
                / np.sqrt(p["moving_variance"][expand] + EPS) + p["beta"][expand])
    np.testing.assert_allclose(y, expected, rtol=kind.f32_tol, atol=kind.f32_tol)
    for name, value in filt.parameters().items():
        np.testing.assert_array_equal(value, before[name])
    assert not filt.has_training_cache


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_inference_without_moving_stats_uses_current_statistics(kind):
    rng = np.random.default_rng(110)
    filt = nm.NormalizationFilter(make_params(kind, rng))
    x = batch(kind, rng)
    params = filt.parameters()
    np.testing.assert_allclose(filt.apply(x, training=False),
                               naive_forward(x, kind, params["gamma"], params["beta"]),
                               rtol=kind.f32_tol, atol=kind.f32_tol)
    assert not filt.has_training_cache


@pytest.mark.parametrize("blocks", ["one block", "one-row blocks on every core"])
@pytest.mark.parametrize("activation", [Activation(IDENTITY), Activation(RECTIFIED_LINEAR)], ids=["identity", "relu"])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_inference_forward_keeps_no_cache_and_gives_the_training_forwards_bits(kind, activation, blocks, monkeypatch):
    """An inference forward forms x - mean in y's memory instead of a cache (no third tensor's
    traffic); y is the training forward's, bit for bit, and the filter's cache is untouched."""
    from bnns.kernels import parallel
    if blocks != "one block":
        monkeypatch.setattr(parallel, "BLOCK_BYTES", 1)
        monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    rng = np.random.default_rng(114)
    filt = nm.NormalizationFilter(make_params(kind, rng, activation=activation))
    x, other = batch(kind, rng), batch(kind, rng)
    filt.apply(other, training=True)
    cache = filt._saved
    y = filt.apply(x, training=False)
    assert filt._saved is cache                                  # the last training forward's cache stays
    np.testing.assert_array_equal(y, filt.apply(x, training=True))
    y_direct, saved = nm.forward(x, filt._geo, filt.parameters()["gamma"], filt.parameters()["beta"],
                                 epsilon=EPS, activation=activation, keep=False)
    assert saved is None
    np.testing.assert_array_equal(y_direct, y)


@pytest.mark.parametrize("kind", [KINDS[3], KINDS[2]], ids=lambda k: k.id)
def test_layer_and_group_norm_ignore_moving_stats(kind):
    rng = np.random.default_rng(111)
    filt = nm.NormalizationFilter(make_params(kind, rng, moving=True))
    assert set(filt.parameters()) == {"beta", "gamma"}
    x = batch(kind, rng)
    np.testing.assert_array_equal(filt.apply(x, training=False), filt.apply(x, training=True))


def test_parameters_are_live():
    rng = np.random.default_rng(112)
    kind = KINDS[0]
    filt = nm.NormalizationFilter(make_params(kind, rng, moving=True))
    assert set(filt.parameters()) == {"beta", "gamma", "moving_mean", "moving_variance"}
    x = batch(kind, rng)
    y = filt.apply(x, training=True)
    filt.parameters()["beta"][...] += 1       # e.g. an optimizer step
    np.testing.assert_allclose(filt.apply(x, training=True), y + 1, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------ preconditions
def test_backward_before_any_training_forward_is_failed_precondition():
    rng = np.random.default_rng(113)
    kind = KINDS[0]
    filt = nm.NormalizationFilter(make_params(kind, rng))
    x = batch(kind, rng)
    with pytest.raises(FailedPreconditionError, match="training-mode forward"):
        filt.apply_backward(x, x)
    filt.apply(x, training=False)
    with pytest.raises(FailedPreconditionError, match="training-mode forward"):
        filt.apply_backward(x, x)


def test_backward_with_another_batch_size_is_failed_precondition():
    rng = np.random.default_rng(114)
    kind = KINDS[0]
    filt = nm.NormalizationFilter(make_params(kind, rng))
    filt.apply(batch(kind, rng, n=3), training=True)
    other = batch(kind, rng, n=2)
    with pytest.raises(FailedPreconditionError, match="batch size 2 .* batch size 3"):
        filt.apply_backward(other, other)


# ------------------------------------------------------------------------------------ errors
def _bad(**changes):
    kind = Kind("group", nm.GROUP_NORM, (4, 3, 2), num_groups=2)
    return lambda rng: make_params(kind, rng, **changes)


def _bad_layer(**changes):
    kind = Kind("layer_hw", nm.LAYER_NORM, (3, 4, 2), axis=1)
    return lambda rng: make_params(kind, rng, **changes)


def _bad_batch(**changes):
    return lambda rng: make_params(KINDS[0], rng, **changes)


ERROR_CASES = [
    pytest.param(_bad(num_groups=3), "num_groups 3", id="groups_do_not_divide_channels"),
    pytest.param(_bad(num_groups=0), "num_groups 0", id="zero_groups"),
    pytest.param(_bad(beta_desc=vector(np.zeros(3))), "beta has 3 values", id="beta_wrong_size"),
    pytest.param(_bad(gamma_desc=vector(np.ones(5))), "gamma has 5 values", id="gamma_wrong_size"),
    pytest.param(_bad_layer(gamma_desc=vector(np.ones(3 * 4 * 2))), "gamma has 24 values",
                 id="layer_gamma_not_the_normalised_shape"),
    pytest.param(_bad_layer(normalization_axis=3), "normalization_axis 3", id="axis_out_of_range"),
    pytest.param(_bad(o_desc=L.Descriptor.for_shape(L.LAYOUT_IMAGE_CHW, (4, 2, 3))),
                 "o_desc shape", id="mismatched_io_shapes"),
    pytest.param(_bad(epsilon=float("nan")), "epsilon nan", id="nan_epsilon"),
    pytest.param(_bad(epsilon=-1e-5), "epsilon", id="negative_epsilon"),
    pytest.param(_bad(momentum=float("nan")), "momentum nan", id="nan_momentum"),
    pytest.param(_bad(momentum=1.5), "momentum 1.5", id="momentum_above_one"),
    pytest.param(_bad(type=0), "type 0", id="not_a_normalization_type"),
    pytest.param(_bad_batch(moving_mean_desc=vector(np.zeros(3))), "must be given together",
                 id="moving_mean_without_variance"),
    pytest.param(_bad_batch(moving_mean_desc=vector(np.zeros(2)), moving_variance_desc=vector(np.ones(2))),
                 "moving_mean has 2 values", id="moving_stats_wrong_size"),
    pytest.param(_bad_batch(moving_mean_desc=vector(np.zeros(3)), moving_variance_desc=vector(-np.ones(3))),
                 "negative", id="negative_moving_variance"),
    pytest.param(_bad(activation=Activation(8, alpha=1.0, beta=0.0)), "Clamp",
                 id="invalid_activation"),
]


@pytest.mark.parametrize("build, message", ERROR_CASES)
def test_invalid_parameters_raise_invalid_argument(build, message):
    rng = np.random.default_rng(115)
    with pytest.raises(InvalidArgumentError, match=message):
        nm.NormalizationFilter(build(rng))


def test_input_of_wrong_shape_is_invalid_argument():
    rng = np.random.default_rng(116)
    kind = KINDS[0]
    filt = nm.NormalizationFilter(make_params(kind, rng))
    with pytest.raises(InvalidArgumentError, match=r"x has shape \(3, 4, 3, 2\)"):
        filt.apply(np.zeros((3, 4, 3, 2), np.float32), training=True)


def test_backward_with_sigmoid_needs_y():
    rng = np.random.default_rng(117)
    kind = KINDS[0]
    filt = nm.NormalizationFilter(make_params(kind, rng, activation=Activation(SIGMOID)))
    x = batch(kind, rng)
    filt.apply(x, training=True)
    with pytest.raises(InvalidArgumentError, match="y .* is needed"):
        filt.apply_backward(None, x)


def test_training_with_one_value_per_statistic_and_moving_stats_is_refused():
    rng = np.random.default_rng(118)
    kind = Kind("batch", nm.BATCH_NORM, (2, 1, 1))
    filt = nm.NormalizationFilter(make_params(kind, rng, moving=True))
    before = {k: v.copy() for k, v in filt.parameters().items()}
    with pytest.raises(InvalidArgumentError, match="unbiased variance"):
        filt.apply(np.ones((1, 2, 1, 1), np.float32), training=True)
    for name, value in filt.parameters().items():        # a failed call changes no state
        np.testing.assert_array_equal(value, before[name])
    assert not filt.has_training_cache


@pytest.mark.parametrize("shape, times", [((8,), 64), ((1, 5), 3), ((3, 4), 2), ((0,), 4), ((2, 3), 1)])
def test_tiled_is_np_tile(shape, times):
    # The statistics and affine operands repeated over a batch: np.tile's array, bit for bit.
    values = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    expected = np.tile(values, times) if values.ndim == 1 else np.tile(values, (times, 1))
    got = nm._tiled(values, times)
    assert got.shape == expected.shape and got.dtype == expected.dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
