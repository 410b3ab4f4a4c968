"""BNNS products of tensors: BroadcastMatMul, TensorContraction and Gram (bnns.md 2.1).

    BroadcastMatMul     O = alpha * op(A) @ op(B) + beta * O,   op = transpose when transA / transB
    TensorContraction   O = alpha * einsum(operation)(A[, B]) + beta * O
    Gram                G[f, c] = alpha * sum_s X[f, s] * X[c, s]    (per sample)

``BNNSFilterCreateLayerBroadcastMatMul`` / ``...TensorContraction`` / ``...Gram`` +
``BNNSFilterApply[TwoInput]Batch`` / ``BNNSFilterApplyBackward[TwoInput]Batch``. Operands are
arrays of shape (N, *desc.shape) (the logical NumPy view of each descriptor, layout.py), except an
operand marked as weights (``a_is_weights`` / ``b_is_weights``, or the ``w_`` prefix in a
contraction string), whose values come from its descriptor's data, are shared by the whole batch,
and whose gradient is summed over the batch (BNNS's Parameter rule, bnns.md 6.8).

Backward (C = alpha * dL/dO):

    BroadcastMatMul   dL/dop(A) = C @ op(B)^T,   dL/dop(B) = op(A)^T @ C, each summed over the
                      axes its operand was broadcast along (and the batch, for weights)
    TensorContraction dL/dA = einsum(C, B -> A's indices), summed/broadcast likewise
    Gram              dL/dX = alpha * (dG + dG^T) @ X

Notes
-----
Semantics from Apple's bnns_structures.h comments (BroadcastMatMul, TensorContraction and Gram
parameter structs); conventions chosen where it is silent are marked (chosen):

* Index order (chosen, UNCONFIRMED): index letters and "the last two indices" follow each
  operand's **logical NumPy view** (layout.py), first letter = slowest axis, as ``np.einsum`` on
  the views. For RowMajorMatrix size (cols, rows) and the *LastMajor layouts the matrix is then
  size[1] rows x size[0] columns; a ColumnMajorMatrix view is (cols, rows), i.e. already
  transposed: use transA / transB for it. With this one rule BroadcastMatMul equals the
  contraction ``"a_*ik, b_*kj -> c_*ij"`` and Gram equals ``"x_*ijf, x_*ijc -> G_*fc"``, as the
  header states.
* BroadcastMatMul: the indices before the last two are matched from the back and broadcast (a
  missing or size-1 axis repeats); the output has exactly the broadcast shape. ``quadratic``
  multiplies A by itself (B and iB_desc are not read) and backward returns the sum of both
  uses as d_a. ``a_is_weights`` / ``b_is_weights``: that operand comes from its descriptor's data.
* ``beta`` must be 0 or 1 (header); 1 adds the output buffer's previous contents, so it needs
  ``out=`` (the buffer). beta gets no gradient.
* Contraction strings: ``"<name>_<indices>, <name>_<indices> -> <name>_<indices>"``. The name
  ``w`` marks weights (at most one input); other names have no effect, except that two inputs with
  the same name are one tensor contracted with itself (one operand, applied with one input; its
  gradient sums both uses). Indices are lower-case letters; letters absent from the output are
  summed; matched letters must have equal extents or 1 (broadcast). ``*`` stands for any number of
  broadcast axes, first or last in every term that has it, and on both sides of ``->`` (never
  summed). A letter repeated within one term (a diagonal) is refused (chosen).
* Gram: rank >= 3; G has shape (*lead, F, F) for x of shape (*lead, i, j, F).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Optional

import numpy as np

from . import _common as cm
from .errors import InternalError, InvalidArgumentError, given, require
from .layout import Descriptor
from .params import BroadcastMatMulParameters, GramParameters, TensorContractionParameters


# ============================================================================ kernels
def matmul(a: np.ndarray, b: np.ndarray, *, alpha: float = 1.0, trans_a: bool = False,
           trans_b: bool = False, out: Optional[np.ndarray] = None) -> np.ndarray:
    """alpha * op(a) @ op(b) with NumPy broadcasting of the leading axes.

    a : (..., M, K), or (..., K, M) with trans_a;  b : (..., K, P), or (..., P, K) with trans_b.
    Returns (..., M, P), written into ``out`` when given (of that shape and dtype).
    """
    a_op = np.swapaxes(a, -1, -2) if trans_a else a
    b_op = np.swapaxes(b, -1, -2) if trans_b else b
    y = _product(a_op, b_op, out)
    if alpha != 1.0:
        y *= y.dtype.type(alpha)
    return y


def matmul_backward(a: Optional[np.ndarray], b: Optional[np.ndarray], d_out: np.ndarray, *,
                    alpha: float = 1.0, trans_a: bool = False, trans_b: bool = False,
                    a_grad: bool = True, b_grad: bool = True):
    """(dL/da, dL/db) of :func:`matmul`, each summed to its operand's shape (a needs b, b needs a).

    Returns None for what was not asked.
    """
    c = d_out * d_out.dtype.type(alpha) if alpha != 1.0 else d_out
    d_a = d_b = None
    # Each gradient is computed in its operand's own orientation (dL/da = (dL/dop(a))^T when
    # transposed, i.e. op(b) c^T), so no transposed copy is made afterwards.
    if a_grad:
        a, b = given(a, "the gradient of a needs a's shape"), given(b, "the gradient of a needs b")
        b_op = np.swapaxes(b, -1, -2) if trans_b else b
        if trans_a:
            g = _product(b_op, np.swapaxes(c, -1, -2))          # (..., K, M)
        else:
            g = _product(c, np.swapaxes(b_op, -1, -2))          # (..., M, K)
        d_a = _sum_to(g, a.shape)
    if b_grad:
        a, b = given(a, "the gradient of b needs a"), given(b, "the gradient of b needs b's shape")
        a_op = np.swapaxes(a, -1, -2) if trans_a else a
        if math.prod(b.shape[:-2]) == 1 and a_op.shape[:-2] == c.shape[:-2]:
            # b is shared by every matrix (weights): one GEMM over the stacked rows, no
            # per-matrix partial products to sum afterwards.
            k, cols = a_op.shape[-1], c.shape[-1]
            rows_a, rows_c = a_op.reshape(-1, k), c.reshape(-1, cols)
            g = (rows_c.T @ rows_a if trans_b else rows_a.T @ rows_c).reshape(b.shape)
        elif trans_b:
            g = _sum_to(_product(np.swapaxes(c, -1, -2), a_op), b.shape)    # (..., P, K)
        else:
            g = _sum_to(_product(np.swapaxes(a_op, -1, -2), c), b.shape)    # (..., K, P)
        d_b = g
    return (None if d_a is None else np.ascontiguousarray(d_a),
            None if d_b is None else np.ascontiguousarray(d_b))


def gram(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """G = alpha * X X^T per sample; x of shape (N, F, S) -> (N, F, F)."""
    y = np.matmul(x, np.swapaxes(x, 1, 2))
    if alpha != 1.0:
        y *= y.dtype.type(alpha)
    return y


def gram_backward(x: np.ndarray, d_out: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """dL/dx = alpha (dG + dG^T) X; x (N, F, S), d_out (N, F, F)."""
    sym = d_out + np.swapaxes(d_out, 1, 2)
    if alpha != 1.0:
        sym *= sym.dtype.type(alpha)
    return np.matmul(sym, x)


# ============================================================================ filters
class _TwoInputFilter:
    """What BroadcastMatMul and TensorContraction share: operands that are samples or weights, the
    beta accumulation into ``out`` and the (d_a, d_b) backward."""

    kind = "two-input"
    _names: tuple[str, ...] = ("a", "b")
    params: BroadcastMatMulParameters | TensorContractionParameters
    _beta: float

    def _init_operands(self, descs, is_weights, out_desc):
        self._shapes = tuple(cm.check_desc(d, f"i{n.upper()}_desc") for d, n in zip(descs, self._names))
        self._out_shape = cm.check_desc(out_desc, "o_desc")
        self._weights = {}
        for name, desc, w in zip(self._names, descs, is_weights):
            if w:
                self._weights[name] = cm.weights(desc, f"i{name.upper()}_desc (weights)")
        require(len(self._weights) < len(descs),
                f"every operand of this {self.kind} is weights; at least one must be a per-sample input")

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    def parameters(self) -> dict:
        """{"a" or "b": live float32 weights} for the operands that are weights."""
        return dict(self._weights)

    @property
    def per_sample(self) -> tuple:
        """(A, B): whether each operand is a per-sample input of apply (False: weights, or not read)."""
        return tuple(k < len(self._names) and self._names[k] not in self._weights for k in range(2))

    @property
    def single_operand(self) -> int:
        """0 (A) or 1 (B): the one per-sample operand, for BNNSFilterApply[Backward]Batch."""
        sample = [k for k, s in enumerate(self.per_sample) if s]
        require(len(sample) == 1, f"this {self.kind} filter takes two per-sample inputs: use "
                                  "BNNSFilterApplyTwoInputBatch / BNNSFilterApplyBackwardTwoInputBatch")
        return sample[0]

    @property
    def input_desc(self) -> Descriptor:
        """The one per-sample operand's descriptor (see single_operand)."""
        return given((self.params.ia_desc, self.params.ib_desc)[self.single_operand], "the per-sample operand",
                     error=InternalError)

    @property
    def weights_operand(self) -> Optional[str]:
        """"a" or "b", the operand held as weights (its gradient is BNNS's weights_delta), or None."""
        return next(iter(self._weights), None)

    def _operands(self, inputs, name, *, needed=None, batch_size=None):
        """Sample operands (N, *shape) and weights (shape) in one dtype; None where allowed."""
        arrays: list[Optional[np.ndarray]] = []
        n = batch_size
        for k, (op_name, value) in enumerate(zip(self._names, inputs)):
            if op_name in self._weights:
                require(value is None, f"{name} {op_name} is weights (from i{op_name.upper()}_desc "
                                       f"data); pass None")
                arrays.append(None)
                continue
            if value is None:
                require(needed is not None and not needed[k],
                        f"{name} {op_name} (a per-sample input of this {self.kind}) is needed here")
                arrays.append(None)
                continue
            value = cm.batch(value, self._shapes[k], op_name, n)
            n = value.shape[0]
            arrays.append(value)
        dtypes = [a.dtype for a in arrays if a is not None]
        dtype = np.float64 if any(d == np.float64 for d in dtypes) else np.float32
        out = []
        for op_name, value in zip(self._names, arrays):
            if op_name in self._weights:
                value = self._weights[op_name].astype(dtype, copy=False)
            elif value is not None:
                value = value.astype(dtype, copy=False)
            out.append(value)
        return out, n

    def _accumulate(self, y, out, n):
        beta = self._beta
        if out is None:
            require(beta == 0.0, f"beta {beta} adds the output's previous contents: pass out=")
            return y
        require(isinstance(out, np.ndarray) and out.shape == (n,) + self._out_shape
                and out.flags.writeable,
                f"out has shape {getattr(out, 'shape', None)}; expected a writable array of shape "
                f"{(n,) + self._out_shape}")
        if beta == 0.0:
            out[...] = y
        else:
            out *= beta
            out += y
        return out

    def _grad_flags(self, a_grad, b_grad):
        wanted = (bool(a_grad), bool(b_grad))
        return wanted, tuple(any(w for j, w in enumerate(wanted) if j != k) for k in range(2))


