"""One training step of the example network (examples/train_digits.py: conv -> batch norm + ReLU ->
max pool -> fully connected -> softmax cross-entropy -> Adam on the server), batch 64 of 8x8
digits: in process, and through a live server over gRPC; PyTorch's same network beside.

    python -m bench.training [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib

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
    rows = [{"way": "in process (connect('local'))", **step_timer(example, "local", x, y, budget)}]
    server = common.ServerProcess()
    try:
        rows.append({"way": "through bnns-server (gRPC, loopback)", **step_timer(example, server.grpc_target, x, y, budget)})
    finally:
        server.stop()
    example.bnns.connect("local")
    torch = common.torch_or_none()
    if torch is not None:
        rows.append({"way": "PyTorch, same network, in process", **common.time_ms(torch_step(torch, x, y),
                                                                                  budget_s=budget)})
    common.print_table(f"One training step of examples/train_digits.py (batch {BATCH}; 11 BNNS calls + 1 optimizer "
                       "step)", rows, [("way", "way"), ("median_ms", "median ms"), ("min_ms", "min ms")])
    path = common.write_json("training", {"rows": rows})
    print(f"\nwrote {path}")
    return {"rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
