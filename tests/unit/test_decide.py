"""The operator's decision function: facts in, conditions, status and actions out."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from schemaop.decide import (
    ACTIVE_DEADLINE_SECONDS,
    BACKOFF_LIMIT,
    LOCK_RETRIES,
    MAX_SILENT_FAILURES,
    TTL_SECONDS_AFTER_FINISHED,
    Facts,
    JobFacts,
    backoff,
    decide,
)
from schemaop.engine.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionPooled,
    InvalidConnectionString,
    LockBusy,
)
from schemaop.model.conditions import ConditionType, Reason
from schemaop.model.duration import DURATION_PATTERN, InvalidDuration, parse_ms
from schemaop.model.duration import FIELDS as DURATION_FIELDS
from schemaop.model.history import AppliedMigration, DatabaseState
from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.migration import checksum
from schemaop.model.run import RunSummary
from schemaop.model.version import Version

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def _mig(
    version: str, up: str = "create table t{v} (id int)", down: str | None = "drop table t{v}"
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"m{version}", "generation": 1},
        "spec": {
            "version": version,
            "up": up.format(v=version),
            "description": f"m{version}",
            **({"down": down.format(v=version)} if down else {}),
        },
    }


def _applied(*migs: dict[str, Any]) -> DatabaseState:
    return DatabaseState(
        applied=tuple(
            AppliedMigration(
                Version(m["spec"]["version"]),
                m["spec"]["description"],
                checksum(m["spec"]["up"], m["spec"].get("down")),
            )
            for m in migs
        ),
        history_exists=True,
        last_fingerprint="f" * 64,
    )


def _facts(**kw: Any) -> Facts:
    base: dict[str, Any] = {
        "name": "db",
        "namespace": "ns",
        "generation": 3,
        "spec": {"connection": {}, "targetVersion": "latest"},
        "annotations": {},
        "migrations": [_mig("1"), _mig("2")],
        "now": NOW,
        "db_state": DatabaseState(),
    }
    base.update(kw)
    return Facts(**base)


def _reason(
    decision: Any, type_: ConditionType = ConditionType.READY
) -> tuple[bool | None, Reason]:
    c = next(c for c in decision.conditions if c.type == type_)
    return c.status, c.reason


def test_empty_database_gets_a_job_for_all_steps() -> None:
    d = decide(_facts())
    assert d.create_job_for is not None
    plan, attempt = d.create_job_for
    assert attempt == 1 and [s.version.text for s in plan.steps] == ["1", "2"]
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.MIGRATING)
    assert d.status["pending"] == 2 and d.status["targetVersion"] == "2"


def test_at_target_is_ready_and_detects_drift() -> None:
    m1, m2 = _mig("1"), _mig("2")
    d = decide(_facts(migrations=[m1, m2], db_state=_applied(m1, m2), live_fingerprint="f" * 64))
    assert _reason(d) == (True, Reason.APPLIED)
    assert _reason(d, ConditionType.DRIFTED) == (False, Reason.IN_SYNC)
    d = decide(_facts(migrations=[m1, m2], db_state=_applied(m1, m2), live_fingerprint="e" * 64))
    assert _reason(d, ConditionType.DRIFTED) == (True, Reason.DRIFTED)
    assert d.create_job_for is None


def test_manual_approval_needs_the_current_hash() -> None:
    spec = {"connection": {}, "approval": "Manual"}
    d = decide(_facts(spec=spec))
    assert d.create_job_for is None
    assert _reason(d, ConditionType.APPROVAL_PENDING) == (True, Reason.WAITING_FOR_APPROVAL)
    plan_hash = d.status["plan"]["hash"]
    stale = decide(_facts(spec=spec, annotations={"schemaop.io/approved-plan": "0" * 64}))
    assert stale.create_job_for is None
    ok = decide(_facts(spec=spec, annotations={"schemaop.io/approved-plan": plan_hash}))
    assert ok.create_job_for is not None


def test_a_short_hash_approves_nothing_and_the_message_asks_for_the_full_one() -> None:
    spec = {"connection": {}, "approval": "Manual"}
    plan_hash = decide(_facts(spec=spec)).status["plan"]["hash"]
    for short in (plan_hash[:12], plan_hash[:7], plan_hash[:63].upper()):
        d = decide(_facts(spec=spec, annotations={"schemaop.io/approved-plan": short}))
        assert d.create_job_for is None
        assert _reason(d, ConditionType.APPROVAL_PENDING) == (True, Reason.WAITING_FOR_APPROVAL)
        assert d.status["plan"]["approved"] is False
        (pending,) = [c for c in d.conditions if c.type == ConditionType.APPROVAL_PENDING]
        assert "only the full 64-digit hash approves" in pending.message
        assert f"schemaop.io/approved-plan={plan_hash}" in pending.message
    # Another value (a stale hash) is not called a prefix.
    d = decide(_facts(spec=spec, annotations={"schemaop.io/approved-plan": "0" * 12}))
    (pending,) = [c for c in d.conditions if c.type == ConditionType.APPROVAL_PENDING]
    assert "prefix" not in pending.message
    ok = decide(_facts(spec=spec, annotations={"schemaop.io/approved-plan": f" {plan_hash}\n"}))
    assert ok.create_job_for is not None


def test_rollback_without_down_stalls_before_anything_runs() -> None:
    m1, m2 = _mig("1"), _mig("2", down=None)
    d = decide(
        _facts(
            spec={"connection": {}, "targetVersion": "1"},
            migrations=[m1, m2],
            db_state=_applied(m1, m2),
        )
    )
    assert d.create_job_for is None
    assert _reason(d, ConditionType.STALLED) == (True, Reason.DOWN_MIGRATION_MISSING)


def test_a_deleted_applied_migration_stalls_and_names_the_usual_cause() -> None:
    # What a Helm rollback does to a chart without resource-policy keep: the target
    # goes down and the SchemaMigration that has the down step is gone.
    m1, m2, m3 = _mig("1"), _mig("2"), _mig("3")
    d = decide(
        _facts(
            spec={"connection": {}, "targetVersion": "2"},
            migrations=[m1, m2],
            db_state=_applied(m1, m2, m3),
        )
    )
    assert d.create_job_for is None
    assert _reason(d, ConditionType.STALLED) == (True, Reason.MISSING_MIGRATION)
    message = next(c.message for c in d.conditions if c.type == ConditionType.STALLED)
    assert "version(s) 3 are applied" in message
    assert "helm.sh/resource-policy: keep" in message and "Prune=false" in message


def test_duplicate_versions_are_an_invalid_set() -> None:
    d = decide(_facts(migrations=[_mig("1"), {**_mig("1"), "metadata": {"name": "other"}}]))
    assert _reason(d, ConditionType.STALLED) == (True, Reason.INVALID_MIGRATION_SET)
    assert "defined twice" in next(c.message for c in d.conditions)


def _failed_job(plan_hash12: str, attempt: int, retryable: bool) -> JobFacts:
    summary = {
        "error": {
            "sqlstate": "42601" if not retryable else "55P03",
            "retryable": retryable,
            "message": 'syntax error at or near "tabel"',
            "version": "2",
            "statement": "create tabel x ()",
            "position": {"offset": 8, "line": 1},
        }
    }
    job = {
        "metadata": {
            "name": f"db-x-{attempt}",
            "labels": {"schemaop.io/plan": plan_hash12, "schemaop.io/attempt": str(attempt)},
        },
        "status": {
            "conditions": [
                {"type": "Failed", "status": "True", "lastTransitionTime": "2026-11-22T11:59:55Z"}
            ]
        },
    }
    return JobFacts.from_job(job, json.dumps(summary))


def test_permanent_failure_stalls_with_sqlstate_and_statement() -> None:
    first = decide(_facts())
    assert first.create_job_for is not None
    h = first.create_job_for[0].short_hash
    d = decide(_facts(jobs=[_failed_job(h, 1, retryable=False)]))
    assert d.create_job_for is None
    status, reason = _reason(d, ConditionType.STALLED)
    assert (status, reason) == (True, Reason.MIGRATION_FAILED)
    message = next(c.message for c in d.conditions)
    assert "SQLSTATE 42601" in message and "create tabel" in message
    assert d.status["failure"]["sqlstate"] == "42601"


def test_transient_failure_retries_with_capped_backoff() -> None:
    first = decide(_facts())
    assert first.create_job_for is not None
    h = first.create_job_for[0].short_hash
    waiting = decide(_facts(jobs=[_failed_job(h, 1, retryable=True)]))
    assert waiting.create_job_for is None
    assert _reason(waiting, ConditionType.RECONCILING) == (True, Reason.RETRYING)
    assert 0 < waiting.requeue_after <= backoff(1)
    later = decide(
        _facts(jobs=[_failed_job(h, 1, retryable=True)], now=NOW + dt.timedelta(minutes=1))
    )
    assert later.create_job_for is not None and later.create_job_for[1] == 2
    assert backoff(20) == 300.0


def test_unreachable_database_and_missing_secret_are_transient() -> None:
    refused = ConnectionFailed("connection refused").summary()
    d = decide(_facts(db_state=None, db_error=refused))
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.DATABASE_UNREACHABLE)
    assert d.requeue_after == backoff(1)
    d = decide(_facts(secret_error="Secret ns/db does not exist"))
    assert _reason(d) == (False, Reason.SECRET_NOT_FOUND)


def test_paused_does_nothing() -> None:
    d = decide(_facts(spec={"connection": {}, "paused": True}))
    assert d.create_job_for is None and _reason(d) == (False, Reason.PAUSED)


def test_no_migrations_yet_is_waiting_not_ready() -> None:
    # The SchemaVersion arrived before its SchemaMigrations: not "Ready at version 0".
    d = decide(_facts(migrations=[]))
    assert d.create_job_for is None
    assert _reason(d) == (False, Reason.NO_MIGRATIONS)
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.NO_MIGRATIONS)
    assert _reason(d, ConditionType.STALLED) == (False, Reason.NO_MIGRATIONS)


def test_an_unlabelled_secret_stalls_with_its_own_reason_and_is_looked_at_again() -> None:
    message = "Secret ns/db is not labelled schemaop.io/database=true ... label it: kubectl label"
    d = decide(_facts(secret_error=message, secret_unlabelled=True))
    assert d.create_job_for is None
    assert _reason(d) == (False, Reason.SECRET_NOT_LABELLED)
    assert _reason(d, ConditionType.STALLED) == (True, Reason.SECRET_NOT_LABELLED)
    ready = next(c for c in d.conditions if c.type == ConditionType.READY)
    assert ready.message.startswith(message) and "checked again in 10s" in ready.message
    # Not watched in this mode: retried, but never less often than once a minute.
    many = decide(
        _facts(secret_error=message, secret_unlabelled=True, status={"failure": {"attempts": 30}})
    )
    assert many.requeue_after == 60.0


POLICY = JobPolicy(
    default_image="registry.example.com/platform/schemaop:1.0",
    default_service_account="schemaop-job",
)


def _spec(**extra: Any) -> dict[str, Any]:
    return {"connection": {}, "targetVersion": "latest", **extra}


@pytest.mark.parametrize(
    ("spec", "asked", "setting"),
    [
        (
            _spec(job={"image": "evil.example.com/miner:1"}),
            "'evil.example.com/miner:1'",
            "--allowed-job-image",
        ),
        (
            _spec(job={"serviceAccountName": "cluster-admin-sa"}),
            "'cluster-admin-sa'",
            "--allowed-job-service-account",
        ),
        (
            _spec(snapshot={"policy": "Full", "volume": {"hostPath": {"path": "/"}}}),
            "'hostPath'",
            "--allowed-snapshot-volume-type",
        ),
        (
            _spec(
                job={
                    "podAnnotations": {
                        "container.apparmor.security.beta.kubernetes.io/migrate": "unconfined"
                    }
                }
            ),
            "container.apparmor",
            "--allowed-job-pod-annotation",
        ),
    ],
    ids=["image", "service-account", "hostpath", "apparmor"],
)
def test_job_policy_refusal_stalls_and_creates_no_job(
    spec: dict[str, Any], asked: str, setting: str
) -> None:
    d = decide(_facts(spec=spec, job_policy=POLICY))
    assert d.create_job_for is None
    assert _reason(d, ConditionType.STALLED) == (True, Reason.JOB_POLICY_DENIED)
    message = next(c.message for c in d.conditions if c.type == ConditionType.STALLED)
    assert asked in message and setting in message and "jobs.policy." in message
    assert "allowed:" in message


def test_job_policy_allows_the_defaults_and_what_it_lists() -> None:
    assert decide(_facts(spec=_spec(), job_policy=POLICY)).create_job_for is not None
    wider = JobPolicy(
        default_image=POLICY.default_image,
        images=("registry.example.com/teams/",),
        service_accounts=("migrator",),
        volume_types=("persistentVolumeClaim", "csi"),
        pod_annotations=("cluster-autoscaler.kubernetes.io/safe-to-evict",),
    )
    spec = _spec(
        job={
            "image": "registry.example.com/teams/a/schemaop@sha256:" + "a" * 64,
            "serviceAccountName": "migrator",
            "podAnnotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        },
        snapshot={"policy": "Full", "volume": {"csi": {"driver": "x"}}},
    )
    assert decide(_facts(spec=spec, job_policy=wider)).create_job_for is not None


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (_spec(driftCheckInterval="0s"), "spec.driftCheckInterval must be between 10s and 24h"),
        (_spec(lockTimeout="0ms"), "spec.lockTimeout must be between 1ms and 1h"),
        (_spec(lockTimeout="999999999h"), "invalid duration"),
        (_spec(statementTimeout="25h"), "spec.statementTimeout"),
        (_spec(lockRetries=0), "spec.lockRetries must be an integer from 1 to 100"),
        (
            _spec(schemas=["public", "schemaop"]),
            "history schema 'schemaop' cannot be a managed schema",
        ),
        (_spec(schemas=["bad\x00name"]), "invalid schema name"),
        (_spec(job={"activeDeadlineSeconds": 999999999999}), "spec.job.activeDeadlineSeconds"),
        (_spec(job={"backoffLimit": "lots"}), "spec.job.backoffLimit"),
        (_spec(snapshot={"policy": "Full"}), "needs spec.snapshot.volume"),
    ],
    ids=[
        "drift-0s",
        "lock-0ms",
        "lock-huge",
        "statement-25h",
        "retries-0",
        "history-schema",
        "nul",
        "deadline",
        "backoff-limit",
        "full-no-volume",
    ],
)
def test_a_spec_out_of_bounds_stalls_with_invalid_spec(spec: dict[str, Any], words: str) -> None:
    d = decide(_facts(spec=spec))
    assert d.create_job_for is None
    assert _reason(d, ConditionType.STALLED) == (True, Reason.INVALID_SPEC)
    message = next(c.message for c in d.conditions if c.type == ConditionType.STALLED)
    assert words in message
    # Never a hot loop: a bad driftCheckInterval falls back to the default resync.
    assert d.requeue_after >= 10


def test_durations_reach_the_plan_options() -> None:
    d = decide(
        _facts(spec=_spec(lockTimeout="1m30s", statementTimeout="1h", driftCheckInterval="30s"))
    )
    assert d.create_job_for is not None
    options = d.create_job_for[0].options
    assert options.lock_timeout_ms == 90_000 and options.statement_timeout_ms == 3_600_000
    assert d.requeue_after == 30.0


def test_the_operator_checks_the_bounds_the_crd_sets() -> None:
    """One definition: the CRD's rules are the operator's (model.duration, decide's bounds)."""
    root = Path(__file__).parents[2] / "schemas"
    common = json.loads((root / "common.json").read_text())
    assert common["$defs"]["duration"]["pattern"] == DURATION_PATTERN
    spec = json.loads((root / "schemaversion.json").read_text())["properties"]["spec"]
    props = spec["properties"]
    for field in DURATION_FIELDS:
        (rule,) = props[field.key]["x-kubernetes-validations"]
        assert rule == {"rule": field.cel_rule, "message": field.bounds_message}
    assert (props["lockRetries"]["minimum"], props["lockRetries"]["maximum"]) == LOCK_RETRIES
    job = props["job"]["properties"]
    for key, bounds in (
        ("activeDeadlineSeconds", ACTIVE_DEADLINE_SECONDS),
        ("ttlSecondsAfterFinished", TTL_SECONDS_AFTER_FINISHED),
        ("backoffLimit", BACKOFF_LIMIT),
    ):
        assert (job[key]["minimum"], job[key]["maximum"]) == bounds


def test_one_duration_format() -> None:
    assert parse_ms("2s") == 2000 and parse_ms("1h30m") == 5_400_000 and parse_ms("500ms") == 500
    assert parse_ms("1m30s250ms") == 90_250
    for bad in ("", "bogus", "5m1h", "1d", "1000000h", "1.5s", "-1s", " 2s"):
        with pytest.raises(InvalidDuration):
            parse_ms(bad)


def test_refused_credentials_and_a_bad_url_stall_with_their_own_reasons() -> None:
    # decide reads the reason the engine's classifier set, not the error's class name.
    auth = AuthenticationFailed("password authentication failed", sqlstate="28P01")
    d = decide(_facts(db_state=None, db_error=auth.summary()))
    assert _reason(d, ConditionType.STALLED) == (True, Reason.AUTHENTICATION_FAILED)
    assert d.status["failure"]["sqlstate"] == "28P01"
    bad_url = InvalidConnectionString("the port is not a number").summary()
    d = decide(_facts(db_state=None, db_error=bad_url))
    assert _reason(d, ConditionType.STALLED) == (True, Reason.INVALID_CONNECTION_SECRET)
    assert _reason(d, ConditionType.RECONCILING) == (False, Reason.INVALID_CONNECTION_SECRET)
    d = decide(_facts(db_state=None))
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.DATABASE_UNREACHABLE)
    assert "database state unknown" in d.status["failure"]["message"]


