"""The run summary: what the engine writes is what the operator reads, typed (issue 14)."""

from __future__ import annotations

import json

import pytest

from schemaop.decide import JobFacts
from schemaop.engine import errors
from schemaop.engine.runner import RunResult, StepResult
from schemaop.model.conditions import MESSAGES, REFUSALS, Reason
from schemaop.model.run import Position, RunError, RunSummary


@pytest.mark.parametrize(
    ("cls", "reason", "retryable", "step_retry"),
    [
        (errors.ConnectionFailed, Reason.DATABASE_UNREACHABLE, True, False),
        (errors.AuthenticationFailed, Reason.AUTHENTICATION_FAILED, False, False),
        (errors.InvalidConnectionString, Reason.INVALID_CONNECTION_SECRET, False, False),
        (errors.LockBusy, Reason.LOCK_BUSY, True, False),
        (errors.LockTimeout, Reason.LOCK_TIMEOUT, True, True),
        (errors.SerializationFailure, Reason.MIGRATION_FAILED, True, True),
        (errors.ResourceExhausted, Reason.MIGRATION_FAILED, True, False),
        (errors.StatementTimeout, Reason.MIGRATION_FAILED, False, False),
        (errors.MigrationFailed, Reason.MIGRATION_FAILED, False, False),
        (errors.NotRecorded, Reason.MIGRATION_FAILED, False, False),
        (errors.LockLost, Reason.MIGRATION_FAILED, False, False),
        (errors.HistoryLost, Reason.MIGRATION_FAILED, False, False),
        (errors.SnapshotFailed, Reason.SNAPSHOT_FAILED, True, False),
    ],
)
def test_each_engine_error_class_has_one_reason_and_verdict(
    cls: type[errors.EngineError], reason: Reason, retryable: bool, step_retry: bool
) -> None:
    err = cls("boom")
    assert (err.reason, err.retryable, err.step_retry) == (reason, retryable, step_retry)
    # The verdict travels unchanged: the operator reads what the classifier set.
    read = RunSummary.from_json(json.dumps({"ok": False, "error": err.to_dict()})).error
    assert read is not None
    assert (read.kind, read.reason, read.retryable) == (cls.__name__, reason, retryable)


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_refusals_are_reasons_with_a_message(reason: Reason) -> None:
    err = errors.Refused(reason, "no")
    assert err.reason is reason and not err.retryable
    assert err.summary().reason is reason and MESSAGES[reason]


def test_every_reason_has_a_message() -> None:
    assert set(MESSAGES) == set(Reason)


def _result() -> RunResult:
    result = RunResult(plan_hash="a" * 64, from_version="1", to_version="3", target="latest")
    result.steps = [
        StepResult("2", "two", "up", True, status="applied", duration_ms=5, attempts=1),
        StepResult("3", "three", "up", False, status="failed", duration_ms=7, attempts=2),
    ]
    result.snapshots = [{"id": 1, "kind": "Schema", "location": "schemaop.snapshots/1"}]
    result.current_version = "2"
    result.error = errors.LockTimeout(
        "canceling statement due to lock timeout",
        sqlstate="55P03",
        statement="ALTER TABLE t ADD c int",
        position=Position(offset=7, line=1, column=7),
        version="3",
    )
    return result


def test_engine_writes_operator_reads_the_same_summary() -> None:
    result = _result()
    summary = result.summary()
    for text in (result.to_json(), result.termination_message()):
        assert RunSummary.from_json(text).error == summary.error
    read = RunSummary.from_json(result.to_json())
    assert read == summary
    assert read.error is not None
    assert (read.error.reason, read.error.retryable) == (Reason.LOCK_TIMEOUT, True)


