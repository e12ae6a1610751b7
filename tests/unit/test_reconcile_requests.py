"""API requests of one reconciliation (no API server, no database: the requests are
answered and counted at :meth:`KubeApi._call`, the database read is given).

At 1,000 SchemaVersions the operator's cost is requests per reconciliation
times reconciliations: a reconciliation must not list every SchemaMigration of
the namespace (it is handed its own from the watch-fed index), must not read
an object again to write a status it just read, and must not list a finished
Job's pods again (bench/reconcile, docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import copy
import inspect
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from schemaop.kube.api import KubeApi, PodLog
from schemaop.kube.builders import LABEL_SCHEMAVERSION
from schemaop.model.history import AppliedMigration, DatabaseState
from schemaop.model.migration import checksum
from schemaop.model.version import Version
from schemaop.operator import handlers, reconcile
from schemaop.operator.reconcile import Cached, OperatorConfig, Reconciler

NS = "ns"
OTHERS = 300  # SchemaMigrations of other SchemaVersions in the namespace


def _migration(sv: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaMigration",
        "metadata": {"name": f"{sv}-v{version}", "namespace": NS, "uid": f"{sv}-{version}"},
        "spec": {
            "schemaVersionRef": {"name": sv},
            "version": str(version),
            "up": f"create table t{version} (id int)",
            "down": f"drop table t{version}",
        },
    }


class CountingKube(KubeApi):
    """Answers the operator's requests from a dict of objects and counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []
        self.objects: dict[str, dict[str, Any]] = {
            "schemaversions/db": {
                "apiVersion": "schemaop.io/v1alpha1",
                "kind": "SchemaVersion",
                "metadata": {
                    "name": "db",
                    "namespace": NS,
                    "uid": "sv-uid",
                    "generation": 1,
                    "resourceVersion": "1",
                },
                "spec": {"connection": {"urlFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}},
            }
        }
        for v in (1, 2, 3):
            self.objects[f"schemamigrations/db-v{v}"] = _migration("db", v)
        for i in range(OTHERS):
            self.objects[f"schemamigrations/x{i}-v1"] = _migration(f"x{i}", 1)
        self.job = {
            "metadata": {
                "name": "db-job",
                "namespace": NS,
                "uid": "job-uid",
                "labels": {LABEL_SCHEMAVERSION: "db"},
                "ownerReferences": [{"uid": "sv-uid", "controller": True}],
            },
            "status": {"conditions": [{"type": "Complete", "status": "True"}]},
        }

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.requests.append(" ".join(what.split()[:2]))
        words = what.split()
        if what.startswith("get secret"):
            url = base64.b64encode(b"postgresql://u@h/db").decode()
            return {"metadata": {"name": "db"}, "data": {"url": url}}
        if words[0] == "get":
            obj = self.objects.get(f"{words[1]}/{words[2].split('/')[1]}")
            return copy.deepcopy(obj)
        if what.startswith("list schemamigrations"):
            return {"items": [copy.deepcopy(o) for o in self.objects.values() if "spec" in o]}
        if what.startswith("list schemamigrationruns"):
            return {"items": []}
        if what.startswith("list jobs"):
            return {"items": [copy.deepcopy(self.job)]}
        if what.startswith("list pods"):
            state = {"terminated": {"exitCode": 0, "message": "not a summary"}}
            pod = {
                "metadata": {
                    "name": "db-job-pod",
                    "ownerReferences": [{"uid": "job-uid", "controller": True}],
                },
                "status": {"containerStatuses": [{"state": state}]},
            }
            return {"items": [pod]}
        if what.startswith("update status of"):
            plural, name = words[3], words[4].split("/")[1]
            obj = copy.deepcopy(args[-1])
            meta = obj["metadata"]
            meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)
            self.objects[f"{plural}/{name}"] = copy.deepcopy(obj)
            return obj
        return None  # events, Jobs, ConfigMaps, run records

    async def job_pod_log(self, namespace: str, job_meta: Any, container: str, lines: int) -> Any:
        self.requests.append("get pods/log")
        return PodLog("db-job-pod", text="done\n")


def _at_version(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """The database has migrations 1 to ``version`` applied, with their checksums."""
    state = DatabaseState(
        applied=tuple(
            AppliedMigration(
                Version(str(v)),
                "",
                checksum(f"create table t{v} (id int)", f"drop table t{v}"),
            )
            for v in range(1, version + 1)
        ),
        last_fingerprint="fp",
        history_exists=True,
    )
    monkeypatch.setattr(reconcile, "read_database", lambda *a, **k: (state, "fp", []))


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> None:
    _at_version(monkeypatch, 3)


def _index(kube: CountingKube) -> list[dict[str, Any]]:
    """What the watch-fed index hands the daemon for SchemaVersion db."""
    out = []
    for obj in kube.objects.values():
        entry = handlers.migrations_by_schemaversion(NS, obj, obj["spec"])
        if entry and (NS, "db") in entry:
            out.append(entry[(NS, "db")])
    return out


@pytest.mark.usefixtures("applied")
async def test_an_idle_reconciliation_makes_three_requests_and_lists_no_schemamigrations() -> None:
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig())
    await reconciler.reconcile(NS, "db", _index(kube))
    first = Counter(kube.requests)
    assert first["list schemamigrations"] == 0
    assert first["get schemamigrations"] == 0  # status written over the indexed object
    assert first["get schemaversions"] == 1  # read once, written over what was read
    assert first["list pods"] == 2  # its termination message, its run record's log
    assert first["create schemamigrationruns"] == 1

    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube))
    # Nothing changed: the SchemaVersion, its Secret and its Jobs; no write, no pod list.
    assert sorted(kube.requests) == ["get schemaversions", "get secret", "list jobs"]


