"""kernels.blas (GEMM with beta on strided views) and the convolution paths built on it: the
tap-sum forward (stride 1, >= 8 channels per group) and the BLAS-accumulated weight gradient
must give the numbers of the plain im2col + matmul path, and the gradients must match finite
differences through them."""

from __future__ import annotations

import numpy as np
import pytest

import bnns.kernels.convolution as cv
from typing import Any
from bnns.kernels import blas

from ..numeric import numerical_gradient, projection

pytestmark = pytest.mark.skipif(not blas.available(), reason="NumPy's bundled BLAS exposes no cblas gemm here")


def test_gemm_accumulates_and_transposes():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    c = np.ones((3, 5))
    blas.gemm(a, b, c, beta=1.0)
    np.testing.assert_allclose(c, a @ b + 1)
    c32 = np.zeros((3, 5), np.float32)
    blas.gemm(a.astype(np.float32), np.ascontiguousarray(b.T, dtype=np.float32), c32, beta=0.0, transpose_b=True)
    np.testing.assert_allclose(c32, a @ b, rtol=1e-5, atol=1e-5)
    c64 = np.zeros((3, 5))
    blas.gemm(np.ascontiguousarray(a.T), b, c64, beta=0.0, transpose_a=True)   # a given as (K, M)
    np.testing.assert_allclose(c64, a @ b)
    blas.gemm(np.ascontiguousarray(a.T), np.ascontiguousarray(b.T), c64, beta=0.0, transpose_a=True, transpose_b=True)
    np.testing.assert_allclose(c64, a @ b)


