"""One typed settings object: every flag and its environment variable, in one place."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Optional, Sequence

GIB, MIB = 1 << 30, 1 << 20


@dataclasses.dataclass
class Settings:
    host: str = "127.0.0.1"
    grpc_port: int = 50051                 # 0 = pick a free port
    http_port: int = 8080                  # 0 = pick a free port
    enable_grpc: bool = True
    enable_http: bool = True
    max_message_bytes: int = 256 * MIB     # gRPC send/receive cap and REST body cap
    max_json_bytes: int = 16 * MIB         # a REST JSON body (parsed, it takes ~50x its size)
    max_tensor_bytes: int = 0              # one tensor of a request; 0 = only max_message_bytes
    max_handles: int = 0                   # live filters per tenant; 0 = unlimited
    max_handle_bytes: int = 0              # bytes held by one tenant's filters; 0 = unlimited
    # A handle unused this long is destroyed (server/leases.py); 0 = handles live until destroyed.
    # 15 minutes: a killed client's weights and cached activations come back within a quarter
    # hour, while a live client keeps its handles by using them (any call renews) or through the
    # SDK's session (KeepAlive), and a paused notebook or a long evaluation fits in the window.
    lease_seconds: float = 900.0
    max_request_bytes: int = 0             # one request (its tensors and all); 0 = only the message caps
    max_streamed_bytes: int = 2 * GIB      # one message sent through ChunkedCall
    max_call_bytes: int = 4 * GIB          # memory one call may make the server allocate (estimated first)
    max_memory_bytes: int = 12 * GIB       # memory all calls in flight may allocate together
    workers: int = 8                       # gRPC thread pool
    max_streams: int = 4                   # ChunkedCall streams open at once (below workers)
    max_streams_per_tenant: int = 2        # ... per tenant
    stream_idle_seconds: float = 30.0      # a stream that sends nothing for this long is cancelled
    stream_total_seconds: float = 600.0    # and one that is still streaming after this long
    grace_seconds: float = 10.0            # SIGTERM: how long in-flight calls may finish
    shared_memory: bool = True             # RegisterSharedMemory and shared-memory Buffers (same host)
    http_header_seconds: float = 10.0      # REST: a connection must send a request head within this
    http_body_seconds: float = 30.0        # REST: each piece of a body must come within this
    http_max_connections: int = 1024       # REST: open connections; past it an idle one is closed
    state_dir: str = ""                    # durable handles (SQLite) under this directory; "" = in memory only
    state_store: str = ""                  # redis://host:port/db: a store shared by replicas (server/state_redis.py)
    log_level: str = "INFO"
    log_summary_seconds: float = 60.0      # INFO line of calls served per interval (0 = only at stop)
    # Authentication and TLS (server/auth.py). No tokens = open mode, loopback only unless allow_open.
    token_file: str = ""                   # lines "token tenant"
    tokens: str = dataclasses.field(default="", repr=False)   # BNNS_TOKENS "tok=tenant,...": environment only
    allow_open: bool = False               # serve a non-loopback host with no tokens
    tls_cert: str = ""                     # PEM certificate chain: TLS for gRPC, HTTPS for REST
    tls_key: str = ""                      # PEM private key of tls_cert
    tls_client_ca: str = ""                # PEM CA: require client certificates it signed (mutual TLS)


# flag name -> (environment variable, type, help)
_FLAGS = {
    "host": ("BNNS_HOST", str, "address to bind (both gRPC and REST)"),
    "grpc_port": ("BNNS_GRPC_PORT", int, "gRPC port (0 = a free one)"),
    "http_port": ("BNNS_HTTP_PORT", int, "REST port (0 = a free one)"),
    "max_message_bytes": ("BNNS_MAX_MESSAGE_BYTES", int, "largest gRPC message / REST body, bytes"),
    "max_json_bytes": ("BNNS_MAX_JSON_BYTES", int, "largest REST JSON body, bytes: parsed numbers take about 50 "
                       "times their text, so JSON has its own cap; binary protobuf bodies have max_message_bytes"),
    "max_tensor_bytes": ("BNNS_MAX_TENSOR_BYTES", int, "largest single tensor in a request, bytes (0 = no own cap)"),
    "max_handles": ("BNNS_MAX_HANDLES", int, "live filters per tenant (0 = unlimited)"),
    "max_handle_bytes": ("BNNS_MAX_HANDLE_BYTES", int, "bytes one tenant's filters may hold (0 = unlimited)"),
    "lease_seconds": ("BNNS_LEASE_SECONDS", float,
                      "destroy a filter or tensor left unused this long, unless its create asked for another "
                      "lease (0 = live until destroyed)"),
    "max_request_bytes": ("BNNS_MAX_REQUEST_BYTES", int,
                          "bytes of one request's tensors, streamed or not (0 = only the message caps)"),
    "max_streamed_bytes": ("BNNS_MAX_STREAMED_BYTES", int, "largest message sent in chunks (ChunkedCall), bytes"),
    "max_call_bytes": ("BNNS_MAX_CALL_BYTES", int, "memory one call may make the server allocate (results, "
                       "gradients, scratch; estimated before anything is allocated), bytes (0 = unlimited)"),
    "max_memory_bytes": ("BNNS_MAX_MEMORY_BYTES", int, "memory all calls in flight may allocate together; a call "
                         "that does not fit waits up to 10 s for room, then fails (0 = unlimited)"),
    "workers": ("BNNS_WORKERS", int, "gRPC worker threads"),
    "max_streams": ("BNNS_MAX_STREAMS", int, "ChunkedCall streams open at once; below --workers, so that waiting "
                    "streams never take every worker"),
    "max_streams_per_tenant": ("BNNS_MAX_STREAMS_PER_TENANT", int, "ChunkedCall streams one tenant may have open"),
    "stream_idle_seconds": ("BNNS_STREAM_IDLE_SECONDS", float, "cancel a ChunkedCall stream idle this long"),
    "stream_total_seconds": ("BNNS_STREAM_TOTAL_SECONDS", float, "cancel a ChunkedCall stream still sending after "
                             "this long"),
    "grace_seconds": ("BNNS_GRACE_SECONDS", float, "seconds in-flight calls get to finish on SIGTERM"),
    "log_level": ("BNNS_LOG_LEVEL", str, "DEBUG (a line per call), INFO (a summary of calls per interval), "
                  "WARNING or ERROR"),
    "log_summary_seconds": ("BNNS_LOG_SUMMARY_SECONDS", float,
                            "seconds between INFO summaries of the calls served (0 = only at stop)"),
    "http_header_seconds": ("BNNS_HTTP_HEADER_SECONDS", float, "REST: close a connection that sends no request "
                            "head within this many seconds"),
    "http_body_seconds": ("BNNS_HTTP_BODY_SECONDS", float, "REST: refuse a request whose body stalls this long"),
    "http_max_connections": ("BNNS_HTTP_MAX_CONNECTIONS", int, "REST: open connections; past it, one not inside a "
                             "request is closed to make room"),
    "state_dir": ("BNNS_STATE_DIR", str, "keep every handle in a SQLite file under this directory, so that it "
                  "survives a crash or a restart (empty: handles live in memory only)"),
    "state_store": ("BNNS_STATE_STORE", str, "redis://host:port/db: keep every handle in Redis instead, shared by "
                    "several replicas behind a balancer (README, 'Running several replicas'); excludes --state-dir"),
    "token_file": ("BNNS_TOKEN_FILE", str, "file of 'token tenant' lines; with it (or BNNS_TOKENS=tok=tenant,...) "
                   "every BNNSService call needs 'authorization: Bearer <token>'"),
    "tls_cert": ("BNNS_TLS_CERT", str, "PEM certificate: TLS for gRPC and HTTPS for REST (with --tls-key)"),
    "tls_key": ("BNNS_TLS_KEY", str, "PEM private key of --tls-cert"),
    "tls_client_ca": ("BNNS_TLS_CLIENT_CA", str, "PEM CA: require client certificates signed by it (mutual TLS)"),
}


def parse(argv: Optional[Sequence[str]] = None, environ=os.environ) -> Settings:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="bnns-server",
        description="Serve Apple BNNS filters (forward and backward) over gRPC and REST.",
        epilog="Every flag can also be set by the environment variable in brackets; a flag wins.")
    for name, (env, kind, help_text) in _FLAGS.items():
        default = kind(environ[env]) if env in environ else getattr(defaults, name)
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=default,
                            help=f"{help_text} [{env}] (default: {default})")
    parser.add_argument("--no-grpc", dest="enable_grpc", action="store_false", help="do not serve gRPC")
    parser.add_argument("--no-http", dest="enable_http", action="store_false", help="do not serve REST")
    parser.add_argument("--no-shared-memory", dest="shared_memory", action="store_false",
                        default=environ.get("BNNS_SHARED_MEMORY", "1").lower() not in ("0", "false", "no"),
                        help="refuse RegisterSharedMemory and shared-memory buffers [BNNS_SHARED_MEMORY=0]")
    parser.add_argument("--allow-open", action="store_true",
                        default=environ.get("BNNS_ALLOW_OPEN", "").lower() in ("1", "true", "yes"),
                        help="with no tokens configured, serve a non-loopback --host anyway, to anyone who can "
                             "reach it [BNNS_ALLOW_OPEN=1]")
    parser.set_defaults(tokens=environ.get("BNNS_TOKENS", ""))   # never a flag: ps shows command lines
    args = parser.parse_args(argv)
    if environ.get("BNNS_NO_HTTP") in ("1", "true"):
        args.enable_http = False
    if not (args.enable_grpc or args.enable_http):
        parser.error("--no-grpc and --no-http together leave nothing to serve")
    if args.state_store and args.state_dir:
        parser.error("--state-store and --state-dir are two state stores: give one")
    if args.state_store and not args.state_store.startswith(("redis://", "rediss://", "unix://")):
        parser.error(f"--state-store {args.state_store!r}: give a redis://host:port/db URL")
    if args.max_streams >= args.workers:
        parser.error(f"--max-streams {args.max_streams} must be below --workers {args.workers}: waiting ChunkedCall "
                     "streams would leave no worker for other calls")
    return Settings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)})
