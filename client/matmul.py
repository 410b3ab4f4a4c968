"""Two-input filters and matrix products (issue 12, part A): BroadcastMatMul and
TensorContraction filters with BNNSFilterApplyTwoInput[Batch] and
BNNSFilterApplyBackwardTwoInputBatch, the Swift BNNS.BinaryLayer with
BNNS.BroadcastMatrixMultiplyLayer and BNNS.TensorContractionLayer, and the filter-less
BNNSMatMul, BNNSMatMulWorkspaceSize and BNNSDirectApplyBroadcastMatMul (one kernel for all)."""

from __future__ import annotations

from typing import Optional

from bnns.kernels import contraction
from bnns.kernels import layout
from bnns.kernels.errors import BNNSError, InvalidArgumentError, given, require
from bnns.v1 import service_pb2 as pb

from . import api
from .layers import Layer, buffer_of, read_only
from .shape import direct_call
from .c_structs import (BNNSFilterParameters, BNNSLayerParametersBroadcastMatMul,
                        BNNSLayerParametersTensorContraction, BNNSNDArrayDescriptor)


def _weights_flags(params) -> tuple:
    """(A is weights, B is weights) of a BroadcastMatMul or TensorContraction struct."""
    if hasattr(params, "operation"):
        terms, _ = contraction.parse_operation(params.operation)
        if len(terms) == 2 and terms[0].name == terms[1].name:
            terms = terms[:1]
        return tuple(k < len(terms) and terms[k].is_weights for k in range(2))
    return bool(params.a_is_weights), bool(params.b_is_weights) and not params.quadratic


class TwoInputFilter(api.BNNSFilter):
    """A BroadcastMatMul or TensorContraction handle: its operands' geometries (None for an
    absent one), whether each is per sample (not the weights), and beta."""

    a_geometry: Optional[layout.Descriptor]
    b_geometry: Optional[layout.Descriptor]
    per_sample: tuple[bool, bool]
    beta: float


def _two_input(f: api.BNNSFilter) -> TwoInputFilter:
    if not isinstance(f, TwoInputFilter):
        raise InvalidArgumentError(f"filter {f.filter_id} ({f.kind}) is not a two-input filter")
    return f


def _create_two_input(kind: str, params, filter_params):
    require(params.iA_desc is not None and params.o_desc is not None, "iA_desc and o_desc are required")
    flags = _weights_flags(params)
    geometries = [d.geometry() if d is not None else None for d in (params.iA_desc, params.iB_desc)]
    reads_b = params.iB_desc is not None and not getattr(params, "quadratic", False)
    per_sample = (not flags[0], reads_b and not flags[1])
    weights = next((g for g, w in zip(geometries, flags) if w), None)
    # BNNSFilterApply[Backward]Batch's `in` is the one per-sample operand, when there is one.
    single = geometries[per_sample.index(True)] if sum(per_sample) == 1 else geometries[0]
    # An operand's data travels only when it is the weights (a per-sample one's comes with each apply).
    operands = {field: desc.to_proto(with_data=is_weights) for field, desc, is_weights in
                (("ia_desc", params.iA_desc, flags[0]), ("ib_desc", params.iB_desc, flags[1])) if desc is not None}
    return api.create_filter(kind, params, filter_params, message_fields=operands, input_geometry=single,
                             output_geometry=params.o_desc.geometry(), weights_geometry=weights,
                             a_geometry=geometries[0], b_geometry=geometries[1], per_sample=per_sample,
                             beta=float(params.beta), filter_class=TwoInputFilter)


@api._c_style(None)
def BNNSFilterCreateLayerBroadcastMatMul(layer_params: BNNSLayerParametersBroadcastMatMul,
                                         filter_params: Optional[BNNSFilterParameters] = None):
    """A BroadcastMatMul filter, or None (see last_error())."""
    return _create_two_input("broadcast_matmul", layer_params, filter_params)


@api._c_style(None)
def BNNSFilterCreateLayerTensorContraction(layer_params: BNNSLayerParametersTensorContraction,
                                           filter_params: Optional[BNNSFilterParameters] = None):
    """A TensorContraction filter, or None (see last_error())."""
    return _create_two_input("tensor_contraction", layer_params, filter_params)


