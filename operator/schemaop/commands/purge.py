"""``schemaop purge --older-than DURATION``: drop tombstones the Rename policy left behind.

The Rename destructive-change policy turns ``DROP TABLE users`` into a rename to
``users__schemaop_dropped_v3`` and registers it in
``schemaop_archive.tombstones`` with the time of the drop. Once nobody will roll
back past that migration, this command drops the tombstones older than
DURATION (``30d``, ``12h``, ``2w``, ``90m``, ``0s``) for good.

Each tombstone is dropped in its own short transaction with a ``lock_timeout``
while holding the migration runner's advisory lock
(:func:`schemaop.engine.archives.purge_tombstones`). ``--dry-run`` lists
what would be dropped. Exit codes: 0 done (or nothing to do), 1 a drop or the
connection failed, 2 bad options.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from schemaop.redaction import schema_name_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemaop.commands._support import age

    parser.add_argument(
        "--older-than",
        required=True,
        type=age,
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
    from schemaop.commands._support import exit_code
    from schemaop.engine.archives import PurgeError, purge_tombstones
    from schemaop.engine.connect import connect, redact
    from schemaop.engine.errors import EngineError

    try:
        conn = connect(args.database_url, "schemaop-purge")
    except EngineError as exc:
        print(f"schemaop purge: {redact(str(exc))}", file=sys.stderr)
        return exit_code(exc)
    with conn:
        try:
            result = purge_tombstones(
                conn,
                args.older_than,
                history_schema=args.history_schema,
                lock_timeout=args.lock_timeout,
                dry_run=args.dry_run,
            )
        except PurgeError as exc:
            print(f"schemaop purge: {exc}", file=sys.stderr)
            return 1
        except EngineError as exc:  # a transaction pooler (ConnectionPooled)
            print(f"schemaop purge: {redact(str(exc))}", file=sys.stderr)
            return exit_code(exc)
    _report(args, result.done, result.failed)
    return 1 if result.failed else 0


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
