"""Buffer decoding: the JSON `values` form takes what the REST door writes back, nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import json_format

from bnns.kernels import lstm
from bnns.kernels.errors import InvalidArgumentError
from bnns.server import codec, decoders
from bnns.v1 import types_pb2


def buffer(values) -> types_pb2.Buffer:
    return json_format.ParseDict({"values": values}, types_pb2.Buffer())


def test_values_accept_nested_lists_and_proto3_non_finite_spellings():
    got = codec.array_from_buffer(buffer([[1, 2], ["NaN", "Infinity"], "-Infinity"]), np.dtype("<f4"), "in")
    np.testing.assert_array_equal(got, np.array([1, 2, np.nan, np.inf, -np.inf], np.float32))


@pytest.mark.parametrize("bad", [["nan"], ["1.5"], [True], [{"a": 1}]], ids=["lowercase-nan", "numeric-string",
                                                                          "bool", "object"])
def test_values_refuse_anything_else(bad):
    with pytest.raises(InvalidArgumentError, match="values holds"):
        codec.array_from_buffer(buffer(bad), np.dtype("<f4"), "in")


# ------------------------------------------------------ layer parameters: decoders generated from the messages

class _Source:
    """The one thing the decoders ask of a dataplane.CallIO here: inline `data` Buffers as arrays."""

    arrays: dict = {}

    def elements(self, buf, path, dtype, name, count):
        return codec.array_from_buffer(buf, dtype, name)


def vector(n: int, values=None) -> types_pb2.NDArrayDescriptor:
    data = None if values is None else types_pb2.Buffer(data=np.asarray(values, np.float32).tobytes())
    return types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[n], data=data)


def test_an_unset_optional_scalar_takes_the_kernels_default_and_a_set_one_its_value():
    from bnns.v1 import service_pb2
    fields = decoders.optimizer_fields(service_pb2.OptimizerFields(learning_rate=0.5, momentum=0.25))
    assert (fields.beta1, fields.beta2, fields.epsilon, fields.gradient_scale) == (0.9, 0.999, 1e-8, 1.0)
    assert (fields.learning_rate, fields.momentum) == (0.5, 0.25)
    assert decoders.optimizer_fields(service_pb2.OptimizerFields(beta1=0.0)).beta1 == 0.0     # 0 is a value, not unset


def test_a_oneof_case_decodes_into_its_dataclass_and_the_others_stay_null():
    fields = types_pb2.ArithmeticBinary(in1=vector(2), in1_type=types_pb2.DESCRIPTOR_TYPE_SAMPLE, in2=vector(2, [1, 2]),
                                        in2_type=types_pb2.DESCRIPTOR_TYPE_CONSTANT, out=vector(2, [9, 9]))
    pb = types_pb2.ArithmeticParameters(arithmetic_function=types_pb2.ARITHMETIC_FUNCTION_ADD, binary=fields)
    params = decoders.arithmetic_parameters(pb, _Source(), "layer_params")
    assert params.arithmetic_function == types_pb2.ARITHMETIC_FUNCTION_ADD
    assert params.unary is None and params.ternary is None and params.binary is not None
    assert params.binary.in1.data is None and params.binary.in1_type == types_pb2.DESCRIPTOR_TYPE_SAMPLE
    assert params.binary.in2_type == types_pb2.DESCRIPTOR_TYPE_CONSTANT
    np.testing.assert_array_equal(params.binary.in2.data, [1, 2])
    assert params.binary.out.data is None and params.binary.out.shape == (2,)       # out: a shape only


def test_a_required_nested_message_left_unset_is_refused_by_name():
    with pytest.raises(InvalidArgumentError, match=r"query \(MHAProjectionParameters\) is not set"):
        decoders.multihead_attention_parameters(types_pb2.MultiheadAttentionParameters(), _Source(), "layer_params")


def test_an_optional_descriptor_without_layout_or_data_is_a_null_pointer():
    proj = types_pb2.MHAProjectionParameters(target_desc=vector(3), weights=vector(3, [1, 2, 3]),
                                             bias=types_pb2.NDArrayDescriptor())
    pb = types_pb2.MultiheadAttentionParameters(query=proj, key=proj, value=proj, output=proj)
    params = decoders.multihead_attention_parameters(pb, _Source(), "layer_params")
    assert params.query.bias is None and params.key_attn_bias is None
    assert params.query.target_desc.data is None                  # shape only
    np.testing.assert_array_equal(params.output.weights.data, [1, 2, 3])


def test_the_lstm_gates_input_weights_are_two_the_second_may_be_left_out():
    gate = types_pb2.LSTMGateDescriptor(iw_desc=[vector(2, [1, 2])], hw_desc=vector(1, [3]))

    def decode():
        return decoders.lstm_parameters(types_pb2.LSTMParameters(
            input_size=2, hidden_size=1, batch_size=1, num_layers=1, seq_len=1,
            input_descriptor=types_pb2.LSTMDataDescriptor(data_desc=vector(2)),
            output_descriptor=types_pb2.LSTMDataDescriptor(data_desc=vector(1)),
            input_gate=gate, forget_gate=gate, candidate_gate=gate, output_gate=gate), _Source(), "layer_params")
    decoded = decode()
    assert len(decoded.input_gate.iw_desc) == 1 and decoded.hidden_activation is None   # iw_desc[1] left out
    lstm.LSTMFilter(decoded)                                       # read as None: no upper layers
    gate.iw_desc.extend([vector(2), vector(2)])
    with pytest.raises(InvalidArgumentError, match="input_gate.iw_desc has 3 descriptors"):
        lstm.LSTMFilter(decode())


def test_json_takes_apples_in_for_the_unary_arithmetic_input():
    """ArithmeticUnary's input is in_ on the wire (in is a Python keyword); its JSON name is
    Apple's `in`, which REST bodies may use (the README says so)."""
    body = {"arithmetic_function": "ARITHMETIC_FUNCTION_ABS", "unary": {"in": vector_json(3), "in_type": "DESCRIPTOR_TYPE_SAMPLE"}}
    message = json_format.ParseDict(body, types_pb2.ArithmeticParameters())
    assert list(message.unary.in_.size) == [3] and message.unary.in_type == types_pb2.DESCRIPTOR_TYPE_SAMPLE
    assert json_format.MessageToDict(message)["unary"]["in"] == {"layout": "DATA_LAYOUT_VECTOR", "size": ["3"]}


def vector_json(n: int) -> dict:
    return {"layout": "DATA_LAYOUT_VECTOR", "size": [n]}
