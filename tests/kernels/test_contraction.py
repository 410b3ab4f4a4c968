"""BroadcastMatMul, TensorContraction and Gram (kernels/contraction.py): forward against scalar
loops in float64, backward for both inputs (and weights) against central differences, beta
accumulation, and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bnns.kernels import contraction as ct
from bnns.kernels import layout as L
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import BroadcastMatMulParameters, GramParameters, TensorContractionParameters
from tests.numeric import assert_gradient_matches, projection

BATCH = 2
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-8     # float64 central differences on polynomial maps


def desc(shape, data=None):
    layout = {1: L.LAYOUT_VECTOR, 2: L.LAYOUT_ROW_MAJOR_MATRIX, 3: L.LAYOUT_3D_LAST_MAJOR,
              4: 0x48000}[len(shape)]
    return L.Descriptor.for_shape(layout, shape, data)


# ------------------------------------------------------------------------------------ BroadcastMatMul
def naive_matmul(a, b, alpha, trans_a, trans_b, out_shape, a_weights=False, b_weights=False):
    """Scalar loop: out[n, *batch, i, j] = alpha * sum_k opA[i, k] * opB[k, j], batch axes
    right-aligned and broadcast from 1; weights (no batch axis) shared by every sample."""
    n = b.shape[0] if a_weights else a.shape[0]
    out = np.zeros((n,) + out_shape)
    rank = len(out_shape)

    def entry(x, weights, sample, idx, row, col, trans):
        item = x if weights else x[sample]
        lead_dims = item.ndim - 2
        lead = tuple(0 if item.shape[d] == 1 else idx[rank - 2 - lead_dims + d] for d in range(lead_dims))
        return item[lead + ((col, row) if trans else (row, col))]

    k_size = a.shape[-2] if trans_a else a.shape[-1]
    for index in np.ndindex(*out.shape):
        s, idx, i, j = index[0], index[1:-2], index[-2], index[-1]
        out[index] = alpha * sum(entry(a, a_weights, s, idx, i, k, trans_a)
                                 * entry(b, b_weights, s, idx, k, j, trans_b) for k in range(k_size))
    return out


MATMUL_CASES = [
    # (a shape, b shape, transA, transB, a weights, b weights)
    pytest.param((3, 4), (4, 5), False, False, False, False, id="plain"),
    pytest.param((4, 3), (5, 4), True, True, False, False, id="both_transposed"),
    pytest.param((2, 3, 4), (4, 5), False, False, False, True, id="weights_b_broadcast"),
    pytest.param((3, 4), (2, 4, 5), False, False, True, False, id="weights_a"),
    pytest.param((2, 1, 3, 4), (3, 5, 4), False, True, False, False, id="batch_axes_broadcast"),
]


def matmul_filter(rng, a_shape, b_shape, ta, tb, wa, wb, alpha=0.7, beta=0.0):
    a_data = rng.standard_normal(a_shape) if wa else None
    b_data = rng.standard_normal(b_shape) if wb else None
    m = a_shape[-1] if ta else a_shape[-2]
    p = b_shape[-2] if tb else b_shape[-1]
    batch_shape = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    out_shape = tuple(batch_shape) + (m, p)
    params = BroadcastMatMulParameters(ia_desc=desc(a_shape, a_data), ib_desc=desc(b_shape, b_data), o_desc=desc(out_shape),
                                       alpha=alpha, beta=beta, trans_a=ta, trans_b=tb,
                                       a_is_weights=wa, b_is_weights=wb)
    return ct.BroadcastMatMulFilter(params), a_data, b_data, out_shape


@pytest.mark.parametrize("a_shape, b_shape, ta, tb, wa, wb", MATMUL_CASES)
def test_matmul_forward_matches_scalar_loop(a_shape, b_shape, ta, tb, wa, wb):
    rng = np.random.default_rng(0)
    filt, a_data, b_data, out_shape = matmul_filter(rng, a_shape, b_shape, ta, tb, wa, wb)
    a = None if wa else rng.standard_normal((BATCH,) + a_shape)
    b = None if wb else rng.standard_normal((BATCH,) + b_shape)
    y = filt.apply(a, b)
    ref = naive_matmul(a_data.astype(np.float32).astype(np.float64) if wa else a,
                       b_data.astype(np.float32).astype(np.float64) if wb else b, 0.7, ta, tb, out_shape, wa, wb)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("a_shape, b_shape, ta, tb, wa, wb", MATMUL_CASES)
def test_matmul_backward_matches_finite_differences(a_shape, b_shape, ta, tb, wa, wb):
    rng = np.random.default_rng(1)
    filt, _, _, out_shape = matmul_filter(rng, a_shape, b_shape, ta, tb, wa, wb)
    a = rng.standard_normal((BATCH,) + a_shape)
    b = rng.standard_normal((BATCH,) + b_shape)
    weights = filt.parameters()
    a_val = weights["a"].astype(np.float64) if wa else a
    b_val = weights["b"].astype(np.float64) if wb else b
    proj = projection(rng, (BATCH,) + out_shape)
    d_a, d_b = filt.apply_backward(None if wa else a, None if wb else b, proj)
    assert d_a.shape == a_val.shape and d_b.shape == b_val.shape

    def loss(av, bv):
        av4 = av if not wa else av[None]
        bv4 = bv if not wb else bv[None]
        pad = len(out_shape) + 1
        av4 = av4.reshape((av4.shape[0],) + (1,) * (pad - av4.ndim) + av4.shape[1:])
        bv4 = bv4.reshape((bv4.shape[0],) + (1,) * (pad - bv4.ndim) + bv4.shape[1:])
        return float(np.sum(proj * ct.matmul(av4, bv4, alpha=0.7, trans_a=ta, trans_b=tb)))

    assert_gradient_matches(d_a, lambda v: loss(v, b_val), a_val, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_gradient_matches(d_b, lambda v: loss(a_val, v), b_val, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_matmul_gradient_of_one_input_needs_only_the_other():
    rng = np.random.default_rng(2)
    filt, *_ = matmul_filter(rng, (3, 4), (4, 5), False, False, False, False)
    a, b = rng.standard_normal((BATCH, 3, 4)), rng.standard_normal((BATCH, 4, 5))
    d_out = rng.standard_normal((BATCH, 3, 5))
    d_a, d_b = filt.apply_backward(None, b, d_out, b_grad=False)
    assert d_b is None
    np.testing.assert_allclose(d_a, 0.7 * d_out @ np.swapaxes(b, 1, 2), rtol=1e-12)
    d_a, d_b = filt.apply_backward(a, None, d_out, a_grad=False)
    assert d_a is None
    np.testing.assert_allclose(d_b, 0.7 * np.swapaxes(a, 1, 2) @ d_out, rtol=1e-12)


def test_matmul_beta_adds_previous_output():
    rng = np.random.default_rng(3)
    filt, *_ = matmul_filter(rng, (3, 4), (4, 5), False, False, False, False, alpha=1.0, beta=1.0)
    a, b = rng.standard_normal((BATCH, 3, 4)), rng.standard_normal((BATCH, 4, 5))
    out = rng.standard_normal((BATCH, 3, 5))
    expected = a @ b + out
    result = filt.apply(a, b, out=out)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    with pytest.raises(InvalidArgumentError, match="beta 1.0 adds the output's previous contents"):
        filt.apply(a, b)


MATMUL_ERRORS = [
    pytest.param(dict(a=(3, 4), b=(5, 6), o=(3, 6)), r"op\(A\) is 3x4 .* op\(B\) is 5x6", id="inner"),
    pytest.param(dict(a=(2, 3, 4), b=(3, 4, 5), o=(2, 3, 5)), r"batch axes \(2,\) .* \(3,\) .* do not broadcast",
                 id="batch_axes"),
    pytest.param(dict(a=(3, 4), b=(4, 5), o=(3, 6)), r"o_desc shape \(3, 6\) .* product's shape \(3, 5\)",
                 id="output"),
    pytest.param(dict(a=(4,), b=(4, 5), o=(5,)), r"iA_desc has shape \(4,\); a matrix operand needs rank",
                 id="vector"),
    pytest.param(dict(a=(3, 4), b=(4, 5), o=(3, 5), alpha=float("inf")), "alpha inf must be a finite",
                 id="alpha"),
    pytest.param(dict(a=(3, 4), b=(4, 5), o=(3, 5), a_is_weights=True), "iA_desc \\(weights\\) has no data",
                 id="weights_without_data"),
    pytest.param(dict(a=(3, 4), b=(4, 5), o=(3, 5), beta=0.5), "beta 0.5 must be 0 or 1", id="beta"),
    pytest.param(dict(a=(3, 4), b=None, o=(3, 5)), "iB_desc is not set; only a quadratic product", id="no_b"),
]


@pytest.mark.parametrize("case, message", MATMUL_ERRORS)
def test_matmul_invalid_parameters_raise_invalid_argument(case, message):
    case = dict(case)
    a, b, o = case.pop("a"), case.pop("b"), case.pop("o")
    with pytest.raises(InvalidArgumentError, match=message):
        ct.BroadcastMatMulFilter(BroadcastMatMulParameters(ia_desc=desc(a), ib_desc=b and desc(b), o_desc=desc(o), **case))


def test_matmul_with_both_operands_weights_is_refused():
    w = np.ones((3, 3))
    with pytest.raises(InvalidArgumentError, match="every operand of this BroadcastMatMul is weights"):
        ct.BroadcastMatMulFilter(BroadcastMatMulParameters(ia_desc=desc((3, 3), w), ib_desc=desc((3, 3), w), o_desc=desc((3, 3)),
                                                           a_is_weights=True, b_is_weights=True))


def test_quadratic_multiplies_a_by_itself_and_sums_both_gradients():
    rng = np.random.default_rng(12)
    filt = ct.BroadcastMatMulFilter(BroadcastMatMulParameters(
        ia_desc=desc((4, 3)), ib_desc=desc((7, 7)), o_desc=desc((3, 3)), alpha=0.5, trans_a=True, quadratic=True))
    a = rng.standard_normal((BATCH, 4, 3))
    np.testing.assert_allclose(filt.apply(a, None), naive_matmul(a, a, 0.5, True, False, (3, 3)), rtol=1e-12)
    proj = projection(rng, (BATCH, 3, 3))
    d_a, d_b = filt.apply_backward(a, None, proj)
    assert d_b is None
    assert_gradient_matches(d_a, lambda v: float(np.sum(proj * (0.5 * np.swapaxes(v, 1, 2) @ v))), a,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)
    with pytest.raises(InvalidArgumentError, match="a quadratic BroadcastMatMul multiplies A by itself"):
        filt.apply(a, a)


def test_matmul_apply_errors_name_the_operand():
    rng = np.random.default_rng(4)
    filt, *_ = matmul_filter(rng, (3, 4), (4, 5), False, False, False, True)
    a = np.ones((BATCH, 3, 4))
    with pytest.raises(InvalidArgumentError, match="apply b is weights"):
        filt.apply(a, np.ones((BATCH, 4, 5)))
    with pytest.raises(InvalidArgumentError, match=r"a has shape \(2, 4, 3\)"):
        filt.apply(np.ones((BATCH, 4, 3)), None)
    with pytest.raises(InvalidArgumentError, match="apply_backward a .* is needed here"):
        filt.apply_backward(None, None, np.ones((BATCH, 3, 5)))


# ------------------------------------------------------------------------------------ TensorContraction
def naive_contraction(operation, arrays, alpha):
    """All index assignments, one product at a time (no '*', per-sample arrays have axis 0 batch)."""
    inputs, output = ct.parse_operation(operation)
    extents = {}
    batch = None
    for term, arr in zip(inputs, arrays):
        shape = arr.shape if term.is_weights else arr.shape[1:]
        if not term.is_weights:
            batch = arr.shape[0]
        extents.update(dict(zip(term.named, shape)))
    letters = sorted(extents)
    assert batch is not None, "no per-sample operand"
    out = np.zeros((batch,) + tuple(extents[c] for c in output.named))
    for n in range(batch):
        for values in itertools.product(*(range(extents[c]) for c in letters)):
            at = dict(zip(letters, values))
            prod = alpha
            for term, arr in zip(inputs, arrays):
                idx = tuple(at[c] for c in term.named)
                prod *= arr[idx] if term.is_weights else arr[(n,) + idx]
            out[(n,) + tuple(at[c] for c in output.named)] += prod
    return out


CONTRACTION_CASES = [
    pytest.param("a_ijp, b_ijq -> o_pq", [(2, 3, 4), (2, 3, 5)], id="doc_example"),
    pytest.param("a_ij, w_jk -> o_ik", [(3, 4), (4, 2)], id="weights"),
    pytest.param("w_ij, b_jk -> o_ki", [(3, 4), (4, 2)], id="weights_first_transposed_out"),
    pytest.param("a_ijk -> o_ki", [(2, 3, 4)], id="one_input_sum_and_permute"),
    pytest.param("a_ij, b_k -> o_ijk", [(2, 3), (4,)], id="outer"),
    pytest.param("a_ij, b_jk -> o_i", [(2, 3), (3, 4)], id="sums_index_of_b_only"),
]


def contraction_filter(rng, operation, shapes, alpha=1.5, beta=0.0):
    inputs, output = ct.parse_operation(operation)
    datas = [rng.standard_normal(s) if t.is_weights else None for t, s in zip(inputs, shapes)]
    extents = {}
    for t, s in zip(inputs, shapes):
        extents.update(dict(zip(t.named, s)))
    out_shape = tuple(extents[c] for c in output.named)
    descs = [desc(s, d) for s, d in zip(shapes, datas)] + [None]
    return ct.TensorContractionFilter(TensorContractionParameters(
        operation=operation, ia_desc=descs[0], ib_desc=descs[1], o_desc=desc(out_shape), alpha=alpha, beta=beta)), datas, out_shape


@pytest.mark.parametrize("operation, shapes", CONTRACTION_CASES)
def test_contraction_forward_matches_index_loop(operation, shapes):
    rng = np.random.default_rng(5)
    filt, datas, _ = contraction_filter(rng, operation, shapes)
    samples = [None if d is not None else rng.standard_normal((BATCH,) + s) for d, s in zip(datas, shapes)]
    y = filt.apply(*samples)
    ref_arrays = [d.astype(np.float32).astype(np.float64) if d is not None else s for d, s in zip(datas, samples)]
    np.testing.assert_allclose(y, naive_contraction(operation, ref_arrays, 1.5), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("operation, shapes", CONTRACTION_CASES)
def test_contraction_backward_matches_finite_differences(operation, shapes):
    rng = np.random.default_rng(6)
    filt, datas, out_shape = contraction_filter(rng, operation, shapes)
    weights = filt.parameters()
    names = ("a", "b")
    samples = [None if d is not None else rng.standard_normal((BATCH,) + s) for d, s in zip(datas, shapes)]
    values = [weights[names[k]].astype(np.float64) if samples[k] is None else samples[k]
              for k in range(len(shapes))]
    proj = projection(rng, (BATCH,) + out_shape)
    grads = filt.apply_backward(*(samples + [None] * (2 - len(samples))), proj)
    for k in range(len(shapes)):
        def loss(v, k=k):
            vals = list(values)
            vals[k] = v
            return float(np.sum(proj * naive_contraction(operation, vals, 1.5)))
        grad, value = grads[k], values[k]
        assert grad is not None and value is not None and grad.shape == value.shape
        assert_gradient_matches(grad, loss, value, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    if len(shapes) == 1:
        assert grads[1] is None


def test_contraction_star_broadcasts_like_batched_matmul():
    rng = np.random.default_rng(7)
    a_shape, b_shape = (2, 1, 3, 4), (3, 4, 5)
    filt = ct.TensorContractionFilter(TensorContractionParameters(
        operation="a_*ij, b_*jk -> o_*ik", ia_desc=desc(a_shape), ib_desc=desc(b_shape), o_desc=desc((2, 3, 3, 5))))
    a, b = rng.standard_normal((BATCH,) + a_shape), rng.standard_normal((BATCH,) + b_shape)
    np.testing.assert_allclose(filt.apply(a, b), naive_matmul(a, b, 1.0, False, False, (2, 3, 3, 5)),
                               rtol=1e-12)
    proj = projection(rng, (BATCH, 2, 3, 3, 5))
    d_a, d_b = filt.apply_backward(a, b, proj)
    assert_gradient_matches(d_a, lambda v: float(np.sum(proj * np.matmul(v, b[:, None]))), a,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_gradient_matches(d_b, lambda v: float(np.sum(proj * np.matmul(a, v[:, None]))), b,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_contraction_beta_one_accumulates():
    rng = np.random.default_rng(8)
    filt, _, _ = contraction_filter(rng, "a_ij, b_jk -> o_ik", [(2, 3), (3, 4)], alpha=1.0, beta=1.0)
    a, b = rng.standard_normal((BATCH, 2, 3)), rng.standard_normal((BATCH, 3, 4))
    out = np.ones((BATCH, 2, 4))
    filt.apply(a, b, out=out)
    np.testing.assert_allclose(out, a @ b + 1, rtol=1e-12)


CONTRACTION_ERRORS = [
    pytest.param("a_ij b_jk -> o_ik", [(2, 3)], (2, 4), "term 'a_ijb_jk' is not <name>_", id="no_comma"),
    pytest.param("a_ij, b_jk", [(2, 3), (3, 4)], (2, 4), "exactly one '->'", id="no_arrow"),
    pytest.param("a_ii -> o_i", [(3, 3)], (3,), "repeats index i", id="diagonal"),
    pytest.param("a_ij, b_jk -> o_iz", [(2, 3), (3, 4)], (2, 4), "output index z appears in no input",
                 id="unknown_output_index"),
    pytest.param("a_ij, b_jk -> o_ik", [(2, 3), (4, 4)], (2, 4), "index j .* extent 3 .* and 4",
                 id="extent_mismatch"),
    pytest.param("a_ij, b_jk -> o_ik", [(2, 3), (3, 4)], (2, 5), r"o_desc shape \(2, 5\) .* differs",
                 id="output_shape"),
    pytest.param("a_ijk, b_jk -> o_ik", [(2, 3), (3, 4)], (2, 4), "iA_desc has rank 2 .* names 3",
                 id="rank"),
    pytest.param("w_ij, w_jk -> o_ik", [(2, 3), (3, 4)], (2, 4), "at most one input may be weights",
                 id="all_weights"),
    pytest.param("a_IJ -> o_IJ", [(2, 3)], (2, 3), "is not <name>_", id="upper_case"),
    pytest.param("a_*i, w_i -> o_i", [(2, 3), (3,)], (3,), "never summed", id="star_summed"),
    pytest.param("a_*i, b_i* -> o_*i", [(2, 3), (3, 2)], (2, 3), "same position", id="star_positions"),
    pytest.param("a_i*j -> o_*ij", [(2, 3, 4)], (3, 2, 4), "must be the first or the last", id="star_middle"),
]


@pytest.mark.parametrize("operation, shapes, out_shape, message", CONTRACTION_ERRORS)
def test_contraction_invalid_parameters_raise_invalid_argument(operation, shapes, out_shape, message):
    descs = [desc(s, np.ones(s)) for s in shapes] + [None]
    with pytest.raises(InvalidArgumentError, match=message):
        ct.TensorContractionFilter(TensorContractionParameters(operation=operation, ia_desc=descs[0], ib_desc=descs[1], o_desc=desc(out_shape)))


def test_contraction_beta_other_than_zero_or_one_is_refused():
    with pytest.raises(InvalidArgumentError, match="beta 0.5 must be 0 or 1"):
        ct.TensorContractionFilter(TensorContractionParameters(
            operation="a_ij -> o_ji", ia_desc=desc((2, 3)), ib_desc=None, o_desc=desc((3, 2)), beta=0.5))


# ------------------------------------------------------------------------------------ Gram
def naive_gram(x, alpha):
    """x (N, *lead, I, J, F): G[n, *lead, f, c] = alpha * sum_{i, j} x[.., i, j, f] * x[.., i, j, c]."""
    f = x.shape[-1]
    g = np.zeros(x.shape[:-3] + (f, f))
    for lead in np.ndindex(*x.shape[:-3]):
        for a, c in np.ndindex(f, f):
            for i, j in np.ndindex(*x.shape[-3:-1]):
                g[lead + (a, c)] += alpha * x[lead + (i, j, a)] * x[lead + (i, j, c)]
    return g


@pytest.mark.parametrize("shape, out_shape", [((4, 5, 3), (3, 3)), ((2, 4, 5, 3), (2, 3, 3))],
                         ids=["rank3", "rank4_broadcast_lead"])
def test_gram_forward_matches_loop_and_backward_matches_finite_differences(shape, out_shape):
    rng = np.random.default_rng(9)
    layout = L.LAYOUT_3D_LAST_MAJOR if len(shape) == 3 else 0x48000
    filt = ct.GramFilter(GramParameters(i_desc=L.Descriptor.for_shape(layout, shape), o_desc=desc(out_shape), alpha=0.5))
    x = rng.standard_normal((BATCH,) + shape)
    np.testing.assert_allclose(filt.apply(x), naive_gram(x, 0.5), rtol=1e-12)
    proj = projection(rng, (BATCH,) + out_shape)
    d_in, d_w, d_b = filt.apply_backward(x, None, proj)
    assert d_w is None and d_b is None
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * naive_gram(v, 0.5))), x,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_gram_equals_its_self_contraction():
    rng = np.random.default_rng(10)
    shape = (2, 4, 5, 3)
    contraction = ct.TensorContractionFilter(TensorContractionParameters(
        operation="x_*ijf, x_*ijc -> G_*fc", ia_desc=desc(shape), ib_desc=None, o_desc=desc((2, 3, 3)), alpha=0.5))
    gram = ct.GramFilter(GramParameters(i_desc=desc(shape), o_desc=desc((2, 3, 3)), alpha=0.5))
    assert contraction.is_self_contraction and contraction.arity == 1
    x = rng.standard_normal((BATCH,) + shape)
    np.testing.assert_allclose(contraction.apply(x), gram.apply(x), rtol=1e-12)
    proj = projection(rng, (BATCH, 2, 3, 3))
    d_x, d_none = contraction.apply_backward(x, None, proj)
    assert d_none is None
    np.testing.assert_allclose(d_x, gram.apply_backward(x, None, proj)[0], rtol=1e-12)


def test_contraction_broadcasts_letters_of_extent_one():
    rng = np.random.default_rng(13)
    filt = ct.TensorContractionFilter(TensorContractionParameters(
        operation="a_ij, b_ij -> o_ij", ia_desc=desc((1, 4)), ib_desc=desc((3, 4)), o_desc=desc((3, 4))))
    a, b = rng.standard_normal((BATCH, 1, 4)), rng.standard_normal((BATCH, 3, 4))
    np.testing.assert_allclose(filt.apply(a, b), a * b, rtol=1e-12)
    proj = projection(rng, (BATCH, 3, 4))
    d_a, d_b = filt.apply_backward(a, b, proj)
    assert_gradient_matches(d_a, lambda v: float(np.sum(proj * v * b)), a, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_gradient_matches(d_b, lambda v: float(np.sum(proj * a * v)), b, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_gram_errors():
    with pytest.raises(InvalidArgumentError, match=r"o_desc shape \(4, 4\) .* must be \(3, 3\)"):
        ct.GramFilter(GramParameters(i_desc=desc((4, 5, 3)), o_desc=desc((4, 4))))
    with pytest.raises(InvalidArgumentError, match=r"Gram needs rank >= 3"):
        ct.GramFilter(GramParameters(i_desc=desc((5, 3)), o_desc=desc((3, 3))))
    filt = ct.GramFilter(GramParameters(i_desc=desc((4, 5, 3)), o_desc=desc((3, 3))))
    with pytest.raises(InvalidArgumentError, match="x .* is needed for the Gram backward"):
        filt.apply_backward(None, None, np.ones((BATCH, 3, 3)))  # type: ignore[arg-type]  # None on purpose


@pytest.mark.parametrize("operation, a_shape, w_shape, out_shape, reference", [
    pytest.param("a_*ij, w_jk -> o_*ik", (2, 3, 4), (4, 5), (2, 3, 5), lambda a, w: np.matmul(a, w),
                 id="weights_against_star"),
    pytest.param("a_i*, w_i -> o_*", (4, 2, 3), (4,), (2, 3), lambda a, w: np.einsum("nist,i->nst", a, w),
                 id="star_last_weights_without_star"),
])
def test_contraction_star_gradients_for_weights_match_finite_differences(operation, a_shape, w_shape,
                                                                         out_shape, reference):
    rng = np.random.default_rng(11)
    w = rng.standard_normal(w_shape)
    filt = ct.TensorContractionFilter(TensorContractionParameters(
        operation=operation, ia_desc=desc(a_shape), ib_desc=desc(w_shape, w), o_desc=desc(out_shape)))
    w = filt.parameters()["b"].astype(np.float64)
    a = rng.standard_normal((BATCH,) + a_shape)
    np.testing.assert_allclose(filt.apply(a, None), reference(a, w), rtol=1e-12)
    proj = projection(rng, (BATCH,) + out_shape)
    d_a, d_w = filt.apply_backward(a, None, proj)
    assert_gradient_matches(d_a, lambda v: float(np.sum(proj * reference(v, w))), a,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_gradient_matches(d_w, lambda v: float(np.sum(proj * reference(a, v))), w,
                            rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("b_is_weights, trans_a", [(True, False), (False, False), (True, True)])
def test_broadcast_matmul_writes_into_a_strided_out_as_it_returns(b_is_weights, trans_a):
    """out= (the caller's memory, possibly strided) gets exactly the product returned without it,
    through the one-GEMM path of a shared B and the stacked path alike."""
    rng = np.random.default_rng(8)
    a_shape = (2, 5, 4) if trans_a else (2, 4, 5)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    desc = lambda shape, data=None: L.Descriptor.for_shape(L.LAYOUT_3D_FIRST_MAJOR if len(shape) == 3
                                                           else L.LAYOUT_ROW_MAJOR_MATRIX, shape, data)
    f = ct.BroadcastMatMulFilter(BroadcastMatMulParameters(
        ia_desc=desc(a_shape), ib_desc=desc((5, 3), w if b_is_weights else None), o_desc=desc((2, 4, 3)),
        alpha=0.5, trans_a=trans_a, b_is_weights=b_is_weights))
    a = rng.standard_normal((3,) + a_shape).astype(np.float32)
    b = None if b_is_weights else np.broadcast_to(w, (3, 5, 3)).copy()
    expected = f.apply(a, b)
    memory = np.full((3, 2, 4, 5), 9.0, np.float32)
    out = memory[..., :3]                                       # rows 5 apart: not contiguous
    assert f.apply(a, b, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert np.all(memory[..., 3:] == 9.0)
    np.testing.assert_allclose(expected, 0.5 * (np.swapaxes(a, -1, -2) if trans_a else a) @ w, rtol=1e-5, atol=1e-5)
