"""Multi-head attention: BNNSFilterCreateLayerMultiheadAttention, BNNSApplyMultiheadAttention,
BNNSApplyMultiheadAttentionBackward and BNNS.MultiheadAttentionLayer.

The backprop cache is caller memory, as in BNNS: a training forward (a non-None
``backprop_cache``) writes it, the backward reads it. It may be a NumPy array (of at least
``backprop_cache_size`` bytes, any dtype; the server's Float32 elements are written into its
bytes) or a Float32 BNNSTensor, which keeps the cache on the server (nothing travels). A size
query (``backprop_cache_size`` / ``workspace_size`` holders with the buffers None) writes the sizes
and computes nothing. The server needs no workspace: its size is 0 and ``workspace`` is ignored.

Size holders (C's ``size_t *``) are one-element writable arrays or lists.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from bnns.kernels import layout
from bnns.kernels.errors import InvalidArgumentError, given, require
from bnns.v1 import service_pb2 as pb

from . import api
from .layers import Layer, buffer_of
from .c_structs import (BNNSFilterParameters, BNNSLayerParametersMultiheadAttention,
                        BNNSMHAProjectionParameters, BNNSNDArrayDescriptor)
from .tensor import BNNSTensor


_PROJECTIONS = ("query", "key", "value", "output")


class AttentionFilter(api.BNNSFilter):
    """A multi-head attention handle: the geometry of each projection's target (query, key, value,
    output) and of each parameter ("query.weights", ...; None for one not given)."""

    targets: dict[str, layout.Descriptor]
    parameter_geometry: dict[str, Optional[layout.Descriptor]]


def _attention(f: api.BNNSFilter) -> AttentionFilter:
    if not isinstance(f, AttentionFilter):
        raise InvalidArgumentError(f"filter {f.filter_id} ({f.kind}) is not a multi-head attention filter")
    return f


@api._c_style(None)
def BNNSFilterCreateLayerMultiheadAttention(layer_params: BNNSLayerParametersMultiheadAttention,
                                            filter_params: Optional[BNNSFilterParameters] = None):
    """A multi-head attention filter, or None (see last_error())."""
    geometry = {}
    for name, desc in layer_params.trainables().items():
        geometry[name] = desc.geometry() if desc is not None and desc.data is not None else None
    targets = {name: getattr(layer_params, name).target_desc.geometry() for name in _PROJECTIONS}
    return api.create_filter("multihead_attention", layer_params, filter_params, input_geometry=targets["query"],
                             output_geometry=targets["output"], targets=targets, parameter_geometry=geometry,
                             filter_class=AttentionFilter)


def _write_size(holder, value: int, name: str) -> None:
    require(holder is not None and len(holder) >= 1, f"{name} must be a one-element array or list (C's size_t *)")
    holder[0] = value


def _cache_view(cache, name: str) -> np.ndarray:
    require(isinstance(cache, np.ndarray) and cache.flags.c_contiguous and cache.flags.writeable
            and cache.nbytes % 4 == 0, f"{name} must be a writable C-contiguous array of a multiple of 4 bytes, "
            f"or a Float32 BNNSTensor")
    return cache.reshape(-1).view(np.float32)


@api._c_style(-1)
def BNNSApplyMultiheadAttention(filter: api.BNNSFilter, batch_size: int, query, query_stride: int, key,
                                key_stride: int, key_mask, key_mask_stride: int, value, value_stride: int,
                                output, output_stride: int, add_to_attention=None, backprop_cache_size=None,
                                backprop_cache=None, workspace_size=None, workspace=None) -> int:
    """Multi-head attention of a batch; 0 on success, -1 on failure.

    ``key_mask``: None or (batch, S) values, nonzero = ignore that key. ``add_to_attention``: None
    or an (L, S) array added to the scores. ``backprop_cache``: None (inference: no dropout, no
    cache) or where the training forward's cache goes (see the module's notes)."""
    f, n = _attention(filter), int(batch_size)
    size_query = (backprop_cache_size is not None and backprop_cache is None) or \
                 (workspace_size is not None and workspace is None)
    io = api.Exchange()
    request = pb.ApplyMultiheadAttentionRequest(filter_id=f.filter_id, batch_size=n, size_query=size_query,
                                                backprop_cache=backprop_cache is not None)
    if not size_query:
        for name, array, stride in (("query", query, query_stride), ("key", key, key_stride),
                                    ("value", value, value_stride)):
            getattr(request, name).CopyFrom(io.send(name, array, f.targets[name], n, stride))
        if key_mask is not None:
            mask_geometry = layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (_source_length(f),))
            request.key_mask.CopyFrom(io.send("key_mask", key_mask, mask_geometry, n, key_mask_stride))
        if add_to_attention is not None:
            request.add_to_attention.CopyFrom(io.send_flat("add_to_attention", add_to_attention,
                                                           layout.DTYPE_FLOAT32))
        io.receive("output", output, f.targets["output"], n, output_stride)
        if isinstance(backprop_cache, BNNSTensor):
            io.outputs["backprop_cache"] = backprop_cache.reference()
        elif backprop_cache is not None:
            view = _cache_view(backprop_cache, "backprop_cache")
            io.receive_flat("backprop_cache", view)
    response = f.call("ApplyMultiheadAttention", request, io)
    if backprop_cache_size is not None:
        _write_size(backprop_cache_size, response.backprop_cache_size, "backprop_cache_size")
    if workspace_size is not None:
        _write_size(workspace_size, response.workspace_size, "workspace_size")
    return 0


def _source_length(f) -> int:
    """S: the key descriptor's sequence length (BNNS dimension 0 of key.target_desc)."""
    return int(f.targets["key"].size[0])


