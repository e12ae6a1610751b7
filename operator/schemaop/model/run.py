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
                "attempts": 1, "source": "recorded"}] | null,   # source: only when recorded
     "snapshots": [{...}], "rollbackPoints": [{...}], "fingerprint": "..." | null,
     "durationMs": 40,
     "error": {"kind": "MigrationFailed", "reason": "MigrationFailed",
               "retryable": false, "sqlstate": "42703", "message": "...",
               "detail": null, "hint": null, "statement": "...",
               "position": {"offset": 18, "line": 1, "column": 18} | null,
               "version": "5"} | null}

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

from schemaop.model.conditions import Reason

#: Kubernetes keeps 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096
#: How much of an unreadable termination message is quoted in the error.
UNREADABLE_TAIL = 2000
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

    def to_dict(self) -> dict[str, Any]:
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

    def to_dict(self, *, clip: int | None = None, steps: bool = True) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "planHash": self.plan_hash,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "target": self.target,
            "currentVersion": self.current_version,
            "applied": self.applied,
            "skipped": self.skipped,
            "steps": [s.to_dict() for s in self.steps]
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

        When the whole summary does not fit, the per-step list keeps only failed
        steps, snapshots keep their id, kind and location, and long texts are clipped.
        """
        for clip, with_steps in ((1000, True), (600, False), (200, False), (80, False)):
            data = self.to_dict(clip=clip, steps=with_steps)
            if not with_steps:
                data["steps"] = [s.to_dict() for s in self.steps or () if s.status == "failed"]
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