class BroadcastMatMulFilter(_TwoInputFilter):
    """O = alpha * op(A) @ op(B) + beta * O over broadcast batch axes; A or B may be weights."""

    kind = "BroadcastMatMul"
    params: BroadcastMatMulParameters

    def __init__(self, params: BroadcastMatMulParameters):
        self.params = p = params
        self._alpha = cm.as_real(p.alpha, "alpha")
        self._beta = cm.as_real(p.beta, "beta")
        require(self._beta in (0.0, 1.0), f"beta {self._beta} must be 0 or 1")
        self.quadratic = bool(p.quadratic)
        if self.quadratic:
            # op(A) @ op(A): B is A (iB_desc and b_is_weights are not read), its gradient the sum.
            require(not p.a_is_weights, "quadratic with a_is_weights leaves no per-sample input")
            self._names = ("a",)
            self._init_operands((p.ia_desc,), (False,), p.o_desc)
            self._shapes = self._shapes * 2
        else:
            require(p.ib_desc is not None, "iB_desc is not set; only a quadratic product leaves it out")
            self._init_operands((p.ia_desc, p.ib_desc), (p.a_is_weights, p.b_is_weights), p.o_desc)
        a, b = self._shapes
        for name, shape in (("iA_desc", a), ("iB_desc", b)):
            require(len(shape) >= 2, f"{name} has shape {shape}; a matrix operand needs rank >= 2")
        m, k_a = (a[-1], a[-2]) if p.trans_a else (a[-2], a[-1])
        k_b, cols = (b[-1], b[-2]) if p.trans_b else (b[-2], b[-1])
        require(k_a == k_b,
                f"op(A) is {m}x{k_a} (iA_desc shape {a}, transA {bool(p.trans_a)}) but op(B) is "
                f"{k_b}x{cols} (iB_desc shape {b}, transB {bool(p.trans_b)}): inner sizes differ")
        try:
            batch_shape = np.broadcast_shapes(a[:-2], b[:-2])
        except ValueError:
            raise InvalidArgumentError(
                f"batch axes {a[:-2]} of iA_desc and {b[:-2]} of iB_desc do not broadcast") from None
        expected = tuple(batch_shape) + (m, cols)
        require(self._out_shape == expected,
                f"o_desc shape {self._out_shape} ({p.o_desc.describe()}) differs from the product's "
                f"shape {expected} for iA_desc {a} and iB_desc {b}")
        rank = len(self._out_shape)
        self._aligned = tuple((1,) * (rank - len(s)) + tuple(s) for s in (a, b))

    @property
    def input_descs(self) -> tuple:
        return self.params.ia_desc, self.params.ib_desc

    def apply(self, a: Optional[np.ndarray], b: Optional[np.ndarray], *,
              out: Optional[np.ndarray] = None) -> np.ndarray:
        """BNNSFilterApplyTwoInputBatch. a : (N, *iA_desc.shape) or None (weights), b likewise.
        Returns (N, *o_desc.shape); written into ``out`` when given (needed when beta != 0)."""
        a, b, n = self._pair(a, b, "apply")
        a, b = self._align(a, b, n)
        shape = (n,) + self._out_shape
        if (self._beta == 0.0 and isinstance(out, np.ndarray) and out.shape == shape and out.dtype == a.dtype
                and out.flags.writeable):   # the product written where the caller wants it
            return matmul(a, b, alpha=self._alpha, trans_a=self.params.trans_a, trans_b=self.params.trans_b, out=out)
        y = matmul(a, b, alpha=self._alpha, trans_a=self.params.trans_a, trans_b=self.params.trans_b)
        return self._accumulate(y, out, n)

    def apply_backward(self, a: Optional[np.ndarray], b: Optional[np.ndarray], d_out: np.ndarray, *,
                       a_grad: bool = True, b_grad: bool = True):
        """BNNSFilterApplyBackwardTwoInputBatch: (d_a, d_b), None for what was not asked.

        d_out : (N, *o_desc.shape). d_a needs b and d_b needs a (a weights operand comes from the
        filter). A per-sample gradient is (N, *shape); a weights gradient is (shape), summed over
        the batch.
        """
        if self.quadratic:
            wanted, needed = (bool(a_grad), bool(a_grad)), (bool(a_grad), bool(a_grad))
        else:
            wanted, needed = self._grad_flags(a_grad, b_grad)
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        n = d_out.shape[0]
        a, b, _ = self._pair(a, b, "apply_backward", needed=needed, batch_size=n)
        d_out = d_out.astype(np.result_type(d_out, *(v for v in (a, b) if v is not None)), copy=False)
        a_al, b_al = self._align(a, b, n)
        p = self.params
        d_a, d_b = matmul_backward(a_al, b_al, d_out, alpha=self._alpha, trans_a=p.trans_a,
                                   trans_b=p.trans_b, a_grad=wanted[0], b_grad=wanted[1])
        if self.quadratic:
            d_a = None if d_a is None else (d_a + d_b).reshape((n,) + self._shapes[0])
            return d_a, None
        grads = []
        for k, (name, g) in enumerate(zip(self._names, (d_a, d_b))):
            if g is not None:
                shape = self._shapes[k]
                g = g.reshape(shape if name in self._weights else (n,) + shape)
            grads.append(g)
        return tuple(grads)

    def _pair(self, a, b, name, needed=None, batch_size=None):
        """(a, b, N); with quadratic, b must be None and is a."""
        if self.quadratic:
            require(b is None, f"{name} b is given but a quadratic BroadcastMatMul multiplies A by itself")
            (a,), n = self._operands((a,), name, needed=needed and needed[:1], batch_size=batch_size)
            return a, a, n
        (a, b), n = self._operands((a, b), name, needed=needed, batch_size=batch_size)
        return a, b, n

    def _align(self, a, b, n):
        out = []
        for k, (name, v) in enumerate(zip(("a", "b"), (a, b))):
            name = name if not self.quadratic else "a"
            lead = (1,) if name in self._weights else (n,)
            if v is None:
                # the operand is not read (its own gradient needs only the other one): a
                # zero-stride stand-in that carries its shape
                v = np.broadcast_to(np.zeros((), np.float32), lead + self._aligned[k])
            out.append(v.reshape(lead + self._aligned[k]))
        return out


