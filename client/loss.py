"""Loss filters: BNNSFilterCreateLayerLoss, BNNSLossFilterApplyBatch, BNNSLossFilterApplyBackwardBatch,
and BNNS.LossLayer."""

from __future__ import annotations

from typing import Optional

import numpy as np

from bnns.kernels import layout, loss as loss_kernels
from bnns.kernels.errors import require
from bnns.v1 import service_pb2 as pb

from . import api
from . import constants as C
from .layers import Layer, buffer_of, read_only
from .c_structs import (BNNSFilterParameters, BNNSLayerParametersLossBase, BNNSLayerParametersLossHuber,
                        BNNSLayerParametersLossSigmoidCrossEntropy,
                        BNNSLayerParametersLossSoftmaxCrossEntropy, BNNSLayerParametersLossYolo,
                        BNNSNDArrayDescriptor)


class LossFilter(api.BNNSFilter):
    """A loss handle: knows the shape of the loss output it writes."""

    def __init__(self, base: api.BNNSFilter, function: int, reduction: int):
        super().__init__(base.backend, base.filter_id, base.kind, base.input_geometry, base.output_geometry)
        self.function, self.reduction = function, reduction

    def loss_count(self, batch_size: int) -> int:
        """Values the loss output holds (1 reduced; per sample or per element unreduced)."""
        if self.reduction != C.BNNSLossReductionNone:
            return 1
        per_sample = loss_kernels.kind_of(self.function).per_sample
        return int(batch_size) * (1 if per_sample else self.input_geometry.element_count)


@api._c_style(None)
def BNNSFilterCreateLayerLoss(layer_params: BNNSLayerParametersLossBase,
                              filter_params: Optional[BNNSFilterParameters] = None) -> Optional[LossFilter]:
    """A loss filter, or None (see last_error())."""
    base = api.create_filter("loss", layer_params, filter_params, input_geometry=layer_params.i_desc.geometry(),
                             output_geometry=layer_params.o_desc.geometry())
    return LossFilter(base, layer_params.function, layer_params.reduction)


def _loss_request(io: api.Exchange, cls, f: LossFilter, batch_size, in_, in_stride, labels, labels_stride, weights,
                  weights_size, **kw):
    request = cls(filter_id=f.filter_id, batch_size=int(batch_size), labels=io.send(
        "labels", labels, f.input_geometry, batch_size, labels_stride), weights_size=int(weights_size), **kw)
    getattr(request, "in").CopyFrom(io.send("in", in_, f.input_geometry, batch_size, in_stride))
    if weights_size:
        require(weights is not None, f"weights_size is {weights_size} but weights is None")
        request.weights.CopyFrom(io.send_flat("weights", weights, C.BNNSDataTypeFloat32, int(weights_size)))
    return request


def loss_apply_batch(f: LossFilter, batch_size, in_, in_stride, labels, labels_stride, weights, weights_size,
                     out, in_delta=None, in_delta_stride=0) -> None:
    count = f.loss_count(batch_size)
    io = api.Exchange()
    io.receive("out", out, layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (count,)), 1, 0, wire=api.FLOAT32)
    io.receive_gradient("in_delta", in_delta, f.input_geometry, batch_size, in_delta_stride)
    f.call("LossFilterApplyBatch", _loss_request(
        io, pb.LossFilterApplyBatchRequest, f, batch_size, in_, in_stride, labels, labels_stride, weights,
        weights_size, compute_in_delta=in_delta is not None), io)


@api._c_style(-1)
def BNNSLossFilterApplyBatch(filter: LossFilter, batch_size: int, in_, in_stride: int, labels, labels_stride: int,
                             weights, weights_size: int, out, in_delta: Optional[BNNSNDArrayDescriptor],
                             in_delta_stride: int) -> int:
    """The loss into ``out`` (and dL/d(in) into ``in_delta.data`` when given); 0 or -1."""
    loss_apply_batch(filter, batch_size, in_, in_stride, labels, labels_stride, weights, weights_size, out,
                     in_delta, in_delta_stride)
    return 0


@api._c_style(-1)
def BNNSLossFilterApplyBackwardBatch(filter: LossFilter, batch_size: int, in_, in_stride: int,
                                     in_delta: BNNSNDArrayDescriptor, in_delta_stride: int, labels,
                                     labels_stride: int, weights, weights_size: int,
                                     out_delta: BNNSNDArrayDescriptor, out_delta_stride: int) -> int:
    """dL/d(in) = dL/d(loss) * d(loss)/d(in) into ``in_delta.data``; 0 or -1."""
    require(in_delta is not None and out_delta is not None and out_delta.data is not None,
            "in_delta and out_delta (with data) are required")
    io = api.Exchange()
    io.receive_gradient("in_delta", in_delta, filter.input_geometry, batch_size, in_delta_stride)
    count = filter.loss_count(batch_size)
    per_item = count if filter.reduction != C.BNNSLossReductionNone else count // int(batch_size)
    items = 1 if filter.reduction != C.BNNSLossReductionNone else int(batch_size)
    request = _loss_request(io, pb.LossFilterApplyBackwardBatchRequest, filter, batch_size, in_, in_stride, labels,
                            labels_stride, weights, weights_size)
    request.out_delta.CopyFrom(io.send(
        "out_delta", out_delta.data, layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (per_item,)), items,
        out_delta_stride if items > 1 else 0))
    filter.call("LossFilterApplyBackwardBatch", request, io)
    return 0


