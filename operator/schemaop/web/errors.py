"""Error answers of the sidecar and the console, one shape: ``{"error": {"code", "message"}}``.

Used by the application's error middleware (an ``HTTPException``, an
unexpected exception) and by the protocol layer (requests that never reach the
application: malformed, oversized, or too slow to arrive), so every error a
client can see is JSON of the same shape. Messages are written here, never
copied from the request or an exception, so nothing a client sent (a token in
a URL, say) is echoed back or logged through them.
"""

from __future__ import annotations

import json

from aiohttp import web

__all__ = ["INTERNAL_MESSAGE", "code_for", "error_body", "error_response"]

JSON = "application/json"
INTERNAL_MESSAGE = "internal error; see the sidecar's log"

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    429: "rate_limited",
    431: "header_too_large",
    500: "internal",
    503: "unavailable",
    504: "timeout",
}


def code_for(status: int) -> str:
    """The ``error.code`` for an HTTP status."""
    return _CODES.get(status, "client_error" if status < 500 else "server_error")


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_response(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.Response(
        status=status, body=error_body(code, message), content_type=JSON, headers=headers
    )
