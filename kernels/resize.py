"""BNNS resize filter (bnns.md 2.1 BNNSLayerParametersResize; Apple's bnns_structures.h comment).

Resizes every dimension whose size differs between i_desc and o_desc (the header: "Resize is only
performed in dimensions where tensor sizes differ"), separably, by one interpolation matrix per
resized dimension (out x in):

    Nearest (0)                        y[o] = x[src(o)]
    Linear  (1)                        y[o] = (1 - t) x[floor(s)] + t x[floor(s) + 1],  t = s - floor(s)

with the source coordinate s of output index o (PyTorch's ``F.interpolate`` rules):

    align_corners false    s = (o + 0.5) * in / out - 0.5, clamped at 0 (linear);
                           src(o) = floor(o * in / out) (nearest, PyTorch's "nearest")
    align_corners true     s = o * (in - 1) / (out - 1)   (0 when out == 1);
                           src(o) = round(s) (nearest: TensorFlow 1's align_corners rule)

Several resized dimensions give bilinear / trilinear interpolation. Backward is the adjoint: each
output gradient is sent back to the inputs it was interpolated from, with the same weights.

``BNNSFilterCreateLayerResize`` + ``BNNSFilterApplyBatch`` / ``BNNSFilterApplyBackwardBatch``.

Notes
-----
* The header requires the resized dimensions to all upsample or all downsample and says output
  sizes "must be an integral multiple" of the input's; here upsampled sizes must be integral
  multiples of the input's and downsampled input sizes integral multiples of the output's.
* The interpolation formulas are PyTorch's (and TensorFlow 1's nearest with align_corners), not
  confirmed on BNNS.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _common as cm
from .errors import require
from .layout import Descriptor
from .params import CropResizeParameters, ResizeParameters

NEAREST, LINEAR = 0, 1                     # BNNSInterpolationMethod
METHOD_NAMES = {NEAREST: "Nearest", LINEAR: "Linear"}


# ---------------------------------------------------------------------------------------- kernels
def interpolation_matrix(size_in: int, size_out: int, method: int, align_corners: bool) -> np.ndarray:
    """(size_out, size_in) float64 weights: y = M @ x along one dimension."""
    o = np.arange(size_out, dtype=np.float64)
    if align_corners:
        s = o * ((size_in - 1) / (size_out - 1)) if size_out > 1 else np.zeros(size_out)
    elif method == LINEAR:
        s = np.maximum((o + 0.5) * (size_in / size_out) - 0.5, 0.0)
    else:
        s = o * (size_in / size_out)
    return sampling_matrix(s, size_in, method, round_nearest=align_corners)


def sampling_matrix(s: np.ndarray, size_in: int, method: int, round_nearest: bool = True) -> np.ndarray:
    """(len(s), size_in) float64 weights sampling x at source coordinates ``s`` (in [0, size_in - 1]):
    Nearest takes x[round(s)] (x[floor(s)] without ``round_nearest``), Linear interpolates
    between x[floor(s)] and x[floor(s) + 1]."""
    m = np.zeros((s.size, size_in))
    rows = np.arange(s.size)
    if method == NEAREST:
        src = np.floor(s + 0.5) if round_nearest else np.floor(s)
        m[rows, np.clip(src.astype(int), 0, size_in - 1)] = 1.0
        return m
    lo = np.clip(np.floor(s).astype(int), 0, size_in - 1)
    hi = np.minimum(lo + 1, size_in - 1)
    t = s - lo
    np.add.at(m, (rows, lo), 1 - t)
    np.add.at(m, (rows, hi), t)
    return m


def resize(x: np.ndarray, matrices: dict) -> np.ndarray:
    """x (N, ...) with matrices {axis: (out, in)} applied along their axes."""
    for axis, m in matrices.items():
        x = cm.apply_along(x, axis, m)
    return x


def resize_backward(d_out: np.ndarray, matrices: dict) -> np.ndarray:
    """The adjoint of :func:`resize`."""
    g = d_out
    for axis, m in reversed(list(matrices.items())):
        g = cm.apply_along(g, axis, m.T)
    return g


# ---------------------------------------------------------------------------------------- filter
class ResizeFilter:
    """Nearest or (multi)linear resize of the dimensions whose sizes differ."""

    kind = "resize"

    def __init__(self, params: ResizeParameters):
        self.params = p = params
        method = cm.as_int(p.method, "method")
        require(method in METHOD_NAMES, f"method {method} is not a BNNSInterpolationMethod (Nearest 0, Linear 1)")
        self.method = method
        self.align_corners = bool(p.align_corners)
        in_shape = cm.check_desc(p.i_desc, "i_desc")
        out_shape = cm.check_desc(p.o_desc, "o_desc")
        rank = p.i_desc.rank
        require(p.o_desc.rank == rank, f"o_desc has rank {p.o_desc.rank} but i_desc has rank {rank}")
        in_size = tuple(int(s) for s in p.i_desc.size[:rank])
        out_size = tuple(int(s) for s in p.o_desc.size[:rank])
        resized = [d for d in range(rank) if in_size[d] != out_size[d]]
        up = [d for d in resized if out_size[d] > in_size[d]]
        require(len(up) in (0, len(resized)),
                f"o_desc.size {out_size} upsamples some dimensions of i_desc.size {in_size} and downsamples "
                f"others; BNNS resizes all one way")
        for d in resized:
            big, small = max(in_size[d], out_size[d]), min(in_size[d], out_size[d])
            require(big % small == 0,
                    f"dimension {d}: size {in_size[d]} -> {out_size[d]} is not an integral scale "
                    f"(i_desc.size {in_size}, o_desc.size {out_size})")
        self.resized_dims = tuple(resized)
        self._matrices = {1 + d: interpolation_matrix(in_size[d], out_size[d], method, self.align_corners)
                          for d in resized}
        self._in_shape, self._out_shape = in_shape, out_shape

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    def parameters(self) -> dict:
        return {}

    def apply(self, x: np.ndarray) -> np.ndarray:
        """x (N, *i_desc.shape) -> y (N, *o_desc.shape)."""
        x = cm.batch(x, self._in_shape, "x")
        y = resize(cm.to_dims(x, self.params.i_desc), self._matrices)
        return cm.from_dims(y, self.params.o_desc)

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False):
        """(d_in (N, *i_desc.shape), None, None) from d_out (N, *o_desc.shape); x and y not read."""
        cm.no_weight_gradients(self.kind, weights_grad, bias_grad)
        d_out = cm.batch(d_out, self._out_shape, "d_out")
        if not input_grad:
            return None, None, None
        g = resize_backward(cm.to_dims(d_out, self.params.o_desc), self._matrices)
        return cm.from_dims(g, self.params.i_desc), None, None


# ------------------------------------------------------------------------------ crop and resize
# BNNSCropResize / BNNSCropResizeBackward (bnns.md 4): each region of interest of an image, resized
# to the output's spatial size with the sampling matrices above. Conventions chosen where Apple's
# documentation is silent (README "Conventions"): TensorFlow's crop_and_resize, with Core ML's
# sampling modes.
(SAMPLING_DEFAULT, SAMPLING_ALIGN_CORNERS, SAMPLING_UNALIGN_CORNERS, SAMPLING_STRICT_ALIGN_CORNERS,
 SAMPLING_OFFSET_CORNERS) = range(5)                                     # BNNSLinearSamplingMode
CORNERS_HEIGHT_FIRST, CORNERS_WIDTH_FIRST, CENTER_SIZE_HEIGHT_FIRST, CENTER_SIZE_WIDTH_FIRST = range(4)
SAMPLING_NAMES = {SAMPLING_DEFAULT: "Default", SAMPLING_ALIGN_CORNERS: "AlignCorners",
                  SAMPLING_UNALIGN_CORNERS: "UnalignCorners", SAMPLING_STRICT_ALIGN_CORNERS: "StrictAlignCorners",
                  SAMPLING_OFFSET_CORNERS: "OffsetCorners"}
BOX_NAMES = {CORNERS_HEIGHT_FIRST: "CornersHeightFirst", CORNERS_WIDTH_FIRST: "CornersWidthFirst",
             CENTER_SIZE_HEIGHT_FIRST: "CenterSizeHeightFirst", CENTER_SIZE_WIDTH_FIRST: "CenterSizeWidthFirst"}


def crop_positions(start: float, end: float, count: int, mode: int) -> np.ndarray:
    """Source coordinates of ``count`` samples of the box edge [start, end] (pixel units).

    Default / AlignCorners: start + o (end - start) / (count - 1), the middle when count is 1
    (TensorFlow); StrictAlignCorners: the same, but start when count is 1; UnalignCorners:
    start + (o + 0.5) (end - start) / count - 0.5 (half-pixel centres); OffsetCorners:
    start + (o + 0.5) (end - start) / count (ROI Align's bin centres)."""
    o = np.arange(count, dtype=np.float64)
    if mode in (SAMPLING_DEFAULT, SAMPLING_ALIGN_CORNERS, SAMPLING_STRICT_ALIGN_CORNERS):
        if count == 1:
            return np.array([start if mode == SAMPLING_STRICT_ALIGN_CORNERS else (start + end) / 2])
        return start + o * (end - start) / (count - 1)
    if mode == SAMPLING_UNALIGN_CORNERS:
        return start + (o + 0.5) * (end - start) / count - 0.5
    return start + (o + 0.5) * (end - start) / count


class CropResize:
    """Crops and resizes boxes of images: x (N, C, H, W), roi (B, 5) rows [image index, 4 box
    coordinates] (or (B, 4): image 0) -> y (B, C, crop_h, crop_w). Samples outside the image
    ([0, H - 1] x [0, W - 1]) take extrapolation_value (and send no gradient)."""

    def __init__(self, params: CropResizeParameters):
        self.params = p = params
        require(p.method in METHOD_NAMES, f"method {p.method} is not a BNNSInterpolationMethod (Nearest 0, Linear 1)")
        require(p.sampling_mode in SAMPLING_NAMES, f"sampling_mode {p.sampling_mode} is not a BNNSLinearSamplingMode "
                f"(0..4)")
        require(p.box_coordinate_mode in BOX_NAMES, f"box_coordinate_mode {p.box_coordinate_mode} is not a "
                f"BNNSBoxCoordinateMode (0..3)")
        self.spatial_scale = cm.as_real(p.spatial_scale, "spatial_scale")
        self.extrapolation_value = cm.as_real(p.extrapolation_value, "extrapolation_value")

    def _boxes(self, roi: np.ndarray, n: int, h: int, w: int) -> list:
        """[(image index, (y0, y1), (x0, x1))] in pixel units, per box."""
        require(roi.ndim == 2 and roi.shape[1] in (4, 5),
                f"roi has shape {roi.shape}; expected (boxes, 5) rows [image index, 4 coordinates] or (boxes, 4)")
        require(bool(np.all(np.isfinite(roi))), "roi contains NaN or infinite values")
        boxes = []
        for k, row in enumerate(roi.astype(np.float64)):
            index = 0.0 if roi.shape[1] == 4 else row[0]
            require(index == int(index) and 0 <= index < n,
                    f"roi[{k}] names image {index:g}; the input has {n} image(s)")
            a, b, c, d = row[-4:] * self.spatial_scale
            mode = self.params.box_coordinate_mode
            if mode in (CORNERS_WIDTH_FIRST, CENTER_SIZE_WIDTH_FIRST):
                a, b, c, d = b, a, d, c                          # now height first
            if mode in (CENTER_SIZE_HEIGHT_FIRST, CENTER_SIZE_WIDTH_FIRST):
                (y0, y1), (x0, x1) = (a - c / 2, a + c / 2), (b - d / 2, b + d / 2)
            else:
                (y0, y1), (x0, x1) = (a, c), (b, d)
            if self.params.normalized_coordinates:
                y0, y1, x0, x1 = y0 * (h - 1), y1 * (h - 1), x0 * (w - 1), x1 * (w - 1)
            boxes.append((int(index), (y0, y1), (x0, x1)))
        return boxes

    def _sampling(self, edge: tuple, count: int, size: int):
        """(the (count, size) sampling matrix, the mask of samples inside the image)."""
        s = crop_positions(edge[0], edge[1], count, self.params.sampling_mode)
        inside = (s >= 0) & (s <= size - 1)
        m = sampling_matrix(np.clip(s, 0, size - 1), size, self.params.method)
        return m * inside[:, None], inside

    def _plans(self, roi, shape, out_hw):
        n, _, h, w = shape
        return [(index, *self._sampling(ys, out_hw[0], h), *self._sampling(xs, out_hw[1], w))
                for index, ys, xs in self._boxes(np.asarray(roi), n, h, w)]

    def apply(self, x: np.ndarray, roi: np.ndarray, out_hw: tuple) -> np.ndarray:
        """x (N, C, H, W), roi (B, 5 | 4) -> (B, C, *out_hw)."""
        x = cm.as_float(x)
        require(x.ndim == 4, f"input has shape {x.shape}; expected (N, C, H, W)")
        plans = self._plans(roi, x.shape, out_hw)
        y = np.empty((len(plans), x.shape[1]) + tuple(out_hw), dtype=x.dtype)
        for b, (index, my, inside_y, mx, inside_x) in enumerate(plans):
            y[b] = (my.astype(x.dtype) @ x[index]) @ mx.T.astype(x.dtype)
            if self.extrapolation_value:
                outside = ~(inside_y[:, None] & inside_x[None, :])
                y[b][:, outside] = self.extrapolation_value
        return y

    def apply_backward(self, roi: np.ndarray, d_out: np.ndarray, in_shape: tuple) -> np.ndarray:
        """dL/dx (N, C, H, W) from d_out (B, C, crop_h, crop_w): each box's gradient sent back
        through its sampling matrices (the adjoint), summed where boxes overlap."""
        d_out = cm.as_float(d_out)
        require(d_out.ndim == 4, f"out_delta has shape {d_out.shape}; expected (boxes, C, crop_h, crop_w)")
        plans = self._plans(roi, in_shape, d_out.shape[2:])
        require(len(plans) == d_out.shape[0], f"out_delta has {d_out.shape[0]} boxes; roi has {len(plans)}")
        dx = np.zeros(in_shape, dtype=d_out.dtype)
        for b, (index, my, _, mx, _) in enumerate(plans):
            dx[index] += (my.T.astype(d_out.dtype) @ d_out[b]) @ mx.astype(d_out.dtype)
        return dx
