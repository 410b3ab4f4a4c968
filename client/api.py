"""The BNNS C API, Python spelling: BNNSFilterCreateLayer*, BNNS*FilterApply*Batch,
BNNSFilterDestroy. Creators return a BNNSFilter or None, apply functions 0 or -1, like BNNS; the
reason for a failure is kept for ``last_error()``.

Buffers are NumPy arrays read and written as BNNS reads and writes memory: item b of a batch
starts at element ``b * stride`` of the array's flat C order, each item laid out as the
descriptor given at creation says. Outputs and gradients are written into the caller's arrays in
place; gradient descriptors with BNNSNDArrayFlagBackpropAccumulate are added into.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Callable, Optional

import numpy as np

from bnns.kernels import layout
from bnns.kernels.errors import BNNSError, InvalidArgumentError, given, require
from bnns.server.dataplane import Sink
from bnns.server.wire import buffer_at
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import backend as backend_mod
from . import bindings
from .session import track as _track_in_sessions
from . import constants as C
from .c_structs import (BNNSFilterParameters, BNNSLayerParametersConvolution,
                        BNNSLayerParametersFullyConnected, BNNSNDArrayDescriptor)
from .structs import flat_elements
from .tensor import BNNSTensor, check_fits

_state = threading.local()


def last_error() -> Optional[BNNSError]:
    """Why the most recent C-style call (a BNNS-named function) on this thread failed: its
    BNNSError, or None when that call succeeded. Every C-style call resets it on success (unlike
    errno), so it never describes an older failure: read it right after the call that returned
    None or -1."""
    return getattr(_state, "error", None)


def failure() -> BNNSError:
    """last_error(), for the Swift-style forms that raise it right after a C-style call failed
    (which always records why)."""
    return last_error() or BNNSError("the call failed and recorded no error")


def _c_style(default):
    """Run a raising implementation; on BNNSError keep it for last_error() and return default;
    on success clear last_error(). A None handle (what a failed create returns) is a caller
    error, as a NULL filter is in C: it raises InvalidArgumentError, naming why the create failed."""
    def wrap(fn: Callable):
        takes_filter = next(iter(inspect.signature(fn).parameters), "") == "filter"

        def call(*args, **kwargs):
            if takes_filter and (args[0] if args else kwargs.get("filter")) is None:
                create = getattr(_state, "create_error", None)
                raise InvalidArgumentError(
                    f"{fn.__name__}: filter is None, which is what a failed BNNSFilterCreate* returns"
                    + (f" (the last failed create on this thread said: {create.message})" if create else "")
                    + "; check the create's result before using it")
            try:
                result = fn(*args, **kwargs)
            except BNNSError as error:
                _state.error = error
                if default is None and fn.__name__.startswith("BNNSFilterCreate"):
                    _state.create_error = error
                return default
            _state.error = None
            return result
        functools.update_wrapper(call, fn, assigned=("__name__", "__doc__"), updated=())   # and __wrapped__
        return call
    return wrap


class BNNSFilter:
    """An opaque filter handle: the server's id, the connection it lives on, and the geometry of
    the buffers the SDK reads and writes for it."""

    def __init__(self, backend, filter_id: str, kind: str, input_geometry: layout.Descriptor,
                 output_geometry: layout.Descriptor, weights_geometry: Optional[layout.Descriptor] = None,
                 bias_geometry: Optional[layout.Descriptor] = None, **extra):
        self.backend = backend
        self.filter_id = filter_id
        self.kind = kind
        self.input_geometry = input_geometry
        self.output_geometry = output_geometry
        self.weights_geometry = weights_geometry
        self.bias_geometry = bias_geometry
        self.destroyed = False
        for name, value in extra.items():
            setattr(self, name, value)

    def call(self, rpc: str, request, exchange: Optional["Exchange"] = None):
        if self.destroyed:
            raise InvalidArgumentError(f"filter {self.filter_id} was destroyed (BNNSFilterDestroy)")
        # What the response may carry back (outputs and input gradients), so that the transport can
        # stream it when it is larger than one message.
        items = int(getattr(request, "batch_size", 0) or 0)
        return self.backend.call(rpc, request, response_bytes=items * self._spans * 4, exchange=exchange)

    @functools.cached_property
    def _spans(self) -> int:
        """Elements of one item of input and output (the geometries are fixed at create)."""
        return sum(g.span for g in (self.input_geometry, self.output_geometry) if g is not None)

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else self.backend
        return f"<BNNSFilter {self.kind} {self.filter_id} on {state}>"


# ------------------------------------------------------------------------------- buffer I/O

class Exchange:
    """The tensors of one SDK call, kept beside its request message instead of inside it.

    ``arrays``: request Buffer path ("in", "in[1]", "parameters[0].values") -> the caller's
    elements (1-D, in the descriptor's type): the remote backend splices them into the
    serialized request (one copy), the in-process backend hands them to the core (none).
    ``targets``: response path -> the caller's array a result is written into, at its strides.
    ``outputs``: response path -> a Buffer naming a server tensor or shared memory: the server
    writes the result there and nothing comes back.
    """

    def __init__(self):
        self.arrays: dict = {}
        self.targets: dict = {}
        self.outputs: dict = {}

    def send(self, path: str, array, geometry: layout.Descriptor, batch_size: int, stride: int) -> types_pb2.Buffer:
        """The Buffer for the part of ``array`` (a NumPy array or a BNNSTensor) a BNNS call reads."""
        require(array is not None, lambda: f"{path} is required")
        require(int(batch_size) >= 1, lambda: f"batch_size {batch_size} must be at least 1")
        if isinstance(array, BNNSTensor):
            check_fits(array, geometry, batch_size, stride, path)
            return array.reference(stride)
        flat = flat_elements(array, geometry.data_type, path)
        span = geometry.span
        stride = int(stride) or span
        needed = (int(batch_size) - 1) * stride + span
        require(flat.size >= needed,
                lambda: f"{path} has {flat.size} elements but batch_size {batch_size} with {path}_stride {stride} "
                f"and items of {span} elements needs {needed}")
        self.arrays[path] = flat[:needed]
        return types_pb2.Buffer(stride=stride)

    def send_flat(self, path: str, array, data_type: int, count: Optional[int] = None) -> types_pb2.Buffer:
        """The Buffer for ``count`` elements (default: all) of a flat operand (weights, gradients)."""
        if isinstance(array, BNNSTensor):
            require(not array.destroyed, lambda: f"{path} is tensor {array.tensor_id}, which was destroyed")
            return array.reference()
        flat = flat_elements(array, data_type, path)
        if count is not None:
            require(flat.size >= count, lambda: f"{path} has {flat.size} values; {count} are needed")
            flat = flat[:count]
        self.arrays[path] = flat
        return types_pb2.Buffer()

    def receive(self, path: str, array, geometry: layout.Descriptor, batch_size: int, stride: int,
                accumulate: bool = False, wire: Optional[np.dtype] = None) -> None:
        """Write the result at ``path`` into ``array`` (NumPy, or a BNNSTensor on the server)."""
        if isinstance(array, BNNSTensor):
            check_fits(array, geometry, batch_size, stride, path, dtype=wire)
            self.outputs[path] = array.reference(stride, accumulate)
            return
        self.targets[path] = _Target(array, geometry, batch_size, stride, path, accumulate,
                                     wire if wire is not None else geometry.dtype)

    def receive_gradient(self, path: str, desc: Optional[BNNSNDArrayDescriptor],
                         geometry: Optional[layout.Descriptor], batch_size: int, stride: int) -> None:
        """A gradient descriptor (whose data receives the result; Accumulate adds into it)."""
        if desc is None:
            return
        geometry = given(geometry, lambda: f"{path} was given but the filter has no such operand")
        require(desc.data is not None, lambda: f"{path}.data is not set: BNNS writes the gradient there")
        own = desc.geometry()
        require(own.shape == geometry.shape,
                lambda: f"{path} has shape {own.shape} (size {tuple(desc.size)}) but the gradient has shape {geometry.shape}")
        self.receive(path, desc.data, own, batch_size, stride,
                     accumulate=desc.flags == C.BNNSNDArrayFlagBackpropAccumulate, wire=FLOAT32)

    def receive_flat(self, path: str, destination: np.ndarray) -> None:
        """Write the packed result at ``path`` into the 1-D ``destination``."""
        self.targets[path] = _Target.whole(destination, path)

    def prepare(self, request) -> dict:
        """Name the server-side outputs in ``request`` and make sure a Buffer stands at every path
        an array will be spliced into; returns the arrays."""
        for path, buf in self.outputs.items():
            request.outputs[path].CopyFrom(buf)
        for path in self.arrays:
            buf = buffer_at(request, path, create=True)
            require(buf is not None, lambda: f"the request has no Buffer at {path}")
            buf.SetInParent()
        return self.arrays

    def sinks(self) -> dict:
        """path -> dataplane.Sink for an in-process core: the caller's arrays, written directly.
        A target that may overlap an input is left out (its result is written after the call, as
        the remote path does), so an in-place call reads its input unchanged."""
        inputs = list(self.arrays.values())
        owners = {_owner(a) for a in inputs}
        sinks = {}
        for path, t in self.targets.items():
            # An array over memory its own ndarray owns can only overlap arrays over that owner
            # (the common case is settled without a bounds check per pair of arrays).
            owner = _owner(t.view)
            if owner is not None and None not in owners and owner not in owners:
                sinks[path] = Sink(t.view, t.accumulate)
            elif not any(np.may_share_memory(t.view, a) for a in inputs):
                sinks[path] = Sink(t.view, t.accumulate)
        return sinks

    def deliver(self, response, results: dict, written=()) -> None:
        """Write each target's result: from ``results`` (path -> packed bytes or array), else from
        the response message's Buffer; ``written`` paths were written in place already."""
        for path, target in self.targets.items():
            if path in written:
                continue
            data = results.get(path)
            if data is None:
                buf = buffer_at(response, path)
                require(buf is not None and buf.WhichOneof("contents") == "data",
                        lambda: f"the server sent no {path}")
                data = buf.data
            target.write(data)


def _owner(array) -> Optional[int]:
    """The id of the ndarray that owns ``array``'s memory, None for foreign memory (bytes,
    shared memory, a buffer NumPy does not own) or a non-array."""
    if not isinstance(array, np.ndarray):
        return None
    while isinstance(array.base, np.ndarray):
        array = array.base
    return id(array) if array.flags.owndata else None


class _Target:
    """A caller array that will receive a batch result, checked before any RPC is made so that a
    call either writes all its outputs or none."""

    def __init__(self, array, geometry: layout.Descriptor, batch_size: int, stride: int, name: str,
                 accumulate: bool = False, wire: Optional[np.dtype] = None):
        require(isinstance(array, np.ndarray),
                lambda: f"{name} must be a NumPy array or a BNNSTensor to be written in place")
        require(array.flags.c_contiguous and array.flags.writeable,
                lambda: f"{name} must be a writable C-contiguous array (BNNS writes its memory in place)")
        self.flat = array.reshape(-1)
        self.geometry, self.name, self.accumulate = geometry, name, accumulate
        self.wire = wire if wire is not None else geometry.dtype
        self.batch_size = int(batch_size)
        self.stride = int(stride) or geometry.span
        needed = (self.batch_size - 1) * self.stride + geometry.span
        require(self.flat.size >= needed,
                lambda: f"{name} has {self.flat.size} elements but batch_size {batch_size} with stride "
                f"{self.stride} and items of {geometry.span} elements needs {needed}")
        if self.stride == geometry.span and geometry.is_packed:     # the same view, a tenth of the cost
            self.view = self.flat[:needed].reshape((self.batch_size,) + geometry.shape)
        else:
            item = self.flat.itemsize
            self.view = np.lib.stride_tricks.as_strided(
                self.flat, shape=(self.batch_size,) + self.geometry.shape,
                strides=(self.stride * item,) + tuple(s * item for s in self.geometry.numpy_strides))

    @classmethod
    def whole(cls, array, name: str) -> "_Target":
        """A target that is all of ``array``, in its flat order, in its own type: what the general
        constructor makes of a Vector of ``array.size`` elements, batch 1 (the optimizer's
        write-backs: a step has a dozen of them), without its geometry work."""
        require(isinstance(array, np.ndarray),
                lambda: f"{name} must be a NumPy array or a BNNSTensor to be written in place")
        flags = array.flags
        require(flags.c_contiguous and flags.writeable,
                lambda: f"{name} must be a writable C-contiguous array (BNNS writes its memory in place)")
        target = cls.__new__(cls)
        target.flat = flat = array.reshape(-1)
        target.name, target.accumulate, target.wire = name, False, array.dtype
        target.batch_size, target.stride = 1, flat.size
        target.view = flat.reshape(1, flat.size)    # (1,) + the Vector's shape; its geometry made if asked
        return target

    @functools.cached_property
    def geometry(self) -> layout.Descriptor:
        """(Set by the constructor; a whole target's Vector of all its elements is made on first use.)"""
        return layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (self.flat.size,))

    def write(self, data) -> None:
        """Write a packed result (bytes in the wire type, or an array) at the caller's strides."""
        packed = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=self.wire)
        require(packed.size == self.view.size, lambda: f"the server sent {packed.size} values for {self.name}; "
                f"{self.view.size} were expected")
        packed = packed.reshape(self.view.shape)
        if self.accumulate:
            self.view += packed.astype(self.view.dtype, copy=False)
        else:
            np.copyto(self.view, packed, casting="unsafe")


