"""Run records end to end: SchemaMigrationRun on the real API server, written by the operator.

The record of each finished migration Job attempt outlives the Job (here deleted by
hand, as its TTL would), is readable with ``kubectl get smr``, is immutable, and
only the last ``--run-history-limit`` per SchemaVersion are kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import GROUP, VERSION, apply_crds, kubectl, operator_fixture
from kubernetes import client
from kubernetes.client.rest import ApiException
from test_operator import Env, Operator

from devenv import cluster as devcluster

PLURAL = "schemamigrationruns"


@pytest.fixture(scope="session")
def crds(cluster: devcluster.Cluster) -> None:
    apply_crds(cluster)


def _record(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaMigrationRun",
        "metadata": {"name": name, "labels": {"schemaop.io/schemaversion": "db"}},
        "spec": {
            "schemaVersion": "db",
            "job": {"name": "db-0123456789-1"},
            "attempt": 1,
            "outcome": "Failed",
            "fromVersion": "1",
            "toVersion": "2",
            "duration": "1.5s",
        },
    }


def test_a_run_record_is_served_immutable_and_listed_by_kubectl(
    crds: None, kube: Any, namespace: str, cluster: devcluster.Cluster
) -> None:
    custom = client.CustomObjectsApi(kube)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _record("r1"))
    with pytest.raises(ApiException) as refused:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "r1", {"spec": {"outcome": "Succeeded"}}
        )
    assert refused.value.status == 422 and "immutable" in str(refused.value.body)
    table = kubectl(cluster, "get", "smr", "-n", namespace, "-l", "schemaop.io/schemaversion=db")
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "SCHEMAVERSION", "OUTCOME", "FROM", "TO", "DURATION", "AGE"]
    assert row.split()[:6] == ["r1", "db", "Failed", "1", "2", "1.5s"]
    assert "r1" in kubectl(cluster, "get", "schemaop", "-n", namespace, "-o", "name")


@pytest.fixture
def small_history_operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    yield from operator_fixture(namespace, tmp_path / "operator.log", "--run-history-limit", "2")


def _runs(env: Env) -> list[dict[str, Any]]:
    items = env.custom.list_namespaced_custom_object(
        GROUP, VERSION, env.ns, PLURAL, label_selector="schemaop.io/schemaversion=db"
    )["items"]
    return sorted(items, key=lambda r: r["spec"].get("completionTime", ""))


def test_a_failed_run_outlives_its_job_and_the_history_is_pruned(
    kube: Any,
    namespace: str,
    database: str,
    cluster: devcluster.Cluster,
    small_history_operator: Operator,
) -> None:
    op = small_history_operator
    env = Env(kube, namespace, database)
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.migration(
        "2",
        "create table b (id int);\ninsert into b values (1);\ncreate tabel c (id int);",
        name="broken",
    )
    env.schemaversion()
    env.wait_reason("Stalled", "True", "MigrationFailed", op)
    # Two failed Jobs: the plan 0 -> 2 (version 1 applies, 2 fails), then 1 -> 2.
    jobs = env.wait("two failed Jobs", lambda: len(env.jobs()) == 2 and env.jobs(), op=op)
    failed = env.wait(
        "two Failed run records",
        lambda: (runs := _runs(env)) and len(runs) == 2 and runs[-1],
        op=op,
    )
    spec = failed["spec"]
    assert spec["outcome"] == "Failed"
    assert spec["job"]["name"] in {j.metadata.name for j in jobs} and spec["attempt"] == 1
    assert spec["trigger"]["kind"] == "NewPlan"
    error = spec["summary"]["error"]
    assert error["sqlstate"] == "42601" and "tabel" in error["statement"]
    assert error["position"]["line"] == 3
    assert (spec["fromVersion"], spec["toVersion"]) == ("1", "2")
    # Per statement: the syntax error stopped the query before anything ran, so the
    # step lists its failed statement only, with SQLSTATE and position.
    (step,) = [s for s in spec["summary"]["steps"] if s["version"] == "2"]
    (bad,) = step["statements"]
    assert (bad["index"], bad["line"], bad["status"]) == (3, 3, "failed")
    assert bad["statement"].startswith("create tabel c")
    assert bad["error"]["sqlstate"] == "42601" and bad["error"]["position"]["line"] == 3
    assert "42601" in spec["log"]["tail"] and spec["log"]["pod"].startswith(spec["job"]["name"])
    assert failed["metadata"]["ownerReferences"][0]["kind"] == "SchemaVersion"
    # The Jobs go (as their TTL would take them, with their pods); the records stay.
    # Paused first: without its Job the operator would run the plan again.
    env.patch_sv({"spec": {"paused": True}})
    env.wait_reason("Reconciling", "False", "Paused", op)
    for job in jobs:
        env.batch.delete_namespaced_job(job.metadata.name, env.ns, propagation_policy="Background")
    env.wait("the Jobs gone", lambda: not env.jobs(), op=op)
    time.sleep(2)
    assert [r["metadata"]["name"] for r in _runs(env)][-1] == failed["metadata"]["name"]
    table = kubectl(cluster, "get", "smr", "-n", env.ns, "-l", "schemaop.io/schemaversion=db")
    assert failed["metadata"]["name"] in table and "Failed" in table
    shown = kubectl(cluster, "get", "smr", failed["metadata"]["name"], "-n", env.ns, "-o", "yaml")
    assert "42601" in shown and "tabel" in shown

    # The fix applies: a Succeeded record.
    env.delete_migration("broken")
    env.migration(
        "2",
        "create table b (id int);\ninsert into b values (1);\ncreate table c (id int);",
        "drop table c; drop table b",
        name="fixed",
    )
    env.patch_sv({"spec": {"paused": False}})
    env.wait_ready("2", op)
    ok = env.wait(
        "a Succeeded run record",
        lambda: [r for r in _runs(env) if r["spec"]["outcome"] == "Succeeded"],
        op=op,
    )[0]
    assert ok["spec"]["toVersion"] == "2" and ok["spec"]["summary"]["ok"] is True
    # The record carries each statement's command tag and rows (read from the Job's
    # log: the termination message has no room for them).
    (step,) = [s for s in ok["spec"]["summary"]["steps"] if s["version"] == "2"]
    assert [(s["index"], s["command"], s.get("rows")) for s in step["statements"]] == [
        (1, "CREATE TABLE", None),
        (2, "INSERT 0 1", 1),
        (3, "CREATE TABLE", None),
    ]
    assert ok["spec"]["duration"]

    # Two more runs (a rollback and forward again): only the newest two are kept.
    env.patch_sv({"spec": {"targetVersion": "1"}})
    env.wait_ready("1", op)
    env.patch_sv({"spec": {"targetVersion": "2"}})
    env.wait_ready("2", op)

    def pruned() -> bool:
        runs = _runs(env)
        return len(runs) == 2 and [r["spec"].get("toVersion") for r in runs] == ["1", "2"]

    env.wait("the records pruned to the newest two", pruned, op=op)
    assert all(r["spec"]["outcome"] == "Succeeded" for r in _runs(env))
