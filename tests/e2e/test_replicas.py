"""Several bnns-server replicas over one Redis state store, behind nginx (issue 13): a training
run through nginx survives a SIGKILLed replica with the very weights of a single server; clients
on one handle through different replicas lose no update and see no torn state; a store outage is
UNAVAILABLE and then nothing is wrong; and the RedisStateStore's own rules (atomic commits,
version conflicts, replayed and expiring keys, tenants and their limits).

Real redis-server and nginx processes on loopback ports (Debian's redis-server and nginx-light,
which .ci/run installs): a missing one fails these tests, it does not skip them."""

from __future__ import annotations

import random
import threading
import time

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bnns.kernels.errors import NotFoundError, ResourceExhaustedError, UnavailableError
from bnns.server.core import Core
from bnns.server.process import NginxProcess, RedisProcess, Replica
from bnns.server.registry import Registry
from bnns.server.state import StoredHandle
from bnns.server.state_redis import RedisStateStore, VersionConflict
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import with_in

from .test_durability import fc_request, load_example, train


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def store_url(redis_server):
    RedisStateStore(redis_server.url).client.flushdb()
    return redis_server.url


def sgd_step(filter_id: str, gradient: np.ndarray) -> pb.OptimizerStepRequest:
    """w -= 1 * gradient (SGD, no momentum): exact in float32 for small integers."""
    request = pb.OptimizerStepRequest(function=types_pb2.OPTIMIZER_FUNCTION_SGD_MOMENTUM)
    request.fields.learning_rate = 1.0
    request.parameters.add().filter_parameter.CopyFrom(pb.FilterParameterRef(filter_id=filter_id, name="weights"))
    request.gradients.add(data=gradient.astype(np.float32).tobytes())
    return request


def apply(filter_id: str, x: np.ndarray) -> pb.FilterApplyBatchRequest:
    return pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=1, **with_in(types_pb2.Buffer(
        data=x.astype(np.float32).tobytes())))


def stub_for(target: str):
    channel = grpc.insecure_channel(target)
    return channel, service_pb2_grpc.BNNSServiceStub(channel)


def meta(handle: str, key: str = ""):
    return (("x-bnns-handle", handle),) + ((("x-idempotency-key", key),) if key else ())


# ----------------------------------------------------------------------- the store on its own
def record(handle_id: str, owner: str = "", blob: bytes = b"x", nbytes: int = 10, alias: str = "") -> StoredHandle:
    return StoredHandle(handle_id, owner, "fully_connected", blob, nbytes, alias, 0.0)


def test_a_commit_is_whole_or_nothing_and_versions_refuse_a_stale_writer(store_url):
    store = RedisStateStore(store_url)
    assert store.commit([record("f-a"), record("f-b")], versions={}) == {"f-a": 1, "f-b": 1}
    assert store.commit([record("f-a", blob=b"a2")], versions={"f-a": 1}) == {"f-a": 2}
    # A writer that computed on version 1 of f-b but version 1 of f-a (now 2) is refused whole:
    # f-b is not written either.
    with pytest.raises(VersionConflict) as refused:
        store.commit([record("f-b", blob=b"b2"), record("f-a", blob=b"a-stale")], versions={"f-a": 1, "f-b": 1})
    assert set(refused.value.handle_ids) == {"f-a", "f-b"}
    first, second = store.fetch(["f-a", "f-b"], "")
    assert first is not None and second is not None
    (a, va), (b, vb) = first, second
    assert (a.blob, va, b.blob, vb) == (b"a2", 2, b"x", 1)
    # A create of an id that exists is a conflict too: the replica makes it again with a new id.
    with pytest.raises(VersionConflict):
        store.commit([record("f-a")], versions={})
    assert store.usage("") == (2, 20)
    store.commit([], ["f-a"])
    assert store.fetch(["f-a"], "") == [None] and store.usage("") == (1, 10)
    assert store.handle_ids("") == ["f-b"]


