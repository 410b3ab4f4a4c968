"""proto <-> NumPy: inline Buffers (bytes, JSON values) to arrays, NDArrayDescriptors to
layout.Descriptors, layer-parameter messages to the kernels' parameter dataclasses. No maths here
and no transport: the core calls these (through dataplane.CallIO, which resolves every kind of
Buffer), the kernels never see protobuf."""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Optional

import numpy as np
from google.protobuf import struct_pb2

from bnns.kernels import layout, params
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


def pad4(values, name: str = "pad") -> tuple:
    require(len(values) in (0, 4), f"{name} has {len(values)} values; BNNS takes 4 (left, right, up, down)")
    return tuple(int(v) for v in values) if values else (0, 0, 0, 0)


# ---------------------------------------------------------------------------- layer parameters

# Descriptors that give only a shape: their data (if any) is not read at creation.
SHAPE_ONLY = frozenset({"i_desc", "o_desc", "target_desc"})


def decode_as(params_class, convert: Optional[dict] = None):
    """A decoder ``(message, source=None, prefix="") -> params_class`` derived from the kernel's
    parameters dataclass (kernels/params.py, generated from the messages), so no decoder is
    written per message: each field is read from the message field of the same name, as its type
    annotation says, then through ``convert[name]``. An NDArrayDescriptor becomes a
    layout.Descriptor with its data resolved through ``source`` (Optional: unset, or without
    layout and data, is None, a NULL pointer; i_desc / o_desc / target_desc give a shape only);
    an Activation the kernel's, through ``activation`` (Optional: unset is None); another message
    the annotated dataclass, decoded alike (``decode_as(class)``; Optional: unset is None, else
    unset is refused); a repeated field a tuple; an unset proto3 ``optional`` field leaves the
    dataclass's default. What each field takes is worked out once per message type."""
    convert = dict(convert or {})
    hints = typing.get_type_hints(params_class)
    plans: dict[type, list] = {}

    def plan(message) -> list:
        steps = []
        for f in dataclasses.fields(params_class):
            field = message.fields_by_name[f.name]
            kind, optional = _unwrap(hints[f.name], f.default is None)
            if is_repeated(field):
                how, kind = ("repeated" if field.message_type else "values"), (typing.get_args(kind) or (None,))[0]
            elif field.message_type is None:
                how = "optional value" if field.has_presence else "value"
            else:
                how = "struct" if field.message_type.name not in ("NDArrayDescriptor", "Activation") else \
                      "optional message" if optional else "message"
            steps.append((f.name, how, kind, optional, convert.get(f.name)))
        return steps

    def read(value, kind, optional: bool, label: str, source, path: str):
        if isinstance(value, types_pb2.NDArrayDescriptor):
            if label.rpartition(".")[2] in SHAPE_ONLY:
                return descriptor(value, label)
            if optional and value.layout == 0 and not (
                    value.HasField("data") or (source is not None and f"{path}.data" in source.arrays)):
                return None
            return descriptor(value, label, source, path)
        if isinstance(value, types_pb2.Activation):
            return activation(value)
        return _decoder(kind)(value, source, path, f"{label}.")

    def decode(pb, source=None, prefix: str = "", where: str = ""):
        steps = plans.get(pb.DESCRIPTOR) or plans.setdefault(pb.DESCRIPTOR, plan(pb.DESCRIPTOR))
        values = {}
        for name, how, kind, optional, conv in steps:
            if how == "value" or how == "optional value" and pb.HasField(name):
                value = getattr(pb, name)
            elif how == "optional value":
                continue                                # an unset `optional` scalar: the kernel's default
            elif how == "values":
                value = tuple(getattr(pb, name))
            else:
                label, path = where + name, f"{prefix}.{name}" if prefix else name
                if how == "repeated":
                    value = tuple(read(v, kind, False, f"{label}[{k}]", source, f"{path}[{k}]")
                                  for k, v in enumerate(getattr(pb, name)))
                elif how != "message" and not pb.HasField(name):
                    require(optional, lambda: f"{label} ({pb.DESCRIPTOR.fields_by_name[name].message_type.name}) "
                                              "is not set")
                    value = None
                else:
                    value = read(getattr(pb, name), kind, optional, label, source, path)
            values[name] = conv(value) if conv else value
        return params_class(**values)
    decode.__doc__ = f"{params_class.__name__} from its wire message (codec.decode_as)."
    return decode


_decoder = functools.lru_cache(maxsize=None)(decode_as)     # a nested dataclass's own decoder, made once


def _unwrap(hint, default_none: bool) -> tuple:
    """(X, optional) of a field annotated X or Optional[X] (or defaulting to None)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1:
        return args[0], True
    return hint, default_none


convolution_params = decode_as(params.ConvolutionParameters, convert={"pad": pad4})
fully_connected_params = decode_as(params.FullyConnectedParameters)
activation_params = decode_as(params.ActivationParameters)
pooling_params = decode_as(params.PoolingParameters, convert={"pad": pad4})
normalization_params = decode_as(params.NormalizationParameters, convert={"num_groups": lambda n: n or 1})
quantization_params = decode_as(params.QuantizationParameters)
loss_params = decode_as(params.LossParameters)
arithmetic_params = decode_as(params.ArithmeticParameters)
optimizer_fields = decode_as(params.OptimizerFields)


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


# ------------------------------------------------------------------ issue 12, part B (layers)

multihead_attention_params = decode_as(params.MultiheadAttentionParameters)
embedding_params = decode_as(params.EmbeddingParameters, convert={"norm_type": lambda p: p or 2.0})   # 0 means 2
lstm_params = decode_as(params.LSTMParameters)
