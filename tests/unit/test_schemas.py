"""schemas/ is the single source: generated CRDs are fresh, examples validate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schemaop.cli import main
from schemaop.schemas import validate

ROOT = Path(__file__).resolve().parents[2]


def test_generated_crds_and_package_schemas_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/gen_crds.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_example_manifest_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "manifests")]) == 0, capsys.readouterr().out


def _migration(**spec: object) -> dict[str, object]:
    base: dict[str, object] = {"schemaVersionRef": {"name": "db"}, "version": "1", "up": "select 1"}
    base.update(spec)
    return {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaMigration",
        "metadata": {"name": "m"},
        "spec": base,
    }


@pytest.mark.parametrize("version", ["01", "1.", "v2", "", "1..2"])
def test_bad_versions_are_refused(version: str) -> None:
    problems = validate(_migration(version=version))
    assert {p.path for p in problems} == {"spec.version"}


def test_unknown_field_and_missing_up_are_named() -> None:
    doc = _migration(upp="typo")
    del doc["spec"]["up"]  # type: ignore[attr-defined]
    messages = " | ".join(str(p) for p in validate(doc, "m.yaml"))
    assert "'up' is a required property" in messages
    assert "'upp' was unexpected" in messages


def test_schemaversion_needs_exactly_one_connection_style() -> None:
    doc = {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaVersion",
        "metadata": {"name": "db"},
        "spec": {
            "connection": {
                "host": "db",
                "dbname": "app",
                "user": "app",
                "passwordFrom": {"secretKeyRef": {"name": "s", "key": "p"}},
            },
            "targetVersion": "latest",
            "approval": "Sometimes",
        },
    }
    assert [p.path for p in validate(doc)] == ["spec.approval"]


def test_validate_cli_reports_problems_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: schemaop.io/v1alpha1\nkind: SchemaMigration\nmetadata: {name: x}\n"
        "spec: {schemaVersionRef: {name: db}, version: '1.02', up: 'select 1'}\n"
    )
    assert main(["validate", str(bad)]) == 1
    assert "spec.version" in capsys.readouterr().out


def test_validate_cli_unreadable_yaml_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    assert main(["validate", str(bad)]) == 2
