"""The operator's cache of each SchemaMigration's lint findings (operator/lintgate.py)."""

from __future__ import annotations

from schemaop.model import Migration, Version
from schemaop.operator.lintgate import LintCache


def mig(version: str, up: str) -> Migration:
    return Migration(Version(version), f"m{version}", up, None, True)


def test_findings_by_version_cached_by_the_sets_checksums_and_bounded() -> None:
    cache = LintCache(limit=1)
    ms = [mig("1", "CREATE TABLE t (a int);"), mig("2", "DROP TABLE t;")]
    first = cache.by_version(ms)
    assert set(first) == {"1", "2"}
    assert set(first["2"]) == {"errors", "warnings", "findings"}
    assert cache.by_version(list(ms)) is first  # same checksums: not linted again
    edited = [ms[0], mig("2", "SELECT 1;")]
    assert cache.by_version(edited) is not first
    cache.by_version([mig("3", "SELECT 1;")])  # past the limit: the cache starts over
    assert cache.by_version(ms) is not first
