"""What durability costs: the same training steps over gRPC against a server keeping its handles
in memory only and against one with --state-dir (SQLite, WAL, synchronous=FULL: every mutating
call is on disk before it is acknowledged), interleaved, medians.

* The digits step (examples/train_digits.py, batch 64): two commits a step (the batch-norm
  training forward's moving statistics, the optimizer step).
* A ResNet-block training step: the 32x64x56x56 3x3 convolution forward and backward, then Adam on
  its weights held by the server (one commit: weights and moments, 0.6 MB). Target: <= 10%.

    python -m bench.durability [--quick]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from . import common
from .datapath import conv_filter, image, interleaved
from .training import load_example


def resnet_step(bnns, target: str):
    n, c, side = 32, 64, 56
    rng = np.random.default_rng(0)
    backend = bnns.connect(target)
    f, w = conv_filter(bnns, c, c, side, 3, rng)
    bnns.BNNSFilterDestroy(f)
    weights = w.copy()
    params = bnns.BNNSLayerParametersConvolution(
        i_desc=image(bnns, c, side, None), o_desc=image(bnns, c, side, None), x_padding=1, y_padding=1,
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(weights, bnns.BNNSDataLayoutConvolutionWeightsOIHW))
    f = bnns.BNNSFilterCreateLayerConvolution(params, bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr))
    x = rng.standard_normal((n, c, side, side)).astype(np.float32)
    dy = rng.standard_normal((n, c, side, side)).astype(np.float32)
    y, dw = np.zeros_like(x), np.zeros_like(w)
    adam = bnns.BNNSOptimizerAdamFields(learning_rate=1e-3, time_step=1)
    grad = bnns.BNNSNDArrayDescriptor.from_array(dw, bnns.BNNSDataLayoutConvolutionWeightsOIHW)

    def step():
        bnns.BNNSFilterApplyBatch(f, n, x, 0, y, 0)
        bnns.BNNSFilterApplyBackwardBatch(f, n, x, 0, None, 0, None, 0, image(bnns, c, side, dy), 0, grad, None)
        assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, adam, 1, [params.w_desc], [grad], None) == 0
        adam.time_step += 1
    return step, backend


def run(quick: bool = False) -> dict:
    common.setup()
    import bnns.client as bnns
    rounds = 5 if quick else 15
    example = load_example()
    x_train, y_train, _, _ = example.load_digits()
    x, y = np.ascontiguousarray(x_train[:64]), y_train[:64]
    with tempfile.TemporaryDirectory() as state_dir:
        plain, durable = common.ServerProcess(), common.ServerProcess("--state-dir", state_dir)
        try:
            ways, backends = {}, []
            for label, server in (("in memory", plain), ("--state-dir (SQLite, fsync)", durable)):
                backends.append(example.bnns.connect(server.grpc_target))
                net = example.DigitNet(seed=0)
                ways[f"digits step, {label}"] = lambda net=net: net.train_step(x, y)
            digits = interleaved(ways, rounds * 10)
            ways = {}
            for label, server in (("in memory", plain), ("--state-dir (SQLite, fsync)", durable)):
                step, backend = resnet_step(bnns, server.grpc_target)
                backends.append(backend)
                ways[f"ResNet-block step, {label}"] = step
            resnet = interleaved(ways, max(3, rounds // 3))
            for backend in backends:
                backend.close()
        finally:
            plain.stop()
            durable.stop()
            bnns.connect("local")
    rows = []
    for results in (digits, resnet):
        base = next(iter(results.values()))["median_ms"]
        for name, t in results.items():
            rows.append({"way": name, "median_ms": t["median_ms"], "min_ms": t["min_ms"],
                         "cost": f"{(t['median_ms'] / base - 1) * 100:+.1f}%"})
    common.print_table("The cost of durability over gRPC (interleaved rounds)", rows,
                       [("way", "way"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("cost", "vs in memory")])
    cost = rows[-1]["median_ms"] / rows[-2]["median_ms"] - 1
    print(f"  ResNet-block step: {cost * 100:+.1f}% (target <= +10%: {'MET' if cost <= 0.10 else 'NOT MET'})")
    path = common.write_json("durability", {"rows": rows})
    print(f"\nwrote {path}")
    return {"rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
