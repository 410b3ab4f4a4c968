"""Convolution, transposed convolution and fully connected filters (BNNS, bnns.md 2.1, 6.1-6.3, 6.14).

Math (cross-correlation, no kernel flip), for x of shape (N, C, H, W) and weights W of shape
(O, C/G, kH, kW) in group g:

    y[n, o, i, j] = act(b[o] + sum_{c in g, u, v} W[o, c, u, v] * xp[n, c, i*sy + u*dy, j*sx + v*dx])

where xp is x zero-padded by (top, bottom, left, right). Output size (floor, like PyTorch):

    H_out = floor((H + top + bottom - ((kH - 1)*dy + 1)) / sy) + 1

Backward, with dz = dL/dy * act'(.) taken from y (BNNS's rule for fused activations):

    dW[o, c, u, v] = sum_{n, i, j} dz[n, o, i, j] * xp[n, c, i*sy + u*dy, j*sx + v*dx]   (summed over batch)
    db[o]          = sum_{n, i, j} dz[n, o, i, j]
    dx             = the adjoint of the forward map applied to dz (full correlation with the rotated
                     kernel when sy = sx = 1; a scatter of the weight-weighted taps otherwise)

Transposed convolution is that adjoint used as a forward pass (see TransposedConvolutionFilter).
Fully connected: y = act(W x + b) with W row-major O x I and x flattened in memory order.

Notes
-----
* Implementation (each fast path is checked against plain references in tests/kernels):
  - 1x1, stride 1, unpadded, one group: one GEMM per image, straight into the output (``out=``).
  - Stride 1: a sum over kernel rows of GEMMs on the padded sample's kW column shifts, cut to
    the output width and stacked along K (_stack_shifts, _conv2d_taps), accumulated (beta = 1)
    straight into y[n]; the weight gradient reads the same stack against dz[n] in place. Several
    groups make one matmul batched over the groups.
  - Otherwise: im2col + one GEMM per sample, in chunks of samples whose columns stay in cache.
    With x-stride 1 the column block of each tap (c, u, v) is a single contiguous slice of the
    padded sample at the padded width; strided (undilated) convolutions split the padded input
    by stride phase first, so that each block is a window of unit-stride rows of the phase
    holding the tap, taken at the output width: with one group each sample's GEMM then writes
    y[n] itself, starting from the bias.
  - Strided input gradient: per block of samples, the columns W^T dz (one GEMM) are added tap by
    tap into the stride phases of the padded gradient, each tap one contiguous run (dz taken at
    the phase width), then the phases interleaved and cropped (col2im).
  - Two cores: samples (forward, input gradient) or fixed blocks of samples (weight gradient,
    partial sums added in block order) are shared out over the kernel pool's threads, each
    running its GEMMs on one core. Against one BLAS call on two threads (same run, interleaved)
    the best times are close, but with other processes competing for the cores the BLAS threads
    (which wait on each other at every call) took 3-10x longer, and the batch split did not.
  Forwards and input gradients take ``out=`` / ``in_delta_out=``: results land in the caller's
  array, by the GEMM itself where the layout allows. No result depends on the number of cores.
* Weight layouts: ConvolutionWeightsOIHW (size kW, kH, C_in/G, C_out), OIHrWr (the same with the
  kernel rotated 180 degrees) and IOHrWr (size kW, kH, C_out, C_in, rotated). Weight gradients are
  returned in the layout the weights were given in.
* Transposed convolution (UNCONFIRMED in BNNS, PyTorch's conv_transpose2d semantics): the
  weights' O is the transposed layer's *output* channel count and I its input channel count, so
  OIHW data W[o, i, u, v] equals PyTorch's weight[i, o, u, v]. Output size
  H_out = (H - 1)*sy - top - bottom + (kH - 1)*dy + 1 + extra, with 0 <= extra < sy (PyTorch's
  output_padding), i.e. exactly the sizes whose convolution gives back H. Groups are not
  supported for transposed convolution (as in BNNS).
* Padding: x_padding / y_padding are symmetric; pad = (left, right, up, down) is used only when
  both are 0 (BNNS rule).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, Optional, Tuple

import numpy as np

from . import activation as act_mod
from . import blas
from . import parallel
from .activation import Activation
from .errors import given, require, require_out
from .layout import (
    Descriptor, LAYOUT_CONV_WEIGHTS_IOHRWR, LAYOUT_CONV_WEIGHTS_OIHRWR, LAYOUT_CONV_WEIGHTS_OIHW,
    LAYOUT_IMAGE_CHW, LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_2D_FIRST_MAJOR,
    LAYOUT_COLUMN_MAJOR_MATRIX, LAYOUT_2D_LAST_MAJOR, numpy_dtype)
from .params import ConvolutionParameters, FullyConnectedParameters

# Bytes of im2col columns built per chunk of samples (one GEMM per sample either way): each
# thread's columns stay in its share of the cache between their copy and the GEMM reading them
# (the stem, 1.9 MB of columns per sample: 8 MiB chunks took ~2x the time of one-sample chunks
# on two threads), and no huge fresh buffer is faulted in.
_COLUMN_CHUNK_BYTES = 2 << 20


# ============================================================================ geometry

@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """Stride, dilation, padding (top, bottom, left, right) and groups of a 2-D convolution."""

    stride: Tuple[int, int] = (1, 1)        # (sy, sx)
    dilation: Tuple[int, int] = (1, 1)      # (dy, dx)
    padding: Tuple[int, int, int, int] = (0, 0, 0, 0)   # top, bottom, left, right
    groups: int = 1

    def effective_kernel(self, kh: int, kw: int) -> Tuple[int, int]:
        return (kh - 1) * self.dilation[0] + 1, (kw - 1) * self.dilation[1] + 1

    def output_hw(self, h: int, w: int, kh: int, kw: int) -> Tuple[int, int]:
        """Convolution output size (floor rule); < 1 when the kernel does not fit."""
        top, bottom, left, right = self.padding
        ekh, ekw = self.effective_kernel(kh, kw)
        return ((h + top + bottom - ekh) // self.stride[0] + 1,
                (w + left + right - ekw) // self.stride[1] + 1)


def conv2d(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, out: Optional[np.ndarray] = None,
           bias: Optional[np.ndarray] = None) -> np.ndarray:
    """2-D cross-correlation, plus a bias per output channel when given.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W) — BNNS ImageCHW, size = (W, H, C)
    w : ndarray of shape (O, C/G, kH, kW) — logical OIHW
    geom : stride, dilation, padding, groups
    out : optional ndarray of shape (N, O, H_out, W_out), any strides, written and returned
    bias : optional ndarray of shape (O,), added to every output of its channel (by each sample's
        thread while the sample is in cache, rather than in one more pass over y)

    Returns
    -------
    y : ndarray of shape (N, O, H_out, W_out), no activation.
    """
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    g = geom.groups
    ho, wo = geom.output_hw(h, wd, kh, kw)
    if _pointwise_applies(x, w, geom, out):
        return _conv2d_pointwise(x, w, out, bias)
    if _taps_apply(x, w.shape, geom):
        return _conv2d_taps(x, np.asarray(w, dtype=x.dtype), geom, (ho, wo), out, bias)
    y = np.empty((n, o, ho, wo), dtype=np.result_type(x, w)) if out is None else out
    w_groups = w.reshape(g, o // g, cg * kh * kw)
    bias_4d = None if bias is None else bias.reshape(1, o, 1, 1)
    # One group, columns at the output width, one float dtype: each sample's GEMM writes y[n]
    # itself (from the bias, beta = 1), where the general path makes a product and copies it.
    direct = (g == 1 and blas.dtype_supported(x.dtype) and y.dtype == x.dtype == np.result_type(x, w)
              and y.flags.writeable)
    w_matrix = np.ascontiguousarray(w.reshape(o, cg * kh * kw), dtype=x.dtype) if direct else None

    def samples(lo: int, hi: int) -> None:
        for start, stop, cols, extended_w in _im2col_chunks(x[lo:hi], (kh, kw), geom, (ho, wo)):
            parallel.check_cancelled()
            nb = stop - start
            targets = [_matrix_view(y[lo + s], (o, ho * wo)) for s in range(start, stop)] \
                if direct and extended_w == wo else [None]
            if w_matrix is not None and all(t is not None for t in targets):
                for s, target in enumerate(targets):
                    assert target is not None   # checked just above (for mypy, which cannot see all())
                    if bias is not None:
                        target[...] = bias[:, None]
                    blas.gemm(w_matrix, cols[s].reshape(-1, ho * wo), target, beta=0.0 if bias is None else 1.0)
                continue
            prod = np.matmul(w_groups, cols.reshape(nb, g, cg * kh * kw, -1))   # (nb, G, O/G, L)
            prod = prod.reshape(nb, o, ho, extended_w)[..., :wo]
            if bias_4d is None:
                y[lo + start:lo + stop] = prod
            else:
                np.add(prod, bias_4d, out=y[lo + start:lo + stop])

    _over_samples(n, c * kh * kw * ho * wo * x.itemsize, samples)
    return y


def conv2d_backward_weights(x: np.ndarray, dz: np.ndarray, w_shape: tuple, geom: ConvGeometry) -> np.ndarray:
    """dL/dW of conv2d, summed over the batch.

    Parameters
    ----------
    x : (N, C, H, W); dz : (N, O, H_out, W_out); w_shape : (O, C/G, kH, kW)

    Returns
    -------
    dW : (O, C/G, kH, kW)
    """
    o, cg, kh, kw = w_shape
    g = geom.groups
    ho, wo = dz.shape[2:]
    if _taps_apply_to_weights(x, w_shape, geom) and dz.dtype == x.dtype:
        return _conv2d_backward_weights_taps(x, dz, w_shape, geom)
    k = cg * kh * kw
    og = o // g
    dtype = np.result_type(x, dz)
    # Blocks of samples (a fixed size, whatever the core count) each sum their own dW from their
    # own im2col columns, shared out over the cores; the partial sums are added in block order.
    sample_bytes = x.shape[1] * kh * kw * ho * wo * x.itemsize
    blocks = -(-x.shape[0] // parallel.block_rows(sample_bytes))
    threaded = parallel.workers_for(blocks, x.shape[0] * sample_bytes) > 1

    def block(lo: int, hi: int) -> np.ndarray:
        dw = np.zeros((g, og, k), dtype=dtype)
        dw_t = None
        dz_ext = None
        with blas.one_thread() if threaded else contextlib.nullcontext():
            for start, stop, cols, extended_w in _im2col_chunks(x[lo:hi], (kh, kw), geom, (ho, wo)):
                parallel.check_cancelled()
                nb = stop - start
                if extended_w == wo:
                    dz_chunk = dz[lo + start:lo + stop].reshape(nb, g, og, ho * wo)
                else:
                    # Columns computed at the padded width hold garbage past W_out; zeros in dz
                    # there keep it out of the sum.
                    if dz_ext is None or dz_ext.shape[0] != nb:
                        dz_ext = np.zeros((nb, o, ho, extended_w), dtype=dz.dtype)
                    dz_ext[..., :wo] = dz[lo + start:lo + stop]
                    dz_chunk = dz_ext.reshape(nb, g, og, ho * extended_w)
                cols_g = cols.reshape(nb, g, k, -1)
                # One BLAS call per (sample, group): worth it only when each is a real GEMM (grouped
                # and depthwise convolutions make many tiny ones, where one batched matmul is faster).
                big_enough = k * og * cols_g.shape[-1] >= _BLAS_MIN_FLOPS
                if big_enough and blas.dtype_supported(dtype) and dz_chunk.dtype == cols_g.dtype == dtype:
                    # Accumulate dW^T = cols @ dz^T straight in BLAS (beta = 1): no per-sample product
                    # to sum, and the (K x O/G) orientation runs ~25% faster than (O/G x K) here.
                    if dw_t is None:
                        dw_t = np.zeros((g, k, og), dtype=dtype)
                    for s in range(nb):
                        for group in range(g):
                            blas.gemm(cols_g[s, group], dz_chunk[s, group], dw_t[group], beta=1.0, transpose_b=True)
                else:
                    dw += np.matmul(dz_chunk, cols_g.swapaxes(-1, -2)).sum(axis=0)
        if dw_t is not None:
            dw += dw_t.swapaxes(1, 2)
        return dw

    dw = np.zeros((g, og, k), dtype=dtype)
    for partial in parallel.map_blocks(x.shape[0], sample_bytes, block, _PIECES_PER_CORE):
        dw += partial
    return dw.reshape(w_shape)


def conv2d_backward_input(dz: np.ndarray, w: np.ndarray, geom: ConvGeometry, input_hw: Tuple[int, int],
                          out: Optional[np.ndarray] = None) -> np.ndarray:
    """dL/dx of conv2d: the adjoint of the forward map.

    Parameters
    ----------
    dz : (N, O, H_out, W_out); w : (O, C/G, kH, kW); input_hw : (H, W) of x
    out : optional (N, C, H, W) array, any strides, written and returned

    Returns
    -------
    dx : (N, C, H, W)
    """
    n, o, ho, wo = dz.shape
    _, cg, kh, kw = w.shape
    g = geom.groups
    h, wd = input_hw
    top, bottom, left, right = geom.padding
    if geom.stride == (1, 1):
        # Full correlation with the rotated, group-transposed kernel: a forward conv2d.
        ekh, ekw = geom.effective_kernel(kh, kw)
        w_rot = (w.reshape(g, o // g, cg, kh, kw).swapaxes(1, 2)[..., ::-1, ::-1]
                 .reshape(g * cg, o // g, kh, kw))
        pad_top, pad_left = ekh - 1 - top, ekw - 1 - left
        adjoint = ConvGeometry((1, 1), geom.dilation,
                               (pad_top, h - ho + ekh - 1 - pad_top, pad_left, wd - wo + ekw - 1 - pad_left), g)
        return conv2d(dz, np.ascontiguousarray(w_rot), adjoint, out)
    # Strided: scatter each tap's contribution (col2im), a block of samples at a time so that the
    # columns and the padded gradient stay in cache (one GEMM-sized product per block instead of
    # the whole batch's columns), the blocks shared out over the cores. Padded row i*sy + u*dy is
    # row i + (u*dy) // sy of stride phase (u*dy) % sy (columns likewise), so with dz extended to
    # the phase width Wq (zero columns) each tap's block is one contiguous run added into its
    # phase at a shifted offset: a vectorised add per tap, where adding into every sy-th row and
    # sx-th column of the padded gradient is not. The extra columns' products are set to zero,
    # so what they add past a row's end changes nothing. The phases are then interleaved into the
    # padded gradient and each block's samples cropped straight into dx.
    sy, sx = geom.stride
    dy_, dx_ = geom.dilation
    hp, wp = h + top + bottom, wd + left + right
    hq, wq = -(-hp // sy), -(-wp // sx)
    slack = (kw - 1) * dx_ // sx                   # the largest column shift of a tap in its phase
    dtype = np.result_type(dz, w)
    k = cg * kh * kw
    w_t = np.ascontiguousarray(w.reshape(g, o // g, k).swapaxes(1, 2), dtype=dtype)   # (G, K, O/G)
    dx = np.empty((n, g * cg, h, wd), dtype=dtype) if out is None else out
    sample_bytes = (g * k * ho * wq + o * ho * wq + 2 * g * cg * hp * wp) * dtype.itemsize
    per_block = max(1, min(n, parallel.block_rows(sample_bytes)))

    def samples(lo: int, hi: int) -> None:
        dz_ext = np.zeros((per_block, o, ho, wq), dtype=dtype)
        cols_buffer = np.empty((per_block, g, k, ho * wq), dtype=dtype)
        phase_buffer = np.empty((per_block, sy, sx, g * cg, hq * wq + slack), dtype=dtype)
        dxp_buffer = np.empty((per_block, g * cg, hp, wp), dtype=dtype)
        for start in range(lo, hi, per_block):
            parallel.check_cancelled()
            nb = min(hi, start + per_block) - start
            dz_ext[:nb, :, :, :wo] = dz[start:start + nb]
            cols = np.matmul(w_t, dz_ext[:nb].reshape(nb, g, o // g, ho * wq), out=cols_buffer[:nb])
            cols.reshape(nb, g, k, ho, wq)[..., wo:] = 0
            cols = cols.reshape(nb, g * cg, kh, kw, ho * wq)
            phases, dxp = phase_buffer[:nb], dxp_buffer[:nb]
            phases[...] = 0
            for u in range(kh):
                r0, a = divmod(u * dy_, sy)
                for v in range(kw):
                    c0, b = divmod(v * dx_, sx)
                    phases[:, a, b, :, r0 * wq + c0:(r0 + ho) * wq + c0] += cols[:, :, u, v]
            grid = phases[..., :hq * wq].reshape(nb, sy, sx, g * cg, hq, wq)
            for a in range(sy):
                for b in range(sx):
                    dxp[:, :, a::sy, b::sx] = grid[:, a, b, :, :len(range(a, hp, sy)), :len(range(b, wp, sx))]
            _crop(dxp, top, left, h, wd, dx[start:start + nb])

    _over_samples(n, sample_bytes, samples)
    return dx


def _crop(xp: np.ndarray, top: int, left: int, h: int, w: int, out: Optional[np.ndarray] = None) -> np.ndarray:
    """The (h, w) window of a padded batch at (top, left), zero-filled where it runs outside;
    written into ``out`` when given."""
    inside = top >= 0 and left >= 0 and top + h <= xp.shape[2] and left + w <= xp.shape[3]
    if inside and out is None:
        return np.ascontiguousarray(xp[:, :, top:top + h, left:left + w])
    if inside and out is not None:
        np.copyto(out, xp[:, :, top:top + h, left:left + w])
        return out
    if out is None:
        out = np.zeros(xp.shape[:2] + (h, w), dtype=xp.dtype)
    else:
        out[...] = 0
    src_r0, src_c0 = max(top, 0), max(left, 0)
    src_r1, src_c1 = min(top + h, xp.shape[2]), min(left + w, xp.shape[3])
    if src_r1 > src_r0 and src_c1 > src_c0:
        out[:, :, src_r0 - top:src_r1 - top, src_c0 - left:src_c1 - left] = xp[:, :, src_r0:src_r1, src_c0:src_c1]
    return out


# ----------------------------------------------------------------- GEMM over kernel taps

# Channels per group below which per-tap GEMMs are too small to beat im2col (depthwise-like).
_TAP_MIN_CHANNELS = 8
# Multiply-adds below which one direct BLAS call costs more in Python than it saves.
_BLAS_MIN_FLOPS = 1 << 20


def _taps_apply(x: np.ndarray, w_shape: tuple, geom: ConvGeometry) -> bool:
    """The tap-sum forward serves stride-1 convolutions with wide enough groups, or with several
    groups (one batched matmul over the groups), in a dtype the bundled BLAS has; everything else
    takes im2col (same numbers)."""
    return (geom.stride == (1, 1) and (w_shape[1] >= _TAP_MIN_CHANNELS or geom.groups > 1)
            and blas.dtype_supported(x.dtype) and x.dtype == np.result_type(x.dtype, np.float32))


def _taps_apply_to_weights(x: np.ndarray, w_shape: tuple, geom: ConvGeometry) -> bool:
    """The tap-sum weight gradient (one BLAS call per sample, group and kernel row) needs wide
    groups to pay for its calls."""
    return _taps_apply(x, w_shape, geom) and w_shape[1] >= _TAP_MIN_CHANNELS


def _stack_shifts(x_s: np.ndarray, geom: ConvGeometry, kw: int, wo: int, out: np.ndarray,
                  borders_zeroed: bool = False) -> np.ndarray:
    """out[g, v, ci, r, j] = xp[g*C/G + ci, r, j + v*dx] for one sample x_s (C, H, W), xp being it
    zero-padded by geom.padding: the kW column shifts of the padded sample, cut to the output
    width W_out and stacked along K, group by group; out has shape (G, kW, C/G, Hp, W_out).
    Row block R[:, u*dy*W_out : (u*dy + H_out)*W_out] of group g's (kW*C/G, Hp*W_out) matrix is
    then exactly the input of kernel row u for every output (i, j), in the output's own layout.
    The zero borders (padding) are the same for every sample: ``borders_zeroed`` says out holds
    them already (it holds the previous sample's stack), and only the part from x is written."""
    c, h, wd = x_s.shape
    g, _, cg, hp, _ = out.shape
    top, left = geom.padding[0], geom.padding[2]
    dx = geom.dilation[1]
    r0, r1 = max(top, 0), min(hp, h + top)                   # rows of out that come from x
    x_g = x_s.reshape(g, cg, h, wd)
    if not borders_zeroed:
        out[:, :, :, :r0] = 0
        out[:, :, :, max(r1, r0):] = 0
    for v in range(kw):
        j0, j1 = min(max(0, left - v * dx), wo), max(0, min(wo, wd + left - v * dx))
        if not borders_zeroed:
            out[:, v, :, r0:r1, :j0] = 0
            out[:, v, :, r0:r1, max(j1, j0):] = 0
        if r1 > r0 and j1 > j0:
            out[:, v, :, r0:r1, j0:j1] = x_g[:, :, r0 - top:r1 - top, j0 + v * dx - left:j1 + v * dx - left]
    return out


def _conv2d_taps(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, out_hw: Tuple[int, int],
                 out: Optional[np.ndarray] = None, bias: Optional[np.ndarray] = None) -> np.ndarray:
    """conv2d at stride 1 as a sum over kernel rows of GEMMs on shifted views of the padded input:

        y[n] (O x H_out*W_out) = sum_u W[:, :, u, :] (O x kW*C) @ R[:, u*dy*W_out : (u*dy + H_out)*W_out]

    with R = _stack_shifts (the padded sample and its kW - 1 column shifts cut to the output
    width, stacked along K: kW copies of one sample, which stay in cache), accumulated in BLAS
    (beta = 1) straight into y[n] when it is a matrix with unit inner stride. K = kW*C instead of
    C per tap: kH GEMMs instead of kH*kW, each bigger (ResNet block forward ~1.5x faster); no
    full im2col, no padded copy of the batch, no output copy. A bias is y[n]'s starting value.
    Several groups: R holds every group, and each kernel row is one matmul batched over the
    groups (NumPy's loop in C instead of one Python call per group), added up in place."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    g, og = geom.groups, w.shape[0] // geom.groups
    ho, wo = out_hw
    dy = geom.dilation[0]
    top, bottom = geom.padding[:2]
    hp = h + top + bottom
    # (kH, G, O/G, kW*C/G): kernel row u of group g as one matrix whose columns are (v, ci)
    rows_w = np.ascontiguousarray(w.reshape(g, og, cg, kh, kw).transpose(3, 0, 1, 4, 2)).reshape(kh, g, og, kw * cg)
    y = np.empty((n, o, ho, wo), dtype=x.dtype) if out is None else out

    def samples(lo: int, hi: int) -> None:
        stacked = parallel.scratch((g, kw, cg, hp, wo), x.dtype)       # this thread's, reused
        by_group = stacked.reshape(g, kw * cg, hp * wo)
        scratch = term = None
        for s in range(lo, hi):
            parallel.check_cancelled()
            _stack_shifts(x[s], geom, kw, wo, stacked, borders_zeroed=s > lo)
            target = _matrix_view(y[s], (o, ho * wo)) if y.dtype == x.dtype and y.flags.writeable else None
            if target is None:
                scratch = target = np.empty((o, ho * wo), dtype=x.dtype) if scratch is None else scratch
            if g == 1:
                if bias is not None:
                    target[...] = bias[:, None]
                for u in range(kh):
                    blas.gemm(rows_w[u, 0], by_group[0, :, u * dy * wo:(u * dy + ho) * wo], target,
                              beta=0.0 if u == 0 and bias is None else 1.0)
            else:
                result = target.reshape(g, og, ho * wo)
                term = np.empty((g, og, ho * wo), dtype=x.dtype) if term is None else term
                for u in range(kh):
                    np.matmul(rows_w[u], by_group[:, :, u * dy * wo:(u * dy + ho) * wo], out=result if u == 0 else term)
                    if u:
                        result += term
                if bias is not None:
                    result += bias.reshape(g, og, 1)
            if target is scratch:
                y[s] = scratch.reshape(o, ho, wo)

    _over_samples(n, kw * c * hp * wo * x.itemsize, samples)
    return y


# Ranges of samples (or of blocks of samples) per core handed to the pool: a thread that
# finishes early takes the next range, so a core slowed by other processes holds the call back
# less (ResNet block forward on a loaded machine: median 88 -> 80 ms with 4; the split never
# changes a result).
_PIECES_PER_CORE = 4


def _over_samples(n: int, sample_bytes: int, work) -> None:
    """work(lo, hi) over samples [0, n), shared out over the cores when the work is big enough,
    each thread's BLAS calls then on one core (blas.one_thread): whole GEMMs go to each core
    instead of every GEMM being split and synchronised across them, which keeps its speed when
    other processes compete for the cores. Each sample's result is computed by one thread."""
    if parallel.workers_for(n, n * sample_bytes) == 1:
        work(0, n)
        return

    def on_one_core(lo: int, hi: int) -> None:
        with blas.one_thread():
            work(lo, hi)

    parallel.for_ranges(n, n * sample_bytes, on_one_core, pieces_per_worker=_PIECES_PER_CORE)


def _conv2d_backward_weights_taps(x: np.ndarray, dz: np.ndarray, w_shape: tuple, geom: ConvGeometry) -> np.ndarray:
    """dW of a stride-1 conv2d on the stacked shifts R of _conv2d_taps, per sample and kernel row u:

        dW[:, :, u, :]^T (kW*C x O) += R[:, u*dy*W_out : (u*dy + H_out)*W_out] @ dz[n]^T

    accumulated in BLAS (beta = 1), dz[n]^T copied once per sample into an (H_out*W_out x O)
    matrix (faster than BLAS reading dz[n] transposed on the fly: ResNet block, one core,
    1164 vs 1240 us per sample, the copy included). No full im2col."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w_shape
    g, og = geom.groups, o // geom.groups
    ho, wo = dz.shape[2:]
    dy = geom.dilation[0]
    top, bottom = geom.padding[:2]
    hp = h + top + bottom
    # Blocks of samples (a fixed size, whatever the core count) each sum their own dW^T, shared
    # out over the cores as the forward's samples are; the partial sums are added in block order.
    sample_bytes = (kw * c * hp * wo + o * ho * wo) * x.itemsize
    stack_size = g * kw * cg * hp * wo
    blocks = -(-n // parallel.block_rows(sample_bytes))
    threaded = parallel.workers_for(blocks, n * sample_bytes) > 1

    def block(lo: int, hi: int) -> np.ndarray:
        work = parallel.scratch((stack_size + ho * wo * o,), x.dtype)
        stacked = work[:stack_size].reshape(g, kw, cg, hp, wo)
        by_group = stacked.reshape(g, kw * cg, hp * wo)
        dz_t = work[stack_size:].reshape(ho * wo, o)
        partial = np.zeros((kh, g, kw * cg, og), dtype=x.dtype)   # (u, group, (v, ci), o)
        with blas.one_thread() if threaded else contextlib.nullcontext():
            for s in range(lo, hi):
                parallel.check_cancelled()
                _stack_shifts(x[s], geom, kw, wo, stacked, borders_zeroed=s > lo)
                np.copyto(dz_t.reshape(ho, wo, o), dz[s].transpose(1, 2, 0))
                for group in range(g):
                    for u in range(kh):
                        blas.gemm(by_group[group, :, u * dy * wo:(u * dy + ho) * wo],
                                  dz_t[:, group * og:(group + 1) * og], partial[u, group], beta=1.0)
        return partial

    dw_t = np.zeros((kh, g, kw * cg, og), dtype=x.dtype)
    for partial in parallel.map_blocks(n, sample_bytes, block, _PIECES_PER_CORE):
        dw_t += partial
    # (u, g, v, ci, o) -> (g, o, ci, u, v)
    return np.ascontiguousarray(dw_t.reshape(kh, g, kw, cg, og).transpose(1, 4, 3, 0, 2)).reshape(w_shape)


def _pointwise_applies(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, out: Optional[np.ndarray]) -> bool:
    """A 1x1 convolution with stride 1, no padding, dilation or groups is a matrix product per
    image; it needs a float dtype BLAS has, the same for x, w and out."""
    return (w.shape[2:] == (1, 1) and geom.stride == (1, 1) and geom.padding == (0, 0, 0, 0)
            and geom.groups == 1 and blas.dtype_supported(x.dtype) and w.dtype == x.dtype
            and (out is None or out.dtype == x.dtype))


def _conv2d_pointwise(x: np.ndarray, w: np.ndarray, out: Optional[np.ndarray],
                      bias: Optional[np.ndarray] = None) -> np.ndarray:
    """1x1 convolution: y[n] (O x H*W) = W (O x C) @ x[n] (C x H*W) (+ bias, y[n]'s starting
    value), one GEMM per image written straight into y[n] (one pass over memory). An image or an
    output whose rows are not one (C or O) x H*W matrix with unit inner stride goes through a
    contiguous copy."""
    n, c, h, wd = x.shape
    o = w.shape[0]
    y = np.empty((n, o, h, wd), dtype=x.dtype) if out is None else out
    w2 = np.ascontiguousarray(w.reshape(o, c))
    scratch = None
    for s in range(n):
        xs = _matrix_view(x[s], (c, h * wd))
        if xs is None:
            xs = np.ascontiguousarray(x[s]).reshape(c, h * wd)
        ys = _matrix_view(y[s], (o, h * wd))
        if ys is None:
            scratch = ys = np.empty((o, h * wd), dtype=x.dtype) if scratch is None else scratch
        if bias is not None:
            ys[...] = bias[:, None]
        blas.gemm(w2, xs, ys, beta=0.0 if bias is None else 1.0)
        if ys is scratch:
            np.copyto(y[s], scratch.reshape(o, h, wd))
    return y


def _matrix_view(a: np.ndarray, shape: Tuple[int, int]) -> Optional[np.ndarray]:
    """a seen as a 2-D matrix of ``shape`` with unit inner stride without copying, or None."""
    try:
        m = np.reshape(a, shape, copy=False)
    except ValueError:
        return None
    return m if m.strides[1] == m.itemsize and m.strides[0] >= 0 and m.strides[0] % m.itemsize == 0 else None


def _im2col_chunks(x: np.ndarray, k_hw: Tuple[int, int], geom: ConvGeometry, out_hw: Tuple[int, int]):
    """Yield (start, stop, cols, extended_w) over chunks of samples.

    cols has shape (nb, C, kH, kW, H_out, extended_w): cols[n, c, u, v, i, j] =
    xp[n, c, i*sy + u*dy, j*sx + v*dx]. With sx == 1, extended_w is the padded width and each
    (n, c, u, v) block is one contiguous run of xp (columns j >= W_out are garbage, to be dropped).
    Strided without dilation, the padded input is first split into its sy x sx phases
    (_phase_split): each block is a plain window (unit-stride rows) of the phase holding tap
    (u, v), copied at extended_w == W_out, so that a sample's product is y's own layout.
    Otherwise (strided and dilated) extended_w == W_out and the blocks are gathered element by
    element.
    """
    n, c, h, w = x.shape
    kh, kw = k_hw
    ho, wo = out_hw
    sy, sx = geom.stride
    dy, dx = geom.dilation
    top, bottom, left, right = geom.padding
    hp, wp = h + top + bottom, w + left + right
    phased = sx > 1 and geom.dilation == (1, 1)
    if phased:
        flat, (hq, wq) = _phase_split(x, geom, slack=(kw - 1) // sx)
        extended_w = wo           # rows cut to W_out: the GEMM then writes y's own layout
    else:
        extended_w = wp if sx == 1 else wo
        flat = _padded_flat(x, geom, slack=(kw - 1) * dx if sx == 1 else 0)
    item = flat.itemsize
    per_sample = c * kh * kw * ho * extended_w * item
    nb_max = max(1, min(n, _COLUMN_CHUNK_BYTES // max(per_sample, 1)))
    cols = np.empty((nb_max, c, kh, kw, ho, extended_w), dtype=x.dtype)
    # (destination taps, read-only view of the whole batch's source), made once: a chunk copies
    # slices of them.
    sources: list[tuple[tuple[slice, ...], np.ndarray]]
    if phased:
        # Tap (u, v) with u = a + sy*u', v = b + sx*v' reads phase (a, b) at (i + u', j + v').
        sources = [((slice(None), slice(a, None, sy), slice(b, None, sx)), np.lib.stride_tricks.as_strided(
            flat[(a * sx + b) * n * c * hq * wq:], shape=(n, c, len(range(a, kh, sy)), len(range(b, kw, sx)), ho, wo),
            strides=(c * hq * wq * item, hq * wq * item, wq * item, item, wq * item, item), writeable=False))
            for a in range(min(sy, kh)) for b in range(min(sx, kw))]
    else:
        strides = (c * hp * wp * item, hp * wp * item, dy * wp * item, dx * item, sy * wp * item, sx * item)
        sources = [((), np.lib.stride_tricks.as_strided(flat, shape=(n, c, kh, kw, ho, extended_w), strides=strides,
                                                        writeable=False))]
    for start in range(0, n, nb_max):
        stop = min(n, start + nb_max)
        nb = stop - start
        for taps, view in sources:
            np.copyto(cols[:nb][(slice(None),) + taps], view[start:stop])
        yield start, stop, cols[:nb], extended_w


def _phase_split(x: np.ndarray, geom: ConvGeometry, slack: int):
    """(flat, (Hq, Wq)): x zero-padded by geom.padding and split by stride phase, as one flat
    buffer of shape (sy, sx, N, C, Hq, Wq) followed by ``slack`` zeros, where phase (a, b) holds
    xp[:, :, a::sy, b::sx] (Hq = ceil(Hp / sy), Wq = ceil(Wp / sx), short phases zero-filled)."""
    n, c, h, w = x.shape
    sy, sx = geom.stride
    top, bottom, left, right = geom.padding
    hp, wp = h + top + bottom, w + left + right
    hq, wq = -(-hp // sy), -(-wp // sx)
    flat = np.zeros(sy * sx * n * c * hq * wq + slack, dtype=x.dtype)
    phases = flat[: sy * sx * n * c * hq * wq].reshape(sy, sx, n, c, hq, wq)
    # Straight from x (no padded copy first): phase row i is padded row a + sy*i, i.e. x row
    # a + sy*i - top, inside x for i0 <= i < i1; columns likewise.
    for a in range(sy):
        i0, i1 = _phase_span(a, sy, top, h, hp)
        for b in range(sx):
            j0, j1 = _phase_span(b, sx, left, w, wp)
            if i1 > i0 and j1 > j0:
                r, q = a + sy * i0 - top, b + sx * j0 - left
                phases[a, b, :, :, i0:i1, j0:j1] = x[:, :, r:r + sy * (i1 - i0 - 1) + 1:sy, q:q + sx * (j1 - j0 - 1) + 1:sx]
    return flat, (hq, wq)


def _phase_span(a: int, s: int, pad: int, size: int, padded: int) -> Tuple[int, int]:
    """[i0, i1): the rows i of stride phase a (padded row a + s*i < padded) that lie inside the
    input, 0 <= a + s*i - pad < size."""
    count = len(range(a, padded, s))
    return max(0, -(-(pad - a) // s)), max(0, min(count, (size - 1 + pad - a) // s + 1))


def _padded_flat(x: np.ndarray, geom: ConvGeometry, slack: int) -> np.ndarray:
    """x zero-padded by geom.padding, as one flat buffer (N*C*Hp*Wp elements) followed by
    ``slack`` zeros: rows computed at the padded width run up to that far past the last sample."""
    n, c, h, w = x.shape
    top, bottom, left, right = geom.padding
    hp, wp = h + top + bottom, w + left + right
    flat = np.zeros(n * c * hp * wp + slack, dtype=x.dtype)
    _paste(flat[: n * c * hp * wp].reshape(n, c, hp, wp), x, top, left)
    return flat


def _paste(xp: np.ndarray, x: np.ndarray, top: int, left: int) -> None:
    """Copy x into the zero buffer xp at (top, left); negative padding crops x."""
    h, w = x.shape[2:]
    r0, c0 = max(-top, 0), max(-left, 0)
    r1, c1 = min(h, xp.shape[2] - top), min(w, xp.shape[3] - left)
    if r1 > r0 and c1 > c0:
        xp[:, :, top + r0:top + r1, left + c0:left + c1] = x[:, :, r0:r1, c0:c1]


# ============================================================================ fully connected

def linear(x: np.ndarray, w: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = x W^T for x of shape (N, I) and row-major W of shape (O, I); returns (N, O), written
    into ``out`` (N, O) when given."""
    return _matmul_into(x, w.T, out)


def linear_backward(x: Optional[np.ndarray], dz: np.ndarray, w: np.ndarray,
                    input_grad: bool, weights_grad: bool, dx_out: Optional[np.ndarray] = None):
    """(dx, dW) of linear: dx = dz W (N, I), written into ``dx_out`` when given; dW = dz^T x
    (O, I), summed over the batch."""
    dx = _matmul_into(dz, w, dx_out) if input_grad else None
    dw = _matmul_into(dz.T, given(x, "weights_grad needs the forward input x"), None) if weights_grad else None
    return dx, dw


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for 2-D operands, a big product's rows shared over the kernel pool (the attention
    and LSTM kernels' projections use it too)."""
    return _matmul_into(a, b, None)


def _matmul_into(a: np.ndarray, b: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
    """a @ b, written into ``out`` when given (else a new array). Big products are cut into row
    ranges of a shared over the cores, each thread's BLAS on one core (see _over_samples)."""
    item = np.result_type(a, b).itemsize
    total = (a.size + b.size + a.shape[0] * b.shape[1]) * item
    if parallel.workers_for(a.shape[0], total) == 1:
        with blas.one_thread():      # too small to share: OpenBLAS's own threads would only spin
            return a @ b if out is None else _matmul_rows(a, b, out)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))

    def rows(lo: int, hi: int) -> None:
        with blas.one_thread():
            _matmul_rows(a[lo:hi], b, out[lo:hi])

    parallel.for_ranges(a.shape[0], total, rows)
    return out


