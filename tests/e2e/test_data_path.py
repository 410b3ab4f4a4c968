"""The three kinds of buffer: bytes, tensors held by the server, and same-host shared memory.

SDK tests run on both backends (the `bnns` fixture: in process and against a live server);
server-side checks (tenants, bad input, the shared-memory switch) use real servers and raw gRPC /
REST calls, as a client in another language would make them.
"""

from __future__ import annotations

import threading
from multiprocessing import shared_memory

import grpc
import httpx
import numpy as np
import pytest

from bnns.kernels.errors import InvalidArgumentError, NotFoundError
from bnns.server.process import ServerProcess
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import with_in


# --------------------------------------------------------------------------------- helpers

def image(bnns, c, h, w, data=None, flags=0):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data, flags=flags)


def conv(bnns, w, b=None, flags=None, pad=1):
    """A 3x3 convolution over 8x8 images; ``w`` and ``b`` may be arrays or server tensors."""
    n_out, n_in = w.shape[:2]
    p = bnns.BNNSLayerParametersConvolution(
        i_desc=image(bnns, n_in, 8, 8), o_desc=image(bnns, n_out, 8, 8),
        w_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, n_in, n_out),
                                          data=w),
        bias=None if b is None else bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n_out,),
                                                                data=b),
        x_padding=pad, y_padding=pad)
    f = bnns.BNNSFilterCreateLayerConvolution(p, bnns.BNNSFilterParameters(flags=flags) if flags else None)
    assert f is not None, bnns.last_error()
    return f


def weights(rng, n_out=4, n_in=3):
    return (rng.standard_normal((n_out, n_in, 3, 3)) * 0.3).astype(np.float32)


def call_backward(bnns, f, n, x, dx, y, dy, dw):
    return bnns.BNNSFilterApplyBackwardBatch(f, n, x, 0, dx, 0, y, 0, dy, 0, dw, None)


# ------------------------------------------------------------------------- server tensors

def test_tensor_round_trip_create_write_read_describe_destroy(bnns):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = bnns.BNNSTensor.from_array(x, name="x")
    assert (t.shape, t.rank, t.stride, t.data_size_in_bytes, t.name) == ((2, 3, 4), 3, (12, 4, 1), 96, "x")
    np.testing.assert_array_equal(t.numpy(), x)
    t.write(np.full(4, -1, np.float32), offset=20)
    np.testing.assert_array_equal(t.read(offset=18), [18, 19, -1, -1, -1, -1])
    listed = t.backend.call("ListTensors", pb.ListTensorsRequest()).tensors
    assert t.tensor_id in {info.tensor_id for info in listed}
    t.destroy()
    with pytest.raises(NotFoundError):
        t.backend.call("DescribeTensor", pb.DescribeTensorRequest(tensor_id=t.tensor_id))
    after = t.backend.call("ListTensors", pb.ListTensorsRequest()).tensors
    assert t.tensor_id not in {info.tensor_id for info in after}


def test_forward_and_backward_on_server_tensors_equal_the_array_path_bit_for_bit(bnns):
    rng = np.random.default_rng(1)
    w = weights(rng)
    f = conv(bnns, w)
    x = rng.standard_normal((5, 3, 8, 8)).astype(np.float32)
    dy = rng.standard_normal((5, 4, 8, 8)).astype(np.float32)
    # Arrays, as BNNS on a Mac.
    y, dx, dw = np.zeros((5, 4, 8, 8), np.float32), np.zeros_like(x), np.zeros_like(w)
    assert bnns.BNNSFilterApplyBatch(f, 5, x, 0, y, 0) == 0
    assert call_backward(bnns, f, 5, x, image(bnns, 3, 8, 8, dx), y, image(bnns, 4, 8, 8, dy),
                         bnns.BNNSNDArrayDescriptor.from_array(dw, bnns.BNNSDataLayoutConvolutionWeightsOIHW)) == 0
    # The same calls with every buffer on the server.
    tx, tdy = bnns.BNNSTensor.from_array(x), bnns.BNNSTensor.from_array(dy)
    ty, tdx, tdw = (bnns.BNNSTensor.empty(a.shape) for a in (y, dx, dw))
    assert bnns.BNNSFilterApplyBatch(f, 5, tx, 0, ty, 0) == 0, bnns.last_error()
    weights_delta = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, 3, 4),
                                               data=tdw)
    assert call_backward(bnns, f, 5, tx, image(bnns, 3, 8, 8, tdx), ty, image(bnns, 4, 8, 8, tdy),
                         weights_delta) == 0, bnns.last_error()
    for tensor, expected in ((ty, y), (tdx, dx), (tdw, dw)):
        assert tensor.numpy().tobytes() == expected.tobytes()


