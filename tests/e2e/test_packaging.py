"""What the Docker image runs, tested outside a container: the wheel `pip install .` builds holds
every module and the console script, and the health-check command tells ready from not ready."""

from __future__ import annotations

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
