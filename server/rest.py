"""The REST front door: every RPC of bnns.v1.BNNSService as an HTTP route over the same Core and
the same handle registry as gRPC, generated from the service descriptor (as grpc_service.py is).

Routes
------
The four lifecycle RPCs are resources::

    POST   /v1/filters                  CreateFilter    (body: CreateFilterRequest)
    GET    /v1/filters                  ListFilters
    GET    /v1/filters/{filter_id}      DescribeFilter
    DELETE /v1/filters/{filter_id}      DestroyFilter

Every other RPC gets a route by one rule, so an RPC added to the contract is served with no edit
here (the Core method of the same name serves it; 501 until the Core has one):

* its request has a ``filter_id`` field -> ``POST /v1/filters/{filter_id}:{verb}``, where verb is
  the RPC name in lowerCamel, i.e. the BNNS entry point's words without the ``BNNS`` prefix
  (FilterApplyBatch -> ``:filterApplyBatch``, PoolingFilterApplyBackwardBatch ->
  ``:poolingFilterApplyBackwardBatch``). The path's filter_id wins; a different one in the body
  is a 400.
* otherwise -> ``POST /v1/{rpcName}`` with rpcName in lowerCamel (OptimizerStep ->
  ``/v1/optimizerStep``).

Bodies
------
A request body is the proto3 JSON mapping of the RPC's request message (unknown fields are an
error), or, with ``Content-Type: application/x-protobuf``, the serialized message itself. The
response is the proto3 JSON mapping of the response message (field names as in the .proto), or
the serialized message when ``Accept`` names ``application/x-protobuf``. There is no second
schema: the messages in bnns/v1/*.proto are the schema, and the OpenAPI document names them.

A JSON response carries result Buffers as base64 ``data``. If the request sent any Buffer as a
``values`` number list, or the query says ``?values=true``, result Buffers come back as ``values``
lists instead, decoded in their wire data type: the output descriptor's type for ``out``
(Float32 or Float16), the request's indices_data_type for pooling ``indices`` (UInt64 when
unset), Float32 for every gradient. Non-finite numbers are written as the strings "NaN",
"Infinity" and "-Infinity", as proto3 JSON writes floats.

Errors
------
Always JSON, ``{"error": {"status": "INVALID_ARGUMENT", "code": 400, "message": "..."}}``, with the
status mapping of server/errors.py: malformed JSON, unknown fields and wrong types are 400, a
body over max_message_bytes is 413, an unknown handle 404; anything unexpected is a 500 with a
generic message while the trace goes to the log. A failed call changes no state (the Core's rule).

Also served: ``/docs`` (OpenAPI UI, one worked example per route, request and response, computed
by running the examples through a private Core at start-up), ``/openapi.json``, and the KServe /
Triton health routes ``/v2/health/live`` and ``/v2/health/ready``.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
import math
import re
import socket
import threading
import time
from typing import Any, Callable, Optional

import numpy as np
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, JSONResponse, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bnns.kernels import layout
from bnns.kernels.errors import (BNNSError, InvalidArgumentError, NotFoundError, ResourceExhaustedError)
from bnns.v1 import service_pb2, types_pb2

from .auth import Authenticator, uvicorn_tls_options
from . import calllog, docs_ui, kserve, openapi_doc, wire
from .core import Core
from .dataplane import CallIO
from .errors import HTTP_STATUSES, http_status
from .settings import Settings

log = logging.getLogger("bnns.server")

SERVICE = service_pb2.DESCRIPTOR.services_by_name["BNNSService"]
PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")
_BUFFER = types_pb2.Buffer.DESCRIPTOR.full_name
_EXAMPLE_ID = "f-0123456789abcdef"

# RPC -> (HTTP method, path, summary). Every RPC not listed follows the rule of the docstring.
_LIFECYCLE = {
    "CreateFilter": ("POST", "/v1/filters", "BNNSFilterCreateLayer* / BNNSFilterCreateFusedLayer"),
    "ListFilters": ("GET", "/v1/filters", "List the live filters"),
    "DescribeFilter": ("GET", "/v1/filters/{filter_id}", "Describe one live filter"),
    "DestroyFilter": ("DELETE", "/v1/filters/{filter_id}", "BNNSFilterDestroy"),
    "CreateTensor": ("POST", "/v1/tensors", "Create a tensor held by the server"),
    "ListTensors": ("GET", "/v1/tensors", "List the server tensors"),
    "DescribeTensor": ("GET", "/v1/tensors/{tensor_id}", "Describe one server tensor"),
    "DestroyTensor": ("DELETE", "/v1/tensors/{tensor_id}", "Destroy a server tensor"),
    "WriteTensor": ("POST", "/v1/tensors/{tensor_id}:write", "Write elements of a server tensor"),
    "ReadTensor": ("POST", "/v1/tensors/{tensor_id}:read", "Read elements of a server tensor"),
    "RegisterSharedMemory": ("POST", "/v1/sharedMemory", "Register a same-host shared-memory region"),
    "ListSharedMemory": ("GET", "/v1/sharedMemory", "List the registered shared-memory regions"),
    "UnregisterSharedMemory": ("DELETE", "/v1/sharedMemory/{name}", "Unregister a shared-memory region"),
}


@dataclasses.dataclass(frozen=True)
class RestRoute:
    rpc: str                    # "FilterApplyBatch"
    http_method: str            # "POST"
    path: str                   # "/v1/filters/{filter_id}:filterApplyBatch"
    summary: str
    request_cls: Any
    response_cls: Any

    @property
    def filter_scoped(self) -> bool:
        return "{filter_id}" in self.path

    @property
    def path_field(self) -> Optional[str]:
        """The request field the path carries ({filter_id}, {tensor_id}, {name}), if any."""
        match = re.search(r"\{(\w+)\}", self.path)
        return match.group(1) if match else None

    @property
    def has_body(self) -> bool:
        return self.http_method == "POST"

    @property
    def returns_buffers(self) -> bool:
        return any(f.message_type is not None and f.message_type.full_name == _BUFFER
                   for f in self.response_cls.DESCRIPTOR.fields)


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def rest_routes(core: Core) -> list[RestRoute]:
    """One RestRoute per RPC of the service, in the contract's order."""
    routes = []
    for method in SERVICE.methods:
        if method.name == "ChunkedCall":   # gRPC streaming transport only: no REST route could serve it
            continue
        request_cls = getattr(service_pb2, method.input_type.name)
        if method.name in _LIFECYCLE:
            http_method, path, summary = _LIFECYCLE[method.name]
        elif "filter_id" in method.input_type.fields_by_name:
            http_method, path = "POST", f"/v1/filters/{{filter_id}}:{lower_camel(method.name)}"
            summary = f"BNNS{method.name}"
        else:
            http_method, path, summary = "POST", f"/v1/{lower_camel(method.name)}", f"BNNS{method.name}"
        routes.append(RestRoute(method.name, http_method, path, summary, request_cls,
                                getattr(service_pb2, method.output_type.name)))
    return routes


