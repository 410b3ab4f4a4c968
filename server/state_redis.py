"""The shared StateStore: Redis, for several bnns-server replicas over one handle space
(DESIGN.md, "State and replicas"; README, "Running several replicas").

It holds what SqliteStateStore holds (server/state.py): each handle's pickled snapshot (definition,
arrays, accumulators, statistics, generator state, alias, lease) under its id and owner, and the
applied idempotency keys with their recorded responses (expiring after ``keep_keys_seconds``).
Besides, per handle: a version, incremented by every commit that changes it, and the replica that
last used it (its holder); per tenant: the set of its handles, their count and bytes, so the
tenant limits hold across replicas.

Every commit is one Lua script, so Redis applies it whole or not at all: it checks that each
changed handle is still at the version the replica computed on (optimistic concurrency: a replica
that lost the race gets ``VersionConflict``, reloads and retries), that the key was not applied
meanwhile, that the tenant stays within its limits, and only then writes the handles, the
counters and the key.

Keys (``prefix`` default "bnns:"; a tenant appears hex-encoded):
  h:<id>        hash: v, owner, kind, bytes, blob, alias, lease, holder, touched
  s:<tenant>    set of the tenant's handle ids
  u:<tenant>    hash: count, bytes
  a:<tenant>:<alias>   the aliased handle's id
  k:<tenant>:<key>     an applied idempotency key: "-" (nothing recorded) or "r" + the response
A standalone Redis (or one behind Sentinel): the scripts name keys they compute, which Redis
Cluster does not allow.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Iterable, List, Optional, Sequence, Tuple

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bnns.kernels.errors import BNNSError, InvalidArgumentError, ResourceExhaustedError, UnavailableError

from .state import StoredHandle


class VersionConflict(Exception):
    """Another replica committed one of the handles since this one loaded it (or applied the
    same idempotency key): the local copies are stale and the call is computed again."""

    def __init__(self, handle_ids: Sequence[str], why: str):
        super().__init__(why)
        self.handle_ids = list(handle_ids)


# One round trip before each use of hot handles: their version and, for a call that computes
# (claim = 1), whether this replica still holds them (it was the last to compute on them, so its
# training caches are the current ones), taking them over if not; the leased ones are touched
# (at most every eighth of their lease: a write is an fsync). A handle that is missing or another
# tenant's answers 0.
_CHECK = """
local p, t, me, claim = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(redis.call('TIME')[1])
local out = {}
for j = 5, #ARGV do
  local h = p .. 'h:' .. ARGV[j]
  local r = redis.call('HMGET', h, 'v', 'owner', 'holder', 'lease', 'touched')
  if not r[1] or r[2] ~= t then
    out[#out + 1] = 0
  else
    local v = tonumber(r[1])
    if claim == '1' and r[3] ~= me then
      redis.call('HSET', h, 'holder', me)
      v = -v
    end
    local lease = tonumber(r[4] or '0')
    if lease > 0 and now - tonumber(r[5] or '0') >= math.max(1, lease / 8) then
      redis.call('HSET', h, 'touched', now)
    end
    out[#out + 1] = v
  end
end
return out
"""

# A mutation, whole or not at all. ARGV: prefix, tenant, me, max_handles, max_bytes, key, response,
# key_ttl_ms, n_changed, then per changed handle (id, expected version, kind, bytes, blob, alias,
# lease), then n_removed and the removed ids. Returns {'ok', new versions...} or {reason, detail}.
_COMMIT = """
local p, t, me = ARGV[1], ARGV[2], ARGV[3]
local max_h, max_b = tonumber(ARGV[4]), tonumber(ARGV[5])
local key = ARGV[6]
local kkey = p .. 'k:' .. t .. ':' .. key
if key ~= '' and redis.call('EXISTS', kkey) == 1 then return {'replayed', key} end
local usage, set = p .. 'u:' .. t, p .. 's:' .. t
local n = tonumber(ARGV[9])
local i = 10
local dcount, dbytes = 0, 0
local versions = {}
for j = 1, n do
  local id, expected, alias = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 5]
  local cur = redis.call('HMGET', p .. 'h:' .. id, 'v', 'bytes', 'owner')
  local v = tonumber(cur[1] or '0')
  if v ~= expected or (cur[3] and cur[3] ~= t) then return {'conflict', id} end
  if v == 0 then
    dcount = dcount + 1
    if alias ~= '' and redis.call('EXISTS', p .. 'a:' .. t .. ':' .. alias) == 1 then return {'alias', alias} end
  end
  dbytes = dbytes + tonumber(ARGV[i + 3]) - tonumber(cur[2] or '0')
  versions[j] = v + 1
  i = i + 7
end
local m = tonumber(ARGV[i])
for j = 1, m do
  local cur = redis.call('HMGET', p .. 'h:' .. ARGV[i + j], 'bytes', 'owner')
  if cur[2] ~= t then return {'conflict', ARGV[i + j]} end
  dcount = dcount - 1
  dbytes = dbytes - tonumber(cur[1] or '0')
end
local held = redis.call('HMGET', usage, 'count', 'bytes')
local count, bytes = tonumber(held[1] or '0'), tonumber(held[2] or '0')
if max_h > 0 and dcount > 0 and count + dcount > max_h then return {'handles', tostring(count)} end
if max_b > 0 and dbytes > 0 and bytes + dbytes > max_b then return {'bytes', tostring(bytes)} end
local now = redis.call('TIME')[1]
i = 10
for j = 1, n do
  local id = ARGV[i]
  redis.call('HSET', p .. 'h:' .. id, 'v', versions[j], 'owner', t, 'kind', ARGV[i + 2], 'bytes', ARGV[i + 3],
             'blob', ARGV[i + 4], 'alias', ARGV[i + 5], 'lease', ARGV[i + 6], 'holder', me, 'touched', now)
  if versions[j] == 1 then
    redis.call('SADD', set, id)
    if ARGV[i + 5] ~= '' then redis.call('SET', p .. 'a:' .. t .. ':' .. ARGV[i + 5], id) end
  end
  i = i + 7
end
for j = 1, m do
  local h = p .. 'h:' .. ARGV[i + j]
  local alias = redis.call('HGET', h, 'alias')
  if alias and alias ~= '' and redis.call('GET', p .. 'a:' .. t .. ':' .. alias) == ARGV[i + j] then
    redis.call('DEL', p .. 'a:' .. t .. ':' .. alias)
  end
  redis.call('DEL', h)
  redis.call('SREM', set, ARGV[i + j])
end
redis.call('HINCRBY', usage, 'count', dcount)
redis.call('HINCRBY', usage, 'bytes', dbytes)
if key ~= '' then redis.call('SET', kkey, ARGV[7], 'PX', ARGV[8]) end
local out = {'ok'}
for j = 1, n do out[#out + 1] = versions[j] end
return out
"""

# The lease reaper: destroy a handle only if no replica touched it for its lease (the replica
# that finds it idle may be an old holder, while another replica serves it now).
_EXPIRE = """
local p, id = ARGV[1], ARGV[2]
local h = p .. 'h:' .. id
local r = redis.call('HMGET', h, 'owner', 'lease', 'touched', 'bytes', 'alias')
if not r[1] then return 0 end
local lease = tonumber(r[2] or '0')
if lease <= 0 or tonumber(redis.call('TIME')[1]) - tonumber(r[3] or '0') <= lease then return 0 end
local t = r[1]
if r[5] and r[5] ~= '' and redis.call('GET', p .. 'a:' .. t .. ':' .. r[5]) == id then
  redis.call('DEL', p .. 'a:' .. t .. ':' .. r[5])
end
redis.call('DEL', h)
redis.call('SREM', p .. 's:' .. t, id)
redis.call('HINCRBY', p .. 'u:' .. t, 'count', -1)
redis.call('HINCRBY', p .. 'u:' .. t, 'bytes', -tonumber(r[4] or '0'))
return 1
"""


def _tenant(tenant: str) -> str:
    return tenant.encode().hex()


class RedisStateStore:
    """A StateStore several servers share (``--state-store redis://host:port/db``)."""

    name = "redis"
    shared = True     # handles are loaded on demand and checked before each use (server/replicas.py)

    def __init__(self, url: str, keep_keys_seconds: float = 24 * 3600, max_handles: int = 0,
                 max_handle_bytes: int = 0, prefix: str = "bnns:", timeout: float = 2.0):
        self.url = url
        self.keep_keys_seconds = keep_keys_seconds
        self.max_handles, self.max_handle_bytes = max_handles, max_handle_bytes
        self.prefix = prefix
        # A new identity per process: a restarted replica holds nothing, whatever its address.
        self.replica = secrets.token_hex(8)
        # No retries inside the client: a store that does not answer is UNAVAILABLE at once, and
        # the SDK (or gRPC's retry policy) retries the call with its idempotency key.
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                           retry=Retry(NoBackoff(), 0))
        self._check = self.client.register_script(_CHECK)
        self._commit = self.client.register_script(_COMMIT)
        self._expire = self.client.register_script(_EXPIRE)
        self.reachable = threading.Event()

    # ---------------------------------------------------------------------------- the interface
    def load(self) -> List[StoredHandle]:
        """Nothing at start: a replica loads each handle when a call names it."""
        return []

    def replay(self, tenant: str, key: str) -> Optional[Tuple[bool, Optional[bytes]]]:
        recorded = self._do(lambda: self.client.get(self._key(tenant, key)))
        if recorded is None:
            return None
        return True, (recorded[1:] if recorded[:1] == b"r" else None)

    def commit(self, changed: Iterable[StoredHandle], removed: Iterable[str] = (),
               applied: Optional[Tuple[str, str, Optional[bytes]]] = None, tenant: str = "",
               versions: Optional[dict] = None) -> dict:
        """Write the changed handles (each expected at ``versions[id]``, 0 for a new one), drop the
        removed ones and record the applied key, atomically. Returns the new versions by id;
        raises VersionConflict, RESOURCE_EXHAUSTED (tenant limits) or UNAVAILABLE."""
        changed, removed, versions = list(changed), list(removed), versions or {}
        if applied is not None:
            tenant = applied[0]
        for record in changed:
            if record.owner != tenant:
                raise ValueError(f"handle {record.handle_id} is {record.owner!r}'s, not {tenant!r}'s")
        key, response = ("", b"") if applied is None else (applied[1], b"-" if applied[2] is None else b"r" + applied[2])
        args: list = [self.prefix, _tenant(tenant), self.replica, self.max_handles, self.max_handle_bytes, key,
                      response, int(self.keep_keys_seconds * 1000), len(changed)]
        for record in changed:
            args += [record.handle_id, versions.get(record.handle_id, 0), record.kind, record.nbytes, record.blob,
                     record.alias, repr(float(record.lease_seconds))]
        args += [len(removed), *removed]
        ids = [r.handle_id for r in changed] + removed
        result = self._do(lambda: self._commit(args=args), ids)
        outcome = result[0].decode()
        if outcome == "ok":
            return {record.handle_id: int(v) for record, v in zip(changed, result[1:])}
        detail = result[1].decode()
        if outcome in ("conflict", "replayed"):
            raise VersionConflict(ids, f"{outcome}: {detail}")
        error: BNNSError
        if outcome == "alias":
            error = InvalidArgumentError(f"alias {detail!r} already names a live filter of this tenant; destroy it "
                                         "or choose another alias")
        elif outcome == "handles":
            error = ResourceExhaustedError(
                f"live handle limit reached: {self.max_handles} filters and tensors per tenant (max_handles), "
                f"counted over every replica; destroy some before creating more", reason="HANDLE_LIMIT")
        else:
            error = ResourceExhaustedError(
                f"handle bytes limit reached: the tenant's filters and tensors hold {detail} bytes over every replica "
                f"and this call would take them past max_handle_bytes {self.max_handle_bytes}", reason="HANDLE_LIMIT")
        error.handle_ids = ids       # the replica's copies carry the refused change: dropped
        raise error

    def close(self) -> None:
        self.client.close()

    # -------------------------------------------------------------------------- for the replicas
    def check(self, handle_ids: Sequence[str], tenant: str, claim: bool = True) -> List[int]:
        """One round trip: per handle, its version (negative when ``claim`` and another replica
        computed on it since this one did: its caches here are stale), or 0 when it is not the
        tenant's live handle."""
        if not handle_ids:
            return []
        return [int(v) for v in self._do(lambda: self._check(args=[self.prefix, _tenant(tenant), self.replica,
                                                                   int(claim), *handle_ids]))]

    def fetch(self, handle_ids: Sequence[str], tenant: str) -> List[Optional[Tuple[StoredHandle, int]]]:
        """The tenant's stored handles with their versions (None for one that is not there)."""
        def read():
            pipe = self.client.pipeline(transaction=False)
            for handle_id in handle_ids:
                pipe.hmget(self._handle(handle_id), "v", "owner", "kind", "blob")
            return pipe.execute()
        found: List[Optional[Tuple[StoredHandle, int]]] = []
        for handle_id, (v, owner, kind, blob) in zip(handle_ids, self._do(read)):
            if v is None or owner.decode() != _tenant(tenant):
                found.append(None)
            else:
                found.append((StoredHandle(handle_id, tenant, kind.decode(), blob), int(v)))
        return found

    def holders(self, handle_ids: Sequence[str]) -> List[Optional[str]]:
        """The replica that last computed on each handle (None for one the store does not have)."""
        def read():
            pipe = self.client.pipeline(transaction=False)
            for handle_id in handle_ids:
                pipe.hget(self._handle(handle_id), "holder")
            return pipe.execute()
        return [h.decode() if h is not None else None for h in self._do(read)] if handle_ids else []

    def handle_ids(self, tenant: str) -> List[str]:
        """Every live handle of the tenant, whichever replica made it."""
        return sorted(i.decode() for i in self._do(lambda: self.client.smembers(self._set(tenant))))

    def resolve_alias(self, alias: str, tenant: str) -> Optional[str]:
        found = self._do(lambda: self.client.get(f"{self.prefix}a:{_tenant(tenant)}:{alias}"))
        return found.decode() if found is not None else None

    def usage(self, tenant: str) -> Tuple[int, int]:
        """(handles, bytes) the tenant holds over every replica."""
        count, held = self._do(lambda: self.client.hmget(f"{self.prefix}u:{_tenant(tenant)}", "count", "bytes"))
        return int(count or 0), int(held or 0)

    def expire_idle(self, handle_ids: Iterable[str]) -> int:
        """Destroy those of the handles whose lease ran out on every replica; the number destroyed."""
        return sum(int(self._do(lambda i=i: self._expire(args=[self.prefix, i]))) for i in handle_ids)

    def ping(self) -> bool:
        try:
            self.client.ping()
        except redis.RedisError:
            self.reachable.clear()
            return False
        self.reachable.set()
        return True

    # ------------------------------------------------------------------------------- plumbing
    def _do(self, operation, handle_ids: Sequence[str] = ()):
        """Run ``operation`` on Redis; a store that does not answer is UNAVAILABLE, naming the
        handles (``handle_ids``) whose copies the replica must drop: those of a commit whose
        outcome it cannot know."""
        try:
            result = operation()
        except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError,
                redis.exceptions.ReadOnlyError) as error:
            self.reachable.clear()
            unavailable = UnavailableError(
                f"the state store ({self._where()}) does not answer ({type(error).__name__}); nothing was "
                "acknowledged: retry the call (with the same idempotency key) once the store is back")
            unavailable.handle_ids = list(handle_ids)
            raise unavailable from None
        self.reachable.set()
        return result

    def _where(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        return f"redis at {kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"

    def _handle(self, handle_id: str) -> str:
        return f"{self.prefix}h:{handle_id}"

    def _set(self, tenant: str) -> str:
        return f"{self.prefix}s:{_tenant(tenant)}"

    def _key(self, tenant: str, key: str) -> str:
        return f"{self.prefix}k:{_tenant(tenant)}:{key}"


class StoreWatch:
    """Pings the store every ``interval`` seconds and tells ``on_change(reachable)`` when its
    reachability changes: readiness and gRPC health follow it."""

    def __init__(self, store: RedisStateStore, on_change, interval: float = 1.0):
        self.store, self.on_change, self.interval = store, on_change, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bnns-store-watch", daemon=True)
        self._last: Optional[bool] = None

    def start(self) -> "StoreWatch":
        self.poll()
        self._thread.start()
        return self

    def poll(self) -> bool:
        reachable = self.store.ping()
        if reachable != self._last:
            self._last = reachable
            self.on_change(reachable)
        return reachable

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


def wait_reachable(store: RedisStateStore, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not store.ping():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
