"""kernels.parallel: ranges shared over the kernel pool cover their items exactly once, and the
per-block results come back in block order however the work is cut among the threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bnns.kernels import parallel


@pytest.mark.parametrize("count, pieces", [(1, 4), (7, 1), (7, 4), (32, 4), (5, 8)])
def test_for_ranges_covers_every_item_once_in_ranges_of_the_asked_size(monkeypatch, count, pieces):
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)           # share out even tiny work
    seen, ranges, lock = np.zeros(count, int), [], threading.Lock()

    def work(lo, hi):
        with lock:
            ranges.append((lo, hi))
            seen[lo:hi] += 1

    parallel.for_ranges(count, 1, work, pieces_per_worker=pieces)
    assert seen.tolist() == [1] * count
    workers = parallel.workers_for(count, 1)
    step = -(-count // (workers * pieces)) if workers > 1 else count
    assert sorted(ranges) == [(lo, min(count, lo + step)) for lo in range(0, count, step)]


def test_map_blocks_results_do_not_depend_on_how_the_blocks_are_shared(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 3)              # blocks of 3 rows of 1 byte
    want = [(lo, min(10, lo + 3)) for lo in range(0, 10, 3)]
    for pieces in (1, 2, 4):
        assert parallel.map_blocks(10, 1, lambda lo, hi: (lo, hi), pieces) == want
