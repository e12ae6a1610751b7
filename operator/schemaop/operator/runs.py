"""Run records: one SchemaMigrationRun per finished migration Job, written before the Job goes.

A Job's log and termination message go with the Job (its TTL, a person, a GitOps
prune); the record stays, owned by the SchemaVersion, until it is among the oldest
beyond ``--run-history-limit``. The record is built by the pure
:func:`schemaop.kube.builders.build_run_record`; this module reads what it needs
(the Job's termination message and pod log; the summary with its per-statement
figures is the JSON line the Job printed last, when the log still has it and it
agrees with the termination message) and writes it, through
:class:`schemaop.kube.api.KubeApi` only.

Exactly once per Job: the record's name comes from the Job's name and UID, so a
second create (two reconciles, or an operator restarted between the Job's end and
the record) is refused by the API server with AlreadyExists, which counts as done.
Which Jobs already have one is remembered per process (by Job UID, per
SchemaVersion, for the Jobs that still exist), so in the steady state a reconcile
costs one list of Jobs and nothing more; a restarted operator lists the records
once per SchemaVersion.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from schemaop.kube.api import KubeApi, KubeError
from schemaop.kube.builders import (
    CONTAINER,
    LABEL_SCHEMAVERSION,
    RUN_LOG_LINES,
    RUN_PLURAL,
    StoppedBy,
    build_run_record,
    controlled_by,
    job_done,
    oldest_kept,
    run_record_name,
    runs_to_prune,
    summary_from_log,
)
from schemaop.model.run import RunSummary

log = logging.getLogger(__name__)

#: Run records kept per SchemaVersion unless --run-history-limit says otherwise.
DEFAULT_RUN_HISTORY_LIMIT = 50


class RunRecorder:
    """Writes the run records of one operator process (see the module docstring)."""

    def __init__(self, kube: KubeApi, limit: int = DEFAULT_RUN_HISTORY_LIMIT) -> None:
        self.kube = kube
        self.limit = max(1, limit)
        # (namespace, SchemaVersion) -> UIDs of its finished Jobs whose record exists
        # (or was pruned already). Bounded by what exists: only the UIDs of Jobs still
        # listed are kept at each look, and a SchemaVersion's entry goes with it
        # (:meth:`forget`); a Job gone is never listed again, so nothing is lost.
        self._recorded: dict[tuple[str, str], set[str]] = {}

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is remembered of a SchemaVersion this operator no longer runs."""
        self._recorded.pop((namespace, name), None)

    async def record_finished_jobs(
        self, sv: Mapping[str, Any], listed: list[dict[str, Any]] | None = None
    ) -> None:
        """Write the record of each finished Job of ``sv`` that has none, then prune.

        ``listed``: the Jobs labelled for ``sv`` as the caller just listed them (the
        reconciler lists them once for both); None lists them here. Never raises an
        API error: a record not written now is written at the next
        reconcile, as long as the Job exists."""
        meta = sv["metadata"]
        try:
            await self._record(sv, listed)
        except KubeError as exc:
            log.warning(
                "run records of %s/%s not written: %s", meta["namespace"], meta["name"], exc
            )

    async def _record(self, sv: Mapping[str, Any], listed: list[dict[str, Any]] | None) -> None:
        meta = sv["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
        selector = f"{LABEL_SCHEMAVERSION}={name}"
        if listed is None:
            listed = await self.kube.list_jobs(namespace, selector)
        jobs = [j for j in listed if controlled_by(j, uid) and job_done(j) is not None]
        listed_uids = {str(j["metadata"].get("uid")) for j in listed}
        recorded = self._recorded.setdefault((namespace, name), set())
        recorded &= listed_uids  # the Jobs gone (their TTL, a prune) need no memory
        new = [j for j in jobs if str(j["metadata"].get("uid")) not in recorded]
        if not new:
            return
        records = [
            r
            for r in await self.kube.list_custom(RUN_PLURAL, namespace, selector)
            if controlled_by(r, uid)
        ]
        have = {r["metadata"]["name"] for r in records}
        cutoff = oldest_kept(records, self.limit)
        for job in sorted(new, key=_finished_at):
            job_meta = job["metadata"]
            if run_record_name(job) not in have and (cutoff is None or _finished_at(job) >= cutoff):
                record = await self._build(sv, job)
                try:
                    created = await self.kube.create_custom(RUN_PLURAL, record)
                except KubeError as exc:
                    if not exc.invalid:
                        raise
                    # Refused as built (a CRD older than this operator?): sending it
                    # again cannot help, so it is not tried at every reconcile.
                    log.warning("run record of Job %s refused: %s", job_meta["name"], exc)
                    created = False
                if created:
                    log.info("run record %s/%s written", namespace, record["metadata"]["name"])
                    records.append(record)
            recorded.add(str(job_meta.get("uid")))
        for stale in runs_to_prune(records, self.limit):
            await self.kube.delete_custom(RUN_PLURAL, namespace, stale)

    async def record_paused(self, sv: Mapping[str, Any], job_name: str, uid: str) -> None:
        """Write the record of a Job the operator is about to delete before it finished
        (spec.paused stops a batched step's Job): once deleted it never finishes, so
        :meth:`record_finished_jobs` would never see it. What it did so far is in its
        log and the progress table; the record says it was stopped by the pause. Never
        raises an API error (the Job is stopped all the same)."""
        await self._record_stopped(sv, job_name, uid, paused_stop(sv, job_name, _now()))

    async def _record_stopped(
        self, sv: Mapping[str, Any], job_name: str, uid: str, why: StoppedBy
    ) -> None:
        meta = sv["metadata"]
        namespace = meta["namespace"]
        try:
            # Listed, not read: the operator may list Jobs, not get them (its RBAC).
            listed = await self.kube.list_jobs(namespace, f"{LABEL_SCHEMAVERSION}={meta['name']}")
            job = next((j for j in listed if str(j["metadata"].get("uid")) == uid), None)
            if (
                job is None
                or job["metadata"].get("name") != job_name
                or not controlled_by(job, meta.get("uid", ""))
                or job_done(job) is not None  # finished: recorded as such
            ):
                return
            pod_log = await self.kube.job_pod_log(
                namespace, job["metadata"], CONTAINER, RUN_LOG_LINES
            )
            record = build_run_record(sv, job, None, pod_log, stopped=why)
            if await self.kube.create_custom(RUN_PLURAL, record):
                log.info("run record %s/%s written", namespace, record["metadata"]["name"])
        except KubeError as exc:
            log.warning("run record of stopped Job %s/%s not written: %s", namespace, job_name, exc)
            return
        self._recorded.setdefault((namespace, meta["name"]), set()).add(uid)

    async def _build(self, sv: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, Any]:
        namespace, job_meta = sv["metadata"]["namespace"], job["metadata"]
        message = await self.kube.job_termination_message(namespace, job_meta)
        pod_log = await self.kube.job_pod_log(namespace, job_meta, CONTAINER, RUN_LOG_LINES)
        summary = RunSummary.from_json(message) if message else None
        # The termination message is compact; the log's last line has the whole summary.
        summary = summary_from_log(pod_log.text, summary)
        return build_run_record(sv, job, summary, pod_log)


def paused_stop(sv: Mapping[str, Any], job_name: str, now: dt.datetime) -> StoppedBy:
    """Why a paused SchemaVersion's Job is stopped, for its run record."""
    shown = (sv.get("status") or {}).get("dataMigration") or {}
    where = (
        f" during batched step {shown['version']} ({shown.get('rowsDone', 0)} rows done when "
        "last read)"
        if shown.get("version")
        else ""
    )
    return StoppedBy(
        "Paused",
        f"spec.paused: the operator stopped Job {job_name}{where}; it ends after its current "
        "batch, and a Job started once spec.paused is false continues from its position",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _finished_at(job: Mapping[str, Any]) -> str:
    done = job_done(job) or {}
    status = job.get("status") or {}
    return str(status.get("completionTime") or done.get("lastTransitionTime") or "")
