"""One training step of the example network (examples/train_digits.py: conv -> batch norm + ReLU ->
max pool -> fully connected -> softmax cross-entropy -> Adam on the server), batch 64 of 8x8
digits: in process, and through a live server over gRPC; PyTorch's same network beside. Ours is
all timed first, then PyTorch's with OMP_WAIT_POLICY=ACTIVE: on these tiny tensors sleeping
OpenMP threads (PASSIVE) cost PyTorch several times its step, and the issue allows either form of
hygiene; PyTorch is also timed on one thread, and the faster of its two times is the ratios'
reference. The in-process row is split into the time spent inside the kernels' filter calls and
optimizer step and the rest (SDK, server core, codec, descriptor checks).

    python -m bench.training [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import pathlib
import time

import numpy as np

from . import common

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"
BATCH = 64


def load_example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_timer(example, target: str, x, y, budget: float) -> dict:
    example.bnns.connect(target)
    net = example.DigitNet(seed=0)
    try:
        return common.time_ms(lambda: net.train_step(x, y), budget_s=budget)
    finally:
        net.close()


@contextlib.contextmanager
def kernel_clock():
    """Accumulate the wall time spent inside the kernels' entry points (filter apply and
    apply_backward, the optimizer step) into the yielded one-item list, in seconds."""
    from bnns.kernels import convolution, loss, normalization, optimizer, pooling
    spent = [0.0]
    patched = []

    def timed(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return wrapper

    targets = [(cls, name) for cls in (convolution.ConvolutionFilter, convolution.FullyConnectedFilter,
                                       normalization.NormalizationFilter, pooling.PoolingFilter, loss.LossFilter)
               for name in ("apply", "apply_backward")] + [(optimizer, "optimizer_step")]
    for owner, name in targets:
        original = getattr(owner, name)
        patched.append((owner, name, original))
        setattr(owner, name, timed(original))
    try:
        yield spent
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)


def kernel_share(example, x, y, steps: int) -> dict:
    """Mean step time in process and the part of it spent inside the kernels."""
    example.bnns.connect("local")
    net = example.DigitNet(seed=0)
    try:
        for _ in range(10):
            net.train_step(x, y)
        with kernel_clock() as spent:
            start = time.perf_counter()
            for _ in range(steps):
                net.train_step(x, y)
            total = time.perf_counter() - start
        return {"step_ms": total / steps * 1e3, "kernels_ms": spent[0] / steps * 1e3}
    finally:
        net.close()


def torch_step(torch, x, y):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(tx), ty).backward()
        optimizer.step()
    return step


def run(quick: bool = False) -> dict:
    common.setup()
    budget = 1.0 if quick else 3.0
    example = load_example()
    x_train, y_train, _, _ = example.load_digits()
    x, y = np.ascontiguousarray(x_train[:BATCH]), y_train[:BATCH]
    ours = step_timer(example, "local", x, y, budget)
    share = kernel_share(example, x, y, steps=100 if quick else 400)
    rows = [{"way": "in process (connect('local'))", **ours},
            {"way": "  of which inside the kernels (filter calls, optimizer step)",
             "median_ms": share["kernels_ms"] * ours["median_ms"] / share["step_ms"],
             "note": f"{share['kernels_ms'] / share['step_ms']:.0%} of the step (mean of a separate run)"},
            {"way": "  of which SDK, server core, codec, descriptor checks",
             "median_ms": (1 - share["kernels_ms"] / share["step_ms"]) * ours["median_ms"]}]
    server = common.ServerProcess()
    try:
        rows.append({"way": "through bnns-server (gRPC, loopback)",
                     **step_timer(example, server.grpc_target, x, y, budget)})
    finally:
        server.stop()
    example.bnns.connect("local")
    torch = common.torch_or_none(wait_policy="ACTIVE")     # after all of ours: see the docstring
    if torch is not None:
        # PyTorch on all cores, then on one: on tensors this small one thread is often faster, and
        # it does not depend on idle cores (spinning OpenMP threads on a loaded 2-core machine can
        # make a step 100x slower). The faster of the two is the reference.
        threads = torch.get_num_threads()
        theirs = common.time_ms(torch_step(torch, x, y), budget_s=budget)
        rows.append({"way": f"PyTorch, same network, in process ({threads} threads)", **theirs})
        torch.set_num_threads(1)
        try:
            single = common.time_ms(torch_step(torch, x, y), budget_s=budget)
        finally:
            torch.set_num_threads(threads)
        rows.append({"way": "PyTorch, same network, in process (1 thread)", **single})
        best = min(theirs["median_ms"], single["median_ms"])
        rows[0]["vs_torch"] = common.ratio(ours["median_ms"], best)
        rows[1]["vs_torch"] = common.ratio(rows[1]["median_ms"], best)
    common.print_table(f"One training step of examples/train_digits.py (batch {BATCH}; 11 BNNS calls + 1 optimizer "
                       "step)", rows, [("way", "way"), ("median_ms", "median ms"), ("min_ms", "min ms"),
                                       ("vs_torch", "time / PyTorch's"), ("note", "note")])
    print("\n" + common.hygiene(interleaved=False))
    path = common.write_json("training", {"rows": rows, "kernel_share": share})
    print(f"\nwrote {path}")
    return {"rows": rows, "kernel_share": share}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
