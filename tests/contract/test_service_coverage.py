"""Every RPC of the contract is served: a Core method for each BNNS entry point, and the gRPC and
REST doors expose them all (ChunkedCall is the gRPC transport for the others)."""

from __future__ import annotations

from bnns.server.core import Core
from bnns.server.wire import rpc_method_name
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


def test_every_route_has_a_worked_example_with_a_real_response():
    # Including OptimizerStep and ChunkedCall: the docs never show a made-up result.
    from bnns.server.rest import worked_examples
    examples = worked_examples()
    routed = {route.rpc for route in rest_routes(Core())}
    assert routed == set(examples), routed ^ set(examples)
    for rpc, named in examples.items():
        assert named and all("response" in example for example in named.values()), rpc


def test_chunked_call_through_a_unary_door_serves_the_named_rpc():
    from bnns.errors import InvalidArgumentError
    core = Core()
    inner = service_pb2.ListFiltersRequest().SerializeToString()
    answer = core.call("ChunkedCall", service_pb2.MessageChunk(rpc="ListFilters", total_bytes=len(inner), data=inner))
    assert service_pb2.ListFiltersResponse.FromString(answer.data) == service_pb2.ListFiltersResponse()
    for bad in (service_pb2.MessageChunk(rpc="ChunkedCall"), service_pb2.MessageChunk(rpc="ListFilters", total_bytes=9)):
        try:
            core.call("ChunkedCall", bad)
            raise AssertionError("a malformed chunk must be refused")
        except InvalidArgumentError as error:
            assert error.reason == "CHUNKED_CALL_MALFORMED"
