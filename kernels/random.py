"""BNNS random generators: BNNSCreateRandomGenerator[WithSeed] and the BNNSRandomFill* calls.

    RandomFillUniformFloat(a, b):   x ~ U[a, b)
    RandomFillNormalFloat(m, s):    x ~ N(m, s^2)
    RandomFillUniformInt(a, b):     x ~ U{a, ..., b}   (both bounds included)

A generator is an object with a state; each fill draws the next values from it, in the
destination's logical (C) element order, so one seed gives one sequence of fills.

Notes
-----
* Apple's only method is AES_CTR (0); its stream cannot be reproduced, so the numbers differ from
  Apple's: the generator here is NumPy's PCG64 started from the seed (``np.random.default_rng``).
  The same seed gives the same numbers on every server and in process.
* Without a seed (BNNSCreateRandomGenerator) the generator starts from OS entropy.
* The state (BNNSRandomGeneratorGetState / SetState) is 40 bytes: PCG64's 128-bit state and
  increment, the has_uint32 flag and the cached uint32, little-endian.
* Uniform floats are drawn in float64 and rounded to the destination type; a rounding up to b is
  moved to the largest value below it, so the interval stays half-open. a >= b is an error
  (NumPy would accept it), as is a non-finite bound or a negative stddev.
* Integer bounds outside the destination type's range are InvalidArgumentError.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _common as cm
from .errors import require

AES_CTR = 0
STATE_BYTES = 40


class RandomGenerator:
    """A seeded (or entropy-seeded) PCG64 generator."""

    kind = "random_generator"

    def __init__(self, method: int = AES_CTR, seed: Optional[int] = None):
        require(int(method) == AES_CTR, f"method {method} is not a BNNSRandomGeneratorMethod (AES_CTR = 0)")
        if seed is not None:
            seed = cm.as_int(seed, "seed", 0, 2**64 - 1)
        self.method = int(method)
        self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------------------ fills
    def uniform(self, shape: tuple, a: float, b: float, dtype=np.float32) -> np.ndarray:
        lo, hi = cm.as_real(a, "a"), cm.as_real(b, "b")
        require(lo < hi, f"a {lo} must be below b {hi}")
        values = self._rng.uniform(lo, hi, shape).astype(dtype)
        below = np.nextafter(dtype(hi), dtype(-np.inf))
        return np.minimum(values, below)

    def normal(self, shape: tuple, mean: float, stddev: float, dtype=np.float32) -> np.ndarray:
        m, s = cm.as_real(mean, "mean"), cm.as_real(stddev, "stddev", 0.0)
        return self._rng.normal(m, s, shape).astype(dtype)

    def uniform_int(self, shape: tuple, a: int, b: int, dtype) -> np.ndarray:
        lo, hi = cm.as_int(a, "a"), cm.as_int(b, "b")
        require(lo <= hi, f"a {lo} must be <= b {hi}")
        info = np.iinfo(dtype)
        require(info.min <= lo and hi <= info.max,
                f"[{lo}, {hi}] is outside the range of the destination type {np.dtype(dtype).name} "
                f"([{info.min}, {info.max}])")
        return self._rng.integers(lo, hi, shape, dtype=np.int64 if info.min < 0 or hi < 2**63 else np.uint64,
                                  endpoint=True).astype(dtype)

    # ------------------------------------------------------------------------------ state
    def get_state(self) -> bytes:
        s = self._rng.bit_generator.state
        return (int(s["state"]["state"]).to_bytes(16, "little") + int(s["state"]["inc"]).to_bytes(16, "little")
                + int(s["has_uint32"]).to_bytes(4, "little") + int(s["uinteger"]).to_bytes(4, "little"))

    def set_state(self, state: bytes) -> None:
        require(len(state) == STATE_BYTES, f"state has {len(state)} bytes; a generator state is {STATE_BYTES} "
                "(BNNSRandomGeneratorStateSize)")
        has_uint32 = int.from_bytes(state[32:36], "little")
        inc = int.from_bytes(state[16:32], "little")
        require(has_uint32 in (0, 1) and inc % 2 == 1, "state is not one RandomGeneratorGetState returned")
        self._rng.bit_generator.state = {
            "bit_generator": "PCG64", "has_uint32": has_uint32, "uinteger": int.from_bytes(state[36:40], "little"),
            "state": {"state": int.from_bytes(state[:16], "little"), "inc": inc}}