@dataclasses.dataclass(frozen=True)
class Term:
    """One term of a contraction string: its tensor name and indices ('*' = broadcast axes)."""

    name: str
    indices: str

    @property
    def is_weights(self) -> bool:
        return self.name == "w"

    @property
    def named(self) -> str:
        return self.indices.replace("*", "")

    @property
    def einsum(self) -> str:
        return self.indices.replace("*", "...")


_TERM = re.compile(r"^([A-Za-z][A-Za-z0-9]*)_([a-z*]*)$")


def parse_operation(operation: str) -> tuple:
    """``"a_ij, w_jk -> o_ik"`` -> (input Terms, output Term); InvalidArgumentError if malformed."""
    require(isinstance(operation, str), f"operation {operation!r} must be a string")
    text = operation.replace(" ", "")
    require(text.count("->") == 1, f"operation {operation!r} must have exactly one '->'")
    left, right = text.split("->")
    terms = []
    for part in left.split(",") + [right]:
        match = given(_TERM.match(part),
                      f"operation {operation!r}: term {part!r} is not <name>_<lower-case indices and '*'>")
        term = Term(match.group(1), match.group(2))
        require(term.indices.count("*") <= 1,
                f"operation {operation!r}: term {part!r} has more than one '*'")
        require(term.indices.count("*") == 0 or term.indices[0] == "*" or term.indices[-1] == "*",
                f"operation {operation!r}: '*' in term {part!r} must be the first or the last index")
        repeated = sorted({c for c in term.named if term.named.count(c) > 1})
        require(not repeated, f"operation {operation!r}: term {part!r} repeats index "
                              f"{''.join(repeated)} (diagonals are not supported)")
        terms.append(term)
    inputs, output = tuple(terms[:-1]), terms[-1]
    require(1 <= len(inputs) <= 2, f"operation {operation!r} must have one or two input terms before '->'")
    require(not all(t.is_weights for t in inputs),
            f"operation {operation!r}: at most one input may be weights (w_)")
    missing = sorted(set(output.named) - set("".join(t.named for t in inputs)))
    require(not missing, f"operation {operation!r}: output index {''.join(missing)} appears in no input")
    starred = [t for t in terms if "*" in t.indices]
    if starred:
        require("*" in output.indices and len(starred) > 1,
                f"operation {operation!r}: '*' stands for indices on both sides of '->' (never summed), "
                f"so the output and at least one input need it")
        require(len({t.indices[0] == "*" for t in starred if t.named}) <= 1,
                f"operation {operation!r}: '*' must be in the same position (first or last) in every term")
    return inputs, output


