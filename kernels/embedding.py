"""BNNS embedding filter (bnns.md 2.1 BNNSLayerParametersEmbedding; Apple's BNNS.EmbeddingLayer
documentation for the shapes).

    y[..., :] = D[idx[...], :]                        (a row of the dictionary per index)
    dL/dD[r]  = sum over the positions p with idx[p] == r of dL/dy[p]   (summed over the batch)

``BNNSFilterCreateLayerEmbedding`` + ``BNNSFilterApplyBatch`` / ``BNNSFilterApplyBackwardBatch``.

Shapes, in BNNS dimensions (size[] order; Apple's example: 3 indices into a dictionary of 7
five-element vectors have i_desc size (3), dictionary size (5, 7), o_desc size (5, 3)):

    i_desc       (*index dims)                  integer indices, per sample
    dictionary   (embedding_dim, num_embeddings)
    o_desc       (embedding_dim, *index dims)   per sample

so with natural layouts the NumPy views are idx (N, *I), dictionary (num_embeddings, dim) and y
(N, *I, dim), as in ``torch.nn.functional.embedding``.

Notes
-----
Conventions chosen where BNNS is silent (PyTorch's ``nn.Embedding``):

* ``padding_idx``: positions holding it output that dictionary row like any other, but send no
  gradient to it (the row stays a fixed pad). None, or a value outside [0, num_embeddings), means
  no padding index.
* ``max_norm`` > 0: before the lookup, every dictionary row that the batch references and whose
  ``norm_type``-norm exceeds max_norm is rescaled in place to max_norm / (norm + 1e-7) of itself
  (``torch.embedding_renorm_``); the live dictionary (``parameters()``) is changed, as BNNS works
  on the caller's pointer. The gradient treats the rescaled rows as constants (torch does the
  same). max_norm 0 means no renormalisation.
* ``flags`` & BNNSEmbeddingFlagScaleGradientByFrequency (1): each row's gradient is divided by
  the number of times its index occurs in the whole batch (``scale_grad_by_freq``).
* Indices outside [0, num_embeddings) are an InvalidArgumentError naming the first bad one.
* Indices have no gradient: ``input_grad`` must be False.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _common as cm
from .errors import InvalidArgumentError, require
from .layout import INTEGER_DTYPES, Descriptor, numpy_dtype
from .params import EmbeddingParameters

SCALE_GRADIENT_BY_FREQUENCY = 1      # BNNSEmbeddingFlagScaleGradientByFrequency
RENORM_EPSILON = 1e-7                # torch.embedding_renorm_


# ---------------------------------------------------------------------------------------- kernels
def lookup(table: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """table (R, D), indices (...) -> (..., D)."""
    return table[indices]


def lookup_backward(indices: np.ndarray, d_out: np.ndarray, rows: int, *,
                    padding_idx: Optional[int] = None, scale_by_frequency: bool = False) -> np.ndarray:
    """dL/dtable (R, D) from indices (...) and d_out (..., D): a scatter-add of the output rows."""
    flat_idx = indices.reshape(-1)
    flat_d = d_out.reshape(flat_idx.size, -1)
    grad = np.zeros((rows, flat_d.shape[1]), dtype=d_out.dtype)
    if flat_idx.size:       # positions grouped by index (a stable sort): a group of one is copied, larger ones summed
        order = np.argsort(flat_idx, kind="stable")
        sorted_idx = flat_idx[order]
        starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
        counts = np.diff(np.r_[starts, sorted_idx.size])
        single = counts == 1
        grad[sorted_idx[starts[single]]] = flat_d[order[starts[single]]]
        if not single.all():
            group = np.repeat(~single, counts)                  # sorted positions inside a larger group
            sub_starts = np.cumsum(np.r_[0, counts[~single][:-1]])
            grad[sorted_idx[starts[~single]]] = np.add.reduceat(flat_d[order[group]], sub_starts, axis=0)
    if scale_by_frequency:
        counts = np.bincount(flat_idx, minlength=rows)
        grad /= np.maximum(counts, 1)[:, None].astype(grad.dtype)
    if padding_idx is not None:
        grad[padding_idx] = 0
    return grad


def renormalize(table: np.ndarray, indices: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale in place the referenced rows whose p-norm exceeds max_norm (torch.embedding_renorm_)."""
    rows = np.unique(indices)
    norms = np.linalg.norm(table[rows].astype(np.float64), ord=norm_type, axis=1)
    over = norms > max_norm
    if np.any(over):
        scale = max_norm / (norms[over] + RENORM_EPSILON)
        table[rows[over]] *= scale[:, None].astype(table.dtype)


