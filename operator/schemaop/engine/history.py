"""The history schema in the target database: its layout, creation and reading.

Everything lives in one schema (``schemaop`` by default, configurable per plan as
``historySchema``), created idempotently by the runner under its advisory lock,
never by the operator, whose access is read-only: :func:`read_state` on a
database without the schema returns an empty state and creates nothing.

``<schema>.schema_history``: an append-only log, one row per step attempt.

================  ===========  ==================================================
column            type         meaning
================  ===========  ==================================================
id                bigint       identity; the log's order
version           text         migration version, e.g. ``10.1``
description       text         migration description
direction         text         ``up`` (applied) or ``down`` (reverted)
checksum          text         sha256 of the migration (up, down, transactional)
status            text         ``applied``: the step committed;
                               ``failed``: the step failed and left nothing
                               (written after the rollback);
                               ``pending``: a non-transactional step started and
                               has not finished (the database is dirty);
                               ``repaired``: a pending row resolved by
                               ``schemaop repair --retry`` (a new row follows)
applied_at        timestamptz  when the step started
duration_ms       bigint       how long it took (null while pending)
applied_by        text         database user that ran it
plan_hash         text         hash of the plan it was part of (null for the CLI
                               without a plan file: the hash of the computed plan)
fingerprint       text         schema fingerprint after the step; recorded on the
                               last step of a plan (and on a failure row), null on
                               the others (computing it per step costs time)
error             jsonb        on failure: sqlstate, message, statement, position
transactional     boolean      whether the step ran in one transaction
statements_done   integer      non-transactional steps: statements completed, so
                               ``repair --retry`` resumes after them
down_sql          text         ``up`` rows: the migration's down SQL when it was
                               applied (null: it had none, or nothing recorded)
down_checksum     text         ``up`` rows: sha256 of that down step alone (its
                               text and ``transactional``; see
                               :func:`~schemaop.model.migration.down_checksum`);
                               null: nothing recorded (rows written before
                               schemaop recorded downs, ``down`` rows)
down_batched      jsonb        ``up`` rows whose down runs batch by batch: its
                               batched settings (the plan file's form,
                               :meth:`~schemaop.model.migration.Batched.canonical`),
                               covered by ``down_checksum``; null: a plain down
================  ===========  ==================================================

The recorded down runs with the row's ``transactional`` flag (a migration has one
flag for both directions), and batch by batch when ``down_batched`` is set. A
rollback uses it when the migration is gone (:mod:`schemaop.planner`, rule 4).
Tables made before these columns existed are upgraded by the runner under its
lock (:data:`ADDED_COLUMNS`); readers treat a column not there yet as null.

The applied set is derived from the log (see :mod:`schemaop.model.history`).

``<schema>.snapshots``: rollback points taken before a plan runs.

================  ===========  ==================================================
id                bigint       identity
taken_at          timestamptz  when
kind              text         ``Schema`` (stored here) or ``Full`` (a file)
version           text         the applied version when it was taken
fingerprint       text         the schema fingerprint when it was taken
plan_hash         text         the plan it was taken for
schemas           text[]       the schemas it covers
format            text         ``pg_dump-schema-only+gzip`` or ``pg_dump-custom``
location          text         Full: the dump file's path; Schema: null
size_bytes        bigint       stored (compressed) size
content           bytea        Schema: gzip of the pg_dump --schema-only output
================  ===========  ==================================================
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import psycopg
from psycopg import sql

from schemaop.model.history import DatabaseState, HistoryEntry, HistoryStatus, derive_state
from schemaop.model.plan import PlanStep
from schemaop.model.version import InvalidVersion, Version

HISTORY_TABLE = "schema_history"
SNAPSHOTS_TABLE = "snapshots"
BATCHES_TABLE = "schemaop_batches"

Conn = psycopg.Connection[Any]

_DDL = (
    """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.schema_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version text NOT NULL,
    description text NOT NULL DEFAULT '',
    direction text NOT NULL CHECK (direction IN ('up', 'down')),
    checksum text NOT NULL,
    status text NOT NULL CHECK (status IN ('applied', 'failed', 'pending', 'repaired')),
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms bigint,
    applied_by text NOT NULL DEFAULT current_user,
    plan_hash text,
    fingerprint text,
    error jsonb,
    transactional boolean NOT NULL DEFAULT true,
    statements_done integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE {schema}.schema_history IS
    'schemaop migration history (append-only); see docs/engine.md';
