"""Where a call's tensors come from and where its results go: the data path of the core.

A Buffer in a request is one of three things (types.proto): bytes (``data`` / ``values``), a
tensor the server holds (``tensor``), or a slice of a registered shared-memory region
(``shared_memory``). The doors hand the core their tensors as arrays already: the gRPC door as
memoryviews over the bytes it received (server/wire.py), the SDK's in-process backend as the
caller's own NumPy arrays. ``CallIO`` resolves all of these to NumPy arrays for the core, with
the same checks whatever the source, and routes each result to one of three places:

* a ``Sink`` the in-process SDK passed (the caller's array, at the caller's strides),
* a server tensor or shared-memory slice named in the request's ``outputs`` map,
* otherwise the response, packed, for the door to encode once (``results``).

Every result target is validated before the kernels run or, for results whose shape is only
known afterwards, before the first one is written, so a failed call writes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import mmap
import os
import re
import stat
import threading
import time
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np

from bnns.kernels import layout
from bnns.kernels.errors import (FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError,
                                 ResourceExhaustedError, UnimplementedError, require)
from bnns.v1 import types_pb2

from . import codec
from .wire import buffer_at, is_repeated, set_payload

if TYPE_CHECKING:
    from bnns.v1 import service_pb2

    from .core import Core


# ------------------------------------------------------------------------------ result sinks

@dataclasses.dataclass
class Sink:
    """Memory a result is written into: ``view`` has the result's shape (batch results:
    (N, *item shape) at the target's strides) and the target's own dtype."""

    view: np.ndarray
    accumulate: bool = False     # BNNSNDArrayFlagBackpropAccumulate: add instead of overwrite

    def direct(self) -> Optional[np.ndarray]:
        """The view itself when a kernel may write its float32 result there directly (out=)."""
        return self.view if not self.accumulate and self.view.dtype == np.float32 else None

    def write(self, result: np.ndarray) -> None:
        """Write (or add) ``result``, element k to element k of the view, as a packed result is
        written into a caller's array; the shapes may group the elements differently."""
        if result is self.view:                 # the kernel wrote it there already
            return
        if result.size != self.view.size:
            raise InvalidArgumentError(f"a result of {result.size} values does not fit a target of {self.view.size}")
        result = result.reshape(self.view.shape)
        if self.accumulate:
            self.view += result.astype(self.view.dtype, copy=False)
        else:
            np.copyto(self.view, result, casting="unsafe")


def batch_view(flat: np.ndarray, item: layout.Descriptor, batch_size: int, stride: int, name: str) -> np.ndarray:
    """A writable (N, *item.shape) view of ``flat`` with item b at element ``b * stride`` (0 =
    packed) and each item at the descriptor's strides: where BNNS would write the batch."""
    span = item.span
    stride = int(stride) or span
    require(batch_size == 1 or stride >= span,
            lambda: f"{name} stride {stride} is smaller than one item ({span} elements)")
    needed = (batch_size - 1) * stride + span
    require(flat.size >= needed, lambda: f"{name} has {flat.size} elements but batch_size {batch_size} with stride "
            f"{stride} and items of {span} elements needs {needed}")
    if stride == span and item.is_packed and flat.flags.c_contiguous:   # the same view by a reshape
        return flat[:needed].reshape((batch_size,) + item.shape)
    itemsize = flat.dtype.itemsize
    return np.lib.stride_tricks.as_strided(
        flat, shape=(batch_size,) + item.shape,
        strides=(stride * itemsize,) + tuple(s * itemsize for s in item.numpy_strides))


# --------------------------------------------------------------------------- server tensors