def test_applied_keys_are_answered_from_the_record_and_expire(store_url):
    store = RedisStateStore(store_url, keep_keys_seconds=0.5)
    store.commit([record("f-a")], applied=("", "step-1", b"response"))
    store.commit([], applied=("", "step-2", None))
    assert store.replay("", "step-1") == (True, b"response")
    assert store.replay("", "step-2") == (True, None)
    assert store.replay("other", "step-1") is None              # keys are per tenant
    # A key applied meanwhile (by another replica): the commit is refused, nothing written.
    with pytest.raises(VersionConflict):
        store.commit([record("f-a", blob=b"twice")], applied=("", "step-1", b"again"), versions={"f-a": 1})
    kept = store.fetch(["f-a"], "")[0]
    assert kept is not None and kept[0].blob == b"x"
    time.sleep(0.8)
    assert store.replay("", "step-1") is None and store.replay("", "step-2") is None


def test_tenants_see_only_their_handles_and_limits_count_every_replica(store_url):
    store = RedisStateStore(store_url, max_handles=2, max_handle_bytes=25)
    store.commit([record("f-a", owner="team-a")], tenant="team-a")
    assert store.fetch(["f-a"], "team-b") == [None] and store.check(["f-a"], "team-b") == [0]
    assert store.check(["f-a"], "team-a") == [1]                 # this replica committed it: it holds it
    other = RedisStateStore(store_url)
    assert other.check(["f-a"], "team-a", claim=False) == [1]    # a look (Describe, List) takes nothing over
    assert store.check(["f-a"], "team-a") == [1]
    assert other.check(["f-a"], "team-a") == [-1]                # computing elsewhere: not hot here any more
    assert store.check(["f-a"], "team-a") == [-1]                # and back
    with pytest.raises(ResourceExhaustedError, match="max_handle_bytes"):
        store.commit([record("f-b", owner="team-a", nbytes=20)], tenant="team-a")
    store.commit([record("f-b", owner="team-a")], tenant="team-a")
    with pytest.raises(ResourceExhaustedError, match="max_handles"):
        store.commit([record("f-c", owner="team-a", nbytes=1)], tenant="team-a")
    assert store.fetch(["f-c"], "team-a") == [None] and store.usage("team-a") == (2, 20)
    store.commit([record("f-c", owner="team-b")], tenant="team-b")   # another tenant's own count
    with pytest.raises(VersionConflict):                              # team-b cannot destroy team-a's
        store.commit([], ["f-a"], tenant="team-b")


def test_a_lease_expires_in_the_store_only_when_no_replica_used_the_handle(store_url):
    store = RedisStateStore(store_url)
    leased = StoredHandle("f-a", "", "fully_connected", b"x", 10, "encoder", 1.0)
    store.commit([leased, record("f-b")])
    assert store.expire_idle(["f-a", "f-b"]) == 0               # just used; f-b has no lease
    time.sleep(1.2)
    assert RedisStateStore(store_url).check(["f-a"], "", claim=False) == [1]   # another replica uses it
    assert store.expire_idle(["f-a"]) == 0
    time.sleep(2.2)
    assert store.expire_idle(["f-a", "f-b"]) == 1
    assert store.fetch(["f-a"], "") == [None] and store.resolve_alias("encoder", "") is None
    assert store.usage("") == (1, 10) and store.handle_ids("") == ["f-b"]


def test_ids_are_unique_across_replicas(store_url, monkeypatch):
    """Two replicas that draw the same random id: the store refuses the second create and that
    replica makes its handle again under a new id."""
    import bnns.server.registry as registry_module
    one, two = [Core(Registry(), state=RedisStateStore(store_url)) for _ in range(2)]
    draws, real = iter(["0" * 16, "0" * 16, "1" * 16]), registry_module.secrets.token_hex
    monkeypatch.setattr(registry_module.secrets, "token_hex", lambda n: next(draws) if n == 8 else real(n))
    first = one.call("CreateFilter", fc_request(np.zeros((2, 3), np.float32))).filter_id
    second = two.call("CreateFilter", fc_request(np.ones((2, 3), np.float32))).filter_id
    assert (first, second) == ("f-" + "0" * 16, "f-" + "1" * 16)
    assert one.call("DescribeFilter", pb.DescribeFilterRequest(filter_id=second)).info.filter_id == second
    assert two.replicas is not None and two.replicas.conflicts == 1


