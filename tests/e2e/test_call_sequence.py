"""CallSequence (issue 9): several calls in one round trip, run in order, each exactly as if sent
alone; checked in full before the first runs; the first failure stops it, naming the call. Live
servers over gRPC and REST, with tokens (two tenants) and a state store (idempotency keys)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from bnns.kernels.errors import ResourceExhaustedError
from bnns.server.core import Core
from bnns.server.wire import MAX_SEQUENCE_CALLS
from bnns.server.errors import from_rpc_error
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import ServerProcess, with_in
from .test_durability import adam_step, fc_request
from .test_replicas import apply, redis_server, sgd_step, store_url  # noqa: F401  (fixtures)

TOKEN_A, TOKEN_B = "tok-seq-alpha-5d1e", "tok-seq-bravo-8c2f"
N_IN, N_OUT, BATCH = 4, 3, 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess("--state-dir", str(tmp_path_factory.mktemp("state")), http=True,
                            env={"BNNS_TOKENS": f"{TOKEN_A}=tenant-a,{TOKEN_B}=tenant-b"})
    yield process
    assert process.stop() == 0, "".join(process.output)


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield service_pb2_grpc.BNNSServiceStub(channel)


def auth(token=TOKEN_A):
    return (("authorization", f"Bearer {token}"),)


def weights(seed=0):
    return np.random.default_rng(seed).standard_normal((N_OUT, N_IN)).astype(np.float32)


def step_calls(filter_id: str, x: np.ndarray, dy: np.ndarray):
    """A training step's forward and backward (the weights' gradient) requests."""
    forward = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=BATCH,
                                         **with_in(types_pb2.Buffer(data=x.tobytes())))
    backward = pb.FilterApplyBackwardBatchRequest(
        filter_id=filter_id, batch_size=BATCH, out_delta=types_pb2.Buffer(data=dy.tobytes()),
        compute_weights_delta=True, **with_in(types_pb2.Buffer(data=x.tobytes())))
    return forward, backward


def sequence(*calls) -> pb.CallSequenceRequest:
    return pb.CallSequenceRequest(calls=[pb.SequencedCall(rpc=rpc, request=request.SerializeToString(),
                                                          idempotency_key=key) for rpc, request, key in calls])


def read_weights(stub, filter_id, token=TOKEN_A) -> bytes:
    # A zero-gradient SGD step with learning rate 0 returns the weights unchanged.
    request = pb.OptimizerStepRequest(function=types_pb2.OPTIMIZER_FUNCTION_SGD_MOMENTUM, return_parameters=True)
    request.fields.learning_rate = 0.0
    request.parameters.add().filter_parameter.CopyFrom(pb.FilterParameterRef(filter_id=filter_id, name="weights"))
    request.gradients.add(data=np.zeros((N_OUT, N_IN), np.float32).tobytes())
    return stub.OptimizerStep(request, metadata=auth(token), timeout=10).parameters[0].data


def failure(call) -> tuple:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = from_rpc_error(caught.value)
    return error.status, error.reason, error.message, error.metadata


def test_a_training_step_in_one_sequence_matches_one_by_one_and_local(stub):
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((BATCH, N_IN)).astype(np.float32), rng.standard_normal((BATCH, N_OUT)).astype(np.float32)
    seq_id = stub.CreateFilter(fc_request(weights()), metadata=auth(), timeout=10).filter_id
    one_id = stub.CreateFilter(fc_request(weights()), metadata=auth(), timeout=10).filter_id
    local = Core()
    local_id = local.call("CreateFilter", fc_request(weights())).filter_id
    for t in (1, 2):
        forward, backward = step_calls(seq_id, x, dy)
        first = stub.CallSequence(sequence(("FilterApplyBatch", forward, ""), ("FilterApplyBackwardBatch", backward, "")),
                                  metadata=auth(), timeout=10)
        out = pb.FilterApplyBatchResponse.FromString(first.responses[0]).out.data
        grad = pb.FilterApplyBackwardBatchResponse.FromString(first.responses[1]).weights_delta.data
        gradient = np.frombuffer(grad, np.float32).reshape(N_OUT, N_IN)
        stepped = stub.CallSequence(sequence(("OptimizerStep", adam_step(seq_id, gradient, t), f"seq-{t}")),
                                    metadata=auth(), timeout=10)
        seq_weights = pb.OptimizerStepResponse.FromString(stepped.responses[0]).parameters[0].data
        # The same calls one by one, and in process.
        f1, b1 = step_calls(one_id, x, dy)
        assert stub.FilterApplyBatch(f1, metadata=auth(), timeout=10).out.data == out
        assert stub.FilterApplyBackwardBatch(b1, metadata=auth(), timeout=10).weights_delta.data == grad
        one = stub.OptimizerStep(adam_step(one_id, gradient, t), metadata=auth(), timeout=10).parameters[0].data
        f2, b2 = step_calls(local_id, x, dy)
        assert local.call("FilterApplyBatch", f2).out.data == out
        assert local.call("FilterApplyBackwardBatch", b2).weights_delta.data == grad
        there = local.call("OptimizerStep", adam_step(local_id, gradient, t)).parameters[0].data
        assert seq_weights == one == there
    # Forward, backward and step in one sequence (the gradient given): the weights as one by one.
    forward, backward = step_calls(seq_id, x, dy)
    g = rng.standard_normal((N_OUT, N_IN)).astype(np.float32)
    whole = stub.CallSequence(sequence(("FilterApplyBatch", forward, ""), ("FilterApplyBackwardBatch", backward, ""),
                                       ("OptimizerStep", adam_step(seq_id, g, 3), "")), metadata=auth(), timeout=10)
    assert len(whole.responses) == 3
    expected = stub.OptimizerStep(adam_step(one_id, g, 3), metadata=auth(), timeout=10).parameters[0].data
    assert pb.OptimizerStepResponse.FromString(whole.responses[2]).parameters[0].data == expected


def test_the_first_failure_stops_the_sequence_and_names_its_call(stub):
    filter_id = stub.CreateFilter(fc_request(weights(1)), metadata=auth(), timeout=10).filter_id
    before = read_weights(stub, filter_id)
    g = np.ones((N_OUT, N_IN), np.float32)
    bad = adam_step(filter_id, g, 1)
    bad.gradients[0].data = np.ones(5, np.float32).tobytes()        # 5 values for 12 weights
    calls = [("OptimizerStep", adam_step(filter_id, g, 1), ""), ("OptimizerStep", bad, ""),
             ("OptimizerStep", adam_step(filter_id, g, 2), ""), ("OptimizerStep", adam_step(filter_id, g, 3), "")]
    status, reason, message, metadata = failure(lambda: stub.CallSequence(sequence(*calls), metadata=auth(), timeout=10))
    alone = failure(lambda: stub.OptimizerStep(bad, metadata=auth(), timeout=10))
    assert status == alone[0] == "INVALID_ARGUMENT" and reason == alone[1]
    assert message.startswith("call 1 (OptimizerStep): ") and alone[2].endswith(message[len("call 1 (OptimizerStep): "):])
    assert metadata["call_index"] == "1"
    # Call 0 applied once, calls 1-3 nothing: the weights are those of one step from before.
    control = Core()
    control_id = control.call("CreateFilter", fc_request(weights(1))).filter_id
    once = control.call("OptimizerStep", adam_step(control_id, g, 1)).parameters[0].data
    after = read_weights(stub, filter_id)
    assert after != before and after == once


@pytest.mark.parametrize("case", ["too-many", "unknown", "nested-sequence", "nested-chunked", "unparsable"])
def test_a_malformed_sequence_is_refused_before_anything_runs(stub, case):
    filter_id = stub.CreateFilter(fc_request(weights(2)), metadata=auth(), timeout=10).filter_id
    before = read_weights(stub, filter_id)
    step = pb.SequencedCall(rpc="OptimizerStep", request=adam_step(filter_id, np.ones((N_OUT, N_IN), np.float32),
                                                                    1).SerializeToString())
    extra = {"too-many": [step] * MAX_SEQUENCE_CALLS,
             "unknown": [pb.SequencedCall(rpc="NoSuchRpc")],
             "nested-sequence": [pb.SequencedCall(rpc="CallSequence", request=b"")],
             "nested-chunked": [pb.SequencedCall(rpc="ChunkedCall", request=b"")],
             "unparsable": [pb.SequencedCall(rpc="FilterApplyBatch", request=b"\xff\xff\xff")]}[case]
    request = pb.CallSequenceRequest(calls=[step, *extra])
    status, _, message, _ = failure(lambda: stub.CallSequence(request, metadata=auth(), timeout=30))
    assert status == "INVALID_ARGUMENT" and "CallSequence" in message
    if case != "too-many":
        assert "call 1" in message
    assert read_weights(stub, filter_id) == before
    assert stub.CallSequence(pb.CallSequenceRequest(), metadata=auth(), timeout=10).responses == []


def test_another_tenants_handle_is_not_found_and_untouched(stub):
    theirs = stub.CreateFilter(fc_request(weights(4)), metadata=auth(TOKEN_B), timeout=10).filter_id
    mine = stub.CreateFilter(fc_request(weights(4)), metadata=auth(), timeout=10).filter_id
    before, mine_before = read_weights(stub, theirs, TOKEN_B), read_weights(stub, mine)
    g = np.ones((N_OUT, N_IN), np.float32)
    calls = sequence(("OptimizerStep", adam_step(mine, g, 1), ""), ("OptimizerStep", adam_step(theirs, g, 1), ""))
    status, _, message, metadata = failure(lambda: stub.CallSequence(calls, metadata=auth(), timeout=10))
    assert status == "NOT_FOUND" and message.startswith("call 1 (OptimizerStep): ") and metadata["call_index"] == "1"
    assert read_weights(stub, theirs, TOKEN_B) == before
    assert read_weights(stub, mine) != mine_before          # call 0 stands


def test_the_same_sequence_sent_twice_applies_each_step_once(stub):
    filter_id = stub.CreateFilter(fc_request(weights(5)), metadata=auth(), timeout=10).filter_id
    g = np.full((N_OUT, N_IN), 0.5, np.float32)
    request = sequence(("OptimizerStep", adam_step(filter_id, g, 1), "retry/1"),
                       ("OptimizerStep", adam_step(filter_id, g, 2), "retry/2"))
    first = stub.CallSequence(request, metadata=auth(), timeout=10)
    again = stub.CallSequence(request, metadata=auth(), timeout=10)
    assert list(again.responses) == list(first.responses)
    control = Core()
    control_id = control.call("CreateFilter", fc_request(weights(5))).filter_id
    control.call("OptimizerStep", adam_step(control_id, g, 1))
    twice = control.call("OptimizerStep", adam_step(control_id, g, 2)).parameters[0].data
    assert read_weights(stub, filter_id) == twice


def test_rest_route_with_a_binary_protobuf_body(server, stub):
    import httpx
    filter_id = stub.CreateFilter(fc_request(weights(6)), metadata=auth(), timeout=10).filter_id
    x = np.random.default_rng(6).standard_normal((BATCH, N_IN)).astype(np.float32)
    forward, _ = step_calls(filter_id, x, x[:, :N_OUT])
    request = sequence(("FilterApplyBatch", forward, ""))
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        reply = http.post("/v1/callSequence", content=request.SerializeToString(),
                          headers={"content-type": "application/x-protobuf", "accept": "application/x-protobuf",
                                   "authorization": f"Bearer {TOKEN_A}"})
    assert reply.status_code == 200, reply.text
    got = pb.CallSequenceResponse.FromString(reply.content)
    expected = stub.FilterApplyBatch(forward, metadata=auth(), timeout=10).out.data
    assert pb.FilterApplyBatchResponse.FromString(got.responses[0]).out.data == expected


# ------------------------------------------------------------------------------ the SDK's block

def sdk_fc(sdk, w: np.ndarray):
    n_out, n_in = w.shape
    vec = lambda n: sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutVector, size=(n,))   # noqa: E731
    f = sdk.BNNSFilterCreateLayerFullyConnected(sdk.BNNSLayerParametersFullyConnected(
        i_desc=vec(n_in), o_desc=vec(n_out),
        w_desc=sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutRowMajorMatrix, size=(n_in, n_out), data=w)), None)
    assert f is not None, sdk.last_error()
    return f


@pytest.fixture
def sdk(server):
    import bnns.client as sdk_module
    sdk_module.connect(server.grpc_target, token=TOKEN_A)
    yield sdk_module
    sdk_module.current().close()
    sdk_module.connect("local")


def record_sends(backend) -> list:
    """The RPCs ``backend`` sends over the wire from now on (each is one round trip)."""
    sent: list = []
    send = backend._send

    def recorded(rpc, *args):
        sent.append(rpc)
        return send(rpc, *args)
    backend._send = recorded
    return sent


@pytest.fixture
def sent(sdk) -> list:
    return record_sends(sdk.current())


def test_sdk_block_sends_one_sequence_and_writes_outputs_when_it_ends(sdk, sent):
    w = weights(7)
    f = sdk_fc(sdk, w)
    x = np.random.default_rng(7).standard_normal((BATCH, N_IN)).astype(np.float32)
    y1, y2 = np.zeros((BATCH, N_OUT), np.float32), np.zeros((BATCH, N_OUT), np.float32)
    tensor = sdk.BNNSTensor.from_array(np.zeros(4, np.float32))
    del sent[:]
    with sdk.sequence():
        assert sdk.BNNSFilterApplyBatch(f, BATCH, x, N_IN, y1, N_OUT) == 0
        tensor.write(np.arange(4, dtype=np.float32))
        assert sdk.BNNSFilterApplyBatch(f, BATCH, 2 * x, N_IN, y2, N_OUT) == 0
        assert not y1.any() and not y2.any() and sent == []       # queued, nothing sent yet
    assert sent == ["CallSequence"]
    np.testing.assert_array_equal(y1, x @ w.T)
    np.testing.assert_array_equal(y2, (2 * x) @ w.T)
    assert tensor.read().tolist() == [0, 1, 2, 3]
    # A non-deferrable call (a read, a create) sends the queue first, then runs as usual.
    y1[:] = 0
    del sent[:]
    with sdk.sequence():
        sdk.BNNSFilterApplyBatch(f, BATCH, x, N_IN, y1, N_OUT)
        tensor.write(np.full(4, 5, np.float32))
        assert tensor.read().tolist() == [5, 5, 5, 5]
        g = sdk_fc(sdk, w)
        sdk.BNNSFilterApplyBatch(g, BATCH, x, N_IN, y2, N_OUT)
    assert sent == ["CallSequence", "ReadTensor", "CreateFilter", "CallSequence"]
    np.testing.assert_array_equal(y1, x @ w.T)
    np.testing.assert_array_equal(y2, x @ w.T)
    sdk.BNNSFilterDestroy(f), sdk.BNNSFilterDestroy(g), tensor.destroy()


def test_sdk_block_with_large_tensors_matches_the_calls_one_by_one(sdk, sent):
    """Calls whose tensors make the sequence larger than wire.SPLIT_MIN_BYTES: the server reads
    each call's request as a view of the bytes received (server/wire.py), with the same results."""
    w = weights(9)
    f = sdk_fc(sdk, w)
    batch = 8192                                       # 128 KiB of input per call
    x = np.random.default_rng(9).standard_normal((batch, N_IN)).astype(np.float32)
    y1, y2 = np.zeros((batch, N_OUT), np.float32), np.zeros((batch, N_OUT), np.float32)
    one, two = np.zeros_like(y1), np.zeros_like(y2)
    assert sdk.BNNSFilterApplyBatch(f, batch, x, N_IN, one, N_OUT) == 0
    assert sdk.BNNSFilterApplyBatch(f, batch, x[::-1].copy(), N_IN, two, N_OUT) == 0
    del sent[:]
    with sdk.sequence():
        sdk.BNNSFilterApplyBatch(f, batch, x, N_IN, y1, N_OUT)
        sdk.BNNSFilterApplyBatch(f, batch, x[::-1].copy(), N_IN, y2, N_OUT)
    assert sent == ["CallSequence"]
    np.testing.assert_array_equal(y1, one)
    np.testing.assert_array_equal(y2, two)
    sdk.BNNSFilterDestroy(f)


