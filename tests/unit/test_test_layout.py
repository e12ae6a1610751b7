"""The test tiers share one rootdir without packages: pytest refuses two test files
with the same basename ("import file mismatch"), which stops the whole run at
collection. Catch it here, in the fast tier, with the names to rename."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_files_share_a_basename() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        by_name[path.name].append(str(path.relative_to(TESTS)))
    clashes = {
        name: sorted(paths)
        for name, paths in by_name.items()
        if len(paths) > 1 and name not in {"__init__.py", "conftest.py"}
    }
    assert not clashes, f"rename one of each (e.g. *_e2e.py, *_pg.py): {clashes}"
