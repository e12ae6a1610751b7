"""Batched data migrations: the declaration, its validation, the checksum (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemaop import migrations_dir, planner
from schemaop.decide.spec import to_migrations
from schemaop.model import InvalidMigrationSet, Version
from schemaop.model.migration import (
    Batched,
    Migration,
    MigrationSet,
    checksum,
    placeholders,
    with_parameters,
)
from schemaop.model.plan import Plan

UP = "UPDATE public.orders SET total_cents = total * 100 WHERE id BETWEEN :lo_id AND :hi_id"
DOWN = "UPDATE public.orders SET total_cents = NULL WHERE id BETWEEN :lo_id AND :hi_id"


def mig(up: str = UP, down_sql: str | None = DOWN, **batched: Any) -> Migration:
    b = Batched(table="public.orders", key=("id",), **batched)
    return Migration(Version("4"), "backfill", up, down_sql, batched=b, source="m4")


def test_checksum_unchanged_without_batched_and_changed_with_it() -> None:
    plain = Migration(Version("1"), "x", UP, DOWN)
    # The value of every checksum already recorded (a golden, from before batched).
    assert plain.checksum == checksum(UP, DOWN, True)
    assert checksum(UP, DOWN, True, None) == checksum(UP, DOWN)
    a, b = mig(), mig(max_size=100)
    assert a.checksum != plain.checksum
    assert a.checksum != b.checksum
    assert a.checksum == mig().checksum


def test_placeholders_found_by_the_lexer_only() -> None:
    text = (
        "UPDATE t SET c = ':lo_id' -- :hi_id\n"
        "/* :lo_x */ , d = x::lo_type, e = $q$:lo_y$q$ WHERE id BETWEEN :lo_id AND :HI_ID"
    )
    assert [p.name for p in placeholders(text)] == ["lo_id", "hi_id"]
    assert with_parameters(text, ["hi_id", "lo_id"]).endswith("BETWEEN $2 AND $1")


def test_valid_batched_set() -> None:
    s = MigrationSet([mig(UP, DOWN, down=True)])
    assert s[0].batched is not None and s[0].batched.down


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"up": "UPDATE public.orders SET c = 1"}, "does not use :hi_id, :lo_id"),
        ({"up": UP.replace(":hi_id", "10")}, "does not use :hi_id"),
        ({"up": UP + " AND x = :lo_other"}, ":lo_other, which is not a bound"),
        ({"up": UP + "; " + UP}, "exactly one UPDATE, DELETE or INSERT"),
        ({"up": "SELECT :lo_id, :hi_id"}, "exactly one UPDATE, DELETE or INSERT"),
        ({"up": "UPDATE t SET WHERE :lo_id :hi_id"}, "does not parse"),
        ({"down": None, "down_batched": True}, "no down SQL"),
        ({"down": "DELETE FROM t", "down_batched": True}, "the down SQL"),
        ({"max_size": 5, "min_size": 10}, "minBatchSize <= maxBatchSize"),
        ({"initial_size": 1}, "initialBatchSize must be between"),
        ({"target_ms": 5}, "targetBatchDuration must be between"),
        ({"max_attempts": 0}, "maxBatchAttempts"),
        ({"pause_ms": 4_000_000}, "pause"),
    ],
)
def test_invalid_batched(kwargs: dict[str, Any], needle: str) -> None:
    up = kwargs.pop("up", UP)
    down = kwargs.pop("down", DOWN)
    if kwargs.pop("down_batched", False):
        kwargs["down"] = True
    with pytest.raises(InvalidMigrationSet, match="m4: ") as info:
        MigrationSet([mig(up, down, **kwargs)])
    assert needle in str(info.value)


def test_batched_not_with_transactional_false() -> None:
    m = Migration(Version("4"), "x", UP, None, transactional=False, batched=Batched("t", ("id",)))
    with pytest.raises(InvalidMigrationSet, match="transactional: false"):
        MigrationSet([m])


@pytest.mark.parametrize(
    ("table", "key"),
    [("a.b.c", ("id",)), ("bad name", ("id",)), ("t", ()), ("t", ("id", "ID")), ("t", ('"x',))],
)
def test_bad_table_or_key(table: str, key: tuple[str, ...]) -> None:
    assert Batched(table, key).problem() is not None


def test_composite_key_needs_every_bound() -> None:
    b = Batched("t", ("tenant_id", "id"))
    ok = (
        "DELETE FROM t WHERE (tenant_id, id) BETWEEN (:lo_tenant_id, :lo_id)"
        " AND (:hi_tenant_id, :hi_id)"
    )
    MigrationSet([Migration(Version("1"), "x", ok, batched=b)])
    with pytest.raises(InvalidMigrationSet, match=":hi_tenant_id"):
        MigrationSet([Migration(Version("1"), "x", ok.replace(":hi_tenant_id", "1"), batched=b)])


def test_schemamigration_spec() -> None:
    obj = {
        "metadata": {"name": "m4"},
        "spec": {
            "version": "4",
            "up": UP,
            "down": DOWN,
            "batched": {
                "table": "public.orders",
                "key": ["id"],
                "targetBatchDuration": "250ms",
                "pause": "1s",
                "maxBatchSize": 2000,
                "down": True,
            },
        },
    }
    (m,) = to_migrations([obj])
    assert m.batched == Batched(
        "public.orders", ("id",), target_ms=250, pause_ms=1000, max_size=2000, down=True
    )
    obj["spec"]["batched"]["targetBatchDuration"] = "soon"  # type: ignore[index]
    with pytest.raises(InvalidMigrationSet, match="SchemaMigration m4: invalid duration"):
        to_migrations([obj])


def test_directory_directives(tmp_path: Path) -> None:
    (tmp_path / "V1__orders.sql").write_text("CREATE TABLE public.orders (id int primary key);")
    (tmp_path / "V2__backfill.sql").write_text(
        "-- schemaop:batched table=public.orders key=id target=200ms max=500 pause=10ms "
        "attempts=3 initial=100 min=5\n" + UP + ";\n"
    )
    (tmp_path / "U2__backfill.sql").write_text("-- schemaop:batched\n" + DOWN + ";\n")
    s = migrations_dir.load(tmp_path)
    b = s[1].batched
    assert b == Batched(
        "public.orders",
        ("id",),
        target_ms=200,
        initial_size=100,
        min_size=5,
        max_size=500,
        pause_ms=10,
        down=True,
        max_attempts=3,
    )
    assert s[0].batched is None


@pytest.mark.parametrize(
    ("up", "down", "needle"),
    [
        ("-- schemaop:batched table=t\n" + UP, None, "batched.key"),
        ("-- schemaop:batched table=t key=id size=3\n" + UP, None, "'size=3' is not one of"),
        ("-- schemaop:batched table=t key=id max=lots\n" + UP, None, "not a whole number"),
        (UP, "-- schemaop:batched\n" + DOWN, "needs a schemaop:batched up file"),
        ("-- schemaop:batched table=t key=id\n" + UP, "-- schemaop:batched key=id\n", "bare"),
        ("-- schemaop:batched table=t key=id\nUPDATE t SET a = 1", None, "does not use"),
    ],
)
def test_bad_directives(tmp_path: Path, up: str, down: str | None, needle: str) -> None:
    (tmp_path / "V2__b.sql").write_text(up)
    if down is not None:
        (tmp_path / "U2__b.sql").write_text(down)
    with pytest.raises(InvalidMigrationSet, match=r"[VU]2__b\.sql") as info:
        migrations_dir.load(tmp_path)
    assert needle in str(info.value)


def test_plan_carries_batched_and_keeps_other_hashes(tmp_path: Path) -> None:
    from schemaop.model.history import derive_state

    s = MigrationSet([Migration(Version("1"), "a", "SELECT 1"), mig(down=True)])
    plan = planner.plan(s, derive_state([], recent=0, history_exists=False), "latest")
    back = Plan.from_json(plan.to_json())
    assert back.steps[1].batched == s[1].batched
    assert back.steps[1].runs_batched
    assert "batched" not in json.loads(plan.to_json())["steps"][0]
    assert back.hash == plan.hash
    bad = json.loads(plan.to_json())
    bad["steps"][1]["batched"]["key"] = []
    del bad["hash"]
    with pytest.raises(ValueError, match=r"batched\.key"):
        Plan.from_dict(bad)
