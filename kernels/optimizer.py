"""BNNSOptimizerStep (bnns.md 3.7): SGD with momentum, Adam, AdamW, AMSGrad and RMSProp.

One call updates ``number_of_parameters`` parameter arrays and their accumulators **in place**,
as BNNS does with the caller's buffers. The per-optimizer updates are pure functions at module
level (``sgd_momentum_update``, ``adam_update``, ``adamw_update``, ``rms_prop_update``) that
take one parameter array, its processed gradient and its accumulator arrays; ``optimizer_step``
validates the whole call, turns raw gradients into the gradients those functions see
(``processed_gradients``: scale, clip, regularize) and dispatches.

All functions of the C enum ``BNNSOptimizerFunction`` are supported (raw values 1..12). The
``*WithClipping`` forms read ``clipping_func``/``clip_gradients_max_norm``/
``clip_gradients_use_norm`` instead of the ``clip_gradients`` flag; otherwise they are the same
optimizer. ``OptimizerFields`` is the union of the six C field structs
(``BNNSOptimizer{SGDMomentum,Adam,RMSProp}[WithClipping]Fields``); a field that the chosen
function's struct does not have must stay at its default.

Notes
-----
Conventions where BNNS is silent or unconfirmed (each has a test in
tests/kernels/test_optimizer.py):

* **Gradient pipeline.** ``g = clip(gradient_scale * dL/dW) + R'(W)``: the raw gradient is
  scaled first, then clipped, then the regularization gradient is added (and is not clipped).
  bnns.md writes ``gradient_scale * clip(dL/dW)``; the order only matters when
  ``gradient_scale != 1`` and we chose "scale, then clip" so that the clip bounds and norms are
  in the units of the gradient the optimizer actually uses.
* **Clipping.** By value: ``g = min(max(g, clip_gradients_min), clip_gradients_max)``. By norm,
  per parameter array: ``g *= max_norm / max(||g||_2, max_norm)``. By global norm, over all
  parameters of the call: ``G = sqrt(sum_i ||g_i||^2)`` (or ``clip_gradients_use_norm`` when it
  is > 0), ``g_i *= max_norm / max(G, max_norm)``. This is TensorFlow's ``clip_by_norm`` /
  ``clip_by_global_norm(use_norm=...)``, whose signature BNNSClipByGlobalNorm mirrors (PyTorch's
  ``clip_grad_norm_`` adds 1e-6 to the norm; we do not).
* **Regularization.** ``R'(W) = regularization_scale * sign(W)`` for L1 (sign(0) = 0) and
  ``regularization_scale * W`` for L2: PyTorch's ``weight_decay`` form. BNNS's exact factor
  (W or 2W) is UNCONFIRMED. A nonzero ``regularization_scale`` with ``REGULARIZATION_NONE`` is
  rejected rather than ignored.
* **AdamW** (and AdamW-AMSGrad): ``regularization_scale`` is the decoupled weight decay
  (Swift's ``weightDecay``; which C field carries it is UNCONFIRMED). PyTorch's AdamW form:
  ``W *= 1 - lr * regularization_scale`` before the Adam step, and nothing is added to g, so
  ``regularization_func`` does not apply and must stay NONE.
* **SGD with momentum**: the three variants and their Nesterov forms exactly as bnns.md 3.7
  writes them (see ``sgd_momentum_update``). Variant 1 is ``torch.optim.SGD`` (dampening 0).
  As bnns.md gives it, variant 2's Nesterov form keeps V unscaled by lr and so coincides with
  variant 1's Nesterov form. ``momentum == 0`` is plain SGD ``W -= lr g`` for every variant and
  needs no accumulator; Nesterov with ``momentum == 0`` is rejected (as PyTorch does).
* **Adam**: ``torch.optim.Adam``, bias-corrected with the client's ``time_step`` t (the caller
  increments it after stepping all layers; it must be >= 1): ``W -= lr/(1-b1^t) * m /
  (sqrt(v)/sqrt(1-b2^t) + eps)``. bnns.md suggests BNNS may use Kingma & Ba's "eps-hat" form
  ``lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps)`` (UNCONFIRMED); the two differ only by how eps
  is scaled. AMSGrad: ``vmax = max(vmax, v)`` and vmax replaces v in the denominator
  (PyTorch's form, which keeps the maximum of the un-corrected v).
* **RMSProp**: ``torch.optim.RMSprop`` (alpha, eps, centered, momentum). The momentum
  accumulator holds ``delta = momentum*delta + g/denom`` and ``W -= lr*delta``; bnns.md's form
  keeps lr inside delta (``delta = momentum*delta - lr*g/denom; W += delta``), which is the same
  update while lr is constant. Centered: ``denom = sqrt(max(n - g_bar^2, 0)) + eps``; the clamp
  at 0 only guards rounding (in exact arithmetic n >= g_bar^2).
* **Accumulator layout** (blocked by kind, as BNNS): SGD ``[V_0..V_{n-1}]`` (none when
  momentum == 0); Adam/AdamW ``[m_0..m_{n-1}, v_0..v_{n-1}]``; AMSGrad forms add
  ``[vmax_0..vmax_{n-1}]``; RMSProp ``[n.., g_bar.. (centered), delta.. (momentum != 0)]``.
  Accumulator ``j*n + i`` has the shape of parameter i. The caller zero-fills them once.
* **Validation** happens entirely before the first write, so a failed call changes nothing.
  Arrays must be NumPy arrays of one float dtype (float32; float64 accepted for tests),
  C-contiguous, with gradient i and every accumulator of parameter i shaped like parameter i;
  parameters and accumulators must be writeable and must not overlap each other. Hyperparameter
  ranges follow PyTorch: lr >= 0, momentum >= 0, 0 <= beta < 1, 0 <= alpha <= 1, and
  additionally epsilon > 0 and every float finite. Gradient *values* are not checked: NaN or
  inf in a gradient propagates into the parameters as it would in BNNS (floating-point
  warnings are suppressed for the update).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence

import numpy as np

from .errors import InvalidArgumentError, given, require
from .params import OptimizerFields

# BNNSOptimizerFunction
SGD_MOMENTUM = 1
ADAM = 2
RMS_PROP = 3
ADAM_W = 4
ADAM_AMS_GRAD = 5
ADAM_W_AMS_GRAD = 6
SGD_MOMENTUM_WITH_CLIPPING = 7
ADAM_WITH_CLIPPING = 8
RMS_PROP_WITH_CLIPPING = 9
ADAM_W_WITH_CLIPPING = 10
ADAM_AMS_GRAD_WITH_CLIPPING = 11
ADAM_W_AMS_GRAD_WITH_CLIPPING = 12

# BNNSOptimizerRegularizationFunction
REGULARIZATION_NONE = 0
REGULARIZATION_L1 = 1
REGULARIZATION_L2 = 2

# BNNSOptimizerClippingFunction
CLIPPING_NONE = 0
CLIPPING_BY_VALUE = 1
CLIPPING_BY_NORM = 2
CLIPPING_BY_GLOBAL_NORM = 3

# BNNSOptimizerSGDMomentumVariant
SGD_MOMENTUM_VARIANT_0 = 0
SGD_MOMENTUM_VARIANT_1 = 1
SGD_MOMENTUM_VARIANT_2 = 2

REGULARIZATION_NAMES = {REGULARIZATION_NONE: "None", REGULARIZATION_L1: "L1", REGULARIZATION_L2: "L2"}
CLIPPING_NAMES = {CLIPPING_NONE: "None", CLIPPING_BY_VALUE: "ByValue", CLIPPING_BY_NORM: "ByNorm",
                  CLIPPING_BY_GLOBAL_NORM: "ByGlobalNorm"}


@dataclasses.dataclass(frozen=True)
class OptimizerKind:
    """One row of the optimizer table: what a BNNSOptimizerFunction raw value means."""

    name: str                  # Apple's name, for messages
    family: str                # "sgd_momentum", "adam", "rms_prop"
    decoupled_decay: bool = False   # AdamW
    ams_grad: bool = False
    with_clipping: bool = False

    @property
    def fields_struct(self) -> str:
        base = {"sgd_momentum": "SGDMomentum", "adam": "Adam", "rms_prop": "RMSProp"}[self.family]
        return f"BNNSOptimizer{base}{'WithClipping' if self.with_clipping else ''}Fields"


OPTIMIZERS: dict[int, OptimizerKind] = {}
for _raw, _name, _family, _decay, _ams in (
        (SGD_MOMENTUM, "SGDMomentum", "sgd_momentum", False, False),
        (ADAM, "Adam", "adam", False, False),
        (RMS_PROP, "RMSProp", "rms_prop", False, False),
        (ADAM_W, "AdamW", "adam", True, False),
        (ADAM_AMS_GRAD, "AdamAMSGrad", "adam", False, True),
        (ADAM_W_AMS_GRAD, "AdamWAMSGrad", "adam", True, True)):
    OPTIMIZERS[_raw] = OptimizerKind(f"BNNSOptimizerFunction{_name}", _family, _decay, _ams, False)
    OPTIMIZERS[_raw + 6] = OptimizerKind(f"BNNSOptimizerFunction{_name}WithClipping", _family, _decay,
                                         _ams, True)
del _raw, _name, _family, _decay, _ams


def kind_of(function: int) -> OptimizerKind:
    """The table row for a BNNSOptimizerFunction raw value; InvalidArgumentError if unknown."""
    require(isinstance(function, (int, np.integer)) and not isinstance(function, bool)
            and int(function) in OPTIMIZERS,
            lambda: f"function {function!r} is not a BNNSOptimizerFunction (1..12: SGDMomentum, Adam, RMSProp, "
            f"AdamW, AdamAMSGrad, AdamWAMSGrad and their WithClipping forms 7..12)")
    return OPTIMIZERS[int(function)]


def accumulator_blocks(function: int, fields: OptimizerFields) -> list[str]:
    """The names of the accumulator blocks, in BNNS's blocked order (each block has one array
    per parameter): SGD ["V"] or [] when momentum == 0; Adam ["m", "v"] (+ "vmax" for AMSGrad);
    RMSProp ["n"] + ["g_bar"] if centered + ["delta"] if momentum != 0."""
    kind = kind_of(function)
    if kind.family == "sgd_momentum":
        return [] if fields.momentum == 0 else ["V"]
    if kind.family == "adam":
        return ["m", "v", "vmax"] if kind.ams_grad else ["m", "v"]
    return ["n"] + (["g_bar"] if fields.centered else []) + (["delta"] if fields.momentum != 0 else [])


def accumulator_count(function: int, n_params: int, fields: OptimizerFields) -> int:
    """How many accumulator arrays BNNSOptimizerStep needs for n_params parameters.

    SGD: 0 if momentum == 0 else n; Adam/AdamW: 2n; AMSGrad forms: 3n;
    RMSProp: n * (1 + centered + (momentum != 0)).
    """
    require(isinstance(n_params, (int, np.integer)) and not isinstance(n_params, bool) and n_params >= 0,
            lambda: f"n_params {n_params!r} must be a non-negative integer")
    return int(n_params) * len(accumulator_blocks(function, fields))


# --------------------------------------------------------------------------------------------
# Gradient processing: scale, clip, regularize (pure)
# --------------------------------------------------------------------------------------------

def clip_by_value(g: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """min(max(g, lo), hi), same shape and dtype as g (BNNSClipByValue)."""
    return np.clip(g, lo, hi).astype(g.dtype, copy=False)


def l2_norm(g: np.ndarray) -> float:
    """||g||_2 over every element."""
    return math.sqrt(float(np.sum(g * g)))


def clip_by_norm(g: np.ndarray, max_norm: float) -> np.ndarray:
    """g * max_norm / max(||g||, max_norm): unchanged when ||g|| <= max_norm (BNNSClipByNorm
    over all axes; TensorFlow's clip_by_norm)."""
    return g * (max_norm / max(l2_norm(g), max_norm))


def clip_by_global_norm(gs: Sequence[np.ndarray], max_norm: float,
                        use_norm: float = 0.0) -> list[np.ndarray]:
    """g_i * max_norm / max(G, max_norm) with G = sqrt(sum_i ||g_i||^2), or G = use_norm when
    use_norm > 0 (BNNSClipByGlobalNorm; TensorFlow's clip_by_global_norm)."""
    norm = use_norm if use_norm > 0 else math.sqrt(sum(l2_norm(g) ** 2 for g in gs))
    factor = max_norm / max(norm, max_norm)
    return [g * factor for g in gs]


def regularization_gradient(w: np.ndarray, func: int, scale: float) -> Optional[np.ndarray]:
    """dR/dW scaled: L1 scale*sign(W), L2 scale*W (PyTorch's weight_decay form), None for none."""
    if func == REGULARIZATION_L1:
        return scale * np.sign(w)
    if func == REGULARIZATION_L2:
        return scale * w
    return None


def processed_gradients(function: int, fields: OptimizerFields, parameters: Sequence[np.ndarray],
                        gradients: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The gradients the update rules see: g_i = clip(gradient_scale * dL/dW_i) + R'(W_i).

    Pure: returns new arrays, shaped and typed like the gradients. Expects validated fields
    (see ``optimizer_step``); for AdamW the decay is applied by ``adamw_update``, not here.
    """
    kind = kind_of(function)
    gs = [fields.gradient_scale * g for g in gradients]       # scale first, then clip
    clipping = _clipping_of(kind, fields)
    if clipping == CLIPPING_BY_VALUE:
        gs = [clip_by_value(g, fields.clip_gradients_min, fields.clip_gradients_max) for g in gs]
    elif clipping == CLIPPING_BY_NORM:
        gs = [clip_by_norm(g, fields.clip_gradients_max_norm) for g in gs]
    elif clipping == CLIPPING_BY_GLOBAL_NORM:
        gs = clip_by_global_norm(gs, fields.clip_gradients_max_norm, fields.clip_gradients_use_norm)
    if not kind.decoupled_decay:
        for i, w in enumerate(parameters):
            r = regularization_gradient(w, fields.regularization_func, fields.regularization_scale)
            if r is not None:
                gs[i] = gs[i] + r                              # the regularization term is not clipped
    return gs


# --------------------------------------------------------------------------------------------
# Update rules: one parameter array, its processed gradient g, its accumulators (in place)
# --------------------------------------------------------------------------------------------

def sgd_momentum_update(w: np.ndarray, g: np.ndarray, v: Optional[np.ndarray],
                        fields: OptimizerFields) -> None:
    """SGD with momentum mu and learning rate lr, in place on w and v (bnns.md 3.7).

    momentum == 0:  W -= lr g                    (v unused, may be None)
    Variant 0:      V = mu V - lr g;  W += V                   Nesterov: W += V + mu (V - V_prev)
    Variant 1:      V = mu V + g;     W -= lr V                Nesterov: W -= lr (g + mu V)
    Variant 2:      V = mu V + lr g;  W -= V                   Nesterov: V = mu V + g; W -= lr (g + mu V)
    """
    lr, mu = fields.learning_rate, fields.momentum
    if mu == 0:
        w[...] = w - lr * g
        return
    v = given(v, lambda: f"momentum {mu} needs the velocity accumulator V")
    variant, nesterov = fields.sgd_momentum_variant, fields.nesterov
    if variant == SGD_MOMENTUM_VARIANT_0:
        v_prev = v.copy() if nesterov else v      # (read only by Nesterov's form)
        v[...] = mu * v - lr * g
        w[...] = (w + v + mu * (v - v_prev)) if nesterov else (w + v)
    elif variant == SGD_MOMENTUM_VARIANT_1 or nesterov:
        # Variant 1, and variant 2's Nesterov form as bnns.md writes it: V holds unscaled gradients.
        v[...] = mu * v + g
        w[...] = (w - lr * (g + mu * v)) if nesterov else (w - lr * v)
    else:
        # Variant 2 without Nesterov: V holds lr-scaled gradients.
        v[...] = mu * v + lr * g
        w[...] = w - v


def adam_update(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: Optional[np.ndarray],
                fields: OptimizerFields) -> None:
    """Adam (torch.optim.Adam), AMSGrad when vmax is given; in place on w, m, v, vmax.

    m = b1 m + (1 - b1) g
    v = b2 v + (1 - b2) g^2
    AMSGrad: vmax = max(vmax, v), and vmax replaces v below
    W -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)      t = fields.time_step
    """
    lr, b1, b2, t, eps = fields.learning_rate, fields.beta1, fields.beta2, fields.time_step, fields.epsilon
    # The formulas above in place, in the same order of operations, with two scratch arrays: on
    # the small tensors of a training step each NumPy call costs more than its arithmetic.
    scratch = np.multiply(g, 1 - b1)
    m *= b1
    m += scratch
    np.multiply(g, g, out=scratch)
    scratch *= 1 - b2
    v *= b2
    v += scratch
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        v = vmax
    bias_correction1 = 1 - b1 ** t
    bias_correction2 = 1 - b2 ** t
    np.sqrt(v, out=scratch)
    scratch /= math.sqrt(bias_correction2)
    scratch += eps                                   # the denominator
    step = np.multiply(m, lr / bias_correction1)
    step /= scratch
    w -= step


def adamw_update(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: Optional[np.ndarray],
                 fields: OptimizerFields) -> None:
    """AdamW (torch.optim.AdamW): decoupled decay, then the Adam step; in place.

    W *= 1 - lr * wd          wd = fields.regularization_scale
    then adam_update (g carries no regularization term)
    """
    w[...] = w * (1 - fields.learning_rate * fields.regularization_scale)
    adam_update(w, g, m, v, vmax, fields)


def rms_prop_update(w: np.ndarray, g: np.ndarray, n: np.ndarray, g_bar: Optional[np.ndarray],
                    delta: Optional[np.ndarray], fields: OptimizerFields) -> None:
    """RMSProp (torch.optim.RMSprop); in place on w, n, g_bar (centered), delta (momentum > 0).

    n = a n + (1 - a) g^2
    centered: g_bar = a g_bar + (1 - a) g;  denom = sqrt(max(n - g_bar^2, 0)) + eps
    else:                                   denom = sqrt(n) + eps
    momentum > 0: delta = momentum delta + g / denom;  W -= lr delta
    else:                                              W -= lr g / denom
    """
    lr, a, eps, mu = fields.learning_rate, fields.alpha, fields.epsilon, fields.momentum
    n[...] = a * n + (1 - a) * (g * g)
    if fields.centered:
        g_bar = given(g_bar, "centered RMSProp needs the gradient average accumulator g_bar")
        g_bar[...] = a * g_bar + (1 - a) * g
        denom = np.sqrt(np.maximum(n - g_bar * g_bar, 0)) + eps
    else:
        denom = np.sqrt(n) + eps
    if mu != 0:
        delta = given(delta, lambda: f"momentum {mu} needs the accumulator delta")
        delta[...] = mu * delta + g / denom
        w[...] = w - lr * delta
    else:
        w[...] = w - lr * g / denom


# --------------------------------------------------------------------------------------------
# BNNSOptimizerStep
# --------------------------------------------------------------------------------------------

def optimizer_step(function: int, fields: OptimizerFields, parameters: Sequence[np.ndarray],
                   gradients: Sequence[np.ndarray],
                   accumulators: Optional[Sequence[np.ndarray]]) -> None:
    """One BNNSOptimizerStep: update every parameter and accumulator in place.

    Parameters
    ----------
    function : BNNSOptimizerFunction raw value, 1..12.
    fields : the optimizer's fields (see ``OptimizerFields``).
    parameters : n arrays W_i, any shapes, float32 (float64 accepted), C-contiguous, writeable.
    gradients : n arrays dL/dW_i, each shaped like W_i.
    accumulators : ``accumulator_count(function, n, fields)`` arrays in BNNS's blocked order
        (``accumulator_blocks``), accumulator ``j*n + i`` shaped like W_i; None or [] when
        none are needed. Zero-filled by the caller before the first step.

    Raises InvalidArgumentError, before writing anything, when any argument is invalid.
    """
    kind = kind_of(function)
    fields = _validated_fields(kind, fields)
    accumulators = _validated_arrays(function, kind, fields, parameters, gradients, accumulators)
    n = len(parameters)
    # Accumulator j*n + i is block j (named by accumulator_blocks) of parameter i.
    names = accumulator_blocks(function, fields)
    blocks = {name: accumulators[j * n:(j + 1) * n] for j, name in enumerate(names)}
    with np.errstate(all="ignore"):      # IEEE propagation, as BNNS: never fail half-way
        gs = processed_gradients(function, fields, parameters, gradients)
        for i, (w, g) in enumerate(zip(parameters, gs)):
            acc = {name: block[i] for name, block in blocks.items()}
            if kind.family == "sgd_momentum":
                sgd_momentum_update(w, g, acc.get("V"), fields)
            elif kind.decoupled_decay:
                adamw_update(w, g, acc["m"], acc["v"], acc.get("vmax"), fields)
            elif kind.family == "adam":
                adam_update(w, g, acc["m"], acc["v"], acc.get("vmax"), fields)
            else:
                rms_prop_update(w, g, acc["n"], acc.get("g_bar"), acc.get("delta"), fields)


# --------------------------------------------------------------------------------------------
# Validation (private)
# --------------------------------------------------------------------------------------------

_FLOAT_FIELDS = ("learning_rate", "momentum", "beta1", "beta2", "time_step", "epsilon", "alpha",
                 "gradient_scale", "regularization_scale", "clip_gradients_min", "clip_gradients_max",
                 "clip_gradients_max_norm", "clip_gradients_use_norm")
_BOOL_FIELDS = ("centered", "nesterov", "clip_gradients")
_ENUM_FIELDS = {"sgd_momentum_variant": (0, 1, 2), "regularization_func": tuple(REGULARIZATION_NAMES),
                "clipping_func": tuple(CLIPPING_NAMES)}
_FAMILY_FIELDS = {
    "sgd_momentum": {"momentum", "nesterov", "sgd_momentum_variant"},
    "adam": {"beta1", "beta2", "time_step", "epsilon"},
    "rms_prop": {"alpha", "epsilon", "centered", "momentum"},
}
_FIELD_STRUCT_CLIP = {   # the clipping fields each form of the C structs has
    False: {"clip_gradients", "clip_gradients_min", "clip_gradients_max"},
    True: {"clipping_func", "clip_gradients_min", "clip_gradients_max", "clip_gradients_max_norm",
           "clip_gradients_use_norm"},
}


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(OptimizerFields)}


def _clipping_of(kind: OptimizerKind, fields: OptimizerFields) -> int:
    if kind.with_clipping:
        return fields.clipping_func
    return CLIPPING_BY_VALUE if fields.clip_gradients else CLIPPING_NONE


def _applicable_fields(kind: OptimizerKind, fields: OptimizerFields) -> set[str]:
    names = {"learning_rate", "gradient_scale"} | _FAMILY_FIELDS[kind.family]
    names.add("clipping_func" if kind.with_clipping else "clip_gradients")
    clipping = _clipping_of(kind, fields)
    if clipping == CLIPPING_BY_VALUE:
        names |= {"clip_gradients_min", "clip_gradients_max"}
    if clipping in (CLIPPING_BY_NORM, CLIPPING_BY_GLOBAL_NORM):
        names.add("clip_gradients_max_norm")
    if clipping == CLIPPING_BY_GLOBAL_NORM:
        names.add("clip_gradients_use_norm")
    if kind.decoupled_decay:
        names.add("regularization_scale")           # the weight decay
    else:
        names.add("regularization_func")
        if fields.regularization_func != REGULARIZATION_NONE:
            names.add("regularization_scale")
    return names


def _why_not_applicable(kind: OptimizerKind, fields: OptimizerFields, name: str) -> str:
    if name == "regularization_func":
        return "AdamW's regularization_scale is a decoupled weight decay, not a gradient term"
    if name == "regularization_scale":
        return "regularization_func is REGULARIZATION_NONE"
    if name in ("clip_gradients_min", "clip_gradients_max", "clip_gradients_max_norm",
                "clip_gradients_use_norm") and name in _FIELD_STRUCT_CLIP[kind.with_clipping]:
        if kind.with_clipping:
            return f"clipping_func is {CLIPPING_NAMES[fields.clipping_func]}"
        return "clip_gradients is False"
    return f"{kind.fields_struct} has no such field"


def _validated_fields(kind: OptimizerKind, fields: OptimizerFields) -> OptimizerFields:
    """Check every field and return a copy holding plain Python float/bool/int values (so that
    float32 arrays stay float32 under NumPy's promotion rules)."""
    require(isinstance(fields, OptimizerFields),
            lambda: f"fields must be an OptimizerFields for {kind.name}, got {type(fields).__name__}")
    clean: dict[str, Any] = {}  # field name -> its plain value
    for name in _FLOAT_FIELDS:
        value = getattr(fields, name)
        require(isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)),
                lambda: f"fields.{name} {value!r} must be a real number for {kind.name}")
        require(math.isfinite(float(value)), lambda: f"fields.{name} {value!r} must be finite for {kind.name}")
        clean[name] = float(value)
    for name in _BOOL_FIELDS:
        value = getattr(fields, name)
        require(isinstance(value, (bool, np.bool_)), lambda: f"fields.{name} {value!r} must be a bool for {kind.name}")
        clean[name] = bool(value)
    for name, allowed in _ENUM_FIELDS.items():
        value = getattr(fields, name)
        require(isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
                and int(value) in allowed,
                lambda: f"fields.{name} {value!r} is not one of {list(allowed)} for {kind.name}")
        clean[name] = int(value)
    f = OptimizerFields(**clean)

    applicable = _applicable_fields(kind, f)
    for name, default in _DEFAULTS.items():
        require(name in applicable or getattr(f, name) == default,
                lambda: f"fields.{name} {getattr(f, name)!r} does not apply to {kind.name} "
                f"({_why_not_applicable(kind, f, name)}); leave it at its default {default!r}")

    require(f.learning_rate >= 0, lambda: f"fields.learning_rate {f.learning_rate} must be >= 0 for {kind.name}")
    require(f.regularization_scale >= 0,
            lambda: f"fields.regularization_scale {f.regularization_scale} must be >= 0 for {kind.name}")
    if kind.family in ("sgd_momentum", "rms_prop"):
        require(f.momentum >= 0, lambda: f"fields.momentum {f.momentum} must be >= 0 for {kind.name}")
    if kind.family == "sgd_momentum":
        require(not f.nesterov or f.momentum > 0,
                lambda: f"fields.nesterov True needs fields.momentum > 0 for {kind.name}, got momentum {f.momentum}")
    if kind.family in ("adam", "rms_prop"):
        require(f.epsilon > 0, lambda: f"fields.epsilon {f.epsilon} must be > 0 for {kind.name}")
    if kind.family == "adam":
        for name in ("beta1", "beta2"):
            value = getattr(f, name)
            require(0 <= value < 1, lambda: f"fields.{name} {value} must be in [0, 1) for {kind.name}")
        require(f.time_step >= 1,
                lambda: f"fields.time_step {f.time_step} must be >= 1 for {kind.name} (the client's step count, "
                f"starting at 1)")
    if kind.family == "rms_prop":
        require(0 <= f.alpha <= 1, lambda: f"fields.alpha {f.alpha} must be in [0, 1] for {kind.name}")

    clipping = _clipping_of(kind, f)
    if clipping == CLIPPING_BY_VALUE:
        require(f.clip_gradients_min <= f.clip_gradients_max,
                lambda: f"fields.clip_gradients_min {f.clip_gradients_min} must be <= clip_gradients_max "
                f"{f.clip_gradients_max} for {kind.name}")
    if clipping in (CLIPPING_BY_NORM, CLIPPING_BY_GLOBAL_NORM):
        require(f.clip_gradients_max_norm > 0,
                lambda: f"fields.clip_gradients_max_norm {f.clip_gradients_max_norm} must be > 0 for {kind.name} "
                f"clipping {CLIPPING_NAMES[clipping]}")
    if clipping == CLIPPING_BY_GLOBAL_NORM:
        require(f.clip_gradients_use_norm >= 0,
                lambda: f"fields.clip_gradients_use_norm {f.clip_gradients_use_norm} must be >= 0 for {kind.name} "
                f"(0 = compute the global norm)")
    return f


