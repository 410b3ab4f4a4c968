"""The BNNS C structs, Python spelling: plain mutable dataclasses with Apple's field names and
order, each able to turn itself into its wire message. Tensors are NumPy arrays."""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any, Optional, Sequence, TypeVar

import numpy as np

from bnns.kernels import layout
from bnns.kernels.layout import Descriptor   # from_array's `layout` argument shadows the module
from bnns.kernels.errors import InvalidArgumentError
from bnns.v1 import schema_default, types_pb2, value_default

from . import constants as C

_NUMPY_OF = {C.BNNSDataTypeFloat32: np.float32, C.BNNSDataTypeFloat16: np.float16,
             C.BNNSDataTypeUInt32: np.uint32, C.BNNSDataTypeUInt64: np.uint64,
             C.BNNSDataTypeInt32: np.int32, C.BNNSDataTypeInt64: np.int64,
             C.BNNSDataTypeInt8: np.int8, C.BNNSDataTypeInt16: np.int16,        # embedding indices
             C.BNNSDataTypeUInt8: np.uint8, C.BNNSDataTypeUInt16: np.uint16}


def numpy_type(data_type: int):
    if data_type not in _NUMPY_OF:
        raise InvalidArgumentError(f"data_type {data_type:#x} has no NumPy equivalent in this SDK")
    return _NUMPY_OF[data_type]


_D = TypeVar("_D", bound="_Descriptor")


class _Descriptor:
    """What BNNSNDArrayDescriptor does beyond its fields (which derive() takes from the wire's
    NDArrayDescriptor): ``data`` is a NumPy array, a BNNSTensor held by the server, or None,
    read and written as BNNS reads and writes memory (element k of the descriptor is element k
    of ``data``'s flat C order); Swift's ``BNNSNDArrayDescriptor(data:shape:)`` (pass ``shape``,
    a BNNS.Shape case, instead of layout and size) and ``.allocate(repeating:shape:batchSize:)``."""

    def __post_init__(self, shape) -> None:
        if shape is not None:
            self.layout, self.size = shape[0], tuple(shape[1])
            if self.data is not None and not hasattr(self.data, "reference"):
                array = np.asarray(self.data)
                self.data_type = {np.dtype(np.float16): C.BNNSDataTypeFloat16}.get(array.dtype, self.data_type)

    @classmethod
    def from_array(cls: type[_D], array: np.ndarray, layout: int, flags: int = C.BNNSNDArrayFlagBackpropSet) -> _D:
        """A contiguous descriptor over ``array``, whose NumPy shape is the logical shape
        (e.g. (C, H, W) for ImageCHW, (O, I, kH, kW) for ConvolutionWeightsOIHW)."""
        array = np.asarray(array)
        data_type = {np.dtype(np.float16): C.BNNSDataTypeFloat16}.get(array.dtype, C.BNNSDataTypeFloat32)
        if array.dtype not in (np.float16, np.float32):
            array = np.ascontiguousarray(array, dtype=np.float32)
        geometry = Descriptor.for_shape(layout, array.shape)
        return cls(flags=flags, layout=layout, size=geometry.size, data=array, data_type=data_type)

    @classmethod
    def allocate(cls: type[_D], layout: Optional[int] = None, size: Optional[Sequence[int]] = None, batch_size: int = 1,
                 data_type: int = C.BNNSDataTypeFloat32, fill: float = 0.0, *, repeating: Optional[float] = None,
                 shape: Optional[tuple] = None, random_uniform_using=None, range: Optional[tuple] = None) -> _D:
        """A descriptor with a zero-filled (or ``fill``) packed buffer for ``batch_size`` items;
        Swift's ``.allocate(repeating:shape:batchSize:)`` as ``allocate(repeating=, shape=,
        batch_size=)``, and ``.allocate(randomUniformUsing:range:shape:batchSize:)`` as
        ``allocate(random_uniform_using=generator, range=(low, high), shape=, batch_size=)``
        (BNNSRandomFillUniformFloat, or BNNSRandomFillUniformInt for an integer data type)."""
        if shape is not None:
            layout, size = shape
        if repeating is not None:
            fill = repeating
        if layout is None or size is None:
            raise InvalidArgumentError("allocate needs a layout and a size, or a shape (a BNNS.Shape case)")
        desc = cls(layout=layout, size=tuple(size), data_type=data_type)
        geometry = desc.geometry()
        desc.data = np.full((batch_size,) + geometry.shape, fill, dtype=numpy_type(data_type))
        if random_uniform_using is not None:
            from .direct import fill_uniform       # the random generators build on this module
            fill_uniform(random_uniform_using, desc.data, data_type, range)
        return desc

    def geometry(self) -> layout.Descriptor:
        """The descriptor's geometry (shape, strides, span) without its data."""
        return _geometry(int(self.layout), tuple(int(s) for s in self.size), tuple(int(s) for s in self.stride),
                         int(self.data_type), int(self.flags))

    def to_proto(self, with_data: bool = True) -> types_pb2.NDArrayDescriptor:
        """The wire's descriptor; ``data`` (and a table) sent as a tensor reference or as bytes,
        the flat elements the descriptor spans."""
        pb = types_pb2.NDArrayDescriptor(
            flags=int(self.flags), layout=int(self.layout), size=[int(s) for s in self.size],
            stride=[int(s) for s in self.stride], data_type=int(self.data_type),
            table_data_type=int(self.table_data_type), data_scale=float(self.data_scale),
            data_bias=float(self.data_bias))
        if self.table_data is not None:     # the server refuses it, naming the Indexed types
            pb.table_data.data = flat_elements(self.table_data, int(self.table_data_type), "table_data").tobytes()
        if with_data and self.data is not None and hasattr(self.data, "reference"):   # a BNNSTensor
            pb.data.CopyFrom(self.data.reference())
        elif with_data and self.data is not None and int(self.data_type) in _NUMPY_OF:
            geometry = self.geometry()
            flat = flat_elements(self.data, self.data_type, "data")
            if flat.size < geometry.span:
                raise InvalidArgumentError(
                    f"descriptor data has {flat.size} elements; size {tuple(self.size)} with stride "
                    f"{tuple(self.stride)} needs {geometry.span}")
            pb.data.data = flat[: geometry.span].tobytes()
        return pb


