from bnns.v1 import options_pb2 as _options_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataLayout(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_LAYOUT_UNSPECIFIED: _ClassVar[DataLayout]
    DATA_LAYOUT_VECTOR: _ClassVar[DataLayout]
    DATA_LAYOUT_1D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_1D_FIRST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_ROW_MAJOR_MATRIX: _ClassVar[DataLayout]
    DATA_LAYOUT_COLUMN_MAJOR_MATRIX: _ClassVar[DataLayout]
    DATA_LAYOUT_2D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_2D_FIRST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_IMAGE_CHW: _ClassVar[DataLayout]
    DATA_LAYOUT_SNE: _ClassVar[DataLayout]
    DATA_LAYOUT_NSE: _ClassVar[DataLayout]
    DATA_LAYOUT_3D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_3D_FIRST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW: _ClassVar[DataLayout]
    DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHRWR: _ClassVar[DataLayout]
    DATA_LAYOUT_CONVOLUTION_WEIGHTS_IOHRWR: _ClassVar[DataLayout]
    DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW_PACK32: _ClassVar[DataLayout]
    DATA_LAYOUT_4D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_4D_FIRST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_5D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_5D_FIRST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_6D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_6D_FIRST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_7D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_7D_FIRST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_8D_LAST_MAJOR: _ClassVar[DataLayout]
    DATA_LAYOUT_8D_FIRST_MAJOR: _ClassVar[DataLayout]

class DataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_TYPE_UNSPECIFIED: _ClassVar[DataType]
    DATA_TYPE_FLOAT16: _ClassVar[DataType]
    DATA_TYPE_FLOAT32: _ClassVar[DataType]
    DATA_TYPE_BFLOAT16: _ClassVar[DataType]
    DATA_TYPE_INT1: _ClassVar[DataType]
    DATA_TYPE_INT2: _ClassVar[DataType]
    DATA_TYPE_INT4: _ClassVar[DataType]
    DATA_TYPE_INT8: _ClassVar[DataType]
    DATA_TYPE_INT16: _ClassVar[DataType]
    DATA_TYPE_INT32: _ClassVar[DataType]
    DATA_TYPE_INT64: _ClassVar[DataType]
    DATA_TYPE_UINT1: _ClassVar[DataType]
    DATA_TYPE_UINT2: _ClassVar[DataType]
    DATA_TYPE_UINT4: _ClassVar[DataType]
    DATA_TYPE_UINT8: _ClassVar[DataType]
    DATA_TYPE_UINT16: _ClassVar[DataType]
    DATA_TYPE_UINT32: _ClassVar[DataType]
    DATA_TYPE_UINT64: _ClassVar[DataType]
    DATA_TYPE_INDEXED1: _ClassVar[DataType]
    DATA_TYPE_INDEXED2: _ClassVar[DataType]
    DATA_TYPE_INDEXED4: _ClassVar[DataType]
    DATA_TYPE_INDEXED8: _ClassVar[DataType]
    DATA_TYPE_BOOLEAN: _ClassVar[DataType]

class NDArrayFlags(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NDARRAY_FLAG_BACKPROP_SET: _ClassVar[NDArrayFlags]
    NDARRAY_FLAG_BACKPROP_ACCUMULATE: _ClassVar[NDArrayFlags]

class FilterFlags(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILTER_FLAGS_NONE: _ClassVar[FilterFlags]
    FILTER_FLAGS_USE_CLIENT_PTR: _ClassVar[FilterFlags]

class ActivationFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_FUNCTION_IDENTITY: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_RECTIFIED_LINEAR: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_LEAKY_RECTIFIED_LINEAR: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SIGMOID: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_TANH: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SCALED_TANH: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_ABS: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_LINEAR: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_CLAMP: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_INTEGER_LINEAR_SATURATE: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_INTEGER_LINEAR_SATURATE_PER_CHANNEL: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SOFTMAX: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_GELU_APPROXIMATION: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_GUMBEL: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_GUMBEL_MAX: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_HARD_SIGMOID: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SOFTPLUS: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SOFTSIGN: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_ELU: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_CLAMPED_LEAKY_RECTIFIED_LINEAR: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_LINEAR_WITH_BIAS: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_LOG_SOFTMAX: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_LOG_SIGMOID: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SELU: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_CELU: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_HARD_SHRINK: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SOFT_SHRINK: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_TANH_SHRINK: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_THRESHOLD: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_PRELU_PER_CHANNEL: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_GELU_APPROXIMATION2: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_HARD_SWISH: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_SILU: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_RELU6: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_ERF: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_GELU: _ClassVar[ActivationFunction]
    ACTIVATION_FUNCTION_GELU_APPROXIMATION_SIGMOID: _ClassVar[ActivationFunction]

class PoolingFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POOLING_FUNCTION_MAX: _ClassVar[PoolingFunction]
    POOLING_FUNCTION_AVERAGE_COUNT_INCLUDE_PADDING: _ClassVar[PoolingFunction]
    POOLING_FUNCTION_AVERAGE_COUNT_EXCLUDE_PADDING: _ClassVar[PoolingFunction]
    POOLING_FUNCTION_UN_MAX: _ClassVar[PoolingFunction]
    POOLING_FUNCTION_L2_NORM: _ClassVar[PoolingFunction]

class LossFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOSS_FUNCTION_UNSPECIFIED: _ClassVar[LossFunction]
    LOSS_FUNCTION_SOFTMAX_CROSS_ENTROPY: _ClassVar[LossFunction]
    LOSS_FUNCTION_SIGMOID_CROSS_ENTROPY: _ClassVar[LossFunction]
    LOSS_FUNCTION_MEAN_SQUARE_ERROR: _ClassVar[LossFunction]
    LOSS_FUNCTION_HUBER: _ClassVar[LossFunction]
    LOSS_FUNCTION_YOLO: _ClassVar[LossFunction]
    LOSS_FUNCTION_LOG: _ClassVar[LossFunction]
    LOSS_FUNCTION_COSINE_DISTANCE: _ClassVar[LossFunction]
    LOSS_FUNCTION_HINGE: _ClassVar[LossFunction]
    LOSS_FUNCTION_MEAN_ABSOLUTE_ERROR: _ClassVar[LossFunction]
    LOSS_FUNCTION_CATEGORICAL_CROSS_ENTROPY: _ClassVar[LossFunction]

class LossReductionFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOSS_REDUCTION_NONE: _ClassVar[LossReductionFunction]
    LOSS_REDUCTION_SUM: _ClassVar[LossReductionFunction]
    LOSS_REDUCTION_WEIGHTED_MEAN: _ClassVar[LossReductionFunction]
    LOSS_REDUCTION_MEAN: _ClassVar[LossReductionFunction]
    LOSS_REDUCTION_NON_ZERO_WEIGHT_MEAN: _ClassVar[LossReductionFunction]

class FilterType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILTER_TYPE_CONVOLUTION: _ClassVar[FilterType]
    FILTER_TYPE_FULLY_CONNECTED: _ClassVar[FilterType]
    FILTER_TYPE_BATCH_NORM: _ClassVar[FilterType]
    FILTER_TYPE_INSTANCE_NORM: _ClassVar[FilterType]
    FILTER_TYPE_LAYER_NORM: _ClassVar[FilterType]
    FILTER_TYPE_GROUP_NORM: _ClassVar[FilterType]
    FILTER_TYPE_TRANSPOSED_CONVOLUTION: _ClassVar[FilterType]
    FILTER_TYPE_QUANTIZATION: _ClassVar[FilterType]
    FILTER_TYPE_ARITHMETIC: _ClassVar[FilterType]

class ArithmeticFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARITHMETIC_FUNCTION_ADD: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_SUBTRACT: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_MULTIPLY: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_DIVIDE: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_SQUARE_ROOT: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_RECIPROCAL_SQUARE_ROOT: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_CEIL: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_FLOOR: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ROUND: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_SIN: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_COS: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_TAN: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ASIN: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ACOS: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ATAN: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_SINH: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_COSH: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_TANH: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ASINH: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ACOSH: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ATANH: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_POW: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_EXP: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_EXP2: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_LOG: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_LOG2: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_MULTIPLY_NO_NAN: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_DIVIDE_NO_NAN: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_MULTIPLY_ADD: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_MINIMUM: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_MAXIMUM: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_SELECT: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ABS: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_SIGN: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_NEGATE: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_RECIPROCAL: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_SQUARE: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_FLOOR_DIVIDE: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_TRUNC_DIVIDE: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_TRUNC_REMAINDER: _ClassVar[ArithmeticFunction]
    ARITHMETIC_FUNCTION_ERF: _ClassVar[ArithmeticFunction]

class DescriptorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DESCRIPTOR_TYPE_CONSTANT: _ClassVar[DescriptorType]
    DESCRIPTOR_TYPE_SAMPLE: _ClassVar[DescriptorType]
    DESCRIPTOR_TYPE_PARAMETER: _ClassVar[DescriptorType]

class QuantizerFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUANTIZER_FUNCTION_QUANTIZE: _ClassVar[QuantizerFunction]
    QUANTIZER_FUNCTION_DEQUANTIZE: _ClassVar[QuantizerFunction]

class OptimizerFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZER_FUNCTION_UNSPECIFIED: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_SGD_MOMENTUM: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_RMS_PROP: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM_W: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM_AMS_GRAD: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM_W_AMS_GRAD: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_SGD_MOMENTUM_WITH_CLIPPING: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM_WITH_CLIPPING: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_RMS_PROP_WITH_CLIPPING: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM_W_WITH_CLIPPING: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM_AMS_GRAD_WITH_CLIPPING: _ClassVar[OptimizerFunction]
    OPTIMIZER_FUNCTION_ADAM_W_AMS_GRAD_WITH_CLIPPING: _ClassVar[OptimizerFunction]

class OptimizerRegularizationFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZER_REGULARIZATION_NONE: _ClassVar[OptimizerRegularizationFunction]
    OPTIMIZER_REGULARIZATION_L1: _ClassVar[OptimizerRegularizationFunction]
    OPTIMIZER_REGULARIZATION_L2: _ClassVar[OptimizerRegularizationFunction]

class OptimizerClippingFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZER_CLIPPING_NONE: _ClassVar[OptimizerClippingFunction]
    OPTIMIZER_CLIPPING_BY_VALUE: _ClassVar[OptimizerClippingFunction]
    OPTIMIZER_CLIPPING_BY_NORM: _ClassVar[OptimizerClippingFunction]
    OPTIMIZER_CLIPPING_BY_GLOBAL_NORM: _ClassVar[OptimizerClippingFunction]

class OptimizerSGDMomentumVariant(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SGD_MOMENTUM_VARIANT_0: _ClassVar[OptimizerSGDMomentumVariant]
    SGD_MOMENTUM_VARIANT_1: _ClassVar[OptimizerSGDMomentumVariant]
    SGD_MOMENTUM_VARIANT_2: _ClassVar[OptimizerSGDMomentumVariant]

class NormType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NORM_TYPE_UNSPECIFIED: _ClassVar[NormType]
    NORM_TYPE_L2: _ClassVar[NormType]

class RelationalOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELATIONAL_OPERATOR_EQUAL: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LESS: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LESS_EQUAL: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_GREATER: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_GREATER_EQUAL: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_NOT_EQUAL: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LOGICAL_AND: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LOGICAL_OR: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LOGICAL_NOT: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LOGICAL_NAND: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LOGICAL_NOR: _ClassVar[RelationalOperator]
    RELATIONAL_OPERATOR_LOGICAL_XOR: _ClassVar[RelationalOperator]

class ShuffleType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHUFFLE_TYPE_PIXEL_SHUFFLE_NCHW: _ClassVar[ShuffleType]
    SHUFFLE_TYPE_PIXEL_UNSHUFFLE_NCHW: _ClassVar[ShuffleType]
    SHUFFLE_TYPE_DEPTH_TO_SPACE_NCHW: _ClassVar[ShuffleType]
    SHUFFLE_TYPE_SPACE_TO_DEPTH_NCHW: _ClassVar[ShuffleType]

class RandomGeneratorMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RANDOM_GENERATOR_METHOD_AES_CTR: _ClassVar[RandomGeneratorMethod]

class PaddingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PADDING_MODE_CONSTANT: _ClassVar[PaddingMode]
    PADDING_MODE_REFLECT: _ClassVar[PaddingMode]
    PADDING_MODE_SYMMETRIC: _ClassVar[PaddingMode]

class InterpolationMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERPOLATION_METHOD_NEAREST: _ClassVar[InterpolationMethod]
    INTERPOLATION_METHOD_LINEAR: _ClassVar[InterpolationMethod]

class ReduceFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REDUCE_FUNCTION_MAX: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_MIN: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_ARG_MAX: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_ARG_MIN: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_MEAN: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_MEAN_NON_ZERO: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_SUM: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_SUM_SQUARE: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_SUM_LOG: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_L1_NORM: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_LOGICAL_OR: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_LOGICAL_AND: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_L2_NORM: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_LOG_SUM_EXP: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_PRODUCT: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_NONE: _ClassVar[ReduceFunction]
    REDUCE_FUNCTION_LOG_SUM: _ClassVar[ReduceFunction]

class LinearSamplingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINEAR_SAMPLING_MODE_DEFAULT: _ClassVar[LinearSamplingMode]
    LINEAR_SAMPLING_MODE_ALIGN_CORNERS: _ClassVar[LinearSamplingMode]
    LINEAR_SAMPLING_MODE_UNALIGN_CORNERS: _ClassVar[LinearSamplingMode]
    LINEAR_SAMPLING_MODE_STRICT_ALIGN_CORNERS: _ClassVar[LinearSamplingMode]
    LINEAR_SAMPLING_MODE_OFFSET_CORNERS: _ClassVar[LinearSamplingMode]

class BoxCoordinateMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOX_COORDINATE_MODE_CORNERS_HEIGHT_FIRST: _ClassVar[BoxCoordinateMode]
    BOX_COORDINATE_MODE_CORNERS_WIDTH_FIRST: _ClassVar[BoxCoordinateMode]
    BOX_COORDINATE_MODE_CENTER_SIZE_HEIGHT_FIRST: _ClassVar[BoxCoordinateMode]
    BOX_COORDINATE_MODE_CENTER_SIZE_WIDTH_FIRST: _ClassVar[BoxCoordinateMode]
DATA_LAYOUT_UNSPECIFIED: DataLayout
DATA_LAYOUT_VECTOR: DataLayout
DATA_LAYOUT_1D_LAST_MAJOR: DataLayout
DATA_LAYOUT_1D_FIRST_MAJOR: DataLayout
DATA_LAYOUT_ROW_MAJOR_MATRIX: DataLayout
DATA_LAYOUT_COLUMN_MAJOR_MATRIX: DataLayout
DATA_LAYOUT_2D_LAST_MAJOR: DataLayout
DATA_LAYOUT_2D_FIRST_MAJOR: DataLayout
DATA_LAYOUT_IMAGE_CHW: DataLayout
DATA_LAYOUT_SNE: DataLayout
DATA_LAYOUT_NSE: DataLayout
DATA_LAYOUT_3D_LAST_MAJOR: DataLayout
DATA_LAYOUT_3D_FIRST_MAJOR: DataLayout
DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW: DataLayout
DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHRWR: DataLayout
DATA_LAYOUT_CONVOLUTION_WEIGHTS_IOHRWR: DataLayout
DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW_PACK32: DataLayout
DATA_LAYOUT_4D_LAST_MAJOR: DataLayout
DATA_LAYOUT_4D_FIRST_MAJOR: DataLayout
DATA_LAYOUT_5D_LAST_MAJOR: DataLayout
DATA_LAYOUT_5D_FIRST_MAJOR: DataLayout
DATA_LAYOUT_6D_LAST_MAJOR: DataLayout
DATA_LAYOUT_6D_FIRST_MAJOR: DataLayout
DATA_LAYOUT_7D_LAST_MAJOR: DataLayout
DATA_LAYOUT_7D_FIRST_MAJOR: DataLayout
DATA_LAYOUT_8D_LAST_MAJOR: DataLayout
DATA_LAYOUT_8D_FIRST_MAJOR: DataLayout
DATA_TYPE_UNSPECIFIED: DataType
DATA_TYPE_FLOAT16: DataType
DATA_TYPE_FLOAT32: DataType
DATA_TYPE_BFLOAT16: DataType
DATA_TYPE_INT1: DataType
DATA_TYPE_INT2: DataType
DATA_TYPE_INT4: DataType
DATA_TYPE_INT8: DataType
DATA_TYPE_INT16: DataType
DATA_TYPE_INT32: DataType
DATA_TYPE_INT64: DataType
DATA_TYPE_UINT1: DataType
DATA_TYPE_UINT2: DataType
DATA_TYPE_UINT4: DataType
DATA_TYPE_UINT8: DataType
DATA_TYPE_UINT16: DataType
DATA_TYPE_UINT32: DataType
DATA_TYPE_UINT64: DataType
DATA_TYPE_INDEXED1: DataType
DATA_TYPE_INDEXED2: DataType
DATA_TYPE_INDEXED4: DataType
DATA_TYPE_INDEXED8: DataType
DATA_TYPE_BOOLEAN: DataType
NDARRAY_FLAG_BACKPROP_SET: NDArrayFlags
NDARRAY_FLAG_BACKPROP_ACCUMULATE: NDArrayFlags
FILTER_FLAGS_NONE: FilterFlags
FILTER_FLAGS_USE_CLIENT_PTR: FilterFlags
ACTIVATION_FUNCTION_IDENTITY: ActivationFunction
ACTIVATION_FUNCTION_RECTIFIED_LINEAR: ActivationFunction
ACTIVATION_FUNCTION_LEAKY_RECTIFIED_LINEAR: ActivationFunction
ACTIVATION_FUNCTION_SIGMOID: ActivationFunction
ACTIVATION_FUNCTION_TANH: ActivationFunction
ACTIVATION_FUNCTION_SCALED_TANH: ActivationFunction
ACTIVATION_FUNCTION_ABS: ActivationFunction
ACTIVATION_FUNCTION_LINEAR: ActivationFunction
ACTIVATION_FUNCTION_CLAMP: ActivationFunction
ACTIVATION_FUNCTION_INTEGER_LINEAR_SATURATE: ActivationFunction
ACTIVATION_FUNCTION_INTEGER_LINEAR_SATURATE_PER_CHANNEL: ActivationFunction
ACTIVATION_FUNCTION_SOFTMAX: ActivationFunction
ACTIVATION_FUNCTION_GELU_APPROXIMATION: ActivationFunction
ACTIVATION_FUNCTION_GUMBEL: ActivationFunction
ACTIVATION_FUNCTION_GUMBEL_MAX: ActivationFunction
ACTIVATION_FUNCTION_HARD_SIGMOID: ActivationFunction
ACTIVATION_FUNCTION_SOFTPLUS: ActivationFunction
ACTIVATION_FUNCTION_SOFTSIGN: ActivationFunction
ACTIVATION_FUNCTION_ELU: ActivationFunction
ACTIVATION_FUNCTION_CLAMPED_LEAKY_RECTIFIED_LINEAR: ActivationFunction
ACTIVATION_FUNCTION_LINEAR_WITH_BIAS: ActivationFunction
ACTIVATION_FUNCTION_LOG_SOFTMAX: ActivationFunction
ACTIVATION_FUNCTION_LOG_SIGMOID: ActivationFunction
ACTIVATION_FUNCTION_SELU: ActivationFunction
ACTIVATION_FUNCTION_CELU: ActivationFunction
ACTIVATION_FUNCTION_HARD_SHRINK: ActivationFunction
ACTIVATION_FUNCTION_SOFT_SHRINK: ActivationFunction
ACTIVATION_FUNCTION_TANH_SHRINK: ActivationFunction
ACTIVATION_FUNCTION_THRESHOLD: ActivationFunction
ACTIVATION_FUNCTION_PRELU_PER_CHANNEL: ActivationFunction
ACTIVATION_FUNCTION_GELU_APPROXIMATION2: ActivationFunction
ACTIVATION_FUNCTION_HARD_SWISH: ActivationFunction
ACTIVATION_FUNCTION_SILU: ActivationFunction
ACTIVATION_FUNCTION_RELU6: ActivationFunction
ACTIVATION_FUNCTION_ERF: ActivationFunction
ACTIVATION_FUNCTION_GELU: ActivationFunction
ACTIVATION_FUNCTION_GELU_APPROXIMATION_SIGMOID: ActivationFunction
POOLING_FUNCTION_MAX: PoolingFunction
POOLING_FUNCTION_AVERAGE_COUNT_INCLUDE_PADDING: PoolingFunction
POOLING_FUNCTION_AVERAGE_COUNT_EXCLUDE_PADDING: PoolingFunction
POOLING_FUNCTION_UN_MAX: PoolingFunction
POOLING_FUNCTION_L2_NORM: PoolingFunction
LOSS_FUNCTION_UNSPECIFIED: LossFunction
LOSS_FUNCTION_SOFTMAX_CROSS_ENTROPY: LossFunction
LOSS_FUNCTION_SIGMOID_CROSS_ENTROPY: LossFunction
LOSS_FUNCTION_MEAN_SQUARE_ERROR: LossFunction
LOSS_FUNCTION_HUBER: LossFunction
LOSS_FUNCTION_YOLO: LossFunction
LOSS_FUNCTION_LOG: LossFunction
LOSS_FUNCTION_COSINE_DISTANCE: LossFunction
LOSS_FUNCTION_HINGE: LossFunction
LOSS_FUNCTION_MEAN_ABSOLUTE_ERROR: LossFunction
LOSS_FUNCTION_CATEGORICAL_CROSS_ENTROPY: LossFunction
LOSS_REDUCTION_NONE: LossReductionFunction
LOSS_REDUCTION_SUM: LossReductionFunction
LOSS_REDUCTION_WEIGHTED_MEAN: LossReductionFunction
LOSS_REDUCTION_MEAN: LossReductionFunction
LOSS_REDUCTION_NON_ZERO_WEIGHT_MEAN: LossReductionFunction
FILTER_TYPE_CONVOLUTION: FilterType
FILTER_TYPE_FULLY_CONNECTED: FilterType
FILTER_TYPE_BATCH_NORM: FilterType
FILTER_TYPE_INSTANCE_NORM: FilterType
FILTER_TYPE_LAYER_NORM: FilterType
FILTER_TYPE_GROUP_NORM: FilterType
FILTER_TYPE_TRANSPOSED_CONVOLUTION: FilterType
FILTER_TYPE_QUANTIZATION: FilterType
FILTER_TYPE_ARITHMETIC: FilterType
ARITHMETIC_FUNCTION_ADD: ArithmeticFunction
ARITHMETIC_FUNCTION_SUBTRACT: ArithmeticFunction
ARITHMETIC_FUNCTION_MULTIPLY: ArithmeticFunction
ARITHMETIC_FUNCTION_DIVIDE: ArithmeticFunction
ARITHMETIC_FUNCTION_SQUARE_ROOT: ArithmeticFunction
ARITHMETIC_FUNCTION_RECIPROCAL_SQUARE_ROOT: ArithmeticFunction
ARITHMETIC_FUNCTION_CEIL: ArithmeticFunction
ARITHMETIC_FUNCTION_FLOOR: ArithmeticFunction
ARITHMETIC_FUNCTION_ROUND: ArithmeticFunction
ARITHMETIC_FUNCTION_SIN: ArithmeticFunction
ARITHMETIC_FUNCTION_COS: ArithmeticFunction
ARITHMETIC_FUNCTION_TAN: ArithmeticFunction
ARITHMETIC_FUNCTION_ASIN: ArithmeticFunction
ARITHMETIC_FUNCTION_ACOS: ArithmeticFunction
ARITHMETIC_FUNCTION_ATAN: ArithmeticFunction
ARITHMETIC_FUNCTION_SINH: ArithmeticFunction
ARITHMETIC_FUNCTION_COSH: ArithmeticFunction
ARITHMETIC_FUNCTION_TANH: ArithmeticFunction
ARITHMETIC_FUNCTION_ASINH: ArithmeticFunction
ARITHMETIC_FUNCTION_ACOSH: ArithmeticFunction
ARITHMETIC_FUNCTION_ATANH: ArithmeticFunction
ARITHMETIC_FUNCTION_POW: ArithmeticFunction
ARITHMETIC_FUNCTION_EXP: ArithmeticFunction
ARITHMETIC_FUNCTION_EXP2: ArithmeticFunction
ARITHMETIC_FUNCTION_LOG: ArithmeticFunction
ARITHMETIC_FUNCTION_LOG2: ArithmeticFunction
ARITHMETIC_FUNCTION_MULTIPLY_NO_NAN: ArithmeticFunction
ARITHMETIC_FUNCTION_DIVIDE_NO_NAN: ArithmeticFunction
ARITHMETIC_FUNCTION_MULTIPLY_ADD: ArithmeticFunction
ARITHMETIC_FUNCTION_MINIMUM: ArithmeticFunction
ARITHMETIC_FUNCTION_MAXIMUM: ArithmeticFunction
ARITHMETIC_FUNCTION_SELECT: ArithmeticFunction
ARITHMETIC_FUNCTION_ABS: ArithmeticFunction
ARITHMETIC_FUNCTION_SIGN: ArithmeticFunction
ARITHMETIC_FUNCTION_NEGATE: ArithmeticFunction
ARITHMETIC_FUNCTION_RECIPROCAL: ArithmeticFunction
ARITHMETIC_FUNCTION_SQUARE: ArithmeticFunction
ARITHMETIC_FUNCTION_FLOOR_DIVIDE: ArithmeticFunction
ARITHMETIC_FUNCTION_TRUNC_DIVIDE: ArithmeticFunction
ARITHMETIC_FUNCTION_TRUNC_REMAINDER: ArithmeticFunction
ARITHMETIC_FUNCTION_ERF: ArithmeticFunction
DESCRIPTOR_TYPE_CONSTANT: DescriptorType
DESCRIPTOR_TYPE_SAMPLE: DescriptorType
DESCRIPTOR_TYPE_PARAMETER: DescriptorType
QUANTIZER_FUNCTION_QUANTIZE: QuantizerFunction
QUANTIZER_FUNCTION_DEQUANTIZE: QuantizerFunction
OPTIMIZER_FUNCTION_UNSPECIFIED: OptimizerFunction
OPTIMIZER_FUNCTION_SGD_MOMENTUM: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM: OptimizerFunction
OPTIMIZER_FUNCTION_RMS_PROP: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM_W: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM_AMS_GRAD: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM_W_AMS_GRAD: OptimizerFunction
OPTIMIZER_FUNCTION_SGD_MOMENTUM_WITH_CLIPPING: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM_WITH_CLIPPING: OptimizerFunction
OPTIMIZER_FUNCTION_RMS_PROP_WITH_CLIPPING: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM_W_WITH_CLIPPING: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM_AMS_GRAD_WITH_CLIPPING: OptimizerFunction
OPTIMIZER_FUNCTION_ADAM_W_AMS_GRAD_WITH_CLIPPING: OptimizerFunction
OPTIMIZER_REGULARIZATION_NONE: OptimizerRegularizationFunction
OPTIMIZER_REGULARIZATION_L1: OptimizerRegularizationFunction
OPTIMIZER_REGULARIZATION_L2: OptimizerRegularizationFunction
OPTIMIZER_CLIPPING_NONE: OptimizerClippingFunction
OPTIMIZER_CLIPPING_BY_VALUE: OptimizerClippingFunction
OPTIMIZER_CLIPPING_BY_NORM: OptimizerClippingFunction
OPTIMIZER_CLIPPING_BY_GLOBAL_NORM: OptimizerClippingFunction
SGD_MOMENTUM_VARIANT_0: OptimizerSGDMomentumVariant
SGD_MOMENTUM_VARIANT_1: OptimizerSGDMomentumVariant
SGD_MOMENTUM_VARIANT_2: OptimizerSGDMomentumVariant
NORM_TYPE_UNSPECIFIED: NormType
NORM_TYPE_L2: NormType
RELATIONAL_OPERATOR_EQUAL: RelationalOperator
RELATIONAL_OPERATOR_LESS: RelationalOperator
RELATIONAL_OPERATOR_LESS_EQUAL: RelationalOperator
RELATIONAL_OPERATOR_GREATER: RelationalOperator
RELATIONAL_OPERATOR_GREATER_EQUAL: RelationalOperator
RELATIONAL_OPERATOR_NOT_EQUAL: RelationalOperator
RELATIONAL_OPERATOR_LOGICAL_AND: RelationalOperator
RELATIONAL_OPERATOR_LOGICAL_OR: RelationalOperator
RELATIONAL_OPERATOR_LOGICAL_NOT: RelationalOperator
RELATIONAL_OPERATOR_LOGICAL_NAND: RelationalOperator
RELATIONAL_OPERATOR_LOGICAL_NOR: RelationalOperator
RELATIONAL_OPERATOR_LOGICAL_XOR: RelationalOperator
SHUFFLE_TYPE_PIXEL_SHUFFLE_NCHW: ShuffleType
SHUFFLE_TYPE_PIXEL_UNSHUFFLE_NCHW: ShuffleType
SHUFFLE_TYPE_DEPTH_TO_SPACE_NCHW: ShuffleType
SHUFFLE_TYPE_SPACE_TO_DEPTH_NCHW: ShuffleType
RANDOM_GENERATOR_METHOD_AES_CTR: RandomGeneratorMethod
PADDING_MODE_CONSTANT: PaddingMode
PADDING_MODE_REFLECT: PaddingMode
PADDING_MODE_SYMMETRIC: PaddingMode
INTERPOLATION_METHOD_NEAREST: InterpolationMethod
INTERPOLATION_METHOD_LINEAR: InterpolationMethod
REDUCE_FUNCTION_MAX: ReduceFunction
REDUCE_FUNCTION_MIN: ReduceFunction
REDUCE_FUNCTION_ARG_MAX: ReduceFunction
REDUCE_FUNCTION_ARG_MIN: ReduceFunction
REDUCE_FUNCTION_MEAN: ReduceFunction
REDUCE_FUNCTION_MEAN_NON_ZERO: ReduceFunction
REDUCE_FUNCTION_SUM: ReduceFunction
REDUCE_FUNCTION_SUM_SQUARE: ReduceFunction
REDUCE_FUNCTION_SUM_LOG: ReduceFunction
REDUCE_FUNCTION_L1_NORM: ReduceFunction
REDUCE_FUNCTION_LOGICAL_OR: ReduceFunction
REDUCE_FUNCTION_LOGICAL_AND: ReduceFunction
REDUCE_FUNCTION_L2_NORM: ReduceFunction
REDUCE_FUNCTION_LOG_SUM_EXP: ReduceFunction
REDUCE_FUNCTION_PRODUCT: ReduceFunction
REDUCE_FUNCTION_NONE: ReduceFunction
REDUCE_FUNCTION_LOG_SUM: ReduceFunction
LINEAR_SAMPLING_MODE_DEFAULT: LinearSamplingMode
LINEAR_SAMPLING_MODE_ALIGN_CORNERS: LinearSamplingMode
LINEAR_SAMPLING_MODE_UNALIGN_CORNERS: LinearSamplingMode
LINEAR_SAMPLING_MODE_STRICT_ALIGN_CORNERS: LinearSamplingMode
LINEAR_SAMPLING_MODE_OFFSET_CORNERS: LinearSamplingMode
BOX_COORDINATE_MODE_CORNERS_HEIGHT_FIRST: BoxCoordinateMode
BOX_COORDINATE_MODE_CORNERS_WIDTH_FIRST: BoxCoordinateMode
BOX_COORDINATE_MODE_CENTER_SIZE_HEIGHT_FIRST: BoxCoordinateMode
BOX_COORDINATE_MODE_CENTER_SIZE_WIDTH_FIRST: BoxCoordinateMode

class Buffer(_message.Message):
    __slots__ = ("data", "values", "tensor", "shared_memory", "stride", "accumulate")
    DATA_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    SHARED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    ACCUMULATE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    values: _struct_pb2.ListValue
    tensor: TensorReference
    shared_memory: SharedMemorySlice
    stride: int
    accumulate: bool
    def __init__(self, data: _Optional[bytes] = ..., values: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., tensor: _Optional[_Union[TensorReference, _Mapping]] = ..., shared_memory: _Optional[_Union[SharedMemorySlice, _Mapping]] = ..., stride: _Optional[int] = ..., accumulate: _Optional[bool] = ...) -> None: ...

class TensorReference(_message.Message):
    __slots__ = ("tensor_id", "offset")
    TENSOR_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    tensor_id: str
    offset: int
    def __init__(self, tensor_id: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class SharedMemorySlice(_message.Message):
    __slots__ = ("region", "offset", "byte_size")
    REGION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    region: str
    offset: int
    byte_size: int
    def __init__(self, region: _Optional[str] = ..., offset: _Optional[int] = ..., byte_size: _Optional[int] = ...) -> None: ...

class NDArrayDescriptor(_message.Message):
    __slots__ = ("flags", "layout", "size", "stride", "data", "data_type", "table_data", "table_data_type", "data_scale", "data_bias")
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    TABLE_DATA_FIELD_NUMBER: _ClassVar[int]
    TABLE_DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_SCALE_FIELD_NUMBER: _ClassVar[int]
    DATA_BIAS_FIELD_NUMBER: _ClassVar[int]
    flags: NDArrayFlags
    layout: DataLayout
    size: _containers.RepeatedScalarFieldContainer[int]
    stride: _containers.RepeatedScalarFieldContainer[int]
    data: Buffer
    data_type: DataType
    table_data: Buffer
    table_data_type: DataType
    data_scale: float
    data_bias: float
    def __init__(self, flags: _Optional[_Union[NDArrayFlags, str, int]] = ..., layout: _Optional[_Union[DataLayout, str, int]] = ..., size: _Optional[_Iterable[int]] = ..., stride: _Optional[_Iterable[int]] = ..., data: _Optional[_Union[Buffer, _Mapping]] = ..., data_type: _Optional[_Union[DataType, str, int]] = ..., table_data: _Optional[_Union[Buffer, _Mapping]] = ..., table_data_type: _Optional[_Union[DataType, str, int]] = ..., data_scale: _Optional[float] = ..., data_bias: _Optional[float] = ...) -> None: ...

class Activation(_message.Message):
    __slots__ = ("function", "alpha", "beta", "iscale", "ioffset", "ishift", "iscale_per_channel", "ioffset_per_channel", "ishift_per_channel")
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    ISCALE_FIELD_NUMBER: _ClassVar[int]
    IOFFSET_FIELD_NUMBER: _ClassVar[int]
    ISHIFT_FIELD_NUMBER: _ClassVar[int]
    ISCALE_PER_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    IOFFSET_PER_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ISHIFT_PER_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    function: ActivationFunction
    alpha: float
    beta: float
    iscale: int
    ioffset: int
    ishift: int
    iscale_per_channel: _containers.RepeatedScalarFieldContainer[int]
    ioffset_per_channel: _containers.RepeatedScalarFieldContainer[int]
    ishift_per_channel: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, function: _Optional[_Union[ActivationFunction, str, int]] = ..., alpha: _Optional[float] = ..., beta: _Optional[float] = ..., iscale: _Optional[int] = ..., ioffset: _Optional[int] = ..., ishift: _Optional[int] = ..., iscale_per_channel: _Optional[_Iterable[int]] = ..., ioffset_per_channel: _Optional[_Iterable[int]] = ..., ishift_per_channel: _Optional[_Iterable[int]] = ...) -> None: ...

class FilterParameters(_message.Message):
    __slots__ = ("flags", "n_threads")
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    N_THREADS_FIELD_NUMBER: _ClassVar[int]
    flags: int
    n_threads: int
    def __init__(self, flags: _Optional[int] = ..., n_threads: _Optional[int] = ...) -> None: ...

class ConvolutionParameters(_message.Message):
    __slots__ = ("i_desc", "w_desc", "o_desc", "bias", "activation", "x_stride", "y_stride", "x_dilation_stride", "y_dilation_stride", "x_padding", "y_padding", "groups", "pad")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    W_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    X_STRIDE_FIELD_NUMBER: _ClassVar[int]
    Y_STRIDE_FIELD_NUMBER: _ClassVar[int]
    X_DILATION_STRIDE_FIELD_NUMBER: _ClassVar[int]
    Y_DILATION_STRIDE_FIELD_NUMBER: _ClassVar[int]
    X_PADDING_FIELD_NUMBER: _ClassVar[int]
    Y_PADDING_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    PAD_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    w_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    bias: NDArrayDescriptor
    activation: Activation
    x_stride: int
    y_stride: int
    x_dilation_stride: int
    y_dilation_stride: int
    x_padding: int
    y_padding: int
    groups: int
    pad: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., w_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., bias: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ..., x_stride: _Optional[int] = ..., y_stride: _Optional[int] = ..., x_dilation_stride: _Optional[int] = ..., y_dilation_stride: _Optional[int] = ..., x_padding: _Optional[int] = ..., y_padding: _Optional[int] = ..., groups: _Optional[int] = ..., pad: _Optional[_Iterable[int]] = ...) -> None: ...

class FullyConnectedParameters(_message.Message):
    __slots__ = ("i_desc", "w_desc", "o_desc", "bias", "activation")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    W_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    w_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    bias: NDArrayDescriptor
    activation: Activation
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., w_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., bias: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ...) -> None: ...

class PoolingParameters(_message.Message):
    __slots__ = ("i_desc", "o_desc", "bias", "activation", "pooling_function", "k_width", "k_height", "x_stride", "y_stride", "x_dilation_stride", "y_dilation_stride", "x_padding", "y_padding", "pad")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    POOLING_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    K_WIDTH_FIELD_NUMBER: _ClassVar[int]
    K_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    X_STRIDE_FIELD_NUMBER: _ClassVar[int]
    Y_STRIDE_FIELD_NUMBER: _ClassVar[int]
    X_DILATION_STRIDE_FIELD_NUMBER: _ClassVar[int]
    Y_DILATION_STRIDE_FIELD_NUMBER: _ClassVar[int]
    X_PADDING_FIELD_NUMBER: _ClassVar[int]
    Y_PADDING_FIELD_NUMBER: _ClassVar[int]
    PAD_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    bias: NDArrayDescriptor
    activation: Activation
    pooling_function: PoolingFunction
    k_width: int
    k_height: int
    x_stride: int
    y_stride: int
    x_dilation_stride: int
    y_dilation_stride: int
    x_padding: int
    y_padding: int
    pad: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., bias: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ..., pooling_function: _Optional[_Union[PoolingFunction, str, int]] = ..., k_width: _Optional[int] = ..., k_height: _Optional[int] = ..., x_stride: _Optional[int] = ..., y_stride: _Optional[int] = ..., x_dilation_stride: _Optional[int] = ..., y_dilation_stride: _Optional[int] = ..., x_padding: _Optional[int] = ..., y_padding: _Optional[int] = ..., pad: _Optional[_Iterable[int]] = ...) -> None: ...

class ActivationParameters(_message.Message):
    __slots__ = ("i_desc", "o_desc", "activation", "axis_flags", "seed")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    AXIS_FLAGS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    activation: Activation
    axis_flags: int
    seed: int
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ..., axis_flags: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class YoloParameters(_message.Message):
    __slots__ = ("number_of_grid_columns", "number_of_grid_rows", "number_of_anchor_boxes", "anchor_box_size", "rescore", "scale_xy", "scale_wh", "scale_object", "scale_no_object", "scale_classification", "object_minimum_iou", "no_object_maximum_iou", "anchors_data")
    NUMBER_OF_GRID_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_GRID_ROWS_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_ANCHOR_BOXES_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_BOX_SIZE_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    SCALE_XY_FIELD_NUMBER: _ClassVar[int]
    SCALE_WH_FIELD_NUMBER: _ClassVar[int]
    SCALE_OBJECT_FIELD_NUMBER: _ClassVar[int]
    SCALE_NO_OBJECT_FIELD_NUMBER: _ClassVar[int]
    SCALE_CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    OBJECT_MINIMUM_IOU_FIELD_NUMBER: _ClassVar[int]
    NO_OBJECT_MAXIMUM_IOU_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_DATA_FIELD_NUMBER: _ClassVar[int]
    number_of_grid_columns: int
    number_of_grid_rows: int
    number_of_anchor_boxes: int
    anchor_box_size: int
    rescore: bool
    scale_xy: float
    scale_wh: float
    scale_object: float
    scale_no_object: float
    scale_classification: float
    object_minimum_iou: float
    no_object_maximum_iou: float
    anchors_data: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, number_of_grid_columns: _Optional[int] = ..., number_of_grid_rows: _Optional[int] = ..., number_of_anchor_boxes: _Optional[int] = ..., anchor_box_size: _Optional[int] = ..., rescore: _Optional[bool] = ..., scale_xy: _Optional[float] = ..., scale_wh: _Optional[float] = ..., scale_object: _Optional[float] = ..., scale_no_object: _Optional[float] = ..., scale_classification: _Optional[float] = ..., object_minimum_iou: _Optional[float] = ..., no_object_maximum_iou: _Optional[float] = ..., anchors_data: _Optional[_Iterable[float]] = ...) -> None: ...

