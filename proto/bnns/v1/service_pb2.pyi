from bnns.v1 import options_pb2 as _options_pb2
from bnns.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeepAliveRequest(_message.Message):
    __slots__ = ("handle_ids",)
    HANDLE_IDS_FIELD_NUMBER: _ClassVar[int]
    handle_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, handle_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class KeepAliveResponse(_message.Message):
    __slots__ = ("missing", "lease_seconds")
    MISSING_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    missing: _containers.RepeatedScalarFieldContainer[str]
    lease_seconds: float
    def __init__(self, missing: _Optional[_Iterable[str]] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class TensorInfo(_message.Message):
    __slots__ = ("tensor_id", "data_type", "shape", "byte_size", "name")
    TENSOR_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    tensor_id: str
    data_type: _types_pb2.DataType
    shape: _containers.RepeatedScalarFieldContainer[int]
    byte_size: int
    name: str
    def __init__(self, tensor_id: _Optional[str] = ..., data_type: _Optional[_Union[_types_pb2.DataType, str, int]] = ..., shape: _Optional[_Iterable[int]] = ..., byte_size: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class CreateTensorRequest(_message.Message):
    __slots__ = ("data_type", "shape", "data", "name")
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    data_type: _types_pb2.DataType
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: _types_pb2.Buffer
    name: str
    def __init__(self, data_type: _Optional[_Union[_types_pb2.DataType, str, int]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class CreateTensorResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: TensorInfo
    def __init__(self, info: _Optional[_Union[TensorInfo, _Mapping]] = ...) -> None: ...

class WriteTensorRequest(_message.Message):
    __slots__ = ("tensor_id", "offset", "data")
    TENSOR_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    tensor_id: str
    offset: int
    data: _types_pb2.Buffer
    def __init__(self, tensor_id: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class WriteTensorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadTensorRequest(_message.Message):
    __slots__ = ("tensor_id", "offset", "count")
    TENSOR_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    tensor_id: str
    offset: int
    count: int
    def __init__(self, tensor_id: _Optional[str] = ..., offset: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class ReadTensorResponse(_message.Message):
    __slots__ = ("data", "info")
    DATA_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    data: _types_pb2.Buffer
    info: TensorInfo
    def __init__(self, data: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., info: _Optional[_Union[TensorInfo, _Mapping]] = ...) -> None: ...

class DescribeTensorRequest(_message.Message):
    __slots__ = ("tensor_id",)
    TENSOR_ID_FIELD_NUMBER: _ClassVar[int]
    tensor_id: str
    def __init__(self, tensor_id: _Optional[str] = ...) -> None: ...

class DescribeTensorResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: TensorInfo
    def __init__(self, info: _Optional[_Union[TensorInfo, _Mapping]] = ...) -> None: ...

class ListTensorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTensorsResponse(_message.Message):
    __slots__ = ("tensors",)
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    tensors: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    def __init__(self, tensors: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ...) -> None: ...

class DestroyTensorRequest(_message.Message):
    __slots__ = ("tensor_id",)
    TENSOR_ID_FIELD_NUMBER: _ClassVar[int]
    tensor_id: str
    def __init__(self, tensor_id: _Optional[str] = ...) -> None: ...

class DestroyTensorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SharedMemoryRegion(_message.Message):
    __slots__ = ("name", "key", "offset", "byte_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    offset: int
    byte_size: int
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ..., offset: _Optional[int] = ..., byte_size: _Optional[int] = ...) -> None: ...

class RegisterSharedMemoryRequest(_message.Message):
    __slots__ = ("region",)
    REGION_FIELD_NUMBER: _ClassVar[int]
    region: SharedMemoryRegion
    def __init__(self, region: _Optional[_Union[SharedMemoryRegion, _Mapping]] = ...) -> None: ...

class RegisterSharedMemoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnregisterSharedMemoryRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UnregisterSharedMemoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSharedMemoryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSharedMemoryResponse(_message.Message):
    __slots__ = ("regions",)
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    regions: _containers.RepeatedCompositeFieldContainer[SharedMemoryRegion]
    def __init__(self, regions: _Optional[_Iterable[_Union[SharedMemoryRegion, _Mapping]]] = ...) -> None: ...

class SequencedCall(_message.Message):
    __slots__ = ("rpc", "request", "idempotency_key")
    RPC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    rpc: str
    request: bytes
    idempotency_key: str
    def __init__(self, rpc: _Optional[str] = ..., request: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CallSequenceRequest(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[SequencedCall]
    def __init__(self, calls: _Optional[_Iterable[_Union[SequencedCall, _Mapping]]] = ...) -> None: ...

class CallSequenceResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, responses: _Optional[_Iterable[bytes]] = ...) -> None: ...

class MessageChunk(_message.Message):
    __slots__ = ("rpc", "total_bytes", "data", "offset")
    RPC_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    rpc: str
    total_bytes: int
    data: bytes
    offset: int
    def __init__(self, rpc: _Optional[str] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class CreateFilterRequest(_message.Message):
    __slots__ = ("convolution", "transposed_convolution", "fully_connected", "pooling", "activation", "loss", "normalization", "arithmetic", "fused", "dropout", "permute", "padding", "resize", "reduction", "gram", "broadcast_matmul", "tensor_contraction", "multihead_attention", "embedding", "filter_parameters", "alias", "lease_seconds")
    CONVOLUTION_FIELD_NUMBER: _ClassVar[int]
    TRANSPOSED_CONVOLUTION_FIELD_NUMBER: _ClassVar[int]
    FULLY_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    POOLING_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    ARITHMETIC_FIELD_NUMBER: _ClassVar[int]
    FUSED_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    PERMUTE_FIELD_NUMBER: _ClassVar[int]
    PADDING_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FIELD_NUMBER: _ClassVar[int]
    GRAM_FIELD_NUMBER: _ClassVar[int]
    BROADCAST_MATMUL_FIELD_NUMBER: _ClassVar[int]
    TENSOR_CONTRACTION_FIELD_NUMBER: _ClassVar[int]
    MULTIHEAD_ATTENTION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    convolution: _types_pb2.ConvolutionParameters
    transposed_convolution: _types_pb2.ConvolutionParameters
    fully_connected: _types_pb2.FullyConnectedParameters
    pooling: _types_pb2.PoolingParameters
    activation: _types_pb2.ActivationParameters
    loss: _types_pb2.LossParameters
    normalization: _types_pb2.NormalizationParameters
    arithmetic: _types_pb2.ArithmeticParameters
    fused: _types_pb2.FusedParameters
    dropout: _types_pb2.DropoutParameters
    permute: _types_pb2.PermuteParameters
    padding: _types_pb2.PaddingParameters
    resize: _types_pb2.ResizeParameters
    reduction: _types_pb2.ReductionParameters
    gram: _types_pb2.GramParameters
    broadcast_matmul: _types_pb2.BroadcastMatMulParameters
    tensor_contraction: _types_pb2.TensorContractionParameters
    multihead_attention: _types_pb2.MultiheadAttentionParameters
    embedding: _types_pb2.EmbeddingParameters
    filter_parameters: _types_pb2.FilterParameters
    alias: str
    lease_seconds: float
    def __init__(self, convolution: _Optional[_Union[_types_pb2.ConvolutionParameters, _Mapping]] = ..., transposed_convolution: _Optional[_Union[_types_pb2.ConvolutionParameters, _Mapping]] = ..., fully_connected: _Optional[_Union[_types_pb2.FullyConnectedParameters, _Mapping]] = ..., pooling: _Optional[_Union[_types_pb2.PoolingParameters, _Mapping]] = ..., activation: _Optional[_Union[_types_pb2.ActivationParameters, _Mapping]] = ..., loss: _Optional[_Union[_types_pb2.LossParameters, _Mapping]] = ..., normalization: _Optional[_Union[_types_pb2.NormalizationParameters, _Mapping]] = ..., arithmetic: _Optional[_Union[_types_pb2.ArithmeticParameters, _Mapping]] = ..., fused: _Optional[_Union[_types_pb2.FusedParameters, _Mapping]] = ..., dropout: _Optional[_Union[_types_pb2.DropoutParameters, _Mapping]] = ..., permute: _Optional[_Union[_types_pb2.PermuteParameters, _Mapping]] = ..., padding: _Optional[_Union[_types_pb2.PaddingParameters, _Mapping]] = ..., resize: _Optional[_Union[_types_pb2.ResizeParameters, _Mapping]] = ..., reduction: _Optional[_Union[_types_pb2.ReductionParameters, _Mapping]] = ..., gram: _Optional[_Union[_types_pb2.GramParameters, _Mapping]] = ..., broadcast_matmul: _Optional[_Union[_types_pb2.BroadcastMatMulParameters, _Mapping]] = ..., tensor_contraction: _Optional[_Union[_types_pb2.TensorContractionParameters, _Mapping]] = ..., multihead_attention: _Optional[_Union[_types_pb2.MultiheadAttentionParameters, _Mapping]] = ..., embedding: _Optional[_Union[_types_pb2.EmbeddingParameters, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., alias: _Optional[str] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class FilterInfo(_message.Message):
    __slots__ = ("filter_id", "kind", "parameters", "bytes_held", "trainable")
    class TrainableEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    BYTES_HELD_FIELD_NUMBER: _ClassVar[int]
    TRAINABLE_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    kind: str
    parameters: CreateFilterRequest
    bytes_held: int
    trainable: _containers.ScalarMap[str, int]
    def __init__(self, filter_id: _Optional[str] = ..., kind: _Optional[str] = ..., parameters: _Optional[_Union[CreateFilterRequest, _Mapping]] = ..., bytes_held: _Optional[int] = ..., trainable: _Optional[_Mapping[str, int]] = ...) -> None: ...

class CreateFilterResponse(_message.Message):
    __slots__ = ("filter_id", "info")
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    info: FilterInfo
    def __init__(self, filter_id: _Optional[str] = ..., info: _Optional[_Union[FilterInfo, _Mapping]] = ...) -> None: ...

class DescribeFilterRequest(_message.Message):
    __slots__ = ("filter_id",)
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    def __init__(self, filter_id: _Optional[str] = ...) -> None: ...

class DescribeFilterResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: FilterInfo
    def __init__(self, info: _Optional[_Union[FilterInfo, _Mapping]] = ...) -> None: ...

class ListFiltersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListFiltersResponse(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedCompositeFieldContainer[FilterInfo]
    def __init__(self, filters: _Optional[_Iterable[_Union[FilterInfo, _Mapping]]] = ...) -> None: ...

class DestroyFilterRequest(_message.Message):
    __slots__ = ("filter_id",)
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    def __init__(self, filter_id: _Optional[str] = ...) -> None: ...

class DestroyFilterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FilterApplyBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class FilterApplyBatchResponse(_message.Message):
    __slots__ = ("out",)
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class FilterApplyBackwardBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "out", "out_delta", "compute_in_delta", "compute_weights_delta", "compute_bias_delta", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    out: _types_pb2.Buffer
    out_delta: _types_pb2.Buffer
    compute_in_delta: bool
    compute_weights_delta: bool
    compute_bias_delta: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., compute_in_delta: _Optional[bool] = ..., compute_weights_delta: _Optional[bool] = ..., compute_bias_delta: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class FilterApplyBackwardBatchResponse(_message.Message):
    __slots__ = ("in_delta", "weights_delta", "bias_delta")
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    weights_delta: _types_pb2.Buffer
    bias_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., weights_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class PoolingFilterApplyBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "compute_indices", "indices_data_type", "indices", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_INDICES_FIELD_NUMBER: _ClassVar[int]
    INDICES_DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    compute_indices: bool
    indices_data_type: _types_pb2.DataType
    indices: _types_pb2.Buffer
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., compute_indices: _Optional[bool] = ..., indices_data_type: _Optional[_Union[_types_pb2.DataType, str, int]] = ..., indices: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class PoolingFilterApplyBatchResponse(_message.Message):
    __slots__ = ("out", "indices")
    OUT_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    indices: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., indices: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class PoolingFilterApplyBackwardBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "out", "out_delta", "compute_in_delta", "compute_bias_delta", "indices_data_type", "indices", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    INDICES_DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    out: _types_pb2.Buffer
    out_delta: _types_pb2.Buffer
    compute_in_delta: bool
    compute_bias_delta: bool
    indices_data_type: _types_pb2.DataType
    indices: _types_pb2.Buffer
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., compute_in_delta: _Optional[bool] = ..., compute_bias_delta: _Optional[bool] = ..., indices_data_type: _Optional[_Union[_types_pb2.DataType, str, int]] = ..., indices: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class PoolingFilterApplyBackwardBatchResponse(_message.Message):
    __slots__ = ("in_delta", "bias_delta")
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    bias_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class LossFilterApplyBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "labels", "weights", "weights_size", "compute_in_delta", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SIZE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    labels: _types_pb2.Buffer
    weights: _types_pb2.Buffer
    weights_size: int
    compute_in_delta: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., labels: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., weights: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., weights_size: _Optional[int] = ..., compute_in_delta: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class LossFilterApplyBatchResponse(_message.Message):
    __slots__ = ("out", "in_delta")
    OUT_FIELD_NUMBER: _ClassVar[int]
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    in_delta: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class LossFilterApplyBackwardBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "labels", "weights", "weights_size", "out_delta", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SIZE_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    labels: _types_pb2.Buffer
    weights: _types_pb2.Buffer
    weights_size: int
    out_delta: _types_pb2.Buffer
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., labels: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., weights: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., weights_size: _Optional[int] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class LossFilterApplyBackwardBatchResponse(_message.Message):
    __slots__ = ("in_delta",)
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class NormalizationFilterApplyBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "training", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    training: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., training: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class NormalizationFilterApplyBatchResponse(_message.Message):
    __slots__ = ("out", "moving_mean", "moving_variance")
    OUT_FIELD_NUMBER: _ClassVar[int]
    MOVING_MEAN_FIELD_NUMBER: _ClassVar[int]
    MOVING_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    moving_mean: _types_pb2.Buffer
    moving_variance: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., moving_mean: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., moving_variance: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class NormalizationFilterApplyBackwardBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "out", "out_delta", "compute_in_delta", "compute_beta_delta", "compute_gamma_delta", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_BETA_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_GAMMA_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    out: _types_pb2.Buffer
    out_delta: _types_pb2.Buffer
    compute_in_delta: bool
    compute_beta_delta: bool
    compute_gamma_delta: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., compute_in_delta: _Optional[bool] = ..., compute_beta_delta: _Optional[bool] = ..., compute_gamma_delta: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class NormalizationFilterApplyBackwardBatchResponse(_message.Message):
    __slots__ = ("in_delta", "beta_delta", "gamma_delta")
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    BETA_DELTA_FIELD_NUMBER: _ClassVar[int]
    GAMMA_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    beta_delta: _types_pb2.Buffer
    gamma_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., beta_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., gamma_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ArithmeticFilterApplyBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class ArithmeticFilterApplyBatchResponse(_message.Message):
    __slots__ = ("out",)
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ArithmeticFilterApplyBackwardBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "compute_in_delta", "out", "out_delta", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    compute_in_delta: _containers.RepeatedScalarFieldContainer[bool]
    out: _types_pb2.Buffer
    out_delta: _types_pb2.Buffer
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., compute_in_delta: _Optional[_Iterable[bool]] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class ArithmeticFilterApplyBackwardBatchResponse(_message.Message):
    __slots__ = ("in_delta",)
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    def __init__(self, in_delta: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ...) -> None: ...

class FusedFilterApplyBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "training", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    training: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., training: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class FusedFilterApplyBatchResponse(_message.Message):
    __slots__ = ("out", "moving_mean", "moving_variance")
    OUT_FIELD_NUMBER: _ClassVar[int]
    MOVING_MEAN_FIELD_NUMBER: _ClassVar[int]
    MOVING_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    moving_mean: _types_pb2.Buffer
    moving_variance: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., moving_mean: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., moving_variance: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class FusedFilterApplyMultiInputBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "training", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    training: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., training: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class FusedFilterApplyMultiInputBatchResponse(_message.Message):
    __slots__ = ("out", "moving_mean", "moving_variance")
    OUT_FIELD_NUMBER: _ClassVar[int]
    MOVING_MEAN_FIELD_NUMBER: _ClassVar[int]
    MOVING_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    moving_mean: _types_pb2.Buffer
    moving_variance: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., moving_mean: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., moving_variance: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class FusedFilterApplyBackwardBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "out", "out_delta", "compute_in_delta", "compute_delta_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_DELTA_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    out: _types_pb2.Buffer
    out_delta: _types_pb2.Buffer
    compute_in_delta: bool
    compute_delta_parameters: _containers.RepeatedScalarFieldContainer[bool]
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., compute_in_delta: _Optional[bool] = ..., compute_delta_parameters: _Optional[_Iterable[bool]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class FusedFilterApplyBackwardBatchResponse(_message.Message):
    __slots__ = ("in_delta", "delta_parameters")
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    DELTA_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    delta_parameters: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., delta_parameters: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ...) -> None: ...

class FusedFilterApplyBackwardMultiInputBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "compute_in_delta", "out", "out_delta", "compute_delta_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_DELTA_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    compute_in_delta: _containers.RepeatedScalarFieldContainer[bool]
    out: _types_pb2.Buffer
    out_delta: _types_pb2.Buffer
    compute_delta_parameters: _containers.RepeatedScalarFieldContainer[bool]
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., compute_in_delta: _Optional[_Iterable[bool]] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., compute_delta_parameters: _Optional[_Iterable[bool]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class FusedFilterApplyBackwardMultiInputBatchResponse(_message.Message):
    __slots__ = ("in_delta", "delta_parameters")
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    DELTA_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    in_delta: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    delta_parameters: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    def __init__(self, in_delta: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ..., delta_parameters: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ...) -> None: ...

class FilterParameterRef(_message.Message):
    __slots__ = ("filter_id", "name")
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    name: str
    def __init__(self, filter_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class OptimizerParameter(_message.Message):
    __slots__ = ("filter_parameter", "values")
    FILTER_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    filter_parameter: FilterParameterRef
    values: _types_pb2.Buffer
    def __init__(self, filter_parameter: _Optional[_Union[FilterParameterRef, _Mapping]] = ..., values: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class OptimizerStepRequest(_message.Message):
    __slots__ = ("function", "fields", "parameters", "gradients", "accumulators", "return_parameters", "return_accumulators", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    ACCUMULATORS_FIELD_NUMBER: _ClassVar[int]
    RETURN_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    RETURN_ACCUMULATORS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    function: _types_pb2.OptimizerFunction
    fields: OptimizerFields
    parameters: _containers.RepeatedCompositeFieldContainer[OptimizerParameter]
    gradients: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    accumulators: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    return_parameters: bool
    return_accumulators: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, function: _Optional[_Union[_types_pb2.OptimizerFunction, str, int]] = ..., fields: _Optional[_Union[OptimizerFields, _Mapping]] = ..., parameters: _Optional[_Iterable[_Union[OptimizerParameter, _Mapping]]] = ..., gradients: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ..., accumulators: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ..., return_parameters: _Optional[bool] = ..., return_accumulators: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class OptimizerStepResponse(_message.Message):
    __slots__ = ("parameters", "accumulators")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ACCUMULATORS_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    accumulators: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    def __init__(self, parameters: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ..., accumulators: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ...) -> None: ...

class OptimizerFields(_message.Message):
    __slots__ = ("learning_rate", "momentum", "beta1", "beta2", "time_step", "epsilon", "alpha", "centered", "nesterov", "sgd_momentum_variant", "gradient_scale", "regularization_scale", "regularization_func", "clip_gradients", "clip_gradients_min", "clip_gradients_max", "clipping_func", "clip_gradients_max_norm", "clip_gradients_use_norm")
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    BETA1_FIELD_NUMBER: _ClassVar[int]
    BETA2_FIELD_NUMBER: _ClassVar[int]
    TIME_STEP_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    CENTERED_FIELD_NUMBER: _ClassVar[int]
    NESTEROV_FIELD_NUMBER: _ClassVar[int]
    SGD_MOMENTUM_VARIANT_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_SCALE_FIELD_NUMBER: _ClassVar[int]
    REGULARIZATION_SCALE_FIELD_NUMBER: _ClassVar[int]
    REGULARIZATION_FUNC_FIELD_NUMBER: _ClassVar[int]
    CLIP_GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    CLIP_GRADIENTS_MIN_FIELD_NUMBER: _ClassVar[int]
    CLIP_GRADIENTS_MAX_FIELD_NUMBER: _ClassVar[int]
    CLIPPING_FUNC_FIELD_NUMBER: _ClassVar[int]
    CLIP_GRADIENTS_MAX_NORM_FIELD_NUMBER: _ClassVar[int]
    CLIP_GRADIENTS_USE_NORM_FIELD_NUMBER: _ClassVar[int]
    learning_rate: float
    momentum: float
    beta1: float
    beta2: float
    time_step: float
    epsilon: float
    alpha: float
    centered: bool
    nesterov: bool
    sgd_momentum_variant: _types_pb2.OptimizerSGDMomentumVariant
    gradient_scale: float
    regularization_scale: float
    regularization_func: _types_pb2.OptimizerRegularizationFunction
    clip_gradients: bool
    clip_gradients_min: float
    clip_gradients_max: float
    clipping_func: _types_pb2.OptimizerClippingFunction
    clip_gradients_max_norm: float
    clip_gradients_use_norm: float
    def __init__(self, learning_rate: _Optional[float] = ..., momentum: _Optional[float] = ..., beta1: _Optional[float] = ..., beta2: _Optional[float] = ..., time_step: _Optional[float] = ..., epsilon: _Optional[float] = ..., alpha: _Optional[float] = ..., centered: _Optional[bool] = ..., nesterov: _Optional[bool] = ..., sgd_momentum_variant: _Optional[_Union[_types_pb2.OptimizerSGDMomentumVariant, str, int]] = ..., gradient_scale: _Optional[float] = ..., regularization_scale: _Optional[float] = ..., regularization_func: _Optional[_Union[_types_pb2.OptimizerRegularizationFunction, str, int]] = ..., clip_gradients: _Optional[bool] = ..., clip_gradients_min: _Optional[float] = ..., clip_gradients_max: _Optional[float] = ..., clipping_func: _Optional[_Union[_types_pb2.OptimizerClippingFunction, str, int]] = ..., clip_gradients_max_norm: _Optional[float] = ..., clip_gradients_use_norm: _Optional[float] = ...) -> None: ...

class ClipByValueRequest(_message.Message):
    __slots__ = ("dest", "src", "min_val", "max_val", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    DEST_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    MIN_VAL_FIELD_NUMBER: _ClassVar[int]
    MAX_VAL_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.NDArrayDescriptor
    src: _types_pb2.NDArrayDescriptor
    min_val: float
    max_val: float
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, dest: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., src: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., min_val: _Optional[float] = ..., max_val: _Optional[float] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ClipByValueResponse(_message.Message):
    __slots__ = ("dest",)
    DEST_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.Buffer
    def __init__(self, dest: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ClipByNormRequest(_message.Message):
    __slots__ = ("dest", "src", "max_norm", "axis_flags", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    DEST_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    MAX_NORM_FIELD_NUMBER: _ClassVar[int]
    AXIS_FLAGS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.NDArrayDescriptor
    src: _types_pb2.NDArrayDescriptor
    max_norm: float
    axis_flags: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, dest: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., src: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., max_norm: _Optional[float] = ..., axis_flags: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ClipByNormResponse(_message.Message):
    __slots__ = ("dest",)
    DEST_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.Buffer
    def __init__(self, dest: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ClipByGlobalNormRequest(_message.Message):
    __slots__ = ("dest", "src", "max_norm", "use_norm", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    DEST_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    MAX_NORM_FIELD_NUMBER: _ClassVar[int]
    USE_NORM_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    dest: _containers.RepeatedCompositeFieldContainer[_types_pb2.NDArrayDescriptor]
    src: _containers.RepeatedCompositeFieldContainer[_types_pb2.NDArrayDescriptor]
    max_norm: float
    use_norm: float
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, dest: _Optional[_Iterable[_Union[_types_pb2.NDArrayDescriptor, _Mapping]]] = ..., src: _Optional[_Iterable[_Union[_types_pb2.NDArrayDescriptor, _Mapping]]] = ..., max_norm: _Optional[float] = ..., use_norm: _Optional[float] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ClipByGlobalNormResponse(_message.Message):
    __slots__ = ("dest",)
    DEST_FIELD_NUMBER: _ClassVar[int]
    dest: _containers.RepeatedCompositeFieldContainer[_types_pb2.Buffer]
    def __init__(self, dest: _Optional[_Iterable[_Union[_types_pb2.Buffer, _Mapping]]] = ...) -> None: ...

class ComputeNormRequest(_message.Message):
    __slots__ = ("dest", "src", "norm_type", "axis_flags", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    DEST_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    NORM_TYPE_FIELD_NUMBER: _ClassVar[int]
    AXIS_FLAGS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.NDArrayDescriptor
    src: _types_pb2.NDArrayDescriptor
    norm_type: _types_pb2.NormType
    axis_flags: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, dest: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., src: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., norm_type: _Optional[_Union[_types_pb2.NormType, str, int]] = ..., axis_flags: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ComputeNormResponse(_message.Message):
    __slots__ = ("dest",)
    DEST_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.Buffer
    def __init__(self, dest: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ComputeNormBackwardRequest(_message.Message):
    __slots__ = ("in_delta", "out", "out_delta", "norm_type", "axis_flags", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    IN_FIELD_NUMBER: _ClassVar[int]
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    NORM_TYPE_FIELD_NUMBER: _ClassVar[int]
    AXIS_FLAGS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.NDArrayDescriptor
    out: _types_pb2.NDArrayDescriptor
    out_delta: _types_pb2.NDArrayDescriptor
    norm_type: _types_pb2.NormType
    axis_flags: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., out: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., norm_type: _Optional[_Union[_types_pb2.NormType, str, int]] = ..., axis_flags: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class ComputeNormBackwardResponse(_message.Message):
    __slots__ = ("in_delta",)
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyActivationBatchRequest(_message.Message):
    __slots__ = ("layer_params", "filter_parameters", "batch_size", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.ActivationParameters
    filter_parameters: _types_pb2.FilterParameters
    batch_size: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.ActivationParameters, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., batch_size: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class DirectApplyActivationBatchResponse(_message.Message):
    __slots__ = ("out",)
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyQuantizerRequest(_message.Message):
    __slots__ = ("layer_params", "filter_parameters", "batch_size", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.QuantizationParameters
    filter_parameters: _types_pb2.FilterParameters
    batch_size: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.QuantizationParameters, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., batch_size: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ..., **kwargs) -> None: ...

class DirectApplyQuantizerResponse(_message.Message):
    __slots__ = ("out",)
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyTopKRequest(_message.Message):
    __slots__ = ("k", "axis", "batch_size", "input", "input_batch_stride", "best_values", "best_indices", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    K_FIELD_NUMBER: _ClassVar[int]
    AXIS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INPUT_BATCH_STRIDE_FIELD_NUMBER: _ClassVar[int]
    BEST_VALUES_FIELD_NUMBER: _ClassVar[int]
    BEST_INDICES_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    k: int
    axis: int
    batch_size: int
    input: _types_pb2.NDArrayDescriptor
    input_batch_stride: int
    best_values: _types_pb2.NDArrayDescriptor
    best_indices: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, k: _Optional[int] = ..., axis: _Optional[int] = ..., batch_size: _Optional[int] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., input_batch_stride: _Optional[int] = ..., best_values: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., best_indices: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class DirectApplyTopKResponse(_message.Message):
    __slots__ = ("best_values", "best_indices")
    BEST_VALUES_FIELD_NUMBER: _ClassVar[int]
    BEST_INDICES_FIELD_NUMBER: _ClassVar[int]
    best_values: _types_pb2.Buffer
    best_indices: _types_pb2.Buffer
    def __init__(self, best_values: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., best_indices: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyInTopKRequest(_message.Message):
    __slots__ = ("k", "axis", "batch_size", "input", "input_batch_stride", "test_indices", "test_indices_batch_stride", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    K_FIELD_NUMBER: _ClassVar[int]
    AXIS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INPUT_BATCH_STRIDE_FIELD_NUMBER: _ClassVar[int]
    TEST_INDICES_FIELD_NUMBER: _ClassVar[int]
    TEST_INDICES_BATCH_STRIDE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    k: int
    axis: int
    batch_size: int
    input: _types_pb2.NDArrayDescriptor
    input_batch_stride: int
    test_indices: _types_pb2.NDArrayDescriptor
    test_indices_batch_stride: int
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, k: _Optional[int] = ..., axis: _Optional[int] = ..., batch_size: _Optional[int] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., input_batch_stride: _Optional[int] = ..., test_indices: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., test_indices_batch_stride: _Optional[int] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class DirectApplyInTopKResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class TileRequest(_message.Message):
    __slots__ = ("input", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    input: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class TileResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class TileBackwardRequest(_message.Message):
    __slots__ = ("in_delta", "out_delta", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.NDArrayDescriptor
    out_delta: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class TileBackwardResponse(_message.Message):
    __slots__ = ("in_delta",)
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class BandPartRequest(_message.Message):
    __slots__ = ("num_lower", "num_upper", "input", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    NUM_LOWER_FIELD_NUMBER: _ClassVar[int]
    NUM_UPPER_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    num_lower: int
    num_upper: int
    input: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, num_lower: _Optional[int] = ..., num_upper: _Optional[int] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class BandPartResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ShuffleRequest(_message.Message):
    __slots__ = ("type", "input", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    type: _types_pb2.ShuffleType
    input: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, type: _Optional[_Union[_types_pb2.ShuffleType, str, int]] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ShuffleResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class CompareTensorRequest(_message.Message):
    __slots__ = ("in0", "in1", "op", "out", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    IN0_FIELD_NUMBER: _ClassVar[int]
    IN1_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    in0: _types_pb2.NDArrayDescriptor
    in1: _types_pb2.NDArrayDescriptor
    op: _types_pb2.RelationalOperator
    out: _types_pb2.NDArrayDescriptor
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, in0: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., in1: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., op: _Optional[_Union[_types_pb2.RelationalOperator, str, int]] = ..., out: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class CompareTensorResponse(_message.Message):
    __slots__ = ("out",)
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class GatherRequest(_message.Message):
    __slots__ = ("axis", "input", "indices", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    AXIS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    axis: int
    input: _types_pb2.NDArrayDescriptor
    indices: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, axis: _Optional[int] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., indices: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class GatherResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ScatterRequest(_message.Message):
    __slots__ = ("axis", "op", "input", "indices", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    AXIS_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    axis: int
    op: int
    input: _types_pb2.NDArrayDescriptor
    indices: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, axis: _Optional[int] = ..., op: _Optional[int] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., indices: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ScatterResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class GatherNDRequest(_message.Message):
    __slots__ = ("input", "indices", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    input: _types_pb2.NDArrayDescriptor
    indices: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., indices: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class GatherNDResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ScatterNDRequest(_message.Message):
    __slots__ = ("op", "input", "indices", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    OP_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    op: int
    input: _types_pb2.NDArrayDescriptor
    indices: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, op: _Optional[int] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., indices: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ScatterNDResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class CreateRandomGeneratorRequest(_message.Message):
    __slots__ = ("method", "filter_parameters", "lease_seconds")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    method: _types_pb2.RandomGeneratorMethod
    filter_parameters: _types_pb2.FilterParameters
    lease_seconds: float
    def __init__(self, method: _Optional[_Union[_types_pb2.RandomGeneratorMethod, str, int]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class CreateRandomGeneratorResponse(_message.Message):
    __slots__ = ("generator_id",)
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    def __init__(self, generator_id: _Optional[str] = ...) -> None: ...

class CreateRandomGeneratorWithSeedRequest(_message.Message):
    __slots__ = ("method", "seed", "filter_parameters", "lease_seconds")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    method: _types_pb2.RandomGeneratorMethod
    seed: int
    filter_parameters: _types_pb2.FilterParameters
    lease_seconds: float
    def __init__(self, method: _Optional[_Union[_types_pb2.RandomGeneratorMethod, str, int]] = ..., seed: _Optional[int] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class CreateRandomGeneratorWithSeedResponse(_message.Message):
    __slots__ = ("generator_id",)
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    def __init__(self, generator_id: _Optional[str] = ...) -> None: ...

class DestroyRandomGeneratorRequest(_message.Message):
    __slots__ = ("generator_id",)
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    def __init__(self, generator_id: _Optional[str] = ...) -> None: ...

class DestroyRandomGeneratorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RandomGeneratorGetStateRequest(_message.Message):
    __slots__ = ("generator_id",)
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    def __init__(self, generator_id: _Optional[str] = ...) -> None: ...

class RandomGeneratorGetStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: bytes
    def __init__(self, state: _Optional[bytes] = ...) -> None: ...

class RandomGeneratorSetStateRequest(_message.Message):
    __slots__ = ("generator_id", "state")
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    state: bytes
    def __init__(self, generator_id: _Optional[str] = ..., state: _Optional[bytes] = ...) -> None: ...

class RandomGeneratorSetStateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RandomFillUniformFloatRequest(_message.Message):
    __slots__ = ("generator_id", "desc", "a", "b", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    desc: _types_pb2.NDArrayDescriptor
    a: float
    b: float
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, generator_id: _Optional[str] = ..., desc: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., a: _Optional[float] = ..., b: _Optional[float] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class RandomFillUniformFloatResponse(_message.Message):
    __slots__ = ("desc",)
    DESC_FIELD_NUMBER: _ClassVar[int]
    desc: _types_pb2.Buffer
    def __init__(self, desc: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class RandomFillNormalFloatRequest(_message.Message):
    __slots__ = ("generator_id", "desc", "mean", "stddev", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STDDEV_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    desc: _types_pb2.NDArrayDescriptor
    mean: float
    stddev: float
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, generator_id: _Optional[str] = ..., desc: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., mean: _Optional[float] = ..., stddev: _Optional[float] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class RandomFillNormalFloatResponse(_message.Message):
    __slots__ = ("desc",)
    DESC_FIELD_NUMBER: _ClassVar[int]
    desc: _types_pb2.Buffer
    def __init__(self, desc: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class RandomFillUniformIntRequest(_message.Message):
    __slots__ = ("generator_id", "desc", "a", "b", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    desc: _types_pb2.NDArrayDescriptor
    a: int
    b: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, generator_id: _Optional[str] = ..., desc: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., a: _Optional[int] = ..., b: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class RandomFillUniformIntResponse(_message.Message):
    __slots__ = ("desc",)
    DESC_FIELD_NUMBER: _ClassVar[int]
    desc: _types_pb2.Buffer
    def __init__(self, desc: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class RandomFillCategoricalFloatRequest(_message.Message):
    __slots__ = ("generator_id", "desc", "probabilities", "log_probabilities", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    LOG_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    generator_id: str
    desc: _types_pb2.NDArrayDescriptor
    probabilities: _types_pb2.NDArrayDescriptor
    log_probabilities: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, generator_id: _Optional[str] = ..., desc: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., probabilities: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., log_probabilities: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class RandomFillCategoricalFloatResponse(_message.Message):
    __slots__ = ("desc",)
    DESC_FIELD_NUMBER: _ClassVar[int]
    desc: _types_pb2.Buffer
    def __init__(self, desc: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class NearestNeighborsGetInfoRequest(_message.Message):
    __slots__ = ("samples", "n_samples", "n_features", "n_neighbors", "sample_number", "data_type", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    N_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    N_FEATURES_FIELD_NUMBER: _ClassVar[int]
    N_NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    samples: _types_pb2.Buffer
    n_samples: int
    n_features: int
    n_neighbors: int
    sample_number: int
    data_type: _types_pb2.DataType
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, samples: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., n_samples: _Optional[int] = ..., n_features: _Optional[int] = ..., n_neighbors: _Optional[int] = ..., sample_number: _Optional[int] = ..., data_type: _Optional[_Union[_types_pb2.DataType, str, int]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class NearestNeighborsGetInfoResponse(_message.Message):
    __slots__ = ("indices", "distances")
    INDICES_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    indices: _types_pb2.Buffer
    distances: _types_pb2.Buffer
    def __init__(self, indices: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., distances: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class FilterApplyTwoInputBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "in_a", "in_b", "out", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_A_FIELD_NUMBER: _ClassVar[int]
    IN_B_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    in_a: _types_pb2.Buffer
    in_b: _types_pb2.Buffer
    out: _types_pb2.Buffer
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., in_a: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., in_b: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class FilterApplyTwoInputBatchResponse(_message.Message):
    __slots__ = ("out",)
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class FilterApplyBackwardTwoInputBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "in_a", "in_b", "out", "out_delta", "compute_in_a_delta", "compute_in_b_delta", "compute_weights_delta", "compute_bias_delta", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_A_FIELD_NUMBER: _ClassVar[int]
    IN_B_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_A_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_IN_B_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    in_a: _types_pb2.Buffer
    in_b: _types_pb2.Buffer
    out: _types_pb2.Buffer
    out_delta: _types_pb2.Buffer
    compute_in_a_delta: bool
    compute_in_b_delta: bool
    compute_weights_delta: bool
    compute_bias_delta: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., in_a: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., in_b: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., compute_in_a_delta: _Optional[bool] = ..., compute_in_b_delta: _Optional[bool] = ..., compute_weights_delta: _Optional[bool] = ..., compute_bias_delta: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class FilterApplyBackwardTwoInputBatchResponse(_message.Message):
    __slots__ = ("in_a_delta", "in_b_delta", "weights_delta", "bias_delta")
    IN_A_DELTA_FIELD_NUMBER: _ClassVar[int]
    IN_B_DELTA_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_a_delta: _types_pb2.Buffer
    in_b_delta: _types_pb2.Buffer
    weights_delta: _types_pb2.Buffer
    bias_delta: _types_pb2.Buffer
    def __init__(self, in_a_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., in_b_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., weights_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class PermuteFilterApplyBackwardBatchRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "out_delta", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    out_delta: _types_pb2.Buffer
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., out_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class PermuteFilterApplyBackwardBatchResponse(_message.Message):
    __slots__ = ("in_delta",)
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class TransposeRequest(_message.Message):
    __slots__ = ("dest", "src", "axis0", "axis1", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    DEST_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    AXIS0_FIELD_NUMBER: _ClassVar[int]
    AXIS1_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.NDArrayDescriptor
    src: _types_pb2.NDArrayDescriptor
    axis0: int
    axis1: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, dest: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., src: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., axis0: _Optional[int] = ..., axis1: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class TransposeResponse(_message.Message):
    __slots__ = ("dest",)
    DEST_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.Buffer
    def __init__(self, dest: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class CopyRequest(_message.Message):
    __slots__ = ("dest", "src", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    DEST_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.NDArrayDescriptor
    src: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, dest: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., src: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class CopyResponse(_message.Message):
    __slots__ = ("dest",)
    DEST_FIELD_NUMBER: _ClassVar[int]
    dest: _types_pb2.Buffer
    def __init__(self, dest: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyReductionRequest(_message.Message):
    __slots__ = ("layer_params", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.ReductionParameters
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.ReductionParameters, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class DirectApplyReductionResponse(_message.Message):
    __slots__ = ("out",)
    OUT_FIELD_NUMBER: _ClassVar[int]
    out: _types_pb2.Buffer
    def __init__(self, out: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyBroadcastMatMulRequest(_message.Message):
    __slots__ = ("trans_a", "trans_b", "alpha", "input_a", "input_b", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    TRANS_A_FIELD_NUMBER: _ClassVar[int]
    TRANS_B_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    INPUT_A_FIELD_NUMBER: _ClassVar[int]
    INPUT_B_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    trans_a: bool
    trans_b: bool
    alpha: float
    input_a: _types_pb2.NDArrayDescriptor
    input_b: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, trans_a: _Optional[bool] = ..., trans_b: _Optional[bool] = ..., alpha: _Optional[float] = ..., input_a: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., input_b: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class DirectApplyBroadcastMatMulResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class MatMulRequest(_message.Message):
    __slots__ = ("trans_a", "trans_b", "alpha", "input_a", "input_b", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    TRANS_A_FIELD_NUMBER: _ClassVar[int]
    TRANS_B_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    INPUT_A_FIELD_NUMBER: _ClassVar[int]
    INPUT_B_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    trans_a: bool
    trans_b: bool
    alpha: float
    input_a: _types_pb2.NDArrayDescriptor
    input_b: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, trans_a: _Optional[bool] = ..., trans_b: _Optional[bool] = ..., alpha: _Optional[float] = ..., input_a: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., input_b: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class MatMulResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class MatMulWorkspaceSizeRequest(_message.Message):
    __slots__ = ("trans_a", "trans_b", "alpha", "input_a", "input_b", "output", "filter_parameters")
    TRANS_A_FIELD_NUMBER: _ClassVar[int]
    TRANS_B_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    INPUT_A_FIELD_NUMBER: _ClassVar[int]
    INPUT_B_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    trans_a: bool
    trans_b: bool
    alpha: float
    input_a: _types_pb2.NDArrayDescriptor
    input_b: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    def __init__(self, trans_a: _Optional[bool] = ..., trans_b: _Optional[bool] = ..., alpha: _Optional[float] = ..., input_a: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., input_b: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ...) -> None: ...

class MatMulWorkspaceSizeResponse(_message.Message):
    __slots__ = ("workspace_size",)
    WORKSPACE_SIZE_FIELD_NUMBER: _ClassVar[int]
    workspace_size: int
    def __init__(self, workspace_size: _Optional[int] = ...) -> None: ...

class CropResizeRequest(_message.Message):
    __slots__ = ("layer_params", "input", "roi", "output", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.CropResizeParameters
    input: _types_pb2.NDArrayDescriptor
    roi: _types_pb2.NDArrayDescriptor
    output: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.CropResizeParameters, _Mapping]] = ..., input: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., roi: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., output: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class CropResizeResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class CropResizeBackwardRequest(_message.Message):
    __slots__ = ("layer_params", "in_delta", "roi", "out_delta", "filter_parameters", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    OUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.CropResizeParameters
    in_delta: _types_pb2.NDArrayDescriptor
    roi: _types_pb2.NDArrayDescriptor
    out_delta: _types_pb2.NDArrayDescriptor
    filter_parameters: _types_pb2.FilterParameters
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.CropResizeParameters, _Mapping]] = ..., in_delta: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., roi: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., out_delta: _Optional[_Union[_types_pb2.NDArrayDescriptor, _Mapping]] = ..., filter_parameters: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class CropResizeBackwardResponse(_message.Message):
    __slots__ = ("in_delta",)
    IN_DELTA_FIELD_NUMBER: _ClassVar[int]
    in_delta: _types_pb2.Buffer
    def __init__(self, in_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ApplyMultiheadAttentionRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "query", "key", "key_mask", "value", "add_to_attention", "backprop_cache", "size_query", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_MASK_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ADD_TO_ATTENTION_FIELD_NUMBER: _ClassVar[int]
    BACKPROP_CACHE_FIELD_NUMBER: _ClassVar[int]
    SIZE_QUERY_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    query: _types_pb2.Buffer
    key: _types_pb2.Buffer
    key_mask: _types_pb2.Buffer
    value: _types_pb2.Buffer
    add_to_attention: _types_pb2.Buffer
    backprop_cache: bool
    size_query: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., query: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., key: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., key_mask: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., add_to_attention: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., backprop_cache: _Optional[bool] = ..., size_query: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ApplyMultiheadAttentionResponse(_message.Message):
    __slots__ = ("output", "backprop_cache", "backprop_cache_size", "workspace_size")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    BACKPROP_CACHE_FIELD_NUMBER: _ClassVar[int]
    BACKPROP_CACHE_SIZE_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_SIZE_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    backprop_cache: _types_pb2.Buffer
    backprop_cache_size: int
    workspace_size: int
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., backprop_cache: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., backprop_cache_size: _Optional[int] = ..., workspace_size: _Optional[int] = ...) -> None: ...

class ApplyMultiheadAttentionBackwardRequest(_message.Message):
    __slots__ = ("filter_id", "batch_size", "output_delta", "backprop_cache", "compute_query_delta", "compute_key_delta", "compute_value_delta", "compute_parameter_deltas", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    BACKPROP_CACHE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_QUERY_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_KEY_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_VALUE_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_PARAMETER_DELTAS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    filter_id: str
    batch_size: int
    output_delta: _types_pb2.Buffer
    backprop_cache: _types_pb2.Buffer
    compute_query_delta: bool
    compute_key_delta: bool
    compute_value_delta: bool
    compute_parameter_deltas: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, filter_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., output_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., backprop_cache: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., compute_query_delta: _Optional[bool] = ..., compute_key_delta: _Optional[bool] = ..., compute_value_delta: _Optional[bool] = ..., compute_parameter_deltas: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class ApplyMultiheadAttentionBackwardResponse(_message.Message):
    __slots__ = ("query_delta", "key_delta", "value_delta", "query_weights_delta", "query_bias_delta", "key_weights_delta", "key_bias_delta", "value_weights_delta", "value_bias_delta", "output_weights_delta", "output_bias_delta", "key_attn_bias_delta", "value_attn_bias_delta")
    QUERY_DELTA_FIELD_NUMBER: _ClassVar[int]
    KEY_DELTA_FIELD_NUMBER: _ClassVar[int]
    VALUE_DELTA_FIELD_NUMBER: _ClassVar[int]
    QUERY_WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    QUERY_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    KEY_WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    KEY_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    VALUE_WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    VALUE_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WEIGHTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    KEY_ATTN_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    VALUE_ATTN_BIAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    query_delta: _types_pb2.Buffer
    key_delta: _types_pb2.Buffer
    value_delta: _types_pb2.Buffer
    query_weights_delta: _types_pb2.Buffer
    query_bias_delta: _types_pb2.Buffer
    key_weights_delta: _types_pb2.Buffer
    key_bias_delta: _types_pb2.Buffer
    value_weights_delta: _types_pb2.Buffer
    value_bias_delta: _types_pb2.Buffer
    output_weights_delta: _types_pb2.Buffer
    output_bias_delta: _types_pb2.Buffer
    key_attn_bias_delta: _types_pb2.Buffer
    value_attn_bias_delta: _types_pb2.Buffer
    def __init__(self, query_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., key_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., value_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., query_weights_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., query_bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., key_weights_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., key_bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., value_weights_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., value_bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., output_weights_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., output_bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., key_attn_bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., value_attn_bias_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class ComputeLSTMTrainingCacheCapacityRequest(_message.Message):
    __slots__ = ("layer_params", "filter_params")
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.LSTMParameters
    filter_params: _types_pb2.FilterParameters
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.LSTMParameters, _Mapping]] = ..., filter_params: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ...) -> None: ...

class ComputeLSTMTrainingCacheCapacityResponse(_message.Message):
    __slots__ = ("capacity",)
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    capacity: int
    def __init__(self, capacity: _Optional[int] = ...) -> None: ...

class DirectApplyLSTMBatchTrainingCachingRequest(_message.Message):
    __slots__ = ("layer_params", "filter_params", "training_cache_capacity", "seed", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CACHE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.LSTMParameters
    filter_params: _types_pb2.FilterParameters
    training_cache_capacity: int
    seed: int
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.LSTMParameters, _Mapping]] = ..., filter_params: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., training_cache_capacity: _Optional[int] = ..., seed: _Optional[int] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class DirectApplyLSTMBatchTrainingCachingResponse(_message.Message):
    __slots__ = ("output", "hidden", "cell_state", "training_cache")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    CELL_STATE_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CACHE_FIELD_NUMBER: _ClassVar[int]
    output: _types_pb2.Buffer
    hidden: _types_pb2.Buffer
    cell_state: _types_pb2.Buffer
    training_cache: _types_pb2.Buffer
    def __init__(self, output: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., hidden: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., cell_state: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., training_cache: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyLSTMBatchBackwardRequest(_message.Message):
    __slots__ = ("layer_params", "filter_params", "output_delta", "hidden_delta", "cell_state_delta", "training_cache", "training_cache_capacity", "compute_input_delta", "compute_state_deltas", "compute_weights_deltas", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Buffer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...
    LAYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_DELTA_FIELD_NUMBER: _ClassVar[int]
    CELL_STATE_DELTA_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CACHE_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CACHE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_INPUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_STATE_DELTAS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_WEIGHTS_DELTAS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    layer_params: _types_pb2.LSTMParameters
    filter_params: _types_pb2.FilterParameters
    output_delta: _types_pb2.Buffer
    hidden_delta: _types_pb2.Buffer
    cell_state_delta: _types_pb2.Buffer
    training_cache: _types_pb2.Buffer
    training_cache_capacity: int
    compute_input_delta: bool
    compute_state_deltas: bool
    compute_weights_deltas: bool
    outputs: _containers.MessageMap[str, _types_pb2.Buffer]
    def __init__(self, layer_params: _Optional[_Union[_types_pb2.LSTMParameters, _Mapping]] = ..., filter_params: _Optional[_Union[_types_pb2.FilterParameters, _Mapping]] = ..., output_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., hidden_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., cell_state_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., training_cache: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., training_cache_capacity: _Optional[int] = ..., compute_input_delta: _Optional[bool] = ..., compute_state_deltas: _Optional[bool] = ..., compute_weights_deltas: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Buffer]] = ...) -> None: ...

class LSTMGateDeltas(_message.Message):
    __slots__ = ("iw", "iw_upper", "hw", "cw", "b")
    IW_FIELD_NUMBER: _ClassVar[int]
    IW_UPPER_FIELD_NUMBER: _ClassVar[int]
    HW_FIELD_NUMBER: _ClassVar[int]
    CW_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    iw: _types_pb2.Buffer
    iw_upper: _types_pb2.Buffer
    hw: _types_pb2.Buffer
    cw: _types_pb2.Buffer
    b: _types_pb2.Buffer
    def __init__(self, iw: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., iw_upper: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., hw: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., cw: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., b: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ...) -> None: ...

class DirectApplyLSTMBatchBackwardResponse(_message.Message):
    __slots__ = ("input_delta", "hidden_delta", "cell_state_delta", "input_gate", "forget_gate", "candidate_gate", "output_gate")
    INPUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_DELTA_FIELD_NUMBER: _ClassVar[int]
    CELL_STATE_DELTA_FIELD_NUMBER: _ClassVar[int]
    INPUT_GATE_FIELD_NUMBER: _ClassVar[int]
    FORGET_GATE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_GATE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_GATE_FIELD_NUMBER: _ClassVar[int]
    input_delta: _types_pb2.Buffer
    hidden_delta: _types_pb2.Buffer
    cell_state_delta: _types_pb2.Buffer
    input_gate: LSTMGateDeltas
    forget_gate: LSTMGateDeltas
    candidate_gate: LSTMGateDeltas
    output_gate: LSTMGateDeltas
    def __init__(self, input_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., hidden_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., cell_state_delta: _Optional[_Union[_types_pb2.Buffer, _Mapping]] = ..., input_gate: _Optional[_Union[LSTMGateDeltas, _Mapping]] = ..., forget_gate: _Optional[_Union[LSTMGateDeltas, _Mapping]] = ..., candidate_gate: _Optional[_Union[LSTMGateDeltas, _Mapping]] = ..., output_gate: _Optional[_Union[LSTMGateDeltas, _Mapping]] = ...) -> None: ...
