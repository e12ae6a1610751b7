"""What lint knows about tables while it walks a migration set in order.

"Existing table" in the rules means a table that was not created earlier in the
pending part of the migration set: dropping a column of a table created two
migrations ago in the same rollout loses nothing, but dropping one from a table
that production already holds does. Tables created by migrations the database
has already applied (``applied_through`` in :func:`schemaop.lint.lint_set`) are
known (columns, primary key) but count as existing.

Names are normalized as ``schema.table``; an unqualified name is taken to be in
``public`` (lint cannot know the search_path; this is the common case and the
policy rewrites resolve the real table at run time anyway).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    type: str | None  # normalized type text, e.g. "varchar(20)", None when unknown
    new: bool  # added in the pending part of the set


@dataclasses.dataclass
class Table:
    key: str
    new: bool
    columns: dict[str, Column] = dataclasses.field(default_factory=dict)
    primary_key: tuple[str, ...] | None = None

    def copy(self) -> Table:
        return Table(
            self.key,
            self.new,
            dict(self.columns),  # columns are immutable: a shallow copy is a copy
            self.primary_key,
        )


def table_key(schema: str | None, name: str) -> str:
    return f"{schema or 'public'}.{name}"


class Catalog:
    """Tables, schemas and types created so far in the set (mutable, owned by one walk)."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.new_schemas: set[str] = set()
        self.new_types: set[str] = set()
        # Tables as they were before the current migration, recorded on first touch
        # (copying the whole catalog per migration would make a set quadratic).
        self._before: dict[str, Table | None] = {}

    def begin(self) -> None:
        """Start recording what the next migration touches (see :meth:`touched_before`)."""
        self._before = {}

    def touched_before(self) -> dict[str, Table]:
        """The tables the migration looked at or changed, as they were before it."""
        return {k: t for k, t in self._before.items() if t is not None}

    def _remember(self, key: str) -> None:
        if key not in self._before:
            t = self.tables.get(key)
            self._before[key] = t.copy() if t is not None else None

    def settle(self) -> None:
        """Everything created so far is now in the database (an applied migration ended)."""
        for t in self.tables.values():
            t.new = False
            t.columns = {n: Column(c.type, False) for n, c in t.columns.items()}
        self.new_schemas.clear()
        self.new_types.clear()

    def is_new_table(self, key: str) -> bool:
        self._remember(key)
        t = self.tables.get(key)
        return t is not None and t.new

    def is_new_column(self, key: str, column: str) -> bool:
        self._remember(key)
        t = self.tables.get(key)
        if t is None:
            return False
        if t.new:
            return True
        c = t.columns.get(column)
        return c is not None and c.new

    def column_type(self, key: str, column: str) -> str | None:
        self._remember(key)
        t = self.tables.get(key)
        c = t.columns.get(column) if t is not None else None
        return c.type if c is not None else None

    def create_table(
        self,
        key: str,
        columns: dict[str, str | None] | None = None,
        primary_key: tuple[str, ...] | None = None,
    ) -> None:
        self._remember(key)
        cols = {n: Column(t, True) for n, t in (columns or {}).items()}
        self.tables[key] = Table(key, True, cols, primary_key)

    def drop_table(self, key: str) -> None:
        self._remember(key)
        self.tables.pop(key, None)

    def rename_table(self, old: str, new: str) -> None:
        self._remember(old)
        self._remember(new)
        t = self.tables.pop(old, None)
        if t is None:
            # An existing table we knew nothing about: it keeps being existing.
            t = Table(new, False)
        t.key = new
        self.tables[new] = t

    def _table(self, key: str) -> Table:
        self._remember(key)
        t = self.tables.get(key)
        if t is None:
            t = self.tables[key] = Table(key, False)
        return t

    def add_column(self, key: str, column: str, type_: str | None, primary: bool = False) -> None:
        t = self._table(key)
        t.columns[column] = Column(type_, True)
        if primary:
            t.primary_key = (column,)

    def drop_column(self, key: str, column: str) -> None:
        self._remember(key)
        t = self.tables.get(key)
        if t is not None:
            t.columns.pop(column, None)
            if t.primary_key and column in t.primary_key:
                t.primary_key = None

    def rename_column(self, key: str, old: str, new: str) -> None:
        t = self._table(key)
        c = t.columns.pop(old, None) or Column(None, False)
        t.columns[new] = c
        if t.primary_key:
            t.primary_key = tuple(new if p == old else p for p in t.primary_key)

    def set_column_type(self, key: str, column: str, type_: str | None) -> None:
        t = self._table(key)
        c = t.columns.get(column)
        t.columns[column] = Column(type_, c.new if c is not None else False)

    def set_primary_key(self, key: str, columns: tuple[str, ...]) -> None:
        self._table(key).primary_key = columns

    def known(self, key: str) -> bool:
        self._remember(key)
        return key in self.tables