class LossParameters(_message.Message):
    __slots__ = ("function", "i_desc", "o_desc", "reduction", "label_smooth", "huber_delta", "yolo")
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FIELD_NUMBER: _ClassVar[int]
    LABEL_SMOOTH_FIELD_NUMBER: _ClassVar[int]
    HUBER_DELTA_FIELD_NUMBER: _ClassVar[int]
    YOLO_FIELD_NUMBER: _ClassVar[int]
    function: LossFunction
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    reduction: LossReductionFunction
    label_smooth: float
    huber_delta: float
    yolo: YoloParameters
    def __init__(self, function: _Optional[_Union[LossFunction, str, int]] = ..., i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., reduction: _Optional[_Union[LossReductionFunction, str, int]] = ..., label_smooth: _Optional[float] = ..., huber_delta: _Optional[float] = ..., yolo: _Optional[_Union[YoloParameters, _Mapping]] = ...) -> None: ...

class NormalizationParameters(_message.Message):
    __slots__ = ("type", "i_desc", "o_desc", "beta_desc", "gamma_desc", "moving_mean_desc", "moving_variance_desc", "momentum", "epsilon", "activation", "num_groups", "normalization_axis")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    BETA_DESC_FIELD_NUMBER: _ClassVar[int]
    GAMMA_DESC_FIELD_NUMBER: _ClassVar[int]
    MOVING_MEAN_DESC_FIELD_NUMBER: _ClassVar[int]
    MOVING_VARIANCE_DESC_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    NUM_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_AXIS_FIELD_NUMBER: _ClassVar[int]
    type: FilterType
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    beta_desc: NDArrayDescriptor
    gamma_desc: NDArrayDescriptor
    moving_mean_desc: NDArrayDescriptor
    moving_variance_desc: NDArrayDescriptor
    momentum: float
    epsilon: float
    activation: Activation
    num_groups: int
    normalization_axis: int
    def __init__(self, type: _Optional[_Union[FilterType, str, int]] = ..., i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., beta_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., gamma_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., moving_mean_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., moving_variance_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., momentum: _Optional[float] = ..., epsilon: _Optional[float] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ..., num_groups: _Optional[int] = ..., normalization_axis: _Optional[int] = ...) -> None: ...

