"""What the engine's CLI commands share: options, progress lines, output, exit codes.

Used by ``schemaop migrate``, ``plan``, ``status``, ``rollback``, ``repair`` and
``job run`` (modules in :mod:`schemaop.commands`). Exit codes:

== =======================================================================
0  success (also: nothing to do)
1  the run failed (SQL error, lock busy, snapshot failed, database unreachable)
2  bad input (options, unreadable directory or plan file, a database URL that
   cannot be used as written)
3  refused before anything ran (dirty database, checksum mismatch, missing
   migration or down step, unknown target)
== =======================================================================

Nothing printed here ever contains the password or the full connection string:
every message goes through the scrubber (:func:`schemaop.redaction.scrub`), and
arguments that are paths or schema names refuse a value that looks like a URL
without echoing it (:mod:`schemaop.redaction`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from schemaop import redaction
from schemaop.engine.errors import (
    ConnectionPooled,
    EngineError,
    InvalidConnectionString,
    Refused,
    Stopped,
)

if TYPE_CHECKING:
    from schemaop.engine.runner import RunResult
from schemaop.model.names import EXIT_STOPPED
from schemaop.model.plan import SNAPSHOT_POLICIES, InvalidPlan, Plan, RunOptions
from schemaop.redaction import scrub as redact
from schemaop.redaction import scrub_messages, shown

# The argument types every command shares, re-exported for the command modules.
path_argument = redaction.path_argument
schema_list_argument = redaction.schema_list_argument
schema_name_argument = redaction.schema_name_argument

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
# Stopped early on SIGTERM (a batched step finished its batch): not a failure.


def number_with_unit(
    text: str,
    units: dict[str, int],
    *,
    hint: str,
    bare: str | None = None,
    fraction: bool = False,
) -> int:
    """A command-line duration: one number and one of ``units`` (name -> factor), blanks
    around allowed; the whole number of the smallest unit (a fraction is truncated).

    ``bare`` is the unit of a number written without one (None: a unit is required);
    ``fraction`` allows ``1.5``. The CRD's format (``1h30m``) is another one:
    :mod:`schemaop.model.duration`.
    """
    number = r"[0-9]+(?:\.[0-9]+)?" if fraction else r"[0-9]+"
    names = "|".join(sorted(units, key=len, reverse=True))
    optional = "?" if bare is not None else ""
    m = re.match(rf"^\s*(?P<n>{number})\s*(?P<unit>{names}){optional}\s*$", text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid duration {shown(text)}: {hint}")
    factor = units[m.group("unit") or str(bare)]
    n = m.group("n")
    return int(float(n) * factor) if "." in n else int(n) * factor


def duration_ms(text: str) -> int:
    """``2s``, ``500ms``, ``1.5s``, ``1m`` or a bare number of milliseconds."""
    return number_with_unit(
        text,
        {"ms": 1, "s": 1000, "m": 60_000},
        hint="use e.g. 500ms, 2s or 1m",
        bare="ms",
        fraction=True,
    )


def age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``2w``, ``90m`` or ``45s`` (whole numbers; a unit is required)."""
    seconds = number_with_unit(
        text,
        {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800},
        hint="use a number and a unit, e.g. 30d, 12h, 2w, 90m",
    )
    return dt.timedelta(seconds=seconds)


def add_db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql://user@host:port/dbname (default: $DATABASE_URL, then libpq's PG* "
        "variables). Prefer PGPASSWORD or ~/.pgpass to a password in the URL",
    )
    parser.add_argument(
        "--history-schema",
        default="schemaop",
        type=schema_name_argument,
        help="schema of schemaop's history and snapshot tables (default: schemaop)",
    )
    parser.add_argument("--output", choices=["text", "json"], default="text")


def add_source_arguments(parser: argparse.ArgumentParser, *, plan_file: bool = True) -> None:
    src = parser.add_mutually_exclusive_group(required=not plan_file)
    src.add_argument(
        "--dir",
        metavar="DIR",
        type=path_argument,
        help="directory of migration files (docs/engine.md)",
    )
    if plan_file:
        src.add_argument(
            "--plan",
            metavar="FILE",
            type=path_argument,
            help="a plan file (from 'schemaop plan')",
        )


