"""The sidecar's HTTP application (aiohttp): routes, middlewares, start-up.

Every answer is JSON (errors too: ``{"error": {"code", "message"}}``) except
the event stream, ``/metrics`` and the explorer's static files. The API is
described by ``openapi.json`` beside this module (also at
``schemas/openapi/sidecar.json``), served at ``/openapi.json``.

Middlewares, outermost first: the client's address (``X-Forwarded-For`` from
trusted proxies, :mod:`schemaop.web.forwarded`); request metrics; CORS (and preflight, on
error answers too); JSON errors (every ``HTTPException`` and unexpected
exception); per-client rate limit (not on probes or metrics); bearer-token auth
(on ``/api/`` only, when a token is configured). Requests that never reach the
application (unparsable, oversized, too slow) get the same JSON errors from the
protocol layer, :mod:`.protocol`. Schema answers carry an
``ETag`` derived from the schema fingerprint and answer ``If-None-Match`` with
304; when the database cannot be read they still answer 200 from the last good
snapshot with ``"stale": true`` and the header ``X-Schemaop-Stale: true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemaop import __version__, metrics
from schemaop.engine.schemaread import SchemaReader, sidecar_conninfo
from schemaop.sidecar.cache import SchemaCache
from schemaop.sidecar.config import SidecarConfig
from schemaop.sidecar.protocol import KEEPALIVE_TIMEOUT, Runner
from schemaop.sidecar.ratelimit import RateLimiter
from schemaop.sidecar.representation import Snapshot
from schemaop.web.errors import INTERNAL_MESSAGE, code_for, error_response
from schemaop.web.forwarded import Network, client_address
from schemaop.web.logs import access_logger_class, masking
from schemaop.web.middleware import Handler, json_error_middleware, sse

__all__ = ["CACHE_KEY", "build_app", "package_file", "serve"]

log = logging.getLogger("schemaop.sidecar")

CACHE_KEY: web.AppKey[SchemaCache] = web.AppKey("cache", SchemaCache)
CONFIG_KEY: web.AppKey[SidecarConfig] = web.AppKey("config", SidecarConfig)

_JSON = "application/json"
_UNPROTECTED = ("/healthz", "/readyz", "/metrics")
_KEEPALIVE_SECONDS = 15.0


def package_file(name: str) -> Path:
    """A file shipped in this package (``openapi.json``, ``static/...``)."""
    return Path(str(resources.files("schemaop.sidecar").joinpath(name)))


def _vary(response: web.StreamResponse, name: str) -> None:
    """Add ``name`` to the response's ``Vary`` header, keeping what is there."""
    names = [n.strip() for v in response.headers.getall("Vary", ()) for n in v.split(",")]
    names = [n for n in names if n]
    if name.lower() not in {n.lower() for n in names}:
        names.append(name)
    response.headers["Vary"] = ", ".join(names)


# --- middlewares ----------------------------------------------------------------------


