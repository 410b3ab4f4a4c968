"""Load and leaks (issue 6): N concurrent gRPC clients on loopback run a fixed mix of create /
apply / backward / destroy calls on a small convolution and a fully connected layer, for a fixed
number of calls; prints the throughput, p50/p99 latency per RPC and overall, the error count
(must be 0) and the server's resident memory (VmRSS) after a warm-up and after the measured calls,
with the growth (target: under 5%), and the growth over the second half of the calls alone (a leak
keeps growing; the allocator's high-water mark levels off: the server keeps freed memory).

The server is a `bnns-server` subprocess started here with its defaults (ports chosen by the OS,
INFO logs drained and dropped); it is stopped at the end, and the whole run is bounded by
--max-seconds. Each client has its own channel and repeats one cycle per layer,

    CreateFilter, FilterApplyBatch, FilterApplyBatch, FilterApplyBackwardBatch, DestroyFilter

alternating the convolution (4 -> 8 channels, 16x16, 3x3, batch 8) and the fully connected layer
(256 -> 64, batch 32), so a run leaves no handle behind; the call count is rounded up to whole
cycles. Clients and server share this machine's cores, so throughput is the pair's, and on a
shared 2-core machine the numbers are noisy (medians move by 10% between runs, p99 more).

    python -m bench.load [--clients 16] [--calls 10000] [--warmup 1000] [--quick]
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
from typing import Optional

import grpc
import numpy as np
from google.protobuf.message import Message

from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2 as t

from . import common

CYCLE = ("CreateFilter", "FilterApplyBatch", "FilterApplyBatch", "FilterApplyBackwardBatch", "DestroyFilter")
RPCS = ("CreateFilter", "FilterApplyBatch", "FilterApplyBackwardBatch", "DestroyFilter")
CALL_TIMEOUT = 30.0          # seconds per call
RSS_GROWTH_TARGET = 5.0      # percent, after the warm-up


# ------------------------------------------------------------------------------- the layers

def descriptor(layout: int, size: list, data=None) -> t.NDArrayDescriptor:
    d = t.NDArrayDescriptor(layout=layout, size=size, data_type=t.DATA_TYPE_FLOAT32)
    if data is not None:
        d.data.data = np.ascontiguousarray(data, np.float32).tobytes()
    return d


class Layer:
    """One layer of the mix: its creation request and the bytes of its apply and backward calls."""

    def __init__(self, name: str, create: pb.CreateFilterRequest, x: np.ndarray, out_elements: int):
        self.name, self.create, self.batch = name, create, x.shape[0]
        self.x = t.Buffer(data=x.tobytes())
        dy = np.random.default_rng(1).standard_normal((self.batch, out_elements)).astype(np.float32)
        self.dy = t.Buffer(data=dy.tobytes())
        self.out_bytes = 4 * self.batch * out_elements
        self.in_bytes = x.nbytes

    def apply(self, filter_id: str) -> pb.FilterApplyBatchRequest:
        return pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=self.batch, **{"in": self.x})  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter

    def backward(self, filter_id: str) -> pb.FilterApplyBackwardBatchRequest:
        return pb.FilterApplyBackwardBatchRequest(filter_id=filter_id, batch_size=self.batch, out_delta=self.dy,
                                                  compute_in_delta=True, compute_weights_delta=True,
                                                  compute_bias_delta=True, **{"in": self.x})  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter


def layers() -> list[Layer]:
    rng = np.random.default_rng(0)
    relu = t.Activation(function=t.ACTIVATION_FUNCTION_RECTIFIED_LINEAR)
    c_in, c_out, hw, k, n = 4, 8, 16, 3, 8
    conv = pb.CreateFilterRequest(convolution=t.ConvolutionParameters(
        i_desc=descriptor(t.DATA_LAYOUT_IMAGE_CHW, [hw, hw, c_in]),
        o_desc=descriptor(t.DATA_LAYOUT_IMAGE_CHW, [hw, hw, c_out]),
        w_desc=descriptor(t.DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW, [k, k, c_in, c_out],
                          rng.standard_normal(c_out * c_in * k * k) * 0.1),
        bias=descriptor(t.DATA_LAYOUT_VECTOR, [c_out], rng.standard_normal(c_out)), activation=relu,
        x_padding=1, y_padding=1))
    i, o, m = 256, 64, 32
    fc = pb.CreateFilterRequest(fully_connected=t.FullyConnectedParameters(
        i_desc=descriptor(t.DATA_LAYOUT_VECTOR, [i]), o_desc=descriptor(t.DATA_LAYOUT_VECTOR, [o]),
        w_desc=descriptor(t.DATA_LAYOUT_ROW_MAJOR_MATRIX, [i, o], rng.standard_normal(i * o) * 0.05),
        bias=descriptor(t.DATA_LAYOUT_VECTOR, [o], rng.standard_normal(o)), activation=relu))
    return [Layer("convolution", conv, rng.standard_normal((n, c_in, hw, hw)).astype(np.float32), c_out * hw * hw),
            Layer("fully_connected", fc, rng.standard_normal((m, i)).astype(np.float32), o)]


# ------------------------------------------------------------------------------- the clients

class Tickets:
    """Whole cycles left to run, shared by the clients; none after the deadline."""

    def __init__(self, cycles: int, deadline: float):
        self.left, self.deadline, self.lock = cycles, deadline, threading.Lock()
        self.cut_short = False

    def take(self) -> bool:
        with self.lock:
            if time.monotonic() > self.deadline:
                self.cut_short = self.cut_short or self.left > 0
                return False
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def client(index: int, target: str, mix: list[Layer], tickets: Tickets, latencies: list, errors: list,
           done: list) -> None:
    """Run cycles until the tickets run out, recording (rpc, ms) per call and every error."""
    with grpc.insecure_channel(target) as channel:
        stub = service_pb2_grpc.BNNSServiceStub(channel)
        turn = index
        while tickets.take():
            layer = mix[turn % len(mix)]
            turn += 1
            filter_id = None
            request: Message
            for rpc in CYCLE:
                if rpc == "CreateFilter":
                    request = layer.create
                elif filter_id is None:      # the create failed: the rest of the cycle has no handle
                    errors.append((rpc, "skipped: no handle"))
                    continue
                elif rpc == "FilterApplyBatch":
                    request = layer.apply(filter_id)
                elif rpc == "FilterApplyBackwardBatch":
                    request = layer.backward(filter_id)
                else:
                    request = pb.DestroyFilterRequest(filter_id=filter_id)
                start = time.perf_counter()
                try:   # the handle named as the SDK names it, for a balancer's affinity (bench/replicas.py)
                    response = getattr(stub, rpc)(request, timeout=CALL_TIMEOUT,
                                                  metadata=(("x-bnns-handle", filter_id),) if filter_id else ())
                except grpc.RpcError as error:
                    errors.append((rpc, f"{error.code().name}: {error.details()}"))
                    continue
                finally:
                    latencies.append((rpc, (time.perf_counter() - start) * 1e3))
                    done[0] += 1
                problem = check(rpc, layer, response)
                if problem:
                    errors.append((rpc, problem))
                if rpc == "CreateFilter":
                    filter_id = response.filter_id


def check(rpc: str, layer: Layer, response) -> str:
    """A cheap sanity check of a response's sizes ('' when it is right)."""
    if rpc == "FilterApplyBatch" and len(response.out.data) != layer.out_bytes:
        return f"{layer.name}: out has {len(response.out.data)} bytes, expected {layer.out_bytes}"
    if rpc == "FilterApplyBackwardBatch" and len(response.in_delta.data) != layer.in_bytes:
        return f"{layer.name}: in_delta has {len(response.in_delta.data)} bytes, expected {layer.in_bytes}"
    if rpc == "CreateFilter" and not response.filter_id:
        return f"{layer.name}: no filter_id"
    return ""


