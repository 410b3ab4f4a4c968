"""The REST gateway of a live bnns-server, driven with httpx as curl or a browser would: JSON number
lists, base64 and binary protobuf bodies, errors that leave state intact, health, the OpenAPI
document, and handles shared with the gRPC door of the same process."""

from __future__ import annotations

import base64
import json
import signal
import threading
from typing import Any
import time

import grpc
import httpx
import numpy as np
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings, strategies as st

from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import ServerProcess, with_in

HW, K = 5, 3                      # 5x5 single-channel images, 3x3 kernel, no padding -> 3x3 output
OUT = HW - K + 1
BATCH = 2
PROTOBUF = "application/x-protobuf"
UNKNOWN_ID = "f-0000000000000000"
# float32 sums of 9 products (forward) or of at most 18 (weight gradient) against a float64 reference.
TOLERANCE: dict[str, Any] = {"rtol": 1e-5, "atol": 1e-5}
# Float16 output: one rounding to 11 significant bits.
FLOAT16_TOLERANCE: dict[str, Any] = {"rtol": 1e-3, "atol": 1e-3}


# ------------------------------------------------------------------------------- references

def forward_reference(x, w, b):
    """Cross-correlation of (N, H, W) images with a (K, K) kernel, plus bias: (N, OUT, OUT)."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    y = np.full((x.shape[0], OUT, OUT), float(b))
    for u in range(K):
        for v in range(K):
            y += w[u, v] * x[:, u:u + OUT, v:v + OUT]
    return y


def backward_reference(x, w, dy):
    """(d_in (N, HW, HW), d_w (K, K) summed over the batch, d_b) for forward_reference."""
    x, w, dy = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    d_in = np.zeros(x.shape)
    d_w = np.zeros((K, K))
    for u in range(K):
        for v in range(K):
            d_in[:, u:u + OUT, v:v + OUT] += w[u, v] * dy
            d_w[u, v] = np.sum(dy * x[:, u:u + OUT, v:v + OUT])
    return d_in, d_w, dy.sum()


def create_body(w, b, out_type="DATA_TYPE_FLOAT32"):
    """CreateFilter JSON with the weights as a nested `values` list (rows of the kernel)."""
    return {"convolution": {
        "i_desc": {"layout": "DATA_LAYOUT_IMAGE_CHW", "size": [HW, HW, 1], "data_type": "DATA_TYPE_FLOAT32"},
        "w_desc": {"layout": "DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW", "size": [K, K, 1, 1],
                   "data_type": "DATA_TYPE_FLOAT32", "data": {"values": w.tolist()}},
        "o_desc": {"layout": "DATA_LAYOUT_IMAGE_CHW", "size": [OUT, OUT, 1], "data_type": out_type},
        "bias": {"layout": "DATA_LAYOUT_VECTOR", "size": [1], "data": {"values": [float(b)]}},
    }}


def apply_path(filter_id, verb="filterApplyBatch"):
    return f"/v1/filters/{filter_id}:{verb}"


def values_of(buffer):
    return np.asarray(buffer["values"], dtype=np.float64)


def assert_error(response, code, status, *phrases):
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["status"]) == (code, code, status), response.text
    for phrase in phrases:
        assert phrase in error["message"], error["message"]


# --------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield service_pb2_grpc.BNNSServiceStub(channel)


class Conv:
    def __init__(self, filter_id, w, b, x):
        self.filter_id, self.w, self.b, self.x = filter_id, w, b, x

    @property
    def expected(self):
        return forward_reference(self.x, self.w, self.b)


@pytest.fixture
def conv(http):
    """A convolution filter created over REST from `values` lists, and a batch to apply it to."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((K, K)).astype(np.float32)
    b = np.float32(rng.standard_normal())
    x = rng.standard_normal((BATCH, HW, HW)).astype(np.float32)
    response = http.post("/v1/filters", json=create_body(w, b))
    assert response.status_code == 200, response.text
    made = Conv(response.json()["filter_id"], w, b, x)
    yield made
    http.delete(f"/v1/filters/{made.filter_id}")