CREATE TABLE IF NOT EXISTS {schema}.snapshots (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind text NOT NULL CHECK (kind IN ('Schema', 'Full')),
    version text,
    fingerprint text,
    plan_hash text,
    schemas text[] NOT NULL DEFAULT '{{}}',
    format text NOT NULL,
    location text,
    size_bytes bigint,
    content bytea
);
COMMENT ON TABLE {schema}.snapshots IS 'schemaop rollback points; see docs/engine.md';
"""
    + """
CREATE TABLE IF NOT EXISTS {schema}.schemaop_batches (
    version text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('up', 'down')),
    plan_hash text,
    checksum text,
    position jsonb,
    rows_done bigint NOT NULL DEFAULT 0,
    batches_done bigint NOT NULL DEFAULT 0,
    rows_total_estimate bigint,
    batch_size integer NOT NULL,
    rows_per_second double precision,
    throttle_reason text,
    failed_attempts integer NOT NULL DEFAULT 0,
    last_error jsonb,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at timestamptz,
    PRIMARY KEY (version, direction)
);
COMMENT ON TABLE {schema}.schemaop_batches IS
    'schemaop batched data migrations: progress; see docs/data-migrations.md';
"""
)
# The progress table's DDL (the end of _DDL), for histories made before it existed.
_BATCHES_DDL = _DDL[_DDL.index("CREATE TABLE IF NOT EXISTS {schema}.schemaop_batches") :]

# The history table's columns, in table order: the one list every read, insert and
# restore of a row is written from (:func:`_entry` unpacks a row in this order).
COLUMNS = (
    "id", "version", "description", "direction", "checksum", "status", "applied_at",
    "duration_ms", "applied_by", "plan_hash", "fingerprint", "error", "transactional",
    "statements_done", "down_sql", "down_checksum", "down_batched",
)  # fmt: skip

# Columns added after the first release of the history table, with their types: a
# new table gets them, an older one is upgraded by :func:`ensure_history` (ADD COLUMN
# IF NOT EXISTS, under the runner's lock), and reads take a missing one as null.
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    # The down step recorded with an up row (a rollback uses it when the migration is
    # gone), with the settings of a batched down (covered by the down checksum).
    ("down_sql", "text"),
    ("down_checksum", "text"),
    ("down_batched", "jsonb"),
)

# The first column of what a runner's row insert returns (:func:`step_row_insert`): it
# marks the row among the results of a batch (:mod:`schemaop.engine.batchcursor`).
STEP_MARK_COLUMN = "schemaop_step"


def row_insert(
    schema: str,
    values: Mapping[str, sql.Composable],
    *,
    overriding: bool = False,
    tail: str = "",
) -> sql.Composed:
    """``INSERT INTO <schema>.schema_history (<columns>) VALUES (<values>)<tail>``.

    ``values`` maps column names (of :data:`COLUMNS`) to their SQL; they are written
    in table order, the columns left out take their defaults. ``overriding``: the
    row keeps its own ``id`` (OVERRIDING SYSTEM VALUE).
    """
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise ValueError(f"not history columns: {sorted(unknown)}")
    names = [c for c in COLUMNS if c in values]
    return sql.SQL("INSERT INTO {table} ({cols}){overriding} VALUES ({vals}){tail}").format(
        table=sql.Identifier(schema, HISTORY_TABLE),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in names),
        overriding=sql.SQL(" OVERRIDING SYSTEM VALUE" if overriding else ""),
        vals=sql.SQL(", ").join(values[c] for c in names),
        tail=sql.SQL(tail),
    )


def step_row_insert(schema: str, values: Mapping[str, sql.Composable]) -> sql.Composed:
    """A runner's row insert (:func:`row_insert`), returning ``schemaop_step, duration_ms,
    fingerprint, id, version, direction`` (what :class:`~schemaop.engine.batchcursor.Mark`
    reads)."""
    return row_insert(
        schema,
        values,
        tail=f" RETURNING 'step' AS {STEP_MARK_COLUMN}, duration_ms::text, fingerprint, id,"
        " version, direction",
    )


def history_exists(conn: Conn, schema: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname IN ('schema_history', 'snapshots')"
        " AND c.relkind IN ('r', 'p')",
        (schema,),
    ).fetchone()
    return bool(row and row[0] == 2)


def ensure_history(conn: Conn, schema: str) -> bool:
    """Create the history schema and tables when missing, and add the columns of
    :data:`ADDED_COLUMNS` an older table lacks; True when it created the tables.

    Call it holding the runner's advisory lock (two runners creating at once
    would race on the catalogs). An up-to-date table costs one catalog read and
    takes no table lock (ALTER TABLE would, even when the column exists).
    """
    if history_exists(conn, schema):
        missing = [c for c, _ in ADDED_COLUMNS if c not in history_columns(conn, schema)]
        if missing:
            with conn.transaction():
                conn.execute(_add_columns(schema, missing))
        return False
    with conn.transaction():
        conn.execute(sql.SQL(_DDL).format(schema=sql.Identifier(schema)))
        conn.execute(_add_columns(schema, [c for c, _ in ADDED_COLUMNS]))
    return True


def history_columns(conn: Conn, schema: str) -> frozenset[str]:
    """The columns the history table has (empty when it does not exist)."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_catalog.pg_attribute a"
        " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (schema, HISTORY_TABLE),
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


