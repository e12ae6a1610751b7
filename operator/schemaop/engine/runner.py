"""The runner: applies a plan to a database, exactly once, lock-safe, and reports.

:func:`run_plan` is what ``schemaop job run`` and ``schemaop migrate`` call. In order:

0. refuse a step whose SQL cannot run exactly as written
   (:func:`schemaop.model.migration.text_problem`: NUL, not UTF-8, ending inside a
   comment or quoted text, COPY FROM STDIN), before connecting;
1. connect and set the runner's session (``client_encoding`` UTF8,
   ``application_name`` = ``schemaop-runner <plan short hash>``,
   ``standard_conforming_strings`` on, and ``client_connection_check_interval`` = 1s
   so a killed runner's backend stops);
2. take the session advisory lock (:mod:`schemaop.engine.lock`), bounded wait,
   twice (so each step can check it still holds it without letting go);
3. create the history schema if missing (:mod:`schemaop.engine.history`);
4. re-read the history under the lock and verify it against the plan: not
   dirty, applied checksums equal to the plan's ``verify`` map, no unknown
   applied version (unless ``allowMissing``). Steps another runner already did
   are skipped (an ``up`` already applied with the same checksum, a ``down``
   already reverted), so two runners of one plan apply each step exactly once;
5. take the snapshot the policy asks for;
6. run the steps, in order:

   - a transactional step is ``BEGIN; SET LOCAL lock_timeout ...; <migration>;
     <back to the runner's session: SET SESSION AUTHORIZATION DEFAULT, RESET ALL,
     its settings>; <history insert>; COMMIT``: the step and its history row
     commit together or not at all, the row is written as the runner, no session
     change of the step reaches the next one, and the insert fails (rolling the
     step back) if the step released the lock. Every step counted done must
     have returned its own history row (else :class:`NotRecorded`). Consecutive
     transactional steps are sent as one simple-protocol query string (up to 200
     steps or 2 MB), each still its own transaction: the server stops at the
     first error, so the steps before it are committed and the rest never
     started; :class:`~schemaop.engine.batchcursor.CountingCursor` tells which.
     This makes a run of small migrations one round trip per batch instead of
     three per migration.
     The history insert is a prepared statement of the session
     (``PREPARE schemaop_applied``), planned once per run;
     On the last step the insert also computes the schema fingerprint and sends
     ``NOTIFY schemaop_schema_changed`` in the same transaction (the fingerprint
     is recorded on the last step of a run only: computing it per step would
     double the cost of small migrations);
   - a non-transactional step runs statement by statement in autocommit
     (statements split with pglast), after a ``pending`` history row is
     committed; the row counts statements done and becomes ``applied`` at the
     end. Until then the database is dirty and refuses runs; ``schemaop repair``
     resumes (``--retry``, from the first statement not done) or accepts it
     (``--mark-applied``). After each statement the runner takes back a lock the
     statement released, sets its timeouts again after a RESET, and writes the
     count as itself; a statement that dropped the history gets it written back
     from the copy read under the lock, this step pending (:class:`HistoryLost`);
   - a statement that hits ``lock_timeout`` (55P03), a deadlock or a
     serialization failure is retried: the whole transactional step, or the
     one statement of a non-transactional step, up to ``retries`` tries with
     jittered exponential backoff;
   - a failed transactional step is rolled back and a ``failed`` history row
     (with the error) is written after the rollback, outside it;
   - a transactional step with its own BEGIN/COMMIT is refused before anything
     runs (it would commit without its history row), and so is one that RESETs
     the runner's lock_timeout/statement_timeout;
   - what the server answered is kept per step and statement, only read, never
     by sending anything more: command tags and rows, notices, retried tries and
     their lock waits, the failed statement (:mod:`schemaop.engine.runstats`);

7. release the lock, close, and return a :class:`RunResult`.

``run_plan`` never raises for database trouble: the result carries the error
(an :class:`~schemaop.engine.errors.EngineError`), so the caller can always print
and store a summary.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import json
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg import sql

from schemaop.engine import history as hist
from schemaop.engine import lock as advisory
from schemaop.engine import runstats, verify
from schemaop.engine import snapshot as snap
from schemaop.engine.batchcursor import NO_MARK, CountingCursor, Mark, Tag
from schemaop.engine.errors import (
    EngineError,
    HistoryLost,
    LockLost,
    LockTimeout,
    NotRecorded,
    Refused,
    Stopped,
    classify,
)
from schemaop.engine.fingerprint import fingerprint, fingerprint_query
from schemaop.engine.pooling import require_session
from schemaop.model.conditions import Reason
from schemaop.model.history import HistoryEntry, derive_state
from schemaop.model.migration import down_checksum, text_problem
from schemaop.model.names import NOTIFY_CHANNEL
from schemaop.model.plan import Plan, PlanStep
from schemaop.model.run import (
    MAX_NOTICES,
    TERMINATION_LIMIT,
    Notice,
    RunSummary,
    StatementSummary,
    StepSummary,
    bounded_statements,
    bounded_steps,
)
from schemaop.model.version import Version

Conn = psycopg.Connection[Any]
ConnFactory = Callable[[], Conn]
ProgressFn = Callable[[dict[str, Any]], None]

_RETRY_BASE_S = 0.1
_RETRY_CAP_S = 5.0


@dataclasses.dataclass
class StepResult:
    version: str
    description: str
    direction: str
    transactional: bool
    status: str = "pending"  # applied | skipped | failed | pending (not reached)
    duration_ms: int = 0
    attempts: int = 0
    # ``recorded``: a down step run with the down SQL recorded at apply time.
    source: str = "migration"
    # A batched step's progress (:class:`schemaop.engine.datamig.Progress`), once started.
    batches: Any = None
    # Per statement, as the server answered the last try (None: not known).
    statements: list[StatementSummary] | None = None
    # Tries that ended on a retryable error (lock timeout, deadlock, serialization).
    waits: runstats.Waits = dataclasses.field(default_factory=runstats.Waits)
    # Notices not told apart per statement (a transactional step is one query).
    notices: list[Notice] = dataclasses.field(default_factory=list)
    # The notices are those of this step and the next ``notices_batch - 1`` steps.
    notices_batch: int = 1

    def summary(self) -> StepSummary:
        statements, omitted = (
            bounded_statements(self.waits.merge(self.statements))
            if self.statements is not None
            else (None, 0)
        )
        return StepSummary(
            version=self.version,
            description=self.description,
            direction=self.direction,
            transactional=self.transactional,
            status=self.status,
            duration_ms=self.duration_ms,
            attempts=self.attempts,
            source=self.source,
            batches=None if self.batches is None else self.batches.to_summary(),
            statements=statements,
            statements_omitted=omitted,
            retries=self.waits.retries,
            lock_waits=self.waits.lock_waits,
            lock_wait_ms=self.waits.lock_wait_ms,
            notices=tuple(self.notices[:MAX_NOTICES]),
            notices_batch=self.notices_batch if self.notices else 1,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.summary().to_dict()


@dataclasses.dataclass
class RunResult:
    """The JSON summary of a run; ``ok`` false means ``error`` says why."""

    plan_hash: str
    from_version: str | None
    to_version: str | None
    target: str
    steps: list[StepResult] = dataclasses.field(default_factory=list)
    snapshots: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rollback_points: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    fingerprint: str | None = None
    current_version: str | None = None
    error: EngineError | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def applied_count(self) -> int:
        return sum(1 for s in self.steps if s.status == "applied")

    def summary(self) -> RunSummary:
        """The typed summary the Job reports and the operator reads back."""
        return RunSummary(
            ok=self.ok,
            plan_hash=self.plan_hash,
            from_version=self.from_version,
            to_version=self.to_version,
            target=self.target,
            current_version=self.current_version,
            applied=self.applied_count,
            skipped=sum(1 for s in self.steps if s.status == "skipped"),
            steps=bounded_steps(tuple(s.summary() for s in self.steps))[0],
            snapshots=tuple(self.snapshots),
            rollback_points=tuple(self.rollback_points),
            fingerprint=self.fingerprint,
            duration_ms=self.duration_ms,
            error=self.error.summary() if self.error else None,
        )

    def to_dict(self, *, clip: int | None = None, steps: bool = True) -> dict[str, Any]:
        return self.summary().to_dict(clip=clip, steps=steps)

    def to_json(self) -> str:
        return self.summary().to_json()

    def termination_message(self, limit: int = TERMINATION_LIMIT) -> str:
        """A compact JSON summary under ``limit`` bytes (Kubernetes keeps 4096)."""
        return self.summary().termination_message(limit)


@dataclasses.dataclass
class _Run:
    conn: Conn
    plan: Plan
    on_progress: ProgressFn
    result: RunResult
    applied: _Applied
    sleep: Callable[[float], None] = time.sleep
    # Asked to stop (SIGTERM): checked between steps and between the batches of a step.
    stop: Callable[[], bool] = lambda: False
    # The current version once every step is done (the last step's NOTIFY payload).
    final_version: str | None = None
    changed: bool = False
    # The history's last id when the run started: rows above it are this run's.
    baseline_id: int = 0
    # The advisory lock key (held twice by the run).
    key: int = 0
    # The runner's session settings (SET statements), applied again after RESET ALL.
    session: list[sql.Composable] = dataclasses.field(default_factory=list)
    # The history as read under the lock at the start (restored if a step drops it).
    entries: list[HistoryEntry] = dataclasses.field(default_factory=list)
    # The notices the server sent (the connection's notice handler).
    notices: runstats.NoticeLog = dataclasses.field(default_factory=runstats.NoticeLog)
    # How many statements :meth:`closing` sends (results between a step and its row).
    closing_statements: int = 0
    # Versions the plan reverts that have an up progress row (hist.up_progress_versions).
    up_progress: frozenset[str] = frozenset()
    _prepared: bool = False
    _closing: str | None = None

    def applied_row(self, step: PlanStep) -> str:
        """``; EXECUTE schemaop_applied(...); COMMIT;``: a transactional step's history row.

        The insert is a prepared statement of the runner's session (see
        :meth:`prepare`): planning the same INSERT again for every step cost about
        a tenth of the server's time on a thousand small migrations. Only the
        step's own values are quoted per step.
        """
        quoted = sql.SQL(", ").join(
            [
                sql.Literal(step.version.text),
                sql.Literal(step.description),
                sql.Literal(step.direction),
                sql.Literal(step.checksum),
                *(sql.Literal(v) for v in hist.recorded_down(step)),
            ]
        )
        return (
            self.closing()
            + self.progress_reset(step)
            + "EXECUTE schemaop_applied("
            + quoted.as_string(self.conn)
            + ");\nCOMMIT;\n"
        )

    def closing(self) -> str:
        """What follows a transactional step's SQL, before its history insert, in its transaction.

        A step's session-level changes (``SET ROLE``, ``SET SESSION AUTHORIZATION``,
        ``set_config(..., false)`` as pg_dump writes it, ``RESET ALL``, ``SET
        default_transaction_read_only``) would commit with it and reach the next
        step. So, before its COMMIT, the session goes back to the connection's
        defaults (``RESET ALL``) plus the runner's settings, and the history row is
        written as the runner's user with the runner's search_path. (At the end,
        not at the start of the next step: a BEGIN already follows the defaults.)
        """
        if self._closing is None:
            parts = [
                sql.SQL("SET SESSION AUTHORIZATION DEFAULT"),
                sql.SQL("RESET ALL"),
                *self.session,
                sql.SQL("SET LOCAL search_path = pg_catalog, pg_temp"),
            ]
            body = sql.Composed([sql.Composed([p, sql.SQL(";\n")]) for p in parts])
            self._closing = "\n;\n" + body.as_string(self.conn)
            self.closing_statements = len(parts)
        return self._closing

    def progress_reset(self, step: PlanStep) -> str:
        """:meth:`progress_reset_sql` as text to send with the step ("" when none)."""
        reset = self.progress_reset_sql(step)
        return "" if reset is None else reset.as_string(self.conn) + ";\n"

    def progress_reset_sql(self, step: PlanStep) -> sql.Composed | None:
        """The down of a batched migration deletes its up progress (in its transaction):
        also a down run from its recorded SQL, which carries no batched settings."""
        if step.direction != "down" or (
            step.batched is None and step.version.text not in self.up_progress
        ):
            return None
        from schemaop.engine import datamig

        return datamig.progress_reset(self, step)

    def prepare(self) -> None:
        """PREPARE the applied-row insert once per connection (as ``_history_insert``).

        A non-transactional step may have run ``DISCARD ALL`` or ``DEALLOCATE``:
        after one, :func:`_non_transactional` clears ``_prepared`` and the statement
        is made again.
        """
        if self._prepared:
            return
        if self.conn.execute(
            "SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE name = 'schemaop_applied'"
        ).fetchone():
            self.conn.execute("DEALLOCATE schemaop_applied")
        insert = hist.step_row_insert(
            self.schema,
            {
                "version": sql.SQL("$1"),
                "description": sql.SQL("$2"),
                "direction": sql.SQL("$3"),
                "checksum": sql.SQL("$4"),
                "status": sql.Literal("applied"),
                "applied_at": sql.SQL("now()"),
                "duration_ms": _ELAPSED_MS,
                "plan_hash": sql.Literal(self.plan.hash),
                "fingerprint": sql.SQL("NULL"),
                "error": sql.SQL("NULL"),
                "transactional": sql.Literal(True),
                "statements_done": _lock_check(self.key),
                "down_sql": sql.SQL("$5"),
                "down_checksum": sql.SQL("$6"),
                "down_batched": sql.SQL("$7"),
            },
        )
        self.conn.execute(
            sql.SQL(
                "PREPARE schemaop_applied(text, text, text, text, text, text, jsonb) AS {}"
            ).format(insert)
        )
        self._prepared = True

    @property
    def schema(self) -> str:
        return self.plan.options.history_schema

    def progress(self, event: str, **fields: Any) -> None:
        # A progress printer must never break a run.
        with contextlib.suppress(Exception):
            self.on_progress({"event": event, **fields})


def _noop(_: dict[str, Any]) -> None:
    return None


# Around every history write of a non-transactional step: the row is written as the
# runner's user with the runner's search_path in a read-write transaction, whatever
# the step SET (all LOCAL, so the step's own settings come back for its next statement).
_AS_RUNNER = (
    "BEGIN READ WRITE ISOLATION LEVEL READ COMMITTED;\n"
    "SET LOCAL SESSION AUTHORIZATION DEFAULT;\n"
    "SET LOCAL search_path = pg_catalog, pg_temp;\n"
)


def _write_as_runner(run: _Run, statement: sql.Composable) -> tuple[Any, ...] | None:
    """Run one history write as the runner (:data:`_AS_RUNNER`), in one round trip.

    Returns the statement's first row, if it returns rows.
    """
    query = sql.SQL(_AS_RUNNER + "{};\nCOMMIT").format(statement)
    try:
        cur = run.conn.execute(query)
    except psycopg.Error:
        _rollback_quietly(run.conn)
        raise
    while cur.description is None:
        if not cur.nextset():
            return None
    row: tuple[Any, ...] | None = cur.fetchone()
    return row


_LOCK_LOST = "schemaop: the migration released the runner's advisory lock"


def _lock_check(key: int) -> sql.Composed:
    """An integer 0 while the runner holds its lock; an error (22P02) when it does not.

    The lock is held twice: unlocking once and taking it again never lets it go,
    and the unlock answers false when a step ran ``pg_advisory_unlock_all()``
    (or ``DISCARD ALL``). Put in the history insert, this makes a step that dropped
    the lock fail inside its own transaction, so it never commits unlocked. The
    error is an invalid integer input naming :data:`_LOCK_LOST`; :func:`_locate`
    turns it into :class:`LockLost`. (A CASE over a non-constant input, so the
    planner cannot evaluate the failing branch ahead of time.)
    """
    return sql.SQL(
        "(CASE WHEN NOT pg_catalog.pg_advisory_unlock({key}::bigint) THEN {lost}"
        " WHEN pg_catalog.pg_try_advisory_lock({key}::bigint) THEN '0' ELSE {lost} END"
        ")::integer"
    ).format(key=sql.Literal(key), lost=sql.Literal(_LOCK_LOST))


def _check_texts(plan: Plan) -> None:
    """Refuse, before connecting, a step whose SQL cannot run exactly as written.

    The same check as :class:`~schemaop.model.migration.MigrationSet`'s, for plans
    that did not come from a validated set (a plan file made elsewhere).
    """
    for step in plan.steps:
        problem = text_problem(step.sql)
        if problem is not None:
            problem = f"{step.direction} SQL {problem}"
        elif "\0" in step.description:
            problem = "the description contains a NUL character"
        elif step.down_checksum is not None and step.down_checksum != down_checksum(
            step.down, step.transactional, step.down_batched
        ):
            # What the step would record as its down must be what its checksum says.
            problem = "the down SQL to record does not match its checksum (downChecksum)"
        if problem is not None:
            raise Refused(Reason.INVALID_MIGRATION_SET, problem, version=step.version.text)


def run_plan(
    conn_factory: ConnFactory,
    plan: Plan,
    on_progress: ProgressFn | None = None,
    *,
    resume_dirty: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Apply ``plan``; see the module docstring. Never raises for database errors.

    ``resume_dirty`` (``schemaop repair --retry``): when the database is dirty
    because of the plan's first step, run that step's remaining statements
    instead of refusing. ``stop``: answers True once the run should stop (SIGTERM):
    the step or batch in flight finishes, nothing new starts, and the result's
    error is :class:`~schemaop.engine.errors.Stopped`.
    """
    started = time.monotonic()
    result = RunResult(
        plan_hash=plan.hash,
        from_version=plan.from_version.text if plan.from_version else None,
        to_version=plan.to_version.text if plan.to_version else None,
        target=plan.target,
        steps=[
            StepResult(s.version.text, s.description, s.direction, s.transactional, source=s.source)
            for s in plan.steps
        ],
    )
    conn: Conn | None = None
    key = advisory.lock_key(plan.options.history_schema)
    try:
        _check_texts(plan)
        conn = conn_factory()
        conn.autocommit = True
        # Before any session-level change: through a transaction pooler the lock and
        # the SETs below would stay on a pooled server connection other clients get.
        require_session(conn, "the migration's advisory lock and session settings")
        app = f"schemaop-runner {plan.short_hash}"
        session: list[sql.Composable] = [
            # The runner sends migrations as UTF-8; a database whose encoding is, say,
            # LATIN1 would otherwise read them in its own and store "Ã©" for "é".
            sql.SQL("SET client_encoding = 'UTF8'"),
            sql.SQL("SET application_name = {}").format(sql.Literal(app)),
            # The lexing the text check assumes (the default since PostgreSQL 9.1).
            sql.SQL("SET standard_conforming_strings = on"),
        ]
        if conn.info.server_version >= 140000:
            # A killed runner's backend notices within a second, even mid-statement,
            # and rolls back and drops the lock instead of running on for minutes.
            session.append(sql.SQL("SET client_connection_check_interval = '1s'"))
        conn.execute(sql.SQL("; ").join(session))
        advisory.acquire(conn, key, plan.options.lock_wait_ms / 1000)
        # Held twice, so that each step can check it still holds it (unlock one,
        # take it back) without ever letting go; see _lock_check.
        if not advisory.try_lock(conn, key):  # pragma: no cover - we hold it already
            raise LockLost("the runner's advisory lock could not be taken twice")
        run = _Run(conn, plan, on_progress or _noop, result, _Applied(()), sleep, key=key)
        run.session = session
        conn.add_notice_handler(run.notices)
        if stop is not None:
            run.stop = stop
        _run_locked(run, resume_dirty)
    except EngineError as exc:
        result.error = exc
    except psycopg.Error as exc:
        result.error = classify(exc)
    finally:
        if conn is not None:
            try:
                if not conn.closed and not conn.broken:
                    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        conn.rollback()
                    # Held twice (see above).
                    conn.execute(
                        "SELECT pg_catalog.pg_advisory_unlock(%(k)s),"
                        " pg_catalog.pg_advisory_unlock(%(k)s)",
                        {"k": key},
                    )
            except psycopg.Error:
                pass
            finally:
                conn.close()
        result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _run_locked(run: _Run, resume_dirty: bool) -> None:
    plan, conn = run.plan, run.conn
    if plan.steps:
        hist.ensure_history(conn, run.schema)
    entries = hist.read_history(conn, run.schema) if hist.history_exists(conn, run.schema) else []
    state = derive_state(entries, recent=0, history_exists=bool(plan.steps))
    run.baseline_id = max((e.id for e in entries), default=0)
    run.entries = entries
    run.applied = _Applied(a.version for a in state.applied)
    run.result.current_version = run.applied.current
    run.result.fingerprint = state.last_fingerprint
    resume = verify.check_history(plan, state, resume_dirty)
    todo: list[tuple[int, PlanStep]] = []
    for index, step, to_do in verify.steps_to_run(plan, state):
        if to_do:
            todo.append((index, step))
        else:
            run.result.steps[index].status = "skipped"  # another runner did it already
    _check_transaction_control(todo)
    if any(step.batched is not None for _, step in todo):
        hist.ensure_batches(conn, run.schema)
    run.up_progress = hist.up_progress_versions(
        conn, run.schema, (step.version.text for _, step in todo if step.direction == "down")
    )
    if not todo:
        run.progress("nothing-to-do", currentVersion=run.result.current_version)
        return

    if plan.options.snapshot != "None":
        run.progress("snapshot", policy=plan.options.snapshot)
        ref = snap.take(
            conn,
            policy=plan.options.snapshot,
            schemas=plan.options.schemas,
            history_schema=run.schema,
            version=run.result.current_version,
            fingerprint=fingerprint(conn, plan.options.schemas),
            plan_hash=plan.hash,
            snapshot_dir=plan.options.snapshot_dir,
        )
        if ref:
            run.result.snapshots.append(ref)

    final = _Applied(v for v in run.applied.versions)
    for _, step in todo:
        final.apply(step)
    run.final_version = final.current
    last = todo[-1][0]
    attempts: dict[int, int] = {}
    split: int | None = None
    i = 0
    while i < len(todo):
        index, step = todo[i]
        sr = run.result.steps[index]
        if run.stop():
            run.result.error = Stopped(
                f"stopped on request before step {step.version} ({step.direction}); "
                "a new run continues from there",
                version=step.version.text,
            )
            return
        run.progress(
            "step-start",
            index=index,
            total=len(plan.steps),
            version=step.version.text,
            direction=step.direction,
            description=step.description,
        )
        t0 = time.monotonic()
        if step.runs_batched:
            from schemaop.engine import datamig

            try:
                datamig.run_step(run, step, sr, is_last=index == last)
            except Stopped as exc:
                run.result.error = exc
                run.progress("stopped", version=step.version.text, message=exc.message)
                return
            except EngineError as exc:
                _failed(run, step, sr, exc, t0)
                return
            _done(run, index, step)
            i += 1
            continue
        if not step.transactional:
            try:
                pending = resume if resume is not None and i == 0 else None
                _non_transactional(run, step, sr, is_last=index == last, resume=pending)
            except EngineError as exc:
                _failed(run, step, sr, exc, t0)
                return
            sr.duration_ms = int((time.monotonic() - t0) * 1000)
            _done(run, index, step)
            i += 1
            continue

        # Consecutive transactional steps go in one round trip, each its own transaction.
        limit = split or BATCH_MAX_STEPS
        split = None
        j, chars = i, 0
        while (
            j < len(todo)
            and todo[j][1].transactional
            and not todo[j][1].runs_batched
            and j - i < limit
            and (j == i or chars + len(todo[j][1].sql) <= BATCH_MAX_CHARS)
        ):
            chars += len(todo[j][1].sql)
            j += 1
        batch = todo[i:j]
        outcome = _run_batch(run, batch, last)
        for k in range(outcome.done):
            b_index, b_step = batch[k]
            b_sr = run.result.steps[b_index]
            b_sr.attempts = attempts.get(b_index, 0) + 1
            mark = outcome.marks[k] if k < len(outcome.marks) else NO_MARK
            b_sr.duration_ms = int(mark.duration) if mark.duration else 0
            if b_index == last and mark.fingerprint:
                run.result.fingerprint = mark.fingerprint
            _done(run, b_index, b_step)
        _batch_stats(run, batch, outcome)
        i += outcome.done
        if outcome.split_at is not None:
            split = outcome.split_at
            continue
        if outcome.error is None:
            continue
        index, step = todo[i]
        sr = run.result.steps[index]
        attempts[index] = attempts.get(index, 0) + 1
        sr.attempts = attempts[index]
        if _retry(run, step, outcome.error, attempts[index]):
            sr.waits.add(outcome.error, outcome.failed_statement, outcome.failed_ms)
            continue
        _failed(run, step, sr, outcome.error, t0)
        return