# ------------------------------------------------------------------------------------ tenancy

async def tenant_of(request: Request) -> str:   # async: a digest lookup, no worker thread needed
    """The tenant a request acts for: the one place authentication plugs in (every RPC route
    depends on it; health, metrics and docs do not). The app's Authenticator maps the
    ``Authorization: Bearer <token>`` header to a tenant, raising UnauthenticatedError (401 with
    ``WWW-Authenticate: Bearer``); with no tokens configured everyone is tenant ""."""
    return request.app.state.authenticator.tenant_for(request.headers.get("authorization"))


# -------------------------------------------------------------------------------- the app

def create_app(core: Core, settings: Settings, readiness: Callable[[], bool],
               authenticator: Optional[Authenticator] = None) -> FastAPI:
    """The FastAPI app serving every RPC of ``core``, the OpenAPI docs and the health routes.

    ``readiness()`` answers /v2/health/ready (false while draining). ``authenticator`` (default:
    built from settings; open with no tokens) names each RPC's tenant."""
    app = FastAPI(
        title="bnns-rpc REST gateway",
        version="v1",
        description=("Apple BNNS filters, forward and backward, over HTTP. Request and response bodies "
                     "are the proto3 JSON mapping of the bnns.v1 messages named in each route (field "
                     "names as in the .proto; 64-bit integers come back as strings and may be sent as "
                     "numbers; enums by name or number), or the serialized message with `Content-Type` / `Accept: "
                     "application/x-protobuf`. Tensors go as `values` number lists (small, from curl) "
                     "or base64 `data` (raw little-endian elements)."))
    app.state.authenticator = authenticator if authenticator is not None else Authenticator.from_settings(settings)
    with calllog.quiet_calls():   # the server's own calls, not traffic: never logged
        examples = worked_examples()
    routes = rest_routes(core)
    for route in routes:
        app.add_api_route(route.path, _endpoint(route, core, settings.max_message_bytes), methods=[route.http_method],
                          name=route.rpc, operation_id=route.rpc, summary=route.summary,
                          description=_description(route), tags=[_tag(route)], response_class=Response,
                          openapi_extra=_openapi_operation(route, examples.get(route.rpc, {})))
    verbs = [r.path.rsplit(":", 1)[1] for r in routes if r.filter_scoped and ":" in r.path]
    app.add_api_route("/v1/filters/{filter_id}:{verb}", _unknown_verb_handler(verbs), methods=["POST"],
                      include_in_schema=False)
    kserve.add_rest_routes(app, core, tenant_of, readiness, settings.max_message_bytes)   # KServe V2 (/v2/models)
    docs_ui.install(app)   # Swagger UI from the package, not a CDN
    openapi_doc.exclusive_handle_routes(app)   # {filter_id} never swallows the :verb paths

    default_openapi = app.openapi

    def openapi() -> dict:   # FastAPI's document plus the one error schema every route refers to
        if app.openapi_schema is None:
            default_openapi().setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
            openapi_doc.describe_messages(app.openapi_schema)   # JSON Schemas generated from the messages
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/v2/health/live", tags=["health"], summary="Liveness: 200 while the process runs")
    async def live() -> dict:   # async: answered on the event loop even when every worker thread is busy
        return {"live": True}

    @app.get("/v2/health/ready", tags=["health"], summary="Readiness: 200 when serving, 503 while starting or draining",
             responses={503: {"description": "Not ready (starting or draining)"}})
    async def ready():
        ok = bool(readiness())
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (text exposition format)",
             response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(core.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(BNNSError)
    async def bnns_error(_request: Request, error: BNNSError):   # raised in a dependency (e.g. tenancy)
        challenge = {"WWW-Authenticate": "Bearer"} if error.status == "UNAUTHENTICATED" else None   # RFC 6750
        return error_response(error.status, error.message, headers=challenge)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        message = (f"no route {request.method} {request.url.path}; see /docs" if error.status_code == 404
                   else f"{request.method} {request.url.path}: {error.detail}")
        headers = error.headers
        if error.status_code == 405:   # the methods this path really has (not those of a route it only resembles)
            headers = {**(headers or {}), "Allow": ", ".join(openapi_doc.allowed_methods(request.app, request.scope))}
        return error_response(_status_name(error.status_code), message, error.status_code, headers=headers)

    return app


def _endpoint(route: RestRoute, core: Core, max_body_bytes: int):
    async def endpoint(request: Request, tenant: str = Depends(tenant_of)) -> Response:
        try:
            body = await _read_body(request, max_body_bytes) if route.has_body else b""
            return await run_in_threadpool(_serve, route, core, request, body, tenant)
        except BNNSError as error:
            return error_response(error.status, error.message)
        except Exception:   # a bug: keep serving, tell the caller, log the trace
            log.exception("internal error in %s", route.rpc)
            return error_response("INTERNAL", f"internal error in {route.rpc}; the server log has the details")
    return endpoint


def _serve(route: RestRoute, core: Core, request: Request, body: bytes, tenant: str) -> Response:
    """Decode, call the core, encode (in a worker thread: the kernels hold the CPU). Binary
    bodies keep their tensors as views over the body and get them back spliced in once."""
    binary_in = _media_type(request.headers.get("content-type")) in PROTOBUF_TYPES
    message, tensors = _decode(route, body, binary_in)
    if route.path_field:
        _bind_path_field(message, route.path_field, request.path_params[route.path_field])
    as_values = _query_flag(request, "values") or _sends_values(message)
    io = CallIO(arrays=tensors)
    response = core.call(route.rpc, message, tenant=tenant, request_id=request.headers.get("x-request-id"), io=io)
    if any(t in request.headers.get("accept", "") for t in PROTOBUF_TYPES):
        return Response(wire.join(response, io.results), media_type=PROTOBUF_TYPES[0])
    io.embed(response)
    document = render_json(response, message, _out_dtype_lookup(core, message, tenant) if as_values else None)
    return Response(json.dumps(document, separators=(",", ":"), allow_nan=False), media_type="application/json")


def _unknown_verb_handler(verbs: list):
    async def unknown_verb(request: Request) -> Response:
        return error_response("NOT_FOUND", f"no filter method :{request.path_params['verb']}; the methods are "
                              f"{', '.join(':' + v for v in verbs)} (see /docs)")
    return unknown_verb


# --------------------------------------------------------------------------------- decoding

async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(total, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ResourceExhaustedError:
    return ResourceExhaustedError(f"request body of {size} bytes or more is over the {limit}-byte limit "
                                  "(max_message_bytes); send a smaller batch")


def _decode(route: RestRoute, body: bytes, binary: bool):
    """(request message, {Buffer path: tensor bytes kept outside it})."""
    message = route.request_cls()
    name = route.request_cls.DESCRIPTOR.full_name
    if binary:
        try:
            return wire.split(body, route.request_cls)
        except DecodeError as error:
            raise InvalidArgumentError(f"the application/x-protobuf body is not a serialized {name}: {error}")
    if not body.strip():
        return message, {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidArgumentError(f"the request body is not valid JSON: {error}")
    if not isinstance(document, dict):
        raise InvalidArgumentError(f"the request body must be a JSON object (the proto3 JSON mapping of {name}), "
                                   f"not a {type(document).__name__}")
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=False)
    except (json_format.ParseError, RecursionError, ValueError, TypeError, OverflowError, SystemError) as error:
        # json_format lets a few conversions escape unwrapped (1e400 for an enum: OverflowError; a lone
        # surrogate in a string: SystemError from the C extension).
        raise InvalidArgumentError(f"the request body is not a valid {name}: {error}")
    return message, {}


def _bind_path_field(message, field: str, path_value: str) -> None:
    given = getattr(message, field)
    if given and given != path_value:
        raise InvalidArgumentError(f"{field} {given!r} in the body differs from {path_value!r} in the "
                                   "path; leave it out of the body")
    setattr(message, field, path_value)


def _media_type(header: Optional[str]) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _query_flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw in ("true", "false"):   # the OpenAPI document says boolean: exactly its two spellings
        return raw == "true"
    raise InvalidArgumentError(f"query parameter {name}={raw!r} must be true or false")


def _sends_values(message) -> bool:
    """Whether any Buffer in ``message`` uses `values` (walks message fields only: no tensor copies)."""
    if message.DESCRIPTOR.full_name == _BUFFER:
        return message.WhichOneof("contents") == "values"
    for field in message.DESCRIPTOR.fields:
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        if field.is_repeated:
            if any(_sends_values(item) for item in getattr(message, field.name)):
                return True
        elif message.HasField(field.name) and _sends_values(getattr(message, field.name)):
            return True
    return False


# --------------------------------------------------------------------------------- encoding

def _out_dtype_lookup(core: Core, message, tenant: str) -> Callable[[], np.dtype]:
    """The dtype of an `out` result: the filter's output descriptor type (Float32 or Float16)."""
    def out_dtype() -> np.dtype:
        filter_id, output_desc = getattr(message, "filter_id", ""), None
        try:
            if filter_id:
                output_desc = getattr(core.registry.get(filter_id, tenant).filter, "output_desc", None)
        except NotFoundError:   # destroyed since the call returned
            pass
        return layout.FLOAT_DTYPES.get(getattr(output_desc, "data_type", None), np.dtype("<f4"))
    return out_dtype


def render_json(response, request, out_dtype: Optional[Callable[[], np.dtype]] = None) -> dict:
    """``response`` as its proto3 JSON mapping; with ``out_dtype``, result Buffers as `values`."""
    document = json_format.MessageToDict(response, preserving_proto_field_name=True)
    if out_dtype is None:
        return document
    for field in response.DESCRIPTOR.fields:
        if field.message_type is None or field.message_type.full_name != _BUFFER:
            continue
        if field.is_repeated:
            pairs = zip(getattr(response, field.name), document.get(field.name, []))
        elif response.HasField(field.name):
            pairs = [(getattr(response, field.name), document[field.name])]
        else:
            continue
        for buffer, entry in pairs:
            if buffer.WhichOneof("contents") == "data":
                dtype = _result_dtype(field.name, request, out_dtype)
                entry.pop("data", None)
                entry["values"] = _json_numbers(np.frombuffer(buffer.data, dtype))
    return document


def _result_dtype(field: str, request, out_dtype: Callable[[], np.dtype]) -> np.dtype:
    if field == "out":
        return out_dtype()
    if field == "indices":
        data_type = getattr(request, "indices_data_type", 0) or layout.DTYPE_UINT64
        return layout.INDEX_DTYPES.get(data_type, layout.INDEX_DTYPES[layout.DTYPE_UINT64])
    return np.dtype("<f4")   # gradients and statistics travel as Float32


def _json_numbers(array: np.ndarray) -> list:
    values = array.tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        values = [v if math.isfinite(v) else "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"
                  for v in values]
    return values


def error_response(status: str, message: str, code: Optional[int] = None, headers=None) -> JSONResponse:
    code = code or http_status(status)
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status_code=code,
                        headers=headers)


def _status_name(code: int) -> str:
    """The status name for an HTTP code Starlette raised itself (no route 404, wrong method 405)."""
    names = {405: "UNIMPLEMENTED"}
    for status, http_code in HTTP_STATUSES.items():
        names.setdefault(http_code, status)
    return names.get(code, "UNKNOWN")


# ------------------------------------------------------------------------------- serving

def start_http(app: FastAPI, settings: Settings) -> tuple[uvicorn.Server, int, threading.Thread]:
    """Serve ``app`` with uvicorn on a background thread; returns (server, bound port, thread).

    The socket is bound here, so port 0 resolves to the real port before anything is printed,
    and it listens at once, so a client that connects before uvicorn's loop runs is queued."""
    sock = _listening_socket(settings.host, settings.http_port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level=settings.log_level.lower(), access_log=False,
                            lifespan="off", timeout_graceful_shutdown=max(1, math.ceil(settings.grace_seconds)),
                            **uvicorn_tls_options(settings))   # HTTPS (and client certificates) when configured
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="bnns-rest", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        sock.close()
        raise OSError(f"the REST server on {settings.host}:{port} did not start (see the log)")
    return server, port, thread


def stop_http(server: uvicorn.Server, thread: threading.Thread, grace_seconds: float) -> None:
    """Stop accepting, let in-flight requests finish (up to the grace period), join the thread."""
    server.should_exit = True
    thread.join(grace_seconds + 5)


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise OSError(f"could not bind REST to {host}:{port}: {error}") from error
    return sock


# ---------------------------------------------------------------------------------- OpenAPI

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "status": {"type": "string", "example": "INVALID_ARGUMENT"},
        "code": {"type": "integer", "example": 400},
        "message": {"type": "string"}}}},
}
_ERRORS = {
    "400": "INVALID_ARGUMENT: malformed JSON or protobuf, unknown field, wrong type, bad parameters or sizes",
    "401": "UNAUTHENTICATED: no valid `Authorization: Bearer <token>` (when the server is configured with tokens)",
    "404": "NOT_FOUND: no live filter with that id",
    "409": "FAILED_PRECONDITION: the filter is not in a state to serve this call",
    "413": "RESOURCE_EXHAUSTED: body over max_message_bytes, or another configured limit",
    "405": "A method this path does not serve (e.g. GET on a :verb path); the Allow header names those it does",
    "501": "UNIMPLEMENTED: this build does not serve the RPC or the feature",
}
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
    document = {}
    for field in message_cls.DESCRIPTOR.fields:
        if field.name == "filter_id" or (field.containing_oneof is not None
                                         and field.containing_oneof.fields[0] is not field):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            document[field.name] = {}
            continue
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

