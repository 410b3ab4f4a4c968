"""Convolution family: forward and backward time, GFLOP/s, and the ratio to this machine's float32
GEMM rate measured in the same run; PyTorch's time for the same work beside it when importable.

Ours and PyTorch's calls are interleaved in the same run (medians), with OMP_WAIT_POLICY=PASSIVE
for both: torch's OpenMP threads would otherwise keep spinning after its calls and slow the BLAS
threads timed after them.

    python -m bench.convolution [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

from bnns.kernels.convolution import ConvolutionFilter, FullyConnectedFilter
from bnns.kernels.layout import (Descriptor, LAYOUT_CONV_WEIGHTS_OIHW, LAYOUT_IMAGE_CHW, LAYOUT_ROW_MAJOR_MATRIX,
                                 LAYOUT_VECTOR)
from bnns.kernels.params import ConvolutionParameters, FullyConnectedParameters

from . import common

# (name, N, C_in, C_out, H, k, stride, pad, groups) — the shapes of issue 2 and peer.md.
CONV_CASES = [
    ("resnet block 32x64x56x56 k3 s1 p1", 32, 64, 64, 56, 3, 1, 1, 1),
    ("stem 32x3x112x112 k7 s2 p3", 32, 3, 64, 112, 7, 2, 3, 1),
    ("grouped 16x128x28x28 k3 p1 g32", 16, 128, 128, 28, 3, 1, 1, 32),
]
FC_CASE = ("fully connected 256x4096->1024", 256, 4096, 1024)


def conv_case(name, n, c_in, c_out, h, k, stride, pad, groups, rng) -> dict:
    ho = (h + 2 * pad - k) // stride + 1
    w = rng.standard_normal((c_out, c_in // groups, k, k), dtype=np.float32) * 0.05
    f = ConvolutionFilter(ConvolutionParameters(
        i_desc=Descriptor.for_shape(LAYOUT_IMAGE_CHW, (c_in, h, h)),
        w_desc=Descriptor.for_shape(LAYOUT_CONV_WEIGHTS_OIHW, w.shape, w),
        o_desc=Descriptor.for_shape(LAYOUT_IMAGE_CHW, (c_out, ho, ho)),
        bias=Descriptor.for_shape(LAYOUT_VECTOR, (c_out,), np.zeros(c_out, np.float32)),
        x_stride=stride, y_stride=stride, x_padding=pad, y_padding=pad, groups=groups))
    x = rng.standard_normal((n, c_in, h, h), dtype=np.float32)
    dy = rng.standard_normal((n, c_out, ho, ho), dtype=np.float32)

    def torch_ops(torch):
        tx, tw = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
        tb = torch.zeros(c_out, requires_grad=True)
        forward = lambda: torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad, groups=groups)
        return forward, (tx, tw, tb), torch.from_numpy(dy)

    return {"name": name, "filter": f, "x": x, "dy": dy, "torch": torch_ops,
            "gflop": 2 * n * c_out * ho * ho * (c_in // groups) * k * k / 1e9}


def fc_case(name, n, n_in, n_out, rng) -> dict:
    w = rng.standard_normal((n_out, n_in), dtype=np.float32) * 0.01
    f = FullyConnectedFilter(FullyConnectedParameters(
        i_desc=Descriptor.for_shape(LAYOUT_VECTOR, (n_in,)),
        w_desc=Descriptor.for_shape(LAYOUT_ROW_MAJOR_MATRIX, (n_out, n_in), w),
        o_desc=Descriptor.for_shape(LAYOUT_VECTOR, (n_out,)),
        bias=Descriptor.for_shape(LAYOUT_VECTOR, (n_out,), np.zeros(n_out, np.float32))))
    x = rng.standard_normal((n, n_in), dtype=np.float32)
    dy = rng.standard_normal((n, n_out), dtype=np.float32)

    def torch_ops(torch):
        tx, tw = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
        tb = torch.zeros(n_out, requires_grad=True)
        return (lambda: torch.nn.functional.linear(tx, tw, tb)), (tx, tw, tb), torch.from_numpy(dy)

    return {"name": name, "filter": f, "x": x, "dy": dy, "torch": torch_ops, "gflop": 2 * n * n_in * n_out / 1e9}


def run(quick: bool = False) -> dict:
    common.setup()
    rng = np.random.default_rng(0)
    budget = 1.0 if quick else 3.0
    gemm = common.gemm_gflops()
    cases = [conv_case(*spec, rng) for spec in CONV_CASES] + [fc_case(*FC_CASE, rng)]
    torch = common.torch_or_none()
    for case in cases:
        f, x, dy = case["filter"], case["x"], case["dy"]
        y = np.empty((x.shape[0],) + f.output_desc.shape, np.float32)
        d_x = np.empty_like(x)
        # Ours writes into the caller's buffers (out=), as the server core calls it.
        ours_forward = lambda: f.apply(x, out=y)
        ours_backward = lambda: f.apply_backward(x, None, dy, input_grad=True, weights_grad=True, bias_grad=True,
                                                 in_delta_out=d_x)
        theirs_forward = theirs_backward = None
        if torch is not None:
            forward, inputs, tdy = case["torch"](torch)

            def theirs_forward(forward=forward):
                with torch.no_grad():
                    return forward()
            ty = forward()
            theirs_backward = (lambda ty=ty, inputs=inputs, tdy=tdy:
                               torch.autograd.grad(ty, inputs, tdy, retain_graph=True))
        case["forward"], theirs = common.time_pair(ours_forward, theirs_forward, budget_s=budget)
        case["torch_forward"] = theirs and theirs["median_ms"]
        case["backward"], theirs = common.time_pair(ours_backward, theirs_backward, budget_s=budget)
        case["torch_backward"] = theirs and theirs["median_ms"]

    rows = []
    for case in cases:
        for direction, flops in (("forward", case["gflop"]), ("backward", 2 * case["gflop"])):
            t = case[direction]
            rate = flops / t["median_ms"] * 1e3
            torch_ms = case.get(f"torch_{direction}")
            rows.append({"case": case["name"], "op": direction, "median_ms": t["median_ms"], "min_ms": t["min_ms"],
                         "gflops": rate, "of_gemm": f"{rate / gemm:.0%}", "torch_ms": torch_ms or "",
                         "vs_torch": common.ratio(t["median_ms"], torch_ms)})
    common.print_table(
        f"Convolution family (float32; same-run GEMM rate {gemm:.0f} GFLOP/s; backward = dX + dW + db)", rows,
        [("case", "case"), ("op", "op"), ("median_ms", "median ms"), ("min_ms", "min ms"), ("gflops", "GFLOP/s"),
         ("of_gemm", "of GEMM"), ("torch_ms", "PyTorch ms"), ("vs_torch", "time / PyTorch's")])
    print("\n" + common.blas_line() + ".")
    print(common.hygiene())
    path = common.write_json("convolution", {"gemm_gflops": gemm, "rows": rows})
    print(f"\nwrote {path}")
    return {"gemm_gflops": gemm, "rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budget per case")
    run(parser.parse_args().quick)
