"""PostgreSQL columns -> a JSON Schema (draft 2020-12) for one row of a table.

Front ends validate their forms with it, so the mapping is conservative in one
direction: a row that PostgreSQL would accept must validate. Where PostgreSQL
rejects a value for its type, NOT NULL, a length or an enum label, the schema
rejects it too, as far as JSON Schema can say so:

- integer widths become ``minimum``/``maximum``; ``numeric(p, s)`` bounds the
  magnitude below ``10^(p-s)`` (PostgreSQL rounds extra decimals, so no
  ``multipleOf``); ``varchar(n)``/``char(n)`` give ``maxLength``;
- dates and times carry a ``format`` and a ``pattern`` (formats are only
  annotations unless a validator asserts them);
- enums list their labels, arrays their element schema, domains their base
  type plus their NOT NULL and simple CHECKs;
- a NOT NULL column with no default (and not identity or generated) is
  ``required``; identity ALWAYS and generated columns are ``readOnly``;
- simple single-column CHECK constraints (comparisons with constants, ``IN``
  lists, ``char_length`` bounds, ``IS NOT NULL``, and ``AND`` of these) are
  parsed with pglast, never with regular expressions, and merged in; anything
  else is named in ``$comment`` and left to the database.

Pure: input is a table as :func:`schemaop.engine.introspect.introspect`
returns it.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["DRAFT", "column_schema", "table_json_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

JsonSchema = dict[str, Any]

_INT_RANGES = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
    "oid": (0, 2**32 - 1),
    "xid": (0, 2**32 - 1),
    "cid": (0, 2**32 - 1),
}
_FLOAT4_MAX = 3.4028234663852886e38
_STRING_TYPES = {"text", "varchar", "bpchar", "name", "citext", "char", "xml", "bytea", "interval"}

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TIME = r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"
_OFFSET = r"([Zz]|[+-]\d{2}(:?\d{2})?)"
_TIMETZ = r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?" + _OFFSET + "$"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"
_TIMESTAMPTZ = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?" + _OFFSET + "$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def table_json_schema(table: dict[str, Any]) -> JsonSchema:
    """The JSON Schema of one row of ``table`` (an introspected table or view)."""
    checks = _column_checks(table)
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    for column in table["columns"]:
        name = column["name"]
        properties[name] = column_schema(column, checks.get(name, []))
        if _is_required(column, checks.get(name, [])):
            required.append(name)
    schema: JsonSchema = {
        "$schema": DRAFT,
        "title": f"{table['schema']}.{table['name']}",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if table.get("comment"):
        schema["description"] = table["comment"]
    unmapped = [
        f"{c['name']}: {c['definition']}"
        for c in table.get("checkConstraints", [])
        if _parse_check(c["definition"], table) is None
    ]
    if unmapped:
        schema["$comment"] = "CHECK constraints enforced by the database only: " + "; ".join(
            unmapped
        )
    return schema


def column_schema(column: dict[str, Any], checks: list[JsonSchema] | None = None) -> JsonSchema:
    """The schema of one column's value; ``checks`` are extra constraints to merge."""
    data_type = column["dataType"]
    schema = _type_schema(data_type)
    not_null = not column["nullable"] or _domain_not_null(data_type)
    for extra in checks or []:
        if extra.get("notNull"):
            not_null = True
        else:
            _merge(schema, extra)
    if not not_null:
        _allow_null(schema)
    elif "type" not in schema and "enum" not in schema and "const" not in schema:
        schema["not"] = {"type": "null"}
    if column.get("identity") == "always" or column.get("generated"):
        schema["readOnly"] = True
    if column.get("comment"):
        schema["description"] = column["comment"]
    schema["$comment"] = f"PostgreSQL type: {column['type']}"
    return schema


def _is_required(column: dict[str, Any], checks: list[JsonSchema]) -> bool:
    if column.get("default") is not None or column.get("identity") or column.get("generated"):
        return False
    if _domain_has_default(column["dataType"]):
        return False
    not_null = not column["nullable"] or _domain_not_null(column["dataType"])
    return not_null or any(extra.get("notNull") for extra in checks)


