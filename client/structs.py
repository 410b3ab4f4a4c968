"""What the BNNS C structs do beyond their fields. The structs themselves (plain mutable
dataclasses with Apple's names, field order and defaults, and their to_proto) are generated from
the contract into client/c_structs.py (proto/gen_structs.py); this module is the hand-written rest
they build on: the descriptor's data handling and Swift's conveniences (_Descriptor, Shape), and
the helpers every generated to_proto sends its fields through (wire, sent, nested, oneof)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Optional, Sequence, TypeVar

import numpy as np

from bnns.kernels import layout
from bnns.kernels.layout import NUMERIC_DTYPES, Descriptor, numpy_dtype   # from_array's `layout` argument shadows the module
from bnns.kernels.errors import InvalidArgumentError, require
from bnns.v1 import types_pb2

from . import constants as C

_D = TypeVar("_D", bound="_Descriptor")


class Struct:
    """The base of every generated struct: a struct with no trainable array names none."""

    def trainables(self) -> dict[str, Any]:
        return {}


if TYPE_CHECKING:
    from .c_structs import _DescriptorFields      # the generated fields these methods read and write
else:
    _DescriptorFields = object


class _Descriptor(Struct, _DescriptorFields):
    """What BNNSNDArrayDescriptor does beyond its fields (generated from the wire's
    NDArrayDescriptor, in client/c_structs.py): ``data`` is a NumPy array, a BNNSTensor held by
    the server, or None, read and written as BNNS reads and writes memory (element k of the
    descriptor is element k of ``data``'s flat C order); Swift's
    ``BNNSNDArrayDescriptor(data:shape:)`` (pass ``shape``, a BNNS.Shape case, instead of layout
    and size) and ``.allocate(repeating:shape:batchSize:)``. Hand-written: this is behaviour (data
    handling, geometry, Swift's initializers), not fields the contract could give."""

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
        desc.data = np.full((batch_size,) + geometry.shape, fill, dtype=numpy_dtype(data_type, NUMERIC_DTYPES))
        if random_uniform_using is not None:
            from .direct import fill_uniform       # the random generators build on this module
            fill_uniform(random_uniform_using, desc.data, data_type, range)
        return desc

    def geometry(self) -> Descriptor:
        """The descriptor's geometry (shape, strides, span) without its data."""
        return _geometry(int(self.layout), tuple(int(s) for s in self.size), tuple(int(s) for s in self.stride),
                         int(self.data_type), int(self.flags))

    def _buffer(self, name: str, with_data: bool) -> Optional[types_pb2.Buffer]:
        """What the generated to_proto sends for ``data`` (unless not ``with_data``) or
        ``table_data``: a BNNSTensor's reference, or the flat elements the descriptor spans as
        bytes (a table's all; the server refuses tables, naming the Indexed types)."""
        value = getattr(self, name)
        if value is None or not (with_data or name == "table_data"):
            return None
        if hasattr(value, "reference"):                 # a BNNSTensor
            return value.reference()
        if name == "table_data":
            return types_pb2.Buffer(data=flat_elements(value, int(self.table_data_type), name).tobytes())
        if int(self.data_type) not in NUMERIC_DTYPES:   # Indexed data: not sent, refused by its data_type
            return None
        span, flat = self.geometry().span, flat_elements(value, self.data_type, name)
        require(flat.size >= span, lambda: f"descriptor data has {flat.size} elements; size {tuple(self.size)} "
                f"with stride {tuple(self.stride)} needs {span}")
        return types_pb2.Buffer(data=flat[:span].tobytes())


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


def flat_elements(array, data_type: int, name: str) -> np.ndarray:
    """``array``'s elements in flat C order, as the little-endian type of ``data_type``."""
    array = np.asarray(array)
    target = numpy_dtype(data_type, NUMERIC_DTYPES, f"{name}'s data_type")
    if array.dtype != target:
        if array.dtype.kind not in "fiub":
            raise InvalidArgumentError(f"{name} has dtype {array.dtype}; a numeric array is needed")
        array = array.astype(target)
    return np.ravel(array, order="C")


# ------------------------------------------------------------- what generated to_proto sends through

def wire(value, data: bool = True):
    """A struct field's wire value: None for None (a NULL pointer: not sent), a descriptor's
    message (its data sent unless ``data`` is False), another struct's message; a list or tuple
    as a list with its None entries left out and its pairs flattened (Apple's two-dimensional
    arrays, e.g. padding_size[8][2]); anything else as it is."""
    if isinstance(value, (list, tuple)):
        return [w.to_proto() if hasattr(w, "to_proto") else w for v in value if v is not None
                for w in (v if isinstance(v, (list, tuple)) else (v,))]
    if isinstance(value, _Descriptor):
        return value.to_proto(data)
    return value.to_proto() if hasattr(value, "to_proto") else value


def sent(extra: dict, **values) -> dict:
    """A message's constructor arguments: the fields that are not None, then ``extra`` (fields
    the struct does not hold, e.g. the normalization type) over them."""
    return {**{name: value for name, value in values.items() if value is not None}, **extra}


def nested(message, **values):
    """A message field that Apple's struct holds inline (Yolo's): the message of the values that
    are not None, or None if none is."""
    given = {name: value for name, value in values.items() if value is not None}
    return message(**given) if given else None


def oneof(value, **cases) -> dict:
    """A oneof's field (Apple's pointer to one of several structs): {case: value's message} for
    the case whose struct ``value`` is."""
    for name, struct in cases.items():
        if isinstance(value, struct):
            return {name: value.to_proto()}
    raise InvalidArgumentError(f"{type(value).__name__} is not one of {', '.join(s.__name__ for s in cases.values())}")
