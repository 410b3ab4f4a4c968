"""Buffer decoding: the JSON `values` form takes what the REST door writes back, nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import json_format

from bnns.kernels.errors import InvalidArgumentError
from bnns.server import codec
from bnns.v1 import types_pb2


def buffer(values) -> types_pb2.Buffer:
    return json_format.ParseDict({"values": values}, types_pb2.Buffer())


def test_values_accept_nested_lists_and_proto3_non_finite_spellings():
    got = codec.array_from_buffer(buffer([[1, 2], ["NaN", "Infinity"], "-Infinity"]), np.dtype("<f4"), "in")
    np.testing.assert_array_equal(got, np.array([1, 2, np.nan, np.inf, -np.inf], np.float32))


@pytest.mark.parametrize("bad", [["nan"], ["1.5"], [True], [{"a": 1}]], ids=["lowercase-nan", "numeric-string",
                                                                          "bool", "object"])
def test_values_refuse_anything_else(bad):
    with pytest.raises(InvalidArgumentError, match="values holds"):
        codec.array_from_buffer(buffer(bad), np.dtype("<f4"), "in")
