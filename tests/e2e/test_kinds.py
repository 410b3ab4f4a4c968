"""The test matrix of the table of layer kinds (server/kinds.py): every sample of every row runs
in process and against the live server, and is checked four ways: its forward against the row's
independent float64 reference, each gradient it names (its input's, and any parameter's: the
filter re-created for each perturbation) against central finite differences of its forward, the in-process responses against the remote ones, and each of the row's error inputs
refused with its status. A kind added as a row is tested here with no edit to this file."""

from __future__ import annotations

import copy

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from bnns.kernels.errors import BNNSError, error_for_status
from bnns.server import kinds
from bnns.server.core import Core
from bnns.server.dataplane import buffer_at
from bnns.server.wire import is_repeated
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

SAMPLES = kinds.samples()
SAMPLE_IDS = [sample.name for _, sample in SAMPLES]
ERRORS = [(kind, error) for kind in kinds.CREATABLE.values() for error in kind.errors]
ERROR_IDS = [f"{kind.case}-{error.id}" for kind, error in ERRORS]
_REQUESTS = {m.name: getattr(pb, m.input_type.name) for m in pb.DESCRIPTOR.services_by_name["BNNSService"].methods}


class InProcess:
    """Calls through a private Core, as the SDK's local backend does."""

    def __init__(self):
        self.core = Core()

    def __call__(self, rpc: str, message):
        return self.core.call(rpc, message)


class Remote:
    """Calls through the live server's gRPC door; errors come back as BNNSError-like statuses."""

    def __init__(self, target: str):
        self.channel = grpc.insecure_channel(target)
        self.stub = service_pb2_grpc.BNNSServiceStub(self.channel)

    def __call__(self, rpc: str, message):
        try:
            return getattr(self.stub, rpc)(message, timeout=30)
        except grpc.RpcError as error:
            raise error_for_status(error.code().name, error.details() or "") from None


@pytest.fixture(scope="module")
def remote(grpc_server):
    door = Remote(grpc_server.grpc_target)
    yield door
    door.channel.close()


def request(rpc: str, body: dict, filter_id: str = ""):
    message = json_format.ParseDict(body, _REQUESTS[rpc]())
    if filter_id:
        message.filter_id = filter_id
    return message


def run_sample(call, kind, sample) -> tuple:
    """Create the sample's filter and run its calls in order: (filter_id, responses)."""
    return run_calls(call, kinds.sample_create_request(kind, sample), sample.calls)


def run_calls(call, create: dict, calls) -> tuple:
    created = call("CreateFilter", request("CreateFilter", create))
    responses: list = []
    for c in calls:
        responses.append(call(c.rpc, request(c.rpc, c.body_after(responses), created.filter_id)))
    return created.filter_id, responses


def result(response, path: str) -> np.ndarray:
    buf = buffer_at(response, path)
    assert buf is not None and buf.WhichOneof("contents") == "data", f"no {path} in {response}"
    return np.frombuffer(buf.data, dtype=np.float32).astype(np.float64)


def buffers(message, prefix: str = "") -> dict:
    """path -> bytes of every Buffer in a response."""
    found = {}
    for field, value in message.ListFields():
        items = list(enumerate(value)) if is_repeated(field) else [(None, value)]
        for k, item in items:
            path = f"{prefix}{field.name}" + (f"[{k}]" if k is not None else "")
            if isinstance(item, types_pb2.Buffer):
                found[path] = item.data
            elif hasattr(item, "ListFields"):
                found.update(buffers(item, path + "."))
    return found


# ---------------------------------------------------------------------------------- the table

def test_every_parameters_case_of_the_contract_has_a_row():
    creatable = {f.name for f in pb.CreateFilterRequest.DESCRIPTOR.oneofs_by_name["layer"].fields}
    members = {f.name for f in types_pb2.FusedLayerParameters.DESCRIPTOR.oneofs_by_name["layer"].fields}
    assert creatable == set(kinds.CREATABLE)
    assert members == set(kinds.FUSED_MEMBERS)
    for kind in kinds.KINDS.values():
        assert kind.message_class.DESCRIPTOR.name.endswith("Parameters"), kind.case


def test_every_creatable_kind_has_a_checked_sample_and_error_inputs():
    for kind in kinds.CREATABLE.values():
        assert kind.samples and kind.errors, kind.case
        for sample in kind.samples:
            assert sample.reference is not None and (sample.gradient is not None or sample.no_gradient), sample.name
            assert kind.apply and sample.calls[0].rpc in kind.apply, sample.name


