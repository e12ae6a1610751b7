"""The summary of one engine run: what a Job reports and the operator reads (pure).

The engine writes it (``schemaop job run`` prints it on stdout and writes a
compact copy to the termination log; ``schemaop migrate --output json`` prints
it); the operator reads the termination message back with
:meth:`RunSummary.from_json` and :func:`schemaop.decide.decide` reads its typed
fields, never strings. The condition ``reason`` and the ``retryable`` verdict of
an error are set once, by the engine's classifier
(:mod:`schemaop.engine.errors`), and travel with it.

Persisted shape (JSON, camelCase; documented in docs/engine.md)::

    {"ok": false, "planHash": "...", "fromVersion": "3" | null, "toVersion": "5" | null,
     "target": "latest", "currentVersion": "4" | null, "applied": 1, "skipped": 0,
     "steps": [{"version": "4", "description": "...", "direction": "up",
                "transactional": true, "status": "applied", "durationMs": 12,
                "attempts": 1, "source": "recorded",   # source: only when recorded
                "retries": 0, "lockWaits": 0, "lockWaitMs": 0,   # only when not 0
                "notices": [{"severity": "NOTICE", "message": "..."}],  # only when some
                "noticesBatch": 3,   # the notices of this step and the next 2 (one query)
                "statements": [{"index": 1, "line": 1, "statement": "UPDATE t SET ...",
                                "command": "UPDATE 3", "rows": 3, "durationMs": 2,
                                "status": "ok" | "failed", "retries": 0, "lockWaits": 0,
                                "lockWaitMs": 0, "notices": [...],
                                "error": {"sqlstate": "...", "message": "..."}}],
                "statementsOmitted": 0}] | null
     "snapshots": [{...}], "rollbackPoints": [{...}], "fingerprint": "..." | null,
     "durationMs": 40,
     "error": {"kind": "MigrationFailed", "reason": "MigrationFailed",
               "retryable": false, "sqlstate": "42703", "message": "...",
               "detail": null, "hint": null, "statement": "...",
               "position": {"offset": 18, "line": 1, "column": 18} | null,
               "version": "5"} | null}

Per statement (``steps[].statements``, absent when the engine did not run the
step's SQL, and left out of the termination message): what PostgreSQL reported for
each statement, in order: its command tag and rows affected, its notices, lock
waits and retries, and for the statement that failed its SQLSTATE and message.
``durationMs`` of a statement is only there when the statement ran alone (a
non-transactional step); a transactional step is sent as one query, so only the
step has a duration. Bounded: :data:`MAX_STATEMENTS` statements per step (the
failed one kept), each statement's text clipped to its first line
(:data:`STATEMENT_TEXT` characters) with its line number in the step's SQL,
:data:`MAX_NOTICES` notices of :data:`NOTICE_TEXT` characters, scrubbed of
remembered secrets (:func:`schemaop.redaction.scrub`).

``error.reason`` is a member of :class:`schemaop.model.conditions.Reason`.
Reading is lenient, for messages written by another version of schemaop or cut
short: a missing field takes its default, an unknown reason reads as
``MigrationFailed``, and a message that is not a JSON object (truncated, or
written by something else) reads as a failed run whose error quotes the end of
the text and is retryable, never as an exception.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from schemaop import redaction
from schemaop.model.conditions import Reason

#: Kubernetes keeps 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096
#: How much of an unreadable termination message is quoted in the error.
UNREADABLE_TAIL = 2000
#: Statements listed per step (the rest counted in ``statementsOmitted``).
MAX_STATEMENTS = 200
#: Statements listed over all the steps of a run (failed steps' first), and notices.
MAX_RUN_STATEMENTS = 1000
MAX_RUN_NOTICES = 200
#: Characters kept of a statement's first line.
STATEMENT_TEXT = 120
#: Notices kept per statement and per step; characters kept of each.
MAX_NOTICES = 20
NOTICE_TEXT = 500
# The error kind of a termination message that is not a summary (:meth:`RunSummary.from_json`).
UNREADABLE_SUMMARY = "UnreadableSummary"


def _clip(text: str | None, limit: int | None) -> str | None:
    if text is None or limit is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _reason(value: Any) -> Reason:
    try:
        return Reason(str(value))
    except ValueError:
        return Reason.MIGRATION_FAILED


@dataclasses.dataclass(frozen=True)
class Position:
    """Where in a migration's SQL an error is: 1-based character offset, line and column."""

    offset: int | None
    line: int | None = None
    column: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {"offset": self.offset, "line": self.line, "column": self.column}

    @classmethod
    def from_dict(cls, data: Any) -> Position | None:
        if not isinstance(data, Mapping):
            return None
        return cls(
            _opt_int(data.get("offset")), _opt_int(data.get("line")), _opt_int(data.get("column"))
        )


