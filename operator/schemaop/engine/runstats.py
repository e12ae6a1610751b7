"""Per-statement figures of a run, observed, never measured by changing what runs.

The runner (:mod:`schemaop.engine.runner`) sends SQL exactly as it did before;
this module only reads what PostgreSQL answered:

- the command tag and rows of every statement (the results of a batch, as
  :class:`~schemaop.engine.batchcursor.CountingCursor` saw them, or of the one
  statement of a non-transactional step sent alone);
- the notices the server sent (:class:`NoticeLog`, the connection's notice
  handler), clipped and scrubbed (:meth:`schemaop.model.run.Notice.of`);
- the tries of a step or statement that ended on a lock timeout, a deadlock or
  a serialization failure (:class:`Waits`).

What cannot be had exactly is left out: a transactional step is one query, so
its statements have no duration of their own (the step has), and the notices of
several steps sent in one query are not told apart per step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import psycopg

from schemaop.engine import sqltext
from schemaop.engine.batchcursor import Tag
from schemaop.engine.errors import EngineError
from schemaop.model.run import MAX_NOTICES, Notice, StatementSummary, statement_text

#: Notices kept per drain (a step, or a statement of a non-transactional step).
MAX_KEPT = 200
# SQLSTATEs of a try that waited for a lock: lock_timeout and deadlock.
LOCK_WAIT_STATES = frozenset({"55P03", "40P01"})


class NoticeLog:
    """The connection's notice handler: keeps what the server sent since the last drain."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.omitted = 0

    def __call__(self, diag: psycopg.errors.Diagnostic) -> None:
        if len(self.notices) >= MAX_KEPT:
            self.omitted += 1
            return
        self.notices.append(Notice.of(diag.severity, diag.message_primary, diag.sqlstate))

    def drain(self) -> tuple[list[Notice], int]:
        """The notices since the last drain, and how many more were dropped."""
        out, omitted = self.notices, self.omitted
        self.notices, self.omitted = [], 0
        return out, omitted


@dataclasses.dataclass
class Waits:
    """Tries of one step that ended on a retryable error, per statement (0-based index)."""

    retries: int = 0
    lock_waits: int = 0
    lock_wait_ms: int = 0
    # statement index -> [retries, lock waits, lock wait ms]
    at: dict[int, list[int]] = dataclasses.field(default_factory=dict)

    def add(self, err: EngineError, index: int | None, elapsed_ms: int) -> None:
        waited = err.sqlstate in LOCK_WAIT_STATES
        self.retries += 1
        if waited:
            self.lock_waits += 1
            self.lock_wait_ms += max(0, elapsed_ms)
        if index is not None:
            mine = self.at.setdefault(index, [0, 0, 0])
            mine[0] += 1
            if waited:
                mine[1] += 1
                mine[2] += max(0, elapsed_ms)

    def merge(self, statements: list[StatementSummary]) -> list[StatementSummary]:
        """``statements`` with the tries that failed at each of them before the last."""
        out = []
        for st in statements:
            mine = self.at.get(st.index - 1)
            if mine is None:
                out.append(st)
                continue
            out.append(
                dataclasses.replace(
                    st,
                    retries=st.retries + mine[0],
                    lock_waits=st.lock_waits + mine[1],
                    lock_wait_ms=st.lock_wait_ms + mine[2],
                )
            )
        return out


def statement(
    sql_text: str,
    st: sqltext.Statement,
    *,
    tag: Tag | None = None,
    duration_ms: int | None = None,
    notices: Sequence[Notice] = (),
    notices_omitted: int = 0,
    error: EngineError | None = None,
) -> StatementSummary:
    """One statement's figures (``st`` from :func:`schemaop.engine.sqltext.split`);
    its retries are added from the step's :class:`Waits` when the summary is made."""
    kept = list(notices[:MAX_NOTICES])
    return StatementSummary(
        index=st.index + 1,
        statement=statement_text(st.text),
        line=sqltext.position(sql_text, st.start).line,
        command=tag.command if tag is not None else None,
        rows=tag.rows if tag is not None else None,
        duration_ms=duration_ms,
        status="failed" if error is not None else "ok",
        notices=tuple(kept),
        notices_omitted=notices_omitted + len(notices) - len(kept),
        error=None if error is None else _error(error),
    )