def test_another_tenant_naming_a_handle_leaves_its_copy_alone(tmp_path):
    """A call of tenant B naming tenant A's handle is NOT_FOUND and does not make the replica drop
    A's hot copy (nor its training cache), whether the store answers or not."""
    own = RedisProcess(tmp_path / "redis")
    core = Core(Registry(), state=RedisStateStore(own.url, timeout=0.5))
    handle = core.call("CreateFilter", fc_request(np.zeros((2, 3), np.float32)), tenant="a").filter_id
    copy = core.registry.peek(handle)
    with pytest.raises(NotFoundError):
        core.call("FilterApplyBatch", apply(handle, np.ones(3)), tenant="b")
    assert core.registry.peek(handle) is copy
    own.stop()                                                          # the store goes away
    with pytest.raises(UnavailableError):
        core.call("FilterApplyBatch", apply(handle, np.ones(3)), tenant="a")
    assert core.registry.peek(handle) is copy                           # a failed look drops nothing


def test_a_tensor_written_as_an_output_on_one_replica_reads_the_same_on_another(store_url):
    one, two = [Core(Registry(), state=RedisStateStore(store_url)) for _ in range(2)]
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    filter_id = one.call("CreateFilter", fc_request(w)).filter_id
    tensor_id = one.call("CreateTensor", pb.CreateTensorRequest(shape=[2])).info.tensor_id
    assert one.call("ReadTensor", pb.ReadTensorRequest(tensor_id=tensor_id)).data.data == bytes(8)
    request = apply(filter_id, np.ones(3))
    request.outputs["out"].tensor.tensor_id = tensor_id
    two.call("FilterApplyBatch", request)                    # routed by the filter: replica two
    read = one.call("ReadTensor", pb.ReadTensorRequest(tensor_id=tensor_id))   # by the tensor: one
    assert np.frombuffer(read.data.data, np.float32).tolist() == [3.0, 12.0]


def test_replicas_share_handles_destroy_and_limits(store_url):
    """Two cores (as two replicas would be) over the store: a handle made on one is served by
    the other, a step on either continues from the other's, a destroy on one is NOT_FOUND on the
    other, and the tenant's handle limit counts both."""
    one = Core(Registry(max_handles=2), state=RedisStateStore(store_url, max_handles=2))
    two = Core(Registry(max_handles=2), state=RedisStateStore(store_url, max_handles=2))
    w = np.zeros((2, 3), np.float32)
    filter_id = one.call("CreateFilter", fc_request(w)).filter_id
    for k, core in enumerate([two, one, two, two, one]):
        core.call("OptimizerStep", sgd_step(filter_id, -np.ones((2, 3))), idempotency_key=f"s{k}")
    x = np.ones(3, np.float32)
    out = one.call("FilterApplyBatch", apply(filter_id, x))
    assert np.frombuffer(out.out.data, np.float32).tolist() == [15.0, 15.0]   # 5 steps of +1, 3 inputs
    # The copy of a replica another one has taken the handle from goes at the reaper's next sweep.
    assert one.replicas is not None and two.replicas is not None
    assert two.registry.peek(filter_id) is not None and one.replicas.evict_moved() == 0
    assert two.replicas.evict_moved() == 1 and two.registry.peek(filter_id) is None
    assert one.registry.peek(filter_id) is not None
    two.call("CreateFilter", fc_request(w))
    with pytest.raises(ResourceExhaustedError, match="max_handles"):
        one.call("CreateFilter", fc_request(w))
    assert len(one.call("ListFilters", pb.ListFiltersRequest()).filters) == 2
    two.call("DestroyFilter", pb.DestroyFilterRequest(filter_id=filter_id), idempotency_key="d")
    with pytest.raises(NotFoundError):
        one.call("OptimizerStep", sgd_step(filter_id, -np.ones((2, 3))), idempotency_key="after")
    with pytest.raises(NotFoundError):
        one.call("DescribeFilter", pb.DescribeFilterRequest(filter_id=filter_id))
    assert len(one.call("ListFilters", pb.ListFiltersRequest()).filters) == 1
    one.call("CreateFilter", fc_request(w))                          # room again


