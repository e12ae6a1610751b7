"""Golden-file planner tests: each case directory holds its inputs and the expected plan.

``tests/golden/planner/<case>/input.json`` has the migrations, the applied
versions (a plain version means "applied with the same checksum"; an object
gives a checksum, and optionally a description and the ``recordedDown``
``{"sql", "transactional", "checksum"}`` the history recorded, its checksum
computed when left out), an optional dirty version, the target and allowMissing.
``expected.txt`` beside it is the plan (or refusal) written for a person to
read. Regenerate after a deliberate change with ``SCHEMAOP_UPDATE_GOLDEN=1``
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from schemaop import planner
from schemaop.model import (
    AppliedMigration,
    DatabaseState,
    HistoryEntry,
    Migration,
    Plan,
    Version,
)
from schemaop.model.history import RecordedDown
from schemaop.model.migration import down_checksum

GOLDEN = Path(__file__).parent.parent / "golden" / "planner"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.json").exists())


def _state(case: dict[str, Any], by_version: dict[str, Migration]) -> DatabaseState:
    applied = []
    for item in case.get("applied", []):
        if isinstance(item, str):
            m = by_version[item]
            applied.append(AppliedMigration(Version(item), m.description, m.checksum))
        else:
            down = None
            if "recordedDown" in item:
                rec = item["recordedDown"]
                tx = rec.get("transactional", True)
                down = RecordedDown(
                    rec.get("sql"), rec.get("checksum") or down_checksum(rec.get("sql"), tx), tx
                )
            applied.append(
                AppliedMigration(
                    Version(item["version"]),
                    item.get("description", ""),
                    item["checksum"],
                    down=down,
                )
            )
    dirty = None
    if case.get("dirty"):
        m = by_version[case["dirty"]]
        dirty = HistoryEntry(
            id=1,
            version=m.version,
            description=m.description,
            direction="up",
            checksum=m.checksum,
            status="pending",
            applied_at=None,
            duration_ms=None,
            applied_by="test",
            plan_hash=None,
            fingerprint=None,
            error=None,
            transactional=False,
            statements_done=0,
        )
    applied.sort(key=lambda a: a.version)
    return DatabaseState(applied=tuple(applied), dirty_step=dirty, history_exists=True)


def render(case: dict[str, Any]) -> str:
    migrations = [
        Migration(
            Version(m["version"]),
            m["description"],
            m["up"],
            m.get("down"),
            m.get("transactional", True),
        )
        for m in case["migrations"]
    ]
    by_version = {m.version.text: m for m in migrations}
    try:
        plan = planner.plan(
            migrations,
            _state(case, by_version),
            case.get("target", "latest"),
            allow_missing=case.get("allowMissing", False),
        )
    except planner.PlanRefused as exc:
        versions = ", ".join(v.text for v in exc.versions) or "-"
        return f"refused: {exc.reason.value} (versions: {versions})\n{exc.message}\n"
    # Every plan survives the plan-file round trip unchanged.
    assert Plan.from_json(plan.to_json()) == plan
    frm = plan.from_version.text if plan.from_version else "empty"
    to = plan.to_version.text if plan.to_version else "empty"
    lines = [f"plan: {frm} -> {to} (target {plan.target}), {len(plan.steps)} step(s)"]
    for s in plan.steps:
        flag = "  [non-transactional]" if not s.transactional else ""
        if s.source == "recorded":
            flag += "  [recorded at apply time]"
        lines.append(f"{s.direction:<4} {s.version.text:<14} {s.description}{flag}")
        lines.append(f"     sql: {s.sql}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    case = json.loads((GOLDEN / name / "input.json").read_text())
    got = render(case)
    expected_file = GOLDEN / name / "expected.txt"
    if os.environ.get("SCHEMAOP_UPDATE_GOLDEN"):
        expected_file.write_text(got)
    assert expected_file.exists(), f"no expected.txt for {name}; run with SCHEMAOP_UPDATE_GOLDEN=1"
    assert got == expected_file.read_text()


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 10
