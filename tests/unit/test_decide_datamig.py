"""A batched data migration as the operator shows and steers it (pure): the progress
row read into status.dataMigration, the ETA, pause and resume of a batched step."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from prometheus_client import REGISTRY

from schemaop.decide import Facts, JobFacts, decide
from schemaop.decide.gates import BATCHED_JOB_RESYNC, RUNNING_JOB_RESYNC, ended_batched_jobs
from schemaop.kube.api import KubeApi
from schemaop.model import status as st
from schemaop.model.batchprogress import BatchProgress, eta_text
from schemaop.model.conditions import ConditionType, Reason
from schemaop.model.history import DatabaseState
from schemaop.operator import reconcile
from schemaop.operator.report import _set_backfill_metrics

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
PLAN = "ab" * 32


def _progress(**kw: Any) -> BatchProgress:
    row: dict[str, Any] = {
        "version": "2",
        "direction": "up",
        "plan_hash": PLAN,
        "rows_done": 250_000,
        "batches_done": 50,
        "rows_total_estimate": 1_000_000,
        "batch_size": 5000,
        "rows_per_second": 10_000.0,
        "throttle_reason": None,
        "failed_attempts": 0,
        "last_error": None,
        "started_at": NOW - dt.timedelta(seconds=25),
        "updated_at": NOW - dt.timedelta(seconds=1),
        "completed_at": None,
    }
    row.update(kw)
    return BatchProgress.from_row(row)


def _job(active: bool = True, plan: str = PLAN[:12]) -> JobFacts:
    return JobFacts(
        name=f"db-{plan}-1",
        plan_hash12=plan,
        attempt=1,
        active=active,
        succeeded=not active,
        failed=False,
        started_at="2026-11-22T11:59:00Z",
        uid="uid-1",
    )


def _mig(version: str) -> dict[str, Any]:
    """Version 1 creates a table; version 2 is a batched backfill of it."""
    if version != "2":
        return {
            "metadata": {"name": f"m{version}", "generation": 1},
            "spec": {"version": version, "up": f"create table t{version} (id int)"},
        }
    return {
        "metadata": {"name": f"m{version}", "generation": 1},
        "spec": {
            "version": version,
            "up": "update t1 set id = id where id between :lo_id and :hi_id",
            "batched": {"table": "t1", "key": ["id"]},
        },
    }


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


def _ready(decision: Any) -> tuple[bool | None, Reason, str]:
    c = next(c for c in decision.conditions if c.type == ConditionType.READY)
    return c.status, c.reason, c.message


# -- the progress row -------------------------------------------------------------


def test_percent_and_eta_come_from_the_estimate_and_the_rate() -> None:
    p = _progress()
    assert p.percent == 25
    assert p.eta_seconds == pytest.approx(75.0)
    # The estimate is reltuples: rows done may pass it; a running step stays below 100.
    assert _progress(rows_done=1_200_000).percent == 99
    assert _progress(rows_done=1_200_000).eta_seconds == 0.0
    done = _progress(completed_at=NOW)
    assert done.percent == 100 and done.eta_seconds == 0.0
    unknown = _progress(rows_total_estimate=None, rows_per_second=None)
    assert unknown.percent is None and unknown.eta_seconds is None
    assert _progress(rows_per_second=0.0).eta_seconds is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (0, "0s"), (59.6, "1m"), (75, "1m15s"), (3600, "1h"), (3725, "1h2m5s")],
)
def test_eta_text_uses_the_duration_syntax(seconds: float | None, text: str) -> None:
    assert eta_text(seconds) == text


def test_a_row_belongs_to_the_job_of_its_plan() -> None:
    assert _progress().belongs_to(PLAN[:12])
    assert not _progress().belongs_to("0" * 12)
    assert not _progress().belongs_to("")
    # Written by `schemaop migrate --dir` (no plan hash): whichever run holds the lock.
    assert _progress(plan_hash=None).belongs_to("0" * 12)


def test_status_shows_progress_throttling_and_the_failed_batch() -> None:
    shown = st.data_migration_status(
        _progress(
            throttle_reason="lock wait",
            failed_attempts=2,
            last_error={
                "sqlstate": "55P03",
                "message": "canceling statement due to lock timeout",
                "statement": "UPDATE t SET x = 1 WHERE id BETWEEN $1 AND $2",
                "lo": {"id": 1001},
                "hi": {"id": 2000},
                "ignored": "x",
            },
        )
    )
    assert shown == {
        "version": "2",
        "direction": "up",
        "rowsDone": 250_000,
        "batchesDone": 50,
        "rowsTotalEstimate": 1_000_000,
        "percent": 25,
        "progress": "25%",
        "rowsPerSecond": 10_000.0,
        "eta": "1m15s",
        "batchSize": 5000,
        "throttleReason": "lock wait",
        "failedAttempts": 2,
        "lastError": {
            "sqlstate": "55P03",
            "message": "canceling statement due to lock timeout",
            "statement": "UPDATE t SET x = 1 WHERE id BETWEEN $1 AND $2",
            "lo": {"id": "1001"},
            "hi": {"id": "2000"},
        },
        "startedAt": "2026-11-22T11:59:35Z",
        "updatedAt": "2026-11-22T11:59:59Z",
    }
    done = st.data_migration_status(_progress(completed_at=NOW, throttle_reason="autovacuum"))
    assert done["percent"] == 100 and done["completedAt"] == "2026-11-22T12:00:00Z"
    assert "eta" not in done and "throttleReason" not in done
    assert st.data_migration_status(_progress(rows_total_estimate=None))["progress"] == (
        "250000 rows"
    )


# -- decide -------------------------------------------------------------------------


def test_a_read_that_finds_no_row_clears_the_progress_shown() -> None:
    before: st.SchemaVersionStatus = {"dataMigration": {"version": "2", "rowsDone": 1}}
    # Not read (the read failed, or nothing to read): what is shown stays.
    d = decide(_facts(status=before))
    assert "dataMigration" in st.apply({"dataMigration": {"version": "2"}}, d.changes)
    # Read, and no row (a rollback removed it): it goes, paused or not.
    for spec in ({"connection": {}}, {"connection": {}, "paused": True}):
        d = decide(_facts(spec=spec, status=before, batch_progress_read=True))
        assert "dataMigration" not in st.apply({"dataMigration": {"version": "2"}}, d.changes)


def test_the_plan_in_status_marks_a_batched_step() -> None:
    backfill = {
        "metadata": {"name": "m2", "generation": 1},
        "spec": {
            "version": "2",
            "up": "UPDATE t1 SET id = id WHERE id BETWEEN :lo_id AND :hi_id",
            "batched": {"table": "t1", "key": ["id"]},
        },
    }
    d = decide(_facts(migrations=[_mig("1"), backfill]))
    steps = d.status["plan"]["steps"]
    assert [s.get("batched", False) for s in steps] == [False, True]


def test_a_running_batched_step_shows_its_progress_and_is_looked_at_often() -> None:
    d = decide(_facts(jobs=[_job()], batch_progress=_progress()))
    assert d.create_job_for is None and d.delete_job is None
    assert d.status["dataMigration"]["rowsDone"] == 250_000
    assert d.requeue_after == BATCHED_JOB_RESYNC
    c = next(c for c in d.conditions if c.type == ConditionType.RECONCILING)
    assert "batched step 2 (up), 250000 rows in 50 batches" in c.message
    # A Job without a batched step in progress: the usual look.
    d = decide(_facts(jobs=[_job()]))
    assert d.requeue_after == RUNNING_JOB_RESYNC and "dataMigration" not in d.status


def test_a_job_whose_plan_has_a_batched_step_not_begun_is_looked_at_often() -> None:
    # The read at the Job's start finds no step in progress (the last one completed,
    # or none yet): its plan in status says a batched step comes, e.g. a recorded
    # batched down, so its progress shows within BATCHED_JOB_RESYNC once it starts.
    steps = [{"version": "2", "direction": "down", "source": "recorded", "batched": True}]
    status: dict[str, Any] = {"plan": {"hash": PLAN, "steps": steps}}
    for progress in (None, _progress(completed_at=NOW)):
        d = decide(_facts(jobs=[_job()], batch_progress=progress, status=status))
        assert d.requeue_after == BATCHED_JOB_RESYNC
    # The plan of another Job, or a plan without a batched step: the usual look.
    other = {"plan": {"hash": "cd" * 32, "steps": steps}}
    plain = {"plan": {"hash": PLAN, "steps": [{"version": "2", "direction": "down"}]}}
    for status in (other, plain):
        d = decide(_facts(jobs=[_job()], status=status))
        assert d.requeue_after == RUNNING_JOB_RESYNC


def test_pause_stops_the_job_of_a_batched_step_and_keeps_its_progress() -> None:
    spec = {"connection": {}, "paused": True}
    d = decide(_facts(spec=spec, jobs=[_job()], batch_progress=_progress()))
    assert d.delete_job == f"db-{PLAN[:12]}-1"
    assert d.create_job_for is None
    status, reason, message = _ready(d)
    assert (status, reason) == (False, Reason.PAUSED)
    assert "after its current batch" in message
    shown = d.status["dataMigration"]
    assert shown["paused"] is True and shown["rowsDone"] == 250_000
    # Once the Job is gone: paused, at its position, nothing deleted or created.
    d = decide(_facts(spec=spec, jobs=[], batch_progress=_progress()))
    assert d.delete_job is None and d.create_job_for is None
    assert "paused at 250000 rows" in _ready(d)[2]
    assert d.status["dataMigration"]["paused"] is True


def test_pause_lets_a_job_without_a_batched_step_finish() -> None:
    spec = {"connection": {}, "paused": True}
    # No batched step in progress (none read, or the last one completed).
    for progress in (None, _progress(completed_at=NOW)):
        d = decide(_facts(spec=spec, jobs=[_job()], batch_progress=progress))
        assert d.delete_job is None
        assert d.requeue_after == BATCHED_JOB_RESYNC  # in case it reaches a batched step
    # A row in progress is the running Job's, whatever plan hash it names (one run at
    # a time holds the lock; SIGTERM lets any step finish first).
    d = decide(_facts(spec=spec, jobs=[_job(plan="0" * 12)], batch_progress=_progress()))
    assert d.delete_job == "db-000000000000-1"
    # Paused with nothing running and nothing read: as before, no status change.
    d = decide(_facts(spec=spec))
    assert d.delete_job is None and d.status == {}


def test_resume_continues_in_a_new_job_and_clears_paused() -> None:
    def paused_status() -> st.SchemaVersionStatus:
        return {"dataMigration": {"version": "2", "direction": "up", "rowsDone": 1, "paused": True}}

    # The paused Job was deleted: no Job of this plan, so attempt 1 of a new Job.
    d = decide(_facts(status=paused_status(), jobs=[], batch_progress=_progress()))
    assert d.create_job_for is not None and d.create_job_for[1] == 1
    after = st.apply(paused_status(), d.changes)
    assert "paused" not in after["dataMigration"]
    assert after["dataMigration"]["rowsDone"] == 250_000
    # Without a fresh read, the flag still goes (the progress shown stays).
    d = decide(_facts(status=paused_status(), jobs=[]))
    after = st.apply(paused_status(), d.changes)
    assert after["dataMigration"] == {"version": "2", "direction": "up", "rowsDone": 1}


# -- metrics ------------------------------------------------------------------------


def _value(metric: str, name: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"namespace": "unit", "name": name})


def test_backfill_gauges_follow_the_status() -> None:
    shown = st.data_migration_status(_progress(throttle_reason="autovacuum"))
    _set_backfill_metrics("unit", "db", shown, "Running")
    assert _value("schemaop_backfill_rows_done", "db") == 250_000
    assert _value("schemaop_backfill_rows_total_estimate", "db") == 1_000_000
    assert _value("schemaop_backfill_rows_per_second", "db") == 10_000
    assert _value("schemaop_backfill_throttled", "db") == 1
    assert _value("schemaop_backfill_running", "db") == 1
    assert (
        _value("schemaop_backfill_last_progress_timestamp_seconds", "db")
        == (NOW - dt.timedelta(seconds=1)).timestamp()
    )
    paused = {**shown, "paused": True}
    _set_backfill_metrics("unit", "db", paused, "Running")
    assert _value("schemaop_backfill_running", "db") == 0
    assert _value("schemaop_backfill_rows_per_second", "db") == 0
    assert _value("schemaop_backfill_throttled", "db") == 0
    # Its Job failed and waits for a retry: not running (another alert watches that).
    _set_backfill_metrics("unit", "db", shown, "Failed")
    assert _value("schemaop_backfill_running", "db") == 0
    assert _value("schemaop_backfill_rows_done", "db") == 250_000
    # Gone from status (a rollback removed it): its series go too.
    _set_backfill_metrics("unit", "db", None, "Running")
    assert _value("schemaop_backfill_rows_done", "db") is None
    _set_backfill_metrics("unit", "none", None, None)
    assert _value("schemaop_backfill_running", "none") is None


# -- the reconciler: bounded reads, stopping a Job ------------------------------------


class FakeKube:
    def __init__(self) -> None:
        self.deleted: list[tuple[str, str, str]] = []
        self.events: list[str] = []

    async def delete_job(self, namespace: str, name: str, uid: str) -> None:
        self.deleted.append((namespace, name, uid))

    async def list_jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return []  # (the run record of a stopped Job: tests/unit/test_run_records.py)

    async def post_event(self, obj: Any, kind: str, reason: str, message: str) -> None:
        self.events.append(reason)


async def test_progress_is_read_at_most_every_5_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def fake_read(conninfo: str, history_schema: str, *args: Any, **kw: Any) -> BatchProgress:
        reads.append(history_schema)
        return _progress(rows_done=len(reads))

    clock = [1000.0]
    monkeypatch.setattr(reconcile, "read_progress", fake_read)
    monkeypatch.setattr(reconcile.time, "monotonic", lambda: clock[0])
    r = reconcile.Reconciler(FakeKube(), reconcile.OperatorConfig())  # type: ignore[arg-type]
    spec = {"historySchema": "hist"}
    got = [await r._read_progress("ns", "db", spec, ("dsn", "src"))]
    clock[0] += 4.9
    got.append(await r._read_progress("ns", "db", spec, ("dsn", "src")))
    clock[0] += 0.2
    got.append(await r._read_progress("ns", "db", spec, ("dsn", "src")))
    assert reads == ["hist", "hist"]
    assert [(ok, p.rows_done if p else None) for ok, p in got] == [(True, 1), (True, 1), (True, 2)]
    # Another SchemaVersion has its own bound.
    await r._read_progress("ns", "other", spec, ("dsn", "src"))
    assert len(reads) == 3

    def failing(*args: Any, **kw: Any) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(reconcile, "read_progress", failing)
    clock[0] += 10
    assert await r._read_progress("ns", "db", spec, ("dsn", "src")) == (False, None)


def _reconciler_counting_reads(monkeypatch: pytest.MonkeyPatch) -> reconcile.Reconciler:
    """A Reconciler whose n-th progress read finds n batches done, its clock stopped."""
    reads: list[int] = []

    def fake_read(*args: Any, **kw: Any) -> BatchProgress:
        reads.append(1)
        return _progress(batches_done=len(reads))

    monkeypatch.setattr(reconcile, "read_progress", fake_read)
    monkeypatch.setattr(reconcile.time, "monotonic", lambda: 1000.0)
    return reconcile.Reconciler(FakeKube(), reconcile.OperatorConfig())  # type: ignore[arg-type]


async def test_progress_read_while_a_job_ran_is_read_again_once_none_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where a Job stopped by its deadline left its step decides whether it advanced
    # it (gates._progress_at_end): not a read from before its last batches.
    r = _reconciler_counting_reads(monkeypatch)
    spec = {"historySchema": "hist"}
    got = [await r._read_progress("ns", "db", spec, ("dsn", "src"), running=True)]
    got.append(await r._read_progress("ns", "db", spec, ("dsn", "src"), running=False))
    got.append(await r._read_progress("ns", "db", spec, ("dsn", "src"), running=False))
    assert [p.batches_done for _, p in got if p is not None] == [1, 2, 2]


async def test_a_read_made_before_a_job_ended_is_not_its_final_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Read as its Job was created (never seen running: it began and completed its
    # batched step within the 5 s), then that Job is seen ended: read again.
    r = _reconciler_counting_reads(monkeypatch)
    spec = {"historySchema": "hist"}
    got = [await r._read_progress("ns", "db", spec, ("dsn", "src"), running=False)]
    ended = frozenset({"job-uid"})
    assert r._progress_due(("ns", "db"), False, {"completedAt": "x"}, ended)
    got.append(await r._read_progress("ns", "db", spec, ("dsn", "src"), running=False, ended=ended))
    # Still due until a written decision shows it; meanwhile the read is reused.
    assert r._progress_due(("ns", "db"), False, {"completedAt": "x"}, ended)
    got.append(await r._read_progress("ns", "db", spec, ("dsn", "src"), running=False, ended=ended))
    assert [p.batches_done for _, p in got if p is not None] == [1, 2, 2]
    r._final_shown[("ns", "db")] = ended
    assert not r._progress_due(("ns", "db"), False, {"completedAt": "x"}, ended)


async def test_stopping_a_job_deletes_it_by_uid_and_says_so() -> None:
    kube = FakeKube()
    r = reconcile.Reconciler(kube, reconcile.OperatorConfig())  # type: ignore[arg-type]
    r._progress[("ns", "db")] = reconcile._ProgressRead(0.0, _progress(), True, frozenset())
    sv = {"metadata": {"namespace": "ns", "name": "db"}}
    await r._stop_job(sv, f"db-{PLAN[:12]}-1", [_job()])
    assert kube.deleted == [("ns", f"db-{PLAN[:12]}-1", "uid-1")]
    assert kube.events == ["BackfillPaused"]
    assert ("ns", "db") not in r._progress  # read afresh: where it stopped


def test_forget_drops_the_backfill_series() -> None:
    r = reconcile.Reconciler(FakeKube(), reconcile.OperatorConfig())  # type: ignore[arg-type]
    _set_backfill_metrics("unit", "gone", st.data_migration_status(_progress()), "Running")
    assert _value("schemaop_backfill_running", "gone") == 1
    r.forget("unit", "gone")
    assert _value("schemaop_backfill_running", "gone") is None
    assert _value("schemaop_backfill_rows_done", "gone") is None


def test_a_stopped_job_pod_is_no_failure_of_its_job() -> None:
    from schemaop.commands._support import EXIT_STOPPED, exit_code
    from schemaop.engine.errors import Stopped
    from schemaop.kube.builders import CONTAINER, build_job
    from schemaop.model.jobpolicy import JobPolicy
    from schemaop.model.plan import Plan

    assert exit_code(Stopped("stopped")) == EXIT_STOPPED  # what the Job's policy ignores
    sv = {
        "metadata": {"name": "db", "namespace": "ns", "uid": "u"},
        "spec": {"connection": {"urlFrom": {"secretKeyRef": {"name": "s", "key": "url"}}}},
    }
    job = build_job(sv, Plan(None, None, "latest"), 1, JobPolicy())
    assert job["spec"]["podFailurePolicy"] == {
        "rules": [
            {
                "action": "Ignore",
                "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": [4]},
            }
        ]
    }


# -- a row no run can be at -------------------------------------------------------


def test_an_unfinished_row_of_a_migration_gone_from_the_set_stops_no_job() -> None:
    # Batched 2 failed for good and was deleted; migration 3 (say, a long CREATE INDEX
    # CONCURRENTLY) runs now. Pausing must not stop it: the row is history.
    mig3 = {"metadata": {"name": "m3", "generation": 1}, "spec": {"version": "3", "up": "x"}}
    d = decide(
        _facts(
            spec={"connection": {}, "paused": True},
            migrations=[_mig("1"), mig3],
            jobs=[_job()],
            batch_progress=_progress(),
            batch_progress_read=True,
        )
    )
    assert d.delete_job is None
    assert st.clear_data_migration in d.changes


def test_an_unfinished_up_row_of_an_applied_version_is_not_in_progress() -> None:
    from schemaop.model.history import AppliedMigration
    from schemaop.model.version import Version

    state = DatabaseState(
        applied=(AppliedMigration(Version("1"), "", ""), AppliedMigration(Version("2"), "", "")),
        history_exists=True,
    )
    d = decide(_facts(jobs=[_job()], db_state=state, batch_progress=_progress()))
    message = next(c.message for c in d.conditions if c.type == ConditionType.RECONCILING)
    assert "batched step" not in message


def test_a_job_deleted_by_a_pause_is_no_attempt_that_ended() -> None:
    # status.retry says its Job was started (attempt 1): the pause deletes it on
    # purpose, so it must not count as ended from outside once it is gone.
    started = {"retry": {"planHash": PLAN[:12], "attempt": 0, "started": 1, "stoppedInARow": 0}}
    spec = {"connection": {}, "paused": True}
    d = decide(_facts(spec=spec, jobs=[_job()], batch_progress=_progress(), status=started))
    assert d.delete_job is not None
    assert "started" not in st.apply(dict(started), d.changes)["retry"]  # type: ignore[arg-type]


# -- the final read, and where the step stood as the first attempt started -------------
# A reconciliation against a fake API (answered from a dict) and a fake database
# (read_database and read_progress given): which progress reads it makes, what it writes.


def _sm(version: str) -> dict[str, Any]:
    """SchemaMigration ``version`` of SchemaVersion db: a batched backfill."""
    return {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaMigration",
        "metadata": {
            "name": f"db-v{version}",
            "namespace": "ns",
            "uid": f"sm-{version}",
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": {
            "schemaVersionRef": {"name": "db"},
            "version": version,
            "up": f"update t set x = {version} where id between :lo_id and :hi_id",
            "batched": {"table": "t", "key": ["id"]},
        },
    }


class _Kube(KubeApi):
    """The API as one reconciliation of SchemaVersion ns/db sees it: the objects given,
    the status and the Jobs it writes kept."""

    def __init__(self, status: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.sv: dict[str, Any] = {
            "apiVersion": "schemaop.io/v1alpha1",
            "kind": "SchemaVersion",
            "metadata": {
                "name": "db",
                "namespace": "ns",
                "uid": "sv-uid",
                "generation": 1,
                "resourceVersion": "1",
            },
            "spec": {
                "connection": {"urlFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
                "snapshot": {"policy": "None"},
            },
            "status": status,
        }
        self.migrations = [_sm("1"), _sm("2")]
        self.jobs = jobs
        self.created: list[str] = []

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        words = what.split()
        if what.startswith("get secret"):
            return {"metadata": {"name": "db"}, "data": {"url": "cG9zdGdyZXNxbDovL3VAaC9kYg=="}}
        if what.startswith("get schemaversions"):
            return copy.deepcopy(self.sv)
        if what.startswith("get schemamigrations"):
            name = words[2].split("/")[1]
            return next(
                (copy.deepcopy(m) for m in self.migrations if m["metadata"]["name"] == name), None
            )
        if what.startswith("list schemamigrations "):
            return {"items": copy.deepcopy(self.migrations)}
        if what.startswith("list jobs"):
            return {"items": copy.deepcopy(self.jobs)}
        if what.startswith(("list pods", "list schemamigrationruns")):
            return {"items": []}
        if what.startswith("update status of"):
            obj = copy.deepcopy(args[-1])
            meta = obj["metadata"]
            meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)
            if words[3] == "schemaversions":
                self.sv = copy.deepcopy(obj)
            return obj
        if what.startswith("create Job"):
            self.created.append(words[2])
        return None  # Events, ConfigMaps, run records


def _db(
    monkeypatch: pytest.MonkeyPatch, applied: tuple[str, ...], row: BatchProgress | None
) -> list[int]:
    """The database: ``applied`` versions of _sm applied, ``row`` the progress table's
    (the step in progress, else the one completed last); returns the progress reads."""
    from schemaop.decide import to_migrations
    from schemaop.model.history import AppliedMigration
    from schemaop.model.version import Version

    migrations = to_migrations([_sm("1"), _sm("2")])
    state = DatabaseState(
        applied=tuple(
            AppliedMigration(Version(v), "", migrations.get(Version(v)).checksum)  # type: ignore[union-attr]
            for v in applied
        ),
        last_fingerprint="fp",
        history_exists=True,
    )
    reads: list[int] = []

    def read_progress(*args: Any, **kw: Any) -> BatchProgress | None:
        reads.append(1)
        return row

    monkeypatch.setattr(reconcile, "read_database", lambda *a, **k: (state, "fp", []))
    monkeypatch.setattr(reconcile, "read_progress", read_progress)
    return reads


def _completed_job(plan12: str, deadline: bool = False) -> dict[str, Any]:
    """Attempt 1 of plan ``plan12``: Complete, or stopped by its activeDeadlineSeconds."""
    end = (
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
        if deadline
        else {"type": "Complete", "status": "True"}
    )
    return {
        "metadata": {
            "name": f"db-{plan12}-1",
            "namespace": "ns",
            "uid": f"job-{plan12}",
            "resourceVersion": "5",
            "labels": {
                "schemaop.io/schemaversion": "db",
                "schemaop.io/plan": plan12,
                "schemaop.io/attempt": "1",
            },
            "ownerReferences": [{"uid": "sv-uid", "controller": True}],
        },
        "status": {
            "startTime": "2026-11-22T11:59:00Z",
            "completionTime": "2026-11-22T11:59:08Z",
            "conditions": [{**end, "lastTransitionTime": "2026-11-22T11:59:08Z"}],
        },
    }


async def test_a_finished_job_of_a_batched_plan_gets_one_final_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its plan ran batched steps 1 and 2; the operator's last look showed step 1
    # completed (2 had not begun), then 2 began and completed before the next look.
    final = _progress(version="2", completed_at=NOW, rows_done=300, batches_done=3)
    reads = _db(monkeypatch, ("1", "2"), final)
    shown = st.data_migration_status(_progress(version="1", completed_at=NOW))
    plan = {
        "hash": PLAN,
        "steps": [
            {"version": "1", "direction": "up", "batched": True},
            {"version": "2", "direction": "up", "batched": True},
        ],
    }
    kube = _Kube({"dataMigration": shown, "plan": plan}, [_completed_job(PLAN[:12])])
    r = reconcile.Reconciler(kube, reconcile.OperatorConfig())
    await r.reconcile("ns", "db", kube.migrations)
    assert len(reads) == 1
    status = kube.sv["status"]
    assert status["dataMigration"]["version"] == "2"
    assert status["dataMigration"]["rowsDone"] == 300
    assert status["dataMigration"]["completedAt"]
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in status["conditions"])
    # Once made, the final read is not made again: an idle SchemaVersion reads nothing
    # (its Job still listed; each look as if past the bound of one read per 5 s).
    monkeypatch.setattr(reconcile, "PROGRESS_READ_INTERVAL", 0.0)
    for _ in range(3):
        await r.reconcile("ns", "db", kube.migrations)
    assert len(reads) == 1


async def test_a_plan_without_a_batched_step_gets_no_final_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = _db(monkeypatch, ("1", "2"), None)
    plan = {"hash": PLAN, "steps": [{"version": "2", "direction": "up"}]}
    kube = _Kube({"plan": plan}, [_completed_job(PLAN[:12])])
    await reconcile.Reconciler(kube, reconcile.OperatorConfig()).reconcile(
        "ns", "db", kube.migrations
    )
    assert reads == []


@pytest.mark.parametrize(("batched", "via"), [(True, "api"), (True, "watch"), (False, "api")])
async def test_the_first_attempt_of_a_batched_plan_knows_where_its_step_stood(
    monkeypatch: pytest.MonkeyPatch, batched: bool, via: str
) -> None:
    # No row shown and no Job: nothing read before the decision. The first Job of a
    # plan with a batched step is started on a read of the progress table, so a stop
    # of that attempt after committing batches counts as progress (status.retry.progress
    # {}: no batched step in progress when it started).
    reads = _db(monkeypatch, ("1",), _progress(version="1", completed_at=NOW))
    kube = _Kube({}, [])
    if not batched:
        kube.migrations[1]["spec"] = {
            "schemaVersionRef": {"name": "db"},
            "version": "2",
            "up": "create table t2 (id int)",
        }
    r = reconcile.Reconciler(kube, reconcile.OperatorConfig())
    await r.reconcile("ns", "db", kube.migrations)
    assert len(kube.created) == 1
    retry = kube.sv["status"]["retry"]
    assert retry["started"] == 1
    if batched:
        assert len(reads) == 1
        assert retry["progress"] == {}
    else:
        assert reads == []  # a plan without a batched step costs no read
        assert "progress" not in retry
        return
    # That attempt is stopped by its deadline after committing 10 batches of step 2:
    # it advanced the step, so it is no stop in a row and attempt 2 starts at once.
    kube.jobs = [_completed_job(retry["planHash"], deadline=True)]
    row = _progress(version="2", batches_done=10, rows_done=1000)
    second: list[int] = []

    def read_progress(*args: Any, **kw: Any) -> BatchProgress:
        second.append(1)
        return row

    monkeypatch.setattr(reconcile, "read_progress", read_progress)
    # "watch": as the operator runs, from the watches' copies; deciding to create the
    # next Job, it starts over from the API, where the final read must still count.
    cached = (
        reconcile.Cached(copy.deepcopy(kube.sv), copy.deepcopy(kube.jobs))
        if via == "watch"
        else None
    )
    await r.reconcile("ns", "db", kube.migrations, cached)
    assert len(second) == 1  # the start over reuses the read
    retry = kube.sv["status"]["retry"]
    assert (retry["stoppedInARow"], retry["progress"]["batchesAdded"]) == (0, 10)
    assert len(kube.created) == 2 and kube.created[1].endswith("-2")


def test_the_jobs_that_ran_a_batched_step_are_known_after_ready_too() -> None:
    from schemaop.model.run import RunSummary, StepSummary

    plan = {"hash": PLAN, "steps": [{"version": "2", "direction": "up", "batched": True}]}
    summary = RunSummary(
        ok=True,
        steps=(
            StepSummary(
                version="2",
                description="",
                direction="up",
                transactional=True,
                status="applied",
                batches={"rowsDone": 300, "batchesDone": 3},
            ),
        ),
    )
    finished = JobFacts.from_job(_completed_job(PLAN[:12]), None)
    said = JobFacts.from_job(_completed_job("cd" * 6), summary.termination_message())
    plain = JobFacts.from_job(_completed_job("ef" * 6), RunSummary(ok=True).termination_message())
    running = _job()
    jobs = [finished, said, plain, running]
    # Its plan in status (while it ran), or its summary (status.plan cleared once Ready).
    assert ended_batched_jobs(jobs, {"plan": plan}) == {finished.uid, said.uid}
    assert ended_batched_jobs(jobs, {}) == {said.uid}


async def test_a_final_read_not_shown_is_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first attempt was stopped by its deadline after committing 10 batches. The
    # look that reads where it stopped decides the next attempt, but the new connection
    # before that Job fails (a password rotated): that decision shows no progress.
    # When the connection works again, the read is made again and counts.
    from schemaop.model.run import RunError

    reads = _db(monkeypatch, ("1",), _progress(version="1", completed_at=NOW))
    kube = _Kube({}, [])
    r = reconcile.Reconciler(kube, reconcile.OperatorConfig())
    await r.reconcile("ns", "db", kube.migrations)
    plan12 = kube.sv["status"]["retry"]["planHash"]
    kube.jobs = [_completed_job(plan12, deadline=True)]
    row = _progress(version="2", batches_done=10, rows_done=1000)
    monkeypatch.setattr(reconcile, "read_progress", lambda *a, **k: reads.append(1) or row)
    failing: list[RunError | None] = [RunError(message="password authentication failed")]

    async def check(*args: Any) -> RunError | None:
        return failing.pop() if failing else None

    monkeypatch.setattr(r, "_check_new_connection", check)
    await r.reconcile("ns", "db", kube.migrations)
    assert len(kube.created) == 1  # no Job: the connection failed
    assert r._progress_due(("ns", "db"), False, {"completedAt": "x"}, frozenset({f"job-{plan12}"}))
    await r.reconcile("ns", "db", kube.migrations)
    retry = kube.sv["status"]["retry"]
    assert (retry["stoppedInARow"], retry["progress"]["batchesAdded"]) == (0, 10)
    assert len(kube.created) == 2
