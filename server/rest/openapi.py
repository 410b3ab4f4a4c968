"""The OpenAPI document's additions (one error schema and list generated from bnns.errors,
parameters, request skeletons) and the worked examples: the samples of the table of layer kinds
plus the tensor and shared-memory routes, each run through a private Core so the docs show real
responses."""

from __future__ import annotations

import base64
import logging
from typing import Any, Optional

from google.protobuf import json_format

from bnns.errors import REASONS, BNNSError
from bnns.v1 import service_pb2

from .. import kinds
from ..core import Core
from ..errors import HTTP_STATUSES
from .buffers import _out_dtype_lookup, render_json
from .routes import _BUFFER, _EXAMPLE_ID, _LIFECYCLE, RestRoute, rest_routes

log = logging.getLogger("bnns.server")


# ---------------------------------------------------------------------------------- OpenAPI

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "status": {"type": "string", "example": "INVALID_ARGUMENT"},
        "code": {"type": "integer", "example": 400},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object", "properties": {
            "@type": {"type": "string", "example": "type.googleapis.com/google.rpc.ErrorInfo"},
            "reason": {"type": "string", "enum": sorted(REASONS), "example": "FILTER_NOT_FOUND"},
            "domain": {"type": "string", "example": "bnns.v1"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}},
}
def _error_list() -> dict:
    """HTTP code -> description of every error a route may answer, from bnns.errors.REASONS."""
    by_code: dict = {}
    for reason, (status, when) in REASONS.items():
        by_code.setdefault(str(HTTP_STATUSES.get(status, 500)), []).append(f"`{reason}` ({status}): {when}")
    return {code: "; ".join(lines) for code, lines in sorted(by_code.items())}


_ERRORS = {**_error_list(), "405": "A method this path does not serve (e.g. GET on a :verb path); the Allow header "
                                   "names those it does"}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_PATH_PARAMETERS = {
    "filter_id": {"example": _EXAMPLE_ID, "description": "The handle CreateFilter returned (ids hold no ':')."},
    "tensor_id": {"example": "t-0123456789abcdef", "description": "The id CreateTensor returned (ids hold no ':')."},
    "name": {"example": "batch-in", "description": "The name the region was registered under."},
}


def _tag(route: RestRoute) -> str:
    if route.rpc in _LIFECYCLE:
        return route.path.split("/")[2]          # filters, tensors, sharedMemory
    return "apply" if route.filter_scoped else "service"


def _description(route: RestRoute) -> str:
    request, response = route.request_cls.DESCRIPTOR.full_name, route.response_cls.DESCRIPTOR.full_name
    text = f"RPC `bnns.v1.BNNSService/{route.rpc}`: `{request}` in, `{response}` out."
    if route.has_body:
        text += (f"\n\nBody: the proto3 JSON mapping of `{request}` (see bnns/v1/*.proto), or the serialized "
                 f"message with `Content-Type: application/x-protobuf`.")
    if route.path_field:
        text += f" `{route.path_field}` comes from the path" + ("; leave it out of the body." if route.has_body else ".")
    if route.returns_buffers:
        text += ("\n\nResult tensors come back as base64 `data`, or as `values` number lists when the request "
                 "sent any `values` list or says `?values=true`. `Accept: application/x-protobuf` returns "
                 "the serialized response.")
    return text


def _openapi_operation(route: RestRoute, examples: dict) -> dict:
    parameters = []
    if route.path_field:
        parameters.append({"name": route.path_field, "in": "path", "required": True,
                           "schema": {"type": "string", **({"pattern": "^[^:/]+$"} if route.path_field != "name" else {})},
                           **_PATH_PARAMETERS[route.path_field]})
    if route.returns_buffers:
        parameters.append({"name": "values", "in": "query", "required": False,
                           "schema": {"type": "boolean", "default": False},
                           "description": "Return result tensors as `values` number lists instead of base64 `data`."})
    ok: dict = {"application/json": {"schema": {"type": "object", "title": route.response_cls.DESCRIPTOR.full_name}}}
    responses = {"200": {"description": f"`{route.response_cls.DESCRIPTOR.full_name}`", "content": ok}}
    responded = {name: {"summary": e["summary"], "value": e["response"]}
                 for name, e in examples.items() if "response" in e}
    if responded:
        ok["application/json"]["examples"] = responded
    ok["application/x-protobuf"] = _BINARY
    for code, text in _ERRORS.items():
        responses[code] = {"description": text, "content": {"application/json": {"schema": _ERROR_REF}}}
    operation: dict = {"responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if route.has_body:
        name = route.request_cls.DESCRIPTOR.full_name
        shown = {n: {"summary": e["summary"], "value": e["request"]} for n, e in examples.items() if "request" in e}
        operation["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": {"type": "object", "title": name,
                                            "description": f"The proto3 JSON mapping of `{name}`."},
                                 "examples": shown or {"skeleton": {"summary": "every top-level field",
                                                                    "value": skeleton(route.request_cls)}}},
            "application/x-protobuf": _BINARY}}
    return operation


