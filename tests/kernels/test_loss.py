"""Tests for bnns.kernels.loss: every BNNS loss, every reduction, every weights form.

Each row of CASES knows its input domain (with the reason), a naive reference written here with
loops and the math module (independent of the kernel's vectorised NumPy), and its tolerances.
The matrix CASES x REDUCTIONS x WEIGHT_FORMS is checked three ways: forward against the reference,
the input gradient against central finite differences (float64), and apply's in_delta against
apply_backward with d_loss = 1. Hand-computed cases, Yolo and the error inputs follow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import numpy as np
import pytest

from bnns.kernels import loss as L
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.layout import (DTYPE_FLOAT16, LAYOUT_IMAGE_CHW, LAYOUT_ROW_MAJOR_MATRIX,
                                 LAYOUT_VECTOR, Descriptor)
from bnns.kernels.params import LossParameters, YoloParameters
from tests.numeric import assert_gradient_matches, numerical_gradient, projection

N, C = 3, 4   # batch and classes of the matrix tests: small enough for loops, big enough to mix


# ============================================================================ naive references
def ref_softmax_ce(x, y, w, s=0.0):
    """One sample: w * -sum_i y'_i log softmax(x)_i, y' = y(1 - s) + s/C."""
    m = max(x)
    lse = m + math.log(sum(math.exp(v - m) for v in x))
    return w * -sum((t * (1 - s) + s / len(x)) * (v - lse) for v, t in zip(x, y))


def ref_categorical_ce(x, y, w):
    """One sample: w * -sum_{y_c != 0} y_c log softmax(x)_c / numM."""
    m = max(x)
    lse = m + math.log(sum(math.exp(v - m) for v in x))
    nonzero = [c for c in range(len(x)) if y[c] != 0]
    if not nonzero:
        return 0.0
    return w * -sum(y[c] * (x[c] - lse) for c in nonzero) / len(nonzero)


def ref_cosine(x, y, w):
    """One sample: 1 - sum_i w y_i x_i (the weight inside the sum, as the header)."""
    return 1 - sum(w * t * v for v, t in zip(x, y))


def ref_cosine_similarity_distance(x, y, w):
    """One sample: 1 - w x.y / (|x| |y|), PyTorch's 1 - cosine_similarity (weighted). Equal to
    ref_cosine on unit vectors; its gradient there is the header's in_delta -t + (1 - loss) p."""
    dot = sum(v * t for v, t in zip(x, y))
    return 1 - w * dot / (math.sqrt(sum(v * v for v in x)) * math.sqrt(sum(t * t for t in y)))


def ref_sigmoid_ce(z, t, s=0.0):
    t = t * (1 - s) + s / 2
    p = 1 / (1 + math.exp(-z))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def ref_mse(z, t):
    return (z - t) ** 2


def ref_huber(z, t, delta):
    e = abs(z - t)
    return 0.5 * e * e if e <= delta else delta * (e - 0.5 * delta)


def ref_log(z, t):
    return -(t * math.log(z + 1e-7) + (1 - t) * math.log(1 - z + 1e-7))


def ref_hinge(z, t):
    return max(0.0, 1 - (2 * t - 1) * z)


def ref_mae(z, t):
    return abs(z - t)


def ref_reduce(entries, weights, reduction):
    """The BNNS reductions over lists of weighted entries and their per-entry weights."""
    if reduction == L.REDUCTION_NONE:
        return entries
    total = sum(entries)
    if reduction == L.REDUCTION_SUM:
        return [total]
    if reduction == L.REDUCTION_MEAN:
        return [total / len(entries)]
    if reduction == L.REDUCTION_WEIGHTED_MEAN:
        sw = sum(weights)
        return [total / sw if sw != 0 else 0.0]
    count = sum(1 for w in weights if w != 0)
    return [total / count if count else 0.0]


# ============================================================================ input domains
def logits(rng, shape):
    return rng.normal(0, 2, shape)


def probability_labels(rng, shape):
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


def multi_hot(rng, shape):
    y = (rng.uniform(size=shape) > 0.5).astype(np.float64)
    y[..., 0] = np.where(y.sum(axis=-1) == 0, 1, y[..., 0])   # at least one nonzero label
    return y


def away_from_hinge_kink(rng, shape):
    y = (rng.uniform(size=shape) > 0.5).astype(np.float64)
    x = rng.uniform(-3, 3, shape)
    margin = 1 - (2 * y - 1) * x
    return np.where(np.abs(margin) < 0.1, x - 0.3 * (2 * y - 1), x), y


def unit_rows(rng, shape):
    v = rng.normal(size=shape)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    function: int
    per_sample: bool
    sample: Callable          # rng, shape -> (x, y)
    domain: str               # why these inputs
    reference: Callable       # per-sample: (x_row, y_row, w) -> loss; elementwise: (z, t) -> loss
    params: dict = dataclasses.field(default_factory=dict)
    fd_rtol: float = 1e-6     # float64, eps 1e-6: truncation ~eps^2 |f'''|, roundoff ~1e-16 |f|/eps
    fd_atol: float = 1e-8
    # The function whose gradient the kernel gives, when it is not `reference` itself (same form).
    gradient_of: Optional[Callable] = None


CASES = [
    Case("softmax_ce", L.SOFTMAX_CROSS_ENTROPY, True,
         lambda rng, s: (logits(rng, s), probability_labels(rng, s)),
         "logits anywhere; labels probability vectors (torch CrossEntropyLoss targets)",
         ref_softmax_ce),
    Case("softmax_ce_smooth", L.SOFTMAX_CROSS_ENTROPY, True,
         lambda rng, s: (logits(rng, s), probability_labels(rng, s)),
         "as softmax_ce, with label smoothing 0.2",
         lambda x, y, w: ref_softmax_ce(x, y, w, 0.2), {"label_smooth": 0.2}),
    Case("sigmoid_ce", L.SIGMOID_CROSS_ENTROPY, False,
         lambda rng, s: (logits(rng, s), rng.uniform(0, 1, s)),
         "logits anywhere; labels in [0, 1]", ref_sigmoid_ce),
    Case("sigmoid_ce_smooth", L.SIGMOID_CROSS_ENTROPY, False,
         lambda rng, s: (logits(rng, s), rng.uniform(0, 1, s)),
         "as sigmoid_ce, with label smoothing 0.3",
         lambda z, t: ref_sigmoid_ce(z, t, 0.3), {"label_smooth": 0.3}),
    Case("mse", L.MEAN_SQUARE_ERROR, False,
         lambda rng, s: (rng.normal(size=s), rng.normal(size=s)), "any reals", ref_mse),
    Case("huber", L.HUBER, False,
         lambda rng, s: (rng.normal(size=s), rng.normal(size=s)),
         "errors of both signs on both sides of delta 0.7 (Huber is C1: FD is fine at delta)",
         lambda z, t: ref_huber(z, t, 0.7), {"huber_delta": 0.7}),
    Case("log", L.LOG, False,
         lambda rng, s: (rng.uniform(0.05, 0.95, s), rng.uniform(0, 1, s)),
         "predictions are probabilities, kept off 0 and 1 where log(x + eps) and "
         "log(1 - x + eps) blow up", ref_log, fd_rtol=1e-5),
    Case("cosine", L.COSINE_DISTANCE, True,
         lambda rng, s: (unit_rows(rng, s), unit_rows(rng, s)),
         "unit vectors, the header's domain; the gradient is the header's in_delta, the "
         "gradient of the normalised cosine there", ref_cosine,
         gradient_of=ref_cosine_similarity_distance),
    Case("hinge", L.HINGE, False, away_from_hinge_kink,
         "0/1 labels; margins kept 0.1 away from the kink where FD straddles the corner",
         ref_hinge),
    Case("mae", L.MEAN_ABSOLUTE_ERROR, False,
         lambda rng, s: (rng.normal(size=s), rng.normal(size=s)),
         "continuous values: ties (the corner) have probability 0", ref_mae),
    Case("categorical_ce", L.CATEGORICAL_CROSS_ENTROPY, True,
         lambda rng, s: (logits(rng, s), multi_hot(rng, s)),
         "logits (the header: softmax plus cross entropy); multi-hot 0/1 labels so numM > 1 "
         "occurs", ref_categorical_ce),
]
CASE_IDS = [c.id for c in CASES]

