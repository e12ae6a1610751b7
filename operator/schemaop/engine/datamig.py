"""Batched data migrations: one step run batch by batch, each batch its own transaction.

Called by the runner (:func:`schemaop.engine.runner._run_locked`) for a step whose
``batched`` settings say it runs in batches (an up, or a down with ``down``); a
plain down of a batched migration runs as any transactional step and resets the
progress in its transaction (:func:`progress_reset`). See docs/data-migrations.md.

Every batch is one short transaction, as the runner (its lock_timeout, and a
statement_timeout: the plan's, else :func:`batch_statement_timeout_ms`)::

    BEGIN; SET LOCAL lock_timeout ...; SET LOCAL statement_timeout ...;
    <probe: the batch's first and last key after the position, key order, LIMIT/OFFSET>
    <the batch SQL, its :lo_/:hi_ placeholders sent as parameters $1..$n>
    UPDATE <history schema>.schemaop_batches SET position = <last key>, rows_done = ...
        WHERE ... AND <the runner still holds its advisory lock>
    COMMIT

so a batch and its progress commit together or not at all: a kill -9 at any
point resumes from ``position`` with every batch applied exactly once. When the
probe finds no key after the position the step is complete: its history row and
the progress row's ``completed_at`` commit in one transaction (a down also
deletes the up's progress row), so the step is reported applied exactly once.

The batch size starts at ``initialBatchSize`` and is multiplied after every batch
by target/elapsed, bounded to [1/2, 2] per batch and to [min, max]. Throttling:
a batch that hits lock_timeout, statement_timeout, a deadlock or a serialization
failure is rolled back, the size halved, and tried again after a jittered
exponential backoff; any failing batch counts an attempt, and ``maxBatchAttempts``
consecutive failures stop the step with the batch's key range, SQLSTATE and
statement. Before a batch (at most once a second) the runner pauses while an
autovacuum worker processes the table (pg_stat_progress_vacuum) and while a
replica's replay lag exceeds :data:`REPLICATION_LAG_LIMIT_S` (pg_stat_replication).
The reason is written to the progress row (``throttle_reason``).

``stop()`` (SIGTERM in the CLI) is checked between batches: the batch in flight
commits, then the step ends with :class:`~schemaop.engine.errors.Stopped`.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from schemaop.engine import history as hist
from schemaop.engine.errors import EngineError, HistoryLost, MigrationFailed, Stopped, classify
from schemaop.model.migration import Batched, with_parameters
from schemaop.model.plan import PlanStep

if TYPE_CHECKING:
    from schemaop.engine.runner import StepResult, _Run

#: Pause while a replica replays more than this many seconds behind.
REPLICATION_LAG_LIMIT_S = 10.0
#: How often (seconds) the throttling conditions are checked, and how long a pause waits.
THROTTLE_CHECK_S = 1.0
#: Throttling errors: the batch is shrunk and tried again.
THROTTLE_STATES = {
    "55P03": "lock wait",
    "57014": "statement timeout",
    "40P01": "deadlock",
    "40001": "serialization failure",
}
_BACKOFF_BASE_S = 0.1
_BACKOFF_CAP_S = 10.0
#: Bounds of one batch size adjustment.
_SHRINK, _GROW = 0.5, 2.0


def batch_statement_timeout_ms(b: Batched, plan_ms: int | None) -> int:
    """The statement_timeout of a batch: the plan's, else 20x the target (at least 10s)."""
    return plan_ms if plan_ms is not None else max(20 * b.target_ms, 10_000)


def next_size(b: Batched, size: int, elapsed_s: float) -> int:
    """The next batch size after one of ``size`` took ``elapsed_s`` (toward the target)."""
    target_s = b.target_ms / 1000
    factor = _GROW if elapsed_s <= 0 else min(_GROW, max(_SHRINK, target_s / elapsed_s))
    if 0.9 <= factor <= 1.1:
        return size
    return max(b.min_size, min(b.max_size, int(size * factor)))


