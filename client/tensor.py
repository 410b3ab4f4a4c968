"""Tensors that live on the server: BNNSTensor.

Apple's ``BNNSTensor`` describes memory by data type, shape and strides. Here the memory is on
the server (or in-process core) the tensor was created on, so a chain of calls can keep
activations, gradients and weights there: a BNNSTensor is accepted wherever the SDK takes a
NumPy array (inputs, outputs, gradient descriptors' ``data``, weights, optimizer parameters and
accumulators), and its contents come back only when asked, with ``.numpy()``.

    x = bnns.BNNSTensor.from_array(batch)              # uploads once
    y = bnns.BNNSTensor.empty((32, 16, 28, 28))        # room for a result, zero-filled
    bnns.BNNSFilterApplyBatch(conv, 32, x, 0, y, 0)    # y is written on the server
    y.numpy()                                          # brought back only now
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from bnns.kernels import layout
from bnns.kernels.errors import InvalidArgumentError, require
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import backend as backend_mod
from . import session as sessions
from . import constants as C

_DATA_TYPES: dict[np.dtype, int] = {np.dtype("<f4"): C.BNNSDataTypeFloat32, np.dtype("<f2"): C.BNNSDataTypeFloat16,
               np.dtype("<u4"): C.BNNSDataTypeUInt32, np.dtype("<u8"): C.BNNSDataTypeUInt64,
               np.dtype("<i4"): C.BNNSDataTypeInt32, np.dtype("<i8"): C.BNNSDataTypeInt64,
               np.dtype("i1"): C.BNNSDataTypeInt8, np.dtype("u1"): C.BNNSDataTypeUInt8,
               np.dtype("<i2"): C.BNNSDataTypeInt16, np.dtype("<u2"): C.BNNSDataTypeUInt16}
_DTYPES: dict[int, np.dtype] = {data_type: dtype for dtype, data_type in _DATA_TYPES.items()}


class BNNSTensor:
    """A tensor held by a server: ``data_type``, ``shape`` (outermost first), ``stride`` (in
    elements, C order), ``rank``, ``data_size_in_bytes`` and ``name`` as in Apple's struct; the
    data stays on the server until ``numpy()``. Destroy it with ``destroy()`` or a ``with``."""

    def __init__(self, backend, info: pb.TensorInfo):
        self.backend = backend
        self.tensor_id = info.tensor_id
        self.data_type = int(info.data_type)
        self.shape = tuple(int(d) for d in info.shape)
        self.name = info.name
        self.destroyed = False
        self._references: dict = {}        # (stride, accumulate) -> the Buffer naming this tensor

    # ------------------------------------------------------------------------------ creation
    @classmethod
    def empty(cls, shape: Sequence[int], data_type: int = C.BNNSDataTypeFloat32, name: str = "",
              backend=None) -> "BNNSTensor":
        """A zero-filled tensor of ``shape`` on ``backend`` (default: the current connection)."""
        backend = backend or backend_mod.current()
        request = pb.CreateTensorRequest(data_type=int(data_type), shape=[int(d) for d in shape], name=name)
        return sessions.tracked(cls(backend, backend.call("CreateTensor", request).info))

    @classmethod
    def from_array(cls, array, name: str = "", backend=None) -> "BNNSTensor":
        """A tensor holding a copy of ``array`` (its shape and dtype)."""
        backend = backend or backend_mod.current()
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if dtype not in _DATA_TYPES:
            raise InvalidArgumentError(f"a tensor cannot hold {array.dtype} data (BNNS data types: float32, "
                                       "float16, the integer types)")
        request = pb.CreateTensorRequest(data_type=_DATA_TYPES[dtype], shape=list(array.shape) or [1], name=name)
        request.data.SetInParent()
        from .api import Exchange                 # api builds on this module
        exchange = Exchange()
        exchange.arrays["data"] = array.astype(dtype, copy=False).reshape(-1)
        return sessions.tracked(cls(backend, backend.call("CreateTensor", request, exchange=exchange).info))

    # ---------------------------------------------------------------------- Apple's fields
    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        known = _DTYPES.get(self.data_type)        # (every call that names the tensor asks)
        return known if known is not None else layout.numpy_dtype(self.data_type, allowed=layout.ALL_DTYPES)

    @property
    def size(self) -> int:
        """Elements."""
        return math.prod(self.shape)

    @property
    def stride(self) -> tuple:
        """Element strides, C order (the server's tensors are dense)."""
        strides, step = [], 1
        for extent in reversed(self.shape):
            strides.append(step)
            step *= extent
        return tuple(reversed(strides))

    @property
    def data_size_in_bytes(self) -> int:
        return self.size * self.dtype.itemsize

    # --------------------------------------------------------------------------------- data
    def numpy(self) -> np.ndarray:
        """The contents, brought back: a new array of ``shape``."""
        return self.read().reshape(self.shape)

    def read(self, offset: int = 0, count: int = 0) -> np.ndarray:
        """Elements [offset, offset + count) (count 0: to the end) as a 1-D array."""
        from .api import Exchange
        exchange = Exchange()
        destination = np.empty(int(count) or self.size - int(offset), dtype=self.dtype)
        exchange.receive_flat("data", destination)
        self._call("ReadTensor", pb.ReadTensorRequest(tensor_id=self.tensor_id, offset=int(offset), count=int(count)),
                   exchange)
        return destination

    def write(self, array, offset: int = 0) -> None:
        """Overwrite elements from ``offset`` with ``array``'s (converted to the tensor's type)."""
        from .api import Exchange
        exchange = Exchange()
        exchange.arrays["data"] = np.ascontiguousarray(array, dtype=self.dtype).reshape(-1)
        request = pb.WriteTensorRequest(tensor_id=self.tensor_id, offset=int(offset))
        request.data.SetInParent()
        self._call("WriteTensor", request, exchange)

    def reference(self, stride: int = 0, accumulate: bool = False) -> types_pb2.Buffer:
        """The Buffer naming this tensor, as a call's input or output."""
        require(not self.destroyed, lambda: f"tensor {self.tensor_id} was destroyed")
        key = (int(stride), bool(accumulate))
        buf = self._references.get(key)
        if buf is None:    # made once per form: every place a request takes it copies it (CopyFrom, append, init)
            buf = self._references[key] = types_pb2.Buffer(
                tensor=types_pb2.TensorReference(tensor_id=self.tensor_id), stride=key[0], accumulate=key[1])
        return buf

    def destroy(self) -> None:
        """Free the server's memory. Destroying twice is harmless."""
        if not self.destroyed:
            self._call("DestroyTensor", pb.DestroyTensorRequest(tensor_id=self.tensor_id))
            self.destroyed = True

    def __enter__(self) -> "BNNSTensor":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def _call(self, rpc: str, request, exchange=None):
        require(not self.destroyed, f"tensor {self.tensor_id} was destroyed")
        return self.backend.call(rpc, request, exchange=exchange)

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else self.backend
        return f"<BNNSTensor {self.tensor_id} {self.dtype.name}{list(self.shape)} on {state}>"


def check_fits(tensor: BNNSTensor, geometry: layout.Descriptor, batch_size: int, stride: int, name: str,
               dtype: Optional[np.dtype] = None) -> None:
    """What the server will check too, said before a round trip: type and size. (Made on every
    call that names a tensor: the messages are built only for a failure.)"""
    require(not tensor.destroyed, lambda: f"{name} is tensor {tensor.tensor_id}, which was destroyed")
    want = dtype if dtype is not None else geometry.dtype
    have = tensor.dtype
    require(have == want, lambda: f"{name} is tensor {tensor.tensor_id} of {have.name}; this buffer is {want.name}")
    span = geometry.span
    needed = (int(batch_size) - 1) * (int(stride) or span) + span
    size = tensor.size
    require(size >= needed, lambda: f"{name} is tensor {tensor.tensor_id} with {size} elements but batch_size "
            f"{batch_size} with stride {int(stride) or span} and items of {span} elements needs {needed}")
