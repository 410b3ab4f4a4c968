"""The transport-free core: one method per RPC of bnns.v1.BNNSService. gRPC, REST and the
SDK's in-process backend all call these same methods, through ``Core.call``.

A method reads its scalars from the request message and its tensors as NumPy arrays through a
``dataplane.CallIO``: views over the bytes a door received, the in-process caller's own arrays,
server tensors or shared memory, all with the same checks. It runs the kernel under the handle's
lock and stages its results with the CallIO, which writes them where the caller asked (its
arrays, a server tensor, shared memory) or leaves them for the door to encode once. Everything
is validated before anything is written, and the kernels never mutate a filter on a failed
call, so a failure changes no state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import secrets
import threading
import time
from typing import List, Optional, Protocol

import numpy as np

from bnns.kernels import arithmetic, layout, lstm, optimizer, parallel, pooling
from bnns.kernels import contraction, permute, reduction, resize
from bnns.kernels.errors import (BNNSError, CancelledError, InvalidArgumentError, NotFoundError,
                                 InternalError, ResourceExhaustedError, UnimplementedError, given, require)
from bnns.kernels.params import BroadcastMatMulParameters
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import codec, decoders, kinds, wire
from . import state as state_mod
from .dataplane import CallIO, MemoryBudget, SharedMemoryTable, Tensor
from .direct import Functions
from .observability import Metrics
from . import registry as registry_mod
from .registry import TENSOR, Entry, Registry

log = logging.getLogger("bnns.server.calls")


# Which kinds exist, how each is built and which entry points serve it: the table in kinds.py.


_SERVICE = pb.DESCRIPTOR.services_by_name["BNNSService"]
# The RPCs a CallSequence may not carry (transports); at most wire.MAX_SEQUENCE_CALLS calls.
_NOT_SEQUENCED = frozenset({"CallSequence", "ChunkedCall"})


class Cancellation(Protocol):
    """What a door passes to say its caller has gone: set by the door, polled by the core and the
    kernels (a threading.Event is one)."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class Core(Functions):   # Functions: the filter-less entry points (server/direct.py)
    """Filter lifecycle and every apply/backward entry point over one handle registry."""

    def __init__(self, registry: Optional[Registry] = None, limits: Optional[codec.Limits] = None,
                 shared_memory: Optional[SharedMemoryTable] = None, state=None,
                 budget: Optional[MemoryBudget] = None):
        self.registry = registry if registry is not None else Registry()   # an empty Registry is falsy
        self.limits = limits if limits is not None else codec.Limits()
        self.shared_memory = shared_memory if shared_memory is not None else SharedMemoryTable()
        self.state = state               # a StateStore (server/state.py), or None: nothing is durable
        self.budget = budget if budget is not None else MemoryBudget()
        self.replicas = None
        if getattr(state, "shared", False):      # several servers share the store: server/replicas.py
            from .replicas import ReplicaSync
            self.replicas = ReplicaSync(self, state)
        if state is not None:
            self._restore()
        self.metrics = Metrics(self.registry)
        self._local = threading.local()      # the current call's cancellation event, per thread

    def _check_cancelled(self) -> None:
        event = getattr(self._local, "cancelled", None)
        if event is not None and event.is_set():
            raise CancelledError("the call was cancelled or its deadline passed before it ran; nothing was changed")

    @contextlib.contextmanager
    def _holding(self, entry: Entry):
        """The handle's lock, then a last cancellation check: a call that waited for another call
        on the same handle and was cancelled meanwhile leaves without touching it. Its kernels
        then stop between samples or blocks if it is cancelled while they run."""
        with entry.lock:
            self._check_cancelled()
            event = getattr(self._local, "cancelled", None)
            if event is None:
                # Nothing can cancel this call (the in-process SDK's): no event for the kernels to
                # check, and no outer one to hide (core calls never run inside a kernel's block).
                yield
                return
            with parallel.cancellable(event):
                yield

    @contextlib.contextmanager
    def _committed_at_end(self, filter_obj, training: bool):
        """A training forward moves statistics and replaces the backward cache as it runs; if the
        call is cancelled or its deadline passes meanwhile, both are put back as they were before
        it, so a call that does not complete changes nothing."""
        if not training:
            yield
            return
        snapshot = _filter_state(filter_obj)
        try:
            yield
            self._check_cancelled()
        except BaseException:
            _restore_filter_state(snapshot)
            raise
        if getattr(self._local, "replay", False):
            # A replay of a training forward that was applied already (its idempotency key is
            # recorded): the output and the backward cache are computed again, the moving
            # statistics are not moved a second time.
            _restore_filter_state(snapshot, arrays_only=True)

    def call(self, rpc: str, request, tenant: str = "", request_id: Optional[str] = None,
             cancelled: Optional[Cancellation] = None, io: Optional[CallIO] = None,
             idempotency_key: str = ""):
        """Serve one RPC by name: the single entry every front door uses. Times, counts and logs
        the call; BNNSErrors propagate for the transport to map, anything else is logged and
        re-raised for the transport to report as INTERNAL.

        ``io`` carries the call's tensors as arrays (see dataplane.CallIO); the doors that avoid
        copies pass one and encode ``io.results`` themselves. Without it the tensors are read
        from the request message and the results are put into the response message's Buffers.

        ``cancelled`` is set by the transport when the caller cancels or its deadline passes:
        the call then stops before it touches its filter (checked before decoding and again once
        it holds the handle's lock), so a cancelled call changes nothing.

        With a state store, a mutating call is acknowledged only once what it changed is
        committed; ``idempotency_key`` (per tenant) makes a retried call apply once: a call whose
        key is recorded is answered from the record."""
        method = getattr(self, _method_name(rpc), None)
        if method is None:
            raise UnimplementedError(f"{rpc} is not served by this build")
        return self._call(method, rpc, request, tenant, request_id, cancelled, io, idempotency_key)

    def _call(self, method, rpc: str, request, tenant: str, request_id: Optional[str],
              cancelled: Optional[Cancellation], io: Optional[CallIO], idempotency_key: str):
        self._local.entry = None
        kind = self._kind_of(request, tenant)
        start = time.perf_counter()
        status, response = "OK", None
        embed = io is None
        received = request.ByteSize() + (io.received_bytes if io is not None else 0)
        self._local.cancelled = cancelled
        # FilterApplyBatch moves the generator of a filter that draws (dropout, Gumbel): committed
        # too (_changed_handles), so a restart continues its stream instead of repeating it.
        durable = self.state is not None and (rpc in state_mod.MUTATING_RPCS or rpc == "FilterApplyBatch")
        try:
            if self.limits.max_request_bytes and received > self.limits.max_request_bytes:
                raise ResourceExhaustedError(
                    f"{rpc} request is {received} bytes, over max_request_bytes "
                    f"{self.limits.max_request_bytes}: send a smaller batch", reason="REQUEST_TOO_LARGE")
            require(len(idempotency_key) <= state_mod.MAX_KEY_LENGTH,
                    lambda: f"the idempotency key has {len(idempotency_key)} characters; at most {state_mod.MAX_KEY_LENGTH}")
            self._check_cancelled()
            io = (io or CallIO()).bind(self, tenant, request)
            io.idempotency_key = idempotency_key      # a ChunkedCall hands it to the call it carries

            def attempt():
                recorded = self.state.replay(tenant, idempotency_key) if durable and idempotency_key else None
                if recorded is not None and rpc not in state_mod.RECOMPUTED_ON_REPLAY:
                    return _response_class(rpc).FromString(recorded[1] or b"")
                self._local.replay = recorded is not None
                with self.budget.reserve(self._footprint(rpc, request, tenant), cancelled):
                    result = method(request, io)
                if durable and recorded is None:
                    self._commit(rpc, request, result, io, tenant, idempotency_key)
                return result

            # Replicas over a shared store: on the store's current copies, computed again if
            # another replica changed them meanwhile (server/replicas.py).
            response = attempt() if self.replicas is None else self.replicas.run(rpc, request, tenant, io, attempt)
            if embed:
                io.embed(response)
            return response
        except BNNSError as error:
            status = error.status
            raise
        except Exception:
            status = "INTERNAL"
            request_id = request_id or secrets.token_hex(6)
            log.exception("internal error", extra={"request_id": request_id, "rpc": rpc})
            raise
        finally:
            self._local.cancelled = None
            self._local.replay = False
            self._local.entry = None
            seconds = time.perf_counter() - start
            sent = (response.ByteSize() if response is not None else 0) + (
                sum(a.nbytes for a in io.results.values()) if io is not None and not embed else 0)
            self.metrics.observe(rpc, kind, status, seconds, received, sent)
            # A line per call at DEBUG (formatting one costs more than a small call's kernel);
            # failures at INFO. /metrics counts every call.
            level = logging.DEBUG if status == "OK" else logging.INFO
            if log.isEnabledFor(level):
                request_id = request_id or secrets.token_hex(6)     # made only for a line that is written
                log.log(level, "%s %s", rpc, status, extra={
                    "request_id": request_id, "rpc": rpc, "status": status, "kind": kind, "tenant": tenant,
                    "filter_id": getattr(request, "filter_id", "") or getattr(response, "filter_id", ""),
                    "ms": round(seconds * 1e3, 3)})

    # --------------------------------------------------------------------------------- memory
    # What a call may make the server allocate, per element of its batch's inputs and outputs:
    # the inputs as float32 (a conversion or a strided copy), the results, the gradients, and
    # the kernels' scratch (im2col works in bounded chunks).
    _BYTES_PER_ELEMENT = 4 * 4

    def _footprint(self, rpc: str, request, tenant: str) -> int:
        """The memory a call may allocate, from validated parameters, checked against
        max_call_bytes before anything is allocated."""
        if rpc in _DIRECT_DESCRIPTORS:
            return self._direct_footprint(rpc, request)
        n = getattr(request, "batch_size", None)
        filter_id = getattr(request, "filter_id", "")
        if n is None or not filter_id:
            return 0
        try:
            entry = self._filter_entry(filter_id, tenant)
        except NotFoundError:
            return 0                  # the call itself says so
        if n < 1:
            return 0                  # and so it does of an empty batch
        require(n < 2**31, lambda: f"batch_size {n} must be between 1 and 2**31 - 1")
        cached = entry.item_elements
        if cached is not None and cached[0] is entry.filter:
            elements = cached[1]
        else:
            elements = _item_elements(entry.filter)
            entry.item_elements = (entry.filter, elements)
        return self._bounded(n * elements, lambda: f"{rpc} with batch_size {n} ({elements} elements of inputs and "
                             "outputs per item)", "send a smaller batch")

    def _bounded(self, elements: int, what, remedy: str = "") -> int:
        """The bytes ``elements`` (of inputs, outputs and scratch) may make a call allocate; over
        max_call_bytes, RESOURCE_EXHAUSTED before anything is allocated. The one bound every
        call and create goes through. ``what`` names the call, or is a function that does (the
        calls made on every request build their message only when it is needed)."""
        need = elements * self._BYTES_PER_ELEMENT
        limit = self.limits.max_call_bytes
        if limit and need > limit:
            what = what() if callable(what) else what
            raise ResourceExhaustedError(f"{what} would need about {need} bytes, over max_call_bytes {limit}"
                                         + (f": {remedy}" if remedy else ""))
        return need

    # ------------------------------------------------------------------------------ durability
    def _commit(self, rpc: str, request, response, io: CallIO, tenant: str, key: str) -> None:
        """Write what the call changed (and its key, with the response to answer a retry with)
        to the state store, in one transaction, before the call is acknowledged."""
        changed, removed = self._changed_handles(rpc, request, response, tenant)
        if changed is None:
            return
        entries = {e.filter_id: e for e in changed}
        for entry in list(entries.values()):       # memory shared with server tensors changed too
            for other in (entry.shared if entry.kind == TENSOR else entry.shared.values()):
                try:
                    entries.setdefault(other, self.registry.get(other, tenant) if entry.kind == TENSOR
                                       else self.registry.get_tensor(other, tenant))
                except NotFoundError:
                    pass
        records = []
        for entry in (entries[i] for i in sorted(entries)):
            with entry.lock:
                records.append(state_mod.snapshot(entry))
        applied = None
        if key:
            recorded = None
            if rpc not in state_mod.RECOMPUTED_ON_REPLAY:
                clone = type(response)()
                clone.CopyFrom(response)
                recorded = wire.join(clone, io.results)      # the results are still staged in io here
            applied = (tenant, key, recorded)
        versions = self.state.commit(records, removed, applied, tenant=tenant,
                                     versions={e.filter_id: e.version for e in entries.values()})
        for entry in entries.values() if versions else ():     # a shared store's new versions
            entry.version = versions[entry.filter_id]

    def _changed_handles(self, rpc: str, request, response, tenant: str):
        """(entries whose durable state the call changed, ids it removed); (None, ()) if none."""
        generator_change = self._direct_changed_handles(rpc, request, response, tenant)
        if generator_change is not None:
            return generator_change
        if rpc == "FilterApplyBatch":
            entry = self.registry.get(request.filter_id, tenant)
            return ([entry], ()) if getattr(entry.filter, "_rng", None) is not None else (None, ())
        if rpc == "CreateFilter":
            return [self.registry.get(response.filter_id, tenant)], ()
        if rpc == "CreateTensor":
            return [self.registry.get_tensor(response.info.tensor_id, tenant)], ()
        if rpc == "WriteTensor":
            return [self.registry.get_tensor(request.tensor_id, tenant)], ()
        if rpc in ("DestroyFilter", "DestroyTensor"):
            gone = request.filter_id if rpc == "DestroyFilter" else request.tensor_id
            # A filter and a tensor that shared memory no longer do: the survivor forgets it.
            survivors = []
            for entry in self.registry.all_entries():
                if entry.owner == tenant and (gone in entry.shared or gone in entry.shared.values()):
                    entry.shared = {k: v for k, v in entry.shared.items() if gone not in (k, v)}
                    survivors.append(entry)
            return survivors, (gone,)
        if rpc == "OptimizerStep":
            changed = []
            for p in request.parameters:
                target = _optimizer_target(p)
                if isinstance(target, pb.FilterParameterRef):
                    changed.append(self.registry.get(target.filter_id, tenant))
                elif isinstance(target, types_pb2.TensorReference):
                    changed.append(self.registry.get_tensor(target.tensor_id, tenant))
            return changed, ()
        if request.training:    # the training forwards: moving statistics (and a generator)
            return [self.registry.get(request.filter_id, tenant)], ()
        return None, ()

    def _restore(self) -> None:
        """Put back every handle the state store holds, under its id and tenant."""
        restored = len(self._put_back(self.state.load()))
        if restored:
            log.info("restored %d handles from the %s state store", restored, self.state.name)

    @staticmethod
    def shared_partners(record) -> list:
        """The ids of the handles a stored handle shares memory with (BNNSFlagsUseClientPtr)."""
        shared = state_mod.load_payload(record)["shared"]
        return list(shared.keys() if record.kind == TENSOR else shared.values())

    def _put_back(self, records) -> list:
        """Rebuild stored handles into the registry, sharing memory again where they did; the
        entries made."""
        made, filters = [], []
        for record in records:
            payload = state_mod.load_payload(record)
            if record.kind in (TENSOR, registry_mod.GENERATOR):    # kept whole
                entry = Entry(record.handle_id, record.kind, payload["tensor"], None, record.owner,
                              optimizer_state=payload["optimizer_state"], shared=payload["shared"],
                              alias=payload.get("alias", ""), lease_seconds=payload.get("lease_seconds", 0.0))
            else:
                request = pb.CreateFilterRequest.FromString(payload["definition"])
                filter_obj = kinds.CREATABLE[record.kind].build(getattr(request, record.kind),
                                                                CallIO().bind(self, record.owner, request), record.kind)
                live = filter_obj.parameters() if hasattr(filter_obj, "parameters") else {}
                for name, values in payload["arrays"].items():
                    np.copyto(live[name], values)
                if payload["rng"] is not None:
                    filter_obj._rng.bit_generator.state = payload["rng"]
                info = pb.CreateFilterRequest()
                info.CopyFrom(request)
                codec.strip_tensor_data(info)
                entry = Entry(record.handle_id, record.kind, filter_obj, info, record.owner,
                              optimizer_state=payload["optimizer_state"], definition=payload["definition"],
                              shared=payload["shared"], alias=payload.get("alias", ""),
                              lease_seconds=payload.get("lease_seconds", 0.0))
                filters.append(entry)
            self.registry.put(entry)
            made.append(entry)
        for entry in filters:          # memory shared with tensors (BNNSFlagsUseClientPtr), shared again
            live = entry.trainable
            for name, tensor_id in entry.shared.items():
                tensor_entry = self.registry.get_tensor(tensor_id, entry.owner)
                tensor_entry.filter.array = live[name].reshape(-1)
                tensor_entry.shared[entry.filter_id] = name
        return made

    def _kind_of(self, request, tenant: str) -> str:
        """The filter kind a request touches (for the latency label); '' when there is none, or
        when the handle is not the caller's (the label must not tell one tenant of another's)."""
        if isinstance(request, pb.CreateFilterRequest):
            return request.WhichOneof("layer") or ""
        filter_id = getattr(request, "filter_id", "")
        if filter_id:
            try:
                entry = self.registry.get(filter_id, tenant)
            except BNNSError:
                return ""
            self._local.entry = entry        # the call's own lookups take it from here (_filter_entry)
            return entry.kind
        return ""

    def _filter_entry(self, filter_id: str, tenant: str) -> Entry:
        """registry.get(filter_id, tenant), looked up once per call: the entry _kind_of found for
        this call when it is this id's and tenant's (with replicas, each lookup asks the registry,
        which a replica may refill meanwhile). A filter destroyed since is finished on, as a call
        that holds its entry is."""
        entry = getattr(self._local, "entry", None)
        if entry is not None and entry.filter_id == filter_id and entry.owner == tenant and self.replicas is None:
            return entry
        return self.registry.get(filter_id, tenant)

    # ------------------------------------------------------------------------------ lifecycle
    def create_filter(self, request: pb.CreateFilterRequest, io: CallIO) -> pb.CreateFilterResponse:
        kind = request.WhichOneof("layer")
        require(kind is not None, "CreateFilterRequest.layer is not set: name the layer to create "
                f"({', '.join(sorted(kinds.CREATABLE))})")
        if kind not in kinds.CREATABLE:
            raise InvalidArgumentError(f"layer kind {kind!r} is not served by this server")
        fp = request.filter_parameters
        require(fp.flags & ~1 == 0, f"filter_parameters.flags {fp.flags:#x} sets bits other than "
                "BNNSFlagsUseClientPtr (1)")
        filter_obj = kinds.CREATABLE[kind].build(getattr(request, kind), io, kind)
        self._bound_items(filter_obj)
        shared = self._client_pointer_tensors(request, kind, filter_obj, io) if fp.flags & 1 else []
        info_parameters = pb.CreateFilterRequest()
        info_parameters.CopyFrom(request)
        codec.strip_tensor_data(info_parameters)
        entry = self.registry.add(kind, filter_obj, info_parameters, owner=io.tenant, alias=request.alias,
                                   lease_seconds=request.lease_seconds)
        for name, tensor_id, tensor, storage in shared:   # only once the filter exists: a failed create shares nothing
            tensor.array = storage
            entry.shared[name] = tensor_id
            self.registry.get_tensor(tensor_id, io.tenant).shared[entry.filter_id] = name
        if self.state is not None:
            entry.definition = _definition(request, kind, io)
        return pb.CreateFilterResponse(filter_id=entry.filter_id, info=self._info(entry))

    def _bound_items(self, filter_obj) -> None:
        """A filter whose one item would not fit max_call_bytes could serve no call: refused at
        create (a 2-pixel input with padding 8192, an output stride of 8192, ...)."""
        elements = _item_elements(filter_obj)
        self._bounded(elements, f"one item of this filter has {elements} elements of inputs and outputs: a call "
                      "of batch 1")

    def _client_pointer_tensors(self, request, kind: str, filter_obj, io: CallIO) -> list:
        """BNNSFlagsUseClientPtr with a trainable array given as a server tensor: the filter and
        the tensor share one memory from now on, as a Mac filter works on the caller's pointer
        (an OptimizerStep on the tensor changes what the filter computes, and the other way round).
        Returns (name, tensor id, tensor, the filter's storage as flat elements) for each."""
        params = getattr(request, kind)
        pairs = []
        for name, array in filter_obj.parameters().items() if hasattr(filter_obj, "parameters") else ():
            field = _TRAINABLE_FIELDS.get(name, name)
            holder = _field_at(params, field)
            if holder is None or holder.data.WhichOneof("contents") != "tensor":
                continue
            ref = holder.data.tensor
            tensor = self.tensor(ref.tensor_id, io.tenant)
            require(ref.offset == 0 and tensor.array.size == array.size and tensor.data_type == layout.DTYPE_FLOAT32
                    and array.flags.c_contiguous and not holder.stride,
                    f"BNNSFlagsUseClientPtr binds {field}.data to tensor {ref.tensor_id} only when the tensor is "
                    f"exactly that array: Float32, {array.size} elements, offset 0, contiguous (it has "
                    f"{tensor.array.size} elements at offset {ref.offset}); give the {name} a tensor of its own")
            pairs.append((name, ref.tensor_id, tensor, array.reshape(-1)))
        return pairs

    def describe_filter(self, request: pb.DescribeFilterRequest, io: CallIO) -> pb.DescribeFilterResponse:
        return pb.DescribeFilterResponse(info=self._info(self.registry.get(request.filter_id, io.tenant)))

    def list_filters(self, request: pb.ListFiltersRequest, io: CallIO) -> pb.ListFiltersResponse:
        return pb.ListFiltersResponse(filters=[self._info(e) for e in self.registry.entries(io.tenant)])

    def destroy_filter(self, request: pb.DestroyFilterRequest, io: CallIO) -> pb.DestroyFilterResponse:
        self.registry.remove(request.filter_id, io.tenant)
        return pb.DestroyFilterResponse()

    def keep_alive(self, request: pb.KeepAliveRequest, io: CallIO) -> pb.KeepAliveResponse:
        missing, lease = self.registry.renew(list(request.handle_ids), io.tenant)
        return pb.KeepAliveResponse(missing=missing, lease_seconds=lease)

    @staticmethod
    def _info(entry: Entry) -> pb.FilterInfo:
        return pb.FilterInfo(filter_id=entry.filter_id, kind=entry.kind, parameters=entry.info_parameters,
                             bytes_held=entry.bytes_held,
                             trainable={name: int(a.size) for name, a in entry.trainable.items()})

    # --------------------------------------------------------------------------------- tensors
    def tensor(self, tensor_id: str, tenant: str) -> Tensor:
        """A live tensor of ``tenant`` (NOT_FOUND otherwise)."""
        return self.registry.get_tensor(tensor_id, tenant).filter

    def create_tensor(self, request: pb.CreateTensorRequest, io: CallIO) -> pb.CreateTensorResponse:
        data_type = int(request.data_type) or layout.DTYPE_FLOAT32
        dtype = layout.numpy_dtype(data_type, allowed=layout.ALL_DTYPES, what="data_type")
        require(1 <= len(request.shape) <= layout.MAX_TENSOR_DIMENSION + 1,
                f"shape has {len(request.shape)} dimensions; give 1 to {layout.MAX_TENSOR_DIMENSION + 1}")
        shape = tuple(int(d) for d in request.shape)
        count = 1
        for extent in shape:
            require(extent >= 1, f"shape {shape} has an empty dimension")
            count *= extent
        limits = [v for v in (self.limits.max_tensor_bytes, self.registry.max_handle_bytes, self.limits.max_call_bytes) if v]
        limit = min(limits) if limits else 0
        if limit and count * dtype.itemsize > limit:   # checked before anything is allocated
            raise ResourceExhaustedError(f"a tensor of shape {shape} ({dtype.name}) is {count * dtype.itemsize} bytes, "
                                         f"over the {limit}-byte limit", reason="TENSOR_TOO_LARGE")
        require(count * dtype.itemsize < 2**40, f"a tensor of shape {shape} is too large")
        if io.present(request, "data", "data"):
            initial = io.elements(request.data, "data", dtype, "data", count=count)
            require(initial.size == count, f"data has {initial.size} elements; shape {shape} needs {count}")
            array = np.array(initial, dtype=dtype)       # the tensor's own memory
        else:
            array = np.zeros(count, dtype=dtype)
        tensor = Tensor(data_type, shape, array.reshape(-1), request.name)
        entry = self.registry.add(TENSOR, tensor, None, owner=io.tenant)
        return pb.CreateTensorResponse(info=tensor.info(entry.filter_id))

    def write_tensor(self, request: pb.WriteTensorRequest, io: CallIO) -> pb.WriteTensorResponse:
        tensor = self.tensor(request.tensor_id, io.tenant)
        dtype = tensor.array.dtype
        offset = int(request.offset)
        require(offset <= tensor.array.size, f"offset {offset} is past the end of tensor {request.tensor_id} "
                f"({tensor.array.size} elements)")
        room = tensor.array.size - offset
        values = io.elements(request.data if request.HasField("data") else None, "data", dtype, "data", count=room)
        require(values.size <= room, f"data has {values.size} elements; tensor {request.tensor_id} has {room} "
                f"from offset {offset}")
        self._check_cancelled()
        tensor.array[offset:offset + values.size] = values
        return pb.WriteTensorResponse()

    def read_tensor(self, request: pb.ReadTensorRequest, io: CallIO) -> pb.ReadTensorResponse:
        tensor = self.tensor(request.tensor_id, io.tenant)
        size = tensor.array.size
        offset = int(request.offset)
        count = int(request.count) or size - offset
        require(offset <= size and offset + count <= size,
                f"elements [{offset}, {offset + count}) are not in tensor {request.tensor_id} ({size} elements)")
        if self.limits.max_call_bytes and count * tensor.array.itemsize > self.limits.max_call_bytes:
            raise ResourceExhaustedError(f"reading {count} elements is {count * tensor.array.itemsize} bytes, over "
                                         f"max_call_bytes {self.limits.max_call_bytes}: read it in parts (offset, count)")
        io.put("data", tensor.array[offset:offset + count], tensor.data_type)
        return io.finish(pb.ReadTensorResponse(info=tensor.info(request.tensor_id)))

    def describe_tensor(self, request: pb.DescribeTensorRequest, io: CallIO) -> pb.DescribeTensorResponse:
        return pb.DescribeTensorResponse(info=self.tensor(request.tensor_id, io.tenant).info(request.tensor_id))

    def list_tensors(self, request: pb.ListTensorsRequest, io: CallIO) -> pb.ListTensorsResponse:
        return pb.ListTensorsResponse(tensors=[e.filter.info(e.filter_id) for e in self.registry.tensors(io.tenant)])

    def destroy_tensor(self, request: pb.DestroyTensorRequest, io: CallIO) -> pb.DestroyTensorResponse:
        self.registry.remove(request.tensor_id, io.tenant, tensor=True)
        return pb.DestroyTensorResponse()

    # --------------------------------------------------------------------------- shared memory
    def register_shared_memory(self, request: pb.RegisterSharedMemoryRequest,
                               io: CallIO) -> pb.RegisterSharedMemoryResponse:
        r = request.region
        self.shared_memory.open(io.tenant, r.name, r.key, int(r.offset), int(r.byte_size))
        return pb.RegisterSharedMemoryResponse()

    def unregister_shared_memory(self, request: pb.UnregisterSharedMemoryRequest,
                                 io: CallIO) -> pb.UnregisterSharedMemoryResponse:
        self.shared_memory.unregister(io.tenant, request.name)
        return pb.UnregisterSharedMemoryResponse()

    def list_shared_memory(self, request: pb.ListSharedMemoryRequest, io: CallIO) -> pb.ListSharedMemoryResponse:
        return pb.ListSharedMemoryResponse(regions=[r.message() for r in self.shared_memory.regions(io.tenant)])

    # ------------------------------------------------------------------ generic apply/backward
    def filter_apply_batch(self, request: pb.FilterApplyBatchRequest, io: CallIO) -> pb.FilterApplyBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "FilterApplyBatch")
        f, n = entry.filter, int(request.batch_size)
        forward = kinds.KINDS[entry.kind].generic_forward or kinds.apply_into
        x = io.batch(request, "in", "in", f.input_desc, n, "in", allowed=kinds.KINDS[entry.kind].input_dtypes)
        with self._holding(entry):
            y = forward(f, x, io.direct("out", (n,) + f.output_desc.shape, f.output_desc.data_type, f.output_desc))
        io.put("out", y, f.output_desc.data_type, f.output_desc)
        return io.finish(pb.FilterApplyBatchResponse())

    def filter_apply_backward_batch(self, request: pb.FilterApplyBackwardBatchRequest,
                                    io: CallIO) -> pb.FilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "FilterApplyBackwardBatch")
        f = entry.filter
        backward = kinds.KINDS[entry.kind].generic_backward or kinds.generic_backward
        n = int(request.batch_size)
        require(request.compute_in_delta or request.compute_weights_delta or request.compute_bias_delta,
                "FilterApplyBackwardBatch asks for no gradient: set compute_in_delta, compute_weights_delta "
                "or compute_bias_delta")
        x = self._optional_batch(request, "in", f.input_desc, n, io, kinds.KINDS[entry.kind].input_dtypes)
        y = self._optional_batch(request, "out", f.output_desc, n, io)
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        with self._holding(entry):
            d_in, d_w, d_b = backward(f, x, y, dy, request)
        io.put("in_delta", d_in, item=_packed(f.input_desc))
        io.put("weights_delta", d_w)
        io.put("bias_delta", d_b)
        return io.finish(pb.FilterApplyBackwardBatchResponse())

    # --------------------------------------------------------------------------------- pooling
    def pooling_filter_apply_batch(self, request: pb.PoolingFilterApplyBatchRequest,
                                   io: CallIO) -> pb.PoolingFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "PoolingFilterApplyBatch")
        f, n = entry.filter, int(request.batch_size)
        x = io.batch(request, "in", "in", f.input_desc, n, "in")
        index_type = request.indices_data_type or layout.DTYPE_UINT64
        layout.numpy_dtype(index_type, allowed=layout.INDEX_DTYPES, what="indices_data_type")
        indices = None
        if f.function == pooling.UN_MAX:
            require(io.present(request, "indices", "indices"), "UnMax pooling needs `indices` (laid out as the input)")
            indices = self._indices(request, f.input_desc, n, io)
        with self._holding(entry):
            y, idx = f.apply(x, indices=indices, want_indices=request.compute_indices)
        io.put("out", y, f.output_desc.data_type, f.output_desc)
        if idx is not None and request.compute_indices:
            require(index_type != layout.DTYPE_UINT32 or idx.size == 0 or int(idx.max()) < 2**32,
                    "an index does not fit UInt32: ask for UInt64 indices")
            io.put("indices", idx, index_type, _packed(f.output_desc, index_type))
        return io.finish(pb.PoolingFilterApplyBatchResponse())

    def pooling_filter_apply_backward_batch(self, request: pb.PoolingFilterApplyBackwardBatchRequest,
                                            io: CallIO) -> pb.PoolingFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "PoolingFilterApplyBackwardBatch")
        f, n = entry.filter, int(request.batch_size)
        require(request.compute_in_delta or request.compute_bias_delta,
                "PoolingFilterApplyBackwardBatch asks for no gradient")
        x = self._optional_batch(request, "in", f.input_desc, n, io)
        y = self._optional_batch(request, "out", f.output_desc, n, io)
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        indices = None
        if io.present(request, "indices", "indices"):
            # Max: one index per output element; UnMax: per input element.
            indices = self._indices(request, f.input_desc if f.function == pooling.UN_MAX else f.output_desc, n, io)
        with self._holding(entry):
            d_in, d_bias = f.apply_backward(x, y, dy, indices=indices, input_grad=request.compute_in_delta,
                                            bias_grad=request.compute_bias_delta)
        io.put("in_delta", d_in, item=_packed(f.input_desc))
        io.put("bias_delta", d_bias)
        return io.finish(pb.PoolingFilterApplyBackwardBatchResponse())

    @staticmethod
    def _indices(request, desc: layout.Descriptor, n: int, io: CallIO) -> np.ndarray:
        """Pooling indices (UInt64 = size_t when unset, or UInt32) laid out as ``desc``."""
        index_type = request.indices_data_type or layout.DTYPE_UINT64
        layout.numpy_dtype(index_type, allowed=layout.INDEX_DTYPES, what="indices_data_type")
        return io.batch(request, "indices", "indices", _packed(desc, index_type), n, "indices",
                        allowed=layout.INDEX_DTYPES)

    # ------------------------------------------------------------------------------------ loss
    def loss_filter_apply_batch(self, request: pb.LossFilterApplyBatchRequest,
                                io: CallIO) -> pb.LossFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "LossFilterApplyBatch")
        f, n = entry.filter, int(request.batch_size)
        x, labels, weights = self._loss_inputs(request, f, n, io)
        with self._holding(entry):
            value, d_in = f.apply(x, labels, weights, want_input_grad=request.compute_in_delta)
        io.put("out", value, f.output_desc.data_type)
        io.put("in_delta", d_in, item=_packed(f.input_desc))
        return io.finish(pb.LossFilterApplyBatchResponse())

    def loss_filter_apply_backward_batch(self, request: pb.LossFilterApplyBackwardBatchRequest,
                                         io: CallIO) -> pb.LossFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "LossFilterApplyBackwardBatch")
        f, n = entry.filter, int(request.batch_size)
        x, labels, weights = self._loss_inputs(request, f, n, io)
        # dL/d(loss): one value when reduced, else one item of the loss output per batch item.
        shape = f.output_shape(n)
        item = layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (math.prod(int(n) for n in shape[1:]),))
        d_loss = io.batch(request, "out_delta", "out_delta", item, shape[0], "out_delta")
        with self._holding(entry):
            d_in = f.apply_backward(x, labels, weights, d_loss.reshape(shape))
        io.put("in_delta", d_in, item=_packed(f.input_desc))
        return io.finish(pb.LossFilterApplyBackwardBatchResponse())

    def _loss_inputs(self, request, f, n: int, io: CallIO):
        x = io.batch(request, "in", "in", f.input_desc, n, "in")
        labels = io.batch(request, "labels", "labels", f.input_desc, n, "labels")
        f.check_weights(request.weights_size, n)
        weights = None
        if request.weights_size:
            buf = request.weights if request.HasField("weights") else None
            weights = io.elements(buf, "weights", np.dtype("<f4"), "weights", count=int(request.weights_size))
            require(weights.size == request.weights_size,
                    f"weights has {weights.size} values but weights_size is {request.weights_size}")
            require(bool(np.all(np.isfinite(weights))), "weights contains NaN or infinite values")
        return x, labels, weights

    # --------------------------------------------------------------------------- normalization
    def normalization_filter_apply_batch(self, request: pb.NormalizationFilterApplyBatchRequest,
                                         io: CallIO) -> pb.NormalizationFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "NormalizationFilterApplyBatch")
        f, n = entry.filter, int(request.batch_size)
        x = io.batch(request, "in", "in", f.input_desc, n, "in")
        if request.training:
            _refuse_non_finite(x, "in", request.filter_id)
            self._check_cache_growth(entry, x.size)
        with self._holding(entry):
            with self._committed_at_end(f, request.training):
                y = f.apply(x, training=request.training)
            io.put("out", y, f.output_desc.data_type, f.output_desc)
            _put_moving_statistics(f, io)
        return io.finish(pb.NormalizationFilterApplyBatchResponse())

    def normalization_filter_apply_backward_batch(self, request: pb.NormalizationFilterApplyBackwardBatchRequest,
                                                  io: CallIO) -> pb.NormalizationFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "NormalizationFilterApplyBackwardBatch")
        f, n = entry.filter, int(request.batch_size)
        require(request.compute_in_delta or request.compute_beta_delta or request.compute_gamma_delta,
                "NormalizationFilterApplyBackwardBatch asks for no gradient: set compute_in_delta, "
                "compute_beta_delta or compute_gamma_delta")
        y = self._optional_batch(request, "out", f.output_desc, n, io)
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        with self._holding(entry):
            d_in, d_beta, d_gamma = f.apply_backward(
                y, dy, input_grad=request.compute_in_delta, beta_grad=request.compute_beta_delta,
                gamma_grad=request.compute_gamma_delta)
        io.put("in_delta", d_in, item=_packed(f.input_desc))
        io.put("beta_delta", d_beta)
        io.put("gamma_delta", d_gamma)
        return io.finish(pb.NormalizationFilterApplyBackwardBatchResponse())

    # ------------------------------------------------------------------------------ arithmetic
    def arithmetic_filter_apply_batch(self, request: pb.ArithmeticFilterApplyBatchRequest,
                                      io: CallIO) -> pb.ArithmeticFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "ArithmeticFilterApplyBatch")
        f = entry.filter
        inputs = self._operand_batches(request, f, int(request.batch_size), io)
        with self._holding(entry):
            y = f.apply(inputs, batch_size=request.batch_size)
        io.put("out", y, f.output_desc.data_type, f.output_desc if y.shape[1:] == f.output_desc.shape else None)
        return io.finish(pb.ArithmeticFilterApplyBatchResponse())

    def arithmetic_filter_apply_backward_batch(self, request: pb.ArithmeticFilterApplyBackwardBatchRequest,
                                               io: CallIO) -> pb.ArithmeticFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "ArithmeticFilterApplyBackwardBatch")
        f, n = entry.filter, int(request.batch_size)
        wanted = list(request.compute_in_delta)
        require(len(wanted) == f.arity, f"compute_in_delta has {len(wanted)} entries; the function takes "
                f"{f.arity} operands: give one flag per operand")
        require(any(wanted), "ArithmeticFilterApplyBackwardBatch asks for no gradient")
        inputs = self._operand_batches(request, f, n, io, required=False)
        y = self._optional_batch(request, "out", f.output_desc, n, io)
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        with self._holding(entry):
            grads = f.apply_backward(inputs, y, dy, wanted=wanted)
        response = pb.ArithmeticFilterApplyBackwardBatchResponse()
        for k, g in enumerate(grads):
            response.in_delta.add()
            io.put(f"in_delta[{k}]", g)
        return io.finish(response)

    def _operand_batches(self, request, f, batch_size: int, io: CallIO, required: bool = True) -> list:
        """One array per Sample operand (None for Constant / Parameter, which live in the filter)."""
        buffers = getattr(request, "in")
        count = max(len(buffers), _count_paths(io, "in"))
        require(count in (0, f.arity) and (count == f.arity or not required),
                f"`in` has {count} buffers; the function takes {f.arity} operands: give one per operand "
                "(empty for Constant and Parameter operands)")
        inputs: list[Optional[np.ndarray]] = []
        for k, (operand, desc) in enumerate(zip(f.operands, f.input_descs)):
            buf = buffers[k] if k < len(buffers) else types_pb2.Buffer()
            given = f"in[{k}]" in io.arrays or buf.WhichOneof("contents") is not None
            if operand.type != arithmetic.SAMPLE or not given:
                require(operand.type != arithmetic.SAMPLE or not required,
                        f"in[{k}] is empty but operand {k} is a Sample: send its batch")
                inputs.append(None)
            else:
                inputs.append(io.batch_of(buf, f"in[{k}]", desc, batch_size, f"in[{k}]"))
        return inputs

    # ----------------------------------------------------------------------------------- fused
    def fused_filter_apply_batch(self, request: pb.FusedFilterApplyBatchRequest,
                                 io: CallIO) -> pb.FusedFilterApplyBatchResponse:
        entry = self._fused_entry(request.filter_id, io.tenant, "FusedFilterApplyBatch", multi=False)
        f = entry.filter
        x = io.batch(request, "in", "in", f.input_desc, int(request.batch_size), "in")
        if request.training and f.trainable:
            _refuse_non_finite(x, "in", request.filter_id)
            self._check_cache_growth(entry, int(request.batch_size) * f.output_desc.span)
        with self._holding(entry):
            with self._committed_at_end(f, request.training):
                y = f.apply([x], training=request.training)
            io.put("out", y, f.output_desc.data_type, f.output_desc)
            _put_moving_statistics(f, io)      # after a replay has put the statistics back
        return io.finish(pb.FusedFilterApplyBatchResponse())

    def fused_filter_apply_multi_input_batch(self, request: pb.FusedFilterApplyMultiInputBatchRequest,
                                             io: CallIO) -> pb.FusedFilterApplyMultiInputBatchResponse:
        entry = self._fused_entry(request.filter_id, io.tenant, "FusedFilterApplyMultiInputBatch", multi=True)
        f = entry.filter
        inputs = self._fused_inputs(request, f, int(request.batch_size), io, required=True)
        if request.training and f.trainable:
            for k, x in enumerate(inputs):
                _refuse_non_finite(x, f"in[{k}]", request.filter_id)
            self._check_cache_growth(entry, int(request.batch_size) * f.output_desc.span)
        with self._holding(entry):
            with self._committed_at_end(f, request.training):
                y = f.apply(inputs, training=request.training)
            io.put("out", y, f.output_desc.data_type, f.output_desc)
            _put_moving_statistics(f, io)      # after a replay has put the statistics back
        return io.finish(pb.FusedFilterApplyMultiInputBatchResponse())

    def fused_filter_apply_backward_batch(self, request: pb.FusedFilterApplyBackwardBatchRequest,
                                          io: CallIO) -> pb.FusedFilterApplyBackwardBatchResponse:
        entry = self._fused_entry(request.filter_id, io.tenant, "FusedFilterApplyBackwardBatch", multi=False)
        f, n = entry.filter, int(request.batch_size)
        wanted = self._delta_flags(f, request.compute_delta_parameters)
        require(request.compute_in_delta or any(wanted), "FusedFilterApplyBackwardBatch asks for no gradient")
        x = self._optional_batch(request, "in", f.input_desc, n, io)
        y = self._optional_batch(request, "out", f.output_desc, n, io)
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        with self._holding(entry):
            d_inputs, d_params = f.apply_backward([x], y, dy, input_grads=[request.compute_in_delta],
                                                  delta_parameters=wanted)
        response = pb.FusedFilterApplyBackwardBatchResponse()
        io.put("in_delta", d_inputs[0], item=_packed(f.input_desc))
        self._put_delta_parameters(response, d_params, io)
        return io.finish(response)

    def fused_filter_apply_backward_multi_input_batch(
            self, request: pb.FusedFilterApplyBackwardMultiInputBatchRequest,
            io: CallIO) -> pb.FusedFilterApplyBackwardMultiInputBatchResponse:
        entry = self._fused_entry(request.filter_id, io.tenant, "FusedFilterApplyBackwardMultiInputBatch", multi=True)
        f, n = entry.filter, int(request.batch_size)
        wanted = self._delta_flags(f, request.compute_delta_parameters)
        input_grads = list(request.compute_in_delta)
        require(len(input_grads) in (0, f.arity), f"compute_in_delta has {len(input_grads)} entries; the fused "
                f"filter takes {f.arity} inputs")
        input_grads = input_grads or [False] * f.arity
        require(any(input_grads) or any(wanted), "FusedFilterApplyBackwardMultiInputBatch asks for no gradient")
        inputs = self._fused_inputs(request, f, n, io, required=False)
        y = self._optional_batch(request, "out", f.output_desc, n, io)
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        with self._holding(entry):
            d_inputs, d_params = f.apply_backward(inputs, y, dy, input_grads=input_grads, delta_parameters=wanted)
        response = pb.FusedFilterApplyBackwardMultiInputBatchResponse()
        for k, d in enumerate(d_inputs):
            response.in_delta.add()
            io.put(f"in_delta[{k}]", d, item=_packed(f.input_descs[k]) if d is not None and d.ndim > 1 else None)
        self._put_delta_parameters(response, d_params, io)
        return io.finish(response)

    def _check_cache_growth(self, entry: Entry, elements: int) -> None:
        """A training forward keeps a cache of about two float32 arrays of its normalized
        activations for the backward: counted in the handle's bytes, and refused before it is
        made when it would take the tenant past max_handle_bytes."""
        if not self.registry.max_handle_bytes:
            return          # nothing to refuse: skip the walk over the filter's caches
        grow = 2 * 4 * elements - registry_mod.cache_bytes(entry.filter)   # the old cache is replaced
        self.registry.check_growth(entry.owner, grow, f"the training cache of filter {entry.filter_id}")

    @staticmethod
    def _put_delta_parameters(response, d_params, io: CallIO) -> None:
        for k, d in enumerate(d_params):
            response.delta_parameters.add()
            io.put(f"delta_parameters[{k}]", d)

    def _fused_entry(self, filter_id: str, tenant: str, rpc: str, multi: bool) -> Entry:
        entry = self._entry(filter_id, tenant, rpc)
        # A one-operand arithmetic first member takes its input through either form.
        require(entry.filter.is_multi_input == multi or entry.filter.arity == 1,
                f"filter {filter_id} takes {entry.filter.arity} input(s): use "
                f"{'FusedFilterApply*MultiInputBatch' if entry.filter.is_multi_input else 'FusedFilterApply*Batch'}")
        return entry

    @staticmethod
    def _delta_flags(f, flags) -> list:
        names = f.delta_parameter_names()
        flags = list(flags)
        require(len(flags) in (0, len(names)), f"compute_delta_parameters has {len(flags)} entries; this fused "
                f"filter's delta_parameters are {names or 'none'} (BNNS's order)")
        return flags or [False] * len(names)

    def _fused_inputs(self, request, f, batch_size: int, io: CallIO, required: bool) -> list:
        buffers = getattr(request, "in")
        count = max(len(buffers), _count_paths(io, "in"))
        require(count == f.arity or (not required and count == 0),
                f"`in` has {count} buffers; the fused filter takes {f.arity} inputs")
        inputs: list[Optional[np.ndarray]] = []
        for k, desc in enumerate(f.input_descs):
            buf = buffers[k] if k < len(buffers) else types_pb2.Buffer()
            if f"in[{k}]" not in io.arrays and buf.WhichOneof("contents") is None:
                require(not required, f"in[{k}] is empty")
                inputs.append(None)
            else:
                inputs.append(io.batch_of(buf, f"in[{k}]", desc, batch_size, f"in[{k}]"))
        return inputs

    # ------------------------------------------------ issue 12, part A: two-input filters, permute
    def filter_apply_two_input_batch(self, request: pb.FilterApplyTwoInputBatchRequest,
                                     io: CallIO) -> pb.FilterApplyTwoInputBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "FilterApplyTwoInputBatch")
        f, n = entry.filter, int(request.batch_size)
        a, b = self._two_inputs(request, f, n, io, needed=f.per_sample)
        previous = None
        if f.params.beta:        # beta 1 adds the output's previous contents: the caller sends them
            require(io.present(request, "out", "out"), f"filter {request.filter_id} has beta 1: send the output's "
                    "previous contents in `out` (they are added to)")
            previous = np.array(io.batch(request, "out", "out", f.output_desc, n, "out"), dtype=np.float32)
        target = previous if previous is not None else io.direct(
            "out", (n,) + f.output_desc.shape, f.output_desc.data_type, f.output_desc)   # the caller's array, if local
        with self._holding(entry):
            y = f.apply(a, b, out=target)
        io.put("out", y, f.output_desc.data_type, f.output_desc)
        return io.finish(pb.FilterApplyTwoInputBatchResponse())

    def filter_apply_backward_two_input_batch(self, request: pb.FilterApplyBackwardTwoInputBatchRequest,
                                              io: CallIO) -> pb.FilterApplyBackwardTwoInputBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "FilterApplyBackwardTwoInputBatch")
        f, n = entry.filter, int(request.batch_size)
        weights = f.weights_operand
        require(not request.compute_bias_delta, f"bias_delta was asked but a {f.kind} filter has no bias")
        require(not request.compute_weights_delta or weights is not None,
                f"weights_delta was asked but neither operand of this {f.kind} filter is weights "
                "(a_is_weights / b_is_weights, or a w_ term)")
        wanted = [bool(request.compute_in_a_delta), bool(request.compute_in_b_delta)]
        for k, operand in enumerate("AB"):
            require(not wanted[k] or f.per_sample[k],
                    f"in{operand}_delta was asked but operand {operand} of this {f.kind} filter is "
                    + ("its weights: ask for weights_delta" if weights == operand.lower() else "not read"))
        if weights is not None:
            wanted["ab".index(weights)] = bool(request.compute_weights_delta)
        require(any(wanted), "FilterApplyBackwardTwoInputBatch asks for no gradient: set compute_in_a_delta, "
                "compute_in_b_delta or compute_weights_delta")
        a, b = self._two_inputs(request, f, n, io, needed=(False, False))   # the kernel names what it needs
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        with self._holding(entry):
            grads = f.apply_backward(a, b, dy, a_grad=wanted[0], b_grad=wanted[1])
        descs = tuple(f.input_descs) + (None,)
        for k, (name, g) in enumerate(zip("ab", grads)):
            if name == weights:
                io.put("weights_delta", g)
            else:
                io.put(f"in_{name}_delta", g, item=_packed(descs[k]) if g is not None else None)
        return io.finish(pb.FilterApplyBackwardTwoInputBatchResponse())

    @staticmethod
    def _two_inputs(request, f, n: int, io: CallIO, needed) -> list:
        """in_a, in_b as (N, *shape) for the per-sample operands given (None for weights, for an
        operand that is not read, and for one not given that is not ``needed``)."""
        descs = tuple(f.input_descs) + (None, None)
        arrays: list[Optional[np.ndarray]] = []
        for k, (field, operand) in enumerate((("in_a", "A"), ("in_b", "B"))):
            given = io.present(request, field, field)
            if not f.per_sample[k]:
                require(not given, f"{field} is given but operand {operand} of this {f.kind} filter is "
                        + ("its weights (from the descriptor's data)" if f.weights_operand == operand.lower()
                           else "not read") + ": leave it unset")
                arrays.append(None)
            elif given:
                arrays.append(io.batch(request, field, field, descs[k], n, field))
            else:
                require(not needed[k], f"{field} is empty but operand {operand} of this {f.kind} filter is a "
                        "per-sample input: send its batch")
                arrays.append(None)
        return arrays

    def permute_filter_apply_backward_batch(self, request: pb.PermuteFilterApplyBackwardBatchRequest,
                                            io: CallIO) -> pb.PermuteFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, io.tenant, "PermuteFilterApplyBackwardBatch")
        f, n = entry.filter, int(request.batch_size)
        dy = io.batch(request, "out_delta", "out_delta", f.output_desc, n, "out_delta")
        with self._holding(entry):
            d_in, _, _ = f.apply_backward(None, None, dy)
        io.put("in_delta", d_in, item=_packed(f.input_desc))
        return io.finish(pb.PermuteFilterApplyBackwardBatchResponse())

    # ------------------------------- issue 12, part A: filter-less movement, reduction and products
    def transpose(self, request: pb.TransposeRequest, io: CallIO) -> pb.TransposeResponse:
        src, dest = self._direct_descriptors(request, io, ("src",), ("dest",))
        moved = permute.TransposeFilter(src, dest, int(request.axis0), int(request.axis1))
        return self._direct_result(io, pb.TransposeResponse(), "dest", dest, moved.apply(src.tensor("src")[None]))

    def copy(self, request: pb.CopyRequest, io: CallIO) -> pb.CopyResponse:
        src, dest = self._direct_descriptors(request, io, ("src",), ("dest",))
        copied = permute.CopyFilter(src, dest)
        return self._direct_result(io, pb.CopyResponse(), "dest", dest, copied.apply(src.tensor("src")[None]))

    def direct_apply_reduction(self, request: pb.DirectApplyReductionRequest,
                               io: CallIO) -> pb.DirectApplyReductionResponse:
        params = kinds.KINDS["reduction"].decode(request.layer_params, io, "layer_params")
        x = codec.descriptor(request.layer_params.i_desc, "i_desc", io, "layer_params.i_desc")
        require(x.data is not None, "layer_params.i_desc.data is not set: BNNSDirectApplyReduction reads its input there")
        y = reduction.direct_apply(params, x.tensor("i_desc")[None])
        return self._direct_result(io, pb.DirectApplyReductionResponse(), "out", params.o_desc, y)

    def direct_apply_broadcast_mat_mul(self, request: pb.DirectApplyBroadcastMatMulRequest,
                                       io: CallIO) -> pb.DirectApplyBroadcastMatMulResponse:
        return self._matmul(request, io, pb.DirectApplyBroadcastMatMulResponse())

    def mat_mul(self, request: pb.MatMulRequest, io: CallIO) -> pb.MatMulResponse:
        return self._matmul(request, io, pb.MatMulResponse())

    def mat_mul_workspace_size(self, request: pb.MatMulWorkspaceSizeRequest,
                               io: CallIO) -> pb.MatMulWorkspaceSizeResponse:
        self._matmul_filter(request, io, with_data=False)      # refuses what BNNSMatMul would refuse
        return pb.MatMulWorkspaceSizeResponse(workspace_size=0)

    def _matmul(self, request, io: CallIO, response):
        """BNNSMatMul and BNNSDirectApplyBroadcastMatMul: alpha * op(A) @ op(B), batch axes broadcast,
        on the BroadcastMatMul kernel (both operands as one-item batches)."""
        f, a, b = self._matmul_filter(request, io, with_data=True)
        return self._direct_result(io, response, "output", f.output_desc,
                                   f.apply(a.tensor("input_a")[None], b.tensor("input_b")[None]))

    def _matmul_filter(self, request, io: CallIO, with_data: bool):
        if with_data:
            a, b, output = self._direct_descriptors(request, io, ("input_a", "input_b"), ("output",))
        else:
            a, b, output = (codec.descriptor(getattr(request, f), f) for f in ("input_a", "input_b", "output"))
        f = contraction.BroadcastMatMulFilter(BroadcastMatMulParameters(
            ia_desc=dataclasses.replace(a, data=None), ib_desc=dataclasses.replace(b, data=None), o_desc=output,
            alpha=float(request.alpha), trans_a=request.trans_a, trans_b=request.trans_b))
        return f, a, b

    def crop_resize(self, request: pb.CropResizeRequest, io: CallIO) -> pb.CropResizeResponse:
        x, roi, output = self._direct_descriptors(request, io, ("input", "roi"), ("output",))
        images, shape = _images(x, "input"), output.shape
        require(len(shape) == 4 and shape[:2] == (roi.shape[0], images.shape[1]),
                f"output shape {shape} must be (boxes {roi.shape[0]}, channels {images.shape[1]}, crop_h, crop_w)")
        y = _crop_resize(request.layer_params).apply(images, roi.tensor("roi"), shape[2:])
        return self._direct_result(io, pb.CropResizeResponse(), "output", output, y[None])

    def crop_resize_backward(self, request: pb.CropResizeBackwardRequest,
                             io: CallIO) -> pb.CropResizeBackwardResponse:
        roi, dy, d_in = self._direct_descriptors(request, io, ("roi", "out_delta"), ("in_delta",))
        shape = d_in.shape if len(d_in.shape) == 4 else (1,) + d_in.shape
        require(len(shape) == 4, f"in_delta shape {d_in.shape} must be (N, C, H, W) or (C, H, W)")
        d_out = dy.tensor("out_delta")
        require(d_out.ndim == 4 and d_out.shape[:2] == (roi.shape[0], shape[1]),
                f"out_delta shape {d_out.shape} must be (boxes {roi.shape[0]}, channels {shape[1]}, crop_h, crop_w)")
        g = _crop_resize(request.layer_params).apply_backward(roi.tensor("roi"), d_out, shape)
        return self._direct_result(io, pb.CropResizeBackwardResponse(), "in_delta",
                                   dataclasses.replace(d_in, data_type=layout.DTYPE_FLOAT32), g.reshape((1,) + d_in.shape))

    def _direct_footprint(self, rpc: str, request) -> int:
        """A filter-less call's memory: its descriptors' elements (inputs, outputs and the
        kernels' scratch, as for a filter's item), checked against max_call_bytes before anything
        is read or allocated; an unset descriptor counts nothing (the call says it is missing)."""
        elements = 0
        for path in _DIRECT_DESCRIPTORS[rpc]:
            holder, *rest = path.split(".")
            desc = getattr(request, holder)
            for name in rest:
                desc = getattr(desc, name)
            if desc.layout:
                elements += codec.descriptor(desc, path).span
        return self._bounded(elements, f"{rpc} ({elements} elements in its descriptors)")

    def _direct_descriptors(self, request, io: CallIO, inputs: tuple, outputs: tuple) -> list:
        """A filter-less call's descriptors: ``inputs`` with their data, ``outputs`` as shapes
        (bounded by _direct_footprint before the call ran)."""
        descs = []
        for field in inputs:
            require(request.HasField(field), f"{field} is not set")
            desc = codec.descriptor(getattr(request, field), field, io, field)
            require(desc.data is not None, f"{field}.data is not set: the call reads its {field} there")
            descs.append(desc)
        for field in outputs:
            require(request.HasField(field), f"{field} is not set")
            descs.append(codec.descriptor(getattr(request, field), field))
        return descs

    @staticmethod
    def _direct_result(io: CallIO, response, path: str, desc, y):
        """Stage a filter-less call's one result (a one-item batch) laid out as ``desc``."""
        io.put(path, y, desc.data_type, dataclasses.replace(desc, data=None))
        return io.finish(response)

    # ------------------------------------------------------------------------------ transport
    def chunked_call(self, request: pb.MessageChunk, io: CallIO) -> pb.MessageChunk:
        """ChunkedCall through a unary door (REST): one chunk holding the whole serialized request
        of the RPC it names, answered by one chunk holding the serialized response. (The gRPC
        door streams chunks of large messages itself, grpc_service.py.)"""
        require(request.total_bytes == len(request.data),
                f"ChunkedCall: total_bytes {request.total_bytes} but the chunk holds {len(request.data)} bytes; "
                "through REST the one chunk holds the whole message", "CHUNKED_CALL_MALFORMED")
        inner, tensors = self._carried("ChunkedCall", request.rpc, request.data, frozenset({"ChunkedCall"}),
                                       "CHUNKED_CALL_MALFORMED")
        # Served as the call it carries, through the one entry every door uses: the inner call is
        # bounded, committed with its idempotency key and synced over replicas like any other.
        inner_io = CallIO(arrays=tensors)
        response = self.call(request.rpc, inner, tenant=io.tenant, cancelled=self._local.cancelled, io=inner_io,
                             idempotency_key=io.idempotency_key)
        data = wire.join(response, inner_io.results)
        return pb.MessageChunk(total_bytes=len(data), data=data)

    @staticmethod
    def _carried(where: str, rpc: str, data: bytes, refused: frozenset, reason: str):
        """(request, its tensors as views over ``data``; server/wire.py) of the call a transport
        RPC carries (ChunkedCall, CallSequence): INVALID_ARGUMENT with ``reason`` when ``rpc`` is
        not an RPC of the service it may carry (``refused``: those it may not) or ``data`` does not
        parse as that RPC's request."""
        method = _SERVICE.methods_by_name.get(rpc)
        if method is None or rpc in refused:
            raise InvalidArgumentError(f"{where}: {rpc!r} is not an RPC of bnns.v1.BNNSService that it may carry", reason)
        try:
            return wire.split(data, getattr(pb, method.input_type.name))
        except Exception as error:   # DecodeError: not the named request
            raise InvalidArgumentError(f"{where}: the request is not a serialized {method.input_type.full_name}: "
                                       f"{error}", reason) from None

    def call_sequence(self, request: pb.CallSequenceRequest, io: CallIO) -> pb.CallSequenceResponse:
        """Several calls in one round trip: every call is checked (a unary RPC of the service, a
        request that parses) before the first runs, then each runs in order through ``call`` as
        if sent alone, with its own idempotency key. The first failure stops the sequence with
        that call's status and reason, its message prefixed ``call K (Rpc): `` and ``call_index``
        in its ErrorInfo metadata; the calls before it stand, the later ones do not run."""
        calls = request.calls
        require(len(calls) <= wire.MAX_SEQUENCE_CALLS,
                lambda: f"CallSequence: {len(calls)} calls; at most {wire.MAX_SEQUENCE_CALLS} a sequence", "MALFORMED_REQUEST")
        parsed = []
        for index, sequenced in enumerate(calls):
            # A door that split the request (server/wire.py) hands each call's bytes over as a view.
            data = io.arrays.get(f"calls[{index}]")
            inner, tensors = self._carried(f"CallSequence: call {index} ({sequenced.rpc})", sequenced.rpc,
                                           sequenced.request if data is None else data, _NOT_SEQUENCED,
                                           "MALFORMED_REQUEST")
            parsed.append((sequenced.rpc, inner, tensors, sequenced.idempotency_key))
        cancelled = self._local.cancelled
        response, held, limit = pb.CallSequenceResponse(), 0, self.limits.max_call_bytes
        replies: List[bytes] = []
        for index, (rpc, inner, tensors, key) in enumerate(parsed):
            inner_io = CallIO(arrays=tensors)
            try:
                # The responses kept for the reply count toward max_call_bytes with what each next
                # call may allocate: checked before it runs.
                if limit and held + self._footprint(rpc, inner, io.tenant) > limit:
                    raise ResourceExhaustedError(f"the sequence holds {held} bytes of responses; with what this call "
                                                 f"may allocate that is over max_call_bytes {limit}: send fewer calls "
                                                 "a sequence")
                result = self.call(rpc, inner, tenant=io.tenant, cancelled=cancelled, io=inner_io,
                                   idempotency_key=key)
            except BNNSError as error:
                error.message = f"call {index} ({rpc}): {error.message}"
                error.args = (error.message,)
                error.metadata["call_index"] = str(index)
                raise
            replies.append(wire.join(result, inner_io.results))
            held += len(replies[-1])
        if held < wire.SPLIT_MIN_BYTES:
            response.responses.extend(replies)
        else:   # spliced into the reply by the door, each copied once, as result tensors are (server/wire.py)
            for index, data in enumerate(replies):
                io.results[f"responses[{index}]"] = np.frombuffer(data, np.uint8)
        return response

    # ------------------------------------------------------------------------------- optimizer
    def optimizer_step(self, request: pb.OptimizerStepRequest, io: CallIO) -> pb.OptimizerStepResponse:
        function = int(request.function)
        kind = optimizer.kind_of(function)
        fields = decoders.optimizer_fields(request.fields)
        count = len(request.parameters)
        require(count >= 1, "OptimizerStep needs at least one parameter")
        require(len(request.gradients) == count,
                lambda: f"{count} parameters but {len(request.gradients)} gradients: give one gradient per parameter")
        targets = [_optimizer_target(p) for p in request.parameters]
        # The handles whose memory the step changes in place: filters, and tensors named as parameters.
        entries = {}
        for target in targets:
            if isinstance(target, pb.FilterParameterRef):
                entries[target.filter_id] = self.registry.get(target.filter_id, io.tenant)
            elif isinstance(target, types_pb2.TensorReference):
                entries[target.tensor_id] = self.registry.get_tensor(target.tensor_id, io.tenant)
        server_held = not request.accumulators
        require(not server_held or optimizer.accumulator_count(function, count, fields) == 0
                or all(isinstance(t, (pb.FilterParameterRef, types_pb2.TensorReference)) for t in targets),
                f"{kind.name} keeps accumulators: pass them, or give every parameter as a filter parameter or a "
                "server tensor so the server keeps them")
        # Lock every handle involved, in one global order, so concurrent steps cannot deadlock.
        locked = [entries[i] for i in sorted(entries)]
        for entry in locked:
            entry.lock.acquire()
        try:
            self._check_cancelled()
            parameters = [self._optimizer_parameter(p, target, entries, k, io)
                          for k, (p, target) in enumerate(zip(request.parameters, targets))]
            gradients = []
            for k, (buf, param) in enumerate(zip(request.gradients, parameters)):
                g = io.elements(buf, f"gradients[{k}]", np.dtype("<f4"), f"gradients[{k}]", count=param.size)
                require(g.size == param.size,
                        lambda: f"gradients[{k}] has {g.size} values but parameters[{k}] has {param.size}")
                gradients.append(g.reshape(param.shape))
            # A non-finite gradient would silently destroy weights that live here (the kernel, like
            # BNNS, lets it through: for inline arrays the caller sees the result and keeps its own).
            _refuse_non_finite_gradients(gradients, targets)
            blocks = optimizer.accumulator_blocks(function, fields)
            in_place_accumulators = False
            if server_held:
                new_state = sum(len(blocks) * p.nbytes for t, p in zip(targets, parameters) if t is not None
                                and _state_key(t, function)[1] not in entries[_state_key(t, function)[0]].optimizer_state)
                self.registry.check_growth(io.tenant, new_state, f"{kind.name}'s accumulators")
                fresh, accumulators = self._server_accumulators(function, targets, entries, blocks, parameters)
            else:
                accumulators = []
                for k, b in enumerate(request.accumulators):
                    param = parameters[k % count]
                    acc = io.elements(b, f"accumulators[{k}]", np.dtype("<f4"), f"accumulators[{k}]", count=param.size)
                    require(acc.size == param.size, lambda: f"accumulators[{k}] has {acc.size} values but its parameter "
                            f"(parameters[{k % count}]) has {param.size}")
                    referenced = b.WhichOneof("contents") in ("tensor", "shared_memory")
                    in_place_accumulators = in_place_accumulators or referenced
                    accumulators.append((acc if referenced else acc.copy()).reshape(param.shape))
            optimizer.optimizer_step(function, fields, parameters, gradients, accumulators)
            if server_held:   # only a successful step creates server-held state
                for (handle_id, key), state in fresh.items():
                    entries[handle_id].optimizer_state[key] = state
            response = pb.OptimizerStepResponse()
            for k, (param, target) in enumerate(zip(parameters, targets)):
                response.parameters.add()
                if target is None or (request.return_parameters and isinstance(target, pb.FilterParameterRef)):
                    io.put(f"parameters[{k}]", param)
            if (not server_held and not in_place_accumulators) or request.return_accumulators:
                for k, acc in enumerate(accumulators):
                    response.accumulators.add()
                    io.put(f"accumulators[{k}]", acc)
            return io.finish(response)
        finally:
            for entry in reversed(locked):
                entry.lock.release()

    @staticmethod
    def _optimizer_parameter(p, target, entries, k, io: CallIO) -> np.ndarray:
        """The array the step updates: a filter's trainable array or a server tensor (in place),
        or a private copy of an inline array (returned in the response)."""
        if isinstance(target, pb.FilterParameterRef):
            entry = entries[target.filter_id]
            trainable = entry.trainable
            if target.name not in trainable:
                raise InvalidArgumentError(
                    f"parameters[{k}] names {target.name!r} of filter {target.filter_id} ({entry.kind}); its trainable "
                    f"arrays are {sorted(trainable) or 'none'}")
            return trainable[target.name]
        path = f"parameters[{k}].values"
        require(p.WhichOneof("target") == "values" or path in io.arrays,
                lambda: f"parameters[{k}] is empty: reference a filter parameter or send its values")
        values = io.elements(p.values, path, np.dtype("<f4"), f"parameters[{k}]")
        if target is not None:     # a server tensor or shared memory: stepped where it lives
            require(values.flags.writeable, lambda: f"parameters[{k}] is read-only memory")
            return values
        return values.copy()

    @staticmethod
    def _server_accumulators(function, targets, entries, blocks, parameters):
        """BNNS's blocked accumulator list from server-held state (zeros at the first step),
        kept beside each filter parameter or server tensor."""
        fresh, per_param = {}, []
        for target, param in zip(targets, parameters):
            handle_id, key = _state_key(target, function)
            entry = entries.get(handle_id)
            state = entry.optimizer_state.get(key) if entry is not None else None
            if state is None:
                state = {block: np.zeros_like(param) for block in blocks}
                if entry is not None:
                    fresh[(handle_id, key)] = state
            per_param.append(state)
        return fresh, [state[block] for block in blocks for state in per_param]

    # ------------------------------------------------- issue 12, part B: multi-head attention
    def apply_multihead_attention(self, request: pb.ApplyMultiheadAttentionRequest,
                                  io: CallIO) -> pb.ApplyMultiheadAttentionResponse:
        """A training forward when the caller passes a backprop cache (it comes back as Float32
        elements, or goes into outputs["backprop_cache"]); the size query computes nothing."""
        entry = self._entry(request.filter_id, io.tenant, "ApplyMultiheadAttention")
        f, n = entry.filter, int(request.batch_size)
        require(n >= 1, f"batch_size {n} must be at least 1")
        response = pb.ApplyMultiheadAttentionResponse(backprop_cache_size=4 * f.cache_elements(n), workspace_size=0)
        if request.size_query:
            return io.finish(response)
        query, key, value = (io.batch(request, name, name, desc, n, name)
                             for name, desc in zip(("query", "key", "value"), f.input_descs))
        mask = extra = None
        if io.present(request, "key_mask", "key_mask"):
            mask_desc = layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (f.source_length,))
            mask = io.batch(request, "key_mask", "key_mask", mask_desc, n, "key_mask")
        if io.present(request, "add_to_attention", "add_to_attention"):
            count = f.target_length * f.source_length
            flat = io.elements(request.add_to_attention if request.HasField("add_to_attention") else None,
                               "add_to_attention", np.dtype(np.float32), "add_to_attention", count=count)
            require(flat.size == count, f"add_to_attention has {flat.size} values; L x S = {f.target_length} x "
                    f"{f.source_length} = {count} are needed")
            extra = flat.reshape(f.target_length, f.source_length)
        with self._holding(entry):
            y = f.apply(query, key, value, key_mask=mask, add_to_attention=extra, training=request.backprop_cache)
            cache = f.take_cache() if request.backprop_cache else None
        io.put("output", y, item=f.output_desc)
        io.put("backprop_cache", cache)
        return io.finish(response)

    def apply_multihead_attention_backward(self, request: pb.ApplyMultiheadAttentionBackwardRequest,
                                           io: CallIO) -> pb.ApplyMultiheadAttentionBackwardResponse:
        entry = self._entry(request.filter_id, io.tenant, "ApplyMultiheadAttentionBackward")
        f, n = entry.filter, int(request.batch_size)
        asked = (request.compute_query_delta, request.compute_key_delta, request.compute_value_delta)
        require(any(asked) or request.compute_parameter_deltas, "ApplyMultiheadAttentionBackward asks for no "
                "gradient: set compute_query_delta, compute_key_delta, compute_value_delta or compute_parameter_deltas")
        require(io.present(request, "backprop_cache", "backprop_cache"),
                "backprop_cache is required: the cache a training ApplyMultiheadAttention returned")
        dy = io.batch(request, "output_delta", "output_delta", f.output_desc, n, "output_delta")
        cache = io.elements(request.backprop_cache if request.HasField("backprop_cache") else None, "backprop_cache",
                            np.dtype(np.float32), "backprop_cache", count=f.cache_elements(n))
        with self._holding(entry):
            g = f.apply_backward(dy, query_grad=asked[0], key_grad=asked[1], value_grad=asked[2],
                                 parameters_grad=request.compute_parameter_deltas, cache=cache)
        for name, desc in zip(("query", "key", "value"), f.input_descs):   # in this order: see the SDK
            io.put(f"{name}_delta", getattr(g, name), item=_packed(desc))
        for name in ("query_weights", "query_bias", "key_weights", "key_bias", "value_weights", "value_bias",
                     "output_weights", "output_bias", "key_attn_bias", "value_attn_bias"):
            io.put(f"{name}_delta", getattr(g, name))
        return io.finish(pb.ApplyMultiheadAttentionBackwardResponse())

    # --------------------------------------------------------- issue 12, part B: LSTM training
    def _lstm_filter(self, request, io: CallIO, seed: int = 0):
        """The LSTM of a filter-less call's layer_params (weights decoded), its sizes bounded."""
        require(request.HasField("layer_params"), "layer_params (BNNSLayerParametersLSTM) is not set")
        require(request.filter_params.flags & ~1 == 0, f"filter_params.flags {request.filter_params.flags:#x} sets "
                "bits other than BNNSFlagsUseClientPtr (1)")
        f = lstm.LSTMFilter(decoders.lstm_parameters(request.layer_params, io, "layer_params"), seed=seed)
        t, b, dirs, hidden = f.seq_len, f.batch_size, f.directions, f.hidden_size
        elements = f.cache_elements() + t * b * (f.input_size + 2 * dirs * hidden) + 4 * f.num_layers * dirs * b * hidden
        self._bounded(elements, f"this LSTM (seq_len {t}, batch_size {b}, {f.num_layers} layers of {hidden})")
        return f

    @staticmethod
    def _lstm_state(desc, name: str, shape: tuple):
        """A state or sequence given as a descriptor's data, in its hierarchy (None: absent)."""
        if desc is None or desc.data is None:
            return None
        return desc.tensor(name).reshape(shape)

    def compute_lstm_training_cache_capacity(self, request: pb.ComputeLSTMTrainingCacheCapacityRequest,
                                             io: CallIO) -> pb.ComputeLSTMTrainingCacheCapacityResponse:
        f = self._lstm_filter(request, io)
        return io.finish(pb.ComputeLSTMTrainingCacheCapacityResponse(capacity=4 * f.cache_elements()))

    def direct_apply_lstm_batch_training_caching(self, request: pb.DirectApplyLSTMBatchTrainingCachingRequest,
                                                 io: CallIO) -> pb.DirectApplyLSTMBatchTrainingCachingResponse:
        f = self._lstm_filter(request, io, seed=request.seed)
        capacity, needed = int(request.training_cache_capacity), 4 * f.cache_elements()
        require(capacity == 0 or capacity >= needed, f"training_cache_capacity {capacity} is below the {needed} bytes "
                "this LSTM's cache needs (BNNSComputeLSTMTrainingCacheCapacity)")
        p = f.params
        state = (f.num_layers, f.directions, f.batch_size, f.hidden_size)
        x = self._lstm_state(p.input_descriptor.data_desc, "input_descriptor.data_desc",
                             (f.seq_len, f.batch_size, f.input_size))
        require(x is not None, "input_descriptor.data_desc has no data: the input sequence x is required")
        h0 = self._lstm_state(p.input_descriptor.hidden_desc, "input_descriptor.hidden_desc", state)
        c0 = self._lstm_state(p.input_descriptor.cell_state_desc, "input_descriptor.cell_state_desc", state)
        out, h_n, c_n = f.apply(x, h0, c0, training=capacity > 0)
        io.put("output", out)
        io.put("hidden", h_n)
        io.put("cell_state", c_n)
        io.put("training_cache", f.take_cache() if capacity else None)
        return io.finish(pb.DirectApplyLSTMBatchTrainingCachingResponse())

    def direct_apply_lstm_batch_backward(self, request: pb.DirectApplyLSTMBatchBackwardRequest,
                                         io: CallIO) -> pb.DirectApplyLSTMBatchBackwardResponse:
        f = self._lstm_filter(request, io)
        require(request.compute_input_delta or request.compute_state_deltas or request.compute_weights_deltas,
                "DirectApplyLSTMBatchBackward asks for no gradient: set compute_input_delta, compute_state_deltas or "
                "compute_weights_deltas")
        require(io.present(request, "training_cache", "training_cache"),
                "training_cache is required: the cache a training DirectApplyLSTMBatchTrainingCaching returned")
        needed = f.cache_elements()
        require(request.training_cache_capacity == 0 or request.training_cache_capacity >= 4 * needed,
                f"training_cache_capacity {request.training_cache_capacity} is below the {4 * needed} bytes of this "
                "LSTM's cache")
        f32 = np.dtype(np.float32)
        f.load_cache(io.elements(request.training_cache if request.HasField("training_cache") else None,
                                 "training_cache", f32, "training_cache", count=needed))
        state = (f.num_layers, f.directions, f.batch_size, f.hidden_size)

        def given(field: str, shape: tuple, required: bool = False):
            if not io.present(request, field, field):
                require(not required, f"{field} is required")
                return None
            flat = io.elements(getattr(request, field) if request.HasField(field) else None, field, f32, field,
                               count=math.prod(shape))
            require(flat.size == math.prod(shape), f"{field} has {flat.size} values; {shape} needs {math.prod(shape)}")
            return flat.reshape(shape)
        d_out = given("output_delta", (f.seq_len, f.batch_size, f.directions, f.hidden_size), required=True)
        g = f.apply_backward(d_out, given("hidden_delta", state), given("cell_state_delta", state),
                             input_grad=request.compute_input_delta, state_grads=request.compute_state_deltas,
                             weights_grad=request.compute_weights_deltas)
        io.put("input_delta", g.input)
        io.put("hidden_delta", g.hidden)
        io.put("cell_state_delta", g.cell_state)
        for gate in lstm.GATES:
            deltas = getattr(g, gate)
            for part in lstm.GateGradients._fields if deltas is not None else ():
                io.put(f"{gate}.{part}", getattr(deltas, part))
        return io.finish(pb.DirectApplyLSTMBatchBackwardResponse())

    # ------------------------------------------------------------------------------- helpers
    def _entry(self, filter_id: str, tenant: str, rpc: str) -> Entry:
        """The live filter ``rpc`` is called on, if ``rpc`` serves its kind (the table's entry points)."""
        entry = self._filter_entry(filter_id, tenant)
        served = kinds.served_by(rpc)
        if entry.kind not in served:
            raise InvalidArgumentError(
                f"filter {filter_id} is a {entry.kind} filter; {rpc} serves {', '.join(sorted(served))} "
                f"(use the {entry.kind} entry point)")
        return entry

    @staticmethod
    def _optional_batch(request, field: str, desc, batch_size: int, io: CallIO,
                        allowed: dict = layout.FLOAT_DTYPES) -> Optional[np.ndarray]:
        if not io.present(request, field, field):
            return None
        return io.batch(request, field, field, desc, batch_size, field, allowed)


