"""Replicas over a shared Redis store behind nginx (issue 13): the bench/load.py mix (create,
apply, apply, backward, destroy on a small convolution and a fully connected layer, from
concurrent gRPC clients) against

    a single server without a store (the floor),
    a single server with its embedded SQLite store (--state-dir: durable, one server),
    a single server over the Redis store, directly (and over a Redis that fsyncs once a second),
    1, 2 and 3 replicas over the store behind nginx (docker/nginx.conf, hashed on x-bnns-handle),

interleaved round by round so that the machine's noise falls on all of them alike (medians over
the rounds); the same with hot handles (each client's filters made once, then apply, apply,
backward: how training uses them); and, in process, what the store adds to one call: the version check before each
use of a hot handle, the replay-key lookup and the commit of a mutating call.

Redis runs with --appendfsync always, as docker/ deploys it (an acknowledged call is on disk),
except in the one row that says otherwise. Every process shares this 2-core machine with the clients: more replicas cannot add cores, so the
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


HOT_CYCLE = ("FilterApplyBatch", "FilterApplyBatch", "FilterApplyBackwardBatch")


def hot_phase(target: str, mix: list, clients: int, calls: int) -> dict:
    """Long-lived handles, as in training: each client makes one filter per layer (not timed),
    then runs apply, apply, backward on them for ``calls`` calls in all, and destroys them."""
    import threading

    import grpc

    from bnns.v1 import service_pb2_grpc
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list = []
    left = [calls]
    lock, ready = threading.Lock(), threading.Barrier(clients + 1)

    def client(k: int) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = service_pb2_grpc.BNNSServiceStub(channel)
            ids = [stub.CreateFilter(layer.create, timeout=load.CALL_TIMEOUT).filter_id for layer in mix]
            ready.wait()
            turn = k
            while True:
                with lock:
                    if left[0] <= 0:
                        break
                    left[0] -= 1
                layer, handle = mix[turn % len(mix)], ids[turn % len(mix)]
                rpc = HOT_CYCLE[(turn // len(mix)) % len(HOT_CYCLE)]
                turn += 1
                request = layer.apply(handle) if rpc == "FilterApplyBatch" else layer.backward(handle)
                start = time.perf_counter()
                try:
                    response = getattr(stub, rpc)(request, timeout=load.CALL_TIMEOUT, metadata=(("x-bnns-handle", handle),))
                    problem = load.check(rpc, layer, response)
                    if problem:
                        errors.append(problem)
                except grpc.RpcError as error:
                    errors.append(f"{rpc}: {error.code().name}: {error.details()}")
                latencies[k].append((time.perf_counter() - start) * 1e3)
            for handle in ids:
                stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=handle), timeout=load.CALL_TIMEOUT,
                                   metadata=(("x-bnns-handle", handle),))

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start     # includes the destroys at the end: a few calls
    ms = [m for per in latencies for m in per]
    return {"throughput": len(ms) / seconds, **load.percentiles(ms), "errors": len(errors)}


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
            filter_id=ids[core], batch_size=1, **{"in": types_pb2.Buffer(data=x)}))  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter

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
        started: list = []     # every process, stopped at the end
        try:
            single = ServerProcess()
            started.append(single)
            sqlite = ServerProcess("--state-dir", f"{tmp}/sqlite")
            started.append(sqlite)
            everysec = RedisProcess(f"{tmp}/redis-everysec", fsync="everysec")
            started.append(everysec)
            lazy = Replica(everysec.url)
            direct = Replica(redis.url)
            replicas = [Replica(redis.url) for _ in range(3)]
            started += [lazy, direct, *replicas]
            fronts = [NginxProcess(f"{tmp}/nginx{n}", [r.grpc_target for r in replicas[:n]]) for n in (1, 2, 3)]
            started += fronts
            targets = {"single server, no store": single.grpc_target,
                       "single server, SQLite store (--state-dir)": sqlite.grpc_target,
                       "single server, Redis store": direct.grpc_target,
                       "single server, Redis store, appendfsync everysec": lazy.grpc_target,
                       **{f"{n} replica{'s' * (n > 1)} + nginx": f.grpc_target for n, f in zip((1, 2, 3), fronts)}}
            for target in targets.values():
                load.phase(target, mix, clients, warmup, deadline, None)
            results, hot = collections.defaultdict(list), collections.defaultdict(list)
            for _ in range(rounds):
                for name, target in targets.items():
                    measured = load.phase(target, mix, clients, calls, deadline, None)
                    ms = [m for _, m in measured["latencies"]]
                    results[name].append({"throughput": len(ms) / measured["seconds"], **load.percentiles(ms),
                                          "errors": len(measured["errors"])})
                    hot[name].append(hot_phase(target, mix, clients, calls))
            direct_rows = overhead(redis.url)
        finally:
            for process in reversed(started):
                process.stop()
            redis.stop()
    def table(results) -> list:
        rows = []
        floor = statistics.median(r["throughput"] for r in results["single server, no store"])
        for name, per_round in results.items():
            throughput = statistics.median(r["throughput"] for r in per_round)
            rows.append({"setup": name, "throughput": throughput, "vs_floor": throughput / floor,
                         "p50_ms": statistics.median(r["p50_ms"] for r in per_round),
                         "p99_ms": statistics.median(r["p99_ms"] for r in per_round),
                         "errors": sum(r["errors"] for r in per_round)})
        return rows

    columns = [("setup", "setup"), ("throughput", "calls/s"), ("vs_floor", "vs no store"), ("p50_ms", "p50 ms"),
               ("p99_ms", "p99 ms"), ("errors", "errors")]
    rows, hot_rows = table(results), table(hot)
    common.print_table(f"The load mix (create, apply, apply, backward, destroy), {clients} gRPC clients, {calls} calls "
                       f"a round, medians of {rounds} interleaved rounds (2 shared cores: every process on them)",
                       rows, columns)
    common.print_table("Hot handles (each client's filters made once; apply, apply, backward), same rounds", hot_rows,
                       columns)
    common.print_table("What the store adds to one call, in process (medians)", direct_rows,
                       [("what", "what"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("n", "n")])
    path = common.write_json("replicas", {"load": rows, "hot": hot_rows, "rounds": dict(results),
                                          "hot_rounds": dict(hot), "overhead": direct_rows})
    print(f"wrote {path}")
    return {"load": rows, "hot": hot_rows, "overhead": direct_rows}


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
    return 1 if any(r["errors"] for r in summary["load"] + summary["hot"]) else 0


if __name__ == "__main__":
    sys.exit(main())
