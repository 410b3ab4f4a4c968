"""The SDK's rough edges of issue 15, on both backends (the `bnns` fixture): the object API takes
plain NumPy arrays (edge 5), and the C-style error rules (edge 6)."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels.errors import InvalidArgumentError

from .test_convolution_sdk import image, reference_conv


def conv_layer(bnns, w):
    return bnns.BNNS.ConvolutionLayer(
        input=image(bnns, 1, 5, 5), output=image(bnns, 2, 5, 5),
        weights=bnns.BNNSNDArrayDescriptor.from_array(w, bnns.BNNSDataLayoutConvolutionWeightsOIHW),
        padding=bnns.BNNS.ConvolutionPadding.symmetric(x=1, y=1))


def test_object_api_apply_takes_plain_arrays(bnns):
    rng = np.random.default_rng(21)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    x = rng.standard_normal((4, 1, 5, 5)).astype(np.float32)
    with conv_layer(bnns, w) as layer:
        y = np.zeros((4, 2, 5, 5), np.float32)
        layer.apply(batch_size=4, input=x, output=y)
        np.testing.assert_allclose(y, reference_conv(x, w, None, pad=(1, 1, 1, 1)), rtol=1e-5, atol=1e-5)
        by_descriptor = np.zeros_like(y)
        layer.apply(batch_size=4, input=image(bnns, 1, 5, 5, x), output=image(bnns, 2, 5, 5, by_descriptor))
        np.testing.assert_array_equal(by_descriptor, y)


def test_object_api_backward_takes_arrays_for_what_it_reads(bnns):
    rng = np.random.default_rng(22)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    x = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    dy = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    with conv_layer(bnns, w) as layer:
        y = np.zeros((2, 2, 5, 5), np.float32)
        layer.apply(batch_size=2, input=x, output=y)
        grads = []
        for read in (lambda a, c: a, lambda a, c: image(bnns, c, 5, 5, a)):    # arrays, then descriptors
            dx = np.zeros_like(x)
            layer.apply_backward(batch_size=2, input=read(x, 1), output=read(y, 2), output_gradient=read(dy, 2),
                                 generating_input_gradient=image(bnns, 1, 5, 5, dx))
            grads.append(dx)
        np.testing.assert_array_equal(grads[0], grads[1])
        assert np.abs(grads[0]).sum() > 0


def test_object_api_names_what_it_takes_when_given_something_else(bnns):
    with conv_layer(bnns, np.zeros((2, 1, 3, 3), np.float32)) as layer:
        with pytest.raises(bnns.BNNSError, match="input must be a NumPy array, a BNNSTensor or a descriptor with data"):
            layer.apply(batch_size=1, input=[0.0] * 25, output=np.zeros((1, 2, 5, 5), np.float32))
        with pytest.raises(bnns.BNNSError, match="output must be .* descriptor with data .*without data"):
            layer.apply(batch_size=1, input=np.zeros((1, 1, 5, 5), np.float32), output=image(bnns, 2, 5, 5))


def bad_convolution(bnns):
    """Returns None: o_desc (4x4x2) does not match the convolution output (5x5x2)."""
    params = bnns.BNNSLayerParametersConvolution(
        i_desc=image(bnns, 1, 5, 5), o_desc=image(bnns, 2, 4, 4), x_padding=1, y_padding=1,
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(np.zeros((2, 1, 3, 3), np.float32),
                                                     bnns.BNNSDataLayoutConvolutionWeightsOIHW))
    return bnns.BNNSFilterCreateLayerConvolution(params, None)


def test_using_the_none_of_a_failed_create_is_a_clear_bnns_error(bnns):
    f = bad_convolution(bnns)
    assert f is None and isinstance(bnns.last_error(), InvalidArgumentError)
    reason = bnns.last_error().message
    x, y = np.zeros((1, 1, 5, 5), np.float32), np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(InvalidArgumentError, match="BNNSFilterApplyBatch: filter is None") as raised:
        bnns.BNNSFilterApplyBatch(f, 1, x, 25, y, 32)
    assert reason in raised.value.message
    bnns.BNNSFilterDestroy(f)                      # like free(NULL): nothing to do, no error


def test_last_error_describes_the_most_recent_call_and_clears_on_success(bnns):
    assert bad_convolution(bnns) is None and bnns.last_error() is not None
    params = bnns.BNNSLayerParametersConvolution(
        i_desc=image(bnns, 1, 5, 5), o_desc=image(bnns, 2, 5, 5), x_padding=1, y_padding=1,
        w_desc=bnns.BNNSNDArrayDescriptor.from_array(np.ones((2, 1, 3, 3), np.float32),
                                                     bnns.BNNSDataLayoutConvolutionWeightsOIHW))
    f = bnns.BNNSFilterCreateLayerConvolution(params, None)
    assert f is not None and bnns.last_error() is None                 # reset by the successful create
    x, y = np.zeros((2, 1, 5, 5), np.float32), np.zeros((2, 2, 5, 5), np.float32)
    assert bnns.BNNSFilterApplyBatch(f, 2, x[:1], 25, y, 50) == -1     # too few input elements
    assert "in has 25 elements" in bnns.last_error().message
    assert bnns.BNNSFilterApplyBatch(f, 2, x, 25, y, 50) == 0
    assert bnns.last_error() is None
    bnns.BNNSFilterDestroy(f)


# Found by the type checker: these calls failed with AttributeError (outside the C-style rules,
# so no -1 and no last_error()); each is now a clear InvalidArgumentError and changes nothing.

def test_attention_entry_points_refuse_a_filter_of_another_kind(bnns):
    with conv_layer(bnns, np.zeros((2, 1, 3, 3), np.float32)) as layer:
        x, y = np.zeros((1, 25), np.float32), np.zeros((1, 50), np.float32)
        assert bnns.BNNSApplyMultiheadAttention(layer.filter, 1, x, 0, x, 0, None, 0, x, 0, y, 0) == -1
        error = bnns.last_error()
        assert isinstance(error, InvalidArgumentError) and "is not a multi-head attention filter" in error.message
        assert not y.any()


def test_arithmetic_create_without_an_output_descriptor_fails_c_style(bnns):
    operand = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(4,))
    params = bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticAbs, bnns.BNNSArithmeticUnary(in_=operand))
    assert bnns.BNNSFilterCreateLayerArithmetic(params, None) is None
    error = bnns.last_error()
    assert isinstance(error, InvalidArgumentError) and "arithmetic_function_fields.out is required" in error.message


def test_a_gradient_for_the_missing_operand_of_a_one_input_contraction_is_refused(bnns):
    fm2 = bnns.BNNSDataLayout2DFirstMajor

    def d(size, data=None):
        return bnns.BNNSNDArrayDescriptor(layout=fm2, size=size, data=data)
    f = bnns.BNNSFilterCreateLayerTensorContraction(bnns.BNNSLayerParametersTensorContraction(
        operation="x_ij -> y_ji", alpha=1.0, iA_desc=d((3, 2)), o_desc=d((2, 3))), None)
    assert f is not None, bnns.last_error()
    x, y, dy = np.ones((1, 2, 3), np.float32), np.zeros((1, 3, 2), np.float32), np.ones((1, 3, 2), np.float32)
    dx, db = np.zeros_like(x), np.zeros_like(x)
    rc = bnns.BNNSFilterApplyBackwardTwoInputBatch(f, 1, x, 0, d((3, 2), dx), 0, None, 0, d((3, 2), db), 0, y, 0,
                                                   d((2, 3), dy), 0, None, None)
    assert rc == -1
    error = bnns.last_error()
    assert isinstance(error, InvalidArgumentError) and "in_b_delta was given but the filter has no such operand" \
        in error.message
    assert not dx.any() and not db.any()
    bnns.BNNSFilterDestroy(f)
