"""The console's HTTP surface without a cluster: health, headers, authentication and CSRF
refusals, the one-time code, static pages; every refusal a JSON 4xx."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from schemaop.console.app import CSP, make_app
from schemaop.console.config import ConsoleConfig


class _NoCluster:
    """Stands for the kubeconfig's client: the API server is unreachable."""

    def __init__(self) -> None:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = "https://127.0.0.1:9"  # nothing listens on the discard port
        configuration.retries = 0
        self.client = client.ApiClient(configuration)

    def __call__(self) -> Any:
        return self.client


async def _client(config: ConsoleConfig) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(config)))
    await client.start_server()
    return client


async def test_health_headers_and_401_json() -> None:
    client = await _client(ConsoleConfig(mode="cluster", api_server="https://127.0.0.1:9"))
    try:
        r = await client.get("/healthz")
        assert r.status == 200 and await r.text() == "ok"
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        for path in ("/api/session", "/api/v1/schemaversions", "/api/v1/events"):
            r = await client.get(path)
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "Unauthenticated"
            assert r.headers["Cache-Control"] == "no-store"
        r = await client.get("/")
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
        assert (await client.get("/ui/ns/db")).status == 200
        r = await client.get("/static/../../etc/passwd")
        assert r.status == 404 and "error" in await r.json()
        # A bearer token is used as is; the API server cannot be reached: 503, no traceback.
        r = await client.get("/api/v1/schemaversions", headers={"Authorization": "Bearer x"})
        assert r.status == 503 and (await r.json())["error"]["code"] == "Unavailable"
        r = await client.post(
            "/api/v1/namespaces/ns/schemaversions/db/pause",
            json={"paused": True},
            headers={"Authorization": "Bearer x"},
        )
        assert r.status == 403 and (await r.json())["error"]["code"] == "CSRFRejected"
        r = await client.post("/login", data=b"nope", headers={"Content-Type": "application/json"})
        assert r.status == 400 and (await r.json())["error"]["code"] == "BadRequest"
        r = await client.post(
            "/login", data=b"x" * 100_000, headers={"Content-Type": "application/json"}
        )
        assert r.status == 413 and "error" in await r.json()
        # A token that cannot be a bearer token (schemathesis sent one): a 4xx, never a 500
        # from the HTTP client refusing to send it on.
        r = await client.post("/login", json={"token": "tok\u00e9n\u2603"})
        assert r.status == 400 and (await r.json())["error"]["code"] == "BadRequest"
        r = await client.get("/api/session", headers={"Authorization": "Bearer a b"})
        assert r.status == 401 and (await r.json())["error"]["code"] == "Unauthenticated"
        r = await client.get("/login?code=anything", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/"
    finally:
        await client.close()


async def test_the_local_one_time_code_opens_one_session() -> None:
    config = ConsoleConfig(
        mode="local", local_credentials=_NoCluster(), one_time_code="c0de", secure_cookies=False
    )
    client = await _client(config)
    try:
        r = await client.get("/login?code=wrong", allow_redirects=False)
        assert r.status == 401
        r = await client.get("/login?code=c0de", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/"
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        r = await client.get("/api/session")
        body = await r.json()
        assert r.status == 200 and body["mode"] == "local" and body["user"] == "kubeconfig"
        csrf = body["csrfToken"]
        r = await client.post(
            "/api/v1/namespaces/ns/schemaversions/db/pause",
            json={"paused": True},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status == 503  # past CSRF; the API server is unreachable here
        # Used once: a second browser cannot open a session with it.
        other: TestClient[Any, Any] = TestClient(client.server)
        r = await other.get("/login?code=c0de", allow_redirects=False)
        assert r.status == 401
        # A bearer token does not replace the session in local mode.
        r = await other.get("/api/session", headers={"Authorization": "Bearer x"})
        assert r.status == 401
        await other.close()
    finally:
        await client.close()


def test_a_persons_token_is_scrubbed_from_logs_once_used() -> None:
    import logging

    from schemaop import redaction
    from schemaop.console.app import ConsoleState

    token = "eyJhbGciOiJSUzI1NiJ9.c29tZS1wZXJzb24tdG9rZW4.c2lnbmF0dXJlLXBhcnQtaGVyZQ"
    state = ConsoleState(ConsoleConfig(api_server="https://127.0.0.1:9"))
    state.api_for(token)
    assert token not in redaction.scrub(f"the call with {token} failed")
    redaction.install_log_scrubber()
    record = logging.getLogRecordFactory()(
        "schemaop.console", logging.ERROR, __file__, 1, "token %s", (token,), None
    )
    assert token not in record.getMessage()
    state.close()


async def test_review_findings_csrf_across_replicas_deep_json_and_short_tokens() -> None:
    """A forwarded bearer token's CSRF token is the same on every replica; a deeply
    nested body is a 400, not a 500; a short token the API never accepted is not made
    a secret (it would hide ordinary words in every log line)."""
    from schemaop import redaction
    from schemaop.console.auth import Csrf

    assert Csrf().token_for("bearer:t0k3n-abc") == Csrf().token_for("bearer:t0k3n-abc")
    assert Csrf().token_for("session:x") != Csrf().token_for("session:x")
    client = await _client(ConsoleConfig(mode="cluster", api_server="https://127.0.0.1:9"))
    try:
        r = await client.post(
            "/login", data=b"[" * 60_000, headers={"Content-Type": "application/json"}
        )
        assert r.status in (400, 413) and "error" in await r.json()
        r = await client.get("/api/v1/version", headers={"Authorization": "Bearer wordy"})
        assert "wordy" in redaction.scrub("a wordy message")
    finally:
        await client.close()


async def test_a_stream_whose_reader_left_ends_with_a_full_queue() -> None:
    """The browser leaves while the queue is full: the pump returns and closes its
    sources (their threads stop) instead of waiting forever."""
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator

    from schemaop.console.app import _pump

    closed: list[str] = []

    async def source(name: str) -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"data: x\n\n"
        finally:
            closed.append(name)

    class Gone:
        writes = 0

        async def write(self, _: bytes) -> None:
            self.writes += 1
            if self.writes > 5:
                raise ConnectionResetError("the browser left")

    async def run() -> None:
        with contextlib.suppress(ConnectionResetError):
            await _pump([source("a"), source("b")], Gone(), 15)  # type: ignore[arg-type]

    await asyncio.wait_for(run(), 10)
    assert sorted(closed) == ["a", "b"]


class _WatchingApi:
    """The person's API for the stream tests: may list SchemaVersions in the configured
    namespaces only, may watch runs there; every watch stays open until closed."""

    def __init__(self) -> None:
        self.open = 0

    async def can(self, verb: str, resource: str, namespace: str | None) -> bool:
        return namespace is not None

    async def watch_custom(self, plural: str, namespace: str | None) -> Any:
        import asyncio

        self.open += 1
        try:
            await asyncio.Event().wait()
            yield {}
        finally:
            self.open -= 1


async def _watching_client(**limits: Any) -> tuple[TestClient[Any, Any], _WatchingApi]:
    from schemaop.console.app import STATE_KEY

    api = _WatchingApi()
    app = make_app(ConsoleConfig(api_server="https://127.0.0.1:9", keepalive_seconds=0.2, **limits))
    app[STATE_KEY].api_for = lambda token: api  # type: ignore[assignment, method-assign, return-value]
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client, api


async def test_a_stream_that_needs_more_watches_than_allowed_is_a_429() -> None:
    """Two namespaces: SchemaVersions and runs in each, four watches for one stream."""
    client, api = await _watching_client(
        namespaces=("a", "b"), max_watches_per_stream=3, max_watches_per_session=10
    )
    try:
        r = await client.get("/api/v1/events", headers={"Authorization": "Bearer one"})
        assert r.status == 429 and r.content_type == "application/json"
        error = (await r.json())["error"]
        assert error["code"] == "TooManyWatches"
        assert "4 watches" in error["message"] and "at most 3" in error["message"]
        assert "--namespaces" in error["message"]
        assert api.open == 0
    finally:
        await client.close()


async def test_the_watches_of_one_session_are_bounded_and_given_back() -> None:
    import asyncio

    client, api = await _watching_client(
        namespaces=("a",), max_watches_per_stream=2, max_watches_per_session=3
    )
    one, other = {"Authorization": "Bearer one"}, {"Authorization": "Bearer other"}
    try:
        first = await client.get("/api/v1/events", headers=one)
        assert first.status == 200
        await asyncio.wait_for(first.content.readuntil(b"\n\n"), 5)  # the stream is open
        for _ in range(50):
            if api.open == 2:
                break
            await asyncio.sleep(0.05)
        assert api.open == 2
        second = await client.get("/api/v1/events", headers=one)
        assert second.status == 429
        error = (await second.json())["error"]
        assert error["code"] == "TooManyWatches" and "already has 2" in error["message"]
        assert second.headers.get("Retry-After")
        # Someone else's streams are counted apart.
        third = await client.get("/api/v1/events", headers=other)
        assert third.status == 200
        third.close()
        # The first stream ends (the browser left): its watches are given back.
        first.close()
        for _ in range(100):
            again = await client.get("/api/v1/events", headers=one)
            if again.status == 200:
                again.close()
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the watches of a closed stream were not given back")
    finally:
        await client.close()
