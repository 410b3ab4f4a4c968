"""The Node.js example (examples/node/conv_client.js) against a live server: a client in another
language, built from the .proto contract alone, gets the hand-computed convolution results,
gradients, lifecycle and error statuses."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess

import pytest

NODE_EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "node"
PACKAGES = ("@grpc/grpc-js", "@grpc/proto-loader")
NPM_TIMEOUT_S = 300    # a cold `npm ci` downloads ~30 small packages
CLIENT_TIMEOUT_S = 60  # the client's own calls have 10 s deadlines


@pytest.fixture(scope="module")
def node():
    """The `node` executable, with the example's packages installed by `npm ci` when missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the Node.js client example cannot run (.ci/run installs nodejs)")
    if not all((NODE_EXAMPLE / "node_modules" / package / "package.json").is_file() for package in PACKAGES):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("node is installed but npm is not: cannot install examples/node's packages")
        try:
            result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_EXAMPLE,
                                    capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            # (TimeoutExpired carries the output as bytes even with text=True)
            output = [p.decode(errors="replace") if isinstance(p, bytes) else p for p in (err.stdout, err.stderr) if p]
            pytest.fail(f"npm ci in {NODE_EXAMPLE} timed out after {NPM_TIMEOUT_S} s:\n" + "\n".join(output))
        if result.returncode != 0:
            pytest.fail(f"npm ci in {NODE_EXAMPLE} failed with exit code {result.returncode}:\n"
                        f"{result.stdout}\n{result.stderr}")
    return node


def run_client(node: str, target: str) -> subprocess.CompletedProcess:
    return subprocess.run([node, "conv_client.js", target], cwd=NODE_EXAMPLE,
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)


def test_node_client_passes_every_check_against_the_server(node, grpc_server):
    result = run_client(node, grpc_server.grpc_target)
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert "all checks passed" in result.stdout, report
    assert "ok - in_delta" in result.stdout and "ok - FilterApplyBatch on a destroyed filter" in result.stdout, report


def test_node_client_exits_nonzero_when_a_check_fails(node):
    # Nothing listens on a port the OS just handed out and took back: the first call fails,
    # which must show in the exit code (otherwise the test above could not fail).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_client(node, f"127.0.0.1:{port}")
    assert result.returncode == 1, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "all checks passed" not in result.stdout
    assert "not ok - " in result.stderr and "UNAVAILABLE" in result.stderr, result.stderr