class TensorContractionFilter(_TwoInputFilter):
    """O = alpha * contraction(A[, B]) + beta * O, the contraction given by an einsum-like string."""

    kind = "TensorContraction"
    params: TensorContractionParameters
    _BATCH = "Z"          # the batch index added to per-sample terms (indices are lower-case)

    def __init__(self, params: TensorContractionParameters):
        self.params = p = params
        self._inputs, self._output = parse_operation(p.operation)
        self._alpha = cm.as_real(p.alpha, "alpha")
        self._beta = cm.as_real(p.beta, "beta")
        require(self._beta in (0.0, 1.0), f"beta {self._beta} must be 0 or 1")
        inputs = self._inputs
        # A tensor contracted with itself ("x_ijf, x_ijc -> G_fc") is one operand used twice.
        self.is_self_contraction = len(inputs) == 2 and inputs[0].name == inputs[1].name
        self._operand_of = (0, 0) if self.is_self_contraction else tuple(range(len(inputs)))
        count = max(self._operand_of) + 1
        if count == 2:
            require(p.ib_desc is not None, f"operation {p.operation!r} has two inputs but iB_desc is None")
        self._names = ("a", "b")[:count]
        descs = (p.ia_desc, p.ib_desc)[:count]
        self._init_operands(descs, tuple(inputs[k].is_weights for k in range(count)), p.o_desc)
        # Extents: equal per letter, or 1 (broadcast); '*' axes broadcast; the output has exactly those.
        extents: dict[str, int] = {}
        ellipses: list = []
        for k, term in enumerate(inputs):
            shape, name = self._shapes[self._operand_of[k]], ("iA_desc", "iB_desc")[self._operand_of[k]]
            named = term.named
            require(len(shape) == len(named) if "*" not in term.indices else len(shape) >= len(named),
                    f"{name} has rank {len(shape)} (shape {shape}) but term {term.name}_{term.indices} of "
                    f"{p.operation!r} names {len(named)} indices" + (" plus '*'" if "*" in term.indices else ""))
            axes = list(shape)
            if "*" in term.indices:
                extra = len(shape) - len(named)
                star = slice(0, extra) if term.indices[0] == "*" else slice(len(shape) - extra, len(shape))
                ellipses.append(tuple(axes[star]))
                del axes[star]
            for letter, extent in zip(named, axes):
                known = extents.setdefault(letter, extent)
                require(known == extent or 1 in (known, extent),
                        f"index {letter} of {p.operation!r} has extent {known} in one operand and "
                        f"{extent} in {name} (shape {shape}); extents must match or be 1")
                extents[letter] = max(known, extent)
        try:
            star_shape = tuple(np.broadcast_shapes(*ellipses)) if ellipses else ()
        except ValueError:
            raise InvalidArgumentError(f"the '*' axes {ellipses} of {p.operation!r} do not broadcast") from None
        expected: list[int] = []
        for c in self._output.indices:
            expected.extend(star_shape if c == "*" else (extents[c],))
        require(self._out_shape == tuple(expected),
                f"o_desc shape {self._out_shape} ({p.o_desc.describe()}) differs from the shape "
                f"{tuple(expected)} that {p.operation!r} gives for inputs {self._shapes}")

    @property
    def input_descs(self) -> tuple:
        return (self.params.ia_desc, self.params.ib_desc)[:len(self._names)]

    @property
    def arity(self) -> int:
        """Inputs per apply: 1 (one term, a self-contraction, or weights and one input) or 2."""
        return len(self._names) - len(self._weights)

    def _subscript(self, k: int) -> str:
        term = self._inputs[k]
        return ("" if term.is_weights else self._BATCH) + term.einsum

    def _out_subscript(self) -> str:
        return self._BATCH + self._output.einsum

    def apply(self, a: Optional[np.ndarray], b: Optional[np.ndarray] = None, *,
              out: Optional[np.ndarray] = None) -> np.ndarray:
        """BNNSFilterApply[TwoInput]Batch: a (N, *iA_desc.shape) or None for weights, b likewise
        (None when the filter has one operand). Returns (N, *o_desc.shape), into ``out`` if given."""
        operands = self._operands_of(a, b, "apply")
        terms = [operands[self._operand_of[k]] for k in range(len(self._inputs))]
        n = next(v.shape[0] for k, v in enumerate(terms) if not self._inputs[k].is_weights)
        spec = ",".join(self._subscript(k) for k in range(len(terms))) + "->" + self._out_subscript()
        y = np.einsum(spec, *terms, optimize=len(terms) > 1)
        if self._alpha != 1.0:
            y = y * y.dtype.type(self._alpha)
        return self._accumulate(np.ascontiguousarray(y), out, n)

    def apply_backward(self, a: Optional[np.ndarray], b: Optional[np.ndarray], d_out: np.ndarray, *,
                       a_grad: bool = True, b_grad: bool = True):
        """(d_a, d_b); None for what was not asked (d_b is always None with one operand). d_a
        needs b and d_b needs a; weights gradients are summed over the batch; a self-contraction's
        gradient is the sum over both of its uses."""
        count = len(self._names)
        wanted = (bool(a_grad), bool(b_grad) and count == 2)
        needed = [False] * count
        for k in range(len(self._inputs)):
            for j in range(len(self._inputs)):
                if j != k and wanted[self._operand_of[k]]:
                    needed[self._operand_of[j]] = True
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        n = d_out.shape[0]
        operands, _ = self._operands((a, b)[:count], "apply_backward", needed=needed, batch_size=n)
        if count == 1:
            require(b is None, f"b is given but operation {self.params.operation!r} has one operand")
        dtype = np.result_type(d_out, *(v for v in operands if v is not None))
        c = d_out.astype(dtype, copy=False)
        if self._alpha != 1.0:
            c = c * dtype.type(self._alpha)
        grads = [None, None]
        for k in range(len(self._inputs)):
            o = self._operand_of[k]
            if not wanted[o]:
                continue
            others = [(self._subscript(j), operands[self._operand_of[j]])
                      for j in range(len(self._inputs)) if j != k]
            available = self._out_subscript() + "".join(sub for sub, _ in others)
            tokens = self._subscript(k).replace("...", "*")
            kept = [t for t in tokens if (t == "*" and "..." in available) or (t != "*" and t in available)]
            spec = (",".join([self._out_subscript()] + [sub for sub, _ in others]) + "->"
                    + "".join(kept).replace("*", "..."))
            g = np.einsum(spec, c, *[v for _, v in others], optimize=len(self._inputs) > 1)
            g = self._expand(g, tokens, kept, o, n)
            grads[o] = g if grads[o] is None else grads[o] + g
        return tuple(grads)

    def _operands_of(self, a, b, name):
        if len(self._names) == 1:
            require(b is None, f"b is given but operation {self.params.operation!r} has one operand")
            operands, _ = self._operands((a,), name)
        else:
            operands, _ = self._operands((a, b), name)
        return operands

    def _expand(self, g, tokens, kept, o, n):
        """The operand's gradient from g (axes ``kept``): letters the forward summed away come back
        broadcast, axes the operand had as 1 (or lacked, for '*') are summed."""
        shape = (() if o in self._weight_index else (n,)) + self._shapes[o]
        star_len = len(shape) - (len(tokens) - ("*" in tokens))
        pos = 0
        for t in tokens:
            if t == "*":
                if "*" in kept:
                    full_star = g.ndim - (len(kept) - 1)
                    if full_star > star_len:
                        g = g.sum(axis=tuple(range(pos, pos + full_star - star_len)))
                else:
                    for _ in range(star_len):
                        g = np.expand_dims(g, pos)
                pos += star_len
            else:
                if t not in kept:
                    g = np.expand_dims(g, pos)
                pos += 1
        g = _sum_to(g, shape)
        return np.ascontiguousarray(np.broadcast_to(g, shape))

    @property
    def _weight_index(self) -> tuple:
        return tuple(k for k, name in enumerate(self._names) if name in self._weights)


