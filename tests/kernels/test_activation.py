"""Tests for kernels/activation.py: the BNNSActivationFunction table (0-35) and ActivationFilter.

One table of elementwise cases drives forward (against an independent scalar formula written
here with ``math``), backward from x (against central finite differences in float64) and backward
from y (against backward from x). Softmax/LogSoftmax, Gumbel/GumbelMax, the integer functions and
the trainable alphas have their own tests below.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import pytest

from bnns.kernels import activation as A
from bnns.kernels.params import ActivationParameters
from bnns.kernels import layout as L
from bnns.kernels.errors import InvalidArgumentError
from tests.numeric import assert_gradient_matches, numerical_gradient, projection

SHAPE = (2, 3, 4)                   # a small batch: 24 elements, 48 forward calls per gradient
KINK_MARGIN = 0.05                  # samples keep this far from a kink, where f' jumps


# ------------------------------------------------------------------------------ tolerances
@dataclasses.dataclass(frozen=True)
class Tol:
    rtol: float
    atol: float
    reason: str


EXACT = Tol(1e-12, 1e-14, "the same closed form in float64: rounding only")
ERF_TOL = Tol(1e-13, 2e-15, "series / continued-fraction erf against libm's erf (max 8e-16 abs)")
TANH_SHRINK_TOL = Tol(1e-12, 1e-15, "series near 0 against x - tanh x, which cancels there")
FD = Tol(1e-6, 1e-7, "central differences, eps 1e-6: truncation ~1e-12, rounding ~1e-10")
FROM_Y = Tol(1e-10, 1e-13, "y -> derivative algebra (or Newton inversion) in float64")
FLOAT32 = Tol(2e-5, 2e-6, "float32 rounding of inputs, parameters and intermediate results")


def _v(f: Callable) -> Callable:
    """A scalar reference f(x, a, b) applied elementwise."""
    vec = np.vectorize(f, otypes=[float])
    return lambda x, a, b: vec(x, a, b)


def _sig(t):
    return 1 / (1 + math.exp(-t)) if t >= 0 else math.exp(t) / (1 + math.exp(t))


LAMBDA, KAPPA = 1.0507009873554805, 1.6732632423543772     # SELU's constants (Klambauer et al.)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    function: int
    alpha: float
    beta: float
    reference: Callable          # independent formula, (x, alpha, beta) -> y
    domain: tuple                # (low, high) of the samples
    kinks: tuple                 # points the samples avoid (f' is discontinuous there)
    domain_reason: str
    tol: Tol = EXACT


WIDE = "a range that exercises both branches and the saturating tails"
CASES = [
    Case("identity", A.IDENTITY, 0, 0, _v(lambda x, a, b: x), (-3, 3), (), WIDE),
    Case("relu", A.RECTIFIED_LINEAR, 0, 0, _v(lambda x, a, b: max(x, 0.0)), (-3, 3), (0,),
         "both sides of the kink at 0"),
    Case("leaky_relu", A.LEAKY_RECTIFIED_LINEAR, 0.1, 0,
         _v(lambda x, a, b: x if x >= 0 else a * x), (-3, 3), (0,), "both sides of the kink at 0"),
    Case("leaky_relu_negative_alpha", A.LEAKY_RECTIFIED_LINEAR, -0.2, 0,
         _v(lambda x, a, b: x if x >= 0 else a * x), (-3, 3), (0,),
         "alpha < 0: not invertible from y, backward must use x"),
    Case("sigmoid", A.SIGMOID, 0, 0, _v(lambda x, a, b: _sig(x)), (-8, 8), (), WIDE),
    Case("tanh", A.TANH, 0, 0, _v(lambda x, a, b: math.tanh(x)), (-4, 4), (), WIDE),
    Case("scaled_tanh", A.SCALED_TANH, 1.7159, 2 / 3,
         _v(lambda x, a, b: a * math.tanh(b * x)), (-4, 4), (), "LeCun's scaled tanh"),
    Case("abs", A.ABS, 0, 0, _v(lambda x, a, b: abs(x)), (-3, 3), (0,), "both signs, off 0"),
    Case("linear", A.LINEAR, -1.5, 0, _v(lambda x, a, b: a * x), (-3, 3), (), WIDE),
    Case("clamp", A.CLAMP, -1.0, 2.0, _v(lambda x, a, b: min(max(x, a), b)), (-3, 4), (-1, 2),
         "below, inside and above [alpha, beta]"),
    Case("gelu_approximation_torch", A.GELU_APPROXIMATION, SQRT_2_OVER_PI, 0.044715,
         _v(lambda x, a, b: 0.5 * x * (1 + math.tanh(a * (x + b * x ** 3)))), (-5, 5), (),
         "PyTorch's tanh GELU constants"),
    Case("gelu_approximation_apple_plot", A.GELU_APPROXIMATION, 0.1, 1.0,
         _v(lambda x, a, b: 0.5 * x * (1 + math.tanh(a * (x + b * x ** 3)))), (-4, 4), (),
         "the parameters of Apple's documentation plot"),
    Case("hard_sigmoid", A.HARD_SIGMOID, 0.2, 0.5,
         _v(lambda x, a, b: max(0.0, min(1.0, a * x + b))), (-4, 4), (-2.5, 2.5),
         "both saturated sides and the linear middle"),
    Case("softplus", A.SOFTPLUS, 1.0, 1.0, _v(lambda x, a, b: a * math.log1p(math.exp(b * x))),
         (-10, 10), (), "exp(b x) stays finite for the naive reference"),
    Case("softplus_scaled", A.SOFTPLUS, 0.5, -2.0,
         _v(lambda x, a, b: a * math.log1p(math.exp(b * x))), (-5, 5), (),
         "negative beta mirrors the curve; exp stays finite"),
    Case("softsign", A.SOFTSIGN, 0, 0, _v(lambda x, a, b: x / (1 + abs(x))), (-5, 5), (0,),
         "f'' jumps at 0; the finite difference straddling it is less accurate"),
    Case("elu", A.ELU, 1.0, 0, _v(lambda x, a, b: a * math.expm1(x) if x < 0 else x), (-4, 3),
         (0,), "both branches"),
    Case("elu_negative_alpha", A.ELU, -0.5, 0,
         _v(lambda x, a, b: a * math.expm1(x) if x < 0 else x), (-4, 3), (0,),
         "alpha < 0: y does not determine x, backward must use x"),
    Case("clamped_leaky_relu", A.CLAMPED_LEAKY_RECTIFIED_LINEAR, 0.1, 2.0,
         _v(lambda x, a, b: min(a * x, b) if x < 0 else min(x, b)), (-3, 4), (0, 2),
         "leaky side, linear middle and the clamp at beta"),
    Case("clamped_leaky_relu_negative_beta", A.CLAMPED_LEAKY_RECTIFIED_LINEAR, 0.3, -0.5,
         _v(lambda x, a, b: min(a * x, b) if x < 0 else min(x, b)), (-4, 2), (-0.5 / 0.3, 0),
         "beta < 0 clamps part of the negative side too"),
    Case("clamped_leaky_relu_negative_alpha", A.CLAMPED_LEAKY_RECTIFIED_LINEAR, -0.2, 2.0,
         _v(lambda x, a, b: min(a * x, b) if x < 0 else min(x, b)), (-3, 4), (0, 2),
         "alpha < 0: backward must use x"),
    Case("linear_with_bias", A.LINEAR_WITH_BIAS, 2.0, -1.0, _v(lambda x, a, b: a * x + b),
         (-3, 3), (), WIDE),
    Case("log_sigmoid", A.LOG_SIGMOID, 0, 0, _v(lambda x, a, b: -math.log1p(math.exp(-x))),
         (-10, 10), (), "exp(-x) stays finite for the naive reference"),
    Case("selu", A.SELU, 0, 0, _v(lambda x, a, b: LAMBDA * (x if x > 0 else KAPPA * math.expm1(x))),
         (-4, 3), (0,), "both branches"),
    Case("celu", A.CELU, 0.7, 0,
         _v(lambda x, a, b: a * math.expm1(x / a) if x < 0 else x), (-4, 3), (0,),
         "both branches"),
    Case("hard_shrink", A.HARD_SHRINK, -0.5, 0, _v(lambda x, a, b: 0.0 if abs(x) < abs(a) else x),
         (-3, 3), (-0.5, 0.5), "negative alpha: Apple's formula uses |alpha|"),
    Case("soft_shrink", A.SOFT_SHRINK, 0.5, 0,
         _v(lambda x, a, b: 0.0 if abs(x) < abs(a) else x - math.copysign(a, x)),
         (-3, 3), (-0.5, 0.5), "dead zone and both shrunk sides"),
    Case("tanh_shrink", A.TANH_SHRINK, 0, 0, _v(lambda x, a, b: x - math.tanh(x)), (-3, 3), (),
         "includes |x| < 0.1 where the series takes over", TANH_SHRINK_TOL),
    Case("threshold", A.THRESHOLD, 0.5, -1.0, _v(lambda x, a, b: b if x <= a else x), (-3, 3),
         (0.5,), "beta <= alpha: y > alpha exactly where x passes"),
    Case("threshold_beta_above_alpha", A.THRESHOLD, -1.0, 2.0,
         _v(lambda x, a, b: b if x <= a else x), (-3, 3), (-1, 2),
         "beta > alpha: passing values can exceed beta (never equal it in the samples)"),
    Case("prelu_scalar_alpha", A.PRELU_PER_CHANNEL, 0.25, 0,
         _v(lambda x, a, b: x if x >= 0 else a * x), (-3, 3), (0,),
         "the table row uses alpha for every channel"),
    Case("hard_swish", A.HARD_SWISH, 0, 0, _v(lambda x, a, b: x * min(max(x + 3, 0.0), 6.0) / 6),
         (-5, 5), (-3, 3), "flat, quadratic and linear pieces"),
    Case("silu", A.SILU, 0, 0, _v(lambda x, a, b: x * _sig(x)), (-8, 8), (), WIDE),
    Case("relu6", A.RELU6, 0, 0, _v(lambda x, a, b: min(max(x, 0.0), 6.0)), (-2, 8), (0, 6),
         "below 0, inside and above 6"),
    Case("erf", A.ERF, 0, 0, _v(lambda x, a, b: math.erf(x)), (-4, 4), (),
         "both the series (|x| < 2) and the continued fraction", ERF_TOL),
    Case("gelu", A.GELU, 0, 0, _v(lambda x, a, b: 0.5 * x * (1 + math.erf(x / math.sqrt(2)))),
         (-6, 6), (), "both erf branches (|x| / sqrt 2 < 2 and beyond)", ERF_TOL),
    Case("gelu_approximation_sigmoid", A.GELU_APPROXIMATION_SIGMOID, 0, 0,
         _v(lambda x, a, b: x * _sig(1.702 * x)), (-6, 6), (), WIDE),
]
FROM_Y_CASES = [c for c in CASES if A.can_backward_from_output(A.Activation(c.function, c.alpha,
                                                                            c.beta))]
# Functions with dedicated tests below rather than rows in CASES.
SPECIAL = {A.INTEGER_LINEAR_SATURATE, A.INTEGER_LINEAR_SATURATE_PER_CHANNEL, A.SOFTMAX,
           A.LOG_SOFTMAX, A.GUMBEL, A.GUMBEL_MAX}


def _ids(cases):
    return [c.id for c in cases]


def _act(case: Case) -> A.Activation:
    return A.Activation(case.function, case.alpha, case.beta)


def _samples(case: Case, seed: int, shape=SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = case.domain
    pool = rng.uniform(low, high, size=20 * int(np.prod(shape)))
    for kink in case.kinks:
        pool = pool[np.abs(pool - kink) > KINK_MARGIN]
    return pool[: int(np.prod(shape))].reshape(shape)


# ------------------------------------------------------------------------------ the table itself
def test_table_covers_every_raw_value_from_0_to_35():
    assert sorted(A.ACTIVATIONS) == list(range(36))


def test_every_function_is_tested_by_a_case_or_a_dedicated_test():
    assert {c.function for c in CASES} | SPECIAL == set(range(36))


def test_unknown_function_is_rejected():
    for raw in (-1, 36, 0x100):
        with pytest.raises(InvalidArgumentError, match=f"activation function {raw} is not"):
            A.validate(A.Activation(raw))


# ------------------------------------------------------------------------------ elementwise forward
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_forward_matches_reference_formula(case):
    x = _samples(case, seed=1)
    y = A.forward(x, _act(case))
    assert y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_allclose(y, case.reference(x, case.alpha, case.beta),
                               rtol=case.tol.rtol, atol=case.tol.atol)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_forward_and_backward_keep_float32(case):
    x = _samples(case, seed=2)
    d = projection(np.random.default_rng(3), x.shape)
    act = _act(case)
    y32 = A.forward(x.astype(np.float32), act)
    d_in32 = A.backward(d.astype(np.float32), act, x=x.astype(np.float32), y=y32)
    assert y32.dtype == np.float32 and d_in32.dtype == np.float32
    np.testing.assert_allclose(y32, A.forward(x.astype(np.float32).astype(np.float64), act),
                               rtol=FLOAT32.rtol, atol=FLOAT32.atol)


HAND_CASES = [
    # (id, function, alpha, beta, x, expected y) with y worked out by hand / with `math`.
    ("gelu_at_1_is_phi_1", A.GELU, 0, 0, 1.0, 0.8413447460685429),
    ("gelu_at_minus_3", A.GELU, 0, 0, -3.0, -0.004049694094890287),
    ("erf_at_half", A.ERF, 0, 0, 0.5, 0.5204998778130465),
    ("selu_at_minus_1", A.SELU, 0, 0, -1.0, -1.1113307378125625),
    ("selu_at_1_is_lambda", A.SELU, 0, 0, 1.0, 1.0507009873554805),
    ("gelu_tanh_at_1_matches_torch", A.GELU_APPROXIMATION, SQRT_2_OVER_PI, 0.044715, 1.0,
     0.8411919906082768),
    ("gelu_sigmoid_at_1", A.GELU_APPROXIMATION_SIGMOID, 0, 0, 1.0, 0.8457957659328212),
    ("hard_swish_at_1", A.HARD_SWISH, 0, 0, 1.0, 2 / 3),
    ("hard_swish_at_minus_1", A.HARD_SWISH, 0, 0, -1.0, -1 / 3),
    ("softsign_at_3", A.SOFTSIGN, 0, 0, 3.0, 0.75),
    ("threshold_at_alpha_gives_beta", A.THRESHOLD, 0.5, -1.0, 0.5, -1.0),
    ("threshold_above_alpha_passes", A.THRESHOLD, 0.5, -1.0, 0.6, 0.6),
    ("hard_shrink_at_alpha_passes", A.HARD_SHRINK, 0.5, 0, 0.5, 0.5),
    ("hard_shrink_inside_is_zero", A.HARD_SHRINK, 0.5, 0, 0.4, 0.0),
    ("soft_shrink_negative", A.SOFT_SHRINK, 0.5, 0, -2.0, -1.5),
    ("clamped_leaky_negative", A.CLAMPED_LEAKY_RECTIFIED_LINEAR, 0.1, 2.0, -3.0, -0.3),
    ("clamped_leaky_clamped", A.CLAMPED_LEAKY_RECTIFIED_LINEAR, 0.1, 2.0, 5.0, 2.0),
    ("hard_sigmoid_middle", A.HARD_SIGMOID, 0.2, 0.5, 1.0, 0.7),
    ("softplus_scaled", A.SOFTPLUS, 0.5, -2.0, 1.5, 0.02429367578687098),
    ("log_sigmoid_at_0", A.LOG_SIGMOID, 0, 0, 0.0, -0.6931471805599453),
    ("tanh_shrink_at_1", A.TANH_SHRINK, 0, 0, 1.0, 0.23840584404423515),
    ("celu_alpha_2", A.CELU, 2.0, 0, -2.0, -1.2642411176571153),
    ("elu_alpha_1", A.ELU, 1.0, 0, -1.0, -0.6321205588285577),
    ("scaled_tanh_lecun", A.SCALED_TANH, 1.7159, 2 / 3, 1.0, 0.9999972559224791),
    ("silu_at_minus_2", A.SILU, 0, 0, -2.0, -0.2384058440442351),
    ("linear_with_bias", A.LINEAR_WITH_BIAS, 2.0, -1.0, 3.0, 5.0),
    ("relu6_clips_at_6", A.RELU6, 0, 0, 7.5, 6.0),
    ("clamp_below", A.CLAMP, -1.0, 2.0, -3.0, -1.0),
]


@pytest.mark.parametrize("function, alpha, beta, x, expected",
                         [h[1:] for h in HAND_CASES], ids=[h[0] for h in HAND_CASES])
def test_forward_hand_computed_values(function, alpha, beta, x, expected):
    y = A.forward(np.array([x]), A.Activation(function, alpha, beta))
    np.testing.assert_allclose(y, [expected], rtol=1e-14, atol=1e-16)


def test_erf_matches_math_erf_on_a_grid_to_1e_15():
    # Measured max |error| 7.8e-16 (series for |x| < 2, continued fraction beyond).
    grid = np.concatenate([np.linspace(-7, 7, 70001), [-40.0, -2.0, 2.0, 40.0, 1e300, -1e300]])
    reference = np.array([math.erf(v) for v in grid])
    error = np.abs(A.forward(grid, A.Activation(A.ERF)) - reference)
    assert error.max() < 1e-15


def test_erf_of_nan_and_infinities():
    y = A.forward(np.array([np.nan, np.inf, -np.inf]), A.Activation(A.ERF))
    np.testing.assert_array_equal(y, [np.nan, 1.0, -1.0])


def test_gelu_negative_tail_keeps_relative_accuracy():
    # 0.5 x erfc(-x / sqrt 2): 1 + erf would cancel to 0 long before x = -37.
    x = np.linspace(-37, -0.5, 5001)
    reference = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x])
    y = A.forward(x, A.Activation(A.GELU))
    assert np.all(y < 0)
    np.testing.assert_allclose(y, reference, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- elementwise backward
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_backward_from_x_matches_finite_differences(case):
    x = _samples(case, seed=4)
    act = _act(case)
    proj = projection(np.random.default_rng(5), x.shape)
    analytic = A.backward(proj, act, x=x)
    assert_gradient_matches(analytic, lambda v: float(np.sum(proj * A.forward(v, act))), x,
                            rtol=FD.rtol, atol=FD.atol)


@pytest.mark.parametrize("case", FROM_Y_CASES, ids=_ids(FROM_Y_CASES))
def test_backward_from_y_equals_backward_from_x(case):
    x = _samples(case, seed=6)
    act = _act(case)
    d = projection(np.random.default_rng(7), x.shape)
    from_y = A.backward(d, act, y=A.forward(x, act))        # no x: must not need it
    np.testing.assert_allclose(from_y, A.backward(d, act, x=x), rtol=FROM_Y.rtol, atol=FROM_Y.atol)


def test_backward_from_y_is_allowed_exactly_for_the_bnns_list():
    # bnns.md 4, minus GELUApproximationSigmoid (x sigma(1.702x) is not one-to-one).
    expected = {A.IDENTITY, A.RECTIFIED_LINEAR, A.LEAKY_RECTIFIED_LINEAR, A.SIGMOID, A.TANH,
                A.LINEAR, A.CLAMP, A.SOFTMAX, A.HARD_SIGMOID, A.SOFTPLUS, A.SOFTSIGN, A.ELU,
                A.CLAMPED_LEAKY_RECTIFIED_LINEAR, A.LINEAR_WITH_BIAS, A.LOG_SOFTMAX,
                A.LOG_SIGMOID, A.SELU, A.CELU, A.HARD_SHRINK, A.SOFT_SHRINK, A.TANH_SHRINK,
                A.THRESHOLD}
    allowed = {f for f in A.ACTIVATIONS if A.can_backward_from_output(A.Activation(f, 0.5, 1.0))}
    assert allowed == expected


@pytest.mark.parametrize("function", [A.LEAKY_RECTIFIED_LINEAR, A.ELU,
                                      A.CLAMPED_LEAKY_RECTIFIED_LINEAR])
def test_backward_from_y_needs_positive_alpha(function):
    assert A.can_backward_from_output(A.Activation(function, 0.1, 1.0))
    assert not A.can_backward_from_output(A.Activation(function, 0.0, 1.0))
    assert not A.can_backward_from_output(A.Activation(function, -0.1, 1.0))


def test_gelu_approximation_sigmoid_is_not_monotonic_so_backward_uses_x():
    # BNNS lists it as backward-from-y, but a dip at x ~ -0.75 means two inputs share each output
    # between the dip and 0.
    y = A.forward(np.array([-3.0, -0.75, 0.0]), A.Activation(A.GELU_APPROXIMATION_SIGMOID))
    assert y[1] < y[0] and y[1] < y[2]
    assert not A.can_backward_from_output(A.Activation(A.GELU_APPROXIMATION_SIGMOID))


KINK_CONVENTIONS = [
    # (id, function, alpha, beta, x on the kink, dy/dx chosen there: module Notes)
    ("relu_at_0", A.RECTIFIED_LINEAR, 0, 0, 0.0, 0.0),
    ("relu6_at_0", A.RELU6, 0, 0, 0.0, 0.0),
    ("relu6_at_6", A.RELU6, 0, 0, 6.0, 0.0),
    ("clamp_at_min", A.CLAMP, -1.0, 2.0, -1.0, 0.0),
    ("clamp_at_max", A.CLAMP, -1.0, 2.0, 2.0, 0.0),
    ("hard_sigmoid_at_0", A.HARD_SIGMOID, 0.25, 0.5, -2.0, 0.0),
    ("hard_sigmoid_at_1", A.HARD_SIGMOID, 0.25, 0.5, 2.0, 0.0),
    ("threshold_at_alpha", A.THRESHOLD, 0.5, -1.0, 0.5, 0.0),
    ("clamped_leaky_at_0", A.CLAMPED_LEAKY_RECTIFIED_LINEAR, 0.1, 2.0, 0.0, 1.0),
    ("clamped_leaky_at_beta", A.CLAMPED_LEAKY_RECTIFIED_LINEAR, 0.1, 2.0, 2.0, 0.0),
    ("leaky_relu_at_0", A.LEAKY_RECTIFIED_LINEAR, 0.1, 0, 0.0, 1.0),
    ("prelu_at_0", A.PRELU_PER_CHANNEL, 0.1, 0, 0.0, 1.0),
    ("abs_at_0", A.ABS, 0, 0, 0.0, 0.0),
    ("hard_shrink_at_alpha", A.HARD_SHRINK, 0.5, 0, 0.5, 1.0),
    ("soft_shrink_at_alpha", A.SOFT_SHRINK, 0.5, 0, -0.5, 0.0),
    ("hard_swish_at_minus_3", A.HARD_SWISH, 0, 0, -3.0, 0.0),
    ("hard_swish_at_3", A.HARD_SWISH, 0, 0, 3.0, 1.0),
]


@pytest.mark.parametrize("function, alpha, beta, x, slope", [k[1:] for k in KINK_CONVENTIONS],
                         ids=[k[0] for k in KINK_CONVENTIONS])
def test_derivative_on_a_kink_follows_the_documented_convention(function, alpha, beta, x, slope):
    act = A.Activation(function, alpha, beta)
    x = np.array([x])
    assert A.backward(np.ones(1), act, x=x) == slope
    if A.can_backward_from_output(act):      # y alone must give the same answer
        assert A.backward(np.ones(1), act, y=A.forward(x, act)) == slope


def test_tanh_shrink_backward_from_y_inverts_over_six_decades():
    x = np.concatenate([np.logspace(-4, 2, 400), -np.logspace(-4, 2, 400)])
    act = A.Activation(A.TANH_SHRINK)
    d = np.ones_like(x)
    np.testing.assert_allclose(A.backward(d, act, y=A.forward(x, act)), np.tanh(x) ** 2,
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("function", [A.ABS, A.GELU_APPROXIMATION, A.HARD_SWISH, A.SILU,
                                      A.GELU, A.ERF, A.PRELU_PER_CHANNEL])
def test_backward_without_x_raises_when_y_does_not_suffice(function):
    act = A.Activation(function, 0.5, 0.5)
    y = np.zeros(3)
    with pytest.raises(InvalidArgumentError, match="needs its input x"):
        A.backward(np.ones(3), act, y=y)


def test_backward_rejects_mismatched_shapes():
    with pytest.raises(InvalidArgumentError,
                       match=r"x has shape \(3,\) but d_out has shape \(4,\)"):
        A.backward(np.ones(4), A.Activation(A.SILU), x=np.ones(3))


def test_identity_backward_passes_d_out_through():
    d = np.arange(6.0)
    np.testing.assert_array_equal(A.backward(d, A.Activation(A.IDENTITY)), d)


# ------------------------------------------------------------------------------ softmax family
CHW = L.Descriptor.for_shape(L.LAYOUT_IMAGE_CHW, (3, 4, 5))          # size (W=5, H=4, C=3)
FIRST_MAJOR = L.Descriptor.for_shape(L.LAYOUT_3D_FIRST_MAJOR, (3, 4, 5))
VECTOR = L.Descriptor.for_shape(L.LAYOUT_VECTOR, (7,))

AXIS_CASES = [
    # (id, descriptor, axis_flags, expected NumPy axes of (N, *shape))
    ("chw_default_is_width", CHW, 0, (3,)),
    ("chw_bit0_is_width", CHW, 1, (3,)),
    ("chw_bit1_is_height", CHW, 2, (2,)),
    ("chw_bit2_is_channel", CHW, 4, (1,)),
    ("chw_width_and_height", CHW, 3, (2, 3)),
    ("chw_channel_and_height", CHW, 6, (1, 2)),
    ("chw_all_three", CHW, 7, (1, 2, 3)),
    ("first_major_default_is_size0_first_axis", FIRST_MAJOR, 0, (1,)),
    ("first_major_bit2_is_last_axis", FIRST_MAJOR, 4, (3,)),
    ("first_major_bits_0_and_2", FIRST_MAJOR, 5, (1, 3)),
    ("vector_default", VECTOR, 0, (1,)),
]


@pytest.mark.parametrize("desc, flags, expected", [c[1:] for c in AXIS_CASES],
                         ids=[c[0] for c in AXIS_CASES])
def test_axes_from_flags_maps_size_bits_to_batch_axes(desc, flags, expected):
    assert A.axes_from_flags(flags, desc) == expected


@pytest.mark.parametrize("flags", [8, 16, -1, 1.5])
def test_axes_from_flags_rejects_bits_beyond_the_rank(flags):
    with pytest.raises(InvalidArgumentError, match="axis_flags"):
        A.axes_from_flags(flags, CHW)


def _naive_softmax(x, axes, log):
    """Row by row with math.exp: the reduced axes moved last and flattened."""
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + list(axes))
    rows = moved.reshape(-1, int(np.prod([x.shape[a] for a in axes])))
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        top = max(row)
        total = sum(math.exp(v - top) for v in row)
        for i, v in enumerate(row):
            out[r, i] = (v - top - math.log(total)) if log else math.exp(v - top) / total
    return np.transpose(out.reshape(moved.shape), np.argsort(kept + list(axes)))


SOFTMAX_CASES = [(f"{name}-{case[0]}", function, case[1], case[2])
                 for name, function in (("softmax", A.SOFTMAX), ("log_softmax", A.LOG_SOFTMAX))
                 for case in AXIS_CASES if case[1] is CHW and case[2] in (0, 2, 4, 3, 6, 7)]
SOFTMAX_PARAMS = [c[1:] for c in SOFTMAX_CASES]
SOFTMAX_IDS = [c[0] for c in SOFTMAX_CASES]


def _softmax_input(desc, seed):
    # Scaled so that some rows saturate (max - min ~ 20): exercises the max shift.
    return 4 * np.random.default_rng(seed).standard_normal((2,) + desc.shape)


@pytest.mark.parametrize("function, desc, flags", SOFTMAX_PARAMS, ids=SOFTMAX_IDS)
def test_softmax_family_forward_matches_naive_rows(function, desc, flags):
    x = _softmax_input(desc, seed=8)
    axes = A.axes_from_flags(flags, desc)
    y = A.forward(x, A.Activation(function), axes=axes)
    np.testing.assert_allclose(y, _naive_softmax(x, axes, log=function == A.LOG_SOFTMAX),
                               rtol=EXACT.rtol, atol=EXACT.atol)


@pytest.mark.parametrize("function, desc, flags", SOFTMAX_PARAMS, ids=SOFTMAX_IDS)
def test_softmax_family_backward_from_x_matches_finite_differences(function, desc, flags):
    x = _softmax_input(desc, seed=9) / 4
    act = A.Activation(function)
    axes = A.axes_from_flags(flags, desc)
    proj = projection(np.random.default_rng(10), x.shape)
    analytic = A.backward(proj, act, x=x, axes=axes)
    assert_gradient_matches(analytic, lambda v: float(np.sum(proj * A.forward(v, act, axes=axes))),
                            x, rtol=FD.rtol, atol=FD.atol)


@pytest.mark.parametrize("function, desc, flags", SOFTMAX_PARAMS, ids=SOFTMAX_IDS)
def test_softmax_family_backward_from_y_equals_from_x(function, desc, flags):
    x = _softmax_input(desc, seed=11)
    act = A.Activation(function)
    axes = A.axes_from_flags(flags, desc)
    d = projection(np.random.default_rng(12), x.shape)
    from_y = A.backward(d, act, y=A.forward(x, act, axes=axes), axes=axes)
    np.testing.assert_allclose(from_y, A.backward(d, act, x=x, axes=axes),
                               rtol=FROM_Y.rtol, atol=FROM_Y.atol)


def test_softmax_hand_computed_row():
    y = A.forward(np.array([[1.0, 2.0, 3.0]]), A.Activation(A.SOFTMAX))
    np.testing.assert_allclose(y, [[0.09003057317038046, 0.24472847105479767, 0.6652409557748219]],
                               rtol=1e-14)
    log_y = A.forward(np.array([[1.0, 2.0, 3.0]]), A.Activation(A.LOG_SOFTMAX))
    np.testing.assert_allclose(log_y, [[-2.40760596444438, -1.4076059644443801,
                                        -0.4076059644443803]], rtol=1e-14)


def test_softmax_default_axis_is_the_last():
    x = _softmax_input(CHW, seed=13)
    act = A.Activation(A.SOFTMAX)
    np.testing.assert_array_equal(A.forward(x, act), A.forward(x, act, axes=(3,)))
    np.testing.assert_allclose(A.forward(x, act).sum(axis=-1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("axes", [(4,), (-5,), (1, 1)])
def test_softmax_rejects_bad_axes(axes):
    with pytest.raises(InvalidArgumentError, match="axes"):
        A.forward(np.zeros((2, 3, 4, 5)), A.Activation(A.SOFTMAX), axes=axes)


def test_softmax_filter_uses_axis_flags():
    f = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=A.Activation(A.SOFTMAX), axis_flags=6))
    x = _softmax_input(CHW, seed=14)
    np.testing.assert_allclose(f.apply(x), _naive_softmax(x, (1, 2), log=False),
                               rtol=EXACT.rtol, atol=EXACT.atol)
    d = projection(np.random.default_rng(15), x.shape)
    d_in, d_alpha = f.apply_backward(None, f.apply(x), d)
    assert d_alpha is None
    np.testing.assert_allclose(d_in, A.backward(d, A.Activation(A.SOFTMAX), x=x, axes=(1, 2)),
                               rtol=FROM_Y.rtol, atol=FROM_Y.atol)


def test_softmax_filter_rejects_axis_flags_beyond_rank():
    with pytest.raises(InvalidArgumentError, match="axis_flags 8"):
        A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=A.Activation(A.SOFTMAX), axis_flags=8))


# ------------------------------------------------------------------------------ Gumbel
GUMBEL = A.Activation(A.GUMBEL, 1.0, 0.0)
GUMBEL_MAX = A.Activation(A.GUMBEL_MAX, 1.0, 0.0)


def test_gumbel_filters_with_the_same_seed_give_the_same_outputs():
    x = np.zeros((2,) + CHW.shape)
    first = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=GUMBEL, seed=42))
    second = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=GUMBEL, seed=42))
    np.testing.assert_array_equal(first.apply(x), second.apply(x))
    np.testing.assert_array_equal(first.apply(x), second.apply(x))


def test_gumbel_filter_draws_new_noise_on_each_apply_and_per_seed():
    x = np.zeros((2,) + CHW.shape)
    f = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=GUMBEL, seed=42))
    g = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=GUMBEL, seed=43))
    a, b = f.apply(x), f.apply(x)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, g.apply(x))


def test_gumbel_forward_without_rng_is_reproducible():
    x = np.zeros(50)
    np.testing.assert_array_equal(A.forward(x, GUMBEL), A.forward(x, GUMBEL))
    np.testing.assert_array_equal(A.forward(x, GUMBEL),
                                  A.forward(x, GUMBEL, rng=np.random.default_rng(0)))


def test_gumbel_ignores_x():
    a = A.forward(np.zeros(20), GUMBEL, rng=np.random.default_rng(3))
    b = A.forward(np.linspace(-5, 5, 20), GUMBEL, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_gumbel_with_alpha_1_beta_0_is_the_standard_gumbel_distribution():
    # mean = Euler's gamma, variance = pi^2 / 6, P(G <= 0) = exp(-1); n = 200k, ~5 standard errors.
    g = A.forward(np.zeros(200_000), GUMBEL, rng=np.random.default_rng(16))
    assert abs(g.mean() - 0.5772156649015329) < 0.015
    assert abs(g.var() - math.pi ** 2 / 6) < 0.04
    assert abs(np.mean(g <= 0) - math.exp(-1)) < 0.006


def test_gumbel_beta_shifts_the_uniform_as_apple_writes_it():
    act = A.Activation(A.GUMBEL, 0.5, 0.25)
    y = A.forward(np.zeros(10), act, rng=np.random.default_rng(17))
    u = (np.random.default_rng(17).integers(0, 2 ** 52, size=10, dtype=np.int64) + 0.5) * 2.0 ** -52
    np.testing.assert_allclose(y, -np.log(-np.log(0.5 * u + 0.25) + 0.25), rtol=1e-15)


class _ExtremeDraws:
    """A generator stub whose integer draws are the two ends of their range."""

    def integers(self, low, high, size, dtype):
        return np.resize(np.array([low, high - 1], dtype=dtype), size)


def test_gumbel_draws_u_from_the_open_interval():
    # alpha 1, beta 0 is -log(-log U): U = 0 or 1 would give an infinity.
    y = A.forward(np.zeros(4), GUMBEL, rng=_ExtremeDraws())  # type: ignore[arg-type]  # a stand-in Generator
    assert np.all(np.isfinite(y))


def test_gumbel_max_is_the_max_of_noise_plus_x_along_the_axes():
    x = np.random.default_rng(18).standard_normal((2,) + CHW.shape)
    axes = (1, 2)
    y = A.forward(x, GUMBEL_MAX, axes=axes, rng=np.random.default_rng(19))
    noise = A.forward(x, GUMBEL, rng=np.random.default_rng(19))
    expected = np.broadcast_to(np.max(noise + x, axis=axes, keepdims=True), x.shape)
    np.testing.assert_array_equal(y, expected)
    y[0, 0, 0, 0] = 0.0     # a writable array of its own, not a broadcast view


@pytest.mark.parametrize("act", [GUMBEL, GUMBEL_MAX], ids=["gumbel", "gumbel_max"])
def test_gumbel_backward_raises(act):
    with pytest.raises(InvalidArgumentError, match="has no gradient"):
        A.backward(np.ones(4), act, x=np.ones(4), y=np.ones(4))
    f = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=act))
    x = np.zeros((1,) + CHW.shape)
    with pytest.raises(InvalidArgumentError, match="has no gradient"):
        f.apply_backward(x, f.apply(x), np.ones_like(x))


# ----------------------------------------------------------------------------- parameter validation
@pytest.mark.parametrize("function", [A.INTEGER_LINEAR_SATURATE,
                                      A.INTEGER_LINEAR_SATURATE_PER_CHANNEL])
def test_integer_functions_are_rejected(function):
    with pytest.raises(InvalidArgumentError, match="integer data"):
        A.validate(A.Activation(function, 1.0, 0.0))
    with pytest.raises(InvalidArgumentError, match="integer data"):
        A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=A.Activation(function)))
    with pytest.raises(InvalidArgumentError, match="integer data"):
        A.forward(np.zeros(3), A.Activation(function))


INVALID_PARAMETERS = [
    # (id, function, alpha, beta, message fragment)
    ("clamp_min_above_max", A.CLAMP, 2.0, 1.0, r"alpha \(min\) 2.0 <= beta \(max\) 1.0"),
    ("celu_zero_alpha", A.CELU, 0.0, 0.0, "alpha 0.0 must be > 0 for CELU"),
    ("celu_negative_alpha", A.CELU, -1.0, 0.0, "alpha -1.0 must be > 0 for CELU"),
    ("softplus_zero_beta", A.SOFTPLUS, 1.0, 0.0, "got alpha 1.0, beta 0.0"),
    ("softplus_zero_alpha", A.SOFTPLUS, 0.0, 1.0, "got alpha 0.0, beta 1.0"),
    ("gumbel_unset", A.GUMBEL, 0.0, 0.0, "Gumbel"),
    ("gumbel_negative_range", A.GUMBEL, -1.0, 0.5, r"give \(-0.5, 0.5\)"),
    ("gumbel_beyond_exp_beta", A.GUMBEL_MAX, 3.0, 0.0, r"give \(0.0, 3.0\) against \(0, 1\)"),
    ("nan_alpha", A.RECTIFIED_LINEAR, float("nan"), 0.0, "must be finite for RectifiedLinear"),
    ("inf_beta", A.CLAMP, 0.0, float("inf"), "beta inf must be finite for Clamp"),
]


@pytest.mark.parametrize("function, alpha, beta, message", [c[1:] for c in INVALID_PARAMETERS],
                         ids=[c[0] for c in INVALID_PARAMETERS])
def test_invalid_parameters_are_rejected(function, alpha, beta, message):
    with pytest.raises(InvalidArgumentError, match=message):
        A.validate(A.Activation(function, alpha, beta))


@pytest.mark.parametrize("function, alpha, beta", [
    (A.GUMBEL, 1.0, 0.0), (A.GUMBEL, 1.0, 1e-20), (A.GUMBEL_MAX, 0.0, 0.5), (A.CLAMP, 1.0, 1.0),
    (A.SOFTPLUS, 0.5, -2.0), (A.CELU, 0.1, 0.0), (A.ELU, -1.0, 0.0)])
def test_valid_edge_parameters_are_accepted(function, alpha, beta):
    A.validate(A.Activation(function, alpha, beta))


# ------------------------------------------------------------------------------ ActivationFilter
def _filter(function, alpha=0.0, beta=0.0, desc=CHW, **kw):
    act = A.Activation(function, alpha, beta)
    return A.ActivationFilter(ActivationParameters(i_desc=desc, o_desc=desc, activation=act, **kw))


def test_filter_apply_equals_the_module_forward():
    case = next(c for c in CASES if c.id == "gelu")
    f = _filter(case.function)
    x = _samples(case, seed=20, shape=(2,) + CHW.shape)
    np.testing.assert_array_equal(f.apply(x), A.forward(x, _act(case)))
    d = projection(np.random.default_rng(21), x.shape)
    d_in, d_alpha = f.apply_backward(x, None, d)
    np.testing.assert_array_equal(d_in, A.backward(d, _act(case), x=x))
    assert d_alpha is None
    assert f.apply_backward(x, None, d, input_grad=False) == (None, None)


def test_filter_rejects_output_shape_mismatch():
    o = L.Descriptor.for_shape(L.LAYOUT_IMAGE_CHW, (3, 5, 4))
    with pytest.raises(InvalidArgumentError,
                       match=r"o_desc shape \(3, 5, 4\).*i_desc shape \(3, 4, 5\)"):
        A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=o, activation=A.Activation(A.RECTIFIED_LINEAR)))


def test_filter_rejects_same_count_different_logical_shape():
    flat = L.Descriptor.for_shape(L.LAYOUT_VECTOR, (60,))
    with pytest.raises(InvalidArgumentError, match=r"o_desc shape \(60,\)"):
        A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=flat, activation=A.Activation(A.IDENTITY)))


def test_filter_identity_with_different_data_types_is_a_conversion():
    o = L.Descriptor.for_shape(L.LAYOUT_IMAGE_CHW, (3, 4, 5), data_type=L.DTYPE_FLOAT16)
    f = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=o, activation=A.Activation(A.IDENTITY)))
    x = np.random.default_rng(29).standard_normal((2,) + CHW.shape).astype(np.float32)
    np.testing.assert_array_equal(f.apply(x), x)


def test_filter_apply_rejects_wrong_input_shape():
    f = _filter(A.RECTIFIED_LINEAR)
    with pytest.raises(InvalidArgumentError,
                       match=r"x has shape \(2, 3, 5, 4\); expected \(N, \*\(3, 4, 5\)\)"):
        f.apply(np.zeros((2, 3, 5, 4)))
    with pytest.raises(InvalidArgumentError, match=r"x has shape \(3, 4, 5\)"):
        f.apply(np.zeros((3, 4, 5)))


def test_filter_backward_rejects_batch_mismatch():
    f = _filter(A.SILU)
    with pytest.raises(InvalidArgumentError, match="x has batch size 3 but d_out has 2"):
        f.apply_backward(np.zeros((3,) + CHW.shape), None, np.zeros((2,) + CHW.shape))


def test_filter_backward_without_x_raises_when_y_does_not_suffice():
    f = _filter(A.SILU)
    y = np.zeros((1,) + CHW.shape)
    with pytest.raises(InvalidArgumentError, match="SiLU.*needs its input x"):
        f.apply_backward(None, y, np.ones_like(y))


def test_filter_rejects_weights_grad_for_functions_without_alpha():
    f = _filter(A.SIGMOID)
    x = np.zeros((1,) + CHW.shape)
    with pytest.raises(InvalidArgumentError, match="Sigmoid has no trainable parameter"):
        f.apply_backward(x, f.apply(x), np.ones_like(x), weights_grad=True)


def test_filter_parameters_are_empty_without_a_trainable_alpha():
    assert _filter(A.ELU, 1.0).parameters() == {}


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_filter_rejects_a_bad_seed(seed):
    with pytest.raises(InvalidArgumentError, match="seed"):
        A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=GUMBEL, seed=seed))


# ------------------------------------------------------------------------------ trainable alpha
PRELU_ALPHA = np.array([0.25, -0.5, 1.5])


def _prelu_reference(x, alpha):
    """x >= 0 ? x : alpha_c x, channel axis 1, written as an explicit loop over channels."""
    y = x.copy()
    for c, a in enumerate(alpha):
        plane = x[:, c]
        y[:, c] = np.where(plane >= 0, plane, a * plane)
    return y


def _prelu_filter(alpha=0.25):
    return _filter(A.PRELU_PER_CHANNEL, alpha)


def _kinkless(shape, seed):
    x = np.random.default_rng(seed).uniform(-2, 2, size=shape)
    return np.where(np.abs(x) < KINK_MARGIN, KINK_MARGIN + np.abs(x), x)


def test_prelu_alpha_starts_from_activation_alpha_per_channel():
    alpha = _prelu_filter(0.25).parameters()["alpha"]
    assert alpha.dtype == np.float32 and alpha.shape == (3,)
    np.testing.assert_array_equal(alpha, [0.25, 0.25, 0.25])


def test_prelu_forward_uses_each_channels_alpha_after_an_update():
    f = _prelu_filter()
    f.parameters()["alpha"][:] = PRELU_ALPHA      # what an optimizer step does in place
    x = _kinkless((2,) + CHW.shape, seed=22)
    np.testing.assert_allclose(f.apply(x), _prelu_reference(x, PRELU_ALPHA.astype(np.float32)),
                               rtol=1e-15)


def test_prelu_alpha_gradient_matches_finite_differences():
    f = _prelu_filter()
    f.parameters()["alpha"][:] = PRELU_ALPHA
    alpha = f.parameters()["alpha"].astype(np.float64)
    x = _kinkless((2,) + CHW.shape, seed=23)
    d = projection(np.random.default_rng(24), x.shape)
    d_in, d_alpha = f.apply_backward(x, None, d, weights_grad=True)
    assert d_alpha.shape == (3,)
    assert_gradient_matches(d_alpha, lambda a: float(np.sum(d * _prelu_reference(x, a))), alpha,
                            rtol=FD.rtol, atol=FD.atol)
    assert_gradient_matches(d_in, lambda v: float(np.sum(d * f.apply(v))), x,
                            rtol=FD.rtol, atol=FD.atol)


def test_leaky_relu_alpha_gradient_has_shape_one_and_matches_finite_differences():
    f = _filter(A.LEAKY_RECTIFIED_LINEAR, 0.1)
    x = _kinkless((2,) + CHW.shape, seed=25)
    d = projection(np.random.default_rng(26), x.shape)
    _, d_alpha = f.apply_backward(x, f.apply(x), d, input_grad=False, weights_grad=True)
    assert d_alpha.shape == (1,)
    numeric = numerical_gradient(
        lambda a: float(np.sum(d * np.where(x >= 0, x, a[0] * x))), np.array([0.1]))
    np.testing.assert_allclose(d_alpha, numeric, rtol=FD.rtol, atol=FD.atol)


def test_leaky_relu_filter_backward_uses_y_unless_alpha_gradient_is_asked():
    f = _filter(A.LEAKY_RECTIFIED_LINEAR, 0.1)
    x = _kinkless((2,) + CHW.shape, seed=27)
    y, d = f.apply(x), projection(np.random.default_rng(28), x.shape)
    d_in, _ = f.apply_backward(None, y, d)
    expected = A.backward(d, A.Activation(A.LEAKY_RECTIFIED_LINEAR, 0.1), x=x)
    np.testing.assert_allclose(d_in, expected, rtol=1e-7)     # the filter keeps alpha in float32
    with pytest.raises(InvalidArgumentError, match="needs its input x for the alpha gradient"):
        f.apply_backward(None, y, d, weights_grad=True)


def test_prelu_backward_needs_x():
    f = _prelu_filter()
    y = np.ones((1,) + CHW.shape)
    with pytest.raises(InvalidArgumentError, match="PReLUPerChannel needs its input x"):
        f.apply_backward(None, y, y)


def test_prelu_requires_an_image_chw_input():
    desc = L.Descriptor.for_shape(L.LAYOUT_3D_LAST_MAJOR, (3, 4, 5))
    with pytest.raises(InvalidArgumentError, match="i_desc layout 0x38000 is not ImageCHW"):
        _filter(A.PRELU_PER_CHANNEL, 0.25, desc=desc)


# ---------------------------------------------------------------------------- out= buffers
def _out_buffers(shape):
    """A contiguous buffer, a view with padded rows (unit inner stride) and an every-other view."""
    padded = np.full(tuple(s + 2 for s in shape), np.nan, np.float32)
    every_other = np.full(tuple(shape[:-1]) + (2 * shape[-1],), np.nan, np.float32)
    return {"contiguous": np.full(shape, np.nan, np.float32),
            "padded": padded[tuple(slice(1, s + 1) for s in shape)],
            "every-other": every_other[..., ::2]}


@pytest.mark.parametrize("kind", ["contiguous", "padded", "every-other"])
@pytest.mark.parametrize("function, alpha", [(A.IDENTITY, 0.0), (A.RECTIFIED_LINEAR, 0.0), (A.TANH, 0.0),
                                             (A.PRELU_PER_CHANNEL, 0.2), (A.SOFTMAX, 0.0)])
def test_filter_out_buffers_get_the_numbers_of_the_call_without_them(function, alpha, kind):
    f = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=A.Activation(function, alpha)))
    rng = np.random.default_rng(11)
    shape = (2,) + CHW.shape
    x = rng.standard_normal(shape).astype(np.float32)
    d_out = rng.standard_normal(shape).astype(np.float32)
    out = _out_buffers(shape)[kind]
    assert f.apply(x, out=out) is out
    np.testing.assert_array_equal(out, f.apply(x))
    d_in_out = _out_buffers(shape)[kind]
    d_in, _ = f.apply_backward(x, out, d_out, in_delta_out=d_in_out)
    assert d_in is d_in_out
    np.testing.assert_array_equal(d_in, f.apply_backward(x, f.apply(x), d_out)[0])


def test_filter_out_buffer_of_the_wrong_shape_is_rejected():
    f = A.ActivationFilter(ActivationParameters(i_desc=CHW, o_desc=CHW, activation=A.Activation(A.RECTIFIED_LINEAR)))
    x = np.zeros((2,) + CHW.shape, np.float32)
    with pytest.raises(InvalidArgumentError, match="out has shape"):
        f.apply(x, out=np.zeros((3,) + CHW.shape, np.float32))
