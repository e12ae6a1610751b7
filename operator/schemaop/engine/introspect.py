"""Read-only catalog introspection: the live shape of the managed schemas as plain data.

The schema sidecar serves this to front ends, and it must stay cheap on databases
with thousands of tables (the goal is to beat ``pg_dump --schema-only``). So it
runs a fixed handful of set-based queries over ``pg_catalog`` (relations,
columns, types, constraints, indexes, enums), each filtered by the managed
schema names passed as one array parameter, and assembles the result in Python:
never one query per table. Nothing here writes, and every name travels as a
bound parameter, so quoted names (spaces, quotes, upper case) need no special
care and nothing is injectable.

The result is JSON-ready (``str``/``int``/``bool``/``None``/lists/dicts) with
camelCase keys; its shape is documented in ``schemas/openapi/sidecar.json``
(component ``Table``) and in docs/sidecar.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = ["RELATION_KINDS", "TypeInfo", "content_fingerprint", "introspect"]

# pg_class.relkind -> the kind we report. Indexes, sequences and TOAST are left out.
RELATION_KINDS: dict[str, str] = {
    "r": "table",
    "p": "partitionedTable",
    "v": "view",
    "m": "materializedView",
    "f": "foreignTable",
}

# pg_type.typtype -> kind of a column's data type.
_TYPE_KINDS = {
    "b": "base",
    "c": "composite",
    "d": "domain",
    "e": "enum",
    "p": "pseudo",
    "r": "range",
    "m": "multirange",
}

_FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}

TypeInfo = dict[str, Any]

_RELATIONS = """
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
       d.description AS comment
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(kinds)s)
ORDER BY n.nspname, c.relname
"""

_COLUMNS = """
SELECT a.attrelid AS relid, a.attnum AS position, a.attname AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.atttypid AS typid, a.atttypmod AS typmod, a.attnotnull AS notnull,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS expr,
       a.attidentity::text AS identity, a.attgenerated::text AS generated,
       d.description AS comment
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
      AND d.objsubid = a.attnum
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(kinds)s)
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Every type the columns use, closed over array elements and domain bases; the
# set is small (distinct types), so the per-type sub-selects are cheap.
_TYPES = """
WITH RECURSIVE used(oid) AS (
    SELECT DISTINCT a.atttypid
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(kinds)s)
      AND a.attnum > 0 AND NOT a.attisdropped
  UNION
    SELECT x.oid
    FROM used u
    JOIN pg_catalog.pg_type t ON t.oid = u.oid
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN t.typcategory = 'A' THEN t.typelem END),
        (CASE WHEN t.typtype = 'd' THEN t.typbasetype END)) AS x(oid)
    WHERE x.oid IS NOT NULL AND x.oid <> 0
)
SELECT t.oid, n.nspname AS schema, t.typname AS name, t.typtype::text AS typtype,
       t.typcategory::text AS category, t.typelem AS elem, t.typbasetype AS basetype,
       t.typtypmod AS basetypmod, t.typnotnull AS notnull,
       t.typdefault IS NOT NULL OR t.typdefaultbin IS NOT NULL AS has_default,
       ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
             WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels,
       ARRAY(SELECT pg_catalog.pg_get_constraintdef(k.oid) FROM pg_catalog.pg_constraint k
             WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname) AS checks
FROM used u
JOIN pg_catalog.pg_type t ON t.oid = u.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
"""

_CONSTRAINTS = """
SELECT k.conrelid AS relid, k.conname AS name, k.contype::text AS contype,
       ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(num, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num
             ORDER BY u.i) AS columns,
       fn.nspname AS ref_schema, fc.relname AS ref_table,
       ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(num, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num
             ORDER BY u.i) AS ref_columns,
       k.confupdtype::text AS on_update, k.confdeltype::text AS on_delete,
       k.condeferrable AS deferrable, pg_catalog.pg_get_constraintdef(k.oid) AS definition
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = k.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(kinds)s)
  AND k.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY k.conrelid, k.conname
"""

_INDEXES = """
SELECT i.indrelid AS relid, ic.relname AS name, i.indisunique AS unique,
       i.indisprimary AS primary, am.amname AS method,
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(num, o)
             LEFT JOIN pg_catalog.pg_attribute a
                    ON a.attrelid = i.indrelid AND a.attnum = u.num
             ORDER BY u.o) AS columns,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(kinds)s)
ORDER BY i.indrelid, ic.relname
"""

_ENUMS = """
SELECT n.nspname AS schema, t.typname AS name,
       ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
             WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = ANY(%(schemas)s) AND t.typtype = 'e'
ORDER BY n.nspname, t.typname
"""