def _cached(kube: CountingKube) -> Cached:
    """What the daemon hands the reconciler: its body (kept current by the watch) and
    the Jobs' index entries (metadata and status)."""
    job = {"metadata": kube.job["metadata"], "status": kube.job["status"]}
    return Cached(copy.deepcopy(kube.objects["schemaversions/db"]), [copy.deepcopy(job)])


@pytest.mark.usefixtures("applied")
async def test_an_idle_drift_check_reads_only_the_secret() -> None:
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig())
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))  # its status written
    kube.requests.clear()
    # The watch has brought the status written: the cached copies are current.
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    assert kube.requests == ["get secret"]


@pytest.mark.usefixtures("applied")
async def test_a_cached_schemaversion_older_or_newer_than_the_last_read_is_read_anew() -> None:
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig())
    stale = _cached(kube)
    await reconciler.reconcile(NS, "db", _index(kube), stale)
    kube.requests.clear()
    # The watch has not brought the operator's own status write yet.
    await reconciler.reconcile(NS, "db", _index(kube), stale)
    assert sorted(kube.requests) == ["get schemaversions", "get secret", "list jobs"]
    # Someone changed it (the watch has a version this reconciler never read).
    changed = _cached(kube)
    changed.sv["metadata"]["resourceVersion"] = "99"
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube), changed)
    assert sorted(kube.requests) == ["get schemaversions", "get secret", "list jobs"]


@pytest.mark.usefixtures("applied")
async def test_a_migration_status_written_is_not_written_again_before_the_index_has_it() -> None:
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig())
    stale = _index(kube)  # the watch has not brought the operator's writes back yet
    await reconciler.reconcile(NS, "db", stale, _cached(kube))
    assert Counter(kube.requests)["update status"] == 4  # three SchemaMigrations and it
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", stale, _cached(kube))
    assert kube.requests == ["get secret"]  # not sent again, nor sent stale (409, get)
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))  # the index has them
    assert kube.requests == ["get secret"]
    assert not reconciler._written_migrations  # nothing kept once the index has it


