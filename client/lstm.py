"""LSTM training: BNNSComputeLSTMTrainingCacheCapacity, BNNSDirectApplyLSTMBatchTrainingCaching and
BNNSDirectApplyLSTMBatchBackward (filter-less, as in BNNS), with BNNSLayerParametersLSTM and its
gate and data descriptors.

Arrays follow the header's hierarchies (bnns.kernels.lstm): x [seq_len][batch][input_size];
output [seq_len][batch][num_directions][hidden]; states [num_layers][num_directions][batch][hidden];
gate weights iw [layers][dirs][hidden][input], hw / cw [layers][dirs][hidden][hidden], b
[layers][dirs][hidden]. The forward reads x, h0, c0 from ``input_descriptor``'s data and writes
output, h_n, c_n into ``output_descriptor``'s. The backward reads dL/d(output), dL/dh_n, dL/dc_n
from the delta struct's ``output_descriptor`` and writes dL/dx, dL/dh0, dL/dc0 into its
``input_descriptor`` and the weight gradients into its gates' descriptors (those with data; a
descriptor flagged BNNSNDArrayFlagBackpropAccumulate is added into).

The training cache is caller memory: a NumPy array of at least the capacity in bytes (any dtype),
or a Float32 BNNSTensor, which keeps it on the server. None is an inference apply.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from bnns.kernels import layout
from bnns.kernels.errors import require
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import api
from . import backend as backend_mod
from . import constants as C
from .c_structs import BNNSFilterParameters, BNNSLSTMDataDescriptor, BNNSLSTMGateDescriptor, BNNSLayerParametersLSTM  # noqa: F401
from .tensor import BNNSTensor

BNNSLayerFlagsLSTMBidirectional, BNNSLayerFlagsLSTMDefaultActivations = 1, 2

GATES = ("input_gate", "forget_gate", "candidate_gate", "output_gate")


def _without_data(data: BNNSLSTMDataDescriptor) -> BNNSLSTMDataDescriptor:
    """The output descriptors' shapes only: their data is where results go, not an input."""
    strip = lambda d: None if d is None else dataclasses.replace(d, data=None)   # noqa: E731
    return BNNSLSTMDataDescriptor(data_desc=strip(data.data_desc), hidden_desc=strip(data.hidden_desc),  # type: ignore[arg-type]
                                  cell_state_desc=strip(data.cell_state_desc))


def _wire(layer_params: BNNSLayerParametersLSTM) -> types_pb2.LSTMParameters:
    return dataclasses.replace(layer_params, output_descriptor=_without_data(layer_params.output_descriptor)).to_proto()


def _filter_params(filter_params: Optional[BNNSFilterParameters]) -> types_pb2.FilterParameters:
    return filter_params.to_proto() if filter_params is not None else types_pb2.FilterParameters()


def _data(desc) -> Any:
    return None if desc is None else desc.data


def _receive(io: api.Exchange, path: str, desc) -> bool:
    """Write the result at ``path`` into ``desc.data`` (flat, in the hierarchy's order); False when
    the descriptor or its data is absent."""
    data = _data(desc)
    if data is None:
        return False
    accumulate = desc.flags == C.BNNSNDArrayFlagBackpropAccumulate
    if isinstance(data, BNNSTensor):
        io.outputs[path] = data.reference(0, accumulate)
        return True
    require(isinstance(data, np.ndarray) and data.flags.c_contiguous and data.flags.writeable,
            f"{path}: the descriptor's data must be a writable C-contiguous array (BNNS writes it in place)")
    flat = data.reshape(-1)
    io.targets[path] = api._Target(flat, layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (flat.size,)), 1, 0, path,
                                   accumulate, np.dtype("<f4"))
    return True


def _cache_target(io: api.Exchange, cache) -> None:
    if isinstance(cache, BNNSTensor):
        io.outputs["training_cache"] = cache.reference()
        return
    require(isinstance(cache, np.ndarray) and cache.flags.c_contiguous and cache.flags.writeable
            and cache.nbytes % 4 == 0, "training_cache_ptr must be a writable C-contiguous array of a multiple of 4 "
            "bytes, or a Float32 BNNSTensor")
    io.receive_flat("training_cache", cache.reshape(-1).view(np.float32))


