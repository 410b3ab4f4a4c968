"""What the per-call fast paths must keep: in-place calls whose output overlaps their input (by
one owning array, or over memory NumPy does not own) read their input unchanged; bound arrays
are found whatever array object views them; a non-finite gradient of a server-held parameter is
refused, naming it, and nothing is stepped; descriptors made once per geometry stay one object.

SDK tests run on both backends (the `bnns` fixture: in process and against a live server).
"""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels import layout
from bnns.server import core as core_mod


def vector_fc(bnns, n_in, n_out, w, b=None, flags=None):
    """A fully connected filter n_in -> n_out over vectors, weights ``w`` (n_out, n_in)."""
    p = bnns.BNNSLayerParametersFullyConnected(
        i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n_in,)),
        o_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n_out,)),
        w_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(n_in, n_out), data=w),
        bias=None if b is None else bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n_out,),
                                                                data=b))
    f = bnns.BNNSFilterCreateLayerFullyConnected(p, bnns.BNNSFilterParameters(flags=flags) if flags else None)
    assert f is not None, bnns.last_error()
    return f


def _expected(x, w):
    return (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.float32)


@pytest.mark.parametrize("memory", ["owned", "foreign"])
def test_output_overlapping_its_input_reads_the_input_unchanged(bnns, memory):
    # y's elements start inside x's: written before the product were read, the result would be wrong.
    rng = np.random.default_rng(21)
    w = rng.standard_normal((4, 4)).astype(np.float32)
    f = vector_fc(bnns, 4, 4, w)
    values = rng.standard_normal(12).astype(np.float32)
    if memory == "owned":
        buf = values.copy()
    else:                                   # an array over a bytearray: no ndarray owns the memory
        buf = np.frombuffer(bytearray(values.tobytes()), np.float32)
    x, y = buf[:8], buf[2:10]               # two items of 4 in, two items of 4 out, overlapping
    x_before = x.copy()
    assert bnns.BNNSFilterApplyBatch(f, 2, x, 4, y, 4) == 0, bnns.last_error()
    np.testing.assert_allclose(y.reshape(2, 4), _expected(x_before.reshape(2, 4), w), rtol=1e-5, atol=1e-6)


def test_output_in_a_separate_array_is_written_in_place(bnns):
    rng = np.random.default_rng(22)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    f = vector_fc(bnns, 5, 3, w)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = np.full((4, 3), np.nan, np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 4, x, 5, y, 3) == 0, bnns.last_error()
    np.testing.assert_allclose(y, _expected(x, w), rtol=1e-5, atol=1e-6)


def test_a_bound_array_is_found_through_another_view_of_its_memory(bnns):
    # BNNSFlagsUseClientPtr binds the caller's array object; a view of the same memory passed to
    # BNNSOptimizerStep still names the filter's weights, and both follow the step.
    rng = np.random.default_rng(23)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    f = vector_fc(bnns, 5, 3, w, flags=bnns.BNNSFlagsUseClientPtr)
    g = rng.standard_normal((3, 5)).astype(np.float32)
    other_view = w.view()
    assert other_view is not w and np.shares_memory(other_view, w)
    sgd = bnns.BNNSOptimizerSGDMomentumFields(learning_rate=0.5, momentum=0.0)
    before = w.copy()
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionSGDMomentum, sgd, 1,
                                  [bnns.BNNSNDArrayDescriptor(data=other_view)],
                                  [bnns.BNNSNDArrayDescriptor(data=g)], None) == 0, bnns.last_error()
    np.testing.assert_allclose(w, before - 0.5 * g, rtol=1e-6)
    # The filter computes with the stepped weights: they were stepped where it lives.
    x = rng.standard_normal((2, 5)).astype(np.float32)
    y = np.zeros((2, 3), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 2, x, 5, y, 3) == 0, bnns.last_error()
    np.testing.assert_allclose(y, _expected(x, w), rtol=1e-5, atol=1e-5)


