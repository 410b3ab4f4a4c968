"""The one place where BNNSError statuses become gRPC codes and HTTP statuses."""

from __future__ import annotations

import grpc

from bnns.kernels.errors import BNNSError

GRPC_CODES = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "PERMISSION_DENIED": grpc.StatusCode.PERMISSION_DENIED,
    "UNIMPLEMENTED": grpc.StatusCode.UNIMPLEMENTED,
    "CANCELLED": grpc.StatusCode.CANCELLED,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "DEADLINE_EXCEEDED": grpc.StatusCode.DEADLINE_EXCEEDED,
    "UNKNOWN": grpc.StatusCode.UNKNOWN,
}

HTTP_STATUSES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 409,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 413,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "UNIMPLEMENTED": 501,
    "CANCELLED": 499,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 408,
    "UNKNOWN": 500,
    "INTERNAL": 500,
}


def grpc_code(error: BNNSError) -> grpc.StatusCode:
    return GRPC_CODES.get(error.status, grpc.StatusCode.UNKNOWN)


def http_status(status: str) -> int:
    return HTTP_STATUSES.get(status, 500)