def skeleton(message_cls) -> dict:
    """A JSON body naming every top-level field of a request (the example of an RPC nobody wrote
    one for yet); valid against the message by construction."""
    document: dict[str, Any] = {}
    for field in message_cls.DESCRIPTOR.fields:
        if field.name == "filter_id" or (field.containing_oneof is not None
                                         and field.containing_oneof.fields[0] is not field):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            document[field.name] = {}
            continue
        value: Any
        if field.message_type is not None:
            value = {"values": [0.0]} if field.message_type.full_name == _BUFFER else {}
        elif field.enum_type is not None:
            value = field.enum_type.values[0].name
        else:
            value = {field.TYPE_BOOL: False, field.TYPE_STRING: "", field.TYPE_BYTES: ""}.get(
                field.type, 1 if field.name == "batch_size" else 0)
        document[field.name] = [value] if field.is_repeated else value
    json_format.ParseDict(document, message_cls())
    return document


# ----------------------------------------------------------------------- worked examples

def _kind_examples() -> list:
    """(name, summary, CreateFilter body, [(RPC, body without filter_id), ...]) of every sample in
    the table of layer kinds (kinds.py), in table order."""
    return [(sample.name, sample.summary, kinds.sample_create_request(kind, sample),
             [(call.rpc, call) for call in sample.calls]) for kind, sample in kinds.samples()]


def worked_examples() -> dict:
    """RPC -> example name -> {"summary", "request" (body, when the route has one), "response"}.

    The requests are the samples of the table of layer kinds (kinds.py) and the examples of the
    routes that are not about one kind (tensors, shared memory); the responses are what a private, throw-away Core answers
    to them, so the docs never show a made-up result. An example the Core cannot serve yet (a
    family not wired in) is shown without a response."""
    core = Core()
    routes = {route.rpc: route for route in rest_routes(core)}
    found: dict = {}

    def run(rpc: str, name: str, summary: str, body: Optional[dict], handle_id: str = ""):
        route = routes.get(rpc)
        if route is None:
            return None
        entry = found.setdefault(rpc, {}).setdefault(name, {"summary": summary})
        message = route.request_cls()
        if body is not None:
            entry["request"] = body
            json_format.ParseDict(body, message)
        if route.path_field:
            setattr(message, route.path_field, handle_id)
        try:
            response = core.call(route.rpc, message)
        except BNNSError as error:
            log.debug("docs example %s/%s has no response: %s", rpc, name, error.message)
            return None
        entry["response"] = render_json(response, message, _out_dtype_lookup(core, message, ""))
        return response

    for name, summary, create, calls in _kind_examples():
        try:
            created = run("CreateFilter", name, summary, create)
            responses: list = []
            for rpc, call in calls:    # a call may be fed a Buffer an earlier one returned (Call.feed)
                body = call.body_after(responses) if None not in responses else call.body
                responses.append(run(rpc, name, summary, body, created.filter_id if created else _EXAMPLE_ID))
            if name == "convolution" and created:
                run("DescribeFilter", name, summary, None, created.filter_id)
                run("ListFilters", name, "the convolution example's filter, alone", None)
                run("DestroyFilter", name, summary, None, created.filter_id)
        except Exception:   # a stale example must not stop the server; the e2e tests catch it
            log.warning("docs example %s failed", name, exc_info=True)
    from .. import direct      # the filter-less functions (issue 12, part C)
    for examples in (_resident_examples, _optimizer_examples, _chunked_examples, direct.worked_examples,
                     _filterless_a_examples, _lstm_examples):
        try:
            examples(run)
        except Exception:   # as above: the e2e tests catch a stale example
            log.warning("docs example %s failed", examples.__name__, exc_info=True)
    return found


def _optimizer_examples(run) -> None:
    """BNNSOptimizerStep on an array that travels, then on a filter's weights held by the server."""
    run("OptimizerStep", "sgd_inline", "one SGD step (learning rate 0.1) on a 3-value parameter that travels", {
        "function": "OPTIMIZER_FUNCTION_SGD_MOMENTUM", "fields": {"learning_rate": 0.1},
        "parameters": [{"values": {"values": [1.0, 2.0, 3.0]}}], "gradients": [{"values": [0.5, -1.0, 0.0]}]})
    name, summary = "adam_filter_weights", "one Adam step on the convolution example's weights, held by the server"
    conv = run("CreateFilter", name, "the convolution example, to train", {"convolution": kinds.CONVOLUTION})
    run("OptimizerStep", name, summary + " (the server keeps the accumulators; the new weights come back)", {
        "function": "OPTIMIZER_FUNCTION_ADAM",
        "fields": {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "time_step": 1, "epsilon": 1e-8},
        "parameters": [{"filter_parameter": {"filter_id": conv.filter_id, "name": "weights"}}],
        "gradients": [{"values": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}], "return_parameters": True})


