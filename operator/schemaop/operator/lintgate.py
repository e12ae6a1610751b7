"""The operator's lint gate: a plan linted and run through the destructive-change policy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemaop.engine.droprewrite import apply_to_plan
from schemaop.lint.core import lint_set
from schemaop.lint.policy import Refusal
from schemaop.lint.status import finding_status, lint_status
from schemaop.model import Migration
from schemaop.model.plan import Plan
from schemaop.model.status import PlanLint


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
