"""Handles survive a crash or a restart (--state-dir), and a retried mutating call applies once:
restarts with SIGTERM and SIGKILL, replays of keyed calls, and a training run killed at random
points that ends with the very weights of an uninterrupted run."""

from __future__ import annotations

import random
import signal
import socket
import threading
import time

import grpc
import numpy as np
import pytest

from bnns.kernels.errors import FailedPreconditionError
from bnns.server.process import ServerProcess
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import load_example as _load_example


def load_example():
    return _load_example("train_digits", "train_digits_durable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Durable:
    """A bnns-server on a fixed port and state directory, restartable."""

    def __init__(self, state_dir, *flags, http: bool = False):
        self.port, self.state_dir, self.flags, self.http = free_port(), str(state_dir), flags, http
        self.server = self.start()

    def start(self) -> ServerProcess:
        return ServerProcess("--grpc-port", str(self.port), "--state-dir", self.state_dir, *self.flags, http=self.http)

    def restart(self, how: int = signal.SIGKILL) -> None:
        self.server.proc.send_signal(how)
        self.server.proc.wait(30)
        self.server = self.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()


def fc_request(weights: np.ndarray, flags: int = 1) -> pb.CreateFilterRequest:
    n_out, n_in = weights.shape
    vec = lambda n: types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[n])   # noqa: E731
    return pb.CreateFilterRequest(fully_connected=types_pb2.FullyConnectedParameters(
        i_desc=vec(n_in), o_desc=vec(n_out),
        w_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_ROW_MAJOR_MATRIX, size=[n_in, n_out],
                                           data=types_pb2.Buffer(data=weights.tobytes()))),
        filter_parameters=types_pb2.FilterParameters(flags=flags))


def adam_step(filter_id: str, gradient: np.ndarray, time_step: float) -> pb.OptimizerStepRequest:
    request = pb.OptimizerStepRequest(function=types_pb2.OPTIMIZER_FUNCTION_ADAM, return_parameters=True)
    request.fields.learning_rate, request.fields.time_step = 0.1, time_step
    request.parameters.add().filter_parameter.CopyFrom(pb.FilterParameterRef(filter_id=filter_id, name="weights"))
    request.gradients.add(data=gradient.tobytes())
    return request


def key(value: str):
    return (("x-idempotency-key", value),)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
def test_filters_tensors_and_accumulators_survive(tmp_path, how):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3)]
    durable = Durable(tmp_path)
    try:
        channel = grpc.insecure_channel(durable.target)
        stub = service_pb2_grpc.BNNSServiceStub(channel)
        filter_id = stub.CreateFilter(fc_request(w), timeout=10).filter_id
        tensor = stub.CreateTensor(pb.CreateTensorRequest(shape=[5], data=types_pb2.Buffer(
            data=np.arange(5, dtype=np.float32).tobytes())), timeout=10).info.tensor_id
        stub.OptimizerStep(adam_step(filter_id, grads[0], 1), timeout=10)
        stub.WriteTensor(pb.WriteTensorRequest(tensor_id=tensor, offset=4, data=types_pb2.Buffer(
            data=np.float32(-1).tobytes())), timeout=10)
        durable.restart(how)
        described = stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=filter_id), timeout=30,
                                        wait_for_ready=True).info
        assert described.kind == "fully_connected" and described.trainable["weights"] == 12
        read = stub.ReadTensor(pb.ReadTensorRequest(tensor_id=tensor), timeout=10).data.data
        assert np.frombuffer(read, np.float32).tolist() == [0, 1, 2, 3, -1]
        # The second Adam step continues from the first one's moments: the same as without a restart.
        after = stub.OptimizerStep(adam_step(filter_id, grads[1], 2), timeout=10).parameters[0].data
        from bnns.server.core import Core
        control = Core()
        control_id = control.call("CreateFilter", fc_request(w)).filter_id
        control.call("OptimizerStep", adam_step(control_id, grads[0], 1))
        expected = control.call("OptimizerStep", adam_step(control_id, grads[1], 2)).parameters[0].data
        assert after == expected
        channel.close()
    finally:
        durable.stop()


