"""A stand-in console backend for working on the front end: static/ plus canned JSON
shaped as CONSOLE.md's contract, with the console's security headers (so a CSP
violation shows up here first). Not shipped; for people and screenshots only.

    .venv/bin/python tools/console_devserver.py [--port 8089]

Sign in with any token; the token ``viewer`` may only look (every action is refused
with a 403 as the Kubernetes API would), ``stale`` makes approve answer 409, and with
``planchange`` the plan of shop/orders-db changes 8 s after the page opens (a stale
page: approving the plan it showed answers 409 PlanChanged).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "operator" / "schemaop" / "console" / "static"
CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HASH = "3f9a1c27d4be5e0a8b76c1f2e9d03a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
NEW_HASH = "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
OLD_HASH = "9b2e44d1a0c3f5e6d7c8b9a0f1e2d3c4b5a6978877665544332211ffeeddccbb"


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-12-01T21:40:00Z",
    }


def sv(ns: str, name: str, current: str, target: str, **status: Any) -> dict[str, Any]:
    spec = status.pop("spec", {})
    return {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaVersion",
        "metadata": {"namespace": ns, "name": name, "resourceVersion": "4711", "generation": 3},
        "spec": {"targetVersion": "latest", "approval": "Automatic", **spec},
        "status": {"currentVersion": current, "targetVersion": target, "pending": 0, **status},
    }


ITEMS = [
    sv(
        "shop",
        "orders-db",
        "2",
        "3",
        pending=1,
        spec={"approval": "Manual", "destructive": "Backup"},
        conditions=[
            cond("Ready", "False", "WaitingForApproval", "plan 3f9a1c27d4be waits for approval"),
            cond("Reconciling", "False", "WaitingForApproval"),
            cond("Stalled", "False", "WaitingForApproval"),
            cond(
                "ApprovalPending",
                "True",
                "WaitingForApproval",
                "Plan 3f9a1c27d4be (2 -> 3, 1 step) waits for approval: set the annotation "
                "schemaop.io/approved-plan to its hash",
            ),
            cond("Drifted", "False", "InSync", "the live schema matches the recorded one"),
        ],
        plan={
            "hash": HASH,
            "fromVersion": "2",
            "toVersion": "3",
            "direction": "up",
            "approved": False,
            "steps": [
                {
                    "version": "3",
                    "direction": "up",
                    "description": "drop the legacy coupon column, index orders by customer",
                    "transactional": True,
                }
            ],
            "lint": {"errors": 0, "warnings": 2},
        },
        history=[
            {
                "version": "2",
                "direction": "up",
                "status": "applied",
                "description": "orders.customer_id",
                "appliedAt": "2026-12-01T20:12:03Z",
                "durationSeconds": 0.42,
                "planHash": OLD_HASH,
            },
            {
                "version": "1",
                "direction": "up",
                "status": "applied",
                "description": "orders table",
                "appliedAt": "2026-11-30T09:01:44Z",
                "durationSeconds": 0.18,
                "planHash": "77aa",
            },
        ],
        rollbackPoints=[
            {
                "kind": "Schema",
                "ref": "schemaop.snapshots#12",
                "version": "2",
                "takenAt": "2026-12-01T20:12:02Z",
            },
            {
                "kind": "Schema",
                "ref": "schemaop.snapshots#7",
                "version": "1",
                "takenAt": "2026-11-30T09:01:43Z",
            },
        ],
        lastJob={
            "name": "orders-db-9b2e44d1a0-1-1a2b3c4d",
            "result": "Succeeded",
            "startedAt": "2026-12-01T20:12:01Z",
            "finishedAt": "2026-12-01T20:12:04Z",
        },
        schemaHash="c0ffee1234",
    ),
    sv(
        "shop",
        "payments-db",
        "5",
        "6",
        pending=1,
        conditions=[
            cond("Ready", "False", "MigrationFailed", "version 6 failed"),
            cond(
                "Stalled",
                "True",
                "MigrationFailed",
                'migration 6 failed: column "amount_cents" does not exist (SQLSTATE 42703) at '
                "line 2; fix it with a new SchemaMigration, or lower spec.targetVersion",
            ),
            cond("Reconciling", "False", "MigrationFailed"),
            cond("Drifted", "False", "InSync"),
        ],
        failure={
            "version": "6",
            "sqlstate": "42703",
            "message": 'column "amount_cents" does not exist',
            "statement": "UPDATE payments\n   SET amount = amount_cents / 100.0\n"
            " WHERE amount IS NULL",
            "position": 33,
            "line": 2,
            "attempts": 1,
        },
        lastJob={
            "name": "payments-db-5e0a8b76c1-1-f14f4628",
            "result": "Failed",
            "startedAt": "2026-12-01T21:38:10Z",
            "finishedAt": "2026-12-01T21:38:11Z",
            "message": "MigrationFailed",
        },
    ),
    sv(
        "analytics",
        "events-db",
        "12",
        "14",
        pending=2,
        conditions=[
            cond("Ready", "False", "Migrating", "Job events-db-aa11-1-0f0f running 13, 14"),
            cond("Reconciling", "True", "Migrating", "applying 2 steps (12 -> 14)"),
            cond("Stalled", "False", "Migrating"),
            cond(
                "Drifted",
                "True",
                "Drifted",
                "the live schema of public differs from the one recorded after version 12 "
                "(fingerprint 91ab… now 4c2d…); someone changed it by hand",
            ),
        ],
        lastJob={
            "name": "events-db-aa11bb22cc-1-0f0f0f0f",
            "result": "Running",
            "startedAt": "2026-12-01T21:44:00Z",
        },
    ),
    sv(
        "billing",
        "ledger",
        "40",
        "40",
        conditions=[
            cond("Ready", "True", "Applied", "at version 40"),
            cond("Reconciling", "False", "Applied"),
            cond("Stalled", "False", "Applied"),
            cond("Drifted", "False", "InSync"),
        ],
        lastJob={
            "name": "ledger-0011-1-abcd",
            "result": "Succeeded",
            "startedAt": "2026-12-01T08:00:00Z",
            "finishedAt": "2026-12-01T08:00:02Z",
        },
    ),
    sv(
        "billing",
        "invoices",
        "7",
        "7",
        spec={"paused": True},
        conditions=[
            cond("Ready", "False", "Paused", "spec.paused is true: nothing is planned or run"),
            cond("Reconciling", "False", "Paused"),
            cond("Stalled", "False", "Paused"),
        ],
    ),
]

MIGRATIONS = [
    {
        "metadata": {"namespace": "shop", "name": "orders-db-1"},
        "spec": {
            "version": "1",
            "description": "orders table",
            "up": "CREATE TABLE orders (\n  id bigint PRIMARY KEY,\n  total numeric NOT NULL\n);",
            "down": "DROP TABLE orders;",
        },
        "status": {"applied": True, "appliedAt": "2026-11-30T09:01:44Z", "checksum": "a1b2" * 16},
        "lint": [
            {
                "code": "SO101",
                "severity": "warning",
                "message": "DROP TABLE loses data",
                "line": 1,
                "direction": "down",
            }
        ],
    },
    {
        "metadata": {"namespace": "shop", "name": "orders-db-2"},
        "spec": {
            "version": "2",
            "description": "orders.customer_id",
            "up": "ALTER TABLE orders ADD COLUMN customer_id bigint;",
            "down": "ALTER TABLE orders DROP COLUMN customer_id;",
        },
        "status": {"applied": True, "appliedAt": "2026-12-01T20:12:03Z", "checksum": "c3d4" * 16},
        "lint": [],
    },
    {
        "metadata": {"namespace": "shop", "name": "orders-db-3"},
        "spec": {
            "version": "3",
            "description": "drop the legacy coupon column, index orders by customer",
            "up": "ALTER TABLE orders DROP COLUMN coupon;\n"
            "-- one index for the customer page\n"
            "CREATE INDEX orders_customer ON orders (customer_id);",
            "down": "ALTER TABLE orders ADD COLUMN coupon text;\nDROP INDEX orders_customer;",
        },
        "status": {"applied": False, "checksum": "e5f6" * 16},
        "lint": [
            {
                "code": "SO102",
                "severity": "warning",
                "message": "DROP COLUMN coupon loses its data",
                "line": 1,
                "column": 20,
                "direction": "up",
                "hint": "the Backup policy copies it to schemaop_archive first",
            },
            {
                "code": "SO201",
                "severity": "warning",
                "message": "CREATE INDEX without CONCURRENTLY blocks writes to orders",
                "line": 3,
                "direction": "up",
                "hint": "use CREATE INDEX CONCURRENTLY in a transactional: false migration",
            },
        ],
    },
]

RUNS = {
    "payments-db-5e0a8b76c1-1-f14f4628": {
        "metadata": {"namespace": "shop", "name": "payments-db-5e0a8b76c1-1-f14f4628"},
        "spec": {
            "schemaVersion": "payments-db",
            "job": {"name": "payments-db-5e0a8b76c1-1-f14f4628"},
            "planHash": "5e0a8b76c1f2e9d03a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f3f9a1c27d4be",
            "attempt": 1,
            "trigger": {"kind": "NewPlan", "message": "a new SchemaMigration: 6"},
            "startTime": "2026-12-01T21:38:10Z",
            "completionTime": "2026-12-01T21:38:11Z",
            "duration": "0.9s",
            "outcome": "Failed",
            "outcomeReason": "BackoffLimitExceeded",
            "fromVersion": "5",
            "toVersion": "6",
            "target": "latest",
            "summary": {
                "ok": False,
                "applied": 0,
                "skipped": 0,
                "durationMs": 88,
                "steps": [
                    {
                        "version": "6",
                        "description": "amounts in cents",
                        "direction": "up",
                        "transactional": True,
                        "status": "failed",
                        "durationMs": 31,
                        "attempts": 2,
                        "retries": 1,
                        "lockWaits": 1,
                        "lockWaitMs": 2004,
                        "notices": [
                            {
                                "severity": "NOTICE",
                                "sqlstate": "00000",
                                "message": 'column "amount" of relation "payments" already '
                                "exists, skipping",
                            }
                        ],
                        "statements": [
                            {
                                "index": 1,
                                "line": 1,
                                "statement": "ALTER TABLE payments ADD COLUMN IF NOT EXISTS "
                                "amount numeric;",
                                "command": "ALTER TABLE",
                                "status": "ok",
                            },
                            {
                                "index": 2,
                                "line": 2,
                                "statement": "UPDATE payments",
                                "status": "failed",
                                "error": {
                                    "sqlstate": "42703",
                                    "message": 'column "amount_cents" does not exist',
                                    "position": {"offset": 33, "line": 2, "column": 17},
                                },
                            },
                        ],
                    }
                ],
                "error": {
                    "kind": "MigrationFailed",
                    "reason": "MigrationFailed",
                    "retryable": False,
                    "sqlstate": "42703",
                    "message": 'column "amount_cents" does not exist',
                    "hint": 'Perhaps you meant to reference the column "payments.amount".',
                    "statement": "UPDATE payments\n   SET amount = amount_cents / 100.0\n WHERE "
                    "amount IS NULL",
                    "position": {"offset": 33, "line": 2, "column": 17},
                    "version": "6",
                },
            },
            "log": {
                "pod": "payments-db-5e0a8b76c1-1-f14f4628-x7k2p",
                "tail": "schemaop migrate: plan 5e0a8b76c1f2 (5 -> 6, 1 step)\n"
                "step 6 up: amounts in cents\n"
                'ERROR 42703: column "amount_cents" does not exist\n',
            },
        },
    }
}

# A run whose summary carries per-statement figures (the run page shows them when a
# record has them; today's records do not).
RUNS["orders-db-9b2e44d1a0-1-1a2b3c4d"] = {
    "metadata": {"namespace": "shop", "name": "orders-db-9b2e44d1a0-1-1a2b3c4d"},
    "spec": {
        "schemaVersion": "orders-db",
        "job": {"name": "orders-db-9b2e44d1a0-1-1a2b3c4d"},
        "planHash": OLD_HASH,
        "attempt": 1,
        "trigger": {"kind": "Approval", "approvedPlanHash": OLD_HASH},
        "startTime": "2026-12-01T20:12:01Z",
        "completionTime": "2026-12-01T20:12:04Z",
        "duration": "2.6s",
        "outcome": "Succeeded",
        "outcomeReason": "Complete",
        "fromVersion": "1",
        "toVersion": "2",
        "summary": {
            "ok": True,
            "applied": 1,
            "skipped": 0,
            "steps": [
                {
                    "version": "2",
                    "description": "orders.customer_id",
                    "direction": "up",
                    "transactional": False,
                    "status": "applied",
                    "durationMs": 1310,
                    "attempts": 1,
                    "statements": [
                        {
                            "index": 1,
                            "line": 1,
                            "statement": "ALTER TABLE orders ADD COLUMN customer_id bigint",
                            "command": "ALTER TABLE",
                            "status": "ok",
                            "durationMs": 1204,
                            "lockWaits": 1,
                            "lockWaitMs": 1001,
                            "retries": 1,
                        },
                        {
                            "index": 2,
                            "line": 2,
                            "statement": "UPDATE orders SET customer_id = legacy_customer",
                            "command": "UPDATE 18240",
                            "rows": 18240,
                            "status": "ok",
                            "durationMs": 96,
                            "notices": [
                                {"severity": "NOTICE", "message": "18240 rows had no customer"}
                            ],
                        },
                    ],
                }
            ],
        },
        "log": {"tail": "schemaop migrate: plan 9b2e44d1a0c3 (1 -> 2, 1 step)\nstep 2 up\ndone\n"},
    },
}

RUN_SUMMARIES = [
    {
        "name": name,
        "job": run["spec"]["job"]["name"],
        **{
            k: run["spec"].get(k)
            for k in (
                "planHash",
                "attempt",
                "trigger",
                "startTime",
                "completionTime",
                "duration",
                "outcome",
                "outcomeReason",
                "fromVersion",
                "toVersion",
            )
        },
    }
    for name, run in RUNS.items()
]

EVENTS = [
    {
        "type": "Warning",
        "reason": "MigrationFailed",
        "message": 'migration 6 failed: column "amount_cents" does not exist (SQLSTATE 42703)',
        "count": 1,
        "lastTimestamp": "2026-12-01T21:38:11Z",
    },
    {
        "type": "Normal",
        "reason": "Applied",
        "message": "at version 5",
        "count": 3,
        "lastTimestamp": "2026-12-01T20:00:00Z",
    },
]

SESSIONS: dict[str, str] = {}
# Sessions of ``planchange`` that were sent the changed plan.
PLAN_CHANGED: set[str] = set()


def with_new_plan(obj: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    changed["status"]["plan"]["hash"] = NEW_HASH
    changed["status"]["plan"]["steps"][0]["description"] = "a new version 3"
    return changed


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    # The contract's policy everywhere, the API documentation pages included: they need
    # no 'unsafe-inline' and no data: images (the build turns those into files).
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def user(request: web.Request) -> str | None:
    return SESSIONS.get(request.cookies.get("schemaop-console", ""))


@web.middleware
async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        if user(request) is None:
            return error(401, "Unauthenticated", "sign in first")
        if request.method != "GET" and request.headers.get("X-CSRF-Token") != "csrf-dev":
            return error(403, "CSRFRejected", "missing or wrong X-CSRF-Token")
    return await handler(request)


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def login(request: web.Request) -> web.Response:
    token = (await request.json()).get("token", "")
    if not token:
        return error(401, "Unauthenticated", "the token was refused by the API server")
    sid = secrets.token_hex(8)
    SESSIONS[sid] = token
    response = web.json_response({"user": "dev"})
    response.set_cookie("schemaop-console", sid, httponly=True, samesite="Strict", path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    SESSIONS.pop(request.cookies.get("schemaop-console", ""), None)
    response = web.json_response({})
    response.del_cookie("schemaop-console", path="/")
    return response


async def session(request: web.Request) -> web.Response:
    name = "jane@example.com" if user(request) != "viewer" else "viewer@example.com"
    return web.json_response(
        {"user": name, "groups": ["dev"], "mode": "cluster", "csrfToken": "csrf-dev"}
    )


async def listing(request: web.Request) -> web.Response:
    return web.json_response({"items": ITEMS, "namespacesDenied": ["finance"]})


def find(ns: str, name: str) -> dict[str, Any] | None:
    return next(
        (s for s in ITEMS if s["metadata"]["namespace"] == ns and s["metadata"]["name"] == name),
        None,
    )


async def detail(request: web.Request) -> web.Response:
    ns, name = request.match_info["ns"], request.match_info["name"]
    obj = find(ns, name)
    if obj is None:
        return error(404, "NotFound", f'schemaversions.schemaop.io "{name}" not found')
    if obj is ITEMS[0] and request.cookies.get("schemaop-console", "") in PLAN_CHANGED:
        obj = with_new_plan(obj)
    migrations = [m for m in MIGRATIONS if name == "orders-db"]
    runs = [r for r in RUN_SUMMARIES if RUNS[r["name"]]["spec"]["schemaVersion"] == name]
    return web.json_response(
        {"schemaVersion": obj, "migrations": migrations, "events": EVENTS, "runs": runs}
    )


async def preview(request: web.Request) -> web.Response:
    target = request.query.get("target", "")
    if request.match_info["name"] == "payments-db" and target == "4":
        from schemaop.console.views import recorded_note

        # Version 5's SchemaMigration was deleted (a GitOps prune): its recorded down.
        return web.json_response(
            {
                "target": "4",
                "from": "5",
                "direction": "down",
                "steps": [
                    {
                        "version": "5",
                        "direction": "down",
                        "description": "payments.amount",
                        "sql": None,
                        "note": recorded_note("5"),
                        "source": "recorded",
                        "transactional": True,
                        "destructive": [],
                    }
                ],
                "refused": None,
            }
        )
    if target == "0":
        return web.json_response(
            {
                "target": "0",
                "from": "2",
                "direction": "down",
                "steps": [],
                "refused": "version 1 has no down SQL: rolling back past it is refused",
            }
        )
    if target in ("1",):
        return web.json_response(
            {
                "target": "1",
                "from": "2",
                "direction": "down",
                "steps": [
                    {
                        "version": "2",
                        "direction": "down",
                        "description": "orders.customer_id",
                        "sql": "ALTER TABLE orders DROP COLUMN customer_id;",
                        "source": "object",
                        "destructive": [
                            "Backup: copies orders.customer_id to "
                            "schemaop_archive.orders__customer_id__v2 before dropping it"
                        ],
                    }
                ],
                "refused": None,
            }
        )
    return web.json_response(
        {
            "target": target,
            "from": "2",
            "direction": "up",
            "steps": [
                {
                    "version": "3",
                    "direction": "up",
                    "description": "drop the legacy coupon column, index orders by customer",
                    "sql": MIGRATIONS[2]["spec"]["up"],
                    "source": "object",
                    "destructive": ["Backup: copies orders.coupon to schemaop_archive first"],
                }
            ],
            "refused": None,
        }
    )


async def action(request: web.Request) -> web.Response:
    verb = request.match_info["verb"]
    body = await request.json()
    if user(request) == "viewer":
        return error(
            403,
            "Forbidden",
            'schemaversions.schemaop.io "orders-db" is forbidden: User "viewer@example.com" '
            'cannot patch resource "schemaversions" in API group "schemaop.io" in the '
            'namespace "shop"',
        )
    if verb == "approve":
        current = NEW_HASH if user(request) == "planchange" else HASH
        if user(request) == "stale" or body.get("planHash") != current:
            return error(409, "PlanChanged", "the plan changed since the page was loaded: reload")
        return web.json_response({"approved": body["planHash"]})
    return web.json_response({})


async def run(request: web.Request) -> web.Response:
    obj = RUNS.get(request.match_info["name"])
    if obj is None:
        return error(404, "NotFound", "no such run")
    return web.json_response(obj)


async def sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    return response


async def events(request: web.Request) -> web.StreamResponse:
    response = await sse(request)
    # A change 3 s after connecting: billing/invoices is resumed (the list updates live);
    # for planchange, 8 s after: the plan of shop/orders-db changes.
    changed = copy.deepcopy(ITEMS[4])
    changed["spec"]["paused"] = False
    changed["status"]["conditions"] = [cond("Ready", "True", "Applied", "at version 7")]
    if user(request) == "planchange":
        changed = with_new_plan(ITEMS[0])
    data = json.dumps({"type": "MODIFIED", "object": changed})
    with contextlib.suppress(ConnectionResetError):
        await asyncio.sleep(8 if user(request) == "planchange" else 3)
        if user(request) == "planchange":
            PLAN_CHANGED.add(request.cookies.get("schemaop-console", ""))
        await response.write(f"event: schemaversion\ndata: {data}\n\n".encode())
        while True:
            await asyncio.sleep(15)
            await response.write(b": keepalive\n\n")
    return response


async def log(request: web.Request) -> web.StreamResponse:
    response = await sse(request)
    name = request.match_info["name"]
    record = RUNS.get(name)
    lines = (
        record["spec"]["log"]["tail"].splitlines()
        if record
        else [f"step {i}: applying statement {i}" for i in range(1, 40)]
    )
    with contextlib.suppress(ConnectionResetError):
        for i, line in enumerate(lines, 1):
            await response.write(f"event: line\ndata: {json.dumps({'text': line})}\n\n".encode())
            if not record and i == 5:  # a live log: lines left out, as for a slow page
                await response.write(b'event: dropped\ndata: {"count": 120}\n\n')
            await asyncio.sleep(0.05 if record else 0.3)
        await response.write(b"event: end\ndata: {}\n\n")
    return response


async def openapi(request: web.Request) -> web.StreamResponse:
    name = "sidecar.json" if "sidecar" in request.path else "console.json"
    path = ROOT / "schemas" / "openapi" / name
    if not path.exists():
        path = ROOT / "schemas" / "openapi" / "sidecar.json"
    return web.FileResponse(path, headers={"Content-Type": "application/json"})


def make_app() -> web.Application:
    app = web.Application(middlewares=[headers, auth])
    app.router.add_get("/", index)
    app.router.add_get("/ui/{tail:.*}", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/session", session)
    app.router.add_get("/api/v1/schemaversions", listing)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/sidecar-openapi.json", openapi)
    app.router.add_get("/api/v1/namespaces/{ns}/schemaversions/{name}", detail)
    app.router.add_get("/api/v1/namespaces/{ns}/schemaversions/{name}/preview", preview)
    app.router.add_post("/api/v1/namespaces/{ns}/schemaversions/{name}/{verb}", action)
    app.router.add_get("/api/v1/namespaces/{ns}/runs/{name}", run)
    app.router.add_get("/api/v1/namespaces/{ns}/runs/{name}/log", log)
    app.router.add_get("/api/v1/namespaces/{ns}/jobs/{name}/log", log)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8089)
    web.run_app(make_app(), host="127.0.0.1", port=parser.parse_args().port)
