"""Shape layers (issue 12, part A): permute, padding, resize, reduction and Gram filters, C style
(BNNSFilterCreateLayer*, BNNSPermuteFilterApplyBackwardBatch) and Swift style (BNNS.PermuteLayer,
.PaddingLayer, .ResizeLayer, .ReductionLayer, .GramLayer, all UnaryLayers), plus the filter-less
BNNSTranspose, BNNSCopy and BNNSDirectApplyReduction. Apply and backward are the generic
BNNSFilterApplyBatch / BNNSFilterApplyBackwardBatch."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from bnns.kernels.errors import given, require
from bnns.server.dataplane import buffer_at
from bnns.v1 import service_pb2 as pb

from . import api
from . import backend as backend_mod
from . import constants as C
from .layers import Layer, UnaryLayer, buffer_of, read_only
from .c_structs import (BNNSFilterParameters, BNNSLayerParametersCropResize, BNNSLayerParametersGram,
                        BNNSLayerParametersPadding, BNNSLayerParametersPermute, BNNSLayerParametersReduction,
                        BNNSLayerParametersResize, BNNSNDArrayDescriptor)


def _create(kind: str, params, filter_params, **extra):
    require(params.i_desc is not None and params.o_desc is not None, "i_desc and o_desc are required")
    return api.create_filter(kind, params, filter_params, input_geometry=params.i_desc.geometry(),
                             output_geometry=params.o_desc.geometry(), **extra)


@api._c_style(None)
def BNNSFilterCreateLayerPermute(layer_params: BNNSLayerParametersPermute,
                                 filter_params: Optional[BNNSFilterParameters] = None):
    """A permute filter, or None (see last_error())."""
    return _create("permute", layer_params, filter_params)


@api._c_style(None)
def BNNSFilterCreateLayerPadding(layer_params: BNNSLayerParametersPadding,
                                 filter_params: Optional[BNNSFilterParameters] = None):
    """A padding filter, or None (see last_error())."""
    return _create("padding", layer_params, filter_params)


@api._c_style(None)
def BNNSFilterCreateLayerResize(layer_params: BNNSLayerParametersResize,
                                filter_params: Optional[BNNSFilterParameters] = None):
    """A resize filter, or None (see last_error())."""
    return _create("resize", layer_params, filter_params)


@api._c_style(None)
def BNNSFilterCreateLayerReduction(layer_params: BNNSLayerParametersReduction,
                                   filter_params: Optional[BNNSFilterParameters] = None):
    """A reduction filter, or None (see last_error()); its weights_delta is w_desc's gradient."""
    w = layer_params.w_desc
    return _create("reduction", layer_params, filter_params,
                   weights_geometry=w.geometry() if w is not None and w.data is not None else None)


@api._c_style(None)
def BNNSFilterCreateLayerGram(layer_params: BNNSLayerParametersGram,
                              filter_params: Optional[BNNSFilterParameters] = None):
    """A Gram filter, or None (see last_error())."""
    return _create("gram", layer_params, filter_params)


@api._c_style(-1)
def BNNSPermuteFilterApplyBackwardBatch(filter: api.BNNSFilter, batch_size: int,
                                        in_delta: BNNSNDArrayDescriptor, in_delta_stride: int,
                                        out_delta: BNNSNDArrayDescriptor, out_delta_stride: int) -> int:
    """dL/d(in) of a permute filter: out_delta moved back by the inverse permutation; 0 or -1."""
    require(in_delta is not None, "in_delta is required: BNNS writes the gradient there")
    require(out_delta is not None and out_delta.data is not None, "out_delta (with data) is required")
    io = api.Exchange()
    io.receive_gradient("in_delta", in_delta, filter.input_geometry, batch_size, in_delta_stride)
    filter.call("PermuteFilterApplyBackwardBatch", pb.PermuteFilterApplyBackwardBatchRequest(
        filter_id=filter.filter_id, batch_size=int(batch_size),
        out_delta=io.send("out_delta", out_delta.data, filter.output_geometry, batch_size, out_delta_stride)), io)
    return 0


# --------------------------------------------------------------------------- filter-less calls

