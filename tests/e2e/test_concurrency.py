"""Concurrency against one live bnns-server: destroy racing apply on the same handle, many clients
creating, applying and destroying at once, optimizer steps that lock two filters in opposite
orders while a reader applies, and training forward/backward pairs on separate batch norms.

Every call has a timeout and every thread a join deadline, so a deadlock fails the test instead
of hanging it. Each call must either complete with the right numbers (compared bit for bit with
an answer computed before the race, or exactly with a closed form) or fail cleanly with the one
status the race allows (NOT_FOUND for a destroyed handle); nothing else.
"""

from __future__ import annotations

import functools
import base64
import threading
import time
from typing import Callable

import grpc
import httpx
import numpy as np
import pytest

from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc
from bnns.v1 import types_pb2 as t

from ..conftest import with_in


CALL_TIMEOUT = 30.0     # seconds per call: generous, the machine is shared
JOIN_TIMEOUT = 120.0    # seconds for a whole group of threads; a deadlock shows up as a thread still alive

F32 = t.DATA_TYPE_FLOAT32


# ------------------------------------------------------------------------------- helpers

def buffer(array) -> t.Buffer:
    return t.Buffer(data=np.ascontiguousarray(array, np.float32).tobytes())


def desc(layout: int, size: list, data=None) -> t.NDArrayDescriptor:
    d = t.NDArrayDescriptor(layout=layout, size=size, data_type=F32)
    if data is not None:
        d.data.CopyFrom(buffer(data))
    return d


def convolution_request(rng, c=16, hw=32, k=3) -> pb.CreateFilterRequest:
    """A convolution heavy enough (about 3 ms for a batch of 4 here) that calls overlap a destroy."""
    return pb.CreateFilterRequest(convolution=t.ConvolutionParameters(
        i_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, [hw, hw, c]), o_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, [hw, hw, c]),
        w_desc=desc(t.DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW, [k, k, c, c], rng.standard_normal(c * c * k * k)),
        bias=desc(t.DATA_LAYOUT_VECTOR, [c], rng.standard_normal(c)), x_padding=k // 2, y_padding=k // 2))


def fully_connected_request(w: np.ndarray, b: np.ndarray) -> pb.CreateFilterRequest:
    """y = W x + b with W of shape (O, I) (RowMajorMatrix size (I, O): W(o, i) at i + o*I)."""
    o, i = w.shape
    return pb.CreateFilterRequest(fully_connected=t.FullyConnectedParameters(
        i_desc=desc(t.DATA_LAYOUT_VECTOR, [i]), o_desc=desc(t.DATA_LAYOUT_VECTOR, [o]),
        w_desc=desc(t.DATA_LAYOUT_ROW_MAJOR_MATRIX, [i, o], w), bias=desc(t.DATA_LAYOUT_VECTOR, [o], b),
        activation=t.Activation(function=t.ACTIVATION_FUNCTION_IDENTITY)))


def batch_norm_request(rng, channels=3, hw=4) -> pb.CreateFilterRequest:
    size = [hw, hw, channels]
    return pb.CreateFilterRequest(normalization=t.NormalizationParameters(
        type=t.FILTER_TYPE_BATCH_NORM, i_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, size),
        o_desc=desc(t.DATA_LAYOUT_IMAGE_CHW, size),
        beta_desc=desc(t.DATA_LAYOUT_VECTOR, [channels], rng.standard_normal(channels)),
        gamma_desc=desc(t.DATA_LAYOUT_VECTOR, [channels], 1 + rng.random(channels)),
        moving_mean_desc=desc(t.DATA_LAYOUT_VECTOR, [channels], np.zeros(channels)),
        moving_variance_desc=desc(t.DATA_LAYOUT_VECTOR, [channels], np.ones(channels)),
        momentum=0.9, epsilon=1e-5))


def apply_request(filter_id: str, x: np.ndarray) -> pb.FilterApplyBatchRequest:
    return pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=x.shape[0], **with_in(buffer(x)))


