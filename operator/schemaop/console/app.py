"""The console's HTTP server (aiohttp): the JSON API, the event streams, the static UI.

Every Kubernetes call is made with the person's own identity
(:class:`schemaop.kube.api.UserKubeApi`): in cluster mode the bearer token of
the request (``Authorization: Bearer``, forwarded by an authenticating proxy) or
of the session ``POST /login`` made; in local mode the kubeconfig's credentials,
for a session opened with the one-time code. The console holds no power of its
own, reads no Secret, and strips ``managedFields`` and the last-applied
annotation from what it returns (:func:`schemaop.console.views.strip`).

Answers: JSON, errors ``{"error": {"code", "message"}}`` with a 4xx status; a
refusal by the Kubernetes API keeps its status (403, 404, 409, 422) and its
message, with its reason as the code (``Forbidden``, ``NotFound``...). The API is
described by ``openapi.json`` beside this module (also ``schemas/openapi/console.json``).
Every non-GET ``/api/`` request needs the session's CSRF token in ``X-CSRF-Token``
and, when it sends an ``Origin``, the server's own. Every answer carries a
Content-Security-Policy and the usual hardening headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import mimetypes
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
from aiohttp import web

from schemaop import __version__, redaction
from schemaop.console import views
from schemaop.console.auth import COOKIE, Csrf, OneTimeCode, Session, Sessions
from schemaop.console.config import ConsoleConfig
from schemaop.decide.spec import version_of
from schemaop.kube.api import Dropped, KubeError, UserKubeApi, token_client
from schemaop.kube.builders import LABEL_SCHEMAVERSION, RUN_PLURAL
from schemaop.model.names import ANNOTATION_APPROVED_PLAN, ANNOTATION_RETRY_REQUESTED
from schemaop.model.review import AlreadyApproved, PlanChanged, Refused, approval_patch
from schemaop.model.version import InvalidVersion, Version
from schemaop.web.errors import error_response
from schemaop.web.logs import access_logger_class, masking
from schemaop.web.middleware import Handler, json_error_middleware, sse

__all__ = ["STATE_KEY", "ConsoleState", "make_app", "package_file", "running", "serve"]

log = logging.getLogger("schemaop.console")

SV_PLURAL = "schemaversions"
SM_PLURAL = "schemamigrations"
INTERNAL_MESSAGE = "internal error; see the console's log"
MAX_BODY = 64 * 1024

CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# The bundled API-document viewer sets inline styles; only its pages may.
CSP_APIDOCS = CSP + "; style-src 'self' 'unsafe-inline'"

_CODES = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "Internal",
    503: "Unavailable",
}
# A DNS-1123 name (namespaces, SchemaVersions, runs, Jobs all are).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_RV = re.compile(r"^[0-9]{1,20}$")
# A bearer token as RFC 6750 writes it (b64token): nothing else can be sent on.
_TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
MAX_TOKEN = 16 * 1024


def code_for(status: int) -> str:
    return _CODES.get(status, "ClientError" if status < 500 else "ServerError")


def package_file(name: str) -> Path:
    """A file shipped in this package (``openapi.json``, ``static/...``)."""
    return Path(str(resources.files("schemaop.console").joinpath(name)))


class ApiError(Exception):
    """An answer other than 200, as ``{"error": {"code", "message"}}``."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After


def _from_kube(exc: KubeError) -> ApiError:
    """A refusal by the Kubernetes API, kept as it is (status, reason, message); a failure
    to reach it is 503."""
    message = redaction.scrub(exc.api_message or str(exc))
    if exc.status == 401:
        return ApiError(401, "Unauthenticated", "the API server does not accept these credentials")
    if 400 <= exc.status < 500:
        return ApiError(exc.status, exc.reason or code_for(exc.status), message)
    return ApiError(503, "Unavailable", f"the Kubernetes API could not be used: {message}")