@dataclasses.dataclass(frozen=True)
class RunError:
    """Why a run failed: an engine error as it crosses to the operator.

    ``kind`` names the engine's error class (``MigrationFailed``, ``LockBusy``...);
    ``reason`` and ``retryable`` are what the classifier decided for that class.
    """

    message: str
    reason: Reason = Reason.MIGRATION_FAILED
    retryable: bool = False
    kind: str = "MigrationFailed"
    sqlstate: str | None = None
    detail: str | None = None
    hint: str | None = None
    statement: str | None = None
    position: Position | None = None
    version: str | None = None

    def clipped(self, limit: int | None) -> RunError:
        """The same error with its long texts cut to ``limit`` characters."""
        return dataclasses.replace(
            self,
            message=_clip(self.message, limit) or "",
            detail=_clip(self.detail, limit),
            hint=_clip(self.hint, limit),
            statement=_clip(self.statement, limit),
        )

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-able form; ``limit`` clips the long texts (termination messages)."""
        short = self.clipped(limit)
        return {
            "kind": short.kind,
            "reason": short.reason.value,
            "retryable": short.retryable,
            "sqlstate": short.sqlstate,
            "message": short.message,
            "detail": short.detail,
            "hint": short.hint,
            "statement": short.statement,
            "position": short.position.to_dict() if short.position else None,
            "version": short.version,
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunError:
        """Read an error back; anything that is not an object becomes its message."""
        if not isinstance(data, Mapping):
            return cls(message=str(data)[-UNREADABLE_TAIL:])
        return cls(
            message=str(data.get("message") or ""),
            reason=_reason(data.get("reason", Reason.MIGRATION_FAILED.value)),
            retryable=data.get("retryable") is True,
            kind=str(data.get("kind") or "MigrationFailed"),
            sqlstate=_opt_str(data.get("sqlstate")),
            detail=_opt_str(data.get("detail")),
            hint=_opt_str(data.get("hint")),
            statement=_opt_str(data.get("statement")),
            position=Position.from_dict(data.get("position")),
            version=_opt_str(data.get("version")),
        )


def _count(value: Any) -> int:
    return max(0, _opt_int(value) or 0)


def statement_text(text: str, limit: int = STATEMENT_TEXT) -> str:
    """A statement as a summary shows it: its first non-empty line, clipped, scrubbed."""
    lines = [line.strip() for line in text.strip().splitlines()]
    first = next((line for line in lines if line), "")
    more = len([line for line in lines if line]) > 1
    if more or len(first) > limit:
        first = first[: limit - 3] + "..."
    return redaction.scrub(first)


@dataclasses.dataclass(frozen=True)
class Notice:
    """A notice PostgreSQL sent (RAISE NOTICE, ``table does not exist, skipping``...)."""

    severity: str
    message: str
    sqlstate: str | None = None

    @classmethod
    def of(cls, severity: str | None, message: str | None, sqlstate: str | None = None) -> Notice:
        """A notice as the engine keeps it: clipped and scrubbed of remembered secrets."""
        text = redaction.scrub(message or "")
        return cls(str(severity or "NOTICE")[:16], _clip(text, NOTICE_TEXT) or "", sqlstate)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "message": self.message}
        if self.sqlstate is not None:
            out["sqlstate"] = self.sqlstate
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Notice:
        if not isinstance(data, Mapping):
            return cls("NOTICE", str(data))
        return cls(
            str(data.get("severity") or "NOTICE"),
            str(data.get("message") or ""),
            _opt_str(data.get("sqlstate")),
        )


def _notices(value: Any) -> tuple[Notice, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(Notice.from_dict(v) for v in value[:MAX_NOTICES])


@dataclasses.dataclass(frozen=True)
class StatementSummary:
    """What one statement of a step did (see the module docstring).

    ``index`` is 1-based in the step's SQL, ``line`` where it starts there;
    ``statement`` its first line (:func:`statement_text`). ``rows``: the rows the
    command tag reports (INSERT/UPDATE/DELETE/MERGE/SELECT/COPY...), else None.
    ``duration_ms``: None unless the statement ran alone. ``retries``/``lock_waits``:
    tries of it that ended on a lock timeout, deadlock or serialization failure,
    and how many of those waited for a lock, ``lock_wait_ms`` how long they took.
    """

    index: int
    statement: str
    line: int | None = None
    command: str | None = None
    rows: int | None = None
    duration_ms: int | None = None
    status: str = "ok"
    retries: int = 0
    lock_waits: int = 0
    lock_wait_ms: int = 0
    notices: tuple[Notice, ...] = ()
    notices_omitted: int = 0
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "statement": self.statement}
        optional: dict[str, Any] = {
            "line": self.line,
            "command": self.command,
            "rows": self.rows,
            "durationMs": self.duration_ms,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        out["status"] = self.status
        counts = {
            "retries": self.retries,
            "lockWaits": self.lock_waits,
            "lockWaitMs": self.lock_wait_ms,
            "noticesOmitted": self.notices_omitted,
        }
        out.update({k: v for k, v in counts.items() if v})
        if self.notices:
            out["notices"] = [n.to_dict() for n in self.notices]
        if self.error is not None:
            out["error"] = dict(self.error)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatementSummary:
        error = data.get("error")
        return cls(
            index=_count(data.get("index")),
            statement=str(data.get("statement") or ""),
            line=_opt_int(data.get("line")),
            command=_opt_str(data.get("command")),
            rows=_opt_int(data.get("rows")),
            duration_ms=_opt_int(data.get("durationMs")),
            status="failed" if data.get("status") == "failed" else "ok",
            retries=_count(data.get("retries")),
            lock_waits=_count(data.get("lockWaits")),
            lock_wait_ms=_count(data.get("lockWaitMs")),
            notices=_notices(data.get("notices")),
            notices_omitted=_count(data.get("noticesOmitted")),
            error=_statement_error(error),
        )


def _statement_error(data: Any) -> dict[str, Any] | None:
    """A statement's error as read back: its SQLSTATE, message and position only."""
    if not isinstance(data, Mapping):
        return None
    out: dict[str, Any] = {
        "sqlstate": _opt_str(data.get("sqlstate")),
        "message": _clip(_opt_str(data.get("message")), NOTICE_TEXT),
        "position": (p := Position.from_dict(data.get("position"))) and p.to_dict(),
    }
    return {k: v for k, v in out.items() if v is not None}