def apply_two_input_batch(f: api.BNNSFilter, batch_size, in_a, in_a_stride, in_b, in_b_stride, out,
                          out_stride) -> None:
    f = _two_input(f)
    io = api.Exchange()
    io.receive("out", out, f.output_geometry, batch_size, out_stride)
    request = pb.FilterApplyTwoInputBatchRequest(filter_id=f.filter_id, batch_size=int(batch_size))
    for field, array, geometry, stride, sample in (("in_a", in_a, f.a_geometry, in_a_stride, f.per_sample[0]),
                                                    ("in_b", in_b, f.b_geometry, in_b_stride, f.per_sample[1])):
        if sample:             # a weights operand is not read (BNNS takes NULL there)
            getattr(request, field).CopyFrom(io.send(field, array, given(geometry, field), batch_size, stride))
    if f.beta:                 # beta 1 adds to the output's previous contents
        request.out.CopyFrom(io.send("out", out, f.output_geometry, batch_size, out_stride))
    f.call("FilterApplyTwoInputBatch", request, io)


@api._c_style(-1)
def BNNSFilterApplyTwoInputBatch(filter: api.BNNSFilter, batch_size: int, inA, inA_stride: int, inB,
                                 inB_stride: int, out, out_stride: int) -> int:
    """Apply a two-input filter to ``batch_size`` pairs (pass None for a weights operand); 0 or -1."""
    apply_two_input_batch(filter, batch_size, inA, inA_stride, inB, inB_stride, out, out_stride)
    return 0


@api._c_style(-1)
def BNNSFilterApplyTwoInput(filter: api.BNNSFilter, inA, inB, out) -> int:
    """Apply a two-input filter to one pair; 0 or -1."""
    apply_two_input_batch(filter, 1, inA, 0, inB, 0, out, 0)
    return 0


def apply_backward_two_input_batch(f: api.BNNSFilter, batch_size, in_a, in_a_stride, in_a_delta, in_a_delta_stride,
                                   in_b, in_b_stride, in_b_delta, in_b_delta_stride, out, out_stride, out_delta,
                                   out_delta_stride, weights_delta, bias_delta) -> None:
    f = _two_input(f)
    require(out_delta is not None and out_delta.data is not None, "out_delta (with data) is required")
    io = api.Exchange()
    io.receive_gradient("in_a_delta", in_a_delta, f.a_geometry, batch_size, in_a_delta_stride)
    io.receive_gradient("in_b_delta", in_b_delta, f.b_geometry, batch_size, in_b_delta_stride)
    if weights_delta is not None:
        require(f.weights_geometry is not None, f"weights_delta was given but neither operand of filter "
                f"{f.filter_id} is weights")
        io.receive_gradient("weights_delta", weights_delta, f.weights_geometry, 1, 0)
    request = pb.FilterApplyBackwardTwoInputBatchRequest(
        filter_id=f.filter_id, batch_size=int(batch_size),
        out_delta=io.send("out_delta", out_delta.data, f.output_geometry, batch_size, out_delta_stride),
        compute_in_a_delta=in_a_delta is not None, compute_in_b_delta=in_b_delta is not None,
        compute_weights_delta=weights_delta is not None, compute_bias_delta=bias_delta is not None)
    for field, array, geometry, stride, sample in (("in_a", in_a, f.a_geometry, in_a_stride, f.per_sample[0]),
                                                    ("in_b", in_b, f.b_geometry, in_b_stride, f.per_sample[1])):
        if sample and array is not None:
            getattr(request, field).CopyFrom(io.send(field, array, given(geometry, field), batch_size, stride))
    f.call("FilterApplyBackwardTwoInputBatch", request, io)


