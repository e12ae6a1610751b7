"""Retry now, end to end: the console's ``POST .../retry`` (with a person's own token)
sets ``schemaop.io/retry-requested``, and the operator starts the next attempt at
once instead of after the failure's backoff; the Job carries the value it answers.

A migration that cannot take its lock (the test holds the table's lock) fails with a
retryable lock timeout, again and again, until the lock is released. The operator
runs as a local process (as in test_kubectl_plugin_e2e.py).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from kube_support import (
    GROUP,
    VERSION,
    apply_crds,
    migration_body,
    poll,
    schemaversion,
    schemaversion_body,
    secret_body,
    wait_ready,
)
from kubernetes import client

from devenv import cluster as devcluster
from devenv.util import free_port, stop_process
from schemaop.console.app import running
from schemaop.console.config import ConsoleConfig
from schemaop.kube.builders import parse_time

pytestmark = pytest.mark.e2e

ANNOTATION = "schemaop.io/retry-requested"


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
        stop_process(proc)
        log.close()


def _token(kube: Any, namespace: str) -> str:
    """A token of a ServiceAccount that may read and patch SchemaVersions here."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "oncall"}})
    rules = [
        {"apiGroups": [GROUP], "resources": ["schemaversions"], "verbs": ["get", "patch"]},
    ]
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "oncall"}, "rules": rules})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "oncall"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall"},
            "subjects": [{"kind": "ServiceAccount", "name": "oncall", "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "oncall", namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    return str(token)


def _jobs(kube: Any, namespace: str) -> dict[int, Any]:
    jobs = client.BatchV1Api(kube).list_namespaced_job(
        namespace, label_selector="schemaop.io/schemaversion=db"
    )
    return {int(j.metadata.labels["schemaop.io/attempt"]): j for j in jobs.items}


async def test_retry_now_skips_the_backoff_once(
    kube: Any, namespace: str, database: str, operator: None
) -> None:
    client.CoreV1Api(kube).create_namespaced_secret(namespace, secret_body("db", database))
    custom = client.CustomObjectsApi(kube)
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "schemamigrations",
        migration_body("1", "create table t (id int)"),
    )
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "schemaversions",
        schemaversion_body(lockTimeout="100ms", lockRetries=1),
    )
    wait_ready(kube, namespace, "db", "1")

    with psycopg.connect(database, autocommit=False) as holder:
        holder.execute("lock table t in access exclusive mode")
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "schemamigrations",
            migration_body("2", "alter table t add column x int"),
        )

        def waiting() -> tuple[int, dt.datetime] | None:
            """(attempts failed, retry time) once a retry is at least 6 s away."""
            failure = (schemaversion(kube, namespace, "db").get("status") or {}).get("failure")
            retry_at = parse_time((failure or {}).get("retryAt"))
            if retry_at is None:
                return None
            if (retry_at - dt.datetime.now(dt.UTC)).total_seconds() < 6:
                return None  # too close to tell a skipped backoff apart: the next one
            return int(failure["attempts"]), retry_at

        attempts, retry_at = poll("a failed attempt waiting for its backoff", waiting, 240)

        config = ConsoleConfig(
            listen_port=0,
            api_server=kube.configuration.host,
            ca_file=kube.configuration.ssl_ca_cert,
            namespaces=(namespace,),
            secure_cookies=False,
        )
        token = _token(kube, namespace)
        async with running(config) as (_, port), aiohttp.ClientSession() as s:
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {token}"}
            async with s.get(f"{base}/api/session", headers=auth) as r:
                csrf = (await r.json())["csrfToken"]
            async with s.post(
                f"{base}/api/v1/namespaces/{namespace}/schemaversions/db/retry",
                headers={**auth, "X-CSRF-Token": csrf},
            ) as r:
                assert r.status == 200, await r.text()
                value = (await r.json())["retryRequested"]

        job = poll("the next attempt", lambda: _jobs(kube, namespace).get(attempts + 1), 60)
        assert job.metadata.creation_timestamp < retry_at, (job.metadata, retry_at)
        assert job.metadata.annotations[ANNOTATION] == value
        sv = schemaversion(kube, namespace, "db")
        assert sv["metadata"]["annotations"][ANNOTATION] == value
        holder.rollback()  # the lock goes: that attempt, or the next, applies version 2

    wait_ready(kube, namespace, "db", "2", timeout=240)