def direct_call(rpc: str, request, inputs: dict, outputs: dict, backend=None):
    """A filter-less RPC: ``inputs`` (request path -> descriptor with data) travel beside the
    message, ``outputs`` (response path -> descriptor) are written into their descriptors' data."""
    io = api.Exchange()
    for path, desc in inputs.items():
        require(desc is not None and desc.data is not None, f"{path.split('.')[0]} needs data")
        buf = io.send(path, desc.data, desc.geometry(), 1, 0)
        if buf.WhichOneof("contents") is not None:          # a BNNSTensor: named, not sent
            buffer_at(request, path, create=True).CopyFrom(buf)
    for path, desc in outputs.items():
        require(desc is not None and desc.data is not None, f"{path}: the result is written into its data")
        io.receive(path, desc.data, desc.geometry(), 1, 0)
    return (backend or backend_mod.current()).call(rpc, request, exchange=io)


@api._c_style(-1)
def BNNSTranspose(dest: BNNSNDArrayDescriptor, src: BNNSNDArrayDescriptor, axis0: int, axis1: int,
                  filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """dest = src with BNNS dimensions axis0 and axis1 swapped; 0 or -1."""
    request = pb.TransposeRequest(dest=dest.to_proto(False), src=src.to_proto(False), axis0=int(axis0),
                                  axis1=int(axis1))
    direct_call("Transpose", request, {"src.data": src}, {"dest": dest})
    return 0


@api._c_style(-1)
def BNNSCopy(dest: BNNSNDArrayDescriptor, src: BNNSNDArrayDescriptor,
             filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """dest = src, element by element in logical order, in dest's layout, strides and data type; 0 or -1."""
    request = pb.CopyRequest(dest=dest.to_proto(False), src=src.to_proto(False))
    if filter_params is not None:
        request.filter_parameters.CopyFrom(filter_params.to_proto())
    direct_call("Copy", request, {"src.data": src}, {"dest": dest})
    return 0


@api._c_style(-1)
def BNNSDirectApplyReduction(layer_params: BNNSLayerParametersReduction,
                             filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """One reduction of layer_params.i_desc's data into layer_params.o_desc's data; 0 or -1."""
    request = pb.DirectApplyReductionRequest(layer_params=layer_params.to_proto())
    if filter_params is not None:
        request.filter_parameters.CopyFrom(filter_params.to_proto())
    direct_call("DirectApplyReduction", request, {"layer_params.i_desc.data": layer_params.i_desc},
                {"out": layer_params.o_desc})
    return 0


# ------------------------------------------------------------------------------- Swift style

class _InterpolationMethod:
    """BNNS.InterpolationMethod."""

    nearest = C.BNNSInterpolationMethodNearest
    linear = C.BNNSInterpolationMethodLinear


class _PaddingMode:
    """BNNS.PaddingMode: .constantScalar(Float), .constantBitPattern(UInt32), .reflect, .symmetric
    (each a (padding_mode, padding_value bits) pair)."""

    reflect = (C.BNNSPaddingModeReflect, 0)
    symmetric = (C.BNNSPaddingModeSymmetric, 0)

    @staticmethod
    def constant_scalar(value: float) -> tuple:
        import numpy as np
        return C.BNNSPaddingModeConstant, int(np.array([value], dtype=np.float32).view(np.uint32)[0])

    @staticmethod
    def constant_bit_pattern(bits: int) -> tuple:
        return C.BNNSPaddingModeConstant, int(bits)


class _ReductionCase(int):
    """A BNNS.ReductionFunction case (a BNNSReduceFunction value, with sumLog's epsilon)."""

    epsilon: float

    def __new__(cls, value: int, epsilon: float = 0.0):
        case = super().__new__(cls, value)
        case.epsilon = float(epsilon)
        return case


class _ReductionFunction:
    """BNNS.ReductionFunction: .max, .min, .argMax, .argMin, .mean, .meanNonZero, .sum,
    .sumSquare, .sumLog(epsilon:), .l1Norm, .logicalOr, .logicalAnd, .l2Norm, .logSumExp,
    .product, .logSum."""

    max = _ReductionCase(C.BNNSReduceFunctionMax)
    min = _ReductionCase(C.BNNSReduceFunctionMin)
    arg_max = _ReductionCase(C.BNNSReduceFunctionArgMax)
    arg_min = _ReductionCase(C.BNNSReduceFunctionArgMin)
    mean = _ReductionCase(C.BNNSReduceFunctionMean)
    mean_non_zero = _ReductionCase(C.BNNSReduceFunctionMeanNonZero)
    sum = _ReductionCase(C.BNNSReduceFunctionSum)
    sum_square = _ReductionCase(C.BNNSReduceFunctionSumSquare)
    l1_norm = _ReductionCase(C.BNNSReduceFunctionL1Norm)
    logical_or = _ReductionCase(C.BNNSReduceFunctionLogicalOr)
    logical_and = _ReductionCase(C.BNNSReduceFunctionLogicalAnd)
    l2_norm = _ReductionCase(C.BNNSReduceFunctionL2Norm)
    log_sum_exp = _ReductionCase(C.BNNSReduceFunctionLogSumExp)
    product = _ReductionCase(C.BNNSReduceFunctionProduct)
    log_sum = _ReductionCase(C.BNNSReduceFunctionLogSum)

    @staticmethod
    def sum_log(epsilon: float = 0.0) -> _ReductionCase:
        return _ReductionCase(C.BNNSReduceFunctionSumLog, epsilon)


class PermuteLayer(UnaryLayer):
    """BNNS.PermuteLayer(input:output:permutation:filterParameters:)."""

    def __init__(self, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, permutation: Sequence[int],
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        params = BNNSLayerParametersPermute(i_desc=input, o_desc=output, permutation=tuple(permutation))
        Layer.__init__(self, BNNSFilterCreateLayerPermute(params, filter_parameters))


class PaddingLayer(UnaryLayer):
    """BNNS.PaddingLayer(input:output:mode:size:filterParameters:); size: [(before, after)] per dimension."""

    def __init__(self, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, mode: Tuple[int, int],
                 size: Sequence[Tuple[int, int]], filter_parameters: Optional[BNNSFilterParameters] = None):
        padding_mode, bits = mode
        params = BNNSLayerParametersPadding(i_desc=input, o_desc=output, padding_size=tuple(size),
                                            padding_mode=padding_mode, padding_value=bits)
        Layer.__init__(self, BNNSFilterCreateLayerPadding(params, filter_parameters))


class ResizeLayer(UnaryLayer):
    """BNNS.ResizeLayer(interpolationMethod:input:output:alignsCorners:filterParameters:)."""

    def __init__(self, interpolation_method: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                 aligns_corners: bool = False, filter_parameters: Optional[BNNSFilterParameters] = None):
        params = BNNSLayerParametersResize(method=interpolation_method, i_desc=input, o_desc=output,
                                           align_corners=aligns_corners)
        Layer.__init__(self, BNNSFilterCreateLayerResize(params, filter_parameters))


class ReductionLayer(UnaryLayer):
    """BNNS.ReductionLayer(function:input:output:weights:filterParameters:), with
    applyBackward(...generatingInputGradient:generatingWeightsGradient:)."""

    def __init__(self, function: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                 weights: Optional[BNNSNDArrayDescriptor] = None,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        params = BNNSLayerParametersReduction(i_desc=input, o_desc=output, w_desc=weights, reduce_func=int(function),
                                              epsilon=getattr(function, "epsilon", 0.0))
        Layer.__init__(self, BNNSFilterCreateLayerReduction(params, filter_parameters))

    def apply_backward(self, batch_size: int, input: Optional[BNNSNDArrayDescriptor], output: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor,
                       generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_weights_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        api.apply_backward_batch(self.filter, batch_size, buffer_of(input, "input"), 0, generating_input_gradient, 0,
                                 buffer_of(output, "output"), 0, read_only(output_gradient), 0,
                                 generating_weights_gradient, None)


class GramLayer(UnaryLayer):
    """BNNS.GramLayer(input:output:alpha:filterParameters:)."""

    def __init__(self, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, alpha: float = 1.0,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        params = BNNSLayerParametersGram(alpha=alpha, i_desc=input, o_desc=output)
        Layer.__init__(self, BNNSFilterCreateLayerGram(params, filter_parameters))


# ------------------------------------------------------------------------------ crop and resize


@api._c_style(-1)
def BNNSCropResize(layer_params: BNNSLayerParametersCropResize, input: BNNSNDArrayDescriptor,
                   roi: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                   filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """Each box of ``roi`` ([image index, 4 coordinates] rows) cut out of ``input`` (N, C, H, W)
    and resized into ``output`` (boxes, C, crop_h, crop_w); 0 or -1."""
    request = pb.CropResizeRequest(layer_params=layer_params.to_proto(), input=input.to_proto(False),
                                   roi=roi.to_proto(False), output=output.to_proto(False))
    if filter_params is not None:
        request.filter_parameters.CopyFrom(filter_params.to_proto())
    direct_call("CropResize", request, {"input.data": input, "roi.data": roi}, {"output": output})
    return 0


@api._c_style(-1)
def BNNSCropResizeBackward(layer_params: BNNSLayerParametersCropResize, in_delta: BNNSNDArrayDescriptor,
                           roi: BNNSNDArrayDescriptor, out_delta: BNNSNDArrayDescriptor,
                           filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """dL/d(input) into in_delta's data (summed where boxes overlap; Accumulate adds); 0 or -1."""
    require(in_delta is not None and in_delta.data is not None, "in_delta.data is required: the gradient is written there")
    request = pb.CropResizeBackwardRequest(layer_params=layer_params.to_proto(), in_delta=in_delta.to_proto(False),
                                           roi=roi.to_proto(False), out_delta=out_delta.to_proto(False))
    if filter_params is not None:
        request.filter_parameters.CopyFrom(filter_params.to_proto())
    io = api.Exchange()
    for path, desc in (("roi.data", roi), ("out_delta.data", out_delta)):
        require(desc is not None and desc.data is not None, f"{path.split('.')[0]} needs data")
        buf = io.send(path, desc.data, desc.geometry(), 1, 0)
        if buf.WhichOneof("contents") is not None:
            buffer_at(request, path, create=True).CopyFrom(buf)
    io.receive_gradient("in_delta", in_delta, in_delta.geometry(), 1, 0)
    backend_mod.current().call("CropResizeBackward", request, exchange=io)
    return 0


class _LinearSamplingMode:
    """BNNS.CropResizeLayer.LinearSamplingMode."""

    default = C.BNNSLinearSamplingDefault
    align_corners = C.BNNSLinearSamplingAlignCorners
    unalign_corners = C.BNNSLinearSamplingUnalignCorners
    strict_align_corners = C.BNNSLinearSamplingStrictAlignCorners
    offset_corners = C.BNNSLinearSamplingOffsetCorners


class _BoxCoordinateMode:
    """BNNS.CropResizeLayer.BoxCoordinateMode."""

    corners_height_first = C.BNNSCornersHeightFirst
    corners_width_first = C.BNNSCornersWidthFirst
    center_size_height_first = C.BNNSCenterSizeHeightFirst
    center_size_width_first = C.BNNSCenterSizeWidthFirst


class CropResizeLayer:
    """BNNS.CropResizeLayer(coordinatesAreNormalized:spatialScale:extrapolationValue:samplingMode:
    boxCoordinateMode:) with apply(input:regionOfInterest:output:filterParameters:) and
    applyBackward(regionOfInterest:outputGradient:generatingInputGradient:filterParameters:).
    It holds no filter (BNNSCropResize is filter-less); it resizes bilinearly."""

    LinearSamplingMode = _LinearSamplingMode
    BoxCoordinateMode = _BoxCoordinateMode

    def __init__(self, coordinates_are_normalized: bool, spatial_scale: float, extrapolation_value: float = 0.0,
                 sampling_mode: int = _LinearSamplingMode.default, box_coordinate_mode: Optional[int] = None):
        box_coordinate_mode = given(box_coordinate_mode, "box_coordinate_mode is required (BNNS.CropResizeLayer.BoxCoordinateMode)")
        self.params = BNNSLayerParametersCropResize(
            normalized_coordinates=coordinates_are_normalized, spatial_scale=spatial_scale,
            extrapolation_value=extrapolation_value, sampling_mode=sampling_mode,
            box_coordinate_mode=box_coordinate_mode, method=C.BNNSInterpolationMethodLinear)

    def apply(self, input: BNNSNDArrayDescriptor, region_of_interest: BNNSNDArrayDescriptor,
              output: BNNSNDArrayDescriptor, filter_parameters: Optional[BNNSFilterParameters] = None) -> None:
        if BNNSCropResize(self.params, input, region_of_interest, output, filter_parameters) != 0:
            raise api.failure()

    def apply_backward(self, region_of_interest: BNNSNDArrayDescriptor, output_gradient: BNNSNDArrayDescriptor,
                       generating_input_gradient: BNNSNDArrayDescriptor,
                       filter_parameters: Optional[BNNSFilterParameters] = None) -> None:
        if BNNSCropResizeBackward(self.params, generating_input_gradient, region_of_interest, output_gradient,
                                  filter_parameters) != 0:
            raise api.failure()
