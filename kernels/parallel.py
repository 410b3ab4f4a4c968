"""Row-range parallelism for memory-bound kernels.

NumPy's ufuncs run on one core but release the GIL on large arrays, so splitting a big array's
rows over threads uses both cores of these machines for elementwise and reduction work (BLAS
calls are threaded already and do not go through here). Results never depend on the split: each
range writes its own rows.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

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
            _pool = ThreadPoolExecutor(max(2, min(cpus(), 8)), thread_name_prefix="bnns-kernel")
        return _pool


def for_ranges(count: int, total_bytes: int, work: Callable[[int, int], None]) -> None:
    """Run work(lo, hi) over [0, count) in contiguous ranges, one per core when the data is big
    enough to pay for it. The first failing range's error is raised."""
    workers = max(1, min(cpus(), 8, count)) if total_bytes >= PARALLEL_BYTES else 1
    if workers == 1:
        work(0, count)
        return
    step = -(-count // workers)
    futures = [_shared_pool().submit(work, k * step, min(count, (k + 1) * step)) for k in range(workers)]
    for future in futures:
        future.result()
