"""The one table of layer kinds (OpInfo-style; DESIGN.md "Layer kinds as rows").

One ``Kind`` row per layer kind names everything the service needs to know about it:

* ``case``: its parameters case, in ``CreateFilterRequest.layer`` (``creatable``) and/or
  ``FusedLayerParameters.layer`` (``filter_types``: it can be a fused member);
* ``decode``: the codec decoder of that message into the kernel's parameters, and ``filter``:
  the kernels filter class built from them (``options``: constructor arguments from fields
  that are not part of Apple's struct, such as the activation's seed);
* ``apply`` / ``backward``: the RPCs (BNNS entry points) that serve it, with the per-kind glue
  the generic ``FilterApply[Backward]Batch`` needs (``generic_forward`` / ``generic_backward``);
* ``samples``: small worked examples (the kind's parameters in proto3 JSON, then its calls in
  order) that are at once the REST documentation's examples, the test matrix's sample inputs,
  and, with ``reference`` (an independent float64 oracle) and ``gradient`` (which call's input
  gradient to check by finite differences), its correctness checks;
* ``errors``: inputs its creation must refuse, and ``tolerance`` with the reason for it.

The Core's builders and kind checks, the codec's fused members, the REST examples, the SDK's
fused member map and tests/e2e/test_kinds.py read this table: adding a kind is adding a row (its
proto message and kernel aside). It lives in server/ because a row ties the contract (proto
cases, RPC names, JSON bodies) to the kernels, and kernels/ knows nothing of protobuf.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
from typing import Any, Callable, Optional

import numpy as np

from bnns.kernels import activation, arithmetic, convolution, dropout, fused, loss, normalization, pooling
from bnns.kernels import contraction, padding, permute, reduction, resize
from bnns.kernels import attention, embedding, layout
from bnns.kernels.errors import InvalidArgumentError, require
from bnns.v1 import service_pb2, types_pb2

from . import decoders


# ------------------------------------------------------------------------------------- the row

@dataclasses.dataclass(frozen=True)
class Call:
    """One call of a sample: the RPC and its body in proto3 JSON (without the filter_id)."""

    rpc: str
    body: dict
    # (body field, index of an earlier call, its response's field): a Buffer an earlier call
    # returned, fed into this one (the backprop cache a training forward hands back).
    feed: tuple = ()

    def body_after(self, responses: list) -> dict:
        """The body with the fed Buffers of earlier ``responses`` in it (proto3 JSON)."""
        if not self.feed:
            return self.body
        from google.protobuf import json_format
        body = copy.deepcopy(self.body)
        for field, index, path in self.feed:
            body[field] = json_format.MessageToDict(getattr(responses[index], path))
        return body


@dataclasses.dataclass(frozen=True)
class Gradient:
    """Which input gradient of a sample the matrix checks by central finite differences:
    ``d sum(out_delta * out) / d in`` of ``calls[forward]`` against the ``in_delta`` that
    ``calls[backward]`` returns (``index``: the input, for repeated ``in``).

    ``field`` names another Buffer of the forward body (``in_a``), compared with the backward's
    ``delta`` path (``in_a_delta``); with ``weights`` it names a descriptor of the parameters
    (``ib_desc``, ``w_desc``), whose data is perturbed by re-creating the filter, compared with
    ``delta`` (``weights_delta``)."""

    forward: int
    backward: int
    index: Optional[int] = None
    # The fields involved (defaults: the generic entry points'): the forward body's perturbed
    # input, its response's result, the backward response's gradient and body's cotangent.
    # ``parameter``: a descriptor of the created parameters (dotted path) perturbed instead of
    # an input, the filter re-created for each perturbation.
    input: str = "in"
    output: str = "out"
    delta: str = "in_delta"
    out_delta: str = "out_delta"
    parameter: str = ""


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str                # the example's name in the REST docs
    summary: str
    create: dict             # the parameters message in proto3 JSON
    calls: tuple             # Calls, in order
    # Independent float64 oracle: (create, forward call body) -> expected values of the first
    # call's main result (``out``), any shape (compared flat).
    reference: Optional[Callable] = None
    gradient: Optional[Gradient] = None
    no_gradient: str = ""    # why there is no finite-difference check, when there is none
    more_gradients: tuple = ()   # further Gradients checked (parameters, other inputs)
    result: str = "out"      # the first call's response field the reference is compared with

    @property
    def gradients(self) -> tuple:
        return ((self.gradient,) if self.gradient is not None else ()) + tuple(self.more_gradients)


@dataclasses.dataclass(frozen=True)
class ErrorInput:
    """A creation the kind must refuse: ``mutate`` edits a deep copy of the first sample's
    parameters; the error has ``status`` and its message contains ``message``."""

    id: str
    mutate: Callable
    message: str
    status: str = "INVALID_ARGUMENT"


@dataclasses.dataclass(frozen=True)
class Tolerance:
    rtol: float = 1e-5        # forward vs the float64 reference (the service computes in float32)
    atol: float = 1e-5
    fd_eps: float = 1e-2      # finite differences through float32 arithmetic: roundoff ~1e-7/eps
    fd_rtol: float = 2e-2
    fd_atol: float = 2e-3
    why: str = "float32 arithmetic against float64 references"


@dataclasses.dataclass(frozen=True)
class Kind:
    case: str                          # CreateFilterRequest.layer / FusedLayerParameters.layer case
    decode: Callable                   # codec decoder: (message, source, prefix) -> kernel parameters
    filter: Callable                   # kernels filter class: filter(parameters, **options(message))
    apply: tuple = ()                  # the RPCs that run its forward
    backward: tuple = ()               # the RPCs that run its backward
    creatable: bool = True             # a CreateFilterRequest.layer case (else: a fused member only)
    filter_types: tuple = ()           # BNNSFilterType values it stands for as a fused member (none: cannot be one)
    fused_type: Optional[Callable] = None   # message -> its BNNSFilterType, when filter_types has several
    options: Optional[Callable] = None      # message -> extra constructor arguments
    generic_forward: Optional[Callable] = None   # (filter, x, out) -> y for FilterApplyBatch
    generic_backward: Optional[Callable] = None  # (filter, x, y, dy, request) -> (d_in, d_w, d_b)
    samples: tuple = ()
    errors: tuple = ()
    tolerance: Tolerance = Tolerance()
    input_dtypes: dict = dataclasses.field(default_factory=lambda: dict(layout.FLOAT_DTYPES))  # generic `in`

    def build(self, message, source, prefix: str):
        """The kernels filter for this kind's parameters message (validated by its constructor)."""
        extra = self.options(message) if self.options is not None else {}
        return self.filter(self.decode(message, source, prefix), **extra)

    def member(self, message, source, prefix: str) -> tuple:
        """(BNNSFilterType, kernel parameters) as a member of BNNSFilterCreateFusedLayer."""
        filter_type = self.fused_type(message) if self.fused_type is not None else self.filter_types[0]
        return filter_type, self.decode(message, source, prefix)

    @property
    def message_class(self):
        """The proto message of this kind's parameters."""
        for holder in (service_pb2.CreateFilterRequest, types_pb2.FusedLayerParameters):
            field = holder.DESCRIPTOR.fields_by_name.get(self.case)
            if field is not None and field.message_type is not None:
                return getattr(types_pb2, field.message_type.name)
        raise KeyError(self.case)


# ------------------------------------------------------------------- per-kind glue of the doors

