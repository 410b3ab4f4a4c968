"""The filter-less BNNS functions (issue 12, part C), C style and Swift style, local or remote.

C style, Apple's names and argument order, returning 0 / -1 (reason in ``last_error()``):
BNNSClipByValue, BNNSClipByNorm, BNNSClipByGlobalNorm, BNNSComputeNorm, BNNSComputeNormBackward,
BNNSDirectApplyActivationBatch, BNNSDirectApplyQuantizer, BNNSDirectApplyTopK, BNNSDirectApplyInTopK, BNNSTile,
BNNSTileBackward, BNNSBandPart, BNNSShuffle, BNNSCompareTensor, BNNSGather, BNNSScatter,
BNNSGatherND, BNNSScatterND, the random generators
(BNNSCreateRandomGenerator[WithSeed] return a BNNSRandomGenerator or None) and the descriptor
arithmetic BNNSNDArrayGetDataSize, BNNSDataLayoutGetRank, BNNSTensorGetAllocationSize (computed
here, no call). Swift style: the static functions of the BNNS namespace Apple has for them, in
this SDK's spelling of Swift (snake_case names and labels, in Swift's order): BNNS.applyActivation
is ``BNNS.apply_activation(activation=, [axes=,] input=, output=, batch_size=,
filter_parameters=)``; likewise clip(to:...), clip_by_norm, clip_by_global_norm, apply_top_k,
apply_in_top_k, tile, tile_backward, shuffle, compare, gather, scatter, gather_nd, scatter_nd,
and BNNS.RandomGenerator(method, seed, filter_parameters).

Inputs are descriptors with data (NumPy arrays or BNNSTensors); results are written into the
output descriptors' data, at their strides, as BNNS writes them; a BNNSTensor there receives the
result on the server (a random fill of a resident weight tensor never travels).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from bnns.kernels import layout
from bnns.kernels import random as random_kernels
from bnns.kernels.reduction import NONE as _REDUCE_NONE
from bnns.kernels.errors import BNNSError, require
from bnns.v1 import service_pb2 as pb
from bnns.v1 import types_pb2

from . import api, backend as backend_mod
from .session import tracked as _tracked      # (the package rebinds `session` to the function)
from . import constants as C
from .activation import BNNSLayerParametersActivation, axis_flags
from .fused import BNNSLayerParametersQuantization
from .c_structs import BNNSFilterParameters, BNNSNDArrayDescriptor


# ------------------------------------------------------------------------------------ the glue

class _Call:
    """One filter-less call: its request, the descriptors it sends and those it fills."""

    def __init__(self, rpc: str, backend=None, **scalars):
        self.rpc = rpc
        self.backend = backend or backend_mod.current()
        self.request = getattr(pb, rpc + "Request")(**scalars)
        self.exchange = api.Exchange()
        self.result_bytes = 0

    def send(self, path: str, desc: BNNSNDArrayDescriptor, target=None) -> "_Call":
        """An input descriptor with its data (all ``span`` elements at its strides)."""
        require(isinstance(desc, BNNSNDArrayDescriptor), f"{path} must be a BNNSNDArrayDescriptor")
        require(desc.data is not None, f"{path}.data is not set: the input's elements are needed")
        message = target if target is not None else getattr(self.request, path)
        message.CopyFrom(desc.to_proto(with_data=False))
        buffer = self.exchange.send_flat(f"{path}.data", desc.data, desc.data_type, count=desc.geometry().span)
        message.data.CopyFrom(buffer)
        return self

    def receive(self, path: str, desc: BNNSNDArrayDescriptor, batch_size: int = 1, stride: int = 0,
                target=None, response_path: Optional[str] = None) -> "_Call":
        """An output descriptor: the result is written into its data (or its BNNSTensor)."""
        require(isinstance(desc, BNNSNDArrayDescriptor), f"{path} must be a BNNSNDArrayDescriptor")
        require(desc.data is not None, f"{path}.data is not set: BNNS writes the result there")
        message = target if target is not None else getattr(self.request, path)
        message.CopyFrom(desc.to_proto(with_data=False))
        geometry = desc.geometry()
        wire = layout.numpy_dtype(desc.data_type, allowed=layout.ALL_DTYPES, what=f"{path}.data_type")
        self.exchange.receive(response_path or path, desc.data, geometry, batch_size, stride, wire=wire)
        self.result_bytes += int(batch_size) * geometry.span * wire.itemsize
        return self

    def run(self):
        return self.backend.call(self.rpc, self.request, response_bytes=self.result_bytes, exchange=self.exchange)


def _filter_parameters(request, filter_params: Optional[BNNSFilterParameters]) -> None:
    if filter_params is not None and "filter_parameters" in request.DESCRIPTOR.fields_by_name:
        request.filter_parameters.CopyFrom(filter_params.to_proto())


# ---------------------------------------------------------------------------- C: clipping, norms

@api._c_style(-1)
def BNNSClipByValue(dest: BNNSNDArrayDescriptor, src: BNNSNDArrayDescriptor, min_val: float, max_val: float) -> int:
    """dest = min(max(src, min_val), max_val)."""
    _Call("ClipByValue", min_val=float(min_val), max_val=float(max_val)).send("src", src).receive("dest", dest).run()
    return 0


@api._c_style(-1)
def BNNSClipByNorm(dest: BNNSNDArrayDescriptor, src: BNNSNDArrayDescriptor, max_norm: float, axis_flags: int) -> int:
    """dest = src * max_norm / max(||src||, max_norm), the norm over the flagged axes (0 = all)."""
    _Call("ClipByNorm", max_norm=float(max_norm), axis_flags=int(axis_flags)).send("src", src).receive(
        "dest", dest).run()
    return 0


@api._c_style(-1)
def BNNSClipByGlobalNorm(dest: Sequence[BNNSNDArrayDescriptor], src: Sequence[BNNSNDArrayDescriptor], count: int,
                         max_norm: float, use_norm: float) -> int:
    """Every src[k] scaled by max_norm / max(global norm, max_norm) into dest[k] (k < count)."""
    count = int(count)
    require(count >= 1 and len(dest) >= count and len(src) >= count,
            f"count {count}: dest has {len(dest)} and src {len(src)} descriptors; give count >= 1 of each")
    call = _Call("ClipByGlobalNorm", max_norm=float(max_norm), use_norm=float(use_norm))
    for k in range(count):
        call.send(f"src[{k}]", src[k], target=call.request.src.add())
    for k in range(count):
        call.receive(f"dest[{k}]", dest[k], target=call.request.dest.add())
    call.run()
    return 0


@api._c_style(-1)
def BNNSComputeNorm(dest: BNNSNDArrayDescriptor, src: BNNSNDArrayDescriptor, norm_type: int, axis_flags: int) -> int:
    """dest = the L2 norm of src over the flagged axes (removed from dest's shape)."""
    _Call("ComputeNorm", norm_type=int(norm_type), axis_flags=int(axis_flags)).send("src", src).receive(
        "dest", dest).run()
    return 0


@api._c_style(-1)
def BNNSComputeNormBackward(in_: BNNSNDArrayDescriptor, in_delta: BNNSNDArrayDescriptor, out: BNNSNDArrayDescriptor,
                            out_delta: BNNSNDArrayDescriptor, norm_type: int, axis_flags: int) -> int:
    """in_delta = out_delta * in / out (0 where out is 0)."""
    _Call("ComputeNormBackward", norm_type=int(norm_type), axis_flags=int(axis_flags)).send("in", in_).send(
        "out", out).send("out_delta", out_delta).receive("in_delta", in_delta).run()
    return 0


# ------------------------------------------------------------------------------- C: batch calls

@api._c_style(-1)
def BNNSDirectApplyActivationBatch(layer_params: BNNSLayerParametersActivation,
                                   filter_params: Optional[BNNSFilterParameters], batch_size: int, in_stride: int,
                                   out_stride: int) -> int:
    """The activation of layer_params on batch_size items read from i_desc.data (every in_stride
    elements) into o_desc.data (every out_stride elements)."""
    return _direct_apply_batch("DirectApplyActivationBatch", layer_params, filter_params, batch_size, in_stride,
                               out_stride)


@api._c_style(-1)
def BNNSDirectApplyQuantizer(layer_params: BNNSLayerParametersQuantization,
                             filter_params: Optional[BNNSFilterParameters], batch_size: int, input_stride: int,
                             output_stride: int) -> int:
    """Quantize or dequantize (layer_params.function) batch_size items read from i_desc.data
    (every input_stride elements) into o_desc.data (every output_stride elements)."""
    return _direct_apply_batch("DirectApplyQuantizer", layer_params, filter_params, batch_size, input_stride,
                               output_stride)


def _direct_apply_batch(rpc: str, layer_params, filter_params, batch_size: int, in_stride: int, out_stride: int):
    """A filter-less batch apply: layer_params travel without the i_desc / o_desc data, which is
    the batch read in and the place the results are written."""
    i_desc, o_desc = layer_params.i_desc, layer_params.o_desc
    require(i_desc is not None and i_desc.data is not None, "layer_params.i_desc.data is not set: the input")
    require(o_desc is not None and o_desc.data is not None, "layer_params.o_desc.data is not set: BNNS writes there")
    call = _Call(rpc, batch_size=int(batch_size))
    call.request.layer_params.CopyFrom(layer_params.to_proto())
    for name in ("i_desc", "o_desc"):
        getattr(call.request.layer_params, name).ClearField("data")
    _filter_parameters(call.request, filter_params)
    getattr(call.request, "in").CopyFrom(
        call.exchange.send("in", i_desc.data, i_desc.geometry(), batch_size, in_stride))
    wire = layout.numpy_dtype(o_desc.data_type, allowed=layout.ALL_DTYPES, what="o_desc.data_type")
    call.exchange.receive("out", o_desc.data, o_desc.geometry(), batch_size, out_stride, wire=wire)
    call.result_bytes = int(batch_size) * o_desc.geometry().span * wire.itemsize
    call.run()
    return 0


@api._c_style(-1)
def BNNSDirectApplyTopK(K: int, axis: int, batch_size: int, input: BNNSNDArrayDescriptor, input_batch_stride: int,
                        best_values: BNNSNDArrayDescriptor, best_values_batch_stride: int,
                        best_indices: Optional[BNNSNDArrayDescriptor], best_indices_batch_stride: int,
                        filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """The K largest values along ``axis`` of each item (and their indices when best_indices is given)."""
    call = _Call("DirectApplyTopK", k=int(K), axis=int(axis), batch_size=int(batch_size),
                 input_batch_stride=int(input_batch_stride))
    _send_batch(call, "input", input, batch_size, input_batch_stride)
    call.receive("best_values", best_values, batch_size, best_values_batch_stride)
    if best_indices is not None:
        call.receive("best_indices", best_indices, batch_size, best_indices_batch_stride)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSDirectApplyInTopK(K: int, axis: int, batch_size: int, input: BNNSNDArrayDescriptor, input_batch_stride: int,
                          test_indices: BNNSNDArrayDescriptor, test_indices_batch_stride: int,
                          output: BNNSNDArrayDescriptor, output_batch_stride: int,
                          filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output = whether input at test_indices is among the K largest along ``axis`` (per item)."""
    call = _Call("DirectApplyInTopK", k=int(K), axis=int(axis), batch_size=int(batch_size),
                 input_batch_stride=int(input_batch_stride), test_indices_batch_stride=int(test_indices_batch_stride))
    _send_batch(call, "input", input, batch_size, input_batch_stride)
    _send_batch(call, "test_indices", test_indices, batch_size, test_indices_batch_stride)
    call.receive("output", output, batch_size, output_batch_stride)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


def _send_batch(call: _Call, path: str, desc: BNNSNDArrayDescriptor, batch_size: int, stride: int) -> None:
    """A batch input: the descriptor of one item, and ``batch_size`` items every ``stride`` elements."""
    require(desc is not None and desc.data is not None, f"{path}.data is not set: the input's elements are needed")
    message = getattr(call.request, path)
    message.CopyFrom(desc.to_proto(with_data=False))
    message.data.CopyFrom(call.exchange.send(f"{path}.data", desc.data, desc.geometry(), batch_size, stride))
    message.data.stride = 0         # the stride travels in the request's own *_batch_stride field


# ------------------------------------------------------------------------- C: tensor functions

@api._c_style(-1)
def BNNSTile(input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
             filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output = input repeated along each axis (output extents are multiples of input's)."""
    call = _Call("Tile").send("input", input).receive("output", output)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSTileBackward(in_delta: BNNSNDArrayDescriptor, out_delta: BNNSNDArrayDescriptor,
                     filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """in_delta = out_delta summed over the tiles."""
    call = _Call("TileBackward").send("out_delta", out_delta).receive("in_delta", in_delta)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSBandPart(num_lower: int, num_upper: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                 filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output = the band of input's innermost matrices (negative: the whole triangle), zeros elsewhere."""
    call = _Call("BandPart", num_lower=int(num_lower), num_upper=int(num_upper)).send("input", input).receive(
        "output", output)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSShuffle(type: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """Pixel shuffle / unshuffle (NCHW), the factor read from the shapes."""
    call = _Call("Shuffle", type=int(type)).send("input", input).receive("output", output)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSCompareTensor(in0: BNNSNDArrayDescriptor, in1: BNNSNDArrayDescriptor, op: int,
                      out: BNNSNDArrayDescriptor) -> int:
    """out = in0 op in1 elementwise (a BNNSRelationalOperator)."""
    _Call("CompareTensor", op=int(op)).send("in0", in0).send("in1", in1).receive("out", out).run()
    return 0


@api._c_style(-1)
def BNNSGather(axis: int, input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor,
               output: BNNSNDArrayDescriptor, filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output = input gathered at indices along ``axis`` (element or slice mode, from output's shape)."""
    call = _Call("Gather", axis=int(axis)).send("input", input).send("indices", indices).receive("output", output)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSScatter(axis: int, op: int, input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor,
                output: BNNSNDArrayDescriptor, filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output's values combined (op: a BNNSReduceFunction) with input's, placed at indices along ``axis``."""
    call = _Call("Scatter", axis=int(axis), op=int(op)).send("input", input).send("indices", indices)
    call.receive("output", output).send("output", output)          # BNNS reads the output, then writes it
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSGatherND(input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
                 filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output = input at the index vectors (the last axis of indices)."""
    call = _Call("GatherND").send("input", input).send("indices", indices).receive("output", output)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


@api._c_style(-1)
def BNNSScatterND(op: int, input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor,
                  output: BNNSNDArrayDescriptor, filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """output's values combined (op) with input's slices at the index vectors."""
    call = _Call("ScatterND", op=int(op)).send("input", input).send("indices", indices)
    call.receive("output", output).send("output", output)
    _filter_parameters(call.request, filter_params)
    call.run()
    return 0


# ------------------------------------------------------------------------ C: random generators

class BNNSRandomGenerator:
    """An opaque generator handle (BNNSRandomGenerator): the server's id and its connection."""

    def __init__(self, backend, generator_id: str):
        self.backend, self.generator_id, self.destroyed = backend, generator_id, False

    def call(self, rpc: str, **fields):
        require(not self.destroyed, f"random generator {self.generator_id} was destroyed (BNNSDestroyRandomGenerator)")
        return self.backend.call(rpc, getattr(pb, rpc + "Request")(generator_id=self.generator_id, **fields))

    def destroy(self) -> None:
        BNNSDestroyRandomGenerator(self)

    def __repr__(self) -> str:
        return f"<BNNSRandomGenerator {self.generator_id} on {'destroyed' if self.destroyed else self.backend}>"


@api._c_style(None)
def BNNSCreateRandomGenerator(method: int, filter_params: Optional[BNNSFilterParameters] = None):
    """A generator seeded from the server's OS entropy, or None."""
    backend = backend_mod.current()
    request = pb.CreateRandomGeneratorRequest(method=int(method))
    _filter_parameters(request, filter_params)
    return _tracked(BNNSRandomGenerator(backend, backend.call("CreateRandomGenerator", request).generator_id))


@api._c_style(None)
def BNNSCreateRandomGeneratorWithSeed(method: int, seed: int, filter_params: Optional[BNNSFilterParameters] = None):
    """A generator started from ``seed`` (NumPy PCG64: the same seed, the same numbers), or None."""
    backend = backend_mod.current()
    request = pb.CreateRandomGeneratorWithSeedRequest(method=int(method), seed=int(seed))
    _filter_parameters(request, filter_params)
    return _tracked(BNNSRandomGenerator(backend, backend.call("CreateRandomGeneratorWithSeed",
                                                                      request).generator_id))


def BNNSDestroyRandomGenerator(generator: Optional[BNNSRandomGenerator]) -> None:
    """Free the generator (None, or destroying twice, is harmless, as free(NULL))."""
    if generator is None or generator.destroyed:
        return
    try:
        generator.call("DestroyRandomGenerator")
    except BNNSError as error:
        if error.status != "NOT_FOUND":
            raise
    generator.destroyed = True


def BNNSRandomGeneratorStateSize(generator: Optional[BNNSRandomGenerator]) -> int:
    """Bytes of a generator's state (the same for every generator here)."""
    return random_kernels.STATE_BYTES


@api._c_style(-1)
def BNNSRandomGeneratorGetState(generator: BNNSRandomGenerator, state_size: int, state) -> int:
    """Copy the generator's state into ``state`` (a writable buffer of state_size bytes)."""
    require(int(state_size) >= random_kernels.STATE_BYTES,
            f"state_size {state_size} is smaller than BNNSRandomGeneratorStateSize ({random_kernels.STATE_BYTES})")
    view = np.frombuffer(memoryview(state).cast("B"), dtype=np.uint8)
    require(view.size >= random_kernels.STATE_BYTES and view.flags.writeable, "state must be a writable buffer of "
            f"{random_kernels.STATE_BYTES} bytes (a bytearray or a uint8 array)")
    view[:random_kernels.STATE_BYTES] = np.frombuffer(generator.call("RandomGeneratorGetState").state, np.uint8)
    return 0


@api._c_style(-1)
def BNNSRandomGeneratorSetState(generator: BNNSRandomGenerator, state_size: int, state) -> int:
    """Put back a state BNNSRandomGeneratorGetState gave."""
    generator.call("RandomGeneratorSetState", state=bytes(memoryview(state).cast("B"))[:int(state_size)])
    return 0


def _fill(rpc: str, generator: BNNSRandomGenerator, desc: BNNSNDArrayDescriptor, **scalars) -> int:
    generator = getattr(generator, "generator", generator)       # a BNNS.RandomGenerator works too
    require(isinstance(generator, BNNSRandomGenerator) and not generator.destroyed,
            "generator must be a live BNNSRandomGenerator (BNNSCreateRandomGenerator[WithSeed])")
    _Call(rpc, generator.backend, generator_id=generator.generator_id, **scalars).receive("desc", desc).run()
    return 0


@api._c_style(-1)
def BNNSRandomFillUniformFloat(generator: BNNSRandomGenerator, desc: BNNSNDArrayDescriptor, a: float, b: float) -> int:
    """desc's data filled from U[a, b) (Float32 or Float16)."""
    return _fill("RandomFillUniformFloat", generator, desc, a=float(a), b=float(b))


@api._c_style(-1)
def BNNSRandomFillNormalFloat(generator: BNNSRandomGenerator, desc: BNNSNDArrayDescriptor, mean: float,
                              stddev: float) -> int:
    """desc's data filled from N(mean, stddev^2)."""
    return _fill("RandomFillNormalFloat", generator, desc, mean=float(mean), stddev=float(stddev))


@api._c_style(-1)
def BNNSRandomFillUniformInt(generator: BNNSRandomGenerator, desc: BNNSNDArrayDescriptor, a: int, b: int) -> int:
    """desc's data (an integer type) filled with integers uniform in [a, b]."""
    return _fill("RandomFillUniformInt", generator, desc, a=int(a), b=int(b))


@api._c_style(-1)
def BNNSRandomFillCategoricalFloat(generator: BNNSRandomGenerator, desc: BNNSNDArrayDescriptor,
                                   probabilities: BNNSNDArrayDescriptor, log_probabilities: bool) -> int:
    """desc's data filled with event indices drawn from the categorical distributions on
    probabilities' last axis (its leading axes index the distributions; desc has the same leading
    axes and the draws on its last); log_probabilities: the values are unnormalized logits."""
    generator = getattr(generator, "generator", generator)
    require(isinstance(generator, BNNSRandomGenerator) and not generator.destroyed,
            "generator must be a live BNNSRandomGenerator (BNNSCreateRandomGenerator[WithSeed])")
    call = _Call("RandomFillCategoricalFloat", generator.backend, generator_id=generator.generator_id,
                 log_probabilities=bool(log_probabilities))
    call.send("probabilities", probabilities).receive("desc", desc).run()
    return 0


# ----------------------------------------------------------------- C: descriptor arithmetic

def _bits(data_type: int) -> int:
    """Bits per element of a BNNSDataType: its low byte (Float32 0x10020 -> 32, Int4 0x20004 -> 4)."""
    return int(data_type) & 0xFF


def BNNSDataLayoutGetRank(layout_value: int) -> int:
    """The rank of a BNNSDataLayout (bits 16-19 of its raw value); 0 for a value that is no layout."""
    if int(layout_value) not in types_pb2.DataLayout.values() or not layout_value:
        return 0
    return (int(layout_value) >> 16) & 0xF


def BNNSNDArrayGetDataSize(desc: BNNSNDArrayDescriptor) -> int:
    """Bytes the descriptor's data spans: (1 + sum (size[k] - 1) * stride[k]) elements (default
    strides for 0), at the data type's width, rounded up to whole bytes; 0 for an invalid one."""
    rank = BNNSDataLayoutGetRank(desc.layout)
    sizes = [int(s) for s in tuple(desc.size)[:rank]]
    if not rank or len(sizes) < rank or min(sizes) < 1:
        return 0
    given = list(desc.stride)[:rank] + [0] * (rank - len(tuple(desc.stride)[:rank]))
    if int(desc.layout) in layout.FIRST_MAJOR_LAYOUTS:   # stride[0] pairs with the last size
        sizes = sizes[::-1]
    span, dense = 1, 1
    for extent, stride in zip(sizes, given):
        step = int(stride) or dense
        span += (extent - 1) * step
        dense = step * extent
    return (span * _bits(desc.data_type) + 7) // 8


def BNNSTensorGetAllocationSize(tensor) -> int:
    """Bytes a BNNSTensor's data needs: (1 + sum (shape[k] - 1) * stride[k]) elements of its data
    type (a BNNSTensor of this SDK, or any object with shape, stride and data_type)."""
    shape, stride = tuple(tensor.shape), tuple(tensor.stride)
    require(len(shape) == len(stride), f"tensor has {len(shape)} extents and {len(stride)} strides")
    if not shape or min(shape) < 1:
        return 0
    span = 1 + sum((int(n) - 1) * int(s) for n, s in zip(shape, stride))
    return (span * _bits(tensor.data_type) + 7) // 8


# ------------------------------------------------------------------------------ Swift statics

def apply_activation(activation, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, batch_size: int,
                    filter_parameters: Optional[BNNSFilterParameters] = None, *, axes: Optional[Sequence[int]] = None):
    """BNNS.applyActivation(activation:[axes:]input:output:batchSize:filter_parameters:); ``axes``
    index size[] (Softmax's axes), as BNNS.ActivationLayer's. Raises BNNSError."""
    params = BNNSLayerParametersActivation(i_desc=input, o_desc=output, activation=activation,
                                           axis_flags=axis_flags(axes))
    _swift(BNNSDirectApplyActivationBatch, params, filter_parameters, batch_size, 0, 0)


def quantize(batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
             axis: Optional[int] = None, scale: Optional[BNNSNDArrayDescriptor] = None,
             bias: Optional[BNNSNDArrayDescriptor] = None, filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.quantize(batchSize:input:output:axis:scale:bias:filterParameters:): y = scale * x + bias,
    rounded and saturated to output's integer type; ``axis`` None = one scale and bias for all."""
    _quantizer(C.BNNSQuantizerFunctionQuantize, batch_size, input, output, axis, scale, bias, filter_parameters)


def dequantize(batch_size: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
               axis: Optional[int] = None, scale: Optional[BNNSNDArrayDescriptor] = None,
               bias: Optional[BNNSNDArrayDescriptor] = None, filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.dequantize(batchSize:input:output:axis:scale:bias:filterParameters:): y = (x - bias) / scale."""
    _quantizer(C.BNNSQuantizerFunctionDequantize, batch_size, input, output, axis, scale, bias, filter_parameters)


def _quantizer(function, batch_size, input, output, axis, scale, bias, filter_parameters):
    params = BNNSLayerParametersQuantization(axis_mask=0 if axis is None else 1 << int(axis), function=function,
                                            i_desc=input, o_desc=output, scale=scale, bias=bias)
    _swift(BNNSDirectApplyQuantizer, params, filter_parameters, batch_size, 0, 0)


def clip(to, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor):
    """BNNS.clip(to: bounds, input:output:), bounds a (lower, upper) pair (Swift's ClosedRange)."""
    lower, upper = to
    _swift(BNNSClipByValue, output, input, lower, upper)


def clip_by_norm(threshold: float, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
               axes: Optional[Sequence[int]] = None):
    """BNNS.clipByNorm(threshold:input:output:axes:); axes index the logical (NumPy) axes, as
    BNNSClipByNorm's axis_flags bits (None: all)."""
    _swift(BNNSClipByNorm, output, input, threshold, sum(1 << int(a) for a in axes) if axes else 0)


def clip_by_global_norm(threshold: float, inputs: Sequence[BNNSNDArrayDescriptor],
                     outputs: Sequence[BNNSNDArrayDescriptor], global_norm: float = 0.0):
    """BNNS.clipByGlobalNorm(threshold:inputs:outputs:globalNorm:)."""
    require(len(inputs) == len(outputs), f"{len(inputs)} inputs but {len(outputs)} outputs")
    _swift(BNNSClipByGlobalNorm, list(outputs), list(inputs), len(inputs), threshold, global_norm)


def apply_top_k(k: int, input: BNNSNDArrayDescriptor, best_values: BNNSNDArrayDescriptor,
              best_indices: BNNSNDArrayDescriptor, axis: int, batch_size: int,
              filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.applyTopK(k:input:best_values:best_indices:axis:batchSize:filter_parameters:)."""
    _swift(BNNSDirectApplyTopK, k, axis, batch_size, input, 0, best_values, 0, best_indices, 0, filter_parameters)


def apply_in_top_k(k: int, input: BNNSNDArrayDescriptor, test_indices: BNNSNDArrayDescriptor,
                output: BNNSNDArrayDescriptor, axis: int, batch_size: int,
                filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.applyInTopK(k:input:test_indices:output:axis:batchSize:filter_parameters:)."""
    _swift(BNNSDirectApplyInTopK, k, axis, batch_size, input, 0, test_indices, 0, output, 0, filter_parameters)


def tile(input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
         filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.tile(input:output:filter_parameters:)."""
    _swift(BNNSTile, input, output, filter_parameters)


def tile_backward(output_gradient: BNNSNDArrayDescriptor, generating_input_gradient: BNNSNDArrayDescriptor,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.tileBackward(outputGradient:generating_input_gradient:filter_parameters:)."""
    _swift(BNNSTileBackward, generating_input_gradient, output_gradient, filter_parameters)


def shuffle(shuffle_type: int, input: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
            filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.shuffle(_:input:output:filter_parameters:) (shuffle_type: a BNNS.ShuffleType case)."""
    _swift(BNNSShuffle, shuffle_type, input, output, filter_parameters)


def compare(input_a: BNNSNDArrayDescriptor, input_b: BNNSNDArrayDescriptor, using: int,
            output: BNNSNDArrayDescriptor):
    """BNNS.compare(_:_:using:output:) (using: a BNNS.RelationalOperator)."""
    _swift(BNNSCompareTensor, input_a, input_b, using, output)


def gather(input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, axis: int,
           filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.gather(input:indices:output:axis:filter_parameters:)."""
    _swift(BNNSGather, axis, input, indices, output, filter_parameters)


def scatter(input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor, axis: int,
            reduction_function: Optional[int] = None, filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.scatter(input:indices:output:axis:[reduction_function:]filter_parameters:) (no function: None, a copy)."""
    op = _REDUCE_NONE if reduction_function is None else reduction_function
    _swift(BNNSScatter, axis, op, input, indices, output, filter_parameters)


def gather_nd(input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
             filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.gatherND(input:indices:output:filter_parameters:)."""
    _swift(BNNSGatherND, input, indices, output, filter_parameters)


def scatter_nd(input: BNNSNDArrayDescriptor, indices: BNNSNDArrayDescriptor, output: BNNSNDArrayDescriptor,
              reduction_function: Optional[int] = None, filter_parameters: Optional[BNNSFilterParameters] = None):
    """BNNS.scatterND(input:indices:output:[reduction_function:]filter_parameters:)."""
    op = _REDUCE_NONE if reduction_function is None else reduction_function
    _swift(BNNSScatterND, op, input, indices, output, filter_parameters)


def fill_uniform(generator, array: np.ndarray, data_type: int, bounds) -> None:
    """``array`` (all its elements, as one Vector) from the generator: uniform floats in
    [low, high), or integers in [low, high] for an integer data type. Raises BNNSError."""
    require(bounds is not None and len(bounds) == 2, f"range must be a (low, high) pair, not {bounds!r}")
    whole = BNNSNDArrayDescriptor(layout=C.BNNSDataLayoutVector, size=(array.size,), data=array, data_type=data_type)
    fill = BNNSRandomFillUniformInt if np.dtype(array.dtype).kind in "iu" else BNNSRandomFillUniformFloat
    _swift(fill, generator, whole, bounds[0], bounds[1])


def _swift(c_function, *args) -> None:
    """Swift's throwing form of a C-style call: its BNNSError raised instead of -1."""
    if c_function(*args) != 0:
        raise api.failure()


class RandomGenerator:
    """BNNS.RandomGenerator(method:seed:filter_parameters:): seed None = OS entropy. ``state``
    reads and sets the generator's state (BNNS.RandomGeneratorState: opaque bytes here). The
    BNNSRandomFill* functions take it as their generator. Close it with ``close()`` or a ``with``."""

    def __init__(self, method: int = C.BNNSRandomGeneratorMethodAES_CTR, seed: Optional[int] = None,
                 filter_parameters: Optional[BNNSFilterParameters] = None):
        handle = (BNNSCreateRandomGenerator(method, filter_parameters) if seed is None
                  else BNNSCreateRandomGeneratorWithSeed(method, seed, filter_parameters))
        if handle is None:
            raise api.failure()
        self.generator = handle

    @property
    def state(self) -> bytes:
        return self.generator.call("RandomGeneratorGetState").state

    @state.setter
    def state(self, value: bytes) -> None:
        self.generator.call("RandomGeneratorSetState", state=bytes(value))

    def close(self) -> None:
        BNNSDestroyRandomGenerator(self.generator)

    def __enter__(self) -> "RandomGenerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

