"""Fused layers: BNNSFilterCreateFusedLayer, BNNSFusedFilterApply[MultiInput]Batch,
BNNSFusedFilterApplyBackward[MultiInput]Batch, and BNNS.FusedParametersLayer with its named
subclasses.

delta_parameters come in BNNS's order: [weights, bias, beta, gamma] for compute -> normalization,
[beta, gamma] for arithmetic -> normalization (quantization pairs have no backward).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence, Tuple

from bnns.kernels import layout
from bnns.kernels.errors import InvalidArgumentError, given, require
from bnns.server.kinds import FUSED_MEMBER_CASE
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import api
from . import constants as C
from .arithmetic import BNNSLayerParametersArithmetic, function_fields, operands
from .layers import Layer, _ConvolutionPadding, _ConvolutionType, _LearningPhase
from .normalization import (BNNSLayerParametersNormalization, client_moving_statistics,
                            receive_moving_statistics)
from .c_structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersConvolution,
                        BNNSLayerParametersFullyConnected, BNNSLayerParametersQuantization,
                        BNNSNDArrayDescriptor)


# BNNSFilterType -> its FusedLayerParameters case, from the table of layer kinds.
_MEMBER_FIELD = FUSED_MEMBER_CASE


class _FusedParams:
    """The creator's (types, parameter structs) as one object for create_filter."""

    def __init__(self, types: Sequence[int], params: Sequence):
        require(len(types) == len(params), f"{len(types)} filter types but {len(params)} parameter structs")
        self.types, self.params = [int(t) for t in types], list(params)

    def to_proto(self) -> types_pb2.FusedParameters:
        layers = []
        for t, p in zip(self.types, self.params):
            if t not in _MEMBER_FIELD:
                raise InvalidArgumentError(f"filter type {t} cannot be a member of a fused layer")
            field = _MEMBER_FIELD[t]
            layers.append(types_pb2.FusedLayerParameters(
                **{field: p.to_proto(type=t) if field == "normalization" else p.to_proto()}))
        return types_pb2.FusedParameters(layers=layers)

    def trainables(self) -> dict:
        return {name: desc for p in self.params for name, desc in p.trainables().items()}

    def delta_geometries(self) -> list:
        """Shapes of delta_parameters, in BNNS's order."""
        first, last = self.params[0], self.params[-1]
        out = []
        if isinstance(first, (BNNSLayerParametersConvolution, BNNSLayerParametersFullyConnected)):
            out += [first.w_desc.geometry(), first.bias.geometry() if first.bias is not None else None]
        if isinstance(last, BNNSLayerParametersNormalization):
            channel = _norm_parameter_geometry(last)
            out += [last.beta_desc.geometry() if last.beta_desc is not None else channel,
                    last.gamma_desc.geometry() if last.gamma_desc is not None else channel]
        return out

    def input_geometries(self) -> list:
        first = self.params[0]
        if isinstance(first, BNNSLayerParametersArithmetic):
            return [desc.geometry() for desc, _ in operands(first.arithmetic_function_fields)]
        return [first.i_desc.geometry()]


def _norm_parameter_geometry(p: BNNSLayerParametersNormalization) -> layout.Descriptor:
    shape = p.i_desc.geometry().shape
    return layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (shape[0],))


class FusedFilter(api.BNNSFilter):
    input_geometries: list = []
    delta_geometries: list = []
    moving_stats: dict = {}     # a Batch/Instance-norm member's caller arrays (UseClientPtr)


