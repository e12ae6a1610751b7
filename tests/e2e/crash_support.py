"""Crash at any point (issue 15, part 3): the driver of the crash suite (no tests here).

A *trial* is one SchemaVersion on a fresh database with a plan of one of three
kinds (``tx``: one transactional step; ``multi``: three transactional steps;
``nontx``: a transactional step then a non-transactional one) and one fault:

- ``job``: ``kill -9`` of the migration Job's container process (the pod runner
  publishes its pid as the containerID ``local://PID``; the process leads its own
  process group, which is killed whole) at a random delay after it started;
- ``operator``: ``kill -9`` of the operator process at a random delay after the
  trial's objects were created, then a new operator is started.

Trials run in *waves* of a few SchemaVersions created at random offsets, so one
operator kill lands at a different point of each trial's life. In some waves the
API server (``Cluster.restart``) or PostgreSQL (``Postgres.restart``, immediate
stop: every session cut) is also restarted at a random point.

After its faults a trial must converge with no manual step, and then:

- every step applied exactly once: one ``applied`` up row per version in the
  history table, one row per version in the ledger table each step inserts into
  (a double apply shows as two), and each step's object present;
- no stale advisory lock (``pg_locks``, ten seconds after convergence);
- no duplicate Job: at most one Job per (plan, attempt), and no Job created for a
  plan after a Job of that plan succeeded;
- status matching the database: currentVersion, dirty and the history rows, and
  every SchemaMigration's ``applied``.

*Converged* means Ready at the target version for the current generation, no Job
still running. A non-transactional step killed mid-way leaves the database dirty
(``pending`` row) and the product promises a refusal, not a guess
(docs/engine.md, "Dirty databases and repair"): such a trial converges to
``Ready=False DatabaseDirty`` and is counted apart (``dirty``), checked for
exactly-once all the same.

The full suite is ``make crash-suite`` (bench/crash/run.py); tests/e2e/test_crash.py
runs a short version. Every trial is derived from the seed: a run prints it, and
``--seed`` runs the same trials again.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import random
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from kube_support import GROUP, VERSION, Operator, migration_body, ready_at, schemaversion_body
from kubernetes import client
from kubernetes.client.rest import ApiException

from devenv import cluster as devcluster
from devenv import pg as devpg

FAULTS = ("job", "operator")
PLANS = ("tx", "multi", "nontx")
RESTARTS = (None, "apiserver", "postgres")
# Seconds each step sleeps inside its transaction (or statement): the Job's life is
# long enough for a kill to land before, inside and after the steps.
STEP_SLEEP = 1.5
CONVERGE_TIMEOUT = 240.0
# A trial Stalled=True this long, no Job running, waits for a person: not converged.
STALL_GRACE = 30.0
LEDGER = "crash_ledger"
LABEL_SV = "schemaop.io/schemaversion"


@dataclasses.dataclass(frozen=True)
class Trial:
    index: int
    fault: str  # "job" | "operator"
    plan: str  # "tx" | "multi" | "nontx"
    offset: float  # seconds after the wave starts that its objects are created
    delay: float  # job: seconds after the container started; operator: unused

    @property
    def name(self) -> str:
        return f"crash-{self.index}"

    @property
    def versions(self) -> list[str]:
        return (
            ["1", "2", "3"] if self.plan == "multi" else ["1"] if self.plan == "tx" else ["1", "2"]
        )


@dataclasses.dataclass(frozen=True)
class Wave:
    fault: str
    trials: tuple[Trial, ...]
    kill_at: float  # operator faults: seconds after the wave starts
    restart: str | None  # None | "apiserver" | "postgres"
    restart_at: float  # seconds after the wave starts


@dataclasses.dataclass
class Outcome:
    trial: Trial
    wave_restart: str | None
    converged: bool = False
    dirty: bool = False
    seconds: float = 0.0  # from the trial's last fault to convergence
    kill_landed: bool = True  # job faults: the process was still running when killed
    jobs: int = 0
    violations: list[str] = dataclasses.field(default_factory=list)


def plan_waves(
    seed: int,
    per_fault: int,
    wave_size: int = 4,
    restart_share: float = 0.3,
    short: bool = False,
) -> list[Wave]:
    """The trials of a run, in waves, all derived from ``seed`` (``short``: one wave of
    each fault, with a restart each)."""
    rng = random.Random(seed)
    waves: list[Wave] = []
    index = 0
    for fault in FAULTS:
        left = per_fault
        while left > 0:
            size = min(wave_size, left)
            trials = []
            for _ in range(size):
                trials.append(
                    Trial(
                        index=index,
                        fault=fault,
                        plan=PLANS[index % len(PLANS)],
                        offset=round(rng.uniform(0.0, 6.0), 2),
                        delay=round(rng.uniform(0.0, 2.0 + STEP_SLEEP * 3), 2),
                    )
                )
                index += 1
            restart = rng.choice(RESTARTS[1:]) if rng.random() < restart_share else None
            waves.append(
                Wave(
                    fault=fault,
                    trials=tuple(trials),
                    kill_at=round(rng.uniform(1.0, 12.0), 2),
                    restart=restart,
                    restart_at=round(rng.uniform(1.0, 12.0), 2),
                )
            )
            left -= size
    if short:
        # Each restart once; the operator wave's API server restart lands while its
        # new operator starts (kopf looks up the resources it serves once, at start).
        waves = [
            dataclasses.replace(w, restart="postgres" if w.fault == "job" else "apiserver")
            for w in waves
        ]
        waves = [
            dataclasses.replace(w, restart_at=w.kill_at + 0.5) if w.fault == "operator" else w
            for w in waves
        ]
    return waves


def migrations(trial: Trial) -> list[dict[str, Any]]:
    """The trial's SchemaMigrations: each step sleeps, creates its object and inserts
    its version into the ledger (a double apply shows as two rows)."""
    name = trial.name
    out = []
    for v in trial.versions:
        insert = f"insert into {LEDGER} (version) values ('{v}')"
        if trial.plan == "nontx" and v == "2":
            up = (
                f"select pg_sleep({STEP_SLEEP});\n"
                "create index concurrently i2 on t1 (id);\n"
                f"{insert};"
            )
            body = migration_body(v, up, "drop index concurrently i2", db=name, transactional=False)
        else:
            up = f"select pg_sleep({STEP_SLEEP}); create table t{v} (id int); {insert};"
            body = migration_body(v, up, f"drop table t{v}", db=name)
        out.append(body)
    return out


class Suite:
    """Runs waves of trials against a running cluster, PostgreSQL and operator."""

    def __init__(
        self,
        cluster: devcluster.Cluster,
        postgres: devpg.Postgres,
        kube: Any,
        namespace: str,
        operator: Operator,
        log: Callable[[str], None] = print,
    ) -> None:
        self.cluster = cluster
        self.pg = postgres
        self.ns = namespace
        self.operator = operator
        self.log = log
        self.kube = kube
        self.custom = client.CustomObjectsApi(kube)
        self.core = client.CoreV1Api(kube)
        self.batch = client.BatchV1Api(kube)
        self.outcomes: list[Outcome] = []

    # -- set-up ----------------------------------------------------------------

    def _database(self, trial: Trial) -> str:
        dbname = f"crash_{os.getpid()}_{trial.index}"
        self.pg.psql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        dsn = self.pg.create_database(dbname)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                f"create table {LEDGER} (version text not null, at timestamptz default now())"
            )
        return dsn

    def _create(self, trial: Trial, dsn: str) -> None:
        secret = {
            "metadata": {"name": trial.name},
            "data": {"url": base64.b64encode(dsn.encode()).decode()},
        }
        _retry(lambda: self.core.create_namespaced_secret(self.ns, secret))
        for body in migrations(trial):
            _retry(
                lambda body=body: self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, self.ns, "schemamigrations", body
                )
            )
        sv = schemaversion_body(trial.name, secret=trial.name, lockTimeout="1s")
        _retry(
            lambda: self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.ns, "schemaversions", sv
            )
        )

    def _operator_alive(self, outcome: Outcome) -> None:
        """An operator that exited by itself is a violation (nothing restarts it here,
        a Deployment would); start a new one so the run goes on."""
        proc = self.operator.proc
        if proc is not None and proc.poll() is not None:
            tail = " | ".join(self.operator.log().splitlines()[-5:])
            outcome.violations.append(f"the operator exited by itself ({proc.returncode}): {tail}")
            self.operator.start()

    # -- faults ----------------------------------------------------------------

    def _job_pid(self, trial: Trial) -> int | None:
        """The pid of a running migration container of the trial's Job, if any."""
        pods = self.core.list_namespaced_pod(self.ns, label_selector=f"{LABEL_SV}={trial.name}")
        for pod in pods.items:
            for status in (pod.status and pod.status.container_statuses) or []:
                cid = status.container_id or ""
                if status.state and status.state.running and cid.startswith("local://"):
                    return int(cid.removeprefix("local://"))
        return None

    def _kill_job(self, trial: Trial, outcome: Outcome) -> float:
        """Wait for the trial's Job container, kill -9 it after the trial's delay;
        returns when it was killed (monotonic)."""
        deadline = time.monotonic() + 120
        pid = None
        while pid is None and time.monotonic() < deadline:
            self._operator_alive(outcome)
            with contextlib.suppress(Exception):
                pid = self._job_pid(trial)
            if pid is None:
                time.sleep(0.1)
        if pid is None:
            outcome.violations.append("no Job container ran within 120 s of the trial's start")
            outcome.kill_landed = False
            return time.monotonic()
        time.sleep(trial.delay)
        outcome.kill_landed = _kill_group(pid, b"schemaop")
        return time.monotonic()

    def _restart(self, what: str) -> None:
        self.log(f"  restart {what}")
        if what == "apiserver":
            self.cluster.restart("kube-apiserver", down=1.0)
        else:
            self.pg.restart(down=1.0)

    # -- one wave --------------------------------------------------------------

    def run_wave(self, wave: Wave) -> list[Outcome]:
        outcomes = [Outcome(t, wave.restart) for t in wave.trials]
        dsns = {t.index: self._database(t) for t in wave.trials}
        last_fault: dict[int, float] = {}
        wave_fault = [0.0]
        t0 = time.monotonic()
        threads = []

        def one(trial: Trial, outcome: Outcome) -> None:
            time.sleep(max(0.0, t0 + trial.offset - time.monotonic()))
            try:
                self._create(trial, dsns[trial.index])
            except Exception as exc:
                outcome.violations.append(f"could not create the trial's objects: {exc}")
                return
            if trial.fault == "job":
                last_fault[trial.index] = self._kill_job(trial, outcome)

        for trial, outcome in zip(wave.trials, outcomes, strict=True):
            thread = threading.Thread(target=one, args=(trial, outcome), daemon=True)
            thread.start()
            threads.append(thread)
        events: list[tuple[float, str]] = []
        if wave.fault == "operator":
            events.append((wave.kill_at, "operator"))
        if wave.restart:
            events.append((wave.restart_at, wave.restart))
        for at, what in sorted(events):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            if what == "operator":
                # A new operator starts at once (as a Deployment's next pod would): a
                # restart that follows soon lands while it starts.
                self.log("  kill -9 operator")
                self.operator.kill()
                self.operator.start()
            else:
                self._restart(what)
            wave_fault[0] = time.monotonic()
        for thread in threads:
            thread.join()

        def settle(trial: Trial, outcome: Outcome) -> None:
            since = max(last_fault.get(trial.index, 0.0), wave_fault[0], t0 + trial.offset)
            self._converge(trial, outcome, since)
            if outcome.converged:
                try:
                    self._check(trial, outcome, dsns[trial.index])
                except Exception as exc:
                    outcome.violations.append(f"could not check: {type(exc).__name__}: {exc}")

        threads = [
            threading.Thread(target=settle, args=(t, o), daemon=True)
            for t, o in zip(wave.trials, outcomes, strict=True)
            if not o.violations
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for trial, outcome in zip(wave.trials, outcomes, strict=True):
            self._clean(trial, dsns[trial.index], outcome)
        self.outcomes += outcomes
        return outcomes

    def _converge(self, trial: Trial, outcome: Outcome, since: float) -> None:
        target = trial.versions[-1]
        deadline = since + CONVERGE_TIMEOUT
        sv: dict[str, Any] = {}
        stalled_since = 0.0
        while time.monotonic() < deadline:
            self._operator_alive(outcome)
            try:
                sv = self._sv(trial)
                running = [j for j in self._jobs(trial) if not _job_finished(j)]
            except Exception:
                time.sleep(0.5)
                continue
            conds = {c["type"]: c for c in (sv.get("status") or {}).get("conditions") or []}
            ready = conds.get("Ready") or {}
            fresh = (sv.get("status") or {}).get("observedGeneration") == sv["metadata"][
                "generation"
            ]
            if not running and ready_at(sv, target):
                outcome.converged = True
            elif (
                not running
                and fresh
                and trial.plan == "nontx"
                and ready.get("reason") == "DatabaseDirty"
            ):
                outcome.converged = outcome.dirty = True
            if outcome.converged:
                outcome.seconds = max(0.0, time.monotonic() - since)
                return
            stalled = conds.get("Stalled") or {}
            if not running and fresh and stalled.get("status") == "True":
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > STALL_GRACE:
                    break  # stalled for good: it waits for a person
            else:
                stalled_since = 0.0
            time.sleep(0.25)
        conditions = [
            (c.get("type"), c.get("status"), c.get("reason"), (c.get("message") or "")[:200])
            for c in (sv.get("status") or {}).get("conditions") or []
        ]
        outcome.violations.append(
            f"did not converge (stalled {STALL_GRACE:.0f} s, or {CONVERGE_TIMEOUT:.0f} s"
            f" passed): conditions {conditions}"
        )

    # -- the checks --------------------------------------------------------------

    def _check(self, trial: Trial, outcome: Outcome, dsn: str) -> None:
        v = outcome.violations
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "select version, direction, status, statements_done from schemaop.schema_history"
                " order by id"
            ).fetchall()
            ledger = Counter(r[0] for r in conn.execute(f"select version from {LEDGER}"))
            tables = {
                r[0]
                for r in conn.execute(
                    "select tablename from pg_tables where schemaname = 'public'"
                ).fetchall()
            }
            index = conn.execute(
                "select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid"
                " where c.relname = 'i2'"
            ).fetchone()
        applied = Counter(r[0] for r in rows if r[1] == "up" and r[2] == "applied")
        pending = [r[0] for r in rows if r[2] == "pending"]
        for version in trial.versions:
            if applied[version] > 1 or ledger[version] > 1:
                v.append(
                    f"version {version} applied more than once: {applied[version]} history rows,"
                    f" {ledger[version]} ledger rows"
                )
            if applied[version] == 1 and ledger[version] != 1:
                v.append(f"version {version} recorded applied but its ledger has {ledger[version]}")
            if not outcome.dirty and applied[version] != 1:
                v.append(f"version {version} not applied at convergence")
            if applied[version] == 1:
                if trial.plan == "nontx" and version == "2":
                    if index is None or not index[0]:
                        v.append("version 2 recorded applied but index i2 is missing or invalid")
                elif f"t{version}" not in tables:
                    v.append(f"version {version} recorded applied but table t{version} is missing")
            if ledger[version] == 1 and applied[version] == 0 and version not in pending:
                v.append(f"version {version} ran (ledger) but is neither applied nor pending")
        if outcome.dirty and not pending:
            v.append("status says DatabaseDirty but the history has no pending row")
        self._check_locks(dsn, v)
        self._check_jobs(trial, outcome)
        self._check_status(trial, rows, v)

    def _check_locks(self, dsn: str, v: list[str]) -> None:
        dbname = dsn.rsplit("/", 1)[1]
        query = (
            "select l.pid, a.application_name, a.state from pg_locks l"
            " join pg_database d on d.oid = l.database"
            " left join pg_stat_activity a on a.pid = l.pid"
            " where l.locktype = 'advisory' and d.datname = %s"
        )
        deadline = time.monotonic() + 10
        held: list[Any] = []
        while True:
            with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
                held = conn.execute(query, (dbname,)).fetchall()
            if not held or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if held:
            v.append(f"advisory lock still held 10 s after convergence: {held}")

    def _check_jobs(self, trial: Trial, outcome: Outcome) -> None:
        jobs = self._jobs(trial)
        outcome.jobs = len(jobs)
        keys = Counter(
            (
                j["metadata"]["labels"].get("schemaop.io/plan"),
                j["metadata"]["labels"].get("schemaop.io/attempt"),
            )
            for j in jobs
        )
        for key, count in keys.items():
            if count > 1:
                outcome.violations.append(f"{count} Jobs for plan {key[0]} attempt {key[1]}")
        by_plan: dict[str, list[dict[str, Any]]] = {}
        for job in jobs:
            by_plan.setdefault(job["metadata"]["labels"].get("schemaop.io/plan", ""), []).append(
                job
            )
        for plan, of_plan in by_plan.items():
            of_plan.sort(key=lambda j: j["metadata"]["creationTimestamp"])
            done = [j for j in of_plan if _job_finished(j) == "Complete"]
            if done:
                later = [
                    j["metadata"]["name"]
                    for j in of_plan
                    if j["metadata"]["creationTimestamp"]
                    > (done[0]["status"].get("completionTime") or "")
                ]
                if later:
                    outcome.violations.append(
                        f"Job(s) {later} created for plan {plan} after its Job "
                        f"{done[0]['metadata']['name']} succeeded: "
                        + ", ".join(f"{j['metadata']['name']}={_job_finished(j)}" for j in of_plan)
                    )

    def _check_status(self, trial: Trial, rows: list[Any], v: list[str]) -> None:
        sv = self._sv(trial)
        status = sv.get("status") or {}
        applied: dict[str, bool] = {}
        for version, direction, state, _done in rows:
            if state == "applied":
                applied[version] = direction == "up"
        current = max((int(x) for x, on in applied.items() if on), default=0)
        if status.get("currentVersion") != (str(current) if current else ""):
            v.append(f"status.currentVersion {status.get('currentVersion')!r}, database {current}")
        dirty = any(r[2] == "pending" for r in rows)
        if bool(status.get("dirty")) != dirty:
            v.append(f"status.dirty {status.get('dirty')}, database {dirty}")
        shown = [(h["version"], h["direction"], h["status"]) for h in status.get("history") or []]
        actual = [(r[0], r[1], r[2]) for r in reversed(rows)][: len(shown) or None]
        if shown != actual:
            v.append(f"status.history {shown} differs from the database's {actual}")
        items = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.ns, "schemamigrations"
        )["items"]
        for item in items:
            if item["spec"]["schemaVersionRef"]["name"] != trial.name:
                continue
            version = item["spec"]["version"]
            said = (item.get("status") or {}).get("applied")
            really = applied.get(version, False)
            if bool(said) != really:
                v.append(f"SchemaMigration {version} status.applied={said}, database {really}")

    # -- reading and cleaning ------------------------------------------------------

    def _sv(self, trial: Trial) -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.ns, "schemaversions", trial.name
            )
        )

    def _jobs(self, trial: Trial) -> list[dict[str, Any]]:
        items = self.batch.list_namespaced_job(
            self.ns, label_selector=f"{LABEL_SV}={trial.name}"
        ).items
        return [self.kube.sanitize_for_serialization(j) for j in items]

    def _clean(self, trial: Trial, dsn: str, outcome: Outcome) -> None:
        """Delete the trial's objects (while the operator runs: its finalizer) and database."""
        with contextlib.suppress(ApiException):
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.ns, "schemaversions", trial.name
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self._sv(trial)
            except ApiException as exc:
                if exc.status == 404:
                    break
            time.sleep(0.3)
        else:
            outcome.violations.append("SchemaVersion not deleted within 60 s")
        for body in migrations(trial):
            with contextlib.suppress(ApiException):
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, self.ns, "schemamigrations", body["metadata"]["name"]
                )
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_secret(trial.name, self.ns)
        with contextlib.suppress(ApiException):
            self.batch.delete_collection_namespaced_job(
                self.ns, label_selector=f"{LABEL_SV}={trial.name}", propagation_policy="Background"
            )
        dbname = dsn.rsplit("/", 1)[1]
        with contextlib.suppress(Exception):
            self.pg.psql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# -- the report ------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(outcomes: list[Outcome], seed: int) -> str:
    lines = [f"crash suite, seed {seed}: {len(outcomes)} trials"]
    for fault in FAULTS:
        of = [o for o in outcomes if o.trial.fault == fault]
        if not of:
            continue
        secs = [o.seconds for o in of if o.converged]
        plans = ", ".join(f"{k} {n}" for k, n in sorted(Counter(o.trial.plan for o in of).items()))
        restarts = ", ".join(
            f"{k} {n}" for k, n in sorted(Counter(o.wave_restart or "none" for o in of).items())
        )
        jobs = max((o.jobs for o in of), default=0)
        lines.append(
            f"  {fault} kills: {len(of)} trials ({plans}; restarts {restarts}),"
            f" converged {len(secs)}, of which dirty {sum(o.dirty for o in of)},"
            f" kill missed (process already gone) {sum(not o.kill_landed for o in of)};"
            f" convergence p50 {percentile(secs, 50):.1f} s, p95 {percentile(secs, 95):.1f} s,"
            f" max {max(secs, default=0.0):.1f} s; Jobs per trial max {jobs}"
        )
    bad = [o for o in outcomes if o.violations]
    lines.append(f"  violations: {sum(len(o.violations) for o in bad)} in {len(bad)} trials")
    for o in bad:
        t = o.trial
        for text in o.violations:
            lines.append(
                f"    seed {seed} trial {t.index} ({t.fault} kill, {t.plan}, delay {t.delay} s,"
                f" restart {o.wave_restart}): {text}"
            )
    return "\n".join(lines)


