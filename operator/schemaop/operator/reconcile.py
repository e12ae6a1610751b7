"""One reconciliation of a SchemaVersion: gather facts, decide, act, write status.

The I/O sits here and only here in the operator: the Kubernetes API through
:class:`schemaop.kube.api.KubeApi`, the database through :mod:`schemaop.engine`
(a short-lived, read-only connection in a worker thread: the operator only ever
reads history and the schema fingerprint; Jobs do the writing). Decisions are
made by the pure :func:`schemaop.decide.decide`.

The Secret values read here are handed to the scrubber (:mod:`schemaop.redaction`)
the moment they are read; a connection error names the Secret and the kind of
problem, never the Secret's content (:func:`schemaop.engine.connect.connect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

from schemaop import metrics, redaction
from schemaop.decide import (
    Decision,
    Facts,
    JobFacts,
    after_job_created,
    after_job_refused,
    decide,
    job_finished,
    with_migration_lint,
)
from schemaop.engine.observe import read_database
from schemaop.kube.api import KubeApi, KubeError, SecretNotFound, SecretNotLabelled
from schemaop.kube.builders import LABEL_SCHEMAVERSION, build_job, build_plan_configmaps
from schemaop.model import conditions as cond
from schemaop.model import status as st
from schemaop.model.conditions import ConditionType
from schemaop.model.history import DatabaseState
from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.run import RunError
from schemaop.model.status import MigrationLint, SchemaMigrationStatus, SchemaVersionStatus

log = logging.getLogger(__name__)

SV_PLURAL = "schemaversions"
SM_PLURAL = "schemamigrations"


@dataclasses.dataclass(frozen=True)
class OperatorConfig:
    """Settings read once at start-up (flags and env), never at import time."""

    # Images, ServiceAccounts, volume types and annotations a SchemaVersion may ask
    # of its Job, and the defaults it gets (--job-image, --job-service-account).
    job_policy: JobPolicy = dataclasses.field(default_factory=JobPolicy)
    label_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Labels every connection Secret must carry (--secret-selector); empty: any Secret.
    secret_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    db_connect_timeout: int = 5


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def connection_secrets(spec: Mapping[str, Any]) -> list[str]:
    """Names of the Secrets a SchemaVersion's connection reads."""
    conn = spec.get("connection") or {}
    names = []
    for key in ("urlFrom", "passwordFrom"):
        ref = (conn.get(key) or {}).get("secretKeyRef") or {}
        if ref.get("name"):
            names.append(str(ref["name"]))
    return names


