"""The error vocabulary, re-exported for the kernels: it lives in ``bnns.errors`` (errors/), where
the kernels, the core, both doors and the SDK import it from."""

from bnns.errors import (BNNSError, CancelledError, DeadlineError, ERRORS_BY_STATUS,  # noqa: F401
                         FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError,
                         PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError, UnavailableError,
                         UnimplementedError, error_for_status, require)

__all__ = ["BNNSError", "CancelledError", "ERRORS_BY_STATUS", "FailedPreconditionError", "InternalError",
           "InvalidArgumentError", "NotFoundError", "PermissionDeniedError", "ResourceExhaustedError",
           "UnauthenticatedError", "UnavailableError", "DeadlineError", "UnimplementedError", "error_for_status",
           "require"]