class ArithmeticUnary(_message.Message):
    __slots__ = ("in_", "in_type", "out", "out_type")
    IN__FIELD_NUMBER: _ClassVar[int]
    IN_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    in_: NDArrayDescriptor
    in_type: DescriptorType
    out: NDArrayDescriptor
    out_type: DescriptorType
    def __init__(self, in_: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., in_type: _Optional[_Union[DescriptorType, str, int]] = ..., out: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., out_type: _Optional[_Union[DescriptorType, str, int]] = ...) -> None: ...

class ArithmeticBinary(_message.Message):
    __slots__ = ("in1", "in1_type", "in2", "in2_type", "out", "out_type")
    IN1_FIELD_NUMBER: _ClassVar[int]
    IN1_TYPE_FIELD_NUMBER: _ClassVar[int]
    IN2_FIELD_NUMBER: _ClassVar[int]
    IN2_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    in1: NDArrayDescriptor
    in1_type: DescriptorType
    in2: NDArrayDescriptor
    in2_type: DescriptorType
    out: NDArrayDescriptor
    out_type: DescriptorType
    def __init__(self, in1: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., in1_type: _Optional[_Union[DescriptorType, str, int]] = ..., in2: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., in2_type: _Optional[_Union[DescriptorType, str, int]] = ..., out: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., out_type: _Optional[_Union[DescriptorType, str, int]] = ...) -> None: ...

