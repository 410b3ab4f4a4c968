"""Same-host shared memory for the remote backend (``connect(..., shared_memory=True)``).

Triton's system shared memory, from the client's side: the SDK creates POSIX shared-memory
objects, registers them with the server (RegisterSharedMemory), and names slices of them in
requests instead of sending bytes over the socket. Two ways in:

* transparently: a tensor of ``threshold`` bytes or more is copied into a per-thread arena and
  the server reads it there; a result of that size is written by the server into the arena and
  copied into the caller's array (one copy each way, as a memcpy, instead of the socket's);
* with no copy at all: arrays made by ``backend.shared_array(shape, dtype)`` live in a registered
  region already, so the server reads them, and writes results into them, in place.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from multiprocessing import shared_memory
from typing import Callable, List

import numpy as np

from bnns.kernels.errors import InternalError, given
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

_names = itertools.count()


class _Segment:
    """One registered POSIX shared-memory object."""

    def __init__(self, backend, size: int):
        self.backend = backend
        self.memory = shared_memory.SharedMemory(create=True, size=max(int(size), 1))
        self.name = f"sdk-{os.getpid()}-{next(_names)}"
        self.size = self.memory.size
        self.address = np.frombuffer(_buffer(self), dtype=np.uint8).__array_interface__["data"][0]
        region = pb.SharedMemoryRegion(name=self.name, key="/" + self.memory.name.lstrip("/"), offset=0,
                                       byte_size=self.size)
        try:
            backend.call("RegisterSharedMemory", pb.RegisterSharedMemoryRequest(region=region))
        except BaseException:
            self._release()
            raise

    def slice(self, array: np.ndarray, byte_size: int) -> types_pb2.Buffer:
        """A Buffer naming the bytes of ``array`` (which lies in this segment)."""
        offset = array.__array_interface__["data"][0] - self.address
        return types_pb2.Buffer(shared_memory=types_pb2.SharedMemorySlice(region=self.name, offset=offset,
                                                                          byte_size=byte_size))

    def holds(self, array: np.ndarray) -> bool:
        start = array.__array_interface__["data"][0]
        return self.address <= start and start + array.nbytes <= self.address + self.size

    def close(self) -> None:
        try:
            self.backend.call("UnregisterSharedMemory", pb.UnregisterSharedMemoryRequest(name=self.name))
        except Exception:    # the server may be gone; the object is ours to remove either way
            pass
        self._release()

    def _release(self) -> None:
        try:
            self.memory.close()
        except BufferError:   # a caller still holds a shared_array view: the mapping goes with it
            pass
        self.memory.unlink()


class SharedMemoryPool:
    """The remote backend's shared-memory regions: per-thread arenas and shared arrays."""

    def __init__(self, backend, threshold: int):
        self.backend = backend
        self.threshold = int(threshold)
        self._local = threading.local()
        self._arrays: List[_Segment] = []
        self._arenas: List[_Segment] = []
        self._lock = threading.Lock()

    def shared_array(self, shape, dtype=np.float32) -> np.ndarray:
        """A zero-filled array in a registered region: sent and received without a copy."""
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        segment = _Segment(self.backend, count * dtype.itemsize)
        with self._lock:
            self._arrays.append(segment)
        return np.ndarray(tuple(shape), dtype=dtype, buffer=segment.memory.buf)

    def place(self, exchange, request) -> List[Callable[[], None]]:
        """Move the exchange's large tensors into shared memory (editing ``request``); returns
        what to do after the reply (copy results out of the arena)."""
        from bnns.server.dataplane import buffer_at
        moves = []       # (kind, path, array or target, bytes)
        for path, array in exchange.arrays.items():
            if array.nbytes >= self.threshold:
                moves.append(("in", path, array, array.nbytes))
        for path, target in exchange.targets.items():
            nbytes = target.view.size * target.wire.itemsize
            if nbytes >= self.threshold and target.geometry.is_contiguous and target.stride == target.geometry.span:
                moves.append(("out", path, target, nbytes))
        if not moves:
            return []
        copied = [m for m in moves if self._segment_of(m) is None]
        arena = self._arena(sum(_aligned(m[3]) for m in copied)) if copied else None
        finish: List[Callable[[], None]] = []
        offset = 0
        for kind, path, item, nbytes in moves:
            segment = self._segment_of((kind, path, item, nbytes))
            if segment is not None:
                array = item if kind == "in" else item.flat
                buf = segment.slice(array, nbytes)
            else:
                arena = given(arena, "the arena exists when a move is copied", error=InternalError)
                space = np.frombuffer(_buffer(arena), dtype=np.uint8, count=nbytes, offset=offset)
                offset += _aligned(nbytes)
                if kind == "in":
                    space[:] = item.view(np.uint8).reshape(-1)
                else:
                    finish.append(functools.partial(item.write, space.view(item.wire)))
                buf = arena.slice(space, nbytes)
            if kind == "in":
                buffer_at(request, path, create=True).CopyFrom(buf)
                del exchange.arrays[path]
            else:
                buf.accumulate = item.accumulate if segment is not None else False
                exchange.outputs[path] = buf
                del exchange.targets[path]
        return finish

    def _segment_of(self, move):
        kind, _, item, _ = move
        if kind == "in":
            array = item
        else:
            array = item.flat
            if array.dtype != item.wire:
                return None
        with self._lock:
            return next((s for s in self._arrays if s.holds(array)), None)

    def _arena(self, size: int) -> _Segment:
        arena = getattr(self._local, "arena", None)
        if arena is None or arena.size < size:
            if arena is not None:
                arena.close()
                with self._lock:
                    self._arenas.remove(arena)
            arena = _Segment(self.backend, max(size, 1 << 20) * 2)   # room to grow before the next resize
            self._local.arena = arena
            with self._lock:
                self._arenas.append(arena)
        return arena

    def close(self) -> None:
        with self._lock:
            segments, self._arrays, self._arenas = self._arrays + self._arenas, [], []
        for segment in segments:
            segment.close()


def _aligned(nbytes: int) -> int:
    return (nbytes + 63) // 64 * 64


def _buffer(segment: _Segment) -> memoryview:
    """The segment's memory (None only once closed, which no caller does before this)."""
    return given(segment.memory.buf, f"shared memory segment {segment.name} is closed", error=InternalError)