def test_every_kind_entry_point_is_an_rpc_of_the_service():
    for kind in kinds.KINDS.values():
        for rpc in kind.apply + kind.backward:
            assert rpc in _REQUESTS and kind.case in kinds.served_by(rpc), (kind.case, rpc)


# --------------------------------------------------------------------------------- the matrix

@pytest.mark.parametrize("kind, sample", SAMPLES, ids=SAMPLE_IDS)
def test_forward_matches_the_independent_reference(kind, sample):
    _, responses = run_sample(InProcess(), kind, sample)
    expected = np.asarray(sample.reference(sample.create, sample.calls[0].body), dtype=np.float64).reshape(-1)
    np.testing.assert_allclose(result(responses[0], sample.result), expected, rtol=kind.tolerance.rtol,
                               atol=kind.tolerance.atol, err_msg=kind.tolerance.why)


# Each gradient a sample names (its input's, and any parameter's) against central differences of its
# forward (a row that cannot have one, dropout whose every forward draws a new mask, says why in
# `no_gradient`; its kernel test checks the backward).
GRADIENTS = [(kind, sample, g) for kind, sample in SAMPLES for g in sample.gradients]
GRADIENT_IDS = [f"{sample.name}-{g.parameter or g.input}{'' if g.index is None else g.index}"
                for _, sample, g in GRADIENTS]


@pytest.mark.parametrize("kind, sample, gradient", GRADIENTS, ids=GRADIENT_IDS)
def test_gradient_matches_finite_differences(kind, sample, gradient):
    call = InProcess()
    tolerance = kind.tolerance
    create = kinds.sample_create_request(kind, sample)
    filter_id, responses = run_calls(call, create, sample.calls)
    index = "" if gradient.index is None else f"[{gradient.index}]"
    analytic = result(responses[gradient.backward], f"{gradient.delta}{index}")
    forward = sample.calls[gradient.forward]
    cotangent = kinds.values(sample.calls[gradient.backward].body[gradient.out_delta]).reshape(-1)
    body = copy.deepcopy(forward.body)
    if gradient.parameter:          # a descriptor of the parameters: the filter is re-created each time
        held = create[kind.case]
        for key in gradient.parameter.split("."):
            held = held[key]
        held = held["data"]
    else:
        held = body[gradient.input] if gradient.index is None else body[gradient.input][gradient.index]
    x = kinds.values(held)
    shape = x.shape

    def objective(z: np.ndarray) -> float:
        held["values"] = z.reshape(shape).tolist()
        target = filter_id
        if gradient.parameter:
            target = call("CreateFilter", request("CreateFilter", create)).filter_id
        out = result(call(forward.rpc, request(forward.rpc, body, target)), gradient.output)
        return float(np.dot(cotangent, out))

    flat, numeric = x.reshape(-1), np.zeros(x.size)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += tolerance.fd_eps
        down[i] -= tolerance.fd_eps
        numeric[i] = (objective(up) - objective(down)) / (2 * tolerance.fd_eps)
    np.testing.assert_allclose(analytic, numeric, rtol=tolerance.fd_rtol, atol=tolerance.fd_atol,
                               err_msg=tolerance.why)


@pytest.mark.parametrize("kind, sample", SAMPLES, ids=SAMPLE_IDS)
def test_in_process_equals_remote(kind, sample, remote):
    local_id, local = run_sample(InProcess(), kind, sample)
    remote_id, far = run_sample(remote, kind, sample)
    try:
        for call, near, distant in zip(sample.calls, local, far):
            near_buffers, far_buffers = buffers(near), buffers(distant)
            assert near_buffers.keys() == far_buffers.keys(), call.rpc
            for path, data in near_buffers.items():
                assert len(data) == len(far_buffers[path]), (call.rpc, path)
                np.testing.assert_allclose(np.frombuffer(data, np.float32), np.frombuffer(far_buffers[path], np.float32),
                                           rtol=1e-6, atol=1e-7, equal_nan=True, err_msg=f"{call.rpc} {path}")
    finally:
        remote("DestroyFilter", pb.DestroyFilterRequest(filter_id=remote_id))


@pytest.mark.parametrize("where", ["local", "remote"])
@pytest.mark.parametrize("kind, error", ERRORS, ids=ERROR_IDS)
def test_error_input_is_refused(kind, error, where, remote):
    call = InProcess() if where == "local" else remote
    body = kinds.sample_create_request(kind, kind.samples[0], error.mutate)
    with pytest.raises(BNNSError) as raised:
        call("CreateFilter", request("CreateFilter", body))
    assert raised.value.status == error.status
    assert error.message in str(raised.value), str(raised.value)
