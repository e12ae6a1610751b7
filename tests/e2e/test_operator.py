"""The operator end to end: real API server, real Job controller, real PostgreSQL.

Each test gets a namespace, a fresh database and its own operator process
(`schemaop operator -n NAMESPACE`); the migration Jobs run `schemaop job run`
through the local pod runner.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kube_support import (
    GROUP,
    VERSION,
    Operator,
    apply_crds,
    migration_body,
    operator_fixture,
    ready_at,
    schemaversion_body,
)
from kubernetes import client
from kubernetes.client.rest import ApiException

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv.util import stop_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def crds(cluster: devcluster.Cluster) -> None:
    apply_crds(cluster)


@pytest.fixture
def operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    yield from operator_fixture(namespace, tmp_path / "operator.log")


class Env:
    """The test's namespace, database and API helpers."""

    def __init__(self, kube: Any, namespace: str, dsn: str) -> None:
        self.ns = namespace
        self.dsn = dsn
        self.custom = client.CustomObjectsApi(kube)
        self.core = client.CoreV1Api(kube)
        self.batch = client.BatchV1Api(kube)

    def secret(self, name: str = "db", url: str | None = None) -> None:
        body = {
            "metadata": {"name": name},
            "data": {"url": base64.b64encode((url or self.dsn).encode()).decode()},
        }
        try:
            self.core.create_namespaced_secret(self.ns, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.replace_namespaced_secret(name, self.ns, body)

    def schemaversion(self, name: str = "db", **spec: Any) -> dict[str, Any]:
        body = schemaversion_body(name, **{"lockTimeout": "1s", **spec})
        return dict(
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.ns, "schemaversions", body
            )
        )

    def patch_sv(self, body: dict[str, Any], name: str = "db") -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.ns, "schemaversions", name, body
        )

    def migration(
        self,
        version: str,
        up: str,
        down: str | None = None,
        db: str = "db",
        name: str | None = None,
        **spec: Any,
    ) -> None:
        body = migration_body(version, up, down, db, name, **spec)
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.ns, "schemamigrations", body
        )

    def delete_migration(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, self.ns, "schemamigrations", name
        )

    def sv(self, name: str = "db") -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.ns, "schemaversions", name
            )
        )

    def condition(self, type_: str, name: str = "db") -> dict[str, Any]:
        for c in (self.sv(name).get("status") or {}).get("conditions") or []:
            if c["type"] == type_:
                return dict(c)
        return {}

    def wait(
        self, what: str, check: Callable[[], Any], timeout: float = 90.0, op: Operator | None = None
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.3)
        status = json.dumps((self.sv().get("status") or {}), indent=1)[:3000]
        tail = "\n".join(op.log().splitlines()[-40:]) if op else ""
        raise AssertionError(f"timed out waiting for {what}; status: {status}\n{tail}")

    def wait_ready(
        self, version: str, op: Operator | None = None, timeout: float = 90.0
    ) -> dict[str, Any]:
        def check() -> Any:
            sv = self.sv()
            return sv if ready_at(sv, version) else None

        return dict(self.wait(f"Ready at {version}", check, timeout, op))

    def wait_reason(
        self,
        type_: str,
        status: str,
        reason: str,
        op: Operator | None = None,
        timeout: float = 90.0,
    ) -> dict[str, Any]:
        def check() -> Any:
            c = self.condition(type_)
            return c if c.get("status") == status and c.get("reason") == reason else None

        return dict(self.wait(f"{type_}={status} ({reason})", check, timeout, op))

    def data_migration(self, name: str = "db") -> dict[str, Any]:
        """status.dataMigration (empty: none shown)."""
        return dict((self.sv(name).get("status") or {}).get("dataMigration") or {})

    def active_jobs(self) -> list[Any]:
        return [j for j in self.jobs() if not j.status.completion_time and not j.status.failed]

    def live_pods(self) -> list[Any]:
        """The migration pods not finished yet (a deleted Job's pod ends after SIGTERM)."""
        pods = self.core.list_namespaced_pod(self.ns, label_selector="schemaop.io/schemaversion=db")
        return [p for p in pods.items if p.status.phase not in ("Succeeded", "Failed")]

    def scalar(self, query: str) -> Any:
        """The first column of the first row of ``query`` on the test's database (None:
        no row)."""
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute(query).fetchone()
        return row[0] if row else None

    def jobs(self) -> list[Any]:
        return list(
            self.batch.list_namespaced_job(
                self.ns, label_selector="schemaop.io/schemaversion=db"
            ).items
        )

    def tables(self) -> set[str]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "select table_name from information_schema.tables where table_schema = 'public'"
            ).fetchall()
        return {r[0] for r in rows}

    def events(self) -> list[Any]:
        return list(self.core.list_namespaced_event(self.ns).items)