def bounded_statements(
    statements: list[StatementSummary], limit: int = MAX_STATEMENTS
) -> tuple[tuple[StatementSummary, ...], int]:
    """At most ``limit`` statements, the failed ones kept first; and how many were left out."""
    if len(statements) <= limit:
        return tuple(statements), 0
    failed = [i for i, s in enumerate(statements) if s.status == "failed"][:limit]
    others = [i for i in range(len(statements)) if i not in set(failed)]
    keep = sorted(failed + others[: limit - len(failed)])
    return tuple(statements[i] for i in keep), len(statements) - len(keep)


@dataclasses.dataclass(frozen=True)
class StepSummary:
    """One step of a run; ``status`` is applied, skipped, failed or pending (not reached)."""

    version: str
    description: str
    direction: str
    transactional: bool
    status: str = "pending"
    duration_ms: int = 0
    attempts: int = 0
    # Where the step's SQL came from: ``migration``, or ``recorded`` (a down step run
    # with the down SQL the history recorded at apply time; its migration is gone).
    source: str = "migration"
    # A batched step's progress: rowsDone, batchesDone, rowsTotalEstimate, batchSize,
    # rowsPerSecond, throttleReason (absent from the JSON for other steps).
    batches: Mapping[str, Any] | None = None
    # Per statement (None: not known, e.g. the step did not run); see the module docstring.
    statements: tuple[StatementSummary, ...] | None = None
    statements_omitted: int = 0
    # Tries of the step beyond the first, how many of them ended waiting for a lock
    # (lock_timeout, deadlock) and how long those waited.
    retries: int = 0
    lock_waits: int = 0
    lock_wait_ms: int = 0
    # Notices not told apart per statement (a transactional step is one query); when
    # several steps went in one query, the first has them all, ``notices_batch`` says how many.
    notices: tuple[Notice, ...] = ()
    notices_batch: int = 1
    notices_omitted: int = 0

    def to_dict(self, *, statements: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "description": self.description,
            "direction": self.direction,
            "transactional": self.transactional,
            "status": self.status,
            "durationMs": self.duration_ms,
            "attempts": self.attempts,
        }
        if self.source != "migration":
            out["source"] = self.source
        if self.batches is not None:
            out["batches"] = dict(self.batches)
        counts = {
            "retries": self.retries,
            "lockWaits": self.lock_waits,
            "lockWaitMs": self.lock_wait_ms,
        }
        out.update({k: v for k, v in counts.items() if v})
        if self.notices:
            out["notices"] = [n.to_dict() for n in self.notices]
            if self.notices_batch > 1:
                out["noticesBatch"] = self.notices_batch
        if self.notices_omitted:
            out["noticesOmitted"] = self.notices_omitted
        if statements and self.statements is not None:
            out["statements"] = [s.to_dict() for s in self.statements]
            if self.statements_omitted:
                out["statementsOmitted"] = self.statements_omitted
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepSummary:
        return cls(
            version=str(data.get("version", "")),
            description=str(data.get("description", "")),
            direction=str(data.get("direction", "")),
            transactional=data.get("transactional") is not False,
            status=str(data.get("status", "pending")),
            duration_ms=_opt_int(data.get("durationMs")) or 0,
            attempts=_opt_int(data.get("attempts")) or 0,
            source="recorded" if data.get("source") == "recorded" else "migration",
            batches=data["batches"] if isinstance(data.get("batches"), dict) else None,
            statements=_statements(data.get("statements")),
            statements_omitted=_count(data.get("statementsOmitted")),
            retries=_count(data.get("retries")),
            lock_waits=_count(data.get("lockWaits")),
            lock_wait_ms=_count(data.get("lockWaitMs")),
            notices=_notices(data.get("notices")),
            notices_batch=max(1, _count(data.get("noticesBatch"))),
            notices_omitted=_count(data.get("noticesOmitted")),
        )


