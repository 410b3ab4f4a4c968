"""An honest OpenAPI document: JSON Schemas generated from the proto messages, and Allow headers
that name the methods a path really has.

Request and response bodies are the proto3 JSON mapping of bnns.v1 messages, so their schemas
are derived from the message descriptors (never written by hand): field names as in the .proto
or in lowerCamel (both are accepted), at most one field of a oneof, enums by name or number,
64-bit integers as numbers or decimal strings, floats as numbers or "NaN" / "Infinity" /
"-Infinity", bytes as base64, maps as objects, google.protobuf.ListValue as nested number lists,
and null for "unset" everywhere. ``describe_messages`` puts one schema per message under
components/schemas and points every body FastAPI described as ``{"type": "object", "title":
<message>}`` at it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Dict, MutableMapping, Optional

from google.protobuf import descriptor as d
from google.protobuf import descriptor_pool
from starlette.routing import Match

from bnns.kernels.errors import InternalError, given

from .wire import is_repeated

_INT_RANGES = {
    d.FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), d.FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), d.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), d.FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), d.FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), d.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_NUMBER = {"oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
_ANY_JSON: dict = {}                       # google.protobuf.Value: any JSON value
_NUMBERS = {"type": "array", "items": {"anyOf": [{"type": "number"}, {"$ref": "#/components/schemas/NumberList"},
                                                 {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}}
_WELL_KNOWN = {"google.protobuf.ListValue": {"$ref": "#/components/schemas/NumberList"},
               "google.protobuf.Value": _ANY_JSON, "google.protobuf.Struct": {"type": "object"}}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _scalar(field: d.FieldDescriptor) -> dict:
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        digits = r"^-?[0-9]+$" if low < 0 else r"^[0-9]+$"
        return {"oneOf": [{"type": "integer", "minimum": low, "maximum": high},
                          {"type": "string", "pattern": digits}]}
    if kind in (d.FieldDescriptor.TYPE_DOUBLE, d.FieldDescriptor.TYPE_FLOAT):
        return dict(_NUMBER)
    if kind == d.FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == d.FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if kind == d.FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64",
                "pattern": r"^[A-Za-z0-9+/_-]*={0,2}$"}
    if kind == d.FieldDescriptor.TYPE_ENUM:
        enum = given(field.enum_type, field.full_name, error=InternalError)
        return {"enum": [v.name for v in enum.values] + [v.number for v in enum.values],
                "description": f"enum {enum.full_name}, by name or number"}
    raise ValueError(f"no JSON schema for field type {kind} of {field.full_name}")


def _value(field: d.FieldDescriptor, schemas: Dict[str, dict]) -> dict:
    if field.type in (d.FieldDescriptor.TYPE_MESSAGE, d.FieldDescriptor.TYPE_GROUP):
        message = given(field.message_type, field.full_name, error=InternalError)
        name = message.full_name
        if name in _WELL_KNOWN:
            return _WELL_KNOWN[name]
        message_schema(message, schemas)
        return {"$ref": f"#/components/schemas/{name}"}
    return _scalar(field)


def message_schema(message: d.Descriptor, schemas: Dict[str, dict]) -> dict:
    """The schema of ``message``'s proto3 JSON form, added (with every message it uses) to
    ``schemas`` by full name."""
    if message.full_name in schemas:
        return schemas[message.full_name]
    schema: dict = {"type": "object", "title": message.full_name, "additionalProperties": False, "properties": {},
                    "description": "Each field is named as in the .proto or in lowerCamelCase, not both."}
    schemas[message.full_name] = schema
    for field in message.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            keys = {"pattern": r"^-?[0-9]+$"} if key.type != d.FieldDescriptor.TYPE_STRING else {}
            prop = {"type": "object", "additionalProperties": _value(value, schemas),
                    **({"propertyNames": keys} if keys else {})}
        elif is_repeated(field):
            prop = {"type": "array", "items": _value(field, schemas)}
        else:
            prop = _value(field, schemas)
        for name in {field.name, field.json_name}:
            schema["properties"][name] = _nullable(prop)
    # A oneof holds one member: no two of its fields may be named, under either spelling. (A field
    # named under both of its own spellings is left to the parser, which refuses two values for
    # one field: spelling that out too would make the schema a product of alternatives no
    # generator (Schemathesis's canonicalizer) can expand.) The REST door enforces this rule with
    # ``naming_conflict`` before parsing, so the schema and the server agree on null members too.
    exclusive = []
    for oneof in message.oneofs:
        pairs = [[a, b] for f, g in itertools.combinations(oneof.fields, 2)
                 for a in sorted({f.name, f.json_name}) for b in sorted({g.name, g.json_name})]
        if pairs:
            exclusive.append({"not": {"anyOf": [{"required": p} for p in pairs]}})
    if exclusive:
        schema["allOf"] = exclusive
    return schema


def naming_conflict(document, message: d.Descriptor, path: str = "") -> Optional[str]:
    """Where the proto3 JSON ``document`` names one field of ``message`` (or of a message inside
    it) under both of its names, or two members of one oneof; None if nowhere. The schema and its
    description forbid both; json_format lets the last of two spellings win and skips a null
    oneof member, so without this check the server would take what its document refuses."""
    if not isinstance(document, dict):
        return None
    for field in message.fields:
        if field.name != field.json_name and field.name in document and field.json_name in document:
            return f"{path or message.name}: {field.name!r} and {field.json_name!r} are one field; give it once"
    for oneof in message.oneofs:
        named = [key for f in oneof.fields for key in sorted({f.name, f.json_name}) if key in document]
        members = {message.fields_by_name.get(key) or message.fields_by_camelcase_name.get(key) for key in named}
        if len(members) > 1:
            return f"{path or message.name}: {' and '.join(repr(k) for k in named)} are members of one oneof ({oneof.name}); give at most one"
    for field in message.fields:
        nested = field.message_type
        if nested is None or nested.full_name in _WELL_KNOWN:
            continue
        if nested.GetOptions().map_entry:          # a map: its values are the messages, if any
            nested = nested.fields_by_name["value"].message_type
            if nested is None:
                continue
        for key in {field.name, field.json_name} & document.keys():
            value = document[key]
            items = value.values() if isinstance(value, dict) and field.message_type is not nested else \
                value if isinstance(value, list) else [value]
            for item in items:
                problem = naming_conflict(item, nested, f"{path}.{key}" if path else key)
                if problem:
                    return problem
    return None


def describe_messages(document: dict, pool: Optional[descriptor_pool.DescriptorPool] = None) -> dict:
    """Replace every ``{"type": "object", "title": <message>}`` body schema in ``document`` by a
    $ref to the message's generated schema under components/schemas."""
    pool = pool or descriptor_pool.Default()
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    generated: Dict[str, dict] = {"NumberList": _NUMBERS}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            bodies = [operation.get("requestBody", {})] + list(operation.get("responses", {}).values())
            for body in bodies:
                media = body.get("content", {}).get("application/json")
                title = (media or {}).get("schema", {}).get("title", "")
                if not title or "." not in title:
                    continue
                try:
                    message = pool.FindMessageTypeByName(title)
                except KeyError:
                    continue
                message_schema(message, generated)
                media["schema"] = {"$ref": f"#/components/schemas/{title}"}
    schemas.update(generated)
    return document


