"""What the operator reads of a database for a SchemaVersion's status, read-only.

History, the live fingerprint and the rollback points (snapshots, archives),
over a connection opened and closed per read, with the session read-only and a
statement timeout. Blocking: the operator runs it in a worker thread.
"""

from __future__ import annotations

from typing import Any

from schemaop.engine.archives import list_archives
from schemaop.engine.connect import connect
from schemaop.engine.fingerprint import fingerprint
from schemaop.engine.history import read_state
from schemaop.engine.snapshot import list_snapshots
from schemaop.model.history import DatabaseState


def read_database(
    conninfo: str, history_schema: str, schemas: list[str], timeout: int, source: str = "spec"
) -> tuple[DatabaseState, str | None, list[dict[str, Any]]]:
    """History, live fingerprint and rollback points over a read-only connection.

    Runs in a worker thread; the connection is opened and closed here. ``source``
    says where ``conninfo`` came from in error messages (a Secret's name and key).
    """
    conn = connect(
        conninfo, application_name="schemaop-operator", connect_timeout=timeout, source=source
    )
    try:
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET statement_timeout = '30s'")
        state = read_state(conn, history_schema)
        if not state.history_exists:
            return state, None, []
        points = list_snapshots(conn, history_schema) + list_archives(conn)
        return state, fingerprint(conn, schemas), points
    finally:
        conn.close()