def backoff_s(attempt: int) -> float:
    """Jittered exponential backoff before try ``attempt + 1`` of a batch."""
    delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (attempt - 1))
    return float(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not cryptography


@dataclasses.dataclass
class Progress:
    """Where a batched step is (the progress row, as this run keeps it)."""

    position: list[str] | None = None
    rows_done: int = 0
    batches_done: int = 0
    rows_total_estimate: int | None = None
    batch_size: int = 0
    rows_per_second: float | None = None
    throttle_reason: str | None = None

    def to_summary(self) -> dict[str, Any]:
        """The ``batches`` object of the run summary's step."""
        return {
            "rowsDone": self.rows_done,
            "batchesDone": self.batches_done,
            "rowsTotalEstimate": self.rows_total_estimate,
            "batchSize": self.batch_size,
            "rowsPerSecond": None
            if self.rows_per_second is None
            else round(self.rows_per_second, 1),
            "throttleReason": self.throttle_reason,
        }


def progress_reset(run: _Run, step: PlanStep) -> sql.Composed:
    """``DELETE`` of a migration's up progress row: in a down's transaction."""
    return sql.SQL("DELETE FROM {} WHERE version = {} AND direction = 'up'").format(
        sql.Identifier(run.schema, hist.BATCHES_TABLE), sql.Literal(step.version.text)
    )


class _Step:
    """One batched step being run: its SQL pieces and its progress."""

    def __init__(self, run: _Run, step: PlanStep, sr: StepResult) -> None:
        assert step.batched is not None
        self.run, self.step, self.sr = run, step, sr
        self.b: Batched = step.batched
        self.conn = run.conn
        self.table = sql.Identifier(*self.b.table_parts)
        self.cols = [sql.Identifier(c) for c in self.b.columns]
        self.progress_table = sql.Identifier(run.schema, hist.BATCHES_TABLE)
        self.where_row = sql.SQL("version = {} AND direction = {}").format(
            sql.Literal(step.version.text), sql.Literal(step.direction)
        )
        # Placeholder names in parameter order ($1 ...), and the SQL with them replaced.
        self.order = sorted(self.b.placeholder_names())
        self.text = with_parameters(step.sql, self.order)
        self._statement: str | None = None
        self.progress = Progress(batch_size=self.b.initial_size)
        self.next_check = 0.0
        # The key range of the batch in flight (set by its probe), for error reports.
        self.bounds: tuple[list[str], list[str]] | None = None

    @property
    def statement(self) -> str:
        """The batch SQL's statement as written (for error reports; comments dropped)."""
        if self._statement is None:
            from schemaop.engine import sqltext

            found = sqltext.split(self.step.sql)
            self._statement = found[0].text if len(found) == 1 else self.step.sql.strip()
        return self._statement

    # --- SQL pieces -------------------------------------------------------------

    def _keys_text(self) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{}::text").format(c) for c in self.cols)

    def _order(self, desc: bool = False) -> sql.Composable:
        suffix = sql.SQL(" DESC" if desc else "")
        return sql.SQL(", ").join(sql.Composed([c, suffix]) for c in self.cols)

    def _after(self) -> sql.Composable:
        """``WHERE (k1, k2) > ($1, $2)`` from the position, or nothing before the first batch."""
        if self.progress.position is None:
            return sql.SQL("")
        n = len(self.cols)
        return sql.SQL(" WHERE ({}) > ({})").format(
            sql.SQL(", ").join(self.cols),
            sql.SQL(", ").join(sql.SQL(f"${i + 1}") for i in range(n)),
        )

    def probe(self) -> sql.Composed:
        """The batch's first key and its last (``size``-th from the position, else the max)."""
        pick = sql.SQL("SELECT ARRAY[{keys}] FROM {table}{after} ORDER BY {order}").format(
            keys=self._keys_text(), table=self.table, after=self._after(), order=self._order()
        )
        last = sql.SQL("SELECT ARRAY[{keys}] FROM {table}{after} ORDER BY {order}").format(
            keys=self._keys_text(),
            table=self.table,
            after=self._after(),
            order=self._order(desc=True),
        )
        offset = sql.Literal(max(self.progress.batch_size - 1, 0))
        return sql.SQL(
            "SELECT ({pick} LIMIT 1), coalesce(({pick} OFFSET {offset} LIMIT 1), ({last} LIMIT 1))"
        ).format(pick=pick, offset=offset, last=last)

    def settings(self) -> sql.Composed:
        opts = self.run.plan.options
        timeout = batch_statement_timeout_ms(self.b, opts.statement_timeout_ms)
        return sql.SQL("SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}").format(
            sql.Literal(f"{opts.lock_timeout_ms}ms"), sql.Literal(f"{timeout}ms")
        )

    # --- the progress row ---------------------------------------------------------

    def start(self) -> None:
        """Create the progress row, or resume from it (a completed one starts over)."""
        from schemaop.engine.runner import _reset_session

        _reset_session(self.run, with_timeouts=False)
        hist.ensure_batches(self.conn, self.run.schema)
        estimate = self._estimate()
        columns = sql.SQL(
            "position = NULL, rows_done = 0, batches_done = 0, rows_total_estimate = {est},"
            " batch_size = {size}, rows_per_second = NULL, throttle_reason = NULL,"
            " failed_attempts = 0, last_error = NULL, started_at = clock_timestamp(),"
            " updated_at = clock_timestamp(), completed_at = NULL"
        ).format(est=sql.Literal(estimate), size=sql.Literal(self.b.initial_size))
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "INSERT INTO {t} (version, direction, plan_hash, rows_total_estimate,"
                    " batch_size) VALUES ({v}, {d}, {h}, {est}, {size})"
                    " ON CONFLICT (version, direction) DO UPDATE SET {columns}"
                    " WHERE {t}.completed_at IS NOT NULL"
                ).format(
                    t=self.progress_table,
                    v=sql.Literal(self.step.version.text),
                    d=sql.Literal(self.step.direction),
                    h=sql.Literal(self.run.plan.hash),
                    est=sql.Literal(estimate),
                    size=sql.Literal(self.b.initial_size),
                    columns=columns,
                )
            )
            row = self.conn.execute(
                sql.SQL(
                    "UPDATE {t} SET plan_hash = {h}, rows_total_estimate ="
                    " coalesce(rows_total_estimate, {est}), updated_at = clock_timestamp()"
                    " WHERE {w} RETURNING position, rows_done, batches_done,"
                    " rows_total_estimate, batch_size"
                ).format(
                    t=self.progress_table,
                    h=sql.Literal(self.run.plan.hash),
                    est=sql.Literal(estimate),
                    w=self.where_row,
                )
            ).fetchone()
        assert row is not None
        position, rows, batches, total, size = row
        if position is not None:
            self.progress.position = [position[c] for c in self.b.columns]
        self.progress.rows_done, self.progress.batches_done = int(rows), int(batches)
        self.progress.rows_total_estimate = None if total is None else int(total)
        self.progress.batch_size = max(self.b.min_size, min(self.b.max_size, int(size)))
        if self.progress.position is not None:
            self.run.progress(
                "batch-resume",
                version=self.step.version.text,
                direction=self.step.direction,
                rowsDone=self.progress.rows_done,
                batchesDone=self.progress.batches_done,
            )

    def _estimate(self) -> int | None:
        """The table's row estimate (reltuples; a count when it was never analyzed)."""
        row = self.conn.execute(
            sql.SQL(
                "SELECT reltuples::bigint FROM pg_catalog.pg_class WHERE oid = {}::regclass"
            ).format(sql.Literal(self.table.as_string(self.conn)))
        ).fetchone()
        if row is not None and row[0] is not None and int(row[0]) >= 0:
            return int(row[0])
        counted = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table))
        got = counted.fetchone()
        return None if got is None else int(got[0])

    def check_key(self) -> None:
        """Refuse, before any batch, a key that is not a unique not-null key of the table."""
        row = self.conn.execute(
            sql.SQL(
                "SELECT"
                " (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.oid"
                "   AND a.attname = ANY({cols}) AND a.attnotnull AND NOT a.attisdropped),"
                " EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = r.oid"
                "   AND i.indisunique AND i.indisvalid AND i.indpred IS NULL"
                "   AND i.indexprs IS NULL AND (SELECT array_agg(a.attname::text)"
                "   FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.oid"
                "   AND a.attnum = ANY(i.indkey)) <@ {cols})"
                " FROM (SELECT {name}::regclass::oid AS oid) r"
            ).format(
                cols=sql.Literal(list(self.b.columns)),
                name=sql.Literal(self.table.as_string(self.conn)),
            )
        ).fetchone()
        assert row is not None
        notnull, unique = int(row[0]), bool(row[1])
        if notnull != len(self.b.columns) or not unique:
            raise MigrationFailed(
                f"batched.key ({', '.join(self.b.columns)}) of {self.b.table} is not a unique, "
                "not-null key: every key column must exist and be NOT NULL, and a unique "
                "index (or primary key) must cover those columns; no batch ran",
                version=self.step.version.text,
            )

    # --- one batch --------------------------------------------------------------

    def batch(self) -> tuple[list[str], list[str], int] | None:
        """Run the next batch in its own transaction; (lo, hi, rows) or None when done."""
        from schemaop.engine.runner import _lock_check

        conn, p = self.conn, self.progress
        self.bounds = None
        with conn.transaction():
            conn.execute(self.settings())
            raw = psycopg.RawCursor(conn)
            try:
                raw.execute(self.probe(), p.position)
                bounds = raw.fetchone()
                if bounds is None or bounds[0] is None:
                    return None
                lo, hi = [str(v) for v in bounds[0]], [str(v) for v in bounds[1]]
                self.bounds = (lo, hi)
                values = {f"lo_{c}": v for c, v in zip(self.b.columns, lo, strict=True)}
                values.update({f"hi_{c}": v for c, v in zip(self.b.columns, hi, strict=True)})
                raw.execute(self.text.encode(), [values[n] for n in self.order])
                rows = max(raw.rowcount, 0)
            finally:
                raw.close()
            position = dict(zip(self.b.columns, hi, strict=True))
            done = conn.execute(
                sql.SQL(
                    "UPDATE {t} SET position = {pos}::jsonb, rows_done = rows_done + {rows},"
                    " batches_done = batches_done + 1, batch_size = {size},"
                    " rows_per_second = {rate}, throttle_reason = NULL, failed_attempts = 0,"
                    " last_error = NULL, updated_at = clock_timestamp()"
                    " WHERE {w} AND completed_at IS NULL AND {lock} = 0 RETURNING 1"
                ).format(
                    t=self.progress_table,
                    pos=sql.Literal(json.dumps(position)),
                    rows=sql.Literal(rows),
                    size=sql.Literal(p.batch_size),
                    rate=sql.Literal(p.rows_per_second),
                    w=self.where_row,
                    lock=_lock_check(self.run.key),
                )
            ).fetchone()
            if done is None:
                raise HistoryLost(
                    f"the progress row of batched step {self.step.version} "
                    f"({self.run.schema}.{hist.BATCHES_TABLE}) is gone; the batch was rolled "
                    "back. A migration must not touch the history schema",
                    version=self.step.version.text,
                )
        return lo, hi, rows

    def keys(self, values: list[str] | None) -> dict[str, str] | None:
        return None if values is None else dict(zip(self.b.columns, values, strict=True))

    def describe_range(self) -> str:
        """``keys (id) 151 .. 200``, or the position the batch started after."""
        cols = ", ".join(self.b.columns)
        if self.bounds is not None:
            lo, hi = (", ".join(v) for v in self.bounds)
            return f"keys ({cols}) from ({lo}) to ({hi})"
        if self.progress.position is None:
            return f"keys ({cols}) from the first"
        return f"keys ({cols}) after ({', '.join(self.progress.position)})"

    def record_failure(self, err: EngineError, attempts: int) -> None:
        """Write the failure to the progress row (its own transaction, after the rollback)."""
        lo, hi = self.bounds if self.bounds is not None else (None, None)
        last_error = {
            "sqlstate": err.sqlstate,
            "message": err.message[:1000],
            "statement": (err.statement or "")[:1000],
            "lo": self.keys(lo),
            "hi": self.keys(hi),
        }
        with_reason = THROTTLE_STATES.get(err.sqlstate or "")
        self.progress.throttle_reason = with_reason
        try:
            with self.conn.transaction():
                self.conn.execute(
                    sql.SQL(
                        "UPDATE {t} SET failed_attempts = {n}, last_error = {e}::jsonb,"
                        " throttle_reason = {why}, batch_size = {size},"
                        " updated_at = clock_timestamp() WHERE {w}"
                    ).format(
                        t=self.progress_table,
                        n=sql.Literal(attempts),
                        e=sql.Literal(json.dumps(last_error)),
                        why=sql.Literal(with_reason),
                        size=sql.Literal(self.progress.batch_size),
                        w=self.where_row,
                    )
                )
        except psycopg.Error:
            pass  # the batch's own error is what matters

    def set_throttle(self, reason: str | None) -> None:
        if reason == self.progress.throttle_reason:
            return
        self.progress.throttle_reason = reason
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "UPDATE {t} SET throttle_reason = {why}, updated_at = clock_timestamp()"
                    " WHERE {w}"
                ).format(t=self.progress_table, why=sql.Literal(reason), w=self.where_row)
            )

    def throttled(self) -> str | None:
        """Why batches should wait now (autovacuum on the table, replication lag); None."""
        row = self.conn.execute(
            sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_vacuum v"
                " JOIN pg_catalog.pg_stat_activity a ON a.pid = v.pid"
                " WHERE v.relid = {name}::regclass AND a.backend_type = 'autovacuum worker'),"
                " (SELECT max(extract(epoch FROM replay_lag)) FROM"
                " pg_catalog.pg_stat_replication)"
            ).format(name=sql.Literal(self.table.as_string(self.conn)))
        ).fetchone()
        if row is None:
            return None
        if row[0]:
            return "autovacuum"
        if row[1] is not None and float(row[1]) > REPLICATION_LAG_LIMIT_S:
            return "replication lag"
        return None

    def complete(self, duration_ms: int, *, is_last: bool) -> None:
        """The step's history row and the progress row's completed_at, in one transaction."""
        from schemaop.engine.runner import _history_insert

        insert = _history_insert(
            self.run,
            self.step,
            status="applied",
            with_fingerprint=is_last,
            notify_version=self.run.final_version,
            duration_ms=duration_ms,
            check_lock=True,
        )
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "UPDATE {t} SET completed_at = clock_timestamp(), throttle_reason = NULL,"
                    " updated_at = clock_timestamp() WHERE {w}"
                ).format(t=self.progress_table, w=self.where_row)
            )
            if self.step.direction == "down":
                self.conn.execute(progress_reset(self.run, self.step))
            self.conn.execute("SET LOCAL search_path = pg_catalog, pg_temp")
            row = self.conn.execute(insert).fetchone()
        if is_last and row is not None and row[2]:
            self.run.result.fingerprint = str(row[2])

    def event(self, name: str, **fields: Any) -> None:
        self.run.progress(
            name,
            version=self.step.version.text,
            direction=self.step.direction,
            table=self.b.table,
            **self.progress.to_summary(),
            **fields,
        )


