"""k-nearest neighbours against a loop over every pair, ties and errors."""

from __future__ import annotations

import numpy as np
import pytest

from bnns.kernels import neighbors
from bnns.kernels.errors import InvalidArgumentError


def test_nearest_matches_a_loop_over_every_sample():
    samples = np.random.default_rng(0).standard_normal((40, 5)).astype(np.float32)
    for s in (0, 17, 39):
        indices, distances = neighbors.nearest(samples, s, 6)
        loop = sorted((float(np.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(samples[j], samples[s])))), j)
                      for j in range(40))[:6]
        assert indices.dtype == np.int32 and indices.tolist() == [j for _, j in loop]
        np.testing.assert_allclose(distances, [d for d, _ in loop], rtol=1e-6)
        assert indices[0] == s and distances[0] == 0                 # the query is its own first neighbour


def test_ties_go_to_the_lower_index():
    samples = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [5, 5]], np.float32)
    indices, distances = neighbors.nearest(samples, 0, 4)
    assert indices.tolist() == [0, 1, 2, 3] and distances.tolist() == [0, 1, 1, 1]


@pytest.mark.parametrize("s, k, phrase", [(5, 1, "not a loaded sample"), (-1, 1, "not a loaded sample"),
                                          (0, 6, "at least that many")])
def test_bad_queries_are_invalid(s, k, phrase):
    with pytest.raises(InvalidArgumentError, match=phrase):
        neighbors.nearest(np.zeros((5, 2), np.float32), s, k)
