"""The one error vocabulary of bnns-rpc (import ``bnns.errors``), shared by the kernels, the core,
both front doors and the SDK.

Every failure is a :class:`BNNSError` subclass. Each carries

* ``status``: its canonical status, a gRPC code name (INVALID_ARGUMENT, NOT_FOUND, ...);
* ``reason``: a stable, machine-readable reason in UPPER_SNAKE_CASE, AIP-193's
  ``google.rpc.ErrorInfo.reason`` within the domain ``bnns.v1`` (each subclass has a default,
  and a raise site may name a narrower one from :data:`REASONS`);
* ``message``: for people: it names the argument and echoes the value.

This module is the one map: :data:`REASONS` (reason -> status and what it means) and
:data:`HTTP_STATUSES` (status -> HTTP code). The gRPC door sends the reason as an ErrorInfo in
the status details (grpcio-status), the REST door in the JSON error body, and the SDK reads it
back into the same subclass, so local and remote callers catch the same types and reasons. It
imports neither grpc nor protobuf, so the kernels can use it.
"""

from __future__ import annotations

from typing import Optional, Sequence, TypeVar

T = TypeVar("T")

DOMAIN = "bnns.v1"

# reason -> (status, when). The documentation's error list is generated from this table.
REASONS: dict = {
    "INVALID_ARGUMENT": ("INVALID_ARGUMENT", "bad layer parameters, shapes, strides, data types, sizes or payloads"),
    "MALFORMED_REQUEST": ("INVALID_ARGUMENT", "the body does not parse as the RPC's request message (JSON or "
                                              "protobuf), has an unknown field or a wrong type"),
    "CHUNKED_CALL_MALFORMED": ("INVALID_ARGUMENT", "a ChunkedCall stream that names no RPC, is truncated or has "
                                                   "oversized chunks"),
    "NOT_FOUND": ("NOT_FOUND", "no such object"),
    "FILTER_NOT_FOUND": ("NOT_FOUND", "no live filter with that id (never created, destroyed, or another tenant's)"),
    "TENSOR_NOT_FOUND": ("NOT_FOUND", "no live server tensor with that id"),
    "GENERATOR_NOT_FOUND": ("NOT_FOUND", "no live random generator with that id (BNNSCreateRandomGenerator)"),
    "SHARED_MEMORY_NOT_FOUND": ("NOT_FOUND", "no such shared-memory region or object"),
    "ROUTE_NOT_FOUND": ("NOT_FOUND", "no such REST route or filter method"),
    "FAILED_PRECONDITION": ("FAILED_PRECONDITION", "the call is valid but the object is not in a state to serve it"),
    "NO_TRAINING_FORWARD": ("FAILED_PRECONDITION", "a backward that needs the cache of a training forward came "
                                                   "before any (or for another batch size)"),
    "LIMIT_EXCEEDED": ("RESOURCE_EXHAUSTED", "a configured limit was exceeded"),
    "REQUEST_TOO_LARGE": ("RESOURCE_EXHAUSTED", "the request is over max_message_bytes / max_request_bytes / "
                                                "max_streamed_bytes"),
    "TENSOR_TOO_LARGE": ("RESOURCE_EXHAUSTED", "one tensor is over max_tensor_bytes"),
    "HANDLE_LIMIT": ("RESOURCE_EXHAUSTED", "the tenant holds its maximum number of handles or bytes"),
    "UNAUTHENTICATED": ("UNAUTHENTICATED", "no valid bearer token"),
    "TOKEN_MISSING": ("UNAUTHENTICATED", "no authorization header / metadata"),
    "TOKEN_MALFORMED": ("UNAUTHENTICATED", "the authorization value is not 'Bearer <token>'"),
    "TOKEN_UNKNOWN": ("UNAUTHENTICATED", "the bearer token is not one the server knows"),
    "PERMISSION_DENIED": ("PERMISSION_DENIED", "the caller is known but may not do this"),
    "UNIMPLEMENTED": ("UNIMPLEMENTED", "a BNNS feature or RPC this build does not serve"),
    "METHOD_NOT_ALLOWED": ("UNIMPLEMENTED", "an HTTP method the route does not take"),
    "CANCELLED": ("CANCELLED", "the caller cancelled or its deadline passed before the call ran; nothing changed"),
    "SHUTTING_DOWN": ("UNAVAILABLE", "the server is draining (SIGTERM): retry, on its successor or another replica"),
    "BODY_STALLED": ("DEADLINE_EXCEEDED", "a REST request body stalled past http_body_seconds"),
    "INTERNAL": ("INTERNAL", "a bug: the server log has the details"),
    "UNKNOWN": ("UNKNOWN", "an error with no canonical status"),
}

# status -> HTTP code, for the REST door.
HTTP_STATUSES: dict = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 413,
    "CANCELLED": 499,
    "DEADLINE_EXCEEDED": 408,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "UNKNOWN": 500,
    "UNIMPLEMENTED": 501,
}


