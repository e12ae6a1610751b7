"""The lint gate: a plan checked and, by policy, rewritten before it runs (pure).

Joins the planner's output with :mod:`schemaop.lint`: the whole migration set is
linted in order (so "existing table" means one not created earlier in the set),
the findings of the plan's steps are summarised for ``status.plan.lint``, and
the destructive-change policy (``spec.destructive``) either refuses the plan,
listing the blocking findings, or rewrites its steps (Backup, Rename) so the
data survives. Down steps use the rewrite's down SQL, so a migration whose drop
was turned into an archive copy or a rename is rolled back by restoring it.
Only up steps are gated: a rollback is destructive by intent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from schemaop.model.migration import MigrationSet
from schemaop.model.plan import Plan, PlanStep
from schemaop.model.version import Version


def lint_by_version(
    migrations: MigrationSet, applied_through: Version | None = None
) -> dict[str, Any]:
    """version text -> LintResult for every migration of the set, in order.

    Tables created by migrations at or below ``applied_through`` exist in the
    database: changing them later is a change to an existing table.
    """
    from schemaop.lint import lint_set

    results = lint_set(list(migrations), applied_through=applied_through)
    return {m.version.text: r for m, r in zip(migrations, results, strict=True)}


def migration_lint_status(migrations: MigrationSet) -> dict[str, dict[str, Any]]:
    """version text -> the ``lint`` block of a SchemaMigration's status."""
    from schemaop.lint import lint_status

    return {v: lint_status(r.findings) for v, r in lint_by_version(migrations).items()}


def plan_gate(
    plan: Plan, migrations: MigrationSet, policy: str
) -> tuple[Plan, list[dict[str, Any]], dict[str, Any]]:
    """(possibly rewritten plan, blocking findings, lint summary of the plan's up steps)."""
    from schemaop.lint import finding_status, lint_status
    from schemaop.lint.policy import Refusal, apply_policy

    results = lint_by_version(migrations, plan.from_version)
    findings = []
    blocking: list[dict[str, Any]] = []
    steps: list[PlanStep] = []
    for planned in plan.steps:
        step = planned
        migration = migrations.get(step.version)
        result = results.get(step.version.text)
        if migration is None or result is None:
            steps.append(step)
            continue
        outcome = apply_policy(migration, policy, result)
        if step.direction == "up":
            findings.extend(result.findings)
            if isinstance(outcome, Refusal):
                blocking.extend(finding_status(f) for f in outcome.findings)
                steps.append(step)
                continue
            if outcome.changed:
                step = dataclasses.replace(step, sql=outcome.up, archives=outcome.archives)
        elif not isinstance(outcome, Refusal) and outcome.changed and outcome.down is not None:
            step = dataclasses.replace(step, sql=outcome.down, archives=outcome.archives)
        steps.append(step)
    return dataclasses.replace(plan, steps=tuple(steps)), blocking, lint_status(findings)