def _lstm_gate(iw: float, hw: float, b: float) -> dict:
    return {"iw_desc": [kinds.desc("VECTOR", [1], [iw])], "hw_desc": kinds.desc("VECTOR", [1], [hw]),
            "b_desc": kinds.desc("VECTOR", [1], [b])}


LSTM_EXAMPLE = {   # one layer of one unit over 2 steps of 1 input, default activations
    "input_size": 1, "hidden_size": 1, "batch_size": 1, "num_layers": 1, "seq_len": 2, "lstm_flags": 2,
    "input_descriptor": {"data_desc": kinds.desc("3D_LAST_MAJOR", [1, 1, 2], [0.5, -1.0])},
    "output_descriptor": {"data_desc": kinds.desc("4D_LAST_MAJOR", [1, 1, 1, 2])},
    "input_gate": _lstm_gate(0.5, 0.25, 0.1), "forget_gate": _lstm_gate(-0.5, 0.5, 1.0),
    "candidate_gate": _lstm_gate(1.0, -0.25, 0.0), "output_gate": _lstm_gate(0.75, 0.5, -0.1)}


def _lstm_examples(run) -> None:
    """The LSTM training entry points (issue 12, part B): the cache's size, a training forward,
    and the backward fed the cache the forward returned."""
    name = "lstm_one_unit"
    size = run("ComputeLSTMTrainingCacheCapacity", name, "the training cache of a 1-unit LSTM over 2 steps",
               {"layer_params": LSTM_EXAMPLE})
    forward = run("DirectApplyLSTMBatchTrainingCaching", name, "a training forward: output, h_n, c_n and the cache",
                  {"layer_params": LSTM_EXAMPLE, "training_cache_capacity": size.capacity})
    run("DirectApplyLSTMBatchBackward", name, "every gradient from the forward's cache", {
        "layer_params": LSTM_EXAMPLE, "output_delta": {"values": [1.0, -0.5]},
        "training_cache": json_format.MessageToDict(forward.training_cache), "compute_input_delta": True,
        "compute_state_deltas": True, "compute_weights_deltas": True})


def _chunked_examples(run) -> None:
    """ChunkedCall over REST: one chunk holding a whole serialized request (a FilterApplyBatch on
    the activation example's filter); the answer is one chunk holding the serialized response."""
    kind = kinds.KINDS["activation"]
    sample = kind.samples[0]
    name = "apply_in_one_chunk"
    created = run("CreateFilter", name, "the activation example, to call through ChunkedCall",
                  kinds.sample_create_request(kind, sample))
    inner = json_format.ParseDict(sample.calls[0].body, service_pb2.FilterApplyBatchRequest())
    inner.filter_id = created.filter_id
    data = inner.SerializeToString()
    run("ChunkedCall", name, "FilterApplyBatch as one chunk (base64 of the serialized request)",
        {"rpc": "FilterApplyBatch", "total_bytes": len(data), "data": base64.b64encode(data).decode()})
    # CallSequence: the same FilterApplyBatch twice in one round trip (base64 of each serialized request).
    request = base64.b64encode(data).decode()
    run("CallSequence", "apply_twice_in_one_round_trip", "two FilterApplyBatch calls on the activation example, "
        "run in order; each serialized response comes back in order",
        {"calls": [{"rpc": "FilterApplyBatch", "request": request}, {"rpc": "FilterApplyBatch", "request": request}]})


