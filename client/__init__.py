"""bnns.client: the BNNS API over the network (or in process), with Apple's names.

    import bnns.client as bnns
    bnns.connect("127.0.0.1:50051")        # or "local"; default: $BNNS_SERVER, else "local"
    f = bnns.BNNSFilterCreateLayerConvolution(params, None)
    bnns.BNNSFilterApplyBatch(f, batch, x, x_stride, y, y_stride)
"""

from bnns.kernels.errors import BNNSError

from .api import *            # noqa: F401,F403  the C-style functions and BNNSFilter
from .api import BNNSFilter, last_error
from .backend import LocalBackend, RemoteBackend, connect, current
from .constants import *      # noqa: F401,F403  BNNS* constants with Apple's raw values
from .activation import BNNSFilterCreateLayerActivation, BNNSLayerParametersActivation
from .activation import ActivationLayer as _ActivationLayer
from .layers import BNNS
from .loss import (BNNSFilterCreateLayerLoss, BNNSLayerParametersLossBase, BNNSLayerParametersLossHuber,
                   BNNSLayerParametersLossSigmoidCrossEntropy, BNNSLayerParametersLossSoftmaxCrossEntropy,
                   BNNSLayerParametersLossYolo, BNNSLossFilterApplyBackwardBatch, BNNSLossFilterApplyBatch,
                   LossLayer as _LossLayer, _LossFunction, _LossReduction)

BNNS.LossLayer = _LossLayer
BNNS.ActivationLayer = _ActivationLayer
BNNS.LossFunction = _LossFunction
BNNS.LossReduction = _LossReduction
from .structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersConvolution,
                      BNNSLayerParametersFullyConnected, BNNSNDArrayDescriptor)
