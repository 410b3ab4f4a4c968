"""Dropout through the SDK on both backends (the kind's row in server/kinds.py gives it the test
matrix; this checks the C and Swift forms): a seeded training forward, and the backward through
the same mask."""

from __future__ import annotations

import numpy as np


def test_dropout_c_api_forward_and_backward_share_the_mask(bnns):
    shape = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(4, 3, 2))
    params = bnns.BNNSLayerParametersDropout(i_desc=shape, o_desc=shape, rate=0.25, seed=7)
    f = bnns.BNNSFilterCreateLayerDropout(params, None)
    assert f is not None, bnns.last_error()
    x = np.random.default_rng(0).uniform(1, 2, (5, 2, 3, 4)).astype(np.float32)
    y = np.zeros_like(x)
    assert bnns.BNNSFilterApplyBatch(f, 5, x, 24, y, 24) == 0, bnns.last_error()
    keep = np.random.default_rng(7).random(x.shape) >= 0.25        # the documented mask rule
    np.testing.assert_allclose(y, x * keep / 0.75, rtol=1e-6)
    dy, dx = np.ones_like(x), np.zeros_like(x)
    rc = bnns.BNNSFilterApplyBackwardBatch(f, 5, x, 24, bnns.BNNSNDArrayDescriptor(
        layout=shape.layout, size=shape.size, data=dx), 24, y, 24, bnns.BNNSNDArrayDescriptor(
        layout=shape.layout, size=shape.size, data=dy), 24, None, None)
    assert rc == 0, bnns.last_error()
    np.testing.assert_allclose(dx, keep / 0.75, rtol=1e-6)
    bnns.BNNSFilterDestroy(f)


def test_swift_dropout_layer_drops_whole_channels(bnns):
    BNNS = bnns.BNNS
    desc = bnns.BNNSNDArrayDescriptor
    x = np.ones((3, 4, 2, 2), np.float32)
    y = np.zeros_like(x)
    with BNNS.DropoutLayer(desc(layout=bnns.BNNSDataLayoutImageCHW, size=(2, 2, 4)),
                           desc(layout=bnns.BNNSDataLayoutImageCHW, size=(2, 2, 4)), 0.5, 3, 0b011) as layer:
        layer.apply(3, desc(layout=bnns.BNNSDataLayoutImageCHW, size=(2, 2, 4), data=x),
                    desc(layout=bnns.BNNSDataLayoutImageCHW, size=(2, 2, 4), data=y))
    per_channel = y.reshape(3, 4, 4)
    assert np.all((per_channel == 0) | (per_channel == 2))
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))   # control 0b011: W and H share one draw


# ------------------------------------------------------- issue 12 item 1, end to end (part C)

def _dropout(bnns, rate, seed):
    shape = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(4, 3, 2))
    f = bnns.BNNSFilterCreateLayerDropout(bnns.BNNSLayerParametersDropout(i_desc=shape, o_desc=shape, rate=rate,
                                                                          seed=seed), None)
    assert f is not None, bnns.last_error()
    return f, shape


def _masks(bnns, f, x, steps):
    outputs = []
    for _ in range(steps):
        y = np.zeros_like(x)
        assert bnns.BNNSFilterApplyBatch(f, x.shape[0], x, 24, y, 24) == 0, bnns.last_error()
        outputs.append(y)
    return outputs


def test_dropout_at_rate_zero_is_the_identity_both_ways(bnns):
    # BNNS's dropout filter has no inference switch (every BNNSFilterApplyBatch drops): inference is
    # the identity, which is what a rate-0 filter computes, bit for bit, and its gradient passes dy through.
    f, shape = _dropout(bnns, 0.0, 3)
    x = np.random.default_rng(1).standard_normal((3, 2, 3, 4)).astype(np.float32)
    (y,) = _masks(bnns, f, x, 1)
    assert y.tobytes() == x.tobytes()
    dy, dx = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32), np.zeros_like(x)
    grad = bnns.BNNSNDArrayDescriptor(layout=shape.layout, size=shape.size, data=dx)
    assert bnns.BNNSFilterApplyBackwardBatch(f, 3, x, 24, grad, 24, y, 24, bnns.BNNSNDArrayDescriptor(
        layout=shape.layout, size=shape.size, data=dy), 24, None, None) == 0, bnns.last_error()
    assert dx.tobytes() == dy.tobytes()
    bnns.BNNSFilterDestroy(f)


def test_dropout_masks_are_the_same_in_process_and_on_the_server(grpc_server):
    import bnns.client as sdk
    x = np.random.default_rng(3).uniform(1, 2, (4, 2, 3, 4)).astype(np.float32)
    runs = []
    try:
        for target in ("local", grpc_server.grpc_target):
            sdk.connect(target)
            f, _ = _dropout(sdk, 0.4, 99)
            runs.append(_masks(sdk, f, x, 3))
            sdk.BNNSFilterDestroy(f)
    finally:
        sdk.connect("local")
    for local, remote in zip(*runs):
        assert local.tobytes() == remote.tobytes()
    assert not np.array_equal(runs[0][0], runs[0][1])              # each forward draws a new mask


def test_dropout_mask_stream_continues_after_a_restart(tmp_path):
    import signal
    import bnns.client as sdk
    from .test_durability import Durable
    x = np.ones((2, 2, 3, 4), np.float32)
    sdk.connect("local")
    f, _ = _dropout(sdk, 0.5, 1234)
    uninterrupted = _masks(sdk, f, x, 3)
    server = Durable(tmp_path)
    try:
        sdk.connect(server.target)
        f, _ = _dropout(sdk, 0.5, 1234)
        served = _masks(sdk, f, x, 2)
        server.restart(signal.SIGKILL)
        served += _masks(sdk, f, x, 1)
    finally:
        sdk.connect("local")
        server.stop()
    for expected, got in zip(uninterrupted, served):
        assert expected.tobytes() == got.tobytes()