def _batch_stats(run: _Run, batch: list[tuple[int, PlanStep]], outcome: _BatchOutcome) -> None:
    """Give the steps of a batch that ran their statements and notices (see runstats)."""
    ran = [run.result.steps[index] for index, _ in batch[: len(outcome.statements)]]
    for sr, statements in zip(ran, outcome.statements, strict=True):
        sr.statements = statements
    if outcome.notices and ran:
        # A step's notices, told apart per step only when the query ran one step.
        ran[0].notices = outcome.notices
        ran[0].notices_batch = len(ran)


def _done(run: _Run, index: int, step: PlanStep) -> None:
    sr = run.result.steps[index]
    sr.status = "applied"
    sr.attempts = max(sr.attempts, 1)
    run.changed = True
    run.applied.apply(step)
    run.result.current_version = run.applied.current
    run.result.rollback_points.extend(dict(a) for a in step.archives)
    run.progress(
        "step-done",
        index=index,
        total=len(run.plan.steps),
        version=step.version.text,
        direction=step.direction,
        durationMs=sr.duration_ms,
    )


def _failed(run: _Run, step: PlanStep, sr: StepResult, exc: EngineError, t0: float) -> None:
    sr.status = "failed"
    sr.duration_ms = int((time.monotonic() - t0) * 1000)
    if exc.version is None:
        exc.version = step.version.text
    run.result.error = exc
    run.progress("step-failed", version=step.version.text, error=str(exc))
    _after_failure(run, step, exc, sr, run.changed)


