"""A migration: one immutable, versioned change, and a validated set of them.

Pure: no I/O. The checksum covers the normalized up and down SQL and the
``transactional`` flag, so any change to what would run is detected; the
normalization (line endings, trailing whitespace, surrounding blank lines) keeps
editors and YAML block scalars from producing false mismatches.

A set refuses a migration whose SQL cannot reach PostgreSQL exactly as written
(:func:`text_problem`): a NUL character (libpq sends C strings and would cut the
text there), text that is not encodable as UTF-8, and text that ends inside a
comment, a quoted string, a quoted identifier or a dollar-quoted body (the
runner sends a step followed by its history insert, which would become part of
that comment or string, and the step would run merged with what follows). The
runner applies the same check to every step of a plan before it connects, so a
plan file made elsewhere is refused too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from schemaop.model.version import Version


def normalize_sql(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def checksum(up: str, down: str | None, transactional: bool = True) -> str:
    """sha256 over the normalized up and down text (and the transactional flag)."""
    h = hashlib.sha256()
    h.update(b"schemaop-checksum-v1\0up\0")
    h.update(normalize_sql(up).encode())
    h.update(b"\0down\0")
    if down is not None and normalize_sql(down):
        h.update(normalize_sql(down).encode())
    h.update(b"\0transactional\0" + (b"1" if transactional else b"0"))
    return h.hexdigest()


def down_checksum(down: str | None, transactional: bool = True) -> str:
    """sha256 over a down step alone: its normalized text and the transactional flag.

    What the history records beside a recorded down SQL (docs/engine.md), so the
    record can be checked without the up SQL; ``down`` None (or blank) is "the
    migration has no down step", which has a checksum too. (Batched settings of a
    batched down would join here when migrations carry them.)
    """
    h = hashlib.sha256()
    h.update(b"schemaop-down-checksum-v1\0down\0")
    if down is not None and normalize_sql(down):
        h.update(normalize_sql(down).encode())
    h.update(b"\0transactional\0" + (b"1" if transactional else b"0"))
    return h.hexdigest()


# PostgreSQL's lexer (scan.l, standard_conforming_strings on), reduced to what
# decides where a token that can swallow text starts. Identifiers are matched whole
# so that ``$`` inside one (``a$b$``) and a letter before a quote (``ae'x'``) are not
# mistaken for a dollar quote or a string prefix.
_IDENT_CHARS: Final = r"A-Za-z_\u0080-\U0010FFFF"
_TOKEN: Final = re.compile(
    rf"(?P<estr>[eE]')|(?P<pstr>(?:[bBxXnN]|[uU]&)')|(?P<uident>[uU]&\")"
    rf"|(?P<ident>[{_IDENT_CHARS}][{_IDENT_CHARS}0-9$]*)"
    r"|(?P<line>--)|(?P<block>/\*)|(?P<str>')|(?P<qident>\")|(?P<dollar>\$)"
)
_DOLLAR_DELIM: Final = re.compile(rf"\$(?:[{_IDENT_CHARS}][{_IDENT_CHARS}0-9]*)?\$")
_BLOCK_MARK: Final = re.compile(r"/\*|\*/")
_ESTR_MARK: Final = re.compile(r"['\\]")
_LINE_END: Final = re.compile(r"[\n\r]")


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _closing_quote(text: str, pos: int, quote: str) -> int:
    """Index after the quote that closes a ``'...'``/``"..."`` body starting at ``pos``; -1."""
    while True:
        end = text.find(quote, pos)
        if end < 0:
            return -1
        if text.startswith(quote, end + 1):  # a doubled quote is a quote character
            pos = end + 2
            continue
        return end + 1


def _closing_estring(text: str, pos: int) -> int:
    """Like :func:`_closing_quote` for an ``E'...'`` body, where backslash escapes."""
    while True:
        m = _ESTR_MARK.search(text, pos)
        if m is None:
            return -1
        if m.group() == "\\":
            pos = m.end() + 1
            if pos > len(text):
                return -1
            continue
        if text.startswith("'", m.end()):
            pos = m.end() + 1
            continue
        return m.end()


def _closing_comment(text: str, pos: int) -> int:
    """Index after the ``*/`` that closes a (nestable) ``/*`` comment; -1."""
    depth = 1
    while depth:
        m = _BLOCK_MARK.search(text, pos)
        if m is None:
            return -1
        depth += 1 if m.group() == "/*" else -1
        pos = m.end()
    return pos


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent to PostgreSQL exactly as written; None when it can.

    The answer is a phrase that follows a subject ("V3__x.sql: up SQL ..."), e.g.
    ``contains a NUL character at line 2, column 5 ...``.
    """
    nul = text.find("\0")
    if nul >= 0:
        return (
            f"contains a NUL character at {_where(text, nul)}; PostgreSQL cannot receive it "
            "(the text would be cut there), remove it"
        )
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return (
            f"is not valid Unicode at {_where(text, exc.start)} (a lone surrogate "
            f"{text[exc.start]!r}); it cannot be sent as UTF-8"
        )
    problem = _lexical_problem(text)
    if problem is None and _COPY_WORD.search(text):
        problem = _copy_problem(text)
    return problem


_COPY_WORD: Final = re.compile(r"\bcopy\b", re.IGNORECASE)


def _copy_problem(text: str) -> str | None:
    """``COPY ... FROM STDIN`` / ``TO STDOUT``: the data is not SQL, only psql can send it.

    Parsed with pglast (PostgreSQL's parser), only for texts that mention COPY.
    """
    import pglast
    from pglast.parser import ParseError

    try:
        pieces = [(0, pglast.parse_sql(text))]
    except ParseError:
        # pg_dump's data lines after the COPY do not parse: look at the statements
        # the scanner finds, one by one.
        try:
            slices = pglast.split(text, with_parser=False, only_slices=True)
        except ParseError:
            return None  # the server reports the syntax error, before anything runs
        pieces = []
        for sl in slices:
            start = int(sl.start or 0)
            try:
                pieces.append((start, pglast.parse_sql(text[sl])))
            except ParseError:
                continue
    for start, tree in pieces:
        for raw in tree:
            stmt: Any = raw.stmt
            if type(stmt).__name__ != "CopyStmt" or stmt.filename or stmt.is_program:
                continue
            way = "FROM STDIN" if stmt.is_from else "TO STDOUT"
            where = _where(text, start + (raw.stmt_location or 0))
            return (
                f"contains COPY ... {way} at {where}; its data is not SQL (only psql can "
                "send or receive it) and schemaop sends SQL alone: use INSERT, or COPY with a "
                "file on the database server"
            )
    return None


def _lexical_problem(text: str) -> str | None:
    pos = 0
    while True:
        m = _TOKEN.search(text, pos)
        if m is None:
            return None
        kind, start = m.lastgroup, m.start()
        if kind == "ident":
            pos = m.end()
            continue
        if kind == "line":
            end_m = _LINE_END.search(text, m.end())
            if end_m is None:
                return None  # a line comment may end the text: the runner adds a newline
            pos = end_m.end()
            continue
        if kind == "dollar":
            delim = _DOLLAR_DELIM.match(text, start)
            if delim is None:  # a parameter ($1) or a lone $
                pos = m.end()
                continue
            close = text.find(delim.group(), delim.end())
            if close < 0:
                return _unterminated(text, start, f"a {delim.group()}-quoted body", delim.group())
            pos = close + len(delim.group())
            continue
        if kind == "block":
            end = _closing_comment(text, m.end())
            what, closer = "a /* comment", "*/"
        elif kind == "estr":
            end = _closing_estring(text, m.end())
            what, closer = "an E'...' string", "'"
        elif kind in ("str", "pstr"):
            end = _closing_quote(text, m.end(), "'")
            what, closer = "a quoted string", "'"
        else:  # qident, uident
            end = _closing_quote(text, m.end(), '"')
            what, closer = "a quoted identifier", '"'
        if end < 0:
            return _unterminated(text, start, what, closer)
        pos = end


