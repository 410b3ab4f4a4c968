"""BNNS loss layers (BNNSLossFunction, BNNSLossReductionFunction; bnns.md 2.1, 3.3, 4), forward
and backward.

``BNNSFilterCreateLayerLoss`` + ``BNNSLossFilterApplyBatch`` (loss, and optionally dL/dx) +
``BNNSLossFilterApplyBackwardBatch`` (dL/dx from a given dL/dloss). Each loss is a pure pair
``<loss>(x, y, ...) -> per-entry loss`` / ``<loss>_backward(d_loss, x, y, ...) -> d_x`` at the top
of this module; one shared step (:func:`reduce` / :func:`reduce_backward`) turns the weighted
per-entry losses into the output; :class:`LossFilter` validates once and glues them together.

Shapes (NumPy order, batch first). A sample is one item of ``i_desc`` (any layout):

* per-sample losses (SoftmaxCrossEntropy, CategoricalCrossEntropy, CosineDistance): the sample is a
  vector of C = ``input_width`` classes; x, labels of shape (N, C); one loss per sample, (N,).
* elementwise losses (SigmoidCrossEntropy, MeanSquareError, Huber, Log, Hinge, MeanAbsoluteError):
  one loss per element, (N, *i_desc.shape).
* Yolo: each sample is (grid rows H) x (grid columns W) x (anchors A) x (x, y, w, h, conf,
  classes...) in C order, i.e. x of shape (N, H, W, A, anchor_box_size); one loss per sample.

Weights (``weights_size``) are broadcast to one weight per loss entry, ``w_k``; the *weighted entry*
is ``e_k = w_k * l_k`` (CosineDistance: ``e_n = 1 - w_n * sum_i y_i x_i``, the weight inside the
sum as the header writes it). Reductions over the K entries:

    None               out = e                          (N,) or (N, *i_desc.shape)
    Sum                out = sum(e)                     (1,)
    WeightedMean       out = sum(e) / sum(w)            (0 if sum(w) == 0)
    Mean               out = sum(e) / K                 K = N (per sample) or N * input_width
    NonZeroWeightMean  out = sum(e) / count(w != 0)     (0 if every w is 0)

and the input gradient is always the exact derivative: ``apply(want_input_grad=True)`` gives
d(out)/dx for a reduced loss and d(sum(e))/dx for None; ``apply_backward(d_loss)`` gives
``sum_k d_loss_k * d(out_k)/dx`` (chain rule), so ``apply_backward(d_loss=1) == apply(...)[1]``.

Notes
-----
Where BNNS is silent or self-contradictory (bnns.md marks these UNCONFIRMED) we follow PyTorch,
unless the header's own formulas settle the question (MSE, CategoricalCE, CosineDistance):

* **SoftmaxCrossEntropy** = ``torch.nn.CrossEntropyLoss`` with probability targets:
  ``l = -sum_i y'_i log softmax(x)_i``, ``y' = y(1 - s) + s/C``. The header's extra
  ``1/number_of_classes`` factor is not applied (PyTorch and TensorFlow have none, and bnns.md 6.7
  recommends the in_delta p - y for one sample, which rules it out). Gradient
  ``sum(y') * softmax(x) - y'`` (= p - y' for labels that sum to 1).
* **SigmoidCrossEntropy** = ``BCEWithLogitsLoss``, computed stably as
  ``max(x, 0) - x y' + log(1 + exp(-|x|))``, ``y' = y(1 - s) + s/2``; gradient ``sigmoid(x) - y'``.
* **MeanSquareError** ``(x - y)^2`` (no 1/2; gradient ``2 (x - y)``), as Apple's example in the
  ``BNNSFilterCreateLayerLoss`` documentation: x = [9,1,6,3,...], y = [0,1,2,3,...], Sum -> 97,
  in_delta [18, 0, 8, 0, ...].
* **Huber** = ``torch.nn.HuberLoss(delta)``: quadratic ``e^2/2`` when ``|e| <= delta``, else
  ``delta (|e| - delta/2)``. ``huber_delta == 0`` means the default 1.0 (BNNS's Yolo rule "1 if 0",
  and PyTorch's default), for Huber and Yolo alike; a negative delta is an error.
* **MeanAbsoluteError** ``|x - y|``; gradient ``+1 if x >= y else -1`` (the header's rule, so +1 at
  a tie).
* **Log** ``-y log(x + eps) - (1 - y) log(1 - x + eps)``, ``eps = 1e-7`` (PyTorch's BCELoss clamps
  instead; the header adds eps). x are probabilities (domain -eps < x < 1 + eps, else NaN). Its
  gradient is the exact one, ``-y/(x + eps) + (1 - y)/(1 - x + eps)``; the header's
  ``(p - y)/(p (1 - p + eps))`` with ``p = x + eps`` differs from it by O(eps).
* **Hinge** ``max(0, 1 - t x)``, ``t = 2y - 1``; gradient ``-t`` where ``1 - t x > 0`` and 0
  elsewhere, including at the kink (the header gives -1/+1 at x = +-1; a sub-gradient either way).
* **CosineDistance** ``e = 1 - sum_i w y_i x_i`` exactly as the header's forward (inputs are
  expected to be unit-normalised; nothing is normalised here), and the header's in_delta
  ``-t + (1 - loss) p`` (its unbalanced parenthesis read as ``(-t) + (1 - loss) * p``) with the
  weight: ``d_x = g (-w y + (1 - e) x)``, g = d(out)/d(e) from the reduction. That is the gradient
  of the cosine distance ``1 - w t.p / (|t| |p|)`` on unit-norm inputs (PyTorch's
  ``1 - cosine_similarity``), not the derivative of the unnormalised forward (``-w y``, which
  differs from it along p): a unit-norm prediction's loss cannot drop by growing |p|, and
  Apple's header says so. Off the unit sphere it is still the header's formula.
* **CategoricalCrossEntropy** takes **logits**: the header and Apple's documentation both say
  "softmax activation plus a cross entropy loss", and the header's in_delta ``p_c - sf`` (``y_c !=
  0``) / ``p_c`` (``y_c == 0``) is exactly the logit gradient of
  ``l = -sf sum_{y_c != 0} y_c log softmax(x)_c``, ``sf = 1/numM``, ``numM = count(y_c != 0)``, for
  0/1 labels. We use that loss with its exact gradient ``sf (sum(y) softmax(x) - y)`` (identical to
  the header's for 0/1 labels, also right for soft labels). A sample with no nonzero label has
  loss 0 and gradient 0 (the header's in_delta would be p, the gradient of nothing).
* **Weights** (``weights_size``, bnns.md 4): SoftmaxCE, CategoricalCE, CosineDistance and Yolo
  take 0, 1 or N (per sample); the elementwise losses 0, 1 or N * input_width (per element).
  Anything else is an InvalidArgumentError naming the allowed sizes. (The header also mentions a
  per-class "weight matrix" for CategoricalCE and CosineDistance; its meaning under the reductions
  is undocumented, so it is refused rather than guessed.) Weights must be finite.
* **Reductions**: Mean divides by the number of loss entries (PyTorch's 'mean'; the header says
  "number of samples", which is the same for per-sample losses). WeightedMean and
  NonZeroWeightMean use the weights broadcast to one per entry (so no weights = weight 1
  everywhere, and WeightedMean = Mean then). A zero denominator gives loss 0 and gradient 0.
* **input_width**: BNNS's ``i_desc.size[0]``. For a per-sample loss the sample must be a vector
  (one dimension > 1; e.g. Vector size (C,), or ImageCHW (C, 1, 1)), whose length is then C; a
  multi-dimensional sample is refused because the class axis would be a guess. Elementwise losses
  accept any shape; input_width is then the element count of a sample (equal to size[0] for the
  vector samples BNNS's examples use).
* **Parameters** a function does not use must be left at 0 (``label_smooth`` belongs to SoftmaxCE
  and SigmoidCE, ``huber_delta`` to Huber and Yolo, ``yolo`` to Yolo): a nonzero value there is an
  error, not silently ignored. ``o_desc`` describes one item of the output: 1 element when reduced
  (BNNS: "the output size must be 1, unless the reduction is None") or for per-sample losses, else
  the i_desc element count. Input and output data types must be Float32 (BNNS: "must be float").

Yolo (bnns.md 3.3 gives only a summary; the choices below are ours, after YOLOv2/SSD):

* Boxes are ``(x, y, w, h)`` = centre and size, in the labels' units; the predicted values are used
  as they are (no sigmoid/exp transform: BNNS compares them with MSE and Huber directly).
  The confidence and the class scores are logits.
* A label anchor holds an object when its conf is 1 (BNNS: conf is 1 in object cells, else 0; the
  ground truth is repeated over the anchors of a cell). Among them, the *object anchors* are the
  anchor whose prior box (anchors_data[a] = (w_a, h_a), centred on the object) best overlaps the
  object (first one on a tie), plus every anchor whose prior IoU is >= object_minimum_iou.
* The *no-object anchors* are all the others whose predicted box overlaps the ground truth by
  IoU <= no_object_maximum_iou (anchors in cells without an object have IoU 0); the rest are
  ignored (YOLOv2's rule for good but unassigned predictions).
* Per sample (summed over cells and anchors):
  ``scale_xy * MSE(x, y) + scale_wh * Huber(w, h; delta) + scale_object * SigmoidCE(conf, target)``
  over object anchors, ``+ scale_no_object * SigmoidCE(conf, 0)`` over no-object anchors,
  ``+ scale_classification * SoftmaxCE(classes, label classes)`` over object anchors.
  ``target`` is 1, or with ``rescore`` the IoU of the predicted and ground-truth boxes.
* The anchor sets and the rescore target depend on the predicted boxes, but (as in darknet) they
  are constants for the gradient: it is the gradient of the loss with them frozen, which
  :func:`yolo` evaluates when given ``assign_from``.
* The reduction must be Sum; weights (0, 1 or N) scale each sample's loss.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import numpy as np

from . import parallel
from .errors import InvalidArgumentError, given, require
from .layout import DTYPE_FLOAT32
from .params import LossParameters, YoloParameters

# BNNSLossFunction raw values (bnns.md 3.3) ------------------------------------------------------
SOFTMAX_CROSS_ENTROPY = 1
SIGMOID_CROSS_ENTROPY = 2
MEAN_SQUARE_ERROR = 3
HUBER = 4
YOLO = 5
LOG = 6
COSINE_DISTANCE = 7
HINGE = 8
MEAN_ABSOLUTE_ERROR = 9
CATEGORICAL_CROSS_ENTROPY = 10

# BNNSLossReductionFunction raw values ---------------------------------------------------------
REDUCTION_NONE = 0
REDUCTION_SUM = 1
REDUCTION_WEIGHTED_MEAN = 2
REDUCTION_MEAN = 3
REDUCTION_NON_ZERO_WEIGHT_MEAN = 4

REDUCTION_NAMES = {
    REDUCTION_NONE: "None", REDUCTION_SUM: "Sum", REDUCTION_WEIGHTED_MEAN: "WeightedMean",
    REDUCTION_MEAN: "Mean", REDUCTION_NON_ZERO_WEIGHT_MEAN: "NonZeroWeightMean",
}

LOG_EPSILON = 1e-7          # the header's epsilon in the Log loss (its value is not documented)
DEFAULT_HUBER_DELTA = 1.0   # what huber_delta == 0 stands for


# A row's sum of exp(x - shift) is at least exp(max - shift); at or above 1e-30 that largest term
# is >= 1e-33, far inside float32's normal range (from 1.2e-38): no precision lost to underflow.
_SMALLEST_SUM = 1e-30


# =============================================================================== per-sample losses
def softmax_cross_entropy(x: np.ndarray, y: np.ndarray, label_smooth: float = 0.0) -> np.ndarray:
    """Softmax cross entropy of logits against probability (or one-hot) labels.

    Parameters
    ----------
    x : ndarray of shape (N, C) — logits.
    y : ndarray of shape (N, C) — labels.
    label_smooth : s in [0, 1]; labels become y(1 - s) + s/C.

    Returns
    -------
    ndarray of shape (N,): ``-sum_i y'_i log softmax(x)_i = sum(y') logsumexp(x) - <y', x>``.
    """
    y = _smooth(y, label_smooth, x.shape[-1])
    loss = np.empty(x.shape[0], np.result_type(x, y))
    ones = np.ones(x.shape[-1], x.dtype)

    # Blocks of rows on both cores, exp(x) in a per-thread scratch (no temporary the size of x);
    # row sums as dot products with ones (BLAS speed). No shift by the row max, and no pass to
    # find it: log(sum exp(x)) keeps float32's relative precision as long as every term is
    # finite and the sum is a normal number well above underflow, so a row is redone with its
    # own max only when its sum came out infinite, NaN or below _SMALLEST_SUM (a term over about
    # 88.7 overflows; all terms tiny could underflow). Same maths, one pass over x less.
    def rows(lo: int, hi: int) -> None:
        xr, yr = x[lo:hi], y[lo:hi]
        e = parallel.scratch(xr.shape, x.dtype)
        with np.errstate(over="ignore"):       # an overflow is caught by the test below
            sums = np.exp(xr, out=e) @ ones     # row sums: a BLAS matrix-vector product
        shift = np.zeros(hi - lo, x.dtype)
        redo = ~((sums >= _SMALLEST_SUM) & (sums < np.inf))
        if redo.any():
            shift[redo] = np.max(xr[redo], axis=-1)
            with np.errstate(invalid="ignore"):      # a row of +-inf gives NaN, as it should
                own = np.exp(xr[redo] - shift[redo, None])
            sums[redo] = np.vecdot(own, ones)
        log_sum_exp = shift + np.log(sums)
        loss[lo:hi] = (yr @ ones.astype(yr.dtype, copy=False)) * log_sum_exp - np.vecdot(yr, xr)

    parallel.map_blocks(x.shape[0], x.strides[0], rows)
    return loss


def softmax_cross_entropy_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray,
                                   label_smooth: float = 0.0) -> np.ndarray:
    """d_x (N, C) from d_loss (N,): ``d_loss * (sum(y') softmax(x) - y')``."""
    y = _smooth(y, label_smooth, x.shape[-1])
    p = np.exp(_log_softmax(x))
    return d_loss[:, None] * (np.sum(y, axis=-1, keepdims=True) * p - y)


def softmax_cross_entropy_with_grad(x: np.ndarray, y: np.ndarray, label_smooth: float,
                                    g: np.ndarray) -> tuple:
    """Loss and input gradient together, from one log-softmax (what apply with in_delta needs).

    Same maths as softmax_cross_entropy and its backward with d_loss = g, in fewer passes:
    loss_n = sum(y') (m + log s) - <y', x>, with s = sum exp(x - m); the gradient reuses
    exp(x - m) in place: g * (sum(y') exp(x - m) / s - y').

    m is 0 (no shift, no pass to find the row max) unless a row's s overflows, underflows or is
    NaN; such a row is redone with its own max, as in softmax_cross_entropy. Blocks of rows
    (parallel.map_blocks) keep exp(x) in cache between its passes; row sums are dot products
    with ones (BLAS). When g is the same for every row of a block (no per-sample weights),
    g y' is a scalar multiple: one whole-array pass instead of a broadcast over rows.

    Returns (loss of shape (N,), d_x of shape (N, C)).
    """
    y = _smooth(y, label_smooth, x.shape[-1])
    loss, d_x = np.empty(x.shape[0], x.dtype), np.empty_like(x)
    g = np.broadcast_to(np.asarray(g, x.dtype).reshape(-1), (x.shape[0],))
    ones = np.ones(x.shape[-1], x.dtype)

    def rows(lo: int, hi: int) -> None:
        xr, yr, e, gr = x[lo:hi], y[lo:hi], d_x[lo:hi], g[lo:hi]
        with np.errstate(over="ignore"):       # an overflow is caught by the test below
            s = np.exp(xr, out=e) @ ones
        m = np.zeros(hi - lo, x.dtype)
        redo = ~((s >= _SMALLEST_SUM) & (s < np.inf))
        if redo.any():
            m[redo] = np.max(xr[redo], axis=-1)
            with np.errstate(invalid="ignore"):      # a row of +-inf gives NaN, as it should
                e[redo] = np.exp(xr[redo] - m[redo, None])
            s[redo] = np.vecdot(e[redo], ones)
        y_sum = yr @ ones.astype(yr.dtype, copy=False)
        loss[lo:hi] = y_sum * (m + np.log(s)) - np.vecdot(yr, xr)
        e *= (gr * y_sum / s)[:, None]
        if gr[0] == gr.min() == gr.max():
            e -= np.multiply(yr, gr[0], out=parallel.scratch(e.shape, e.dtype))
        else:
            e -= np.multiply(yr, gr[:, None], out=parallel.scratch(e.shape, e.dtype))

    parallel.map_blocks(x.shape[0], x.strides[0], rows)
    return loss, d_x


def categorical_cross_entropy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BNNS categorical cross entropy: softmax of logits, cross entropy over the nonzero labels,
    scaled by sf = 1/numM (numM = number of nonzero labels of the sample; sf = 0 if none).

    x : (N, C) logits; y : (N, C) labels. Returns (N,): ``-sf sum_c y_c log softmax(x)_c``.
    """
    return -_inverse_nonzero_count(y) * np.sum(y * _log_softmax(x), axis=-1)


def categorical_cross_entropy_backward(d_loss: np.ndarray, x: np.ndarray,
                                       y: np.ndarray) -> np.ndarray:
    """d_x (N, C) from d_loss (N,): ``d_loss * sf * (sum(y) softmax(x) - y)``; for 0/1 labels
    that is the header's ``p_c - sf`` where y_c != 0 and ``p_c`` elsewhere."""
    sf = _inverse_nonzero_count(y)
    p = np.exp(_log_softmax(x))
    return (d_loss * sf)[:, None] * (np.sum(y, axis=-1, keepdims=True) * p - y)


def cosine_distance(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``1 - w sum_i y_i x_i`` per sample, as the header writes it (x and y should be unit
    vectors; the weight sits inside the sum). x, y : (N, C); w : (N,). Returns (N,)."""
    return 1 - w * np.sum(y * x, axis=-1)


def cosine_distance_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray,
                             w: np.ndarray) -> np.ndarray:
    """d_x (N, C) from d_loss (N,), the header's in_delta ``-t + (1 - loss) p`` with the weight:
    ``d_loss (-w y + (1 - e) x)``, e = 1 - w sum_i y_i x_i (see the Notes: the gradient of the
    cosine distance on unit-norm inputs)."""
    similarity = (w * np.sum(y * x, axis=-1))[:, None]      # 1 - e
    return d_loss[:, None] * (similarity * x - w[:, None] * y)


# =============================================================================== elementwise losses
def sigmoid_cross_entropy(x: np.ndarray, y: np.ndarray, label_smooth: float = 0.0) -> np.ndarray:
    """Binary cross entropy of logits x against labels y (any shape), y' = y(1 - s) + s/2:
    ``-y' log sigmoid(x) - (1 - y') log(1 - sigmoid(x)) = max(x, 0) - x y' + log(1 + exp(-|x|))``
    (the second form never overflows)."""
    y = _smooth(y, label_smooth, 2)
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


def sigmoid_cross_entropy_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray,
                                   label_smooth: float = 0.0) -> np.ndarray:
    """``d_loss * (sigmoid(x) - y')``, same shape as x."""
    return d_loss * (_sigmoid(x) - _smooth(y, label_smooth, 2))


def mean_square_error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x - y)^2`` elementwise."""
    return (x - y) ** 2


def mean_square_error_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``2 d_loss (x - y)``."""
    return 2 * d_loss * (x - y)


def huber(x: np.ndarray, y: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of e = x - y: ``e^2/2`` if ``|e| <= delta`` else ``delta (|e| - delta/2)``."""
    a = np.abs(x - y)
    return np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))


def huber_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray, delta: float) -> np.ndarray:
    """``d_loss * clip(x - y, -delta, delta)`` (e inside the band, delta sign(e) outside)."""
    return d_loss * np.clip(x - y, -delta, delta)


def log_loss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``-y log(x + eps) - (1 - y) log(1 - x + eps)`` for probabilities x, eps = LOG_EPSILON."""
    eps = x.dtype.type(LOG_EPSILON)
    return -y * np.log(x + eps) - (1 - y) * np.log(1 - x + eps)


def log_loss_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``d_loss * (-y/(x + eps) + (1 - y)/(1 - x + eps))``."""
    eps = x.dtype.type(LOG_EPSILON)
    return d_loss * (-y / (x + eps) + (1 - y) / (1 - x + eps))


def hinge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``max(0, 1 - t x)`` with t = 2y - 1 (labels 0/1 -> -1/+1)."""
    return np.maximum(0, 1 - (2 * y - 1) * x)


def hinge_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``-d_loss t`` where ``1 - t x > 0``, else 0 (0 at the kink)."""
    t = 2 * y - 1
    return np.where(1 - t * x > 0, -d_loss * t, 0)


def mean_absolute_error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``|x - y|`` elementwise."""
    return np.abs(x - y)


def mean_absolute_error_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``d_loss * (+1 if x >= y else -1)`` (the header's sign, +1 at a tie)."""
    return d_loss * np.where(x >= y, 1, -1)


# =============================================================================== Yolo
def grid_shape(params: YoloParameters) -> tuple:
    """(H, W, A, anchor_box_size): one Yolo sample in NumPy order."""
    return (params.number_of_grid_rows, params.number_of_grid_columns, params.number_of_anchor_boxes,
            params.anchor_box_size)


def yolo(x: np.ndarray, y: np.ndarray, params: YoloParameters, huber_delta: float = 0.0, *,
         assign_from: Optional[np.ndarray] = None) -> np.ndarray:
    """Yolo loss per sample (see the module Notes for the definition).

    Parameters
    ----------
    x : ndarray of shape (N, H, W, A, 5 + classes) — predicted (x, y, w, h, conf logit, class
        logits) per anchor of each grid cell.
    y : ndarray of the same shape — ground truth (x, y, w, h, conf in {0, 1}, class labels).
    params : the grid, anchors and scales.
    huber_delta : delta of the w, h Huber term (0 means 1).
    assign_from : predictions the anchor sets and the rescore target are computed from (default
        x). The gradient treats them as constants, so ``yolo(z, y, p, assign_from=x)`` is the
        function :func:`yolo_backward` differentiates at z = x.

    Returns
    -------
    ndarray of shape (N,).
    """
    obj, no_obj, target = _yolo_assign(x if assign_from is None else assign_from, y, params)
    delta = _huber_delta(huber_delta)
    p = params
    cell = (p.scale_xy * np.sum(mean_square_error(x[..., 0:2], y[..., 0:2]), axis=-1)
            + p.scale_wh * np.sum(huber(x[..., 2:4], y[..., 2:4], delta), axis=-1)
            + p.scale_object * sigmoid_cross_entropy(x[..., 4], target))
    if p.anchor_box_size > 5:
        cell = cell + p.scale_classification * _rows(softmax_cross_entropy, x[..., 5:], y[..., 5:])
    loss = np.where(obj, cell, 0)
    no_object = p.scale_no_object * sigmoid_cross_entropy(x[..., 4], np.zeros_like(x[..., 4]))
    loss = loss + np.where(no_obj, no_object, 0)
    return np.sum(loss, axis=(1, 2, 3))


def yolo_backward(d_loss: np.ndarray, x: np.ndarray, y: np.ndarray, params: YoloParameters,
                  huber_delta: float = 0.0) -> np.ndarray:
    """d_x of shape (N, H, W, A, 5 + classes) from d_loss (N,), anchor sets and rescore target
    held constant."""
    obj, no_obj, target = _yolo_assign(x, y, params)
    delta = _huber_delta(huber_delta)
    p = params
    g = d_loss[:, None, None, None]
    g_obj = np.where(obj, g, 0)
    g_no_obj = np.where(no_obj, g, 0)
    d_x = np.zeros_like(x)
    d_x[..., 0:2] = p.scale_xy * mean_square_error_backward(g_obj[..., None], x[..., 0:2],
                                                            y[..., 0:2])
    d_x[..., 2:4] = p.scale_wh * huber_backward(g_obj[..., None], x[..., 2:4], y[..., 2:4], delta)
    d_x[..., 4] = (p.scale_object * sigmoid_cross_entropy_backward(g_obj, x[..., 4], target)
                   + p.scale_no_object * sigmoid_cross_entropy_backward(
                       g_no_obj, x[..., 4], np.zeros_like(x[..., 4])))
    if p.anchor_box_size > 5:
        classes = x.shape[-1] - 5
        flat = lambda a: a.reshape(-1, classes)   # noqa: E731  (cells as rows of classes)
        d_x[..., 5:] = p.scale_classification * softmax_cross_entropy_backward(
            g_obj.reshape(-1), flat(x[..., 5:]), flat(y[..., 5:])).reshape(x[..., 5:].shape)
    return d_x


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes given as (..., 4) = (centre x, centre y, w, h); negative sizes count as 0,
    and two empty boxes have IoU 0."""
    aw, ah = np.maximum(a[..., 2], 0), np.maximum(a[..., 3], 0)
    bw, bh = np.maximum(b[..., 2], 0), np.maximum(b[..., 3], 0)
    iw = np.minimum(a[..., 0] + aw / 2, b[..., 0] + bw / 2) - np.maximum(a[..., 0] - aw / 2,
                                                                          b[..., 0] - bw / 2)
    ih = np.minimum(a[..., 1] + ah / 2, b[..., 1] + bh / 2) - np.maximum(a[..., 1] - ah / 2,
                                                                          b[..., 1] - bh / 2)
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = aw * ah + bw * bh - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


# =============================================================================== reduction
def reduce(entries: np.ndarray, weights: np.ndarray, reduction: int) -> np.ndarray:
    """The loss output from the weighted per-entry losses.

    Parameters
    ----------
    entries : weighted losses e_k, shape (N,) or (N, ...).
    weights : the weights broadcast to entries' shape (ones when none were given).
    reduction : a BNNSLossReductionFunction raw value.

    Returns
    -------
    entries itself for None, else an array of shape (1,): ``sum(e) / D`` with D from
    :func:`_denominator` (0 when D is 0).
    """
    if reduction == REDUCTION_NONE:
        return entries
    d = _denominator(entries, weights, reduction)
    total = np.sum(entries)
    return np.array([total / d if d != 0 else 0], dtype=entries.dtype)


def reduce_backward(d_out: np.ndarray, weights: np.ndarray, reduction: int) -> np.ndarray:
    """d(out)/d(entries) applied to d_out: d_out itself for None, else ``d_out / D`` on every
    entry (0 when D is 0). Returns an array of weights' shape."""
    if reduction == REDUCTION_NONE:
        return d_out.reshape(weights.shape)
    d = _denominator(weights, weights, reduction)
    scale = d_out.reshape(-1)[0] / d if d != 0 else 0
    return np.full(weights.shape, scale, dtype=weights.dtype)


def _denominator(entries: np.ndarray, weights: np.ndarray, reduction: int) -> float:
    if reduction == REDUCTION_SUM:
        return 1.0
    if reduction == REDUCTION_MEAN:
        return float(entries.size)
    if reduction == REDUCTION_WEIGHTED_MEAN:
        return float(np.sum(weights, dtype=np.float64))
    if reduction == REDUCTION_NON_ZERO_WEIGHT_MEAN:
        return float(np.count_nonzero(weights))
    raise InvalidArgumentError(f"reduction {reduction} is not a BNNSLossReductionFunction")


# =============================================================================== the table
@dataclasses.dataclass(frozen=True)
class LossKind:
    """One row of the loss table.

    forward(x, y, w, params) -> weighted entries e (w broadcast to the entries' shape);
    backward(g, x, y, w, params) -> d_x given g = d(out)/d(e).
    x, y arrive in the kind's working shape: (N, C) per sample, (N, *i_desc.shape) elementwise,
    (N, H, W, A, box) for Yolo.
    """

    name: str
    per_sample: bool
    forward: Callable
    backward: Callable
    uses_label_smooth: bool = False
    uses_huber_delta: bool = False
    # Optional: (x, y, w, params, g) -> (weighted entries, d_x) in one pass, for apply with in_delta.
    forward_with_grad: Optional[Callable] = None


def _weighted(f, f_backward, *extra) -> tuple[Callable, Callable]:
    """Forward/backward of ``e = w * f(x, y, *extra(params))``."""
    def forward(x, y, w, p):
        return w * f(x, y, *[get(p) for get in extra])

    def backward(g, x, y, w, p):
        return f_backward(g * w, x, y, *[get(p) for get in extra])
    return forward, backward


def _softmax_ce_with_grad(x, y, w, p, g):
    loss, d_x = softmax_cross_entropy_with_grad(x, y, p.label_smooth, g * w)
    return w * loss, d_x


def _smoothing(p):
    return p.label_smooth


def _delta(p):
    return _huber_delta(p.huber_delta)


def _yolo_forward(x, y, w, p):
    return w * yolo(x, y, p.yolo, p.huber_delta)


def _yolo_backward(g, x, y, w, p):
    return yolo_backward(g * w, x, y, p.yolo, p.huber_delta)


LOSSES: dict[int, LossKind] = {
    SOFTMAX_CROSS_ENTROPY: LossKind(
        "SoftmaxCrossEntropy", True,
        *_weighted(softmax_cross_entropy, softmax_cross_entropy_backward, _smoothing),
        uses_label_smooth=True, forward_with_grad=_softmax_ce_with_grad),
    SIGMOID_CROSS_ENTROPY: LossKind(
        "SigmoidCrossEntropy", False,
        *_weighted(sigmoid_cross_entropy, sigmoid_cross_entropy_backward, _smoothing),
        uses_label_smooth=True),
    MEAN_SQUARE_ERROR: LossKind(
        "MeanSquareError", False, *_weighted(mean_square_error, mean_square_error_backward)),
    HUBER: LossKind(
        "Huber", False, *_weighted(huber, huber_backward, _delta), uses_huber_delta=True),
    YOLO: LossKind("Yolo", True, _yolo_forward, _yolo_backward, uses_huber_delta=True),
    LOG: LossKind("Log", False, *_weighted(log_loss, log_loss_backward)),
    COSINE_DISTANCE: LossKind(
        "CosineDistance", True,
        lambda x, y, w, p: cosine_distance(x, y, w),
        lambda g, x, y, w, p: cosine_distance_backward(g, x, y, w)),
    HINGE: LossKind("Hinge", False, *_weighted(hinge, hinge_backward)),
    MEAN_ABSOLUTE_ERROR: LossKind(
        "MeanAbsoluteError", False, *_weighted(mean_absolute_error, mean_absolute_error_backward)),
    CATEGORICAL_CROSS_ENTROPY: LossKind(
        "CategoricalCrossEntropy", True,
        *_weighted(categorical_cross_entropy, categorical_cross_entropy_backward)),
}


def kind_of(function: int) -> LossKind:
    if function not in LOSSES:
        raise InvalidArgumentError(
            f"function {function} is not a BNNSLossFunction (1 SoftmaxCrossEntropy ... "
            f"10 CategoricalCrossEntropy)")
    return LOSSES[function]


# =============================================================================== the filter
class LossFilter:
    """A BNNS loss filter: validated parameters plus apply / apply_backward on arrays.

    Parameters
    ----------
    params : LossParameters. Every inconsistency raises InvalidArgumentError here.
    """

    def __init__(self, params: LossParameters):
        self.params = params
        self.kind = kind_of(params.function)
        self.input_desc = params.i_desc
        self.output_desc = params.o_desc
        self._validate()

    # ------------------------------------------------------------------ geometry
    @property
    def input_width(self) -> int:
        """Values per sample that weights and unreduced outputs count (C for per-sample losses)."""
        return self.input_desc.element_count

    def output_shape(self, batch_size: int) -> tuple:
        """Shape of the loss array apply returns for this batch size."""
        if self.params.reduction != REDUCTION_NONE:
            return (1,)
        if self.kind.per_sample:
            return (batch_size,)
        return (batch_size,) + self.input_desc.shape

    def allowed_weights_sizes(self, batch_size: int) -> tuple:
        if self.kind.per_sample:
            return (0, 1, batch_size)
        return (0, 1, batch_size * self.input_width)

    def check_weights(self, weights_size: int, batch_size: int) -> None:
        """Raise InvalidArgumentError unless weights_size is allowed for this loss and batch."""
        allowed = self.allowed_weights_sizes(batch_size)
        if weights_size in allowed:
            return
        per = ("batch_size, one per sample" if self.kind.per_sample else
               f"batch_size x input_width = {batch_size} x {self.input_width}, one per element")
        raise InvalidArgumentError(
            f"weights_size {weights_size} is not allowed for {self.kind.name} with batch_size "
            f"{batch_size}: use 0 (no weights), 1 (one weight for all) or {allowed[2]} ({per})")

    # ------------------------------------------------------------------ compute
    def apply(self, x: np.ndarray, labels: np.ndarray, weights: Optional[np.ndarray] = None, *,
              want_input_grad: bool = False):
        """BNNSLossFilterApplyBatch.

        Parameters
        ----------
        x, labels : ndarray of shape (N, *i_desc.shape).
        weights : None or 1-D with 1, N or N * input_width values (see check_weights).
        want_input_grad : also return d(out)/dx (for None: d(sum of the entries)/dx).

        Returns
        -------
        (loss, d_x) : loss of output_shape(N); d_x shaped like x, or None.
        """
        xs, ys, w = self._prepare(x, labels, weights)
        if want_input_grad and self.kind.forward_with_grad is not None:
            # g = d(out)/d(entries) depends only on the weights and the reduction.
            out_shape = (1,) if self.params.reduction != REDUCTION_NONE else w.shape
            g = reduce_backward(np.ones(out_shape, dtype=xs.dtype), w, self.params.reduction)
            entries, d_x = self.kind.forward_with_grad(xs, ys, w, self.params, g)
            return reduce(entries, w, self.params.reduction), d_x.reshape(x.shape)
        out = reduce(self.kind.forward(xs, ys, w, self.params), w, self.params.reduction)
        d_x = None
        if want_input_grad:
            d_x = self._input_grad(np.ones(out.shape, dtype=xs.dtype), xs, ys, w, x.shape)
        return out, d_x

    def apply_backward(self, x: np.ndarray, labels: np.ndarray, weights: Optional[np.ndarray],
                       d_loss: np.ndarray) -> np.ndarray:
        """BNNSLossFilterApplyBackwardBatch: d_x = sum_k d_loss_k d(out_k)/dx.

        d_loss holds one value per loss output entry (output_shape(N); any shape of that size).
        """
        xs, ys, w = self._prepare(x, labels, weights)
        expected = self.output_shape(xs.shape[0])
        d_loss = np.asarray(d_loss)
        require(d_loss.size == math.prod(expected),
                lambda: f"d_loss has {d_loss.size} values; the {self.kind.name} loss output with reduction "
                f"{REDUCTION_NAMES[self.params.reduction]} and batch_size {xs.shape[0]} has "
                f"{math.prod(expected)} (shape {expected})")
        require(np.issubdtype(d_loss.dtype, np.number),
                lambda: f"d_loss has dtype {d_loss.dtype}, expected float")
        return self._input_grad(d_loss.astype(xs.dtype).reshape(expected), xs, ys, w, x.shape)

    # ------------------------------------------------------------------ helpers
    def _input_grad(self, d_out, xs, ys, w, x_shape):
        g = reduce_backward(d_out, w, self.params.reduction)
        return self.kind.backward(g, xs, ys, w, self.params).reshape(x_shape)

    def _prepare(self, x, labels, weights):
        """Arrays in the kind's working shape and dtype, and the per-entry weights."""
        x = np.asarray(x)
        shape = self.input_desc.shape
        require(x.ndim == len(shape) + 1 and x.shape[1:] == shape and x.shape[0] >= 1,
                lambda: f"x has shape {x.shape}; the loss expects (N, {', '.join(map(str, shape))}) with "
                f"N >= 1 for i_desc {self.input_desc.describe()}")
        labels = np.asarray(labels)
        require(labels.shape == x.shape,
                lambda: f"labels have shape {labels.shape} but x has {x.shape}: labels must have the "
                f"input's shape")
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        n = x.shape[0]
        if self.params.function == YOLO:
            work = (n,) + grid_shape(given(self.params.yolo, "function Yolo needs the yolo parameters"))
        elif self.kind.per_sample:
            work = (n, self.input_width)
        else:
            work = x.shape
        xs = x.astype(dtype, copy=False).reshape(work)
        ys = labels.astype(dtype, copy=False).reshape(work)
        return xs, ys, self._entry_weights(weights, n, dtype)

    def _entry_weights(self, weights, n, dtype):
        entries = (n,) if self.kind.per_sample else (n,) + self.input_desc.shape
        if weights is None:
            return np.ones(entries, dtype=dtype)
        weights = np.asarray(weights)
        require(weights.ndim == 1, lambda: f"weights must be 1-D (weights_size values); got shape "
                                   f"{weights.shape}")
        self.check_weights(weights.size, n)
        if weights.size == 0:
            return np.ones(entries, dtype=dtype)
        weights = weights.astype(dtype)
        require(bool(np.all(np.isfinite(weights))),
                lambda: f"weights contain NaN or infinity: {weights[~np.isfinite(weights)][:4]} ...")
        if weights.size == 1:
            return np.full(entries, weights[0], dtype=dtype)
        return weights.reshape(entries)

    def _validate(self) -> None:
        p, kind = self.params, self.kind
        require(p.reduction in REDUCTION_NAMES,
                lambda: f"reduction {p.reduction} is not a BNNSLossReductionFunction (0 None, 1 Sum, "
                f"2 WeightedMean, 3 Mean, 4 NonZeroWeightMean)")
        for name, desc in (("i_desc", p.i_desc), ("o_desc", p.o_desc)):
            desc.validate(name)
            require(desc.data_type == DTYPE_FLOAT32,
                    lambda: f"{name}.data_type {desc.data_type:#x} is not supported by the loss layer: "
                    f"BNNS requires Float32 (0x10020) input and output")
        require(_is_finite(p.label_smooth) and 0 <= p.label_smooth <= 1,
                lambda: f"label_smooth {p.label_smooth} must be a number in [0, 1]")
        require(kind.uses_label_smooth or p.label_smooth == 0,
                lambda: f"label_smooth {p.label_smooth} is set but {kind.name} does not use it (only "
                f"SoftmaxCrossEntropy and SigmoidCrossEntropy do); leave it 0")
        require(_is_finite(p.huber_delta) and p.huber_delta >= 0,
                lambda: f"huber_delta {p.huber_delta} must be a finite number >= 0 (0 means 1)")
        require(kind.uses_huber_delta or p.huber_delta == 0,
                lambda: f"huber_delta {p.huber_delta} is set but {kind.name} does not use it (only Huber "
                f"and Yolo do); leave it 0")
        if p.function == YOLO:
            self._validate_yolo()
        else:
            require(p.yolo is None, lambda: f"yolo parameters are given but function is {kind.name}")
        if kind.per_sample and p.function != YOLO:
            shape = p.i_desc.shape
            require(sum(1 for s in shape if s > 1) <= 1,
                    lambda: f"i_desc {p.i_desc.describe()} describes a sample of shape {shape}, but "
                    f"{kind.name} needs a vector of classes (one dimension > 1; BNNS input_width = "
                    f"i_desc.size[0]); describe the sample as a Vector of its classes")
        per_item = 1 if (p.reduction != REDUCTION_NONE or kind.per_sample) else \
            p.i_desc.element_count
        what = ("1 (the loss is reduced)" if p.reduction != REDUCTION_NONE else
                "1 (one loss per sample)" if kind.per_sample else
                f"{per_item}, one loss per input element (i_desc {p.i_desc.describe()})")
        require(p.o_desc.element_count == per_item,
                lambda: f"o_desc {p.o_desc.describe()} holds {p.o_desc.element_count} values per item but "
                f"{kind.name} with reduction {REDUCTION_NAMES[p.reduction]} writes {what}")

    def _validate_yolo(self) -> None:
        p, y = self.params, given(self.params.yolo, "function Yolo needs the yolo parameters (LossParameters.yolo)")
        require(p.reduction == REDUCTION_SUM,
                lambda: f"reduction {REDUCTION_NAMES[p.reduction]} ({p.reduction}) is not allowed for "
                f"Yolo: BNNS requires Sum (1)")
        for name in ("number_of_grid_columns", "number_of_grid_rows", "number_of_anchor_boxes"):
            value = getattr(y, name)
            require(isinstance(value, (int, np.integer)) and value >= 1,
                    lambda: f"yolo.{name} {value} must be an integer >= 1")
        require(isinstance(y.anchor_box_size, (int, np.integer)) and y.anchor_box_size >= 5,
                lambda: f"yolo.anchor_box_size {y.anchor_box_size} must be an integer >= 5 "
                f"(x, y, w, h, conf, then one value per class)")
        for name in ("scale_xy", "scale_wh", "scale_object", "scale_no_object",
                     "scale_classification"):
            value = getattr(y, name)
            require(_is_finite(value) and value >= 0, lambda: f"yolo.{name} {value} must be finite, >= 0")
        for name in ("object_minimum_iou", "no_object_maximum_iou"):
            value = getattr(y, name)
            require(_is_finite(value) and 0 <= value <= 1, lambda: f"yolo.{name} {value} must be in [0, 1]")
        try:
            anchors = np.asarray(y.anchors_data, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"yolo.anchors_data {y.anchors_data!r} must be a sequence of numbers") from None
        require(anchors.ndim == 1 and anchors.size == 2 * y.number_of_anchor_boxes,
                lambda: f"yolo.anchors_data has {anchors.size} values; number_of_anchor_boxes "
                f"{y.number_of_anchor_boxes} needs {2 * y.number_of_anchor_boxes} (w0, h0, w1, h1, "
                f"...)")
        require(bool(np.all(np.isfinite(anchors))) and bool(np.all(anchors > 0)),
                lambda: f"yolo.anchors_data {tuple(y.anchors_data)} must be finite and > 0")
        need = math.prod(grid_shape(y))
        require(p.i_desc.element_count == need,
                lambda: f"i_desc {p.i_desc.describe()} holds {p.i_desc.element_count} values per sample; "
                f"Yolo with a {y.number_of_grid_rows} x {y.number_of_grid_columns} grid, "
                f"{y.number_of_anchor_boxes} anchors and anchor_box_size {y.anchor_box_size} needs "
                f"{need}")


# =============================================================================== private helpers
def _is_finite(value) -> bool:
    """True for a finite real number (False for NaN, infinity, None, strings ...)."""
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _log_softmax(x: np.ndarray) -> np.ndarray:
    """log softmax along the last axis, shifted by the max so exp never overflows."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))      # exp of a non-positive argument only
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _smooth(y: np.ndarray, s: float, classes: int) -> np.ndarray:
    """Label smoothing y(1 - s) + s/classes (classes = C for softmax, 2 for sigmoid)."""
    if s == 0:
        return y
    return y * (1 - s) + s / classes


def _inverse_nonzero_count(y: np.ndarray) -> np.ndarray:
    """1/numM per row of y (0 for a row with no nonzero label)."""
    count = np.count_nonzero(y, axis=-1)
    return np.where(count > 0, 1 / np.maximum(count, 1), 0).astype(y.dtype)


def _huber_delta(delta: float) -> float:
    return float(delta) if delta > 0 else DEFAULT_HUBER_DELTA


def _rows(f, x, y):
    """Apply a per-row loss f((R, C), (R, C)) -> (R,) to (..., C) arrays; returns (...)."""
    return f(x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])).reshape(x.shape[:-1])


def _yolo_assign(pred: np.ndarray, y: np.ndarray, p: YoloParameters):
    """Object anchors, no-object anchors and the confidence target, each (N, H, W, A)."""
    has_object = y[..., 4] == 1
    anchors = np.asarray(p.anchors_data, dtype=y.dtype).reshape(-1, 2)
    # IoU of each anchor's prior box with the object's box, both centred at the same point.
    gw, gh = np.maximum(y[..., 2], 0), np.maximum(y[..., 3], 0)
    aw, ah = anchors[:, 0], anchors[:, 1]
    inter = np.minimum(aw, gw) * np.minimum(ah, gh)
    prior_iou = inter / (aw * ah + gw * gh - inter)           # aw * ah > 0: no zero division
    best = np.argmax(prior_iou, axis=-1)[..., None] == np.arange(anchors.shape[0])
    obj = has_object & (best | (prior_iou >= p.object_minimum_iou))
    pred_iou = np.where(has_object, box_iou(pred[..., 0:4], y[..., 0:4]), 0)
    no_obj = ~obj & (pred_iou <= p.no_object_maximum_iou)
    target = pred_iou.astype(y.dtype) if p.rescore else np.ones_like(y[..., 4])
    return obj, no_obj, target