class ArithmeticTernary(_message.Message):
    __slots__ = ("in1", "in1_type", "in2", "in2_type", "in3", "in3_type", "out", "out_type")
    IN1_FIELD_NUMBER: _ClassVar[int]
    IN1_TYPE_FIELD_NUMBER: _ClassVar[int]
    IN2_FIELD_NUMBER: _ClassVar[int]
    IN2_TYPE_FIELD_NUMBER: _ClassVar[int]
    IN3_FIELD_NUMBER: _ClassVar[int]
    IN3_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    in1: NDArrayDescriptor
    in1_type: DescriptorType
    in2: NDArrayDescriptor
    in2_type: DescriptorType
    in3: NDArrayDescriptor
    in3_type: DescriptorType
    out: NDArrayDescriptor
    out_type: DescriptorType
    def __init__(self, in1: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., in1_type: _Optional[_Union[DescriptorType, str, int]] = ..., in2: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., in2_type: _Optional[_Union[DescriptorType, str, int]] = ..., in3: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., in3_type: _Optional[_Union[DescriptorType, str, int]] = ..., out: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., out_type: _Optional[_Union[DescriptorType, str, int]] = ...) -> None: ...

class ArithmeticParameters(_message.Message):
    __slots__ = ("arithmetic_function", "unary", "binary", "ternary", "activation")
    ARITHMETIC_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    UNARY_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    TERNARY_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    arithmetic_function: ArithmeticFunction
    unary: ArithmeticUnary
    binary: ArithmeticBinary
    ternary: ArithmeticTernary
    activation: Activation
    def __init__(self, arithmetic_function: _Optional[_Union[ArithmeticFunction, str, int]] = ..., unary: _Optional[_Union[ArithmeticUnary, _Mapping]] = ..., binary: _Optional[_Union[ArithmeticBinary, _Mapping]] = ..., ternary: _Optional[_Union[ArithmeticTernary, _Mapping]] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ...) -> None: ...