def _domain_not_null(data_type: dict[str, Any]) -> bool:
    while data_type.get("kind") == "domain":
        if data_type.get("notNull"):
            return True
        data_type = data_type["base"]
    return False


def _domain_has_default(data_type: dict[str, Any]) -> bool:
    while data_type.get("kind") == "domain":
        if data_type.get("hasDefault"):
            return True
        data_type = data_type["base"]
    return False


def _type_schema(data_type: dict[str, Any]) -> JsonSchema:
    kind = data_type.get("kind")
    if kind == "array":
        items = _type_schema(data_type["element"])
        _allow_null(items)  # PostgreSQL arrays may hold NULL elements
        return {"type": "array", "items": items}
    if kind == "enum":
        return {"type": "string", "enum": list(data_type.get("labels", []))}
    if kind == "domain":
        schema = _type_schema(data_type["base"])
        for definition in data_type.get("checks", []):
            for extra in _parse_check(definition, None, data_type["base"]) or []:
                if not extra.get("notNull"):
                    _merge(schema, extra)
        return schema
    if kind != "base":
        return {}
    return _base_schema(data_type["name"], data_type.get("modifiers", {}))


def _base_schema(name: str, modifiers: dict[str, int]) -> JsonSchema:
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]
        return {"type": "integer", "minimum": low, "maximum": high}
    if name == "numeric":
        schema: JsonSchema = {"type": "number"}
        if "precision" in modifiers:
            digits = modifiers["precision"] - modifiers.get("scale", 0)
            bound: int | float = 10**digits if digits >= 0 else 10.0**digits
            schema["exclusiveMinimum"] = -bound
            schema["exclusiveMaximum"] = bound
        return schema
    if name == "float4":
        return {"type": "number", "minimum": -_FLOAT4_MAX, "maximum": _FLOAT4_MAX}
    if name == "float8":
        return {"type": "number"}
    if name == "bool":
        return {"type": "boolean"}
    if name in {"varchar", "bpchar"}:
        schema = {"type": "string"}
        if "length" in modifiers:
            schema["maxLength"] = modifiers["length"]
        return schema
    if name == "char":
        return {"type": "string", "maxLength": 1}
    if name == "name":
        return {"type": "string", "maxLength": 63}
    if name in _STRING_TYPES:
        return {"type": "string"}
    if name in {"bit", "varbit"}:
        schema = {"type": "string", "pattern": "^[01]*$"}
        if "length" in modifiers:
            schema["maxLength"] = modifiers["length"]
            if name == "bit":
                schema["minLength"] = modifiers["length"]
        return schema
    if name == "date":
        return {"type": "string", "format": "date", "pattern": _DATE}
    if name == "time":
        return {"type": "string", "pattern": _TIME}
    if name == "timetz":
        return {"type": "string", "format": "time", "pattern": _TIMETZ}
    if name == "timestamp":
        return {"type": "string", "pattern": _TIMESTAMP}
    if name == "timestamptz":
        return {"type": "string", "format": "date-time", "pattern": _TIMESTAMPTZ}
    if name == "uuid":
        return {"type": "string", "format": "uuid", "pattern": _UUID}
    if name in {"inet", "cidr", "macaddr", "macaddr8", "tsvector", "tsquery", "money"}:
        return {"type": "string"} if name != "money" else {}
    # json, jsonb and anything we do not know: any JSON value.
    return {}


def _allow_null(schema: JsonSchema) -> None:
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    if "const" in schema:
        schema["enum"] = [schema.pop("const"), None]
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]


_LOWER = {"minimum", "exclusiveMinimum", "minLength"}
_UPPER = {"maximum", "exclusiveMaximum", "maxLength"}


def _merge(schema: JsonSchema, extra: JsonSchema) -> None:
    """Merge one constraint into a column schema; the tighter bound wins."""
    for key, value in extra.items():
        if key in _LOWER:
            schema[key] = max(schema[key], value) if key in schema else value
        elif key in _UPPER:
            schema[key] = min(schema[key], value) if key in schema else value
        elif key == "enum":
            if "enum" in schema:
                schema["enum"] = [v for v in schema["enum"] if v in value]
            else:
                schema["enum"] = list(value)
        elif key == "not":
            schema.setdefault("allOf", []).append({"not": value})
        else:
            schema[key] = value


