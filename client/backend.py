"""The transport behind the SDK: one small interface, two implementations.

``call(rpc, request) -> response`` with an RPC name of bnns.v1.BNNSService. RemoteBackend sends
it over gRPC with a deadline and turns every gRPC error into the BNNSError subclass of its
status; LocalBackend hands it to an in-process server Core (no network), so both run the very
same decoding, validation and kernels.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Optional, Tuple

import grpc

from bnns.kernels.errors import error_for_status
from bnns.v1 import service_pb2

log = logging.getLogger("bnns.client")

SERVICE = service_pb2.DESCRIPTOR.services_by_name["BNNSService"]
DEFAULT_TIMEOUT = 300.0          # seconds; large batches on a busy 2-core server take a while
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
DEFAULT_STREAM_THRESHOLD = 64 << 20   # larger messages travel in chunks (ChunkedCall): keep it below the server's cap
MIN_CHUNK_BYTES, MAX_CHUNK_BYTES = 256 << 10, 4 << 20


class RemoteBackend:
    """gRPC to a bnns-server at ``target`` ("host:port")."""

    def __init__(self, target: str, timeout: float = DEFAULT_TIMEOUT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, token: Optional[str] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 stream_threshold: int = DEFAULT_STREAM_THRESHOLD):
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        self.target = target
        self.timeout = timeout
        self.metadata: Tuple = (("authorization", f"Bearer {token}"),) if token else ()
        self._channel = (grpc.secure_channel(target, credentials, options) if credentials
                         else grpc.insecure_channel(target, options))
        self.stream_threshold = stream_threshold
        # Each chunk must fit the server's message cap, which streaming is below by construction.
        self.chunk_bytes = max(MIN_CHUNK_BYTES, min(MAX_CHUNK_BYTES, stream_threshold // 2))
        self._methods, self._response_cls = {}, {}
        self._chunked_call = self._channel.stream_stream(
            f"/{SERVICE.full_name}/ChunkedCall", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=service_pb2.MessageChunk.FromString)
        for method in SERVICE.methods:
            if method.name == "ChunkedCall":
                continue
            response_cls = getattr(service_pb2, method.output_type.name)
            self._response_cls[method.name] = response_cls
            self._methods[method.name] = self._channel.unary_unary(
                f"/{SERVICE.full_name}/{method.name}",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_cls.FromString)

    def call(self, rpc: str, request, response_bytes: int = 0):
        """Send one RPC. Messages larger than ``stream_threshold`` (the request, or the response
        the caller expects: ``response_bytes``) go through ChunkedCall in pieces of half the
        threshold (256 KiB to 4 MiB), so a batch bigger than the server's message cap gets through."""
        try:
            if max(request.ByteSize(), response_bytes) > self.stream_threshold:
                return self._chunked(rpc, request)
            return self._methods[rpc](request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as error:
            code = error.code()
            raise error_for_status(code.name if code else "UNKNOWN", f"{rpc}: {error.details()}") from None

    def _chunked(self, rpc: str, request):
        data = request.SerializeToString()

        def chunks():
            for offset in range(0, max(len(data), 1), self.chunk_bytes):
                yield service_pb2.MessageChunk(rpc=rpc if offset == 0 else "",
                                               total_bytes=len(data) if offset == 0 else 0,
                                               data=data[offset:offset + self.chunk_bytes])

        body, received = None, 0
        for chunk in self._chunked_call(chunks(), timeout=self.timeout, metadata=self.metadata):
            if body is None:
                body = bytearray(chunk.total_bytes)
            body[received:received + len(chunk.data)] = chunk.data
            received += len(chunk.data)
        if body is None or received != len(body):
            raise error_for_status("UNKNOWN", f"{rpc}: the chunked response ended after {received} bytes")
        return self._response_cls[rpc].FromString(bytes(body))

    def close(self) -> None:
        self._channel.close()

    def __repr__(self) -> str:
        return f"RemoteBackend({self.target!r})"


class LocalBackend:
    """An in-process server core: the same code path as a server, without the network."""

    target = "local"

    def __init__(self, core=None):
        from bnns.server.core import Core   # the server package ships with the SDK
        self.core = core or Core()

    def call(self, rpc: str, request, response_bytes: int = 0):
        return self.core.call(rpc, request)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "LocalBackend()"


_current = None
_current_lock = threading.Lock()


def connect(target: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT, token: Optional[str] = None,
            max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, credentials=None,
            root_certificates=None, private_key=None, certificate_chain=None,
            stream_threshold: int = DEFAULT_STREAM_THRESHOLD):
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
        stream_threshold=stream_threshold)
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
