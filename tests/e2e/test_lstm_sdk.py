"""LSTM training through the SDK on both backends: BNNSComputeLSTMTrainingCacheCapacity,
BNNSDirectApplyLSTMBatchTrainingCaching and BNNSDirectApplyLSTMBatchBackward, stacked and
bidirectional, against the scalar-loop float64 reference of tests/kernels/test_lstm.py (forward)
and central differences of it (every gradient: x, h0, c0 and each gate's weights), the cache in
caller bytes or a server tensor, errors, and local == remote bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import bnns.client as sdk
from typing import Any
from bnns.kernels import lstm as ls
from tests.kernels.test_lstm import B, T, Config, naive, random_weights

CONFIGS = [pytest.param(Config(2, 2, 2, False, peephole=True), id="two_layers_peepholes"),
           pytest.param(Config(3, 2, 2, True, upper=True), id="bidirectional_two_layers_upper_weights")]
PARTS = ("iw", "iw_upper", "hw", "cw", "b")


def flat(bnns, data=None, count=None):
    """A Vector descriptor over ``data`` (the kernel reads a hierarchy's elements in order)."""
    count = int(np.size(data)) if count is None else count
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(count,), data=data)


def params(bnns, cfg, w, x=None, h0=None, c0=None, out=None, hn=None, cn=None, dropout=0.0):
    """BNNSLayerParametersLSTM over the arrays given (a delta struct reuses it with gradient arrays)."""
    state = cfg.layers * cfg.dirs * B * cfg.hidden
    gates = {}
    for gate in ls.GATES:
        def d(part):
            a = w.get(f"{gate}.{part}")
            return None if a is None else flat(bnns, a)
        gates[gate] = bnns.BNNSLSTMGateDescriptor(iw_desc=(d("iw"), d("iw_upper")), hw_desc=d("hw"), cw_desc=d("cw"),
                                                  b_desc=d("b"))
    return bnns.BNNSLayerParametersLSTM(
        input_size=cfg.input_size, hidden_size=cfg.hidden, batch_size=B, num_layers=cfg.layers, seq_len=T,
        dropout=dropout, lstm_flags=bnns.BNNSLayerFlagsLSTMBidirectional if cfg.bidirectional else 0,
        input_descriptor=bnns.BNNSLSTMDataDescriptor(flat(bnns, x, T * B * cfg.input_size), flat(bnns, h0, state),
                                                     flat(bnns, c0, state)),
        output_descriptor=bnns.BNNSLSTMDataDescriptor(flat(bnns, out, T * B * cfg.dirs * cfg.hidden),
                                                      flat(bnns, hn, state), flat(bnns, cn, state)), **gates)


def inputs(cfg, rng):
    x = rng.standard_normal((T, B, cfg.input_size)).astype(np.float32)
    shape = (cfg.layers, cfg.dirs, B, cfg.hidden)
    return x, (rng.standard_normal(shape) * 0.5).astype(np.float32), (rng.standard_normal(shape) * 0.5).astype(np.float32)


def forward(bnns, cfg, w, x, h0, c0, cache=None, capacity=0, seed=0, dropout=0.0):
    out = np.zeros((T, B, cfg.dirs, cfg.hidden), np.float32)
    hn, cn = np.zeros_like(h0), np.zeros_like(c0)
    p = params(bnns, cfg, w, x, h0, c0, out, hn, cn, dropout)
    assert bnns.BNNSDirectApplyLSTMBatchTrainingCaching(p, None, cache, capacity, seed=seed) == 0, bnns.last_error()
    return p, out, hn, cn


def backward(bnns, cfg, p, w, cache, capacity, dy, dhn, dcn):
    grads = {k: np.full_like(v, 5) for k, v in w.items()}                  # overwritten, not added to
    dx = np.zeros((T, B, cfg.input_size), np.float32)
    dh0, dc0 = np.zeros_like(dhn), np.zeros_like(dcn)
    delta = params(bnns, cfg, grads, dx, dh0, dc0, dy, dhn, dcn)
    assert bnns.BNNSDirectApplyLSTMBatchBackward(p, delta, None, cache, capacity) == 0, bnns.last_error()
    return dx, dh0, dc0, grads


