"""Errors in one place (bnns.errors): every failure has a canonical status and a stable,
machine-readable reason, sent as an AIP-193 ErrorInfo in the gRPC status details and in the REST
error body, read back by the SDK; ChunkedCall and authentication failures go through the same
map, and the OpenAPI error list is generated from it."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from bnns import errors
from bnns.server import auth, grpc_service, rest
from bnns.server import settings as settings_mod
from bnns.server.core import Core
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc

NEVER_ID = "f-00000000deadbeef"


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    assert isinstance(error, grpc.Call), f"{error!r} is not a failed call"
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status in the trailing metadata"
    info = error_details_pb2.ErrorInfo()
    assert len(status.details) == 1 and status.details[0].Unpack(info)
    return info


@pytest.fixture(scope="module")
def door():
    """An in-process gRPC server with one token, and a REST app over the same core."""
    settings = settings_mod.Settings(host="127.0.0.1", grpc_port=0)
    authenticator = auth.Authenticator({"tok-errors-0123456789abcdef": "tenant-e"})
    core = Core()
    server, port, _ = grpc_service.create_server(settings, core, authenticator)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    app = rest.create_app(core, settings, lambda: True, authenticator)
    yield service_pb2_grpc.BNNSServiceStub(channel), app
    channel.close()
    server.stop(0)


GOOD = (("authorization", "Bearer tok-errors-0123456789abcdef"),)


def test_every_reason_belongs_to_a_status_with_an_http_code():
    for reason, (status, when) in errors.REASONS.items():
        assert reason == reason.upper() and status in errors.HTTP_STATUSES and when, reason
    for cls in errors.ERRORS_BY_STATUS.values():
        assert errors.REASONS[cls.reason][0] == cls.status


def test_a_reason_of_another_status_is_refused():
    with pytest.raises(ValueError):
        errors.NotFoundError("x", "TOKEN_UNKNOWN")


def test_grpc_error_carries_error_info_with_its_reason(door):
    stub, _ = door
    with pytest.raises(grpc.RpcError) as raised:
        stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=NEVER_ID), metadata=GOOD, timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = error_info(raised.value)
    assert (info.reason, info.domain) == ("FILTER_NOT_FOUND", "bnns.v1")


@pytest.mark.parametrize("metadata, reason", [((), "TOKEN_MISSING"), ((("authorization", "Basic abc"),), "TOKEN_MALFORMED"),
                                              ((("authorization", "Bearer nope-nope-nope-nope"),), "TOKEN_UNKNOWN")])
def test_authentication_failures_go_through_the_same_map(door, metadata, reason):
    stub, app = door
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListFilters(pb.ListFiltersRequest(), metadata=metadata, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(raised.value).reason == reason
    headers = dict(metadata)
    with _rest(app) as http:
        body = http.get("/v1/filters", headers=headers).json()
    assert body["error"]["status"] == "UNAUTHENTICATED" and body["error"]["details"][0]["reason"] == reason


def test_a_huge_echoed_value_is_cut_to_fit_the_trailers(door):
    # The message rides twice in the trailers (grpc-message and the Status detail); gRPC refuses
    # trailers over its metadata limit, which a 60 KB echoed filter id used to reach.
    stub, _ = door
    with pytest.raises(grpc.RpcError) as raised:
        stub.DescribeFilter(pb.DescribeFilterRequest(filter_id="f-" + "9" * 60000), metadata=GOOD, timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(raised.value).reason == "FILTER_NOT_FOUND"
    assert "cut to fit" in (raised.value.details() or "") and len(raised.value.details() or "") < 2200


def test_chunked_call_errors_carry_a_reason(door):
    stub, _ = door
    chunks = iter([pb.MessageChunk(rpc="NoSuchRpc", total_bytes=1, data=b"x")])
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.ChunkedCall(chunks, metadata=GOOD, timeout=10))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(raised.value).reason == "CHUNKED_CALL_MALFORMED"


def _rest(app):
    from fastapi.testclient import TestClient
    return TestClient(app)


def test_rest_error_body_carries_the_same_error_info(door):
    _, app = door
    with _rest(app) as http:
        response = http.get(f"/v1/filters/{NEVER_ID}", headers=dict(GOOD))
        assert response.status_code == 404
        assert response.json()["error"]["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                                        "reason": "FILTER_NOT_FOUND", "domain": "bnns.v1",
                                                        "metadata": {}}]
        route = http.post("/v1/nothingHere", headers=dict(GOOD), json={}).json()
        assert route["error"]["details"][0]["reason"] == "ROUTE_NOT_FOUND"
        malformed = http.post("/v1/filters", headers=dict(GOOD), content=b"{not json").json()
        assert malformed["error"]["details"][0]["reason"] == "MALFORMED_REQUEST"


def test_openapi_error_list_is_generated_from_the_reasons(door):
    _, app = door
    with _rest(app) as http:
        document = http.get("/openapi.json").json()
    operation = document["paths"]["/v1/filters/{filter_id}"]["get"]
    for reason, (status, _) in errors.REASONS.items():
        code = str(errors.HTTP_STATUSES[status])
        assert f"`{reason}`" in operation["responses"][code]["description"], reason
    schema = document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["details"]
    assert set(schema["items"]["properties"]["reason"]["enum"]) == set(errors.REASONS)


def test_sdk_errors_carry_the_reason_on_both_backends(bnns):
    params = bnns.BNNSLayerParametersActivation(
        bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(2,)),
        bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(2,)), bnns.BNNSActivation())
    f = bnns.BNNSFilterCreateLayerActivation(params, None)
    bnns.BNNSFilterDestroy(f)
    import numpy as np
    assert bnns.BNNSFilterApplyBatch(f, 1, np.zeros(2, np.float32), 2, np.zeros(2, np.float32), 2) == -1
    error = bnns.last_error()
    assert isinstance(error, errors.BNNSError)
    # Destroyed locally first: the SDK refuses it itself; ask the server directly for the reason.
    from bnns.client import backend
    with pytest.raises(errors.NotFoundError) as raised:
        backend.current().call("DescribeFilter", pb.DescribeFilterRequest(filter_id=NEVER_ID))
    assert raised.value.reason == "FILTER_NOT_FOUND"
