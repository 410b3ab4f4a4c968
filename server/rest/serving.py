"""Serving the app: uvicorn on a background thread, bound before it starts; a graceful stop."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from ..auth import uvicorn_tls_options
from ..http_guard import GuardLimits, guarded_protocol
from ..settings import Settings

log = logging.getLogger("bnns.server")


# ------------------------------------------------------------------------------- serving

def start_http(app: FastAPI, settings: Settings) -> tuple[uvicorn.Server, int, threading.Thread]:
    """Serve ``app`` with uvicorn on a background thread; returns (server, bound port, thread).

    The socket is bound here, so port 0 resolves to the real port before anything is printed,
    and it listens at once, so a client that connects before uvicorn's loop runs is queued."""
    sock = _listening_socket(settings.host, settings.http_port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level=settings.log_level.lower(), access_log=False,
                            lifespan="off", timeout_graceful_shutdown=max(1, math.ceil(settings.grace_seconds)),
                            http=guarded_protocol(GuardLimits(settings.http_header_seconds,
                                                              settings.http_max_connections)),
                            **uvicorn_tls_options(settings))   # HTTPS (and client certificates) when configured
    app.state.body_seconds = settings.http_body_seconds
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="bnns-rest", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        sock.close()
        raise OSError(f"the REST server on {settings.host}:{port} did not start (see the log)")
    return server, port, thread


def stop_http(server: uvicorn.Server, thread: threading.Thread, grace_seconds: float) -> None:
    """Stop accepting, let in-flight requests finish (up to the grace period), join the thread."""
    server.should_exit = True
    thread.join(grace_seconds + 0.25)


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise OSError(f"could not bind REST to {host}:{port}: {error}") from error
    return sock
