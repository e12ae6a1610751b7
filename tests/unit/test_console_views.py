"""The console's pure parts: objects stripped, lint per migration, the plan preview,
run summaries, sessions, CSRF tokens and the one-time code."""

from __future__ import annotations

from typing import Any

import pytest

from schemaop.console import views
from schemaop.console.auth import Csrf, OneTimeCode, Sessions
from schemaop.console.config import ConsoleConfig


def _sv(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "db", "namespace": "ns", "generation": 1},
        "spec": {"connection": {}, "targetVersion": "latest", "destructive": "Block"},
        "status": status,
    }


def _sm(
    version: str, up: str, down: str | None = None, applied: bool = False, sv: str = "db"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"schemaVersionRef": {"name": sv}, "version": version, "up": up}
    spec["description"] = f"m{version}"
    if down is not None:
        spec["down"] = down
    return {"metadata": {"name": f"m{version}"}, "spec": spec, "status": {"applied": applied}}


def test_strip_removes_managed_fields_and_last_applied_only() -> None:
    obj = {
        "metadata": {
            "name": "x",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {
                views.LAST_APPLIED: '{"spec": "everything"}',
                "schemaop.io/approved-plan": "abc",
            },
        },
        "spec": {"a": 1},
    }
    out = views.strip(obj)
    assert "managedFields" not in out["metadata"]
    assert out["metadata"]["annotations"] == {"schemaop.io/approved-plan": "abc"}
    assert obj["metadata"]["managedFields"]  # the original is untouched
    only = views.strip({"metadata": {"annotations": {views.LAST_APPLIED: "{}"}}})
    assert "annotations" not in only["metadata"]


def test_lint_findings_carry_their_line_and_direction() -> None:
    objects = [
        _sm("1", "create table t (id int, email text);"),
        _sm("2", "select 1;\nalter table users drop column email;", down="select 1;\nselect (;"),
        _sm("bad version", "select 1"),
    ]
    lint = views.migration_lint(objects)
    assert lint[0] == [] and lint[2] == []
    up = [f for f in lint[1] if f["direction"] == "up"]
    down = [f for f in lint[1] if f["direction"] == "down"]
    assert any(f["line"] == 2 and f["severity"] == "error" for f in up), lint[1]
    assert down and down[0]["line"] == 2


def test_preview_of_a_rollback_lists_down_steps_newest_first() -> None:
    objects = [
        _sm("1", "create table a (id int)", "drop table a", applied=True),
        _sm("2", "create table b (id int)", "drop table b", applied=True),
        _sm("3", "create table c (id int)", "drop table c", applied=True),
        _sm("9", "select 1", sv="other"),
    ]
    sv = _sv(currentVersion="3")
    out = views.preview(sv, objects, "1")
    assert out["refused"] is None
    assert out["from"] == "3" and out["direction"] == "down"
    assert [(s["version"], s["direction"], s["sql"]) for s in out["steps"]] == [
        ("3", "down", "drop table c"),
        ("2", "down", "drop table b"),
    ]
    assert all(s["source"] == "object" and s["destructive"] == [] for s in out["steps"])
    # Forward to latest from 1: up steps; nothing to do at the current version.
    up = views.preview(
        _sv(currentVersion="1"),
        [_sm("1", "select 1", applied=True), _sm("2", "select 2")],
        "latest",
    )
    assert up["direction"] == "up" and [s["version"] for s in up["steps"]] == ["2"]
    assert views.preview(sv, objects, "3")["direction"] == "none"


def test_preview_refuses_as_the_operator_would() -> None:
    objects = [
        _sm("1", "create table a (id int)", applied=True),
        _sm("2", "create table b (id int)", applied=True),
    ]
    out = views.preview(_sv(currentVersion="2"), objects, "1")
    assert out["steps"] == [] and "no down step" in str(out["refused"])
    assert "dirty" in str(views.preview(_sv(dirty=True), objects, "1")["refused"])
    unknown = views.preview(_sv(currentVersion="2"), objects, "7")
    assert unknown["refused"] and unknown["steps"] == []


