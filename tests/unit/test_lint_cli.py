"""``schemaop lint``: inputs (SQL files, directories, manifests), formats and exit codes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from schemaop.cli import main


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    _write(
        d / "V1__users.sql",
        """
        CREATE TABLE users (id bigint PRIMARY KEY, email text, name text);
        CREATE INDEX users_email_idx ON users (email);
        """,
    )
    _write(d / "U1__users.sql", "DROP TABLE users;\n")
    _write(d / "V2__tidy.sql", "ALTER TABLE users DROP COLUMN name;\n")
    _write(d / "V10__orders.sql", "CREATE INDEX orders_placed_idx ON orders (placed_at);\n")
    (d / "notes.txt").write_text("not a migration")
    return d


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["lint", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_directory_is_one_set(migrations: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(migrations))
    # users was created in V1, so dropping its column in V2 loses nothing;
    # orders is not created in the set, so its index is a warning.
    assert code == 0
    assert "SO102" not in out
    assert f"{migrations / 'V10__orders.sql'}:1:1: warning SO301" in out
    assert out.strip().splitlines()[-1] == (
        "3 file(s), 3 migration(s), 4 statement(s): 0 error(s), 1 warning(s), 0 info, 0 suppressed"
    )


def test_applied_through_makes_earlier_tables_existing(
    migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--applied-through", "1", str(migrations))
    assert code == 1
    assert "V2__tidy.sql:1:1: error SO102 drop-column [version 2]" in out


def test_error_exit_code_and_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(tmp_path / "drop.sql", "SELECT 1;\nDROP TABLE users;\n")
    code, out, _ = run(capsys, str(f))
    assert code == 1
    assert f"{f}:2:1: error SO101 drop-table" in out
    assert "hint: keep the data with the Backup or Rename policy" in out
    assert "| DROP TABLE users" in out


def test_suppression_turns_the_error_into_an_allowed_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _write(
        tmp_path / "drop.sql",
        """
        -- schemaop:allow SO101 replaced by accounts in 4.0
        DROP TABLE users;
        """,
    )
    code, out, _ = run(capsys, str(f))
    assert code == 0
    assert "allowed: replaced by accounts in 4.0" in out
    assert "0 error(s), 0 warning(s), 0 info, 1 suppressed" in out


def test_suppression_without_reason_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _write(tmp_path / "drop.sql", "DROP TABLE users; -- schemaop:allow SO101\n")
    code, out, _ = run(capsys, str(f))
    assert code == 1
    assert "SO002 allow-without-reason" in out and "SO101 drop-table" in out


def test_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(
        tmp_path / "m.sql",
        "ALTER TABLE users DROP COLUMN email; -- schemaop:allow SO102 unused since 2.3\n"
        "CREATE INDEX ON orders (x);\n",
    )
    code, out, _ = run(capsys, "--format", "json", str(f))
    assert code == 0
    report = json.loads(out)
    assert report["summary"] == {
        "files": 1,
        "migrations": 1,
        "statements": 2,
        "errors": 0,
        "warnings": 1,
        "info": 0,
        "suppressed": 1,
    }
    first, second = report["findings"]
    assert (
        first["code"] == "SO102" and first["suppressed"] and first["reason"] == "unused since 2.3"
    )
    assert (second["code"], second["severity"], second["line"], second["column"]) == (
        "SO301",
        "warning",
        2,
        1,
    )
    assert second["path"] == str(f)


def test_gitlab_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(
        tmp_path / "m.sql",
        "DROP TABLE users;\nCREATE INDEX ON orders (x);\n"
        "TRUNCATE t; -- schemaop:allow SO104 fixtures\n",
    )
    code, out, _ = run(capsys, "--format", "gitlab", str(f))
    assert code == 1
    issues = json.loads(out)
    assert [i["severity"] for i in issues] == ["critical", "minor"]  # suppressed left out
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["location"]["path"] == str(f)
        assert len(issue["fingerprint"]) == 64
    assert issues[0]["location"]["lines"]["begin"] == 1
    assert issues[1]["location"]["lines"]["begin"] == 2
    assert issues[0]["check_name"] == "schemaop-SO101-drop-table"
    # Fingerprints survive moving the statement down a line.
    _write(f, "\n" + f.read_text())
    _, out2, _ = run(capsys, "--format", "gitlab", str(f))
    assert [i["fingerprint"] for i in json.loads(out2)] == [i["fingerprint"] for i in issues]


def test_manifests_map_lines_to_the_yaml_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _write(
        tmp_path / "migrations.yaml",
        """
        apiVersion: schemaop.io/v1alpha1
        kind: SchemaMigration
        metadata: {name: app-1}
        spec:
          schemaVersionRef: {name: app}
          version: "1"
          up: |
            CREATE TABLE t (id int PRIMARY KEY, note text);
          down: DROP TABLE t;
        ---
        apiVersion: schemaop.io/v1alpha1
        kind: SchemaMigration
        metadata: {name: app-2}
        spec:
          schemaVersionRef: {name: app}
          version: "2"
          transactional: true
          up: |
            ALTER TABLE t DROP COLUMN note;
            CREATE INDEX CONCURRENTLY t_idx ON accounts (id);
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: unrelated}
        """,
    )
    code, out, _ = run(capsys, str(f))
    assert code == 1
    assert "SO102" not in out  # t is created by app-1 in the same set
    assert f"{f}:20:1: error SO401 non-transactional-statement [version 2]" in out


def test_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.sql"))
    assert code == 2
    assert "no such file or directory" in err


def test_unreadable_and_invalid_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "bin.sql"
    binary.write_bytes(b"\xff\xfe\x00DROP")
    assert run(capsys, str(binary))[0] == 2
    bad_yaml = _write(tmp_path / "bad.yaml", "kind: SchemaMigration\nspec: [\n")
    code, _, err = run(capsys, str(bad_yaml))
    assert code == 2 and "not valid YAML" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, str(empty))
    assert code == 2 and "no migrations" in err
    dup = tmp_path / "dup"
    _write(dup / "V1__a.sql", "SELECT 1;")
    _write(dup / "1_b.up.sql", "SELECT 2;")
    code, _, err = run(capsys, str(dup))
    assert code == 2 and ("twice" in err or "two up files" in err)


def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["lint", "--format", "xml", "x.sql"])
    assert exc.value.code == 2


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(tmp_path / "m.sql", "DROP TABLE users;\n")
    report = tmp_path / "gl.json"
    code, out, err = run(capsys, "--format", "gitlab", "-o", str(report), str(f))
    assert code == 1 and out == ""
    assert "1 error(s)" in err
    assert json.loads(report.read_text())[0]["severity"] == "critical"


def test_non_transactional_directory_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "m"
    _write(
        d / "3_index.up.sql",
        "-- schemaop:transactional false\nCREATE INDEX CONCURRENTLY i ON orders (x);\n",
    )
    _write(d / "3_index.down.sql", "DROP INDEX CONCURRENTLY i;\n")
    code, out, _ = run(capsys, str(d))
    assert code == 0, out


def test_down_sql_is_checked_for_what_would_fail_a_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "m"
    _write(
        d / "000001_users.up.sql", "CREATE TABLE users (id int);\nCREATE INDEX i ON users (id);\n"
    )
    # Drops are expected in a down step; CONCURRENTLY in a transactional one is not.
    _write(d / "000001_users.down.sql", "DROP INDEX CONCURRENTLY i;\nDROP TABLE users;\n")
    code, out, _ = run(capsys, str(d))
    assert code == 1
    assert f"{d / '000001_users.down.sql'}:1:1: error SO401" in out and "[down]" in out
    assert "SO101" not in out


def test_down_sql_positions_in_manifests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _write(
        tmp_path / "m.yaml",
        """
        kind: SchemaMigration
        metadata: {name: a}
        spec:
          version: "1"
          up: CREATE TABLE t (id int);
          down: |
            DROP TABLE t;
            COMMIT;
        """,
    )
    code, out, _ = run(capsys, "--format", "json", str(f))
    assert code == 1
    (finding,) = json.loads(out)["findings"]
    assert (finding["code"], finding["part"], finding["fileLine"]) == ("SO402", "down", 8)
