"""Apple's C struct shapes in the SDK: BNNSLayerParametersArithmetic with its
arithmetic_function_fields (BNNSArithmeticUnary / Binary / Ternary), all nine BNNSActivation
fields, BNNSNDArrayDescriptor's table_data, and the Swift descriptor helpers and optimizer labels
built on them."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels.errors import InvalidArgumentError


def vector(bnns, n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


def test_arithmetic_layer_parameters_with_binary_function_fields(bnns):
    # C: BNNSLayerParametersArithmetic { arithmetic_function, arithmetic_function_fields, activation }
    # with BNNSArithmeticBinary { in1, in1_type, in2, in2_type, out, out_type }; in2 a Constant.
    constant = np.array([10.0, 20.0, 30.0], np.float32)
    fields = bnns.BNNSArithmeticBinary(vector(bnns, 3), bnns.BNNSSample, vector(bnns, 3, constant), bnns.BNNSConstant,
                                       vector(bnns, 3), bnns.BNNSSample)
    params = bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticSubtract, fields, bnns.BNNSActivation())
    f = bnns.BNNSFilterCreateLayerArithmetic(params, None)
    assert f is not None, bnns.last_error()
    x, y = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32), np.zeros((2, 3), np.float32)
    assert bnns.BNNSArithmeticFilterApplyBatch(f, 2, 2, [x, None], [3, 0], y, 3) == 0, bnns.last_error()
    np.testing.assert_array_equal(y, x - constant)
    bnns.BNNSFilterDestroy(f)


def test_arithmetic_function_fields_travel_as_apples_struct(bnns):
    """The wire carries the function fields as Apple has them (the ``binary`` case of the oneof):
    a Sample operand's descriptor without its data, a Constant's or Parameter's with it, ``out``
    as a shape only; the trainables name the operands as the server does (in0, in1)."""
    sample, constant = np.array([1.0, 2.0], np.float32), np.array([5.0, 7.0], np.float32)
    fields = bnns.BNNSArithmeticBinary(vector(bnns, 2, sample), bnns.BNNSSample, vector(bnns, 2, constant),
                                       bnns.BNNSParameter, vector(bnns, 2, np.zeros(2, np.float32)))
    message = bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticAdd, fields).to_proto()
    assert message.WhichOneof("arithmetic_function_fields") == "binary"
    binary = message.binary
    assert not binary.in1.HasField("data") and not binary.out.HasField("data")
    assert np.frombuffer(binary.in2.data.data, "<f4").tolist() == [5.0, 7.0]
    assert (binary.in1_type, binary.in2_type, binary.out_type) == (bnns.BNNSSample, bnns.BNNSParameter, bnns.BNNSSample)
    assert list(bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticAdd, fields).trainables()) == ["in0", "in1"]


def test_arithmetic_function_fields_of_another_struct_are_refused_by_name(bnns):
    params = bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticAdd, bnns.BNNSActivation())  # type: ignore[arg-type]
    assert bnns.BNNSFilterCreateLayerArithmetic(params, None) is None
    error = bnns.last_error()
    assert isinstance(error, InvalidArgumentError) and "BNNSArithmeticBinary" in str(error), error
    # A binary function given Unary fields: refused by the server, naming both.
    unary = bnns.BNNSArithmeticUnary(vector(bnns, 2), bnns.BNNSSample, vector(bnns, 2))
    assert bnns.BNNSFilterCreateLayerArithmetic(bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticAdd, unary)) is None
    assert "takes 2 inputs, but arithmetic_function_fields is unary" in str(bnns.last_error())


def test_arithmetic_unary_and_ternary_function_fields(bnns):
    unary = bnns.BNNSArithmeticUnary(vector(bnns, 2), bnns.BNNSSample, vector(bnns, 2), bnns.BNNSSample)
    f = bnns.BNNSFilterCreateLayerArithmetic(bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticSquare, unary), None)
    y = np.zeros(2, np.float32)
    assert bnns.BNNSArithmeticFilterApplyBatch(f, 1, 1, [np.array([3.0, -2.0], np.float32)], [2], y, 2) == 0
    np.testing.assert_array_equal(y, [9.0, 4.0])
    bnns.BNNSFilterDestroy(f)
    ternary = bnns.BNNSArithmeticTernary(vector(bnns, 2), bnns.BNNSSample, vector(bnns, 2), bnns.BNNSSample,
                                         vector(bnns, 2), bnns.BNNSSample, vector(bnns, 2), bnns.BNNSSample)
    f = bnns.BNNSFilterCreateLayerArithmetic(bnns.BNNSLayerParametersArithmetic(bnns.BNNSArithmeticMultiplyAdd,
                                                                                ternary), None)
    a, b, c = (np.array(v, np.float32) for v in ([1, 2], [3, 4], [5, 6]))
    assert bnns.BNNSArithmeticFilterApplyBatch(f, 1, 3, [a, b, c], [2, 2, 2], y, 2) == 0, bnns.last_error()
    np.testing.assert_array_equal(y, a * b + c)
    bnns.BNNSFilterDestroy(f)


def test_activation_has_apples_nine_fields_and_refuses_integer_saturation(bnns):
    names = [f for f in bnns.BNNSActivation.__dataclass_fields__]
    assert names == ["function", "alpha", "beta", "iscale", "ioffset", "ishift", "iscale_per_channel",
                     "ioffset_per_channel", "ishift_per_channel"]
    act = bnns.BNNSActivation(bnns.BNNSActivationFunctionIntegerLinearSaturate, iscale=3, ioffset=1, ishift=2)
    params = bnns.BNNSLayerParametersActivation(vector(bnns, 4), vector(bnns, 4), act)
    assert bnns.BNNSFilterCreateLayerActivation(params, None) is None
    error = bnns.last_error()
    assert isinstance(error, InvalidArgumentError) and "iscale 3" in str(error) and "ishift 2" in str(error)
    # Other functions ignore the integer fields, as BNNS does.
    relu = bnns.BNNSActivation(bnns.BNNSActivationFunctionRectifiedLinear, iscale=3)
    f = bnns.BNNSFilterCreateLayerActivation(bnns.BNNSLayerParametersActivation(vector(bnns, 2), vector(bnns, 2), relu))
    assert f is not None, bnns.last_error()
    bnns.BNNSFilterDestroy(f)


def test_descriptor_has_table_data_and_refuses_indexed_types(bnns):
    names = list(bnns.BNNSNDArrayDescriptor.__dataclass_fields__)
    assert names[:10] == ["flags", "layout", "size", "stride", "data", "data_type", "table_data", "table_data_type",
                          "data_scale", "data_bias"]
    indexed = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(4,), data_type=bnns.BNNSDataTypeIndexed8,
                                         table_data=np.zeros(256, np.float32))
    params = bnns.BNNSLayerParametersActivation(indexed, vector(bnns, 4), bnns.BNNSActivation())
    assert bnns.BNNSFilterCreateLayerActivation(params, None) is None
    assert "Indexed" in str(bnns.last_error())


def test_descriptor_message_carries_the_elements_it_spans(bnns):
    """to_proto sends the flat elements the descriptor spans (little-endian, of its data_type),
    none when asked for the shape only, and refuses data shorter than the span by name."""
    strided = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(2,), stride=(3,),
                                         data=np.arange(6, dtype=np.float64))
    message = strided.to_proto()
    assert np.frombuffer(message.data.data, "<f4").tolist() == [0, 1, 2, 3]      # span 4: (2 - 1) * 3 + 1
    assert list(message.size) == [2] and list(message.stride) == [3] and message.data_type == bnns.BNNSDataTypeFloat32
    assert not strided.to_proto(with_data=False).HasField("data")
    short = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(4,), data=np.zeros(3, np.float32))
    with pytest.raises(InvalidArgumentError, match=r"descriptor data has 3 elements; size \(4,\) .* needs 4"):
        short.to_proto()


def test_swift_descriptor_from_data_and_shape_and_allocate(bnns):
    BNNS = bnns.BNNS
    data = np.arange(6, dtype=np.float32)
    desc = bnns.BNNSNDArrayDescriptor(data=data, shape=BNNS.Shape.matrix_row_major(3, 2))
    assert desc.layout == bnns.BNNSDataLayoutRowMajorMatrix and tuple(desc.size) == (3, 2) and desc.data is data
    filled = bnns.BNNSNDArrayDescriptor.allocate(repeating=1.5, shape=BNNS.Shape.image_chw(4, 3, 2), batch_size=2)
    assert filled.data.shape == (2, 2, 3, 4) and np.all(filled.data == 1.5)
    assert tuple(filled.size) == (4, 3, 2) and filled.layout == bnns.BNNSDataLayoutImageCHW


def test_swift_activation_cases_with_parameters(bnns):
    F = bnns.BNNS.ActivationFunction
    assert F.hard_swish(0.0, 0.0).function == bnns.BNNSActivationFunctionHardSwish
    assert F.gelu_approximation2().function == bnns.BNNSActivationFunctionGELUApproximation2
    gumbel = F.gumbel(alpha=0.5, beta=0.25)
    assert (gumbel.function, gumbel.alpha, gumbel.beta) == (bnns.BNNSActivationFunctionGumbel, 0.5, 0.25)
    assert F.gumbel_max(1.0, 0.0).function == bnns.BNNSActivationFunctionGumbelMax


def test_optimizer_swift_labels_gradient_clipping_and_regularization_function(bnns):
    BNNS = bnns.BNNS
    w = np.array([1.0, -1.0], np.float32)
    g = np.array([10.0, -0.5], np.float32)
    sgd = BNNS.SGDMomentumOptimizer(learning_rate=0.1, gradient_clipping=BNNS.GradientClipping.by_value(bounds=(-1, 1)),
                                    regularization_function=bnns.BNNSOptimizerRegularizationNone,
                                    uses_nesterov_momentum=False)
    assert sgd.function == bnns.BNNSOptimizerFunctionSGDMomentumWithClipping
    assert isinstance(sgd.fields, bnns.BNNSOptimizerSGDMomentumWithClippingFields)
    sgd.step(parameters=[vector(bnns, 2, w)], gradients=[vector(bnns, 2, g)])      # momentum 0: no accumulators
    np.testing.assert_allclose(w, [1.0 - 0.1 * 1.0, -1.0 + 0.1 * 0.5], rtol=1e-6)   # the 10 was clipped to 1
    plain = BNNS.AdamOptimizer(learning_rate=0.01, gradient_clipping=BNNS.GradientClipping.none)
    assert plain.function == bnns.BNNSOptimizerFunctionAdam
    normed = BNNS.AdamOptimizer(learning_rate=0.01, gradient_clipping=BNNS.GradientClipping.by_norm(max_norm=2.0))
    assert normed.function == bnns.BNNSOptimizerFunctionAdamWithClipping
    assert normed.fields.clip_gradients_max_norm == 2.0 and normed.fields.clipping_func == bnns.BNNSOptimizerClippingByNorm
