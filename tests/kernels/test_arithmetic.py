"""Arithmetic filter (kernels/arithmetic.py): every function's forward against a scalar `math`
reference, gradients against central differences for every differentiable function x operand
type x broadcasting case, the documented sub-gradient conventions, and errors."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import pytest

from bnns.kernels import arithmetic as ar
from bnns.kernels import layout as L
from bnns.kernels.activation import (IDENTITY, LEAKY_RECTIFIED_LINEAR, RECTIFIED_LINEAR, SIGMOID,
                                     Activation)
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import ArithmeticBinary, ArithmeticParameters, ArithmeticTernary, ArithmeticUnary
from tests.numeric import assert_gradient_matches, projection

C, S, P = ar.CONSTANT, ar.SAMPLE, ar.PARAMETER
BATCH = 2


# ------------------------------------------------------------------------------------ input domains
# Each domain draws values where the function is defined and smooth, so that central
# differences (step 1e-6) never straddle a kink, a pole or a domain edge.
def any_real(rng, shape):
    return rng.uniform(-2, 2, shape)


def positive(rng, shape):            # log, sqrt, rsqrt; Pow's base for d/dexponent
    return rng.uniform(0.5, 2.5, shape)


def inside_unit(rng, shape):         # asin, acos, atanh: |x| < 1, derivative infinite at +-1
    return rng.uniform(-0.8, 0.8, shape)


def above_one(rng, shape):           # acosh: x > 1, derivative infinite at 1
    return rng.uniform(1.2, 3.0, shape)


def away_from_zero(rng, shape):      # divisors; Abs, Sign (kink at 0); reciprocal
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def off_poles(rng, shape):           # tan: poles at +-pi/2
    return rng.uniform(-1.2, 1.2, shape)


def exponent(rng, shape):            # Pow's exponent, including negative and non-integer
    return rng.uniform(-2.0, 2.0, shape)


def condition(rng, shape):           # Select's condition: exact zeros and nonzeros
    return rng.integers(-1, 2, shape).astype(np.float64)


def halves(rng, shape):              # rounding functions: hits the .5 ties on purpose
    return rng.integers(-6, 7, shape) / 2.0


def _sign(a):
    return float((a > 0) - (a < 0))


@dataclasses.dataclass(frozen=True)
class Fn:
    function: int
    reference: Callable              # scalar math reference
    domains: tuple                   # one sampler per operand
    differentiable: tuple            # per operand
    grad_rtol: float = 1e-6          # central differences in float64: ~1e-9 relative error
    grad_atol: float = 1e-8

    @property
    def id(self):
        return ar.FUNCTIONS[self.function].name

    @property
    def arity(self):
        return len(self.domains)


T, F = True, False
FUNCTIONS = [
    Fn(ar.ADD, lambda a, b: a + b, (any_real, any_real), (T, T)),
    Fn(ar.SUBTRACT, lambda a, b: a - b, (any_real, any_real), (T, T)),
    Fn(ar.MULTIPLY, lambda a, b: a * b, (any_real, any_real), (T, T)),
    Fn(ar.DIVIDE, lambda a, b: a / b, (any_real, away_from_zero), (T, T)),
    Fn(ar.POW, lambda a, b: a ** b, (positive, exponent), (T, T)),
    Fn(ar.MULTIPLY_NO_NAN, lambda a, b: 0.0 if b == 0 else a * b, (any_real, away_from_zero),
       (T, T)),
    Fn(ar.DIVIDE_NO_NAN, lambda a, b: 0.0 if b == 0 else a / b, (any_real, away_from_zero), (T, T)),
    Fn(ar.MINIMUM, min, (any_real, any_real), (T, T)),
    Fn(ar.MAXIMUM, max, (any_real, any_real), (T, T)),
    Fn(ar.FLOOR_DIVIDE, lambda a, b: a // b, (any_real, away_from_zero), (F, F)),
    Fn(ar.TRUNC_DIVIDE, lambda a, b: float(math.trunc(a / b)), (any_real, away_from_zero), (F, F)),
    Fn(ar.TRUNC_REMAINDER, math.fmod, (any_real, away_from_zero), (T, F)),
    Fn(ar.SQUARE_ROOT, math.sqrt, (positive,), (T,)),
    Fn(ar.RECIPROCAL_SQUARE_ROOT, lambda a: 1 / math.sqrt(a), (positive,), (T,)),
    Fn(ar.CEIL, lambda a: float(math.ceil(a)), (halves,), (F,)),
    Fn(ar.FLOOR, lambda a: float(math.floor(a)), (halves,), (F,)),
    Fn(ar.ROUND, lambda a: float(round(a)), (halves,), (F,)),      # Python rounds half to even
    Fn(ar.SIN, math.sin, (any_real,), (T,)),
    Fn(ar.COS, math.cos, (any_real,), (T,)),
    Fn(ar.TAN, math.tan, (off_poles,), (T,)),
    Fn(ar.ASIN, math.asin, (inside_unit,), (T,)),
    Fn(ar.ACOS, math.acos, (inside_unit,), (T,)),
    Fn(ar.ATAN, math.atan, (any_real,), (T,)),
    Fn(ar.SINH, math.sinh, (any_real,), (T,)),
    Fn(ar.COSH, math.cosh, (any_real,), (T,)),
    Fn(ar.TANH, math.tanh, (any_real,), (T,)),
    Fn(ar.ASINH, math.asinh, (any_real,), (T,)),
    Fn(ar.ACOSH, math.acosh, (above_one,), (T,)),
    Fn(ar.ATANH, math.atanh, (inside_unit,), (T,)),
    Fn(ar.EXP, math.exp, (any_real,), (T,)),
    Fn(ar.EXP2, lambda a: 2.0 ** a, (any_real,), (T,)),
    Fn(ar.LOG, math.log, (positive,), (T,)),
    Fn(ar.LOG2, math.log2, (positive,), (T,)),
    Fn(ar.ABS, abs, (away_from_zero,), (T,)),
    Fn(ar.SIGN, _sign, (away_from_zero,), (F,)),
    Fn(ar.NEGATE, lambda a: -a, (any_real,), (T,)),
    Fn(ar.RECIPROCAL, lambda a: 1 / a, (away_from_zero,), (T,)),
    Fn(ar.SQUARE, lambda a: a * a, (any_real,), (T,)),
    Fn(ar.ERF, math.erf, (any_real,), (T,)),
    Fn(ar.MULTIPLY_ADD, lambda a, b, c: a * b + c, (any_real, any_real, any_real), (T, T, T)),
    Fn(ar.SELECT, lambda c, a, b: a if c != 0 else b, (condition, any_real, any_real), (F, T, T)),
]

# Operand shapes per arity (output (3, 4)): all equal, or broadcast (a column, a shorter-rank
# row, and for ternaries a full operand).
OUT_SHAPE = (3, 4)
BROADCASTS: dict[int, dict[str, list[tuple]]] = {
    1: {"same": [(3, 4)]},
    2: {"same": [(3, 4), (3, 4)], "broadcast": [(3, 1), (4,)]},
    3: {"same": [(3, 4)] * 3, "broadcast": [(3, 1), (4,), (3, 4)]},
}
TYPE_PATTERNS: dict[int, list[tuple]] = {
    1: [(S,), (P,)],
    2: [(S, S), (S, P), (P, S), (C, S), (S, C)],
    3: [(S, S, S), (P, S, C), (C, P, S)],
}


def _name(types):
    return "".join({C: "C", S: "S", P: "P"}[t] for t in types)


def gradient_cases():
    cases = []
    for fn in FUNCTIONS:
        if not any(fn.differentiable):
            continue
        for bname, shapes in BROADCASTS[fn.arity].items():
            for types in TYPE_PATTERNS[fn.arity]:
                cases.append(pytest.param(fn, shapes, types, id=f"{fn.id}-{bname}-{_name(types)}"))
    return cases


# ------------------------------------------------------------------------------------ helpers
def aligned_operands(fn: Fn, shapes, types, rng, n=BATCH):
    """Operands as the pure kernels take them: Sample (N, *aligned), others (1, *aligned)."""
    ops = []
    for domain, shape, kind in zip(fn.domains, shapes, types):
        aligned = (1,) * (len(OUT_SHAPE) - len(shape)) + tuple(shape)
        ops.append(domain(rng, ((n if kind == S else 1),) + aligned))
    return ops


def sample_inputs(ops, shapes, types):
    """What the filter's apply takes: Samples as (N, *shape), None for the others."""
    return [o.reshape((BATCH,) + s) if t == S else None for o, s, t in zip(ops, shapes, types)]


