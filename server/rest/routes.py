"""REST routes: one per RPC of bnns.v1.BNNSService, derived from the service descriptor, and
the tenancy dependency every RPC route takes."""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, Optional

from fastapi import Request

from bnns.v1 import service_pb2, types_pb2

from ..core import Core

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
