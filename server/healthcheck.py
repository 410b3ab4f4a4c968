"""`python -m bnns.server.healthcheck`: exit 0 when the local server is ready, 1 otherwise.

The container HEALTHCHECK runs it. It asks the REST readiness route (/v2/health/ready, 503 while
draining) on BNNS_HTTP_PORT, or, with --grpc, the gRPC health service on BNNS_GRPC_PORT. Standard
library only for REST, so the check stays cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def http_ready(host: str, port: int, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/v2/health/ready", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def grpc_ready(host: str, port: int, timeout: float) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    try:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="bnns.v1.BNNSService"), timeout=timeout).status
        return status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc", action="store_true", help="check gRPC health instead of REST readiness")
    parser.add_argument("--port", type=int, default=None, help="default: BNNS_HTTP_PORT / BNNS_GRPC_PORT")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.grpc:
        port = args.port or int(os.environ.get("BNNS_GRPC_PORT", 50051))
        ok = grpc_ready(args.host, port, args.timeout)
    else:
        port = args.port or int(os.environ.get("BNNS_HTTP_PORT", 8080))
        ok = http_ready(args.host, port, args.timeout)
    print("ready" if ok else "not ready")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
