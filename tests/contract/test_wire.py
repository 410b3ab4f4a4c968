"""server/wire.py: tensors split out of received bytes as views, and spliced into replies, with
bytes exactly those of the generated code's messages."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf.message import DecodeError

from bnns.server import wire
from bnns.v1 import service_pb2 as pb

from ..conftest import with_in


def big(n: int = 1 << 15, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)   # 128 KiB: above SPLIT_MIN_BYTES


def test_join_writes_the_message_the_generated_code_reads():
    x, y = big(seed=1), big(10, seed=2)
    request = pb.ArithmeticFilterApplyBatchRequest(filter_id="f-1", batch_size=3)
    getattr(request, "in").add(stride=7)
    getattr(request, "in").add()
    request.outputs["out"].tensor.tensor_id = "t-1"
    parsed = pb.ArithmeticFilterApplyBatchRequest.FromString(wire.join(request, {"in[0]": x, "in[1]": y}))
    assert getattr(parsed, "in")[0].data == x.tobytes() and getattr(parsed, "in")[0].stride == 7
    assert getattr(parsed, "in")[1].data == y.tobytes()
    assert parsed.filter_id == "f-1" and parsed.batch_size == 3 and parsed.outputs["out"].tensor.tensor_id == "t-1"


def test_split_gives_views_over_the_received_bytes_and_the_rest_of_the_message():
    x = big()
    request = pb.OptimizerStepRequest(function=1)
    request.parameters.add().values.SetInParent()
    request.gradients.add(stride=0)
    raw = bytearray(wire.join(request, {"parameters[0].values": x, "gradients[0]": x[::-1].copy()}))
    message, tensors = wire.split(raw, pb.OptimizerStepRequest)
    assert sorted(tensors) == ["gradients[0]", "parameters[0].values"]
    values = np.frombuffer(tensors["parameters[0].values"], np.float32)
    np.testing.assert_array_equal(values, x)
    assert np.shares_memory(values, np.frombuffer(raw, np.uint8))          # a view, not a copy
    assert message.function == 1 and message.parameters[0].HasField("values")
    assert message.parameters[0].values.WhichOneof("contents") is None     # its bytes were taken out


def test_split_finds_descriptor_data_deep_in_a_create_request():
    w = big()
    request = pb.CreateFilterRequest()
    request.fused.layers.add().convolution.w_desc.data.SetInParent()
    request.fused.layers[0].convolution.x_padding = 1
    message, tensors = wire.split(wire.join(request, {"fused.layers[0].convolution.w_desc.data": w}),
                                  pb.CreateFilterRequest)
    np.testing.assert_array_equal(np.frombuffer(tensors["fused.layers[0].convolution.w_desc.data"], np.float32), w)
    assert message.fused.layers[0].convolution.x_padding == 1


def test_small_messages_are_parsed_whole():
    request = pb.FilterApplyBatchRequest(filter_id="f", batch_size=1, **with_in({"data": b"\0" * 16}))
    message, tensors = wire.split(request.SerializeToString(), pb.FilterApplyBatchRequest)
    assert tensors == {} and getattr(message, "in").data == b"\0" * 16


@pytest.mark.parametrize("cut", [1, 5, 100])
def test_truncated_bytes_are_a_decode_error(cut):
    request = pb.FilterApplyBatchRequest(filter_id="f", batch_size=1)
    getattr(request, "in").SetInParent()
    raw = wire.join(request, {"in": big()})
    with pytest.raises(DecodeError):
        wire.split(raw[:-cut], pb.FilterApplyBatchRequest)


def test_join_refuses_a_path_with_no_buffer():
    with pytest.raises(ValueError, match="no Buffer at"):
        wire.join(pb.FilterApplyBatchRequest(filter_id="f"), {"in": big(4)})


def test_a_sequences_calls_are_split_as_views_and_joined_with_one_copy():
    """CallSequence: each SequencedCall's request comes out of the received bytes as a view (no
    copy of the outer message), and its tensors as views of that; join writes the message the
    generated code reads."""
    x, dy = big(seed=3), big(seed=4)
    inner = []
    for key, tensor in (("k/1", x), ("k/2", dy)):
        request = pb.FilterApplyBatchRequest(filter_id="f-2", batch_size=1)
        getattr(request, "in").SetInParent()
        inner.append((key, wire.join(request, {"in": tensor})))
    outer = pb.CallSequenceRequest(calls=[pb.SequencedCall(rpc="FilterApplyBatch", idempotency_key=key)
                                          for key, _ in inner])
    raw = bytearray(wire.join(outer, {f"calls[{k}]": data for k, (_, data) in enumerate(inner)}))
    generated = pb.CallSequenceRequest.FromString(bytes(raw))
    assert [(c.rpc, c.idempotency_key, c.request) for c in generated.calls] == \
        [("FilterApplyBatch", key, data) for key, data in inner]
    message, calls = wire.split(raw, pb.CallSequenceRequest)
    assert sorted(calls) == ["calls[0]", "calls[1]"]
    assert [c.idempotency_key for c in message.calls] == ["k/1", "k/2"] and message.calls[0].request == b""
    for k, (_, data) in enumerate(inner):
        assert calls[f"calls[{k}]"] == data
        assert np.shares_memory(np.frombuffer(calls[f"calls[{k}]"], np.uint8), np.frombuffer(raw, np.uint8))
        request, tensors = wire.split(calls[f"calls[{k}]"], pb.FilterApplyBatchRequest)
        values = np.frombuffer(tensors["in"], np.float32)
        np.testing.assert_array_equal(values, (x, dy)[k])
        assert np.shares_memory(values, np.frombuffer(raw, np.uint8)) and request.filter_id == "f-2"


@pytest.mark.parametrize("n", [10, 1 << 15])          # 40 bytes (the message's own field) and 128 KiB (spliced)
def test_a_sequences_responses_are_joined_once_and_split_as_views(n):
    """CallSequenceResponse.responses: entries given as "responses[k]" are written in order as the
    generated code's repeated field; received, each is a view of the reply (large replies)."""
    inner = [pb.FilterApplyBatchResponse().SerializeToString() + big(n, seed=k).tobytes() for k in range(3)]
    raw = bytearray(wire.join(pb.CallSequenceResponse(), {f"responses[{k}]": data for k, data in enumerate(inner)}))
    assert list(pb.CallSequenceResponse.FromString(bytes(raw)).responses) == inner
    message, views = wire.split(raw, pb.CallSequenceResponse)
    if n * 4 * 3 < wire.SPLIT_MIN_BYTES:
        assert views == {} and list(message.responses) == inner
        return
    assert sorted(views) == ["responses[0]", "responses[1]", "responses[2]"] and len(message.responses) == 0
    for k, data in enumerate(inner):
        assert views[f"responses[{k}]"] == data
        assert np.shares_memory(np.frombuffer(views[f"responses[{k}]"], np.uint8), np.frombuffer(raw, np.uint8))


def test_set_payload_appends_repeated_entries_in_order_only():
    message = pb.CallSequenceResponse()
    assert wire.set_payload(message, "responses[0]", b"a") and wire.set_payload(message, "responses[1]", b"b")
    assert not wire.set_payload(message, "responses[3]", b"d")          # not the next entry: refused
    assert not wire.set_payload(message, "calls[0]", b"x")              # no such field
    assert list(message.responses) == [b"a", b"b"]
    request = pb.FilterApplyBatchRequest()
    assert wire.set_payload(request, "in", b"\0" * 8) and getattr(request, "in").data == b"\0" * 8
    with pytest.raises(ValueError, match="no Buffer at"):
        wire.join(pb.CallSequenceResponse(), {"responses[1]": b"skips entry 0"})