def test_a_replayed_optimizer_step_is_answered_not_applied_again(tmp_path):
    rng = np.random.default_rng(2)
    w, g = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    durable = Durable(tmp_path)
    try:
        with grpc.insecure_channel(durable.target) as channel:
            stub = service_pb2_grpc.BNNSServiceStub(channel)
            filter_id = stub.CreateFilter(fc_request(w), timeout=10).filter_id
            first = stub.OptimizerStep(adam_step(filter_id, g, 1), metadata=key("step-1"), timeout=10)
            again = stub.OptimizerStep(adam_step(filter_id, g, 1), metadata=key("step-1"), timeout=10)
            assert again.parameters[0].data == first.parameters[0].data
            durable.restart(signal.SIGKILL)
            replay = stub.OptimizerStep(adam_step(filter_id, g, 1), metadata=key("step-1"), timeout=30,
                                        wait_for_ready=True)
            assert replay.parameters[0].data == first.parameters[0].data
            # Without the key the step applies: the weights move on.
            moved = stub.OptimizerStep(adam_step(filter_id, g, 1), timeout=10)
            assert moved.parameters[0].data != first.parameters[0].data
    finally:
        durable.stop()


def test_a_backward_needing_a_cache_from_before_the_crash_is_a_failed_precondition(tmp_path):
    bnns = load_example().bnns
    durable = Durable(tmp_path)
    try:
        bnns.connect(durable.target)
        c = 2
        vec = lambda data: bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(c,), data=data)  # noqa
        img = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(2, 2, c))
        f = bnns.BNNSFilterCreateLayerNormalization(bnns.BNNSBatchNorm, bnns.BNNSLayerParametersNormalization(
            i_desc=img, o_desc=img, beta_desc=vec(np.zeros(c, np.float32)), gamma_desc=vec(np.ones(c, np.float32)),
            momentum=0.9, epsilon=1e-5), None)
        x = np.random.default_rng(3).standard_normal((4, c, 2, 2)).astype(np.float32)
        y = np.zeros_like(x)
        assert bnns.BNNSNormalizationFilterApplyBatch(f, 4, x, 8, y, 8, True) == 0
        durable.restart(signal.SIGKILL)
        dx = np.zeros_like(x)
        assert bnns.BNNSNormalizationFilterApplyBackwardBatch(
            f, 4, bnns.BNNSNDArrayDescriptor(layout=img.layout, size=img.size, data=dx), 8, None, 0,
            bnns.BNNSNDArrayDescriptor(layout=img.layout, size=img.size, data=np.ones_like(x)), 8, None, None) == -1
        assert isinstance(bnns.last_error(), FailedPreconditionError)
    finally:
        bnns.connect("local")
        durable.stop()


def train(example, net, batches, on_step=None) -> list:
    """Train step by step; a step the server cannot finish (it lost a backward's cache in a
    crash) is done again with the same idempotency keys, so nothing is applied twice. Returns
    the steps that were done again."""
    redone = []
    for k, (x, y) in enumerate(batches):
        while True:
            try:
                with example.bnns.idempotency_scope(f"step-{k}"):
                    net.train_step(x, y)
                break
            except RuntimeError:
                if not isinstance(example.bnns.last_error(), FailedPreconditionError):
                    raise
                redone.append(k)
        if on_step is not None:
            on_step(k)
    return redone