def _step_with_an_infinite_gradient(bnns):
    """Three server-tensor parameters, an infinity in the third gradient: refused by name with
    nothing stepped; then the same call with it finite steps all three."""
    rng = np.random.default_rng(24)
    tensors = [bnns.BNNSTensor.from_array(rng.standard_normal(n).astype(np.float32)) for n in (6, 4, 9)]
    before = [t.numpy().copy() for t in tensors]
    grads = [rng.standard_normal(t.shape).astype(np.float32) for t in tensors]
    grads[2][5] = np.inf
    adam = bnns.BNNSOptimizerAdamFields(learning_rate=0.1, time_step=1)
    params = [bnns.BNNSNDArrayDescriptor(data=t) for t in tensors]
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, adam, 3, params,
                                  [bnns.BNNSNDArrayDescriptor(data=g) for g in grads], None) == -1
    message = str(bnns.last_error())
    assert "gradients[2] holds NaN or infinite values" in message and "tensor" in message
    for t, b in zip(tensors, before):
        assert t.numpy().tobytes() == b.tobytes()
    grads[2][5] = 0.0
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, adam, 3, params,
                                  [bnns.BNNSNDArrayDescriptor(data=g) for g in grads], None) == 0, bnns.last_error()
    assert all(not np.array_equal(t.numpy(), b) for t, b in zip(tensors, before))
    for t in tensors:
        t.destroy()


def test_non_finite_gradient_of_a_server_held_parameter_is_refused_by_name(bnns):
    _step_with_an_infinite_gradient(bnns)      # small gradients: one check over them all joined


def test_non_finite_large_gradient_is_refused_by_name(monkeypatch):
    # Gradients over the joined-check size are checked one by one (no joined copy is made).
    import bnns.client as sdk
    monkeypatch.setattr(core_mod, "_JOINED_CHECK_BYTES", 0)
    sdk.connect("local")
    _step_with_an_infinite_gradient(sdk)


def test_sinks_leave_out_targets_that_overlap_an_input():
    # The in-process backend writes results straight into the caller's arrays only where no
    # input shares their memory; an overlapping target is written after the call, from a copy.
    from bnns.client.api import Exchange
    geometry = layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (4,))
    owned = np.zeros(16, np.float32)
    foreign = np.frombuffer(bytearray(64), np.float32)
    separate = np.zeros(4, np.float32)
    io = Exchange()
    io.arrays = {"in": owned[:8], "in[1]": foreign[:4]}
    io.receive("same_owner", owned[6:10], geometry, 1, 0)           # overlaps owned[:8]
    io.receive("same_owner_apart", owned[12:16], geometry, 1, 0)    # same owner, no overlap
    io.receive("foreign_overlap", foreign[2:6], geometry, 1, 0)      # overlaps foreign[:4]
    io.receive("foreign_apart", foreign[8:12], geometry, 1, 0)
    io.receive("separate", separate, geometry, 1, 0)
    assert sorted(io.sinks()) == ["foreign_apart", "same_owner_apart", "separate"]
    # Owned inputs only (settled by owner, then by bounds within one owner).
    io = Exchange()
    io.arrays = {"in": owned[:8]}
    io.receive("same_owner", owned[6:10], geometry, 1, 0)
    io.receive("same_owner_apart", owned[12:16], geometry, 1, 0)
    io.receive("over_a_view_of_the_owner", owned.reshape(4, 4)[1], geometry, 1, 0)     # owned[4:8]
    io.receive("foreign", foreign[:4], geometry, 1, 0)
    io.receive("separate", separate, geometry, 1, 0)
    assert sorted(io.sinks()) == ["foreign", "same_owner_apart", "separate"]


@pytest.mark.parametrize("array", [np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(5, dtype=np.float64)],
                         ids=["matrix_float32", "vector_float64"])