def _validated_arrays(function: int, kind: OptimizerKind, fields: OptimizerFields, parameters, gradients,
                      accumulators) -> list[np.ndarray]:
    """Check counts, types, shapes, contiguity and aliasing; return the accumulators as a list."""
    for name, seq in (("parameters", parameters), ("gradients", gradients)):
        require(isinstance(seq, (list, tuple)), lambda: f"{name} must be a list of arrays, got {type(seq).__name__}")
    if accumulators is None:
        accumulators = []
    require(isinstance(accumulators, (list, tuple)),
            lambda: f"accumulators must be a list of arrays or None, got {type(accumulators).__name__}")
    n = len(parameters)
    require(n >= 1, lambda: f"number_of_parameters is 0 for {kind.name}: nothing to update")
    require(len(gradients) == n,
            lambda: f"gradients has {len(gradients)} arrays but parameters has {n} for {kind.name}")
    blocks = accumulator_blocks(function, fields)
    need = n * len(blocks)
    require(len(accumulators) == need,
            lambda: f"accumulators has {len(accumulators)} arrays but {kind.name} with {n} parameters needs {need} "
            f"({len(blocks)} blocks of {n}: {blocks})")

    # (The checks below run on every step of every array: plain conditions, the message made only
    # when one fails, in the order the arrays are named.)
    named = [(label, i, a, written) for label, arrays, written in
             (("parameters", parameters, True), ("gradients", gradients, False), ("accumulators", accumulators, True))
             for i, a in enumerate(arrays)]
    for label, i, a, _ in named:
        if not isinstance(a, np.ndarray):
            raise InvalidArgumentError(f"{label}[{i}] must be a NumPy array, got {type(a).__name__}")
    dtype = parameters[0].dtype
    require(dtype in (np.float32, np.float64), lambda: f"parameters[0].dtype {dtype} must be float32 (or float64)")
    for label, i, a, written in named:
        flags = a.flags
        if a.dtype != dtype:
            raise InvalidArgumentError(f"{label}[{i}].dtype {a.dtype} differs from parameters[0].dtype {dtype}")
        if not flags.c_contiguous:
            raise InvalidArgumentError(f"{label}[{i}] (shape {a.shape}, strides {a.strides}) must be contiguous")
        if written and not flags.writeable:
            raise InvalidArgumentError(f"{label}[{i}] must be writeable: the optimizer updates it in place")
    for i, (w, g) in enumerate(zip(parameters, gradients)):
        if g.shape != w.shape:
            raise InvalidArgumentError(f"gradients[{i}].shape {g.shape} does not match parameters[{i}].shape {w.shape}")
    for j, a in enumerate(accumulators):
        i, block = j % n, blocks[j // n]
        if a.shape != parameters[i].shape:
            raise InvalidArgumentError(f"accumulators[{j}].shape {a.shape} ({block} of parameter {i}) does not match "
                                       f"parameters[{i}].shape {parameters[i].shape}")

    # Written arrays must not overlap: contiguous, so each is one byte interval. An array whose
    # memory belongs to an ndarray that owns it can only overlap arrays over that same owner, so
    # when every written array has such an owner only arrays sharing one are compared (reading an
    # address costs a microsecond; a step has dozens of arrays).
    written_arrays = [((label, i), a) for label, i, a, written in named if written and a.nbytes > 0]
    by_owner: dict[Optional[int], list[tuple[tuple[str, int], np.ndarray]]] = {}
    for key, a in written_arrays:
        owner = a
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        if not owner.flags.owndata:            # foreign memory (bytes, mmap, shared memory): compare all
            by_owner = {None: written_arrays}
            break
        by_owner.setdefault(id(owner), []).append((key, a))
    for members in by_owner.values():
        if len(members) < 2:
            continue
        spans = sorted((a.__array_interface__["data"][0], a.nbytes, name) for name, a in members)
        for (start0, size0, name0), (start1, _, name1) in zip(spans, spans[1:]):
            require(start1 >= start0 + size0,
                    lambda: f"{name0[0]}[{name0[1]}] and {name1[0]}[{name1[1]}] share memory; the optimizer updates "
                            "both in place, so they must not overlap")
    return list(accumulators)