def _route_name(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    if resource is None or request.match_info.http_exception is not None:
        return "unmatched"
    return resource.canonical


# Labelled children, looked up once: prometheus-client's labels() is a large
# share of a cached GET's cost otherwise.
_request_counters: dict[tuple[str, str, int], Any] = {}
_request_timers: dict[str, Any] = {}


def _client_middleware(trusted: tuple[Network, ...]) -> Any:
    """Behind trusted proxies, ``request.remote`` becomes the client's address."""

    @web.middleware
    async def client(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarded = request.headers.getall("X-Forwarded-For", ())
        remote = client_address(request.remote, forwarded, trusted)
        if remote is not None and remote != request.remote:
            request = request.clone(remote=remote)
        return await handler(request)

    return client


@web.middleware
async def _metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    route = _route_name(request)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        key = (route, request.method, status)
        counter = _request_counters.get(key)
        if counter is None:
            counter = metrics.SIDECAR_REQUESTS.labels(route, request.method, str(status))
            if len(_request_counters) < 10_000:  # routes are canonical; methods few
                _request_counters[key] = counter
        counter.inc()
        if route != "/api/v1/events":
            timer = _request_timers.get(route)
            if timer is None:
                timer = _request_timers[route] = metrics.SIDECAR_REQUEST_DURATION.labels(route)
            timer.observe(time.perf_counter() - started)


_error_middleware = json_error_middleware(log, code_for, INTERNAL_MESSAGE)


def _cors_middleware(origins: tuple[str, ...]) -> Any:
    any_origin = "*" in origins

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and (any_origin or origin in origins)
        if request.method == "OPTIONS" and allowed:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, If-None-Match, Last-Event-ID, Content-Type"
            )
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = "*" if any_origin else str(origin)
            response.headers["Access-Control-Expose-Headers"] = (
                "ETag, Retry-After, X-Schemaop-Stale"
            )
        if not any_origin:
            # The answer depends on Origin whether or not this one was allowed.
            _vary(response, "Origin")
        return response

    return cors


def _rate_limit_middleware(limiter: RateLimiter) -> Any:
    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _UNPROTECTED:
            return await handler(request)
        # request.remote is the client's address (behind trusted proxies too).
        wait = limiter.take(request.remote or "unknown", time.monotonic())
        if wait > 0:
            metrics.SIDECAR_RATE_LIMITED.inc()
            retry = str(RateLimiter.retry_after(wait))
            return error_response(
                429,
                "rate_limited",
                f"too many requests; retry in {retry}s",
                **{"Retry-After": retry},
            )
        return await handler(request)

    return rate_limit


def _auth_middleware(token: str) -> Any:
    expected = token.encode()

    def raw(value: str) -> bytes:
        # aiohttp decodes headers as UTF-8 with surrogateescape; any bytes compare.
        return value.encode("utf-8", "surrogateescape")

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/") or request.method == "OPTIONS":
            return await handler(request)
        presented = ""
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            presented = header[7:].strip()
        elif request.path == "/api/v1/events":
            # EventSource cannot send headers: the stream also takes ?access_token=.
            presented = request.query.get("access_token", "")
        if not presented or not hmac.compare_digest(raw(presented), expected):
            return error_response(
                401,
                "unauthorized",
                "a valid bearer token is required",
                **{"WWW-Authenticate": 'Bearer realm="schemaop-sidecar"'},
            )
        return await handler(request)

    return auth


# --- handlers -----------------------------------------------------------------------------


def _not_modified(request: web.Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    if header == etag:
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def _cached(request: web.Request) -> tuple[Snapshot, bool] | web.Response:
    cache = request.app[CACHE_KEY]
    snapshot = cache.snapshot
    if snapshot is None:
        return error_response(
            503,
            "unavailable",
            "the schema has not been read yet; the database may be unreachable",
            **{"Retry-After": "1"},
        )
    return snapshot, cache.stale


def _json(request: web.Request, snapshot: Snapshot, stale: bool, body: bytes) -> web.Response:
    headers = {"ETag": snapshot.etag, "Cache-Control": "no-cache"}
    if stale:
        headers["X-Schemaop-Stale"] = "true"
    if _not_modified(request, snapshot.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=_JSON, headers=headers)


async def _schema(request: web.Request) -> web.Response:
    cached = _cached(request)
    if isinstance(cached, web.Response):
        return cached
    snapshot, stale = cached
    response = _json(request, snapshot, stale, b"")
    _vary(response, "Accept-Encoding")  # on a 304 too: it stands in for either body
    if response.status == 304:
        return response
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.body = snapshot.document_gzip(stale)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response.body = snapshot.document(stale)
    return response


async def _table(request: web.Request) -> web.Response:
    cached = _cached(request)
    if isinstance(cached, web.Response):
        return cached
    snapshot, stale = cached
    schema, name = request.match_info["schema"], request.match_info["table"]
    body = snapshot.table_body(schema, name, stale)
    if body is None:
        return error_response(
            404, "not_found", f"no table or view {schema!r}.{name!r} in the schema"
        )
    return _json(request, snapshot, stale, body)


async def _jsonschema(request: web.Request) -> web.Response:
    cached = _cached(request)
    if isinstance(cached, web.Response):
        return cached
    snapshot, stale = cached
    schema, name = request.match_info["schema"], request.match_info["table"]
    body = snapshot.jsonschema_body(schema, name)
    if body is None:
        return error_response(
            404, "not_found", f"no table or view {schema!r}.{name!r} in the schema"
        )
    return _json(request, snapshot, stale, body)


async def _version(request: web.Request) -> web.Response:
    cached = _cached(request)
    if isinstance(cached, web.Response):
        return cached
    snapshot, stale = cached
    return _json(request, snapshot, stale, snapshot.version_body(stale))


async def _events(request: web.Request) -> web.StreamResponse:
    cache = request.app[CACHE_KEY]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    queue = cache.subscribe()
    try:
        await response.write(b"retry: 2000\n\n")
        snapshot = cache.snapshot
        if snapshot is not None:
            payload = {**snapshot.event(), "stale": cache.stale}
            await response.write(sse("hello", payload, snapshot.etag.strip('"')))
            last = request.headers.get("Last-Event-ID")
            if last and last != snapshot.etag.strip('"'):
                # The client missed a change while it was away.
                await response.write(
                    sse("schema-changed", snapshot.event(), snapshot.etag.strip('"'))
                )
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), _KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if item is None:
                break
            kind, payload = item
            event_id = str(payload.get("etag", "")).strip('"') or None
            await response.write(sse(kind, payload, event_id))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        cache.unsubscribe(queue)
    return response


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def _readyz(request: web.Request) -> web.Response:
    cache = request.app[CACHE_KEY]
    body: dict[str, Any] = {
        "ready": cache.ready,
        "stale": cache.stale,
        "hasSchema": cache.snapshot is not None,
        "listening": cache.listening,
        "lastRefresh": cache.last_refresh,
        "reason": cache.last_error,
    }
    return web.json_response(body, status=200 if cache.ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def _file_handler(path: Path, content_type: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=path.read_bytes(),
            headers={"Content-Type": content_type, "Cache-Control": "no-cache"},
        )

    return handler


# --- assembly -----------------------------------------------------------------------------


def build_app(config: SidecarConfig, cache: SchemaCache) -> web.Application:
    """The aiohttp application; the caller starts and stops ``cache``."""
    middlewares: list[Any] = []
    if config.trusted_proxies:
        middlewares.append(_client_middleware(config.trusted_proxies))
    middlewares.append(_metrics_middleware)
    if config.cors_origins:
        middlewares.append(_cors_middleware(config.cors_origins))
    middlewares.append(_error_middleware)
    if config.rate_limit > 0:
        middlewares.append(
            _rate_limit_middleware(RateLimiter(config.rate_limit, config.rate_burst))
        )
    if config.token:
        middlewares.append(_auth_middleware(config.token))
    app = web.Application(middlewares=middlewares)
    app[CACHE_KEY] = cache
    app[CONFIG_KEY] = config
    static = package_file("static")
    app.router.add_get("/", _file_handler(static / "index.html", "text/html; charset=utf-8"))
    # The explorer's few files, each a route of its own: a request path never
    # becomes a file-system lookup, and any other /static/ path is a JSON 404.
    for path in sorted(static.iterdir()):
        if path.is_file() and path.name != "index.html":
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if content_type.startswith("text/"):
                content_type += "; charset=utf-8"
            app.router.add_get(f"/static/{path.name}", _file_handler(path, content_type))
    app.router.add_get(
        "/openapi.json", _file_handler(package_file("openapi.json"), "application/json")
    )
    app.router.add_get("/api/v1/schema", _schema)
    app.router.add_get("/api/v1/schema/tables/{schema}/{table}", _table)
    app.router.add_get("/api/v1/jsonschema/{schema}/{table}", _jsonschema)
    app.router.add_get("/api/v1/version", _version)
    app.router.add_get("/api/v1/events", _events)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)

    async def close_streams(app: web.Application) -> None:
        cache.close_streams()

    app.on_shutdown.append(close_streams)
    return app


def make_cache(config: SidecarConfig) -> SchemaCache:
    """A cache reading the configured database in read-only transactions."""
    conninfo = sidecar_conninfo(config.database_url)
    reader = SchemaReader(conninfo, config.schemas, config.history_schema)
    return SchemaCache(
        lambda: Snapshot(*reader.read()),
        conninfo,
        poll_interval=config.poll_interval,
        retry_interval=config.retry_interval,
        close=reader.close,
    )


@contextlib.asynccontextmanager
async def running(
    config: SidecarConfig, cache: SchemaCache | None = None
) -> AsyncIterator[tuple[web.AppRunner, int]]:
    """Run the sidecar until the block exits; yields the runner and the bound port."""
    cache = cache or make_cache(config)
    app = build_app(config, cache)
    runner = Runner(
        app,
        header_timeout=config.header_timeout,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        access_log=log if config.access_log else None,
        access_log_class=access_logger_class(config.trusted_proxies),
        handle_signals=False,
        shutdown_timeout=1.0,
    )
    with masking(config.token):
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        try:
            # Listen first: probes answer while the first read is under way or failing.
            await site.start()
            await cache.start()
            yield runner, int(runner.addresses[0][1])
        finally:
            await runner.cleanup()
            await cache.stop()


async def serve(config: SidecarConfig, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set (SIGTERM/SIGINT in the command)."""
    async with running(config) as (_, port):
        log.info(
            "schema sidecar listening on %s:%d for schemas %s",
            config.host,
            port,
            ", ".join(config.schemas),
        )
        await stop.wait()
        log.info("shutting down")
