"""Pooling and softmax cross-entropy (issue 3): forward and backward time, effective GB/s, and the
ratio to this machine's memory-copy rate measured in the same run; PyTorch's time for the same
work beside it when importable.

Effective GB/s counts compulsory traffic, as peer.md does: every tensor the op must read or write,
once, at 4 B per float and 8 B per int64 index. It is a lower bound on the bytes moved, so GB/s is
a lower bound on the bandwidth used.

Ours and PyTorch's calls are interleaved in the same run (medians), with OMP_WAIT_POLICY=PASSIVE for
both: torch's OpenMP threads would otherwise keep spinning after its calls.

    python -m bench.pooling_loss [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

from bnns.kernels.activation import Activation
from bnns.kernels.layout import LAYOUT_IMAGE_CHW, LAYOUT_VECTOR, Descriptor
from bnns.kernels.loss import REDUCTION_MEAN, SOFTMAX_CROSS_ENTROPY, LossFilter
from bnns.kernels.pooling import AVERAGE_COUNT_INCLUDE_PADDING, MAX, PoolingFilter
from bnns.kernels.params import LossParameters, PoolingParameters

from . import common

# (N, C, H) of the pooling input (square images), and (N, classes) of the loss: peer.md's shapes.
POOL_INPUT = (32, 64, 112)
LOSS_SHAPE = (4096, 1000)

# Issue 3's targets: (spec key, limit on our time / PyTorch's, goal).
TARGETS = [
    ("max forward", 1.0, "max pooling forward with indices no slower than PyTorch's NCHW"),
    ("cross-entropy fwd+bwd", 2.0, "softmax cross-entropy forward+backward within 2x PyTorch's"),
]
# PyTorch medians from peer.md (same machine), the targets' reference when torch is not importable.
PEER_TORCH_MS = {"max forward": 98.00, "cross-entropy fwd+bwd": 4.84}

FLOAT, INDEX = 4, 8     # bytes per float32 value and per int64 index


def mb(*counts: tuple) -> float:
    """Compulsory traffic in MB from (element count, bytes per element) pairs."""
    return sum(n * size for n, size in counts) / 1e6


def pooling_filter(function: int, c: int, h: int, ho: int, k: int, stride: int, pad: int) -> PoolingFilter:
    return PoolingFilter(PoolingParameters(
        i_desc=Descriptor.for_shape(LAYOUT_IMAGE_CHW, (c, h, h)),
        o_desc=Descriptor.for_shape(LAYOUT_IMAGE_CHW, (c, ho, ho)),
        bias=None, activation=Activation(), pooling_function=function, k_width=k, k_height=k,
        x_stride=stride, y_stride=stride, x_padding=pad, y_padding=pad))


def max_pool_specs(x: np.ndarray, rng) -> list[dict]:
    """Max pooling 3x3, stride 2, pad 1: forward with indices, backward with those indices."""
    n, c, h, _ = x.shape
    k, stride, pad = 3, 2, 1
    ho = (h + 2 * pad - k) // stride + 1
    f = pooling_filter(MAX, c, h, ho, k, stride, pad)
    _, indices = f.apply(x, want_indices=True)
    dy = rng.standard_normal((n, c, ho, ho), dtype=np.float32)
    big, small = x.size, dy.size
    name = f"max pool {n}x{c}x{h}x{h} k{k} s{stride} p{pad} (+indices)"

    def torch_forward(torch):
        tx = torch.from_numpy(x)

        def forward():
            with torch.no_grad():
                return torch.nn.functional.max_pool2d(tx, k, stride, pad, return_indices=True)
        return forward

    def torch_backward(torch):
        tx = torch.from_numpy(x).requires_grad_(True)
        ty, _ = torch.nn.functional.max_pool2d(tx, k, stride, pad, return_indices=True)
        tdy = torch.from_numpy(dy)
        return lambda: torch.autograd.grad(ty, tx, tdy, retain_graph=True)

    return [
        {"case": name, "op": "forward", "target": "max forward",
         "numpy": lambda: f.apply(x, want_indices=True),
         "mb": mb((big, FLOAT), (small, FLOAT), (small, INDEX)), "torch": torch_forward},
        {"case": name, "op": "backward",
         "numpy": lambda: f.apply_backward(None, None, dy, indices=indices),
         "mb": mb((small, FLOAT), (small, INDEX), (big, FLOAT)), "torch": torch_backward},
    ]


def average_pool_specs(x: np.ndarray, rng) -> list[dict]:
    """Average pooling 2x2, stride 2, no padding: forward and backward."""
    n, c, h, _ = x.shape
    k = stride = 2
    ho = (h - k) // stride + 1
    f = pooling_filter(AVERAGE_COUNT_INCLUDE_PADDING, c, h, ho, k, stride, 0)
    dy = rng.standard_normal((n, c, ho, ho), dtype=np.float32)
    traffic = mb((x.size, FLOAT), (dy.size, FLOAT))
    name = f"avg pool {n}x{c}x{h}x{h} k{k} s{stride}"

    def torch_forward(torch):
        tx = torch.from_numpy(x)

        def forward():
            with torch.no_grad():
                return torch.nn.functional.avg_pool2d(tx, k, stride)
        return forward

    def torch_backward(torch):
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = torch.nn.functional.avg_pool2d(tx, k, stride)
        tdy = torch.from_numpy(dy)
        return lambda: torch.autograd.grad(ty, tx, tdy, retain_graph=True)

    return [
        {"case": name, "op": "forward", "numpy": lambda: f.apply(x), "mb": traffic,
         "torch": torch_forward},
        {"case": name, "op": "backward", "numpy": lambda: f.apply_backward(None, None, dy),
         "mb": traffic, "torch": torch_backward},
    ]


def cross_entropy_specs(rng) -> list[dict]:
    """Softmax cross-entropy, reduction Mean: forward+backward (the gradient from apply) and
    forward alone. Ours takes one-hot float labels (BNNS's form), PyTorch class indices."""
    n, classes = LOSS_SHAPE
    f = LossFilter(LossParameters(
        function=SOFTMAX_CROSS_ENTROPY, i_desc=Descriptor.for_shape(LAYOUT_VECTOR, (classes,)),
        o_desc=Descriptor.for_shape(LAYOUT_VECTOR, (1,)), reduction=REDUCTION_MEAN))
    x = rng.standard_normal((n, classes), dtype=np.float32)
    target = rng.integers(0, classes, n)
    labels = np.zeros((n, classes), np.float32)
    labels[np.arange(n), target] = 1
    name = f"softmax cross-entropy {n}x{classes} mean"

    def torch_forward(torch):
        tx, tt = torch.from_numpy(x), torch.from_numpy(target)

        def forward():
            with torch.no_grad():
                return torch.nn.functional.cross_entropy(tx, tt)
        return forward

    def torch_forward_backward(torch):
        tx, tt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(target)
        # a fresh graph each time, as the forward+backward of one training step
        return lambda: torch.autograd.grad(torch.nn.functional.cross_entropy(tx, tt), tx)

    dense = (x.size, FLOAT)     # logits, one-hot labels and the gradient are each N x classes floats
    return [
        {"case": name, "op": "fwd+bwd", "target": "cross-entropy fwd+bwd",
         "numpy": lambda: f.apply(x, labels, want_input_grad=True),
         "mb": mb(dense, dense, dense), "torch": torch_forward_backward},
        {"case": name, "op": "forward", "numpy": lambda: f.apply(x, labels),
         "mb": mb(dense, dense), "torch": torch_forward},
    ]


def targets(specs: list[dict]) -> dict:
    """Issue 3's targets against the same-run PyTorch times (peer.md's when torch is absent)."""
    by_target = {s["target"]: s for s in specs if "target" in s}
    out = {}
    for key, factor, what in TARGETS:
        spec = by_target[key]
        ours = spec["time"]["median_ms"]
        reference, source = spec.get("torch_ms"), "same run"
        if not reference:
            reference, source = PEER_TORCH_MS[key], "peer.md"
        out[key] = {"goal": what, "ours_ms": ours, "torch_ms": reference, "torch_source": source,
                    "ratio": ours / reference, "limit": factor, "met": ours <= factor * reference}
    return out


def run(quick: bool = False) -> dict:
    common.setup()
    rng = np.random.default_rng(0)
    budget = 1.0 if quick else 3.0
    copy = common.copy_gbps()
    n, c, h = POOL_INPUT
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    specs = max_pool_specs(x, rng) + average_pool_specs(x, rng) + cross_entropy_specs(rng)
    common.time_specs(specs, budget)
    rows = common.memory_rows(specs, copy)
    common.print_table(
        f"Pooling and softmax cross-entropy (float32; same-run copy rate {copy:.1f} GB/s)", rows,
        [("case", "case"), ("op", "op"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("gbps", "GB/s"),
         ("of_copy", "of copy"), ("torch_ms", "PyTorch ms"), ("vs_torch", "time / PyTorch's")])
    print("\nGB/s: compulsory traffic (each tensor read or written once; 4 B per float, 8 B per int64 index) / median."
          "\nCross-entropy: ours takes one-hot float32 labels (BNNS's form; counted in its traffic), PyTorch's"
          "\nF.cross_entropy int64 class indices (what peer.md measured). PyTorch forward under no_grad;"
          "\nbackward = torch.autograd.grad on a retained graph; fwd+bwd = a fresh graph each time."
          + ("" if any("torch_ms" in s for s in specs) else "\nPyTorch is not importable: no PyTorch column."))

    met = targets(specs)
    print("\nIssue 3 targets: " + "; ".join(
        f"{t['goal']}: {t['ours_ms']:.2f} ms vs {t['torch_ms']:.2f} ms ({t['torch_source']}), "
        f"{t['ratio']:.2f}x -> {'MET' if t['met'] else 'NOT MET'}" for t in met.values()) + ".")
    print("\n" + common.hygiene())
    path = common.write_json("pooling_loss", {"copy_gbps": copy, "rows": rows, "targets": met,
                                              "peer_torch_ms": PEER_TORCH_MS})
    print(f"\nwrote {path}")
    return {"copy_gbps": copy, "rows": rows, "targets": met}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budget per case")
    run(parser.parse_args().quick)
