"""BNNS resize filter (bnns.md 2.1 BNNSLayerParametersResize; Apple's bnns_structures.h comment).

Resizes every dimension whose size differs between i_desc and o_desc (the header: "Resize is only
performed in dimensions where tensor sizes differ"), separably, by one interpolation matrix per
resized dimension (out x in):

    Nearest (0)                        y[o] = x[src(o)]
    Linear  (1)                        y[o] = (1 - t) x[floor(s)] + t x[floor(s) + 1],  t = s - floor(s)

with the source coordinate s of output index o (PyTorch's ``F.interpolate`` rules):

    align_corners false    s = (o + 0.5) * in / out - 0.5, clamped at 0 (linear);
                           src(o) = floor(o * in / out) (nearest, PyTorch's "nearest")
    align_corners true     s = o * (in - 1) / (out - 1)   (0 when out == 1);
                           src(o) = round(s) (nearest: TensorFlow 1's align_corners rule)

Several resized dimensions give bilinear / trilinear interpolation. Backward is the adjoint: each
output gradient is sent back to the inputs it was interpolated from, with the same weights.

``BNNSFilterCreateLayerResize`` + ``BNNSFilterApplyBatch`` / ``BNNSFilterApplyBackwardBatch``.

Notes
-----
* The header requires the resized dimensions to all upsample or all downsample and says output
  sizes "must be an integral multiple" of the input's; here upsampled sizes must be integral
  multiples of the input's and downsampled input sizes integral multiples of the output's.
* The interpolation formulas are PyTorch's (and TensorFlow 1's nearest with align_corners), not
  confirmed on BNNS.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from . import _common as cm
from .errors import require
from .layout import Descriptor

NEAREST, LINEAR = 0, 1                     # BNNSInterpolationMethod
METHOD_NAMES = {NEAREST: "Nearest", LINEAR: "Linear"}


# ---------------------------------------------------------------------------------------- kernels
def interpolation_matrix(size_in: int, size_out: int, method: int, align_corners: bool) -> np.ndarray:
    """(size_out, size_in) float64 weights: y = M @ x along one dimension."""
    o = np.arange(size_out, dtype=np.float64)
    m = np.zeros((size_out, size_in))
    if align_corners:
        s = o * ((size_in - 1) / (size_out - 1)) if size_out > 1 else np.zeros(size_out)
    elif method == LINEAR:
        s = np.maximum((o + 0.5) * (size_in / size_out) - 0.5, 0.0)
    else:
        s = o * (size_in / size_out)
    if method == NEAREST:
        src = np.floor(s + 0.5) if align_corners else np.floor(s)
        m[np.arange(size_out), np.minimum(src.astype(int), size_in - 1)] = 1.0
        return m
    lo = np.minimum(np.floor(s).astype(int), size_in - 1)
    hi = np.minimum(lo + 1, size_in - 1)
    t = s - lo
    np.add.at(m, (np.arange(size_out), lo), 1 - t)
    np.add.at(m, (np.arange(size_out), hi), t)
    return m


def resize(x: np.ndarray, matrices: dict) -> np.ndarray:
    """x (N, ...) with matrices {axis: (out, in)} applied along their axes."""
    for axis, m in matrices.items():
        x = cm.apply_along(x, axis, m)
    return x


def resize_backward(d_out: np.ndarray, matrices: dict) -> np.ndarray:
    """The adjoint of :func:`resize`."""
    g = d_out
    for axis, m in reversed(list(matrices.items())):
        g = cm.apply_along(g, axis, m.T)
    return g


# ---------------------------------------------------------------------------------------- filter
@dataclasses.dataclass(frozen=True)
class ResizeParams:
    """BNNSLayerParametersResize: method, i_desc, o_desc, align_corners."""

    method: int
    i_desc: Descriptor
    o_desc: Descriptor
    align_corners: bool = False


class ResizeFilter:
    """Nearest or (multi)linear resize of the dimensions whose sizes differ."""

    kind = "resize"

    def __init__(self, params: ResizeParams):
        self.params = p = params
        method = cm.as_int(p.method, "method")
        require(method in METHOD_NAMES, f"method {method} is not a BNNSInterpolationMethod (Nearest 0, Linear 1)")
        self.method = method
        self.align_corners = bool(p.align_corners)
        in_shape = cm.check_desc(p.i_desc, "i_desc")
        out_shape = cm.check_desc(p.o_desc, "o_desc")
        rank = p.i_desc.rank
        require(p.o_desc.rank == rank, f"o_desc has rank {p.o_desc.rank} but i_desc has rank {rank}")
        in_size = tuple(int(s) for s in p.i_desc.size[:rank])
        out_size = tuple(int(s) for s in p.o_desc.size[:rank])
        resized = [d for d in range(rank) if in_size[d] != out_size[d]]
        up = [d for d in resized if out_size[d] > in_size[d]]
        require(len(up) in (0, len(resized)),
                f"o_desc.size {out_size} upsamples some dimensions of i_desc.size {in_size} and downsamples "
                f"others; BNNS resizes all one way")
        for d in resized:
            big, small = max(in_size[d], out_size[d]), min(in_size[d], out_size[d])
            require(big % small == 0,
                    f"dimension {d}: size {in_size[d]} -> {out_size[d]} is not an integral scale "
                    f"(i_desc.size {in_size}, o_desc.size {out_size})")
        self.resized_dims = tuple(resized)
        self._matrices = {1 + d: interpolation_matrix(in_size[d], out_size[d], method, self.align_corners)
                          for d in resized}
        self._in_shape, self._out_shape = in_shape, out_shape

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    def parameters(self) -> dict:
        return {}

    def apply(self, x: np.ndarray) -> np.ndarray:
        """x (N, *i_desc.shape) -> y (N, *o_desc.shape)."""
        x = cm.batch(x, self._in_shape, "x")
        y = resize(cm.to_dims(x, self.params.i_desc), self._matrices)
        return cm.from_dims(y, self.params.o_desc)

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False):
        """(d_in (N, *i_desc.shape), None, None) from d_out (N, *o_desc.shape); x and y not read."""
        cm.no_weight_gradients(self.kind, weights_grad, bias_grad)
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        if not input_grad:
            return None, None, None
        g = resize_backward(cm.to_dims(d_out, self.params.o_desc), self._matrices)
        return cm.from_dims(g, self.params.i_desc), None, None