def apply_values(http, conv):
    response = http.post(apply_path(conv.filter_id), json={"batch_size": BATCH, "in": {"values": conv.x.tolist()}})
    assert response.status_code == 200, response.text
    return values_of(response.json()["out"]).reshape(BATCH, OUT, OUT)


# ---------------------------------------------------------------------------------- lifecycle

def test_create_from_values_lists_returns_handle_and_info(http, conv):
    response = http.post("/v1/filters", json=create_body(conv.w, conv.b))
    created = response.json()
    http.delete(f"/v1/filters/{created['filter_id']}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert created["filter_id"].startswith("f-") and created["info"]["filter_id"] == created["filter_id"]
    assert created["info"]["kind"] == "convolution"


def test_describe_returns_parameters_without_tensor_data(http, conv):
    response = http.get(f"/v1/filters/{conv.filter_id}")
    info = response.json()["info"]
    assert response.status_code == 200 and info["filter_id"] == conv.filter_id and info["kind"] == "convolution"
    assert info["parameters"]["convolution"]["w_desc"]["size"] == [str(K), str(K), "1", "1"]   # uint64: JSON strings
    assert "data" not in info["parameters"]["convolution"]["w_desc"]
    assert int(info["bytes_held"]) == (K * K + 1) * 4


def test_list_includes_the_created_filter(http, conv):
    response = http.get("/v1/filters")
    assert response.status_code == 200
    assert conv.filter_id in [f["filter_id"] for f in response.json()["filters"]]


def test_destroyed_handle_is_not_found_everywhere(http, conv):
    response = http.delete(f"/v1/filters/{conv.filter_id}")
    assert response.status_code == 200 and response.json() == {}
    assert_error(http.get(f"/v1/filters/{conv.filter_id}"), 404, "NOT_FOUND", conv.filter_id)
    assert_error(http.post(apply_path(conv.filter_id), json={"batch_size": BATCH, "in": {"values": conv.x.tolist()}}),
                 404, "NOT_FOUND", conv.filter_id)
    assert_error(http.delete(f"/v1/filters/{conv.filter_id}"), 404, "NOT_FOUND", conv.filter_id)


# -------------------------------------------------------------------------------------- apply

def test_apply_with_values_lists_matches_reference_as_values(http, conv):
    np.testing.assert_allclose(apply_values(http, conv), conv.expected, **TOLERANCE)


def test_apply_with_base64_data_answers_base64_data(http, conv):
    response = http.post(apply_path(conv.filter_id),
                         json={"batch_size": BATCH, "in": {"data": base64.b64encode(conv.x.tobytes()).decode()}})
    out = response.json()["out"]
    assert response.status_code == 200 and "values" not in out
    y = np.frombuffer(base64.b64decode(out["data"]), np.float32).reshape(BATCH, OUT, OUT)
    np.testing.assert_allclose(y, conv.expected, **TOLERANCE)


def test_values_query_turns_base64_results_into_lists(http, conv):
    response = http.post(apply_path(conv.filter_id), params={"values": "true"},
                         json={"batch_size": BATCH, "in": {"data": base64.b64encode(conv.x.tobytes()).decode()}})
    assert response.status_code == 200 and "data" not in response.json()["out"]
    np.testing.assert_allclose(values_of(response.json()["out"]).reshape(BATCH, OUT, OUT), conv.expected, **TOLERANCE)


def test_apply_with_binary_protobuf_body_and_response(http, conv):
    request = pb.FilterApplyBatchRequest(batch_size=BATCH, **with_in(types_pb2.Buffer(data=conv.x.tobytes())))
    response = http.post(apply_path(conv.filter_id), content=request.SerializeToString(),
                         headers={"content-type": PROTOBUF, "accept": PROTOBUF})
    assert response.status_code == 200 and response.headers["content-type"] == PROTOBUF
    out = pb.FilterApplyBatchResponse.FromString(response.content).out.data
    np.testing.assert_allclose(np.frombuffer(out, np.float32).reshape(BATCH, OUT, OUT), conv.expected, **TOLERANCE)


def test_float16_output_values_are_decoded_as_float16(http):
    rng = np.random.default_rng(16)
    w, b = rng.standard_normal((K, K)).astype(np.float32), np.float32(0.25)
    x = rng.standard_normal((1, HW, HW)).astype(np.float32)
    filter_id = http.post("/v1/filters", json=create_body(w, b, out_type="DATA_TYPE_FLOAT16")).json()["filter_id"]
    response = http.post(apply_path(filter_id), json={"batch_size": 1, "in": {"values": x.tolist()}})
    http.delete(f"/v1/filters/{filter_id}")
    y = values_of(response.json()["out"])
    assert y.size == OUT * OUT    # 9 float16 values, not 4.5 float32 ones
    np.testing.assert_allclose(y.reshape(1, OUT, OUT), forward_reference(x, w, b), **FLOAT16_TOLERANCE)


def test_backward_with_values_lists_matches_reference(http, conv):
    dy = np.random.default_rng(7).standard_normal((BATCH, OUT, OUT)).astype(np.float32)
    response = http.post(apply_path(conv.filter_id, "filterApplyBackwardBatch"), json={
        "batch_size": BATCH, "in": {"values": conv.x.tolist()}, "out_delta": {"values": dy.tolist()},
        "compute_in_delta": True, "compute_weights_delta": True, "compute_bias_delta": True})
    assert response.status_code == 200, response.text
    result = response.json()
    d_in, d_w, d_b = backward_reference(conv.x, conv.w, dy)
    np.testing.assert_allclose(values_of(result["in_delta"]).reshape(BATCH, HW, HW), d_in, **TOLERANCE)
    np.testing.assert_allclose(values_of(result["weights_delta"]).reshape(K, K), d_w, **TOLERANCE)
    np.testing.assert_allclose(values_of(result["bias_delta"]), [d_b], **TOLERANCE)


# ------------------------------------------------------------------------------------- errors

def _json(document):
    return json.dumps(document).encode()


def _good(conv):
    return {"batch_size": BATCH, "in": {"values": conv.x.tolist()}}


# (id, verb path or None for the handle's apply, body builder, content type, code, status, phrases)
ERROR_CASES = [
    ("bad-json", None, lambda c: b'{"batch_size": 2, "in": ', "application/json", 400, "INVALID_ARGUMENT",
     ["not valid JSON"]),
    ("not-an-object", None, lambda c: b"[1, 2]", "application/json", 400, "INVALID_ARGUMENT", ["JSON object"]),
    ("unknown-field", None, lambda c: _json({**_good(c), "inputs": []}), "application/json", 400,
     "INVALID_ARGUMENT", ['no field named "inputs"']),
    ("wrong-type", None, lambda c: _json({**_good(c), "batch_size": "two"}), "application/json", 400,
     "INVALID_ARGUMENT", ["batch_size"]),
    ("wrong-data-length", None, lambda c: _json({"batch_size": BATCH, "in": {"values": c.x.ravel()[:-1].tolist()}}),
     "application/json", 400, "INVALID_ARGUMENT", [f"{BATCH * HW * HW - 1} elements", f"needs {BATCH * HW * HW}"]),
    ("truncated-base64", None, lambda c: _json({"batch_size": BATCH, "in": {"data": "AAAAAAAA"}}),  # 6 zero bytes
     "application/json", 400, "INVALID_ARGUMENT", ["6 bytes", "not a multiple"]),
    ("bad-protobuf", None, lambda c: b"\xff\xff\xff", PROTOBUF, 400, "INVALID_ARGUMENT",
     ["not a serialized bnns.v1.FilterApplyBatchRequest"]),
    ("conflicting-filter-id", None, lambda c: _json({**_good(c), "filter_id": UNKNOWN_ID}), "application/json", 400,
     "INVALID_ARGUMENT", [UNKNOWN_ID, "differs"]),
    ("unknown-handle", apply_path(UNKNOWN_ID), lambda c: _json(_good(c)), "application/json", 404, "NOT_FOUND",
     [UNKNOWN_ID]),
    ("unknown-method", "applyTwice", lambda c: _json(_good(c)), "application/json", 404, "NOT_FOUND",
     [":applyTwice", ":filterApplyBatch"]),
]


@pytest.mark.parametrize("path, body, content_type, code, status, phrases",
                         [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES])
def test_bad_request_gets_json_error_and_changes_nothing(http, conv, path, body, content_type, code, status, phrases):
    before = apply_values(http, conv)
    url = path if path and path.startswith("/") else apply_path(conv.filter_id, path or "filterApplyBatch")
    response = http.post(url, content=body(conv), headers={"content-type": content_type})
    assert_error(response, code, status, *phrases)
    np.testing.assert_array_equal(apply_values(http, conv), before)


# Values at the edges of what the JSON mapping converts (non-finite numbers, out-of-range and
# fractional integers, wrong kinds), then arbitrary JSON.
_EDGES: st.SearchStrategy[Any] = st.sampled_from([float("inf"), float("-inf"), float("nan"), -1, 2**31, 2**64, 1.5, "", "NaN", True, None,
                          [], {}, [[]], {"values": []}, {"data": "!"}])
_JSON = _EDGES | st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6)


