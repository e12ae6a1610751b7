"""Version parsing and numeric ordering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemaop.model import InvalidMigrationSet, InvalidVersion, Migration, MigrationSet, Version
from schemaop.model.version import MAX_LENGTH, is_valid_version


def test_numeric_order() -> None:
    texts = ["2026.11.22.1", "10.1", "3", "10", "1.2.3", "1"]
    assert [str(v) for v in sorted(map(Version, texts))] == [
        "1",
        "1.2.3",
        "3",
        "10",
        "10.1",
        "2026.11.22.1",
    ]


@pytest.mark.parametrize("bad", ["", "v1", "1.", ".1", "01", "1..2", "-1", "1.a", " 1", "1 "])
def test_invalid_versions_are_refused(bad: str) -> None:
    with pytest.raises(InvalidVersion, match="invalid version"):
        Version(bad)


def test_trailing_zero_sorts_equal_and_is_a_duplicate() -> None:
    assert Version("1.0") == Version("1")
    with pytest.raises(InvalidMigrationSet, match="defined twice"):
        MigrationSet(
            [Migration(Version("1"), "a", "select 1"), Migration(Version("1.0"), "b", "select 2")]
        )


def test_checksum_ignores_line_endings_but_not_content() -> None:
    a = Migration(Version("1"), "a", "create table t (id int);\n")
    b = Migration(Version("1"), "a", "create table t (id int);  \r\n\r\n")
    c = Migration(Version("1"), "a", "create table t (id bigint);")
    assert a.checksum == b.checksum != c.checksum
    assert a.checksum != Migration(Version("1"), "a", a.up, transactional=False).checksum


def test_a_version_longer_than_the_crd_allows_is_refused() -> None:
    longest = ".".join(["1234567"] * 8)  # 63 characters
    assert Version(longest + "1").text == longest + "1"  # 64: the CRD's maxLength
    with pytest.raises(InvalidVersion, match="at most 64"):
        Version(".".join(["123456789"] * 8) + ".1")  # 81 characters
    assert not is_valid_version("1" * 18 + ".1" * 32)
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "common.json").read_text())
    assert schema["$defs"]["version"]["maxLength"] == MAX_LENGTH
