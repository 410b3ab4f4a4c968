"""Multi-head attention (kernels/attention.py): forward against a per-head, per-row reference of
the header's formula, backward for inputs, weights, biases and attention biases against central
differences (with masks, the bias and zero rows, and a fixed dropout mask), the layout mapping of
the filter, the cache rules, and errors."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import numpy as np
import pytest

from bnns.kernels import attention as at
from bnns.kernels import layout as L
from bnns.kernels.convolution import matmul
from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError
from bnns.kernels.params import MHAProjectionParameters, MultiheadAttentionParameters
from tests.numeric import assert_gradient_matches, projection

N, LT, S, E, EK, EV, H, DK, DV, EO = 2, 3, 4, 4, 3, 5, 2, 2, 3, 5
GRAD_RTOL, GRAD_ATOL = 1e-5, 1e-8     # softmax + exp in float64: central differences good to ~1e-9


# ------------------------------------------------------------------------------------ reference
@dataclasses.dataclass
class Dims:
    """Parameters in BNNS dimension order (size[0] first), float64."""

    wq: np.ndarray      # (E, DK, H)
    wk: np.ndarray      # (EK, DK, H)
    wv: np.ndarray      # (EV, DV, H)
    wo: np.ndarray      # (H*DV, EO)
    bq: Optional[np.ndarray] = None   # (DK, H)
    bk: Optional[np.ndarray] = None
    bv: Optional[np.ndarray] = None   # (DV, H)
    bo: Optional[np.ndarray] = None   # (EO,)
    attn_k: Optional[np.ndarray] = None   # (DK, H)
    attn_v: Optional[np.ndarray] = None   # (DV, H)


def random_dims(rng, biases=True, attn_bias=False):
    d = Dims(rng.standard_normal((E, DK, H)), rng.standard_normal((EK, DK, H)),
             rng.standard_normal((EV, DV, H)), rng.standard_normal((H * DV, EO)))
    if biases:
        d.bq, d.bk = rng.standard_normal((DK, H)), rng.standard_normal((DK, H))
        d.bv, d.bo = rng.standard_normal((DV, H)), rng.standard_normal(EO)
    if attn_bias:
        d.attn_k, d.attn_v = rng.standard_normal((DK, H)), rng.standard_normal((DV, H))
    return d


def naive_mha(xq, xk, xv, d: Dims, add_zero=False, key_mask=None, extra=None, keep=None, rate=0.0):
    """The header's formula, one head and one score at a time."""
    out = np.zeros((xq.shape[0], xq.shape[1], EO))
    for n in range(xq.shape[0]):
        context = np.zeros((xq.shape[1], H * DV))
        for h in range(H):
            q = xq[n] @ d.wq[:, :, h] + (0 if d.bq is None else d.bq[:, h])
            k = xk[n] @ d.wk[:, :, h] + (0 if d.bk is None else d.bk[:, h])
            v = xv[n] @ d.wv[:, :, h] + (0 if d.bv is None else d.bv[:, h])
            if d.attn_k is not None and d.attn_v is not None:     # (given together)
                k, v = np.vstack([k, d.attn_k[:, h]]), np.vstack([v, d.attn_v[:, h]])
            if add_zero:
                k, v = np.vstack([k, np.zeros(DK)]), np.vstack([v, np.zeros(DV)])
            for i in range(q.shape[0]):
                scores = np.empty(k.shape[0])
                for j in range(k.shape[0]):
                    scores[j] = sum(q[i, c] * k[j, c] for c in range(DK)) / math.sqrt(DK)
                    if j < xk.shape[1]:
                        if extra is not None:
                            scores[j] += extra[i, j]
                        if key_mask is not None and key_mask[n, j]:
                            scores[j] = -np.inf
                p = np.exp(scores - scores.max())
                p /= p.sum()
                if keep is not None:
                    p = p * keep[n, h, i] / (1 - rate)
                context[i, h * DV:(h + 1) * DV] = p @ v
        out[n] = context @ d.wo + (0 if d.bo is None else d.bo)
    return out


