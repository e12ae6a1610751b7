"""Generate real-looking migrations for lint benchmarks and the lint speed test.

Deterministic (seeded): tables with typed columns and constraints, indexes,
added columns with defaults, backfills with WHERE, views, enum types, functions
with dollar-quoted bodies, comments, foreign keys, and now and then a
destructive or lock-heavy statement, so the rules have something to find.
Used by ``bench/lint/run.py`` and ``tests/unit/test_lint_speed.py``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

_TYPES = [
    "bigint",
    "integer",
    "text",
    "varchar(200)",
    "numeric(12, 2)",
    "timestamptz NOT NULL DEFAULT now()",
    "boolean NOT NULL DEFAULT false",
    "jsonb NOT NULL DEFAULT '{}'::jsonb",
    "uuid",
    "date",
]
_WORDS = [
    "account",
    "order",
    "invoice",
    "payment",
    "customer",
    "product",
    "shipment",
    "review",
    "coupon",
    "refund",
]


def _statements(rng: random.Random, tables: list[str], i: int) -> Iterator[str]:
    kind = rng.randrange(20)
    word = rng.choice(_WORDS)
    name = f"{word}_{i}"
    if kind < 5 or not tables:
        cols = ",\n    ".join(
            f"{rng.choice(_WORDS)}_{c} {rng.choice(_TYPES)}" for c in range(rng.randint(2, 8))
        )
        tables.append(name)
        yield (
            f"-- {word} records\nCREATE TABLE {name} (\n    id bigint GENERATED ALWAYS AS"
            f" IDENTITY PRIMARY KEY,\n    {cols}\n)"
        )
        yield f"CREATE INDEX {name}_created_idx ON {name} (id)"
        yield f"COMMENT ON TABLE {name} IS 'The {word}s of tenant {i}; see docs/model.md'"
        return
    t = rng.choice(tables)
    if kind < 8:
        yield f"ALTER TABLE {t} ADD COLUMN note_{i} text DEFAULT 'n/a'"
    elif kind < 10:
        yield f"UPDATE {t} SET note_{i} = 'x' WHERE id < {rng.randint(10, 10_000)}"
    elif kind < 11:
        yield (
            f"CREATE OR REPLACE VIEW {t}_recent_{i} AS\n  SELECT * FROM {t}"
            f" WHERE id > {rng.randint(1, 100)} ORDER BY id DESC"
        )
    elif kind < 12:
        labels = ", ".join(f"'{w}'" for w in rng.sample(_WORDS, 4))
        yield f"CREATE TYPE {name}_status AS ENUM ({labels})"
    elif kind < 13:
        yield (
            f"CREATE FUNCTION {name}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n  NEW.id := NEW.id; -- DROP TABLE {t} is not a statement here\n"
            "  RETURN NEW;\nEND\n$$"
        )
    elif kind < 14:
        other = rng.choice(tables)
        yield (
            f"ALTER TABLE {t} ADD CONSTRAINT {t}_{i}_fk FOREIGN KEY (id)"
            f" REFERENCES {other} (id) NOT VALID"
        )
    elif kind < 15:
        yield f"INSERT INTO {t} DEFAULT VALUES"
    elif kind < 16:
        yield f"CREATE INDEX {t}_{i}_idx ON existing_{word}s (created_at)"
    elif kind < 17:
        yield f"ALTER TABLE existing_{word}s DROP COLUMN legacy_{i}"
    elif kind < 18:
        yield f"ALTER TABLE existing_{word}s ALTER COLUMN amount TYPE numeric(14, 2)"
    elif kind < 19:
        yield f"DELETE FROM {t} WHERE id IN (SELECT id FROM {t} ORDER BY id LIMIT 10)"
    else:
        yield f"ALTER TABLE existing_{word}s RENAME COLUMN old_{i} TO new_{i}"


def migrations(statements: int, per_migration: int = 8, seed: int = 6) -> list[str]:
    """Up SQL texts, in order, with about ``statements`` statements in total."""
    rng = random.Random(seed)
    tables: list[str] = []
    out: list[str] = []
    current: list[str] = []
    count = i = 0
    while count < statements:
        for stmt in _statements(rng, tables, i):
            current.append(stmt + ";")
            count += 1
        i += 1
        if len(current) >= per_migration or count >= statements:
            out.append("\n\n".join(current) + "\n")
            current = []
    return out


def write_directory(directory: Path, statements: int, per_migration: int = 8) -> int:
    """Write ``V<n>__step_<n>.sql`` files; returns the number of files."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = migrations(statements, per_migration)
    for n, text in enumerate(texts, start=1):
        (directory / f"V{n}__step_{n}.sql").write_text(text)
    return len(texts)