def _check_transaction_control(todo: list[tuple[int, PlanStep]]) -> None:
    """Refuse, before anything runs, a transactional step with its own BEGIN/COMMIT or
    a RESET of the runner's settings (:func:`schemaop.engine.sqltext.runner_conflict`)."""
    from schemaop.engine import sqltext

    for _, step in todo:
        if not step.transactional:
            continue
        found = sqltext.runner_conflict(step.sql)
        if found is not None:
            st, why = found
            raise Refused(
                Reason.INVALID_MIGRATION_SET,
                f"{step.direction} step of migration {step.version} contains {st.text!r}; {why}",
                version=step.version.text,
                statement=st.text,
                position=sqltext.position(step.sql, st.start),
            )


class _Applied:
    """The applied versions, kept sorted: the current version is the last (O(log n) updates)."""

    def __init__(self, versions: Iterable[Version]) -> None:
        self._sorted = sorted(set(versions))

    @property
    def versions(self) -> list[Version]:
        return list(self._sorted)

    @property
    def current(self) -> str | None:
        return self._sorted[-1].text if self._sorted else None

    def apply(self, step: PlanStep) -> None:
        i = bisect.bisect_left(self._sorted, step.version)
        present = i < len(self._sorted) and self._sorted[i] == step.version
        if step.direction == "up" and not present:
            self._sorted.insert(i, step.version)
        elif step.direction == "down" and present:
            del self._sorted[i]

    def current_after(self, step: PlanStep) -> str | None:
        """The current version once ``step`` is done, without changing anything."""
        if step.direction == "up":
            top = self._sorted[-1] if self._sorted else None
            return step.version.text if top is None or step.version > top else top.text
        rest = [v for v in self._sorted[-2:] if v != step.version]
        return rest[-1].text if rest else None


