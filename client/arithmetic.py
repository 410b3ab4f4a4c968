"""Arithmetic filters: BNNSFilterCreateLayerArithmetic, BNNSArithmeticFilterApplyBatch,
BNNSArithmeticFilterApplyBackwardBatch, and BNNS.{Unary,Binary,Ternary}ArithmeticLayer."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar, Optional, Sequence

from bnns.kernels import arithmetic as arithmetic_kernels
from bnns.kernels.errors import given, require
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import api
from . import constants as C
from .layers import Layer, _required, buffer_of, read_only
from .c_structs import BNNSActivation, BNNSArithmeticOperand, BNNSFilterParameters, BNNSNDArrayDescriptor


class _FunctionFields:
    """Apple's arithmetic function-fields structs: their operands are the (descriptor, type)
    field pairs in declaration order (in/in_, in1, in2, in3), the output last."""

    __dataclass_fields__: ClassVar[dict[str, Any]]     # each is a dataclass (_function_fields)
    out: Optional[BNNSNDArrayDescriptor]
    out_type: int

    def operands(self) -> list:
        names = [f.name for f in dataclasses.fields(self) if f.name.startswith("in") and not f.name.endswith("_type")]
        return [BNNSArithmeticOperand(getattr(self, name), getattr(self, name.rstrip("_") + "_type")) for name in names]


def _function_fields(name: str, inputs: Sequence[str]) -> type:
    """Apple's BNNSArithmetic{Unary,Binary,Ternary}: each input and its type, then out and out_type
    (``in`` is spelled ``in_``); the first input is required."""
    spec: list[tuple] = [(inputs[0], BNNSNDArrayDescriptor)]
    for k, field in enumerate(inputs):
        spec += ([] if k == 0 else [(field, BNNSNDArrayDescriptor, dataclasses.field(default=None))]) + \
                [(field.rstrip("_") + "_type", int, dataclasses.field(default=C.BNNSSample))]
    spec += [("out", BNNSNDArrayDescriptor, dataclasses.field(default=None)),
             ("out_type", int, dataclasses.field(default=C.BNNSSample))]
    return dataclasses.make_dataclass(name, spec, bases=(_FunctionFields,), namespace={
        "__doc__": f"{name}: {', '.join(n for n, *_ in spec)}."})


BNNSArithmeticUnary = _function_fields("BNNSArithmeticUnary", ("in_",))
BNNSArithmeticBinary = _function_fields("BNNSArithmeticBinary", ("in1", "in2"))
BNNSArithmeticTernary = _function_fields("BNNSArithmeticTernary", ("in1", "in2", "in3"))

_FIELDS_BY_ARITY = {1: BNNSArithmeticUnary, 2: BNNSArithmeticBinary, 3: BNNSArithmeticTernary}


def function_fields(operands, out: BNNSNDArrayDescriptor, out_type: int = C.BNNSSample):
    """The BNNSArithmetic{Unary,Binary,Ternary} struct for (descriptor, type) operand pairs."""
    operands = list(operands)
    require(len(operands) in _FIELDS_BY_ARITY, f"{len(operands)} operands; an arithmetic layer takes 1, 2 or 3")
    flat = [value for pair in operands for value in pair]
    return _FIELDS_BY_ARITY[len(operands)](*flat, out, out_type)


@dataclasses.dataclass
class BNNSLayerParametersArithmetic:
    """BNNSLayerParametersArithmetic: the function, its ``arithmetic_function_fields`` (a
    BNNSArithmeticUnary, BNNSArithmeticBinary or BNNSArithmeticTernary, as the function takes 1,
    2 or 3 inputs) and the activation."""

    arithmetic_function: int
    arithmetic_function_fields: _FunctionFields
    activation: Optional[BNNSActivation] = None

    @property
    def inputs(self) -> list:
        """The operands (descriptor, type) in order."""
        return self.arithmetic_function_fields.operands()

    @property
    def o_desc(self) -> Optional[BNNSNDArrayDescriptor]:
        return self.arithmetic_function_fields.out

    @property
    def out_type(self) -> int:
        return self.arithmetic_function_fields.out_type

    def to_proto(self) -> types_pb2.ArithmeticParameters:
        o_desc = given(self.o_desc, "arithmetic_function_fields.out is required")
        return types_pb2.ArithmeticParameters(
            arithmetic_function=int(self.arithmetic_function),
            inputs=[types_pb2.ArithmeticOperand(desc=op.desc.to_proto(op.type != C.BNNSSample), type=int(op.type))
                    for op in self.inputs],
            o_desc=o_desc.to_proto(False), out_type=int(self.out_type), activation=(self.activation or BNNSActivation()).to_proto())

    def trainables(self) -> dict:
        return {f"in{k}": op.desc for k, op in enumerate(self.inputs) if op.type == C.BNNSParameter}


class ArithmeticFilter(api.BNNSFilter):
    operand_geometries: list = []
    operand_types: list = []


@api._c_style(None)
def BNNSFilterCreateLayerArithmetic(layer_params: BNNSLayerParametersArithmetic,
                                    filter_params: Optional[BNNSFilterParameters] = None):
    """An arithmetic filter, or None (see last_error())."""
    return api.create_filter("arithmetic", layer_params, filter_params,
                             input_geometry=layer_params.inputs[0].desc.geometry(),
                             output_geometry=given(layer_params.o_desc, "arithmetic_function_fields.out is required")
                             .geometry(), filter_class=ArithmeticFilter,
                             operand_geometries=[op.desc.geometry() for op in layer_params.inputs],
                             operand_types=[int(op.type) for op in layer_params.inputs])


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
