"""Issue 12, part A through the SDK on both backends (the kinds' rows in server/kinds.py give them
the test matrix; this checks Apple's C and Swift call shapes against closed forms): permute,
padding, resize, reduction and Gram filters, the two-input BroadcastMatMul and TensorContraction
filters, the filter-less BNNSTranspose, BNNSCopy, BNNSDirectApplyReduction, BNNSMatMul (and its
workspace size) and BNNSDirectApplyBroadcastMatMul, and REST reachability of the new RPCs."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest


RNG = np.random.default_rng(12)


def rand(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def desc(bnns, layout, size, data=None, **fields):
    return bnns.BNNSNDArrayDescriptor(layout=layout, size=tuple(size), data=data, **fields)


# -------------------------------------------------------------------------------- shape layers

def test_c_permute_forward_and_its_own_backward_entry_point(bnns):
    chw = bnns.BNNSDataLayoutImageCHW
    params = bnns.BNNSLayerParametersPermute(i_desc=desc(bnns, chw, (4, 3, 2)), o_desc=desc(bnns, chw, (2, 4, 3)),
                                             permutation=(2, 0, 1, 0, 0, 0, 0, 0))   # entries past the rank unread
    f = bnns.BNNSFilterCreateLayerPermute(params, None)
    assert f is not None, bnns.last_error()
    x = rand(5, 2, 3, 4)                                        # (N, C, H, W)
    y = np.zeros((5, 3, 4, 2), np.float32)                      # (N, H, W, C)
    assert bnns.BNNSFilterApplyBatch(f, 5, x, 24, y, 24) == 0, bnns.last_error()
    np.testing.assert_array_equal(y, x.transpose(0, 2, 3, 1))
    dy, dx = rand(5, 3, 4, 2), np.zeros_like(x)
    rc = bnns.BNNSPermuteFilterApplyBackwardBatch(f, 5, desc(bnns, chw, (4, 3, 2), dx), 24,
                                                  desc(bnns, chw, (2, 4, 3), dy), 24)
    assert rc == 0, bnns.last_error()
    np.testing.assert_array_equal(dx, dy.transpose(0, 3, 1, 2))
    bnns.BNNSFilterDestroy(f)


def test_swift_padding_layer_constant_scalar_and_its_adjoint(bnns):
    BNNS, chw = bnns.BNNS, bnns.BNNSDataLayoutImageCHW
    x = rand(2, 1, 3, 4)
    y = np.zeros((2, 1, 6, 5), np.float32)
    with BNNS.PaddingLayer(desc(bnns, chw, (4, 3, 1)), desc(bnns, chw, (5, 6, 1)), BNNS.PaddingMode.constant_scalar(2.5),
                           [(1, 0), (2, 1), (0, 0)]) as layer:
        layer.apply(2, x, y)
        np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (0, 0), (2, 1), (1, 0)), constant_values=2.5))
        dy, dx = rand(2, 1, 6, 5), np.zeros_like(x)
        layer.apply_backward(2, x, y, dy, desc(bnns, chw, (4, 3, 1), dx))
        np.testing.assert_array_equal(dx, dy[:, :, 2:5, 1:5])


def test_c_reflect_and_symmetric_padding_follow_numpy(bnns):
    vec = bnns.BNNSDataLayoutVector
    x = np.array([[1, 2, 3, 4]], np.float32)
    modes: tuple[tuple[int, Literal["reflect", "symmetric"]], ...] = (
        (bnns.BNNSPaddingModeReflect, "reflect"), (bnns.BNNSPaddingModeSymmetric, "symmetric"))
    for mode, name in modes:
        f = bnns.BNNSFilterCreateLayerPadding(bnns.BNNSLayerParametersPadding(
            i_desc=desc(bnns, vec, (4,)), o_desc=desc(bnns, vec, (9,)), padding_size=[(3, 2)], padding_mode=mode), None)
        assert f is not None, bnns.last_error()
        y = np.zeros((1, 9), np.float32)
        assert bnns.BNNSFilterApplyBatch(f, 1, x, 0, y, 0) == 0, bnns.last_error()
        np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (3, 2)), mode=name))
        bnns.BNNSFilterDestroy(f)


def test_reflect_padding_wider_than_the_input_is_refused_with_its_reason(bnns):
    vec = bnns.BNNSDataLayoutVector
    f = bnns.BNNSFilterCreateLayerPadding(bnns.BNNSLayerParametersPadding(
        i_desc=desc(bnns, vec, (3,)), o_desc=desc(bnns, vec, (6,)), padding_size=[(3, 0)],
        padding_mode=bnns.BNNSPaddingModeReflect), None)
    assert f is None and "too wide" in str(bnns.last_error())


def test_swift_resize_layer_bilinear_align_corners_matches_the_closed_form(bnns):
    BNNS, chw = bnns.BNNS, bnns.BNNSDataLayoutImageCHW
    x = rand(3, 2, 2, 3)                                         # (N, C, H, W)
    y = np.zeros((3, 2, 4, 6), np.float32)                       # H 2 -> 4, W 3 -> 6
    with BNNS.ResizeLayer(BNNS.InterpolationMethod.linear, desc(bnns, chw, (3, 2, 2)), desc(bnns, chw, (6, 4, 2)),
                          True) as layer:
        layer.apply(3, x, y)

        def matrix(n_in, n_out):       # align corners: s = o (in - 1) / (out - 1), linear between neighbours
            m = np.zeros((n_out, n_in))
            for o in range(n_out):
                s = o * (n_in - 1) / (n_out - 1)
                lo = min(int(s), n_in - 2)
                m[o, lo], m[o, lo + 1] = 1 - (s - lo), s - lo
            return m
        rows, cols = matrix(2, 4), matrix(3, 6)
        expected = np.einsum("oh,nchw,pw->ncop", rows, x.astype(np.float64), cols)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
        assert np.allclose(y[..., 0, 0], x[..., 0, 0]) and np.allclose(y[..., -1, -1], x[..., -1, -1])
        dy, dx = rand(3, 2, 4, 6), np.zeros_like(x)
        layer.apply_backward(3, x, y, dy, desc(bnns, chw, (3, 2, 2), dx))
        np.testing.assert_allclose(dx, np.einsum("oh,ncop,pw->nchw", rows, dy.astype(np.float64), cols),
                                   rtol=1e-5, atol=1e-5)


def test_swift_reduction_layer_sum_log_with_weights_and_both_gradients(bnns):
    BNNS, chw = bnns.BNNS, bnns.BNNSDataLayoutImageCHW
    x = RNG.uniform(0.5, 2, (4, 2, 3)).astype(np.float32)       # (N, H, W), reduced over W
    w = RNG.uniform(0.5, 2, (1, 2, 3)).astype(np.float32)
    y = np.zeros((4, 2, 1), np.float32)
    weights = desc(bnns, chw, (3, 2, 1), w.copy())
    with BNNS.ReductionLayer(BNNS.ReductionFunction.sum_log(epsilon=0.5), desc(bnns, chw, (3, 2, 1)),
                             desc(bnns, chw, (1, 2, 1)), weights) as layer:
        layer.apply(4, x, y)
        v = x.astype(np.float64) * w
        np.testing.assert_allclose(y[..., 0], np.log(v + 0.5).sum(axis=-1), rtol=1e-5)
        dy = rand(4, 2, 1)
        dx, dw = np.zeros_like(x), np.zeros_like(w)
        layer.apply_backward(4, x, y, dy, desc(bnns, chw, (3, 2, 1), dx), desc(bnns, chw, (3, 2, 1), dw))
        np.testing.assert_allclose(dx, dy * w / (v + 0.5), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dw[0], (dy * x / (v + 0.5)).sum(axis=0), rtol=1e-5, atol=1e-6)


def test_c_direct_apply_reduction_arg_max_and_a_reduction_without_data_is_refused(bnns):
    rm = bnns.BNNSDataLayoutRowMajorMatrix
    x = np.array([[1, 7, 3], [9, -2, 9]], np.float32)
    out = np.full(2, -1, np.float32)
    params = bnns.BNNSLayerParametersReduction(i_desc=desc(bnns, rm, (3, 2), x), o_desc=desc(bnns, rm, (1, 2), out),
                                               reduce_func=bnns.BNNSReduceFunctionArgMax)
    assert bnns.BNNSDirectApplyReduction(params, None) == 0, bnns.last_error()
    np.testing.assert_array_equal(out, [1, 0])                 # the first maximum wins a tie
    params.i_desc.data = None
    assert bnns.BNNSDirectApplyReduction(params, None) == -1 and "data" in str(bnns.last_error())
    np.testing.assert_array_equal(out, [1, 0])                 # unchanged


def test_swift_gram_layer_forward_and_backward(bnns):
    BNNS = bnns.BNNS
    x = rand(2, 3, 2, 4)                                        # 3D_FIRST_MAJOR (i, j, f): 4 features
    y = np.zeros((2, 4, 4), np.float32)
    with BNNS.GramLayer(desc(bnns, bnns.BNNSDataLayout3DFirstMajor, (3, 2, 4)),
                        desc(bnns, bnns.BNNSDataLayout2DFirstMajor, (4, 4)), 0.25) as layer:
        layer.apply(2, x, y)
        flat = x.reshape(2, 6, 4).astype(np.float64)
        np.testing.assert_allclose(y, 0.25 * np.einsum("nsf,nsc->nfc", flat, flat), rtol=1e-5, atol=1e-6)
        dy, dx = rand(2, 4, 4), np.zeros_like(x)
        layer.apply_backward(2, x, y, dy, desc(bnns, bnns.BNNSDataLayout3DFirstMajor, (3, 2, 4), dx))
        expected = 0.25 * np.einsum("nsc,nfc->nsf", flat, dy + dy.transpose(0, 2, 1))
        np.testing.assert_allclose(dx.reshape(2, 6, 4), expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- two-input filters

def test_c_broadcast_matmul_with_weights_strides_and_gradients(bnns):
    rm = bnns.BNNSDataLayoutRowMajorMatrix
    w = rand(5, 3)                                              # B: 5 x 3 weights
    params = bnns.BNNSLayerParametersBroadcastMatMul(
        alpha=2.0, b_is_weights=True, iA_desc=desc(bnns, rm, (5, 4)), iB_desc=desc(bnns, rm, (3, 5), w.copy()),
        o_desc=desc(bnns, rm, (3, 4)))
    f = bnns.BNNSFilterCreateLayerBroadcastMatMul(params, None)
    assert f is not None, bnns.last_error()
    a = rand(6, 30)                                             # items of 20 values at a stride of 30
    items = a[:, :20].reshape(6, 4, 5).astype(np.float64)
    y = np.zeros((6, 12), np.float32)
    assert bnns.BNNSFilterApplyTwoInputBatch(f, 6, a, 30, None, 0, y, 12) == 0, bnns.last_error()
    np.testing.assert_allclose(y.reshape(6, 4, 3), 2 * items @ w, rtol=1e-5, atol=1e-5)
    one = np.zeros(12, np.float32)
    assert bnns.BNNSFilterApplyTwoInput(f, a[2, :20], None, one) == 0, bnns.last_error()
    np.testing.assert_array_equal(one, y[2])
    dy = rand(6, 4, 3)
    da, dw = np.zeros((6, 30), np.float32), np.zeros_like(w)
    rc = bnns.BNNSFilterApplyBackwardTwoInputBatch(
        f, 6, a, 30, desc(bnns, rm, (5, 4), da), 30, None, 0, None, 0, y, 12, desc(bnns, rm, (3, 4), dy), 0,
        desc(bnns, rm, (3, 5), dw), None)
    assert rc == 0, bnns.last_error()
    np.testing.assert_allclose(da[:, :20].reshape(6, 4, 5), 2 * dy @ w.T, rtol=1e-5, atol=1e-5)
    assert not da[:, 20:].any()                                 # the gaps between items are not written
    np.testing.assert_allclose(dw, 2 * np.einsum("nik,nij->kj", items, dy), rtol=1e-5, atol=1e-4)
    # A bias gradient does not exist here: -1, the reason, and nothing written.
    before = da.copy()
    rc = bnns.BNNSFilterApplyBackwardTwoInputBatch(
        f, 6, a, 30, desc(bnns, rm, (5, 4), da), 30, None, 0, None, 0, y, 12, desc(bnns, rm, (3, 4), dy), 0,
        None, desc(bnns, bnns.BNNSDataLayoutVector, (3,), np.zeros(3, np.float32)))
    assert rc == -1 and "bias" in str(bnns.last_error())
    np.testing.assert_array_equal(da, before)
    bnns.BNNSFilterDestroy(f)


def test_two_input_creation_sends_the_data_of_the_weights_only(bnns, monkeypatch):
    """A per-sample operand's descriptor may hold an array (Swift's descriptors do); creation
    sends its shape only, and the weights with their data."""
    rm, sent = bnns.BNNSDataLayoutRowMajorMatrix, []
    backend = bnns.current()
    call = backend.call

    def recording(rpc, request, *args, **kwargs):
        sent.append((rpc, request))
        return call(rpc, request, *args, **kwargs)
    monkeypatch.setattr(backend, "call", recording)
    w = rand(5, 3)
    f = bnns.BNNSFilterCreateLayerBroadcastMatMul(bnns.BNNSLayerParametersBroadcastMatMul(
        b_is_weights=True, iA_desc=desc(bnns, rm, (5, 4), rand(4, 5)), iB_desc=desc(bnns, rm, (3, 5), w),
        o_desc=desc(bnns, rm, (3, 4))), None)
    assert f is not None, bnns.last_error()
    created = [request.broadcast_matmul for rpc, request in sent if rpc == "CreateFilter"]
    assert len(created) == 1 and not created[0].ia_desc.HasField("data")
    np.testing.assert_array_equal(np.frombuffer(created[0].ib_desc.data.data, "<f4"), w.ravel())
    bnns.BNNSFilterDestroy(f)


def test_broadcast_matmul_beta_one_adds_to_the_output(bnns):
    rm = bnns.BNNSDataLayoutRowMajorMatrix
    f = bnns.BNNSFilterCreateLayerBroadcastMatMul(bnns.BNNSLayerParametersBroadcastMatMul(
        beta=1.0, iA_desc=desc(bnns, rm, (3, 2)), iB_desc=desc(bnns, rm, (2, 3)), o_desc=desc(bnns, rm, (2, 2))), None)
    assert f is not None, bnns.last_error()
    a, b = rand(2, 2, 3), rand(2, 3, 2)
    out = rand(2, 2, 2)
    expected = out + a @ b
    assert bnns.BNNSFilterApplyTwoInputBatch(f, 2, a, 0, b, 0, out, 0) == 0, bnns.last_error()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    bnns.BNNSFilterDestroy(f)


def test_swift_broadcast_matrix_multiply_layer_transposed_and_broadcast(bnns):
    BNNS, fm3 = bnns.BNNS, bnns.BNNSDataLayout3DFirstMajor
    a, b = rand(2, 3, 4, 5), rand(2, 1, 6, 4)                   # op(A) = A^T (5 x 4), op(B) = B^T (4 x 6)
    y = np.zeros((2, 3, 5, 6), np.float32)
    with BNNS.BroadcastMatrixMultiplyLayer(desc(bnns, fm3, (3, 4, 5)), True, False, desc(bnns, fm3, (1, 6, 4)), True,
                                           False, desc(bnns, fm3, (3, 5, 6)), 0.5) as layer:
        layer.apply(2, a, b, y)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        np.testing.assert_allclose(y, 0.5 * np.swapaxes(a64, -1, -2) @ np.swapaxes(b64, -1, -2), rtol=1e-5, atol=1e-5)
        dy = rand(2, 3, 5, 6)
        da, db = np.zeros_like(a), np.zeros_like(b)
        layer.apply_backward(2, a, b, y, dy, desc(bnns, fm3, (3, 4, 5), da), desc(bnns, fm3, (1, 6, 4), db))
        # y[n, m, i, j] = 0.5 sum_k A[n, m, k, i] B[n, 0, j, k]
        np.testing.assert_allclose(da, 0.5 * np.einsum("nmij,njk->nmki", dy, b64[:, 0]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(db, 0.5 * np.einsum("nmij,nmki->njk", dy, a64)[:, None], rtol=1e-5, atol=1e-4)


def test_swift_tensor_contraction_layer_with_weights_and_an_optimizer_step(bnns):
    BNNS, fm2 = bnns.BNNS, bnns.BNNSDataLayout2DFirstMajor
    w = rand(4, 3)
    with BNNS.TensorContractionLayer("x_ij, w_jk -> y_ik", 1.0, 0.0, desc(bnns, fm2, (2, 4)),
                                     desc(bnns, fm2, (4, 3), w.copy()), desc(bnns, fm2, (2, 3))) as layer:
        x, y = rand(5, 2, 4), np.zeros((5, 2, 3), np.float32)
        layer.apply(5, x, None, y)
        np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-5)
        dy, dx, dw = rand(5, 2, 3), np.zeros_like(x), np.zeros_like(w)
        layer.apply_backward(5, x, None, y, dy, desc(bnns, fm2, (2, 4), dx), None,
                             generating_weights_gradient=desc(bnns, fm2, (4, 3), dw))
        np.testing.assert_allclose(dx, dy @ w.T, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dw, np.einsum("nij,nik->jk", x, dy), rtol=1e-5, atol=1e-4)
        info = layer.filter.backend.call("DescribeFilter", __import__("bnns.v1.service_pb2", fromlist=["x"])
                                         .DescribeFilterRequest(filter_id=layer.filter.filter_id)).info
        assert dict(info.trainable) == {"b": 12}               # the w_ operand is trainable as "b"


def test_two_input_errors_name_the_operand_and_change_nothing(bnns):
    rm = bnns.BNNSDataLayoutRowMajorMatrix
    f = bnns.BNNSFilterCreateLayerBroadcastMatMul(bnns.BNNSLayerParametersBroadcastMatMul(
        a_is_weights=True, iA_desc=desc(bnns, rm, (3, 2), rand(2, 3)), iB_desc=desc(bnns, rm, (2, 3)),
        o_desc=desc(bnns, rm, (2, 2))), None)
    assert f is not None, bnns.last_error()
    b, y = rand(2, 3, 2), np.zeros((2, 2, 2), np.float32)
    assert bnns.BNNSFilterApplyTwoInputBatch(f, 2, None, 0, b[:, :2], 0, y, 0) == -1   # B too short
    assert "in_b" in str(bnns.last_error())
    assert not y.any()
    dy, da = rand(2, 2, 2), np.zeros((2, 2, 3), np.float32)
    rc = bnns.BNNSFilterApplyBackwardTwoInputBatch(f, 2, None, 0, desc(bnns, rm, (3, 2), da), 0, b, 0, None, 0,
                                                   y, 0, desc(bnns, rm, (2, 2), dy), 0, None, None)
    assert rc == -1 and "weights" in str(bnns.last_error())
    assert not da.any()
    bnns.BNNSFilterDestroy(f)


# ------------------------------------------------------------------------- filter-less calls

def test_c_transpose_and_copy_between_layouts_and_types(bnns):
    rm = bnns.BNNSDataLayoutRowMajorMatrix
    x = rand(3, 4)                                              # RowMajor size (4, 3): 3 rows of 4
    t = np.zeros((4, 3), np.float32)
    assert bnns.BNNSTranspose(desc(bnns, rm, (3, 4), t), desc(bnns, rm, (4, 3), x), 0, 1, None) == 0, bnns.last_error()
    np.testing.assert_array_equal(t, x.T)
    half = np.zeros(12, np.float16)
    assert bnns.BNNSCopy(desc(bnns, rm, (4, 3), half, data_type=bnns.BNNSDataTypeFloat16),
                         desc(bnns, rm, (4, 3), x), None) == 0, bnns.last_error()
    np.testing.assert_array_equal(half, x.reshape(-1).astype(np.float16))
    padded = np.zeros((3, 6), np.float32)                       # the same matrix, rows 6 elements apart
    assert bnns.BNNSCopy(desc(bnns, rm, (4, 3), padded, stride=(1, 6)), desc(bnns, rm, (4, 3), x), None) == 0, \
        bnns.last_error()
    np.testing.assert_array_equal(padded[:, :4], x)
    assert not padded[:, 4:].any()
    wrong = np.zeros((5, 3), np.float32)
    assert bnns.BNNSTranspose(desc(bnns, rm, (3, 5), wrong), desc(bnns, rm, (4, 3), x), 0, 1, None) == -1
    assert "dest" in str(bnns.last_error()) or "o_desc" in str(bnns.last_error())
    assert not wrong.any()


def test_c_matmul_direct_broadcast_matmul_and_the_workspace_size(bnns):
    fm3 = bnns.BNNSDataLayout3DFirstMajor
    a, b = rand(4, 3, 5), rand(1, 6, 5)                          # A: 4 matrices 3 x 5, B: one 6 x 5 (transB)
    out = np.zeros((4, 3, 6), np.float32)
    args = (desc(bnns, fm3, (4, 3, 5), a), desc(bnns, fm3, (1, 6, 5), b), desc(bnns, fm3, (4, 3, 6), out))
    assert bnns.BNNSMatMulWorkspaceSize(False, True, 1.5, *args, None) == 0, bnns.last_error()
    assert bnns.BNNSMatMul(False, True, 1.5, *args, None, None) == 0, bnns.last_error()
    np.testing.assert_allclose(out, 1.5 * a.astype(np.float64) @ np.swapaxes(b, -1, -2), rtol=1e-5, atol=1e-5)
    out[...] = 0
    assert bnns.BNNSDirectApplyBroadcastMatMul(False, True, 1.5, *args, None) is None and bnns.last_error() is None
    np.testing.assert_allclose(out, 1.5 * a.astype(np.float64) @ np.swapaxes(b, -1, -2), rtol=1e-5, atol=1e-5)
    bad = (args[0], desc(bnns, fm3, (1, 6, 4), rand(1, 6, 4)), args[2])
    assert bnns.BNNSMatMulWorkspaceSize(False, True, 1.5, *bad, None) == -1
    assert "inner sizes" in str(bnns.last_error())
    with pytest.raises(bnns.BNNSError, match="inner sizes"):
        bnns.BNNS.apply_matrix_multiplication(bad[0], False, bad[1], True, bad[2], 1.5)


# ---------------------------------------------------------------------------------------- REST

def test_rest_matmul_and_a_two_input_filter_with_json_values(http):
    matrix = {"layout": "DATA_LAYOUT_ROW_MAJOR_MATRIX", "data_type": "DATA_TYPE_FLOAT32"}
    response = http.post("/v1/matMul", json={
        "alpha": 2.0, "trans_b": True,
        "input_a": dict(matrix, size=[2, 2], data={"values": [[1, 2], [3, 4]]}),
        "input_b": dict(matrix, size=[2, 2], data={"values": [[1, 0], [1, 1]]}),
        "output": dict(matrix, size=[2, 2])})
    assert response.status_code == 200, response.text
    assert response.json()["output"]["values"] == [2.0, 6.0, 6.0, 14.0]      # 2 * A @ B^T
    created = http.post("/v1/filters", json={"broadcast_matmul": {
        "alpha": 1.0, "a_is_weights": True, "ia_desc": dict(matrix, size=[2, 1], data={"values": [[1, -1]]}),
        "ib_desc": dict(matrix, size=[1, 2]), "o_desc": dict(matrix, size=[1, 1])}})
    assert created.status_code == 200, created.text
    filter_id = created.json()["filter_id"]
    applied = http.post(f"/v1/filters/{filter_id}:filterApplyTwoInputBatch",
                        json={"batch_size": 2, "in_b": {"values": [[5], [2], [1], [4]]}})
    assert applied.status_code == 200, applied.text
    assert applied.json()["out"]["values"] == [3.0, -3.0]
    refused = http.post(f"/v1/filters/{filter_id}:filterApplyTwoInputBatch",
                        json={"batch_size": 1, "in_a": {"values": [1, 2]}, "in_b": {"values": [1, 2]}})
    assert refused.status_code == 400 and "weights" in refused.json()["error"]["message"]


# ----------------------------------------------------------------------------- crop and resize

def test_c_crop_resize_on_pixel_centres_and_its_backward(bnns):
    fm4, rm = bnns.BNNSDataLayout4DFirstMajor, bnns.BNNSDataLayoutRowMajorMatrix
    x = rand(2, 3, 5, 6)                                        # (N, C, H, W)
    roi = np.array([[1, 1, 1, 2, 3], [0, 0, 4, 4, 5]], np.float32)   # [image, y0, x0, y1, x1]
    params = bnns.BNNSLayerParametersCropResize(method=bnns.BNNSInterpolationMethodLinear,
                                                sampling_mode=bnns.BNNSLinearSamplingAlignCorners)
    out = np.zeros((2, 3, 2, 3), np.float32)
    rc = bnns.BNNSCropResize(params, desc(bnns, fm4, (2, 3, 5, 6), x), desc(bnns, rm, (5, 2), roi),
                             desc(bnns, fm4, (2, 3, 2, 3), out), None)
    assert rc == 0, bnns.last_error()
    np.testing.assert_allclose(out[0], x[1, :, 1:3, 1:4], rtol=1e-6)          # samples on pixel centres
    rows = x[0][:, [0, 4]]                                      # y 0..4 at 2 samples: rows 0 and 4
    np.testing.assert_allclose(out[1], np.stack([rows[..., 4], (rows[..., 4] + rows[..., 5]) / 2, rows[..., 5]], -1),
                               rtol=1e-5, atol=1e-6)                    # x 4..5 at 3 samples: 4, 4.5, 5
    dy = rand(2, 3, 2, 3)
    dx = np.zeros_like(x)
    rc = bnns.BNNSCropResizeBackward(params, desc(bnns, fm4, (2, 3, 5, 6), dx), desc(bnns, rm, (5, 2), roi),
                                     desc(bnns, fm4, (2, 3, 2, 3), dy), None)
    assert rc == 0, bnns.last_error()
    np.testing.assert_allclose(dx[1, :, 1:3, 1:4], dy[0], rtol=1e-6)
    np.testing.assert_allclose(dx[0].sum(), dy[1].sum(), rtol=1e-5)             # linear weights sum to 1
    assert not dx[1, :, 3:].any() and not dx[1, :, :, 4:].any()


def test_swift_crop_resize_layer_extrapolates_outside_the_image(bnns):
    BNNS, fm4, rm = bnns.BNNS, bnns.BNNSDataLayout4DFirstMajor, bnns.BNNSDataLayoutRowMajorMatrix
    layer = BNNS.CropResizeLayer(True, 1.0, -5.0, BNNS.CropResizeLayer.LinearSamplingMode.align_corners,
                                 BNNS.CropResizeLayer.BoxCoordinateMode.corners_width_first)
    x = rand(1, 2, 3, 3)
    roi = np.array([[0, 0.0, 0.0, 2.0, 1.0]], np.float32)      # normalized, width first: x 0..2 (past the edge)
    out = np.zeros((1, 2, 2, 3), np.float32)
    layer.apply(desc(bnns, fm4, (1, 2, 3, 3), x), desc(bnns, rm, (5, 1), roi), desc(bnns, fm4, (1, 2, 2, 3), out))
    np.testing.assert_allclose(out[0, :, :, :2], x[0][:, [0, 2]][:, :, [0, 2]], rtol=1e-6)   # y 0, 2; x 0, 2
    np.testing.assert_array_equal(out[0, :, :, 2], -5.0)         # x = 4 (pixels) is outside: extrapolated
    with pytest.raises(bnns.BNNSError, match="image 3"):
        layer.apply(desc(bnns, fm4, (1, 2, 3, 3), x), desc(bnns, rm, (5, 1), np.array([[3, 0, 0, 1, 1]], np.float32)),
                    desc(bnns, fm4, (1, 2, 2, 3), out))


def test_c_one_input_contraction_through_the_generic_entry_points(bnns):
    """A contraction with weights first and one per-sample operand is a one-input filter:
    BNNSFilterApplyBatch and BNNSFilterApplyBackwardBatch (in_delta, and the weights' gradient)."""
    fm2 = bnns.BNNSDataLayout2DFirstMajor
    w = rand(3, 4)
    f = bnns.BNNSFilterCreateLayerTensorContraction(bnns.BNNSLayerParametersTensorContraction(
        operation="w_ij, x_jk -> y_ik", alpha=1.0, iA_desc=desc(bnns, fm2, (3, 4), w.copy()),
        iB_desc=desc(bnns, fm2, (4, 2)), o_desc=desc(bnns, fm2, (3, 2))), None)
    assert f is not None, bnns.last_error()
    x, y = rand(6, 4, 2), np.zeros((6, 3, 2), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 6, x, 8, y, 6) == 0, bnns.last_error()
    np.testing.assert_allclose(y, w @ x, rtol=1e-5, atol=1e-5)
    dy, dx, dw = rand(6, 3, 2), np.zeros_like(x), np.zeros_like(w)
    rc = bnns.BNNSFilterApplyBackwardBatch(f, 6, x, 8, desc(bnns, fm2, (4, 2), dx), 8, y, 6,
                                           desc(bnns, fm2, (3, 2), dy), 6, desc(bnns, fm2, (3, 4), dw), None)
    assert rc == 0, bnns.last_error()
    np.testing.assert_allclose(dx, np.swapaxes(w, 0, 1) @ dy, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, np.einsum("nik,njk->ij", dy, x), rtol=1e-5, atol=1e-4)
    bnns.BNNSFilterDestroy(f)


def test_a_small_filterless_request_asking_for_a_huge_result_is_refused_before_allocating():
    from bnns.server import codec
    from bnns.server.core import Core
    from bnns.v1 import service_pb2 as pb, types_pb2
    from bnns.errors import ResourceExhaustedError
    core = Core(limits=codec.Limits(max_call_bytes=1 << 20))
    small = types_pb2.NDArrayDescriptor(layout=0x20000, size=[2, 2], data=types_pb2.Buffer(data=bytes(16)))
    huge = types_pb2.NDArrayDescriptor(layout=0x20000, size=[1 << 16, 1 << 16])
    for rpc, request in (("Copy", pb.CopyRequest(src=small, dest=huge)),
                         ("MatMul", pb.MatMulRequest(input_a=small, input_b=small, output=huge)),
                         ("CropResize", pb.CropResizeRequest(input=small, roi=small, output=huge))):
        with pytest.raises(ResourceExhaustedError, match="max_call_bytes"):
            core.call(rpc, request)


def test_broadcast_matmul_weights_bound_with_client_ptr_train_with_the_optimizer(bnns):
    """b_is_weights with BNNSFlagsUseClientPtr: the caller's B array is the filter's trainable "b";
    BNNSOptimizerStep updates it on the server and in place, and the next apply uses it."""
    rm = bnns.BNNSDataLayoutRowMajorMatrix
    w = rand(3, 2)
    w_array = w.copy()
    b_desc = desc(bnns, rm, (2, 3), w_array)
    f = bnns.BNNSFilterCreateLayerBroadcastMatMul(bnns.BNNSLayerParametersBroadcastMatMul(
        b_is_weights=True, iA_desc=desc(bnns, rm, (3, 2)), iB_desc=b_desc, o_desc=desc(bnns, rm, (2, 2))),
        bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr))
    assert f is not None, bnns.last_error()
    grad = rand(3, 2)
    sgd = bnns.BNNSOptimizerSGDMomentumFields(learning_rate=0.5)
    assert bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionSGDMomentum, sgd, 1, [b_desc],
                                  [bnns.BNNSNDArrayDescriptor(data=grad)], None) == 0, bnns.last_error()
    np.testing.assert_allclose(w_array, w - 0.5 * grad, rtol=1e-6)
    a, y = rand(4, 2, 3), np.zeros((4, 2, 2), np.float32)
    assert bnns.BNNSFilterApplyTwoInputBatch(f, 4, a, 0, None, 0, y, 0) == 0, bnns.last_error()
    np.testing.assert_allclose(y, a @ (w - 0.5 * grad), rtol=1e-5, atol=1e-5)
    bnns.BNNSFilterDestroy(f)
