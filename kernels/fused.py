"""BNNS fused layers: two filters run as one (bnns.md 2, 3.6, 4, 6.10), and the quantization
member that may end one (``BNNSLayerParametersQuantization``, bnns.md 2.1).

``BNNSFilterCreateFusedLayer`` + ``BNNSFusedFilterApplyBatch`` / ``...ApplyMultiInputBatch`` /
``...ApplyBackwardBatch`` / ``...ApplyBackwardMultiInputBatch``. A fused filter is the composition
of its two members and nothing more; every number comes from the member filters
(kernels/convolution.py, normalization.py, arithmetic.py). This module adds the validation of the
pair, the chain rule between the members, and BNNS's order of the parameter gradients.

    mid = first(x)                 Convolution, FullyConnected or TransposedConvolution on one
                                   input x, or Arithmetic on 1-3 operands
    y   = second(mid)              BatchNorm, InstanceNorm, LayerNorm, GroupNorm, or Quantization

Backward (Norm pairs only), with out_delta = dL/dy for the *final* output (bnns.md 6.10):

    d_mid, d_beta, d_gamma = norm backward(y, d_out)     activation derivative from y, then the
                                                         x_hat and 1/std of the last training
                                                         forward (the norm member's cache)
    d_in, d_w, d_b         = first backward(x, d_mid)    first's activation is Identity, so its
                                                         output is not needed; x only for d_w

Allowed pairs (bnns.md 3.6): Convolution, FullyConnected, TransposedConvolution -> a
normalization or Quantization; Arithmetic -> a normalization. The first member's o_desc must equal
the second's i_desc (layout, size, strides, data type).

delta_parameters order (bnns.md 4, [S]): each member's stand-alone backward parameters in turn:
``[weights, bias, beta, gamma]`` for compute -> Norm (beta before gamma), ``[beta, gamma]`` for
Arithmetic -> Norm (the arithmetic operands' gradients, Parameter ones included, are the
per-operand input gradients, as in ``BNNSArithmeticFilterApplyBackwardBatch``), ``[]`` for
-> Quantization.

Quantization (bnns.md 2.1; Apple's BNNSDirectApplyQuantizer and BNNSQuantizerFunctionQuantize
pages, whose example is a test here):

    Quantize    y = scale * x + bias
    Dequantize  y = (x - bias) / scale

then, when o_desc holds integers, rounded half to even and saturated to the o_desc type's range.
scale and bias are one value each (axis_mask 0) or one per index along one dimension of the item:
bit k of axis_mask selects dimension k of ``i_desc.size`` (Apple's example: a RowMajorMatrix of
size (4, 2), axis_mask 1, four scales, one per column). A missing scale is 1, a missing bias 0.

Notes
-----
Conventions chosen where BNNS is silent or where this service narrows BNNS:

* Exactly two members. BNNS's API takes n, but every allowed combination is a pair.
* The training rule "every member but the last uses the Identity activation" is enforced at
  creation for the pairs that end in a normalization (the ones that can be trained), so a filter
  that exists can always be trained. Pairs that end in Quantization are inference only and may
  keep the first member's activation.
* Quantization is forward only: the backward of a pair ending in it is an InvalidArgumentError.
  The training flag of such a pair is ignored (BNNS: "training flag ignored without a norm").
* Quantization data types: Quantize reads Float32, Float16 or Int32 and writes Int8, UInt8,
  Int16, UInt16, Int32, UInt32 (Apple's table) or, as an extension, Float32/Float16 (scale and
  shift only, no rounding). Dequantize reads those integer types or, as an extension that lets it
  follow a float-producing layer in a fused filter, Float32/Float16; it writes Int32, Float16 or
  Float32. Integer results are rounded half to even (``np.rint``), NaN becomes 0, and values are
  saturated to the type's range; they come back as floats holding the integers (float64 for the
  32-bit integer types, whose values float32 cannot all hold; otherwise the input's float dtype).
  The transport packs them into the o_desc type.
* axis_mask sets at most one bit, and only within the item's rank: quantizing along the batch axis
  (which BNNS supports by baking the batch size into the filter) is not supported. With an axis,
  scale and bias have exactly as many values as that dimension; without one, exactly one value.
  Their descriptors may have any layout (values in logical C order), and must hold finite values;
  a Dequantize scale must also be non-zero.
* ``parameters()`` merges the members' live arrays: "weights" and "bias" (compute member),
  "beta", "gamma", "moving_mean", "moving_variance" (norm member), "in0".. (the arithmetic
  member's Constant and Parameter operands). The quantization scale and bias are not trainable
  and are not in it (``bytes_held`` counts them).
* Member errors are re-raised with the member named ("layers[0] (Convolution): ...").
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .activation import IDENTITY, kind_of
from .arithmetic import ArithmeticFilter, ArithmeticParameters
from .convolution import (ConvolutionFilter, ConvolutionParameters, FullyConnectedFilter,
                          FullyConnectedParameters, TransposedConvolutionFilter)
from .errors import BNNSError, InvalidArgumentError, require
from .layout import (DTYPE_FLOAT16, DTYPE_FLOAT32, DTYPE_INT8, DTYPE_INT16, DTYPE_INT32, DTYPE_UINT8, DTYPE_UINT16,
                     DTYPE_UINT32, FIRST_MAJOR_LAYOUTS, Descriptor)
from .normalization import NormalizationFilter, NormalizationParameters
from .params import QuantizationParameters

# BNNSFilterType raw values (bnns.md 3.4)
CONVOLUTION, FULLY_CONNECTED, BATCH_NORM, INSTANCE_NORM, LAYER_NORM, GROUP_NORM, \
    TRANSPOSED_CONVOLUTION, QUANTIZATION, ARITHMETIC = 0, 1, 2, 3, 4, 5, 6, 7, 8
TYPE_NAMES = {CONVOLUTION: "Convolution", FULLY_CONNECTED: "FullyConnected",
              BATCH_NORM: "BatchNorm", INSTANCE_NORM: "InstanceNorm", LAYER_NORM: "LayerNorm",
              GROUP_NORM: "GroupNorm", TRANSPOSED_CONVOLUTION: "TransposedConvolution",
              QUANTIZATION: "Quantization", ARITHMETIC: "Arithmetic"}

COMPUTE_TYPES = (CONVOLUTION, FULLY_CONNECTED, TRANSPOSED_CONVOLUTION)
NORM_TYPES = (BATCH_NORM, INSTANCE_NORM, LAYER_NORM, GROUP_NORM)
ALLOWED_PAIRS = frozenset(
    [(first, second) for first in COMPUTE_TYPES for second in NORM_TYPES + (QUANTIZATION,)]
    + [(ARITHMETIC, second) for second in NORM_TYPES])

# BNNSQuantizerFunction raw values
QUANTIZE, DEQUANTIZE = 0, 1
FUNCTION_NAMES = {QUANTIZE: "Quantize", DEQUANTIZE: "Dequantize"}

# BNNSDataType raw values of the integer types quantization reads and writes (bnns.md 1.3)
INTEGER_RANGES = {
    DTYPE_INT8: (-2**7, 2**7 - 1), DTYPE_UINT8: (0, 2**8 - 1),
    DTYPE_INT16: (-2**15, 2**15 - 1), DTYPE_UINT16: (0, 2**16 - 1),
    DTYPE_INT32: (-2**31, 2**31 - 1), DTYPE_UINT32: (0, 2**32 - 1),
}
_TYPE_NAMES = {DTYPE_FLOAT32: "Float32", DTYPE_FLOAT16: "Float16", DTYPE_INT8: "Int8",
               DTYPE_UINT8: "UInt8", DTYPE_INT16: "Int16", DTYPE_UINT16: "UInt16",
               DTYPE_INT32: "Int32", DTYPE_UINT32: "UInt32"}
_FLOATS = (DTYPE_FLOAT32, DTYPE_FLOAT16)
_INTEGERS = tuple(INTEGER_RANGES)
# (allowed i_desc types, allowed o_desc types) per function; see the Notes.
_QUANTIZATION_TYPES = {
    QUANTIZE: (_FLOATS + (DTYPE_INT32,), _INTEGERS + _FLOATS),
    DEQUANTIZE: (_INTEGERS + _FLOATS, (DTYPE_INT32,) + _FLOATS),
}


# ---------------------------------------------------------------------------------- quantization
def quantization_forward(x: np.ndarray, function: int, scale: Optional[np.ndarray] = None,
                         bias: Optional[np.ndarray] = None, *, axis: Optional[int] = None,
                         integer_range: Optional[tuple] = None) -> np.ndarray:
    """Quantize (y = scale * x + bias) or dequantize (y = (x - bias) / scale) a batch.

    Parameters
    ----------
    x : ndarray of shape (N, *item_shape), floats; computed in x's dtype.
    function : QUANTIZE or DEQUANTIZE.
    scale, bias : ndarray of shape (K,) — one value per index along batch-array axis ``axis``
        (K = x.shape[axis]) — or of shape (1,) when axis is None; None means 1 and 0.
    axis : the axis of x (batch included) scale and bias run along, or None (whole tensor).
    integer_range : (lo, hi) of the output integer type: round half to even, NaN -> 0, then
        saturate to [lo, hi]. None for a float output.

    Returns
    -------
    y : ndarray like x (a new array).
    """
    shape = [1] * x.ndim
    if axis is not None:
        shape[axis] = -1
    s = None if scale is None else np.asarray(scale, x.dtype).reshape(shape)
    b = None if bias is None else np.asarray(bias, x.dtype).reshape(shape)
    if function == QUANTIZE:
        y = x * s if s is not None else x.copy()
        if b is not None:
            y += b
    else:
        y = x - b if b is not None else x.copy()
        if s is not None:
            y /= s
    if integer_range is not None:
        np.rint(y, out=y)
        y[np.isnan(y)] = 0
        np.clip(y, integer_range[0], integer_range[1], out=y)
    return y


class QuantizationFilter:
    """A quantization layer (forward only): its scale and bias as float32 copies."""

    def __init__(self, params: QuantizationParameters):
        self.params = params
        function = params.function
        require(function in FUNCTION_NAMES,
                lambda: f"function {function} is not a BNNSQuantizerFunction (Quantize 0, Dequantize 1)")
        name = FUNCTION_NAMES[function]
        for what, desc in (("i_desc", params.i_desc), ("o_desc", params.o_desc)):
            desc.validate(what)
        allowed_in, allowed_out = _QUANTIZATION_TYPES[function]
        for what, desc, allowed in (("i_desc", params.i_desc, allowed_in),
                                    ("o_desc", params.o_desc, allowed_out)):
            require(desc.data_type in allowed,
                    lambda: f"{what}.data_type {desc.data_type:#x} is not supported by {name}; "
                    f"supported: {_type_list(allowed)}")
        shape = params.i_desc.shape
        require(params.o_desc.shape == shape,
                lambda: f"o_desc shape {params.o_desc.shape} ({params.o_desc.describe()}) differs from "
                f"i_desc shape {shape} ({params.i_desc.describe()}); {name} keeps the shape")
        self.axis, count = _quantization_axis(params.axis_mask, params.i_desc)
        self.scale = _load_values("scale", params.scale, count, params.axis_mask)
        self.bias = _load_values("bias", params.bias, count, params.axis_mask)
        if function == DEQUANTIZE and self.scale is not None:
            require(bool(np.all(self.scale != 0)),
                    lambda: f"scale has a zero value ({self.scale.tolist()}); Dequantize divides by it")
        self.integer_range = INTEGER_RANGES.get(params.o_desc.data_type)

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    def constants(self) -> dict[str, np.ndarray]:
        """The present ones of "scale" and "bias" (not trainable)."""
        return {k: v for k, v in (("scale", self.scale), ("bias", self.bias)) if v is not None}

    def apply(self, x: np.ndarray) -> np.ndarray:
        """y of shape (N, *o_desc.shape) for x of shape (N, *i_desc.shape); see the Notes for the
        dtype of integer results."""
        x = np.asarray(x)
        shape = self.params.i_desc.shape
        require(x.ndim == len(shape) + 1 and x.shape[1:] == shape and x.shape[0] >= 1,
                lambda: f"x has shape {x.shape}; expected (N, *{shape}) with N >= 1 for "
                f"{self.params.i_desc.describe()}")
        wide = (x.dtype == np.float64 or x.dtype.kind in "iu"
                or self.params.o_desc.data_type in (DTYPE_INT32, DTYPE_UINT32))
        x = x.astype(np.float64 if wide else np.float32, copy=False)
        return quantization_forward(x, self.params.function, self.scale, self.bias,
                                    axis=self.axis, integer_range=self.integer_range)

    def apply_backward(self, *args, **kwargs):
        raise InvalidArgumentError(
            "quantization is forward only (BNNS: quantization is inference-only); it has no "
            "backward")


# ---------------------------------------------------------------------------------- fused filter
_PARAMS_TYPES = {CONVOLUTION: ConvolutionParameters, TRANSPOSED_CONVOLUTION: ConvolutionParameters,
                 FULLY_CONNECTED: FullyConnectedParameters, ARITHMETIC: ArithmeticParameters,
                 QUANTIZATION: QuantizationParameters,
                 **{t: NormalizationParameters for t in NORM_TYPES}}
_FILTERS = {CONVOLUTION: ConvolutionFilter, TRANSPOSED_CONVOLUTION: TransposedConvolutionFilter,
            FULLY_CONNECTED: FullyConnectedFilter, ARITHMETIC: ArithmeticFilter,
            QUANTIZATION: QuantizationFilter, **{t: NormalizationFilter for t in NORM_TYPES}}


class FusedFilter:
    """A fused layer: its two member filters, which hold all its state (parameters and the norm
    member's training cache)."""

    def __init__(self, layers: tuple):
        """``layers``: BNNSFilterCreateFusedLayer's filter types and parameter structs, as
        (filter_type, params) pairs, params being ConvolutionParameters (Convolution 0,
        TransposedConvolution 6), FullyConnectedParameters (1), NormalizationParameters (2-5, with
        ``.type`` equal to filter_type), QuantizationParameters (7) or ArithmeticParameters (8)."""
        self.layers = layers
        require(isinstance(layers, (tuple, list)),
                lambda: f"layers must be a sequence of (filter_type, params) pairs, got "
                f"{type(layers).__name__}")
        require(len(layers) == 2,
                lambda: f"layers has {len(layers)} members; a fused layer is exactly two filters (allowed "
                f"pairs: {_allowed_pairs_text()})")
        types = []
        for k, layer in enumerate(layers):
            require(isinstance(layer, (tuple, list)) and len(layer) == 2,
                    lambda: f"layers[{k}] must be a (filter_type, params) pair, got "
                    f"{type(layer).__name__}")
            filter_type, member_params = layer
            require(filter_type in TYPE_NAMES,
                    lambda: f"layers[{k}] filter_type {filter_type!r} is not a BNNSFilterType (0-8)")
            expected = _PARAMS_TYPES[filter_type]
            require(isinstance(member_params, expected),
                    lambda: f"layers[{k}] is {TYPE_NAMES[filter_type]} ({filter_type}) but its params are "
                    f"a {type(member_params).__name__}; expected {expected.__name__}")
            if filter_type in NORM_TYPES:
                require(member_params.type == filter_type,
                        lambda: f"layers[{k}] filter_type {filter_type} ({TYPE_NAMES[filter_type]}) "
                        f"differs from its NormalizationParameters.type {member_params.type}")
            types.append(filter_type)
        self.filter_types = tuple(types)
        first_type, second_type = self.filter_types
        require(self.filter_types in ALLOWED_PAIRS,
                lambda: f"layers {TYPE_NAMES[first_type]} ({first_type}) -> {TYPE_NAMES[second_type]} "
                f"({second_type}) is not a pair BNNS can fuse; allowed: {_allowed_pairs_text()}")

        self.members = tuple(_build_member(k, t, p) for k, (t, p) in enumerate(layers))
        first, second = self.members
        out, into = first.output_desc, second.input_desc
        require(_same_tensor(out, into),
                lambda: f"layers[0].o_desc ({_describe(out)}) must equal layers[1].i_desc "
                f"({_describe(into)}): the first member's output is the second's input (same "
                f"layout, size, strides and data type)")
        if second_type in NORM_TYPES:
            act = layers[0][1].activation
            require(act.function == IDENTITY,
                    lambda: f"layers[0] ({TYPE_NAMES[first_type]}) has activation {kind_of(act.function).name} "
                    f"({act.function}); a fused layer ending in {TYPE_NAMES[second_type]} can be "
                    f"trained, and in training BNNS requires every member but the last to use "
                    f"Identity: put the activation on layers[1] instead")

    # ------------------------------------------------------------------ introspection
    @property
    def is_multi_input(self) -> bool:
        """True for Arithmetic -> Norm (BNNSFusedFilterApply[Backward]MultiInputBatch)."""
        return self.filter_types[0] == ARITHMETIC

    @property
    def arity(self) -> int:
        return self.members[0].arity if self.is_multi_input else 1

    @property
    def input_descs(self) -> list:
        """One descriptor per input: the compute member's i_desc, or every arithmetic operand's
        (Constant and Parameter operands included; their inputs are None)."""
        first = self.members[0]
        return list(first.input_descs) if self.is_multi_input else [first.input_desc]

    @property
    def input_desc(self) -> Descriptor:
        return self.input_descs[0]

    @property
    def output_desc(self) -> Descriptor:
        return self.members[1].output_desc

    @property
    def trainable(self) -> bool:
        return self.filter_types[1] in NORM_TYPES

    @property
    def has_training_cache(self) -> bool:
        return self.trainable and self.members[1].has_training_cache

    def parameters(self) -> dict[str, np.ndarray]:
        """The members' live arrays, merged (see the Notes for the names)."""
        merged = dict(self.members[0].parameters())
        if self.trainable:
            merged.update(self.members[1].parameters())
        return merged

    @property
    def bytes_held(self) -> int:
        held = sum(a.nbytes for a in self.parameters().values())
        if not self.trainable:
            held += sum(a.nbytes for a in self.members[1].constants().values())
        return held

    def delta_parameter_names(self) -> list[str]:
        """BNNS's delta_parameters order for this pair."""
        if not self.trainable:
            return []
        return ["beta", "gamma"] if self.is_multi_input else ["weights", "bias", "beta", "gamma"]

    # ------------------------------------------------------------------ apply
    def apply(self, inputs: Sequence[Optional[np.ndarray]], *, training: bool) -> np.ndarray:
        """BNNSFusedFilterApplyBatch / BNNSFusedFilterApplyMultiInputBatch.

        inputs : [x] with x of shape (N, *input_desc.shape) for a compute member; for an
            Arithmetic member one entry per operand, (N, *shape) for a Sample operand and None for
            a Constant or Parameter one.
        training : for a normalization member: normalise with the batch statistics, update the
            moving statistics and keep the backward cache. Ignored for Quantization.
        Returns y of shape (N, *output_desc.shape).
        """
        inputs = self._check_inputs(inputs)
        (first_type, second_type), (first, second) = self.filter_types, self.members
        mid = _member_call(0, first_type, first.apply, inputs if self.is_multi_input else inputs[0])
        if self.trainable:
            return _member_call(1, second_type, second.apply, mid, training=bool(training))
        return _member_call(1, second_type, second.apply, mid)

    def apply_backward(self, inputs: Sequence[Optional[np.ndarray]], y: Optional[np.ndarray],
                       d_out: np.ndarray, *, input_grads: Sequence[bool],
                       delta_parameters: Sequence[bool]) -> tuple[list, list]:
        """BNNSFusedFilterApplyBackwardBatch / ...BackwardMultiInputBatch, from the last training
        forward of this filter.

        inputs : as for :meth:`apply`. A compute member's x is read only for the weights
            gradient (else it may be None); Arithmetic operands as its own backward needs them.
        y : (N, *output_desc.shape), the forward output; read for a non-Identity activation on
            the normalization.
        d_out : (N, *output_desc.shape), dL/dy for the final output.
        input_grads : one flag per input.
        delta_parameters : one flag per entry of :meth:`delta_parameter_names`.

        Returns
        -------
        (d_inputs, d_params): d_inputs one entry per input ((N, *shape) for a Sample or the
        compute input, the operand's shape summed over the batch for a Parameter);
        d_params in delta_parameter_names order (weights in the layout they were given in;
        all summed over the batch). None for what was not asked.
        """
        if not self.trainable:
            raise InvalidArgumentError(
                f"this fused layer ends in {TYPE_NAMES[self.filter_types[1]]}: quantization is "
                f"forward only (BNNS: inference-only), so it has no backward")
        names = self.delta_parameter_names()
        input_grads = _flags(input_grads, self.arity, "input_grads")
        wanted = dict(zip(names, _flags(delta_parameters, len(names), "delta_parameters")))
        inputs = self._check_inputs(inputs, allow_missing=True)
        first, norm = self.members
        if not self.is_multi_input:
            require(not wanted["bias"] or "bias" in first.parameters(),
                    lambda: f"delta_parameters[1] (bias) was asked but layers[0] "
                    f"({TYPE_NAMES[self.filter_types[0]]}) has no bias")
            d_out_batch = np.shape(d_out)[0] if np.ndim(d_out) else None
            x = inputs[0]
            require(x is None or d_out_batch is None or x.shape[0] == d_out_batch,
                    lambda: f"inputs[0] has batch size {None if x is None else x.shape[0]} but d_out has "
                    f"{d_out_batch}")
            need_mid = input_grads[0] or wanted["weights"] or wanted["bias"]
        else:
            need_mid = any(input_grads)

        d_mid, d_beta, d_gamma = _member_call(
            1, self.filter_types[1], norm.apply_backward, y, d_out, input_grad=need_mid,
            beta_grad=wanted["beta"], gamma_grad=wanted["gamma"])
        grads = {"beta": d_beta, "gamma": d_gamma}
        if self.is_multi_input:
            d_inputs = (_member_call(0, self.filter_types[0], first.apply_backward, inputs, None,
                                     d_mid, wanted=input_grads)
                        if need_mid else [None] * self.arity)
        else:
            d_in = d_w = d_b = None
            if need_mid:
                # Identity activation (enforced at creation): the member's output is not needed.
                d_in, d_w, d_b = _member_call(
                    0, self.filter_types[0], first.apply_backward, inputs[0], None, d_mid,
                    input_grad=input_grads[0], weights_grad=wanted["weights"],
                    bias_grad=wanted["bias"])
            d_inputs = [d_in]
            grads.update(weights=d_w, bias=d_b)
        return list(d_inputs), [grads[name] for name in names]

    # ------------------------------------------------------------------ helpers
    def _check_inputs(self, inputs, allow_missing: bool = False) -> list:
        require(isinstance(inputs, (list, tuple)),
                lambda: f"inputs must be a list of {self.arity} array(s), got {type(inputs).__name__}")
        require(len(inputs) == self.arity,
                lambda: f"inputs has {len(inputs)} entries but this fused layer "
                f"({' -> '.join(TYPE_NAMES[t] for t in self.filter_types)}) takes {self.arity}")
        if self.is_multi_input:
            return list(inputs)           # the arithmetic member checks its operands
        x = inputs[0]
        if x is None:
            require(allow_missing, "inputs[0] is None; the forward needs x")
            return [None]
        x = np.asarray(x)
        shape = self.input_desc.shape
        require(x.ndim == len(shape) + 1 and x.shape[1:] == shape and x.shape[0] >= 1,
                lambda: f"inputs[0] has shape {x.shape}; expected (N, *{shape}) with N >= 1 for "
                f"{self.input_desc.describe()}")
        return [x if x.dtype == np.float64 else x.astype(np.float32, copy=False)]


# ---------------------------------------------------------------------------------- private
def _build_member(k: int, filter_type: int, params):
    return _member_call(k, filter_type, _FILTERS[filter_type], params)


def _member_call(k: int, filter_type: int, fn, *args, **kwargs):
    """fn(*args, **kwargs), with a member's error re-raised naming the member."""
    try:
        return fn(*args, **kwargs)
    except BNNSError as e:
        raise type(e)(f"layers[{k}] ({TYPE_NAMES[filter_type]}): {e.message}") from None


def _flags(flags, count: int, name: str) -> list:
    require(isinstance(flags, (list, tuple)) and len(flags) == count,
            lambda: f"{name} must be a list of {count} flags, got {flags!r}")
    return [bool(f) for f in flags]


def _same_tensor(a: Descriptor, b: Descriptor) -> bool:
    return (a.layout == b.layout and a.shape == b.shape
            and a.memory_strides() == b.memory_strides() and a.data_type == b.data_type)


def _describe(desc: Descriptor) -> str:
    return (f"layout {desc.layout:#x}, size {tuple(desc.size[:desc.rank])}, strides "
            f"{desc.memory_strides()}, data_type {desc.data_type:#x}")


def _allowed_pairs_text() -> str:
    return ("Convolution, FullyConnected or TransposedConvolution -> BatchNorm, InstanceNorm, "
            "LayerNorm, GroupNorm or Quantization; Arithmetic -> BatchNorm, InstanceNorm, "
            "LayerNorm or GroupNorm")


def _type_list(types) -> str:
    return ", ".join(f"{_TYPE_NAMES[t]} ({t:#x})" for t in types)


def _quantization_axis(axis_mask, desc: Descriptor):
    """(batch-array axis or None, number of scale/bias values) for an axis_mask."""
    require(isinstance(axis_mask, (int, np.integer)) and axis_mask >= 0,
            lambda: f"axis_mask {axis_mask!r} must be a non-negative integer bit mask")
    mask = int(axis_mask)
    if mask == 0:
        return None, 1
    rank = desc.rank
    bits = [k for k in range(mask.bit_length()) if mask >> k & 1]
    require(len(bits) == 1,
            lambda: f"axis_mask {mask:#x} sets {len(bits)} bits; scale and bias run along one dimension "
            f"(one bit) or the whole tensor (0)")
    k = bits[0]
    require(k < rank,
            lambda: f"axis_mask {mask:#x} selects dimension {k}, but i_desc ({desc.describe()}) has rank "
            f"{rank}: only its dimensions 0..{rank - 1} are supported (not the batch axis)")
    axis = 1 + k if desc.layout in FIRST_MAJOR_LAYOUTS else rank - k
    return axis, int(desc.size[k])


def _load_values(name: str, desc: Optional[Descriptor], count: int, axis_mask) -> Optional[np.ndarray]:
    if desc is None or desc.data is None:
        return None
    values = desc.tensor(name).reshape(-1)
    where = (f"one per index of the selected dimension (axis_mask {int(axis_mask):#x})"
             if count != 1 or axis_mask else "one for the whole tensor (axis_mask 0)")
    require(values.size == count,
            lambda: f"{name} has {values.size} values ({desc.describe()}); expected {count}, {where}")
    require(bool(np.all(np.isfinite(values))), lambda: f"{name} contains NaN or infinite values")
    return np.array(values, dtype=np.float32)

