"""proto <-> NumPy: inline Buffers (bytes, JSON values) to arrays, NDArrayDescriptors to
layout.Descriptors, layer-parameter messages to the kernels' parameter dataclasses. No maths here
and no transport: the core calls these (through dataplane.CallIO, which resolves every kind of
Buffer), the kernels never see protobuf."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from google.protobuf import struct_pb2

from bnns.kernels import layout
from bnns.kernels.activation import Activation, ActivationParams
from bnns.kernels.convolution import ConvolutionParams, FullyConnectedParams
from bnns.kernels.loss import LossParams, YoloParams
from bnns.kernels.optimizer import OptimizerFields
from bnns.kernels.arithmetic import ArithmeticOperand, ArithmeticParams
from bnns.kernels.normalization import NormalizationParams
from bnns.kernels.pooling import PoolingParams
from bnns.kernels import fused
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


def optional_descriptor(parent, field: str, name: str, source=None, path: str = "") -> Optional[layout.Descriptor]:
    """The descriptor in ``parent.field`` if it was set with data, else None (a NULL pointer)."""
    if not parent.HasField(field):
        return None
    pb = getattr(parent, field)
    if not (pb.HasField("data") or f"{path}.data" in source.arrays) and pb.layout == 0:
        return None
    return descriptor(pb, name, source, path)


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
SHAPE_ONLY = frozenset({"i_desc", "o_desc"})


def decode_as(params_class, rename: Optional[dict] = None, convert: Optional[dict] = None):
    """A decoder ``(message, source, prefix) -> params_class`` derived from the kernel's parameters
    dataclass: each of its fields is read from the message field of the same name (``rename``:
    kernel name -> proto name where they differ). An NDArrayDescriptor becomes a
    layout.Descriptor with its data resolved through ``source`` (optional when the dataclass
    default is None or its type Optional: unset means a NULL pointer; shape only for i_desc / o_desc), an Activation
    an Activation, anything else is taken as it is or through ``convert[name](value)``."""
    rename, convert = dict(rename or {}), dict(convert or {})
    fields = dataclasses.fields(params_class)

    def decode(pb, source, prefix: str):
        values = {}
        for f in fields:
            name = rename.get(f.name, f.name)
            value = getattr(pb, name)
            if isinstance(value, types_pb2.NDArrayDescriptor):
                if f.name in SHAPE_ONLY:
                    value = descriptor(value, name)
                elif f.default is None or str(f.type).startswith("Optional"):
                    value = optional_descriptor(pb, name, name, source, f"{prefix}.{name}")
                else:
                    value = descriptor(value, name, source, f"{prefix}.{name}")
            elif isinstance(value, types_pb2.Activation):
                value = activation(value)
            elif f.default is None and hasattr(value, "ListFields") and not pb.HasField(name):
                value = None            # an unset optional message (Yolo's parameters)
            if f.name in convert:
                value = convert[f.name](value)
            values[f.name] = value
        return params_class(**values)
    decode.__doc__ = f"{params_class.__name__} from its wire message (codec.decode_as)."
    return decode


convolution_params = decode_as(ConvolutionParams, convert={"pad": pad4})
fully_connected_params = decode_as(FullyConnectedParams)
activation_params = decode_as(ActivationParams, convert={"axis_flags": int})
pooling_params = decode_as(PoolingParams, convert={"pad": pad4})
normalization_params = decode_as(NormalizationParams, rename={
    "beta": "beta_desc", "gamma": "gamma_desc", "moving_mean": "moving_mean_desc",
    "moving_variance": "moving_variance_desc"}, convert={"type": int, "num_groups": lambda n: int(n) or 1})
quantization_params = decode_as(fused.QuantizationParams)


_yolo_params = decode_as(YoloParams, convert={"anchors_data": tuple})
loss_params = decode_as(LossParams, convert={"yolo": lambda pb: None if pb is None else _yolo_params(pb, None, "yolo")})


def arithmetic_params(pb: types_pb2.ArithmeticParameters, source, prefix: str) -> ArithmeticParams:
    operands = tuple(ArithmeticOperand(desc=descriptor(op.desc, f"inputs[{k}].desc", source, f"{prefix}.inputs[{k}].desc"), type=int(op.type))
                     for k, op in enumerate(pb.inputs))
    return ArithmeticParams(function=int(pb.arithmetic_function), inputs=operands,
                            o_desc=descriptor(pb.o_desc, "o_desc"), out_type=int(pb.out_type),
                            activation=activation(pb.activation))


_OPTIONAL_OPTIMIZER_FIELDS = ("beta1", "beta2", "time_step", "epsilon", "alpha", "gradient_scale")


def optimizer_fields(pb) -> OptimizerFields:
    """OptimizerFields from the wire: unset `optional` fields take the kernel's defaults."""
    values = dict(
        learning_rate=pb.learning_rate, momentum=pb.momentum, centered=pb.centered, nesterov=pb.nesterov,
        sgd_momentum_variant=int(pb.sgd_momentum_variant), regularization_scale=pb.regularization_scale,
        regularization_func=int(pb.regularization_func), clip_gradients=pb.clip_gradients,
        clip_gradients_min=pb.clip_gradients_min, clip_gradients_max=pb.clip_gradients_max,
        clipping_func=int(pb.clipping_func), clip_gradients_max_norm=pb.clip_gradients_max_norm,
        clip_gradients_use_norm=pb.clip_gradients_use_norm)
    for name in _OPTIONAL_OPTIMIZER_FIELDS:
        if pb.HasField(name):
            values[name] = getattr(pb, name)
    return OptimizerFields(**values)


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