def test_accumulate_flag_adds_into_a_server_tensor(bnns):
    rng = np.random.default_rng(2)
    w = weights(rng)
    f = conv(bnns, w)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    dy = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    start = rng.standard_normal(w.shape).astype(np.float32)
    expected = start.copy()
    accumulate = bnns.BNNSNDArrayFlagBackpropAccumulate
    desc = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, 3, 4),
                                      data=expected, flags=accumulate)
    assert call_backward(bnns, f, 2, x, None, None, image(bnns, 4, 8, 8, dy), desc) == 0
    t = bnns.BNNSTensor.from_array(start)
    desc.data = t
    assert call_backward(bnns, f, 2, x, None, None, image(bnns, 4, 8, 8, dy), desc) == 0
    assert t.numpy().tobytes() == expected.tobytes()


def test_client_pointer_weights_in_a_tensor_follow_the_optimizer(bnns):
    """BNNSFlagsUseClientPtr with the weights in a server tensor: stepping the tensor changes the
    filter, exactly as stepping a bound array does."""
    rng = np.random.default_rng(3)
    w = weights(rng)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    grad = rng.standard_normal(w.shape).astype(np.float32)
    adam = bnns.BNNSOptimizerAdamFields(learning_rate=0.05, time_step=1)
    # Reference: the caller's array bound to the filter (accumulators kept by the server).
    w_array = w.copy()
    bound = conv(bnns, w_array, flags=bnns.BNNSFlagsUseClientPtr)
    desc = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, 3, 4),
                                      data=w_array)
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, adam, 1, [desc],
                                  [bnns.BNNSNDArrayDescriptor(data=grad)], None) == 0, bnns.last_error()
    # The tensor form: weights and gradient on the server.
    w_tensor = bnns.BNNSTensor.from_array(w)
    resident = conv(bnns, w_tensor, flags=bnns.BNNSFlagsUseClientPtr)
    desc.data = w_tensor
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, adam, 1, [desc],
                                  [bnns.BNNSNDArrayDescriptor(data=bnns.BNNSTensor.from_array(grad))], None) == 0, \
        bnns.last_error()
    assert w_tensor.numpy().tobytes() == w_array.tobytes()
    y_bound, y_resident = np.zeros((2, 4, 8, 8), np.float32), np.zeros((2, 4, 8, 8), np.float32)
    bnns.BNNSFilterApplyBatch(bound, 2, x, 0, y_bound, 0)
    bnns.BNNSFilterApplyBatch(resident, 2, x, 0, y_resident, 0)
    assert y_resident.tobytes() == y_bound.tobytes()
    assert not np.array_equal(w_tensor.numpy(), w)


def test_optimizer_keeps_accumulators_beside_plain_tensor_parameters(bnns):
    rng = np.random.default_rng(4)
    p0, g = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50).astype(np.float32)
    adam = bnns.BNNSOptimizerAdamFields(learning_rate=0.1, time_step=1)
    p_array, m, v = p0.copy(), np.zeros(50, np.float32), np.zeros(50, np.float32)
    p_tensor = bnns.BNNSTensor.from_array(p0)
    for step in (1, 2):
        adam.time_step = step
        assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, adam, 1, [bnns.BNNSNDArrayDescriptor(data=p_array)],
                                      [bnns.BNNSNDArrayDescriptor(data=g)],
                                      [bnns.BNNSNDArrayDescriptor(data=m), bnns.BNNSNDArrayDescriptor(data=v)]) == 0
        assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, adam, 1,
                                      [bnns.BNNSNDArrayDescriptor(data=p_tensor)],
                                      [bnns.BNNSNDArrayDescriptor(data=g)], None) == 0, bnns.last_error()
    assert p_tensor.numpy().tobytes() == p_array.tobytes()