def _finished_job(plan_hash12: str, message: str | None, failed: bool = True) -> JobFacts:
    job = {
        "metadata": {
            "name": "db-x-1",
            "labels": {"schemaop.io/plan": plan_hash12, "schemaop.io/attempt": "1"},
        },
        "status": {
            "conditions": [
                {
                    "type": "Failed" if failed else "Complete",
                    "status": "True",
                    "lastTransitionTime": "2026-11-22T11:59:55Z",
                }
            ]
        },
    }
    return JobFacts.from_job(job, message)


def _job(plan_hash12: str, attempt: int, message: str | None) -> JobFacts:
    job = {
        "metadata": {
            "name": f"db-x-{attempt}",
            "labels": {"schemaop.io/plan": plan_hash12, "schemaop.io/attempt": str(attempt)},
        },
        "status": {
            "conditions": [
                {"type": "Failed", "status": "True", "lastTransitionTime": "2026-11-22T11:00:00Z"}
            ]
        },
    }
    return JobFacts.from_job(job, message)


def test_jobs_killed_without_a_summary_are_retried_then_stall_after_a_few_in_a_row() -> None:
    first = decide(_facts())
    assert first.create_job_for is not None
    h = first.create_job_for[0].short_hash
    now = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
    # Two killed in a row (the retry time long past): attempt 3 is created.
    d = decide(_facts(now=now, jobs=[_job(h, 1, None), _job(h, 2, None)]))
    assert d.create_job_for is not None and d.create_job_for[1] == 3
    # A summary in between resets the count: only the newest silent failures count.
    busy = RunSummary(ok=False, error=LockBusy("held").summary()).termination_message()
    jobs = [_job(h, 1, None), _job(h, 2, None), _job(h, 3, busy), _job(h, 4, None)]
    d = decide(_facts(now=now, jobs=jobs))
    assert d.create_job_for is not None and d.create_job_for[1] == 5
    # MAX_SILENT_FAILURES in a row: stalled, saying how to start again.
    jobs = [_job(h, i + 1, None) for i in range(MAX_SILENT_FAILURES)]
    d = decide(_facts(now=now, jobs=jobs))
    assert d.create_job_for is None
    assert _reason(d, ConditionType.STALLED) == (True, Reason.MIGRATION_FAILED)
    message = next(c.message for c in d.conditions if c.type == ConditionType.STALLED)
    assert f"without a summary {MAX_SILENT_FAILURES} time(s) in a row" in message
    assert "kubectl annotate schemaversion db schemaop.io/retry-requested=" in message
    assert "unchanged" not in message  # nobody knows how far a killed run got


