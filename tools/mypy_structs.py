"""mypy plugin: the SDK's BNNS structs, which ``bnns.client.structs.derive`` makes from the wire
contract at import, as the classes they are.

mypy cannot follow ``BNNSLayerParametersPooling = derive(types_pb2.PoolingParameters, ...)``: the
fields come from the proto descriptor at run time. Rather than a second, hand-written list of
fields, the plugin imports the module being checked and reads the class ``derive`` made: its
dataclass fields become attributes (also of its ``base=``, the methods written for it, which read
them and call ``cls(...)``), its ``__init__`` signature the constructor (every field ``Any``, as in the dataclass), and
``to_proto`` / ``trainables`` / ``message`` are typed. A
misspelled field, keyword or method is then an error, as for a hand-written class.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
from typing import Any, Callable

from mypy.nodes import (ARG_NAMED, ArgKind, ARG_NAMED_OPT, ARG_OPT, ARG_POS, ARG_STAR2, GDEF, Argument, Block, ClassDef,
                        SymbolTable, SymbolTableNode, TypeInfo, Var)
from mypy.plugin import DynamicClassDefContext, Plugin, ReportConfigContext
from mypy.plugins.common import add_attribute_to_class, add_method_to_class
from mypy.semanal_shared import SemanticAnalyzerPluginInterface
from mypy.types import AnyType, Instance, NoneType, TypeOfAny, TypeType

DERIVE = "bnns.client.structs.derive"


def _instance(api: SemanticAnalyzerPluginInterface, fullname: str) -> Instance | None:
    node = api.lookup_fully_qualified_or_none(fullname)
    if node is None or not isinstance(node.node, TypeInfo):
        return None
    return Instance(node.node, [])


def _derived_class(ctx: DynamicClassDefContext) -> None:
    try:
        struct = getattr(importlib.import_module(ctx.api.cur_mod_id), ctx.name)
    except Exception as error:     # the module does not import: say so where derive() is called
        ctx.api.fail(f"{ctx.name}: the struct derive() makes cannot be read ({ctx.api.cur_mod_id} does not import: "
                     f"{type(error).__name__}: {error})", ctx.call)
        return
    base_type = struct.__bases__[0]
    base = _instance(ctx.api, f"{base_type.__module__}.{base_type.__qualname__}")
    message = _instance(ctx.api, f"{struct.message.__module__}.{struct.message.__qualname__}")
    if base is None or message is None:
        if not ctx.api.final_iteration:
            ctx.api.defer()
            return
        ctx.api.fail(f"{ctx.name}: mypy does not know {base_type} or {struct.message}", ctx.call)
        return
    class_def = ClassDef(ctx.name, Block([]))
    class_def.fullname = ctx.api.qualified_name(ctx.name)
    info = TypeInfo(SymbolTable(), class_def, ctx.api.cur_mod_id)
    class_def.info = info
    info.bases = [base]
    info.calculate_metaclass_type()
    info.mro = [info] + base.type.mro
    anything = AnyType(TypeOfAny.explicit)
    for field in dataclasses.fields(struct):
        add_attribute_to_class(ctx.api, class_def, field.name, anything)
        if base.type.fullname.startswith("bnns.") and field.name not in base.type.names:
            # The base (derive's ``base=``) is the struct's behaviour and reads its fields.
            add_attribute_to_class(ctx.api, base.type.defn, field.name, anything)
    add_attribute_to_class(ctx.api, class_def, "message", TypeType(message), is_classvar=True)
    fields_type = ctx.api.named_type("builtins.dict", [ctx.api.named_type("builtins.str"), anything])
    add_attribute_to_class(ctx.api, class_def, "__dataclass_fields__", fields_type, is_classvar=True)  # a dataclass
    add_attribute_to_class(ctx.api, class_def, "rename", ctx.api.named_type("builtins.dict", [anything, anything]),
                           is_classvar=True)
    kinds: dict[tuple[Any, bool], ArgKind] = {(inspect.Parameter.POSITIONAL_OR_KEYWORD, False): ARG_POS,
             (inspect.Parameter.POSITIONAL_OR_KEYWORD, True): ARG_OPT,
             (inspect.Parameter.KEYWORD_ONLY, False): ARG_NAMED, (inspect.Parameter.KEYWORD_ONLY, True): ARG_NAMED_OPT}
    init = [Argument(Var(p.name, anything), anything, None, kinds[p.kind, p.default is not p.empty])
            for p in list(inspect.signature(struct.__init__).parameters.values())[1:]]
    add_method_to_class(ctx.api, class_def, "__init__", init, NoneType())
    if base.type.fullname.startswith("bnns.") and "__init__" not in base.type.names:
        add_method_to_class(ctx.api, base.type.defn, "__init__", init, NoneType())   # its cls(...) calls
    if not any(getattr(c, "to_proto", None) is not None for c in struct.__mro__[1:]):
        extra = Argument(Var("extra", anything), anything, None, ARG_STAR2)
        add_method_to_class(ctx.api, class_def, "to_proto", [extra], message)
    add_method_to_class(ctx.api, class_def, "trainables", [],
                        ctx.api.named_type("builtins.dict", [ctx.api.named_type("builtins.str"), anything]))
    ctx.api.add_symbol_table_node(ctx.name, SymbolTableNode(GDEF, info))


class DeriveStructs(Plugin):
    def get_dynamic_class_hook(self, fullname: str) -> Callable[[DynamicClassDefContext], None] | None:
        return _derived_class if fullname == DERIVE else None

    def report_config_data(self, ctx: ReportConfigContext) -> Any:
        """The contract the structs come from: a changed .proto invalidates mypy's cache."""
        from bnns.v1 import types_pb2
        return hashlib.sha256(types_pb2.DESCRIPTOR.serialized_pb).hexdigest()


def plugin(version: str) -> type[Plugin]:
    return DeriveStructs