IMAGE_4X4 = [[1, 2, 0, 1], [0, 3, 1, 2], [2, 0, 4, 1], [1, 1, 0, 3]]
IMAGE_4X4_B = [[0, 1, 2, 3], [1, 0, 1, 0], [2, 1, 0, 1], [3, 0, 1, 2]]
CHW_2X1X2 = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]         # batch of 2 items, C=2, H=1, W=2


def _desc(layout_name: str, size: list, values=None) -> dict:
    """An NDArrayDescriptor in proto3 JSON (size[0] fastest, as BNNS), Float32, with data when given."""
    document = {"layout": f"DATA_LAYOUT_{layout_name}", "size": size, "data_type": "DATA_TYPE_FLOAT32"}
    if values is not None:
        document["data"] = {"values": values}
    return document


def _batch_norm(size: list, channels: int, moving: bool) -> dict:
    params = {"type": "FILTER_TYPE_BATCH_NORM", "i_desc": _desc("IMAGE_CHW", size), "o_desc": _desc("IMAGE_CHW", size),
              "beta_desc": _desc("VECTOR", [channels], [0.0] * channels),
              "gamma_desc": _desc("VECTOR", [channels], [1.0] * channels), "momentum": 0.9, "epsilon": 1e-5}
    if moving:
        params["moving_mean_desc"] = _desc("VECTOR", [channels], [0.0] * channels)
        params["moving_variance_desc"] = _desc("VECTOR", [channels], [1.0] * channels)
    return params


