"""The migration Jobs the operator created, read from the API into facts (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from schemaop.kube.builders import LABEL_ATTEMPT, LABEL_PLAN, job_finished, retry_request
from schemaop.model.run import RunError, RunSummary
from schemaop.model.status import LastJob, failure_from, failure_message


@dataclasses.dataclass(frozen=True)
class JobFacts:
    """One migration Job the operator created, as read from the API."""

    name: str
    plan_hash12: str
    attempt: int
    active: bool
    succeeded: bool
    failed: bool
    started_at: str | None = None
    finished_at: str | None = None
    # The Job's termination message: the engine's summary (None: no message).
    summary: RunSummary | None = None
    uid: str = ""
    # The retry request (schemaop.io/retry-requested) this Job was started under, if any.
    retry_requested: str = ""
    # Failed because its spec.activeDeadlineSeconds passed (the Job controller stopped it).
    deadline_exceeded: bool = False

    @classmethod
    def from_job(cls, job: Mapping[str, Any], message: str | None) -> JobFacts:
        meta, status = job["metadata"], job.get("status") or {}
        labels = meta.get("labels") or {}
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        done = job_finished(status)
        return cls(
            name=meta["name"],
            plan_hash12=labels.get(LABEL_PLAN, ""),
            attempt=_attempt(labels.get(LABEL_ATTEMPT)),
            active=done is None,
            succeeded=bool(conds.get("Complete", {}).get("status") == "True"),
            failed=bool(conds.get("Failed", {}).get("status") == "True"),
            started_at=status.get("startTime"),
            finished_at=status.get("completionTime")
            or (done.get("lastTransitionTime") if done else None),
            summary=RunSummary.from_json(message) if message else None,
            uid=str(meta.get("uid") or ""),
            retry_requested=retry_request(job),
            deadline_exceeded=bool(
                conds.get("Failed", {}).get("status") == "True"
                and conds.get("Failed", {}).get("reason") == "DeadlineExceeded"
            ),
        )

    @property
    def error(self) -> RunError | None:
        """Why the Job failed, as its summary says (None: no summary or no error)."""
        return self.summary.error if self.summary is not None else None


def last_job_status(jobs: Sequence[JobFacts]) -> LastJob | None:
    """status.lastJob: the Job that finished (or started) last, or None."""
    if not jobs:
        return None
    job = max(jobs, key=lambda j: (j.finished_at or j.started_at or "", j.attempt))
    out: LastJob = {
        "name": job.name,
        "planHash": job.plan_hash12,
        "result": "Running" if job.active else ("Succeeded" if job.succeeded else "Failed"),
    }
    if job.started_at:
        out["startedAt"] = job.started_at
    if job.finished_at:
        out["finishedAt"] = job.finished_at
    if job.failed:
        out["message"] = failure_message(failure_from(job.error, job.attempt))[:1000]
    return out


def _attempt(label: str | None) -> int:
    """The attempt label as a number (1 when absent or not a small positive integer)."""
    text = str(label or "")
    return max(1, int(text)) if text.isascii() and text.isdigit() and len(text) <= 6 else 1