def _unterminated(text: str, start: int, what: str, closer: str) -> str:
    return (
        f"ends inside {what} opened at {_where(text, start)}; close it with {closer} "
        "(PostgreSQL would read what follows the migration as part of it)"
    )


@dataclasses.dataclass(frozen=True)
class Migration:
    """One versioned change. ``down`` is None when the migration cannot be reversed."""

    version: Version
    description: str
    up: str
    down: str | None = None
    transactional: bool = True
    # Where it came from (a file path, "SchemaMigration ns/name"), for messages.
    source: str = ""
    # Where the down SQL came from when that is another file (a U/.down.sql file).
    down_source: str = ""

    @property
    def checksum(self) -> str:
        return checksum(self.up, self.down, self.transactional)

    @property
    def down_checksum(self) -> str:
        """Its down step's own checksum (:func:`down_checksum`), as the history records it."""
        return down_checksum(self.down, self.transactional)

    @property
    def reversible(self) -> bool:
        return self.down is not None and bool(normalize_sql(self.down))


class InvalidMigrationSet(ValueError):
    """Two migrations claim the same version, or a migration is malformed."""


def check_migration(m: Migration) -> None:
    """Raise InvalidMigrationSet naming the source when ``m`` cannot run as written."""
    name = m.source or f"migration {m.version}"
    if "\0" in m.description:
        raise InvalidMigrationSet(f"{name}: the description contains a NUL character")
    problem = text_problem(m.up)
    if problem is not None:
        raise InvalidMigrationSet(f"{name}: up SQL {problem}")
    if m.down is not None:
        problem = text_problem(m.down)
        if problem is not None:
            where = m.down_source or name
            raise InvalidMigrationSet(f"{where}: down SQL {problem}")


class MigrationSet(Sequence[Migration]):
    """Migrations ordered by version, with unique versions."""

    def __init__(self, migrations: Iterable[Migration]) -> None:
        items = sorted(migrations, key=lambda m: m.version)
        seen: dict[Version, Migration] = {}
        for m in items:
            if m.version in seen:
                other = seen[m.version]
                raise InvalidMigrationSet(
                    f"version {m.version} is defined twice ({other.source or other.version.text}"
                    f" and {m.source or m.version.text}); every migration needs its own version"
                )
            if not normalize_sql(m.up):
                raise InvalidMigrationSet(f"migration {m.version} ({m.source}) has empty up SQL")
            check_migration(m)
            seen[m.version] = m
        self._items = items
        self._by_version = seen

    def __getitem__(self, index: int) -> Migration:  # type: ignore[override]
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Migration]:
        return iter(self._items)

    def get(self, version: Version) -> Migration | None:
        return self._by_version.get(version)

    @property
    def latest(self) -> Version | None:
        return self._items[-1].version if self._items else None
