"""The destructive-change policy, pure part: refusals, rewrites, names, quoting."""

from __future__ import annotations

import re
from pathlib import Path

import pglast
import pytest

from schemaop.engine.droprewrite import apply_policy, apply_to_plan
from schemaop.lint import RULES, lint_set
from schemaop.lint.policy import (
    Drops,
    Policy,
    Refusal,
    Rewrite,
    archive_name,
    judge,
    tombstone_name,
)
from schemaop.model import Migration, Version
from schemaop.model.plan import Plan, PlanStep

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lint.md"


def _m(up: str, down: str | None = None, version: str = "3") -> Migration:
    return Migration(Version(version), "x", up, down)


def _parses(text: str) -> None:
    pglast.parse_sql(text)


def test_judge_decides_without_writing_sql() -> None:
    """The pure decision names the drops a policy keeps; the engine writes their SQL."""
    m = _m("CREATE TABLE t (id int PRIMARY KEY);\nDROP TABLE users;")
    drops = judge(m, "Backup")
    assert isinstance(drops, Drops)
    assert drops.policy is Policy.BACKUP and [f.code for f in drops.findings] == ["SO101"]
    assert isinstance(judge(m, "Block"), Refusal)
    assert judge(m, "Allow") == Rewrite(m.up, m.down)
    assert isinstance(judge(_m("DROP TABLE users; TRUNCATE t;"), "Rename"), Refusal)


def test_block_refuses_unallowed_destructive_findings() -> None:
    outcome = apply_policy(_m("DROP TABLE users; UPDATE t SET a = 1 WHERE id = 2;"), "Block")
    assert isinstance(outcome, Refusal)
    assert [f.code for f in outcome.findings] == ["SO101"]
    assert outcome.reason == "DestructiveChange"
    assert "migration 3" in outcome.message and "schemaop:allow" in outcome.message


def test_block_passes_allowed_and_non_destructive() -> None:
    up = "-- schemaop:allow SO101 archived elsewhere\nDROP TABLE users;\nCREATE INDEX ON t (a);"
    outcome = apply_policy(_m(up), Policy.BLOCK)
    assert outcome == Rewrite(up, None)


def test_allow_runs_everything_as_written() -> None:
    outcome = apply_policy(_m("TRUNCATE t; DROP TABLE users;", "SELECT 1;"), Policy.ALLOW)
    assert outcome == Rewrite("TRUNCATE t; DROP TABLE users;", "SELECT 1;")


@pytest.mark.parametrize("policy", [Policy.BACKUP, Policy.RENAME])
def test_backup_and_rename_refuse_what_they_cannot_keep(policy: Policy) -> None:
    outcome = apply_policy(_m("DROP TABLE a; TRUNCATE b;"), policy)
    assert isinstance(outcome, Refusal)
    assert [f.code for f in outcome.findings] == ["SO104"]
    assert f"the {policy} policy cannot keep this data" in outcome.message


def test_rename_keeps_other_objects_and_subcommands() -> None:
    ms = [
        _m("CREATE TABLE scratch (id int);", version="2"),
        _m(
            "DROP TABLE scratch, users;\n"
            "ALTER TABLE accounts DROP COLUMN legacy, ADD COLUMN note text;",
            version="3",
        ),
    ]
    outcome = apply_policy(ms[1], Policy.RENAME, lint_set(ms)[1])
    assert isinstance(outcome, Rewrite)
    up = outcome.up
    _parses(up)
    assert "to_regclass('\"users\"')" in up and "'users__schemaop_dropped_v3'" in up
    assert "DROP TABLE scratch" in up and "DROP TABLE scratch, users" not in up
    assert 'ALTER TABLE "accounts" RENAME COLUMN "legacy" TO "legacy__schemaop_dropped_v3"' in up
    assert "ALTER TABLE accounts ADD COLUMN note text" in up
    assert "DROP COLUMN" not in up
    assert [a["tombstone"] for a in outcome.archives] == [
        "users__schemaop_dropped_v3",
        "legacy__schemaop_dropped_v3",
    ]
    assert outcome.down is not None
    _parses(outcome.down)
    # No down SQL: the rename-backs, last drop first.
    assert outcome.down.index("legacy__schemaop_dropped_v3") < outcome.down.index(
        "users__schemaop_dropped_v3"
    )