# --- transactional steps ---------------------------------------------------------


def _settings(run: _Run, local: bool) -> list[sql.Composed]:
    return list(_named_settings(run, local).values())


def _named_settings(run: _Run, local: bool) -> dict[str, sql.Composed]:
    """The runner's per-statement settings (names in ``sqltext.RUNNER_SETTINGS``)."""
    opts = run.plan.options
    verb = sql.SQL("SET LOCAL" if local else "SET")
    out = {
        "lock_timeout": sql.SQL("{} lock_timeout = {}").format(
            verb, sql.Literal(f"{opts.lock_timeout_ms}ms")
        )
    }
    if opts.statement_timeout_ms is not None:
        out["statement_timeout"] = sql.SQL("{} statement_timeout = {}").format(
            verb, sql.Literal(f"{opts.statement_timeout_ms}ms")
        )
    return out


# A transactional step's duration, measured by the server inside the step's transaction.
_ELAPSED_MS = sql.SQL("(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint")


def _history_insert(
    run: _Run,
    step: PlanStep,
    *,
    status: str,
    with_fingerprint: bool,
    error: dict[str, Any] | None = None,
    duration_ms: int | None = None,
    statements_done: int = 0,
    notify_version: str | None = None,
    check_lock: bool = False,
) -> sql.Composed:
    """INSERT of one history row, returning ``schemaop_step, duration_ms, fingerprint, id,
    version, direction``.

    With the fingerprint it also sends the NOTIFY (payload version
    ``notify_version``), all in one statement. ``check_lock``: fail unless the
    runner still holds its lock (:func:`_lock_check`).
    """
    done: sql.Composable = sql.Literal(statements_done)
    down_sql, down_sum, down_batched = hist.recorded_down(step)
    if check_lock:
        done = sql.SQL("{} + {}").format(_lock_check(run.key), done)
    insert = hist.step_row_insert(
        run.schema,
        {
            "version": sql.Literal(step.version.text),
            "description": sql.Literal(step.description),
            "direction": sql.Literal(step.direction),
            "checksum": sql.Literal(step.checksum),
            "status": sql.Literal(status),
            "applied_at": sql.SQL("now()"),
            "duration_ms": _ELAPSED_MS if duration_ms is None else sql.Literal(duration_ms),
            "plan_hash": sql.Literal(run.plan.hash),
            "fingerprint": sql.SQL("({})").format(fingerprint_query(run.plan.options.schemas))
            if with_fingerprint
            else sql.SQL("NULL"),
            "error": sql.SQL("NULL") if error is None else sql.Literal(json.dumps(error)),
            "transactional": sql.Literal(step.transactional),
            "statements_done": done,
            "down_sql": sql.Literal(down_sql),
            "down_checksum": sql.Literal(down_sum),
            "down_batched": sql.Literal(down_batched),
        },
    )
    if not with_fingerprint:
        return sql.Composed([insert])
    return sql.SQL(
        "WITH ins AS ({insert})"
        " SELECT {mark}, duration_ms, fingerprint, id, version, direction,"
        " pg_catalog.pg_notify({channel}, pg_catalog.json_build_object("
        "'version', {version}::text, 'fingerprint', fingerprint)::text) FROM ins"
    ).format(
        insert=insert,
        mark=sql.Identifier(hist.STEP_MARK_COLUMN),
        channel=sql.Literal(NOTIFY_CHANNEL),
        version=sql.Literal(notify_version),
    )