class QuantizationParameters(_message.Message):
    __slots__ = ("axis_mask", "function", "i_desc", "o_desc", "scale", "bias")
    AXIS_MASK_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    axis_mask: int
    function: QuantizerFunction
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    scale: NDArrayDescriptor
    bias: NDArrayDescriptor
    def __init__(self, axis_mask: _Optional[int] = ..., function: _Optional[_Union[QuantizerFunction, str, int]] = ..., i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., scale: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., bias: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ...) -> None: ...

class DropoutParameters(_message.Message):
    __slots__ = ("i_desc", "o_desc", "rate", "seed", "control")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    rate: float
    seed: int
    control: int
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., rate: _Optional[float] = ..., seed: _Optional[int] = ..., control: _Optional[int] = ...) -> None: ...

class FusedLayerParameters(_message.Message):
    __slots__ = ("convolution", "transposed_convolution", "fully_connected", "normalization", "arithmetic", "quantization")
    CONVOLUTION_FIELD_NUMBER: _ClassVar[int]
    TRANSPOSED_CONVOLUTION_FIELD_NUMBER: _ClassVar[int]
    FULLY_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    ARITHMETIC_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    convolution: ConvolutionParameters
    transposed_convolution: ConvolutionParameters
    fully_connected: FullyConnectedParameters
    normalization: NormalizationParameters
    arithmetic: ArithmeticParameters
    quantization: QuantizationParameters
    def __init__(self, convolution: _Optional[_Union[ConvolutionParameters, _Mapping]] = ..., transposed_convolution: _Optional[_Union[ConvolutionParameters, _Mapping]] = ..., fully_connected: _Optional[_Union[FullyConnectedParameters, _Mapping]] = ..., normalization: _Optional[_Union[NormalizationParameters, _Mapping]] = ..., arithmetic: _Optional[_Union[ArithmeticParameters, _Mapping]] = ..., quantization: _Optional[_Union[QuantizationParameters, _Mapping]] = ...) -> None: ...