@api._c_style(None)
def BNNSFilterCreateFusedLayer(number_of_filters: int, filter_type: Sequence[int], layer_params: Sequence,
                               filter_params: Optional[BNNSFilterParameters] = None):
    """A fused filter from ``number_of_filters`` (type, parameter struct) pairs, or None."""
    require(number_of_filters == len(filter_type), f"number_of_filters {number_of_filters} but "
            f"{len(filter_type)} filter types")
    fused = _FusedParams(filter_type, layer_params)
    inputs = fused.input_geometries()
    moving = {}
    for p in fused.params:
        if isinstance(p, BNNSLayerParametersNormalization):
            moving.update(client_moving_statistics(p, filter_params))
    return api.create_filter("fused", fused, filter_params, input_geometry=inputs[0],
                             output_geometry=layer_params[-1].o_desc.geometry(), filter_class=FusedFilter,
                             input_geometries=inputs, delta_geometries=fused.delta_geometries(),
                             moving_stats=moving)


def fused_apply(f: FusedFilter, batch_size, inputs, strides, out, out_stride, training) -> None:
    io = api.Exchange()
    io.receive("out", out, f.output_geometry, batch_size, out_stride)
    receive_moving_statistics(io, f.moving_stats)   # UseClientPtr: updated in place, as BNNS does
    strides = list(strides) + [0] * (len(inputs) - len(strides))
    single = len(f.input_geometries) == 1
    buffers = [io.send("in" if single else f"in[{k}]", x, g, batch_size, s)
               for k, (x, g, s) in enumerate(zip(inputs, f.input_geometries, strides))]
    request: pb.FusedFilterApplyBatchRequest | pb.FusedFilterApplyMultiInputBatchRequest
    if single:
        request = pb.FusedFilterApplyBatchRequest(filter_id=f.filter_id, batch_size=int(batch_size),
                                                  training=bool(training), **{"in": buffers[0]})  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter
        f.call("FusedFilterApplyBatch", request, io)
    else:
        request = pb.FusedFilterApplyMultiInputBatchRequest(filter_id=f.filter_id, batch_size=int(batch_size),
                                                            training=bool(training), **{"in": buffers})  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter
        f.call("FusedFilterApplyMultiInputBatch", request, io)


@api._c_style(-1)
def BNNSFusedFilterApplyBatch(filter: FusedFilter, batch_size: int, in_, in_stride: int, out, out_stride: int,
                              training: bool) -> int:
    """Apply a single-input fused filter (training: batch statistics and a cache for backward); 0 or -1."""
    require(len(filter.input_geometries) == 1, "this fused filter takes several inputs: use "
            "BNNSFusedFilterApplyMultiInputBatch")
    fused_apply(filter, batch_size, [in_], [in_stride], out, out_stride, training)
    return 0


@api._c_style(-1)
def BNNSFusedFilterApplyMultiInputBatch(filter: FusedFilter, batch_size: int, number_of_inputs: int, in_: Sequence,
                                        in_stride: Sequence[int], out, out_stride: int, training: bool) -> int:
    """Apply an arithmetic -> normalization fused filter to its 2 or 3 inputs; 0 or -1."""
    require(number_of_inputs == len(in_) == len(filter.input_geometries),
            f"number_of_inputs {number_of_inputs}, {len(in_)} inputs given, the filter takes "
            f"{len(filter.input_geometries)}")
    fused_apply(filter, batch_size, list(in_), list(in_stride), out, out_stride, training)
    return 0


