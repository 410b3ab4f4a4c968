"""proto <-> NumPy: inline Buffers (bytes, JSON values) to arrays, NDArrayDescriptors to
layout.Descriptors, layer-parameter messages to the kernels' parameter dataclasses. No maths here
and no transport: the core calls these (through dataplane.CallIO, which resolves every kind of
Buffer), the kernels never see protobuf."""

from __future__ import annotations

import dataclasses
from typing import NoReturn, Optional

import numpy as np
from google.protobuf import struct_pb2

from bnns.kernels import layout
from bnns.kernels.activation import Activation
from bnns.kernels.errors import InvalidArgumentError, ResourceExhaustedError, require
from bnns.v1 import types_pb2

from .wire import is_repeated


class Limits:
    """Per-request caps (0 = unlimited): one tensor, one request, and the memory one call may
    make the server allocate (its results, gradients and the kernels' scratch, estimated from the
    validated parameters before anything is allocated)."""

    def __init__(self, max_tensor_bytes: int = 0, max_request_bytes: int = 0, max_call_bytes: int = 0):
        self.max_tensor_bytes = max_tensor_bytes
        self.max_request_bytes = max_request_bytes
        self.max_call_bytes = max_call_bytes


NO_LIMITS = Limits()


# ------------------------------------------------------------------------------------- buffers

def array_from_buffer(buf: types_pb2.Buffer, dtype: np.dtype, name: str, limits: Limits = NO_LIMITS) -> np.ndarray:
    """The elements of a Buffer as a read-only 1-D array of ``dtype`` (no copy for `data`)."""
    which = buf.WhichOneof("contents")
    if which == "data":
        raw = buf.data
        if limits.max_tensor_bytes and len(raw) > limits.max_tensor_bytes:
            raise ResourceExhaustedError(
                f"{name} carries {len(raw)} bytes, more than the per-tensor limit of "
                f"{limits.max_tensor_bytes} bytes (max_tensor_bytes); send a smaller batch or stream it", reason="TENSOR_TOO_LARGE")
        require(len(raw) % dtype.itemsize == 0,
                lambda: f"{name}.data has {len(raw)} bytes, not a multiple of the {dtype.itemsize}-byte "
                f"{dtype.name} element: truncated payload or wrong data type?")
        return np.frombuffer(raw, dtype=dtype)
    if which == "values":
        values = _flatten_list(buf.values, name)
        if limits.max_tensor_bytes and len(values) * dtype.itemsize > limits.max_tensor_bytes:
            raise ResourceExhaustedError(
                f"{name} carries {len(values)} values, more than the per-tensor limit of "
                f"{limits.max_tensor_bytes} bytes (max_tensor_bytes)", reason="TENSOR_TOO_LARGE")
        array = np.array(values, dtype=np.float64)
        if dtype.kind in "ui":
            require(bool(np.all(array == np.round(array))) and (array.size == 0 or array.min() >= 0),
                    f"{name}.values must be non-negative integers for {dtype.name} data")
        return array.astype(dtype)
    raise InvalidArgumentError(f"{name} is empty: set `data` (raw little-endian bytes) or `values` (numbers)")


_NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _flatten_list(values: struct_pb2.ListValue, name: str) -> list:
    out: list = []
    stack = [iter(values.values)]
    while stack:
        for v in stack[-1]:
            kind = v.WhichOneof("kind")
            if kind == "number_value":
                out.append(v.number_value)
            elif kind == "list_value":
                stack.append(iter(v.list_value.values))
                break
            elif kind == "string_value" and v.string_value in _NON_FINITE:
                out.append(_NON_FINITE[v.string_value])   # proto3 JSON's spelling, as REST writes them
            else:
                raise InvalidArgumentError(f"{name}.values holds a {kind}; only numbers, lists of them, and "
                                           f"\"NaN\", \"Infinity\", \"-Infinity\" are allowed")
        else:
            stack.pop()
    return out


# --------------------------------------------------------------------------------- descriptors

