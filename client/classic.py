"""BNNS's classic creators (macOS 10.12 - 11, deprecated since): BNNSFilterCreateConvolutionLayer,
BNNSFilterCreateFullyConnectedLayer, BNNSFilterCreatePoolingLayer and
BNNSFilterCreateVectorActivationLayer, with their structs (BNNSImageStackDescriptor,
BNNSVectorDescriptor, BNNSLayerData and the three *LayerParameters).

Each is the same filter as its BNNSFilterCreateLayer* successor, which is what it makes: the
classic structs are translated here, in the SDK, into the successor's parameters (nothing new on
the wire), so apply, backward and destroy are the ordinary ones. The classic memory layouts:

* an image stack's pixel (x, y, c) is element ``x + row_stride * y + image_stride * c``
  (row_stride 0 = width, image_stride 0 = row_stride * height): ImageCHW with those strides;
* convolution weights are element ``kx + k_width * (ky + k_height * (i + in_channels * o))``
  (OIHW); fully connected weights ``i + in_size * o`` (out_size rows of in_size);
* BNNSLayerData's ``data_table`` (the Indexed types' lookup table) is refused, as is any data type
  but Float32 and Float16.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from bnns.kernels.errors import require

from . import api
from . import constants as C
from .activation import BNNSFilterCreateLayerActivation, BNNSLayerParametersActivation
from .pooling import BNNSFilterCreateLayerPooling, BNNSLayerParametersPooling
from .c_structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersConvolution,
                        BNNSLayerParametersFullyConnected, BNNSNDArrayDescriptor)


@dataclasses.dataclass
class BNNSImageStackDescriptor:
    """BNNSImageStackDescriptor: width, height, channels, row_stride, image_stride, data_type,
    data_scale, data_bias (strides in elements; 0 = packed)."""

    width: int
    height: int
    channels: int
    row_stride: int = 0
    image_stride: int = 0
    data_type: int = BNNSNDArrayDescriptor.data_type       # a descriptor's defaults (the schema's)
    data_scale: float = BNNSNDArrayDescriptor.data_scale
    data_bias: float = BNNSNDArrayDescriptor.data_bias


@dataclasses.dataclass
class BNNSVectorDescriptor:
    """BNNSVectorDescriptor: size, data_type, data_scale, data_bias."""

    size: int
    data_type: int = BNNSNDArrayDescriptor.data_type       # a descriptor's defaults (the schema's)
    data_scale: float = BNNSNDArrayDescriptor.data_scale
    data_bias: float = BNNSNDArrayDescriptor.data_bias


@dataclasses.dataclass
class BNNSLayerData:
    """BNNSLayerData: data (an array), data_type, data_scale, data_bias, data_table."""

    data: Any = None
    data_type: int = BNNSNDArrayDescriptor.data_type       # a descriptor's defaults (the schema's)
    data_scale: float = BNNSNDArrayDescriptor.data_scale
    data_bias: float = BNNSNDArrayDescriptor.data_bias
    data_table: Any = None


@dataclasses.dataclass
class _Window:
    """The fields the classic convolution and pooling parameters begin with, in Apple's order."""

    x_stride: int = 1
    y_stride: int = 1
    x_padding: int = 0
    y_padding: int = 0
    k_width: int = 1
    k_height: int = 1
    in_channels: int = 1
    out_channels: int = 1


@dataclasses.dataclass
class BNNSConvolutionLayerParameters(_Window):
    """BNNSConvolutionLayerParameters, Apple's fields in Apple's order."""

    weights: BNNSLayerData = dataclasses.field(default_factory=BNNSLayerData)
    bias: BNNSLayerData = dataclasses.field(default_factory=BNNSLayerData)
    activation: BNNSActivation = dataclasses.field(default_factory=BNNSActivation)


