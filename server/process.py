"""A bnns-server in a child process, for tests, benchmarks and anyone embedding the server.

``ServerProcess(*flags)`` starts ``python -m bnns.server.cli`` with ports chosen by the OS (and,
with ``address_space_bytes``, under ``prlimit --as``), reads
the real ports from its "listening on" lines, keeps draining its output (a full pipe would stall
the server once its JSON log filled it) and stops it with SIGTERM, as an operator would.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
from typing import Optional

_LISTEN = re.compile(r"bnns-server: (gRPC|REST) listening on (\S+):(\d+)")


class ServerProcess:
    def __init__(self, *flags: str, http: bool = False, env: Optional[dict] = None, timeout: float = 30.0,
                 keep_lines: int = 100_000, address_space_bytes: int = 0):
        cmd = [sys.executable, "-m", "bnns.server.cli", "--grpc-port", "0", "--http-port", "0", *flags]
        if not http and "--no-http" not in flags:
            cmd.append("--no-http")
        if address_space_bytes:   # a server that tried to allocate past it would fail, not eat the machine
            cmd = ["prlimit", f"--as={int(address_space_bytes)}", "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        self.output: collections.deque = collections.deque(maxlen=keep_lines)
        self.ports: dict = {}
        self.host = "127.0.0.1"
        wanted = {"gRPC"} | ({"REST"} if http else set())
        started = threading.Event()

        def pump():
            for line in self.proc.stdout or ():      # (stdout=PIPE: always there)
                self.output.append(line)
                match = _LISTEN.search(line)
                if match:
                    self.host = match.group(2)
                    self.ports[match.group(1)] = int(match.group(3))
                    if wanted <= set(self.ports):
                        started.set()
            started.set()       # the process ended: stop waiting

        threading.Thread(target=pump, daemon=True).start()
        if not started.wait(timeout) or not wanted <= set(self.ports):
            self.stop()
            raise RuntimeError("bnns-server did not start:\n" + "".join(self.output))

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ports['gRPC']}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['REST']}"

    def rss_mib(self, field: str = "VmRSS") -> float:
        """Resident memory of the server (/proc/<pid>/status: VmRSS now, VmHWM peak), in MiB."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field} in /proc/{self.proc.pid}/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far (/proc/<pid>/stat fields 14 and 15)."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


# --------------------------------------------------------------------------------------------
# Replicas on one host, for tests and benchmarks: a redis-server, and nginx in front with the
# deployment's own configuration (docker/nginx.conf) pointed at loopback ports.

def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    import socket
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


class RedisProcess:
    """redis-server on a loopback port, its files in ``directory``; with ``durable`` every write
    is in its append-only file before it answers (``fsync`` "always"; "everysec" syncs once a
    second), so a stop and start keeps everything."""

    def __init__(self, directory: str, port: int = 0, durable: bool = True, fsync: str = "always"):
        self.directory, self.port, self.durable, self.fsync = str(directory), port or free_port(), durable, fsync
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
               "--save", "", "--protected-mode", "no"]
        cmd += ["--appendonly", "yes", "--appendfsync", self.fsync] if self.durable else ["--appendonly", "no"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, "redis-server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


NGINX_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docker", "nginx.conf")


def nginx_config(directory: str, grpc_port: int, http_port: int, grpc_upstreams, http_upstreams) -> str:
    """docker/nginx.conf with its listen ports and upstream servers replaced, its files
    (pid, logs, temporary bodies) in ``directory`` and in the foreground."""
    with open(NGINX_CONF) as source:
        text = source.read()
    text = text.replace("worker_processes auto;", f"worker_processes 1;\ndaemon off;\npid {directory}/nginx.pid;\n"
                        f"error_log {directory}/error.log warn;")
    temp = "".join(f"    {kind}_temp_path {directory}/{kind};\n" for kind in
                   ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = text.replace("http {\n", "http {\n" + temp, 1)
    text = text.replace("listen 50051 http2;", f"listen 127.0.0.1:{grpc_port} http2;")
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{http_port};")

    def upstream(name: str, servers) -> None:
        nonlocal text
        start = text.index(f"upstream {name} {{")
        end = text.index("}", start)
        block = text[start:end]
        lines = [line for line in block.splitlines() if not line.strip().startswith("server ")]
        found = re.search(r"server \S+ ([^;]*);", block)
        if found is None:
            raise RuntimeError(f"upstream {name} in the nginx configuration has no server line")
        options = found.group(1)
        servers = [f"        server {address} {options};" for address in servers]
        text = text[:start] + "\n".join(lines[:2] + servers + lines[2:]) + "\n    " + text[end:]

    upstream("bnns_grpc", grpc_upstreams)
    upstream("bnns_rest", http_upstreams)
    return text


class NginxProcess:
    """nginx with the deployment's configuration in front of replicas on loopback ports."""

    def __init__(self, directory: str, grpc_upstreams, http_upstreams=("127.0.0.1:9",)):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.grpc_port, self.http_port = free_port(), free_port()
        path = os.path.join(self.directory, "nginx.conf")
        with open(path, "w") as conf:
            conf.write(nginx_config(self.directory, self.grpc_port, self.http_port, grpc_upstreams, http_upstreams))
        binary = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.path.exists(p)), "nginx")
        self.proc = subprocess.Popen([binary, "-c", path, "-p", self.directory], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        try:
            _wait_port(self.grpc_port, self.proc, "nginx")
        except RuntimeError as error:
            stderr = self.proc.stderr.read() if self.proc.stderr is not None and self.proc.poll() is not None else ""
            raise RuntimeError(f"{error}: {stderr}") from None

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)    # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Replica:
    """A bnns-server replica on fixed ports over a shared store, restartable (a SIGKILLed one
    comes back on the same ports, as a restarted pod behind the same address would)."""

    def __init__(self, store_url: str, *flags: str, http: bool = False):
        self.store_url, self.flags, self.http = store_url, flags, http
        self.grpc_port, self.http_port = free_port(), free_port()
        self.server = self.start()

    def start(self) -> ServerProcess:
        return ServerProcess("--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
                             "--state-store", self.store_url, *self.flags, http=self.http)

    def kill(self) -> None:
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait(30)

    def restart(self) -> None:
        self.server = self.start()

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_target(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def stop(self) -> int:
        return self.server.stop()