_CONVOLUTION = {
    "i_desc": _desc("IMAGE_CHW", [4, 4, 1]),                                    # W, H, C
    "w_desc": _desc("CONVOLUTION_WEIGHTS_OIHW", [3, 3, 1, 1], [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "o_desc": _desc("IMAGE_CHW", [2, 2, 1]),
    "bias": _desc("VECTOR", [1], [0.5]),
    "activation": {"function": "ACTIVATION_FUNCTION_IDENTITY"},
}
_ADD_2X1X2 = {"arithmetic_function": "ARITHMETIC_FUNCTION_ADD",
              "inputs": [{"desc": _desc("IMAGE_CHW", [2, 1, 2]), "type": "DESCRIPTOR_TYPE_SAMPLE"}] * 2,
              "o_desc": _desc("IMAGE_CHW", [2, 1, 2]), "out_type": "DESCRIPTOR_TYPE_SAMPLE"}

# (name, summary, CreateFilter body, [(RPC, body without filter_id), ...] in call order)
WORKED_EXAMPLES = (
    ("convolution", "1-channel 3x3 convolution (a Laplacian, bias 0.5) over a 4x4 image",
     {"convolution": _CONVOLUTION}, [
        ("FilterApplyBatch", {"batch_size": 1, "in": {"values": IMAGE_4X4}}),
        ("FilterApplyBackwardBatch", {"batch_size": 1, "in": {"values": IMAGE_4X4},
                                      "out_delta": {"values": [[1, 0], [0, 1]]}, "compute_in_delta": True,
                                      "compute_weights_delta": True, "compute_bias_delta": True}),
    ]),
    ("fully_connected", "3 -> 2 fully connected layer with ReLU", {"fully_connected": {
        "i_desc": _desc("VECTOR", [3]),
        "w_desc": _desc("ROW_MAJOR_MATRIX", [3, 2], [[1, 0, -1], [0.5, 0.5, 0.5]]),   # size (I, O): row o = W[o, :]
        "o_desc": _desc("VECTOR", [2]), "bias": _desc("VECTOR", [2], [0, 1]),
        "activation": {"function": "ACTIVATION_FUNCTION_RECTIFIED_LINEAR"}}}, [
        ("FilterApplyBatch", {"batch_size": 2, "in": {"values": [[1, 2, 3], [3, 2, 1]]}}),
        ("FilterApplyBackwardBatch", {"batch_size": 2, "in": {"values": [[1, 2, 3], [3, 2, 1]]},
                                      "out": {"values": [[0, 4], [2, 4]]}, "out_delta": {"values": [[1, 1], [1, 1]]},
                                      "compute_in_delta": True, "compute_weights_delta": True}),
    ]),
    ("pooling", "2x2 max pooling, stride 2, over a 4x4 image", {"pooling": {
        "i_desc": _desc("IMAGE_CHW", [4, 4, 1]), "o_desc": _desc("IMAGE_CHW", [2, 2, 1]),
        "pooling_function": "POOLING_FUNCTION_MAX", "k_width": 2, "k_height": 2, "x_stride": 2, "y_stride": 2}}, [
        ("PoolingFilterApplyBatch", {"batch_size": 1, "in": {"values": IMAGE_4X4}, "compute_indices": True,
                                     "indices_data_type": "DATA_TYPE_UINT64"}),
        ("PoolingFilterApplyBackwardBatch", {"batch_size": 1, "in": {"values": IMAGE_4X4},
                                             "out": {"values": [[3, 2], [2, 4]]},
                                             "out_delta": {"values": [[1, 1], [1, 1]]}, "compute_in_delta": True}),
    ]),
    ("loss", "softmax cross-entropy over 3 classes, mean over the batch", {"loss": {
        "function": "LOSS_FUNCTION_SOFTMAX_CROSS_ENTROPY", "i_desc": _desc("VECTOR", [3]),
        "o_desc": _desc("VECTOR", [1]), "reduction": "LOSS_REDUCTION_MEAN"}}, [
        ("LossFilterApplyBatch", {"batch_size": 2, "in": {"values": [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]},
                                  "labels": {"values": [[1, 0, 0], [0, 1, 0]]}, "compute_in_delta": True}),
        ("LossFilterApplyBackwardBatch", {"batch_size": 2, "in": {"values": [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]},
                                          "labels": {"values": [[1, 0, 0], [0, 1, 0]]},
                                          "out_delta": {"values": [1.0]}}),
    ]),
    ("normalization", "batch norm over 2 channels of 1x2 images, with moving statistics",
     {"normalization": _batch_norm([2, 1, 2], 2, moving=True)}, [
        ("NormalizationFilterApplyBatch", {"batch_size": 2, "in": {"values": CHW_2X1X2}, "training": True}),
        ("NormalizationFilterApplyBackwardBatch", {"batch_size": 2,
                                                   "out_delta": {"values": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]},
                                                   "compute_in_delta": True, "compute_beta_delta": True,
                                                   "compute_gamma_delta": True}),
    ]),
    ("arithmetic", "element-wise product of two 3-vectors", {"arithmetic": {
        "arithmetic_function": "ARITHMETIC_FUNCTION_MULTIPLY",
        "inputs": [{"desc": _desc("VECTOR", [3]), "type": "DESCRIPTOR_TYPE_SAMPLE"}] * 2,
        "o_desc": _desc("VECTOR", [3]), "out_type": "DESCRIPTOR_TYPE_SAMPLE"}}, [
        ("ArithmeticFilterApplyBatch", {"batch_size": 1, "in": [{"values": [1, 2, 3]}, {"values": [4, 5, 6]}]}),
        ("ArithmeticFilterApplyBackwardBatch", {"batch_size": 1, "in": [{"values": [1, 2, 3]}, {"values": [4, 5, 6]}],
                                                "compute_in_delta": [True, True], "out_delta": {"values": [1, 1, 1]}}),
    ]),
    ("fused_convolution_batch_norm", "the convolution example followed by batch norm",
     {"fused": {"layers": [{"convolution": _CONVOLUTION},
                           {"normalization": _batch_norm([2, 2, 1], 1, moving=False)}]}}, [
        ("FusedFilterApplyBatch", {"batch_size": 2, "in": {"values": [IMAGE_4X4, IMAGE_4X4_B]}, "training": True}),
        ("FusedFilterApplyBackwardBatch", {"batch_size": 2, "in": {"values": [IMAGE_4X4, IMAGE_4X4_B]},
                                           "out_delta": {"values": [[[1, 0], [0, 1]], [[0, 1], [1, 0]]]},
                                           "compute_in_delta": True,
                                           "compute_delta_parameters": [True, True, True, True]}),
    ]),
    ("fused_add_batch_norm", "the sum of two inputs followed by batch norm over 2 channels",
     {"fused": {"layers": [{"arithmetic": _ADD_2X1X2}, {"normalization": _batch_norm([2, 1, 2], 2, moving=False)}]}}, [
        ("FusedFilterApplyMultiInputBatch", {"batch_size": 2, "in": [{"values": CHW_2X1X2},
                                                                      {"values": [[[0, 1], [0, 1]], [[1, 0], [1, 0]]]}],
                                             "training": True}),
        ("FusedFilterApplyBackwardMultiInputBatch", {
            "batch_size": 2, "in": [{"values": CHW_2X1X2}, {"values": [[[0, 1], [0, 1]], [[1, 0], [1, 0]]]}],
            "compute_in_delta": [True, True], "out_delta": {"values": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]},
            "compute_delta_parameters": [True, True]}),
    ]),
)


