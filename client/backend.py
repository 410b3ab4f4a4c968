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
from typing import Optional, Sequence, Tuple

import grpc

from bnns.kernels.errors import error_for_status
from bnns.v1 import service_pb2

log = logging.getLogger("bnns.client")

SERVICE = service_pb2.DESCRIPTOR.services_by_name["BNNSService"]
DEFAULT_TIMEOUT = 300.0          # seconds; large batches on a busy 2-core server take a while
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30


class RemoteBackend:
    """gRPC to a bnns-server at ``target`` ("host:port")."""

    def __init__(self, target: str, timeout: float = DEFAULT_TIMEOUT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, token: Optional[str] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None):
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        self.target = target
        self.timeout = timeout
        self.metadata: Tuple = (("authorization", f"Bearer {token}"),) if token else ()
        self._channel = (grpc.secure_channel(target, credentials, options) if credentials
                         else grpc.insecure_channel(target, options))
        self._methods = {}
        for method in SERVICE.methods:
            response_cls = getattr(service_pb2, method.output_type.name)
            self._methods[method.name] = self._channel.unary_unary(
                f"/{SERVICE.full_name}/{method.name}",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_cls.FromString)

    def call(self, rpc: str, request):
        try:
            return self._methods[rpc](request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as error:
            code = error.code()
            raise error_for_status(code.name if code else "UNKNOWN", f"{rpc}: {error.details()}") from None

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

    def call(self, rpc: str, request):
        return self.core.call(rpc, request)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "LocalBackend()"


_current = None
_current_lock = threading.Lock()


def connect(target: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT, token: Optional[str] = None,
            max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, credentials=None):
    """Connect the SDK to a server ("host:port") or to in-process kernels ("local").

    The default target is the BNNS_SERVER environment variable, else "local". The connection
    becomes the one BNNSFilterCreate* and the BNNS.* classes use from now on; filters keep the
    connection they were created on. Returns the backend.
    """
    global _current
    target = target or os.environ.get("BNNS_SERVER") or "local"
    token = token or os.environ.get("BNNS_TOKEN") or None
    backend = LocalBackend() if target == "local" else RemoteBackend(
        target, timeout=timeout, token=token, max_message_bytes=max_message_bytes, credentials=credentials)
    with _current_lock:
        _current = backend
    log.debug("connected to %r", backend)
    return backend


def current():
    """The backend of the last connect(), connecting to the default target on first use."""
    with _current_lock:
        backend = _current
    return backend if backend is not None else connect()
