"""Durations in a SchemaVersion's spec (``500ms``, ``2s``, ``5m``, ``1h30m``), and their bounds.

One definition, shared by the CRD schema (``schemas/common.json``, pattern
``DURATION_PATTERN``; each field's bounds as a CEL rule) and the operator, which
checks the same bounds again for objects admitted before a CRD upgrade: a value
out of bounds is a ``Stalled`` condition (``InvalidSpec``), never a crash loop.

The format is hours, minutes, seconds and milliseconds in that order, each at
most 6 digits, so every value fits a Go ``time.Duration`` and CEL's
``duration()`` never fails on an admitted string.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

DURATION_PATTERN: Final = r"^(([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?([0-9]{1,6}ms)?)$"
_DURATION_RE: Final = re.compile(
    r"^(?:(?P<h>[0-9]{1,6})h)?(?:(?P<m>[0-9]{1,6})m)?(?:(?P<s>[0-9]{1,6})s)?"
    r"(?:(?P<ms>[0-9]{1,6})ms)?$"
)


class InvalidDuration(ValueError):
    """A duration that is malformed or outside its field's bounds."""


def parse_ms(text: str) -> int:
    """``'1h30m'`` -> 5400000 (whole milliseconds); raises :class:`InvalidDuration`."""
    m = _DURATION_RE.match(text) if isinstance(text, str) and text else None
    if m is None or not any(m.groupdict().values()):
        raise InvalidDuration(
            f"invalid duration {text!r}: use hours, minutes, seconds and milliseconds in that "
            "order, e.g. 500ms, 2s, 5m or 1h30m"
        )
    parts = {k: int(v or 0) for k, v in m.groupdict().items()}
    return ((parts["h"] * 60 + parts["m"]) * 60 + parts["s"]) * 1000 + parts["ms"]


@dataclasses.dataclass(frozen=True)
class DurationField:
    """A spec field holding a duration, with its default and bounds (milliseconds)."""

    name: str
    default_ms: int | None
    min_ms: int
    max_ms: int
    why: str

    @property
    def key(self) -> str:
        """The field's key in the spec (``lockTimeout``)."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def cel_rule(self) -> str:
        return (
            f"duration(self) >= duration('{_text(self.min_ms)}') && "
            f"duration(self) <= duration('{_text(self.max_ms)}')"
        )

    @property
    def bounds_message(self) -> str:
        return (
            f"{self.name} must be between {_text(self.min_ms)} and {_text(self.max_ms)} "
            f"({self.why})"
        )

    def parse(self, text: str | None) -> int | None:
        """The field's value in ms (its default when unset); raises :class:`InvalidDuration`."""
        if text is None:
            return self.default_ms
        value = parse_ms(text)
        if not self.min_ms <= value <= self.max_ms:
            raise InvalidDuration(f"{self.bounds_message}, not {text}")
        return value


def format_ms(ms: int) -> str:
    """Milliseconds as the shortest duration string of the format (``1500`` -> ``1s500ms``)."""
    return _text(ms)


def _text(ms: int) -> str:
    """Milliseconds as the shortest duration string of the format."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, rest = divmod(rest, 1000)
    out = "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s"), (rest, "ms")) if n)
    return out or "0s"


# PostgreSQL's lock_timeout and statement_timeout take at most 2147483647 ms; 0 turns
# them off, which a SchemaVersion must not do by accident.
LOCK_TIMEOUT: Final = DurationField(
    "spec.lockTimeout",
    2000,
    1,
    3_600_000,
    "a statement waits at most this long for a lock, then is retried; 0 would turn it off",
)
STATEMENT_TIMEOUT: Final = DurationField(
    "spec.statementTimeout",
    None,
    1,
    86_400_000,
    "leave it unset for no statement timeout",
)
DRIFT_CHECK_INTERVAL: Final = DurationField(
    "spec.driftCheckInterval",
    300_000,
    10_000,
    86_400_000,
    "each check opens a database connection",
)
FIELDS: Final = (LOCK_TIMEOUT, STATEMENT_TIMEOUT, DRIFT_CHECK_INTERVAL)
