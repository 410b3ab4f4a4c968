"""BNNS normalization filters: BatchNorm, InstanceNorm, LayerNorm, GroupNorm (bnns.md 3.4, 6.9).

    y = act(gamma * x_hat + beta),   x_hat = (x - mean) / sqrt(var + epsilon)

``BNNSFilterCreateLayerNormalization`` + ``BNNSNormalizationFilterApplyBatch`` /
``BNNSNormalizationFilterApplyBackwardBatch``. The item is any descriptor of rank >= 1, usually
ImageCHW (size (W, H, C) -> NumPy (C, H, W)); a batch is ``x`` of shape (N, C, *rest): the channel
is the item's slowest logical axis (axis 1 of the batch array).

Which values share one mean and variance:

    BatchNorm     per channel c, over (N, *rest)              gamma, beta, moving stats: (C,)
    InstanceNorm  per (sample n, channel c), over rest        gamma, beta, moving stats: (C,)
    GroupNorm     per (sample n, group g), over (C/G, *rest)  gamma, beta: (C,), per channel
    LayerNorm     per sample n (and per index of the axes before normalization_axis), over the last
                  rank - normalization_axis logical axes       gamma, beta: the normalised shape
                  (ImageCHW: axis 0 -> (C, H, W), 1 -> (H, W), 2 -> (W,))

Notes
-----
Conventions chosen where BNNS is silent (bnns.md marks them UNCONFIRMED), PyTorch's unless said:

* Normalising uses the biased variance (sum / count), like ``torch.nn.functional.batch_norm``.
* Moving statistics (Batch and Instance norm only) are updated with the *unbiased* batch variance
  (sum / (count - 1)), like torch, but with the Keras/BNNS-sample form of momentum:
  ``moving = momentum * moving + (1 - momentum) * batch``. This is the opposite of torch's
  ``momentum`` (torch's 0.1 is our 0.9). InstanceNorm updates them with the batch mean of the
  per-instance statistics (what ``torch.nn.InstanceNorm2d(track_running_stats=True)`` does).
  A training forward that would need an unbiased variance from a single value (count 1) is refused.
* moving_mean and moving_variance are given together or not at all. For Layer and Group norm they
  are ignored (BNNS ignores them). A descriptor whose ``data`` is None counts as absent (BNNS: a
  NULL data pointer means "ignored"), so beta is then 0 and gamma 1.
* beta and gamma gradients are summed over the batch. They are available even when beta or
  gamma is absent: they are then the gradients at beta = 0 / gamma = 1.
* A descriptor for beta, gamma or the moving stats may have any layout; only its element count must
  match, and its values are taken in logical C order.
* The activation is applied after the affine step; its backward takes the derivative from y
  (BNNS's rule for fused activations). An activation whose derivative y does not determine
  (e.g. LeakyReLU with alpha <= 0) is supported too: the training forward then keeps the
  pre-activation in its cache.
* Backward has no x argument (BNNS): it uses x_hat (LayerNorm: x - mean, see Saved) and
  1/sqrt(var + epsilon) cached by the last training forward of this filter. Inference forwards do
  not touch that cache.

Implementation: the statistics rows are cut into cache-sized blocks shared over the cores
(parallel.map_blocks), and every pass over a block is made while it is in cache. BatchNorm, whose
statistics span the batch, gathers them in one pass (per-row mean and centred sum of squares,
merged per channel with Chan's formula) and normalises in a second; the other kinds normalise
each block in one go. Row sums are dot products with ones. Tests compare every kind, cut into
one-row blocks on every core, with naive loops.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, TypeGuard

import numpy as np

from . import activation as act_mod
from . import blas
from . import parallel
from .activation import Activation
from .errors import FailedPreconditionError, InternalError, given, require
from .layout import Descriptor, numpy_dtype
from .params import NormalizationParameters

BATCH_NORM, INSTANCE_NORM, LAYER_NORM, GROUP_NORM = 2, 3, 4, 5     # BNNSFilterType raw values
KIND_NAMES = {BATCH_NORM: "BatchNorm", INSTANCE_NORM: "InstanceNorm", LAYER_NORM: "LayerNorm",
              GROUP_NORM: "GroupNorm"}
_WITH_MOVING_STATS = (BATCH_NORM, INSTANCE_NORM)


# ---------------------------------------------------------------------------------------- geometry
@dataclasses.dataclass(frozen=True)
class Geometry:
    """How a batch is viewed for the statistics and for the affine step.

    Statistics: the batch is viewed as (N, rows, row_length) and reduced over the last axis
    (plus the batch axis for BatchNorm). Affine step: viewed as (N, C, S) with gamma per channel
    (``channelwise``), or as (N, P, Q) with gamma over the last axis (LayerNorm).
    """

    kind: int
    item_shape: tuple
    rows: int              # statistics rows per sample: C, C, G or P
    row_length: int        # values per row: S, S, C/G * S or Q
    affine_shape: tuple    # (C, S) or (P, Q): the item as the affine step sees it
    param_shape: tuple     # natural shape of beta and gamma: (C,) or the normalised shape

    @property
    def channelwise(self) -> bool:
        return self.kind != LAYER_NORM

    @property
    def stats_per_sample(self) -> bool:
        return self.kind != BATCH_NORM

    def count(self, n: int) -> int:
        """Number of values behind one mean/variance."""
        return self.row_length * (1 if self.stats_per_sample else n)


def geometry(kind: int, item_shape: tuple, num_groups: int = 1,
             normalization_axis: int = 0) -> Geometry:
    """The Geometry of a normalization ``kind`` for items of logical shape ``item_shape``."""
    item_shape = tuple(int(s) for s in item_shape)
    channels, spatial = item_shape[0], math.prod(item_shape[1:])
    if kind == LAYER_NORM:
        normalised = item_shape[normalization_axis:]
        outer, inner = math.prod(item_shape[:normalization_axis]), math.prod(normalised)
        return Geometry(kind, item_shape, outer, inner, (outer, inner), normalised)
    if kind == GROUP_NORM:
        rows, length = num_groups, channels // num_groups * spatial
    else:
        rows, length = channels, spatial
    return Geometry(kind, item_shape, rows, length, (channels, spatial), (channels,))


# ---------------------------------------------------------------------------------------- kernels
@dataclasses.dataclass(frozen=True)
class Saved:
    """What a training forward keeps for backward (the filter holds it, BNNS's cache).

    x_hat : (N, *affine_shape), normalised input; LayerNorm keeps x - mean here instead, its
        inv_std folded into per-row factors of y and of the backward (a pass over the tensor less).
    inv_std : (N or 1, rows), 1 / sqrt(var + epsilon) per statistics row.
    mean, variance : (N or 1, rows), batch statistics (variance biased).
    pre : (N, *item_shape) pre-activation, kept only when y does not determine the activation's
        derivative; else None.
    """

    geometry: Geometry
    x_hat: np.ndarray
    inv_std: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    pre: Optional[np.ndarray]

    @property
    def batch_size(self) -> int:
        return self.x_hat.shape[0]


def forward(x: np.ndarray, geo: Geometry, gamma: Optional[np.ndarray] = None,
            beta: Optional[np.ndarray] = None, *, epsilon: float,
            activation: Activation = Activation(),
            mean: Optional[np.ndarray] = None, variance: Optional[np.ndarray] = None,
            x_hat_out: Optional[np.ndarray] = None, keep: bool = True):
    """Normalise a batch: y = act(gamma * (x - mean) / sqrt(var + epsilon) + beta).

    Parameters
    ----------
    x : ndarray of shape (N, *geo.item_shape), e.g. (N, C, H, W) for ImageCHW size (W, H, C).
    geo : from :func:`geometry`.
    gamma, beta : ndarray of shape geo.param_shape, or None (1 and 0).
    epsilon : added to the variance.
    mean, variance : ndarray of shape (C,), given statistics (BatchNorm/InstanceNorm inference with
        moving stats); None computes them from x.
    x_hat_out : optional buffer of shape (N, geo.rows, geo.row_length) and x's dtype for x_hat
        (a filter passes its previous cache: reusing memory saves the page faults of a fresh
        allocation, about a third of a large forward's time).
    keep : False for an inference forward, which keeps nothing for a backward: x - mean is then
        formed in y's own memory instead of a cache, so the forward moves the formula's bytes
        only (x read, y written) rather than a third tensor's too. y is the same, bit for bit.

    Returns
    -------
    y : ndarray like x.
    saved : :class:`Saved` for :func:`backward`, or None when the statistics were given or
        ``keep`` is False.
    """
    dtype = x.dtype
    n = x.shape[0]
    rows = x.reshape(n, geo.rows, geo.row_length)
    if mean is not None:
        # Fixed per-channel statistics (BatchNorm/InstanceNorm rows are channels) fold into one
        # scale and shift: y = act(x * k + c), k = gamma / sqrt(var + eps), c = beta - mean * k.
        k = 1 / np.sqrt(np.asarray(variance, dtype).reshape(-1) + dtype.type(epsilon))
        if gamma is not None:
            k = k * np.asarray(gamma, dtype)
        c = -np.asarray(mean, dtype).reshape(-1) * k
        if beta is not None:
            c += np.asarray(beta, dtype)
        pre = rows * k.astype(dtype)[:, None]
        pre += c.astype(dtype)[:, None]
        return act_mod.forward(pre.reshape(x.shape), activation), None

    # Blocked: each block of statistics rows is normalised while it sits in cache, the blocks
    # shared over the cores (parallel.map_blocks). The maths per row is the formula above.
    flat = rows.reshape(-1, geo.row_length)
    pre = np.empty(x.shape, dtype)
    pre_flat = pre.reshape(flat.shape)
    # Inference keeps no cache: x - mean goes into y's memory, normalised there in place.
    x_hat = (np.empty(rows.shape, dtype) if x_hat_out is None else x_hat_out) if keep else pre
    x_hat_flat = x_hat.reshape(flat.shape)
    scale, shift = _affine_operands(geo, n, gamma if geo.channelwise else None, beta, dtype)   # LayerNorm: gamma by _outer
    eps = dtype.type(epsilon)
    # Row sums as dot products with ones: BLAS-speed, 3x NumPy's pairwise add.reduce on rows.
    ones = np.ones(geo.row_length, dtype)
    if geo.stats_per_sample:
        count = dtype.type(geo.count(n))
        mean, variance, inv_std = (np.empty(flat.shape[0], dtype) for _ in range(3))
        gamma_row = ones if gamma is None else np.asarray(gamma, dtype).reshape(-1)

        def normalise(lo: int, hi: int) -> None:
            m = np.vecdot(flat[lo:hi], ones) / count
            centred = np.subtract(flat[lo:hi], m[:, None], out=x_hat_flat[lo:hi])
            # Two passes (mean, then squares of x - mean): no cancellation when |mean| >> std.
            v = np.vecdot(centred, centred) / count
            mean[lo:hi], variance[lo:hi] = m, v   # type: ignore[index]  # the arrays made above (mypy drops narrowing in closures)
            inv_std[lo:hi] = 1 / np.sqrt(v + eps)
            if geo.channelwise:
                centred *= inv_std[lo:hi, None]
                _affine_block(geo, centred, pre_flat[lo:hi], scale, shift, lo, hi)
                return
            # LayerNorm: y = (x - mean) * (inv_std gamma) + beta, and the cache keeps x - mean: one
            # pass less than scaling x - mean first (Saved.x_hat). The factor inv_std gamma is an
            # outer product, a rank-1 GEMM written straight into y's rows, which are then
            # multiplied in place: a write-only pass and an in-place one, about 3% faster in
            # the whole forward than a factor in scratch times x - mean into y (same products,
            # same bits).
            out = pre_flat[lo:hi]
            if keep:
                _outer(inv_std[lo:hi], gamma_row, out, add=False)
                out *= centred
            else:       # centred is y's rows already: the factor goes into scratch (the same products)
                factor = parallel.scratch(centred.shape, dtype)
                _outer(inv_std[lo:hi], gamma_row, factor, add=False)
                out *= factor
            if shift is not None:
                out += shift[:hi - lo, 0]

        parallel.map_blocks(flat.shape[0], flat.strides[0], normalise, block_bytes=block_bytes())
        mean, variance, inv_std = (a.reshape(n, geo.rows) for a in (mean, variance, inv_std))
    else:
        # BatchNorm: the statistics span the batch, so one pass gathers them (per row of one
        # sample and channel: its mean and centred sum of squares, merged per channel with Chan's
        # formula, as stable as two passes) and a second pass normalises.
        mean, variance = _batch_statistics(flat, n, geo)
        inv_std = (1 / np.sqrt(variance + eps)).astype(dtype, copy=False)
        row_mean, row_inv = _tiled(mean[0], n), _tiled(inv_std[0], n)

        def normalise(lo: int, hi: int) -> None:
            centred = np.subtract(flat[lo:hi], row_mean[lo:hi, None], out=x_hat_flat[lo:hi])
            centred *= row_inv[lo:hi, None]
            _affine_block(geo, centred, pre_flat[lo:hi], scale, shift, lo, hi)

        parallel.map_blocks(flat.shape[0], flat.strides[0], normalise, block_bytes=block_bytes())
    # The activation sees the item's own shape: axis functions (Softmax) act along its last axis.
    y = pre if act_mod.is_identity(activation) else act_mod.forward(pre, activation)
    if not keep:
        return y, None
    x_hat = x_hat.reshape((n,) + geo.affine_shape)
    keep_pre = not act_mod.is_identity(activation) and not act_mod.can_backward_from_output(activation)
    saved = Saved(geo, x_hat, inv_std, mean, variance, pre if keep_pre else None)
    return y, saved


def backward(d_out: np.ndarray, y: Optional[np.ndarray], saved: Saved,
             gamma: Optional[np.ndarray] = None, *, activation: Activation = Activation(),
             input_grad: bool = True, beta_grad: bool = False, gamma_grad: bool = False):
    """Gradients of a training-mode normalization from its cached forward.

    With dx_hat = gamma * dL/dpre and means over each statistics group (count m):

        dL/dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
        dL/dbeta = sum dL/dpre,   dL/dgamma = sum dL/dpre * x_hat   (over the batch and the rest)

    Parameters
    ----------
    d_out : ndarray (N, *item_shape), dL/dy.
    y : ndarray (N, *item_shape), the forward output; needed only for a non-Identity activation.
    saved : from the training :func:`forward`.
    gamma : ndarray geo.param_shape, or None (1).

    Returns
    -------
    (d_in (N, *item_shape), d_beta param_shape, d_gamma param_shape), None for what was not asked.
    """
    geo = saved.geometry
    n = saved.batch_size
    dtype = saved.x_hat.dtype
    d_pre = act_mod.backward(np.asarray(d_out, dtype), activation, x=saved.pre, y=y)
    # Blocked as the forward: every pass over a block of statistics rows runs while it is in cache.
    d_flat = np.ascontiguousarray(d_pre).reshape(-1, geo.row_length)
    xh_flat = saved.x_hat.reshape(d_flat.shape)
    count = dtype.type(geo.count(n))
    d_in = np.empty(d_flat.shape, dtype) if input_grad else None
    inv_rows = (saved.inv_std if geo.stats_per_sample else _tiled(saved.inv_std, n)).reshape(-1)
    g = None if gamma is None else np.asarray(gamma, dtype)
    d_beta = d_gamma = None
    ones = np.ones(geo.affine_shape[1] if geo.channelwise else geo.row_length, dtype)   # row sums as dots

    if geo.channelwise:
        # Sums per (sample, channel) first: they give the parameter gradients (summed over the
        # batch) and the statistics groups' sums of dx_hat = gamma * dL/dpre.
        a = geo.affine_shape[0] // geo.rows            # channels per statistics row (GroupNorm: C/G)
        d3, xh3 = d_flat.reshape(-1, a, geo.affine_shape[1]), xh_flat.reshape(-1, a, geo.affine_shape[1])
        sum_d, sum_dx = np.empty(d3.shape[:2], dtype), np.empty(d3.shape[:2], dtype)
        # Batch and Instance norm (one channel per statistics row): gamma is constant in a row and
        # factors out, dx = gamma * inv_std * (d_pre - mean(d_pre) - x_hat * mean(d_pre * x_hat)).
        # GroupNorm: gamma varies inside a group, whose means are those of dx_hat = gamma * d_pre.
        factored = a == 1
        g_rows = None if g is None else _tiled(g.reshape(geo.rows, a), n)      # (N*rows, a)
        k_rows = inv_rows if g_rows is None or not factored else inv_rows * g_rows[:, 0]

        def channel_sums(lo: int, hi: int) -> None:
            sum_d[lo:hi] = np.vecdot(d3[lo:hi], ones)                  # sum_s dL/dpre
            sum_dx[lo:hi] = np.vecdot(d3[lo:hi], xh3[lo:hi])           # sum_s dL/dpre * x_hat

        def group_means(lo: int, hi: int):
            """Per statistics row: mean(d_pre), mean(d_pre x_hat) (factored) or of dx_hat."""
            if factored or g_rows is None:
                return sum_d[lo:hi].sum(axis=1) / count, sum_dx[lo:hi].sum(axis=1) / count
            return ((g_rows[lo:hi] * sum_d[lo:hi]).sum(axis=1) / count,
                    (g_rows[lo:hi] * sum_dx[lo:hi]).sum(axis=1) / count)

        def input_gradient(lo: int, hi: int, mean_d: np.ndarray, mean_dx: np.ndarray) -> None:
            out = given(d_in, "d_in", error=InternalError)[lo:hi].reshape(-1, a, geo.affine_shape[1])
            np.multiply(xh3[lo:hi], -mean_dx[:, None, None], out=out)
            out -= mean_d[:, None, None]
            if factored or g_rows is None:
                out += d3[lo:hi]
            else:
                out += np.multiply(d3[lo:hi], g_rows[lo:hi, :, None], out=parallel.scratch(out.shape, dtype))
            out *= k_rows[lo:hi, None, None]

        if geo.stats_per_sample:
            def block(lo: int, hi: int) -> None:
                channel_sums(lo, hi)
                if input_grad:
                    input_gradient(lo, hi, *group_means(lo, hi))
            parallel.map_blocks(d3.shape[0], d_flat.strides[0], block, block_bytes=block_bytes())
        else:
            # BatchNorm: the statistics span the batch, so all sums come before any dx.
            parallel.map_blocks(d3.shape[0], d_flat.strides[0], channel_sums, block_bytes=block_bytes())
            if input_grad:
                c = geo.rows
                mean_d = _tiled(sum_d.reshape(n, c).sum(axis=0) / count, n)
                mean_dx = _tiled(sum_dx.reshape(n, c).sum(axis=0) / count, n)
                parallel.map_blocks(d3.shape[0], d_flat.strides[0],
                                    lambda lo, hi: input_gradient(lo, hi, mean_d[lo:hi], mean_dx[lo:hi]),
                                    block_bytes=block_bytes())
        channels = geo.affine_shape[0]
        if beta_grad:
            d_beta = sum_d.reshape(n, channels).sum(axis=0)
        if gamma_grad:
            d_gamma = sum_dx.reshape(n, channels).sum(axis=0)
    else:
        # LayerNorm: gamma varies inside a statistics row, and the cache holds c = x - mean
        # (Saved.x_hat), x_hat = s c with the row's inv_std s. With p = dL/dpre * c, the
        # formula above becomes, per row (g = gamma, 1 when absent):
        #     mean(dx_hat) = <dL/dpre, g> / m,   mean(dx_hat x_hat) = s <p, g> / m
        #     dL/dx = dL/dpre * (s g) - s mean(dx_hat) - (s^3 <p, g> / m) c
        # so dx_hat is never formed; the outer products (s g, and the per-row constants) are
        # rank-1 GEMMs (_outer), faster than NumPy's broadcasts of a column over rows.
        # The parameter gradients are per-block column sums of dL/dpre and of s p (vector-matrix
        # products with ones and with s), added up in block order.
        g_vec = np.ones(geo.row_length, dtype) if g is None else g.reshape(-1)
        ones_column = np.ones(d_flat.shape[0], dtype)

        def row_block(lo: int, hi: int):
            d, c, s = d_flat[lo:hi], xh_flat[lo:hi], inv_rows[lo:hi]
            p = parallel.scratch(d.shape, dtype)
            if gamma_grad or input_grad:
                np.multiply(d, c, out=p)
            partial_beta = ones_column[:hi - lo] @ d if beta_grad else None
            partial_gamma = s @ p if gamma_grad else None
            if input_grad:
                shift = (d @ g_vec) * s / count                 # s mean(dx_hat) per row
                slope = (p @ g_vec) * s * s * s / count         # the factor of c per row
                out = given(d_in, "d_in", error=InternalError)[lo:hi]
                _outer(s, g_vec, out, add=False)
                out *= d
                _outer(-shift, ones, out, add=True)
                _outer(slope, ones, p, add=False)               # p is no longer needed
                out -= np.multiply(p, c, out=p)
            return partial_beta, partial_gamma

        partials = parallel.map_blocks(d_flat.shape[0], d_flat.strides[0], row_block, block_bytes=block_bytes())
        if beta_grad:
            d_beta = _sum_in_order(p[0] for p in partials).reshape(geo.param_shape)
        if gamma_grad:
            d_gamma = _sum_in_order(p[1] for p in partials).reshape(geo.param_shape)
    if d_in is not None:
        d_in = d_in.reshape((n,) + geo.item_shape)
    return d_in, d_beta, d_gamma


# ---------------------------------------------------------------------------------------- filter
class NormalizationFilter:
    """A normalization filter: its beta, gamma and moving statistics (float32 copies) and the cache
    of its last training forward.

    ``parameters()`` returns the filter's own arrays: writing into them (an optimizer step, a
    client pointer refresh) changes what the next forward uses.
    """

    def __init__(self, params: NormalizationParameters):
        self.params = params
        kind = params.type
        require(kind in KIND_NAMES,
                lambda: f"type {kind} is not a normalization filter type (BatchNorm 2, InstanceNorm 3, "
                f"LayerNorm 4, GroupNorm 5)")
        name = KIND_NAMES[kind]
        for what, desc in (("i_desc", params.i_desc), ("o_desc", params.o_desc)):
            desc.validate(what)
            numpy_dtype(desc.data_type, what=f"{what}.data_type")
        shape = params.i_desc.shape
        require(params.o_desc.shape == shape,
                lambda: f"o_desc shape {params.o_desc.shape} ({params.o_desc.describe()}) differs from "
                f"i_desc shape {shape} ({params.i_desc.describe()}); {name} keeps the shape")
        require(_finite(params.epsilon) and params.epsilon >= 0,
                lambda: f"epsilon {params.epsilon} must be a finite number >= 0")
        require(_finite(params.momentum) and 0 <= params.momentum <= 1,
                lambda: f"momentum {params.momentum} must be in [0, 1]")
        act_mod.validate(params.activation, "activation")
        channels = shape[0]
        if kind == GROUP_NORM:
            groups = params.num_groups
            require(isinstance(groups, (int, np.integer)) and 1 <= groups <= channels
                    and channels % groups == 0,
                    lambda: f"num_groups {groups} must divide the {channels} channels of i_desc shape "
                    f"{shape}")
        if kind == LAYER_NORM:
            axis = params.normalization_axis
            require(isinstance(axis, (int, np.integer)) and 0 <= axis < len(shape),
                    lambda: f"normalization_axis {axis} must be in [0, {len(shape)}) for i_desc shape "
                    f"{shape}")
        self._geo = geometry(kind, shape, params.num_groups, params.normalization_axis)
        geo = self._geo

        self._arrays: dict[str, np.ndarray] = {}
        for field in ("beta", "gamma"):
            self._load(field, getattr(params, f"{field}_desc"), geo.param_shape, name)
        if kind in _WITH_MOVING_STATS:
            present = [_has_data(params.moving_mean_desc), _has_data(params.moving_variance_desc)]
            require(present[0] == present[1],
                    lambda: f"moving_mean ({'given' if present[0] else 'absent'}) and moving_variance "
                    f"({'given' if present[1] else 'absent'}) must be given together")
            for field in ("moving_mean", "moving_variance"):
                self._load(field, getattr(params, f"{field}_desc"), (channels,), name)
            if "moving_variance" in self._arrays:
                variance = self._arrays["moving_variance"]
                require(bool(np.all(variance >= 0)),
                        lambda: f"moving_variance has negative values (min {variance.min()})")
        self._saved: Optional[Saved] = None

    # ------------------------------------------------------------------ introspection
    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    @property
    def has_training_cache(self) -> bool:
        return self._saved is not None

    def parameters(self) -> dict[str, np.ndarray]:
        """The present ones of "beta", "gamma", "moving_mean", "moving_variance" (live arrays)."""
        return dict(self._arrays)

    # ------------------------------------------------------------------ apply
    def apply(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        """BNNSNormalizationFilterApplyBatch.

        x : (N, *i_desc.shape), e.g. (N, C, H, W). Returns y of the same shape.
        training=True normalises with the batch statistics, updates the moving stats and replaces
        the backward cache; training=False uses the moving stats when the filter has them.
        """
        x = self._check_batch(x, "x")
        p, geo = self.params, self._geo
        beta, gamma = self._arrays.get("beta"), self._arrays.get("gamma")
        moving = "moving_mean" in self._arrays
        if not training and moving:
            y, _ = forward(x, geo, gamma, beta, epsilon=p.epsilon, activation=p.activation,
                           mean=self._arrays["moving_mean"],
                           variance=self._arrays["moving_variance"])
            return y
        n = x.shape[0]
        if training and moving:
            require(geo.count(n) > 1,
                    lambda: f"{KIND_NAMES[p.type]} training with batch_size {n} and item shape "
                    f"{geo.item_shape} has one value per statistic: the unbiased variance for "
                    f"moving_variance is undefined")
        buffer = None
        if training and self._saved is not None:
            old = self._saved.x_hat
            if old.dtype == x.dtype and old.size == x.size:
                # Reuse the old cache's memory for the new x_hat. Forget the old cache first: if
                # anything fails from here on, backward reports "no training forward" rather
                # than reading a half-written x_hat.
                buffer = old.reshape(n, geo.rows, geo.row_length)
                self._saved = None
        y, saved = forward(x, geo, gamma, beta, epsilon=p.epsilon, activation=p.activation,
                           x_hat_out=buffer, keep=training)
        if training:
            if moving:
                self._update_moving_stats(saved)
            self._saved = saved
        return y

    def apply_backward(self, y: Optional[np.ndarray], d_out: np.ndarray, *, input_grad: bool = True,
                       beta_grad: bool = False, gamma_grad: bool = False):
        """BNNSNormalizationFilterApplyBackwardBatch: gradients from the last training forward.

        y : (N, *o_desc.shape), the forward output; only read for a non-Identity activation.
        d_out : (N, *o_desc.shape), dL/dy.
        Returns (d_in, d_beta, d_gamma), None for what was not asked.
        """
        p = self.params
        saved = self._saved
        if saved is None:
            raise FailedPreconditionError(
                f"{KIND_NAMES[p.type]} backward needs a training-mode forward first (BNNS keeps "
                f"x_hat and 1/std from it); this filter has had none", reason="NO_TRAINING_FORWARD")
        d_out = self._check_batch(d_out, "d_out")
        if d_out.shape[0] != saved.batch_size:
            raise FailedPreconditionError(
                f"d_out has batch size {d_out.shape[0]} but the last training forward had "
                f"batch size {saved.batch_size}; backward must follow a forward of the same batch", reason="NO_TRAINING_FORWARD")
        if not act_mod.is_identity(p.activation) and saved.pre is None:
            require(y is not None, lambda: f"y (the forward output) is needed for the backward of "
                                   f"activation {act_mod.kind_of(p.activation.function).name}")
            y = np.asarray(self._check_batch(y, "y"), saved.x_hat.dtype)
            require(y.shape[0] == saved.batch_size,
                    lambda: f"y has batch size {y.shape[0]}, d_out {saved.batch_size}")
        return backward(d_out, y, saved, self._arrays.get("gamma"), activation=p.activation,
                        input_grad=input_grad, beta_grad=beta_grad, gamma_grad=gamma_grad)

    # ------------------------------------------------------------------ helpers
    def _load(self, field: str, desc: Optional[Descriptor], shape: tuple, name: str) -> None:
        if not _has_data(desc):
            return
        values = desc.tensor(field)
        expected = math.prod(shape)
        require(values.size == expected,
                lambda: f"{field} has {values.size} values ({desc.describe()}) but {name} with i_desc "
                f"shape {self._geo.item_shape} needs {expected} (shape {shape})")
        self._arrays[field] = np.array(values.reshape(shape), dtype=np.float32)

    def _check_batch(self, a, name: str) -> np.ndarray:
        a = np.asarray(a)
        shape = self._geo.item_shape
        require(a.ndim == len(shape) + 1 and a.shape[1:] == shape and a.shape[0] >= 1,
                lambda: f"{name} has shape {a.shape}; expected (N, *{shape}) with N >= 1 for "
                f"{self.params.i_desc.describe()}")
        return a if a.dtype == np.float64 else a.astype(np.float32, copy=False)

    def _update_moving_stats(self, saved: Saved) -> None:
        # moving = momentum * moving + (1 - momentum) * batch, variance unbiased (see Notes).
        count = saved.geometry.count(saved.batch_size)
        batch_mean = saved.mean.mean(axis=0)
        batch_var = saved.variance.mean(axis=0) * (count / (count - 1))
        m = np.float32(self.params.momentum)
        for field, value in (("moving_mean", batch_mean), ("moving_variance", batch_var)):
            stat = self._arrays[field]
            stat *= m
            stat += (1 - m) * value.astype(np.float32)


# ---------------------------------------------------------------------------------------- private
def block_bytes() -> int:
    """Bytes of one block of statistics rows: 1.5x the kernels' default. Measured on the layer
    norm bench (64x128x768, 2 cores), blocks of 1 / 1.5 / 2 MiB gave forward 4.26 / 3.72 / 4.23 ms
    and backward 5.72 / 4.80 / 5.38 ms; batch norm was the same at 1 and 1.5 MiB. The split over
    the cores is not the whole story: 1.5 MiB cuts those 8192 rows into 16 blocks (8 per core),
    1 MiB into 25 (13 / 12), 2 MiB into 13 (7 / 6); but even counts of other sizes (342 / 410 /
    512 / 683 rows, 24 / 20 / 16 / 12 blocks) took 5.19 / 5.12 / 4.39 / 4.45 ms backward and
    4.13 / 3.89 / 3.53 / 3.42 ms forward in one interleaved run, and on 64x197x768 (12608 rows)
    26 blocks of 485 rows, 13 per core, were 8-9% slower than 25 of 512 split 13 / 12. Follows
    parallel.BLOCK_BYTES, so tests that shrink it to one row still cut one-row blocks."""
    return parallel.BLOCK_BYTES * 3 // 2


def _row_sums(per_row: np.ndarray, geo: Geometry) -> np.ndarray:
    """(N, rows) per-sample row sums -> the statistics' sums: (N, rows), or (1, rows) for
    BatchNorm, whose statistics span the batch."""
    return per_row if geo.stats_per_sample else per_row.sum(axis=0, keepdims=True)


def _to_rows(per_channel: np.ndarray, geo: Geometry) -> np.ndarray:
    """(N, C) per-channel values -> (N, rows) summed per statistics row (GroupNorm: per group)."""
    if geo.kind != GROUP_NORM:
        return per_channel
    return per_channel.reshape(per_channel.shape[0], geo.rows, -1).sum(axis=2)


def _per_channel(per_row: np.ndarray, geo: Geometry) -> np.ndarray:
    """(N or 1, rows) -> (N or 1, C): GroupNorm repeats each group's value over its channels."""
    if geo.kind != GROUP_NORM:
        return per_row
    return np.repeat(per_row, geo.affine_shape[0] // geo.rows, axis=1)


def _tiled(values: np.ndarray, times: int) -> np.ndarray:
    """np.tile(values, times) of a 1-D array, np.tile(values, (times, 1)) of a 2-D one: the same
    array, by one broadcast assignment (np.tile's Python costs more than the copy on these sizes)."""
    out = np.empty((times,) + values.shape, values.dtype)
    out[...] = values
    return out.reshape((times * values.shape[0],) + values.shape[1:])


def _affine_operands(geo: Geometry, n: int, gamma, beta, dtype):
    """gamma and beta shaped for _affine_block: per statistics row (N*rows, a, 1), a channels per
    row, for the channelwise kinds; for LayerNorm repeated over a block's rows (B, 1, Q), since
    NumPy multiplies two whole arrays about twice as fast as it broadcasts a row; None when absent."""
    block = min(n * geo.rows, parallel.block_rows(geo.row_length * np.dtype(dtype).itemsize, block_bytes()))

    def shaped(values):
        if values is None:
            return None
        values = np.asarray(values, dtype)
        if not geo.channelwise:
            return _tiled(values.reshape(1, -1), block)[:, None, :]
        return _tiled(values.reshape(geo.rows, -1), n)[:, :, None]
    return shaped(gamma), shaped(beta)


def _affine_block(geo: Geometry, x_hat: np.ndarray, out: np.ndarray, scale, shift, lo: int, hi: int) -> None:
    """out = gamma * x_hat + beta for statistics rows lo..hi (x_hat and out are those rows)."""
    a = geo.affine_shape[0] // geo.rows if geo.channelwise else 1
    x3, out3 = x_hat.reshape(hi - lo, a, -1), out.reshape(hi - lo, a, -1)
    rows = slice(lo, hi) if geo.channelwise else slice(0, hi - lo)
    if scale is None:
        np.copyto(out3, x3)
    else:
        np.multiply(x3, scale[rows], out=out3)
    if shift is not None:
        out3 += shift[rows]


def _batch_statistics(flat: np.ndarray, n: int, geo: Geometry):
    """BatchNorm's (mean, biased variance), each (1, C), of flat = x as (N*C, S) rows in one pass:
    per row its mean m_r and centred sum of squares M2_r, then per channel (Chan et al.)
    mean = sum_r(S m_r) / count and M2 = sum_r M2_r + S sum_r (m_r - mean)^2."""
    dtype = flat.dtype
    length = flat.shape[1]
    row_mean, row_m2 = np.empty(flat.shape[0], dtype), np.empty(flat.shape[0], dtype)
    ones = np.ones(length, dtype)

    def block(lo: int, hi: int) -> None:
        m = np.vecdot(flat[lo:hi], ones) / dtype.type(length)
        centred = np.subtract(flat[lo:hi], m[:, None], out=parallel.scratch((hi - lo, length), dtype))
        row_mean[lo:hi], row_m2[lo:hi] = m, np.vecdot(centred, centred)

    parallel.map_blocks(flat.shape[0], flat.strides[0], block, block_bytes=block_bytes())
    c = geo.rows
    row_mean, row_m2 = row_mean.reshape(n, c), row_m2.reshape(n, c)
    count = dtype.type(geo.count(n))
    mean = row_mean.sum(axis=0, keepdims=True) / dtype.type(n)
    spread = row_mean - mean
    m2 = row_m2.sum(axis=0, keepdims=True) + dtype.type(length) * np.vecdot(spread.T, spread.T)[None, :]
    return mean, m2 / count


def _outer(column: np.ndarray, row: np.ndarray, out: np.ndarray, *, add: bool) -> None:
    """out = column[:, None] * row (add: out += that), by BLAS as a rank-1 GEMM where it can. On
    a (341, 768) float32 block in cache, NumPy's broadcast of a column over the rows takes about
    50 us, the GEMM 25-33 us (a copy: 16 us). Each element is one product (and one sum): the
    same numbers either way (tests/kernels/test_normalization.py checks the bits)."""
    column = np.ascontiguousarray(column, out.dtype).reshape(-1, 1)
    row = np.ascontiguousarray(row, out.dtype).reshape(1, -1)
    if blas.dtype_supported(out.dtype) and out.flags.c_contiguous:
        blas.gemm(column, row, out, beta=1.0 if add else 0.0)
    elif add:
        out += column * row
    else:
        np.multiply(column, row, out=out)


def _sum_in_order(parts) -> np.ndarray:
    total: Optional[np.ndarray] = None
    for part in parts:
        total = part.copy() if total is None else np.add(total, part, out=total)
    return given(total, "no parts to sum", error=InternalError)


def _affine(x_hat: np.ndarray, geo: Geometry, gamma, beta) -> np.ndarray:
    """gamma * x_hat + beta on the affine view; always a new array (x_hat stays in the cache)."""
    dtype = x_hat.dtype
    shape = (1, -1, 1) if geo.channelwise else (1, 1, -1)
    if gamma is not None:
        out = x_hat * np.asarray(gamma, dtype).reshape(shape)
    else:
        out = x_hat.copy()
    if beta is not None:
        out += np.asarray(beta, dtype).reshape(shape)
    return out


def _has_data(desc: Optional[Descriptor]) -> TypeGuard[Descriptor]:
    return desc is not None and desc.data is not None


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