# --- CHECK constraints --------------------------------------------------------------


def _column_checks(table: dict[str, Any]) -> dict[str, list[JsonSchema]]:
    out: dict[str, list[JsonSchema]] = {}
    for check in table.get("checkConstraints", []):
        parsed = _parse_check(check["definition"], table)
        if parsed is None:
            continue
        for column, extra in parsed:
            out.setdefault(column, []).append(extra)
    return out


def _parse_check(
    definition: str, table: dict[str, Any] | None, domain_base: dict[str, Any] | None = None
) -> list[Any] | None:
    """Parse ``CHECK (...)`` as pg_get_constraintdef prints it.

    For a table: a list of ``(column, constraint)``; for a domain (given its
    base type): a list of constraints on VALUE. None when any part does not map
    cleanly.
    """
    text = definition.strip()
    if text.endswith(" NOT VALID"):
        text = text[: -len(" NOT VALID")]
    if not text.upper().startswith("CHECK"):
        return None
    try:
        from pglast import parse_sql
        from pglast.parser import ParseError

        statements = parse_sql("SELECT " + text[len("CHECK") :].strip())
    except (ParseError, ValueError):
        return None
    if len(statements) != 1:
        return None
    targets: tuple[Any, ...] = getattr(statements[0].stmt, "targetList", None) or ()
    if len(targets) != 1:
        return None
    domain = domain_base is not None
    types: dict[str, str] = {}
    if domain_base is not None:
        types = {"value": _json_kind(domain_base)}
    elif table is not None:
        types = {c["name"]: _json_kind(c["dataType"]) for c in table["columns"]}
    target: Any = targets[0]
    parts = _conjuncts(target.val)
    out: list[Any] = []
    for part in parts:
        mapped = _map_predicate(part, types, domain)
        if mapped is None:
            return None
        column, extra = mapped
        out.append(extra if domain else (column, extra))
    return out


def _json_kind(data_type: dict[str, Any]) -> str:
    while data_type.get("kind") == "domain":
        data_type = data_type["base"]
    if data_type.get("kind") == "enum":
        return "string"
    if data_type.get("kind") != "base":
        return "other"
    name = data_type["name"]
    if name in _INT_RANGES or name in {"numeric", "float4", "float8"}:
        return "number"
    if name in {"text", "varchar", "bpchar", "name", "citext"}:
        return "string"
    return "other"


def _conjuncts(node: Any) -> list[Any]:
    from pglast import ast
    from pglast.enums import BoolExprType

    if _is(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        return [leaf for arg in node.args for leaf in _conjuncts(arg)]
    return [node]


def _is(node: Any, cls: type) -> bool:
    """isinstance without narrowing: pglast's node fields are typed loosely."""
    return isinstance(node, cls)


_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "=", "<>": "<>", "!=": "<>"}
_NUMERIC_KEYWORD = {
    ">": "exclusiveMinimum",
    ">=": "minimum",
    "<": "exclusiveMaximum",
    "<=": "maximum",
}