class ConsoleState:
    """What the application keeps between requests: sessions, the CSRF secret, clients."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self.sessions = Sessions(config.session_seconds, config.session_idle_seconds)
        self.csrf = Csrf()
        self.code = OneTimeCode(config.one_time_code, config.code_ttl)
        self._clients: dict[str, Any] = {}
        self._local: Any = None
        self._watches: dict[str, int] = {}  # open watches per identity (its sha256)

    @contextlib.contextmanager
    def watching(self, identity: str, count: int) -> Iterator[None]:
        """Hold ``count`` watches for ``identity`` (a session or a bearer token) while the
        block runs; ApiError 429 when that is more than one stream or one identity may
        hold (:attr:`ConsoleConfig.max_watches_per_stream`, ``max_watches_per_session``)."""
        config = self.config
        if count > config.max_watches_per_stream:
            raise ApiError(
                429,
                "TooManyWatches",
                f"this stream needs {count} watches (SchemaVersions and runs, in each "
                f"namespace you may look in); the console opens at most "
                f"{config.max_watches_per_stream} for one stream. Ask for list and watch on "
                "schemaversions and schemamigrationruns in all namespaces (one watch each), "
                "or run the console with fewer namespaces (--namespaces, console.namespaces) "
                "or a higher limit (--max-watches-per-stream, console.maxWatchesPerStream)",
            )
        key = hashlib.sha256(identity.encode()).hexdigest()
        held = self._watches.get(key, 0)
        if held + count > config.max_watches_per_session:
            raise ApiError(
                429,
                "TooManyWatches",
                f"your session already has {held} watches open (live pages and logs, in "
                f"every tab); this stream needs {count} more and the console allows "
                f"{config.max_watches_per_session}: close a tab or a live log, then reload "
                "(the limit: --max-watches-per-session, console.maxWatchesPerSession)",
                retry_after=5,
            )
        self._watches[key] = held + count
        try:
            yield
        finally:
            left = self._watches.get(key, 0) - count
            if left > 0:
                self._watches[key] = left
            else:
                self._watches.pop(key, None)

    def api_for(self, token: str | None) -> UserKubeApi:
        """The API with these credentials (a bearer token; None: the kubeconfig's)."""
        if token is None:
            if self._local is None:
                assert self.config.local_credentials is not None
                self._local = self.config.local_credentials()
            return UserKubeApi(self._local)
        key = hashlib.sha256(token.encode()).hexdigest()
        client = self._clients.pop(key, None)
        if client is None:
            # A person's token is a secret like a password: never in a log line or a
            # message of this process from now on (the scrubber, redaction). A short
            # value is remembered only once the API server accepted it at login, so a
            # caller cannot make the scrubber hide ordinary words.
            if len(token) >= MIN_REMEMBERED:
                redaction.remember(token)
            client = token_client(self.config.api_server, self.config.ca_file, token)
            while len(self._clients) >= 256:
                old = self._clients.pop(next(iter(self._clients)))
                with contextlib.suppress(Exception):
                    old.close()
        self._clients[key] = client  # most recently used last
        return UserKubeApi(client)

    def close(self) -> None:
        for client in [*self._clients.values(), self._local]:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._clients.clear()


# Tokens at least this long are remembered by the scrubber before their first use.
MIN_REMEMBERED = 16

STATE_KEY: web.AppKey[ConsoleState] = web.AppKey("console", ConsoleState)
# Per request, set by the authentication middleware: who (the CSRF identity), the
# session (None for a bearer token) and the API with the person's credentials.
IDENTITY_KEY: web.RequestKey[str] = web.RequestKey("identity", str)
SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("session", object)  # type: ignore[arg-type]
KUBE_KEY: web.RequestKey[UserKubeApi] = web.RequestKey("kube", UserKubeApi)


# --- request context ------------------------------------------------------------------


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        if not token:
            return None
        if not _is_token(token):
            raise ApiError(401, "Unauthenticated", "the Authorization header holds no bearer token")
        return token
    return None


def _is_token(value: str) -> bool:
    return len(value) <= MAX_TOKEN and _TOKEN.match(value) is not None


def _credentials(request: web.Request) -> tuple[str, str | None, Session | None] | None:
    """(CSRF identity, token or None for the kubeconfig's, session) of a request."""
    state = request.app[STATE_KEY]
    if state.config.mode == "cluster":
        token = _bearer(request)
        if token is not None:
            return "bearer:" + token, token, None
    session = state.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    return "session:" + session.id, session.token, session


def _api(request: web.Request) -> UserKubeApi:
    return request[KUBE_KEY]


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc == request.host and parts.scheme in ("http", "https")


# --- middlewares ----------------------------------------------------------------------


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except KubeError as exc:
        err = _from_kube(exc)
        return error_response(err.status, err.code, err.message)
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        # The API server could not be reached (the exception names only the address).
        log.warning("the Kubernetes API could not be reached: %s", exc)
        return error_response(
            503, "Unavailable", "the Kubernetes API server could not be reached; try again"
        )


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    found = _credentials(request)
    if found is None:
        raise ApiError(401, "Unauthenticated", "log in first: no session and no bearer token")
    identity, token, session = found
    state = request.app[STATE_KEY]
    if request.method not in ("GET", "HEAD", "OPTIONS") and (
        not _same_origin(request)
        or not state.csrf.check(identity, request.headers.get("X-CSRF-Token"))
    ):
        raise ApiError(
            403,
            "CSRFRejected",
            "missing or wrong X-CSRF-Token header (GET /api/session gives it), or a "
            "cross-origin request",
        )
    request[IDENTITY_KEY] = identity
    request[SESSION_KEY] = session
    request[KUBE_KEY] = state.api_for(token)
    return await handler(request)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """The hardening headers of every answer (signal: errors and streams too)."""
    headers = response.headers
    headers["Content-Security-Policy"] = (
        CSP_APIDOCS if request.path.startswith("/static/apidocs/") else CSP
    )
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    if request.path.startswith("/api/") or request.path.startswith("/login"):
        headers["Cache-Control"] = "no-store"


# --- helpers --------------------------------------------------------------------------


def _name(request: web.Request, key: str) -> str:
    value = request.match_info[key]
    if not _NAME.match(value):
        raise ApiError(400, "BadRequest", f"{key} {value[:80]!r} is not a valid name")
    return value


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "UnsupportedMediaType", "send a JSON body (application/json)")
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "BadRequest", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "BadRequest", "the body must be a JSON object")
    return data


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def _get_sv(api: UserKubeApi, ns: str, name: str) -> dict[str, Any]:
    sv = await api.get_custom(SV_PLURAL, ns, name)
    if sv is None:
        raise ApiError(404, "NotFound", f"SchemaVersion {ns}/{name} not found")
    return sv


