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