def bounded_steps(
    steps: tuple[StepSummary, ...],
    limit: int = MAX_RUN_STATEMENTS,
    notices: int = MAX_RUN_NOTICES,
) -> tuple[tuple[StepSummary, ...], bool]:
    """``steps`` with at most ``limit`` statements and ``notices`` notices over all of
    them, a failed step's first (the rest counted in ``statementsOmitted`` and
    ``noticesOmitted``); and whether anything was left out."""
    budget, out, cut = limit, list(steps), False
    left = [notices]

    def keep(items: tuple[Notice, ...]) -> tuple[tuple[Notice, ...], int]:
        kept = items[: left[0]]
        left[0] -= len(kept)
        return kept, len(items) - len(kept)

    for i in sorted(range(len(out)), key=lambda i: out[i].status != "failed"):
        step = out[i]
        step_notices, dropped = keep(step.notices)
        if dropped:
            cut = True
            step = dataclasses.replace(
                step, notices=step_notices, notices_omitted=step.notices_omitted + dropped
            )
        if step.statements is not None:
            statements = list(step.statements[:budget])
            omitted = len(step.statements) - len(statements)
            for k, st in enumerate(statements):
                st_notices, dropped = keep(st.notices)
                if dropped:
                    statements[k] = dataclasses.replace(
                        st, notices=st_notices, notices_omitted=st.notices_omitted + dropped
                    )
                    cut = True
            cut = cut or omitted > 0
            step = dataclasses.replace(
                step,
                statements=tuple(statements),
                statements_omitted=step.statements_omitted + omitted,
            )
            budget -= len(statements)
        out[i] = step
    return tuple(out), cut