def _add_columns(schema: str, names: Sequence[str]) -> sql.Composed:
    types = dict(ADDED_COLUMNS)
    return sql.SQL("ALTER TABLE {table} {adds}").format(
        table=sql.Identifier(schema, HISTORY_TABLE),
        adds=sql.SQL(", ").join(
            sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(name), sql.SQL(types[name])
            )
            for name in names
        ),
    )


def _batches_exist(conn: Conn, schema: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, BATCHES_TABLE),
    ).fetchone()
    return row is not None


def up_progress_versions(conn: Conn, schema: str, versions: Iterable[str]) -> frozenset[str]:
    """Which of ``versions`` have an ``up`` progress row (a batched step applied them).

    A down step of such a version deletes that row with its history row, whatever
    the plan knows of the migration: a plain down run from the SQL recorded at
    apply time carries no batched settings, and the history and the progress
    table must agree once it is reverted."""
    wanted = sorted(set(versions))
    if not wanted or not _batches_exist(conn, schema):
        return frozenset()
    rows = conn.execute(
        sql.SQL("SELECT version FROM {} WHERE direction = 'up' AND version = ANY(%s)").format(
            sql.Identifier(schema, BATCHES_TABLE)
        ),
        (wanted,),
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


def ensure_batches(conn: Conn, schema: str) -> None:
    """Create the batched migrations' progress table when missing (history made before it)."""
    if not _batches_exist(conn, schema):
        with conn.transaction():
            conn.execute(sql.SQL(_BATCHES_DDL).format(schema=sql.Identifier(schema)))


def restore_history(
    conn: Conn,
    schema: str,
    entries: Sequence[HistoryEntry],
    *,
    done: Sequence[tuple[PlanStep, str]],
    pending: tuple[PlanStep, str, int, str],
) -> bool:
    """Write the history back after a migration dropped or emptied it; True when done.

    ``entries``: the rows as the runner read them under its lock (kept with their
    ids); ``done``: (step, plan hash) for the steps the run finished since, as
    ``applied``; ``pending``: (step, plan hash, statements done, message) for the
    step that did it, as ``pending``, so the database is dirty and every run
    refuses until a person looks. Creates the schema and tables when missing.
    Snapshots are not restored. Call it holding the runner's lock, in autocommit.
    """
    table = sql.Identifier(schema, HISTORY_TABLE)
    placeholders: dict[str, sql.Composable] = {c: sql.Placeholder() for c in COLUMNS}
    placeholders["applied_at"] = sql.SQL("coalesce(%s, now())")
    placeholders["applied_by"] = sql.SQL("coalesce(%s, current_user)")
    insert = row_insert(schema, placeholders, overriding=True, tail=" ON CONFLICT (id) DO NOTHING")
    rows: list[tuple[Any, ...]] = [
        (e.id, e.version.text, e.description, e.direction, e.checksum, e.status, e.applied_at,
         e.duration_ms, e.applied_by, e.plan_hash, e.fingerprint,
         None if e.error is None else json.dumps(e.error), e.transactional, e.statements_done,
         e.down_sql, e.down_checksum, e.down_batched)
        for e in entries
    ]  # fmt: skip
    next_id = max((e.id for e in entries), default=0) + 1
    restored = json.dumps({"restored": "the history was dropped by a migration"})
    for step, plan_hash in done:
        rows.append(
            (next_id, step.version.text, step.description, step.direction, step.checksum,
             "applied", None, None, None, plan_hash, None, restored, step.transactional, 0,
             *recorded_down(step))
        )  # fmt: skip
        next_id += 1
    step, plan_hash, statements_done, message = pending
    rows.append(
        (next_id, step.version.text, step.description, step.direction, step.checksum,
         "pending", None, None, None, plan_hash, None, json.dumps({"message": message}),
         step.transactional, statements_done, *recorded_down(step))
    )  # fmt: skip
    with conn.transaction():
        conn.execute(sql.SQL(_DDL).format(schema=sql.Identifier(schema)))
        conn.execute(_add_columns(schema, [c for c, _ in ADDED_COLUMNS]))
        with conn.cursor() as cur:
            cur.executemany(insert, rows)
        conn.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN id RESTART WITH {}").format(
                table, sql.Literal(next_id + 1)
            )
        )
    return True