@dataclasses.dataclass
class Tensor:
    """A tensor the server holds for a tenant: flat elements of one data type."""

    data_type: int
    shape: tuple
    array: np.ndarray            # 1-D, the tensor's elements
    name: str = ""

    @property
    def bytes_held(self) -> int:
        return int(self.array.nbytes)

    @functools.cached_property
    def dtype(self) -> np.dtype:
        """The NumPy type of ``data_type`` (fixed for the tensor's life, as ``data_type`` is)."""
        return layout.numpy_dtype(self.data_type, allowed=layout.ALL_DTYPES)

    def info(self, tensor_id: str):
        from bnns.v1 import service_pb2
        return service_pb2.TensorInfo(tensor_id=tensor_id, data_type=self.data_type, shape=list(self.shape),
                                      byte_size=self.bytes_held, name=self.name)


# ---------------------------------------------------------------------------- shared memory

_KEY = re.compile(r"^/?[A-Za-z0-9_.\-]{1,250}$")
SHM_DIR = "/dev/shm"


class Region:
    """A registered shared-memory region: the POSIX object ``key`` mapped once, bytes
    [offset, offset + byte_size) of it usable as Buffers. The object is checked at every use:
    one that was unlinked or truncated gives FAILED_PRECONDITION, never a fault."""

    def __init__(self, name: str, key: str, offset: int, byte_size: int):
        require(bool(name), "region.name is empty: name the region")
        require(bool(_KEY.match(key)) and key.strip("/.") != "",
                f"region.key {key!r} is not a POSIX shared-memory name (one path component, like '/bnns-1')")
        require(byte_size > 0, f"region.byte_size {byte_size} must be positive")
        self.name, self.key, self.offset, self.byte_size = name, key, int(offset), int(byte_size)
        path = os.path.join(SHM_DIR, key.lstrip("/"))
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFoundError(f"no shared-memory object {key!r} on this host (create it before registering; "
                                "shared memory works on the same host only)", reason="SHARED_MEMORY_NOT_FOUND") from None
        except OSError as error:
            raise InvalidArgumentError(f"cannot open shared-memory object {key!r}: {error.strerror}") from None
        try:
            info = os.fstat(self._fd)
            require(stat.S_ISREG(info.st_mode), f"shared-memory object {key!r} is not a regular object")
            end = self.offset + self.byte_size
            require(info.st_size >= end, f"shared-memory object {key!r} has {info.st_size} bytes; the region "
                    f"[{self.offset}, {end}) does not fit in it")
            self._map = mmap.mmap(self._fd, end, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self._fd)
            raise

    def slice(self, offset: int, byte_size: int, name: str) -> np.ndarray:
        """Bytes [offset, offset + byte_size) of the region (0 = to its end) as a uint8 array."""
        byte_size = int(byte_size) or self.byte_size - int(offset)
        end = int(offset) + byte_size
        require(byte_size > 0 and end <= self.byte_size,
                f"{name} is bytes [{offset}, {end}) of region {self.name!r}, which has {self.byte_size} bytes")
        self._check_alive()
        return np.frombuffer(self._map, dtype=np.uint8, count=byte_size, offset=self.offset + int(offset))

    def _check_alive(self) -> None:
        info = os.fstat(self._fd)
        if info.st_nlink == 0:
            raise FailedPreconditionError(f"shared-memory object {self.key!r} of region {self.name!r} was unlinked; "
                                          "register the region again")
        if info.st_size < self.offset + self.byte_size:
            raise FailedPreconditionError(f"shared-memory object {self.key!r} of region {self.name!r} was truncated "
                                          f"to {info.st_size} bytes (the region needs {self.offset + self.byte_size}); "
                                          "register it again")

    def message(self) -> service_pb2.SharedMemoryRegion:
        from bnns.v1 import service_pb2
        return service_pb2.SharedMemoryRegion(name=self.name, key=self.key, offset=self.offset,
                                              byte_size=self.byte_size)

    def close(self) -> None:
        """Unmap now if no call is using the mapping, else when the last one lets go of it."""
        try:
            self._map.close()
        except BufferError:          # views are alive in a running call: the mapping goes with them
            pass
        os.close(self._fd)