def naive(fn: Fn, ops):
    """The scalar reference over the broadcast operands, one element at a time."""
    return np.vectorize(fn.reference, otypes=[np.float64])(*np.broadcast_arrays(*ops))


def operand(shape, kind, values=None):
    """(descriptor, BNNSDescriptorType) of one input."""
    data = None if kind == S else np.asarray(values, np.float32).reshape(shape)
    return L.Descriptor.for_shape(_layout(shape), shape, data), kind


_CASES = {1: ("unary", ArithmeticUnary, ("in_",)), 2: ("binary", ArithmeticBinary, ("in1", "in2")),
          3: ("ternary", ArithmeticTernary, ("in1", "in2", "in3"))}


def arithmetic_params(function, operands, out, out_type=S, **extra) -> ArithmeticParameters:
    """The kernels' BNNSLayerParametersArithmetic for (descriptor, type) operands, in the Unary,
    Binary or Ternary fields their count calls for."""
    case, struct, names = _CASES[len(operands)]
    fields = {}
    for name, (desc, kind) in zip(names, operands):
        fields[name], fields[name.rstrip("_") + "_type"] = desc, kind
    return ArithmeticParameters(arithmetic_function=function, **{case: struct(**fields, out=out, out_type=out_type)},
                                **extra)


def _layout(shape):
    return {1: L.LAYOUT_VECTOR, 2: L.LAYOUT_2D_LAST_MAJOR, 3: L.LAYOUT_IMAGE_CHW}[len(shape)]