def recorded_down(step: PlanStep) -> tuple[str | None, str | None, str | None]:
    """``(down_sql, down_checksum, down_batched)`` of the history row of ``step``: what
    an ``up`` step records of its migration's down step (nothing for a down step);
    ``down_batched`` is the batched settings' JSON when its down runs batch by batch."""
    if step.direction != "up" or step.down_checksum is None:
        return None, None, None
    batched = step.down_batched
    return step.down, step.down_checksum, None if batched is None else batched.canonical()


def read_history(conn: Conn, schema: str) -> list[HistoryEntry]:
    """Every row, oldest first; a column of :data:`ADDED_COLUMNS` the table does not
    have yet (not upgraded: the operator's reads never change it) reads as null."""
    have = history_columns(conn, schema)
    query = sql.SQL("SELECT {cols} FROM {table} ORDER BY id").format(
        cols=sql.SQL(", ").join(
            sql.Identifier(c) if c in have else sql.SQL("NULL") for c in COLUMNS
        ),
        table=sql.Identifier(schema, HISTORY_TABLE),
    )
    return [_entry(r) for r in conn.execute(query).fetchall()]


def read_state(conn: Conn, history_schema: str = "schemaop", recent: int = 20) -> DatabaseState:
    """The database's applied migrations, dirtiness and last fingerprint. Read-only.

    A database where the history schema does not exist yet gives an empty state;
    nothing is created.
    """
    if not history_exists(conn, history_schema):
        return DatabaseState()
    return derive_state(read_history(conn, history_schema), recent=recent)


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    (id_, version, description, direction, checksum, status, applied_at, duration_ms,
     applied_by, plan_hash, fingerprint, error, transactional, statements_done, down_sql,
     down_checksum, down_batched) = row  # fmt: skip
    try:
        v = Version(version)
    except InvalidVersion as exc:
        raise ValueError(f"history row {id_} has an invalid version {version!r}") from exc
    if isinstance(error, str):
        error = json.loads(error)
    return HistoryEntry(
        id=int(id_),
        version=v,
        description=str(description),
        direction="down" if direction == "down" else "up",
        checksum=str(checksum),
        status=cast(HistoryStatus, status),
        applied_at=cast(dt.datetime | None, applied_at),
        duration_ms=None if duration_ms is None else int(duration_ms),
        applied_by=str(applied_by),
        plan_hash=plan_hash,
        fingerprint=fingerprint,
        error=error,
        transactional=bool(transactional),
        statements_done=int(statements_done),
        down_sql=down_sql,
        down_checksum=down_checksum,
        down_batched=None if down_batched is None else _json_text(down_batched),
    )


def _json_text(value: Any) -> str:
    """A jsonb value as read (decoded by psycopg) as JSON text; the checksum covers the
    settings it holds (:class:`~schemaop.model.history.RecordedDown`), not this text."""
    return value if isinstance(value, str) else json.dumps(value)
