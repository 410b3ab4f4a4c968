"""Handle leases (issue 15, item 2): handles left unused are destroyed and counted, any use and
KeepAlive renew them, and the SDK's session keeps what it created alive and destroys it at the
end, so a client killed without cleanup leaves nothing behind for long."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from bnns.kernels.errors import InvalidArgumentError, NotFoundError
from bnns.server.process import ServerProcess
from bnns.server.registry import Registry

LEASE = 1.0


def wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def expired_count(http, kind):
    text = http.get("/metrics").text
    match = re.search(rf'^bnns_expired_handles_total\{{kind="{kind}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def listed(http, what):
    key = {"filters": ("filters", "filter_id"), "tensors": ("tensors", "tensor_id")}[what]
    return {item[key[1]] for item in http.get(f"/v1/{what}").json().get(key[0], [])}


# ---------------------------------------------------------------------------- the registry

def test_registry_expires_unused_handles_and_spares_used_and_busy_ones():
    registry = Registry(default_lease_seconds=10)
    idle, used, busy = (registry.add("convolution", object(), None) for _ in range(3))
    forever = registry.add("convolution", object(), None, lease_seconds=0)
    forever.lease_seconds = 0.0                                  # as a server with --lease-seconds 0 makes it
    start = idle.last_used
    registry.get(used.filter_id)
    used.last_used = start + 8                                   # used 8 s after the others
    with busy.lock:                                              # a call is running on it
        expired = registry.expire(now=start + 11)
    assert [e.filter_id for e in expired] == [idle.filter_id] and idle.destroyed
    assert {e.filter_id for e in registry.all_entries()} == {used.filter_id, busy.filter_id, forever.filter_id}
    with pytest.raises(NotFoundError):
        registry.get(idle.filter_id)


def test_renew_reports_missing_handles_and_the_shortest_lease():
    registry = Registry(default_lease_seconds=30)
    a = registry.add("convolution", object(), None, owner="t")
    b = registry.add("convolution", object(), None, owner="t", lease_seconds=5)
    other = registry.add("convolution", object(), None, owner="u")
    missing, lease = registry.renew([a.filter_id, b.filter_id, other.filter_id, "f-gone"], owner="t")
    assert missing == [other.filter_id, "f-gone"] and lease == 5
    assert registry.renew([], owner="t") == ([], 5)


@pytest.mark.parametrize("lease", [-1.0, float("nan"), float("inf")])
def test_a_lease_that_is_no_duration_is_refused(lease):
    with pytest.raises(InvalidArgumentError, match="lease_seconds"):
        Registry().add("convolution", object(), None, lease_seconds=lease)


# ----------------------------------------------------------------------------- a live server

@pytest.fixture(scope="module")
def server():
    process = ServerProcess("--lease-seconds", str(LEASE), http=True)
    yield process
    assert process.stop() == 0, "".join(process.output)


@pytest.fixture
def sdk(server):
    import bnns.client as sdk
    sdk.connect(server.grpc_target)
    yield sdk
    sdk.connect("local")


def fully_connected(sdk):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    params = sdk.BNNSLayerParametersFullyConnected(
        i_desc=sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutVector, size=(3,)),
        w_desc=sdk.BNNSNDArrayDescriptor.from_array(w, sdk.BNNSDataLayoutRowMajorMatrix),
        o_desc=sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutVector, size=(2,)))
    f = sdk.BNNSFilterCreateLayerFullyConnected(params, None)
    assert f is not None, sdk.last_error()
    return f


def apply(sdk, f) -> int:
    return sdk.BNNSFilterApply(f, np.ones(3, np.float32), np.zeros(2, np.float32))


KILLED_CLIENT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import bnns.client as sdk
    sys.path.insert(0, {tests!r})
    from e2e.test_leases import fully_connected
    sdk.connect({target!r})
    f = fully_connected(sdk)
    t = sdk.BNNSTensor.from_array(np.ones(1000, np.float32))
    print(f.filter_id, t.tensor_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)          # no destroy, no exit handlers: as a crash
""")


