"""Metrics and structured logs: one place that every call passes through (Core.call).

Prometheus metrics live in a registry of their own per Core, so several servers in one process
(tests) do not collide:

    bnns_requests_total{rpc, status}          calls, by outcome (OK or the error status)
    bnns_request_seconds{rpc, kind}           latency histogram, by RPC and filter kind
    bnns_received_bytes_total{rpc}            request bytes (serialized message size)
    bnns_sent_bytes_total{rpc}                response bytes
    bnns_live_handles                         live filters
    bnns_handle_bytes                         bytes of weights and training state the filters hold

Logs are JSON lines (one object per record) with the request id, RPC, filter, status and time.
"""

from __future__ import annotations

import json
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, registry_of_handles):
        self.registry = CollectorRegistry()
        self.requests = Counter("bnns_requests_total", "Calls by RPC and outcome", ["rpc", "status"],
                                registry=self.registry)
        self.latency = Histogram("bnns_request_seconds", "Call latency by RPC and filter kind", ["rpc", "kind"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.received = Counter("bnns_received_bytes_total", "Request bytes by RPC", ["rpc"], registry=self.registry)
        self.sent = Counter("bnns_sent_bytes_total", "Response bytes by RPC", ["rpc"], registry=self.registry)
        live = Gauge("bnns_live_handles", "Live filter handles", registry=self.registry)
        live.set_function(lambda: len(registry_of_handles))
        held = Gauge("bnns_handle_bytes", "Bytes held by live filters (weights and training state)",
                     registry=self.registry)
        held.set_function(lambda: sum(e.bytes_held for e in registry_of_handles.all_entries()))

        self._children: dict = {}

    def observe(self, rpc: str, kind: str, status: str, seconds: float, received: int, sent: int) -> None:
        # The labelled children are looked up once per label set: prometheus_client's labels()
        # costs more than the rest of a small call's bookkeeping.
        children = self._children.get((rpc, kind, status))
        if children is None:
            children = self._children[(rpc, kind, status)] = (
                self.requests.labels(rpc, status), self.latency.labels(rpc, kind or "none"),
                self.received.labels(rpc), self.sent.labels(rpc))
        requests, latency, received_bytes, sent_bytes = children
        requests.inc()
        latency.observe(seconds)
        received_bytes.inc(received)
        sent_bytes.inc(sent)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra` fields."""

    # color_message: uvicorn's copy of its message with ANSI colour codes, for terminals only.
    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
