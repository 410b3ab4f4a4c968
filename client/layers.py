"""The Swift object API, Python spelling: ``BNNS.ConvolutionLayer(...)``, ``.apply(...)``,
``.apply_backward(...)``, raising BNNSError. Written on the C-style functions: one
implementation of every call."""

from __future__ import annotations

import weakref
from typing import ClassVar, Optional, Sequence, Tuple

import numpy as np

from bnns.kernels.errors import BNNSError, InvalidArgumentError, require

from . import api
from .tensor import BNNSTensor
from . import constants as C
from .c_structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersConvolution,
                        BNNSLayerParametersFullyConnected, BNNSNDArrayDescriptor)
from .structs import Shape


def _destroy_quietly(filter_):
    try:
        api.destroy(filter_)
    except Exception:   # the connection may already be gone at interpreter exit
        pass


def buffer_of(argument, name: str, required: bool = False):
    """An array argument of the object API: a NumPy array or a BNNSTensor as it is, or the data
    of a descriptor (Swift's BNNSNDArrayDescriptor with data). Layers take either."""
    if argument is None:
        require(not required, f"{name} is required: give a NumPy array or a descriptor with data")
        return None
    if isinstance(argument, (np.ndarray, BNNSTensor)):
        return argument
    data = getattr(argument, "data", None)
    require(data is not None, f"{name} must be a NumPy array, a BNNSTensor or a descriptor with data "
            f"(got {type(argument).__name__}{' without data' if hasattr(argument, 'data') else ''})")
    return data


class _ReadOnly:
    """An array given where a read-only descriptor argument goes (output_gradient)."""

    def __init__(self, data):
        self.data = data


def read_only(argument):
    """``argument`` for a read-only descriptor parameter: descriptors as they are, arrays wrapped."""
    return _ReadOnly(argument) if isinstance(argument, (np.ndarray, BNNSTensor)) else argument

class _ActivationFunction:
    """BNNS.ActivationFunction: cases that carry their parameters, as in Swift."""

    identity = BNNSActivation(C.BNNSActivationFunctionIdentity)
    rectified_linear = BNNSActivation(C.BNNSActivationFunctionRectifiedLinear)
    sigmoid = BNNSActivation(C.BNNSActivationFunctionSigmoid)
    tanh = BNNSActivation(C.BNNSActivationFunctionTanh)
    abs = BNNSActivation(C.BNNSActivationFunctionAbs)
    softmax = BNNSActivation(C.BNNSActivationFunctionSoftmax)
    log_softmax = BNNSActivation(C.BNNSActivationFunctionLogSoftmax)
    log_sigmoid = BNNSActivation(C.BNNSActivationFunctionLogSigmoid)
    selu = BNNSActivation(C.BNNSActivationFunctionSELU)
    silu = BNNSActivation(C.BNNSActivationFunctionSiLU)
    softsign = BNNSActivation(C.BNNSActivationFunctionSoftsign)
    tanh_shrink = BNNSActivation(C.BNNSActivationFunctionTanhShrink)
    relu6 = BNNSActivation(C.BNNSActivationFunctionReLU6)
    erf = BNNSActivation(C.BNNSActivationFunctionErf)
    gelu = BNNSActivation(C.BNNSActivationFunctionGELU)
    gelu_approximation_sigmoid = BNNSActivation(C.BNNSActivationFunctionGELUApproximationSigmoid)

    @staticmethod
    def hard_swish(alpha: float = 0.0, beta: float = 0.0) -> BNNSActivation:
        """.hardSwish(alpha:beta:) (Apple's alias of GELUApproximation2; x * ReLU6(x + 3) / 6)."""
        return BNNSActivation(C.BNNSActivationFunctionHardSwish, alpha, beta)

    @staticmethod
    def gelu_approximation2(alpha: float = 0.0, beta: float = 0.0) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionGELUApproximation2, alpha, beta)

    @staticmethod
    def gumbel(alpha: float = 1.0, beta: float = 0.0) -> BNNSActivation:
        """.gumbel(alpha:beta:): -log(-log(alpha * U(0, 1) + beta) + beta)."""
        return BNNSActivation(C.BNNSActivationFunctionGumbel, alpha, beta)

    @staticmethod
    def gumbel_max(alpha: float = 1.0, beta: float = 0.0) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionGumbelMax, alpha, beta)

    @staticmethod
    def leaky_rectified_linear(alpha: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionLeakyRectifiedLinear, alpha)

    @staticmethod
    def linear(alpha: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionLinear, alpha)

    @staticmethod
    def clamp(bounds: Tuple[float, float]) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionClamp, bounds[0], bounds[1])

    @staticmethod
    def elu(alpha: float = 1.0) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionELU, alpha)

    @staticmethod
    def scaled_tanh(alpha: float, beta: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionScaledTanh, alpha, beta)

    @staticmethod
    def softplus(alpha: float = 1.0, beta: float = 1.0) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionSoftplus, alpha, beta)

    @staticmethod
    def hard_sigmoid(alpha: float, beta: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionHardSigmoid, alpha, beta)

    @staticmethod
    def celu(alpha: float = 1.0) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionCELU, alpha)

    @staticmethod
    def threshold(alpha: float, beta: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionThreshold, alpha, beta)

    @staticmethod
    def gelu_approximation(alpha: float, beta: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionGELUApproximation, alpha, beta)

    @staticmethod
    def hard_shrink(alpha: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionHardShrink, alpha)

    @staticmethod
    def soft_shrink(alpha: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionSoftShrink, alpha)

    @staticmethod
    def clamped_leaky_rectified_linear(alpha: float, beta: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionClampedLeakyRectifiedLinear, alpha, beta)

    @staticmethod
    def linear_with_bias(alpha: float, beta: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionLinearWithBias, alpha, beta)

    @staticmethod
    def prelu_per_channel(alpha: float) -> BNNSActivation:
        return BNNSActivation(C.BNNSActivationFunctionPReLUPerChannel, alpha)


