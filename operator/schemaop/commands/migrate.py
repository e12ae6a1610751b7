"""``schemaop migrate``: apply migrations from a directory or a plan file.

``--dir DIR``: read the directory, read the database's history, plan up to
``--to`` (default ``latest``) and run the plan. ``--plan FILE``: run a plan file
made by ``schemaop plan --output json`` (or by the operator) as it is.
The database comes from ``--database-url``, ``$DATABASE_URL`` or libpq's
``PG*`` variables. Start-up matters (every Job runs it): this module imports
only the engine, never kopf, the Kubernetes client or aiohttp; pglast is
loaded only for non-transactional steps and error positions.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from schemaop.engine import Conn, EngineError
    from schemaop.model import DatabaseState, MigrationSet, RunOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemaop.commands import _support as cs

    cs.add_source_arguments(parser)
    parser.add_argument("--to", metavar="VERSION", default=None, help="target (default latest)")
    cs.add_db_arguments(parser)
    cs.add_planning_arguments(parser)
    cs.add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return execute(args, target=args.to or "latest", rollback=False)


def execute(args: argparse.Namespace, *, target: str, rollback: bool) -> int:
    """Plan (from --dir) or read (--plan) and run; shared with ``schemaop rollback``."""
    from schemaop import engine
    from schemaop.commands import _support as cs
    from schemaop.model import InvalidPlan

    out = args.output
    try:
        options = cs.options_from_args(args)
    except InvalidPlan as exc:
        return cs.fail(str(exc), output=out)

    # The connection that read the history is handed on to the run (one connection
    # set-up less per Job); any later connection is a new one.
    spare: list[engine.Conn] = []

    def connect() -> engine.Conn:
        return spare.pop() if spare else engine.connect(args.database_url)

    try:
        return _execute(
            args, target, rollback=rollback, options=options, connect=connect, spare=spare
        )
    finally:
        for conn in spare:
            conn.close()


def _execute(
    args: argparse.Namespace,
    target: str,
    *,
    rollback: bool,
    options: RunOptions,
    connect: Callable[[], Conn],
    spare: list[Conn],
) -> int:
    from schemaop import engine, planner
    from schemaop.commands import _support as cs
    from schemaop.model import InvalidMigrationSet, InvalidPlan

    out = args.output

    if getattr(args, "plan", None):
        if args.to:
            return cs.fail("--to cannot be used with --plan (the plan has its target)", output=out)
        try:
            the_plan = cs.read_plan_file(args.plan)
        except InvalidPlan as exc:
            return cs.fail(str(exc), output=out)
    else:
        from schemaop import migrations_dir

        try:
            migrations = migrations_dir.load(args.dir)
        except InvalidMigrationSet as exc:
            return cs.fail(str(exc), output=out)
        try:
            conn = connect()
            spare.append(conn)
            state = engine.read_state(conn, options.history_schema)
        except engine.EngineError as exc:
            return _report_error(exc, out)
        try:
            if rollback:
                _check_rollback_target(migrations, state, target)
            the_plan = planner.plan(
                migrations,
                state,
                target,
                options=options,
                out_of_order=args.out_of_order,
            )
        except planner.PlanRefused as exc:
            return cs.fail(exc.message, cs.EXIT_REFUSED, output=out, reason=exc.reason.value)

    if the_plan.recorded_downs and out != "json":
        from schemaop.model.plan import recorded_down_note

        versions = [s.version.text for s in the_plan.recorded_downs]
        what = "migration" if getattr(args, "plan", None) else "file"
        print(f"note: {recorded_down_note(versions, what)}", file=sys.stderr)
    progress = cs.Progress(quiet=args.quiet or out == "json")
    with cs.StopFlag(interrupt=True) as stop:
        result = engine.run_plan(connect, the_plan, progress, stop=stop)
    failed = cs.failed_run(result, out)
    if failed is not None:
        return failed
    if out != "json":
        applied = [s for s in result.steps if s.status == "applied"]
        if not applied:
            print(f"nothing to do: the database is at {result.current_version or 'no version'}")
        else:
            seconds = result.duration_ms / 1000
            print(
                f"applied {len(applied)} step(s) in {seconds:.2f}s: "
                f"{result.from_version or 'empty'} -> {result.current_version or 'empty'}"
                + (f"; fingerprint {result.fingerprint[:12]}" if result.fingerprint else "")
            )
            for ref in result.snapshots:
                print(f"snapshot {ref['kind']} #{ref['id']}: {ref['location']}")
    return cs.EXIT_OK


def _check_rollback_target(migrations: MigrationSet, state: DatabaseState, target: str) -> None:
    from schemaop import planner
    from schemaop.model.conditions import Reason

    goal = planner.resolve_target(migrations, target)
    current = state.current_version
    if goal is not None and (current is None or goal > current):
        raise planner.PlanRefused(
            Reason.UNKNOWN_TARGET,
            f"rollback target {goal} is above the current version {current or 'none'}; "
            "use 'schemaop migrate --to' to go up",
            [goal],
        )


def _report_error(exc: EngineError, out: str) -> int:
    from schemaop.commands import _support as cs

    return cs.report(exc, out)
