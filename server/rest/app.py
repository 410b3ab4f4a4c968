"""The FastAPI app: every RPC route over the same Core as gRPC, the docs, health and metrics,
and the one REST error body (bnns.errors)."""

from __future__ import annotations

import json
import logging
from typing import Callable, Optional

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bnns.errors import (BNNSError, InternalError, NotFoundError, UnavailableError, UnimplementedError,
                         error_for_status)

from .. import calllog, docs_ui, kserve, openapi_doc, wire
from ..auth import Authenticator
from ..core import Core
from ..dataplane import CallIO
from ..errors import HTTP_STATUSES
from ..settings import Settings
from ..state import KEY_HEADER
from .buffers import (_bind_path_field, _decode, _media_type, _out_dtype_lookup, _query_flag, _read_body,
                      _sends_values, render_json)
from .openapi import _ERROR_SCHEMA, _description, _openapi_operation, _tag, worked_examples
from .routes import PROTOBUF_TYPES, RestRoute, rest_routes, tenant_of

log = logging.getLogger("bnns.server")


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
        app.add_api_route(route.path, _endpoint(route, core, settings.max_message_bytes, settings.max_json_bytes, readiness),
                          methods=[route.http_method],
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
            schema = default_openapi()      # (made once, then kept as app.openapi_schema)
            schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
            openapi_doc.describe_messages(schema)   # JSON Schemas generated from the messages
            openapi_doc.link_handles(schema)        # create -> use links for the handles
        return default_openapi()

    app.openapi = openapi   # type: ignore[method-assign]  # FastAPI's documented way to extend its document

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
        return error_response(error, headers=challenge)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        failure: BNNSError
        if error.status_code == 404:
            failure = NotFoundError(f"no route {request.method} {request.url.path}; see /docs", "ROUTE_NOT_FOUND")
        elif error.status_code == 405:
            failure = UnimplementedError(f"{request.method} {request.url.path}: {error.detail}", "METHOD_NOT_ALLOWED")
        else:
            failure = error_for_status(_status_name(error.status_code), f"{request.method} {request.url.path}: "
                                       f"{error.detail}")
        headers = error.headers
        if error.status_code == 405:   # the methods this path really has (not those of a route it only resembles)
            headers = {**(headers or {}), "Allow": ", ".join(openapi_doc.allowed_methods(request.app, request.scope))}
        return error_response(failure, error.status_code, headers=headers)

    return app


def _endpoint(route: RestRoute, core: Core, max_body_bytes: int, max_json_bytes: int, readiness=None):
    async def endpoint(request: Request, tenant: str = Depends(tenant_of)) -> Response:
        try:
            if readiness is not None and not readiness():   # draining (SIGTERM): no new work
                raise UnavailableError(f"{route.rpc}: the server is shutting down; retry (the SDK does) on its "
                                       "successor")
            # A JSON body costs some 50 times its size once parsed (a Python float per number):
            # its own, smaller cap. Large tensors go as application/x-protobuf, or base64 data.
            binary = _media_type(request.headers.get("content-type")) in PROTOBUF_TYPES
            limit = max_body_bytes if binary or not max_json_bytes else min(max_body_bytes, max_json_bytes)
            body = await _read_body(request, limit) if route.has_body else b""
            return await run_in_threadpool(_serve, route, core, request, body, tenant)
        except BNNSError as error:
            return error_response(error)
        except Exception:   # a bug: keep serving, tell the caller, log the trace
            log.exception("internal error in %s", route.rpc)
            return error_response(InternalError(f"internal error in {route.rpc}; the server log has the details"))
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
    response = core.call(route.rpc, message, tenant=tenant, request_id=request.headers.get("x-request-id"), io=io,
                         idempotency_key=request.headers.get(KEY_HEADER, ""))
    if any(t in request.headers.get("accept", "") for t in PROTOBUF_TYPES):
        return Response(wire.join(response, io.results), media_type=PROTOBUF_TYPES[0])
    io.embed(response)
    document = render_json(response, message, _out_dtype_lookup(core, message, tenant) if as_values else None)
    return Response(json.dumps(document, separators=(",", ":"), allow_nan=False), media_type="application/json")


def _unknown_verb_handler(verbs: list):
    async def unknown_verb(request: Request) -> Response:
        return error_response(NotFoundError(f"no filter method :{request.path_params['verb']}; the methods are "
                                            f"{', '.join(':' + v for v in verbs)} (see /docs)", "ROUTE_NOT_FOUND"))
    return unknown_verb


def error_response(error: BNNSError, code: Optional[int] = None, headers=None) -> JSONResponse:
    """The REST error body of ``error`` (bnns.errors: status, HTTP code, message, and the AIP-193
    ErrorInfo with its reason in ``details``)."""
    body = error.body()
    if code is not None:
        body["error"]["code"] = code
    return JSONResponse(body, status_code=body["error"]["code"], headers=headers)


def _status_name(code: int) -> str:
    """The status name for an HTTP code Starlette raised itself (no route 404, wrong method 405)."""
    names = {405: "UNIMPLEMENTED"}
    for status, http_code in HTTP_STATUSES.items():
        names.setdefault(http_code, status)
    return names.get(code, "UNKNOWN")
