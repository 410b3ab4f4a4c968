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
Always JSON, ``{"error": {"status": "INVALID_ARGUMENT", "code": 400, "message": "...", "details":
[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "...", "domain": "bnns.v1"}]}}``,
from the one map of bnns.errors: malformed JSON, unknown fields and wrong types are 400
(MALFORMED_REQUEST), a body over max_message_bytes is 413, an unknown handle 404; anything
unexpected is a 500 with a generic message while the trace goes to the log. A failed call
changes no state (the Core's rule).

Also served: ``/docs`` (OpenAPI UI, one worked example per route, request and response, computed
by running the examples through a private Core at start-up), ``/openapi.json``, and the KServe /
Triton health routes ``/v2/health/live`` and ``/v2/health/ready``.

The package: routes.py (the routes, derived from the contract, and tenancy), buffers.py (JSON
and binary bodies), openapi.py (the OpenAPI additions and the worked examples), serving.py
(uvicorn on a thread), app.py (the app and its error body). ``create_app``, ``start_http`` and
``stop_http`` are imported from here.
"""

from .app import create_app, error_response  # noqa: F401
from .buffers import render_json  # noqa: F401
from .openapi import worked_examples  # noqa: F401
from .routes import RestRoute, rest_routes, tenant_of  # noqa: F401
from .serving import start_http, stop_http  # noqa: F401

__all__ = ["RestRoute", "create_app", "error_response", "render_json", "rest_routes", "start_http", "stop_http",
           "tenant_of", "worked_examples"]
