"""BNNS LSTM training: BNNSDirectApplyLSTMBatchTrainingCaching and BNNSDirectApplyLSTMBatchBackward
(bnns.md 2.1, 4; Apple's bnns_structures.h comments on BNNSLayerParametersLSTM and
BNNSLSTMGateDescriptor, quoted as the formulas below).

One cell step, for each layer and direction (gate order as BNNS's struct: input, forget,
candidate, output):

    i = act_i(W_ii x + W_hi h + W_ci c_prev + b_i)       f = act_f(W_if x + W_hf h + W_cf c_prev + b_f)
    g = act_g(W_ig x + W_hg h + W_cg c_prev + b_g)       c = f * c_prev + i * g
    o = act_o(W_io x + W_ho h + W_co c + b_o)            h = o * hidden_activation(c)

act_i, act_f, act_o default to Sigmoid, act_g and hidden_activation to Tanh (and are those when
lstm_flags has BNNSLayerFlagsLSTMDefaultActivations). The W_c* (peephole) terms exist when the
gate's cw_desc has data; the bias when b_desc has data. The output gate's peephole reads the new
cell state (the header's example: ``o_t = output_gate_result(x_0, h_0, c_t)``). Layer l > 0 reads
the previous layer's output (both directions concatenated); dropout acts between layers.

Arrays, in the header's C-style hierarchies (the last index fastest):

    x            [seq_len][batch_size][input_size]
    output       [seq_len][batch_size][num_directions][hidden_size]
    h0, c0, h_n, c_n   [num_layers][num_directions][batch_size][hidden_size]
    gate weights iw [num_layers][num_directions][hidden_size][input_size], hw and cw
                 [num_layers][num_directions][hidden_size][hidden_size], b [num_layers][num_directions][hidden_size]

A bidirectional layer's second direction runs from the last step to the first; its output at step t
is the hidden state it had after reading step t (PyTorch's convention), and its h_n / c_n are those
after reading step 0.

Notes
-----
Conventions chosen where BNNS is silent (PyTorch's ``nn.LSTM`` unless said):

* Input weights of layers above the first: the header says iw_desc "is duplicated for the case
  where num_layers > 1 && input_size != hidden_size". Here, when ``iw_desc[1]`` has data,
  ``iw_desc[0]`` holds layer 0 only ([num_directions][hidden][input_size]) and ``iw_desc[1]``
  layers 1.. ([num_layers - 1][num_directions][hidden][num_directions * hidden]); otherwise
  ``iw_desc[0]`` holds every layer, which needs num_layers == 1 or input_size ==
  num_directions * hidden_size.
* Dropout between layers is inverted (kept values scaled by 1 / (1 - dropout)), only in training
  forwards, drawn from a generator seeded by the filter's ``seed`` (0 = fresh OS entropy).
* Peephole weights are full hidden x hidden matrices (the header's gate example multiplies the
  cell by a 2-D matrix); PyTorch has none.
* Absent initial states (data None) are zeros (header). ``sequence_descriptor`` (a batch size per
  step) is not supported: UnimplementedError when it has data.
* Gradients of the weights are summed over the batch and the steps, in the hierarchies above.
  Backward takes dL/d(output) and, optionally, dL/dh_n and dL/dc_n (None = zeros), and returns
  dL/dx, dL/dh0, dL/dc0 and the gate gradients.
* Gate activations must be elementwise and deterministic (no Softmax, Gumbel, ...).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple, Optional

import numpy as np

from . import _common as cm
from . import blas
from . import parallel
from .convolution import matmul
from . import activation as act_mod
from .activation import SIGMOID, TANH, Activation
from .errors import FailedPreconditionError, InternalError, UnimplementedError, given, require
from .layout import Descriptor
from .params import LSTMGateDescriptor, LSTMParameters

FLAG_BIDIRECTIONAL = 1           # BNNSLayerFlagsLSTMBidirectional
FLAG_DEFAULT_ACTIVATIONS = 2     # BNNSLayerFlagsLSTMDefaultActivations
GATES = ("input_gate", "forget_gate", "candidate_gate", "output_gate")
_DEFAULT = {"input_gate": Activation(SIGMOID), "forget_gate": Activation(SIGMOID),
            "candidate_gate": Activation(TANH), "output_gate": Activation(SIGMOID)}


# ---------------------------------------------------------------------------------------- params
class GateGradients(NamedTuple):
    """dL/d of one gate's weights: iw (layer 0, or every layer), iw_upper (layers 1.. when the
    gate has iw_desc[1]), hw, cw (None without peepholes), b (None without bias)."""

    iw: Optional[np.ndarray]
    iw_upper: Optional[np.ndarray]
    hw: Optional[np.ndarray]
    cw: Optional[np.ndarray]
    b: Optional[np.ndarray]


class LSTMGradients(NamedTuple):
    """What BNNSDirectApplyLSTMBatchBackward writes into its delta parameters."""

    input: Optional[np.ndarray]          # [seq_len][batch][input_size]
    hidden: Optional[np.ndarray]         # dL/dh0 [num_layers][num_directions][batch][hidden]
    cell_state: Optional[np.ndarray]     # dL/dc0
    input_gate: Optional[GateGradients]
    forget_gate: Optional[GateGradients]
    candidate_gate: Optional[GateGradients]
    output_gate: Optional[GateGradients]


@dataclasses.dataclass
class _Direction:
    """A training forward's record of one direction of one layer: (T, B, .) arrays, steps in
    processing order (the training cache's order)."""

    z: np.ndarray        # (T, B, 4H) pre-activations i, f, g, o
    gates: np.ndarray    # (T, B, 4H) activations
    c_prev: np.ndarray   # (T, B, H)
    h_prev: np.ndarray
    c: np.ndarray
    a: np.ndarray        # hidden_activation(c)


@dataclasses.dataclass
class _Saved:
    inputs: list          # per layer: (T, B, in_l) the layer's input (after dropout)
    steps: list           # per layer, per direction: its _Direction
    keeps: list           # per layer > 0: dropout mask on its input, or None
    weights: list         # per layer, per direction: dict of the compute-form weights
    batch_size: int


# ---------------------------------------------------------------------------------------- filter
class LSTMFilter:
    """An LSTM (stacked, optionally bidirectional): weights as live float32 arrays in BNNS's
    hierarchies, a dropout generator, and the cache of the last training forward."""

    kind = "LSTM"

    def __init__(self, params: LSTMParameters, seed: int = 0):
        self.params = p = params
        self.input_size = cm.as_int(p.input_size, "input_size", 1)
        self.hidden_size = hidden = cm.as_int(p.hidden_size, "hidden_size", 1)
        self.batch_size = cm.as_int(p.batch_size, "batch_size", 1)
        self.num_layers = layers = cm.as_int(p.num_layers, "num_layers", 1)
        self.seq_len = cm.as_int(p.seq_len, "seq_len", 1)
        flags = cm.as_int(p.lstm_flags, "lstm_flags", 0)
        require(flags & ~(FLAG_BIDIRECTIONAL | FLAG_DEFAULT_ACTIVATIONS) == 0,
                f"lstm_flags {flags:#x} has unknown bits (Bidirectional 1, DefaultActivations 2)")
        self.directions = dirs = 2 if flags & FLAG_BIDIRECTIONAL else 1
        self.dropout = cm.as_real(p.dropout, "dropout", 0.0, 1.0, open_max=True)
        if p.sequence_descriptor is not None and p.sequence_descriptor.data is not None:
            raise UnimplementedError("sequence_descriptor with data (a batch size per step) is not supported")
        defaults = bool(flags & FLAG_DEFAULT_ACTIVATIONS)
        self._acts = {}
        for gate in GATES:
            given = getattr(p, gate).activation
            self._acts[gate] = _DEFAULT[gate] if defaults or given is None else self._check_act(given, f"{gate}.activation")
        given = p.hidden_activation
        self._acts["hidden"] = Activation(TANH) if defaults or given is None else self._check_act(given, "hidden_activation")
        t, b = self.seq_len, self.batch_size
        self._check_count(p.input_descriptor.data_desc, "input_descriptor.data_desc", (t, b, self.input_size))
        self._check_count(p.output_descriptor.data_desc, "output_descriptor.data_desc", (t, b, dirs, hidden))
        state = (layers, dirs, b, hidden)
        for side in ("input_descriptor", "output_descriptor"):
            for field in ("hidden_desc", "cell_state_desc"):
                desc = getattr(getattr(p, side), field)
                if desc is not None:
                    self._check_count(desc, f"{side}.{field}", state)
        self._upper = {}
        self._arrays: dict[str, np.ndarray] = {}
        for gate in GATES:
            g = getattr(p, gate)
            require(isinstance(g, LSTMGateDescriptor), f"{gate} must be an LSTMGateDescriptor")
            require(1 <= len(g.iw_desc) <= 2,
                    f"{gate}.iw_desc has {len(g.iw_desc)} descriptors; BNNS has 2 (the second may be left out)")
            iw = tuple(g.iw_desc) + (None,) * (2 - len(g.iw_desc))
            upper = iw[1] is not None and iw[1].data is not None
            self._upper[gate] = upper
            if upper:
                require(layers > 1, f"{gate}.iw_desc[1] has data but num_layers is 1")
                self._load(f"{gate}.iw", iw[0], (1, dirs, hidden, self.input_size))
                self._load(f"{gate}.iw_upper", iw[1], (layers - 1, dirs, hidden, dirs * hidden))
            else:
                require(layers == 1 or self.input_size == dirs * hidden,
                        f"{gate}.iw_desc[1] has no data, so iw_desc[0] must hold every layer, which needs "
                        f"num_layers 1 or input_size ({self.input_size}) == num_directions * hidden_size "
                        f"({dirs * hidden})")
                self._load(f"{gate}.iw", iw[0], (layers, dirs, hidden, self.input_size))
            self._load(f"{gate}.hw", g.hw_desc, (layers, dirs, hidden, hidden))
            if g.cw_desc is not None and g.cw_desc.data is not None:
                self._load(f"{gate}.cw", g.cw_desc, (layers, dirs, hidden, hidden))
            if g.b_desc is not None and g.b_desc.data is not None:
                self._load(f"{gate}.b", g.b_desc, (layers, dirs, hidden))
        present = [f"{gate}.b" in self._arrays for gate in GATES]
        require(all(present) or not any(present),
                f"b_desc has data for some gates only (input, forget, candidate, output: {present}); "
                f"give every gate a bias or none")
        seed = cm.as_int(seed, "seed", 0, 2**32 - 1)
        self._rng = np.random.default_rng(seed if seed else None)
        self._saved: Optional[_Saved] = None

    # ------------------------------------------------------------------ introspection
    @property
    def has_training_cache(self) -> bool:
        return self._saved is not None

    def parameters(self) -> dict:
        """"<gate>.iw", "<gate>.iw_upper", "<gate>.hw", "<gate>.cw", "<gate>.b" (present ones):
        live float32 arrays in the hierarchies of the module docstring."""
        return dict(self._arrays)

    # ------------------------------------------------------------------ apply
    def apply(self, x: np.ndarray, h0: Optional[np.ndarray] = None, c0: Optional[np.ndarray] = None, *,
              training: bool = True):
        """BNNSDirectApplyLSTMBatchTrainingCaching: see :meth:`_apply`. BLAS runs on one thread: the
        steps are a chain of small GEMMs, between which OpenBLAS's threads would spin (on this
        2-core machine under load, 2 threads made the whole layer 2-6x slower)."""
        with blas.one_thread():
            return self._apply(x, h0, c0, training=training)

    def apply_backward(self, d_output: np.ndarray, d_hidden: Optional[np.ndarray] = None,
                       d_cell: Optional[np.ndarray] = None, *, input_grad: bool = True,
                       state_grads: bool = True, weights_grad: bool = True) -> "LSTMGradients":
        """BNNSDirectApplyLSTMBatchBackward: see :meth:`_apply_backward` (BLAS on one thread)."""
        with blas.one_thread():
            return self._apply_backward(d_output, d_hidden, d_cell, input_grad=input_grad,
                                        state_grads=state_grads, weights_grad=weights_grad)

    def _apply(self, x: np.ndarray, h0: Optional[np.ndarray] = None, c0: Optional[np.ndarray] = None, *,
               training: bool = True):
        """BNNSDirectApplyLSTMBatchTrainingCaching (training=True keeps the cache; False is the
        inference apply).

        x : [seq_len][batch_size][input_size]; h0, c0 : [num_layers][num_directions][batch][hidden]
        or None (zeros). Returns (output [seq_len][batch][num_directions][hidden], h_n, c_n).
        """
        t, b, hidden, dirs = self.seq_len, self.batch_size, self.hidden_size, self.directions
        x = self._array(x, (t, b, self.input_size), "x")
        state = (self.num_layers, dirs, b, hidden)
        dtype = x.dtype
        h0 = np.zeros(state, dtype) if h0 is None else self._array(h0, state, "h0").astype(dtype, copy=False)
        c0 = np.zeros(state, dtype) if c0 is None else self._array(c0, state, "c0").astype(dtype, copy=False)
        if training:
            self._saved = None
        inputs, all_steps, keeps, all_weights = [], [], [], []
        h_n, c_n = np.empty(state, dtype), np.empty(state, dtype)
        layer_in = x
        for layer in range(self.num_layers):
            keep = None
            if layer > 0 and training and self.dropout > 0:
                keep = self._rng.random(layer_in.shape) >= self.dropout
                layer_in = layer_in * keep * dtype.type(1 / (1 - self.dropout))
            inputs.append(layer_in)
            keeps.append(keep)
            out = np.empty((t, b, dirs, hidden), dtype)
            layer_steps, layer_weights = [], []
            for d in range(dirs):
                w = self._compute_weights(layer, d, dtype)
                record, h = _run(layer_in, h0[layer, d], c0[layer, d], w, self._acts, reverse=d == 1)
                out[:, :, d] = h[::-1] if d == 1 else h                  # h in processing order
                h_n[layer, d], c_n[layer, d] = h[-1], record.c[-1]
                layer_steps.append(record)
                layer_weights.append(w)
            all_steps.append(layer_steps)
            all_weights.append(layer_weights)
            layer_in = out.reshape(t, b, dirs * hidden)
        if training:
            self._saved = _Saved(inputs, all_steps, keeps, all_weights, b)
        return out, h_n, c_n

    def _apply_backward(self, d_output: np.ndarray, d_hidden: Optional[np.ndarray] = None,
                        d_cell: Optional[np.ndarray] = None, *, input_grad: bool = True,
                        state_grads: bool = True, weights_grad: bool = True) -> LSTMGradients:
        """BNNSDirectApplyLSTMBatchBackward from the last training forward's cache.

        d_output : [seq_len][batch][num_directions][hidden]; d_hidden, d_cell : dL/dh_n, dL/dc_n
        ([num_layers][num_directions][batch][hidden]) or None (zeros).
        """
        saved = self._saved
        if saved is None:
            raise FailedPreconditionError("LSTM backward needs a training forward first (BNNS's training "
                                          "cache); this filter has had none", reason="NO_TRAINING_FORWARD")
        t, b, hidden, dirs, layers = self.seq_len, self.batch_size, self.hidden_size, self.directions, self.num_layers
        dtype = saved.inputs[0].dtype
        d_output = self._array(d_output, (t, b, dirs, hidden), "d_output").astype(dtype, copy=False)
        state = (layers, dirs, b, hidden)
        d_hidden = np.zeros(state, dtype) if d_hidden is None else self._array(d_hidden, state, "d_hidden").astype(dtype, copy=False)
        d_cell = np.zeros(state, dtype) if d_cell is None else self._array(d_cell, state, "d_cell").astype(dtype, copy=False)
        dh0, dc0 = np.zeros(state, dtype), np.zeros(state, dtype)
        per_layer: list[list[Optional[tuple]]] = [[None] * dirs for _ in range(layers)]
        d_out = d_output
        d_x = None
        for layer in range(layers - 1, -1, -1):
            layer_in = saved.inputs[layer]
            d_in = None
            for d in range(dirs):
                w = saved.weights[layer][d]
                # Steps in processing order: the second direction reads the sequence backwards.
                x_steps = np.ascontiguousarray(layer_in[::-1]) if d == 1 else layer_in
                d_y = np.array(d_out[::-1, :, d] if d == 1 else d_out[:, :, d])     # (T, B, H), owned
                d_steps, dh_first, dc_first, grads = _run_backward(
                    saved.steps[layer][d], d_y, d_hidden[layer, d], d_cell[layer, d], w, self._acts, x_steps,
                    input_grad=input_grad or layer > 0, weights_grad=weights_grad)
                dh0[layer, d], dc0[layer, d] = dh_first, dc_first
                per_layer[layer][d] = grads
                if d_steps is None:
                    continue
                d_steps = d_steps[::-1] if d == 1 else d_steps
                if d_in is None:
                    d_in = d_steps
                else:
                    d_in += d_steps
            if layer > 0:
                d_in = given(d_in, "layers above the first compute their input's gradient", error=InternalError)
                keep = saved.keeps[layer]
                if keep is not None:
                    d_in = d_in * keep * dtype.type(1 / (1 - self.dropout))
                d_out = d_in.reshape(t, b, dirs, hidden)
            else:
                d_x = d_in
        gate_grads: list[Optional[GateGradients]] = [None] * 4
        if weights_grad:
            gate_grads = [self._gate_gradients(gi, per_layer) for gi in range(4)]
        return LSTMGradients(d_x if input_grad else None, dh0 if state_grads else None,
                             dc0 if state_grads else None, *gate_grads)

    # ------------------------------------------------------------------ the training cache
    # BNNS's training cache is caller memory (BNNSComputeLSTMTrainingCacheCapacity bytes): the
    # training forward's _Saved as one flat float32 array, [header | per layer: its input, its
    # dropout mask (layers > 0, dropout > 0), per direction the steps' z, gates, c_prev, h_prev,
    # c, a]. The weights are not in it: the backward reads them from its own layer parameters.
    _CACHE_MAGIC = 19795.0
    _STEP_FIELDS = ("z", "gates", "c_prev", "h_prev", "c", "a")

    def _cache_parts(self) -> list:
        t, b, hidden, dirs = self.seq_len, self.batch_size, self.hidden_size, self.directions
        parts: list[tuple[str, tuple[int, ...]]] = [("header", (4,))]
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else dirs * hidden
            parts.append((f"{layer}.input", (t, b, width)))
            if layer > 0 and self.dropout > 0:
                parts.append((f"{layer}.keep", (t, b, width)))
            for d in range(dirs):
                for name in self._STEP_FIELDS:
                    parts.append((f"{layer}.{d}.{name}", (t, b, 4 * hidden if name in ("z", "gates") else hidden)))
        return parts

    def cache_elements(self) -> int:
        """Float32 elements of the training cache (BNNSComputeLSTMTrainingCacheCapacity / 4)."""
        return sum(math.prod(shape) for _, shape in self._cache_parts())

    def take_cache(self) -> np.ndarray:
        """The last training forward's cache as one flat float32 array (dropped from the filter)."""
        saved = self._saved
        if saved is None:
            raise FailedPreconditionError("no training forward to take a training cache from",
                                          reason="NO_TRAINING_FORWARD")
        arrays = {"header": np.array([self._CACHE_MAGIC, self.seq_len, self.batch_size, self.hidden_size])}
        for layer in range(self.num_layers):
            arrays[f"{layer}.input"] = saved.inputs[layer]
            arrays[f"{layer}.keep"] = saved.keeps[layer]
            for d, steps in enumerate(saved.steps[layer]):
                for name in self._STEP_FIELDS:
                    arrays[f"{layer}.{d}.{name}"] = getattr(steps, name)
        flat = np.empty(self.cache_elements(), np.float32)
        at = 0
        for name, shape in self._cache_parts():
            size = math.prod(shape)
            flat[at:at + size] = np.reshape(arrays[name], -1)
            at += size
        self._saved = None
        return flat

    def load_cache(self, flat: np.ndarray) -> None:
        """Make ``flat`` (what :meth:`take_cache` packed, for these sizes) the cache the next
        backward reads; its weights are this filter's."""
        flat = np.asarray(flat)
        require(flat.dtype == np.float32 and flat.ndim == 1, "training_cache must be a flat float32 array")
        expected = self.cache_elements()
        require(flat.size >= expected, f"training_cache has {flat.size} float32 elements; these parameters need "
                f"{expected} ({4 * expected} bytes, BNNSComputeLSTMTrainingCacheCapacity)")
        parts, at = {}, 0
        for name, shape in self._cache_parts():
            size = math.prod(shape)
            parts[name] = flat[at:at + size].reshape(shape)
            at += size
        header = parts["header"]
        require(header.tolist() == [self._CACHE_MAGIC, self.seq_len, self.batch_size, self.hidden_size],
                f"training_cache was not written by a training forward of these sizes (its header reads "
                f"{header.tolist()})")
        inputs, steps, keeps, weights = [], [], [], []
        for layer in range(self.num_layers):
            inputs.append(parts[f"{layer}.input"])
            keep = parts.get(f"{layer}.keep")
            keeps.append(None if keep is None else keep.astype(bool))
            steps.append([_Direction(*(parts[f"{layer}.{d}.{name}"] for name in self._STEP_FIELDS))
                          for d in range(self.directions)])
            weights.append([self._compute_weights(layer, d, np.dtype(np.float32)) for d in range(self.directions)])
        self._saved = _Saved(inputs, steps, keeps, weights, self.batch_size)

    # ------------------------------------------------------------------ helpers
    def _gate_gradients(self, gi: int, per_layer) -> GateGradients:
        gate, hidden = GATES[gi], self.hidden_size
        sl = slice(gi * hidden, (gi + 1) * hidden)
        iw_layers = [np.stack([per_layer[k][d][0][sl] for d in range(self.directions)])
                     for k in range(self.num_layers)]
        hw = np.stack([np.stack([per_layer[k][d][1][sl] for d in range(self.directions)])
                       for k in range(self.num_layers)])
        cw = None
        if f"{gate}.cw" in self._arrays:
            cw = np.stack([np.stack([per_layer[k][d][2][gi] for d in range(self.directions)])
                           for k in range(self.num_layers)])
        b = None
        if f"{gate}.b" in self._arrays:
            b = np.stack([np.stack([per_layer[k][d][3][sl] for d in range(self.directions)])
                          for k in range(self.num_layers)])
        upper = None
        if self._upper[gate]:
            iw, upper = iw_layers[0][None], np.stack(iw_layers[1:])
        else:
            iw = np.stack(iw_layers)
        return GateGradients(iw, upper, hw, cw, b)

    def _compute_weights(self, layer: int, d: int, dtype) -> dict:
        """Stacked gate weights of one layer and direction: wx (4H, in), wh (4H, H), bias (4H,),
        wc: list of four (H, H) or None."""
        wx, wh, bias, wc = [], [], [], []
        for gate in GATES:
            if self._upper[gate] and layer > 0:
                wx.append(self._arrays[f"{gate}.iw_upper"][layer - 1, d])
            else:
                wx.append(self._arrays[f"{gate}.iw"][layer if not self._upper[gate] else 0, d])
            wh.append(self._arrays[f"{gate}.hw"][layer, d])
            bias.append(self._arrays[f"{gate}.b"][layer, d] if f"{gate}.b" in self._arrays
                        else np.zeros(self.hidden_size, np.float32))
            wc.append(self._arrays[f"{gate}.cw"][layer, d].astype(dtype) if f"{gate}.cw" in self._arrays else None)
        return {"wx": np.concatenate(wx).astype(dtype), "wh": np.concatenate(wh).astype(dtype),
                "bias": np.concatenate(bias).astype(dtype), "wc": wc}

    def _load(self, name: str, desc: Optional[Descriptor], shape: tuple) -> None:
        require(desc is not None and desc.data is not None, f"{name} has no data")
        self._arrays[name] = cm.weights(desc, name, shape)

    @staticmethod
    def _check_count(desc: Descriptor, name: str, shape: tuple) -> None:
        desc.validate(name)
        require(desc.element_count == math.prod(shape),
                f"{name} has {desc.element_count} elements ({desc.describe()}); expected "
                f"{math.prod(shape)} for the hierarchy {shape}")

    @staticmethod
    def _check_act(act: Activation, name: str) -> Activation:
        act_mod.validate(act, name)
        kind = act_mod.kind_of(act.function)
        require(not kind.random and not kind.along_axes,
                f"{name} {kind.name} is not an elementwise deterministic function")
        return act

    @staticmethod
    def _array(a, shape: tuple, name: str) -> np.ndarray:
        a = cm.as_float(a)
        require(a.shape == tuple(shape), f"{name} has shape {a.shape}; expected {tuple(shape)}")
        return a


# ---------------------------------------------------------------------------------------- kernels
# The recurrence is a chain of small products (one (B, H) @ (H, 4H) GEMM a step each way) and a
# few elementwise passes over (B, H) blocks, on one core. Everything that does not depend on the
# previous step is taken out of the chain as large GEMMs over many steps: the input products
# z = x W_x^T + b before the steps need them, and the backward's dW_x = dz^T x, dW_h = dz^T h_prev,
# db and dL/dx = dz W_x once the steps have produced dz. For large layers these run on the second
# core chunk by chunk while the chain runs (_chunks); the elementwise maths writes in place into
# preallocated (T, B, .) arrays, which are the training cache.

def _run(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w: dict, acts: dict, *, reverse: bool):
    """One direction of one layer over the sequence.

    x (T, B, in), h0 and c0 (B, H). Returns its _Direction (steps in processing order: reversed
    when ``reverse``) and h (T, B, H) in processing order."""
    x = np.ascontiguousarray(x[::-1]) if reverse else x
    t, b, hidden = x.shape[0], x.shape[1], h0.shape[1]
    dtype = x.dtype
    z = np.empty((t, b, 4 * hidden), dtype)
    wx_t = w["wx"].T

    def project(lo: int, hi: int) -> None:                                      # z = x W_x^T
        with blas.one_thread():
            np.matmul(x[lo:hi].reshape(-1, x.shape[2]), wx_t, out=z[lo:hi].reshape(-1, 4 * hidden))
            z[lo:hi] += w["bias"]

    # The steps in chunks: chunk j + 1's input product runs on the second core while the
    # recurrence runs through chunk j (one chunk when the layer is too small to pay for it).
    chunks = _chunks(t, z.nbytes)
    project(*chunks[0])
    pending = parallel.start(functools.partial(project, *chunks[1])) if len(chunks) > 1 else None
    gates = np.empty_like(z)
    h_all, c_all = np.empty((t + 1, b, hidden), dtype), np.empty((t + 1, b, hidden), dtype)
    h_all[0], c_all[0] = h0, c0
    a = np.empty((t, b, hidden), dtype)
    scratch = np.empty((b, 4 * hidden), dtype)
    wh_t, wc = np.ascontiguousarray(w["wh"].T), w["wc"]       # (H, 4H): the steps' GEMM runs faster on it
    i_, f_, g_, o_ = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
    # Without an output-gate peephole, o depends on z alone, so it is activated with i, f and g.
    early = 4 if wc[3] is None else 3
    with np.errstate(over="ignore"):                  # the sigmoid's exp(-z) may overflow to inf: 1 / inf = 0
        for j, (lo, hi) in enumerate(chunks):
            if j > 0:
                given(pending, "chunk j's product was started", error=InternalError).result()
                pending = parallel.start(functools.partial(project, *chunks[j + 1])) if j + 1 < len(chunks) else None
            for k in range(lo, hi):
                zk, gk, c_prev, c = z[k], gates[k], c_all[k], c_all[k + 1]
                zk += np.matmul(h_all[k], wh_t, out=scratch)                         # z += h_prev W_h^T
                for gi in range(3):
                    if wc[gi] is not None:
                        zk[:, gi * hidden:(gi + 1) * hidden] += c_prev @ wc[gi].T             # + c_prev W_c^T
                _activate(zk, gk, acts, hidden, GATES[:early], scratch)
                np.multiply(gk[:, f_], c_prev, out=c)                                # c = f c_prev + i g
                np.multiply(gk[:, i_], gk[:, g_], out=scratch[:, :hidden])
                c += scratch[:, :hidden]
                if wc[3] is not None:
                    zk[:, o_] += c @ wc[3].T                                         # peephole on the new c
                    _activate(zk[:, o_], gk[:, o_], acts, hidden, ("output_gate",), scratch)
                _act_into(c, acts["hidden"], a[k], scratch)                          # a = hidden_activation(c)
                np.multiply(gk[:, o_], a[k], out=h_all[k + 1])                       # h = o a
    return _Direction(z, gates, c_all[:-1], h_all[:-1], c_all[1:], a), h_all[1:]


def _run_backward(record: _Direction, d_y: np.ndarray, dh_last: np.ndarray, dc_last: np.ndarray, w: dict,
                  acts: dict, x: np.ndarray, *, input_grad: bool, weights_grad: bool):
    """Backward through one direction of one layer. d_y (T, B, H) in processing order, owned: it
    is overwritten (each step's dL/dh accumulates into it); x (T, B, in) the layer's input in
    processing order.

    Returns dL/dx (T, B, in) in processing order (None unless input_grad), dL/dh0, dL/dc0 and
    (dL/dW_x (4H, in), dL/dW_h (4H, H), the peephole gradients (list of four (H, H) or None),
    dL/db (4H,)) (None unless weights_grad).

    Per step, with dh = d_y + dz_next W_h and dc the cell's gradient from the step after:
    dc += dh o hidden'(c); dz = (dc g, dc c_prev, dc i, dh a) * (i', f', g', o'); dc_prev = dc f
    (plus the peepholes' dz W_c). Then dL/dx = dz W_x, dL/dW_x = dz^T x, dL/dW_h = dz^T h_prev,
    dL/db = sum dz over the steps and the batch."""
    t, b, hidden = d_y.shape
    dtype = d_y.dtype
    z, gates = record.z, record.gates
    dz_all = np.empty(z.shape, dtype)
    dh_first = np.empty((b, hidden), dtype)
    dc = dc_last.astype(dtype, copy=True)
    d_y[-1] += dh_last
    wh, wc, wx = w["wh"], w["wc"], w["wx"]
    sums: list = [None] * 4                                       # dW_x, dW_h, dW_c (list), db

    def products(lo: int, hi: int) -> None:
        """The weight gradients' terms over steps lo..hi - 1 added into ``sums`` (chunks in a
        fixed order: the last steps first)."""
        with blas.one_thread():
            dz = dz_all[lo:hi].reshape(-1, 4 * hidden)
            terms = [dz.T @ x[lo:hi].reshape(-1, x.shape[2]), dz.T @ record.h_prev[lo:hi].reshape(-1, hidden),
                     [None if wc[gi] is None else
                      dz[:, gi * hidden:(gi + 1) * hidden].T @ (record.c if gi == 3 else record.c_prev)[lo:hi]
                      .reshape(-1, hidden) for gi in range(4)],
                     dz.sum(axis=0)]
            if sums[0] is None:
                sums[:] = terms
                return
            for n in (0, 1, 3):
                sums[n] += terms[n]
            for gi in range(4):
                if terms[2][gi] is not None:
                    sums[2][gi] += terms[2][gi]

    # The steps in chunks (last first): a finished chunk's weight products run on the second core
    # while the recurrence runs through the next (one chunk when the layer is too small to pay
    # for it); dL/dx = dz W_x, as large again, comes after the loop on both cores.
    chunks = _chunks(t, z.nbytes)[::-1]
    pending = None
    scratch = np.empty((b, 4 * hidden), dtype)
    t_h = np.empty((b, hidden), dtype)
    late = 4 if wc[3] is None else 3
    i_, f_, g_, o_ = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
    for j, (lo, hi) in enumerate(chunks):
        for k in range(hi - 1, lo - 1, -1):
            dh, gk, zk, dz = d_y[k], gates[k], z[k], dz_all[k]
            np.multiply(dh, gk[:, o_], out=t_h)                                      # dc += dh o hidden'(c)
            _act_backward_into(t_h, acts["hidden"], record.c[k], record.a[k], scratch)
            dc += t_h
            np.multiply(dh, record.a[k], out=dz[:, o_])                              # dL/do = dh a
            if wc[3] is not None:               # (without this peephole, o' is applied with i', f', g')
                _act_backward_into(dz[:, o_], acts["output_gate"], zk[:, o_], gk[:, o_], scratch)
                dc += dz[:, o_] @ wc[3]
            np.multiply(dc, gk[:, g_], out=dz[:, i_])                                # dL/di = dc g
            np.multiply(dc, record.c_prev[k], out=dz[:, f_])                         # dL/df = dc c_prev
            np.multiply(dc, gk[:, i_], out=dz[:, g_])                                # dL/dg = dc i
            _act_backward_gates(dz, zk, gk, acts, hidden, GATES[:late], scratch)
            dc *= gk[:, f_]                                                          # dL/dc_prev
            for gi in range(3):
                if wc[gi] is not None:
                    dc += dz[:, gi * hidden:(gi + 1) * hidden] @ wc[gi]
            if k > 0:
                d_y[k - 1] += np.matmul(dz, wh, out=t_h)                             # dh_prev += dz W_h
            else:
                np.matmul(dz, wh, out=dh_first)
        if not weights_grad:
            continue
        if pending is not None:
            pending.result()
        if j + 1 < len(chunks):
            pending = parallel.start(functools.partial(products, lo, hi))
        else:
            products(lo, hi)
    d_x = None
    if input_grad:
        d_x = matmul(dz_all.reshape(-1, 4 * hidden), wx).reshape(t, b, -1)
    grads = None
    if weights_grad:
        grads = (sums[0], sums[1], sums[2], sums[3])
    return d_x, dh_first, dc, grads


def _chunks(t: int, nbytes: int) -> list:
    """(lo, hi) step ranges of _CHUNK_STEPS for the overlapped products; one range when the
    layer's (T, B, 4H) pre-activations are smaller than _OVERLAP_BYTES."""
    if nbytes < _OVERLAP_BYTES or t <= _CHUNK_STEPS:
        return [(0, t)]
    return [(lo, min(t, lo + _CHUNK_STEPS)) for lo in range(0, t, _CHUNK_STEPS)]


_CHUNK_STEPS = 8
_OVERLAP_BYTES = parallel.PARALLEL_BYTES


def _activate(z: np.ndarray, out: np.ndarray, acts: dict, hidden: int, gates: tuple, scratch: np.ndarray) -> None:
    """out[:, gate] = act_gate(z[:, gate]) for the named consecutive gates (the first at column 0
    of z and out), neighbouring gates with one activation in one call."""
    if gates == GATES and _default_gates(acts):
        # Fast path for the default gates: Sigmoid over all four in one call, then the
        # candidate's columns overwritten by its Tanh (fewer, wider calls per step).
        _act_into(z, acts["input_gate"], out, scratch)
        np.tanh(z[:, 2 * hidden:3 * hidden], out=out[:, 2 * hidden:3 * hidden])
        return
    for sl, act in _gate_runs(acts, hidden, gates):
        _act_into(z[:, sl], act, out[:, sl], scratch)


def _act_backward_gates(dz: np.ndarray, z: np.ndarray, y: np.ndarray, acts: dict, hidden: int, gates: tuple,
                        scratch: np.ndarray) -> None:
    """dz[:, gate] *= act_gate'(z) for the named gates (GATES from the first; y = the gates'
    activations), neighbouring gates with one activation in one call."""
    if gates == GATES and _default_gates(acts):
        # Fast path for the default gates: one derivative array over all four, Sigmoid's y (1 - y)
        # with the candidate's columns overwritten by Tanh's 1 - y^2, and one product.
        s, g = scratch, slice(2 * hidden, 3 * hidden)
        np.subtract(1, y, out=s)
        s *= y
        np.multiply(y[:, g], y[:, g], out=s[:, g])
        np.subtract(1, s[:, g], out=s[:, g])
        dz *= s
        return
    for sl, act in _gate_runs(acts, hidden, gates):
        _act_backward_into(dz[:, sl], act, z[:, sl], y[:, sl], scratch)


def _gate_runs(acts: dict, hidden: int, gates: tuple):
    """(columns, activation) for each run of neighbouring gates that share one activation, so each
    run is one call over its columns (gate k's columns are k*hidden .. (k+1)*hidden)."""
    k = 0
    while k < len(gates):
        end = k + 1
        while end < len(gates) and acts[gates[end]] == acts[gates[k]]:
            end += 1
        yield slice(k * hidden, end * hidden), acts[gates[k]]
        k = end


def _default_gates(acts: dict) -> bool:
    """Sigmoid input, forget and output gates and a Tanh candidate (BNNS's defaults)."""
    return (acts["input_gate"].function == acts["forget_gate"].function == acts["output_gate"].function == SIGMOID
            and acts["candidate_gate"].function == TANH)


def _act_into(x: np.ndarray, act: Activation, out: np.ndarray, scratch: np.ndarray) -> None:
    """out = act(x). Fast path for the default gates, in place with no temporaries: Sigmoid as
    1 / (1 + exp(-x)) (exp may overflow to inf, giving 0: callers silence the warning) and Tanh;
    any other function through activation.forward (the one definition; the fast path is tested
    against it)."""
    if act.function == SIGMOID:
        np.negative(x, out=out)
        np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
    elif act.function == TANH:
        np.tanh(x, out=out)
    else:
        out[...] = act_mod.forward(x, act)


def _act_backward_into(d: np.ndarray, act: Activation, x: np.ndarray, y: np.ndarray, scratch: np.ndarray) -> None:
    """d *= act'(x), in place (y = act(x)). Fast path for Sigmoid (y (1 - y)) and Tanh (1 - y^2);
    any other function through activation.backward."""
    if act.function in (SIGMOID, TANH):
        s = scratch[:, :d.shape[1]]
        if act.function == SIGMOID:
            np.subtract(1, y, out=s)
            s *= y
        else:
            np.multiply(y, y, out=s)
            np.subtract(1, s, out=s)
        d *= s
    else:
        d[...] = act_mod.backward(d, act, x=x, y=y)
