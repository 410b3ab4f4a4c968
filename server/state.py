"""Durable handles: the StateStore behind the registry (DESIGN.md, "State and replicas").

What survives a crash or a restart: every filter (its definition, weights, optimizer
accumulators, moving statistics, the state of a seeded generator) and every tensor created or
written with CreateTensor / WriteTensor or stepped by OptimizerStep, each under its id and
tenant. What does not: a training forward's cache for its backward (a backward that needs one
from before the crash is FAILED_PRECONDITION), tensors only written as the output of a call
(activations and gradients: recomputed by the next step), and shared-memory registrations.

Exactly once: a mutating call may carry an idempotency key (gRPC metadata ``x-idempotency-key``;
the SDK sets one on every mutating call, so a retry resends it). The key is recorded in the same
transaction as the state the call changed, with the response; a call whose key is recorded is
answered from the record (a training forward is computed again, for its output and its cache,
without moving the statistics a second time).

``SqliteStateStore`` keeps all of it in one SQLite file: a row per handle (a filter's definition
and arrays, or a tensor) and a row per applied key. Each commit is one transaction in
WAL mode with ``synchronous=FULL``: acknowledged means on disk.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import threading
import time
from typing import Iterable, List, Optional, Tuple

from . import direct
from .registry import cache_bytes

# Mutating RPCs and what they change. Training forwards change moving statistics only when asked
# to train; the core decides (Core.changed_handles).
MUTATING_RPCS = frozenset({
    "CreateFilter", "DestroyFilter", "CreateTensor", "WriteTensor", "DestroyTensor", "OptimizerStep",
    "NormalizationFilterApplyBatch", "FusedFilterApplyBatch", "FusedFilterApplyMultiInputBatch",
}) | direct.MUTATING_RPCS     # the random generators (issue 12, part C)
# Calls that are computed again on a replay (their output is not recorded, only that their state
# change happened).
RECOMPUTED_ON_REPLAY = frozenset({"NormalizationFilterApplyBatch", "FusedFilterApplyBatch",
                                  "FusedFilterApplyMultiInputBatch"})
KEY_HEADER = "x-idempotency-key"
# The handle a call names, for a balancer's affinity (README, "Running several replicas").
HANDLE_HEADER = "x-bnns-handle"
# In the trailing metadata of every reply of a replica (a server sharing a state store): the SDK
# names the handle of its calls (HANDLE_HEADER) once a reply says so, and not to a single server,
# where the header only costs (about 30 us a call on loopback).
REPLICA_HEADER = "x-bnns-replica"
# The request fields that name a handle (a filter, a tensor, a random generator).
HANDLE_FIELDS = ("filter_id", "tensor_id", "generator_id")
MAX_KEY_LENGTH = 200


class StoredHandle:
    """One handle as the store holds it: id, owner, kind and the pickled object; for a shared
    store (server/state_redis.py) also the bytes it counts toward the tenant's limit, its alias
    and its lease."""

    __slots__ = ("handle_id", "owner", "kind", "blob", "nbytes", "alias", "lease_seconds")

    def __init__(self, handle_id: str, owner: str, kind: str, blob: bytes, nbytes: int = 0, alias: str = "",
                 lease_seconds: float = 0.0):
        self.handle_id, self.owner, self.kind, self.blob = handle_id, owner, kind, blob
        self.nbytes, self.alias, self.lease_seconds = nbytes, alias, lease_seconds


def snapshot(entry) -> StoredHandle:
    """The entry's durable part (call under its lock). A filter is kept as its definition (the
    CreateFilterRequest with every tensor's data in it) plus what changes after creation: its
    trainable arrays and moving statistics, its optimizer accumulators, its generator's state,
    and which server tensors share its memory. A tensor is kept whole."""
    if entry.kind in ("tensor", "random_generator"):     # a tensor, a generator: kept whole
        payload = {"tensor": entry.filter, "optimizer_state": entry.optimizer_state, "shared": entry.shared,
                   "alias": entry.alias, "lease_seconds": entry.lease_seconds}
    else:
        rng = getattr(entry.filter, "_rng", None)
        payload = {"definition": entry.definition, "arrays": {k: a.copy() for k, a in entry.trainable.items()},
                   "optimizer_state": entry.optimizer_state, "shared": entry.shared,
                   "rng": rng.bit_generator.state if rng is not None else None,
                   "alias": entry.alias, "lease_seconds": entry.lease_seconds}
    return StoredHandle(entry.filter_id, entry.owner, entry.kind, pickle.dumps(payload, protocol=5),
                        entry.bytes_held - cache_bytes(entry.filter), entry.alias, entry.lease_seconds)


def load_payload(record: StoredHandle) -> dict:
    return pickle.loads(record.blob)       # the server's own file, written by snapshot()


class SqliteStateStore:
    """The embedded StateStore: one SQLite file under the state directory."""

    name = "sqlite"

    def __init__(self, directory: str, keep_keys_seconds: float = 24 * 3600):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "bnns-state.sqlite3")
        self.keep_keys_seconds = keep_keys_seconds
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")       # an acknowledged mutation is on disk
        self._db.execute("CREATE TABLE IF NOT EXISTS handles (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                         "kind TEXT NOT NULL, blob BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS applied (tenant TEXT NOT NULL, key TEXT NOT NULL, "
                         "response BLOB, at REAL NOT NULL, PRIMARY KEY (tenant, key))")
        self._forget_old_keys()

    def load(self) -> List[StoredHandle]:
        with self._lock:
            rows = self._db.execute("SELECT id, owner, kind, blob FROM handles").fetchall()
        return [StoredHandle(*row) for row in rows]

    def replay(self, tenant: str, key: str) -> Optional[Tuple[bool, Optional[bytes]]]:
        """(True, the recorded response or None) if ``key`` was applied for ``tenant``, else None."""
        with self._lock:
            row = self._db.execute("SELECT response FROM applied WHERE tenant = ? AND key = ?", (tenant, key)).fetchone()
        return None if row is None else (True, row[0])

    def commit(self, changed: Iterable[StoredHandle], removed: Iterable[str] = (),
               applied: Optional[Tuple[str, str, Optional[bytes]]] = None, tenant: str = "",
               versions: Optional[dict] = None) -> None:
        """Write the changed handles, drop the removed ones and record the applied key, in one
        transaction. (``tenant`` and ``versions`` are for a shared store: one server alone has
        no concurrent writer to check versions against.)"""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for record in changed:
                    self._db.execute("INSERT OR REPLACE INTO handles (id, owner, kind, blob) VALUES (?, ?, ?, ?)",
                                     (record.handle_id, record.owner, record.kind, record.blob))
                for handle_id in removed:
                    self._db.execute("DELETE FROM handles WHERE id = ?", (handle_id,))
                if applied is not None:
                    tenant, key, response = applied
                    self._db.execute("INSERT OR REPLACE INTO applied (tenant, key, response, at) VALUES (?, ?, ?, ?)",
                                     (tenant, key, response, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _forget_old_keys(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM applied WHERE at < ?", (time.time() - self.keep_keys_seconds,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