def add_planning_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schemas",
        default="public",
        type=schema_list_argument,
        help="comma-separated managed schemas (fingerprint, snapshots; default: public)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="tolerate applied versions that are not in the directory",
    )
    parser.add_argument(
        "--out-of-order",
        action="store_true",
        help="apply pending migrations older than the newest applied one",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=duration_ms,
        default=2000,
        help="lock_timeout of every statement (default 2s)",
    )
    parser.add_argument("--retries", type=int, default=5, help="tries on lock timeout (default 5)")
    parser.add_argument(
        "--statement-timeout", type=duration_ms, default=None, help="statement_timeout (off)"
    )
    parser.add_argument(
        "--lock-wait",
        type=duration_ms,
        default=60_000,
        help="how long to wait for another runner's lock (default 60s)",
    )
    parser.add_argument("--snapshot", choices=SNAPSHOT_POLICIES, default="None")
    parser.add_argument(
        "--snapshot-dir", type=path_argument, help="directory for --snapshot Full dumps"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def options_from_args(args: argparse.Namespace) -> RunOptions:
    schemas = tuple(s.strip() for s in getattr(args, "schemas", "public").split(",") if s.strip())
    return RunOptions(
        lock_timeout_ms=getattr(args, "lock_timeout", 2000),
        retries=getattr(args, "retries", 5),
        statement_timeout_ms=getattr(args, "statement_timeout", None),
        lock_wait_ms=getattr(args, "lock_wait", 60_000),
        snapshot=getattr(args, "snapshot", "None"),
        snapshot_dir=getattr(args, "snapshot_dir", None),
        schemas=schemas or ("public",),
        history_schema=args.history_schema,
        allow_missing=getattr(args, "allow_missing", False),
    )


def read_plan_file(path: str) -> Plan:
    """A plan file, or a directory of its parts (``plan.json.000``, ``plan.json.001`` ...,
    joined in order: the operator cuts a plan too large for one ConfigMap)."""
    try:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.startswith("plan.json."))
            if not names:
                raise InvalidPlan(f"no plan.json.* parts in directory {path}")
            data = b""
            for name in names:
                with open(os.path.join(path, name), "rb") as fh:
                    data += fh.read()
            return Plan.from_json(data)
        with open(path, "rb") as fh:
            return Plan.from_json(fh.read())
    except OSError as exc:
        raise InvalidPlan(f"cannot read plan file {shown(path)}: {exc.strerror}") from exc


def fail(message: str, code: int = EXIT_USAGE, *, output: str = "text", **extra: Any) -> int:
    """Print an error (stderr; and a JSON object on stdout with --output json)."""
    text = redact(message)
    if output == "json":
        print(json.dumps({"ok": False, "error": {"message": text, **extra}}, default=str))
    print(f"schemaop: error: {text}", file=sys.stderr)
    return code


def exit_code(err: EngineError) -> int:
    """The exit code of a failed command: 2 bad URL, 3 refused (also: a connection
    through a transaction pooler, refused before anything ran), 4 stopped, 1 anything
    else."""
    if isinstance(err, InvalidConnectionString):
        return EXIT_USAGE
    if isinstance(err, Stopped):
        return EXIT_STOPPED
    return EXIT_REFUSED if isinstance(err, Refused | ConnectionPooled) else EXIT_FAILED


def report(err: EngineError, output: str = "text") -> int:
    """Print an engine error (JSON on stdout with --output json) and return its exit code."""
    if output == "json":
        print(json.dumps({"ok": False, "error": scrub_messages(err.to_dict())}, default=str))
    else:
        print(describe_error(err), file=sys.stderr)
    return exit_code(err)


def failed_run(result: RunResult, output: str = "text") -> int | None:
    """A run's result as ``migrate`` and ``repair`` print it: the summary on stdout with
    --output json; a failure's error on stderr otherwise. Its exit code when it failed,
    None when it did not (the command then says what was done, in its own words)."""
    if output == "json":
        print(redaction.scrub_json_text(json.dumps(result.to_dict(), default=str)))
    if result.error is None:
        return None
    if output != "json":
        print(describe_error(result.error), file=sys.stderr)
    return exit_code(result.error)


def describe_error(err: EngineError) -> str:
    # A stop on request is no error: everything done is kept and a new run continues.
    lines = [f"{'stopped' if isinstance(err, Stopped) else 'error'}: {redact(str(err))}"]
    if err.detail:
        lines.append(f"  detail: {redact(err.detail)}")
    if err.hint:
        lines.append(f"  hint: {redact(err.hint)}")
    if err.statement:
        stmt = err.statement if len(err.statement) < 400 else err.statement[:397] + "..."
        lines.append("  statement: " + redact(stmt).replace("\n", "\n             "))
    if err.position:
        lines.append(f"  at line {err.position.line}, column {err.position.column}")
    return "\n".join(lines)


