"""The pure PostgreSQL -> JSON Schema mapping of the sidecar (no database)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from schemaop.sidecar.jsonschema_map import DRAFT, table_json_schema


def base(name: str, **modifiers: int) -> dict[str, Any]:
    info: dict[str, Any] = {"schema": "pg_catalog", "name": name, "kind": "base"}
    if modifiers:
        info["modifiers"] = modifiers
    return info


def col(
    name: str, data_type: dict[str, Any], nullable: bool = True, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "position": 1,
        "type": data_type["name"],
        "dataType": data_type,
        "nullable": nullable,
        "default": extra.get("default"),
        "identity": extra.get("identity"),
        "generated": extra.get("generated"),
        "comment": extra.get("comment"),
    }


def table(*columns: dict[str, Any], checks: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "schema": "public",
        "name": "t",
        "kind": "table",
        "comment": None,
        "columns": list(columns),
        "checkConstraints": [
            {"name": f"c{i}", "columns": [], "definition": d} for i, d in enumerate(checks)
        ],
    }


def schema_of(*columns: dict[str, Any], checks: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = table_json_schema(table(*columns, checks=checks))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def valid(schema: dict[str, Any], row: dict[str, Any]) -> bool:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(row)


def test_document_shape_and_required_rules() -> None:
    schema = schema_of(
        col("id", base("int4"), nullable=False, default="nextval('s'::regclass)"),
        col("name", base("text"), nullable=False, comment="who"),
        col("nick", base("text")),
        col("ident", base("int8"), nullable=False, identity="always"),
        col("gen", base("int4"), generated={"kind": "stored", "expression": "id * 2"}),
    )
    assert schema["$schema"] == DRAFT
    assert schema["title"] == "public.t"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"]["description"] == "who"
    assert schema["properties"]["ident"]["readOnly"] is True
    assert schema["properties"]["gen"]["readOnly"] is True
    assert valid(schema, {"name": "x", "nick": None})
    assert not valid(schema, {"name": None})
    assert not valid(schema, {})
    assert not valid(schema, {"name": "x", "unknown": 1})


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("int2", -32768, 32767), ("int4", -(2**31), 2**31 - 1), ("int8", -(2**63), 2**63 - 1)],
)
def test_integer_widths(name: str, low: int, high: int) -> None:
    schema = schema_of(col("n", base(name), nullable=False))
    assert valid(schema, {"n": low}) and valid(schema, {"n": high})
    assert not valid(schema, {"n": low - 1}) and not valid(schema, {"n": high + 1})
    assert not valid(schema, {"n": 1.5}) and not valid(schema, {"n": "1"})


def test_numeric_precision_and_scale_bound_the_magnitude() -> None:
    schema = schema_of(col("p", base("numeric", precision=5, scale=2)))
    assert valid(schema, {"p": 999.99}) and valid(schema, {"p": -999.99})
    assert valid(schema, {"p": None})
    assert not valid(schema, {"p": 1000}) and not valid(schema, {"p": "1"})
    unbounded = schema_of(col("p", base("numeric")))
    assert valid(unbounded, {"p": 1e300})


def test_strings_and_lengths() -> None:
    schema = schema_of(
        col("v", base("varchar", length=3), nullable=False),
        col("c", base("bpchar", length=2)),
        col("t", base("text")),
    )
    assert valid(schema, {"v": "abc", "c": "ab", "t": "x" * 10_000})
    assert not valid(schema, {"v": "abcd"})
    assert not valid(schema, {"v": "a", "c": "abc"})
    assert not valid(schema, {"v": 1})


def test_dates_times_uuid_boolean() -> None:
    schema = schema_of(
        col("d", base("date")),
        col("t", base("time")),
        col("ts", base("timestamp")),
        col("tz", base("timestamptz")),
        col("u", base("uuid")),
        col("b", base("bool")),
    )
    good = {
        "d": "2024-02-29",
        "t": "12:30:00.5",
        "ts": "2024-01-01T00:00:00",
        "tz": "2024-01-01T00:00:00Z",
        "u": "123e4567-e89b-12d3-a456-426614174000",
        "b": True,
    }
    assert valid(schema, good)
    for key, bad in [
        ("d", "yesterday"),
        ("t", "noon"),
        ("ts", "2024-01-01T00:00:00Z"),
        ("tz", "2024-01-01"),
        ("u", "not-a-uuid"),
        ("b", "yes"),
    ]:
        assert not valid(schema, {**good, key: bad}), key


def test_json_arrays_enums() -> None:
    mood = {"schema": "public", "name": "mood", "kind": "enum", "labels": ["sad", "happy"]}
    schema = schema_of(
        col("j", base("jsonb"), nullable=False),
        col(
            "a", {"schema": "pg_catalog", "name": "_int4", "kind": "array", "element": base("int4")}
        ),
        col("m", mood, nullable=False),
        col("mn", mood),
    )
    assert valid(schema, {"j": {"any": [1]}, "a": [1, None, 3], "m": "sad", "mn": None})
    assert not valid(schema, {"j": None, "m": "sad"})
    assert not valid(schema, {"j": 1, "m": "angry"})
    assert not valid(schema, {"j": 1, "m": "sad", "a": ["x"]})
    assert not valid(schema, {"j": 1, "m": "sad", "a": 5})


def test_domain_base_not_null_and_check() -> None:
    posint = {
        "schema": "public",
        "name": "posint",
        "kind": "domain",
        "base": base("int4"),
        "notNull": True,
        "hasDefault": False,
        "checks": ["CHECK ((VALUE > 0))"],
    }
    schema = schema_of(col("q", posint))
    assert schema["required"] == ["q"]
    assert valid(schema, {"q": 1})
    assert not valid(schema, {"q": 0}) and not valid(schema, {"q": None})


def test_simple_checks_are_merged() -> None:
    schema = schema_of(
        col("price", base("numeric", precision=7, scale=2)),
        col("pct", base("int4")),
        col("status", base("text")),
        col("code", base("varchar", length=5)),
        col("label", base("varchar", length=10)),
        col("must", base("text")),
        checks=(
            "CHECK ((price >= (0)::numeric))",
            "CHECK (((pct >= 0) AND (pct <= 100)))",
            "CHECK ((status = ANY (ARRAY['draft'::text, 'published'::text])))",
            "CHECK (((code)::text = ANY ((ARRAY['a'::character varying, "
            "'b'::character varying])::text[])))",
            "CHECK ((char_length((label)::text) >= 2))",
            "CHECK ((must IS NOT NULL))",
            "CHECK (('-5'::integer < pct))",
        ),
    )
    props = schema["properties"]
    assert props["price"]["minimum"] == 0
    assert props["pct"]["minimum"] == 0 and props["pct"]["maximum"] == 100
    assert props["pct"]["exclusiveMinimum"] == -5
    assert props["status"]["enum"] == ["draft", "published", None]
    assert props["code"]["enum"] == ["a", "b", None]
    assert props["label"]["minLength"] == 2 and props["label"]["maxLength"] == 10
    assert "must" in schema["required"]
    assert "$comment" not in schema
    assert not valid(schema, {"must": "x", "status": "gone"})
    assert not valid(schema, {"must": "x", "pct": 101})
    assert valid(schema, {"must": "x", "status": None, "pct": None})


def test_checks_that_do_not_map_are_named_and_ignored() -> None:
    schema = schema_of(
        col("a", base("int4")),
        col("b", base("int4")),
        checks=("CHECK ((a < b))", "CHECK (((a > 0) OR (b > 0)))", "CHECK ((a > random()))"),
    )
    assert schema["properties"]["a"]["minimum"] == -(2**31)
    assert "CHECK ((a < b))" in schema["$comment"]
    assert valid(schema, {"a": -1, "b": -2})


def test_quoted_names_pass_through_untouched() -> None:
    odd = 'My "Odd" Col'
    schema = schema_of(
        col(odd, base("int4"), nullable=False), checks=('CHECK (("My ""Odd"" Col" > 0))',)
    )
    assert schema["required"] == [odd]
    assert schema["properties"][odd]["exclusiveMinimum"] == 0
