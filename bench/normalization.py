"""Normalization (issue 4): batch norm and layer norm forward and backward time, effective GB/s and
the ratio to this machine's memory-copy rate measured in the same run; the fused conv3x3 +
batch norm + ReLU layer (kernels/fused.py) with GFLOP/s against the same-run GEMM rate; PyTorch's
time for the same work beside each when importable.

Effective GB/s counts compulsory traffic, as peer.md does: every tensor the op must read or write,
once, at 4 B per float (forward x and y; backward x, dL/dy and dL/dx; parameters and their
gradients included). It is a lower bound on the bytes moved, so GB/s is a lower bound on the
bandwidth used.

Ours and PyTorch's calls are interleaved in the same run (medians), with OMP_WAIT_POLICY=PASSIVE for
both: torch's OpenMP threads would otherwise keep spinning after its calls.

    python -m bench.normalization [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util

import numpy as np

from bnns.kernels.activation import RECTIFIED_LINEAR, Activation
from bnns.kernels.layout import (LAYOUT_CONV_WEIGHTS_OIHW, LAYOUT_IMAGE_CHW, LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_VECTOR,
                                 Descriptor)
from bnns.kernels.normalization import BATCH_NORM, LAYER_NORM, NormalizationFilter
from bnns.kernels.params import NormalizationParameters

from . import common

BATCH_NORM_INPUT = (32, 64, 56)     # N, C, H (= W): the ResNet block shape of peer.md
LAYER_NORM_INPUT = (64, 128, 768)   # batch, tokens, features; normalised over the 768 features
FUSED_INPUT = (32, 64, 56)          # N, C (in = out), H (= W) for conv3x3 s1 p1 + BN + ReLU
MOMENTUM_BNNS, EPSILON = 0.9, 1e-5  # BNNS's momentum 0.9 is torch's 0.1 (normalization.py Notes)

FLOAT = 4


def mb(*counts: int) -> float:
    """Compulsory traffic in MB of float32 tensors with these element counts."""
    return sum(counts) * FLOAT / 1e6


def vector(values: np.ndarray) -> Descriptor:
    return Descriptor.for_shape(LAYOUT_VECTOR, values.shape, values)


def batch_norm_params(c: int, h: int, activation: Activation = Activation()) -> NormalizationParameters:
    """BatchNorm over (C, H, H) items with beta 0, gamma 1 and moving statistics."""
    image = Descriptor.for_shape(LAYOUT_IMAGE_CHW, (c, h, h))
    zeros, ones = np.zeros(c, np.float32), np.ones(c, np.float32)
    return NormalizationParameters(type=BATCH_NORM, i_desc=image, o_desc=image, beta_desc=vector(zeros),
                                   gamma_desc=vector(ones), moving_mean_desc=vector(zeros), moving_variance_desc=vector(ones),
                                   momentum=MOMENTUM_BNNS, epsilon=EPSILON, activation=activation)


def batch_norm_specs(rng) -> list[dict]:
    """Batch norm training, no activation: forward, backward (dX, d_beta, d_gamma), both."""
    n, c, h = BATCH_NORM_INPUT
    f = NormalizationFilter(batch_norm_params(c, h))
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    dy = rng.standard_normal(x.shape, dtype=np.float32)
    f.apply(x, training=True)           # the backward cache
    name = f"batch norm train {n}x{c}x{h}x{h}"

    def torch_inputs(torch):
        tx = torch.from_numpy(x).requires_grad_(True)
        gamma, beta = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
        mean, var = torch.zeros(c), torch.ones(c)
        forward = lambda: torch.nn.functional.batch_norm(
            tx, mean, var, gamma, beta, training=True, momentum=1 - MOMENTUM_BNNS, eps=EPSILON)
        return forward, (tx, beta, gamma), torch.from_numpy(dy)   # our gradients' order

    forward_mb, backward_mb = mb(x.size, x.size, 2 * c), mb(3 * x.size, 3 * c)

    def backward():
        return f.apply_backward(None, dy, beta_grad=True, gamma_grad=True)

    def forward_backward():
        f.apply(x, training=True)
        return backward()

    return [
        {"case": name, "op": "forward", "numpy": lambda: f.apply(x, training=True), "mb": forward_mb,
         "torch": lambda torch: _torch_forward(torch, torch_inputs)},
        {"case": name, "op": "backward", "numpy": backward, "mb": backward_mb,
         "torch": lambda torch: _torch_backward(torch, torch_inputs)},
        {"case": name, "op": "fwd+bwd", "numpy": forward_backward, "mb": forward_mb + backward_mb,
         "torch": lambda torch: _torch_forward_backward(torch, torch_inputs)},
    ]


def layer_norm_specs(rng) -> list[dict]:
    """Layer norm over the last axis of (batch, tokens, features) samples: forward, backward."""
    n, tokens, features = LAYER_NORM_INPUT
    item = Descriptor.for_shape(LAYOUT_ROW_MAJOR_MATRIX, (tokens, features))
    gamma, beta = np.ones(features, np.float32), np.zeros(features, np.float32)
    f = NormalizationFilter(NormalizationParameters(type=LAYER_NORM, i_desc=item, o_desc=item, beta_desc=vector(beta),
                                                    gamma_desc=vector(gamma), epsilon=EPSILON, normalization_axis=1))
    x = rng.standard_normal((n, tokens, features), dtype=np.float32)
    dy = rng.standard_normal(x.shape, dtype=np.float32)
    f.apply(x, training=True)
    name = f"layer norm {n}x{tokens}x{features} (over {features})"

    def torch_inputs(torch):
        tx = torch.from_numpy(x).requires_grad_(True)
        tg, tb = torch.from_numpy(gamma).requires_grad_(True), torch.from_numpy(beta).requires_grad_(True)
        forward = lambda: torch.nn.functional.layer_norm(tx, (features,), tg, tb, eps=EPSILON)
        return forward, (tx, tb, tg), torch.from_numpy(dy)

    # Two forwards, each beside PyTorch's doing the same job: training (ours keeps x - mean for the
    # backward, which BNNS gives no x; PyTorch's autograd keeps a reference to x and records the
    # graph) and inference (neither keeps anything: PyTorch under no_grad).
    return [
        {"case": name, "op": "forward, training", "numpy": lambda: f.apply(x, training=True),
         "mb": mb(x.size, x.size, 2 * features), "torch": lambda torch: _torch_forward(torch, torch_inputs, grad=True)},
        {"case": name, "op": "forward, inference", "numpy": lambda: f.apply(x, training=False),
         "mb": mb(x.size, x.size, 2 * features), "torch": lambda torch: _torch_forward(torch, torch_inputs)},
        {"case": name, "op": "backward",
         "numpy": lambda: f.apply_backward(None, dy, beta_grad=True, gamma_grad=True),
         "mb": mb(3 * x.size, 3 * features), "torch": lambda torch: _torch_backward(torch, torch_inputs)},
    ]


def layer_norm_floor_specs(rng) -> list[dict]:
    """What no NumPy layer norm can beat on the layer-norm shape, timed beside PyTorch (issue 14's
    floor), blocked over the cores as the kernel is:

    * traffic: only the bytes the kernel must move, as block copies. Training forward: read x,
      write x - mean (BNNS's backward takes no x, so the forward keeps it) and y; inference
      forward: read x, write y. Backward: read x - mean and dL/dy, write dL/dx.
    * passes: the fewest elementwise NumPy passes the formula allows, and nothing else (no
      statistics, reductions or outer products). Forward: x - mean into the cache, times a
      same-shape factor (inv_std gamma) into y, + beta. Backward: dL/dy (x - mean) (for
      dL/dgamma), dL/dy times a same-shape factor (inv_std gamma), minus a per-row constant,
      minus (x - mean) times a per-row factor (two passes).
    * the formula's NumPy calls: those passes plus what the formula cannot do without, each one
      NumPy call at its fastest, and nothing else (the per-row values are given, not computed):
      the factor inv_std gamma formed (the kernel's rank-1 product; the passes floor takes it
      ready-made) and, forward, the row sums of x and of (x - mean)^2; backward, the column sums
      for dL/dbeta and dL/dgamma and the two per-row sums with gamma, as matrix-vector products.
      Inference forward: the training one's calls, x - mean formed in y.
    """
    from bnns.kernels import parallel
    from bnns.kernels.normalization import _outer, block_bytes
    n, tokens, features = LAYER_NORM_INPUT
    rows = n * tokens
    x = rng.standard_normal((rows, features), dtype=np.float32)
    dy = rng.standard_normal(x.shape, dtype=np.float32)
    x_hat, y, scratch = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    per_row = rng.uniform(0.5, 1.5, rows).astype(np.float32)
    block = parallel.block_rows(features * FLOAT, block_bytes())
    gamma = np.tile(rng.uniform(0.5, 1.5, features).astype(np.float32), (block, 1))
    beta = np.tile(rng.standard_normal(features, dtype=np.float32), (block, 1))
    name = f"layer norm {n}x{tokens}x{features} (over {features})"

    def blocked(work):
        return lambda: parallel.map_blocks(rows, features * FLOAT, work, block_bytes=block_bytes())

    def forward_traffic(lo: int, hi: int) -> None:
        np.copyto(x_hat[lo:hi], x[lo:hi])
        np.copyto(y[lo:hi], x[lo:hi])

    def forward_passes(lo: int, hi: int) -> None:
        c = np.subtract(x[lo:hi], per_row[lo:hi, None], out=x_hat[lo:hi])
        out = np.multiply(c, gamma[:hi - lo], out=y[lo:hi])
        out += beta[:hi - lo]

    ones, row_ones, gamma_row = np.ones(features, np.float32), np.ones(block, np.float32), gamma[0].copy()

    def factor(lo: int, hi: int) -> np.ndarray:
        """inv_std (per row) times gamma (per column): the kernel's rank-1 product (_outer)."""
        out = parallel.scratch((2, hi - lo, features), np.float32)[1]
        _outer(per_row[lo:hi], gamma_row, out, add=False)
        return out

    def forward_calls(lo: int, hi: int) -> None:
        np.vecdot(x[lo:hi], ones)                   # the row means' sums
        c = np.subtract(x[lo:hi], per_row[lo:hi, None], out=x_hat[lo:hi])
        np.vecdot(c, c)                             # the variances' sums
        out = np.multiply(c, factor(lo, hi), out=y[lo:hi])
        out += beta[:hi - lo]

    def backward_traffic(lo: int, hi: int) -> None:
        np.add(x_hat[lo:hi], dy[lo:hi], out=scratch[lo:hi])

    def backward_calls(lo: int, hi: int) -> None:
        p = np.multiply(dy[lo:hi], x_hat[lo:hi], out=parallel.scratch((2, hi - lo, features), np.float32)[0])
        np.matmul(row_ones[:hi - lo], dy[lo:hi])    # dL/dbeta's part (column sums)
        np.matmul(per_row[lo:hi], p)                # dL/dgamma's part (inv_std-weighted column sums)
        np.matmul(dy[lo:hi], gamma_row)             # per row <dL/dy, gamma>
        np.matmul(p, gamma_row)                     # per row <dL/dy (x - mean), gamma>
        out = np.multiply(dy[lo:hi], factor(lo, hi), out=scratch[lo:hi])
        out -= per_row[lo:hi, None]
        out -= np.multiply(x_hat[lo:hi], per_row[lo:hi, None], out=p)

    def backward_passes(lo: int, hi: int) -> None:
        p = np.multiply(dy[lo:hi], x_hat[lo:hi], out=parallel.scratch((hi - lo, features), np.float32))
        out = np.multiply(dy[lo:hi], gamma[:hi - lo], out=scratch[lo:hi])
        out -= per_row[lo:hi, None]
        out -= np.multiply(x_hat[lo:hi], per_row[lo:hi, None], out=p)

    def inference_traffic(lo: int, hi: int) -> None:
        np.copyto(y[lo:hi], x[lo:hi])

    def inference_calls(lo: int, hi: int) -> None:
        np.vecdot(x[lo:hi], ones)
        c = np.subtract(x[lo:hi], per_row[lo:hi, None], out=y[lo:hi])     # no cache: in y itself
        np.vecdot(c, c)
        c *= factor(lo, hi)
        c += beta[:hi - lo]

    torch_forward, torch_inference, torch_backward = (spec["torch"] for spec in layer_norm_specs(rng))
    return [
        {"case": name, "op": "forward, training, floor: traffic", "numpy": blocked(forward_traffic),
         "mb": mb(x.size, x.size), "torch": torch_forward},
        {"case": name, "op": "forward, training, floor: NumPy passes", "numpy": blocked(forward_passes),
         "mb": mb(x.size, x.size), "torch": torch_forward},
        {"case": name, "op": "forward, training, floor: the formula's NumPy calls", "numpy": blocked(forward_calls),
         "mb": mb(x.size, x.size), "torch": torch_forward},
        {"case": name, "op": "forward, inference, floor: traffic", "numpy": blocked(inference_traffic),
         "mb": mb(x.size, x.size), "torch": torch_inference},
        {"case": name, "op": "forward, inference, floor: the formula's NumPy calls", "numpy": blocked(inference_calls),
         "mb": mb(x.size, x.size), "torch": torch_inference},
        {"case": name, "op": "backward floor: traffic", "numpy": blocked(backward_traffic),
         "mb": mb(3 * x.size), "torch": torch_backward},
        {"case": name, "op": "backward floor: NumPy passes", "numpy": blocked(backward_passes),
         "mb": mb(3 * x.size), "torch": torch_backward},
        {"case": name, "op": "backward floor: the formula's NumPy calls", "numpy": blocked(backward_calls),
         "mb": mb(3 * x.size), "torch": torch_backward},
    ]


def fused_conv_bn_relu_specs(rng) -> list[dict]:
    """conv3x3 s1 p1 (with bias) -> batch norm (training) -> ReLU, as one kernels.fused.FusedFilter:
    forward and backward (dX, dW, db, d_beta, d_gamma). Imports kernels.fused on call."""
    from bnns.kernels.convolution import ConvolutionParameters
    from bnns.kernels.fused import BATCH_NORM as FUSED_BATCH_NORM, CONVOLUTION, FusedFilter

    n, c, h = FUSED_INPUT
    k, pad = 3, 1
    w = rng.standard_normal((c, c, k, k), dtype=np.float32) * 0.05
    bias = np.zeros(c, np.float32)
    image = Descriptor.for_shape(LAYOUT_IMAGE_CHW, (c, h, h))
    conv = ConvolutionParameters(i_desc=image, w_desc=Descriptor.for_shape(LAYOUT_CONV_WEIGHTS_OIHW, w.shape, w),
                                 o_desc=image, bias=vector(bias), x_padding=pad, y_padding=pad)
    f = FusedFilter(((CONVOLUTION, conv), (FUSED_BATCH_NORM, batch_norm_params(c, h, Activation(RECTIFIED_LINEAR)))))
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    dy = rng.standard_normal(x.shape, dtype=np.float32)
    y = f.apply([x], training=True)     # the backward cache, and y for ReLU's derivative
    name = f"fused conv3x3+bn+relu {n}x{c}x{h}x{h}"
    gflop = 2 * n * c * h * h * c * k * k / 1e9

    def torch_inputs(torch):
        tx, tw = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
        tb = torch.from_numpy(bias).requires_grad_(True)
        gamma, beta = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
        mean, var = torch.zeros(c), torch.ones(c)
        F = torch.nn.functional

        def forward():
            z = F.conv2d(tx, tw, tb, padding=pad)
            z = F.batch_norm(z, mean, var, gamma, beta, training=True, momentum=1 - MOMENTUM_BNNS, eps=EPSILON)
            return F.relu(z)
        return forward, (tx, tw, tb, beta, gamma), torch.from_numpy(dy)

    params = w.size + 3 * c             # weights, bias, beta, gamma (and as many gradients backward)
    return [
        {"case": name, "op": "forward", "numpy": lambda: f.apply([x], training=True),
         "mb": mb(x.size, y.size, params), "gflop": gflop, "torch": lambda torch: _torch_forward(torch, torch_inputs)},
        {"case": name, "op": "backward",
         "numpy": lambda: f.apply_backward([x], y, dy, input_grads=[True], delta_parameters=[True] * 4),
         "mb": mb(3 * x.size, 2 * params), "gflop": 2 * gflop,
         "torch": lambda torch: _torch_backward(torch, torch_inputs)},
    ]


def _torch_forward(torch, torch_inputs, grad: bool = False):
    """PyTorch's forward under no_grad (inference), or with autograd recording it (training)."""
    forward = torch_inputs(torch)[0]

    def run():
        with torch.set_grad_enabled(grad):
            return forward()
    return run


def _torch_backward(torch, torch_inputs):
    forward, inputs, tdy = torch_inputs(torch)
    ty = forward()
    return lambda: torch.autograd.grad(ty, inputs, tdy, retain_graph=True)


def _torch_forward_backward(torch, torch_inputs):
    forward, inputs, tdy = torch_inputs(torch)
    return lambda: torch.autograd.grad(forward(), inputs, tdy)   # a fresh graph each time


def run(quick: bool = False) -> dict:
    common.setup()
    rng = np.random.default_rng(0)
    budget = 1.0 if quick else 3.0
    copy = common.copy_gbps()
    specs = batch_norm_specs(rng) + layer_norm_specs(rng) + layer_norm_floor_specs(rng)
    fused = importlib.util.find_spec("bnns.kernels.fused") is not None
    gemm = None
    if fused:
        gemm = common.gemm_gflops()
        specs += fused_conv_bn_relu_specs(rng)
    common.time_specs(specs, budget)
    rows = common.memory_rows(specs, copy, gemm if fused else None)
    columns = [("case", "case"), ("op", "op"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("gbps", "GB/s"),
               ("of_copy", "of copy")]
    if fused:
        columns += [("gflops", "GFLOP/s"), ("of_gemm", "of GEMM")]
    columns += [("torch_ms", "PyTorch ms"), ("vs_torch", "time / PyTorch's")]
    ceilings = f"same-run copy rate {copy:.1f} GB/s" + (f", GEMM rate {gemm:.0f} GFLOP/s" if fused else "")
    common.print_table(f"Normalization (float32, training mode, no activation unless named; {ceilings})",
                       rows, columns)
    print("\nGB/s: compulsory traffic (forward x, y; backward x, dL/dy, dL/dx; parameters and their gradients)"
          "\n/ median. Backward gives dX and every parameter gradient (batch/layer norm: beta, gamma; fused: W, b,"
          "\nbeta, gamma); fused GFLOP counts the convolution only (backward = 2x forward). PyTorch: F.batch_norm"
          "\n(training=True, running stats), F.layer_norm, conv2d -> batch_norm -> relu; forward under no_grad"
          "\n(layer norm's training forward: with autograd recording it, beside ours that keeps x - mean);"
          "\nbackward = torch.autograd.grad on a retained graph; fwd+bwd = a fresh graph each time."
          "\nLayer norm floors (layer_norm_floor_specs): traffic = only the bytes the kernel must move (the training"
          "\nforward keeps x - mean: BNNS's backward takes no x), as block copies; NumPy passes = the fewest elementwise"
          "\npasses the formula allows, nothing else; the formula's NumPy calls = those passes and the reductions it"
          "\ncannot do without (row and column sums), one call each; each beside PyTorch's time for the whole operation."
          + ("" if fused else "\nkernels/fused.py is not there yet: the fused conv3x3+bn+relu rows are skipped.")
          + ("" if any("torch_ms" in s for s in specs) else "\nPyTorch is not importable: no PyTorch column."))
    payload = {"copy_gbps": copy, "gemm_gflops": gemm, "rows": rows}
    print("\n" + common.hygiene())
    path = common.write_json("normalization", payload)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budget per case")
    run(parser.parse_args().quick)