# ------------------------------------------------------------------------ processes, nginx
def test_training_through_nginx_survives_a_killed_replica(store_url, tmp_path, monkeypatch):
    example = load_example()
    x_train, y_train, _, _ = example.load_digits()
    batches = [(np.ascontiguousarray(x_train[i:i + 32]), y_train[i:i + 32]) for i in range(0, 32 * 36, 32)]
    example.bnns.connect("local")
    reference = example.DigitNet(seed=7)
    train(example, reference, batches)

    replicas = [Replica(store_url) for _ in range(3)]
    nginx = NginxProcess(tmp_path / "nginx", [r.grpc_target for r in replicas])
    store = RedisStateStore(store_url)
    events: list = []
    try:
        example.bnns.connect(nginx.grpc_target)
        net = example.DigitNet(seed=7)
        handles = [f.filter_id for f in (net.conv, net.norm, net.pool, net.fc, net.loss)]

        def holder_of(filter_id: str) -> Replica:
            """The replica that last used the batch-norm filter (it holds its training cache)."""
            holder = store.client.hget(f"bnns:h:{filter_id}", "holder")
            assert isinstance(holder, bytes), holder
            token = holder.decode()
            return next(r for r in replicas if any(token in line for line in r.server.output))

        step_now, late = [0], []
        forward = example.bnns.BNNSNormalizationFilterApplyBatch

        def forward_then_kill(*args, **kwargs):
            """In step 11, SIGKILL the norm's replica right after its training forward: the
            backward, passed on to another replica, finds no cache there, and the step is redone."""
            result = forward(*args, **kwargs)
            if step_now[0] == 11 and not events:
                victim = holder_of(net.norm.filter_id)
                victim.kill()
                events.append(("killed", replicas.index(victim)))
            return result

        monkeypatch.setattr(example.bnns, "BNNSNormalizationFilterApplyBatch", forward_then_kill)

        def on_step(step: int) -> None:
            step_now[0] = step + 1
            if step == 16:      # meanwhile another replica serves the norm, from the store
                events.append(("moved", replicas.index(holder_of(net.norm.filter_id))))
            if step == 22:      # bring the killed one back: the handles move back to it
                victim = replicas[events[0][1]]
                victim.restart()
                events.append(("restarted", replicas.index(victim)))
            if step == 26:      # and SIGKILL the fc's replica at a random moment of the next step
                victim = holder_of(net.fc.filter_id)
                late.append(threading.Timer(random.Random(step).uniform(0.0, 0.02), victim.kill))
                late[-1].start()
                events.append(("killed", replicas.index(victim)))
            if step == 31:
                late[0].join(60)
                replicas[events[-1][1]].restart()

        redone = train(example, net, batches, on_step=on_step)
        assert example.bnns.current().names_handles is True       # the replicas said so through nginx
        assert [e[0] for e in events] == ["killed", "moved", "restarted", "killed"], events
        assert events[1][1] != events[0][1] and redone[:1] == [11], (events, redone)
        for name in ("conv_w", "conv_b", "beta", "gamma", "moving_mean", "moving_var", "fc_w", "fc_b"):
            assert getattr(net, name).tobytes() == getattr(reference, name).tobytes(), (name, redone)
        # No handle lost: all five are in the store, listed and described through nginx.
        channel, stub = stub_for(nginx.grpc_target)
        listed = {f.filter_id for f in stub.ListFilters(pb.ListFiltersRequest(), timeout=30).filters}
        assert set(handles) <= listed
        for handle in handles:
            assert stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=handle), metadata=meta(handle),
                                       timeout=30).info.filter_id == handle
        channel.close()
    finally:
        example.bnns.connect("local")
        nginx.stop()
        for replica in replicas:
            replica.stop()


