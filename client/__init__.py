"""bnns.client: the BNNS API over the network (or in process), with Apple's names.

    import bnns.client as bnns
    bnns.connect("127.0.0.1:50051")        # or "local"; default: $BNNS_SERVER, else "local"
    f = bnns.BNNSFilterCreateLayerConvolution(params, None)
    bnns.BNNSFilterApplyBatch(f, batch, x, x_stride, y, y_stride)
"""

from bnns.kernels.errors import BNNSError

from .api import *            # noqa: F401,F403  the C-style functions and BNNSFilter
from .api import BNNSFilter, last_error
from .backend import LocalBackend, RemoteBackend, connect, current, idempotency_scope
from .tensor import BNNSTensor
from .session import Session, session
from .constants import *      # noqa: F401,F403  BNNS* constants with Apple's raw values
from .activation import BNNSFilterCreateLayerActivation, BNNSLayerParametersActivation
from .activation import ActivationLayer as _ActivationLayer
from .dropout import BNNSFilterCreateLayerDropout, BNNSLayerParametersDropout, DropoutLayer as _DropoutLayer
from .attention import (BNNSApplyMultiheadAttention, BNNSApplyMultiheadAttentionBackward,   # issue 12, part B
                        BNNSFilterCreateLayerMultiheadAttention, BNNSLayerParametersMultiheadAttention,
                        BNNSMHAProjectionParameters, MultiheadAttentionLayer as _MultiheadAttentionLayer)
from .embedding import (BNNSEmbeddingFlagScaleGradientByFrequency, BNNSFilterCreateLayerEmbedding,
                        BNNSLayerParametersEmbedding, EmbeddingLayer as _EmbeddingLayer)
from .lstm import (BNNSComputeLSTMTrainingCacheCapacity, BNNSDirectApplyLSTMBatchBackward,
                   BNNSDirectApplyLSTMBatchTrainingCaching, BNNSLayerFlagsLSTMBidirectional,
                   BNNSLayerFlagsLSTMDefaultActivations, BNNSLayerParametersLSTM, BNNSLSTMDataDescriptor,
                   BNNSLSTMGateDescriptor)
from .arithmetic import (BNNSArithmeticFilterApplyBackwardBatch, BNNSArithmeticFilterApplyBatch,
                         BNNSArithmeticBinary, BNNSArithmeticOperand, BNNSArithmeticTernary, BNNSArithmeticUnary,
                         BNNSFilterCreateLayerArithmetic, BNNSLayerParametersArithmetic,
                         BinaryArithmeticLayer as _BinaryArithmeticLayer, TernaryArithmeticLayer as _TernaryArithmeticLayer,
                         UnaryArithmeticLayer as _UnaryArithmeticLayer)
from .fused import (BNNSFilterCreateFusedLayer, BNNSFusedFilterApplyBackwardBatch,
                    BNNSFusedFilterApplyBackwardMultiInputBatch, BNNSFusedFilterApplyBatch,
                    BNNSFusedFilterApplyMultiInputBatch, BNNSLayerParametersQuantization)
from . import fused as _fused
from .layers import BNNS
from .pooling import (BNNSFilterCreateLayerPooling, BNNSLayerParametersPooling, BNNSPoolingFilterApplyBackwardBatch,
                      BNNSPoolingFilterApplyBackwardBatchEx, BNNSPoolingFilterApplyBatch, BNNSPoolingFilterApplyBatchEx,
                      PoolingLayer as _PoolingLayer, _PoolingType)
from .normalization import (BNNSFilterCreateLayerNormalization, BNNSLayerParametersNormalization,
                            BNNSNormalizationFilterApplyBackwardBatch, BNNSNormalizationFilterApplyBatch,
                            NormalizationLayer as _NormalizationLayer, _NormalizationType)
from .optimizer import (AdamOptimizer as _AdamOptimizer, AdamWOptimizer as _AdamWOptimizer,
                        BNNSOptimizerAdamFields, BNNSOptimizerAdamWithClippingFields, BNNSOptimizerRMSPropFields,
                        BNNSOptimizerRMSPropWithClippingFields, BNNSOptimizerSGDMomentumFields,
                        BNNSOptimizerSGDMomentumWithClippingFields, BNNSOptimizerStep,
                        RMSPropOptimizer as _RMSPropOptimizer, SGDMomentumOptimizer as _SGDMomentumOptimizer)
