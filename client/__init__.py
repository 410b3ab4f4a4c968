"""bnns.client: the BNNS API over the network (or in process), with Apple's names.

    import bnns.client as bnns
    bnns.connect("127.0.0.1:50051")        # or "local"; default: $BNNS_SERVER, else "local"
    f = bnns.BNNSFilterCreateLayerConvolution(params, None)
    bnns.BNNSFilterApplyBatch(f, batch, x, x_stride, y, y_stride)
"""

from bnns.kernels.errors import BNNSError

from .api import *            # noqa: F401,F403  the C-style functions and BNNSFilter
from .api import BNNSFilter, last_error
from .backend import LocalBackend, RemoteBackend, connect, current, idempotency_scope, sequence
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
                         BNNSArithmeticBinary, BNNSArithmeticTernary, BNNSArithmeticUnary,
                         BNNSFilterCreateLayerArithmetic, BNNSLayerParametersArithmetic,
                         BinaryArithmeticLayer as _BinaryArithmeticLayer, TernaryArithmeticLayer as _TernaryArithmeticLayer,
                         UnaryArithmeticLayer as _UnaryArithmeticLayer)
from .fused import (BNNSFilterCreateFusedLayer, BNNSFusedFilterApplyBackwardBatch,
                    BNNSFusedFilterApplyBackwardMultiInputBatch, BNNSFusedFilterApplyBatch,
                    BNNSFusedFilterApplyMultiInputBatch, BNNSLayerParametersQuantization)
from . import fused as _fused
from .layers import BNNS as _SwiftCore
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

from .arithmetic import ArithmeticBinaryFunction as _ArithmeticBinaryFunction
from .arithmetic import ArithmeticTernaryFunction as _ArithmeticTernaryFunction
from .arithmetic import ArithmeticUnaryFunction as _ArithmeticUnaryFunction
from .optimizer import GradientClipping as _GradientClipping
from .c_structs import (BNNSActivation, BNNSFilterParameters, BNNSLayerParametersConvolution,
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
from . import direct as _direct


class BNNS(_SwiftCore):
    """The Swift ``BNNS`` namespace: layers.py's core, then every module's layers, cases and statics."""

    LossLayer, LossFunction, LossReduction = _LossLayer, _LossFunction, _LossReduction
    ActivationLayer, DropoutLayer = _ActivationLayer, _DropoutLayer
    MultiheadAttentionLayer, EmbeddingLayer = _MultiheadAttentionLayer, _EmbeddingLayer   # issue 12, part B
    PoolingLayer, PoolingType = _PoolingLayer, _PoolingType
    NormalizationLayer, NormalizationType = _NormalizationLayer, _NormalizationType
    FusedParametersLayer = _fused.FusedParametersLayer
    FusedConvolutionNormalizationLayer = _fused.FusedConvolutionNormalizationLayer
    FusedFullyConnectedNormalizationLayer = _fused.FusedFullyConnectedNormalizationLayer
    FusedConvolutionParameters = _fused.FusedConvolutionParameters
    FusedFullyConnectedParameters = _fused.FusedFullyConnectedParameters
    FusedNormalizationParameters = _fused.FusedNormalizationParameters
    FusedQuantizationParameters = _fused.FusedQuantizationParameters
    FusedDequantizationParameters = _fused.FusedDequantizationParameters
    FusedUnaryArithmeticParameters = _fused.FusedUnaryArithmeticParameters
    FusedBinaryArithmeticParameters = _fused.FusedBinaryArithmeticParameters
    FusedTernaryArithmeticParameters = _fused.FusedTernaryArithmeticParameters
    UnaryArithmeticLayer = _UnaryArithmeticLayer
    BinaryArithmeticLayer = _BinaryArithmeticLayer
    TernaryArithmeticLayer = _TernaryArithmeticLayer
    ArithmeticUnaryFunction = _ArithmeticUnaryFunction
    ArithmeticBinaryFunction = _ArithmeticBinaryFunction
    ArithmeticTernaryFunction = _ArithmeticTernaryFunction

    class DescriptorType:
        constant, sample, parameter = BNNSConstant, BNNSSample, BNNSParameter

    AdamOptimizer, AdamWOptimizer = _AdamOptimizer, _AdamWOptimizer
    RMSPropOptimizer, SGDMomentumOptimizer = _RMSPropOptimizer, _SGDMomentumOptimizer
    GradientClipping = _GradientClipping
    # Issue 12, part A: two-input and shape layers, data movement and matrix products.
    PermuteLayer, PaddingLayer, ResizeLayer = _shape.PermuteLayer, _shape.PaddingLayer, _shape.ResizeLayer
    ReductionLayer, GramLayer, CropResizeLayer = _shape.ReductionLayer, _shape.GramLayer, _shape.CropResizeLayer
    BinaryLayer = _matmul.BinaryLayer
    BroadcastMatrixMultiplyLayer = _matmul.BroadcastMatrixMultiplyLayer
    TensorContractionLayer = _matmul.TensorContractionLayer
    InterpolationMethod = _shape._InterpolationMethod
    PaddingMode = _shape._PaddingMode
    ReductionFunction = _shape._ReductionFunction
    apply_matrix_multiplication = staticmethod(_matmul.apply_matrix_multiplication)
    # Issue 12, part C: the filter-less functions' Swift statics.
    apply_activation = staticmethod(_direct.apply_activation)
    quantize, dequantize = staticmethod(_direct.quantize), staticmethod(_direct.dequantize)
    clip, clip_by_norm = staticmethod(_direct.clip), staticmethod(_direct.clip_by_norm)
    clip_by_global_norm = staticmethod(_direct.clip_by_global_norm)
    apply_top_k, apply_in_top_k = staticmethod(_direct.apply_top_k), staticmethod(_direct.apply_in_top_k)
    tile, tile_backward = staticmethod(_direct.tile), staticmethod(_direct.tile_backward)
    shuffle, compare = staticmethod(_direct.shuffle), staticmethod(_direct.compare)
    gather, scatter = staticmethod(_direct.gather), staticmethod(_direct.scatter)
    gather_nd, scatter_nd = staticmethod(_direct.gather_nd), staticmethod(_direct.scatter_nd)
    RandomGenerator = _direct.RandomGenerator

    class ShuffleType:
        depth_to_space_nchw = BNNSShuffleTypeDepthToSpaceNCHW
        space_to_depth_nchw = BNNSShuffleTypeSpaceToDepthNCHW

    class RelationalOperator:     # Swift's .and / .or / .not: and_ / or_ / not_
        equal, less, less_equal = BNNSRelationalOperatorEqual, BNNSRelationalOperatorLess, BNNSRelationalOperatorLessEqual
        greater, greater_equal = BNNSRelationalOperatorGreater, BNNSRelationalOperatorGreaterEqual
        not_equal = BNNSRelationalOperatorNotEqual
        and_, or_, not_ = BNNSRelationalOperatorLogicalAND, BNNSRelationalOperatorLogicalOR, BNNSRelationalOperatorLogicalNOT
        nand, nor, xor = BNNSRelationalOperatorLogicalNAND, BNNSRelationalOperatorLogicalNOR, BNNSRelationalOperatorLogicalXOR

    class RandomGeneratorMethod:
        aes_ctr = BNNSRandomGeneratorMethodAES_CTR
