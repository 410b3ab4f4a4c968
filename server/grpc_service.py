"""The gRPC front door: every RPC of bnns.v1.BNNSService is the Core method of the same name,
wrapped once with the error mapping. Health and reflection come from the standard packages."""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from typing import Any, Dict, Optional, Tuple

import grpc
from google.protobuf import message as message_module
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bnns.errors import BNNSError, InternalError, InvalidArgumentError, ResourceExhaustedError
from bnns.v1 import service_pb2

from .auth import AuthInterceptor, Authenticator, grpc_server_credentials
from . import kserve, wire
from .core import Core
from .dataplane import CallIO
from .errors import abort
from .state import KEY_HEADER, REPLICA_HEADER
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
    metadata: Dict[str, Any] = dict(context.invocation_metadata() or ())   # str values (bytes only for -bin keys)
    if core.replicas is not None:
        # A balancer may stand in front: tell the SDK to name handles. In the trailers, sent with
        # the status: a header sent early would keep the balancer from passing the call to another
        # replica should this one die before it answers.
        context.set_trailing_metadata(_REPLICA)
    cancelled = _Cancelled()
    context.add_callback(cancelled.set)          # fires when the caller cancels or the deadline passes
    try:
        # Parsed here rather than by grpcio, which answers an undecodable request with INTERNAL.
        request, tensors = wire.split(raw, request_cls)
    except message_module.DecodeError as error:
        abort(context, InvalidArgumentError(f"{rpc}: the request does not parse as a serialized "
                                            f"{request_cls.DESCRIPTOR.full_name}: {error}", "MALFORMED_REQUEST"))
    try:
        io = CallIO(arrays=tensors)
        # The tenant comes from the server's own token table, never from a header the caller sets.
        response = core.call(rpc, request, tenant=tenant_of(metadata), request_id=metadata.get("x-request-id"),
                             cancelled=cancelled, io=io, idempotency_key=metadata.get(KEY_HEADER, ""))
        return wire.join(response, io.results)
    except BNNSError as error:
        abort(context, error)
    except Exception:   # a bug (Core.call logged the trace): keep the server up, tell the caller
        abort(context, InternalError(f"internal error in {rpc}; the server log has the details"))


_REPLICA = ((REPLICA_HEADER, "1"),)


class _Cancelled:
    """Set when the caller cancels or its deadline passes; the core and the kernels poll it. A
    flag, as threading.Event is (nothing waits on it), at a fraction of an Event's making."""

    __slots__ = ("_set",)

    def __init__(self):
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


def _unary_handler(core: Core, rpc: str, request_cls, tenant_of):
    def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
        return _serve(core, rpc, raw, request_cls, context, tenant_of)
    return handle


_MIN_CHUNK_BYTES, _MAX_CHUNK_BYTES = 256 << 10, 4 << 20   # the chunk sizes the contract names


class StreamLimits:
    """What one ChunkedCall stream may take. Streams hold a worker thread while they wait for
    chunks, so their number is bounded (in all and per tenant) below the worker pool's size:
    however many streams stall, unary calls and health checks keep workers to run on."""

    def __init__(self, max_streams: int = 4, max_streams_per_tenant: int = 2, idle_seconds: float = 30.0,
                 total_seconds: float = 600.0):
        self.max_streams, self.max_streams_per_tenant = max_streams, max_streams_per_tenant
        self.idle_seconds, self.total_seconds = idle_seconds, total_seconds
        self._open: dict = {}
        self._lock = threading.Lock()

    def acquire(self, tenant: str) -> Optional[str]:
        """Take a slot for ``tenant``; the reason when none is free."""
        with self._lock:
            if sum(self._open.values()) >= self.max_streams:
                return f"{self.max_streams} ChunkedCall streams are open on this server (max_streams); retry later"
            if self._open.get(tenant, 0) >= self.max_streams_per_tenant:
                return (f"{self.max_streams_per_tenant} ChunkedCall streams of this tenant are open "
                        "(max_streams_per_tenant); finish one first")
            self._open[tenant] = self._open.get(tenant, 0) + 1
            return None

    def release(self, tenant: str) -> None:
        with self._lock:
            self._open[tenant] -= 1