def _map_predicate(node: Any, types: dict[str, str], domain: bool) -> tuple[str, JsonSchema] | None:
    from pglast import ast
    from pglast.enums import A_Expr_Kind, NullTestType

    if _is(node, ast.NullTest) and node.nulltesttype == NullTestType.IS_NOT_NULL:
        column = _column_name(node.arg, types, domain)
        return (column[0], {"notNull": True}) if column else None
    if not _is(node, ast.A_Expr) or len(node.name or ()) != 1:
        return None
    op = node.name[0].sval
    if node.kind == A_Expr_Kind.AEXPR_OP_ANY and op == "=":
        column = _column_name(node.lexpr, types, domain)
        values = _array_constants(node.rexpr)
        if column is None or values is None:
            return None
        name, kind = column
        if kind == "string" and all(isinstance(v, str) for v in values):
            return name, {"enum": values}
        if kind == "number" and all(isinstance(v, int | float) for v in values):
            return name, {"enum": values}
        return None
    if node.kind != A_Expr_Kind.AEXPR_OP or op not in _FLIP:
        return None
    left, right = node.lexpr, node.rexpr
    if _constant(left) is not None and _constant(right) is None:
        left, right, op = right, left, _FLIP[op]
    value = _constant(right)
    if value is None:
        return None
    length = _length_of(left, types, domain)
    if length is not None and isinstance(value, int) and not isinstance(value, bool):
        return length, _length_bound(op, value)
    column = _column_name(left, types, domain)
    if column is None:
        return None
    name, kind = column
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        if op in _NUMERIC_KEYWORD:
            return name, {_NUMERIC_KEYWORD[op]: value}
        if op == "=":
            return name, {"const": value}
        return name, {"not": {"const": value}}
    if kind == "string" and isinstance(value, str) and op in {"=", "<>"}:
        return name, ({"const": value} if op == "=" else {"not": {"const": value}})
    return None


def _length_bound(op: str, value: int) -> JsonSchema:
    if op == ">=":
        return {"minLength": max(value, 0)}
    if op == ">":
        return {"minLength": max(value + 1, 0)}
    if op == "<=":
        return {"maxLength": max(value, 0)}
    if op == "<":
        return {"maxLength": max(value - 1, 0)}
    if op == "=":
        return {"minLength": max(value, 0), "maxLength": max(value, 0)}
    return {"not": {"minLength": value, "maxLength": value}}


def _unwrap_string_cast(node: Any) -> Any:
    """``(col)::text`` around a string column is only a relabel; look through it."""
    from pglast import ast

    while _is(node, ast.TypeCast) and _type_name(node.typeName) in {
        "text",
        "varchar",
        "bpchar",
    }:
        node = node.arg
    return node


def _column_name(node: Any, types: dict[str, str], domain: bool) -> tuple[str, str] | None:
    """The column (or a domain's VALUE) a predicate is about, with its JSON kind."""
    from pglast import ast

    inner = _unwrap_string_cast(node)
    if not _is(inner, ast.ColumnRef) or len(inner.fields) != 1:
        return None
    field = inner.fields[0]
    if not _is(field, ast.String):
        return None
    name = str(field.sval)
    if domain and name.lower() != "value":
        return None
    kind = types.get("value" if domain else name)
    if kind is None or (inner is not node and kind != "string"):
        return None
    return name, kind


def _length_of(node: Any, types: dict[str, str], domain: bool) -> str | None:
    from pglast import ast

    if not _is(node, ast.FuncCall) or len(node.args or ()) != 1:
        return None
    func = node.funcname[-1].sval
    if func not in {"char_length", "character_length", "length"}:
        return None
    column = _column_name(node.args[0], types, domain)
    if column is None or column[1] != "string":
        return None
    return column[0]


def _type_name(type_name: Any) -> str:
    return str(type_name.names[-1].sval) if type_name is not None else ""


def _constant(node: Any) -> int | float | str | None:
    """A literal, looking through casts (PostgreSQL prints ``'-1'::integer``)."""
    from pglast import ast

    cast_to = ""
    while _is(node, ast.TypeCast):
        cast_to = cast_to or _type_name(node.typeName)
        node = node.arg
    if not _is(node, ast.A_Const) or node.isnull:
        return None
    val = node.val
    if _is(val, ast.Integer):
        return int(val.ival)
    if _is(val, ast.Float):
        return _number(str(val.fval))
    if _is(val, ast.String):
        if cast_to in {"int2", "int4", "int8", "integer", "smallint", "bigint", "numeric"}:
            return _number(str(val.sval))
        if cast_to in {"float4", "float8"}:
            return _number(str(val.sval))
        return str(val.sval)
    return None


def _number(text: str) -> int | float | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def _array_constants(node: Any) -> list[Any] | None:
    from pglast import ast

    while _is(node, ast.TypeCast):
        node = node.arg
    if not _is(node, ast.A_ArrayExpr):
        return None
    values = [_constant(element) for element in node.elements or ()]
    if any(v is None for v in values):
        return None
    return values
