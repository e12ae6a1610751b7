"""The operator's lint gate: a plan linted and run through the destructive-change policy,
and the lint findings of each SchemaMigration (cached)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemaop.engine.droprewrite import apply_to_plan
from schemaop.lint.core import lint_set
from schemaop.lint.policy import Refusal
from schemaop.lint.status import finding_status, lint_status
from schemaop.model import Migration
from schemaop.model.plan import Plan
from schemaop.model.status import MigrationLint, PlanLint


def plan_hook(
    plan: Plan, migrations: Iterable[Migration], policy: str
) -> tuple[Plan, list[dict[str, Any]], PlanLint]:
    """The operator's lint gate: ``(plan, blocking findings, lint summary)``.

    The signature of ``schemaop.decide.Facts.apply_policy``. ``blocking`` is
    non-empty when the policy refuses (the plan is then returned unchanged and
    the operator stalls with reason ``DestructiveChange``); the summary covers
    the migrations the plan applies (``lint_status`` shape, for
    ``status.plan.lint``).
    """
    ms = list(migrations)
    results = lint_set(ms, applied_through=plan.from_version)
    up_versions = {s.version.text for s in plan.steps if s.direction == "up"}
    summary = lint_status(f for r in results if r.version in up_versions for f in r.findings)
    outcome = apply_to_plan(plan, ms, policy, lint_results=results)
    if isinstance(outcome, Refusal):
        return plan, [finding_status(f) for f in outcome.findings], summary
    return outcome, [], summary


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