def test_training_killed_at_random_points_ends_with_the_uninterrupted_weights(tmp_path):
    example = load_example()
    x_train, y_train, _, _ = example.load_digits()
    batches = [(np.ascontiguousarray(x_train[i:i + 32]), y_train[i:i + 32]) for i in range(0, 32 * 40, 32)]
    example.bnns.connect("local")
    reference = example.DigitNet(seed=5)
    train(example, reference, batches)

    durable = Durable(tmp_path)
    kills = []
    try:
        example.bnns.connect(durable.target)
        net = example.DigitNet(seed=5)
        chooser = random.Random(11)
        doomed = set(chooser.sample(range(2, len(batches) - 2), 5))     # five steps are interrupted
        killers: list = []

        def kill_soon(step: int) -> None:
            """Kill the server a random moment into the next step (a step is a few ms of calls, so
            the kill lands in the middle of one), while the client carries on and retries."""
            for killer in killers:
                killer.join(60)
            if step in doomed:
                def kill():
                    durable.restart(signal.SIGKILL)
                    kills.append(step)
                killers.append(threading.Timer(chooser.uniform(0.0, 0.02), kill))
                killers[-1].start()

        redone = train(example, net, batches, on_step=kill_soon)
        for killer in killers:
            killer.join(60)
        assert len(kills) == 5, (kills, redone)
        for name in ("conv_w", "conv_b", "beta", "gamma", "moving_mean", "moving_var", "fc_w", "fc_b"):
            assert getattr(net, name).tobytes() == getattr(reference, name).tobytes(), name
    finally:
        example.bnns.connect("local")
        durable.stop()


def test_aliases_survive_a_restart_and_expired_leases_stay_gone(tmp_path):
    w = np.ones((2, 3), np.float32)
    durable = Durable(tmp_path, "--lease-seconds", "0")
    try:
        with grpc.insecure_channel(durable.target) as channel:
            stub = service_pb2_grpc.BNNSServiceStub(channel)
            named = fc_request(w, flags=0)
            named.alias = "encoder"
            kept = stub.CreateFilter(named, timeout=10).filter_id
            short = fc_request(w, flags=0)
            short.lease_seconds = 1
            gone = stub.CreateFilter(short, timeout=10).filter_id
            time.sleep(3)                                   # the short lease runs out and is reaped
            durable.restart(signal.SIGKILL)
            ids = {f.filter_id for f in stub.ListFilters(pb.ListFiltersRequest(), timeout=30,
                                                         wait_for_ready=True).filters}
            assert kept in ids and gone not in ids
            info = stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=kept), timeout=10).info
            assert info.parameters.alias == "encoder"
    finally:
        durable.stop()


def test_a_call_carried_by_rest_chunked_call_is_committed_and_applied_once(tmp_path):
    """/v1/chunkedCall serves the call it carries as that call: an OptimizerStep inside it is
    committed (it survives a crash) and its idempotency key makes a resent chunk apply once."""
    import base64
    import httpx
    rng = np.random.default_rng(3)
    w, g = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    durable = Durable(tmp_path, "--http-port", str(free_port()), http=True)
    try:
        http = httpx.Client(base_url=durable.server.http_url, timeout=30)
        created = http.post("/v1/chunkedCall", json={"rpc": "CreateFilter", "total_bytes": fc_request(w).ByteSize(),
                                                     "data": base64.b64encode(fc_request(w).SerializeToString()).decode()})
        assert created.status_code == 200, created.text
        filter_id = pb.CreateFilterResponse.FromString(base64.b64decode(created.json()["data"])).filter_id
        step = adam_step(filter_id, g, 1).SerializeToString()
        chunk = {"rpc": "OptimizerStep", "total_bytes": len(step), "data": base64.b64encode(step).decode()}
        answers = [http.post("/v1/chunkedCall", json=chunk, headers={"x-idempotency-key": "chunked-step"})
                   for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()
        http.close()
        durable.restart(signal.SIGKILL)
        with grpc.insecure_channel(durable.target) as channel:
            stub = service_pb2_grpc.BNNSServiceStub(channel)
            after = stub.OptimizerStep(adam_step(filter_id, g, 2), timeout=30, wait_for_ready=True).parameters[0].data
        # The same as one committed first step, then the second: not zero steps, not two.
        from bnns.server.core import Core
        control = Core()
        control_id = control.call("CreateFilter", fc_request(w)).filter_id
        control.call("OptimizerStep", adam_step(control_id, g, 1))
        assert after == control.call("OptimizerStep", adam_step(control_id, g, 2)).parameters[0].data
    finally:
        durable.stop()
