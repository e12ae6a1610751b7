"""Approving is a right of its own, and Secrets are used only when labelled: the Helm
chart end to end, cluster-wide, with ``secrets.selector`` set.

- The chart's ValidatingAdmissionPolicy: a user with ``patch`` (and ``create``) on
  SchemaVersions but no ``approve`` is refused, by the API server, setting the
  annotation ``schemaop.io/approved-plan``, switching ``approval`` to Automatic and
  creating an Automatic SchemaVersion; a user bound to the chart's approver
  ClusterRole approves through ``kubectl schemaop approve`` (a prefix given, the
  full hash written) and the plan runs. Pointing an approved or Automatic
  SchemaVersion at another ``spec.connection`` or ``spec.historySchema`` needs
  ``approve`` too, unless the annotation goes in the same change (Manual).
- ``secrets.selector``: a SchemaVersion naming an unlabelled Secret stalls with
  ``SecretNotLabelled`` (no Job), runs once the Secret is labelled, and the
  operator's own token may ``get`` Secrets but not list them.

Its own module: one cluster-wide release, gone before the next chart module starts
(two operators would act on the same objects).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_support import (
    CHART,
    GROUP,
    LOCAL_IMAGE,
    VERSION,
    adopt_crds,
    as_service_account,
    create_namespace,
    delete_namespace,
    delete_schemaversions,
    forbidden,
    helm,
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
from devenv import pg as devpg
from devenv.util import free_port

RELEASE = "schemaop-approval"
APPROVER_ROLE = f"{RELEASE}-approver"
LABEL = "schemaop.io/database"
ANNOTATION = "schemaop.io/approved-plan"


@pytest.fixture(scope="module")
def release(cluster: devcluster.Cluster, kube: Any) -> Iterator[tuple[str, str]]:
    """(operator namespace, apps namespace) with the release installed cluster-wide."""
    ns, apps = create_namespace(kube, "schemaop"), create_namespace(kube, "apps")
    adopt_crds(cluster, RELEASE, ns)
    helm(
        cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        *LOCAL_IMAGE,
        "--set",
        f"operator.metricsPort={free_port()}",
        "--set",
        f"operator.healthPort={free_port()}",
        "--set",
        f"secrets.selector={LABEL}=true",
        "--wait",
        "--timeout",
        "90s",
    )
    try:
        yield ns, apps
    finally:
        try:
            delete_schemaversions(kube, apps)
        finally:
            helm(cluster, "uninstall", RELEASE, "--namespace", ns, "--wait", "--timeout", "60s")
            delete_namespace(kube, apps)
            delete_namespace(kube, ns)


def _user(kube: Any, namespace: str, name: str, role: tuple[str, str]) -> None:
    """A ServiceAccount ``name`` bound in ``namespace`` to the Role or ClusterRole ``role``."""
    client.CoreV1Api(kube).create_namespaced_service_account(
        namespace, {"metadata": {"name": name}}
    )
    kind, role_name = role
    client.RbacAuthorizationV1Api(kube).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )


def _kubeconfig(
    cluster: devcluster.Cluster, kube: Any, namespace: str, sa: str, path: Path
) -> Path:
    token = (
        client.CoreV1Api(kube)
        .create_namespaced_service_account_token(
            sa, namespace, {"spec": {"expirationSeconds": 600}}
        )
        .status.token
    )
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context = {"cluster": admin["clusters"][0]["name"], "user": sa, "namespace": namespace}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": admin["clusters"],
                "users": [{"name": sa, "user": {"token": token}}],
                "contexts": [{"name": sa, "context": context}],
                "current-context": sa,
            }
        )
    )
    path.chmod(0o600)
    return path


def _plugin(cluster: devcluster.Cluster, kubeconfig: Path, *args: str) -> Any:
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{cluster.bin_dir}:{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig),
    }
    return subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "schemaop", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _refused(call: Callable[[], Any], *words: str) -> str:
    """The message of a 403 refusal of ``call``; fails on success or another error."""
    try:
        call()
    except ApiException as exc:
        assert exc.status == 403, exc.body
        for word in words:
            assert word in (exc.body or ""), exc.body
        return str(exc.body)
    raise AssertionError("the API server allowed it")


def _condition(sv: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(
        (c for c in (sv.get("status") or {}).get("conditions") or [] if c["type"] == type_), {}
    )


def test_only_an_approver_approves_a_plan_or_makes_a_schemaversion_automatic(
    release: tuple[str, str],
    cluster: devcluster.Cluster,
    kube: Any,
    postgres: devpg.Postgres,
    tmp_path: Path,
) -> None:
    _, apps = release
    dsn = postgres.create_database(f"approval_{apps.replace('-', '_')}")
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    for secret in ("db", "prod"):  # "prod": another database, in the story (same DSN here)
        core.create_namespaced_secret(
            apps,
            {**secret_body(secret, dsn), "metadata": {"name": secret, "labels": {LABEL: "true"}}},
        )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, apps, "schemamigrations", migration_body("1", "create table a (id int)")
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, apps, "schemaversions", schemaversion_body(approval="Manual")
    )
    # alice may create and patch SchemaVersions, but has no approve; bob is an approver.
    client.RbacAuthorizationV1Api(kube).create_namespaced_role(
        apps,
        {
            "metadata": {"name": "editor"},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": ["schemaversions", "schemamigrations"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update"],
                }
            ],
        },
    )
    _user(kube, apps, "alice", ("Role", "editor"))
    _user(kube, apps, "bob", ("ClusterRole", APPROVER_ROLE))

    def waiting() -> Any:
        sv = schemaversion(kube, apps, "db")
        return sv if _condition(sv, "ApprovalPending").get("status") == "True" else None

    sv = poll("a plan waiting for approval", waiting, 120)
    plan_hash = sv["status"]["plan"]["hash"]

    with as_service_account(kube, apps, "alice") as api:
        as_alice = client.CustomObjectsApi(api)

        def patch(body: dict[str, Any]) -> Callable[[], Any]:
            return lambda: as_alice.patch_namespaced_custom_object(
                GROUP, VERSION, apps, "schemaversions", "db", body
            )

        # alice's patch right is real: she may change other things ...
        patch({"metadata": {"labels": {"team": "shop"}}})()
        # ... but approving, by annotation or by Automatic, is refused by the API server.
        message = _refused(
            patch({"metadata": {"annotations": {ANNOTATION: plan_hash}}}),
            "approve verb",
            APPROVER_ROLE,
        )
        assert "alice" in message
        _refused(patch({"spec": {"approval": "Automatic"}}), "approval: Automatic")

        def create(name: str, annotations: dict[str, str] | None = None, **spec: Any) -> Any:
            body = schemaversion_body(name, **spec)
            if annotations:
                body["metadata"]["annotations"] = annotations
            return as_alice.create_namespaced_custom_object(
                GROUP, VERSION, apps, "schemaversions", body
            )

        # A second, Automatic SchemaVersion of the same database would bypass the gate.
        _refused(lambda: create("db-auto"), "approval: Automatic")
        _refused(lambda: create("db-auto", approval="Automatic"), "approval: Automatic")
        _refused(
            lambda: create("db-pre", {ANNOTATION: plan_hash}, approval="Manual"), "approve verb"
        )
        create("db-manual", approval="Manual")  # a Manual one is hers to create
    # The plugin says why, and the plan still waits.
    alice = _kubeconfig(cluster, kube, apps, "alice", tmp_path / "alice")
    refused = _plugin(cluster, alice, "approve", "db", "--plan", plan_hash[:12])
    assert refused.returncode == 1
    assert "403" in refused.stderr and "approve on schemaversions" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert ANNOTATION not in (schemaversion(kube, apps, "db")["metadata"].get("annotations") or {})

    bob = _kubeconfig(cluster, kube, apps, "bob", tmp_path / "bob")
    approved = _plugin(cluster, bob, "approve", "db", "--plan", plan_hash[:12])
    assert approved.returncode == 0, approved.stderr
    wait_ready(kube, apps, "db", "1")
    # The plugin took a prefix and wrote the full hash: only that approves.
    assert schemaversion(kube, apps, "db")["metadata"]["annotations"][ANNOTATION] == plan_hash

    to_prod = {"spec": {"connection": {"urlFrom": {"secretKeyRef": {"name": "prod"}}}}}
    withdraw = {"metadata": {"annotations": {ANNOTATION: None}}}
    with as_service_account(kube, apps, "alice") as api:
        as_alice = client.CustomObjectsApi(api)

        def alice_patches(name: str, body: dict[str, Any]) -> Callable[[], Any]:
            return lambda: as_alice.patch_namespaced_custom_object(
                GROUP, VERSION, apps, "schemaversions", name, body
            )

        # An approval is of a plan for one database: re-pointing an approved
        # SchemaVersion (same history elsewhere, same plan hash) or its history
        # table (applied migrations pending again) would carry it along.
        message = _refused(alice_patches("db", to_prod), "spec.connection", APPROVER_ROLE)
        assert "alice" in message
        _refused(alice_patches("db", {"spec": {"historySchema": "elsewhere"}}), "spec.connection")
        # Withdrawing the approval in the same change leaves nothing approved: free.
        alice_patches("db", {**withdraw, **to_prod})()
        sv = schemaversion(kube, apps, "db")
        assert ANNOTATION not in (sv["metadata"].get("annotations") or {})
        assert sv["spec"]["connection"]["urlFrom"]["secretKeyRef"]["name"] == "prod"
    with as_service_account(kube, apps, "bob") as api:
        as_bob = client.CustomObjectsApi(api)
        as_bob.patch_namespaced_custom_object(
            GROUP, VERSION, apps, "schemaversions", "db-manual", {"spec": {"approval": "Automatic"}}
        )
    with as_service_account(kube, apps, "alice") as api:
        as_alice = client.CustomObjectsApi(api)
        # Automatic is a standing approval for its database: re-pointing it is
        # like creating an Automatic SchemaVersion for another one.
        _refused(alice_patches("db-manual", to_prod), "spec.connection", "approval: Automatic")
        _refused(
            alice_patches("db-manual", {**withdraw, **to_prod}),
            "spec.connection",
        )
    with as_service_account(kube, apps, "bob") as api:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, apps, "schemaversions", "db-manual", to_prod
        )
    with as_service_account(kube, apps, "alice") as api:
        as_alice = client.CustomObjectsApi(api)
        # Adding a gate approves nothing: free; and a Manual, unapproved one is hers to re-point.
        alice_patches("db-manual", {"spec": {"approval": "Manual"}})()
        back = {"spec": {"connection": {"urlFrom": {"secretKeyRef": {"name": "db"}}}}}
        alice_patches("db-manual", back)()


def test_an_unlabelled_secret_stalls_until_labelled_and_secrets_are_never_listed(
    release: tuple[str, str], kube: Any, postgres: devpg.Postgres, pod_log: Any
) -> None:
    ns, apps = release
    dsn = postgres.create_database(f"labels_{apps.replace('-', '_')}")
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    core.create_namespaced_secret(apps, secret_body("plain", dsn))
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        apps,
        "schemamigrations",
        migration_body("1", "create table b (id int)", db="db-plain"),
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, apps, "schemaversions", schemaversion_body("db-plain", secret="plain")
    )

    def stalled() -> Any:
        sv = schemaversion(kube, apps, "db-plain")
        c = _condition(sv, "Stalled")
        return sv if c.get("status") == "True" and c.get("reason") == "SecretNotLabelled" else None

    sv = poll("Stalled with SecretNotLabelled", stalled, 90)
    message = _condition(sv, "Ready")["message"]
    assert f"kubectl label secret plain -n {apps} {LABEL}=true" in message, message
    assert dsn not in str(sv["status"])
    assert (
        not client.BatchV1Api(kube)
        .list_namespaced_job(apps, label_selector="schemaop.io/schemaversion=db-plain")
        .items
    )

    core.patch_namespaced_secret("plain", apps, {"metadata": {"labels": {LABEL: "true"}}})
    wait_ready(kube, apps, "db-plain", "1", timeout=150)

    sa = RELEASE
    with as_service_account(kube, ns, sa) as api:
        as_operator = client.CoreV1Api(api)
        as_operator.read_namespaced_secret("plain", apps)  # get by name: allowed
        assert forbidden(lambda: as_operator.list_namespaced_secret(apps))
        assert forbidden(as_operator.list_secret_for_all_namespaces)
    pod = operator_pod(kube, ns, RELEASE)
    assert f"--secret-selector={LABEL}=true" in pod.spec.containers[0].args
    log = pod_log(ns, pod.metadata.name, "operator")
    assert "Forbidden" not in log and "Not enough permissions" not in log, log[-3000:]
