"""Transport cost on a 16 MiB tensor: the same FilterApplyBatch over gRPC, REST with binary
protobuf bodies, REST with JSON (base64), and in process; interleaved so that machine noise hits
all of them alike. Issue 5's target: REST binary no slower than 1.5x gRPC.

    python -m bench.transport [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import grpc
import httpx
import numpy as np

from bnns.server.core import Core
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from . import common

SIDE = 2048                      # one 2048x2048 float32 image: 16 MiB in, 16 MiB out


def create_request():
    desc = lambda: types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_IMAGE_CHW, size=[SIDE, SIDE, 1])
    return pb.CreateFilterRequest(convolution=types_pb2.ConvolutionParameters(
        i_desc=desc(), o_desc=desc(),
        w_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW, size=[1, 1, 1, 1],
                                           data=types_pb2.Buffer(data=np.ones(1, np.float32).tobytes()))))


def run(quick: bool = False) -> dict:
    rounds = 10 if quick else 30
    # A 16 MiB tensor as JSON base64 is 22 MiB: over the default --max-json-bytes (16 MiB), raised here.
    server = common.ServerProcess("--max-json-bytes", str(64 << 20), http=True)
    ports = server.ports
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{ports['gRPC']}", options=[
            ("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)])
        stub = service_pb2_grpc.BNNSServiceStub(channel)
        http = httpx.Client(base_url=f"http://127.0.0.1:{ports['REST']}", timeout=60)
        filter_id = stub.CreateFilter(create_request(), timeout=30).filter_id
        core = Core()
        local_id = core.call("CreateFilter", create_request()).filter_id
        x = np.random.default_rng(0).standard_normal(SIDE * SIDE).astype(np.float32)
        request = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=1,
                                             **{"in": types_pb2.Buffer(data=x.tobytes())})  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter
        body = request.SerializeToString()
        json_body = json.dumps({"batch_size": 1, "in": {"data": __import__("base64").b64encode(x.tobytes()).decode()}})
        local_request = pb.FilterApplyBatchRequest(filter_id=local_id, batch_size=1,
                                                   **{"in": types_pb2.Buffer(data=x.tobytes())})  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter
        url = f"/v1/filters/{filter_id}:filterApplyBatch"
        ways = {
            "gRPC (raw stub)": lambda: stub.FilterApplyBatch(request, timeout=60),
            "REST, binary protobuf": lambda: http.post(url, content=body, headers={
                "content-type": "application/x-protobuf", "accept": "application/x-protobuf"}).raise_for_status(),
            "REST, JSON base64": lambda: http.post(url, content=json_body,
                                                   headers={"content-type": "application/json"}).raise_for_status(),
            "in process (Core, no transport)": lambda: core.call("FilterApplyBatch", local_request),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for fn in ways.values():
            fn()
        for _ in range(rounds):
            for name, fn in ways.items():
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
        grpc_median = statistics.median(times["gRPC (raw stub)"])
        rows = [{"way": name, "median_ms": statistics.median(t), "min_ms": min(t),
                 "vs_grpc": f"{statistics.median(t) / grpc_median:.2f}x"} for name, t in times.items()]
        common.print_table(f"One FilterApplyBatch with a 16 MiB input and output (1x1 convolution, {rounds} "
                           "interleaved rounds, loopback)", rows,
                           [("way", "transport"), ("median_ms", "median ms"), ("min_ms", "min ms"),
                            ("vs_grpc", "time / gRPC's")])
        ratio = statistics.median(times["REST, binary protobuf"]) / grpc_median
        print(f"\nIssue 5 target: REST binary within 1.5x of gRPC: {ratio:.2f}x -> {'MET' if ratio <= 1.5 else 'NOT MET'}")
        path = common.write_json("transport", {"rows": rows, "rest_binary_vs_grpc": ratio})
        print(f"wrote {path}")
        return {"rows": rows}
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
