"""LSTM training (kernels/lstm.py): forward against a scalar loop of the header's cell formulas
(stacked, bidirectional, peepholes, biases), backward for inputs, initial states and every weight
against central differences (with dropout between layers, the forward's mask), and errors."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, Optional

import numpy as np
import pytest

from bnns.kernels import layout as L
from bnns.kernels import lstm as ls
from bnns.kernels import activation as act_mod
from bnns.kernels.activation import Activation
from bnns.kernels.errors import FailedPreconditionError, InvalidArgumentError, UnimplementedError
from bnns.kernels.params import LSTMDataDescriptor, LSTMGateDescriptor, LSTMParameters
from tests.numeric import assert_gradient_matches, projection

T, B = 3, 2
EPS_W = 2.0 ** -12      # weights are multiples of 2**-10, so w +- EPS_W is exact in float32


@dataclasses.dataclass(frozen=True)
class Config:
    input_size: int
    hidden: int
    layers: int
    bidirectional: bool
    upper: bool = False        # iw_desc[1] for layers above the first
    bias: bool = True
    peephole: bool = False
    dropout: float = 0.0
    acts: Optional[tuple] = None     # (input, forget, candidate, output, hidden) activations; None = defaults

    @property
    def dirs(self):
        return 2 if self.bidirectional else 1


# Gate activations other than the defaults take the general path (activation.forward/backward);
# smooth ones, so that central differences hold.
OTHER_ACTS = (Activation(act_mod.SOFTSIGN), Activation(act_mod.SIGMOID), Activation(act_mod.SCALED_TANH, 0.8, 1.5),
              Activation(act_mod.TANH), Activation(act_mod.SILU))
CONFIGS = [
    pytest.param(Config(3, 2, 1, False, bias=False), id="one_layer_no_bias"),
    pytest.param(Config(3, 2, 1, True, acts=OTHER_ACTS), id="bidirectional_other_activations"),
    pytest.param(Config(2, 2, 2, False, peephole=True, acts=OTHER_ACTS), id="two_layers_peepholes_other_activations"),
    pytest.param(Config(2, 2, 2, False, peephole=True), id="two_layers_peepholes"),
    pytest.param(Config(3, 2, 2, True, upper=True, peephole=True), id="bidirectional_two_layers_upper_weights"),
]


def vector(shape, data):
    layout = {1: L.LAYOUT_VECTOR, 2: L.LAYOUT_2D_LAST_MAJOR, 3: L.LAYOUT_3D_LAST_MAJOR, 4: 0x48000}[len(shape)]
    return L.Descriptor.for_shape(layout, shape, data)


def random_weights(rng, cfg):
    """{"<gate>.<part>": float32 array}, values multiples of 2**-10 in (-0.75, 0.75)."""
    def draw(shape):
        return (rng.integers(-768, 768, shape) / 1024).astype(np.float32)
    h, d, layers = cfg.hidden, cfg.dirs, cfg.layers
    out = {}
    for gate in ls.GATES:
        if cfg.upper:
            out[f"{gate}.iw"] = draw((1, d, h, cfg.input_size))
            out[f"{gate}.iw_upper"] = draw((layers - 1, d, h, d * h))
        else:
            out[f"{gate}.iw"] = draw((layers, d, h, cfg.input_size))
        out[f"{gate}.hw"] = draw((layers, d, h, h))
        if cfg.peephole:
            out[f"{gate}.cw"] = draw((layers, d, h, h))
        if cfg.bias:
            out[f"{gate}.b"] = draw((layers, d, h))
    return out


def make(cfg, weights, seed=0, **overrides):
    h, d = cfg.hidden, cfg.dirs
    gates = {}
    for gate in ls.GATES:
        iw: tuple = (vector(weights[f"{gate}.iw"].shape, weights[f"{gate}.iw"]),)     # iw_desc[1] left out: no upper layers
        if cfg.upper:
            iw += (vector(weights[f"{gate}.iw_upper"].shape, weights[f"{gate}.iw_upper"]),)
        gates[gate] = LSTMGateDescriptor(
            iw_desc=iw, hw_desc=vector(weights[f"{gate}.hw"].shape, weights[f"{gate}.hw"]),
            cw_desc=vector(weights[f"{gate}.cw"].shape, weights[f"{gate}.cw"]) if cfg.peephole else None,
            b_desc=vector(weights[f"{gate}.b"].shape, weights[f"{gate}.b"]) if cfg.bias else None,
            activation=cfg.acts[ls.GATES.index(gate)] if cfg.acts else None)
    state = L.Descriptor(0x48000, (h, B, d, cfg.layers))
    fields = dict(
        input_size=cfg.input_size, hidden_size=h, batch_size=B, num_layers=cfg.layers, seq_len=T,
        input_descriptor=LSTMDataDescriptor(data_desc=L.Descriptor(L.LAYOUT_3D_LAST_MAJOR, (cfg.input_size, B, T)), hidden_desc=state, cell_state_desc=state),
        output_descriptor=LSTMDataDescriptor(data_desc=L.Descriptor(0x48000, (h, d, B, T)), hidden_desc=state, cell_state_desc=state),
        dropout=cfg.dropout, lstm_flags=ls.FLAG_BIDIRECTIONAL if cfg.bidirectional else 0,
        hidden_activation=cfg.acts[4] if cfg.acts else None, **gates)
    fields.update(overrides)
    return ls.LSTMFilter(LSTMParameters(**fields), seed=seed)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def naive(cfg, w, x, h0, c0, keeps=None):
    """Scalar loops: every gate of every unit of every sample, step, direction and layer."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    h, d_count = cfg.hidden, cfg.dirs
    functions: list[Callable[[float], float]] = [sigmoid, sigmoid, math.tanh, sigmoid, math.tanh]
    if cfg.acts:
        functions = [functools.partial(lambda z, a: float(act_mod.forward(np.array([z]), a)[0]), a=a)
                     for a in cfg.acts]
    act_i, act_f, act_g, act_o, act_h = functions
    layer_in = x
    hn = np.zeros((cfg.layers, d_count, B, h))
    cn = np.zeros_like(hn)
    for layer in range(cfg.layers):
        if keeps is not None and layer > 0 and keeps[layer] is not None:
            layer_in = layer_in * keeps[layer] / (1 - cfg.dropout)
        out = np.zeros((T, B, d_count, h))
        for d in range(d_count):
            def weight(gate, part):
                if part == "iw" and cfg.upper:
                    return w[f"{gate}.iw"][0, d] if layer == 0 else w[f"{gate}.iw_upper"][layer - 1, d]
                return w[f"{gate}.{part}"][layer, d]
            for n in range(B):
                hs, cs = h0[layer, d, n].copy(), c0[layer, d, n].copy()
                steps = range(T - 1, -1, -1) if d == 1 else range(T)
                for t in steps:
                    xin = layer_in[t, n]

                    def pre(gate, cell):
                        val = []
                        for o in range(h):
                            r = w[f"{gate}.b"][layer, d, o] if cfg.bias else 0.0
                            r += sum(xin[i] * weight(gate, "iw")[o, i] for i in range(xin.size))
                            r += sum(hs[i] * weight(gate, "hw")[o, i] for i in range(h))
                            if cfg.peephole:
                                r += sum(cell[i] * weight(gate, "cw")[o, i] for i in range(h))
                            val.append(r)
                        return val
                    ig = [act_i(z) for z in pre("input_gate", cs)]
                    fg = [act_f(z) for z in pre("forget_gate", cs)]
                    gg = [act_g(z) for z in pre("candidate_gate", cs)]
                    c_new = np.array([fg[o] * cs[o] + ig[o] * gg[o] for o in range(h)])
                    og = [act_o(z) for z in pre("output_gate", c_new)]
                    hs = np.array([og[o] * act_h(c_new[o]) for o in range(h)])
                    cs = c_new
                    out[t, n, d] = hs
                hn[layer, d, n], cn[layer, d, n] = hs, cs
        layer_in = out.reshape(T, B, d_count * h)
    return out, hn, cn


