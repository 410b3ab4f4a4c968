"""The thread-safe table of live handles: filters, and the tensors the server holds (kind
"tensor"). Both count toward a tenant's handle and byte limits; each is found only by its own
lookups (a tensor id given for a filter is NOT_FOUND, and the other way round).

Each entry has its own lock: calls on one handle run one at a time (a training forward and the
backward that reads its cache must not interleave), calls on different handles run in parallel.
Destroy removes the entry at once; a call already holding the entry finishes on a consistent
filter and the memory goes when the last reference does.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from typing import Any, Iterator, Optional

from bnns.kernels.errors import NotFoundError, ResourceExhaustedError


@dataclasses.dataclass
class Entry:
    filter_id: str
    kind: str
    filter: Any                 # a kernels filter object
    info_parameters: Any        # the CreateFilterRequest with tensor data cleared (for Describe)
    owner: str = ""             # tenant
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    destroyed: bool = False
    # Server-held optimizer accumulators: (parameter name, optimizer function) -> {block: array}.
    optimizer_state: dict = dataclasses.field(default_factory=dict)
    # For the state store: the full CreateFilterRequest (serialized, every tensor's data in it),
    # and the memory shared through BNNSFlagsUseClientPtr: for a filter, parameter name -> tensor
    # id; for a tensor, filter id -> parameter name.
    definition: bytes = b""
    shared: dict = dataclasses.field(default_factory=dict)

    @property
    def trainable(self) -> dict:
        """The filter's trainable arrays by name (the live arrays, not copies)."""
        parameters = getattr(self.filter, "parameters", None)
        return dict(parameters()) if parameters is not None else {}

    @property
    def bytes_held(self) -> int:
        """Everything the handle holds: weights and constants, optimizer accumulators, and the
        cache a training forward keeps for its backward."""
        held = getattr(self.filter, "bytes_held", None)
        if held is None:
            held = sum(a.nbytes for a in self.trainable.values())
        state = sum(a.nbytes for blocks in self.optimizer_state.values() for a in blocks.values())
        return int(held) + state + cache_bytes(self.filter)


TENSOR = "tensor"


def cache_bytes(obj, depth: int = 3) -> int:
    """Bytes of the training caches (``_saved``) in a kernel filter and its member filters."""
    if depth < 0 or not hasattr(obj, "__dict__") or not type(obj).__module__.startswith("bnns.kernels"):
        return 0
    total = 0
    for name, value in vars(obj).items():
        if name == "_saved" and value is not None:
            fields = vars(value).values() if hasattr(value, "__dict__") else ()
            total += sum(v.nbytes for v in fields if hasattr(v, "nbytes"))
        elif isinstance(value, (list, tuple)):
            total += sum(cache_bytes(v, depth - 1) for v in value)
        else:
            total += cache_bytes(value, depth - 1)
    return total


def _not_found(handle_id: str, tensor: bool) -> str:
    return f"no live {'tensor' if tensor else 'filter'} with id {handle_id!r} (never created, or destroyed)"


class Registry:
    def __init__(self, max_handles: int = 0, max_handle_bytes: int = 0):
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self.max_handles = max_handles             # per tenant; 0 = unlimited
        self.max_handle_bytes = max_handle_bytes   # per tenant; 0 = unlimited

    def add(self, kind: str, filter_obj: Any, info_parameters: Any, owner: str = "") -> Entry:
        filter_id = ("t-" if kind == TENSOR else "f-") + secrets.token_hex(8)
        entry = Entry(filter_id, kind, filter_obj, info_parameters, owner)
        with self._lock:
            mine = [e for e in self._entries.values() if e.owner == owner]
            if self.max_handles and len(mine) >= self.max_handles:
                raise ResourceExhaustedError(
                    f"live handle limit reached: {self.max_handles} filters and tensors per tenant (max_handles); "
                    f"destroy some before creating more", reason="HANDLE_LIMIT")
            if self.max_handle_bytes:
                held = sum(e.bytes_held for e in mine)
                if held + entry.bytes_held > self.max_handle_bytes:
                    raise ResourceExhaustedError(
                        f"handle bytes limit reached: this {'tensor' if kind == TENSOR else 'filter'} holds "
                        f"{entry.bytes_held} bytes and the tenant's filters and tensors already hold {held}, over "
                        f"max_handle_bytes {self.max_handle_bytes}", reason="HANDLE_LIMIT")
            self._entries[filter_id] = entry
        return entry

    def check_growth(self, owner: str, extra: int, what: str) -> None:
        """Refuse, before it is allocated, memory a handle of ``owner`` is about to grow by (optimizer
        accumulators, a training cache) when it would take the tenant past max_handle_bytes."""
        if not self.max_handle_bytes or extra <= 0:
            return
        with self._lock:
            held = sum(e.bytes_held for e in self._entries.values() if e.owner == owner)
        if held + extra > self.max_handle_bytes:
            raise ResourceExhaustedError(
                f"handle bytes limit reached: {what} would add {extra} bytes to the {held} the tenant's filters and "
                f"tensors hold, over max_handle_bytes {self.max_handle_bytes}")

    def put(self, entry: Entry) -> None:
        """Put back a handle restored from the state store, under its own id."""
        with self._lock:
            self._entries[entry.filter_id] = entry

    def get(self, filter_id: str, owner: Optional[str] = "") -> Entry:
        """The live filter; owner None skips the tenant check (metrics labels only)."""
        return self._get(filter_id, owner, tensor=False)

    def get_tensor(self, tensor_id: str, owner: str = "") -> Entry:
        """The live tensor (Entry.filter is a dataplane.Tensor)."""
        return self._get(tensor_id, owner, tensor=True)

    def _get(self, handle_id: str, owner: Optional[str], tensor: bool) -> Entry:
        with self._lock:
            entry = self._entries.get(handle_id)
        if entry is None or (owner is not None and entry.owner != owner) or (entry.kind == TENSOR) != tensor:
            # Another tenant's handle is reported exactly like one that never existed.
            raise NotFoundError(_not_found(handle_id, tensor), reason="TENSOR_NOT_FOUND" if tensor else "FILTER_NOT_FOUND")
        return entry

    def remove(self, filter_id: str, owner: str = "", tensor: bool = False) -> Entry:
        with self._lock:
            entry = self._entries.get(filter_id)
            if entry is None or entry.owner != owner or (entry.kind == TENSOR) != tensor:
                raise NotFoundError(_not_found(filter_id, tensor), reason="TENSOR_NOT_FOUND" if tensor else "FILTER_NOT_FOUND")
            del self._entries[filter_id]
        entry.destroyed = True
        return entry

    def entries(self, owner: str = "") -> Iterator[Entry]:
        """The tenant's live filters."""
        with self._lock:
            snapshot = [e for e in self._entries.values() if e.owner == owner and e.kind != TENSOR]
        return iter(snapshot)

    def tensors(self, owner: str = "") -> Iterator[Entry]:
        """The tenant's live tensors."""
        with self._lock:
            snapshot = [e for e in self._entries.values() if e.owner == owner and e.kind == TENSOR]
        return iter(snapshot)

    def all_entries(self) -> list:
        with self._lock:
            return list(self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
