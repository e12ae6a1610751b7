"""The sidecar's reads of a database: the schema and its version, and the change feed.

:class:`SchemaReader` introspects the served schemas, reads the version and
dirtiness from the history table and the live fingerprint, in one read-only
REPEATABLE READ transaction over a kept connection; :func:`listen` waits on the
``NOTIFY`` the runner sends after each change (or, through a transaction-pooling
connection pooler, where LISTEN cannot work, says so and leaves it to polling).
The psycopg plumbing, blocking and async, lives here; the sidecar
(:mod:`schemaop.sidecar.cache`) only sees plain values and a short reason when a read fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from schemaop import metrics
from schemaop.engine.introspect import content_fingerprint, introspect
from schemaop.engine.pooling import SessionKind, session_kind
from schemaop.model.names import NOTIFY_CHANNEL

log = logging.getLogger("schemaop.sidecar")


class SchemaRead(NamedTuple):
    """One read: the introspected schemas, version, live fingerprint, dirtiness."""

    schemas: list[dict[str, Any]]
    version: str | None
    fingerprint: str
    dirty: bool


def sidecar_conninfo(database_url: str, application_name: str = "schemaop-sidecar") -> str:
    """The connection string with the sidecar's application_name and connect timeout.

    Read-only is not a startup option (``options=-c default_transaction_read_only=on``):
    PgBouncer refuses a client that sends ``options``. Every read is a READ ONLY
    transaction instead (:class:`SchemaReader`), which holds through a
    transaction-pooling connection pooler too.
    """
    params = conninfo_to_dict(database_url) if database_url else {}
    params.setdefault("application_name", application_name)
    params.setdefault("connect_timeout", 5)
    return make_conninfo("", **params)


class SchemaReader:
    """Reads the schema over one kept connection (reopened after a failure). Blocking."""

    def __init__(self, conninfo: str, schemas: Sequence[str], history_schema: str) -> None:
        self.conninfo = conninfo
        self.schemas = list(schemas)
        self.history_schema = history_schema
        self._conn: psycopg.Connection[Any] | None = None
        self._warned = False

    def read(self) -> SchemaRead:
        try:
            conn = self._connection()
            started = time.perf_counter()
            with conn.transaction():
                conn.execute("SET LOCAL search_path = pg_catalog, pg_temp")
                schemas = introspect(conn, self.schemas)
                metrics.SIDECAR_INTROSPECTION_DURATION.observe(time.perf_counter() - started)
                version, fingerprint, dirty = self._state(conn, schemas)
            return SchemaRead(schemas, version, fingerprint, dirty)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
            self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            # Every transaction (each read is one) begins READ ONLY.
            self._conn.read_only = True
        return self._conn

    def _state(
        self, conn: psycopg.Connection[Any], schemas: list[dict[str, Any]]
    ) -> tuple[str | None, str, bool]:
        """Version and dirtiness from the history table, fingerprint from the engine."""
        from schemaop.engine.fingerprint import fingerprint
        from schemaop.engine.history import read_state

        try:
            with conn.transaction():  # a savepoint: a refused read must not end the snapshot
                state = read_state(conn, self.history_schema)
        except psycopg.errors.InsufficientPrivilege:
            if not self._warned:
                log.warning(
                    "cannot read %s.schema_history (GRANT SELECT on it to this role); "
                    "serving the schema without a version",
                    self.history_schema,
                )
                self._warned = True
            version, dirty = None, False
        else:
            version = state.current_version.text if state.current_version else None
            dirty = state.dirty
        try:
            with conn.transaction():
                live = fingerprint(conn, self.schemas)
        except psycopg.errors.InsufficientPrivilege:
            # pg_get_functiondef needs nothing special, but a locked-down role may
            # still miss something: fall back to a hash of what we serve.
            live = content_fingerprint(schemas)
        return version, live, dirty


def _session_kind(conninfo: str) -> SessionKind:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return session_kind(conn)


async def listen(
    conninfo: str,
    on_notify: Callable[[], None],
    on_listening: Callable[[bool], None],
    retry_interval: float,
    poll_interval: float | None = None,
) -> None:
    """LISTEN on the runner's channel forever: ``on_notify()`` per notification,
    ``on_listening(True/False)`` when the listener connects or loses its connection
    (then it reconnects, backing off from ``retry_interval`` to 10 s).

    Through a connection pooler that does not keep sessions (transaction pooling;
    :mod:`schemaop.engine.pooling`) LISTEN registers on a pooled server connection
    and notifications never arrive: then it says so in one log line and returns,
    and the sidecar keeps polling (``poll_interval``)."""
    delay = retry_interval
    checked = False
    while True:
        try:
            if not checked:
                kind = await asyncio.to_thread(_session_kind, conninfo)
                checked = True
                if not kind.keeps_session:
                    log.warning(
                        "the database is reached through a connection pooler that does not "
                        "keep sessions (%s; PgBouncer pool_mode=transaction), where LISTEN "
                        "cannot receive notifications: no live change events, polling "
                        "every %gs instead (--poll-interval); for live events give the "
                        "sidecar a direct URL to PostgreSQL or a session-mode pool",
                        kind.value,
                        poll_interval if poll_interval is not None else 30.0,
                    )
                    on_listening(False)
                    return
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                on_listening(True)
                delay = retry_interval
                async for _ in conn.notifies():
                    metrics.SIDECAR_NOTIFICATIONS.inc()
                    on_notify()
        except (psycopg.Error, OSError) as exc:
            log.debug("listener lost its connection: %s", exc)
        on_listening(False)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def describe_failure(exc: BaseException) -> str:
    """A short reason for readiness output: the class, never connection details."""
    if isinstance(exc, psycopg.OperationalError):
        return "database unreachable"
    if isinstance(exc, psycopg.Error):
        return f"database error ({type(exc).__name__})"
    return f"internal error ({type(exc).__name__})"