# The descriptors of each filter-less call (issue 12, part A), whose elements bound its memory.
_DIRECT_DESCRIPTORS = {
    "Transpose": ("src", "dest"), "Copy": ("src", "dest"),
    "DirectApplyReduction": ("layer_params.i_desc", "layer_params.o_desc", "layer_params.w_desc"),
    "DirectApplyBroadcastMatMul": ("input_a", "input_b", "output"), "MatMul": ("input_a", "input_b", "output"),
    "CropResize": ("input", "roi", "output"), "CropResizeBackward": ("in_delta", "roi", "out_delta")}

# Where a filter's bound arrays come from in its layer parameters (for BNNSFlagsUseClientPtr).
_TRAINABLE_FIELDS = {"weights": "w_desc", "bias": "bias", "beta": "beta_desc", "gamma": "gamma_desc",
                     "moving_mean": "moving_mean_desc", "moving_variance": "moving_variance_desc",
                     "a": "ia_desc", "b": "ib_desc"}      # a two-input filter's weights operand


def _field_at(message, dotted: str):
    """The set message field at a dotted path ("w_desc", "query.weights"), else None."""
    for name in dotted.split("."):
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is None or field.message_type is None or wire.is_repeated(field) or not message.HasField(name):
            return None
        message = getattr(message, name)
    return message


