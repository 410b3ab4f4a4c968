"""The transport behind the SDK: one small interface, two implementations.

``call(rpc, request, exchange=None) -> response`` with an RPC name of bnns.v1.BNNSService. The
optional ``exchange`` (api.Exchange) carries the call's tensors beside the message: the caller's
input arrays by request path, and the caller's arrays results go into by response path.

RemoteBackend sends it over gRPC with a deadline and turns every gRPC error into the BNNSError
subclass of its status. It builds the request bytes with each input tensor copied once, and
writes results from the reply bytes straight into the caller's arrays (server/wire.py). With
``shared_memory=True`` (same host only), large tensors travel through POSIX shared memory
registered with the server instead of the socket.

LocalBackend hands it to an in-process server Core (no network, no serialization): the core
reads the caller's arrays and writes results into them directly, with the very same
validation and kernels as a server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from typing import Optional, Tuple

import grpc
import numpy as np

from bnns.kernels.errors import error_for_status
from bnns.server.errors import from_rpc_error
from bnns.server import wire
from bnns.server.dataplane import CallIO
from bnns.server.state import HANDLE_FIELDS, HANDLE_HEADER, KEY_HEADER, MUTATING_RPCS, REPLICA_HEADER
from bnns.v1 import service_pb2

from .shared_memory import SharedMemoryPool

log = logging.getLogger("bnns.client")

SERVICE = service_pb2.DESCRIPTOR.services_by_name["BNNSService"]
DEFAULT_TIMEOUT = 300.0          # seconds; large batches on a busy 2-core server take a while
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
DEFAULT_STREAM_THRESHOLD = 64 << 20   # larger messages travel in chunks (ChunkedCall): keep it below the server's cap
MIN_CHUNK_BYTES, MAX_CHUNK_BYTES = 256 << 10, 4 << 20
DEFAULT_SHARED_MEMORY_THRESHOLD = 64 << 10   # with shared_memory=True, tensors from this size go through it
DEFAULT_RETRY_SECONDS = 60.0     # how long a call keeps trying while the server is UNAVAILABLE
# gRPC's own retries (short outages, small messages): the same bytes, hence the same idempotency key.
_RETRY_POLICY = json.dumps({"methodConfig": [{
    "name": [{"service": SERVICE.full_name}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "1s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"]}}]})

_scope = threading.local()


@contextlib.contextmanager
def idempotency_scope(name: str):
    """Mutating calls made in the block carry the keys ``name/1``, ``name/2``, ... instead of
    random ones. Running the same block again (say, a training step redone after the server
    restarted and lost the cache a backward needs) sends the same keys, so a call the server
    applied before is answered from its record rather than applied twice."""
    outer = getattr(_scope, "state", None)
    _scope.state = [name, 0]
    try:
        yield
    finally:
        _scope.state = outer


def next_idempotency_key() -> str:
    state = getattr(_scope, "state", None)
    if state is None:
        return uuid.uuid4().hex
    state[1] += 1
    return f"{state[0]}/{state[1]}"


# Calls a sequence block defers: those whose SDK caller reads nothing from the response but what
# the exchange delivers into the caller's arrays (the apply/backward families, OptimizerStep,
# WriteTensor). Not ReadTensor (BNNSTensor.read returns its array at once), nor creates, describes,
# ApplyMultiheadAttention (its caller reads the response) or the direct calls that return values.
DEFERRABLE_RPCS = frozenset({
    "FilterApplyBatch", "FilterApplyBackwardBatch", "FilterApplyTwoInputBatch", "FilterApplyBackwardTwoInputBatch",
    "ArithmeticFilterApplyBatch", "ArithmeticFilterApplyBackwardBatch", "ApplyMultiheadAttentionBackward",
    "FusedFilterApplyBatch", "FusedFilterApplyMultiInputBatch", "FusedFilterApplyBackwardBatch",
    "FusedFilterApplyBackwardMultiInputBatch", "LossFilterApplyBatch", "LossFilterApplyBackwardBatch",
    "NormalizationFilterApplyBatch", "NormalizationFilterApplyBackwardBatch", "PoolingFilterApplyBatch",
    "PoolingFilterApplyBackwardBatch", "PermuteFilterApplyBackwardBatch", "DirectApplyLSTMBatchTrainingCaching",
    "DirectApplyLSTMBatchBackward", "OptimizerStep", "WriteTensor"})

_sequences = threading.local()      # this thread's open sequence blocks: {id(backend): queue}


class _Queued:
    """One deferred call: its request bytes, key and the exchange its response is delivered to."""

    __slots__ = ("rpc", "data", "key", "exchange", "handle", "size")

    def __init__(self, rpc: str, data: bytes, key: str, exchange, handle: str, size: int):
        self.rpc, self.data, self.key, self.exchange, self.handle = rpc, data, key, exchange, handle
        self.size = size       # its request's or expected response's bytes, the larger


@contextlib.contextmanager
def sequence(backend=None):
    """``with bnns.sequence(): ...``: on a server connection, the calls of the block that only
    write into the caller's arrays (DEFERRABLE_RPCS) are queued and sent together, in order, in
    one CallSequence round trip when the block ends (or before any other call the block makes).
    A deferred call returns at once (a C-style function returns 0, meaning "queued"); its outputs
    are written when the block ends, and its error is raised there (or by the next call of the
    block that is not deferred, which sends the queue first): the BNNSError of the first call that
    failed, naming it (``CallSequence: call K (Rpc): ...``). The outputs of a failed sequence are
    unspecified; the server-side effects of the calls before the failing one stand. If the block
    itself raises, the queued calls are not sent. On "local" the calls run at once, as outside a
    block. Blocks do not nest (per thread and connection)."""
    backend = backend if backend is not None else current()
    open_blocks = _sequences.__dict__.setdefault("queues", {})
    if id(backend) in open_blocks:
        raise error_for_status("FAILED_PRECONDITION", "bnns.sequence() blocks do not nest: a block is open "
                               f"on {backend!r} in this thread already")
    queue: list = []
    open_blocks[id(backend)] = queue
    try:
        yield
    except BaseException:
        queue.clear()
        raise
    finally:
        del open_blocks[id(backend)]
    if queue:
        backend.send_queue(queue)


def handle_named(request) -> str:
    """The handle a request is about (its filter, tensor or generator, an OptimizerStep's first parameter,
    KeepAlive's first id); "" for a create or a list."""
    fields = request.DESCRIPTOR.fields_by_name
    for name in HANDLE_FIELDS:
        if name in fields and getattr(request, name):
            return getattr(request, name)
    if "parameters" in fields and len(request.parameters) and hasattr(request.parameters[0], "filter_parameter"):
        first = request.parameters[0]
        if first.WhichOneof("target") == "filter_parameter":
            return first.filter_parameter.filter_id
        if first.HasField("values") and first.values.WhichOneof("contents") == "tensor":
            return first.values.tensor.tensor_id
    if "handle_ids" in fields and len(request.handle_ids):
        return request.handle_ids[0]
    return ""


class RemoteBackend:
    """gRPC to a bnns-server at ``target`` ("host:port")."""

    def __init__(self, target: str, timeout: float = DEFAULT_TIMEOUT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, token: Optional[str] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 stream_threshold: int = DEFAULT_STREAM_THRESHOLD, shared_memory: bool = False,
                 shared_memory_threshold: int = DEFAULT_SHARED_MEMORY_THRESHOLD,
                 retry_seconds: float = DEFAULT_RETRY_SECONDS):
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.enable_retries", 1), ("grpc.service_config", _RETRY_POLICY)]
        self.retry_seconds = retry_seconds
        self.target = target
        self.timeout = timeout
        self.metadata: Tuple = (("authorization", f"Bearer {token}"),) if token else ()
        self._channel = (grpc.secure_channel(target, credentials, options) if credentials
                         else grpc.insecure_channel(target, options))
        self.stream_threshold = stream_threshold
        # Each chunk must fit the server's message cap, which streaming is below by construction.
        self.chunk_bytes = max(MIN_CHUNK_BYTES, min(MAX_CHUNK_BYTES, stream_threshold // 2))
        self._methods: dict[str, grpc.UnaryUnaryMultiCallable] = {}
        self._response_cls: dict[str, type] = {}
        self._chunked_call: grpc.StreamStreamMultiCallable = self._channel.stream_stream(
            f"/{SERVICE.full_name}/ChunkedCall", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=service_pb2.MessageChunk.FromString)
        for method in SERVICE.methods:
            if method.name == "ChunkedCall":
                continue
            self._response_cls[method.name] = getattr(service_pb2, method.output_type.name)
            # Bytes in, bytes out: tensors are spliced in and read out by server/wire.py.
            self._methods[method.name] = self._channel.unary_unary(f"/{SERVICE.full_name}/{method.name}")
        self.shared_memory = SharedMemoryPool(self, shared_memory_threshold) if shared_memory else None
        # Whether calls name their handle (x-bnns-handle) for a balancer in front of replicas:
        # unknown (None, and named) until the first reply, whose trailers say whether its server
        # is a replica (x-bnns-replica); a single server's calls then go without it.
        self.names_handles: Optional[bool] = None

    def call(self, rpc: str, request, response_bytes: int = 0, exchange=None):
        """Send one RPC. Messages larger than ``stream_threshold`` (the request, or the response
        the caller expects: ``response_bytes``) go through ChunkedCall in pieces of half the
        threshold (256 KiB to 4 MiB), so a batch bigger than the server's message cap gets through.

        A mutating call carries an idempotency key; every call is retried while the server is
        UNAVAILABLE (restarting, say), for up to ``retry_seconds``, with the same key."""
        try:
            arrays, copy_back = {}, []
            if exchange is not None:
                if self.shared_memory is not None:
                    copy_back = self.shared_memory.place(exchange, request)
                arrays = exchange.prepare(request)
            data = wire.join(request, arrays)
            key = next_idempotency_key() if rpc in MUTATING_RPCS else ""
            queue = getattr(_sequences, "queues", {}).get(id(self))
            if queue is not None:      # in a sequence block: defer, or send the queue before this call
                # The sequence's request and response each stay below the streaming threshold.
                size = max(len(data), response_bytes)
                if (rpc in DEFERRABLE_RPCS and self.shared_memory is None
                        and sum(q.size for q in queue) + size <= self.stream_threshold):
                    queue.append(_Queued(rpc, data, key, exchange,
                                         handle_named(request) if self.names_handles is not False else "", size))
                    if len(queue) == wire.MAX_SEQUENCE_CALLS:
                        self.send_queue(queue)
                    return self._response_cls[rpc]()
                self.send_queue(queue)
            metadata = self.metadata
            if key:
                metadata = metadata + ((KEY_HEADER, key),)
            handle = handle_named(request) if self.names_handles is not False else ""
            if handle:      # a balancer in front of replicas routes each handle to one of them
                metadata = metadata + ((HANDLE_HEADER, handle),)
            raw = self._send(rpc, data, response_bytes, metadata)
            response, tensors = wire.split(raw, self._response_cls[rpc])
            if exchange is not None:
                exchange.deliver(response, tensors)
                for finish in copy_back:
                    finish()
            return response
        except grpc.RpcError as error:
            raise from_rpc_error(error, f"{rpc}: ") from None

    def send_queue(self, queue: list) -> None:
        """Send a sequence block's deferred calls in one CallSequence (emptying the queue) and
        deliver each response into its caller's arrays, in order."""
        calls, queue[:] = list(queue), []
        if not calls:
            return
        request = service_pb2.CallSequenceRequest(calls=[
            service_pb2.SequencedCall(rpc=q.rpc, idempotency_key=q.key) for q in calls])
        # Each call's bytes copied once, into the sequence's (server/wire.py).
        data = wire.join(request, {f"calls[{k}]": q.data for k, q in enumerate(calls)})
        # No key of its own: each mutating call carries its own, so a resent sequence applies each once.
        handle = next((q.handle for q in calls if q.handle), "")     # a balancer's affinity: the first handle named
        metadata = self.metadata + ((HANDLE_HEADER, handle),) if handle and self.names_handles is not False \
            else self.metadata
        try:
            raw = self._send("CallSequence", data, 0, metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error, "CallSequence: ") from None
        # Each call's response as a view of the bytes received (large replies), its tensors as views of that.
        reply, views = wire.split(raw, service_pb2.CallSequenceResponse)
        for q, data in zip(calls, [views[f"responses[{k}]"] for k in range(len(views))] if views else reply.responses):
            response, tensors = wire.split(data, self._response_cls[q.rpc])
            if q.exchange is not None:
                q.exchange.deliver(response, tensors)

    def _send(self, rpc: str, data: bytes, response_bytes: int, metadata) -> bytes:
        deadline, pause = time.monotonic() + self.retry_seconds, 0.05
        while True:
            try:
                if max(len(data), response_bytes) > self.stream_threshold:
                    return self._chunked(rpc, data, metadata)
                if self.names_handles is None:     # the first reply says whether the server is a replica
                    reply, call = self._methods[rpc].with_call(data, timeout=self.timeout, metadata=metadata)
                    self.names_handles = any(key == REPLICA_HEADER for key, _ in call.trailing_metadata() or ())
                    return reply
                return self._methods[rpc](data, timeout=self.timeout, metadata=metadata)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() + pause > deadline:
                    raise
                log.info("%s: the server is unavailable (%s); retrying in %.2f s", rpc, error.details(), pause)
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def _chunked(self, rpc: str, data: bytes, metadata=()) -> bytes:
        def chunks():
            for offset in range(0, max(len(data), 1), self.chunk_bytes):
                yield service_pb2.MessageChunk(rpc=rpc if offset == 0 else "",
                                               total_bytes=len(data) if offset == 0 else 0, offset=offset,
                                               data=data[offset:offset + self.chunk_bytes])

        body, received = None, 0
        for chunk in self._chunked_call(chunks(), timeout=self.timeout, metadata=metadata or self.metadata):
            if body is None:
                body = bytearray(chunk.total_bytes)
            body[received:received + len(chunk.data)] = chunk.data
            received += len(chunk.data)
        if body is None or received != len(body):
            raise error_for_status("UNKNOWN", f"{rpc}: the chunked response ended after {received} bytes")
        return bytes(body)

    def shared_array(self, shape, dtype=np.float32) -> np.ndarray:
        """A zero-filled array in shared memory registered with the server (needs
        ``shared_memory=True``): passed to any call, it is read and written in place."""
        if self.shared_memory is None:
            raise ValueError("shared_array() needs a connection made with shared_memory=True")
        return self.shared_memory.shared_array(shape, dtype)

    def close(self) -> None:
        if self.shared_memory is not None:
            self.shared_memory.close()
        self._channel.close()

    def __repr__(self) -> str:
        return f"RemoteBackend({self.target!r})"


class LocalBackend:
    """An in-process server core: the same code path as a server, without the network."""

    target = "local"

    def __init__(self, core=None):
        from bnns.server.core import Core   # the server package ships with the SDK
        self.core = core or Core()

    def call(self, rpc: str, request, response_bytes: int = 0, exchange=None):
        if exchange is None:
            return self.core.call(rpc, request)
        arrays = exchange.prepare(request)
        io = CallIO(arrays=arrays, sinks=exchange.sinks())
        response = self.core.call(rpc, request, io=io)
        exchange.deliver(response, io.results, written=io.sinks)
        return response

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "LocalBackend()"


_current = None
_current_lock = threading.Lock()


def connect(target: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT, token: Optional[str] = None,
            max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, credentials=None,
            root_certificates=None, private_key=None, certificate_chain=None,
            stream_threshold: int = DEFAULT_STREAM_THRESHOLD, shared_memory: bool = False):
    """Connect the SDK to a server ("host:port") or to in-process kernels ("local").

    The default target is the BNNS_SERVER environment variable, else "local". The connection
    becomes the one BNNSFilterCreate* and the BNNS.* classes use from now on; filters keep the
    connection they were created on. Returns the backend.

    ``token`` (default: BNNS_TOKEN) is sent as ``authorization: Bearer <token>``. Any of
    ``root_certificates`` (the CA that signed the server's certificate; None = the system's),
    ``private_key`` and ``certificate_chain`` (the client's own, for mutual TLS) turns on TLS;
    each is PEM bytes or the path of a PEM file. ``credentials`` (grpc.ChannelCredentials) is
    the fully general alternative and cannot be combined with them. Requests (or expected
    responses) over ``stream_threshold`` bytes travel in chunks (ChunkedCall).

    ``shared_memory=True`` (a server on the same host) sends tensors of 64 KiB and more through
    POSIX shared memory registered with the server instead of the socket; arrays made with
    ``backend.shared_array(...)`` travel with no copy at all.
    """
    global _current
    target = target or os.environ.get("BNNS_SERVER") or "local"
    token = token or os.environ.get("BNNS_TOKEN") or None
    if any(v is not None for v in (root_certificates, private_key, certificate_chain)):
        if credentials is not None:
            raise ValueError("connect(): pass credentials= or root_certificates=/private_key=/certificate_chain=, "
                             "not both")
        credentials = grpc.ssl_channel_credentials(_pem(root_certificates), _pem(private_key),
                                                   _pem(certificate_chain))
    backend = LocalBackend() if target == "local" else RemoteBackend(
        target, timeout=timeout, token=token, max_message_bytes=max_message_bytes, credentials=credentials,
        stream_threshold=stream_threshold, shared_memory=shared_memory)
    with _current_lock:
        _current = backend
    log.debug("connected to %r", backend)
    return backend


def _pem(value) -> Optional[bytes]:
    """PEM bytes as given, or read from a path (str or os.PathLike); None stays None."""
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as handle:
        return handle.read()


def current():
    """The backend of the last connect(), connecting to the default target on first use."""
    with _current_lock:
        backend = _current
    return backend if backend is not None else connect()