def _statements(value: Any) -> tuple[StatementSummary, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(
        StatementSummary.from_dict(v) for v in value[:MAX_STATEMENTS] if isinstance(v, Mapping)
    )


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The result of a run (see the module docstring for its JSON)."""

    ok: bool
    plan_hash: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    target: str | None = None
    current_version: str | None = None
    applied: int = 0
    skipped: int = 0
    steps: tuple[StepSummary, ...] | None = None
    snapshots: tuple[Mapping[str, Any], ...] = ()
    rollback_points: tuple[Mapping[str, Any], ...] = ()
    fingerprint: str | None = None
    duration_ms: int = 0
    error: RunError | None = None

    @classmethod
    def failed(cls, error: RunError) -> RunSummary:
        """A run that failed before it started (a plan file that cannot be read)."""
        return cls(ok=False, error=error)

    def to_dict(
        self, *, clip: int | None = None, steps: bool = True, statements: bool = True
    ) -> dict[str, Any]:
        """JSON-able form; ``statements`` False leaves out the per-statement lists."""
        return {
            "ok": self.ok,
            "planHash": self.plan_hash,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "target": self.target,
            "currentVersion": self.current_version,
            "applied": self.applied,
            "skipped": self.skipped,
            "steps": [s.to_dict(statements=statements) for s in self.steps]
            if steps and self.steps is not None
            else None,
            "snapshots": [dict(s) for s in self.snapshots],
            "rollbackPoints": [dict(p) for p in self.rollback_points],
            "fingerprint": self.fingerprint,
            "durationMs": self.duration_ms,
            "error": self.error.to_dict(limit=clip) if self.error else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def termination_message(self, limit: int = TERMINATION_LIMIT) -> str:
        """A compact JSON summary under ``limit`` bytes.

        It never carries the per-statement lists (the full summary on stdout does).
        When the whole summary does not fit, the per-step list keeps only failed
        steps and a batched step left unfinished (its ``batches``: where a stopped
        run left it, which the operator compares between attempts), snapshots keep
        their id, kind and location, and long texts are clipped.
        """
        for clip, with_steps in ((1000, True), (600, False), (200, False), (80, False)):
            data = self.to_dict(clip=clip, steps=with_steps, statements=False)
            if not with_steps:
                data["steps"] = [
                    s.to_dict(statements=False)
                    for s in self.steps or ()
                    if s.status == "failed" or (s.batches is not None and s.status != "applied")
                ]
                data["snapshots"] = [
                    {k: s.get(k) for k in ("id", "kind", "location")} for s in self.snapshots
                ]
                data["rollbackPoints"] = data["rollbackPoints"][:5]
            text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
            if len(text.encode()) < limit:
                return text
        minimal = {
            "ok": self.ok,
            "planHash": self.plan_hash,
            "currentVersion": self.current_version,
            "error": self.error.to_dict(limit=60) if self.error else None,
        }
        return json.dumps(minimal, separators=(",", ":"), default=str)[: limit - 1]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        error = data.get("error")
        steps = data.get("steps")
        return cls(
            ok=data.get("ok") is True,
            plan_hash=_opt_str(data.get("planHash")),
            from_version=_opt_str(data.get("fromVersion")),
            to_version=_opt_str(data.get("toVersion")),
            target=_opt_str(data.get("target")),
            current_version=_opt_str(data.get("currentVersion")),
            applied=_opt_int(data.get("applied")) or 0,
            skipped=_opt_int(data.get("skipped")) or 0,
            steps=tuple(StepSummary.from_dict(s) for s in steps if isinstance(s, Mapping))
            if isinstance(steps, list)
            else None,
            snapshots=_objects(data.get("snapshots")),
            rollback_points=_objects(data.get("rollbackPoints")),
            fingerprint=_opt_str(data.get("fingerprint")),
            duration_ms=_opt_int(data.get("durationMs")) or 0,
            error=None if error is None else RunError.from_dict(error),
        )

    @classmethod
    def from_json(cls, text: str) -> RunSummary:
        """Read a summary back; never raises (see the module docstring)."""
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, Mapping):
            return cls.from_dict(data)
        return cls.failed(
            RunError(
                message=text[-UNREADABLE_TAIL:],
                retryable=True,
                kind=UNREADABLE_SUMMARY,
            )
        )


def ended_silently(summary: RunSummary | None) -> bool:
    """Whether a run ended without saying how: no termination message, or one that is
    not a summary (Kubernetes puts the end of the log there when the process wrote
    none: killed by the OOM killer, kill -9, SIGKILL after the grace period)."""
    if summary is None:
        return True
    return summary.error is not None and summary.error.kind == UNREADABLE_SUMMARY


def _objects(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(dict(v) for v in value if isinstance(v, Mapping))