def make_filter(function, shapes, types, values, activation=Activation(), out_shape=OUT_SHAPE):
    """values[k]: the stored data for Constant/Parameter operands (unused for Samples)."""
    inputs = tuple(operand(s, t, v) for s, t, v in zip(shapes, types, values))
    return ar.ArithmeticFilter(arithmetic_params(function, inputs, L.Descriptor.for_shape(_layout(out_shape), out_shape),
                                                 activation=activation))


# ------------------------------------------------------------------------------------ forward
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.id)
def test_forward_matches_scalar_reference(fn):
    rng = np.random.default_rng(201)
    shapes = BROADCASTS[fn.arity]["same"]
    ops = aligned_operands(fn, shapes, (S,) * fn.arity, rng)
    np.testing.assert_allclose(ar.forward(fn.function, ops), naive(fn, ops), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("bname", ["same", "broadcast"])
@pytest.mark.parametrize("fn", [f for f in FUNCTIONS if f.arity > 1], ids=lambda f: f.id)
def test_filter_forward_with_every_operand_type(fn, bname):
    rng = np.random.default_rng(202)
    shapes = BROADCASTS[fn.arity][bname]
    for types in TYPE_PATTERNS[fn.arity]:
        ops = [o.astype(np.float32) for o in aligned_operands(fn, shapes, types, rng)]
        filt = make_filter(fn.function, shapes, types, ops)
        inputs = sample_inputs(ops, shapes, types)
        y = filt.apply(inputs)
        assert y.dtype == np.float32 and y.shape == (BATCH,) + OUT_SHAPE
        # float32 evaluation vs float64 reference on the same float32 inputs
        np.testing.assert_allclose(y, naive(fn, ops), rtol=2e-6, atol=1e-6)


def test_forward_with_only_parameter_operands_repeats_over_the_batch():
    a, b = np.arange(12.0).reshape(3, 4), np.full((1, 4), 0.5)
    filt = make_filter(ar.MULTIPLY, [(3, 4), (1, 4)], (P, C), [a, b])
    y = filt.apply([None, None], batch_size=3)
    np.testing.assert_array_equal(y, np.broadcast_to(a * 0.5, (3, 3, 4)))


def test_forward_in_float64_when_given_float64():
    rng = np.random.default_rng(203)
    filt = make_filter(ar.LOG, [(3, 4)], (S,), [None])
    x = positive(rng, (BATCH, 3, 4))
    y = filt.apply([x])
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, np.log(x))


