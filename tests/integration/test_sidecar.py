"""The schema sidecar against a real PostgreSQL: every endpoint, caching, live
changes, stale serving, rate limiting, auth, CORS, quoted names, the command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import jsonschema
import psycopg
import pytest
from sidecar_support import (
    ALL_TYPES_SQL,
    apply_migration,
    read_only_dsn,
    run_sql,
    sidecar,
    wait_until,
)

from devenv import pg as devpg
from devenv.util import free_port
from schemaop.commands.sidecar import SHUTDOWN_GRACE
from schemaop.engine.schemaread import SchemaReader, sidecar_conninfo
from schemaop.sidecar.app import package_file

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = json.loads((ROOT / "schemas/openapi/sidecar.json").read_text())


def conforms(body: Any, component: str) -> None:
    """Validate a body against a component schema of the OpenAPI document."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": OPENAPI["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


async def get(session: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any, Any]:
    async with session.get(url, **kw) as response:
        raw = await response.read()
        ctype = response.headers.get("Content-Type", "")
        body = json.loads(raw) if raw and "json" in ctype else raw
        return response.status, body, response.headers


def table_url(base: str, kind: str, schema: str, table: str) -> str:
    prefix = "schema/tables" if kind == "table" else "jsonschema"
    return f"{base}/api/v1/{prefix}/{quote(schema, safe='')}/{quote(table, safe='')}"


async def test_every_endpoint_on_a_schema_with_all_types(database: str) -> None:
    run_sql(database, ALL_TYPES_SQL)
    async with sidecar(read_only_dsn(database)) as (base, _), aiohttp.ClientSession() as s:
        status, doc, headers = await get(s, f"{base}/api/v1/schema")
        assert status == 200
        conforms(doc, "SchemaDocument")
        assert doc["version"] is None and doc["stale"] is False
        assert len(doc["fingerprint"]) == 64
        etag = headers["ETag"]
        assert doc["fingerprint"][:24] in etag
        public = doc["schemas"][0]
        assert public["name"] == "public"
        names = {t["name"]: t for t in public["tables"]}
        assert set(names) == {"authors", "everything", "published"}
        assert names["published"]["kind"] == "view"
        assert public["enums"] == [
            {"schema": "public", "name": "mood", "labels": ["sad", "ok", "happy"]}
        ]
        every = names["everything"]
        cols = {c["name"]: c for c in every["columns"]}
        assert cols["short"]["type"] == "character varying(5)"
        assert cols["short"]["default"] is not None
        assert cols["title"]["comment"] == "the title" and not cols["title"]["nullable"]
        assert cols["doubled"]["generated"]["kind"] == "stored"
        assert names["authors"]["columns"][0]["identity"] == "always"
        assert every["primaryKey"]["columns"] == ["id"]
        assert every["foreignKeys"][0]["references"] == {
            "schema": "public",
            "table": "authors",
            "columns": ["id"],
        }
        assert every["foreignKeys"][0]["onDelete"] == "CASCADE"
        assert {c["name"] for c in every["checkConstraints"]} >= {"everything_pct_check"}
        assert any(i["predicate"] == "flag" for i in every["indexes"])
        assert names["authors"]["uniqueConstraints"][0]["columns"] == ["name"]

        for table in names:
            status, body, h = await get(s, table_url(base, "table", "public", table))
            assert status == 200 and h["ETag"] == etag
            conforms(body, "TableDocument")
            assert body["table"]["name"] == table
            status, body, _ = await get(s, table_url(base, "jsonschema", "public", table))
            assert status == 200
            jsonschema.Draft202012Validator.check_schema(body)
        status, js, _ = await get(s, table_url(base, "jsonschema", "public", "everything"))
        assert set(js["required"]) == {"small", "title", "flag", "feeling", "qty"}

        status, body, _ = await get(s, f"{base}/api/v1/version")
        assert status == 200
        conforms(body, "Version")
        for url in (
            table_url(base, "table", "public", "nope"),
            table_url(base, "jsonschema", "nope", "authors"),
            f"{base}/api/v1/nothing-here",
        ):
            status, body, _ = await get(s, url)
            assert status == 404 and body["error"]["code"] == "not_found"

        status, body, _ = await get(s, f"{base}/healthz")
        assert status == 200 and body["status"] == "ok"
        status, body, _ = await get(s, f"{base}/readyz")
        assert status == 200 and body["ready"] is True
        conforms(body, "Readiness")
        status, body, _ = await get(s, f"{base}/openapi.json")
        assert status == 200 and body == OPENAPI
        status, body, h = await get(s, f"{base}/")
        assert (
            status == 200
            and b"schema explorer" in body
            and h["Content-Type"].startswith("text/html")
        )
        status, body, _ = await get(s, f"{base}/static/explorer.js")
        assert status == 200 and b"EventSource" in body
        status, body, _ = await get(s, f"{base}/metrics")
        assert status == 200
        assert b'schemaop_sidecar_http_requests_total{method="GET",route="/api/v1/schema"' in body
        assert b"schemaop_sidecar_introspection_duration_seconds_count" in body


async def test_etag_answers_304_and_gzip(database: str) -> None:
    run_sql(database, ALL_TYPES_SQL)
    async with sidecar(database) as (base, _), aiohttp.ClientSession(auto_decompress=True) as s:
        _, doc, headers = await get(s, f"{base}/api/v1/schema")
        etag = headers["ETag"]
        for path in (
            "/api/v1/schema",
            "/api/v1/version",
            "/api/v1/schema/tables/public/authors",
            "/api/v1/jsonschema/public/authors",
        ):
            status, body, h = await get(s, base + path, headers={"If-None-Match": etag})
            assert status == 304 and not body and h["ETag"] == etag
            status, _, _ = await get(s, base + path, headers={"If-None-Match": 'W/"other", *'})
            assert status == 304
            status, _, _ = await get(s, base + path, headers={"If-None-Match": '"other"'})
            assert status == 200
        async with s.get(f"{base}/api/v1/schema", headers={"Accept-Encoding": "gzip"}) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert await r.json() == doc


def test_reads_are_read_only_transactions(database: str) -> None:
    reader = SchemaReader(sidecar_conninfo(database), ["public"], "schemaop")
    try:
        conn = reader._connection()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
            conn.execute("CREATE TABLE not_allowed (id int)")
    finally:
        reader.close()
    with_options = database + "?options=-c%20statement_timeout%3D5000"
    reader = SchemaReader(sidecar_conninfo(with_options), ["public"], "schemaop")
    try:
        conn = reader._connection()
        with conn.transaction():
            assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
            assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
    finally:
        reader.close()


async def test_quoted_names_are_served_and_nothing_is_injectable(database: str) -> None:
    run_sql(
        database,
        """
        CREATE SCHEMA "Odd Schema";
        CREATE TABLE "Odd Schema"."My ""Quoted"" Table" ("Col One" int PRIMARY KEY, "select" text);
        CREATE TABLE "Odd Schema"."x'); DROP TABLE public.victim; --" (id int);
        CREATE TABLE public.victim (id int);
        CREATE TABLE public."UPPER" ("MixedCase" text NOT NULL CHECK ("MixedCase" <> ''));
        """,
    )
    schemas = ("Odd Schema", "public", "'; DROP TABLE public.victim; --")
    async with (
        sidecar(read_only_dsn(database), schemas=schemas) as (base, _),
        aiohttp.ClientSession() as s,
    ):
        _, doc, _ = await get(s, f"{base}/api/v1/schema")
        assert [x["name"] for x in doc["schemas"]] == list(schemas)
        odd = {t["name"] for t in doc["schemas"][0]["tables"]}
        assert odd == {'My "Quoted" Table', "x'); DROP TABLE public.victim; --"}
        for schema, table in [
            ("Odd Schema", 'My "Quoted" Table'),
            ("Odd Schema", "x'); DROP TABLE public.victim; --"),
            ("public", "UPPER"),
        ]:
            status, body, _ = await get(s, table_url(base, "table", schema, table))
            assert status == 200 and body["table"]["name"] == table
            status, body, _ = await get(s, table_url(base, "jsonschema", schema, table))
            assert status == 200
        assert body["required"] == ["MixedCase"]
        assert body["properties"]["MixedCase"]["allOf"] == [{"not": {"const": ""}}]
        status, _, _ = await get(s, table_url(base, "table", "public", "upper"))
        assert status == 404  # names are exact, not case-folded
        status, _, _ = await get(s, f"{base}/api/v1/schema/tables/public/victim%27%3B")
        assert status == 404
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT to_regclass('public.victim')").fetchone() != (None,)


async def read_events(
    response: aiohttp.ClientResponse, into: list[tuple[str, dict[str, Any]]]
) -> None:
    event = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            into.append((event, json.loads(line[len("data: ") :])))


async def test_a_migration_reaches_the_schema_and_the_event_stream_within_a_second(
    database: str,
) -> None:
    ro = read_only_dsn(database)
    apply_migration(database, "1", "CREATE TABLE public.first (id int PRIMARY KEY)")
    async with sidecar(ro) as (base, _), aiohttp.ClientSession() as s:
        _, doc, _ = await get(s, f"{base}/api/v1/schema")
        assert doc["version"] == "1"
        events: list[tuple[str, dict[str, Any]]] = []
        async with s.get(f"{base}/api/v1/events") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            reader = asyncio.create_task(read_events(stream, events))
            await wait_until(lambda: events, what="the hello event")
            assert events[0][0] == "hello" and events[0][1]["version"] == "1"

            # The clock starts when the engine has committed (and notified); the
            # fallback poll is 30 s here, so only the LISTEN path can make it. The
            # waits are longer than the bound so that a miss reports its latency.
            await asyncio.to_thread(
                apply_migration, database, "2", 'CREATE TABLE public.second ("Name" text)'
            )
            committed = time.monotonic()

            async def served() -> bool:
                _, body, _ = await get(s, f"{base}/api/v1/schema")
                return body["version"] == "2" and any(
                    t["name"] == "second" for t in body["schemas"][0]["tables"]
                )

            await wait_until(served, timeout=10.0, what="version 2 in /api/v1/schema")
            await wait_until(
                lambda: any(e == "schema-changed" for e, _ in events),
                timeout=10.0,
                what="a schema-changed event",
            )
            latency = time.monotonic() - committed
            changed = [p for e, p in events if e == "schema-changed"]
            assert len(changed) == 1 and changed[0]["version"] == "2"
            assert latency < 1.0, f"served {latency:.2f}s after the commit"
            reader.cancel()


async def test_ddl_with_a_bare_notify_and_without_one(database: str) -> None:
    async with sidecar(database, poll_interval=30.0) as (base, cache), aiohttp.ClientSession() as s:
        _, doc, _ = await get(s, f"{base}/api/v1/schema")
        before = doc["fingerprint"]
        await wait_until(lambda: cache.listening, timeout=10.0, what="the listener")
        run_sql(
            database,
            "CREATE TABLE notified (id int);"
            """NOTIFY schemaop_schema_changed, '{"version": null, "fingerprint": "x"}'""",
        )
        # Well before the 30 s poll: the notification did it.
        await wait_until(
            lambda: cache.snapshot is not None and cache.snapshot.fingerprint != before,
            timeout=10.0,
            what="the notified change",
        )
        # No NOTIFY at all: the slow poll picks the change up.
        cache.poll_interval = 0.5
        cache.wake()  # start a 0.5 s wait now instead of finishing the 30 s one
        await asyncio.sleep(0.2)
        run_sql(database, "CREATE TABLE silent (id int)")
        await wait_until(
            lambda: (
                cache.snapshot is not None and "silent" in {t for _, t in cache.snapshot.tables}
            ),
            timeout=10.0,
        )


async def test_database_down_serves_the_stale_schema(tmp_path: Path) -> None:
    try:
        server = devpg.start(tmp_path / "pg")
    except Exception as exc:  # pragma: no cover - depends on the machine
        from conftest import unavailable

        unavailable("PostgreSQL", exc)
        raise
    try:
        dsn = server.create_database("stale")
        run_sql(dsn, ALL_TYPES_SQL)
        async with sidecar(dsn) as (base, cache), aiohttp.ClientSession() as s:
            _, fresh, headers = await get(s, f"{base}/api/v1/schema")
            events: list[tuple[str, dict[str, Any]]] = []
            async with s.get(f"{base}/api/v1/events") as stream:
                reader = asyncio.create_task(read_events(stream, events))
                await asyncio.to_thread(server.stop)
                await wait_until(lambda: cache.stale, timeout=15.0, what="stale")
                status, ready, _ = await get(s, f"{base}/readyz")
                assert status == 503 and ready["ready"] is False and ready["stale"] is True
                assert ready["reason"] == "database unreachable"
                for path in (
                    "/api/v1/schema",
                    "/api/v1/version",
                    "/api/v1/schema/tables/public/everything",
                    "/api/v1/jsonschema/public/everything",
                ):
                    status, body, h = await get(s, base + path)
                    assert status == 200, path
                    assert h["X-Schemaop-Stale"] == "true"
                    assert h["ETag"] == headers["ETag"]
                    if "jsonschema" not in path:
                        assert body["stale"] is True
                _, stale_doc, _ = await get(s, f"{base}/api/v1/schema")
                assert stale_doc["schemas"] == fresh["schemas"]
                status, _, _ = await get(s, f"{base}/healthz")
                assert status == 200
                await wait_until(
                    lambda: ("status", True) in [(e, p.get("stale")) for e, p in events]
                )

                await asyncio.to_thread(server.start)
                await wait_until(lambda: cache.ready, timeout=10.0, what="ready again")
                status, body, _ = await get(s, f"{base}/api/v1/schema")
                assert status == 200 and body["stale"] is False
                reader.cancel()
    finally:
        server.stop(mode="immediate")


async def test_database_never_reachable_is_503_not_a_crash() -> None:
    dsn = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing"
    async with sidecar(dsn) as (base, _), aiohttp.ClientSession() as s:
        status, body, h = await get(s, f"{base}/api/v1/schema")
        assert status == 503 and body["error"]["code"] == "unavailable" and h["Retry-After"]
        status, body, _ = await get(s, f"{base}/readyz")
        assert status == 503 and body["hasSchema"] is False
        assert "secret" not in json.dumps(body)


async def test_rate_limit_answers_429_with_retry_after(database: str) -> None:
    async with (
        sidecar(database, rate_limit=2.0, rate_burst=5) as (base, _),
        aiohttp.ClientSession() as s,
    ):
        statuses = []
        for _ in range(20):
            status, body, h = await get(s, f"{base}/api/v1/version")
            statuses.append(status)
            if status == 429:
                assert int(h["Retry-After"]) >= 1
                assert body["error"]["code"] == "rate_limited"
        assert statuses[:5] == [200] * 5
        assert statuses.count(429) >= 14
        for _ in range(10):  # probes are never limited
            status, _, _ = await get(s, f"{base}/healthz")
            assert status == 200
        _, metrics, _ = await get(s, f"{base}/metrics")
        assert b"schemaop_sidecar_rate_limited_total" in metrics


async def test_bearer_token_and_cors(database: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="schemaop.sidecar")
    async with (
        sidecar(
            database,
            token="s3cret-token",
            cors_origins=("https://app.example",),
            access_log=True,
        ) as (base, _),
        aiohttp.ClientSession() as s,
    ):
        status, _, h = await get(s, f"{base}/api/v1/schema")
        assert status == 401 and h["WWW-Authenticate"].startswith("Bearer")
        status, _, _ = await get(
            s, f"{base}/api/v1/schema", headers={"Authorization": "Bearer wrong"}
        )
        assert status == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        status, _, _ = await get(s, f"{base}/api/v1/schema", headers=auth)
        assert status == 200
        async with s.get(f"{base}/api/v1/events?access_token=s3cret-token") as stream:
            assert stream.status == 200
        for open_path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/"):
            status, _, _ = await get(s, base + open_path)
            assert status == 200, open_path

        origin = {"Origin": "https://app.example"}
        async with s.options(
            f"{base}/api/v1/schema",
            headers={**origin, "Access-Control-Request-Method": "GET"},
        ) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
            assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        status, _, h = await get(s, f"{base}/api/v1/schema", headers={**origin, **auth})
        assert status == 200 and h["Access-Control-Allow-Origin"] == "https://app.example"
        assert "ETag" in h["Access-Control-Expose-Headers"]
        _, _, h = await get(s, f"{base}/api/v1/schema", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in h
    # The access log has every request, the event stream's token replaced.
    assert '"GET /api/v1/events?access_token=*** HTTP/1.1" 200' in caplog.text
    assert '"GET /api/v1/schema HTTP/1.1" 401' in caplog.text
    assert "s3cret-token" not in caplog.text


def test_the_command_serves_and_stops_on_sigterm(database: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SCHEMAOP_DATABASE_URL": database.replace("postgres@", "postgres:pw-never-shown@"),
        "SCHEMAOP_SCHEMAS": "public",
    }
    log = tmp_path / "sidecar.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "schemaop",
                "sidecar",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        async def ready() -> None:
            async with aiohttp.ClientSession() as s:

                async def check() -> bool:
                    try:
                        status, _, _ = await get(s, f"http://127.0.0.1:{port}/readyz")
                    except aiohttp.ClientError:
                        return False
                    return status == 200

                await wait_until(check, timeout=20.0, what="the sidecar to be ready")

        asyncio.run(ready())
        proc.send_signal(signal.SIGTERM)
        # The command's own watchdog ends a stuck shutdown after SHUTDOWN_GRACE
        # with exit 1 and every thread's stack in the log.
        code = proc.wait(timeout=SHUTDOWN_GRACE + 20)
        assert code == 0, f"exit {code}; the sidecar's output:\n{log.read_text()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert "listening on 127.0.0.1" in output
    assert "pw-never-shown" not in output


def test_the_command_rejects_bad_configuration() -> None:
    env = {**os.environ, "SCHEMAOP_SIDECAR_RATE_LIMIT": "lots"}
    proc = subprocess.run(
        [sys.executable, "-m", "schemaop", "sidecar"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "rate limit: 'lots' is not a number" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_openapi_document_is_package_data_and_identical() -> None:
    assert (
        package_file("openapi.json").read_text()
        == (ROOT / "schemas/openapi/sidecar.json").read_text()
    )


def test_foreign_keys_into_unmanaged_schemas_name_their_columns(database: str) -> None:
    from schemaop.engine.introspect import introspect

    run_sql(
        database,
        "CREATE SCHEMA ref; CREATE TABLE ref.people (a int, pid int UNIQUE);"
        "CREATE TABLE public.cards (owner int REFERENCES ref.people (pid), n int);"
        "ALTER TABLE ref.people DROP COLUMN a;",
    )
    with psycopg.connect(database) as conn:
        (public,) = introspect(conn, ["public"])
    (fk,) = public["tables"][0]["foreignKeys"]
    assert fk["references"] == {"schema": "ref", "table": "people", "columns": ["pid"]}
    assert fk["columns"] == ["owner"]
