"""BroadcastMatMul (issue 12): forward + backward through the kernel, the SDK in process and the
SDK against a live server, beside torch.matmul and its autograd backward in the same run.

Cases:
* linear: batch 32 of A (128 x 256) @ B (256 x 256) with B the filter's weights (b_is_weights):
  a fully connected layer over 128 tokens; backward gives dA and the weights gradient dB.
* attention scores: batch 32 of Q (8 heads x 128 x 32) @ K^T (8 x 128 x 32, transB): the
  transformer's QK^T; backward gives dQ and dK.

Each "ours" variant is timed interleaved with PyTorch's same work (common.time_pair), medians.

    python -m bench.matmul [--quick]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bnns.kernels.contraction import BroadcastMatMulFilter
from bnns.kernels.layout import LAYOUT_3D_FIRST_MAJOR, LAYOUT_ROW_MAJOR_MATRIX, Descriptor
from bnns.kernels.params import BroadcastMatMulParameters

from . import common

CASES: dict[str, dict[str, Any]] = {
    "linear 32 x (128x256 @ 256x256 weights)": dict(batch=32, a=(128, 256), b=(256, 256), weights=True, trans_b=False),
    "attention QK^T 32 x (8x128x32 @ (8x128x32)^T)": dict(batch=32, a=(8, 128, 32), b=(8, 128, 32), weights=False,
                                                          trans_b=True),
}


def _layout(shape):
    return LAYOUT_ROW_MAJOR_MATRIX if len(shape) == 2 else LAYOUT_3D_FIRST_MAJOR


def _size(shape):
    """BNNS size[] of a logical shape (RowMajorMatrix: size[0] fastest; FirstMajor: logical order)."""
    return tuple(reversed(shape)) if len(shape) == 2 else tuple(shape)


def _out_shape(case):
    a, b = case["a"], case["b"]
    cols = b[-2] if case["trans_b"] else b[-1]
    return a[:-1] + (cols,)


def case_arrays(case, rng):
    n = case["batch"]
    a = rng.standard_normal((n,) + case["a"], dtype=np.float32)
    b = rng.standard_normal(case["b"] if case["weights"] else (n,) + case["b"], dtype=np.float32) / 16
    dy = rng.standard_normal((n,) + _out_shape(case), dtype=np.float32)
    return a, b, dy


def kernel_filter(case, b):
    desc = lambda shape, data=None: Descriptor.for_shape(_layout(shape), shape, data)
    return BroadcastMatMulFilter(BroadcastMatMulParameters(
        ia_desc=desc(case["a"]), ib_desc=desc(case["b"], b if case["weights"] else None),
        o_desc=desc(_out_shape(case)), trans_b=case["trans_b"], b_is_weights=case["weights"]))


def kernel_step(case, a, b, dy):
    f = kernel_filter(case, b)
    out = np.empty_like(dy)
    second = None if case["weights"] else b

    def step():
        f.apply(a, second, out=out)
        f.apply_backward(a, second, dy, a_grad=True, b_grad=True)
    return step


def sdk_step(bnns, case, a, b, dy):
    """BNNSFilterApplyTwoInputBatch + BNNSFilterApplyBackwardTwoInputBatch on the current connection."""
    d = lambda shape, data=None: bnns.BNNSNDArrayDescriptor(layout=_layout(shape), size=_size(shape), data=data)
    params = bnns.BNNSLayerParametersBroadcastMatMul(
        iA_desc=d(case["a"]), iB_desc=d(case["b"], b if case["weights"] else None), o_desc=d(_out_shape(case)),
        transB=case["trans_b"], b_is_weights=case["weights"])
    f = bnns.BNNSFilterCreateLayerBroadcastMatMul(params, None)
    assert f is not None, bnns.last_error()
    n = case["batch"]
    out, da, db = np.empty_like(dy), np.empty_like(a), np.empty_like(b)
    second = None if case["weights"] else b
    da_desc, dy_desc = d(case["a"], da), d(_out_shape(case), dy)
    db_desc = d(case["b"], db)

    def step():
        assert bnns.BNNSFilterApplyTwoInputBatch(f, n, a, 0, second, 0, out, 0) == 0, bnns.last_error()
        rc = bnns.BNNSFilterApplyBackwardTwoInputBatch(
            f, n, a, 0, da_desc, 0, second, 0, None if case["weights"] else db_desc, 0, out, 0, dy_desc, 0,
            db_desc if case["weights"] else None, None)
        assert rc == 0, bnns.last_error()
    return step


def torch_step(torch, case, a, b, dy):
    ta = torch.from_numpy(a).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    tdy = torch.from_numpy(dy)

    def step():
        ta.grad = tb.grad = None
        y = torch.matmul(ta, tb.transpose(-1, -2) if case["trans_b"] else tb)
        y.backward(tdy)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budgets")
    args = parser.parse_args()
    budget = 1.0 if args.quick else 3.0
    common.setup()
    torch = common.torch_or_none()
    import bnns.client as bnns

    rng = np.random.default_rng(0)
    server = common.ServerProcess()
    rows = []
    try:
        for name, case in CASES.items():
            a, b, dy = case_arrays(case, rng)
            theirs = torch_step(torch, case, a, b, dy) if torch is not None else None
            flops = 3 * 2 * dy.size * (case["b"][-1] if case["trans_b"] else case["b"][-2])   # fwd + 2 bwd GEMMs
            variants = [("kernel", kernel_step(case, a, b, dy))]
            bnns.connect("local")
            variants.append(("SDK local", sdk_step(bnns, case, a, b, dy)))
            bnns.connect(server.grpc_target)
            variants.append(("SDK remote (gRPC)", sdk_step(bnns, case, a, b, dy)))
            for label, ours in variants:
                mine, their = common.time_pair(ours, theirs, budget_s=budget)
                torch_ms, torch_min = (their["median_ms"], their["min_ms"]) if their else (None, None)
                rows.append({"case": name, "path": label, "median_ms": mine["median_ms"], "min_ms": mine["min_ms"],
                             "gflops": flops / mine["median_ms"] / 1e6, "torch_ms": torch_ms or "",
                             "torch_min_ms": torch_min or "", "vs_torch": common.ratio(mine["median_ms"], torch_ms),
                             "vs_torch_min": common.ratio(mine["min_ms"], torch_min)})
            bnns.connect("local")
    finally:
        assert server.stop() == 0, "".join(server.output)
    common.print_table("BroadcastMatMul forward + backward (both gradients), ours vs torch.matmul + autograd", rows,
                       [("case", "case"), ("path", "path"), ("median_ms", "ms (median)"), ("min_ms", "ms (min)"),
                        ("gflops", "GFLOP/s"), ("torch_ms", "PyTorch ms (median)"), ("torch_min_ms", "PyTorch ms (min)"),
                        ("vs_torch", "vs PyTorch (medians)"), ("vs_torch_min", "vs PyTorch (mins)")])
    print(common.hygiene())
    print(f"written: {common.write_json('matmul', {'rows': rows})}")


if __name__ == "__main__":
    main()
