"""The KServe V2 (Open Inference Protocol) front door: REST under /v2 and gRPC
``inference.GRPCInferenceService``, over the same core, registry and tenancy as bnns.v1.

A *model* is a live filter handle of the caller's tenant, named by its id (or its alias). Its
versions are its entry points:

* ``forward`` (also the empty version): BNNSFilterApplyBatch. Input ``in``, output ``out``.
* ``backward``: BNNSFilterApplyBackwardBatch. Inputs ``in``, ``out`` (both optional, as in
  BNNS: needed for weight gradients and for activations that read them) and ``out_delta``;
  outputs ``in_delta``, ``weights_delta``, ``bias_delta`` (those the filter has). The outputs
  asked for are the gradients computed (none asked = all).

Tensor names are the entry point's argument names, which are also the bnns.v1 Buffer paths, so
the door decodes each V2 tensor straight into ``CallIO.arrays`` (views over the received bytes)
and builds the V2 outputs from ``CallIO.results``. Shapes are ``[batch, *item shape]`` with the
item shape from the filter's descriptors (NumPy order); any shape whose trailing extents hold
exactly one item (e.g. ``[batch, features]``) is accepted.

Served kinds: convolution, transposed convolution, fully connected and activation (forward and
backward), pooling (forward). Other kinds answer FAILED_PRECONDITION naming bnns.v1's RPC.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import math
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import grpc
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from bnns.inference import grpc_service_pb2 as v2
from bnns.kernels import layout
from bnns.kernels.errors import (BNNSError, FailedPreconditionError, InvalidArgumentError, NotFoundError,
                                 ResourceExhaustedError, require)
from bnns.v1 import service_pb2 as pb

from . import kinds
from .core import Core
from .dataplane import CallIO
from .errors import grpc_code, http_status

log = logging.getLogger("bnns.server.kserve")

SERVICE_NAME = "inference.GRPCInferenceService"
SERVER_NAME = "bnns-rpc"
EXTENSIONS = ["binary_tensor_data"]          # Triton's binary tensor data extension (REST)
PLATFORM = "bnns"
FORWARD, BACKWARD = "forward", "backward"
HEADER_LENGTH = "Inference-Header-Content-Length"

# V2 datatype <-> NumPy dtype (little-endian), for the data types BNNS descriptors carry.
DATATYPES: Dict[str, np.dtype] = {"FP32": np.dtype("<f4"), "FP16": np.dtype("<f2"), "FP64": np.dtype("<f8"),
             "INT8": np.dtype("i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
             "UINT8": np.dtype("u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
             "UINT64": np.dtype("<u8"), "BOOL": np.dtype("?")}
_DATATYPE_OF = {dtype: name for name, dtype in DATATYPES.items()}
# InferTensorContents field per datatype (FP16 has none: raw bytes only).
_CONTENTS = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT8": "int_contents", "INT16": "int_contents",
             "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
             "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
             "BOOL": "bool_contents"}


def server_version() -> str:
    try:
        return importlib.metadata.version("bnns-rpc")
    except importlib.metadata.PackageNotFoundError:   # run from a source tree without installing
        return "0"


# ------------------------------------------------------------------------------------ models

@dataclasses.dataclass
class TensorSpec:
    name: str            # the entry point's argument = the bnns.v1 Buffer path
    datatype: str
    shape: List[int]     # -1 = the batch (or any) extent
    required: bool = True


@dataclasses.dataclass
class Model:
    """One entry point of one filter, as a V2 model version."""

    name: str
    filter_id: str
    version: str
    rpc: str
    inputs: List[TensorSpec]
    outputs: List[TensorSpec]
    versions: List[str]
    item: Dict[str, layout.Descriptor]       # input name -> the descriptor one batch item has


def _datatype(data_type: int) -> str:
    return _DATATYPE_OF[layout.numpy_dtype(data_type, allowed=layout.ALL_DTYPES)]


def _versions(kind: str) -> List[str]:
    return [FORWARD, BACKWARD] if kind in kinds.served_by("FilterApplyBackwardBatch") else [FORWARD]


def resolve(core: Core, tenant: str, name: str, version: str) -> Model:
    """The model ``name`` (a filter id of ``tenant``, or its alias) at ``version``."""
    entry = core.registry.get(_filter_id(core, tenant, name), tenant)
    kind, f = entry.kind, entry.filter
    versions = _versions(kind) if kind in kinds.served_by("FilterApplyBatch") else []
    if not versions:
        raise FailedPreconditionError(
            f"model {name!r} is a {kind} filter, which the V2 inference API does not serve (it serves "
            f"convolution, transposed_convolution, fully_connected, activation and pooling); call bnns.v1's "
            f"{kind.title().replace('_', '')}FilterApplyBatch instead")
    version = version or FORWARD
    if version not in versions:
        raise NotFoundError(f"model {name!r} has no version {version!r}; its versions are {', '.join(versions)}")
    x_desc, y_desc = f.input_desc, f.output_desc
    x = TensorSpec("in", _datatype(x_desc.data_type), [-1, *x_desc.shape])
    if version == FORWARD:
        return Model(name, entry.filter_id, version, "FilterApplyBatch", [x],
                     [TensorSpec("out", _datatype(y_desc.data_type), [-1, *y_desc.shape])], versions, {"in": x_desc})
    y = TensorSpec("out", _datatype(y_desc.data_type), [-1, *y_desc.shape], required=False)
    dy = TensorSpec("out_delta", _datatype(y_desc.data_type), [-1, *y_desc.shape])
    outputs = [TensorSpec("in_delta", "FP32", [-1, *x_desc.shape])]
    trainable = entry.trainable                              # gradients have the parameters' shapes
    for field, parameter in (("weights_delta", "weights"), ("bias_delta", "bias")):
        if parameter in trainable:
            outputs.append(TensorSpec(field, "FP32", list(trainable[parameter].shape)))
    return Model(name, entry.filter_id, version, "FilterApplyBackwardBatch",
                 [dataclasses.replace(x, required=False), y, dy], outputs, versions,
                 {"in": x_desc, "out": y_desc, "out_delta": y_desc})


def _filter_id(core: Core, tenant: str, name: str) -> str:
    aliases = getattr(core.registry, "resolve_alias", None)
    return aliases(name, tenant) if aliases is not None else name


def metadata(model: Model) -> dict:
    """The V2 model metadata document (REST; the gRPC message has the same fields)."""
    def tensor(spec: TensorSpec) -> dict:
        return {"name": spec.name, "datatype": spec.datatype, "shape": spec.shape}
    return {"name": model.name, "versions": model.versions, "platform": PLATFORM,
            "inputs": [tensor(s) for s in model.inputs], "outputs": [tensor(s) for s in model.outputs]}


# ------------------------------------------------------------------------------- inference

@dataclasses.dataclass
class InputTensor:
    name: str
    datatype: str
    shape: List[int]
    elements: Union[memoryview, bytes, np.ndarray]      # raw little-endian bytes, or an ndarray


def infer(core: Core, tenant: str, model: Model, inputs: List[InputTensor], requested: List[str],
          request_id: Optional[str] = None) -> List[Tuple[str, np.ndarray]]:
    """Run ``model`` on ``inputs``; returns (output name, packed array) for each output asked for
    (``requested``; empty = all), in that order."""
    specs = {s.name: s for s in model.inputs}
    arrays: Dict[str, object] = {}
    batch = None
    for tensor in inputs:
        spec = specs.get(tensor.name)
        if spec is None:
            raise InvalidArgumentError(f"model {model.name!r} ({model.version}) has no input {tensor.name!r}; its "
                                       f"inputs are {', '.join(s.name for s in model.inputs)}")
        require(tensor.name not in arrays, f"input {tensor.name!r} is given twice")
        require(tensor.datatype == spec.datatype, f"input {tensor.name!r} is {tensor.datatype}; model "
                f"{model.name!r} takes {spec.datatype}")
        shape = [int(d) for d in tensor.shape]
        item = model.item[tensor.name]
        require(len(shape) >= 1 and all(d >= 0 for d in shape) and math.prod(shape[1:]) == item.span,
                f"input {tensor.name!r} has shape {shape}; model {model.name!r} takes [batch, "
                f"{', '.join(map(str, item.shape))}] (or any shape [batch, ...] of {item.span} values an item)")
        require(batch is None or shape[0] == batch, f"input {tensor.name!r} has a batch of {shape[0]}; the other "
                f"inputs have {batch}")
        batch = shape[0]
        arrays[tensor.name] = _elements(tensor, math.prod(shape))
    missing = [s.name for s in model.inputs if s.required and s.name not in arrays]
    require(not missing, f"model {model.name!r} ({model.version}) needs input(s) {', '.join(missing)}")
    require(batch is not None and batch >= 1, f"model {model.name!r} needs a batch of at least one item")
    outputs = {s.name for s in model.outputs}
    for name in requested:
        if name not in outputs:
            raise InvalidArgumentError(f"model {model.name!r} ({model.version}) has no output {name!r}; its outputs "
                                       f"are {', '.join(s.name for s in model.outputs)}")
    wanted = list(requested) or [s.name for s in model.outputs]
    request: Union[pb.FilterApplyBatchRequest, pb.FilterApplyBackwardBatchRequest]
    if model.version == FORWARD:
        request = pb.FilterApplyBatchRequest(filter_id=model.filter_id, batch_size=batch)
    else:
        request = pb.FilterApplyBackwardBatchRequest(
            filter_id=model.filter_id, batch_size=batch, compute_in_delta="in_delta" in wanted,
            compute_weights_delta="weights_delta" in wanted, compute_bias_delta="bias_delta" in wanted)
    for name in arrays:
        getattr(request, name).SetInParent()     # present; its elements travel beside the message
    io = CallIO(arrays=arrays)
    core.call(model.rpc, request, tenant=tenant, request_id=request_id, io=io)
    return [(name, io.results[name]) for name in wanted if name in io.results]


def _elements(tensor: InputTensor, count: int):
    dtype = DATATYPES.get(tensor.datatype)
    if dtype is None:
        raise InvalidArgumentError(f"input {tensor.name!r} has datatype {tensor.datatype!r}, which is not a V2 "
                                   f"datatype of a tensor ({', '.join(DATATYPES)})")
    given = tensor.elements
    if isinstance(given, np.ndarray):
        require(given.size == count, f"input {tensor.name!r} has {given.size} values; shape {tensor.shape} needs "
                f"{count}")
        return given.reshape(-1)
    raw = memoryview(given).cast("B")
    require(raw.nbytes == count * dtype.itemsize, f"input {tensor.name!r} has {raw.nbytes} bytes; shape "
            f"{tensor.shape} of {tensor.datatype} needs {count * dtype.itemsize}")
    return raw


# ------------------------------------------------------------------------------------ REST

def _v2_error(status: str, message: str) -> JSONResponse:
    challenge = {"WWW-Authenticate": "Bearer"} if status == "UNAUTHENTICATED" else None   # RFC 6750
    return JSONResponse({"error": message}, status_code=http_status(status), headers=challenge)   # the V2 error object


def add_rest_routes(app: FastAPI, core: Core, tenant_of, readiness: Callable[[], bool],
                    max_body_bytes: int) -> None:
    """GET /v2, GET /v2/models/{name}[/versions/{version}][/ready], POST .../infer."""

    @app.get("/v2", tags=["KServe V2"], summary="Server metadata (name, version, extensions)")
    async def server_metadata() -> dict:
        return {"name": SERVER_NAME, "version": server_version(), "extensions": EXTENSIONS}

    async def model_metadata(request: Request, name: str) -> Response:
        try:
            tenant = await tenant_of(request)   # here, not a dependency: a 401 is a V2 error object too
            return JSONResponse(metadata(resolve(core, tenant, name, _version(request))))
        except BNNSError as error:
            return _v2_error(error.status, error.message)

    async def model_ready(request: Request, name: str) -> Response:
        try:
            tenant = await tenant_of(request)
            resolve(core, tenant, name, _version(request))
        except BNNSError as error:
            return _v2_error(error.status, error.message)
        return JSONResponse({"name": name, "ready": bool(readiness())}, status_code=200 if readiness() else 503)

    async def model_infer(request: Request, name: str) -> Response:
        try:
            tenant = await tenant_of(request)
            body = await _read_body(request, max_body_bytes)
            return await run_in_threadpool(_rest_infer, core, tenant, name, _version(request), request, body)
        except BNNSError as error:
            return _v2_error(error.status, error.message)
        except Exception:   # a bug: keep serving, log the trace
            log.exception("internal error in V2 infer")
            return _v2_error("INTERNAL", "internal error in infer; the server log has the details")

    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        versioned = [{"name": "version", "in": "path", "required": True, "schema": {"type": "string",
                      "enum": [FORWARD, BACKWARD]}, "description": "The entry point: forward or backward."}] \
            if "{version}" in prefix else []
        extra = {"parameters": versioned} if versioned else {}
        app.add_api_route(prefix, model_metadata, methods=["GET"], tags=["KServe V2"], responses=_V2_ERRORS,
                          summary="Model metadata: a filter's inputs and outputs for this entry point",
                          openapi_extra=extra)
        app.add_api_route(prefix + "/ready", model_ready, methods=["GET"], tags=["KServe V2"],
                          responses={**_V2_ERRORS, 503: {"description": "The server is draining"}},
                          summary="Model readiness: 200 when the filter is live and the server serving",
                          openapi_extra=extra)
        app.add_api_route(prefix + "/infer", model_infer, methods=["POST"], tags=["KServe V2"],
                          responses={**_V2_ERRORS, 413: {"description": "Over a size limit", "content": _V2_ERROR_BODY}},
                          summary="Inference: forward (version forward) or backward (version backward)",
                          openapi_extra={**extra, "requestBody": {"required": True, "content": {
                              "application/json": {"schema": {"type": "object"}},
                              "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})


def _version(request: Request) -> str:
    return request.path_params.get("version", "")


_V2_ERROR_BODY = {"application/json": {"schema": {"type": "object", "required": ["error"],
                                                  "properties": {"error": {"type": "string"}}}}}
_V2_ERRORS: Dict[Union[int, str], Dict[str, Any]] = {code: {"description": text, "content": _V2_ERROR_BODY} for code, text in (
    (400, "Bad request: malformed body, wrong input name, datatype or shape"),
    (401, "No valid bearer token (when the server has tokens)"),
    (404, "No such model (filter handle or alias of the caller's tenant) or version"),
    (409, "The filter's kind is not served by the V2 API"))}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResourceExhaustedError(f"request body of {declared} bytes is over the {limit}-byte limit "
                                     "(max_message_bytes); send a smaller batch")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ResourceExhaustedError(f"request body of {total} bytes or more is over the {limit}-byte limit "
                                         "(max_message_bytes); send a smaller batch")
        chunks.append(chunk)
    return b"".join(chunks)


def _rest_infer(core: Core, tenant: str, name: str, version: str, request: Request, body: bytes) -> Response:
    header_length = request.headers.get(HEADER_LENGTH)
    view = memoryview(body)
    if header_length is not None:
        require(header_length.isdigit() and int(header_length) <= len(body),
                f"{HEADER_LENGTH} {header_length!r} is not a length within the {len(body)}-byte body")
        json_part, binary = view[:int(header_length)], view[int(header_length):]
    else:
        json_part, binary = view, view[:0]
    try:
        document = json.loads(bytes(json_part))
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidArgumentError(f"the inference request is not JSON: {error}") from None
    require(isinstance(document, dict), "the inference request must be a JSON object")
    model = resolve(core, tenant, name, version)
    inputs, offset = [], 0
    raw_inputs = document.get("inputs")
    require(isinstance(raw_inputs, list) and raw_inputs, "the inference request needs an `inputs` list")
    elements: Union[memoryview, np.ndarray]
    for k, item in enumerate(raw_inputs):
        require(isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("shape"), list)
                and isinstance(item.get("datatype"), str), f"inputs[{k}] needs `name`, `shape` and `datatype`")
        require(all(isinstance(d, int) and not isinstance(d, bool) for d in item["shape"]),
                f"inputs[{k}].shape must be a list of integers")
        size = (item.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            require(isinstance(size, int) and 0 <= size <= len(binary) - offset,
                    f"inputs[{k}].parameters.binary_data_size {size!r} runs past the {len(binary)} binary bytes")
            elements = binary[offset:offset + size]
            offset += size
        else:
            require("data" in item, f"inputs[{k}] has neither `data` nor parameters.binary_data_size")
            dtype = DATATYPES.get(item["datatype"])
            if dtype is None:
                raise InvalidArgumentError(f"inputs[{k}].datatype {item['datatype']!r} is not a V2 tensor datatype")
            try:
                elements = np.asarray(item["data"], dtype=dtype).reshape(-1)
            except (TypeError, ValueError) as error:
                raise InvalidArgumentError(f"inputs[{k}].data is not a list of {item['datatype']} numbers: "
                                           f"{error}") from None
        inputs.append(InputTensor(item["name"], item["datatype"], item["shape"], elements))
    require(offset == len(binary), f"{len(binary) - offset} binary bytes after the last input are unclaimed")
    parameters = document.get("parameters") or {}
    all_binary = bool(parameters.get("binary_data_output", False))
    requested, binary_of = [], {}
    for k, item in enumerate(document.get("outputs") or []):
        require(isinstance(item, dict) and isinstance(item.get("name"), str), f"outputs[{k}] needs a `name`")
        requested.append(item["name"])
        binary_of[item["name"]] = bool((item.get("parameters") or {}).get("binary_data", all_binary))
    results = infer(core, tenant, model, inputs, requested, request.headers.get("x-request-id"))
    outputs, chunks = [], []
    for out_name, array in results:
        entry: Dict[str, Any] = {"name": out_name, "datatype": _DATATYPE_OF[array.dtype.newbyteorder("<")
                                                            if array.dtype.byteorder == ">" else array.dtype],
                 "shape": list(array.shape)}
        if binary_of.get(out_name, all_binary):
            entry["parameters"] = {"binary_data_size": array.nbytes}
            chunks.append(memoryview(array).cast("B"))   # type: ignore[arg-type]  # numpy's stubs: a Buffer on 3.12+ only
        else:
            entry["data"] = _json_numbers(array)
        outputs.append(entry)
    answer = {"model_name": name, "model_version": model.version, "outputs": outputs}
    if "id" in document:
        answer["id"] = document["id"]
    header = json.dumps(answer, separators=(",", ":"), allow_nan=False).encode()
    if not chunks:
        return Response(header, media_type="application/json")
    return Response(b"".join([header, *chunks]), media_type="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(header))})


def _json_numbers(array: np.ndarray) -> list:
    values = array.reshape(-1).tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidArgumentError("an output holds NaN or infinity, which JSON cannot carry: ask for it as "
                                   "binary data (parameters.binary_data)")
    return values


# ------------------------------------------------------------------------------------ gRPC

def grpc_handler(core: Core, tenant_of_metadata, readiness: Callable[[], bool] = lambda: True
                 ) -> grpc.GenericRpcHandler:
    """The inference.GRPCInferenceService handlers. Liveness, readiness and server metadata are
    open (like gRPC health); the model calls take the caller's tenant from its token."""

    def guarded(method):
        def handle(request, context: grpc.ServicerContext):
            try:
                tenant = tenant_of_metadata(dict(context.invocation_metadata() or ()))
                return method(request, tenant, context)
            except BNNSError as error:
                context.abort(grpc_code(error), error.message)
            except Exception:
                log.exception("internal error in %s", method.__name__)
                context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")
        return handle

    def model_ready(request, tenant, _context):
        try:
            resolve(core, tenant, request.name, request.version)
        except NotFoundError:
            return v2.ModelReadyResponse(ready=False)
        return v2.ModelReadyResponse(ready=bool(readiness()))

    def model_metadata(request, tenant, _context):
        document = metadata(resolve(core, tenant, request.name, request.version))
        response = v2.ModelMetadataResponse(name=document["name"], versions=document["versions"],
                                            platform=PLATFORM)
        for field in ("inputs", "outputs"):
            for spec in document[field]:
                getattr(response, field).add(**spec)
        return response

    def model_infer(request, tenant, context):
        model = resolve(core, tenant, request.model_name, request.model_version)
        raw = request.raw_input_contents
        require(not raw or len(raw) == len(request.inputs), f"raw_input_contents has {len(raw)} entries for "
                f"{len(request.inputs)} inputs: give every input's bytes there, or none")
        inputs = []
        for k, tensor in enumerate(request.inputs):
            elements: Union[memoryview, np.ndarray]
            if raw:
                elements = memoryview(raw[k])
            else:
                field = _CONTENTS.get(tensor.datatype)
                if field is None:
                    raise InvalidArgumentError(f"input {tensor.name!r}: {tensor.datatype} data travels in "
                                               "raw_input_contents only")
                elements = np.asarray(getattr(tensor.contents, field), dtype=DATATYPES[tensor.datatype])
            inputs.append(InputTensor(tensor.name, tensor.datatype, list(tensor.shape), elements))
        metadata_ = dict(context.invocation_metadata() or ())
        results = infer(core, tenant, model, inputs, [o.name for o in request.outputs], metadata_.get("x-request-id"))
        response = v2.ModelInferResponse(model_name=request.model_name, model_version=model.version, id=request.id)
        for out_name, array in results:
            response.outputs.add(name=out_name, datatype=_DATATYPE_OF[array.dtype], shape=list(array.shape))
            response.raw_output_contents.append(array.tobytes())    # the one copy, into the reply
        return response

    def open_call(method):
        def handle(request, _context):
            return method(request)
        return handle

    def unary(function, request_cls, response_cls):
        return grpc.unary_unary_rpc_method_handler(function, request_deserializer=request_cls.FromString,
                                                   response_serializer=response_cls.SerializeToString)

    return grpc.method_handlers_generic_handler(SERVICE_NAME, {
        "ServerLive": unary(open_call(lambda _r: v2.ServerLiveResponse(live=True)),
                            v2.ServerLiveRequest, v2.ServerLiveResponse),
        "ServerReady": unary(open_call(lambda _r: v2.ServerReadyResponse(ready=bool(readiness()))),
                             v2.ServerReadyRequest, v2.ServerReadyResponse),
        "ServerMetadata": unary(open_call(lambda _r: v2.ServerMetadataResponse(
            name=SERVER_NAME, version=server_version(), extensions=EXTENSIONS)),
            v2.ServerMetadataRequest, v2.ServerMetadataResponse),
        "ModelReady": unary(guarded(model_ready), v2.ModelReadyRequest, v2.ModelReadyResponse),
        "ModelMetadata": unary(guarded(model_metadata), v2.ModelMetadataRequest, v2.ModelMetadataResponse),
        "ModelInfer": unary(guarded(model_infer), v2.ModelInferRequest, v2.ModelInferResponse),
    })
