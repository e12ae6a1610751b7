"""The Argo CD health check (docs/argocd/schemaversion-health.lua) run in a real Lua.

Argo CD evaluates the snippet with ``obj`` set to the resource; lupa embeds Lua
here so each kstatus condition maps to the health Argo CD should show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

try:
    import lupa
except ImportError as exc:  # a dev dependency; CI must have it
    lupa = None
    MISSING: BaseException | None = exc
else:
    MISSING = None

SNIPPET = Path(__file__).resolve().parents[2] / "docs" / "argocd" / "schemaversion-health.lua"


def health(obj: dict[str, Any]) -> tuple[str, str]:
    if lupa is None:
        from conftest import unavailable

        unavailable("lupa (a dev dependency that embeds Lua)", MISSING or "not installed")
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SNIPPET.read_text())
    return str(result["status"]), str(result["message"])


def _sv(
    *conditions: tuple[str, str, str], generation: int = 1, observed: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {"name": "db", "generation": generation},
        "status": {
            "observedGeneration": observed,
            "currentVersion": "3",
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": f"{r} message"}
                for t, s, r in conditions
            ],
        },
    }


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [
        ({"metadata": {"name": "db"}}, "Progressing", "Waiting for the schemaop operator"),
        (_sv(("Ready", "True", "Applied"), generation=2), "Progressing", "generation 2"),
        (
            _sv(("Ready", "True", "Applied"), ("Stalled", "False", "Applied")),
            "Healthy",
            "At version 3",
        ),
        (
            _sv(("Ready", "True", "Applied"), ("Drifted", "True", "Drifted")),
            "Healthy",
            "At version 3; Drifted: Drifted message",
        ),
        (
            _sv(("Ready", "False", "MigrationFailed"), ("Stalled", "True", "MigrationFailed")),
            "Degraded",
            "MigrationFailed: MigrationFailed message",
        ),
        (
            _sv(
                ("Ready", "False", "WaitingForApproval"),
                ("ApprovalPending", "True", "WaitingForApproval"),
            ),
            "Suspended",
            "WaitingForApproval",
        ),
        (
            _sv(("Ready", "False", "Migrating"), ("Reconciling", "True", "Migrating")),
            "Progressing",
            "Migrating: Migrating message",
        ),
        (_sv(("Reconciling", "True", "Planning")), "Progressing", "Migrating"),
    ],
)
def test_health_follows_the_conditions(obj: dict[str, Any], status: str, message: str) -> None:
    got_status, got_message = health(obj)
    assert got_status == status
    assert message in got_message
