"""The shape of the status schemaop writes, and the changes made to it (pure).

The authoritative schema is ``schemas/`` (the CRDs are generated from it); the
TypedDicts here say the same in Python for the code that builds status (``decide``,
the reconciler) and for readers. ``tests/unit/test_status_shape.py`` keeps the keys
here and the properties in ``schemas/`` identical. All keys are camelCase, as in
every Kubernetes status; none is ever a secret.

A change to a SchemaVersion's status is a :data:`StatusChange`: a small pure
mutator of one part of it (``set_failure``, ``clear_plan``...). ``decide`` returns
the changes; the one status writer (``Reconciler._write_status``, through
``KubeApi.update_status``: re-read on conflict, no write when nothing changed)
applies them with :func:`apply` to the status it just read. The shaping helpers
below (``plan_status``, ``database_status``, ``failure_from``...) turn the model's
objects into these shapes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from schemaop.model.batchprogress import BatchProgress, eta_text
from schemaop.model.history import DatabaseState
from schemaop.model.plan import Plan
from schemaop.model.run import RunError

# At most this many plan steps, history rows and rollback points are kept in status.
MAX_STATUS_STEPS = 50
MAX_HISTORY = 20


class Condition(TypedDict, total=False):
    """kstatus-shaped; see :mod:`schemaop.model.conditions` for types and reasons."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


class PlanStepStatus(TypedDict, total=False):
    version: str
    direction: Literal["up", "down"]
    description: str
    transactional: bool
    checksum: str
    # Only on a down step run with the down SQL recorded at apply time (its
    # SchemaMigration is gone): ``recorded``.
    source: Literal["recorded"]
    batched: bool


class PlanLint(TypedDict, total=False):
    errors: int
    warnings: int
    findings: list[dict[str, object]]


class PlanStatus(TypedDict, total=False):
    """The plan the operator decided on; ``hash`` is what a person approves."""

    hash: str
    fromVersion: str
    toVersion: str
    direction: Literal["up", "down", "none"]
    steps: list[PlanStepStatus]
    truncatedSteps: int
    approved: bool
    lint: PlanLint


class HistoryStatus(TypedDict, total=False):
    """One row of the database's history table (the newest 20 are kept in status)."""

    version: str
    direction: str
    status: str
    description: str
    appliedAt: str
    durationSeconds: float
    planHash: str


class RollbackPoint(TypedDict, total=False):
    kind: str  # Schema, Full or Archive
    ref: str
    version: str
    fingerprint: str
    takenAt: str


class LastJob(TypedDict, total=False):
    name: str
    planHash: str
    result: Literal["Running", "Succeeded", "Failed"]
    startedAt: str
    finishedAt: str
    message: str


class Failure(TypedDict, total=False):
    """The last failure, for a person to act on (SQLSTATE, statement, line)."""

    version: str
    sqlstate: str
    message: str
    statement: str
    position: int
    line: int
    attempts: int
    retryAt: str


class Retry(TypedDict, total=False):
    """How the migration Jobs of one plan have ended so far, kept in status so that
    the attempt count, the backoff and a stall outlive the Jobs themselves (their
    ``ttlSecondsAfterFinished``, a person, a GitOps prune): a plan whose failed Jobs
    are gone is not run again as attempt 1.

    ``attempt``: the last attempt that ended; ``retryable``: whether another may
    follow; ``stoppedInARow``: attempts in a row that ended from outside (killed
    without a summary, or stopped by ``activeDeadlineSeconds``); ``reason`` and
    ``message``: the condition a stall shows; ``retryAt``: when the next attempt
    may start; ``retryRequested``: the value of ``schemaop.io/retry-requested`` the
    last attempt answered (each value answers once); ``started``: the attempt whose
    Job was created and not yet seen to end (one gone unseen counts as ended from
    outside); ``progress``: how far the plan's batched step was when ``attempt``
    ended (before any ended: when attempt 1 started), so that an attempt ended from
    outside that advanced it is not counted in ``stoppedInARow`` even once the Jobs
    are gone (:class:`RetryProgress`)."""

    planHash: str
    attempt: int
    retryable: bool
    stoppedInARow: int
    reason: str
    message: str
    retryAt: str
    retryRequested: str
    started: int
    progress: RetryProgress