BATCH_MAX_STEPS = 200
BATCH_MAX_CHARS = 2_000_000


@dataclasses.dataclass
class _BatchOutcome:
    done: int
    marks: list[Mark]
    error: EngineError | None = None
    # Run only the first ``split_at`` steps next: a later one has a syntax error.
    split_at: int | None = None
    # Per step that ran (done, then the failed one): its statements (runstats).
    statements: list[list[StatementSummary] | None] = dataclasses.field(default_factory=list)
    # The failed statement's index in its step (0-based), and the time from the
    # failed step's start to the error (the batch's time less the steps done).
    failed_statement: int | None = None
    failed_ms: int = 0
    notices: list[Notice] = dataclasses.field(default_factory=list)


def _step_prefix(run: _Run) -> list[sql.Composable]:
    """What opens every transactional step (the session is the runner's: see _Run.closing)."""
    return [sql.SQL("BEGIN"), *_settings(run, local=True)]


def _run_batch(run: _Run, batch: list[tuple[int, PlanStep]], last: int) -> _BatchOutcome:
    """Send transactional steps as one query string, each in its own transaction.

    ``BEGIN; <settings>; <step>; <back to the runner's session>; <history insert>;
    COMMIT; BEGIN; ...``: the
    server commits each step with its history row and stops at the first error,
    so the steps before it are done and the rest did not start. A syntax error
    anywhere stops the string before anything runs (the server parses it whole
    first): then the steps before the bad one are sent again without it.

    What the server answered is checked against what was sent: every step done
    must have its own history row, in order, each followed by its COMMIT; a step
    without one is a :class:`NotRecorded` error, never applied.
    """
    conn = run.conn
    run.prepare()
    opening = _step_prefix(run)
    prefix = sql.Composed([sql.Composed([s, sql.SQL(";\n")]) for s in opening]).as_string(conn)
    n_prefix = len(opening)
    parts: list[str] = []
    offsets: list[int] = []
    pos = 0
    for index, step in batch:
        if index == last:
            suffix = sql.Composed(
                [
                    sql.SQL(run.closing()),
                    sql.SQL(run.progress_reset(step)),
                    _history_insert(
                        run,
                        step,
                        status="applied",
                        with_fingerprint=True,
                        notify_version=run.final_version,
                        check_lock=True,
                    ),
                    sql.SQL(";\nCOMMIT;\n"),
                ]
            ).as_string(conn)
        else:
            suffix = run.applied_row(step)
        offsets.append(pos + len(prefix))
        parts += [prefix, step.sql, suffix]
        pos += len(prefix) + len(step.sql) + len(suffix)
    query = "".join(parts)
    _ensure_lexing(conn)
    cur = CountingCursor(conn)
    run.notices.drain()  # the runner's own, before the batch
    t0 = time.monotonic()
    try:
        try:
            cur.execute(query.encode())
        finally:
            elapsed_ms = int((time.monotonic() - t0) * 1000)
    except psycopg.Error as exc:
        _rollback_quietly(conn)
        outcome = _batch_failed(
            run, batch, cur, exc, offsets=offsets, prefix=prefix, n_prefix=n_prefix
        )
        _observe(run, batch, cur, outcome, n_prefix=n_prefix, elapsed_ms=elapsed_ms)
        return outcome
    finally:
        cur.close()
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if not idle:
        _rollback_quietly(conn)  # a transaction left open by text that did not end as sent
    if cur.ok_results < 0:  # results unknown (see above): the history tells
        done = _committed_in_batch(run, batch)
        cur.marks = [NO_MARK] * done
        cur.commits = list(range(done))
        cur.tags = []
    else:
        done = _recorded(batch, cur)
    if done < len(batch) or not idle:
        return _not_recorded(batch, min(done, len(batch) - 1), cur)
    outcome = _BatchOutcome(len(batch), cur.marks)
    _observe(run, batch, cur, outcome, n_prefix=n_prefix, elapsed_ms=elapsed_ms)
    return outcome


