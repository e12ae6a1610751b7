"""Schemathesis against the sidecar's own /openapi.json: no 5xx, no answer that
breaks the document (status codes, content types, headers, bodies).

Bounded: a few examples per operation, one worker, deterministic generation.
The endless event stream is left out (it never completes a response).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from sidecar_support import ALL_TYPES_SQL, read_only_dsn, run_sql, sidecar

from conftest import unavailable

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def schemathesis_cli() -> str:
    beside = Path(sys.executable).parent / "st"
    found = str(beside) if beside.exists() else shutil.which("st")
    if found is None:
        unavailable("schemathesis", "the 'st' command is not installed (pip install -e '.[dev]')")
        raise AssertionError("unreachable")
    return found


async def test_schemathesis_finds_no_server_errors_or_violations(database: str) -> None:
    cli = schemathesis_cli()
    run_sql(database, ALL_TYPES_SQL)
    run_sql(database, 'CREATE SCHEMA "Odd Schema"; CREATE TABLE "Odd Schema"."a b" (x int);')
    schemas = ("public", "Odd Schema")
    async with sidecar(
        read_only_dsn(database), schemas=schemas, rate_limit=50.0, rate_burst=100
    ) as (
        base,
        _,
    ):
        proc = await asyncio.create_subprocess_exec(
            cli,
            "run",
            f"{base}/openapi.json",
            "--checks",
            CHECKS,
            "--exclude-path",
            "/api/v1/events",
            "--max-examples",
            "15",
            "--workers",
            "1",
            "--request-timeout",
            "5",
            "--generation-deterministic",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-4000:]
    assert "No issues found" in report, report[-4000:]
