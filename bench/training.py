"""One training step of the example network (examples/train_digits.py: conv -> batch norm + ReLU ->
max pool -> fully connected -> softmax cross-entropy -> Adam on the server), batch 64 of 8x8
digits: in process, and through a live server over gRPC; PyTorch's same network beside, twice:
on one thread, interleaved with our in-process step (one thread has no OpenMP workers to spin),
and on all its threads after all of ours, with OMP_WAIT_POLICY=ACTIVE (on these tiny tensors
sleeping OpenMP threads, PASSIVE, cost PyTorch several times its step; the issue allows either
form of hygiene). The ratios are against the faster of PyTorch's two times; the in-process row's
note gives the ratio to the interleaved one-thread time (the same load as ours). The row is
split into the time spent inside the kernels' filter calls and optimizer step and the rest (SDK,
server core, codec, descriptor checks).

    python -m bench.training [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import time

import numpy as np

from . import common

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"
BATCH = 64


def load_example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    if spec is None or spec.loader is None:
        raise ImportError(f"{EXAMPLE} is not a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_timer(example, target: str, x, y, budget: float, peer=None) -> tuple:
    """(our step's time_ms, the peer step's or None), the two interleaved (common.time_pair)."""
    example.bnns.connect(target)
    net = example.DigitNet(seed=0)
    try:
        return common.time_pair(lambda: net.train_step(x, y), peer, budget_s=budget)
    finally:
        net.close()


def kernel_share(example, x, y, steps: int) -> dict:
    """Mean step time in process and the part of it spent inside the kernels."""
    example.bnns.connect("local")
    net = example.DigitNet(seed=0)
    try:
        for _ in range(10):
            net.train_step(x, y)
        spent: list[float] = []         # seconds of each kernel call
        with common.kernel_clock(spent.append):
            start = time.perf_counter()
            for _ in range(steps):
                net.train_step(x, y)
            total = time.perf_counter() - start
        return {"step_ms": total / steps * 1e3, "kernels_ms": sum(spent) / steps * 1e3}
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
    # PyTorch on one thread is timed interleaved with ours (one thread has no OpenMP workers to
    # spin); on all its threads after all of ours, with OMP_WAIT_POLICY=ACTIVE (see the docstring).
    torch = common.torch_or_none(wait_policy="ACTIVE")
    single_step = None
    if torch is not None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        single_step = torch_step(torch, x, y)
    ours, single = step_timer(example, "local", x, y, budget, single_step)
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
                     **step_timer(example, server.grpc_target, x, y, budget)[0]})
    finally:
        server.stop()
    example.bnns.connect("local")
    if torch is not None:
        # The ratios are against PyTorch's faster form; the note gives the ratio to the one-thread
        # time, measured under the same load as ours (PyTorch's OpenMP threads spinning on a
        # loaded 2-core machine can make its all-threads step 100x slower).
        torch.set_num_threads(threads)
        theirs = common.time_ms(torch_step(torch, x, y), budget_s=budget)
        rows.append({"way": "PyTorch, same network, in process (1 thread, interleaved with ours)", **single})
        rows.append({"way": f"PyTorch, same network, in process ({threads} threads, after ours)", **theirs})
        best = min(theirs["median_ms"], single["median_ms"])
        rows[0]["vs_torch"] = common.ratio(ours["median_ms"], best)
        rows[1]["vs_torch"] = common.ratio(rows[1]["median_ms"], best)
        rows[0]["note"] = (f"{common.ratio(ours['median_ms'], single['median_ms'])} PyTorch's one-thread time "
                           "(the same load as ours)")
    common.print_table(f"One training step of examples/train_digits.py (batch {BATCH}; 11 BNNS calls + 1 optimizer "
                       "step)", rows, [("way", "way"), ("median_ms", "median ms"), ("min_ms", "min ms"),
                                       ("vs_torch", "time / PyTorch's"), ("note", "note")])
    print("\n" + common.hygiene(interleaved=False) + " PyTorch on one thread: interleaved with ours.")
    path = common.write_json("training", {"rows": rows, "kernel_share": share})
    print(f"\nwrote {path}")
    return {"rows": rows, "kernel_share": share}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