def fused_apply_backward(f: FusedFilter, batch_size, inputs, strides, in_deltas, in_delta_strides, out, out_stride,
                         out_delta, out_delta_stride, delta_parameters) -> None:
    require(out_delta is not None and out_delta.data is not None, "out_delta (with data) is required")
    delta_parameters = list(delta_parameters or [])
    require(len(delta_parameters) in (0, len(f.delta_geometries)),
            f"delta_parameters has {len(delta_parameters)} entries; this fused filter has {len(f.delta_geometries)} "
            "([weights, bias, beta, gamma] or [beta, gamma]; None where not wanted)")
    delta_parameters += [None] * (len(f.delta_geometries) - len(delta_parameters))
    strides = list(strides) + [0] * (len(f.input_geometries) - len(strides))
    in_delta_strides = list(in_delta_strides) + [0] * (len(f.input_geometries) - len(in_delta_strides))
    single = len(f.input_geometries) == 1
    io = api.Exchange()
    for k, (d, g, s) in enumerate(zip(in_deltas, f.input_geometries, in_delta_strides)):
        io.receive_gradient("in_delta" if single else f"in_delta[{k}]", d, g, batch_size, s)
    for k, (d, g) in enumerate(zip(delta_parameters, f.delta_geometries)):
        io.receive_gradient(f"delta_parameters[{k}]", d, g, 1, 0)
    buffers = [io.send("in" if single else f"in[{k}]", x, g, batch_size, s) if x is not None else types_pb2.Buffer()
               for k, (x, g, s) in enumerate(zip(inputs, f.input_geometries, strides))]
    common: dict[str, Any] = dict(filter_id=f.filter_id, batch_size=int(batch_size),
                                  out_delta=io.send("out_delta", out_delta.data, f.output_geometry, batch_size,
                                                    out_delta_stride),
                                  compute_delta_parameters=[d is not None for d in delta_parameters])
    request: pb.FusedFilterApplyBackwardBatchRequest | pb.FusedFilterApplyBackwardMultiInputBatchRequest
    if single:
        request = pb.FusedFilterApplyBackwardBatchRequest(compute_in_delta=in_deltas[0] is not None, **common)
        if inputs[0] is not None:
            getattr(request, "in").CopyFrom(buffers[0])
        rpc = "FusedFilterApplyBackwardBatch"
    else:
        request = pb.FusedFilterApplyBackwardMultiInputBatchRequest(
            compute_in_delta=[d is not None for d in in_deltas], **{"in": buffers}, **common)  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter
        rpc = "FusedFilterApplyBackwardMultiInputBatch"
    if out is not None:
        request.out.CopyFrom(io.send("out", out, f.output_geometry, batch_size, out_stride))
    f.call(rpc, request, io)


@api._c_style(-1)
def BNNSFusedFilterApplyBackwardBatch(filter: FusedFilter, batch_size: int, in_, in_stride: int,
                                      in_delta: Optional[BNNSNDArrayDescriptor], in_delta_stride: int, out,
                                      out_stride: int, out_delta: BNNSNDArrayDescriptor, out_delta_stride: int,
                                      delta_parameters: Optional[Sequence[Optional[BNNSNDArrayDescriptor]]]) -> int:
    """Gradients of a single-input fused filter after a training forward; 0 or -1."""
    fused_apply_backward(filter, batch_size, [in_], [in_stride], [in_delta], [in_delta_stride], out, out_stride,
                         out_delta, out_delta_stride, delta_parameters)
    return 0


@api._c_style(-1)
def BNNSFusedFilterApplyBackwardMultiInputBatch(filter: FusedFilter, batch_size: int, number_of_inputs: int,
                                                in_: Optional[Sequence], in_stride: Sequence[int],
                                                in_delta: Sequence[Optional[BNNSNDArrayDescriptor]],
                                                in_delta_stride: Sequence[int], out, out_stride: int,
                                                out_delta: BNNSNDArrayDescriptor, out_delta_stride: int,
                                                delta_parameters) -> int:
    """Gradients of an arithmetic -> normalization fused filter; 0 or -1."""
    require(number_of_inputs == len(in_delta), f"number_of_inputs {number_of_inputs} but {len(in_delta)} in_delta")
    fused_apply_backward(filter, batch_size, list(in_ or [None] * number_of_inputs), list(in_stride), list(in_delta),
                         list(in_delta_stride), out, out_stride, out_delta, out_delta_stride, delta_parameters)
    return 0


# ------------------------------------------------------------------------ Swift object forms

