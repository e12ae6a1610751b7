"""``schemaop rollback --to VERSION``: run down migrations to a lower version.

The same as ``schemaop migrate --dir DIR --to VERSION`` but refuses a target
above the current version. ``--to 0`` reverts everything. Any needed down step
missing refuses before anything runs (``DownMigrationMissing``). A version
whose file is gone is reverted with the down SQL the history recorded when it
was applied (the CLI says so), as in the operator.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemaop.commands import _support as cs

    cs.add_source_arguments(parser, plan_file=False)
    parser.add_argument("--to", metavar="VERSION", required=True, help="version to go down to")
    cs.add_db_arguments(parser)
    cs.add_planning_arguments(parser)
    cs.add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from schemaop.commands import migrate

    args.plan = None
    return migrate.execute(args, target=args.to, rollback=True)