def test_rest_through_nginx_keeps_each_handle_on_one_replica(store_url, tmp_path):
    """REST is hashed on the handle in the path: every call about a handle reaches the replica that
    computed on it last (its holder in the store stays the same), and answers are right."""
    replicas = [Replica(store_url, http=True) for _ in range(3)]
    nginx = NginxProcess(tmp_path / "nginx", [r.grpc_target for r in replicas], [r.http_target for r in replicas])
    store = RedisStateStore(store_url)
    try:
        with httpx.Client(base_url=nginx.http_url, timeout=30) as http:
            rng = np.random.default_rng(4)
            for _ in range(4):
                w = rng.standard_normal((2, 3)).astype(np.float32)
                made = http.post("/v1/filters", json={"fully_connected": {
                    "i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [3]},
                    "o_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [2]},
                    "w_desc": {"layout": "DATA_LAYOUT_ROW_MAJOR_MATRIX", "size": [3, 2],
                               "data": {"values": w.ravel().tolist()}}}})
                assert made.status_code == 200, made.text
                handle = made.json()["filter_id"]
                holders = set()
                for _ in range(3):
                    x = rng.standard_normal(3).astype(np.float32)
                    out = http.post(f"/v1/filters/{handle}:filterApplyBatch",
                                    json={"batch_size": 1, "in": {"values": x.tolist()}})
                    assert out.status_code == 200, out.text
                    np.testing.assert_allclose(out.json()["out"]["values"], w @ x, rtol=1e-5)
                    holders.add(store.client.hget(f"bnns:h:{handle}", "holder"))
                assert len(holders) == 1
                assert http.delete(f"/v1/filters/{handle}").status_code == 200
                for replica in replicas:        # gone everywhere
                    assert httpx.get(f"{replica.server.http_url}/v1/filters/{handle}").status_code == 404
    finally:
        nginx.stop()
        for replica in replicas:
            replica.stop()


def test_concurrent_clients_on_one_handle_through_two_replicas(store_url):
    """Bypassing nginx on purpose: each client steps the same filter through its own replica.
    Every step adds exactly 1 to every weight, so the end is exactly the number of steps (no
    update lost), and every read in between sees all weights equal (no torn state)."""
    replicas = [Replica(store_url) for _ in range(2)]
    steps = 25
    try:
        channels = [stub_for(r.grpc_target) for r in replicas]
        filter_id = channels[0][1].CreateFilter(fc_request(np.zeros((2, 4), np.float32)), timeout=30).filter_id
        errors, reads, retries = [], [], []
        ones = np.ones(4, np.float32)

        def retried(call, *args, **kwargs):
            # As the SDK does: a call that lost its race to the other replica too many times is
            # UNAVAILABLE, and is sent again (with the same idempotency key: applied once).
            for _ in range(20):
                try:
                    return call(*args, **kwargs)
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    retries.append(error)
            return call(*args, **kwargs)

        def stepper(k: int) -> None:
            try:
                stub = channels[k % 2][1]
                for i in range(steps):
                    retried(stub.OptimizerStep, sgd_step(filter_id, -np.ones((2, 4))),
                            metadata=meta(filter_id, f"{k}-{i}"), timeout=60)
            except Exception as error:       # noqa: BLE001  (reported below)
                errors.append(error)

        def reader(k: int, stop: threading.Event) -> None:
            stub = channels[k % 2][1]
            while not stop.is_set():
                out = retried(stub.FilterApplyBatch, apply(filter_id, ones), metadata=meta(filter_id), timeout=60)
                reads.append((k, np.frombuffer(out.out.data, np.float32).copy()))

        stop = threading.Event()
        steppers = [threading.Thread(target=stepper, args=(k,)) for k in range(4)]
        readers = [threading.Thread(target=reader, args=(k, stop)) for k in range(2)]
        for thread in steppers + readers:
            thread.start()
        for thread in steppers:
            thread.join(300)
        stop.set()
        for thread in readers:
            thread.join(60)
        assert not errors, errors
        final = channels[1][1].FilterApplyBatch(apply(filter_id, ones), timeout=30)
        assert np.frombuffer(final.out.data, np.float32).tolist() == [4 * steps * 4.0] * 2
        assert reads
        seen = {0: 0.0, 1: 0.0}
        for k, out in reads:       # a whole number of steps, the same in every weight, never going back
            assert out[0] == out[1] and out[0] % 4 == 0, out
            assert out[0] >= seen[k]
            seen[k] = out[0]
        for channel, _ in channels:
            channel.close()
    finally:
        for replica in replicas:
            replica.stop()