class Shape:
    """BNNS.Shape: (layout, size) pairs for BNNSNDArrayDescriptor(data:shape:) and
    .allocate(repeating:shape:batchSize:), sizes in BNNS's order (size[0] fastest)."""

    @staticmethod
    def vector(size: int) -> tuple:
        return C.BNNSDataLayoutVector, (int(size),)

    @staticmethod
    def matrix_row_major(width: int, height: int) -> tuple:
        return C.BNNSDataLayoutRowMajorMatrix, (int(width), int(height))

    @staticmethod
    def matrix_column_major(width: int, height: int) -> tuple:
        return C.BNNSDataLayoutColumnMajorMatrix, (int(width), int(height))

    @staticmethod
    def image_chw(width: int, height: int, channels: int) -> tuple:
        return C.BNNSDataLayoutImageCHW, (int(width), int(height), int(channels))

    @staticmethod
    def convolution_weights_oihw(width: int, height: int, input_channels: int, output_channels: int) -> tuple:
        return C.BNNSDataLayoutConvolutionWeightsOIHW, (int(width), int(height), int(input_channels),
                                                        int(output_channels))


@functools.lru_cache(maxsize=4096)
def _geometry(layout_: int, size: tuple, stride: tuple, data_type: int, flags: int) -> layout.Descriptor:
    """One frozen Descriptor per set of fields (every one of them is the key), so that a call's
    gradient descriptors are validated once, not on every call."""
    return layout.Descriptor(layout=layout_, size=size, stride=stride, data_type=data_type, flags=flags)


@functools.lru_cache(maxsize=None)
def _little_endian(data_type: int) -> np.dtype:
    return np.dtype(numpy_type(data_type)).newbyteorder("<")


def flat_elements(array, data_type: int, name: str) -> np.ndarray:
    """``array``'s elements in flat C order, as the little-endian type of ``data_type``."""
    array = np.asarray(array)
    target = _little_endian(data_type)
    if array.dtype != target:
        if array.dtype.kind not in "fiub":
            raise InvalidArgumentError(f"{name} has dtype {array.dtype}; a numeric array is needed")
        array = array.astype(target)
    return np.ravel(array, order="C")


# ---------------------------------------------------------------- structs derived from the contract

# Descriptors that give only a shape (their data is the call's, not the filter's): sent without data.
SHAPE_ONLY = frozenset({"i_desc", "o_desc", "target_desc"})


