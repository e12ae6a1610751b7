"""``schemaop plan``: show what ``migrate`` would run; changes nothing.

Reads the migration directory and the database's history (read-only: a
database without the history schema reads as empty and nothing is created),
and prints the plan: its hash and steps (text), or with ``--output json`` the
plan file itself, which ``schemaop migrate --plan`` and ``schemaop job run
--plan`` accept. ``--empty`` plans against an empty database without
connecting (for reviewing a directory in CI).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemaop.commands import _support as cs

    cs.add_source_arguments(parser, plan_file=False)
    parser.add_argument("--to", metavar="VERSION", default="latest", help="target (latest)")
    parser.add_argument(
        "--empty", action="store_true", help="plan for an empty database; do not connect"
    )
    parser.add_argument(
        "--file", metavar="PATH", type=cs.path_argument, help="also write the plan file to PATH"
    )
    cs.add_db_arguments(parser)
    cs.add_planning_arguments(parser)
    cs.add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from schemaop import migrations_dir, planner
    from schemaop.commands import _support as cs
    from schemaop.model import DatabaseState, InvalidMigrationSet, InvalidPlan

    out = args.output
    try:
        options = cs.options_from_args(args)
        migrations = migrations_dir.load(args.dir)
    except (InvalidPlan, InvalidMigrationSet) as exc:
        return cs.fail(str(exc), output=out)
    if args.empty:
        state = DatabaseState()
    else:
        from schemaop import engine

        try:
            with engine.connect(args.database_url, "schemaop-plan") as conn:
                state = engine.read_state(conn, options.history_schema)
        except engine.EngineError as exc:
            return cs.report(exc, out)
    try:
        the_plan = planner.plan(
            migrations, state, args.to, options=options, out_of_order=args.out_of_order
        )
    except planner.PlanRefused as exc:
        return cs.fail(exc.message, cs.EXIT_REFUSED, output=out, reason=exc.reason.value)
    if args.file:
        with open(args.file, "w", encoding="utf-8") as fh:
            fh.write(the_plan.to_json(indent=2) + "\n")
    if out == "json":
        print(the_plan.to_json(indent=2))
        return cs.EXIT_OK
    frm = the_plan.from_version or "empty"
    to = the_plan.to_version or "empty"
    if the_plan.empty:
        print(f"nothing to do: the database is at {frm} (target {the_plan.target})")
        return cs.EXIT_OK
    print(f"plan {the_plan.short_hash}: {frm} -> {to}, {len(the_plan.steps)} step(s)")
    for step in the_plan.steps:
        flag = "" if step.transactional else "  [non-transactional]"
        if step.source == "recorded":
            flag += "  [down SQL recorded at apply time; its file is gone]"
        print(f"  {step.direction:<4} {step.version.text:<14} {step.description}{flag}")
    return cs.EXIT_OK
