"""Keeping bearer tokens out of the logs of the sidecar and the console: one masking function.

:func:`mask` replaces the value of every ``access_token=`` (also
percent-encoded), every ``Bearer <value>``, the configured token itself and any
database URL password (:func:`schemaop.engine.connect.redact`) with ``***``.
It is applied twice over: by :class:`AccessLogger` to each request line, and by
:class:`MaskFilter`, installed on the sidecar's and aiohttp's loggers while the
sidecar runs, to every message and traceback they emit (aiohttp's own error log
quotes the start of an oversized request line, token included).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from schemaop.engine.connect import redact, remember_secret
from schemaop.web.forwarded import Network, client_address

__all__ = ["LOGGERS", "AccessLogger", "MaskFilter", "access_logger_class", "mask", "masking"]

# Every logger a request can reach: ours, aiohttp's server, access and web loggers,
# and asyncio's (an exception nobody retrieved is logged there).
LOGGERS = (
    "schemaop.sidecar",
    "schemaop.console",
    "aiohttp.server",
    "aiohttp.access",
    "aiohttp.web",
    "asyncio",
)

_QUERY_TOKEN = re.compile(r"(access(?:_|%5f)token(?:=|%3d))[^&\s'\"#;,)]*", re.IGNORECASE)
_BEARER = re.compile(r"(\bbearer\s+)[^\s'\",;)]+", re.IGNORECASE)


def mask(text: str) -> str:
    """``text`` with every bearer token, ``access_token`` value and password as ``***``."""
    text = redact(text)
    text = _QUERY_TOKEN.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class MaskFilter(logging.Filter):
    """Masks a record's message, traceback and stack in place (see :func:`mask`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


@contextmanager
def masking(token: str | None) -> Iterator[None]:
    """Install :class:`MaskFilter` on :data:`LOGGERS` for the duration of the block."""
    remember_secret(token)
    mask_filter = MaskFilter()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addFilter(mask_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(mask_filter)


class AccessLogger(AbstractAccessLogger):
    """One line per request: the client's address (see :mod:`.forwarded`), the
    request line with tokens masked, status, size and duration."""

    trusted: Sequence[Network] = ()

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        # items(), not getall(): a request aiohttp could not parse has plain-dict headers.
        forwarded = [v for k, v in request.headers.items() if k.lower() == "x-forwarded-for"]
        client = client_address(request.remote, forwarded, self.trusted)
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %s %.3fs',
            client or "-",
            request.method,
            mask(str(request.rel_url)),
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            time,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def access_logger_class(trusted: Sequence[Network]) -> type[AccessLogger]:
    """An :class:`AccessLogger` resolving client addresses through ``trusted`` proxies."""
    return type("AccessLogger", (AccessLogger,), {"trusted": tuple(trusted)})
