"""Pooling filters: BNNSFilterCreateLayerPooling, BNNSPoolingFilterApplyBatch[Ex],
BNNSPoolingFilterApplyBackwardBatch[Ex], and BNNS.PoolingLayer.

Indices (Max writes them, UnMax reads them) are the flat offset of the chosen element in the
sample's packed CHW input, ``c*H*W + h*W + w``; size_t (UInt64) by default, UInt32 in the Ex forms.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from bnns.kernels import layout
from bnns.kernels.errors import require
from bnns.v1 import service_pb2 as pb

from . import api
from . import constants as C
from .layers import Layer, _ConvolutionPadding, _required, buffer_of, read_only
from .c_structs import BNNSActivation, BNNSFilterParameters, BNNSLayerParametersPooling, BNNSNDArrayDescriptor


class PoolingFilter(api.BNNSFilter):
    pooling_function: int = C.BNNSPoolingFunctionMax


@api._c_style(None)
def BNNSFilterCreateLayerPooling(layer_params: BNNSLayerParametersPooling,
                                 filter_params: Optional[BNNSFilterParameters] = None):
    """A pooling filter, or None (see last_error())."""
    return api.create_filter("pooling", layer_params, filter_params, input_geometry=layer_params.i_desc.geometry(),
                             output_geometry=layer_params.o_desc.geometry(),
                             bias_geometry=layer_params.bias.geometry() if layer_params.bias is not None else None,
                             filter_class=PoolingFilter, pooling_function=int(layer_params.pooling_function))


def _index_geometry(f: PoolingFilter, data_type: int) -> layout.Descriptor:
    """Max: one index per output element; UnMax: one per input element."""
    shape_of = f.input_geometry if f.pooling_function == C.BNNSPoolingFunctionUnMax else f.output_geometry
    return layout.Descriptor.for_shape(layout.LAYOUT_IMAGE_CHW, shape_of.shape, data_type=data_type)


def pooling_apply_batch(f: PoolingFilter, batch_size, in_, in_stride, out, out_stride, indices_data_type, indices,
                        idx_stride) -> None:
    index_type = indices_data_type or C.BNNSDataTypeUInt64
    geometry = _index_geometry(f, index_type)
    io = api.Exchange()
    io.receive("out", out, f.output_geometry, batch_size, out_stride)
    request = pb.PoolingFilterApplyBatchRequest(filter_id=f.filter_id, batch_size=int(batch_size),
                                                indices_data_type=int(index_type))
    getattr(request, "in").CopyFrom(io.send("in", in_, f.input_geometry, batch_size, in_stride))
    if f.pooling_function == C.BNNSPoolingFunctionUnMax:
        request.indices.CopyFrom(io.send("indices", indices, geometry, batch_size, idx_stride))
    elif indices is not None and f.pooling_function == C.BNNSPoolingFunctionMax:
        io.receive("indices", indices, geometry, batch_size, idx_stride)
        request.compute_indices = True
    f.call("PoolingFilterApplyBatch", request, io)


@api._c_style(-1)
def BNNSPoolingFilterApplyBatch(filter: PoolingFilter, batch_size: int, in_, in_stride: int, out, out_stride: int,
                                indices=None, idx_stride: int = 0) -> int:
    """Pool a batch; Max writes size_t indices into ``indices`` when given, UnMax reads them. 0 or -1."""
    pooling_apply_batch(filter, batch_size, in_, in_stride, out, out_stride, C.BNNSDataTypeUInt64, indices, idx_stride)
    return 0


@api._c_style(-1)
def BNNSPoolingFilterApplyBatchEx(filter: PoolingFilter, batch_size: int, in_, in_stride: int, out, out_stride: int,
                                  indices_data_type: int, indices, idx_stride: int) -> int:
    """As BNNSPoolingFilterApplyBatch with UInt32 or UInt64 indices. 0 or -1."""
    pooling_apply_batch(filter, batch_size, in_, in_stride, out, out_stride, indices_data_type, indices, idx_stride)
    return 0


def pooling_apply_backward_batch(f: PoolingFilter, batch_size, in_, in_stride, in_delta, in_delta_stride, out,
                                 out_stride, out_delta, out_delta_stride, bias_delta, indices_data_type, indices,
                                 idx_stride) -> None:
    require(out_delta is not None and out_delta.data is not None, "out_delta (with data) is required")
    io = api.Exchange()
    io.receive_gradient("in_delta", in_delta, f.input_geometry, batch_size, in_delta_stride)
    if bias_delta is not None:
        io.receive_gradient("bias_delta", bias_delta, api._bias_shape(f), 1, 0)
    index_type = indices_data_type or C.BNNSDataTypeUInt64
    request = pb.PoolingFilterApplyBackwardBatchRequest(
        filter_id=f.filter_id, batch_size=int(batch_size), indices_data_type=int(index_type),
        out_delta=io.send("out_delta", out_delta.data, f.output_geometry, batch_size, out_delta_stride),
        compute_in_delta=in_delta is not None, compute_bias_delta=bias_delta is not None)
    if in_ is not None:
        getattr(request, "in").CopyFrom(io.send("in", in_, f.input_geometry, batch_size, in_stride))
    if out is not None:
        request.out.CopyFrom(io.send("out", out, f.output_geometry, batch_size, out_stride))
    if indices is not None:
        request.indices.CopyFrom(io.send("indices", indices, _index_geometry(f, index_type), batch_size, idx_stride))
    f.call("PoolingFilterApplyBackwardBatch", request, io)


@api._c_style(-1)
def BNNSPoolingFilterApplyBackwardBatch(filter: PoolingFilter, batch_size: int, in_, in_stride: int,
                                        in_delta: Optional[BNNSNDArrayDescriptor], in_delta_stride: int, out,
                                        out_stride: int, out_delta: BNNSNDArrayDescriptor, out_delta_stride: int,
                                        bias_delta: Optional[BNNSNDArrayDescriptor], indices=None,
                                        idx_stride: int = 0) -> int:
    """Input and bias gradients of a pooling filter (size_t indices optional for Max, required for UnMax)."""
    pooling_apply_backward_batch(filter, batch_size, in_, in_stride, in_delta, in_delta_stride, out, out_stride,
                                 out_delta, out_delta_stride, bias_delta, C.BNNSDataTypeUInt64, indices, idx_stride)
    return 0


@api._c_style(-1)
def BNNSPoolingFilterApplyBackwardBatchEx(filter: PoolingFilter, batch_size: int, in_, in_stride: int,
                                          in_delta: Optional[BNNSNDArrayDescriptor], in_delta_stride: int, out,
                                          out_stride: int, out_delta: BNNSNDArrayDescriptor, out_delta_stride: int,
                                          bias_delta: Optional[BNNSNDArrayDescriptor], indices_data_type: int,
                                          indices, idx_stride: int) -> int:
    """As BNNSPoolingFilterApplyBackwardBatch with UInt32 or UInt64 indices."""
    pooling_apply_backward_batch(filter, batch_size, in_, in_stride, in_delta, in_delta_stride, out, out_stride,
                                 out_delta, out_delta_stride, bias_delta, indices_data_type, indices, idx_stride)
    return 0


class _PoolingCase(int):
    """A BNNS.PoolingType case with associated values: the BNNSPoolingFunction raw value (so it
    stands wherever the C constant does), callable as Swift's .max(indices:xDilationStride:
    yDilationStride:) / .unMax(indices:...). ``indices`` (a descriptor or array) receives Max's
    indices and gives UnMax's; the dilation strides go to the layer."""

    indices: Any
    dilation_stride: tuple[int, int]

    def __new__(cls, function: int, indices=None, x_dilation_stride: int = 1, y_dilation_stride: int = 1):
        case = super().__new__(cls, function)
        case.indices, case.dilation_stride = indices, (int(x_dilation_stride), int(y_dilation_stride))
        return case

    def __call__(self, indices=None, x_dilation_stride: int = 1, y_dilation_stride: int = 1) -> "_PoolingCase":
        return _PoolingCase(int(self), indices, x_dilation_stride, y_dilation_stride)