def apply_into(f, x: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
    """f.apply(x), into ``out`` when the kernel takes one (out=) and the caller gave a place."""
    kernel: type = type(f)
    if out is not None and _takes_out(kernel):
        return f.apply(x, out=out)
    return f.apply(x)


@functools.lru_cache(maxsize=None)
def _takes_out(filter_class: Any) -> bool:
    return "out" in inspect.signature(filter_class.apply).parameters


def generic_backward(f, x, y, dy, request):
    return f.apply_backward(x, y, dy, input_grad=request.compute_in_delta,
                            weights_grad=request.compute_weights_delta, bias_grad=request.compute_bias_delta)


def _pooling_forward(f, x, out):
    """BNNSFilterApplyBatch on a pooling filter: the output without indices."""
    require(f.function != pooling.UN_MAX, "UnMax pooling needs indices: use PoolingFilterApplyBatch")
    return f.apply(x)[0]


def _activation_backward(f, x, y, dy, request):
    """A stand-alone activation's weights_delta is its trainable alpha (LeakyReLU, PReLU)."""
    require(not request.compute_bias_delta, "an activation filter has no bias: bias_delta was asked")
    d_in, d_w = f.apply_backward(x, y, dy, input_grad=request.compute_in_delta,
                                 weights_grad=request.compute_weights_delta)
    return d_in, d_w, None


def _training_forward(f, x, out):
    """BNNSFilterApplyBatch on a filter with a training mode (dropout): a training forward."""
    return f.apply(x, training=True)


# ------------------------------------------------------------------------- fused parameters

def fused_params(pb: types_pb2.FusedParameters, source, prefix: str) -> tuple:
    """BNNSFilterCreateFusedLayer's (types, parameter structs): each member's oneof case is a
    row of the table that can be a fused member."""
    layers = []
    for k, member in enumerate(pb.layers):
        case = member.WhichOneof("layer")
        try:
            kind = FUSED_MEMBERS.get(case)
            if kind is None:
                raise InvalidArgumentError("no layer set" if case is None else f"{case} cannot be a fused member")
            layers.append(kind.member(getattr(member, case), source, f"{prefix}.layers[{k}].{case}"))
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"fused.layers[{k}] ({case}): {error.message}") from None
    return tuple(layers)


# ------------------------------------------------------------------------ samples' vocabulary

IMAGE_4X4 = [[1, 2, 0, 1], [0, 3, 1, 2], [2, 0, 4, 1], [1, 1, 0, 3]]
IMAGE_4X4_B = [[0, 1, 2, 3], [1, 0, 1, 0], [2, 1, 0, 1], [3, 0, 1, 2]]
CHW_2X1X2 = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]         # batch of 2 items, C=2, H=1, W=2
CHW_2X1X2_B = [[[0, 1], [0, 1]], [[1, 0], [1, 0]]]


def desc(layout_name: str, size: list, values=None) -> dict:
    """An NDArrayDescriptor in proto3 JSON (size[0] fastest, as BNNS), Float32, with data when given."""
    document: dict[str, Any] = {"layout": f"DATA_LAYOUT_{layout_name}", "size": size, "data_type": "DATA_TYPE_FLOAT32"}
    if values is not None:
        document["data"] = {"values": values}
    return document


def batch_norm(size: list, channels: int, moving: bool) -> dict:
    params = {"type": "FILTER_TYPE_BATCH_NORM", "i_desc": desc("IMAGE_CHW", size), "o_desc": desc("IMAGE_CHW", size),
              "beta_desc": desc("VECTOR", [channels], [0.0] * channels),
              "gamma_desc": desc("VECTOR", [channels], [1.0] * channels), "momentum": 0.9, "epsilon": 1e-5}
    if moving:
        params["moving_mean_desc"] = desc("VECTOR", [channels], [0.0] * channels)
        params["moving_variance_desc"] = desc("VECTOR", [channels], [1.0] * channels)
    return params