def _matmul_rows(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = a @ b: by BLAS straight into out when it is a matrix with unit inner stride
    (matmul's own ``out=`` leaves BLAS for strided outputs), else one copy. A transposed view
    (a weight gradient's inputs^T) goes to BLAS as it is: copying it costs more than the product."""
    if (out.ndim == 2 and blas.dtype_supported(out.dtype) and a.dtype == b.dtype == out.dtype
            and _matrix_view(out, out.shape) is not None and out.flags.writeable):
        a2, transpose_a = a, False
        if _matrix_view(a, a.shape) is None:
            a2, transpose_a = (a.T, True) if _matrix_view(a.T, a.T.shape) is not None else (np.ascontiguousarray(a), False)
        if _matrix_view(b, b.shape) is not None:
            blas.gemm(a2, b, out, beta=0.0, transpose_a=transpose_a)
        elif _matrix_view(b.T, b.T.shape) is not None:
            blas.gemm(a2, b.T, out, beta=0.0, transpose_a=transpose_a, transpose_b=True)
        else:
            blas.gemm(a2, np.ascontiguousarray(b), out, beta=0.0, transpose_a=transpose_a)
        return out
    np.copyto(out, a @ b)
    return out


# ============================================================================ filters

class _AffineFilter:
    """What convolution, transposed convolution and fully connected share: weights held in the
    layout they were given in, an optional bias, a fused activation, and the backward chain
    dL/dy -> dL/dz (activation derivative from y) -> the layer's own adjoint."""

    kind = "affine"
    input_desc: Descriptor
    output_desc: Descriptor
    activation: Activation
    weights_storage: np.ndarray
    _linear_part: Callable[..., np.ndarray]           # each subclass's linear map
    _linear_backward: Callable[..., tuple]            # and its adjoint: (d_in, d_weights)

    def _init_bias_activation(self, bias: Optional[Descriptor], activation: Activation, channels: int):
        act_mod.validate(activation, "activation")
        self.activation = activation
        self.bias = None
        if bias is not None and bias.data is not None:
            b = bias.tensor("bias").reshape(-1)
            require(b.size == channels,
                    lambda: f"bias has {b.size} values but the output has {channels} channels")
            require(bool(np.all(np.isfinite(b))), "bias contains NaN or infinite values")
            self.bias = np.array(b, dtype=np.float32, order="C")   # the filter's own, writable copy

    def parameters(self) -> dict:
        """The trainable arrays, in the layout they were given in (shared, not copies)."""
        params = {"weights": self.weights_storage}
        if self.bias is not None:
            params["bias"] = self.bias
        return params

    @property
    def bytes_held(self) -> int:
        return sum(a.nbytes for a in self.parameters().values())

    def _add_bias(self, z: np.ndarray) -> np.ndarray:
        """z + bias in place, the bias along the channel axis (axis 1)."""
        if self.bias is not None:
            z += self.bias.reshape((1, -1) + (1,) * (z.ndim - 2))
        return z

    def _finish(self, z: np.ndarray) -> np.ndarray:
        """y = act(z + bias), in place in z (the kernel's own buffer or the caller's ``out``)."""
        z = self._add_bias(z)
        if act_mod.is_identity(self.activation):
            return z
        if self.activation.function == act_mod.RECTIFIED_LINEAR:
            return np.maximum(z, 0, out=z)
        np.copyto(z, act_mod.forward(z, self.activation))
        return z

    def _output_grad_to_preactivation(self, x, y, d_out):
        """dL/dz from dL/dy: from y when the activation allows (BNNS), else from a recomputed z."""
        if act_mod.is_identity(self.activation):
            return d_out
        if y is not None and act_mod.can_backward_from_output(self.activation):
            return act_mod.backward(d_out, self.activation, y=y)
        require(x is not None, lambda: f"the backward of a {self.kind} with activation "
                f"{act_mod.kind_of(self.activation.function).name} needs the input to recompute the pre-activation")
        return act_mod.backward(d_out, self.activation, x=self._add_bias(self._linear_part(x)))

    def apply(self, x: np.ndarray, *, out: Optional[np.ndarray] = None) -> np.ndarray:
        """y = act(layer(x) + bias) for a batch x of shape (N, *input_desc.shape).

        out : optional float array of shape (N, *output_desc.shape), possibly a strided view; the
            result is written into it (by the GEMM itself where the layout allows, else with one
            final copy) and it is returned.
        """
        if out is not None:
            require_out(out, (x.shape[0],) + self.output_desc.shape, "out")
            if np.may_share_memory(out, x):     # the GEMMs would overwrite input they still read
                np.copyto(out, self.apply(x))
                return out
        y = self._finish(self._linear_part(x, out))
        if out is not None and y is not out:
            np.copyto(out, y)
            return out
        return y

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False,
                       in_delta_out: Optional[np.ndarray] = None):
        """(d_in, d_weights, d_bias); None for what was not asked.

        d_weights is summed over the batch and laid out as the weights were given; d_bias is
        summed over the batch and space. in_delta_out, like ``apply``'s ``out``: an array of shape
        (N, *input_desc.shape) that d_in is written into (and returned as).
        """
        if in_delta_out is not None and input_grad:
            require_out(in_delta_out, (d_out.shape[0],) + self.input_desc.shape, "in_delta_out")
            if any(a is not None and np.may_share_memory(in_delta_out, a) for a in (x, y, d_out)):
                # computed aside first: the GEMMs would overwrite operands they still read
                d_in, d_w, d_b = self.apply_backward(x, y, d_out, input_grad=True, weights_grad=weights_grad,
                                                     bias_grad=bias_grad)
                np.copyto(in_delta_out, d_in)
                return in_delta_out, d_w, d_b
        else:
            in_delta_out = None
        require(not bias_grad or self.bias is not None,
                lambda: f"bias_delta was asked but this {self.kind} filter has no bias")
        if not act_mod.is_identity(self.activation) and y is None and act_mod.can_backward_from_output(self.activation):
            require(x is not None, lambda: f"the backward of a {self.kind} with activation "
                    f"{act_mod.kind_of(self.activation.function).name} needs `out` (or `in` to recompute it)")
        require(not weights_grad or x is not None, "weights_delta needs the forward input `in`")
        dz = self._output_grad_to_preactivation(x, y, d_out)
        d_in, d_w = self._linear_backward(x, dz, input_grad, weights_grad, in_delta_out)
        if in_delta_out is not None and d_in is not in_delta_out:
            np.copyto(in_delta_out, d_in)
            d_in = in_delta_out
        d_b = dz.sum(axis=tuple(i for i in range(dz.ndim) if i != 1)) if bias_grad else None
        return d_in, d_w, d_b


class ConvolutionFilter(_AffineFilter):
    """BNNSFilterCreateLayerConvolution: cross-correlation with bias and a fused activation."""

    kind = "convolution"
    transposed = False

    def __init__(self, params: ConvolutionParameters):
        self.params = params
        self.geometry = geometry(params)
        self.input_desc, self.output_desc = params.i_desc, params.o_desc
        _check_image(params.i_desc, "i_desc")
        _check_image(params.o_desc, "o_desc")
        self.weights_storage, self.weights = _conv_weights(params.w_desc)
        c_in, h, w = params.i_desc.shape
        c_out, ho, wo = params.o_desc.shape
        self._check_channels_and_size(c_in, h, w, c_out, ho, wo)
        self._init_bias_activation(params.bias, params.activation, c_out)

    def _check_channels_and_size(self, c_in, h, w, c_out, ho, wo):
        g = self.geometry.groups
        o, cg, kh, kw = self.weights.shape
        require(c_in % g == 0 and c_out % g == 0,
                lambda: f"groups {g} must divide the input channels {c_in} and the output channels {c_out}")
        require(g == 1 or self.params.w_desc.layout == LAYOUT_CONV_WEIGHTS_OIHW,
                lambda: f"grouped convolution (groups {g}) needs ConvolutionWeightsOIHW weights")
        require((o, cg) == (c_out, c_in // g),
                lambda: f"w_desc.size {tuple(self.params.w_desc.size[:4])} gives {o} output and {cg} input channels "
                f"per group; i_desc has {c_in} channels / {g} groups = {c_in // g} and o_desc has {c_out}")
        expected = self.geometry.output_hw(h, w, kh, kw)
        require(expected[0] >= 1 and expected[1] >= 1,
                lambda: f"the {kw}x{kh} kernel (dilation {self.geometry.dilation[::-1]}) does not fit the padded "
                f"input {w}x{h} with padding {self.geometry.padding} (top, bottom, left, right)")
        require((ho, wo) == expected,
                lambda: f"o_desc.size {tuple(self.params.o_desc.size[:3])} does not match the convolution output "
                f"({expected[1]}, {expected[0]}, {c_out}) for i_desc {tuple(self.params.i_desc.size[:3])}, "
                f"k {kw}x{kh}, stride {self.geometry.stride[::-1]}, dilation {self.geometry.dilation[::-1]}, "
                f"padding {self.geometry.padding} (top, bottom, left, right)")

    def _linear_part(self, x, out=None):
        return conv2d(x, self.weights, self.geometry, out, self.bias)

    def _add_bias(self, z):
        """The bias is added inside conv2d (by each sample's thread while the sample is in cache,
        where a pass over the whole output afterwards would cost as much as a copy of it)."""
        return z

    def _linear_backward(self, x, dz, input_grad, weights_grad, d_in_out=None):
        d_in = (conv2d_backward_input(dz, self.weights, self.geometry, x_hw(self.input_desc), d_in_out)
                if input_grad else None)
        d_w = None
        if weights_grad:
            d_w = _to_weight_layout(
                conv2d_backward_weights(x, dz, self.weights.shape, self.geometry), self.params.w_desc.layout)
        return d_in, d_w


class TransposedConvolutionFilter(_AffineFilter):
    """BNNSFilterCreateLayerTransposedConvolution: the adjoint of a convolution as a forward map.

    With logical weights W (O, I, kH, kW), O the output channels: y = conv2d_backward_input(x,
    W^T) where W^T (I, O, kH, kW) are the weights of the convolution from y-space to x-space.
    """

    kind = "transposed_convolution"
    transposed = True

    def __init__(self, params: ConvolutionParameters):
        self.params = params
        self.geometry = geometry(params)
        self.input_desc, self.output_desc = params.i_desc, params.o_desc
        _check_image(params.i_desc, "i_desc")
        _check_image(params.o_desc, "o_desc")
        require(self.geometry.groups == 1,
                lambda: f"groups {params.groups}: transposed convolution does not support groups (as in BNNS)")
        self.weights_storage, self.weights = _conv_weights(params.w_desc)
        c_in, h, w = params.i_desc.shape
        c_out, ho, wo = params.o_desc.shape
        o, i, kh, kw = self.weights.shape
        require((o, i) == (c_out, c_in),
                lambda: f"w_desc.size {tuple(params.w_desc.size[:4])} gives {o} output and {i} input channels; "
                f"the transposed convolution maps {c_in} input channels (i_desc) to {c_out} (o_desc)")
        back = self.geometry.output_hw(ho, wo, kh, kw)
        ekh, ekw = self.geometry.effective_kernel(kh, kw)
        top, bottom, left, right = self.geometry.padding
        sy, sx = self.geometry.stride
        base = ((h - 1) * sy - top - bottom + ekh, (w - 1) * sx - left - right + ekw)
        require(back == (h, w) and base[0] >= 1 and base[1] >= 1,
                lambda: f"o_desc.size {tuple(params.o_desc.size[:3])} does not match the transposed convolution output "
                f"for i_desc {tuple(params.i_desc.size[:3])}, k {kw}x{kh}, stride ({sx}, {sy}), dilation "
                f"{self.geometry.dilation[::-1]}, padding {self.geometry.padding} (top, bottom, left, right): "
                f"expected width {base[1]}..{base[1] + sx - 1} and height {base[0]}..{base[0] + sy - 1}")
        self._init_bias_activation(params.bias, params.activation, c_out)

    def _conv_weights_t(self):
        return self.weights.swapaxes(0, 1)            # (I, O, kH, kW): conv from y-space to x-space

    def _linear_part(self, x, out=None):
        return conv2d_backward_input(x, np.ascontiguousarray(self._conv_weights_t()), self.geometry,
                                     x_hw(self.output_desc), out)

    def _linear_backward(self, x, dz, input_grad, weights_grad, d_in_out=None):
        w_t = np.ascontiguousarray(self._conv_weights_t())
        d_in = conv2d(dz, w_t, self.geometry, d_in_out) if input_grad else None
        d_w = None
        if weights_grad:
            # The forward is conv2d's input adjoint, so dW^T = conv2d_backward_weights(dz, x).
            d_wt = conv2d_backward_weights(dz, x, w_t.shape, self.geometry)
            d_w = _to_weight_layout(d_wt.swapaxes(0, 1), self.params.w_desc.layout)
        return d_in, d_w


class FullyConnectedFilter(_AffineFilter):
    """BNNSFilterCreateLayerFullyConnected: y = act(W x + b), W row-major O x I."""

    kind = "fully_connected"

    def __init__(self, params: FullyConnectedParameters):
        self.params = params
        self.input_desc, self.output_desc = params.i_desc, params.o_desc
        for name, desc in (("i_desc", params.i_desc), ("o_desc", params.o_desc)):
            desc.validate(name)
            numpy_dtype(desc.data_type, what=f"{name}.data_type")
        n_in, n_out = params.i_desc.element_count, params.o_desc.element_count
        self.weights_storage, self.weights = _fc_weights(params.w_desc)
        require(self.weights.shape == (n_out, n_in),
                lambda: f"w_desc.size {tuple(params.w_desc.size[:2])} gives a {self.weights.shape[0]} x "
                f"{self.weights.shape[1]} (O x I) matrix; i_desc has {n_in} elements and o_desc {n_out}")
        self._init_bias_activation(params.bias, params.activation, n_out)

    def _linear_part(self, x, out=None):
        n = x.shape[0]
        out2 = _matrix_view(out, (n, self.weights.shape[0])) if out is not None else None
        y = linear(x.reshape(n, -1), self.weights, out2)
        return out if out2 is not None else y.reshape((n,) + self.output_desc.shape)

    def _linear_backward(self, x, dz, input_grad, weights_grad, d_in_out=None):
        n = dz.shape[0]
        x2 = x.reshape(n, -1) if x is not None else None
        d_in_2 = _matrix_view(d_in_out, (n, self.weights.shape[1])) if d_in_out is not None else None
        d_in, d_w = linear_backward(x2, dz.reshape(n, -1), self.weights, input_grad, weights_grad, d_in_2)
        if d_in is not None:
            d_in = d_in_out if d_in_2 is not None else d_in.reshape((n,) + self.input_desc.shape)
        if d_w is not None and self.params.w_desc.layout in _COLUMN_MAJOR_LAYOUTS:
            d_w = np.ascontiguousarray(d_w.T)             # column-major weights: W^T storage
        return d_in, d_w

    def _add_bias(self, z):
        """The bias has one value per output element, in o_desc's shape."""
        if self.bias is not None:
            z += self.bias.reshape((1,) + self.output_desc.shape)
        return z

    def apply_backward(self, x, y, d_out, *, input_grad=True, weights_grad=False, bias_grad=False,
                       in_delta_out=None):
        d_b = None
        if bias_grad:       # before d_in, which may be written over d_out (in_delta_out)
            require(self.bias is not None, "bias_delta was asked but this fully_connected filter has no bias")
            dz = self._output_grad_to_preactivation(x, y, d_out)
            d_b = dz.reshape(dz.shape[0], -1).sum(axis=0)
        d_in, d_w, _ = super().apply_backward(x, y, d_out, input_grad=input_grad, weights_grad=weights_grad,
                                              bias_grad=False, in_delta_out=in_delta_out)
        return d_in, d_w, d_b


# ============================================================================ helpers

def x_hw(desc: Descriptor) -> Tuple[int, int]:
    """(H, W) of an ImageCHW descriptor."""
    return desc.shape[1], desc.shape[2]


def geometry(p: ConvolutionParameters) -> ConvGeometry:
    """The stride, dilation, padding (top, bottom, left, right) and groups of ``p``, as BNNS reads
    them: a zero stride, dilation or group count is 1, and ``pad`` (left, right, up, down) applies
    only when x_padding and y_padding are both 0."""
    _check_nonnegative(p)
    if p.x_padding or p.y_padding:
        padding = (p.y_padding, p.y_padding, p.x_padding, p.x_padding)
    else:
        left, right, up, down = (tuple(p.pad) + (0, 0, 0, 0))[:4]
        padding = (up, down, left, right)
    return ConvGeometry(stride=(max(p.y_stride, 1), max(p.x_stride, 1)),
                        dilation=(max(p.y_dilation_stride, 1), max(p.x_dilation_stride, 1)),
                        padding=(int(padding[0]), int(padding[1]), int(padding[2]), int(padding[3])),
                        groups=max(int(p.groups), 1))


def _check_nonnegative(p: ConvolutionParameters) -> None:
    values = dict(x_stride=p.x_stride, y_stride=p.y_stride, x_dilation_stride=p.x_dilation_stride,
                  y_dilation_stride=p.y_dilation_stride, x_padding=p.x_padding, y_padding=p.y_padding,
                  groups=p.groups)
    for name, value in values.items():
        require(0 <= int(value) < 2**20, lambda: f"{name} {value} must be between 0 and 2**20")
    require(len(p.pad) in (0, 4), lambda: f"pad has {len(p.pad)} values; BNNS takes 4 (left, right, up, down)")
    require(all(0 <= int(v) < 2**20 for v in p.pad), lambda: f"pad {tuple(p.pad)} must be non-negative and below 2**20")


def _check_image(desc: Descriptor, name: str) -> None:
    require(desc.layout == LAYOUT_IMAGE_CHW,
            lambda: f"{name}.layout {desc.layout:#x} must be ImageCHW (0x30000) for a convolution")
    desc.validate(name)
    numpy_dtype(desc.data_type, what=f"{name}.data_type")


def _conv_weights(desc: Descriptor):
    """(storage, logical): the weights as given (C order of the layout's NumPy shape, a private
    float32 copy) and a view of them as logical OIHW."""
    require(desc.layout in (LAYOUT_CONV_WEIGHTS_OIHW, LAYOUT_CONV_WEIGHTS_OIHRWR, LAYOUT_CONV_WEIGHTS_IOHRWR),
            lambda: f"w_desc.layout {desc.layout:#x} must be ConvolutionWeightsOIHW (0x40000), OIHrWr (0x40001) or "
            f"IOHrWr (0x40002)")
    storage = np.array(desc.tensor("w_desc"), dtype=np.float32, order="C")
    require(bool(np.all(np.isfinite(storage))), "w_desc.data contains NaN or infinite values")
    return storage, _from_weight_layout(storage, desc.layout)


def _from_weight_layout(storage: np.ndarray, layout: int) -> np.ndarray:
    if layout == LAYOUT_CONV_WEIGHTS_OIHRWR:
        return storage[:, :, ::-1, ::-1]
    if layout == LAYOUT_CONV_WEIGHTS_IOHRWR:
        return storage.swapaxes(0, 1)[:, :, ::-1, ::-1]
    return storage


def _to_weight_layout(logical: np.ndarray, layout: int) -> np.ndarray:
    """Inverse of _from_weight_layout (both are their own inverses up to the axis swap)."""
    return np.ascontiguousarray(_from_weight_layout(logical, layout))


_COLUMN_MAJOR_LAYOUTS = (LAYOUT_COLUMN_MAJOR_MATRIX, LAYOUT_2D_LAST_MAJOR)
_FC_WEIGHT_LAYOUTS = (LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_2D_FIRST_MAJOR, LAYOUT_COLUMN_MAJOR_MATRIX, LAYOUT_2D_LAST_MAJOR)


def _fc_weights(desc: Descriptor):
    """(storage, logical O x I). RowMajorMatrix size (I, O) and 2DFirstMajor size (O, I) store
    W row-major; ColumnMajorMatrix / 2DLastMajor size (O, I) store it column-major."""
    require(desc.layout in _FC_WEIGHT_LAYOUTS,
            lambda: f"w_desc.layout {desc.layout:#x} must be a matrix: RowMajorMatrix (0x20000), ColumnMajorMatrix "
            f"(0x20001), 2DLastMajor (0x28000) or 2DFirstMajor (0x28001)")
    storage = np.array(desc.tensor("w_desc"), dtype=np.float32, order="C")
    require(bool(np.all(np.isfinite(storage))), "w_desc.data contains NaN or infinite values")
    if desc.layout in _COLUMN_MAJOR_LAYOUTS:
        return storage, storage.T
    return storage, storage
