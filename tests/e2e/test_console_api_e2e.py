"""The console's JSON API against the real local control plane, with two people's own tokens.

Two ServiceAccounts, tokens from the TokenRequest API: ``viewer`` may read schemaop
objects in one namespace only; ``editor`` may read them everywhere and patch
SchemaVersions. The console runs in cluster mode in this process (its own
credentials: none) and every call it makes uses the caller's token, so RBAC
decides: lists across namespaces keep only what each may see, a refusal keeps
the API's 403 and message, a stale plan hash is refused with 409 PlanChanged (the
annotation written is the hash the page sent), non-GET calls without the CSRF
token are refused, the preview of a rollback lists its down steps, the event
stream carries a MODIFIED event, and a run's record and log are served after its
Job is gone. The operator does not run here: status is written as it would write it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from kube_support import (
    GROUP,
    VERSION,
    apply_crds,
    create_namespace,
    delete_namespace,
    migration_body,
    schemaversion_body,
)
from kubernetes import client

from devenv import cluster as devcluster
from schemaop.console.app import running
from schemaop.console.config import ConsoleConfig

pytestmark = pytest.mark.e2e

PLAN = "a" * 64
OTHER_PLAN = "b" * 64
SECRET = "hunter2-never-shown-anywhere"


def _rbac(kube: Any, ns: str, name: str, rules: list[dict[str, Any]], cluster: bool) -> str:
    """A ServiceAccount ``name`` in ``ns`` bound to ``rules`` (cluster-wide or in ``ns``);
    returns a token for it (TokenRequest API)."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(ns, {"metadata": {"name": name}})
    role_name = f"{ns}-{name}"
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": ns}]
    if cluster:
        rbac.create_cluster_role({"metadata": {"name": role_name}, "rules": rules})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": role_name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role_name,
                },
                "subjects": subject,
            }
        )
    else:
        rbac.create_namespaced_role(ns, {"metadata": {"name": role_name}, "rules": rules})
        rbac.create_namespaced_role_binding(
            ns,
            {
                "metadata": {"name": role_name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": role_name,
                },
                "subjects": subject,
            },
        )
    token = core.create_namespaced_service_account_token(
        name, ns, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    return str(token)


READ = ["get", "list", "watch"]
OBJECTS = ["schemaversions", "schemamigrations", "schemamigrationruns"]


@pytest.fixture
def world(cluster: devcluster.Cluster, kube: Any) -> Iterator[dict[str, Any]]:
    """Two namespaces with a SchemaVersion each, and the tokens of viewer and editor."""
    apply_crds(cluster)
    ns1, ns2 = create_namespace(kube, "cona"), create_namespace(kube, "conb")
    rbac = client.RbacAuthorizationV1Api(kube)
    try:
        viewer = _rbac(
            kube,
            ns1,
            "viewer",
            [
                {"apiGroups": [GROUP], "resources": OBJECTS, "verbs": READ},
                {"apiGroups": [""], "resources": ["events"], "verbs": READ},
            ],
            cluster=False,
        )
        editor = _rbac(
            kube,
            ns1,
            "editor",
            [
                {"apiGroups": [GROUP], "resources": OBJECTS, "verbs": READ},
                {"apiGroups": [GROUP], "resources": ["schemaversions"], "verbs": ["patch"]},
                {"apiGroups": [""], "resources": ["events", "namespaces"], "verbs": READ},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": READ},
                {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": READ},
            ],
            cluster=True,
        )
        custom = client.CustomObjectsApi(kube)
        for ns in (ns1, ns2):
            body = schemaversion_body("db", approval="Manual", targetVersion="latest")
            custom.create_namespaced_custom_object(GROUP, VERSION, ns, "schemaversions", body)
        yield {"ns1": ns1, "ns2": ns2, "viewer": viewer, "editor": editor, "kube": kube}
    finally:
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            with contextlib.suppress(client.ApiException):
                delete(f"{ns1}-editor")
        delete_namespace(kube, ns1)
        delete_namespace(kube, ns2)


@pytest.fixture
async def console(world: dict[str, Any], kube: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    config = ConsoleConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        mode="cluster",
        api_server=kube.configuration.host,
        ca_file=kube.configuration.ssl_ca_cert,
        namespaces=(world["ns1"], world["ns2"]),
        secure_cookies=False,
        keepalive_seconds=1.0,
    )
    async with running(config) as (_, port):
        yield f"http://127.0.0.1:{port}", world


def _h(token: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    return headers


async def _csrf(s: aiohttp.ClientSession, base: str, token: str) -> str:
    async with s.get(f"{base}/api/session", headers=_h(token)) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["csrfToken"])


def _write_status(kube: Any, ns: str, plural: str, name: str, status: dict[str, Any]) -> None:
    custom = client.CustomObjectsApi(kube)
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
    obj["status"] = status
    custom.replace_namespaced_custom_object_status(GROUP, VERSION, ns, plural, name, obj)


async def test_who_sees_what_and_a_refusal_keeps_the_apis_status(
    console: tuple[str, dict[str, Any]],
) -> None:
    base, w = console
    ns1, ns2 = w["ns1"], w["ns2"]
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/api/v1/schemaversions") as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "Unauthenticated"
        async with s.get(f"{base}/api/session", headers=_h(w["viewer"])) as r:
            me = await r.json()
            assert me["user"] == f"system:serviceaccount:{ns1}:viewer" and me["mode"] == "cluster"
            assert r.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with s.get(f"{base}/api/v1/schemaversions", headers=_h(w["editor"])) as r:
            body = await r.json()
            seen = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in body["items"]}
            assert {(ns1, "db"), (ns2, "db")} <= seen and body["namespacesDenied"] == []
            assert all("managedFields" not in o["metadata"] for o in body["items"])
        async with s.get(f"{base}/api/v1/schemaversions", headers=_h(w["viewer"])) as r:
            body = await r.json()
            assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in body["items"]] == [
                (ns1, "db")
            ]
            assert body["namespacesDenied"] == [ns2]
        async with s.get(
            f"{base}/api/v1/namespaces/{ns2}/schemaversions/db", headers=_h(w["viewer"])
        ) as r:
            assert r.status == 403
            error = (await r.json())["error"]
            assert error["code"] == "Forbidden" and "cannot get resource" in error["message"]
        # The viewer may not change anything: the API server's 403 and its words.
        csrf = await _csrf(s, base, w["viewer"])
        async with s.post(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/pause",
            json={"paused": True},
            headers=_h(w["viewer"], csrf),
        ) as r:
            assert r.status == 403, await r.text()
            error = (await r.json())["error"]
            assert error["code"] == "Forbidden" and "cannot patch resource" in error["message"]
        async with s.get(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/nope", headers=_h(w["viewer"])
        ) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "NotFound"
        # Bad input: 4xx JSON, never a 5xx.
        for path in (
            f"/api/v1/namespaces/{ns1}/schemaversions/BAD_NAME",
            f"/api/v1/namespaces/{ns1}/schemaversions/db/preview?target=not%20a%20version",
            "/api/v1/nothing-here",
        ):
            async with s.get(base + path, headers=_h(w["viewer"])) as r:
                assert 400 <= r.status < 500, (path, r.status)
                assert "error" in await r.json()
        async with s.post(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/pause",
            data=b"{not json",
            headers={
                **_h(w["editor"], await _csrf(s, base, w["editor"])),
                "Content-Type": "application/json",
            },
        ) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "BadRequest"