def run(suite: Suite, waves: list[Wave]) -> Iterator[Outcome]:
    for i, wave in enumerate(waves):
        suite.log(
            f"wave {i + 1}/{len(waves)}: {wave.fault} kills, {len(wave.trials)} trials"
            f" ({', '.join(t.plan for t in wave.trials)}), restart {wave.restart}"
        )
        for outcome in suite.run_wave(wave):
            state = "dirty" if outcome.dirty else "ok" if outcome.converged else "NOT converged"
            suite.log(
                f"  trial {outcome.trial.index} {outcome.trial.plan}: {state} in"
                f" {outcome.seconds:.1f} s, {outcome.jobs} Job(s)"
                + "".join(f"\n    VIOLATION {x}" for x in outcome.violations)
            )
            yield outcome


# -- helpers -----------------------------------------------------------------------


def _kill_group(pid: int, needle: bytes) -> bool:
    """SIGKILL the process group ``pid`` leads if it still runs ``needle``; whether it did."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if needle not in cmdline:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def _job_finished(job: dict[str, Any]) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


def _retry(call: Callable[[], Any], timeout: float = 60.0) -> Any:
    """A create that rides out an API server restart (409: it got through before)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ApiException as exc:
            if exc.status == 409:
                return None
            if time.monotonic() > deadline or exc.status not in (0, 500, 503, 504):
                raise
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def summary_figures(outcomes: list[Outcome]) -> dict[str, Any]:
    secs = [o.seconds for o in outcomes if o.converged]
    return {
        "trials": len(outcomes),
        "p50": percentile(secs, 50),
        "p95": percentile(secs, 95),
        "max": max(secs, default=0.0),
        "mean": statistics.fmean(secs) if secs else 0.0,
        "violations": sum(len(o.violations) for o in outcomes),
    }