REDUCTIONS = [L.REDUCTION_NONE, L.REDUCTION_SUM, L.REDUCTION_WEIGHTED_MEAN, L.REDUCTION_MEAN,
              L.REDUCTION_NON_ZERO_WEIGHT_MEAN]
REDUCED = REDUCTIONS[1:]
WEIGHT_FORMS = ["none", "scalar", "each"]   # weights_size 0, 1, N or N*C


def red_id(r):
    return L.REDUCTION_NAMES[r]


def make_filter(function, reduction, shape=(C,), layout=LAYOUT_VECTOR, per_sample=None, **params):
    per_sample = L.LOSSES[function].per_sample if per_sample is None else per_sample
    i_desc = Descriptor.for_shape(layout, shape)
    if reduction == L.REDUCTION_NONE and not per_sample:
        o_desc = Descriptor.for_shape(layout, shape)
    else:
        o_desc = Descriptor.for_shape(LAYOUT_VECTOR, (1,))
    return L.LossFilter(LossParameters(function=function, i_desc=i_desc, o_desc=o_desc, reduction=reduction, **params))


def make_weights(rng, form, case_per_sample, n, c):
    """(weights array or None, per-entry weights as nested lists for the reference)."""
    count = n if case_per_sample else n * c
    if form == "none":
        flat = None
        per_entry = [1.0] * count
    elif form == "scalar":
        flat = np.array([0.7])
        per_entry = [0.7] * count
    else:
        # some zeros so that NonZeroWeightMean's count differs from the number of entries
        flat = rng.uniform(0.5, 2.0, count) * (np.arange(count) % 3 != 1)
        per_entry = list(flat)
    return flat, per_entry


def reference_output(case, x, y, per_entry_weights, reduction, reference=None):
    reference = reference or case.reference
    entries = []
    for n in range(x.shape[0]):
        if case.per_sample:
            entries.append(reference(list(x[n]), list(y[n]), per_entry_weights[n]))
        else:
            for i in range(x.shape[1]):
                entries.append(per_entry_weights[n * x.shape[1] + i] * reference(x[n, i], y[n, i]))
    return np.array(ref_reduce(entries, per_entry_weights, reduction))


def differentiated(case, flt, y, weights, per_entry, reduction):
    """z -> the loss output whose derivative the kernel's gradient is: the filter's own forward,
    or the case's float64 `gradient_of` reference (CosineDistance: the normalised cosine)."""
    if case.gradient_of is None:
        return lambda z: flt.apply(z, y, weights)[0]
    return lambda z: reference_output(case, z, y, per_entry, reduction, case.gradient_of)


def case_inputs(case, seed, reduction, form):
    rng = np.random.default_rng(seed)
    x, y = case.sample(rng, (N, C))
    weights, per_entry = make_weights(rng, form, case.per_sample, N, C)
    flt = make_filter(case.function, reduction, **case.params)
    return flt, x, y, weights, per_entry


