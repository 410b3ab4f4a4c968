"""The transport-free core: one method per RPC of bnns.v1.BNNSService, request message in,
response message out. gRPC, REST and the SDK's in-process backend all call these same methods.

A method decodes its buffers with the filter's descriptors (codec), runs the kernel under the
handle's lock, and packs the results. Everything is validated before anything is written, and
the kernels never mutate a filter on a failed call, so a failure changes no state.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from typing import Optional

import numpy as np

from bnns.kernels import (activation, arithmetic, convolution, fused, layout, loss, normalization, optimizer,
                          pooling)
from bnns.kernels.errors import (BNNSError, CancelledError, InvalidArgumentError, ResourceExhaustedError,
                                 UnimplementedError, require)
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import codec
from .observability import Metrics
from .registry import Entry, Registry

log = logging.getLogger("bnns.server.calls")


# CreateFilterRequest.layer case -> (codec decoder of its parameters, kernels filter class).
LAYER_BUILDERS: dict[str, tuple] = {
    "convolution": (codec.convolution_params, convolution.ConvolutionFilter),
    "transposed_convolution": (codec.convolution_params, convolution.TransposedConvolutionFilter),
    "fully_connected": (codec.fully_connected_params, convolution.FullyConnectedFilter),
    "activation": (codec.activation_params, activation.ActivationFilter),
    "pooling": (codec.pooling_params, pooling.PoolingFilter),
    "loss": (codec.loss_params, loss.LossFilter),
    "normalization": (codec.normalization_params, normalization.NormalizationFilter),
    "arithmetic": (codec.arithmetic_params, arithmetic.ArithmeticFilter),
    "fused": (codec.fused_params, fused.FusedFilter),
}


def build_filter(kind: str, parameters, limits: codec.Limits):
    """The kernels filter for a CreateFilterRequest.layer case (validated by its constructor)."""
    decode, filter_class = LAYER_BUILDERS[kind]
    if kind == "activation":   # the seed is not part of BNNS's struct, so it is the filter's own argument
        return filter_class(decode(parameters, limits), seed=int(parameters.seed))
    return filter_class(decode(parameters, limits))


# The kinds BNNSFilterApplyBatch / BNNSFilterApplyBackwardBatch serve (the others have their own
# entry points, as in BNNS).
GENERIC_KINDS = {"convolution", "transposed_convolution", "fully_connected", "activation"}


class Core:
    """Filter lifecycle and every apply/backward entry point over one handle registry."""

    def __init__(self, registry: Optional[Registry] = None, limits: Optional[codec.Limits] = None):
        self.registry = registry if registry is not None else Registry()   # an empty Registry is falsy
        self.limits = limits if limits is not None else codec.Limits()
        self.metrics = Metrics(self.registry)
        self._local = threading.local()      # the current call's cancellation event, per thread

    def _check_cancelled(self) -> None:
        event = getattr(self._local, "cancelled", None)
        if event is not None and event.is_set():
            raise CancelledError("the call was cancelled or its deadline passed before it ran; nothing was changed")

    @contextlib.contextmanager
    def _holding(self, entry: Entry):
        """The handle's lock, then a last cancellation check: a call that waited for another call
        on the same handle and was cancelled meanwhile leaves without touching it."""
        with entry.lock:
            self._check_cancelled()
            yield

    def call(self, rpc: str, request, tenant: str = "", request_id: Optional[str] = None,
             cancelled: Optional[threading.Event] = None):
        """Serve one RPC by name: the single entry both front doors use. Times, counts and logs
        the call; BNNSErrors propagate for the transport to map, anything else is logged and
        re-raised for the transport to report as INTERNAL.

        ``cancelled`` is set by the transport when the caller cancels or its deadline passes:
        the call then stops before it touches its filter (checked before decoding and again once
        it holds the handle's lock), so a cancelled call changes nothing."""
        method = getattr(self, rpc_method_name(rpc), None)
        if method is None:
            raise UnimplementedError(f"{rpc} is not served by this build")
        request_id = request_id or secrets.token_hex(6)
        kind = self._kind_of(request)
        start = time.perf_counter()
        status, response = "OK", None
        self._local.cancelled = cancelled
        try:
            if self.limits.max_request_bytes and request.ByteSize() > self.limits.max_request_bytes:
                raise ResourceExhaustedError(
                    f"{rpc} request is {request.ByteSize()} bytes, over max_request_bytes "
                    f"{self.limits.max_request_bytes}: send a smaller batch")
            self._check_cancelled()
            response = method(request, tenant)
            return response
        except BNNSError as error:
            status = error.status
            raise
        except Exception:
            status = "INTERNAL"
            log.exception("internal error", extra={"request_id": request_id, "rpc": rpc})
            raise
        finally:
            self._local.cancelled = None
            seconds = time.perf_counter() - start
            self.metrics.observe(rpc, kind, status, seconds, request.ByteSize(),
                                 response.ByteSize() if response is not None else 0)
            log.info("%s %s", rpc, status, extra={
                "request_id": request_id, "rpc": rpc, "status": status, "kind": kind, "tenant": tenant,
                "filter_id": getattr(request, "filter_id", "") or getattr(response, "filter_id", ""),
                "ms": round(seconds * 1e3, 3)})

    def _kind_of(self, request) -> str:
        """The filter kind a request touches (for the latency label); '' when there is none."""
        if isinstance(request, pb.CreateFilterRequest):
            return request.WhichOneof("layer") or ""
        filter_id = getattr(request, "filter_id", "")
        if filter_id:
            try:
                return self.registry.get(filter_id, owner=None).kind
            except BNNSError:
                return ""
        return ""

    # ------------------------------------------------------------------------------ lifecycle
    def create_filter(self, request: pb.CreateFilterRequest, tenant: str = "") -> pb.CreateFilterResponse:
        kind = request.WhichOneof("layer")
        require(kind is not None, "CreateFilterRequest.layer is not set: name the layer to create "
                f"({', '.join(sorted(LAYER_BUILDERS))})")
        if kind not in LAYER_BUILDERS:
            raise InvalidArgumentError(f"layer kind {kind!r} is not served by this server")
        fp = request.filter_parameters
        require(fp.flags & ~1 == 0, f"filter_parameters.flags {fp.flags:#x} sets bits other than "
                "BNNSFlagsUseClientPtr (1)")
        filter_obj = build_filter(kind, getattr(request, kind), self.limits)
        info_parameters = pb.CreateFilterRequest()
        info_parameters.CopyFrom(request)
        codec.strip_tensor_data(info_parameters)
        entry = self.registry.add(kind, filter_obj, info_parameters, owner=tenant)
        return pb.CreateFilterResponse(filter_id=entry.filter_id, info=self._info(entry))

    def describe_filter(self, request: pb.DescribeFilterRequest, tenant: str = "") -> pb.DescribeFilterResponse:
        return pb.DescribeFilterResponse(info=self._info(self.registry.get(request.filter_id, tenant)))

    def list_filters(self, request: pb.ListFiltersRequest, tenant: str = "") -> pb.ListFiltersResponse:
        return pb.ListFiltersResponse(filters=[self._info(e) for e in self.registry.entries(tenant)])

    def destroy_filter(self, request: pb.DestroyFilterRequest, tenant: str = "") -> pb.DestroyFilterResponse:
        self.registry.remove(request.filter_id, tenant)
        return pb.DestroyFilterResponse()

    @staticmethod
    def _info(entry: Entry) -> pb.FilterInfo:
        return pb.FilterInfo(filter_id=entry.filter_id, kind=entry.kind, parameters=entry.info_parameters,
                             bytes_held=entry.bytes_held,
                             trainable={name: int(a.size) for name, a in entry.trainable.items()})

    # ------------------------------------------------------------------ generic apply/backward
    def filter_apply_batch(self, request: pb.FilterApplyBatchRequest, tenant: str = "") -> pb.FilterApplyBatchResponse:
        entry = self._entry(request.filter_id, tenant, GENERIC_KINDS | {"pooling"}, "FilterApplyBatch")
        f = entry.filter
        x = codec.read_batch(getattr(request, "in"), f.input_desc, request.batch_size, "in", self.limits)
        with self._holding(entry):
            if entry.kind == "pooling":   # BNNSFilterApplyBatch on pooling: no indices
                require(f.function != pooling.UN_MAX, "UnMax pooling needs indices: use PoolingFilterApplyBatch")
                y, _ = f.apply(x)
            else:
                y = f.apply(x)
        return pb.FilterApplyBatchResponse(out=codec.pack_batch(y, f.output_desc))

    def filter_apply_backward_batch(self, request: pb.FilterApplyBackwardBatchRequest,
                                    tenant: str = "") -> pb.FilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, tenant, GENERIC_KINDS, "FilterApplyBackwardBatch")
        f = entry.filter
        n = request.batch_size
        require(request.compute_in_delta or request.compute_weights_delta or request.compute_bias_delta,
                "FilterApplyBackwardBatch asks for no gradient: set compute_in_delta, compute_weights_delta "
                "or compute_bias_delta")
        x = self._optional_batch(request, "in", f.input_desc, n)
        y = self._optional_batch(request, "out", f.output_desc, n)
        dy = codec.read_batch(request.out_delta, f.output_desc, n, "out_delta", self.limits)
        with self._holding(entry):
            if entry.kind == "activation":
                # A standalone activation's weights_delta is its trainable alpha (LeakyReLU, PReLU).
                require(not request.compute_bias_delta, "an activation filter has no bias: bias_delta was asked")
                d_in, d_w = f.apply_backward(x, y, dy, input_grad=request.compute_in_delta,
                                             weights_grad=request.compute_weights_delta)
                d_b = None
            else:
                d_in, d_w, d_b = f.apply_backward(
                    x, y, dy, input_grad=request.compute_in_delta, weights_grad=request.compute_weights_delta,
                    bias_grad=request.compute_bias_delta)
        return pb.FilterApplyBackwardBatchResponse(
            in_delta=codec.pack_gradient(d_in), weights_delta=codec.pack_gradient(d_w),
            bias_delta=codec.pack_gradient(d_b))

    # --------------------------------------------------------------------------------- pooling
    def pooling_filter_apply_batch(self, request: pb.PoolingFilterApplyBatchRequest,
                                   tenant: str = "") -> pb.PoolingFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"pooling"}, "PoolingFilterApplyBatch")
        f, n = entry.filter, request.batch_size
        x = codec.read_batch(getattr(request, "in"), f.input_desc, n, "in", self.limits)
        index_type = request.indices_data_type or layout.DTYPE_UINT64
        layout.numpy_dtype(index_type, allowed=layout.INDEX_DTYPES, what="indices_data_type")
        indices = None
        if f.function == pooling.UN_MAX:
            require(request.HasField("indices"), "UnMax pooling needs `indices` (laid out as the input)")
            indices = codec.read_indices(request.indices, request.indices_data_type, f.input_desc, n, self.limits)
        with self._holding(entry):
            y, idx = f.apply(x, indices=indices, want_indices=request.compute_indices)
        response = pb.PoolingFilterApplyBatchResponse(out=codec.pack_batch(y, f.output_desc))
        if idx is not None and request.compute_indices:
            require(index_type != layout.DTYPE_UINT32 or idx.size == 0 or int(idx.max()) < 2**32,
                    "an index does not fit UInt32: ask for UInt64 indices")
            response.indices.CopyFrom(codec.buffer_from_array(layout.pack(idx, index_type)))
        return response

    def pooling_filter_apply_backward_batch(self, request: pb.PoolingFilterApplyBackwardBatchRequest,
                                            tenant: str = "") -> pb.PoolingFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"pooling"}, "PoolingFilterApplyBackwardBatch")
        f, n = entry.filter, request.batch_size
        require(request.compute_in_delta or request.compute_bias_delta,
                "PoolingFilterApplyBackwardBatch asks for no gradient")
        x = self._optional_batch(request, "in", f.input_desc, n)
        y = self._optional_batch(request, "out", f.output_desc, n)
        dy = codec.read_batch(request.out_delta, f.output_desc, n, "out_delta", self.limits)
        indices = None
        if request.HasField("indices"):
            # Max: one index per output element; UnMax: per input element.
            shape_of = f.input_desc if f.function == pooling.UN_MAX else f.output_desc
            indices = codec.read_indices(request.indices, request.indices_data_type, shape_of, n, self.limits)
        with self._holding(entry):
            d_in, d_bias = f.apply_backward(x, y, dy, indices=indices, input_grad=request.compute_in_delta,
                                            bias_grad=request.compute_bias_delta)
        return pb.PoolingFilterApplyBackwardBatchResponse(in_delta=codec.pack_gradient(d_in),
                                                          bias_delta=codec.pack_gradient(d_bias))

    # ------------------------------------------------------------------------------------ loss
    def loss_filter_apply_batch(self, request: pb.LossFilterApplyBatchRequest,
                                tenant: str = "") -> pb.LossFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"loss"}, "LossFilterApplyBatch")
        f, n = entry.filter, request.batch_size
        x, labels, weights = self._loss_inputs(request, f, n)
        with self._holding(entry):
            value, d_in = f.apply(x, labels, weights, want_input_grad=request.compute_in_delta)
        return pb.LossFilterApplyBatchResponse(out=codec.pack_batch(value, f.output_desc),
                                               in_delta=codec.pack_gradient(d_in))

    def loss_filter_apply_backward_batch(self, request: pb.LossFilterApplyBackwardBatchRequest,
                                         tenant: str = "") -> pb.LossFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"loss"}, "LossFilterApplyBackwardBatch")
        f, n = entry.filter, request.batch_size
        x, labels, weights = self._loss_inputs(request, f, n)
        # dL/d(loss): one value when reduced, else one item of the loss output per batch item.
        shape = f.output_shape(n)
        item = layout.Descriptor.for_shape(layout.LAYOUT_VECTOR, (int(np.prod(shape[1:], dtype=np.int64)),))
        d_loss = codec.read_batch(request.out_delta, item, shape[0], "out_delta", self.limits)
        with self._holding(entry):
            d_in = f.apply_backward(x, labels, weights, d_loss.reshape(shape))
        return pb.LossFilterApplyBackwardBatchResponse(in_delta=codec.pack_gradient(d_in))

    def _loss_inputs(self, request, f, n):
        x = codec.read_batch(getattr(request, "in"), f.input_desc, n, "in", self.limits)
        labels = codec.read_batch(request.labels, f.input_desc, n, "labels", self.limits)
        f.check_weights(request.weights_size, n)
        weights = None
        if request.weights_size:
            weights = codec.array_from_buffer(request.weights, np.dtype("<f4"), "weights", self.limits)
            require(weights.size == request.weights_size,
                    f"weights has {weights.size} values but weights_size is {request.weights_size}")
            require(bool(np.all(np.isfinite(weights))), "weights contains NaN or infinite values")
        return x, labels, weights

    # --------------------------------------------------------------------------- normalization
    def normalization_filter_apply_batch(self, request: pb.NormalizationFilterApplyBatchRequest,
                                         tenant: str = "") -> pb.NormalizationFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"normalization"}, "NormalizationFilterApplyBatch")
        f = entry.filter
        x = codec.read_batch(getattr(request, "in"), f.input_desc, request.batch_size, "in", self.limits)
        with self._holding(entry):
            y = f.apply(x, training=request.training)
            stats = f.parameters()
            response = pb.NormalizationFilterApplyBatchResponse(out=codec.pack_batch(y, f.output_desc))
            for name in ("moving_mean", "moving_variance"):
                if name in stats:
                    getattr(response, name).CopyFrom(codec.buffer_from_array(stats[name]))
        return response

    def normalization_filter_apply_backward_batch(self, request: pb.NormalizationFilterApplyBackwardBatchRequest,
                                                  tenant: str = "") -> pb.NormalizationFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"normalization"}, "NormalizationFilterApplyBackwardBatch")
        f, n = entry.filter, request.batch_size
        require(request.compute_in_delta or request.compute_beta_delta or request.compute_gamma_delta,
                "NormalizationFilterApplyBackwardBatch asks for no gradient: set compute_in_delta, "
                "compute_beta_delta or compute_gamma_delta")
        y = self._optional_batch(request, "out", f.output_desc, n)
        dy = codec.read_batch(request.out_delta, f.output_desc, n, "out_delta", self.limits)
        with self._holding(entry):
            d_in, d_beta, d_gamma = f.apply_backward(
                y, dy, input_grad=request.compute_in_delta, beta_grad=request.compute_beta_delta,
                gamma_grad=request.compute_gamma_delta)
        return pb.NormalizationFilterApplyBackwardBatchResponse(
            in_delta=codec.pack_gradient(d_in), beta_delta=codec.pack_gradient(d_beta),
            gamma_delta=codec.pack_gradient(d_gamma))

    # ------------------------------------------------------------------------------ arithmetic
    def arithmetic_filter_apply_batch(self, request: pb.ArithmeticFilterApplyBatchRequest,
                                      tenant: str = "") -> pb.ArithmeticFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"arithmetic"}, "ArithmeticFilterApplyBatch")
        f = entry.filter
        inputs = self._operand_batches(getattr(request, "in"), f, request.batch_size)
        with self._holding(entry):
            y = f.apply(inputs, batch_size=request.batch_size)
        return pb.ArithmeticFilterApplyBatchResponse(out=codec.pack_batch(y, f.output_desc))

    def arithmetic_filter_apply_backward_batch(self, request: pb.ArithmeticFilterApplyBackwardBatchRequest,
                                               tenant: str = "") -> pb.ArithmeticFilterApplyBackwardBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"arithmetic"}, "ArithmeticFilterApplyBackwardBatch")
        f, n = entry.filter, request.batch_size
        wanted = list(request.compute_in_delta)
        require(len(wanted) == f.arity, f"compute_in_delta has {len(wanted)} entries; the function takes "
                f"{f.arity} operands: give one flag per operand")
        require(any(wanted), "ArithmeticFilterApplyBackwardBatch asks for no gradient")
        inputs = self._operand_batches(getattr(request, "in"), f, n, required=False)
        y = self._optional_batch(request, "out", f.output_desc, n)
        dy = codec.read_batch(request.out_delta, f.output_desc, n, "out_delta", self.limits)
        with self._holding(entry):
            grads = f.apply_backward(inputs, y, dy, wanted=wanted)
        return pb.ArithmeticFilterApplyBackwardBatchResponse(
            in_delta=[codec.pack_gradient(g) or types_pb2.Buffer() for g in grads])

    def _operand_batches(self, buffers, f, batch_size: int, required: bool = True) -> list:
        """One array per Sample operand (None for Constant / Parameter, which live in the filter)."""
        require(len(buffers) in (0, f.arity) and (len(buffers) == f.arity or not required),
                f"`in` has {len(buffers)} buffers; the function takes {f.arity} operands: give one per operand "
                "(empty for Constant and Parameter operands)")
        inputs = []
        for k, (operand, desc) in enumerate(zip(f.params.inputs, f.input_descs)):
            buf = buffers[k] if k < len(buffers) else types_pb2.Buffer()
            if operand.type != arithmetic.SAMPLE or buf.WhichOneof("contents") is None:
                require(operand.type != arithmetic.SAMPLE or not required,
                        f"in[{k}] is empty but operand {k} is a Sample: send its batch")
                inputs.append(None)
            else:
                inputs.append(codec.read_batch(buf, desc, batch_size, f"in[{k}]", self.limits))
        return inputs

    # ----------------------------------------------------------------------------------- fused
    def fused_filter_apply_batch(self, request: pb.FusedFilterApplyBatchRequest,
                                 tenant: str = "") -> pb.FusedFilterApplyBatchResponse:
        entry = self._fused_entry(request.filter_id, tenant, "FusedFilterApplyBatch", multi=False)
        f = entry.filter
        x = codec.read_batch(getattr(request, "in"), f.input_desc, request.batch_size, "in", self.limits)
        with self._holding(entry):
            y = f.apply([x], training=request.training)
        return pb.FusedFilterApplyBatchResponse(out=codec.pack_batch(y, f.output_desc))

    def fused_filter_apply_multi_input_batch(self, request: pb.FusedFilterApplyMultiInputBatchRequest,
                                             tenant: str = "") -> pb.FusedFilterApplyMultiInputBatchResponse:
        entry = self._fused_entry(request.filter_id, tenant, "FusedFilterApplyMultiInputBatch", multi=True)
        f = entry.filter
        inputs = self._fused_inputs(getattr(request, "in"), f, request.batch_size, required=True)
        with self._holding(entry):
            y = f.apply(inputs, training=request.training)
        return pb.FusedFilterApplyMultiInputBatchResponse(out=codec.pack_batch(y, f.output_desc))

    def fused_filter_apply_backward_batch(self, request: pb.FusedFilterApplyBackwardBatchRequest,
                                          tenant: str = "") -> pb.FusedFilterApplyBackwardBatchResponse:
        entry = self._fused_entry(request.filter_id, tenant, "FusedFilterApplyBackwardBatch", multi=False)
        f, n = entry.filter, request.batch_size
        wanted = self._delta_flags(f, request.compute_delta_parameters)
        require(request.compute_in_delta or any(wanted), "FusedFilterApplyBackwardBatch asks for no gradient")
        x = self._optional_batch(request, "in", f.input_desc, n)
        y = self._optional_batch(request, "out", f.output_desc, n)
        dy = codec.read_batch(request.out_delta, f.output_desc, n, "out_delta", self.limits)
        with self._holding(entry):
            d_inputs, d_params = f.apply_backward([x], y, dy, input_grads=[request.compute_in_delta],
                                                  delta_parameters=wanted)
        return pb.FusedFilterApplyBackwardBatchResponse(
            in_delta=codec.pack_gradient(d_inputs[0]),
            delta_parameters=[codec.pack_gradient(d) or types_pb2.Buffer() for d in d_params])

    def fused_filter_apply_backward_multi_input_batch(
            self, request: pb.FusedFilterApplyBackwardMultiInputBatchRequest,
            tenant: str = "") -> pb.FusedFilterApplyBackwardMultiInputBatchResponse:
        entry = self._fused_entry(request.filter_id, tenant, "FusedFilterApplyBackwardMultiInputBatch", multi=True)
        f, n = entry.filter, request.batch_size
        wanted = self._delta_flags(f, request.compute_delta_parameters)
        input_grads = list(request.compute_in_delta)
        require(len(input_grads) in (0, f.arity), f"compute_in_delta has {len(input_grads)} entries; the fused "
                f"filter takes {f.arity} inputs")
        input_grads = input_grads or [False] * f.arity
        require(any(input_grads) or any(wanted), "FusedFilterApplyBackwardMultiInputBatch asks for no gradient")
        inputs = self._fused_inputs(getattr(request, "in"), f, n, required=False)
        y = self._optional_batch(request, "out", f.output_desc, n)
        dy = codec.read_batch(request.out_delta, f.output_desc, n, "out_delta", self.limits)
        with self._holding(entry):
            d_inputs, d_params = f.apply_backward(inputs, y, dy, input_grads=input_grads, delta_parameters=wanted)
        return pb.FusedFilterApplyBackwardMultiInputBatchResponse(
            in_delta=[codec.pack_gradient(d) or types_pb2.Buffer() for d in d_inputs],
            delta_parameters=[codec.pack_gradient(d) or types_pb2.Buffer() for d in d_params])

    def _fused_entry(self, filter_id: str, tenant: str, rpc: str, multi: bool) -> Entry:
        entry = self._entry(filter_id, tenant, {"fused"}, rpc)
        require(entry.filter.is_multi_input == multi,
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

    def _fused_inputs(self, buffers, f, batch_size: int, required: bool) -> list:
        require(len(buffers) == f.arity or (not required and len(buffers) == 0),
                f"`in` has {len(buffers)} buffers; the fused filter takes {f.arity} inputs")
        inputs = []
        for k, desc in enumerate(f.input_descs):
            buf = buffers[k] if k < len(buffers) else types_pb2.Buffer()
            if buf.WhichOneof("contents") is None:
                require(not required, f"in[{k}] is empty")
                inputs.append(None)
            else:
                inputs.append(codec.read_batch(buf, desc, batch_size, f"in[{k}]", self.limits))
        return inputs

    # ------------------------------------------------------------------------------- optimizer
    def optimizer_step(self, request: pb.OptimizerStepRequest, tenant: str = "") -> pb.OptimizerStepResponse:
        function = int(request.function)
        kind = optimizer.kind_of(function)
        fields = codec.optimizer_fields(request.fields)
        count = len(request.parameters)
        require(count >= 1, "OptimizerStep needs at least one parameter")
        require(len(request.gradients) == count,
                f"{count} parameters but {len(request.gradients)} gradients: give one gradient per parameter")
        refs = [p.filter_parameter if p.WhichOneof("target") == "filter_parameter" else None for p in request.parameters]
        entries = {ref.filter_id: self.registry.get(ref.filter_id, tenant) for ref in refs if ref is not None}
        server_held = not request.accumulators
        require(not server_held or all(refs) or optimizer.accumulator_count(function, count, fields) == 0,
                f"{kind.name} keeps accumulators: pass them, or reference only filter parameters so the server "
                "keeps them")
        # Lock every filter involved, in one global order, so concurrent steps cannot deadlock.
        locked = [entries[i] for i in sorted(entries)]
        for entry in locked:
            entry.lock.acquire()
        try:
            self._check_cancelled()
            parameters = [self._optimizer_parameter(p, ref, entries, k) for k, (p, ref) in
                          enumerate(zip(request.parameters, refs))]
            gradients = []
            for k, (buf, param) in enumerate(zip(request.gradients, parameters)):
                g = codec.array_from_buffer(buf, np.dtype("<f4"), f"gradients[{k}]", self.limits)
                require(g.size == param.size,
                        f"gradients[{k}] has {g.size} values but parameters[{k}] has {param.size}")
                # A non-finite gradient would silently destroy weights that live here (the kernel, like
                # BNNS, lets it through: for inline arrays the caller sees the result and keeps its own).
                require(refs[k] is None or bool(np.all(np.isfinite(g))),
                        f"gradients[{k}] holds NaN or infinite values; refusing to step "
                        f"{refs[k].name if refs[k] is not None else ''} of filter "
                        f"{refs[k].filter_id if refs[k] is not None else ''}, which lives on the server")
                gradients.append(g.reshape(param.shape))
            blocks = optimizer.accumulator_blocks(function, fields)
            if server_held:
                fresh, accumulators = self._server_accumulators(function, refs, entries, blocks, parameters)
            else:
                accumulators = [codec.array_from_buffer(b, np.dtype("<f4"), f"accumulators[{k}]", self.limits).copy()
                                for k, b in enumerate(request.accumulators)]
                for k, acc in enumerate(accumulators):
                    param = parameters[k % count]
                    require(acc.size == param.size, f"accumulators[{k}] has {acc.size} values but its parameter "
                            f"(parameters[{k % count}]) has {param.size}")
                accumulators = [acc.reshape(parameters[k % count].shape) for k, acc in enumerate(accumulators)]
            optimizer.optimizer_step(function, fields, parameters, gradients, accumulators)
            if server_held:   # only a successful step creates server-held state
                for (filter_id, key), state in fresh.items():
                    entries[filter_id].optimizer_state[key] = state
            response = pb.OptimizerStepResponse()
            for param, ref in zip(parameters, refs):
                buf = response.parameters.add()
                if ref is None or request.return_parameters:
                    buf.CopyFrom(codec.buffer_from_array(param))
            if not server_held or request.return_accumulators:
                response.accumulators.extend(codec.buffer_from_array(a) for a in accumulators)
            return response
        finally:
            for entry in reversed(locked):
                entry.lock.release()

    @staticmethod
    def _optimizer_parameter(p, ref, entries, k) -> np.ndarray:
        if ref is None:
            require(p.WhichOneof("target") == "values",
                    f"parameters[{k}] is empty: reference a filter parameter or send its values")
            return codec.array_from_buffer(p.values, np.dtype("<f4"), f"parameters[{k}]").copy()
        entry = entries[ref.filter_id]
        trainable = entry.trainable
        if ref.name not in trainable:
            raise InvalidArgumentError(
                f"parameters[{k}] names {ref.name!r} of filter {ref.filter_id} ({entry.kind}); its trainable arrays "
                f"are {sorted(trainable) or 'none'}")
        return trainable[ref.name]

    @staticmethod
    def _server_accumulators(function, refs, entries, blocks, parameters):
        """BNNS's blocked accumulator list from server-held state (zeros at the first step)."""
        fresh, per_param = {}, []
        for ref, param in zip(refs, parameters):
            entry = entries[ref.filter_id] if ref is not None else None
            key = (ref.name, function) if ref is not None else None
            state = entry.optimizer_state.get(key) if entry is not None else None
            if state is None:
                state = {block: np.zeros_like(param) for block in blocks}
                if entry is not None:
                    fresh[(ref.filter_id, key)] = state
            per_param.append(state)
        return fresh, [state[block] for block in blocks for state in per_param]

    # ------------------------------------------------------------------------------- helpers
    def _entry(self, filter_id: str, tenant: str, kinds: set, rpc: str) -> Entry:
        entry = self.registry.get(filter_id, tenant)
        if entry.kind not in kinds:
            raise InvalidArgumentError(
                f"filter {filter_id} is a {entry.kind} filter; {rpc} serves {', '.join(sorted(kinds))} "
                f"(use the {entry.kind} entry point)")
        return entry

    def _optional_batch(self, request, field: str, desc, batch_size: int) -> Optional[np.ndarray]:
        if not request.HasField(field):
            return None
        return codec.read_batch(getattr(request, field), desc, batch_size, field, self.limits)


def rpc_method_name(rpc: str) -> str:
    """'FilterApplyBatch' -> 'filter_apply_batch': the Core method serving an RPC."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", rpc).lower()
