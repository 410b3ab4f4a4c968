"""Multi-head attention through the SDK on both backends (the kind's row in server/kinds.py gives
it the test matrix; this checks the C and Swift forms): forward against a float64 per-head
reference, every gradient (inputs, projection weights and biases, attention biases) against
central differences of that reference, deltas sharing an array summed, the backprop cache as
caller bytes or a server tensor, the size query, errors, and local == remote bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import bnns.client as sdk
from typing import Any
from bnns.kernels.errors import BNNSError

L, E, H, DK, EO = 3, 4, 2, 2, 4          # self-attention: S = L, key/value inputs of E features
N = 2


def _weights(rng) -> dict:
    return {"query.weights": rng.normal(0, 0.5, (E, DK, H)), "query.bias": rng.normal(0, 0.2, (DK, H)),
            "key.weights": rng.normal(0, 0.5, (E, DK, H)), "key.bias": rng.normal(0, 0.2, (DK, H)),
            "value.weights": rng.normal(0, 0.5, (E, DK, H)), "value.bias": rng.normal(0, 0.2, (DK, H)),
            "output.weights": rng.normal(0, 0.5, (H * DK, EO)), "output.bias": rng.normal(0, 0.2, (EO,)),
            "key_attn_bias": rng.normal(0, 0.3, (DK, H)), "value_attn_bias": rng.normal(0, 0.3, (DK, H))}


def reference(w: dict, xq, xk, xv, key_mask=None, extra=None) -> np.ndarray:
    """float64, per sample and head, with the attention-bias rows appended to K' and V'."""
    out = np.zeros((xq.shape[0], L, EO))
    for n in range(xq.shape[0]):
        heads = []
        for h in range(H):
            q = xq[n] @ w["query.weights"][:, :, h] + w["query.bias"][:, h]
            k = np.vstack([xk[n] @ w["key.weights"][:, :, h] + w["key.bias"][:, h], w["key_attn_bias"][:, h]])
            v = np.vstack([xv[n] @ w["value.weights"][:, :, h] + w["value.bias"][:, h], w["value_attn_bias"][:, h]])
            s = q @ k.T / np.sqrt(DK)
            if extra is not None:
                s[:, :L] += extra
            if key_mask is not None:
                s[:, :L][:, key_mask[n] != 0] = -np.inf
            p = np.exp(s - s.max(axis=1, keepdims=True))
            heads.append((p / p.sum(axis=1, keepdims=True)) @ v)
        out[n] = np.hstack(heads) @ w["output.weights"] + w["output.bias"]
    return out


def first_major(shape, data=None):
    layouts = {1: sdk.BNNSDataLayoutVector, 2: sdk.BNNSDataLayout2DFirstMajor, 3: sdk.BNNSDataLayout3DFirstMajor}
    return sdk.BNNSNDArrayDescriptor(layout=layouts[len(shape)], size=tuple(shape), data=data)


def make(bnns, w: dict, filter_params=None, dropout=0.0, seed=0):
    arrays = {name: np.ascontiguousarray(a, np.float32) for name, a in w.items()}

    def projection(name, target):
        return bnns.BNNSMHAProjectionParameters(target_desc=first_major(target),
                                                weights=first_major(arrays[f"{name}.weights"].shape, arrays[f"{name}.weights"]),
                                                bias=first_major(arrays[f"{name}.bias"].shape, arrays[f"{name}.bias"]))
    params = bnns.BNNSLayerParametersMultiheadAttention(
        query=projection("query", (L, E)), key=projection("key", (L, E)), value=projection("value", (L, E)),
        output=projection("output", (L, EO)), key_attn_bias=first_major((DK, H), arrays["key_attn_bias"]),
        value_attn_bias=first_major((DK, H), arrays["value_attn_bias"]), dropout=dropout, seed=seed)
    f = bnns.BNNSFilterCreateLayerMultiheadAttention(params, filter_params)
    assert f is not None, bnns.last_error()
    return f, arrays


def forward(bnns, f, x, key_mask=None, extra=None, cache=None):
    y = np.zeros((x.shape[0], L, EO), np.float32)
    rc = bnns.BNNSApplyMultiheadAttention(f, x.shape[0], x, 0, x, 0, key_mask, 0, x, 0, y, 0, extra, None, cache)
    assert rc == 0, bnns.last_error()
    return y


def delta(bnns, target_shape, data, w_shape=None, w=None, b_shape=None, b=None):
    return bnns.BNNSMHAProjectionParameters(
        target_desc=first_major(target_shape, data), weights=None if w is None else first_major(w_shape, w),
        bias=None if b is None else first_major(b_shape, b))


def backward(bnns, f, cache, dy, shared: bool):
    """All gradients; the three input deltas into one array (shared) or three."""
    n = dy.shape[0]
    grads = {name: np.zeros(shape, np.float32) for name, shape in (
        ("query.weights", (E, DK, H)), ("query.bias", (DK, H)), ("key.weights", (E, DK, H)), ("key.bias", (DK, H)),
        ("value.weights", (E, DK, H)), ("value.bias", (DK, H)), ("output.weights", (H * DK, EO)),
        ("output.bias", (EO,)), ("key_attn_bias", (DK, H)), ("value_attn_bias", (DK, H)))}
    dx = [np.zeros((n, L, E), np.float32)] if shared else [np.zeros((n, L, E), np.float32) for _ in range(3)]
    dq, dk, dv = (dx[0], dx[0], dx[0]) if shared else dx

    def proj(name, data):
        return delta(bnns, (L, E), data, (E, DK, H), grads[f"{name}.weights"], (DK, H), grads[f"{name}.bias"])
    out = delta(bnns, (L, EO), dy, (H * DK, EO), grads["output.weights"], (EO,), grads["output.bias"])
    rc = bnns.BNNSApplyMultiheadAttentionBackward(
        f, n, None, 0, proj("query", dq), None, 0, None, 0, proj("key", dk), None, 0, proj("value", dv), None,
        first_major((DK, H), grads["key_attn_bias"]), first_major((DK, H), grads["value_attn_bias"]), None, 0, out,
        0, cache)
    assert rc == 0, bnns.last_error()
    return dx, grads


def numeric_gradient(fun, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (fun(up) - fun(down)) / (2 * eps)
    return g


def test_c_api_forward_and_every_gradient_against_the_float64_reference(bnns):
    rng = np.random.default_rng(0)
    w = _weights(rng)
    f, arrays = make(bnns, w)
    w32 = {name: a.astype(np.float64) for name, a in arrays.items()}
    x = rng.normal(0, 1, (N, L, E)).astype(np.float32)
    key_mask = np.array([[0, 0, 1], [0, 0, 0]], np.float32)
    extra = rng.normal(0, 0.5, (L, L)).astype(np.float32)
    size = [0]
    assert bnns.BNNSApplyMultiheadAttention(f, N, None, 0, None, 0, None, 0, None, 0, None, 0, None, size) == 0
    cache = np.zeros(size[0], np.uint8)
    y = forward(bnns, f, x, key_mask, extra, cache)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, reference(w32, x64, x64, x64, key_mask, extra), rtol=1e-5, atol=1e-5)

    dy = rng.normal(0, 1, (N, L, EO)).astype(np.float32)
    (dx,), grads = backward(bnns, f, cache, dy, shared=True)

    def loss(**changed):
        ws = dict(w32, **{k: v for k, v in changed.items() if k in w32})
        xx = changed.get("x", x64)
        return float(np.sum(dy * reference(ws, xx, xx, xx, key_mask, extra)))
    tol: dict[str, Any] = dict(rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(dx, numeric_gradient(lambda a: loss(x=a), x64), **tol, err_msg="input (shared)")
    for name in w32:
        np.testing.assert_allclose(grads[name], numeric_gradient(lambda a: loss(**{name: a}), w32[name]), **tol,
                                   err_msg=name)
    bnns.BNNSFilterDestroy(f)


def test_deltas_sharing_one_array_are_summed(bnns):
    rng = np.random.default_rng(1)
    f, _ = make(bnns, _weights(rng))
    x = rng.normal(0, 1, (N, L, E)).astype(np.float32)
    dy = rng.normal(0, 1, (N, L, EO)).astype(np.float32)
    size = [0]
    assert bnns.BNNSApplyMultiheadAttention(f, N, None, 0, None, 0, None, 0, None, 0, None, 0, None, size) == 0
    cache = np.zeros(size[0] // 4, np.float32)
    forward(bnns, f, x, cache=cache)
    (shared,), g1 = backward(bnns, f, cache, dy, shared=True)
    separate, g2 = backward(bnns, f, cache, dy, shared=False)      # the cache is read-only: reusable
    np.testing.assert_allclose(shared, separate[0] + separate[1] + separate[2], rtol=1e-5, atol=1e-6)
    for name in g1:
        np.testing.assert_array_equal(g1[name], g2[name])
    assert not np.allclose(separate[0], separate[1])


def test_cache_in_a_server_tensor_equals_the_cache_in_caller_bytes(bnns):
    rng = np.random.default_rng(2)
    w = _weights(rng)
    x = rng.normal(0, 1, (N, L, E)).astype(np.float32)
    dy = rng.normal(0, 1, (N, L, EO)).astype(np.float32)
    f, _ = make(bnns, w, dropout=0.3, seed=5)
    g, _ = make(bnns, w, dropout=0.3, seed=5)
    layer_size = [0]
    assert bnns.BNNSApplyMultiheadAttention(f, N, None, 0, None, 0, None, 0, None, 0, None, 0, None, layer_size) == 0
    local_cache = np.zeros(layer_size[0], np.uint8)
    with bnns.BNNSTensor.empty((layer_size[0] // 4,)) as resident:
        y1 = forward(bnns, f, x, cache=local_cache)
        y2 = forward(bnns, g, x, cache=resident)
        np.testing.assert_array_equal(y1, y2)                        # same seed, same dropout mask
        np.testing.assert_array_equal(resident.numpy().view(np.uint8), local_cache)
        d1, g1 = backward(bnns, f, local_cache, dy, shared=True)
        d2, g2 = backward(bnns, g, resident, dy, shared=True)
    np.testing.assert_array_equal(d1[0], d2[0])
    for name in g1:
        np.testing.assert_array_equal(g1[name], g2[name])
    y_inference = forward(bnns, f, x)                                 # no cache: inference, no dropout
    assert not np.allclose(y_inference, y1)


def test_size_query_reports_the_cache_and_no_workspace(bnns):
    rng = np.random.default_rng(3)
    f, _ = make(bnns, _weights(rng))
    cache, work = np.zeros(1, np.uint64), [7]
    assert bnns.BNNSApplyMultiheadAttention(f, 5, None, 0, None, 0, None, 0, None, 0, None, 0, None, cache, None,
                                            work) == 0
    ext = L + 1                                                    # the key/value attention-bias row
    per_sample = L * E * 3 + H * L * DK + 2 * H * ext * DK + H * L * ext + L * H * DK
    weights = 3 * E * H * DK + H * DK * EO
    assert int(cache[0]) == 4 * (4 + 5 * per_sample + weights) and work[0] == 0


def test_errors_are_refused_and_change_nothing(bnns):
    rng = np.random.default_rng(4)
    f, _ = make(bnns, _weights(rng))
    x = rng.normal(0, 1, (N, L, E)).astype(np.float32)
    size = [0]
    bnns.BNNSApplyMultiheadAttention(f, N, None, 0, None, 0, None, 0, None, 0, None, 0, None, size)
    cache = np.zeros(size[0], np.uint8)
    forward(bnns, f, x, cache=cache)
    before = cache.copy()
    y = np.full((N, L, EO), 7, np.float32)
    assert bnns.BNNSApplyMultiheadAttention(f, N, x, 0, x, 0, None, 0, x, 0, y, 0, np.zeros(5, np.float32)) == -1
    assert bnns.last_error().status == "INVALID_ARGUMENT" and "add_to_attention" in str(bnns.last_error())
    assert np.all(y == 7)
    dy = np.ones((1, L, EO), np.float32)
    dx = np.full((1, L, E), 3, np.float32)
    rc = bnns.BNNSApplyMultiheadAttentionBackward(
        f, 1, None, 0, delta(bnns, (L, E), dx), None, 0, None, 0, None, None, 0, None, None, None, None, None, 0,
        delta(bnns, (L, EO), dy), 0, cache)
    assert rc == -1 and bnns.last_error().status == "INVALID_ARGUMENT"
    assert "batch_size 1" in str(bnns.last_error()) and np.all(dx == 3)
    np.testing.assert_array_equal(cache, before)
    bad = bnns.BNNSLayerParametersMultiheadAttention(
        query=bnns.BNNSMHAProjectionParameters(first_major((L, E)), first_major((E, DK, H), np.zeros((E, DK, H), np.float32))),
        key=bnns.BNNSMHAProjectionParameters(first_major((L, E)), first_major((E, DK, 3), np.zeros((E, DK, 3), np.float32))),
        value=bnns.BNNSMHAProjectionParameters(first_major((L, E)), first_major((E, DK, H), np.zeros((E, DK, H), np.float32))),
        output=bnns.BNNSMHAProjectionParameters(first_major((L, EO)), first_major((H * DK, EO), np.zeros((H * DK, EO), np.float32))))
    assert bnns.BNNSFilterCreateLayerMultiheadAttention(bad, None) is None
    assert "key.weights" in str(bnns.last_error())


def test_swift_layer_and_bound_weights_stepped_on_the_server(bnns):
    """BNNS.MultiheadAttentionLayer with Swift's labels; with BNNSFlagsUseClientPtr the caller's
    weights are bound, so an Adam step on the gradients changes what the filter computes."""
    rng = np.random.default_rng(5)
    w = _weights(rng)
    arrays = {name: np.ascontiguousarray(a, np.float32) for name, a in w.items()}

    def projection(name, target):
        return bnns.BNNSMHAProjectionParameters(target_desc=first_major(target),
                                                weights=first_major(arrays[f"{name}.weights"].shape, arrays[f"{name}.weights"]),
                                                bias=first_major(arrays[f"{name}.bias"].shape, arrays[f"{name}.bias"]))
    bound = bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr)
    layer = bnns.BNNS.MultiheadAttentionLayer(
        query=projection("query", (L, E)), key=projection("key", (L, E)), value=projection("value", (L, E)),
        output=projection("output", (L, EO)), add_zero_attention=False,
        key_attention_bias=first_major((DK, H), arrays["key_attn_bias"]),
        value_attention_bias=first_major((DK, H), arrays["value_attn_bias"]), filter_parameters=bound)
    x = rng.normal(0, 1, (N, L, E)).astype(np.float32)
    y = np.zeros((N, L, EO), np.float32)
    cache = np.zeros(layer.backprop_cache_size(N), np.uint8)
    layer.apply(N, x, x, x, y, backprop_cache=cache)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, reference({k: v.astype(np.float64) for k, v in arrays.items()}, x64, x64, x64),
                               rtol=1e-5, atol=1e-5)
    dx = np.zeros_like(x)
    gw = np.zeros_like(arrays["query.weights"])
    layer.apply_backward(N, np.ones_like(y), cache, dx, dx, dx, {"query.weights": gw})
    assert np.abs(gw).sum() > 0 and np.abs(dx).sum() > 0
    before = arrays["query.weights"].copy()
    adam = bnns.BNNS.AdamOptimizer(learning_rate=0.1, time_step=1)
    adam.step(parameters=[first_major(gw.shape, arrays["query.weights"])], gradients=[first_major(gw.shape, gw)],
              accumulators=[first_major(gw.shape, np.zeros_like(gw)), first_major(gw.shape, np.zeros_like(gw))])
    assert not np.allclose(arrays["query.weights"], before)
    y2 = np.zeros_like(y)
    layer.apply(N, x, x, x, y2)
    np.testing.assert_allclose(y2, reference({k: v.astype(np.float64) for k, v in arrays.items()}, x64, x64, x64),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(BNNSError, match="unknown names"):
        layer.apply_backward(N, np.ones_like(y), cache, None, None, None, {"query.weight": gw})
    layer.close()


def test_in_process_equals_remote_bit_for_bit(grpc_server):
    results = []
    for target in ("local", grpc_server.grpc_target):
        sdk.connect(target)
        try:
            rng = np.random.default_rng(6)
            f, _ = make(sdk, _weights(rng), dropout=0.2, seed=11)
            x = rng.normal(0, 1, (N, L, E)).astype(np.float32)
            size = [0]
            sdk.BNNSApplyMultiheadAttention(f, N, None, 0, None, 0, None, 0, None, 0, None, 0, None, size)
            cache = np.zeros(size[0], np.uint8)
            y = forward(sdk, f, x, np.array([[1, 0, 0], [0, 0, 0]], np.float32), None, cache)
            dx, grads = backward(sdk, f, cache, np.ones_like(y), shared=False)
            results.append((y, cache, dx, grads))
            sdk.BNNSFilterDestroy(f)
        finally:
            sdk.connect("local")
    (y1, c1, d1, g1), (y2, c2, d2, g2) = results
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(c1, c2)
    for a, b in zip(d1, d2):
        np.testing.assert_array_equal(a, b)
    for name in g1:
        np.testing.assert_array_equal(g1[name], g2[name])


def test_swift_initializer_takes_positional_order_and_labels(bnns):
    """BNNS.MultiheadAttentionLayer(query:key:value:output:addZeroAttention:keyAttentionBias:
    valueAttentionBias:dropout:seed:filterParameters:), positionally in that order or by label."""
    rng = np.random.default_rng(8)
    arrays = {k: np.ascontiguousarray(v, np.float32) for k, v in _weights(rng).items()}

    def projections():
        return [bnns.BNNSMHAProjectionParameters(first_major(target), first_major(arrays[f"{name}.weights"].shape,
                                                                                  arrays[f"{name}.weights"]))
                for name, target in (("query", (L, E)), ("key", (L, E)), ("value", (L, E)), ("output", (L, EO)))]
    x = rng.normal(0, 1, (N, L, E)).astype(np.float32)
    outputs = []
    for layer in (bnns.BNNS.MultiheadAttentionLayer(*projections(), True, None, None, 0.0, 0, None),
                  bnns.BNNS.MultiheadAttentionLayer(*projections()[:3], output=projections()[3], add_zero_attention=True,
                                                    key_attention_bias=None, value_attention_bias=None, dropout=0.0,
                                                    seed=0, filter_parameters=None)):
        y = np.zeros((N, L, EO), np.float32)
        layer.apply(N, x, x, x, y, key_mask=np.ones((N, L), np.float32))   # every key masked: the zero row remains
        layer.close()
        outputs.append(y)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_allclose(outputs[0], 0.0, atol=1e-7)     # attention to the zero row only: no bias, 0


def test_an_attention_too_big_to_run_is_refused_at_create_and_at_call(grpc_server):
    """Sequence lengths whose score matrices alone exceed the server's max_call_bytes: refused
    before anything is allocated (the weights are tiny, the L x S scores are not)."""
    sdk.connect(grpc_server.grpc_target)
    try:
        _too_big(sdk)
    finally:
        sdk.connect("local")


def _too_big(bnns):
    long = 1 << 17
    w = np.zeros((E, DK, H), np.float32)
    params = bnns.BNNSLayerParametersMultiheadAttention(
        query=bnns.BNNSMHAProjectionParameters(first_major((long, E)), first_major((E, DK, H), w)),
        key=bnns.BNNSMHAProjectionParameters(first_major((long, E)), first_major((E, DK, H), w)),
        value=bnns.BNNSMHAProjectionParameters(first_major((long, E)), first_major((E, DK, H), w)),
        output=bnns.BNNSMHAProjectionParameters(first_major((long, EO)), first_major((H * DK, EO),
                                                                                     np.zeros((H * DK, EO), np.float32))))
    assert bnns.BNNSFilterCreateLayerMultiheadAttention(params, None) is None
    assert bnns.last_error().status == "RESOURCE_EXHAUSTED"
    rng = np.random.default_rng(9)
    f, _ = make(bnns, _weights(rng))
    size = [0]
    assert bnns.BNNSApplyMultiheadAttention(f, 1 << 40, None, 0, None, 0, None, 0, None, 0, None, 0, None, size) == -1
    assert bnns.last_error().status in ("RESOURCE_EXHAUSTED", "INVALID_ARGUMENT") and size == [0]
