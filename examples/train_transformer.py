"""Train a small transformer block through a bnns-server, with BNNS's call shapes.

    embedding + sinusoidal positions -> multi-head self-attention (dropout) -> add & layer norm
    -> fully connected, GELU, fully connected, dropout -> add & layer norm -> fully connected
    -> softmax cross-entropy (mean) ; Adam

The task, generated here (nothing is downloaded), needs attention: read a sequence of digits and
output it reversed; position t must look at position T-1-t. Chance is 10% per digit.

Every trainable array is bound to its filter (BNNSFlagsUseClientPtr), so BNNSOptimizerStep runs on
the server where the weights live: per step only the gradients travel up and the new weights come
back. The attention's backprop cache stays on the server (a BNNSTensor), so it never travels.
Each token is one item of a batch for the per-token layers (fully connected, layer norm, GELU,
dropout, loss): a batch of N sequences of T tokens is a batch of N*T such items, with no copy.

    python examples/train_transformer.py --server 127.0.0.1:50051 --epochs 4
    python examples/train_transformer.py --server local            # the same kernels in process
    python examples/train_transformer.py --server local --torch    # beside PyTorch (pip install torch)
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import numpy as np

import bnns.client as bnns

VOCAB, LENGTH, MODEL, HEADS, HIDDEN = 10, 8, 32, 4, 64
D_HEAD = MODEL // HEADS
DROPOUT = 0.1


def make_task(count: int, rng: np.random.Generator):
    """(digits (count, T) int32, targets (count, T) int32): each target the sequence reversed."""
    x = rng.integers(0, VOCAB, (count, LENGTH), dtype=np.int32)
    return x, np.ascontiguousarray(x[:, ::-1])


def positions() -> np.ndarray:
    """Sinusoidal positional encoding (T, d) (Vaswani et al.)."""
    t = np.arange(LENGTH)[:, None]
    k = np.arange(MODEL // 2)[None, :]
    angle = t / 10000 ** (2 * k / MODEL)
    pe = np.zeros((LENGTH, MODEL))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angle), np.cos(angle)
    return pe.astype(np.float32)


def initial_weights(seed: int) -> dict:
    """The model's starting values (shared with the PyTorch twin), float32, in BNNS's layouts:
    projections (d_in, d_head, heads), fully connected weights (out, in)."""
    rng = np.random.default_rng(seed)

    def uniform(shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    w = {"embedding": rng.normal(0, 1, (VOCAB, MODEL)).astype(np.float32)}
    for name in ("query", "key", "value"):
        w[f"{name}.weights"] = uniform((MODEL, D_HEAD, HEADS), MODEL)
        w[f"{name}.bias"] = np.zeros((D_HEAD, HEADS), np.float32)
    w["output.weights"], w["output.bias"] = uniform((HEADS * D_HEAD, MODEL), MODEL), np.zeros(MODEL, np.float32)
    for k in (1, 2):
        w[f"ln{k}.beta"], w[f"ln{k}.gamma"] = np.zeros(MODEL, np.float32), np.ones(MODEL, np.float32)
    w["ff1.weights"], w["ff1.bias"] = uniform((HIDDEN, MODEL), MODEL), uniform((HIDDEN,), MODEL)
    w["ff2.weights"], w["ff2.bias"] = uniform((MODEL, HIDDEN), HIDDEN), uniform((MODEL,), HIDDEN)
    w["head.weights"], w["head.bias"] = uniform((VOCAB, MODEL), MODEL), uniform((VOCAB,), MODEL)
    return w


def vector(n, data=None):
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(n,), data=data)


def first_major(shape, data=None):
    layouts = {1: bnns.BNNSDataLayoutVector, 2: bnns.BNNSDataLayout2DFirstMajor, 3: bnns.BNNSDataLayout3DFirstMajor}
    return bnns.BNNSNDArrayDescriptor(layout=layouts[len(shape)], size=tuple(shape), data=data)


def tokens(d, data=None):
    """A sequence of T tokens of d features, token-major: NumPy (T, d), BNNS size (d, T)."""
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(d, LENGTH), data=data)


def matrix(n_in, n_out, data):
    """Fully connected weights: NumPy (out, in), BNNS RowMajorMatrix size (in, out)."""
    return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutRowMajorMatrix, size=(n_in, n_out), data=data)


def check(status: int) -> None:
    if status != 0:
        raise RuntimeError(f"BNNS call failed: {bnns.last_error()}")


def created(f):
    if f is None:
        raise RuntimeError(f"creating a filter failed: {bnns.last_error()}")
    return f


class TransformerNet:
    """The block's filters and the caller-side arrays they are bound to."""

    def __init__(self, seed: int = 0, learning_rate: float = 3e-3):
        bound = bnns.BNNSFilterParameters(flags=bnns.BNNSFlagsUseClientPtr)
        self.w = w = initial_weights(seed)
        self.embedding = created(bnns.BNNSFilterCreateLayerEmbedding(bnns.BNNSLayerParametersEmbedding(
            i_desc=bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(LENGTH,),
                                              data_type=bnns.BNNSDataTypeInt32),
            o_desc=tokens(MODEL), dictionary=self._dictionary(w["embedding"])), bound))
        self.add_positions = created(bnns.BNNSFilterCreateLayerArithmetic(bnns.BNNSLayerParametersArithmetic(
            bnns.BNNSArithmeticAdd, bnns.BNNSArithmeticBinary(in1=tokens(MODEL), in1_type=bnns.BNNSSample,
                                                              in2=tokens(MODEL, positions()), in2_type=bnns.BNNSConstant,
                                                              out=tokens(MODEL), out_type=bnns.BNNSSample)), None))
        self.residual = created(bnns.BNNSFilterCreateLayerArithmetic(bnns.BNNSLayerParametersArithmetic(
            bnns.BNNSArithmeticAdd, bnns.BNNSArithmeticBinary(in1=vector(MODEL), in1_type=bnns.BNNSSample,
                                                              in2=vector(MODEL), in2_type=bnns.BNNSSample,
                                                              out=vector(MODEL), out_type=bnns.BNNSSample)), None))

        def projection(name, width):
            return bnns.BNNSMHAProjectionParameters(
                target_desc=first_major((LENGTH, width)),
                weights=first_major(w[f"{name}.weights"].shape, w[f"{name}.weights"]),
                bias=first_major(w[f"{name}.bias"].shape, w[f"{name}.bias"]))
        self.attention = created(bnns.BNNSFilterCreateLayerMultiheadAttention(
            bnns.BNNSLayerParametersMultiheadAttention(
                query=projection("query", MODEL), key=projection("key", MODEL), value=projection("value", MODEL),
                output=projection("output", MODEL), dropout=DROPOUT, seed=seed + 1), bound))
        self.norms = [created(bnns.BNNSFilterCreateLayerNormalization(bnns.BNNSLayerNorm,
                      bnns.BNNSLayerParametersNormalization(
                          i_desc=vector(MODEL), o_desc=vector(MODEL), beta_desc=vector(MODEL, w[f"ln{k}.beta"]),
                          gamma_desc=vector(MODEL, w[f"ln{k}.gamma"]), epsilon=1e-5), bound)) for k in (1, 2)]
        self.ff1 = self._fully_connected("ff1", MODEL, HIDDEN, bound)
        self.gelu = created(bnns.BNNSFilterCreateLayerActivation(bnns.BNNSLayerParametersActivation(
            i_desc=vector(HIDDEN), o_desc=vector(HIDDEN), activation=bnns.BNNSActivation(bnns.BNNSActivationFunctionGELU)),
            None))
        self.ff2 = self._fully_connected("ff2", HIDDEN, MODEL, bound)
        self.dropout = created(bnns.BNNSFilterCreateLayerDropout(bnns.BNNSLayerParametersDropout(
            i_desc=vector(MODEL), o_desc=vector(MODEL), rate=DROPOUT, seed=seed + 2), None))
        self.head = self._fully_connected("head", MODEL, VOCAB, bound)
        self.loss = created(bnns.BNNSFilterCreateLayerLoss(bnns.BNNSLayerParametersLossSoftmaxCrossEntropy(
            function=bnns.BNNSLossFunctionSoftmaxCrossEntropy, i_desc=vector(VOCAB), o_desc=vector(1),
            reduction=bnns.BNNSLossReductionMean), None))
        self.names = list(w)
        self.parameters = [self._descriptor(name) for name in self.names]
        self.accumulators = [vector(w[name].size, np.zeros(w[name].size, np.float32))
                             for _ in range(2) for name in self.names]       # Adam: all m, then all v
        self.adam = bnns.BNNSOptimizerAdamFields(learning_rate=learning_rate, time_step=1)
        self.cache: Optional[tuple[int, bnns.BNNSTensor]] = None   # the attention's backprop cache, a server tensor per batch size

    @staticmethod
    def _dictionary(data):
        return bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(MODEL, VOCAB), data=data)

    def _fully_connected(self, name, n_in, n_out, bound):
        return created(bnns.BNNSFilterCreateLayerFullyConnected(bnns.BNNSLayerParametersFullyConnected(
            i_desc=vector(n_in), o_desc=vector(n_out), w_desc=matrix(n_in, n_out, self.w[f"{name}.weights"]),
            bias=vector(n_out, self.w[f"{name}.bias"])), bound))

    def _descriptor(self, name, data=None):
        """The descriptor of parameter ``name`` (over ``data``, default its bound array)."""
        array = self.w[name] if data is None else data
        if name == "embedding":
            return self._dictionary(array)
        if name.split(".")[0] in ("query", "key", "value", "output"):
            return first_major(array.shape, array)
        if name.endswith(".weights"):
            return matrix(array.shape[1], array.shape[0], array)
        return vector(array.size, array)

    # ------------------------------------------------------------------------------ forward
    def forward(self, digits: np.ndarray, training: bool) -> dict:
        n, items = len(digits), len(digits) * LENGTH
        a = {"digits": digits, "e": np.zeros((n, LENGTH, MODEL), np.float32)}
        check(bnns.BNNSFilterApplyBatch(self.embedding, n, digits, LENGTH, a["e"], LENGTH * MODEL))
        a["x"] = np.zeros_like(a["e"])
        check(bnns.BNNSArithmeticFilterApplyBatch(self.add_positions, n, 2, [a["e"], None], [LENGTH * MODEL], a["x"],
                                                  LENGTH * MODEL))
        a["att"] = np.zeros_like(a["x"])
        cache = None
        if training:
            if self.cache is None or self.cache[0] != n:
                size = [0]
                check(bnns.BNNSApplyMultiheadAttention(self.attention, n, None, 0, None, 0, None, 0, None, 0, None, 0,
                                                       None, size))
                if self.cache is not None:
                    self.cache[1].destroy()
                self.cache = (n, bnns.BNNSTensor.empty((size[0] // 4,)))
            cache = self.cache[1]
        x = a["x"]
        check(bnns.BNNSApplyMultiheadAttention(self.attention, n, x, 0, x, 0, None, 0, x, 0, a["att"], 0, None, None,
                                               cache))
        a["r1"] = self._add(a["x"], a["att"], items)
        a["h1"] = self._norm(0, a["r1"], items, training)
        a["f1"] = np.zeros((n, LENGTH, HIDDEN), np.float32)
        check(bnns.BNNSFilterApplyBatch(self.ff1, items, a["h1"], MODEL, a["f1"], HIDDEN))
        a["g"] = np.zeros_like(a["f1"])
        check(bnns.BNNSFilterApplyBatch(self.gelu, items, a["f1"], HIDDEN, a["g"], HIDDEN))
        a["f2"] = np.zeros((n, LENGTH, MODEL), np.float32)
        check(bnns.BNNSFilterApplyBatch(self.ff2, items, a["g"], HIDDEN, a["f2"], MODEL))
        a["d"] = a["f2"]
        if training:                       # a dropout filter's apply is a training forward; inference is the identity
            a["d"] = np.zeros_like(a["f2"])
            check(bnns.BNNSFilterApplyBatch(self.dropout, items, a["f2"], MODEL, a["d"], MODEL))
        a["r2"] = self._add(a["h1"], a["d"], items)
        a["h2"] = self._norm(1, a["r2"], items, training)
        a["logits"] = np.zeros((n, LENGTH, VOCAB), np.float32)
        check(bnns.BNNSFilterApplyBatch(self.head, items, a["h2"], MODEL, a["logits"], VOCAB))
        return a

    def _add(self, u, v, items):
        out = np.zeros_like(u)
        check(bnns.BNNSArithmeticFilterApplyBatch(self.residual, items, 2, [u, v], [MODEL, MODEL], out, MODEL))
        return out

    def _norm(self, k, x, items, training):
        out = np.zeros_like(x)
        check(bnns.BNNSNormalizationFilterApplyBatch(self.norms[k], items, x, MODEL, out, MODEL, training))
        return out

    # ------------------------------------------------------------------------------ training
    def train_step(self, digits: np.ndarray, targets: np.ndarray) -> tuple:
        """One Adam step; (loss, token accuracy of the batch)."""
        n, items = len(digits), len(digits) * LENGTH
        a = self.forward(digits, training=True)
        one_hot = np.eye(VOCAB, dtype=np.float32)[targets]
        loss, d_logits = np.zeros(1, np.float32), np.zeros((n, LENGTH, VOCAB), np.float32)
        check(bnns.BNNSLossFilterApplyBatch(self.loss, items, a["logits"], VOCAB, one_hot, VOCAB, None, 0, loss,
                                            vector(VOCAB, d_logits), VOCAB))
        g = {name: np.zeros_like(self.w[name]) for name in self.names}
        d_h2 = self._fc_backward(self.head, "head", items, a["h2"], MODEL, a["logits"], d_logits, VOCAB, g)
        d_r2 = self._norm_backward(1, items, a["h2"], d_h2, g)
        # r2 = h1 + dropout(ff2(gelu(ff1(h1)))): the add passes its delta to both of its inputs.
        d_f2 = np.zeros_like(d_r2)
        check(bnns.BNNSFilterApplyBackwardBatch(self.dropout, items, a["f2"], MODEL, vector(MODEL, d_f2), MODEL,
                                                    a["d"], MODEL, vector(MODEL, d_r2), MODEL, None, None))
        d_g = self._fc_backward(self.ff2, "ff2", items, a["g"], HIDDEN, a["f2"], d_f2, MODEL, g)
        d_f1 = np.zeros_like(d_g)
        check(bnns.BNNSFilterApplyBackwardBatch(self.gelu, items, a["f1"], HIDDEN, vector(HIDDEN, d_f1), HIDDEN,
                                                a["g"], HIDDEN, vector(HIDDEN, d_g), HIDDEN, None, None))
        d_h1 = self._fc_backward(self.ff1, "ff1", items, a["h1"], MODEL, a["f1"], d_f1, HIDDEN, g)
        d_h1 += d_r2
        d_r1 = self._norm_backward(0, items, a["h1"], d_h1, g)
        # r1 = x + attention(x, x, x): the three input deltas share one array, so BNNS sums them,
        # and the residual's delta is added by BackpropAccumulate.
        d_x = d_r1.copy()
        self._attention_backward(n, d_r1, d_x, g)
        # x = e + positions: the delta of e is d_x.
        d_dict = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DLastMajor, size=(MODEL, VOCAB),
                                            data=g["embedding"])
        check(bnns.BNNSFilterApplyBackwardBatch(self.embedding, n, digits, LENGTH, None, 0, None, 0,
                                                tokens(MODEL, d_x), LENGTH * MODEL, d_dict, None))
        check(bnns.BNNSOptimizerStep(bnns.BNNSOptimizerFunctionAdam, self.adam, len(self.parameters), self.parameters,
                                     [self._descriptor(name, g[name]) for name in self.names], self.accumulators,
                                     None))
        self.adam.time_step += 1
        accuracy = float(np.mean(np.argmax(a["logits"], axis=2) == targets))
        return float(loss[0]), accuracy

    def _fc_backward(self, f, name, items, x, n_in, y, d_y, n_out, g):
        d_x = np.zeros((items, n_in), np.float32)
        check(bnns.BNNSFilterApplyBackwardBatch(
            f, items, x, n_in, vector(n_in, d_x), n_in, y, n_out, vector(n_out, d_y), n_out,
            matrix(n_in, n_out, g[f"{name}.weights"]), vector(n_out, g[f"{name}.bias"])))
        return d_x.reshape(x.shape)

    def _norm_backward(self, k, items, y, d_y, g):
        d_x = np.zeros_like(d_y)
        check(bnns.BNNSNormalizationFilterApplyBackwardBatch(
            self.norms[k], items, vector(MODEL, d_x), MODEL, y, MODEL, vector(MODEL, d_y), MODEL,
            vector(MODEL, g[f"ln{k + 1}.beta"]), vector(MODEL, g[f"ln{k + 1}.gamma"])))
        return d_x

    def _attention_backward(self, n, d_out, d_x, g):
        if self.cache is None:
            raise RuntimeError("the attention's backward needs the cache of a training forward")
        shared = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayout2DFirstMajor, size=(LENGTH, MODEL), data=d_x,
                                            flags=bnns.BNNSNDArrayFlagBackpropAccumulate)

        def delta(name, target):
            return bnns.BNNSMHAProjectionParameters(target_desc=target,
                                                    weights=first_major(g[f"{name}.weights"].shape, g[f"{name}.weights"]),
                                                    bias=first_major(g[f"{name}.bias"].shape, g[f"{name}.bias"]))
        check(bnns.BNNSApplyMultiheadAttentionBackward(
            self.attention, n, None, 0, delta("query", shared), None, 0, None, 0, delta("key", shared), None, 0,
            delta("value", shared), None, None, None, None, 0, delta("output", first_major((LENGTH, MODEL), d_out)), 0,
            self.cache[1]))

    def accuracy(self, digits: np.ndarray, targets: np.ndarray, batch_size: int = 256) -> float:
        hits = 0
        for k in range(0, len(digits), batch_size):
            logits = self.forward(digits[k:k + batch_size], training=False)["logits"]
            hits += int(np.sum(np.argmax(logits, axis=2) == targets[k:k + batch_size]))
        return hits / targets.size

    def close(self):
        if self.cache is not None:
            self.cache[1].destroy()
        for f in (self.embedding, self.add_positions, self.residual, self.attention, *self.norms, self.ff1, self.gelu,
                  self.ff2, self.dropout, self.head, self.loss):
            bnns.BNNSFilterDestroy(f)


# ---------------------------------------------------------------------------------- PyTorch
class TorchTwin:
    """The same block in PyTorch, from the same initial weights (for --torch)."""

    def __init__(self, seed: int = 0, learning_rate: float = 3e-3):
        import torch
        self.torch = torch
        torch.manual_seed(seed)
        torch.set_num_threads(1)     # as the bnns kernels run this small model (more threads only spin here)
        nn = torch.nn
        w = initial_weights(seed)
        t = lambda a: torch.tensor(a)    # noqa: E731
        self.embedding = nn.Embedding(VOCAB, MODEL)
        self.attention = nn.MultiheadAttention(MODEL, HEADS, dropout=DROPOUT, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(MODEL), nn.LayerNorm(MODEL)
        self.ff1, self.ff2, self.head = nn.Linear(MODEL, HIDDEN), nn.Linear(HIDDEN, MODEL), nn.Linear(MODEL, VOCAB)
        self.drop = nn.Dropout(DROPOUT)
        with torch.no_grad():
            self.embedding.weight.copy_(t(w["embedding"]))
            # BNNS (d_in, d_head, heads) -> torch rows h * d_head + d of in_proj_weight
            rows = [np.transpose(w[f"{name}.weights"], (2, 1, 0)).reshape(MODEL, MODEL) for name in ("query", "key", "value")]
            self.attention.in_proj_weight.copy_(t(np.concatenate(rows)))
            self.attention.in_proj_bias.copy_(t(np.concatenate([w[f"{name}.bias"].T.reshape(-1)
                                                                for name in ("query", "key", "value")])))
            self.attention.out_proj.weight.copy_(t(w["output.weights"].T))
            self.attention.out_proj.bias.copy_(t(w["output.bias"]))
            for layer, name in ((self.ff1, "ff1"), (self.ff2, "ff2"), (self.head, "head")):
                layer.weight.copy_(t(w[f"{name}.weights"]))
                layer.bias.copy_(t(w[f"{name}.bias"]))
        self.positions = t(positions())
        self.modules = nn.ModuleList([self.embedding, self.attention, self.norm1, self.norm2, self.ff1, self.ff2,
                                      self.head])
        self.optimizer = torch.optim.Adam(self.modules.parameters(), lr=learning_rate, eps=1e-7)

    def logits(self, digits, training: bool):
        self.modules.train(training)
        self.drop.train(training)
        x = self.embedding(self.torch.as_tensor(digits, dtype=self.torch.long)) + self.positions
        h1 = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
        f = self.drop(self.ff2(self.torch.nn.functional.gelu(self.ff1(h1))))
        return self.head(self.norm2(h1 + f))

    def train_step(self, digits, targets) -> tuple:
        logits = self.logits(digits, True)
        loss = self.torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB),
                                                      self.torch.as_tensor(targets.reshape(-1), dtype=self.torch.long))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item(), float((logits.argmax(dim=2).numpy() == targets).mean())

    def accuracy(self, digits, targets) -> float:
        with self.torch.no_grad():
            return float((self.logits(digits, False).argmax(dim=2).numpy() == targets).mean())

    def close(self):
        pass