def worked_examples() -> dict:
    """RPC -> example name -> {"summary", "request" (body, when the route has one), "response"}.

    The requests are WORKED_EXAMPLES; the responses are what a private, throw-away Core answers
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

    for name, summary, create, calls in WORKED_EXAMPLES:
        try:
            created = run("CreateFilter", name, summary, create)
            for rpc, body in calls:
                run(rpc, name, summary, body, created.filter_id if created else _EXAMPLE_ID)
            if name == "convolution" and created:
                run("DescribeFilter", name, summary, None, created.filter_id)
                run("ListFilters", name, "the convolution example's filter, alone", None)
                run("DestroyFilter", name, summary, None, created.filter_id)
        except Exception:   # a stale example must not stop the server; the e2e tests catch it
            log.warning("docs example %s failed", name, exc_info=True)
    try:
        _resident_examples(run)
    except Exception:
        log.warning("docs example resident failed", exc_info=True)
    return found


def _resident_examples(run) -> None:
    """The convolution example with its input and output held by the server (tensor routes)."""
    name, summary = "resident", "the convolution example on tensors held by the server"
    conv = run("CreateFilter", name, summary, {"convolution": _CONVOLUTION})
    x = run("CreateTensor", name, "a 4x4 image held by the server", {"shape": [1, 1, 4, 4], "name": "image",
                                                                     "data": {"values": IMAGE_4X4}})
    y = run("CreateTensor", name, "room for the 2x2 result", {"shape": [1, 1, 2, 2], "name": "result"})
    x_id, y_id = x.info.tensor_id, y.info.tensor_id
    run("WriteTensor", name, "overwrite the image's first row", {"offset": 0, "data": {"values": [1, 2, 0, 1]}}, x_id)
    run("FilterApplyBatch", name, "read the image from a tensor and write the result into another",
        {"batch_size": 1, "in": {"tensor": {"tensor_id": x_id}},
         "outputs": {"out": {"tensor": {"tensor_id": y_id}}}}, conv.filter_id)
    run("ReadTensor", name, "read the result back", {"offset": 0, "count": 0}, y_id)
    run("DescribeTensor", name, "describe the result tensor", None, y_id)
    run("ListTensors", name, "the two tensors of this example", None)
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
