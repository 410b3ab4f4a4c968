"""BNNS activation functions (BNNSActivationFunction, bnns.md 3.1), forward and backward.

One table, ``ACTIVATIONS``, keyed by Apple's raw value. Each entry is a pure forward
``f(x, alpha, beta) -> y`` and a backward that takes the derivative either from the output y
(what BNNS does for fused activations) or from the input x (functions whose derivative cannot be
recovered from y). Convolution, fully connected, pooling, normalization and the activation layer
all use this module; nothing else computes an activation.

Elementwise functions act on any shape; axis functions (Softmax, LogSoftmax) take ``axes``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from .errors import InvalidArgumentError, require

IDENTITY = 0
RECTIFIED_LINEAR = 1
LEAKY_RECTIFIED_LINEAR = 2
SIGMOID = 3
TANH = 4
LINEAR = 7
CLAMP = 8
ELU = 18


@dataclasses.dataclass(frozen=True)
class Activation:
    """BNNSActivation: the function's raw value and its two float parameters."""

    function: int = IDENTITY
    alpha: float = 0.0
    beta: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.function == IDENTITY

    @property
    def kind(self) -> "ActivationKind":
        return kind_of(self.function)

    def validate(self, name: str = "activation") -> None:
        kind = self.kind
        require(np.isfinite(self.alpha) and np.isfinite(self.beta),
                f"{name}.alpha {self.alpha} / beta {self.beta} must be finite for {kind.name}")
        if kind.check is not None:
            kind.check(self.alpha, self.beta, name)


@dataclasses.dataclass(frozen=True)
class ActivationKind:
    """One row of the activation table.

    forward(x, alpha, beta) -> y.
    grad_from_y(y, alpha, beta) -> dy/dx given only y, or None if y does not determine it.
    grad_from_x(x, alpha, beta) -> dy/dx given x.
    """

    name: str
    forward: Callable
    grad_from_x: Callable
    grad_from_y: Optional[Callable] = None
    check: Optional[Callable] = None   # extra parameter validation (alpha, beta, name)


def _sigmoid(x):
    # exp of a non-positive argument only: no overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _check_clamp(alpha, beta, name):
    require(alpha <= beta, f"{name}: Clamp needs alpha (min) {alpha} <= beta (max) {beta}")


ACTIVATIONS: dict[int, ActivationKind] = {
    IDENTITY: ActivationKind(
        "Identity",
        forward=lambda x, a, b: x,
        grad_from_x=lambda x, a, b: np.ones_like(x),
        grad_from_y=lambda y, a, b: np.ones_like(y)),
    RECTIFIED_LINEAR: ActivationKind(
        "RectifiedLinear",
        forward=lambda x, a, b: np.maximum(x, 0, dtype=x.dtype),
        grad_from_x=lambda x, a, b: (x > 0).astype(x.dtype),
        grad_from_y=lambda y, a, b: (y > 0).astype(y.dtype)),
    LEAKY_RECTIFIED_LINEAR: ActivationKind(
        # x >= 0 ? x : alpha*x. From y only when alpha > 0 (then sign(y) == sign(x)).
        "LeakyRectifiedLinear",
        forward=lambda x, a, b: np.where(x >= 0, x, x * x.dtype.type(a)),
        grad_from_x=lambda x, a, b: np.where(x >= 0, 1, a).astype(x.dtype),
        grad_from_y=lambda y, a, b: np.where(y >= 0, 1, a).astype(y.dtype) if a > 0 else None),
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
    LINEAR: ActivationKind(
        "Linear",   # alpha * x
        forward=lambda x, a, b: x * x.dtype.type(a),
        grad_from_x=lambda x, a, b: np.full_like(x, a),
        grad_from_y=lambda y, a, b: np.full_like(y, a)),
    CLAMP: ActivationKind(
        # min(max(x, alpha), beta); derivative 1 strictly inside (alpha, beta), 0 on and outside
        # the bounds (PyTorch's clamp passes the gradient at the bounds; from y alone the two
        # cannot be told apart, so the boundary is treated as clamped in both paths).
        "Clamp",
        forward=lambda x, a, b: np.clip(x, a, b).astype(x.dtype, copy=False),
        grad_from_x=lambda x, a, b: ((x > a) & (x < b)).astype(x.dtype),
        grad_from_y=lambda y, a, b: ((y > a) & (y < b)).astype(y.dtype),
        check=_check_clamp),
    ELU: ActivationKind(
        # x < 0 ? alpha*(exp(x)-1) : x. From y: x < 0 <=> y < 0 (alpha > 0), dy/dx = y + alpha.
        "ELU",
        forward=lambda x, a, b: np.where(x < 0, a * np.expm1(np.minimum(x, 0)), x).astype(x.dtype),
        grad_from_x=lambda x, a, b: np.where(x < 0, a * np.exp(np.minimum(x, 0)), 1).astype(x.dtype),
        grad_from_y=lambda y, a, b: np.where(y < 0, y + a, 1).astype(y.dtype) if a > 0 else None),
}


def kind_of(function: int) -> ActivationKind:
    if function not in ACTIVATIONS:
        raise InvalidArgumentError(f"activation function {function} is not supported")
    return ACTIVATIONS[function]


def forward(x: np.ndarray, act: Activation) -> np.ndarray:
    """y = act(x), elementwise, same shape and dtype as x."""
    return act.kind.forward(x, act.alpha, act.beta)


def can_backward_from_output(act: Activation) -> bool:
    """True if dy/dx can be recovered from y alone (BNNS's rule for fused activations)."""
    kind = act.kind
    if kind.grad_from_y is None:
        return False
    probe = kind.grad_from_y(np.zeros(1, np.float32), act.alpha, act.beta)
    return probe is not None


def backward(d_out: np.ndarray, act: Activation, *, x: Optional[np.ndarray] = None,
             y: Optional[np.ndarray] = None) -> np.ndarray:
    """dL/dx = dL/dy * act'(.) from y when the function allows it, else from x.

    Parameters
    ----------
    d_out : dL/dy, any shape.
    x : the pre-activation input (needed when y does not determine the derivative).
    y : the activation output.
    """
    if act.is_identity:
        return d_out
    kind = act.kind
    if y is not None and can_backward_from_output(act):
        return d_out * kind.grad_from_y(y, act.alpha, act.beta)
    if x is None:
        raise InvalidArgumentError(
            f"the backward of activation {kind.name} needs its input x, which was not given")
    return d_out * kind.grad_from_x(x, act.alpha, act.beta)
