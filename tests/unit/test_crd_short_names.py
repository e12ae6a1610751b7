"""The short names users type (`kubectl get sv`, `kubectl get sm`) are in the generated CRDs."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_crds_have_the_short_names_users_expect() -> None:
    names = {}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        names[crd["spec"]["names"]["kind"]] = crd["spec"]["names"]["shortNames"]
    assert names["SchemaVersion"][0] == "sv" and names["SchemaMigration"][0] == "sm"
    every = [n for short in names.values() for n in short]
    assert len(every) == len(set(every))