class SharedMemoryTable:
    """Each tenant's registered regions, by name."""

    def __init__(self, enabled: bool = True, max_regions: int = 64):
        self.enabled = enabled
        self.max_regions = max_regions
        self._regions: Dict[Tuple[str, str], Region] = {}
        self._lock = threading.Lock()

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise UnimplementedError("shared memory is turned off on this server (--no-shared-memory)")

    def register(self, tenant: str, region: Region) -> None:
        with self._lock:
            if (tenant, region.name) in self._regions:
                region.close()
                raise InvalidArgumentError(f"a shared-memory region named {region.name!r} is registered already; "
                                           "unregister it first")
            if sum(1 for t, _ in self._regions if t == tenant) >= self.max_regions:
                region.close()
                raise ResourceExhaustedError(f"{self.max_regions} shared-memory regions are registered for this "
                                             "tenant already (the limit); unregister some")
            self._regions[(tenant, region.name)] = region

    def open(self, tenant: str, name: str, key: str, offset: int, byte_size: int) -> None:
        self._require_enabled()
        self.register(tenant, Region(name, key, offset, byte_size))

    def get(self, tenant: str, name: str) -> Region:
        self._require_enabled()
        with self._lock:
            region = self._regions.get((tenant, name))
        if region is None:
            raise NotFoundError(f"no shared-memory region named {name!r} is registered (RegisterSharedMemory)", reason="SHARED_MEMORY_NOT_FOUND")
        return region

    def unregister(self, tenant: str, name: str = "") -> None:
        self._require_enabled()
        with self._lock:
            names = [n for t, n in self._regions if t == tenant and (not name or n == name)]
            if name and not names:
                raise NotFoundError(f"no shared-memory region named {name!r} is registered", reason="SHARED_MEMORY_NOT_FOUND")
            regions = [self._regions.pop((tenant, n)) for n in names]
        for region in regions:
            region.close()

    def regions(self, tenant: str) -> List[Region]:
        self._require_enabled()
        with self._lock:
            return [r for (t, _), r in sorted(self._regions.items()) if t == tenant]


# ------------------------------------------------------------------------------ memory budget

class MemoryBudget:
    """The memory all calls in flight may make the server allocate together (max_memory_bytes).
    A call reserves its estimate before it runs; one that does not fit waits for room while other
    calls finish (up to ``wait_seconds``, or until it is cancelled), then fails cleanly, instead of
    every large call allocating at once."""

    def __init__(self, max_bytes: int = 0, wait_seconds: float = 10.0):
        self.max_bytes, self.wait_seconds = int(max_bytes), wait_seconds
        self.in_use = 0
        self._room = threading.Condition()

    def reserve(self, nbytes: int, cancelled=None) -> "_Reservation":
        if not self.max_bytes or nbytes <= 0:
            return _Reservation(self, 0)
        if nbytes > self.max_bytes:
            raise ResourceExhaustedError(f"the call needs about {nbytes} bytes, more than the server's whole memory "
                                         f"budget (max_memory_bytes {self.max_bytes}); send a smaller batch")
        deadline = time.monotonic() + self.wait_seconds
        with self._room:
            while self.in_use + nbytes > self.max_bytes:
                left = deadline - time.monotonic()
                if left <= 0 or (cancelled is not None and cancelled.is_set()):
                    raise ResourceExhaustedError(
                        f"the server's memory budget (max_memory_bytes {self.max_bytes}) is taken by calls in flight "
                        f"({self.in_use} bytes) and this one needs about {nbytes}; retry later")
                self._room.wait(min(left, 0.1))
            self.in_use += nbytes
        return _Reservation(self, nbytes)

    def release(self, nbytes: int) -> None:
        with self._room:
            self.in_use -= nbytes
            self._room.notify_all()


class _Reservation:
    def __init__(self, budget: MemoryBudget, nbytes: int):
        self.budget, self.nbytes = budget, nbytes

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.nbytes:
            self.budget.release(self.nbytes)


# ---------------------------------------------------------------------------------- one call

