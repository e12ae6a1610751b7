"""schemaop render: a migration directory as valid SchemaMigration manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from schemaop.cli import main
from schemaop.schemas import validate


def test_render_directory_to_valid_manifests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "V1__create_a.sql").write_text("create table a (id int);\n")
    (tmp_path / "U1__create_a.sql").write_text("drop table a;\n")
    (tmp_path / "V1.1__index.sql").write_text(
        "-- schemaop:transactional false\ncreate index concurrently a_id on a (id);\n"
    )
    assert main(["render", str(tmp_path), "--schema-version", "orders", "-n", "shop"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["metadata"]["name"] for d in docs] == ["orders-v1", "orders-v1-1"]
    assert docs[0]["spec"]["down"].strip() == "drop table a;"
    assert docs[1]["spec"]["transactional"] is False
    assert all(validate(d) == [] for d in docs)


def test_render_bad_directory_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "V1__a.sql").write_text("select 1")
    (tmp_path / "oops.sql").write_text("select 2")
    assert main(["render", str(tmp_path), "--schema-version", "db"]) == 2


def test_render_labels_and_annotations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "V1__a.sql").write_text("create table a (id int);\n")
    argv = ["render", str(tmp_path), "--schema-version", "db", "--label", "team=shop"]
    argv += ["--annotation", "argocd.argoproj.io/sync-options=Prune=false"]
    assert main(argv) == 0
    (doc,) = yaml.safe_load_all(capsys.readouterr().out)
    assert doc["metadata"]["labels"]["team"] == "shop"
    assert doc["metadata"]["annotations"] == {"argocd.argoproj.io/sync-options": "Prune=false"}
    assert validate(doc) == []
    assert main([*argv, "--annotation", "no-equals-sign"]) == 2
    assert "bad --annotation 'no-equals-sign'" in capsys.readouterr().err