async def test_csrf_and_the_session_made_by_login(console: tuple[str, dict[str, Any]]) -> None:
    base, w = console
    ns1 = w["ns1"]
    url = f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/pause"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"paused": True}, headers=_h(w["editor"])) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "CSRFRejected"
        csrf = await _csrf(s, base, w["editor"])
        async with s.post(
            url,
            json={"paused": True},
            headers={**_h(w["editor"], csrf), "Origin": "http://evil.example"},
        ) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "CSRFRejected"
        async with s.post(url, json={"paused": True}, headers=_h(w["editor"], "0" * 64)) as r:
            assert r.status == 403
    # A pasted token becomes a session: the cookie holds only its id.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(f"{base}/login", json={"token": "not-a-token"}) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "Unauthenticated"
        async with s.post(f"{base}/login", json={"token": w["editor"]}) as r:
            assert r.status == 200, await r.text()
            csrf = (await r.json())["csrfToken"]
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert w["editor"] not in cookie
        async with s.get(f"{base}/api/session") as r:
            assert (await r.json())["user"] == f"system:serviceaccount:{ns1}:editor"
        async with s.post(url, json={"paused": True}) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "CSRFRejected"
        async with s.post(url, json={"paused": True}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["schemaVersion"]["spec"]["paused"] is True
        async with s.post(f"{base}/logout") as r:
            assert r.status == 200
        async with s.get(f"{base}/api/session") as r:
            assert r.status == 401


async def test_approve_writes_the_hash_shown_and_a_stale_page_is_refused(
    console: tuple[str, dict[str, Any]],
) -> None:
    base, w = console
    ns1, kube = w["ns1"], w["kube"]
    custom = client.CustomObjectsApi(kube)
    sv = custom.get_namespaced_custom_object(GROUP, VERSION, ns1, "schemaversions", "db")
    _write_status(
        kube,
        ns1,
        "schemaversions",
        "db",
        {
            "observedGeneration": sv["metadata"]["generation"],
            "currentVersion": "1",
            "plan": {
                "hash": PLAN,
                "fromVersion": "1",
                "toVersion": "2",
                "direction": "up",
                "steps": [{"version": "2", "direction": "up", "description": "two"}],
                "approved": False,
            },
        },
    )
    url = f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/approve"
    async with aiohttp.ClientSession() as s:
        csrf = await _csrf(s, base, w["editor"])
        async with s.post(url, json={"planHash": OTHER_PLAN}, headers=_h(w["editor"], csrf)) as r:
            assert r.status == 409, await r.text()
            assert (await r.json())["error"]["code"] == "PlanChanged"
        async with s.post(url, json={"planHash": PLAN[:12]}, headers=_h(w["editor"], csrf)) as r:
            assert r.status == 400  # only the full hash approves
        after = custom.get_namespaced_custom_object(GROUP, VERSION, ns1, "schemaversions", "db")
        assert "schemaop.io/approved-plan" not in (after["metadata"].get("annotations") or {})
        viewer_csrf = await _csrf(s, base, w["viewer"])
        async with s.post(url, json={"planHash": PLAN}, headers=_h(w["viewer"], viewer_csrf)) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "Forbidden"
        async with s.post(url, json={"planHash": PLAN}, headers=_h(w["editor"], csrf)) as r:
            assert r.status == 200, await r.text()
            assert await r.json() == {"approved": PLAN}
        after = custom.get_namespaced_custom_object(GROUP, VERSION, ns1, "schemaversions", "db")
        assert after["metadata"]["annotations"]["schemaop.io/approved-plan"] == PLAN
        # Target with a stale resourceVersion: the API server's 409.
        async with s.post(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/target",
            json={"targetVersion": "1", "resourceVersion": sv["metadata"]["resourceVersion"]},
            headers=_h(w["editor"], csrf),
        ) as r:
            assert r.status == 409, await r.text()
            assert (await r.json())["error"]["code"] == "Conflict"
        async with s.post(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/target",
            json={"targetVersion": "1", "resourceVersion": after["metadata"]["resourceVersion"]},
            headers=_h(w["editor"], csrf),
        ) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["schemaVersion"]["spec"]["targetVersion"] == "1"
        # Retry: nothing waits for one here.
        async with s.post(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/retry",
            headers=_h(w["editor"], csrf),
        ) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "NothingToRetry"


async def test_preview_of_a_rollback_and_the_detail_page(
    console: tuple[str, dict[str, Any]],
) -> None:
    base, w = console
    ns1, kube = w["ns1"], w["kube"]
    custom = client.CustomObjectsApi(kube)
    for version, up, down in (
        ("1", "create table a (id int)", "drop table a"),
        ("2", "create table b (id int);\nalter table users drop column id;", "drop table b"),
    ):
        body = migration_body(version, up, down)
        obj = custom.create_namespaced_custom_object(GROUP, VERSION, ns1, "schemamigrations", body)
        _write_status(kube, ns1, "schemamigrations", obj["metadata"]["name"], {"applied": True})
    _write_status(kube, ns1, "schemaversions", "db", {"currentVersion": "2"})
    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db/preview?target=1",
            headers=_h(w["viewer"]),
        ) as r:
            assert r.status == 200, await r.text()
            preview = await r.json()
        assert preview["refused"] is None and preview["direction"] == "down"
        assert [(x["version"], x["direction"], x["sql"]) for x in preview["steps"]] == [
            ("2", "down", "drop table b")
        ]
        async with s.get(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db", headers=_h(w["viewer"])
        ) as r:
            detail = await r.json()
        assert [m["spec"]["version"] for m in detail["migrations"]] == ["1", "2"]
        lint = detail["migrations"][1]["lint"]
        assert any(f["line"] == 2 and f["direction"] == "up" for f in lint), lint
        assert detail["runs"] == [] and isinstance(detail["events"], list)


