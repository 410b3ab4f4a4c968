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
import math
from typing import NamedTuple, Optional

import numpy as np

from . import _common as cm
from . import blas
from .convolution import matmul
from . import activation as act_mod
from .activation import SIGMOID, TANH, Activation
from .errors import FailedPreconditionError, UnimplementedError, require
from .layout import Descriptor

FLAG_BIDIRECTIONAL = 1           # BNNSLayerFlagsLSTMBidirectional
FLAG_DEFAULT_ACTIVATIONS = 2     # BNNSLayerFlagsLSTMDefaultActivations
GATES = ("input_gate", "forget_gate", "candidate_gate", "output_gate")
_DEFAULT = {"input_gate": Activation(SIGMOID), "forget_gate": Activation(SIGMOID),
            "candidate_gate": Activation(TANH), "output_gate": Activation(SIGMOID)}


# ---------------------------------------------------------------------------------------- params
@dataclasses.dataclass(frozen=True)
class LSTMGateDescriptor:
    """BNNSLSTMGateDescriptor: iw_desc[2], hw_desc, cw_desc, b_desc, activation."""

    iw_desc: tuple                       # (Descriptor, Optional[Descriptor])
    hw_desc: Descriptor
    cw_desc: Optional[Descriptor] = None
    b_desc: Optional[Descriptor] = None
    activation: Optional[Activation] = None   # None = the gate's default


@dataclasses.dataclass(frozen=True)
class LSTMDataDescriptor:
    """BNNSLSTMDataDescriptor: data_desc, hidden_desc, cell_state_desc."""

    data_desc: Descriptor
    hidden_desc: Optional[Descriptor] = None
    cell_state_desc: Optional[Descriptor] = None


@dataclasses.dataclass(frozen=True)
class LSTMParams:
    """BNNSLayerParametersLSTM (the data pointers travel as arrays in apply / apply_backward)."""

    input_size: int
    hidden_size: int
    batch_size: int
    num_layers: int
    seq_len: int
    input_descriptor: LSTMDataDescriptor
    output_descriptor: LSTMDataDescriptor
    input_gate: LSTMGateDescriptor
    forget_gate: LSTMGateDescriptor
    candidate_gate: LSTMGateDescriptor
    output_gate: LSTMGateDescriptor
    dropout: float = 0.0
    lstm_flags: int = 0
    hidden_activation: Optional[Activation] = None    # None = Tanh
    sequence_descriptor: Optional[Descriptor] = None


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
class _Step:
    z: np.ndarray        # (B, 4H) pre-activations i, f, g, o
    gates: np.ndarray    # (B, 4H) activations
    c_prev: np.ndarray
    h_prev: np.ndarray
    c: np.ndarray
    a: np.ndarray        # hidden_activation(c)


@dataclasses.dataclass
class _Saved:
    inputs: list          # per layer: (T, B, in_l) the layer's input (after dropout)
    steps: list           # per layer, per direction: list of _Step in processing order
    keeps: list           # per layer > 0: dropout mask on its input, or None
    weights: list         # per layer, per direction: dict of the compute-form weights
    batch_size: int


# ---------------------------------------------------------------------------------------- filter
class LSTMFilter:
    """An LSTM (stacked, optionally bidirectional): weights as live float32 arrays in BNNS's
    hierarchies, a dropout generator, and the cache of the last training forward."""

    kind = "LSTM"

    def __init__(self, params: LSTMParams, seed: int = 0):
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
            iw = tuple(g.iw_desc) + (None,) * (2 - len(tuple(g.iw_desc)))
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
                steps = _run(layer_in, h0[layer, d], c0[layer, d], w, self._acts, reverse=d == 1)
                order = range(t - 1, -1, -1) if d == 1 else range(t)
                for k, step_t in enumerate(order):
                    out[step_t, :, d] = steps[k].gates[:, 3 * hidden:] * steps[k].a
                h_n[layer, d] = out[order[-1], :, d]
                c_n[layer, d] = steps[-1].c
                layer_steps.append(steps)
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
            d_in = np.zeros(layer_in.shape, dtype)
            for d in range(dirs):
                w = saved.weights[layer][d]
                steps = saved.steps[layer][d]
                order = list(range(t - 1, -1, -1)) if d == 1 else list(range(t))
                d_y = np.stack([d_out[step_t, :, d] for step_t in order])             # processing order
                dz, dh_first, dc_first, dwh, dwc = _run_backward(steps, d_y, d_hidden[layer, d], d_cell[layer, d],
                                                                 w, self._acts, hidden)
                dh0[layer, d], dc0[layer, d] = dh_first, dc_first
                x_steps = layer_in[order]                                             # (T, B, in)
                dz2 = dz.reshape(-1, dz.shape[2])                                     # (T * B, 4H)
                d_in[order] += matmul(dz2, w["wx"]).reshape(dz.shape[0], dz.shape[1], -1)
                if weights_grad:
                    dwx = matmul(dz2.T, x_steps.reshape(-1, x_steps.shape[2]))           # one GEMM
                    db = dz.sum(axis=(0, 1))
                    per_layer[layer][d] = (dwx, dwh, dwc, db)
            if layer > 0:
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
                    arrays[f"{layer}.{d}.{name}"] = np.stack([getattr(step, name) for step in steps])
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
            steps.append([[_Step(*(parts[f"{layer}.{d}.{name}"][k] for name in self._STEP_FIELDS))
                           for k in range(self.seq_len)] for d in range(self.directions)])
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
        act.validate(name)
        kind = act.kind
        require(not kind.random and not kind.along_axes,
                f"{name} {kind.name} is not an elementwise deterministic function")
        return act

    @staticmethod
    def _array(a, shape: tuple, name: str) -> np.ndarray:
        a = cm.as_float(a)
        require(a.shape == tuple(shape), f"{name} has shape {a.shape}; expected {tuple(shape)}")
        return a


