"""JSON and binary bodies: a request body to its message (tensors as views over a binary body),
a response to proto3 JSON with result Buffers as base64 `data` or `values` lists in their wire
data type."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Callable, Iterable, Optional

import numpy as np
from fastapi import Request
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from bnns.errors import DeadlineError, InvalidArgumentError, NotFoundError, ResourceExhaustedError
from bnns.kernels import layout

from .. import openapi_doc, wire
from ..core import Core
from .routes import _BUFFER, RestRoute

log = logging.getLogger("bnns.server")


# --------------------------------------------------------------------------------- decoding

async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, total = [], 0
    stream = request.stream().__aiter__()
    wait = getattr(request.app.state, "body_seconds", None)
    while True:
        try:   # each piece of the body must come in time: a stalled upload does not hold the door
            chunk = await asyncio.wait_for(stream.__anext__(), wait)
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise DeadlineError(f"the request body stalled: no data for {wait} s (http_body_seconds)") from None
        total += len(chunk)
        if total > limit:
            raise _too_large(total, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ResourceExhaustedError:
    return ResourceExhaustedError(f"request body of {size} bytes or more is over the {limit}-byte limit "
                                  "(max_message_bytes; max_json_bytes for a JSON body, whose numbers cost "
                                  "far more parsed: send large tensors as application/x-protobuf or base64 "
                                  "data); send a smaller batch", reason="REQUEST_TOO_LARGE")


def _decode(route: RestRoute, body: bytes, binary: bool):
    """(request message, {Buffer path: tensor bytes kept outside it})."""
    message = route.request_cls()
    name = route.request_cls.DESCRIPTOR.full_name
    if binary:
        try:
            return wire.split(body, route.request_cls)
        except DecodeError as error:
            raise InvalidArgumentError(f"the application/x-protobuf body is not a serialized {name}: {error}",
                                       reason="MALFORMED_REQUEST") from None
    if not body.strip():
        return message, {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidArgumentError(f"the request body is not valid JSON: {error}", reason="MALFORMED_REQUEST") from None
    if not isinstance(document, dict):
        raise InvalidArgumentError(f"the request body must be a JSON object (the proto3 JSON mapping of {name}), "
                                   f"not a {type(document).__name__}", reason="MALFORMED_REQUEST")
    conflict = openapi_doc.naming_conflict(document, route.request_cls.DESCRIPTOR)
    if conflict:
        raise InvalidArgumentError(f"the request body is not a valid {name}: {conflict}", reason="MALFORMED_REQUEST")
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=False)
    except (json_format.ParseError, RecursionError, ValueError, TypeError, OverflowError, SystemError) as error:
        # json_format lets a few conversions escape unwrapped (1e400 for an enum: OverflowError; a lone
        # surrogate in a string: SystemError from the C extension).
        raise InvalidArgumentError(f"the request body is not a valid {name}: {error}", reason="MALFORMED_REQUEST") from None
    return message, {}


def _bind_path_field(message, field: str, path_value: str) -> None:
    given = getattr(message, field)
    if given and given != path_value:
        raise InvalidArgumentError(f"{field} {given!r} in the body differs from {path_value!r} in the "
                                   "path; leave it out of the body")
    setattr(message, field, path_value)


def _media_type(header: Optional[str]) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _query_flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw in ("true", "false"):   # the OpenAPI document says boolean: exactly its two spellings
        return raw == "true"
    raise InvalidArgumentError(f"query parameter {name}={raw!r} must be true or false")


def _sends_values(message) -> bool:
    """Whether any Buffer in ``message`` uses `values` (walks message fields only: no tensor copies)."""
    if message.DESCRIPTOR.full_name == _BUFFER:
        return message.WhichOneof("contents") == "values"
    for field in message.DESCRIPTOR.fields:
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        if field.is_repeated:
            if any(_sends_values(item) for item in getattr(message, field.name)):
                return True
        elif message.HasField(field.name) and _sends_values(getattr(message, field.name)):
            return True
    return False


# --------------------------------------------------------------------------------- encoding

def _out_dtype_lookup(core: Core, message, tenant: str) -> Callable[[], np.dtype]:
    """The dtype of an `out` result: the filter's output descriptor type (Float32 or Float16)."""
    def out_dtype() -> np.dtype:
        filter_id, output_desc = getattr(message, "filter_id", ""), None
        try:
            if filter_id:
                output_desc = getattr(core.registry.get(filter_id, tenant).filter, "output_desc", None)
        except NotFoundError:   # destroyed since the call returned
            pass
        data_type = getattr(output_desc, "data_type", None)
        return np.dtype("<f4") if data_type is None else layout.FLOAT_DTYPES.get(data_type, np.dtype("<f4"))
    return out_dtype


def render_json(response, request, out_dtype: Optional[Callable[[], np.dtype]] = None) -> dict:
    """``response`` as its proto3 JSON mapping; with ``out_dtype``, result Buffers as `values`."""
    document = json_format.MessageToDict(response, preserving_proto_field_name=True)
    if out_dtype is None:
        return document
    for field in response.DESCRIPTOR.fields:
        if field.message_type is None or field.message_type.full_name != _BUFFER:
            continue
        pairs: Iterable[tuple]
        if field.is_repeated:
            pairs = zip(getattr(response, field.name), document.get(field.name, []))
        elif response.HasField(field.name):
            pairs = [(getattr(response, field.name), document[field.name])]
        else:
            continue
        for buffer, entry in pairs:
            if buffer.WhichOneof("contents") == "data":
                dtype = _result_dtype(field.name, request, out_dtype)
                entry.pop("data", None)
                entry["values"] = _json_numbers(np.frombuffer(buffer.data, dtype))
    for field in response.DESCRIPTOR.fields:    # a group of gradients (an LSTM gate's): Float32 values too
        if (field.message_type is not None and not field.is_repeated and field.name in document
                and any(f.message_type is not None and f.message_type.full_name == _BUFFER
                        for f in field.message_type.fields)):
            document[field.name] = render_json(getattr(response, field.name), request, lambda: np.dtype("<f4"))
    return document


def _result_dtype(field: str, request, out_dtype: Callable[[], np.dtype]) -> np.dtype:
    named = request.DESCRIPTOR.fields_by_name.get(field)
    if named is not None and named.message_type is not None and named.message_type.name == "NDArrayDescriptor":
        # A filter-less function's result takes the type of the request's descriptor of its name.
        first = getattr(request, field)
        first = first[0] if named.is_repeated and len(first) else first
        dtype = layout.ALL_DTYPES.get(getattr(first, "data_type", 0) or layout.DTYPE_FLOAT32, np.dtype("<f4"))
        return np.dtype("u1") if dtype == np.dtype(bool) else dtype     # Boolean as 0 / 1 numbers
    if field == "out" and request.DESCRIPTOR.fields_by_name.get("layer_params") is not None:
        # DirectApplyReduction's result is laid out as its layer_params.o_desc (issue 12, part A).
        return layout.FLOAT_DTYPES.get(request.layer_params.o_desc.data_type or layout.DTYPE_FLOAT32, np.dtype("<f4"))
    if field == "out":
        return out_dtype()
    if field == "indices":
        data_type = getattr(request, "indices_data_type", 0) or layout.DTYPE_UINT64
        return layout.INDEX_DTYPES.get(data_type, layout.INDEX_DTYPES[layout.DTYPE_UINT64])
    return np.dtype("<f4")   # gradients and statistics travel as Float32


def _json_numbers(array: np.ndarray) -> list:
    values = array.tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        values = [v if math.isfinite(v) else "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"
                  for v in values]
    return values
