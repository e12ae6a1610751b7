"""The attempt count, backoff and stalls of a plan outlive its Jobs (status.retry),
and a Job stopped by its activeDeadlineSeconds counts toward the same limit as one
killed without a summary, unless it advanced its batched step (gates.decide, pure)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from facts_support import NOW, facts, migration

from schemaop.decide import (
    MAX_SILENT_FAILURES,
    Facts,
    JobFacts,
    after_job_refused,
    backoff,
    decide,
)
from schemaop.engine.errors import ConnectionPooled, LockBusy, Stopped
from schemaop.model import status as st
from schemaop.model.batchprogress import BatchProgress
from schemaop.model.conditions import ConditionType, Reason
from schemaop.model.history import AppliedMigration, DatabaseState
from schemaop.model.migration import checksum
from schemaop.model.run import RunSummary, StepSummary
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


# -- a batched step longer than activeDeadlineSeconds ------------------------------
# The engine stops a batched step between two batches on SIGTERM and keeps what it
# committed (the progress row); the next attempt continues from there. An attempt
# stopped by its deadline that advanced the step is not one of MAX_SILENT_FAILURES in
# a row; one that did not is, as before.

DEADLINE_SPEC = {"connection": {}, "targetVersion": "latest", "job": {"activeDeadlineSeconds": 60}}


def _batched(version: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": f"m{version}", "generation": 1},
        "spec": {
            "version": version,
            "up": "update t set x = 1 where id between :lo_id and :hi_id",
            "batched": {"table": "t", "key": ["id"]},
        },
    }


def _row(batches: int, version: str = "1") -> BatchProgress:
    """The progress row as the operator reads it (cumulative over the attempts)."""
    return BatchProgress.from_row(
        {
            "version": version,
            "direction": "up",
            "plan_hash": None,
            "rows_done": batches * 100,
            "batches_done": batches,
            "batch_size": 100,
        }
    )


def _bfacts(**kw: Any) -> Facts:
    # The operator reads the progress table for a plan with a batched step.
    kw.setdefault("batch_progress_read", True)
    return facts(spec=DEADLINE_SPEC, migrations=[_batched()], **kw)


def _deadline_killed(h: str, attempt: int, message: str | None = None) -> JobFacts:
    # The Job controller deleted its pod: usually no termination message is left.
    return _job(h, attempt, message, reason="DeadlineExceeded")


def _stopped_summary(batches: int) -> str:
    """The summary a SIGTERM-stopped batched step writes: the step ``pending`` with its
    cumulative figures (engine.datamig.Progress.to_summary)."""
    step = StepSummary(
        version="1",
        description="",
        direction="up",
        transactional=True,
        batches={"rowsDone": batches * 100, "batchesDone": batches, "batchSize": 100},
    )
    error = Stopped(f"stopped on request after {batches} batch(es)", version="1")
    return RunSummary(ok=False, steps=(step,), error=error.summary()).termination_message()


def _bhash() -> str:
    first = decide(_bfacts())
    assert first.create_job_for is not None
    return first.create_job_for[0].short_hash


def _run_attempts(
    batches_at_end: list[int], *, keep_jobs: bool = True, start: int = 0
) -> list[tuple[Any, dict[str, Any]]]:
    """Attempts 1..n, each stopped by its deadline with the progress row at
    ``batches_at_end[n-1]``; the operator decides on each end and starts the next
    attempt when it says so. Returns (decision, status after it) per end."""
    h = _bhash()
    now = NOW
    started = decide(_bfacts(batch_progress=_row(start) if start else None, now=now))
    status = _after(started)
    jobs: list[JobFacts] = []
    out = []
    for attempt, batches in enumerate(batches_at_end, start=1):
        job = _deadline_killed(h, attempt)
        jobs = [*jobs, job] if keep_jobs else [job]
        now += dt.timedelta(minutes=1)
        d = decide(_bfacts(jobs=jobs, status=status, batch_progress=_row(batches), now=now))
        status = _after(d, status)
        out.append((d, status))
        if d.create_job_for is None:
            if status["retry"].get("retryable") is False:
                break
            now += dt.timedelta(seconds=backoff(attempt) + 1)
            d = decide(_bfacts(jobs=jobs, status=status, batch_progress=_row(batches), now=now))
            status = _after(d, status)
        assert d.create_job_for is not None and d.create_job_for[1] == attempt + 1
    return out


def test_deadline_stops_that_advance_the_batched_step_never_stall() -> None:
    ends = _run_attempts([10 * n for n in range(1, 9)])
    assert len(ends) == 8
    for n, (d, status) in enumerate(ends, start=1):
        # Followed at once (no backoff), and not counted.
        assert d.create_job_for is not None and d.create_job_for[1] == n + 1
        assert status["retry"]["stoppedInARow"] == 0
        assert status["retry"]["retryAt"] == FINISHED  # no backoff
        assert status["retry"]["progress"] == {
            "version": "1",
            "direction": "up",
            "batchesDone": 10 * n,
            "rowsDone": 1000 * n,
            "batchesAdded": 10,
        }
        c = next(c for c in d.conditions if c.type == ConditionType.RECONCILING)
        assert c.reason == Reason.MIGRATING and f"(attempt {n + 1})" in c.message
        said = (
            f"attempt {n}: the migration Job was stopped by spec.job.activeDeadlineSeconds "
            f"(60s) after 10 more batch(es) of the batched step 1 (up), {10 * n} batch(es)"
        )
        assert said in c.message and "next attempt continues from there" in c.message
        assert d.job_note.startswith(said)  # the MigrationStarted Event says it too


def test_deadline_stops_without_progress_stall_after_the_limit() -> None:
    # The row stands at 40 batches when attempt 1 starts and never moves.
    ends = _run_attempts([40] * MAX_SILENT_FAILURES, start=40)
    assert [s["retry"]["stoppedInARow"] for _, s in ends] == [1, 2, 3]
    d, status = ends[-1]
    assert d.create_job_for is None
    stalled, reason, message = _stalled(d)
    assert (stalled, reason) == (True, Reason.DEADLINE_EXCEEDED)
    assert "without advancing the batched step 1 (up) past 40 batch(es)" in message
    assert status["retry"]["retryable"] is False
    # Those that stopped short were backed off as before (not restarted at once).
    finished = dt.datetime.fromisoformat(FINISHED)
    assert [s["retry"]["retryAt"] for _, s in ends[:2]] == [
        st.iso(finished + dt.timedelta(seconds=backoff(n))) for n in (1, 2)
    ]


def test_a_stop_that_advances_the_step_resets_the_count() -> None:
    ends = _run_attempts([0, 0, 10, 10, 10, 25, 25, 25])
    assert [s["retry"]["stoppedInARow"] for _, s in ends] == [1, 2, 0, 1, 2, 0, 1, 2]
    assert all(s["retry"]["retryAt"] == FINISHED for _, s in ends[2::3])
    # One more stop without progress is the third in a row.
    h = _bhash()
    status = ends[-1][1]
    jobs = [_deadline_killed(h, n) for n in range(1, 10)]
    d = decide(_bfacts(jobs=jobs, status=status, batch_progress=_row(25)))
    assert d.create_job_for is None and _stalled(d)[1] == Reason.DEADLINE_EXCEEDED


def test_jobs_deleted_by_their_ttl_between_attempts_count_from_status_retry() -> None:
    # Only the newest Job is listed each time: status.retry alone says where the step
    # stood at the end of the attempt before.
    ends = _run_attempts([10, 20, 20, 30, 30, 30], keep_jobs=False)
    assert [s["retry"]["stoppedInARow"] for _, s in ends] == [0, 0, 1, 0, 1, 2]
    at_once = [s["retry"]["retryAt"] == FINISHED for _, s in ends]
    assert at_once == [True, True, False, True, False, False]
    # Re-deciding on an attempt already decided (its Job listed again, nothing new
    # started) keeps the verdict: attempt 4 advanced the step.
    s4 = ends[3][1]
    kept = {**s4, "retry": {k: v for k, v in s4["retry"].items() if k != "started"}}
    h = _bhash()
    again = decide(_bfacts(jobs=[_deadline_killed(h, 4)], status=kept, batch_progress=_row(30)))
    assert again.create_job_for is not None and again.create_job_for[1] == 5
    assert _after(again, kept)["retry"]["stoppedInARow"] == 0
    # The Job gone too: status.retry alone, still continuing at once.
    gone = decide(_bfacts(jobs=[], status=kept, batch_progress=_row(30)))
    assert gone.create_job_for is not None and gone.create_job_for[1] == 5
    assert "next attempt continues from there" in gone.job_note


def test_a_job_deleted_before_its_end_was_seen_counts_only_without_progress() -> None:
    # ttlSecondsAfterFinished: 0 deletes each Job at once: the progress row read
    # since says whether the attempt advanced its step.
    now = NOW
    status = _after(decide(_bfacts(now=now)))
    for attempt, batches in enumerate([15, 30], start=1):
        d = decide(_bfacts(status=status, batch_progress=_row(batches), now=now))
        status = _after(d, status)
        assert d.create_job_for is not None and d.create_job_for[1] == attempt + 1
        assert status["retry"]["stoppedInARow"] == 0
        message = status["retry"]["message"]
        assert "deleted before the operator saw it end" in message
        assert "after 15 more batch(es)" in message
    for in_a_row in range(1, MAX_SILENT_FAILURES + 1):
        d = decide(_bfacts(status=status, batch_progress=_row(30), now=now))
        status = _after(d, status)
        assert status["retry"]["stoppedInARow"] == in_a_row
        now += dt.timedelta(hours=1)
        d = decide(_bfacts(status=status, batch_progress=_row(30), now=now))
        status = _after(d, status)
    assert d.create_job_for is None and _stalled(d)[1] == Reason.MIGRATION_FAILED


def test_the_summary_of_a_stopped_step_says_how_far_it_got_when_the_row_is_not_read() -> None:
    h = _bhash()
    status = _after(decide(_bfacts()))
    first = _deadline_killed(h, 1, _stopped_summary(12))
    d = decide(_bfacts(jobs=[first], status=status))
    assert d.create_job_for is not None and d.create_job_for[1] == 2
    status = _after(d, status)
    assert status["retry"]["progress"]["batchesDone"] == 12
    # Attempt 2 says the same 12 batches (cumulative): no progress, counted.
    second = _deadline_killed(h, 2, _stopped_summary(12))
    d = decide(_bfacts(jobs=[first, second], status=status))
    assert d.create_job_for is None and _after(d, status)["retry"]["stoppedInARow"] == 1


def test_without_knowing_where_the_step_stood_before_a_stop_counts_as_before() -> None:
    # No status.retry for this plan (an operator without it started these Jobs) and no
    # summaries: nobody knows whether they advanced, so they count as today.
    h = _bhash()
    jobs = [_deadline_killed(h, n) for n in range(1, MAX_SILENT_FAILURES + 1)]
    d = decide(_bfacts(jobs=jobs, batch_progress=_row(500)))
    assert d.create_job_for is None and _stalled(d)[1] == Reason.DEADLINE_EXCEEDED


async def test_the_job_that_continues_a_stopped_step_says_so_in_its_event() -> None:
    from schemaop.operator import reconcile

    class Kube:
        def __init__(self) -> None:
            self.events: list[tuple[str, str]] = []

        async def create_if_absent(self, obj: Any) -> bool:
            return True

        async def post_event(self, obj: Any, kind: str, reason: str, message: str) -> None:
            self.events.append((reason, message))

    d = _run_attempts([10])[0][0]
    assert d.create_job_for is not None and d.job_note
    kube = Kube()
    r = reconcile.Reconciler(kube, reconcile.OperatorConfig())  # type: ignore[arg-type]
    sv = {
        "metadata": {"name": "db", "namespace": "ns", "uid": "u"},
        "spec": {
            **DEADLINE_SPEC,
            "connection": {"urlFrom": {"secretKeyRef": {"name": "s", "key": "url"}}},
        },
    }
    await r._start_job(sv, d)
    ((reason, message),) = kube.events
    assert reason == "MigrationStarted"
    assert message.endswith(
        "; attempt 1: the migration Job was stopped by spec.job.activeDeadlineSeconds (60s) "
        "after 10 more batch(es) of the batched step 1 (up), 10 batch(es) and 1000 row(s) done "
        "in all; the step keeps its progress and the next attempt continues from there"
    )


def test_a_second_look_at_a_stop_decides_as_the_first_did() -> None:
    """Attempts 1 and 2 advance the step, 3 does not: one stop in a row. The Jobs of 1
    and 2 are still listed (no TTL): a second look during the backoff (a watch event,
    the requeue) must not count them again and stall."""
    h = _bhash()
    status = _after(decide(_bfacts(now=NOW)))
    jobs: list[JobFacts] = []
    for attempt, batches in enumerate([10, 20, 20], start=1):
        jobs.append(_deadline_killed(h, attempt))
        status = _after(
            decide(_bfacts(jobs=jobs, status=status, batch_progress=_row(batches))), status
        )
    assert status["retry"]["stoppedInARow"] == 1 and status["retry"]["retryable"] is True
    again = decide(
        _bfacts(
            jobs=jobs, status=status, batch_progress=_row(20), now=NOW + dt.timedelta(seconds=1)
        )
    )
    after = _after(again, status)
    assert after["retry"]["stoppedInARow"] == 1 and after["retry"]["retryable"] is True
    assert after["retry"]["message"] == status["retry"]["message"]


def test_without_a_recorded_position_stops_that_never_advance_still_stall() -> None:
    """status.retry.progress pruned (a CRD older than the operator) or never written
    (an older operator): not knowing where the step stood is not "nowhere", so a
    stop is not taken for progress and the plan stalls as before."""

    def pruned(status: dict[str, Any]) -> dict[str, Any]:
        retry = dict(status.get("retry") or {})
        retry.pop("progress", None)
        return {**status, "retry": retry}

    h = _bhash()
    now = NOW
    status = pruned(_after(decide(_bfacts(batch_progress=_row(40), now=now))))
    for attempt in range(1, 7):
        now += dt.timedelta(hours=1)
        d = decide(
            _bfacts(
                jobs=[_deadline_killed(h, attempt)], status=status, batch_progress=_row(40), now=now
            )
        )
        status = pruned(_after(d, status))
        if status["retry"].get("retryable") is False:
            break
    assert status["retry"]["retryable"] is False and attempt == MAX_SILENT_FAILURES