class CallIO:
    """The tensors of one call (see the module docstring).

    ``arrays``: Buffer path -> the tensor's elements, as a memoryview of received bytes (the
    gRPC door) or as a 1-D NumPy array in the descriptor's data type (the in-process SDK).
    ``sinks``: response path -> Sink, where the in-process SDK wants a result written.
    """

    def __init__(self, arrays: Optional[dict] = None, sinks: Optional[Dict[str, Sink]] = None):
        self.arrays = arrays or {}
        self.sinks = dict(sinks or {})
        self.results: Dict[str, np.ndarray] = {}
        self._staged: List[tuple] = []
        self.core: Optional[Core] = None        # bind() attaches the call
        self.tenant, self.request = "", None
        self.idempotency_key = ""          # the call's (Core.call sets it)
        self._targets: Dict[str, types_pb2.Buffer] = {}

    @property
    def received_bytes(self) -> int:
        """Bytes of the tensors that came with the request outside its message."""
        return sum(memoryview(a).nbytes if not isinstance(a, np.ndarray) else a.nbytes for a in self.arrays.values())

    def bind(self, core, tenant: str, request) -> "CallIO":
        """Attach the call: the core (tensors, shared memory, limits), the caller's tenant and the
        request (its `outputs` are checked here, before anything runs)."""
        self.core, self.tenant, self.request = core, tenant, request
        self._targets = self._output_targets(request)
        return self

    def reset(self) -> None:
        """Forget the staged results of an attempt that is computed again (server/replicas.py)."""
        self.results, self._staged = {}, []

    def embed(self, response) -> None:
        """Put the results into the response message's Buffers as `data` (the message-only path)."""
        for path, array in self.results.items():
            if not set_payload(response, path, array.tobytes()):
                raise InternalError(f"a result for {path!r}, which the {response.DESCRIPTOR.full_name} has no place for")
        self.results = {}

    # ------------------------------------------------------------------------------ inputs
    def present(self, parent, field: str, path: str) -> bool:
        """Whether the Buffer ``field`` of ``parent`` (at ``path``) was given."""
        return path in self.arrays or parent.HasField(field) and \
            getattr(parent, field).WhichOneof("contents") is not None

    def elements(self, buf, path: str, dtype: np.dtype, name: str, count: Optional[int] = None) -> np.ndarray:
        """The elements of the Buffer at ``path`` as a 1-D array of ``dtype``; a reference
        (tensor, shared memory) is cut to ``count`` elements when given."""
        limits = self._core.limits
        if path in self.arrays:
            given = self.arrays[path]
            if isinstance(given, np.ndarray) and given.dtype != np.uint8:
                if given.dtype != dtype:
                    raise InvalidArgumentError(f"{name} holds {given.dtype}, expected {dtype}")
                flat = given.reshape(-1)
            else:
                raw = memoryview(given).cast("B")
                require(raw.nbytes % dtype.itemsize == 0,
                        lambda: f"{name}.data has {raw.nbytes} bytes, not a multiple of the {dtype.itemsize}-byte "
                        f"{dtype.name} element: truncated payload or wrong data type?")
                flat = np.frombuffer(raw, dtype=dtype)
            if limits.max_tensor_bytes and flat.nbytes > limits.max_tensor_bytes:
                raise ResourceExhaustedError(
                    f"{name} carries {flat.nbytes} bytes, more than the per-tensor limit of "
                    f"{limits.max_tensor_bytes} bytes (max_tensor_bytes); send a smaller batch or stream it", reason="TENSOR_TOO_LARGE")
            return flat
        which = buf.WhichOneof("contents") if buf is not None else None
        if which == "tensor":
            return self._tensor_elements(buf.tensor, dtype, name, count)
        if which == "shared_memory":
            shared = self._shared_bytes(buf.shared_memory, name)
            require(shared.nbytes % dtype.itemsize == 0, f"{name} is {shared.nbytes} bytes of shared memory, not a "
                    f"multiple of the {dtype.itemsize}-byte {dtype.name} element")
            flat = shared.view(dtype)
            return flat[:count] if count is not None and flat.size > count else flat
        if buf is None:
            raise InvalidArgumentError(f"{name} is empty: set `data`, `values`, `tensor` or `shared_memory`")
        return codec.array_from_buffer(buf, dtype, name, limits)

    def batch(self, parent, field: str, path: str, desc: layout.Descriptor, batch_size: int, name: str,
              allowed: dict = layout.FLOAT_DTYPES) -> np.ndarray:
        """A batch input as (N, *desc.shape), honouring its stride (float data as float32)."""
        buf = getattr(parent, field) if parent is not None and parent.HasField(field) else None
        return self.batch_of(buf, path, desc, batch_size, name, allowed)

    def batch_of(self, buf, path: str, desc: layout.Descriptor, batch_size: int, name: str,
                 allowed: dict = layout.FLOAT_DTYPES) -> np.ndarray:
        dtype = layout.numpy_dtype(desc.data_type, allowed=allowed, what=lambda: f"{name} data_type")
        stride = int(buf.stride) if buf is not None else 0
        n = int(batch_size)
        needed = (n - 1) * (stride or desc.span) + desc.span if n >= 1 else None
        flat = self.elements(buf, path, dtype, name, count=needed)
        return layout.read_batch(flat, desc, n, stride, name, allowed)

    def _tensor_elements(self, ref, dtype: np.dtype, name: str, count: Optional[int]) -> np.ndarray:
        tensor = self._core.tensor(ref.tensor_id, self.tenant)
        own = tensor.dtype
        require(own == dtype, lambda: f"{name} names tensor {ref.tensor_id}, which holds {own.name}; this buffer "
                f"is {dtype.name}")
        flat, offset = tensor.array, int(ref.offset)
        size = flat.size
        require(offset <= size, lambda: f"{name}.tensor.offset {offset} is past the end of tensor "
                f"{ref.tensor_id} ({size} elements)")
        end = size if count is None else min(size, offset + count)
        return flat[offset:end]

    def _shared_bytes(self, piece, name: str) -> np.ndarray:
        return self._core.shared_memory.get(self.tenant, piece.region).slice(piece.offset, piece.byte_size, name)

    @property
    def _core(self) -> Core:
        core = self.core
        if core is None:
            raise InternalError("the call is not bound to a core (CallIO.bind)")
        return core

    # ----------------------------------------------------------------------------- results
    def _output_targets(self, request) -> Dict[str, types_pb2.Buffer]:
        outputs = getattr(request, "outputs", None)
        if not outputs:
            return {}
        targets = {}
        for path, buf in outputs.items():
            which = buf.WhichOneof("contents")
            require(which in ("tensor", "shared_memory"), f"outputs[{path!r}] must name a `tensor` or a "
                    f"`shared_memory` slice (results for the response need no entry), not {which or 'nothing'}")
            targets[path] = buf
        self._refuse_in_place(request, targets)
        return targets

    def _refuse_in_place(self, request, targets: Dict[str, types_pb2.Buffer]) -> None:
        """A tensor (or shared bytes) both read and written by one call would be read while it is
        overwritten: refused (no entry point of this service is documented to allow it)."""
        written = {}
        for path, buf in targets.items():
            written[_reference_key(buf)] = path
        for path, buf in _input_buffers(request):
            key = _reference_key(buf)
            if key is None:
                continue
            for other, out_path in written.items():
                if _overlaps(key, other):
                    raise InvalidArgumentError(
                        f"{path} and outputs[{out_path!r}] are the same memory ({_describe_key(key)}); a call may "
                        "not read and write one tensor: write the result elsewhere")

    def direct(self, path: str, shape: tuple, data_type: int = layout.DTYPE_FLOAT32,
               item: Optional[layout.Descriptor] = None) -> Optional[np.ndarray]:
        """Where a kernel may write the float32 result for ``path`` itself (out=), validated
        now; None when the result goes to the response or needs a conversion."""
        sink = self._sink(path, shape, data_type, item)
        return sink.direct() if sink is not None else None

    def put(self, path: str, array: Optional[np.ndarray], data_type: int = layout.DTYPE_FLOAT32,
            item: Optional[layout.Descriptor] = None) -> None:
        """Stage a result: ``array`` is (N, *item.shape) for a batch result laid out as ``item``,
        or any shape (packed) otherwise; None = not computed. Written by ``finish``."""
        if array is not None:
            self._staged.append((path, array, data_type, item))

    def finish(self, response):
        """Validate every staged result's target, then write them all; fill ``response``."""
        placed = [(path, array, data_type, self._sink(path, array.shape, data_type, item))
                  for path, array, data_type, item in self._staged]
        for path, array, data_type, sink in placed:
            if sink is not None:
                sink.write(array)
                if path in self._targets:
                    target = buffer_at(response, path, create=True)
                    if target is not None:
                        target.CopyFrom(self._targets[path])
            else:
                packed = layout.pack(array, data_type)
                self.results[path] = packed
                target = buffer_at(response, path, create=True)
                if target is not None:
                    target.SetInParent()
        return response

    def _sink(self, path: str, shape: tuple, data_type: int, item: Optional[layout.Descriptor]) -> Optional[Sink]:
        if path in self.sinks:
            return self.sinks[path]
        buf = self._targets.get(path)
        if buf is None:
            return None
        dtype = layout.numpy_dtype(data_type, allowed=layout.ALL_DTYPES)
        name = f"outputs[{path!r}]"
        if buf.WhichOneof("contents") == "tensor":
            flat = self._tensor_elements(buf.tensor, dtype, name, None)
        else:
            raw = self._shared_bytes(buf.shared_memory, name)
            require(raw.nbytes % dtype.itemsize == 0, lambda: f"{name} is {raw.nbytes} bytes, not a multiple of "
                    f"the {dtype.itemsize}-byte {dtype.name} element")
            flat = raw.view(dtype)
        require(flat.flags.writeable, lambda: f"{name} is read-only")
        if item is not None:
            view = batch_view(flat, item, int(shape[0]), int(buf.stride), name)
        else:
            count = math.prod(int(n) for n in shape)
            require(flat.size >= count, lambda: f"{name} has {flat.size} elements; the result has {count}")
            view = flat[:count].reshape(shape)
        sink = Sink(view, accumulate=buf.accumulate)
        self.sinks[path] = sink
        return sink