# ============================================================================ the matrix
@pytest.mark.parametrize("form", WEIGHT_FORMS)
@pytest.mark.parametrize("reduction", REDUCTIONS, ids=red_id)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_matches_naive_reference(case, reduction, form):
    flt, x, y, weights, per_entry = case_inputs(case, 101, reduction, form)
    out, d_x = flt.apply(x, y, weights)
    assert d_x is None
    assert out.shape == flt.output_shape(N)
    np.testing.assert_allclose(out.reshape(-1),
                               reference_output(case, x, y, per_entry, reduction),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("form", WEIGHT_FORMS)
@pytest.mark.parametrize("reduction", REDUCTIONS, ids=red_id)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_input_gradient_matches_finite_differences(case, reduction, form):
    flt, x, y, weights, per_entry = case_inputs(case, 202, reduction, form)
    _, d_x = flt.apply(x, y, weights, want_input_grad=True)
    # Reduced: d(out)/dx. None: d(sum of the entries)/dx.
    loss = differentiated(case, flt, y, weights, per_entry, reduction)
    assert_gradient_matches(d_x, lambda z: float(np.sum(loss(z))), x, rtol=case.fd_rtol, atol=case.fd_atol)


@pytest.mark.parametrize("form", WEIGHT_FORMS)
@pytest.mark.parametrize("reduction", REDUCED, ids=red_id)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_apply_gradient_equals_backward_of_one(case, reduction, form):
    flt, x, y, weights, _ = case_inputs(case, 303, reduction, form)
    _, d_x = flt.apply(x, y, weights, want_input_grad=True)
    np.testing.assert_allclose(flt.apply_backward(x, y, weights, np.ones(1)), d_x,
                               rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("form", WEIGHT_FORMS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_unreduced_backward_matches_finite_differences(case, form):
    flt, x, y, weights, per_entry = case_inputs(case, 404, L.REDUCTION_NONE, form)
    d_loss = projection(np.random.default_rng(405), flt.output_shape(N))
    d_x = flt.apply_backward(x, y, weights, d_loss)
    loss = differentiated(case, flt, y, weights, per_entry, L.REDUCTION_NONE)
    assert_gradient_matches(d_x, lambda z: float(np.sum(d_loss * loss(z).reshape(d_loss.shape))),
                            x, rtol=case.fd_rtol, atol=case.fd_atol)


@pytest.mark.parametrize("form", WEIGHT_FORMS)
@pytest.mark.parametrize("reduction", REDUCED, ids=red_id)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_reduced_backward_scales_with_d_loss(case, reduction, form):
    flt, x, y, weights, _ = case_inputs(case, 505, reduction, form)
    _, d_x = flt.apply(x, y, weights, want_input_grad=True)
    np.testing.assert_allclose(flt.apply_backward(x, y, weights, np.array([-2.5])), -2.5 * d_x,
                               rtol=1e-14, atol=1e-14)


# ============================================================================ hand-computed cases
def test_mean_square_error_matches_apple_documentation_example():
    # BNNSFilterCreateLayerLoss documentation: MSE, Sum, one sample of 10 values.
    # loss = (9 - 0)^2 + (6 - 2)^2 = 97; in_delta = 2 (x - y) = [18, 0, 8, 0, ...].
    flt = make_filter(L.MEAN_SQUARE_ERROR, L.REDUCTION_SUM, shape=(10,))
    x = np.array([[9, 1, 6, 3, 4, 5, 6, 7, 8, 9]], np.float32)
    y = np.arange(10, dtype=np.float32)[None]
    out, d_x = flt.apply(x, y, want_input_grad=True)
    np.testing.assert_array_equal(out, [97.0])
    np.testing.assert_array_equal(d_x, [[18, 0, 8, 0, 0, 0, 0, 0, 0, 0]])


# SoftmaxCE, 2 samples x 3 classes:
#   sample 0: logits (0, 0, 0)           p = (1/3, 1/3, 1/3), label class 0: l0 = ln 3
#   sample 1: logits (0, ln 2, ln 5)     p = (1/8, 2/8, 5/8), label class 2: l1 = ln(8/5)
#   gradients p - y: g0 = (-2/3, 1/3, 1/3), g1 = (1/8, 1/4, -3/8)
# weights (3, 0): e = (3 ln 3, 0); the weighted gradient rows are 3 g0 and 0.
LN3, LN16 = math.log(3), math.log(1.6)
G0, G1 = np.array([-2 / 3, 1 / 3, 1 / 3]), np.array([1 / 8, 1 / 4, -3 / 8])
SOFTMAX_HAND = [
    # reduction, weights, loss, in_delta
    (L.REDUCTION_NONE, None, [LN3, LN16], [G0, G1]),
    (L.REDUCTION_SUM, None, [LN3 + LN16], [G0, G1]),
    (L.REDUCTION_MEAN, None, [(LN3 + LN16) / 2], [G0 / 2, G1 / 2]),
    (L.REDUCTION_WEIGHTED_MEAN, None, [(LN3 + LN16) / 2], [G0 / 2, G1 / 2]),
    (L.REDUCTION_NON_ZERO_WEIGHT_MEAN, None, [(LN3 + LN16) / 2], [G0 / 2, G1 / 2]),
    (L.REDUCTION_NONE, [3, 0], [3 * LN3, 0], [3 * G0, 0 * G1]),
    (L.REDUCTION_SUM, [3, 0], [3 * LN3], [3 * G0, 0 * G1]),
    (L.REDUCTION_MEAN, [3, 0], [3 * LN3 / 2], [3 * G0 / 2, 0 * G1]),      # / N = 2
    (L.REDUCTION_WEIGHTED_MEAN, [3, 0], [LN3], [G0, 0 * G1]),             # / (3 + 0)
    (L.REDUCTION_NON_ZERO_WEIGHT_MEAN, [3, 0], [3 * LN3], [3 * G0, 0 * G1]),  # / 1 nonzero
    (L.REDUCTION_WEIGHTED_MEAN, [2], [(LN3 + LN16) / 2], [G0 / 2, G1 / 2]),  # 2 e / (2 + 2)
]


@pytest.mark.parametrize("reduction, weights, loss, in_delta", SOFTMAX_HAND,
                         ids=[f"{red_id(r)}-{w}" for r, w, _, _ in SOFTMAX_HAND])
def test_softmax_cross_entropy_hand_computed(reduction, weights, loss, in_delta):
    flt = make_filter(L.SOFTMAX_CROSS_ENTROPY, reduction, shape=(3,))
    x = np.array([[0, 0, 0], [0, math.log(2), math.log(5)]])
    y = np.array([[1, 0, 0], [0, 0, 1.0]])
    w = None if weights is None else np.array(weights, dtype=np.float64)
    out, d_x = flt.apply(x, y, w, want_input_grad=True)
    np.testing.assert_allclose(out, loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d_x, np.array(in_delta), rtol=1e-12, atol=1e-15)


# MSE, 2 samples x 3 values: x = [[1,2,3],[0,0,0]], y = [[1,0,3],[1,1,1]]
#   squared errors [[0,4,0],[1,1,1]]; gradients 2 (x - y) = [[0,4,0],[-2,-2,-2]]
#   per-element weights (1,1,1, 0,2,0): e = [[0,4,0],[0,2,0]], sum 6, sum(w) 5, 4 nonzero
MSE_GRAD = np.array([[0, 4, 0], [-2, -2, -2.0]])
MSE_W = np.array([1, 1, 1, 0, 2, 0.0])
MSE_HAND = [
    (L.REDUCTION_NONE, None, [[0, 4, 0], [1, 1, 1]], MSE_GRAD),
    (L.REDUCTION_SUM, None, [7], MSE_GRAD),
    (L.REDUCTION_MEAN, None, [7 / 6], MSE_GRAD / 6),                       # / (N * 3)
    (L.REDUCTION_WEIGHTED_MEAN, None, [7 / 6], MSE_GRAD / 6),
    (L.REDUCTION_NON_ZERO_WEIGHT_MEAN, None, [7 / 6], MSE_GRAD / 6),
    (L.REDUCTION_NONE, MSE_W, [[0, 4, 0], [0, 2, 0]], MSE_GRAD * MSE_W.reshape(2, 3)),
    (L.REDUCTION_SUM, MSE_W, [6], MSE_GRAD * MSE_W.reshape(2, 3)),
    (L.REDUCTION_MEAN, MSE_W, [1], MSE_GRAD * MSE_W.reshape(2, 3) / 6),
    (L.REDUCTION_WEIGHTED_MEAN, MSE_W, [6 / 5], MSE_GRAD * MSE_W.reshape(2, 3) / 5),
    (L.REDUCTION_NON_ZERO_WEIGHT_MEAN, MSE_W, [6 / 4], MSE_GRAD * MSE_W.reshape(2, 3) / 4),
]


@pytest.mark.parametrize("reduction, weights, loss, in_delta", MSE_HAND,
                         ids=[f"{red_id(r)}-{'w' if w is not None else 'none'}"
                              for r, w, _, _ in MSE_HAND])
def test_mean_square_error_hand_computed(reduction, weights, loss, in_delta):
    flt = make_filter(L.MEAN_SQUARE_ERROR, reduction, shape=(3,))
    x = np.array([[1, 2, 3], [0, 0, 0.0]])
    y = np.array([[1, 0, 3], [1, 1, 1.0]])
    out, d_x = flt.apply(x, y, weights, want_input_grad=True)
    np.testing.assert_allclose(out, loss, rtol=1e-12)
    np.testing.assert_allclose(d_x, in_delta, rtol=1e-12)


@pytest.mark.parametrize("reduction", [L.REDUCTION_WEIGHTED_MEAN, L.REDUCTION_NON_ZERO_WEIGHT_MEAN],
                         ids=red_id)
def test_weighted_means_with_all_weights_zero_are_zero(reduction):
    flt = make_filter(L.SOFTMAX_CROSS_ENTROPY, reduction, shape=(3,))
    x = np.array([[0.5, -1, 2], [1, 0, 0.0]])
    y = np.array([[1, 0, 0], [0, 1, 0.0]])
    out, d_x = flt.apply(x, y, np.zeros(2), want_input_grad=True)
    np.testing.assert_array_equal(out, [0.0])
    np.testing.assert_array_equal(d_x, np.zeros_like(x))


def test_softmax_label_smoothing_spreads_s_over_the_classes():
    # s = 0.3, 3 classes: y' = y * 0.7 + 0.1 = (0.1, 0.1, 0.8); p = (1/8, 2/8, 5/8)
    # l = 0.1 ln 8 + 0.1 ln 4 + 0.8 ln 1.6 = 0.72257649... (torch cross_entropy, label_smoothing
    # 0.3, gives 0.7225765 in float32); gradient p - y' = (0.025, 0.15, -0.175).
    flt = make_filter(L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_SUM, shape=(3,), label_smooth=0.3)
    out, d_x = flt.apply(np.array([[0, math.log(2), math.log(5)]]), np.array([[0, 0, 1.0]]),
                         want_input_grad=True)
    np.testing.assert_allclose(out, [0.1 * math.log(8) + 0.1 * math.log(4) + 0.8 * LN16],
                               rtol=1e-12)
    np.testing.assert_allclose(d_x, [[0.025, 0.15, -0.175]], rtol=1e-12)


def test_sigmoid_label_smoothing_spreads_s_over_two_classes():
    # s = 0.2: y' = y * 0.8 + 0.1; y = 1 -> 0.9. x = ln 3: sigmoid = 0.75.
    # l = -(0.9 ln 0.75 + 0.1 ln 0.25) = 0.39754330 (torch BCEWithLogits agrees); grad 0.75 - 0.9.
    flt = make_filter(L.SIGMOID_CROSS_ENTROPY, L.REDUCTION_SUM, shape=(1,), label_smooth=0.2)
    out, d_x = flt.apply(np.array([[math.log(3)]]), np.array([[1.0]]), want_input_grad=True)
    np.testing.assert_allclose(out, [-(0.9 * math.log(0.75) + 0.1 * math.log(0.25))], rtol=1e-12)
    np.testing.assert_allclose(d_x, [[-0.15]], rtol=1e-12)


def test_sigmoid_cross_entropy_is_finite_for_huge_logits():
    # log(1 + exp(100)) overflows naively in float32; the stable form gives 100 and 0.
    flt = make_filter(L.SIGMOID_CROSS_ENTROPY, L.REDUCTION_NONE, shape=(2,))
    out, d_x = flt.apply(np.array([[100, -100]], np.float32), np.array([[0, 0]], np.float32),
                         want_input_grad=True)
    np.testing.assert_allclose(out, [[100, 0]], atol=1e-6)
    np.testing.assert_allclose(d_x, [[1, 0]], atol=1e-6)


def test_huber_is_quadratic_inside_delta_and_linear_outside():
    # delta 2, errors (0.5, 3, -2): 0.5*0.25 = 0.125; 2*(3 - 1) = 4; |e| = delta is quadratic: 2.
    # gradients: e inside, delta*sign(e) outside: (0.5, 2, -2).
    flt = make_filter(L.HUBER, L.REDUCTION_NONE, shape=(3,), huber_delta=2.0)
    out, d_x = flt.apply(np.array([[0.5, 3, -2.0]]), np.zeros((1, 3)), want_input_grad=True)
    np.testing.assert_allclose(out, [[0.125, 4, 2]], rtol=1e-12)
    np.testing.assert_allclose(d_x, [[0.5, 2, -2]], rtol=1e-12)


def test_huber_delta_zero_means_one():
    rng = np.random.default_rng(7)
    x, y = rng.normal(0, 2, (2, 5)), rng.normal(0, 2, (2, 5))
    zero = make_filter(L.HUBER, L.REDUCTION_SUM, shape=(5,), huber_delta=0.0).apply(x, y)[0]
    one = make_filter(L.HUBER, L.REDUCTION_SUM, shape=(5,), huber_delta=1.0).apply(x, y)[0]
    np.testing.assert_array_equal(zero, one)
    assert zero[0] > 0


def test_mean_absolute_error_gradient_is_plus_one_at_a_tie():
    # |x - y| = (0, 1, 1); gradient +1 if x >= y else -1: (+1, -1, +1).
    flt = make_filter(L.MEAN_ABSOLUTE_ERROR, L.REDUCTION_NONE, shape=(3,))
    out, d_x = flt.apply(np.array([[2.0, 0, 3]]), np.array([[2.0, 1, 2]]), want_input_grad=True)
    np.testing.assert_array_equal(out, [[0, 1, 1]])
    np.testing.assert_array_equal(d_x, [[1, -1, 1]])


def test_hinge_hand_computed_with_zero_subgradient_at_the_kink():
    # labels (1, 1, 0, 0, 1) -> t = (1, 1, -1, -1, 1); x = (0.5, 2, -3, 1, 1)
    # max(0, 1 - t x) = (0.5, 0, 0, 2, 0); gradient -t where 1 - t x > 0: (-1, 0, 0, 1, 0).
    # The last entry sits on the kink (1 - t x = 0): sub-gradient 0.
    flt = make_filter(L.HINGE, L.REDUCTION_NONE, shape=(5,))
    out, d_x = flt.apply(np.array([[0.5, 2, -3, 1, 1]]), np.array([[1, 1, 0, 0, 1.0]]),
                         want_input_grad=True)
    np.testing.assert_array_equal(out, [[0.5, 0, 0, 2, 0]])
    np.testing.assert_array_equal(d_x, [[-1, 0, 0, 1, 0]])


def test_log_loss_hand_computed_with_epsilon():
    # x = 0.8, y = 1: -ln(0.8 + 1e-7); x = 0.25, y = 0: -ln(0.75 + 1e-7).
    # gradients -y/(x + eps) + (1 - y)/(1 - x + eps): -1/(0.8 + 1e-7), 1/(0.75 + 1e-7).
    flt = make_filter(L.LOG, L.REDUCTION_NONE, shape=(2,))
    out, d_x = flt.apply(np.array([[0.8, 0.25]]), np.array([[1, 0.0]]), want_input_grad=True)
    np.testing.assert_allclose(out, [[-math.log(0.8 + 1e-7), -math.log(0.75 + 1e-7)]], rtol=1e-12)
    np.testing.assert_allclose(d_x, [[-1 / (0.8 + 1e-7), 1 / (0.75 + 1e-7)]], rtol=1e-12)


def test_cosine_distance_hand_computed_with_weight_inside_the_sum():
    # x = (0.6, 0.8), y = (0.8, 0.6): y.x = 0.96. Weight 2 per sample: 1 - 2 * 0.96 = -0.92
    # (the header's 1 - sum(w y x), not w (1 - y.x)); in_delta, the header's -t + (1 - loss) p
    # with the weight: -2 (0.8, 0.6) + 1.92 (0.6, 0.8) = (-0.448, 0.336).
    flt = make_filter(L.COSINE_DISTANCE, L.REDUCTION_NONE, shape=(2,))
    x, y = np.array([[0.6, 0.8]]), np.array([[0.8, 0.6]])
    out, d_x = flt.apply(x, y, want_input_grad=True)
    np.testing.assert_allclose(out, [0.04], rtol=1e-12)
    np.testing.assert_allclose(d_x, [[-0.8 + 0.96 * 0.6, -0.6 + 0.96 * 0.8]], rtol=1e-12)   # -t + (1 - loss) p
    out, d_x = flt.apply(x, y, np.array([2.0]), want_input_grad=True)
    np.testing.assert_allclose(out, [-0.92], rtol=1e-12)
    np.testing.assert_allclose(d_x, [[-0.448, 0.336]], rtol=1e-12)


def test_cosine_distance_gradient_is_the_cosine_similarity_gradient_on_unit_vectors():
    # The defect this guards: the old -w y differed from d(1 - cos)/dp by ~0.6 relative. The
    # reference is the float64 gradient of 1 - x.y / (|x| |y|), written out by hand:
    # d/dx = -(y / (|x||y|) - (x.y) x / (|x|^3 |y|)).
    rng = np.random.default_rng(31)
    x, y = unit_rows(rng, (6, 5)), unit_rows(rng, (6, 5))
    flt = make_filter(L.COSINE_DISTANCE, L.REDUCTION_SUM, shape=(5,))
    _, d_x = flt.apply(x, y, want_input_grad=True)
    nx, ny = np.linalg.norm(x, axis=1, keepdims=True), np.linalg.norm(y, axis=1, keepdims=True)
    dot = np.sum(x * y, axis=1, keepdims=True)
    expected = -(y / (nx * ny) - dot * x / (nx ** 3 * ny))
    np.testing.assert_allclose(d_x, expected, rtol=1e-12, atol=1e-14)
    assert np.linalg.norm(-y - expected) / np.linalg.norm(expected) > 0.3   # the old gradient was far off


def test_categorical_cross_entropy_matches_the_header_formula():
    # logits (0, ln 2, ln 5): p = (1/8, 2/8, 5/8); labels (0, 1, 1): numM = 2, sf = 1/2.
    # loss = -(ln(2/8) + ln(5/8)) / 2 = (ln 4 + ln 1.6) / 2
    # header in_delta: p_c - sf where y_c != 0, p_c elsewhere: (0.125, -0.25, 0.125)
    flt = make_filter(L.CATEGORICAL_CROSS_ENTROPY, L.REDUCTION_SUM, shape=(3,))
    out, d_x = flt.apply(np.array([[0, math.log(2), math.log(5)]]), np.array([[0, 1, 1.0]]),
                         want_input_grad=True)
    np.testing.assert_allclose(out, [(math.log(4) + LN16) / 2], rtol=1e-12)
    np.testing.assert_allclose(d_x, [[0.125, -0.25, 0.125]], rtol=1e-12, atol=1e-15)


def test_categorical_cross_entropy_without_labels_is_zero():
    flt = make_filter(L.CATEGORICAL_CROSS_ENTROPY, L.REDUCTION_NONE, shape=(3,))
    out, d_x = flt.apply(np.array([[1.0, -2, 0.5]]), np.zeros((1, 3)), want_input_grad=True)
    np.testing.assert_array_equal(out, [0.0])
    np.testing.assert_array_equal(d_x, np.zeros((1, 3)))


def test_categorical_equals_softmax_cross_entropy_for_one_hot_labels():
    rng = np.random.default_rng(11)
    x = rng.normal(0, 2, (5, 4))
    y = np.eye(4)[rng.integers(0, 4, 5)]
    cat = make_filter(L.CATEGORICAL_CROSS_ENTROPY, L.REDUCTION_NONE).apply(x, y,
                                                                           want_input_grad=True)
    soft = make_filter(L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_NONE).apply(x, y, want_input_grad=True)
    np.testing.assert_allclose(cat[0], soft[0], rtol=1e-13)
    np.testing.assert_allclose(cat[1], soft[1], rtol=1e-13, atol=1e-15)


# ============================================================================ shapes and dtypes
def test_float32_inputs_give_float32_outputs():
    rng = np.random.default_rng(12)
    flt = make_filter(L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_MEAN)
    out, d_x = flt.apply(rng.normal(size=(2, C)).astype(np.float32),
                         probability_labels(rng, (2, C)).astype(np.float32), want_input_grad=True)
    assert out.dtype == np.float32 and d_x.dtype == np.float32


def test_elementwise_loss_accepts_a_multidimensional_sample():
    # ImageCHW size (W, H, C) = (4, 3, 2) -> samples of shape (2, 3, 4); one loss per element.
    rng = np.random.default_rng(13)
    flt = make_filter(L.MEAN_SQUARE_ERROR, L.REDUCTION_NONE, shape=(2, 3, 4),
                      layout=LAYOUT_IMAGE_CHW)
    x, y = rng.normal(size=(5, 2, 3, 4)), rng.normal(size=(5, 2, 3, 4))
    w = rng.uniform(size=5 * 24)
    out, d_x = flt.apply(x, y, w, want_input_grad=True)
    assert flt.output_shape(5) == (5, 2, 3, 4)
    np.testing.assert_allclose(out, w.reshape(x.shape) * (x - y) ** 2, rtol=1e-14)
    np.testing.assert_allclose(d_x, 2 * w.reshape(x.shape) * (x - y), rtol=1e-14)


def test_per_sample_loss_accepts_a_vector_in_any_layout():
    # ImageCHW size (1, 1, 4): a sample of shape (4, 1, 1) is still a vector of 4 classes.
    rng = np.random.default_rng(14)
    x, y = logits(rng, (3, 4)), probability_labels(rng, (3, 4))
    flat = make_filter(L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_NONE).apply(x, y)[0]
    image = make_filter(L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_NONE, shape=(4, 1, 1),
                        layout=LAYOUT_IMAGE_CHW).apply(x.reshape(3, 4, 1, 1), y.reshape(3, 4, 1, 1))
    np.testing.assert_array_equal(flat, image[0])


@pytest.mark.parametrize("function, reduction, expected", [
    (L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_NONE, (6,)),
    (L.COSINE_DISTANCE, L.REDUCTION_NONE, (6,)),
    (L.HINGE, L.REDUCTION_NONE, (6, C)),
    (L.HINGE, L.REDUCTION_MEAN, (1,)),
    (L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_SUM, (1,)),
], ids=["softmax-none", "cosine-none", "hinge-none", "hinge-mean", "softmax-sum"])
def test_output_shape(function, reduction, expected):
    assert make_filter(function, reduction).output_shape(6) == expected


@pytest.mark.parametrize("function, sizes", [
    (L.SOFTMAX_CROSS_ENTROPY, (0, 1, 5)),
    (L.CATEGORICAL_CROSS_ENTROPY, (0, 1, 5)),
    (L.COSINE_DISTANCE, (0, 1, 5)),
    (L.SIGMOID_CROSS_ENTROPY, (0, 1, 5 * C)),
    (L.MEAN_ABSOLUTE_ERROR, (0, 1, 5 * C)),
], ids=["softmax", "categorical", "cosine", "sigmoid", "mae"])
def test_check_weights_accepts_exactly_the_allowed_sizes(function, sizes):
    flt = make_filter(function, L.REDUCTION_SUM)
    for size in range(0, 5 * C + 2):
        if size in sizes:
            flt.check_weights(size, 5)
        else:
            with pytest.raises(InvalidArgumentError, match=f"weights_size {size} is not allowed"):
                flt.check_weights(size, 5)


# ============================================================================ Yolo
YOLO_GRID = dict(rows=2, cols=3, anchors=2, classes=3)
# (seed, batch) of every Yolo test on random data; test_yolo_test_data_exercises_every_anchor_role
# checks that each data set holds every anchor role.
YOLO_DATA = {"forward": (21, 3), "gradient": (22, 2), "rescore": (23, 2), "weights": (24, 3)}


def yolo_params(rescore=False, **overrides):
    g = YOLO_GRID
    values = dict(number_of_grid_columns=g["cols"], number_of_grid_rows=g["rows"],
                  number_of_anchor_boxes=g["anchors"], anchor_box_size=5 + g["classes"],
                  rescore=rescore, scale_xy=1.5, scale_wh=0.7, scale_object=1.2,
                  scale_no_object=0.5, scale_classification=0.9, object_minimum_iou=0.5,
                  no_object_maximum_iou=0.4, anchors_data=(0.5, 0.8, 1.2, 0.6))
    values.update(overrides)
    return YoloParameters(**values)


def yolo_filter(params, reduction=L.REDUCTION_SUM, huber_delta=0.5, count=None):
    count = math.prod(L.grid_shape(params)) if count is None else count
    return L.LossFilter(LossParameters(
        function=L.YOLO, i_desc=Descriptor.for_shape(LAYOUT_VECTOR, (count,)),
        o_desc=Descriptor.for_shape(LAYOUT_VECTOR, (1,)), reduction=reduction, huber_delta=huber_delta,
        yolo=params))


def yolo_data(rng, n, params, noise=0.3):
    """Labels with objects in some cells (repeated over anchors) and predictions near them."""
    rows, cols, anchors, box = L.grid_shape(params)
    y = np.zeros((n, rows, cols, 1, box))
    y[..., 0:2] = rng.uniform(0, 1, (n, rows, cols, 1, 2))
    y[..., 2:4] = rng.uniform(0.3, 1.5, (n, rows, cols, 1, 2))
    y[..., 4] = rng.uniform(size=(n, rows, cols, 1)) > 0.4
    y[..., 5:] = np.eye(box - 5)[rng.integers(0, box - 5, (n, rows, cols, 1))]
    y = np.repeat(y, anchors, axis=3)
    x = y + rng.normal(0, noise, y.shape)
    return x.reshape(n, -1), y.reshape(n, -1)


def ref_iou(a, b):
    """IoU of two (cx, cy, w, h) boxes, sizes clamped at 0."""
    aw, ah, bw, bh = max(a[2], 0), max(a[3], 0), max(b[2], 0), max(b[3], 0)
    iw = min(a[0] + aw / 2, b[0] + bw / 2) - max(a[0] - aw / 2, b[0] - bw / 2)
    ih = min(a[1] + ah / 2, b[1] + bh / 2) - max(a[1] - ah / 2, b[1] - bh / 2)
    inter = max(iw, 0) * max(ih, 0)
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def ref_yolo(x, y, p, delta):
    """Loop reference of the Yolo loss per sample (module Notes)."""
    rows, cols, anchors, box = L.grid_shape(p)
    x = x.reshape(-1, rows, cols, anchors, box)
    y = y.reshape(-1, rows, cols, anchors, box)
    out = []
    for n in range(x.shape[0]):
        total = 0.0
        for r in range(rows):
            for c in range(cols):
                for a in range(anchors):
                    pr, gt = list(x[n, r, c, a]), list(y[n, r, c, a])
                    has_object = gt[4] == 1
                    prior = [ref_iou((0, 0, p.anchors_data[2 * k], p.anchors_data[2 * k + 1]),
                                     (0, 0, y[n, r, c, k, 2], y[n, r, c, k, 3]))
                             for k in range(anchors)]
                    best = prior.index(max(prior)) == a
                    obj = has_object and (best or prior[a] >= p.object_minimum_iou)
                    iou = ref_iou(pr[:4], gt[:4]) if has_object else 0.0
                    if obj:
                        target = iou if p.rescore else 1.0
                        total += p.scale_xy * (ref_mse(pr[0], gt[0]) + ref_mse(pr[1], gt[1]))
                        total += p.scale_wh * (ref_huber(pr[2], gt[2], delta)
                                               + ref_huber(pr[3], gt[3], delta))
                        total += p.scale_object * ref_sigmoid_ce_target(pr[4], target)
                        if box > 5:
                            total += p.scale_classification * ref_softmax_ce(pr[5:], gt[5:], 1.0)
                    elif iou <= p.no_object_maximum_iou:
                        total += p.scale_no_object * ref_sigmoid_ce_target(pr[4], 0.0)
        out.append(total)
    return np.array(out)


def ref_sigmoid_ce_target(z, t):
    return max(z, 0) - z * t + math.log1p(math.exp(-abs(z)))


@pytest.mark.parametrize("rescore", [False, True], ids=["plain", "rescore"])
def test_yolo_forward_matches_naive_reference(rescore):
    seed, n = YOLO_DATA["forward"]
    rng = np.random.default_rng(seed)
    params = yolo_params(rescore)
    x, y = yolo_data(rng, n, params)
    out, _ = yolo_filter(params).apply(x, y)
    np.testing.assert_allclose(out, [ref_yolo(x, y, params, 0.5).sum()], rtol=1e-12)


@pytest.mark.parametrize("seed, n", YOLO_DATA.values(), ids=YOLO_DATA.keys())
def test_yolo_test_data_exercises_every_anchor_role(seed, n):
    # The random data of the Yolo tests must hold object anchors, no-object anchors, ignored
    # anchors and unassigned anchors of object cells, or those tests would not cover the rules.
    params = yolo_params()
    x, y = yolo_data(np.random.default_rng(seed), n, params)
    shape = (n,) + L.grid_shape(params)
    obj, no_obj, _ = L._yolo_assign(x.reshape(shape), y.reshape(shape), params)
    has_object = y.reshape(shape)[..., 4] == 1
    assert obj.any() and no_obj.any() and (~obj & ~no_obj).any() and (has_object & ~obj).any()


def test_yolo_gradient_matches_finite_differences():
    # Without rescore, the loss is smooth wherever the anchor sets do not change, which holds
    # for these inputs under +-1e-6 perturbations.
    seed, n = YOLO_DATA["gradient"]
    rng = np.random.default_rng(seed)
    params = yolo_params()
    flt = yolo_filter(params)
    x, y = yolo_data(rng, n, params)
    _, d_x = flt.apply(x, y, want_input_grad=True)
    assert_gradient_matches(d_x, lambda z: float(flt.apply(z, y)[0][0]), x, rtol=1e-6, atol=1e-8)


def test_yolo_rescore_gradient_holds_the_iou_target_constant():
    seed, n = YOLO_DATA["rescore"]
    rng = np.random.default_rng(seed)
    params = yolo_params(rescore=True)
    flt = yolo_filter(params)
    x, y = yolo_data(rng, n, params)
    _, d_x = flt.apply(x, y, want_input_grad=True)
    shape = (n,) + L.grid_shape(params)
    x5, y5 = x.reshape(shape), y.reshape(shape)
    assert_gradient_matches(
        d_x.reshape(shape), lambda z: float(np.sum(L.yolo(z, y5, params, 0.5, assign_from=x5))),
        x5, rtol=1e-6, atol=1e-8)
    # ... and the full derivative (target moving with x) is a different function.
    full = numerical_gradient(lambda z: float(flt.apply(z, y)[0][0]), x.copy())
    assert np.max(np.abs(full - d_x)) > 1e-3


def test_yolo_weights_scale_each_sample_and_backward_matches_apply():
    seed, n = YOLO_DATA["weights"]
    rng = np.random.default_rng(seed)
    params = yolo_params()
    flt = yolo_filter(params)
    x, y = yolo_data(rng, n, params)
    w = np.array([0.5, 0.0, 2.0])
    out, d_x = flt.apply(x, y, w, want_input_grad=True)
    np.testing.assert_allclose(out, [np.dot(w, ref_yolo(x, y, params, 0.5))], rtol=1e-12)
    np.testing.assert_allclose(flt.apply_backward(x, y, w, np.ones(1)), d_x, rtol=1e-14)
    np.testing.assert_array_equal(d_x[1], 0)


def test_yolo_hand_computed_one_cell():
    # 1 x 1 grid, 1 anchor (1, 1), 1 class. Label box (0.5, 0.5, 1, 1), conf 1, class 1.
    # Prediction (0.7, 0.4, 1.5, 1, conf logit 1, class logit 3); all scales 1, delta 1.
    #   xy: 0.2^2 + 0.1^2 = 0.05;  wh: Huber(0.5) + Huber(0) = 0.125
    #   conf: BCE(1, target) = 1 - target + ln(1 + e^-1);  class: one class -> 0
    # Target 1: 0.05 + 0.125 + ln(1 + e^-1) = 0.48826169...
    # Rescore: pred box x in [-0.05, 1.45], y in [-0.1, 0.9]; label [0, 1]^2:
    #   inter 1 * 0.9 = 0.9, union 1.5 + 1 - 0.9 = 1.6, IoU 0.5625 -> adds 1 - 0.5625 = 0.4375.
    # Gradient: xy 2 e = (0.4, -0.2); wh (0.5, 0); conf sigmoid(1) - target; class 0.
    one: dict[str, Any] = dict(number_of_grid_columns=1, number_of_grid_rows=1, number_of_anchor_boxes=1,
               anchor_box_size=6, anchors_data=(1.0, 1.0))
    x = np.array([[0.7, 0.4, 1.5, 1, 1, 3]])
    y = np.array([[0.5, 0.5, 1, 1, 1, 1.0]])
    sig1, base = 1 / (1 + math.exp(-1)), 0.05 + 0.125 + math.log1p(math.exp(-1))
    for rescore, target in ((False, 1.0), (True, 0.5625)):
        flt = yolo_filter(YoloParameters(rescore=rescore, **one), huber_delta=0.0)
        out, d_x = flt.apply(x, y, want_input_grad=True)
        np.testing.assert_allclose(out, [base + 1 - target], rtol=1e-12)
        np.testing.assert_allclose(d_x, [[0.4, -0.2, 0.5, 0, sig1 - target, 0]], rtol=1e-12,
                                   atol=1e-15)


def test_yolo_cell_without_object_only_pays_the_no_object_term():
    # conf label 0: only scale_no_object * BCE(logit 2, 0) = 0.5 * (2 + ln(1 + e^-2)).
    one: dict[str, Any] = dict(number_of_grid_columns=1, number_of_grid_rows=1, number_of_anchor_boxes=1,
               anchor_box_size=5, anchors_data=(1.0, 1.0), scale_no_object=0.5)
    flt = yolo_filter(YoloParameters(**one))
    out, _ = flt.apply(np.array([[3, -1, 4, 2, 2.0]]), np.array([[0.5, 0.5, 1, 1, 0.0]]))
    np.testing.assert_allclose(out, [0.5 * (2 + math.log1p(math.exp(-2)))], rtol=1e-12)


# ============================================================================ errors
def vec(count):
    return Descriptor.for_shape(LAYOUT_VECTOR, (count,))


def params_with(**changes):
    base = dict(function=L.SOFTMAX_CROSS_ENTROPY, i_desc=vec(C), o_desc=vec(1),
                reduction=L.REDUCTION_SUM)
    base.update(changes)
    return LossParameters(**base)


CREATE_ERRORS = [
    ("unknown_function", params_with(function=11), "function 11 is not a BNNSLossFunction"),
    ("unknown_reduction", params_with(reduction=7), "reduction 7 is not a BNNSLossReduction"),
    ("reduced_o_desc_size", params_with(o_desc=vec(3)), "o_desc .* holds 3 values per item"),
    ("none_elementwise_o_desc_size",
     params_with(function=L.MEAN_SQUARE_ERROR, reduction=L.REDUCTION_NONE, o_desc=vec(1)),
     "holds 1 values per item but MeanSquareError with reduction None writes 4"),
    ("none_per_sample_o_desc_size", params_with(reduction=L.REDUCTION_NONE, o_desc=vec(C)),
     r"holds 4 values per item but SoftmaxCrossEntropy .* writes 1 \(one loss per sample\)"),
    ("nan_label_smooth", params_with(label_smooth=float("nan")), "label_smooth nan"),
    ("label_smooth_above_one", params_with(label_smooth=1.5),
     r"label_smooth 1.5 must be .* \[0, 1\]"),
    ("negative_label_smooth", params_with(label_smooth=-0.1), "label_smooth -0.1"),
    ("negative_huber_delta", params_with(function=L.HUBER, huber_delta=-1.0),
     "huber_delta -1.0 must be a finite number >= 0"),
    ("nan_huber_delta", params_with(function=L.HUBER, huber_delta=float("nan")), "huber_delta nan"),
    ("inf_huber_delta", params_with(function=L.HUBER, huber_delta=float("inf")), "huber_delta inf"),
    ("label_smooth_unused", params_with(function=L.MEAN_SQUARE_ERROR, label_smooth=0.1),
     "MeanSquareError does not use it"),
    ("huber_delta_unused", params_with(huber_delta=2.0), "SoftmaxCrossEntropy does not use it"),
    ("yolo_params_unused", params_with(yolo=yolo_params()), "yolo parameters are given"),
    ("float16_input", params_with(i_desc=Descriptor.for_shape(LAYOUT_VECTOR, (C,),
                                                              data_type=DTYPE_FLOAT16)),
     "i_desc.data_type 0x10010 is not supported"),
    ("matrix_sample_for_softmax",
     params_with(i_desc=Descriptor.for_shape(LAYOUT_ROW_MAJOR_MATRIX, (2, C))),
     r"sample of shape \(2, 4\), but SoftmaxCrossEntropy needs a vector"),
    ("yolo_missing_params", params_with(function=L.YOLO), "needs the yolo parameters"),
    ("yolo_mean_reduction",
     params_with(function=L.YOLO, reduction=L.REDUCTION_MEAN, i_desc=vec(96), yolo=yolo_params()),
     r"reduction Mean \(3\) is not allowed for Yolo: BNNS requires Sum"),
    ("yolo_none_reduction",
     params_with(function=L.YOLO, reduction=L.REDUCTION_NONE, i_desc=vec(96), yolo=yolo_params()),
     "reduction None .* is not allowed for Yolo"),
    ("yolo_anchor_count", params_with(function=L.YOLO, i_desc=vec(96),
                                      yolo=yolo_params(anchors_data=(1.0, 1.0, 2.0))),
     "anchors_data has 3 values; number_of_anchor_boxes 2 needs 4"),
    ("yolo_nonpositive_anchor", params_with(function=L.YOLO, i_desc=vec(96),
                                            yolo=yolo_params(anchors_data=(1.0, 0.0, 2.0, 1.0))),
     "must be finite and > 0"),
    ("yolo_input_size", params_with(function=L.YOLO, i_desc=vec(95), yolo=yolo_params()),
     "holds 95 values per sample; Yolo .* needs 96"),
    ("yolo_small_box", params_with(function=L.YOLO, i_desc=vec(48),
                                   yolo=yolo_params(anchor_box_size=4)),
     "anchor_box_size 4 must be an integer >= 5"),
    ("yolo_nan_scale", params_with(function=L.YOLO, i_desc=vec(96),
                                   yolo=yolo_params(scale_xy=float("nan"))), "scale_xy nan"),
    ("yolo_iou_above_one", params_with(function=L.YOLO, i_desc=vec(96),
                                       yolo=yolo_params(object_minimum_iou=1.5)),
     r"object_minimum_iou 1.5 must be in \[0, 1\]"),
]


@pytest.mark.parametrize("params, message", [c[1:] for c in CREATE_ERRORS],
                         ids=[c[0] for c in CREATE_ERRORS])
def test_invalid_parameters_are_rejected_at_creation(params, message):
    with pytest.raises(InvalidArgumentError, match=message):
        L.LossFilter(params)


def _apply_args(**changes):
    rng = np.random.default_rng(31)
    args = dict(x=logits(rng, (2, C)), labels=probability_labels(rng, (2, C)), weights=None)
    args.update(changes)
    return args


APPLY_ERRORS = [
    ("labels_wrong_size", L.SOFTMAX_CROSS_ENTROPY, _apply_args(labels=np.zeros((2, C + 1))),
     r"labels have shape \(2, 5\) but x has \(2, 4\)"),
    ("labels_wrong_batch", L.MEAN_SQUARE_ERROR, _apply_args(labels=np.zeros((3, C))),
     r"labels have shape \(3, 4\)"),
    ("x_wrong_sample_shape", L.SOFTMAX_CROSS_ENTROPY, _apply_args(x=np.zeros((2, C + 1)),
                                                                   labels=np.zeros((2, C + 1))),
     r"x has shape \(2, 5\); the loss expects \(N, 4\)"),
    ("empty_batch", L.SOFTMAX_CROSS_ENTROPY, _apply_args(x=np.zeros((0, C)),
                                                          labels=np.zeros((0, C))), "N >= 1"),
    ("per_element_weights_for_softmax", L.SOFTMAX_CROSS_ENTROPY,
     _apply_args(weights=np.ones(2 * C)),
     r"weights_size 8 is not allowed for SoftmaxCrossEntropy .* 0 .*, 1 .* or 2 \(batch_size"),
    ("per_sample_weights_for_mse", L.MEAN_SQUARE_ERROR, _apply_args(weights=np.ones(2)),
     r"weights_size 2 is not allowed for MeanSquareError .* or 8 \(batch_size x input_width"),
    ("per_element_weights_for_cosine", L.COSINE_DISTANCE, _apply_args(weights=np.ones(2 * C)),
     "weights_size 8 is not allowed for CosineDistance"),
    ("nan_weights", L.SOFTMAX_CROSS_ENTROPY, _apply_args(weights=np.array([1.0, np.nan])),
     "weights contain NaN or infinity"),
    ("inf_weight", L.HUBER, _apply_args(weights=np.array([np.inf])),
     "weights contain NaN or infinity"),
    ("two_dimensional_weights", L.SOFTMAX_CROSS_ENTROPY, _apply_args(weights=np.ones((2, 1))),
     "weights must be 1-D"),
]


@pytest.mark.parametrize("function, args, message", [c[1:] for c in APPLY_ERRORS],
                         ids=[c[0] for c in APPLY_ERRORS])
def test_invalid_apply_inputs_are_rejected(function, args, message):
    flt = make_filter(function, L.REDUCTION_SUM)
    with pytest.raises(InvalidArgumentError, match=message):
        flt.apply(args["x"], args["labels"], args["weights"])
    with pytest.raises(InvalidArgumentError, match=message):
        flt.apply_backward(args["x"], args["labels"], args["weights"], np.ones(1))


@pytest.mark.parametrize("function, reduction, size", [
    (L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_SUM, 2),
    (L.SOFTMAX_CROSS_ENTROPY, L.REDUCTION_NONE, 1),
    (L.SIGMOID_CROSS_ENTROPY, L.REDUCTION_NONE, 2),
], ids=["reduced", "none-per-sample", "none-elementwise"])
def test_backward_with_wrong_d_loss_size_is_rejected(function, reduction, size):
    rng = np.random.default_rng(32)
    flt = make_filter(function, reduction)
    x, y = logits(rng, (2, C)), probability_labels(rng, (2, C))
    with pytest.raises(InvalidArgumentError, match=f"d_loss has {size} values"):
        flt.apply_backward(x, y, None, np.ones(size))


def test_yolo_weights_per_element_are_rejected():
    params = yolo_params()
    x, y = yolo_data(np.random.default_rng(33), 2, params)
    with pytest.raises(InvalidArgumentError, match="weights_size 192 is not allowed for Yolo"):
        yolo_filter(params).apply(x, y, np.ones(192))


# ============================================================================ blocked fast paths
def test_softmax_cross_entropy_rows_whose_exponentials_overflow_or_underflow_keep_their_precision(monkeypatch):
    # The forward sums exp(x) unshifted; rows whose sum overflows (a logit of 100) or underflows
    # (all near -200, or -80) are redone with their own max. Blocks of 2 rows on every core,
    # against the loops.
    from bnns.kernels import parallel
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 2 * 6 * 4)
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    rng = np.random.default_rng(41)
    x = (rng.standard_normal((8, 6)) + np.array([0, -200, 5, -31, 0, 80, -80, 100])[:, None]).astype(np.float32)
    y = rng.uniform(0, 1, (8, 6)).astype(np.float32)
    got = L.softmax_cross_entropy(x, y, 0.1)
    expected = [ref_softmax_ce(xr.tolist(), yr.tolist(), 1.0, 0.1) for xr, yr in zip(x.astype(np.float64), y)]
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-4)


@pytest.mark.parametrize("per_row_g", [False, True], ids=["same_g", "per_row_g"])
def test_softmax_cross_entropy_with_grad_redone_rows_match_loss_and_backward(per_row_g, monkeypatch):
    # The fused loss-and-gradient sums exp(x) unshifted; rows whose sum overflows (a logit of
    # 100) or underflows (near -200, or -80) are redone with their own max. Blocks of 2 rows on
    # every core, g the same for all rows or not (the scalar and the broadcast form of g y').
    from bnns.kernels import parallel
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 2 * 6 * 4)
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    rng = np.random.default_rng(43)
    x = (rng.standard_normal((8, 6)) + np.array([0, -200, 5, -31, 0, 80, -80, 100])[:, None]).astype(np.float32)
    y = rng.uniform(0, 1, (8, 6)).astype(np.float32)
    g = rng.uniform(0.5, 2, 8).astype(np.float32) if per_row_g else np.full(8, 0.125, np.float32)
    loss, d_x = L.softmax_cross_entropy_with_grad(x, y, 0.1, g)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    expected = [ref_softmax_ce(xr.tolist(), yr.tolist(), 1.0, 0.1) for xr, yr in zip(x64, y64)]
    np.testing.assert_allclose(loss, expected, rtol=2e-6, atol=1e-4)
    np.testing.assert_allclose(d_x, L.softmax_cross_entropy_backward(g.astype(np.float64), x64, y64, 0.1),
                               rtol=1e-5, atol=1e-6)


def test_softmax_cross_entropy_nan_or_infinity_stays_in_its_row(monkeypatch):
    # A block holding NaN or +inf falls back to row maxima: the other rows keep their numbers.
    from bnns.kernels import parallel
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 3 * 5 * 4)
    rng = np.random.default_rng(42)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.uniform(0, 1, (6, 5)).astype(np.float32)
    clean = L.softmax_cross_entropy(x, y)
    x[1, 2], x[4, 0] = np.nan, np.inf
    with np.errstate(invalid="ignore"):     # inf - inf in the infinite row, as before
        got = L.softmax_cross_entropy(x, y)
    assert np.isnan(got[1]) and np.isnan(got[4])
    keep = [0, 2, 3, 5]
    np.testing.assert_allclose(got[keep], clean[keep], rtol=1e-6)
