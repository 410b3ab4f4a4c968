"""BNNSNDArrayDescriptor <-> NumPy.

A BNNS descriptor pairs ``size[0]`` with the fastest-varying index (the *natural* layouts:
Vector, matrices, ImageCHW, ConvolutionWeights*, *LastMajor) or keeps ``size[]`` in logical order
while ``stride[0]`` still belongs to the last index (the *FirstMajor* layouts). Either way this
module presents the data as a NumPy array in C order of its *logical* shape:

    natural     shape = reversed(size)   e.g. ImageCHW size (W, H, C) -> (C, H, W)
    FirstMajor  shape = size

and NumPy strides (in elements) = reversed(stride). A zero stride takes its contiguous default,
``stride[k] = stride[k-1] * extent[k-1]`` over the extents in memory order. Batches are not part
of a descriptor: item b of a raw buffer starts at element ``b * batch_stride``.

The raw values below are Apple's (bnns.md 1.2, 1.3); the wire contract uses the same numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Optional, Sequence

import numpy as np

from .errors import InvalidArgumentError, require

MAX_TENSOR_DIMENSION = 8

# BNNSDataLayout raw values -------------------------------------------------------------------
LAYOUT_VECTOR = 0x10000
LAYOUT_1D_LAST_MAJOR = 0x18000
LAYOUT_1D_FIRST_MAJOR = 0x18001
LAYOUT_ROW_MAJOR_MATRIX = 0x20000
LAYOUT_COLUMN_MAJOR_MATRIX = 0x20001
LAYOUT_2D_LAST_MAJOR = 0x28000
LAYOUT_2D_FIRST_MAJOR = 0x28001
LAYOUT_IMAGE_CHW = 0x30000
LAYOUT_SNE = 0x30001
LAYOUT_NSE = 0x30002
LAYOUT_3D_LAST_MAJOR = 0x38000
LAYOUT_3D_FIRST_MAJOR = 0x38001
LAYOUT_CONV_WEIGHTS_OIHW = 0x40000
LAYOUT_CONV_WEIGHTS_OIHRWR = 0x40001
LAYOUT_CONV_WEIGHTS_IOHRWR = 0x40002
LAYOUT_CONV_WEIGHTS_OIHW_PACK32 = 0x40010

_RANK = {
    LAYOUT_VECTOR: 1, LAYOUT_1D_LAST_MAJOR: 1, LAYOUT_1D_FIRST_MAJOR: 1,
    LAYOUT_ROW_MAJOR_MATRIX: 2, LAYOUT_COLUMN_MAJOR_MATRIX: 2,
    LAYOUT_2D_LAST_MAJOR: 2, LAYOUT_2D_FIRST_MAJOR: 2,
    LAYOUT_IMAGE_CHW: 3, LAYOUT_SNE: 3, LAYOUT_NSE: 3,
    LAYOUT_3D_LAST_MAJOR: 3, LAYOUT_3D_FIRST_MAJOR: 3,
    LAYOUT_CONV_WEIGHTS_OIHW: 4, LAYOUT_CONV_WEIGHTS_OIHRWR: 4, LAYOUT_CONV_WEIGHTS_IOHRWR: 4,
}
for _n in range(4, MAX_TENSOR_DIMENSION + 1):
    _RANK[(_n << 16) | 0x8000] = _n        # BNNSDataLayout{n}DLastMajor
    _RANK[(_n << 16) | 0x8001] = _n        # BNNSDataLayout{n}DFirstMajor
FIRST_MAJOR_LAYOUTS = frozenset(layout for layout in _RANK if layout & 0x8001 == 0x8001)

# BNNSDataType raw values --------------------------------------------------------------------
DTYPE_FLOAT16 = 0x10010
DTYPE_FLOAT32 = 0x10020
DTYPE_INT8 = 0x20008
DTYPE_INT16 = 0x20010
DTYPE_INT32 = 0x20020
DTYPE_INT64 = 0x20040
DTYPE_UINT8 = 0x40008
DTYPE_UINT16 = 0x40010
DTYPE_UINT32 = 0x40020
DTYPE_UINT64 = 0x40040

# Element types a tensor may carry. Compute is float32; float16 is converted on the way in/out.
FLOAT_DTYPES: dict[int, np.dtype] = {DTYPE_FLOAT32: np.dtype("<f4"), DTYPE_FLOAT16: np.dtype("<f2")}
INDEX_DTYPES: dict[int, np.dtype] = {DTYPE_UINT64: np.dtype("<u8"), DTYPE_UINT32: np.dtype("<u4")}
# Integer types a result may be packed into (quantization outputs).
INTEGER_DTYPES: dict[int, np.dtype] = {DTYPE_INT8: np.dtype("i1"), DTYPE_INT16: np.dtype("<i2"), DTYPE_INT32: np.dtype("<i4"),
                  DTYPE_INT64: np.dtype("<i8"), DTYPE_UINT8: np.dtype("u1"), DTYPE_UINT16: np.dtype("<u2"),
                  **INDEX_DTYPES}
DTYPE_BOOLEAN = 0x100008
# BNNSDataTypeBoolean: one byte per value (BNNSCompareTensor's output).
BOOLEAN_DTYPES: dict[int, np.dtype] = {DTYPE_BOOLEAN: np.dtype("?")}
NUMERIC_DTYPES: dict[int, np.dtype] = {**FLOAT_DTYPES, **INTEGER_DTYPES}      # what a client's array may hold
ALL_DTYPES: dict[int, np.dtype] = {**NUMERIC_DTYPES, **BOOLEAN_DTYPES}

# BNNSNDArrayFlags
FLAG_BACKPROP_SET = 0
FLAG_BACKPROP_ACCUMULATE = 1


def layout_rank(layout: int) -> int:
    """Rank of a BNNSDataLayout; InvalidArgumentError for an unknown or unsupported one."""
    if layout == LAYOUT_CONV_WEIGHTS_OIHW_PACK32:
        raise InvalidArgumentError(
            "layout ConvolutionWeightsOIHW_Pack32 (0x40010) is an opaque Apple speed layout and is "
            "not supported; give the weights as ConvolutionWeightsOIHW (0x40000)")
    if layout not in _RANK:
        raise InvalidArgumentError(f"unknown data layout {layout:#x}")
    return _RANK[layout]


def numpy_dtype(data_type: int, allowed: dict = FLOAT_DTYPES, what="data_type") -> np.dtype:
    """The little-endian NumPy dtype of a BNNSDataType among ``allowed``. ``what`` names the field
    for the error, or is a function that does (callers on every call's path: made only on error)."""
    if data_type in allowed:
        return allowed[data_type]
    what = what() if callable(what) else what
    names = ", ".join(f"{k:#x}" for k in allowed)
    raise InvalidArgumentError(
        f"{what} {data_type:#x} is not supported here (supported: {names}; Float32 = 0x10020, "
        f"Float16 = 0x10010)")


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """A BNNSNDArrayDescriptor without NumPy magic: the fields as BNNS has them.

    ``data`` is the flat element buffer (1-D, in ``data_type``) for descriptors that carry data
    (weights, bias, beta, gamma, moving statistics), else ``None``.
    """

    layout: int
    size: tuple
    stride: tuple = ()
    data_type: int = DTYPE_FLOAT32
    data: Optional[np.ndarray] = None
    flags: int = FLAG_BACKPROP_SET
    data_scale: float = 1.0
    data_bias: float = 0.0

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def for_shape(layout: int, shape: Sequence[int], data: Optional[np.ndarray] = None,
                  data_type: int = DTYPE_FLOAT32) -> "Descriptor":
        """A contiguous descriptor whose logical NumPy shape is ``shape`` (and optional data,
        given as an array of that shape)."""
        shape = tuple(int(s) for s in shape)
        if data is None:
            return _shape_only(layout, shape, data_type)
        size = shape if layout in FIRST_MAJOR_LAYOUTS else tuple(reversed(shape))
        flat = np.ascontiguousarray(data, dtype=ALL_DTYPES[data_type]).reshape(-1)
        return Descriptor(layout=layout, size=size, data_type=data_type, data=flat)

    @functools.cached_property
    def is_packed(self) -> bool:
        """Whether an item is dense in C order of its shape (strides all default): a batch of
        such items at stride ``span`` is a plain reshape of the flat buffer."""
        dense, packed = 1, True
        for extent, stride in zip(self._memory_extents(), self.memory_strides()):
            packed = packed and stride == dense
            dense *= extent
        return packed

    # ------------------------------------------------------------------ geometry
    # The geometry is computed once per descriptor (they are frozen): every call of a filter asks
    # for its descriptors' shapes and spans, and small calls would otherwise spend more time here
    # than in their kernel.
    @functools.cached_property
    def rank(self) -> int:
        return layout_rank(self.layout)

    @functools.cached_property
    def shape(self) -> tuple:
        """Logical NumPy shape (C order)."""
        self.validate()
        size = tuple(self.size[: self.rank])
        return size if self.layout in FIRST_MAJOR_LAYOUTS else tuple(reversed(size))

    @functools.cached_property
    def element_count(self) -> int:
        return math.prod(int(n) for n in self.shape)      # Python ints: exact, whatever the size

    def _memory_extents(self) -> tuple:
        size = tuple(self.size[: self.rank])
        return tuple(reversed(size)) if self.layout in FIRST_MAJOR_LAYOUTS else size

    def memory_strides(self) -> tuple:
        """Element strides in memory order (stride[0] first), zeros replaced by defaults."""
        return self._memory_strides

    @functools.cached_property
    def _memory_strides(self) -> tuple:
        extents = self._memory_extents()
        given = tuple(self.stride) + (0,) * (len(extents) - len(self.stride))
        out, default = [], 1
        for extent, stride in zip(extents, given):
            s = int(stride) if stride else default
            out.append(s)
            default = s * extent
        return tuple(out)

    @functools.cached_property
    def numpy_strides(self) -> tuple:
        """Element strides of the logical NumPy shape."""
        return tuple(reversed(self.memory_strides()))

    @property
    def is_contiguous(self) -> bool:
        return self.memory_strides() == Descriptor(self.layout, self.size).memory_strides()

    @functools.cached_property
    def span(self) -> int:
        """Elements one item occupies in memory: the largest offset + 1."""
        return 1 + sum((e - 1) * s for e, s in zip(self._memory_extents(), self.memory_strides()))

    @property
    def dtype(self) -> np.dtype:
        return ALL_DTYPES[self.data_type]

    def describe(self) -> str:
        """Short human form for error messages, e.g. 'ImageCHW size (32, 32, 3)'."""
        return f"layout {self.layout:#x} size {tuple(self.size[: len(self.size)])}"

    def validate(self, name: str = "descriptor") -> None:
        """Check rank, sizes and strides (BNNS: non-decreasing; here also no aliasing)."""
        if self.__dict__.get("_valid"):     # checked before: a descriptor is frozen
            return
        self._check(name)
        self.__dict__["_valid"] = True

    def _check(self, name: str) -> None:
        rank = layout_rank(self.layout)
        require(len(self.size) >= rank,
                f"{name}.size has {len(self.size)} entries but layout {self.layout:#x} has rank {rank}")
        require(all(int(s) == 0 for s in self.size[rank:]),
                f"{name}.size {tuple(self.size)} sets dimensions beyond the layout's rank {rank}")
        require(len(self.size) <= MAX_TENSOR_DIMENSION and len(self.stride) <= MAX_TENSOR_DIMENSION,
                f"{name} has more than {MAX_TENSOR_DIMENSION} dimensions")
        require(all(int(s) >= 1 for s in self.size[:rank]),
                f"{name}.size {tuple(self.size[:rank])} has a zero dimension")
        require(all(int(s) < 2**31 for s in self.size[:rank]),
                f"{name}.size {tuple(self.size[:rank])} has a dimension of 2**31 or more")
        require(all(int(s) == 0 for s in self.stride[rank:]),
                f"{name}.stride {tuple(self.stride)} sets dimensions beyond the layout's rank {rank}")
        extents = self._memory_extents()
        given = tuple(self.stride) + (0,) * (rank - len(self.stride))
        dense = 1
        for k, (extent, stride) in enumerate(zip(extents, given)):
            if stride:
                require(int(stride) >= dense,
                        f"{name}.stride {tuple(self.stride[:rank])}: stride[{k}] = {stride} is smaller "
                        f"than the extent {dense} of the dimensions before it (strides must not alias)")
                dense = int(stride) * extent
            else:
                dense *= extent
        require(dense < 2**40, f"{name} spans {dense} elements, more than this server accepts")

    # ------------------------------------------------------------------ data
    def tensor(self, name: str = "descriptor", allowed: dict = FLOAT_DTYPES) -> np.ndarray:
        """The descriptor's data as an array of its logical shape: float32 for a float type, a
        read-only view for another type of ``allowed`` (integer indices, Booleans)."""
        self.validate(name)
        require(self.data is not None, f"{name} has no data")
        dtype = numpy_dtype(self.data_type, allowed=allowed, what=f"{name}.data_type")
        flat = np.ascontiguousarray(self.data).reshape(-1)   # as_strided below assumes a dense buffer
        require(flat.dtype == dtype, f"{name}.data holds {flat.dtype}, expected {dtype}")
        require(flat.size >= self.span,
                f"{name}.data has {flat.size} elements; {self.describe()} with strides "
                f"{self.memory_strides()} needs {self.span}")
        view = np.lib.stride_tricks.as_strided(
            flat, shape=self.shape, strides=tuple(s * dtype.itemsize for s in self.numpy_strides),
            writeable=False)
        return np.asarray(view, dtype=np.float32) if dtype.kind == "f" else view

    def same_geometry(self, other: "Descriptor") -> bool:
        return (self.layout == other.layout and self.shape == other.shape)


@functools.lru_cache(maxsize=4096)
def _shape_only(layout: int, shape: tuple, data_type: int) -> "Descriptor":
    """The contiguous descriptor of ``shape`` without data: one frozen object per geometry, so
    its validation and derived geometry are computed once, not on every call that asks."""
    size = shape if layout in FIRST_MAJOR_LAYOUTS else tuple(reversed(shape))
    return Descriptor(layout=layout, size=size, data_type=data_type)


def read_batch(flat: np.ndarray, desc: Descriptor, batch_size: int, batch_stride: int,
               name: str = "in", allowed: dict = FLOAT_DTYPES) -> np.ndarray:
    """View ``batch_size`` items of ``desc`` in a raw buffer as (N, *desc.shape).

    ``flat`` is the 1-D buffer in the descriptor's data type; item b starts at element
    ``b * batch_stride`` (0 = packed, i.e. ``desc.span``). Float data comes back as float32 (no
    copy when it is float32 already); other ``allowed`` types (pooling indices) keep their type.
    """
    desc.validate(name)
    dtype = numpy_dtype(desc.data_type, allowed=allowed, what=lambda: f"{name} data_type")
    if not 1 <= batch_size < 2**31:
        raise InvalidArgumentError(f"batch_size {batch_size} must be between 1 and 2**31 - 1")
    span = desc.span
    stride = int(batch_stride) or span
    needed = (batch_size - 1) * stride + span
    available = flat.size
    if not (batch_size == 1 or stride >= span) or not needed <= available <= max(batch_size * stride, needed) \
            or flat.dtype != dtype:
        # The checks again, one by one, for the message (kept off the path of a good call).
        require(batch_size == 1 or stride >= span,
                f"{name}_stride {batch_stride} is smaller than one item ({span} elements for "
                f"{desc.describe()}): items would overlap")
        require(available >= needed,
                f"{name} has {available} elements but batch_size {batch_size} with {name}_stride "
                f"{stride} and items of {span} elements needs {needed}")
        require(available <= max(batch_size * stride, needed),
                f"{name} has {available} elements, more than batch_size {batch_size} x {name}_stride "
                f"{stride} = {batch_size * stride}: wrong batch_size, stride or data type?")
        require(flat.dtype == dtype, f"{name} holds {flat.dtype}, expected {dtype}")
    flat = np.ascontiguousarray(flat).reshape(-1)          # as_strided below assumes a dense buffer
    if stride == span and desc.is_packed:
        # Packed items one after another: the same view by a reshape, which costs a tenth of
        # as_strided (a small call's whole budget is some tens of microseconds).
        view = flat[:batch_size * span].reshape((batch_size,) + desc.shape)
        if view.flags.writeable:
            view.flags.writeable = False
    else:
        item = dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat, shape=(batch_size,) + desc.shape,
            strides=(stride * item,) + tuple(s * item for s in desc.numpy_strides),
            writeable=False)
    return view.astype(np.float32) if dtype.kind == "f" and dtype != np.float32 else view


def pack(array: np.ndarray, data_type: int = DTYPE_FLOAT32) -> np.ndarray:
    """``array`` as a contiguous array of ``data_type`` (the packed wire form of a result)."""
    dtype = numpy_dtype(data_type, allowed=ALL_DTYPES)
    return np.ascontiguousarray(array, dtype=dtype)
