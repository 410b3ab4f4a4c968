"""Reduction filter (kernels/reduction.py): every BNNSReduceFunction against a scalar loop over
each output element, weighted and not, on one and on several reduced dimensions; gradients of the
differentiable ones against central differences (inputs and weights); and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnns.kernels import layout as L
from bnns.kernels import reduction as rd
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import ReductionParameters
from tests.numeric import assert_gradient_matches, projection

SIZE = (4, 3, 2)          # ImageCHW size (W, H, C): NumPy view (2, 3, 4)
EPS = 0.25


# ------------------------------------------------------------------------------------ domains
# Each draws values where the function is smooth so central differences never straddle a kink.
def distinct(rng, shape):         # Max/Min/ArgMax/ArgMin/L1Norm: no ties, away from 0
    return rng.permutation(np.arange(1, math.prod(shape) + 1)).reshape(shape) * rng.choice([-1.0, 1.0], shape) / 7


def positive(rng, shape):         # SumLog, LogSum, Product
    return rng.uniform(0.5, 2.0, shape)


def any_real(rng, shape):
    return rng.uniform(-2, 2, shape)


def with_zeros(rng, shape):       # MeanNonZero, logical functions
    return np.where(rng.random(shape) < 0.3, 0.0, rng.uniform(0.5, 2, shape) * rng.choice([-1, 1], shape))


def scalar(fn, values, eps=EPS, counted=None):
    """One output element from the list of (weighted) values, written out plainly."""
    v = list(values)
    if fn == rd.MAX:
        return max(v)
    if fn == rd.MIN:
        return min(v)
    if fn == rd.ARG_MAX:
        return float(v.index(max(v)))
    if fn == rd.ARG_MIN:
        return float(v.index(min(v)))
    if fn == rd.MEAN:
        return sum(v) / len(v)
    if fn == rd.MEAN_NON_ZERO:
        counted = [a != 0 for a in v] if counted is None else counted
        n = sum(counted)
        return sum(a for a, c in zip(v, counted) if c) / n if n else 0.0
    if fn == rd.SUM:
        return sum(v)
    if fn == rd.SUM_SQUARE:
        return sum(a * a for a in v)
    if fn == rd.SUM_LOG:
        return sum(math.log(a + eps) for a in v)
    if fn == rd.L1_NORM:
        return sum(abs(a) for a in v)
    if fn == rd.LOGICAL_OR:
        return float(any(a != 0 for a in v))
    if fn == rd.LOGICAL_AND:
        return float(all(a != 0 for a in v))
    if fn == rd.L2_NORM:
        return math.sqrt(sum(a * a for a in v))
    if fn == rd.LOG_SUM_EXP:
        return math.log(sum(math.exp(a) for a in v))
    if fn == rd.PRODUCT:
        return math.prod(v)
    if fn == rd.LOG_SUM:
        return math.log(sum(v))
    raise AssertionError(fn)


FUNCTIONS = [
    (rd.MAX, distinct), (rd.MIN, distinct), (rd.ARG_MAX, distinct), (rd.ARG_MIN, distinct),
    (rd.MEAN, any_real), (rd.MEAN_NON_ZERO, with_zeros), (rd.SUM, any_real), (rd.SUM_SQUARE, any_real),
    (rd.SUM_LOG, positive), (rd.L1_NORM, distinct), (rd.LOGICAL_OR, with_zeros), (rd.LOGICAL_AND, with_zeros),
    (rd.L2_NORM, any_real), (rd.LOG_SUM_EXP, any_real), (rd.PRODUCT, positive), (rd.LOG_SUM, positive),
]
REDUCED = [((1, 3, 2), (0,)), ((4, 1, 1), (1, 2)), ((1, 1, 1), (0, 1, 2))]   # out size, reduced dims


def make(fn, out_size, weights=None):
    i_desc = L.Descriptor(L.LAYOUT_IMAGE_CHW, SIZE)
    o_desc = L.Descriptor(L.LAYOUT_IMAGE_CHW, out_size)
    w_desc = None if weights is None else L.Descriptor.for_shape(L.LAYOUT_IMAGE_CHW, weights.shape, weights)
    return rd.ReductionFilter(ReductionParameters(i_desc=i_desc, o_desc=o_desc, reduce_func=fn, w_desc=w_desc, epsilon=EPS))


def naive(fn, x, out_size, reduced, w=None):
    """Loop over output positions (BNNS dims (w, h, c) -> view [c, h, w]), gather the block in
    order with size[0] fastest."""
    n = x.shape[0]
    out = np.zeros((n,) + tuple(reversed(out_size)))
    for s in range(n):
        for pos in np.ndindex(*out_size):
            values, counted = [], []
            ranges = [range(SIZE[d]) if d in reduced else [pos[d]] for d in range(3)]
            for c in ranges[2]:
                for h in ranges[1]:
                    for ww in ranges[0]:
                        weight = 1.0 if w is None else w[c, h, ww]
                        values.append(x[s, c, h, ww] * weight)
                        counted.append(weight != 0 if w is not None else x[s, c, h, ww] != 0)
            out[(s,) + tuple(reversed(pos))] = scalar(fn, values, counted=counted)
    return out


@pytest.mark.parametrize("out_size, reduced", REDUCED, ids=["w", "h_and_c", "all"])
@pytest.mark.parametrize("fn, domain", FUNCTIONS, ids=[rd.NAMES[f] for f, _ in FUNCTIONS])
def test_forward_matches_scalar_loop(fn, domain, out_size, reduced):
    rng = np.random.default_rng(fn)
    x = domain(rng, (2,) + tuple(reversed(SIZE)))
    y = make(fn, out_size).apply(x)
    np.testing.assert_allclose(y, naive(fn, x, out_size, reduced), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn, domain", FUNCTIONS, ids=[rd.NAMES[f] for f, _ in FUNCTIONS])
def test_weighted_forward_matches_scalar_loop(fn, domain):
    rng = np.random.default_rng(100 + fn)
    x = domain(rng, (2,) + tuple(reversed(SIZE)))
    w = rng.uniform(0.5, 1.5, tuple(reversed(SIZE))).astype(np.float32)
    w[0, 0, :2] = 0 if fn == rd.MEAN_NON_ZERO else w[0, 0, :2]
    y = make(fn, (4, 1, 1), w).apply(x)
    np.testing.assert_allclose(y, naive(fn, x, (4, 1, 1), (1, 2), w.astype(np.float64)), rtol=1e-12, atol=1e-12)


DIFFERENTIABLE = [(f, d) for f, d in FUNCTIONS if f not in rd.NOT_DIFFERENTIABLE]


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("fn, domain", DIFFERENTIABLE, ids=[rd.NAMES[f] for f, _ in DIFFERENTIABLE])
def test_backward_matches_finite_differences(fn, domain, weighted):
    rng = np.random.default_rng(200 + fn)
    if fn == rd.MEAN_NON_ZERO and not weighted:
        domain = distinct     # the count jumps where an input crosses 0: no derivative there
    x = domain(rng, (2,) + tuple(reversed(SIZE)))
    w = rng.uniform(0.5, 1.5, tuple(reversed(SIZE))).astype(np.float32) if weighted else None
    filt = make(fn, (1, 3, 1), w)
    proj = projection(rng, (2, 1, 3, 1))
    d_in, d_w, d_b = filt.apply_backward(x, None, proj, weights_grad=weighted)
    assert d_b is None
    wv = None if w is None else w.astype(np.float64)
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * naive(fn, v, (1, 3, 1), (0, 2), wv))), x,
                            rtol=1e-6, atol=1e-8)
    if weighted:
        assert wv is not None
        assert_gradient_matches(d_w, lambda v: float(np.sum(proj * naive(fn, x, (1, 3, 1), (0, 2), v))), wv,
                                rtol=1e-6, atol=1e-8)


def test_max_ties_split_the_gradient_and_product_handles_zeros():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0]]]])
    filt = rd.ReductionFilter(ReductionParameters(i_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (4, 1, 1)),
                                                  o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (1, 1, 1)), reduce_func=rd.MAX))
    np.testing.assert_allclose(filt.apply_backward(x, None, np.ones((1, 1, 1, 1)))[0], [[[[0, 0.5, 0.5, 0]]]])
    prod = rd.ReductionFilter(ReductionParameters(i_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (4, 1, 1)),
                                                  o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (1, 1, 1)), reduce_func=rd.PRODUCT))
    np.testing.assert_allclose(prod.apply_backward(x, None, np.ones((1, 1, 1, 1)))[0], [[[[0, 0, 0, 9.0]]]])
    x2 = np.array([[[[2.0, 0.0, 0.0, 5.0]]]])
    np.testing.assert_allclose(prod.apply_backward(x2, None, np.ones((1, 1, 1, 1)))[0], [[[[0, 0, 0, 0]]]])


def test_mean_non_zero_sends_no_gradient_to_uncounted_inputs():
    x = np.array([[[[2.0, 0.0, 4.0, 0.0]]]])
    filt = rd.ReductionFilter(ReductionParameters(i_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (4, 1, 1)),
                                                  o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (1, 1, 1)), reduce_func=rd.MEAN_NON_ZERO))
    np.testing.assert_allclose(filt.apply(x), [[[[3.0]]]])
    np.testing.assert_allclose(filt.apply_backward(x, None, np.ones((1, 1, 1, 1)))[0], [[[[0.5, 0, 0.5, 0]]]])
    np.testing.assert_array_equal(filt.apply(np.zeros((1, 1, 1, 4))), [[[[0.0]]]])


def test_direct_apply_equals_the_filter():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2,) + tuple(reversed(SIZE)))
    params = ReductionParameters(i_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, SIZE), o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, (1, 3, 2)),
                                 reduce_func=rd.SUM)
    np.testing.assert_allclose(rd.direct_apply(params, x), x.sum(axis=3, keepdims=True), rtol=1e-12)


ERRORS = [
    pytest.param(dict(fn=15), "reduce_func None \\(15\\) copies", id="none"),
    pytest.param(dict(fn=17), "reduce_func 17 is not a BNNSReduceFunction", id="unknown"),
    pytest.param(dict(out=(2, 3, 2)), r"o_desc.size \(2, 3, 2\) must equal i_desc.size \(4, 3, 2\) except",
                 id="output_size"),
    pytest.param(dict(w=np.ones((2, 3, 3), np.float32)), r"w_desc.size \(3, 3, 2\) must equal i_desc.size",
                 id="weights_size"),
    pytest.param(dict(eps=float("inf")), "epsilon inf must be a finite number", id="epsilon"),
]


@pytest.mark.parametrize("case, message", ERRORS)
def test_invalid_parameters_raise_invalid_argument(case, message):
    w = case.get("w")
    with pytest.raises(InvalidArgumentError, match=message):
        rd.ReductionFilter(ReductionParameters(
            i_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, SIZE), o_desc=L.Descriptor(L.LAYOUT_IMAGE_CHW, case.get("out", (1, 3, 2))),
            reduce_func=case.get("fn", rd.SUM), w_desc=None if w is None else L.Descriptor.for_shape(L.LAYOUT_IMAGE_CHW, w.shape, w),
            epsilon=case.get("eps", 0.0)))


def test_gradients_that_do_not_exist_are_invalid_argument():
    x = np.ones((1,) + tuple(reversed(SIZE)))
    for fn in rd.NOT_DIFFERENTIABLE:
        with pytest.raises(InvalidArgumentError, match=f"reduce_func {rd.NAMES[fn]} has no gradient"):
            make(fn, (1, 3, 2)).apply_backward(x, None, np.ones((1, 2, 3, 1)))
    with pytest.raises(InvalidArgumentError, match="weights_delta was asked but this reduction has no weights"):
        make(rd.SUM, (1, 3, 2)).apply_backward(x, None, np.ones((1, 2, 3, 1)), weights_grad=True)
    with pytest.raises(InvalidArgumentError, match="x .* is needed for the reduction backward"):
        make(rd.SUM, (1, 3, 2)).apply_backward(None, None, np.ones((1, 2, 3, 1)))
