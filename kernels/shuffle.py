"""BNNSShuffle (macOS 13): pixel shuffle / unshuffle (depth-to-space / space-to-depth, CRD order).

    PixelShuffleNCHW / DepthToSpaceNCHW (upscale r):
        x (N, C*r*r, H, W) -> y (N, C, H*r, W*r),  y[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]
    PixelUnshuffleNCHW / SpaceToDepthNCHW: the inverse permutation.

Arrays are the logical NumPy views: (C, H, W) for ImageCHW (one image) or (N, C, H, W) for a
4-D descriptor. BNNSShuffle has no factor argument: r is read from the shapes (out H / in H for
a shuffle, in H / out H for an unshuffle) and every extent is checked against it.

Notes
-----
* Apple documents both DepthToSpace and PixelShuffle as "depth-to-space in Column Row Depth (CRD)
  mode", so the two pairs of types compute the same permutations here (PyTorch's PixelShuffle /
  PixelUnshuffle, ONNX DepthToSpace mode="CRD").
* The raw values of BNNSShuffleType are not in the stored documentation: PixelShuffleNCHW 0,
  PixelUnshuffleNCHW 1, DepthToSpaceNCHW 2, SpaceToDepthNCHW 3 (the header's order) is assumed.
* BNNS has no backward: a shuffle is a permutation, so the gradient is the inverse shuffle of
  dL/dy (``shuffle`` with the inverse type).
"""

from __future__ import annotations

import numpy as np

from . import _common as cm
from .errors import require

PIXEL_SHUFFLE_NCHW = 0
PIXEL_UNSHUFFLE_NCHW = 1
DEPTH_TO_SPACE_NCHW = 2
SPACE_TO_DEPTH_NCHW = 3
_UPSCALING = {PIXEL_SHUFFLE_NCHW: True, DEPTH_TO_SPACE_NCHW: True,
              PIXEL_UNSHUFFLE_NCHW: False, SPACE_TO_DEPTH_NCHW: False}


def factor(shuffle_type: int, in_shape: tuple, out_shape: tuple) -> int:
    """The block size r implied by the two shapes, checked."""
    kind = cm.as_int(shuffle_type, "type")
    require(kind in _UPSCALING, f"shuffle type {kind} is not a BNNSShuffleType (0 PixelShuffleNCHW, "
            "1 PixelUnshuffleNCHW, 2 DepthToSpaceNCHW, 3 SpaceToDepthNCHW)")
    require(len(in_shape) in (3, 4) and len(out_shape) == len(in_shape),
            f"BNNSShuffle needs (C, H, W) or (N, C, H, W) tensors of one rank; got input {tuple(in_shape)} "
            f"and output {tuple(out_shape)}")
    small, big = (in_shape, out_shape) if _UPSCALING[kind] else (out_shape, in_shape)
    r = big[-2] // small[-2] if small[-2] else 0
    expected = tuple(small[:-3]) + (small[-3] // (r * r) if r else 0, small[-2] * r, small[-1] * r)
    require(r >= 1 and small[-3] % (r * r) == 0 and tuple(big) == expected,
            f"input {tuple(in_shape)} and output {tuple(out_shape)} are not a shuffle by a whole factor r "
            f"({'(C*r*r, H, W) -> (C, H*r, W*r)' if _UPSCALING[kind] else '(C, H*r, W*r) -> (C*r*r, H, W)'})")
    return r


def shuffle(x: np.ndarray, shuffle_type: int, out_shape: tuple) -> np.ndarray:
    """y of ``out_shape`` (see the module formula)."""
    x = cm.as_float(x)
    r = factor(shuffle_type, x.shape, tuple(out_shape))
    lead = x.shape[:-3]
    if _UPSCALING[int(shuffle_type)]:
        c, h, w = x.shape[-3] // (r * r), x.shape[-2], x.shape[-1]
        # (c, i, j, h, w) -> (c, h, i, w, j)
        y = x.reshape(lead + (c, r, r, h, w)).transpose(tuple(range(len(lead))) + tuple(
            len(lead) + a for a in (0, 3, 1, 4, 2)))
        return np.ascontiguousarray(y).reshape(tuple(out_shape))
    c, h, w = x.shape[-3], x.shape[-2] // r, x.shape[-1] // r
    # (c, h, i, w, j) -> (c, i, j, h, w)
    y = x.reshape(lead + (c, h, r, w, r)).transpose(tuple(range(len(lead))) + tuple(
        len(lead) + a for a in (0, 2, 4, 1, 3)))
    return np.ascontiguousarray(y).reshape(tuple(out_shape))
