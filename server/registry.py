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
import re
import math
import secrets
import threading
import time
from typing import Any, Iterator, Optional

from bnns.kernels.errors import InvalidArgumentError, NotFoundError, ResourceExhaustedError

_ALIAS = re.compile(r"^(?![ft]-)[A-Za-z0-9_.\-]{1,64}$")


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
    alias: str = ""             # the caller's name for the handle (CreateFilterRequest.alias)
    lease_seconds: float = 0.0  # destroyed after this long unused; 0 = no lease
    last_used: float = dataclasses.field(default_factory=time.monotonic)
    version: int = 0            # a shared state store's version of the handle this copy is at (0 = none yet)
    # (the filter object, elements of one item of its inputs and outputs): the memory bound's
    # count, fixed at create, kept for the calls (Core._footprint); None until the first call.
    item_elements: Optional[tuple] = dataclasses.field(default=None, compare=False, repr=False)

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
GENERATOR = "random_generator"   # BNNSCreateRandomGenerator's handles (server/direct.py): "g-" ids
_PREFIX = {TENSOR: "t-", GENERATOR: "g-"}


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
    def __init__(self, max_handles: int = 0, max_handle_bytes: int = 0, default_lease_seconds: float = 0.0):
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[tuple, str] = {}       # (tenant, alias) -> filter id
        self._lock = threading.Lock()
        self.max_handles = max_handles             # per tenant; 0 = unlimited
        self.max_handle_bytes = max_handle_bytes   # per tenant; 0 = unlimited
        self.default_lease_seconds = default_lease_seconds   # a handle's lease when its create names none
        # With replicas over a shared store: tenant -> (handles, bytes) over every replica, which
        # the limits are checked against instead of this replica's own entries (server/replicas.py).
        self.usage = None
        self.alias_lookup = None    # (alias, tenant) -> id or None, from the shared store

    def add(self, kind: str, filter_obj: Any, info_parameters: Any, owner: str = "", alias: str = "",
            lease_seconds: float = 0.0) -> Entry:
        # Random; over replicas, a shared store refuses a create whose id exists and the create
        # is made again with another (server/replicas.py), so ids are unique across replicas.
        filter_id = _PREFIX.get(kind, "f-") + secrets.token_hex(8)
        if not (math.isfinite(lease_seconds) and lease_seconds >= 0):
            raise InvalidArgumentError(f"lease_seconds {lease_seconds} must be a finite number >= 0 (0 = the "
                                       "server's default)")
        if alias and not _ALIAS.match(alias):
            raise InvalidArgumentError(f"alias {alias!r} is not a handle name: 1 to 64 letters, digits, '_', '.' or "
                                       "'-', not starting with 'f-' or 't-'")
        entry = Entry(filter_id, kind, filter_obj, info_parameters, owner, alias=alias,
                      lease_seconds=float(lease_seconds) or self.default_lease_seconds)
        # Over replicas: the tenant's count and bytes in the shared store (asked outside the lock).
        shared = self.usage(owner) if self.usage is not None and (self.max_handles or self.max_handle_bytes) else None
        with self._lock:
            if alias and (owner, alias) in self._aliases:
                raise InvalidArgumentError(f"alias {alias!r} already names live filter {self._aliases[(owner, alias)]}; "
                                           "destroy it or choose another alias")
            mine = [e for e in self._entries.values() if e.owner == owner]
            count, held = shared if shared is not None else (len(mine), None)
            if self.max_handles and count >= self.max_handles:
                raise ResourceExhaustedError(
                    f"live handle limit reached: {self.max_handles} filters and tensors per tenant (max_handles); "
                    f"destroy some before creating more", reason="HANDLE_LIMIT")
            if self.max_handle_bytes:
                held = sum(e.bytes_held for e in mine) if held is None else held
                if held + entry.bytes_held > self.max_handle_bytes:
                    raise ResourceExhaustedError(
                        f"handle bytes limit reached: this {'tensor' if kind == TENSOR else 'filter'} holds "
                        f"{entry.bytes_held} bytes and the tenant's filters and tensors already hold {held}, over "
                        f"max_handle_bytes {self.max_handle_bytes}", reason="HANDLE_LIMIT")
            self._entries[filter_id] = entry
            if alias:
                self._aliases[(owner, alias)] = filter_id
        return entry

    def check_growth(self, owner: str, extra: int, what: str) -> None:
        """Refuse, before it is allocated, memory a handle of ``owner`` is about to grow by (optimizer
        accumulators, a training cache) when it would take the tenant past max_handle_bytes."""
        if not self.max_handle_bytes or extra <= 0:
            return
        if self.usage is not None:
            held = self.usage(owner)[1]
        else:
            with self._lock:
                held = sum(e.bytes_held for e in self._entries.values() if e.owner == owner)
        if held + extra > self.max_handle_bytes:
            raise ResourceExhaustedError(
                f"handle bytes limit reached: {what} would add {extra} bytes to the {held} the tenant's filters and "
                f"tensors hold, over max_handle_bytes {self.max_handle_bytes}")

    def put(self, entry: Entry) -> None:
        """Put back a handle restored from the state store, under its own id (and alias)."""
        with self._lock:
            self._entries[entry.filter_id] = entry
            if entry.alias:
                self._aliases[(entry.owner, entry.alias)] = entry.filter_id

    def peek(self, handle_id: str) -> Optional[Entry]:
        """The entry under ``handle_id`` whatever its kind and owner (None if not here)."""
        with self._lock:
            return self._entries.get(handle_id)

    def forget(self, handle_id: str) -> None:
        """Drop this server's copy of a handle without destroying it (a replica's stale copy: the
        shared state store has the handle)."""
        with self._lock:
            entry = self._entries.pop(handle_id, None)
            if entry is not None and entry.alias and self._aliases.get((entry.owner, entry.alias)) == handle_id:
                del self._aliases[(entry.owner, entry.alias)]

    def resolve_alias(self, name: str, owner: str = "") -> str:
        """The id of the tenant's filter aliased ``name``; ``name`` itself when it is no alias."""
        with self._lock:
            found = self._aliases.get((owner, name))
        if found is None and self.alias_lookup is not None and _ALIAS.match(name):   # made on another replica
            found = self.alias_lookup(name, owner)
        return found or name

    def get(self, filter_id: str, owner: Optional[str] = "") -> Entry:
        """The live filter; owner None skips the tenant check (metrics labels only)."""
        return self._get(filter_id, owner, tensor=False)

    def get_tensor(self, tensor_id: str, owner: str = "") -> Entry:
        """The live tensor (Entry.filter is a dataplane.Tensor)."""
        return self._get(tensor_id, owner, tensor=True)

    def get_generator(self, generator_id: str, owner: str = "") -> Entry:
        """The live random generator (Entry.filter is a kernels.random.RandomGenerator)."""
        return self._get(generator_id, owner, tensor=False, generator=True)

    def _get(self, handle_id: str, owner: Optional[str], tensor: bool, generator: bool = False) -> Entry:
        # One dict read, atomic under the GIL: the lock, which orders the writers, adds nothing to
        # it (an entry being destroyed meanwhile is seen or not, as with the lock), and a step of
        # a training loop makes some fifty of these lookups.
        entry = self._entries.get(handle_id)
        if entry is None or (owner is not None and entry.owner != owner) or (entry.kind == TENSOR) != tensor \
                or (entry.kind == GENERATOR) != generator:
            if generator:
                raise NotFoundError(f"no live random generator with id {handle_id!r} (never created, or destroyed)",
                                    reason="GENERATOR_NOT_FOUND")
            # Another tenant's handle is reported exactly like one that never existed.
            raise NotFoundError(_not_found(handle_id, tensor), reason="TENSOR_NOT_FOUND" if tensor else "FILTER_NOT_FOUND")
        if owner is not None:                       # any use by its tenant renews the lease
            entry.last_used = time.monotonic()
        return entry

    def renew(self, handle_ids, owner: str = "") -> tuple:
        """KeepAlive: renew the tenant's handles (all of them when ``handle_ids`` is empty).
        Returns (ids not live, the shortest lease among those renewed; 0 = none has one)."""
        now, missing, leases = time.monotonic(), [], []
        with self._lock:
            if handle_ids:
                found = [(i, self._entries.get(i)) for i in handle_ids]
            else:
                found = [(e.filter_id, e) for e in self._entries.values() if e.owner == owner]
            for handle_id, entry in found:
                if entry is None or entry.owner != owner:
                    missing.append(handle_id)
                    continue
                entry.last_used = now
                if entry.lease_seconds:
                    leases.append(entry.lease_seconds)
        return missing, min(leases, default=0.0)

    def expire(self, now: Optional[float] = None) -> list:
        """Remove the handles whose lease ran out (unused for longer than it) and return them. A
        handle a call is using right now (its lock held) is renewed instead."""
        now = time.monotonic() if now is None else now
        expired = []
        with self._lock:
            for handle_id, entry in list(self._entries.items()):
                if not entry.lease_seconds or now - entry.last_used <= entry.lease_seconds:
                    continue
                if entry.lock.locked():
                    entry.last_used = now
                    continue
                del self._entries[handle_id]
                if entry.alias:
                    self._aliases.pop((entry.owner, entry.alias), None)
                expired.append(entry)
        for entry in expired:
            entry.destroyed = True
        return expired

    def remove(self, filter_id: str, owner: str = "", tensor: bool = False, generator: bool = False) -> Entry:
        with self._lock:
            entry = self._entries.get(filter_id)
            if entry is None or entry.owner != owner or (entry.kind == TENSOR) != tensor \
                    or (entry.kind == GENERATOR) != generator:
                raise NotFoundError(_not_found(filter_id, tensor), reason="TENSOR_NOT_FOUND" if tensor else "FILTER_NOT_FOUND")
            del self._entries[filter_id]
            if entry.alias:
                self._aliases.pop((owner, entry.alias), None)
        entry.destroyed = True
        return entry

    def entries(self, owner: str = "") -> Iterator[Entry]:
        """The tenant's live filters."""
        with self._lock:
            snapshot = [e for e in self._entries.values() if e.owner == owner and e.kind not in (TENSOR, GENERATOR)]
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
