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

The connection string is checked before libpq sees it (:func:`check_conninfo`):
one that libpq would misread (an unencoded ``@`` or ``/`` in the password,
which libpq takes as the end of the user info or of the host, so half the
password becomes a host or port name) is refused with
:class:`~schemaop.engine.errors.InvalidConnectionString`. No message about a
connection quotes the string or libpq's text about it: it says what kind of
problem it is and where the string came from (the flag, the environment
variable, the Secret). Every connection string and password seen here is
remembered by :mod:`schemaop.redaction`, whose scrubber (:func:`redact`) is
the last line of defence on every output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import psycopg

from schemaop.engine.errors import (
    AuthMethodRefused,
    InvalidConnectionString,
    connection_failure,
)
from schemaop.model.names import REQUIRE_AUTH_SCRAM
from schemaop.redaction import remember as remember_secret
from schemaop.redaction import remember_connection_string
from schemaop.redaction import scrub as redact

__all__ = [
    "APPLICATION_NAME",
    "REQUIRE_AUTH_SCRAM",
    "Conn",
    "check_conninfo",
    "check_require_auth",
    "connect",
    "describe",
    "redact",
    "remember_secret",
    "resolve_url",
    "url_source",
]

APPLICATION_NAME = "schemaop-runner"

# The connection type every engine function takes (tuple rows, autocommit).
Conn = psycopg.Connection[Any]
_CONNECT_TIMEOUT = "10"

_ENCODE_HINT = (
    "percent-encode special characters in the user name and password "
    "('@' as %40, '/' as %2F, ':' as %3A, '%' as %25)"
)
_NOT_A_URL = (
    "it is neither a postgresql://user@host:port/dbname URL nor 'host=... dbname=...' pairs"
)
# libpq's parse errors, by what they are about; their text quotes the input.
_PARSE_PROBLEMS = (
    ('missing "="', _NOT_A_URL),
    ("percent-encoded token", "it has an invalid %-escape"),
    ("unexpected spaces", "it has an unencoded space (write %20)"),
    ("invalid uri query parameter", "it has an unknown query parameter"),
    ("invalid connection option", "it has an unknown option"),
    ("unterminated quoted string", "it has an unterminated quoted string"),
    ('"]"', "an IPv6 address in it lacks its ']'"),
)
_URI_RE = re.compile(r"^postgres(ql)?://", re.I)
_PORT_RE = re.compile(r"^[0-9]*(,[0-9]*)*$")


