"""BNNS arithmetic filter: elementwise unary, binary and ternary functions (bnns.md 2.1, 3.5).

    y = act(f(in0[, in1[, in2]]))

``BNNSFilterCreateLayerArithmetic`` + ``BNNSArithmeticFilterApplyBatch`` /
``BNNSArithmeticFilterApplyBackwardBatch``. One table, ``FUNCTIONS``, keyed by Apple's
BNNSArithmeticFunction raw value, holds each function's forward and the derivative with respect to
each operand (None where the function has no useful derivative).

Operands (BNNSDescriptorType): a Sample operand is per batch item, x of shape (N, *desc.shape);
a Constant or a Parameter operand is one tensor (desc.data) broadcast over the batch. A Parameter
gets a gradient summed over the batch; a Constant gets none. Operand shapes broadcast NumPy-style
against each other (right-aligned, each dimension equal or 1) and the broadcast shape must be the
output's; a gradient is summed back over the dimensions its operand was broadcast along.

Notes
-----
Conventions chosen where BNNS is silent (PyTorch's, unless said):

* Out-of-domain inputs give IEEE results (NaN, +-inf) without an error, e.g. Log of a negative
  number, Sqrt(-1), Divide by 0. Domains where the derivative is finite: Sqrt, Rsqrt, Log, Log2
  x > 0; Asin, Acos, Atanh |x| < 1; Acosh x > 1; Pow d/dbase needs base > 0 unless the exponent is
  an integer, d/dexponent needs base > 0.
* Round is round-half-to-even (``torch.round``, ``np.rint``). FloorDivide is ``np.floor_divide``
  (Python's ``//``, ``torch.div(rounding_mode="floor")``); TruncDivide is trunc(a / b);
  TruncRemainder is ``fmod`` (the sign of the dividend).
* Non-differentiable: asking for the gradient of Ceil, Floor, Round, Sign, FloorDivide,
  TruncDivide, of TruncRemainder with respect to the divisor, or of Select with respect to the
  condition is an InvalidArgumentError (not silent zeros). TruncRemainder with respect to the
  dividend is 1. (torch would give zeros, and -trunc(a / b) for fmod's divisor.)
* Sub-gradients as torch: Abs'(0) = 0; Minimum/Maximum at a tie give half the gradient to each
  operand; Pow d/dbase is 0 where the exponent is 0, d/dexponent is 0 where base == 0 and
  exponent >= 0.
* MultiplyNoNaN(a, b) = DivideNoNaN(a, b) = 0 where b == 0 (even if a is NaN or inf), and there
  neither operand gets a gradient (masked elements pass nothing back; TensorFlow would give
  MultiplyNoNaN's b the gradient a).
* Select(cond, a, b) = a where cond != 0, else b; the gradient goes to a or b.
* Erf is the activation table's (kernels/activation.py: float64 series and continued fraction).
* Operands that are the same buffer get one gradient each; summing them is the caller's business.
* The output descriptor type must be Sample. Backward needs the Sample inputs, except for Add,
  Subtract and Negate with an activation whose derivative comes from y.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np

from . import activation as act_mod
from .activation import Activation
from .errors import InternalError, InvalidArgumentError, given, require
from .layout import Descriptor, numpy_dtype
from .params import ArithmeticParameters

CONSTANT, SAMPLE, PARAMETER = 0, 1, 2   # BNNSDescriptorType
OPERAND_TYPE_NAMES = {CONSTANT: "Constant", SAMPLE: "Sample", PARAMETER: "Parameter"}

# BNNSArithmeticFunction raw values (bnns.md 3.5)
ADD, SUBTRACT, MULTIPLY, DIVIDE = 0, 1, 2, 3
SQUARE_ROOT, RECIPROCAL_SQUARE_ROOT, CEIL, FLOOR, ROUND = 4, 5, 6, 7, 8
SIN, COS, TAN, ASIN, ACOS, ATAN, SINH, COSH, TANH, ASINH, ACOSH, ATANH = range(9, 21)
POW, EXP, EXP2, LOG, LOG2 = 21, 22, 23, 24, 25
MULTIPLY_NO_NAN, DIVIDE_NO_NAN, MULTIPLY_ADD, MINIMUM, MAXIMUM, SELECT = 26, 27, 28, 29, 30, 31
ABS, SIGN, NEGATE, RECIPROCAL, SQUARE = 32, 33, 34, 35, 36
FLOOR_DIVIDE, TRUNC_DIVIDE, TRUNC_REMAINDER, ERF = 37, 38, 39, 40


@dataclasses.dataclass(frozen=True)
class ArithmeticKind:
    """One row of the function table.

    forward(*operands) -> f.
    grads[k](g, operands, f) -> dL/d(operand k) at the broadcast shape, given g = dL/df and
        f = the function's output; None where operand k has no useful derivative.
    uses_output: some grad reads f (then f is taken from y or recomputed).
    needs_inputs: the grads read the operands (False for Add, Subtract, Negate).
    """

    name: str
    forward: Callable
    grads: tuple
    uses_output: bool = False
    needs_inputs: bool = True

    @property
    def arity(self) -> int:
        return len(self.grads)


_LN2 = math.log(2.0)
_ERF = Activation(act_mod.ERF)      # one erf in the code base: the activation table's


def _unary(name, forward, grad, uses_output=False):
    return ArithmeticKind(name, forward, (grad,), uses_output)


def _where_nonzero(b, value):
    # value where b != 0, else 0: the "NoNaN" mask (0 even where value is NaN or inf).
    return np.where(b != 0, value, 0).astype(np.result_type(value), copy=False)


def _tie_share(a, b):
    # torch's minimum/maximum backward: the winner gets the gradient, a tie splits it.
    return np.where(a == b, 0.5, 1.0).astype(np.result_type(a, b), copy=False)


def _pow_grad_base(g, ops, f):
    a, b = ops
    return np.where(b == 0, 0, g * b * np.power(a, b - 1))


def _pow_grad_exponent(g, ops, f):
    a, b = ops
    return np.where((a == 0) & (b >= 0), 0, g * f * np.log(a))


FUNCTIONS: dict[int, ArithmeticKind] = {
    # ---- binary
    ADD: ArithmeticKind("Add", lambda a, b: a + b,
                        (lambda g, o, f: g, lambda g, o, f: g), needs_inputs=False),
    SUBTRACT: ArithmeticKind("Subtract", lambda a, b: a - b,
                             (lambda g, o, f: g, lambda g, o, f: -g), needs_inputs=False),
    MULTIPLY: ArithmeticKind("Multiply", lambda a, b: a * b,
                             (lambda g, o, f: g * o[1], lambda g, o, f: g * o[0])),
    DIVIDE: ArithmeticKind("Divide", lambda a, b: a / b,
                           (lambda g, o, f: g / o[1], lambda g, o, f: -g * f / o[1]),
                           uses_output=True),
    POW: ArithmeticKind("Pow", np.power, (_pow_grad_base, _pow_grad_exponent), uses_output=True),
    MULTIPLY_NO_NAN: ArithmeticKind(
        "MultiplyNoNaN", lambda a, b: _where_nonzero(b, a * b),
        (lambda g, o, f: _where_nonzero(o[1], g * o[1]),
         lambda g, o, f: _where_nonzero(o[1], g * o[0]))),
    DIVIDE_NO_NAN: ArithmeticKind(
        "DivideNoNaN", lambda a, b: _where_nonzero(b, a / b),
        (lambda g, o, f: _where_nonzero(o[1], g / o[1]),
         lambda g, o, f: _where_nonzero(o[1], -g * o[0] / (o[1] * o[1])))),
    MINIMUM: ArithmeticKind(
        "Minimum", np.minimum,
        (lambda g, o, f: g * (o[0] <= o[1]) * _tie_share(*o),
         lambda g, o, f: g * (o[1] <= o[0]) * _tie_share(*o))),
    MAXIMUM: ArithmeticKind(
        "Maximum", np.maximum,
        (lambda g, o, f: g * (o[0] >= o[1]) * _tie_share(*o),
         lambda g, o, f: g * (o[1] >= o[0]) * _tie_share(*o))),
    FLOOR_DIVIDE: ArithmeticKind("FloorDivide", np.floor_divide, (None, None)),
    TRUNC_DIVIDE: ArithmeticKind("TruncDivide", lambda a, b: np.trunc(a / b), (None, None)),
    TRUNC_REMAINDER: ArithmeticKind("TruncRemainder", np.fmod,
                                    (lambda g, o, f: g, None), needs_inputs=False),
    # ---- unary
    SQUARE_ROOT: _unary("SquareRoot", np.sqrt, lambda g, o, f: g * 0.5 / f, uses_output=True),
    RECIPROCAL_SQUARE_ROOT: _unary("ReciprocalSquareRoot", lambda a: 1 / np.sqrt(a),
                                   lambda g, o, f: g * -0.5 * f * f * f, uses_output=True),
    CEIL: _unary("Ceil", np.ceil, None),
    FLOOR: _unary("Floor", np.floor, None),
    ROUND: _unary("Round", np.rint, None),
    SIN: _unary("Sin", np.sin, lambda g, o, f: g * np.cos(o[0])),
    COS: _unary("Cos", np.cos, lambda g, o, f: -g * np.sin(o[0])),
    TAN: _unary("Tan", np.tan, lambda g, o, f: g * (1 + f * f), uses_output=True),
    ASIN: _unary("Asin", np.arcsin, lambda g, o, f: g / np.sqrt(1 - o[0] * o[0])),
    ACOS: _unary("Acos", np.arccos, lambda g, o, f: -g / np.sqrt(1 - o[0] * o[0])),
    ATAN: _unary("Atan", np.arctan, lambda g, o, f: g / (1 + o[0] * o[0])),
    SINH: _unary("Sinh", np.sinh, lambda g, o, f: g * np.cosh(o[0])),
    COSH: _unary("Cosh", np.cosh, lambda g, o, f: g * np.sinh(o[0])),
    TANH: _unary("Tanh", np.tanh, lambda g, o, f: g * (1 - f * f), uses_output=True),
    ASINH: _unary("Asinh", np.arcsinh, lambda g, o, f: g / np.sqrt(o[0] * o[0] + 1)),
    ACOSH: _unary("Acosh", np.arccosh, lambda g, o, f: g / np.sqrt(o[0] * o[0] - 1)),
    ATANH: _unary("Atanh", np.arctanh, lambda g, o, f: g / (1 - o[0] * o[0])),
    EXP: _unary("Exp", np.exp, lambda g, o, f: g * f, uses_output=True),
    EXP2: _unary("Exp2", np.exp2, lambda g, o, f: g * f * _LN2, uses_output=True),
    LOG: _unary("Log", np.log, lambda g, o, f: g / o[0]),
    LOG2: _unary("Log2", np.log2, lambda g, o, f: g / (o[0] * _LN2)),
    ABS: _unary("Abs", np.abs, lambda g, o, f: g * np.sign(o[0])),
    SIGN: _unary("Sign", np.sign, None),
    NEGATE: ArithmeticKind("Negate", np.negative, (lambda g, o, f: -g,), needs_inputs=False),
    RECIPROCAL: _unary("Reciprocal", lambda a: 1 / a, lambda g, o, f: -g * f * f,
                       uses_output=True),
    SQUARE: _unary("Square", np.square, lambda g, o, f: 2 * g * o[0]),
    ERF: _unary("Erf", lambda a: act_mod.forward(a, _ERF),
                lambda g, o, f: g * given(act_mod.kind_of(_ERF.function).grad_from_x, "Erf's derivative", error=InternalError)(
                    o[0], _ERF.alpha, _ERF.beta)),
    # ---- ternary
    MULTIPLY_ADD: ArithmeticKind(
        "MultiplyAdd", lambda a, b, c: a * b + c,
        (lambda g, o, f: g * o[1], lambda g, o, f: g * o[0], lambda g, o, f: g)),
    SELECT: ArithmeticKind(
        "Select", lambda c, a, b: np.where(c != 0, a, b),
        (None,
         lambda g, o, f: np.where(o[0] != 0, g, 0),
         lambda g, o, f: np.where(o[0] != 0, 0, g))),
}


def kind_of(function: int) -> ArithmeticKind:
    if function not in FUNCTIONS:
        raise InvalidArgumentError(
            f"arithmetic function {function} is not a BNNSArithmeticFunction (0 to 40)")
    return FUNCTIONS[function]


# ---------------------------------------------------------------------------------------- kernels
def forward(function: int, operands: Sequence[np.ndarray],
            activation: Activation = Activation()) -> np.ndarray:
    """y = act(f(*operands)).

    Parameters
    ----------
    operands : arrays that broadcast to the output's batch shape (N, *o_shape): a Sample operand
        as (N, *shape), a Constant or Parameter as (1, *shape), with ``shape`` padded on the
        left with 1s to the output's rank.

    Returns
    -------
    y : ndarray of shape (N, *o_shape) (the broadcast shape), in the operands' dtype.
    """
    with np.errstate(all="ignore"):   # out-of-domain values are IEEE NaN/inf, not errors
        f = kind_of(function).forward(*operands)
        return act_mod.forward(f, activation)


def backward(function: int, operands: Sequence[Optional[np.ndarray]], d_out: np.ndarray,
             wanted: Sequence[bool], activation: Activation = Activation(),
             y: Optional[np.ndarray] = None, shapes: Optional[Sequence[tuple]] = None) -> list:
    """dL/d(operand k) for each wanted k, each summed to its operand's shape.

    Parameters
    ----------
    operands : as for :func:`forward` (the Parameter/Constant ones with a leading 1); entries
        may be None when nothing reads them (Add, Subtract, Negate, TruncRemainder's dividend,
        with an Identity activation or y given), if ``shapes`` is given.
    d_out : ndarray (N, *o_shape), dL/dy.
    wanted : one flag per operand. A wanted operand without a derivative is an
        InvalidArgumentError.
    y : ndarray (N, *o_shape), the forward output, or None (then recomputed where needed).
    shapes : the operands' aligned shapes; default: ``operands[k].shape``.

    Returns
    -------
    list with, per operand, an array of that operand's shape (a leading 1 is summed over the
    batch: the BNNSParameter rule), or None when not wanted.
    """
    kind = kind_of(function)
    for k, want in enumerate(wanted):
        if want and kind.grads[k] is None:
            raise InvalidArgumentError(
                f"{kind.name} is not differentiable with respect to input {k}; do not ask for "
                f"its gradient")
    if not any(wanted):
        return [None] * kind.arity
    dtype = d_out.dtype
    with np.errstate(all="ignore"):
        f = None
        if act_mod.is_identity(activation):
            g = d_out
            f = y
        elif y is not None and act_mod.can_backward_from_output(activation):
            g = act_mod.backward(d_out, activation, y=y)
        else:
            # the batch axis is 1 in f when no operand is a Sample
            f = np.broadcast_to(kind.forward(*operands), d_out.shape)
            g = act_mod.backward(d_out, activation, x=f)
        if kind.uses_output and f is None:
            f = kind.forward(*operands)
        grads: list[Optional[np.ndarray]] = []
        for k, want in enumerate(wanted):
            if not want:
                grads.append(None)
                continue
            full = np.asarray(kind.grads[k](g, operands, f), dtype=dtype)
            shape = (given(operands[k], lambda: f"operand {k} (or shapes) is needed for its gradient").shape
                     if shapes is None else tuple(shapes[k]))
            grad = _sum_to(np.broadcast_to(full, d_out.shape), shape)
            # Each gradient is a writable array of its own: never d_out itself (Add returns
            # it), nor a view shared with another gradient.
            if not grad.flags.writeable or any(
                    other is not None and np.may_share_memory(grad, other)
                    for other in [d_out, *grads]):
                grad = grad.copy()
            grads.append(grad)
    return grads


# ---------------------------------------------------------------------------------------- filter
class Operand(NamedTuple):
    """One input of an arithmetic filter, read from its function-fields struct: where it is
    ("binary.in2"), its descriptor and its BNNSDescriptorType."""

    name: str
    desc: Descriptor
    type: int


def function_fields(params: ArithmeticParameters) -> tuple[str, Any]:
    """(case, struct) of BNNSLayerParametersArithmetic's arithmetic_function_fields: the
    BNNSArithmeticUnary, Binary or Ternary that is set."""
    for case in ("unary", "binary", "ternary"):
        if getattr(params, case) is not None:
            return case, getattr(params, case)
    raise InvalidArgumentError("arithmetic_function_fields is not set: give unary, binary or ternary "
                               "(BNNSArithmeticUnary, BNNSArithmeticBinary or BNNSArithmeticTernary)")


def inputs_of(fields) -> list[tuple[str, Any, int]]:
    """(field, descriptor, BNNSDescriptorType) of each input of a BNNSArithmetic{Unary,Binary,
    Ternary}, in order: in_ (Python's spelling of Apple's in), or in1, in2, in3, each beside its
    *_type. Reads the kernels' structs and the SDK's alike (the same fields, from one message)."""
    names = [f.name for f in dataclasses.fields(fields) if f.name.startswith("in") and not f.name.endswith("_type")]
    return [(name, getattr(fields, name), int(getattr(fields, name.rstrip("_") + "_type"))) for name in names]


class ArithmeticFilter:
    """An arithmetic filter: the function, its operand kinds and the Constant/Parameter values
    (float32 copies; ``parameters()`` returns the live arrays, so an optimizer step on a
    Parameter changes the next forward)."""

    def __init__(self, params: ArithmeticParameters):
        self.params = params
        self.kind = kind = kind_of(params.arithmetic_function)
        case, fields = function_fields(params)
        inputs = self.operands = tuple(Operand(f"{case}.{name}", desc, kind) for name, desc, kind in inputs_of(fields))
        require(len(inputs) == kind.arity,
                lambda: f"{kind.name} ({params.arithmetic_function}) takes {kind.arity} inputs, but "
                f"arithmetic_function_fields is {case} ({len(inputs)})")
        self.out_desc = fields.out
        fields.out.validate(f"{case}.out")
        numpy_dtype(fields.out.data_type, what=f"{case}.out.data_type")
        require(fields.out_type == SAMPLE,
                lambda: f"{case}.out_type {fields.out_type} is not supported: the output of an arithmetic "
                f"filter is per batch item (BNNSSample = {SAMPLE})")
        act_mod.validate(params.activation, "activation")
        self._values: dict[str, np.ndarray] = {}
        shapes = []
        for k, operand in enumerate(inputs):
            name = operand.name
            require(operand.type in OPERAND_TYPE_NAMES,
                    lambda: f"{name.rstrip('_')}_type {operand.type} is not a BNNSDescriptorType (Constant 0, "
                    f"Sample 1, Parameter 2)")
            operand.desc.validate(name)
            numpy_dtype(operand.desc.data_type, what=f"{name}.data_type")
            if operand.type != SAMPLE:
                require(operand.desc.data is not None,
                        lambda: f"{name} is a {OPERAND_TYPE_NAMES[operand.type]} operand but its "
                        f"descriptor has no data")
                self._values[f"in{k}"] = np.array(operand.desc.tensor(name),
                                                  dtype=np.float32)
            shapes.append(operand.desc.shape)
        out_shape = fields.out.shape
        described = ", ".join(f"{s}" for s in shapes)
        try:
            broadcast = np.broadcast_shapes(*shapes)
        except ValueError:
            raise InvalidArgumentError(
                f"input shapes {described} of {kind.name} do not broadcast against each other "
                f"(each dimension must be equal or 1)") from None
        require(broadcast == out_shape,
                lambda: f"input shapes {described} of {kind.name} broadcast to {broadcast}, but {case}.out "
                f"has shape {out_shape} ({fields.out.describe()})")
        self._shapes = tuple(shapes)
        rank = len(out_shape)
        self._aligned = tuple((1,) * (rank - len(s)) + tuple(s) for s in shapes)

    # ------------------------------------------------------------------ introspection
    @property
    def arity(self) -> int:
        return self.kind.arity

    @property
    def input_descs(self) -> tuple:
        return tuple(operand.desc for operand in self.operands)

    @property
    def output_desc(self) -> Descriptor:
        return self.out_desc

    def parameters(self) -> dict[str, np.ndarray]:
        """"in{k}" -> values of each Parameter operand k (live arrays). Constant operands are not
        trainable, so they are not listed: an optimizer cannot reach them."""
        return {f"in{k}": self._values[f"in{k}"] for k, operand in enumerate(self.operands)
                if operand.type == PARAMETER}

    # ------------------------------------------------------------------ apply
    def apply(self, inputs: Sequence[Optional[np.ndarray]], *,
              batch_size: Optional[int] = None) -> np.ndarray:
        """BNNSArithmeticFilterApplyBatch.

        inputs[k] : (N, *operands[k].desc.shape) for a Sample operand; None for a Constant or
            Parameter operand (its values were given at creation).
        batch_size : N; needed only when no operand is a Sample.
        Returns y of shape (N, *out.shape).
        """
        operands, n = self._operands(inputs, batch_size, "inputs", require_samples=True)
        y = forward(self.params.arithmetic_function, operands, self.params.activation)
        if y.shape[0] != n:   # every operand is a Constant/Parameter: repeat over the batch
            y = np.repeat(y, n, axis=0)
        return y

    def apply_backward(self, inputs: Sequence[Optional[np.ndarray]], y: Optional[np.ndarray],
                       d_out: np.ndarray, *, wanted: Sequence[bool]) -> list:
        """BNNSArithmeticFilterApplyBackwardBatch: all input gradients in one call.

        inputs : as for :meth:`apply`.
        y : (N, *out.shape), the forward output (used by the activation's derivative and by
            functions whose derivative reads their output); may be None.
        d_out : (N, *out.shape), dL/dy.
        wanted : one flag per operand.
        Returns one entry per operand: Sample -> (N, *shape); Parameter -> shape (summed over the
        batch); None when not wanted.
        """
        kind, p = self.kind, self.params
        wanted = [bool(w) for w in wanted]
        require(len(wanted) == kind.arity,
                lambda: f"wanted has {len(wanted)} flags but {kind.name} takes {kind.arity} inputs")
        for k, want in enumerate(wanted):
            if want and self.operands[k].type == CONSTANT:
                raise InvalidArgumentError(
                    f"{self.operands[k].name} of {kind.name} is a Constant operand: it has no gradient "
                    f"(make it a Parameter to train it)")
        d_out = _as_float(np.asarray(d_out))
        out_shape = self.out_desc.shape
        require(d_out.ndim == len(out_shape) + 1 and d_out.shape[1:] == out_shape
                and d_out.shape[0] >= 1,
                lambda: f"d_out has shape {d_out.shape}; expected (N, *{out_shape})")
        n = d_out.shape[0]
        if y is not None:
            y = np.asarray(y, dtype=d_out.dtype)
            require(y.shape == d_out.shape, lambda: f"y has shape {y.shape}, d_out {d_out.shape}")
        act = p.activation
        # The inputs are read by most derivatives, and to recompute f = the function's output
        # when y does not give it (y is act(f)) or the activation's derivative needs f.
        act_from_y = act_mod.is_identity(act) or (y is not None and act_mod.can_backward_from_output(act))
        f_from_y = act_mod.is_identity(act) and y is not None
        needs_inputs = any(wanted) and (kind.needs_inputs or not act_from_y
                                        or (kind.uses_output and not f_from_y))
        operands, _ = self._operands(inputs, n, "inputs", require_samples=needs_inputs,
                                     dtype=d_out.dtype)
        shapes = [((n,) if op.type == SAMPLE else (1,)) + aligned
                  for op, aligned in zip(self.operands, self._aligned)]
        grads = backward(p.arithmetic_function, operands, d_out, wanted, act, y, shapes)
        out = []
        for k, grad in enumerate(grads):
            if grad is not None:
                shape = self._shapes[k]
                grad = grad.reshape(((n,) if self.operands[k].type == SAMPLE else ()) + shape)
            out.append(grad)
        return out

    # ------------------------------------------------------------------ helpers
    def _operands(self, inputs, batch_size, name, *, require_samples, dtype=None):
        """The operands aligned for broadcasting: Sample (N, *aligned), others (1, *aligned);
        a Sample may be None when not ``require_samples``."""
        inputs = list(inputs)
        require(len(inputs) == self.kind.arity,
                lambda: f"{name} has {len(inputs)} entries but {self.kind.name} takes {self.kind.arity}")
        n = batch_size
        arrays: list[Optional[np.ndarray]] = []
        for k, (operand, value) in enumerate(zip(self.operands, inputs)):
            shape = self._shapes[k]
            if operand.type != SAMPLE:
                require(value is None,
                        lambda: f"{name}[{k}] is a {OPERAND_TYPE_NAMES[operand.type]} operand: its values "
                        f"come from its descriptor; pass None")
                arrays.append(None)
                continue
            if value is None:
                require(not require_samples,
                        lambda: f"{name}[{k}] (a Sample operand of {self.kind.name}) is needed here")
                arrays.append(None)
                continue
            value = np.asarray(value)
            require(value.ndim == len(shape) + 1 and value.shape[1:] == shape
                    and value.shape[0] >= 1,
                    lambda: f"{name}[{k}] has shape {value.shape}; expected (N, *{shape}) for "
                    f"{operand.desc.describe()}")
            require(n is None or value.shape[0] == n,
                    lambda: f"{name}[{k}] has batch size {value.shape[0]}, expected {n}")
            n = value.shape[0]
            arrays.append(value)
        require(n is not None and n >= 1,
                lambda: f"batch_size must be given (>= 1) when no operand of {self.kind.name} is a Sample")
        if dtype is None:
            dtype = np.result_type(*[a.dtype for a in arrays if a is not None], np.float32)
            dtype = np.float64 if dtype == np.float64 else np.float32
        aligned: list[Optional[np.ndarray]] = []
        for k, value in enumerate(arrays):
            if self.operands[k].type != SAMPLE:
                value = self._values[f"in{k}"].astype(dtype, copy=False)
                aligned.append(value.reshape((1,) + self._aligned[k]))
            elif value is None:
                aligned.append(None)
            else:
                aligned.append(value.astype(dtype, copy=False).reshape((n,) + self._aligned[k]))
        return aligned, n


# ---------------------------------------------------------------------------------------- private
def _sum_to(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes where ``shape`` (same rank) has 1 and grad does not."""
    axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    return np.add.reduce(grad, axis=axes, keepdims=True) if axes else grad


def _as_float(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.float64 else a.astype(np.float32, copy=False)

