"""BNNSCreateNearestNeighbors / Load / GetInfo / Destroy through the SDK on both backends: the
samples live in a server tensor, loads append, answers match a loop, errors change nothing."""

from __future__ import annotations

import numpy as np


def test_loads_append_and_get_info_answers_nearest_first(bnns):
    rng = np.random.default_rng(3)
    first, second = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    knn = bnns.BNNSCreateNearestNeighbors(12, 3, 4, bnns.BNNSDataTypeFloat32)
    assert knn is not None, bnns.last_error()
    assert bnns.BNNSNearestNeighborsLoad(knn, 6, first) == 0, bnns.last_error()
    assert bnns.BNNSNearestNeighborsLoad(knn, 4, second) == 0, bnns.last_error()
    samples = np.concatenate([first, second]).astype(np.float64)
    for s in (0, 7, 9):
        indices, distances = np.full(4, -1, np.int32), np.zeros(4, np.float32)
        assert bnns.BNNSNearestNeighborsGetInfo(knn, s, indices, distances) == 0, bnns.last_error()
        d = np.sqrt(((samples - samples[s]) ** 2).sum(axis=1))
        expected = np.argsort(d, kind="stable")[:4]
        assert indices.tolist() == expected.tolist() and indices[0] == s
        np.testing.assert_allclose(distances, d[expected], rtol=1e-6, atol=1e-7)
    only = np.zeros(4, np.int32)
    assert bnns.BNNSNearestNeighborsGetInfo(knn, 2, only, None) == 0      # distances not wanted
    bnns.BNNSDestroyNearestNeighbors(knn)
    assert bnns.BNNSNearestNeighborsGetInfo(knn, 0, only, None) == -1 and "destroyed" in str(bnns.last_error())


def test_overflowing_loads_and_unknown_samples_are_refused_and_change_nothing(bnns):
    knn = bnns.BNNSCreateNearestNeighbors(3, 2, 2, bnns.BNNSDataTypeFloat32)
    data = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert bnns.BNNSNearestNeighborsLoad(knn, 4, data) == -1 and "max_n_samples" in str(bnns.last_error())
    assert bnns.BNNSNearestNeighborsLoad(knn, 2, data) == 0
    indices = np.full(2, 7, np.int32)
    assert bnns.BNNSNearestNeighborsGetInfo(knn, 2, indices, None) == -1          # only 0 and 1 are loaded
    assert "not a loaded sample" in str(bnns.last_error()) and indices.tolist() == [7, 7]
    assert bnns.BNNSNearestNeighborsGetInfo(knn, 1, indices, None) == 0 and indices.tolist() == [1, 0]
    assert bnns.BNNSCreateNearestNeighbors(2, 2, 3, bnns.BNNSDataTypeFloat32) is None   # more neighbours than samples
    bnns.BNNSDestroyNearestNeighbors(knn)