def _put_moving_statistics(f, io: CallIO) -> None:
    """Stage the moving mean and variance a (stand-alone or fused) Batch/Instance norm tracks:
    snapshots taken under the handle's lock, since the next call moves them again."""
    stats = f.parameters()
    for name in ("moving_mean", "moving_variance"):
        if name in stats:
            io.put(name, stats[name].copy())


@functools.lru_cache(maxsize=512)      # bounded: a door may pass a name no RPC has
def _method_name(rpc: str) -> str:
    """wire.rpc_method_name, once per RPC name (a regular expression on every call costs more
    than a small call's bookkeeping)."""
    return wire.rpc_method_name(rpc)


def _response_class(rpc: str):
    return getattr(pb, _SERVICE.methods_by_name[rpc].output_type.name)


def _definition(request: pb.CreateFilterRequest, kind: str, io: CallIO) -> bytes:
    """The CreateFilterRequest with every descriptor's data in it as bytes, whatever the request
    gave (bytes, values, a server tensor, shared memory): what the state store rebuilds it from."""
    full = pb.CreateFilterRequest()
    full.CopyFrom(request)
    for path, desc in _descriptors(getattr(full, kind), kind):
        if desc.HasField("data") or f"{path}.data" in io.arrays:
            resolved = codec.descriptor(desc, path, io, path)
            desc.data.Clear()
            desc.data.data = given(resolved.data, path, error=InternalError).tobytes()
    return full.SerializeToString()


