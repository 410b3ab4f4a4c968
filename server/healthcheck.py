"""`python -m bnns.server.healthcheck`: exit 0 when the local server is ready, 1 otherwise.

The container HEALTHCHECK runs it. It asks the REST readiness route (/v2/health/ready, 503 while
draining) on BNNS_HTTP_PORT, or, with --grpc, the gRPC health service on BNNS_GRPC_PORT. Standard
library only for REST, so the check stays cheap.

TLS follows the server's own environment, so the same container check works with and without
it: with BNNS_TLS_CERT set (or --tls) it speaks HTTPS / TLS. It verifies the server with
--ca-file [BNNS_HEALTHCHECK_CA] when given; otherwise it pins the server's own certificate
(BNNS_TLS_CERT: this exact certificate is trusted, whoever signed it, as befits a check of the
server in the same container; REST only: gRPC's TLS needs the CA, so give --ca-file for
--grpc). A server that requires client certificates (BNNS_TLS_CLIENT_CA) needs --cert and
--key [BNNS_HEALTHCHECK_CERT, BNNS_HEALTHCHECK_KEY], a client certificate its CA signed.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import urllib.error
import urllib.request
from typing import Optional


def http_ready(host: str, port: int, timeout: float, context: Optional[ssl.SSLContext] = None) -> bool:
    scheme = "https" if context is not None else "http"
    try:
        with urllib.request.urlopen(f"{scheme}://{host}:{port}/v2/health/ready", timeout=timeout,
                                    context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def grpc_ready(host: str, port: int, timeout: float, credentials=None, server_name: str = "") -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    target = f"{host}:{port}"
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    try:
        with (grpc.secure_channel(target, credentials, options) if credentials is not None
              else grpc.insecure_channel(target)) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
                health_pb2.HealthCheckRequest(service="bnns.v1.BNNSService"), timeout=timeout).status
        return status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def ssl_context(ca_file: str, server_cert: str, cert: str, key: str) -> ssl.SSLContext:
    """Verify with ``ca_file``; without one, trust exactly ``server_cert`` (pinned); present
    ``cert``/``key`` when given (mutual TLS)."""
    if ca_file:
        context = ssl.create_default_context(cafile=ca_file)
    elif server_cert:
        context = ssl.create_default_context(cafile=server_cert)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN   # the leaf itself is the trust anchor
        context.check_hostname = False                          # pinned to this certificate, not a name
    else:
        context = ssl.create_default_context()
    if cert:
        context.load_cert_chain(cert, key or None)
    return context


def _read(path: str) -> Optional[bytes]:
    if not path:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def main(argv=None, environ=os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc", action="store_true", help="check gRPC health instead of REST readiness")
    parser.add_argument("--port", type=int, default=None, help="default: BNNS_HTTP_PORT / BNNS_GRPC_PORT")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None,
                        help="speak TLS (default: when BNNS_TLS_CERT is set, as the server does)")
    parser.add_argument("--ca-file", default=environ.get("BNNS_HEALTHCHECK_CA", ""),
                        help="PEM CA that signed the server's certificate [BNNS_HEALTHCHECK_CA] (default: "
                             "trust exactly BNNS_TLS_CERT, REST only)")
    parser.add_argument("--cert", default=environ.get("BNNS_HEALTHCHECK_CERT", ""),
                        help="PEM client certificate, for a server that requires one [BNNS_HEALTHCHECK_CERT]")
    parser.add_argument("--key", default=environ.get("BNNS_HEALTHCHECK_KEY", ""),
                        help="PEM private key of --cert [BNNS_HEALTHCHECK_KEY]")
    parser.add_argument("--server-name", default="", help="the name the server's certificate carries, when it "
                        "is not --host (gRPC; for REST give it as --host)")
    args = parser.parse_args(argv)
    server_cert = environ.get("BNNS_TLS_CERT", "")
    tls = args.tls if args.tls is not None else bool(server_cert or args.ca_file)
    try:
        if args.grpc:
            port = args.port or int(environ.get("BNNS_GRPC_PORT", 50051))
            credentials = None
            if tls:
                import grpc
                credentials = grpc.ssl_channel_credentials(_read(args.ca_file or server_cert), _read(args.key),
                                                           _read(args.cert))
            ok = grpc_ready(args.host, port, args.timeout, credentials, args.server_name)
        else:
            port = args.port or int(environ.get("BNNS_HTTP_PORT", 8080))
            context = ssl_context(args.ca_file, server_cert, args.cert, args.key) if tls else None
            ok = http_ready(args.host, port, args.timeout, context)
    except (OSError, ssl.SSLError) as error:   # an unreadable certificate file: say so, report unhealthy
        print(f"not ready: {error}")
        return 1
    print("ready" if ok else "not ready")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