class _Watchdog:
    """Cancels a stream that sends nothing for ``idle`` seconds, or runs past ``total``."""

    def __init__(self, context: grpc.ServicerContext, idle: float, total: float):
        self.context, self.idle = context, idle
        self.deadline = time.monotonic() + total
        self.expired = ""
        self._timer: Optional[threading.Timer] = None
        self.kick()

    def kick(self) -> None:
        """A chunk arrived: the idle clock starts again."""
        self.stop()
        wait = min(self.idle, self.deadline - time.monotonic())
        self._timer = threading.Timer(max(wait, 0.0), self._expire, args=(wait < self.idle,))
        self._timer.daemon = True
        self._timer.start()

    def _expire(self, total: bool) -> None:
        self.expired = "its total time" if total else "its idle time"
        log.info("ChunkedCall stream cancelled: it exceeded %s", self.expired)
        self.context.cancel()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _chunked_handler(core: Core, tenant_of, max_message_bytes: int, message_cap: int, limits: StreamLimits):
    """ChunkedCall: reassemble a serialized request, serve it like the unary RPC it names, and
    stream the serialized response back in chunks. Chunks are parsed here (grpcio would answer an
    undecodable one with INTERNAL) and must arrive in order, at least 256 KiB each but the last."""
    unary = {m.name: getattr(service_pb2, m.input_type.name) for m in SERVICE.methods if m.name != "ChunkedCall"}
    response_chunk = max(_MIN_CHUNK_BYTES, min(_MAX_CHUNK_BYTES, message_cap // 2))   # fits the send cap

    def fail(context, code, message):
        # Through the one map, with a reason: a malformed stream, or one over the size limit.
        error = (ResourceExhaustedError(message, "REQUEST_TOO_LARGE") if code == grpc.StatusCode.RESOURCE_EXHAUSTED
                 else InvalidArgumentError(message, "CHUNKED_CALL_MALFORMED"))
        abort(context, error)

    def parse(raw: bytes, context, received: int):
        try:
            return service_pb2.MessageChunk.FromString(raw)
        except message_module.DecodeError as error:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                 f"ChunkedCall: the chunk after byte {received} is not a serialized MessageChunk: {error}")

    def receive(chunks, context, watchdog: _Watchdog):
        """The request's rpc name and its bytes, checked chunk by chunk."""
        first = parse(next(chunks, b""), context, 0)
        if not first.rpc or first.rpc not in unary:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                 f"ChunkedCall: the first chunk must name an RPC of {SERVICE_NAME} (got {first.rpc or 'no chunk'!r})")
        total = first.total_bytes
        if total > max_message_bytes:
            fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                 f"ChunkedCall: a {total}-byte {first.rpc} request is over max_streamed_bytes {max_message_bytes}")
        body = bytearray()      # grows with what arrives: a claimed total_bytes reserves nothing
        chunk, short = first, False
        while chunk is not None:
            size, received = len(chunk.data), len(body)
            if chunk.offset != received:
                fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                     f"ChunkedCall: a chunk at offset {chunk.offset} after {received} bytes: chunks must follow each "
                     f"other with no duplicate, gap or overlap")
            if size > _MAX_CHUNK_BYTES or received + size > total:
                fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                     f"ChunkedCall: chunk of {size} bytes after {received} of {total}: chunks are at most "
                     f"{_MAX_CHUNK_BYTES} bytes and may not exceed total_bytes")
            if short:
                fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                     f"ChunkedCall: a chunk followed one of fewer than {_MIN_CHUNK_BYTES} bytes; only the last "
                     "chunk may be shorter")
            short = size < _MIN_CHUNK_BYTES
            body += chunk.data
            watchdog.kick()
            raw = next(chunks, None)
            chunk = parse(raw, context, len(body)) if raw is not None else None
        if len(body) != total:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT,
                 f"ChunkedCall: the request ended after {len(body)} of its {total} bytes (truncated)")
        return first.rpc, body

    def handle(chunks, context: grpc.ServicerContext):
        tenant = tenant_of(dict(context.invocation_metadata() or ()))
        refused = limits.acquire(tenant)
        if refused:
            fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED, f"ChunkedCall: {refused}")
        watchdog = _Watchdog(context, limits.idle_seconds, limits.total_seconds)
        try:
            try:
                rpc, body = receive(chunks, context, watchdog)
            except grpc.RpcError:     # the watchdog cancelled the stream: nothing more can be sent
                return
            watchdog.stop()
            data = memoryview(_serve(core, rpc, body, unary[rpc], context, tenant_of))
            del body
        finally:
            watchdog.stop()
            limits.release(tenant)
        for offset in range(0, max(len(data), 1), response_chunk):
            yield service_pb2.MessageChunk(total_bytes=len(data) if offset == 0 else 0, offset=offset,
                                           data=bytes(data[offset:offset + response_chunk]))
    return handle


def bnns_handler(core: Core, tenant_of=_open_access, max_streamed_bytes: int = 4 << 30,
                 message_cap: int = 1 << 30, stream_limits: Optional[StreamLimits] = None) -> grpc.GenericRpcHandler:
    """Handlers for every RPC; ``tenant_of(metadata) -> tenant`` authenticates (raising
    UnauthenticatedError) and names the caller's tenant."""
    handlers: Dict[str, grpc.RpcMethodHandler] = {"ChunkedCall": grpc.stream_stream_rpc_method_handler(
        _chunked_handler(core, tenant_of, max_streamed_bytes, message_cap, stream_limits or StreamLimits()),
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
                         # An interceptor costs every call some 80 us; with no tokens it would pass all.
                         interceptors=[] if authenticator.open else [AuthInterceptor(authenticator, SERVICE_NAME)])
    stream_limits = StreamLimits(max_streams=settings.max_streams, max_streams_per_tenant=settings.max_streams_per_tenant,
                                 idle_seconds=settings.stream_idle_seconds, total_seconds=settings.stream_total_seconds)
    if stream_limits.max_streams >= settings.workers:
        raise ValueError(f"max_streams {settings.max_streams} must be below workers {settings.workers}: waiting "
                         "streams would leave no worker for other calls")
    server.add_generic_rpc_handlers((bnns_handler(core, tenant_of=authenticator.tenant_of_metadata,
                                                  max_streamed_bytes=settings.max_streamed_bytes,
                                                  message_cap=settings.max_message_bytes,
                                                  stream_limits=stream_limits),))
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
