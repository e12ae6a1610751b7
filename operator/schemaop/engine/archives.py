"""Rollback points kept by the destructive-change policy, read from the catalog.

``Backup`` copies dropped data into tables of schema ``schemaop_archive``
(``v3__users``, ``v3__users__email``); ``Rename`` keeps dropped tables and
columns as tombstones listed in ``schemaop_archive.tombstones`` (see
:mod:`schemaop.lint.policy`). Both are rollback points: the operator lists them
in ``status.rollbackPoints`` beside the snapshots. Read-only; a database that
never used a policy has no archive schema and yields nothing.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import sql

from schemaop.engine.history import Conn

ARCHIVE_SCHEMA = "schemaop_archive"
TOMBSTONES = "tombstones"
_ARCHIVE_NAME = re.compile(r"^v([0-9_]+)__")


def list_archives(conn: Conn) -> list[dict[str, Any]]:
    """Archive tables and tombstones as rollback points (``kind`` Archive or Tombstone)."""
    points: list[dict[str, Any]] = []
    rows = conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname <> %s"
        " ORDER BY c.oid",
        (ARCHIVE_SCHEMA, TOMBSTONES),
    ).fetchall()
    for (name,) in rows:
        match = _ARCHIVE_NAME.match(str(name))
        points.append(
            {
                "kind": "Archive",
                "location": f"{ARCHIVE_SCHEMA}.{name}",
                "version": match.group(1).replace("_", ".") if match else None,
                "fingerprint": None,
                "takenAt": "",
            }
        )
    registry = conn.execute(
        "SELECT to_regclass(%s)", (f"{ARCHIVE_SCHEMA}.{TOMBSTONES}",)
    ).fetchone()
    if registry is None or registry[0] is None:
        return points
    tombstones = conn.execute(
        sql.SQL(
            "SELECT kind, schema_name, table_name, column_name, version, dropped_at"
            " FROM {} ORDER BY id"
        ).format(sql.Identifier(ARCHIVE_SCHEMA, TOMBSTONES))
    ).fetchall()
    for kind, schema_name, table_name, column_name, version, dropped_at in tombstones:
        ref = f"{schema_name}.{table_name}" + (f".{column_name}" if column_name else "")
        points.append(
            {
                "kind": "Tombstone",
                "location": ref,
                "version": version,
                "fingerprint": None,
                "takenAt": dropped_at.isoformat() if dropped_at else "",
                "object": kind,
            }
        )
    return points