class RetryProgress(TypedDict, total=False):
    """The batched step in progress when an attempt ended (status.retry.progress).

    ``batchesDone`` and ``rowsDone`` are cumulative over the attempts (the engine
    resumes them from the progress table), not the attempt's own; ``batchesAdded``:
    the batches that attempt committed (absent when not known), more than 0 when it
    advanced the step."""

    version: str
    direction: Literal["up", "down"]
    batchesDone: int
    rowsDone: int
    batchesAdded: int


class BatchError(TypedDict, total=False):
    """The last failed batch of a batched step: its key range, SQLSTATE and statement."""

    sqlstate: str
    message: str
    statement: str
    lo: dict[str, str]
    hi: dict[str, str]


class DataMigration(TypedDict, total=False):
    """The batched step in progress (or the last one), read from the progress table.

    ``percent`` and ``eta`` are derived from the estimate and the recent rate;
    ``progress`` is the same for the printer column. ``paused``: a pause stopped
    its Job between two batches; the position is kept and a new Job continues.
    """

    version: str
    direction: Literal["up", "down"]
    rowsDone: int
    batchesDone: int
    rowsTotalEstimate: int
    percent: int
    progress: str
    rowsPerSecond: float
    eta: str
    batchSize: int
    throttleReason: str
    failedAttempts: int
    lastError: BatchError
    startedAt: str
    updatedAt: str
    completedAt: str
    paused: bool


class SchemaVersionStatus(TypedDict, total=False):
    observedGeneration: int
    currentVersion: str
    targetVersion: str
    pending: int
    dirty: bool
    schemaHash: str
    plan: PlanStatus
    history: list[HistoryStatus]
    rollbackPoints: list[RollbackPoint]
    lastJob: LastJob
    failure: Failure
    retry: Retry
    dataMigration: DataMigration
    conditions: list[Condition]


class MigrationLint(TypedDict, total=False):
    errors: int
    warnings: int
    findings: list[dict[str, object]]


class SchemaMigrationStatus(TypedDict, total=False):
    observedGeneration: int
    checksum: str
    applied: bool
    appliedAt: str
    lint: MigrationLint
    conditions: list[Condition]


# -- changes ---------------------------------------------------------------------

StatusChange = Callable[[SchemaVersionStatus], None]
"""One change to a SchemaVersion's status, applied in place by :func:`apply`."""


def apply(status: SchemaVersionStatus, changes: Iterable[StatusChange]) -> SchemaVersionStatus:
    """``status`` with ``changes`` applied in order (in place; returned for chaining)."""
    for change in changes:
        change(status)
    return status


def set_target_version(version: str) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["targetVersion"] = version

    return change


def set_database(fields: SchemaVersionStatus) -> StatusChange:
    """What the database's history says (see :func:`database_status`)."""

    def change(status: SchemaVersionStatus) -> None:
        status.update(fields)

    return change


def set_rollback_points(points: Sequence[RollbackPoint]) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["rollbackPoints"] = list(points)

    return change


def set_pending(steps: int) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["pending"] = steps

    return change


def set_plan(plan: PlanStatus) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["plan"] = plan

    return change


def clear_plan(status: SchemaVersionStatus) -> None:
    status.pop("plan", None)


def set_last_job(job: LastJob) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["lastJob"] = job

    return change


def set_failure(failure: Failure) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["failure"] = failure

    return change


def clear_failure(status: SchemaVersionStatus) -> None:
    status.pop("failure", None)


def set_retry(retry: Retry) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["retry"] = retry

    return change


def clear_retry(status: SchemaVersionStatus) -> None:
    status.pop("retry", None)