def _resident_examples(run) -> None:
    """The convolution example with its input and output held by the server (tensor routes)."""
    name, summary = "resident", "the convolution example on tensors held by the server"
    conv = run("CreateFilter", name, summary, {"convolution": kinds.CONVOLUTION})
    x = run("CreateTensor", name, "a 4x4 image held by the server", {"shape": [1, 1, 4, 4], "name": "image",
                                                                     "data": {"values": kinds.IMAGE_4X4}})
    y = run("CreateTensor", name, "room for the 2x2 result", {"shape": [1, 1, 2, 2], "name": "result"})
    x_id, y_id = x.info.tensor_id, y.info.tensor_id
    run("WriteTensor", name, "overwrite the image's first row", {"offset": 0, "data": {"values": [1, 2, 0, 1]}}, x_id)
    run("FilterApplyBatch", name, "read the image from a tensor and write the result into another",
        {"batch_size": 1, "in": {"tensor": {"tensor_id": x_id}},
         "outputs": {"out": {"tensor": {"tensor_id": y_id}}}}, conv.filter_id)
    run("ReadTensor", name, "read the result back", {"offset": 0, "count": 0}, y_id)
    run("DescribeTensor", name, "describe the result tensor", None, y_id)
    run("ListTensors", name, "the two tensors of this example", None)
    run("KeepAlive", name, "renew the leases of the filter and the result tensor without using them",
        {"handle_ids": [conv.filter_id, y_id]})
    run("DestroyTensor", name, "destroy the image tensor", None, x_id)
    _shared_memory_examples(run)


def _shared_memory_examples(run) -> None:
    """Register, list and unregister a real (throw-away) shared-memory object."""
    from multiprocessing import shared_memory
    segment = shared_memory.SharedMemory(create=True, size=4096)
    name, summary = "region", "a 4 KiB region of a POSIX shared-memory object"
    try:
        run("RegisterSharedMemory", name, summary, {"region": {"name": "batch-in", "key": "/" + segment.name.lstrip("/"),
                                                                "offset": 0, "byte_size": 4096}})
        run("ListSharedMemory", name, "the region registered above", None)
        run("UnregisterSharedMemory", name, "unregister it (the object itself stays the caller's)", None, "batch-in")
    finally:
        segment.close()
        segment.unlink()


def _filterless_a_examples(run) -> None:
    """Issue 12, part A: the filter-less data movement, reduction and matrix products."""
    desc = kinds.desc
    matrix_a = desc("ROW_MAJOR_MATRIX", [3, 2], [[1, 2, 3], [4, 5, 6]])          # 2 x 3
    matrix_b = desc("ROW_MAJOR_MATRIX", [2, 3], [[1, 0], [0, 1], [1, 1]])        # 3 x 2
    product = {"alpha": 1.0, "input_a": matrix_a, "input_b": matrix_b, "output": desc("ROW_MAJOR_MATRIX", [2, 2])}
    run("Transpose", "matrix", "BNNSTranspose of a 2x3 matrix (dimensions 0 and 1 swapped)",
        {"dest": desc("ROW_MAJOR_MATRIX", [2, 3]), "src": matrix_a, "axis0": 0, "axis1": 1})
    run("Copy", "to_half", "BNNSCopy of a 2x3 matrix into a Float16 one",
        {"dest": dict(desc("ROW_MAJOR_MATRIX", [3, 2]), data_type="DATA_TYPE_FLOAT16"), "src": matrix_a})
    run("DirectApplyReduction", "row_sums", "BNNSDirectApplyReduction: the sum of each row of a 2x3 matrix",
        {"layer_params": {"i_desc": matrix_a, "o_desc": desc("ROW_MAJOR_MATRIX", [1, 2]),
                          "reduce_func": "REDUCE_FUNCTION_SUM"}})
    run("MatMul", "matrix", "BNNSMatMul: a 2x3 matrix times a 3x2 one", product)
    run("DirectApplyBroadcastMatMul", "matrix", "BNNSDirectApplyBroadcastMatMul: 0.5 * A @ B",
        dict(product, alpha=0.5))
    run("MatMulWorkspaceSize", "matrix", "BNNSMatMulWorkspaceSize for the BNNSMatMul example",
        dict(product, input_a=desc("ROW_MAJOR_MATRIX", [3, 2]), input_b=desc("ROW_MAJOR_MATRIX", [2, 3])))
    crop = {"layer_params": {"spatial_scale": 1.0, "method": "INTERPOLATION_METHOD_LINEAR"},
            "roi": desc("ROW_MAJOR_MATRIX", [5, 1], [[0, 0.5, 0.5, 2.5, 2.5]])}         # [image, y0, x0, y1, x1]
    image = desc("4D_FIRST_MAJOR", [1, 1, 4, 4], [[kinds.IMAGE_4X4]])
    run("CropResize", "bilinear", "BNNSCropResize: one box of a 4x4 image, bilinear to 3x3",
        dict(crop, input=image, output=desc("4D_FIRST_MAJOR", [1, 1, 3, 3])))
    run("CropResizeBackward", "bilinear", "BNNSCropResizeBackward: the crop's gradient sent back to the image",
        dict(crop, in_delta=desc("4D_FIRST_MAJOR", [1, 1, 4, 4]),
             out_delta=desc("4D_FIRST_MAJOR", [1, 1, 3, 3], [[[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]])))
