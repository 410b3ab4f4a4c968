"""BNNS clipping and norm utilities (bnns.md 3.7 "Standalone clipping"; Apple's bnns.h comments).

    BNNSClipByValue(dest, src, min, max)            y = min(max(x, min_val), max_val)
    BNNSClipByNorm(dest, src, max_norm, axes)       y = x * max_norm / max(||x||_axes, max_norm)
    BNNSClipByGlobalNorm(dest[], src[], max_norm, use_norm)
                                                    y_i = x_i * max_norm / max(g, max_norm),
                                                    g = use_norm, or sqrt(sum_i ||x_i||^2) if 0
    BNNSComputeNorm(dest, src, L2, axes)            y = sqrt(sum over axes of x^2)  (axes removed)
    BNNSComputeNormBackward(in, in_delta, out, out_delta, L2, axes)
                                                    dL/dx = dL/dy * x / y   (0 where y == 0)

These are direct calls on whole tensors (no filter, no batch): arrays are the logical NumPy views
of the descriptors (layout.py), float32 (float64 kept).

Notes
-----
* ``axis_flags`` bit k selects **NumPy axis k of the tensor's logical view** (TensorFlow's
  ``axes``), 0 selects all axes. Evidence: Apple's BNNSClipByNorm example clips a 3x3
  RowMajorMatrix [1 2 3; 4 5 6; 7 8 9] with axis_flags 0b0010 to norm 10 and only the row
  [7 8 9] changes, i.e. the norm runs along each row, which is NumPy axis 1 of the (rows, cols)
  view. (This differs from the activation filter's axis_flags, whose bit k is size[k].)
* Clipping scales by max_norm / max(norm, max_norm), so a norm equal to max_norm leaves x
  unchanged and a zero tensor stays zero (TensorFlow's clip_by_norm / clip_by_global_norm).
* Only BNNSL2Norm (1) exists (the header: "Currently only L2-norm is supported"); other
  norm_type values are InvalidArgumentError.
* ComputeNorm over every axis returns shape (1,) (the header: "destination descriptor must be
  BNNSDataLayoutVector with size[0] = 1").
* The clip functions have no backward in BNNS; ComputeNorm's backward is the one above.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import _common as cm
from .errors import require

L2_NORM = 1      # BNNSNormType: BNNSL2Norm


def axes_from_flags(axis_flags: int, ndim: int) -> tuple:
    """NumPy axes selected by axis_flags (bit k = axis k; 0 = all)."""
    flags = cm.as_int(axis_flags, "axis_flags", 0)
    require(flags < (1 << ndim),
            f"axis_flags {flags:#b} selects axes beyond the tensor's {ndim} (bits 0..{ndim - 1})")
    return tuple(range(ndim)) if flags == 0 else tuple(k for k in range(ndim) if flags >> k & 1)


def clip_by_value(src: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
    """BNNSClipByValue: src clamped to [min_val, max_val]."""
    lo = cm.as_real(min_val, "min_val")
    hi = cm.as_real(max_val, "max_val")
    require(lo <= hi, f"min_val {lo} must be <= max_val {hi}")
    src = cm.as_float(src)
    return np.clip(src, src.dtype.type(lo), src.dtype.type(hi))


def clip_by_norm(src: np.ndarray, max_norm: float, axis_flags: int = 0) -> np.ndarray:
    """BNNSClipByNorm: src scaled so that its L2 norm over the selected axes is at most max_norm."""
    limit = cm.as_real(max_norm, "max_norm", 0.0)
    src = cm.as_float(src)
    axes = axes_from_flags(axis_flags, src.ndim)
    if limit == 0:
        return np.zeros_like(src)
    norm = np.sqrt(np.sum(src.astype(np.float64) ** 2, axis=axes, keepdims=True))
    return (src * (limit / np.maximum(norm, limit))).astype(src.dtype, copy=False)


def global_norm(srcs: Sequence[np.ndarray]) -> float:
    """sqrt of the sum of the squares of every element of every tensor."""
    return float(np.sqrt(sum(float(np.sum(np.asarray(s, np.float64) ** 2)) for s in srcs)))


def clip_by_global_norm(srcs: Sequence[np.ndarray], max_norm: float, use_norm: float = 0.0) -> list:
    """BNNSClipByGlobalNorm: every tensor scaled by max_norm / max(global norm, max_norm); the
    global norm is use_norm when nonzero, else computed from srcs."""
    limit = cm.as_real(max_norm, "max_norm", 0.0)
    given = cm.as_real(use_norm, "use_norm", 0.0)
    srcs = [cm.as_float(s) for s in srcs]
    require(len(srcs) >= 1, "srcs is empty: BNNSClipByGlobalNorm needs count >= 1 tensors")
    g = given if given > 0 else global_norm(srcs)
    scale = limit / max(g, limit) if limit > 0 else 0.0
    return [(s * s.dtype.type(scale)) for s in srcs]


def compute_norm(src: np.ndarray, norm_type: int = L2_NORM, axis_flags: int = 0) -> np.ndarray:
    """BNNSComputeNorm: the L2 norm over the selected axes, which are removed from the shape
    ((1,) when all are)."""
    _check_norm_type(norm_type)
    src = cm.as_float(src)
    axes = axes_from_flags(axis_flags, src.ndim)
    y = np.sqrt(np.sum(src * src, axis=axes))
    return y.reshape(1) if y.ndim == 0 else y


def compute_norm_backward(x: np.ndarray, y: np.ndarray, d_y: np.ndarray, norm_type: int = L2_NORM,
                          axis_flags: int = 0) -> np.ndarray:
    """BNNSComputeNormBackward: dL/dx = dL/dy * x / y over the reduced axes (0 where y == 0).

    x : the forward input; y, d_y : shaped like :func:`compute_norm`'s output.
    """
    _check_norm_type(norm_type)
    x = cm.as_float(x)
    axes = axes_from_flags(axis_flags, x.ndim)
    kept = tuple(s for a, s in enumerate(x.shape) if a not in axes) or (1,)
    y = np.asarray(y, dtype=x.dtype)
    d_y = np.asarray(d_y, dtype=x.dtype)
    require(y.shape == kept, f"out has shape {y.shape}; expected {kept} for in {x.shape} and axes {axes}")
    require(d_y.shape == kept, f"out_delta has shape {d_y.shape}; expected {kept}")
    keep_shape = tuple(1 if a in axes else s for a, s in enumerate(x.shape))
    y_k, d_k = y.reshape(keep_shape), d_y.reshape(keep_shape)
    safe = np.where(y_k > 0, y_k, 1)
    return np.where(y_k > 0, x * (d_k / safe), 0).astype(x.dtype, copy=False)


def _check_norm_type(norm_type: int) -> None:
    value = cm.as_int(norm_type, "norm_type")
    require(value == L2_NORM, f"norm_type {value} is not supported: only BNNSL2Norm ({L2_NORM}) exists")