def retry_started(
    plan_hash12: str,
    attempt: int,
    requested: str = "",
    progress: RetryProgress | None = None,
) -> StatusChange:
    """status.retry.started: the Job of ``attempt`` of that plan is being created;
    ``requested``, the retry request it carries and so answers (kept, so that the
    same value never answers again once that Job is gone); ``progress``, where the
    batched step stands as it starts, for a record that has none yet (attempt 1)."""

    def change(status: SchemaVersionStatus) -> None:
        retry = status.get("retry")
        if retry is None or retry.get("planHash") != plan_hash12:
            retry = {"planHash": plan_hash12, "attempt": 0, "retryable": True, "stoppedInARow": 0}
        status["retry"] = {**retry, "started": attempt}
        if requested:
            status["retry"]["retryRequested"] = requested
        if progress is not None and "progress" not in status["retry"]:
            status["retry"]["progress"] = progress

    return change


def retry_not_started(status: SchemaVersionStatus) -> None:
    """No Job of status.retry.started exists on purpose (deleted by a pause, refused)."""
    retry = status.get("retry")
    if retry is not None and "started" in retry:
        kept = Retry(**retry)
        del kept["started"]
        status["retry"] = kept


def set_data_migration(progress: DataMigration) -> StatusChange:
    def change(status: SchemaVersionStatus) -> None:
        status["dataMigration"] = progress

    return change


def clear_data_migration(status: SchemaVersionStatus) -> None:
    status.pop("dataMigration", None)


def set_data_migration_paused(paused: bool) -> StatusChange:
    """Mark the batched step shown as paused (its Job stopped) or not; no-op without one."""

    def change(status: SchemaVersionStatus) -> None:
        shown = status.get("dataMigration")
        if shown is None:
            return
        if paused:
            shown["paused"] = True
        else:
            shown.pop("paused", None)

    return change


# -- shaping ---------------------------------------------------------------------


def iso(t: dt.datetime) -> str:
    """A time as status writes it (UTC, seconds, ``Z``)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_status(p: Plan, approved: bool, lint: PlanLint | None) -> PlanStatus:
    steps: list[PlanStepStatus] = []
    for s in p.steps:
        step: PlanStepStatus = {
            "version": s.version.text,
            "direction": s.direction,
            "description": s.description,
            "transactional": s.transactional,
            "checksum": s.checksum,
        }
        if s.source == "recorded":
            step["source"] = "recorded"
        if s.runs_batched:
            step["batched"] = True
        steps.append(step)
    out: PlanStatus = {
        "hash": p.hash,
        "fromVersion": p.from_version.text if p.from_version else "",
        "toVersion": p.to_version.text if p.to_version else "",
        "direction": p.direction if p.direction in ("up", "down") else "none",
        "steps": steps[:MAX_STATUS_STEPS],
        "approved": approved,
    }
    if len(steps) > MAX_STATUS_STEPS:
        out["truncatedSteps"] = len(steps) - MAX_STATUS_STEPS
    if lint is not None:
        out["lint"] = lint.copy()
    return out


def database_status(state: DatabaseState) -> SchemaVersionStatus:
    """currentVersion, dirty, schemaHash and the newest history rows."""
    history: list[HistoryStatus] = []
    for entry in state.recent[:MAX_HISTORY]:
        item: HistoryStatus = {
            "version": entry.version.text,
            "direction": entry.direction,
            "status": entry.status,
            "description": entry.description,
        }
        if entry.applied_at:
            item["appliedAt"] = iso(entry.applied_at)
        if entry.duration_ms is not None:
            item["durationSeconds"] = round(entry.duration_ms / 1000.0, 3)
        if entry.plan_hash:
            item["planHash"] = entry.plan_hash
        history.append(item)
    return {
        "currentVersion": state.current_version.text if state.current_version else "",
        "dirty": state.dirty,
        "schemaHash": state.last_fingerprint or "",
        "history": history,
    }


def rollback_points(rows: Sequence[Mapping[str, Any]]) -> list[RollbackPoint]:
    """Rows of the database's snapshots table, newest first, at most MAX_HISTORY."""
    return [
        {
            "kind": str(p.get("kind", "")),
            "ref": str(p.get("location", "")),
            "version": str(p.get("version") or ""),
            "fingerprint": str(p.get("fingerprint") or ""),
            "takenAt": str(p.get("takenAt", "")),
        }
        for p in list(rows)[-MAX_HISTORY:][::-1]
    ]


