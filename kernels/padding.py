"""BNNS padding filter (bnns.md 2.1 BNNSLayerParametersPadding; Apple's bnns_structures.h comment).

    o_desc.size[d] = i_desc.size[d] + padding_size[d][0] + padding_size[d][1]   for every dimension d

Modes (BNNSPaddingMode), for data A B C D padded by 2 on each side:

    Constant  (0)   v v | A B C D | v v     v = padding_value
    Reflect   (1)   C B | A B C D | C B     the edge is not repeated (np.pad "reflect")
    Symmetric (2)   B A | A B C D | D C     the edge is repeated (np.pad "symmetric")

``BNNSFilterCreateLayerPadding`` + ``BNNSFilterApplyBatch`` / ``BNNSFilterApplyBackwardBatch``.
x is (N, *i_desc.shape), y (N, *o_desc.shape); padding_size is indexed by BNNS dimension
(size[] index), so for natural layouts padding_size[0] pads the last NumPy axis. It comes as
Apple's padding_size[8][2] lies in memory (and on the wire): before, after of dimension 0, then
of dimension 1, ...

Backward is the adjoint: Constant crops d_out; Reflect and Symmetric add each padded element's
gradient back onto the element it copies.

Notes
-----
* ``padding_value`` is the bit pattern of the fill value (the header: "first 'size' bytes are
  used depending on the data type"): for Float32 data it is read as an IEEE float32 (so
  0x3F800000 is 1.0); compute is in float32, so Float16 data uses the same float32 reading
  (chosen: a float16 bit pattern in the low 2 bytes would need the codec's data type).
* Reflect needs before, after <= size - 1 and Symmetric before, after <= size in every padded
  dimension (PyTorch's reflect rule; NumPy would wrap around further).
* padding_size entries for dimensions beyond the rank are not read (header).
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np

from . import _common as cm
from .errors import require
from .layout import MAX_TENSOR_DIMENSION, Descriptor
from .params import PaddingParameters

CONSTANT, REFLECT, SYMMETRIC = 0, 1, 2            # BNNSPaddingMode
MODE_NAMES = {CONSTANT: "Constant", REFLECT: "Reflect", SYMMETRIC: "Symmetric"}
_NUMPY_MODE: dict[int, Literal["reflect", "symmetric"]] = {REFLECT: "reflect", SYMMETRIC: "symmetric"}


# ---------------------------------------------------------------------------------------- kernels
def pad(x: np.ndarray, widths: tuple, mode: int, value: float = 0.0) -> np.ndarray:
    """x (N, *shape) padded by widths ((before, after) per item axis)."""
    full = ((0, 0),) + tuple(widths)
    if mode == CONSTANT:
        return np.pad(x, full, mode="constant", constant_values=x.dtype.type(value))
    return np.pad(x, full, mode=_NUMPY_MODE[mode])


def pad_backward(d_out: np.ndarray, widths: tuple, mode: int) -> np.ndarray:
    """The adjoint of :func:`pad`: (N, *padded shape) -> (N, *shape)."""
    g = d_out
    for axis, (before, after) in enumerate(widths, start=1):
        if before == 0 and after == 0:
            continue
        size = g.shape[axis] - before - after
        if mode == CONSTANT:
            g = np.take(g, np.arange(before, before + size), axis=axis)
            continue
        source = np.pad(np.arange(size), (before, after), mode=_NUMPY_MODE[mode])
        matrix = np.zeros((source.size, size), dtype=g.dtype)
        matrix[np.arange(source.size), source] = 1                      # y = matrix @ x along the axis
        g = cm.apply_along(g, axis, matrix.T)
    return np.ascontiguousarray(g)


# ---------------------------------------------------------------------------------------- filter
class PaddingFilter:
    """Pads every BNNS dimension by (before, after)."""

    kind = "padding"

    def __init__(self, params: PaddingParameters):
        self.params = p = params
        in_shape = cm.check_desc(p.i_desc, "i_desc")
        out_shape = cm.check_desc(p.o_desc, "o_desc")
        rank = p.i_desc.rank
        require(p.o_desc.rank == rank, f"o_desc has rank {p.o_desc.rank} but i_desc has rank {rank}")
        mode = cm.as_int(p.padding_mode, "padding_mode")
        require(mode in MODE_NAMES, f"padding_mode {mode} is not a BNNSPaddingMode (Constant 0, Reflect 1, "
                                    f"Symmetric 2)")
        self.mode = mode
        sizes = tuple(p.padding_size)       # padding_size[8][2] in memory order: before, after of dimension 0, ...
        require(len(sizes) % 2 == 0, f"padding_size has {len(sizes)} values; give (before, after) pairs, "
                                     "one pair per dimension")
        require(rank <= len(sizes) // 2 <= MAX_TENSOR_DIMENSION,
                f"padding_size has {len(sizes) // 2} pairs; expected between {rank} (the rank) and "
                f"{MAX_TENSOR_DIMENSION} (before, after) pairs")
        pairs = [(cm.as_int(sizes[2 * d], f"padding_size[{d}][0]", 0), cm.as_int(sizes[2 * d + 1], f"padding_size[{d}][1]", 0))
                 for d in range(rank)]
        in_size = tuple(int(s) for s in p.i_desc.size[:rank])
        expected = tuple(s + b + a for s, (b, a) in zip(in_size, pairs))
        got = tuple(int(s) for s in p.o_desc.size[:rank])
        require(got == expected, f"o_desc.size {got} must be i_desc.size {in_size} plus padding_size "
                                 f"{tuple(pairs)}: {expected}")
        if mode != CONSTANT:
            limit = 1 if mode == REFLECT else 0
            for d, ((before, after), size) in enumerate(zip(pairs, in_size)):
                require(max(before, after) <= size - limit,
                        f"padding_size[{d}] {(before, after)} is too wide for {MODE_NAMES[mode]} padding of a "
                        f"dimension of size {size} (at most {size - limit})")
        bits = cm.as_int(p.padding_value, "padding_value", 0, 2**32 - 1)
        self.value = float(np.array([bits], dtype=np.uint32).view(np.float32)[0])
        # (before, after) per axis of the (N, size[0], size[1], ...) arrays
        self._widths = tuple(pairs)
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
        y = pad(cm.to_dims(x, self.params.i_desc), self._widths, self.mode, self.value)
        return cm.from_dims(y, self.params.o_desc)

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False):
        """(d_in (N, *i_desc.shape), None, None) from d_out (N, *o_desc.shape); x and y not read."""
        cm.no_weight_gradients(self.kind, weights_grad, bias_grad)
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        if not input_grad:
            return None, None, None
        g = pad_backward(cm.to_dims(d_out, self.params.o_desc), self._widths, self.mode)
        return cm.from_dims(g, self.params.i_desc), None, None
