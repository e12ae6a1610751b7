"""Property: a table's JSON Schema agrees with PostgreSQL on generated rows.

Rows are JSON objects built from per-column candidates, some valid and some
wrong in type, NOT NULL, length, range, enum label or a simple CHECK. Each row
is inserted the way a front end's JSON would arrive (``jsonb_populate_record``
over exactly the keys present, so omitted columns take their defaults) and
validated against the schema the sidecar serves. PostgreSQL accepts the row if
and only if the schema validates it.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import jsonschema
import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sidecar_support import run_sql

from schemaop.engine.introspect import introspect
from schemaop.sidecar.jsonschema_map import table_json_schema

TABLE = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE rows (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  small smallint NOT NULL,
  big bigint,
  price numeric(5,2),
  title varchar(8) NOT NULL,
  code char(3),
  flag boolean NOT NULL DEFAULT false,
  born date,
  uid uuid,
  feeling mood NOT NULL,
  tags text[],
  doc jsonb,
  at timestamptz,
  pct integer CHECK (pct BETWEEN 0 AND 100),
  status text CHECK (status IN ('draft', 'published'))
)
"""

# The failures that a row's values cause; anything else is a bug in the test.
VALUE_ERRORS = (
    psycopg.errors.InvalidTextRepresentation,
    psycopg.errors.NumericValueOutOfRange,
    psycopg.errors.StringDataRightTruncation,
    psycopg.errors.NotNullViolation,
    psycopg.errors.InvalidDatetimeFormat,
    psycopg.errors.DatetimeFieldOverflow,
    psycopg.errors.CheckViolation,
    psycopg.errors.InvalidParameterValue,
    psycopg.errors.DatatypeMismatch,
)

text = st.text(alphabet="abcxyzé-Ω", max_size=12)
bad_type = st.sampled_from(["not a value", {"an": "object"}])
nothing: st.SearchStrategy[Any] = st.nothing()

# column -> (values PostgreSQL should accept, values it should reject)
CANDIDATES: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "small": (
        st.integers(-32768, 32767),
        st.one_of(st.integers(32768, 40000), st.integers(-40000, -32769), st.just(1.5), bad_type)
        | st.none(),
    ),
    "big": (
        st.one_of(
            st.integers(-(2**63), -(2**63) + 5),
            st.integers(2**63 - 5, 2**63 - 1),
            st.integers(-1000, 1000),
            st.none(),
        ),
        st.one_of(st.integers(2**63, 2**63 + 5), st.integers(-(2**63) - 5, -(2**63) - 1), bad_type),
    ),
    "price": (
        st.one_of(
            st.decimals(min_value=Decimal("-999.99"), max_value=Decimal("999.99"), places=2).map(
                float
            ),
            st.none(),
        ),
        st.one_of(
            st.decimals(min_value=1000, max_value=2000, places=2).map(float),
            st.decimals(min_value=-2000, max_value=-1000, places=2).map(float),
            bad_type,
        ),
    ),
    "title": (
        st.text(alphabet="abcxyzé-Ω", max_size=8),
        st.text(min_size=9, max_size=12) | st.none(),
    ),
    "code": (
        st.text(alphabet="abc", max_size=3) | st.none(),
        st.text(alphabet="abc", min_size=4, max_size=6),
    ),
    "flag": (st.booleans(), st.sampled_from(["maybe", None])),
    "born": (
        st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)).map(dt.date.isoformat) | st.none(),
        st.sampled_from(["2024-02-30", "not a date", "2024-13-01"]),
    ),
    "uid": (st.uuids().map(str) | st.none(), st.sampled_from(["nope", "1234"])),
    "feeling": (st.sampled_from(["sad", "ok", "happy"]), st.sampled_from(["angry", "Sad", None])),
    "tags": (st.lists(st.one_of(text, st.none()), max_size=3) | st.none(), st.just("nope")),
    "doc": (
        st.recursive(
            st.none() | st.booleans() | st.integers(-5, 5) | text,
            lambda inner: st.lists(inner, max_size=2) | st.dictionaries(text, inner, max_size=2),
            max_leaves=4,
        ),
        nothing,
    ),
    "at": (
        st.datetimes(
            dt.datetime(1990, 1, 1), dt.datetime(2090, 1, 1), timezones=st.just(dt.UTC)
        ).map(lambda d: d.isoformat())
        | st.none(),
        st.just("not a time"),
    ),
    "pct": (st.integers(0, 100) | st.none(), st.integers(-10, -1) | st.integers(101, 110)),
    "status": (st.sampled_from(["draft", "published", None]), st.sampled_from(["gone", "Draft"])),
}
REQUIRED = {"small", "title", "feeling"}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """A row with at most one wrong column (wrong value, or a required one left out)."""
    wrong = draw(st.sampled_from([None, *CANDIDATES]))
    row: dict[str, Any] = {}
    for column, (good, bad) in CANDIDATES.items():
        if column == wrong:
            if column in REQUIRED and draw(st.booleans()):
                continue  # leave a required column out
            if bad is not nothing:
                row[column] = draw(bad)
                continue
        if column in REQUIRED or draw(st.booleans()):
            row[column] = draw(good)
    return row


def accepted(conn: psycopg.Connection[Any], row: dict[str, Any]) -> bool:
    try:
        with conn.transaction():
            if row:
                cols = sql.SQL(", ").join(sql.Identifier(c) for c in row)
                conn.execute(
                    sql.SQL(
                        "INSERT INTO rows ({cols}) SELECT {cols}"
                        " FROM jsonb_populate_record(NULL::rows, %s::jsonb)"
                    ).format(cols=cols),
                    (json.dumps(row),),
                )
            else:
                conn.execute("INSERT INTO rows DEFAULT VALUES")
            raise psycopg.Rollback
    except VALUE_ERRORS:
        return False
    return True


def test_rows_postgres_accepts_validate_and_rows_it_rejects_do_not(database: str) -> None:
    run_sql(database, TABLE)
    with psycopg.connect(database, autocommit=True) as conn:
        (public,) = introspect(conn, ["public"])
        schema = table_json_schema(public["tables"][0])
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        seen = {True: 0, False: 0}

        @settings(
            max_examples=250,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(rows())
        def agree(row: dict[str, Any]) -> None:
            pg = accepted(conn, row)
            valid = validator.is_valid(row)
            seen[pg] += 1
            assert pg == valid, (
                f"PostgreSQL {'accepts' if pg else 'rejects'} {row!r} but the schema "
                f"{'rejects' if not valid else 'accepts'} it: "
                + "; ".join(e.message for e in validator.iter_errors(row))
            )

        agree()
        assert seen[True] >= 20 and seen[False] >= 20, seen


def test_numeric_boundaries_agree(database: str) -> None:
    run_sql(database, TABLE)
    with psycopg.connect(database, autocommit=True) as conn:
        (public,) = introspect(conn, ["public"])
        validator = jsonschema.Draft202012Validator(table_json_schema(public["tables"][0]))
        base = {"small": 1, "title": "t", "feeling": "ok"}
        for price in (999.99, -999.99, 1000, -1000, float(Decimal("999.99")), 0):
            row = {**base, "price": price}
            assert accepted(conn, row) == validator.is_valid(row), row
        for small in (32767, -32768, 32768, -32769):
            row = {**base, "small": small}
            assert accepted(conn, row) == validator.is_valid(row), row
