"""Arithmetic filters: BNNSFilterCreateLayerArithmetic, BNNSArithmeticFilterApplyBatch,
BNNSArithmeticFilterApplyBackwardBatch, and BNNS.{Unary,Binary,Ternary}ArithmeticLayer."""

from __future__ import annotations

import re
from typing import Optional, Sequence

from bnns.kernels import arithmetic as arithmetic_kernels
from bnns.kernels.errors import given, require
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import api
from . import constants as C
from .layers import Layer, _required, buffer_of, read_only
from .c_structs import (BNNSArithmeticBinary, BNNSArithmeticTernary, BNNSArithmeticUnary, BNNSFilterParameters,
                        BNNSLayerParametersArithmetic, BNNSNDArrayDescriptor)


_FIELDS_BY_ARITY = {1: BNNSArithmeticUnary, 2: BNNSArithmeticBinary, 3: BNNSArithmeticTernary}


def function_fields(operands, out: BNNSNDArrayDescriptor, out_type: int = C.BNNSSample):
    """The BNNSArithmetic{Unary,Binary,Ternary} struct for (descriptor, type) operand pairs."""
    operands = list(operands)
    require(len(operands) in _FIELDS_BY_ARITY, f"{len(operands)} operands; an arithmetic layer takes 1, 2 or 3")
    flat = [value for pair in operands for value in pair]
    return _FIELDS_BY_ARITY[len(operands)](*flat, out, out_type)


def operands(fields) -> list:
    """Each input's (descriptor, type) of a BNNSArithmetic{Unary,Binary,Ternary}, in order (in_,
    or in1, in2, in3), every descriptor given."""
    require(isinstance(fields, tuple(_FIELDS_BY_ARITY.values())), lambda: f"arithmetic_function_fields is a "
            f"{type(fields).__name__}: give a BNNSArithmeticUnary, BNNSArithmeticBinary or BNNSArithmeticTernary")
    inputs = arithmetic_kernels.inputs_of(fields)
    for name, desc, _ in inputs:
        require(desc is not None, f"arithmetic_function_fields.{name} is required")
    return [(desc, kind) for _, desc, kind in inputs]


class ArithmeticFilter(api.BNNSFilter):
    operand_geometries: list = []
    operand_types: list = []


@api._c_style(None)
def BNNSFilterCreateLayerArithmetic(layer_params: BNNSLayerParametersArithmetic,
                                    filter_params: Optional[BNNSFilterParameters] = None):
    """An arithmetic filter, or None (see last_error())."""
    fields = layer_params.arithmetic_function_fields
    inputs = operands(fields)
    return api.create_filter("arithmetic", layer_params, filter_params, input_geometry=inputs[0][0].geometry(),
                             output_geometry=given(fields.out, "arithmetic_function_fields.out is required").geometry(),
                             filter_class=ArithmeticFilter, operand_geometries=[d.geometry() for d, _ in inputs],
                             operand_types=[t for _, t in inputs])


def _operand_buffers(io: api.Exchange, f: ArithmeticFilter, batch_size, in_, in_stride):
    require(len(in_) == len(f.operand_types), f"in has {len(in_)} entries; the filter has "
            f"{len(f.operand_types)} operands (pass None for Constant and Parameter operands)")
    strides = list(in_stride) + [0] * (len(in_) - len(in_stride))
    buffers = []
    for k, (array, kind, geometry) in enumerate(zip(in_, f.operand_types, f.operand_geometries)):
        if kind == C.BNNSSample and array is not None:
            buffers.append(io.send(f"in[{k}]", array, geometry, batch_size, strides[k]))
        else:
            buffers.append(types_pb2.Buffer())
    return buffers


@api._c_style(-1)
def BNNSArithmeticFilterApplyBatch(filter: ArithmeticFilter, batch_size: int, number_of_inputs: int, in_: Sequence,
                                   in_stride: Sequence[int], out, out_stride: int) -> int:
    """Apply an arithmetic filter; ``in_`` has one array per operand (None for Constant/Parameter); 0 or -1."""
    require(number_of_inputs == len(in_), f"number_of_inputs {number_of_inputs} but {len(in_)} inputs given")
    io = api.Exchange()
    io.receive("out", out, filter.output_geometry, batch_size, out_stride)
    filter.call("ArithmeticFilterApplyBatch", pb.ArithmeticFilterApplyBatchRequest(
        filter_id=filter.filter_id, batch_size=int(batch_size),
        **{"in": _operand_buffers(io, filter, batch_size, in_, in_stride)}), io)
    return 0


