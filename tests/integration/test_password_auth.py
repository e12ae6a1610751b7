"""A password from passwordFrom is sent only by SCRAM (libpq require_auth), on a real
PostgreSQL whose pg_hba.conf asks some users for it in cleartext or as md5."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from devenv.pg import Postgres
from schemaop import engine, planner
from schemaop.engine.errors import AuthMethodRefused, SnapshotFailed
from schemaop.engine.snapshot import schema_dump
from schemaop.model import Migration, MigrationSet, RunOptions, Version
from schemaop.model.conditions import Reason
from schemaop.operator.reconcile import _engine_error

PASSWORD = f"Pw-{uuid.uuid4().hex}"


@pytest.fixture
def users(postgres: Postgres, database: str) -> Iterator[dict[str, str]]:
    """One login role per method (password, md5, scram-sha-256), pg_hba.conf lines for them
    ahead of the others; yields method -> DSN (with the password)."""
    tag = uuid.uuid4().hex[:8]
    names = {method: f"u_{method.replace('-', '_')}_{tag}" for method in ("password", "md5")}
    names["scram-sha-256"] = f"u_scram_{tag}"
    hba = postgres.datadir / "pg_hba.conf"
    before = hba.read_text()
    lines = "".join(f"host all {user} 127.0.0.1/32 {method}\n" for method, user in names.items())
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        for method, user in names.items():
            # md5 only asks for md5 when the stored password is md5 (else SCRAM).
            encryption = "md5" if method == "md5" else "scram-sha-256"
            conn.execute(sql.SQL("SET password_encryption = {}").format(sql.Literal(encryption)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(PASSWORD)
                )
            )
        hba.write_text(lines + before)
        conn.execute("SELECT pg_reload_conf()")
    dbname = urlsplit(database).path.lstrip("/")
    with psycopg.connect(database, autocommit=True) as conn:
        for user in names.values():
            conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(user)))
            conn.execute(
                sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                    sql.Identifier(dbname), sql.Identifier(user)
                )
            )
    try:
        yield {
            method: f"postgresql://{user}:{PASSWORD}@127.0.0.1:{postgres.port}/{dbname}"
            for method, user in names.items()
        }
    finally:
        hba.write_text(before)
        with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def test_the_methods_are_real(users: dict[str, str]) -> None:
    # Without require_auth every one logs in: the server really asks each way.
    for dsn in users.values():
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("method", ["password", "md5"])
def test_cleartext_and_md5_are_refused_before_the_password_is_sent(
    users: dict[str, str], method: str
) -> None:
    # As the operator connects for a passwordFrom Secret (require_auth in the string).
    with pytest.raises(AuthMethodRefused) as err:
        engine.connect(users[method] + "?require_auth=scram-sha-256", source="test")
    message = str(err.value)
    assert PASSWORD not in message and "scram-sha-256" in message and "urlFrom" in message
    summary = _engine_error(err.value)
    assert summary.reason is Reason.AUTHENTICATION_FAILED and not summary.retryable


def test_scram_works(users: dict[str, str]) -> None:
    with engine.connect(users["scram-sha-256"] + "?require_auth=scram-sha-256") as conn:
        assert conn.execute("SELECT current_user").fetchone() is not None


@pytest.mark.parametrize(("method", "code"), [("md5", 1), ("password", 1), ("scram-sha-256", 0)])
def test_a_job_environment_with_pgrequireauth(
    users: dict[str, str], method: str, code: int, tmp_path: object
) -> None:
    # As a Job gets it from kube/builders.py: PG* variables and PGREQUIREAUTH.
    from pathlib import Path

    parts = urlsplit(users[method])
    directory = Path(str(tmp_path))
    (directory / "V1__t.sql").write_text("CREATE TABLE t (id int);\n")
    out = subprocess.run(
        [sys.executable, "-m", "schemaop", "migrate", "--dir", str(directory)],
        env={
            "PATH": "/usr/bin:/bin",
            "PGHOST": str(parts.hostname),
            "PGPORT": str(parts.port),
            "PGDATABASE": parts.path.lstrip("/"),
            "PGUSER": str(parts.username),
            "PGPASSWORD": PASSWORD,
            "PGREQUIREAUTH": "scram-sha-256",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == code, out
    assert PASSWORD not in out.stdout + out.stderr
    if code:
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "cleartext or as an md5 hash" in lines[0], out.stderr


def test_pg_dump_gets_the_requirement_too(
    users: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREQUIREAUTH", "scram-sha-256")
    dsn = users["scram-sha-256"]
    steps = [Migration(Version("1"), "t", "CREATE TABLE t (id int);")]
    opts = RunOptions(snapshot="Schema")
    with engine.connect(dsn) as conn:
        state = engine.read_state(conn)
    the_plan = planner.plan(MigrationSet(steps), state, "latest", options=opts)
    result = engine.run_plan(lambda: engine.connect(dsn), the_plan)
    # Debian bookworm's pg_dump (15) predates require_auth: it runs with psycopg's
    # bundled libpq then (engine.snapshot), so the snapshot is taken all the same.
    assert result.ok, result.to_dict()
    assert result.applied_count == 1


@pytest.mark.parametrize("method", ["password", "md5"])
def test_pg_dump_does_not_answer_cleartext_or_md5(
    users: dict[str, str], method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection made without the requirement (as a server that changed its mind
    # between the runner's connection and pg_dump's would be): pg_dump still refuses.
    with engine.connect(users[method]) as conn:
        monkeypatch.setenv("PGREQUIREAUTH", "scram-sha-256")
        with pytest.raises(SnapshotFailed) as err:
            schema_dump(conn, ["public"])
    assert PASSWORD not in err.value.message
    assert "server requested" in err.value.message or "require_auth" in err.value.message
