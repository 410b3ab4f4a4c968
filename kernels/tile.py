"""BNNSTile and BNNSTileBackward (macOS 13): repeat a tensor along every axis.

    BNNSTile(input, output)               y[i] = x[i mod x.shape]       (per axis)
    BNNSTileBackward(in_delta, out_delta) dL/dx[j] = sum over tiles t of dL/dy[t * x.shape + j]

Arrays are the descriptors' logical NumPy views (layout.py); output and input have the same rank
and each output extent is a whole multiple of the input's (the multiples are read from the two
shapes, as BNNS's signature has no other argument).

Notes
-----
* A multiple of 1 copies that axis; output == input shape is a copy (TensorFlow's ``tf.tile``
  with ``multiples = y.shape / x.shape``).
"""

from __future__ import annotations

import numpy as np

from . import _common as cm
from .errors import require


def multiples(in_shape: tuple, out_shape: tuple) -> tuple:
    """out_shape / in_shape per axis, checked to be whole numbers >= 1."""
    require(len(in_shape) == len(out_shape),
            f"input has rank {len(in_shape)} {tuple(in_shape)} but output has rank {len(out_shape)} "
            f"{tuple(out_shape)}; BNNSTile keeps the rank")
    for axis, (i, o) in enumerate(zip(in_shape, out_shape)):
        require(o % i == 0, f"output extent {o} on axis {axis} is not a multiple of the input extent {i} "
                f"(input {tuple(in_shape)}, output {tuple(out_shape)})")
    return tuple(o // i for i, o in zip(in_shape, out_shape))


def tile(x: np.ndarray, out_shape: tuple) -> np.ndarray:
    """y of ``out_shape``: x repeated ``out_shape / x.shape`` times along each axis."""
    x = cm.as_float(x)
    return np.tile(x, multiples(x.shape, tuple(out_shape)))


def tile_backward(d_out: np.ndarray, in_shape: tuple) -> np.ndarray:
    """dL/dx of ``in_shape`` from dL/dy: the sum of dL/dy over the tiles."""
    d_out = cm.as_float(d_out)
    reps = multiples(tuple(in_shape), d_out.shape)
    # (r0, s0, r1, s1, ...) split of each axis, then sum the repetition axes.
    split = tuple(v for r, s in zip(reps, in_shape) for v in (r, s))
    return d_out.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2)))
