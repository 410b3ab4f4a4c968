"""The BNNS C structs, Python spelling: plain mutable dataclasses with Apple's field names and
order, each able to turn itself into its wire message. Tensors are NumPy arrays."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from bnns.kernels import layout
from bnns.kernels.layout import Descriptor   # from_array's `layout` argument shadows the module
from bnns.kernels.errors import InvalidArgumentError
from bnns.v1 import types_pb2

from . import constants as C

_NUMPY_OF = {C.BNNSDataTypeFloat32: np.float32, C.BNNSDataTypeFloat16: np.float16,
             C.BNNSDataTypeUInt32: np.uint32, C.BNNSDataTypeUInt64: np.uint64,
             C.BNNSDataTypeInt32: np.int32, C.BNNSDataTypeInt64: np.int64}


def numpy_type(data_type: int):
    if data_type not in _NUMPY_OF:
        raise InvalidArgumentError(f"data_type {data_type:#x} has no NumPy equivalent in this SDK")
    return _NUMPY_OF[data_type]


@dataclasses.dataclass
class BNNSNDArrayDescriptor:
    """BNNSNDArrayDescriptor. ``size``/``stride`` as in BNNS (size[0] fastest, strides in
    elements, 0 = contiguous); ``data`` a NumPy array, a BNNSTensor held by the server, or None,
    read and written as BNNS reads and writes memory: element k of the descriptor is element k of
    ``data``'s flat C order."""

    flags: int = C.BNNSNDArrayFlagBackpropSet
    layout: int = C.BNNSDataLayoutVector
    size: Sequence[int] = ()
    stride: Sequence[int] = ()
    data: Optional[np.ndarray] = None
    data_type: int = C.BNNSDataTypeFloat32
    data_scale: float = 1.0
    data_bias: float = 0.0

    # ---- Swift-style helpers (BNNSNDArrayDescriptor(data:shape:), .allocate(...))
    @classmethod
    def from_array(cls, array: np.ndarray, layout: int, flags: int = C.BNNSNDArrayFlagBackpropSet):
        """A contiguous descriptor over ``array``, whose NumPy shape is the logical shape
        (e.g. (C, H, W) for ImageCHW, (O, I, kH, kW) for ConvolutionWeightsOIHW)."""
        array = np.asarray(array)
        data_type = {np.dtype(np.float16): C.BNNSDataTypeFloat16}.get(array.dtype, C.BNNSDataTypeFloat32)
        if array.dtype not in (np.float16, np.float32):
            array = np.ascontiguousarray(array, dtype=np.float32)
        geometry = Descriptor.for_shape(layout, array.shape)
        return cls(flags=flags, layout=layout, size=geometry.size, data=array, data_type=data_type)

    @classmethod
    def allocate(cls, layout: int, size: Sequence[int], batch_size: int = 1,
                 data_type: int = C.BNNSDataTypeFloat32, fill: float = 0.0):
        """A descriptor with a zero-filled (or ``fill``) packed buffer for ``batch_size`` items."""
        desc = cls(layout=layout, size=tuple(size), data_type=data_type)
        geometry = desc.geometry()
        desc.data = np.full((batch_size,) + geometry.shape, fill, dtype=numpy_type(data_type))
        return desc

    def geometry(self) -> layout.Descriptor:
        """The descriptor's geometry (shape, strides, span) without its data."""
        return layout.Descriptor(layout=int(self.layout), size=tuple(int(s) for s in self.size),
                                 stride=tuple(int(s) for s in self.stride), data_type=int(self.data_type),
                                 flags=int(self.flags))

    def to_proto(self, with_data: bool = True) -> types_pb2.NDArrayDescriptor:
        pb = types_pb2.NDArrayDescriptor(
            flags=int(self.flags), layout=int(self.layout), size=[int(s) for s in self.size],
            stride=[int(s) for s in self.stride], data_type=int(self.data_type),
            data_scale=float(self.data_scale), data_bias=float(self.data_bias))
        if with_data and self.data is not None and hasattr(self.data, "reference"):   # a BNNSTensor
            pb.data.CopyFrom(self.data.reference())
        elif with_data and self.data is not None:
            geometry = self.geometry()
            flat = flat_elements(self.data, self.data_type, "data")
            if flat.size < geometry.span:
                raise InvalidArgumentError(
                    f"descriptor data has {flat.size} elements; size {tuple(self.size)} with stride "
                    f"{tuple(self.stride)} needs {geometry.span}")
            pb.data.data = flat[: geometry.span].tobytes()
        return pb