def test_sdk_block_raises_the_failed_calls_error_at_its_end_and_does_not_nest(sdk, sent, stub):
    f = sdk_fc(sdk, weights(8))
    tensor = sdk.BNNSTensor.from_array(np.zeros(4, np.float32))
    x, y = np.ones((BATCH, N_IN), np.float32), np.zeros((BATCH, N_OUT), np.float32)
    del sent[:]
    with pytest.raises(sdk.BNNSError) as caught:
        with sdk.sequence():
            tensor.write(np.ones(4, np.float32))
            # The filter goes away behind the SDK's back: only the server can tell.
            stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=f.filter_id), metadata=auth(), timeout=10)
            tensor.write(np.full(4, 2, np.float32))
            assert sdk.BNNSFilterApplyBatch(f, BATCH, x, N_IN, y, N_OUT) == 0      # queued
            tensor.write(np.full(4, 3, np.float32))
            assert sent == []
    assert sent == ["CallSequence"]
    assert caught.value.status == "NOT_FOUND"
    assert caught.value.message.startswith("CallSequence: call 2 (FilterApplyBatch): ")
    assert tensor.read().tolist() == [2, 2, 2, 2]          # calls 0 and 1 stood; call 3 did not run
    with sdk.sequence():
        with pytest.raises(sdk.BNNSError, match="do not nest"):
            with sdk.sequence():
                pass
    tensor.destroy()


