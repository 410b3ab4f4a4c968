"""BNNS pooling (BNNSLayerParametersPooling, BNNSPoolingFilterApply*Batch, bnns.md 2.1, 3.2, 4).

One filter, five pooling functions (BNNSPoolingFunction raw values)::

    MAX                            y = max over the window (+ optional indices)
    AVERAGE_COUNT_INCLUDE_PADDING  y = sum over the window / (k_h * k_w)   (padding as zeros)
    AVERAGE_COUNT_EXCLUDE_PADDING  y = sum over the window / n_valid       (non-padded taps)
    UN_MAX                         y = zeros; y.flat[indices] = x          (partial inverse of MAX)
    L2_NORM                        y = sqrt(sum over the window of x**2)

followed by ``out = activation(pooled + bias[c])``. Each function is a pure forward/backward pair
below (``max_pool`` / ``max_pool_backward``, ...); :class:`PoolingFilter` validates the layer
parameters once and adds the bias and the activation.

Shapes are NumPy order with the batch first: ``x`` of shape (N, C, H, W) is a batch of BNNS
ImageCHW tensors of size (W, H, C). Window geometry along each axis, with ``p0``/``p1`` the padding
before/after, ``s`` the stride and ``d`` the dilation::

    k_eff = (k - 1) * d + 1
    out   = floor((in + p0 + p1 - k_eff) / s) + 1
    window o covers input positions  o * s - p0 + t * d,  t = 0 .. k - 1

Notes
-----
Conventions chosen where BNNS is silent or loose (bnns.md marks them UNCONFIRMED); PyTorch's unless
said otherwise:

* **Output size** is the floor rule above, exactly (PyTorch's). BNNS also accepts any ``out`` with
  ``in + pads >= stride * (out - 1) + 1``, letting windows run past the padded edge; this
  implementation rejects such an ``o_desc`` and names the size it expects instead. Every window
  must overlap the input in at least one tap (a window of padding only has no max and no valid
  count), which bounds the padding: pads are otherwise free, asymmetric pads included.
* **Stride 0 is read as 1; a dilation <= 1 means no dilation.** ``pad`` = (left, right, up, down)
  applies only when ``x_padding == y_padding == 0`` (bnns.md 6.4); left/up are before position 0.
* **Padding** is virtual zeros for the averages and L2 (so L2 is the norm over the valid taps).
  Max ignores padding: padded positions never win (PyTorch's -inf padding), so the result and its
  index always come from the input.
* **Index meaning**: the flat offset of the winning element in its sample's packed CHW input,
  ``c * H * W + h * W + w`` (int64 here; the transport narrows it to BNNS's size_t/UInt32/UInt64).
  Ties go to the first tap in row-major window order (PyTorch). A window holding a NaN yields NaN
  and the index of its first NaN (PyTorch points at the last one).
* **UnMax** is PyTorch's ``max_unpool2d``: the filter's ``i_desc`` is the small (pooled) tensor,
  ``o_desc`` the large one, and pooling ``o_desc`` with the filter's window must give ``i_desc``
  (floor rule above). ``indices`` has the input's shape and holds flat CHW offsets into the output
  sample, each inside its own channel plane; where two entries name the same position, one of
  them is written. Backward gathers: ``d_x = d_y.flat[indices]``, so each entry gets the gradient
  of the position it names.
* **Max backward** routes each output gradient to the input its index names (indices given: they
  must name an element inside the output's own window; indices absent: the argmax is recomputed
  from x). Overlapping windows add up.
* **L2 backward** is ``dL/dx = x * sum over windows of (dL/dy / y)``, with 0 for windows whose norm
  is 0 (every tap 0; PyTorch's lp_pool gives NaN there).
* **Bias and activation**: ``out = act(pooled + bias[c])``; backward takes the activation's
  derivative from ``out`` when the activation allows it (BNNS's rule for fused activations), else
  from the pre-activation recomputed from x. ``d_bias`` is summed over batch and space.
* ``indices`` given to a forward other than UnMax, and ``want_indices`` for a function other than
  Max, are ignored, as BNNS ignores the indices buffer there.

Implementation: planes (one channel of one sample) are processed in cache-sized chunks, which may
span samples, on one thread per CPU for large batches (NumPy releases the GIL in its loops;
results do not depend on the split). Each chunk is copied once into a padded buffer whose
columns are split by stride phase, so that every window tap is a slice with a contiguous last
axis: one NumPy call per tap covers every window at vectorized speed. Max keeps a running maximum
and a running small-integer tap id, turned into a flat index once per chunk; gradients reach the
winners through ``np.add.at`` on the chunk's zeroed planes. Given indices are checked by table
lookups of their offset from the window's first tap (_MaxIndexCheck); since ``np.add.at`` holds
the GIL, the backward from given indices scatters on one thread while the other checks. Kernels with more taps
than output positions (global pooling) loop over windows instead of taps. Small inputs whose
windows tile them (kernel = stride, no padding or dilation: the usual 2x2 max pool) are gathered
tap-major in one copy instead, so each tap is one contiguous array (short rows cost NumPy a loop
per row), and small samples scatter their gradients together, one ``np.add.at`` per chunk.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from typing import Callable, Optional

import numpy as np

from . import activation as activation_mod
from .activation import Activation
from . import parallel
from .errors import InternalError, InvalidArgumentError, require
from .layout import LAYOUT_IMAGE_CHW, Descriptor, numpy_dtype
from .params import PoolingParameters

MAX, AVERAGE_COUNT_INCLUDE_PADDING, AVERAGE_COUNT_EXCLUDE_PADDING, UN_MAX, L2_NORM = 0, 1, 2, 3, 4

FUNCTION_NAMES = {
    MAX: "Max",
    AVERAGE_COUNT_INCLUDE_PADDING: "AverageCountIncludePadding",
    AVERAGE_COUNT_EXCLUDE_PADDING: "AverageCountExcludePadding",
    UN_MAX: "UnMax",
    L2_NORM: "L2Norm",
}

_LIMIT = 2**31   # same bound as descriptor sizes
_SIZE_RULE = "out = floor((in + pad_before + pad_after - k_eff) / stride) + 1"


# ================================================================================ geometry
@dataclasses.dataclass(frozen=True)
class PoolingGeometry:
    """Window geometry of a 2-D pooling, every pair in NumPy order (H, W).

    ``pad_before`` = (up, left), ``pad_after`` = (down, right). Build it with :meth:`create`,
    which checks that every window overlaps the input.
    """

    in_hw: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad_before: tuple
    pad_after: tuple

    @staticmethod
    def create(in_hw, kernel, stride=(1, 1), dilation=(1, 1), pad_before=(0, 0),
               pad_after=(0, 0)) -> "PoolingGeometry":
        g = PoolingGeometry(*(tuple(int(v) for v in pair) for pair in
                              (in_hw, kernel, stride, dilation, pad_before, pad_after)))
        for name, pair, low in (("in_hw", g.in_hw, 1), ("kernel", g.kernel, 1),
                                ("stride", g.stride, 1), ("dilation", g.dilation, 1),
                                ("pad_before", g.pad_before, 0), ("pad_after", g.pad_after, 0)):
            require(all(low <= v < _LIMIT for v in pair),
                    lambda: f"{name} {pair} must be between {low} and 2**31 - 1")
        for axis, name in ((0, "height"), (1, "width")):
            padded = g.in_hw[axis] + g.pad_before[axis] + g.pad_after[axis]
            require(g.k_eff[axis] <= padded,
                    lambda: f"the effective kernel {name} {g.k_eff[axis]} (k {g.kernel[axis]}, dilation "
                    f"{g.dilation[axis]}) exceeds the padded input {name} {padded} "
                    f"({g.describe()})")
            counts = g.valid_counts(axis)
            empty = np.flatnonzero(counts == 0)
            require(empty.size == 0,
                    lambda: f"output {name} position {empty[0] if empty.size else 0} has a window of "
                    f"padding only ({g.describe()}); every window must overlap the input")
        return g

    # ------------------------------------------------------------------ derived sizes
    # (cached: pure functions of the frozen fields, asked for many times per call)
    @functools.cached_property
    def k_eff(self) -> tuple:
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation))

    @functools.cached_property
    def padded_hw(self) -> tuple:
        return tuple(i + a + b for i, a, b in zip(self.in_hw, self.pad_before, self.pad_after))

    @functools.cached_property
    def out_hw(self) -> tuple:
        # out = floor((in + p0 + p1 - k_eff) / s) + 1
        return tuple((p - k) // s + 1 for p, k, s in zip(self.padded_hw, self.k_eff, self.stride))

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    def describe(self) -> str:
        (h, w), (kh, kw) = self.in_hw, self.kernel
        (sh, sw), (dh, dw), (up, left), (down, right) = (self.stride, self.dilation,
                                                          self.pad_before, self.pad_after)
        return (f"input {w}x{h} (w x h), k {kw}x{kh}, stride ({sw}, {sh}), dilation ({dw}, {dh}), "
                f"pad (left {left}, right {right}, up {up}, down {down})")

    # ------------------------------------------------------------------ window tables
    def valid_counts(self, axis: int) -> np.ndarray:
        """Non-padded taps of each window along ``axis`` (0 = H, 1 = W), int64 of shape (out,)."""
        n, k, s, d, p0 = (self.in_hw[axis], self.kernel[axis], self.stride[axis],
                          self.dilation[axis], self.pad_before[axis])
        start = np.arange(self.out_hw[axis], dtype=np.int64) * s - p0   # input position of tap 0
        # taps t with 0 <= start + t*d <= n - 1
        first = np.maximum(0, -(start // d))            # ceil(-start / d)
        last = np.minimum(k - 1, (n - 1 - start) // d)
        return np.maximum(0, last - first + 1)

    def window_origins(self) -> tuple:
        """Input row of each output row's tap 0, (Ho,), and input column of each column's, (Wo,)."""
        rows = np.arange(self.out_hw[0], dtype=np.int64) * self.stride[0] - self.pad_before[0]
        cols = np.arange(self.out_hw[1], dtype=np.int64) * self.stride[1] - self.pad_before[1]
        return rows, cols


# ============================================================================ forward / backward
def max_pool(x: np.ndarray, g: PoolingGeometry, *, with_indices: bool = True):
    """Max pooling: y[n, c, i, j] = max over the window of x (padding never wins).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W) — BNNS ImageCHW, size = (W, H, C)
    g : PoolingGeometry with ``g.in_hw == (H, W)``

    Returns
    -------
    y : ndarray of shape (N, C, Ho, Wo), x's dtype
    indices : int64 ndarray of shape (N, C, Ho, Wo), or None without ``with_indices``.
        Flat offset of the winner in its sample's CHW input, ``c*H*W + h*W + w``; ties go to the
        first tap in row-major window order.
    """
    n, c = x.shape[:2]
    if _tiled_path(x, g):
        return _max_pool_tiled(x, g, with_indices)
    y = np.empty((n, c) + g.out_hw, x.dtype)
    indices = np.empty(y.shape, np.int64) if with_indices else None
    planes, ys = _planes(x), _planes(y)
    idx = _planes(indices) if indices is not None else None

    chunk = min(_chunk_planes(g, x.dtype), n * c)
    # index = c*H*W + flat offset of the window's tap 0 + offset of the winning tap; planes a..b
    # (possibly across samples: channel = plane % C) read rows a % C.. of this table.
    window_base = _channel_offsets(0, chunk + c, c, g) + _origin_offsets(g)     # (chunk + C, Ho, Wo)

    def work(lo, hi):
        scratch = _Scratch(g, x.dtype, -np.inf, chunk)
        for a, b in _chunks(lo, hi, scratch.planes):
            scratch.load(planes[a:b])
            if idx is None:                   # (not with_indices)
                scratch.max_into(ys[a:b])
                continue
            taps = scratch.max_into(ys[a:b], scratch.taps[: b - a])
            _tap_offsets_from(taps, window_base[a % c: a % c + (b - a)], g, idx[a:b],
                              scratch.step[: b - a])

    _for_plane_ranges(n * c, g, x.dtype, work)
    return y, indices


def max_pool_backward(d_y: np.ndarray, g: PoolingGeometry, *, indices: Optional[np.ndarray] = None,
                      x: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of max pooling: d_x[n, c, winner(i, j)] += d_y[n, c, i, j].

    Parameters
    ----------
    d_y : ndarray of shape (N, C, Ho, Wo)
    g : PoolingGeometry
    indices : int64 ndarray of shape (N, C, Ho, Wo) from :func:`max_pool`, or None to recompute
        the winners from ``x``. Each index must name an input inside its output's window
        (InvalidArgumentError otherwise).
    x : ndarray of shape (N, C, H, W), needed when ``indices`` is None.

    Returns
    -------
    d_x : ndarray of shape (N, C, H, W), d_y's dtype
    """
    n, c = d_y.shape[:2]
    require(indices is not None or x is not None,
            "Max pooling backward needs either the forward indices or the forward input x")
    d_x = np.empty((n, c) + g.in_hw, d_y.dtype)
    grads, d_xs = _planes(d_y), _planes(d_x)
    if indices is not None:
        _max_backward_from_indices(grads, _planes(indices), d_x, g, c)
        return d_x
    if x is None:
        raise InternalError("max pooling backward has neither the indices nor x")
    xs = _planes(x)
    plane = g.in_hw[0] * g.in_hw[1]

    def work(lo, hi):
        chunk = min(_chunk_planes(g, d_y.dtype), n * c)
        recompute = _Scratch(g, xs.dtype, -np.inf, chunk)
        # winner offsets relative to the chunk's first plane: (plane in chunk)*H*W + in-plane offset
        window_base = np.arange(chunk, dtype=np.int64)[:, None, None] * plane + _origin_offsets(g)
        winners = np.empty((chunk,) + g.out_hw, np.int64)
        for a, b in _chunks(lo, hi, chunk):
            recompute.load(xs[a:b])
            taps = recompute.max_into(recompute.out[: b - a], recompute.taps[: b - a])
            local = _tap_offsets_from(taps, window_base[: b - a], g, winners[: b - a], recompute.step[: b - a])
            # d_x[winner] += d_y, with repeats adding up (several windows can share a winner):
            # np.add.at on the chunk's zeroed planes (in cache), about 2x np.bincount.
            target = d_xs[a:b].reshape(-1)
            _zero(target)
            np.add.at(target, local.reshape(-1), grads[a:b].reshape(-1))

    _for_plane_ranges(n * c, g, d_y.dtype, work)
    return d_x