CONVOLUTION = {
    "i_desc": desc("IMAGE_CHW", [4, 4, 1]),                                    # W, H, C
    "w_desc": desc("CONVOLUTION_WEIGHTS_OIHW", [3, 3, 1, 1], [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "o_desc": desc("IMAGE_CHW", [2, 2, 1]),
    "bias": desc("VECTOR", [1], [0.5]),
    "activation": {"function": "ACTIVATION_FUNCTION_IDENTITY"},
}
ADD_2X1X2 = {"arithmetic_function": "ARITHMETIC_FUNCTION_ADD",
             "binary": {"in1": desc("IMAGE_CHW", [2, 1, 2]), "in1_type": "DESCRIPTOR_TYPE_SAMPLE",
                        "in2": desc("IMAGE_CHW", [2, 1, 2]), "in2_type": "DESCRIPTOR_TYPE_SAMPLE",
                        "out": desc("IMAGE_CHW", [2, 1, 2]), "out_type": "DESCRIPTOR_TYPE_SAMPLE"}}


def values(document) -> np.ndarray:
    """The numbers of a proto3 JSON Buffer ({"values": nested lists}) or descriptor, as float64."""
    if "data" in document:
        document = document["data"]
    return np.asarray(document["values"], dtype=np.float64)


# ------------------------------------------------ independent float64 references of the samples

def _ref_convolution(create, body) -> np.ndarray:
    """Cross-correlation with loops: out[n, y, x] = sum w[ky, kx] in[n, y + ky, x + kx] + bias."""
    x = values(body["in"]).reshape(-1, 4, 4)
    w = values(create["w_desc"]).reshape(3, 3)
    out = np.zeros((x.shape[0], 2, 2))
    for n in range(x.shape[0]):
        for r in range(2):
            for c in range(2):
                out[n, r, c] = sum(w[i, j] * x[n, r + i, c + j] for i in range(3) for j in range(3))
    return out + values(create["bias"])[0]


def _ref_transposed_convolution(create, body) -> np.ndarray:
    """Scatter: out[y + ky, x + kx] += in[y, x] w[ky, kx] (PyTorch's conv_transpose2d)."""
    x = values(body["in"]).reshape(-1, 2, 2)
    w = values(create["w_desc"]).reshape(2, 2)
    out = np.zeros((x.shape[0], 3, 3))
    for n in range(x.shape[0]):
        for r in range(2):
            for c in range(2):
                out[n, r:r + 2, c:c + 2] += x[n, r, c] * w
    return out


def _ref_fully_connected(create, body) -> np.ndarray:
    x = values(body["in"]).reshape(-1, 3)
    w = values(create["w_desc"]).reshape(2, 3)
    return np.maximum(x @ w.T + values(create["bias"]), 0)


def _ref_leaky_relu(create, body) -> np.ndarray:
    x = values(body["in"])
    return np.where(x >= 0, x, create["activation"]["alpha"] * x)


def _ref_max_pool(create, body) -> np.ndarray:
    x = values(body["in"]).reshape(4, 4)
    return np.array([[x[r:r + 2, c:c + 2].max() for c in (0, 2)] for r in (0, 2)])


def _ref_softmax_cross_entropy_mean(create, body) -> np.ndarray:
    x, y = values(body["in"]), values(body["labels"])
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    return np.array([-(y * log_p).sum(axis=1).mean()])


def _batch_normalized(x: np.ndarray, gamma, beta, eps=1e-5) -> np.ndarray:
    """x of shape (N, C, ...), per channel over everything else (biased variance)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return np.reshape(gamma, shape) * (x - mean) / np.sqrt(var + eps) + np.reshape(beta, shape)


def _ref_batch_norm(create, body) -> np.ndarray:
    return _batch_normalized(values(body["in"]), values(create["gamma_desc"]), values(create["beta_desc"]))


def _ref_multiply(create, body) -> np.ndarray:
    a, b = (values(v) for v in body["in"])
    return a * b


def _ref_fused_convolution_batch_norm(create, body) -> np.ndarray:
    conv, norm = create["layers"][0]["convolution"], create["layers"][1]["normalization"]
    mid = _ref_convolution(conv, body)[:, None]          # (N, C=1, 2, 2)
    return _batch_normalized(mid, values(norm["gamma_desc"]), values(norm["beta_desc"]))


def _ref_fused_add_batch_norm(create, body) -> np.ndarray:
    norm = create["layers"][1]["normalization"]
    a, b = (values(v) for v in body["in"])
    return _batch_normalized(a + b, values(norm["gamma_desc"]), values(norm["beta_desc"]))


def _ref_dropout(create, body) -> np.ndarray:
    """Inverted dropout with the documented mask rule: keep = U >= rate, U drawn from PCG64(seed)
    for the whole batch in C order (control 0: one draw per element)."""
    x = values(body["in"])
    keep = np.random.default_rng(create["seed"]).random(x.shape) >= create["rate"]
    return x * keep / (1 - create["rate"])


# ------------------------------------------------------------------------------ error helpers

def _set(path: str, value):
    """A mutation setting ``a.b.c`` (dotted keys of the JSON body) to ``value``."""
    def mutate(body):
        *parents, last = path.split(".")
        for key in parents:
            body = body[key]
        body[last] = value
    return mutate


def _delete(path: str):
    def mutate(body):
        *parents, last = path.split(".")
        for key in parents:
            body = body[key]
        del body[last]
    return mutate


# ------------------------------------------ issue 12, part A: two-input and shape layers (rows below)

def _one_operand_forward(f, x, out):
    """BNNSFilterApplyBatch on a two-input filter with one per-sample operand (the other weights,
    or not read): x is that operand."""
    require(not f.params.beta, "beta 1 adds the output's previous contents: use FilterApplyTwoInputBatch with `out`")
    pair = [None, None]
    pair[f.single_operand] = x
    return f.apply(*pair)


def _one_operand_backward(f, x, y, dy, request):
    """BNNSFilterApplyBackwardBatch on such a filter: in_delta is the per-sample operand's
    gradient, weights_delta the weights operand's."""
    k, weights = f.single_operand, f.weights_operand
    require(not request.compute_bias_delta, f"bias_delta was asked but a {f.kind} filter has no bias")
    require(not request.compute_weights_delta or weights is not None,
            f"weights_delta was asked but this {f.kind} filter has no weights operand")
    pair, wanted = [None, None], [False, False]
    pair[k], wanted[k] = x, bool(request.compute_in_delta)
    if weights is not None:
        wanted["ab".index(weights)] = bool(request.compute_weights_delta)
    grads = f.apply_backward(*pair, dy, a_grad=wanted[0], b_grad=wanted[1])
    return grads[k], grads["ab".index(weights)] if weights is not None else None, None


def _ref_permute_chw_to_hwc(create, body) -> np.ndarray:
    """out dimension k <- in dimension permutation[k]: [2, 0, 1] takes (W, H, C) to (C, W, H),
    i.e. NumPy (C, H, W) -> (H, W, C)."""
    x = values(body["in"]).reshape(-1, 2, 2, 3)
    out = np.zeros((x.shape[0], 2, 3, 2))
    for n, c, h, w in np.ndindex(*x.shape):
        out[n, h, w, c] = x[n, c, h, w]
    return out


def _ref_padding(mode: str):
    def reference(create, body) -> np.ndarray:
        """Each padded index mapped to its source by hand: reflect mirrors about the edge element
        (not repeated), symmetric about the edge itself (repeated); constant fills 1.0."""
        x = values(body["in"]).reshape(-1, 2, 3)        # (N, H, W)
        sizes = create["padding_size"]                  # W before/after, H before/after
        (wb, wa), (hb, ha) = (sizes[0], sizes[1]), (sizes[2], sizes[3])

        def source(i, n):
            if 0 <= i < n:
                return i
            if mode == "reflect":
                return -i if i < 0 else 2 * (n - 1) - i
            return -i - 1 if i < 0 else 2 * n - 1 - i
        out = np.ones((x.shape[0], 2 + hb + ha, 3 + wb + wa))
        for n, r, c in np.ndindex(*out.shape):
            i, j = r - hb, c - wb
            if mode == "constant":
                if 0 <= i < 2 and 0 <= j < 3:
                    out[n, r, c] = x[n, i, j]
            else:
                out[n, r, c] = x[n, source(i, 2), source(j, 3)]
        return out
    return reference


def _ref_resize_bilinear(create, body) -> np.ndarray:
    """PyTorch's bilinear rule, align_corners false: source s = (o + 0.5) / 2 - 0.5, clamped at 0."""
    x = values(body["in"]).reshape(-1, 2, 2)

    def weights(o):
        s = max((o + 0.5) / 2 - 0.5, 0.0)
        lo = min(int(np.floor(s)), 1)
        return lo, min(lo + 1, 1), s - lo
    out = np.zeros((x.shape[0], 4, 4))
    for n, r, c in np.ndindex(*out.shape):
        r0, r1, tr = weights(r)
        c0, c1, tc = weights(c)
        out[n, r, c] = ((1 - tr) * ((1 - tc) * x[n, r0, c0] + tc * x[n, r0, c1])
                        + tr * ((1 - tc) * x[n, r1, c0] + tc * x[n, r1, c1]))
    return out


def _ref_resize_nearest_align_corners(create, body) -> np.ndarray:
    """Nearest with align_corners: out o takes in round(o * (in - 1) / (out - 1)), 3 -> 6 along W."""
    x = values(body["in"]).reshape(-1, 3)
    src = [int(np.floor(o * 2 / 5 + 0.5)) for o in range(6)]
    return x[:, src]


def _ref_reduction_weighted_l2(create, body) -> np.ndarray:
    """sqrt(sum over W of (x * w)^2), per (C, H)."""
    x = values(body["in"]).reshape(-1, 2, 2, 3)
    w = values(create["w_desc"]).reshape(2, 2, 3)
    return np.sqrt(((x * w) ** 2).sum(axis=-1))


def _ref_reduction_log_sum_exp(create, body) -> np.ndarray:
    x = values(body["in"]).reshape(-1, 6)
    return np.log(np.exp(x).sum(axis=1))


def _ref_gram(create, body) -> np.ndarray:
    """G[f, c] = alpha * sum over (C, H) of x[., ., f] x[., ., c]: features are W (size[0])."""
    x = values(body["in"]).reshape(-1, 4, 3)
    return create["alpha"] * np.einsum("nsf,nsc->nfc", x, x)


def _ref_times_weights(field: str):
    """alpha * X @ W with loops: X (2 x 3) the call's ``field``, W (3 x 2) the filter's weights
    (ib_desc); BroadcastMatMul's and TensorContraction's weights samples alike."""
    def reference(create, body) -> np.ndarray:
        x = values(body[field]).reshape(-1, 2, 3)
        w = values(create["ib_desc"]).reshape(3, 2)
        out = np.zeros((x.shape[0], 2, 2))
        for n, i, k in np.ndindex(*out.shape):
            out[n, i, k] = create["alpha"] * sum(x[n, i, j] * w[j, k] for j in range(3))
        return out
    return reference


def _ref_matmul_broadcast_trans_b(create, body) -> np.ndarray:
    """A (2, 2, 3) @ B^T with B (1, 2, 3): B's one matrix is used against both of A's."""
    a = values(body["in_a"]).reshape(-1, 2, 2, 3)
    b = values(body["in_b"]).reshape(-1, 1, 2, 3)
    out = np.zeros((a.shape[0], 2, 2, 2))
    for n, m, i, j in np.ndindex(*out.shape):
        out[n, m, i, j] = sum(a[n, m, i, k] * b[n, 0, j, k] for k in range(3))
    return out


def _ref_contraction(create, body) -> np.ndarray:
    """o_pq = sum_ij a_ijp b_ijq (the header's example)."""
    a = values(body["in_a"]).reshape(-1, 2, 2, 2)
    b = values(body["in_b"]).reshape(-1, 2, 2, 3)
    out = np.zeros((a.shape[0], 2, 3))
    for n, p, q in np.ndindex(*out.shape):
        out[n, p, q] = sum(a[n, i, j, p] * b[n, i, j, q] for i in range(2) for j in range(2))
    return out


_CHW_3X2X2 = [[[1, -2, 3], [0.5, 4, -1]], [[2, 0, -3], [1, 1.5, 2]]]            # one item, C=2, H=2, W=3
_CHW_3X2X2_B = [[[0, 1, -1], [2, -0.5, 1]], [[-2, 3, 0.5], [1, 0, -1]]]
_HW_3X2 = [[[1, 2, -1], [0.5, -3, 2]], [[2, -1, 0], [1, 1, -2]]]                 # two items, H=2, W=3


def _padding_sample(mode: str, sizes: list) -> Sample:
    out_size = [3 + sizes[0] + sizes[1], 2 + sizes[2] + sizes[3], 1]
    create: dict[str, Any] = {"i_desc": desc("IMAGE_CHW", [3, 2, 1]), "o_desc": desc("IMAGE_CHW", out_size),
              "padding_size": sizes + [0, 0], "padding_mode": f"PADDING_MODE_{mode.upper()}"}
    if mode == "constant":
        create["padding_value"] = 0x3F800000                      # the bits of 1.0f
    delta = np.arange(out_size[0] * out_size[1] * 2, dtype=float).reshape(2, out_size[1], out_size[0]) % 3 - 1
    return Sample(f"padding_{mode}", f"{mode} padding of 3x2 images (W by {sizes[:2]}, H by {sizes[2:4]})", create, (
        Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": _HW_3X2}}),
        Call("FilterApplyBackwardBatch", {"batch_size": 2, "out_delta": {"values": delta.tolist()},
                                          "compute_in_delta": True})),
        _ref_padding(mode), Gradient(0, 1))


_MATMUL_WEIGHTS = {"alpha": 0.5, "b_is_weights": True,
                   "ia_desc": desc("ROW_MAJOR_MATRIX", [3, 2]),                          # A: 2 x 3
                   "ib_desc": desc("ROW_MAJOR_MATRIX", [2, 3], [[1, -1], [0.5, 2], [-2, 1]]),   # B: 3 x 2
                   "o_desc": desc("ROW_MAJOR_MATRIX", [2, 2])}
_A_2X3 = [[[1, 2, 3], [-1, 0, 2]], [[0.5, -1, 1], [2, 1, -3]]]

def _both_weights(body):
    body["a_is_weights"] = True
    body["ia_desc"]["data"] = {"values": [[1, 2, 3], [4, 5, 6]]}


_LAYERS_A = (
    Kind("permute", decoders.permute_parameters, permute.PermuteFilter,
         ("FilterApplyBatch",), ("PermuteFilterApplyBackwardBatch", "FilterApplyBackwardBatch"),
         samples=(Sample("permute", "CHW -> HWC: permutation [2, 0, 1] of 3x2 images with 2 channels", {
             "i_desc": desc("IMAGE_CHW", [3, 2, 2]), "o_desc": desc("IMAGE_CHW", [2, 3, 2]),
             "permutation": [2, 0, 1]}, (
                 Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [_CHW_3X2X2, _CHW_3X2X2_B]}}),
                 Call("PermuteFilterApplyBackwardBatch", {
                     "batch_size": 2, "out_delta": {"values": np.arange(24.0).reshape(2, 2, 3, 2).tolist()}})),
             _ref_permute_chw_to_hwc, Gradient(0, 1)),),
         errors=(ErrorInput("not_a_permutation", _set("permutation", [0, 0, 1]), "permutation"),
                 ErrorInput("output_size_mismatch", _set("o_desc.size", [3, 2, 2]), "o_desc"))),
    Kind("padding", decoders.padding_parameters, padding.PaddingFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         samples=(_padding_sample("reflect", [2, 1, 1, 0]), _padding_sample("symmetric", [2, 3, 0, 2]),
                  _padding_sample("constant", [1, 0, 2, 1])),
         errors=(ErrorInput("reflect_too_wide", _set("padding_size", [3, 0, 1, 0, 0, 0]), "too wide"),
                 ErrorInput("odd_padding_size", _set("padding_size", [2, 1, 1, 0, 0]), "pairs"),
                 ErrorInput("output_size_mismatch", _set("o_desc.size", [7, 3, 1]), "o_desc"))),
    Kind("resize", decoders.resize_parameters, resize.ResizeFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         samples=(Sample("resize_bilinear", "bilinear 2x upsampling of a 2x2 image (align_corners false)", {
             "method": "INTERPOLATION_METHOD_LINEAR", "i_desc": desc("IMAGE_CHW", [2, 2, 1]),
             "o_desc": desc("IMAGE_CHW", [4, 4, 1])}, (
                 Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [[[1, 2], [3, -1]], [[0, 4], [-2, 1]]]}}),
                 Call("FilterApplyBackwardBatch", {
                     "batch_size": 2, "out_delta": {"values": (np.arange(32.0).reshape(2, 4, 4) % 5 - 2).tolist()},
                     "compute_in_delta": True})),
             _ref_resize_bilinear, Gradient(0, 1)),
             Sample("resize_nearest_align_corners", "nearest 3 -> 6 along vectors, align_corners true", {
                 "method": "INTERPOLATION_METHOD_NEAREST", "i_desc": desc("VECTOR", [3]), "o_desc": desc("VECTOR", [6]),
                 "align_corners": True}, (
                     Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [[1, 2, 3], [-1, 5, 0.5]]}}),
                     Call("FilterApplyBackwardBatch", {"batch_size": 2, "out_delta": {
                         "values": [[1, 2, 3, 4, 5, 6], [1, -1, 1, -1, 1, -1]]}, "compute_in_delta": True})),
                 _ref_resize_nearest_align_corners, Gradient(0, 1))),
         errors=(ErrorInput("not_an_integral_scale", _set("o_desc.size", [3, 4, 1]), "integral"),
                 ErrorInput("unknown_method", _set("method", 7), "method"))),
    Kind("reduction", decoders.reduction_parameters, reduction.ReductionFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         samples=(Sample("reduction_weighted_l2", "weighted L2 norm over W (size[0]) of 3x2 images with 2 channels", {
             "i_desc": desc("IMAGE_CHW", [3, 2, 2]), "o_desc": desc("IMAGE_CHW", [1, 2, 2]),
             "w_desc": desc("IMAGE_CHW", [3, 2, 2], [[[1, 0.5, 2], [1, 1, -1]], [[0.5, 2, 1], [-1, 1, 0.25]]]),
             "reduce_func": "REDUCE_FUNCTION_L2_NORM"}, (
                 Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [_CHW_3X2X2, _CHW_3X2X2_B]}}),
                 Call("FilterApplyBackwardBatch", {
                     "batch_size": 2, "in": {"values": [_CHW_3X2X2, _CHW_3X2X2_B]},
                     "out_delta": {"values": [[[[1], [-1]], [[2], [0.5]]], [[[0.5], [1]], [[-1], [1]]]]},
                     "compute_in_delta": True, "compute_weights_delta": True})),
             _ref_reduction_weighted_l2, Gradient(0, 1),
             more_gradients=(Gradient(0, 1, parameter="w_desc", delta="weights_delta"),)),
             Sample("reduction_log_sum_exp", "log-sum-exp of each 3x2 image (W and H reduced)", {
                 "i_desc": desc("IMAGE_CHW", [3, 2, 1]), "o_desc": desc("IMAGE_CHW", [1, 1, 1]),
                 "reduce_func": "REDUCE_FUNCTION_LOG_SUM_EXP"}, (
                     Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": _HW_3X2}}),
                     Call("FilterApplyBackwardBatch", {"batch_size": 2, "in": {"values": _HW_3X2},
                                                       "out_delta": {"values": [1.5, -1]}, "compute_in_delta": True})),
                 _ref_reduction_log_sum_exp, Gradient(0, 1))),
         errors=(ErrorInput("none_function", _set("reduce_func", "REDUCE_FUNCTION_NONE"), "BNNSCopy"),
                 ErrorInput("size_not_reduced_to_one", _set("o_desc.size", [2, 2, 2]), "o_desc.size"),
                 ErrorInput("weights_size_mismatch", _set("w_desc.size", [3, 2, 1]), "w_desc"))),
    Kind("gram", decoders.gram_parameters, contraction.GramFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         samples=(Sample("gram", "Gram matrix (alpha 0.5) of the 3 features (W) of 3x2 images with 2 channels", {
             "alpha": 0.5, "i_desc": desc("IMAGE_CHW", [3, 2, 2]), "o_desc": desc("ROW_MAJOR_MATRIX", [3, 3])}, (
                 Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [_CHW_3X2X2, _CHW_3X2X2_B]}}),
                 Call("FilterApplyBackwardBatch", {
                     "batch_size": 2, "in": {"values": [_CHW_3X2X2, _CHW_3X2X2_B]},
                     "out_delta": {"values": (np.arange(18.0).reshape(2, 3, 3) % 4 - 1.5).tolist()},
                     "compute_in_delta": True})),
             _ref_gram, Gradient(0, 1)),),
         errors=(ErrorInput("rank_two_input", _set("i_desc", desc("ROW_MAJOR_MATRIX", [3, 4])), "rank"),
                 ErrorInput("output_size_mismatch", _set("o_desc.size", [2, 2]), "o_desc"))),
    Kind("broadcast_matmul", decoders.broadcast_mat_mul_parameters, contraction.BroadcastMatMulFilter,
         ("FilterApplyTwoInputBatch", "FilterApplyBatch"), ("FilterApplyBackwardTwoInputBatch", "FilterApplyBackwardBatch"),
         generic_forward=_one_operand_forward, generic_backward=_one_operand_backward,
         samples=(Sample("broadcast_matmul_weights", "0.5 * A @ B, A a per-sample 2x3 matrix, B 3x2 weights",
                         _MATMUL_WEIGHTS, (
                             Call("FilterApplyTwoInputBatch", {"batch_size": 2, "in_a": {"values": _A_2X3}}),
                             Call("FilterApplyBackwardTwoInputBatch", {
                                 "batch_size": 2, "in_a": {"values": _A_2X3},
                                 "out_delta": {"values": [[[1, -1], [0.5, 2]], [[0, 1], [-1, 1]]]},
                                 "compute_in_a_delta": True, "compute_weights_delta": True})),
                         _ref_times_weights("in_a"), Gradient(0, 1, input="in_a", delta="in_a_delta"),
                         more_gradients=(Gradient(0, 1, parameter="ib_desc", delta="weights_delta"),)),
                  Sample("broadcast_matmul_broadcast", "A (2 matrices of 2x3) @ B^T, B's one 2x3 matrix broadcast", {
                      "alpha": 1.0, "trans_b": True, "ia_desc": desc("3D_FIRST_MAJOR", [2, 2, 3]),
                      "ib_desc": desc("3D_FIRST_MAJOR", [1, 2, 3]), "o_desc": desc("3D_FIRST_MAJOR", [2, 2, 2])}, (
                          Call("FilterApplyTwoInputBatch", {"batch_size": 1, "in_a": {"values": _A_2X3},
                                                            "in_b": {"values": [[[1, 0, -1], [2, 1, 0.5]]]}}),
                          Call("FilterApplyBackwardTwoInputBatch", {
                              "batch_size": 1, "in_a": {"values": _A_2X3},
                              "in_b": {"values": [[[1, 0, -1], [2, 1, 0.5]]]},
                              "out_delta": {"values": [[[1, 2], [-1, 0]], [[0.5, 1], [1, -2]]]},
                              "compute_in_a_delta": True, "compute_in_b_delta": True})),
                      _ref_matmul_broadcast_trans_b, Gradient(0, 1, input="in_a", delta="in_a_delta"),
                      more_gradients=(Gradient(0, 1, input="in_b", delta="in_b_delta"),))),
         errors=(ErrorInput("inner_sizes_differ", _set("ia_desc.size", [4, 2]), "inner sizes"),
                 ErrorInput("beta_not_0_or_1", _set("beta", 0.5), "beta"),
                 ErrorInput("weights_without_data", _delete("ib_desc.data"), "iB_desc"),
                 ErrorInput("both_weights", _both_weights, "per-sample"))),
    Kind("tensor_contraction", decoders.tensor_contraction_parameters, contraction.TensorContractionFilter,
         ("FilterApplyTwoInputBatch", "FilterApplyBatch"), ("FilterApplyBackwardTwoInputBatch", "FilterApplyBackwardBatch"),
         generic_forward=_one_operand_forward, generic_backward=_one_operand_backward,
         samples=(Sample("tensor_contraction", "o_pq = sum_ij a_ijp b_ijq (the header's example)", {
             "operation": "a_ijp, b_ijq -> o_pq", "alpha": 1.0, "ia_desc": desc("3D_FIRST_MAJOR", [2, 2, 2]),
             "ib_desc": desc("3D_FIRST_MAJOR", [2, 2, 3]), "o_desc": desc("2D_FIRST_MAJOR", [2, 3])}, (
                 Call("FilterApplyTwoInputBatch", {"batch_size": 1, "in_a": {"values": [[[1, 2], [0, -1]], [[2, 0.5], [1, 1]]]},
                                                   "in_b": {"values": _CHW_3X2X2}}),
                 Call("FilterApplyBackwardTwoInputBatch", {
                     "batch_size": 1, "in_a": {"values": [[[1, 2], [0, -1]], [[2, 0.5], [1, 1]]]},
                     "in_b": {"values": _CHW_3X2X2}, "out_delta": {"values": [[1, -1, 0.5], [2, 0, 1]]},
                     "compute_in_a_delta": True, "compute_in_b_delta": True})),
             _ref_contraction, Gradient(0, 1, input="in_a", delta="in_a_delta"),
             more_gradients=(Gradient(0, 1, input="in_b", delta="in_b_delta"),)),
             Sample("tensor_contraction_weights", "y_ik = 2 sum_j x_ij w_jk, w the filter's weights, as a one-input filter", {
                 "operation": "x_ij, w_jk -> y_ik", "alpha": 2.0, "ia_desc": desc("2D_FIRST_MAJOR", [2, 3]),
                 "ib_desc": desc("2D_FIRST_MAJOR", [3, 2], [[1, -1], [0.5, 2], [-2, 1]]),
                 "o_desc": desc("2D_FIRST_MAJOR", [2, 2])}, (
                     Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": _A_2X3}}),
                     Call("FilterApplyBackwardBatch", {
                         "batch_size": 2, "in": {"values": _A_2X3},
                         "out_delta": {"values": [[[1, -1], [0.5, 2]], [[0, 1], [-1, 1]]]},
                         "compute_in_delta": True, "compute_weights_delta": True})),
                 _ref_times_weights("in"), Gradient(0, 1),
                 more_gradients=(Gradient(0, 1, parameter="ib_desc", delta="weights_delta"),))),
         errors=(ErrorInput("malformed_operation", _set("operation", "a_ij b_jk"), "->"),
                 ErrorInput("extent_mismatch", _set("ib_desc.size", [3, 2, 3]), "extent"),
                 ErrorInput("both_weights", _set("operation", "w_ijp, w_ijq -> o_pq"), "weights"))),
)


