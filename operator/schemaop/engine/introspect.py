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
SELECT a.attrelid, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.atttypid, a.atttypmod, a.attnotnull,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text,
       a.attgenerated::text, d.description
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
# Every type the columns use (seeded with their oids), closed over array
# elements and domain bases; the set is small, so per-type sub-selects are cheap.
_TYPES = """
WITH RECURSIVE used(oid) AS (
    SELECT unnest(%(oids)s::oid[])
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

# Column numbers come back raw and are named in Python from the columns already
# read: a correlated sub-select per constraint or index costs more than the rest.
# Only CHECK and EXCLUDE constraints need their text.
_CONSTRAINTS = """
SELECT k.conrelid AS relid, k.conname AS name, k.contype::text AS contype,
       k.conkey AS columns, k.confrelid AS ref_relid,
       fn.nspname AS ref_schema, fc.relname AS ref_table, k.confkey AS ref_columns,
       k.confupdtype::text AS on_update, k.confdeltype::text AS on_delete,
       k.condeferrable AS deferrable,
       CASE WHEN k.contype IN ('c', 'x') THEN pg_catalog.pg_get_constraintdef(k.oid) END
           AS definition
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
       i.indisprimary AS primary, am.amname AS method, i.indkey::int2[] AS columns,
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

# Names of referenced columns in tables outside the managed schemas (rare).
_FOREIGN_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname::text
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY(%(relids)s::oid[]) AND a.attnum > 0
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
    comes back empty. Six queries in all (a seventh only for foreign keys into
    unmanaged schemas), whatever the number of tables.
    """
    params: dict[str, Any] = {"schemas": list(schemas), "kinds": list(RELATION_KINDS)}
    with conn.cursor(row_factory=dict_row) as cur:
        relations = cur.execute(_RELATIONS, params).fetchall()
    with conn.cursor() as tuples:
        columns = tuples.execute(_COLUMNS, params).fetchall()
    type_oids = sorted({row[4] for row in columns})
    with conn.cursor(row_factory=dict_row) as cur:
        type_rows = cur.execute(_TYPES, {"oids": type_oids}).fetchall()
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
    names: dict[tuple[int, int], str] = {}
    type_cache: dict[tuple[int, int], TypeInfo] = {}
    for col in columns:
        table = tables.get(col[0])
        if table is not None:
            names[(col[0], col[1])] = col[2]
            table["columns"].append(_column(col, types, type_cache))

    missing = {
        con["ref_relid"]
        for con in constraints
        if con["contype"] == "f" and con["ref_relid"] not in tables
    }
    if missing:
        with conn.cursor() as tuples:
            for relid, num, name in tuples.execute(
                _FOREIGN_COLUMNS, {"relids": sorted(missing)}
            ).fetchall():
                names[(relid, num)] = name

    for con in constraints:
        table = tables.get(con["relid"])
        if table is not None:
            _add_constraint(table, con, names)
    for idx in indexes:
        table = tables.get(idx["relid"])
        if table is not None:
            relid = idx["relid"]
            table["indexes"].append(
                {
                    "name": idx["name"],
                    "unique": idx["unique"],
                    "primary": idx["primary"],
                    "method": idx["method"],
                    # None stands for an expression in the index key.
                    "columns": [names.get((relid, n)) if n else None for n in idx["columns"]],
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


def _column(
    row: tuple[Any, ...],
    types: dict[int, dict[str, Any]],
    type_cache: dict[tuple[int, int], TypeInfo],
) -> dict[str, Any]:
    _, position, name, type_text, typid, typmod, notnull, expr, identity, generated, comment = row
    stored = generated == "s"
    key = (typid, typmod)
    data_type = type_cache.get(key)
    if data_type is None:
        data_type = type_cache[key] = _type_info(typid, typmod, types)
    return {
        "name": name,
        "position": position,
        "type": type_text,
        # Shared between columns of the same type: the result is read, never mutated.
        "dataType": data_type,
        "nullable": not notnull,
        "default": None if stored else expr,
        "identity": {"a": "always", "d": "byDefault"}.get(identity or ""),
        "generated": {"kind": "stored", "expression": expr} if stored else None,
        "comment": comment,
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


def _add_constraint(
    table: dict[str, Any], con: dict[str, Any], names: dict[tuple[int, int], str]
) -> None:
    kind = con["contype"]
    relid = con["relid"]
    columns = [names.get((relid, n), str(n)) for n in con["columns"] or ()]
    if kind == "p":
        table["primaryKey"] = {"name": con["name"], "columns": columns}
    elif kind == "u":
        table["uniqueConstraints"].append({"name": con["name"], "columns": columns})
    elif kind == "f":
        ref = con["ref_relid"]
        table["foreignKeys"].append(
            {
                "name": con["name"],
                "columns": columns,
                "references": {
                    "schema": con["ref_schema"],
                    "table": con["ref_table"],
                    "columns": [names.get((ref, n), str(n)) for n in con["ref_columns"] or ()],
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
