"""`bnns-server`: parse the settings, start gRPC (and REST), drain cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Optional, Sequence

from . import blas_threads

blas_threads.sleep_soon()     # before the imports below load NumPy (and OpenBLAS reads the setting)

from grpc_health.v1 import health_pb2

from . import calllog, codec, leases, rest, settings as settings_mod
from . import auth
from .core import Core
from .dataplane import MemoryBudget, SharedMemoryTable
from .state import SqliteStateStore
from .grpc_service import SERVICE_NAME, create_server
from .registry import Registry
from .observability import configure_logging
from .tuning import keep_freed_memory

log = logging.getLogger("bnns.server")


def build_store(settings: settings_mod.Settings):
    if settings.state_store:
        from .state_redis import RedisStateStore
        return RedisStateStore(settings.state_store, max_handles=settings.max_handles,
                               max_handle_bytes=settings.max_handle_bytes)
    return SqliteStateStore(settings.state_dir) if settings.state_dir else None


def build_core(settings: settings_mod.Settings) -> Core:
    return Core(Registry(max_handles=settings.max_handles, max_handle_bytes=settings.max_handle_bytes,
                         default_lease_seconds=settings.lease_seconds),
                codec.Limits(max_tensor_bytes=settings.max_tensor_bytes, max_request_bytes=settings.max_request_bytes,
                             max_call_bytes=settings.max_call_bytes),
                SharedMemoryTable(enabled=settings.shared_memory),
                build_store(settings),
                MemoryBudget(settings.max_memory_bytes))


def check_ports(settings: settings_mod.Settings) -> None:
    """Raise OSError with a one-line reason when a door's port cannot be bound (taken, not
    allowed, unresolvable host), before anything is served. Port 0 always binds."""
    doors = [(door, flag, port) for door, flag, port, on in (
        ("gRPC", "--grpc-port", settings.grpc_port, settings.enable_grpc),
        ("REST", "--http-port", settings.http_port, settings.enable_http)) if on and port]
    if len(doors) == 2 and doors[0][2] == doors[1][2]:
        raise OSError(f"gRPC and REST are both given port {doors[0][2]}: give them different ports")
    for door, flag, port in doors:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(settings.host, port, type=socket.SOCK_STREAM,
                                                                 flags=socket.AI_PASSIVE)[0]
        except socket.gaierror as error:
            raise OSError(f"cannot resolve --host {settings.host!r}: {error.strerror}") from None
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the doors bind: TIME_WAIT is no clash
            try:
                probe.bind(address)
            except OSError as error:
                raise OSError(f"{door} port {port} on {settings.host} is not available ({error.strerror}): "
                              f"stop what holds it or choose another with {flag}") from None


def serve(settings: settings_mod.Settings) -> int:
    keep_freed_memory()
    try:   # before anything binds: no tokens on a public address, broken TLS files -> exit 2 with the reason
        authenticator = auth.Authenticator.from_settings(settings)
        auth.check_startup(settings, authenticator)
    except auth.ConfigurationError as error:
        print(f"bnns-server: {error}", file=sys.stderr, flush=True)
        return 2
    core = build_core(settings)
    stop_event, ready = threading.Event(), threading.Event()
    store_up = threading.Event()      # a shared store's reachability (readiness includes it)
    store_up.set()

    def drain(signum, _frame):
        log.info("signal %d: draining", signum)
        stop_event.set()

    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    grpc_server = health_servicer = http_server = app = None
    try:   # every port checked and bound before either door serves: a taken port -> exit 2, nothing served
        check_ports(settings)
        if settings.enable_grpc:
            grpc_server, port, health_servicer = create_server(settings, core, authenticator)
        if settings.enable_http:   # same core, same registry: a handle from one door works at the other
            app = rest.create_app(core, settings, readiness=lambda: ready.is_set() and store_up.is_set(),
                                  authenticator=authenticator)
    except (OSError, RuntimeError) as error:
        print(f"bnns-server: {error}", file=sys.stderr, flush=True)
        return 2
    if grpc_server is not None:
        grpc_server.start()
        log.info("gRPC serving %s on %s:%d", SERVICE_NAME, settings.host, port)
        print(f"bnns-server: gRPC listening on {settings.host}:{port}{auth.tls_suffix(settings)}", flush=True)
    if app is not None:
        try:
            http_server, http_port, http_thread = rest.start_http(app, settings)
        except OSError as error:   # taken between the check and now
            print(f"bnns-server: {error}", file=sys.stderr, flush=True)
            if grpc_server is not None:
                grpc_server.stop(0)
            return 2
        log.info("REST serving on %s:%d", settings.host, http_port)
        print(f"bnns-server: REST listening on {settings.host}:{http_port}{auth.tls_suffix(settings)}", flush=True)
    ready.set()
    watch = None
    if getattr(core.state, "shared", False):   # readiness and health follow the shared store
        from .state_redis import StoreWatch

        def store_changed(reachable: bool) -> None:
            (store_up.set if reachable else store_up.clear)()
            if not reachable:
                log.warning("the state store %s does not answer: not ready, calls are UNAVAILABLE", settings.state_store)
            if health_servicer is not None and ready.is_set():
                for name in ("", SERVICE_NAME):
                    health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING if reachable
                                        else health_pb2.HealthCheckResponse.NOT_SERVING)
        watch = StoreWatch(core.state, store_changed).start()
        print(f"bnns-server: replica {core.state.replica} over the shared state store", flush=True)
    summary = calllog.CallSummary(core.metrics, settings.log_summary_seconds).start()
    reaper = leases.Reaper(core.registry, core.metrics.registry, leases.Reaper.interval_for(settings.lease_seconds),
                           state=core.state, replicas=core.replicas)
    reaper.start()
    stop_event.wait()
    # Both doors at once: readiness and health say so, and new calls are UNAVAILABLE (gRPC refuses
    # them once stopping, REST while not ready); calls already in flight, even those still sending
    # their request, get the grace period. A kernel still running after it is not waited for: the
    # process exits (what that call computed was never committed).
    ready.clear()                                   # REST /v2/health/ready -> 503, /v1 calls -> 503
    if health_servicer is not None:
        health_servicer.enter_graceful_shutdown()   # health -> NOT_SERVING for every service
    deadline = time.monotonic() + settings.grace_seconds
    if grpc_server is not None:
        grpc_server.stop(settings.grace_seconds).wait(settings.grace_seconds + 0.5)
    if http_server is not None:
        rest.stop_http(http_server, http_thread, max(0.0, deadline - time.monotonic()))
    reaper.stop()
    if watch is not None:
        watch.stop()
    summary.stop()                                  # the calls since the last summary, drained ones included
    log.info("stopped")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    settings = settings_mod.parse(argv)
    configure_logging(settings.log_level)
    code = serve(settings)
    # Exit now, within the grace period: the interpreter would otherwise wait for worker threads
    # still inside a kernel whose call was already cancelled.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