def test_a_killed_job_whose_message_is_its_log_tail_counts_as_silent() -> None:
    # terminationMessagePolicy FallbackToLogsOnError: an OOM-killed pod's message is
    # the end of its log, not a summary; it must count toward MAX_SILENT_FAILURES.
    first = decide(_facts())
    assert first.create_job_for is not None
    h = first.create_job_for[0].short_hash
    now = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
    tail = "batch 41 done\nbatch 42 done\n"
    jobs = [_job(h, i + 1, tail) for i in range(MAX_SILENT_FAILURES)]
    d = decide(_facts(now=now, jobs=jobs))
    assert d.create_job_for is None
    assert _reason(d, ConditionType.STALLED) == (True, Reason.MIGRATION_FAILED)
    message = next(c.message for c in d.conditions if c.type == ConditionType.STALLED)
    assert f"without a summary {MAX_SILENT_FAILURES} time(s) in a row" in message
    assert "batch 42 done" in message  # the end of its output, as Kubernetes kept it


def test_job_failures_follow_the_summary_verdict() -> None:
    first = decide(_facts())
    assert first.create_job_for is not None
    h = first.create_job_for[0].short_hash
    # An engine error as the Job writes it: LockBusy is retried with backoff.
    busy = RunSummary(ok=False, error=LockBusy("another run holds the lock").summary())
    d = decide(_facts(jobs=[_finished_job(h, busy.termination_message())]))
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.RETRYING)
    # A cut-off or foreign termination message: retried, its text shown.
    d = decide(_facts(jobs=[_finished_job(h, '{"ok":false,"err')]))
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.RETRYING)
    assert d.status["failure"]["message"].endswith('its last output: {"ok":false,"err')
    # No message at all: the Job's process was killed before it could write one
    # (kill -9, OOM): another attempt is safe (tests/e2e/test_crash.py).
    d = decide(_facts(jobs=[_finished_job(h, None)]))
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.RETRYING)
    assert "without a summary 1 time(s)" in d.status["failure"]["message"]
    # Succeeded but the database is not at the target: another attempt.
    d = decide(_facts(jobs=[_finished_job(h, RunSummary(ok=True).to_json(), failed=False)]))
    assert _reason(d, ConditionType.RECONCILING) == (True, Reason.RETRYING)