FLOAT32 = np.dtype("<f4")


# ---------------------------------------------------------------------------------- lifecycle

def create_filter(kind: str, layer_params, filter_params: Optional[BNNSFilterParameters], *,
                  input_geometry, output_geometry, weights_geometry=None, bias_geometry=None, backend=None,
                  filter_class=None, message_fields: Optional[dict] = None, **extra) -> BNNSFilter:
    """CreateFilter on ``backend`` (default: the current connection); raises BNNSError.
    ``message_fields``: the creator's arguments that travel in the parameters message, not in
    the struct (normalization's normType).

    With BNNSFlagsUseClientPtr, the caller's trainable arrays (``layer_params.trainables()``) are
    bound to the filter: BNNSOptimizerStep on them updates the server's copy (see bindings).
    """
    backend = backend or backend_mod.current()
    request = pb.CreateFilterRequest(**{kind: layer_params.to_proto(**(message_fields or {}))})
    if filter_params is not None:
        request.filter_parameters.CopyFrom(filter_params.to_proto())
    response = backend.call("CreateFilter", request)
    handle = (filter_class or BNNSFilter)(backend, response.filter_id, kind, input_geometry, output_geometry,
                                          weights_geometry, bias_geometry, **extra)
    _track_in_sessions(handle)    # an open bnns.session() keeps it alive and destroys it at its end
    if filter_params is not None and filter_params.flags & C.BNNSFlagsUseClientPtr:
        for name, desc in layer_params.trainables().items():
            # A server tensor is bound by the server itself: it and the filter share one memory.
            if desc is not None and isinstance(desc.data, np.ndarray) and name in response.info.trainable:
                bindings.bind(desc.data, handle, name)
    return handle


