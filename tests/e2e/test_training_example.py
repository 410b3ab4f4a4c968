"""The digits example trains through a live server: the loss falls and accuracy ends far above chance."""

from __future__ import annotations

import importlib.util
import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "train_digits.py"


def load_example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_cnn_trains_through_the_server(grpc_server):
    history = load_example().train(server=grpc_server.grpc_target, epochs=3, show_progress=False)
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.5 * losses[0], losses                 # starts near ln(10) = 2.3
    assert history[-1]["test_accuracy"] > 0.85, history          # chance is 0.10
    assert history[-1]["test_accuracy"] > history[0]["test_accuracy"] - 0.02


def test_digits_data_is_the_shipped_uci_set():
    x_train, y_train, x_test, y_test = load_example().load_digits()
    assert len(x_train) + len(x_test) == 1797 and x_train.shape[1:] == (1, 8, 8)
    assert set(y_train) == set(range(10)) and 0.0 <= x_train.min() and x_train.max() <= 1.0