async def test_a_job_decided_on_cached_objects_is_decided_again_on_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _at_version(monkeypatch, 3)
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig())
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    # A new migration, and the watch's copies say nothing else changed.
    kube.objects["schemamigrations/db-v4"] = _migration("db", 4)
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    requests = Counter(kube.requests)
    assert requests["get schemaversions"] == 1  # read from the API before the Job
    assert requests["list jobs"] == 1
    assert requests["create Job"] == 1


@pytest.mark.usefixtures("applied")
async def test_without_the_index_a_reconciliation_lists_the_schemamigrations() -> None:
    kube = CountingKube()
    await Reconciler(kube, OperatorConfig()).reconcile(NS, "db")
    assert Counter(kube.requests)["list schemamigrations"] == 1


class _Memo:
    def __init__(self) -> None:
        self.triggers: dict[tuple[str, str], Any] = {}
        self.seen_migrations: dict[Any, Any] = {}


async def test_only_a_new_deleted_or_deleting_schemamigration_wakes_its_schemaversion() -> None:
    memo = _Memo()
    woken: list[str] = []

    class Event:
        def set(self) -> None:
            woken.append("db")

    memo.triggers[(NS, "db")] = Event()  # type: ignore[assignment]
    obj = _migration("db", 1)

    async def event(type_: str | None, meta: dict[str, Any]) -> None:
        await handlers.schemamigration_changed(
            type=type_, name="db-v1", namespace=NS, spec=obj["spec"], meta=meta, memo=memo
        )

    await event("ADDED", obj["metadata"])
    assert woken == ["db"]
    await event("MODIFIED", {**obj["metadata"], "resourceVersion": "2"})  # its status written
    assert woken == ["db"]
    await event("MODIFIED", {**obj["metadata"], "deletionTimestamp": "2026-12-01T00:00:00Z"})
    assert woken == ["db", "db"]
    await event("DELETED", obj["metadata"])
    assert woken == ["db", "db", "db"]


def test_the_event_handlers_run_on_the_event_loop() -> None:
    # kopf runs a plain function in a worker thread, and an asyncio.Event set from
    # there is a race with the loop that waits on it.
    for handler in (
        handlers.schemaversion_changed,
        handlers.schemamigration_changed,
        handlers.job_changed,
        handlers.secret_changed,
    ):
        assert inspect.iscoroutinefunction(handler), handler.__name__


def test_the_api_client_keeps_a_connection_per_worker_thread() -> None:
    from schemaop.commands.operator import IO_THREADS

    api = KubeApi(connections=IO_THREADS)
    assert api.client.configuration.connection_pool_maxsize == IO_THREADS
    assert api.client.rest_client.pool_manager.connection_pool_kw["maxsize"] == IO_THREADS


@pytest.mark.parametrize("deleted", [False, True])
async def test_before_a_job_the_api_confirms_the_indexed_schemamigrations_it_runs(
    monkeypatch: pytest.MonkeyPatch, deleted: bool
) -> None:
    # kopf's index keeps an object deleted while its watch re-listed ("410 Gone").
    _at_version(monkeypatch, 2)
    kube = CountingKube()
    index = _index(kube)
    if deleted:
        del kube.objects["schemamigrations/db-v3"]
    await Reconciler(kube, OperatorConfig()).reconcile(NS, "db", index)
    requests = Counter(kube.requests)
    assert requests["get schemamigrations"] == 1  # the one the plan's step comes from
    assert requests["create Job"] == (0 if deleted else 1)
    assert requests["list schemamigrations"] == (1 if deleted else 0)


