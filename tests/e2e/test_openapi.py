"""The OpenAPI document is honest (issue 15, item 4): bodies have JSON Schemas generated from the
proto messages, the worked examples validate against them, 405s name the methods a path has,
no route that can never succeed is listed, and ?values= is a boolean."""

from __future__ import annotations

import jsonschema_rs
from typing import Any
import pytest



@pytest.fixture(scope="module")
def document(http):
    return http.get("/openapi.json").json()


def validator(document, ref):
    return jsonschema_rs.validator_for({"$ref": ref, "components": document["components"]})


def operations(document):
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            if path.startswith("/v1/"):
                yield path, verb, operation


def test_every_v1_body_is_the_generated_schema_of_its_message(document):
    schemas = document["components"]["schemas"]
    for path, verb, operation in operations(document):
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].startswith("#/components/schemas/bnns.v1."), (path, verb)
        if "requestBody" in operation:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            message = ref.rsplit("/", 1)[1]
            assert schemas[message]["title"] == message and schemas[message]["properties"], (path, verb)
    create = schemas["bnns.v1.CreateFilterRequest"]
    assert {"convolution", "fully_connected", "fullyConnected", "alias", "lease_seconds"} <= set(create["properties"])


def test_the_worked_examples_validate_against_the_schemas(document):
    checked = 0
    for path, _verb, operation in operations(document):
        request = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if request:
            check = validator(document, request["schema"]["$ref"])
            for name, example in request.get("examples", {}).items():
                errors = [e.message for e in check.iter_errors(example["value"])]
                assert not errors, (path, name, errors[:3])
                checked += 1
        response = operation["responses"]["200"]["content"]["application/json"]
        check = validator(document, response["schema"]["$ref"])
        for name, example in response.get("examples", {}).items():
            errors = [e.message for e in check.iter_errors(example["value"])]
            assert not errors, (path, name, errors[:3])
            checked += 1
    assert checked > 40


