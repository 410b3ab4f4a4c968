"""The KServe V2 endpoints, driven by Triton's own client (tritonclient) against a live
bnns-server, compared with what the SDK computes on the same filter handle."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import httpx
import numpy as np
import pytest
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from bnns.server.process import ServerProcess

N, C_IN, C_OUT, HW, K = 3, 3, 4, 6, 3
GRPC_CLIENT = pathlib.Path(__file__).with_name("triton_grpc_client.py")


@pytest.fixture(scope="module")
def sdk(server):
    import bnns.client as sdk
    sdk.connect(server.grpc_target)
    yield sdk
    sdk.connect("local")


@pytest.fixture(scope="module")
def http_client(server):
    client = triton_http.InferenceServerClient(server.http_url.removeprefix("http://"))
    yield client
    client.close()


class Conv:
    """A 3x3 convolution with bias (pad 1) made through the SDK, and the SDK's own forward and
    backward on one batch: the numbers the V2 endpoints must reproduce."""

    def __init__(self, sdk):
        rng = np.random.default_rng(15)
        self.w = rng.standard_normal((C_OUT, C_IN, K, K)).astype(np.float32)
        self.b = rng.standard_normal(C_OUT).astype(np.float32)
        self.x = rng.standard_normal((N, C_IN, HW, HW)).astype(np.float32)
        self.dy = rng.standard_normal((N, C_OUT, HW, HW)).astype(np.float32)
        image = lambda c, data=None: sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutImageCHW, size=(HW, HW, c),
                                                               data=data)
        params = sdk.BNNSLayerParametersConvolution(
            i_desc=image(C_IN), o_desc=image(C_OUT),
            w_desc=sdk.BNNSNDArrayDescriptor.from_array(self.w, sdk.BNNSDataLayoutConvolutionWeightsOIHW),
            bias=sdk.BNNSNDArrayDescriptor.from_array(self.b, sdk.BNNSDataLayoutVector), x_padding=1, y_padding=1)
        self.filter = sdk.BNNSFilterCreateLayerConvolution(params, None)
        assert self.filter is not None, sdk.last_error()
        self.id = self.filter.filter_id
        self.y = np.zeros((N, C_OUT, HW, HW), np.float32)
        assert sdk.BNNSFilterApplyBatch(self.filter, N, self.x, self.x[0].size, self.y, self.y[0].size) == 0
        self.dx, self.dw, self.db = np.zeros_like(self.x), np.zeros_like(self.w), np.zeros_like(self.b)
        assert sdk.BNNSFilterApplyBackwardBatch(
            self.filter, N, self.x, self.x[0].size, image(C_IN, self.dx), self.x[0].size, self.y, self.y[0].size,
            image(C_OUT, self.dy), self.y[0].size,
            sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutConvolutionWeightsOIHW, size=(K, K, C_IN, C_OUT),
                                      data=self.dw),
            sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutVector, size=(C_OUT,), data=self.db)) == 0


@pytest.fixture(scope="module")
def conv(sdk):
    made = Conv(sdk)
    yield made
    sdk.BNNSFilterDestroy(made.filter)


def http_input(name, array, binary=True):
    tensor = triton_http.InferInput(name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def grpc_run(server, model, inputs, version="", outputs=(), headers=None):
    job = {"target": server.grpc_target, "model": model, "version": version, "outputs": list(outputs),
           "headers": headers or {},
           "inputs": {name: {"shape": list(a.shape), "datatype": "FP32", "data": a.reshape(-1).tolist()}
                      for name, a in inputs.items()}}
    done = subprocess.run([sys.executable, str(GRPC_CLIENT)], input=json.dumps(job), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def grpc_output(result, name):
    out = result["outputs"][name]
    return np.asarray(out["data"], np.float32).reshape(out["shape"])


# ------------------------------------------------------------------------------------ REST

def test_server_metadata_names_bnns_rpc_and_the_binary_extension(http_client):
    assert http_client.is_server_live() and http_client.is_server_ready()
    meta = http_client.get_server_metadata()
    assert meta["name"] == "bnns-rpc" and "binary_tensor_data" in meta["extensions"]


def test_model_metadata_gives_shapes_and_datatypes_from_the_descriptors(http_client, conv):
    meta = http_client.get_model_metadata(conv.id)
    assert meta["versions"] == ["forward", "backward"]
    assert meta["inputs"] == [{"name": "in", "datatype": "FP32", "shape": [-1, C_IN, HW, HW]}]
    assert meta["outputs"] == [{"name": "out", "datatype": "FP32", "shape": [-1, C_OUT, HW, HW]}]
    back = http_client.get_model_metadata(conv.id, "backward")
    assert [t["name"] for t in back["inputs"]] == ["in", "out", "out_delta"]
    assert {t["name"]: t["shape"] for t in back["outputs"]} == {
        "in_delta": [-1, C_IN, HW, HW], "weights_delta": [C_OUT, C_IN, K, K], "bias_delta": [C_OUT]}
    assert http_client.is_model_ready(conv.id) and http_client.is_model_ready(conv.id, "backward")


def test_http_forward_with_binary_tensors_equals_the_sdk(http_client, conv):
    result = http_client.infer(conv.id, [http_input("in", conv.x)])
    np.testing.assert_array_equal(result.as_numpy("out"), conv.y)


def test_http_forward_with_json_tensors_equals_the_sdk(http_client, conv):
    result = http_client.infer(conv.id, [http_input("in", conv.x, binary=False)],
                               outputs=[triton_http.InferRequestedOutput("out", binary_data=False)])
    assert result.get_output("out")["shape"] == [N, C_OUT, HW, HW]
    np.testing.assert_array_equal(result.as_numpy("out"), conv.y)


def test_http_backward_version_gives_the_sdk_gradients(http_client, conv):
    result = http_client.infer(conv.id, [http_input("in", conv.x), http_input("out_delta", conv.dy)],
                               model_version="backward")
    np.testing.assert_allclose(result.as_numpy("in_delta"), conv.dx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(result.as_numpy("weights_delta"), conv.dw, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(result.as_numpy("bias_delta"), conv.db, rtol=1e-6, atol=1e-5)


def test_http_backward_computes_only_the_outputs_asked_for(http_client, conv):
    result = http_client.infer(conv.id, [http_input("in", conv.x), http_input("out_delta", conv.dy)],
                               model_version="backward", outputs=[triton_http.InferRequestedOutput("bias_delta")])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["bias_delta"]
    np.testing.assert_allclose(result.as_numpy("bias_delta"), conv.db, rtol=1e-6, atol=1e-5)


def test_plain_json_request_without_the_extension(server, conv):
    body = {"id": "r1", "inputs": [{"name": "in", "shape": [1, C_IN, HW, HW], "datatype": "FP32",
                                    "data": conv.x[:1].tolist()}]}
    response = httpx.post(f"{server.http_url}/v2/models/{conv.id}/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["id"] == "r1" and document["model_version"] == "forward"
    (out,) = document["outputs"]
    assert out["shape"] == [1, C_OUT, HW, HW] and out["datatype"] == "FP32"
    np.testing.assert_array_equal(np.asarray(out["data"], np.float32), conv.y[:1].reshape(-1))


def test_unknown_model_is_not_found(http_client, server):
    assert not http_client.is_model_ready("f-0000000000000000")
    with pytest.raises(InferenceServerException, match="no live filter"):
        http_client.get_model_metadata("f-0000000000000000")
    response = httpx.get(f"{server.http_url}/v2/models/f-0000000000000000", timeout=30)
    assert response.status_code == 404 and "error" in response.json()


def test_wrong_shape_names_the_input_and_the_expected_shape(http_client, conv):
    with pytest.raises(InferenceServerException, match=r"input 'in' has shape \[3, 3, 5, 5\]"):
        http_client.infer(conv.id, [http_input("in", conv.x[:, :, :5, :5].copy())])


def test_unknown_version_lists_the_versions(http_client, conv):
    with pytest.raises(InferenceServerException, match="versions are forward, backward"):
        http_client.get_model_metadata(conv.id, "2")


# ------------------------------------------------------------------------------------ gRPC

def test_grpc_forward_equals_the_sdk(server, conv):
    result = grpc_run(server, conv.id, {"in": conv.x})
    assert result["live"] and result["ready"] and result["model_ready"], result
    assert result["server"]["name"] == "bnns-rpc"
    assert result["metadata"]["inputs"] == [{"name": "in", "datatype": "FP32", "shape": ["-1", "3", "6", "6"]}]
    np.testing.assert_array_equal(grpc_output(result, "out"), conv.y)


def test_grpc_backward_equals_the_sdk(server, conv):
    result = grpc_run(server, conv.id, {"in": conv.x, "out_delta": conv.dy}, version="backward")
    assert "error" not in result, result
    np.testing.assert_allclose(grpc_output(result, "in_delta"), conv.dx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grpc_output(result, "weights_delta"), conv.dw, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(grpc_output(result, "bias_delta"), conv.db, rtol=1e-6, atol=1e-5)


def test_grpc_unknown_model_is_not_ready_and_not_found(server):
    result = grpc_run(server, "f-0000000000000000", {"in": np.zeros((1, C_IN, HW, HW), np.float32)})
    assert result["model_ready"] is False
    assert "no live filter" in result["error"] and result["status"] == "StatusCode.NOT_FOUND"


# --------------------------------------------------------------------------------- tenancy

TOKEN_A, TOKEN_B = "kserve-token-alpha-1234567890", "kserve-token-bravo-1234567890"


@pytest.fixture(scope="module")
def guarded_server():
    process = ServerProcess(http=True, env={"BNNS_TOKENS": f"{TOKEN_A}=team-a,{TOKEN_B}=team-b"})
    yield process
    assert process.stop() == 0, "".join(process.output)


def test_models_are_the_callers_tenants_handles(guarded_server):
    import bnns.client as sdk
    sdk.connect(guarded_server.grpc_target, token=TOKEN_A)
    try:
        made = Conv(sdk)
    finally:
        sdk.connect("local")
    url = f"{guarded_server.http_url}/v2/models/{made.id}"
    as_a = triton_http.InferenceServerClient(guarded_server.http_url.removeprefix("http://"))
    headers_a, headers_b = {"Authorization": f"Bearer {TOKEN_A}"}, {"Authorization": f"Bearer {TOKEN_B}"}
    result = as_a.infer(made.id, [http_input("in", made.x)], headers=headers_a)
    np.testing.assert_array_equal(result.as_numpy("out"), made.y)
    assert httpx.get(url, headers=headers_b, timeout=30).status_code == 404     # another tenant's: unknown
    missing = httpx.get(url, timeout=30)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert isinstance(missing.json()["error"], str)                             # the V2 error object
    assert httpx.get(f"{guarded_server.http_url}/v2", timeout=30).status_code == 200   # server metadata: open
    as_a.close()
    # The gRPC door: the same handle for its tenant, unknown to another, refused without a token.
    x = {"in": made.x}
    mine = grpc_run(guarded_server, made.id, x, headers={"authorization": f"Bearer {TOKEN_A}"})
    np.testing.assert_array_equal(grpc_output(mine, "out"), made.y)
    theirs = grpc_run(guarded_server, made.id, x, headers={"authorization": f"Bearer {TOKEN_B}"})
    assert theirs["model_ready"] is False and theirs["status"] == "StatusCode.NOT_FOUND"
    anonymous = grpc_run(guarded_server, made.id, x)
    assert anonymous["status"] == "StatusCode.UNAUTHENTICATED" and anonymous["live"]     # liveness stays open


# ---------------------------------------------------------------------------------- aliases

LAPLACIAN = {"convolution": {
    "i_desc": {"layout": "DATA_LAYOUT_IMAGE_CHW", "size": [3, 3, 1]},
    "w_desc": {"layout": "DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW", "size": [3, 3, 1, 1],
               "data": {"values": [0, 1, 0, 1, -4, 1, 0, 1, 0]}},
    "o_desc": {"layout": "DATA_LAYOUT_IMAGE_CHW", "size": [3, 3, 1]},
    "x_padding": 1, "y_padding": 1}}


def test_a_model_is_found_by_the_alias_given_at_create(server, http_client):
    made = httpx.post(f"{server.http_url}/v1/filters", json={**LAPLACIAN, "alias": "laplacian"}, timeout=30)
    assert made.status_code == 200, made.text
    filter_id = made.json()["filter_id"]
    try:
        again = httpx.post(f"{server.http_url}/v1/filters", json={**LAPLACIAN, "alias": "laplacian"}, timeout=30)
        assert again.status_code == 400 and filter_id in again.json()["error"]["message"]
        x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
        result = http_client.infer("laplacian", [http_input("in", x)])
        np.testing.assert_array_equal(result.as_numpy("out").reshape(-1),
                                      [2, 1, -4, -3, 0, -7, -16, -11, -22])
        assert result.get_response()["model_name"] == "laplacian"
        assert grpc_run(server, "laplacian", {"in": x})["outputs"]["out"]["data"][:3] == [2.0, 1.0, -4.0]
    finally:
        httpx.delete(f"{server.http_url}/v1/filters/{filter_id}", timeout=30)
    assert not http_client.is_model_ready("laplacian")     # the alias goes with the handle


@pytest.mark.parametrize("alias", ["f-lookslikeanid", "has space", "x" * 65])
def test_an_alias_that_is_no_name_is_refused(server, alias):
    made = httpx.post(f"{server.http_url}/v1/filters", json={**LAPLACIAN, "alias": alias}, timeout=30)
    assert made.status_code == 400 and "alias" in made.json()["error"]["message"]
