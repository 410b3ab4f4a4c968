"""k-nearest neighbours: BNNSCreateNearestNeighbors, BNNSNearestNeighborsLoad,
BNNSNearestNeighborsGetInfo and BNNSDestroyNearestNeighbors.

A BNNSNearestNeighbors keeps its samples where the computation is: in a server tensor of
max_n_samples x n_features (in process, the in-process core's), written by each Load at the end
of the loaded ones, so a GetInfo sends only its sample number. Loading past max_n_samples is
refused (BNNS is documented to write past it anyway); the distances are Euclidean, in data_type,
nearest first, and the query sample is its own first neighbour (distance 0).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from bnns.kernels import layout
from bnns.kernels.errors import InvalidArgumentError, require
from bnns.v1 import service_pb2 as pb

from . import api, backend as backend_mod
from .c_structs import BNNSFilterParameters
from .structs import flat_elements
from .tensor import BNNSTensor


class BNNSNearestNeighbors:
    """The object BNNSCreateNearestNeighbors returns (opaque in BNNS)."""

    def __init__(self, tensor: BNNSTensor, max_n_samples: int, n_features: int, n_neighbors: int, data_type: int):
        self.tensor, self.max_n_samples, self.n_features = tensor, max_n_samples, n_features
        self.n_neighbors, self.data_type, self.n_samples = n_neighbors, data_type, 0
        self.destroyed = False

    def _live(self) -> "BNNSNearestNeighbors":
        require(not self.destroyed, "the BNNSNearestNeighbors object was destroyed")
        return self


@api._c_style(None)
def BNNSCreateNearestNeighbors(max_n_samples: int, n_features: int, n_neighbors: int, data_type: int,
                               filter_params: Optional[BNNSFilterParameters] = None):
    """A k-nearest neighbours object for up to max_n_samples samples of n_features values
    (data_type Float32 or Float16), answering n_neighbors neighbours; None on failure."""
    max_n_samples, n_features, n_neighbors = int(max_n_samples), int(n_features), int(n_neighbors)
    require(max_n_samples >= 1 and n_features >= 1 and 1 <= n_neighbors <= max_n_samples,
            f"max_n_samples {max_n_samples}, n_features {n_features} and n_neighbors {n_neighbors}: each at "
            "least 1, and no more neighbours than samples")
    layout.numpy_dtype(int(data_type), allowed=layout.FLOAT_DTYPES, what="data_type")
    tensor = BNNSTensor.empty((max_n_samples, n_features), int(data_type), backend=backend_mod.current())
    return BNNSNearestNeighbors(tensor, max_n_samples, n_features, n_neighbors, int(data_type))


@api._c_style(-1)
def BNNSNearestNeighborsLoad(knn: BNNSNearestNeighbors, n_new_samples: int, data_ptr) -> int:
    """Append n_new_samples samples (n_new_samples x n_features values, row after row)."""
    knn = knn._live()
    n_new = int(n_new_samples)
    require(n_new >= 1, f"n_new_samples {n_new} must be at least 1")
    if knn.n_samples + n_new > knn.max_n_samples:
        raise InvalidArgumentError(f"{knn.n_samples} samples are loaded; {n_new} more exceed max_n_samples "
                                   f"{knn.max_n_samples}")
    values = flat_elements(data_ptr, knn.data_type, "data_ptr")
    require(values.size >= n_new * knn.n_features, f"data_ptr has {values.size} values; {n_new} samples of "
            f"{knn.n_features} features need {n_new * knn.n_features}")
    knn.tensor.write(values[: n_new * knn.n_features], offset=knn.n_samples * knn.n_features)
    knn.n_samples += n_new
    return 0


@api._c_style(-1)
def BNNSNearestNeighborsGetInfo(knn: BNNSNearestNeighbors, sample_number: int, indices, distances) -> int:
    """The n_neighbors loaded samples nearest sample `sample_number`, nearest first: their
    numbers into ``indices`` (Int32) and their Euclidean distances into ``distances`` (either may
    be None)."""
    knn = knn._live()
    request = pb.NearestNeighborsGetInfoRequest(
        n_samples=knn.n_samples, n_features=knn.n_features, n_neighbors=knn.n_neighbors,
        sample_number=int(sample_number), data_type=knn.data_type)
    request.samples.CopyFrom(knn.tensor.reference())
    io = api.Exchange()
    vector = layout.Descriptor(layout=layout.LAYOUT_VECTOR, size=(knn.n_neighbors,))
    for path, array, wire in (("indices", indices, np.dtype("<i4")),
                              ("distances", distances, layout.FLOAT_DTYPES[knn.data_type])):
        if array is not None:
            io.receive(path, array, vector, 1, 0, wire=wire)
    knn.tensor.backend.call("NearestNeighborsGetInfo", request, response_bytes=knn.n_neighbors * 8, exchange=io)
    return 0


def BNNSDestroyNearestNeighbors(knn: Optional[BNNSNearestNeighbors]) -> None:
    """Release the object and its samples."""
    if knn is not None and not knn.destroyed:
        knn.destroyed = True
        knn.tensor.destroy()

