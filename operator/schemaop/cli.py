"""The ``schemaop`` command line.

Every subcommand lives in its own module under :mod:`schemaop.commands` and is
imported only when it is the one being run: ``schemaop migrate`` runs inside
every migration Job and in the engine benchmark, so it must not pay for
importing kopf or the Kubernetes client. The table below is the only place that
knows all subcommands; it holds names and one-line help, nothing imported.

A command module provides ``add_arguments(parser)`` and ``run(args) -> int``,
and imports what it needs inside ``run``.

Before any command runs, every argument and environment variable that looks
like a connection string is handed to :mod:`schemaop.redaction`, whose
scrubber is then installed for every log record of the process and for
everything written to stderr (every error line of every command); argparse's
own errors go through it too and are one line (exit 2), never an echo of a URL.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol, TextIO, cast

from schemaop import __version__, redaction

# Where a connection string or password may come from outside the command line.
_SECRET_ENV = ("DATABASE_URL", "SCHEMAOP_DATABASE_URL")

# name -> (module under schemaop.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "version": ("version", "print the schemaop version"),
    "migrate": ("migrate", "apply migrations from a directory or plan file to a database"),
    "plan": ("plan", "show what migrate would run; changes nothing"),
    "status": ("status", "show the database's applied version and pending migrations"),
    "rollback": ("rollback", "run down migrations to a lower version"),
    "repair": ("repair", "resolve a dirty database after a failed non-transactional step"),
    "job": ("job", "commands run inside migration Jobs (job run --plan FILE)"),
    "lint": ("lint", "lint SQL migrations for destructive and lock-heavy changes"),
    "purge": ("purge", "drop tombstoned tables and columns older than a given age"),
    "validate": ("validate", "validate schemaop manifests against the JSON Schemas"),
    "render": ("render", "render a migration directory as SchemaMigration manifests"),
    "operator": ("operator", "run the Kubernetes operator"),
    "wait": ("wait", "block until a SchemaVersion is Ready at or past a version"),
    "sidecar": ("sidecar", "serve the active schema over HTTP"),
    "console": ("console", "serve the migration console (web UI) in the cluster"),
    "kubectl": ("kubectl", "the kubectl plugin: status, history, plan, approve, rollback, console"),
}


class CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that go through the scrubber."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {redaction.scrub(message)} (see '{self.prog} --help')\n")


def _load(name: str) -> CommandModule:
    module_name, _ = COMMANDS[name]
    return cast(CommandModule, importlib.import_module(f"schemaop.commands.{module_name}"))


def _top_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="schemaop",
        description="Keep PostgreSQL databases at a declared schema version.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nRun 'schemaop COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"schemaop {__version__}")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``schemaop`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    redaction.remember_possible_urls(args)
    for name in _SECRET_ENV:
        redaction.remember_connection_string(os.environ.get(name))
    redaction.remember(os.environ.get("PGPASSWORD"))
    redaction.install_log_scrubber()
    stderr = sys.stderr
    if not isinstance(stderr, redaction.ScrubbingWriter):
        sys.stderr = cast(TextIO, redaction.ScrubbingWriter(stderr))
    try:
        return _main(args)
    finally:
        sys.stderr = stderr


def _main(args: list[str]) -> int:
    top = _top_parser()
    if not args or args[0].startswith("-"):
        top.parse_args(args)  # handles --help and --version, then exits
        top.print_help(sys.stderr)
        return 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"schemaop: unknown command {redaction.shown(name)}; see 'schemaop --help'",
            file=sys.stderr,
        )
        return 2
    module = _load(name)
    # No prefix matching of long options: a mistyped flag is an error, never quietly
    # another flag (--database-url is not --database-url-file).
    parser = _Parser(prog=f"schemaop {name}", description=COMMANDS[name][1], allow_abbrev=False)
    module.add_arguments(parser)
    namespace = parser.parse_args(rest)
    try:
        return module.run(namespace)
    except KeyboardInterrupt:
        print("schemaop: interrupted", file=sys.stderr)
        return 130


def kubectl_plugin_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kubectl-schemaop`` (``kubectl schemaop ...``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return main(["kubectl", *args]) if "kubectl" in COMMANDS else _no_plugin()


def _no_plugin() -> int:
    print("kubectl-schemaop: the kubectl plugin is not available in this build", file=sys.stderr)
    return 2