def arithmetic_apply_backward(f: ArithmeticFilter, batch_size, in_, in_stride, in_delta, in_delta_stride, out,
                              out_stride, out_delta, out_delta_stride) -> None:
    require(out_delta is not None and out_delta.data is not None, "out_delta (with data) is required")
    require(len(in_delta) == len(f.operand_types), f"in_delta has {len(in_delta)} entries; the filter has "
            f"{len(f.operand_types)} operands (None where no gradient is wanted)")
    strides = list(in_delta_stride) + [0] * (len(in_delta) - len(in_delta_stride))
    io = api.Exchange()
    for k, (desc, kind, geometry) in enumerate(zip(in_delta, f.operand_types, f.operand_geometries)):
        if kind == C.BNNSSample:
            io.receive_gradient(f"in_delta[{k}]", desc, geometry, batch_size, strides[k])
        else:
            io.receive_gradient(f"in_delta[{k}]", desc, geometry, 1, 0)
    request = pb.ArithmeticFilterApplyBackwardBatchRequest(
        filter_id=f.filter_id, batch_size=int(batch_size), compute_in_delta=[d is not None for d in in_delta],
        out_delta=io.send("out_delta", out_delta.data, f.output_geometry, batch_size, out_delta_stride),
        **{"in": _operand_buffers(io, f, batch_size, in_ if in_ is not None else [None] * len(in_delta),
                                  in_stride or [])})
    if out is not None:
        request.out.CopyFrom(io.send("out", out, f.output_geometry, batch_size, out_stride))
    f.call("ArithmeticFilterApplyBackwardBatch", request, io)


@api._c_style(-1)
def BNNSArithmeticFilterApplyBackwardBatch(filter: ArithmeticFilter, batch_size: int, number_of_inputs: int,
                                           in_: Optional[Sequence], in_stride: Sequence[int],
                                           in_delta: Sequence[Optional[BNNSNDArrayDescriptor]],
                                           in_delta_stride: Sequence[int], out, out_stride: int,
                                           out_delta: BNNSNDArrayDescriptor, out_delta_stride: int) -> int:
    """Gradients for every operand whose in_delta descriptor is given (Parameter: summed over the batch)."""
    require(number_of_inputs == len(in_delta), f"number_of_inputs {number_of_inputs} but {len(in_delta)} in_delta")
    arithmetic_apply_backward(filter, batch_size, in_, in_stride, in_delta, in_delta_stride, out, out_stride,
                              out_delta, out_delta_stride)
    return 0


class _ArithmeticLayer(Layer):
    """BNNS.{Unary,Binary,Ternary}ArithmeticLayer."""

    filter: ArithmeticFilter   # what its creator returns

    def __init__(self, function: Optional[int], operands, output: BNNSNDArrayDescriptor, output_type: int,
                 activation, filter_parameters):
        params = BNNSLayerParametersArithmetic(given(function, "function is required"),
                                               function_fields(operands, output, output_type), activation)
        super().__init__(BNNSFilterCreateLayerArithmetic(params, filter_parameters))

    def _apply(self, batch_size, inputs, output):
        arrays = [d.data if d is not None and t == C.BNNSSample else None
                  for d, t in zip(inputs, self.filter.operand_types)]
        if BNNSArithmeticFilterApplyBatch(self.filter, batch_size, len(arrays), arrays, [], output.data, 0) != 0:
            raise api.failure()

    def _apply_backward(self, batch_size, inputs, output, output_gradient, gradients):
        arrays = [buffer_of(d, "input") for d in inputs]
        arithmetic_apply_backward(self.filter, batch_size, arrays, [], list(gradients), [],
                                  buffer_of(output, "output"), 0, read_only(output_gradient), 0)


class UnaryArithmeticLayer(_ArithmeticLayer):
    """BNNS.UnaryArithmeticLayer(input:inputDescriptorType:output:outputDescriptorType:function:activation:
    filterParameters:)."""

    def __init__(self, input=None, input_descriptor_type=C.BNNSSample, output=None,
                 output_descriptor_type=C.BNNSSample, function: Optional[int] = None, activation=None, filter_parameters=None):
        _required(input=input, output=output, function=function)
        super().__init__(function, [(input, input_descriptor_type)], output, output_descriptor_type, activation,
                         filter_parameters)

    def apply(self, batch_size, input, output):
        self._apply(batch_size, [input], output)

    def apply_backward(self, batch_size, input, output, output_gradient, generating_input_gradient):
        self._apply_backward(batch_size, [input], output, output_gradient, [generating_input_gradient])


