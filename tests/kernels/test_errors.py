"""The error helpers the kernels check with (bnns.errors, re-exported by bnns.kernels.errors)."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels.errors import InternalError, InvalidArgumentError, given, require


def test_given_returns_a_present_value_itself():
    array = np.zeros(3)
    assert given(array, "unused") is array
    assert given(0, "unused") == 0 and given("", "unused") == ""      # falsy is not missing


def test_given_raises_the_named_error_with_its_message_and_reason_for_none():
    with pytest.raises(InvalidArgumentError, match="^w_desc is required$") as raised:
        given(None, "w_desc is required")
    assert raised.value.reason == "INVALID_ARGUMENT"
    with pytest.raises(InvalidArgumentError) as raised:
        given(None, "rpc 'X' is not an RPC", "CHUNKED_CALL_MALFORMED")
    assert raised.value.reason == "CHUNKED_CALL_MALFORMED"
    with pytest.raises(InternalError, match="the arena"):
        given(None, "the arena", error=InternalError)


def test_given_builds_a_lazy_message_only_when_it_fails():
    built = []

    def message() -> str:
        built.append("built")
        return "message"
    assert given(1, message) == 1
    assert built == []
    with pytest.raises(InvalidArgumentError, match="momentum 0.9 needs V"):
        given(None, lambda: f"momentum {0.9} needs V")


def test_require_takes_numpy_booleans():
    require(np.bool_(True), "unused")
    with pytest.raises(InvalidArgumentError, match="all finite"):
        require(np.all(np.isfinite([1.0, np.inf])), "all finite")
