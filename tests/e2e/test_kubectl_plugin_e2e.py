"""`kubectl schemaop` end to end: the real kubectl finds the plugin on PATH, and the
plugin reads and writes SchemaVersions with the user's kubeconfig, so RBAC
decides: an approver approves the shown plan and rolls back; a viewer reads
status but is refused approval by the API server.

The operator runs as a local process (`schemaop operator -n NAMESPACE`), as in
test_operator.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import (
    GROUP,
    VERSION,
    apply_crds,
    migration_body,
    plugin,
    poll,
    schemaversion,
    schemaversion_body,
    secret_body,
    viewer_kubeconfig,
    wait_ready,
)
from kubernetes import client

from devenv import cluster as devcluster
from devenv.util import free_port


@pytest.fixture
def operator(cluster: devcluster.Cluster, namespace: str, tmp_path: Path) -> Iterator[None]:
    apply_crds(cluster)
    log = (tmp_path / "operator.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "schemaop",
            "operator",
            "-n",
            namespace,
            "--job-image",
            "schemaop:dev",
            "--metrics-port",
            str(free_port()),
            "--health-port",
            str(free_port()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_plan_approve_rollback_and_rbac_through_kubectl(
    cluster: devcluster.Cluster,
    kube: Any,
    namespace: str,
    database: str,
    operator: None,
    tmp_path: Path,
) -> None:
    client.CoreV1Api(kube).create_namespaced_secret(namespace, secret_body("db", database))
    custom = client.CustomObjectsApi(kube)
    for version, up, down in (
        ("1", "create table a (id int)", "drop table a"),
        ("2", "create table b (id int)", "drop table b"),
    ):
        body = migration_body(version, up, down, description=f"table {version}")
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "schemamigrations", body)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "schemaversions", schemaversion_body(approval="Manual")
    )
    poll(
        "a plan waiting for approval",
        lambda: (
            (schemaversion(kube, namespace, "db").get("status") or {}).get("plan", {}).get("hash")
        ),
        60,
    )
    plan_hash = schemaversion(kube, namespace, "db")["status"]["plan"]["hash"]

    shown = plugin(cluster, "plan", "db", "-n", namespace)
    assert shown.returncode == 0, shown.stderr
    assert plan_hash[:12] in shown.stdout and "up   2  table 2" in shown.stdout

    # A viewer sees status, but the API server refuses the approval.
    viewer = viewer_kubeconfig(cluster, kube, namespace, tmp_path / "viewer.kubeconfig")
    listed = plugin(cluster, "status", kubeconfig=viewer)
    assert listed.returncode == 0, listed.stderr
    assert "db" in listed.stdout and "Pending" in listed.stdout
    refused = plugin(cluster, "approve", "db", "--plan", plan_hash[:12], kubeconfig=viewer)
    assert refused.returncode == 1
    assert "403" in refused.stderr and "RBAC" in refused.stderr
    assert "Traceback" not in refused.stderr

    stale = plugin(cluster, "approve", "db", "-n", namespace, "--plan", "deadbeefdead")
    assert stale.returncode == 1 and "review it again" in stale.stderr
    approved = plugin(cluster, "approve", "db", "-n", namespace, "--plan", plan_hash[:12])
    assert approved.returncode == 0, approved.stderr
    wait_ready(kube, namespace, "db", "2")

    history = plugin(cluster, "history", "db", "-n", namespace)
    assert history.returncode == 0
    assert [line.split()[0] for line in history.stdout.splitlines()[1:3]] == ["2", "1"]

    refused = plugin(cluster, "rollback", "db", "-n", namespace, "--to", "1")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    rolled = plugin(cluster, "rollback", "db", "-n", namespace, "--to", "1", "--yes")
    assert rolled.returncode == 0, rolled.stderr
    assert "down 2" in rolled.stdout
    # Manual approval applies to the rollback plan too.
    poll(
        "the rollback plan",
        lambda: (
            (schemaversion(kube, namespace, "db").get("status") or {})
            .get("plan", {})
            .get("direction")
            == "down"
        ),
        60,
    )
    assert plugin(cluster, "approve", "db", "-n", namespace).returncode == 0
    wait_ready(kube, namespace, "db", "1")
    detail = plugin(cluster, "status", "db", "-n", namespace)
    assert "current version:  1" in detail.stdout