def test_a_store_outage_is_unavailable_then_nothing_is_wrong(redis_server, store_url):
    replica = Replica(store_url, http=True)
    try:
        channel, stub = stub_for(replica.grpc_target)
        health = health_pb2_grpc.HealthStub(channel)
        filter_id = stub.CreateFilter(fc_request(np.zeros((2, 4), np.float32)), timeout=30).filter_id
        stub.OptimizerStep(sgd_step(filter_id, -np.ones((2, 4))), metadata=meta(filter_id, "s1"), timeout=30)
        redis_server.stop()
        for request, rpc, key in ((sgd_step(filter_id, -np.ones((2, 4))), stub.OptimizerStep, "s2"),
                                  (pb.DescribeFilterRequest(filter_id=filter_id), stub.DescribeFilter, "")):
            with pytest.raises(grpc.RpcError) as failed:
                rpc(request, metadata=meta(filter_id, key), timeout=30)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value.details()
            assert "state store" in (failed.value.details() or "")
        deadline = time.monotonic() + 10
        while httpx.get(replica.server.http_url + "/v2/health/ready").status_code != 503:
            assert time.monotonic() < deadline, "readiness never followed the store down"
            time.sleep(0.1)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        redis_server.start()
        deadline = time.monotonic() + 10
        while httpx.get(replica.server.http_url + "/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "readiness never followed the store back"
            time.sleep(0.1)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
        assert status == health_pb2.HealthCheckResponse.SERVING
        # The refused step retried with its key applies once; the weights hold exactly two steps.
        for _ in range(2):
            stub.OptimizerStep(sgd_step(filter_id, -np.ones((2, 4))), metadata=meta(filter_id, "s2"), timeout=30)
        out = stub.FilterApplyBatch(apply(filter_id, np.ones(4)), timeout=30)
        assert np.frombuffer(out.out.data, np.float32).tolist() == [8.0, 8.0]
        channel.close()
    finally:
        if redis_server.proc.poll() is not None:
            redis_server.start()
        replica.stop()


def test_the_store_is_unavailable_in_process_too(tmp_path):
    """A store that was never reachable: every call naming a handle is UNAVAILABLE, nothing else."""
    core = Core(Registry(), state=RedisStateStore("redis://127.0.0.1:1/0", timeout=0.5))
    with pytest.raises(UnavailableError, match="state store"):
        core.call("CreateFilter", fc_request(np.zeros((2, 3), np.float32)))
    assert len(core.registry) == 0          # the create that was not committed left nothing behind


def test_a_replica_syncs_every_handle_a_request_names():
    from bnns.server.replicas import named_handles
    request = apply("f-1", np.ones(2))
    request.outputs["out"].tensor.tensor_id = "t-out"
    getattr(request, "in").ClearField("data")
    getattr(request, "in").tensor.tensor_id = "t-in"
    assert named_handles("FilterApplyBatch", request) == ["f-1", "t-in", "t-out"]
    step = sgd_step("f-2", np.ones(2))
    step.parameters.add().values.tensor.tensor_id = "t-3"
    assert named_handles("OptimizerStep", step) == ["f-2", "t-3"]
    assert named_handles("KeepAlive", pb.KeepAliveRequest(handle_ids=["f-5", "t-6"])) == ["f-5", "t-6"]


def test_the_sdk_names_the_handle_of_every_call_about_one():
    from bnns.client.backend import handle_named
    assert handle_named(apply("f-1", np.ones(2))) == "f-1"
    assert handle_named(pb.ReadTensorRequest(tensor_id="t-2")) == "t-2"
    assert handle_named(sgd_step("f-3", np.ones(2))) == "f-3"
    by_tensor = pb.OptimizerStepRequest()
    by_tensor.parameters.add().values.tensor.tensor_id = "t-4"
    assert handle_named(by_tensor) == "t-4"
    assert handle_named(pb.KeepAliveRequest(handle_ids=["f-5", "f-6"])) == "f-5"
    assert handle_named(fc_request(np.ones((2, 2), np.float32))) == ""      # a create names none yet
    assert handle_named(pb.ListFiltersRequest()) == ""


class _Recording:
    """A stand-in gRPC server that answers every BNNSService call with an empty reply and records
    each call's metadata; as a replica, its replies carry x-bnns-replica."""

    def __init__(self, replica: bool):
        from concurrent import futures
        self.seen: list = []

        def answer(request: bytes, context) -> bytes:
            self.seen.append(dict(context.invocation_metadata()))
            if replica:
                context.set_trailing_metadata((("x-bnns-replica", "1"),))
            return b""

        handler = grpc.method_handlers_generic_handler("bnns.v1.BNNSService", {
            name: grpc.unary_unary_rpc_method_handler(answer) for name in ("DescribeFilter", "ReadTensor")})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((handler,))
        self.target = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()


@pytest.mark.parametrize("replica", [False, True], ids=["single server", "replica"])
def test_the_sdk_names_handles_only_to_replicas(replica):
    """The header is for a balancer in front of replicas: the first call names its handle (the
    server is not known yet), and later ones only if a reply said its server is a replica."""
    from bnns.client.backend import RemoteBackend
    fake = _Recording(replica)
    backend = RemoteBackend(fake.target)
    try:
        for handle in ("f-1", "f-2", "f-3"):
            backend.call("DescribeFilter", pb.DescribeFilterRequest(filter_id=handle))
        backend.call("ReadTensor", pb.ReadTensorRequest(tensor_id="t-4"))
    finally:
        backend.close()
        fake.server.stop(None)
    named = [seen.get("x-bnns-handle") for seen in fake.seen]
    assert backend.names_handles is replica
    assert named == (["f-1", "f-2", "f-3", "t-4"] if replica else ["f-1", None, None, None])


def test_a_replica_says_so_and_a_single_server_does_not(store_url):
    import bnns.client as sdk
    from bnns.server.process import ServerProcess
    for server, expected in ((Replica(store_url), True), (ServerProcess(), False)):
        try:
            backend = sdk.connect(server.grpc_target)
            tensor = sdk.BNNSTensor.from_array(np.ones(3, np.float32))
            assert tensor.numpy().tolist() == [1, 1, 1]
            assert backend.names_handles is expected
        finally:
            sdk.connect("local")
            server.stop()


def test_the_state_store_flag(capsys):
    from bnns.server import settings
    assert settings.parse(["--state-store", "redis://10.0.0.5:6379/2"], environ={}).state_store == \
        "redis://10.0.0.5:6379/2"
    assert settings.parse([], environ={"BNNS_STATE_STORE": "redis://r:6379/0"}).state_store == "redis://r:6379/0"
    for argv, message in ((["--state-store", "r:6379"], "give a redis://host:port/db URL"),
                          (["--state-store", "redis://r", "--state-dir", "/tmp/x"], "give one")):
        with pytest.raises(SystemExit):
            settings.parse(argv, environ={})
        assert message in capsys.readouterr().err
