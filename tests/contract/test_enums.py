"""Enum numbers on the wire are Apple's raw values; the kernels' tables use the same numbers."""

from __future__ import annotations

import pytest

import bnns.client as sdk
from bnns.kernels import activation, layout
from bnns.v1 import options_pb2, types_pb2

APPLE_RAW_VALUES = {   # bnns.md 1.2, 1.3, 3.x: a sample from each enum, typed in from Apple's headers
    "BNNSDataLayoutVector": 0x10000, "BNNSDataLayoutRowMajorMatrix": 0x20000, "BNNSDataLayoutImageCHW": 0x30000,
    "BNNSDataLayoutConvolutionWeightsOIHW": 0x40000, "BNNSDataLayoutConvolutionWeightsIOHrWr": 0x40002,
    "BNNSDataLayout4DFirstMajor": 0x48001, "BNNSDataLayout8DLastMajor": 0x88000,
    "BNNSDataTypeFloat16": 0x10010, "BNNSDataTypeFloat32": 0x10020, "BNNSDataTypeBFloat16": 0x18010,
    "BNNSDataTypeInt8": 0x20008, "BNNSDataTypeUInt64": 0x40040, "BNNSDataTypeIndexed8": 0x80008,
    "BNNSDataTypeBoolean": 0x100008, "BNNSNDArrayFlagBackpropAccumulate": 1, "BNNSFlagsUseClientPtr": 1,
    "BNNSActivationFunctionSoftmax": 11, "BNNSActivationFunctionHardSwish": 30,
    "BNNSActivationFunctionGELUApproximationSigmoid": 35, "BNNSPoolingFunctionL2Norm": 4,
    "BNNSLossFunctionCategoricalCrossEntropy": 10, "BNNSLossReductionNonZeroWeightMean": 4,
    "BNNSGroupNorm": 5, "BNNSTransposedConvolution": 6, "BNNSArithmeticErf": 40, "BNNSParameter": 2,
    "BNNSOptimizerFunctionAdamWAMSGradWithClipping": 12, "BNNSOptimizerClippingByGlobalNorm": 3,
}


@pytest.mark.parametrize("name, value", sorted(APPLE_RAW_VALUES.items()))
def test_sdk_constant_has_apple_raw_value(name, value):
    assert getattr(sdk, name) == value


def test_every_enum_value_has_a_unique_apple_name_except_unspecified():
    seen: dict[str, str] = {}
    for enum in types_pb2.DESCRIPTOR.enum_types_by_name.values():
        for value in enum.values:
            name: str = value.GetOptions().Extensions[options_pb2.apple_name]  # type: ignore[index]  # protoc's stub: a FieldDescriptor
            if value.name.endswith("_UNSPECIFIED"):
                assert value.number == 0 and not name
                continue
            assert name.startswith("BNNS"), value.name
            assert name not in seen, f"{name} names both {seen.get(name)} and {value.name}"
            seen[name] = value.name


def test_kernel_layout_constants_match_the_contract():
    for attr in dir(layout):
        if attr.startswith("LAYOUT_"):
            assert getattr(layout, attr) in types_pb2.DataLayout.values(), attr


def test_activation_table_keys_are_contract_values():
    names: dict[int, str] = {v.number: v.GetOptions().Extensions[options_pb2.apple_name]  # type: ignore[index]  # (protoc's stub)
             for v in types_pb2.ActivationFunction.DESCRIPTOR.values}
    for function, kind in activation.ACTIVATIONS.items():
        assert function in names, kind.name
        assert names[function].endswith(kind.name) or kind.name in names[function], (function, kind.name)