class FusedParameters(_message.Message):
    __slots__ = ("layers",)
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedCompositeFieldContainer[FusedLayerParameters]
    def __init__(self, layers: _Optional[_Iterable[_Union[FusedLayerParameters, _Mapping]]] = ...) -> None: ...

class PermuteParameters(_message.Message):
    __slots__ = ("i_desc", "o_desc", "permutation")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    PERMUTATION_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    permutation: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., permutation: _Optional[_Iterable[int]] = ...) -> None: ...

class PaddingParameters(_message.Message):
    __slots__ = ("i_desc", "o_desc", "padding_size", "padding_mode", "padding_value")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    PADDING_SIZE_FIELD_NUMBER: _ClassVar[int]
    PADDING_MODE_FIELD_NUMBER: _ClassVar[int]
    PADDING_VALUE_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    padding_size: _containers.RepeatedScalarFieldContainer[int]
    padding_mode: PaddingMode
    padding_value: int
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., padding_size: _Optional[_Iterable[int]] = ..., padding_mode: _Optional[_Union[PaddingMode, str, int]] = ..., padding_value: _Optional[int] = ...) -> None: ...

class ResizeParameters(_message.Message):
    __slots__ = ("method", "i_desc", "o_desc", "align_corners")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    ALIGN_CORNERS_FIELD_NUMBER: _ClassVar[int]
    method: InterpolationMethod
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    align_corners: bool
    def __init__(self, method: _Optional[_Union[InterpolationMethod, str, int]] = ..., i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., align_corners: _Optional[bool] = ...) -> None: ...

