"""``schemaop purge --older-than DURATION``: drop tombstones the Rename policy left behind.

The Rename destructive-change policy turns ``DROP TABLE users`` into a rename to
``users__schemaop_dropped_v3`` and registers it in
``schemaop_archive.tombstones`` with the time of the drop. Once nobody will roll
back past that migration, this command drops the tombstones older than
DURATION (``30d``, ``12h``, ``2w``, ``90m``, ``0s``) for good.

Each tombstone is dropped in its own short transaction with a ``lock_timeout``
(never queueing behind application traffic) while holding the migration
runner's advisory lock, so a purge never races a migration. ``--dry-run`` lists
what would be dropped. Exit codes: 0 done (or nothing to do), 1 a drop or the
connection failed, 2 bad options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from typing import Any

from schemaop.redaction import schema_name_argument, shown

_DURATION_RE = re.compile(r"^\s*(?P<n>[0-9]+)\s*(?P<unit>s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``2w``, ``90m`` or ``45s``."""
    m = _DURATION_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"invalid duration {shown(text)}: use a number and a unit, e.g. 30d, 12h, 2w, 90m"
        )
    return dt.timedelta(seconds=int(m.group("n")) * _UNIT_SECONDS[m.group("unit")])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--older-than",
        required=True,
        type=parse_age,
        metavar="DURATION",
        help="drop tombstones created longer ago than this (e.g. 30d, 12h, 2w)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list, drop nothing")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="default: $DATABASE_URL, then libpq's PG* variables",
    )
    parser.add_argument(
        "--history-schema",
        default="schemaop",
        type=schema_name_argument,
        help="the runner's history schema, whose advisory lock purge holds (default: schemaop)",
    )
    parser.add_argument("--lock-timeout", default="2s", help="lock_timeout per drop (default 2s)")
    parser.add_argument("--output", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg import sql

    from schemaop.engine import lock as advisory
    from schemaop.engine.clisupport import exit_code
    from schemaop.engine.connect import connect, redact
    from schemaop.engine.errors import EngineError
    from schemaop.lint.policy import ARCHIVE_SCHEMA, TOMBSTONES_TABLE

    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    try:
        conn = connect(args.database_url, "schemaop-purge")
    except EngineError as exc:
        print(f"schemaop purge: {redact(str(exc))}", file=sys.stderr)
        return exit_code(exc)
    key = advisory.lock_key(args.history_schema)
    with conn:
        if not advisory.try_lock(conn, key):
            print(
                "schemaop purge: a migration run holds the runner's lock; try again later",
                file=sys.stderr,
            )
            return 1
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
                    (args.older_than,),
                ).fetchall()
            for row in rows:
                item = _describe(row)
                if args.dry_run:
                    done.append(item)
                    continue
                try:
                    with conn.transaction():
                        conn.execute(
                            sql.SQL("SET LOCAL lock_timeout = {}").format(
                                sql.Literal(args.lock_timeout)
                            )
                        )
                        conn.execute(_drop(row))
                        conn.execute(
                            sql.SQL("DELETE FROM {}.{} WHERE id = %s").format(
                                sql.Identifier(ARCHIVE_SCHEMA), sql.Identifier(TOMBSTONES_TABLE)
                            ),
                            (row[0],),
                        )
                    done.append(item)
                except psycopg.Error as exc:
                    failed.append({**item, "error": redact(str(exc).strip())})
        except psycopg.Error as exc:
            print(f"schemaop purge: {redact(str(exc).strip())}", file=sys.stderr)
            return 1
        finally:
            if not conn.closed:
                advisory.unlock(conn, key)
    _report(args, done, failed)
    return 1 if failed else 0


def _drop(row: tuple[Any, ...]) -> Any:
    from psycopg import sql

    _, kind, schema, table, column, *_ = row
    if kind == "table":
        return sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, table))
    return sql.SQL("ALTER TABLE IF EXISTS {} DROP COLUMN IF EXISTS {}").format(
        sql.Identifier(schema, table), sql.Identifier(column)
    )


def _describe(row: tuple[Any, ...]) -> dict[str, Any]:
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


def _report(
    args: argparse.Namespace, done: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> None:
    if args.output == "json":
        print(json.dumps({"dryRun": args.dry_run, "purged": done, "failed": failed}, indent=2))
        return
    verb = "would drop" if args.dry_run else "dropped"
    for d in done:
        print(
            f"{verb} {d['kind']} {d['tombstone']} (was {d['original']}, version {d['version']},"
            f" {d['ageDays']} days old)"
        )
    for f in failed:
        print(f"failed to drop {f['kind']} {f['tombstone']}: {f['error']}", file=sys.stderr)
    print(f"{len(done)} tombstone(s) {verb}, {len(failed)} failed")
