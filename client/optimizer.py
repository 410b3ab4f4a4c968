"""BNNSOptimizerStep and the Swift optimizer objects (BNNS.AdamOptimizer and friends).

Parameters bound to a filter created with BNNSFlagsUseClientPtr are stepped where they live, on
the server: only their gradients travel, the accumulators stay beside them, and the new values
come back into the caller's arrays (and accumulator arrays) so both sides hold the same numbers.
Any other parameter travels with its gradient and accumulators, exactly as BNNS reads them.
"""

from __future__ import annotations

from typing import ClassVar, Optional, Sequence

import numpy as np

from bnns.kernels import optimizer as optimizer_kernels
from bnns.kernels.errors import require
from bnns.v1 import service_pb2 as pb

from . import api, backend as backend_mod, bindings
from . import constants as C
from .tensor import BNNSTensor
# The optimizers' field structs (Apple's subsets of the wire's OptimizerFields) are generated from the contract.
from .c_structs import (BNNSFilterParameters, BNNSNDArrayDescriptor, BNNSOptimizerAdamFields,  # noqa: F401
                        BNNSOptimizerAdamWithClippingFields, BNNSOptimizerRMSPropFields,
                        BNNSOptimizerRMSPropWithClippingFields, BNNSOptimizerSGDMomentumFields,
                        BNNSOptimizerSGDMomentumWithClippingFields)


def optimizer_step(function: int, fields, parameters: Sequence[BNNSNDArrayDescriptor],
                   gradients: Sequence[BNNSNDArrayDescriptor],
                   accumulators: Optional[Sequence[BNNSNDArrayDescriptor]]) -> None:
    require(len(parameters) == len(gradients) and len(parameters) >= 1,
            f"{len(parameters)} parameters and {len(gradients)} gradients: give one gradient per parameter")
    accumulators = list(accumulators or [])
    bound = [bindings.lookup(p.data) for p in parameters]
    # The connection the parameters live on: their filters' (bound arrays) or their own (server tensors).
    backends = {id(b[0].backend): b[0].backend for b in bound if b is not None}
    backends.update((id(p.data.backend), p.data.backend) for p in parameters if isinstance(p.data, BNNSTensor))
    require(len(backends) <= 1, "the parameters live on different connections (filters or tensors of each)")
    backend = next(iter(backends.values())) if backends else backend_mod.current()
    request = pb.OptimizerStepRequest(function=int(function), fields=fields.to_proto(), return_parameters=True)
    io = api.Exchange()
    for k, (param, binding) in enumerate(zip(parameters, bound)):
        entry = request.parameters.add()
        if binding is not None:   # the server steps the filter's copy; the caller's array follows
            entry.filter_parameter.filter_id, entry.filter_parameter.name = binding[0].filter_id, binding[1]
        else:
            require(param.data is not None, lambda: f"parameters[{k}].data is not set")
            entry.values.CopyFrom(io.send_flat(f"parameters[{k}].values", param.data, C.BNNSDataTypeFloat32))
        _write_back(io, f"parameters[{k}]", param.data)
    for k, grad in enumerate(gradients):
        require(grad.data is not None, lambda: f"gradients[{k}].data is not set")
        request.gradients.append(io.send_flat(f"gradients[{k}]", grad.data, C.BNNSDataTypeFloat32))
    # The server keeps the accumulators when every parameter lives there (a filter's or a tensor).
    server_held = all(b is not None or isinstance(p.data, BNNSTensor) for b, p in zip(bound, parameters))
    if server_held:
        request.return_accumulators = bool(accumulators)
    else:
        for k, acc in enumerate(accumulators):
            require(acc.data is not None, lambda: f"accumulators[{k}].data is not set")
            request.accumulators.append(io.send_flat(f"accumulators[{k}]", acc.data, C.BNNSDataTypeFloat32))
    on_server = [isinstance(a.data, BNNSTensor) for a in accumulators]
    require(server_held or len(set(on_server)) <= 1, "the accumulators must all be server tensors or all arrays")
    if server_held or not any(on_server):
        for k, acc in enumerate(accumulators):
            _write_back(io, f"accumulators[{k}]", acc.data)
    backend.call("OptimizerStep", request, exchange=io)


def _write_back(io: api.Exchange, path: str, array) -> None:
    """BNNS updates parameters and accumulators in place: the new values go back into ``array``
    (a server tensor is updated where it lives, and nothing comes back)."""
    if isinstance(array, BNNSTensor):
        return
    require(isinstance(array, np.ndarray) and array.flags.c_contiguous and array.flags.writeable,
            f"{path}.data must be a writable C-contiguous array (BNNS updates it in place)")
    io.receive_flat(path, array.reshape(-1))


@api._c_style(-1)
def BNNSOptimizerStep(function: int, OptimizerAlgFields, number_of_parameters: int,
                      parameters: Sequence[BNNSNDArrayDescriptor], gradients: Sequence[BNNSNDArrayDescriptor],
                      accumulators: Optional[Sequence[BNNSNDArrayDescriptor]],
                      filter_params: Optional[BNNSFilterParameters] = None) -> int:
    """One optimizer step over ``number_of_parameters`` arrays, updated in place; 0 or -1.

    ``accumulators`` in BNNS's blocked order (all first moments, then all second moments, ...),
    zero-filled by the caller before the first step.
    """
    require(number_of_parameters == len(parameters),
            f"number_of_parameters {number_of_parameters} but {len(parameters)} parameters given")
    optimizer_step(function, OptimizerAlgFields, parameters, gradients, accumulators)
    return 0


# ------------------------------------------------------------------------------ Swift objects

