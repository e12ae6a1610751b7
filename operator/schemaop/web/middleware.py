"""What the sidecar's and the console's HTTP servers share (aiohttp).

The JSON error middleware (every ``HTTPException`` and unexpected exception
becomes ``{"error": {"code", "message"}}``, :mod:`schemaop.web.errors`;
nothing from the request or the exception is echoed) and the encoding of one
server-sent event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from schemaop.web.errors import error_response

__all__ = ["Handler", "json_error_middleware", "sse"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Headers of an HTTPException kept on the JSON answer that replaces it.
_KEPT_HEADERS = frozenset({"allow", "retry-after", "www-authenticate"})


def json_error_middleware(
    log: logging.Logger, code_for: Callable[[int], str], internal_message: str
) -> Any:
    """A middleware answering every error with the JSON shape; unexpected exceptions
    are logged (through the process's masking filter) and answered 500."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
            return error_response(exc.status, code_for(exc.status), exc.reason, **headers)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            # The path is cut (it can be 8 KB long).
            log.exception("unexpected error answering %s %.200s", request.method, request.path)
            return error_response(500, code_for(500), internal_message)

    return errors


def sse(event: str, payload: Any, event_id: str | None = None) -> bytes:
    """One server-sent event: ``event:``, optional ``id:``, and the payload as JSON."""
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(payload, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()
