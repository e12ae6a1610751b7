"""The sidecar's configuration: flags over environment variables over defaults.

Read exactly once, at start-up, by :func:`load_config` (never at import time),
then passed around as a frozen :class:`SidecarConfig`. Secrets (the database
URL, the bearer token) come from the environment or from files, never from
flags, so they never show in ``ps``; ``repr`` of the config hides them.
Both are handed to the scrubber (:mod:`schemaop.redaction`) as soon as they
are read, and the URL is checked here (:func:`schemaop.engine.connect.check_conninfo`):
one libpq cannot read as written is a :class:`ConfigError` that names where it
came from, never its text. Schema names are checked against
:data:`schemaop.redaction.IDENTIFIER_RE`; no error message echoes a value
that looks like a connection string.

=================================  ========================  ====================
environment variable               flag                      default
=================================  ========================  ====================
``SCHEMAOP_DATABASE_URL``          ``--database-url-file``   ``DATABASE_URL``, then
                                                            libpq ``PG*`` vars
``SCHEMAOP_SCHEMAS``               ``--schemas``             ``public``
``SCHEMAOP_HISTORY_SCHEMA``        ``--history-schema``      ``schemaop``
``SCHEMAOP_SIDECAR_HOST``          ``--host``                ``0.0.0.0``
``SCHEMAOP_SIDECAR_PORT``          ``--port``                ``8080``
``SCHEMAOP_SIDECAR_POLL_INTERVAL`` ``--poll-interval``       ``30`` (seconds)
``SCHEMAOP_SIDECAR_RATE_LIMIT``    ``--rate-limit``          ``20`` (req/s; 0 off)
``SCHEMAOP_SIDECAR_RATE_BURST``    ``--rate-burst``          ``40``
``SCHEMAOP_SIDECAR_TOKEN``         ``--token-file``          none (no auth)
``SCHEMAOP_SIDECAR_CORS_ORIGINS``  ``--cors-origins``        none (no CORS)
``SCHEMAOP_SIDECAR_ACCESS_LOG``    ``--access-log``          off
``SCHEMAOP_LOG_LEVEL``             ``--log-level``           ``info``
=================================  ========================  ====================

Abuse limits: ``SCHEMAOP_SIDECAR_HEADER_TIMEOUT`` (``--header-timeout``, 10
seconds for a request's line and headers) and ``SCHEMAOP_SIDECAR_TRUSTED_PROXIES``
(``--trusted-proxies``, CIDR ranges whose ``X-Forwarded-For`` is believed; none).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemaop import redaction
from schemaop.web.forwarded import Network, parse_networks

__all__ = ["ConfigError", "SidecarConfig", "load_config"]

_LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class SidecarConfig:
    """Everything the sidecar needs, resolved and validated."""

    database_url: str = dataclasses.field(default="", repr=False)
    schemas: tuple[str, ...] = ("public",)
    history_schema: str = "schemaop"
    host: str = "0.0.0.0"  # noqa: S104 - a sidecar listens on the pod's address
    port: int = 8080
    poll_interval: float = 30.0
    retry_interval: float = 1.0
    rate_limit: float = 20.0
    rate_burst: int = 40
    token: str | None = dataclasses.field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    access_log: bool = False
    log_level: str = "info"
    header_timeout: float = 10.0
    trusted_proxies: tuple[Network, ...] = ()


def load_config(flags: Mapping[str, Any], environ: Mapping[str, str]) -> SidecarConfig:
    """Resolve flags (None = not given) over ``environ`` over defaults."""

    def pick(flag: str, env: str) -> Any:
        value = flags.get(flag)
        if value is not None:
            return value
        return environ.get(env) or None

    # DATABASE_URL as well, like the other commands; libpq's PG* when neither is set.
    source = "$SCHEMAOP_DATABASE_URL" if environ.get("SCHEMAOP_DATABASE_URL") else "$DATABASE_URL"
    database_url = environ.get("SCHEMAOP_DATABASE_URL") or environ.get("DATABASE_URL", "")
    if flags.get("database_url_file"):
        database_url = _read_secret(flags["database_url_file"], "--database-url-file")
        source = "--database-url-file"
    redaction.remember_connection_string(database_url)
    if flags.get("token_file"):
        token = _token(_read_secret(flags["token_file"], "--token-file"), "--token-file")
    else:
        token = _token(environ.get("SCHEMAOP_SIDECAR_TOKEN"), "SCHEMAOP_SIDECAR_TOKEN")
    redaction.remember(token)
    if database_url:
        _check_url(database_url, source)

    defaults = SidecarConfig()
    schemas = _names(pick("schemas", "SCHEMAOP_SCHEMAS"), "schemas") or defaults.schemas
    history = pick("history_schema", "SCHEMAOP_HISTORY_SCHEMA") or defaults.history_schema
    if not redaction.is_identifier(str(history)):
        raise ConfigError(f"history schema: {_NOT_A_NAME}")
    if history in schemas:
        raise ConfigError(f"schemas: the history schema {history!r} cannot be a managed schema")
    log_level = str(pick("log_level", "SCHEMAOP_LOG_LEVEL") or defaults.log_level).lower()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(
            f"log level: {redaction.shown(log_level)} is not one of {', '.join(_LOG_LEVELS)}"
        )
    port = _number(pick("port", "SCHEMAOP_SIDECAR_PORT"), "port", int, defaults.port)
    if not 0 <= port <= 65535:
        raise ConfigError(f"port: {port} is not between 0 and 65535")
    poll = _number(
        pick("poll_interval", "SCHEMAOP_SIDECAR_POLL_INTERVAL"),
        "poll interval",
        float,
        defaults.poll_interval,
    )
    if poll <= 0:
        raise ConfigError("poll interval: must be more than 0 seconds")
    rate = _number(
        pick("rate_limit", "SCHEMAOP_SIDECAR_RATE_LIMIT"), "rate limit", float, defaults.rate_limit
    )
    burst = _number(
        pick("rate_burst", "SCHEMAOP_SIDECAR_RATE_BURST"), "rate burst", int, defaults.rate_burst
    )
    if rate < 0 or burst < 1:
        raise ConfigError("rate limit: the rate must be >= 0 (0 turns it off), the burst >= 1")
    header_timeout = _number(
        pick("header_timeout", "SCHEMAOP_SIDECAR_HEADER_TIMEOUT"),
        "header timeout",
        float,
        defaults.header_timeout,
    )
    if header_timeout <= 0:
        raise ConfigError("header timeout: must be more than 0 seconds")
    try:
        trusted = parse_networks(
            _names(pick("trusted_proxies", "SCHEMAOP_SIDECAR_TRUSTED_PROXIES"), "trusted proxies")
        )
    except ValueError as exc:
        raise ConfigError(f"trusted proxies: {exc}") from None
    return SidecarConfig(
        database_url=database_url,
        schemas=schemas,
        history_schema=history,
        host=str(pick("host", "SCHEMAOP_SIDECAR_HOST") or defaults.host),
        port=port,
        poll_interval=poll,
        rate_limit=rate,
        rate_burst=burst,
        token=token,
        cors_origins=_names(pick("cors_origins", "SCHEMAOP_SIDECAR_CORS_ORIGINS"), "cors"),
        access_log=_flag(pick("access_log", "SCHEMAOP_SIDECAR_ACCESS_LOG")),
        log_level=log_level,
        header_timeout=header_timeout,
        trusted_proxies=trusted,
    )


def _token(value: str | None, what: str) -> str | None:
    """The bearer token, stripped like the secret files (a trailing newline from
    ``echo`` or a Secret would otherwise never match); it must fit in a header."""
    if value is None or value == "":
        return None
    token = value.strip()
    if not token:
        raise ConfigError(f"{what}: the token is blank")
    if not token.isascii() or not token.isprintable():
        # The value is not echoed: it is a secret.
        raise ConfigError(
            f"{what}: the token has characters an Authorization header cannot carry "
            "(only printable ASCII)"
        )
    return token


def _read_secret(path: str, what: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        # The path is not echoed: a URL passed here by mistake would land in the log.
        raise ConfigError(f"{what}: cannot read the file: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{what}: the file is empty")
    return value


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = tuple(dict.fromkeys(s.strip() for s in items if str(s).strip()))
    for name in names:
        if "\x00" in name:
            raise ConfigError(f"{what}: a name contains a NUL character")
        if what == "schemas" and not redaction.is_identifier(name):
            raise ConfigError(f"schemas: {_NOT_A_NAME}")
    return names


_NOT_A_NAME = (
    "a name is not a schema name (it is not shown): at most 63 bytes, "
    "no control characters and none of '@', ':' and '/'"
)


def _check_url(database_url: str, source: str) -> None:
    """A URL libpq would misread (or cannot read) is a ConfigError naming only its source."""
    from schemaop.engine.connect import check_conninfo
    from schemaop.engine.errors import InvalidConnectionString

    try:
        check_conninfo(database_url, source)
    except InvalidConnectionString as exc:
        raise ConfigError(str(exc)) from None


def _number(value: Any, what: str, kind: type[Any], default: Any) -> Any:
    if value is None:
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: {redaction.shown(str(value))} is not a number") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigError(f"{what}: {redaction.shown(str(value))} is not a finite number")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}
