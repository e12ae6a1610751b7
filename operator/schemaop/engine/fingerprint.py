"""The schema fingerprint: a deterministic hash of the managed schemas' catalogs.

One SQL query (:func:`fingerprint_query`) renders every object of the managed
schemas as one line of text, sorts the lines bytewise (``COLLATE "C"``) and
hashes them with the server's ``sha256``: the result is 64 hex digits. It
covers schemas, tables (and views, materialized views, sequences, foreign and
partitioned tables, composite types), columns (position among live columns,
name, type, NOT NULL, default, identity, generated, non-default collation),
constraints (``pg_get_constraintdef``), indexes (``pg_get_indexdef``), views
(``pg_get_viewdef``), functions and procedures (``pg_get_functiondef``),
aggregates (signature), triggers, enums (labels in order), domains and
sequences (type, start, increment, bounds, cache, cycle).

It leaves out what differs between two databases with the same schema: OIDs,
physical column numbers (a dropped column leaves a gap that a restore does
not), statistics, ownership and privileges, comments, and sequence values.
schemaop's own history schema is never a managed schema.

Because it is a single query it also runs inside the runner's last step, in the
same round trip as the history insert and the NOTIFY. ``pg_get_*`` functions
print names relative to ``search_path``, so the query runs with
``search_path = pg_catalog, pg_temp`` (the runner sets it LOCAL; :func:`fingerprint`
does the same) and every name comes out schema-qualified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]

_LINES = """
WITH ns AS (
    SELECT oid, nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY({schemas}::text[])
), rels AS (
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relispartition, n.nspname
    FROM pg_catalog.pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
), lines AS (
    SELECT 'schema ' || quote_ident(nspname) AS line FROM ns
    UNION ALL
    SELECT format('rel %I.%I kind=%s persistence=%s partition=%s',
                  nspname, relname, relkind, relpersistence, relispartition)
    FROM rels
    UNION ALL
    SELECT format('col %I.%I #%s %I %s notnull=%s default=%s identity=%s generated=%s coll=%s',
                  r.nspname, r.relname,
                  row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
                  a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
                  CASE WHEN a.attcollation <> t.typcollation THEN co.collname END)
    FROM pg_catalog.pg_attribute a
    JOIN rels r ON r.oid = a.attrelid
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
    WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind <> 'S'
    UNION ALL
    SELECT format('con %I %s %I %s', n.nspname,
                  coalesce(quote_ident(cr.relname), 'type ' || quote_ident(ct.typname)),
                  con.conname, pg_catalog.pg_get_constraintdef(con.oid, true))
    FROM pg_catalog.pg_constraint con
    JOIN ns n ON n.oid = con.connamespace
    LEFT JOIN pg_catalog.pg_class cr ON cr.oid = con.conrelid
    LEFT JOIN pg_catalog.pg_type ct ON ct.oid = con.contypid
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM pg_catalog.pg_index i JOIN rels r ON r.oid = i.indrelid
    UNION ALL
    SELECT format('view %I.%I %s', nspname, relname, pg_catalog.pg_get_viewdef(oid, true))
    FROM rels WHERE relkind IN ('v', 'm')
    UNION ALL
    SELECT format('seq %I.%I %s start=%s inc=%s min=%s max=%s cache=%s cycle=%s',
                  r.nspname, r.relname, pg_catalog.format_type(s.seqtypid, NULL), s.seqstart,
                  s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
    FROM pg_catalog.pg_sequence s JOIN rels r ON r.oid = s.seqrelid
    UNION ALL
    SELECT CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid)
                ELSE format('%s %I.%I(%s)', p.prokind, n.nspname, p.proname,
                            pg_catalog.pg_get_function_identity_arguments(p.oid)) END
    FROM pg_catalog.pg_proc p JOIN ns n ON n.oid = p.pronamespace
    UNION ALL
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(tg.oid, true)
    FROM pg_catalog.pg_trigger tg JOIN rels r ON r.oid = tg.tgrelid
    WHERE NOT tg.tgisinternal
    UNION ALL
    SELECT format('type %I.%I kind=%s base=%s notnull=%s default=%s labels=%s',
                  n.nspname, t.typname, t.typtype,
                  CASE WHEN t.typtype = 'd'
                       THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
                  t.typnotnull, t.typdefault,
                  (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
                   FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid))
    FROM pg_catalog.pg_type t JOIN ns n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'r', 'm')
)
"""

_HASH = (
    "SELECT encode(sha256(convert_to(coalesce(string_agg(line, E'\\n' ORDER BY line"
    " COLLATE \"C\"), ''), 'UTF8')), 'hex') FROM lines"
)


def fingerprint_lines_query(schemas: Sequence[str]) -> sql.Composed:
    """The rendered lines themselves (for debugging a fingerprint difference)."""
    return sql.SQL(_LINES + 'SELECT line FROM lines ORDER BY line COLLATE "C"').format(
        schemas=sql.Literal(list(schemas))
    )


def fingerprint_query(schemas: Sequence[str]) -> sql.Composed:
    """A SELECT of one text value: the fingerprint of ``schemas``. No parameters."""
    return sql.SQL(_LINES + _HASH).format(schemas=sql.Literal(list(schemas)))


def _with_catalog_path(conn: Conn, query: sql.Composed) -> list[tuple[Any, ...]]:
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        with conn.transaction():
            conn.execute("SET LOCAL search_path = pg_catalog, pg_temp")
            return conn.execute(query).fetchall()
    # Inside the caller's transaction: set the path for this query only, then restore it.
    row = conn.execute("SELECT current_setting('search_path')").fetchone()
    old = str(row[0]) if row else "public"
    conn.execute("SELECT set_config('search_path', 'pg_catalog, pg_temp', true)")
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.execute("SELECT set_config('search_path', %s, true)", (old,))


def fingerprint(conn: Conn, schemas: Sequence[str] = ("public",)) -> str:
    """The fingerprint of the managed ``schemas`` (64 hex digits). Read-only."""
    rows = _with_catalog_path(conn, fingerprint_query(schemas))
    return str(rows[0][0])


def fingerprint_lines(conn: Conn, schemas: Sequence[str] = ("public",)) -> list[str]:
    return [str(r[0]) for r in _with_catalog_path(conn, fingerprint_lines_query(schemas))]
