"""Multi-head attention forward+backward, embedding backward and an LSTM layer forward+backward,
each beside PyTorch in the same run (issue 12's benchmarks; targets <= 2x PyTorch, matmul-heavy
<= 1.3x).

    python -m bench.attention [--quick]

Our side is the kernel filter (kernels/attention.py, embedding.py, lstm.py) as the server runs it;
PyTorch's is nn.MultiheadAttention / F.embedding / nn.LSTM with autograd, from the same values.
Calls are interleaved (common.time_pair), medians.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench import common
from bnns.kernels import attention as at
from bnns.kernels import embedding as em
from bnns.kernels import layout as L
from bnns.kernels import lstm as ls
from bnns.kernels.params import EmbeddingParameters, LSTMDataDescriptor, LSTMGateDescriptor, LSTMParameters, MHAProjectionParameters, MultiheadAttentionParameters

MHA = dict(batch=32, length=128, model=256, heads=8)
EMBEDDING = dict(batch=32, length=128, rows=30000, dim=256)
LSTM = dict(seq=64, batch=32, input=256, hidden=256)


def _first_major(shape, data=None):
    layout = {1: L.LAYOUT_VECTOR, 2: L.LAYOUT_2D_FIRST_MAJOR, 3: L.LAYOUT_3D_FIRST_MAJOR}[len(shape)]
    return L.Descriptor.for_shape(layout, shape, data)


def mha_spec(rng) -> dict:
    n, t, e, h = MHA["batch"], MHA["length"], MHA["model"], MHA["heads"]
    d = e // h
    w = {name: (rng.standard_normal((e, d, h)) / np.sqrt(e)).astype(np.float32) for name in ("query", "key", "value")}
    b = {name: np.zeros((d, h), np.float32) for name in w}
    wo, bo = (rng.standard_normal((e, e)) / np.sqrt(e)).astype(np.float32), np.zeros(e, np.float32)

    def projection(name):
        return MHAProjectionParameters(target_desc=_first_major((t, e)), weights=_first_major((e, d, h), w[name]),
                                       bias=_first_major((d, h), b[name]))
    f = at.MultiheadAttentionFilter(MultiheadAttentionParameters(
        query=projection("query"), key=projection("key"), value=projection("value"),
        output=MHAProjectionParameters(target_desc=_first_major((t, e)), weights=_first_major((e, e), wo), bias=_first_major((e,), bo))))
    x = rng.standard_normal((n, t, e)).astype(np.float32)
    dy = rng.standard_normal((n, t, e)).astype(np.float32)

    def ours():
        f.apply(x, x, x)
        return f.apply_backward(dy)

    def theirs(torch):
        module = torch.nn.MultiheadAttention(e, h, batch_first=True)
        with torch.no_grad():
            module.in_proj_weight.copy_(torch.from_numpy(np.concatenate(
                [np.transpose(w[k], (2, 1, 0)).reshape(e, e) for k in ("query", "key", "value")])))
            module.out_proj.weight.copy_(torch.from_numpy(wo.T.copy()))
        tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)
        params = [tx] + list(module.parameters())

        def run():
            y = module(tx, tx, tx, need_weights=False)[0]
            return torch.autograd.grad(y, params, tdy)
        return run
    flop = 2 * n * t * e * e * 4 + 2 * 2 * n * t * t * e          # projections + scores and context
    return {"case": f"MHA fwd+bwd {n}x{t}, model {e}, {h} heads", "numpy": ours, "torch": theirs,
            "gflop": 3 * flop / 1e9, "matmul_heavy": True}


def embedding_spec(rng) -> dict:
    n, t, rows, dim = EMBEDDING["batch"], EMBEDDING["length"], EMBEDDING["rows"], EMBEDDING["dim"]
    table = rng.standard_normal((rows, dim)).astype(np.float32)
    f = em.EmbeddingFilter(EmbeddingParameters(
        i_desc=L.Descriptor(L.LAYOUT_VECTOR, (t,), data_type=L.DTYPE_INT32),
        o_desc=L.Descriptor(L.LAYOUT_2D_LAST_MAJOR, (dim, t)),
        dictionary=L.Descriptor.for_shape(L.LAYOUT_2D_LAST_MAJOR, (rows, dim), table)))
    idx = rng.integers(0, rows, (n, t)).astype(np.int32)
    dy = rng.standard_normal((n, t, dim)).astype(np.float32)

    def theirs(torch):
        weight = torch.from_numpy(table).requires_grad_(True)
        tidx, tdy = torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(dy)
        y = torch.nn.functional.embedding(tidx, weight)
        return lambda: torch.autograd.grad(y, [weight], tdy, retain_graph=True)
    return {"case": f"embedding backward {n}x{t} into {rows}x{dim}",
            "numpy": lambda: f.apply_backward(idx, None, dy), "torch": theirs, "matmul_heavy": False}


def lstm_spec(rng) -> dict:
    t, b, i, hidden = LSTM["seq"], LSTM["batch"], LSTM["input"], LSTM["hidden"]
    weights = {}
    gates = {}
    bound = 1 / np.sqrt(hidden)
    for gate in ls.GATES:
        weights[gate] = {"iw": rng.uniform(-bound, bound, (1, 1, hidden, i)).astype(np.float32),
                         "hw": rng.uniform(-bound, bound, (1, 1, hidden, hidden)).astype(np.float32),
                         "b": rng.uniform(-bound, bound, (1, 1, hidden)).astype(np.float32)}
        g = weights[gate]
        gates[gate] = LSTMGateDescriptor(
            iw_desc=(L.Descriptor.for_shape(0x48000, g["iw"].shape, g["iw"]),),
            hw_desc=L.Descriptor.for_shape(0x48000, g["hw"].shape, g["hw"]), cw_desc=None,
            b_desc=L.Descriptor.for_shape(L.LAYOUT_3D_LAST_MAJOR, g["b"].shape, g["b"]))
    state = L.Descriptor(0x48000, (hidden, b, 1, 1))
    f = ls.LSTMFilter(LSTMParameters(
        input_size=i, hidden_size=hidden, batch_size=b, num_layers=1, seq_len=t,
        input_descriptor=LSTMDataDescriptor(data_desc=L.Descriptor(L.LAYOUT_3D_LAST_MAJOR, (i, b, t)), hidden_desc=state, cell_state_desc=state),
        output_descriptor=LSTMDataDescriptor(data_desc=L.Descriptor(0x48000, (hidden, 1, b, t)), hidden_desc=state, cell_state_desc=state),
        input_gate=gates["input_gate"], forget_gate=gates["forget_gate"], candidate_gate=gates["candidate_gate"],
        output_gate=gates["output_gate"]))
    x = rng.standard_normal((t, b, i)).astype(np.float32)
    dy = rng.standard_normal((t, b, 1, hidden)).astype(np.float32)

    def ours():
        f.apply(x)
        return f.apply_backward(dy)

    def theirs(torch):
        module = torch.nn.LSTM(i, hidden)
        with torch.no_grad():     # torch's gate order is BNNS's (input, forget, cell, output)
            module.weight_ih_l0.copy_(torch.from_numpy(np.concatenate([weights[g]["iw"][0, 0] for g in ls.GATES])))
            module.weight_hh_l0.copy_(torch.from_numpy(np.concatenate([weights[g]["hw"][0, 0] for g in ls.GATES])))
            module.bias_ih_l0.copy_(torch.from_numpy(np.concatenate([weights[g]["b"][0, 0] for g in ls.GATES])))
            module.bias_hh_l0.zero_()
        tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy[:, :, 0])
        params = [tx] + list(module.parameters())

        def run():
            return torch.autograd.grad(module(tx)[0], params, tdy)
        return run
    flop = 2 * t * b * 4 * hidden * (i + hidden)
    return {"case": f"LSTM layer fwd+bwd seq {t}, batch {b}, {i}->{hidden}", "numpy": ours, "torch": theirs,
            "gflop": 3 * flop / 1e9, "matmul_heavy": True}


def run(quick: bool = False) -> dict:
    common.setup()
    rng = np.random.default_rng(0)
    specs = [mha_spec(rng), embedding_spec(rng), lstm_spec(rng)]
    common.time_specs(specs, budget_s=1.0 if quick else 3.0)
    rows = []
    for spec in specs:
        t, torch_ms = spec["time"], spec.get("torch_ms")
        target = 1.3 if spec["matmul_heavy"] else 2.0
        rows.append({"case": spec["case"], "median_ms": t["median_ms"], "min_ms": t["min_ms"],
                     "gflops": spec["gflop"] / t["median_ms"] * 1e3 if "gflop" in spec else "",
                     "torch_ms": torch_ms or "", "vs_torch": common.ratio(t["median_ms"], torch_ms),
                     "target": f"<= {target}x"})
    common.print_table("Attention, embedding and LSTM (float32; forward+backward gives every gradient)", rows,
                       [("case", "case"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("gflops", "GFLOP/s"),
                        ("torch_ms", "PyTorch ms"), ("vs_torch", "time / PyTorch's"), ("target", "target")])
    print("\n" + common.hygiene())
    path = common.write_json("attention", {"rows": rows})
    print(f"\nwrote {path}")
    return {"rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
