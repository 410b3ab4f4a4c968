"""The filter-less BNNS functions (issue 12, part C): clipping and norms, DirectApplyActivationBatch,
top-k, tile, band part, shuffle, compare, and the random generators. One RPC each
(service.proto), served by the Core methods this module adds (``Functions``, a base of Core).

Most of them share one shape, "tensors in, tensors out, some scalars": a row of ``FUNCTIONS``
names the request's input descriptors (read with their data), its output descriptors (whose
results go into the response Buffer of the same name, or where ``outputs`` says) and the kernel
call. The batch functions (activation, top-k) and the generator handles have methods of their
own below. Maths lives in kernels/; this module only reads, checks, bounds and routes.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Tuple

import numpy as np

from bnns.kernels import bandpart, clipping, compare, gather, layout, neighbors, shuffle, tile, topk
from bnns.kernels import random as random_kernels
from bnns.kernels.errors import require
from bnns.v1 import service_pb2 as pb

from . import codec, kinds, wire
from .registry import GENERATOR

if TYPE_CHECKING:
    from .dataplane import MemoryBudget
    from .registry import Entry, Registry

FLOAT = layout.FLOAT_DTYPES
NUMERIC = layout.ALL_DTYPES                  # floats, integers and Boolean
INDEX = {t: d for t, d in layout.INTEGER_DTYPES.items()}


@dataclasses.dataclass(frozen=True)
class Function:
    """One "descriptors in, descriptors out" entry point."""

    rpc: str
    inputs: Tuple[str, ...]        # request NDArrayDescriptor fields read with their data
    outputs: Tuple[str, ...]       # request NDArrayDescriptor fields the results are shaped as
    compute: Callable              # (request, {input: array}, {output: Descriptor}) -> {output: array}
    input_types: dict = dataclasses.field(default_factory=lambda: FLOAT)
    index_inputs: Tuple[str, ...] = ()   # inputs read as integers (indices)
    read_outputs: Tuple[str, ...] = ()   # outputs whose data is read too (scatter: the values scattered into)


def _global_norm(r, x, o):
    require(len(o) == len(x), f"ClipByGlobalNorm: {len(x)} src but {len(o)} dest descriptors; give one dest per src")
    return dict(zip(o, clipping.clip_by_global_norm([x[k] for k in sorted(x, key=_index)], r.max_norm, r.use_norm)))


def _index(path: str) -> int:
    return int(path[path.index("[") + 1:-1])


FUNCTIONS = {f.rpc: f for f in (
    Function("ClipByValue", ("src",), ("dest",),
             lambda r, x, o: {"dest": clipping.clip_by_value(x["src"], r.min_val, r.max_val)}),
    Function("ClipByNorm", ("src",), ("dest",),
             lambda r, x, o: {"dest": clipping.clip_by_norm(x["src"], r.max_norm, r.axis_flags)}),
    Function("ClipByGlobalNorm", ("src",), ("dest",), _global_norm),
    Function("ComputeNorm", ("src",), ("dest",),
             lambda r, x, o: {"dest": clipping.compute_norm(x["src"], r.norm_type, r.axis_flags)}),
    Function("ComputeNormBackward", ("in", "out", "out_delta"), ("in_delta",),
             lambda r, x, o: {"in_delta": clipping.compute_norm_backward(
                 x["in"], _as_shape(x["out"], x, r), _as_shape(x["out_delta"], x, r), r.norm_type, r.axis_flags)}),
    Function("Tile", ("input",), ("output",), lambda r, x, o: {"output": tile.tile(x["input"], o["output"].shape)}),
    Function("TileBackward", ("out_delta",), ("in_delta",),
             lambda r, x, o: {"in_delta": tile.tile_backward(x["out_delta"], o["in_delta"].shape)}),
    Function("BandPart", ("input",), ("output",),
             lambda r, x, o: {"output": bandpart.band_part(x["input"], r.num_lower, r.num_upper)}),
    Function("Shuffle", ("input",), ("output",),
             lambda r, x, o: {"output": shuffle.shuffle(x["input"], r.type, o["output"].shape)}),
    Function("CompareTensor", ("in0", "in1"), ("out",),
             lambda r, x, o: {"out": compare.compare(x["in0"], x["in1"], r.op)}, input_types=NUMERIC),
    Function("Gather", ("input", "indices"), ("output",),
             lambda r, x, o: {"output": gather.gather(x["input"], x["indices"], r.axis, o["output"].shape)},
             input_types=NUMERIC, index_inputs=("indices",)),
    Function("Scatter", ("input", "indices"), ("output",),
             lambda r, x, o: {"output": gather.scatter(x["input"], x["indices"], x["output"], r.axis, r.op)},
             input_types=NUMERIC, index_inputs=("indices",), read_outputs=("output",)),
    Function("GatherND", ("input", "indices"), ("output",),
             lambda r, x, o: {"output": gather.gather_nd(x["input"], x["indices"])},
             input_types=NUMERIC, index_inputs=("indices",)),
    Function("ScatterND", ("input", "indices"), ("output",),
             lambda r, x, o: {"output": gather.scatter_nd(x["input"], x["indices"], x["output"], r.op)},
             input_types=NUMERIC, index_inputs=("indices",), read_outputs=("output",)),
)}


def _as_shape(y: np.ndarray, x: dict, r) -> np.ndarray:
    """ComputeNorm's output as the kernel's backward wants it: the input's shape without the
    reduced axes ((1,) when all are), whatever rank the caller's descriptor gave it."""
    shape = x["in"].shape
    axes = clipping.axes_from_flags(r.axis_flags, len(shape))
    kept = tuple(s for a, s in enumerate(shape) if a not in axes) or (1,)
    require(y.size == int(np.prod(kept)), f"out / out_delta have {y.size} elements; the norm of in {shape} over "
            f"axes {axes} has shape {kept}")
    return y.reshape(kept)


