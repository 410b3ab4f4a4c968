"""Checks shared by the layer modules added for issue 12 (dropout, contraction, permute, attention,
embedding, reduction, clipping, padding, resize, lstm): descriptors, batches, numbers, axes.

Every helper raises :class:`errors.InvalidArgumentError` with the argument's name and value.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .errors import FailedPreconditionError, given, require
from .layout import FIRST_MAJOR_LAYOUTS, Descriptor, numpy_dtype


def check_desc(desc: Descriptor, name: str) -> tuple:
    """Validate a float descriptor; return its logical NumPy shape."""
    require(isinstance(desc, Descriptor), f"{name} must be a Descriptor, got {type(desc).__name__}")
    desc.validate(name)
    numpy_dtype(desc.data_type, what=f"{name}.data_type")
    return desc.shape


def as_float(a) -> np.ndarray:
    """float64 stays float64 (gradient checks); everything else computes in float32."""
    a = np.asarray(a)
    return a if a.dtype == np.float64 else a.astype(np.float32, copy=False)


def batch(a, shape: tuple, name: str, batch_size: Optional[int] = None, *, convert: bool = True) -> np.ndarray:
    """``a`` checked to be (N, *shape) with N >= 1 (and N == batch_size when given)."""
    a = np.asarray(a)
    shape = tuple(shape)
    require(a.ndim == len(shape) + 1 and tuple(a.shape[1:]) == shape and a.shape[0] >= 1,
            f"{name} has shape {a.shape}; expected (N, *{shape}) with N >= 1")
    require(batch_size is None or a.shape[0] == batch_size,
            f"{name} has batch size {a.shape[0]}, expected {batch_size}")
    return as_float(a) if convert else a


def same_batch(n_saved: int, n: int, name: str, what: str) -> None:
    """FailedPrecondition when a backward's batch differs from the forward it relies on."""
    if n != n_saved:
        raise FailedPreconditionError(
            f"{name} has batch size {n} but the last training forward of this {what} had batch size "
            f"{n_saved}; backward must follow a forward of the same batch", reason="NO_TRAINING_FORWARD")


def finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def as_int(value, name: str, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """An integer (not a bool) within [minimum, maximum]."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    require(ok, f"{name} {value!r} must be an integer")
    value = int(value)
    require(minimum is None or value >= minimum, f"{name} {value} must be >= {minimum}")
    require(maximum is None or value <= maximum, f"{name} {value} must be <= {maximum}")
    return value


def as_real(value, name: str, minimum: Optional[float] = None, maximum: Optional[float] = None,
            *, open_max: bool = False) -> float:
    """A finite float within [minimum, maximum] (or [minimum, maximum) with open_max)."""
    require(not isinstance(value, bool) and finite(value), f"{name} {value!r} must be a finite number")
    value = float(value)
    require(minimum is None or value >= minimum, f"{name} {value} must be >= {minimum}")
    if maximum is not None:
        if open_max:
            require(value < maximum, f"{name} {value} must be < {maximum}")
        else:
            require(value <= maximum, f"{name} {value} must be <= {maximum}")
    return value


def dim_to_axis(desc: Descriptor, dim: int) -> int:
    """The logical NumPy axis (of one item) that BNNS dimension ``dim`` (index into size[]) is.

    Natural layouts pair size[0] with the fastest (last) axis; FirstMajor keeps size[] in
    logical order (bnns.md 1.2, layout.py).
    """
    rank = desc.rank
    return dim if desc.layout in FIRST_MAJOR_LAYOUTS else rank - 1 - dim


def weights(desc: Optional[Descriptor], name: str, shape: Optional[tuple] = None) -> np.ndarray:
    """A descriptor's data as the filter's own float32 array of its logical shape (or ``shape``,
    when only the element count has to agree); finite values only."""
    desc = given(desc, f"{name} has no data")
    require(desc.data is not None, f"{name} has no data")
    values = desc.tensor(name)
    if shape is not None:
        require(values.size == math.prod(shape),
                f"{name} has {values.size} values ({desc.describe()}) but {math.prod(shape)} are "
                f"needed (shape {tuple(shape)})")
        values = values.reshape(shape)
    require(bool(np.all(np.isfinite(values))), f"{name} contains NaN or infinite values")
    return np.array(values, dtype=np.float32)


def no_weight_gradients(kind: str, weights_grad: bool, bias_grad: bool) -> None:
    """The generic backward's weights_delta / bias_delta for a filter that has none."""
    require(not weights_grad, f"weights_delta was asked but a {kind} filter has no weights")
    require(not bias_grad, f"bias_delta was asked but a {kind} filter has no bias")


def dims_axes(desc: Descriptor) -> tuple:
    """NumPy axes of one item of ``desc`` in BNNS dimension order (size[0] first)."""
    return tuple(dim_to_axis(desc, k) for k in range(desc.rank))


def to_dims(a: np.ndarray, desc: Descriptor) -> np.ndarray:
    """(N, *desc.shape) -> (N, size[0], size[1], ...): a view with the axes in BNNS order."""
    return np.transpose(a, (0,) + tuple(1 + ax for ax in dims_axes(desc)))


def from_dims(a: np.ndarray, desc: Descriptor) -> np.ndarray:
    """(N, size[0], size[1], ...) -> (N, *desc.shape), contiguous."""
    dims = dims_axes(desc)
    return np.ascontiguousarray(np.transpose(a, (0,) + tuple(1 + dims.index(ax) for ax in range(len(dims)))))


def apply_along(x: np.ndarray, axis: int, matrix: np.ndarray) -> np.ndarray:
    """y with y[..., o, ...] = sum_i matrix[o, i] * x[..., i, ...] along ``axis`` (a linear map of
    one axis, e.g. an interpolation or a padding; its adjoint is ``matrix.T``)."""
    moved = np.moveaxis(x, axis, -1)
    y = moved @ matrix.T.astype(x.dtype, copy=False)
    return np.ascontiguousarray(np.moveaxis(y, -1, axis))
