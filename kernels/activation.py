"""BNNS activation functions (BNNSActivationFunction, bnns.md 3.1), forward and backward, and the
standalone activation filter (BNNSFilterCreateLayerActivation, bnns.md 2.1).

One table, ``ACTIVATIONS``, keyed by Apple's raw value (0-35). Each row is a pure forward and its
derivative, taken either from the output y (what BNNS does for fused activations, bnns.md 4
"Generic backward rules") or from the input x. Convolution, fully connected, pooling,
normalization and the activation layer all use this module; nothing else computes an activation.

Three shapes of row:

* elementwise (most): ``forward(x, alpha, beta) -> y`` and ``grad_from_x`` / ``grad_from_y``
  returning dy/dx elementwise (the Jacobian is diagonal);
* along axes (Softmax, LogSoftmax): ``forward(x, alpha, beta, axes)`` and ``vjp_from_x`` /
  ``vjp_from_y`` returning dL/dx from dL/dy, since the Jacobian couples the elements of an axis;
* random (Gumbel, GumbelMax): ``forward(x, alpha, beta, axes, rng)``; no gradient.

Formulas (alpha = a, beta = b; sigma = logistic sigmoid)::

     0 Identity                   x
     1 RectifiedLinear            max(x, 0)
     2 LeakyRectifiedLinear       x >= 0 ? x : a x                       (a trainable, standalone)
     3 Sigmoid                    sigma(x)
     4 Tanh                       tanh x
     5 ScaledTanh                 a tanh(b x)
     6 Abs                        |x|
     7 Linear                     a x
     8 Clamp                      min(max(x, a), b)
     9 IntegerLinearSaturate      integer data only: rejected
    10 IntegerLinearSaturatePerChannel   integer data only: rejected
    11 Softmax                    exp(x_i) / sum_j exp(x_j) over the axes
    12 GELUApproximation          0.5 x (1 + tanh(a (x + b x^3)))
    13 Gumbel                     -log(-log(a U + b) + b), U ~ Uniform(0, 1); x is not used
    14 GumbelMax                  max_j (Gumbel_j + x_j) over the axes, broadcast along them
    15 HardSigmoid                max(0, min(1, a x + b))
    16 Softplus                   a log(1 + exp(b x))
    17 Softsign                   x / (1 + |x|)
    18 ELU                        x < 0 ? a (exp(x) - 1) : x
    19 ClampedLeakyRectifiedLinear  x < 0 ? min(a x, b) : min(x, b)
    20 LinearWithBias             a x + b
    21 LogSoftmax                 x_i - log sum_j exp(x_j) over the axes
    22 LogSigmoid                 log sigma(x)
    23 SELU                       l (x > 0 ? x : k (exp(x) - 1)), l = 1.0507009873554805,
                                  k = 1.6732632423543772 (a, b unused)
    24 CELU                       x < 0 ? a (exp(x / a) - 1) : x
    25 HardShrink                 |x| < |a| ? 0 : x
    26 SoftShrink                 |x| < |a| ? 0 : x - copysign(a, x)
    27 TanhShrink                 x - tanh x
    28 Threshold                  x <= a ? b : x
    29 PReLUPerChannel            x >= 0 ? x : a_c x, a_c per channel    (a_c trainable, standalone)
    30 HardSwish (GELUApproximation2)   x relu6(x + 3) / 6
    31 SiLU                       x sigma(x)
    32 ReLU6                      min(max(x, 0), 6)
    33 Erf                        erf x
    34 GELU                       0.5 x (1 + erf(x / sqrt 2))
    35 GELUApproximationSigmoid   x sigma(1.702 x)

Notes
-----
Conventions chosen where BNNS is silent (UNCONFIRMED in bnns.md unless said otherwise):

* Backward from y exactly for the functions bnns.md 4 lists (Identity, ReLU, LeakyReLU with
  a > 0, Sigmoid, LogSigmoid, Tanh, Linear, Clamp, Softmax, HardSigmoid, Softplus, Softsign, ELU
  (a > 0 here, else y does not determine x), SELU, CELU, ClampedLeakyReLU with a > 0,
  LinearWithBias, LogSoftmax, HardShrink, SoftShrink, TanhShrink, Threshold), with one
  exception: GELUApproximationSigmoid is on that list but x sigma(1.702 x) is not one-to-one
  (it dips to a minimum near x = -0.75), so y cannot give its derivative; it backpropagates from x
  and so cannot be fused in training here. Everything else backpropagates from x only, even
  where y would do (ScaledTanh, ReLU6), so that what may be fused in training is what BNNS allows.
* TanhShrink from y inverts y = x - tanh x (increasing) by Newton's method in float64.
  Threshold from y: the derivative is 1 where y != b, 0 where y == b (exact except where x == b).
* Derivatives at kinks: ReLU, ReLU6, Clamp, HardSigmoid, Threshold and the clamped side of
  ClampedLeakyReLU take 0 on the boundary (so y alone decides); LeakyReLU and PReLU take 1 at
  x = 0; Abs takes 0 at 0; HardShrink 1 and SoftShrink 0 at |x| = |a|; HardSwish 0 at x = -3 and
  1 at x = 3.
* GELUApproximation uses a and b as given: PyTorch's tanh GELU is a = sqrt(2/pi) = 0.7978845608,
  b = 0.044715. GELU (34) is the exact erf form; GELUApproximationSigmoid is x sigma(1.702 x).
  HardShrink and SoftShrink use |a| (Apple's formulas), so the sign of a does not matter.
* Gumbel ignores x (Apple's formula has no x) and returns noise of x's shape. GumbelMax returns,
  at every position of the reduced axes, max_j (g_j + x_j): the value of the Gumbel-max trick,
  broadcast so the output keeps the input's shape. Both draw U from the open interval (0, 1)
  (52 random bits + 1/2) with the given ``rng`` (a ``numpy.random.Generator``); ``rng=None``
  means a fresh ``np.random.default_rng(0)``, so a call without a generator is reproducible and
  always gives the same noise. GumbelMax draws the same noise as Gumbel from the same generator.
  Neither has a gradient (InvalidArgumentError).
* Softmax, LogSoftmax and GumbelMax act along ``axes`` (NumPy axes of x; default the last one,
  which is BNNS's size[0] axis for the natural layouts). ``axes_from_flags`` maps BNNS's
  axis_flags (bit k = size[k]) for a descriptor; axis_flags 0 means bit 0 (size[0]), which for a
  FirstMajor layout is the *first* (slowest) logical axis, not the last.
* Parameter checks beyond finiteness: Clamp a <= b; CELU a > 0; Softplus a != 0 and b != 0
  (a = 0 or b = 0 makes it a constant, almost surely unset parameters, and y / a is needed for
  the backward from y); Gumbel / GumbelMax need a U + b inside (0, exp(b)) for U in (0, 1) so
  both logarithms are defined.
* IntegerLinearSaturate (9, 10) shift and saturate integer data with iscale / ioffset / ishift;
  this service computes in floating point, so they are rejected rather than approximated.
* erf is evaluated in float64 (a positive-term series for |x| < 2, Laplace's continued fraction
  for erfc beyond; |error| < 1e-15 for erf, relative error < 2e-13 for erfc, see the tests) and
  rounded to x's dtype. GELU uses erfc(-x / sqrt 2) so its negative tail keeps relative accuracy.
* Results have x's dtype (float32 in service, float64 in gradient checks).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import numpy as np

from .errors import InternalError, InvalidArgumentError, given, require, require_out
from .layout import FIRST_MAJOR_LAYOUTS, LAYOUT_IMAGE_CHW, Descriptor
from .params import Activation, ActivationParameters

# BNNSActivationFunction raw values (bnns.md 3.1) ------------------------------------------------
IDENTITY = 0
RECTIFIED_LINEAR = 1
LEAKY_RECTIFIED_LINEAR = 2
SIGMOID = 3
TANH = 4
SCALED_TANH = 5
ABS = 6
LINEAR = 7
CLAMP = 8
INTEGER_LINEAR_SATURATE = 9
INTEGER_LINEAR_SATURATE_PER_CHANNEL = 10
SOFTMAX = 11
GELU_APPROXIMATION = 12
GUMBEL = 13
GUMBEL_MAX = 14
HARD_SIGMOID = 15
SOFTPLUS = 16
SOFTSIGN = 17
ELU = 18
CLAMPED_LEAKY_RECTIFIED_LINEAR = 19
LINEAR_WITH_BIAS = 20
LOG_SOFTMAX = 21
LOG_SIGMOID = 22
SELU = 23
CELU = 24
HARD_SHRINK = 25
SOFT_SHRINK = 26
TANH_SHRINK = 27
THRESHOLD = 28
PRELU_PER_CHANNEL = 29
GELU_APPROXIMATION2 = 30
HARD_SWISH = 30            # Apple's alias of GELUApproximation2
SILU = 31
RELU6 = 32
ERF = 33
GELU = 34
GELU_APPROXIMATION_SIGMOID = 35

SELU_SCALE = 1.0507009873554805     # lambda
SELU_ALPHA = 1.6732632423543772
GELU_SIGMOID_SCALE = 1.702


@dataclasses.dataclass(frozen=True)
class ActivationKind:
    """One row of the activation table.

    Elementwise rows:
        forward(x, alpha, beta) -> y.
        grad_from_x(x, alpha, beta) -> dy/dx.
        grad_from_y(y, alpha, beta) -> dy/dx given only y (field None: y never determines it).
    Rows with ``along_axes`` (Softmax, LogSoftmax):
        forward(x, alpha, beta, axes) -> y.
        vjp_from_x(d_out, x, alpha, beta, axes) / vjp_from_y(d_out, y, alpha, beta, axes) -> dL/dx.
    Rows with ``random`` (Gumbel, GumbelMax):
        forward(x, alpha, beta, axes, rng) -> y; no gradient.

    from_y_if(alpha, beta): whether grad_from_y / vjp_from_y holds for these parameters
    (None: always). check(alpha, beta, name): extra parameter validation. trainable_alpha: the
    standalone filter learns alpha (returned in weights_delta). no_gradient: why a backward is
    refused, for rows without one.
    """

    name: str
    forward: Callable
    grad_from_x: Optional[Callable] = None
    grad_from_y: Optional[Callable] = None
    check: Optional[Callable] = None
    from_y_if: Optional[Callable] = None
    along_axes: bool = False
    vjp_from_x: Optional[Callable] = None
    vjp_from_y: Optional[Callable] = None
    random: bool = False
    trainable_alpha: bool = False
    no_gradient: str = ""

    @property
    def differentiable(self) -> bool:
        return self.grad_from_x is not None or self.vjp_from_x is not None


# ------------------------------------------------------------------------------ elementwise maths
def _sigmoid(x):
    # exp of a non-positive argument only: no overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _softplus(x, a, b):
    # a log(1 + exp(bx)) = a (max(bx, 0) + log1p(exp(-|bx|))): no overflow, no loss for bx << 0.
    z = x * b
    return a * (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))


def _log_sigmoid(x):
    # log sigma(x) = min(x, 0) - log1p(exp(-|x|)).
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _leaky(x, a):
    return np.where(x >= 0, x, x * a)


def _clamped_leaky(x, a, b):
    return np.where(x < 0, np.minimum(x * a, b), np.minimum(x, b))


def _clamped_leaky_grad_x(x, a, b):
    # x < 0: slope a unless a x is clamped at b; x >= 0: slope 1 unless x is clamped at b.
    return np.where(x < 0, np.where(x * a < b, a, 0), np.where(x < b, 1, 0))


def _clamped_leaky_grad_y(y, a, b):
    # a > 0: y < 0 <=> x < 0 unclamped; y >= b <=> clamped; else 0 <= x < b.
    return np.where(y >= b, 0, np.where(y < 0, a, 1))


def _tanh_shrink(x):
    # x - tanh x cancels for small |x|; there use its series (truncation < 5e-15 relative at 0.1).
    small = np.abs(x) < 0.1
    z = x * x
    series = x * z * (1 / 3 + z * (-2 / 15 + z * (17 / 315 + z * (-62 / 2835 + z * (
        1382 / 155925 - z * 21844 / 6081075)))))
    return np.where(small, series, x - np.tanh(x))


def _tanh_shrink_grad_y(y, a, b):
    # dy/dx = tanh(x)^2 at the x with x - tanh x = y (an increasing function): Newton's method
    # from x0 = cbrt(3|y|), which is left of the root since x - tanh x <= x^3 / 3; the first
    # step lands right of it and the iteration then descends monotonically (f is convex there).
    target = np.abs(np.asarray(y, dtype=np.float64))
    x = np.cbrt(3 * target)
    # Quadratic convergence: ~5 steps to 1e-12; steps then jitter at ~1e-14 (rounding of the
    # residual over a small slope), hence the 1e-12 stop rather than an exact fixed point.
    for _ in range(50):
        t = np.tanh(x)
        slope = t * t
        step = np.divide(_tanh_shrink(x) - target, slope, out=np.zeros_like(x), where=slope > 0)
        x = x - step
        if not np.any(np.abs(step) > 1e-12 * x):
            break
    return np.tanh(x) ** 2


def _hard_swish(x):
    return x * np.clip(x + 3, 0, 6) / 6


def _hard_swish_grad_x(x, a, b):
    return np.where(x <= -3, 0, np.where(x >= 3, 1, (2 * x + 3) / 6))


def _silu_grad_x(x, scale):
    # d/dx x sigma(kx) = s (1 + k x (1 - s)), s = sigma(kx).
    s = _sigmoid(x * scale)
    return s * (1 + scale * x * (1 - s))


def _gelu_tanh(x, a, b):
    return 0.5 * x * (1 + np.tanh(a * (x + b * x ** 3)))


def _gelu_tanh_grad_x(x, a, b):
    t = np.tanh(a * (x + b * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * a * (1 + 3 * b * x * x)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_PI = 1 / math.sqrt(math.pi)


def _gelu(x):
    # 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2): no cancellation for x << 0.
    return 0.5 * x * _erfc(-x * _SQRT_HALF).astype(x.dtype, copy=False)


def _gelu_grad_x(x, a, b):
    # Phi(x) + x phi(x).
    cdf = 0.5 * _erfc(-x * _SQRT_HALF).astype(x.dtype, copy=False)
    return cdf + x * np.exp(-0.5 * x * x) * (_INV_SQRT_PI * _SQRT_HALF)


# ------------------------------------------------------------------------------ erf in NumPy
# erf x = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!   (all terms positive, no cancellation)
_ERF_SERIES = [1.0]
for _n in range(1, 30):           # 30 terms: the tail is below 1e-17 for |x| < 2
    _ERF_SERIES.append(_ERF_SERIES[-1] * 2 / (2 * _n + 1))
_ERF_SPLIT = 2.0
_ERFC_FRACTION_TERMS = 60         # Laplace's continued fraction converges to 1e-16 at x = 2


def _erf_series(x):
    z = x * x
    acc = np.full_like(x, _ERF_SERIES[-1])
    for c in reversed(_ERF_SERIES[:-1]):
        acc *= z
        acc += c
    return 2 * _INV_SQRT_PI * x * acc * np.exp(-z)


def _erfc_fraction(a):
    # erfc a = exp(-a^2) / sqrt(pi) / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / (a + ...))))),
    # for a >= 2, evaluated from the tail up.
    a = np.minimum(a, 30.0)                   # erfc(30) underflows to 0; keeps inf out of f
    f = a.copy()
    for k in range(_ERFC_FRACTION_TERMS, 0, -1):
        np.divide(k / 2, f, out=f)
        f += a
    return np.exp(-a * a) * _INV_SQRT_PI / f


def _erf(x):
    """erf, elementwise, evaluated in float64."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = np.abs(x) < _ERF_SPLIT           # NaN goes to the large branch and stays NaN
    out[small] = _erf_series(x[small])
    big = x[~small]
    out[~small] = np.sign(big) * (1 - _erfc_fraction(np.abs(big)))
    return out


