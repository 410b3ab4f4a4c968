"""Replicas over a shared Redis store behind nginx (issue 13): the bench/load.py mix (create,
apply, apply, backward, destroy on a small convolution and a fully connected layer, from
concurrent gRPC clients) against

    a single server without a store (the floor),
    a single server with its embedded SQLite store (--state-dir: durable, one server),
    a single server over the Redis store, directly,
    1, 2 and 3 replicas over the store behind nginx (docker/nginx.conf, hashed on x-bnns-handle),

interleaved round by round so that the machine's noise falls on all of them alike (medians over
the rounds); and, in process, what the store adds to one call: the version check before each
use of a hot handle, the replay-key lookup and the commit of a mutating call.

Every process shares this 2-core machine with the clients: more replicas cannot add cores, so the
absolute throughput does not scale here; the per-call overhead is the portable figure.

    python -m bench.replicas [--clients 8] [--calls 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time

import numpy as np

from bnns.server.core import Core
from bnns.server.process import NginxProcess, RedisProcess, Replica, ServerProcess
from bnns.server.registry import Registry
from bnns.server.state import snapshot
from bnns.server.state_redis import RedisStateStore
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import common, load


def overhead(store_url: str) -> list:
    """Per-call cost of the store, in process: medians of direct timings."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 256)).astype(np.float32)
    create = pb.CreateFilterRequest(fully_connected=types_pb2.FullyConnectedParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[256]),
        o_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[64]),
        w_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_ROW_MAJOR_MATRIX, size=[256, 64],
                                           data=types_pb2.Buffer(data=w.tobytes()))))
    store = RedisStateStore(store_url)
    plain, shared = Core(), Core(Registry(), state=store)
    ids = {core: core.call("CreateFilter", create).filter_id for core in (plain, shared)}
    x = rng.standard_normal(256).astype(np.float32).tobytes()
    g = rng.standard_normal((64, 256)).astype(np.float32).tobytes()
    counter = [0]

    def apply(core):
        return lambda: core.call("FilterApplyBatch", pb.FilterApplyBatchRequest(
            filter_id=ids[core], batch_size=1, **{"in": types_pb2.Buffer(data=x)}))

    def step(core):
        def run():
            counter[0] += 1
            request = pb.OptimizerStepRequest(function=types_pb2.OPTIMIZER_FUNCTION_SGD_MOMENTUM)
            request.fields.learning_rate = 1e-6
            request.parameters.add().filter_parameter.CopyFrom(pb.FilterParameterRef(filter_id=ids[core], name="weights"))
            request.gradients.add(data=g)
            core.call("OptimizerStep", request, idempotency_key=f"bench-{counter[0]}")
        return run

    entry = shared.registry.get(ids[shared])
    record = snapshot(entry)
    rows = []
    timings = {
        "version check (one hot handle)": lambda: store.check([ids[shared]], ""),
        "replay-key lookup": lambda: store.replay("", "absent"),
        f"commit of a {len(record.blob) // 1024} KiB handle": lambda: setattr(
            entry, "version", store.commit([record], versions={record.handle_id: entry.version})[record.handle_id]),
        "FilterApplyBatch, no store": apply(plain),
        "FilterApplyBatch, Redis store": apply(shared),
        "OptimizerStep, no store": step(plain),
        "OptimizerStep, Redis store": step(shared),
    }
    for name, fn in timings.items():
        rows.append({"what": name, **common.time_ms(fn, min_repeats=50, max_repeats=400, budget_s=2.0)})
    by = {r["what"]: r["median_ms"] for r in rows}
    for rpc in ("FilterApplyBatch", "OptimizerStep"):
        rows.append({"what": f"{rpc}: added by the store", "median_ms": by[f"{rpc}, Redis store"] - by[f"{rpc}, no store"],
                     "min_ms": float("nan"), "max_ms": float("nan"), "n": 0})
    store.close()
    return rows


def run(clients: int = 8, calls: int = 1000, rounds: int = 3, warmup: int = 200) -> dict:
    common.setup()
    mix = load.layers()
    deadline = time.monotonic() + 1800
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(f"{tmp}/redis", durable=True)
        started = []
        try:
            single = ServerProcess()
            started.append(single)
            sqlite = ServerProcess("--state-dir", f"{tmp}/sqlite")
            started.append(sqlite)
            direct = Replica(redis.url)
            replicas = [Replica(redis.url) for _ in range(3)]
            started += [direct, *replicas]
            fronts = [NginxProcess(f"{tmp}/nginx{n}", [r.grpc_target for r in replicas[:n]]) for n in (1, 2, 3)]
            started += fronts
            targets = {"single server, no store": single.grpc_target,
                       "single server, SQLite store (--state-dir)": sqlite.grpc_target,
                       "single server, Redis store": direct.grpc_target,
                       **{f"{n} replica{'s' * (n > 1)} + nginx": f.grpc_target for n, f in zip((1, 2, 3), fronts)}}
            for target in targets.values():
                load.phase(target, mix, clients, warmup, deadline, None)
            results = collections.defaultdict(list)
            for _ in range(rounds):
                for name, target in targets.items():
                    measured = load.phase(target, mix, clients, calls, deadline, None)
                    ms = [m for _, m in measured["latencies"]]
                    results[name].append({"throughput": len(ms) / measured["seconds"], **load.percentiles(ms),
                                          "errors": len(measured["errors"])})
            direct_rows = overhead(redis.url)
        finally:
            for process in reversed(started):
                process.stop()
            redis.stop()
    rows = []
    floor = statistics.median(r["throughput"] for r in results["single server, no store"])
    for name, per_round in results.items():
        throughput = statistics.median(r["throughput"] for r in per_round)
        rows.append({"setup": name, "throughput": throughput, "vs_floor": throughput / floor,
                     "p50_ms": statistics.median(r["p50_ms"] for r in per_round),
                     "p99_ms": statistics.median(r["p99_ms"] for r in per_round),
                     "errors": sum(r["errors"] for r in per_round)})
    common.print_table(f"The load mix, {clients} gRPC clients, {calls} calls a round, medians of {rounds} interleaved "
                       "rounds (2 shared cores: every process on them)", rows,
                       [("setup", "setup"), ("throughput", "calls/s"), ("vs_floor", "vs no store"),
                        ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("errors", "errors")])
    common.print_table("What the store adds to one call, in process (medians)", direct_rows,
                       [("what", "what"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("n", "n")])
    path = common.write_json("replicas", {"load": rows, "rounds": dict(results), "overhead": direct_rows})
    print(f"wrote {path}")
    return {"load": rows, "overhead": direct_rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--calls", type=int, default=1000, help="calls per setup per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="4 clients, 300 calls, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.calls, args.rounds = 4, 300, 1
    summary = run(args.clients, args.calls, args.rounds)
    return 1 if any(r["errors"] for r in summary["load"]) else 0


if __name__ == "__main__":
    sys.exit(main())