def test_sdk_block_sends_a_full_queue_as_it_fills(sdk, sent):
    tensor = sdk.BNNSTensor.from_array(np.zeros(1, np.float32))
    del sent[:]
    with sdk.sequence():
        for value in range(MAX_SEQUENCE_CALLS + 10):
            tensor.write(np.array([value], np.float32))
        assert sent == ["CallSequence"]                   # the first 256, sent when the queue filled
    assert sent == ["CallSequence"] * 2
    assert tensor.read().tolist() == [MAX_SEQUENCE_CALLS + 9]
    tensor.destroy()


def test_sdk_block_on_local_runs_calls_at_once(server):
    import bnns.client as sdk
    sdk.connect("local")
    w = weights(9)
    f = sdk_fc(sdk, w)
    x, y = np.ones((BATCH, N_IN), np.float32), np.zeros((BATCH, N_OUT), np.float32)
    with sdk.sequence():
        assert sdk.BNNSFilterApplyBatch(f, BATCH, x, N_IN, y, N_OUT) == 0
        np.testing.assert_array_equal(y, x @ w.T)
    sdk.BNNSFilterDestroy(f)


def test_the_resident_digits_step_is_one_round_trip(server):
    from ..conftest import load_example
    example = load_example("train_digits", "train_digits_sequence")
    x_train, y_train, _, _ = example.load_digits()
    example.bnns.connect(server.grpc_target, token=TOKEN_A)
    net = example.ResidentDigitNet(seed=3)
    try:
        x, y = np.ascontiguousarray(x_train[:64]), y_train[:64]
        net.train_step(x, y)                        # the first step makes the activation tensors
        sent = record_sends(example.bnns.current())
        losses = [net.train_step(x, y) for _ in range(3)]
        assert sent == ["CallSequence"] * 3
        assert all(np.isfinite(losses)) and losses[2] < losses[0]
    finally:
        net.close()
        example.bnns.current().close()
        example.bnns.connect("local")