def _paths(document, prefix=()):
    """Every place in a JSON document: the root, each key's value, each list item."""
    yield prefix
    items = (document.items() if isinstance(document, dict)
             else enumerate(document) if isinstance(document, list) else ())
    for key, value in items:
        yield from _paths(value, prefix + (key,))


def _replaced(document, path, value):
    if not path:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replaced(document[path[0]], path[1:], value)
    return copy


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_bodies_never_get_a_server_error(http, conv, data):
    """A valid create or apply body with one place replaced by arbitrary JSON: a 4xx (or 200),
    never a 500."""
    path_url, valid = data.draw(st.sampled_from([("/v1/filters", create_body(conv.w, conv.b)),
                                                 (apply_path(conv.filter_id), _good(conv))]))
    where = data.draw(st.sampled_from(list(_paths(valid))))
    document = _replaced(valid, where, data.draw(_JSON))
    response = http.post(path_url, content=json.dumps(document), headers={"content-type": "application/json"})
    assert response.status_code < 500, (document, response.text)
    if response.status_code != 200:
        assert response.json()["error"]["code"] == response.status_code
    elif path_url == "/v1/filters":
        http.delete(f"/v1/filters/{response.json()['filter_id']}")


@pytest.fixture(scope="module")
def small_server():
    process = ServerProcess("--max-message-bytes", "4096", http=True)
    yield process
    assert process.stop() == 0, "".join(process.output)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_max_message_bytes_is_413(small_server, framing):
    rng = np.random.default_rng(413)
    w, b = rng.standard_normal((K, K)).astype(np.float32), np.float32(1.0)
    x = rng.standard_normal((1, HW, HW)).astype(np.float32)
    with httpx.Client(base_url=small_server.http_url, timeout=30) as client:
        filter_id = client.post("/v1/filters", json=create_body(w, b)).json()["filter_id"]
        small = {"batch_size": 1, "in": {"values": x.tolist()}}
        before = client.post(apply_path(filter_id), json=small).json()
        big = _json({"batch_size": 1, "in": {"data": base64.b64encode(b"\0" * 8192).decode()}})
        content = big if framing == "content-length" else iter([big[:4000], big[4000:]])
        assert_error(client.post(apply_path(filter_id), content=content, headers={"content-type": "application/json"}),
                     413, "RESOURCE_EXHAUSTED", "4096", "max_message_bytes")
        assert client.post(apply_path(filter_id), json=small).json() == before
        np.testing.assert_allclose(values_of(before["out"]).reshape(1, OUT, OUT), forward_reference(x, w, b),
                                   **TOLERANCE)