class GramFilter:
    """G = alpha * X X^T per sample, the contraction "x_*ijf, x_*ijc -> G_*fc" (bnns_structures.h)."""

    kind = "Gram"

    def __init__(self, params: GramParameters):
        self.params = p = params
        shape = cm.check_desc(p.i_desc, "i_desc")
        out_shape = cm.check_desc(p.o_desc, "o_desc")
        require(len(shape) >= 3,
                f"i_desc has shape {shape}; Gram needs rank >= 3 (x_*ijf: positions i, j and features f)")
        self._alpha = cm.as_real(p.alpha, "alpha")
        lead, features = shape[:-3], shape[-1]
        expected = lead + (features, features)
        require(out_shape == expected,
                f"o_desc shape {out_shape} ({p.o_desc.describe()}) must be {expected}: the Gram matrix "
                f"of the {features} features (last NumPy axis) of i_desc {shape}")
        self._shape, self._out_shape = shape, out_shape

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    def parameters(self) -> dict:
        return {}

    def _matrices(self, x):
        """(N, *lead, i, j, F) -> (N * prod(lead), F, i * j): features first for the GEMM."""
        features = self._shape[-1]
        return np.swapaxes(x.reshape(-1, self._shape[-3] * self._shape[-2], features), 1, 2)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """x (N, *i_desc.shape) -> G (N, *o_desc.shape)."""
        x = cm.batch(x, self._shape, "x")
        return gram(self._matrices(x), alpha=self._alpha).reshape((x.shape[0],) + self._out_shape)

    def apply_backward(self, x: np.ndarray, y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False):
        """(d_in (N, *i_desc.shape), None, None); needs x (y is not read)."""
        cm.no_weight_gradients(self.kind, weights_grad, bias_grad)
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        if not input_grad:
            return None, None, None
        require(x is not None, "x (the forward input) is needed for the Gram backward")
        x = cm.batch(x, self._shape, "x", d_out.shape[0])
        dtype = np.result_type(x, d_out)
        features = self._shape[-1]
        g = gram_backward(self._matrices(x.astype(dtype, copy=False)),
                          d_out.astype(dtype, copy=False).reshape(-1, features, features), alpha=self._alpha)
        return np.ascontiguousarray(np.swapaxes(g, 1, 2)).reshape(x.shape), None, None