# ----------------------------------------------------- issue 12, part B: attention and embedding

def _ref_embedding(create, body) -> np.ndarray:
    """out[n, p, :] = dictionary row idx[n, p] (dictionary 2DLastMajor (dim, rows): view (rows, dim))."""
    table = values(create["dictionary"])
    return table[values(body["in"]).astype(int)]


def _ref_multihead_attention(create, body) -> np.ndarray:
    """Per sample and head, with loops over heads: Q = x Wq[:, :, h] + bq[:, h] (K, V likewise),
    P = softmax(Q Kᵀ / sqrt(dk) + X, masked keys at -inf), the heads' P V concatenated head-major,
    times Wo plus bo. Descriptors are 2D/3DFirstMajor, so the JSON nesting is BNNS's dims order."""
    w = {name: values(create[name]["weights"]) for name in ("query", "key", "value", "output")}
    b: dict[str, Any] = {name: values(create[name]["bias"]) if "bias" in create[name] else None
                         for name in ("query", "key", "value")}
    xq, xk, xv = (values(body[name]) for name in ("query", "key", "value"))
    mask = values(body["key_mask"]) if "key_mask" in body else np.zeros(xk.shape[:2])
    extra = values(body["add_to_attention"]) if "add_to_attention" in body else 0.0
    heads, d_key = w["query"].shape[2], w["query"].shape[1]
    out = []
    for n in range(xq.shape[0]):
        context = []
        for h in range(heads):
            q, k, v = (x[n] @ w[name][:, :, h] + (0 if b[name] is None else b[name][:, h])
                       for x, name in ((xq, "query"), (xk, "key"), (xv, "value")))
            scores = q @ k.T / np.sqrt(d_key) + extra
            scores[:, mask[n] != 0] = -np.inf
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            context.append((p / p.sum(axis=1, keepdims=True)) @ v)
        out.append(np.concatenate(context, axis=1) @ w["output"] + values(create["output"]["bias"]))
    return np.array(out)