from .loss import (BNNSFilterCreateLayerLoss, BNNSLayerParametersLossBase, BNNSLayerParametersLossHuber,
                   BNNSLayerParametersLossSigmoidCrossEntropy, BNNSLayerParametersLossSoftmaxCrossEntropy,
                   BNNSLayerParametersLossYolo, BNNSLossFilterApplyBackwardBatch, BNNSLossFilterApplyBatch,
                   LossLayer as _LossLayer, _LossFunction, _LossReduction)

BNNS.LossLayer = _LossLayer
BNNS.ActivationLayer = _ActivationLayer
BNNS.DropoutLayer = _DropoutLayer
BNNS.MultiheadAttentionLayer, BNNS.EmbeddingLayer = _MultiheadAttentionLayer, _EmbeddingLayer   # issue 12, part B
BNNS.PoolingLayer = _PoolingLayer
for _name in ("FusedParametersLayer", "FusedConvolutionNormalizationLayer", "FusedFullyConnectedNormalizationLayer",
              "FusedConvolutionParameters", "FusedFullyConnectedParameters", "FusedNormalizationParameters",
              "FusedArithmeticParameters", "FusedQuantizationParameters", "FusedDequantizationParameters",
              "FusedUnaryArithmeticParameters", "FusedBinaryArithmeticParameters", "FusedTernaryArithmeticParameters"):
    setattr(BNNS, _name, getattr(_fused, _name))
BNNS.PoolingType = _PoolingType
BNNS.NormalizationLayer = _NormalizationLayer
BNNS.NormalizationType = _NormalizationType
BNNS.UnaryArithmeticLayer = _UnaryArithmeticLayer
from .arithmetic import ArithmeticBinaryFunction as _ArithmeticBinaryFunction
from .arithmetic import ArithmeticTernaryFunction as _ArithmeticTernaryFunction
from .arithmetic import ArithmeticUnaryFunction as _ArithmeticUnaryFunction
BNNS.ArithmeticUnaryFunction = _ArithmeticUnaryFunction
BNNS.ArithmeticBinaryFunction = _ArithmeticBinaryFunction
BNNS.ArithmeticTernaryFunction = _ArithmeticTernaryFunction
BNNS.BinaryArithmeticLayer = _BinaryArithmeticLayer
BNNS.TernaryArithmeticLayer = _TernaryArithmeticLayer
BNNS.DescriptorType = type("DescriptorType", (), {"constant": BNNSConstant, "sample": BNNSSample,
                                                  "parameter": BNNSParameter})
BNNS.AdamOptimizer = _AdamOptimizer
BNNS.AdamWOptimizer = _AdamWOptimizer
BNNS.RMSPropOptimizer = _RMSPropOptimizer
BNNS.SGDMomentumOptimizer = _SGDMomentumOptimizer
from .optimizer import GradientClipping as _GradientClipping
BNNS.GradientClipping = _GradientClipping
BNNS.LossFunction = _LossFunction
BNNS.LossReduction = _LossReduction
from .structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersConvolution,
                      BNNSLayerParametersFullyConnected, BNNSNDArrayDescriptor)

# Issue 12, part A: two-input and shape layers, data movement and matrix products.
from .shape import (BNNSCopy, BNNSCropResize, BNNSCropResizeBackward, BNNSDirectApplyReduction,
                    BNNSLayerParametersCropResize, BNNSFilterCreateLayerGram, BNNSFilterCreateLayerPadding,
                    BNNSFilterCreateLayerPermute, BNNSFilterCreateLayerReduction, BNNSFilterCreateLayerResize,
                    BNNSLayerParametersGram, BNNSLayerParametersPadding, BNNSLayerParametersPermute,
                    BNNSLayerParametersReduction, BNNSLayerParametersResize, BNNSPermuteFilterApplyBackwardBatch,
                    BNNSTranspose)
from .matmul import (BNNSDirectApplyBroadcastMatMul, BNNSFilterApplyBackwardTwoInputBatch, BNNSFilterApplyTwoInput,
                     BNNSFilterApplyTwoInputBatch, BNNSFilterCreateLayerBroadcastMatMul,
                     BNNSFilterCreateLayerTensorContraction, BNNSLayerParametersBroadcastMatMul,
                     BNNSLayerParametersTensorContraction, BNNSMatMul, BNNSMatMulWorkspaceSize)
