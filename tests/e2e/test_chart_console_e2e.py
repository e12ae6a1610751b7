"""The chart's console end to end: `helm install` of charts/schemaop with
console.enabled=true; the console's pod, run by the local pod runner, has no API
token and its ServiceAccount no RBAC, answers its probe path, refuses the API
without a token, and with a person's token acts as that person (their RBAC
decides): it reaches the API server with the CA of the kube-root-ca.crt ConfigMap.

Its own module and release (namespaced mode, watching only its namespace), so
that no other release's operator sees its objects.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kube_support import (
    CHART,
    GROUP,
    LOCAL_IMAGE,
    VERSION,
    apply_crds,
    create_namespace,
    delete_namespace,
    delete_schemaversions,
    helm,
    poll,
    schemaversion_body,
)
from kubernetes import client

from devenv import cluster as devcluster
from devenv.util import free_port

RELEASE = "schemaop-ui"
CONSOLE = f"{RELEASE}-console"  # the console's Deployment, Service and ServiceAccount


@dataclasses.dataclass
class Release:
    namespace: str
    port: int
    notes: str


@pytest.fixture(scope="module")
def release(cluster: devcluster.Cluster, kube: Any) -> Iterator[Release]:
    apply_crds(cluster)  # crds.install=false: the CRDs of crds/ (or another release's)
    ns = create_namespace(kube, "console")
    port = free_port()
    notes = helm(
        cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        *LOCAL_IMAGE,
        "--set",
        f"watchNamespaces={{{ns}}}",
        "--set",
        "crds.install=false",
        "--set",
        f"operator.metricsPort={free_port()}",
        "--set",
        f"operator.healthPort={free_port()}",
        "--set",
        "console.enabled=true",
        "--set",
        f"console.port={port}",
        # The pod runner's pods are local processes: the API server is the cluster's.
        "--set",
        f"console.apiServer={cluster.server}",
        "--set",
        f"console.namespaces={{{ns}}}",
        "--wait",
        "--timeout",
        "120s",
    )
    try:
        yield Release(ns, port, notes)
    finally:
        try:
            delete_schemaversions(kube, ns)
        finally:
            helm(cluster, "uninstall", RELEASE, "--namespace", ns, "--wait", "--timeout", "60s")
            delete_namespace(kube, ns)


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _try_get(url: str) -> tuple[int, str] | None:
    try:
        return _get(url)
    except OSError:
        return None


def _console_pod(kube: Any, namespace: str) -> Any:
    def running() -> Any:
        pods = client.CoreV1Api(kube).list_namespaced_pod(
            namespace,
            label_selector=(
                f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=console"
            ),
        )
        return next((p for p in pods.items if p.status.phase == "Running"), None)

    return poll("the console pod to run", running, 90)


def test_the_console_pod_has_no_token_and_its_account_no_rbac(release: Release, kube: Any) -> None:
    assert f"Console (docs/console.md): Service {CONSOLE}, port 80" in release.notes
    pod = _console_pod(kube, release.namespace)
    assert pod.spec.service_account_name == CONSOLE
    assert pod.spec.automount_service_account_token is False
    # No token volume was added (the ServiceAccount admission plugin adds one otherwise).
    for volume in pod.spec.volumes:
        assert volume.projected is None and volume.secret is None, volume.name
    (container,) = pod.spec.containers
    assert container.args[0] == "console"
    assert not any(
        m.mount_path.startswith("/var/run/secrets/kubernetes.io") for m in container.volume_mounts
    )
    assert container.security_context.read_only_root_filesystem is True
    sa = client.CoreV1Api(kube).read_namespaced_service_account(CONSOLE, release.namespace)
    assert sa.automount_service_account_token is False
    rbac = client.RbacAuthorizationV1Api(kube)
    bindings = list(rbac.list_cluster_role_binding().items) + list(
        rbac.list_role_binding_for_all_namespaces().items
    )
    for binding in bindings:
        for subject in binding.subjects or []:
            assert not (subject.kind == "ServiceAccount" and subject.name == CONSOLE), (
                binding.metadata.name
            )
    service = client.CoreV1Api(kube).read_namespaced_service(CONSOLE, release.namespace)
    assert service.spec.type == "ClusterIP"


def test_healthz_answers_and_the_api_needs_a_token(release: Release) -> None:
    base = f"http://127.0.0.1:{release.port}"
    status, body = poll("the console's /healthz", lambda: _try_get(f"{base}/healthz"), 60)
    assert status == 200 and body.strip() == "ok"
    status, body = _get(f"{base}/api/session")
    assert status == 401, body
    assert json.loads(body)["error"]["code"] == "Unauthenticated"
    status, _ = _get(f"{base}/api/v1/schemaversions")
    assert status == 401


def test_with_a_token_the_console_acts_as_that_person(release: Release, kube: Any) -> None:
    """A ServiceAccount stands in for a person: bound to the chart's approver
    ClusterRole in the namespace, it sees the SchemaVersion there through the console."""
    ns = release.namespace
    core = client.CoreV1Api(kube)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "alice"}})
    client.RbacAuthorizationV1Api(kube).create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "alice-approves"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{RELEASE}-approver",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": ns}],
        },
    )
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP, VERSION, ns, "schemaversions", schemaversion_body("orders")
    )
    token = core.create_namespaced_service_account_token(
        "alice", ns, {"spec": {"expirationSeconds": 600}}
    ).status.token
    base = f"http://127.0.0.1:{release.port}"
    poll("the console's /healthz", lambda: _try_get(f"{base}/healthz"), 60)
    status, body = _get(f"{base}/api/session", token)
    assert status == 200, body
    assert json.loads(body)["user"] == f"system:serviceaccount:{ns}:alice"
    status, body = _get(f"{base}/api/v1/schemaversions", token)
    assert status == 200, body
    items = json.loads(body)["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == [(ns, "orders")]
    # A token the API server does not accept is no way in.
    assert _get(f"{base}/api/session", token[:-4] + "AAAA")[0] == 401
