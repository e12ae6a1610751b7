"""What the operator reads of a database for a SchemaVersion's status, read-only.

History, the live fingerprint and the rollback points (snapshots, archives),
in one read-only transaction with a statement timeout (which holds through a
transaction-pooling connection pooler too), over a connection kept in
the operator's :class:`~schemaop.engine.readpool.ReadPool` (or, without one,
opened and closed per read). Blocking: the operator runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from schemaop.engine.archives import list_archives
from schemaop.engine.fingerprint import fingerprint
from schemaop.engine.history import read_state
from schemaop.engine.readpool import Conn, ReadPool, open_read_only, read_only_transaction
from schemaop.engine.snapshot import list_snapshots
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