# Which operation creates each kind of handle, and where its reply holds the id: OpenAPI links
# from it to every operation that takes that handle in its path (a KServe V2 model name may be a
# filter id), so a client generator or a stateful tester can chain create -> use -> destroy.
_HANDLE_SOURCES = {
    "filter_id": ("CreateFilter", "$response.body#/filter_id", {"filter_id": "/v1/filters/", "name": "/v2/models/"}),
    "tensor_id": ("CreateTensor", "$response.body#/info/tensor_id", {"tensor_id": "/v1/tensors/"}),
}


def link_handles(document: dict) -> dict:
    """Add ``links`` to the 200 response of each creating operation (see _HANDLE_SOURCES)."""
    operations = [(path, operation) for path, item in document.get("paths", {}).items()
                  for operation in item.values() if isinstance(operation, dict)]
    by_id = {operation.get("operationId"): operation for _, operation in operations}
    for handle, (creator_id, expression, parameters) in _HANDLE_SOURCES.items():
        creator = by_id.get(creator_id)
        if creator is None or "200" not in creator.get("responses", {}):
            continue
        links = {}
        for path, operation in operations:
            takes = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"
                     and path.startswith(parameters.get(p.get("name"), "\0"))]
            if operation is creator or not takes:
                continue
            other = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path" and p["name"] not in takes]
            if other:                    # e.g. a model version: not something the creator's reply holds
                continue
            links[operation["operationId"]] = {"operationId": operation["operationId"],
                                               "parameters": {name: expression for name in takes},
                                               "description": f"the {handle} the reply names"}
        creator["responses"]["200"]["links"] = links
    return document


def allowed_methods(app, scope: MutableMapping[str, Any]) -> list:
    """The methods some route of ``app`` serves at ``scope``'s path, for a 405's Allow header.
    A filter id never holds ':' (ids are f-<hex>): /v1/filters/{filter_id} does not claim the
    /v1/filters/{id}:{verb} paths."""
    allowed = set()
    for route in app.router.routes:
        match, child = route.matches({**scope, "method": "OPTIONS"}) if hasattr(route, "matches") else (None, {})
        if match == Match.NONE or not getattr(route, "methods", None):
            continue
        params = (child or {}).get("path_params", {})
        if any(":" in str(value) for key, value in params.items() if key in ("filter_id", "tensor_id", "name")):
            continue
        allowed |= set(route.methods)
    return sorted(allowed)


def exclusive_handle_routes(app) -> None:
    """Let /v1/filters/{filter_id} and /v1/tensors/{tensor_id} match ids only, never the
    /v1/filters/{id}:{verb} paths (ids hold no ':'), so GET on a verb path is a 405 naming POST
    rather than a describe of a filter called 'f-…:filterApplyBatch'."""
    for route in app.router.routes:
        path = getattr(route, "path", "")
        if path in ("/v1/filters/{filter_id}", "/v1/tensors/{tensor_id}"):
            route.path_regex = re.compile(route.path_regex.pattern.replace("[^/]+", "[^/:]+"))