def test_rename_down_replaces_the_statement_that_recreates() -> None:
    down = (
        "CREATE TABLE users (id int PRIMARY KEY);\n"
        "CREATE INDEX users_id_idx ON users (id);\n"
        "ALTER TABLE accounts ADD COLUMN legacy text, DROP COLUMN note;"
    )
    outcome = apply_policy(
        _m("ALTER TABLE accounts DROP COLUMN legacy; DROP TABLE users;", down), Policy.RENAME
    )
    assert isinstance(outcome, Rewrite) and outcome.down is not None
    d = outcome.down
    _parses(d)
    assert "CREATE INDEX IF NOT EXISTS users_id_idx" in d
    # The recreating statements only run when there is no tombstone.
    assert "EXECUTE 'CREATE TABLE users (id int PRIMARY KEY)'" in d
    assert "EXECUTE 'ALTER TABLE accounts ADD COLUMN legacy text'" in d
    assert "ALTER TABLE accounts DROP COLUMN note" in d


def test_backup_down_restores_after_recreation() -> None:
    down = "CREATE TABLE users (id int PRIMARY KEY, email text);\nSELECT 'after';"
    outcome = apply_policy(_m("DROP TABLE users;", down), Policy.BACKUP)
    assert isinstance(outcome, Rewrite) and outcome.down is not None
    d = outcome.down
    _parses(d)
    assert d.index("CREATE TABLE users") < d.index("INSERT INTO") < d.index("SELECT 'after'")
    assert outcome.archives == (
        {
            "kind": "archive",
            "policy": "Backup",
            "version": "3",
            "object": "table",
            "table": "users",
            "archive": "schemaop_archive.v3__users",
        },
    )
    up = outcome.up
    _parses(up)
    assert up.index("CREATE TABLE %I.%I AS TABLE") < up.index("DROP TABLE users")


def test_backup_archive_metadata_has_primary_key_when_known() -> None:
    ms = [
        _m(
            "CREATE TABLE users (id bigint, tenant int, email text, PRIMARY KEY (tenant, id));",
            version="1",
        ),
        _m("ALTER TABLE users DROP COLUMN email;", version="2"),
    ]
    results = lint_set(ms, applied_through=Version("1"))
    outcome = apply_policy(ms[1], Policy.BACKUP, results[1])
    assert isinstance(outcome, Rewrite)
    (archive,) = outcome.archives
    assert archive["primaryKey"] == ["tenant", "id"]
    assert archive["archive"] == "schemaop_archive.v2__users__email"


HOSTILE = 'we"ird; DROP TABLE x; -- $schemaop$'


@pytest.mark.parametrize("policy", [Policy.BACKUP, Policy.RENAME])
def test_hostile_identifiers_stay_identifiers(policy: Policy) -> None:
    q = '"' + HOSTILE.replace('"', '""') + '"'
    up = f"ALTER TABLE {q} DROP COLUMN {q}; DROP TABLE {q};"
    outcome = apply_policy(_m(up, f"CREATE TABLE {q} (id int);"), policy)
    assert isinstance(outcome, Rewrite) and outcome.down is not None
    for text in (outcome.up, outcome.down):
        stmts = pglast.parse_sql(text)
        kinds = {type(s.stmt).__name__ for s in stmts}
        # Nothing but the expected statement kinds: the name never became SQL.
        assert kinds <= {
            "CreateSchemaStmt",
            "CreateStmt",
            "DoStmt",
            "AlterTableStmt",
            "RenameStmt",
            "InsertStmt",
            "DeleteStmt",
            "DropStmt",
        }, kinds
        drops = [s for s in stmts if type(s.stmt).__name__ == "DropStmt"]
        assert all(o[-1].sval == HOSTILE for d in drops for o in d.stmt.objects), (
            "only the table itself is dropped"
        )


def test_names_fit_postgres_identifiers() -> None:
    assert tombstone_name("users", "3") == "users__schemaop_dropped_v3"
    assert tombstone_name("users", "2026.11.22.1") == "users__schemaop_dropped_v2026_11_22_1"
    assert archive_name("3", "users") == "v3__users"
    assert archive_name("3", "users", "email") == "v3__users__email"
    long = "t" * 63
    for name in (tombstone_name(long, "2026.11.22.1"), archive_name("10.1", long, "c" * 63)):
        assert len(name.encode()) <= 63
    assert tombstone_name(long, "1") != tombstone_name(long[:-1] + "u", "1")
    assert tombstone_name(long, "1").endswith("__schemaop_dropped_v1")
    assert len(tombstone_name("é" * 40, "1").encode()) <= 63


