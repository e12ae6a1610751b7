"""Migration versions: dot-separated non-negative integers, ordered numerically.

``3 < 10 < 10.1 < 2026.11.22.1``. Trailing zero parts are significant for
identity (``1`` and ``1.0`` are different strings) but not for order, which would
make two distinct migrations tie; so ``parse`` rejects a version whose parts
compare equal to another's only when both are present in one set (see
``model.migration.MigrationSet``). The same pattern is enforced at admission by
the CRD schema (schemas/), so the operator rarely sees a bad one.
"""

from __future__ import annotations

import functools
import re
from typing import Final

# The CRD schema's maxLength (schemas/common.json): the engine refuses what admission would.
MAX_LENGTH: Final = 64
VERSION_PATTERN: Final = r"^(0|[1-9][0-9]{0,17})(\.(0|[1-9][0-9]{0,17}))*$"
_VERSION_RE: Final = re.compile(VERSION_PATTERN)
LATEST: Final = "latest"


class InvalidVersion(ValueError):
    """A version string that is not dot-separated non-negative integers."""


@functools.total_ordering
class Version:
    """A parsed migration version. Hashable, ordered, printed as given."""

    __slots__ = ("_key", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not _VERSION_RE.match(text):
            raise InvalidVersion(
                f"invalid version {text!r}: use dot-separated non-negative integers "
                "without leading zeros, e.g. 3, 10.1 or 2026.11.22.1"
            )
        if len(text) > MAX_LENGTH:
            raise InvalidVersion(
                f"invalid version {text[:20]}... ({len(text)} characters): at most {MAX_LENGTH}"
            )
        self.text = text
        parts = [int(p) for p in text.split(".")]
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        self._key: tuple[int, ...] = tuple(parts)

    @property
    def key(self) -> tuple[int, ...]:
        """The numeric sort key (trailing zeros dropped, so ``1.0`` sorts with ``1``)."""
        return self._key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __lt__(self, other: Version) -> bool:
        return self._key < other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def parse_version(text: str) -> Version:
    return Version(text)


def is_valid_version(text: str) -> bool:
    return isinstance(text, str) and len(text) <= MAX_LENGTH and bool(_VERSION_RE.match(text))