def flat_elements(array, data_type: int, name: str) -> np.ndarray:
    """``array``'s elements in flat C order, as the little-endian type of ``data_type``."""
    array = np.asarray(array)
    target = np.dtype(numpy_type(data_type)).newbyteorder("<")
    if array.dtype != target:
        if array.dtype.kind not in "fiub":
            raise InvalidArgumentError(f"{name} has dtype {array.dtype}; a numeric array is needed")
        array = array.astype(target)
    return np.ravel(array, order="C")


@dataclasses.dataclass
class BNNSActivation:
    """BNNSActivation (function, alpha, beta)."""

    function: int = C.BNNSActivationFunctionIdentity
    alpha: float = 0.0
    beta: float = 0.0

    def to_proto(self) -> types_pb2.Activation:
        return types_pb2.Activation(function=int(self.function), alpha=float(self.alpha), beta=float(self.beta))


@dataclasses.dataclass
class BNNSFilterParameters:
    """BNNSFilterParameters (flags, n_threads; the allocator fields have no meaning remotely)."""

    flags: int = 0
    n_threads: int = 0
    alloc_memory: Any = None
    free_memory: Any = None

    def to_proto(self) -> types_pb2.FilterParameters:
        return types_pb2.FilterParameters(flags=int(self.flags), n_threads=int(self.n_threads))


def _desc(desc: Optional[BNNSNDArrayDescriptor], with_data: bool = True):
    return desc.to_proto(with_data) if desc is not None else None


def _activation(act: Optional[BNNSActivation]):
    return (act or BNNSActivation()).to_proto()


@dataclasses.dataclass
class BNNSLayerParametersConvolution:
    """BNNSLayerParametersConvolution (also for transposed convolution)."""

    i_desc: BNNSNDArrayDescriptor
    w_desc: BNNSNDArrayDescriptor
    o_desc: BNNSNDArrayDescriptor
    bias: Optional[BNNSNDArrayDescriptor] = None
    activation: Optional[BNNSActivation] = None
    x_stride: int = 1
    y_stride: int = 1
    x_dilation_stride: int = 1
    y_dilation_stride: int = 1
    x_padding: int = 0
    y_padding: int = 0
    groups: int = 1
    pad: Sequence[int] = (0, 0, 0, 0)

    def to_proto(self) -> types_pb2.ConvolutionParameters:
        return types_pb2.ConvolutionParameters(
            i_desc=_desc(self.i_desc, False), w_desc=_desc(self.w_desc), o_desc=_desc(self.o_desc, False),
            bias=_desc(self.bias), activation=_activation(self.activation),
            x_stride=self.x_stride, y_stride=self.y_stride, x_dilation_stride=self.x_dilation_stride,
            y_dilation_stride=self.y_dilation_stride, x_padding=self.x_padding, y_padding=self.y_padding,
            groups=self.groups, pad=[int(p) for p in self.pad])

    def trainables(self) -> dict:
        return {"weights": self.w_desc, "bias": self.bias}


@dataclasses.dataclass
class BNNSLayerParametersFullyConnected:
    """BNNSLayerParametersFullyConnected."""

    i_desc: BNNSNDArrayDescriptor
    w_desc: BNNSNDArrayDescriptor
    o_desc: BNNSNDArrayDescriptor
    bias: Optional[BNNSNDArrayDescriptor] = None
    activation: Optional[BNNSActivation] = None

    def to_proto(self) -> types_pb2.FullyConnectedParameters:
        return types_pb2.FullyConnectedParameters(
            i_desc=_desc(self.i_desc, False), w_desc=_desc(self.w_desc), o_desc=_desc(self.o_desc, False),
            bias=_desc(self.bias), activation=_activation(self.activation))

    def trainables(self) -> dict:
        return {"weights": self.w_desc, "bias": self.bias}
