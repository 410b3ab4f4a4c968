"""Train a small CNN on handwritten digits through a bnns-server, with BNNS's call shapes.

    convolution 1->8 (3x3, pad 1) -> batch norm + ReLU -> max pool 2x2 -> fully connected 128->10
    -> softmax cross-entropy (mean) ; Adam

Every trainable array is bound to its filter (BNNSFlagsUseClientPtr), so BNNSOptimizerStep runs
on the server where the weights live: per step only the gradients travel up and the new weights
come back into these arrays. Data: examples/data/digits.csv.gz (UCI, CC BY 4.0).

With --resident, weights, activations and gradients are tensors held by the server
(BNNSTensor): per step only the batch and the labels go up and only the loss comes down (and the
logits, when measuring accuracy).

    python examples/train_digits.py --server 127.0.0.1:50051 --epochs 10
    python examples/train_digits.py --server 127.0.0.1:50051 --resident
    python examples/train_digits.py --server local           # the same kernels in process
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import pathlib
import sys
import time

import numpy as np

import bnns.client as bnns

DATA = pathlib.Path(__file__).resolve().parent / "data" / "digits.csv.gz"
CLASSES, SIDE, CHANNELS = 10, 8, 8


def load_digits(test_fraction: float = 1 / 6, seed: int = 0):
    """(x_train, y_train, x_test, y_test): x as (N, 1, 8, 8) float32 in [0, 1], y as labels."""
    with gzip.open(DATA, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = table[:, :64].reshape(-1, 1, SIDE, SIDE) / 16.0, table[:, 64].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def image(c, h, w, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutImageCHW, size=(w, h, c), data=data)


def vector(n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


class DigitNet:
    """The network's filters and the caller-side arrays they are bound to."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        bound = bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr)
        self.conv_w = (rng.standard_normal((CHANNELS, 1, 3, 3)) * np.sqrt(2 / 9)).astype(np.float32)
        self.conv_b = np.zeros(CHANNELS, np.float32)
        self.beta, self.gamma = np.zeros(CHANNELS, np.float32), np.ones(CHANNELS, np.float32)
        self.moving_mean, self.moving_var = np.zeros(CHANNELS, np.float32), np.ones(CHANNELS, np.float32)
        n_flat = CHANNELS * (SIDE // 2) ** 2
        self.fc_w = (rng.standard_normal((CLASSES, n_flat)) * np.sqrt(1 / n_flat)).astype(np.float32)
        self.fc_b = np.zeros(CLASSES, np.float32)

        self.conv_params = bnns.BNNSLayerParametersConvolution(
            i_desc=image(1, SIDE, SIDE), o_desc=image(CHANNELS, SIDE, SIDE), x_padding=1, y_padding=1,
            w_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW,
                                              size=(3, 3, 1, CHANNELS), data=self.conv_w),
            bias=vector(CHANNELS, self.conv_b))
        self.conv = bnns.BNNSFilterCreateLayerConvolution(self.conv_params, bound)
        self.norm_params = bnns.BNNSLayerParametersNormalization(
            i_desc=image(CHANNELS, SIDE, SIDE), o_desc=image(CHANNELS, SIDE, SIDE),
            beta_desc=vector(CHANNELS, self.beta), gamma_desc=vector(CHANNELS, self.gamma),
            moving_mean_desc=vector(CHANNELS, self.moving_mean), moving_variance_desc=vector(CHANNELS, self.moving_var),
            momentum=0.9, epsilon=1e-5, activation=bnns.BNNSActivation(bnns.BNNSActivationFunctionRectifiedLinear))
        self.norm = bnns.BNNSFilterCreateLayerNormalization(bnns.BNNSBatchNorm, self.norm_params, bound)
        self.pool = bnns.BNNSFilterCreateLayerPooling(bnns.BNNSLayerParametersPooling(
            i_desc=image(CHANNELS, SIDE, SIDE), o_desc=image(CHANNELS, SIDE // 2, SIDE // 2),
            pooling_function=bnns.BNNSPoolingFunctionMax, k_width=2, k_height=2, x_stride=2, y_stride=2), None)
        self.fc_params = bnns.BNNSLayerParametersFullyConnected(
            i_desc=vector(n_flat), o_desc=vector(CLASSES), bias=vector(CLASSES, self.fc_b),
            w_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(n_flat, CLASSES),
                                              data=self.fc_w))
        self.fc = bnns.BNNSFilterCreateLayerFullyConnected(self.fc_params, bound)
        self.loss = bnns.BNNSFilterCreateLayerLoss(bnns.BNNSLayerParametersLossSoftmaxCrossEntropy(
            function=bnns.BNNSLossFunctionSoftmaxCrossEntropy, i_desc=vector(CLASSES), o_desc=vector(1),
            reduction=bnns.BNNSLossReductionMean), None)
        for name in ("conv", "norm", "pool", "fc", "loss"):
            if getattr(self, name) is None:
                raise RuntimeError(f"creating the {name} filter failed: {bnns.last_error()}")
        self.parameters: list = [self.conv_params.w_desc, self.conv_params.bias, self.norm_params.beta_desc,
                           self.norm_params.gamma_desc, self.fc_params.w_desc, self.fc_params.bias]
        self.accumulators = [vector(p.data.size, np.zeros(p.data.size, np.float32))
                             for _ in range(2) for p in self.parameters]      # Adam: all m, then all v
        self.adam = bnns.BNNSOptimizerAdamFields(learning_rate=0.01, time_step=1)

    def forward(self, x: np.ndarray, training: bool):
        n = len(x)
        a = {"x": x, "z": np.zeros((n, CHANNELS, SIDE, SIDE), np.float32)}
        check(bnns.BNNSFilterApplyBatch(self.conv, n, x, SIDE * SIDE, a["z"], a["z"][0].size))
        a["r"] = np.zeros_like(a["z"])
        check(bnns.BNNSNormalizationFilterApplyBatch(self.norm, n, a["z"], a["z"][0].size, a["r"], a["r"][0].size,
                                                     training))
        a["p"] = np.zeros((n, CHANNELS, SIDE // 2, SIDE // 2), np.float32)
        a["idx"] = np.zeros(a["p"].shape, np.uint64)
        check(bnns.BNNSPoolingFilterApplyBatch(self.pool, n, a["r"], a["r"][0].size, a["p"], a["p"][0].size,
                                               a["idx"], a["p"][0].size))
        a["logits"] = np.zeros((n, CLASSES), np.float32)
        check(bnns.BNNSFilterApplyBatch(self.fc, n, a["p"], a["p"][0].size, a["logits"], CLASSES))
        return a

    def train_step(self, x: np.ndarray, labels: np.ndarray) -> float:
        n = len(x)
        a = self.forward(x, training=True)
        one_hot = np.eye(CLASSES, dtype=np.float32)[labels]
        loss, d_logits = np.zeros(1, np.float32), np.zeros((n, CLASSES), np.float32)
        check(bnns.BNNSLossFilterApplyBatch(self.loss, n, a["logits"], CLASSES, one_hot, CLASSES, None, 0, loss,
                                            vector(CLASSES, d_logits), CLASSES))
        grads = [np.zeros_like(p.data) for p in self.parameters]
        g_conv_w, g_conv_b, g_beta, g_gamma, g_fc_w, g_fc_b = grads
        d_p, d_r, d_z = np.zeros_like(a["p"]), np.zeros_like(a["r"]), np.zeros_like(a["z"])
        check(bnns.BNNSFilterApplyBackwardBatch(
            self.fc, n, a["p"], a["p"][0].size, vector(d_p[0].size, d_p), d_p[0].size, a["logits"], CLASSES,
            vector(CLASSES, d_logits), CLASSES, desc_like(self.fc_params.w_desc, g_fc_w), vector(CLASSES, g_fc_b)))
        check(bnns.BNNSPoolingFilterApplyBackwardBatch(
            self.pool, n, a["r"], a["r"][0].size, image(CHANNELS, SIDE, SIDE, d_r), d_r[0].size, a["p"],
            a["p"][0].size, image(CHANNELS, 4, 4, d_p), d_p[0].size, None, a["idx"], a["p"][0].size))
        check(bnns.BNNSNormalizationFilterApplyBackwardBatch(
            self.norm, n, image(CHANNELS, SIDE, SIDE, d_z), d_z[0].size, a["r"], a["r"][0].size,
            image(CHANNELS, SIDE, SIDE, d_r), d_r[0].size, vector(CHANNELS, g_beta), vector(CHANNELS, g_gamma)))
        check(bnns.BNNSFilterApplyBackwardBatch(
            self.conv, n, x, SIDE * SIDE, None, 0, a["z"], a["z"][0].size, image(CHANNELS, SIDE, SIDE, d_z),
            d_z[0].size, desc_like(self.conv_params.w_desc, g_conv_w), vector(CHANNELS, g_conv_b)))
        check(bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, self.adam, len(self.parameters),
                                     self.parameters, [bnns.BNNSNDArrayDescriptor(data=g) for g in grads],
                                     self.accumulators, None))
        self.adam.time_step += 1
        return float(loss[0])

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        logits = self.forward(x, training=False)["logits"]
        return float(np.mean(np.argmax(logits, axis=1) == labels))

    def close(self):
        for f in (self.conv, self.norm, self.pool, self.fc, self.loss):
            bnns.BNNSFilterDestroy(f)


class ResidentDigitNet:
    """The same network with everything but the batch, the labels and the loss on the server.

    The weights, biases, beta, gamma and moving statistics are server tensors bound to their
    filters (BNNSFlagsUseClientPtr): BNNSOptimizerStep updates them where they are, with the
    accumulators kept beside them. Activations and gradients are server tensors too, one set per
    batch size, reused from step to step."""

    def __init__(self, seed: int = 0, one_round_trip: bool = True):
        # one_round_trip: each step's calls in one bnns.sequence() block (False: a call each, to compare).
        self.one_round_trip = one_round_trip
        rng = np.random.default_rng(seed)          # the same initial values as DigitNet(seed)
        conv_w = (rng.standard_normal((CHANNELS, 1, 3, 3)) * np.sqrt(2 / 9)).astype(np.float32)
        n_flat = CHANNELS * (SIDE // 2) ** 2
        fc_w = (rng.standard_normal((CLASSES, n_flat)) * np.sqrt(1 / n_flat)).astype(np.float32)
        t = bnns.BNNSTensor.from_array
        self.weights = {"conv_w": t(conv_w), "conv_b": t(np.zeros(CHANNELS, np.float32)),
                        "beta": t(np.zeros(CHANNELS, np.float32)), "gamma": t(np.ones(CHANNELS, np.float32)),
                        "fc_w": t(fc_w), "fc_b": t(np.zeros(CLASSES, np.float32)),
                        "moving_mean": t(np.zeros(CHANNELS, np.float32)),
                        "moving_var": t(np.ones(CHANNELS, np.float32))}
        w = self.weights
        bound = bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr)
        self.conv_w_desc = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutConvolutionWeightsOIHW,
                                                      size=(3, 3, 1, CHANNELS), data=w["conv_w"])
        self.fc_w_desc = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(n_flat, CLASSES),
                                                    data=w["fc_w"])
        self.conv = bnns.BNNSFilterCreateLayerConvolution(bnns.BNNSLayerParametersConvolution(
            i_desc=image(1, SIDE, SIDE), o_desc=image(CHANNELS, SIDE, SIDE), x_padding=1, y_padding=1,
            w_desc=self.conv_w_desc, bias=vector(CHANNELS, w["conv_b"])), bound)
        self.norm = bnns.BNNSFilterCreateLayerNormalization(bnns.BNNSBatchNorm, bnns.BNNSLayerParametersNormalization(
            i_desc=image(CHANNELS, SIDE, SIDE), o_desc=image(CHANNELS, SIDE, SIDE),
            beta_desc=vector(CHANNELS, w["beta"]), gamma_desc=vector(CHANNELS, w["gamma"]),
            moving_mean_desc=vector(CHANNELS, w["moving_mean"]), moving_variance_desc=vector(CHANNELS, w["moving_var"]),
            momentum=0.9, epsilon=1e-5, activation=bnns.BNNSActivation(bnns.BNNSActivationFunctionRectifiedLinear)),
            bound)
        self.pool = bnns.BNNSFilterCreateLayerPooling(bnns.BNNSLayerParametersPooling(
            i_desc=image(CHANNELS, SIDE, SIDE), o_desc=image(CHANNELS, SIDE // 2, SIDE // 2),
            pooling_function=bnns.BNNSPoolingFunctionMax, k_width=2, k_height=2, x_stride=2, y_stride=2), None)
        self.fc = bnns.BNNSFilterCreateLayerFullyConnected(bnns.BNNSLayerParametersFullyConnected(
            i_desc=vector(n_flat), o_desc=vector(CLASSES), bias=vector(CLASSES, w["fc_b"]), w_desc=self.fc_w_desc),
            bound)
        self.loss = bnns.BNNSFilterCreateLayerLoss(bnns.BNNSLayerParametersLossSoftmaxCrossEntropy(
            function=bnns.BNNSLossFunctionSoftmaxCrossEntropy, i_desc=vector(CLASSES), o_desc=vector(1),
            reduction=bnns.BNNSLossReductionMean), None)
        for name in ("conv", "norm", "pool", "fc", "loss"):
            if getattr(self, name) is None:
                raise RuntimeError(f"creating the {name} filter failed: {bnns.last_error()}")
        self.grads = {name: bnns.BNNSTensor.empty(w[name].shape) for name in
                      ("conv_w", "conv_b", "beta", "gamma", "fc_w", "fc_b")}
        self.parameters = [desc_like(self.conv_w_desc, w["conv_w"]), vector(CHANNELS, w["conv_b"]),
                           vector(CHANNELS, w["beta"]), vector(CHANNELS, w["gamma"]),
                           desc_like(self.fc_w_desc, w["fc_w"]), vector(CLASSES, w["fc_b"])]
        self.gradients = [bnns.BNNSNDArrayDescriptor(data=self.grads[name]) for name in
                          ("conv_w", "conv_b", "beta", "gamma", "fc_w", "fc_b")]
        self.adam = bnns.BNNSOptimizerAdamFields(learning_rate=0.01, time_step=1)
        self._activations: dict = {}

    def activations(self, n: int) -> dict:
        """The server tensors a batch of ``n`` flows through (made once per batch size)."""
        if n not in self._activations:
            shapes = {"z": (n, CHANNELS, SIDE, SIDE), "r": (n, CHANNELS, SIDE, SIDE),
                      "p": (n, CHANNELS, SIDE // 2, SIDE // 2), "logits": (n, CLASSES), "d_logits": (n, CLASSES),
                      "d_p": (n, CHANNELS, SIDE // 2, SIDE // 2), "d_r": (n, CHANNELS, SIDE, SIDE),
                      "d_z": (n, CHANNELS, SIDE, SIDE)}
            a = {name: bnns.BNNSTensor.empty(shape) for name, shape in shapes.items()}
            a["idx"] = bnns.BNNSTensor.empty(shapes["p"], data_type=bnns.BNNSDataTypeUInt64)
            self._activations[n] = a
        return self._activations[n]

    def forward(self, x: np.ndarray, training: bool) -> dict:
        n = len(x)
        a = self.activations(n)
        # The batch goes up with the call that reads it (16 KiB: cheaper than a call of its own).
        z, r, p = SIDE * SIDE * CHANNELS, SIDE * SIDE * CHANNELS, (SIDE // 2) ** 2 * CHANNELS
        check(bnns.BNNSFilterApplyBatch(self.conv, n, x, SIDE * SIDE, a["z"], z))
        check(bnns.BNNSNormalizationFilterApplyBatch(self.norm, n, a["z"], z, a["r"], r, training))
        check(bnns.BNNSPoolingFilterApplyBatch(self.pool, n, a["r"], r, a["p"], p, a["idx"], p))
        check(bnns.BNNSFilterApplyBatch(self.fc, n, a["p"], p, a["logits"], CLASSES))
        return a

    def train_step(self, x: np.ndarray, labels: np.ndarray) -> float:
        # One round trip a step: the block sends the step's calls in one CallSequence when it
        # ends, and the loss (the one result that comes down) is written into `loss` then.
        loss = np.zeros(1, np.float32)                                      # the loss comes down
        with bnns.sequence() if self.one_round_trip else contextlib.nullcontext():
            self._step_calls(x, labels, loss)
        self.adam.time_step += 1
        return float(loss[0])

    def _step_calls(self, x: np.ndarray, labels: np.ndarray, loss: np.ndarray) -> None:
        n = len(x)
        a = self.forward(x, training=True)
        one_hot = np.eye(CLASSES, dtype=np.float32)[labels]                # the labels go up
        check(bnns.BNNSLossFilterApplyBatch(self.loss, n, a["logits"], CLASSES, one_hot, CLASSES, None, 0, loss,
                                            vector(CLASSES, a["d_logits"]), CLASSES))
        g, z, p = self.grads, SIDE * SIDE * CHANNELS, (SIDE // 2) ** 2 * CHANNELS
        check(bnns.BNNSFilterApplyBackwardBatch(
            self.fc, n, a["p"], p, vector(p, a["d_p"]), p, a["logits"], CLASSES, vector(CLASSES, a["d_logits"]),
            CLASSES, desc_like(self.fc_w_desc, g["fc_w"]), vector(CLASSES, g["fc_b"])))
        check(bnns.BNNSPoolingFilterApplyBackwardBatch(
            self.pool, n, a["r"], z, image(CHANNELS, SIDE, SIDE, a["d_r"]), z, a["p"], p,
            image(CHANNELS, SIDE // 2, SIDE // 2, a["d_p"]), p, None, a["idx"], p))
        check(bnns.BNNSNormalizationFilterApplyBackwardBatch(
            self.norm, n, image(CHANNELS, SIDE, SIDE, a["d_z"]), z, a["r"], z, image(CHANNELS, SIDE, SIDE, a["d_r"]), z,
            vector(CHANNELS, g["beta"]), vector(CHANNELS, g["gamma"])))
        check(bnns.BNNSFilterApplyBackwardBatch(
            self.conv, n, x, SIDE * SIDE, None, 0, a["z"], z, image(CHANNELS, SIDE, SIDE, a["d_z"]), z,
            desc_like(self.conv_w_desc, g["conv_w"]), vector(CHANNELS, g["conv_b"])))
        # Every parameter is a server tensor: the server steps them in place and keeps Adam's moments.
        check(bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, self.adam, len(self.parameters),
                                     self.parameters, self.gradients, None, None))

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        logits = self.forward(x, training=False)["logits"].numpy()        # the logits come down to score
        return float(np.mean(np.argmax(logits, axis=1) == labels))

    def weight_values(self) -> dict:
        return {name: tensor.numpy() for name, tensor in self.weights.items()}

    def close(self):
        for f in (self.conv, self.norm, self.pool, self.fc, self.loss):
            bnns.BNNSFilterDestroy(f)
        tensors = list(self.weights.values()) + list(self.grads.values())
        for a in self._activations.values():
            tensors += list(a.values())
        for tensor in tensors:
            tensor.destroy()


def desc_like(desc, data):
    return bnns.BNNSNDArrayDescriptor(layout=desc.layout, size=desc.size, data=data)


def check(rc: int) -> None:
    if rc != 0:
        raise RuntimeError(f"BNNS call failed: {bnns.last_error()}")


def progress(done: int, total: int, text: str, stream=sys.stdout) -> None:
    if not stream.isatty():   # a log file or a pipe gets the per-epoch lines only, not \r redraws
        return
    width = 30
    filled = width * done // total
    stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text}")
    if done == total:
        stream.write("\n")
    stream.flush()


def train(server: str = "local", epochs: int = 10, batch_size: int = 64, seed: int = 0, show_progress: bool = True,
          resident: bool = False):
    """Train and return the history: one dict per epoch (loss, train accuracy, test accuracy, seconds)."""
    bnns.connect(server)
    x_train, y_train, x_test, y_test = load_digits(seed=seed)
    net = ResidentDigitNet(seed) if resident else DigitNet(seed)
    history = []
    rng = np.random.default_rng(seed)
    try:
        for epoch in range(1, epochs + 1):
            start, losses = time.perf_counter(), []
            order = rng.permutation(len(x_train))
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            for k, batch in enumerate(batches, 1):
                losses.append(net.train_step(np.ascontiguousarray(x_train[batch]), y_train[batch]))
                if show_progress:
                    progress(k, len(batches), f"loss {np.mean(losses):.4f}")
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "train_accuracy": net.accuracy(x_train, y_train),
                      "test_accuracy": net.accuracy(x_test, y_test), "seconds": time.perf_counter() - start}
            history.append(record)
            if show_progress:
                print(f"epoch {epoch:2d}  loss {record['loss']:.4f}  train accuracy {record['train_accuracy']:.3f}  "
                      f"test accuracy {record['test_accuracy']:.3f}  ({record['seconds']:.1f} s)")
    finally:
        net.close()
    return history


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="local", help='"host:port" of a bnns-server, or "local"')
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resident", action="store_true",
                        help="keep weights, activations and gradients on the server (BNNSTensor)")
    args = parser.parse_args(argv)
    train(args.server, args.epochs, args.batch_size, args.seed, resident=args.resident)
    return 0


if __name__ == "__main__":
    sys.exit(main())
