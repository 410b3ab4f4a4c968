"""The error vocabulary, re-exported for the kernels: it lives in ``bnns.errors`` (errors/), where
the kernels, the core, both doors and the SDK import it from; plus the kernels' own check of a
caller's output buffer."""

import numpy as np

from bnns.errors import (BNNSError, CancelledError, DeadlineError, ERRORS_BY_STATUS,  # noqa: F401
                         FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError,
                         PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError, UnavailableError,
                         UnimplementedError, error_for_status, given, require)

__all__ = ["BNNSError", "CancelledError", "ERRORS_BY_STATUS", "FailedPreconditionError", "InternalError",
           "InvalidArgumentError", "NotFoundError", "PermissionDeniedError", "ResourceExhaustedError",
           "UnauthenticatedError", "UnavailableError", "DeadlineError", "UnimplementedError", "error_for_status",
           "given", "require", "require_out"]


def require_out(out, shape: tuple, name: str) -> None:
    """A caller's output buffer (``out=``): a writable floating-point ndarray of exactly ``shape``,
    any strides."""
    dtype = getattr(out, "dtype", None)
    require(isinstance(out, np.ndarray) and out.dtype.kind == "f",      # (np.floating's types, without its cost)
            lambda: f"{name} must be a floating-point ndarray, got {type(out).__name__} {dtype or ''}".rstrip())
    require(tuple(out.shape) == tuple(shape), lambda: f"{name} has shape {tuple(out.shape)}; expected {tuple(shape)}")
    require(out.flags.writeable, lambda: f"{name} is read-only")
