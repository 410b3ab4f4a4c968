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

import bisect
import itertools
import json
import logging
import threading
import time

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, registry_of_handles):
        self.registry = CollectorRegistry()
        self._calls = _CallCounts()
        self.registry.register(self._calls)
        live = Gauge("bnns_live_handles", "Live filter handles", registry=self.registry)
        live.set_function(lambda: len(registry_of_handles))
        held = Gauge("bnns_handle_bytes", "Bytes held by live filters (weights and training state)",
                     registry=self.registry)
        held.set_function(lambda: sum(e.bytes_held for e in registry_of_handles.all_entries()))

    def observe(self, rpc: str, kind: str, status: str, seconds: float, received: int, sent: int) -> None:
        self._calls.observe(rpc, kind or "none", status, seconds, received, sent)


class _CallCounts:
    """The per-call metrics (bnns_requests_total, bnns_request_seconds, bnns_received_bytes_total,
    bnns_sent_bytes_total), counted under one lock with plain arithmetic and turned into the same
    families prometheus_client's Counter and Histogram expose when scraped. (Four labelled
    prometheus_client children cost a small call more than the rest of its bookkeeping.)"""

    def __init__(self):
        self._lock = threading.Lock()
        self._created = time.time()
        # (rpc, kind, status) -> [calls, seconds, bucket counts..., received bytes, sent bytes]
        self._rows: dict = {}

    def observe(self, rpc: str, kind: str, status: str, seconds: float, received: int, sent: int) -> None:
        bucket = bisect.bisect_left(_BUCKETS, seconds)        # le: the first bound >= seconds (+Inf last)
        with self._lock:
            row = self._rows.get((rpc, kind, status))
            if row is None:
                row = self._rows[(rpc, kind, status)] = [0, 0.0] + [0] * (len(_BUCKETS) + 1) + [0, 0]
            row[0] += 1
            row[1] += seconds
            row[2 + bucket] += 1
            row[-2] += received
            row[-1] += sent

    def collect(self):
        with self._lock:
            rows = {key: list(row) for key, row in self._rows.items()}
        requests: dict[tuple[str, str], int] = {}
        latency: dict[tuple[str, str], list] = {}          # [seconds, bucket counts...]
        received: dict[str, int] = {}
        sent: dict[str, int] = {}
        for (rpc, kind, status), row in rows.items():
            requests[(rpc, status)] = requests.get((rpc, status), 0) + row[0]
            total = latency.setdefault((rpc, kind), [0.0] + [0] * (len(_BUCKETS) + 1))
            total[0] += row[1]
            for k, count in enumerate(row[2:-2]):
                total[1 + k] += count
            received[rpc] = received.get(rpc, 0) + row[-2]
            sent[rpc] = sent.get(rpc, 0) + row[-1]
        family = CounterMetricFamily("bnns_requests", "Calls by RPC and outcome", labels=["rpc", "status"])
        for (rpc, status), value in requests.items():
            family.add_metric([rpc, status], value, created=self._created)
        yield family
        histogram = HistogramMetricFamily("bnns_request_seconds", "Call latency by RPC and filter kind",
                                          labels=["rpc", "kind"])
        bounds = [floatToGoString(b) for b in _BUCKETS] + ["+Inf"]
        for labels, (seconds, *counts) in latency.items():
            histogram.add_metric(list(labels), list(zip(bounds, itertools.accumulate(counts))), seconds)
        yield histogram
        for name, doc, values in (("bnns_received_bytes", "Request bytes by RPC", received),
                                  ("bnns_sent_bytes", "Response bytes by RPC", sent)):
            counter = CounterMetricFamily(name, doc, labels=["rpc"])
            for rpc, value in values.items():
                counter.add_metric([rpc], value, created=self._created)
            yield counter


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
