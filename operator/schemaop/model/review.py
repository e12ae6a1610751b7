"""What a person reviews of a SchemaVersion, and the approval check (pure).

Shared by the kubectl plugin (:mod:`schemaop.commands.kubectl`) and the console
(:mod:`schemaop.console`): one reading of a SchemaVersion's conditions and plan,
one rule for which plan hash may be approved. Dicts in (camelCase, as the API
serves them), text or a refusal out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemaop.model.names import ANNOTATION_APPROVED_PLAN

__all__ = ["AlreadyApproved", "PlanChanged", "Refused", "approval_patch", "condition", "plan_text"]


class Refused(Exception):
    """An action refused, with a message for the person who asked."""


class PlanChanged(Refused):
    """The plan the person reviewed is not the current one (or may be about to change)."""


class AlreadyApproved(Refused):
    """The plan is approved already."""


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any]:
    for c in status.get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return {}


def _steps(plan: Mapping[str, Any]) -> list[str]:
    out = []
    for s in plan.get("steps") or []:
        arrow = "down" if s.get("direction") == "down" else "up"
        tx = "" if s.get("transactional", True) else "  (not transactional)"
        out.append(f"  {arrow:<4} {s.get('version')}  {s.get('description', '')}{tx}")
    if plan.get("truncatedSteps"):
        out.append(f"  ... and {plan['truncatedSteps']} more")
    return out


def plan_text(sv: Mapping[str, Any]) -> str:
    meta, spec, st = sv["metadata"], sv.get("spec") or {}, sv.get("status") or {}
    plan = st.get("plan") or {}
    name = f"{meta.get('namespace')}/{meta['name']}"
    if not plan or not plan.get("steps"):
        current = st.get("currentVersion") or "-"
        return f"{name}: nothing to do (at version {current})."
    lines = [
        f"SchemaVersion {name}: plan {str(plan.get('hash', ''))[:12]} "
        f"({plan.get('direction')}, {plan.get('fromVersion') or '-'} -> "
        f"{plan.get('toVersion') or '-'}, {len(plan.get('steps') or [])} step(s))",
        *_steps(plan),
    ]
    lint = plan.get("lint") or {}
    if lint:
        lines.append(
            f"lint: {lint.get('errors', 0)} error(s), {lint.get('warnings', 0)} warning(s)"
        )
        for finding in (lint.get("findings") or [])[:10]:
            where = f" (version {finding['version']})" if finding.get("version") else ""
            lines.append(
                f"  {finding.get('severity', '?')} {finding.get('rule', '')}{where}: "
                f"{finding.get('message', '')}"
            )
    if spec.get("approval") == "Manual":
        if plan.get("approved"):
            lines.append("approval: approved")
        else:
            lines.append(
                f"approval: pending; run `kubectl schemaop approve {meta['name']} "
                f"-n {meta.get('namespace')} --plan {str(plan.get('hash', ''))[:12]}`"
            )
    return "\n".join(lines)


def approval_patch(sv: Mapping[str, Any], wanted: str | None) -> tuple[str, str]:
    """(plan hash to approve, a description of the plan); Refused when refused."""
    meta, spec, st = sv["metadata"], sv.get("spec") or {}, sv.get("status") or {}
    name = f"{meta.get('namespace')}/{meta['name']}"
    if spec.get("approval", "Automatic") != "Manual":
        raise Refused(f"{name} has approval: Automatic; its plans need no approval")
    plan = st.get("plan") or {}
    plan_hash = str(plan.get("hash") or "")
    if not plan_hash or not plan.get("steps"):
        raise Refused(f"{name} has no plan waiting (at version {st.get('currentVersion')})")
    if st.get("observedGeneration") != meta.get("generation"):
        raise PlanChanged(
            f"{name} changed since the operator last planned (generation "
            f"{meta.get('generation')}, status for {st.get('observedGeneration')}); "
            "wait a moment and look at the plan again"
        )
    if wanted is not None and (len(wanted) < 7 or not plan_hash.startswith(wanted.lower())):
        raise PlanChanged(
            f"the plan of {name} is now {plan_hash[:12]}, not {wanted}: review it again "
            f"(kubectl schemaop plan {meta['name']} -n {meta.get('namespace')})"
        )
    if (meta.get("annotations") or {}).get(ANNOTATION_APPROVED_PLAN) == plan_hash:
        raise AlreadyApproved(f"plan {plan_hash[:12]} of {name} is already approved")
    return plan_hash, plan_text(sv)
