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
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from schemaop.model.version import Version


def normalize_sql(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def checksum(
    up: str, down: str | None, transactional: bool = True, batched: Batched | None = None
) -> str:
    """sha256 over the normalized up and down text (and the transactional flag).

    A batched migration's settings (:class:`Batched`) are part of it too; they are
    added only when present, so the checksum of every other migration is unchanged.
    """
    h = hashlib.sha256()
    h.update(b"schemaop-checksum-v1\0up\0")
    h.update(normalize_sql(up).encode())
    h.update(b"\0down\0")
    if down is not None and normalize_sql(down):
        h.update(normalize_sql(down).encode())
    h.update(b"\0transactional\0" + (b"1" if transactional else b"0"))
    if batched is not None:
        h.update(b"\0batched\0")
        h.update(batched.canonical().encode())
    return h.hexdigest()


def down_checksum(
    down: str | None, transactional: bool = True, batched: Batched | None = None
) -> str:
    """sha256 over a down step alone: its normalized text and the transactional flag.

    What the history records beside a recorded down SQL (docs/engine.md), so the
    record can be checked without the up SQL; ``down`` None (or blank) is "the
    migration has no down step", which has a checksum too. ``batched``: the
    settings of a down that runs batch by batch (``batched.down``), added only
    when given, so the checksum of every other down is unchanged.
    """
    h = hashlib.sha256()
    h.update(b"schemaop-down-checksum-v1\0down\0")
    if down is not None and normalize_sql(down):
        h.update(normalize_sql(down).encode())
    h.update(b"\0transactional\0" + (b"1" if transactional else b"0"))
    if batched is not None:
        h.update(b"\0batched\0")
        h.update(batched.canonical().encode())
    return h.hexdigest()


# PostgreSQL's lexer (scan.l, standard_conforming_strings on), reduced to what
# decides where a token that can swallow text starts. Identifiers are matched whole
# so that ``$`` inside one (``a$b$``) and a letter before a quote (``ae'x'``) are not
# mistaken for a dollar quote or a string prefix.
# The classes are written as "not one of these ASCII characters": the same sets as
# [A-Za-z_\u0080-\U0010FFFF] (and with 0-9, $), which take re 20 ms to compile, at
# every start of every process that imports this module (each migration Job).
_IDENT_START: Final = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"  # A-Za-z_, non-ASCII
_IDENT_CONT: Final = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # and 0-9 $
_DELIM_CONT: Final = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # and 0-9
_TOKEN: Final = re.compile(
    rf"(?P<estr>[eE]')|(?P<pstr>(?:[bBxXnN]|[uU]&)')|(?P<uident>[uU]&\")"
    rf"|(?P<ident>{_IDENT_START}{_IDENT_CONT}*)"
    r"|(?P<line>--)|(?P<block>/\*)|(?P<str>')|(?P<qident>\")|(?P<dollar>\$)"
)
_DOLLAR_DELIM: Final = re.compile(rf"\$(?:{_IDENT_START}{_DELIM_CONT}*)?\$")
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
    for token in _scan(text):
        if isinstance(token, _Unterminated):
            return _unterminated(text, token.start, token.what, token.closer)
    return None


@dataclasses.dataclass(frozen=True)
class _Unterminated:
    """The text ends inside ``what`` opened at ``start``; ``closer`` would close it."""

    start: int
    what: str
    closer: str


def _scan(text: str) -> Iterator[re.Match[str] | _Unterminated]:
    """The identifiers of ``text`` outside quotes, comments and dollar bodies, in order.

    PostgreSQL's lexer as far as :func:`text_problem` and :func:`placeholders` need
    it; when the text ends inside a string, a quoted identifier, a block comment or
    a dollar-quoted body, the last item says which (a line comment may end the
    text: the runner adds a newline).
    """
    pos = 0
    while True:
        m = _TOKEN.search(text, pos)
        if m is None:
            return
        kind, start = m.lastgroup, m.start()
        if kind == "ident":
            yield m
            pos = m.end()
            continue
        if kind == "line":
            end_m = _LINE_END.search(text, m.end())
            if end_m is None:
                return
            pos = end_m.end()
            continue
        if kind == "dollar":
            delim = _DOLLAR_DELIM.match(text, start)
            if delim is None:  # a parameter ($1) or a lone $
                pos = m.end()
                continue
            close = text.find(delim.group(), delim.end())
            if close < 0:
                yield _Unterminated(start, f"a {delim.group()}-quoted body", delim.group())
                return
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
            yield _Unterminated(start, what, closer)
            return
        pos = end


def _unterminated(text: str, start: int, what: str, closer: str) -> str:
    return (
        f"ends inside {what} opened at {_where(text, start)}; close it with {closer} "
        "(PostgreSQL would read what follows the migration as part of it)"
    )


# --- batched data migrations -------------------------------------------------------

_SIMPLE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
# Bounds of the batched settings (the CRD schema says the same: a unit test compares).
BATCH_SIZE_MAX: Final = 1_000_000
BATCH_KEY_COLUMNS_MAX: Final = 8
BATCH_TARGET_MS: Final = (10, 60_000)
BATCH_PAUSE_MS_MAX: Final = 3_600_000
BATCH_ATTEMPTS: Final = (1, 100)
#: The placeholder prefixes of a batch's key range (both bounds inclusive).
LOW, HIGH = "lo_", "hi_"


@dataclasses.dataclass(frozen=True)
class Batched:
    """How a batched data migration pages through its table (see docs/data-migrations.md).

    ``table`` is ``name`` or ``schema.name`` (unquoted identifiers, folded to lower
    case as PostgreSQL does); ``key`` the columns of a unique, not-null key, in
    the order the engine pages by. The batch SQL names the bounds of each batch as
    ``:lo_<column>`` and ``:hi_<column>`` (inclusive).
    """

    table: str
    key: tuple[str, ...]
    target_ms: int = 500
    initial_size: int = 1000
    min_size: int = 10
    max_size: int = 50_000
    pause_ms: int = 0
    down: bool = False
    max_attempts: int = 5

    @property
    def table_parts(self) -> tuple[str, ...]:
        """``("public", "orders")`` or ``("orders",)``: the identifiers, folded."""
        return tuple(p.lower() for p in self.table.split("."))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.lower() for c in self.key)

    def placeholder_names(self) -> set[str]:
        return {p + c for c in self.columns for p in (LOW, HIGH)}

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: in the plan step and in the checksum."""
        return {
            "table": self.table,
            "key": list(self.key),
            "targetBatchDurationMs": self.target_ms,
            "initialBatchSize": self.initial_size,
            "minBatchSize": self.min_size,
            "maxBatchSize": self.max_size,
            "pauseMs": self.pause_ms,
            "down": self.down,
            "maxBatchAttempts": self.max_attempts,
        }

    def canonical(self) -> str:
        """:meth:`to_dict` as compact JSON with sorted keys: the one text of the settings
        that checksums cover and the history records (``down_batched``)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_spec(self) -> dict[str, Any]:
        """As a SchemaMigration's ``spec.batched`` (durations as text); from_spec reads it."""
        from schemaop.model.duration import format_ms

        return {
            "table": self.table,
            "key": list(self.key),
            "targetBatchDuration": format_ms(self.target_ms),
            "initialBatchSize": self.initial_size,
            "minBatchSize": self.min_size,
            "maxBatchSize": self.max_size,
            "pause": format_ms(self.pause_ms),
            "down": self.down,
            "maxBatchAttempts": self.max_attempts,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Batched:
        """From :meth:`to_dict` (a plan file); raises ValueError with the problem."""
        if not isinstance(data, dict):
            raise ValueError("batched must be an object")
        d = cls("t", ("k",))
        key = data.get("key")
        if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
            raise ValueError("batched.key must be a list of column names")
        out = cls(
            table=_typed(data.get("table"), str, "batched.table"),
            key=tuple(key),
            target_ms=_typed(data.get("targetBatchDurationMs", d.target_ms), int, "target"),
            initial_size=_typed(data.get("initialBatchSize", d.initial_size), int, "initial"),
            min_size=_typed(data.get("minBatchSize", d.min_size), int, "minBatchSize"),
            max_size=_typed(data.get("maxBatchSize", d.max_size), int, "maxBatchSize"),
            pause_ms=_typed(data.get("pauseMs", d.pause_ms), int, "pauseMs"),
            down=_typed(data.get("down", False), bool, "batched.down"),
            max_attempts=_typed(data.get("maxBatchAttempts", d.max_attempts), int, "attempts"),
        )
        problem = out.problem()
        if problem is not None:
            raise ValueError(problem)
        return out

    @classmethod
    def from_spec(cls, spec: Any) -> Batched:
        """From a SchemaMigration's ``spec.batched`` (durations as text); ValueError."""
        from schemaop.model.duration import parse_ms

        if not isinstance(spec, dict):
            raise ValueError("spec.batched must be an object")
        key = spec.get("key")
        if isinstance(key, str):
            key = [key]
        data: dict[str, Any] = {"table": spec.get("table"), "key": key}
        for name in ("initialBatchSize", "minBatchSize", "maxBatchSize", "maxBatchAttempts"):
            if name in spec:
                data[name] = spec[name]
        if "down" in spec:
            data["down"] = spec["down"]
        if "targetBatchDuration" in spec:
            data["targetBatchDurationMs"] = parse_ms(str(spec["targetBatchDuration"]))
        if "pause" in spec:
            data["pauseMs"] = parse_ms(str(spec["pause"]))
        return cls.from_dict(data)

    def problem(self) -> str | None:
        """What is wrong with the settings themselves; None when they are sane."""
        parts = self.table.split(".")
        if len(parts) > 2 or not all(_SIMPLE_NAME.match(p) for p in parts):
            return (
                f"batched.table {self.table!r} must be a table name or schema.name "
                "(unquoted identifiers)"
            )
        if not 1 <= len(self.key) <= BATCH_KEY_COLUMNS_MAX:
            return f"batched.key needs 1 to {BATCH_KEY_COLUMNS_MAX} columns"
        for col in self.key:
            if not _SIMPLE_NAME.match(col):
                return f"batched.key column {col!r} must be an unquoted identifier"
        if len(set(self.columns)) != len(self.key):
            return "batched.key names a column twice"
        lo, hi = BATCH_TARGET_MS
        if not lo <= self.target_ms <= hi:
            return f"batched.targetBatchDuration must be between {lo}ms and {hi // 1000}s"
        if not 1 <= self.min_size <= self.max_size <= BATCH_SIZE_MAX:
            return f"batch sizes must satisfy 1 <= minBatchSize <= maxBatchSize <= {BATCH_SIZE_MAX}"
        if not self.min_size <= self.initial_size <= self.max_size:
            return "batched.initialBatchSize must be between minBatchSize and maxBatchSize"
        if not 0 <= self.pause_ms <= BATCH_PAUSE_MS_MAX:
            return "batched.pause must be between 0s and 1h"
        lo, hi = BATCH_ATTEMPTS
        if not lo <= self.max_attempts <= hi:
            return f"batched.maxBatchAttempts must be between {lo} and {hi}"
        return None


def _typed(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{what} must be {'a number' if kind is int else kind.__name__}")
    return value


@dataclasses.dataclass(frozen=True)
class Placeholder:
    """``:lo_id`` at ``start``..``end`` of the text; ``name`` is ``lo_id``."""

    name: str
    start: int
    end: int


def placeholders(text: str) -> list[Placeholder]:
    """Every ``:lo_<col>``/``:hi_<col>`` outside quotes, comments and dollar bodies.

    The same lexer as :func:`text_problem`; ``x::lo_type`` (a cast) is not one.
    """
    found: list[Placeholder] = []
    for m in _scan(text):
        if isinstance(m, _Unterminated):
            break
        start = m.start()
        if (
            start > 0
            and text[start - 1] == ":"
            and (start < 2 or text[start - 2] != ":")
            and m.group().lower().startswith((LOW, HIGH))
        ):
            found.append(Placeholder(m.group().lower(), start - 1, m.end()))
    return found


def with_parameters(text: str, order: Sequence[str]) -> str:
    """``text`` with each placeholder replaced by ``$n`` (its index in ``order``, from 1).

    The only change made to a batch's SQL before it is sent (as a parameterized
    statement: the server infers each parameter's type).
    """
    out: list[str] = []
    pos = 0
    index = {name: i + 1 for i, name in enumerate(order)}
    for p in placeholders(text):
        out += [text[pos : p.start], f"${index[p.name]}"]
        pos = p.end
    out.append(text[pos:])
    return "".join(out)


_DML: Final = {"UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "InsertStmt": "INSERT"}


def batch_sql_problem(text: str, batched: Batched, what: str) -> str | None:
    """Why ``text`` cannot be the SQL of one batch; None when it can.

    Exactly one UPDATE, DELETE or INSERT, with both bounds of every key column
    (``:lo_<col>``, ``:hi_<col>``) and no other ``:lo_``/``:hi_`` placeholder.
    """
    import pglast
    from pglast.parser import ParseError

    found = {p.name for p in placeholders(text)}
    wanted = batched.placeholder_names()
    missing = sorted(wanted - found)
    if missing:
        shown = ", ".join(":" + n for n in missing)
        return (
            f"{what} of a batched migration does not use {shown}: each batch must be "
            f"bounded by its key range, e.g. WHERE {batched.columns[0]} BETWEEN "
            f":lo_{batched.columns[0]} AND :hi_{batched.columns[0]}"
        )
    unknown = sorted(found - wanted)
    if unknown:
        return (
            f"{what} uses :{unknown[0]}, which is not a bound of the key "
            f"({', '.join(batched.columns)})"
        )
    order = sorted(wanted)
    try:
        tree = pglast.parse_sql(with_parameters(text, order))
    except ParseError as exc:
        return f"{what} does not parse: {exc}"
    kinds = [type(raw.stmt).__name__ for raw in tree]
    if len(kinds) != 1 or kinds[0] not in _DML:
        return (
            f"{what} of a batched migration must be exactly one UPDATE, DELETE or INSERT "
            f"statement (found {len(kinds)} statement(s): "
            f"{', '.join(k.removesuffix('Stmt') for k in kinds) or 'none'})"
        )
    return None


def batched_down(batched: Batched | None) -> Batched | None:
    """``batched`` when the down step runs batch by batch too (``batched.down``), else
    None: the settings a down's checksum and its history record carry."""
    return batched if batched is not None and batched.down else None


def batched_problem(m: Migration) -> str | None:
    """Why a batched migration cannot run as declared; None when it can."""
    b = m.batched
    if b is None:
        return None
    problem = b.problem()
    if problem is not None:
        return problem
    if not m.transactional:
        return (
            "a batched migration cannot be transactional: false (each batch runs in its "
            "own short transaction); remove one of them"
        )
    problem = batch_sql_problem(m.up, b, "the up SQL")
    if problem is None and b.down:
        if m.down is None or not normalize_sql(m.down):
            return "batched.down is true but the migration has no down SQL"
        problem = batch_sql_problem(m.down, b, "the down SQL")
    return problem


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

    # A batched data migration (see :class:`Batched`); None for an ordinary one.
    batched: Batched | None = None

    @property
    def checksum(self) -> str:
        return checksum(self.up, self.down, self.transactional, self.batched)

    @property
    def down_checksum(self) -> str:
        """Its down step's own checksum (:func:`down_checksum`), as the history records it."""
        return down_checksum(self.down, self.transactional, self.down_batched)

    @property
    def down_batched(self) -> Batched | None:
        """The batched settings its down step runs with (:func:`batched_down`)."""
        return batched_down(self.batched)

    @property
    def reversible(self) -> bool:
        return self.down is not None and bool(normalize_sql(self.down))

    @classmethod
    def from_spec(cls, spec: Any, source: str) -> Migration:
        """A SchemaMigration's ``spec`` as a migration; ``source`` names it in messages.

        The one reading of a SchemaMigration: the operator's, ``schemaop lint``'s of a
        YAML file and ``schemaop validate``'s. Raises ValueError (InvalidVersion is
        one) with the problem alone; the caller says which object. The CRD refuses
        these values at admission, but a YAML file on disk or an object admitted
        before a CRD upgrade can still hold one, and must be refused, not guessed at.
        The set's own checks (:func:`check_migration`) are not made here.
        """
        if not isinstance(spec, Mapping):
            raise ValueError("spec must be an object")
        up, down = spec.get("up"), spec.get("down")
        if not isinstance(up, str):
            raise ValueError("spec.up must be a string")
        if down is not None and not isinstance(down, str):
            raise ValueError("spec.down must be a string")
        transactional = spec.get("transactional", True)
        if not isinstance(transactional, bool):
            raise ValueError(f"spec.transactional must be true or false, not {transactional!r}")
        return cls(
            version=Version(str(spec.get("version", ""))),
            description=str(spec.get("description", "")),
            up=up,
            down=down,
            transactional=transactional,
            source=source,
            batched=None if spec.get("batched") is None else Batched.from_spec(spec["batched"]),
        )


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
    if m.batched is not None:
        problem = batched_problem(m)
        if problem is not None:
            raise InvalidMigrationSet(f"{name}: {problem}")


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
