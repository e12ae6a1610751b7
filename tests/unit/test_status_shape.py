"""The status TypedDicts (model/status.py) and schemas/ say the same thing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from schemaop.model import status

ROOT = Path(__file__).resolve().parents[2]


def _props(kind_file: str) -> dict[str, Any]:
    doc = json.loads((ROOT / "schemas" / kind_file).read_text())
    return dict(doc["properties"]["status"]["properties"])


@pytest.mark.parametrize(
    ("typed", "kind_file"),
    [
        (status.SchemaVersionStatus, "schemaversion.json"),
        (status.SchemaMigrationStatus, "schemamigration.json"),
    ],
)
def test_status_keys_match_the_schema(typed: type, kind_file: str) -> None:
    assert set(get_type_hints(typed)) == set(_props(kind_file))


def test_nested_shapes_match_the_schema() -> None:
    props = _props("schemaversion.json")
    nested = {
        "plan": status.PlanStatus,
        "lastJob": status.LastJob,
        "failure": status.Failure,
    }
    for key, typed in nested.items():
        assert set(get_type_hints(typed)) == set(props[key]["properties"]), key
    assert set(get_type_hints(status.HistoryStatus)) == set(props["history"]["items"]["properties"])
    assert set(get_type_hints(status.RollbackPoint)) == set(
        props["rollbackPoints"]["items"]["properties"]
    )
