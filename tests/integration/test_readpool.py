"""The operator's kept read-only connections on a real PostgreSQL (engine/readpool.py, issue 14)."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from devenv.pg import Postgres
from schemaop.engine.errors import AuthenticationFailed
from schemaop.engine.observe import read_database
from schemaop.engine.readpool import ReadPool

OWNER = ("ns", "sv")


def backend_pid(pool: ReadPool, dsn: str, owner: object = OWNER) -> int:
    with pool.connection(dsn, timeout=5, source="test", owner=owner) as conn:
        row = conn.execute("SELECT pg_catalog.pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])


def operator_backends(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_stat_activity"
            " WHERE application_name = 'schemaop-operator' AND datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0])


def wait_for_backends(dsn: str, count: int) -> None:
    # A closed connection's backend leaves pg_stat_activity a moment later.
    deadline = time.monotonic() + 15
    while operator_backends(dsn) != count:
        assert time.monotonic() < deadline, f"{operator_backends(dsn)} backends, not {count}"
        time.sleep(0.1)


def test_reads_reuse_one_read_only_connection(database: str) -> None:
    pool = ReadPool()
    try:
        for _ in range(3):
            state, fingerprint, points = read_database(
                database, "schemaop", ["public"], 5, "test", pool=pool, owner=OWNER
            )
            assert not state.history_exists and fingerprint is None and points == []
        assert pool.stats() == {"databases": 1, "idle": 1}
        assert operator_backends(database) == 1
        assert backend_pid(pool, database) == backend_pid(pool, database)
        with pool.connection(database, timeout=5, source="test", owner=OWNER) as conn:
            settings = conn.execute(
                "SELECT pg_catalog.current_setting('default_transaction_read_only'),"
                " pg_catalog.current_setting('statement_timeout')"
            ).fetchone()
            assert settings == ("on", "30s")
        assert pool.stats()["idle"] == 1
        with (
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
            pool.connection(database, timeout=5, source="test", owner=OWNER) as conn,
        ):
            conn.execute("CREATE TABLE nope (a int)")
        # A connection whose read failed is closed, not given back.
        assert pool.stats()["idle"] == 0
    finally:
        pool.close()


def test_a_killed_backend_is_replaced(database: str) -> None:
    pool = ReadPool()
    try:
        first = backend_pid(pool, database)
        with psycopg.connect(database, autocommit=True) as admin:
            admin.execute("SELECT pg_catalog.pg_terminate_backend(%s)", (first,))
        state, _, _ = read_database(
            database, "schemaop", ["public"], 5, "test", pool=pool, owner=OWNER
        )
        assert not state.history_exists
        assert backend_pid(pool, database) != first
    finally:
        pool.close()


def test_a_new_connection_string_closes_the_old_ones_and_cleanup_closes_all(
    database: str,
) -> None:
    pool = ReadPool()
    other = psycopg.conninfo.make_conninfo(database, connect_timeout="7")
    assert other != database
    try:
        with pool.connection(database, timeout=5, source="test", owner=OWNER) as old:
            pass
        with pool.connection(other, timeout=5, source="test", owner=OWNER) as new:
            pass
        # The Secret changed: the old string's connection is closed, the new one kept.
        assert old.closed and not new.closed
        assert pool.stats() == {"databases": 1, "idle": 1}
        # Another SchemaVersion on the same string keeps it open when this one goes.
        backend_pid(pool, other, owner=("ns", "second"))
        pool.release(OWNER)
        assert pool.stats()["idle"] == 1
        pool.release(("ns", "second"))
        assert pool.stats() == {"databases": 0, "idle": 0} and new.closed
        backend_pid(pool, database)
        wait_for_backends(database, 1)
    finally:
        pool.close()
    assert pool.stats() == {"databases": 0, "idle": 0}
    wait_for_backends(database, 0)


def test_bounded_per_database_and_in_databases(postgres: object, database: str) -> None:
    pool = ReadPool(per_database=1, max_databases=1)
    try:
        with (
            pool.connection(database, timeout=5, source="test") as a,
            pool.connection(database, timeout=5, source="test") as b,
        ):
            assert a is not b
        assert pool.stats() == {"databases": 1, "idle": 1}
        assert a.closed != b.closed  # one of the two was closed, one kept
        other = psycopg.conninfo.make_conninfo(database, connect_timeout="7")
        with pool.connection(other, timeout=5, source="test"):
            pass
        assert pool.stats() == {"databases": 1, "idle": 1}  # the least recent closed
        assert a.closed and b.closed
    finally:
        pool.close()


def test_idle_connections_expire() -> None:
    now = [0.0]

    class FakeConn:
        closed = False
        broken = False

        class info:  # the shape of psycopg's ConnectionInfo
            transaction_status = psycopg.pq.TransactionStatus.IDLE

        def close(self) -> None:
            self.closed = True

        def execute(self, query: str) -> FakeConn:
            return self

        def fetchone(self) -> tuple[str]:
            return ("on",)

    opened: list[FakeConn] = []

    def opener(conninfo: str, timeout: int, source: str) -> FakeConn:
        opened.append(FakeConn())
        return opened[-1]

    pool = ReadPool(idle_timeout=10, opener=opener, clock=lambda: now[0])  # type: ignore[arg-type]
    with pool.connection("a", timeout=1, source="t"):
        pass
    now[0] = 5
    with pool.connection("a", timeout=1, source="t"):
        pass
    assert len(opened) == 1
    now[0] = 20
    with pool.connection("b", timeout=1, source="t"):
        pass
    assert opened[0].closed and pool.stats() == {"databases": 1, "idle": 1}
    # However busy, a connection older than max_lifetime is closed when given back.
    for t in range(25, 40, 5):
        now[0] = float(t)
        with pool.connection("b", timeout=1, source="t"):
            pass
    assert len(opened) == 2 and not opened[1].closed
    pool.max_lifetime = 15
    with pool.connection("b", timeout=1, source="t"):
        pass
    assert opened[1].closed and pool.stats() == {"databases": 0, "idle": 0}


def test_check_new_sees_a_changed_password_a_kept_connection_hides(
    postgres: Postgres, database: str
) -> None:
    role = f"r_{uuid.uuid4().hex[:8]}"
    postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'first'")
    dbname = database.rsplit("/", 1)[1]
    dsn = postgres.dsn(dbname, user=role, password="first")
    pool = ReadPool()
    try:
        kept = backend_pid(pool, dsn)
        pool.check_new(dsn, timeout=5, source="test")
        assert pool.stats() == {"databases": 1, "idle": 1}
        assert backend_pid(pool, dsn) != kept  # the new connection replaced the kept one
        postgres.psql(f"ALTER ROLE {role} PASSWORD 'second'")
        backend_pid(pool, dsn)  # still logged in
        with pytest.raises(AuthenticationFailed):
            pool.check_new(dsn, timeout=5, source="test")
    finally:
        pool.close()
