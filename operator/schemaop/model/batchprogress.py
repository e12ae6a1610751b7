"""A batched data migration's progress, as the operator reads it (pure).

The engine writes one row per (version, direction) of a batched step in
``<historySchema>.schemaop_batches``, in the same transaction as each batch
(docs/data-migrations.md). The operator reads the row of the step in progress
(:func:`schemaop.engine.observe.read_batch_progress`) into a
:class:`BatchProgress`, and shapes it for status (``status.dataMigration``,
:func:`schemaop.model.status.data_migration_status`) and metrics. The rate and
the ETA are derived here, once: ETA = (estimate - rows done) / rows per second.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class BatchProgress:
    """One row of the progress table."""

    version: str
    direction: str
    plan_hash: str | None
    rows_done: int
    batches_done: int
    rows_total_estimate: int | None
    batch_size: int
    rows_per_second: float | None
    throttle_reason: str | None
    failed_attempts: int
    # {sqlstate, message, statement, lo, hi} of the last failed batch, or None.
    last_error: Mapping[str, Any] | None
    started_at: dt.datetime | None
    updated_at: dt.datetime | None
    completed_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BatchProgress:
        """A row of ``schemaop_batches`` read as a dict (column name -> value)."""
        rate = row.get("rows_per_second")
        error = row.get("last_error")
        return cls(
            version=str(row["version"]),
            direction=str(row["direction"]),
            plan_hash=str(row["plan_hash"]) if row.get("plan_hash") else None,
            rows_done=int(row.get("rows_done") or 0),
            batches_done=int(row.get("batches_done") or 0),
            rows_total_estimate=(
                int(row["rows_total_estimate"])
                if row.get("rows_total_estimate") is not None
                else None
            ),
            batch_size=int(row.get("batch_size") or 0),
            rows_per_second=float(rate) if rate is not None else None,
            throttle_reason=str(row["throttle_reason"]) if row.get("throttle_reason") else None,
            failed_attempts=int(row.get("failed_attempts") or 0),
            last_error=error if isinstance(error, Mapping) else None,
            started_at=row.get("started_at"),
            updated_at=row.get("updated_at"),
            completed_at=row.get("completed_at"),
        )

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    @property
    def percent(self) -> int | None:
        """Rows done of the estimate, 0-100 (100 once completed; None without an estimate).

        The estimate is the planner's (reltuples) at the start: rows done may pass
        it, so a running step shows at most 99.
        """
        if self.completed:
            return 100
        if not self.rows_total_estimate or self.rows_total_estimate <= 0:
            return None
        return max(0, min(99, int(100 * self.rows_done / self.rows_total_estimate)))

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the recent rate (None when unknown; 0 once completed)."""
        if self.completed:
            return 0.0
        if not self.rows_per_second or self.rows_per_second <= 0:
            return None
        if self.rows_total_estimate is None:
            return None
        return max(0.0, (self.rows_total_estimate - self.rows_done) / self.rows_per_second)

    def belongs_to(self, plan_hash12: str) -> bool:
        """Whether this row is of the plan a Job (labelled with 12 hex digits) runs.

        A row without a plan hash (written by ``schemaop migrate --dir``) belongs to
        whichever run holds the database's advisory lock: any running Job.
        """
        return self.plan_hash is None or (
            bool(plan_hash12) and self.plan_hash.startswith(plan_hash12)
        )


def eta_text(seconds: float | None) -> str:
    """``3725`` -> ``'1h2m5s'`` (whole seconds, in the duration syntax of the spec)."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")
