"""BNNSFlagsUseClientPtr across a network.

On a Mac such a filter works on the caller's own weight memory, so BNNSOptimizerStep on those
arrays changes what the filter computes. Here the filter's weights live on the server; the SDK
remembers which caller arrays a filter was created from, and BNNSOptimizerStep on them runs the
step on the server's copy and writes the new values back into the caller's arrays, so both hold
the same numbers. (Direct writes to a bound array by other means are not seen by the server:
there is no shared memory across a network. Create the filter again to upload new weights.)
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

if TYPE_CHECKING:
    from .api import BNNSFilter

_lock = threading.Lock()
# (address, byte length) of a caller's array -> (weakref to the array, weakref to the filter, name)
_bound: dict = {}


def _key(array: np.ndarray) -> Tuple[int, int]:
    return array.__array_interface__["data"][0], array.nbytes


def bind(array: np.ndarray, filter_, name: str) -> None:
    with _lock:
        _bound[_key(array)] = (weakref.ref(array), weakref.ref(filter_), name)


def lookup(array) -> Optional[Tuple[BNNSFilter, str]]:
    """(filter, parameter name) if ``array`` is a live bound parameter array, else None."""
    if not isinstance(array, np.ndarray):
        return None
    with _lock:
        found = _bound.get(_key(array))
    if found is None:
        return None
    array_ref, filter_ref, name = found
    filter_ = filter_ref()
    if array_ref() is not array and (array_ref() is None or not np.shares_memory(array_ref(), array)):
        return None
    if filter_ is None or filter_.destroyed:
        return None
    return filter_, name


def unbind_filter(filter_) -> None:
    with _lock:
        for key in [k for k, (_, f, _) in _bound.items() if f() is filter_ or f() is None]:
            del _bound[key]
