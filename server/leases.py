"""Handle leases: a handle left unused for its lease is destroyed, so a client that dies without
destroying its filters and tensors does not leave them on the server for ever.

Every call that names a handle renews it (Registry.get), as does KeepAlive (the SDK's session
sends it while a client holds handles). The ``Reaper`` thread sweeps the registry a few times
per lease, destroys what expired, counts it in ``bnns_expired_handles_total{kind}`` (/metrics)
and logs each at INFO with its tenant and idle time.
"""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import Counter

from bnns.kernels.errors import BNNSError

from .registry import TENSOR

log = logging.getLogger("bnns.server")


class Reaper:
    def __init__(self, registry, metrics_registry, interval: float = 1.0, state=None, replicas=None):
        self.registry, self.interval = registry, interval
        self.expired = Counter("bnns_expired_handles", "Handles destroyed because their lease ran out",
                               ["kind"], registry=metrics_registry)
        for kind in ("filter", "tensor"):
            self.expired.labels(kind)            # exported as 0 before the first expiry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bnns-lease-reaper", daemon=True)
        self.state = state          # a StateStore: what expires is gone after a restart too
        self.replicas = replicas    # over a shared store: drop copies of handles served elsewhere

    @staticmethod
    def interval_for(default_lease: float) -> float:
        """Sweep often enough that a handle outlives its lease by at most a quarter of it (a
        second at most, a tenth of a second at least)."""
        return min(1.0, max(0.1, default_lease / 4)) if default_lease else 1.0

    def start(self) -> "Reaper":
        self._thread.start()
        return self

    def sweep(self) -> int:
        now = time.monotonic()
        expired = self.registry.expire(now)
        if expired and getattr(self.state, "shared", False):
            # Another replica may serve the handle now: the store destroys it only if no replica
            # touched it for its lease; this replica's copy goes either way (registry.expire).
            try:
                self.state.expire_idle([entry.filter_id for entry in expired])
            except BNNSError as error:      # the store is down: the replica that loads it next reaps it
                log.warning("lease sweep: %s", error)
        elif expired and self.state is not None:
            self.state.commit((), [entry.filter_id for entry in expired])
        for entry in expired:
            kind = "tensor" if entry.kind == TENSOR else "filter"
            self.expired.labels(kind).inc()
            log.info("lease expired: destroyed %s %s (unused for %.1f s, lease %g s)", kind, entry.filter_id,
                     now - entry.last_used, entry.lease_seconds,
                     extra={"handle_id": entry.filter_id, "tenant": entry.owner, "kind": entry.kind})
        return len(expired)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
                if self.replicas is not None:
                    self.replicas.evict_moved()
            except Exception:      # a bug must not end the sweeping
                log.exception("lease sweep failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