def _batch_failed(
    run: _Run,
    batch: list[tuple[int, PlanStep]],
    cur: CountingCursor,
    exc: psycopg.Error,
    *,
    offsets: list[int],
    prefix: str,
    n_prefix: int,
) -> _BatchOutcome:
    """What a batch that raised did: the steps done before the error, and the error."""
    if cur.ok_results < 0:
        # Results unknown (psycopg changed its internals): ask the history how many
        # steps committed, then go on one step at a time.
        done = _committed_in_batch(run, batch)
        if done < len(batch) - 1:
            return _BatchOutcome(done, [NO_MARK] * done, split_at=1)
        err = _locate(exc, batch[done][1].sql, offsets[done])
        return _BatchOutcome(done, [NO_MARK] * done, error=err)
    done = _recorded(batch, cur)
    if done < len(cur.commits):
        return _not_recorded(batch, done, cur)
    if cur.ok_results == 0 and len(batch) > 1:
        k = _step_at(exc, offsets, len(prefix))
        if k is not None and k > 0:
            return _BatchOutcome(0, [], split_at=k)
    step = batch[done][1]
    start = cur.commits[-1] + 1 if cur.commits else 0
    err = _locate(
        exc,
        step.sql,
        offsets[done],
        stmt_index=cur.ok_results - start - n_prefix,
    )
    if (
        err.sqlstate in ("42P01", "3F000")
        and err.position is None
        and (hist.HISTORY_TABLE in err.message or run.schema in err.message)
    ):
        # The history insert after the step failed: the step dropped the history.
        err = HistoryLost(
            f"the step dropped or renamed schemaop's history ({err.message}) and was "
            "rolled back; a migration must not touch the history schema "
            f"{run.schema!r}",
            sqlstate=err.sqlstate,
        )
    return _BatchOutcome(done, cur.marks[:done], error=err)


def _observe(
    run: _Run,
    batch: list[tuple[int, PlanStep]],
    cur: CountingCursor,
    outcome: _BatchOutcome,
    *,
    n_prefix: int,
    elapsed_ms: int,
) -> None:
    """:func:`_observe_results`, best effort: the figures are an observation, never a
    reason to fail a run (text the parser refuses, e.g. an unterminated quote the
    server refused first, leaves the batch without per-statement figures)."""
    try:
        _observe_results(run, batch, cur, outcome, n_prefix=n_prefix, elapsed_ms=elapsed_ms)
    except Exception:  # observation only: the run's outcome stands
        del outcome.statements[:]
        outcome.failed_statement = None


def _observe_results(
    run: _Run,
    batch: list[tuple[int, PlanStep]],
    cur: CountingCursor,
    outcome: _BatchOutcome,
    *,
    n_prefix: int,
    elapsed_ms: int,
) -> None:
    """Fill ``outcome``'s per-statement figures from the batch's results (only reads).

    Step k's own results are those after its BEGIN and settings (``n_prefix``) and
    before the runner's closing statements and its history row (``mark_at[k]``);
    they must be as many as the statements of its text, else none are given.
    """
    from schemaop.engine import sqltext

    notices, _ = run.notices.drain()
    outcome.notices = notices
    if cur.ok_results < 0 or outcome.split_at is not None:
        return
    tags = cur.tags
    for k in range(outcome.done):
        step = batch[k][1]
        first = (cur.commits[k - 1] + 1 if k > 0 else 0) + n_prefix
        end = (
            cur.mark_at[k] - run.closing_statements - (1 if run.progress_reset(step) else 0)
            if k < len(cur.mark_at)
            else first - 1
        )
        outcome.statements.append(
            runstats.batch_statements(step.sql, tags[first:end]) if end >= first else None
        )
    err = outcome.error
    if err is None or outcome.done >= len(batch) or len(cur.commits) < outcome.done:
        return
    step = batch[outcome.done][1]
    first = (cur.commits[outcome.done - 1] + 1 if outcome.done > 0 else 0) + n_prefix
    ran = tags[first : cur.ok_results] if cur.ok_results >= first else []
    statements = sqltext.split(step.sql)
    done_ms = sum(int(m.duration or 0) for m in cur.marks[: outcome.done])
    outcome.failed_ms = max(0, elapsed_ms - done_ms)
    if len(ran) >= len(statements):  # the step's statements ran; what came after failed
        outcome.statements.append(runstats.batch_statements(step.sql, ran[: len(statements)]))
        return
    index = _statement_index(statements, err, len(ran))
    outcome.failed_statement = index
    outcome.statements.append(
        runstats.batch_statements(step.sql, ran, error=err, failed_index=index)
    )


def _statement_index(statements: list[Any], err: EngineError, ran: int) -> int:
    """Which statement of its step ``err`` is at: by its position, else the one after
    the last that ran."""
    if err.position is not None and err.position.offset is not None:
        offset = err.position.offset - 1  # 1-based
        for st in statements:
            if st.start <= offset < max(st.end, st.start + 1):
                return int(st.index)
    return ran


def _ensure_lexing(conn: Conn) -> None:
    """UTF-8 and standard_conforming_strings on, before sending migration text.

    The runner encodes migrations as UTF-8, and the text check
    (:func:`~schemaop.model.migration.text_problem`) lexes them with
    standard_conforming_strings on. The server converts and parses a query string
    whole as it receives it, before any statement in it runs, so a step's ``SET
    client_encoding`` or ``SET standard_conforming_strings = off`` would reach the
    next string sent (the RESET ALL inside it comes too late). Both are reported by
    the server (ParameterStatus), so checking costs no round trip.
    """
    fix: list[str] = []
    if conn.info.encoding != "utf-8":
        fix.append("SET client_encoding = 'UTF8'")
    if conn.info.parameter_status("standard_conforming_strings") != "on":
        fix.append("SET standard_conforming_strings = on")
    if fix:
        conn.execute("; ".join(fix))


def _recorded(batch: list[tuple[int, PlanStep]], cur: CountingCursor) -> int:
    """How many leading steps of ``batch`` have their own history row and COMMIT, in order."""
    done = 0
    for (_, step), mark in zip(batch, cur.marks, strict=False):
        if done >= len(cur.commits):
            break
        if mark.version != step.version.text or mark.direction != step.direction:
            break
        done += 1
    return done


