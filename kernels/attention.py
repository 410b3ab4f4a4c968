"""BNNS multi-head attention (bnns.md 2.1, 4; Apple's bnns_structures.h comment on
BNNSLayerParametersMultiheadAttention, quoted as the formula below).

    MultiheadAttention(Q, K, V) = concat(head_1, ..., head_h) Wᴼ + e pᴼᵀ
    head_i       = Attention(Q Wᴾ_i + e pᴾᵀ, K Wᴷ_i + e pᴷᵀ, V Wⱽ_i + e pⱽᵀ)
    Attention(Q, K, V) = dropout(softmax(mask(Q [K; bᴷ; 0]ᵀ / sqrt(d_key)))) [V; bⱽ; 0]
    mask(R)_ij   = r_ij + x_ij   if key_mask[j] is false,   -inf   if key_mask[j] is true

``BNNSFilterCreateLayerMultiheadAttention`` + ``BNNSApplyMultiheadAttention`` /
``BNNSApplyMultiheadAttentionBackward``. The bᴷ / bⱽ rows (``key_attn_bias`` /
``value_attn_bias``) and the zero row (``add_zero_attn``) are appended to the projected keys and
values, in that order; X is ``add_to_attention``.

Sizes and layouts, as the header gives them (dimensions are BNNS's size[] indices, size[0] first):

    query.target_desc    (target_length L, d_model E)        per sample
    key.target_desc      (source_length S, d_key_in)         per sample
    value.target_desc    (source_length S, d_value_in)       per sample
    query.weights        (E, d_key, num_heads H)              query.bias   (d_key, H)
    key.weights          (d_key_in, d_key, H)                 key.bias     (d_key, H)
    value.weights        (d_value_in, d_value, H)             value.bias   (d_value, H)
    key_attn_bias        (d_key, H)                           value_attn_bias (d_value, H)
    output.weights       (H * d_value, d_out)                 output.bias  (d_out,)
    output.target_desc   (L, d_out)                           per sample

Arrays cross this module in each descriptor's logical NumPy view (layout.py), batch first: for a
2DFirstMajor query descriptor of size (L, E) the query batch is (N, L, E); for a RowMajorMatrix
(size[0] fastest) the same descriptor sizes give (N, E, L). Weight and bias gradients come back in
the view of the descriptor they belong to.

Backward (cache from the last training forward; P = softmax output, P̃ = after dropout,
G = dL/d(scores)):

    dV' = P̃ᵀ dC,   dP = (dC V'ᵀ) * keep / (1 - p),   G = P * (dP - rowsum(dP * P))
    dQ' = G K' / sqrt(d_key),   dK' = Gᵀ Q' / sqrt(d_key)
    each projection y = x W + b:  dW = xᵀ dy (summed over the batch), db = Σ dy, dx = dy Wᵀ

Notes
-----
Conventions chosen where BNNS is silent (PyTorch's ``multi_head_attention_forward`` unless said):

* The concatenation of heads is head-major: row h * d_value + v of output.weights multiplies
  value feature v of head h (PyTorch's out_proj on the concatenated heads).
* Dropout acts on the attention probabilities (the header's formula), inverted (kept values
  scaled by 1 / (1 - dropout)), only in training forwards, and only when 0 < dropout < 1 (the
  header: "no dropout is performed if dropout is outside the range (0, 1)"). ``seed`` 0 draws
  from fresh OS entropy; another seed starts a NumPy PCG64 stream advanced by each training
  forward (it does not reproduce BNNS's or PyTorch's masks).
* key_mask is (N, S) per sample, true (nonzero) = ignore that key; add_to_attention is (L, S),
  shared by the batch. Neither touches the bᴷ / zero columns (PyTorch pads its masks with zeros /
  False there). A query row whose every column is masked gives NaN, as in PyTorch.
* key_attn_bias and value_attn_bias are given together or not at all (header). A projection bias
  descriptor with ``data`` None means no bias; its gradient is then None.
* The backward cache holds the inputs, the projected Q', K', V', the probabilities, the dropout
  mask and the weights used by the forward, so backward is exact even if an optimizer step
  changed the weights in between. Gradients for query, key and value are separate arrays: where
  the caller passed one buffer twice (self-attention), it adds them (BNNS sums deltas that share a
  pointer).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple, Optional

import numpy as np

from . import _common as cm
from . import blas
from .convolution import matmul
from .errors import FailedPreconditionError, InternalError, given, require
from .layout import Descriptor
from .params import MHAProjectionParameters, MultiheadAttentionParameters

_PROJECTIONS = ("query", "key", "value")


# ---------------------------------------------------------------------------------------- params
class MHAGradients(NamedTuple):
    """What BNNSApplyMultiheadAttentionBackward fills in: the target_desc, weights and bias deltas
    of each projection and the attention-bias deltas. None where not asked (or absent)."""

    query: Optional[np.ndarray]
    key: Optional[np.ndarray]
    value: Optional[np.ndarray]
    query_weights: Optional[np.ndarray]
    query_bias: Optional[np.ndarray]
    key_weights: Optional[np.ndarray]
    key_bias: Optional[np.ndarray]
    value_weights: Optional[np.ndarray]
    value_bias: Optional[np.ndarray]
    output_weights: Optional[np.ndarray]
    output_bias: Optional[np.ndarray]
    key_attn_bias: Optional[np.ndarray]
    value_attn_bias: Optional[np.ndarray]


@dataclasses.dataclass(frozen=True)
class Weights:
    """The weights in compute form: projections (E_in, H * D) with column h * D + d, biases
    (H * D,), attention biases (H, D), output (H * Dv, E_out)."""

    w: dict            # "query" / "key" / "value" / "output" -> 2-D matrix
    b: dict            # same keys -> 1-D bias or None
    bias_k: Optional[np.ndarray]
    bias_v: Optional[np.ndarray]


@dataclasses.dataclass
class Saved:
    """What a training forward keeps for backward (BNNS's backprop_cache)."""

    x: dict              # "query" / "key" / "value" -> (N * T, E_in) inputs
    q: np.ndarray        # (N, H, L, Dk), already scaled by 1 / sqrt(Dk)
    k: np.ndarray        # (N, H, S', Dk)
    v: np.ndarray        # (N, H, S', Dv)
    p: np.ndarray        # (N, H, L, S') softmax output
    keep: Optional[np.ndarray]    # (N, H, L, S') dropout mask, or None
    context: np.ndarray  # (N * L, H * Dv) concatenated heads (after dropout)
    weights: Weights

    @property
    def batch_size(self) -> int:
        return self.q.shape[0]


# ---------------------------------------------------------------------------------------- kernels
def forward(xq: np.ndarray, xk: np.ndarray, xv: np.ndarray, weights: Weights, *, num_heads: int,
            add_zero_attn: bool = False, key_mask: Optional[np.ndarray] = None,
            add_to_attention: Optional[np.ndarray] = None, dropout: float = 0.0,
            rng: Optional[np.random.Generator] = None):
    """Multi-head attention on (N, L, E), (N, S, E_k), (N, S, E_v) inputs in BNNS dimension order.

    Returns (y (N, L, E_out), saved). ``dropout`` > 0 needs ``rng``.
    """
    n, length, _ = xq.shape
    source = xk.shape[1]
    dtype = xq.dtype
    h = num_heads
    heads = {}
    flat = {}
    for name, x in (("query", xq), ("key", xk), ("value", xv)):
        t = x.shape[1]
        flat[name] = x.reshape(n * t, x.shape[2])
        y = matmul(flat[name], weights.w[name])
        if weights.b[name] is not None:
            y += weights.b[name]
        heads[name] = np.ascontiguousarray(y.reshape(n, t, h, -1).transpose(0, 2, 1, 3))
    d_key = heads["query"].shape[3]
    q = heads["query"]
    q *= dtype.type(1 / math.sqrt(d_key))
    k, v = _extend(heads["key"], weights.bias_k, add_zero_attn), _extend(heads["value"], weights.bias_v, add_zero_attn)
    scores = q @ k.transpose(0, 1, 3, 2)                     # (N, H, L, S')
    if add_to_attention is not None:
        scores[..., :source] += add_to_attention.astype(dtype, copy=False)
    if key_mask is not None:
        masked = np.zeros((n, 1, 1, k.shape[2]), dtype)
        masked[:, 0, 0, :source][key_mask] = -np.inf
        scores += masked
    p = _softmax(scores)
    keep = None
    probs = p
    if 0.0 < dropout < 1.0:
        keep = given(rng, "attention dropout needs a random generator").random(p.shape) >= dropout
        probs = p * keep
        probs *= dtype.type(1 / (1 - dropout))
    context = probs @ v                                      # (N, H, L, Dv)
    context = np.ascontiguousarray(context.transpose(0, 2, 1, 3)).reshape(n * length, -1)
    y = matmul(context, weights.w["output"])
    if weights.b["output"] is not None:
        y += weights.b["output"]
    saved = Saved(flat, q, k, v, p, keep, context, weights)
    return y.reshape(n, length, -1), saved


def backward(d_out: np.ndarray, saved: Saved, *, dropout: float = 0.0, inputs_grad=(True, True, True),
             parameters_grad: bool = True) -> dict:
    """Gradients of :func:`forward` from dL/dy (N, L, E_out), in compute form:
    {"query"/"key"/"value": (N, T, E_in), "<proj>.weights": 2-D, "<proj>.bias": 1-D,
    "key_attn_bias"/"value_attn_bias": (H, D)}; only what was asked."""
    w = saved.weights
    n, h, length, d_key = saved.q.shape
    source = saved.x["key"].shape[0] // n
    dtype = saved.q.dtype
    grads = {}
    d_y = d_out.reshape(n * length, -1).astype(dtype, copy=False)
    if parameters_grad:
        grads["output.weights"] = matmul(saved.context.T, d_y)       # the transposed view goes to BLAS as it is
        if w.b["output"] is not None:
            grads["output.bias"] = d_y.sum(axis=0)
    d_context = matmul(d_y, w.w["output"].T).reshape(n, length, h, -1).transpose(0, 2, 1, 3)   # (N,H,L,Dv)
    probs = saved.p
    if saved.keep is not None:
        probs = saved.p * saved.keep
        probs *= dtype.type(1 / (1 - dropout))
    d_v_ext = probs.transpose(0, 1, 3, 2) @ d_context                         # (N, H, S', Dv)
    d_p = d_context @ saved.v.transpose(0, 1, 3, 2)                            # (N, H, L, S')
    if saved.keep is not None:
        d_p *= saved.keep
        d_p *= dtype.type(1 / (1 - dropout))
    # softmax backward: G = P * (dP - rowsum(dP * P)); masked columns have P = 0.
    row = np.einsum("nhls,nhls->nhl", d_p, saved.p)[..., None]
    d_p -= row
    d_p *= saved.p
    d_scores = d_p
    scale = dtype.type(1 / math.sqrt(d_key))
    d_q = d_scores @ saved.k
    d_q *= scale                                                                # (N, H, L, Dk)
    d_k_ext = d_scores.transpose(0, 1, 3, 2) @ saved.q                        # q was scaled already
    if parameters_grad and w.bias_k is not None:
        grads["key_attn_bias"] = d_k_ext[:, :, source].sum(axis=0)
        grads["value_attn_bias"] = d_v_ext[:, :, source].sum(axis=0)
    per_head = {"query": d_q, "key": d_k_ext[:, :, :source], "value": d_v_ext[:, :, :source]}
    for i, name in enumerate(_PROJECTIONS):
        want_x = inputs_grad[i]
        if not (want_x or parameters_grad):
            continue
        g = per_head[name]
        t = g.shape[2]
        g2 = np.ascontiguousarray(g.transpose(0, 2, 1, 3)).reshape(n * t, -1)   # (N*T, H*D)
        if parameters_grad:
            grads[f"{name}.weights"] = matmul(saved.x[name].T, g2)
            if w.b[name] is not None:
                grads[f"{name}.bias"] = g2.sum(axis=0)
        if want_x:
            grads[name] = matmul(g2, w.w[name].T).reshape(n, t, -1)
    return grads


# ---------------------------------------------------------------------------------------- filter
class MultiheadAttentionFilter:
    """BNNSFilterCreateLayerMultiheadAttention: the weights (float32 copies, live through
    ``parameters()``), a dropout generator and the cache of the last training forward."""

    kind = "MultiheadAttention"

    def __init__(self, params: MultiheadAttentionParameters):
        self.params = p = params
        for name in _PROJECTIONS + ("output",):
            proj = getattr(p, name)
            require(isinstance(proj, MHAProjectionParameters),
                    f"{name} must be MHAProjectionParameters, got {type(proj).__name__}")
        dims = {}
        for name in _PROJECTIONS + ("output",):
            desc = getattr(p, name).target_desc
            cm.check_desc(desc, f"{name}.target_desc")
            require(desc.rank == 2, f"{name}.target_desc has rank {desc.rank} ({desc.describe()}); "
                                    f"it must be 2-D: (sequence length, features)")
            dims[name] = tuple(int(s) for s in desc.size[:2])
        length, model = dims["query"]
        source, key_in = dims["key"]
        require(dims["value"][0] == source,
                f"value.target_desc has source length {dims['value'][0]} but key.target_desc has {source}")
        value_in = dims["value"][1]
        require(dims["output"][0] == length,
                f"output.target_desc has target length {dims['output'][0]} but query.target_desc has {length}")
        out_features = dims["output"][1]
        q_w = self._dims_of(p.query.weights, "query.weights", 3)
        heads = q_w[2]
        d_key = q_w[1]
        self.num_heads, self.d_key = heads, d_key
        expected = {"query": (model, d_key, heads), "key": (key_in, d_key, heads)}
        v_w = self._dims_of(p.value.weights, "value.weights", 3)
        d_value = v_w[1]
        self.d_value = d_value
        expected["value"] = (value_in, d_value, heads)
        for name in _PROJECTIONS:
            got = self._dims_of(getattr(p, name).weights, f"{name}.weights", 3)
            require(got == expected[name],
                    f"{name}.weights has size {got}; expected {expected[name]} (d_in x d_{'value' if name == 'value' else 'key'}"
                    f" x num_heads) for {name}.target_desc size {dims[name]} and query.weights size {q_w}")
        out_w = self._dims_of(p.output.weights, "output.weights", 2)
        require(out_w == (heads * d_value, out_features),
                f"output.weights has size {out_w}; expected {(heads * d_value, out_features)} "
                f"(num_heads * d_value x d_out)")
        self._arrays: dict[str, np.ndarray] = {}
        for name in _PROJECTIONS + ("output",):
            proj = getattr(p, name)
            self._arrays[f"{name}.weights"] = cm.weights(proj.weights, f"{name}.weights")
            if proj.bias is not None and proj.bias.data is not None:
                want = (out_features,) if name == "output" else ((d_value if name == "value" else d_key), heads)
                got = self._dims_of(proj.bias, f"{name}.bias", len(want))
                require(got == want, f"{name}.bias has size {got}; expected {want}")
                self._arrays[f"{name}.bias"] = cm.weights(proj.bias, f"{name}.bias")
        present = [d is not None and d.data is not None for d in (p.key_attn_bias, p.value_attn_bias)]
        require(present[0] == present[1],
                f"key_attn_bias ({'given' if present[0] else 'absent'}) and value_attn_bias "
                f"({'given' if present[1] else 'absent'}) must be given together")
        if present[0]:
            for name, desc, d in (("key_attn_bias", p.key_attn_bias, d_key), ("value_attn_bias", p.value_attn_bias, d_value)):
                got = self._dims_of(desc, name, 2)
                require(got == (d, heads), f"{name} has size {got}; expected {(d, heads)}")
                self._arrays[name] = cm.weights(desc, name)
        self.dropout = cm.as_real(p.dropout, "dropout")
        seed = cm.as_int(p.seed, "seed", 0, 2**32 - 1)
        self._rng = np.random.default_rng(seed if seed else None)
        self.add_zero_attn = bool(p.add_zero_attn)
        self.target_length, self.source_length = length, source
        self._features = {"query": model, "key": key_in, "value": value_in, "output": out_features}
        self._descs = {name: getattr(p, name).target_desc for name in _PROJECTIONS + ("output",)}
        self._saved: Optional[Saved] = None

    # ------------------------------------------------------------------ introspection
    @property
    def has_training_cache(self) -> bool:
        return self._saved is not None

    def parameters(self) -> dict:
        """"query.weights", "query.bias", ..., "output.bias", "key_attn_bias", "value_attn_bias":
        the present ones, live float32 arrays in their descriptors' NumPy views."""
        return dict(self._arrays)

    def shape_of(self, name: str) -> tuple:
        """(N-less) NumPy shape of the "query" / "key" / "value" / "output" arrays."""
        return self._descs[name].shape

    # ------------------------------------------------------------------ apply
    def apply(self, query: np.ndarray, key: np.ndarray, value: np.ndarray, *,
              key_mask: Optional[np.ndarray] = None, add_to_attention: Optional[np.ndarray] = None,
              training: bool = True) -> np.ndarray:
        """BNNSApplyMultiheadAttention.

        query : (N, *query.target_desc.shape); key, value likewise (their own descriptors).
        key_mask : (N, S), true = ignore that key; add_to_attention : (L, S), added to the scores.
        training : apply dropout and keep the backward cache (False: neither; the cache of an
            earlier training forward stays).
        Returns the output (N, *output.target_desc.shape).
        """
        xq = self._batch(query, "query")
        n = xq.shape[0]
        xk = self._batch(key, "key", n)
        xv = self._batch(value, "value", n)
        dtype = np.result_type(xq, xk, xv)
        xq, xk, xv = (a.astype(dtype, copy=False) for a in (xq, xk, xv))
        mask = None
        if key_mask is not None:
            mask = np.asarray(key_mask)
            require(mask.shape == (n, self.source_length),
                    f"key_mask has shape {mask.shape}; expected (N, S) = {(n, self.source_length)}")
            mask = mask.astype(bool)
        extra = None
        if add_to_attention is not None:
            extra = np.asarray(add_to_attention)
            require(extra.shape == (self.target_length, self.source_length),
                    f"add_to_attention has shape {extra.shape}; expected (L, S) = "
                    f"{(self.target_length, self.source_length)}")
            require(extra.dtype.kind == "f", f"add_to_attention holds {extra.dtype}; expected floats")
        weights = self._compute_weights(dtype)
        if training:
            self._saved = None        # a failure below leaves no stale cache behind
        with blas.one_thread():      # a chain of small GEMMs: OpenBLAS's spinning threads only slow it down
            y, saved = forward(xq, xk, xv, weights, num_heads=self.num_heads, add_zero_attn=self.add_zero_attn,
                               key_mask=mask, add_to_attention=extra,
                               dropout=self.dropout if training else 0.0, rng=self._rng)
        if training:
            self._saved = saved
        return self._from_dims(y, "output")

    def apply_backward(self, d_out: np.ndarray, *, query_grad: bool = True, key_grad: bool = True,
                       value_grad: bool = True, parameters_grad: bool = True,
                       cache: Optional[np.ndarray] = None) -> MHAGradients:
        """BNNSApplyMultiheadAttentionBackward from the last training forward's cache, or from
        ``cache`` (what :meth:`take_cache` packed) when given.

        d_out : (N, *output.target_desc.shape), dL/d(output).
        Returns :class:`MHAGradients`: input gradients in their descriptors' views (N first);
        weight and bias gradients summed over the batch, in their descriptors' views.
        """
        saved = self._saved if cache is None else self.unpack_cache(cache, np.shape(d_out)[0] if np.ndim(d_out) else 0)
        if saved is None:
            raise FailedPreconditionError(
                "MultiheadAttention backward needs a training forward first (BNNS's backprop cache); "
                "this filter has had none", reason="NO_TRAINING_FORWARD")
        d_out = self._batch(d_out, "d_out", name="output")
        cm.same_batch(saved.batch_size, d_out.shape[0], "d_out", self.kind)
        with blas.one_thread():
            grads = backward(d_out, saved, dropout=self.dropout, inputs_grad=(query_grad, key_grad, value_grad),
                             parameters_grad=parameters_grad)
        out = {}
        for name in _PROJECTIONS:
            out[name] = self._from_dims(grads[name], name) if name in grads else None
        heads = self.num_heads
        for name in _PROJECTIONS:
            w = grads.get(f"{name}.weights")
            if w is not None:    # (E, H * D) -> BNNS dims (E, D, H)
                w = w.reshape(w.shape[0], heads, -1).transpose(0, 2, 1)
                w = self._param_view(w, getattr(self.params, name).weights)
            out[f"{name}_weights"] = w
            b = grads.get(f"{name}.bias")
            if b is not None:    # (H * D,) -> (D, H)
                b = self._param_view(b.reshape(heads, -1).T, getattr(self.params, name).bias)
            out[f"{name}_bias"] = b
        w = grads.get("output.weights")
        out["output_weights"] = None if w is None else self._param_view(w, self.params.output.weights)
        b = grads.get("output.bias")
        out["output_bias"] = None if b is None else self._param_view(b, self.params.output.bias)
        for name in ("key_attn_bias", "value_attn_bias"):
            b = grads.get(name)
            out[name] = None if b is None else self._param_view(b.T, getattr(self.params, name))
        return MHAGradients(**out)

    # ------------------------------------------------------------------ packed backprop cache
    # BNNS's backprop_cache is caller memory: the cache of a training forward as one flat float32
    # array, [header | inputs | Q' K' V' | P | keep | context | weights]; its layout is private
    # to this filter (the header guards against another filter's or another batch size's).
    _CACHE_MAGIC = 19784.0

    @property
    def input_descs(self) -> tuple:
        return tuple(self._descs[name] for name in _PROJECTIONS)

    @property
    def output_desc(self) -> Descriptor:
        return self._descs["output"]

    def _cache_parts(self, n: int) -> list:
        """(name, shape) of each part of the packed cache of batch size ``n``."""
        h, dk, dv = self.num_heads, self.d_key, self.d_value
        length, source = self.target_length, self.source_length
        ext = source + (self._arrays.get("key_attn_bias") is not None) + self.add_zero_attn
        e = self._features
        parts = [("header", (4,)),
                 ("x.query", (n * length, e["query"])), ("x.key", (n * source, e["key"])),
                 ("x.value", (n * source, e["value"])),
                 ("q", (n, h, length, dk)), ("k", (n, h, ext, dk)), ("v", (n, h, ext, dv)), ("p", (n, h, length, ext))]
        if 0.0 < self.dropout < 1.0:
            parts.append(("keep", (n, h, length, ext)))
        parts.append(("context", (n * length, h * dv)))
        for name in _PROJECTIONS:
            parts.append((f"w.{name}", (e[name], h * (dv if name == "value" else dk))))
        parts.append(("w.output", (h * dv, e["output"])))
        return parts

    @property
    def scratch_per_item(self) -> int:
        """Elements one sample may need beyond its inputs and output: its share of the packed
        cache, plus the scores, probabilities and dropout mask held while it is built."""
        h, length = self.num_heads, self.target_length
        ext = self.source_length + 2
        return self.cache_elements(1) + 3 * h * length * ext

    def cache_elements(self, n: int) -> int:
        """Float32 elements of the packed backprop cache of a training forward of ``n`` samples."""
        return sum(math.prod(shape) for _, shape in self._cache_parts(int(n)))

    def take_cache(self) -> np.ndarray:
        """The last training forward's cache, packed into one flat float32 array (and dropped
        from the filter: the caller holds it, as BNNS's backprop_cache)."""
        saved = self._saved
        if saved is None:
            raise FailedPreconditionError("no training forward to take a backprop cache from",
                                          reason="NO_TRAINING_FORWARD")
        n = saved.batch_size
        arrays = {"header": np.array([self._CACHE_MAGIC, n, self.target_length, saved.k.shape[2]]),
                  "x.query": saved.x["query"], "x.key": saved.x["key"], "x.value": saved.x["value"],
                  "q": saved.q, "k": saved.k, "v": saved.v, "p": saved.p, "keep": saved.keep,
                  "context": saved.context}
        for name in _PROJECTIONS + ("output",):
            arrays[f"w.{name}"] = saved.weights.w[name]
        flat = np.empty(self.cache_elements(n), np.float32)
        at = 0
        for name, shape in self._cache_parts(n):
            size = math.prod(shape)
            flat[at:at + size] = np.reshape(arrays[name], -1)
            at += size
        self._saved = None
        return flat

    def unpack_cache(self, flat: np.ndarray, n: int) -> Saved:
        """The :class:`Saved` of a packed cache of ``n`` samples (views into ``flat``)."""
        flat = np.asarray(flat)
        require(flat.dtype == np.float32 and flat.ndim == 1, "backprop_cache must be a flat float32 array")
        require(n >= 1, f"batch_size {n} must be at least 1")
        expected = self.cache_elements(n)
        require(flat.size >= expected, f"backprop_cache has {flat.size} float32 elements; a batch of {n} needs "
                f"{expected} ({4 * expected} bytes, the size ApplyMultiheadAttention reports)")
        parts, at = {}, 0
        for name, shape in self._cache_parts(n):
            size = math.prod(shape)
            parts[name] = flat[at:at + size].reshape(shape)
            at += size
        header = parts["header"]
        require(header[0] == self._CACHE_MAGIC and header[1] == n and header[2] == self.target_length,
                f"backprop_cache was not written by a training forward of this filter with batch_size {n} "
                f"(its header reads {header.tolist()})")
        current = self._compute_weights(np.dtype(np.float32))
        w = {name: parts[f"w.{name}"] for name in _PROJECTIONS + ("output",)}
        weights = Weights(w, current.b, current.bias_k, current.bias_v)
        keep = parts.get("keep")
        return Saved({name: parts[f"x.{name}"] for name in _PROJECTIONS}, parts["q"], parts["k"], parts["v"],
                     parts["p"], None if keep is None else keep.astype(bool), parts["context"], weights)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _dims_of(desc: Optional[Descriptor], name: str, rank: int) -> tuple:
        desc = given(desc, f"{name} is missing")
        cm.check_desc(desc, name)
        require(desc.rank == rank, f"{name} has rank {desc.rank} ({desc.describe()}); expected {rank}")
        return tuple(int(s) for s in desc.size[:rank])

    @staticmethod
    def _dims_axes(desc: Descriptor) -> tuple:
        """NumPy axes of the desc's view in BNNS dimension order (size[0] first)."""
        return tuple(cm.dim_to_axis(desc, k) for k in range(desc.rank))

    def _batch(self, a, what: str, n: Optional[int] = None, name: Optional[str] = None) -> np.ndarray:
        """(N, *view) -> (N, T, E) in BNNS dimension order."""
        desc = self._descs[name or what]
        a = cm.batch(a, desc.shape, what, n)
        axes = (0,) + tuple(1 + ax for ax in self._dims_axes(desc))
        return np.ascontiguousarray(np.transpose(a, axes)) if axes != (0, 1, 2) else a

    def _from_dims(self, a: np.ndarray, name: str) -> np.ndarray:
        desc = self._descs[name]
        dims = self._dims_axes(desc)
        inverse = (0,) + tuple(1 + dims.index(axis) for axis in range(len(dims)))
        return np.ascontiguousarray(np.transpose(a, inverse)) if inverse != (0, 1, 2) else a

    def _param_view(self, dims_array: np.ndarray, desc: Optional[Descriptor]) -> np.ndarray:
        """An array in BNNS dimension order -> the descriptor's NumPy view."""
        dims = self._dims_axes(given(desc, "a gradient's parameter descriptor", error=InternalError))
        inverse = tuple(dims.index(axis) for axis in range(len(dims)))
        return np.ascontiguousarray(np.transpose(dims_array, inverse))

    def _in_dims(self, name: str, desc: Optional[Descriptor]) -> np.ndarray:
        return np.transpose(self._arrays[name], self._dims_axes(given(desc, name, error=InternalError)))

    def _compute_weights(self, dtype) -> Weights:
        p = self.params
        w: dict[str, np.ndarray] = {}
        b: dict[str, Optional[np.ndarray]] = {}
        for name in _PROJECTIONS:
            dims = self._in_dims(f"{name}.weights", getattr(p, name).weights)           # (E, D, H)
            w[name] = np.ascontiguousarray(dims.transpose(0, 2, 1).reshape(dims.shape[0], -1), dtype)
            if f"{name}.bias" in self._arrays:
                bias = self._in_dims(f"{name}.bias", getattr(p, name).bias)              # (D, H)
                b[name] = np.ascontiguousarray(bias.T.reshape(-1), dtype)
            else:
                b[name] = None
        w["output"] = np.ascontiguousarray(self._in_dims("output.weights", p.output.weights), dtype)
        b["output"] = (np.asarray(self._arrays["output.bias"].reshape(-1), dtype)
                       if "output.bias" in self._arrays else None)
        bias_k = bias_v = None
        if "key_attn_bias" in self._arrays:
            bias_k = np.ascontiguousarray(self._in_dims("key_attn_bias", p.key_attn_bias).T, dtype)
            bias_v = np.ascontiguousarray(self._in_dims("value_attn_bias", p.value_attn_bias).T, dtype)
        return Weights(w, b, bias_k, bias_v)


# ---------------------------------------------------------------------------------------- private
def _extend(x: np.ndarray, bias: Optional[np.ndarray], zero_row: bool) -> np.ndarray:
    """[x; bias; 0] along the sequence axis of (N, H, S, D); bias (H, D)."""
    rows = [x]
    n, h, _, d = x.shape
    if bias is not None:
        rows.append(np.broadcast_to(bias[None, :, None, :], (n, h, 1, d)))
    if zero_row:
        rows.append(np.zeros((n, h, 1, d), x.dtype))
    return np.concatenate(rows, axis=2) if len(rows) > 1 else x


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place on ``scores``: exp(s - max s) / sum exp(s - max s).

    The rows are short (the source length), where NumPy's reductions along the last axis pay a
    per-row overhead: the max is taken by halving (_row_max) and the sum is a matrix-vector
    product with ones."""
    with np.errstate(invalid="ignore"):      # a fully masked row: -inf - -inf = NaN, as in PyTorch
        scores -= _row_max(scores)
        np.exp(scores, out=scores)
        rows = scores.reshape(-1, scores.shape[-1])
        scores /= (rows @ np.ones(rows.shape[1], scores.dtype)).reshape(scores.shape[:-1] + (1,))
    return scores


def _row_max(a: np.ndarray) -> np.ndarray:
    """a.max(axis=-1, keepdims=True) as a chain of np.maximum over halves of the last axis (one
    vectorised call per halving; an odd leftover column is folded into column 0). The max is
    exact whatever the order, so the result is the reduction's, NaN included."""
    m = a
    while m.shape[-1] > 1:
        half = m.shape[-1] // 2
        top = np.maximum(m[..., :half], m[..., half:2 * half])
        if m.shape[-1] % 2:
            np.maximum(top[..., :1], m[..., -1:], out=top[..., :1])
        m = top
    return m if m is not a else a.copy()
