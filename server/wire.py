"""Tensors in and out of serialized messages without the generated code's copies.

The generated protobuf classes copy a ``bytes`` field when a message is parsed and again each
time the field is read, and copy it twice more to serialize it. For a 16 MiB tensor those copies
cost more than most kernels. The wire format is simple and documented (a message is a sequence
of ``tag, value`` fields; ``bytes`` and sub-messages are ``tag, length, payload``), so the two
directions that carry tensors are done here:

* ``split(raw, message_class)``: the tensors of a received message as memoryviews over the
  received bytes (no copy), and the message itself parsed without them (small).
* ``join(message, tensors)``: a message serialized with tensors spliced into its Buffers: each
  tensor's bytes are copied exactly once, into the outgoing bytes.

Tensors are the ``data`` field of ``bnns.v1.Buffer``; a Buffer is named by its path in the
message, e.g. ``in``, ``in[1]``, ``out_delta``, ``parameters[0].values``,
``convolution.w_desc.data``. The serialized messages a CallSequence carries are handled the
same way: a ``bnns.v1.SequencedCall``'s ``request``, named by the SequencedCall's path
(``calls[3]``), and the entries of ``CallSequenceResponse.responses`` (``responses[3]``): a
sequence's calls and responses are read as views of the bytes received, their tensors as views
of those, and each is copied once into the bytes sent. The .proto stays the contract: the bytes
produced and accepted are exactly the messages it defines.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Tuple, Union

if TYPE_CHECKING:
    import numpy as np
    from typing_extensions import Buffer    # anything exposing a buffer: bytes, memoryview, ndarray

from google.protobuf import descriptor as descriptor_mod
from google.protobuf.message import DecodeError

from bnns.v1 import service_pb2, types_pb2

BUFFER = types_pb2.Buffer.DESCRIPTOR
_LEN = 2                                   # wire type of bytes, strings and sub-messages
# The bytes fields carried outside the parsed message (message full name -> field): a Buffer's
# tensor, a SequencedCall's serialized request, and a CallSequence's serialized responses (a
# repeated field: its entries are named "responses[k]").
_PAYLOADS: Dict[str, Any] = {BUFFER.full_name: BUFFER.fields_by_name["data"],
             service_pb2.SequencedCall.DESCRIPTOR.full_name: service_pb2.SequencedCall.DESCRIPTOR.fields_by_name["request"],
             service_pb2.CallSequenceResponse.DESCRIPTOR.full_name:
                 service_pb2.CallSequenceResponse.DESCRIPTOR.fields_by_name["responses"]}

# Below this size the generated parser's copies cost less than a walk in Python.
SPLIT_MIN_BYTES = 64 << 10

Chunk = Union[bytes, memoryview]


def split(raw: Union[bytes, bytearray, memoryview], message_class) -> Tuple[Any, Dict[str, memoryview]]:
    """(message without its tensor bytes, {Buffer path: memoryview of its data over ``raw``}).

    Raises DecodeError for bytes that are not a well-formed ``message_class``."""
    view = memoryview(raw)
    if view.nbytes < SPLIT_MIN_BYTES:      # bytes (what grpc hands over) are parsed as they are, not copied
        return message_class.FromString(raw if isinstance(raw, bytes) else bytes(view)), {}
    tensors: Dict[str, memoryview] = {}
    pieces = _strip(view, 0, view.nbytes, message_class.DESCRIPTOR, "", tensors)
    message = message_class.FromString(b"".join(pieces) if tensors else bytes(view))
    return message, tensors


def join(message, tensors: Mapping[str, Union[Buffer, np.ndarray]]) -> bytes:
    """``message`` serialized, with ``tensors[path]`` (anything exposing a contiguous buffer: a
    NumPy array, bytes) as the ``data`` of the Buffer (or the ``request`` of the SequencedCall)
    at each path. Each such Buffer must be present in ``message`` (set, even if empty) and must
    not carry data of its own. Small tensors are set on the message itself (which this changes)
    where that is cheaper."""
    if not tensors:
        return message.SerializeToString()
    wanted = {path: memoryview(array).cast("B")   # type: ignore[arg-type]  # numpy's stubs: ndarray is a Buffer on 3.12+ only
              for path, array in tensors.items()}
    if sum(view.nbytes for view in wanted.values()) < SPLIT_MIN_BYTES:
        for path, view in wanted.items():
            if not set_payload(message, path, view.tobytes(), create=False):
                raise ValueError(f"no Buffer at {path!r} in the {message.DESCRIPTOR.full_name} to carry it")
        return message.SerializeToString()
    serialized = message.SerializeToString()
    prefixes = {path[:end] for path in wanted for end in _prefix_ends(path)}
    view = memoryview(serialized)
    pieces = _splice(view, 0, view.nbytes, message.DESCRIPTOR, "", wanted, prefixes)
    if wanted:
        raise ValueError(f"no Buffer at {sorted(wanted)} in the {message.DESCRIPTOR.full_name} to carry it")
    return b"".join(pieces)


_PATH_PART = re.compile(r"^([a-z_0-9]+)(?:\[(\d+)\])?$")


def set_payload(message, path: str, data: bytes, create: bool = True) -> bool:
    """Put ``data`` at ``path`` in ``message``: the data of a Buffer (created, with ``create``),
    the request of a SequencedCall, or the next entry of the message's own repeated payload field
    (CallSequenceResponse: "responses[k]", k the entries it has). False when ``path`` names none
    of these."""
    own = _PAYLOADS.get(message.DESCRIPTOR.full_name)
    if own is not None and is_repeated(own):
        entries = getattr(message, own.name)
        if path != f"{own.name}[{len(entries)}]":
            return False
        entries.append(data)
        return True
    holder = buffer_at(message, path, create=create)
    if holder is None or holder.DESCRIPTOR.full_name not in _PAYLOADS:
        return False
    setattr(holder, _PAYLOADS[holder.DESCRIPTOR.full_name].name, data)
    return True


def buffer_at(message, path: str, create: bool = False):
    """The Buffer at ``path`` ("in", "in_delta[1]", "parameters[0].values") in ``message``
    (or the SequencedCall: "calls[2]"); None when absent (or created, with ``create``; repeated
    entries must exist already)."""
    if path.isidentifier():                  # a field of the message itself: most paths, every call
        if path not in message.DESCRIPTOR.fields_by_name or not create and not message.HasField(path):
            return None
        return getattr(message, path)
    node = message
    for part in path.split("."):
        match = _PATH_PART.match(part)
        if match is None or match.group(1) not in node.DESCRIPTOR.fields_by_name:
            return None
        field, index = match.group(1), match.group(2)
        if index is not None:
            items = getattr(node, field)
            if int(index) >= len(items):
                return None
            node = items[int(index)]
        else:
            if not create and not node.HasField(field):
                return None
            node = getattr(node, field)
    return node


# --------------------------------------------------------------------------------- the walks

def _length_fields(view: memoryview, start: int, end: int, message: descriptor_mod.Descriptor, path: str):
    """The length-delimited fields in view[start:end], as (field start, field number, payload
    start, payload end, the path of the sub-message when it may hold a Buffer else None)."""
    nested = _buffer_fields(message)
    seen: Dict[int, int] = {}
    pos = start
    while pos < end:
        field_start = pos
        number, wire_type, pos = _tag(view, pos, end)
        if wire_type != _LEN:
            pos = _skip(view, pos, end, wire_type)
            continue
        length, pos = _varint(view, pos, end)
        payload_end = pos + length
        if payload_end > end:
            raise DecodeError("truncated length-delimited field")
        child = None
        if number in nested:
            index = seen.get(number, 0)
            seen[number] = index + 1
            child = _child_path(path, nested[number], index)
        yield field_start, number, pos, payload_end, child
        pos = payload_end


def _strip(view: memoryview, start: int, end: int, message: descriptor_mod.Descriptor, path: str,
           tensors: Dict[str, memoryview]) -> List[Chunk]:
    """The fields in view[start:end] without Buffer data (recorded in ``tensors``)."""
    pieces: List[Chunk] = []
    run = start                           # start of the current run of fields copied as they are
    payload = _PAYLOADS.get(message.full_name)
    entries = 0                           # of a repeated payload field, so far
    for field_start, number, pos, payload_end, child in _length_fields(view, start, end, message, path):
        if payload is not None and number == payload.number:
            if is_repeated(payload):
                tensors[_child_path(path, payload, entries)] = view[pos:payload_end]
                entries += 1
            else:
                tensors[path] = view[pos:payload_end]
            pieces.append(view[run:field_start])
            run = payload_end
        elif child is not None:
            found = len(tensors)
            inner = _strip(view, pos, payload_end, _buffer_fields(message)[number].message_type,  # type: ignore[arg-type]
                           child, tensors)     # (_buffer_fields holds message-typed fields only: never None)
            if len(tensors) != found:     # something was taken out: re-frame with the new length
                pieces.append(view[run:field_start])
                pieces.append(_encode_tag(number) + _encode_varint(sum(len(p) for p in inner)))
                pieces.extend(inner)
                run = payload_end
    pieces.append(view[run:end])
    return pieces


def _splice(view: memoryview, start: int, end: int, message: descriptor_mod.Descriptor, path: str,
            wanted: Dict[str, memoryview], prefixes: set) -> List[Chunk]:
    """The fields in view[start:end] with wanted tensors added to the Buffers at their paths."""
    pieces: List[Chunk] = []
    run = start
    payload = _PAYLOADS.get(message.full_name)
    entries = 0                           # of a repeated payload field already in the message
    for field_start, number, pos, payload_end, child in _length_fields(view, start, end, message, path):
        if payload is not None and number == payload.number:
            entries += 1
        if child in prefixes:
            inner = _splice(view, pos, payload_end,   # (_buffer_fields holds message-typed fields only)
                            _buffer_fields(message)[number].message_type, child, wanted,  # type: ignore[arg-type]
                            prefixes)
            pieces.append(view[run:field_start])
            pieces.append(_encode_tag(number) + _encode_varint(sum(len(p) for p in inner)))
            pieces.extend(inner)
            run = payload_end
    pieces.append(view[run:end])
    if payload is not None and is_repeated(payload):     # entries appended in order after those there
        while _child_path(path, payload, entries) in wanted:
            data = wanted.pop(_child_path(path, payload, entries))
            pieces.append(_encode_tag(payload.number) + _encode_varint(data.nbytes))
            pieces.append(data)
            entries += 1
    elif payload is not None and path in wanted:
        data = wanted.pop(path)
        pieces.append(_encode_tag(payload.number) + _encode_varint(data.nbytes))
        pieces.append(data)
    return pieces


@functools.lru_cache(maxsize=None)
def _buffer_fields(message: descriptor_mod.Descriptor) -> Dict[int, descriptor_mod.FieldDescriptor]:
    """The message-typed fields of ``message`` that are, or may contain, a Buffer."""
    return {f.number: f for f in message.fields if f.message_type is not None and _holds_buffer(f.message_type)}


@functools.lru_cache(maxsize=None)
def _holds_buffer(message: descriptor_mod.Descriptor, _seen: frozenset = frozenset()) -> bool:
    if message.full_name in _PAYLOADS:
        return True
    if message.full_name in _seen:
        return False
    seen = _seen | {message.full_name}
    return any(f.message_type is not None and _holds_buffer(f.message_type, seen) for f in message.fields)


def _child_path(path: str, field: descriptor_mod.FieldDescriptor, index: int) -> str:
    name = f"{path}.{field.name}" if path else field.name
    return f"{name}[{index}]" if is_repeated(field) else name


def is_repeated(field) -> bool:
    flag = getattr(field, "is_repeated", None)        # protobuf >= 6; older ones only have label
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def _prefix_ends(path: str):
    """Ends of every ancestor path of ``path`` and of ``path`` itself ("a.b[0].c" -> "a", "a.b[0]", ...)."""
    for k, char in enumerate(path):
        if char == ".":
            yield k
    yield len(path)


def _tag(view: memoryview, pos: int, end: int) -> Tuple[int, int, int]:
    key, pos = _varint(view, pos, end)
    number, wire_type = key >> 3, key & 7
    if number == 0:
        raise DecodeError("field number 0")
    return number, wire_type, pos


def _skip(view: memoryview, pos: int, end: int, wire_type: int) -> int:
    if wire_type == 0:
        _, pos = _varint(view, pos, end)
    elif wire_type == 1:
        pos += 8
    elif wire_type == 5:
        pos += 4
    else:                                  # groups (3, 4) are not proto3; 6, 7 do not exist
        raise DecodeError(f"unexpected wire type {wire_type}")
    if pos > end:
        raise DecodeError("truncated field")
    return pos


def _varint(view: memoryview, pos: int, end: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise DecodeError("truncated or overlong varint")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _encode_tag(number: int) -> bytes:
    return _encode_varint((number << 3) | _LEN)


# The most calls one CallSequence carries (the server refuses more; the SDK sends a full queue).
MAX_SEQUENCE_CALLS = 256


def rpc_method_name(rpc: str) -> str:
    """'FilterApplyBatch' -> 'filter_apply_batch', 'ComputeLSTMTrainingCacheCapacity' ->
    'compute_lstm_training_cache_capacity': the Core method serving an RPC."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", rpc).lower()