def _mha_projection(pb, source, prefix: str):
    from bnns.kernels.attention import MHAProjectionParameters
    return MHAProjectionParameters(target_desc=descriptor(pb.target_desc, f"{prefix}.target_desc"),
                                   weights=descriptor(pb.weights, f"{prefix}.weights", source, f"{prefix}.weights"),
                                   bias=optional_descriptor(pb, "bias", f"{prefix}.bias", source, f"{prefix}.bias"))


def multihead_attention_params(pb: types_pb2.MultiheadAttentionParameters, source, prefix: str):
    """BNNSLayerParametersMultiheadAttention: four BNNSMHAProjectionParameters (target_desc shape
    only; weights and bias with their data) and the attention biases."""
    from bnns.kernels.attention import MultiheadAttentionParams
    projections = {}
    for name in ("query", "key", "value", "output"):
        require(pb.HasField(name), f"{name} (BNNSMHAProjectionParameters) is not set")
        projections[name] = _mha_projection(getattr(pb, name), source, f"{prefix}.{name}")
    return MultiheadAttentionParams(
        **projections, add_zero_attn=pb.add_zero_attn, dropout=pb.dropout, seed=pb.seed,
        key_attn_bias=optional_descriptor(pb, "key_attn_bias", "key_attn_bias", source, f"{prefix}.key_attn_bias"),
        value_attn_bias=optional_descriptor(pb, "value_attn_bias", "value_attn_bias", source,
                                            f"{prefix}.value_attn_bias"))


def embedding_params(pb: types_pb2.EmbeddingParameters, source, prefix: str):
    """BNNSLayerParametersEmbedding: padding_idx unset = none, norm_type 0 = 2 (Euclidean)."""
    from bnns.kernels.embedding import EmbeddingParams
    return EmbeddingParams(i_desc=descriptor(pb.i_desc, "i_desc"), o_desc=descriptor(pb.o_desc, "o_desc"),
                           dictionary=descriptor(pb.dictionary, "dictionary", source, f"{prefix}.dictionary"),
                           flags=pb.flags, padding_idx=pb.padding_idx if pb.HasField("padding_idx") else None,
                           max_norm=pb.max_norm, norm_type=pb.norm_type or 2.0)


def lstm_params(pb: types_pb2.LSTMParameters, source, prefix: str):
    """BNNSLayerParametersLSTM: the gates' weights with their data; the data descriptors with
    theirs when given (x, h0, c0; the output descriptor's shapes only)."""
    from bnns.kernels import lstm as ls

    def data(parent, field: str, path: str, required: bool = False):
        if required:
            require(parent.HasField(field), f"{path} is not set")
            return descriptor(getattr(parent, field), path, source, path)
        return optional_descriptor(parent, field, path, source, path)

    def sequence(name: str):
        require(pb.HasField(name), f"{name} (BNNSLSTMDataDescriptor) is not set")
        holder, path = getattr(pb, name), f"{prefix}.{name}"
        return ls.LSTMDataDescriptor(data(holder, "data_desc", f"{path}.data_desc", required=True),
                                     data(holder, "hidden_desc", f"{path}.hidden_desc"),
                                     data(holder, "cell_state_desc", f"{path}.cell_state_desc"))

    def gate(name: str):
        require(pb.HasField(name), f"{name} (BNNSLSTMGateDescriptor) is not set")
        g, path = getattr(pb, name), f"{prefix}.{name}"
        require(1 <= len(g.iw_desc) <= 2, f"{name}.iw_desc has {len(g.iw_desc)} descriptors; BNNS has 2 (the second "
                "may be left out)")
        iw = tuple(descriptor(d, f"{name}.iw_desc[{k}]", source, f"{path}.iw_desc[{k}]")
                   for k, d in enumerate(g.iw_desc))
        return ls.LSTMGateDescriptor(iw + (None,) * (2 - len(iw)), data(g, "hw_desc", f"{path}.hw_desc", required=True),
                                     data(g, "cw_desc", f"{path}.cw_desc"), data(g, "b_desc", f"{path}.b_desc"),
                                     activation(g.activation) if g.HasField("activation") else None)
    return ls.LSTMParams(
        input_size=pb.input_size, hidden_size=pb.hidden_size, batch_size=pb.batch_size, num_layers=pb.num_layers,
        seq_len=pb.seq_len, input_descriptor=sequence("input_descriptor"), output_descriptor=sequence("output_descriptor"),
        **{name: gate(name) for name in ls.GATES}, dropout=pb.dropout, lstm_flags=pb.lstm_flags,
        hidden_activation=activation(pb.hidden_activation) if pb.HasField("hidden_activation") else None,
        sequence_descriptor=data(pb, "sequence_descriptor", f"{prefix}.sequence_descriptor"))