def run_threads(workers: list[Callable[[], None]], timeout: float = JOIN_TIMEOUT) -> None:
    """Start one thread per worker at the same moment, join them all within ``timeout``, and
    re-raise the first error a worker raised. A thread still alive at the deadline is a hang."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def wrap(work):
        def run():
            try:
                start.wait(timeout)
                work()
            except BaseException as error:   # noqa: BLE001 - reported to the main thread
                errors.append(error)
        return run

    threads = [threading.Thread(target=wrap(w), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = sum(thread.is_alive() for thread in threads)
    assert not alive, f"{alive} of {len(threads)} threads still running after {timeout} s: deadlock or hang"
    if errors:
        raise errors[0]


def grpc_outcome(call, request):
    """(status, response): OK and the response, or the error's code and None."""
    try:
        return grpc.StatusCode.OK, call(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        return error.code(), None


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(channel):
    return service_pb2_grpc.BNNSServiceStub(channel)


def live_ids(stub) -> set:
    return {f.filter_id for f in stub.ListFilters(pb.ListFiltersRequest(), timeout=CALL_TIMEOUT).filters}


# --------------------------------------------------------------------------------- tests

def test_destroy_racing_apply_gives_right_numbers_or_not_found(server, stub):
    """Five clients (two gRPC applies, one gRPC backward, two REST applies) call the same
    convolution in a loop while a sixth destroys it: every call returns exactly the numbers
    computed before the race, or NOT_FOUND / 404; once a client has seen NOT_FOUND it never sees
    the handle again. Repeated over rounds with the destroy at different moments, so that
    destroys land before, during and between calls."""
    rng = np.random.default_rng(61)
    create = convolution_request(rng)
    x = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    dy = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    body = {"batch_size": 4, "in": {"data": base64.b64encode(x.tobytes()).decode()}}
    outcomes = {"ok": 0, "not_found": 0}
    counted = threading.Lock()
    with httpx.Client(base_url=server.http_url, timeout=CALL_TIMEOUT) as http:
        for round_ in range(16):
            filter_id = stub.CreateFilter(create, timeout=CALL_TIMEOUT).filter_id
            expected = stub.FilterApplyBatch(apply_request(filter_id, x), timeout=CALL_TIMEOUT).out.data
            backward = pb.FilterApplyBackwardBatchRequest(
                filter_id=filter_id, batch_size=4, out_delta=buffer(dy), compute_in_delta=True,
                compute_weights_delta=True, compute_bias_delta=True, **with_in(buffer(x)))
            expected_backward = stub.FilterApplyBackwardBatch(backward, timeout=CALL_TIMEOUT)

            def until_gone(call_once):
                """Call until NOT_FOUND, then three more times: each answer right or NOT_FOUND."""
                after = None
                for _ in range(300):
                    found, right = call_once()
                    assert not found or after is None, "the handle answered again after NOT_FOUND"
                    assert not found or right, "a call during destroy returned other numbers"
                    with counted:
                        outcomes["ok" if found else "not_found"] += 1
                    after = after if found else (after or 0) + 1
                    if after == 4:
                        return
                pytest.fail("the destroy never took effect")

            def grpc_once(call, request, right):
                code, response = grpc_outcome(call, request)
                assert code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND), code
                return code == grpc.StatusCode.OK, code == grpc.StatusCode.OK and right(response)

            def rest_once():
                response = http.post(f"/v1/filters/{filter_id}:filterApplyBatch", json=body)
                if response.status_code != 200:
                    assert (response.status_code, response.json()["error"]["status"]) == (404, "NOT_FOUND"), \
                        response.text
                    return False, False
                return True, base64.b64decode(response.json()["out"]["data"]) == expected

            def grpc_apply(request=apply_request(filter_id, x)):
                until_gone(lambda: grpc_once(stub.FilterApplyBatch, request, lambda r: r.out.data == expected))

            def grpc_backward():
                until_gone(lambda: grpc_once(stub.FilterApplyBackwardBatch, backward, lambda r: r == expected_backward))

            def rest_apply():
                until_gone(rest_once)

            def destroyer(delay=0.001 * round_):   # 0 to 15 ms: before, during and between calls
                time.sleep(delay)
                stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=filter_id), timeout=CALL_TIMEOUT)

            run_threads([grpc_apply, grpc_apply, grpc_backward, rest_apply, rest_apply, destroyer])
            assert filter_id not in live_ids(stub)
    # Both outcomes happened, so the race was really run (not every call before or after it).
    assert outcomes["ok"] > 0 and outcomes["not_found"] > 0, outcomes


