"""charts/schemaop in namespaced RBAC mode, with two replicas, on the real node:
the operator pods run the built image with the chart's Role in the watched
namespace only, migrate there through a real Job pod, are refused everywhere
else; its approval policy guards the watched namespace only; and kopf peering
keeps one replica active: when the active pod is deleted another takes over and
finishes a reconcile, with one Job.

Its own module: the cluster-wide release of test_real_node.py must not run at
the same time (two operators would act on the same objects).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv import realnode
from e2e.kube_support import (
    CHART,
    GROUP,
    VERSION,
    apply_crds,
    as_service_account,
    create_namespace,
    delete_namespace,
    delete_schemaversions,
    forbidden,
    helm,
    migration_body,
    poll,
    schemaversion,
    schemaversion_body,
    secret_body,
    wait_ready,
)

RELEASE = "schemaop-ns"


@dataclasses.dataclass
class Namespaced:
    namespace: str  # the operator's
    watched: str
    other: str


@pytest.fixture(scope="module")
def namespaced(
    real_cluster: devcluster.Cluster, kube: Any, node_image: tuple[str, str]
) -> Iterator[Namespaced]:
    # crds.install=false: the CRDs come from crds/ (kept for test_real_node.py's release).
    apply_crds(real_cluster)
    ns, watched, other = (create_namespace(kube, p) for p in ("schemaop", "watched", "other"))
    repository, tag = node_image
    helm(
        real_cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        *("--set", f"image.repository={repository}", "--set", f"image.tag={tag}"),
        *("--set", "image.pullPolicy=Never"),
        "--set",
        f"watchNamespaces={{{watched}}}",
        "--set",
        "crds.install=false",
        "--set",
        "replicas=2",
        "--wait",
        "--timeout",
        "240s",
        timeout=300,
    )
    try:
        yield Namespaced(ns, watched, other)
    finally:
        try:
            delete_schemaversions(kube, watched, timeout=180)
        finally:
            helm(
                real_cluster, "uninstall", RELEASE, "--namespace", ns, "--wait", "--timeout", "120s"
            )
            for name in (ns, watched, other):
                delete_namespace(kube, name)


def _database(server: devpg.Postgres) -> str:
    """A fresh database and owner role; its URL from pods."""
    name, password = f"t_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    server.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    server.psql(f'CREATE DATABASE "{name}" OWNER {name}')
    return f"postgresql://{name}:{password}@{realnode.NODE_IP}:{server.port}/{name}"


def _database_objects(kube: Any, namespace: str, url: str, name: str = "db") -> None:
    client.CoreV1Api(kube).create_namespaced_secret(namespace, secret_body(name, url))
    custom = client.CustomObjectsApi(kube)
    body = migration_body("1", "create table a (id int)", "drop table a", db=name)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "schemamigrations", body)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "schemaversions", schemaversion_body(name, secret=name)
    )


def _operator_pods(kube: Any, namespace: str) -> list[Any]:
    pods = (
        client.CoreV1Api(kube)
        .list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={RELEASE}")
        .items
    )
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def _log(cluster: devcluster.Cluster, namespace: str, pod: str) -> str:
    return cluster.kubectl("logs", "-n", namespace, pod, "-c", "operator", check=False).stdout


def test_namespaced_mode_works_in_its_namespaces_and_is_denied_outside(
    namespaced: Namespaced,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
) -> None:
    ns, watched, other = namespaced.namespace, namespaced.watched, namespaced.other
    pods = _operator_pods(kube, ns)
    assert len(pods) == 2, [p.metadata.name for p in pods]
    for pod in pods:
        assert pod.spec.node_name == real_cluster.node_name
        assert f"--namespace={watched}" in pod.spec.containers[0].args
        assert f"--peering={RELEASE}" in pod.spec.containers[0].args
    url = _database(node_postgres)
    _database_objects(kube, watched, url)
    _database_objects(kube, other, url)
    wait_ready(kube, watched, "db", "1", timeout=240)
    job = client.BatchV1Api(kube).list_namespaced_job(watched).items[0]
    assert job.spec.template.spec.service_account_name == f"{RELEASE}-job"
    # Its run record, written with the chart's RBAC (the Job pod's log read through
    # the kubelet included).
    (run,) = poll(
        "the run record of the Job",
        lambda: client.CustomObjectsApi(kube).list_namespaced_custom_object(
            GROUP, VERSION, watched, "schemamigrationruns"
        )["items"],
        90,
    )
    assert run["spec"]["job"]["name"] == job.metadata.name
    assert run["spec"]["outcome"] == "Succeeded" and run["spec"]["log"].get("tail"), run["spec"]
    # The unwatched namespace is not touched (no status, no Job).
    assert not schemaversion(kube, other, "db").get("status")
    assert not client.BatchV1Api(kube).list_namespaced_job(other).items

    with as_service_account(kube, ns, RELEASE) as api:
        custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        batch = client.BatchV1Api(api)
        custom.list_namespaced_custom_object(GROUP, VERSION, watched, "schemaversions")
        core.read_namespaced_secret("db", watched)
        assert forbidden(
            lambda: custom.list_namespaced_custom_object(GROUP, VERSION, other, "schemaversions")
        )
        assert forbidden(lambda: core.read_namespaced_secret("db", other))
        assert forbidden(core.list_secret_for_all_namespaces)
        assert forbidden(lambda: batch.list_namespaced_job(other))
        assert forbidden(
            lambda: custom.list_cluster_custom_object(GROUP, VERSION, "schemaversions")
        )
        assert forbidden(lambda: core.delete_namespaced_secret("db", watched))
    for pod in pods:
        log = _log(real_cluster, ns, pod.metadata.name)
        assert "Forbidden" not in log and "Not enough permissions" not in log, log[-3000:]


def _peers(kube: Any, namespace: str) -> dict[str, Any]:
    peering = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings", RELEASE
    )
    return dict(peering.get("status") or {})


def _paused(log: str) -> bool:
    """Whether a replica's log leaves it paused: it never resumed, or it paused
    after it last resumed."""
    return log.rfind("Pausing operations") >= log.rfind("Resuming operations")


def test_when_the_active_replica_is_deleted_another_takes_over(
    namespaced: Namespaced,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
) -> None:
    ns, watched = namespaced.namespace, namespaced.watched
    pods = {p.metadata.name: p for p in _operator_pods(kube, ns)}
    peers = poll(
        "both replicas in the peering object",
        lambda: len(_peers(kube, watched)) == 2 and _peers(kube, watched),
        90,
    )
    # The chart's --peering makes peering mandatory: kopf starts every replica
    # paused. The highest priority logs "Resuming operations" when it sees it is
    # the highest; a lower one stays paused without a word, or (if it saw itself
    # alone first) resumes and then logs "Pausing operations" when the other
    # appears. kopf names a peer after its host, the pod's name.
    assert len(pods) == 2, list(pods)
    leader_id = max(peers, key=lambda peer: peers[peer]["priority"])
    (leader,) = [name for name in pods if name in leader_id]
    (standby,) = [name for name in pods if name != leader]
    poll(
        f"the highest priority, {leader}, to resume operations",
        lambda: "Resuming operations" in _log(real_cluster, ns, leader),
        120,
    )
    poll(
        f"{standby} to be paused in favour of {leader}",
        lambda: _paused(_log(real_cluster, ns, standby)),
        120,
    )

    core = client.CoreV1Api(kube)
    core.delete_namespaced_pod(leader, ns)
    poll(
        f"pod {leader} to be gone",
        lambda: leader not in {p.metadata.name for p in core.list_namespaced_pod(ns).items},
        120,
    )
    url = _database(node_postgres)
    _database_objects(kube, watched, url, name="failover")
    wait_ready(kube, watched, "failover", "1", timeout=240)
    jobs = client.BatchV1Api(kube).list_namespaced_job(
        watched, label_selector="schemaop.io/schemaversion=failover"
    )
    assert len(jobs.items) == 1, [j.metadata.name for j in jobs.items]
    logs = {
        p.metadata.name: _log(real_cluster, ns, p.metadata.name) for p in _operator_pods(kube, ns)
    }
    # The standby resumed, or the Deployment's new pod won the priority draw.
    worked = sorted(name for name, log in logs.items() if "failover" in log)
    assert worked, {name: log[-2000:] for name, log in logs.items()}
    if standby in worked:
        assert "Resuming operations" in logs[standby], logs[standby][-2000:]


def test_the_approval_policy_guards_the_watched_namespaces_only(
    namespaced: Namespaced, kube: Any
) -> None:
    """The release's ValidatingAdmissionPolicy binding follows watchNamespaces: there a
    user without `approve` may not approve; elsewhere this release has no say."""
    watched, other = namespaced.watched, namespaced.other
    rbac, core = client.RbacAuthorizationV1Api(kube), client.CoreV1Api(kube)
    for name in (watched, other):
        client.CustomObjectsApi(kube).create_namespaced_custom_object(
            GROUP,
            VERSION,
            name,
            "schemaversions",
            schemaversion_body("policy", secret="db", approval="Manual"),
        )
        core.create_namespaced_service_account(name, {"metadata": {"name": "editor"}})
        rbac.create_namespaced_role(
            name,
            {
                "metadata": {"name": "editor"},
                "rules": [
                    {"apiGroups": [GROUP], "resources": ["schemaversions"], "verbs": ["patch"]}
                ],
            },
        )
        rbac.create_namespaced_role_binding(
            name,
            {
                "metadata": {"name": "editor"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "editor",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "editor", "namespace": name}],
            },
        )
    approve = {"metadata": {"annotations": {"schemaop.io/approved-plan": "a" * 64}}}
    with as_service_account(kube, watched, "editor") as api:
        with pytest.raises(ApiException) as refused:
            client.CustomObjectsApi(api).patch_namespaced_custom_object(
                GROUP, VERSION, watched, "schemaversions", "policy", approve
            )
        # Refused by the policy, not by RBAC (the editor may patch).
        assert refused.value.status == 403 and "approve verb" in (refused.value.body or "")
    with as_service_account(kube, other, "editor") as api:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, other, "schemaversions", "policy", approve
        )