def test_round_is_half_to_even_and_divisions_round_as_documented():
    f = ar.forward
    np.testing.assert_array_equal(f(ar.ROUND, [np.array([0.5, 1.5, 2.5, -0.5, -1.5])]),
                                  [0, 2, 2, -0.0, -2])
    a, b = np.array([-7.0, 7.0, -7.0]), np.array([3.0, -3.0, -3.0])
    np.testing.assert_array_equal(f(ar.FLOOR_DIVIDE, [a, b]), [-3, -3, 2])
    np.testing.assert_array_equal(f(ar.TRUNC_DIVIDE, [a, b]), [-2, -2, 2])
    np.testing.assert_array_equal(f(ar.TRUNC_REMAINDER, [a, b]), [-1, 1, -1])   # dividend's sign


def test_erf_matches_math_erf_over_a_wide_range():
    x = np.linspace(-7, 7, 20001)
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(ar.forward(ar.ERF, [x]), expected, rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(ar.forward(ar.ERF, [np.array([np.inf, -np.inf, 0.0])]),
                                  [1, -1, 0])


def test_out_of_domain_inputs_give_ieee_values_without_errors():
    with np.errstate(all="raise"):    # the kernel itself must not warn or raise
        assert np.isnan(ar.forward(ar.LOG, [np.array([-1.0])]))[0]
        assert np.isnan(ar.forward(ar.SQUARE_ROOT, [np.array([-1.0])]))[0]
        assert np.isnan(ar.forward(ar.ACOSH, [np.array([0.5])]))[0]
        assert ar.forward(ar.DIVIDE, [np.array([1.0]), np.array([0.0])])[0] == np.inf


def test_no_nan_functions_give_zero_where_the_second_operand_is_zero():
    a = np.array([np.nan, np.inf, 3.0, 3.0])
    b = np.array([0.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(ar.forward(ar.MULTIPLY_NO_NAN, [a, b]), [0, 0, 0, 6])
    np.testing.assert_array_equal(ar.forward(ar.DIVIDE_NO_NAN, [a, b]), [0, 0, 0, 1.5])
    g = np.ones(4)
    for function in (ar.MULTIPLY_NO_NAN, ar.DIVIDE_NO_NAN):
        da, db = ar.backward(function, [a, b], g, [True, True])
        np.testing.assert_array_equal(da[:3], 0)
        np.testing.assert_array_equal(db[:3], 0)


def test_select_picks_by_nonzero_condition_and_routes_the_gradient():
    cond, a, b = np.array([1.0, 0.0, -2.0]), np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])
    np.testing.assert_array_equal(ar.forward(ar.SELECT, [cond, a, b]), [1, 20, 3])
    _, da, db = ar.backward(ar.SELECT, [cond, a, b], np.array([5.0, 6.0, 7.0]), [False, True, True])
    np.testing.assert_array_equal(da, [5, 0, 7])
    np.testing.assert_array_equal(db, [0, 6, 0])


# ------------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("fn, shapes, types", gradient_cases())
def test_gradients_match_finite_differences(fn, shapes, types):
    rng = np.random.default_rng(204)
    ops = aligned_operands(fn, shapes, types, rng)
    proj = projection(rng, (BATCH,) + OUT_SHAPE)
    wanted = [d and t != C for d, t in zip(fn.differentiable, types)]

    def loss_at(k):
        def loss(v):
            return float(np.sum(proj * ar.forward(fn.function, ops[:k] + [v] + ops[k + 1:])))
        return loss

    grads = ar.backward(fn.function, ops, proj, wanted)
    for k, want in enumerate(wanted):
        if not want:
            assert grads[k] is None
            continue
        assert grads[k].shape == ops[k].shape       # Parameters: summed over the batch
        assert_gradient_matches(grads[k], loss_at(k), ops[k], rtol=fn.grad_rtol, atol=fn.grad_atol)


ACTIVATIONS = [
    pytest.param(Activation(IDENTITY), id="identity"),
    pytest.param(Activation(RECTIFIED_LINEAR), id="relu"),
    pytest.param(Activation(SIGMOID), id="sigmoid"),
    pytest.param(Activation(LEAKY_RECTIFIED_LINEAR, alpha=0.0), id="leaky_relu_alpha0_needs_x"),
]
FUSED_FUNCTIONS = [f for f in FUNCTIONS
                   if f.function in (ar.ADD, ar.MULTIPLY, ar.DIVIDE, ar.EXP, ar.SQUARE_ROOT)]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("fn", FUSED_FUNCTIONS, ids=lambda f: f.id)
def test_fused_activation_gradients_match_finite_differences(fn, activation):
    rng = np.random.default_rng(205)
    shapes = BROADCASTS[fn.arity]["broadcast" if fn.arity > 1 else "same"]
    types = (S, P)[:fn.arity]
    ops = aligned_operands(fn, shapes, types, rng)
    proj = projection(rng, (BATCH,) + OUT_SHAPE)
    y = ar.forward(fn.function, ops, activation)
    wanted = [True] * fn.arity
    from_y = ar.backward(fn.function, ops, proj, wanted, activation, y=y)
    recomputed = ar.backward(fn.function, ops, proj, wanted, activation, y=None)
    for k in range(fn.arity):
        def loss(v, k=k):
            y_v = ar.forward(fn.function, ops[:k] + [v] + ops[k + 1:], activation)
            return float(np.sum(proj * y_v))
        assert_gradient_matches(from_y[k], loss, ops[k], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(recomputed[k], from_y[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bname", ["same", "broadcast"])
@pytest.mark.parametrize("fn", [f for f in FUNCTIONS if f.arity > 1 and any(f.differentiable)],
                         ids=lambda f: f.id)
def test_filter_backward_shapes_and_values_per_operand_type(fn, bname):
    rng = np.random.default_rng(206)
    shapes = BROADCASTS[fn.arity][bname]
    activation = Activation(SIGMOID)
    for types in TYPE_PATTERNS[fn.arity]:
        ops = [o.astype(np.float32) for o in aligned_operands(fn, shapes, types, rng)]
        filt = make_filter(fn.function, shapes, types, ops, activation)
        inputs = sample_inputs(ops, shapes, types)
        y = filt.apply(inputs)
        d_out = rng.standard_normal(y.shape).astype(np.float32)
        wanted = [d and t != C for d, t in zip(fn.differentiable, types)]
        grads = filt.apply_backward(inputs, y, d_out, wanted=wanted)
        expected = ar.backward(fn.function, ops, d_out, wanted, activation, y=y)
        for k, (got, want) in enumerate(zip(grads, expected)):
            if not wanted[k]:
                assert got is None
                continue
            shape = ((BATCH,) if types[k] == S else ()) + shapes[k]
            assert got.shape == shape and got.dtype == np.float32
            np.testing.assert_allclose(got, want.reshape(shape), rtol=1e-6, atol=1e-6)


def test_min_max_ties_split_the_gradient_and_abs_at_zero_is_zero():
    a, b, g = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0]), np.ones(3)
    da, db = ar.backward(ar.MINIMUM, [a, b], g, [True, True])
    np.testing.assert_array_equal(da, [0.5, 0, 1])
    np.testing.assert_array_equal(db, [0.5, 1, 0])
    da, db = ar.backward(ar.MAXIMUM, [a, b], g, [True, True])
    np.testing.assert_array_equal(da, [0.5, 1, 0])
    np.testing.assert_array_equal(db, [0.5, 0, 1])
    (dx,) = ar.backward(ar.ABS, [np.array([0.0, -2.0, 2.0])], g, [True])
    np.testing.assert_array_equal(dx, [0, -1, 1])


def test_pow_gradients_at_zero_base_and_zero_exponent():
    a, b = np.array([0.0, 0.0, 2.0, 0.0]), np.array([2.0, 0.0, 0.0, 0.5])
    with np.errstate(all="raise"):
        da, db = ar.backward(ar.POW, [a, b], np.ones(4), [True, True])
    np.testing.assert_array_equal(da[:3], [0, 0, 0])        # 2*0^1, exponent 0, exponent 0
    np.testing.assert_array_equal(db, [0, 0, math.log(2.0), 0])


def test_gradients_are_independent_arrays():
    rng = np.random.default_rng(207)
    filt = make_filter(ar.ADD, [(3, 4), (3, 4)], (S, S), [None, None])
    x = [rng.standard_normal((BATCH, 3, 4)).astype(np.float32) for _ in range(2)]
    d_out = rng.standard_normal((BATCH, 3, 4)).astype(np.float32)
    d_copy = d_out.copy()
    da, db = filt.apply_backward(x, None, d_out, wanted=[True, True])
    da += 1                                 # e.g. the core accumulating in place
    np.testing.assert_array_equal(d_out, d_copy)
    np.testing.assert_array_equal(db, d_copy)


def test_same_buffer_twice_gets_one_gradient_per_operand():
    rng = np.random.default_rng(208)
    filt = make_filter(ar.MULTIPLY, [(3, 4), (3, 4)], (S, S), [None, None])
    x = rng.standard_normal((BATCH, 3, 4))
    d_out = rng.standard_normal((BATCH, 3, 4))
    da, db = filt.apply_backward([x, x], None, d_out, wanted=[True, True])
    np.testing.assert_allclose(da + db, 2 * x * d_out, rtol=1e-15)    # d(x*x)/dx once summed


def test_parameter_only_operands_with_an_activation_that_needs_its_input():
    # no Sample: f has a batch axis of 1, the activation's derivative is taken from f (x)
    a, b = np.array([[-1.0, 2.0, 3.0, -4.0]]), np.full((1, 4), 2.0)
    filt = make_filter(ar.MULTIPLY, [(1, 4), (1, 4)], (P, C), [a, b],
                       Activation(LEAKY_RECTIFIED_LINEAR, alpha=0.0), out_shape=(1, 4))
    y = filt.apply([None, None], batch_size=3)
    np.testing.assert_array_equal(y, np.broadcast_to([[[0, 4, 6, 0]]], (3, 1, 4)))
    da, db = filt.apply_backward([None, None], y, np.ones_like(y), wanted=[True, False])
    np.testing.assert_array_equal(da, [[0, 6, 6, 0]])     # 3 items x b where a*b > 0
    assert db is None


def test_add_backward_needs_no_inputs():
    rng = np.random.default_rng(209)
    filt = make_filter(ar.ADD, [(3, 4), (1, 4)], (S, P), [None, np.ones((1, 4))])
    d_out = rng.standard_normal((BATCH, 3, 4)).astype(np.float32)
    da, db = filt.apply_backward([None, None], None, d_out, wanted=[True, True])
    np.testing.assert_array_equal(da, d_out)
    np.testing.assert_allclose(db, d_out.sum(axis=(0, 1), keepdims=True)[0], rtol=1e-6)


# ------------------------------------------------------------------------------------ errors
NON_DIFFERENTIABLE = [
    pytest.param(ar.CEIL, [True], id="Ceil"),
    pytest.param(ar.FLOOR, [True], id="Floor"),
    pytest.param(ar.ROUND, [True], id="Round"),
    pytest.param(ar.SIGN, [True], id="Sign"),
    pytest.param(ar.FLOOR_DIVIDE, [True, False], id="FloorDivide"),
    pytest.param(ar.TRUNC_DIVIDE, [False, True], id="TruncDivide"),
    pytest.param(ar.TRUNC_REMAINDER, [False, True], id="TruncRemainder_divisor"),
    pytest.param(ar.SELECT, [True, False, False], id="Select_condition"),
]


@pytest.mark.parametrize("function, wanted", NON_DIFFERENTIABLE)
def test_gradient_of_a_non_differentiable_input_is_invalid_argument(function, wanted):
    rng = np.random.default_rng(210)
    n = len(wanted)
    filt = make_filter(function, [(3, 4)] * n, (S,) * n, [None] * n)
    x = [away_from_zero(rng, (BATCH, 3, 4)).astype(np.float32) for _ in range(n)]
    y = filt.apply(x)
    with pytest.raises(InvalidArgumentError, match="not differentiable with respect to input"):
        filt.apply_backward(x, y, np.ones_like(y), wanted=wanted)


def test_gradient_of_a_constant_is_invalid_argument():
    filt = make_filter(ar.MULTIPLY, [(3, 4), (3, 4)], (S, C), [None, np.ones((3, 4))])
    x = np.ones((BATCH, 3, 4), np.float32)
    with pytest.raises(InvalidArgumentError, match=r"binary.in2 .* Constant"):
        filt.apply_backward([x, None], None, x, wanted=[True, True])


def _params(function=ar.ADD, shapes=((3, 4), (3, 4)), types=(S, S), out_shape=OUT_SHAPE, **extra):
    inputs = tuple(operand(s, t, np.ones(s)) for s, t in zip(shapes, types))
    return arithmetic_params(function, inputs, L.Descriptor.for_shape(_layout(out_shape), out_shape), **extra)


ERROR_CASES = [
    pytest.param(_params(function=41), "arithmetic function 41", id="unknown_function"),
    pytest.param(_params(shapes=((3, 4),), types=(S,)), r"Add \(0\) takes 2 inputs, but arithmetic_function_fields is unary \(1\)",
                 id="binary_with_one_input"),
    pytest.param(_params(function=ar.SQUARE_ROOT), r"SquareRoot \(4\) takes 1 inputs, but arithmetic_function_fields is binary \(2\)",
                 id="unary_with_two_inputs"),
    pytest.param(_params(shapes=((3, 4), (2, 4))), r"do not broadcast", id="not_broadcastable"),
    pytest.param(_params(shapes=((3, 1), (1, 1))), r"broadcast to \(3, 1\), but binary.out",
                 id="broadcast_smaller_than_output"),
    pytest.param(_params(types=(S, 7)), r"binary.in2_type 7", id="unknown_operand_type"),
    pytest.param(_params(out_type=P), "binary.out_type 2", id="output_not_a_sample"),
    pytest.param(_params(activation=Activation(99)), "activation function 99", id="bad_activation"),
]


@pytest.mark.parametrize("params, message", ERROR_CASES)
def test_invalid_parameters_raise_invalid_argument(params, message):
    with pytest.raises(InvalidArgumentError, match=message):
        ar.ArithmeticFilter(params)


def test_parameter_without_data_is_invalid_argument():
    no_data = L.Descriptor.for_shape(L.LAYOUT_2D_LAST_MAJOR, (3, 4))
    inputs = (operand((3, 4), S), (no_data, P))
    with pytest.raises(InvalidArgumentError, match=r"binary.in2 is a Parameter operand but"):
        ar.ArithmeticFilter(arithmetic_params(ar.ADD, inputs, L.Descriptor.for_shape(L.LAYOUT_2D_LAST_MAJOR, (3, 4))))


APPLY_ERRORS = [
    pytest.param(lambda x: [x], "inputs has 1 entries", id="wrong_number_of_inputs"),
    pytest.param(lambda x: [x, x], r"inputs\[1\] is a Parameter operand",
                 id="array_for_a_parameter"),
    pytest.param(lambda x: [None, None], r"inputs\[0\] \(a Sample operand of Add\) is needed",
                 id="missing_sample"),
    pytest.param(lambda x: [x[:, :2], None], r"inputs\[0\] has shape \(2, 2, 4\)",
                 id="wrong_shape"),
]


@pytest.mark.parametrize("make_inputs, message", APPLY_ERRORS)
def test_invalid_apply_inputs_raise_invalid_argument(make_inputs, message):
    filt = make_filter(ar.ADD, [(3, 4), (3, 4)], (S, P), [None, np.ones((3, 4))])
    with pytest.raises(InvalidArgumentError, match=message):
        filt.apply(make_inputs(np.ones((BATCH, 3, 4), np.float32)))


def test_no_sample_operand_and_no_batch_size_is_invalid_argument():
    filt = make_filter(ar.ADD, [(3, 4), (3, 4)], (P, C), [np.ones((3, 4)), np.ones((3, 4))])
    with pytest.raises(InvalidArgumentError, match="batch_size must be given"):
        filt.apply([None, None])


def test_samples_with_different_batch_sizes_are_invalid_argument():
    filt = make_filter(ar.ADD, [(3, 4), (3, 4)], (S, S), [None, None])
    with pytest.raises(InvalidArgumentError, match=r"inputs\[1\] has batch size 3, expected 2"):
        filt.apply([np.ones((2, 3, 4)), np.ones((3, 3, 4))])


def test_backward_with_wrong_wanted_length_is_invalid_argument():
    filt = make_filter(ar.ADD, [(3, 4), (3, 4)], (S, S), [None, None])
    x = np.ones((BATCH, 3, 4), np.float32)
    with pytest.raises(InvalidArgumentError, match="wanted has 1 flags"):
        filt.apply_backward([x, x], None, x, wanted=[True])


def test_backward_without_a_needed_sample_is_invalid_argument():
    filt = make_filter(ar.MULTIPLY, [(3, 4), (3, 4)], (S, S), [None, None])
    x = np.ones((BATCH, 3, 4), np.float32)
    with pytest.raises(InvalidArgumentError, match=r"inputs\[1\] \(a Sample operand of Multiply\)"):
        filt.apply_backward([x, None], None, x, wanted=[True, False])
