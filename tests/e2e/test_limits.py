"""Limits, chunked streaming and cancellation on live servers: what the server refuses it names,
what is too big for one message still gets through in chunks, a cancelled call changes nothing."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

import bnns.client as sdk
from bnns.kernels.errors import ResourceExhaustedError
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import ServerProcess, with_in
from .test_server_grpc import create_request

MIB = 1 << 20


@pytest.fixture(scope="module")
def small_server():
    """A server whose messages are capped at 1 MiB and whose tenants may hold 2 filters of 4 KiB."""
    server = ServerProcess("--max-message-bytes", str(MIB), "--max-handles", "2", "--max-handle-bytes", "4096",
                           "--max-streamed-bytes", str(64 * MIB), "--max-request-bytes", str(40 * MIB))
    yield server
    assert server.stop() == 0


def stub_for(server):
    return service_pb2_grpc.BNNSServiceStub(grpc.insecure_channel(server.grpc_target))


def image(c, h, w, data=None):
    return sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutImageCHW, size=(w, h, c), data=data)


def test_batches_over_the_message_cap_stream_in_chunks(small_server):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    x = rng.standard_normal((64, 2, 64, 64)).astype(np.float32)          # 2 MiB in, 2 MiB out, dx 2 MiB
    outputs = []
    for target in ("local", small_server.grpc_target):
        backend = sdk.connect(target, stream_threshold=256 * 1024)
        p = sdk.BNNSLayerParametersConvolution(
            i_desc=image(2, 64, 64), o_desc=image(2, 64, 64), x_padding=1, y_padding=1,
            w_desc=sdk.BNNSNDArrayDescriptor.from_array(w, sdk.BNNSDataLayoutConvolutionWeightsOIHW))
        f = sdk.BNNSFilterCreateLayerConvolution(p, None)
        y, dx = np.zeros_like(x), np.zeros_like(x)
        assert sdk.BNNSFilterApplyBatch(f, 64, x, x[0].size, y, y[0].size) == 0, sdk.last_error()
        assert sdk.BNNSFilterApplyBackwardBatch(f, 64, x, x[0].size, image(2, 64, 64, dx), x[0].size, y, y[0].size,
                                                image(2, 64, 64, np.ones_like(y)), y[0].size, None, None) == 0
        outputs.append((y, dx))
        sdk.BNNSFilterDestroy(f)
        backend.close()
    sdk.connect("local")
    assert np.array_equal(outputs[0][0], outputs[1][0]) and np.array_equal(outputs[0][1], outputs[1][1])


def test_unary_call_over_the_message_cap_is_resource_exhausted(small_server):
    stub = stub_for(small_server)
    created = stub.CreateFilter(create_request(), timeout=10)
    x = np.zeros((6000, 2, 5, 5), np.float32)      # 1.2 MB > 1 MiB
    with pytest.raises(grpc.RpcError) as err:
        stub.FilterApplyBatch(pb.FilterApplyBatchRequest(filter_id=created.filter_id, batch_size=6000,
                                                         **with_in(types_pb2.Buffer(data=x.tobytes()))), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=created.filter_id), timeout=10)


@pytest.mark.parametrize("chunks, code, phrase", [
    ([pb.MessageChunk(rpc="Nope", total_bytes=4, data=b"abcd")], grpc.StatusCode.INVALID_ARGUMENT, "must name an RPC"),
    ([pb.MessageChunk(rpc="ListFilters", total_bytes=100, data=b"\0" * 50)], grpc.StatusCode.INVALID_ARGUMENT,
     "truncated"),
    ([pb.MessageChunk(rpc="ListFilters", total_bytes=2, data=b"\0" * 50)], grpc.StatusCode.INVALID_ARGUMENT,
     "may not exceed"),
    ([pb.MessageChunk(rpc="FilterApplyBatch", total_bytes=65 * MIB, data=b"")], grpc.StatusCode.RESOURCE_EXHAUSTED,
     "max_streamed_bytes"),
    ([pb.MessageChunk(rpc="ListFilters", total_bytes=3, data=b"\xff\xff\xff")], grpc.StatusCode.INVALID_ARGUMENT,
     "does not parse"),
], ids=["unknown-rpc", "truncated", "overlong", "over-limit", "garbage"])
def test_bad_chunked_calls_are_refused(small_server, chunks, code, phrase):
    with grpc.insecure_channel(small_server.grpc_target) as channel:
        call = channel.stream_stream("/bnns.v1.BNNSService/ChunkedCall",
                                     request_serializer=pb.MessageChunk.SerializeToString,
                                     response_deserializer=pb.MessageChunk.FromString)
        with pytest.raises(grpc.RpcError) as err:
            list(call(iter(chunks), timeout=10))
    assert err.value.code() == code and phrase in (err.value.details() or ""), err.value.details()


def test_handle_limits_name_the_limit(small_server):
    stub = stub_for(small_server)
    big = create_request(c_in=4, c_out=8, hw=5, k=3, weights=np.zeros(4 * 8 * 9, np.float32))   # 1152 bytes
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateFilter(create_request(c_in=16, c_out=16, k=3, weights=np.zeros(16 * 16 * 9, np.float32)),
                          timeout=10)                                                            # 9 KiB > 4 KiB
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_handle_bytes" in (err.value.details() or "")
    ids = [stub.CreateFilter(big, timeout=10).filter_id for _ in range(2)]
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateFilter(create_request(), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_handles" in (err.value.details() or "")
    for filter_id in ids:
        stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=filter_id), timeout=10)
    stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=stub.CreateFilter(create_request(), timeout=10).filter_id),
                       timeout=10)


def test_request_bytes_limit_applies_to_streamed_requests_too(small_server):
    sdk.connect(small_server.grpc_target, stream_threshold=256 * 1024)
    p = sdk.BNNSLayerParametersConvolution(
        i_desc=image(2, 64, 64), o_desc=image(2, 64, 64),
        w_desc=sdk.BNNSNDArrayDescriptor.from_array(np.ones((2, 2, 1, 1), np.float32),
                                                    sdk.BNNSDataLayoutConvolutionWeightsOIHW))
    f = sdk.BNNSFilterCreateLayerConvolution(p, None)
    x = np.zeros((1300, 2, 64, 64), np.float32)          # 42.6 MB > max_request_bytes 40 MiB
    assert sdk.BNNSFilterApplyBatch(f, 1300, x, x[0].size, np.zeros_like(x), x[0].size) == -1
    error = sdk.last_error()
    assert isinstance(error, ResourceExhaustedError) and "max_request_bytes" in str(error)
    sdk.BNNSFilterDestroy(f)
    sdk.connect("local")


def fused_conv_bn(c_in=128, c=256, hw=64, k=15):
    w = np.full((c, c_in, k, k), 1e-4, np.float32)
    conv = types_pb2.ConvolutionParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_IMAGE_CHW, size=[hw, hw, c_in]),
        o_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_IMAGE_CHW, size=[hw, hw, c]),
        w_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW, size=[k, k, c_in, c],
                                           data=types_pb2.Buffer(data=w.tobytes())),
        x_padding=k // 2, y_padding=k // 2)
    zeros = types_pb2.Buffer(data=np.zeros(c, np.float32).tobytes())
    ones = types_pb2.Buffer(data=np.ones(c, np.float32).tobytes())
    vec = lambda data: types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[c], data=data)
    norm = types_pb2.NormalizationParameters(
        type=types_pb2.FILTER_TYPE_BATCH_NORM, i_desc=conv.o_desc, o_desc=conv.o_desc, momentum=0.5, epsilon=1e-5,
        moving_mean_desc=vec(zeros), moving_variance_desc=vec(ones))
    return pb.CreateFilterRequest(fused=types_pb2.FusedParameters(layers=[
        types_pb2.FusedLayerParameters(convolution=conv), types_pb2.FusedLayerParameters(normalization=norm)]))


def fused_apply(filter_id, x, training):
    return pb.FusedFilterApplyBatchRequest(filter_id=filter_id, batch_size=len(x), training=training,
                                           **with_in(types_pb2.Buffer(data=x.tobytes())))


def test_call_cancelled_while_waiting_for_its_handle_changes_nothing(grpc_server):
    """A slow training forward holds the handle; a second training forward on it, whose deadline
    passes while it waits, must never run: the moving statistics are those of the first alone."""
    rng = np.random.default_rng(1)
    # Small to send (8 MB: on the server well before the second call), long to compute (~1 s).
    slow = rng.standard_normal((4, 128, 64, 64)).astype(np.float32)
    quick = (rng.standard_normal((2, 128, 64, 64)) * 5 + 3).astype(np.float32)
    probe = rng.standard_normal((1, 128, 64, 64)).astype(np.float32)
    channel = grpc.insecure_channel(grpc_server.grpc_target, options=[("grpc.max_send_message_length", 1 << 30),
                                                                      ("grpc.max_receive_message_length", 1 << 30)])
    stub = service_pb2_grpc.BNNSServiceStub(channel)
    filter_id = stub.CreateFilter(fused_conv_bn(), timeout=10).filter_id
    outcome = {}

    def slow_call():
        outcome["slow"] = stub.FusedFilterApplyBatch(fused_apply(filter_id, slow, True), timeout=120)

    worker = threading.Thread(target=slow_call)
    worker.start()
    time.sleep(0.5)                                        # the slow call now holds the handle
    with pytest.raises(grpc.RpcError) as err:
        stub.FusedFilterApplyBatch(fused_apply(filter_id, quick, True), timeout=0.15)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    worker.join(120)
    assert "slow" in outcome
    after = stub.FusedFilterApplyBatch(fused_apply(filter_id, probe, False), timeout=60).out.data
    stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=filter_id), timeout=10)
    # Control: the same filter in process, given only the slow call.
    from bnns.server.core import Core
    control = Core()
    control_id = control.call("CreateFilter", fused_conv_bn()).filter_id
    control.call("FusedFilterApplyBatch", fused_apply(control_id, slow, True))
    expected = control.call("FusedFilterApplyBatch", fused_apply(control_id, probe, False)).out.data
    assert after == expected
    channel.close()


def test_a_training_forward_whose_deadline_passes_while_it_runs_changes_nothing(grpc_server):
    """The deadline passes in the middle of the kernel: the moving statistics and the backward
    cache are put back, so the filter is as if the call had never come."""
    rng = np.random.default_rng(2)
    slow = rng.standard_normal((4, 128, 64, 64)).astype(np.float32) * 3 + 1      # ~1 s to compute
    probe = rng.standard_normal((1, 128, 64, 64)).astype(np.float32)
    channel = grpc.insecure_channel(grpc_server.grpc_target, options=[("grpc.max_send_message_length", 1 << 30),
                                                                      ("grpc.max_receive_message_length", 1 << 30)])
    stub = service_pb2_grpc.BNNSServiceStub(channel)
    filter_id = stub.CreateFilter(fused_conv_bn(), timeout=10).filter_id
    with pytest.raises(grpc.RpcError) as err:
        stub.FusedFilterApplyBatch(fused_apply(filter_id, slow, True), timeout=0.4)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    after = stub.FusedFilterApplyBatch(fused_apply(filter_id, probe, False), timeout=60).out.data  # waits its turn
    d_out = np.ones((1, 256, 64, 64), np.float32)
    backward = pb.FusedFilterApplyBackwardBatchRequest(filter_id=filter_id, batch_size=1, compute_in_delta=True,
                                                       out_delta=types_pb2.Buffer(data=d_out.tobytes()),
                                                       **with_in(types_pb2.Buffer(data=probe.tobytes())))
    with pytest.raises(grpc.RpcError) as err:           # no cache from the call that did not complete
        stub.FusedFilterApplyBackwardBatch(backward, timeout=60)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=filter_id), timeout=10)
    from bnns.server.core import Core
    control = Core()
    control_id = control.call("CreateFilter", fused_conv_bn()).filter_id
    assert after == control.call("FusedFilterApplyBatch", fused_apply(control_id, probe, False)).out.data
    channel.close()


def test_core_puts_back_statistics_and_cache_of_a_training_forward_cancelled_mid_kernel():
    """The same, deterministically, in process: cancelled 0.2 s into a ~1 s kernel."""
    from bnns.kernels.errors import CancelledError
    from bnns.server.core import Core
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 128, 64, 64)).astype(np.float32) * 3 + 1
    probe = rng.standard_normal((1, 128, 64, 64)).astype(np.float32)
    core, control = Core(), Core()
    filter_id = core.call("CreateFilter", fused_conv_bn()).filter_id
    control_id = control.call("CreateFilter", fused_conv_bn()).filter_id
    cancelled = threading.Event()
    timer = threading.Timer(0.2, cancelled.set)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(CancelledError):
        core.call("FusedFilterApplyBatch", fused_apply(filter_id, x, True), cancelled=cancelled)
    assert time.perf_counter() - started > 0.2               # it was running when the cancel came
    assert not core.registry.get(filter_id).filter.has_training_cache
    assert core.call("FusedFilterApplyBatch", fused_apply(filter_id, probe, False)).out.data == \
        control.call("FusedFilterApplyBatch", fused_apply(control_id, probe, False)).out.data


def test_sigterm_exits_within_grace_plus_one_second_and_refuses_new_work_meanwhile():
    """A long call in flight, SIGTERM with a 1 s grace: both doors refuse new calls as UNAVAILABLE
    at once, health says NOT_SERVING, and the process is gone within grace + 1 s."""
    import httpx
    import signal
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    server = ServerProcess("--grace-seconds", "1", http=True)
    channel = grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", 1 << 30),
                                                                 ("grpc.max_receive_message_length", 1 << 30)])
    stub, health = service_pb2_grpc.BNNSServiceStub(channel), health_pb2_grpc.HealthStub(channel)
    filter_id = stub.CreateFilter(fused_conv_bn(), timeout=10).filter_id
    slow = np.ones((16, 128, 64, 64), np.float32)                       # several seconds of kernel
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("code", _code_of(
        lambda: stub.FusedFilterApplyBatch(fused_apply(filter_id, slow, False), timeout=60))))
    worker.start()
    watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=30)  # type: ignore[attr-defined]  # opened before the signal (the stubs' HealthStub has no methods)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    time.sleep(1.0)                                                      # the call is computing
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    time.sleep(0.2)
    assert _code_of(lambda: stub.ListFilters(pb.ListFiltersRequest(), timeout=2)) == grpc.StatusCode.UNAVAILABLE
    rest = httpx.get(server.http_url + "/v1/filters", timeout=2)
    assert rest.status_code == 503 and rest.json()["error"]["status"] == "UNAVAILABLE"
    server.proc.wait(10)
    assert time.monotonic() - signalled < 1 + 1 + 0.5, "the server outlived grace + 1 s"
    worker.join(10)
    assert outcome["code"] in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    channel.close()


def _code_of(call) -> grpc.StatusCode:
    try:
        call()
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


def test_handle_bytes_count_what_a_handle_grows_by_and_refuse_it_before_it_grows():
    """max_handle_bytes covers optimizer accumulators and training caches, checked before they
    are allocated (they once reached six times the limit unseen)."""
    from bnns.kernels.errors import ResourceExhaustedError
    from bnns.server import codec
    from bnns.server.core import Core
    from bnns.server.registry import Registry
    core = Core(Registry(max_handle_bytes=64 << 10), codec.Limits())
    w = np.zeros((64, 64), np.float32)                                    # 16 KiB of weights
    create = pb.CreateFilterRequest(fully_connected=types_pb2.FullyConnectedParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[64]),
        o_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[64]),
        w_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_ROW_MAJOR_MATRIX, size=[64, 64],
                                           data=types_pb2.Buffer(data=w.tobytes()))))
    ids = [core.call("CreateFilter", create).filter_id for _ in range(2)]  # 32 KiB held
    step = pb.OptimizerStepRequest(function=types_pb2.OPTIMIZER_FUNCTION_ADAM)
    step.fields.learning_rate = 0.1
    for filter_id in ids:
        step.parameters.add().filter_parameter.CopyFrom(pb.FilterParameterRef(filter_id=filter_id, name="weights"))
        step.gradients.add(data=np.ones(64 * 64, np.float32).tobytes())
    with pytest.raises(ResourceExhaustedError, match="max_handle_bytes"):  # Adam's m and v: 64 KiB more
        core.call("OptimizerStep", step)
    assert all(not core.registry.get(i).optimizer_state for i in ids)      # nothing was allocated
    del step.parameters[1], step.gradients[1]
    core.call("OptimizerStep", step)                                       # one filter's moments fit
    held = sum(e.bytes_held for e in core.registry.all_entries())
    assert held == 2 * (16 << 10) + 2 * (16 << 10)                         # two weights, one m and one v


def test_a_training_cache_counts_and_is_refused_before_it_is_made():
    from bnns.kernels.errors import ResourceExhaustedError
    from bnns.server import codec
    from bnns.server.core import Core
    from bnns.server.registry import Registry
    core = Core(Registry(max_handle_bytes=1 << 20), codec.Limits())
    c = 4
    vec = lambda: types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[c], data=types_pb2.Buffer(
        data=np.ones(c, np.float32).tobytes()))
    img = types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_IMAGE_CHW, size=[32, 32, c])
    filter_id = core.call("CreateFilter", pb.CreateFilterRequest(normalization=types_pb2.NormalizationParameters(
        type=types_pb2.FILTER_TYPE_BATCH_NORM, i_desc=img, o_desc=img, beta_desc=vec(), gamma_desc=vec(),
        momentum=0.9, epsilon=1e-5))).filter_id

    def train(n):
        x = np.random.default_rng(n).standard_normal((n, c, 32, 32)).astype(np.float32)
        return core.call("NormalizationFilterApplyBatch", pb.NormalizationFilterApplyBatchRequest(
            filter_id=filter_id, batch_size=n, training=True, **with_in(types_pb2.Buffer(data=x.tobytes()))))

    train(8)                                                   # a 128 KiB cache: counted
    assert core.registry.get(filter_id).bytes_held > 8 * c * 32 * 32 * 4
    with pytest.raises(ResourceExhaustedError, match="training cache"):
        train(64)                                              # about 2 MiB: over the 1 MiB limit
    assert core.registry.get(filter_id).filter.has_training_cache


def test_a_cancelled_call_stops_its_kernel_between_samples():
    """The server stops computing for a caller who has gone: a convolution cancelled early in a
    16-sample batch stops at its next sample instead of running the batch to its end."""
    from bnns.kernels.errors import CancelledError
    from bnns.server.core import Core
    core = Core()
    filter_id = core.call("CreateFilter", create_request(c_in=64, c_out=64, hw=48, k=5, pad=2,
                                                         weights=np.full(64 * 64 * 25, 1e-3, np.float32))).filter_id
    x = np.ones((16, 64, 48, 48), np.float32)
    request = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=16, **with_in(types_pb2.Buffer(data=x.tobytes())))
    started = time.perf_counter()
    core.call("FilterApplyBatch", request)
    whole = time.perf_counter() - started
    cancelled = threading.Event()
    timer = threading.Timer(whole / 8, cancelled.set)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(CancelledError, match="while its kernel ran"):
        core.call("FilterApplyBatch", request, cancelled=cancelled)
    assert time.perf_counter() - started < 0.6 * whole, (time.perf_counter() - started, whole)
