"""Process-level memory tuning shared by the server and the benchmarks.

Kernels allocate large temporaries (padded inputs, im2col columns, outputs). glibc returns big
blocks to the kernel on free and faults them in again on the next allocation, which costs as
much as the copies themselves (see peer.md: a fresh 256 MiB array fills at 6.9 GB/s against
25.6 GB/s for an existing one). Raising the mmap and trim thresholds keeps freed blocks in the
heap for reuse: measured on the ResNet-block convolution, forward 49 -> 44 ms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_ARENAS = 2   # glibc gives each thread its own arena (up to 8 per core); with freed blocks kept,
              # every gRPC worker would grow its own high-water mark. Two arenas bound that.
_KEEP_BYTES = 1 << 30   # glibc caps the mmap threshold at HEAP_MAX / 2 on 64-bit (32 MiB by default).


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse. Returns False where that is not possible."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES) == 1 and ok
        ok = libc.mallopt(_M_ARENA_MAX, _ARENAS) == 1 and ok
        return ok
    except (OSError, AttributeError):
        log.info("mallopt unavailable; large temporaries will be faulted in afresh")
        return False
