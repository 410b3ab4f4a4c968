"""Several bnns-server replicas over one handle space (README, "Running several replicas").

With a shared state store (server/state_redis.py) every call runs through ``ReplicaSync.run``:

1. the handles the request names are locked in this replica (in one global order), so its own
   calls on a handle run one at a time from the version check to the commit;
2. one round trip to the store checks their versions, and whether this replica was the last to
   use them. A handle held here at the store's version, and used by no other replica since, is
   used as it is (a hot handle: no load); one held at an older version, or used elsewhere since
   (its training caches would be stale), or not held at all, is loaded from the store; one the
   store no longer has is dropped here, so the call says NOT_FOUND;
3. the call runs and commits (Core._commit) with the versions it computed on. If another replica
   committed one of those handles in between, the commit is refused whole (VersionConflict): the
   copies here, which carry the lost attempt, are dropped, and the call is computed again from
   the store, at most ``attempts`` times, then UNAVAILABLE (the SDK retries that).

A store that does not answer is UNAVAILABLE; if that happens at the commit, the copies here are
dropped too, so no replica ever serves a change the store did not acknowledge.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import List

from bnns.kernels.errors import BNNSError, UnavailableError

from . import state as state_mod
from . import wire
from .state_redis import VersionConflict

log = logging.getLogger("bnns.server")

# Calls that name every handle of the tenant.
_WHOLE_TENANT = frozenset({"ListFilters", "ListTensors"})
# Calls that only look at a handle (or drop it): they need its current version, not this
# replica's training caches, so they do not take the handle over from the replica computing on it.
_LOOKING = frozenset({"DescribeFilter", "DescribeTensor", "ReadTensor", "KeepAlive", "DestroyFilter",
                      "DestroyTensor"}) | _WHOLE_TENANT


def named_handles(rpc: str, request) -> List[str]:
    """Every handle id the request names: its filter, tensor or generator, the filter parameters and tensors
    an OptimizerStep updates, the tensors its Buffers reference (inputs, and the outputs map),
    KeepAlive's list."""
    found = set()

    def walk(message):
        for field, value in message.ListFields():
            if field.name in state_mod.HANDLE_FIELDS and isinstance(value, str):
                found.add(value)
            elif field.message_type is not None:
                if field.message_type.GetOptions().map_entry:      # outputs: name -> Buffer
                    if field.message_type.fields_by_name["value"].message_type is not None:
                        for item in value.values():
                            walk(item)
                elif wire.is_repeated(field):
                    for item in value:
                        walk(item)
                else:
                    walk(value)
            elif field.name == "handle_ids":
                found.update(value)

    walk(request)
    found.discard("")
    return sorted(found)