async def test_the_event_stream_carries_a_modified_event(
    console: tuple[str, dict[str, Any]],
) -> None:
    base, w = console
    ns1, kube = w["ns1"], w["kube"]
    custom = client.CustomObjectsApi(kube)
    events: list[tuple[str, dict[str, Any]]] = []

    async def read(s: aiohttp.ClientSession) -> None:
        async with s.get(f"{base}/api/v1/events", headers=_h(w["viewer"])) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
            kind = ""
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if any(e[1]["type"] == "MODIFIED" for e in events):
                        return

    async with aiohttp.ClientSession() as s:
        reader = asyncio.create_task(read(s))
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.1)
        assert events and events[0][0] == "schemaversion" and events[0][1]["type"] == "ADDED"
        await asyncio.to_thread(
            custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            ns1,
            "schemaversions",
            "db",
            {"spec": {"paused": True}},
        )
        await asyncio.wait_for(reader, 30)
    kind, modified = events[-1]
    assert kind == "schemaversion" and modified["type"] == "MODIFIED"
    assert modified["object"]["spec"]["paused"] is True
    assert "managedFields" not in modified["object"]["metadata"]


async def test_a_runs_record_and_log_outlive_its_job(console: tuple[str, dict[str, Any]]) -> None:
    base, w = console
    ns1, kube = w["ns1"], w["kube"]
    custom = client.CustomObjectsApi(kube)
    record = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaMigrationRun",
        "metadata": {"name": "db-run-1", "labels": {"schemaop.io/schemaversion": "db"}},
        "spec": {
            "schemaVersion": "db",
            "job": {"name": "db-gone-1", "uid": "0000"},
            "planHash": PLAN,
            "attempt": 1,
            "trigger": {"kind": "NewPlan"},
            "startTime": "2026-12-01T10:00:00Z",
            "completionTime": "2026-12-01T10:00:05Z",
            "outcome": "Failed",
            "log": {"pod": "db-gone-1-abcde", "tail": "applying 2\nERROR: syntax error\n"},
        },
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ns1, "schemamigrationruns", record)
    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"{base}/api/v1/namespaces/{ns1}/schemaversions/db", headers=_h(w["viewer"])
        ) as r:
            (run,) = (await r.json())["runs"]
        assert (
            run["name"] == "db-run-1" and run["outcome"] == "Failed" and run["job"] == "db-gone-1"
        )
        async with s.get(
            f"{base}/api/v1/namespaces/{ns1}/runs/db-run-1", headers=_h(w["viewer"])
        ) as r:
            assert (await r.json())["spec"]["outcome"] == "Failed"
        for path in ("runs/db-run-1/log", "jobs/db-gone-1/log"):
            # The viewer may not read Jobs: the record's log all the same.
            for who in ("viewer", "editor"):
                async with s.get(f"{base}/api/v1/namespaces/{ns1}/{path}", headers=_h(w[who])) as r:
                    text = await r.text()
                    assert r.status == 200 or (who, path) == ("viewer", "jobs/db-gone-1/log"), text
                    if r.status != 200:
                        assert r.status == 403
                        continue
                lines = [
                    json.loads(x[6:])["text"]
                    for x in text.splitlines()
                    if x.startswith("data: ") and "text" in x
                ]
                assert lines == ["applying 2", "ERROR: syntax error"], text
                assert "event: end" in text


