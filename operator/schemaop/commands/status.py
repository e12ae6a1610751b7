"""``schemaop status``: the database's applied version, pending migrations, drift.

Read-only. Shows the current version, whether the database is dirty, the
fingerprint recorded after the last change against the live one (a difference
is drift: someone changed the schema outside schemaop), the recent history and
the rollback points. With ``--dir`` it also lists pending migrations and checks
applied checksums. ``--snapshot ID`` prints a Schema snapshot's SQL (to restore
with psql).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemaop.commands import _support as cs

    parser.add_argument(
        "--dir",
        metavar="DIR",
        type=cs.path_argument,
        help="migration directory: list pending ones",
    )
    parser.add_argument(
        "--schemas",
        default="public",
        type=cs.schema_list_argument,
        help="managed schemas (fingerprint)",
    )
    parser.add_argument("--limit", type=int, default=10, help="history rows to show (10)")
    parser.add_argument("--snapshot", type=int, metavar="ID", help="print a Schema snapshot")
    cs.add_db_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from schemaop import engine
    from schemaop.commands import _support as cs
    from schemaop.engine import snapshot
    from schemaop.model import InvalidMigrationSet, MigrationSet

    out = args.output
    migrations: MigrationSet | None = None
    if args.dir:
        from schemaop import migrations_dir

        try:
            migrations = migrations_dir.load(args.dir)
        except InvalidMigrationSet as exc:
            return cs.fail(str(exc), output=out)
    schemas = [s.strip() for s in args.schemas.split(",") if s.strip()]
    try:
        with engine.connect(args.database_url, "schemaop-status") as conn:
            if args.snapshot is not None:
                sys.stdout.buffer.write(
                    snapshot.read_schema_snapshot(conn, args.history_schema, args.snapshot)
                )
                return cs.EXIT_OK
            state = engine.read_state(conn, args.history_schema, recent=max(0, args.limit))
            live = engine.fingerprint(conn, schemas)
            snaps = (
                snapshot.list_snapshots(conn, args.history_schema) if state.history_exists else []
            )
    except engine.EngineError as exc:
        return cs.report(exc, out)

    report: dict[str, Any] = state.to_dict()
    report["applied"] = len(state.applied)
    report["liveFingerprint"] = live
    report["drifted"] = state.last_fingerprint is not None and state.last_fingerprint != live
    report["recent"] = [e.to_dict() for e in state.recent]
    report["snapshots"] = snaps
    problems: list[str] = []
    pending: list[dict[str, Any]] = []
    if migrations is not None:
        applied = {a.version: a for a in state.applied}
        for m in migrations:
            a = applied.get(m.version)
            if a is None:
                pending.append({"version": m.version.text, "description": m.description})
            elif a.checksum != m.checksum:
                problems.append(f"checksum mismatch: {m.version} was edited after it was applied")
        for a in state.applied:
            if migrations.get(a.version) is None:
                problems.append(f"missing: {a.version} is applied but not in {args.dir}")
        report["pending"] = pending
    report["problems"] = problems
    if out == "json":
        print(json.dumps(report, default=str))
        return cs.EXIT_OK

    print(f"version:     {report['currentVersion'] or 'none'} ({len(state.applied)} applied)")
    if state.dirty_step is not None:
        d = state.dirty_step
        print(
            f"dirty:       YES: non-transactional {d.direction} {d.version} stopped after "
            f"{d.statements_done} statement(s); run 'schemaop repair'"
        )
    fp = state.last_fingerprint
    print(f"fingerprint: {live[:16]} live, {fp[:16] if fp else 'none'} recorded")
    if report["drifted"]:
        print("drift:       YES: the schema changed outside schemaop since the last run")
    if migrations is not None:
        print(f"pending:     {len(pending)}")
        for p in pending[:20]:
            print(f"  {p['version']:<14} {p['description']}")
        if len(pending) > 20:
            print(f"  ... and {len(pending) - 20} more")
    for problem in problems:
        print(f"problem:     {problem}")
    if state.recent:
        print("recent history (newest first):")
        for e in state.recent:
            when = e.applied_at.strftime("%Y-%m-%d %H:%M:%S") if e.applied_at else "-"
            print(
                f"  {when}  {e.direction:<4} {e.version.text:<14} {e.status:<8} "
                f"{e.duration_ms if e.duration_ms is not None else '-':>6}ms  {e.description}"
            )
    if snaps:
        print("rollback points:")
        for s in snaps[-10:]:
            print(f"  #{s['id']} {s['kind']:<6} at {s['version'] or 'empty'}  {s['location']}")
    return cs.EXIT_OK