def _error(err: EngineError) -> dict[str, Any]:
    short = err.summary().to_dict(limit=500)
    return {k: short[k] for k in ("sqlstate", "message", "position") if short[k] is not None}


def batch_statements(
    step_sql: str,
    tags: Sequence[Tag],
    *,
    error: EngineError | None = None,
    failed_index: int | None = None,
) -> list[StatementSummary] | None:
    """A transactional step's statements from the tags of its results, in order.

    ``tags``: the results of the step's own statements (after its BEGIN and
    settings, before the runner's closing); with ``error``, the statement after
    the last of them is the one that failed (or ``failed_index``, when the error's
    position says which: a syntax error stops the whole query before anything
    runs). None when the results cannot be matched to the statements of the text
    (never a guess).
    """
    statements = quick_split(step_sql) if error is None else None
    if statements is None or len(statements) != len(tags):
        statements = sqltext.split(step_sql)
    ran = len(tags)
    if ran > len(statements) or (error is None and ran != len(statements)):
        return None
    out = [statement(step_sql, st, tag=tags[i]) for i, st in enumerate(statements[:ran])]
    at = ran if failed_index is None else failed_index
    if error is not None and ran <= at < len(statements):
        out.append(statement(step_sql, statements[at], error=error))
    return out


# Where a top-level ``;`` cannot be: quoted text, identifiers, dollar bodies, comments.
_LEX = re.compile(
    r"""(?P<semi>;)|(?P<line>--[^\n]*)|(?P<block>/\*)|(?P<estr>[eE]')|(?P<str>')"""
    r"""|(?P<ident>"(?:[^"]|"")*")|(?P<dollar>\$(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$)"""
)


def quick_split(text: str) -> list[sqltext.Statement] | None:
    """The statements of ``text`` by its top-level semicolons, without the parser.

    The fast path of :func:`batch_statements` when a step ran whole: it is used
    only when it finds as many statements as the server ran (else
    :func:`schemaop.engine.sqltext.split`, which loads the parser, decides), so a
    run that succeeds pays no parser load. None when the text has something this
    lexer does not follow (an unterminated quote or comment).
    """
    out: list[sqltext.Statement] = []
    pos = start = 0
    while True:
        m = _LEX.search(text, pos)
        if m is None:
            break
        kind = m.lastgroup
        if kind == "semi":
            _add(out, text, start, m.start())
            pos = start = m.end()
            continue
        if kind == "block":
            pos = _comment_end(text, m.end())
            if pos < 0:
                return None
            continue
        if kind in ("str", "estr"):
            body = r"(?:[^'\\]|''|\\.)*'" if kind == "estr" else r"(?:[^']|'')*'"
            end = re.compile(body, re.S).match(text, m.end())
            if end is None:
                return None
            pos = end.end()
            continue
        if kind == "dollar":
            close = text.find(m.group(), m.end())
            if close < 0:
                return None
            pos = close + len(m.group())
            continue
        pos = m.end()  # a line comment, a quoted identifier
    _add(out, text, start, len(text))
    return out


def _comment_end(text: str, pos: int) -> int:
    """Index after the ``*/`` closing a (nestable) comment whose ``/*`` ends at ``pos``; -1."""
    depth = 1
    while depth:
        c = _BLOCK.search(text, pos)
        if c is None:
            return -1
        depth += 1 if c.group() == "/*" else -1
        pos = c.end()
    return pos


def _add(out: list[sqltext.Statement], text: str, start: int, end: int) -> None:
    """A statement from ``start`` to ``end``, without its leading blanks and comments."""
    begin = start
    while begin < end:
        blank = _BLANK.match(text, begin, end)
        if blank is not None and blank.end() > begin:
            begin = blank.end()
        elif text.startswith("--", begin):
            newline = text.find("\n", begin, end)
            begin = end if newline < 0 else newline + 1
        elif text.startswith("/*", begin):
            begin = min(end, max(_comment_end(text, begin + 2), begin + 2))
        else:
            break
    body = text[begin:end].rstrip()
    if body:
        out.append(sqltext.Statement(len(out), begin, begin + len(body), body))


_BLOCK = re.compile(r"/\*|\*/")
_BLANK = re.compile(r"\s+")