@api._c_style(-1)
def BNNSApplyMultiheadAttentionBackward(filter: api.BNNSFilter, batch_size: int, query, query_stride: int,
                                        query_param_delta, key, key_stride: int, key_mask, key_mask_stride: int,
                                        key_param_delta, value, value_stride: int, value_param_delta,
                                        add_to_attention, key_attn_bias_delta, value_attn_bias_delta, output,
                                        output_stride: int, output_param_delta, backprop_cache_size: int,
                                        backprop_cache, workspace_size=None, workspace=None) -> int:
    """Gradients from a training forward's ``backprop_cache``; 0 on success, -1 on failure.

    ``output_param_delta.target_desc.data`` holds dL/d(output) (read, at ``output_stride``); every
    other delta descriptor with data receives its gradient: ``<proj>_param_delta.target_desc`` the
    input's (at that input's stride; the same array given for several inputs receives their sum,
    as BNNS sums deltas sharing a pointer), ``.weights`` / ``.bias`` and the attention-bias deltas
    the parameters' (summed over the batch). query, key, value, masks and output are in the cache
    and are not sent again."""
    f, n = _attention(filter), int(batch_size)
    require(output_param_delta is not None and output_param_delta.target_desc is not None
            and output_param_delta.target_desc.data is not None,
            "output_param_delta.target_desc.data (dL/d(output)) is required")
    require(backprop_cache is not None, "backprop_cache (from a training BNNSApplyMultiheadAttention) is required")
    io = api.Exchange()
    request = pb.ApplyMultiheadAttentionBackwardRequest(filter_id=f.filter_id, batch_size=n)
    request.output_delta.CopyFrom(io.send("output_delta", output_param_delta.target_desc.data, f.targets["output"],
                                          n, output_stride))
    if isinstance(backprop_cache, BNNSTensor):
        request.backprop_cache.CopyFrom(backprop_cache.reference())
    else:
        count = int(backprop_cache_size) // 4 if backprop_cache_size else None
        request.backprop_cache.CopyFrom(io.send_flat("backprop_cache", _cache_view(backprop_cache, "backprop_cache"),
                                                     layout.DTYPE_FLOAT32, count))
    seen: list = []
    deltas = {"query": (query_param_delta, query_stride), "key": (key_param_delta, key_stride),
              "value": (value_param_delta, value_stride)}
    for name, (delta, stride) in deltas.items():            # in the order the server writes them
        target = None if delta is None else delta.target_desc
        if target is None or target.data is None:
            continue
        shared = any(target.data is other or (isinstance(target.data, np.ndarray) and isinstance(other, np.ndarray)
                                              and np.shares_memory(target.data, other)) for other in seen)
        io.receive(f"{name}_delta", target.data, f.targets[name], n, stride,
                   accumulate=shared or target.flags == 1, wire=api.FLOAT32)
        seen.append(target.data)
        setattr(request, f"compute_{name}_delta", True)
    parameters = {}
    for name, delta in (("query", query_param_delta), ("key", key_param_delta), ("value", value_param_delta),
                        ("output", output_param_delta)):
        if delta is not None:
            parameters[f"{name}_weights"] = (f"{name}.weights", delta.weights)
            parameters[f"{name}_bias"] = (f"{name}.bias", delta.bias)
    parameters["key_attn_bias"] = ("key_attn_bias", key_attn_bias_delta)
    parameters["value_attn_bias"] = ("value_attn_bias", value_attn_bias_delta)
    for field, (name, desc) in parameters.items():
        if desc is None or desc.data is None:
            continue
        geometry = f.parameter_geometry.get(name)
        require(geometry is not None, f"{field} delta was given but the filter has no {name}")
        io.receive_gradient(f"{field}_delta", desc, geometry, 1, 0)
        request.compute_parameter_deltas = True
    require(any((request.compute_query_delta, request.compute_key_delta, request.compute_value_delta,
                 request.compute_parameter_deltas)), "no delta descriptor with data was given: nothing to compute")
    f.call("ApplyMultiheadAttentionBackward", request, io)
    if workspace_size is not None:           # the server needs no workspace
        _write_size(workspace_size, 0, "workspace_size")
    return 0


