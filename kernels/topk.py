"""BNNSDirectApplyTopK and BNNSDirectApplyInTopK: the K largest entries along one axis.

    TopK:    values[..., j, ...] = the j-th largest of x along ``axis`` (j = 0 the largest),
             indices[..., j, ...] = its position along ``axis``
    InTopK:  out[...] = #{ i : x[..., i, ...] > x[..., t, ...] } < K,   t = test_indices[...]

x is (N, *item) with ``axis`` an axis of one item's logical (NumPy) view; values and indices
have x's shape with extent K on that axis; test_indices and out have x's shape without it.

Notes
-----
Conventions where BNNS's documentation is silent (PyTorch's ``topk`` and TensorFlow's
``in_top_k``):

* TopK returns values sorted from the largest; equal values keep their order along the axis
  (the lower index first).
* InTopK counts only strictly larger entries, so ties at the K-th place are all "in the top K"
  (TensorFlow); a test index outside [0, extent) is InvalidArgumentError (TensorFlow answers
  False; an error is clearer for a service).
* NaN compares as the largest value in TopK (NumPy's sort order puts it last).
* Neither has a backward in BNNS.
"""

from __future__ import annotations

import numpy as np

from . import _common as cm
from .errors import require


def _axis(axis: int, item_rank: int, k: int, extent_of) -> int:
    a = cm.as_int(axis, "axis", 0)
    require(a < item_rank, f"axis {a} is not an axis of the input item (rank {item_rank})")
    kk = cm.as_int(k, "K", 1)
    require(kk <= extent_of(a), f"K {kk} is larger than the input's extent {extent_of(a)} on axis {a}")
    return a + 1                      # the batch axis comes first


def top_k(x: np.ndarray, k: int, axis: int) -> tuple:
    """(values, indices) of the K largest along item axis ``axis`` of x (N, *item)."""
    x = cm.as_float(x)
    a = _axis(axis, x.ndim - 1, k, lambda i: x.shape[i + 1])
    order = np.argsort(-x, axis=a, kind="stable")
    indices = np.take(order, np.arange(int(k)), axis=a)
    return np.take_along_axis(x, indices, axis=a), indices


def in_top_k(x: np.ndarray, test_indices: np.ndarray, k: int, axis: int) -> np.ndarray:
    """bool (N, *item without axis): whether x at test_indices is among the K largest."""
    x = cm.as_float(x)
    a = _axis(axis, x.ndim - 1, k, lambda i: x.shape[i + 1])
    expected = x.shape[:a] + x.shape[a + 1:]
    t = np.asarray(test_indices)
    require(t.shape == expected, f"test_indices has shape {t.shape[1:]} per item; expected {expected[1:]} "
            f"(the input's shape without axis {a - 1})")
    require(t.dtype.kind in "iu", f"test_indices must be integers, not {t.dtype}")
    extent = x.shape[a]
    require(t.size == 0 or (t.min() >= 0 and t.max() < extent),
            f"test_indices hold {t.min()}..{t.max()}; valid positions on axis {a - 1} are 0..{extent - 1}")
    target = np.take_along_axis(x, np.expand_dims(t.astype(np.int64), a), axis=a)
    return np.sum(x > target, axis=a) < int(k)