def _descriptors(message, path: str):
    """(path, NDArrayDescriptor) for every descriptor inside ``message``."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        name = f"{path}.{field.name}"
        items = list(enumerate(value)) if wire.is_repeated(field) else [(None, value)]
        for k, item in items:
            item_path = f"{name}[{k}]" if k is not None else name
            if isinstance(item, types_pb2.NDArrayDescriptor):
                yield item_path, item
            elif hasattr(item, "ListFields"):
                yield from _descriptors(item, item_path)


def _images(desc, name: str) -> np.ndarray:
    """A crop-resize input's data as (N, C, H, W) (a rank-3 view is one image)."""
    x = desc.tensor(name)
    require(x.ndim in (3, 4), f"{name} has shape {x.shape}; expected (N, C, H, W) or (C, H, W)")
    return x if x.ndim == 4 else x[None]


def _crop_resize(pb_params) -> resize.CropResize:
    return resize.CropResize(decoders.crop_resize_parameters(pb_params, None, "layer_params"))


def _refuse_non_finite(x: np.ndarray, name: str, filter_id: str) -> None:
    """A NaN or infinity in a training batch would poison the moving statistics for good (as a
    non-finite gradient would the weights OptimizerStep refuses to step)."""
    if not np.isfinite(x).all():
        raise InvalidArgumentError(f"{name} holds NaN or infinite values; refusing a training forward of filter "
                                   f"{filter_id}, whose moving statistics it would poison")


