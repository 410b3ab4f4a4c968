"""The digits example trains through a live server: the loss falls and accuracy ends far above chance."""

from __future__ import annotations

from ..conftest import load_example as _load_example


def load_example():
    return _load_example("train_digits")


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


def test_resident_training_over_grpc_matches_the_array_path_in_process_bit_for_bit(grpc_server):
    """--resident keeps weights, activations and gradients on the server; the numbers are the same
    as the array path's, step for step."""
    import numpy as np
    example = load_example()
    x_train, y_train, _, _ = example.load_digits()
    batches = [(np.ascontiguousarray(x_train[i:i + 64]), y_train[i:i + 64]) for i in range(0, 64 * 5, 64)]
    batches.append((np.ascontiguousarray(x_train[320:345]), y_train[320:345]))      # a smaller last batch
    example.bnns.connect("local")
    plain = example.DigitNet(seed=3)
    example.bnns.connect(grpc_server.grpc_target)
    resident = example.ResidentDigitNet(seed=3)
    try:
        for x, y in batches:
            example.bnns.connect("local")
            expected = plain.train_step(x, y)
            example.bnns.connect(grpc_server.grpc_target)
            assert resident.train_step(x, y) == expected
        weights = resident.weight_values()
        for name, array in (("conv_w", plain.conv_w), ("gamma", plain.gamma), ("fc_w", plain.fc_w),
                            ("moving_mean", plain.moving_mean), ("moving_var", plain.moving_var)):
            assert weights[name].tobytes() == array.tobytes(), name
        assert resident.accuracy(x_train[:200], y_train[:200]) == plain.accuracy(x_train[:200], y_train[:200])
    finally:
        resident.close()
        example.bnns.connect("local")
        plain.close()
        example.bnns.connect("local")
