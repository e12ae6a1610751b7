"""Rollback points kept by the destructive-change policy, read from the catalog.

``Backup`` copies dropped data into tables of schema ``schemaop_archive``
(``v3__users``, ``v3__users__email``); ``Rename`` keeps dropped tables and
columns as tombstones listed in ``schemaop_archive.tombstones`` (written by
:mod:`schemaop.engine.droprewrite`). Both are rollback points: the operator lists
them in ``status.rollbackPoints`` beside the snapshots; a database that never
used a policy has no archive schema and yields nothing. :func:`purge_tombstones`
drops tombstones once nobody will roll back past them (``schemaop purge``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import psycopg
from psycopg import sql

from schemaop.engine import lock as advisory
from schemaop.engine.connect import redact
from schemaop.engine.history import Conn
from schemaop.engine.pooling import require_session
from schemaop.model.names import ARCHIVE_SCHEMA, TOMBSTONES_TABLE

_ARCHIVE_NAME = re.compile(r"^v([0-9_]+)__")


def list_archives(conn: Conn) -> list[dict[str, Any]]:
    """Archive tables and tombstones as rollback points (``kind`` Archive or Tombstone)."""
    points: list[dict[str, Any]] = []
    rows = conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname <> %s"
        " ORDER BY c.oid",
        (ARCHIVE_SCHEMA, TOMBSTONES_TABLE),
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
        "SELECT to_regclass(%s)", (f"{ARCHIVE_SCHEMA}.{TOMBSTONES_TABLE}",)
    ).fetchone()
    if registry is None or registry[0] is None:
        return points
    tombstones = conn.execute(
        sql.SQL(
            "SELECT kind, schema_name, table_name, column_name, version, dropped_at"
            " FROM {} ORDER BY id"
        ).format(sql.Identifier(ARCHIVE_SCHEMA, TOMBSTONES_TABLE))
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


class PurgeError(Exception):
    """The purge could not start or read the registry; the message is redacted."""


class RunnerBusy(PurgeError):
    """A migration run holds the runner's advisory lock."""

    def __init__(self) -> None:
        super().__init__("a migration run holds the runner's lock; try again later")


@dataclasses.dataclass
class Purge:
    """What :func:`purge_tombstones` dropped (or would drop) and what failed."""

    done: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    failed: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def purge_tombstones(
    conn: psycopg.Connection[Any],
    older_than: dt.timedelta,
    *,
    history_schema: str,
    lock_timeout: str,
    dry_run: bool,
) -> Purge:
    """Drop the tombstones registered longer ago than ``older_than``, under the runner's lock.

    Each one in its own short transaction with ``lock_timeout`` (never queueing
    behind application traffic) while holding the migration runner's advisory
    lock, so a purge never races a migration. A drop that fails is reported in
    ``failed`` (message redacted) and the rest go on. Raises :class:`RunnerBusy`
    when a run holds the lock, :class:`PurgeError` when the registry cannot be read.
    """
    out = Purge()
    key = advisory.lock_key(history_schema)
    require_session(conn, "the migration's advisory lock")
    if not advisory.try_lock(conn, key):
        raise RunnerBusy
    try:
        registry = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL",
            (f"{ARCHIVE_SCHEMA}.{TOMBSTONES_TABLE}",),
        ).fetchone()
        rows: list[tuple[Any, ...]] = []
        if registry and registry[0]:
            rows = conn.execute(
                sql.SQL(
                    "SELECT id, kind, schema_name, table_name, column_name, original,"
                    " version, dropped_at, now() - dropped_at"
                    " FROM {}.{} WHERE dropped_at < now() - %s::interval ORDER BY id"
                ).format(sql.Identifier(ARCHIVE_SCHEMA), sql.Identifier(TOMBSTONES_TABLE)),
                (older_than,),
            ).fetchall()
        for row in rows:
            item = _tombstone(row)
            if dry_run:
                out.done.append(item)
                continue
            try:
                with conn.transaction():
                    conn.execute(
                        sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout))
                    )
                    conn.execute(_drop(row))
                    conn.execute(
                        sql.SQL("DELETE FROM {}.{} WHERE id = %s").format(
                            sql.Identifier(ARCHIVE_SCHEMA), sql.Identifier(TOMBSTONES_TABLE)
                        ),
                        (row[0],),
                    )
                out.done.append(item)
            except psycopg.Error as exc:
                out.failed.append({**item, "error": redact(str(exc).strip())})
    except psycopg.Error as exc:
        raise PurgeError(redact(str(exc).strip())) from None
    finally:
        if not conn.closed:
            advisory.unlock(conn, key)
    return out


def _drop(row: tuple[Any, ...]) -> sql.Composed:
    _, kind, schema, table, column, *_ = row
    if kind == "table":
        return sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, table))
    return sql.SQL("ALTER TABLE IF EXISTS {} DROP COLUMN IF EXISTS {}").format(
        sql.Identifier(schema, table), sql.Identifier(column)
    )


def _tombstone(row: tuple[Any, ...]) -> dict[str, Any]:
    _, kind, schema, table, column, original, version, dropped_at, age = row
    name = f"{schema}.{table}" + (f".{column}" if column else "")
    return {
        "kind": kind,
        "tombstone": name,
        "original": original,
        "version": version,
        "droppedAt": dropped_at.isoformat(),
        "ageDays": round(age.total_seconds() / 86400, 1),
    }
