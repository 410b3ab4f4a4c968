"""uvicorn's HTTP/1.1 protocol with the bounds a public REST door needs.

uvicorn closes idle keep-alive connections but sets no limit on how long a client may take to
send a request's headers, nor on how many connections are open at once: thousands of half-open
connections (a "slowloris") exhausted the file descriptors and took the health checks down with
them. ``GuardedH11Protocol`` adds:

* a header timeout: a connection that has not sent a whole request head within
  ``header_seconds`` of connecting (or of its last response) is closed;
* a connection limit: when more than ``max_connections`` are open, one that is not inside a
  request is closed to make room, so new clients (a health check among them) are served while
  stalled ones go first.

Body timeouts are the REST app's (rest._read_body): each chunk of a body must arrive within
``body_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("bnns.server")


class GuardLimits:
    def __init__(self, header_seconds: float = 10.0, max_connections: int = 1024):
        self.header_seconds, self.max_connections = header_seconds, max_connections


def guarded_protocol(limits: GuardLimits):
    """An H11Protocol class bound to ``limits`` (uvicorn.Config(http=...) takes a class)."""

    class GuardedH11Protocol(H11Protocol):
        _limits = limits

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer: Optional[asyncio.TimerHandle] = None
            self._arm_header_timer()
            if len(self.connections) > self._limits.max_connections:
                self._evict_one()

        def connection_lost(self, exc) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None:            # a request head arrived: no longer waiting for one
                self._disarm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():   # keep-alive: the next head must come in time too
                self._arm_header_timer()

        # ------------------------------------------------------------------------------
        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(self._limits.header_seconds, self._header_timeout)

        def _disarm_header_timer(self) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                log.info("REST: closed a connection that sent no request head within %.1f s",
                         self._limits.header_seconds)
                self.transport.close()

        def _idle(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _evict_one(self) -> None:
            """Close a connection not inside a request (this one, new, only if no other is idle)."""
            for other in list(self.connections):
                if other is not self and getattr(other, "_idle", lambda: False)() \
                        and not other.transport.is_closing():
                    other.transport.close()
                    return
            self.transport.close()                # every other one is busy: this one waits its turn elsewhere

    return GuardedH11Protocol