# ------------------------------------------------------------------------------ reading & writing

def read_descriptor(io, pb_desc, path: str, allowed: dict) -> np.ndarray:
    """The logical (NumPy-order) array of an input descriptor with data; floats as float32."""
    require(io.present(pb_desc, "data", f"{path}.data"), f"{path}.data is not set: the input's elements are needed")
    return codec.descriptor(pb_desc, path, io, path, allowed).tensor(path, allowed)


def output_descriptor(pb_desc, path: str, read: bool = False) -> layout.Descriptor:
    """An output descriptor: its geometry and data type; its data must be unset (the result's place
    is the caller's array, or `outputs[path]`) unless the function reads it too (``read``)."""
    desc = codec.descriptor(pb_desc, path)
    layout.numpy_dtype(desc.data_type, allowed=NUMERIC, what=f"{path}.data_type")
    require(read or not pb_desc.HasField("data"), f"{path}.data is set, but {path} is an output: leave its data unset "
            f"(the result comes back in the response) or name a server tensor in outputs['{path}']")
    return desc


def fit(result: np.ndarray, desc: layout.Descriptor, path: str) -> np.ndarray:
    """``result`` in ``desc``'s shape: equal shapes, or equal once extents of 1 are dropped
    (a Vector of 3 receives a (3,) or (1, 3) result)."""
    if result.shape != desc.shape:
        squeeze = lambda shape: tuple(s for s in shape if s != 1)       # noqa: E731
        require(result.size == desc.element_count and squeeze(result.shape) == squeeze(desc.shape),
                f"{path} has shape {desc.shape} ({desc.describe()}); the result has shape {result.shape}")
        result = result.reshape(desc.shape)
    return result


def _bound(core, rpc: str, elements: int) -> None:
    """Refuse, before anything is allocated, a call whose tensors are over max_call_bytes."""
    core._bounded(elements, f"{rpc} ({elements} elements of inputs and outputs)", "use smaller tensors")


