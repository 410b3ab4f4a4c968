"""What the server says about calls: every call at DEBUG (Core.call logs it), a summary at INFO.

An operator watching a server at INFO sees one line per interval with the calls it served, by
RPC and outcome, and one more when it stops; DEBUG adds a line per call with its request id,
filter and time. Calls the server makes for itself (the /docs worked examples, run on a private
core at start) are not traffic and are never logged: ``quiet_calls()`` mutes them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Dict, Tuple

log = logging.getLogger("bnns.server")
CALLS_LOGGER = "bnns.server.calls"          # the logger Core.call writes a record per call to

_local = threading.local()


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_local, "quiet", False)


logging.getLogger(CALLS_LOGGER).addFilter(_QuietFilter())


@contextlib.contextmanager
def quiet_calls():
    """Calls made by this thread inside the block are not logged (the server's own calls)."""
    before = getattr(_local, "quiet", False)
    _local.quiet = True
    try:
        yield
    finally:
        _local.quiet = before


def _counts(metrics) -> Dict[Tuple[str, str], float]:
    counts = {}
    for family in metrics.registry.collect():
        if family.name == "bnns_requests":
            for sample in family.samples:
                if sample.name == "bnns_requests_total":
                    counts[(sample.labels["rpc"], sample.labels["status"])] = sample.value
    return counts


class CallSummary:
    """Logs at INFO, every ``interval`` seconds in which calls were served and once at ``stop()``,
    how many calls the core served since the last line, by RPC and status."""

    def __init__(self, metrics, interval: float):
        self.metrics, self.interval = metrics, interval
        self._seen = _counts(metrics)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bnns-call-summary", daemon=True)

    def start(self) -> "CallSummary":
        if self.interval > 0:
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.emit(f"in the last {self.interval:g} s")

    def emit(self, period: str) -> None:
        now = _counts(self.metrics)
        delta = {key: now[key] - self._seen.get(key, 0) for key in now if now[key] > self._seen.get(key, 0)}
        self._seen = now
        if not delta:
            return
        total = int(sum(delta.values()))
        errors = int(sum(n for (_, status), n in delta.items() if status != "OK"))
        parts = ", ".join(f"{rpc} {status} {int(n)}" for (rpc, status), n in sorted(delta.items()))
        log.info("served %d calls %s (%d failed): %s", total, period, errors, parts,
                 extra={"calls": total, "failed": errors})

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.emit("since the last summary")