class BinaryArithmeticLayer(_ArithmeticLayer):
    """BNNS.BinaryArithmeticLayer(inputA:inputADescriptorType:inputB:inputBDescriptorType:output:
    outputDescriptorType:function:activation:filterParameters:)."""

    def __init__(self, input_a=None, input_a_descriptor_type=C.BNNSSample, input_b=None,
                 input_b_descriptor_type=C.BNNSSample, output=None, output_descriptor_type=C.BNNSSample,
                 function: Optional[int] = None, activation=None, filter_parameters=None):
        _required(input_a=input_a, input_b=input_b, output=output, function=function)
        super().__init__(function, [(input_a, input_a_descriptor_type), (input_b, input_b_descriptor_type)], output,
                         output_descriptor_type, activation, filter_parameters)

    def apply(self, batch_size, input_a, input_b, output):
        self._apply(batch_size, [input_a, input_b], output)

    def apply_backward(self, batch_size, input_a, input_b, output, output_gradient,
                       generating_input_a_gradient=None, generating_input_b_gradient=None):
        self._apply_backward(batch_size, [input_a, input_b], output, output_gradient,
                             [generating_input_a_gradient, generating_input_b_gradient])


class TernaryArithmeticLayer(_ArithmeticLayer):
    """BNNS.TernaryArithmeticLayer(inputA:inputADescriptorType:inputB:inputBDescriptorType:inputC:
    inputCDescriptorType:output:outputDescriptorType:function:activation:filterParameters:)."""

    def __init__(self, input_a=None, input_a_descriptor_type=C.BNNSSample, input_b=None,
                 input_b_descriptor_type=C.BNNSSample, input_c=None, input_c_descriptor_type=C.BNNSSample,
                 output=None, output_descriptor_type=C.BNNSSample, function: Optional[int] = None, activation=None,
                 filter_parameters=None):
        _required(input_a=input_a, input_b=input_b, input_c=input_c, output=output, function=function)
        super().__init__(function, [(input_a, input_a_descriptor_type), (input_b, input_b_descriptor_type),
                                    (input_c, input_c_descriptor_type)], output, output_descriptor_type, activation,
                         filter_parameters)

    def apply(self, batch_size, input_a, input_b, input_c, output):
        self._apply(batch_size, [input_a, input_b, input_c], output)

    def apply_backward(self, batch_size, input_a, input_b, input_c, output, output_gradient,
                       generating_input_a_gradient=None, generating_input_b_gradient=None,
                       generating_input_c_gradient=None):
        self._apply_backward(batch_size, [input_a, input_b, input_c], output, output_gradient,
                             [generating_input_a_gradient, generating_input_b_gradient, generating_input_c_gradient])


def _swift_case(apple: str) -> str:
    """'BNNSArithmeticReciprocalSquareRoot' -> 'reciprocal_square_root' (Swift's reciprocalSquareRoot)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", apple[len("BNNSArithmetic"):].replace("NaN", "Nan")).lower()


def _swift_functions(name: str, arity: int) -> type:
    """BNNS.Arithmetic{Unary,Binary,Ternary}Function: the cases of that arity, from the contract's
    Apple names and the kernels' function table (each case is BNNSArithmeticFunction's raw value)."""
    cases = {_swift_case(apple): value for apple, value in C.APPLE_CONSTANTS.items()
             if apple.startswith("BNNSArithmetic") and apple != "BNNSArithmetic" and value in arithmetic_kernels.FUNCTIONS
             and arithmetic_kernels.FUNCTIONS[value].arity == arity}
    return type(name, (), {"__doc__": f"BNNS.{name}: {', '.join(sorted(cases))}.", **cases})


ArithmeticUnaryFunction = _swift_functions("ArithmeticUnaryFunction", 1)
ArithmeticBinaryFunction = _swift_functions("ArithmeticBinaryFunction", 2)
ArithmeticTernaryFunction = _swift_functions("ArithmeticTernaryFunction", 3)
