"""The operator's lint gate: a plan linted and run through the destructive-change policy
(:func:`schemaop.engine.droprewrite.plan_hook`, shared with the console's preview),
and the lint findings of each SchemaMigration (cached)."""

from __future__ import annotations

from collections.abc import Iterable

from schemaop.engine.droprewrite import plan_hook
from schemaop.lint.core import lint_set
from schemaop.lint.status import lint_status
from schemaop.model import Migration
from schemaop.model.status import MigrationLint

__all__ = ["LintCache", "plan_hook"]


class LintCache:
    """Each migration's lint findings (``lint_status`` shape), by the set's checksums.

    Linting is pure and costly; a reconciliation asks again for the same set.
    Bounded: past ``limit`` sets the cache starts over.
    """

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._by_set: dict[tuple[str, ...], dict[str, MigrationLint]] = {}

    def by_version(self, migrations: Iterable[Migration]) -> dict[str, MigrationLint]:
        """Version text -> that migration's lint status."""
        ms = list(migrations)
        key = tuple(m.checksum for m in ms)
        by_version = self._by_set.get(key)
        if by_version is None:
            by_version = {
                m.version.text: lint_status(r.findings)
                for m, r in zip(ms, lint_set(ms), strict=True)
            }
            if len(self._by_set) > self.limit:
                self._by_set.clear()
            self._by_set[key] = by_version
        return by_version