@dataclasses.dataclass
class FusedConvolutionParameters:
    """BNNS.FusedConvolutionParameters(type:weights:bias:stride:dilationStride:groupSize:padding:)."""

    weights: BNNSNDArrayDescriptor
    bias: Optional[BNNSNDArrayDescriptor] = None
    type: str = _ConvolutionType.standard
    stride: Tuple[int, int] = (BNNSLayerParametersConvolution.x_stride, BNNSLayerParametersConvolution.y_stride)
    dilation_stride: Tuple[int, int] = (BNNSLayerParametersConvolution.x_dilation_stride,
                                        BNNSLayerParametersConvolution.y_dilation_stride)
    group_size: int = BNNSLayerParametersConvolution.groups       # the C struct's defaults (the schema's)
    padding: _ConvolutionPadding = _ConvolutionPadding.zero

    def member(self, i_desc, o_desc):
        kind = C.BNNSConvolution if self.type == _ConvolutionType.standard else C.BNNSTransposedConvolution
        return kind, BNNSLayerParametersConvolution(
            i_desc=i_desc, w_desc=self.weights, o_desc=o_desc, bias=self.bias, x_stride=self.stride[0],
            y_stride=self.stride[1], x_dilation_stride=self.dilation_stride[0],
            y_dilation_stride=self.dilation_stride[1], x_padding=self.padding.x, y_padding=self.padding.y,
            groups=self.group_size, pad=self.padding.pad)


@dataclasses.dataclass
class FusedFullyConnectedParameters:
    """BNNS.FusedFullyConnectedParameters(weights:bias:)."""

    weights: BNNSNDArrayDescriptor
    bias: Optional[BNNSNDArrayDescriptor] = None

    def member(self, i_desc, o_desc):
        return C.BNNSFullyConnected, BNNSLayerParametersFullyConnected(i_desc=i_desc, w_desc=self.weights,
                                                                       o_desc=o_desc, bias=self.bias)


def _fused_arithmetic(name: str, inputs: Sequence[str]) -> type:
    """BNNS.Fused{Unary,Binary,Ternary}ArithmeticParameters: each input's descriptor type, the output's,
    then the function (a BNNS.Arithmetic*Function case), in Swift's label order."""
    types = [f"{i}_descriptor_type" for i in inputs] + ["output_descriptor_type"]
    spec = [(t, int, dataclasses.field(default=C.BNNSSample)) for t in types] + [("function", int, None)]
    swift = "".join(n.split("_")[0] + "".join(w.title() for w in n.split("_")[1:]) + ":" for n in types + ["function"])

    def member(self, i_descs, o_desc):
        return _arithmetic_member(self.function, [getattr(self, t) for t in types[:-1]], self.output_descriptor_type,
                                  i_descs, o_desc)
    struct = dataclasses.make_dataclass(name, spec, namespace={"member": member, "__doc__": f"BNNS.{name}({swift})."})
    struct.__module__ = __name__
    return struct


FusedUnaryArithmeticParameters = _fused_arithmetic("FusedUnaryArithmeticParameters", ("input",))
FusedBinaryArithmeticParameters = _fused_arithmetic("FusedBinaryArithmeticParameters", ("input_a", "input_b"))
FusedTernaryArithmeticParameters = _fused_arithmetic("FusedTernaryArithmeticParameters", ("input_a", "input_b", "input_c"))


def _arithmetic_member(function, input_types, output_type, i_descs, o_desc):
    require(function is not None, "function is required (a BNNS.Arithmetic*Function case)")
    require(len(i_descs) == len(input_types), f"{len(i_descs)} inputs for a {len(input_types)}-input arithmetic")
    return C.BNNSArithmetic, BNNSLayerParametersArithmetic(int(function),
                                                           function_fields(zip(i_descs, input_types), o_desc,
                                                                           output_type))


@dataclasses.dataclass
class FusedNormalizationParameters:
    """BNNS.FusedNormalizationParameters(type:beta:gamma:momentum:epsilon:activation:); ``type`` is a
    BNNS.NormalizationType case."""

    type: tuple
    beta: Optional[BNNSNDArrayDescriptor] = None
    gamma: Optional[BNNSNDArrayDescriptor] = None
    momentum: float = BNNSLayerParametersNormalization.momentum    # the C struct's defaults (the schema's)
    epsilon: float = BNNSLayerParametersNormalization.epsilon
    activation: Optional[BNNSActivation] = None

    def member(self, i_desc, o_desc):
        norm_type, extra = self.type
        return norm_type, BNNSLayerParametersNormalization(
            i_desc=i_desc, o_desc=o_desc, beta_desc=self.beta, gamma_desc=self.gamma, momentum=self.momentum,
            epsilon=self.epsilon, activation=self.activation, **extra)


