"""Shared fixtures: a real bnns-server process on loopback, and the SDK connected to it or to
in-process kernels ("local"), so SDK tests run against both backends."""

from __future__ import annotations

import pytest

from bnns.server.process import ServerProcess   # noqa: F401  (the tests import it from here)


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
