"""``schemaop job run --plan FILE``: what a migration Job runs.

Runs the plan with the database from the environment (``DATABASE_URL`` or
libpq's ``PG*`` variables, set from Secrets by the Job), prints the JSON result
on stdout, and writes a compact summary (under 4096 bytes, Kubernetes' limit
for termination messages) to ``--termination-log`` (default
``/dev/termination-log`` when it is writable), which the operator reads from
the Pod's status. Exit 0 on success (also when nothing was left to do), 1 when
the run failed, 2 for a bad plan file, 3 when the plan was refused (stale plan,
dirty database), 4 when it stopped early on SIGTERM (the batch or step in flight
finished and committed; not a failure: a new run continues); the summary
carries the error (reason, sqlstate, message, statement, position, version) in
every failing case.
"""

from __future__ import annotations

import argparse
import os
import sys

from schemaop.redaction import path_argument, scrub, scrub_json_text

DEFAULT_TERMINATION_LOG = "/dev/termination-log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    run_p = sub.add_parser("run", help="run a plan file", allow_abbrev=False)
    run_p.add_argument(
        "--plan",
        required=True,
        metavar="FILE",
        type=path_argument,
        help="plan file (JSON), or a directory of its parts plan.json.000, plan.json.001 ...",
    )
    run_p.add_argument(
        "--termination-log",
        metavar="PATH",
        type=path_argument,
        default=None,
        help=f"where to write the summary (default {DEFAULT_TERMINATION_LOG} when writable)",
    )
    run_p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def _termination_path(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    path = DEFAULT_TERMINATION_LOG
    if os.path.exists(path) and os.access(path, os.W_OK):
        return path
    return None


def _write(path: str | None, text: str) -> None:
    """Write the termination message, its human text through the scrubber first.

    The operator copies it into status and Events: this is the one place it is written.
    """
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(scrub_json_text(text))
    except OSError as exc:
        print(f"schemaop: cannot write termination log {path}: {exc.strerror}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from schemaop import engine
    from schemaop.commands import _support as cs
    from schemaop.model import InvalidPlan
    from schemaop.model.conditions import Reason
    from schemaop.model.run import RunError, RunSummary

    term = _termination_path(args.termination_log)
    try:
        plan = cs.read_plan_file(args.plan)
    except InvalidPlan as exc:
        summary = RunSummary.failed(
            RunError(message=str(exc), reason=Reason.INVALID_PLAN, kind="InvalidPlan")
        )
        _write(term, summary.termination_message())
        print(scrub_json_text(summary.to_json()))
        print(f"schemaop: error: {scrub(str(exc))}", file=sys.stderr)
        return cs.EXIT_USAGE

    def connect() -> engine.Conn:
        return engine.connect(None, f"schemaop-job {plan.short_hash}")

    with cs.StopFlag() as stop:
        result = engine.run_plan(connect, plan, cs.Progress(quiet=args.quiet), stop=stop)
    print(scrub_json_text(result.to_json()))
    _write(term, result.termination_message())
    if result.error is not None:
        print(cs.describe_error(result.error), file=sys.stderr)
        return cs.exit_code(result.error)
    return cs.EXIT_OK
