"""The engine's errors: a small hierarchy, classified in one place.

Everything the engine raises is an :class:`EngineError`. Each carries what a
person (and the operator's status) needs: a condition ``reason``, whether a
retry can help (``retryable``), and, for SQL errors, the ``sqlstate``, server
``message``, failing ``statement`` and its ``position`` in the migration.

:func:`classify` is the only place that turns a psycopg error into an engine
error; the class it picks decides ``reason`` (a member of the one
:class:`schemaop.model.conditions.Reason`) and ``retryable`` (whether running
the Job again can help), and both travel to the operator in the run summary
(:class:`schemaop.model.run.RunError`), which reads them and decides nothing
again. ``step_retry`` says whether the runner retries the failing step inside
the run first (lock and serialization conflicts, up to ``retries`` times).
Known SQLSTATEs map to specific classes:

=========  =======================  =========  =======================  ==========
SQLSTATE   class                    retryable  reason                   step_retry
=========  =======================  =========  =======================  ==========
08*        ConnectionFailed         yes        DatabaseUnreachable      no
57P01-03   ConnectionFailed         yes        DatabaseUnreachable      no
3D000      ConnectionFailed         yes        DatabaseUnreachable      no
28P01 28*  AuthenticationFailed     no         AuthenticationFailed     no
(client)   AuthMethodRefused        no         AuthenticationFailed     no
(client)   InvalidConnectionString  no         InvalidConnectionSecret  no
55P03      LockTimeout              yes        LockTimeout              yes
40001      SerializationFailure     yes        MigrationFailed          yes
40P01      SerializationFailure     yes        MigrationFailed          yes
57014      StatementTimeout         no         MigrationFailed          no
53*        ResourceExhausted        yes        MigrationFailed          no
other      MigrationFailed          no         MigrationFailed          no
=========  =======================  =========  =======================  ==========

Errors of the engine's own: ``LockBusy`` (yes, LockBusy), ``SnapshotFailed``
(yes, SnapshotFailed), ``Refused`` (no, the refusal's reason, one of
:data:`schemaop.model.conditions.REFUSALS`), ``NotRecorded``, ``LockLost`` and
``HistoryLost`` (no, MigrationFailed), ``ConnectionPooled`` (no, ConnectionPooled).

The original psycopg error is chained (``raise ... from``) and never printed.
Messages about a connection never quote libpq's own text, which repeats what
it was given (a "host name" that is the second half of a password with an
unencoded ``@``, a "port" that is its first half): :func:`connection_failure`
names the kind of problem instead, from a closed list, and
:mod:`schemaop.redaction` scrubs every message as a last line of defence.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from schemaop.model.conditions import Reason
from schemaop.model.run import Position, RunError
from schemaop.redaction import scrub as redact

__all__ = ["Position"]  # re-exported: the engine's errors carry it


class EngineError(Exception):
    """Base of every engine error. ``reason``, ``retryable`` and ``step_retry`` are set
    by the class, see the table above."""

    retryable: bool = False
    step_retry: bool = False
    reason: Reason = Reason.MIGRATION_FAILED

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        statement: str | None = None,
        position: Position | None = None,
        version: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.statement = statement
        self.position = position
        self.version = version
        self.detail = detail
        self.hint = hint

    @property
    def kind(self) -> str:
        return type(self).__name__

    def __str__(self) -> str:
        out = self.message
        if self.sqlstate:
            out = f"{out} (SQLSTATE {self.sqlstate})"
        if self.version:
            out = f"migration {self.version}: {out}"
        return out

    def summary(self) -> RunError:
        """The error as it crosses to the operator (a run summary's ``error``)."""
        return RunError(
            message=self.message,
            reason=self.reason,
            retryable=self.retryable,
            kind=self.kind,
            sqlstate=self.sqlstate,
            detail=self.detail,
            hint=self.hint,
            statement=self.statement,
            position=self.position,
            version=self.version,
        )

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-able summary; ``limit`` clips the long texts (termination messages)."""
        return self.summary().to_dict(limit)


class ConnectionFailed(EngineError):
    """The database cannot be reached (refused, DNS, shut down, no such database)."""

    retryable = True
    reason = Reason.DATABASE_UNREACHABLE


class AuthenticationFailed(ConnectionFailed):
    """Wrong password or user, or no pg_hba entry: a Secret needs fixing, retrying won't."""

    retryable = False
    reason = Reason.AUTHENTICATION_FAILED


class AuthMethodRefused(AuthenticationFailed):
    """The server asked for the password in a form schemaop does not send it in
    (cleartext or md5, refused by libpq's ``require_auth``): a server that was not
    meant to get the password would learn it, so the connection is dropped first."""


class ConnectionPooled(ConnectionFailed):
    """The connection does not keep its server session (a transaction-pooling
    connection pooler such as PgBouncer's ``pool_mode = transaction``), and what
    needs it (the runner's advisory lock and session settings, LISTEN) would not
    work; see :mod:`schemaop.engine.pooling`. A configuration change is the cure."""

    retryable = False
    reason = Reason.CONNECTION_POOLED


class InvalidConnectionString(ConnectionFailed):
    """The connection string cannot be used as written (unparseable, an unencoded ``@``...).

    The message says what is wrong and where the string came from, never any of
    its text; fixing the URL (or the Secret) is the only cure, so no retry.
    """

    retryable = False
    reason = Reason.INVALID_CONNECTION_SECRET


class LockBusy(EngineError):
    """Another runner holds the advisory lock for longer than the bounded wait."""

    retryable = True
    reason = Reason.LOCK_BUSY


class LockTimeout(EngineError):
    """A statement kept hitting lock_timeout (55P03) through every retry."""

    retryable = True
    step_retry = True
    reason = Reason.LOCK_TIMEOUT


class SerializationFailure(EngineError):
    """40001 / 40P01: a concurrent transaction won; running again can succeed."""

    retryable = True
    step_retry = True


class ResourceExhausted(EngineError):
    """53*: disk full, out of memory, too many connections."""

    retryable = True


class StatementTimeout(EngineError):
    """57014: the statement ran longer than statement_timeout (or was cancelled)."""

    retryable = False


class MigrationFailed(EngineError):
    """The migration's SQL failed: syntax, missing object, constraint violation..."""

    retryable = False


class NotRecorded(EngineError):
    """A step ran but its history row is not there: its SQL did not run as written.

    The runner refuses such text before it runs (:func:`schemaop.model.migration.text_problem`);
    this is the check after the fact that keeps a step from ever being reported
    applied without its row.
    """

    retryable = False


class LockLost(EngineError):
    """A migration released the runner's advisory lock (``pg_advisory_unlock_all()``,
    ``DISCARD ALL``) and it could not be taken back."""

    retryable = False


class Stopped(EngineError):
    """The run was asked to stop (SIGTERM) and stopped cleanly between batches or steps.

    Not a failure: everything done is committed with its progress; a new run
    continues from there (exit code 4, see docs/data-migrations.md).
    """

    retryable = True
    reason = Reason.PAUSED


class HistoryLost(EngineError):
    """A migration dropped, renamed or emptied schemaop's history table."""

    retryable = False


class Refused(EngineError):
    """The runner refused the plan before running anything (stale or unsafe)."""

    retryable = False

    def __init__(self, reason: Reason, message: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reason = reason


class SnapshotFailed(EngineError):
    """pg_dump failed or is missing; nothing was applied."""

    retryable = True
    reason = Reason.SNAPSHOT_FAILED


_BY_SQLSTATE: dict[str, type[EngineError]] = {
    "55P03": LockTimeout,
    "40001": SerializationFailure,
    "40P01": SerializationFailure,
    "57014": StatementTimeout,
    "57P01": ConnectionFailed,
    "57P02": ConnectionFailed,
    "57P03": ConnectionFailed,
    "3D000": ConnectionFailed,
    "28P01": AuthenticationFailed,
    "28000": AuthenticationFailed,
}
_BY_CLASS: dict[str, type[EngineError]] = {
    "08": ConnectionFailed,
    "28": AuthenticationFailed,
    "53": ResourceExhausted,
}


# libpq's client-side connection messages (psycopg gives them no SQLSTATE, even
# for the server's FATALs) quote what libpq was given, so they are never shown:
# the first entry whose needle is in the lower-cased message names the problem.
_CONNECTION_PROBLEMS: tuple[tuple[str, type[EngineError], str], ...] = (
    (
        "authentication method requirement",
        AuthMethodRefused,
        "the server asked for the password in cleartext or as an md5 hash, and a password "
        "from passwordFrom is sent only with scram-sha-256 (libpq require_auth); configure "
        "the server for scram-sha-256, or give the whole URL with connection.urlFrom",
    ),
    ("password authentication failed", AuthenticationFailed, "password authentication failed"),
    (
        "no password supplied",
        AuthenticationFailed,
        "the server asks for a password and none was given",
    ),
    (
        "no pg_hba.conf entry",
        AuthenticationFailed,
        "no pg_hba.conf entry allows this user, database, address and SSL mode",
    ),
    ("authentication failed", AuthenticationFailed, "authentication failed"),
    ("resolve host", ConnectionFailed, "the host name cannot be resolved"),
    ("translate host name", ConnectionFailed, "the host name cannot be resolved"),
    ("servname not supported", InvalidConnectionString, "the port is not a number"),
    ("invalid integer value", InvalidConnectionString, "a numeric option has another value"),
    ("invalid", InvalidConnectionString, "an option has an invalid value"),
    ("connection refused", ConnectionFailed, "connection refused (is PostgreSQL listening there?)"),
    ("timeout expired", ConnectionFailed, "timed out"),
    ("no route to host", ConnectionFailed, "no route to the host"),
    ("network is unreachable", ConnectionFailed, "the network is unreachable"),
    ("no such file or directory", ConnectionFailed, "no server on that Unix socket"),
    ("ssl", ConnectionFailed, "SSL negotiation failed (check sslmode and the server's SSL set-up)"),
    ("too many", ResourceExhausted, "too many connections"),
    ("starting up", ConnectionFailed, "the server is starting up"),
    ("shutting down", ConnectionFailed, "the server is shutting down"),
    ("recovery", ConnectionFailed, "the server is in recovery"),
    ("role", AuthenticationFailed, "the role cannot log in (it may not exist)"),
    ("database", ConnectionFailed, "the database does not exist or does not accept connections"),
)
_QUOTED_RE = re.compile(r'"[^"]*"|\'[^\']*\'')


def connection_failure(exc: BaseException) -> tuple[type[EngineError], str]:
    """The error class and a fixed description of a failed connection attempt.

    The description never contains any of libpq's text: it is chosen from
    :data:`_CONNECTION_PROBLEMS` by what that text is about.
    """
    # Quoted names (host, user, database) are dropped first: a host called
    # "database.local" says nothing about what went wrong.
    low = _QUOTED_RE.sub("", str(exc)).lower()
    for needle, cls, text in _CONNECTION_PROBLEMS:
        if needle in low:
            return cls, text
    return ConnectionFailed, "the connection failed"


def error_class(sqlstate: str | None) -> type[EngineError]:
    """The engine error class for a SQLSTATE (None: a client-side connection failure)."""
    if sqlstate is None:
        return ConnectionFailed
    return _BY_SQLSTATE.get(sqlstate) or _BY_CLASS.get(sqlstate[:2]) or MigrationFailed


def classify(
    exc: BaseException,
    *,
    statement: str | None = None,
    position: Position | None = None,
    version: str | None = None,
) -> EngineError:
    """Turn any error from psycopg into the matching :class:`EngineError`."""
    if isinstance(exc, EngineError):
        return exc
    sqlstate: str | None = None
    message = str(exc).strip() or type(exc).__name__
    detail = hint = None
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate
        diag = exc.diag
        if diag.message_primary:
            message = diag.message_primary
        detail, hint = diag.message_detail, diag.message_hint
        if sqlstate is None:
            # Client-side: connection refused, bad host, auth failure while connecting.
            low = message.lower()
            if "password authentication failed" in low or "no password supplied" in low:
                cls: type[EngineError] = AuthenticationFailed
            elif isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                cls = ConnectionFailed
            else:
                cls = MigrationFailed
        else:
            cls = error_class(sqlstate)
    elif isinstance(exc, OSError):
        cls = ConnectionFailed
    else:
        cls = MigrationFailed
    return cls(
        redact(message),
        sqlstate=sqlstate,
        statement=statement,
        position=position,
        version=version,
        detail=redact(detail) if detail else None,
        hint=hint,
    )