class _LossFunction:
    """BNNS.LossFunction cases (with their parameters, as in Swift)."""

    @staticmethod
    def softmax_cross_entropy(label_smoothing: float = 0.0):
        return (C.BNNSLossFunctionSoftmaxCrossEntropy, {"label_smooth": label_smoothing})

    @staticmethod
    def sigmoid_cross_entropy(label_smoothing: float = 0.0):
        return (C.BNNSLossFunctionSigmoidCrossEntropy, {"label_smooth": label_smoothing})

    @staticmethod
    def huber(huber_delta: float = 1.0):
        return (C.BNNSLossFunctionHuber, {"huber_delta": huber_delta})

    @staticmethod
    def yolo(**parameters):
        return (C.BNNSLossFunctionYolo, parameters)

    mean_square_error: tuple[int, dict] = (C.BNNSLossFunctionMeanSquareError, {})
    log: tuple[int, dict] = (C.BNNSLossFunctionLog, {})
    cosine_distance: tuple[int, dict] = (C.BNNSLossFunctionCosineDistance, {})
    hinge: tuple[int, dict] = (C.BNNSLossFunctionHinge, {})
    mean_absolute_error: tuple[int, dict] = (C.BNNSLossFunctionMeanAbsoluteError, {})
    categorical_cross_entropy: tuple[int, dict] = (C.BNNSLossFunctionCategoricalCrossEntropy, {})


class _LossReduction:
    none = C.BNNSLossReductionNone
    sum = C.BNNSLossReductionSum
    weighted_mean = C.BNNSLossReductionWeightedMean
    reduction_mean = C.BNNSLossReductionMean
    zero_weight_mean = C.BNNSLossReductionNonZeroWeightMean


_PARAMS_CLASS = {
    C.BNNSLossFunctionSoftmaxCrossEntropy: BNNSLayerParametersLossSoftmaxCrossEntropy,
    C.BNNSLossFunctionSigmoidCrossEntropy: BNNSLayerParametersLossSigmoidCrossEntropy,
    C.BNNSLossFunctionHuber: BNNSLayerParametersLossHuber,
    C.BNNSLossFunctionYolo: BNNSLayerParametersLossYolo,
}


class LossLayer(Layer):
    """BNNS.LossLayer(input:output:lossFunction:lossReduction:filterParameters:)."""

    filter: LossFilter   # what its creator returns

    def __init__(self, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, loss_function,
                 loss_reduction: int = _LossReduction.none, filter_parameters: Optional[BNNSFilterParameters] = None):
        function, extra = loss_function
        params = _PARAMS_CLASS.get(function, BNNSLayerParametersLossBase)(
            function=function, i_desc=input, o_desc=output, reduction=loss_reduction, **extra)
        super().__init__(BNNSFilterCreateLayerLoss(params, filter_parameters))

    def apply(self, batch_size: int, input: BNNSNDArrayDescriptor, labels: BNNSNDArrayDescriptor,
              output: BNNSNDArrayDescriptor, weights: Optional[BNNSNDArrayDescriptor] = None,
              broadcasts_weights: bool = False,
              generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        """The loss into output.data; dL/d(input) into generating_input_gradient.data when given.
        ``broadcasts_weights`` sends one weight for every sample (weights_size 1)."""
        weights_size = 0
        if weights is not None:
            weights_size = 1 if broadcasts_weights else int(np.asarray(weights.data).size)
        loss_apply_batch(self.filter, batch_size, self._data(input, "input"), 0, self._data(labels, "labels"), 0,
                         buffer_of(weights, "weights"), weights_size, self._data(output, "output"),
                         generating_input_gradient, 0)

    def apply_backward(self, batch_size: int, input: BNNSNDArrayDescriptor, labels: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor, generating_input_gradient: BNNSNDArrayDescriptor,
                       weights: Optional[BNNSNDArrayDescriptor] = None, broadcasts_weights: bool = False) -> None:
        """BNNSLossFilterApplyBackwardBatch in object form (Swift has none; provided for symmetry)."""
        weights_size = 0
        if weights is not None:
            weights_size = 1 if broadcasts_weights else int(np.asarray(weights.data).size)
        if BNNSLossFilterApplyBackwardBatch(self.filter, batch_size, self._data(input, "input"), 0,
                                            generating_input_gradient, 0, self._data(labels, "labels"), 0,
                                            buffer_of(weights, "weights"), weights_size,
                                            read_only(output_gradient), 0) != 0:
            raise api.failure()
