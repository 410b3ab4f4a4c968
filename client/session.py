"""A session: the handles a block of code creates live exactly as long as the block.

    with bnns.session():                       # on the current connection
        f = bnns.BNNSFilterCreateLayerConvolution(params, None)
        ...                                    # f's lease is kept alive, even while idle
    # every filter and tensor created inside is destroyed here, even after an exception

The server destroys handles left unused for their lease (bnns-server --lease-seconds), so a
client that dies without cleaning up leaves nothing behind for long. A session renews the
leases of what it created with KeepAlive, a few times per lease, from a background thread, so
a live client never loses a handle to an idle pause; at the end of the block it destroys them.
"""

from __future__ import annotations

import logging
import threading
from typing import List, Optional

from bnns.v1 import service_pb2 as pb

from . import backend as backend_mod

log = logging.getLogger("bnns.client")

_active: List["Session"] = []
_active_lock = threading.Lock()
_IDLE_INTERVAL = 60.0          # seconds between pings when no handle has a lease


def track(handle) -> None:
    """Called by the SDK for every filter or tensor it creates: the sessions open on its
    connection take it."""
    with _active_lock:
        sessions = [s for s in _active if s.backend is handle.backend]
    for session in sessions:
        session._add(handle)


class Session:
    def __init__(self, backend=None, keepalive_seconds: Optional[float] = None):
        """``keepalive_seconds``: a fixed interval between KeepAlive calls (default: a third of
        the shortest lease the server reports)."""
        self.backend = backend or backend_mod.current()
        self.fixed_interval = keepalive_seconds
        self.handles: list = []
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="bnns-session-keepalive", daemon=True)

    def _add(self, handle) -> None:
        with self._lock:
            first = not self.handles
            self.handles.append(handle)
        if first:
            self._wake.set()       # learn the lease now

    def _ids(self) -> list:
        with self._lock:
            live = [h for h in self.handles if not h.destroyed]
        return [getattr(h, "filter_id", None) or getattr(h, "tensor_id", None) or h.generator_id for h in live]

    def keep_alive(self) -> float:
        """Renew the session's handles now; returns the shortest lease (0 = none has one)."""
        ids = self._ids()
        if not ids:
            return 0.0
        response = self.backend.call("KeepAlive", pb.KeepAliveRequest(handle_ids=ids))
        if response.missing:
            log.warning("handles gone from the server (expired or destroyed elsewhere): %s", ", ".join(response.missing))
        return response.lease_seconds

    def _run(self) -> None:
        interval = self.fixed_interval or _IDLE_INTERVAL
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                lease = self.keep_alive()
            except Exception as error:   # a transient failure: try again at the next tick
                log.warning("KeepAlive failed: %s", error)
                continue
            if not self.fixed_interval:
                interval = lease / 3 if lease else _IDLE_INTERVAL

    def __enter__(self) -> "Session":
        with _active_lock:
            _active.append(self)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with _active_lock:
            _active.remove(self)
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        self.close()

    def close(self) -> None:
        """Destroy every handle the session created that is still live (newest first)."""
        from . import api
        with self._lock:
            handles, self.handles = self.handles[::-1], []
        for handle in handles:
            try:
                if hasattr(handle, "filter_id"):
                    api.destroy(handle)
                else:
                    handle.destroy()
            except Exception as error:      # already gone (expired): nothing left to free
                log.debug("session cleanup of %s: %s", handle, error)


def session(backend=None, keepalive_seconds: Optional[float] = None) -> Session:
    """A context manager: what is created inside is kept alive, then destroyed at its end."""
    return Session(backend, keepalive_seconds)


def tracked(handle):
    """``track(handle)`` and return it."""
    track(handle)
    return handle
