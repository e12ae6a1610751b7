"""The lint corpus (tests/lint_corpus/*.yaml): every rule's hits and near-misses.

One parametrized test per case, so a failure names the case; plus a check that
every rule in the catalogue has at least one case that must be found and one
near-miss that must not.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from schemaop.lint import RULES, lint_set, lint_sql
from schemaop.model import Migration, Version
from schemaop.model.migration import Batched

CORPUS = Path(__file__).resolve().parent.parent / "lint_corpus"


def _cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            cases.append((f"{path.stem}: {case['rule']} {case['name']}", case))
    return cases


CASES = _cases()


def _lint(case: dict[str, Any]) -> list[Any]:
    texts = case.get("migrations") or [case["sql"]]
    migrations = [
        Migration(
            Version(str(i)),
            f"case {i}",
            sql,
            transactional=case.get("transactional", True) if i == len(texts) else True,
            source=f"case-{i}.sql",
            batched=Batched.from_spec(case["batched"])
            if i == len(texts) and "batched" in case
            else None,
        )
        for i, sql in enumerate(texts, start=1)
    ]
    applied = case.get("applied_through")
    results = lint_set(migrations, applied_through=Version(applied) if applied else None)
    return list(results[-1].findings)


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_corpus_case(case: dict[str, Any]) -> None:
    findings = _lint(case)
    live = [f for f in findings if not f.suppressed]
    default = Counter(f.code for f in live if f.severity == RULES[f.code].severity)
    lowered = {
        sev: Counter(
            f.code for f in live if f.severity != RULES[f.code].severity and f.severity == sev
        )
        for sev in ("warning", "info")
    }
    described = "\n".join(f"  {f.code} {f.severity} {f.message} {f.suppressed}" for f in findings)
    assert default == Counter(case["expect"]), described
    assert lowered["warning"] == Counter(case.get("warnings", [])), described
    assert lowered["info"] == Counter(case.get("info", [])), described
    assert Counter(f.code for f in findings if f.suppressed) == Counter(
        case.get("suppressed", [])
    ), described


def test_every_rule_has_hits_and_near_misses() -> None:
    hits = {c["rule"] for _, c in CASES if c["rule"] in c["expect"]}
    misses = {c["rule"] for _, c in CASES if c["rule"] not in c["expect"]}
    assert set(RULES) - hits == set()
    assert set(RULES) - misses == set()


def test_findings_carry_positions_and_statement() -> None:
    sql = "CREATE TABLE t (id int);\n\n  ALTER TABLE users\n    DROP COLUMN email;\n"
    (result,) = lint_set([Migration(Version("7"), "x", sql, source="V7__x.sql")])
    (f,) = result.findings
    assert (f.code, f.line, f.column) == ("SO102", 3, 3)
    assert f.statement == "ALTER TABLE users\n    DROP COLUMN email"
    assert (f.version, f.source, f.rule, f.target) == (
        "7",
        "V7__x.sql",
        "drop-column",
        "public.users.email",
    )
    assert f.to_dict()["category"] == "data-loss"


def test_positions_count_characters_not_bytes() -> None:
    sql = "COMMENT ON TABLE t IS 'héllo wörld';\nDROP TABLE users;"
    (result,) = lint_set([Migration(Version("1"), "x", sql)])
    (f,) = result.findings
    assert (f.line, f.column, f.statement) == (2, 1, "DROP TABLE users")


def test_parse_error_has_the_parsers_position() -> None:
    sql = "SELECT 1;\nCREATE TABLE é (id int,);\n"
    (result,) = lint_set([Migration(Version("1"), "x", sql)])
    (f,) = result.findings
    assert f.code == "SO001" and f.blocking
    assert (f.line, f.column) == (2, 24)
    assert "syntax error" in f.message


def test_alter_table_subcommand_positions() -> None:
    sql = (
        "SELECT 'é';\n"
        "ALTER TABLE orders\n"
        "    ADD COLUMN token uuid DEFAULT gen_random_uuid(),\n"
        "    ADD CONSTRAINT total_positive CHECK (total > 0),\n"
        "    DROP COLUMN legacy;\n"
    )
    (result,) = lint_set([Migration(Version("1"), "x", sql)])
    # Subcommands with a position in the parse tree point at it; others at the statement.
    assert [(f.code, f.line, f.column) for f in result.findings] == [
        ("SO102", 2, 1),
        ("SO308", 3, 16),
        ("SO303", 4, 9),
    ]


_TOKENS = [
    *"abc ();,'\"$-/*\n\x00é",
    "DROP TABLE ",
    "ALTER TABLE t ",
    "DROP COLUMN ",
    "-- schemaop:allow SO101 ",
    "CREATE ",
    "INDEX ",
    "CONCURRENTLY ",
    "BEGIN",
    "$$",
    "/*",
    "*/",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join))
def test_lint_never_raises(sql: str) -> None:
    result = lint_sql(sql)
    for f in result.findings:
        assert f.line >= 1 and f.column >= 1
        assert f.code in RULES
