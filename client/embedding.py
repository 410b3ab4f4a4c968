"""Embedding filters: BNNSFilterCreateLayerEmbedding and BNNS.EmbeddingLayer. Apply and backward
are the generic BNNSFilterApplyBatch / BNNSFilterApplyBackwardBatch: the input holds integer
indices (i_desc's data type), the backward's weights_delta is dL/d(dictionary), a scatter-add of
the output gradient rows (the indices have no gradient)."""

from __future__ import annotations

from typing import Optional

from bnns.kernels.errors import InvalidArgumentError

from . import api
from .layers import Layer, buffer_of, read_only
from .c_structs import BNNSFilterParameters, BNNSLayerParametersEmbedding, BNNSNDArrayDescriptor

BNNSEmbeddingFlagScaleGradientByFrequency = 1


@api._c_style(None)
def BNNSFilterCreateLayerEmbedding(layer_params: BNNSLayerParametersEmbedding,
                                   filter_params: Optional[BNNSFilterParameters] = None):
    """An embedding filter, or None (see last_error())."""
    return api.create_filter("embedding", layer_params, filter_params, input_geometry=layer_params.i_desc.geometry(),
                             output_geometry=layer_params.o_desc.geometry(),
                             weights_geometry=layer_params.dictionary.geometry())


_NORM_TYPES = {"euclidean": 2.0, "manhattan": 1.0}


class EmbeddingLayer(Layer):
    """BNNS.EmbeddingLayer(input:output:dictionary:paddingIndex:maximumNorm:normType:
    scalesGradientByFrequency:filterParameters:). ``norm_type``: a p (float) or Swift's
    ``"euclidean"`` (2) / ``"manhattan"`` (1); ``padding_index`` None = none."""

    def __init__(self, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, dictionary: BNNSNDArrayDescriptor,
                 padding_index: Optional[int] = None, maximum_norm: float = 0.0, norm_type=2.0,
                 scales_gradient_by_frequency: bool = False, filter_parameters: Optional[BNNSFilterParameters] = None):
        if isinstance(norm_type, str):
            if norm_type not in _NORM_TYPES:
                raise InvalidArgumentError(f"norm_type {norm_type!r} is not one of {sorted(_NORM_TYPES)} or a number")
            norm_type = _NORM_TYPES[norm_type]
        params = BNNSLayerParametersEmbedding(
            i_desc=input, o_desc=output, dictionary=dictionary, padding_idx=padding_index, max_norm=maximum_norm,
            norm_type=norm_type, flags=BNNSEmbeddingFlagScaleGradientByFrequency if scales_gradient_by_frequency else 0)
        super().__init__(BNNSFilterCreateLayerEmbedding(params, filter_parameters))

    def apply(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor) -> None:
        api.apply_batch(self.filter, batch_size, self._data(input, "input"), 0, self._data(output, "output"), 0)

    def apply_backward(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor,
                       generating_weights_gradient: BNNSNDArrayDescriptor) -> None:
        """dL/d(dictionary) into ``generating_weights_gradient`` (summed over the batch)."""
        api.apply_backward_batch(self.filter, batch_size, self._data(input, "input"), 0, None, 0,
                                 buffer_of(output, "output"), 0, read_only(output_gradient), 0,
                                 generating_weights_gradient, None)