class _PoolingType:
    """BNNS.PoolingType: .max / .max(indices:xDilationStride:yDilationStride:),
    .average(count_includes_padding=), .l2_norm, .un_max / .un_max(indices:...)."""

    max = _PoolingCase(C.BNNSPoolingFunctionMax)
    l2_norm = C.BNNSPoolingFunctionL2Norm
    un_max = _PoolingCase(C.BNNSPoolingFunctionUnMax)

    @staticmethod
    def average(count_includes_padding: bool = True) -> int:
        return (C.BNNSPoolingFunctionAverageCountIncludePadding if count_includes_padding
                else C.BNNSPoolingFunctionAverageCountExcludePadding)


class PoolingLayer(Layer):
    """BNNS.PoolingLayer(type:input:output:bias:activation:kernelSize:stride:padding:filterParameters:)."""

    filter: PoolingFilter   # what its creator returns

    def __init__(self, type: int = _PoolingType.max, input: Optional[BNNSNDArrayDescriptor] = None,
                 output: Optional[BNNSNDArrayDescriptor] = None, bias: Optional[BNNSNDArrayDescriptor] = None,
                 activation: Optional[BNNSActivation] = None, kernel_size: Tuple[int, int] = (2, 2),
                 stride: Tuple[int, int] = (1, 1), padding: _ConvolutionPadding = _ConvolutionPadding.zero,
                 filter_parameters: Optional[BNNSFilterParameters] = None, *,
                 dilation_stride: Tuple[int, int] = (1, 1)):
        _required(input=input, output=output)
        if dilation_stride == (1, 1) and isinstance(type, _PoolingCase):
            dilation_stride = type.dilation_stride
        self.indices = getattr(type, "indices", None)
        params = BNNSLayerParametersPooling(   # (input, output: not None, by _required)
            i_desc=input, o_desc=output, bias=bias, activation=activation, pooling_function=type,  # type: ignore[arg-type]
            k_width=kernel_size[0], k_height=kernel_size[1], x_stride=stride[0], y_stride=stride[1],
            x_dilation_stride=dilation_stride[0], y_dilation_stride=dilation_stride[1],
            x_padding=padding.x, y_padding=padding.y, pad=padding.pad)
        super().__init__(BNNSFilterCreateLayerPooling(params, filter_parameters))

    def _indices(self, indices):
        """The indices given to the call, else those of the .max(indices:) / .unMax(indices:) case."""
        indices = indices if indices is not None else self.indices
        return indices.data if isinstance(indices, BNNSNDArrayDescriptor) else indices

    def apply(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
              indices: Optional[np.ndarray] = None) -> None:
        indices = self._indices(indices)
        pooling_apply_batch(self.filter, batch_size, self._data(input, "input"), 0, self._data(output, "output"), 0,
                            C.BNNSDataTypeUInt64, indices, 0)

    def apply_backward(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor,
                       generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_bias_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       indices: Optional[np.ndarray] = None) -> None:
        indices = self._indices(indices)
        pooling_apply_backward_batch(self.filter, batch_size, buffer_of(input, "input"), 0,
                                     generating_input_gradient, 0, buffer_of(output, "output"), 0,
                                     read_only(output_gradient), 0, generating_bias_gradient, C.BNNSDataTypeUInt64,
                                     indices, 0)