def _fields(request, name: str):
    """(path, NDArrayDescriptor) for a descriptor field, repeated ("src[0]", ...) or not."""
    if wire.is_repeated(request.DESCRIPTOR.fields_by_name[name]):
        return [(f"{name}[{k}]", v) for k, v in enumerate(getattr(request, name))]
    return [(name, getattr(request, name))]


# --------------------------------------------------------------------------------- Core methods

class Functions:
    """The Core methods of part C (mixed into server.core.Core)."""

    # What they use of the Core they are mixed into:
    registry: Registry
    budget: MemoryBudget
    _BYTES_PER_ELEMENT: int
    _check_cancelled: Callable[[], None]
    _holding: Callable[[Entry], ContextManager]

    def _serve_function(self, function: Function, request, io):
        inputs = [(path, d) for name in function.inputs for path, d in _fields(request, name)]
        outputs = [(path, d) for name in function.outputs for path, d in _fields(request, name)]
        require(inputs and outputs, f"{function.rpc} needs its {', '.join(function.inputs + function.outputs)} "
                "descriptors")
        out_descs = {path: output_descriptor(d, path, path in function.read_outputs) for path, d in outputs}
        spans = sum(codec.descriptor(d, path).span for path, d in inputs) + sum(d.span for d in out_descs.values())
        _bound(self, function.rpc, spans)
        arrays = {path: read_descriptor(io, d, path, INDEX if path.split("[")[0] in function.index_inputs
                                        else function.input_types)
                  for path, d in inputs + [(p, d) for p, d in outputs if p in function.read_outputs]}
        self._check_cancelled()
        with self.budget.reserve(spans * self._BYTES_PER_ELEMENT):
            results = function.compute(request, arrays, out_descs)
        response = getattr(pb, function.rpc + "Response")()
        for path, desc in out_descs.items():
            if "[" in path:
                getattr(response, path.split("[")[0]).add()
            io.put(path, fit(results[path], desc, path)[None], desc.data_type, item=desc)
        return io.finish(response)

    # ------------------------------------------------------------------------- batch functions
    def direct_apply_activation_batch(self, request: pb.DirectApplyActivationBatchRequest, io):
        """BNNSDirectApplyActivationBatch: the activation filter's kernel, without a handle."""
        return self._direct_apply_batch("activation", "DirectApplyActivationBatch", request, io)

    def direct_apply_quantizer(self, request: pb.DirectApplyQuantizerRequest, io):
        """BNNSDirectApplyQuantizer: the fused layer's quantization member, without a handle."""
        return self._direct_apply_batch("quantization", "DirectApplyQuantizer", request, io)

    def _direct_apply_batch(self, kind_name: str, rpc: str, request, io):
        """Create, apply to a batch and forget a filter of ``kind_name`` (the layer-kinds row)."""
        kind = kinds.KINDS[kind_name]
        f = kind.build(request.layer_params, io, "layer_params")
        n = int(request.batch_size)
        require(1 <= n < 2**31, f"batch_size {n} must be between 1 and 2**31 - 1")
        _bound(self, rpc, n * (f.input_desc.span + f.output_desc.span))
        x = io.batch(request, "in", "in", f.input_desc, n, "in", allowed=NUMERIC)
        forward = kind.generic_forward or kinds.apply_into
        self._check_cancelled()
        y = forward(f, x, io.direct("out", (n,) + f.output_desc.shape, f.output_desc.data_type, f.output_desc))
        io.put("out", y, f.output_desc.data_type, f.output_desc)
        return io.finish(getattr(pb, rpc + "Response")())

    def direct_apply_top_k(self, request: pb.DirectApplyTopKRequest, io):
        n, x = self._batch_input(request, "input", "input_batch_stride", io, "DirectApplyTopK")
        values_desc = output_descriptor(request.best_values, "best_values")
        has_indices = request.HasField("best_indices")
        indices_desc = output_descriptor(request.best_indices, "best_indices") if has_indices else None
        if indices_desc is not None:
            layout.numpy_dtype(indices_desc.data_type, allowed=INDEX, what="best_indices.data_type")
        values, indices = topk.top_k(x, request.k, request.axis)
        io.put("best_values", self._fit_batch(values, values_desc, "best_values"), values_desc.data_type, values_desc)
        if indices_desc is not None:
            io.put("best_indices", self._fit_batch(indices, indices_desc, "best_indices"), indices_desc.data_type,
                   indices_desc)
        return io.finish(pb.DirectApplyTopKResponse())

    def direct_apply_in_top_k(self, request: pb.DirectApplyInTopKRequest, io):
        n, x = self._batch_input(request, "input", "input_batch_stride", io, "DirectApplyInTopK")
        t_desc = codec.descriptor(request.test_indices, "test_indices")
        layout.numpy_dtype(t_desc.data_type, allowed=INDEX, what="test_indices.data_type")
        flat = io.elements(request.test_indices.data if request.test_indices.HasField("data") else None,
                           "test_indices.data", t_desc.dtype, "test_indices.data")
        t = layout.read_batch(flat, t_desc, n, int(request.test_indices_batch_stride), "test_indices",
                              allowed=INDEX)
        out_desc = output_descriptor(request.output, "output")
        # A Vector input has scalar items without its axis: test_indices and output are then Vectors of 1.
        axis = int(request.axis)
        per_item = x.shape[1:axis + 1] + x.shape[axis + 2:] if axis < x.ndim - 1 else None
        if per_item is not None and t.shape[1:] != per_item and t[0].size == int(np.prod(per_item)):
            t = t.reshape((n,) + per_item)
        result = topk.in_top_k(x, t, request.k, request.axis)
        io.put("output", self._fit_batch(result, out_desc, "output"), out_desc.data_type, out_desc)
        return io.finish(pb.DirectApplyInTopKResponse())

    def _batch_input(self, request, field: str, stride_field: str, io, rpc: str):
        desc = codec.descriptor(getattr(request, field), field)
        n = int(request.batch_size)
        require(1 <= n < 2**31, f"batch_size {n} must be between 1 and 2**31 - 1")
        _bound(self, rpc, 3 * n * desc.span)
        pb_desc = getattr(request, field)
        dtype = layout.numpy_dtype(desc.data_type, what=f"{field}.data_type")
        flat = io.elements(pb_desc.data if pb_desc.HasField("data") else None, f"{field}.data", dtype, f"{field}.data")
        return n, layout.read_batch(flat, desc, n, int(getattr(request, stride_field)), field)

    @staticmethod
    def _fit_batch(result: np.ndarray, desc: layout.Descriptor, path: str) -> np.ndarray:
        """(N, *item) results in ``desc``'s item shape (as ``fit``, item by item)."""
        fit(result[0], desc, path)             # raises when an item does not fit desc
        return result.reshape((result.shape[0],) + desc.shape)

    # ---------------------------------------------------------------------- random generators
    def create_random_generator(self, request: pb.CreateRandomGeneratorRequest, io):
        entry = self._add_generator(random_kernels.RandomGenerator(int(request.method), None), request, io)
        return pb.CreateRandomGeneratorResponse(generator_id=entry.filter_id)

    def create_random_generator_with_seed(self, request: pb.CreateRandomGeneratorWithSeedRequest, io):
        entry = self._add_generator(random_kernels.RandomGenerator(int(request.method), int(request.seed)), request, io)
        return pb.CreateRandomGeneratorWithSeedResponse(generator_id=entry.filter_id)

    def _add_generator(self, generator, request, io):
        return self.registry.add(GENERATOR, generator, None, owner=io.tenant, lease_seconds=request.lease_seconds)

    def destroy_random_generator(self, request: pb.DestroyRandomGeneratorRequest, io):
        self.registry.remove(request.generator_id, io.tenant, generator=True)
        return pb.DestroyRandomGeneratorResponse()

    def random_generator_get_state(self, request: pb.RandomGeneratorGetStateRequest, io):
        entry = self.registry.get_generator(request.generator_id, io.tenant)
        with entry.lock:
            return pb.RandomGeneratorGetStateResponse(state=entry.filter.get_state())

    def random_generator_set_state(self, request: pb.RandomGeneratorSetStateRequest, io):
        entry = self.registry.get_generator(request.generator_id, io.tenant)
        with self._holding(entry):
            entry.filter.set_state(bytes(request.state))
        return pb.RandomGeneratorSetStateResponse()

    def random_fill_uniform_float(self, request: pb.RandomFillUniformFloatRequest, io):
        return self._fill(request, io, FLOAT, lambda g, shape, dtype: g.uniform(shape, request.a, request.b, dtype))

    def random_fill_normal_float(self, request: pb.RandomFillNormalFloatRequest, io):
        return self._fill(request, io, FLOAT, lambda g, shape, dtype: g.normal(shape, request.mean, request.stddev, dtype))

    def random_fill_uniform_int(self, request: pb.RandomFillUniformIntRequest, io):
        return self._fill(request, io, INDEX, lambda g, shape, dtype: g.uniform_int(shape, request.a, request.b, dtype))

    def random_fill_categorical_float(self, request: pb.RandomFillCategoricalFloatRequest, io):
        self.registry.get_generator(request.generator_id, io.tenant)        # an unknown handle first: NOT_FOUND
        probabilities = read_descriptor(io, request.probabilities, "probabilities", FLOAT)
        return self._fill(request, io, NUMERIC, lambda g, shape, dtype: g.categorical(
            probabilities, shape, request.log_probabilities, dtype), extra_elements=probabilities.size)

    # ------------------------------------------------------------------- nearest neighbours
    def nearest_neighbors_get_info(self, request: pb.NearestNeighborsGetInfoRequest, io):
        """BNNSNearestNeighborsGetInfo over the loaded samples (kernels/neighbors.py)."""
        n, features, k = int(request.n_samples), int(request.n_features), int(request.n_neighbors)
        require(n >= 1 and features >= 1, f"n_samples {n} and n_features {features} must be at least 1")
        data_type = int(request.data_type) or layout.DTYPE_FLOAT32
        dtype = layout.numpy_dtype(data_type, allowed=FLOAT, what="data_type")
        _bound(self, "NearestNeighborsGetInfo", n * features + 2 * k)
        flat = io.elements(request.samples if request.HasField("samples") else None, "samples", dtype, "samples",
                           count=n * features)
        require(flat.size == n * features, f"samples has {flat.size} elements; {n} samples of {features} features "
                f"need {n * features}")
        indices, distances = neighbors.nearest(flat.reshape(n, features), int(request.sample_number), k)
        vector = lambda t: layout.Descriptor(layout=layout.LAYOUT_VECTOR, size=(k,), data_type=t)   # noqa: E731
        io.put("indices", indices[None], layout.DTYPE_INT32, vector(layout.DTYPE_INT32))
        io.put("distances", distances[None], data_type, vector(data_type))
        return io.finish(pb.NearestNeighborsGetInfoResponse())

    def _fill(self, request, io, allowed: dict, draw: Callable, extra_elements: int = 0):
        """A BNNSRandomFill*: the next values of the generator, written as `desc` says. The
        generator moves only when the call succeeds (its state is put back otherwise)."""
        entry = self.registry.get_generator(request.generator_id, io.tenant)
        desc = output_descriptor(request.desc, "desc")
        dtype = layout.numpy_dtype(desc.data_type, allowed=allowed, what="desc.data_type")
        _bound(self, type(request).__name__[:-7], desc.span + extra_elements)
        with self._holding(entry):
            generator = entry.filter
            before = generator.get_state()
            try:
                values = draw(generator, desc.shape, dtype.type)
                io.put("desc", values[None], desc.data_type, item=desc)
                response = io.finish(getattr(pb, type(request).__name__[:-7] + "Response")())
            except BaseException:
                generator.set_state(before)
                raise
        return response

    def _direct_changed_handles(self, rpc: str, request, response, tenant: str):
        """For the state store: what a generator RPC changed ((entries, removed ids)), or None."""
        if rpc in ("CreateRandomGenerator", "CreateRandomGeneratorWithSeed"):
            return [self.registry.get_generator(response.generator_id, tenant)], ()
        if rpc == "DestroyRandomGenerator":
            return [], (request.generator_id,)
        if rpc in GENERATOR_MUTATING_RPCS:
            changed = [self.registry.get_generator(request.generator_id, tenant)]
            target = request.outputs.get("desc") if hasattr(request, "outputs") else None
            if target is not None and target.WhichOneof("contents") == "tensor":
                changed.append(self.registry.get_tensor(target.tensor.tensor_id, tenant))
            return changed, ()
        return None


