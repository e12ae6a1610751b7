"""What the pure decision (:func:`schemaop.decide.decide`) is given, for unit tests:
a SchemaVersion ``ns/db`` of generation 1 that targets the latest of its
migrations (version 1 only), on a database that has none applied, at :data:`NOW`.
Each test changes only what it is about (``facts(jobs=..., status=...)``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemaop.decide import Facts
from schemaop.model.history import DatabaseState

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def migration(version: str) -> dict[str, Any]:
    """A SchemaMigration that creates table ``t<version>``."""
    return {
        "metadata": {"name": f"m{version}", "generation": 1},
        "spec": {"version": version, "up": f"create table t{version} (id int)"},
    }


def facts(**kw: Any) -> Facts:
    """The facts above, with ``kw`` in place of any of them."""
    base: dict[str, Any] = {
        "name": "db",
        "namespace": "ns",
        "generation": 1,
        "spec": {"connection": {}, "targetVersion": "latest"},
        "annotations": {},
        "migrations": [migration("1")],
        "now": NOW,
        "db_state": DatabaseState(),
    }
    base.update(kw)
    return Facts(**base)