def test_the_optimizer_steps_tensors_on_their_own_connection(bnns):
    """Parameters held in server tensors are stepped where they live, whichever connection is
    current when the step is made (as a filter's bound parameters are)."""
    rng = np.random.default_rng(5)
    p0, g = rng.standard_normal(20).astype(np.float32), rng.standard_normal(20).astype(np.float32)
    p_tensor = bnns.BNNSTensor.from_array(p0)
    expected = p0.copy()
    sgd = bnns.BNNSOptimizerSGDMomentumFields(learning_rate=0.5)
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionSGDMomentum, sgd, 1, [bnns.BNNSNDArrayDescriptor(data=expected)],
                                  [bnns.BNNSNDArrayDescriptor(data=g)], None) == 0
    bnns.connect("local")                 # another connection (a fresh in-process core) is now current
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionSGDMomentum, sgd, 1, [bnns.BNNSNDArrayDescriptor(data=p_tensor)],
                                  [bnns.BNNSNDArrayDescriptor(data=g)], None) == 0, bnns.last_error()
    assert p_tensor.numpy().tobytes() == expected.tobytes()
    other = bnns.BNNSTensor.from_array(p0)    # a tensor of the current connection beside it: refused
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionSGDMomentum, sgd, 2,
                                  [bnns.BNNSNDArrayDescriptor(data=p_tensor), bnns.BNNSNDArrayDescriptor(data=other)],
                                  [bnns.BNNSNDArrayDescriptor(data=g)] * 2, None) == -1
    assert "different connections" in bnns.last_error().message
    assert p_tensor.numpy().tobytes() == expected.tobytes() and other.numpy().tobytes() == p0.tobytes()

def test_wrong_type_size_or_id_is_refused_and_changes_nothing(bnns):
    rng = np.random.default_rng(5)
    f = conv(bnns, weights(rng))
    x = bnns.BNNSTensor.from_array(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    y = bnns.BNNSTensor.from_array(np.full((2, 4, 8, 8), 7, np.float32))
    small = bnns.BNNSTensor.empty((1, 4, 8, 8))
    ints = bnns.BNNSTensor.empty((2, 4, 8, 8), data_type=bnns.BNNSDataTypeInt32)
    for out, phrase in ((small, "needs 512"), (ints, "int32")):
        assert bnns.BNNSFilterApplyBatch(f, 2, x, 0, out, 0) == -1
        assert isinstance(bnns.last_error(), InvalidArgumentError) and phrase in bnns.last_error().message
    both = bnns.BNNSTensor.empty((2, 4, 8, 8))                        # big enough to be either
    assert bnns.BNNSFilterApplyBatch(f, 2, both, 0, both, 0) == -1    # one tensor as input and output
    assert "same memory" in bnns.last_error().message
    gone = bnns.BNNSTensor.empty((2, 4, 8, 8))
    gone_id = gone.tensor_id
    gone.destroy()
    gone.destroyed = False                                            # as a stale handle elsewhere would be
    assert bnns.BNNSFilterApplyBatch(f, 2, x, 0, gone, 0) == -1
    assert isinstance(bnns.last_error(), NotFoundError) and gone_id in bnns.last_error().message
    assert (y.numpy() == 7).all()


# ------------------------------------------------------------------- raw calls to a server

@pytest.fixture(scope="module")
def tenants():
    server = ServerProcess(http=True, env={"BNNS_TOKENS": "tok-alice=alice,tok-bob=bob"})
    channel = grpc.insecure_channel(server.grpc_target)
    yield server, service_pb2_grpc.BNNSServiceStub(channel)
    channel.close()
    assert server.stop() == 0


def as_(token):
    return (("authorization", f"Bearer {token}"),)


def status_of(call):
    try:
        return call(), grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.details(), error.code()


def create_vector(stub, token, values):
    request = pb.CreateTensorRequest(shape=[len(values)], data=types_pb2.Buffer(
        data=np.asarray(values, np.float32).tobytes()))
    return stub.CreateTensor(request, metadata=as_(token), timeout=10).info.tensor_id


def test_another_tenants_tensor_is_not_found(tenants):
    _, stub = tenants
    tensor_id = create_vector(stub, "tok-alice", [1, 2, 3])
    for call in (lambda: stub.ReadTensor(pb.ReadTensorRequest(tensor_id=tensor_id), metadata=as_("tok-bob")),
                 lambda: stub.DestroyTensor(pb.DestroyTensorRequest(tensor_id=tensor_id), metadata=as_("tok-bob")),
                 lambda: stub.CreateTensor(pb.CreateTensorRequest(shape=[3], data=types_pb2.Buffer(
                     tensor=types_pb2.TensorReference(tensor_id=tensor_id))), metadata=as_("tok-bob"))):
        details, code = status_of(call)
        assert code == grpc.StatusCode.NOT_FOUND and tensor_id in details
    assert tensor_id not in {t.tensor_id for t in stub.ListTensors(pb.ListTensorsRequest(),
                                                                   metadata=as_("tok-bob")).tensors}
    read = stub.ReadTensor(pb.ReadTensorRequest(tensor_id=tensor_id), metadata=as_("tok-alice"))
    assert np.frombuffer(read.data.data, np.float32).tolist() == [1, 2, 3]


def test_a_filter_id_is_not_a_tensor_id_and_the_other_way_round(tenants):
    _, stub = tenants
    tensor_id = create_vector(stub, "tok-alice", [1])
    details, code = status_of(lambda: stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=tensor_id),
                                                          metadata=as_("tok-alice")))
    assert code == grpc.StatusCode.NOT_FOUND and "no live filter" in details