class GradientClipping:
    """BNNS.GradientClipping: .none, .by_value(bounds=(min, max)), .by_norm(max_norm=),
    .by_global_norm(max_norm=, use_norm=0) — the clipping_func and its fields of the
    BNNSOptimizer*WithClippingFields structs."""

    none: ClassVar[GradientClipping]     # set below the class

    def __init__(self, function: int, **fields):
        self.function, self.fields = function, fields

    @classmethod
    def by_value(cls, bounds) -> "GradientClipping":
        low, high = bounds
        return cls(C.BNNSOptimizerClippingByValue, clip_gradients_min=float(low), clip_gradients_max=float(high))

    @classmethod
    def by_norm(cls, max_norm: float) -> "GradientClipping":
        return cls(C.BNNSOptimizerClippingByNorm, clip_gradients_max_norm=float(max_norm))

    @classmethod
    def by_global_norm(cls, max_norm: float, use_norm: float = 0.0) -> "GradientClipping":
        return cls(C.BNNSOptimizerClippingByGlobalNorm, clip_gradients_max_norm=float(max_norm),
                   clip_gradients_use_norm=float(use_norm))


GradientClipping.none = GradientClipping(C.BNNSOptimizerClippingNone)

# The *WithClipping function is the plain one + 6 (BNNSOptimizerFunction raw values).
_WITH_CLIPPING_OFFSET = C.BNNSOptimizerFunctionSGDMomentumWithClipping - C.BNNSOptimizerFunctionSGDMomentum


class _Optimizer:
    """BNNS.*Optimizer: a fields struct with a `step(parameters:gradients:accumulators:)` method.
    Swift's labels ``gradient_clipping`` (a BNNS.GradientClipping other than .none selects the
    *WithClipping function and fields) and ``regularization_function`` are accepted with the
    struct's own field names."""

    function: int
    fields_class: type

    def __init__(self, gradient_clipping: Optional[GradientClipping] = None, regularization_function=None,
                 **fields):
        if regularization_function is not None:
            fields["regularization_func"] = int(regularization_function)
        fields_class = self.fields_class
        if gradient_clipping is not None and gradient_clipping.function != C.BNNSOptimizerClippingNone:
            fields_class = _WITH_CLIPPING[fields_class]
            fields.pop("clip_gradients", None)
            fields.update(clipping_func=gradient_clipping.function, **gradient_clipping.fields)
            object.__setattr__(self, "function", self.function + _WITH_CLIPPING_OFFSET)
        self.fields = fields_class(**fields)

    def __getattr__(self, name):
        fields = self.__dict__.get("fields")
        if fields is not None and hasattr(fields, name):
            return getattr(fields, name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name != "fields" and hasattr(self.__dict__.get("fields"), name):
            setattr(self.fields, name, value)     # e.g. adam.time_step += 1, as in the Swift sample
        else:
            object.__setattr__(self, name, value)

    @property
    def accumulator_count_multiplier(self) -> int:
        """Accumulator arrays per parameter (BNNS's accumulatorCountMultiplier)."""
        from bnns.server.decoders import optimizer_fields
        return optimizer_kernels.accumulator_count(self.function, 1, optimizer_fields(self.fields.to_proto()))

    def step(self, parameters: Sequence[BNNSNDArrayDescriptor], gradients: Sequence[BNNSNDArrayDescriptor],
             accumulators: Optional[Sequence[BNNSNDArrayDescriptor]] = None,
             filter_parameters: Optional[BNNSFilterParameters] = None) -> None:
        optimizer_step(self.function, self.fields, parameters, gradients, accumulators)


class AdamOptimizer(_Optimizer):
    """BNNS.AdamOptimizer(learningRate:beta1:beta2:timeStep:epsilon:gradientScale:regularizationScale:
    gradientClipping:regularizationFunction:usesAMSGrad:)."""

    fields_class = BNNSOptimizerAdamFields

    def __init__(self, uses_ams_grad: bool = False, **fields):
        object.__setattr__(self, "function",
                           C.BNNSOptimizerFunctionAdamAMSGrad if uses_ams_grad else C.BNNSOptimizerFunctionAdam)
        super().__init__(**fields)


class AdamWOptimizer(_Optimizer):
    """BNNS.AdamWOptimizer: weight_decay is the decoupled decay (regularization_scale on the wire)."""

    fields_class = BNNSOptimizerAdamFields

    def __init__(self, weight_decay: float = 0.0, uses_ams_grad: bool = False, **fields):
        object.__setattr__(self, "function",
                           C.BNNSOptimizerFunctionAdamWAMSGrad if uses_ams_grad else C.BNNSOptimizerFunctionAdamW)
        super().__init__(regularization_scale=weight_decay, **fields)


class RMSPropOptimizer(_Optimizer):
    fields_class = BNNSOptimizerRMSPropFields
    function = C.BNNSOptimizerFunctionRMSProp


class SGDMomentumOptimizer(_Optimizer):
    """BNNS.SGDMomentumOptimizer(learningRate:momentum:gradientScale:regularizationScale:
    gradientClipping:regularizationFunction:usesNesterovMomentum:sgdMomentumVariant:)."""

    fields_class = BNNSOptimizerSGDMomentumFields
    function = C.BNNSOptimizerFunctionSGDMomentum

    def __init__(self, uses_nesterov_momentum: Optional[bool] = None, **fields):
        if uses_nesterov_momentum is not None:
            fields["nesterov"] = bool(uses_nesterov_momentum)
        super().__init__(**fields)


_WITH_CLIPPING = {BNNSOptimizerSGDMomentumFields: BNNSOptimizerSGDMomentumWithClippingFields,
                  BNNSOptimizerAdamFields: BNNSOptimizerAdamWithClippingFields,
                  BNNSOptimizerRMSPropFields: BNNSOptimizerRMSPropWithClippingFields}