class _ConvolutionPadding:
    """BNNS.ConvolutionPadding: .zero, .symmetric(x:y:), .asymmetric(left:right:up:down:)."""

    zero: ClassVar[_ConvolutionPadding]     # set below the class

    def __init__(self, x: int = 0, y: int = 0, pad: Sequence[int] = (0, 0, 0, 0)):
        self.x, self.y, self.pad = int(x), int(y), tuple(int(p) for p in pad)

    @classmethod
    def symmetric(cls, x: int, y: int) -> "_ConvolutionPadding":
        return cls(x=x, y=y)

    @classmethod
    def asymmetric(cls, left: int, right: int, up: int, down: int) -> "_ConvolutionPadding":
        return cls(pad=(left, right, up, down))

    def __repr__(self) -> str:
        if any(self.pad):
            return "ConvolutionPadding.asymmetric(left={}, right={}, up={}, down={})".format(*self.pad)
        return f"ConvolutionPadding.symmetric(x={self.x}, y={self.y})"


_ConvolutionPadding.zero = _ConvolutionPadding()


class _ConvolutionType:
    standard = "standard"
    transposed = "transposed"


class _LearningPhase:
    training = "training"
    inference = "inference"


def _required(**arguments) -> None:
    """Check the required arguments of a Swift initializer whose Python signature gives them a
    default: every initializer takes its arguments positionally in Swift's order or by their
    labels (Python spelling), and Python needs a default after a defaulted parameter."""
    missing = [name for name, value in arguments.items() if value is None]
    if missing:
        raise TypeError(f"missing required argument(s): {', '.join(missing)}")


class Layer:
    """BNNS.Layer: owns a filter and destroys it with ``close()``, at the end of a ``with``
    block, or when garbage-collected."""

    def __init__(self, filter_: Optional[api.BNNSFilter]):
        if filter_ is None:
            raise api.last_error() or BNNSError("unable to create the layer")
        self.filter = filter_
        self._finalizer = weakref.finalize(self, _destroy_quietly, filter_)

    def close(self) -> None:
        self._finalizer.detach()
        api.destroy(self.filter)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _data(desc: Optional[BNNSNDArrayDescriptor], name: str):
        return buffer_of(desc, name, required=True)


