"""What the operator reads of a database for a SchemaVersion's status, read-only.

History, the live fingerprint and the rollback points (snapshots, archives),
and a batched data migration's progress (:func:`read_batch_progress`), in one
read-only transaction with a statement timeout (which holds through a
transaction-pooling connection pooler too), over a connection kept in
the operator's :class:`~schemaop.engine.readpool.ReadPool` (or, without one,
opened and closed per read). Blocking: the operator runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from schemaop.engine.archives import list_archives
from schemaop.engine.fingerprint import fingerprint
from schemaop.engine.history import BATCHES_TABLE, read_state
from schemaop.engine.readpool import Conn, ReadPool, open_read_only, read_only_transaction
from schemaop.engine.snapshot import list_snapshots
from schemaop.model.batchprogress import BatchProgress
from schemaop.model.history import DatabaseState


def read_database(
    conninfo: str,
    history_schema: str,
    schemas: list[str],
    timeout: int,
    source: str = "spec",
    *,
    pool: ReadPool | None = None,
    owner: Hashable = None,
) -> tuple[DatabaseState, str | None, list[dict[str, Any]]]:
    """History, live fingerprint and rollback points over a read-only connection.

    Runs in a worker thread. With ``pool``, the connection is taken from it for
    ``owner`` (the SchemaVersion) and given back; without, it is opened and
    closed here. ``source`` says where ``conninfo`` came from in error messages
    (a Secret's name and key).
    """
    if pool is not None:
        with pool.connection(conninfo, timeout=timeout, source=source, owner=owner) as conn:
            return _read(conn, history_schema, schemas)
    conn = open_read_only(conninfo, timeout, source)
    try:
        return _read(conn, history_schema, schemas)
    finally:
        conn.close()


def _read(
    conn: Conn, history_schema: str, schemas: list[str]
) -> tuple[DatabaseState, str | None, list[dict[str, Any]]]:
    with read_only_transaction(conn):
        state = read_state(conn, history_schema)
        if not state.history_exists:
            return state, None, []
        points = list_snapshots(conn, history_schema) + list_archives(conn)
        return state, fingerprint(conn, schemas), points


def read_progress(
    conninfo: str,
    history_schema: str,
    timeout: int,
    source: str = "spec",
    *,
    pool: ReadPool | None = None,
    owner: Hashable = None,
) -> BatchProgress | None:
    """:func:`read_batch_progress` over a read-only connection (as :func:`read_database`)."""
    if pool is not None:
        with (
            pool.connection(conninfo, timeout=timeout, source=source, owner=owner) as conn,
            read_only_transaction(conn),
        ):
            return read_batch_progress(conn, history_schema)
    conn = open_read_only(conninfo, timeout, source)
    try:
        with read_only_transaction(conn):
            return read_batch_progress(conn, history_schema)
    finally:
        conn.close()


def read_batch_progress(conn: Conn, history_schema: str) -> BatchProgress | None:
    """The batched step in progress, else the one completed last; None without any.

    A database without the progress table (no batched step ever ran, or an engine
    older than batched steps) has no progress: nothing is created.
    """
    found = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (history_schema, BATCHES_TABLE),
    ).fetchone()
    if found is None:
        return None
    query = sql.SQL(
        "SELECT version, direction, plan_hash, rows_done, batches_done, rows_total_estimate,"
        " batch_size, rows_per_second, throttle_reason, failed_attempts, last_error,"
        " started_at, updated_at, completed_at FROM {}"
        " ORDER BY completed_at IS NULL DESC, coalesce(completed_at, updated_at) DESC LIMIT 1"
    ).format(sql.Identifier(history_schema, BATCHES_TABLE))
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query).fetchone()
    return BatchProgress.from_row(row) if row is not None else None
