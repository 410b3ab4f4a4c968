"""Activation filters: BNNSFilterCreateLayerActivation and BNNS.ActivationLayer. Apply and backward
are the generic BNNSFilterApplyBatch / BNNSFilterApplyBackwardBatch (weights_delta receives the
trainable alpha's gradient for LeakyRectifiedLinear and PReLUPerChannel)."""

from __future__ import annotations

from typing import Optional, Sequence

from bnns.kernels import layout

from . import api
from . import constants as C
from .layers import ConvolutionLayer, Layer
from .c_structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersActivation,
                        BNNSNDArrayDescriptor)


def _alpha_geometry(params: BNNSLayerParametersActivation) -> Optional[layout.Descriptor]:
    """The shape of the trainable alpha's gradient (weights_delta), if the function has one."""
    function = params.activation.function
    if function == C.BNNSActivationFunctionLeakyRectifiedLinear:
        return layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (1,))
    if function == C.BNNSActivationFunctionPReLUPerChannel:
        return layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (params.i_desc.geometry().shape[0],))
    return None


@api._c_style(None)
def BNNSFilterCreateLayerActivation(layer_params: BNNSLayerParametersActivation,
                                    filter_params: Optional[BNNSFilterParameters] = None):
    """An activation filter, or None (see last_error())."""
    return api.create_filter("activation", layer_params, filter_params,
                             input_geometry=layer_params.i_desc.geometry(),
                             output_geometry=layer_params.o_desc.geometry(),
                             weights_geometry=_alpha_geometry(layer_params))


def axis_flags(axes: Optional[Sequence[int]]) -> int:
    """Swift's `axes:` (indices into size[]) as BNNS's axis_flags bits."""
    return sum(1 << int(a) for a in axes) if axes else 0


class ActivationLayer(Layer):
    """BNNS.ActivationLayer(function:[axes:]input:output:filterParameters:)."""

    def __init__(self, function: BNNSActivation, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                 filter_parameters: Optional[BNNSFilterParameters] = None, *, axes: Optional[Sequence[int]] = None,
                 seed: int = 0):
        params = BNNSLayerParametersActivation(i_desc=input, o_desc=output, activation=function,
                                               axis_flags=axis_flags(axes), seed=seed)
        super().__init__(BNNSFilterCreateLayerActivation(params, filter_parameters))

    apply = ConvolutionLayer.apply

    def apply_backward(self, batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                       output_gradient: BNNSNDArrayDescriptor,
                       generating_input_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_weights_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        """Input gradient, and the trainable alpha's gradient into generating_weights_gradient."""
        ConvolutionLayer.apply_backward(self, batch_size, input, output, output_gradient, generating_input_gradient,
                                        generating_weights_gradient, None)