def _recorded_state(*migs: dict[str, Any]) -> DatabaseState:
    """Applied, each with its down step recorded at apply time (as the runner does)."""
    from schemaop.model.history import RecordedDown
    from schemaop.model.migration import down_checksum

    state = _applied(*migs)
    applied = []
    for a, m in zip(state.applied, migs, strict=True):
        down = m["spec"].get("down")
        applied.append(
            AppliedMigration(
                a.version, a.description, a.checksum, down=RecordedDown(down, down_checksum(down))
            )
        )
    return DatabaseState(
        applied=tuple(applied), history_exists=True, last_fingerprint=state.last_fingerprint
    )


def test_a_deleted_migration_is_rolled_back_with_its_recorded_down_and_status_says_so() -> None:
    m1, m2, m3 = _mig("1"), _mig("2"), _mig("3")
    d = decide(
        _facts(
            spec={"connection": {}, "targetVersion": "2"},
            migrations=[m1, m2],
            db_state=_recorded_state(m1, m2, m3),
        )
    )
    assert d.create_job_for is not None
    plan, _ = d.create_job_for
    assert [(s.version.text, s.sql, s.source) for s in plan.steps] == [
        ("3", "drop table t3", "recorded")
    ]
    message = next(c.message for c in d.conditions if c.type == ConditionType.RECONCILING)
    assert "rolling back 3 with the down SQL recorded at apply time" in message
    assert "its SchemaMigration is gone" in message
    assert d.status["plan"]["steps"][0]["source"] == "recorded"


