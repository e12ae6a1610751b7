"""Resolving a dirty database: resume the failed non-transactional step, or accept it.

Both hold the runner's advisory lock while they change the history, like a run.
``retry`` builds a one-step plan from the migration set and runs it with
``resume_dirty``: the pending row becomes ``repaired`` and a new row continues
from the first statement not done, so finished statements are never replayed.
``mark_applied`` turns the pending row into ``applied`` after a person finished
the step by hand, records the fingerprint and sends the NOTIFY.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from schemaop.engine import history as hist
from schemaop.engine import lock as advisory
from schemaop.engine.connect import Conn
from schemaop.engine.errors import Refused
from schemaop.engine.fingerprint import fingerprint
from schemaop.engine.pooling import require_session
from schemaop.engine.runner import ConnFactory, ProgressFn, RunResult, run_plan
from schemaop.model.conditions import Reason
from schemaop.model.migration import MigrationSet
from schemaop.model.names import NOTIFY_CHANNEL
from schemaop.model.plan import Plan, PlanStep, RunOptions
from schemaop.model.version import InvalidVersion, Version


def _not_dirty() -> Refused:
    return Refused(
        Reason.DATABASE_DIRTY,
        "the database is not dirty: there is nothing to repair",
    )


def mark_applied(connect: ConnFactory, options: RunOptions, version: str) -> dict[str, Any]:
    """Record the dirty step (which must be ``version``) as applied; returns its row."""
    try:
        wanted = Version(version)
    except InvalidVersion as exc:
        raise Refused(Reason.UNKNOWN_TARGET, str(exc)) from exc
    schema = options.history_schema
    key = advisory.lock_key(schema)
    with connect() as conn:
        conn.autocommit = True
        require_session(conn, "the migration's advisory lock")
        advisory.acquire(conn, key, options.lock_wait_ms / 1000)
        try:
            return _mark(conn, options, schema, wanted)
        finally:
            advisory.unlock(conn, key)


def _mark(conn: Conn, options: RunOptions, schema: str, wanted: Version) -> dict[str, Any]:
    state = hist.read_state(conn, schema, recent=0)
    d = state.dirty_step
    if d is None:
        raise _not_dirty()
    if d.version != wanted:
        raise Refused(
            Reason.DATABASE_DIRTY,
            f"the dirty step is {d.direction} {d.version}, not {wanted}",
            version=d.version.text,
        )
    applied = {a.version for a in state.applied}
    if d.direction == "up":
        applied.add(d.version)
    else:
        applied.discard(d.version)
    current = max(applied).text if applied else None
    fp = fingerprint(conn, options.schemas)
    conn.execute(
        sql.SQL(
            "UPDATE {} SET status = 'applied', fingerprint = %s,"
            " error = coalesce(error, '{{}}'::jsonb) || '{{\"repair\": \"mark-applied\"}}'::jsonb"
            " WHERE id = %s AND status = 'pending'"
        ).format(sql.Identifier(schema, hist.HISTORY_TABLE)),
        (fp, d.id),
    )
    payload = json.dumps({"version": current, "fingerprint": fp})
    conn.execute("SELECT pg_catalog.pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))
    return {**d.to_dict(), "status": "applied", "fingerprint": fp, "currentVersion": current}


def retry(
    connect: ConnFactory,
    options: RunOptions,
    migrations: MigrationSet,
    on_progress: ProgressFn | None = None,
) -> RunResult:
    """Resume the dirty step with its remaining statements (SQL from ``migrations``)."""
    with connect() as conn:
        state = hist.read_state(conn, options.history_schema, recent=0)
    d = state.dirty_step
    if d is None:
        raise _not_dirty()
    m = migrations.get(d.version)
    if m is None:
        raise Refused(
            Reason.MISSING_MIGRATION,
            f"the dirty step {d.version} is not in the migration set",
            version=d.version.text,
        )
    if m.checksum != d.checksum:
        raise Refused(
            Reason.CHECKSUM_MISMATCH,
            f"migration {d.version} changed since its step started (checksum differs); "
            "restore it, or finish the step by hand and use --mark-applied",
            version=d.version.text,
        )
    text = m.up if d.direction == "up" else m.down
    if text is None:
        raise Refused(
            Reason.DOWN_MIGRATION_MISSING,
            f"migration {d.version} has no down step",
            version=d.version.text,
        )
    step = PlanStep(
        version=m.version,
        description=m.description,
        direction=d.direction,
        sql=text,
        transactional=m.transactional,
        checksum=m.checksum,
    )
    after = {a.version for a in state.applied}
    if d.direction == "up":
        after.add(d.version)
    else:
        after.discard(d.version)
    plan = Plan(
        from_version=state.current_version,
        to_version=max(after) if after else None,
        target=(max(after).text if after else "0"),
        steps=(step,),
        options=options,
        verify={x.version.text: x.checksum for x in migrations},
    )
    return run_plan(connect, plan, on_progress, resume_dirty=True)