def _not_recorded(
    batch: list[tuple[int, PlanStep]], done: int, cur: CountingCursor
) -> _BatchOutcome:
    step = batch[done][1]
    err = NotRecorded(
        f"the {step.direction} step ran but its history row was not written: its SQL did not "
        "run as written (the server saw it merged with, or cut before, what the runner sent "
        "after it). History and database may disagree from this step on; check them with "
        "'schemaop status' before running again",
        version=step.version.text,
    )
    return _BatchOutcome(done, cur.marks[:done], error=err)


def _committed_in_batch(run: _Run, batch: list[tuple[int, PlanStep]]) -> int:
    """How many leading steps of ``batch`` have an applied row from this run."""
    rows = run.conn.execute(
        sql.SQL(
            "SELECT version, direction FROM {} WHERE id > %s AND plan_hash = %s"
            " AND status = 'applied' ORDER BY id"
        ).format(sql.Identifier(run.schema, hist.HISTORY_TABLE)),
        (run.baseline_id, run.plan.hash),
    ).fetchall()
    done_before = sum(1 for s in run.result.steps if s.status == "applied")
    recent = rows[done_before:]
    done = 0
    for (version, direction), (_, step) in zip(recent, batch, strict=False):
        if version != step.version.text or direction != step.direction:
            break
        done += 1
    return done


def _step_at(exc: psycopg.Error, offsets: list[int], prefix_len: int) -> int | None:
    """Which step of a batch the error position falls in."""
    pos = exc.diag.statement_position
    if pos is None:
        return None
    try:
        offset = int(pos) - 1
    except ValueError:
        return None
    k = bisect.bisect_right(offsets, offset + prefix_len) - 1
    return max(k, 0)


def _rollback_quietly(conn: Conn) -> None:
    try:
        if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        pass


def _retry(run: _Run, step: PlanStep, err: EngineError, attempt: int) -> bool:
    """Sleep and return True when ``err`` is worth another try of the step."""
    if not err.step_retry:
        return False
    if attempt >= run.plan.options.retries:
        if isinstance(err, LockTimeout):
            err.message = (
                f"{err.message}: gave up after {attempt} tries with lock_timeout "
                f"{run.plan.options.lock_timeout_ms}ms; a long transaction holds a lock "
                "this migration needs"
            )
        return False
    delay = min(_RETRY_CAP_S, _RETRY_BASE_S * 2 ** (attempt - 1))
    delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not cryptography
    run.progress(
        "retry",
        version=step.version.text,
        attempt=attempt,
        sqlstate=err.sqlstate,
        delayMs=int(delay * 1000),
    )
    run.sleep(delay)
    return True


def _locate(
    exc: psycopg.Error,
    text: str,
    offset_base: int,
    *,
    stmt_index: int | None = None,
    statement_offset: int | None = None,
) -> EngineError:
    """Classify ``exc`` and find the failing statement and position in ``text``.

    ``offset_base``: where ``text`` starts in the query the server saw.
    ``stmt_index``: the failing statement's index in ``text`` (from the results).
    ``statement_offset``: where the single statement sent starts in ``text``.
    """
    from schemaop.engine import sqltext

    if exc.sqlstate == "22P02" and _LOCK_LOST in (exc.diag.message_primary or ""):
        return LockLost(
            "the step released the runner's advisory lock (pg_advisory_unlock_all(), or a "
            "function that calls it) and was rolled back; a migration must not release "
            "schemaop's lock: remove that call"
        )
    err = classify(exc)
    pos = exc.diag.statement_position
    offset: int | None = None
    if pos is not None:
        try:
            rel = int(pos) - 1 - offset_base
        except ValueError:
            rel = -1
        if statement_offset is not None:
            rel += statement_offset
        if 0 <= rel <= len(text):
            offset = rel
    if offset is not None:
        err.position = sqltext.position(text, offset)
        st = sqltext.statement_at(text, offset)
        err.statement = st.text if st else None
    elif statement_offset is not None:
        st = sqltext.statement_at(text, statement_offset)
        err.statement = st.text if st else None
        if st is not None:
            err.position = sqltext.position(text, st.start)
    elif stmt_index is not None and stmt_index >= 0:
        st = sqltext.statement_by_index(text, stmt_index)
        if st is not None:
            err.statement = st.text
            err.position = sqltext.position(text, st.start)
    return err


def _after_failure(
    run: _Run, step: PlanStep, err: EngineError, sr: StepResult, changed: bool
) -> None:
    """Record a failed transactional step (outside its rolled-back transaction)."""
    conn = run.conn
    if conn.broken or conn.closed or not step.transactional:
        if changed and not conn.broken and not conn.closed:
            _notify_after(run)
        return
    try:
        _rollback_quietly(conn)
        insert = _history_insert(
            run,
            step,
            status="failed",
            with_fingerprint=changed,
            error=err.to_dict(limit=2000),
            duration_ms=sr.duration_ms,
            notify_version=run.result.current_version,
        )
        if changed:
            with conn.transaction():
                conn.execute("SET LOCAL search_path = pg_catalog, pg_temp")
                row = conn.execute(insert).fetchone()
            if row:
                run.result.fingerprint = str(row[2])
        else:
            conn.execute(insert)
    except psycopg.Error:
        pass  # the step's own error is what matters; the database may be gone