def test_ready_after_a_run_from_the_recorded_down_says_so() -> None:
    m1, m2 = _mig("1"), _mig("2")
    summary = {
        "ok": True,
        "steps": [{"version": "3", "direction": "down", "status": "applied", "source": "recorded"}],
    }
    job = {
        "metadata": {
            "name": "db-x-1",
            "labels": {"schemaop.io/plan": "x", "schemaop.io/attempt": "1"},
        },
        "status": {
            "completionTime": "2026-11-22T11:59:55Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    d = decide(
        _facts(
            spec={"connection": {}, "targetVersion": "2"},
            migrations=[m1, m2],
            db_state=_recorded_state(m1, m2),
            jobs=[JobFacts.from_job(job, json.dumps(summary))],
        )
    )
    assert _reason(d) == (True, Reason.APPLIED)
    message = next(c.message for c in d.conditions if c.type == ConditionType.READY)
    assert "Rolled back 3 with the down SQL recorded at apply time" in message


def test_a_transaction_pooled_connection_stalls_with_its_own_reason() -> None:
    # Seen by the operator's check before a Job: no Job, Stalled, looked at again.
    pooled = ConnectionPooled("reached through a transaction-pooling connection pooler")
    d = decide(_facts(db_state=None, db_error=pooled.summary()))
    assert _reason(d, ConditionType.STALLED) == (True, Reason.CONNECTION_POOLED)
    assert d.create_job_for is None and d.requeue_after > 0
    # Seen by the Job (an older operator, or the pooler put in front later): the
    # same reason, not "fix the migration".
    first = decide(_facts())
    assert first.create_job_for is not None
    h = first.create_job_for[0].short_hash
    summary = RunSummary(ok=False, error=pooled.summary())
    d = decide(_facts(jobs=[_finished_job(h, summary.termination_message())]))
    assert _reason(d, ConditionType.STALLED) == (True, Reason.CONNECTION_POOLED)
    message = next(c.message for c in d.conditions if c.type == ConditionType.STALLED)
    assert "transaction-pooling" in message and "Fix the migration" not in message
    assert d.create_job_for is None