def _first_major(size: list, values_=None) -> dict:
    return desc(f"{len(size)}D_FIRST_MAJOR", size, values_)


MHA_SELF_ATTENTION = {     # L = S = 2, d_model 2, 2 heads of d_key = d_value = 1, d_out 2
    "query": {"target_desc": _first_major([2, 2]), "weights": _first_major([2, 1, 2], [[[0.5, -0.3]], [[0.2, 0.8]]]),
              "bias": _first_major([1, 2], [[0.1, -0.1]])},
    "key": {"target_desc": _first_major([2, 2]), "weights": _first_major([2, 1, 2], [[[0.4, 0.1]], [[-0.6, 0.3]]])},
    "value": {"target_desc": _first_major([2, 2]), "weights": _first_major([2, 1, 2], [[[1.0, -0.5]], [[0.3, 0.7]]]),
              "bias": _first_major([1, 2], [[0.0, 0.2]])},
    "output": {"target_desc": _first_major([2, 2]), "weights": _first_major([2, 2], [[1.0, 0.5], [-0.5, 1.0]]),
               "bias": desc("VECTOR", [2], [0.1, -0.2])},
}
MHA_INPUT = [[[1, 2], [0, -1]], [[0.5, 0.5], [-1, 1]]]
MHA_FORWARD = {"batch_size": 2, "query": {"values": MHA_INPUT}, "key": {"values": MHA_INPUT},
               "value": {"values": MHA_INPUT}, "key_mask": {"values": [[0, 0], [0, 1]]},
               "add_to_attention": {"values": [[0, -0.5], [0.25, 0]]}, "backprop_cache": True}