def test_racing_destroys_of_one_handle_succeed_exactly_once(stub):
    """Six clients destroy the same handle at once: one OK, five NOT_FOUND, ten times over."""
    rng = np.random.default_rng(62)
    for _ in range(10):
        filter_id = stub.CreateFilter(fully_connected_request(rng.standard_normal((3, 5)), np.zeros(3)),
                                      timeout=CALL_TIMEOUT).filter_id
        codes = []

        def destroy():
            codes.append(grpc_outcome(stub.DestroyFilter, pb.DestroyFilterRequest(filter_id=filter_id))[0])

        run_threads([destroy] * 6)
        assert sorted(c.name for c in codes) == ["NOT_FOUND"] * 5 + ["OK"], codes


def test_many_clients_creating_applying_and_destroying_at_once(server, stub):
    """8 clients, each on its own channel, 50 times: create a fully connected layer with weights of
    its own, apply it (exact numbers: small integers), describe it, list, destroy it. No error,
    no hang, and no handle of theirs is left."""
    clients, iterations = 8, 50
    made: list[set] = [set() for _ in range(clients)]

    def client(k: int):
        rng = np.random.default_rng(630 + k)
        with grpc.insecure_channel(server.grpc_target) as channel:
            own = service_pb2_grpc.BNNSServiceStub(channel)
            for _ in range(iterations):
                # Small integers: every product and sum is exact in float32, so the answer is too.
                w = rng.integers(-4, 5, (4, 6)).astype(np.float32)
                b = rng.integers(-4, 5, 4).astype(np.float32)
                x = rng.integers(-4, 5, (3, 6)).astype(np.float32)
                filter_id = own.CreateFilter(fully_connected_request(w, b), timeout=CALL_TIMEOUT).filter_id
                made[k].add(filter_id)
                y = own.FilterApplyBatch(apply_request(filter_id, x), timeout=CALL_TIMEOUT).out.data
                np.testing.assert_array_equal(np.frombuffer(y, np.float32).reshape(3, 4), x @ w.T + b)
                info = own.DescribeFilter(pb.DescribeFilterRequest(filter_id=filter_id), timeout=CALL_TIMEOUT).info
                assert info.kind == "fully_connected" and info.filter_id == filter_id
                assert filter_id in live_ids(own)
                own.DestroyFilter(pb.DestroyFilterRequest(filter_id=filter_id), timeout=CALL_TIMEOUT)

    run_threads([functools.partial(client, k) for k in range(clients)])
    ours = set().union(*made)
    assert len(ours) == clients * iterations          # every create gave a fresh id
    assert not ours & live_ids(stub)