def test_tensor_bytes_count_toward_the_tenant_limit():
    server = ServerProcess("--max-handle-bytes", "4096", "--max-handles", "3")
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = service_pb2_grpc.BNNSServiceStub(channel)
            details, code = status_of(lambda: stub.CreateTensor(pb.CreateTensorRequest(shape=[2048]), timeout=10))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "4096" in details
            for _ in range(3):
                stub.CreateTensor(pb.CreateTensorRequest(shape=[16]), timeout=10)
            details, code = status_of(lambda: stub.CreateTensor(pb.CreateTensorRequest(shape=[16]), timeout=10))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_handles" in details
    finally:
        assert server.stop() == 0


def test_outputs_must_name_a_tensor_or_shared_memory_and_unknown_targets_write_nothing(tenants):
    _, stub = tenants
    create = pb.CreateFilterRequest(activation=types_pb2.ActivationParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[4]),
        o_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[4]),
        activation=types_pb2.Activation(function=types_pb2.ACTIVATION_FUNCTION_RECTIFIED_LINEAR)))
    filter_id = stub.CreateFilter(create, metadata=as_("tok-alice")).filter_id
    x = create_vector(stub, "tok-alice", [-1, 2, -3, 4])
    y = create_vector(stub, "tok-alice", [9, 9, 9, 9])
    apply = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=1, **with_in(types_pb2.Buffer(
        tensor=types_pb2.TensorReference(tensor_id=x))))
    apply.outputs["out"].data = b"\0" * 16
    details, code = status_of(lambda: stub.FilterApplyBatch(apply, metadata=as_("tok-alice")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outputs['out']" in details
    apply.outputs["out"].tensor.tensor_id = y
    apply.outputs["out"].tensor.offset = 2            # 2 elements left: too small
    details, code = status_of(lambda: stub.FilterApplyBatch(apply, metadata=as_("tok-alice")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "needs 4" in details
    apply.outputs["out"].tensor.offset = 0
    response = stub.FilterApplyBatch(apply, metadata=as_("tok-alice"))
    assert response.out.tensor.tensor_id == y and not response.out.data        # the result stayed on the server
    read = stub.ReadTensor(pb.ReadTensorRequest(tensor_id=y), metadata=as_("tok-alice"))
    assert np.frombuffer(read.data.data, np.float32).tolist() == [0, 2, 0, 4]


def test_destroying_a_tensor_while_calls_use_it_gives_the_tensor_or_not_found(tenants):
    _, stub = tenants
    create = pb.CreateFilterRequest(activation=types_pb2.ActivationParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[1 << 16]),
        o_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[1 << 16]),
        activation=types_pb2.Activation(function=types_pb2.ACTIVATION_FUNCTION_TANH)))
    filter_id = stub.CreateFilter(create, metadata=as_("tok-bob")).filter_id
    values = np.linspace(-2, 2, 1 << 16, dtype=np.float32)
    expected = np.tanh(values)
    outcomes = []

    def apply_until_gone(tensor_id):
        request = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=1, **with_in(types_pb2.Buffer(
            tensor=types_pb2.TensorReference(tensor_id=tensor_id))))
        for _ in range(200):
            result, code = status_of(lambda: stub.FilterApplyBatch(request, metadata=as_("tok-bob"), timeout=30))
            outcomes.append(code)
            if code == grpc.StatusCode.OK:
                np.testing.assert_allclose(np.frombuffer(result.out.data, np.float32), expected, rtol=1e-6)
            else:
                return

    for _ in range(3):
        tensor_id = create_vector(stub, "tok-bob", values)
        worker = threading.Thread(target=apply_until_gone, args=(tensor_id,))
        worker.start()
        stub.DestroyTensor(pb.DestroyTensorRequest(tensor_id=tensor_id), metadata=as_("tok-bob"))
        worker.join(60)
    assert set(outcomes) <= {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}
    assert outcomes.count(grpc.StatusCode.NOT_FOUND) == 3


