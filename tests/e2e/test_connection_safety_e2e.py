"""Connections the operator refuses before any Job, on the real API server: a database
behind PgBouncer in transaction mode (ConnectionPooled), and a passwordFrom Secret
whose password may not go to the spec's host (HostNotAllowed); each recovers once
its configuration is fixed, the second through a real Job that logs in by SCRAM only.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kube_support import apply_crds, operator_fixture
from kubernetes.client.rest import ApiException
from test_operator import Env, Operator

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv.pgbouncer import PgBouncer


@pytest.fixture(scope="module")
def crds(cluster: devcluster.Cluster) -> None:
    apply_crds(cluster)


@pytest.fixture
def env(kube: Any, namespace: str, database: str) -> Env:
    return Env(kube, namespace, database)


@pytest.fixture
def operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    yield from operator_fixture(namespace, tmp_path / "operator.log")


def test_transaction_pooling_stalls_before_a_job_and_a_direct_url_recovers(
    env: Env, operator: Operator, pgbouncer: dict[str, PgBouncer]
) -> None:
    env.secret(url=pgbouncer["transaction"].via(env.dsn))
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion()
    stalled = env.wait_reason("Stalled", "True", "ConnectionPooled", operator)
    assert "direct URL" in stalled["message"]
    assert env.jobs() == []
    assert "a" not in env.tables()
    env.secret(url=env.dsn)
    env.wait_ready("1", operator)


def password_secret(env: Env, password: str, allowed: str | None) -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "pw"},
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }
    if allowed is not None:
        body["metadata"]["annotations"] = {"schemaop.io/allowed-hosts": allowed}
    try:
        env.core.create_namespaced_secret(env.ns, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        env.core.replace_namespaced_secret("pw", env.ns, body)


def test_password_secret_names_its_hosts_and_the_job_uses_scram(
    env: Env, operator: Operator, postgres: devpg.Postgres
) -> None:
    user, password = f"scram_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    dbname = urlsplit(env.dsn).path.lstrip("/")
    postgres.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    postgres.psql(f'GRANT ALL ON DATABASE "{dbname}" TO {user}')
    postgres.psql(f"GRANT ALL ON SCHEMA public TO {user}", dbname=dbname)
    password_secret(env, password, allowed="db.elsewhere.example")
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion(
        connection={
            "host": "127.0.0.1",
            "port": postgres.port,
            "dbname": dbname,
            "user": user,
            "passwordFrom": {"secretKeyRef": {"name": "pw", "key": "password"}},
        }
    )
    stalled = env.wait_reason("Stalled", "True", "HostNotAllowed", operator)
    assert "127.0.0.1" in stalled["message"] and "db.elsewhere.example" not in stalled["message"]
    assert env.jobs() == []
    password_secret(env, password, allowed=f"db.elsewhere.example,127.0.0.1:{postgres.port}")
    env.wait_ready("1", operator, timeout=120)
    (job,) = env.jobs()
    env_vars = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
    assert env_vars["PGREQUIREAUTH"] == "scram-sha-256"
    assert password not in operator.log()
