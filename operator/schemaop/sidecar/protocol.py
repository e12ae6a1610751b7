"""The sidecar's HTTP connection handling: aiohttp's protocol, hardened.

Two things happen before a request reaches the application and its
middlewares, so they are handled here, in a subclass of aiohttp's
``RequestHandler`` (the protocol object of one connection):

- A request that cannot be parsed (an oversized request line or header, too
  many headers, bytes that are not HTTP) and anything that escapes the
  application is answered with the same JSON error body as the rest of the API
  (:mod:`schemaop.web.errors`), never aiohttp's ``text/plain`` page that quotes the
  request line back, token included.
- A header-read timeout: a request's line and headers must arrive within
  ``header_timeout`` seconds of its first byte (or of the connection opening),
  else the client gets a 408 and the connection is closed. aiohttp's keep-alive
  timer alone measures only idleness after a response, so clients that trickle
  their headers (slowloris) would hold a connection open for as long as that.

aiohttp creates the protocol through its low-level ``Server``; :class:`Runner`
(an ``AppRunner``) makes that server create ours, with the same settings.
aiohttp offers no public hook for either, so this leans on a few of its
internals, all long-standing: ``Server._kwargs`` (the protocol's settings),
``RequestHandler._request_count`` (requests parsed on the connection) and
``RequestHandler._waiter`` (set while it waits for the next request; aiohttp's
own keep-alive timer tests it the same way). tests/integration/
test_sidecar_abuse.py exercises each over real sockets.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_request import BaseRequest

from schemaop.web.errors import INTERNAL_MESSAGE, code_for, error_body, error_response

__all__ = ["KEEPALIVE_TIMEOUT", "Runner"]

log = logging.getLogger("schemaop.sidecar")

# Seconds an idle keep-alive connection is kept (aiohttp's default is an hour).
KEEPALIVE_TIMEOUT = 75.0


def _timeout_answer() -> bytes:
    status = HTTPStatus.REQUEST_TIMEOUT
    body = error_body(code_for(status), "the request headers did not arrive in time")
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


_TIMEOUT_ANSWER = _timeout_answer()


class _Protocol(web.RequestHandler):
    """One connection: aiohttp's protocol with JSON errors and a header-read timeout."""

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    # --- header-read timeout ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if data and self._header_timer is None:
            self._arm()
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a request line and its headers are complete
            self._disarm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self._loop.call_later(self._header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        # Waiting for a request (the test aiohttp's keep-alive timer makes): the
        # bytes that armed the timer were not followed by complete headers. Else
        # they were the body or a pipelined request behind one being answered.
        waiter = self._waiter
        if waiter is None or waiter.done() or self.transport is None:
            return
        log.debug(
            "closing a connection from %s: no complete request headers within %gs",
            self._peer(),
            self._header_timeout,
        )
        self.transport.write(_TIMEOUT_ANSWER)
        self.force_close()

    def _peer(self) -> str:
        peername = self.transport.get_extra_info("peername") if self.transport else None
        return str(peername[0]) if isinstance(peername, tuple) and peername else "-"

    # --- errors outside the application --------------------------------------------------

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON answer to a request aiohttp could not parse or the application
        could not answer; replaces aiohttp's text page (and its log of the raw line)."""
        if request.writer.output_size > 0:
            raise ConnectionError("the answer has started; no error can be sent any more")
        if status >= 500:
            # The exception is logged (masked, see .logs), never put in the answer.
            log.error("error answering a request from %s", request.remote, exc_info=exc)
            response = error_response(status, code_for(status), INTERNAL_MESSAGE)
        else:
            code, text = _describe(exc, self.max_line_size, self.max_field_size)
            log.debug("refused a malformed request from %s: %s", request.remote, text)
            response = error_response(status, code, text)
        response.force_close()
        return response


def _describe(exc: BaseException | None, max_line: int, max_field: int) -> tuple[str, str]:
    """Code and message for a request that could not be parsed. Written here, not
    taken from the exception: aiohttp's messages quote the offending bytes."""
    if isinstance(exc, LineTooLong):
        return (
            "request_too_large",
            f"the request line or a header is too long (limits: {max_line} bytes for the "
            f"request line, {max_field} for a header)",
        )
    if isinstance(exc, BadHttpMessage):
        return "bad_request", "malformed HTTP request"
    return "bad_request", "the request could not be read"


class _Server(web.Server):
    """aiohttp's low-level server, creating :class:`_Protocol` for each connection."""

    def __init__(self, base: web.Server, header_timeout: float) -> None:
        self._settings = dict(base._kwargs)
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            **self._settings,
        )
        self._header_timeout = header_timeout

    def __call__(self) -> web.RequestHandler:
        return _Protocol(
            self, loop=self._loop, header_timeout=self._header_timeout, **self._settings
        )


class Runner(web.AppRunner):
    """``web.AppRunner`` whose connections use :class:`_Protocol`."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        return _Server(await super()._make_server(), self._header_timeout)