def test_over_replicas_each_call_is_synced_and_a_resent_sequence_applies_once(store_url):  # noqa: F811  (the fixture)
    """Two cores over one Redis store (as two replicas): a sequence on either continues from the
    other's state, and the same sequence resent to the other replica is answered from the record."""
    from bnns.server.registry import Registry
    from bnns.server.state_redis import RedisStateStore
    one, two = [Core(Registry(), state=RedisStateStore(store_url)) for _ in range(2)]
    filter_id = one.call("CreateFilter", fc_request(np.zeros((2, 3), np.float32))).filter_id
    request = sequence(("OptimizerStep", sgd_step(filter_id, -np.ones((2, 3))), "r/1"),
                       ("OptimizerStep", sgd_step(filter_id, -np.ones((2, 3))), "r/2"))
    first = two.call("CallSequence", request)
    assert list(one.call("CallSequence", request).responses) == list(first.responses)
    out = one.call("FilterApplyBatch", apply(filter_id, np.ones(3)))
    assert np.frombuffer(out.out.data, np.float32).tolist() == [6.0, 6.0]     # two steps of +1, not four


def test_the_responses_a_sequence_holds_count_toward_max_call_bytes():
    """Each call of the sequence fits max_call_bytes alone; the responses kept for the reply
    count with what the next call may allocate, so the sequence is refused at the call that
    would go over, before it runs."""
    from bnns.server.codec import Limits
    core = Core(limits=Limits(max_call_bytes=BATCH * (N_IN + N_OUT) * Core._BYTES_PER_ELEMENT + 100))
    filter_id = core.call("CreateFilter", fc_request(weights(10))).filter_id
    forward, _ = step_calls(filter_id, np.ones((BATCH, N_IN), np.float32), np.ones((BATCH, N_OUT), np.float32))
    two = sequence(("FilterApplyBatch", forward, ""), ("FilterApplyBatch", forward, ""))
    assert len(core.call("CallSequence", two).responses) == 2          # 2 x about 64 bytes held: fits
    three = sequence(*[("FilterApplyBatch", forward, "")] * 3)
    with pytest.raises(ResourceExhaustedError) as caught:
        core.call("CallSequence", three)
    assert caught.value.metadata["call_index"] == "2" and "send fewer calls" in caught.value.message
    assert caught.value.message.startswith("call 2 (FilterApplyBatch): ")