def test_a_whole_array_write_back_target_is_the_general_vector_target(array):
    # The optimizer's write-backs are whole-array targets made without the general constructor's
    # geometry work: the same view, stride, type and geometry as a Vector of all the elements,
    # batch 1, and the same values written.
    from bnns.client.api import _Target
    vector = layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (array.size,))
    general, whole = _Target(array.copy(), vector, 1, 0, "p", wire=array.dtype), _Target.whole(array.copy(), "p")
    assert whole.view.shape == general.view.shape and whole.view.strides == general.view.strides
    assert (whole.stride, whole.batch_size, whole.wire, whole.accumulate) == (general.stride, 1, general.wire, False)
    assert whole.geometry is general.geometry
    values = np.linspace(-1, 1, array.size).astype(array.dtype)
    general.write(values.tobytes())
    whole.write(values.tobytes())
    np.testing.assert_array_equal(whole.flat, general.flat)
    np.testing.assert_array_equal(whole.flat, values)
    with pytest.raises(Exception, match="writable C-contiguous"):
        _Target.whole(array.T if array.ndim == 2 else array[::2], "p")


def test_packed_gradient_geometry_is_one_descriptor_per_geometry_and_type():
    desc = layout.Descriptor(layout.LAYOUT_IMAGE_CHW, (4, 3, 2), stride=(1, 5, 15))
    packed = core_mod._packed(desc)
    assert packed is core_mod._packed(layout.Descriptor(layout.LAYOUT_IMAGE_CHW, (4, 3, 2), stride=(1, 5, 15)))
    assert (packed.stride, packed.shape, packed.is_packed) == ((), desc.shape, True)
    indices = core_mod._packed(desc, layout.DTYPE_UINT64)
    assert indices is not packed and indices.data_type == layout.DTYPE_UINT64
    with_data = layout.Descriptor(layout.LAYOUT_VECTOR, (3,), data=np.ones(3, np.float32))
    assert core_mod._packed(with_data).data is None


def test_call_metrics_expose_what_prometheus_counters_and_histograms_would():
    # The per-call counts are kept with plain arithmetic; scraped, they must read exactly as the
    # prometheus_client Counter and Histogram they replace (names, labels, buckets, sums).
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from bnns.server import observability

    class NoHandles:
        def __len__(self):
            return 0

        def all_entries(self):
            return []

    ours = observability.Metrics(NoHandles())
    reference = CollectorRegistry()
    requests = Counter("bnns_requests_total", "Calls by RPC and outcome", ["rpc", "status"], registry=reference)
    latency = Histogram("bnns_request_seconds", "Call latency by RPC and filter kind", ["rpc", "kind"],
                        buckets=observability._BUCKETS, registry=reference)
    received = Counter("bnns_received_bytes_total", "Request bytes by RPC", ["rpc"], registry=reference)
    sent = Counter("bnns_sent_bytes_total", "Response bytes by RPC", ["rpc"], registry=reference)
    calls = [("FilterApplyBatch", "convolution", "OK", 0.0005, 4096, 4096),      # on a bucket's bound
             ("FilterApplyBatch", "convolution", "OK", 0.0031, 4096, 4096),
             ("FilterApplyBatch", "", "NOT_FOUND", 0.00001, 80, 0),
             ("OptimizerStep", "", "OK", 45.0, 1 << 20, 1 << 20)]                  # past the last bound
    for rpc, kind, status, seconds, n_in, n_out in calls:
        ours.observe(rpc, kind, status, seconds, n_in, n_out)
        requests.labels(rpc, status).inc()
        latency.labels(rpc, kind or "none").observe(seconds)
        received.labels(rpc).inc(n_in)
        sent.labels(rpc).inc(n_out)

    def samples(registry):
        return sorted(line for line in generate_latest(registry).decode().splitlines()
                      if line.startswith(("bnns_request", "bnns_received", "bnns_sent")) and "_created" not in line)

    assert samples(ours.registry) == samples(reference)