GENERATOR_MUTATING_RPCS = frozenset({"RandomGeneratorSetState", "RandomFillUniformFloat", "RandomFillNormalFloat",
                                     "RandomFillUniformInt", "RandomFillCategoricalFloat"})
# The RPCs whose effect the state store must keep (server/state.py MUTATING_RPCS takes these).
MUTATING_RPCS = GENERATOR_MUTATING_RPCS | {"CreateRandomGenerator", "CreateRandomGeneratorWithSeed",
                                           "DestroyRandomGenerator"}


def _method(function: Function):
    def serve(self, request, io):
        return self._serve_function(function, request, io)
    serve.__name__ = serve.__qualname__ = function.rpc
    serve.__doc__ = f"BNNS{function.rpc}: the {function.rpc} row of server/direct.py FUNCTIONS."
    return serve


for _function in FUNCTIONS.values():
    setattr(Functions, wire.rpc_method_name(_function.rpc), _method(_function))


# ------------------------------------------------------------------------- worked examples
# One JSON request per RPC (proto3 JSON, as REST takes it): the docs run them through a private
# Core to show real answers, and tests/e2e/test_direct_sdk.py posts them to a live REST door.

def _d(layout_name: str, size: list, values=None, data_type: str = "DATA_TYPE_FLOAT32") -> dict:
    document: dict[str, Any] = {"layout": f"DATA_LAYOUT_{layout_name}", "size": size, "data_type": data_type}
    if values is not None:
        document["data"] = {"values": values}
    return document


