"""Migration text: splitting it into statements and mapping error positions.

Splitting uses pglast (PostgreSQL's own scanner and parser, through
libpg_query), so ``$$``-quoted bodies, quoted identifiers and comments never
split a statement in the wrong place. pglast is imported lazily: only a
non-transactional step (run statement by statement) or an error (whose position
is mapped to a statement) needs it, so ``schemaop migrate`` does not pay for
it on the happy path.

PostgreSQL reports an error position as a 1-based *character* offset into the
query string it received. The runner sends a transactional step as one string
(a prefix of SET commands, the migration, the history insert); it subtracts
the prefix's length and calls :func:`locate` to name the statement, its line
and column within the migration.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from schemaop.engine.errors import Position


@dataclasses.dataclass(frozen=True)
class Statement:
    """One statement of a migration: its text and where it starts (0-based offset)."""

    index: int
    start: int
    end: int
    text: str


def split(text: str) -> list[Statement]:
    """The statements of ``text`` in order; comments between statements are dropped.

    Uses the parser; when the text does not parse (the error will come from the
    server anyway) it splits on the scanner's top-level semicolons, which still
    respects quoting and comments.
    """
    import pglast
    from pglast.parser import ParseError

    try:
        slices = pglast.split(text, with_parser=True, only_slices=True)
    except ParseError:
        return _scan_split(text)
    out: list[Statement] = []
    for i, sl in enumerate(slices):
        start, end = int(sl.start or 0), int(sl.stop if sl.stop is not None else len(text))
        out.append(Statement(i, start, end, text[start:end]))
    return out


def _scan_split(text: str) -> list[Statement]:
    from pglast.parser import scan

    out: list[Statement] = []
    start: int | None = None
    end = 0
    for token in scan(text):
        if token.name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if token.name == "ASCII_59":  # ';'
            if start is not None:
                out.append(Statement(len(out), start, end, text[start:end]))
            start = None
            continue
        if start is None:
            start = token.start
        end = token.end + 1
    if start is not None:
        out.append(Statement(len(out), start, end, text[start:end]))
    return out


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of the 0-based character ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def position(text: str, offset: int) -> Position:
    """A :class:`Position` for the 0-based ``offset`` (reported 1-based)."""
    line, column = line_column(text, offset)
    return Position(offset=offset + 1, line=line, column=column)


def statement_at(text: str, offset: int) -> Statement | None:
    """The statement containing the 0-based character ``offset`` (or the next one)."""
    try:
        statements = split(text)
    except Exception:  # locating is best effort; the error itself matters
        return None
    for st in statements:
        if offset < st.end:
            return st
    return statements[-1] if statements else None


def statement_by_index(text: str, index: int) -> Statement | None:
    try:
        statements = split(text)
    except Exception:  # best effort, as above
        return None
    return statements[index] if 0 <= index < len(statements) else None


_RESET_WORDS = re.compile(r"\b(reset|discard|default)\b", re.I)
# The settings the runner SETs for a step (see runner._settings).
RUNNER_SETTINGS = frozenset({"lock_timeout", "statement_timeout"})


def settings_resets(text: str) -> dict[int, frozenset[str]]:
    """Statements (by index, as :func:`split` numbers them) that reset settings.

    ``RESET ALL`` and ``DISCARD ALL`` map to an empty set (everything);
    ``RESET name`` and ``SET name TO DEFAULT`` map to ``{name}``. The runner applies
    its own values again after them (a non-transactional step runs statement by
    statement), and refuses ``RESET ALL`` in a transactional step
    (:func:`runner_conflict`).
    """
    if not _RESET_WORDS.search(text):
        return {}
    import pglast
    from pglast.enums.parsenodes import DiscardMode, VariableSetKind
    from pglast.parser import ParseError

    try:
        tree = pglast.parse_sql(text)
    except ParseError:
        return {}
    out: dict[int, frozenset[str]] = {}
    for i, raw in enumerate(tree):
        stmt: Any = raw.stmt
        kind = type(stmt).__name__
        if kind == "DiscardStmt" and stmt.target == DiscardMode.DISCARD_ALL:
            out[i] = frozenset()
        elif kind == "VariableSetStmt":
            if stmt.kind == VariableSetKind.VAR_RESET_ALL:
                out[i] = frozenset()
            elif stmt.kind in (VariableSetKind.VAR_RESET, VariableSetKind.VAR_SET_DEFAULT):
                out[i] = frozenset({str(stmt.name).lower()})
    return out


_TX_WORDS = re.compile(
    r"\b(begin|commit|rollback|end|start|abort|savepoint|release|prepare)\b", re.I
)


def transaction_control(text: str) -> Statement | None:
    """The first top-level transaction-control statement (BEGIN, COMMIT, ...) in ``text``.

    A transactional migration runs inside schemaop's own transaction; its own
    COMMIT would commit the step without its history row. A cheap word check
    comes first, so only texts that mention such a word (plpgsql bodies do:
    ``BEGIN ... END``) are parsed.
    """
    if not _TX_WORDS.search(text):
        return None
    import pglast
    from pglast.parser import ParseError

    try:
        tree = pglast.parse_sql(text)
    except ParseError:
        return None  # the server will report the syntax error with its position
    statements = split(text)
    for i, raw in enumerate(tree):
        if type(raw.stmt).__name__ == "TransactionStmt":
            return statements[i] if i < len(statements) else Statement(i, 0, len(text), text)
    return None


def runner_conflict(text: str) -> tuple[Statement, str] | None:
    """A statement a *transactional* step cannot contain, and why; None when there is none.

    Its own BEGIN/COMMIT (:func:`transaction_control`), and a RESET of the
    runner's lock_timeout or statement_timeout (``RESET ALL`` included): inside
    the step's transaction the runner cannot set them again, so the rest of the
    step would run without them.
    """
    st = transaction_control(text)
    if st is not None:
        return st, (
            "schemaop runs each transactional migration in its own transaction, so remove "
            "its BEGIN/COMMIT, or mark it '-- schemaop:transactional false'"
        )
    for index, names in sorted(settings_resets(text).items()):
        if names and not names & RUNNER_SETTINGS:
            continue
        found = statement_by_index(text, index)
        if found is None:  # pragma: no cover - the parser found it
            continue
        return found, (
            "it would turn off the runner's lock_timeout/statement_timeout for the rest of "
            "the step; RESET only the settings the migration changed, or mark it "
            "'-- schemaop:transactional false' (where the runner sets them again)"
        )
    return None