@pytest.mark.parametrize("body,valid", [
    ({"convolution": {}, "fully_connected": {}}, False),                 # two cases of one oneof
    ({"activation": {"i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [4]}}}, True),
    ({"activation": {"i_desc": {"layout": 65536, "size": ["4"]}}}, True),  # enum by number, uint64 as a string
    ({"activation": {"i_desc": {"layout": "NOT_A_LAYOUT"}}}, False),
    # One field under both names: the description says no and the parser refuses it (see
    # test_one_field_under_both_names_is_refused), but the schema leaves it out: spelled out for
    # every field, it makes the schema too large for Schemathesis to generate from.
    ({"activation": {"iDesc": {"size": [4]}, "i_desc": {"size": [4]}}}, True),
    ({"alias": 3}, False), ({"unknown_field": 1}, False),
])
def test_the_schema_follows_the_proto3_json_mapping(document, body, valid):
    assert validator(document, "#/components/schemas/bnns.v1.CreateFilterRequest").is_valid(body) == valid


def test_no_route_that_can_never_succeed_is_listed(document, http):
    """/v1/chunkedCall once always answered 501; now it serves a single-chunk call, as its worked
    example shows."""
    assert document["paths"]["/v1/chunkedCall"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    answer = http.post("/v1/chunkedCall", json={"rpc": "ListFilters", "total_bytes": 0, "data": ""})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("method,path,allow", [
    ("PUT", "/v1/filters/f-0123456789abcdef:filterApplyBatch", "POST"),
    ("GET", "/v1/filters/f-0123456789abcdef:filterApplyBatch", "POST"),
    ("PUT", "/v1/filters/f-0123456789abcdef", "DELETE, GET"),
    ("DELETE", "/v1/filters", "GET, POST"),
])
def test_405_names_the_methods_the_path_has(http, method, path, allow):
    response = http.request(method, path)
    assert response.status_code == 405 and response.headers["allow"] == allow, response.headers


@pytest.mark.parametrize("flag,status", [("true", 200), ("false", 200), ("", 400), ("1", 400), ("yes", 400)])
def test_values_query_flag_is_a_boolean(http, flag, status):
    assert http.get(f"/v1/filters?values={flag}").status_code == status


def test_v2_routes_document_their_errors_and_take_the_version_from_the_path_only(document):
    v2 = {path: item for path, item in document["paths"].items() if path.startswith("/v2/models")}
    assert len(v2) == 6
    for path, item in v2.items():
        for operation in item.values():
            assert not [p for p in operation.get("parameters", []) if p["in"] == "query"], path
            assert {"400", "401", "404"} <= set(operation["responses"]), path
            assert ("{version}" in path) == any(p["name"] == "version" for p in operation["parameters"]), path


def test_handle_ids_are_documented_without_colons_and_405_is_documented(document):
    for path, verb, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] in ("filter_id", "tensor_id"):
                assert parameter["schema"]["pattern"] == "^[^:/]+$", path
        assert "405" in operation["responses"], (path, verb)
    enum = document["components"]["schemas"]["bnns.v1.NDArrayDescriptor"]["properties"]["layout"]["anyOf"][0]["enum"]
    assert "DATA_LAYOUT_IMAGE_CHW" in enum and 0x30000 in enum        # by name or by Apple's raw value


def test_the_server_refuses_two_members_of_one_oneof_as_the_schema_does(http, document):
    """json_format skips a null member; the schema forbids naming two members of a oneof at all,
    so the door refuses it too (Schemathesis found the disagreement)."""
    schema = validator(document, "#/components/schemas/bnns.v1.CreateTensorRequest")
    two_members = {"shape": [2], "data": {"tensor": None, "sharedMemory": None}}
    assert not schema.is_valid(two_members)
    answer = http.post("/v1/tensors", json=two_members)
    assert answer.status_code == 400 and "one oneof" in answer.json()["error"]["message"], answer.text
    assert http.get("/v1/tensors").json().get("tensors", []) == []          # nothing was created
    one_member = {"shape": [2], "data": {"sharedMemory": None}}
    created = http.post("/v1/tensors", json=one_member)
    assert schema.is_valid(one_member) and created.status_code == 200, created.text
    assert http.delete(f"/v1/tensors/{created.json()['info']['tensor_id']}").status_code == 200
    nested: dict[str, Any] = {"fused": {"layers": [{"convolution": {}, "fullyConnected": None}]}}
    answer = http.post("/v1/filters", json=nested)
    assert answer.status_code == 400 and "fused.layers" in answer.json()["error"]["message"], answer.text


def test_one_field_under_both_names_is_refused(http, document):
    assert "not both" in document["components"]["schemas"]["bnns.v1.ActivationParameters"]["description"]
    answer = http.post("/v1/filters", json={"activation": {"iDesc": {"size": [4]}, "i_desc": {"size": [4]}}})
    assert answer.status_code == 400 and "are one field" in answer.json()["error"]["message"], answer.text


def test_creators_link_to_every_operation_on_their_handle(document):
    filter_links = document["paths"]["/v1/filters"]["post"]["responses"]["200"]["links"]
    takes_filter = {operation["operationId"] for path, _, operation in operations(document) if "{filter_id}" in path}
    assert takes_filter and takes_filter <= set(filter_links)
    assert all(link["parameters"] == {"filter_id": "$response.body#/filter_id"}
               for name, link in filter_links.items() if name in takes_filter)
    assert "UnregisterSharedMemory" not in filter_links       # its {name} is a region, not a filter
    model = document["paths"]["/v2/models/{name}/infer"]["post"]["operationId"]
    assert filter_links[model]["parameters"] == {"name": "$response.body#/filter_id"}
    tensor_links = document["paths"]["/v1/tensors"]["post"]["responses"]["200"]["links"]
    assert set(tensor_links) == {"WriteTensor", "ReadTensor", "DescribeTensor", "DestroyTensor"}