def test_preview_of_a_version_whose_migration_is_gone_uses_the_recorded_down() -> None:
    objects = [_sm("1", "create table a (id int)", "drop table a", applied=True)]
    history = [
        {"version": "2", "direction": "up", "status": "applied", "description": "m2"},
        {"version": "1", "direction": "up", "status": "applied", "description": "m1"},
    ]
    out = views.preview(_sv(currentVersion="2", history=history), objects, "1")
    assert out["refused"] is None
    (step,) = out["steps"]
    assert step["version"] == "2" and step["source"] == "recorded" and step["sql"] is None
    # The preview says so in words: the object is gone, the recorded down runs, and
    # why its SQL is not shown (the console reads no database).
    note = step["note"]
    assert "SchemaMigration of version 2 is gone" in note
    assert "down SQL the database's history recorded when 2 was applied" in note
    assert "reads no database" in note and "MissingMigration" in note
    (kept,) = views.preview(_sv(currentVersion="2"), [*objects, _sm("2", "x", "y", True)], "1")[
        "steps"
    ]
    assert kept["source"] == "object" and kept["note"] is None


def test_preview_names_what_the_destructive_policy_archives() -> None:
    objects = [
        _sm("1", "create table a (id int primary key, note text)", applied=True),
        _sm("2", "alter table a drop column note", "alter table a add column note text"),
    ]
    sv = _sv(currentVersion="1")
    blocked = views.preview(sv, objects, "2")
    assert "Block refuses" in str(blocked["refused"]) and blocked["steps"]
    sv["spec"]["destructive"] = "Backup"
    out = views.preview(sv, objects, "2")
    assert out["refused"] is None
    (step,) = out["steps"]
    assert any("schemaop_archive" in d for d in step["destructive"]), step


def test_run_summaries_newest_first() -> None:
    records = [
        {
            "metadata": {"name": "r1"},
            "spec": {
                "startTime": "2026-01-01T00:00:00Z",
                "attempt": 1,
                "trigger": {"kind": "NewPlan"},
                "outcome": "Failed",
                "job": {"name": "j1"},
            },
        },
        {
            "metadata": {"name": "r2"},
            "spec": {
                "startTime": "2026-01-02T00:00:00Z",
                "attempt": 2,
                "trigger": {"kind": "Retry"},
                "outcome": "Succeeded",
                "job": {"name": "j2"},
            },
        },
    ]
    out = views.runs_newest_first(records)
    assert [r["name"] for r in out] == ["r2", "r1"]
    assert out[0]["trigger"] == "Retry" and out[0]["job"] == "j2" and out[1]["outcome"] == "Failed"


def test_event_messages_are_scrubbed() -> None:
    from schemaop import redaction

    redaction.remember("s3cr3t-p4ssw0rd-value")
    out = views.event_summary(
        {"type": "Warning", "reason": "X", "message": "pw s3cr3t-p4ssw0rd-value"}
    )
    assert "s3cr3t" not in out["message"] and out["count"] == 1


def test_sessions_expire_idle_and_at_their_lifetime() -> None:
    now = [0.0]
    sessions = Sessions(lifetime=100.0, idle=10.0, clock=lambda: now[0])
    s = sessions.create("tok", "alice", ["g"])
    now[0] = 9.0
    assert sessions.get(s.id) is s
    now[0] = 18.0
    assert sessions.get(s.id) is s  # idle time restarts with each request
    now[0] = 29.0
    assert sessions.get(s.id) is None
    s = sessions.create("tok", "alice", [])
    for t in range(30, 140, 5):
        now[0] = float(t)
        alive = sessions.get(s.id)
    assert alive is None  # past its lifetime however busy
    assert sessions.get(None) is None and sessions.get("nope") is None
    s = sessions.create(None, "local", [])
    sessions.drop(s.id)
    assert sessions.get(s.id) is None


def test_csrf_tokens_bind_to_the_identity_and_the_process() -> None:
    csrf = Csrf()
    token = csrf.token_for("session:a")
    assert csrf.check("session:a", token)
    assert not csrf.check("session:b", token)
    assert not csrf.check("session:a", None) and not csrf.check("session:a", "")
    assert not Csrf().check("session:a", token)  # another process: another secret


def test_the_one_time_code_works_once_and_only_in_time() -> None:
    now = [0.0]
    code = OneTimeCode("c0de", ttl=120.0, clock=lambda: now[0])
    assert not code.redeem("wrong") and not code.redeem(None)
    assert code.redeem("c0de")
    assert not code.redeem("c0de")
    late = OneTimeCode("c0de", ttl=120.0, clock=lambda: now[0])
    now[0] = 121.0
    assert not late.redeem("c0de")
    assert not OneTimeCode(None, 120.0).redeem("")


def test_config_refuses_local_mode_without_credentials() -> None:
    with pytest.raises(ValueError, match="local_credentials"):
        ConsoleConfig(mode="local")
    with pytest.raises(ValueError, match="mode"):
        ConsoleConfig(mode="other")  # type: ignore[arg-type]
    assert ConsoleConfig(mode="local", local_credentials=lambda: None).mode == "local"
