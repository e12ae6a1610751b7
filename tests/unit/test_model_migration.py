"""Migration.from_spec: the one reading of a SchemaMigration's spec (operator, lint, validate)."""

from __future__ import annotations

from typing import Any

import pytest

from schemaop.model.migration import Batched, Migration
from schemaop.model.version import Version

pytestmark = pytest.mark.unit


def test_a_full_spec() -> None:
    spec = {
        "schemaVersionRef": {"name": "shop"},
        "version": "2.1",
        "description": "orders",
        "up": "CREATE TABLE t (a int);",
        "down": "DROP TABLE t;",
        "transactional": False,
    }
    m = Migration.from_spec(spec, "SchemaMigration shop-2-1")
    assert m == Migration(
        Version("2.1"),
        "orders",
        "CREATE TABLE t (a int);",
        "DROP TABLE t;",
        False,
        "SchemaMigration shop-2-1",
    )


def test_defaults_and_a_numeric_version_from_yaml() -> None:
    m = Migration.from_spec({"version": 3, "up": "SELECT 1;"}, "f.yaml")
    assert (m.version, m.description, m.down, m.transactional, m.batched) == (
        Version("3"),
        "",
        None,
        True,
        None,
    )


def test_batched_settings_are_read_from_the_spec_form() -> None:
    spec = {
        "version": "4",
        "up": "UPDATE t SET a = 1 WHERE id BETWEEN :lo_id AND :hi_id;",
        "batched": {"table": "public.t", "key": "id", "pause": "1s"},
    }
    assert Migration.from_spec(spec, "x").batched == Batched("public.t", ("id",), pause_ms=1000)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ([], "spec must be an object"),
        ({"version": "1"}, "spec.up must be a string"),
        ({"version": "1", "up": 5}, "spec.up must be a string"),
        ({"version": "1", "up": "SELECT 1;", "down": ["x"]}, "spec.down must be a string"),
        (
            {"version": "1", "up": "SELECT 1;", "transactional": "false"},
            "spec.transactional must be true or false, not 'false'",
        ),
        ({"up": "SELECT 1;"}, "invalid version ''"),
        ({"version": "01", "up": "SELECT 1;"}, "invalid version '01'"),
        (
            {
                "version": "1",
                "up": "SELECT 1;",
                "batched": {"table": "t", "key": "id", "pause": "x"},
            },
            "invalid duration",
        ),
    ],
)
def test_what_cannot_be_read_is_a_value_error_without_a_subject(spec: Any, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(")) as info:
        Migration.from_spec(spec, "SchemaMigration m")
    assert "SchemaMigration m" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "names", "problem"),
    [
        ("UPDATE t SET a = ':lo_x' WHERE id BETWEEN :lo_id AND :hi_id", ["lo_id", "hi_id"], None),
        ("SELECT $f$ :lo_a $f$, :hi_b /* :lo_c */ -- :lo_d\n, x::lo_type", ["hi_b"], None),
        ("SELECT :lo_a, 'open :hi_b", ["lo_a"], "ends inside a quoted string opened at"),
        ("SELECT :lo_a, $b$ :hi_b", ["lo_a"], "ends inside a $b$-quoted body opened at"),
        ('SELECT :lo_a /* :hi_b "', ["lo_a"], "ends inside a /* comment opened at"),
        ("SELECT :lo_a -- :hi_b", ["lo_a"], None),
    ],
)
def test_placeholders_and_text_problems_read_text_with_the_same_lexer(
    text: str, names: list[str], problem: str | None
) -> None:
    from schemaop.model.migration import placeholders, text_problem

    assert [p.name for p in placeholders(text)] == names
    found = text_problem(text)
    if problem is None:
        assert found is None
    else:
        assert (found or "").startswith(problem), found
