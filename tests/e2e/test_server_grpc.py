"""The live server through the raw generated stub: what a non-Python client sees."""

from __future__ import annotations

import signal
import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import ServerProcess, with_in

IMAGE_CHW, OIHW, F32 = types_pb2.DATA_LAYOUT_IMAGE_CHW, types_pb2.DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW, types_pb2.DATA_TYPE_FLOAT32


def create_request(c_in=2, c_out=3, hw=5, k=3, pad=1, weights=None, groups=0):
    weights = np.arange(c_out * c_in * k * k, dtype=np.float32) / 10 if weights is None else weights
    return pb.CreateFilterRequest(convolution=types_pb2.ConvolutionParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=IMAGE_CHW, size=[hw, hw, c_in], data_type=F32),
        o_desc=types_pb2.NDArrayDescriptor(layout=IMAGE_CHW, size=[hw, hw, c_out], data_type=F32),
        w_desc=types_pb2.NDArrayDescriptor(layout=OIHW, size=[k, k, c_in // max(groups, 1), c_out], data_type=F32,
                                           data=types_pb2.Buffer(data=weights.tobytes())),
        x_padding=pad, y_padding=pad, groups=groups))


@pytest.fixture(scope="module")
def stub(grpc_server):
    channel = grpc.insecure_channel(grpc_server.grpc_target, options=[
        ("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)])
    yield service_pb2_grpc.BNNSServiceStub(channel)
    channel.close()


def apply(stub, filter_id, x, batch):
    return stub.FilterApplyBatch(pb.FilterApplyBatchRequest(
        filter_id=filter_id, batch_size=batch, **with_in(types_pb2.Buffer(data=x.tobytes()))), timeout=30)


def test_raw_stub_create_apply_describe_destroy(stub):
    created = stub.CreateFilter(create_request(), timeout=10)
    x = np.ones((2, 2, 5, 5), np.float32)
    y = np.frombuffer(apply(stub, created.filter_id, x, 2).out.data, np.float32).reshape(2, 3, 5, 5)
    w = (np.arange(54, dtype=np.float32) / 10).reshape(3, 2, 3, 3)
    assert np.allclose(y[:, :, 2, 2], w.sum(axis=(1, 2, 3)))             # interior: all taps see ones
    assert np.allclose(y[:, :, 0, 0], w[:, :, 1:, 1:].sum(axis=(1, 2, 3)))   # corner: zero padding
    info = stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=created.filter_id), timeout=10).info
    assert info.kind == "convolution" and info.bytes_held == 54 * 4
    assert not info.parameters.convolution.w_desc.HasField("data")        # described without tensor data
    assert created.filter_id in [f.filter_id for f in stub.ListFilters(pb.ListFiltersRequest(), timeout=10).filters]
    stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=created.filter_id), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        apply(stub, created.filter_id, x, 2)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("request_change, code, phrase", [
    (lambda r: r.convolution.o_desc.size.__setitem__(0, 4), grpc.StatusCode.INVALID_ARGUMENT, "does not match"),
    (lambda r: setattr(r.convolution.w_desc.data, "data", b"\0" * 10), grpc.StatusCode.INVALID_ARGUMENT, "not a multiple"),
    (lambda r: setattr(r.convolution.w_desc.data, "data", b"\0" * 8), grpc.StatusCode.INVALID_ARGUMENT, "needs exactly 54"),
    (lambda r: setattr(r.convolution.i_desc, "layout", 0x77777), grpc.StatusCode.INVALID_ARGUMENT, "unknown data layout"),
    (lambda r: setattr(r.convolution, "groups", 4), grpc.StatusCode.INVALID_ARGUMENT, "groups 4 must divide"),
    (lambda r: r.ClearField("convolution"), grpc.StatusCode.INVALID_ARGUMENT, "layer is not set"),
    (lambda r: setattr(r.convolution.activation, "alpha", float("nan")), grpc.StatusCode.INVALID_ARGUMENT, "finite"),
], ids=["output-size", "truncated-weights", "short-weights", "layout", "groups", "no-layer", "nan-alpha"])
def test_bad_create_requests_get_clear_status(stub, request_change, code, phrase):
    request = create_request()
    request_change(request)
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateFilter(request, timeout=10)
    assert err.value.code() == code and phrase in (err.value.details() or ""), err.value.details()


