"""Row-range parallelism for memory-bound kernels.

NumPy's ufuncs run on one core but release the GIL on large arrays, so splitting a big array's
rows over threads uses both cores of these machines for elementwise and reduction work (BLAS
calls are threaded already and do not go through here). Results never depend on the split: each
range writes its own rows.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np

from . import blas
from .errors import CancelledError

PARALLEL_BYTES = 8 << 20        # below this, one thread is faster than handing work to the pool

_lock = threading.Lock()
_pool = None


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # The pool's threads make their BLAS calls on one core, from their first call on: the
            # ranges already use every core, and a reduction's rounding must not depend on what
            # a thread ran before (OpenBLAS's per-thread setting changes how it splits some calls).
            _pool = ThreadPoolExecutor(max(2, min(cpus(), 8)), thread_name_prefix="bnns-kernel",
                                       initializer=blas.pin_one_thread)
        return _pool


def workers_for(count: int, total_bytes: int) -> int:
    """How many threads for_ranges uses for ``count`` items of ``total_bytes`` together."""
    return max(1, min(cpus(), 8, count)) if total_bytes >= PARALLEL_BYTES else 1


# ------------------------------------------------------------------------------ cancellation
# A long kernel checks, between its samples, chunks or blocks, whether its call was cancelled or
# its deadline passed (check_cancelled), so that the server stops computing for a caller who has
# gone. The event is the calling thread's; the pool's threads see the event of the call they
# work for.
_cancel = threading.local()


@contextlib.contextmanager
def cancellable(event):
    """Kernels run in this block stop at their next check once ``event`` is set (None: never)."""
    outer = getattr(_cancel, "event", None)
    _cancel.event = event
    try:
        yield
    finally:
        _cancel.event = outer


def check_cancelled() -> None:
    event = getattr(_cancel, "event", None)
    if event is not None and event.is_set():
        raise CancelledError("the call was cancelled or its deadline passed while its kernel ran; it stopped "
                             "and nothing was changed")


def for_ranges(count: int, total_bytes: int, work: Callable[[int, int], None], pieces_per_worker: int = 1) -> None:
    """Run work(lo, hi) over [0, count) in contiguous ranges, one per core when the data is big
    enough to pay for it (or pieces_per_worker per core, taken by whichever thread is free: a
    core that other processes slow down then does less of the work). The first failing range's
    error is raised."""
    workers = workers_for(count, total_bytes)
    if workers == 1:
        work(0, count)
        return
    step = -(-count // (workers * max(1, pieces_per_worker)))
    event = getattr(_cancel, "event", None)

    def for_the_call(lo: int, hi: int) -> None:
        with cancellable(event):
            work(lo, hi)

    futures = [_shared_pool().submit(for_the_call, lo, min(count, lo + step)) for lo in range(0, count, step)]
    for future in futures:
        future.result()


def start(work: Callable[[], object]):
    """Run work() on one of the kernel pool's threads (its BLAS on one core) while the caller goes
    on; the returned future's result() waits for it and raises its error. For kernels that keep
    the second core busy with independent products while the first runs a sequential chain (the
    LSTM's recurrence); the caller keeps at most one such task running, so the order in which
    they add into shared results is fixed."""
    event = getattr(_cancel, "event", None)

    def for_the_call():
        with cancellable(event):
            return work()

    return _shared_pool().submit(for_the_call)


# Bytes of one block of a blocked kernel: a block's input, output and scratch together stay in a
# core's L2 (2 MiB on these machines), so the several passes a kernel makes over one block cost
# one trip to memory.
BLOCK_BYTES = 1048576


def block_rows(row_bytes: int, block_bytes: Optional[int] = None) -> int:
    """Rows of row_bytes in one block of map_blocks (of block_bytes, default BLOCK_BYTES)."""
    return max(1, (BLOCK_BYTES if block_bytes is None else block_bytes) // max(row_bytes, 1))


def map_blocks(count: int, row_bytes: int, work: Callable[[int, int], object], pieces_per_worker: int = 1,
               block_bytes: Optional[int] = None) -> list:
    """[work(lo, hi) for each block] over [0, count) cut into blocks of about block_bytes
    (default BLOCK_BYTES; whole rows of row_bytes), the blocks shared out over the cores in
    contiguous runs when the data is big enough. Block boundaries do not depend on the number of
    cores, and the results come back in block order, so a caller that sums per-block partial
    results in that order gets the same numbers on any machine. pieces_per_worker: as for
    for_ranges."""
    rows = block_rows(row_bytes, block_bytes)
    if 0 < count <= rows:      # one block (a small call's tensors): the same work, without the machinery
        check_cancelled()
        return [work(0, count)]
    bounds = [(lo, min(count, lo + rows)) for lo in range(0, count, rows)]
    results: list = [None] * len(bounds)

    def run(first: int, last: int) -> None:
        for b in range(first, last):
            check_cancelled()
            results[b] = work(*bounds[b])

    for_ranges(len(bounds), count * row_bytes, run, pieces_per_worker)
    return results


_local = threading.local()


def scratch(shape: tuple, dtype) -> np.ndarray:
    """This thread's work buffer seen as an array of ``shape`` (contents undefined). One per thread,
    reused from call to call, so a block's temporaries cost neither an allocation nor page faults;
    a caller uses one scratch array at a time."""
    dtype = np.dtype(dtype)
    need = math.prod(shape) * dtype.itemsize
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.nbytes < need:
        buffer = _local.buffer = np.empty(max(need, BLOCK_BYTES), np.uint8)
    return buffer[:need].view(dtype).reshape(shape)
