"""The error vocabulary, re-exported for the kernels: it lives in ``bnns.errors`` (errors/), where
the kernels, the core, both doors and the SDK import it from."""

from bnns.errors import (BNNSError, CancelledError, ERRORS_BY_STATUS, FailedPreconditionError,  # noqa: F401
                         InternalError, InvalidArgumentError, NotFoundError, PermissionDeniedError,
                         ResourceExhaustedError, UnauthenticatedError, UnimplementedError, error_for_status,
                         require)

__all__ = ["BNNSError", "CancelledError", "ERRORS_BY_STATUS", "FailedPreconditionError", "InternalError",
           "InvalidArgumentError", "NotFoundError", "PermissionDeniedError", "ResourceExhaustedError",
           "UnauthenticatedError", "UnimplementedError", "error_for_status", "require"]