def _counting_decide(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = reconcile.decide

    def counted(facts: Any) -> Any:
        calls.append(1)
        return real(facts)

    monkeypatch.setattr(reconcile, "decide", counted)
    return calls


@pytest.mark.usefixtures("applied")
async def test_with_the_secret_watch_an_idle_drift_check_makes_no_request_and_no_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decided = _counting_decide(monkeypatch)
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig(), secrets_watched=True)
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))  # its status written
    assert Counter(kube.requests)["get secret"] == 1  # not brought by the watch yet: read
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))  # nothing to write
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))  # the same found
    assert kube.requests == []
    assert len(decided) == 2  # the third found what the second did: not decided again
    # Drift (another fingerprint): decided again.
    state, _, _ = reconcile.read_database()  # type: ignore[call-arg]
    monkeypatch.setattr(reconcile, "read_database", lambda *a, **k: (state, "other", []))
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    assert len(decided) == 3


@pytest.mark.usefixtures("applied")
async def test_the_secret_watch_keeps_only_named_secrets_and_a_change_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[str] = []
    state, _, _ = reconcile.read_database()  # type: ignore[call-arg]

    def read_database(conninfo: str, *args: Any, **kwargs: Any) -> Any:
        read.append(conninfo)
        return state, "fp", []

    monkeypatch.setattr(reconcile, "read_database", read_database)
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig(), secrets_watched=True)
    url = base64.b64encode(b"postgresql://u@rotated/db").decode()
    reconciler.secret_seen(NS, "other", {"metadata": {"name": "other"}, "data": {"url": url}})
    assert reconciler.secrets == {}  # no SchemaVersion names it
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    assert "h" in read[-1] and "rotated" not in read[-1]
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": '{"data": "..."}'}
    rotated = {"metadata": {"name": "db", "annotations": annotations}, "data": {"url": url}}
    reconciler.secret_seen(NS, "db", rotated)
    kept = reconciler.secrets[(NS, "db")]  # type: ignore[index]
    assert kept["metadata"]["annotations"] == {}  # kubectl's copy of the data is not kept
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    assert "rotated" in read[-1]
    assert "get secret" not in kube.requests
    # Deleted: read from the API again (which still has it here).
    reconciler.secret_seen(NS, "db", None)
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    assert "get secret" in kube.requests


async def test_a_job_decided_with_the_watched_secret_reads_the_secret_from_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _at_version(monkeypatch, 3)
    kube = CountingKube()
    reconciler = Reconciler(kube, OperatorConfig(), secrets_watched=True)
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    kube.objects["schemamigrations/db-v4"] = _migration("db", 4)
    kube.requests.clear()
    await reconciler.reconcile(NS, "db", _index(kube), _cached(kube))
    requests = Counter(kube.requests)
    # Decided on the watches' copies, then again on the API's: the Secret too.
    assert requests["get schemaversions"] == 1
    assert requests["get secret"] == 1
    assert requests["create Job"] == 1


async def test_a_secret_deleted_while_it_is_read_is_not_brought_back() -> None:
    # The first reconciliation reads the Secret (not in the watch's copy yet); its
    # deletion arrives while that read is answered: later checks see it gone.
    import asyncio
    import base64

    from schemaop.kube.api import SecretNotFound
    from schemaop.operator.reconcile import OperatorConfig, Reconciler

    spec = {"connection": {"urlFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}}
    gate = asyncio.Event()

    class SlowKube:
        reads = 0

        async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
            self.reads += 1
            if self.reads > 1:
                return None  # the API server has it deleted
            url = base64.b64encode(b"postgresql://u:p@h/db").decode()
            await gate.wait()
            return {"metadata": {"resourceVersion": "1"}, "data": {"url": url}}

    reconciler = Reconciler(SlowKube(), OperatorConfig(), secrets_watched=True)  # type: ignore[arg-type]
    reconciler.secret_index[("ns", "db")] = {"sv"}
    read = asyncio.ensure_future(reconciler._conninfo("ns", spec, from_watch=False))
    await asyncio.sleep(0)
    reconciler.secret_seen("ns", "db", None)
    gate.set()
    await read
    with pytest.raises(SecretNotFound):
        await reconciler._conninfo("ns", spec, from_watch=True)