@dataclasses.dataclass
class FusedQuantizationParameters:
    """BNNS.FusedQuantizationParameters(axis:scale:bias:) (``function`` selects Dequantize; see
    FusedDequantizationParameters)."""

    scale: Optional[BNNSNDArrayDescriptor] = None
    bias: Optional[BNNSNDArrayDescriptor] = None
    axis: Optional[int] = None
    function: int = C.BNNSQuantizerFunctionQuantize

    def member(self, i_desc, o_desc):
        mask = 0 if self.axis is None else 1 << int(self.axis)
        return C.BNNSQuantization, BNNSLayerParametersQuantization(axis_mask=mask, function=self.function,
                                                                   i_desc=i_desc, o_desc=o_desc, scale=self.scale,
                                                                   bias=self.bias)


@dataclasses.dataclass
class FusedDequantizationParameters(FusedQuantizationParameters):
    """BNNS.FusedDequantizationParameters(axis:scale:bias:): y = (x - bias) / scale."""

    function: int = C.BNNSQuantizerFunctionDequantize


_ARITHMETIC = (FusedUnaryArithmeticParameters, FusedBinaryArithmeticParameters, FusedTernaryArithmeticParameters)


def _bind(what: str, names: Sequence[str], args: tuple, kwargs: dict) -> dict:
    """Swift's arguments of one overload: positionally in its order, or by label (Python spelling)."""
    if len(args) > len(names):
        raise TypeError(f"{what} takes {len(names)} arguments ({', '.join(names)}); {len(args)} were given")
    bound = dict(zip(names, args))
    for name, value in kwargs.items():
        if name not in names:
            raise TypeError(f"{what} has no argument {name!r} for this layer; its arguments are {', '.join(names)}")
        if name in bound:
            raise TypeError(f"{what} got {name!r} twice")
        bound[name] = value
    return bound


class FusedParametersLayer(Layer):
    """BNNS.FusedParametersLayer(input:output:fusedLayerParameters:filterParameters:), and for an
    arithmetic first member (inputA:inputB:[inputC:]output:fusedLayerParameters:filterParameters:)
    (seed 003; ``input`` may also be the list of inputs). apply / apply_backward take Swift's
    arguments of the overload that fits the layer's inputs, positionally or by label.

    The descriptor between the two members has the output's shape: normalization and quantization
    preserve shapes, so the first member's output is the layer's output shape in Float32."""

    filter: FusedFilter   # what its creator returns

    def __init__(self, input=None, output: Optional[BNNSNDArrayDescriptor] = None, fused_layer_parameters: Sequence = (),
                 filter_parameters: Optional[BNNSFilterParameters] = None, *, input_a=None, input_b=None,
                 input_c=None):
        if input is None:
            input = [d for d in (input_a, input_b, input_c) if d is not None]
        output = given(output, "output is required")
        require(len(fused_layer_parameters) == 2, "a fused layer has exactly two members")
        first, second = fused_layer_parameters
        middle = BNNSNDArrayDescriptor(layout=output.layout, size=tuple(output.size), stride=tuple(output.stride))
        inputs = list(input) if isinstance(input, (list, tuple)) else [input]
        t0, p0 = first.member(inputs if isinstance(first, _ARITHMETIC) else inputs[0], middle)
        t1, p1 = second.member(middle, output)
        super().__init__(BNNSFilterCreateFusedLayer(2, [t0, t1], [p0, p1], filter_parameters))

    def _input_names(self) -> list:
        count = len(self.filter.input_geometries)
        return ["input"] if count == 1 else ["input_a", "input_b", "input_c"][:count]

    def apply(self, batch_size: int, *args, **kwargs) -> None:
        """apply(batchSize:input:output:for:), or apply(batchSize:inputA:inputB:[inputC:]output:for:)."""
        names = self._input_names()
        bound = _bind("apply", names + ["output", "for_"], args, kwargs)
        inputs = [bound.get(name) for name in names]
        fused_apply(self.filter, batch_size, [self._data(d, name) for d, name in zip(inputs, names)], [],
                    self._data(bound.get("output"), "output"), 0,
                    bound.get("for_", _LearningPhase.inference) == _LearningPhase.training)

    def apply_backward(self, batch_size: int, *args, **kwargs) -> None:
        """applyBackward(batchSize:input:output:outputGradient:generatingInputGradient:
        generatingParameterGradients:), or with inputA, inputB[, inputC] and
        generatingInputAGradient, ...B..., [...C...] for an arithmetic first member (seed 003)."""
        names = self._input_names()
        gradient_names = [f"generating_{name}_gradient" for name in names]
        bound = _bind("apply_backward", names + ["output", "output_gradient"] + gradient_names
                      + ["generating_parameter_gradients"], args, kwargs)
        inputs = [bound.get(name) for name in names]
        output = bound.get("output")
        fused_apply_backward(self.filter, batch_size, [d.data if d is not None else None for d in inputs], [],
                             [bound.get(name) for name in gradient_names], [],
                             output.data if output is not None else None, 0, bound.get("output_gradient"), 0,
                             list(bound.get("generating_parameter_gradients") or ()))


