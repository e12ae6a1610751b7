"""The Flux health check (docs/flux/kustomization-health.yaml) run in a real CEL interpreter.

Flux's kustomize-controller evaluates each ``healthCheckExprs`` entry with the
object's top-level fields (``metadata``, ``status``, ...) as variables: in
progress, then failed, then current; an expression that cannot be evaluated yet
keeps Flux waiting. cel-python (``celpy``) evaluates the same expressions here, on
the cases of the Argo CD check, and on every combination of conditions, where the
verdict must be the Argo CD check's (Suspended being in progress for Flux, which
has no such state).
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_chart_argocd import _sv, health

try:
    import celpy
except ImportError as exc:  # a dev dependency; CI must have it
    celpy = None
    MISSING: BaseException | None = exc
else:
    MISSING = None

MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "flux" / "kustomization-health.yaml"
ARGO_TO_FLUX = {
    "Healthy": "Current",
    "Degraded": "Failed",
    "Suspended": "InProgress",
    "Progressing": "InProgress",
}


def _exprs() -> dict[str, str]:
    doc = yaml.safe_load(MANIFEST.read_text())
    (entry,) = doc["spec"]["healthCheckExprs"]
    assert (entry["apiVersion"], entry["kind"]) == ("schemaop.io/v1alpha1", "SchemaVersion")
    return {k: entry[k] for k in ("inProgress", "failed", "current")}


@functools.cache
def _programs() -> dict[str, Any]:
    if celpy is None:
        from conftest import unavailable

        unavailable("cel-python (a dev dependency that evaluates CEL)", MISSING or "missing")
    env = celpy.Environment()
    return {name: env.program(env.compile(expr)) for name, expr in _exprs().items()}


def verdicts(obj: dict[str, Any]) -> dict[str, bool | None]:
    """Each expression's value on the object; None where it cannot be evaluated."""
    programs = _programs()
    activation = {k: celpy.json_to_cel(v) for k, v in obj.items()}
    out: dict[str, bool | None] = {}
    for name, program in programs.items():
        try:
            value = program.evaluate(activation)
        except celpy.CELEvalError:
            out[name] = None
            continue
        out[name] = bool(value) if isinstance(value, celpy.celtypes.BoolType) else None
    return out


def flux_status(obj: dict[str, Any]) -> str:
    """The status Flux derives: the first expression that holds, in Flux's order."""
    got = verdicts(obj)
    if got["inProgress"]:
        return "InProgress"
    if got["failed"]:
        return "Failed"
    if got["current"]:
        return "Current"
    return "InProgress"  # nothing holds (or nothing can be evaluated): Flux keeps waiting


@pytest.mark.parametrize(
    ("obj", "status"),
    [
        ({"metadata": {"name": "db", "generation": 1}}, "InProgress"),
        (
            {"metadata": {"name": "db", "generation": 1}, "status": {"observedGeneration": 1}},
            "InProgress",
        ),
        (_sv(("Ready", "True", "Applied"), generation=2), "InProgress"),
        (_sv(("Ready", "True", "Applied"), ("Stalled", "False", "Applied")), "Current"),
        (_sv(("Ready", "True", "Applied"), ("Drifted", "True", "Drifted")), "Current"),
        (_sv(("Ready", "False", "MigrationFailed"), ("Stalled", "True", "X")), "Failed"),
        (_sv(("Stalled", "True", "MigrationFailed"), generation=2, observed=1), "InProgress"),
        (_sv(("Ready", "False", "Waiting"), ("ApprovalPending", "True", "Waiting")), "InProgress"),
        (_sv(("Ready", "False", "Migrating"), ("Reconciling", "True", "Migrating")), "InProgress"),
        (_sv(("Reconciling", "True", "Planning")), "InProgress"),
    ],
)
def test_flux_status_follows_the_conditions(obj: dict[str, Any], status: str) -> None:
    assert flux_status(obj) == status


# Drifted changes neither verdict (a case above); left out to keep this quick.
CONDITION_TYPES = ("Ready", "Stalled", "ApprovalPending", "Reconciling")


def _every_status() -> list[dict[str, Any]]:
    cases = []
    for statuses in itertools.product((None, "True", "False"), repeat=len(CONDITION_TYPES)):
        conditions = [
            (t, s, "R") for t, s in zip(CONDITION_TYPES, statuses, strict=True) if s is not None
        ]
        for observed in (1, 2):
            cases.append(_sv(*conditions, generation=2, observed=observed))
    return cases


def test_exactly_one_expression_holds_and_agrees_with_the_argo_cd_check() -> None:
    disagreements = []
    for obj in _every_status():
        got = verdicts(obj)
        assert None not in got.values(), (obj, got)
        assert sum(bool(v) for v in got.values()) == 1, (obj, got)
        argo, _ = health(obj)
        if flux_status(obj) != ARGO_TO_FLUX[argo]:
            disagreements.append((obj["status"], argo, flux_status(obj)))
    assert not disagreements, disagreements[:3]