# ----------------------------------------------------------------------------------- helpers

def _input_buffers(message, path: str = ""):
    """(path, Buffer) for every Buffer of a request except its `outputs`."""
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "outputs":
            continue
        name = f"{path}.{field.name}" if path else field.name
        if field.message_type.full_name == types_pb2.Buffer.DESCRIPTOR.full_name:
            items = value if is_repeated(field) else [value]
            for k, buf in enumerate(items):
                yield (f"{name}[{k}]" if is_repeated(field) else name), buf
        elif not field.message_type.GetOptions().map_entry:
            items = value if is_repeated(field) else [value]
            for k, item in enumerate(items):
                yield from _input_buffers(item, f"{name}[{k}]" if is_repeated(field) else name)


def _reference_key(buf):
    which = buf.WhichOneof("contents")
    if which == "tensor":
        return ("tensor", buf.tensor.tensor_id)
    if which == "shared_memory":
        s = buf.shared_memory
        return ("shm", s.region, int(s.offset), int(s.byte_size))
    return None


def _overlaps(a, b) -> bool:
    if a is None or b is None or a[0] != b[0] or a[1] != b[1]:
        return False
    if a[0] == "tensor":
        return True
    a_end = a[2] + a[3] if a[3] else float("inf")
    b_end = b[2] + b[3] if b[3] else float("inf")
    return a[2] < b_end and b[2] < a_end


def _describe_key(key) -> str:
    return f"tensor {key[1]}" if key[0] == "tensor" else f"bytes of shared-memory region {key[1]!r}"