class MultiheadAttentionLayer(Layer):
    """BNNS.MultiheadAttentionLayer(query:key:value:addZeroAttention:keyAttentionBias:valueAttentionBias:
    output:dropout:seed:filterParameters:): the projections as BNNSMHAProjectionParameters."""

    filter: AttentionFilter   # what its creator returns

    def __init__(self, query, key, value, output, add_zero_attention: bool = False,
                 key_attention_bias: Optional[BNNSNDArrayDescriptor] = None,
                 value_attention_bias: Optional[BNNSNDArrayDescriptor] = None, dropout: float = 0.0, seed: int = 0,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        params = BNNSLayerParametersMultiheadAttention(
            query=query, key=key, value=value, output=output, add_zero_attn=add_zero_attention,
            key_attn_bias=key_attention_bias, value_attn_bias=value_attention_bias, dropout=dropout, seed=seed)
        super().__init__(BNNSFilterCreateLayerMultiheadAttention(params, filter_parameters))

    def backprop_cache_size(self, batch_size: int) -> int:
        """Bytes of the backprop cache of a training apply of ``batch_size`` (BNNS's size query)."""
        size = [0]
        _raise_on_failure(BNNSApplyMultiheadAttention(self.filter, batch_size, None, 0, None, 0, None, 0, None, 0,
                                                      None, 0, None, size))
        return int(size[0])

    def apply(self, batch_size: int, query, key, value, output, key_mask=None, add_to_attention=None,
              backprop_cache=None) -> None:
        """A forward; a training forward (dropout on, cache written) when ``backprop_cache`` is given."""
        _raise_on_failure(BNNSApplyMultiheadAttention(
            self.filter, batch_size, buffer_of(query, "query", True), 0, buffer_of(key, "key", True), 0,
            buffer_of(key_mask, "key_mask"), 0, buffer_of(value, "value", True), 0, buffer_of(output, "output", True), 0,
            buffer_of(add_to_attention, "add_to_attention"), None, backprop_cache))

    def apply_backward(self, batch_size: int, output_gradient, backprop_cache, generating_query_gradient=None,
                       generating_key_gradient=None, generating_value_gradient=None,
                       generating_parameter_gradients: Optional[dict] = None) -> None:
        """Gradients from ``backprop_cache``: input gradients into the generating_*_gradient arrays
        (one array for several inputs receives their sum) and parameter gradients into
        ``generating_parameter_gradients`` (filter parameter name, e.g. "query.weights" -> array)."""
        grads = dict(generating_parameter_gradients or {})
        unknown = set(grads) - set(self.filter.parameter_geometry)
        require(not unknown, f"generating_parameter_gradients has unknown names {sorted(unknown)}; the filter's "
                f"are {sorted(self.filter.parameter_geometry)}")

        def desc(name: str, array):
            if array is None:
                return None
            geometry = given(self.filter.parameter_geometry[name], f"the filter was created without {name}")
            return BNNSNDArrayDescriptor(layout=geometry.layout, size=geometry.size, data=array)

        def delta(name: str, gradient, output_gradient=None):
            target_data = output_gradient if name == "output" else gradient
            target = BNNSNDArrayDescriptor(layout=self.filter.targets[name].layout, size=self.filter.targets[name].size,
                                           data=target_data) if target_data is not None else None
            return BNNSMHAProjectionParameters(target_desc=target,  # type: ignore[arg-type]  # None: no gradient wanted
                                               weights=desc(f"{name}.weights", grads.get(f"{name}.weights")),
                                               bias=desc(f"{name}.bias", grads.get(f"{name}.bias")))

        _raise_on_failure(BNNSApplyMultiheadAttentionBackward(
            self.filter, batch_size, None, 0, delta("query", generating_query_gradient), None, 0, None, 0,
            delta("key", generating_key_gradient), None, 0, delta("value", generating_value_gradient), None,
            desc("key_attn_bias", grads.get("key_attn_bias")), desc("value_attn_bias", grads.get("value_attn_bias")),
            None, 0, delta("output", None, buffer_of(output_gradient, "output_gradient", True)),
            0, backprop_cache))


def _raise_on_failure(status: int) -> None:
    if status != 0:
        raise api.failure()
