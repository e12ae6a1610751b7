"""A cursor that reads the outcome of a multi-statement query, even when it fails.

The runner sends consecutive transactional steps as one simple-protocol query
string (:func:`schemaop.engine.runner._run_batch`). PostgreSQL runs such a string
statement by statement, stops at the first failure and sends one result per
statement; psycopg's public API then raises the error and drops the results that
came before it. Those results are what tell the runner which steps committed, so
:class:`CountingCursor` overrides psycopg's **private** ``Cursor._check_results``,
the one method that sees every result of a query before psycopg raises.

Tested against psycopg 3.2 and 3.3 (3.1 had the same method). If a psycopg
release renames it or stops passing every result to it, ``ok_results`` stays -1
and the runner falls back to reading the history (one step at a time); the
test ``tests/unit/test_batchcursor.py`` fails loudly then, and
``tests/integration/test_engine.py::test_counting_cursor_sees_every_result``
checks the behaviour on a real server.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg
from psycopg.pq import ExecStatus

from schemaop.engine.history import STEP_MARK_COLUMN


class Mark(NamedTuple):
    """A history row a batch wrote (its RETURNING): duration, fingerprint, version, direction."""

    duration: str | None
    fingerprint: str | None
    version: str | None
    direction: str | None


NO_MARK = Mark(None, None, None, None)


class Tag(NamedTuple):
    """What the server said a statement did: its command tag and the rows it counts."""

    command: str | None
    rows: int | None


class CountingCursor(psycopg.Cursor[Any]):
    """Records what a multi-statement query did before it stopped.

    From the results before the error: how many there were (``ok_results``: the
    failing statement's index in the string), the history rows written
    (``marks``: results whose first column is :data:`STEP_MARK_COLUMN`, with the
    step's duration and fingerprint) and the ``COMMIT`` after each of them
    (``commits``: steps that are done). ``ok_results`` is -1 when psycopg did not
    pass the results here (see the module docstring). For the run summary's
    per-statement figures, also each result's command tag and rows (``tags``) and
    the index of each history row's result (``mark_at``).
    """

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        super().__init__(connection)
        self.ok_results = -1
        self.marks: list[Mark] = []
        self.commits: list[int] = []
        self.tags: list[Tag] = []
        self.mark_at: list[int] = []

    def _check_results(self, results: list[Any]) -> None:
        count = 0
        marks: list[Mark] = []
        commits: list[int] = []
        tags: list[Tag] = []
        mark_at: list[int] = []
        pending = False
        for i, res in enumerate(results):
            if res.status == ExecStatus.FATAL_ERROR:
                break
            count += 1
            tags.append(Tag(_text(res.command_status), res.command_tuples))
            if res.status == ExecStatus.TUPLES_OK and res.nfields >= 6:
                if res.fname(0) == STEP_MARK_COLUMN.encode() and res.ntuples == 1:
                    marks.append(
                        Mark(
                            _text(res.get_value(0, 1)),
                            _text(res.get_value(0, 2)),
                            _text(res.get_value(0, 4)),
                            _text(res.get_value(0, 5)),
                        )
                    )
                    mark_at.append(i)
                    pending = True
            elif pending and res.command_status == b"COMMIT":
                commits.append(i)
                pending = False
        self.ok_results = count
        self.marks = marks
        self.commits = commits
        self.tags = tags
        self.mark_at = mark_at
        super()._check_results(results)


def _text(value: bytes | None) -> str | None:
    return None if value is None else bytes(value).decode()
