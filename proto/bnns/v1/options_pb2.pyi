from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
APPLE_NAME_FIELD_NUMBER: _ClassVar[int]
apple_name: _descriptor.FieldDescriptor
DEFAULT_FIELD_NUMBER: _ClassVar[int]
default: _descriptor.FieldDescriptor
APPLE_STRUCT_FIELD_NUMBER: _ClassVar[int]
apple_struct: _descriptor.FieldDescriptor
APPLE_FIELD_FIELD_NUMBER: _ClassVar[int]
apple_field: _descriptor.FieldDescriptor
SDK_REQUIRED_FIELD_NUMBER: _ClassVar[int]
sdk_required: _descriptor.FieldDescriptor
TRAINABLE_FIELD_NUMBER: _ClassVar[int]
trainable: _descriptor.FieldDescriptor
OPERAND_TYPE_FIELD_NUMBER: _ClassVar[int]
operand_type: _descriptor.FieldDescriptor
ZERO_MEANS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
zero_means_default: _descriptor.FieldDescriptor
ENTRIES_FIELD_NUMBER: _ClassVar[int]
entries: _descriptor.FieldDescriptor

class AppleStruct(_message.Message):
    __slots__ = ("name", "doc", "fields", "without", "flatten", "defaults", "base", "unsent", "init_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOC_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_FIELD_NUMBER: _ClassVar[int]
    FLATTEN_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    UNSENT_FIELD_NUMBER: _ClassVar[int]
    INIT_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    doc: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    without: _containers.RepeatedScalarFieldContainer[str]
    flatten: str
    defaults: _containers.RepeatedScalarFieldContainer[str]
    base: str
    unsent: _containers.RepeatedScalarFieldContainer[str]
    init_only: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., doc: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., without: _Optional[_Iterable[str]] = ..., flatten: _Optional[str] = ..., defaults: _Optional[_Iterable[str]] = ..., base: _Optional[str] = ..., unsent: _Optional[_Iterable[str]] = ..., init_only: _Optional[_Iterable[str]] = ...) -> None: ...