def phase(target: str, mix: list[Layer], clients: int, calls: int, deadline: float, server: Optional[common.ServerProcess],
          samples: list | None = None) -> dict:
    """``calls`` calls (whole cycles) by ``clients`` threads; RSS sampled every second if asked."""
    tickets = Tickets(-(-calls // len(CYCLE)), deadline)
    latencies: list[list] = [[] for _ in range(clients)]
    errors: list[list] = [[] for _ in range(clients)]
    done = [[0] for _ in range(clients)]
    threads = [threading.Thread(target=client, args=(k, target, mix, tickets, latencies[k], errors[k], done[k]),
                                daemon=True) for k in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        if samples is not None and server is not None:
            samples.append({"s": round(time.perf_counter() - start, 1), "calls": sum(d[0] for d in done),
                            "rss_mib": round(server.rss_mib(), 1)})
        for thread in threads:
            thread.join(1.0 / len(threads))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "latencies": [x for per in latencies for x in per],
            "errors": [x for per in errors for x in per], "cut_short": tickets.cut_short}


def percentiles(ms: list) -> dict:
    a = np.asarray(ms)
    return {"calls": int(a.size), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "mean_ms": float(a.mean()), "max_ms": float(a.max())}


# ------------------------------------------------------------------------------- the run

def run(clients: int = 16, calls: int = 10_000, warmup: int = 1_000, max_seconds: float = 900.0) -> dict:
    common.setup()
    mix = layers()
    deadline = time.monotonic() + max_seconds
    server = common.ServerProcess(http=True)
    try:
        rss_start = server.rss_mib()
        warm = phase(server.grpc_target, mix, clients, warmup, deadline, server)
        time.sleep(0.5)                     # let the last responses' buffers go before sampling
        rss_warm = server.rss_mib()
        samples: list = []
        measured = phase(server.grpc_target, mix, clients, calls, deadline, server, samples)
        time.sleep(0.5)
        rss_end, rss_peak = server.rss_mib(), server.rss_mib("VmHWM")
        with grpc.insecure_channel(server.grpc_target) as channel:
            left = len(service_pb2_grpc.BNNSServiceStub(channel).ListFilters(pb.ListFiltersRequest(),
                                                                             timeout=CALL_TIMEOUT).filters)
    finally:
        code = server.stop()

    errors = warm["errors"] + measured["errors"]
    by_rpc = collections.defaultdict(list)
    for rpc, ms in measured["latencies"]:
        by_rpc[rpc].append(ms)
    rows = [{"rpc": rpc, **percentiles(by_rpc[rpc])} for rpc in RPCS if by_rpc[rpc]]
    overall = percentiles([ms for _, ms in measured["latencies"]])
    rows.append({"rpc": "all", **overall})
    throughput = overall["calls"] / measured["seconds"]
    growth = 100.0 * (rss_end - rss_warm) / rss_warm
    # A leak grows with every call; the allocator's high-water mark (freed memory is kept, see
    # bnns.server.tuning) levels off. Growth over the second half of the calls tells them apart.
    halfway = next((x["rss_mib"] for x in samples if x["calls"] >= overall["calls"] / 2), rss_end)
    second_half = 100.0 * (rss_end - halfway) / halfway
    summary = {
        "clients": clients, "calls": overall["calls"], "warmup_calls": len(warm["latencies"]),
        "seconds": measured["seconds"], "throughput_calls_per_s": throughput, "errors": len(errors),
        "handles_left": left, "rss_start_mib": rss_start, "rss_after_warmup_mib": rss_warm,
        "rss_end_mib": rss_end, "rss_peak_mib": rss_peak, "rss_growth_pct": growth,
        "rss_growth_second_half_pct": second_half,
        "cut_short": warm["cut_short"] or measured["cut_short"], "server_exit_code": code,
    }

    common.print_table(f"Latency per RPC over {overall['calls']} calls, {clients} gRPC clients on loopback "
                       f"(after a {summary['warmup_calls']}-call warm-up; shared machine: noisy)", rows,
                       [("rpc", "RPC"), ("calls", "calls"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                        ("mean_ms", "mean ms"), ("max_ms", "max ms")])
    common.print_table("Throughput, errors and server memory (VmRSS)", [{
        "throughput": f"{throughput:.0f} calls/s", "errors": len(errors), "handles_left": left,
        "rss_start": f"{rss_start:.1f} MiB", "rss_warm": f"{rss_warm:.1f} MiB", "rss_end": f"{rss_end:.1f} MiB",
        "growth": f"{growth:+.2f}%", "second_half": f"{second_half:+.2f}%"}],
        [("throughput", "throughput"), ("errors", "errors"), ("handles_left", "handles left"),
         ("rss_start", "RSS at start"), ("rss_warm", "RSS after warm-up"), ("rss_end", "RSS at end"),
         ("growth", "growth"), ("second_half", "growth, 2nd half of the calls")])
    print(f"\nIssue 6 targets: errors 0: {len(errors)} -> {'MET' if not errors else 'NOT MET'}; "
          f"RSS growth under {RSS_GROWTH_TARGET:.0f}% after the warm-up: {growth:+.2f}% -> "
          f"{'MET' if growth < RSS_GROWTH_TARGET else 'NOT MET'}")
    if summary["cut_short"]:
        print(f"note: stopped at --max-seconds {max_seconds:.0f} before every call was made")
    if errors:
        print("first errors:", *collections.Counter(errors).most_common(5), sep="\n  ")
    path = common.write_json("load", {"summary": summary, "rows": rows, "rss_samples": samples,
                                      "error_examples": [list(e) for e in errors[:20]]})
    print(f"wrote {path}")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent gRPC clients (default 16)")
    parser.add_argument("--calls", type=int, default=10_000, help="measured calls (default 10000)")
    parser.add_argument("--warmup", type=int, default=1_000, help="warm-up calls before the first RSS sample")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop taking new cycles after this")
    parser.add_argument("--quick", action="store_true", help="4 clients, 1000 calls, 200 warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.calls, args.warmup = 4, 1_000, 200
    summary = run(args.clients, args.calls, args.warmup, args.max_seconds)
    return 1 if summary["errors"] or summary["handles_left"] or summary["server_exit_code"] else 0


if __name__ == "__main__":
    sys.exit(main())