def test_apply_to_plan_rewrites_up_and_down_steps() -> None:
    m = _m("DROP TABLE users;", "CREATE TABLE users (id int);")
    up = Plan(
        None, Version("3"), "latest", (PlanStep(Version("3"), "x", "up", m.up, True, m.checksum),)
    )
    rewritten = apply_to_plan(up, [m], Policy.RENAME)
    assert isinstance(rewritten, Plan)
    (step,) = rewritten.steps
    assert "RENAME TO" in step.sql and step.archives[0]["kind"] == "tombstone"
    assert rewritten.hash != up.hash
    down = Plan(
        Version("3"),
        None,
        "0",
        (PlanStep(Version("3"), "x", "down", m.down or "", True, m.checksum),),
    )
    rewritten_down = apply_to_plan(down, [m], Policy.RENAME)
    assert isinstance(rewritten_down, Plan)
    assert "users__schemaop_dropped_v3" in rewritten_down.steps[0].sql
    assert rewritten_down.steps[0].archives == ()
    refused = apply_to_plan(up, [m], Policy.BLOCK)
    assert isinstance(refused, Refusal)


def test_docs_list_every_rule() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| (SO\d{3}) \| `([a-z-]+)`", text, re.MULTILINE))
    assert documented == {(r.code, r.name) for r in RULES.values()}


def _plan_for(ms: list[Migration], applied: str | None = None) -> Plan:
    steps = tuple(
        PlanStep(m.version, m.description, "up", m.up, m.transactional, m.checksum)
        for m in ms
        if applied is None or m.version > Version(applied)
    )
    return Plan(Version(applied) if applied else None, ms[-1].version, "latest", steps)


def test_plan_hook_blocks_with_findings_for_status() -> None:
    from schemaop.operator.lintgate import plan_hook

    ms = [
        _m("CREATE TABLE t (id int PRIMARY KEY, x text);", version="1"),
        _m("ALTER TABLE t DROP COLUMN x; CREATE INDEX ON accounts (a);", version="2"),
    ]
    plan = _plan_for(ms, applied="1")
    same, blocking, summary = plan_hook(plan, ms, "Block")
    assert same is plan
    assert [(b["code"], b["version"]) for b in blocking] == [("SO102", "2")]
    assert summary["errors"] == 1 and summary["warnings"] == 1
    assert [f["code"] for f in summary["findings"]] == ["SO102", "SO301"]

    rewritten, blocking, _ = plan_hook(plan, ms, "Rename")
    assert blocking == []
    assert "x__schemaop_dropped_v2" in rewritten.steps[0].sql
    assert rewritten.steps[0].archives

    # Both from scratch: t is created in the same plan, nothing is destructive.
    fresh = _plan_for(ms)
    kept, blocking, summary = plan_hook(fresh, ms, "Block")
    assert kept == fresh and blocking == [] and summary["errors"] == 0


def test_status_shape_fits_the_crd_schema() -> None:
    import json

    import jsonschema

    from schemaop.lint import lint_sql, lint_status

    root = Path(__file__).resolve().parents[2] / "schemas" / "schemamigration.json"
    schema = json.loads(root.read_text())
    lint_schema = _find(schema, "lint")
    assert lint_schema is not None
    long = "UPDATE t SET a = '" + "x" * 3000 + "';\n"
    sql = long + "".join(f"DROP TABLE t{i};\n" for i in range(60))
    status = lint_status(lint_sql(sql).findings)
    jsonschema.validate(status, lint_schema)
    assert len(status["findings"]) == 50 and status["errors"] == 61
    assert len(status["findings"][0]["statement"]) == 1024


def _find(node: object, key: str) -> dict[str, object] | None:
    if isinstance(node, dict):
        if key in node and isinstance(node[key], dict) and "properties" in node[key]:
            return node[key]
        for v in node.values():
            found = _find(v, key)
            if found is not None:
                return found
    elif isinstance(node, list):
        for v in node:
            found = _find(v, key)
            if found is not None:
                return found
    return None
