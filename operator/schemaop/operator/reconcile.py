"""One reconciliation of a SchemaVersion: gather facts, decide, act, write status.

The I/O sits here and only here in the operator: the Kubernetes API through
:class:`schemaop.kube.api.KubeApi`, the database through :mod:`schemaop.engine`
(a read-only connection, kept per database in :class:`~schemaop.engine.readpool.ReadPool`,
in a worker thread: the operator only ever reads history and the schema
fingerprint; Jobs do the writing). Decisions are
made by the pure :func:`schemaop.decide.decide`.

The Secret values read here are handed to the scrubber (:mod:`schemaop.redaction`)
the moment they are read; a connection error names the Secret and the kind of
problem, never the Secret's content (:func:`schemaop.engine.connect.connect`).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import functools
import logging
import time
from collections.abc import Iterable, Mapping
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
from schemaop.decide.gates import ended_batched_jobs, wants_progress_baseline
from schemaop.decide.secrethosts import host_problem
from schemaop.engine.observe import read_database, read_progress
from schemaop.engine.readpool import ReadPool
from schemaop.kube.api import KubeApi, KubeError, SecretNotFound, SecretNotLabelled, secret_key
from schemaop.kube.builders import (
    LABEL_SCHEMAVERSION,
    build_job,
    build_plan_configmaps,
    controlled_by,
)
from schemaop.model import conditions as cond
from schemaop.model import status as st
from schemaop.model.batchprogress import BatchProgress
from schemaop.model.history import DatabaseState
from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.names import REQUIRE_AUTH_SCRAM
from schemaop.model.plan import Plan, recorded_down_note
from schemaop.model.run import RunError
from schemaop.model.status import MigrationLint, SchemaMigrationStatus, SchemaVersionStatus
from schemaop.operator.lintgate import LintCache
from schemaop.operator.report import StatusReport
from schemaop.operator.runs import DEFAULT_RUN_HISTORY_LIMIT, RunRecorder

log = logging.getLogger(__name__)

SV_PLURAL = "schemaversions"
SM_PLURAL = "schemamigrations"
# A batched step's progress is read at most this often per SchemaVersion.
PROGRESS_READ_INTERVAL = 5.0


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
    # A passwordFrom Secret must name the hosts its password may go to
    # (annotation schemaop.io/allowed-hosts; --require-allowed-hosts).
    require_allowed_hosts: bool = False
    # Run records (SchemaMigrationRun) kept per SchemaVersion (--run-history-limit).
    run_history_limit: int = DEFAULT_RUN_HISTORY_LIMIT


@dataclasses.dataclass(frozen=True)
class Cached:
    """A SchemaVersion and its Jobs as the operator's watches hold them (kopf's
    daemon body and :func:`schemaop.operator.handlers.jobs_by_schemaversion`), to
    reconcile without reading them from the API.

    Used when the SchemaVersion is the version this reconciler last read or wrote
    (same resourceVersion): then neither is known to be stale. Otherwise (its own
    status write not seen by the watch yet, a change seen but not read) both are
    read from the API. A decision to create or delete a Job made on cached objects
    is made again on objects read from the API before it is carried out: the
    watch may lag, and a Job runs on what the API says.
    """

    sv: Mapping[str, Any]
    jobs: list[dict[str, Any]]


class HostNotAllowed(Exception):
    """The password Secret does not allow its password to go to spec.connection's host."""


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