class Reconciler:
    def __init__(self, kube: KubeApi, config: OperatorConfig) -> None:
        self.kube = kube
        self.config = config
        # (namespace, secret name) -> SchemaVersion names that read it.
        self.secret_index: dict[tuple[str, str], set[str]] = {}
        # Lint results by the migration set's checksums: linting is pure and costly.
        self._lint_cache: dict[tuple[str, ...], dict[str, MigrationLint]] = {}
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

    async def _conninfo(self, namespace: str, spec: Mapping[str, Any]) -> tuple[str, str]:
        """The connection string, and where it came from (for messages; never its text)."""
        from schemaop.engine.connect import make_conninfo

        conn = spec.get("connection") or {}
        if "urlFrom" in conn:
            ref = conn["urlFrom"]["secretKeyRef"]
            url = await self.kube.read_secret_key(
                namespace, ref["name"], ref["key"], self.config.secret_selector
            )
            redaction.remember_connection_string(url)
            return url, f"Secret {namespace}/{ref['name']} key {ref['key']}"
        params: dict[str, Any] = {
            "host": conn.get("host"),
            "port": conn.get("port", 5432),
            "dbname": conn.get("dbname"),
            "user": conn.get("user"),
        }
        if conn.get("sslmode"):
            params["sslmode"] = conn["sslmode"]
        source = "spec.connection"
        if "passwordFrom" in conn:
            ref = conn["passwordFrom"]["secretKeyRef"]
            params["password"] = await self.kube.read_secret_key(
                namespace, ref["name"], ref["key"], self.config.secret_selector
            )
            redaction.remember(params["password"])
            source = f"spec.connection, password from Secret {namespace}/{ref['name']}"
        return make_conninfo(params), source

    async def _jobs(self, namespace: str, name: str) -> list[JobFacts]:
        jobs = await self.kube.list_jobs(namespace, f"{LABEL_SCHEMAVERSION}={name}")
        out = []
        for job in jobs:
            finished = job_finished(job.get("status") or {}) is not None
            message = (
                await self.kube.job_termination_message(namespace, job["metadata"]["name"])
                if finished
                else None
            )
            out.append(JobFacts.from_job(job, message))
        return out

    async def reconcile(self, namespace: str, name: str) -> float:
        """Reconcile one SchemaVersion; returns seconds until it should be looked at again."""
        started = time.monotonic()
        sv = await self.kube.get_custom(SV_PLURAL, namespace, name)
        if sv is None or sv["metadata"].get("deletionTimestamp"):
            return 3600.0
        spec = sv.get("spec") or {}
        meta = sv["metadata"]
        for secret in connection_secrets(spec):
            self.secret_index.setdefault((namespace, secret), set()).add(name)
        migrations = [
            m
            for m in await self.kube.list_custom(SM_PLURAL, namespace)
            if ((m.get("spec") or {}).get("schemaVersionRef") or {}).get("name") == name
            and not m["metadata"].get("deletionTimestamp")
        ]
        secret_error: str | None = None
        secret_unlabelled = False
        db_error: RunError | None = None
        state: DatabaseState | None = None
        fingerprint: str | None = None
        snapshots: list[dict[str, Any]] = []
        if not spec.get("paused"):
            try:
                conninfo, source = await self._conninfo(namespace, spec)
            except SecretNotFound as exc:
                secret_error = str(exc)
                secret_unlabelled = isinstance(exc, SecretNotLabelled)
            else:
                try:
                    state, fingerprint, snapshots = await asyncio.to_thread(
                        read_database,
                        conninfo,
                        str(spec.get("historySchema", "schemaop")),
                        list(spec.get("schemas") or ["public"]),
                        self.config.db_connect_timeout,
                        source,
                    )
                except Exception as exc:
                    db_error = _engine_error(exc)
        jobs = await self._jobs(namespace, name) if state is not None else []
        facts = Facts(
            name=name,
            namespace=namespace,
            generation=int(meta.get("generation", 0)),
            spec=spec,
            annotations=meta.get("annotations") or {},
            migrations=migrations,
            now=_now(),
            status=sv.get("status") or {},
            secret_error=secret_error,
            secret_unlabelled=secret_unlabelled,
            db_error=db_error,
            db_state=state,
            live_fingerprint=fingerprint,
            jobs=jobs,
            rollback_points=snapshots,
            apply_policy=_policy_hook(),
            job_policy=self.config.job_policy,
        )
        decision = with_migration_lint(decide(facts), self._lint_status(migrations))
        if decision.create_job_for is not None:
            try:
                job_name = await self._start_job(sv, decision)
            except KubeError as exc:
                if not exc.invalid:
                    raise
                # The API server refuses the Job or a plan ConfigMap as built from this
                # spec (a value the CRD cannot check): a spec change is needed.
                decision = after_job_refused(decision, str(exc))
            else:
                decision = after_job_created(decision, job_name, _iso(_now()))
        # SchemaMigrations first: whoever sees the SchemaVersion Ready then also sees
        # its migrations marked applied.
        await self._write_migration_status(namespace, migrations, decision)
        await self._write_status(sv, decision)
        metrics.OPERATOR_RECONCILE_DURATION.observe(time.monotonic() - started)
        return decision.requeue_after

    def _lint_status(self, migrations: list[dict[str, Any]]) -> dict[str, MigrationLint]:
        """Lint findings for each SchemaMigration's status, by object name (cached by
        the set's checksums); empty when the set is invalid."""
        from schemaop.decide import to_migrations
        from schemaop.lint import lint_set, lint_status
        from schemaop.model.migration import InvalidMigrationSet

        try:
            migration_set = to_migrations(migrations)
        except InvalidMigrationSet:
            return {}
        key = tuple(m.checksum for m in migration_set)
        by_version = self._lint_cache.get(key)
        if by_version is None:
            by_version = {
                m.version.text: lint_status(r.findings)
                for m, r in zip(migration_set, lint_set(list(migration_set)), strict=True)
            }
            if len(self._lint_cache) > 1000:
                self._lint_cache.clear()
            self._lint_cache[key] = by_version
        out: dict[str, MigrationLint] = {}
        for obj in migrations:
            version = str((obj.get("spec") or {}).get("version", ""))
            if version in by_version:
                out[obj["metadata"]["name"]] = by_version[version]
        return out

    async def _start_job(self, sv: Mapping[str, Any], decision: Decision) -> str:
        """Create the plan's ConfigMaps and Job (if absent); returns the Job's name."""
        assert decision.create_job_for is not None
        plan, attempt = decision.create_job_for
        configmaps = build_plan_configmaps(sv, plan)
        for configmap in configmaps:
            await self.kube.create_if_absent(configmap)
        job = build_job(sv, plan, attempt, self.config.job_policy, len(configmaps))
        created = await self.kube.create_if_absent(job)
        meta = sv["metadata"]
        if created:
            metrics.OPERATOR_JOBS.labels(meta["namespace"], meta["name"]).inc()
            await self.kube.post_event(
                sv,
                "Normal",
                "MigrationStarted",
                f"Job {job['metadata']['name']} started: plan {plan.short_hash}, "
                f"{len(plan.steps)} {plan.direction} step(s)",
            )
        return str(job["metadata"]["name"])

    async def _write_status(self, sv: Mapping[str, Any], decision: Decision) -> None:
        """The one writer of a SchemaVersion's status: the decision's changes and
        conditions applied to the status as read (re-read on conflict, not written
        when nothing changed: :meth:`KubeApi.update_status`)."""
        meta = sv["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        now = _iso(_now())
        # The status as last read (for the Events and metrics of what changed).
        before: list[SchemaVersionStatus] = [{}]

        def mutate(read: dict[str, Any]) -> dict[str, Any]:
            status = cast("SchemaVersionStatus", read)
            before[0] = cast("SchemaVersionStatus", dict(read))
            generation = int(meta.get("generation", 0))
            st.apply(status, decision.changes)
            status["observedGeneration"] = generation
            old_conds = read.get("conditions") or []
            merged = cond.merge(old_conds, decision.conditions, generation, now)
            # lastTransitionTime must not move when nothing else did: compare first.
            if _strip_times(old_conds) != _strip_times(merged):
                read["conditions"] = merged
            return read

        try:
            written = await self.kube.update_status(SV_PLURAL, namespace, name, mutate)
        except KubeError as exc:
            log.warning("status of %s/%s not written: %s", namespace, name, exc)
            raise
        if written is None:
            return
        await self._events_and_metrics(written, before[0])

    async def _events_and_metrics(self, sv: Mapping[str, Any], before: Mapping[str, Any]) -> None:
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
        lint = (status.get("plan") or {}).get("lint") or {}
        for severity in ("errors", "warnings"):
            metrics.OPERATOR_LINT_FINDINGS.labels(ns, name, severity.rstrip("s")).set(
                int(lint.get(severity) or 0)
            )

    async def _write_migration_status(
        self, namespace: str, migrations: list[dict[str, Any]], decision: Decision
    ) -> None:
        for obj in migrations:
            fields = decision.migration_status.get(obj["metadata"]["name"])
            if fields is None:
                continue

            def mutate(
                status: dict[str, Any], fields: SchemaMigrationStatus = fields
            ) -> dict[str, Any]:
                was_applied = status.get("applied")
                status.update(fields)
                if fields.get("applied") and not was_applied:
                    status["appliedAt"] = _iso(_now())
                elif not fields.get("applied"):
                    status.pop("appliedAt", None)
                return status

            try:
                await self.kube.update_status(SM_PLURAL, namespace, obj["metadata"]["name"], mutate)
            except KubeError as exc:
                log.warning(
                    "status of SchemaMigration %s not written: %s", obj["metadata"]["name"], exc
                )


def _strip_times(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions]


def _engine_error(exc: Exception) -> RunError:
    """Why the database could not be read: the engine's verdict, or, for anything the
    engine did not classify, a transient failure named by its type."""
    from schemaop.engine.errors import EngineError

    if isinstance(exc, EngineError):
        return exc.summary().clipped(1000)
    return RunError(
        f"{type(exc).__name__}: {redaction.scrub(str(exc))}",
        reason=cond.Reason.DATABASE_UNREACHABLE,
        retryable=True,
        kind=type(exc).__name__,
    )


def _policy_hook() -> Any:
    """The lint gate and destructive-change policy applied to a plan."""
    from schemaop.operator.lintgate import plan_hook

    return plan_hook