async def test_schemathesis_finds_no_server_errors_or_violations(
    console: tuple[str, dict[str, Any]],
) -> None:
    """The console's own OpenAPI document against its answers, with a real token: no 5xx,
    no status, content type or body the document does not describe. Bounded: a few
    examples per operation, one worker; the endless event stream is left out."""
    import shutil
    import sys
    from pathlib import Path

    base, w = console
    beside = Path(sys.executable).parent / "st"
    cli = str(beside) if beside.exists() else shutil.which("st")
    assert cli is not None, "schemathesis ('st') is not installed: pip install -e '.[dev]'"
    async with aiohttp.ClientSession() as s:
        csrf = await _csrf(s, base, w["editor"])
        async with s.get(f"{base}/api/v1/openapi.json", headers=_h(w["editor"])) as r:
            assert r.status == 200
            document = await r.text()
    path = Path(f"/tmp/console-openapi-{w['ns1']}.json")
    path.write_text(document)
    try:
        proc = await asyncio.create_subprocess_exec(
            cli,
            "run",
            str(path),
            "--url",
            base,
            "--header",
            f"Authorization: Bearer {w['editor']}",
            "--header",
            f"X-CSRF-Token: {csrf}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--exclude-path",
            "/api/v1/events",
            "--max-examples",
            "10",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--generation-deterministic",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    finally:
        path.unlink(missing_ok=True)
    report = out.decode(errors="replace").replace(w["editor"], "<token>")
    assert proc.returncode == 0, report[-6000:]
    # Warnings (identifiers it could not guess: 404s) are no failures.
    assert "Failures:" not in report and " passed" in report, report[-6000:]
