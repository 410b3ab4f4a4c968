"""BNNS reduction (bnns.md 2.1, 3.8; Apple's bnns_structures.h comment on
BNNSLayerParametersReduction).

    y = f over the reduced axes of v,   v = x * w  (w = w_desc data, when given; else v = x)

``BNNSFilterCreateLayerReduction`` + ``BNNSFilterApplyBatch`` / ``BNNSFilterApplyBackwardBatch``,
and ``BNNSDirectApplyReduction`` (:func:`direct_apply`). The reduced axes are those where
o_desc.size[i] == 1 and i_desc.size[i] != 1; every other size must match (header: "input [3][2][4],
output [1][2][4] would be reduction on the channel").

f by BNNSReduceFunction raw value ([H-const] 0-11, the Go constants from Apple's docs [G] for
12-16) and its derivative dy/dv:

    0 Max  1 Min        max / min             1 at the extreme (split evenly between ties)
    2 ArgMax 3 ArgMin   index of the extreme  (no gradient)
    4 Mean              sum / count           1 / count
    5 MeanNonZero       sum / #nonzero        1 / #nonzero at the counted elements
    6 Sum               sum                   1
    7 SumSquare         sum v^2               2v
    8 SumLog            sum log(v + epsilon)  1 / (v + epsilon)
    9 L1Norm            sum |v|               sign(v)
    10 LogicalOr 11 LogicalAnd   any / all nonzero -> 1.0 / 0.0   (no gradient)
    12 L2Norm           sqrt(sum v^2)         v / y   (0 where y == 0)
    13 LogSumExp        log sum exp(v)        softmax(v)
    14 Product          prod v                product of the others
    16 LogSum           log(sum v)            1 / sum v
    (15 None copies, and is not a reduction-layer function: refused, as BNNS does)

dL/dx = dL/dv * w, and with weights_grad dL/dw = sum over the batch of dL/dv * x.

Notes
-----
Conventions chosen where BNNS is silent:

* Weights multiply the input element by element before f (the header's weighted Sum example),
  except that for MeanNonZero the count is of the nonzero *weights* (the header's weighted
  MeanNonZero example); unweighted, it counts the nonzero inputs. A mean over no counted element
  is 0 (not NaN).
* ArgMax/ArgMin write the index as a float: the position within the reduced block, numbered with
  the lowest reduced BNNS dimension fastest (memory order of a contiguous descriptor; for natural
  layouts, C order over the reduced NumPy axes); with one reduced dimension it is the plain index
  along it. The first extreme in that order wins a tie.
* Max/Min send the gradient to every tied extreme, split evenly (``torch.amax``); MeanNonZero
  sends none to inputs that were not counted (the count is not differentiable). ArgMax, ArgMin,
  LogicalOr and LogicalAnd have no gradient: asking for one is InvalidArgumentError.
* LogSum (16) is undocumented by Apple; log(sum v) is its name's reading (UNCONFIRMED).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _common as cm
from .errors import InternalError, InvalidArgumentError, given, require
from .layout import Descriptor
from .params import ReductionParameters

(MAX, MIN, ARG_MAX, ARG_MIN, MEAN, MEAN_NON_ZERO, SUM, SUM_SQUARE, SUM_LOG, L1_NORM, LOGICAL_OR,
 LOGICAL_AND, L2_NORM, LOG_SUM_EXP, PRODUCT, NONE, LOG_SUM) = range(17)
NAMES = {MAX: "Max", MIN: "Min", ARG_MAX: "ArgMax", ARG_MIN: "ArgMin", MEAN: "Mean",
         MEAN_NON_ZERO: "MeanNonZero", SUM: "Sum", SUM_SQUARE: "SumSquare", SUM_LOG: "SumLog",
         L1_NORM: "L1Norm", LOGICAL_OR: "LogicalOr", LOGICAL_AND: "LogicalAnd", L2_NORM: "L2Norm",
         LOG_SUM_EXP: "LogSumExp", PRODUCT: "Product", LOG_SUM: "LogSum"}
NOT_DIFFERENTIABLE = frozenset({ARG_MAX, ARG_MIN, LOGICAL_OR, LOGICAL_AND})


# ---------------------------------------------------------------------------------------- kernels
def reduce(v: np.ndarray, function: int, axes: tuple, *, epsilon: float = 0.0,
           counted: Optional[np.ndarray] = None) -> np.ndarray:
    """f(v) over ``axes`` (keepdims). ``counted``: bool mask of the elements MeanNonZero counts
    (default v != 0)."""
    kw: dict[str, Any] = dict(axis=axes, keepdims=True)
    if function == MAX:
        return v.max(**kw)
    if function == MIN:
        return v.min(**kw)
    if function in (ARG_MAX, ARG_MIN):
        return _arg_extreme(v, axes, function == ARG_MAX)
    if function == MEAN:
        return v.mean(**kw)
    if function == MEAN_NON_ZERO:
        counted = v != 0 if counted is None else counted
        count = counted.sum(**kw)
        total = np.where(counted, v, 0).sum(**kw)
        return np.where(count > 0, total / np.maximum(count, 1), 0).astype(v.dtype)
    if function == SUM:
        return v.sum(**kw)
    if function == SUM_SQUARE:
        return (v * v).sum(**kw)
    if function == SUM_LOG:
        return np.log(v + v.dtype.type(epsilon)).sum(**kw)
    if function == L1_NORM:
        return np.abs(v).sum(**kw)
    if function == LOGICAL_OR:
        return (v != 0).any(**kw).astype(v.dtype)
    if function == LOGICAL_AND:
        return (v != 0).all(**kw).astype(v.dtype)
    if function == L2_NORM:
        return np.sqrt((v * v).sum(**kw))
    if function == LOG_SUM_EXP:
        m = v.max(**kw)
        m = np.where(np.isfinite(m), m, 0)
        return np.log(np.exp(v - m).sum(**kw)) + m
    if function == PRODUCT:
        return v.prod(**kw)
    if function == LOG_SUM:
        return np.log(v.sum(**kw))
    raise InvalidArgumentError(f"reduce_func {function} is not a BNNSReduceFunction")


def reduce_backward(v: np.ndarray, y: np.ndarray, d_y: np.ndarray, function: int, axes: tuple, *,
                    epsilon: float = 0.0, counted: Optional[np.ndarray] = None) -> np.ndarray:
    """dL/dv from dL/dy (keepdims shapes); see the module table."""
    kw: dict[str, Any] = dict(axis=axes, keepdims=True)
    if function in (MAX, MIN):
        hit = v == y
        return d_y * hit / hit.sum(**kw)
    if function == MEAN:
        count = np.prod([v.shape[a] for a in axes])
        return np.broadcast_to(d_y / v.dtype.type(count), v.shape).copy()
    if function == MEAN_NON_ZERO:
        counted = v != 0 if counted is None else counted
        count = counted.sum(**kw)
        return np.where(counted, d_y / np.maximum(count, 1), 0).astype(v.dtype)
    if function == SUM:
        return np.broadcast_to(d_y, v.shape).copy()
    if function == SUM_SQUARE:
        return 2 * v * d_y
    if function == SUM_LOG:
        return d_y / (v + v.dtype.type(epsilon))
    if function == L1_NORM:
        return np.sign(v) * d_y
    if function == L2_NORM:
        return np.where(y > 0, v / np.where(y > 0, y, 1), 0) * d_y
    if function == LOG_SUM_EXP:
        return np.exp(v - y) * d_y
    if function == PRODUCT:
        zero = v == 0
        zeros = zero.sum(**kw)
        others = np.where(zero, 1, v).prod(**kw)          # product of the nonzero elements
        safe = np.where(zero, 1, v)
        grad = np.where(zeros == 0, y / safe, np.where((zeros == 1) & zero, others, 0))
        return grad * d_y
    if function == LOG_SUM:
        return np.broadcast_to(d_y / v.sum(**kw), v.shape).copy()
    raise InvalidArgumentError(f"reduce_func {NAMES.get(function, function)} has no gradient")


# ---------------------------------------------------------------------------------------- filter
class ReductionFilter:
    """A reduction over the axes where o_desc has size 1, optionally weighted."""

    kind = "reduction"

    def __init__(self, params: ReductionParameters):
        self.params = p = params
        func = cm.as_int(p.reduce_func, "reduce_func")
        require(func != NONE, "reduce_func None (15) copies and is not supported by the reduction layer "
                              "(Apple: use BNNSCopy)")
        require(func in NAMES, f"reduce_func {func} is not a BNNSReduceFunction (0..14, 16)")
        self.function = func
        in_shape = cm.check_desc(p.i_desc, "i_desc")
        out_shape = cm.check_desc(p.o_desc, "o_desc")
        rank = p.i_desc.rank
        in_size = tuple(int(s) for s in p.i_desc.size[:rank])
        require(p.o_desc.rank == rank, f"o_desc has rank {p.o_desc.rank} but i_desc has rank {rank}")
        out_size = tuple(int(s) for s in p.o_desc.size[:rank])
        bad = [k for k in range(rank) if out_size[k] not in (1, in_size[k])]
        require(not bad, f"o_desc.size {out_size} must equal i_desc.size {in_size} except for reduced "
                         f"dimensions of size 1 (dimension {bad[0] if bad else ''} differs)")
        self._dims = tuple(k for k in range(rank) if out_size[k] == 1 and in_size[k] != 1)
        self._axes = tuple(1 + k for k in self._dims)        # axes of the (N, size[0], ...) arrays
        self.epsilon = cm.as_real(p.epsilon, "epsilon")
        self._weights = None
        if p.w_desc is not None and p.w_desc.data is not None:
            cm.check_desc(p.w_desc, "w_desc")
            w_size = tuple(int(s) for s in p.w_desc.size[:p.w_desc.rank])
            require(w_size == in_size, f"w_desc.size {w_size} must equal i_desc.size {in_size}")
            self._weights = cm.weights(p.w_desc, "w_desc")
        self._in_shape, self._out_shape = in_shape, out_shape

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    @property
    def reduced_dims(self) -> tuple:
        """BNNS dimensions (size[] indices) that are reduced."""
        return self._dims

    def parameters(self) -> dict:
        """{"weights": live float32 array} when the reduction is weighted, else {}."""
        return {} if self._weights is None else {"weights": self._weights}

    def _prepare(self, x):
        x = cm.to_dims(x, self.params.i_desc)
        if self._weights is None:
            return x, None, None
        w_desc = given(self.params.w_desc, "w_desc (it holds the weights)", error=InternalError)
        w = np.transpose(self._weights, cm.dims_axes(w_desc))[None].astype(x.dtype, copy=False)
        counted = np.broadcast_to(w != 0, x.shape) if self.function == MEAN_NON_ZERO else None
        return x * w, w, counted

    def apply(self, x: np.ndarray) -> np.ndarray:
        """x (N, *i_desc.shape) -> y (N, *o_desc.shape)."""
        x = cm.batch(x, self._in_shape, "x")
        v, _, counted = self._prepare(x)
        y = reduce(v, self.function, self._axes, epsilon=self.epsilon, counted=counted)
        return cm.from_dims(y, self.params.o_desc).astype(x.dtype, copy=False)

    def apply_backward(self, x: np.ndarray, y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False):
        """(d_in (N, *i_desc.shape), d_weights (w_desc view, summed over the batch), None).

        x is needed (every derivative but Sum's and Mean's reads it); y is recomputed when None.
        """
        require(not bias_grad, "bias_delta was asked but a reduction filter has no bias")
        require(not weights_grad or self._weights is not None,
                "weights_delta was asked but this reduction has no weights (w_desc without data)")
        require(not (input_grad or weights_grad) or self.function not in NOT_DIFFERENTIABLE,
                f"reduce_func {NAMES[self.function]} has no gradient")
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        if not (input_grad or weights_grad):
            return None, None, None
        require(x is not None, "x (the forward input) is needed for the reduction backward")
        x = cm.batch(x, self._in_shape, "x", d_out.shape[0])
        dtype = np.result_type(x, d_out)
        x = x.astype(dtype, copy=False)
        v, w, counted = self._prepare(x)
        y_dims = reduce(v, self.function, self._axes, epsilon=self.epsilon, counted=counted)
        d_y = cm.to_dims(d_out.astype(dtype, copy=False), self.params.o_desc)
        d_v = reduce_backward(v, y_dims, d_y, self.function, self._axes, epsilon=self.epsilon, counted=counted)
        d_in = d_w = None
        if input_grad:
            d_in = cm.from_dims(d_v if w is None else d_v * w, self.params.i_desc)
        if weights_grad:
            g = (d_v * cm.to_dims(x, self.params.i_desc)).sum(axis=0)
            axes = cm.dims_axes(given(self.params.w_desc, "weights_grad needs w_desc"))
            d_w = np.ascontiguousarray(np.transpose(g, tuple(axes.index(a) for a in range(len(axes)))))
        return d_in, d_w, None


def direct_apply(params: ReductionParameters, x: np.ndarray) -> np.ndarray:
    """BNNSDirectApplyReduction: create, apply once, forget."""
    return ReductionFilter(params).apply(x)


# ---------------------------------------------------------------------------------------- private
def _arg_extreme(v: np.ndarray, axes: tuple, largest: bool) -> np.ndarray:
    """Index (as v's dtype) of the first max/min within the reduced block; v is in BNNS dimension
    order and the block is numbered with the lowest reduced dimension fastest."""
    kept = [a for a in range(v.ndim) if a not in axes]
    moved = np.transpose(v, kept + list(reversed(axes)))      # size[0] fastest within the block
    flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
    index = (np.argmax if largest else np.argmin)(flat, axis=-1)
    out_shape = tuple(1 if a in axes else v.shape[a] for a in range(v.ndim))
    return index.astype(v.dtype).reshape(out_shape)
