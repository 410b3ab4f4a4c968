"""BNNSGather / BNNSScatter (along one axis) and BNNSGatherND / BNNSScatterND (by index vectors).

    Gather, element mode (indices of the input's rank, output shaped as indices; torch.gather):
        y[i, j, k] = x[idx[i, j, k], j, k]                      (axis 0; likewise on other axes)
    Gather, slice mode (any indices; output = x.shape[:axis] + idx.shape + x.shape[axis+1:]; tf.gather):
        y[a, i..., b] = x[a, idx[i...], b]
    Scatter: the inverse placement, combined with what the output holds (BNNS: "reduces the
    existing output value with the scattered value"): y[idx[i, j, k], j, k] = op(y[...], x[i, j, k])
    GatherND: idx (..., K) of K-vectors; y[p...] = x[idx[p..., 0], ..., idx[p..., K-1]]  (tf.gather_nd)
    ScatterND: y[idx[p..., :]] = op(y[idx[p..., :]], x[p...])   (tf.tensor_scatter_nd_*)

Arrays are the descriptors' logical (NumPy-order) views; ``axis`` is a logical axis.

Notes
-----
Conventions where Apple's documentation is silent:

* Gather's two modes are told apart by the output's shape (they never both fit, except for a
  rank-1 input, where they agree). Scatter's slice mode takes 1-D indices.
* Scatter ops (BNNSReduceFunction, raw values as kernels/reduction.py): None (15) writes the
  value, Sum (6) adds, Max (0) / Min (1) keep the extreme, Product (14) multiplies, each with the
  output's existing value included (PyTorch's ``scatter_reduce(include_self=True)``). For None
  with repeated indices the last one in C order wins. Other functions are InvalidArgumentError.
* Indices must be integers in [0, extent): a negative or out-of-range index is
  InvalidArgumentError (not wrapped, not clamped).
* No backward in BNNS: the gradient of a gather is a Sum scatter of dL/dy into zeros, and of a
  Sum scatter a gather of dL/dy.
"""

from __future__ import annotations

import numpy as np

from . import _common as cm
from .errors import require
from .reduction import MAX, MIN, NONE, PRODUCT, SUM

_SCATTER_UFUNC = {SUM: np.add, MAX: np.maximum, MIN: np.minimum, PRODUCT: np.multiply}
SCATTER_OPS = {NONE: "None", SUM: "Sum", MAX: "Max", MIN: "Min", PRODUCT: "Product"}


def _indices(idx: np.ndarray, extent, name: str = "indices") -> np.ndarray:
    idx = np.asarray(idx)
    require(idx.dtype.kind in "iu", f"{name} must hold integers, not {idx.dtype}")
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        require(lo >= 0 and hi < np.min(extent), f"{name} hold {lo}..{hi}; valid positions are 0..{np.min(extent) - 1}")
    return idx.astype(np.intp)


def _axis(axis: int, rank: int) -> int:
    a = cm.as_int(axis, "axis", 0)
    require(a < rank, f"axis {a} is not an axis of the input (rank {rank})")
    return a


def gather(x: np.ndarray, idx: np.ndarray, axis: int, out_shape: tuple) -> np.ndarray:
    """y of ``out_shape`` (element or slice mode, from the shapes)."""
    a = _axis(axis, np.ndim(x))
    idx = _indices(idx, np.shape(x)[a])
    out_shape = tuple(out_shape)
    if idx.ndim == np.ndim(x) and out_shape == idx.shape:
        others = [s for k, s in enumerate(np.shape(x)) if k != a]
        require(all(i <= s for i, s in zip([d for k, d in enumerate(idx.shape) if k != a], others)),
                f"indices {idx.shape} are larger than input {np.shape(x)} off axis {a}")
        return np.take_along_axis(np.asarray(x)[tuple(slice(0, n) if k != a else slice(None)
                                                      for k, n in enumerate(idx.shape))], idx, axis=a)
    sliced = np.shape(x)[:a] + idx.shape + np.shape(x)[a + 1:]
    require(out_shape == sliced, f"output shape {out_shape} is neither the indices' shape {idx.shape} (element "
            f"gather) nor {sliced} (slice gather of input {np.shape(x)} on axis {a})")
    return np.take(x, idx, axis=a)


