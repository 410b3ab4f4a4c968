"""Apple's BNNS constants with Apple's names and raw values, read from the wire contract.

Each enum value in proto/bnns/v1/types.proto carries its Apple name as the `apple_name` option,
so this module holds no second list: `BNNSDataLayoutImageCHW == 0x30000` because the contract
says so.
"""

from __future__ import annotations

from bnns.v1 import options_pb2, types_pb2


def _apple_constants() -> dict:
    names = {}
    for enum in types_pb2.DESCRIPTOR.enum_types_by_name.values():
        for value in enum.values:
            apple = value.GetOptions().Extensions[options_pb2.apple_name]
            if apple:
                names[apple] = value.number
    return names


APPLE_CONSTANTS = _apple_constants()
globals().update(APPLE_CONSTANTS)

# Apple's deprecated alias, kept because BNNS code still uses it.
BNNSPoolingFunctionAverage = APPLE_CONSTANTS["BNNSPoolingFunctionAverageCountIncludePadding"]
BNNS_MAX_TENSOR_DIMENSION = 8

__all__ = sorted(APPLE_CONSTANTS) + ["BNNSPoolingFunctionAverage", "BNNS_MAX_TENSOR_DIMENSION"]
