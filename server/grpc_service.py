"""The gRPC front door: every RPC of bnns.v1.BNNSService is the Core method of the same name,
wrapped once with the error mapping. Health and reflection come from the standard packages."""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Tuple

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bnns.kernels.errors import BNNSError
from bnns.v1 import service_pb2

from .core import Core
from .errors import grpc_code
from .settings import Settings

log = logging.getLogger("bnns.server")

SERVICE_NAME = "bnns.v1.BNNSService"
SERVICE = service_pb2.DESCRIPTOR.services_by_name["BNNSService"]


def _open_access(_metadata: dict) -> str:
    """No tokens configured: every caller is the one anonymous tenant."""
    return ""


def _unary_handler(core: Core, rpc: str, tenant_of):
    def handle(request, context: grpc.ServicerContext):
        metadata = dict(context.invocation_metadata() or ())
        request_id = metadata.get("x-request-id")
        try:
            # The tenant comes from the server's own token table, never from a header the caller sets.
            return core.call(rpc, request, tenant=tenant_of(metadata), request_id=request_id)
        except BNNSError as error:
            context.abort(grpc_code(error), error.message)
        except Exception:   # a bug (Core.call logged the trace): keep the server up, tell the caller
            context.abort(grpc.StatusCode.INTERNAL, f"internal error in {rpc}; the server log has the details")
    return handle


def bnns_handler(core: Core, tenant_of=_open_access) -> grpc.GenericRpcHandler:
    """Handlers for every RPC; ``tenant_of(metadata) -> tenant`` authenticates (raising
    UnauthenticatedError) and names the caller's tenant."""
    handlers = {}
    for method in SERVICE.methods:
        request_cls = getattr(service_pb2, method.input_type.name)
        response_cls = getattr(service_pb2, method.output_type.name)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _unary_handler(core, method.name, tenant_of),
            request_deserializer=request_cls.FromString,
            response_serializer=response_cls.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def create_server(settings: Settings, core: Core) -> Tuple[grpc.Server, int, health.HealthServicer]:
    """A started-ready (not started) gRPC server bound to settings.host:grpc_port (0 = free port).

    Returns (server, bound port, health servicer)."""
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=settings.workers), options=options)
    server.add_generic_rpc_handlers((bnns_handler(core),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(f"{_bracket(settings.host)}:{settings.grpc_port}")
    if port == 0:
        raise OSError(f"could not bind gRPC to {settings.host}:{settings.grpc_port}")
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