def test_bad_apply_leaves_existing_handle_intact(stub):
    keep = stub.CreateFilter(create_request(), timeout=10).filter_id
    x = np.random.default_rng(0).standard_normal((3, 2, 5, 5)).astype(np.float32)
    before = apply(stub, keep, x, 3).out.data
    for bad in (x[:2], x.astype(np.float64)):   # too few elements; wrong element size
        with pytest.raises(grpc.RpcError) as err:
            apply(stub, keep, bad, 3)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stub.FilterApplyBackwardBatch(pb.FilterApplyBackwardBatchRequest(
            filter_id=keep, batch_size=3, out_delta=types_pb2.Buffer(data=b"\0" * 4), compute_in_delta=True), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert apply(stub, keep, x, 3).out.data == before


def test_large_batch_passes_the_raised_message_limit(stub):
    # 64 MiB in, 96 MiB out: far over gRPC's 4 MiB default.
    created = stub.CreateFilter(create_request(c_in=2, c_out=3, hw=64, k=1, pad=0,
                                               weights=np.ones(6, np.float32)), timeout=10)
    n = 64 * 1024 * 1024 // (2 * 64 * 64 * 4)
    x = np.ones((n, 2, 64, 64), np.float32)
    out = np.frombuffer(apply(stub, created.filter_id, x, n).out.data, np.float32)
    assert out.size == n * 3 * 64 * 64 and np.all(out == 2.0)


def test_health_and_reflection_are_served(grpc_server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
            health_pb2.HealthCheckRequest(service="bnns.v1.BNNSService"), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(  # type: ignore[operator]  # the stubs leave it untyped
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert "bnns.v1.BNNSService" in names and "grpc.health.v1.Health" in names


def test_sigterm_drains_in_flight_calls_and_exits_cleanly():
    server = ServerProcess("--grace-seconds", "30")
    channel = grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", 1 << 30),
                                                                 ("grpc.max_receive_message_length", 1 << 30)])
    stub = service_pb2_grpc.BNNSServiceStub(channel)
    # Small to send (8 MB, on the server well before the signal even on a loaded machine), long to
    # compute: 15x15 kernel, 128 -> 512 channels, 4 x 64 x 64: ~480 GFLOP, about 2 s here.
    created = stub.CreateFilter(create_request(c_in=128, c_out=512, hw=64, k=15, pad=7,
                                               weights=np.full(512 * 128 * 225, 1e-4, np.float32)), timeout=30)
    x = np.ones((4, 128, 64, 64), np.float32)
    result = {}

    def slow_call():
        try:
            result["out"] = apply(stub, created.filter_id, x, 4)
            result["done"] = time.monotonic()
        except grpc.RpcError as error:
            result["error"] = error

    idle = server.cpu_seconds()
    worker = threading.Thread(target=slow_call)
    worker.start()
    # Signal once the server is computing the call (0.3 s of its CPU beyond what it used idle): on a
    # loaded machine a fixed pause could signal before the request arrived, or after it finished.
    deadline = time.monotonic() + 30
    while server.cpu_seconds() - idle < 0.3 and "out" not in result and time.monotonic() < deadline:
        time.sleep(0.02)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    worker.join(60)
    assert "out" in result, result.get("error")
    assert result["done"] > signalled, "the call finished before the signal: nothing was drained"
    assert len(result["out"].out.data) == 4 * 512 * 64 * 64 * 4
    assert server.proc.wait(30) == 0
    channel.close()


def test_health_watch_reports_not_serving_when_draining():
    server = ServerProcess("--grace-seconds", "5")
    with grpc.insecure_channel(server.grpc_target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
            health_pb2.HealthCheckRequest(service="bnns.v1.BNNSService"), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        server.proc.send_signal(signal.SIGTERM)
        statuses = []
        try:
            for update in watch:
                statuses.append(update.status)
        except grpc.RpcError:
            pass            # the server closes the stream once it stops
        assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses
    assert server.proc.wait(30) == 0