def test_every_filter_route_reaches_the_core(http):
    """Each generated apply route answers an unknown handle with a JSON error from the core:
    NOT_FOUND where the core serves the RPC, UNIMPLEMENTED where this build does not yet."""
    for method in pb.DESCRIPTOR.services_by_name["BNNSService"].methods:
        if "filter_id" not in method.input_type.fields_by_name or method.name in ("DescribeFilter", "DestroyFilter"):
            continue
        verb = method.name[0].lower() + method.name[1:]
        response = http.post(apply_path(UNKNOWN_ID, verb), json={})
        error = response.json()["error"]
        assert (error["status"], response.status_code) in {("NOT_FOUND", 404), ("UNIMPLEMENTED", 501)}, response.text


# ------------------------------------------------------------------------------------- health

def test_health_live_and_ready(http):
    live, ready = http.get("/v2/health/live"), http.get("/v2/health/ready")
    assert (live.status_code, live.json()) == (200, {"live": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


def test_readiness_is_503_while_draining_and_exit_is_clean():
    process = ServerProcess("--grace-seconds", "30", http=True)
    channel = grpc.insecure_channel(process.grpc_target, options=[("grpc.max_send_message_length", 1 << 30),
                                                                  ("grpc.max_receive_message_length", 1 << 30)])
    stub = service_pb2_grpc.BNNSServiceStub(channel)
    # 21x21 kernel, 32 -> 32 channels, 16 x 128 x 128: about two seconds, so the drain has a window
    # (with 15x15, about one, the call once ended before the poll below saw the 503 in a full run).
    c, hw, k = 32, 128, 21
    created = stub.CreateFilter(pb.CreateFilterRequest(convolution=types_pb2.ConvolutionParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_IMAGE_CHW, size=[hw, hw, c]),
        o_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_IMAGE_CHW, size=[hw, hw, c]),
        w_desc=types_pb2.NDArrayDescriptor(
            layout=types_pb2.DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW, size=[k, k, c, c],
            data=types_pb2.Buffer(data=np.full(c * c * k * k, 1e-3, np.float32).tobytes())),
        x_padding=k // 2, y_padding=k // 2)), timeout=10)
    x = np.ones((16, c, hw, hw), np.float32)
    result = {}

    def slow_call():
        try:
            result["out"] = stub.FilterApplyBatch(pb.FilterApplyBatchRequest(
                filter_id=created.filter_id, batch_size=16, **with_in(types_pb2.Buffer(data=x.tobytes()))), timeout=60)
        except grpc.RpcError as error:
            result["error"] = error

    with httpx.Client(base_url=process.http_url, timeout=10) as client:
        assert client.get("/v2/health/ready").status_code == 200
        idle = process.cpu_seconds()
        worker = threading.Thread(target=slow_call)
        worker.start()
        # Signal once the server is computing the call (0.3 s of its CPU beyond what it used idle),
        # not after a fixed pause that a loaded machine could make too short or too long.
        deadline = time.monotonic() + 30
        while process.cpu_seconds() - idle < 0.3 and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        process.proc.send_signal(signal.SIGTERM)
        deadline, ready = time.monotonic() + 5, None
        while time.monotonic() < deadline and worker.is_alive():
            ready = client.get("/v2/health/ready")
            if ready.status_code == 503:
                break
    worker.join(60)
    channel.close()
    assert ready is not None and ready.status_code == 503 and ready.json() == {"ready": False}
    assert "out" in result, result.get("error")
    assert process.proc.wait(30) == 0, "".join(process.output)


# ------------------------------------------------------------------------ shared with gRPC

def test_handle_created_over_grpc_is_usable_over_rest(http, stub):
    rng = np.random.default_rng(11)
    w, b = rng.standard_normal((K, K)).astype(np.float32), np.float32(-0.5)
    x = rng.standard_normal((BATCH, HW, HW)).astype(np.float32)
    filter_id = stub.CreateFilter(json_format.ParseDict(create_body(w, b), pb.CreateFilterRequest()),
                                  timeout=10).filter_id
    made = Conv(filter_id, w, b, x)
    np.testing.assert_allclose(apply_values(http, made), made.expected, **TOLERANCE)
    assert http.delete(f"/v1/filters/{filter_id}").status_code == 200
    with pytest.raises(grpc.RpcError) as error:
        stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=filter_id), timeout=10)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_handle_created_over_rest_is_usable_over_grpc(stub, conv):
    response = stub.FilterApplyBatch(pb.FilterApplyBatchRequest(
        filter_id=conv.filter_id, batch_size=BATCH, **with_in(types_pb2.Buffer(data=conv.x.tobytes()))), timeout=10)
    y = np.frombuffer(response.out.data, np.float32).reshape(BATCH, OUT, OUT)
    np.testing.assert_allclose(y, conv.expected, **TOLERANCE)


