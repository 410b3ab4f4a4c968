"""The REST door under connection abuse: stalled request heads are closed after the header
timeout, a stalled body is refused after the body timeout, and past the connection limit idle
connections make room, so health keeps answering on both doors throughout."""

from __future__ import annotations

import socket
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bnns.server.process import ServerProcess

from ..conftest import with_in


@pytest.fixture(scope="module")
def server():
    process = ServerProcess("--http-header-seconds", "1", "--http-body-seconds", "1", "--http-max-connections", "40",
                            http=True)
    yield process
    assert process.stop() == 0


def half_open(port: int, count: int) -> list:
    """Connections that send the start of a request head and nothing more."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /v1/filters HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    return sockets


def closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closed the connection (an orderly close, or a reset: a connection
    closed with request bytes still unread is reset)."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def healthy(server) -> bool:
    rest = httpx.get(server.http_url + "/v2/health/ready", timeout=5).status_code == 200
    with grpc.insecure_channel(server.grpc_target) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
            health_pb2.HealthCheckRequest(), timeout=5).status
    return rest and status == health_pb2.HealthCheckResponse.SERVING


def test_stalled_request_heads_are_closed_after_the_header_timeout(server):
    sockets = half_open(server.ports["REST"], 10)
    try:
        assert healthy(server)
        assert all(closed(sock, 5) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_past_the_connection_limit_idle_connections_make_room_for_health(server):
    sockets = half_open(server.ports["REST"], 120)            # three times the limit
    try:
        started = time.monotonic()
        for _ in range(5):
            assert healthy(server)
        assert time.monotonic() - started < 5
        open_now = sum(not closed(sock, 0.01) for sock in sockets)
        assert open_now <= 40
    finally:
        for sock in sockets:
            sock.close()


def test_a_stalled_body_is_refused_after_the_body_timeout(server):
    sock = socket.create_connection(("127.0.0.1", server.ports["REST"]), timeout=10)
    try:
        sock.sendall(b"POST /v1/filters HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"convolution\"")
        sock.settimeout(10)
        reply = b""
        while b"DEADLINE_EXCEEDED" not in reply:       # the head and the body may come apart
            piece = sock.recv(4096)
            if not piece:
                break
            reply += piece
        assert reply.startswith(b"HTTP/1.1 408") and b"DEADLINE_EXCEEDED" in reply, reply[:300]
    finally:
        sock.close()
    assert healthy(server)


def test_a_json_body_has_its_own_smaller_cap():
    """A JSON list of numbers costs ~50x its size once parsed: JSON bodies are capped at
    --max-json-bytes, binary ones at --max-message-bytes."""
    server = ServerProcess("--max-json-bytes", str(64 << 10), http=True, address_space_bytes=3 << 30)
    try:
        numbers = b'{"batch_size": 1, "in": {"values": [' + b",".join([b"1.0"] * 40000) + b"]}}"
        refused = httpx.post(server.http_url + "/v1/filters/f-0123456789abcdef:filterApplyBatch", content=numbers,
                             headers={"content-type": "application/json"}, timeout=10)
        assert refused.status_code == 413 and "max_json_bytes" in refused.json()["error"]["message"]
        from bnns.v1 import service_pb2, types_pb2
        large = service_pb2.FilterApplyBatchRequest(batch_size=1, **with_in(types_pb2.Buffer(data=bytes(400000))))
        binary = httpx.post(server.http_url + "/v1/filters/f-0123456789abcdef:filterApplyBatch",
                            content=large.SerializeToString(), headers={"content-type": "application/x-protobuf"},
                            timeout=10)
        assert binary.status_code == 404                     # 400 KB binary passed the cap: no such filter
        assert healthy(server)
    finally:
        assert server.stop() == 0