def weights_of(d: Dims) -> at.Weights:
    """Compute form of Dims (what MultiheadAttentionFilter builds from its descriptors)."""
    def proj(w):
        return np.ascontiguousarray(w.transpose(0, 2, 1).reshape(w.shape[0], -1))

    def bias(b):
        return None if b is None else b.T.reshape(-1)
    return at.Weights({"query": proj(d.wq), "key": proj(d.wk), "value": proj(d.wv), "output": d.wo},
                      {"query": bias(d.bq), "key": bias(d.bk), "value": bias(d.bv), "output": d.bo},
                      None if d.attn_k is None else d.attn_k.T.copy(),
                      None if d.attn_v is None else d.attn_v.T.copy())


def inputs(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (rng.standard_normal((N, LT, E)), rng.standard_normal((N, S, EK)), rng.standard_normal((N, S, EV)))


VARIANTS = [
    pytest.param(dict(), id="plain"),
    pytest.param(dict(biases=False), id="no_projection_bias"),
    pytest.param(dict(attn_bias=True, add_zero=True), id="attention_bias_and_zero_row"),
    pytest.param(dict(masks=True), id="key_mask_and_add_to_attention"),
    pytest.param(dict(attn_bias=True, masks=True, add_zero=True), id="everything"),
]


def variant_args(rng, v):
    key_mask = extra = None
    if v.get("masks"):
        key_mask = np.array([[False, True, False, False], [True, False, False, True]])
        extra = rng.standard_normal((LT, S))
    return dict(add_zero=v.get("add_zero", False), key_mask=key_mask, extra=extra)


# ------------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_matches_per_head_reference(variant):
    rng = np.random.default_rng(0)
    d = random_dims(rng, variant.get("biases", True), variant.get("attn_bias", False))
    xq, xk, xv = inputs(rng)
    args = variant_args(rng, variant)
    y, _ = at.forward(xq, xk, xv, weights_of(d), num_heads=H, add_zero_attn=args["add_zero"],
                      key_mask=args["key_mask"], add_to_attention=args["extra"])
    np.testing.assert_allclose(y, naive_mha(xq, xk, xv, d, **args), rtol=1e-12, atol=1e-12)


def _loss_and_grads(d, xs, args, proj, rate=0.0, seed=None):
    def run(dd, q, k, v):
        rng = np.random.default_rng(seed) if seed is not None else None
        return at.forward(q, k, v, weights_of(dd), num_heads=H, add_zero_attn=args["add_zero"],
                          key_mask=args["key_mask"], add_to_attention=args["extra"], dropout=rate, rng=rng)
    y, saved = run(d, *xs)
    grads = at.backward(proj, saved, dropout=rate)

    def loss(dd, q, k, v):
        return float(np.sum(proj * run(dd, q, k, v)[0]))
    return grads, loss


@pytest.mark.parametrize("variant", VARIANTS)
def test_backward_matches_finite_differences(variant):
    rng = np.random.default_rng(1)
    d = random_dims(rng, variant.get("biases", True), variant.get("attn_bias", False))
    xs = inputs(rng)
    args = variant_args(rng, variant)
    proj = projection(rng, (N, LT, EO))
    grads, loss = _loss_and_grads(d, xs, args, proj)
    _check_all(grads, loss, d, xs)


def test_backward_with_dropout_uses_the_forward_mask():
    rng = np.random.default_rng(2)
    d = random_dims(rng, attn_bias=True)
    xs = inputs(rng)
    args = variant_args(rng, {})
    proj = projection(rng, (N, LT, EO))
    grads, loss = _loss_and_grads(d, xs, args, proj, rate=0.3, seed=9)
    _, saved = at.forward(*xs, weights_of(d), num_heads=H, dropout=0.3, rng=np.random.default_rng(9))
    assert saved.keep is not None and 0 < saved.keep.mean() < 1
    np.testing.assert_allclose(at.forward(*xs, weights_of(d), num_heads=H, dropout=0.3,
                                          rng=np.random.default_rng(9))[0],
                               naive_mha(*xs, d, keep=saved.keep, rate=0.3), rtol=1e-12)
    _check_all(grads, loss, d, xs)


def _check_all(grads, loss, d, xs):
    q, k, v = xs
    tol = dict(rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_gradient_matches(grads["query"], lambda a: loss(d, a, k, v), q, **tol)
    assert_gradient_matches(grads["key"], lambda a: loss(d, q, a, v), k, **tol)
    assert_gradient_matches(grads["value"], lambda a: loss(d, q, k, a), v, **tol)
    for field, key in [("wq", "query.weights"), ("wk", "key.weights"), ("wv", "value.weights"),
                       ("wo", "output.weights"), ("bq", "query.bias"), ("bk", "key.bias"), ("bv", "value.bias"),
                       ("bo", "output.bias"), ("attn_k", "key_attn_bias"), ("attn_v", "value_attn_bias")]:
        value = getattr(d, field)
        if value is None:
            assert key not in grads
            continue
        analytic = _to_dims(key, grads[key], value.shape)

        def f(a, field=field):
            return loss(dataclasses.replace(d, **{field: a}), q, k, v)
        assert_gradient_matches(analytic, f, value, **tol)


def _to_dims(key, g, shape):
    """Compute-form gradient -> BNNS dimension order (as the filter converts it)."""
    if key.endswith(".weights") and not key.startswith("output"):
        return g.reshape(g.shape[0], H, -1).transpose(0, 2, 1)
    if key in ("query.bias", "key.bias", "value.bias"):
        return g.reshape(H, -1).T
    if key in ("key_attn_bias", "value_attn_bias"):
        return g.T
    return g.reshape(shape)


def test_fully_masked_query_row_is_nan_like_pytorch():
    rng = np.random.default_rng(3)
    d = random_dims(rng)
    y, _ = at.forward(*inputs(rng), weights_of(d), num_heads=H, key_mask=np.ones((N, S), bool))
    assert np.isnan(y).all()


# ------------------------------------------------------------------------------------ filter
def proj_params(target, weights, bias):
    return MHAProjectionParameters(target_desc=target, weights=weights, bias=bias)


def first_major(shape, data=None):
    layout = {1: L.LAYOUT_VECTOR, 2: L.LAYOUT_2D_FIRST_MAJOR, 3: L.LAYOUT_3D_FIRST_MAJOR}[len(shape)]
    return L.Descriptor.for_shape(layout, shape, data)


def last_major(dims, data_in_dims=None):
    """A natural-layout descriptor whose size[] is ``dims`` (its NumPy view is reversed)."""
    layout = {1: L.LAYOUT_VECTOR, 2: L.LAYOUT_2D_LAST_MAJOR, 3: L.LAYOUT_3D_LAST_MAJOR}[len(dims)]
    data = None if data_in_dims is None else np.transpose(data_in_dims)
    return L.Descriptor.for_shape(layout, tuple(reversed(dims)), data)


def make_filter(d: Dims, make=first_major, **extra):
    def desc(dims, data=None):
        if make is first_major:
            return first_major(dims, data)
        return last_major(dims, data)
    params = MultiheadAttentionParameters(
        query=proj_params(desc((LT, E)), desc(d.wq.shape, d.wq), None if d.bq is None else desc(d.bq.shape, d.bq)),
        key=proj_params(desc((S, EK)), desc(d.wk.shape, d.wk), None if d.bk is None else desc(d.bk.shape, d.bk)),
        value=proj_params(desc((S, EV)), desc(d.wv.shape, d.wv), None if d.bv is None else desc(d.bv.shape, d.bv)),
        output=proj_params(desc((LT, EO)), desc(d.wo.shape, d.wo), None if d.bo is None else desc(d.bo.shape, d.bo)),
        key_attn_bias=None if d.attn_k is None else desc(d.attn_k.shape, d.attn_k),
        value_attn_bias=None if d.attn_v is None else desc(d.attn_v.shape, d.attn_v),
        **extra)
    return at.MultiheadAttentionFilter(params)


def float32_dims(d: Dims) -> Dims:
    fields: dict[str, Any] = {f.name: None if getattr(d, f.name) is None
                              else getattr(d, f.name).astype(np.float32).astype(np.float64) for f in dataclasses.fields(Dims)}
    return Dims(**fields)


@pytest.mark.parametrize("make", [first_major, last_major], ids=["first_major", "last_major"])
def test_filter_maps_layouts_and_matches_the_kernels(make):
    rng = np.random.default_rng(4)
    d = float32_dims(random_dims(rng, attn_bias=True))
    filt = make_filter(d, make, add_zero_attn=True)
    xq, xk, xv = inputs(rng)
    view = (lambda a: a) if make is first_major else (lambda a: np.ascontiguousarray(np.swapaxes(a, 1, 2)))
    y = filt.apply(view(xq), view(xk), view(xv))
    expected, saved = at.forward(xq, xk, xv, weights_of(d), num_heads=H, add_zero_attn=True)
    np.testing.assert_allclose(y, view(expected), rtol=1e-12)
    proj = projection(rng, (N, LT, EO))
    grads = filt.apply_backward(view(proj))
    ref = at.backward(proj, saved)
    for name in ("query", "key", "value"):
        np.testing.assert_allclose(getattr(grads, name), view(ref[name]), rtol=1e-10)
    param_view = (lambda a: a) if make is first_major else np.transpose
    for field, key in [("query_weights", "query.weights"), ("key_weights", "key.weights"),
                       ("value_weights", "value.weights"), ("output_weights", "output.weights"),
                       ("query_bias", "query.bias"), ("value_bias", "value.bias"), ("output_bias", "output.bias"),
                       ("key_attn_bias", "key_attn_bias"), ("value_attn_bias", "value_attn_bias")]:
        expected_dims = _to_dims(key, ref[key], None if key != "output.bias" else (EO,))
        np.testing.assert_allclose(getattr(grads, field), param_view(expected_dims), rtol=1e-10, atol=1e-12)
        assert getattr(grads, field).shape == filt.parameters()[key].shape


def test_filter_input_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    d = float32_dims(random_dims(rng))
    filt = make_filter(d)
    xq, xk, xv = inputs(rng)
    key_mask = np.array([[0, 1, 0, 0], [0, 0, 0, 1]])
    filt.apply(xq, xk, xv, key_mask=key_mask)
    proj = projection(rng, (N, LT, EO))
    g = filt.apply_backward(proj, parameters_grad=False)
    assert g.query_weights is None and g.output_bias is None

    def loss(q, k, v):
        return float(np.sum(proj * filt.apply(q, k, v, key_mask=key_mask, training=False)))
    tol = dict(rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_gradient_matches(g.query, lambda a: loss(a, xk, xv), xq, **tol)
    assert_gradient_matches(g.key, lambda a: loss(xq, a, xv), xk, **tol)
    assert_gradient_matches(g.value, lambda a: loss(xq, xk, a), xv, **tol)


def test_filter_dropout_is_seeded_and_training_only():
    rng = np.random.default_rng(6)
    d = float32_dims(random_dims(rng))
    xs = [a.astype(np.float32) for a in inputs(rng)]
    a, b = make_filter(d, dropout=0.5, seed=3), make_filter(d, dropout=0.5, seed=3)
    np.testing.assert_array_equal(a.apply(*xs), b.apply(*xs))
    plain = make_filter(d).apply(*xs)
    np.testing.assert_allclose(a.apply(*xs, training=False), plain, rtol=1e-6)
    assert not np.allclose(a.apply(*xs), plain)


def test_weights_are_live_parameters():
    rng = np.random.default_rng(7)
    d = float32_dims(random_dims(rng))
    filt = make_filter(d)
    xs = inputs(rng)
    before = filt.apply(*xs, training=False)
    filt.parameters()["output.bias"][:] += 1.0
    np.testing.assert_allclose(filt.apply(*xs, training=False), before + 1.0, rtol=1e-6)


def test_backward_needs_a_training_forward_of_the_same_batch():
    rng = np.random.default_rng(8)
    filt = make_filter(float32_dims(random_dims(rng)))
    xs = inputs(rng)
    filt.apply(*xs, training=False)
    with pytest.raises(FailedPreconditionError, match="needs a training forward"):
        filt.apply_backward(np.ones((N, LT, EO)))
    filt.apply(*xs)
    with pytest.raises(FailedPreconditionError, match="d_out has batch size 3 .* had batch size 2"):
        filt.apply_backward(np.ones((3, LT, EO)))


def _bad(**changes):
    rng = np.random.default_rng(9)
    d = float32_dims(random_dims(rng, attn_bias=True))
    for k, v in changes.items():
        setattr(d, k, v)
    return d


ERROR_CASES = [
    pytest.param(dict(wk=np.ones((EK, DK + 1, H))), r"key.weights has size \(3, 3, 2\); expected \(3, 2, 2\)",
                 id="key_weights_d_key"),
    pytest.param(dict(wv=np.ones((EV + 1, DV, H))), r"value.weights has size \(6, 3, 2\); expected \(5, 3, 2\)",
                 id="value_weights_d_in"),
    pytest.param(dict(wo=np.ones((H * DV + 1, EO))), r"output.weights has size \(7, 5\); expected \(6, 5\)",
                 id="output_weights"),
    pytest.param(dict(bq=np.ones((DK, H + 1))), r"query.bias has size \(2, 3\); expected \(2, 2\)", id="query_bias"),
    pytest.param(dict(attn_v=None), "key_attn_bias \\(given\\) and value_attn_bias \\(absent\\)",
                 id="attention_biases_not_paired"),
    pytest.param(dict(wq=np.full((E, DK, H), np.nan)), "query.weights contains NaN", id="nan_weights"),
]


@pytest.mark.parametrize("changes, message", ERROR_CASES)
def test_invalid_parameters_raise_invalid_argument(changes, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make_filter(_bad(**changes))


def test_invalid_targets_and_apply_inputs_raise_invalid_argument():
    rng = np.random.default_rng(10)
    d = float32_dims(random_dims(rng))
    good = make_filter(d)
    p = good.params
    with pytest.raises(InvalidArgumentError, match="value.target_desc has source length 5 but key.target_desc has 4"):
        at.MultiheadAttentionFilter(dataclasses.replace(
            p, value=dataclasses.replace(p.value, target_desc=first_major((S + 1, EV)))))
    with pytest.raises(InvalidArgumentError, match="query.target_desc has rank 3"):
        at.MultiheadAttentionFilter(dataclasses.replace(
            p, query=dataclasses.replace(p.query, target_desc=first_major((LT, E, 1)))))
    with pytest.raises(InvalidArgumentError, match="dropout nan must be a finite number"):
        at.MultiheadAttentionFilter(dataclasses.replace(p, dropout=float("nan")))
    xq, xk, xv = inputs(rng)
    with pytest.raises(InvalidArgumentError, match=r"key has shape \(2, 3, 3\); expected \(N, \*\(4, 3\)\)"):
        good.apply(xq, xk[:, :3], xv)
    with pytest.raises(InvalidArgumentError, match="value has batch size 1, expected 2"):
        good.apply(xq, xk, xv[:1])
    with pytest.raises(InvalidArgumentError, match=r"key_mask has shape \(2, 3\); expected \(N, S\) = \(2, 4\)"):
        good.apply(xq, xk, xv, key_mask=np.zeros((N, 3)))
    with pytest.raises(InvalidArgumentError, match=r"add_to_attention has shape \(4, 3\); expected \(L, S\)"):
        good.apply(xq, xk, xv, add_to_attention=np.zeros((S, LT)))


@pytest.mark.parametrize("extra", [{}, {"add_zero_attn": True, "dropout": 0.4, "seed": 9}], ids=["plain", "zero_dropout"])
def test_packed_cache_gives_the_same_gradients_as_the_filter_cache(extra):
    """take_cache packs the training forward's cache into caller memory (BNNS's backprop_cache);
    backward from it equals backward from the cache the filter kept, bit for bit."""
    rng = np.random.default_rng(11)
    d = random_dims(rng, attn_bias=True)
    xs = [a.astype(np.float32) for a in inputs(rng)]
    proj = projection(rng, (N, LT, EO)).astype(np.float32)
    a, b = make_filter(d, **extra), make_filter(d, **extra)
    np.testing.assert_array_equal(a.apply(*xs), b.apply(*xs))
    kept = a.apply_backward(proj)
    cache = b.take_cache()
    assert cache.dtype == np.float32 and cache.size == b.cache_elements(N)
    assert not b.has_training_cache
    packed = b.apply_backward(proj, cache=cache)
    for name, value in kept._asdict().items():
        np.testing.assert_array_equal(getattr(packed, name), value, err_msg=name)


def test_packed_cache_of_another_batch_size_or_filter_is_refused():
    rng = np.random.default_rng(12)
    d = random_dims(rng)
    xs = [a.astype(np.float32) for a in inputs(rng)]
    filt = make_filter(d)
    filt.apply(*xs)
    cache = filt.take_cache()
    with pytest.raises(InvalidArgumentError, match="batch_size 1"):
        filt.apply_backward(np.ones((1, LT, EO), np.float32), cache=cache)
    with pytest.raises(InvalidArgumentError, match="needs"):
        filt.apply_backward(np.ones((N, LT, EO), np.float32), cache=cache[:-1])
    with pytest.raises(InvalidArgumentError, match="not written"):
        filt.apply_backward(np.ones((N, LT, EO), np.float32), cache=np.zeros_like(cache))


def test_weight_gradient_product_shared_over_cores_equals_the_plain_product():
    """matmul(a.T, b) (the transposed view handed to BLAS, rows over the kernel pool) against NumPy's a.T @ b,
    at a size the pool splits (float32, 9 MiB of operands) and a small one it does not."""
    from bnns.kernels import parallel
    rng = np.random.default_rng(11)
    for k, m, n in ((4096, 300, 256), (7, 5, 3)):
        a, b = rng.standard_normal((k, m), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        got = matmul(a.T, b)
        want = a.astype(np.float64).T @ b.astype(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    assert parallel.workers_for(300, (4096 * 556 + 300 * 256) * 4) > 1 or parallel.cpus() == 1


@pytest.mark.parametrize("length", [1, 2, 3, 7, 128, 129])
def test_row_max_by_halving_is_the_reduction(length):
    """_row_max (np.maximum over halves of the last axis) equals a.max(axis=-1, keepdims=True)
    bit for bit, NaN and fully masked (-inf) rows included."""
    rng = np.random.default_rng(12)
    a = rng.standard_normal((3, 4, length)).astype(np.float32)
    a[0, 0, -1] = np.nan
    a[1, 1, :] = -np.inf
    got = at._row_max(a)
    assert got.shape == (3, 4, 1)
    np.testing.assert_array_equal(got, a.max(axis=-1, keepdims=True))


def test_softmax_matches_the_plain_formula():
    """The in-place softmax (halving max, sum as a product with ones) against exp / sum in float64."""
    rng = np.random.default_rng(13)
    scores = (rng.standard_normal((2, 3, 5, 131)) * 30).astype(np.float32)
    shifted = scores.astype(np.float64) - scores.max(axis=-1, keepdims=True)
    want = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    got = at._softmax(scores.copy())
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-5)
