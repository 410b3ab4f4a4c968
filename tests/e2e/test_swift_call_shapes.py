"""Swift's call shapes: every BNNS layer initializer takes its arguments positionally in Swift's
order as well as by label, with the same result; the Swift pieces of issue 10 exist."""

from __future__ import annotations

import numpy as np
import pytest


def vector(bnns, n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


def image(bnns, c, h, w, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data)


def run(layer, bnns, x, shape_out, make):
    y = np.zeros(shape_out, np.float32)
    layer.apply(x.shape[0], make(x), make(y) if make is not None else None)
    layer.close()
    return y


LAYERS = {
    # name: (positional args, keyword args, input maker, x shape, y shape); descriptors built per backend
    "fully_connected": lambda b, B: (
        (vector(b, 3), vector(b, 2), b.BNNSNDArrayDescriptor(layout=b.BNNSDataLayoutRowMajorMatrix, size=(3, 2),
                                                             data=np.arange(6, dtype=np.float32)), None,
         B.ActivationFunction.rectified_linear),
        dict(input=vector(b, 3), output=vector(b, 2),
             weights=b.BNNSNDArrayDescriptor(layout=b.BNNSDataLayoutRowMajorMatrix, size=(3, 2),
                                             data=np.arange(6, dtype=np.float32)),
             bias=None, activation=B.ActivationFunction.rectified_linear),
        B.FullyConnectedLayer, lambda d: vector(b, d.shape[-1], d), (2, 3), (2, 2)),
    "activation": lambda b, B: (
        (B.ActivationFunction.leaky_rectified_linear(0.25), vector(b, 4), vector(b, 4)),
        dict(function=B.ActivationFunction.leaky_rectified_linear(0.25), input=vector(b, 4), output=vector(b, 4)),
        B.ActivationLayer, lambda d: vector(b, 4, d), (3, 4), (3, 4)),
    "normalization": lambda b, B: (
        (B.NormalizationType.layer(0), vector(b, 4), vector(b, 4), None, None, 0.9, 1e-3),
        dict(type=B.NormalizationType.layer(0), input=vector(b, 4), output=vector(b, 4), beta=None, gamma=None,
             momentum=0.9, epsilon=1e-3),
        B.NormalizationLayer, lambda d: vector(b, 4, d), (3, 4), (3, 4)),
    "pooling": lambda b, B: (
        (B.PoolingType.max(), image(b, 1, 4, 4), image(b, 1, 2, 2), None, None, (2, 2), (2, 2)),
        dict(type=B.PoolingType.max(), input=image(b, 1, 4, 4), output=image(b, 1, 2, 2), bias=None, activation=None,
             kernel_size=(2, 2), stride=(2, 2)),
        B.PoolingLayer, None, (1, 1, 4, 4), (1, 1, 2, 2)),
    "unary_arithmetic": lambda b, B: (
        (vector(b, 3), B.DescriptorType.sample, vector(b, 3), B.DescriptorType.sample,
         B.ArithmeticUnaryFunction.square),
        dict(input=vector(b, 3), input_descriptor_type=B.DescriptorType.sample, output=vector(b, 3),
             output_descriptor_type=B.DescriptorType.sample, function=B.ArithmeticUnaryFunction.square),
        B.UnaryArithmeticLayer, lambda d: vector(b, 3, d), (2, 3), (2, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_initializer_takes_swift_positional_order_and_labels(bnns, name):
    positional, labelled, cls, make, x_shape, y_shape = LAYERS[name](bnns, bnns.BNNS)
    x = np.random.default_rng(5).standard_normal(x_shape).astype(np.float32)
    outputs = []
    for layer in (cls(*positional), cls(**labelled)):
        y = np.zeros(y_shape, np.float32)
        if make is None:          # pooling: image descriptors
            layer.apply(x.shape[0], image(bnns, 1, 4, 4, x), image(bnns, 1, 2, 2, y))
        else:
            layer.apply(x.shape[0], make(x), make(y))
        layer.close()
        outputs.append(y)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert np.any(outputs[0] != 0)


def test_a_required_swift_argument_left_out_is_a_type_error(bnns):
    with pytest.raises(TypeError, match="input"):
        bnns.BNNS.PoolingLayer(bnns.BNNS.PoolingType.max(), output=image(bnns, 1, 2, 2))


def test_swift_arithmetic_function_enums_hold_bnns_raw_values(bnns):
    BNNS = bnns.BNNS
    assert BNNS.ArithmeticBinaryFunction.add == bnns.BNNSArithmeticAdd
    assert BNNS.ArithmeticUnaryFunction.reciprocal_square_root == bnns.BNNSArithmeticReciprocalSquareRoot
    assert BNNS.ArithmeticTernaryFunction.multiply_add == bnns.BNNSArithmeticMultiplyAdd
    assert BNNS.ArithmeticBinaryFunction.divide_no_nan == bnns.BNNSArithmeticDivideNoNaN
    assert not hasattr(BNNS.ArithmeticUnaryFunction, "add")


def test_fused_unary_and_ternary_arithmetic_parameters(bnns):
    BNNS = bnns.BNNS
    rng = np.random.default_rng(6)
    a, b, c = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3))
    norm = BNNS.FusedNormalizationParameters(type=BNNS.NormalizationType.layer(0))
    ternary = BNNS.FusedParametersLayer(
        input_a=vector(bnns, 4), input_b=vector(bnns, 4), input_c=vector(bnns, 4), output=vector(bnns, 4),
        fused_layer_parameters=[BNNS.FusedTernaryArithmeticParameters(
            function=BNNS.ArithmeticTernaryFunction.multiply_add), norm])
    y = np.zeros((3, 4), np.float32)
    ternary.apply(3, vector(bnns, 4, a), vector(bnns, 4, b), vector(bnns, 4, c), vector(bnns, 4, y))
    s = a.astype(np.float64) * b + c
    np.testing.assert_allclose(y, (s - s.mean(1, keepdims=True)) / np.sqrt(s.var(1, keepdims=True) + 1e-5),
                               rtol=1e-4, atol=1e-4)
    ternary.close()
    unary = BNNS.FusedParametersLayer(vector(bnns, 4), vector(bnns, 4), [BNNS.FusedUnaryArithmeticParameters(
        function=BNNS.ArithmeticUnaryFunction.square), norm])
    unary.apply(3, vector(bnns, 4, a), vector(bnns, 4, y))      # one input: apply(batchSize:input:output:for:)
    s = a.astype(np.float64) ** 2
    np.testing.assert_allclose(y, (s - s.mean(1, keepdims=True)) / np.sqrt(s.var(1, keepdims=True) + 1e-5),
                               rtol=1e-4, atol=1e-4)
    unary.close()


def test_pooling_type_max_carries_its_indices(bnns):
    BNNS = bnns.BNNS
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)[:, :, ::-1].copy()
    indices = np.zeros((1, 1, 2, 2), np.uint64)
    y = np.zeros((1, 1, 2, 2), np.float32)
    assert BNNS.PoolingType.max == bnns.BNNSPoolingFunctionMax         # .max still is the C constant
    with BNNS.PoolingLayer(BNNS.PoolingType.max(indices=indices), image(bnns, 1, 4, 4), image(bnns, 1, 2, 2),
                           None, None, (2, 2), (2, 2)) as layer:
        layer.apply(1, image(bnns, 1, 4, 4, x), image(bnns, 1, 2, 2, y))
    np.testing.assert_array_equal(y.ravel(), [13, 15, 5, 7])
    np.testing.assert_array_equal(indices.ravel(), [1, 3, 9, 11])      # flat offsets c*H*W + h*W + w


def test_fused_dequantization_parameters(bnns):
    BNNS = bnns.BNNS
    w = np.eye(2, dtype=np.float32)
    layer = BNNS.FusedParametersLayer(vector(bnns, 2), vector(bnns, 2), [
        BNNS.FusedFullyConnectedParameters(weights=bnns.BNNSNDArrayDescriptor(
            layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(2, 2), data=w)),
        BNNS.FusedDequantizationParameters(scale=vector(bnns, 1, np.array([2.0], np.float32)),
                                           bias=vector(bnns, 1, np.array([1.0], np.float32)))])
    y = np.zeros((1, 2), np.float32)
    layer.apply(1, vector(bnns, 2, np.array([[5.0, 9.0]], np.float32)), vector(bnns, 2, y))
    np.testing.assert_allclose(y, [[2.0, 4.0]])          # (x - 1) / 2
    layer.close()