# Gradients up to this many bytes in all are checked for NaN and infinity in one pass over a
# joined copy (one NumPy call instead of one per parameter: a small model has many tiny arrays).
_JOINED_CHECK_BYTES = 256 << 10


def _refuse_non_finite_gradients(gradients: list, targets: list) -> None:
    """INVALID_ARGUMENT, naming the first, for a NaN or infinity in the gradient of a parameter
    that lives on the server (``targets[k]`` not None)."""
    held = [g for g, target in zip(gradients, targets) if target is not None]
    if held and sum(g.nbytes for g in held) <= _JOINED_CHECK_BYTES:
        if np.isfinite(np.concatenate([g.reshape(-1) for g in held])).all():
            return
    for k, (g, target) in enumerate(zip(gradients, targets)):
        if target is not None and not np.all(np.isfinite(g)):
            raise InvalidArgumentError(
                f"gradients[{k}] holds NaN or infinite values; refusing to step parameters[{k}] "
                f"({_describe_target(target)}), which lives on the server")


def _filter_state(filter_obj, depth: int = 3) -> list:
    """What a training forward may change, to put back: each kernel object's attributes (the
    backward cache is replaced, not edited) and copies of its moving statistics (edited in place)."""
    state = [(filter_obj, dict(vars(filter_obj)),
              {name: (array, array.copy()) for name, array in getattr(filter_obj, "parameters", dict)().items()
               if name.startswith("moving_")})]
    if depth > 0:
        for value in vars(filter_obj).values():
            for member in value if isinstance(value, (list, tuple)) else (value,):
                if type(member).__module__.startswith("bnns.kernels") and hasattr(member, "__dict__") \
                        and not _frozen(type(member)):
                    state += _filter_state(member, depth - 1)
    return state