# -------------------------------------------------------------------------------------- docs

def expected_route(rpc: str, request_fields) -> tuple:
    lifecycle = {"CreateFilter": ("post", "/v1/filters"), "ListFilters": ("get", "/v1/filters"),
                 "DescribeFilter": ("get", "/v1/filters/{filter_id}"),
                 "DestroyFilter": ("delete", "/v1/filters/{filter_id}"),
                 "CreateTensor": ("post", "/v1/tensors"), "ListTensors": ("get", "/v1/tensors"),
                 "DescribeTensor": ("get", "/v1/tensors/{tensor_id}"),
                 "DestroyTensor": ("delete", "/v1/tensors/{tensor_id}"),
                 "WriteTensor": ("post", "/v1/tensors/{tensor_id}:write"),
                 "ReadTensor": ("post", "/v1/tensors/{tensor_id}:read"),
                 "RegisterSharedMemory": ("post", "/v1/sharedMemory"),
                 "ListSharedMemory": ("get", "/v1/sharedMemory"),
                 "UnregisterSharedMemory": ("delete", "/v1/sharedMemory/{name}")}
    lower = rpc[0].lower() + rpc[1:]
    if rpc in lifecycle:
        return lifecycle[rpc]
    return ("post", f"/v1/filters/{{filter_id}}:{lower}" if "filter_id" in request_fields else f"/v1/{lower}")