@dataclasses.dataclass
class BNNSFullyConnectedLayerParameters:
    """BNNSFullyConnectedLayerParameters, Apple's fields in Apple's order."""

    in_size: int = 1
    out_size: int = 1
    weights: BNNSLayerData = dataclasses.field(default_factory=BNNSLayerData)
    bias: BNNSLayerData = dataclasses.field(default_factory=BNNSLayerData)
    activation: BNNSActivation = dataclasses.field(default_factory=BNNSActivation)


@dataclasses.dataclass
class BNNSPoolingLayerParameters(_Window):
    """BNNSPoolingLayerParameters, Apple's fields in Apple's order."""

    pooling_function: int = C.BNNSPoolingFunctionMax
    bias: BNNSLayerData = dataclasses.field(default_factory=BNNSLayerData)
    activation: BNNSActivation = dataclasses.field(default_factory=BNNSActivation)


def _image(stack: BNNSImageStackDescriptor, name: str) -> BNNSNDArrayDescriptor:
    """ImageCHW with the stack's strides (pixel (x, y, c) at x + row_stride y + image_stride c)."""
    require(stack is not None, f"{name} is required")
    row = int(stack.row_stride) or int(stack.width)
    image = int(stack.image_stride) or row * int(stack.height)
    require(row >= int(stack.width) and image >= row * int(stack.height),
            f"{name}: row_stride {stack.row_stride} / image_stride {stack.image_stride} overlap the rows or "
            f"images of a {stack.width}x{stack.height} stack")
    return BNNSNDArrayDescriptor(layout=C.BNNSDataLayoutImageCHW,
                                 size=(int(stack.width), int(stack.height), int(stack.channels)),
                                 stride=(1, row, image), data_type=int(stack.data_type),
                                 data_scale=float(stack.data_scale), data_bias=float(stack.data_bias))


def _vector(vector: BNNSVectorDescriptor, name: str) -> BNNSNDArrayDescriptor:
    require(vector is not None, f"{name} is required")
    return BNNSNDArrayDescriptor(layout=C.BNNSDataLayoutVector, size=(int(vector.size),),
                                 data_type=int(vector.data_type), data_scale=float(vector.data_scale),
                                 data_bias=float(vector.data_bias))


def _data(layer_data: Optional[BNNSLayerData], name: str, layout: int, size: tuple,
          required: bool) -> Optional[BNNSNDArrayDescriptor]:
    """The BNNSLayerData as a descriptor of ``size`` (None for absent data: no bias)."""
    if layer_data is None or layer_data.data is None:
        require(not required, f"{name}.data is not set")
        return None
    require(layer_data.data_table is None,
            f"{name}.data_table: the Indexed data types (a lookup table) are not computed by this service")
    return BNNSNDArrayDescriptor(layout=layout, size=size, data=layer_data.data, data_type=int(layer_data.data_type),
                                 data_scale=float(layer_data.data_scale), data_bias=float(layer_data.data_bias))


@api._c_style(None)
def BNNSFilterCreateConvolutionLayer(in_desc: BNNSImageStackDescriptor, out_desc: BNNSImageStackDescriptor,
                                     layer_params: BNNSConvolutionLayerParameters,
                                     filter_params: Optional[BNNSFilterParameters] = None):
    """A convolution filter from the classic structs (what BNNSFilterCreateLayerConvolution makes),
    or None (see last_error())."""
    p = layer_params
    require(int(in_desc.channels) == int(p.in_channels) and int(out_desc.channels) == int(p.out_channels),
            f"in_desc has {in_desc.channels} channels and out_desc {out_desc.channels}; layer_params says "
            f"{p.in_channels} in and {p.out_channels} out")
    params = BNNSLayerParametersConvolution(
        i_desc=_image(in_desc, "in_desc"), o_desc=_image(out_desc, "out_desc"),
        w_desc=_data(p.weights, "weights", C.BNNSDataLayoutConvolutionWeightsOIHW,
                     (int(p.k_width), int(p.k_height), int(p.in_channels), int(p.out_channels)),
                     True),  # type: ignore[arg-type]  # required: never None
        bias=_data(p.bias, "bias", C.BNNSDataLayoutVector, (int(p.out_channels),), False),
        activation=p.activation, x_stride=int(p.x_stride), y_stride=int(p.y_stride),
        x_padding=int(p.x_padding), y_padding=int(p.y_padding))
    return api.BNNSFilterCreateLayerConvolution(params, filter_params) or _raise()


