"""Lint entry points: a SQL text, one migration, or a whole ordered migration set.

Each migration is parsed once with pglast (PostgreSQL's own parser); positions
come from the parser (``stmt_location``, the syntax error's cursor), never from
searching the text. Suppressions are ``schemaop:allow`` comments found by
PostgreSQL's scanner, so a comment-looking string inside a literal is not one:

    -- schemaop:allow SO102 the column has been unused since release 2.3
    ALTER TABLE users DROP COLUMN legacy_flag;

A suppression on the same line as a statement, or in the comment block right
above it, applies to that statement; one at the top of the file, separated from
the first statement by a blank line, applies to the whole file. Several codes
may be listed with commas (``SO101,SO102``). A suppression without a reason is
itself a finding (SO002) and suppresses nothing.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from pglast import parser as pgparser

from schemaop.lint.catalog import Catalog, Table
from schemaop.lint.findings import RULES, RULES_BY_NAME, Finding, Severity
from schemaop.lint.rules import Checker, Hit
from schemaop.model import Migration, Version
from schemaop.model.migration import Batched, batch_sql_problem, placeholders

ALLOW_MARKER = "schemaop:allow"
_STATEMENT_TEXT_LIMIT = 2000
_UNSUPPRESSIBLE = frozenset({"SO001", "SO002"})


@dataclasses.dataclass(frozen=True)
class Statement:
    """One statement of a migration: its parse tree and where it is in the text."""

    index: int
    start: int  # character offset of the first token
    end: int  # character offset just past the statement (before any ';')
    tree: dict[str, Any]

    def text(self, sql: str) -> str:
        return sql[self.start : self.end].strip()


@dataclasses.dataclass(frozen=True)
class LintResult:
    """The findings of one SQL text (one migration's up SQL).

    ``tables_before`` is what lint knew about tables just before this migration
    (see :mod:`schemaop.lint.catalog`); the destructive-change policy uses it.
    ``statements`` is empty when the text does not parse.
    """

    sql: str
    findings: tuple[Finding, ...]
    statements: tuple[Statement, ...] = ()
    version: str | None = None
    source: str = ""
    transactional: bool = True
    tables_before: Mapping[str, Table] = dataclasses.field(default_factory=dict)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclasses.dataclass(frozen=True)
class _Allow:
    codes: frozenset[str]
    reason: str
    statement: int | None  # None: the whole file


class _Positions:
    """Character offset -> 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        pos = text.find("\n")
        while pos != -1:
            self._starts.append(pos + 1)
            pos = text.find("\n", pos + 1)

    def line_col(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self._starts, offset) - 1
        return i + 1, offset - self._starts[i] + 1

    def line_start(self, line: int) -> int:
        return self._starts[line - 1]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


def _skip_space_and_comments(text: str, pos: int, end: int) -> int:
    """Move past whitespace and comments (older parsers include them in stmt_location)."""
    while pos < end:
        ch = text[pos]
        if ch.isspace():
            pos += 1
        elif text.startswith("--", pos):
            nl = text.find("\n", pos)
            pos = end if nl == -1 else nl + 1
        elif text.startswith("/*", pos):
            depth, pos = 1, pos + 2
            while pos < end and depth:
                if text.startswith("/*", pos):
                    depth, pos = depth + 1, pos + 2
                elif text.startswith("*/", pos):
                    depth, pos = depth - 1, pos + 2
                else:
                    pos += 1
        else:
            break
    return pos


def parse_statements(sql: str) -> tuple[Statement, ...]:
    """Parse ``sql`` once; raises ``pglast.parser.ParseError`` (with a character cursor)."""
    raw = json.loads(pgparser.parse_sql_json(sql))
    stmts = raw.get("stmts") or []
    encoded = None if sql.isascii() else sql.encode()
    out = []
    last_byte = last_char = 0
    for i, s in enumerate(stmts):
        loc_b = s.get("stmt_location", 0)
        len_b = s.get("stmt_len", 0)
        if encoded is None:
            loc, end = loc_b, (loc_b + len_b if len_b else len(sql))
        else:
            # libpg_query reports byte offsets; convert incrementally (statements are in order).
            loc = last_char + len(encoded[last_byte:loc_b].decode("utf-8", "replace"))
            end_b = loc_b + len_b if len_b else len(encoded)
            end = loc + len(encoded[loc_b:end_b].decode("utf-8", "replace"))
            last_byte, last_char = end_b, end
        start = _skip_space_and_comments(sql, loc, end)
        out.append(Statement(i, start, end, s["stmt"]))
    return tuple(out)


def _comments(sql: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of every comment, found by PostgreSQL's scanner."""
    try:
        tokens = pgparser.scan(sql)
    except pgparser.ParseError:
        return []
    return [
        (t.start, t.end + 1, sql[t.start : t.end + 1])
        for t in tokens
        if t.name in ("SQL_COMMENT", "C_COMMENT")
    ]


def _parse_allow(comment: str) -> tuple[list[str], str] | None:
    body = comment[2:-2] if comment.startswith("/*") else comment[2:]
    at = body.find(ALLOW_MARKER)
    if at == -1:
        return None
    rest = body[at + len(ALLOW_MARKER) :].strip()
    first, _, reason = rest.partition(" ")
    codes = [c.strip() for c in first.split(",") if c.strip()]
    return codes, reason.strip()


def _suppressions(
    sql: str, statements: Sequence[Statement], pos: _Positions, base: dict[str, Any]
) -> tuple[list[_Allow], list[Finding]]:
    allows: list[_Allow] = []
    problems: list[Finding] = []
    if ALLOW_MARKER not in sql:
        return allows, problems
    stmt_lines = [(pos.line(s.start), pos.line(max(s.start, s.end - 1))) for s in statements]
    starts = [s.start for s in statements]
    for c_start, c_end, text in _comments(sql):
        parsed = _parse_allow(text)
        if parsed is None:
            continue
        codes, reason = parsed
        line, col = pos.line_col(c_start)
        where = _owner(
            sql,
            c_start=c_start,
            c_end=c_end,
            line=line,
            statements=statements,
            stmt_lines=stmt_lines,
            starts=starts,
        )
        stmt_text = statements[where].text(sql) if where is not None else text
        known: set[str] = set()
        for code in codes:
            rule = RULES.get(code.upper()) or RULES_BY_NAME.get(code.lower())
            if rule is None or rule.code in _UNSUPPRESSIBLE:
                problems.append(
                    _finding(
                        "SO003",
                        f"schemaop:allow names unknown or unsuppressible code {code!r}",
                        statement=stmt_text,
                        at=(line, col, c_start),
                        index=-1 if where is None else where,
                        base=base,
                    )
                )
            else:
                known.add(rule.code)
        if not codes or not reason:
            problems.append(
                _finding(
                    "SO002",
                    f"schemaop:allow {','.join(codes) or '(no code)'} gives no reason",
                    statement=stmt_text,
                    at=(line, col, c_start),
                    index=-1 if where is None else where,
                    base=base,
                )
            )
            continue
        if known:
            allows.append(_Allow(frozenset(known), reason, where))
    return allows, problems


def _owner(
    sql: str,
    *,
    c_start: int,
    c_end: int,
    line: int,
    statements: Sequence[Statement],
    stmt_lines: Sequence[tuple[int, int]],
    starts: Sequence[int],
) -> int | None:
    """The statement a suppression comment belongs to; None for the whole file."""
    for i, (first, last) in enumerate(stmt_lines):
        if first <= line <= last:
            return i
    nxt = bisect.bisect_left(starts, c_end)
    if nxt >= len(statements):
        return None  # after the last statement: applies to the file
    if nxt == 0:
        # Before the first statement: per statement only if no blank line separates them.
        gap = sql[c_end : statements[0].start]
        lines = gap.split("\n")[1:-1]
        if any(not ln.strip() for ln in lines):
            return None
    return nxt


def _finding(
    code: str,
    message: str,
    *,
    statement: str,
    at: tuple[int, int, int],
    index: int,
    base: dict[str, Any],
    severity: Severity | None = None,
    target: str | None = None,
) -> Finding:
    """``at`` is (line, column, offset)."""
    rule = RULES[code]
    if len(statement) > _STATEMENT_TEXT_LIMIT:
        statement = statement[: _STATEMENT_TEXT_LIMIT - 1] + "…"
    return Finding(
        code=code,
        severity=severity or rule.severity,
        rule=rule.name,
        message=message,
        hint=rule.hint,
        statement=statement,
        line=at[0],
        column=at[1],
        offset=at[2],
        statement_index=index,
        target=target,
        **base,
    )


def _lint_text(
    sql: str,
    catalog: Catalog,
    *,
    transactional: bool,
    version: str | None,
    source: str,
    batched: Batched | None = None,
) -> LintResult:
    base: dict[str, Any] = {"version": version, "source": source}
    original = sql
    if batched is not None:
        # The batch's :lo_/:hi_ placeholders become parameters of the same length, so
        # the text parses and every position stays where it was written.
        sql = _as_parameters(sql)
    catalog.begin()
    pos = _Positions(sql)
    try:
        if "\x00" in sql:
            # libpg_query reads a C string: everything after a NUL would go unseen.
            raise pgparser.ParseError(
                "the SQL contains a NUL character, which PostgreSQL rejects", sql.index("\x00")
            )
        statements = parse_statements(sql)
    except pgparser.ParseError as exc:
        cursor = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        if cursor is None:  # "at end of input"
            cursor = max(0, len(sql.rstrip()) - 1)
        cursor = max(0, min(cursor, len(sql)))
        line, col = pos.line_col(cursor)
        text = sql[pos.line_start(line) :].split("\n", 1)[0].strip()
        finding = _finding(
            "SO001",
            str(exc.args[0]),
            statement=text,
            at=(line, col, cursor),
            index=-1,
            base=base,
        )
        return LintResult(original, (finding,), (), version, source, transactional, {})

    checker = Checker(catalog, transactional, batched is not None)
    raw: list[tuple[Statement, Hit]] = []
    for st in statements:
        raw.extend((st, hit) for hit in checker.check(st.tree))
    allows, findings = _suppressions(sql, statements, pos, base)
    encoded = None if sql.isascii() else sql.encode()
    for st, hit in raw:
        offset = st.start
        if hit.location is not None:
            at = (
                hit.location
                if encoded is None
                else len(encoded[: hit.location].decode("utf-8", "replace"))
            )
            if st.start <= at < st.end:
                offset = at
        line, col = pos.line_col(offset)
        f = _finding(
            hit.code,
            hit.message,
            statement=st.text(sql),
            at=(line, col, offset),
            index=st.index,
            base=base,
            severity=hit.severity,
            target=hit.target,
        )
        for a in allows:
            if hit.code in a.codes and (a.statement is None or a.statement == st.index):
                f = dataclasses.replace(f, suppressed=True, reason=a.reason)
                break
        findings.append(f)
    if batched is not None:
        problem = batch_sql_problem(original, batched, "the SQL")
        if problem is not None:
            first = statements[0] if statements else None
            line, col = pos.line_col(first.start if first else 0)
            findings.append(
                _finding(
                    "SO403",
                    problem,
                    statement=first.text(sql) if first else "",
                    at=(line, col, first.start if first else 0),
                    index=0,
                    base=base,
                )
            )
    findings.sort(key=lambda f: (f.offset, f.code))
    before = catalog.touched_before()
    return LintResult(original, tuple(findings), statements, version, source, transactional, before)


def _as_parameters(sql: str) -> str:
    """``:lo_id`` -> ``$1    `` (same length): the text parses, positions are unchanged."""
    out: list[str] = []
    pos = 0
    names: dict[str, int] = {}
    for p in placeholders(sql):
        n = names.setdefault(p.name, len(names) + 1)
        out += [sql[pos : p.start], f"${n}".ljust(p.end - p.start)]
        pos = p.end
    out.append(sql[pos:])
    return "".join(out)


def lint_sql(
    sql: str,
    *,
    transactional: bool = True,
    version: str | None = None,
    source: str = "",
    tables: Iterable[Table] = (),
) -> LintResult:
    """Lint one SQL text on its own: every table it does not create counts as existing.

    ``tables`` are tables known beforehand (e.g. from the database); a ``Table``
    with ``new=True`` is treated as created in the same rollout.
    """
    catalog = Catalog()
    for t in tables:
        catalog.tables[t.key] = t.copy()
    return _lint_text(sql, catalog, transactional=transactional, version=version, source=source)


def lint_migration(migration: Migration) -> LintResult:
    """Lint one migration's up SQL as if it were the only pending one."""
    return lint_set([migration])[0]


def lint_set(
    migrations: Iterable[Migration], *, applied_through: Version | None = None
) -> list[LintResult]:
    """Lint an ordered migration set (one result per migration, in version order).

    Migrations at or below ``applied_through`` are already in the database: they
    are still linted (their findings go on their own status), but the tables they
    create count as existing for the migrations after them.
    """
    catalog = Catalog()
    results = []
    for m in sorted(migrations, key=lambda m: m.version):
        result = _lint_text(
            m.up,
            catalog,
            transactional=m.transactional,
            version=m.version.text,
            source=m.source,
            batched=m.batched,
        )
        down = _lint_down(m)
        if down:
            result = dataclasses.replace(result, findings=result.findings + down)
        results.append(result)
        if applied_through is not None and m.version <= applied_through:
            catalog.settle()
    return results


_DOWN_CODES: Final = frozenset({"SO001", "SO002", "SO003", "SO401", "SO402", "SO403"})


def _lint_down(m: Migration) -> tuple[Finding, ...]:
    """Findings of the down SQL that would make a rollback fail (see ``Finding.part``)."""
    if m.down is None or not m.down.strip():
        return ()
    batched = m.batched if m.batched is not None and m.batched.down else None
    result = _lint_text(
        m.down,
        Catalog(),
        transactional=m.transactional,
        version=m.version.text,
        source=m.source,
        batched=batched,
    )
    return tuple(
        dataclasses.replace(f, part="down") for f in result.findings if f.code in _DOWN_CODES
    )