def test_rest_tensor_routes_and_references_in_json(tenants):
    server, _ = tenants
    http = httpx.Client(base_url=server.http_url, headers={"authorization": "Bearer tok-alice"}, timeout=30)
    filter_id = http.post("/v1/filters", json={"activation": {
        "i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [3]}, "o_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [3]},
        "activation": {"function": "ACTIVATION_FUNCTION_ABS"}}}).json()["filter_id"]
    x = http.post("/v1/tensors", json={"shape": [3], "data": {"values": [-1, 2, -3]}}).json()["info"]["tensor_id"]
    y = http.post("/v1/tensors", json={"shape": [3]}).json()["info"]["tensor_id"]
    answer = http.post(f"/v1/filters/{filter_id}:filterApplyBatch", json={
        "batch_size": 1, "in": {"tensor": {"tensor_id": x}}, "outputs": {"out": {"tensor": {"tensor_id": y}}}})
    assert answer.status_code == 200 and answer.json() == {"out": {"tensor": {"tensor_id": y}}}
    assert http.post(f"/v1/tensors/{y}:read", json={}, params={"values": "true"}).json()["data"] == \
        {"values": [1.0, 2.0, 3.0]}
    assert http.post(f"/v1/tensors/{x}:write", json={"offset": 2, "data": {"values": [5]}}).status_code == 200
    assert http.get(f"/v1/tensors/{x}").json()["info"]["shape"] == ["3"]
    assert http.post(f"/v1/tensors/{x}:write", json={"offset": 2, "data": {"values": [5, 6]}}).status_code == 400
    assert http.delete(f"/v1/tensors/{x}").status_code == 200
    assert http.get(f"/v1/tensors/{x}").status_code == 404
    other = httpx.Client(base_url=server.http_url, headers={"authorization": "Bearer tok-bob"}, timeout=30)
    assert other.get(f"/v1/tensors/{y}").status_code == 404


# -------------------------------------------------------------------------- shared memory

@pytest.fixture
def segment():
    memory = shared_memory.SharedMemory(create=True, size=1 << 16)
    yield memory
    memory.close()
    try:
        memory.unlink()
    except FileNotFoundError:
        pass


def register(stub, token, segment, name="r", byte_size=1 << 16):
    region = pb.SharedMemoryRegion(name=name, key="/" + segment.name.lstrip("/"), offset=0, byte_size=byte_size)
    return status_of(lambda: stub.RegisterSharedMemory(pb.RegisterSharedMemoryRequest(region=region),
                                                       metadata=as_(token), timeout=10))


def relu_filter(stub, token, size):
    create = pb.CreateFilterRequest(activation=types_pb2.ActivationParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[size]),
        o_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[size]),
        activation=types_pb2.Activation(function=types_pb2.ACTIVATION_FUNCTION_RECTIFIED_LINEAR)))
    return stub.CreateFilter(create, metadata=as_(token)).filter_id


def shm(region, offset, byte_size):
    return types_pb2.Buffer(shared_memory=types_pb2.SharedMemorySlice(region=region, offset=offset,
                                                                      byte_size=byte_size))


