"""BNNSBandPart (macOS 13): keep a band of diagonals of the innermost matrices, zero the rest.

    y[..., m, n] = x[..., m, n]  if (num_lower < 0 or m - n <= num_lower)
                                and (num_upper < 0 or n - m <= num_upper)
                   0             otherwise

Arrays are the descriptors' logical NumPy views: the matrix is the last two axes, (rows, columns),
e.g. RowMajorMatrix size (cols, rows). Apple: "num_lower ... negative to copy the entire lower
triangle", likewise num_upper (TensorFlow's ``tf.linalg.band_part``).

Notes
-----
* BNNS has no backward for it; it is linear, so dL/dx = band_part(dL/dy) (``band_part`` again).
* A rank-1 tensor is refused: a band needs a matrix.
"""

from __future__ import annotations

import numpy as np

from . import _common as cm
from .errors import require


def band_mask(rows: int, cols: int, num_lower: int, num_upper: int) -> np.ndarray:
    """bool (rows, cols): True inside the band."""
    m = np.arange(rows)[:, None]
    n = np.arange(cols)[None, :]
    return ((num_lower < 0) | (m - n <= num_lower)) & ((num_upper < 0) | (n - m <= num_upper))


def band_part(x: np.ndarray, num_lower: int, num_upper: int) -> np.ndarray:
    """y shaped as x (rank >= 2): x inside the band, 0 outside."""
    lower = cm.as_int(num_lower, "num_lower", -2**31, 2**31 - 1)
    upper = cm.as_int(num_upper, "num_upper", -2**31, 2**31 - 1)
    x = cm.as_float(x)
    require(x.ndim >= 2, f"BNNSBandPart needs a matrix (rank >= 2); input has shape {x.shape}")
    return np.where(band_mask(x.shape[-2], x.shape[-1], lower, upper), x, x.dtype.type(0))