def derive(message, name: str, doc: str, *, required: Sequence[str] = (), defaults: Optional[dict] = None,
           rename: Optional[dict] = None, without: Sequence[str] = (), trainables: Optional[dict] = None,
           flatten: Optional[str] = None, only: Sequence[str] = (), extra: Sequence[tuple] = (), base: type = object) -> type:
    """The BNNS struct ``name`` as a mutable dataclass derived from its wire ``message``.

    Its fields are the message's, in the message's order (which is Apple's), under Apple's names:
    ``rename`` maps an Apple name to the proto field it fills where they differ; ``without``
    leaves out proto fields that are not part of Apple's struct (passed another way, e.g. the
    normalization type, which is the creator's argument). ``required`` fields come first and have
    no default; the others default to ``defaults[name]`` (where Apple's struct differs from the
    schema), else None (descriptors, activation and other messages: a NULL pointer; an unset
    proto3 ``optional`` scalar), else the schema's (its ``(bnns.v1.default)`` option, as in
    kernels/params.py; else the proto zero or ()). ``to_proto(**extra)`` builds
    the message (``extra`` sets fields left out), sending descriptor data except for
    SHAPE_ONLY ones, leaving out None entries of lists and flattening pairs (Apple's
    two-dimensional arrays, e.g. padding_size[8][2]); ``trainables()`` maps the filter's trainable
    array names (FilterParameterRef names) to the descriptors that hold them (``trainables``:
    name -> field).
    ``flatten`` names a message field whose own fields Apple's struct holds inline (Yolo's).
    ``only`` takes just those fields, in that order (Apple's struct is a subset of a shared
    message: the optimizers' fields). ``extra`` appends dataclass fields that never travel
    (Apple's allocator pointers, Swift's ``shape:`` argument); ``base`` gives the behaviour
    beyond the fields (its ``to_proto``, if it has one, replaces the generic one).
    """
    rename, defaults = dict(rename or {}), dict(defaults or {})
    to_apple = {proto: apple for apple, proto in rename.items()}
    by_name = message.DESCRIPTOR.fields_by_name
    fields = [by_name[n] for n in only] if only else [f for f in message.DESCRIPTOR.fields if f.name not in without]
    if flatten is not None:
        at = [f.name for f in fields].index(flatten)
        nested = fields[at].message_type
        fields[at:at + 1] = list(nested.fields)
        inline = {f.name for f in nested.fields}
        nested_class = getattr(types_pb2, nested.name)
    names = [to_apple.get(f.name, f.name) for f in fields]
    unknown = (set(required) | set(defaults)) - set(names)
    if unknown:
        raise TypeError(f"{name}: {sorted(unknown)} are not fields of {message.DESCRIPTOR.full_name}")
    def default(apple: str, field):
        if apple in defaults:
            return defaults[apple]
        if field.message_type is not None or field.has_presence and schema_default(field) is None:
            return None            # a NULL pointer; an unset proto3 optional scalar
        return value_default(field)
    spec = [(apple, Any) if apple in required else (apple, Any, dataclasses.field(default=default(apple, field)))
            for apple, field in sorted(zip(names, fields), key=lambda pair: pair[0] not in required)]
    spec += list(extra)
    proto_of = {apple: rename.get(apple, apple) for apple in names}

    def to_proto(self, **extra):
        values: dict[str, Any] = {}
        inner: dict[str, Any] = {}
        for apple, proto in proto_of.items():
            value = getattr(self, apple)
            if value is None:
                continue
            if isinstance(value, BNNSNDArrayDescriptor):
                value = value.to_proto(apple not in SHAPE_ONLY)
            elif hasattr(value, "to_proto"):
                value = value.to_proto()
            elif isinstance(value, (list, tuple)):
                value = [w.to_proto() if hasattr(w, "to_proto") else w for v in value if v is not None
                         for w in (v if isinstance(v, (list, tuple)) else (v,))]
            (inner if flatten is not None and proto in inline else values)[proto] = value
        if flatten is not None and inner:
            values[flatten] = nested_class(**inner)
        values.update(extra)
        return message(**values)

    def trainable_descriptors(self) -> dict:
        return {array: getattr(self, field) for array, field in (trainables or {}).items()}

    namespace = {"trainables": trainable_descriptors, "__doc__": doc, "message": message, "rename": rename}
    if not hasattr(base, "to_proto"):
        namespace["to_proto"] = to_proto
    struct = dataclasses.make_dataclass(name, spec, namespace=namespace, bases=(base,))
    struct.__module__ = sys._getframe(1).f_globals.get("__name__", __name__)
    return struct


BNNSNDArrayDescriptor = derive(
    types_pb2.NDArrayDescriptor, "BNNSNDArrayDescriptor",
    "BNNSNDArrayDescriptor, Apple's fields in Apple's order. ``size``/``stride`` as in BNNS (size[0] "
    "fastest, strides in elements, 0 = contiguous); ``table_data``/``table_data_type`` (the lookup table "
    "of the Indexed types) exist for Apple's shape: the service refuses Indexed data. " + str(_Descriptor.__doc__),
    defaults={"layout": C.BNNSDataLayoutVector},
    extra=(("shape", dataclasses.InitVar[Optional[tuple]], dataclasses.field(default=None)),), base=_Descriptor)

BNNSActivation = derive(
    types_pb2.Activation, "BNNSActivation",
    "BNNSActivation, all nine of Apple's fields: function, alpha, beta, and the integer saturation "
    "parameters iscale, ioffset, ishift and their per-channel arrays, which only "
    "IntegerLinearSaturate[PerChannel] reads; the service computes on floats and refuses those two "
    "functions, naming the fields, and every other function ignores them, as BNNS does.")

BNNSFilterParameters = derive(
    types_pb2.FilterParameters, "BNNSFilterParameters",
    "BNNSFilterParameters: flags and n_threads; the allocator pointers have no meaning across a "
    "network and are never sent.",
    extra=(("alloc_memory", Any, dataclasses.field(default=None)), ("free_memory", Any, dataclasses.field(default=None))))


BNNSLayerParametersConvolution = derive(
    types_pb2.ConvolutionParameters, "BNNSLayerParametersConvolution",
    "BNNSLayerParametersConvolution (also for transposed convolution).",
    required=("i_desc", "w_desc", "o_desc"), trainables={"weights": "w_desc", "bias": "bias"})

BNNSLayerParametersFullyConnected = derive(
    types_pb2.FullyConnectedParameters, "BNNSLayerParametersFullyConnected", "BNNSLayerParametersFullyConnected.",
    required=("i_desc", "w_desc", "o_desc"), trainables={"weights": "w_desc", "bias": "bias"})