def _affine_filter(kind: str, params, filter_params, backend=None) -> BNNSFilter:
    require(params.i_desc is not None and params.o_desc is not None and params.w_desc is not None,
            "i_desc, w_desc and o_desc are required")
    return create_filter(kind, params, filter_params, input_geometry=params.i_desc.geometry(),
                         output_geometry=params.o_desc.geometry(), weights_geometry=params.w_desc.geometry(),
                         bias_geometry=params.bias.geometry() if params.bias is not None else None,
                         backend=backend)


@_c_style(None)
def BNNSFilterCreateLayerConvolution(layer_params: BNNSLayerParametersConvolution,
                                     filter_params: Optional[BNNSFilterParameters] = None) -> Optional[BNNSFilter]:
    """A convolution filter, or None (see last_error())."""
    return _affine_filter("convolution", layer_params, filter_params)


@_c_style(None)
def BNNSFilterCreateLayerTransposedConvolution(layer_params: BNNSLayerParametersConvolution,
                                               filter_params: Optional[BNNSFilterParameters] = None):
    """A transposed convolution filter, or None (see last_error())."""
    return _affine_filter("transposed_convolution", layer_params, filter_params)


@_c_style(None)
def BNNSFilterCreateLayerFullyConnected(layer_params: BNNSLayerParametersFullyConnected,
                                        filter_params: Optional[BNNSFilterParameters] = None):
    """A fully connected filter, or None (see last_error())."""
    return _affine_filter("fully_connected", layer_params, filter_params)