class Progress:
    """Progress lines on stderr: every retry and failure; steps at most once a second.

    Short runs print nothing but the final summary; a long one prints where it
    is every second, so a Job's log shows it is alive.
    """

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.started = time.monotonic()
        self.last = self.started
        # A progress bar line is on the terminal, without its newline yet.
        self.bar_open = False

    def __call__(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        kind = event.get("event")
        now = time.monotonic()
        if kind == "retry":
            self._print(
                f"retry: {event['version']} hit SQLSTATE {event['sqlstate']}, try "
                f"{event['attempt'] + 1} in {event['delayMs']}ms"
            )
        elif kind == "step-failed":
            self._print(f"failed: {event['version']}")
        elif kind == "snapshot":
            self._print(f"snapshot: taking a {event['policy']} snapshot")
        elif kind == "step-start" and now - self.last >= 1.0:
            self.last = now
            self._print(
                f"[{event['index'] + 1}/{event['total']}] {event['direction']} "
                f"{event['version']} {event['description']} ({now - self.started:.1f}s)"
            )
        elif kind == "step-done" and now - self.last >= 1.0:
            self.last = now
            self._print(
                f"[{event['index'] + 1}/{event['total']}] done {event['direction']} "
                f"{event['version']} ({now - self.started:.1f}s)"
            )

        elif kind == "stopped" or (kind is not None and kind.startswith("batch-")):
            self._batch(event, now)

    def _batch(self, event: dict[str, Any], now: float) -> None:
        """A batched step's progress: a bar on a terminal, JSON lines otherwise.

        Batches are shown at most every 0.2s (terminal) or 1s (JSON lines); retries,
        throttling, resume and stop always.
        """
        kind = event["event"]
        routine = kind == "batch-done"
        tty = self.stream.isatty()
        if routine and now - self.last < (0.2 if tty else 1.0):
            return
        self.last = now
        if not tty:
            line = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **event}
            self._print(redact(json.dumps(line, default=str, separators=(",", ":"))))
            return
        self._bar_line(event)

    def _bar_line(self, event: dict[str, Any]) -> None:
        done, total = int(event.get("rowsDone") or 0), event.get("rowsTotalEstimate")
        width = 30
        if total:
            frac = min(1.0, done / max(int(total), 1))
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            share = f"{frac * 100:5.1f}%"
        else:
            bar, share = "?" * width, "  ?  "
        rate = event.get("rowsPerSecond")
        eta = ""
        if rate and total and int(total) > done:
            eta = f" eta {int((int(total) - done) / float(rate))}s"
        why = event.get("throttleReason") or event.get("reason")
        extra = f" [{why}]" if why else ""
        if event["event"] == "batch-retry":
            extra += f" retry {event.get('attempt')} (SQLSTATE {event.get('sqlstate')})"
        text = (
            f"{event.get('direction', '')} {event.get('version', '')} [{bar}] {share} "
            f"{done} rows, {event.get('batchesDone', 0)} batches, size "
            f"{event.get('batchSize', '?')}"
            + (f", {float(rate):.0f} rows/s" if rate else "")
            + eta
            + extra
        )
        self.bar_open = event["event"] != "stopped"
        print("\r\x1b[K" + text, end="" if self.bar_open else "\n", file=self.stream, flush=True)

    def _print(self, line: str) -> None:
        if self.bar_open:  # end the progress bar's line first
            self.bar_open = False
            line = "\n" + line
        print(line, file=self.stream, flush=True)


class StopFlag:
    """Set by SIGTERM (and SIGINT when asked): the engine finishes its batch and stops.

    ``with StopFlag() as stop: run_plan(..., stop=stop)``; the previous handlers are
    put back on exit.
    """

    def __init__(self, *, interrupt: bool = False) -> None:
        import signal

        self.signals = [signal.SIGTERM] + ([signal.SIGINT] if interrupt else [])
        self.set = False
        self._old: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.set

    def _handle(self, signum: int, _frame: Any) -> None:
        self.set = True

    def __enter__(self) -> StopFlag:
        import signal

        for sig in self.signals:
            # Not the main thread (ValueError): leave the default.
            with contextlib.suppress(ValueError):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
