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


# id of a bound array object -> its _bound key: the array a caller bound is the one it passes to
# every BNNSOptimizerStep, found without reading its address (a microsecond per parameter).
_key_of_bound: dict = {}


def bind(array: np.ndarray, filter_, name: str) -> None:
    with _lock:
        key = _key(array)
        _bound[key] = (weakref.ref(array), weakref.ref(filter_), name)
        _key_of_bound[id(array)] = key


def lookup(array) -> Optional[Tuple[BNNSFilter, str]]:
    """(filter, parameter name) if ``array`` is a live bound parameter array, else None."""
    if not isinstance(array, np.ndarray):
        return None
    with _lock:
        key = _key_of_bound.get(id(array))
        found = _bound.get(key) if key is not None else None
        if key is None or found is None or found[0]() is not array or key[1] != array.nbytes:   # else by address
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
        for ident in [i for i, key in _key_of_bound.items() if key not in _bound]:
            del _key_of_bound[ident]