def destroy(filter_: BNNSFilter) -> None:
    if filter_ is None or filter_.destroyed:
        return
    filter_.backend.call("DestroyFilter", pb.DestroyFilterRequest(filter_id=filter_.filter_id))
    filter_.destroyed = True
    bindings.unbind_filter(filter_)


@_c_style(None)
def BNNSFilterDestroy(filter_: BNNSFilter) -> None:
    """Release the filter on the server. Destroying twice is harmless."""
    destroy(filter_)


# ------------------------------------------------------------------------- apply / backward

def apply_batch(f: BNNSFilter, batch_size, in_, in_stride, out, out_stride) -> None:
    io = Exchange()
    io.receive("out", out, f.output_geometry, batch_size, out_stride)
    f.call("FilterApplyBatch", pb.FilterApplyBatchRequest(
        filter_id=f.filter_id, batch_size=int(batch_size),
        **{"in": io.send("in", in_, f.input_geometry, batch_size, in_stride)}), io)  # type: ignore[arg-type]  # mypy checks **{"in": ...} ("in" is a keyword) against every parameter


@_c_style(-1)
def BNNSFilterApplyBatch(filter: BNNSFilter, batch_size: int, in_, in_stride: int, out, out_stride: int) -> int:
    """Apply ``filter`` to ``batch_size`` items; 0 on success, -1 on failure."""
    apply_batch(filter, batch_size, in_, in_stride, out, out_stride)
    return 0