@api._c_style(-1)
def BNNSFilterApplyBackwardTwoInputBatch(filter: api.BNNSFilter, batch_size: int, inA, inA_stride: int,
                                         inA_delta: Optional[BNNSNDArrayDescriptor], inA_delta_stride: int,
                                         inB, inB_stride: int, inB_delta: Optional[BNNSNDArrayDescriptor],
                                         inB_delta_stride: int, out, out_stride: int,
                                         out_delta: BNNSNDArrayDescriptor, out_delta_stride: int,
                                         weights_delta: Optional[BNNSNDArrayDescriptor],
                                         bias_delta: Optional[BNNSNDArrayDescriptor]) -> int:
    """Gradients of a two-input filter: inA_delta needs inB and inB_delta needs inA; weights_delta
    is the weights operand's gradient, summed over the batch. None = not computed; 0 or -1."""
    apply_backward_two_input_batch(filter, batch_size, inA, inA_stride, inA_delta, inA_delta_stride, inB,
                                   inB_stride, inB_delta, inB_delta_stride, out, out_stride, out_delta,
                                   out_delta_stride, weights_delta, bias_delta)
    return 0


# --------------------------------------------------------------------------- filter-less calls

def _matmul_request(message, trans_a, trans_b, alpha, input_a, input_b, output, filter_params):
    request = message(trans_a=bool(trans_a), trans_b=bool(trans_b), alpha=float(alpha),
                      input_a=input_a.to_proto(False), input_b=input_b.to_proto(False), output=output.to_proto(False))
    if filter_params is not None:
        request.filter_parameters.CopyFrom(filter_params.to_proto())
    return request