@pytest.fixture
def env(kube: Any, namespace: str, database: str) -> Env:
    return Env(kube, namespace, database)


def test_apply_then_ready_at_latest_then_a_new_migration(env: Env, operator: Operator) -> None:
    env.secret()
    env.migration(
        "1",
        "create table customers (id bigint primary key, email text not null)",
        "drop table customers",
    )
    env.migration(
        "2",
        "create table orders (id bigint primary key, customer_id bigint references customers)",
        "drop table orders",
    )
    env.schemaversion(snapshot={"policy": "Schema"})
    sv = env.wait_ready("2", operator)
    assert sv["status"]["targetVersion"] == "2"
    assert sv["status"]["rollbackPoints"][0]["kind"] == "Schema"
    assert sv["status"]["pending"] == 0
    assert {"customers", "orders"} <= env.tables()
    assert [h["version"] for h in sv["status"]["history"]][:2] == ["2", "1"]
    assert sv["status"]["schemaHash"]
    m1 = env.custom.get_namespaced_custom_object(
        GROUP, VERSION, env.ns, "schemamigrations", "db-v1"
    )
    assert m1["status"]["applied"] is True and len(m1["status"]["checksum"]) == 64

    wait_cmd = [
        sys.executable,
        "-m",
        "schemaop",
        "wait",
        "--schema-version",
        "db",
        "-n",
        env.ns,
        "--interval",
        "0.2",
    ]
    done = subprocess.run(
        [*wait_cmd, "--version", "2", "--timeout", "10"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with subprocess.Popen(
        [*wait_cmd, "--version", "3", "--timeout", "120"], stderr=subprocess.PIPE, text=True
    ) as waiter:
        try:
            env.migration(
                "3",
                "alter table orders add column note text",
                "alter table orders drop column note",
            )
            env.wait_ready("3", operator)
            _, waited = waiter.communicate(timeout=30)
        finally:
            stop_process(waiter)  # still waiting only if this test failed
    assert waiter.returncode == 0, waited
    timed_out = subprocess.run(
        [*wait_cmd, "--version", "9", "--timeout", "1"], check=False, capture_output=True, text=True
    )
    assert timed_out.returncode == 1 and "timed out" in timed_out.stderr
    assert len(env.jobs()) == 2
    reasons = {e.reason for e in env.events()}
    assert {"MigrationStarted", "Applied"} <= reasons
    # Metrics and liveness, served by the operator.
    text = operator.get(operator.metrics_port, "/metrics")
    labels = f'name="db",namespace="{env.ns}"'
    assert f"schemaop_schemaversion_ready{{{labels}}} 1.0" in text
    assert f"schemaop_migrations_pending{{{labels}}} 0.0" in text
    info = [line for line in text.splitlines() if line.startswith("schemaop_schemaversion_info{")]
    assert len(info) == 1 and 'current="3"' in info[0]
    assert "schemaop_reconcile_duration_seconds_count" in text
    operator.get(operator.health_port, "/healthz")


def test_manual_approval_runs_only_the_approved_hash(env: Env, operator: Operator) -> None:
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion(approval="Manual")
    pending = env.wait_reason("ApprovalPending", "True", "WaitingForApproval", operator)
    plan_hash = env.sv()["status"]["plan"]["hash"]
    assert plan_hash in pending["message"]
    env.patch_sv({"metadata": {"annotations": {"schemaop.io/approved-plan": "0" * 64}}})
    time.sleep(3)
    assert env.jobs() == [] and "a" not in env.tables()
    env.patch_sv({"metadata": {"annotations": {"schemaop.io/approved-plan": plan_hash}}})
    env.wait_ready("1", operator)
    assert "a" in env.tables()
    assert env.condition("ApprovalPending")["status"] == "False"


def test_rollback_by_lowering_the_target(env: Env, operator: Operator) -> None:
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.migration("2", "create table b (id int)", "drop table b")
    env.migration("3", "create table c (id int)")  # no down step
    env.schemaversion(targetVersion="2")
    env.wait_ready("2", operator)
    env.patch_sv({"spec": {"targetVersion": "1"}})
    env.wait_ready("1", operator)
    assert env.tables() == {"a"}
    env.patch_sv({"spec": {"targetVersion": "3"}})
    env.wait_ready("3", operator)
    env.patch_sv({"spec": {"targetVersion": "1"}})
    stalled = env.wait_reason("Stalled", "True", "DownMigrationMissing", operator)
    assert "3" in stalled["message"]
    assert env.tables() == {"a", "b", "c"}


def test_rollback_with_the_recorded_down_when_the_schemamigration_is_gone(
    env: Env, operator: Operator
) -> None:
    # What a Helm rollback or a GitOps prune does: the SchemaMigration of the top
    # version is deleted and the target goes down. The down SQL recorded in the
    # history when 3 was applied reverts it.
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.migration("2", "create table b (id int)", "drop table b")
    env.migration("3", "create table c (id int)", "drop table c")
    env.schemaversion(targetVersion="3")
    env.wait_ready("3", operator)
    env.delete_migration("db-v3")
    env.patch_sv({"spec": {"targetVersion": "2"}})
    sv = env.wait_ready("2", operator, timeout=120)
    assert env.tables() == {"a", "b"}
    note = "with the down SQL recorded at apply time; its SchemaMigration is gone"
    ready = env.condition("Ready")
    assert f"Rolled back 3 {note}" in ready["message"], ready
    started = [e.message for e in env.events() if e.reason == "MigrationStarted"]
    assert any(f"rolling back 3 {note}" in m for m in started), started
    newest = sv["status"]["history"][0]
    assert (newest["version"], newest["direction"]) == ("3", "down")


def test_failing_sql_stalls_with_the_error_and_a_fixed_set_recovers(
    env: Env, operator: Operator
) -> None:
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.migration(
        "2",
        "create table b (id int);\ninsert into b values (1);\ncreate tabel c (id int);",
        name="broken",
    )
    env.schemaversion()
    stalled = env.wait_reason("Stalled", "True", "MigrationFailed", operator)
    assert "42601" in stalled["message"] and "tabel" in stalled["message"]
    failure = env.sv()["status"]["failure"]
    assert failure["sqlstate"] == "42601" and failure["version"] == "2"
    assert env.tables() == {"a"}  # nothing of the failed step remains
    time.sleep(2)
    assert (
        len(env.jobs()) == 2
    )  # no retry of a permanent failure (one Job for v1+v2 plan)... see below
    env.delete_migration("broken")
    env.migration(
        "2",
        "create table b (id int);\ninsert into b values (1);\ncreate table c (id int);",
        name="fixed",
    )
    env.wait_ready("2", operator)
    assert env.tables() == {"a", "b", "c"}


def test_malformed_resources_are_refused_by_the_api_server(env: Env, crds: None) -> None:
    with pytest.raises(ApiException) as err:
        env.migration("01", "select 1")
    assert err.value.status == 422
    assert "dot-separated non-negative integers" in err.value.body
    env.migration("1", "select 1", name="m")
    with pytest.raises(ApiException) as err:
        env.custom.patch_namespaced_custom_object(
            GROUP, VERSION, env.ns, "schemamigrations", "m", {"spec": {"up": "select 2"}}
        )
    assert "immutable" in err.value.body
    with pytest.raises(ApiException) as err:
        env.schemaversion(approval="Sometimes")
    assert err.value.status == 422 and "approval" in err.value.body


def test_drift_and_no_secret_in_status_events_or_plan(env: Env, operator: Operator) -> None:
    password_dsn = env.dsn
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion(driftCheckInterval="10s")  # the CRD's minimum
    env.wait_ready("1", operator)
    assert env.condition("Drifted")["status"] == "False"
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        conn.execute("alter table a add column sneaky text")
    drifted = env.wait_reason("Drifted", "True", "Drifted", operator, timeout=60)
    assert "outside schemaop" in drifted["message"]
    assert "a" in env.tables() and env.condition("Ready")["status"] == "True"
    # Nothing secret anywhere the operator writes.
    blobs = [json.dumps(env.sv()), *(str(e.message) for e in env.events())]
    blobs += [json.dumps(cm.data) for cm in env.core.list_namespaced_config_map(env.ns).items]
    blobs += [json.dumps(client.ApiClient().sanitize_for_serialization(j)) for j in env.jobs()]
    for blob in blobs:
        assert password_dsn not in blob and "postgresql://" not in blob


def _api_requests(operator: Operator) -> dict[str, float]:
    """The operator's own API requests so far, by verb (its metrics)."""
    out = {}
    for line in operator.get(operator.metrics_port, "/metrics").splitlines():
        if line.startswith("schemaop_operator_api_requests_total{"):
            verb = line.split('verb="', 1)[1].split('"', 1)[0]
            out[verb] = float(line.rsplit(" ", 1)[1])
    return out


def test_an_idle_drift_check_makes_no_api_request(env: Env, operator: Operator) -> None:
    # The SchemaVersion, its Jobs and its Secret come from the operator's watches; a
    # check that finds what the last one found decides nothing again.
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion(driftCheckInterval="10s")  # the CRD's minimum
    env.wait_ready("1", operator)
    time.sleep(12)  # its own status writes back from the watch, one drift check
    before = _api_requests(operator)
    time.sleep(25)  # two drift checks at least
    after = _api_requests(operator)
    assert {v: n - before.get(v, 0) for v, n in after.items() if n != before.get(v, 0)} == {}
    # Drift is still seen by such a check.
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        conn.execute("alter table a add column sneaky text")
    env.wait_reason("Drifted", "True", "Drifted", operator, timeout=60)


def test_secret_missing_then_created_recovers(env: Env, operator: Operator) -> None:
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion()
    env.wait_reason("Ready", "False", "SecretNotFound", operator)
    env.secret()
    env.wait_ready("1", operator, timeout=60)


def test_operator_killed_while_its_job_runs_converges_with_one_job(
    env: Env, operator: Operator
) -> None:
    env.secret()
    env.migration("1", "select pg_sleep(4); create table a (id int)", "drop table a")
    env.schemaversion()
    env.wait("a running Job", env.jobs, 60, operator)
    operator.kill()
    time.sleep(1)
    operator.start()
    env.wait_ready("1", operator)
    assert len(env.jobs()) == 1


def test_database_down_for_a_while_recovers_without_help(
    env: Env, operator: Operator, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = devpg.start(tmp_path_factory.mktemp("pg-outage"))
    try:
        dsn = server.create_database("outage")
        env.secret(url=dsn)
        env.dsn = dsn
        env.migration("1", "create table a (id int)", "drop table a")
        env.schemaversion()
        env.wait_ready("1", operator)
        server.stop()
        env.migration("2", "create table b (id int)", "drop table b")
        env.wait_reason("Ready", "False", "DatabaseUnreachable", operator, timeout=60)
        outage_started = time.monotonic()
        time.sleep(25)  # about 30 s of outage in all
        assert env.condition("Ready")["reason"] in ("DatabaseUnreachable", "Retrying")
        server.start()
        assert time.monotonic() - outage_started >= 25
        env.wait_ready("2", operator, timeout=120)
    finally:
        server.destroy()


def test_rotated_secret_is_picked_up(
    env: Env, operator: Operator, postgres: devpg.Postgres
) -> None:
    postgres.psql(
        "DO $$ BEGIN CREATE ROLE rotate_me LOGIN PASSWORD 'first';"
        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    dbname = env.dsn.rsplit("/", 1)[1]
    postgres.psql(f'GRANT ALL ON DATABASE "{dbname}" TO rotate_me')
    postgres.psql("GRANT ALL ON SCHEMA public TO rotate_me", dbname=dbname)
    env.secret(url=postgres.dsn(dbname, user="rotate_me", password="first"))
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion()
    env.wait_ready("1", operator)
    postgres.psql("ALTER ROLE rotate_me PASSWORD 'second'")
    env.migration("2", "create table b (id int)", "drop table b")
    env.wait_reason("Stalled", "True", "AuthenticationFailed", operator, timeout=60)
    env.secret(url=postgres.dsn(dbname, user="rotate_me", password="second"))
    env.wait_ready("2", operator, timeout=60)


def test_destructive_change_blocks_then_rename_policy_keeps_the_data(
    env: Env, operator: Operator
) -> None:
    env.secret()
    env.migration(
        "1",
        "create table a (id int primary key, v text); insert into a values (1, 'x')",
        "drop table a",
    )
    env.migration("2", "alter table a drop column v", "alter table a add column v text")
    env.schemaversion(targetVersion="1")
    env.wait_ready("1", operator)
    env.patch_sv({"spec": {"targetVersion": "2"}})
    stalled = env.wait_reason("Stalled", "True", "DestructiveChange", operator)
    assert "SO102" in stalled["message"] or "drop" in stalled["message"].lower()
    assert env.sv()["status"]["plan"]["lint"]["errors"] >= 1
    m2 = env.custom.get_namespaced_custom_object(
        GROUP, VERSION, env.ns, "schemamigrations", "db-v2"
    )
    assert "lint" in m2["status"]  # linted alone with its set, where table a is new: no error
    assert env.jobs() and len(env.jobs()) == 1  # only the first plan ran
    env.patch_sv({"spec": {"destructive": "Rename"}})
    env.wait_ready("2", operator)
    with psycopg.connect(env.dsn) as conn:
        cols = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_name = 'a'"
            ).fetchall()
        }
    assert "v" not in cols and any("schemaop_dropped" in c for c in cols)
    points = env.wait(
        "the tombstone listed as a rollback point",
        lambda: [
            p for p in env.sv()["status"].get("rollbackPoints", []) if p["kind"] == "Tombstone"
        ],
        30,
        operator,
    )
    assert points[0]["version"] == "2" and "schemaop_dropped" in points[0]["ref"]
    env.patch_sv({"spec": {"targetVersion": "1"}})
    env.wait_ready("1", operator)
    with psycopg.connect(env.dsn) as conn:
        assert conn.execute("select v from a where id = 1").fetchone() == ("x",)


def test_secret_content_never_shows_even_when_malformed(env: Env, operator: Operator) -> None:
    """A Secret holding a URL with an unencoded '@' in its password, then not a URL at all:
    the status names the Secret and the problem; the password, whole or in part, shows
    nowhere: not in status, not in Events, not in the operator's log."""
    tail = f"kPw{uuid.uuid4().hex[:12]}"
    host_port = env.dsn.split("@", 1)[1]  # 127.0.0.1:PORT/dbname
    # A URL pasted as a schema name is refused at admission: it never reaches a plan.
    for field in ({"historySchema": f"postgresql://mig:Lea@{tail}@h/db"}, {"schemas": ["a:b"]}):
        with pytest.raises(ApiException) as err:
            env.schemaversion(name="pasted", **field)
        assert err.value.status == 422
    env.secret(url=f"postgresql://mig:Lea@{tail}@{host_port}")
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion()
    # Its own reason (not DatabaseUnreachable: no network heals it), Stalled.
    ready = env.wait_reason("Ready", "False", "InvalidConnectionSecret", operator)
    assert f"Secret {env.ns}/db key url" in ready["message"]
    assert "more than one '@'" in ready["message"]
    assert env.condition("Stalled")["reason"] == "InvalidConnectionSecret"

    def assert_nowhere(secret: str) -> None:
        blobs = [
            json.dumps(env.sv().get("status") or {}),
            *(f"{e.reason} {e.message}" for e in env.events()),
            operator.log(),
        ]
        for blob in blobs:
            for n in range(4, len(secret) + 1):
                for i in range(len(secret) - n + 1):
                    assert secret[i : i + n] not in blob, (secret[i : i + n], blob[-2000:])

    assert_nowhere(tail)
    assert env.jobs() == []
    # Not a URL at all (a bare password pasted into the Secret): libpq's parse error
    # would quote it; the status says what is wrong instead.
    junk = f"Junk{uuid.uuid4().hex[:12]}"
    env.secret(url=junk)

    def says_not_a_url() -> Any:
        c = env.condition("Ready")
        return c if "neither a postgresql://" in str(c.get("message")) else None

    env.wait("the not-a-URL message", says_not_a_url, 60, operator)
    time.sleep(2)  # a few more reconciles and log lines
    assert_nowhere(junk)
    assert_nowhere(tail)
    # Quotes, spaces and URL specials in the password, and words of the message itself.
    odd = f"Qu\"o'te {uuid.uuid4().hex[:10]}?#&="
    env.secret(url=f"postgresql://mig:{odd}cannot be used@x@{host_port}")

    def says_space() -> Any:
        c = env.condition("Ready")
        return c if "unencoded space" in str(c.get("message")) else None

    env.wait("the unencoded-space message", says_space, 60, operator)
    assert env.condition("Ready")["reason"] == "InvalidConnectionSecret"
    time.sleep(2)
    for word in odd.split():
        assert_nowhere(word)
