"""C += A @ B (or A @ B^T) on strided views, with the BLAS that NumPy itself ships.

NumPy's matmul cannot accumulate into its output (no GEMM beta) and copies operands whose rows
are not contiguous with each other. A convolution with stride 1 is a sum over kernel taps of
GEMMs whose right operand is the padded input seen at a shifted offset — a plain strided view —
so calling GEMM with beta = 1 on those views does the convolution without building im2col
columns (measured on the ResNet block: 49 -> 35 ms forward). This module finds cblas_?gemm in
NumPy's bundled OpenBLAS; where it is not there, ``available()`` is False and the convolution
uses its im2col path, which gives the same numbers.

Every operand is checked (dtype, rank, unit inner stride, leading dimension, bounds inside its
base buffer) before its pointer goes to C: a bad view raises, it never reads out of bounds.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


# (single, double, integer type) symbol sets, in the order they are tried: NumPy's own wheels ship
# "scipy-openblas" with 64-bit integers and prefixed names; other builds export plain cblas names.
_SYMBOLS = (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", ctypes.c_int64),
            ("cblas_sgemm64_", "cblas_dgemm64_", ctypes.c_int64),
            ("cblas_sgemm", "cblas_dgemm", ctypes.c_int))


def _load():
    """({dtype: cblas gemm}, openblas_set_num_threads_local or None, the library) from NumPy's
    bundled OpenBLAS, or (None, None, None)."""
    folder = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for single, double, int_type in _SYMBOLS:
            if not (hasattr(lib, single) and hasattr(lib, double)):
                continue
            functions = {np.dtype(np.float32): getattr(lib, single), np.dtype(np.float64): getattr(lib, double)}
            for dtype, function in functions.items():
                real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
                function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, int_type, int_type, int_type, real,
                                     ctypes.c_void_p, int_type, ctypes.c_void_p, int_type, real, ctypes.c_void_p,
                                     int_type]
                function.restype = None
            set_local = getattr(lib, "openblas_set_num_threads_local", None)
            if set_local is not None:
                set_local.argtypes, set_local.restype = [ctypes.c_int], ctypes.c_int
            return functions, set_local, lib
    return None, None, None


_GEMM, _SET_THREADS_LOCAL, _LIB = _load()


def available() -> bool:
    return _GEMM is not None


def pin_one_thread() -> None:
    """BLAS calls run on one core from now on (a worker pool's initializer).

    Measured with the OpenBLAS NumPy 2.4 ships (0.3.31): openblas_set_num_threads_local acts on
    the whole process, not on the calling thread only: once a pool thread has called this, a
    GEMM on the main thread runs on one core too (threadpoolctl then reports 1 thread)."""
    if _SET_THREADS_LOCAL is not None:
        _SET_THREADS_LOCAL(1)


def one_thread():
    """BLAS calls made by this thread (ours and NumPy's) run on one core until the block ends,
    then the previous setting returns (a no-op without openblas_set_num_threads_local). The
    setting is process-wide in the OpenBLAS measured (see pin_one_thread), so other threads'
    calls run on one core meanwhile too.

    For kernels that share independent GEMMs out over the cores themselves: OpenBLAS's threads
    synchronise on every call and spin while they wait, which on a loaded machine (more runnable
    threads than cores) makes a sequence of GEMMs several times slower and very uneven."""
    return threads(1)


@contextlib.contextmanager
def threads(count: int):
    """BLAS calls run on ``count`` threads until the block ends, then the previous setting
    returns (a no-op without openblas_set_num_threads_local; see one_thread). Benchmarks measure
    the machine's GEMM rate on every core with it, whatever the kernels' pool set before."""
    if _SET_THREADS_LOCAL is None:
        yield
        return
    previous = _SET_THREADS_LOCAL(count)
    try:
        yield
    finally:
        _SET_THREADS_LOCAL(previous)


def _matrix(a: np.ndarray, name: str) -> tuple:
    """(pointer, leading dimension) of a 2-D view with unit inner stride, after bounds checks."""
    if a.ndim != 2 or a.strides[1] != a.itemsize or a.strides[0] % a.itemsize or a.strides[0] < 0:
        raise ValueError(f"{name}: a 2-D view with unit inner stride is needed, got strides {a.strides}")
    ld = a.strides[0] // a.itemsize
    if a.shape[0] > 1 and ld < a.shape[1]:
        raise ValueError(f"{name}: rows overlap (leading dimension {ld} < {a.shape[1]} columns)")
    # NumPy keeps every view it makes (slices, reshapes, transposes, np.ndarray over a buffer,
    # np.frombuffer) inside its parent's memory. Only an array made from an __array_interface__
    # (as_strided hides its parent behind such a DummyArray) can reach outside it: for those the
    # view's extent is checked against the outermost array behind it. (Addresses are read from
    # .ctypes.data, about 0.8 us each, so the check is made only where it can fail.)
    base, foreign = a, False
    while True:
        parent = getattr(base, "base", None)
        if parent is None or not (isinstance(parent, np.ndarray) or hasattr(parent, "__array_interface__")):
            break
        foreign = foreign or not isinstance(parent, np.ndarray)
        base = parent
    start = a.ctypes.data
    if not foreign:
        return start, max(ld, 1)
    if not isinstance(base, np.ndarray):
        raise ValueError(f"{name}: cannot find the buffer this view belongs to")
    end = start + ((a.shape[0] - 1) * ld + a.shape[1]) * a.itemsize
    lo = base.ctypes.data
    if a.size and not (lo <= start and end <= lo + base.nbytes):
        raise ValueError(f"{name}: the view reaches outside its buffer")
    return start, max(ld, 1)


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, *, beta: float, transpose_b: bool = False,
         transpose_a: bool = False) -> None:
    """c = op(a) @ op(b) + beta * c, in place; op(x) = x.T when transpose_x.

    a (M, K) or (K, M) when transposed, b (K, N) or (N, K) when transposed, c (M, N) writable; all
    of one float dtype.
    """
    function = _GEMM[c.dtype] if _GEMM is not None else None
    if function is None or not (a.dtype == b.dtype == c.dtype):
        raise ValueError(f"gemm needs one of {list(_GEMM or {})} for a, b and c; got {a.dtype}, {b.dtype}, {c.dtype}")
    m, k = a.shape[::-1] if transpose_a else a.shape
    n = b.shape[0] if transpose_b else b.shape[1]
    if (b.shape[1] if transpose_b else b.shape[0]) != k or c.shape != (m, n) or not c.flags.writeable:
        raise ValueError(f"gemm shapes: a {a.shape} (transposed: {transpose_a}), b {b.shape} (transposed: "
                         f"{transpose_b}), c {c.shape}")
    pa, lda = _matrix(a, "a")
    pb, ldb = _matrix(b, "b")
    pc, ldc = _matrix(c, "c")
    function(_ROW_MAJOR, _TRANS if transpose_a else _NO_TRANS, _TRANS if transpose_b else _NO_TRANS, m, n, k,
             1.0, pa, lda, pb, ldb,
             float(beta), pc, ldc)


def dtype_supported(dtype) -> bool:
    return _GEMM is not None and np.dtype(dtype) in _GEMM