def data_migration_status(progress: BatchProgress) -> DataMigration:
    """status.dataMigration from a row of the progress table (texts clipped)."""
    out: DataMigration = {
        "version": progress.version,
        "direction": "down" if progress.direction == "down" else "up",
        "rowsDone": progress.rows_done,
        "batchesDone": progress.batches_done,
        "batchSize": progress.batch_size,
        "failedAttempts": progress.failed_attempts,
    }
    if progress.rows_total_estimate is not None:
        out["rowsTotalEstimate"] = progress.rows_total_estimate
    percent = progress.percent
    if percent is not None:
        out["percent"] = percent
        out["progress"] = f"{percent}%"
    else:
        out["progress"] = f"{progress.rows_done} rows"
    if progress.rows_per_second is not None:
        out["rowsPerSecond"] = round(progress.rows_per_second, 1)
    eta = eta_text(progress.eta_seconds)
    if eta and not progress.completed:
        out["eta"] = eta
    if progress.throttle_reason and not progress.completed:
        out["throttleReason"] = progress.throttle_reason[:200]
    if progress.last_error:
        out["lastError"] = _batch_error(progress.last_error)
    if progress.started_at is not None:
        out["startedAt"] = iso(progress.started_at)
    if progress.updated_at is not None:
        out["updatedAt"] = iso(progress.updated_at)
    if progress.completed_at is not None:
        out["completedAt"] = iso(progress.completed_at)
    return out


def _batch_error(err: Mapping[str, Any]) -> BatchError:
    """The engine's record of a failed batch, its texts clipped (key values as text)."""
    out: BatchError = {}
    if err.get("sqlstate"):
        out["sqlstate"] = str(err["sqlstate"])[:2000]
    if err.get("message"):
        out["message"] = str(err["message"])[:2000]
    if err.get("statement"):
        out["statement"] = str(err["statement"])[:2000]
    lo, hi = err.get("lo"), err.get("hi")
    if isinstance(lo, Mapping):
        out["lo"] = {str(k)[:200]: str(v)[:200] for k, v in lo.items()}
    if isinstance(hi, Mapping):
        out["hi"] = {str(k)[:200]: str(v)[:200] for k, v in hi.items()}
    return out


def failure_from(error: RunError | None, attempts: int) -> Failure:
    """The failure of a migration Job, from the error its summary carries (if any)."""
    failure: Failure = {
        "message": (error.message if error else "") or "the migration Job failed without a summary",
        "attempts": attempts,
    }
    if error is None:
        return failure
    if error.version:
        failure["version"] = error.version[:2000]
    if error.sqlstate:
        failure["sqlstate"] = error.sqlstate[:2000]
    if error.statement:
        failure["statement"] = error.statement[:2000]
    if error.position is not None:
        if error.position.offset is not None:
            failure["position"] = error.position.offset
        if error.position.line is not None:
            failure["line"] = error.position.line
    return failure


def failure_message(failure: Failure) -> str:
    """One line for a condition message: version, SQLSTATE, message, line, statement."""
    parts = []
    if failure.get("version"):
        parts.append(f"migration {failure['version']} failed")
    else:
        parts.append("migration failed")
    if failure.get("sqlstate"):
        parts.append(f"SQLSTATE {failure['sqlstate']}")
    text = ", ".join(parts) + f": {failure.get('message', '')}"
    if failure.get("line"):
        text += f" (line {failure['line']})"
    if failure.get("statement"):
        text += f"; statement: {str(failure['statement'])[:300]}"
    return text
