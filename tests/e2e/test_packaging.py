"""What the Docker image runs, tested outside a container: the wheel `pip install .` builds holds
every module and the console script, and the health-check command tells ready from not ready."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import zipfile


from ..conftest import ServerProcess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_wheel_holds_every_package_and_the_console_script(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, timeout=300)
    wheel = next(tmp_path.glob("bnns_rpc-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("bnns/v1/service_pb2.py", "bnns/v1/service_pb2_grpc.py", "bnns/v1/types_pb2.py",
                   "bnns/kernels/convolution.py", "bnns/server/cli.py", "bnns/server/healthcheck.py",
                   "bnns/client/api.py", "bnns/errors/__init__.py", "bnns/server/rest/app.py"):
        assert module in names, module
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "bnns-server = bnns.server.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthcheck(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bnns.server.healthcheck", *args], capture_output=True, text=True,
                          timeout=30)


def test_healthcheck_command_against_a_live_server_and_a_dead_port():
    server = ServerProcess(http=True)
    try:
        rest = healthcheck("--port", str(server.ports["REST"]))
        grpc = healthcheck("--grpc", "--port", str(server.ports["gRPC"]))
        assert rest.returncode == 0 and "ready" in rest.stdout
        assert grpc.returncode == 0
    finally:
        assert server.stop() == 0
    dead = free_port()
    assert healthcheck("--port", str(dead), "--timeout", "1").returncode == 1
    assert healthcheck("--grpc", "--port", str(dead), "--timeout", "1").returncode == 1


def test_dockerfile_runs_what_the_tests_cover():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["bnns-server"]' in dockerfile                      # the tested console script
    assert '"-m", "bnns.server.healthcheck"' in dockerfile                 # the tested health check
    assert "USER bnns" in dockerfile and "FROM python:3.11-slim" in dockerfile
    assert "BNNS_STATE_DIR=/var/lib/bnns" in dockerfile and "VOLUME /var/lib/bnns" in dockerfile   # durable
    for folder in ("proto", "errors", "kernels", "server", "client"):
        assert f"COPY {folder} ./{folder}" in dockerfile


# ------------------------------------------------------------------------- health check, TLS

from tests.e2e.test_security import pki   # noqa: E402,F401  (the CA and certificates fixture)


def healthcheck_env(*args, env=None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BNNS_TLS", "BNNS_HEALTHCHECK"))}
    return subprocess.run([sys.executable, "-m", "bnns.server.healthcheck", *args], capture_output=True, text=True,
                          timeout=60, env={**environ, **(env or {})})


def test_healthcheck_speaks_tls_from_the_servers_environment(pki):   # noqa: F811 (the fixture imported above)
    env = {"BNNS_TLS_CERT": pki["server_cert"], "BNNS_TLS_KEY": pki["server_key"]}
    server = ServerProcess(http=True, env=env)
    try:
        rest, grpc_port = str(server.ports["REST"]), str(server.ports["gRPC"])
        assert healthcheck_env("--port", rest).stdout.strip() == "not ready"            # plain HTTP to HTTPS
        assert healthcheck_env("--port", rest, env=env).returncode == 0                 # pins BNNS_TLS_CERT
        assert healthcheck_env("--port", rest, "--ca-file", pki["ca"]).returncode == 0
        assert healthcheck_env("--grpc", "--port", grpc_port, "--ca-file", pki["ca"]).returncode == 0
        assert healthcheck_env("--grpc", "--port", grpc_port).returncode == 1           # plaintext to TLS
        stranger = healthcheck_env("--port", rest, "--ca-file", pki["other_ca"])         # a CA that did not sign it
        assert stranger.returncode == 1
    finally:
        assert server.stop() == 0


def test_healthcheck_presents_a_client_certificate_to_a_mutual_tls_server(pki):   # noqa: F811
    env = {"BNNS_TLS_CERT": pki["server_cert"], "BNNS_TLS_KEY": pki["server_key"], "BNNS_TLS_CLIENT_CA": pki["ca"]}
    server = ServerProcess(http=True, env=env)
    try:
        rest = str(server.ports["REST"])
        assert healthcheck_env("--port", rest, env=env).returncode == 1                 # no client certificate
        client = {"BNNS_HEALTHCHECK_CERT": pki["client_cert"], "BNNS_HEALTHCHECK_KEY": pki["client_key"]}
        assert healthcheck_env("--port", rest, env={**env, **client}).returncode == 0
        assert healthcheck_env("--grpc", "--port", str(server.ports["gRPC"]), "--ca-file", pki["ca"],
                               env={**env, **client}).returncode == 0
    finally:
        assert server.stop() == 0
