"""The data path: what moving a tensor costs, beside the floor it is judged against, same run.

Floors: a bare grpcio echo server of the same bytes (generic handler, bytes in, bytes out, in its
own process like bnns-server), a NumPy copy of the same bytes into an existing buffer, and the
kernel called directly. Ways of ours: the SDK over gRPC with bytes, with same-host shared memory
(transparent copies, and arrays made in shared memory), with tensors held by the server, and in
process ("local"). Cases and targets are issue 9's:

* 16 MiB 1x1 convolution: gRPC <= 2x the echo (goal 1.2x); in process <= 5x a copy; shared
  memory <= 1.3x in process.
* 4 KiB call: gRPC <= 1.6x the echo.
* ResNet-block convolution (32x64x56x56, 3x3): local SDK <= 1.15x the kernel, forward and
  backward; gRPC with bytes and with resident tensors beside local and PyTorch.
* The digits training step: gRPC with resident tensors <= 1.3x the local step.
* Four 4 MiB calls in one CallSequence beside the same calls one by one (no target: the
  sequence's framing should cost nothing a tensor can see).

Rounds are interleaved so machine noise hits every way alike; medians. PyTorch runs last, with
OMP_WAIT_POLICY=PASSIVE (its OpenMP threads otherwise spin after each call).

    python -m bench.datapath [--quick]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import time
from concurrent import futures

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import grpc  # noqa: E402
import numpy as np  # noqa: E402

from . import common  # noqa: E402

ECHO_METHOD = "/bench.Echo/Echo"
GRPC_OPTIONS = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]


# ------------------------------------------------------------------------------ the echo floor

def serve_echo() -> None:
    """A bare grpcio server answering every request with its own bytes (the floor)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=GRPC_OPTIONS)
    handler: grpc.RpcMethodHandler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"echo listening on {port}", flush=True)
    server.wait_for_termination()


class Echo:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.datapath", "--echo-server"],
                                     stdout=subprocess.PIPE, text=True,
                                     cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if self.proc.stdout is None:
            raise RuntimeError("the echo server's stdout is not a pipe")
        port = int(self.proc.stdout.readline().split()[-1])
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
        self.call: grpc.UnaryUnaryMultiCallable = self.channel.unary_unary(ECHO_METHOD)

    def round_trip(self, array: np.ndarray, out: np.ndarray) -> None:
        """Bytes of ``array`` there and back, read into ``out``: what any RPC of it must cost."""
        reply = self.call(array.tobytes(), timeout=60)
        np.copyto(out.reshape(-1), np.frombuffer(reply, out.dtype))

    def stop(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait()


# ------------------------------------------------------------------------------------- helpers

def interleaved(ways: dict, rounds: int) -> dict:
    """Median/min ms of each way, timed round after round (one warm-up each)."""
    for fn in ways.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: {"median_ms": statistics.median(t), "min_ms": min(t)} for name, t in times.items()}


def verdict(value: float, target: float) -> str:
    return f"{value:.2f}x (target <= {target}x: {'MET' if value <= target else 'NOT MET'})"


def conv_filter(bnns, c_in: int, c_out: int, side: int, k: int, rng, backend=None):
    pad = k // 2
    w = (rng.standard_normal((c_out, c_in, k, k)) * 0.05).astype(np.float32)
    params = bnns.BNNSLayerParametersConvolution(
        i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(side, side, c_in)),
        o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(side, side, c_out)),
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW),
        x_padding=pad, y_padding=pad)
    f = bnns.BNNSFilterCreateLayerConvolution(params, None)
    if f is None:
        raise RuntimeError(bnns.last_error())
    return f, w


def image(bnns, c, side, data):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(side, side, c), data=data)


# --------------------------------------------------------------------------------------- cases

