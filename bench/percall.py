"""Where a small call's time goes, per call: the profile behind the 4 KiB row of bench.datapath and
the digits step of bench.training (issues 9 and 14: fixed per-call costs on tiny tensors).

* The in-process digits step (examples/train_digits.py, batch 64), call by call: the kernel
  itself (filter apply / apply_backward, the optimizer step), the server core around it (what
  ``LocalBackend.call`` takes beyond the kernel: validation, dispatch, results into the caller's
  arrays), and the SDK and the example's own NumPy outside it; PyTorch's one-thread step beside.
* A 4 KiB call over gRPC (1x1 convolution on 32x32), interleaved: the bare grpcio echo of the
  same bytes (the floor), a trivial RPC of this server (ListSharedMemory: its door and core with
  nothing to do), the call's serialized request sent on a raw channel (the server's whole cost),
  and the same call through the SDK (adds the client's cost).

Rounds are interleaved; medians. PyTorch runs on one thread, interleaved with ours.

    python -m bench.percall [--quick]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import statistics
import time
from typing import Dict, List

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import grpc  # noqa: E402
import numpy as np  # noqa: E402

from . import common, datapath  # noqa: E402
from .training import BATCH, load_example, torch_step  # noqa: E402


CALL = "call"      # the in-process backend's method, timed around each call


def digits_split(rounds: int) -> dict:
    """Median per-step microseconds of each RPC's kernel, core and SDK share, and the step's."""
    from bnns.client import backend as backend_mod
    example = load_example()
    x_train, y_train, _, _ = example.load_digits()
    x, y = np.ascontiguousarray(x_train[:BATCH]), y_train[:BATCH]
    kernel_time: Dict[str, float] = collections.defaultdict(float)      # seconds by RPC
    call_time: Dict[str, float] = collections.defaultdict(float)
    current = [""]

    def add_kernel_time(seconds: float) -> None:
        kernel_time[current[0]] += seconds

    def timed_call(function):
        @functools.wraps(function)
        def wrapper(self, rpc, *args, **kwargs):
            current[0] = rpc
            start = time.perf_counter()
            try:
                return function(self, rpc, *args, **kwargs)
            finally:
                call_time[rpc] += time.perf_counter() - start
        return wrapper

    original_call = backend_mod.LocalBackend.call
    patches = contextlib.ExitStack()        # undone in the finally below
    patches.enter_context(common.kernel_clock(add_kernel_time))
    setattr(backend_mod.LocalBackend, CALL, timed_call(original_call))
    example.bnns.connect("local")
    net = example.DigitNet(seed=0)
    torch = common.torch_or_none()
    if torch is not None:
        torch.set_num_threads(1)
    peer = torch_step(torch, x, y) if torch is not None else None
    steps: List[float] = []
    torch_steps: List[float] = []
    per_rpc: Dict[str, Dict[str, List[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    try:
        for _ in range(10):
            net.train_step(x, y)
        for _ in range(rounds):
            kernel_time.clear()
            call_time.clear()
            start = time.perf_counter()
            net.train_step(x, y)
            steps.append(time.perf_counter() - start)
            for rpc, seconds in call_time.items():
                per_rpc[rpc]["kernel"].append(kernel_time[rpc])
                per_rpc[rpc]["core"].append(seconds - kernel_time[rpc])
            if peer is not None:
                start = time.perf_counter()
                peer()
                torch_steps.append(time.perf_counter() - start)
    finally:
        patches.close()
        setattr(backend_mod.LocalBackend, CALL, original_call)
        net.close()
    us = lambda values: statistics.median(values) * 1e6   # noqa: E731
    rows = [{"rpc": rpc, "kernel_us": us(parts["kernel"]), "core_us": us(parts["core"])}
            for rpc, parts in per_rpc.items()]
    rows.sort(key=lambda r: -(r["kernel_us"] + r["core_us"]))
    step = us(steps)
    kernels, core = sum(r["kernel_us"] for r in rows), sum(r["core_us"] for r in rows)
    return {"rows": rows, "step_us": step, "kernels_us": kernels, "core_us": core, "sdk_us": step - kernels - core,
            "torch_us": us(torch_steps) if torch_steps else None}


def small_call(rounds: int) -> dict:
    """Median microseconds of the 4 KiB call every way, and of the floors beside it."""
    import bnns.client as bnns
    from bnns.v1 import service_pb2 as pb, types_pb2
    server, echo = common.ServerProcess(), datapath.Echo()
    try:
        remote = bnns.connect(server.grpc_target)
        rng = np.random.default_rng(1)
        f, _ = datapath.conv_filter(bnns, 1, 1, 32, 1, rng)
        x = rng.standard_normal((1, 1, 32, 32)).astype(np.float32)
        y, echo_out = np.zeros_like(x), np.empty_like(x)
        channel = grpc.insecure_channel(server.grpc_target)
        request = pb.FilterApplyBatchRequest(filter_id=f.filter_id, batch_size=1)
        getattr(request, "in").CopyFrom(types_pb2.Buffer(data=x.tobytes()))
        apply_raw = request.SerializeToString()
        apply: grpc.UnaryUnaryMultiCallable = channel.unary_unary("/bnns.v1.BNNSService/FilterApplyBatch")
        trivial: grpc.UnaryUnaryMultiCallable = channel.unary_unary("/bnns.v1.BNNSService/ListSharedMemory")
        ways = {"bare grpcio echo of the bytes (floor)": lambda: echo.round_trip(x, echo_out),
                "a trivial RPC of this server (ListSharedMemory)": lambda: trivial(b"", timeout=60),
                "the call's request on a raw channel (server's cost)": lambda: apply(apply_raw, timeout=60),
                "the call through the SDK (adds the client's cost)":
                    lambda: bnns.BNNSFilterApplyBatch(f, 1, x, 0, y, 0)}
        results = datapath.interleaved({name: datapath._repeat(fn, 20) for name, fn in ways.items()}, rounds)
        channel.close()
        remote.close()
    finally:
        echo.stop()
        server.stop()
        bnns.connect("local")
    return {name: t["median_ms"] / 20 * 1e3 for name, t in results.items()}


def run(quick: bool = False) -> dict:
    common.setup()
    split = digits_split(100 if quick else 400)
    rows = [{"rpc": r["rpc"], "kernel_us": r["kernel_us"], "core_us": r["core_us"],
             "share": f"{r['core_us'] / (r['kernel_us'] + r['core_us']):.0%}"} for r in split["rows"]]
    rows.append({"rpc": "SDK and the example outside the calls", "core_us": split["sdk_us"]})
    rows.append({"rpc": "the whole step", "kernel_us": split["kernels_us"], "core_us": split["core_us"] + split["sdk_us"]})
    common.print_table(f"In-process digits step, batch {BATCH}, per call (medians, us): step {split['step_us']:.0f} us"
                       + (f", PyTorch one thread {split['torch_us']:.0f} us ({split['step_us'] / split['torch_us']:.2f}x)"
                          if split["torch_us"] else ""),
                       rows, [("rpc", "call"), ("kernel_us", "kernel us"), ("core_us", "core / SDK us"),
                              ("share", "not kernel")])
    small = small_call(10 if quick else 40)
    echo = small["bare grpcio echo of the bytes (floor)"]
    common.print_table("A 4 KiB call over gRPC (1x1 convolution on 32x32; us per call, 20 calls a sample)",
                       [{"way": name, "us": value, "vs": f"{value / echo:.2f}x echo"} for name, value in small.items()],
                       [("way", "way"), ("us", "median us"), ("vs", "vs the echo")])
    report = {"digits": split, "small_call": small}
    path = common.write_json("percall", report)
    print(f"\nwrote {path}")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
