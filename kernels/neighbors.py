"""k-nearest neighbours (BNNSNearestNeighborsGetInfo): the loaded samples nearest one of them.

    distances[j] = || samples[indices[j]] - samples[s] ||_2,  j = 0 .. k-1, ascending

Shapes: samples (N, F) (the N loaded samples of F features), s in [0, N), k <= N. The query sample
is one of the samples, so it is the first neighbour, at distance 0 (as BNNS reports it). Ties are
broken by the lower index (a stable sort). Forward only: BNNS has no gradient here.
"""

from __future__ import annotations

import numpy as np

from .errors import require


def nearest(samples: np.ndarray, sample_number: int, k: int) -> tuple:
    """(indices int32 (k,), distances (k,) in samples' float type) of the k samples nearest
    samples[sample_number], nearest first."""
    n = samples.shape[0]
    require(0 <= sample_number < n, f"sample_number {sample_number} is not a loaded sample (0 to {n - 1})")
    require(1 <= k <= n, f"n_neighbors {k} needs at least that many loaded samples; {n} are loaded")
    # Differences in float64, so near-equal samples are not ranked by float32 cancellation.
    d = np.sqrt(((samples.astype(np.float64) - samples[sample_number]) ** 2).sum(axis=1))
    order = np.argsort(d, kind="stable")[:k]
    return order.astype(np.int32), d[order].astype(samples.dtype)