class FusedConvolutionNormalizationLayer(FusedParametersLayer):
    """BNNS.FusedConvolutionNormalizationLayer(input:output:convolutionWeights:convolutionBias:convolutionStride:
    convolutionDilationStride:convolutionPadding:normalization:normalizationBeta:normalizationGamma:
    normalizationMomentum:normalizationEpsilon:normalizationActivation:filterParameters:)."""

    def __init__(self, input, output, convolution_weights, convolution_bias=None, convolution_stride=(1, 1),
                 convolution_dilation_stride=(1, 1), convolution_padding=_ConvolutionPadding.zero, normalization=None,
                 normalization_beta=None, normalization_gamma=None, normalization_momentum=0.9,
                 normalization_epsilon=1e-5, normalization_activation=None, filter_parameters=None):
        require(normalization is not None, "normalization is required (a BNNS.NormalizationType case)")
        super().__init__(input=input, output=output, filter_parameters=filter_parameters, fused_layer_parameters=[
            FusedConvolutionParameters(weights=convolution_weights, bias=convolution_bias, stride=convolution_stride,
                                       dilation_stride=convolution_dilation_stride, padding=convolution_padding),
            FusedNormalizationParameters(type=normalization, beta=normalization_beta, gamma=normalization_gamma,
                                         momentum=normalization_momentum, epsilon=normalization_epsilon,
                                         activation=normalization_activation)])


class FusedFullyConnectedNormalizationLayer(FusedParametersLayer):
    """BNNS.FusedFullyConnectedNormalizationLayer (the fully connected counterpart)."""

    def __init__(self, input, output, fully_connected_weights, fully_connected_bias=None, normalization=None,
                 normalization_beta=None, normalization_gamma=None, normalization_momentum=0.9,
                 normalization_epsilon=1e-5, normalization_activation=None, filter_parameters=None):
        require(normalization is not None, "normalization is required (a BNNS.NormalizationType case)")
        super().__init__(input=input, output=output, filter_parameters=filter_parameters, fused_layer_parameters=[
            FusedFullyConnectedParameters(weights=fully_connected_weights, bias=fully_connected_bias),
            FusedNormalizationParameters(type=normalization, beta=normalization_beta, gamma=normalization_gamma,
                                         momentum=normalization_momentum, epsilon=normalization_epsilon,
                                         activation=normalization_activation)])
