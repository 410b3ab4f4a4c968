"""BNNS data movement: Permute (filter), Transpose and Copy (direct calls) (bnns.md 2.1, 4).

    Permute     out dimension k <- in dimension permutation[k]      (BNNS dimensions: size[] indices)
    Transpose   dimensions axis0 and axis1 swapped
    Copy        out = in, element by element in logical order (a layout or stride change)

``BNNSFilterCreateLayerPermute`` + ``BNNSFilterApplyBatch`` / ``BNNSPermuteFilterApplyBackwardBatch``,
``BNNSTranspose(dest, src, axis0, axis1)`` and ``BNNSCopy(dest, src)``. Transpose and Copy are
offered here as filters too (``TransposeFilter``, ``CopyFilter``) so that a server can serve them
per batch like any layer; their backward is the inverse movement.

Arrays are (N, *desc.shape) in each descriptor's logical NumPy order (layout.py); the BNNS
dimension numbers are translated to NumPy axes per descriptor (size[0] is the last NumPy axis for
natural layouts, the first for FirstMajor ones), so a permutation can also move data between a
natural and a FirstMajor layout.

Notes
-----
* ``permutation`` has BNNS's 8 entries (or just ``rank``); entries at indices beyond the rank are
  not read (bnns_structures.h: "values in indexes equal or beyond tensor dimension are being
  ignored"). Example from the header: [2, 1, 0] on ImageCHW reverses the axes.
* Data-type conversion (BNNSCopy between Float16 and Float32, say) is the codec's business: the
  kernels compute in float32 (float64 kept for checks) and the caller packs to o_desc.data_type.
* Backward: Permute's and Transpose's are the inverse permutation of d_out; Copy's is a copy.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import _common as cm
from .errors import require
from .layout import MAX_TENSOR_DIMENSION, Descriptor
from .params import PermuteParameters


# ---------------------------------------------------------------------------------------- kernels
def permute(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """out[n] = np.transpose(x[n], axes): x (N, *in_shape) -> (N, *out_shape), contiguous."""
    return np.ascontiguousarray(np.transpose(x, (0,) + tuple(a + 1 for a in axes)))


def permute_backward(d_out: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """dL/dx: d_out moved back with the inverse of ``axes``."""
    return permute(d_out, tuple(np.argsort(axes)))


def numpy_axes(i_desc: Descriptor, o_desc: Descriptor, permutation: Sequence[int]) -> tuple:
    """NumPy axes for :func:`permute`: output axis a takes input axis axes[a]."""
    rank = i_desc.rank
    axes = [0] * rank
    for k in range(rank):
        axes[cm.dim_to_axis(o_desc, k)] = cm.dim_to_axis(i_desc, int(permutation[k]))
    return tuple(axes)


# ---------------------------------------------------------------------------------------- filters
class _MoveFilter:
    """A filter that moves data by a fixed permutation of axes (no weights)."""

    kind = "permute"

    def _init_axes(self, params, axes: tuple) -> None:
        self.params = params
        self._in_shape = params.i_desc.shape
        self._out_shape = params.o_desc.shape
        self._axes = axes

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    @property
    def axes(self) -> tuple:
        """NumPy axes of one item: output axis a is input axis axes[a]."""
        return self._axes

    def parameters(self) -> dict:
        return {}

    def apply(self, x: np.ndarray) -> np.ndarray:
        """x (N, *i_desc.shape) -> (N, *o_desc.shape)."""
        return permute(cm.batch(x, self._in_shape, "x"), self._axes)

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False):
        """(d_in (N, *i_desc.shape), None, None) from d_out (N, *o_desc.shape); x, y not read."""
        cm.no_weight_gradients(self.kind, weights_grad, bias_grad)
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        return (permute_backward(d_out, self._axes) if input_grad else None), None, None


def _check_pair(params, kind: str) -> int:
    shape_in = cm.check_desc(params.i_desc, "i_desc")
    shape_out = cm.check_desc(params.o_desc, "o_desc")
    require(len(shape_in) == len(shape_out),
            f"o_desc has rank {len(shape_out)} ({params.o_desc.describe()}) but i_desc has rank "
            f"{len(shape_in)} ({params.i_desc.describe()}); {kind} keeps the rank")
    return len(shape_in)


def _check_sizes(params, permutation, kind: str) -> None:
    """o_desc.size[k] == i_desc.size[permutation[k]] for every k."""
    rank = params.i_desc.rank
    expected = tuple(int(params.i_desc.size[permutation[k]]) for k in range(rank))
    got = tuple(int(s) for s in params.o_desc.size[:rank])
    require(got == expected,
            f"o_desc.size {got} does not match i_desc.size {tuple(params.i_desc.size[:rank])} "
            f"under {kind} {tuple(permutation)}: expected {expected}")


class PermuteFilter(_MoveFilter):
    """BNNSFilterCreateLayerPermute: out dimension k <- in dimension permutation[k]."""

    kind = "permute"

    def __init__(self, params: PermuteParameters):
        rank = _check_pair(params, self.kind)
        perm = tuple(params.permutation)
        require(rank <= len(perm) <= MAX_TENSOR_DIMENSION,
                f"permutation {perm} must have between {rank} (the rank) and {MAX_TENSOR_DIMENSION} entries")
        for k in range(rank):
            cm.as_int(perm[k], f"permutation[{k}]", 0)
        head = tuple(int(p) for p in perm[:rank])
        require(sorted(head) == list(range(rank)),
                f"permutation {perm}: the first {rank} entries {head} are not a permutation of "
                f"0..{rank - 1}")
        _check_sizes(params, head, "permutation")
        self._init_axes(params, numpy_axes(params.i_desc, params.o_desc, head))


class TransposeFilter(_MoveFilter):
    """BNNSTranspose(dest = o_desc, src = i_desc, axis0, axis1) as a filter: BNNS dimensions axis0
    and axis1 swapped, i.e. the permutation that exchanges them (its ``params``)."""

    kind = "transpose"

    def __init__(self, i_desc: Descriptor, o_desc: Descriptor, axis0: int = 0, axis1: int = 1):
        rank = _check_pair(PermuteParameters(i_desc=i_desc, o_desc=o_desc), self.kind)
        a0 = cm.as_int(axis0, "axis0", 0, rank - 1)
        a1 = cm.as_int(axis1, "axis1", 0, rank - 1)
        perm = list(range(rank))
        perm[a0], perm[a1] = a1, a0
        params = PermuteParameters(i_desc=i_desc, o_desc=o_desc, permutation=tuple(perm))
        _check_sizes(params, perm, f"transpose of axes {a0} and {a1}, i.e. permutation")
        self._init_axes(params, numpy_axes(params.i_desc, params.o_desc, perm))


class CopyFilter(_MoveFilter):
    """BNNSCopy(dest = o_desc, src = i_desc) as a filter: the same logical tensor in o_desc's
    layout and strides (the identity permutation, its ``params``)."""

    kind = "copy"

    def __init__(self, i_desc: Descriptor, o_desc: Descriptor):
        params = PermuteParameters(i_desc=i_desc, o_desc=o_desc, permutation=tuple(range(i_desc.rank)))
        _check_pair(params, self.kind)
        require(params.o_desc.shape == params.i_desc.shape,
                f"o_desc shape {params.o_desc.shape} ({params.o_desc.describe()}) differs from i_desc "
                f"shape {params.i_desc.shape} ({params.i_desc.describe()}); a copy keeps the logical shape")
        self._init_axes(params, tuple(range(params.i_desc.rank)))


def transpose(x: np.ndarray, desc: Descriptor, axis0: int, axis1: int) -> np.ndarray:
    """BNNSTranspose on one tensor of ``desc`` (no batch axis): BNNS dimensions axis0, axis1 swapped.

    The result's NumPy shape is that of a descriptor of the same layout with size[axis0] and
    size[axis1] exchanged."""
    rank = len(cm.check_desc(desc, "src"))
    a0 = cm.as_int(axis0, "axis0", 0, rank - 1)
    a1 = cm.as_int(axis1, "axis1", 0, rank - 1)
    x = np.asarray(x)
    require(x.shape == desc.shape, f"src has shape {x.shape}; expected {desc.shape} for {desc.describe()}")
    return np.ascontiguousarray(np.swapaxes(x, cm.dim_to_axis(desc, a0), cm.dim_to_axis(desc, a1)))