def _notify_after(run: _Run) -> None:
    try:
        fp = fingerprint(run.conn, run.plan.options.schemas)
        run.result.fingerprint = fp
        payload = json.dumps({"version": run.result.current_version, "fingerprint": fp})
        run.conn.execute("SELECT pg_catalog.pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))
    except psycopg.Error:
        pass


# --- non-transactional steps -----------------------------------------------------


def _non_transactional(
    run: _Run, step: PlanStep, sr: StepResult, *, is_last: bool, resume: HistoryEntry | None
) -> None:
    """Run a step statement by statement in autocommit, counting them in its pending row.

    The step starts from the runner's own settings (as a transactional one does);
    its statements then see what its earlier statements SET, as in psql, except
    that after ``RESET ALL``/``DISCARD ALL`` (or ``RESET`` of one of them) the
    runner's settings are applied again: RESET goes back to the runner's baseline,
    never to no lock_timeout. After every statement the runner checks that it
    still holds its lock (taking it back when a statement released it: the
    pending row keeps any other runner out meanwhile) and that the history row is
    still there, writing it as the runner's user (:data:`_AS_RUNNER`).
    """
    from schemaop.engine import sqltext

    conn = run.conn
    table = sql.Identifier(run.schema, hist.HISTORY_TABLE)
    statements = sqltext.split(step.sql)
    resets = sqltext.settings_resets(step.sql)
    start = 0
    _reset_session(run, with_timeouts=False)
    if resume is not None:
        start = min(resume.statements_done, len(statements))
        conn.execute(
            sql.SQL(
                "UPDATE {} SET status = 'repaired' WHERE id = %s AND status = 'pending'"
            ).format(table),
            (resume.id,),
        )
    row = conn.execute(
        _history_insert(
            run,
            step,
            status="pending",
            with_fingerprint=False,
            statements_done=start,
            duration_ms=None,
        )
    ).fetchone()
    assert row is not None
    row_id = int(row[3])
    t0 = time.monotonic()
    _reset_session(run, with_timeouts=True)
    sr.statements = []
    try:
        for i in range(start, len(statements)):
            st = statements[i]
            attempt = 0
            while True:
                attempt += 1
                sr.attempts = max(sr.attempts, attempt)
                took = 0
                try:
                    _ensure_lexing(conn)
                    run.notices.drain()  # the runner's own
                    began = time.monotonic()
                    try:
                        cur = conn.execute(st.text.encode())
                    finally:
                        took = int((time.monotonic() - began) * 1000)
                    res = cur.pgresult
                    tag = Tag(cur.statusmessage, res.command_tuples if res is not None else None)
                    notices, dropped = run.notices.drain()
                    sr.statements.append(
                        runstats.statement(
                            step.sql,
                            st,
                            tag=tag,
                            duration_ms=took,
                            notices=notices,
                            notices_omitted=dropped,
                        )
                    )
                    break
                except psycopg.Error as exc:
                    notices, dropped = run.notices.drain()  # the statement's, not ROLLBACK's
                    _rollback_quietly(conn)
                    err = _locate(exc, step.sql, 0, statement_offset=st.start)
                    if _retry(run, step, err, attempt):
                        sr.waits.add(err, i, took)
                        continue
                    sr.statements.append(
                        runstats.statement(
                            step.sql,
                            st,
                            duration_ms=took,
                            notices=notices,
                            notices_omitted=dropped,
                            error=err,
                        )
                    )
                    _mark_pending_error(run, row_id, err, i)
                    raise err from exc
            reset = resets.get(i)
            if reset is not None:
                _reapply_settings(run, reset)
            _after_statement(run, step, row_id, i + 1)
    finally:
        run._prepared = False  # a DISCARD ALL or DEALLOCATE may have dropped it
        if not conn.broken:
            _reset_session(run, with_timeouts=False)
    duration = int((time.monotonic() - t0) * 1000)
    fp = None
    if is_last:
        run.result.current_version = run.applied.current_after(step)
        fp = fingerprint(conn, run.plan.options.schemas)
        run.result.fingerprint = fp
    with conn.transaction():
        done = conn.execute(
            sql.SQL(
                "UPDATE {} SET status = 'applied', duration_ms = %s, fingerprint = %s,"
                " error = NULL WHERE id = %s AND status = 'pending' RETURNING id"
            ).format(table),
            (duration, fp, row_id),
        ).fetchone()
        reset_up = run.progress_reset_sql(step)
        if done is not None and reset_up is not None:
            conn.execute(reset_up)
    if done is None:  # pragma: no cover - _after_statement saw the row a moment ago
        raise _history_lost(run, step, len(statements))
    if is_last:
        payload = json.dumps({"version": run.result.current_version, "fingerprint": fp})
        conn.execute("SELECT pg_catalog.pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))


def _reset_session(run: _Run, *, with_timeouts: bool) -> None:
    """Back to the runner's own session: its user, RESET ALL, its settings (one round trip)."""
    parts: list[sql.Composable] = [
        sql.SQL("SET SESSION AUTHORIZATION DEFAULT"),
        sql.SQL("RESET ALL"),
        *run.session,
    ]
    if with_timeouts:
        parts += _settings(run, local=False)
    run.conn.execute(sql.SQL("; ").join(parts))


def _reapply_settings(run: _Run, names: frozenset[str]) -> None:
    """After a statement that RESET ``names`` (empty: everything), the runner's values again."""
    if not names:
        run.conn.execute(sql.SQL("; ").join([*run.session, *_settings(run, local=False)]))
        return
    mine = [s for name, s in _named_settings(run, local=False).items() if name in names]
    if mine:
        run.conn.execute(sql.SQL("; ").join(mine))


def _after_statement(run: _Run, step: PlanStep, row_id: int, done: int) -> None:
    """Still locked, history row still there: then count the statement in it."""
    conn = run.conn
    held = conn.execute(
        "SELECT CASE WHEN pg_catalog.pg_advisory_unlock(%(k)s)"
        " THEN pg_catalog.pg_try_advisory_lock(%(k)s) END",
        {"k": run.key},
    ).fetchone()
    if not (held and held[0]):
        # The statement released the lock. The pending row keeps every other runner
        # out (the database is dirty), so taking it back is safe if it is free.
        if not (advisory.try_lock(conn, run.key) and advisory.try_lock(conn, run.key)):
            raise LockLost(
                f"statement {done} released the runner's advisory lock (DISCARD ALL or "
                "pg_advisory_unlock_all()) and another session took it; the step is "
                "unfinished (the database is dirty): see 'schemaop status'",
                version=step.version.text,
            )
        run.progress("lock-retaken", version=step.version.text, statement=done)
    try:
        row = _write_as_runner(
            run,
            sql.SQL(
                "UPDATE {} SET statements_done = {} WHERE id = {} AND status = 'pending'"
                " RETURNING id"
            ).format(
                sql.Identifier(run.schema, hist.HISTORY_TABLE),
                sql.Literal(done),
                sql.Literal(row_id),
            ),
        )
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
        raise _history_lost(run, step, done) from exc
    if row is None:
        raise _history_lost(run, step, done)


def _history_lost(run: _Run, step: PlanStep, done: int) -> HistoryLost:
    """A statement dropped or emptied the history: write it back, this step dirty; the error.

    The history as read under the lock at the start, the steps this run finished,
    and this step as ``pending`` (so the database is dirty and every run refuses
    until a person looks), instead of an empty history that would apply
    everything again.
    """
    conn = run.conn
    where = f"{run.schema}.{hist.HISTORY_TABLE}"
    message = (
        f"statement {done} dropped or changed schemaop's history table {where}; the runner "
        "wrote it back from the copy it read at the start and marked this step unfinished "
        "(the database is dirty). A migration must not touch the history schema; see "
        "'schemaop status' and 'schemaop repair'"
    )
    try:
        _reset_session(run, with_timeouts=False)
        restored = hist.restore_history(
            conn,
            run.schema,
            run.entries,
            done=[
                (s, run.plan.hash)
                for s, r in zip(run.plan.steps, run.result.steps, strict=True)
                if r.status == "applied"
            ],
            pending=(step, run.plan.hash, done, message),
        )
    except psycopg.Error as exc:
        message = (
            f"statement {done} dropped or changed schemaop's history table {where} and it "
            f"could not be written back ({classify(exc).message}): the history of applied "
            "migrations is lost; do not run migrations before restoring it"
        )
        restored = False
    if not restored:
        message = message.replace("the runner wrote it back", "the runner could not write it back")
    return HistoryLost(message, version=step.version.text)


def _mark_pending_error(run: _Run, row_id: int, err: EngineError, index: int) -> None:
    with contextlib.suppress(psycopg.Error):
        _write_as_runner(
            run,
            sql.SQL("UPDATE {} SET error = {}, statements_done = {} WHERE id = {}").format(
                sql.Identifier(run.schema, hist.HISTORY_TABLE),
                sql.Literal(json.dumps(err.to_dict(limit=2000))),
                sql.Literal(index),
                sql.Literal(row_id),
            ),
        )