def test_a_large_sequences_responses_go_beside_the_message_and_read_the_same():
    """Responses that together pass wire.SPLIT_MIN_BYTES are kept beside the reply message for the
    door to splice in (one copy each); embedded (no door) or spliced and parsed, the reply is the
    one the calls one by one give."""
    from bnns.server import wire
    from bnns.server.dataplane import CallIO
    core = Core()
    w = weights(11)
    filter_id = core.call("CreateFilter", fc_request(w)).filter_id
    x = np.random.default_rng(11).standard_normal((4096, N_IN)).astype(np.float32)     # 48 KiB of output a call
    forward = pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=4096,
                                         **with_in(types_pb2.Buffer(data=x.tobytes())))
    alone = core.call("FilterApplyBatch", forward).SerializeToString()
    request = sequence(("FilterApplyBatch", forward, ""), ("FilterApplyBatch", forward, ""))
    io = CallIO()
    response = core.call("CallSequence", request, io=io)
    assert len(response.responses) == 0 and sorted(io.results) == ["responses[0]", "responses[1]"]
    reply = pb.CallSequenceResponse.FromString(wire.join(response, io.results))
    assert list(reply.responses) == [alone, alone]
    assert list(core.call("CallSequence", request).responses) == [alone, alone]       # embedded
    parsed, views = wire.split(wire.join(response, io.results), pb.CallSequenceResponse)
    assert [bytes(views[f"responses[{k}]"]) for k in range(2)] == [alone, alone]
    np.testing.assert_array_equal(
        np.frombuffer(pb.FilterApplyBatchResponse.FromString(alone).out.data, np.float32).reshape(4096, N_OUT), x @ w.T)
