"""One source of defaults: the SDK's C structs and the kernels' parameter dataclasses both take a
field's default from the schema's (bnns.v1.default) option, so they agree wherever Apple's struct
does not say otherwise."""

from __future__ import annotations

import dataclasses

import pytest

import bnns.client as bnns
from bnns.kernels import params
from bnns.v1 import options_pb2, service_pb2, types_pb2

# SDK struct -> the kernels' dataclass of the same message.
PAIRS = [
    (bnns.BNNSLayerParametersConvolution, params.ConvolutionParameters),
    (bnns.BNNSLayerParametersPooling, params.PoolingParameters),
    (bnns.BNNSLayerParametersNormalization, params.NormalizationParameters),
    (bnns.BNNSLayerParametersDropout, params.DropoutParameters),
    (bnns.BNNSLayerParametersEmbedding, params.EmbeddingParameters),
    (bnns.BNNSLayerParametersBroadcastMatMul, params.BroadcastMatMulParameters),
    (bnns.BNNSLayerParametersTensorContraction, params.TensorContractionParameters),
    (bnns.BNNSLayerParametersCropResize, params.CropResizeParameters),
    (bnns.BNNSLayerParametersLossYolo, params.YoloParameters),
    (bnns.BNNSOptimizerAdamFields, params.OptimizerFields),
    (bnns.BNNSOptimizerRMSPropWithClippingFields, params.OptimizerFields),
    (bnns.BNNSActivation, params.Activation),
]


@pytest.mark.parametrize("struct, kernel", PAIRS, ids=[s.__name__ for s, _ in PAIRS])
def test_sdk_structs_and_kernel_dataclasses_share_the_schema_defaults(struct, kernel):
    message = getattr(types_pb2, kernel.__name__, None) or getattr(service_pb2, kernel.__name__)
    apple_names = {f.name: f.GetOptions().Extensions[options_pb2.apple_field] or f.name for f in message.DESCRIPTOR.fields}
    sdk = {f.name: f.default for f in dataclasses.fields(struct)}
    compared = 0
    for field in dataclasses.fields(kernel):
        name = apple_names.get(field.name, field.name)
        if name not in sdk or sdk[name] is dataclasses.MISSING or field.default is dataclasses.MISSING:
            continue                      # required on one side (Apple's positional fields)
        if isinstance(sdk[name], (type(None), tuple)) and not isinstance(field.default, tuple):
            continue                      # a NULL pointer in the SDK, an empty message in the kernels
        assert sdk[name] == field.default, f"{struct.__name__}.{name}: SDK {sdk[name]!r}, kernel {field.default!r}"
        compared += 1
    assert compared >= 1


def test_schema_defaults_reach_both_sides():
    conv = bnns.BNNSLayerParametersConvolution(i_desc=None, w_desc=None, o_desc=None)  # type: ignore[arg-type]
    assert (conv.x_stride, conv.groups, conv.pad) == (1, 1, (0, 0, 0, 0))
    assert params.NormalizationParameters.__dataclass_fields__["momentum"].default == 0.9
    assert bnns.BNNSLayerParametersNormalization(i_desc=None, o_desc=None).epsilon == pytest.approx(1e-5)  # type: ignore[arg-type]
    assert bnns.BNNSOptimizerAdamFields(learning_rate=0.1).beta2 == 0.999
    assert bnns.BNNSLayerParametersEmbedding(i_desc=None, o_desc=None, dictionary=None).padding_idx is None  # type: ignore[arg-type]
    # where Apple's struct says otherwise, the SDK keeps its own and the wire's zero keeps its meaning
    assert bnns.BNNSLayerParametersLossHuber(function=0, i_desc=None, o_desc=None).huber_delta == 1.0  # type: ignore[arg-type]
    assert bnns.BNNSNDArrayDescriptor().layout == bnns.BNNSDataLayoutVector
    assert bnns.BNNSNDArrayDescriptor().data_type == types_pb2.DATA_TYPE_FLOAT32