def scatter(x: np.ndarray, idx: np.ndarray, y: np.ndarray, axis: int, op: int) -> np.ndarray:
    """A copy of y (the output's existing values) with x scattered into it along ``axis``."""
    a = _axis(axis, np.ndim(y))
    require(int(op) in SCATTER_OPS, f"op {op} is not a scatter reduction here "
            f"({', '.join(f'{k} {v}' for k, v in SCATTER_OPS.items())})")
    out = np.array(y, copy=True)
    idx = _indices(idx, out.shape[a])
    x = np.asarray(x)
    if idx.shape == x.shape and idx.ndim == out.ndim:
        require(all(i <= s for k, (i, s) in enumerate(zip(idx.shape, out.shape)) if k != a),
                f"input {x.shape} is larger than output {out.shape} off axis {a}")
        grid: list[np.ndarray] = list(np.indices(idx.shape, sparse=True))
        grid[a] = idx
        target: tuple = tuple(grid)       # an index tuple: arrays, or slices then indices
    else:
        require(idx.ndim == 1 and x.shape == out.shape[:a] + idx.shape + out.shape[a + 1:],
                f"input {x.shape} and indices {idx.shape} fit neither an element scatter (equal shapes) nor a "
                f"slice scatter into output {out.shape} on axis {a} (1-D indices)")
        target = tuple(slice(None) for _ in range(a)) + (idx,)
    _combine(out, target, x, int(op))
    return out


def gather_nd(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """y = x at each index vector (the last axis of idx)."""
    idx = np.asarray(idx)
    require(idx.ndim >= 1 and 1 <= idx.shape[-1] <= np.ndim(x),
            f"indices {idx.shape} must end in vectors of 1..{np.ndim(x)} coordinates for input {np.shape(x)}")
    k = idx.shape[-1]
    idx = _indices(idx, max(np.shape(x)[:k]))
    _check_vectors(idx, np.shape(x)[:k])
    return np.asarray(x)[tuple(np.moveaxis(idx, -1, 0))]


def scatter_nd(x: np.ndarray, idx: np.ndarray, y: np.ndarray, op: int) -> np.ndarray:
    """A copy of y with x's slices combined in at the index vectors."""
    require(int(op) in SCATTER_OPS, f"op {op} is not a scatter reduction here "
            f"({', '.join(f'{k} {v}' for k, v in SCATTER_OPS.items())})")
    out = np.array(y, copy=True)
    idx = np.asarray(idx)
    require(idx.ndim >= 1 and 1 <= idx.shape[-1] <= out.ndim,
            f"indices {idx.shape} must end in vectors of 1..{out.ndim} coordinates for output {out.shape}")
    k = idx.shape[-1]
    expected = idx.shape[:-1] + out.shape[k:]
    require(np.shape(x) == expected, f"input has shape {np.shape(x)}; indices {idx.shape} into output {out.shape} "
            f"need {expected}")
    idx = _indices(idx, max(out.shape[:k]))
    _check_vectors(idx, out.shape[:k])
    _combine(out, tuple(np.moveaxis(idx, -1, 0)), np.asarray(x), int(op))
    return out


def _check_vectors(idx: np.ndarray, extents: tuple) -> None:
    for c, extent in enumerate(extents):
        column = idx[..., c]
        require(column.size == 0 or int(column.max()) < extent,
                f"indices[..., {c}] hold up to {int(column.max())}; the extent there is {extent}")


def _combine(out: np.ndarray, target: tuple, values: np.ndarray, op: int) -> None:
    """out[target] = op(out[target], values), repeated targets combined one after the other."""
    if op == NONE:
        out[target] = values                 # NumPy assigns in C order: the last repeat wins
    else:
        _SCATTER_UFUNC[op].at(out, target, values)
