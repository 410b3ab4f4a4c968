"""The one place where BNNSErrors become gRPC statuses and REST error bodies. The vocabulary
(statuses, reasons, HTTP codes) is bnns.errors; here it meets grpc: the status code, the message,
and an AIP-193 google.rpc.ErrorInfo (reason, domain "bnns.v1", metadata) in the status details,
sent with grpcio-status and read back by the SDK."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from bnns.errors import DOMAIN, HTTP_STATUSES, REASONS, BNNSError, error_for_status  # noqa: F401

GRPC_CODES = {status: getattr(grpc.StatusCode, status) for status in HTTP_STATUSES}


def grpc_code(error: BNNSError) -> grpc.StatusCode:
    return GRPC_CODES.get(error.status, grpc.StatusCode.UNKNOWN)


def http_status(status: str) -> int:
    return HTTP_STATUSES.get(status, 500)


# The message travels twice in the trailers (grpc-message and inside grpc-status-details-bin), and
# gRPC refuses trailers over its metadata limit (8 KiB soft, 16 KiB hard by default): a message that
# echoes a huge value is cut to fit.
MAX_MESSAGE_CHARS = 2048


def grpc_status(error: BNNSError) -> grpc.Status:
    """The gRPC status of ``error``: code, message (cut to MAX_MESSAGE_CHARS) and an ErrorInfo detail."""
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = f"{message[:MAX_MESSAGE_CHARS]}... ({len(message)} characters, cut to fit gRPC's metadata limit)"
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata))
    return rpc_status.to_status(status_pb2.Status(code=grpc_code(error).value[0], message=message,
                                                  details=[detail]))


def abort(context: grpc.ServicerContext, error: BNNSError) -> NoReturn:
    """End the call with ``error``'s status (raises, as context.abort does)."""
    context.abort_with_status(grpc_status(error))


def from_rpc_error(error: grpc.RpcError, prefix: str = "") -> BNNSError:
    """The BNNSError a failed call stands for, with the ErrorInfo reason when the server sent one."""
    code = error.code() if hasattr(error, "code") else None
    reason, metadata = None, None
    try:
        status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None   # (a failed call is both)
    except (ValueError, AttributeError):
        status = None
    detail: Any
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == DOMAIN:
            reason, metadata = info.reason, dict(info.metadata)
    details = error.details() if hasattr(error, "details") else str(error)
    return error_for_status(code.name if code else "UNKNOWN", f"{prefix}{details}", reason, metadata)