def states(rng, cfg):
    shape = (cfg.layers, cfg.dirs, B, cfg.hidden)
    return rng.standard_normal(shape) * 0.5, rng.standard_normal(shape) * 0.5


@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_matches_scalar_loop(cfg):
    rng = np.random.default_rng(0)
    w = random_weights(rng, cfg)
    x = rng.standard_normal((T, B, cfg.input_size))
    h0, c0 = states(rng, cfg)
    out, hn, cn = make(cfg, w).apply(x, h0, c0)
    ref = naive(cfg, w, x, h0, c0)
    for got, want in zip((out, hn, cn), ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_absent_initial_states_are_zeros():
    cfg = Config(3, 2, 1, True)
    rng = np.random.default_rng(1)
    w = random_weights(rng, cfg)
    x = rng.standard_normal((T, B, 3))
    zeros = np.zeros((1, 2, B, 2))
    for got, want in zip(make(cfg, w).apply(x), naive(cfg, w, x, zeros, zeros)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _check_gradients(cfg, seed=0):
    rng = np.random.default_rng(2)
    w = random_weights(rng, cfg)
    x = rng.standard_normal((T, B, cfg.input_size))
    h0, c0 = states(rng, cfg)
    filt = make(cfg, w, seed=seed)
    out, hn, cn = filt.apply(x, h0, c0)
    p_out, p_h, p_c = projection(rng, out.shape), projection(rng, hn.shape), projection(rng, cn.shape)
    grads = filt.apply_backward(p_out, p_h, p_c)

    def loss_with(f, xv=x, hv=h0, cv=c0):
        o, hh, cc = f.apply(xv, hv, cv)
        return float(np.sum(p_out * o) + np.sum(p_h * hh) + np.sum(p_c * cc))

    def fresh():
        return make(cfg, w, seed=seed)         # same seed: the same dropout masks
    tol = dict(rtol=1e-6, atol=1e-9)
    assert_gradient_matches(grads.input, lambda v: loss_with(fresh(), xv=v), x, **tol)
    assert_gradient_matches(grads.hidden, lambda v: loss_with(fresh(), hv=v), h0, **tol)
    assert_gradient_matches(grads.cell_state, lambda v: loss_with(fresh(), cv=v), c0, **tol)
    for gi, gate in enumerate(ls.GATES):
        gate_grads = grads[3 + gi]
        for part in ("iw", "iw_upper", "hw", "cw", "b"):
            key = f"{gate}.{part}"
            analytic = getattr(gate_grads, part)
            if key not in w:
                assert analytic is None
                continue
            assert analytic.shape == w[key].shape

            def f(v, key=key):
                g = fresh()
                g.parameters()[key][...] = v          # exact: v is w +- 2**-12
                return loss_with(g)
            assert_gradient_matches(analytic, f, w[key].astype(np.float64), rtol=1e-5, atol=1e-8, eps=EPS_W)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_backward_matches_finite_differences(cfg):
    _check_gradients(cfg)


def test_backward_with_dropout_between_layers_uses_the_forward_mask():
    cfg = Config(2, 2, 2, True, upper=True, dropout=0.4)
    filt = make(cfg, random_weights(np.random.default_rng(3), cfg), seed=5)
    x = np.ones((T, B, 2))
    first = filt.apply(x)[0]
    assert not np.allclose(first, filt.apply(x)[0])           # a new mask per training forward
    assert np.allclose(filt.apply(x, training=False)[0], filt.apply(x, training=False)[0])
    _check_gradients(cfg, seed=5)


def test_one_step_matches_the_cell_computed_by_hand():
    # One step, one unit: i = f = o = sigmoid(1) (W_x = 1, x = 1), g = tanh(1), c0 = 0.5, h0 = 0.
    cfg = Config(1, 1, 1, False, bias=False)
    w = {f"{g}.iw": np.ones((1, 1, 1, 1), np.float32) for g in ls.GATES}
    w.update({f"{g}.hw": np.zeros((1, 1, 1, 1), np.float32) for g in ls.GATES})
    lstm = make(cfg, w, batch_size=1, seq_len=1,
                input_descriptor=LSTMDataDescriptor(data_desc=L.Descriptor(L.LAYOUT_VECTOR, (1,))),
                output_descriptor=LSTMDataDescriptor(data_desc=L.Descriptor(L.LAYOUT_VECTOR, (1,))))
    out, hn, cn = lstm.apply(np.ones((1, 1, 1)), np.zeros((1, 1, 1, 1)), np.full((1, 1, 1, 1), 0.5))
    s = sigmoid(1.0)
    c = s * 0.5 + s * math.tanh(1.0)
    assert cn[0, 0, 0, 0] == pytest.approx(c, rel=1e-6)
    assert out[0, 0, 0, 0] == pytest.approx(s * math.tanh(c), rel=1e-6)


def test_backward_needs_a_training_forward():
    cfg = Config(3, 2, 1, False)
    filt = make(cfg, random_weights(np.random.default_rng(4), cfg))
    filt.apply(np.ones((T, B, 3)), training=False)
    with pytest.raises(FailedPreconditionError, match="needs a training forward"):
        filt.apply_backward(np.ones((T, B, 1, 2)))


def test_invalid_parameters_raise_invalid_argument():
    cfg = Config(3, 2, 2, False)
    w = random_weights(np.random.default_rng(5), Config(3, 2, 2, False, upper=True))
    with pytest.raises(InvalidArgumentError, match=r"needs num_layers 1 or input_size \(3\) == num_directions"):
        make(cfg, {**w, **{f"{g}.iw": np.ones((2, 1, 2, 3), np.float32) for g in ls.GATES}})
    good = Config(3, 2, 1, False)
    gw = random_weights(np.random.default_rng(6), good)
    with pytest.raises(InvalidArgumentError, match="lstm_flags 0x4 has unknown bits"):
        make(good, gw, lstm_flags=4)
    with pytest.raises(InvalidArgumentError, match="dropout 1.0 must be < 1.0"):
        make(good, gw, dropout=1.0)
    with pytest.raises(InvalidArgumentError, match=r"input_descriptor.data_desc has 6 elements .* expected 18"):
        make(good, gw, input_descriptor=LSTMDataDescriptor(data_desc=L.Descriptor(L.LAYOUT_VECTOR, (6,))))
    bi = Config(3, 2, 1, True)
    with pytest.raises(InvalidArgumentError, match=r"input_gate.hw has 4 values .* but 8 are needed"):
        make(bi, {**random_weights(np.random.default_rng(7), bi), "input_gate.hw": np.ones((1, 1, 2, 2), np.float32)})
    with pytest.raises(InvalidArgumentError, match="hidden_activation Softmax is not an elementwise"):
        make(good, gw, hidden_activation=Activation(11))
    with pytest.raises(UnimplementedError, match="sequence_descriptor"):
        make(good, gw, sequence_descriptor=L.Descriptor.for_shape(L.LAYOUT_VECTOR, (T,), np.full(T, 2.0)))
    filt = make(good, gw)
    with pytest.raises(InvalidArgumentError, match=r"x has shape \(3, 2, 4\); expected \(3, 2, 3\)"):
        filt.apply(np.ones((T, B, 4)))


@pytest.mark.parametrize("cfg", CONFIGS + [pytest.param(Config(4, 2, 3, True, dropout=0.4), id="dropout")])
def test_packed_training_cache_gives_the_same_gradients(cfg):
    """take_cache packs the training forward's cache into caller memory (BNNS's training cache);
    another filter of the same parameters, loading it, computes the same gradients bit for bit."""
    rng = np.random.default_rng(7)
    w = random_weights(rng, cfg)
    x = rng.standard_normal((T, B, cfg.input_size)).astype(np.float32)
    h0, c0 = (a.astype(np.float32) for a in states(rng, cfg))
    kept, packer, loader = make(cfg, w, seed=3), make(cfg, w, seed=3), make(cfg, w)
    for f in (kept, packer):
        f.apply(x, h0, c0)
    cache = packer.take_cache()
    assert cache.dtype == np.float32 and cache.size == loader.cache_elements() and not packer.has_training_cache
    loader.load_cache(cache)
    dy = rng.standard_normal((T, B, cfg.dirs, cfg.hidden)).astype(np.float32)
    a, b = kept.apply_backward(dy), loader.apply_backward(dy)
    for name in ("input", "hidden", "cell_state"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for ga, gb in zip(a[3:], b[3:]):
        for pa, pb in zip(ga, gb):
            assert (pa is None) == (pb is None)
            if pa is not None:
                np.testing.assert_array_equal(pa, pb)
    with pytest.raises(InvalidArgumentError, match="need"):
        loader.load_cache(cache[:-1])
    with pytest.raises(InvalidArgumentError, match="not written"):
        loader.load_cache(np.zeros_like(cache))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function", [act_mod.SIGMOID, act_mod.TANH])
def test_default_gate_fast_paths_match_the_activation_module(function, dtype):
    """The recurrence's in-place Sigmoid and Tanh (forward, and backward from y) against the one
    definition in kernels/activation.py, across the range where exp overflows."""
    act = Activation(function)
    rng = np.random.default_rng(8)
    x = np.concatenate([np.linspace(-120, 120, 241), rng.standard_normal(199) * 4]).astype(dtype).reshape(2, -1)
    d = rng.standard_normal(x.shape).astype(dtype)
    y = np.empty_like(x)
    with np.errstate(over="ignore"):
        ls._act_into(x, act, y, np.empty_like(x))
    want = act_mod.forward(x, act)
    tol = dict(rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)
    np.testing.assert_allclose(y, want, **tol)
    got = d.copy()
    ls._act_backward_into(got, act, x, y, np.empty_like(x))
    np.testing.assert_allclose(got, act_mod.backward(d, act, x=x, y=want), rtol=16 * np.finfo(dtype).eps,
                               atol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("chunk", [1, 2])
@pytest.mark.parametrize("cfg", CONFIGS[1:] + [pytest.param(Config(4, 2, 3, True, dropout=0.4), id="dropout")])
def test_steps_in_chunks_give_what_one_chunk_gives(cfg, chunk, monkeypatch):
    """Large layers run the input products of the next chunk of steps, and the gradient products
    of the last finished one, on the second core (_chunks); forced on for these small layers,
    every output and gradient equals the one-chunk run's (float64, to rounding)."""
    rng = np.random.default_rng(9)
    w = random_weights(rng, cfg)
    x = rng.standard_normal((T, B, cfg.input_size))
    h0, c0 = states(rng, cfg)
    dy = rng.standard_normal((T, B, cfg.dirs, cfg.hidden))
    d_h, d_c = (rng.standard_normal(h0.shape) for _ in range(2))

    def run():
        f = make(cfg, w, seed=4)
        return f.apply(x, h0, c0), f.apply_backward(dy, d_h, d_c)

    one_forward, one_backward = run()
    monkeypatch.setattr(ls, "_OVERLAP_BYTES", 0)
    monkeypatch.setattr(ls, "_CHUNK_STEPS", chunk)
    assert len(ls._chunks(T, 1)) == -(-T // chunk)
    forward, backward = run()
    for got, want in zip(forward, one_forward):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    for got, want in zip(backward[:3], one_backward[:3]):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    for gate_got, gate_want in zip(backward[3:], one_backward[3:]):
        for got, want in zip(gate_got, gate_want):
            assert (got is None) == (want is None)
            if got is not None:
                np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("chunk", [None, 1])
def test_gradients_not_asked_for_are_none_and_the_rest_unchanged(chunk, monkeypatch):
    """input_grad / weights_grad / state_grads False leave those out (None) and change nothing
    else, in one chunk and in chunks of one step."""
    if chunk is not None:
        monkeypatch.setattr(ls, "_OVERLAP_BYTES", 0)
        monkeypatch.setattr(ls, "_CHUNK_STEPS", chunk)
    cfg = Config(3, 2, 2, True, upper=True, peephole=True)
    rng = np.random.default_rng(10)
    w = random_weights(rng, cfg)
    x = rng.standard_normal((T, B, cfg.input_size))
    dy = rng.standard_normal((T, B, cfg.dirs, cfg.hidden))
    f = make(cfg, w)
    f.apply(x)
    full = f.apply_backward(dy)
    for flags in (dict(input_grad=False), dict(weights_grad=False), dict(state_grads=False),
                  dict(input_grad=False, weights_grad=False, state_grads=False)):
        f.apply(x)
        part = f.apply_backward(dy, **flags)
        assert (part.input is None) == (not flags.get("input_grad", True))
        assert (part.hidden is None) == (part.cell_state is None) == (not flags.get("state_grads", True))
        assert all((g is None) == (not flags.get("weights_grad", True)) for g in part[3:])
        for got, want in zip(part, full):
            if got is None:
                continue
            if isinstance(got, tuple):
                for a, b in zip(got, want):
                    assert (a is None) == (b is None)
                    if a is not None:
                        np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_array_equal(got, want)