@api._c_style(0)
def BNNSComputeLSTMTrainingCacheCapacity(layer_params: BNNSLayerParametersLSTM,
                                         filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """The training cache's size in bytes, or 0 on failure (see last_error())."""
    request = pb.ComputeLSTMTrainingCacheCapacityRequest(layer_params=_wire(layer_params),
                                                         filter_params=_filter_params(filter_params))
    return int(backend_mod.current().call("ComputeLSTMTrainingCacheCapacity", request).capacity)


@api._c_style(-1)
def BNNSDirectApplyLSTMBatchTrainingCaching(layer_params: BNNSLayerParametersLSTM,
                                            filter_params: Optional[BNNSFilterParameters] = None,
                                            training_cache_ptr=None, training_cache_capacity: int = 0, *,
                                            seed: int = 0) -> int:
    """The forward (a training forward that fills ``training_cache_ptr`` when given, else an
    inference apply); 0 on success, -1 on failure. ``seed`` (not BNNS) seeds the dropout masks."""
    io = api.Exchange()
    request = pb.DirectApplyLSTMBatchTrainingCachingRequest(
        layer_params=_wire(layer_params), filter_params=_filter_params(filter_params), seed=int(seed),
        training_cache_capacity=int(training_cache_capacity) if training_cache_ptr is not None else 0)
    if training_cache_ptr is not None:
        require(int(training_cache_capacity) > 0, "training_cache_capacity must be given with training_cache_ptr")
        _cache_target(io, training_cache_ptr)
    out = layer_params.output_descriptor
    require(_receive(io, "output", out.data_desc), "output_descriptor.data_desc.data is required (the output)")
    _receive(io, "hidden", out.hidden_desc)
    _receive(io, "cell_state", out.cell_state_desc)
    backend_mod.current().call("DirectApplyLSTMBatchTrainingCaching", request, exchange=io)
    return 0


@api._c_style(-1)
def BNNSDirectApplyLSTMBatchBackward(layer_params: BNNSLayerParametersLSTM, layer_delta_params: BNNSLayerParametersLSTM,
                                     filter_params: Optional[BNNSFilterParameters] = None, training_cache_ptr=None,
                                     training_cache_capacity: int = 0) -> int:
    """The gradients from a training forward's cache into ``layer_delta_params``' descriptors (see the
    module's notes); 0 on success, -1 on failure."""
    require(training_cache_ptr is not None, "training_cache_ptr (from a training forward) is required")
    io = api.Exchange()
    request = pb.DirectApplyLSTMBatchBackwardRequest(
        layer_params=_wire(layer_params), filter_params=_filter_params(filter_params),
        training_cache_capacity=int(training_cache_capacity))
    delta = layer_delta_params
    given = delta.output_descriptor
    require(_data(given.data_desc) is not None, "layer_delta_params.output_descriptor.data_desc.data "
            "(dL/d(output)) is required")
    for field, desc in (("output_delta", given.data_desc), ("hidden_delta", given.hidden_desc),
                        ("cell_state_delta", given.cell_state_desc)):
        if _data(desc) is not None:
            getattr(request, field).CopyFrom(io.send_flat(field, desc.data, C.BNNSDataTypeFloat32))  # type: ignore[union-attr]
    if isinstance(training_cache_ptr, BNNSTensor):
        request.training_cache.CopyFrom(training_cache_ptr.reference())
    else:
        require(isinstance(training_cache_ptr, np.ndarray) and training_cache_ptr.flags.c_contiguous
                and training_cache_ptr.nbytes % 4 == 0, "training_cache_ptr must be a C-contiguous array of a "
                "multiple of 4 bytes, or a Float32 BNNSTensor")
        request.training_cache.CopyFrom(io.send_flat("training_cache", training_cache_ptr.reshape(-1).view(np.float32),
                                                     C.BNNSDataTypeFloat32))
    wanted = delta.input_descriptor
    request.compute_input_delta = _receive(io, "input_delta", wanted.data_desc)
    states = [_receive(io, "hidden_delta", wanted.hidden_desc), _receive(io, "cell_state_delta", wanted.cell_state_desc)]
    request.compute_state_deltas = any(states)
    for gate in GATES:
        g = getattr(delta, gate)
        if g is None:
            continue
        iw = tuple(g.iw_desc or ()) + (None, None)
        for part, desc in (("iw", iw[0]), ("iw_upper", iw[1]), ("hw", g.hw_desc), ("cw", g.cw_desc), ("b", g.b_desc)):
            if _receive(io, f"{gate}.{part}", desc):
                request.compute_weights_deltas = True
    backend_mod.current().call("DirectApplyLSTMBatchBackward", request, exchange=io)
    return 0