from . import matmul as _matmul, shape as _shape
for _name in ("PermuteLayer", "PaddingLayer", "ResizeLayer", "ReductionLayer", "GramLayer", "CropResizeLayer"):
    setattr(BNNS, _name, getattr(_shape, _name))
for _name in ("BinaryLayer", "BroadcastMatrixMultiplyLayer", "TensorContractionLayer"):
    setattr(BNNS, _name, getattr(_matmul, _name))
BNNS.InterpolationMethod = _shape._InterpolationMethod
BNNS.PaddingMode = _shape._PaddingMode
BNNS.ReductionFunction = _shape._ReductionFunction
BNNS.apply_matrix_multiplication = staticmethod(_matmul.apply_matrix_multiplication)
# Issue 12, part C: the filter-less functions (C style) and their Swift statics on BNNS.
from .direct import (BNNSBandPart, BNNSClipByGlobalNorm, BNNSClipByNorm, BNNSClipByValue, BNNSCompareTensor,
                     BNNSComputeNorm, BNNSComputeNormBackward, BNNSCreateRandomGenerator,
                     BNNSCreateRandomGeneratorWithSeed, BNNSDataLayoutGetRank, BNNSDestroyRandomGenerator,
                     BNNSDirectApplyActivationBatch, BNNSDirectApplyInTopK, BNNSDirectApplyQuantizer,
                     BNNSDirectApplyTopK,
                     BNNSNDArrayGetDataSize, BNNSRandomFillNormalFloat, BNNSRandomFillUniformFloat,
                     BNNSRandomFillCategoricalFloat, BNNSRandomFillUniformInt, BNNSRandomGenerator, BNNSRandomGeneratorGetState,
                     BNNSRandomGeneratorSetState, BNNSRandomGeneratorStateSize, BNNSShuffle,
                     BNNSTensorGetAllocationSize, BNNSTile, BNNSTileBackward, BNNSGather, BNNSScatter,
                     BNNSGatherND, BNNSScatterND)
# The classic creators (deprecated since macOS 11), translated into their successors' parameters.
from .classic import (BNNSConvolutionLayerParameters, BNNSFilterCreateConvolutionLayer,
                      BNNSFilterCreateFullyConnectedLayer, BNNSFilterCreatePoolingLayer,
                      BNNSFilterCreateVectorActivationLayer, BNNSFullyConnectedLayerParameters,
                      BNNSImageStackDescriptor, BNNSLayerData, BNNSPoolingLayerParameters, BNNSVectorDescriptor)
from .neighbors import (BNNSCreateNearestNeighbors, BNNSDestroyNearestNeighbors, BNNSNearestNeighbors,
                        BNNSNearestNeighborsGetInfo, BNNSNearestNeighborsLoad)
from .direct import SWIFT_STATICS as _SWIFT_STATICS
for _name, _value in _SWIFT_STATICS.items():
    setattr(BNNS, _name, staticmethod(_value) if callable(_value) and not isinstance(_value, type) else _value)
BNNS.ShuffleType = type("ShuffleType", (), {"depth_to_space_nchw": BNNSShuffleTypeDepthToSpaceNCHW,
                                            "space_to_depth_nchw": BNNSShuffleTypeSpaceToDepthNCHW})
BNNS.RelationalOperator = type("RelationalOperator", (), {   # Swift's .and / .or / .not: and_ / or_ / not_
    "equal": BNNSRelationalOperatorEqual, "less": BNNSRelationalOperatorLess,
    "less_equal": BNNSRelationalOperatorLessEqual, "greater": BNNSRelationalOperatorGreater,
    "greater_equal": BNNSRelationalOperatorGreaterEqual, "not_equal": BNNSRelationalOperatorNotEqual,
    "and_": BNNSRelationalOperatorLogicalAND, "or_": BNNSRelationalOperatorLogicalOR,
    "not_": BNNSRelationalOperatorLogicalNOT, "nand": BNNSRelationalOperatorLogicalNAND,
    "nor": BNNSRelationalOperatorLogicalNOR, "xor": BNNSRelationalOperatorLogicalXOR})
BNNS.RandomGeneratorMethod = type("RandomGeneratorMethod", (), {"aes_ctr": BNNSRandomGeneratorMethodAES_CTR})