def descriptor(pb: types_pb2.NDArrayDescriptor, name: str, source=None, path: str = "",
               allowed: dict = layout.FLOAT_DTYPES) -> layout.Descriptor:
    """A layout.Descriptor from an NDArrayDescriptor (data resolved when present).

    ``source`` (a dataplane.CallIO) resolves the data Buffer at ``path + ".data"``: bytes,
    values, a server tensor or a shared-memory slice. Without a source the data is ignored
    (input / output shapes). DATA_TYPE_UNSPECIFIED (0) is read as Float32, as a zero stride is
    read as contiguous.
    """
    require(pb.layout != 0, f"{name}.layout is not set")
    data_type = pb.data_type or layout.DTYPE_FLOAT32
    require(not pb.HasField("table_data") and data_type & 0xF0000 != _INDEXED_FAMILY,
            lambda: f"{name}: data_type {data_type:#x} / table_data: the Indexed data types (a lookup table) are "
                    "not computed by this service; give the values themselves in a Float32 or Float16 descriptor")
    require(len(pb.size) <= layout.MAX_TENSOR_DIMENSION,
            f"{name}.size has {len(pb.size)} entries; BNNS descriptors have at most 8")
    require(len(pb.stride) <= layout.MAX_TENSOR_DIMENSION,
            f"{name}.stride has {len(pb.stride)} entries; BNNS descriptors have at most 8")
    require(np.isfinite(pb.data_scale) and np.isfinite(pb.data_bias),
            f"{name}.data_scale {pb.data_scale} / data_bias {pb.data_bias} must be finite")
    require(pb.flags in (layout.FLAG_BACKPROP_SET, layout.FLAG_BACKPROP_ACCUMULATE),
            f"{name}.flags {pb.flags} is not a BNNSNDArrayFlags value (0 Set, 1 Accumulate)")
    desc = layout.Descriptor(layout=int(pb.layout), size=tuple(int(s) for s in pb.size),
                             stride=tuple(int(s) for s in pb.stride), data_type=int(data_type), data=None,
                             flags=int(pb.flags), data_scale=pb.data_scale or 1.0, data_bias=pb.data_bias)
    desc.validate(name)
    data_path = f"{path}.data" if path else "data"
    if source is not None and (pb.HasField("data") or data_path in source.arrays):   # set, even if empty
        dtype = layout.numpy_dtype(data_type, allowed=allowed, what=f"{name}.data_type")
        data = source.elements(pb.data if pb.HasField("data") else None, data_path, dtype, f"{name}.data",
                               count=desc.span)
        require(data.size == desc.span,
                f"{name}.data has {data.size} elements; {name} (size {tuple(desc.size)}, stride "
                f"{desc.memory_strides()}) needs exactly {desc.span}")
        desc = dataclasses.replace(desc, data=data)
    return desc


_INDEXED_FAMILY = 0x80000          # BNNSDataTypeIndexed1..8: 0x80000 | bits
_INTEGER_SATURATIONS = {9: "IntegerLinearSaturate", 10: "IntegerLinearSaturatePerChannel"}


def activation(pb: types_pb2.Activation) -> Activation:
    """The wire's Activation; each filter validates it with the rest of its parameters. The
    integer saturations (the only functions that read iscale / ioffset / ishift) are refused
    here, naming the values; every other function ignores those fields, as BNNS does."""
    require(pb.function not in _INTEGER_SATURATIONS,
            lambda: f"activation function {pb.function} ({_INTEGER_SATURATIONS[pb.function]}) saturates integer data "
                    f"with iscale {pb.iscale} / ioffset {pb.ioffset} / ishift {pb.ishift} (and the per-channel "
                    "arrays); this service computes on Float32 and Float16 data only")
    return Activation(function=int(pb.function), alpha=float(pb.alpha), beta=float(pb.beta))


# ---------------------------------------------------------------------------- layer parameters

# What the generated decoders (server/decoders.py, proto/gen_params.py) read fields through, beside
# descriptor() and activation() above.

def at(prefix: str, name: str) -> str:
    """The path of field ``name`` of the message at ``prefix`` (where the call's data is found)."""
    return f"{prefix}.{name}" if prefix else name


def optional_descriptor(pb: types_pb2.NDArrayDescriptor, label: str, source, path: str) -> Optional[layout.Descriptor]:
    """A set descriptor field that may be a NULL pointer: None when it has neither layout nor data."""
    if pb.layout == 0 and not (pb.HasField("data") or (source is not None and f"{path}.data" in source.arrays)):
        return None
    return descriptor(pb, label, source, path)


def not_set(label: str, message: str) -> NoReturn:
    """A message field that must be set, unset."""
    raise InvalidArgumentError(f"{label} ({message}) is not set")


def entries(values, names: str, label: str) -> tuple:
    """A fixed-length repeated field whose (bnns.v1.entries) option names its entries: all or none."""
    count = names.count(",") + 1
    require(len(values) in (0, count), lambda: f"{label} has {len(values)} values; BNNS takes {count} ({names})")
    return tuple(int(v) for v in values)


def strip_tensor_data(message) -> None:
    """Clear every NDArrayDescriptor.data inside ``message`` (in place), for FilterInfo."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        items = value if is_repeated(field) else [value]
        for item in items:
            if isinstance(item, types_pb2.NDArrayDescriptor):
                item.ClearField("data")
            elif hasattr(item, "ListFields"):
                strip_tensor_data(item)
