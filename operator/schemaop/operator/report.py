"""What a SchemaVersion's status writes tell the world: Kubernetes Events and metrics.

:class:`StatusReport` looks at one status write of the reconciler (the status
before and after it) and posts the
Events of the conditions that changed (one per reason and write) and sets the
SchemaVersion's metric series (:mod:`schemaop.metrics`). It remembers the label
values of the series it set, so that a series of an old reason or version is
dropped when a new one replaces it, and all of them when the SchemaVersion goes
(:meth:`StatusReport.forget`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

from schemaop import metrics
from schemaop.kube.api import KubeApi
from schemaop.model import conditions as cond
from schemaop.model.conditions import ConditionType


class StatusReport:
    """Events and metric series of the SchemaVersions' status writes."""

    def __init__(self, kube: KubeApi) -> None:
        self.kube = kube
        self._stalled_reason: dict[tuple[str, str], str] = {}
        self._info_labels: dict[tuple[str, str], tuple[str, str]] = {}
        self._failed_sqlstates: dict[tuple[str, str], set[str]] = {}

    def forget(self, namespace: str, name: str) -> None:
        """Drop every metric series of a SchemaVersion this operator no longer runs
        (deleted, or moved to another shard), so its alerts stop with it."""
        key = (namespace, name)
        removals: list[tuple[Any, tuple[str, ...]]] = [
            (metrics.OPERATOR_READY, key),
            (metrics.OPERATOR_PENDING, key),
            (metrics.OPERATOR_DRIFTED, key),
            *((m, key) for m in _BACKFILL_GAUGES),
            (metrics.OPERATOR_MIGRATION_DURATION, key),
            *((metrics.OPERATOR_APPLIED, (*key, d)) for d in ("up", "down")),
            *((metrics.OPERATOR_LINT_FINDINGS, (*key, sev)) for sev in ("error", "warning")),
            *(
                (metrics.OPERATOR_FAILED, (*key, state))
                for state in self._failed_sqlstates.pop(key, set())
            ),
        ]
        if (reason := self._stalled_reason.pop(key, None)) is not None:
            removals.append((metrics.OPERATOR_STALLED, (*key, reason)))
        if (info := self._info_labels.pop(key, None)) is not None:
            removals.append((metrics.OPERATOR_VERSION_INFO, (*key, *info)))
        for metric, labels in removals:
            with contextlib.suppress(KeyError):
                metric.remove(*labels)

    async def status_written(self, sv: Mapping[str, Any], before: Mapping[str, Any]) -> None:
        """The Events and metric series of one status write: ``sv`` as written,
        ``before`` its status as it was."""
        meta, status = sv["metadata"], sv.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        conditions = status.get("conditions") or []
        old_conditions = before.get("conditions") or []
        # One Event per reason and write: Ready and Stalled often change together with
        # the same reason (MigrationFailed), as do Ready and ApprovalPending.
        events: dict[str, tuple[bool, str]] = {}  # reason -> (warning, message)
        for type_ in (
            ConditionType.READY,
            ConditionType.STALLED,
            ConditionType.DRIFTED,
            ConditionType.APPROVAL_PENDING,
        ):
            new, old = cond.find(conditions, type_), cond.find(old_conditions, type_)
            if new is None:
                continue
            if old is not None and (old.get("status"), old.get("reason")) == (
                new.get("status"),
                new.get("reason"),
            ):
                continue
            became_true = new.get("status") == "True"
            drift_cleared = (
                type_ == ConditionType.DRIFTED
                and old is not None
                and old.get("status") == "True"
                and not became_true
            )
            if not (became_true or drift_cleared or type_ == ConditionType.READY):
                continue
            warning = (type_ in (ConditionType.STALLED, ConditionType.DRIFTED) and became_true) or (
                type_ == ConditionType.READY
                and new.get("reason") in ("DatabaseUnreachable", "SecretNotFound", "Retrying")
            )
            reason = str(new.get("reason"))
            earlier = events.get(reason)
            events[reason] = (
                warning or (earlier is not None and earlier[0]),
                str(new.get("message")),
            )
        for reason, (warning, message) in events.items():
            await self.kube.post_event(sv, "Warning" if warning else "Normal", reason, message)
        ready = cond.find(conditions, ConditionType.READY)
        stalled = cond.find(conditions, ConditionType.STALLED)
        drifted = cond.find(conditions, ConditionType.DRIFTED)
        metrics.OPERATOR_READY.labels(ns, name).set(
            1 if ready and ready.get("status") == "True" else 0
        )
        metrics.OPERATOR_PENDING.labels(ns, name).set(int(status.get("pending") or 0))
        metrics.OPERATOR_DRIFTED.labels(ns, name).set(
            1 if drifted and drifted.get("status") == "True" else 0
        )
        if stalled is not None:
            is_stalled = stalled.get("status") == "True"
            reason = str(stalled.get("reason"))
            # One series per SchemaVersion: drop the one of the previous reason.
            previous = self._stalled_reason.get((ns, name))
            if previous is not None and previous != reason:
                with contextlib.suppress(KeyError):
                    metrics.OPERATOR_STALLED.remove(ns, name, previous)
            self._stalled_reason[(ns, name)] = reason
            metrics.OPERATOR_STALLED.labels(ns, name, reason).set(1 if is_stalled else 0)
        old_job, new_job = before.get("lastJob") or {}, status.get("lastJob") or {}
        if new_job.get("result") != old_job.get("result") or new_job.get("name") != old_job.get(
            "name"
        ):
            if new_job.get("result") == "Succeeded":
                steps = (before.get("plan") or {}).get("steps") or []
                direction = (before.get("plan") or {}).get("direction") or "up"
                metrics.OPERATOR_APPLIED.labels(ns, name, direction).inc(len(steps) or 1)
                await self.kube.post_event(
                    sv, "Normal", "MigrationSucceeded", f"Job {new_job.get('name')} succeeded"
                )
            elif new_job.get("result") == "Failed":
                failure = status.get("failure") or {}
                sqlstate = str(failure.get("sqlstate", ""))
                self._failed_sqlstates.setdefault((ns, name), set()).add(sqlstate)
                metrics.OPERATOR_FAILED.labels(ns, name, sqlstate).inc()
        info = (str(status.get("currentVersion", "")), str(status.get("targetVersion", "")))
        old_info = self._info_labels.get((ns, name))
        if old_info is not None and old_info != info:
            with contextlib.suppress(KeyError):
                metrics.OPERATOR_VERSION_INFO.remove(ns, name, *old_info)
        self._info_labels[(ns, name)] = info
        metrics.OPERATOR_VERSION_INFO.labels(ns, name, *info).set(1)
        # Every history row that is new since the last write (a plan of N steps adds N).
        seen = before.get("history") or []
        for entry in status.get("history") or []:
            if entry in seen:
                break  # newest first: the rest were there before
            if entry.get("durationSeconds") is not None:
                metrics.OPERATOR_MIGRATION_DURATION.labels(ns, name).observe(
                    float(entry["durationSeconds"])
                )
        _set_backfill_metrics(
            ns, name, status.get("dataMigration"), (status.get("lastJob") or {}).get("result")
        )
        lint = (status.get("plan") or {}).get("lint") or {}
        for severity in ("errors", "warnings"):
            metrics.OPERATOR_LINT_FINDINGS.labels(ns, name, severity.rstrip("s")).set(
                int(lint.get(severity) or 0)
            )


