"""Dropout filters: BNNSFilterCreateLayerDropout and BNNS.DropoutLayer. Apply and backward are the
generic BNNSFilterApplyBatch / BNNSFilterApplyBackwardBatch: each apply is a training forward
(it draws a new mask), and the backward reuses the mask of the last one."""

from __future__ import annotations

from typing import Optional


from . import api
from .layers import ConvolutionLayer, Layer
from .c_structs import BNNSFilterParameters, BNNSLayerParametersDropout, BNNSNDArrayDescriptor


@api._c_style(None)
def BNNSFilterCreateLayerDropout(layer_params: BNNSLayerParametersDropout,
                                 filter_params: Optional[BNNSFilterParameters] = None):
    """A dropout filter, or None (see last_error())."""
    return api.create_filter("dropout", layer_params, filter_params, input_geometry=layer_params.i_desc.geometry(),
                             output_geometry=layer_params.o_desc.geometry())


class DropoutLayer(Layer):
    """BNNS.DropoutLayer(input:output:rate:seed:control:filterParameters:)."""

    def __init__(self, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, rate: float = 0.5,
                 seed: int = 0, control: int = 0, filter_parameters: Optional[BNNSFilterParameters] = None):
        params = BNNSLayerParametersDropout(i_desc=input, o_desc=output, rate=rate, seed=seed, control=control)
        super().__init__(BNNSFilterCreateLayerDropout(params, filter_parameters))

    apply = ConvolutionLayer.apply

    def apply_backward(self, batch_size: int, input: Optional[BNNSNDArrayDescriptor], output: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor,
                       generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        """The input gradient through the mask of the last apply."""
        ConvolutionLayer.apply_backward(self, batch_size, input, output, output_gradient, generating_input_gradient,
                                        None, None)
