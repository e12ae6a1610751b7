"""Retry now: annotation schemaop.io/retry-requested skips the failure backoff once per value."""

from __future__ import annotations

import dataclasses
from typing import Any

from facts_support import facts

from schemaop.decide import JobFacts, decide
from schemaop.engine.errors import LockBusy
from schemaop.kube.builders import build_job, retry_request
from schemaop.model.conditions import ConditionType, Reason
from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.names import ANNOTATION_RETRY_REQUESTED
from schemaop.model.run import RunSummary

# A Job failed a few seconds ago with a retryable error: its backoff (10 s) is running.
FINISHED = "2026-11-22T11:59:58Z"
BUSY = RunSummary(ok=False, error=LockBusy("another run holds the lock").summary())


def _failed_job(plan12: str, attempt: int, requested: str | None = None) -> JobFacts:
    annotations = {ANNOTATION_RETRY_REQUESTED: requested} if requested else {}
    job = {
        "metadata": {
            "name": f"db-{plan12}-{attempt}",
            "labels": {"schemaop.io/plan": plan12, "schemaop.io/attempt": str(attempt)},
            "annotations": annotations,
        },
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "lastTransitionTime": FINISHED}]
        },
    }
    return JobFacts.from_job(job, BUSY.termination_message())


def _plan12() -> str:
    first = decide(facts())
    assert first.create_job_for is not None
    return first.create_job_for[0].short_hash


def _reconciling(decision: Any) -> Reason:
    return next(c.reason for c in decision.conditions if c.type == ConditionType.RECONCILING)


def test_without_a_request_the_backoff_is_waited() -> None:
    d = decide(facts(jobs=[_failed_job(_plan12(), 1)]))
    assert d.create_job_for is None
    assert _reconciling(d) == Reason.RETRYING
    assert d.status["failure"]["retryAt"] == "2026-11-22T12:00:08Z"


def test_a_new_request_skips_the_backoff_at_once() -> None:
    h = _plan12()
    d = decide(
        facts(
            annotations={ANNOTATION_RETRY_REQUESTED: "2026-11-22T12:00:00Z/abcd"},
            jobs=[_failed_job(h, 1)],
        )
    )
    assert d.create_job_for is not None and d.create_job_for[1] == 2
    assert _reconciling(d) == Reason.MIGRATING


def test_a_request_answered_by_a_job_does_not_skip_a_second_backoff() -> None:
    h = _plan12()
    value = "2026-11-22T12:00:00Z/abcd"
    # Attempt 2 was started for that request, and failed too: its backoff is waited.
    jobs = [_failed_job(h, 1), _failed_job(h, 2, requested=value)]
    d = decide(facts(annotations={ANNOTATION_RETRY_REQUESTED: value}, jobs=jobs))
    assert d.create_job_for is None
    assert _reconciling(d) == Reason.RETRYING
    # A new value skips it again, once.
    d = decide(facts(annotations={ANNOTATION_RETRY_REQUESTED: value + "x"}, jobs=jobs))
    assert d.create_job_for is not None and d.create_job_for[1] == 3


def test_a_request_does_not_retry_a_failure_that_needs_a_fix() -> None:
    from schemaop.engine.errors import MigrationFailed

    h = _plan12()
    broken = RunSummary(ok=False, error=MigrationFailed("syntax error").summary())
    job = _failed_job(h, 1)
    job = dataclasses.replace(job, summary=broken)
    d = decide(facts(annotations={ANNOTATION_RETRY_REQUESTED: "now/1"}, jobs=[job]))
    assert d.create_job_for is None


def test_the_job_carries_the_request_it_answers_clipped_as_compared() -> None:
    first = decide(facts())
    assert first.create_job_for is not None
    plan = first.create_job_for[0]
    long_value = "x" * 1000
    sv = {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaVersion",
        "metadata": {
            "name": "db",
            "namespace": "ns",
            "uid": "u",
            "annotations": {ANNOTATION_RETRY_REQUESTED: long_value},
        },
        "spec": {"connection": {"host": "h", "dbname": "d", "user": "u"}},
    }
    job = build_job(sv, plan, 2, JobPolicy())
    assert job["metadata"]["annotations"][ANNOTATION_RETRY_REQUESTED] == retry_request(sv)
    job_facts = JobFacts.from_job(
        {**job, "status": {"conditions": [{"type": "Failed", "status": "True"}]}}, None
    )
    assert job_facts.retry_requested == retry_request(sv) == long_value[:256]
    sv["metadata"]["annotations"] = {}
    assert (
        ANNOTATION_RETRY_REQUESTED
        not in build_job(sv, plan, 2, JobPolicy())["metadata"]["annotations"]
    )
