"""Every allocation a request causes is bounded before it is made: tiny requests that would make
the server allocate gigabytes are refused with RESOURCE_EXHAUSTED naming the limit, against a
server running under an address-space limit (as `prlimit --as`), which keeps answering health."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bnns.kernels.errors import ResourceExhaustedError
from bnns.server.dataplane import MemoryBudget
from bnns.server.process import ServerProcess
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc
from bnns.v1 import types_pb2 as t

from ..conftest import with_in

MIB = 1 << 20


@pytest.fixture(scope="module")
def live():
    server = ServerProcess("--max-call-bytes", str(256 * MIB), "--max-memory-bytes", str(512 * MIB),
                           address_space_bytes=3 << 30)
    channel = grpc.insecure_channel(server.grpc_target)
    yield server, service_pb2_grpc.BNNSServiceStub(channel), health_pb2_grpc.HealthStub(channel)
    channel.close()
    assert server.stop() == 0, "".join(server.output)


def desc(layout, size, values=None):
    d = t.NDArrayDescriptor(layout=layout, size=size)
    if values is not None:
        d.data.data = np.asarray(values, np.float32).tobytes()
    return d


def refused(call) -> tuple:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def assert_healthy(server, health) -> None:
    assert server.proc.poll() is None
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING


def test_a_tiny_request_for_a_huge_output_is_refused_before_it_allocates(live):
    server, stub, health = live
    create = pb.CreateFilterRequest(arithmetic=t.ArithmeticParameters(
        arithmetic_function=t.ARITHMETIC_FUNCTION_ABS,
        unary=t.ArithmeticUnary(in_=desc(t.DATA_LAYOUT_VECTOR, [1], [-2]), in_type=t.DESCRIPTOR_TYPE_CONSTANT,
                                out=desc(t.DATA_LAYOUT_VECTOR, [1]), out_type=t.DESCRIPTOR_TYPE_SAMPLE)))
    filter_id = stub.CreateFilter(create, timeout=10).filter_id
    apply = pb.ArithmeticFilterApplyBatchRequest(filter_id=filter_id, batch_size=1 << 27)
    getattr(apply, "in").add()            # the Constant operand's entry stays empty
    assert apply.ByteSize() < 40
    code, details = refused(lambda: stub.ArithmeticFilterApplyBatch(apply, timeout=10))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_call_bytes" in details
    for batch_size in (1 << 40, 2**64 - 1):
        apply.batch_size = batch_size
        code, details = refused(lambda: stub.ArithmeticFilterApplyBatch(apply, timeout=10))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "batch_size" in details
    apply.batch_size = 4
    out = stub.ArithmeticFilterApplyBatch(apply, timeout=10).out.data
    assert np.frombuffer(out, np.float32).tolist() == [2, 2, 2, 2]
    assert_healthy(server, health)
    assert server.rss_mib("VmHWM") < 1024


@pytest.mark.parametrize("kind", ["padding", "transposed stride"])
def test_a_filter_whose_one_item_could_not_fit_a_call_is_refused_at_create(live, kind):
    server, stub, health = live
    weights = desc(t.DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW, [1, 1, 1, 1], [1])
    if kind == "padding":    # a 2-pixel input padded by 8192 on every side
        params = t.ConvolutionParameters(i_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, [2, 1, 1]), w_desc=weights,
                                         o_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, [16386, 16385, 1]),
                                         x_padding=8192, y_padding=8192)
        create = pb.CreateFilterRequest(convolution=params)
    else:                    # a transposed convolution with stride 8192 on a 2-pixel input
        params = t.ConvolutionParameters(i_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, [2, 2, 1]), w_desc=weights,
                                         o_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, [8193, 8193, 1]),
                                         x_stride=8192, y_stride=8192)
        create = pb.CreateFilterRequest(transposed_convolution=params)
    code, details = refused(lambda: stub.CreateFilter(create, timeout=10))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_call_bytes" in details, details
    assert_healthy(server, health)


def test_the_memory_budget_queues_calls_that_do_not_fit_and_fails_the_ones_that_never_will():
    budget = MemoryBudget(100, wait_seconds=2.0)
    first = budget.reserve(70)
    order = []

    def second():
        with budget.reserve(60):
            order.append("second ran")

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.2)
    assert order == [] and budget.in_use == 70            # it waits for room
    with first:
        order.append("first done")
    waiter.join(5)
    assert order == ["first done", "second ran"] and budget.in_use == 0
    with pytest.raises(ResourceExhaustedError, match="whole memory budget"):
        budget.reserve(101)
    with budget.reserve(90):
        cancelled = threading.Event()
        cancelled.set()
        with pytest.raises(ResourceExhaustedError, match="taken by calls in flight"):
            budget.reserve(20, cancelled)
    assert budget.in_use == 0


def test_a_small_gzip_message_that_inflates_past_the_cap_is_refused(live):
    """A gzip-compressed request is bounded by its inflated size (--max-message-bytes), not by
    the bytes on the wire: 0.3 MiB of gzip that would inflate to 300 MiB is refused."""
    server, _, health = live
    zeros = np.zeros(75 << 20, np.float32)                          # 300 MiB of zeros
    request = pb.FilterApplyBatchRequest(filter_id="f-0123456789abcdef", batch_size=1,
                                         **with_in(t.Buffer(data=zeros.tobytes())))
    with grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", 1 << 30)],
                               compression=grpc.Compression.Gzip) as channel:
        code, details = refused(lambda: service_pb2_grpc.BNNSServiceStub(channel).FilterApplyBatch(request, timeout=60))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert_healthy(server, health)
    assert server.rss_mib("VmHWM") < 1024