class ReductionParameters(_message.Message):
    __slots__ = ("i_desc", "o_desc", "w_desc", "reduce_func", "epsilon")
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    W_DESC_FIELD_NUMBER: _ClassVar[int]
    REDUCE_FUNC_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    w_desc: NDArrayDescriptor
    reduce_func: ReduceFunction
    epsilon: float
    def __init__(self, i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., w_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., reduce_func: _Optional[_Union[ReduceFunction, str, int]] = ..., epsilon: _Optional[float] = ...) -> None: ...

class GramParameters(_message.Message):
    __slots__ = ("alpha", "i_desc", "o_desc")
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    alpha: float
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    def __init__(self, alpha: _Optional[float] = ..., i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ...) -> None: ...

class BroadcastMatMulParameters(_message.Message):
    __slots__ = ("alpha", "beta", "trans_a", "trans_b", "quadratic", "a_is_weights", "b_is_weights", "ia_desc", "ib_desc", "o_desc")
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    TRANS_A_FIELD_NUMBER: _ClassVar[int]
    TRANS_B_FIELD_NUMBER: _ClassVar[int]
    QUADRATIC_FIELD_NUMBER: _ClassVar[int]
    A_IS_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    B_IS_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    IA_DESC_FIELD_NUMBER: _ClassVar[int]
    IB_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    alpha: float
    beta: float
    trans_a: bool
    trans_b: bool
    quadratic: bool
    a_is_weights: bool
    b_is_weights: bool
    ia_desc: NDArrayDescriptor
    ib_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    def __init__(self, alpha: _Optional[float] = ..., beta: _Optional[float] = ..., trans_a: _Optional[bool] = ..., trans_b: _Optional[bool] = ..., quadratic: _Optional[bool] = ..., a_is_weights: _Optional[bool] = ..., b_is_weights: _Optional[bool] = ..., ia_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., ib_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ...) -> None: ...

