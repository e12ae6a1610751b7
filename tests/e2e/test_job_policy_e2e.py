"""No power by proxy, and no bad value admitted, on the real API server.

A SchemaVersion asking for an image, ServiceAccount, volume or pod annotation
beyond the operator's Job policy stalls with ``JobPolicyDenied`` and no Job is
created; the Jobs the operator does create carry no API token and a seccomp
profile; the CRDs refuse the values that used to break the operator; a plan
larger than one ConfigMap runs to Ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import (
    GROUP,
    VERSION,
    apply_crds,
    migration_body,
    operator_fixture,
    schemaversion_body,
)
from kubernetes.client.rest import ApiException
from test_operator import Env, Operator

from devenv import cluster as devcluster


@pytest.fixture(scope="module")
def crds(cluster: devcluster.Cluster) -> None:
    apply_crds(cluster)


@pytest.fixture
def env(kube: Any, namespace: str, database: str) -> Env:
    return Env(kube, namespace, database)


def _operator(namespace: str, tmp_path: Path, *args: str) -> Iterator[Operator]:
    yield from operator_fixture(namespace, tmp_path / "operator.log", *args)


@pytest.fixture
def operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    yield from _operator(namespace, tmp_path)


@pytest.fixture
def policy_operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    yield from _operator(namespace, tmp_path, "--allowed-job-service-account", "sa-ok")


ASKS: dict[str, tuple[dict[str, Any], str]] = {
    "foreign-image": ({"job": {"image": "registry.evil.example/miner:1"}}, "--allowed-job-image"),
    "foreign-sa": (
        {"job": {"serviceAccountName": "cluster-admin-sa"}},
        "--allowed-job-service-account",
    ),
    "hostpath": (
        {"snapshot": {"policy": "Full", "volume": {"hostPath": {"path": "/"}}}},
        "--allowed-snapshot-volume-type",
    ),
    "seccomp": (
        {"job": {"podAnnotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}},
        "--allowed-job-pod-annotation",
    ),
}


def test_asking_beyond_the_job_policy_stalls_and_creates_no_job(
    env: Env, policy_operator: Operator
) -> None:
    env.secret()
    for name, (spec, _) in ASKS.items():
        env.migration("1", "create table a (id int)", db=name)
        body = schemaversion_body(name, **spec)
        env.custom.create_namespaced_custom_object(GROUP, VERSION, env.ns, "schemaversions", body)
    for name, (_, flag) in ASKS.items():

        def stalled(name: str = name) -> Any:
            conds = (env.sv(name).get("status") or {}).get("conditions") or []
            found = [c for c in conds if c["type"] == "Stalled" and c["status"] == "True"]
            return found[0] if found and found[0]["reason"] == "JobPolicyDenied" else None

        condition = env.wait(f"{name} Stalled (JobPolicyDenied)", stalled, 60, policy_operator)
        assert flag in condition["message"] and "allowed:" in condition["message"]
    # A SchemaVersion within the policy (an account it lists) gets its Job meanwhile.
    env.core.create_namespaced_service_account(env.ns, {"metadata": {"name": "sa-ok"}})
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion(job={"serviceAccountName": "sa-ok"})
    env.wait_ready("1", policy_operator)
    jobs = env.batch.list_namespaced_job(env.ns).items
    assert [j.metadata.labels["schemaop.io/schemaversion"] for j in jobs] == ["db"]
    # Its pod: no API token (not even the ServiceAccount admission's projected one),
    # and the container confined like the operator's own.
    pod_spec = jobs[0].spec.template.spec
    assert pod_spec.automount_service_account_token is False
    assert pod_spec.containers[0].security_context.seccomp_profile.type == "RuntimeDefault"
    pods = env.core.list_namespaced_pod(env.ns, label_selector="job-name=" + jobs[0].metadata.name)
    (pod,) = pods.items
    assert pod.spec.service_account_name == "sa-ok"
    assert pod.spec.automount_service_account_token is False
    assert not any(v.projected for v in pod.spec.volumes or [])
    assert pod.spec.containers[0].security_context.seccomp_profile.type == "RuntimeDefault"


def _refused(env: Env, plural: str, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as err:
        env.custom.create_namespaced_custom_object(GROUP, VERSION, env.ns, plural, body)
    assert err.value.status == 422, err.value.body
    return str(err.value.body)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"driftCheckInterval": "0s"}, "driftCheckInterval must be between 10s and 24h"),
        ({"lockTimeout": "0ms"}, "lockTimeout must be between 1ms and 1h"),
        ({"lockTimeout": "999999999h"}, "lockTimeout"),
        ({"statementTimeout": "25h"}, "statementTimeout must be between 1ms and 24h"),
        ({"lockRetries": 0}, "lockRetries"),
        ({"schemas": ["public", "schemaop"]}, "must not contain spec.historySchema"),
        ({"historySchema": "public"}, "must not contain spec.historySchema"),
        ({"job": {"activeDeadlineSeconds": 999999999999}}, "activeDeadlineSeconds"),
        ({"snapshot": {"policy": "Full"}}, "needs snapshot.volume"),
        ({"targetVersion": ".".join(["123456789"] * 8) + ".1"}, "targetVersion"),
        ({"job": {"serviceAccountName": "Not_An_Account"}}, "serviceAccountName"),
    ],
    ids=[
        "drift-0s",
        "lock-0ms",
        "lock-huge",
        "statement-25h",
        "retries-0",
        "history-in-schemas",
        "history-public",
        "deadline",
        "full-no-volume",
        "long-target",
        "bad-sa-name",
    ],
)
def test_the_crd_refuses_values_that_would_break_the_operator(
    env: Env, crds: None, spec: dict[str, Any], words: str
) -> None:
    assert words in _refused(env, "schemaversions", schemaversion_body("bad", **spec))


def test_the_crd_admits_the_bounds_and_refuses_a_long_version(env: Env, crds: None) -> None:
    body = schemaversion_body(
        "good",
        driftCheckInterval="10s",
        lockTimeout="1h",
        statementTimeout="1h30m15s500ms",
        lockRetries=1,
        job={"activeDeadlineSeconds": 2_592_000},
    )
    env.custom.create_namespaced_custom_object(GROUP, VERSION, env.ns, "schemaversions", body)
    long_version = ".".join(["123456789"] * 8) + ".1"  # 81 characters
    assert "spec.version" in _refused(env, "schemamigrations", migration_body(long_version, "x"))


def test_a_plan_over_one_mebibyte_runs_to_ready(env: Env, operator: Operator) -> None:
    env.secret()
    filler = "x" * (250 * 1024)
    for v in range(1, 6):
        env.migration(str(v), f"create table t{v} (id int);\ncomment on table t{v} is '{filler}';")
    env.schemaversion()
    env.wait_ready("5", operator, timeout=180)
    assert {f"t{v}" for v in range(1, 6)} <= env.tables()
    plan_maps = [
        cm
        for cm in env.core.list_namespaced_config_map(env.ns).items
        if (cm.metadata.labels or {}).get("schemaop.io/schemaversion") == "db"
    ]
    assert len(plan_maps) == 2
    assert sum(len(v) for cm in plan_maps for v in (cm.data or {}).values()) > 1024 * 1024


@pytest.fixture
def tolerant_operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    """An operator whose policy allows tolerations of taint key "k"."""
    yield from _operator(namespace, tmp_path, "--allowed-job-toleration", "k")


def test_a_job_the_api_server_refuses_stalls_instead_of_crash_looping(
    env: Env, tolerant_operator: Operator
) -> None:
    operator = tolerant_operator
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion(job={"tolerations": [{"key": "k", "operator": "Sometimes"}]})
    stalled = env.wait_reason("Stalled", "True", "InvalidSpec", operator, timeout=60)
    assert "refused the migration Job" in stalled["message"]
    assert "Sometimes" in stalled["message"]
    assert env.jobs() == []
    env.patch_sv({"spec": {"job": {"tolerations": [{"key": "k", "operator": "Exists"}]}}})
    env.wait_ready("1", operator)
