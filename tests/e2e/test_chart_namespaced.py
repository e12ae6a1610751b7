"""The Helm chart end to end, namespaced RBAC mode: the operator watches a list of
namespaces with a Role in each; it migrates there, and everywhere else the API
server refuses it (schemaop resources, Jobs, and above all Secrets).

Its own module, so that the cluster-wide release of test_chart_install.py is gone
before this one starts (two operators would both act on the same objects).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kube_support import (
    CHART,
    CRD_NAMES,
    GROUP,
    LOCAL_IMAGE,
    ROOT,
    VERSION,
    as_service_account,
    create_namespace,
    delete_namespace,
    delete_schemaversions,
    forbidden,
    helm,
    kubectl,
    migration_body,
    operator_pod,
    poll,
    schemaversion,
    schemaversion_body,
    secret_body,
    wait_ready,
)
from kubernetes import client
from kubernetes.client.rest import ApiException

from devenv import cluster as devcluster
from devenv.util import free_port

RELEASE = "schemaop-ns"


@pytest.fixture
def namespaces(cluster: devcluster.Cluster, kube: Any) -> Iterator[tuple[str, str, str]]:
    """(operator namespace, watched namespace, unwatched namespace) with the release installed."""
    # crds.install=false: the CRDs come from crds/ (or stay from test_chart_install.py's release).
    kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl(
        cluster,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"crd/{name}" for name in CRD_NAMES),
    )
    ns, watched, other = (create_namespace(kube, p) for p in ("schemaop", "watched", "other"))
    helm(
        cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        *LOCAL_IMAGE,
        "--set",
        f"watchNamespaces={{{watched}}}",
        "--set",
        "crds.install=false",
        "--set",
        f"operator.metricsPort={free_port()}",
        "--set",
        f"operator.healthPort={free_port()}",
        "--wait",
        "--timeout",
        "90s",
    )
    try:
        yield ns, watched, other
    finally:
        try:
            delete_schemaversions(kube, watched)
        finally:
            helm(cluster, "uninstall", RELEASE, "--namespace", ns, "--wait", "--timeout", "60s")
            for name in (ns, watched, other):
                delete_namespace(kube, name)


def _database_objects(kube: Any, namespace: str, dsn: str) -> None:
    client.CoreV1Api(kube).create_namespaced_secret(namespace, secret_body("db", dsn))
    custom = client.CustomObjectsApi(kube)
    body = migration_body("1", "create table a (id int)", "drop table a")
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "schemamigrations", body)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "schemaversions", schemaversion_body()
    )


def test_namespaced_mode_works_in_its_namespaces_and_is_denied_outside(
    namespaces: tuple[str, str, str], kube: Any, database: str, pod_log: Any
) -> None:
    ns, watched, other = namespaces
    pod = operator_pod(kube, ns, RELEASE)
    assert f"--namespace={watched}" in pod.spec.containers[0].args
    _database_objects(kube, watched, database)
    _database_objects(kube, other, database)
    wait_ready(kube, watched, "db", "1")
    job = client.BatchV1Api(kube).list_namespaced_job(watched).items[0]
    # Its run record, written with the chart's RBAC (the pod's log read included).
    (run,) = poll(
        "the run record of the Job",
        lambda: client.CustomObjectsApi(kube).list_namespaced_custom_object(
            GROUP, VERSION, watched, "schemamigrationruns"
        )["items"],
        60,
    )
    assert run["spec"]["job"]["name"] == job.metadata.name
    assert run["spec"]["outcome"] == "Succeeded" and run["spec"]["log"].get("tail"), run["spec"]
    assert job.spec.template.spec.service_account_name == f"{RELEASE}-job"
    # The unwatched namespace is not touched (no status, no Job).
    assert not schemaversion(kube, other, "db").get("status")
    assert not client.BatchV1Api(kube).list_namespaced_job(other).items

    with as_service_account(kube, ns, RELEASE) as api:
        custom, core, batch = (
            client.CustomObjectsApi(api),
            client.CoreV1Api(api),
            client.BatchV1Api(api),
        )
        # Allowed where it watches ...
        custom.list_namespaced_custom_object(GROUP, VERSION, watched, "schemaversions")
        core.read_namespaced_secret("db", watched)
        # ... and refused everywhere else.
        assert forbidden(
            lambda: custom.list_namespaced_custom_object(GROUP, VERSION, other, "schemaversions")
        )
        assert forbidden(lambda: core.read_namespaced_secret("db", other))
        assert forbidden(core.list_secret_for_all_namespaces)
        assert forbidden(lambda: batch.list_namespaced_job(other))
        assert forbidden(
            lambda: custom.list_cluster_custom_object(GROUP, VERSION, "schemaversions")
        )
        # Secrets: read only.
        assert forbidden(lambda: core.delete_namespaced_secret("db", watched))
    with as_service_account(kube, watched, f"{RELEASE}-job") as api:
        # The migration Jobs' account needs and has no API access at all.
        assert forbidden(
            lambda: client.CustomObjectsApi(api).list_namespaced_custom_object(
                GROUP, VERSION, watched, "schemaversions"
            )
        )
        assert forbidden(lambda: client.CoreV1Api(api).read_namespaced_secret("db", watched))
    log = pod_log(ns, pod.metadata.name, "operator")
    assert "Forbidden" not in log and "Not enough permissions" not in log, log[-3000:]


def test_the_approval_policy_guards_the_watched_namespaces_only(
    namespaces: tuple[str, str, str], kube: Any
) -> None:
    """The release's ValidatingAdmissionPolicy binding follows watchNamespaces: there a
    user without `approve` may not approve; elsewhere this release has no say."""
    _, watched, other = namespaces
    rbac, core = client.RbacAuthorizationV1Api(kube), client.CoreV1Api(kube)
    for name in (watched, other):
        custom = client.CustomObjectsApi(kube)
        custom.create_namespaced_custom_object(
            GROUP, VERSION, name, "schemaversions", schemaversion_body(approval="Manual")
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
                GROUP, VERSION, watched, "schemaversions", "db", approve
            )
        # Refused by the policy, not by RBAC (the editor may patch).
        assert refused.value.status == 403 and "approve verb" in (refused.value.body or "")
    with as_service_account(kube, other, "editor") as api:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, other, "schemaversions", "db", approve
        )