@api._c_style(-1)
def BNNSMatMul(transA: bool, transB: bool, alpha: float, inputA: BNNSNDArrayDescriptor,
               inputB: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, workspace=None,
               filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output = alpha * op(A) @ op(B) (batch axes broadcast); ``workspace`` is not needed (the
    server computes in its own memory) and is ignored. 0 or -1."""
    request = _matmul_request(pb.MatMulRequest, transA, transB, alpha, inputA, inputB, output, filter_params)
    direct_call("MatMul", request, {"input_a.data": inputA, "input_b.data": inputB}, {"output": output})
    return 0


@api._c_style(-1)
def BNNSMatMulWorkspaceSize(transA: bool, transB: bool, alpha: float, inputA: BNNSNDArrayDescriptor,
                            inputB: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                            filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """Bytes of workspace BNNSMatMul needs (0 here), or -1 when BNNSMatMul would refuse these descriptors."""
    request = pb.MatMulWorkspaceSizeRequest(trans_a=bool(transA), trans_b=bool(transB), alpha=float(alpha),
                                            input_a=inputA.to_proto(False), input_b=inputB.to_proto(False),
                                            output=output.to_proto(False))
    if filter_params is not None:
        request.filter_parameters.CopyFrom(filter_params.to_proto())
    return int(direct_call("MatMulWorkspaceSize", request, {}, {}).workspace_size)


@api._c_style(None)
def BNNSDirectApplyBroadcastMatMul(transA: bool, transB: bool, alpha: float, inputA: BNNSNDArrayDescriptor,
                                   inputB: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                                   filter_params: Optional[BNNSFilterParameters] = None) -> None:
    """output = alpha * op(A) @ op(B), batch axes broadcast. Returns nothing, as BNNS (void): a
    failure leaves output unchanged and its reason in last_error()."""
    request = _matmul_request(pb.DirectApplyBroadcastMatMulRequest, transA, transB, alpha, inputA, inputB, output,
                              filter_params)
    direct_call("DirectApplyBroadcastMatMul", request, {"input_a.data": inputA, "input_b.data": inputB},
                {"output": output})


# ------------------------------------------------------------------------------- Swift style

class BinaryLayer(Layer):
    """BNNS.BinaryLayer: a two-input filter's apply(batchSize:inputA:inputB:output:) and
    applyBackward(batchSize:inputA:inputB:output:outputGradient:generatingInputAGradient:
    generatingInputBGradient:). A weights operand's descriptor is not read; its gradient comes
    through ``generating_weights_gradient`` (a keyword this SDK adds after Swift's labels)."""

    filter: TwoInputFilter   # what its creator returns

    def apply(self, batch_size: int, input_a: BNNSNDArrayDescriptor, input_b: BNNSNDArrayDescriptor,
              output: BNNSNDArrayDescriptor) -> None:
        apply_two_input_batch(self.filter, batch_size, buffer_of(input_a, "input_a"), 0,
                              buffer_of(input_b, "input_b"), 0, self._data(output, "output"), 0)

    def apply_backward(self, batch_size: int, input_a: BNNSNDArrayDescriptor, input_b: BNNSNDArrayDescriptor,
                       output: BNNSNDArrayDescriptor, output_gradient: BNNSNDArrayDescriptor,
                       generating_input_a_gradient: Optional[BNNSNDArrayDescriptor] = None,
                       generating_input_b_gradient: Optional[BNNSNDArrayDescriptor] = None, *,
                       generating_weights_gradient: Optional[BNNSNDArrayDescriptor] = None) -> None:
        f = self.filter
        apply_backward_two_input_batch(
            f, batch_size, buffer_of(input_a, "input_a"), 0,
            generating_input_a_gradient if f.per_sample[0] else None, 0, buffer_of(input_b, "input_b"), 0,
            generating_input_b_gradient if f.per_sample[1] else None, 0, buffer_of(output, "output"), 0,
            read_only(output_gradient), 0, generating_weights_gradient, None)


class BroadcastMatrixMultiplyLayer(BinaryLayer):
    """BNNS.BroadcastMatrixMultiplyLayer(inputA:transposed:isWeights:inputB:transposed:isWeights:output:
    alpha:accumulatesToOutput:isQuadratic:filterParameters:); the repeated Swift labels are spelled
    with Swift's parameter names (transpose_a, a_is_weights, ...)."""

    def __init__(self, input_a: BNNSNDArrayDescriptor, transpose_a: bool = False, a_is_weights: bool = False,
                 input_b: Optional[BNNSNDArrayDescriptor] = None, transpose_b: bool = False,
                 b_is_weights: bool = False, output: Optional[BNNSNDArrayDescriptor] = None, alpha: float = 1.0, accumulates_to_output: bool = False,
                 is_quadratic: bool = False, filter_parameters: Optional[BNNSFilterParameters] = None):
        require(output is not None and (input_b is not None or is_quadratic), "input_b and output are required")
        params = BNNSLayerParametersBroadcastMatMul(
            alpha=alpha, beta=1.0 if accumulates_to_output else 0.0, transA=transpose_a, transB=transpose_b,
            quadratic=is_quadratic, a_is_weights=a_is_weights, b_is_weights=b_is_weights, iA_desc=input_a,
            iB_desc=input_b, o_desc=output)
        super().__init__(BNNSFilterCreateLayerBroadcastMatMul(params, filter_parameters))


class TensorContractionLayer(BinaryLayer):
    """BNNS.TensorContractionLayer(operation:alpha:beta:inputA:inputB:output:filterParameters:) (the
    labels follow BNNSLayerParametersTensorContraction's order; input_b may be None for a one-operand
    contraction)."""

    def __init__(self, operation: str, alpha: float = 1.0, beta: float = 0.0,
                 input_a: Optional[BNNSNDArrayDescriptor] = None, input_b: Optional[BNNSNDArrayDescriptor] = None,
                 output: Optional[BNNSNDArrayDescriptor] = None,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        require(input_a is not None and output is not None, "input_a and output are required")
        params = BNNSLayerParametersTensorContraction(operation=operation, alpha=alpha, beta=beta, iA_desc=input_a,
                                                      iB_desc=input_b, o_desc=output)
        super().__init__(BNNSFilterCreateLayerTensorContraction(params, filter_parameters))


def apply_matrix_multiplication(input_a: BNNSNDArrayDescriptor, transpose_a: bool, input_b: BNNSNDArrayDescriptor,
                                transpose_b: bool, output: BNNSNDArrayDescriptor, alpha: float = 1.0,
                                workspace=None, filter_parameters: Optional[BNNSFilterParameters] = None) -> None:
    """BNNS.applyMatrixMultiplication(inputA:transposed:inputB:transposed:output:alpha:workspace:
    filterParameters:); raises BNNSError."""
    if BNNSMatMul(transpose_a, transpose_b, alpha, input_a, input_b, output, workspace, filter_parameters) != 0:
        raise api.last_error() or BNNSError("BNNSMatMul failed")
