"""The gRPC front door: every RPC of bnns.v1.BNNSService is the Core method of the same name,
wrapped once with the error mapping. Health and reflection come from the standard packages."""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent import futures
from typing import Optional, Tuple

import grpc
from google.protobuf import message as message_module
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bnns.kernels.errors import BNNSError
from bnns.v1 import service_pb2

from .auth import AuthInterceptor, Authenticator, grpc_server_credentials
from . import kserve, wire
from .core import Core
from .dataplane import CallIO
from .errors import grpc_code
from .settings import Settings

log = logging.getLogger("bnns.server")

SERVICE_NAME = "bnns.v1.BNNSService"
SERVICE = service_pb2.DESCRIPTOR.services_by_name["BNNSService"]


def _open_access(_metadata: dict) -> str:
    """No tokens configured: every caller is the one anonymous tenant."""
    return ""


def _serve(core: Core, rpc: str, raw, request_cls, context: grpc.ServicerContext, tenant_of) -> bytes:
    """Decode (tensors as views over ``raw``), core.call with the caller's tenant, request id and
    cancellation, encode (each result tensor copied once, into the reply); errors mapped once."""
    metadata = dict(context.invocation_metadata() or ())
    cancelled = threading.Event()
    context.add_callback(cancelled.set)          # fires when the caller cancels or the deadline passes
    try:
        # Parsed here rather than by grpcio, which answers an undecodable request with INTERNAL.
        request, tensors = wire.split(raw, request_cls)
    except message_module.DecodeError as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{rpc}: the request does not parse as a serialized "
                      f"{request_cls.DESCRIPTOR.full_name}: {error}")
    try:
        io = CallIO(arrays=tensors)
        # The tenant comes from the server's own token table, never from a header the caller sets.
        response = core.call(rpc, request, tenant=tenant_of(metadata), request_id=metadata.get("x-request-id"),
                             cancelled=cancelled, io=io)
        return wire.join(response, io.results)
    except BNNSError as error:
        context.abort(grpc_code(error), error.message)
    except Exception:   # a bug (Core.call logged the trace): keep the server up, tell the caller
        context.abort(grpc.StatusCode.INTERNAL, f"internal error in {rpc}; the server log has the details")


def _unary_handler(core: Core, rpc: str, request_cls, tenant_of):
    def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
        return _serve(core, rpc, raw, request_cls, context, tenant_of)
    return handle


_MIN_CHUNK_BYTES, _MAX_CHUNK_BYTES = 256 << 10, 4 << 20   # the chunk sizes the contract names


def _chunked_handler(core: Core, tenant_of, max_message_bytes: int, message_cap: int):
    """ChunkedCall: reassemble a serialized request, serve it like the unary RPC it names, and
    stream the serialized response back in chunks."""
    unary = {m.name: getattr(service_pb2, m.input_type.name) for m in SERVICE.methods if m.name != "ChunkedCall"}
    response_chunk = max(_MIN_CHUNK_BYTES, min(_MAX_CHUNK_BYTES, message_cap // 2))   # fits the send cap

    def fail(context, code, message):
        context.abort(code, message)

    def handle(chunks, context: grpc.ServicerContext):
        first = next(chunks, None)
        if first is None or first.rpc not in unary:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                 f"ChunkedCall: the first chunk must name an RPC of {SERVICE_NAME} "
                 f"(got {first.rpc if first is not None else 'no chunk'!r})")
        total = first.total_bytes
        if total > max_message_bytes:
            fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                 f"ChunkedCall: a {total}-byte {first.rpc} request is over max_streamed_bytes {max_message_bytes}")
        body = bytearray()      # grows with what arrives: a claimed total_bytes reserves nothing
        received = 0
        for chunk in itertools.chain([first], chunks):
            size = len(chunk.data)
            if size > _MAX_CHUNK_BYTES or received + size > total:
                fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                     f"ChunkedCall: chunk of {size} bytes after {received} of {total}: chunks are at most "
                     f"{_MAX_CHUNK_BYTES} bytes and may not exceed total_bytes")
            body += chunk.data
            received += size
        if received != total:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                 f"ChunkedCall: the request ended after {received} of its {total} bytes (truncated)")
        data = memoryview(_serve(core, first.rpc, body, unary[first.rpc], context, tenant_of))
        del body
        for offset in range(0, max(len(data), 1), response_chunk):
            yield service_pb2.MessageChunk(total_bytes=len(data) if offset == 0 else 0,
                                           data=bytes(data[offset:offset + response_chunk]))
    return handle


def bnns_handler(core: Core, tenant_of=_open_access, max_streamed_bytes: int = 4 << 30,
                 message_cap: int = 1 << 30) -> grpc.GenericRpcHandler:
    """Handlers for every RPC; ``tenant_of(metadata) -> tenant`` authenticates (raising
    UnauthenticatedError) and names the caller's tenant."""
    handlers = {"ChunkedCall": grpc.stream_stream_rpc_method_handler(
        _chunked_handler(core, tenant_of, max_streamed_bytes, message_cap),
        request_deserializer=service_pb2.MessageChunk.FromString,
        response_serializer=service_pb2.MessageChunk.SerializeToString)}
    for method in SERVICE.methods:
        if method.name == "ChunkedCall":
            continue
        request_cls = getattr(service_pb2, method.input_type.name)
        # Bytes in, bytes out: the handler decodes and encodes tensors itself (server/wire.py).
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _unary_handler(core, method.name, request_cls, tenant_of))
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def create_server(settings: Settings, core: Core, authenticator: Optional[Authenticator] = None
                  ) -> Tuple[grpc.Server, int, health.HealthServicer]:
    """A started-ready (not started) gRPC server bound to settings.host:grpc_port (0 = free port),
    with TLS when settings.tls_cert is set. ``authenticator`` (default: built from settings; open
    with no tokens) guards bnns.v1.BNNSService; health and reflection stay open.

    Returns (server, bound port, health servicer)."""
    authenticator = authenticator if authenticator is not None else Authenticator.from_settings(settings)
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=settings.workers), options=options,
                         interceptors=(AuthInterceptor(authenticator, SERVICE_NAME),))
    server.add_generic_rpc_handlers((bnns_handler(core, tenant_of=authenticator.tenant_of_metadata,
                                                  max_streamed_bytes=settings.max_streamed_bytes,
                                                  message_cap=settings.max_message_bytes),))
    server.add_generic_rpc_handlers((kserve.grpc_handler(core, authenticator.tenant_of_metadata),))   # KServe V2
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, kserve.SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address, credentials = f"{_bracket(settings.host)}:{settings.grpc_port}", grpc_server_credentials(settings)
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind gRPC to {settings.host}:{settings.grpc_port}")
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
