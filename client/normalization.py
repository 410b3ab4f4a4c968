"""Normalization filters: BNNSFilterCreateLayerNormalization, BNNSNormalizationFilterApplyBatch,
BNNSNormalizationFilterApplyBackwardBatch, and BNNS.NormalizationLayer."""

from __future__ import annotations

from typing import Optional

import numpy as np

from bnns.kernels.errors import require
from bnns.v1 import service_pb2 as pb

from . import api
from . import constants as C
from .layers import Layer, _LearningPhase, buffer_of, read_only
from .c_structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersNormalization,
                        BNNSNDArrayDescriptor)


class NormalizationFilter(api.BNNSFilter):
    """A normalization handle; remembers the caller's moving-statistics arrays (UseClientPtr)."""

    moving_stats: dict = {}


@api._c_style(None)
def BNNSFilterCreateLayerNormalization(norm_type: int, layer_params: BNNSLayerParametersNormalization,
                                       filter_params: Optional[BNNSFilterParameters] = None):
    """A Batch/Instance/Layer/Group normalization filter (norm_type = BNNSBatchNorm, ...), or None."""
    return api.create_filter("normalization", layer_params, filter_params, message_fields={"type": norm_type},
                             input_geometry=layer_params.i_desc.geometry(),
                             output_geometry=layer_params.o_desc.geometry(),
                             filter_class=NormalizationFilter,
                             moving_stats=client_moving_statistics(layer_params, filter_params),
                             beta_geometry=_geometry(layer_params.beta_desc),
                             gamma_geometry=_geometry(layer_params.gamma_desc))


def client_moving_statistics(layer_params: BNNSLayerParametersNormalization,
                             filter_params: Optional[BNNSFilterParameters]) -> dict:
    """With BNNSFlagsUseClientPtr, the caller's moving-statistics arrays ("moving_mean",
    "moving_variance"), which every training forward updates in place (stand-alone or fused)."""
    if filter_params is None or not filter_params.flags & C.BNNSFlagsUseClientPtr:
        return {}
    return {name: d.data for name, d in (("moving_mean", layer_params.moving_mean_desc),
                                         ("moving_variance", layer_params.moving_variance_desc))
            if d is not None and isinstance(d.data, np.ndarray)}   # a server tensor is bound by the server


def receive_moving_statistics(io: api.Exchange, moving_stats: dict) -> None:
    """Have the call write the moving statistics into the caller's arrays (UseClientPtr)."""
    for name, array in moving_stats.items():
        io.receive_flat(name, array.reshape(-1))


def _geometry(desc):
    return desc.geometry() if desc is not None else None


def normalization_apply_batch(f: NormalizationFilter, batch_size, in_, in_stride, out, out_stride, training) -> None:
    io = api.Exchange()
    io.receive("out", out, f.output_geometry, batch_size, out_stride)
    receive_moving_statistics(io, f.moving_stats)   # UseClientPtr: updated in place, as BNNS does
    request = pb.NormalizationFilterApplyBatchRequest(filter_id=f.filter_id, batch_size=int(batch_size),
                                                      training=bool(training))
    getattr(request, "in").CopyFrom(io.send("in", in_, f.input_geometry, batch_size, in_stride))
    f.call("NormalizationFilterApplyBatch", request, io)


@api._c_style(-1)
def BNNSNormalizationFilterApplyBatch(filter: NormalizationFilter, batch_size: int, in_, in_stride: int, out,
                                      out_stride: int, training: bool) -> int:
    """Normalize a batch (training: batch statistics, moving-stat update, cache for backward); 0 or -1."""
    normalization_apply_batch(filter, batch_size, in_, in_stride, out, out_stride, training)
    return 0


