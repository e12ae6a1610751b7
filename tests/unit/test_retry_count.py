"""The attempt count, backoff and stalls of a plan outlive its Jobs (status.retry),
and a Job stopped by its activeDeadlineSeconds counts toward the same limit as one
killed without a summary (gates.decide, pure)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from facts_support import NOW, facts, migration

from schemaop.decide import (
    MAX_SILENT_FAILURES,
    JobFacts,
    after_job_refused,
    backoff,
    decide,
)
from schemaop.engine.errors import ConnectionPooled, LockBusy, Stopped
from schemaop.model import status as st
from schemaop.model.conditions import ConditionType, Reason
from schemaop.model.history import AppliedMigration, DatabaseState
from schemaop.model.migration import checksum
from schemaop.model.run import RunSummary
from schemaop.model.version import Version

FINISHED = "2026-11-22T11:59:55Z"


def _hash() -> str:
    first = decide(facts())
    assert first.create_job_for is not None
    return first.create_job_for[0].short_hash


def _job(
    h: str,
    attempt: int,
    message: str | None,
    *,
    reason: str | None = None,
    retry: str = "",
) -> JobFacts:
    failed: dict[str, Any] = {"type": "Failed", "status": "True", "lastTransitionTime": FINISHED}
    if reason:
        failed["reason"] = reason
    annotations = {"schemaop.io/retry-requested": retry} if retry else {}
    job = {
        "metadata": {
            "name": f"db-{h}-{attempt}",
            "labels": {"schemaop.io/plan": h, "schemaop.io/attempt": str(attempt)},
            "annotations": annotations,
        },
        "status": {"conditions": [failed]},
    }
    return JobFacts.from_job(job, message)


def _permanent() -> str:
    error = {"sqlstate": "42601", "retryable": False, "message": "syntax error", "version": "1"}
    return json.dumps({"ok": False, "error": error})


def _busy() -> str:
    return RunSummary(ok=False, error=LockBusy("held").summary()).termination_message()


def _stalled(d: Any) -> tuple[bool | None, Reason, str]:
    c = next(c for c in d.conditions if c.type == ConditionType.STALLED)
    return c.status, c.reason, c.message


def _after(d: Any, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """The status the operator writes after ``d`` (over ``status``)."""
    return dict(st.apply(dict(status or {}), d.changes))


def test_a_permanent_failure_whose_job_is_deleted_by_its_ttl_is_not_run_again() -> None:
    h = _hash()
    seen = decide(facts(jobs=[_job(h, 1, _permanent())]))
    assert seen.create_job_for is None
    status = _after(seen)
    assert status["retry"]["planHash"] == h and status["retry"]["retryable"] is False
    # The Job is gone (ttlSecondsAfterFinished): still stalled, no attempt 1 again.
    gone = decide(facts(jobs=[], status=status, now=NOW + dt.timedelta(hours=1)))
    assert gone.create_job_for is None
    stalled, reason, message = _stalled(gone)
    assert (stalled, reason) == (True, Reason.MIGRATION_FAILED)
    assert "syntax error" in message
    # A new plan (a fixed migration) is a fresh start.
    fixed = decide(facts(jobs=[], status=status, migrations=[migration("1"), migration("2")]))
    assert fixed.create_job_for is not None and fixed.create_job_for[1] == 1


def test_a_transient_failure_keeps_its_attempt_and_backoff_after_its_job_is_gone() -> None:
    h = _hash()
    status: dict[str, Any] = {}
    jobs: list[JobFacts] = []
    for attempt in range(1, 6):
        jobs = [_job(h, attempt, _busy())]  # only the newest Job is left each time
        d = decide(facts(jobs=jobs, status=status))
        status = _after(d, status)
        assert status["retry"]["attempt"] == attempt
    # Its Job gone: waiting for the same backoff as attempt 5's, then attempt 6.
    d = decide(facts(jobs=[], status=status))
    assert d.create_job_for is None
    c = next(c for c in d.conditions if c.type == ConditionType.RECONCILING)
    assert c.reason == Reason.RETRYING and "attempt 6" in c.message
    assert d.requeue_after > backoff(1)
    later = NOW + dt.timedelta(seconds=backoff(5) + 1)
    d = decide(facts(jobs=[], status=status, now=later))
    assert d.create_job_for is not None and d.create_job_for[1] == 6


def test_stops_in_a_row_are_counted_across_deleted_jobs() -> None:
    h = _hash()
    status: dict[str, Any] = {}
    for attempt in range(1, MAX_SILENT_FAILURES):
        # Each killed Job is seen, then deleted before the next one ends.
        d = decide(facts(jobs=[_job(h, attempt, None)], status=status))
        status = _after(d, status)
        assert status["retry"]["stoppedInARow"] == attempt
    last = _job(h, MAX_SILENT_FAILURES, None)
    d = decide(facts(jobs=[last], status=status))
    assert d.create_job_for is None
    stalled, reason, _ = _stalled(d)
    assert (stalled, reason) == (True, Reason.MIGRATION_FAILED)
    status = _after(d, status)
    # And stays stalled once that Job is gone too.
    d = decide(facts(jobs=[], status=status, now=NOW + dt.timedelta(days=1)))
    assert d.create_job_for is None and _stalled(d)[1] == Reason.MIGRATION_FAILED


def _deadline_job(h: str, attempt: int, retry: str = "") -> JobFacts:
    # On SIGTERM the engine stopped between two steps and wrote its summary (exit 4).
    stopped = RunSummary(ok=False, error=Stopped("stopped on SIGTERM").summary())
    return _job(h, attempt, stopped.termination_message(), reason="DeadlineExceeded", retry=retry)


def test_jobs_stopped_by_their_deadline_stall_after_the_limit_with_their_own_reason() -> None:
    h = _hash()
    spec = {"connection": {}, "targetVersion": "latest", "job": {"activeDeadlineSeconds": 60}}
    status: dict[str, Any] = {}
    late = NOW + dt.timedelta(hours=1)
    for attempt in range(1, MAX_SILENT_FAILURES):
        d = decide(facts(spec=spec, jobs=[_deadline_job(h, attempt)], status=status, now=late))
        assert d.create_job_for is not None and d.create_job_for[1] == attempt + 1
        status = _after(d, status)
        assert "activeDeadlineSeconds (60s)" in status["failure"]["message"]
    jobs = [_deadline_job(h, MAX_SILENT_FAILURES)]
    d = decide(facts(spec=spec, jobs=jobs, status=status, now=late))
    assert d.create_job_for is None
    stalled, reason, message = _stalled(d)
    assert (stalled, reason) == (True, Reason.DEADLINE_EXCEEDED)
    assert "activeDeadlineSeconds" in message and "retry-requested" in message
    status = _after(d, status)
    # A person raises the deadline and asks once: one more attempt, once per value.
    asked = {"schemaop.io/retry-requested": "2026-11-22T13:00:00Z"}
    d = decide(facts(spec=spec, jobs=jobs, status=status, annotations=asked, now=late))
    assert d.create_job_for is not None and d.create_job_for[1] == MAX_SILENT_FAILURES + 1
    status = _after(d, status)
    again = [_deadline_job(h, MAX_SILENT_FAILURES + 1, retry=asked["schemaop.io/retry-requested"])]
    d = decide(facts(spec=spec, jobs=again, status=status, annotations=asked, now=late))
    assert d.create_job_for is None and _stalled(d)[1] == Reason.DEADLINE_EXCEEDED
    status = _after(d, status)
    # The same value answers nothing more once that Job is gone either.
    d = decide(facts(spec=spec, jobs=[], status=status, annotations=asked, now=late))
    assert d.create_job_for is None and _stalled(d)[1] == Reason.DEADLINE_EXCEEDED


def test_a_success_clears_the_record() -> None:
    h = _hash()
    d = decide(facts(jobs=[_job(h, 1, _busy())]))
    status = _after(d)
    assert "retry" in status
    spec = migration("1")["spec"]
    applied = AppliedMigration(Version("1"), "m1", checksum(spec["up"], None))
    state = DatabaseState(applied=(applied,), history_exists=True)
    done = decide(facts(status=status, db_state=state))
    assert _after(done, status).keys().isdisjoint({"retry", "failure"})


def test_a_job_deleted_before_its_end_was_seen_counts_as_ended_from_outside() -> None:
    """ttlSecondsAfterFinished: 0 may delete a failed Job before the operator sees it
    end: the attempt it started is remembered (status.retry.started) and counts."""
    status: dict[str, Any] = {}
    now = NOW
    d = decide(facts(status=status, now=now))
    assert d.create_job_for is not None and d.create_job_for[1] == 1
    status = _after(d, status)
    assert status["retry"]["started"] == 1
    for attempt in range(1, MAX_SILENT_FAILURES + 1):
        # Its Job is gone, never seen to end.
        d = decide(facts(status=status, now=now))
        assert d.create_job_for is None
        status = _after(d, status)
        assert status["retry"]["attempt"] == attempt and "started" not in status["retry"]
        assert status["retry"]["stoppedInARow"] == attempt
        assert "deleted before the operator saw it end" in status["failure"]["message"]
        now += dt.timedelta(seconds=backoff(attempt) + 1)
        d = decide(facts(status=status, now=now))
        if attempt < MAX_SILENT_FAILURES:
            assert d.create_job_for is not None and d.create_job_for[1] == attempt + 1
            status = _after(d, status)
    assert d.create_job_for is None and _stalled(d)[1] == Reason.MIGRATION_FAILED


def test_a_job_the_api_server_refuses_is_not_counted_as_started() -> None:
    d = decide(facts())
    refused = after_job_refused(d, "spec.template: Invalid value")
    status = _after(refused)
    assert "started" not in status["retry"]
    again = decide(facts(status=status))
    assert again.create_job_for is not None and again.create_job_for[1] == 1


def test_the_recorded_line_stays_the_same_however_often_it_is_read_back() -> None:
    h = _hash()
    status = _after(decide(facts(jobs=[_job(h, 1, _busy())])))
    lines = []
    for _ in range(3):
        d = decide(facts(jobs=[], status=status))
        status = _after(d, status)
        lines.append(next(c.message for c in d.conditions if c.type == ConditionType.RECONCILING))
        assert status["retry"]["message"].count("failed") == 1, status["retry"]["message"]
    assert lines[0] == lines[1] == lines[2]


def test_a_connection_stall_kept_after_its_jobs_are_gone_ends_on_a_retry_request() -> None:
    # The Job could not use its connection (a pooled URL): a person fixed it, the Jobs
    # are gone (TTL), and the same plan must start again when asked, not stay stalled.
    message = RunSummary(ok=False, error=ConnectionPooled("pooled").summary()).termination_message()
    seen = decide(facts(jobs=[_job(_hash(), 1, message)]))
    assert seen.create_job_for is None and "retry-requested" in str(_stalled(seen))
    status = _after(seen)
    later = NOW + dt.timedelta(hours=1)
    still = decide(facts(jobs=[], status=status, now=later))
    assert still.create_job_for is None
    asked = decide(
        facts(
            jobs=[],
            status=status,
            now=later,
            annotations={"schemaop.io/retry-requested": "2026-11-22T13:00:00Z"},
        )
    )
    assert asked.create_job_for is not None


def test_one_retry_request_answers_once_even_when_its_jobs_vanish() -> None:
    # ttlSecondsAfterFinished: 0 and a retry request left on the object: each Job
    # vanishes before its end is seen; the value was answered by the first Job it
    # started, so later attempts keep their backoff and the stall limit holds.
    requested = {"schemaop.io/retry-requested": "v1"}
    now = NOW
    status = _after(decide(facts(now=now)))
    created = 0
    for _ in range(12):
        now += dt.timedelta(seconds=1)
        seen = decide(facts(jobs=[], status=status, now=now, annotations=requested))
        status = _after(seen, status)
        if seen.create_job_for is None:
            now += dt.timedelta(hours=2)
            seen = decide(facts(jobs=[], status=status, now=now, annotations=requested))
            status = _after(seen, status)
        if seen.create_job_for is None:
            break
        created += 1
    assert created <= MAX_SILENT_FAILURES
    assert seen.create_job_for is None


def test_a_started_job_the_watch_has_not_brought_yet_sends_the_operator_to_the_api() -> None:
    # status.retry.started names attempt 2; the Job watch lists attempt 1 only: deciding
    # on the watch would count attempt 2 as deleted before its end was seen.
    from schemaop.operator.reconcile import _started_job_not_listed

    h = _hash()
    retry = {"planHash": h, "attempt": 1, "started": 2, "retryable": True}
    lagging = facts(jobs=[_job(h, 1, _permanent())], status={"retry": retry})
    assert _started_job_not_listed(lagging)
    listed = facts(jobs=[_job(h, 1, _permanent()), _job(h, 2, None)], status={"retry": retry})
    assert not _started_job_not_listed(listed)
    recorded = facts(jobs=[], status={"retry": {**retry, "attempt": 2}})
    assert not _started_job_not_listed(recorded)
    assert not _started_job_not_listed(facts(status={}))