_BACKFILL_GAUGES = (
    metrics.BACKFILL_ROWS_DONE,
    metrics.BACKFILL_ROWS_TOTAL,
    metrics.BACKFILL_RATE,
    metrics.BACKFILL_THROTTLED,
    metrics.BACKFILL_RUNNING,
    metrics.BACKFILL_LAST_PROGRESS,
)


def _set_backfill_metrics(
    ns: str, name: str, shown: Mapping[str, Any] | None, job_result: str | None
) -> None:
    """The backfill gauges from status.dataMigration (none while it has never been set).

    Running: not completed, not paused, and its Job running. A Job that failed and
    waits for a retry is not (SchemaopMigrationRunningTooLong watches that, and
    SchemaopStalled a step that stopped for good), so one cause raises one alert.
    """
    if not shown:
        for metric in _BACKFILL_GAUGES:
            with contextlib.suppress(KeyError):
                metric.remove(ns, name)
        return
    running = not shown.get("completedAt") and not shown.get("paused") and job_result == "Running"
    metrics.BACKFILL_ROWS_DONE.labels(ns, name).set(int(shown.get("rowsDone") or 0))
    metrics.BACKFILL_ROWS_TOTAL.labels(ns, name).set(int(shown.get("rowsTotalEstimate") or 0))
    metrics.BACKFILL_RATE.labels(ns, name).set(
        float(shown.get("rowsPerSecond") or 0) if running else 0.0
    )
    metrics.BACKFILL_THROTTLED.labels(ns, name).set(
        1 if running and shown.get("throttleReason") else 0
    )
    metrics.BACKFILL_RUNNING.labels(ns, name).set(1 if running else 0)
    updated = _timestamp(shown.get("updatedAt") or shown.get("startedAt"))
    if updated is not None:
        metrics.BACKFILL_LAST_PROGRESS.labels(ns, name).set(updated)


def _timestamp(text: Any) -> float | None:
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
