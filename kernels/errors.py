"""The one error vocabulary of bnns-rpc.

Kernels, the server core and the SDK raise subclasses of :class:`BNNSError`. Each subclass names
the canonical status it stands for; the transports map that status to a gRPC code and an HTTP
status in one place each (``bnns.server.errors``), and the SDK turns a remote status back into
the same subclass, so local and remote callers catch the same types.
"""

from __future__ import annotations

import numpy as np


class BNNSError(Exception):
    """A BNNS call failed. ``status`` is the canonical (gRPC) status name."""

    status = "UNKNOWN"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgumentError(BNNSError):
    """Bad layer parameters, shapes, strides, data types, sizes or payloads."""

    status = "INVALID_ARGUMENT"


class NotFoundError(BNNSError):
    """Unknown or destroyed filter handle (or one owned by another tenant)."""

    status = "NOT_FOUND"


class FailedPreconditionError(BNNSError):
    """The call is valid but the filter is not in a state to serve it (e.g. a normalization
    backward with no training forward before it)."""

    status = "FAILED_PRECONDITION"


class ResourceExhaustedError(BNNSError):
    """A configured limit (message size, tensor bytes, handles, handle bytes) was exceeded."""

    status = "RESOURCE_EXHAUSTED"


class UnauthenticatedError(BNNSError):
    """Missing or unknown bearer token."""

    status = "UNAUTHENTICATED"


class PermissionDeniedError(BNNSError):
    """The caller is known but may not do this."""

    status = "PERMISSION_DENIED"


class UnimplementedError(BNNSError):
    """A BNNS feature this service does not provide (named in the message)."""

    status = "UNIMPLEMENTED"


class CancelledError(BNNSError):
    """The caller cancelled the call or its deadline passed; nothing was changed."""

    status = "CANCELLED"


ERRORS_BY_STATUS = {
    cls.status: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        FailedPreconditionError,
        ResourceExhaustedError,
        UnauthenticatedError,
        PermissionDeniedError,
        UnimplementedError,
        CancelledError,
    )
}


def error_for_status(status: str, message: str) -> BNNSError:
    """The BNNSError subclass for a canonical status name (BNNSError itself if unknown)."""
    return ERRORS_BY_STATUS.get(status, BNNSError)(message)


def require(condition: bool, message) -> None:
    """Raise InvalidArgumentError(message) unless condition holds. Never stripped by -O.

    ``message`` is a string or a function returning one: checks that run on every call pass
    ``lambda: f"..."`` so that the message (formatting a dtype alone takes microseconds) is only
    built when the check fails."""
    if not condition:
        raise InvalidArgumentError(message() if callable(message) else message)


def require_out(out, shape: tuple, name: str) -> None:
    """A caller's output buffer (``out=``): a writable floating-point ndarray of exactly ``shape``,
    any strides."""
    dtype = getattr(out, "dtype", None)
    require(isinstance(out, np.ndarray) and np.issubdtype(dtype, np.floating),
            lambda: f"{name} must be a floating-point ndarray, got {type(out).__name__} {dtype or ''}".rstrip())
    require(tuple(out.shape) == tuple(shape), lambda: f"{name} has shape {tuple(out.shape)}; expected {tuple(shape)}")
    require(out.flags.writeable, lambda: f"{name} is read-only")