class ReplicaSync:
    def __init__(self, core, store, attempts: int = 8):
        self.core, self.store, self.attempts = core, store, attempts
        self.registry = core.registry
        self.registry.usage = store.usage          # tenant limits counted over every replica
        self.registry.alias_lookup = store.resolve_alias
        self._locks: dict = {}
        self._guard = threading.Lock()
        self.conflicts = 0                          # calls computed again after losing a race

    def run(self, rpc: str, request, tenant: str, io, attempt):
        """Serve one call through ``attempt()`` (Core's: replay check, method, commit) on the
        store's current copies of the handles it names."""
        if rpc in _WHOLE_TENANT or (rpc == "KeepAlive" and not request.handle_ids):
            ids = self.store.handle_ids(tenant)
            for entry in self.registry.all_entries():     # destroyed by another replica
                if entry.owner == tenant and entry.filter_id not in ids:
                    self.registry.forget(entry.filter_id)
        else:
            ids = named_handles(rpc, request)
        pause = 0.002
        for _ in range(self.attempts):
            locks = self._lock_all(ids)
            try:
                self.sync(ids, tenant, claim=rpc not in _LOOKING)
                response = attempt()
                self._commit_outputs(request, tenant)
                return response
            except VersionConflict as conflict:
                self._drop(set(ids) | set(conflict.handle_ids), tenant)
                self.conflicts += 1
                log.debug("%s lost a race for %s (%s): computing it again", rpc, conflict.handle_ids, conflict)
            except BNNSError as error:
                self._drop(getattr(error, "handle_ids", ()), tenant)
                raise
            finally:
                for lock in reversed(locks):
                    lock.release()
            io.reset()
            time.sleep(random.uniform(0, pause))           # let the winner's next call through
            pause = min(pause * 2, 0.1)
        raise UnavailableError(f"{rpc}: other replicas kept changing {', '.join(ids)} while this call was computed "
                               f"({self.attempts} attempts); retry it (with the same idempotency key)")

    def sync(self, ids, tenant: str, claim: bool = True) -> None:
        """Bring this replica's copies of ``ids`` to the store's versions (one round trip when
        they are hot); with ``claim``, also drop copies another replica computed on since."""
        if not ids:
            return
        stale = []
        for handle_id, version in zip(ids, self.store.check(ids, tenant, claim)):
            local = self.registry.peek(handle_id)
            if local is not None and local.owner != tenant:
                continue                                # another tenant's: NOT_FOUND, and left alone
            if version == 0:
                if local is not None:
                    self.registry.forget(handle_id)     # destroyed (or expired) on another replica
            elif local is None or version < 0 or local.version != version:
                stale.append(handle_id)
        if stale:
            self.load(stale, tenant)

    def load(self, ids, tenant: str) -> None:
        """Load handles from the store, with the handles they share memory with
        (BNNSFlagsUseClientPtr), which are loaded together so that they share it again."""
        records, wanted = {}, list(ids)
        while wanted:
            for handle_id, found in zip(wanted, self.store.fetch(wanted, tenant)):
                if found is None:
                    local = self.registry.peek(handle_id)
                    if local is not None and local.owner == tenant:
                        self.registry.forget(handle_id)
                    continue
                records[handle_id] = found
            wanted = sorted({partner for record, _ in records.values()
                             for partner in self.core.shared_partners(record)} - set(records))
        for handle_id in records:
            self.registry.forget(handle_id)
        entries = self.core._put_back([record for record, _ in records.values()])
        for entry in entries:
            entry.version = records[entry.filter_id][1]

    def _commit_outputs(self, request, tenant: str) -> None:
        """Server tensors a call wrote its results into (``outputs``) are committed too: another
        replica may serve the tensor (a ReadTensor is routed by the tensor's id, the call that
        wrote it by its filter's), and must read what was written."""
        outputs = getattr(request, "outputs", None)
        if not outputs or not hasattr(outputs, "values"):
            return
        entries = []
        for buf in outputs.values():
            if buf.WhichOneof("contents") == "tensor":
                entry = self.registry.peek(buf.tensor.tensor_id)
                if entry is not None and entry.owner == tenant and entry not in entries:
                    entries.append(entry)
        if not entries:
            return
        records = []
        for entry in entries:
            with entry.lock:
                records.append(state_mod.snapshot(entry))
        versions = self.store.commit(records, (), None, tenant=tenant,
                                     versions={e.filter_id: e.version for e in entries})
        for entry in entries:
            entry.version = versions[entry.filter_id]

    def evict_moved(self) -> int:
        """Drop the copies of handles another replica now computes on (nginx moved them there
        after a failover, or back after one) or that the store no longer has: their next use
        here would load them anyway, and meanwhile they take memory. Returns how many. (The
        lease reaper calls it on each sweep.)"""
        started = time.monotonic()
        entries = [e for e in self.registry.all_entries() if e.version]
        try:
            holders = self.store.holders([e.filter_id for e in entries])
        except UnavailableError:
            return 0                   # the store is down: nothing is known, nothing dropped
        dropped = 0
        for entry, holder in zip(entries, holders):
            if holder == self.store.replica or entry.last_used > started:
                continue
            with self._guard:
                lock = self._locks.setdefault(entry.filter_id, threading.Lock())
            if not lock.acquire(blocking=False):
                continue               # a call is using it: it decides
            try:
                # Used here since the holders were read (it took the handle back): kept.
                if entry.last_used <= started and self.registry.peek(entry.filter_id) is entry:
                    self.registry.forget(entry.filter_id)
                    dropped += 1
            finally:
                lock.release()
        return dropped

    def _lock_all(self, ids) -> list:
        with self._guard:      # a lock per id ever named here (some 100 bytes each), kept
            locks = [self._locks.setdefault(i, threading.Lock()) for i in ids]
        for lock in locks:
            lock.acquire()
        return locks

    def _drop(self, ids, tenant: str) -> None:
        """Drop the tenant's copies of ``ids`` here (the store has the handles)."""
        for handle_id in ids:
            local = self.registry.peek(handle_id)
            if local is not None and local.owner == tenant:
                self.registry.forget(handle_id)

