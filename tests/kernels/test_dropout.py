"""Dropout filter (kernels/dropout.py): forward against an element loop over the kept mask, the
mask's grouping and rate, seeding, inference identity, backward against central differences with
the forward's mask, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels import dropout as dr
from bnns.kernels import layout as L
from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError
from bnns.kernels.params import DropoutParameters
from tests.numeric import assert_gradient_matches, projection

CHW = (3, 4, 5)      # logical (C, H, W) of ImageCHW size (5, 4, 3)


def make(rate=0.5, seed=7, control=0, shape=CHW, layout=L.LAYOUT_IMAGE_CHW, out_shape=None):
    return dr.DropoutFilter(DropoutParameters(
        i_desc=L.Descriptor.for_shape(layout, shape), o_desc=L.Descriptor.for_shape(layout, out_shape or shape),
        rate=rate, seed=seed, control=control))


def naive_dropout(x, keep, rate, grouped_axes):
    """One element at a time: the mask cell of an element is its index with grouped axes at 0."""
    y = np.empty_like(x, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        cell = tuple(0 if axis - 1 in grouped_axes else i for axis, i in enumerate(index))
        y[index] = x[index] / (1 - rate) if keep[cell] else 0.0
    return y


@pytest.mark.parametrize("control, grouped_axes", [
    (0b000, ()),             # elementwise
    (0b011, (1, 2)),         # W and H grouped: whole channels (Dropout2d)
    (0b100, (0,)),           # C grouped: one decision per pixel for all channels
])
def test_forward_matches_element_loop_with_grouped_mask(control, grouped_axes):
    rng = np.random.default_rng(0)
    filt = make(rate=0.3, control=control)
    x = rng.standard_normal((4,) + CHW)
    y = filt.apply(x, training=True)
    keep = filt.mask
    expected_mask = tuple(1 if a in grouped_axes else s for a, s in enumerate(CHW))
    assert keep.shape == (4,) + expected_mask
    np.testing.assert_allclose(y, naive_dropout(x, keep, 0.3, grouped_axes), rtol=1e-15)


def test_first_major_control_bit_follows_size_order():
    # 2DFirstMajor keeps size[] in logical order: bit 0 groups NumPy axis 0.
    filt = make(rate=0.5, control=0b01, shape=(6, 8), layout=L.LAYOUT_2D_FIRST_MAJOR)
    assert filt.mask_shape == (1, 8)


def test_drop_fraction_is_close_to_rate():
    filt = make(rate=0.25, seed=3)
    filt.apply(np.ones((200,) + CHW, np.float32))
    # 12000 Bernoulli(0.75) draws: the standard deviation of the fraction is 0.004.
    assert abs(filt.mask.mean() - 0.75) < 0.02


def test_kept_values_are_scaled_by_inverse_keep_probability():
    filt = make(rate=0.2)
    y = filt.apply(np.ones((8,) + CHW, np.float32))
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.8)}


def test_same_seed_gives_same_masks_and_successive_masks_differ():
    x = np.ones((2,) + CHW, np.float32)
    a, b = make(seed=11), make(seed=11)
    first_a = a.apply(x)
    np.testing.assert_array_equal(first_a, b.apply(x))
    assert not np.array_equal(first_a, a.apply(x))


def test_zero_seed_draws_fresh_entropy():
    x = np.ones((4,) + CHW, np.float32)
    assert not np.array_equal(make(seed=0).apply(x), make(seed=0).apply(x))


def test_inference_is_identity_and_keeps_the_training_mask():
    rng = np.random.default_rng(1)
    filt = make()
    x = rng.standard_normal((2,) + CHW).astype(np.float32)
    filt.apply(x, training=True)
    mask = filt.mask.copy()
    np.testing.assert_array_equal(filt.apply(x, training=False), x)
    np.testing.assert_array_equal(filt.mask, mask)


def test_rate_zero_keeps_everything():
    x = np.arange(2 * 60, dtype=np.float32).reshape((2,) + CHW)
    np.testing.assert_array_equal(make(rate=0.0).apply(x), x)


@pytest.mark.parametrize("control", [0, 0b011])
def test_backward_matches_finite_differences_with_the_forward_mask(control):
    rng = np.random.default_rng(2)
    filt = make(rate=0.4, control=control)
    x = rng.standard_normal((3,) + CHW)
    filt.apply(x)
    keep = filt.mask.copy()
    proj = projection(rng, x.shape)
    d_in, d_w, d_b = filt.apply_backward(None, None, proj)
    assert d_w is None and d_b is None
    assert_gradient_matches(d_in, lambda v: float(np.sum(proj * dr.forward(v, keep, 0.4))), x)


def test_backward_without_input_grad_returns_nones():
    filt = make()
    filt.apply(np.ones((2,) + CHW))
    assert filt.apply_backward(None, None, np.ones((2,) + CHW), input_grad=False) == (None, None, None)


ERROR_CASES = [
    pytest.param(dict(rate=1.0), "rate 1.0 must be < 1.0", id="rate_one"),
    pytest.param(dict(rate=-0.1), r"rate -0.1 must be >= 0", id="rate_negative"),
    pytest.param(dict(rate=float("nan")), "rate nan must be a finite number", id="rate_nan"),
    pytest.param(dict(seed=-1), "seed -1 must be >= 0", id="seed_negative"),
    pytest.param(dict(control=0b10000), "control 0b10000 sets bits beyond", id="control_bit_4"),
    pytest.param(dict(control=0b100, shape=(6, 8), layout=L.LAYOUT_2D_FIRST_MAJOR),
                 "control 0b100 sets bits beyond the 2 dimensions", id="control_beyond_rank"),
    pytest.param(dict(out_shape=(3, 4, 6)), r"o_desc shape \(3, 4, 6\) .* differs from i_desc",
                 id="output_shape"),
]


@pytest.mark.parametrize("kwargs, message", ERROR_CASES)
def test_invalid_parameters_raise_invalid_argument(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make(**kwargs)


def test_backward_before_a_training_forward_is_failed_precondition():
    filt = make()
    filt.apply(np.ones((2,) + CHW), training=False)
    with pytest.raises(FailedPreconditionError, match="needs a training forward"):
        filt.apply_backward(None, None, np.ones((2,) + CHW))


def test_backward_with_another_batch_size_is_failed_precondition():
    filt = make()
    filt.apply(np.ones((2,) + CHW))
    with pytest.raises(FailedPreconditionError, match="d_out has batch size 3 .* had batch size 2"):
        filt.apply_backward(None, None, np.ones((3,) + CHW))


def test_wrong_input_shape_and_weight_gradients_are_invalid_argument():
    filt = make()
    with pytest.raises(InvalidArgumentError, match=r"x has shape \(2, 3, 4\); expected \(N, \*\(3, 4, 5\)\)"):
        filt.apply(np.ones((2, 3, 4)))
    filt.apply(np.ones((2,) + CHW))
    with pytest.raises(InvalidArgumentError, match="weights_delta was asked but a dropout filter"):
        filt.apply_backward(None, None, np.ones((2,) + CHW), weights_grad=True)
