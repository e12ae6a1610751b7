"""The Helm chart end to end, cluster-wide mode: `helm install` of charts/schemaop,
the operator Deployment's pod run by the local pod runner with the chart's own
ServiceAccount token, the examples reaching Ready on a real PostgreSQL through
a migration Job that runs as the chart's Job ServiceAccount, the manifests
passing a server-side dry run, and `helm upgrade` of the operator. (The app
chart's `helm upgrade`/`helm rollback`, the namespaced mode and the kubectl
plugin run on the real node: tests/realnode.)

One release serves the whole module (about 5 s to start); it is uninstalled at
the end, after the SchemaVersions are gone, so no finalizer is left behind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml
from kube_support import (
    APP_CHART,
    CHART,
    EXAMPLES,
    GROUP,
    LOCAL_IMAGE,
    ROOT,
    VERSION,
    adopt_crds,
    create_namespace,
    delete_namespace,
    delete_schemaversions,
    helm,
    http_get,
    kubectl,
    operator_pod,
    poll,
    secret_body,
    wait_ready,
)
from kubernetes import client

from devenv import cluster as devcluster
from devenv.util import free_port

RELEASE = "schemaop"


@dataclasses.dataclass
class Release:
    name: str
    namespace: str  # the operator's
    apps: str  # a namespace for the examples and the app chart
    metrics_port: int
    health_port: int
    notes: str = ""


@pytest.fixture(scope="module")
def release(cluster: devcluster.Cluster, kube: Any) -> Iterator[Release]:
    ns, apps = create_namespace(kube, "schemaop"), create_namespace(kube, "apps")
    rel = Release(RELEASE, ns, apps, free_port(), free_port())
    adopt_crds(cluster, RELEASE, ns)
    rel.notes = helm(
        cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        *LOCAL_IMAGE,
        "--set",
        f"operator.metricsPort={rel.metrics_port}",
        "--set",
        f"operator.healthPort={rel.health_port}",
        "--set",
        f"jobs.serviceAccount.namespaces={{{apps}}}",
        # kopf peering as with several replicas (one here: pods share the host's ports).
        "--set",
        "peering.enabled=true",
        "--wait",
        "--timeout",
        "90s",
    )
    try:
        yield rel
    finally:
        try:
            delete_schemaversions(kube, apps)
        finally:
            helm(cluster, "uninstall", RELEASE, "--namespace", ns, "--wait", "--timeout", "60s")
            delete_namespace(kube, apps)
            delete_namespace(kube, ns)


def _example(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


def test_operator_pod_runs_with_the_charts_service_account_and_serves_probes(
    release: Release, kube: Any
) -> None:
    assert "Scope: every namespace (cluster-wide RBAC)" in release.notes
    assert f"Migration Jobs run as ServiceAccount {RELEASE}-job (in: {release.apps})" in (
        release.notes
    )
    pod = operator_pod(kube, release.namespace, release.name)
    assert pod.spec.service_account_name == RELEASE
    container = pod.spec.containers[0]
    assert container.args[:3] == ["operator", "--all-namespaces", f"--peering={RELEASE}"]
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.run_as_non_root is True
    status, _ = poll(
        "the liveness endpoint",
        lambda: _try_get(f"http://127.0.0.1:{release.health_port}/healthz"),
        30,
    )
    assert status == 200
    status, body = http_get(f"http://127.0.0.1:{release.metrics_port}/metrics")
    assert status == 200 and "schemaop_reconcile_errors_total" in body
    crd = client.ApiextensionsV1Api(kube).read_custom_resource_definition(
        "schemaversions.schemaop.io"
    )
    assert crd.metadata.annotations["meta.helm.sh/release-name"] == RELEASE
    assert crd.metadata.annotations["helm.sh/resource-policy"] == "keep"
    # The peering object the chart made holds this operator's keep-alive.
    peering = poll(
        "a keep-alive in the ClusterKopfPeering",
        lambda: (
            client.CustomObjectsApi(kube)
            .get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", RELEASE)
            .get("status")
        ),
        30,
    )
    assert len(peering) == 1
    # --peering-priority=auto gave this replica its own priority (kopf's default is 0).
    assert next(iter(peering.values()))["priority"] > 0


def _try_get(url: str) -> Any:
    try:
        return http_get(url)
    except OSError:
        return None


def test_examples_reach_ready_through_a_job_with_the_job_service_account(
    release: Release, kube: Any, database: str
) -> None:
    core = client.CoreV1Api(kube)
    custom = client.CustomObjectsApi(kube)
    (secret,) = _example("00-secret.yaml")
    core.create_namespaced_secret(release.apps, secret_body(secret["metadata"]["name"], database))
    for doc in _example("10-schemaversion.yaml") + _example("20-migrations.yaml"):
        plural = "schemaversions" if doc["kind"] == "SchemaVersion" else "schemamigrations"
        custom.create_namespaced_custom_object(GROUP, VERSION, release.apps, plural, doc)
    sv = wait_ready(kube, release.apps, "orders", "3")
    assert sv["status"]["pending"] == 0
    jobs = client.BatchV1Api(kube).list_namespaced_job(
        release.apps, label_selector="schemaop.io/schemaversion=orders"
    )
    assert jobs.items, "no migration Job"
    for job in jobs.items:
        assert job.spec.template.spec.service_account_name == f"{RELEASE}-job"
        assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)
    sa = core.read_namespaced_service_account(f"{RELEASE}-job", release.apps)
    assert sa.automount_service_account_token is False
    with psycopg.connect(database) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_name = 'orders'"
            )
        }
    assert "note" in columns


def test_install_yaml_and_every_example_pass_a_server_side_dry_run(
    release: Release, cluster: devcluster.Cluster, kube: Any
) -> None:
    core = client.CoreV1Api(kube)
    created = False
    try:
        core.create_namespace({"metadata": {"name": "schemaop-system"}})
        created = True
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        out = kubectl(
            cluster, "apply", "--dry-run=server", "-f", str(ROOT / "manifests" / "install.yaml")
        )
        assert "deployment.apps/schemaop" in out
    finally:
        if created:
            delete_namespace(kube, "schemaop-system")
    for path in sorted(EXAMPLES.glob("*.yaml")):
        kubectl(cluster, "apply", "--dry-run=server", "-n", release.apps, "-f", str(path))
    rendered = helm(cluster, "template", "shop", str(APP_CHART), "--namespace", release.apps)
    kubectl(cluster, "apply", "--dry-run=server", "-n", release.apps, "-f", "-", stdin=rendered)


def test_helm_upgrade_of_the_operator_keeps_crds_and_objects(
    release: Release, cluster: devcluster.Cluster, kube: Any
) -> None:
    helm(
        cluster,
        "upgrade",
        release.name,
        str(CHART),
        "--namespace",
        release.namespace,
        "--reuse-values",
        "--wait",
        "--timeout",
        "90s",
    )
    history = yaml.safe_load(
        helm(cluster, "history", release.name, "--namespace", release.namespace, "-o", "yaml")
    )
    assert [h["status"] for h in history][-1] == "deployed" and len(history) == 2
    crd = client.ApiextensionsV1Api(kube).read_custom_resource_definition(
        "schemamigrations.schemaop.io"
    )
    assert crd.metadata.annotations["meta.helm.sh/release-name"] == RELEASE
    # The examples' SchemaVersion (test above; its database is gone by now) is untouched,
    # and the operator still answers.
    sv = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        GROUP, VERSION, release.apps, "schemaversions", "orders"
    )
    assert sv["status"]["history"][0]["version"] == "3"
    operator_pod(kube, release.namespace, release.name)
    assert http_get(f"http://127.0.0.1:{release.health_port}/healthz")[0] == 200
