"""bnns.v1: the wire contract, generated from the .proto files beside this one (proto/generate.sh),
and the reading of its one field option that code derives from: (bnns.v1.default)."""

from __future__ import annotations

import ast
from typing import Any, Optional


# Descriptor fields that give only a shape (i_desc, o_desc, target_desc, the arithmetic fields'
# out): their data, if any, is not read at creation; the SDK sends them without it
# (proto/gen_structs.py, proto/gen_params.py).
SHAPE_ONLY = frozenset({"i_desc", "o_desc", "target_desc", "out"})


def schema_default(field) -> Optional[str]:
    """The text of a field's ``(bnns.v1.default)`` option (options.proto), or None."""
    from bnns.v1 import options_pb2    # here: options_pb2 itself imports this package
    options = field.GetOptions()
    return options.Extensions[options_pb2.default] if options.HasExtension(options_pb2.default) else None


def value_default(field, text: Optional[str] = None) -> Any:
    """A scalar or repeated field's default as a Python value: its option, or ``text`` in its
    place (an enum value's name is its number, anything else a Python literal), else the proto
    zero, () when repeated."""
    text = schema_default(field) if text is None else text
    if text is None:
        return () if field.is_repeated else field.default_value
    if field.enum_type is not None and text in field.enum_type.values_by_name:
        return field.enum_type.values_by_name[text].number
    value = ast.literal_eval(text)
    return float(value) if field.cpp_type == field.CPPTYPE_FLOAT or field.cpp_type == field.CPPTYPE_DOUBLE else value
