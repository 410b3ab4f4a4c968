"""Shared fixtures: a real bnns-server process on loopback, and the SDK connected to it or to
in-process kernels ("local"), so SDK tests run against both backends."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

_LISTEN = re.compile(r"bnns-server: (gRPC|REST) listening on (\S+):(\d+)")


class ServerProcess:
    """`python -m bnns.server.cli` with ports chosen by the OS, read from its start-up lines."""

    def __init__(self, *args: str, env: dict | None = None, http: bool = False, timeout: float = 30.0):
        cmd = [sys.executable, "-m", "bnns.server.cli", "--grpc-port", "0", "--http-port", "0", *args]
        if not http and "--no-http" not in args:
            cmd.append("--no-http")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.ports: dict[str, int] = {}
        wanted = {"gRPC"} | ({"REST"} if http else set())
        deadline = time.monotonic() + timeout
        while not wanted <= set(self.ports):
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError("bnns-server did not start:\n" + "".join(self.output))
            match = _LISTEN.search(line)
            if match:
                self.host = match.group(2)
                self.ports[match.group(1)] = int(match.group(3))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("bnns-server did not start:\n" + "".join(self.output))

    def _pump(self):
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ports['gRPC']}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['REST']}"

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="session")
def grpc_server():
    server = ServerProcess()
    yield server
    assert server.stop() == 0, "".join(server.output)


@pytest.fixture(params=["local", "remote"])
def bnns(request, grpc_server):
    """The SDK module, connected to in-process kernels or to the live server."""
    import bnns.client as sdk
    sdk.connect("local" if request.param == "local" else grpc_server.grpc_target)
    yield sdk
    sdk.connect("local")