def resolve_url(url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The conninfo to use: ``url``, else ``DATABASE_URL``, else "" (libpq reads PG*)."""
    env = os.environ if environ is None else environ
    if url:
        return url
    return env.get("DATABASE_URL", "")


def url_source(url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Where :func:`resolve_url` takes the connection string from, for messages."""
    env = os.environ if environ is None else environ
    if url:
        return "--database-url"
    if env.get("DATABASE_URL"):
        return "$DATABASE_URL"
    return "libpq's PG* variables"


def _uri_problem(conninfo: str) -> str | None:
    """What libpq would misread in a postgresql:// URL (None: nothing)."""
    body = conninfo.split("://", 1)[1].split("?", 1)[0]
    ats = body.count("@")
    if ats > 1:
        return "it has more than one '@'"
    if ats == 1 and "/" in body.split("@", 1)[0]:
        return "it has a '/' before the '@'"
    return None


def check_conninfo(conninfo: str, source: str) -> dict[str, Any]:
    """libpq's reading of ``conninfo``, or :class:`InvalidConnectionString`.

    Remembers the string and its password for the scrubber first. The error
    names ``source`` and the kind of problem, never any of the string's text.
    """
    remember_connection_string(conninfo)
    params: dict[str, Any] = {}
    problem: str | None = None
    if _URI_RE.match(conninfo):
        problem = _uri_problem(conninfo)
    if problem is None and conninfo:
        try:
            params = psycopg.conninfo.conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            low = str(exc).lower()
            problem = next(
                (text for needle, text in _PARSE_PROBLEMS if needle in low),
                "libpq cannot parse it",
            )
        else:
            remember_connection_string(conninfo, str(params.get("password") or ""))
            if "@" in str(params.get("host") or ""):
                problem = "its host name has an '@' in it"
            elif not _PORT_RE.match(str(params.get("port") or "")):
                problem = "its port is not a number"
    if problem is not None:
        hint = "" if problem == _NOT_A_URL else f"; {_ENCODE_HINT}"
        raise InvalidConnectionString(
            f"the database URL from {source} cannot be used: {problem}{hint}"
        )
    return params


def describe(conninfo: str | Mapping[str, Any]) -> str:
    """A printable name for a database: ``user@host:port/dbname``, never the password.

    Only for a connection string :func:`check_conninfo` accepted (its parts are
    where libpq reads them); the result still goes through the scrubber.
    """
    if isinstance(conninfo, str):
        try:
            params: Mapping[str, Any] = psycopg.conninfo.conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError:
            return "<unparsable connection string>"
    else:
        params = conninfo
    env = os.environ
    host = str(params.get("host") or env.get("PGHOST") or "localhost")
    port = str(params.get("port") or env.get("PGPORT") or "5432")
    user = str(params.get("user") or env.get("PGUSER") or "")
    dbname = str(params.get("dbname") or env.get("PGDATABASE") or user)
    return f"{user + '@' if user else ''}{host}:{port}/{dbname}"


def make_conninfo(params: Mapping[str, Any], base: str = "") -> str:
    """A libpq connection string from keyword ``params`` (None values left out), over ``base``."""
    return psycopg.conninfo.make_conninfo(base, **params)


# libpq's ``require_auth`` for a password from ``passwordFrom``
# (:data:`~schemaop.model.names.REQUIRE_AUTH_SCRAM`): the host is the SchemaVersion
# author's choice, so the password is sent only in a SCRAM exchange, which gives
# the server nothing to replay and nothing to read. A server asking for
# ``password`` (cleartext) or ``md5`` is refused before libpq answers it
# (:class:`~schemaop.engine.errors.AuthMethodRefused`). Jobs get it as
# ``PGREQUIREAUTH`` (kube/builders.py), the operator in its connection string.
_REQUIRE_AUTH_LIBPQ = 160000  # libpq 16 introduced require_auth


def check_require_auth(params: Mapping[str, Any], source: str) -> None:
    """Refuse to connect when ``require_auth`` is asked for (in ``params`` or as
    ``PGREQUIREAUTH``) and this libpq is older than 16, which would ignore it and
    answer a cleartext or md5 request with the password."""
    wanted = params.get("require_auth") or os.environ.get("PGREQUIREAUTH")
    if wanted and psycopg.pq.version() < _REQUIRE_AUTH_LIBPQ:
        raise AuthMethodRefused(
            f"the connection from {source} requires the authentication method {wanted} "
            f"(require_auth), which libpq {psycopg.pq.version()} cannot enforce (libpq 16 "
            "or newer can): not connecting, so the password is not sent to a server that "
            "might ask for it in cleartext; install psycopg[binary] (it bundles a newer libpq)"
        )


def connect(
    url: str | None = None,
    application_name: str = APPLICATION_NAME,
    *,
    autocommit: bool = True,
    connect_timeout: int | None = None,
    source: str | None = None,
) -> Conn:
    """Open a connection (autocommit) with ``application_name`` set.

    ``source`` names where ``url`` came from in messages (default: the flag or
    environment variable :func:`resolve_url` took it from). Raises
    :class:`~schemaop.engine.errors.ConnectionFailed` or its subclasses
    ``AuthenticationFailed`` and ``InvalidConnectionString``, with a message
    that quotes nothing of the connection string but user, host, port and
    database name of one that parsed cleanly.
    """
    conninfo = resolve_url(url)
    where = source or url_source(url)
    remember_secret(os.environ.get("PGPASSWORD"))
    params = check_conninfo(conninfo, where)
    check_require_auth(params, where)
    kwargs: dict[str, str] = {"application_name": application_name[:63]}
    if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
        kwargs["connect_timeout"] = str(connect_timeout or _CONNECT_TIMEOUT)
    try:
        conn = psycopg.connect(
            psycopg.conninfo.make_conninfo(conninfo, **kwargs), autocommit=autocommit
        )
    except psycopg.Error as exc:
        cls, problem = connection_failure(exc)
        raise cls(f"cannot connect to {redact(describe(params))} ({where}): {problem}") from exc
    remember_secret(conn.info.password)
    return conn