def numeric(fun, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros(a.shape)
    for i in np.ndindex(a.shape):
        up, down = a.astype(np.float64), a.astype(np.float64)
        up[i] += eps
        down[i] -= eps
        g[i] = (fun(up) - fun(down)) / (2 * eps)
    return g


@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_and_every_gradient_against_the_float64_reference(bnns, cfg):
    rng = np.random.default_rng(0)
    w = random_weights(rng, cfg)
    x, h0, c0 = inputs(cfg, rng)
    capacity = bnns.BNNSComputeLSTMTrainingCacheCapacity(params(bnns, cfg, w), None)
    assert capacity > 0, bnns.last_error()
    cache = np.zeros(capacity, np.uint8)
    p, out, hn, cn = forward(bnns, cfg, w, x, h0, c0, cache, capacity)
    ref = naive(cfg, w, x.astype(np.float64), h0.astype(np.float64), c0.astype(np.float64))
    for got, want in zip((out, hn, cn), ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    dy = rng.standard_normal(out.shape).astype(np.float32)
    dhn, dcn = rng.standard_normal(hn.shape).astype(np.float32), rng.standard_normal(cn.shape).astype(np.float32)
    dx, dh0, dc0, grads = backward(bnns, cfg, p, w, cache, capacity, dy, dhn, dcn)

    def loss(ww=w, xx=x, hh=h0, cc=c0):      # all in float64 (a float32 state would round the reference)
        o, h, c = naive(cfg, ww, *(np.asarray(a, np.float64) for a in (xx, hh, cc)))
        return float(np.sum(dy * o) + np.sum(dhn * h) + np.sum(dcn * c))
    tol: dict[str, Any] = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx, numeric(lambda a: loss(xx=a), x), **tol, err_msg="x")
    np.testing.assert_allclose(dh0, numeric(lambda a: loss(hh=a), h0), **tol, err_msg="h0")
    np.testing.assert_allclose(dc0, numeric(lambda a: loss(cc=a), c0), **tol, err_msg="c0")
    for name in w:
        np.testing.assert_allclose(grads[name], numeric(lambda a: loss(ww={**w, name: a}), w[name]), **tol,
                                   err_msg=name)


def test_cache_in_a_server_tensor_and_accumulating_deltas(bnns):
    cfg = Config(4, 2, 3, True, dropout=0.0)
    rng = np.random.default_rng(1)
    w = random_weights(rng, cfg)
    x, h0, c0 = inputs(cfg, rng)
    capacity = bnns.BNNSComputeLSTMTrainingCacheCapacity(params(bnns, cfg, w, dropout=0.3), None)
    local = np.zeros(capacity, np.uint8)
    dy = rng.standard_normal((T, B, cfg.dirs, cfg.hidden)).astype(np.float32)
    zeros = np.zeros_like(h0)
    with bnns.BNNSTensor.empty((capacity // 4,)) as resident:
        p1, out1, _, _ = forward(bnns, cfg, w, x, h0, c0, local, capacity, seed=9, dropout=0.3)
        p2, out2, _, _ = forward(bnns, cfg, w, x, h0, c0, resident, capacity, seed=9, dropout=0.3)
        np.testing.assert_array_equal(out1, out2)                           # the same seeded dropout masks
        np.testing.assert_array_equal(resident.numpy().view(np.uint8), local)
        g1 = backward(bnns, cfg, p1, w, local, capacity, dy, zeros, zeros)
        g2 = backward(bnns, cfg, p2, w, resident, capacity, dy, zeros, zeros)
    for a, b in zip(g1[:3], g2[:3]):
        np.testing.assert_array_equal(a, b)
    for name in w:
        np.testing.assert_array_equal(g1[3][name], g2[3][name])
    # BackpropAccumulate on a delta descriptor adds into it.
    into = np.ones((T, B, cfg.input_size), np.float32)
    delta = params(bnns, cfg, {}, into, None, None, dy)
    delta.input_descriptor.data_desc.flags = bnns.BNNSNDArrayFlagBackpropAccumulate
    assert bnns.BNNSDirectApplyLSTMBatchBackward(p1, delta, None, local, capacity) == 0, bnns.last_error()
    np.testing.assert_allclose(into, g1[0] + 1, rtol=1e-6)


def test_errors_are_refused_and_write_nothing(bnns):
    cfg = Config(3, 2, 1, False)
    rng = np.random.default_rng(2)
    w = random_weights(rng, cfg)
    x, h0, c0 = inputs(cfg, rng)
    capacity = bnns.BNNSComputeLSTMTrainingCacheCapacity(params(bnns, cfg, w), None)
    out = np.full((T, B, 1, cfg.hidden), 7, np.float32)
    p = params(bnns, cfg, w, x, h0, c0, out)
    cache = np.zeros(capacity, np.uint8)
    assert bnns.BNNSDirectApplyLSTMBatchTrainingCaching(p, None, cache, capacity - 4) == -1
    assert bnns.last_error().status == "INVALID_ARGUMENT" and "training_cache_capacity" in str(bnns.last_error())
    assert np.all(out == 7) and not cache.any()
    assert bnns.BNNSDirectApplyLSTMBatchTrainingCaching(params(bnns, cfg, w, None, h0, c0, out), None) == -1
    assert "x is required" in str(bnns.last_error())
    bad = params(bnns, cfg, {**w, "input_gate.hw": w["input_gate.hw"][..., :1].copy()})
    assert bnns.BNNSComputeLSTMTrainingCacheCapacity(bad, None) == 0
    assert "input_gate.hw" in str(bnns.last_error())
    dx = np.full((T, B, cfg.input_size), 3, np.float32)
    delta = params(bnns, cfg, {}, dx, None, None, np.ones_like(out))
    assert bnns.BNNSDirectApplyLSTMBatchBackward(p, delta, None, cache, capacity) == -1   # never written
    assert "not written" in str(bnns.last_error()) and np.all(dx == 3)


def test_in_process_equals_remote_bit_for_bit(grpc_server):
    cfg = Config(4, 2, 3, True, dropout=0.0)
    results = []
    for target in ("local", grpc_server.grpc_target):
        sdk.connect(target)
        try:
            rng = np.random.default_rng(3)
            w = random_weights(rng, cfg)
            x, h0, c0 = inputs(cfg, rng)
            capacity = sdk.BNNSComputeLSTMTrainingCacheCapacity(params(sdk, cfg, w, dropout=0.4), None)
            cache = np.zeros(capacity, np.uint8)
            p, out, hn, cn = forward(sdk, cfg, w, x, h0, c0, cache, capacity, seed=4, dropout=0.4)
            dy = rng.standard_normal(out.shape).astype(np.float32)
            dx, dh0, dc0, grads = backward(sdk, cfg, p, w, cache, capacity, dy, hn, cn)
            results.append([out, hn, cn, cache, dx, dh0, dc0] + [grads[k] for k in sorted(grads)])
        finally:
            sdk.connect("local")
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