def test_openapi_lists_every_rpc_with_an_example(http):
    document = http.get("/openapi.json").json()
    methods = pb.DESCRIPTOR.services_by_name["BNNSService"].methods
    assert len(methods) >= 18
    for method in methods:
        verb, path = expected_route(method.name, method.input_type.fields_by_name)
        operation = document["paths"][path][verb]
        assert operation["operationId"] == method.name and method.input_type.full_name in operation["description"]
        if verb == "post":
            assert operation["requestBody"]["content"]["application/json"]["examples"], method.name
        else:
            assert operation["responses"]["200"]["content"]["application/json"]["examples"], method.name


def test_docs_examples_run_and_give_the_documented_results(http):
    document = http.get("/openapi.json").json()
    paths = document["paths"]
    create = paths["/v1/filters"]["post"]["requestBody"]["content"]["application/json"]["examples"]["convolution"]
    filter_id = http.post("/v1/filters", json=create["value"]).json()["filter_id"]
    try:
        for verb in ("filterApplyBatch", "filterApplyBackwardBatch"):
            operation = paths[f"/v1/filters/{{filter_id}}:{verb}"]["post"]
            request = operation["requestBody"]["content"]["application/json"]["examples"]["convolution"]["value"]
            shown = operation["responses"]["200"]["content"]["application/json"]["examples"]["convolution"]["value"]
            assert http.post(apply_path(filter_id, verb), json=request).json() == shown
    finally:
        http.delete(f"/v1/filters/{filter_id}")


def test_docs_page_is_served(http):
    response = http.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