def _max_backward_from_indices(grads, idx, d_x, g: PoolingGeometry, channels: int) -> None:
    """d_x (N, C, H, W) = the scatter of grads to the given winners (grads and idx as (N*C, Ho, Wo)
    planes), after checking every index lies in its own output's window.

    The scatter (np.add.at) holds the GIL, so a second thread scattering only waits for it: this
    thread scatters, chunk by chunk while the chunk's planes are in cache, and the indices are
    checked meanwhile on the second core in large slabs (few GIL hand-overs). A bad index is
    reported once the check ends, and d_x is dropped with the error. The indices are flat offsets
    in their sample's CHW input: a chunk within one sample indexes that sample's d_x as they are; a
    chunk of several small samples (one np.add.at, not one per sample) indexes its span of d_x
    with each plane's indices moved by its sample's offset in the span (windows of different
    samples never share a winner, so every sum adds in the same order either way)."""
    planes = grads.shape[0]
    d_xs = _planes(d_x)
    d_flat = d_x.reshape(-1)
    sample = channels * g.in_hw[0] * g.in_hw[1]
    chunk = min(_chunk_planes(g, grads.dtype), planes)
    slab = min(planes, max(chunk, _CHECK_SLAB_BYTES // (g.out_hw[0] * g.out_hw[1] * 8)))

    def check() -> None:
        checker = _index_check(g, channels, slab)
        checker.check_borders(idx, 0)
        scratch = np.empty((slab,) + g.out_hw, np.int64)
        for a, b in _chunks(0, planes, slab):
            checker.check(idx[a:b], a, scratch[: b - a])

    large = planes * g.in_hw[0] * g.in_hw[1] * grads.itemsize >= parallel.PARALLEL_BYTES
    pending = parallel.start(check) if large else None
    if pending is None:
        check()
    try:
        merge = chunk >= 2 * channels and channels * g.out_hw[0] * g.out_hw[1] <= _SMALL_SAMPLE
        for a, b in _chunks(0, planes, chunk - chunk % channels) if merge else \
                _chunks_in_samples(0, planes, chunk, channels):
            _zero(d_xs[a:b])
            first, last = a // channels, (b - 1) // channels
            if first == last:
                np.add.at(d_x[first].reshape(-1), idx[a:b].reshape(-1), grads[a:b].reshape(-1))
            else:                       # whole samples first..last
                moved = idx[a:b] + (np.arange(last - first + 1, dtype=np.int64) * sample).repeat(channels)[:, None, None]
                np.add.at(d_flat[first * sample:(last + 1) * sample], moved.reshape(-1), grads[a:b].reshape(-1))
    except IndexError:
        if pending is not None:
            pending.result()        # an index outside its sample fails the check, which names it
        raise
    if pending is not None:
        pending.result()


_CHECK_SLAB_BYTES = 4 << 20     # int64 indices checked per call on the second core
_SMALL_SAMPLE = 4096            # outputs of a sample below which its samples scatter together


def average_pool(x: np.ndarray, g: PoolingGeometry, *, count_include_padding: bool) -> np.ndarray:
    """Average pooling: y = (sum over the window of x) / count.

    ``count`` is k_h*k_w with ``count_include_padding`` (padding counts as zeros), else the number
    of non-padded taps of each window.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W) — BNNS ImageCHW, size = (W, H, C)

    Returns
    -------
    y : ndarray of shape (N, C, Ho, Wo), x's dtype
    """
    scale = _average_scale(g, count_include_padding, x.dtype)
    y = _window_sum(x, g, square=False)
    y *= scale
    return y


def average_pool_backward(d_y: np.ndarray, g: PoolingGeometry, *,
                          count_include_padding: bool) -> np.ndarray:
    """Gradient of average pooling: every tap of window (i, j) gets d_y[i, j] / count(i, j).

    Parameters
    ----------
    d_y : ndarray of shape (N, C, Ho, Wo)

    Returns
    -------
    d_x : ndarray of shape (N, C, H, W)
    """
    return _window_scatter(d_y * _average_scale(g, count_include_padding, d_y.dtype), g)


def l2_norm_pool(x: np.ndarray, g: PoolingGeometry) -> np.ndarray:
    """L2-norm pooling: y = sqrt(sum over the window of x**2) (padding contributes nothing).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)

    Returns
    -------
    y : ndarray of shape (N, C, Ho, Wo)
    """
    y = _window_sum(x, g, square=True)
    return np.sqrt(y, out=y)


def l2_norm_pool_backward(x: np.ndarray, y: np.ndarray, d_y: np.ndarray,
                          g: PoolingGeometry) -> np.ndarray:
    """Gradient of L2-norm pooling: d_x = x * sum over the windows holding x of d_y / y.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), the forward input
    y : ndarray of shape (N, C, Ho, Wo), the pooled norms (``l2_norm_pool(x, g)``, before any bias)
    d_y : ndarray of shape (N, C, Ho, Wo)

    Returns
    -------
    d_x : ndarray of shape (N, C, H, W). Windows with y == 0 contribute 0 (their taps are all 0).
    """
    ratio = np.zeros_like(d_y)
    np.divide(d_y, y, out=ratio, where=y > 0)
    d_x = _window_scatter(ratio, g)
    d_x *= x
    return d_x


def max_unpool(x: np.ndarray, indices: np.ndarray, out_hw: tuple) -> np.ndarray:
    """UnMax, the partial inverse of max pooling: y = zeros; y[n].flat[indices[n]] = x[n].

    Parameters
    ----------
    x : ndarray of shape (N, C, h, w), the pooled values
    indices : integer ndarray of shape (N, C, h, w): flat CHW offsets into an output sample,
        ``c*Ho*Wo + r*Wo + q``, each inside its own channel plane (InvalidArgumentError otherwise)
    out_hw : (Ho, Wo)

    Returns
    -------
    y : ndarray of shape (N, C, Ho, Wo), x's dtype
    """
    n, c = x.shape[:2]
    flat = _checked_unpool_indices(indices, out_hw)
    y = np.zeros((n, c * out_hw[0] * out_hw[1]), x.dtype)
    np.put_along_axis(y, flat, x.reshape(n, -1), axis=1)
    return y.reshape((n, c) + tuple(out_hw))


def max_unpool_backward(d_y: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Gradient of UnMax: d_x[n].flat[k] = d_y[n].flat[indices[n].flat[k]].

    Parameters
    ----------
    d_y : ndarray of shape (N, C, Ho, Wo)
    indices : integer ndarray of shape (N, C, h, w), as for :func:`max_unpool`

    Returns
    -------
    d_x : ndarray of shape (N, C, h, w)
    """
    n = d_y.shape[0]
    flat = _checked_unpool_indices(indices, d_y.shape[2:])
    return np.take_along_axis(d_y.reshape(n, -1), flat, axis=1).reshape(indices.shape)


# ================================================================================ the filter
class PoolingFilter:
    """A BNNS pooling filter: validated parameters plus apply / apply_backward on batches."""

    def __init__(self, params: PoolingParameters):
        require(isinstance(params, PoolingParameters),
                lambda: f"params must be PoolingParameters, not {type(params).__name__}")
        function = _as_int(params.pooling_function, "pooling_function")
        require(function in FUNCTION_NAMES,
                lambda: f"pooling_function {function} is not a BNNSPoolingFunction (known: "
                + ", ".join(f"{k} {v}" for k, v in FUNCTION_NAMES.items()) + ")")
        self.function = function
        self.function_name = FUNCTION_NAMES[function]
        i_shape = _image_shape(params.i_desc, "i_desc")
        o_shape = _image_shape(params.o_desc, "o_desc")
        require(i_shape[0] == o_shape[0],
                lambda: f"i_desc.size {tuple(params.i_desc.size[:3])} has {i_shape[0]} channels but "
                f"o_desc.size {tuple(params.o_desc.size[:3])} has {o_shape[0]}; pooling keeps the "
                f"channel count")

        kernel = (_as_int(params.k_height, "k_height"), _as_int(params.k_width, "k_width"))
        require(kernel[0] >= 1 and kernel[1] >= 1,
                lambda: f"k_width {kernel[1]} and k_height {kernel[0]} must both be at least 1")
        stride = tuple(max(1, _as_int(v, name, minimum=0))      # BNNS reads 0 as 1
                       for v, name in ((params.y_stride, "y_stride"),
                                       (params.x_stride, "x_stride")))
        dilation = tuple(max(1, _as_int(v, name, minimum=0))    # <= 1 means no dilation
                         for v, name in ((params.y_dilation_stride, "y_dilation_stride"),
                                         (params.x_dilation_stride, "x_dilation_stride")))
        pad_before, pad_after = _paddings(params)

        # UnMax inverts a max pooling from the large o_desc to the small i_desc.
        pooled_from, pooled_to = (o_shape, i_shape) if function == UN_MAX else (i_shape, o_shape)
        self.geometry = PoolingGeometry.create(pooled_from[1:], kernel, stride, dilation,
                                               pad_before, pad_after)
        expected = (pooled_to[0],) + self.geometry.out_hw
        if expected != tuple(pooled_to):
            size = _bnns_size
            if function == UN_MAX:
                raise InvalidArgumentError(
                    f"i_desc.size {size(i_shape)} does not match {size(expected)}, the max pooling "
                    f"of o_desc.size {size(o_shape)} that UnMax inverts "
                    f"({self.geometry.describe()}; {_SIZE_RULE})")
            raise InvalidArgumentError(
                f"o_desc.size {size(o_shape)} does not match the pooling output {size(expected)} "
                f"for i_desc.size {size(i_shape)}, {self.function_name} "
                f"({self.geometry.describe()}; {_SIZE_RULE})")

        require(isinstance(params.activation, Activation),
                lambda: f"activation must be an Activation, not {type(params.activation).__name__}")
        activation_mod.validate(params.activation, "activation")
        self._bias = None
        if params.bias is not None:
            require(isinstance(params.bias, Descriptor),
                    lambda: f"bias must be a Descriptor or None, not {type(params.bias).__name__}")
            bias = params.bias.tensor("bias").reshape(-1)
            require(bias.size == i_shape[0],
                    lambda: f"bias has {bias.size} values ({params.bias.describe()}) but the layer has "
                    f"{i_shape[0]} channels")
            self._bias = bias.copy()
        self.params = params
        self.input_desc = params.i_desc
        self.output_desc = params.o_desc
        self._in_shape, self._out_shape = tuple(i_shape), tuple(o_shape)

    # ------------------------------------------------------------------ public API
    def parameters(self) -> dict:
        """Trainable parameters: {"bias": (C,)} when the layer has a bias."""
        return {} if self._bias is None else {"bias": self._bias.copy()}

    def apply(self, x: np.ndarray, *, indices: Optional[np.ndarray] = None,
              want_indices: bool = False):
        """Forward: ``y = act(pool(x) + bias[c])``.

        Parameters
        ----------
        x : ndarray of shape (N, C, H, W) — i_desc's ImageCHW
        indices : UnMax only (required there): integer ndarray shaped like x, flat CHW offsets
            into an output sample.
        want_indices : Max only: also return the int64 indices of the winners.

        Returns
        -------
        y : ndarray of shape (N, C, Ho, Wo) — o_desc's ImageCHW
        indices : int64 ndarray of shape (N, C, Ho, Wo) for Max with ``want_indices``, else None
        """
        x = self._check_batch(x, self._in_shape, "x (in)")
        n = x.shape[0]
        if self.function == UN_MAX:
            indices = self._check_indices(indices, (n,) + self._in_shape, "UnMax")
        pooled, out_indices = self._pool(x, indices, want_indices)
        return self._finish(pooled), out_indices

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray,
                       *, indices: Optional[np.ndarray] = None, input_grad: bool = True,
                       bias_grad: bool = False):
        """Backward: gradients of the loss with respect to the input and the bias.

        Parameters
        ----------
        x : ndarray of shape (N, C, H, W), the forward input. Needed for Max without indices,
            L2Norm, UnMax with an activation that cannot be differentiated from y, and any
            activation when y is None; otherwise it may be None.
        y : ndarray of shape (N, C, Ho, Wo), the forward output (the activation's derivative is
            taken from it), or None to recompute it from x.
        d_out : ndarray of shape (N, C, Ho, Wo), dL/dy
        indices : Max: optional forward indices (faster than recomputing the winners; they are
            checked). UnMax: required, as in :meth:`apply`.
        input_grad, bias_grad : which gradients to compute.

        Returns
        -------
        d_in : ndarray of shape (N, C, H, W), or None without ``input_grad``
        d_bias : ndarray of shape (C,), summed over batch and space, or None without ``bias_grad``
        """
        d_out = self._check_batch(d_out, self._out_shape, "d_out (out_delta)")
        n = d_out.shape[0]
        if x is not None:
            x = self._check_batch(x, self._in_shape, "x (in)", batch=n)
        if y is not None:
            y = self._check_batch(y, self._out_shape, "y (out)", batch=n)
        require(not bias_grad or self._bias is not None,
                "bias_grad was requested but the pooling layer has no bias")
        if self.function == UN_MAX:
            indices = self._check_indices(indices, (n,) + self._in_shape, "UnMax backward")
        elif self.function == MAX and indices is not None:
            indices = self._check_indices(indices, (n,) + self._out_shape, "Max backward")
        else:
            indices = None

        # g = dL/d(pooled + bias), through the activation
        pooled = None
        act = self.params.activation
        if activation_mod.is_identity(act):
            g = d_out
        elif y is not None and activation_mod.can_backward_from_output(act):
            g = activation_mod.backward(d_out, act, y=y.astype(d_out.dtype, copy=False))
        else:
            pooled = self._recompute_pooled(x, indices, "the activation's derivative")
            g = activation_mod.backward(d_out, act, x=self._add_bias(pooled.copy()))

        d_bias = g.sum(axis=(0, 2, 3)) if bias_grad else None
        d_in = self._pool_backward(x, g, indices, pooled) if input_grad else None
        return d_in, d_bias

    # ------------------------------------------------------------------ helpers
    def _pool(self, x, indices, want_indices):
        g, f = self.geometry, self.function
        if f == MAX:
            return max_pool(x, g, with_indices=want_indices)
        if f == UN_MAX:
            return max_unpool(x, indices, self._out_shape[1:]), None
        if f == L2_NORM:
            return l2_norm_pool(x, g), None
        return average_pool(x, g, count_include_padding=f == AVERAGE_COUNT_INCLUDE_PADDING), None

    def _pool_backward(self, x, g_out, indices, pooled):
        geo, f = self.geometry, self.function
        if f == MAX:
            if indices is None:
                require(x is not None, "Max pooling backward without indices needs x (in)")
            return max_pool_backward(g_out, geo, indices=indices, x=x)
        if f == UN_MAX:
            return max_unpool_backward(g_out, indices)
        if f == L2_NORM:
            if pooled is None:
                pooled = self._recompute_pooled(x, indices, "L2Norm backward")
            return l2_norm_pool_backward(x.astype(g_out.dtype, copy=False), pooled, g_out, geo)
        return average_pool_backward(g_out, geo,
                                     count_include_padding=f == AVERAGE_COUNT_INCLUDE_PADDING)

    def _recompute_pooled(self, x, indices, why):
        require(x is not None, lambda: f"{self.function_name} pooling backward needs x (in) for {why}")
        return self._pool(x, indices, want_indices=False)[0]

    def _add_bias(self, pooled):
        if self._bias is not None:
            pooled += self._bias.astype(pooled.dtype)[None, :, None, None]
        return pooled

    def _finish(self, pooled):
        pooled = self._add_bias(pooled)
        act = self.params.activation
        return pooled if activation_mod.is_identity(act) else activation_mod.forward(pooled, act)

    def _check_batch(self, array, shape, name, batch=None):
        require(isinstance(array, np.ndarray),
                lambda: f"{name} must be a NumPy array, not {type(array).__name__}")
        require(array.dtype.kind == "f",
                lambda: f"{name} has dtype {array.dtype}; a float type is required")
        require(array.ndim == 4 and array.shape[1:] == shape and array.shape[0] >= 1,
                lambda: f"{name} has shape {array.shape}; the filter expects "
                f"(N, {', '.join(map(str, shape))}) with N >= 1")
        require(batch is None or array.shape[0] == batch,
                lambda: f"{name} has batch size {array.shape[0]} but d_out has {batch}")
        return array

    def _check_indices(self, indices, shape, what):
        require(indices is not None, lambda: f"{what} requires indices (shape {shape}), none were given")
        require(isinstance(indices, np.ndarray) and indices.dtype.kind in "iu",
                lambda: f"{what}: indices must be an integer NumPy array, got "
                f"{getattr(indices, 'dtype', type(indices).__name__)}")
        require(indices.shape == shape,
                lambda: f"{what}: indices have shape {indices.shape}, expected {shape}")
        if indices.dtype.kind == "u" and indices.size and int(indices.max()) >= 2**63:
            raise InvalidArgumentError(f"{what}: index {int(indices.max())} is out of range")
        return indices.astype(np.int64, copy=False)


# ================================================================================ private helpers
def _as_int(value, name, minimum=None) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}") from None
    require(minimum is None or v >= minimum, lambda: f"{name} {v} must be at least {minimum}")
    require(v < _LIMIT, lambda: f"{name} {v} must be below 2**31")
    return v


def _bnns_size(shape) -> tuple:
    """NumPy (C, H, W) -> BNNS ImageCHW size (W, H, C), the order error messages use."""
    return tuple(reversed(tuple(shape)))


def _image_shape(desc, name) -> tuple:
    require(isinstance(desc, Descriptor), lambda: f"{name} must be a Descriptor, not {type(desc).__name__}")
    require(desc.layout == LAYOUT_IMAGE_CHW,
            lambda: f"{name}.layout {desc.layout:#x} is not ImageCHW ({LAYOUT_IMAGE_CHW:#x}); pooling "
            f"takes images")
    desc.validate(name)
    numpy_dtype(desc.data_type, what=f"{name}.data_type")
    return desc.shape


def _paddings(params) -> tuple:
    """(pad_before, pad_after) as (up, left), (down, right) from x/y_padding or pad[4]."""
    px = _as_int(params.x_padding, "x_padding", minimum=0)
    py = _as_int(params.y_padding, "y_padding", minimum=0)
    if px or py:   # symmetric padding wins; pad[4] is ignored (bnns.md 6.4)
        return (py, px), (py, px)
    pad = tuple(params.pad)
    require(len(pad) == 4, lambda: f"pad {pad} must have 4 entries (left, right, up, down)")
    left, right, up, down = (_as_int(v, f"pad[{i}]", minimum=0) for i, v in enumerate(pad))
    return (up, left), (down, right)


def _planes(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N*C, H, W), a view when possible."""
    return a.reshape((-1,) + a.shape[2:])


def _channel_offsets(a: int, b: int, channels: int, g: PoolingGeometry) -> np.ndarray:
    """c*H*W of planes a..b-1 (plane p is channel p % C), shape (b-a, 1, 1)."""
    return ((np.arange(a, b, dtype=np.int64) % channels) * (g.in_hw[0] * g.in_hw[1]))[:, None, None]


def _origin_offsets(g: PoolingGeometry) -> np.ndarray:
    """Flat in-plane offset of each window's tap 0 (may be negative under padding), (Ho, Wo)."""
    rows, cols = g.window_origins()
    return rows[:, None] * g.in_hw[1] + cols[None, :]


def _average_scale(g: PoolingGeometry, count_include_padding: bool, dtype) -> np.ndarray:
    if count_include_padding:
        return np.asarray(1.0 / g.taps, dtype)
    counts = g.valid_counts(0)[:, None] * g.valid_counts(1)[None, :]
    return (1.0 / counts).astype(dtype)


def _window_sum(x, g, *, square):
    """sum over each window of x (or x**2), padding as zeros: (N, C, H, W) -> (N, C, Ho, Wo)."""
    n, c = x.shape[:2]
    y = np.empty((n, c) + g.out_hw, x.dtype)
    planes, ys = _planes(x), _planes(y)

    def work(lo, hi):
        scratch = _Scratch(g, x.dtype, 0, _chunk_planes(g, x.dtype))
        for a, b in _chunks(lo, hi, scratch.planes):
            scratch.load(planes[a:b], square=square)
            scratch.sum_into(ys[a:b])

    _for_plane_ranges(n * c, g, x.dtype, work)
    return y


def _window_scatter(d_y, g):
    """Adjoint of the window sum: d_x[h, w] = sum of d_y over the windows holding (h, w)."""
    n, c = d_y.shape[:2]
    d_x = np.empty((n, c) + g.in_hw, d_y.dtype)
    grads, d_xs = _planes(d_y), _planes(d_x)

    def work(lo, hi):
        scratch = _Scratch(g, d_y.dtype, 0, _chunk_planes(g, d_y.dtype))
        for a, b in _chunks(lo, hi, scratch.planes):
            scratch.zero(b - a)
            scratch.scatter_add(grads[a:b])
            scratch.store(d_xs[a:b])

    _for_plane_ranges(n * c, g, d_y.dtype, work)
    return d_x


def _max_over_taps(tap_views, out, taps, mask, step):
    """out = the elementwise max of the views tap_views() yields (in tap order); with ``taps``,
    also the id of the first winning tap. ``mask`` and ``step`` are scratch like ``out``."""
    for t, view in enumerate(tap_views()):
        if t == 0:
            np.copyto(out, view)
            if taps is not None:
                taps.fill(0)
        elif taps is None:
            np.maximum(out, view, out=out)
        else:
            # A later tap replaces the winner only when strictly greater (ties: first tap
            # wins), and its id t exceeds every earlier id, so max(taps, mask * t) updates
            # the id without a masked store (np.copyto(where=) is ~50x slower).
            np.greater(view, out, out=mask)
            np.maximum(out, view, out=out)
            np.multiply(mask.view(np.uint8), step.dtype.type(t), out=step)
            np.maximum(taps, step, out=taps)
    if taps is not None:
        nan = np.isnan(out)
        if nan.any():   # rare: point NaN outputs at their first NaN tap (np.greater skips NaN)
            found = np.zeros_like(nan)
            for t, view in enumerate(tap_views()):
                hit = nan & ~found & np.isnan(view)
                taps[hit] = t
                found |= hit
    return taps


def _max_pool_tiled(x: np.ndarray, g: PoolingGeometry, with_indices: bool):
    """max_pool for windows that tile the input (kernel == stride, no dilation, no padding) on a
    small batch: the taps are gathered tap-major in one copy, (k_h, k_w, N*C, Ho, Wo), so every
    tap's view is contiguous and each step of the tap loop is one pass over whole arrays (the
    general scratch's views have rows of Wo elements: on small planes NumPy's per-row cost
    dominates). The same loop as the general path, on the same values: the same y and indices."""
    n, c = x.shape[:2]
    (kh, kw), (ho, wo) = g.kernel, g.out_hw
    shape = (n, c, ho, wo)
    gathered = np.ascontiguousarray(
        x[:, :, :ho * kh, :wo * kw].reshape(n, c, ho, kh, wo, kw).transpose(3, 5, 0, 1, 2, 4))
    views = gathered.reshape((kh * kw,) + shape)
    y = np.empty(shape, x.dtype)
    if not with_indices:
        _max_over_taps(lambda: iter(views), y, None, None, None)
        return y, None
    tap_type = np.min_scalar_type(g.taps - 1)
    taps, step = np.empty(shape, tap_type), np.empty(shape, tap_type)
    _max_over_taps(lambda: iter(views), y, taps, np.empty(shape, bool), step)
    window_base = _channel_offsets(0, c, c, g) + _origin_offsets(g)               # (C, Ho, Wo)
    indices = _tap_offsets_from(taps, window_base, g, np.empty(shape, np.int64), step)
    return y, indices


def _tiles(g: PoolingGeometry) -> bool:
    """The windows tile the input: each input belongs to at most one window."""
    return g.kernel == g.stride and g.dilation == (1, 1) and g.pad_before == (0, 0) and g.pad_after == (0, 0)


def _tiled_path(x: np.ndarray, g: PoolingGeometry) -> bool:
    """max_pool takes _max_pool_tiled: tiling windows, fewer taps than windows (the general path
    walks those by tap too, with the same loop), short output rows and a small input."""
    return (_tiles(g) and g.taps <= g.out_hw[0] * g.out_hw[1] and g.out_hw[1] < _TILED_ROW
            and x.nbytes <= _TILED_BYTES)


_TILED_BYTES = 1 << 20          # inputs up to this size take _max_pool_tiled (one copy, one thread)
_TILED_ROW = 16                 # ... when the output rows are shorter than this (per-row cost)


def _tap_offsets_from(taps, base, g, out, scratch):
    """out = base + flat in-plane offset of tap ``taps`` from its window's tap 0 (int64).

    Tap t = (t // k_w, t % k_w) sits at t*d_w + (t // k_w)*(d_h*W - k_w*d_w). Arithmetic rather
    than a table lookup: np.take with small-integer indices is 4-5x slower.
    """
    (_, kw), (dh, dw), w = g.kernel, g.dilation, g.in_hw[1]
    np.floor_divide(taps, kw, out=scratch)
    np.multiply(scratch, dh * w - kw * dw, out=out, dtype=np.int64)
    out += taps if dw == 1 else taps.astype(np.int64) * dw
    out += base
    return out


_BORDER_TABLE_LIMIT = 1 << 22     # entries of the border windows' tap tables (bools)


class _MaxIndexCheck:
    """Checks that each max-pooling index names an input inside its own output's window.

    Fast test, per output: rel = index - (c*H*W + flat offset of the window's tap 0) must be one
    of the taps' offsets kh*dh*W + kw*dw (a table lookup). For a window inside the image this is
    exact: that offset from tap 0 is the tap's own flat index. A window reaching into the padding
    has taps whose offsets alias real inputs of a neighbouring row or channel, so the outputs of
    such windows (the first and last rows and columns, usually) are looked up again in a table of
    their own that allows only their taps inside the image, once per range of planes (or, when
    those tables would be large, take the row/column test of _indices_in_windows).
    """

    def __init__(self, g: PoolingGeometry, channels: int, chunk: int):
        self.g, self.channels = g, channels
        (h, w), (kh, kw), (dh, dw) = g.in_hw, g.kernel, g.dilation
        # Offsets are shifted by one so that np.take(mode="clip") sends every rel < 0 to entry 0
        # and every rel past the table to the last entry, both marked outside. A chunk of planes
        # a.. (possibly across samples: channel = plane % C) reads rows a % C.. of base.
        origins = _origin_offsets(g)
        self.base = _channel_offsets(0, chunk + channels, channels, g) + origins - 1
        self.outside = np.ones((kh - 1) * dh * w + (kw - 1) * dw + 3, bool)
        self.outside[1 + (np.arange(kh)[:, None] * dh * w + np.arange(kw) * dw).reshape(-1)] = False
        rows, cols = g.window_origins()
        eh, ew = g.k_eff
        size = self.outside.size
        taps = 1 + (np.arange(kh)[:, None] * dh * w + np.arange(kw) * dw).reshape(-1)
        # Per strip of border windows (the rows, then the columns, reaching into the padding):
        # (selector, table, base) with table[k*size + 1 + tap offset] true when that tap of the
        # strip's k-th window lies inside the image, and base = tap 0 - 1 - k*size.
        self.strips: list[tuple] = []      # (selector, table or None, base or None)
        for sel_rows, sel_cols in ((np.flatnonzero((rows < 0) | (rows + eh > h)), slice(None)),
                                   (slice(None), np.flatnonzero((cols < 0) | (cols + ew > w)))):
            r, q = rows[sel_rows], cols[sel_cols]
            selector = (slice(None), sel_rows, sel_cols)
            if r.size * q.size == 0:
                continue
            if r.size * q.size * size > _BORDER_TABLE_LIMIT:
                self.strips.append((selector, None, None))
                continue
            row_in = (r[:, None] + np.arange(kh) * dh >= 0) & (r[:, None] + np.arange(kh) * dh < h)
            col_in = (q[:, None] + np.arange(kw) * dw >= 0) & (q[:, None] + np.arange(kw) * dw < w)
            table = np.zeros((r.size, q.size, size), bool)
            table[:, :, taps] = (row_in[:, None, :, None] & col_in[None, :, None, :]).reshape(r.size, q.size, -1)
            window = np.arange(r.size * q.size, dtype=np.int64).reshape(r.size, q.size) * size
            self.strips.append((selector, table.reshape(-1), origins[sel_rows][:, sel_cols] - 1 - window))

    def check_borders(self, idx, a):
        """The exact test on the outputs of windows that reach into the padding, planes a.."""
        for selector, table, base in self.strips:
            sub = idx[selector]
            if table is None:
                good = _indices_in_windows(sub, a, self.channels, self.g, selector[1], selector[2])
            else:
                rel = sub - _channel_offsets(a, a + sub.shape[0], self.channels, self.g)
                rel -= base                     # k*size + 1 + tap offset for a tap of window k
                # An offset outside window k's own range could land in window k + 1's entries:
                # check's test of every output rejects those, so together they are exact.
                good = (rel.view(np.uint64).max() < table.size
                        and bool(np.take(table, rel).all()))
            if not good:
                _raise_bad_max_index(idx, a, self.channels, self.g)

    def check(self, idx, a, scratch):
        """The table test of every output (idx (B, Ho, Wo) of planes a..; scratch int64 like idx)."""
        first = a % self.channels
        rel = np.subtract(idx, self.base[first:first + idx.shape[0]], out=scratch)
        if rel.size and np.take(self.outside, rel, mode="clip").any():
            _raise_bad_max_index(idx, a, self.channels, self.g)


def _index_check(g: PoolingGeometry, channels: int, planes: int) -> "_MaxIndexCheck":
    """The _MaxIndexCheck of (g, channels, planes): made once for small ones (its tables depend on
    nothing else; building them was half of a small backward's time), else afresh."""
    (ho, wo), (kh, kw), (dh, dw), w = g.out_hw, g.kernel, g.dilation, g.in_hw[1]
    small = ((planes + channels) * ho * wo <= _CACHED_CHECK_OUTPUTS
             and ho * wo * ((kh - 1) * dh * w + (kw - 1) * dw + 3) <= _CACHED_CHECK_OUTPUTS)
    return _cached_index_check(g, channels, planes) if small else _MaxIndexCheck(g, channels, planes)


@functools.lru_cache(maxsize=8)
def _cached_index_check(g: PoolingGeometry, channels: int, planes: int) -> "_MaxIndexCheck":
    checker = _MaxIndexCheck(g, channels, planes)
    for array in [checker.base, checker.outside] + [a for strip in checker.strips for a in strip[1:] if a is not None]:
        array.setflags(write=False)          # shared by every call of that geometry
    return checker


_CACHED_CHECK_OUTPUTS = 1 << 14   # the tables of a cached check: at most this many entries each


def _indices_in_windows(idx, a, channels, g, row_sel, col_sel) -> bool:
    """The exact test of _raise_bad_max_index on the outputs idx = indices[:, row_sel, col_sel]."""
    (h, w), (kh, kw), (dh, dw) = g.in_hw, g.kernel, g.dilation
    rows, cols = g.window_origins()
    in_plane = idx - _channel_offsets(a, a + idx.shape[0], channels, g)
    row, col = np.floor_divide(in_plane, w), np.mod(in_plane, w)
    d_row, d_col = row - rows[row_sel][:, None], col - cols[col_sel][None, :]
    ok = (in_plane >= 0) & (in_plane < h * w)
    ok &= (d_row >= 0) & (d_row <= (kh - 1) * dh) & (d_row % dh == 0)
    ok &= (d_col >= 0) & (d_col <= (kw - 1) * dw) & (d_col % dw == 0)
    return bool(ok.all())


def _raise_bad_max_index(idx, a, channels, g):
    """Name the first index that is not inside its output's window (the slow, exact check)."""
    (h, w), (kh, kw), (dh, dw) = g.in_hw, g.kernel, g.dilation
    rows, cols = g.window_origins()
    in_plane = idx - _channel_offsets(a, a + idx.shape[0], channels, g)
    row, col = np.floor_divide(in_plane, w), np.mod(in_plane, w)
    d_row, d_col = row - rows[:, None], col - cols[None, :]
    ok = (in_plane >= 0) & (in_plane < h * w)
    ok &= (d_row >= 0) & (d_row <= (kh - 1) * dh) & (d_row % dh == 0)
    ok &= (d_col >= 0) & (d_col <= (kw - 1) * dw) & (d_col % dw == 0)
    p, i, j = (int(v) for v in np.argwhere(~ok)[0])
    n_, c_ = divmod(a + p, channels)
    raise InvalidArgumentError(
        f"Max backward: indices[{n_}, {c_}, {i}, {j}] = {int(idx[p, i, j])} does not name an input "
        f"of channel {c_} inside output ({i}, {j})'s window (rows "
        f"{rows[i]}..{rows[i] + (kh - 1) * dh} step {dh}, columns "
        f"{cols[j]}..{cols[j] + (kw - 1) * dw} step {dw}; index = c*{h * w} + h*{w} + w)")


def _checked_unpool_indices(indices, out_hw):
    """UnMax indices as (N, C*h*w) int64, each checked to lie in its own channel's output plane."""
    n, c = indices.shape[:2]
    plane = int(out_hw[0]) * int(out_hw[1])
    flat = indices.reshape(n, c, -1)
    channel = np.arange(c, dtype=np.int64)[None, :, None] * plane
    bad = (flat < channel) | (flat >= channel + plane)
    if bad.any():
        n_, c_, k = (int(v) for v in np.argwhere(bad)[0])
        pos = np.unravel_index(k, indices.shape[2:])
        raise InvalidArgumentError(
            f"UnMax: indices[{n_}, {c_}, {', '.join(str(int(v)) for v in pos)}] = "
            f"{int(flat[n_, c_, k])} is outside channel {c_}'s output plane "
            f"[{c_ * plane}, {(c_ + 1) * plane}) (index = c*{plane} + h*{out_hw[1]} + w, "
            f"{c} channels)")
    return flat.reshape(n, -1)


# -------------------------------------------------------------------------------- the engine
_CHUNK_BYTES = 1 << 20          # padded planes per chunk: about L2-sized with the tap scratch


def _chunk_planes(g, dtype) -> int:
    padded = (g.padded_hw[0]) * (g.padded_hw[1] + g.stride[1]) * np.dtype(dtype).itemsize
    return max(1, _CHUNK_BYTES // padded)


def _for_plane_ranges(planes: int, g, dtype, work: Callable[[int, int], None]) -> None:
    """Run work(lo, hi) over [0, planes) in contiguous ranges, one per thread when worth it."""
    parallel.for_ranges(planes, planes * g.in_hw[0] * g.in_hw[1] * np.dtype(dtype).itemsize, work)


def _chunks(lo, hi, size):
    """Consecutive ranges [a, b) of at most ``size`` planes covering [lo, hi). A range may span
    samples: small images make one chunk of many samples, not one NumPy pass per sample."""
    for a in range(lo, hi, size):
        yield a, min(hi, a + size)


def _zero(a: np.ndarray) -> None:
    """a[...] = 0 for a contiguous array, through a byte view: NumPy fills bytes with memset, which
    writes whole cache lines without first reading them from memory (about 1.6x faster than a
    float fill on planes not in cache)."""
    a.reshape(-1).view(np.uint8).fill(0)


def _chunks_in_samples(lo, hi, size, channels):
    """The ranges of _chunks, each cut where a sample (``channels`` planes) ends."""
    for a, b in _chunks(lo, hi, size):
        while a < b:
            end = min(b, (a // channels + 1) * channels)
            yield a, end
            a = end


class _Scratch:
    """Buffers for one thread and the window loops over a chunk of padded planes.

    Two ways to walk the windows, whichever makes fewer NumPy calls:

    * by tap (the usual case, more windows than taps): one array operation per tap covers every
      window. Columns are split by stride phase: padded column p of a plane sits at
      ``data[:, :, p % s, p // s]`` (s = the column stride), so the view under tap (kh, kw) is
      ``data[:, kh*dh :: sh, (kw*dw) % s, (kw*dw)//s : (kw*dw)//s + Wo]`` and its last axis is
      contiguous (strided loads defeat NumPy's vectorized loops).
    * by window (large kernels, e.g. global pooling): one reduction per output position, on an
      unsplit padded buffer.
    """

    def __init__(self, g: PoolingGeometry, dtype, fill, planes: int):
        self.g, self.planes = g, planes
        self.by_window = g.out_hw[0] * g.out_hw[1] < g.taps
        self.phases = 1 if self.by_window else g.stride[1]
        hp, wp = g.padded_hw
        self.data = np.full((planes, hp, self.phases, -(-wp // self.phases)), fill, dtype)
        out = (planes,) + g.out_hw
        self.out = np.empty(out, dtype)
        self.mask = np.empty(out, bool)
        tap_type = np.min_scalar_type(g.taps - 1)     # uint8 for kernels up to 16x16
        self.step = np.empty(out, tap_type)
        self.taps = np.empty(out, tap_type)
        # per column phase: (phase, first slot, first input column, column count)
        left, w, s = g.pad_before[1], g.in_hw[1], self.phases
        self._phases = []
        for phase in range(s):
            col = (phase - left) % s
            if col < w:
                self._phases.append((phase, (col + left) // s, col, len(range(col, w, s))))

    # ------------------------------------------------------------------ planes in and out
    def _interior(self, b, phase, q0, count):
        top, h = self.g.pad_before[0], self.g.in_hw[0]
        return self.data[:b, top:top + h, phase, q0:q0 + count]

    def load(self, planes, square=False):
        """Copy (b, H, W) planes (or their squares) into the interior; padding keeps its fill."""
        for phase, q0, col, count in self._phases:
            dst = self._interior(planes.shape[0], phase, q0, count)
            src = planes[:, :, col::self.phases]
            if square:
                np.square(src, out=dst)
            else:
                np.copyto(dst, src)

    def store(self, planes):
        """Copy the interior out to (b, H, W) planes."""
        for phase, q0, col, count in self._phases:
            planes[:, :, col::self.phases] = self._interior(planes.shape[0], phase, q0, count)

    def zero(self, b):
        self.data[:b].fill(0)

    # ------------------------------------------------------------------ window loops
    def tap_views(self, b):
        """The (b, Ho, Wo) view under each tap, in row-major window order."""
        g = self.g
        (ho, wo), (sh, sw), (dh, dw) = g.out_hw, g.stride, g.dilation
        step = sw // self.phases
        for kh in range(g.kernel[0]):
            r0 = kh * dh
            for kw in range(g.kernel[1]):
                q0, phase = divmod(kw * dw, self.phases)
                yield self.data[:b, r0:r0 + sh * (ho - 1) + 1:sh, phase,
                                q0:q0 + step * (wo - 1) + 1:step]

    def window_views(self, b):
        """((i, j), the (b, k_h, k_w) view of window (i, j)) for every output position."""
        g = self.g
        (ho, wo), (sh, sw), (dh, dw), (eh, ew) = g.out_hw, g.stride, g.dilation, g.k_eff
        for i in range(ho):
            for j in range(wo):
                yield (i, j), self.data[:b, i * sh:i * sh + eh:dh, 0, j * sw:j * sw + ew:dw]

    def max_into(self, out, taps=None):
        """out = max over each window; with ``taps``, also the id of the first winning tap."""
        b = out.shape[0]
        if self.by_window:
            for (i, j), window in self.window_views(b):
                if taps is None:
                    np.max(window, axis=(1, 2), out=out[:, i, j])
                else:
                    flat = window.reshape(b, -1)
                    taps[:, i, j] = first = np.argmax(flat, axis=1)   # first max, or first NaN
                    out[:, i, j] = flat[np.arange(b), first]
            return taps
        return _max_over_taps(lambda: self.tap_views(b), out, taps, self.mask[:b], self.step[:b])

    def sum_into(self, out):
        """out = sum over each window."""
        b = out.shape[0]
        if self.by_window:
            for (i, j), window in self.window_views(b):
                np.sum(window, axis=(1, 2), out=out[:, i, j])
            return
        for t, view in enumerate(self.tap_views(b)):
            if t == 0:
                np.copyto(out, view)
            else:
                out += view

    def scatter_add(self, grads):
        """Adjoint of sum_into: every tap of window (i, j) gets grads[:, i, j] added."""
        b = grads.shape[0]
        if self.by_window:
            for (i, j), window in self.window_views(b):
                window += grads[:, i, j, None, None]
            return
        for view in self.tap_views(b):
            view += grads
