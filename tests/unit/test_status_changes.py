"""Status as typed changes: each mutator of model/status.py alone, and decide's changes
applied to a previous status (what the one status writer does)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from schemaop.decide import (
    Decision,
    Facts,
    JobFacts,
    after_job_created,
    after_job_refused,
    decide,
    with_migration_lint,
)
from schemaop.model import status as st
from schemaop.model.conditions import ConditionType, Reason
from schemaop.model.history import AppliedMigration, DatabaseState
from schemaop.model.migration import checksum
from schemaop.model.run import Position, RunError
from schemaop.model.status import SchemaVersionStatus
from schemaop.model.version import Version

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)

# A status as an earlier reconciliation left it, with a key no change touches.
PREVIOUS: SchemaVersionStatus = {
    "observedGeneration": 2,
    "currentVersion": "0",
    "targetVersion": "9",
    "pending": 9,
    "plan": {"hash": "x" * 64, "approved": False},
    "lastJob": {"name": "old-job", "planHash": "x" * 12, "result": "Failed"},
    "failure": {"message": "old", "attempts": 4},
    "conditions": [{"type": "Ready", "status": "False", "reason": "Migrating"}],
}


def _applied(st_: SchemaVersionStatus, *changes: st.StatusChange) -> SchemaVersionStatus:
    return st.apply(copy.deepcopy(st_), changes)


# -- each mutator alone ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        (st.set_target_version("3"), "targetVersion", "3"),
        (st.set_pending(0), "pending", 0),
        (st.set_plan({"hash": "h", "approved": True}), "plan", {"hash": "h", "approved": True}),
        (
            st.set_last_job({"name": "j", "planHash": "p", "result": "Running"}),
            "lastJob",
            {"name": "j", "planHash": "p", "result": "Running"},
        ),
        (
            st.set_failure({"message": "m", "attempts": 1}),
            "failure",
            {"message": "m", "attempts": 1},
        ),
        (
            st.set_rollback_points([{"kind": "Schema", "ref": "r"}]),
            "rollbackPoints",
            [{"kind": "Schema", "ref": "r"}],
        ),
    ],
)
def test_a_setter_sets_its_key_and_nothing_else(
    change: st.StatusChange, key: str, value: Any
) -> None:
    after = _applied(PREVIOUS, change)
    assert after[key] == value  # type: ignore[literal-required]
    rest = {k: v for k, v in after.items() if k != key}
    assert rest == {k: v for k, v in PREVIOUS.items() if k != key}


@pytest.mark.parametrize(
    ("change", "key"), [(st.clear_plan, "plan"), (st.clear_failure, "failure")]
)
def test_a_clearer_removes_its_key_and_is_a_no_op_when_absent(
    change: st.StatusChange, key: str
) -> None:
    after = _applied(PREVIOUS, change)
    assert key not in after
    assert after == {k: v for k, v in PREVIOUS.items() if k != key}
    assert _applied({}, change) == {}


def test_set_database_sets_the_database_fields() -> None:
    state = DatabaseState(
        applied=(AppliedMigration(Version("1"), "one", checksum("create table t (id int)", None)),),
        history_exists=True,
        last_fingerprint="f" * 64,
    )
    fields = st.database_status(state)
    assert fields["currentVersion"] == "1" and fields["schemaHash"] == "f" * 64
    assert fields["dirty"] is False
    after = _applied(PREVIOUS, st.set_database(fields))
    assert after == {**PREVIOUS, **fields}


def test_changes_apply_in_order_the_last_one_wins() -> None:
    after = _applied(
        {}, st.set_failure({"message": "a", "attempts": 1}), st.clear_failure, st.set_pending(1)
    )
    assert after == {"pending": 1}
    after = _applied({}, st.clear_failure, st.set_failure({"message": "b", "attempts": 2}))
    assert after == {"failure": {"message": "b", "attempts": 2}}


def test_failure_from_a_typed_error_and_its_message() -> None:
    error = RunError(
        "syntax error",
        sqlstate="42601",
        version="2",
        statement="create tabel x ()",
        position=Position(offset=8, line=1),
    )
    failure = st.failure_from(error, 3)
    assert failure == {
        "message": "syntax error",
        "attempts": 3,
        "version": "2",
        "sqlstate": "42601",
        "statement": "create tabel x ()",
        "position": 8,
        "line": 1,
    }
    assert st.failure_message(failure) == (
        "migration 2 failed, SQLSTATE 42601: syntax error (line 1); statement: create tabel x ()"
    )
    assert st.failure_from(None, 1) == {
        "message": "the migration Job failed without a summary",
        "attempts": 1,
    }


# -- decide's changes over a previous status ------------------------------------


def _mig(version: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"m{version}", "generation": 1},
        "spec": {"version": version, "up": f"create table t{version} (id int)"},
    }


def _facts(**kw: Any) -> Facts:
    base: dict[str, Any] = {
        "name": "db",
        "namespace": "ns",
        "generation": 3,
        "spec": {"connection": {}},
        "annotations": {},
        "migrations": [_mig("1"), _mig("2")],
        "now": NOW,
        "db_state": DatabaseState(),
    }
    base.update(kw)
    return Facts(**base)


def test_a_first_job_keeps_last_job_and_clears_the_failure() -> None:
    d = decide(_facts())
    assert d.create_job_for is not None
    the_plan = d.create_job_for[0]
    after = st.apply(copy.deepcopy(PREVIOUS), d.changes)
    assert "failure" not in after
    assert after["lastJob"] == PREVIOUS["lastJob"]  # recorded once the Job exists
    assert after["pending"] == 2 and after["targetVersion"] == "2"
    assert after["currentVersion"] == "" and after["history"] == []
    assert after["rollbackPoints"] == []
    assert after["plan"] == st.plan_status(the_plan, True, None)
    assert after["observedGeneration"] == 2 and after["conditions"] == PREVIOUS["conditions"]
    # The writer's view of a fresh object is the same as Decision.status.
    assert st.apply({}, d.changes) == d.status


def test_at_target_clears_plan_and_failure() -> None:
    m1 = _mig("1")
    state = DatabaseState(
        applied=(AppliedMigration(Version("1"), "", checksum(m1["spec"]["up"], None)),),
        history_exists=True,
    )
    d = decide(_facts(migrations=[m1], db_state=state))
    assert d.create_job_for is None
    after = st.apply(copy.deepcopy(PREVIOUS), d.changes)
    assert "plan" not in after and "failure" not in after
    assert after["pending"] == 0 and after["currentVersion"] == "1"


def test_a_retry_sets_the_failure_with_its_time() -> None:
    first = decide(_facts())
    assert first.create_job_for is not None
    h = first.create_job_for[0].short_hash
    summary = {"ok": False, "error": {"retryable": True, "message": "lock busy"}}
    job = JobFacts.from_job(
        {
            "metadata": {
                "name": "db-x-1",
                "labels": {"schemaop.io/plan": h, "schemaop.io/attempt": "1"},
            },
            "status": {
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "lastTransitionTime": "2026-11-22T11:59:55Z",
                    }
                ]
            },
        },
        json.dumps(summary),
    )
    d = decide(_facts(jobs=[job]))
    after = st.apply(copy.deepcopy(PREVIOUS), d.changes)
    assert (
        after["failure"]["attempts"] == 1 and after["failure"]["retryAt"] == "2026-11-22T12:00:05Z"
    )
    assert after["lastJob"]["name"] == "db-x-1" and after["lastJob"]["result"] == "Failed"


def test_the_secret_gate_counts_attempts_from_the_previous_status() -> None:
    d = decide(_facts(secret_error="Secret ns/s not found", status=PREVIOUS))
    after = st.apply(copy.deepcopy(PREVIOUS), d.changes)
    assert after["failure"] == {"message": "Secret ns/s not found", "attempts": 5}
    assert after["plan"] == PREVIOUS["plan"]  # untouched by an early gate


# -- a decision is never edited; the steps after acting return a new one ----------


def test_decision_is_frozen() -> None:
    d = decide(_facts())
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.requeue_after = 1.0  # type: ignore[misc]
    assert isinstance(d.conditions, tuple) and isinstance(d.changes, tuple)


def test_after_job_created_records_last_job() -> None:
    d = decide(_facts())
    assert d.create_job_for is not None
    created = after_job_created(d, "db-abc-1", "2026-11-22T12:00:00Z")
    assert created is not d and "lastJob" not in d.status
    assert created.status["lastJob"] == {
        "name": "db-abc-1",
        "planHash": d.create_job_for[0].short_hash,
        "result": "Running",
        "startedAt": "2026-11-22T12:00:00Z",
    }
    assert created.conditions == d.conditions and created.requeue_after == d.requeue_after


def test_after_job_refused_stalls_with_invalid_spec() -> None:
    d = decide(_facts())
    refused = after_job_refused(d, "spec.template.spec.containers[0].image: Invalid value")
    stalled = next(c for c in refused.conditions if c.type == ConditionType.STALLED)
    assert stalled.status is True and stalled.reason == Reason.INVALID_SPEC
    assert "refused the migration Job" in (stalled.message or "")
    assert refused.requeue_after == 300.0 and d.requeue_after == 30.0
    # The same changes, and status.retry.started goes: no Job of that attempt exists.
    assert refused.changes[:-1] == d.changes and refused.changes[-1] is st.retry_not_started
    assert next(c for c in d.conditions if c.type == ConditionType.RECONCILING).status is True


def test_with_migration_lint_adds_findings_without_editing() -> None:
    m1 = _mig("1")
    state = DatabaseState(
        applied=(AppliedMigration(Version("1"), "", checksum(m1["spec"]["up"], None)),),
        history_exists=True,
    )
    d: Decision = decide(_facts(migrations=[m1, _mig("2")], db_state=state))
    assert set(d.migration_status) == {"m1", "m2"}
    linted = with_migration_lint(d, {"m2": {"errors": 0, "warnings": 1, "findings": []}})
    assert linted.migration_status["m2"]["lint"] == {"errors": 0, "warnings": 1, "findings": []}
    assert "lint" not in linted.migration_status["m1"] and "lint" not in d.migration_status["m2"]
    assert linted.migration_status["m1"]["applied"] is True