def introspect(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> list[dict[str, Any]]:
    """The managed schemas as JSON-ready data, one entry per name in ``schemas``.

    Each entry is ``{"name", "tables": [...], "enums": [...]}``; tables and views
    are sorted by name, columns by position. A schema that does not exist yet
    comes back empty. Six queries in all, whatever the number of tables.
    """
    params = {"schemas": list(schemas), "kinds": list(RELATION_KINDS)}
    with conn.cursor(row_factory=dict_row) as cur:
        relations = cur.execute(_RELATIONS, params).fetchall()
        columns = cur.execute(_COLUMNS, params).fetchall()
        type_rows = cur.execute(_TYPES, params).fetchall()
        constraints = cur.execute(_CONSTRAINTS, params).fetchall()
        indexes = cur.execute(_INDEXES, params).fetchall()
        enums = cur.execute(_ENUMS, params).fetchall()

    types = {row["oid"]: row for row in type_rows}
    tables: dict[int, dict[str, Any]] = {}
    for rel in relations:
        tables[rel["oid"]] = {
            "schema": rel["schema"],
            "name": rel["name"],
            "kind": RELATION_KINDS[rel["relkind"]],
            "comment": rel["comment"],
            "columns": [],
            "primaryKey": None,
            "uniqueConstraints": [],
            "foreignKeys": [],
            "checkConstraints": [],
            "exclusionConstraints": [],
            "indexes": [],
        }
    for col in columns:
        table = tables.get(col["relid"])
        if table is not None:
            table["columns"].append(_column(col, types))
    for con in constraints:
        table = tables.get(con["relid"])
        if table is not None:
            _add_constraint(table, con)
    for idx in indexes:
        table = tables.get(idx["relid"])
        if table is not None:
            table["indexes"].append(
                {
                    "name": idx["name"],
                    "unique": idx["unique"],
                    "primary": idx["primary"],
                    "method": idx["method"],
                    # None stands for an expression in the index key.
                    "columns": list(idx["columns"]),
                    "definition": idx["definition"],
                    "predicate": idx["predicate"],
                }
            )

    by_schema: dict[str, dict[str, Any]] = {
        name: {"name": name, "tables": [], "enums": []} for name in schemas
    }
    for table in tables.values():
        by_schema[table["schema"]]["tables"].append(table)
    for enum in enums:
        by_schema[enum["schema"]]["enums"].append(
            {"schema": enum["schema"], "name": enum["name"], "labels": list(enum["labels"])}
        )
    return list(by_schema.values())


def content_fingerprint(schemas: list[dict[str, Any]]) -> str:
    """A stable hash of introspected schemas (hex SHA-256 of canonical JSON).

    Used when the engine's fingerprint is not available; any change to what is
    served changes it.
    """
    canonical = json.dumps(schemas, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _column(row: dict[str, Any], types: dict[int, dict[str, Any]]) -> dict[str, Any]:
    generated = row["generated"] == "s"
    identity = {"a": "always", "d": "byDefault"}.get(row["identity"] or "")
    return {
        "name": row["name"],
        "position": row["position"],
        "type": row["type"],
        "dataType": _type_info(row["typid"], row["typmod"], types),
        "nullable": not row["notnull"],
        "default": None if generated else row["expr"],
        "identity": identity,
        "generated": {"kind": "stored", "expression": row["expr"]} if generated else None,
        "comment": row["comment"],
    }


def _type_info(oid: int, typmod: int, types: dict[int, dict[str, Any]], depth: int = 0) -> TypeInfo:
    """Describe a type by oid and modifier, resolving array elements and domain bases."""
    row = types.get(oid)
    if row is None or depth > 16:  # cannot happen with the closed query; stay total anyway
        return {"schema": None, "name": str(oid), "kind": "base"}
    info: TypeInfo = {
        "schema": row["schema"],
        "name": row["name"],
        "kind": _TYPE_KINDS.get(row["typtype"], "base"),
    }
    if row["category"] == "A" and row["elem"]:
        info["kind"] = "array"
        # An array column's typmod belongs to its element (varchar(5)[]).
        info["element"] = _type_info(row["elem"], typmod, types, depth + 1)
    elif row["typtype"] == "d":
        info["base"] = _type_info(row["basetype"], row["basetypmod"], types, depth + 1)
        info["notNull"] = bool(row["notnull"])
        info["hasDefault"] = bool(row["has_default"])
        info["checks"] = list(row["checks"])
    elif row["typtype"] == "e":
        info["labels"] = list(row["labels"])
    modifiers = _modifiers(row["name"], typmod) if info["kind"] == "base" else {}
    if modifiers:
        info["modifiers"] = modifiers
    return info


def _modifiers(name: str, typmod: int) -> dict[str, int]:
    """Decode ``atttypmod`` for the types whose modifier matters to a client."""
    if typmod < 0:
        return {}
    if name in {"varchar", "bpchar"}:
        return {"length": typmod - 4}
    if name in {"bit", "varbit"}:
        return {"length": typmod}
    if name == "numeric":
        packed = typmod - 4
        # Scale is an 11-bit two's complement field since PostgreSQL 15.
        scale = ((packed & 0x7FF) ^ 1024) - 1024
        return {"precision": (packed >> 16) & 0xFFFF, "scale": scale}
    if name in {"time", "timetz", "timestamp", "timestamptz"}:
        return {"precision": typmod}
    if name == "interval":
        return {"precision": typmod & 0xFFFF} if typmod & 0xFFFF != 0xFFFF else {}
    return {}


def _add_constraint(table: dict[str, Any], con: dict[str, Any]) -> None:
    kind = con["contype"]
    columns = list(con["columns"])
    if kind == "p":
        table["primaryKey"] = {"name": con["name"], "columns": columns}
    elif kind == "u":
        table["uniqueConstraints"].append({"name": con["name"], "columns": columns})
    elif kind == "f":
        table["foreignKeys"].append(
            {
                "name": con["name"],
                "columns": columns,
                "references": {
                    "schema": con["ref_schema"],
                    "table": con["ref_table"],
                    "columns": list(con["ref_columns"]),
                },
                "onUpdate": _FK_ACTIONS.get(con["on_update"], "NO ACTION"),
                "onDelete": _FK_ACTIONS.get(con["on_delete"], "NO ACTION"),
                "deferrable": con["deferrable"],
            }
        )
    elif kind == "c":
        table["checkConstraints"].append(
            {"name": con["name"], "columns": columns, "definition": con["definition"]}
        )
    else:
        table["exclusionConstraints"].append(
            {"name": con["name"], "columns": columns, "definition": con["definition"]}
        )