# kubectl's copy of a whole object in an annotation (``kubectl apply`` without
# ``--server-side``): never read by the operator, not kept from a watch (of a
# Secret, its data again).
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def kept_secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps of a connection Secret from its watch: its data and
    the metadata :func:`schemaop.kube.api.secret_key` reads (labels, annotations)."""
    meta = secret.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    return {
        "metadata": {
            "labels": dict(meta.get("labels") or {}),
            "annotations": annotations,
            "resourceVersion": meta.get("resourceVersion"),
        },
        "data": dict(secret.get("data") or {}),
    }


# A connection Secret the watch saw deleted (see Reconciler.secret_seen).
_GONE: dict[str, Any] = {}


@dataclasses.dataclass(frozen=True)
class _Checked:
    """What a reconciliation decided on (without the time) and what it decided, to
    skip the decision when a drift check finds the same (see :meth:`Reconciler._unchanged`)."""

    inputs: tuple[Any, ...]
    requeue_after: float
    shows_progress: bool = False  # Decision.shows_progress


class Reconciler:
    def __init__(
        self,
        kube: KubeApi,
        config: OperatorConfig,
        read_pool: ReadPool | None = None,
        secrets_watched: bool = False,
    ) -> None:
        self.kube = kube
        self.config = config
        # The kept read-only connections, per database (None: one connection per read).
        self.read_pool = read_pool
        # (namespace, secret name) -> SchemaVersion names that read it.
        self.secret_index: dict[tuple[str, str], set[str]] = {}
        # The connection Secrets as the operator's Secret watch last saw them (only
        # those a SchemaVersion names: :meth:`secret_seen`), kept_secret's part of
        # each; None without the watch (--secret-selector): read at each reconciliation.
        self.secrets: dict[tuple[str, str], dict[str, Any]] | None = {} if secrets_watched else None
        # (namespace, name) -> the inputs and outcome of its last decision, when it
        # was one a drift check may skip.
        self._checked: dict[tuple[str, str], _Checked] = {}
        self._lint_cache = LintCache()
        self.report = StatusReport(kube)
        # (namespace, SchemaVersion) -> its last progress read.
        self._progress: dict[tuple[str, str], _ProgressRead] = {}
        # (namespace, SchemaVersion) -> the ended Jobs of a plan with a batched step
        # (gates.ended_batched_jobs) whose final read a written decision shows.
        self._final_shown: dict[tuple[str, str], frozenset[str]] = {}
        # (namespace, SchemaVersion) -> {Job UID: termination message} of its finished Jobs.
        self._termination_messages: dict[tuple[str, str], dict[str, str]] = {}
        # (namespace, name) -> resourceVersion of the SchemaVersion as last read or written.
        self._known_version: dict[tuple[str, str], str] = {}
        # (namespace, SchemaVersion) -> {SchemaMigration: (resourceVersion, status)} of
        # this operator's status writes the index has not brought back yet.
        self._written_migrations: dict[tuple[str, str], dict[str, tuple[str, Any]]] = {}
        self.runs = RunRecorder(kube, config.run_history_limit)

    def forget(self, namespace: str, name: str) -> None:
        """Drop every metric series of a SchemaVersion this operator no longer runs, and
        the connections to its database that no other SchemaVersion uses."""
        self.report.forget(namespace, name)
        self._progress.pop((namespace, name), None)
        self._final_shown.pop((namespace, name), None)
        self._termination_messages.pop((namespace, name), None)
        self._known_version.pop((namespace, name), None)
        self._written_migrations.pop((namespace, name), None)
        self._checked.pop((namespace, name), None)
        self.runs.forget(namespace, name)
        if self.read_pool is not None:
            self.read_pool.release((namespace, name))

    def secret_seen(self, namespace: str, name: str, secret: Mapping[str, Any] | None) -> None:
        """The Secret watch saw ``secret`` (None: deleted). Kept only if a SchemaVersion
        names it (or it is kept already): the operator holds no other Secret."""
        if self.secrets is None:
            return
        key = (namespace, name)
        if key not in self.secrets and not self.secret_index.get(key):
            return
        # Deleted: kept as gone (not forgotten), so that a read answered before the
        # deletion and arriving after it cannot bring the Secret back.
        self.secrets[key] = kept_secret(secret) if secret is not None else _GONE

    async def _secret_key(
        self, namespace: str, ref: Mapping[str, Any], from_watch: bool
    ) -> tuple[str, dict[str, str]]:
        """One key of a connection Secret, and its annotations: as the Secret watch
        holds it when ``from_watch`` and it does; otherwise read (``get``), and kept
        for the next time if the watch has not brought it yet (a watch event, newer
        or as new, replaces it; a read never replaces what the watch brought)."""
        key = (namespace, str(ref["name"]))
        secret = self.secrets.get(key) if from_watch and self.secrets is not None else None
        if secret is None or secret is _GONE:
            secret = await self.kube.read_secret(namespace, key[1])
            if secret is not None and self.secrets is not None:
                # Never over what the watch brought, a deletion included (this read
                # may have been answered before it).
                self.secrets.setdefault(key, kept_secret(secret))
        return secret_key(secret, namespace, key[1], str(ref["key"]), self.config.secret_selector)

    async def _conninfo(
        self, namespace: str, spec: Mapping[str, Any], from_watch: bool = False
    ) -> tuple[str, str]:
        """The connection string, and where it came from (for messages; never its text).
        ``from_watch``: the Secret as the Secret watch holds it, if it does."""
        from schemaop.engine.connect import make_conninfo

        conn = spec.get("connection") or {}
        if "urlFrom" in conn:
            ref = conn["urlFrom"]["secretKeyRef"]
            url, _ = await self._secret_key(namespace, ref, from_watch)
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
            params["password"], annotations = await self._secret_key(namespace, ref, from_watch)
            redaction.remember(params["password"])
            # Before any connection: may this password go to the spec's host at all?
            problem = host_problem(
                conn,
                annotations,
                secret=f"{namespace}/{ref['name']}",
                required=self.config.require_allowed_hosts,
            )
            if problem is not None:
                raise HostNotAllowed(problem)
            # The host is the spec's: the password goes only into a SCRAM exchange.
            params["require_auth"] = REQUIRE_AUTH_SCRAM
            source = f"spec.connection, password from Secret {namespace}/{ref['name']}"
        return make_conninfo(params), source

    async def _check_new_connection(self, conninfo: str, source: str) -> RunError | None:
        """Why a new connection fails (as a read's error), or None; see ReadPool.check_new."""
        if self.read_pool is None:
            return None  # the read connected anew already
        try:
            await asyncio.to_thread(
                functools.partial(
                    self.read_pool.check_new,
                    conninfo,
                    timeout=self.config.db_connect_timeout,
                    source=source,
                )
            )
        except Exception as exc:
            return _engine_error(exc)
        return None

    async def _jobs(
        self, namespace: str, name: str, uid: str, listed: list[dict[str, Any]] | None = None
    ) -> list[JobFacts]:
        """The migration Jobs of this SchemaVersion: labelled for it AND controlled by
        it (a label anyone in the namespace can copy; the controller reference to
        this object's UID only the operator sets), so a look-alike Job cannot stall
        it or feed it a forged summary."""
        jobs = (
            listed
            if listed is not None
            else await self.kube.list_jobs(namespace, f"{LABEL_SCHEMAVERSION}={name}")
        )
        out = []
        # A finished Job's termination message does not change: read once, kept while
        # the Job is listed (not a list of its pods at every reconciliation).
        known = self._termination_messages.get((namespace, name), {})
        kept: dict[str, str] = {}
        for job in jobs:
            if not controlled_by(job, uid):
                continue
            finished = job_finished(job.get("status") or {}) is not None
            job_uid = str(job["metadata"].get("uid", ""))
            message = None
            if finished:
                message = known.get(job_uid)
                if message is None:
                    message = await self.kube.job_termination_message(namespace, job["metadata"])
                if message is not None and job_uid:
                    kept[job_uid] = message
            out.append(JobFacts.from_job(job, message))
        if kept:
            self._termination_messages[(namespace, name)] = kept
        else:
            self._termination_messages.pop((namespace, name), None)
        return out

    def _current(self, namespace: str, name: str, cached: Cached | None) -> Cached | None:
        """``cached`` if its SchemaVersion is the version last read or written here."""
        if cached is None:
            return None
        version = (cached.sv.get("metadata") or {}).get("resourceVersion")
        known = self._known_version.get((namespace, name))
        return cached if version and version == known else None

    async def reconcile(
        self,
        namespace: str,
        name: str,
        migrations_in: Iterable[Mapping[str, Any]] | None = None,
        cached: Cached | None = None,
    ) -> float:
        """Reconcile one SchemaVersion; returns seconds until it should be looked at again.

        ``migrations_in``: its SchemaMigrations as the operator's watch-fed index
        holds them (:mod:`schemaop.operator.handlers`); None: list them from the API
        (every SchemaMigration of the namespace: O(all) per reconciliation, so the
        operator never does this). ``cached``: the SchemaVersion and its Jobs as the
        watches hold them (used when current, see :class:`Cached`); None: read both.
        """
        started = time.monotonic()
        from_index = migrations_in is not None
        current = self._current(namespace, name, cached)
        if current is not None:
            sv: dict[str, Any] | None = dict(current.sv)
            listed_jobs = current.jobs
        else:
            sv = await self.kube.get_custom(SV_PLURAL, namespace, name)
        if sv is None or sv["metadata"].get("deletionTimestamp"):
            return 3600.0
        if current is None:
            self._known_version[(namespace, name)] = str(sv["metadata"].get("resourceVersion"))
            # The Jobs, listed once for the run records and the decision, and before
            # the database is read (see below).
            listed_jobs = await self.kube.list_jobs(
                namespace, f"{LABEL_SCHEMAVERSION}={sv['metadata']['name']}"
            )
        # First, before anything can fail: the Jobs' run records (operator/runs.py).
        await self.runs.record_finished_jobs(sv, listed_jobs)
        spec = sv.get("spec") or {}
        meta = sv["metadata"]
        for secret in connection_secrets(spec):
            self.secret_index.setdefault((namespace, secret), set()).add(name)
        if migrations_in is None:
            migrations_in = await self.kube.list_custom(SM_PLURAL, namespace)
        migrations = [
            dict(m)
            for m in migrations_in
            if ((m.get("spec") or {}).get("schemaVersionRef") or {}).get("name") == name
            and not m["metadata"].get("deletionTimestamp")
        ]
        secret_error: str | None = None
        secret_unlabelled = False
        host_not_allowed: str | None = None
        db_error: RunError | None = None
        state: DatabaseState | None = None
        fingerprint: str | None = None
        snapshots: list[dict[str, Any]] = []
        read_from: tuple[str, str] | None = None  # (conninfo, source) of a good read
        # The Jobs before the database: a Job is Complete only after its process
        # exited, so after its commit; read in this order, a Job listed Complete is
        # seen applied. The other order takes a Job that finished between the two
        # reads for one that succeeded short of its target, and retries its plan.
        # (Listed when paused too: a Job running a batched step is stopped then.)
        paused = bool(spec.get("paused"))
        jobs = await self._jobs(namespace, name, meta.get("uid", ""), listed_jobs)
        if not paused:
            try:
                # From the Secret watch when the rest is from the watches too: a
                # decision to create a Job is made again on what the API says.
                conninfo, source = await self._conninfo(namespace, spec, current is not None)
            except SecretNotFound as exc:
                secret_error = str(exc)
                secret_unlabelled = isinstance(exc, SecretNotLabelled)
            except HostNotAllowed as exc:
                host_not_allowed = str(exc)
            else:
                try:
                    state, fingerprint, snapshots = await asyncio.to_thread(
                        functools.partial(
                            read_database,
                            conninfo,
                            str(spec.get("historySchema", "schemaop")),
                            list(spec.get("schemas") or ["public"]),
                            self.config.db_connect_timeout,
                            source,
                            pool=self.read_pool,
                            owner=(namespace, name),
                        )
                    )
                except Exception as exc:
                    db_error = _engine_error(exc)
                else:
                    read_from = (conninfo, source)
        if state is None and not paused:
            jobs = []
        shown = (sv.get("status") or {}).get("dataMigration") or {}
        running = any(j.active for j in jobs)
        ended = ended_batched_jobs(jobs, sv.get("status") or {})
        progress: BatchProgress | None = None
        progress_read = False
        if (state is not None or paused) and self._progress_due(
            (namespace, name), running, shown, ended
        ):
            progress_read, progress = await self._read_progress(
                namespace, name, spec, read_from, running=running, ended=ended
            )
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
            host_not_allowed=host_not_allowed,
            db_error=db_error,
            db_state=state,
            live_fingerprint=fingerprint,
            jobs=jobs,
            rollback_points=snapshots,
            batch_progress=progress,
            batch_progress_read=progress_read,
            apply_policy=_policy_hook(),
            job_policy=self.config.job_policy,
        )
        if current is not None and _started_job_not_listed(facts):
            # status.retry names a Job created that the Job watch has not brought yet:
            # decided on the watch it would count as vanished; the API has it.
            return await self.reconcile(namespace, name, migrations_in, None)
        inputs = _inputs(sv, migrations, listed_jobs, facts)
        if current is not None and self._unchanged(namespace, name, inputs):
            # A drift check that found what the last one found: same decision.
            if progress_read and self._checked[(namespace, name)].shows_progress:
                # That decision, on this same read, is what status shows.
                self._final_shown[(namespace, name)] = ended
            metrics.OPERATOR_RECONCILE_DURATION.observe(time.monotonic() - started)
            return self._checked[(namespace, name)].requeue_after
        self._checked.pop((namespace, name), None)
        decision = decide(facts)
        if decision.create_job_for is not None and read_from is not None:
            # The read may have used a kept connection, logged in before a password
            # change: connect anew before a Job is created (engine/readpool.py).
            db_error = await self._check_new_connection(*read_from)
            if db_error is not None:
                decision = decide(
                    dataclasses.replace(
                        facts,
                        db_error=db_error,
                        db_state=None,
                        live_fingerprint=None,
                        jobs=[],
                        rollback_points=[],
                    )
                )
        if current is not None and (
            decision.create_job_for is not None or decision.delete_job is not None
        ):
            # Decided on the watches' copies: the API has the last word before a Job
            # is created or deleted (see Cached).
            return await self.reconcile(namespace, name, migrations_in, None)
        if (
            decision.create_job_for is not None
            and from_index
            and not await self._still_there(namespace, decision.create_job_for[0], migrations)
        ):
            # kopf's index keeps an object deleted while its watch was re-listing
            # (after "410 Gone"): before a Job runs a step, the API has the last word.
            log.warning(
                "a SchemaMigration of %s/%s in the watch cache is gone; reading them all anew",
                namespace,
                name,
            )
            return await self.reconcile(namespace, name, None)
        if read_from is not None and wants_progress_baseline(decision, progress_read):
            # The first attempt of a plan with a batched step: where that step stands
            # as it starts goes into status.retry.progress, so that an attempt stopped
            # by its deadline after committing batches counts as progressing.
            progress_read, progress = await self._read_progress(
                namespace, name, spec, read_from, running=False, ended=ended
            )
            if progress_read:
                with_read = dataclasses.replace(
                    facts, batch_progress=progress, batch_progress_read=True
                )
                again = decide(with_read)
                # The checks above were made for this Job: keep the new decision only
                # if it creates the same one (progress does not choose the plan).
                if again.create_job_for == decision.create_job_for:
                    facts, decision = with_read, again
        decision = with_migration_lint(decision, self._lint_status(migrations))
        if decision.delete_job is not None:
            await self._stop_job(sv, decision.delete_job, jobs)
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
        await self._write_migration_status(namespace, name, migrations, decision)
        written = await self._write_status(sv, decision)
        if progress_read and decision.shows_progress:
            # Only now is the final read shown: a decision on it that started over from
            # the API, failed to be written, or returned before it (a new connection
            # refused, the set invalid) leaves it due for the next look.
            self._final_shown[(namespace, name)] = ended
        pending = self._written_migrations.get((namespace, name))
        if _settled(decision) and not written and not pending:
            self._checked[(namespace, name)] = _Checked(
                inputs, decision.requeue_after, decision.shows_progress
            )
        metrics.OPERATOR_RECONCILE_DURATION.observe(time.monotonic() - started)
        return decision.requeue_after

    def _unchanged(self, namespace: str, name: str, inputs: tuple[Any, ...]) -> bool:
        """Whether the last decision was settled (see :func:`_settled`), wrote
        nothing, and was made on these same inputs: then deciding again gives the
        same decision and writes nothing again."""
        checked = self._checked.get((namespace, name))
        return checked is not None and checked.inputs == inputs

    def _progress_due(
        self,
        key: tuple[str, str],
        running: bool,
        shown: Mapping[str, Any],
        ended: frozenset[str],
    ) -> bool:
        """Whether to look at the batched step's progress: while a Job runs, while the
        row status.dataMigration shows is unfinished, and once after each Job of a plan
        with a batched step ended (``ended``, gates.ended_batched_jobs) until a written
        decision shows a read made after it ended: the final read, which shows the row
        of the last batched step it ran even when that step began and completed between
        two looks (a decision that started over from the API, whose write failed, or
        that returned before showing it, Decision.shows_progress, leaves it due; the
        read is then reused from the cache, or made again if it failed). Not otherwise:
        an idle SchemaVersion reads nothing once its final read is shown."""
        return (
            running
            or bool(shown and not shown.get("completedAt"))
            or not ended <= self._final_shown.get(key, frozenset())
        )

    async def _read_progress(
        self,
        namespace: str,
        name: str,
        spec: Mapping[str, Any],
        read_from: tuple[str, str] | None,
        *,
        running: bool = True,
        ended: frozenset[str] = frozenset(),
    ) -> tuple[bool, BatchProgress | None]:
        """Whether the batched step's progress was read, and what: at most every
        PROGRESS_READ_INTERVAL seconds (the last read is reused in between, unless it
        was made while a Job ran and none runs now, or before a Job of ``ended`` had
        ended: where a Job stopped decides whether it advanced its step,
        gates._progress_at_end, and its final row is what status shows); (False, None)
        when it cannot be read (the database's own read reports why)."""
        key = (namespace, name)
        cached = self._progress.get(key)
        if (
            cached is not None
            and time.monotonic() - cached.when < PROGRESS_READ_INTERVAL
            and (running or not cached.running)
            and ended <= cached.ended
        ):
            return True, cached.progress
        try:
            conninfo, source = read_from or await self._conninfo(namespace, spec)
            progress = await asyncio.to_thread(
                functools.partial(
                    read_progress,
                    conninfo,
                    str(spec.get("historySchema", "schemaop")),
                    self.config.db_connect_timeout,
                    source,
                    pool=self.read_pool,
                    owner=key,
                )
            )
        except Exception as exc:
            log.info("progress of %s/%s not read: %s", namespace, name, _engine_error(exc).message)
            return False, None
        self._progress[key] = _ProgressRead(time.monotonic(), progress, running, ended)
        return True, progress

    async def _stop_job(self, sv: Mapping[str, Any], job_name: str, jobs: list[JobFacts]) -> None:
        """Delete the Job of a paused batched step: its pod gets SIGTERM and the engine
        ends it after the current batch. The Job is gone, so it is no failed attempt."""
        meta = sv["metadata"]
        uid = next((j.uid for j in jobs if j.name == job_name), "")
        await self.runs.record_paused(sv, job_name, uid)  # it will never finish
        try:
            await self.kube.delete_job(meta["namespace"], job_name, uid)
        except KubeError as exc:
            if exc.status != 409:  # 409: the UID precondition (another Job of that name)
                raise
            return
        # The next read shows where it stopped; read it then, not from the cache.
        self._progress.pop((meta["namespace"], meta["name"]), None)
        await self.kube.post_event(
            sv,
            "Normal",
            "BackfillPaused",
            f"spec.paused: Job {job_name} stopped after its current batch; set spec.paused "
            "to false to continue from its position",
        )

    async def _still_there(
        self, namespace: str, plan: Plan, migrations: list[dict[str, Any]]
    ) -> bool:
        """Whether each SchemaMigration a plan's step comes from still exists (same UID)."""
        from schemaop.decide.spec import version_of

        versions = {step.version for step in plan.steps}
        for obj in migrations:
            if version_of(obj) not in versions:
                continue
            meta = obj["metadata"]
            live = await self.kube.get_custom(SM_PLURAL, namespace, meta["name"])
            if live is None or live["metadata"].get("uid") != meta.get("uid"):
                return False
        return True

    def _lint_status(self, migrations: list[dict[str, Any]]) -> dict[str, MigrationLint]:
        """Lint findings for each SchemaMigration's status, by object name (cached by
        the set's checksums); empty when the set is invalid."""
        from schemaop.decide import to_migrations
        from schemaop.model.migration import InvalidMigrationSet

        try:
            migration_set = to_migrations(migrations)
        except InvalidMigrationSet:
            return {}
        by_version = self._lint_cache.by_version(migration_set)
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
                f"{len(plan.steps)} {plan.direction} step(s)"
                + (
                    "; " + recorded_down_note([s.version.text for s in plan.recorded_downs])
                    if plan.recorded_downs
                    else ""
                )
                + (f"; {decision.job_note}" if decision.job_note else ""),
            )
        return str(job["metadata"]["name"])

    async def _write_status(self, sv: Mapping[str, Any], decision: Decision) -> bool:
        """The one writer of a SchemaVersion's status: the decision's changes and
        conditions applied to the status as read (re-read on conflict, not written
        when nothing changed: :meth:`KubeApi.update_status`); whether it wrote (a
        no-op, or the object gone, is not a write)."""
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
            written = await self.kube.update_status(SV_PLURAL, namespace, name, mutate, current=sv)
        except KubeError as exc:
            log.warning("status of %s/%s not written: %s", namespace, name, exc)
            raise
        if written is None:
            return False
        version = str(written["metadata"].get("resourceVersion"))
        self._known_version[(namespace, name)] = version
        await self.report.status_written(written, before[0])
        return version != str(meta.get("resourceVersion"))

    async def _write_migration_status(
        self, namespace: str, sv: str, migrations: list[dict[str, Any]], decision: Decision
    ) -> None:
        """Each SchemaMigration's status as the decision says, written over the object
        as the index holds it, or, while the index has not seen this operator's last
        write of it yet, over that write (so the write is not sent again, nor sent
        stale for a 409 and a read)."""
        written = self._written_migrations.setdefault((namespace, sv), {})
        for obj in migrations:
            sm = obj["metadata"]["name"]
            fields = decision.migration_status.get(sm)
            if fields is None:
                continue
            current = obj
            mine = written.get(sm)
            if mine is not None and mine[0] != obj["metadata"].get("resourceVersion"):
                current = {
                    **obj,
                    "metadata": {**obj["metadata"], "resourceVersion": mine[0]},
                    "status": mine[1],
                }

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
                result = await self.kube.update_status(
                    SM_PLURAL, namespace, sm, mutate, current=current
                )
            except KubeError as exc:
                log.warning("status of SchemaMigration %s not written: %s", sm, exc)
                continue
            version = (result or {}).get("metadata", {}).get("resourceVersion")
            if result is None or version == obj["metadata"].get("resourceVersion"):
                written.pop(sm, None)  # gone, or the index has it
            else:
                written[sm] = (str(version), copy.deepcopy(result.get("status") or {}))
        if not written:
            self._written_migrations.pop((namespace, sv), None)