# ============================================================================ private
def _product(x: np.ndarray, y: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """np.matmul(x, y) (into ``out`` when given), as one GEMM when one side is a single matrix
    shared by every batch item (NumPy's stacked matmul of a broadcast operand runs far below BLAS
    speed): the stacked side's matrices are laid side by side."""
    if x.ndim <= 2 and y.ndim <= 2:
        return np.matmul(x, y, out=out)
    lead = tuple(np.broadcast_shapes(x.shape[:-2], y.shape[:-2]))
    m, k, p = x.shape[-2], x.shape[-1], y.shape[-1]
    if math.prod(y.shape[:-2]) == 1 and x.shape[:-2] == lead:              # X (..., M, K) @ W (K, P)
        flat_out = out.reshape(-1, p) if out is not None and out.flags.c_contiguous else None
        z = np.matmul(x.reshape(-1, k), y.reshape(k, p), out=flat_out).reshape(lead + (m, p))
    elif math.prod(x.shape[:-2]) == 1 and y.shape[:-2] == lead:            # W (M, K) @ Y (..., K, P)
        stacked = np.swapaxes(y, -1, -2).reshape(-1, k) @ x.reshape(m, k).T  # (... * P, M)
        z = np.swapaxes(stacked.reshape(lead + (p, m)), -1, -2)
    else:
        return np.matmul(x, y, out=out)
    if out is not None and not np.shares_memory(z, out):
        out[...] = z
        return out
    return z if out is None else out


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum g down to ``shape`` (same rank, or fewer leading axes): NumPy broadcasting undone."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, (have, want) in enumerate(zip(g.shape, shape)) if want == 1 and have != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g
