"""What a newcomer sees when the server starts and serves: a quiet log (issue 15, rough edge 1)
and a one-line refusal when a port is taken (rough edge 2)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from bnns.server.process import ServerProcess


def records(server):
    return [json.loads(line) for line in list(server.output) if line.startswith("{")]


def test_start_up_logs_no_calls_and_no_colour_codes():
    server = ServerProcess(http=True)
    try:
        assert httpx.get(server.http_url + "/docs", timeout=30).status_code == 200
    finally:
        assert server.stop() == 0
    text = "".join(server.output)
    assert "\x1b[" not in text and "color_message" not in text
    assert not [r for r in records(server) if "rpc" in r], "the /docs examples were logged as calls"
    assert len(records(server)) <= 8, text


def test_calls_are_summed_up_at_info_and_listed_one_by_one_at_debug():
    quiet = ServerProcess("--log-summary-seconds", "0.5", http=True)
    loud = ServerProcess("--log-level", "DEBUG", http=True)
    try:
        for server in (quiet, loud):
            for _ in range(3):
                assert httpx.get(server.http_url + "/v1/filters", timeout=30).status_code == 200
        deadline = time.monotonic() + 10
        while not any("served" in r["message"] for r in records(quiet)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert quiet.stop() == 0 and loud.stop() == 0
    summaries = [r for r in records(quiet) if r["message"].startswith("served")]
    assert summaries and "in the last 0.5 s" in summaries[0]["message"]     # one came before the stop
    assert sum(r["calls"] for r in summaries) == 3                           # the calls fall in one interval or more
    assert all(re.search(r": ListFilters OK \d+$", r["message"]) for r in summaries), summaries
    assert not [r for r in records(quiet) if r.get("rpc")], "per-call lines at INFO"
    per_call = [r for r in records(loud) if r.get("rpc") == "ListFilters"]
    assert len(per_call) == 3 and all(r["level"] == "DEBUG" for r in per_call)
    assert not [r for r in records(loud) if r.get("rpc") and r.get("rpc") != "ListFilters"], \
        "the /docs examples were logged as calls at DEBUG"


# ------------------------------------------------------------------------------- busy ports

@pytest.fixture
def taken_port():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    yield holder.getsockname()[1]
    holder.close()


@pytest.mark.parametrize("flag,other,door", [("--grpc-port", "--http-port", "gRPC"), ("--http-port", "--grpc-port", "REST")])
def test_a_taken_port_is_one_line_and_exit_code_2_before_anything_serves(taken_port, flag, other, door):
    done = subprocess.run([sys.executable, "-m", "bnns.server.cli", flag, str(taken_port), other, "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    said = [line for line in done.stderr.splitlines() if not line.startswith("{")]   # not the JSON log
    assert said == [(f"bnns-server: {door} port {taken_port} on 127.0.0.1 is not available "
                                   f"(Address already in use): stop what holds it or choose another with {flag}")]
    assert "listening" not in done.stdout and "Traceback" not in done.stderr


def test_the_same_port_for_both_doors_is_refused():
    done = subprocess.run([sys.executable, "-m", "bnns.server.cli", "--grpc-port", "50999", "--http-port", "50999"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "both given port 50999" in done.stderr and "listening" not in done.stdout


# ------------------------------------------------------------------------- /docs offline


def test_docs_page_loads_swagger_ui_from_the_server_not_a_cdn():
    server = ServerProcess(http=True)
    try:
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            page = http.get("/docs")
            assert page.status_code == 200 and "swagger-ui" in page.text
            assert "https://" not in page.text and "http://" not in page.text, "an asset from outside"
            assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text)
            assert {a.rsplit("/", 1)[1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
            for asset in assets:
                response = http.get(asset)
                assert response.status_code == 200 and len(response.content) > 100, asset
            assert http.get("/redoc").status_code == 404      # FastAPI's CDN-only page is gone
    finally:
        assert server.stop() == 0
