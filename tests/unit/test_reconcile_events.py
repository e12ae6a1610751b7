"""The operator's Events and metric series for one status write (no API server:
the write's before and after states are given, Events are recorded)."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from schemaop.operator.reconcile import OperatorConfig, Reconciler
from schemaop.operator.report import StatusReport


class RecordingKube:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def post_event(self, obj: Any, kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason, message))


def _cond(type_: str, status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def _sv(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name}, "status": status}


def _value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


async def test_one_event_per_reason_and_a_cleared_drift_is_an_event() -> None:
    kube = RecordingKube()
    report = StatusReport(kube)  # type: ignore[arg-type]
    before = {
        "conditions": [_cond("Ready", "True", "Applied"), _cond("Stalled", "False", "Applied")]
    }
    failed = _sv(
        "events",
        conditions=[
            _cond("Ready", "False", "MigrationFailed", "boom"),
            _cond("Stalled", "True", "MigrationFailed", "boom"),
        ],
    )
    await report.status_written(failed, before)
    assert kube.events == [("Warning", "MigrationFailed", "boom")]

    kube.events.clear()
    drifted = {"conditions": [_cond("Drifted", "True", "Drifted")]}
    in_sync = _sv("events", conditions=[_cond("Drifted", "False", "InSync", "back")])
    await report.status_written(in_sync, drifted)
    assert kube.events == [("Normal", "InSync", "back")]


async def test_every_new_history_row_is_timed_and_forget_drops_the_series() -> None:
    reconciler = Reconciler(RecordingKube(), OperatorConfig())  # type: ignore[arg-type]
    old = {"version": "1", "direction": "up", "durationSeconds": 0.5}
    new = [{"version": v, "direction": "up", "durationSeconds": 0.1} for v in ("4", "3", "2")]
    sv = _sv(
        "gone",
        currentVersion="4",
        targetVersion="4",
        history=[*new, old],
        conditions=[
            _cond("Ready", "False", "DownMigrationMissing"),
            _cond("Stalled", "True", "DownMigrationMissing"),
        ],
    )
    await reconciler.report.status_written(sv, {"history": [old]})
    labels = {"namespace": "ns", "name": "gone"}
    assert _value("schemaop_migration_duration_seconds_count", **labels) == 3
    stalled = {**labels, "reason": "DownMigrationMissing"}
    assert _value("schemaop_schemaversion_stalled", **stalled) == 1

    reconciler.forget("ns", "gone")
    assert _value("schemaop_schemaversion_stalled", **stalled) is None
    assert _value("schemaop_schemaversion_ready", **labels) is None
    assert _value("schemaop_migration_duration_seconds_count", **labels) is None
    info = {**labels, "current": "4", "target": "4"}
    assert _value("schemaop_schemaversion_info", **info) is None
