"""The transport-free core: one method per RPC of bnns.v1.BNNSService, request message in,
response message out. gRPC, REST and the SDK's in-process backend all call these same methods.

A method decodes its buffers with the filter's descriptors (codec), runs the kernel under the
handle's lock, and packs the results. Everything is validated before anything is written, and
the kernels never mutate a filter on a failed call, so a failure changes no state.
"""

from __future__ import annotations

import re
import threading
from typing import Callable, Optional

import numpy as np

from bnns.kernels import activation, convolution, layout, loss
from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError, require
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import codec
from .registry import Entry, Registry


def _convolution(p, limits):
    return convolution.ConvolutionFilter(codec.convolution_params(p, limits))


def _transposed_convolution(p, limits):
    return convolution.TransposedConvolutionFilter(codec.convolution_params(p, limits))


def _fully_connected(p, limits):
    return convolution.FullyConnectedFilter(codec.fully_connected_params(p, limits))


def _activation(p, limits):
    return activation.ActivationFilter(codec.activation_params(p, limits), seed=int(p.seed))


def _loss(p, limits):
    return loss.LossFilter(codec.loss_params(p, limits))


# CreateFilterRequest.layer case -> builder(parameters message, limits) -> kernels filter.
LAYER_BUILDERS: dict[str, Callable] = {
    "convolution": _convolution,
    "transposed_convolution": _transposed_convolution,
    "fully_connected": _fully_connected,
    "activation": _activation,
    "loss": _loss,
}

# The kinds BNNSFilterApplyBatch / BNNSFilterApplyBackwardBatch serve (the others have their own
# entry points, as in BNNS).
GENERIC_KINDS = {"convolution", "transposed_convolution", "fully_connected", "activation"}


class Core:
    """Filter lifecycle and every apply/backward entry point over one handle registry."""

    def __init__(self, registry: Optional[Registry] = None, limits: Optional[codec.Limits] = None):
        self.registry = registry or Registry()
        self.limits = limits or codec.Limits()
        self._create_lock = threading.Lock()

    # ------------------------------------------------------------------------------ lifecycle
    def create_filter(self, request: pb.CreateFilterRequest, tenant: str = "") -> pb.CreateFilterResponse:
        kind = request.WhichOneof("layer")
        require(kind is not None, "CreateFilterRequest.layer is not set: name the layer to create "
                f"({', '.join(sorted(LAYER_BUILDERS))})")
        builder = LAYER_BUILDERS.get(kind)
        if builder is None:
            raise InvalidArgumentError(f"layer kind {kind!r} is not served by this server")
        fp = request.filter_parameters
        require(fp.flags & ~1 == 0, f"filter_parameters.flags {fp.flags:#x} sets bits other than "
                "BNNSFlagsUseClientPtr (1)")
        filter_obj = builder(getattr(request, kind), self.limits)
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
                             bytes_held=entry.bytes_held)

    # ------------------------------------------------------------------ generic apply/backward
    def filter_apply_batch(self, request: pb.FilterApplyBatchRequest, tenant: str = "") -> pb.FilterApplyBatchResponse:
        entry = self._entry(request.filter_id, tenant, GENERIC_KINDS, "FilterApplyBatch")
        f = entry.filter
        x = codec.read_batch(getattr(request, "in"), f.input_desc, request.batch_size, "in", self.limits)
        with entry.lock:
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
        with entry.lock:
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

    # ------------------------------------------------------------------------------------ loss
    def loss_filter_apply_batch(self, request: pb.LossFilterApplyBatchRequest,
                                tenant: str = "") -> pb.LossFilterApplyBatchResponse:
        entry = self._entry(request.filter_id, tenant, {"loss"}, "LossFilterApplyBatch")
        f, n = entry.filter, request.batch_size
        x, labels, weights = self._loss_inputs(request, f, n)
        with entry.lock:
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
        with entry.lock:
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