def normalization_apply_backward_batch(f, batch_size, in_delta, in_delta_stride, out, out_stride, out_delta,
                                       out_delta_stride, beta_delta, gamma_delta) -> None:
    require(out_delta is not None and out_delta.data is not None, "out_delta (with data) is required")
    io = api.Exchange()
    io.receive_gradient("in_delta", in_delta, f.input_geometry, batch_size, in_delta_stride)
    for name, desc, geometry in (("beta_delta", beta_delta, f.beta_geometry), ("gamma_delta", gamma_delta,
                                                                                f.gamma_geometry)):
        if desc is not None:
            io.receive_gradient(name, desc, desc.geometry() if geometry is None else geometry, 1, 0)
    request = pb.NormalizationFilterApplyBackwardBatchRequest(
        filter_id=f.filter_id, batch_size=int(batch_size),
        out_delta=io.send("out_delta", out_delta.data, f.output_geometry, batch_size, out_delta_stride),
        compute_in_delta=in_delta is not None, compute_beta_delta=beta_delta is not None,
        compute_gamma_delta=gamma_delta is not None)
    if out is not None:
        request.out.CopyFrom(io.send("out", out, f.output_geometry, batch_size, out_stride))
    f.call("NormalizationFilterApplyBackwardBatch", request, io)


@api._c_style(-1)
def BNNSNormalizationFilterApplyBackwardBatch(filter: NormalizationFilter, batch_size: int,
                                              in_delta: Optional[BNNSNDArrayDescriptor], in_delta_stride: int,
                                              out, out_stride: int, out_delta: BNNSNDArrayDescriptor,
                                              out_delta_stride: int, beta_delta: Optional[BNNSNDArrayDescriptor],
                                              gamma_delta: Optional[BNNSNDArrayDescriptor]) -> int:
    """Gradients from the cache of the last training forward (BNNS has no `in` here); 0 or -1."""
    normalization_apply_backward_batch(filter, batch_size, in_delta, in_delta_stride, out, out_stride, out_delta,
                                       out_delta_stride, beta_delta, gamma_delta)
    return 0


class _NormalizationType:
    """BNNS.NormalizationType: .batch(movingMean:movingVariance:), .instance(...), .layer(normalizationAxis:),
    .group(groupCount:)."""

    @staticmethod
    def batch(moving_mean=None, moving_variance=None):
        return (C.BNNSBatchNorm, {"moving_mean_desc": moving_mean, "moving_variance_desc": moving_variance})

    @staticmethod
    def instance(moving_mean=None, moving_variance=None):
        return (C.BNNSInstanceNorm, {"moving_mean_desc": moving_mean, "moving_variance_desc": moving_variance})

    @staticmethod
    def layer(normalization_axis: int = 0):
        return (C.BNNSLayerNorm, {"normalization_axis": normalization_axis})

    @staticmethod
    def group(group_count: int):
        return (C.BNNSGroupNorm, {"num_groups": group_count})


class NormalizationLayer(Layer):
    """BNNS.NormalizationLayer(type:input:output:beta:gamma:momentum:epsilon:activation:filterParameters:)."""

    filter: NormalizationFilter   # what its creator returns

    def __init__(self, type, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                 beta: Optional[BNNSNDArrayDescriptor] = None, gamma: Optional[BNNSNDArrayDescriptor] = None,
                 momentum: float = 0.9, epsilon: float = 1e-5, activation: Optional[BNNSActivation] = None,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        norm_type, extra = type
        params = BNNSLayerParametersNormalization(i_desc=input, o_desc=output, beta_desc=beta, gamma_desc=gamma,
                                                  momentum=momentum, epsilon=epsilon, activation=activation, **extra)
        super().__init__(BNNSFilterCreateLayerNormalization(norm_type, params, filter_parameters))

    def apply(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
              for_: str = _LearningPhase.inference) -> None:
        normalization_apply_batch(self.filter, batch_size, self._data(input, "input"), 0,
                                  self._data(output, "output"), 0, for_ == _LearningPhase.training)

    def apply_backward(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor,
                       generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_beta_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_gamma_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        """``input`` is accepted for Swift's signature; BNNS uses the last training forward's cache."""
        normalization_apply_backward_batch(self.filter, batch_size, generating_input_gradient, 0,
                                           buffer_of(output, "output"), 0, read_only(output_gradient), 0,
                                           generating_beta_gradient, generating_gamma_gradient)