# ---------------------------------------------------------------------------------------- kernels
def _run(x: np.ndarray, h: np.ndarray, c: np.ndarray, w: dict, acts: dict, *, reverse: bool) -> list:
    """One direction of one layer over the sequence; returns the _Steps in processing order."""
    pre_x = matmul(x.reshape(-1, x.shape[2]), w["wx"].T).reshape(x.shape[0], x.shape[1], -1)   # (T, B, 4H), one GEMM
    pre_x += w["bias"]
    t, hidden = pre_x.shape[0], h.shape[1]
    wc = w["wc"]
    steps = []
    for k in range(t):
        step_t = t - 1 - k if reverse else k
        z = pre_x[step_t] + h @ w["wh"].T
        if wc[0] is not None:
            z[:, :hidden] += c @ wc[0].T
        if wc[1] is not None:
            z[:, hidden:2 * hidden] += c @ wc[1].T
        if wc[2] is not None:
            z[:, 2 * hidden:3 * hidden] += c @ wc[2].T
        gates = np.empty_like(z)
        for gi, gate in enumerate(GATES[:3]):
            sl = slice(gi * hidden, (gi + 1) * hidden)
            gates[:, sl] = act_mod.forward(z[:, sl], acts[gate])
        i, f, g = gates[:, :hidden], gates[:, hidden:2 * hidden], gates[:, 2 * hidden:3 * hidden]
        c_new = f * c + i * g
        if wc[3] is not None:
            z[:, 3 * hidden:] += c_new @ wc[3].T
        gates[:, 3 * hidden:] = act_mod.forward(z[:, 3 * hidden:], acts["output_gate"])
        a = act_mod.forward(c_new, acts["hidden"])
        steps.append(_Step(z, gates, c, h, c_new, a))
        h = gates[:, 3 * hidden:] * a
        c = c_new
    return steps


def _run_backward(steps: list, d_y: np.ndarray, dh_last: np.ndarray, dc_last: np.ndarray, w: dict,
                  acts: dict, hidden: int):
    """Backward through one direction of one layer. d_y (T, B, H) in processing order.

    Returns dz (T, B, 4H) in processing order, dL/dh0, dL/dc0, dL/dW_h (4H, H) and the peephole
    gradients (list of four (H, H) or None)."""
    t = len(steps)
    dz_all = np.empty((t,) + steps[0].z.shape, d_y.dtype)
    dh, dc = dh_last.copy(), dc_last.copy()
    wc = w["wc"]
    dwc = [None if m is None else np.zeros_like(m) for m in wc]
    for k in range(t - 1, -1, -1):
        s = steps[k]
        i, f, g, o = (s.gates[:, j * hidden:(j + 1) * hidden] for j in range(4))
        dh = dh + d_y[k]
        do = dh * s.a
        dc = dc + act_mod.backward(dh * o, acts["hidden"], x=s.c, y=s.a)
        dz = np.empty_like(s.z)
        dz[:, 3 * hidden:] = act_mod.backward(do, acts["output_gate"], x=s.z[:, 3 * hidden:], y=o)
        if wc[3] is not None:
            dc = dc + dz[:, 3 * hidden:] @ wc[3]
            dwc[3] += dz[:, 3 * hidden:].T @ s.c
        for gi, (gate, d_act) in enumerate(zip(GATES[:3], (dc * g, dc * s.c_prev, dc * i))):
            sl = slice(gi * hidden, (gi + 1) * hidden)
            dz[:, sl] = act_mod.backward(d_act, acts[gate], x=s.z[:, sl], y=s.gates[:, sl])
        dc_prev = dc * f
        for gi in range(3):
            if wc[gi] is not None:
                sl = slice(gi * hidden, (gi + 1) * hidden)
                dc_prev = dc_prev + dz[:, sl] @ wc[gi]
                dwc[gi] += dz[:, sl].T @ s.c_prev
        dh = dz @ w["wh"]
        dc = dc_prev
        dz_all[k] = dz
    h_prev = np.stack([s.h_prev for s in steps])                          # dL/dW_h over all steps: one GEMM
    dwh = matmul(dz_all.reshape(-1, dz_all.shape[2]).T, h_prev.reshape(-1, h_prev.shape[2]))
    return dz_all, dh, dc, dwh, dwc
