"""The transformer example trains through a live server: digit reversal, which needs attention,
goes from chance (0.10 per digit) to far above it on held-out sequences; and the same steps give
the same numbers in process and over gRPC."""

from __future__ import annotations

import numpy as np

from ..conftest import load_example as _load_example


def load_example():
    return _load_example("train_transformer")


def test_transformer_learns_to_reverse_digits_through_the_server(grpc_server):
    history = load_example().train(server=grpc_server.grpc_target, epochs=2, steps=120, show_progress=False)
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.5 * losses[0], losses                  # starts near ln(10) = 2.3
    assert history[-1]["test_accuracy"] > 0.6, history           # chance is 0.10 per digit


def test_the_task_needs_attention():
    """Each target digit is the input digit at the mirrored position (T is even, so never its own):
    a token's own digit tells nothing of its target, which only attention to another position finds."""
    example = load_example()
    x, y = example.make_task(2000, np.random.default_rng(0))
    np.testing.assert_array_equal(y, x[:, ::-1])
    assert abs(np.mean(x == y) - 0.1) < 0.02                     # own digit = target only by chance


def test_local_and_remote_training_agree_bit_for_bit(grpc_server):
    example = load_example()
    far = example.train(server=grpc_server.grpc_target, epochs=1, steps=8, show_progress=False)
    near = example.train(server="local", epochs=1, steps=8, show_progress=False)
    for a, b in zip(far, near):
        assert (a["loss"], a["train_accuracy"], a["test_accuracy"]) == (b["loss"], b["train_accuracy"],
                                                                         b["test_accuracy"])