_FROZEN: dict = {}


def _frozen(cls: type) -> bool:
    """A frozen dataclass (descriptors, parameter records): nothing in it is reassigned, and it has
    no moving statistics, so a snapshot of it would put back what is there. (Known per class.)"""
    frozen = _FROZEN.get(cls)
    if frozen is None:
        params = getattr(cls, "__dataclass_params__", None)
        frozen = _FROZEN[cls] = bool(params is not None and params.frozen and not hasattr(cls, "parameters"))
    return frozen


def _restore_filter_state(state: list, arrays_only: bool = False) -> None:
    for obj, attributes, arrays in state:
        if not arrays_only:
            obj.__dict__.clear()
            obj.__dict__.update(attributes)
        for live, saved in arrays.values():
            np.copyto(live, saved)


def _packed(desc: layout.Descriptor, data_type: int = layout.DTYPE_FLOAT32) -> layout.Descriptor:
    """``desc``'s shape, contiguous, in ``data_type``: how gradients and indices are laid out.
    One frozen descriptor per (geometry, type), so that its checks and derived geometry are
    computed once rather than on every call."""
    if desc.data is not None:
        return dataclasses.replace(desc, stride=(), data_type=data_type, data=None)
    return _packed_geometry(desc, data_type)


@functools.lru_cache(maxsize=4096)
def _packed_geometry(desc: layout.Descriptor, data_type: int) -> layout.Descriptor:
    return dataclasses.replace(desc, stride=(), data_type=data_type)