@dataclasses.dataclass(frozen=True)
class _ProgressRead:
    """A SchemaVersion's last read of the progress table (Reconciler._read_progress)."""

    when: float  # time.monotonic()
    progress: BatchProgress | None
    running: bool  # made while a Job ran
    # The Jobs of a plan with a batched step that had ended before it (their UIDs).
    ended: frozenset[str]


def _identity(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    """An object's version: its name, UID and resourceVersion."""
    meta = obj.get("metadata") or {}
    return (meta.get("name"), meta.get("uid"), meta.get("resourceVersion"))


def _inputs(
    sv: Mapping[str, Any],
    migrations: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    facts: Facts,
) -> tuple[Any, ...]:
    """Everything :func:`decide` reads but the time, compactly: the objects by their
    resourceVersion (a change of spec, annotations or status changes it), what was
    read of the database as it is."""
    return (
        sv["metadata"].get("resourceVersion"),
        tuple(_identity(m) for m in migrations),
        facts.secret_error,
        facts.secret_unlabelled,
        facts.host_not_allowed,
        facts.db_error,
        facts.db_state,
        facts.live_fingerprint,
        tuple(_identity(j) for j in jobs),
        facts.rollback_points,
        facts.batch_progress,
        facts.batch_progress_read,
    )


def _started_job_not_listed(facts: Facts) -> bool:
    """Whether status.retry says the Job of an attempt was created (``started``) that
    no listed Job is and whose end is not recorded yet: the decision would count it
    as a Job deleted before its end was seen."""
    retry = facts.status.get("retry")
    if not isinstance(retry, Mapping):
        return False
    try:
        started = int(retry.get("started", 0) or 0)
        ended = int(retry.get("attempt", 0) or 0)
    except (TypeError, ValueError):
        return False
    plan = retry.get("planHash")
    seen = max((j.attempt for j in facts.jobs if j.plan_hash12 == plan), default=0)
    return started > max(ended, seen)


def _settled(decision: Decision) -> bool:
    """A decision that depends on nothing but its inputs (not on the time: the only
    gate that reads the time is a failed Job's retry backoff, never Ready) and does
    nothing: Ready, no Job to create or delete."""
    return (
        decision.create_job_for is None
        and decision.delete_job is None
        and any(c.type == cond.ConditionType.READY and c.status for c in decision.conditions)
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