def _erfc(x):
    """erfc = 1 - erf, elementwise, evaluated in float64 with relative accuracy in the tail."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = np.abs(x) < _ERF_SPLIT
    out[small] = 1 - _erf_series(x[small])
    big = x[~small]
    tail = _erfc_fraction(np.abs(big))
    out[~small] = np.where(big > 0, tail, 2 - tail)
    return out


# ------------------------------------------------------------------------------ along axes
def _softmax(x, a, b, axes):
    shifted = x - np.max(x, axis=axes, keepdims=True)   # exp(<= 0): no overflow
    e = np.exp(shifted)
    return e / np.sum(e, axis=axes, keepdims=True)


def _log_softmax(x, a, b, axes):
    shifted = x - np.max(x, axis=axes, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axes, keepdims=True))


def _softmax_vjp_y(d, y, a, b, axes):
    # dx_i = y_i (d_i - sum_j d_j y_j)
    return y * (d - np.sum(d * y, axis=axes, keepdims=True))


def _log_softmax_vjp_y(d, y, a, b, axes):
    # dx_i = d_i - softmax_i sum_j d_j, softmax = exp(y)
    return d - np.exp(y) * np.sum(d, axis=axes, keepdims=True)


# ------------------------------------------------------------------------------ random
def _open_uniform(rng, shape):
    # U in (0, 1) open on both sides, so log(a U + b) never meets log(0) or log(1) at the ends
    # the parameter check allows: U = (k + 1/2) 2^-52 with k < 2^52 is exact in float64 (53 bits)
    # and lies in [2^-53, 1 - 2^-53].
    return (rng.integers(0, 2 ** 52, size=shape, dtype=np.int64) + 0.5) * 2.0 ** -52


def _gumbel_noise(shape, a, b, rng):
    rng = np.random.default_rng(0) if rng is None else rng
    u = _open_uniform(rng, shape)
    return -np.log(-np.log(a * u + b) + b)


def _gumbel(x, a, b, axes, rng):
    return _gumbel_noise(x.shape, a, b, rng)


def _gumbel_max(x, a, b, axes, rng):
    best = np.max(_gumbel_noise(x.shape, a, b, rng) + x, axis=axes, keepdims=True)
    return np.broadcast_to(best, x.shape).copy()


# ------------------------------------------------------------------------------ parameter checks
def _check_clamp(alpha, beta, name):
    require(alpha <= beta, lambda: f"{name}: Clamp needs alpha (min) {alpha} <= beta (max) {beta}")


def _check_celu(alpha, beta, name):
    require(alpha > 0, lambda: f"{name}.alpha {alpha} must be > 0 for CELU (it divides x by alpha)")


def _check_softplus(alpha, beta, name):
    require(alpha != 0 and beta != 0,
            lambda: f"{name}: Softplus alpha log(1 + exp(beta x)) needs alpha != 0 and beta != 0 "
            f"(got alpha {alpha}, beta {beta}: a constant function)")


def _check_gumbel(alpha, beta, name):
    ends = sorted((beta, alpha + beta))
    if alpha == 0:
        ok = beta > 0
    else:
        ok = ends[0] >= 0 and ends[1] <= math.exp(beta)
    require(ok, lambda: f"{name}: Gumbel -log(-log(alpha U + beta) + beta) needs alpha U + beta inside "
                f"(0, exp(beta)) for U in (0, 1); alpha {alpha}, beta {beta} give "
                f"({ends[0]}, {ends[1]}) against (0, {math.exp(beta):.6g})")


def _integer_only(raw, label):
    message = (f"activation function {label} ({raw}) saturates integer data with iscale / ioffset "
               f"/ ishift; this service computes in floating point and does not provide it")

    def reject(*args):
        raise InvalidArgumentError(message)

    return reject, message


_reject_ils, _ILS_MESSAGE = _integer_only(INTEGER_LINEAR_SATURATE, "IntegerLinearSaturate")
_reject_ilspc, _ILSPC_MESSAGE = _integer_only(INTEGER_LINEAR_SATURATE_PER_CHANNEL,
                                              "IntegerLinearSaturatePerChannel")


def _ones(v):
    return np.ones_like(v)


ACTIVATIONS: dict[int, ActivationKind] = {
    IDENTITY: ActivationKind(
        "Identity",
        forward=lambda x, a, b: x,
        grad_from_x=lambda x, a, b: _ones(x),
        grad_from_y=lambda y, a, b: _ones(y)),
    RECTIFIED_LINEAR: ActivationKind(
        "RectifiedLinear",
        forward=lambda x, a, b: np.maximum(x, 0, dtype=x.dtype),
        grad_from_x=lambda x, a, b: (x > 0).astype(x.dtype),
        grad_from_y=lambda y, a, b: (y > 0).astype(y.dtype)),
    LEAKY_RECTIFIED_LINEAR: ActivationKind(
        # From y only when alpha > 0 (then sign(y) == sign(x)).
        "LeakyRectifiedLinear",
        forward=lambda x, a, b: _leaky(x, a),
        grad_from_x=lambda x, a, b: np.where(x >= 0, 1, a),
        grad_from_y=lambda y, a, b: np.where(y >= 0, 1, a),
        from_y_if=lambda a, b: a > 0,
        trainable_alpha=True),
    SIGMOID: ActivationKind(
        "Sigmoid",
        forward=lambda x, a, b: _sigmoid(x),
        grad_from_x=lambda x, a, b: _sigmoid(x) * (1 - _sigmoid(x)),
        grad_from_y=lambda y, a, b: y * (1 - y)),
    TANH: ActivationKind(
        "Tanh",
        forward=lambda x, a, b: np.tanh(x),
        grad_from_x=lambda x, a, b: 1 - np.tanh(x) ** 2,
        grad_from_y=lambda y, a, b: 1 - y * y),
    SCALED_TANH: ActivationKind(
        "ScaledTanh",   # a tanh(bx)' = a b (1 - tanh(bx)^2)
        forward=lambda x, a, b: a * np.tanh(b * x),
        grad_from_x=lambda x, a, b: a * b * (1 - np.tanh(b * x) ** 2)),
    ABS: ActivationKind(
        "Abs",
        forward=lambda x, a, b: np.abs(x),
        grad_from_x=lambda x, a, b: np.sign(x)),
    LINEAR: ActivationKind(
        "Linear",
        forward=lambda x, a, b: x * a,
        grad_from_x=lambda x, a, b: np.full_like(x, a),
        grad_from_y=lambda y, a, b: np.full_like(y, a)),
    CLAMP: ActivationKind(
        # Derivative 1 strictly inside (alpha, beta), 0 on and outside the bounds (PyTorch's clamp
        # passes the gradient at the bounds; from y alone the two cannot be told apart, so the
        # boundary is treated as clamped in both paths).
        "Clamp",
        forward=lambda x, a, b: np.clip(x, a, b),
        grad_from_x=lambda x, a, b: ((x > a) & (x < b)).astype(x.dtype),
        grad_from_y=lambda y, a, b: ((y > a) & (y < b)).astype(y.dtype),
        check=_check_clamp),
    INTEGER_LINEAR_SATURATE: ActivationKind(
        "IntegerLinearSaturate", forward=_reject_ils, check=_reject_ils,
        no_gradient=_ILS_MESSAGE),
    INTEGER_LINEAR_SATURATE_PER_CHANNEL: ActivationKind(
        "IntegerLinearSaturatePerChannel", forward=_reject_ilspc, check=_reject_ilspc,
        no_gradient=_ILSPC_MESSAGE),
    SOFTMAX: ActivationKind(
        "Softmax",
        forward=_softmax,
        along_axes=True,
        vjp_from_x=lambda d, x, a, b, axes: _softmax_vjp_y(d, _softmax(x, a, b, axes), a, b, axes),
        vjp_from_y=_softmax_vjp_y),
    GELU_APPROXIMATION: ActivationKind(
        "GELUApproximation",
        forward=_gelu_tanh,
        grad_from_x=_gelu_tanh_grad_x),
    GUMBEL: ActivationKind(
        "Gumbel", forward=_gumbel, random=True, check=_check_gumbel,
        no_gradient="Gumbel has no gradient: its output is random noise that does not depend on x"),
    GUMBEL_MAX: ActivationKind(
        "GumbelMax", forward=_gumbel_max, random=True, along_axes=True, check=_check_gumbel,
        no_gradient="GumbelMax has no gradient: its output depends on random noise drawn in the "
                    "forward pass, which the backward does not have"),
    HARD_SIGMOID: ActivationKind(
        # slope a where 0 < a x + b < 1, else 0 (boundaries count as clamped in both paths).
        "HardSigmoid",
        forward=lambda x, a, b: np.clip(x * a + b, 0, 1),
        grad_from_x=lambda x, a, b: np.where((x * a + b > 0) & (x * a + b < 1), a, 0),
        grad_from_y=lambda y, a, b: np.where((y > 0) & (y < 1), a, 0)),
    SOFTPLUS: ActivationKind(
        # dy/dx = a b sigma(bx); from y: sigma(bx) = 1 - exp(-y / a).
        "Softplus",
        forward=_softplus,
        grad_from_x=lambda x, a, b: a * b * _sigmoid(x * b),
        grad_from_y=lambda y, a, b: -a * b * np.expm1(-y / a),
        check=_check_softplus),
    SOFTSIGN: ActivationKind(
        # dy/dx = 1 / (1 + |x|)^2 = (1 - |y|)^2.
        "Softsign",
        forward=lambda x, a, b: x / (1 + np.abs(x)),
        grad_from_x=lambda x, a, b: 1 / (1 + np.abs(x)) ** 2,
        grad_from_y=lambda y, a, b: (1 - np.abs(y)) ** 2),
    ELU: ActivationKind(
        # From y: x < 0 <=> y < 0 (alpha > 0), dy/dx = a exp(x) = y + alpha.
        "ELU",
        forward=lambda x, a, b: np.where(x < 0, a * np.expm1(np.minimum(x, 0)), x),
        grad_from_x=lambda x, a, b: np.where(x < 0, a * np.exp(np.minimum(x, 0)), 1),
        grad_from_y=lambda y, a, b: np.where(y < 0, y + a, 1),
        from_y_if=lambda a, b: a > 0),
    CLAMPED_LEAKY_RECTIFIED_LINEAR: ActivationKind(
        "ClampedLeakyRectifiedLinear",
        forward=lambda x, a, b: _clamped_leaky(x, a, b),
        grad_from_x=_clamped_leaky_grad_x,
        grad_from_y=_clamped_leaky_grad_y,
        from_y_if=lambda a, b: a > 0),
    LINEAR_WITH_BIAS: ActivationKind(
        "LinearWithBias",
        forward=lambda x, a, b: x * a + b,
        grad_from_x=lambda x, a, b: np.full_like(x, a),
        grad_from_y=lambda y, a, b: np.full_like(y, a)),
    LOG_SOFTMAX: ActivationKind(
        "LogSoftmax",
        forward=_log_softmax,
        along_axes=True,
        vjp_from_x=lambda d, x, a, b, axes: _log_softmax_vjp_y(d, _log_softmax(x, a, b, axes),
                                                                a, b, axes),
        vjp_from_y=_log_softmax_vjp_y),
    LOG_SIGMOID: ActivationKind(
        # dy/dx = sigma(-x) = 1 - exp(y).
        "LogSigmoid",
        forward=lambda x, a, b: _log_sigmoid(x),
        grad_from_x=lambda x, a, b: _sigmoid(-x),
        grad_from_y=lambda y, a, b: -np.expm1(y)),
    SELU: ActivationKind(
        # From y: x > 0 <=> y > 0; for x <= 0, dy/dx = l k exp(x) = y + l k.
        "SELU",
        forward=lambda x, a, b: SELU_SCALE * np.where(
            x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
        grad_from_x=lambda x, a, b: SELU_SCALE * np.where(
            x > 0, 1, SELU_ALPHA * np.exp(np.minimum(x, 0))),
        grad_from_y=lambda y, a, b: np.where(y > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA)),
    CELU: ActivationKind(
        # From y: x < 0 <=> y < 0, dy/dx = exp(x / a) = y / a + 1.
        "CELU",
        forward=lambda x, a, b: np.where(x < 0, a * np.expm1(np.minimum(x, 0) / a), x),
        grad_from_x=lambda x, a, b: np.where(x < 0, np.exp(np.minimum(x, 0) / a), 1),
        grad_from_y=lambda y, a, b: np.where(y < 0, y / a + 1, 1),
        check=_check_celu),
    HARD_SHRINK: ActivationKind(
        "HardShrink",
        forward=lambda x, a, b: np.where(np.abs(x) < abs(a), 0, x),
        grad_from_x=lambda x, a, b: (np.abs(x) >= abs(a)).astype(x.dtype),
        grad_from_y=lambda y, a, b: (y != 0).astype(y.dtype)),
    SOFT_SHRINK: ActivationKind(
        "SoftShrink",
        forward=lambda x, a, b: np.where(np.abs(x) < abs(a), 0, x - np.sign(x) * abs(a)),
        grad_from_x=lambda x, a, b: (np.abs(x) > abs(a)).astype(x.dtype),
        grad_from_y=lambda y, a, b: (y != 0).astype(y.dtype)),
    TANH_SHRINK: ActivationKind(
        "TanhShrink",
        forward=lambda x, a, b: _tanh_shrink(x),
        grad_from_x=lambda x, a, b: np.tanh(x) ** 2,
        grad_from_y=_tanh_shrink_grad_y),
    THRESHOLD: ActivationKind(
        "Threshold",
        forward=lambda x, a, b: np.where(x <= a, b, x),
        grad_from_x=lambda x, a, b: (x > a).astype(x.dtype),
        grad_from_y=lambda y, a, b: (y != b).astype(y.dtype)),
    PRELU_PER_CHANNEL: ActivationKind(
        # The table's scalar alpha is every channel's initial a_c; ActivationFilter keeps the
        # per-channel values. Not on BNNS's from-y list.
        "PReLUPerChannel",
        forward=lambda x, a, b: _leaky(x, a),
        grad_from_x=lambda x, a, b: np.where(x >= 0, 1, a),
        trainable_alpha=True),
    HARD_SWISH: ActivationKind(
        "HardSwish",
        forward=lambda x, a, b: _hard_swish(x),
        grad_from_x=_hard_swish_grad_x),
    SILU: ActivationKind(
        "SiLU",
        forward=lambda x, a, b: x * _sigmoid(x),
        grad_from_x=lambda x, a, b: _silu_grad_x(x, 1)),
    RELU6: ActivationKind(
        "ReLU6",
        forward=lambda x, a, b: np.clip(x, 0, 6),
        grad_from_x=lambda x, a, b: ((x > 0) & (x < 6)).astype(x.dtype)),
    ERF: ActivationKind(
        "Erf",   # erf' = 2/sqrt(pi) exp(-x^2)
        forward=lambda x, a, b: _erf(x),
        grad_from_x=lambda x, a, b: 2 * _INV_SQRT_PI * np.exp(-x * x)),
    GELU: ActivationKind(
        "GELU",
        forward=lambda x, a, b: _gelu(x),
        grad_from_x=_gelu_grad_x),
    GELU_APPROXIMATION_SIGMOID: ActivationKind(
        # On BNNS's from-y list, but x sigma(1.702x) is not one-to-one: from x only (see Notes).
        "GELUApproximationSigmoid",
        forward=lambda x, a, b: x * _sigmoid(x * GELU_SIGMOID_SCALE),
        grad_from_x=lambda x, a, b: _silu_grad_x(x, GELU_SIGMOID_SCALE)),
}


def kind_of(function: int) -> ActivationKind:
    if function not in ACTIVATIONS:
        raise InvalidArgumentError(
            f"activation function {function} is not supported (BNNSActivationFunction 0-35)")
    return ACTIVATIONS[function]


def is_identity(act: Activation) -> bool:
    return act.function == IDENTITY


def validate(act: Activation, name: str = "activation") -> None:
    """Refuses a BNNSActivation this service cannot compute: an unknown function, non-finite
    alpha / beta, or parameters outside the function's domain. The integer saturation fields
    (iscale, ...) are read by no function computed here (the codec refuses those two)."""
    kind = kind_of(act.function)
    require(np.isfinite(act.alpha) and np.isfinite(act.beta),
            lambda: f"{name}.alpha {act.alpha} / beta {act.beta} must be finite for {kind.name}")
    if kind.check is not None:
        kind.check(act.alpha, act.beta, name)


# ------------------------------------------------------------------------------ forward / backward
def forward(x: np.ndarray, act: Activation, *, axes=None,
            rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """y = act(x), same shape and dtype as x.

    Parameters
    ----------
    x : ndarray of floats, any shape (the batch first when it comes from a filter).
    act : the activation; not validated here (filters validate it once at creation).
    axes : int or tuple of NumPy axes of x along which Softmax, LogSoftmax and GumbelMax act;
        None = the last axis (BNNS's size[0] for the natural layouts). Ignored by elementwise
        functions.
    rng : numpy Generator for Gumbel / GumbelMax; None = a fresh ``np.random.default_rng(0)``
        (reproducible: every call without a generator draws the same noise).
    """
    kind = kind_of(act.function)
    x = _float_array(x, "x")
    if kind.random:
        axes = _normalize_axes(axes, x.ndim) if kind.along_axes else None
        y = kind.forward(x, act.alpha, act.beta, axes, rng)
    elif kind.along_axes:
        y = kind.forward(x, act.alpha, act.beta, _normalize_axes(axes, x.ndim))
    else:
        y = kind.forward(x, act.alpha, act.beta)
    return np.asarray(y).astype(x.dtype, copy=False)


def can_backward_from_output(act: Activation) -> bool:
    """True if dy/dx can be recovered from y alone (BNNS's rule for fused activations)."""
    kind = kind_of(act.function)
    if kind.grad_from_y is None and kind.vjp_from_y is None:
        return False
    return kind.from_y_if is None or bool(kind.from_y_if(act.alpha, act.beta))


def backward(d_out: np.ndarray, act: Activation, *, x: Optional[np.ndarray] = None,
             y: Optional[np.ndarray] = None, axes=None) -> np.ndarray:
    """dL/dx = dL/dy * act'(.) from y when the function allows it, else from x.

    Parameters
    ----------
    d_out : dL/dy, the shape of x.
    x : the pre-activation input (needed when y does not determine the derivative).
    y : the activation output.
    axes : as for ``forward`` (Softmax, LogSoftmax); ignored by elementwise functions.

    Returns
    -------
    dL/dx, the shape and dtype of d_out (d_out itself for Identity).
    """
    if is_identity(act):
        return d_out
    kind = kind_of(act.function)
    if not kind.differentiable:
        raise InvalidArgumentError(kind.no_gradient or f"activation {kind.name} has no gradient")
    d_out = _float_array(d_out, "d_out")
    if kind.along_axes:
        axes = _normalize_axes(axes, d_out.ndim)
    if y is not None and can_backward_from_output(act):
        y = _same_shape(y, d_out, "y")
        if kind.along_axes:
            d_in = given(kind.vjp_from_y, lambda: f"activation {kind.name}'s row lacks it", error=InternalError)(d_out, y, act.alpha, act.beta, axes)
        else:
            d_in = d_out * given(kind.grad_from_y, lambda: f"activation {kind.name}'s row lacks it", error=InternalError)(y, act.alpha, act.beta)
    else:
        if x is None:
            raise InvalidArgumentError(
                f"the backward of activation {kind.name} (alpha {act.alpha}, beta {act.beta}) "
                + ("needs its output y or its input x; neither was given"
                   if can_backward_from_output(act) else
                   "needs its input x, which was not given (its output y does not determine "
                   "the derivative)"))
        x = _same_shape(x, d_out, "x")
        if kind.along_axes:
            d_in = given(kind.vjp_from_x, lambda: f"activation {kind.name}'s row lacks it", error=InternalError)(d_out, x, act.alpha, act.beta, axes)
        else:
            d_in = d_out * given(kind.grad_from_x, lambda: f"activation {kind.name}'s row lacks it", error=InternalError)(x, act.alpha, act.beta)
    return np.asarray(d_in).astype(d_out.dtype, copy=False)


def axes_from_flags(axis_flags: int, desc: Descriptor) -> tuple:
    """NumPy axes of the batch array (N, *desc.shape) selected by BNNS's axis_flags.

    Bit k of axis_flags selects dimension k of ``desc.size``; 0 selects size[0]. For the natural
    layouts size[k] is NumPy axis ``rank - k`` of the batch array (size[0] is the last, fastest
    axis); for the FirstMajor layouts size is in NumPy order, so size[k] is axis ``1 + k``.

    Examples: ImageCHW (N, C, H, W): 0 or 1 -> (3,) (W), 2 -> (2,) (H), 4 -> (1,) (C),
    7 -> (1, 2, 3); 2DFirstMajor (N, I, J): 0 or 1 -> (1,), 2 -> (2,).
    """
    rank = desc.rank
    flags = int(axis_flags)
    require(flags == axis_flags and 0 <= flags < (1 << rank),
            lambda: f"axis_flags {axis_flags!r} must select among the {rank} dimensions of "
            f"{desc.describe()} (bits 0..{rank - 1}, i.e. 0 <= axis_flags < {1 << rank})")
    flags = flags or 1
    bits = [k for k in range(rank) if flags >> k & 1]
    if desc.layout in FIRST_MAJOR_LAYOUTS:
        axes = [1 + k for k in bits]
    else:
        axes = [rank - k for k in bits]
    return tuple(sorted(axes))


# ------------------------------------------------------------------------------ the filter
class ActivationFilter:
    """BNNSFilterCreateLayerActivation: y = act(x) on a batch, and its backward.

    x and y are arrays of shape (N, *i_desc.shape), e.g. (N, C, H, W) for ImageCHW of size
    (W, H, C). Identity with different i/o data types is BNNS's type conversion; data types are
    the codec's business, so only the logical shapes must agree.

    LeakyRectifiedLinear and PReLUPerChannel learn alpha: ``parameters()["alpha"]`` is the live
    float32 array, shape (1,) or (C,), initialised from ``activation.alpha``; writing into it (an
    optimizer step) changes the next apply, as BNNSGetPointer(filter, Alpha) does in BNNS.

    Gumbel and GumbelMax draw from a generator seeded with ``params.seed`` when the filter is created;
    each apply advances it, so two filters with the same seed give the same sequence of outputs.

    axis_flags chooses the axes of Softmax, LogSoftmax and GumbelMax (``axes_from_flags``); the
    elementwise functions ignore it, as BNNS does.
    """

    def __init__(self, params: ActivationParameters):
        params.i_desc.validate("i_desc")
        params.o_desc.validate("o_desc")
        act = params.activation
        validate(act, "activation")
        kind = kind_of(act.function)
        require(params.i_desc.shape == params.o_desc.shape,
                lambda: f"o_desc shape {params.o_desc.shape} ({params.o_desc.describe()}) does not match "
                f"i_desc shape {params.i_desc.shape} ({params.i_desc.describe()}): an activation "
                f"keeps the shape of its input")
        self._params = params
        self._kind = kind
        self._axes = axes_from_flags(params.axis_flags, params.i_desc) if kind.along_axes else None
        self._alpha = None
        self._alpha_shape = None
        if act.function == PRELU_PER_CHANNEL:
            require(params.i_desc.layout == LAYOUT_IMAGE_CHW,
                    lambda: f"i_desc layout {params.i_desc.layout:#x} is not ImageCHW (0x30000): "
                    f"PReLUPerChannel keeps one alpha per channel of an ImageCHW input")
            channels = params.i_desc.shape[0]
            self._alpha = np.full(channels, act.alpha, dtype=np.float32)
            self._alpha_shape = (1, channels) + (1,) * (len(params.i_desc.shape) - 1)
        elif act.function == LEAKY_RECTIFIED_LINEAR:
            self._alpha = np.full(1, act.alpha, dtype=np.float32)
            self._alpha_shape = (1,) * (1 + len(params.i_desc.shape))
        seed = params.seed
        require(isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0,
                lambda: f"seed {seed!r} must be a non-negative integer")
        self._rng = np.random.default_rng(int(seed)) if kind.random else None

    @property
    def params(self) -> ActivationParameters:
        return self._params

    @property
    def input_desc(self) -> Descriptor:
        return self._params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self._params.o_desc

    @property
    def axes(self) -> Optional[tuple]:
        """NumPy axes of the batch array the axis functions act along (None if elementwise)."""
        return self._axes

    def parameters(self) -> dict:
        """The trainable parameters: {"alpha": live float32 array} or {}."""
        return {} if self._alpha is None else {"alpha": self._alpha}

    def apply(self, x: np.ndarray, *, out: Optional[np.ndarray] = None) -> np.ndarray:
        """y = act(x); x of shape (N, *i_desc.shape), y of shape (N, *o_desc.shape), x's dtype.

        out : optional float array of shape (N, *o_desc.shape), possibly a strided view; y is
            written into it and it is returned (Identity and ReLU write it directly, the other
            functions with one final copy).
        """
        x = self._batch(x, "x", self.input_desc)
        if out is not None:
            require_out(out, x.shape, "out")
            function = self._params.activation.function
            if self._alpha is None and function == IDENTITY:
                np.copyto(out, x)
                return out
            if self._alpha is None and function == RECTIFIED_LINEAR:
                return np.maximum(x, 0, out=out)
            np.copyto(out, self.apply(x))
            return out
        if self._alpha is not None:
            return _leaky(x, self._alpha.reshape(self._alpha_shape)).astype(x.dtype, copy=False)
        return forward(x, self._params.activation, axes=self._axes, rng=self._rng)

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray,
                       *, input_grad: bool = True, weights_grad: bool = False,
                       in_delta_out: Optional[np.ndarray] = None) -> tuple:
        """(dL/dx, dL/dalpha) from dL/dy.

        Parameters
        ----------
        x : (N, *i_desc.shape) or None; needed when y does not determine the derivative, and for
            the alpha gradient.
        y : (N, *o_desc.shape) or None; preferred when the function allows it (bnns.md 4).
        d_out : (N, *o_desc.shape), dL/dy.
        input_grad : compute dL/dx.
        weights_grad : compute dL/dalpha (LeakyRectifiedLinear: shape (1,), PReLUPerChannel:
            (C,)), summed over the batch as BNNS returns it in weights_delta.
        in_delta_out : optional float array of shape (N, *i_desc.shape), possibly a strided
            view; dL/dx is written into it and returned as d_in.

        Returns
        -------
        (d_in, d_alpha), each None when not asked; in d_out's dtype.
        """
        if in_delta_out is not None and input_grad:
            d_out = self._batch(d_out, "d_out", self.output_desc)
            require_out(in_delta_out, (d_out.shape[0],) + self.input_desc.shape, "in_delta_out")
            d_in, d_alpha = self.apply_backward(x, y, d_out, input_grad=True, weights_grad=weights_grad)
            np.copyto(in_delta_out, d_in)
            return in_delta_out, d_alpha
        kind = self._kind
        act = self._params.activation
        require(not weights_grad or kind.trainable_alpha,
                lambda: f"weights_grad was requested but activation {kind.name} has no trainable "
                f"parameter (only LeakyRectifiedLinear and PReLUPerChannel learn alpha)")
        d_out = self._batch(d_out, "d_out", self.output_desc)
        batch = d_out.shape[0]
        if x is not None:
            x = self._batch(x, "x", self.input_desc, batch)
        if y is not None:
            y = self._batch(y, "y", self.output_desc, batch)
        if self._alpha is None:
            d_in = None
            if input_grad:
                d_in = backward(d_out, act, x=x, y=y, axes=self._axes)
                if d_in is d_out:
                    d_in = d_out.copy()
            return d_in, None

        alpha = self._alpha.reshape(self._alpha_shape)
        # BNNS: LeakyReLU may use y only when alpha > 0 and no weights_delta is asked.
        from_y = (act.function == LEAKY_RECTIFIED_LINEAR and y is not None and not weights_grad
                  and float(self._alpha[0]) > 0)
        if (input_grad or weights_grad) and not from_y and x is None:
            wanted = "the alpha gradient" if weights_grad else "the input gradient"
            raise InvalidArgumentError(
                f"the backward of activation {kind.name} needs its input x for {wanted}, "
                f"which was not given")
        d_in = d_alpha = None
        if input_grad:
            v = given(y if from_y else x, "x or y", error=InternalError)   # checked above
            d_in = (d_out * np.where(v >= 0, 1, alpha)).astype(d_out.dtype, copy=False)
        if weights_grad:
            # dy/da_c = x where x < 0; summed over the batch and every axis but the channel's.
            x = given(x, "x", error=InternalError)                           # checked above
            contribution = d_out * np.where(x < 0, x, 0)
            keep = 1 if act.function == PRELU_PER_CHANNEL else None
            axes = tuple(a for a in range(contribution.ndim) if a != keep)
            d_alpha = contribution.sum(axis=axes).reshape(self._alpha.shape).astype(
                d_out.dtype, copy=False)
        return d_in, d_alpha

    def _batch(self, array, name: str, desc: Descriptor, batch: Optional[int] = None) -> np.ndarray:
        array = _float_array(array, name)
        expected = desc.shape
        require(array.ndim == len(expected) + 1 and tuple(array.shape[1:]) == expected
                and array.shape[0] >= 1,
                lambda: f"{name} has shape {array.shape}; expected (N, *{expected}) for "
                f"{desc.describe()}")
        if batch is not None:
            require(array.shape[0] == batch,
                    lambda: f"{name} has batch size {array.shape[0]} but d_out has {batch}")
        return array


# ------------------------------------------------------------------------------ helpers
def _float_array(array, name: str) -> np.ndarray:
    array = np.asarray(array)
    require(np.issubdtype(array.dtype, np.floating),
            lambda: f"{name} holds {array.dtype}; activations take floating-point arrays")
    return array


def _same_shape(array, like: np.ndarray, name: str) -> np.ndarray:
    array = _float_array(array, name)
    require(array.shape == like.shape,
            lambda: f"{name} has shape {array.shape} but d_out has shape {like.shape}")
    return array


def _normalize_axes(axes, ndim: int) -> tuple:
    require(ndim >= 1, "Softmax-like activations need an array of at least one dimension")
    if axes is None:
        return (ndim - 1,)
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    out = []
    for axis in axes:
        require(isinstance(axis, (int, np.integer)) and -ndim <= axis < ndim,
                lambda: f"axes {tuple(axes)} has {axis!r}, outside an array of {ndim} dimensions")
        out.append(int(axis) % ndim)
    require(len(set(out)) == len(out), lambda: f"axes {tuple(axes)} repeats an axis")
    return tuple(sorted(out))