# ------------------------------------------------------------------------------------ driver
def progress(done: int, total: int, text: str, stream=sys.stdout) -> None:
    if not stream.isatty():   # a log file or a pipe gets the per-epoch lines only, not \r redraws
        return
    width = 30
    filled = width * done // total
    stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text}")
    if done == total:
        stream.write("\n")
    stream.flush()


def train(server: str = "local", epochs: int = 4, steps: int = 100, batch_size: int = 64, seed: int = 0,
          learning_rate: float = 3e-3, show_progress: bool = True, engine: str = "bnns") -> list:
    """Train on freshly generated sequences; returns one dict per epoch (loss, train and held-out
    token accuracy, seconds, milliseconds per step)."""
    net: TransformerNet | TorchTwin
    if engine == "bnns":
        bnns.connect(server)
        net = TransformerNet(seed, learning_rate)
    else:
        net = TorchTwin(seed, learning_rate)
    rng = np.random.default_rng(seed)
    held_out = make_task(1024, np.random.default_rng(seed + 1000))
    history = []
    try:
        for epoch in range(1, epochs + 1):
            start, losses, hits = time.perf_counter(), [], []
            for k in range(1, steps + 1):
                loss, accuracy = net.train_step(*make_task(batch_size, rng))
                losses.append(loss)
                hits.append(accuracy)
                if show_progress:
                    progress(k, steps, f"loss {np.mean(losses):.4f}")
            seconds = time.perf_counter() - start
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "train_accuracy": float(np.mean(hits)),
                      "test_accuracy": net.accuracy(*held_out), "seconds": seconds, "ms_per_step": 1000 * seconds / steps}
            history.append(record)
            if show_progress:
                print(f"{engine:5s} epoch {epoch:2d}  loss {record['loss']:.4f}  train accuracy "
                      f"{record['train_accuracy']:.3f}  held-out accuracy {record['test_accuracy']:.3f}  "
                      f"({record['ms_per_step']:.1f} ms/step)")
    finally:
        net.close()
    return history


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="local", help='"host:port" of a bnns-server, or "local"')
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=100, help="Adam steps per epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch", action="store_true", help="also train the same model in PyTorch and compare")
    args = parser.parse_args(argv)
    kwargs = dict(epochs=args.epochs, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                  learning_rate=args.learning_rate)
    ours = train(args.server, **kwargs)
    if args.torch:
        theirs = train(engine="torch", **kwargs)
        print(f"\n{'':22s}{'bnns (' + args.server + ')':>24s}{'PyTorch':>12s}")
        print(f"{'held-out accuracy':22s}{ours[-1]['test_accuracy']:>24.3f}{theirs[-1]['test_accuracy']:>12.3f}")
        ms = [float(np.median([r["ms_per_step"] for r in h])) for h in (ours, theirs)]
        print(f"{'ms per step (median)':22s}{ms[0]:>24.1f}{ms[1]:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