async def _or_empty(call: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A list the person may not be allowed to read: empty when refused."""
    try:
        return await call
    except KubeError as exc:
        if exc.status in (401, 403):
            return []
        raise


async def _scopes(request: web.Request) -> tuple[list[str | None], list[str]]:
    """Where the person may list SchemaVersions: ``[None]`` (everywhere), or the
    namespaces (configured, else the ones they may list) where they may; and the
    namespaces where they may not."""
    api = _api(request)
    if await api.can("list", SV_PLURAL, None):
        return [None], []
    config = request.app[STATE_KEY].config
    namespaces = list(config.namespaces)
    if not namespaces:
        namespaces = await _or_empty_names(api)
    allowed: list[str | None] = []
    denied: list[str] = []
    for ns in namespaces:
        (allowed if await api.can("list", SV_PLURAL, ns) else denied).append(ns)
    return allowed, denied


async def _or_empty_names(api: UserKubeApi) -> list[str]:
    try:
        return await api.list_namespaces()
    except KubeError as exc:
        if exc.status in (401, 403):
            return []
        raise


# --- handlers: session ----------------------------------------------------------------


def _set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    config = request.app[STATE_KEY].config
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=config.secure_cookies,
        max_age=int(config.session_seconds),
    )


async def _whoami(api: UserKubeApi) -> tuple[str, list[str]]:
    try:
        return await api.whoami()
    except KubeError as exc:
        if exc.status == 401:
            raise ApiError(
                401, "Unauthenticated", "the API server does not accept this token"
            ) from None
        raise


async def _login_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    if state.config.mode != "cluster":
        raise ApiError(405, "MethodNotAllowed", "the local console opens with its one-time URL")
    if not _same_origin(request):
        raise ApiError(403, "CSRFRejected", "a cross-origin login")
    data = await _body(request)
    token = data.get("token")
    if not isinstance(token, str) or not _is_token(token.strip()):
        raise ApiError(
            400, "BadRequest", 'give a bearer token as {"token": "..."} (letters, digits, -._~+/=)'
        )
    token = token.strip()
    user, groups = await _whoami(state.api_for(token))
    redaction.remember(token)  # accepted by the API server, whatever its length
    session = state.sessions.create(token, user, groups)
    response = _json(
        {
            "user": user,
            "groups": groups,
            "mode": state.config.mode,
            "csrfToken": state.csrf.token_for("session:" + session.id),
        }
    )
    _set_cookie(request, response, session)
    return response


async def _login_get(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    if state.config.mode != "local":
        raise web.HTTPFound("/")
    if not state.code.redeem(request.query.get("code")):
        raise ApiError(
            401,
            "Unauthenticated",
            "this login URL was used already or has expired: run kubectl schemaop console again",
        )
    try:
        user, groups = await state.api_for(None).whoami()
    except (KubeError, OSError, urllib3.exceptions.HTTPError):
        user, groups = "kubeconfig", []  # an API server without SelfSubjectReview
    session = state.sessions.create(None, user or "kubeconfig", groups)
    response = web.Response(status=303, headers={"Location": "/"})
    _set_cookie(request, response, session)
    return response


async def _logout(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    if not _same_origin(request):
        raise ApiError(403, "CSRFRejected", "a cross-origin logout")
    state.sessions.drop(request.cookies.get(COOKIE))
    response = _json({"loggedOut": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def _session(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    session = request[SESSION_KEY]
    if session is not None:
        user, groups = session.user, session.groups
    else:
        user, groups = await _whoami(_api(request))
    return _json(
        {
            "user": user,
            "groups": groups,
            "mode": state.config.mode,
            "csrfToken": state.csrf.token_for(request[IDENTITY_KEY]),
        }
    )


# --- handlers: reads ------------------------------------------------------------------


async def _list(request: web.Request) -> web.StreamResponse:
    api = _api(request)
    scopes, denied = await _scopes(request)
    items: list[dict[str, Any]] = []
    for ns in scopes:
        try:
            items += await api.list_custom(SV_PLURAL, ns)
        except KubeError as exc:
            if exc.status != 403 or ns is None:
                raise
            denied.append(ns)
    items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    return _json({"items": [views.strip(o) for o in items], "namespacesDenied": sorted(denied)})


async def _detail(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    api = _api(request)
    sv = await _get_sv(api, ns, name)
    objects = _in_version_order(
        views.own_migrations(name, await _or_empty(api.list_custom(SM_PLURAL, ns)))
    )
    lint = views.migration_lint(objects)
    migrations = [
        {**views.strip(m), "lint": findings} for m, findings in zip(objects, lint, strict=True)
    ]
    events = await _or_empty(api.list_events(ns, "SchemaVersion", name))
    runs = await _or_empty(
        api.list_custom(RUN_PLURAL, ns, label_selector=f"{LABEL_SCHEMAVERSION}={name}")
    )
    return _json(
        {
            "schemaVersion": views.strip(sv),
            "migrations": migrations,
            "events": [views.event_summary(e) for e in reversed(events)],
            "runs": views.runs_newest_first(runs),
        }
    )


def _in_version_order(objects: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """SchemaMigrations in version order (those with an invalid version last, by text)."""
    valid = [(v, o) for o in objects if (v := version_of(o)) is not None]
    invalid = [o for o in objects if version_of(o) is None]
    return [o for _, o in sorted(valid, key=lambda vo: vo[0])] + sorted(
        invalid, key=lambda o: str((o.get("spec") or {}).get("version", ""))
    )


async def _preview(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    target = request.query.get("target", "").strip()
    _check_target(target)
    api = _api(request)
    sv = await _get_sv(api, ns, name)
    objects = await api.list_custom(SM_PLURAL, ns)
    return _json(views.preview(sv, objects, target))


def _check_target(target: str) -> None:
    if target == "latest":
        return
    try:
        Version(target)
    except InvalidVersion as exc:
        raise ApiError(
            400, "BadRequest", f"target {target[:80]!r}: {exc}; give a version, 0 or latest"
        ) from None


async def _run(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    record = await _api(request).get_custom(RUN_PLURAL, ns, name)
    if record is None:
        raise ApiError(404, "NotFound", f"SchemaMigrationRun {ns}/{name} not found")
    return _json(views.strip(record))


# --- handlers: actions ----------------------------------------------------------------


async def _approve(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    wanted = (await _body(request)).get("planHash")
    if not isinstance(wanted, str) or not _HASH.match(wanted):
        raise ApiError(
            400, "BadRequest", "planHash must be the full plan hash shown (64 hex digits)"
        )
    api = _api(request)
    sv = await _get_sv(api, ns, name)
    try:
        approval_patch(sv, wanted)
    except AlreadyApproved:
        return _json({"approved": wanted})
    except PlanChanged as exc:
        raise ApiError(409, "PlanChanged", str(exc)) from None
    except Refused as exc:
        raise ApiError(409, "NotApprovable", str(exc)) from None
    current = str(((sv.get("status") or {}).get("plan") or {}).get("hash") or "")
    if wanted != current:  # a prefix would pass approval_patch; only the full hash approves
        raise ApiError(
            409, "PlanChanged", f"the plan of {ns}/{name} is now {current[:12]}: review it again"
        )
    # Only if the object is still the one read: a plan made meanwhile is not approved.
    patch = {
        "metadata": {
            "resourceVersion": sv["metadata"]["resourceVersion"],
            "annotations": {ANNOTATION_APPROVED_PLAN: wanted},
        }
    }
    try:
        await api.patch_custom(SV_PLURAL, ns, name, patch)
    except KubeError as exc:
        if exc.status == 409:
            raise ApiError(
                409,
                "PlanChanged",
                f"{ns}/{name} changed while approving; look at its plan again",
            ) from None
        raise
    return _json({"approved": wanted})


async def _target(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    data = await _body(request)
    target, rv = data.get("targetVersion"), data.get("resourceVersion")
    if not isinstance(target, str):
        raise ApiError(400, "BadRequest", "targetVersion must be a string (a version or latest)")
    _check_target(target)
    if not isinstance(rv, str) or not _RV.match(rv):
        raise ApiError(
            400, "BadRequest", "resourceVersion must be the SchemaVersion's, as the page read it"
        )
    patch = {"metadata": {"resourceVersion": rv}, "spec": {"targetVersion": target}}
    result = await _api(request).patch_custom(SV_PLURAL, ns, name, patch)
    if result is None:
        raise ApiError(404, "NotFound", f"SchemaVersion {ns}/{name} not found")
    return _json({"schemaVersion": views.strip(result)})


async def _pause(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    paused = (await _body(request)).get("paused")
    if not isinstance(paused, bool):
        raise ApiError(400, "BadRequest", "paused must be true or false")
    result = await _api(request).patch_custom(SV_PLURAL, ns, name, {"spec": {"paused": paused}})
    if result is None:
        raise ApiError(404, "NotFound", f"SchemaVersion {ns}/{name} not found")
    return _json({"schemaVersion": views.strip(result)})


async def _retry(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    api = _api(request)
    sv = await _get_sv(api, ns, name)
    failure = (sv.get("status") or {}).get("failure") or {}
    if not failure.get("retryAt"):
        raise ApiError(
            409,
            "NothingToRetry",
            f"{ns}/{name} has no failed run waiting for a retry (a failure that is not "
            "retried needs a fix: see its conditions)",
        )
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    value = f"{now}/{secrets.token_hex(4)}"
    await api.patch_annotations(SV_PLURAL, ns, name, {ANNOTATION_RETRY_REQUESTED: value})
    return _json({"retryRequested": value})


# --- handlers: streams ----------------------------------------------------------------


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    return response


async def _pump(
    sources: list[AsyncIterator[bytes]], response: web.StreamResponse, keepalive: float
) -> None:
    """Write what the sources yield, a keepalive comment when they are quiet, until one
    of them ends (the browser then reconnects and lists again)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(1000)

    async def feed(source: AsyncIterator[bytes]) -> None:
        try:
            async for item in source:
                await queue.put(item)
        finally:
            # Never wait here: when the browser has gone nobody reads the queue, and a
            # full queue would keep this task (and the stream's thread) forever.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    tasks = [asyncio.create_task(feed(s)) for s in sources]
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if item is None:
                break
            await response.write(item)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for source in sources:  # their finally blocks stop the watches' threads
            closing = getattr(source, "aclose", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()


async def _watch(
    api: UserKubeApi, plural: str, namespace: str | None, event: str
) -> AsyncIterator[bytes]:
    async for change in api.watch_custom(plural, namespace):
        if isinstance(change, Dropped):  # the page lists again: it missed changes
            yield sse("dropped", {"count": change.count, "of": event})
            continue
        yield sse(event, {"type": change["type"], "object": views.strip(change["object"])})


async def _events(request: web.Request) -> web.StreamResponse:
    api = _api(request)
    scopes, _ = await _scopes(request)
    sources: list[AsyncIterator[bytes]] = [
        _watch(api, SV_PLURAL, ns, "schemaversion") for ns in scopes
    ]
    for ns in scopes:
        if await api.can("watch", RUN_PLURAL, ns):
            sources.append(_watch(api, RUN_PLURAL, ns, "run"))
    state = request.app[STATE_KEY]
    try:
        with state.watching(request[IDENTITY_KEY], len(sources)):
            response = await _stream(request)
            keepalive = state.config.keepalive_seconds
            with contextlib.suppress(ConnectionResetError, KubeError):
                if not sources:
                    # Nothing this person may watch: an open, quiet stream (ending it
                    # would only make the browser reconnect every few seconds).
                    while True:
                        await asyncio.sleep(keepalive)
                        await response.write(b": keepalive\n\n")
                await _pump(sources, response, keepalive)
            return response
    finally:
        for source in sources:  # not started when refused: close them all the same
            closing = getattr(source, "aclose", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()


async def _log_lines(
    api: UserKubeApi, ns: str, job: dict[str, Any] | None, record: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    """The live log of the Job's pod while it exists, else the record's; then ``end``.
    Every line passes through the scrubber."""
    pods = await api.job_pods(ns, job["metadata"]) if job is not None else []
    problem = None
    if pods:
        pod = pods[0]
        name = pod["metadata"]["name"]
        for _ in range(120):  # the container may not have started yet
            if (pod.get("status") or {}).get("phase") != "Pending":
                break
            yield b": waiting for the pod to start\n\n"
            await asyncio.sleep(1.0)
            pod = await api.get_pod(ns, name) or pod
        sent = 0
        try:
            async for line in api.follow_log(ns, name):
                sent += 1
                if isinstance(line, Dropped):  # the page says so where they are missing
                    yield sse("dropped", {"count": line.count})
                    continue
                yield sse("line", {"text": redaction.scrub(line)})
            yield sse("end", {"source": "pod", "pod": name})
            return
        except KubeError as exc:
            # The pod went between the list and the read, or its log cannot be served:
            # the record has the end of it.
            problem = _from_kube(exc).message
            if sent:
                yield sse("end", {"source": "pod", "pod": name, "message": problem})
                return
    log_record = ((record or {}).get("spec") or {}).get("log") or {}
    tail = log_record.get("tail")
    if tail:
        for line in str(tail).splitlines():
            yield sse("line", {"text": redaction.scrub(line)})
        yield sse("end", {"source": "record"})
    else:
        message = log_record.get("unavailable") or problem or "no log was kept for this run"
        yield sse("end", {"source": "none", "message": message})


async def _log_response(
    request: web.Request, job: dict[str, Any] | None, record: dict[str, Any] | None
) -> web.StreamResponse:
    ns = request.match_info["ns"]
    state = request.app[STATE_KEY]
    with state.watching(request[IDENTITY_KEY], 1):  # the pod's log, followed
        response = await _stream(request)
        source = _log_lines(_api(request), ns, job, record)
        with contextlib.suppress(ConnectionResetError):
            try:
                await _pump([source], response, state.config.keepalive_seconds)
            except KubeError as exc:
                err = _from_kube(exc)
                await response.write(sse("end", {"source": "none", "message": err.message}))
        return response


async def _run_log(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "name")
    api = _api(request)
    record = await api.get_custom(RUN_PLURAL, ns, name)
    if record is None:
        raise ApiError(404, "NotFound", f"SchemaMigrationRun {ns}/{name} not found")
    job_ref = (record.get("spec") or {}).get("job") or {}
    job = None
    if job_ref.get("name"):
        with contextlib.suppress(KubeError):
            job = await api.get_job(ns, str(job_ref["name"]))
        if job is not None and job["metadata"].get("uid") != job_ref.get("uid"):
            job = None  # a later Job of the same name: not this run's
    return await _log_response(request, job, record)


async def _job_log(request: web.Request) -> web.StreamResponse:
    ns, name = _name(request, "ns"), _name(request, "job")
    api = _api(request)
    job = await api.get_job(ns, name)
    record = None
    if job is None:
        runs = await _or_empty(api.list_custom(RUN_PLURAL, ns))
        mine = [r for r in runs if ((r.get("spec") or {}).get("job") or {}).get("name") == name]
        if not mine:
            raise ApiError(404, "NotFound", f"no Job or run record {ns}/{name}")
        record = max(mine, key=lambda r: str((r.get("spec") or {}).get("startTime") or ""))
    return await _log_response(request, job, record)


# --- static files and documents -------------------------------------------------------


def _file(path: Path, content_type: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not path.is_file():
            raise ApiError(404, "NotFound", "not found")
        return web.Response(
            body=path.read_bytes(),
            headers={"Content-Type": content_type, "Cache-Control": "no-cache"},
        )

    return handler


_PLACEHOLDER = (
    b"<!doctype html><meta charset=utf-8><title>schemaop console</title>"
    b"<p>The console's user interface is not built into this package.</p>"
)


async def _placeholder(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_PLACEHOLDER, content_type="text/html", charset="utf-8")


def _content_type(path: Path) -> str:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".mjs":
        content_type = "text/javascript"
    if content_type.startswith("text/") or content_type == "application/javascript":
        content_type += "; charset=utf-8"
    return content_type


def _add_static(app: web.Application) -> None:
    """``/`` and ``/ui/...``: the UI's page; ``/static/...``: each file of the built UI,
    a route of its own (a request path never becomes a file-system lookup)."""
    static = package_file("static")
    index = static / "index.html"
    page: Handler = _file(index, "text/html; charset=utf-8") if index.is_file() else _placeholder
    app.router.add_get("/", page)
    app.router.add_get("/ui/{tail:.*}", page)
    if static.is_dir():
        for path in sorted(static.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                relative = path.relative_to(static).as_posix()
                app.router.add_get(f"/static/{relative}", _file(path, _content_type(path)))


async def _healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok", content_type="text/plain")


async def _version(request: web.Request) -> web.StreamResponse:
    return _json({"version": __version__})


def _sidecar_openapi(config: ConsoleConfig) -> Path:
    if config.sidecar_openapi_path:
        return Path(config.sidecar_openapi_path)
    return Path(str(resources.files("schemaop.sidecar").joinpath("openapi.json")))


# --- assembly -------------------------------------------------------------------------


def make_app(config: ConsoleConfig) -> web.Application:
    """The console's aiohttp application."""
    app = web.Application(
        middlewares=[
            json_error_middleware(log, code_for, INTERNAL_MESSAGE),
            _api_errors,
            _auth,
        ],
        client_max_size=MAX_BODY,
    )
    state = ConsoleState(config)
    app[STATE_KEY] = state
    app.on_response_prepare.append(_headers)
    r = app.router
    r.add_get("/healthz", _healthz)
    r.add_post("/login", _login_post)
    r.add_get("/login", _login_get)
    r.add_post("/logout", _logout)
    r.add_get("/api/session", _session)
    r.add_get("/api/v1/version", _version)
    r.add_get("/api/v1/openapi.json", _file(package_file("openapi.json"), "application/json"))
    r.add_get("/api/v1/sidecar-openapi.json", _file(_sidecar_openapi(config), "application/json"))
    r.add_get("/api/v1/schemaversions", _list)
    r.add_get("/api/v1/events", _events)
    sv = "/api/v1/namespaces/{ns}/schemaversions/{name}"
    r.add_get(sv, _detail)
    r.add_get(sv + "/preview", _preview)
    r.add_post(sv + "/approve", _approve)
    r.add_post(sv + "/target", _target)
    r.add_post(sv + "/pause", _pause)
    r.add_post(sv + "/retry", _retry)
    r.add_get("/api/v1/namespaces/{ns}/runs/{name}", _run)
    r.add_get("/api/v1/namespaces/{ns}/runs/{name}/log", _run_log)
    r.add_get("/api/v1/namespaces/{ns}/jobs/{job}/log", _job_log)
    _add_static(app)

    async def close(app: web.Application) -> None:
        state.close()

    app.on_cleanup.append(close)
    return app


@contextlib.asynccontextmanager
async def running(config: ConsoleConfig) -> AsyncIterator[tuple[web.AppRunner, int]]:
    """Run the console until the block exits; yields the runner and the bound port."""
    app = make_app(config)
    runner = web.AppRunner(
        app,
        access_log=log,
        access_log_class=access_logger_class(()),
        handle_signals=False,
        shutdown_timeout=1.0,
    )
    redaction.install_log_scrubber()  # tokens seen are remembered: scrubbed from every record
    with masking(None):
        await runner.setup()
        site = web.TCPSite(runner, config.listen_host, config.listen_port)
        try:
            await site.start()
            yield runner, int(runner.addresses[0][1])
        finally:
            await runner.cleanup()


async def serve(config: ConsoleConfig, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or forever, until cancelled)."""
    async with running(config) as (_, port):
        log.info(
            "schemaop console (%s mode) listening on %s:%d", config.mode, config.listen_host, port
        )
        await (stop or asyncio.Event()).wait()
        log.info("shutting down")