def test_optimizer_steps_locking_two_filters_in_opposite_orders_do_not_deadlock(stub):
    """Two clients step the weights of filters A and B together, one naming [A, B], the other
    [B, A], 100 times each, while a third applies A. Plain SGD with exact binary fractions, so
    the order of the 200 steps does not matter: both end at w0 - 200 * lr * g exactly. Each
    apply sees A's weights after a whole number of steps (no half-updated weights)."""
    ones = np.ones((4, 6), np.float32)
    ids = [stub.CreateFilter(fully_connected_request(ones, np.zeros(4)), timeout=CALL_TIMEOUT).filter_id
           for _ in range(2)]
    lr, g, steps = 0.5, 0.125, 100                       # each step subtracts 1/16: exact in float32
    gradient = buffer(np.full(24, g))

    def step_request(order):
        return pb.OptimizerStepRequest(
            function=t.OPTIMIZER_FUNCTION_SGD_MOMENTUM, fields=pb.OptimizerFields(learning_rate=lr),
            parameters=[pb.OptimizerParameter(filter_parameter=pb.FilterParameterRef(filter_id=ids[k], name="weights"))
                        for k in order],
            gradients=[gradient, gradient])

    stop = threading.Event()
    seen_steps = set()

    def stepper(order):
        request = step_request(order)
        for _ in range(steps):
            stub.OptimizerStep(request, timeout=CALL_TIMEOUT)

    def reader():
        x = np.ones((1, 6), np.float32)
        while not stop.is_set():
            y = np.frombuffer(stub.FilterApplyBatch(apply_request(ids[0], x), timeout=CALL_TIMEOUT).out.data,
                              np.float32)
            # y = 6 * (1 - k/16) for every output after k steps: all four outputs agree on k.
            k = (1 - y / 6) * 16
            assert np.all(k == k[0]) and k[0] == round(k[0]), f"apply saw half-updated weights: {y}"
            seen_steps.add(int(k[0]))

    def steppers_then_stop():
        try:
            run_threads([lambda: stepper([0, 1]), lambda: stepper([1, 0])])
        finally:
            stop.set()

    run_threads([steppers_then_stop, reader])
    zero = buffer(np.zeros(24))
    final = stub.OptimizerStep(pb.OptimizerStepRequest(
        function=t.OPTIMIZER_FUNCTION_SGD_MOMENTUM, fields=pb.OptimizerFields(learning_rate=lr),
        parameters=step_request([0, 1]).parameters, gradients=[zero, zero], return_parameters=True),
        timeout=CALL_TIMEOUT)
    for k in range(2):
        np.testing.assert_array_equal(np.frombuffer(final.parameters[k].data, np.float32),
                                      np.full(24, 1 - 2 * steps * lr * g, np.float32))
        stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=ids[k]), timeout=CALL_TIMEOUT)
    assert len(seen_steps) > 1, "the reader never overlapped the steps"


def test_training_pairs_on_separate_batch_norms_keep_their_own_caches(stub):
    """Four clients, each with its own batch norm and its own data, run training forward then
    backward 25 times at once. Each backward reads its own handle's cache: every forward and
    backward answer is bit-identical to the one its client got alone, before the race (the
    answers depend only on that client's x, dy and fixed beta/gamma; a cache from another handle
    would give other numbers)."""
    clients, iterations, n = 4, 25, 3
    rng = np.random.default_rng(64)
    create = batch_norm_request(rng)
    work = []
    for _ in range(clients):
        filter_id = stub.CreateFilter(create, timeout=CALL_TIMEOUT).filter_id
        x, dy = rng.standard_normal((n, 3, 4, 4)), rng.standard_normal((n, 3, 4, 4))
        forward = pb.NormalizationFilterApplyBatchRequest(filter_id=filter_id, batch_size=n, training=True,
                                                          **with_in(buffer(x)))
        backward = pb.NormalizationFilterApplyBackwardBatchRequest(
            filter_id=filter_id, batch_size=n, out_delta=buffer(dy), compute_in_delta=True, compute_beta_delta=True,
            compute_gamma_delta=True)
        alone = (stub.NormalizationFilterApplyBatch(forward, timeout=CALL_TIMEOUT).out.data,
                 stub.NormalizationFilterApplyBackwardBatch(backward, timeout=CALL_TIMEOUT).SerializeToString())
        work.append((filter_id, forward, backward, alone))

    def client(filter_id, forward, backward, alone):
        for _ in range(iterations):
            out = stub.NormalizationFilterApplyBatch(forward, timeout=CALL_TIMEOUT).out.data
            grads = stub.NormalizationFilterApplyBackwardBatch(backward, timeout=CALL_TIMEOUT).SerializeToString()
            assert out == alone[0], f"{filter_id}: training forward changed under concurrency"
            assert grads == alone[1], f"{filter_id}: backward read another cache"

    run_threads([functools.partial(client, *w) for w in work])
    for filter_id, *_ in work:
        stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=filter_id), timeout=CALL_TIMEOUT)