MHA_BACKWARD = {"batch_size": 2, "output_delta": {"values": [[[1, -1], [0.5, 2]], [[-1, 0], [1, 1]]]},
                "compute_query_delta": True, "compute_key_delta": True, "compute_value_delta": True,
                "compute_parameter_deltas": True}


def _mha_gradient(field: str = "", parameter: str = "", delta: str = "") -> Gradient:
    return Gradient(0, 1, input=field or "query", output="output", delta=delta or f"{field}_delta",
                    out_delta="output_delta", parameter=parameter)


_MHA_GRADIENTS = tuple(_mha_gradient(field) for field in ("key", "value")) + tuple(
    _mha_gradient(parameter=path, delta=path.replace(".", "_") + "_delta")
    for path in ("query.weights", "query.bias", "key.weights", "value.weights", "value.bias", "output.weights",
                 "output.bias"))

EMBEDDING = {"i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [3], "data_type": "DATA_TYPE_INT32"},
             "o_desc": desc("2D_LAST_MAJOR", [2, 3]),
             "dictionary": desc("2D_LAST_MAJOR", [2, 4], [[1, 2], [11, 12], [21, 22], [31, 32]])}

_GENERIC_ENTRY_POINTS = ("FilterApplyBatch",), ("FilterApplyBackwardBatch",)
PART_B_KINDS = (
    Kind("multihead_attention", decoders.multihead_attention_parameters, attention.MultiheadAttentionFilter,
         ("ApplyMultiheadAttention",), ("ApplyMultiheadAttentionBackward",),
         samples=(Sample("multihead_attention", "self-attention over 2 positions, 2 heads, with a key mask and an "
                         "additive attention mask; the backward reads the forward's backprop cache",
                         MHA_SELF_ATTENTION, (
                             Call("ApplyMultiheadAttention", MHA_FORWARD),
                             Call("ApplyMultiheadAttentionBackward", MHA_BACKWARD,
                                  feed=(("backprop_cache", 0, "backprop_cache"),))),
                         _ref_multihead_attention, _mha_gradient("query"), more_gradients=_MHA_GRADIENTS,
                         result="output"),),
         errors=(ErrorInput("heads_disagree", _set("key.weights.size", [2, 1, 3]), "key.weights"),
                 ErrorInput("output_weights_size", _set("output.weights.size", [3, 2]), "output.weights"),
                 ErrorInput("no_output", _delete("output"), "output"),
                 ErrorInput("one_attention_bias", _set("key_attn_bias", _first_major([1, 2], [[0, 0]])),
                            "together"))),
    Kind("embedding", decoders.embedding_parameters, embedding.EmbeddingFilter, *_GENERIC_ENTRY_POINTS,
         input_dtypes=layout.INTEGER_DTYPES,
         samples=(Sample("embedding", "3 indices into a dictionary of 4 two-element rows (Apple's example, smaller)",
                         EMBEDDING, (
                             Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [[1, 3, 1], [0, 2, 2]]}}),
                             Call("FilterApplyBackwardBatch", {
                                 "batch_size": 2, "in": {"values": [[1, 3, 1], [0, 2, 2]]},
                                 "out_delta": {"values": [[[1, 0], [0, 1], [2, 2]], [[-1, 1], [0.5, 0], [1, -1]]]},
                                 "compute_weights_delta": True})),
                         _ref_embedding, Gradient(0, 1, delta="weights_delta", parameter="dictionary")),),
         errors=(ErrorInput("float_indices", _set("i_desc.data_type", "DATA_TYPE_FLOAT32"), "i_desc.data_type"),
                 ErrorInput("output_size", _set("o_desc.size", [3, 3]), "o_desc"),
                 ErrorInput("unknown_flag", _set("flags", 2), "flags"))),
)