_M23 = [[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]]            # a RowMajorMatrix of size (3, 2): 2 rows, 3 columns

EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "ClipByValue": ("clip [[1,-2,3],[-4,5,-6]] to [-2, 2]", {
        "src": _d("ROW_MAJOR_MATRIX", [3, 2], _M23), "dest": _d("ROW_MAJOR_MATRIX", [3, 2]),
        "min_val": -2, "max_val": 2}),
    "ClipByNorm": ("each row of a 3x3 matrix to L2 norm 10 (axis_flags 0b10: along the rows' columns)", {
        "src": _d("ROW_MAJOR_MATRIX", [3, 3], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        "dest": _d("ROW_MAJOR_MATRIX", [3, 3]), "max_norm": 10, "axis_flags": 2}),
    "ClipByGlobalNorm": ("two tensors scaled together to global norm 1", {
        "src": [_d("VECTOR", [2], [3, 0]), _d("VECTOR", [1], [4])], "dest": [_d("VECTOR", [2]), _d("VECTOR", [1])],
        "max_norm": 1}),
    "ComputeNorm": ("the L2 norm of each row of a 2x3 matrix", {
        "src": _d("ROW_MAJOR_MATRIX", [3, 2], _M23), "dest": _d("VECTOR", [2]), "norm_type": "NORM_TYPE_L2",
        "axis_flags": 2}),
    "ComputeNormBackward": ("the gradient of the L2 norm of [3, 4]", {
        "in": _d("VECTOR", [2], [3, 4]), "out": _d("VECTOR", [1], [5]), "out_delta": _d("VECTOR", [1], [1]),
        "in_delta": _d("VECTOR", [2]), "norm_type": "NORM_TYPE_L2"}),
    "DirectApplyActivationBatch": ("ReLU over a batch of two 3-vectors, without a filter", {
        "layer_params": {"i_desc": _d("VECTOR", [3]), "o_desc": _d("VECTOR", [3]),
                         "activation": {"function": "ACTIVATION_FUNCTION_RECTIFIED_LINEAR"}},
        "batch_size": 2, "in": {"values": [[-1, 0, 2], [3, -4, 5]]}}),
    "DirectApplyQuantizer": ("two 4-vectors quantized to Int8 with scale 10 and bias 1, without a filter", {
        "layer_params": {"function": "QUANTIZER_FUNCTION_QUANTIZE", "i_desc": _d("VECTOR", [4]),
                         "o_desc": _d("VECTOR", [4], data_type="DATA_TYPE_INT8"),
                         "scale": _d("VECTOR", [1], [10]), "bias": _d("VECTOR", [1], [1])},
        "batch_size": 2, "in": {"values": [[0.1, -0.25, 3, 20], [0, 1, -1, -20]]}}),
    "DirectApplyTopK": ("the 2 largest of each of two 4-vectors, with their indices", {
        "k": 2, "axis": 0, "batch_size": 2, "input": _d("VECTOR", [4], [[1, 9, 3, 7], [8, 2, 6, 4]]),
        "best_values": _d("VECTOR", [2]), "best_indices": _d("VECTOR", [2], data_type="DATA_TYPE_INT64")}),
    "DirectApplyInTopK": ("is the labelled class among the top 2? (two samples)", {
        "k": 2, "axis": 0, "batch_size": 2, "input": _d("VECTOR", [4], [[1, 9, 3, 7], [8, 2, 6, 4]]),
        "test_indices": _d("VECTOR", [1], [[3], [1]], data_type="DATA_TYPE_INT32"),
        "output": _d("VECTOR", [1], data_type="DATA_TYPE_BOOLEAN")}),
    "NearestNeighborsGetInfo": ("the 2 of four 2-D samples nearest sample 1 (itself first)", {
        "samples": {"values": [[0, 0], [1, 0], [3, 0], [1, 2]]}, "n_samples": 4, "n_features": 2,
        "n_neighbors": 2, "sample_number": 1}),
    "Tile": ("a 1x2 matrix tiled to 2x4", {
        "input": _d("ROW_MAJOR_MATRIX", [2, 1], [[1, 2]]), "output": _d("ROW_MAJOR_MATRIX", [4, 2])}),
    "TileBackward": ("the gradient of that tile: sums over the four tiles", {
        "out_delta": _d("ROW_MAJOR_MATRIX", [4, 2], [[1, 2, 3, 4], [5, 6, 7, 8]]),
        "in_delta": _d("ROW_MAJOR_MATRIX", [2, 1])}),
    "BandPart": ("the main diagonal and one below it of a 3x3 matrix", {
        "num_lower": 1, "num_upper": 0, "input": _d("ROW_MAJOR_MATRIX", [3, 3], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        "output": _d("ROW_MAJOR_MATRIX", [3, 3])}),
    "Shuffle": ("pixel shuffle of 4 channels of 1x1 into one 2x2 channel", {
        "type": "SHUFFLE_TYPE_PIXEL_SHUFFLE_NCHW", "input": _d("IMAGE_CHW", [1, 1, 4], [1, 2, 3, 4]),
        "output": _d("IMAGE_CHW", [2, 2, 1])}),
    "Gather": ("rows 2 and 0 of a 3x3 matrix (slice mode, axis 0)", {
        "axis": 0, "input": _d("ROW_MAJOR_MATRIX", [3, 3], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        "indices": _d("VECTOR", [2], [2, 0], data_type="DATA_TYPE_INT32"), "output": _d("ROW_MAJOR_MATRIX", [3, 2])}),
    "Scatter": ("add two rows into rows 0 and 0 of a zero 3x2 matrix (Sum)", {
        "axis": 0, "op": 6, "input": _d("ROW_MAJOR_MATRIX", [2, 2], [[1, 2], [3, 4]]),
        "indices": _d("VECTOR", [2], [0, 0], data_type="DATA_TYPE_INT32"),
        "output": _d("ROW_MAJOR_MATRIX", [2, 3], [[0, 0], [0, 0], [0, 0]])}),
    "GatherND": ("elements (0, 1) and (2, 2) of a 3x3 matrix", {
        "input": _d("ROW_MAJOR_MATRIX", [3, 3], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        "indices": _d("ROW_MAJOR_MATRIX", [2, 2], [[0, 1], [2, 2]], data_type="DATA_TYPE_INT32"),
        "output": _d("VECTOR", [2])}),
    "ScatterND": ("the maximum of 5 and what (1, 1) holds, in a 2x2 matrix of 9s", {
        "op": 0, "input": _d("VECTOR", [1], [5]),
        "indices": _d("ROW_MAJOR_MATRIX", [2, 1], [[1, 1]], data_type="DATA_TYPE_INT32"),
        "output": _d("ROW_MAJOR_MATRIX", [2, 2], [[9, 9], [9, 0]])}),
    "CompareTensor": ("a < b elementwise", {
        "in0": _d("VECTOR", [3], [1, 5, 3]), "in1": _d("VECTOR", [3], [2, 5, 1]), "op": "RELATIONAL_OPERATOR_LESS",
        "out": _d("VECTOR", [3], data_type="DATA_TYPE_BOOLEAN")}),
}
SEED = 2024


def generator_examples(generator_id: str) -> dict:
    """The generator RPCs' examples, on a generator created with seed SEED."""
    return {
        "RandomFillUniformFloat": ("four numbers from U[0, 1)", {
            "generator_id": generator_id, "desc": _d("VECTOR", [4]), "a": 0, "b": 1}),
        "RandomFillNormalFloat": ("four numbers from N(0, 1)", {
            "generator_id": generator_id, "desc": _d("VECTOR", [4]), "mean": 0, "stddev": 1}),
        "RandomFillUniformInt": ("four dice", {
            "generator_id": generator_id, "desc": _d("VECTOR", [4], data_type="DATA_TYPE_INT32"), "a": 1, "b": 6}),
        "RandomFillCategoricalFloat": ("six draws from each of two 3-event distributions", {
            "generator_id": generator_id, "desc": _d("ROW_MAJOR_MATRIX", [6, 2], data_type="DATA_TYPE_INT32"),
            "probabilities": _d("ROW_MAJOR_MATRIX", [3, 2], [[0.7, 0.2, 0.1], [0, 0, 1]])}),
        "RandomGeneratorGetState": ("the generator's 40-byte state", {"generator_id": generator_id}),
    }


def worked_examples(run) -> None:
    """Run every example with the docs' ``run(rpc, name, summary, body)``."""
    for rpc, (summary, body) in EXAMPLES.items():
        run(rpc, wire.rpc_method_name(rpc), summary, body)
    created = run("CreateRandomGeneratorWithSeed", "seeded", f"a generator seeded with {SEED}",
                  {"method": "RANDOM_GENERATOR_METHOD_AES_CTR", "seed": SEED})
    run("CreateRandomGenerator", "unseeded", "a generator seeded from OS entropy",
        {"method": "RANDOM_GENERATOR_METHOD_AES_CTR"})
    generator_id = created.generator_id if created is not None else "g-0"
    answers = {rpc: run(rpc, wire.rpc_method_name(rpc), summary, body)
               for rpc, (summary, body) in generator_examples(generator_id).items()}
    state = answers["RandomGeneratorGetState"]
    run("RandomGeneratorSetState", "rewind", "put back the state read above", {
        "generator_id": generator_id, "state": base64.b64encode(state.state if state is not None else b"").decode()})
    run("DestroyRandomGenerator", "seeded", "destroy the seeded generator", {"generator_id": generator_id})