def test_a_client_killed_without_cleanup_leaves_nothing_behind(server, http):
    before = {kind: expired_count(http, kind) for kind in ("filter", "tensor")}
    tests = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", KILLED_CLIENT.format(tests=tests, target=server.grpc_target)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    filter_id, tensor_id = done.stdout.split()
    assert filter_id in listed(http, "filters")                                # still there, for now
    # Listing is no use of a handle (describing one is, and would renew it).
    assert wait_until(lambda: filter_id not in listed(http, "filters") and tensor_id not in listed(http, "tensors"))
    assert expired_count(http, "filter") >= before["filter"] + 1
    assert expired_count(http, "tensor") >= before["tensor"] + 1
    assert any(f"lease expired: destroyed filter {filter_id}" in line for line in server.output)


def test_use_renews_the_lease_and_idleness_ends_it(sdk):
    f = fully_connected(sdk)
    for _ in range(8):                                            # 2.4 s of use, over twice the lease
        assert apply(sdk, f) == 0, sdk.last_error()
        time.sleep(0.3)
    time.sleep(LEASE * 2.5)
    assert apply(sdk, f) == -1 and isinstance(sdk.last_error(), NotFoundError)


def test_keep_alive_renews_and_names_the_missing(http):
    made = http.post("/v1/filters", json={"activation": {
        "i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [4]}, "o_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [4]},
        "activation": {"function": "ACTIVATION_FUNCTION_RECTIFIED_LINEAR"}}})
    assert made.status_code == 200, made.text
    filter_id = made.json()["filter_id"]
    for _ in range(5):                                            # 2.5 s of keep-alives, no other use
        answer = http.post("/v1/keepAlive", json={"handle_ids": [filter_id, "f-0000000000000000"]}).json()
        assert answer == {"missing": ["f-0000000000000000"], "lease_seconds": LEASE}
        time.sleep(0.5)
    assert http.get(f"/v1/filters/{filter_id}").status_code == 200
    http.delete(f"/v1/filters/{filter_id}")


def test_a_create_may_ask_for_its_own_lease(http):
    made = http.post("/v1/filters", json={"lease_seconds": 30, "activation": {
        "i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [4]}, "o_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [4]},
        "activation": {"function": "ACTIVATION_FUNCTION_RECTIFIED_LINEAR"}}}).json()
    time.sleep(LEASE * 2.5)
    assert http.get(f"/v1/filters/{made['filter_id']}").status_code == 200   # outlived the server's 1 s default
    assert http.post("/v1/keepAlive", json={"handle_ids": [made["filter_id"]]}).json()["lease_seconds"] == 30
    http.delete(f"/v1/filters/{made['filter_id']}")


def test_a_session_keeps_its_handles_alive_and_destroys_them_at_the_end(sdk, http):
    before = expired_count(http, "filter")
    with sdk.session():
        f = fully_connected(sdk)
        t = sdk.BNNSTensor.from_array(np.ones(10, np.float32))
        time.sleep(LEASE * 3)                                     # idle for three leases
        assert apply(sdk, f) == 0, sdk.last_error()
        assert http.get(f"/v1/tensors/{t.tensor_id}").status_code == 200
    assert f.destroyed and t.destroyed
    assert http.get(f"/v1/filters/{f.filter_id}").status_code == 404
    assert http.get(f"/v1/tensors/{t.tensor_id}").status_code == 404
    assert expired_count(http, "filter") == before                # destroyed by the session, not expired


def test_a_session_destroys_its_handles_after_an_exception(sdk, http):
    with pytest.raises(RuntimeError):
        with sdk.session():
            f = fully_connected(sdk)
            raise RuntimeError("the caller's bug")
    assert http.get(f"/v1/filters/{f.filter_id}").status_code == 404


def test_handles_made_outside_a_session_are_not_its_own(sdk, http):
    outside = fully_connected(sdk)
    with sdk.session():
        inside = fully_connected(sdk)
    assert inside.destroyed and not outside.destroyed
    assert http.get(f"/v1/filters/{outside.filter_id}").status_code == 200
    sdk.BNNSFilterDestroy(outside)


def test_server_default_lease_is_documented_in_help():
    out = subprocess.run([sys.executable, "-m", "bnns.server.cli", "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    assert "--lease-seconds" in out and "BNNS_LEASE_SECONDS" in out and "default: 900.0" in out
    json.dumps(out)