def test_matmul_hands_a_transposed_view_to_blas():
    # A weight gradient's inputs^T @ gradients: the transposed view is read in place (no copy),
    # on one thread and with its rows shared over the cores alike.
    rng = np.random.default_rng(3)
    for k, m, n in ((4096, 300, 256), (7, 5, 3)):
        a, b = rng.standard_normal((k, m), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        np.testing.assert_allclose(cv.matmul(a.T, b), a.astype(np.float64).T @ b, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_gemm_reads_a_strided_view_with_a_leading_dimension():
    base = np.arange(60, dtype=np.float64)
    view = np.lib.stride_tricks.as_strided(base[3:], shape=(4, 5), strides=(12 * 8, 8))   # rows 12 apart
    a = np.eye(4)
    c = np.zeros((4, 5))
    blas.gemm(a, view, c, beta=0.0)
    np.testing.assert_array_equal(c, view)


def test_gemm_reads_views_of_a_foreign_buffer():
    # The server's inputs are read-only views of a request's bytes (np.frombuffer): the array
    # over the bytes bounds them, and a view reaching past it is still refused.
    payload = np.frombuffer(np.arange(24, dtype=np.float32).tobytes(), np.float32)
    view = np.ndarray((4, 5), np.float32, buffer=payload, offset=4, strides=(24, 4))   # rows 6 apart
    c = np.zeros((4, 5), np.float32)
    blas.gemm(np.eye(4, dtype=np.float32), view, c, beta=0.0)
    np.testing.assert_array_equal(c, view)
    beyond = np.lib.stride_tricks.as_strided(payload[20:], shape=(2, 4), strides=(16, 4))
    with pytest.raises(ValueError, match="outside its buffer"):
        blas.gemm(np.eye(2, dtype=np.float32), beyond, np.zeros((2, 4), np.float32), beta=0.0)


@pytest.mark.parametrize("a, b, c, phrase", [
    (np.zeros((2, 3)), np.zeros((3, 4))[:, ::2], np.zeros((2, 2)), "unit inner stride"),
    (np.zeros((2, 3), np.float32), np.zeros((3, 4)), np.zeros((2, 4)), "one of"),
    (np.zeros((2, 3)), np.zeros((4, 4)), np.zeros((2, 4)), "shapes"),
    (np.zeros((2, 3)), np.lib.stride_tricks.as_strided(np.zeros(10), shape=(3, 4), strides=(32, 8)),
     np.zeros((2, 4)), "outside its buffer"),
], ids=["inner-stride", "mixed-dtypes", "shapes", "out-of-bounds-view"])
def test_gemm_refuses_views_it_cannot_pass_to_c(a, b, c, phrase):
    with pytest.raises(ValueError, match=phrase):
        blas.gemm(a, b, c, beta=0.0)


# (name, N, C, O, H, W, k, dilation, padding (top, bottom, left, right), groups): channels per
# group >= 8 so the tap path serves them.
CASES = [
    ("plain", 2, 8, 6, 7, 6, 3, (1, 1), (1, 1, 1, 1), 1),
    ("no-padding", 2, 9, 4, 6, 7, 3, (1, 1), (0, 0, 0, 0), 1),
    ("asymmetric-dilated", 2, 8, 5, 8, 7, 3, (2, 1), (0, 2, 1, 0), 1),
    ("groups", 2, 16, 8, 6, 6, 3, (1, 1), (1, 1, 1, 1), 2),
    ("wide-kernel", 1, 8, 3, 9, 9, 5, (1, 2), (2, 2, 4, 4), 1),
    ("padding-beyond-reach", 1, 8, 2, 4, 5, 2, (1, 1), (3, 0, 0, 3), 1),
]


def case_arrays(n, c, o, h, w, k, groups, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w)).astype(dtype),
            rng.standard_normal((o, c // groups, k, k)).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name, n, c, o, h, w, k, dilation, padding, groups", CASES, ids=[c[0] for c in CASES])
def test_tap_path_equals_im2col_path(monkeypatch, dtype, name, n, c, o, h, w, k, dilation, padding, groups):
    x, wt = case_arrays(n, c, o, h, w, k, groups, dtype)
    geom = cv.ConvGeometry((1, 1), dilation, padding, groups)
    assert cv._taps_apply(x, wt.shape, geom)
    taps = cv.conv2d(x, wt, geom)
    dz = np.random.default_rng(1).standard_normal(taps.shape).astype(dtype)
    dx_taps = cv.conv2d_backward_input(dz, wt, geom, (h, w))
    dw_blas = cv.conv2d_backward_weights(x, dz, wt.shape, geom)
    monkeypatch.setattr(cv, "_taps_apply", lambda *args: False)
    monkeypatch.setattr(cv.blas, "dtype_supported", lambda dtype: False)
    tol: dict[str, Any] = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(taps, cv.conv2d(x, wt, geom), **tol)
    np.testing.assert_allclose(dx_taps, cv.conv2d_backward_input(dz, wt, geom, (h, w)), **tol)
    np.testing.assert_allclose(dw_blas, cv.conv2d_backward_weights(x, dz, wt.shape, geom), **tol)


@pytest.mark.parametrize("name, n, c, o, h, w, k, dilation, padding, groups", CASES[:4], ids=[c[0] for c in CASES[:4]])
def test_tap_path_gradients_match_finite_differences(name, n, c, o, h, w, k, dilation, padding, groups):
    x, wt = case_arrays(n, c, o, h, w, k, groups, np.float64, seed=2)
    geom = cv.ConvGeometry((1, 1), dilation, padding, groups)
    proj = projection(np.random.default_rng(3), cv.conv2d(x, wt, geom).shape)
    dx = cv.conv2d_backward_input(proj, wt, geom, (h, w))
    dw = cv.conv2d_backward_weights(x, proj, wt.shape, geom)
    np.testing.assert_allclose(dx, numerical_gradient(lambda v: float((cv.conv2d(v, wt, geom) * proj).sum()), x.copy()),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numerical_gradient(lambda v: float((cv.conv2d(x, v, geom) * proj).sum()), wt.copy()),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, n, c, o, h, w, k, dilation, padding, groups", CASES, ids=[c[0] for c in CASES])
def test_tap_path_shared_over_the_cores_gives_the_same_numbers(monkeypatch, name, n, c, o, h, w, k, dilation,
                                                               padding, groups):
    # Samples shared out over threads (each thread's BLAS on one core), dW summed per block of one
    # sample: the numbers of the one-thread run, up to the order of the dW sums.
    from bnns.kernels import parallel
    x, wt = case_arrays(3 * n, c, o, h, w, k, groups, np.float64, seed=4)
    geom = cv.ConvGeometry((1, 1), dilation, padding, groups)
    dz = np.random.default_rng(5).standard_normal(cv.conv2d(x, wt, geom).shape)
    one = (cv.conv2d(x, wt, geom), cv.conv2d_backward_input(dz, wt, geom, (h, w)),
           cv.conv2d_backward_weights(x, dz, wt.shape, geom))
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1)
    shared = (cv.conv2d(x, wt, geom), cv.conv2d_backward_input(dz, wt, geom, (h, w)),
              cv.conv2d_backward_weights(x, dz, wt.shape, geom))
    for got, want in zip(shared, one):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_one_thread_sets_and_restores_this_threads_blas_thread_count():
    set_local = blas._SET_THREADS_LOCAL
    if set_local is None:
        pytest.skip("this OpenBLAS has no per-thread thread count")

    def current():
        value = set_local(1)            # returns the count it replaces
        set_local(value)
        return value

    before = current()
    with blas.one_thread():
        assert current() == 1
    assert current() == before
    with blas.threads(2):
        assert current() == 2
        with blas.one_thread():
            assert current() == 1
        assert current() == 2
    assert current() == before


@pytest.mark.parametrize("name, n, c, o, h, w, k, dilation, padding, groups", [CASES[2], CASES[3], CASES[5]],
                         ids=[CASES[i][0] for i in (2, 3, 5)])
def test_tap_path_into_strided_or_other_dtype_buffers_gives_the_plain_numbers(name, n, c, o, h, w, k, dilation,
                                                                               padding, groups):
    # The GEMMs accumulate straight into y[n] when it is one matrix of this dtype; an output that
    # is not (every other column of a wider buffer, or float64 for float32 data) goes through a
    # buffer, and a strided dz is read through a copy: the same numbers, nothing else written.
    x, wt = case_arrays(n, c, o, h, w, k, groups, np.float32, seed=6)
    geom = cv.ConvGeometry((1, 1), dilation, padding, groups)
    plain = cv.conv2d(x, wt, geom)
    wide = np.full(plain.shape[:3] + (2 * plain.shape[3],), 7.0, np.float32)
    view = wide[..., ::2]
    assert cv.conv2d(x, wt, geom, view) is view
    np.testing.assert_array_equal(wide[..., ::2], plain)
    assert np.all(wide[..., 1::2] == 7.0)
    as_float64 = np.empty(plain.shape)
    cv.conv2d(x, wt, geom, as_float64)
    np.testing.assert_array_equal(as_float64, plain)
    dz = np.random.default_rng(7).standard_normal(plain.shape).astype(np.float32)
    dz_wide = np.zeros(wide.shape, np.float32)
    dz_wide[..., ::2] = dz
    np.testing.assert_allclose(cv.conv2d_backward_weights(x, dz_wide[..., ::2], wt.shape, geom),
                               cv.conv2d_backward_weights(x, dz, wt.shape, geom), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, c, o, k, stride, padding, groups", [
    ("pointwise", 8, 5, 1, (1, 1), (0, 0, 0, 0), 1),
    ("taps", 8, 5, 3, (1, 1), (1, 0, 2, 1), 1),
    ("taps-groups", 16, 6, 3, (1, 1), (1, 1, 1, 1), 2),
    ("im2col-strided", 3, 5, 3, (2, 1), (1, 1, 0, 2), 1),
    ("im2col-phases-direct", 3, 5, 3, (2, 2), (1, 0, 1, 2), 1),
    ("im2col-phases-groups", 4, 6, 3, (1, 2), (1, 1, 1, 1), 2),
])
def test_bias_is_added_once_by_every_path(name, c, o, k, stride, padding, groups):
    # Each path adds the bias inside (as the GEMM's starting value, or while the sample is in
    # cache): y must be the plain convolution plus the bias, into a new array and into out=.
    x, wt = case_arrays(3, c, o, 7, 6, k, groups, np.float32, seed=8)
    bias = np.random.default_rng(9).standard_normal(o).astype(np.float32)
    geom = cv.ConvGeometry(stride, (1, 1), padding, groups)
    want = cv.conv2d(x.astype(np.float64), wt.astype(np.float64), geom) + bias.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(cv.conv2d(x, wt, geom, bias=bias), want, rtol=1e-5, atol=1e-5)
    out = np.empty(want.shape, np.float32)
    assert cv.conv2d(x, wt, geom, out, bias) is out
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