class BNNSError(Exception):
    """A BNNS call failed. ``status`` is the canonical (gRPC) status name, ``reason`` the
    machine-readable reason (see :data:`REASONS`), ``metadata`` optional string pairs."""

    status = "UNKNOWN"
    reason = "UNKNOWN"
    # The handles a refused replicated change named (server/replicas.py drops its copies of them).
    handle_ids: Sequence[str] = ()

    def __init__(self, message: str, reason: Optional[str] = None, metadata: Optional[dict] = None):
        super().__init__(message)
        self.message = message
        if reason is not None:
            if REASONS.get(reason, (None,))[0] != self.status:
                raise ValueError(f"reason {reason!r} is not a {self.status} reason of bnns.errors.REASONS")
            self.reason = reason
        self.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}

    @property
    def http_status(self) -> int:
        return HTTP_STATUSES.get(self.status, 500)

    def error_info(self) -> dict:
        """AIP-193 ErrorInfo in proto3 JSON, as the REST error body's ``details`` carries it."""
        return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": self.reason, "domain": DOMAIN,
                "metadata": dict(self.metadata)}

    def body(self) -> dict:
        """The REST error body: {"error": {"status", "code", "message", "details": [ErrorInfo]}}."""
        return {"error": {"status": self.status, "code": self.http_status, "message": self.message,
                          "details": [self.error_info()]}}


class InvalidArgumentError(BNNSError):
    """Bad layer parameters, shapes, strides, data types, sizes or payloads."""

    status = reason = "INVALID_ARGUMENT"


class NotFoundError(BNNSError):
    """Unknown or destroyed handle (or one owned by another tenant)."""

    status = reason = "NOT_FOUND"


class FailedPreconditionError(BNNSError):
    """The call is valid but the filter is not in a state to serve it (e.g. a normalization
    backward with no training forward before it)."""

    status = reason = "FAILED_PRECONDITION"


class ResourceExhaustedError(BNNSError):
    """A configured limit (message size, tensor bytes, handles, handle bytes) was exceeded."""

    status = "RESOURCE_EXHAUSTED"
    reason = "LIMIT_EXCEEDED"


class UnauthenticatedError(BNNSError):
    """Missing or unknown bearer token."""

    status = reason = "UNAUTHENTICATED"


class PermissionDeniedError(BNNSError):
    """The caller is known but may not do this."""

    status = reason = "PERMISSION_DENIED"


class UnimplementedError(BNNSError):
    """A BNNS feature this service does not provide (named in the message)."""

    status = reason = "UNIMPLEMENTED"


class CancelledError(BNNSError):
    """The caller cancelled the call or its deadline passed; nothing was changed."""

    status = reason = "CANCELLED"


class UnavailableError(BNNSError):
    """The server cannot take the call now (it is shutting down); retrying later, or elsewhere,
    is right."""

    status = "UNAVAILABLE"
    reason = "SHUTTING_DOWN"


class DeadlineError(BNNSError):
    """A time limit passed (a stalled upload, say) before the call could run; nothing was changed."""

    status = "DEADLINE_EXCEEDED"
    reason = "BODY_STALLED"


class InternalError(BNNSError):
    """A bug in the service; the message is generic and the log has the trace."""

    status = reason = "INTERNAL"


ERRORS_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgumentError, NotFoundError, FailedPreconditionError, ResourceExhaustedError, UnauthenticatedError,
    PermissionDeniedError, UnimplementedError, CancelledError, UnavailableError, DeadlineError, InternalError)}


def error_for_status(status: str, message: str, reason: Optional[str] = None,
                     metadata: Optional[dict] = None) -> BNNSError:
    """The BNNSError subclass for a canonical status name (BNNSError itself if unknown), with the
    reason when it is a known one of that status."""
    cls = ERRORS_BY_STATUS.get(status, BNNSError)
    known = reason is not None and REASONS.get(reason, (None,))[0] == cls.status
    return cls(message, reason if known else None, metadata)


def require(condition: object, message, reason: Optional[str] = None) -> None:
    """Raise InvalidArgumentError(message) unless condition (a bool or NumPy bool) holds. Never stripped by -O.

    ``message`` is a string or a function returning one: checks that run on every call pass
    ``lambda: f"..."`` so that the message (formatting a dtype alone takes microseconds) is only
    built when the check fails."""
    if not condition:
        raise InvalidArgumentError(message() if callable(message) else message, reason)


def given(value: Optional[T], message, reason: Optional[str] = None, error: type[BNNSError] = InvalidArgumentError) -> T:
    """``value``, or ``error(message)`` (InvalidArgumentError) when it is None: ``require`` for an
    Optional that must be there, returning it (so type checkers see it is not None). An invariant
    of our own, not the caller's input, passes ``error=InternalError``."""
    if value is None:
        raise error(message() if callable(message) else message, reason)
    return value
