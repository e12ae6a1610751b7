"""Keeping secrets out of every message: what this process knows is secret, and the scrubber.

Two lines of defence, both defined here (``schemaop.engine.connect`` re-exports
them as ``remember_secret`` and ``redact``):

1. Messages about a connection never quote the connection string or anything
   that came out of it: :mod:`schemaop.engine.connect` says what kind of problem
   it is and where the URL came from. Argument values that look like a
   connection string (:func:`looks_like_url`) are never echoed; names that go
   into SQL (schemas) are checked against :data:`IDENTIFIER_RE` and refused
   without being echoed.
2. The scrubber, :func:`scrub`: every secret value this process has read is
   remembered (:func:`remember`, :func:`remember_connection_string`) together
   with the forms a mangled message could show it in, and removed from every
   log record (:func:`install_log_scrubber`, once per process), every CLI error
   line, the Job's termination message, and every status and Event message
   the operator writes (:func:`scrub_messages`).

What is remembered for a password (or any other secret value):

- the value as typed and percent-decoded, if it is at least
  :data:`MIN_SECRET_LENGTH` (3) characters long;
- its fragments, split on ``@ : / ? # & = , ;`` and whitespace (the places a
  misread URL cuts it), if a fragment is at least :data:`MIN_FRAGMENT_LENGTH`
  (4) characters long. Shorter pieces are not scrubbed literally: they would
  turn every other word of every message into ``***`` and hide next to
  nothing. They are still never printed, because of line 1 above.

For a connection string, the whole string is remembered, and so is everything
that could be its password: libpq's reading of it and, for a URL, all of the
user-info part between ``user:`` and the *last* ``@`` before the host (an
unencoded ``@`` or ``/`` in a password makes libpq cut it short; the rest ends
up in the host or database name).

Scrubbing over-matches on purpose: a password that is also part of a host
name turns that part of the host name into ``***`` too.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

__all__ = [
    "IDENTIFIER_RE",
    "MASK",
    "MIN_FRAGMENT_LENGTH",
    "MIN_SECRET_LENGTH",
    "ScrubbingWriter",
    "install_log_scrubber",
    "is_identifier",
    "looks_like_url",
    "path_argument",
    "remember",
    "remember_connection_string",
    "remember_possible_urls",
    "schema_list_argument",
    "schema_name_argument",
    "scrub",
    "scrub_json_text",
    "scrub_messages",
    "shown",
]

MASK = "***"
MIN_SECRET_LENGTH = 3
MIN_FRAGMENT_LENGTH = 4
# At most this many remembered values: an operator reads one Secret per
# SchemaVersion (and again after each rotation); beyond this the oldest go.
_MAX_REMEMBERED = 20_000
# Values longer than this are looked for with str.find, not in the trie regex.
_TRIE_DEPTH = 256

# A schema name schemaop accepts from flags and settings: 1 to 63 characters
# (PostgreSQL cuts longer names short), no control characters, and none of the
# URL punctuation ``@ : /``, so a connection string pasted in the wrong place is
# refused instead of becoming a schema's name. Anything else is allowed (names
# reach SQL only as quoted identifiers): ``Odd Schema`` is fine.
IDENTIFIER_RE = re.compile(r"^[^\x00-\x1f\x7f@:/]{1,63}$")

_SEPARATORS = re.compile(r"[@:/?#&=,;\s]+")
# scheme://user:PASSWORD@ (the password runs to the last @ of the token, so an
# unencoded @ in it is covered); also scheme:/ after a path normalisation. The
# scheme is bounded: unbounded, every letter of a long word would start a scan to
# its end (quadratic: a 64 KiB log line took minutes); a longer scheme still
# matches, from a later letter, and masks the same password.
_URL_PASSWORD_RE = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]{0,31}:/+[^/@\s:'\"]*:)(?P<pw>[^\s'\"]*)(?=@)", re.I
)
_KV_PASSWORD_RE = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)
_URL_LIKE_RE = re.compile(r"://|^[^\s/]*:[^\s]*@|\bpassword\s*=", re.I)


class _Remembered:
    """The secret values this process has read, and how to find them fast in a message.

    Most values are matched by one compiled trie regex; values added since it
    was compiled (and very long ones) are looked for with ``str.find``. The
    regex is rebuilt only when the recent ones reach a quarter of the compiled
    ones, so an operator reading a thousand Secrets compiles it a few dozen
    times, not a thousand.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, None] = {}  # an insertion-ordered set: the oldest go first
        self.pattern: re.Pattern[str] | None = None
        self.recent: list[str] = []  # not in the pattern yet
        self.long: list[str] = []  # longer than the trie goes: always by str.find
        self.log_scrubber = False

    def add(self, value: str, minimum: int) -> None:
        if len(value) < minimum or value in self.values:
            return
        with self.lock:
            # The same value as it appears inside a JSON string (quotes, backslashes).
            for form in dict.fromkeys((value, json.dumps(value)[1:-1])):
                self.values[form] = None
                (self.long if len(form) > _TRIE_DEPTH else self.recent).append(form)
            if len(self.values) > _MAX_REMEMBERED:
                while len(self.values) > _MAX_REMEMBERED:
                    del self.values[next(iter(self.values))]
                self.long = [v for v in self.long if v in self.values]
                self.pattern, self.recent = None, []

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where remembered values occur in ``text`` (overlapping ones too)."""
        with self.lock:
            if self.pattern is None or len(self.recent) > max(32, len(self.values) // 4):
                short = [v for v in self.values if len(v) <= _TRIE_DEPTH]
                self.pattern = re.compile(f"(?=({_trie_pattern(short)}))") if short else None
                self.recent = []
            pattern, plain = self.pattern, self.recent + self.long
        found = []
        if pattern is not None:
            found = [(m.start(), m.end(1)) for m in pattern.finditer(text) if m.end(1) > m.start()]
        for value in plain:
            at = text.find(value)
            while at >= 0:
                found.append((at, at + len(value)))
                at = text.find(value, at + 1)
        return found


def _trie_pattern(values: list[str]) -> str:
    """One regex matching any of ``values``, longest first, factored as a trie.

    A flat alternation of thousands of literals is tried one by one at every
    position of every message (about 0.4 s a message with 2,000 values); the
    trie branches on one character at a time instead.
    """
    end = ""  # the key marking that a value ends at this node
    trie: dict[str, Any] = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[end] = {}
    # Built bottom-up without recursion (values can be long): node id -> regex.
    order: list[dict[str, Any]] = []
    stack = [trie]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(child for key, child in node.items() if key != end)
    built: dict[int, str] = {}
    for node in reversed(order):
        alts = [re.escape(k) + built[id(c)] for k, c in sorted(node.items()) if k != end]
        if not alts:
            built[id(node)] = ""
            continue
        group = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        # A value ending here, and longer ones going on: the greedy '?' tries longer first.
        built[id(node)] = f"(?:{group})?" if end in node else group
    return built[id(trie)]


_REMEMBERED = _Remembered()


def _add(value: str, minimum: int) -> None:
    """Remember one value (and its JSON-string form) if it has ``minimum`` characters."""
    _REMEMBERED.add(value, minimum)


def remember(value: str | None) -> None:
    """Scrub ``value``, its percent-decoded form and its long fragments from now on."""
    if not value:
        return
    forms = {value, unquote(value)}
    for form in forms:
        _add(form, MIN_SECRET_LENGTH)
        for fragment in _SEPARATORS.split(form):
            if fragment != form:
                _add(fragment, MIN_FRAGMENT_LENGTH)


def _url_userinfo_password(text: str) -> str | None:
    """Everything that could be the password of a URL, however badly it is encoded."""
    rest = text.split("://", 1)[1] if "://" in text else text
    before_query = rest.split("?", 1)[0]
    # A '?' before every '@' is more likely part of the password than a query.
    rest = before_query if "@" in before_query else rest
    if "@" not in rest:
        return None
    userinfo = rest.rsplit("@", 1)[0]
    if ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def remember_connection_string(text: str | None, parsed_password: str | None = None) -> None:
    """Remember a connection string (URL or ``key=value``) and every candidate password in it.

    ``parsed_password`` is libpq's reading of the password, when it could read one.
    """
    if not text:
        return
    _add(text, MIN_SECRET_LENGTH)
    remember(parsed_password)
    remember(_url_userinfo_password(text))
    for match in _KV_PASSWORD_RE.finditer(text):
        remember(match.group("pw").strip("'"))


def looks_like_url(value: str) -> bool:
    """Whether ``value`` looks like a connection string (so it must never be echoed)."""
    return bool(_URL_LIKE_RE.search(value))


def remember_possible_urls(values: Iterable[str]) -> None:
    """Remember every value that looks like a connection string (e.g. the command line)."""
    for value in values:
        if looks_like_url(value):
            remember_connection_string(value)


def shown(value: str) -> str:
    """``value`` quoted for a message, or a placeholder when it looks like a connection string."""
    if looks_like_url(value) or scrub(value) != value:
        return "(not shown: it looks like a connection string)"
    return repr(value)


def is_identifier(name: str) -> bool:
    """Whether ``name`` is a schema name schemaop accepts (:data:`IDENTIFIER_RE`, 63 bytes)."""
    return IDENTIFIER_RE.match(name) is not None and len(name.encode()) <= 63


_URL_NOT_PATH = (
    "this looks like a database URL, not a path (it is not shown); "
    "give the URL with --database-url or $DATABASE_URL"
)
_NOT_A_SCHEMA = (
    "not a schema name (it is not shown): at most 63 bytes, "
    "no control characters and none of '@', ':' and '/'"
)


def path_argument(value: str) -> str:
    """argparse type of a path: refuses, without echoing it, a value that looks like a URL."""
    if looks_like_url(value):
        raise argparse.ArgumentTypeError(_URL_NOT_PATH)
    return value


def schema_name_argument(value: str) -> str:
    """argparse type of a schema name (:data:`IDENTIFIER_RE`); refuses without echoing."""
    if not is_identifier(value):
        raise argparse.ArgumentTypeError(_NOT_A_SCHEMA)
    return value


def schema_list_argument(value: str) -> str:
    """argparse type of comma-separated schema names; refuses without echoing."""
    for name in value.split(","):
        if name.strip() and not is_identifier(name.strip()):
            raise argparse.ArgumentTypeError(_NOT_A_SCHEMA)
    return value


def scrub(text: str) -> str:
    """``text`` with every remembered secret, and any URL or ``password=`` password, masked."""
    if not text:
        return text
    spans = sorted(_REMEMBERED.spans(text))
    if spans:
        # The union of every occurrence is masked, so two overlapping values
        # (a password and a fragment of another one) leave nothing between them.
        merged: list[list[int]] = []
        for start, stop in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        out, pos = [], 0
        for start, stop in merged:
            out += [text[pos:start], MASK]
            pos = stop
        out.append(text[pos:])
        text = "".join(out)
    text = _URL_PASSWORD_RE.sub(lambda m: m.group("head") + MASK, text)
    return _KV_PASSWORD_RE.sub(lambda m: m.group("head") + MASK, text)


# Keys whose string values are human text in status, Events and run summaries:
# those are scrubbed. Machine fields (hashes, fingerprints, versions) are left
# alone, so a short password can never corrupt them.
MESSAGE_KEYS = frozenset({"message", "detail", "hint", "error", "statement", "notices"})


def scrub_messages(obj: Any, *, everything: bool = False) -> Any:
    """A copy of ``obj`` (JSON-like) with the strings under :data:`MESSAGE_KEYS` scrubbed."""
    if isinstance(obj, str):
        return scrub(obj) if everything else obj
    if isinstance(obj, dict):
        return {
            k: scrub_messages(v, everything=everything or k in MESSAGE_KEYS) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [scrub_messages(v, everything=everything) for v in obj]
    return obj


def scrub_json_text(text: str) -> str:
    """A JSON document's human text scrubbed (structurally, so it stays valid JSON).

    Text that is not JSON is scrubbed as text.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return scrub(text)
    cleaned = scrub_messages(data)
    if cleaned == data:
        return text
    separators: tuple[str, str] | None = (",", ":")
    if json.dumps(data, sort_keys=True, default=str) == text:
        separators = None
    return json.dumps(cleaned, sort_keys=True, separators=separators, default=str)


class ScrubbingWriter:
    """A text stream whose writes go through :func:`scrub` first (the CLI's stderr).

    Everything else (``fileno``, ``flush``, ``isatty``...) is the wrapped stream's.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def install_log_scrubber() -> None:
    """Scrub every log record of this process, whichever logger or handler it goes to.

    Wraps the log record factory: a record's message (with its arguments
    merged in) and its exception text are scrubbed when the record is made,
    before any handler, formatter or kopf's Event poster sees it.
    """
    if _REMEMBERED.log_scrubber:
        return
    _REMEMBERED.log_scrubber = True
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it itself
            return record
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[0] is not None:
            raw = formatter.formatException(record.exc_info)
            text = scrub(raw)
            if text != raw:
                # Formatters print exc_text when exc_info is gone; nothing can re-render
                # the original traceback with the secret in it.
                record.exc_info, record.exc_text = None, text
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
