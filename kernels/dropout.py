"""BNNS dropout filter (bnns.md 2.1 BNNSLayerParametersDropout, 4 "Dropout backward").

    training:   y = x * keep / (1 - rate),   keep ~ Bernoulli(1 - rate), one draw per mask cell
    inference:  y = x
    backward:   dL/dx = dL/dy * keep / (1 - rate)   (keep from the last training forward)

``BNNSFilterCreateLayerDropout`` + ``BNNSFilterApplyBatch`` / ``BNNSFilterApplyBackwardBatch``.
The item is any descriptor (x of shape (N, *i_desc.shape), e.g. (N, C, H, W) for ImageCHW size
(W, H, C)); o_desc has the same shape.

``control`` groups keep/drop decisions: bit k set means BNNS dimension k (``size[k]``) shares one
decision, i.e. the mask is broadcast along that dimension. For ImageCHW, control = 0b011 (W and
H) drops whole channels, like ``torch.nn.Dropout2d``; control = 0 drops elements independently.
The batch is never grouped: every sample gets its own mask.

Notes
-----
Conventions chosen where BNNS is silent (bnns.md marks them UNCONFIRMED):

* Inverted dropout (PyTorch's): kept values are scaled by 1 / (1 - rate) in training, so inference
  is the identity and needs no rescaling.
* ``seed`` 0 means "no seed" (BNNS ignores it): the filter's generator starts from fresh OS entropy.
  Any other seed starts a NumPy PCG64 generator; each training forward draws the next mask from
  it, so two filters with the same seed produce the same sequence of masks. The masks do not
  reproduce BNNS's or PyTorch's random streams.
* ``control`` bits 4..7 (BNNS uses only the 4 low bits) and bits for dimensions beyond the
  descriptor's rank are refused rather than ignored.
* The mask of the last training forward is kept on the filter (BNNS keeps it inside the filter);
  backward without one, or for another batch size, is FailedPrecondition. An inference forward
  leaves the mask alone.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _common as cm
from .errors import FailedPreconditionError, require
from .layout import Descriptor
from .params import DropoutParameters

CONTROL_BITS = 4        # BNNS reads only the four low bits of control


# ---------------------------------------------------------------------------------------- kernels
def forward(x: np.ndarray, keep: np.ndarray, rate: float) -> np.ndarray:
    """y = x * keep / (1 - rate).

    Parameters
    ----------
    x : ndarray of shape (N, *item)
    keep : bool ndarray broadcastable to x (the mask; 1 along grouped axes)
    rate : drop probability in [0, 1)
    """
    scale = x.dtype.type(1.0 / (1.0 - rate))
    y = x * keep
    y *= scale
    return y


def backward(d_out: np.ndarray, keep: np.ndarray, rate: float) -> np.ndarray:
    """dL/dx = dL/dy * keep / (1 - rate); shapes as :func:`forward`."""
    return forward(d_out, keep, rate)


def draw_mask(rng: np.random.Generator, shape: tuple, rate: float) -> np.ndarray:
    """A bool mask of ``shape``: True (keep) with probability 1 - rate."""
    if rate == 0.0:
        return np.ones(shape, dtype=bool)
    return rng.random(shape) >= rate


# ---------------------------------------------------------------------------------------- filter
class DropoutFilter:
    """A dropout filter: its generator and the mask of its last training forward."""

    kind = "dropout"

    def __init__(self, params: DropoutParameters):
        self.params = params
        shape = cm.check_desc(params.i_desc, "i_desc")
        out_shape = cm.check_desc(params.o_desc, "o_desc")
        require(out_shape == shape,
                f"o_desc shape {out_shape} ({params.o_desc.describe()}) differs from i_desc shape "
                f"{shape} ({params.i_desc.describe()}); dropout keeps the shape")
        self.rate = cm.as_real(params.rate, "rate", 0.0, 1.0, open_max=True)
        seed = cm.as_int(params.seed, "seed", 0, 2**32 - 1)
        control = cm.as_int(params.control, "control", 0, 255)
        rank = len(shape)
        require(control < (1 << min(rank, CONTROL_BITS)),
                f"control {control:#b} sets bits beyond the {min(rank, CONTROL_BITS)} dimensions it "
                f"can group for i_desc of rank {rank} (BNNS reads bits 0..{CONTROL_BITS - 1}, one "
                f"per dimension size[k])")
        mask_shape = list(shape)
        for dim in range(rank):
            if control >> dim & 1:
                mask_shape[cm.dim_to_axis(params.i_desc, dim)] = 1
        self._shape = shape
        self._mask_shape = tuple(mask_shape)
        self._rng = np.random.default_rng(seed if seed else None)
        self._keep: Optional[np.ndarray] = None

    @property
    def input_desc(self) -> Descriptor:
        return self.params.i_desc

    @property
    def output_desc(self) -> Descriptor:
        return self.params.o_desc

    @property
    def mask_shape(self) -> tuple:
        """Shape of one sample's mask: the item shape with 1 along the grouped axes."""
        return self._mask_shape

    @property
    def has_training_cache(self) -> bool:
        return self._keep is not None

    @property
    def mask(self) -> Optional[np.ndarray]:
        """The keep mask of the last training forward, bool (N, *mask_shape), read-only view."""
        if self._keep is None:
            return None
        view = self._keep.view()
        view.flags.writeable = False
        return view

    def parameters(self) -> dict:
        return {}

    def apply(self, x: np.ndarray, *, training: bool = True) -> np.ndarray:
        """y for x of shape (N, *i_desc.shape); training draws and keeps a new mask."""
        x = cm.batch(x, self._shape, "x")
        if not training:
            return x.copy()
        self._keep = None     # a failure below leaves no stale mask behind
        keep = draw_mask(self._rng, (x.shape[0],) + self._mask_shape, self.rate)
        y = forward(x, keep, self.rate)
        self._keep = keep
        return y

    def apply_backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], d_out: np.ndarray, *,
                       input_grad: bool = True, weights_grad: bool = False, bias_grad: bool = False):
        """(d_in, None, None) from d_out of shape (N, *o_desc.shape); x and y are not read (BNNS
        uses only the deltas and its kept mask)."""
        cm.no_weight_gradients(self.kind, weights_grad, bias_grad)
        d_out = cm.batch(d_out, self._shape, "d_out")
        if self._keep is None:
            raise FailedPreconditionError(
                "dropout backward needs a training forward first (it reuses that forward's mask); "
                "this filter has had none", reason="NO_TRAINING_FORWARD")
        cm.same_batch(self._keep.shape[0], d_out.shape[0], "d_out", self.kind)
        d_in = backward(d_out, self._keep, self.rate) if input_grad else None
        return d_in, None, None