@_c_style(-1)
def BNNSFilterApply(filter: BNNSFilter, in_, out) -> int:
    """Apply ``filter`` to one item; 0 on success, -1 on failure."""
    apply_batch(filter, 1, in_, 0, out, 0)
    return 0


def apply_backward_batch(f: BNNSFilter, batch_size, in_, in_stride, in_delta, in_delta_stride, out, out_stride,
                         out_delta, out_delta_stride, weights_delta, bias_delta) -> None:
    require(out_delta is not None and out_delta.data is not None, "out_delta (with data) is required")
    io = Exchange()
    io.receive_gradient("in_delta", in_delta, f.input_geometry, batch_size, in_delta_stride)
    if weights_delta is not None:
        io.receive_gradient("weights_delta", weights_delta, f.weights_geometry, 1, 0)
    if bias_delta is not None:
        io.receive_gradient("bias_delta", bias_delta, _bias_shape(f), 1, 0)
    request = pb.FilterApplyBackwardBatchRequest(
        filter_id=f.filter_id, batch_size=int(batch_size),
        out_delta=io.send("out_delta", out_delta.data, f.output_geometry, batch_size, out_delta_stride),
        compute_in_delta=in_delta is not None, compute_weights_delta=weights_delta is not None,
        compute_bias_delta=bias_delta is not None)
    if in_ is not None:
        getattr(request, "in").CopyFrom(io.send("in", in_, f.input_geometry, batch_size, in_stride))
    if out is not None:
        request.out.CopyFrom(io.send("out", out, f.output_geometry, batch_size, out_stride))
    f.call("FilterApplyBackwardBatch", request, io)


def _bias_shape(f: BNNSFilter) -> layout.Descriptor:
    return given(f.bias_geometry, lambda: f"bias_delta was given but filter {f.filter_id} was created without a bias")


@_c_style(-1)
def BNNSFilterApplyBackwardBatch(filter: BNNSFilter, batch_size: int, in_, in_stride: int,
                                 in_delta: Optional[BNNSNDArrayDescriptor], in_delta_stride: int,
                                 out, out_stride: int, out_delta: BNNSNDArrayDescriptor, out_delta_stride: int,
                                 weights_delta: Optional[BNNSNDArrayDescriptor],
                                 bias_delta: Optional[BNNSNDArrayDescriptor]) -> int:
    """Gradients of ``filter`` for a batch; 0 on success, -1 on failure.

    ``in_delta``, ``weights_delta`` and ``bias_delta`` are descriptors whose ``data`` receives
    dL/d(in), dL/d(weights) and dL/d(bias) (the last two summed over the batch); pass None for a
    gradient you do not need. ``out_delta.data`` holds dL/d(out).
    """
    apply_backward_batch(filter, batch_size, in_, in_stride, in_delta, in_delta_stride, out, out_stride,
                         out_delta, out_delta_stride, weights_delta, bias_delta)
    return 0
