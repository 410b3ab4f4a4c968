"""The server's BLAS threads sleep soon after a call (issue 9): OpenBLAS's default keeps them
spinning for about 0.1 s after every threaded call, which took a core from a same-host client."""

from __future__ import annotations

import time

import numpy as np

from bnns.server.process import ServerProcess


def test_an_idle_server_does_not_burn_a_core_after_a_threaded_gemm():
    """A 16 MiB 1x1 convolution is one GEMM large enough for OpenBLAS to thread; half a second of
    idleness after it costs the server (nearly) no CPU. With OpenBLAS's default timeout it cost
    70-100 ms on a 2-core machine."""
    import bnns.client as bnns
    server = ServerProcess()
    try:
        bnns.connect(server.grpc_target)
        side = 2048
        params = bnns.BNNSLayerParametersConvolution(
            i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(side, side, 1)),
            o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(side, side, 1)),
            w_desc=bnns.BNNSNDArrayDescriptor.from_array(np.full((1, 1, 1, 1), 2.0, np.float32),
                                                         bnns.BNNSDataLayoutConvolutionWeightsOIHW))
        f = bnns.BNNSFilterCreateLayerConvolution(params, None)
        assert f is not None, bnns.last_error()
        x = np.random.default_rng(0).standard_normal((1, 1, side, side)).astype(np.float32)
        y = np.zeros_like(x)
        idle = []
        for _ in range(3):
            assert bnns.BNNSFilterApplyBatch(f, 1, x, 0, y, 0) == 0, bnns.last_error()
            before = server.cpu_seconds()
            time.sleep(0.5)
            idle.append(server.cpu_seconds() - before)
        np.testing.assert_array_equal(y, 2 * x)
        assert min(idle) < 0.03, f"the idle server used {idle} s of CPU in 0.5 s after each call"
        bnns.BNNSFilterDestroy(f)
    finally:
        bnns.connect("local")
        assert server.stop() == 0