@api._c_style(None)
def BNNSFilterCreateFullyConnectedLayer(in_desc: BNNSVectorDescriptor, out_desc: BNNSVectorDescriptor,
                                        layer_params: BNNSFullyConnectedLayerParameters,
                                        filter_params: Optional[BNNSFilterParameters] = None):
    """A fully connected filter from the classic structs (weights: out_size rows of in_size), or
    None (see last_error())."""
    p = layer_params
    require(int(in_desc.size) == int(p.in_size) and int(out_desc.size) == int(p.out_size),
            f"in_desc.size {in_desc.size} / out_desc.size {out_desc.size} differ from layer_params' in_size "
            f"{p.in_size} / out_size {p.out_size}")
    params = BNNSLayerParametersFullyConnected(
        i_desc=_vector(in_desc, "in_desc"), o_desc=_vector(out_desc, "out_desc"),
        w_desc=_data(p.weights, "weights", C.BNNSDataLayoutRowMajorMatrix, (int(p.in_size), int(p.out_size)),  # type: ignore[arg-type]
                     True),   # required: never None
        bias=_data(p.bias, "bias", C.BNNSDataLayoutVector, (int(p.out_size),), False), activation=p.activation)
    return api.BNNSFilterCreateLayerFullyConnected(params, filter_params) or _raise()


@api._c_style(None)
def BNNSFilterCreatePoolingLayer(in_desc: BNNSImageStackDescriptor, out_desc: BNNSImageStackDescriptor,
                                 layer_params: BNNSPoolingLayerParameters,
                                 filter_params: Optional[BNNSFilterParameters] = None):
    """A pooling filter from the classic structs, or None (see last_error())."""
    p = layer_params
    require(int(p.in_channels) == int(p.out_channels) == int(in_desc.channels) == int(out_desc.channels),
            f"pooling keeps the channels: in_desc {in_desc.channels}, out_desc {out_desc.channels}, layer_params "
            f"{p.in_channels} in and {p.out_channels} out")
    params = BNNSLayerParametersPooling(
        i_desc=_image(in_desc, "in_desc"), o_desc=_image(out_desc, "out_desc"),
        bias=_data(p.bias, "bias", C.BNNSDataLayoutVector, (int(p.out_channels),), False), activation=p.activation,
        pooling_function=int(p.pooling_function), k_width=int(p.k_width), k_height=int(p.k_height),
        x_stride=int(p.x_stride), y_stride=int(p.y_stride), x_padding=int(p.x_padding), y_padding=int(p.y_padding))
    return BNNSFilterCreateLayerPooling(params, filter_params) or _raise()


@api._c_style(None)
def BNNSFilterCreateVectorActivationLayer(in_desc: BNNSVectorDescriptor, out_desc: BNNSVectorDescriptor,
                                          activation: BNNSActivation,
                                          filter_params: Optional[BNNSFilterParameters] = None):
    """An activation filter over vectors, or None (see last_error())."""
    require(int(in_desc.size) == int(out_desc.size),
            f"in_desc.size {in_desc.size} and out_desc.size {out_desc.size} differ")
    params = BNNSLayerParametersActivation(i_desc=_vector(in_desc, "in_desc"), o_desc=_vector(out_desc, "out_desc"),
                                           activation=activation)
    return BNNSFilterCreateLayerActivation(params, filter_params) or _raise()


def _raise():
    """The successor creator failed and said why in last_error(): raise it for _c_style to keep."""
    raise api.failure()
