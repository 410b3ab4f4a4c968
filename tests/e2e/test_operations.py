"""The operational surface: Prometheus metrics counting a known sequence of calls, JSON logs with a
request id, --help listing every setting with its environment variable."""

from __future__ import annotations

import json
import time
import re
import subprocess
import sys

import grpc
import httpx
import numpy as np
import pytest

from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import ServerProcess, with_in
from .test_server_grpc import create_request


@pytest.fixture(scope="module")
def server():
    process = ServerProcess("--log-level", "DEBUG", http=True)    # DEBUG: a log line for every call
    yield process
    assert process.stop() == 0


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r'([a-zA-Z_:]+)(?:\{(.*)\})? (\S+)$', line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == wanted:
                return float(match.group(3))
    return 0.0


def test_metrics_count_a_known_sequence_of_calls(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = service_pb2_grpc.BNNSServiceStub(channel)
        before = httpx.get(server.http_url + "/metrics", timeout=10).text
        created = stub.CreateFilter(create_request(), timeout=10)
        x = np.ones((2, 2, 5, 5), np.float32)
        for _ in range(3):
            stub.FilterApplyBatch(pb.FilterApplyBatchRequest(filter_id=created.filter_id, batch_size=2,
                                                             **with_in(types_pb2.Buffer(data=x.tobytes()))), timeout=10)
        with pytest.raises(grpc.RpcError):
            stub.FilterApplyBatch(pb.FilterApplyBatchRequest(filter_id="f-missing", batch_size=1), timeout=10)
        after = httpx.get(server.http_url + "/metrics", timeout=10).text
        stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=created.filter_id), timeout=10)
    delta = lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)
    assert delta("bnns_requests_total", rpc="FilterApplyBatch", status="OK") == 3
    assert delta("bnns_requests_total", rpc="FilterApplyBatch", status="NOT_FOUND") == 1
    assert delta("bnns_requests_total", rpc="CreateFilter", status="OK") == 1
    assert delta("bnns_request_seconds_count", rpc="FilterApplyBatch", kind="convolution") == 3
    assert delta("bnns_received_bytes_total", rpc="FilterApplyBatch") >= 3 * x.nbytes
    assert delta("bnns_sent_bytes_total", rpc="FilterApplyBatch") >= 3 * 2 * 3 * 25 * 4
    assert metric(after, "bnns_live_handles") - metric(before, "bnns_live_handles") == 1
    assert metric(after, "bnns_handle_bytes") - metric(before, "bnns_handle_bytes") == 54 * 4


def test_logs_are_json_lines_with_request_id(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = service_pb2_grpc.BNNSServiceStub(channel)
        stub.ListFilters(pb.ListFiltersRequest(), timeout=10, metadata=(("x-request-id", "req-test-42"),))
    httpx.get(server.http_url + "/v1/filters", headers={"x-request-id": "req-rest-7"}, timeout=10)
    deadline = time.monotonic() + 10     # the server's output is read by a thread: let it catch up
    while True:
        records = [json.loads(line) for line in list(server.output) if line.startswith("{")]
        by_id = {r.get("request_id"): r for r in records}
        if {"req-test-42", "req-rest-7"} <= set(by_id) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert by_id["req-test-42"]["rpc"] == "ListFilters" and by_id["req-test-42"]["status"] == "OK"
    assert by_id["req-rest-7"]["rpc"] == "ListFilters" and "ms" in by_id["req-rest-7"]


def test_help_lists_every_setting_and_its_environment_variable():
    out = subprocess.run([sys.executable, "-m", "bnns.server.cli", "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    for flag, env in (("--grpc-port", "BNNS_GRPC_PORT"), ("--http-port", "BNNS_HTTP_PORT"),
                      ("--max-message-bytes", "BNNS_MAX_MESSAGE_BYTES"), ("--max-handles", "BNNS_MAX_HANDLES"),
                      ("--no-http", ""), ("--log-level", "BNNS_LOG_LEVEL")):
        assert flag in out and env in out, flag
