"""ChunkedCall streams are bounded: in number (in all and per tenant), in idle and total time, and
in the shape of their chunks (in order, no duplicates, gaps or dust); idle streams never starve
other calls or the health check."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bnns.server.process import ServerProcess
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc

KIB = 1 << 10
CHUNK = 256 * KIB


@pytest.fixture(scope="module")
def server():
    process = ServerProcess("--workers", "4", "--max-streams", "2", "--max-streams-per-tenant", "2",
                            "--stream-idle-seconds", "2", "--stream-total-seconds", "30")
    yield process
    assert process.stop() == 0


def chunked(channel, raw: bool = False):
    return channel.stream_stream("/bnns.v1.BNNSService/ChunkedCall",
                                 request_serializer=None if raw else pb.MessageChunk.SerializeToString,
                                 response_deserializer=pb.MessageChunk.FromString)


def first_chunk(total: int = 4 * CHUNK) -> pb.MessageChunk:
    return pb.MessageChunk(rpc="ListFilters", total_bytes=total, offset=0, data=b"\0" * CHUNK)


def stalled(release: threading.Event):
    """A request stream that sends one chunk and then waits."""
    yield first_chunk()
    release.wait(60)


def outcome(call) -> grpc.StatusCode:
    try:
        list(call)
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


def test_stalled_streams_are_bounded_and_never_starve_unary_calls_or_health(server):
    release = threading.Event()
    channel = grpc.insecure_channel(server.grpc_target)
    stub, health = service_pb2_grpc.BNNSServiceStub(channel), health_pb2_grpc.HealthStub(channel)
    codes, threads = [], []
    try:
        for _ in range(2):     # the server's max_streams: both wait for chunks that never come
            call = chunked(channel)(stalled(release), timeout=60)
            threads.append(threading.Thread(target=lambda c=call: codes.append(outcome(c))))
            threads[-1].start()
        time.sleep(0.5)
        extra = chunked(channel)(stalled(threading.Event()), timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            list(extra)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_streams" in (err.value.details() or "")
        started = time.monotonic()
        for _ in range(20):
            stub.ListFilters(pb.ListFiltersRequest(), timeout=2)
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=2).status  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
            assert status == health_pb2.HealthCheckResponse.SERVING
        assert time.monotonic() - started < 5
        for thread in threads:     # the idle timeout (2 s) cancels both
            thread.join(15)
        assert codes == [grpc.StatusCode.CANCELLED] * 2
        # Their slots are free again.
        body = pb.ListFiltersRequest().SerializeToString()
        reply = list(chunked(channel)(iter([pb.MessageChunk(rpc="ListFilters", total_bytes=len(body), data=body)]),
                                      timeout=10))
        assert reply and reply[0].total_bytes == 0
    finally:
        release.set()
        channel.close()


@pytest.mark.parametrize("chunks, phrase", [
    ([first_chunk(), pb.MessageChunk(offset=0, data=b"\0" * CHUNK)], "duplicate, gap or overlap"),
    ([first_chunk(), pb.MessageChunk(offset=2 * CHUNK, data=b"\0" * CHUNK)], "duplicate, gap or overlap"),
    ([pb.MessageChunk(rpc="ListFilters", total_bytes=200, offset=0, data=b"")] +
     [pb.MessageChunk(offset=0, data=b"") for _ in range(200)], "only the last chunk may be shorter"),
], ids=["duplicate", "gap", "dust"])
def test_out_of_order_or_tiny_chunks_are_refused(server, chunks, phrase):
    with grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            list(chunked(channel)(iter(chunks), timeout=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and phrase in (err.value.details() or ""), \
        err.value.details()


def test_an_undecodable_chunk_is_invalid_argument_not_internal(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            list(chunked(channel, raw=True)(iter([b"\xff\xff\xff"]), timeout=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "MessageChunk" in (err.value.details() or "")


def test_max_streams_must_leave_workers_for_other_calls():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "bnns.server.cli", "--workers", "2", "--max-streams", "2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--max-streams 2 must be below --workers 2" in done.stderr
