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
            for line in self.proc.stdout:
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

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