def _count_paths(io: CallIO, field: str) -> int:
    """How many entries of a repeated Buffer field came as arrays ("in[0]", "in[1]", ...)."""
    return sum(1 for path in io.arrays if path.startswith(field + "[") and "." not in path)


def _optimizer_target(p):
    """What an OptimizerParameter updates in place on the server: a FilterParameterRef, a
    TensorReference, a SharedMemorySlice, or None for an inline array."""
    if p.WhichOneof("target") == "filter_parameter":
        return p.filter_parameter
    which = p.values.WhichOneof("contents") if p.HasField("values") else None
    return getattr(p.values, which) if which in ("tensor", "shared_memory") else None


def _state_key(target, function):
    """(handle id, key) under which the server keeps a parameter's optimizer accumulators."""
    if isinstance(target, pb.FilterParameterRef):
        return target.filter_id, (target.name, function)
    if isinstance(target, types_pb2.TensorReference):
        return target.tensor_id, (f"@{target.offset}", function)
    return None, None


def _describe_target(target) -> str:
    if isinstance(target, pb.FilterParameterRef):
        return f"{target.name} of filter {target.filter_id}"
    if isinstance(target, types_pb2.TensorReference):
        return f"tensor {target.tensor_id}"
    return f"shared-memory region {target.region!r}"


def _item_elements(f) -> int:
    """Elements of one item of a filter's inputs and output, plus its kernels' scratch per item."""
    descs = list(getattr(f, "input_descs", None) or [getattr(f, "input_desc", None)])
    descs.append(getattr(f, "output_desc", None))
    return sum(d.span for d in descs if d is not None) + getattr(f, "scratch_per_item", 0)