class TensorContractionParameters(_message.Message):
    __slots__ = ("operation", "alpha", "beta", "ia_desc", "ib_desc", "o_desc")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    IA_DESC_FIELD_NUMBER: _ClassVar[int]
    IB_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    operation: str
    alpha: float
    beta: float
    ia_desc: NDArrayDescriptor
    ib_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    def __init__(self, operation: _Optional[str] = ..., alpha: _Optional[float] = ..., beta: _Optional[float] = ..., ia_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., ib_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ...) -> None: ...

class CropResizeParameters(_message.Message):
    __slots__ = ("normalized_coordinates", "spatial_scale", "extrapolation_value", "sampling_mode", "box_coordinate_mode", "method")
    NORMALIZED_COORDINATES_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_SCALE_FIELD_NUMBER: _ClassVar[int]
    EXTRAPOLATION_VALUE_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_MODE_FIELD_NUMBER: _ClassVar[int]
    BOX_COORDINATE_MODE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    normalized_coordinates: bool
    spatial_scale: float
    extrapolation_value: float
    sampling_mode: LinearSamplingMode
    box_coordinate_mode: BoxCoordinateMode
    method: InterpolationMethod
    def __init__(self, normalized_coordinates: _Optional[bool] = ..., spatial_scale: _Optional[float] = ..., extrapolation_value: _Optional[float] = ..., sampling_mode: _Optional[_Union[LinearSamplingMode, str, int]] = ..., box_coordinate_mode: _Optional[_Union[BoxCoordinateMode, str, int]] = ..., method: _Optional[_Union[InterpolationMethod, str, int]] = ...) -> None: ...

class MHAProjectionParameters(_message.Message):
    __slots__ = ("target_desc", "weights", "bias")
    TARGET_DESC_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    target_desc: NDArrayDescriptor
    weights: NDArrayDescriptor
    bias: NDArrayDescriptor
    def __init__(self, target_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., weights: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., bias: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ...) -> None: ...

class MultiheadAttentionParameters(_message.Message):
    __slots__ = ("query", "key", "value", "add_zero_attn", "key_attn_bias", "value_attn_bias", "output", "dropout", "seed")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ADD_ZERO_ATTN_FIELD_NUMBER: _ClassVar[int]
    KEY_ATTN_BIAS_FIELD_NUMBER: _ClassVar[int]
    VALUE_ATTN_BIAS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    query: MHAProjectionParameters
    key: MHAProjectionParameters
    value: MHAProjectionParameters
    add_zero_attn: bool
    key_attn_bias: NDArrayDescriptor
    value_attn_bias: NDArrayDescriptor
    output: MHAProjectionParameters
    dropout: float
    seed: int
    def __init__(self, query: _Optional[_Union[MHAProjectionParameters, _Mapping]] = ..., key: _Optional[_Union[MHAProjectionParameters, _Mapping]] = ..., value: _Optional[_Union[MHAProjectionParameters, _Mapping]] = ..., add_zero_attn: _Optional[bool] = ..., key_attn_bias: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., value_attn_bias: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[MHAProjectionParameters, _Mapping]] = ..., dropout: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class EmbeddingParameters(_message.Message):
    __slots__ = ("flags", "i_desc", "o_desc", "dictionary", "padding_idx", "max_norm", "norm_type")
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    I_DESC_FIELD_NUMBER: _ClassVar[int]
    O_DESC_FIELD_NUMBER: _ClassVar[int]
    DICTIONARY_FIELD_NUMBER: _ClassVar[int]
    PADDING_IDX_FIELD_NUMBER: _ClassVar[int]
    MAX_NORM_FIELD_NUMBER: _ClassVar[int]
    NORM_TYPE_FIELD_NUMBER: _ClassVar[int]
    flags: int
    i_desc: NDArrayDescriptor
    o_desc: NDArrayDescriptor
    dictionary: NDArrayDescriptor
    padding_idx: int
    max_norm: float
    norm_type: float
    def __init__(self, flags: _Optional[int] = ..., i_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., o_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., dictionary: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., padding_idx: _Optional[int] = ..., max_norm: _Optional[float] = ..., norm_type: _Optional[float] = ...) -> None: ...

class LSTMGateDescriptor(_message.Message):
    __slots__ = ("iw_desc", "hw_desc", "cw_desc", "b_desc", "activation")
    IW_DESC_FIELD_NUMBER: _ClassVar[int]
    HW_DESC_FIELD_NUMBER: _ClassVar[int]
    CW_DESC_FIELD_NUMBER: _ClassVar[int]
    B_DESC_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    iw_desc: _containers.RepeatedCompositeFieldContainer[NDArrayDescriptor]
    hw_desc: NDArrayDescriptor
    cw_desc: NDArrayDescriptor
    b_desc: NDArrayDescriptor
    activation: Activation
    def __init__(self, iw_desc: _Optional[_Iterable[_Union[NDArrayDescriptor, _Mapping]]] = ..., hw_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., cw_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., b_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ...) -> None: ...

class LSTMDataDescriptor(_message.Message):
    __slots__ = ("data_desc", "hidden_desc", "cell_state_desc")
    DATA_DESC_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_DESC_FIELD_NUMBER: _ClassVar[int]
    CELL_STATE_DESC_FIELD_NUMBER: _ClassVar[int]
    data_desc: NDArrayDescriptor
    hidden_desc: NDArrayDescriptor
    cell_state_desc: NDArrayDescriptor
    def __init__(self, data_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., hidden_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., cell_state_desc: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ...) -> None: ...

class LSTMParameters(_message.Message):
    __slots__ = ("input_size", "hidden_size", "batch_size", "num_layers", "seq_len", "dropout", "lstm_flags", "sequence_descriptor", "input_descriptor", "output_descriptor", "input_gate", "forget_gate", "candidate_gate", "output_gate", "hidden_activation")
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    SEQ_LEN_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    LSTM_FLAGS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    INPUT_DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    INPUT_GATE_FIELD_NUMBER: _ClassVar[int]
    FORGET_GATE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_GATE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_GATE_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    input_size: int
    hidden_size: int
    batch_size: int
    num_layers: int
    seq_len: int
    dropout: float
    lstm_flags: int
    sequence_descriptor: NDArrayDescriptor
    input_descriptor: LSTMDataDescriptor
    output_descriptor: LSTMDataDescriptor
    input_gate: LSTMGateDescriptor
    forget_gate: LSTMGateDescriptor
    candidate_gate: LSTMGateDescriptor
    output_gate: LSTMGateDescriptor
    hidden_activation: Activation
    def __init__(self, input_size: _Optional[int] = ..., hidden_size: _Optional[int] = ..., batch_size: _Optional[int] = ..., num_layers: _Optional[int] = ..., seq_len: _Optional[int] = ..., dropout: _Optional[float] = ..., lstm_flags: _Optional[int] = ..., sequence_descriptor: _Optional[_Union[NDArrayDescriptor, _Mapping]] = ..., input_descriptor: _Optional[_Union[LSTMDataDescriptor, _Mapping]] = ..., output_descriptor: _Optional[_Union[LSTMDataDescriptor, _Mapping]] = ..., input_gate: _Optional[_Union[LSTMGateDescriptor, _Mapping]] = ..., forget_gate: _Optional[_Union[LSTMGateDescriptor, _Mapping]] = ..., candidate_gate: _Optional[_Union[LSTMGateDescriptor, _Mapping]] = ..., output_gate: _Optional[_Union[LSTMGateDescriptor, _Mapping]] = ..., hidden_activation: _Optional[_Union[Activation, _Mapping]] = ...) -> None: ...
