"""Every RPC of the contract is served: a Core method for each BNNS entry point, and the gRPC and
REST doors expose them all (ChunkedCall is the gRPC transport for the others)."""

from __future__ import annotations

from bnns.server.core import Core, rpc_method_name
from bnns.server.rest import rest_routes
from bnns.v1 import service_pb2

SERVICE = service_pb2.DESCRIPTOR.services_by_name["BNNSService"]
ENTRY_POINTS = [m.name for m in SERVICE.methods if m.name != "ChunkedCall"]


def test_every_entry_point_has_a_core_method():
    core = Core()
    missing = [rpc for rpc in ENTRY_POINTS if not callable(getattr(core, rpc_method_name(rpc), None))]
    assert not missing, f"RPCs without a Core method: {missing}"


def test_rest_has_a_route_for_every_entry_point():
    routed = {route.rpc for route in rest_routes(Core())}
    assert set(ENTRY_POINTS) <= routed, set(ENTRY_POINTS) - routed


def test_each_rpc_has_its_own_request_and_response_message():
    requests = [m.input_type.name for m in SERVICE.methods if m.name != "ChunkedCall"]
    responses = [m.output_type.name for m in SERVICE.methods if m.name != "ChunkedCall"]
    assert len(set(requests)) == len(requests) and len(set(responses)) == len(responses)
    for method in SERVICE.methods:
        if method.name != "ChunkedCall":
            assert method.input_type.name == method.name + "Request"
            assert method.output_type.name == method.name + "Response"
