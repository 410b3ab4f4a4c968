"""Shared fixtures: a real bnns-server process on loopback, and the SDK connected to it or to
in-process kernels ("local"), so SDK tests run against both backends."""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

import httpx
import pytest

from bnns.server.process import ServerProcess   # noqa: F401  (the tests import it from here)

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def with_in(value) -> dict[str, Any]:
    """A request's ``in`` field as keyword arguments, ``**with_in(buffer)`` (``in`` is a Python
    keyword, and a ``**{"in": ...}`` literal is checked by mypy against every parameter)."""
    return {"in": value}


def load_example(script: str, module_name: str = ""):
    """examples/<script>.py as a fresh module (``module_name``: a name of its own, so a test that
    changes the module's state does not share it)."""
    spec = importlib.util.spec_from_file_location(module_name or script, EXAMPLES / f"{script}.py")
    assert spec is not None and spec.loader is not None, f"examples/{script}.py is not a module"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="module")
def server():
    """A bnns-server with its REST door, for one test module (a module that needs other flags
    defines its own ``server``)."""
    process = ServerProcess(http=True)
    yield process
    assert process.stop() == 0, "".join(process.output)


@pytest.fixture(scope="module")
def http(server):
    """An httpx client of the module's server's REST door."""
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client