def test_wire_shape_is_the_documented_one() -> None:
    data = json.loads(_result().to_json())
    assert set(data) == {
        "ok",
        "planHash",
        "fromVersion",
        "toVersion",
        "target",
        "currentVersion",
        "applied",
        "skipped",
        "steps",
        "snapshots",
        "rollbackPoints",
        "fingerprint",
        "durationMs",
        "error",
    }
    assert (data["ok"], data["applied"], data["skipped"]) == (False, 1, 0)
    assert data["error"] == {
        "kind": "LockTimeout",
        "reason": "LockTimeout",
        "retryable": True,
        "sqlstate": "55P03",
        "message": "canceling statement due to lock timeout",
        "detail": None,
        "hint": None,
        "statement": "ALTER TABLE t ADD c int",
        "position": {"offset": 7, "line": 1, "column": 7},
        "version": "3",
    }


def test_a_long_summary_still_fits_the_termination_message() -> None:
    result = _result()
    result.steps = [
        StepResult(str(i), "d" * 200, "up", True, status="applied") for i in range(100)
    ] + [StepResult("101", "x", "up", True, status="failed")]
    text = result.termination_message()
    assert len(text.encode()) < 4096
    read = RunSummary.from_json(text)
    assert read.steps is not None and [s.version for s in read.steps] == ["101"]
    assert read.error is not None and read.error.reason is Reason.LOCK_TIMEOUT


def test_a_short_summary_keeps_the_batched_step_a_stop_left_unfinished() -> None:
    # SIGTERM (a pause, activeDeadlineSeconds) stopped batched step 101: it stays
    # pending with its cumulative figures, which the operator compares between attempts.
    result = _result()
    result.steps = [
        StepResult(str(i), "d" * 200, "up", True, status="applied") for i in range(100)
    ] + [StepResult("101", "x", "up", True, batches=_Batches(7, 700))]
    result.error = errors.Stopped("stopped on request after 7 batch(es)", version="101")
    text = result.termination_message()
    assert len(text.encode()) < 4096
    read = RunSummary.from_json(text)
    assert read.steps is not None and [s.version for s in read.steps] == ["101"]
    assert read.steps[0].status == "pending"
    assert read.steps[0].batches is not None and read.steps[0].batches["batchesDone"] == 7


class _Batches:
    def __init__(self, batches: int, rows: int) -> None:
        self.batches, self.rows = batches, rows

    def to_summary(self) -> dict[str, int]:
        return {"batchesDone": self.batches, "rowsDone": self.rows}


@pytest.mark.parametrize(
    "text", ['{"ok":false,"error":{"kind":"Migra', "Error: exec format error", "[1, 2]", '"x"']
)
def test_an_unreadable_message_is_a_retryable_error_never_an_exception(text: str) -> None:
    read = RunSummary.from_json(text)
    assert not read.ok and read.error is not None
    assert read.error.retryable and read.error.message == text
    assert read.error.reason is Reason.MIGRATION_FAILED


def test_lenient_reading_of_other_versions() -> None:
    read = RunSummary.from_json(
        json.dumps(
            {
                "ok": False,
                "error": {"reason": "SomethingNew", "message": "m", "position": {"offset": 3}},
                "steps": "not a list",
                "durationMs": "soon",
            }
        )
    )
    assert read.error == RunError(message="m", position=Position(offset=3))
    assert read.steps is None and read.duration_ms == 0
    assert RunSummary.from_json('{"ok": false, "error": "oops"}').error == RunError("oops")


def test_job_facts_carry_the_typed_summary() -> None:
    job = {
        "metadata": {"name": "j", "labels": {}},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }
    facts = JobFacts.from_job(job, _result().termination_message())
    assert facts.summary is not None and facts.summary.error is not None
    assert facts.summary.error.reason is Reason.LOCK_TIMEOUT
    assert JobFacts.from_job(job, None).summary is None


def test_a_step_run_from_the_recorded_down_says_so_and_reads_back() -> None:
    result = _result()
    result.steps.append(StepResult("4", "four", "down", True, status="applied", source="recorded"))
    data = json.loads(result.to_json())
    assert data["steps"][-1]["source"] == "recorded"
    assert "source" not in data["steps"][0]  # only when recorded: older readers see no change
    read = RunSummary.from_json(result.to_json())
    assert read == result.summary()
    assert read.steps is not None and read.steps[-1].source == "recorded"