# ---------------------------------------------------------------------------------- the table

_GENERIC = ("FilterApplyBatch",), ("FilterApplyBackwardBatch",)
_NORM_TYPES = fused.NORM_TYPES

KINDS: dict = {k.case: k for k in (
    Kind("convolution", decoders.convolution_parameters, convolution.ConvolutionFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         filter_types=(fused.CONVOLUTION,),
         samples=(Sample("convolution", "1-channel 3x3 convolution (a Laplacian, bias 0.5) over a 4x4 image",
                         CONVOLUTION, (
                             Call("FilterApplyBatch", {"batch_size": 1, "in": {"values": IMAGE_4X4}}),
                             Call("FilterApplyBackwardBatch", {
                                 "batch_size": 1, "in": {"values": IMAGE_4X4}, "out_delta": {"values": [[1, 0], [0, 1]]},
                                 "compute_in_delta": True, "compute_weights_delta": True, "compute_bias_delta": True})),
                         _ref_convolution, Gradient(0, 1)),),
         errors=(ErrorInput("output_size_mismatch", _set("o_desc.size", [3, 3, 1]), "o_desc"),
                 ErrorInput("weights_without_data", _delete("w_desc.data"), "w_desc"))),
    Kind("transposed_convolution", decoders.convolution_parameters, convolution.TransposedConvolutionFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         filter_types=(fused.TRANSPOSED_CONVOLUTION,),
         samples=(Sample("transposed_convolution", "1-channel 2x2 transposed convolution of a 2x2 image (3x3 out)", {
             "i_desc": desc("IMAGE_CHW", [2, 2, 1]),
             "w_desc": desc("CONVOLUTION_WEIGHTS_OIHW", [2, 2, 1, 1], [[1, 2], [-1, 0.5]]),
             "o_desc": desc("IMAGE_CHW", [3, 3, 1])}, (
                 Call("FilterApplyBatch", {"batch_size": 1, "in": {"values": [[1, 2], [3, -1]]}}),
                 Call("FilterApplyBackwardBatch", {
                     "batch_size": 1, "in": {"values": [[1, 2], [3, -1]]},
                     "out_delta": {"values": [[1, 0, 1], [0, 2, 0], [1, 0, -1]]},
                     "compute_in_delta": True, "compute_weights_delta": True})),
             _ref_transposed_convolution, Gradient(0, 1)),),
         errors=(ErrorInput("output_size_mismatch", _set("o_desc.size", [5, 5, 1]), "o_desc"),)),
    Kind("fully_connected", decoders.fully_connected_parameters, convolution.FullyConnectedFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         filter_types=(fused.FULLY_CONNECTED,),
         samples=(Sample("fully_connected", "3 -> 2 fully connected layer with ReLU", {
             "i_desc": desc("VECTOR", [3]),
             "w_desc": desc("ROW_MAJOR_MATRIX", [3, 2], [[1, 0, -1], [0.5, 0.5, 0.5]]),   # size (I, O): row o = W[o, :]
             "o_desc": desc("VECTOR", [2]), "bias": desc("VECTOR", [2], [0, 1]),
             "activation": {"function": "ACTIVATION_FUNCTION_RECTIFIED_LINEAR"}}, (
                 Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [[1, 2, 3], [3, 2, 1]]}}),
                 Call("FilterApplyBackwardBatch", {
                     "batch_size": 2, "in": {"values": [[1, 2, 3], [3, 2, 1]]}, "out": {"values": [[0, 4], [2, 4]]},
                     "out_delta": {"values": [[1, 1], [1, 1]]}, "compute_in_delta": True,
                     "compute_weights_delta": True})),
             _ref_fully_connected, Gradient(0, 1)),),
         errors=(ErrorInput("weights_size_mismatch", _set("w_desc.size", [4, 2]), "w_desc"),)),
    Kind("activation", decoders.activation_parameters, activation.ActivationFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         generic_backward=_activation_backward,
         samples=(Sample("activation", "leaky ReLU (alpha 0.1) over 4-vectors", {
             "i_desc": desc("VECTOR", [4]), "o_desc": desc("VECTOR", [4]),
             "activation": {"function": "ACTIVATION_FUNCTION_LEAKY_RECTIFIED_LINEAR", "alpha": 0.1}}, (
                 Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": [[-2, -0.5, 0.5, 2], [1, -1, 3, -3]]}}),
                 Call("FilterApplyBackwardBatch", {
                     "batch_size": 2, "in": {"values": [[-2, -0.5, 0.5, 2], [1, -1, 3, -3]]},
                     "out_delta": {"values": [[1, 1, 1, 1], [1, -1, 2, 0.5]]}, "compute_in_delta": True})),
             _ref_leaky_relu, Gradient(0, 1)),),
         errors=(ErrorInput("unknown_function", _set("activation.function", 999), "999"),
                 ErrorInput("shape_change", _set("o_desc.size", [5]), "o_desc"))),
    Kind("pooling", decoders.pooling_parameters, pooling.PoolingFilter,
         ("FilterApplyBatch", "PoolingFilterApplyBatch"), ("PoolingFilterApplyBackwardBatch",),
         generic_forward=_pooling_forward,
         samples=(Sample("pooling", "2x2 max pooling, stride 2, over a 4x4 image", {
             "i_desc": desc("IMAGE_CHW", [4, 4, 1]), "o_desc": desc("IMAGE_CHW", [2, 2, 1]),
             "pooling_function": "POOLING_FUNCTION_MAX", "k_width": 2, "k_height": 2, "x_stride": 2, "y_stride": 2}, (
                 Call("PoolingFilterApplyBatch", {"batch_size": 1, "in": {"values": IMAGE_4X4}, "compute_indices": True,
                                                  "indices_data_type": "DATA_TYPE_UINT64"}),
                 Call("PoolingFilterApplyBackwardBatch", {
                     "batch_size": 1, "in": {"values": IMAGE_4X4}, "out": {"values": [[3, 2], [2, 4]]},
                     "out_delta": {"values": [[1, -1], [2, 1]]}, "compute_in_delta": True})),
             _ref_max_pool, Gradient(0, 1)),),
         errors=(ErrorInput("zero_kernel", _set("k_width", 0), "k_width"),)),
    Kind("loss", decoders.loss_parameters, loss.LossFilter, ("LossFilterApplyBatch",), ("LossFilterApplyBackwardBatch",),
         samples=(Sample("loss", "softmax cross-entropy over 3 classes, mean over the batch", {
             "function": "LOSS_FUNCTION_SOFTMAX_CROSS_ENTROPY", "i_desc": desc("VECTOR", [3]),
             "o_desc": desc("VECTOR", [1]), "reduction": "LOSS_REDUCTION_MEAN"}, (
                 Call("LossFilterApplyBatch", {"batch_size": 2, "in": {"values": [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]},
                                               "labels": {"values": [[1, 0, 0], [0, 1, 0]]}, "compute_in_delta": True}),
                 Call("LossFilterApplyBackwardBatch", {
                     "batch_size": 2, "in": {"values": [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]},
                     "labels": {"values": [[1, 0, 0], [0, 1, 0]]}, "out_delta": {"values": [1.0]}})),
             _ref_softmax_cross_entropy_mean, Gradient(0, 1)),),
         errors=(ErrorInput("unknown_function", _set("function", 99), "99"),
                 ErrorInput("reduced_output_too_big", _set("o_desc.size", [3]), "o_desc"))),
    Kind("normalization", decoders.normalization_parameters, normalization.NormalizationFilter,
         ("NormalizationFilterApplyBatch",), ("NormalizationFilterApplyBackwardBatch",),
         filter_types=_NORM_TYPES, fused_type=lambda message: int(message.type),
         samples=(Sample("normalization", "batch norm over 2 channels of 1x2 images, with moving statistics",
                         batch_norm([2, 1, 2], 2, moving=True), (
                             Call("NormalizationFilterApplyBatch", {"batch_size": 2, "in": {"values": CHW_2X1X2},
                                                                    "training": True}),
                             Call("NormalizationFilterApplyBackwardBatch", {
                                 "batch_size": 2, "out_delta": {"values": [[[1, 0], [0, 1]], [[1, 0], [0, -1]]]},
                                 "compute_in_delta": True, "compute_beta_delta": True, "compute_gamma_delta": True})),
                         _ref_batch_norm, Gradient(0, 1)),),
         errors=(ErrorInput("wrong_beta_size", _set("beta_desc.size", [3]), "beta"),
                 ErrorInput("negative_moving_variance", _set("moving_variance_desc.data.values", [-1, 1]), "negative"))),
    Kind("arithmetic", decoders.arithmetic_parameters, arithmetic.ArithmeticFilter,
         ("ArithmeticFilterApplyBatch",), ("ArithmeticFilterApplyBackwardBatch",), filter_types=(fused.ARITHMETIC,),
         samples=(Sample("arithmetic", "element-wise product of two 3-vectors", {
             "arithmetic_function": "ARITHMETIC_FUNCTION_MULTIPLY",
             "binary": {"in1": desc("VECTOR", [3]), "in1_type": "DESCRIPTOR_TYPE_SAMPLE",
                        "in2": desc("VECTOR", [3]), "in2_type": "DESCRIPTOR_TYPE_SAMPLE",
                        "out": desc("VECTOR", [3]), "out_type": "DESCRIPTOR_TYPE_SAMPLE"}}, (
                 Call("ArithmeticFilterApplyBatch", {"batch_size": 1, "in": [{"values": [1, 2, 3]},
                                                                            {"values": [4, 5, 6]}]}),
                 Call("ArithmeticFilterApplyBackwardBatch", {
                     "batch_size": 1, "in": [{"values": [1, 2, 3]}, {"values": [4, 5, 6]}],
                     "compute_in_delta": [True, True], "out_delta": {"values": [1, -1, 2]}})),
             _ref_multiply, Gradient(0, 1, index=0)),),
         errors=(ErrorInput("unary_fields_for_a_binary_function",
                            lambda body: body.update(unary={"in_": body["binary"]["in1"], "out": body.pop("binary")["out"]}),
                            "takes 2 inputs"),
                 ErrorInput("no_function_fields", lambda body: body.pop("binary"), "arithmetic_function_fields"))),
    Kind("dropout", decoders.dropout_parameters, dropout.DropoutFilter, ("FilterApplyBatch",), ("FilterApplyBackwardBatch",),
         generic_forward=_training_forward,
         samples=(Sample("dropout", "dropout at rate 0.5 over 2-channel 1x2 images, seeded", {
             "i_desc": desc("IMAGE_CHW", [2, 1, 2]), "o_desc": desc("IMAGE_CHW", [2, 1, 2]), "rate": 0.5, "seed": 42}, (
                 Call("FilterApplyBatch", {"batch_size": 2, "in": {"values": CHW_2X1X2}}),
                 Call("FilterApplyBackwardBatch", {"batch_size": 2, "out_delta": {"values": CHW_2X1X2_B},
                                                   "compute_in_delta": True})),
             _ref_dropout, no_gradient="each forward draws a new mask, so finite differences cannot hold it "
                                       "fixed; tests/kernels/test_dropout.py checks the backward"),),
         errors=(ErrorInput("rate_one", _set("rate", 1.0), "rate"),
                 ErrorInput("shape_change", _set("o_desc.size", [2, 2, 1]), "o_desc"),
                 ErrorInput("control_beyond_rank", _set("control", 16), "control"))),
    Kind("quantization", decoders.quantization_parameters, fused.QuantizationFilter, creatable=False,
         filter_types=(fused.QUANTIZATION,)),
    Kind("fused", fused_params, fused.FusedFilter,
         ("FusedFilterApplyBatch", "FusedFilterApplyMultiInputBatch"),
         ("FusedFilterApplyBackwardBatch", "FusedFilterApplyBackwardMultiInputBatch"),
         samples=(
             Sample("fused_convolution_batch_norm", "the convolution example followed by batch norm",
                    {"layers": [{"convolution": CONVOLUTION},
                                {"normalization": batch_norm([2, 2, 1], 1, moving=False)}]}, (
                        Call("FusedFilterApplyBatch", {"batch_size": 2, "in": {"values": [IMAGE_4X4, IMAGE_4X4_B]},
                                                       "training": True}),
                        Call("FusedFilterApplyBackwardBatch", {
                            "batch_size": 2, "in": {"values": [IMAGE_4X4, IMAGE_4X4_B]},
                            "out_delta": {"values": [[[1, 0], [0, 1]], [[0, 1], [-1, 0]]]}, "compute_in_delta": True,
                            "compute_delta_parameters": [True, True, True, True]})),
                    _ref_fused_convolution_batch_norm, Gradient(0, 1)),
             Sample("fused_add_batch_norm", "the sum of two inputs followed by batch norm over 2 channels",
                    {"layers": [{"arithmetic": ADD_2X1X2}, {"normalization": batch_norm([2, 1, 2], 2, moving=False)}]}, (
                        Call("FusedFilterApplyMultiInputBatch", {
                            "batch_size": 2, "in": [{"values": CHW_2X1X2}, {"values": CHW_2X1X2_B}], "training": True}),
                        Call("FusedFilterApplyBackwardMultiInputBatch", {
                            "batch_size": 2, "in": [{"values": CHW_2X1X2}, {"values": CHW_2X1X2_B}],
                            "compute_in_delta": [True, True],
                            "out_delta": {"values": [[[1, 0], [0, 1]], [[1, 0], [0, -1]]]},
                            "compute_delta_parameters": [True, True]})),
                    _ref_fused_add_batch_norm, Gradient(0, 1, index=1))),
         errors=(ErrorInput("three_members", lambda body: body["layers"].append(body["layers"][1]), "exactly two"),
                 ErrorInput("normalization_first", lambda body: body["layers"].reverse(), "not a pair"))),
    *_LAYERS_A,
) + PART_B_KINDS}

CREATABLE = {case: kind for case, kind in KINDS.items() if kind.creatable}
FUSED_MEMBERS = {case: kind for case, kind in KINDS.items() if kind.filter_types}
FUSED_MEMBER_CASE = {t: case for case, kind in FUSED_MEMBERS.items() for t in kind.filter_types}


def served_by(rpc: str) -> frozenset:
    """The kinds an entry point serves (its apply or backward RPC)."""
    return _SERVED.get(rpc, frozenset())


_SERVED: dict = {}
for _kind in KINDS.values():
    for _rpc in _kind.apply + _kind.backward:
        _SERVED[_rpc] = _SERVED.get(_rpc, frozenset()) | {_kind.case}


def samples() -> list:
    """(kind, sample) for every sample of every creatable kind, in table order."""
    return [(kind, sample) for kind in CREATABLE.values() for sample in kind.samples]


def sample_create_request(kind: Kind, sample: Sample, mutate: Optional[Callable] = None) -> dict:
    """The CreateFilterRequest body of a sample (a deep copy, edited by ``mutate`` if given)."""
    parameters = copy.deepcopy(sample.create)
    if mutate is not None:
        mutate(parameters)
    return {kind.case: parameters}