class UnaryLayer(Layer):
    """BNNS.UnaryLayer: a one-input filter's apply(batchSize:input:output:) and
    applyBackward(batchSize:input:output:outputGradient:generatingInputGradient:), on the generic
    BNNSFilterApplyBatch / BNNSFilterApplyBackwardBatch."""

    def apply(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor) -> None:
        api.apply_batch(self.filter, batch_size, self._data(input, "input"), 0, self._data(output, "output"), 0)

    def apply_backward(self, batch_size: int, input: Optional[BNNSNDArrayDescriptor], output: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor,
                       generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        api.apply_backward_batch(self.filter, batch_size, buffer_of(input, "input"), 0, generating_input_gradient, 0,
                                 buffer_of(output, "output"), 0, read_only(output_gradient), 0, None, None)


class ConvolutionLayer(Layer):
    """BNNS.ConvolutionLayer(type:input:weights:output:bias:padding:activation:groupCount:stride:
    dilationStride:filterParameters:)."""

    def __init__(self, type: str = _ConvolutionType.standard, input: Optional[BNNSNDArrayDescriptor] = None,
                 weights: Optional[BNNSNDArrayDescriptor] = None, output: Optional[BNNSNDArrayDescriptor] = None,
                 bias: Optional[BNNSNDArrayDescriptor] = None, padding: _ConvolutionPadding = _ConvolutionPadding.zero,
                 activation: BNNSActivation = _ActivationFunction.identity, group_count: int = 1,
                 stride: Tuple[int, int] = (1, 1), dilation_stride: Tuple[int, int] = (1, 1),
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        _required(input=input, weights=weights, output=output)
        if type not in (_ConvolutionType.standard, _ConvolutionType.transposed):
            raise InvalidArgumentError(f"type {type!r} must be BNNS.ConvolutionType.standard or .transposed")
        params = BNNSLayerParametersConvolution(   # (input, weights, output: not None, by _required)
            i_desc=input, w_desc=weights, o_desc=output, bias=bias, activation=activation,  # type: ignore[arg-type]
            x_stride=stride[0], y_stride=stride[1], x_dilation_stride=dilation_stride[0],
            y_dilation_stride=dilation_stride[1], x_padding=padding.x, y_padding=padding.y,
            groups=group_count, pad=padding.pad)
        kind = "convolution" if type == _ConvolutionType.standard else "transposed_convolution"
        super().__init__(api._affine_filter(kind, params, filter_parameters))

    def apply(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor) -> None:
        api.apply_batch(self.filter, batch_size, self._data(input, "input"), 0, self._data(output, "output"), 0)

    def apply_backward(self: Layer, batch_size: int, input: Optional[BNNSNDArrayDescriptor],   # (activation and
                       output: BNNSNDArrayDescriptor, output_gradient: BNNSNDArrayDescriptor,   # dropout use it too)
                       generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_weights_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_bias_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        api.apply_backward_batch(
            self.filter, batch_size, buffer_of(input, "input"), 0, generating_input_gradient, 0,
            buffer_of(output, "output"), 0, read_only(output_gradient), 0,
            generating_weights_gradient, generating_bias_gradient)


class FullyConnectedLayer(ConvolutionLayer):
    """BNNS.FullyConnectedLayer(input:output:weights:bias:activation:filterParameters:)."""

    def __init__(self, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                 weights: BNNSNDArrayDescriptor, bias: Optional[BNNSNDArrayDescriptor] = None,
                 activation: BNNSActivation = _ActivationFunction.identity,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        params = BNNSLayerParametersFullyConnected(i_desc=input, w_desc=weights, o_desc=output, bias=bias,
                                                   activation=activation)
        Layer.__init__(self, api._affine_filter("fully_connected", params, filter_parameters))


class BNNS:
    """The Swift ``BNNS`` namespace."""

    ActivationFunction = _ActivationFunction
    Shape = Shape
    ConvolutionPadding = _ConvolutionPadding
    ConvolutionType = _ConvolutionType
    LearningPhase = _LearningPhase
    Layer = Layer
    UnaryLayer = UnaryLayer
    ConvolutionLayer = ConvolutionLayer
    FullyConnectedLayer = FullyConnectedLayer
    Error = BNNSError
