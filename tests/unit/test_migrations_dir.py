"""Loading migration directories: both naming layouts, directives, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemaop import migrations_dir
from schemaop.model import InvalidMigrationSet, Version


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_flyway_layout(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "V1__create_users.sql": "CREATE TABLE users (id int);",
            "U1__create_users.sql": "DROP TABLE users;",
            "V1_1__add_name.sql": "ALTER TABLE users ADD name text;",
            "V10__later.sql": "SELECT 1;",
            "README.md": "not a migration",
        },
    )
    s = migrations_dir.load(tmp_path)
    assert [m.version.text for m in s] == ["1", "1.1", "10"]
    assert s[0].description == "create users" and s[0].down == "DROP TABLE users;"
    assert s[1].down is None and s[1].transactional


def test_up_down_layout_with_padding(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "000001_init.up.sql": "CREATE TABLE t (id int);",
            "000001_init.down.sql": "DROP TABLE t;",
            "2_more_things.up.sql": "SELECT 2;",
            "2026.11.22.1_dated.up.sql": "SELECT 3;",
        },
    )
    s = migrations_dir.load(tmp_path)
    assert [m.version for m in s] == [Version("1"), Version("2"), Version("2026.11.22.1")]
    assert s[1].description == "more things"
    assert s[0].reversible and not s[1].reversible


@pytest.mark.parametrize(
    "header",
    [
        "-- schemaop:transactional false",
        "--schemaop: transactional=false",
        "-- SCHEMAOP:TRANSACTIONAL: no",
        "-- a comment first\n-- schemaop:no-transaction",
    ],
)
def test_non_transactional_directive(tmp_path: Path, header: str) -> None:
    write(tmp_path, {"V1__idx.sql": header + "\nCREATE INDEX CONCURRENTLY i ON t (a);"})
    assert not migrations_dir.load(tmp_path)[0].transactional


def test_directive_only_counts_before_sql(tmp_path: Path) -> None:
    write(tmp_path, {"V1__x.sql": "SELECT 1;\n-- schemaop:transactional false\n"})
    assert migrations_dir.load(tmp_path)[0].transactional


def test_checksum_changes_with_the_directive(tmp_path: Path) -> None:
    write(tmp_path, {"V1__x.sql": "SELECT 1;"})
    a = migrations_dir.load(tmp_path)[0].checksum
    write(tmp_path, {"V1__x.sql": "-- schemaop:transactional false\nSELECT 1;"})
    assert migrations_dir.load(tmp_path)[0].checksum != a


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"V1__a.sql": "SELECT 1;", "1_b.up.sql": "SELECT 2;"}, "two up files"),
        ({"U1__a.sql": "SELECT 1;"}, "down file without its up file"),
        ({"create.sql": "SELECT 1;"}, "not a migration file name"),
        ({"V1__a.sql": "   \n"}, "empty up SQL"),
        ({"V1__a.sql": "SELECT 1;", "V1.0__b.sql": "SELECT 2;"}, "two up files"),
    ],
)
def test_bad_directories(tmp_path: Path, files: dict[str, str], message: str) -> None:
    write(tmp_path, files)
    with pytest.raises(InvalidMigrationSet, match=message):
        migrations_dir.load(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "V1__a.sql").write_bytes(b"SELECT '\xff';")
    with pytest.raises(InvalidMigrationSet, match="not UTF-8"):
        migrations_dir.load(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidMigrationSet, match="not a directory"):
        migrations_dir.load(tmp_path / "nope")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"V1__a.sql": "SELECT 1;\0"}, r"V1__a\.sql: up SQL contains a NUL character at line 1"),
        (
            {"V1__a.sql": "SELECT 1;\n/* the rest"},
            r"V1__a\.sql: up SQL ends inside a /\* comment opened at line 2, column 1",
        ),
        (
            {"V1__a.sql": "SELECT 1;", "U1__a.sql": "SELECT 'oops;"},
            r"U1__a\.sql: down SQL ends inside a quoted string",
        ),
        (
            {"1_a.up.sql": "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1;"},
            r"1_a\.up\.sql: up SQL ends inside a \$body\$-quoted body",
        ),
    ],
)
def test_text_that_cannot_run_as_written_names_the_file(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(InvalidMigrationSet, match=message):
        migrations_dir.load(tmp_path)


@pytest.mark.parametrize("name", ["V1__x.SQL", "V1__x.Sql", "1_x.up.SQL"])
def test_an_upper_case_extension_is_an_error_not_skipped(tmp_path: Path, name: str) -> None:
    write(tmp_path, {name: "SELECT 1;"})
    with pytest.raises(InvalidMigrationSet, match=r"extension must be \.sql in lower case"):
        migrations_dir.load(tmp_path)


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    text = "-- schemaop:transactional false\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
    (tmp_path / "V1__a.sql").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "V2__b.sql").write_text(text)
    first, second = migrations_dir.load(tmp_path)
    assert first.up == text and not first.transactional  # the directive is seen
    assert first.checksum == second.checksum