# ---------------------------------------------------------------------------------------- filter
class EmbeddingFilter:
    """An embedding filter: its dictionary (a live float32 array in the descriptor's view)."""

    kind = "embedding"

    def __init__(self, params: EmbeddingParameters):
        self.params = p = params
        require(isinstance(p.i_desc, Descriptor), "i_desc must be a Descriptor")
        p.i_desc.validate("i_desc")
        numpy_dtype(p.i_desc.data_type, allowed=INTEGER_DTYPES, what="i_desc.data_type")
        out_shape = cm.check_desc(p.o_desc, "o_desc")
        cm.check_desc(p.dictionary, "dictionary")
        require(p.dictionary.rank == 2,
                f"dictionary has rank {p.dictionary.rank} ({p.dictionary.describe()}); it must be 2-D "
                f"(embedding_dim, num_embeddings)")
        self.embedding_dim, self.num_embeddings = (int(s) for s in p.dictionary.size[:2])
        index_dims = tuple(int(s) for s in p.i_desc.size[:p.i_desc.rank])
        expected = (self.embedding_dim,) + index_dims
        got = tuple(int(s) for s in p.o_desc.size[:p.o_desc.rank])
        require(got == expected,
                f"o_desc.size {got} must be (embedding_dim, *i_desc.size) = {expected} for dictionary "
                f"size {(self.embedding_dim, self.num_embeddings)} and i_desc size {index_dims}")
        flags = cm.as_int(p.flags, "flags", 0)
        require(flags & ~SCALE_GRADIENT_BY_FREQUENCY == 0,
                f"flags {flags:#x} has unknown bits (only ScaleGradientByFrequency = 1 exists)")
        self.scale_by_frequency = bool(flags & SCALE_GRADIENT_BY_FREQUENCY)
        pad = p.padding_idx
        if pad is not None:
            pad = cm.as_int(pad, "padding_idx")
            pad = pad if 0 <= pad < self.num_embeddings else None
        self.padding_idx = pad
        self.max_norm = cm.as_real(p.max_norm, "max_norm", 0.0)
        self.norm_type = cm.as_real(p.norm_type, "norm_type", 0.0)
        require(self.max_norm == 0.0 or self.norm_type > 0,
                f"norm_type {self.norm_type} must be > 0 when max_norm is used")
        self._dictionary = cm.weights(p.dictionary, "dictionary")
        self._in_shape, self._out_shape = p.i_desc.shape, out_shape

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    def parameters(self) -> dict:
        """{"dictionary": live float32 array in the dictionary descriptor's NumPy view}."""
        return {"dictionary": self._dictionary}

    def _table(self) -> np.ndarray:
        """The dictionary as (num_embeddings, embedding_dim): a view of the live array."""
        dims = np.transpose(self._dictionary, cm.dims_axes(self.params.dictionary))   # (dim, rows)
        return dims.T

    def _indices(self, indices) -> np.ndarray:
        a = np.asarray(indices)
        require(a.dtype.kind in "iu", f"indices hold {a.dtype}; expected integers")
        a = cm.batch(a, self._in_shape, "indices", convert=False)
        if a.size:
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= self.num_embeddings:
                bad = lo if lo < 0 else hi
                raise InvalidArgumentError(
                    f"indices has value {bad}, outside [0, {self.num_embeddings}) (num_embeddings = "
                    f"dictionary.size[1])")
        return cm.to_dims(a, self.params.i_desc).astype(np.intp)          # (N, *index dims)

    def apply(self, indices: np.ndarray) -> np.ndarray:
        """indices (N, *i_desc.shape), integers -> y (N, *o_desc.shape), float32."""
        idx = self._indices(indices)
        table = self._table()
        if self.max_norm > 0:
            renormalize(table, idx, self.max_norm, self.norm_type)
        rows = lookup(table, idx)                                          # (N, *index dims, dim)
        return cm.from_dims(np.moveaxis(rows, -1, 1), self.params.o_desc)

    def apply_backward(self, indices: np.ndarray, y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = False, weights_grad: bool = True, bias_grad: bool = False):
        """(None, d_dictionary, None): d_dictionary in the dictionary descriptor's view, summed over
        the batch. indices as for :meth:`apply`; y is not read."""
        require(not input_grad, "input_grad was asked but the indices of an embedding have no gradient")
        require(not bias_grad, "bias_delta was asked but an embedding filter has no bias")
        idx = self._indices(indices)
        d_out = cm.batch(d_out, self._out_shape, "d_out", idx.shape[0])
        if not weights_grad:
            return None, None, None
        d_rows = np.moveaxis(cm.to_dims(d_out, self.params.o_desc), 1, -1)   # (N, *index dims, dim)
        grad = lookup_backward(idx, d_rows, self.num_embeddings, padding_idx=self.padding_idx,
                               scale_by_frequency=self.scale_by_frequency)   # (rows, dim)
        dims_axes = cm.dims_axes(self.params.dictionary)
        inverse = tuple(dims_axes.index(ax) for ax in range(2))
        return None, np.ascontiguousarray(np.transpose(grad.T, inverse)), None
