"""The sidecar under abuse, against a real PostgreSQL and over real sockets:
slow and oversized requests, odd bytes, unexpected errors, the token in logs,
Vary, the token's whitespace, and clients behind a trusted proxy.

Timing assertions leave generous slack (the machine is shared): the header
timeout is set small and connections must be gone within it plus 10 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from sidecar_support import ALL_TYPES_SQL, run_sql, sidecar, wait_until

from schemaop.sidecar import app as app_module
from schemaop.sidecar.app import make_cache, running
from schemaop.sidecar.config import load_config
from schemaop.sidecar.representation import Snapshot
from schemaop.web.forwarded import parse_networks

SECRET = "s3cret-Token-never-logged"


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        assert self.headers["content-type"].startswith("application/json"), self
        body: dict[str, Any] = json.loads(self.body)["error"]
        return body


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body)


def port_of(base: str) -> int:
    return int(urlsplit(base).port or 0)


async def exchange(base: str, request: bytes, timeout: float = 20.0) -> Answer:
    """Send raw bytes, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(base))
    try:
        writer.write(request)
        await writer.drain()
        return parse(await asyncio.wait_for(reader.read(), timeout))
    finally:
        writer.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the sidecar and aiohttp log, down to debug."""
    for name in ("schemaop.sidecar", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


async def test_slow_clients_are_cut_off_after_the_header_timeout(database: str) -> None:
    timeout = 2.0
    async with sidecar(database, header_timeout=timeout) as (base, _):

        async def slow(trickle: bool) -> tuple[float, bytes]:
            """A client that never finishes its headers: it sends a request line
            and then a header byte every 0.5 s (or nothing at all)."""
            started = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(base))
            if trickle:
                writer.write(b"GET /api/v1/version HTTP/1.1\r\nHost: x\r\n")

            async def dribble() -> None:
                while True:
                    await asyncio.sleep(0.5)
                    writer.write(b"X")

            dribbler = asyncio.create_task(dribble()) if trickle else None
            try:
                answer = await asyncio.wait_for(reader.read(), timeout + 10)
            finally:
                if dribbler:
                    dribbler.cancel()
                writer.close()
            return time.monotonic() - started, answer

        clients = [slow(trickle=i % 5 != 0) for i in range(60)]  # 48 trickle, 12 silent
        results = await asyncio.gather(*clients)
        # Meanwhile and afterwards, a well-behaved client is served.
        async with aiohttp.ClientSession() as s, s.get(f"{base}/healthz") as r:
            assert r.status == 200

    for elapsed, raw in results:
        assert timeout * 0.9 <= elapsed <= timeout + 10, elapsed
        answer = parse(raw)
        assert answer.status == 408
        assert answer.error()["code"] == "request_timeout"
        assert answer.headers["connection"] == "close"


async def test_idle_keep_alive_and_long_streams_are_not_header_timeouts(database: str) -> None:
    # The timer measures a request's headers, not idleness or a long answer.
    async with sidecar(database, header_timeout=1.0) as (base, cache):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(base))
        try:
            for _ in range(2):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                line = await asyncio.wait_for(reader.readline(), 10)
                assert line.startswith(b"HTTP/1.1 200"), line
                await asyncio.wait_for(reader.readuntil(b'"}'), 10)
                await asyncio.sleep(2.5)  # idle on a kept-alive connection
        finally:
            writer.close()
        # An event stream outlives the header timeout and still gets its events,
        # even with the start of a pipelined request behind it (bytes that arm
        # the timer while an answer is in progress).
        await wait_until(lambda: cache.listening, timeout=10.0, what="the listener")
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(base))
        try:
            writer.write(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            seen = await asyncio.wait_for(reader.readuntil(b"event: hello"), 10)
            assert seen.startswith(b"HTTP/1.1 200"), seen
            writer.write(b"GET /heal")
            await asyncio.sleep(2.5)
            run_sql(
                database,
                "CREATE TABLE later (id int);"
                """NOTIFY schemaop_schema_changed, '{"version": null, "fingerprint": "x"}'""",
            )
            await asyncio.wait_for(reader.readuntil(b"event: schema-changed"), 10)
        finally:
            writer.close()


async def test_oversized_and_malformed_requests_are_json_400s_and_tokens_stay_out(
    database: str, logs: pytest.LogCaptureFixture
) -> None:
    async with sidecar(database, token=SECRET, access_log=True) as (base, _):
        long_url = b"/api/v1/events?access_token=" + SECRET.encode() + b"&x=" + b"a" * 9000
        answers = [
            await exchange(base, b"GET " + long_url + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
            await exchange(
                base,
                b"GET /api/v1/schema HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + SECRET.encode()
                + b"A" * 9000
                + b"\r\n\r\n",
            ),
            await exchange(
                base, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
            ),
        ]
        for answer in answers:
            assert answer.status == 400
            assert answer.error()["code"] == "request_too_large"
            assert SECRET.encode() not in answer.body
        answer = await exchange(base, b"\x16\x03\x01 not http at all\r\n\r\n")
        assert answer.status == 400 and answer.error()["code"] == "bad_request"
        answer = await exchange(base, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert answer.status == 400 and answer.error()["code"] == "bad_request"
    assert "refused a malformed request" in logs.text
    assert "access_token=" + SECRET not in logs.text
    assert SECRET not in logs.text


async def test_odd_bytes_in_the_token_and_a_long_static_path_are_4xx_json(
    database: str, logs: pytest.LogCaptureFixture
) -> None:
    async with sidecar(database, token=SECRET) as (base, _):
        for raw_token in (b"\xc3\xa9t\xff", b"\xff" * 40, SECRET.encode() + b"\x80"):
            answer = await exchange(
                base,
                b"GET /api/v1/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Authorization: Bearer " + raw_token + b"\r\n\r\n",
            )
            assert answer.status == 401, answer
            assert answer.error()["code"] == "unauthorized"
        answer = await exchange(
            base,
            b"GET /api/v1/events?access_token=%FF%FE%C3 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n",
        )
        assert answer.status == 401 and answer.error()["code"] == "unauthorized"
        async with aiohttp.ClientSession() as s:
            for path in ("/static/" + "a" * 5000, "/static/../config.py", "/static/nothing.js"):
                async with s.get(base + path) as r:
                    assert r.status == 404, path
                    body = await r.json()
                    assert body["error"]["code"] == "not_found"
            async with s.get(f"{base}/static/explorer.js") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/javascript")
    assert "Traceback" not in logs.text


async def test_an_unexpected_error_is_a_json_500_without_traceback_or_token(
    database: str, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_body(self: Snapshot, stale: bool) -> bytes:
        raise RuntimeError(f"boom near access_token={SECRET} and Bearer {SECRET}")

    def broken_route(request: Any) -> str:
        raise RuntimeError(f"outside the error middleware, Authorization: Bearer {SECRET}")

    monkeypatch.setattr(Snapshot, "version_body", broken_body)
    async with sidecar(database, token=SECRET) as (base, _), aiohttp.ClientSession() as s:
        auth = {"Authorization": f"Bearer {SECRET}"}
        async with s.get(f"{base}/api/v1/version", headers=auth) as r:
            assert r.status == 500
            text = await r.text()
            assert json.loads(text)["error"]["code"] == "internal"
            assert "Traceback" not in text and "boom" not in text and SECRET not in text
        # An error outside the application's middlewares: the protocol layer answers.
        monkeypatch.setattr(app_module, "_route_name", broken_route)
        async with s.get(f"{base}/healthz") as r:
            assert r.status == 500
            assert r.headers["Content-Type"].startswith("application/json")
            text = await r.text()
            assert json.loads(text)["error"]["code"] == "internal"
            assert "Traceback" not in text and SECRET not in text
    assert "boom near access_token=***" in logs.text  # logged, masked
    assert "Bearer ***" in logs.text
    assert SECRET not in logs.text


async def test_vary_keeps_accept_encoding_beside_origin(database: str) -> None:
    run_sql(database, ALL_TYPES_SQL)
    origin = "https://app.example"
    async with (
        sidecar(database, cors_origins=(origin,)) as (base, _),
        aiohttp.ClientSession(auto_decompress=True) as s,
    ):
        gzip = {"Accept-Encoding": "gzip", "Origin": origin}
        async with s.get(f"{base}/api/v1/schema", headers=gzip) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Access-Control-Allow-Origin"] == origin
            vary = {v.strip() for v in r.headers["Vary"].split(",")}
            assert vary == {"Accept-Encoding", "Origin"}
            etag = r.headers["ETag"]
        async with s.get(f"{base}/api/v1/schema", headers={**gzip, "If-None-Match": etag}) as r:
            assert r.status == 304
            assert {v.strip() for v in r.headers["Vary"].split(",")} == {
                "Accept-Encoding",
                "Origin",
            }
        # An origin not allowed gets no CORS headers, but the answer still varies.
        async with s.get(f"{base}/api/v1/schema", headers={"Origin": "https://evil.example"}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
            assert {v.strip() for v in r.headers["Vary"].split(",")} == {
                "Accept-Encoding",
                "Origin",
            }
        # Error answers carry CORS headers too, so a page can read them.
        async with s.get(f"{base}/api/v1/nothing", headers={"Origin": origin}) as r:
            assert r.status == 404
            assert r.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize("source", ["environment", "file"])
async def test_a_token_with_a_trailing_newline_matches(
    database: str, tmp_path: Path, source: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{SECRET}\n")
    env = {"SCHEMAOP_DATABASE_URL": database, "SCHEMAOP_SIDECAR_RATE_LIMIT": "0"}
    flags: dict[str, Any] = {"host": "127.0.0.1", "port": 0}
    if source == "file":
        flags["token_file"] = str(token_file)
    else:
        env["SCHEMAOP_SIDECAR_TOKEN"] = f"{SECRET}\n"
    config = load_config(flags, env)
    async with (
        running(config, make_cache(config)) as (_, port),
        aiohttp.ClientSession() as s,
    ):
        url = f"http://127.0.0.1:{port}/api/v1/version"
        async with s.get(url, headers={"Authorization": f"Bearer {SECRET}"}) as r:
            assert r.status == 200
        async with s.get(url, headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401


async def statuses(s: aiohttp.ClientSession, url: str, forwarded: str | None, n: int) -> list[int]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    out = []
    for _ in range(n):
        async with s.get(url, headers=headers) as r:
            out.append(r.status)
    return out


async def test_rate_limit_per_client_behind_a_trusted_proxy(
    database: str, logs: pytest.LogCaptureFixture
) -> None:
    limits = {"rate_limit": 0.01, "rate_burst": 3, "access_log": True}  # no refill in a test
    # The test client is the proxy: it connects from 127.0.0.1.
    trusted = parse_networks(["127.0.0.0/8"])
    async with (
        sidecar(database, trusted_proxies=trusted, **limits) as (base, _),
        aiohttp.ClientSession() as s,
    ):
        url = f"{base}/api/v1/version"
        assert await statuses(s, url, "198.51.100.1", 4) == [200, 200, 200, 429]
        # Another user behind the same proxy has a bucket of their own.
        assert await statuses(s, url, "198.51.100.2", 3) == [200, 200, 200]
        # Addresses the client wrote on the left do not buy it a new bucket.
        assert await statuses(s, url, "7.7.7.7, 198.51.100.1", 1) == [429]
        assert await statuses(s, url, "8.8.8.8, 198.51.100.1, 127.0.0.9", 1) == [429]
    assert '198.51.100.2 "GET /api/v1/version HTTP/1.1" 200' in logs.text

    # Without trusted proxies the header is ignored: everyone shares the peer's bucket.
    async with (
        sidecar(database, **limits) as (base, _),
        aiohttp.ClientSession() as s,
    ):
        url = f"{base}/api/v1/version"
        assert await statuses(s, url, "198.51.100.1", 3) == [200, 200, 200]
        assert await statuses(s, url, "198.51.100.2", 1) == [429]
