"""Connecting to the target database, and keeping its password out of every output.

Where the connection comes from, in order: an explicit URL or conninfo string
(``--database-url``), the ``DATABASE_URL`` environment variable, then libpq's own
``PG*`` variables (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``,
``PGPASSWORD``, ``PGSSLMODE``, ...), which is what migration Jobs get from
Secrets through ``secretKeyRef``. The environment is read when :func:`connect`
is called, never at import time.

Every connection sets ``application_name`` (``schemaop-runner`` for runs, so a
blocked runner shows up in ``pg_stat_activity``) and runs in autocommit: the
runner opens its transactions explicitly, and the operator's read-only use
never leaves a transaction open.

Passwords seen here are remembered by :func:`redact`, which replaces them (and
the password part of any URL or ``password=`` in a conninfo) with ``***``
before anything is printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import psycopg

from schemaop.engine.errors import ConnectionFailed, classify

APPLICATION_NAME = "schemaop-runner"

# The connection type every engine function takes (tuple rows, autocommit).
Conn = psycopg.Connection[Any]
_CONNECT_TIMEOUT = "10"

_secrets: set[str] = set()
_URL_PASSWORD_RE = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@\s:]*:)(?P<pw>[^@\s]*)(?=@)", re.I)
_KV_PASSWORD_RE = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def remember_secret(value: str | None) -> None:
    """Make :func:`redact` scrub ``value`` from now on (no-op for short or empty values)."""
    if value and len(value) >= 3:
        _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every known password and any URL or conninfo password replaced."""
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_PASSWORD_RE.sub(lambda m: m.group("head") + "***", text)
    return _KV_PASSWORD_RE.sub(lambda m: m.group("head") + "***", text)


def resolve_url(url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The conninfo to use: ``url``, else ``DATABASE_URL``, else "" (libpq reads PG*)."""
    env = os.environ if environ is None else environ
    if url:
        return url
    return env.get("DATABASE_URL", "")


def describe(conninfo: str) -> str:
    """A printable name for a database: ``user@host:port/dbname``, never the password."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable connection string>"
    env = os.environ
    host = str(params.get("host") or env.get("PGHOST") or "localhost")
    port = str(params.get("port") or env.get("PGPORT") or "5432")
    user = str(params.get("user") or env.get("PGUSER") or "")
    dbname = str(params.get("dbname") or env.get("PGDATABASE") or user)
    return f"{user + '@' if user else ''}{host}:{port}/{dbname}"


def connect(
    url: str | None = None,
    application_name: str = APPLICATION_NAME,
    *,
    autocommit: bool = True,
    connect_timeout: int | None = None,
) -> Conn:
    """Open a connection (autocommit) with ``application_name`` set.

    Raises :class:`~schemaop.engine.errors.ConnectionFailed` (or its subclass
    ``AuthenticationFailed``) with a message that never contains the password.
    """
    conninfo = resolve_url(url)
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(
            "the database URL cannot be parsed; expected postgresql://user@host:port/dbname "
            "or 'host=... dbname=...'"
        ) from exc
    remember_secret(str(params.get("password") or ""))
    remember_secret(os.environ.get("PGPASSWORD"))
    kwargs: dict[str, str] = {"application_name": application_name[:63]}
    if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
        kwargs["connect_timeout"] = str(connect_timeout or _CONNECT_TIMEOUT)
    try:
        conn = psycopg.connect(
            psycopg.conninfo.make_conninfo(conninfo, **kwargs), autocommit=autocommit
        )
    except psycopg.Error as exc:
        err = classify(exc)
        err.message = f"cannot connect to {describe(conninfo)}: {redact(err.message)}"
        raise err from exc
    remember_secret(conn.info.password)
    return conn
