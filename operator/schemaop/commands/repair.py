"""``schemaop repair``: resolve a dirty database after a non-transactional step failed.

A non-transactional step runs statement by statement; when one fails (or the
runner dies) the step's history row stays ``pending`` and every run refuses
(``DatabaseDirty``). After fixing the cause, either:

- ``--retry --dir DIR``: run the step again from the first statement that did
  not complete (statements already done are not replayed), or
- ``--mark-applied VERSION``: a person finished the step by hand; record it
  as applied (the row keeps its error for the record).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemaop.commands import _support as cs

    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--retry", action="store_true", help="resume the failed step")
    action.add_argument(
        "--mark-applied", metavar="VERSION", help="record the failed step as done by hand"
    )
    parser.add_argument(
        "--dir", metavar="DIR", type=cs.path_argument, help="migration directory (for --retry)"
    )
    cs.add_db_arguments(parser)
    cs.add_planning_arguments(parser)
    cs.add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from schemaop import engine
    from schemaop.commands import _support as cs
    from schemaop.engine import repair
    from schemaop.model import InvalidMigrationSet, InvalidPlan

    out = args.output
    try:
        options = cs.options_from_args(args)
    except InvalidPlan as exc:
        return cs.fail(str(exc), output=out)

    def connect() -> engine.Conn:
        return engine.connect(args.database_url)

    if args.mark_applied:
        try:
            entry = repair.mark_applied(connect, options, args.mark_applied)
        except engine.EngineError as exc:
            return cs.report(exc)
        if out == "json":
            print(json.dumps({"ok": True, "markedApplied": entry}, default=str))
        else:
            print(
                f"marked {entry['direction']} {entry['version']} as applied; the database is clean"
            )
        return cs.EXIT_OK

    if not args.dir:
        return cs.fail("--retry needs --dir (the failed step's SQL)", output=out)
    from schemaop import migrations_dir

    try:
        migrations = migrations_dir.load(args.dir)
    except InvalidMigrationSet as exc:
        return cs.fail(str(exc), output=out)
    try:
        result = repair.retry(connect, options, migrations, cs.Progress(quiet=args.quiet))
    except engine.EngineError as exc:
        return cs.report(exc)
    failed = cs.failed_run(result, out)
    if failed is not None:
        return failed
    if out != "json":
        print(f"repaired: the step finished; the database is at {result.current_version}")
    return cs.EXIT_OK