def big_tensor_case(bnns, target: str, echo: Echo, rounds: int, server=None) -> list:
    """One 2048x2048 1-channel image through a 1x1 convolution: 16 MiB in, 16 MiB out. With
    ``server`` (its ServerProcess), also the server's CPU in half a second of idleness after one such call (what
    it takes from a same-host client's cores: OpenBLAS's threads spinning for work, bnns-server
    sets them to sleep soon)."""
    side, rng = 2048, np.random.default_rng(0)
    x = rng.standard_normal((1, 1, side, side)).astype(np.float32)
    y = np.zeros_like(x)
    ways = {}
    bnns.connect("local")
    local_f, w = conv_filter(bnns, 1, 1, side, 1, rng)
    kernel = local_f.backend.core.registry.get(local_f.filter_id).filter
    copy_target = np.empty_like(x)
    ways["NumPy copy of the bytes (floor, in process)"] = lambda: np.copyto(copy_target, x)
    ways["kernel alone (ConvolutionFilter.apply)"] = lambda: kernel.apply(x)
    ways["SDK in process (local)"] = lambda: bnns.BNNSFilterApplyBatch(local_f, 1, x, 0, y, 0)
    echo_out = np.empty_like(x)
    ways["bare grpcio echo of the bytes (floor, gRPC)"] = lambda: echo.round_trip(x, echo_out)
    remote = bnns.connect(target)
    grpc_f, _ = conv_filter(bnns, 1, 1, side, 1, np.random.default_rng(0))
    ways["SDK over gRPC, bytes"] = lambda: bnns.BNNSFilterApplyBatch(grpc_f, 1, x, 0, y, 0)
    tx, ty = bnns.BNNSTensor.from_array(x), bnns.BNNSTensor.empty(x.shape)
    ways["SDK over gRPC, tensors held by the server"] = lambda: bnns.BNNSFilterApplyBatch(grpc_f, 1, tx, 0, ty, 0)
    shared = bnns.connect(target, shared_memory=True)
    shm_f, _ = conv_filter(bnns, 1, 1, side, 1, np.random.default_rng(0))
    ways["SDK over gRPC, shared memory (copies in and out)"] = lambda: bnns.BNNSFilterApplyBatch(shm_f, 1, x, 0, y, 0)
    sx, sy = shared.shared_array(x.shape), shared.shared_array(x.shape)
    sx[...] = x
    ways["SDK over gRPC, arrays in shared memory (no copy)"] = lambda: bnns.BNNSFilterApplyBatch(shm_f, 1, sx, 0, sy, 0)
    # With the arrays in shared memory no tensor byte moves: what the call adds to the same call in
    # process is at least one round trip, measured here as the echo of one float.
    one, one_out = np.zeros(1, np.float32), np.zeros(1, np.float32)
    ways[ROUND_TRIP] = lambda: echo.round_trip(one, one_out)
    try:
        results = interleaved(ways, rounds)
        idle_ms = []
        for _ in range(3 if server is not None else 0):
            bnns.BNNSFilterApplyBatch(grpc_f, 1, x, 0, y, 0)
            before = server.cpu_seconds()
            time.sleep(0.5)
            idle_ms.append((server.cpu_seconds() - before) * 1e3)
    finally:
        for t in (tx, ty):
            t.destroy()
        shared.close()
        remote.close()
        bnns.connect("local")
    copy_ms = results["NumPy copy of the bytes (floor, in process)"]["median_ms"]
    echo_ms = results["bare grpcio echo of the bytes (floor, gRPC)"]["median_ms"]
    local_ms = results["SDK in process (local)"]["median_ms"]
    kernel_ms = results["kernel alone (ConvolutionFilter.apply)"]["median_ms"]
    floors = {"SDK in process (local)": ("copy", copy_ms), "SDK over gRPC, bytes": ("echo", echo_ms),
              "SDK over gRPC, tensors held by the server": ("echo", echo_ms),
              "SDK over gRPC, shared memory (copies in and out)": ("local", local_ms),
              "SDK over gRPC, arrays in shared memory (no copy)": ("local", local_ms),
              "kernel alone (ConvolutionFilter.apply)": ("copy", copy_ms)}
    rows = []
    for name, t in results.items():
        floor = floors.get(name)
        rows.append({"way": name, "median_ms": t["median_ms"], "min_ms": t["min_ms"],
                     "vs": f"{t['median_ms'] / floor[1]:.2f}x {floor[0]}" if floor else ""})
    floor_ms = local_ms + results[ROUND_TRIP]["median_ms"]
    rows.append({"way": "floor of the shared-arrays row: in process + the round trip", "median_ms": floor_ms,
                 "min_ms": "", "vs": f"{floor_ms / local_ms:.2f}x local"})
    targets = [("gRPC bytes vs echo", results["SDK over gRPC, bytes"]["median_ms"] / echo_ms, 2.0),
               ("in process vs copy", local_ms / copy_ms, 5.0),
               ("shared memory (copies) vs in process",
                results["SDK over gRPC, shared memory (copies in and out)"]["median_ms"] / local_ms, 1.3),
               ("shared arrays vs in process",
                results["SDK over gRPC, arrays in shared memory (no copy)"]["median_ms"] / local_ms, 1.3)]
    common.print_table(f"16 MiB 1x1 convolution (2048x2048, one channel; {rounds} interleaved rounds); the kernel "
                       f"alone takes {kernel_ms:.2f} ms", rows,
                       [("way", "way"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("vs", "vs its floor")])
    for label, value, target_ratio in targets:
        print(f"  {label}: {verdict(value, target_ratio)}")
    if idle_ms:
        print(f"  the server's CPU in 0.5 s of idleness after a 16 MiB call: {statistics.median(idle_ms):.0f} ms (median of 3)")
        rows.append({"way": "server CPU ms in 0.5 s idle after a call", "median_ms": statistics.median(idle_ms)})
    return rows


ROUND_TRIP = "bare grpcio echo of one float (a round trip)"
BATCH_ROUND_TRIP = "bare grpcio echo of the batch and labels (a round trip)"


def small_call_case(bnns, target: str, echo: Echo, rounds: int) -> list:
    """A 4 KiB call: a 1x1 convolution on a 32x32 image."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 1, 32, 32)).astype(np.float32)
    y, echo_out = np.zeros_like(x), np.empty_like(x)
    remote = bnns.connect(target)
    f, _ = conv_filter(bnns, 1, 1, 32, 1, rng)
    bnns.connect("local")
    local_f, _ = conv_filter(bnns, 1, 1, 32, 1, np.random.default_rng(1))
    ways = {"bare grpcio echo of the bytes (floor)": lambda: echo.round_trip(x, echo_out),
            "SDK over gRPC, bytes": lambda: bnns.BNNSFilterApplyBatch(f, 1, x, 0, y, 0),
            "SDK in process (local)": lambda: bnns.BNNSFilterApplyBatch(local_f, 1, x, 0, y, 0)}
    try:
        results = interleaved({name: _repeat(fn, 20) for name, fn in ways.items()}, rounds * 5)
    finally:
        remote.close()
    echo_ms = results["bare grpcio echo of the bytes (floor)"]["median_ms"]
    rows = [{"way": name, "median_ms": t["median_ms"] / 20 * 1e3, "min_ms": t["min_ms"] / 20 * 1e3,
             "vs": f"{t['median_ms'] / echo_ms:.2f}x echo"} for name, t in results.items()]
    common.print_table("A 4 KiB call (1x1 convolution on 32x32; microseconds per call, 20 calls a sample)", rows,
                       [("way", "way"), ("median_ms", "median us"), ("min_ms", "min us"), ("vs", "vs the echo")])
    print(f"  gRPC vs echo: {verdict(results['SDK over gRPC, bytes']['median_ms'] / echo_ms, 1.6)}")
    return rows


def _repeat(fn, count: int):
    def run():
        for _ in range(count):
            fn()
    return run


def sequence_case(bnns, target: str, rounds: int) -> list:
    """Four 4 MiB calls (1x1 convolution on 1024x1024) in one CallSequence beside the same calls
    one by one: what the sequence's own framing costs once its requests and responses are read
    and written as views (each tensor copied once a direction)."""
    side = 1024
    remote = bnns.connect(target)
    f, _ = conv_filter(bnns, 1, 1, side, 1, np.random.default_rng(3))
    xs = [np.random.default_rng(k).standard_normal((1, 1, side, side)).astype(np.float32) for k in range(4)]
    ys = [np.zeros_like(x) for x in xs]

    def one_by_one():
        for x, y in zip(xs, ys):
            bnns.BNNSFilterApplyBatch(f, 1, x, 0, y, 0)

    def in_a_sequence():
        with bnns.sequence():
            one_by_one()

    try:
        results = interleaved({"the 4 calls one by one": one_by_one, "the 4 calls in one CallSequence": in_a_sequence},
                              rounds * 2)
    finally:
        remote.close()
        bnns.connect("local")
    alone = results["the 4 calls one by one"]["median_ms"]
    rows = [{"way": name, "median_ms": t["median_ms"], "min_ms": t["min_ms"], "vs": f"{t['median_ms'] / alone:.2f}x"}
            for name, t in results.items()]
    common.print_table("Four 4 MiB calls over gRPC (16 MiB up, 16 MiB down)", rows,
                       [("way", "way"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("vs", "vs one by one")])
    return rows


def resnet_case(bnns, target: str, rounds: int) -> list:
    """The ResNet-block convolution, forward and backward, every way; PyTorch last."""
    n, c, side = 32, 64, 56
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, c, side, side)).astype(np.float32)
    dy = rng.standard_normal((n, c, side, side)).astype(np.float32)
    y, dx, dw = np.zeros_like(x), np.zeros_like(x), np.zeros((c, c, 3, 3), np.float32)
    bnns.connect("local")
    local_f, w = conv_filter(bnns, c, c, side, 3, rng)
    kernel = local_f.backend.core.registry.get(local_f.filter_id).filter
    wd = bnns.BNNSNDArrayDescriptor.from_array(dw, bnns.BNNSDataLayoutConvolutionWeightsOIHW)

    def backward(f, x_, dx_, dy_, dw_desc):
        return lambda: bnns.BNNSFilterApplyBackwardBatch(f, n, x_, 0, image(bnns, c, side, dx_), 0, None, 0,
                                                         image(bnns, c, side, dy_), 0, dw_desc, None)

    fwd = {"kernel alone": lambda: kernel.apply(x),
           "SDK in process (local)": lambda: bnns.BNNSFilterApplyBatch(local_f, n, x, 0, y, 0)}
    bwd = {"kernel alone": lambda: kernel.apply_backward(x, None, dy, input_grad=True, weights_grad=True),
           "SDK in process (local)": backward(local_f, x, dx, dy, wd)}
    remote = bnns.connect(target)
    grpc_f, _ = conv_filter(bnns, c, c, side, 3, np.random.default_rng(2))
    fwd["SDK over gRPC, bytes"] = lambda: bnns.BNNSFilterApplyBatch(grpc_f, n, x, 0, y, 0)
    bwd["SDK over gRPC, bytes"] = backward(grpc_f, x, dx, dy, wd)
    tx, ty, tdy, tdx = (bnns.BNNSTensor.from_array(a) for a in (x, y, dy, dx))
    tdw = bnns.BNNSTensor.empty(dw.shape)
    twd = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, c, c), data=tdw)
    fwd["SDK over gRPC, tensors held by the server"] = lambda: bnns.BNNSFilterApplyBatch(grpc_f, n, tx, 0, ty, 0)
    bwd["SDK over gRPC, tensors held by the server"] = backward(grpc_f, tx, tdx, tdy, twd)
    try:
        forward_t = interleaved(fwd, rounds)
        backward_t = interleaved(bwd, rounds)
    finally:
        for t in (tx, ty, tdy, tdx, tdw):
            t.destroy()
        remote.close()
        bnns.connect("local")
    torch = common.torch_or_none()
    torch_fwd = torch_bwd = None
    if torch is not None:
        tx_, tw_ = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
        tdy_ = torch.from_numpy(dy)
        forward_fn = lambda: torch.nn.functional.conv2d(tx_, tw_, padding=1)   # noqa: E731
        out = forward_fn()
        torch_fwd = common.time_ms(lambda: forward_fn(), budget_s=3.0)["median_ms"]
        torch_bwd = common.time_ms(lambda: torch.autograd.grad(out, (tx_, tw_), tdy_, retain_graph=True),
                                   budget_s=3.0)["median_ms"]
    rows = []
    for name in fwd:
        rows.append({"way": name, "forward_ms": forward_t[name]["median_ms"], "backward_ms": backward_t[name]["median_ms"],
                     "fwd_vs_kernel": f"{forward_t[name]['median_ms'] / forward_t['kernel alone']['median_ms']:.2f}x",
                     "bwd_vs_kernel": f"{backward_t[name]['median_ms'] / backward_t['kernel alone']['median_ms']:.2f}x",
                     "fwd_vs_torch": common.ratio(forward_t[name]["median_ms"], torch_fwd),
                     "bwd_vs_torch": common.ratio(backward_t[name]["median_ms"], torch_bwd)})
    if torch is not None:
        rows.append({"way": "PyTorch 2 threads (same work)", "forward_ms": torch_fwd, "backward_ms": torch_bwd})
    common.print_table(f"ResNet-block convolution 32x64x56x56, 3x3, pad 1 (backward: in and weights gradients; "
                       f"{rounds} interleaved rounds)", rows,
                       [("way", "way"), ("forward_ms", "forward ms"), ("backward_ms", "backward ms"),
                        ("fwd_vs_kernel", "fwd / kernel"), ("bwd_vs_kernel", "bwd / kernel"),
                        ("fwd_vs_torch", "fwd / PyTorch"), ("bwd_vs_torch", "bwd / PyTorch")])
    local = "SDK in process (local)"
    print(f"  local SDK forward vs kernel: {verdict(forward_t[local]['median_ms'] / forward_t['kernel alone']['median_ms'], 1.15)}")
    print(f"  local SDK backward vs kernel: {verdict(backward_t[local]['median_ms'] / backward_t['kernel alone']['median_ms'], 1.15)}")
    return rows


def training_case(target: str, echo: Echo, rounds: int) -> list:
    """One step of examples/train_digits.py (batch 64): local, gRPC with bytes, gRPC resident; and
    the resident step's floor, the local step plus one round trip of what must travel (the batch
    and the labels up, the loss down: the echo of the batch)."""
    from .training import load_example
    example = load_example()
    x_train, y_train, _, _ = example.load_digits()
    x, y = np.ascontiguousarray(x_train[:64]), y_train[:64]
    nets = {}
    example.bnns.connect("local")
    nets["in process (local), arrays"] = example.DigitNet(seed=0)
    remote = example.bnns.connect(target)
    nets["over gRPC, arrays (bytes)"] = example.DigitNet(seed=0)
    nets["over gRPC, --resident, a call each"] = example.ResidentDigitNet(seed=0, one_round_trip=False)
    nets["over gRPC, --resident, one sequence a step"] = example.ResidentDigitNet(seed=0)
    batch = np.concatenate([x.reshape(-1), y.astype(np.float32)])
    batch_out = np.empty_like(batch)
    ways: dict = {name: functools.partial(net.train_step, x, y) for name, net in nets.items()}
    ways[BATCH_ROUND_TRIP] = functools.partial(echo.round_trip, batch, batch_out)
    try:
        results = interleaved(ways, rounds * 10)
    finally:
        for net in nets.values():
            net.close()
        remote.close()
        example.bnns.connect("local")
    local_ms = results["in process (local), arrays"]["median_ms"]
    rows = [{"way": name, "median_ms": t["median_ms"], "min_ms": t["min_ms"],
             "vs": "" if name == BATCH_ROUND_TRIP else f"{t['median_ms'] / local_ms:.2f}x"}
            for name, t in results.items()]
    floor_ms = local_ms + results[BATCH_ROUND_TRIP]["median_ms"]
    rows.append({"way": "floor of the one-sequence row: local + that round trip", "median_ms": floor_ms, "min_ms": "",
                 "vs": f"{floor_ms / local_ms:.2f}x"})
    common.print_table("One training step of examples/train_digits.py (batch 64: 11 BNNS calls and an optimizer step)",
                       rows, [("way", "way"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("vs", "vs local")])
    for name in ("over gRPC, --resident, a call each", "over gRPC, --resident, one sequence a step"):
        print(f"  {name[len('over gRPC, '):]} vs local: {verdict(results[name]['median_ms'] / local_ms, 1.3)}")
    return rows


def run(quick: bool = False) -> dict:
    common.setup()
    import bnns.client as bnns
    rounds = 5 if quick else 15
    server = common.ServerProcess()
    echo = Echo()
    try:
        report = {"big": big_tensor_case(bnns, server.grpc_target, echo, rounds, server),
                  "small": small_call_case(bnns, server.grpc_target, echo, rounds),
                  "training": training_case(server.grpc_target, echo, rounds),
                  "sequence": sequence_case(bnns, server.grpc_target, rounds),
                  "resnet": resnet_case(bnns, server.grpc_target, max(3, rounds // 3))}
    finally:
        echo.stop()
        server.stop()
    path = common.write_json("datapath", report)
    print(f"\nwrote {path}")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        serve_echo()
    else:
        run(args.quick)
