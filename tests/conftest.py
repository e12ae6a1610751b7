"""Shared pytest fixtures: the three test tiers and the real services they use.

Tiers are set by directory (tests/unit, tests/integration, tests/e2e) and exposed
as markers, so `pytest -m unit` runs only the fast pure tests. Services are real:
a throwaway PostgreSQL started once per session; the local Kubernetes control
plane (see tests/e2e/conftest.py). When a service cannot be started and the
environment variable CI is set, that is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv import pg as devpg
from devenv import pgbouncer as devpgbouncer

TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


def unavailable(what: str, why: BaseException | str) -> None:
    """A missing service: fail in CI, skip (loudly) on a developer's machine."""
    message = f"{what} is not available: {why}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: a missing dependency is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devpg.Postgres]:
    """A real PostgreSQL server for the whole session."""
    try:
        server = devpg.start(tmp_path_factory.mktemp("postgres"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        unavailable("PostgreSQL", exc)
        raise
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def database(postgres: devpg.Postgres) -> Iterator[str]:
    """A fresh, empty database for one test; returns its DSN (superuser)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres.create_database(name)
    yield dsn
    postgres.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pgbouncer(
    postgres: devpg.Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, devpgbouncer.PgBouncer]]:
    """Real PgBouncers in front of ``postgres``, by pool mode (``transaction`` and
    ``session``), each on a free loopback port; ``.via(dsn)`` is a database's DSN
    through it."""
    bouncers: dict[str, devpgbouncer.PgBouncer] = {}
    try:
        for mode in ("transaction", "session"):
            bouncers[mode] = devpgbouncer.start(
                tmp_path_factory.mktemp(f"pgbouncer-{mode}"), postgres.port, mode
            )
    except Exception as exc:  # pragma: no cover - depends on the machine
        for bouncer in bouncers.values():
            bouncer.destroy()
        unavailable("PgBouncer", exc)
        raise
    try:
        yield bouncers
    finally:
        for bouncer in bouncers.values():
            bouncer.destroy()