def test_shared_memory_slices_as_input_and_output(tenants, segment):
    _, stub = tenants
    assert register(stub, "tok-alice", segment)[1] == grpc.StatusCode.OK
    try:
        data = np.ndarray((2, 64), np.float32, buffer=segment.buf)
        data[0] = np.linspace(-1, 1, 64, dtype=np.float32)
        data[1] = 5
        filter_id = relu_filter(stub, "tok-alice", 64)
        request = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=1, **with_in(shm("r", 0, 256)))
        request.outputs["out"].CopyFrom(shm("r", 256, 256))
        response = stub.FilterApplyBatch(request, metadata=as_("tok-alice"))
        assert response.out.WhichOneof("contents") == "shared_memory"
        np.testing.assert_array_equal(data[1], np.maximum(data[0], 0))
        # Overlapping input and output bytes are refused; so is a slice past the region's end.
        request.outputs["out"].CopyFrom(shm("r", 128, 256))
        details, code = status_of(lambda: stub.FilterApplyBatch(request, metadata=as_("tok-alice")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "same memory" in details
        request.outputs["out"].CopyFrom(shm("r", (1 << 16) - 128, 256))
        details, code = status_of(lambda: stub.FilterApplyBatch(request, metadata=as_("tok-alice")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "65536 bytes" in details
        # Regions are per tenant.
        details, code = status_of(lambda: stub.FilterApplyBatch(request, metadata=as_("tok-bob")))
        assert code == grpc.StatusCode.NOT_FOUND
        listed = stub.ListSharedMemory(pb.ListSharedMemoryRequest(), metadata=as_("tok-bob")).regions
        assert "r" not in [r.name for r in listed]
    finally:
        stub.UnregisterSharedMemory(pb.UnregisterSharedMemoryRequest(name="r"), metadata=as_("tok-alice"))


def test_a_truncated_or_unlinked_region_is_a_clear_error_not_a_crash(tenants, segment):
    server, stub = tenants
    import os
    assert register(stub, "tok-alice", segment, name="t")[1] == grpc.StatusCode.OK
    filter_id = relu_filter(stub, "tok-alice", 64)
    request = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=1, **with_in(shm("t", 0, 256)))
    os.truncate(f"/dev/shm/{segment.name.lstrip('/')}", 128)
    details, code = status_of(lambda: stub.FilterApplyBatch(request, metadata=as_("tok-alice")))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "truncated" in details
    os.truncate(f"/dev/shm/{segment.name.lstrip('/')}", 1 << 16)
    segment.unlink()
    details, code = status_of(lambda: stub.FilterApplyBatch(request, metadata=as_("tok-alice")))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "unlinked" in details
    assert server.proc.poll() is None
    stub.UnregisterSharedMemory(pb.UnregisterSharedMemoryRequest(name="t"), metadata=as_("tok-alice"))


def test_registering_a_missing_object_or_a_bad_key_is_refused(tenants):
    _, stub = tenants
    for key, code in (("/no-such-bnns-object", grpc.StatusCode.NOT_FOUND), ("../etc/passwd", grpc.StatusCode.INVALID_ARGUMENT),
                      ("/a/b", grpc.StatusCode.INVALID_ARGUMENT)):
        region = pb.SharedMemoryRegion(name="x", key=key, byte_size=16)
        details, got = status_of(lambda: stub.RegisterSharedMemory(pb.RegisterSharedMemoryRequest(region=region),
                                                                   metadata=as_("tok-alice")))
        assert got == code, details


def test_shared_memory_can_be_turned_off(segment):
    server = ServerProcess("--no-shared-memory")
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = service_pb2_grpc.BNNSServiceStub(channel)
            details, code = register(stub, "", segment)
            assert code == grpc.StatusCode.UNIMPLEMENTED and "--no-shared-memory" in details
    finally:
        assert server.stop() == 0


def test_sdk_shared_memory_mode_gives_the_socket_path_results(grpc_server):
    import bnns.client as sdk
    rng = np.random.default_rng(7)
    w = weights(rng, 8, 8)
    x = rng.standard_normal((64, 8, 8, 8)).astype(np.float32)      # 128 KiB: over the 64 KiB threshold
    dy = rng.standard_normal((64, 8, 8, 8)).astype(np.float32)
    results = []
    for mode in ("socket", "shared", "shared arrays"):
        backend = sdk.connect(grpc_server.grpc_target, shared_memory=mode != "socket")
        try:
            f = conv(sdk, w)
            if mode == "shared arrays":
                xs, y, dx = (backend.shared_array(a.shape) for a in (x, x, x))
                xs[...] = x
            else:
                xs, y, dx = x, np.zeros_like(x), np.zeros_like(x)
            assert sdk.BNNSFilterApplyBatch(f, 64, xs, 0, y, 0) == 0, sdk.last_error()
            assert call_backward(sdk, f, 64, xs, image(sdk, 8, 8, 8, dx), None, image(sdk, 8, 8, 8, dy), None) == 0, \
                sdk.last_error()
            results.append((np.array(y), np.array(dx)))
            if mode != "socket":
                assert backend.call("ListSharedMemory", pb.ListSharedMemoryRequest()).regions
        finally:
            backend.close()
            sdk.connect("local")
    for y, dx in results[1:]:
        assert y.tobytes() == results[0][0].tobytes() and dx.tobytes() == results[0][1].tobytes()


def test_a_tensor_of_another_connection_is_not_found_there(bnns, grpc_server):
    """A BNNSTensor lives where it was created: another server (or the in-process core) does
    not know its id."""
    elsewhere = bnns.LocalBackend() if bnns.current().target != "local" else bnns.RemoteBackend(grpc_server.grpc_target)
    t = bnns.BNNSTensor.empty((4,), backend=elsewhere)
    f = conv(bnns, weights(np.random.default_rng(8)))
    y = np.zeros((1, 4, 8, 8), np.float32)
    x = bnns.BNNSTensor.empty((1, 3, 8, 8), backend=elsewhere)
    assert bnns.BNNSFilterApplyBatch(f, 1, x, 0, y, 0) == -1
    assert isinstance(bnns.last_error(), NotFoundError) and x.tensor_id in bnns.last_error().message
    t.destroy()


def test_a_call_whose_second_target_is_wrong_writes_no_target(bnns):
    """Targets are checked before the first result is written: a failed call changes nothing."""
    rng = np.random.default_rng(9)
    f = conv(bnns, weights(rng))
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    dy = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    dx = bnns.BNNSTensor.from_array(np.full(x.shape, 5, np.float32))
    too_small = bnns.BNNSTensor.from_array(np.full(10, 5, np.float32))
    weights_delta = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW, size=(3, 3, 3, 4),
                                               data=too_small)
    too_small.shape = (4, 3, 3, 3)            # lie about its size so that only the server can tell
    assert call_backward(bnns, f, 2, x, image(bnns, 3, 8, 8, dx), None, image(bnns, 4, 8, 8, dy),
                         weights_delta) == -1
    assert "weights_delta" in bnns.last_error().message
    too_small.shape = (10,)
    assert (dx.numpy() == 5).all() and (too_small.numpy() == 5).all()


def test_rest_reads_and_writes_shared_memory(tenants, segment):
    server, _ = tenants
    http = httpx.Client(base_url=server.http_url, headers={"authorization": "Bearer tok-alice"}, timeout=30)
    key = "/" + segment.name.lstrip("/")
    assert http.post("/v1/sharedMemory", json={"region": {"name": "rest", "key": key, "byte_size": 4096}}
                     ).status_code == 200
    try:
        data = np.ndarray((2, 4), np.float32, buffer=segment.buf)
        data[0] = [-2, -1, 1, 2]
        filter_id = http.post("/v1/filters", json={"activation": {
            "i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [4]},
            "o_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [4]},
            "activation": {"function": "ACTIVATION_FUNCTION_ABS"}}}).json()["filter_id"]
        answer = http.post(f"/v1/filters/{filter_id}:filterApplyBatch", json={
            "batch_size": 1, "in": {"shared_memory": {"region": "rest", "offset": 0, "byte_size": 16}},
            "outputs": {"out": {"shared_memory": {"region": "rest", "offset": 16, "byte_size": 16}}}})
        assert answer.status_code == 200, answer.text
        assert data[1].tolist() == [2, 1, 1, 2]
        assert [r["name"] for r in http.get("/v1/sharedMemory").json()["regions"]] == ["rest"]
    finally:
        assert http.delete("/v1/sharedMemory/rest").status_code == 200
    assert http.get("/v1/sharedMemory").json() == {}