def run_step(run: _Run, step: PlanStep, sr: StepResult, *, is_last: bool) -> None:
    """Run a batched step to completion; raises EngineError (Stopped when asked to stop)."""
    s = _Step(run, step, sr)
    t0 = time.monotonic()
    s.check_key()
    s.start()
    sr.batches = s.progress
    b, p = s.b, s.progress
    attempts = 0
    while True:
        if run.stop():
            s.event("batch-stopped")
            raise Stopped(
                f"stopped on request after {p.batches_done} batch(es), {p.rows_done} row(s) "
                f"of {b.table}; progress is kept: a new run continues from there",
                version=step.version.text,
            )
        now = time.monotonic()
        if now >= s.next_check:
            s.next_check = now + THROTTLE_CHECK_S
            reason = s.throttled()
            if reason is not None:
                s.set_throttle(reason)
                s.event("batch-throttled", reason=reason)
                run.sleep(THROTTLE_CHECK_S)
                s.next_check = 0.0
                continue
            if p.throttle_reason in ("autovacuum", "replication lag"):
                s.set_throttle(None)
        started = time.monotonic()
        try:
            got = s.batch()
        except psycopg.Error as exc:
            from schemaop.engine.runner import _rollback_quietly

            _rollback_quietly(run.conn)
            err = classify(exc)
            err.statement = s.statement
            attempts += 1
            sr.attempts = max(sr.attempts, attempts)
            size = p.batch_size
            if err.sqlstate in THROTTLE_STATES:
                p.batch_size = max(b.min_size, p.batch_size // 2)
            s.record_failure(err, attempts)
            if attempts >= b.max_attempts:
                err.message = (
                    f"batch {p.batches_done + 1} of {b.table} ({s.describe_range()}, batch size "
                    f"{size}) failed {attempts} time(s): {err.message}; the "
                    f"{p.batches_done} batch(es) before it are committed and a new run "
                    "continues from there"
                )
                err.version = step.version.text
                raise err from exc
            delay = backoff_s(attempts)
            s.event(
                "batch-retry",
                attempt=attempts,
                sqlstate=err.sqlstate,
                delayMs=int(delay * 1000),
            )
            run.sleep(delay)
            continue
        except EngineError:
            from schemaop.engine.runner import _rollback_quietly

            _rollback_quietly(run.conn)
            raise
        if got is None:
            break
        elapsed = time.monotonic() - started
        lo, hi, rows = got
        attempts = 0
        p.position = hi
        p.rows_done += rows
        p.batches_done += 1
        p.throttle_reason = None
        rate = rows / elapsed if elapsed > 0 else None
        if rate is not None:
            p.rows_per_second = (
                rate if p.rows_per_second is None else 0.7 * p.rows_per_second + 0.3 * rate
            )
        s.event("batch-done", lo=lo, hi=hi, rows=rows, durationMs=int(elapsed * 1000))
        p.batch_size = next_size(b, p.batch_size, elapsed)
        if b.pause_ms:
            run.sleep(b.pause_ms / 1000)
    sr.duration_ms = int((time.monotonic() - t0) * 1000)
    s.complete(sr.duration_ms, is_last=is_last)
