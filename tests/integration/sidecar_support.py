"""Helpers for the sidecar's integration tests: a schema with every mapped type,
a read-only role, an in-process sidecar on a free port, and applying a migration
through the engine."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from schemaop.sidecar.app import make_cache, running
from schemaop.sidecar.cache import SchemaCache
from schemaop.sidecar.config import SidecarConfig

ALL_TYPES_SQL = """
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN public.posint AS integer NOT NULL CHECK (VALUE > 0);
CREATE TABLE public.authors (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name varchar(40) NOT NULL UNIQUE,
  email text
);
COMMENT ON TABLE public.authors IS 'people who write';
CREATE TABLE public.everything (
  id serial PRIMARY KEY,
  small smallint NOT NULL,
  big bigint,
  price numeric(7,2) CHECK (price >= 0),
  ratio double precision,
  score real,
  title text NOT NULL,
  code char(3),
  short varchar(5) NOT NULL DEFAULT 'x',
  flag boolean NOT NULL,
  born date,
  at_time time,
  at_ts timestamp,
  at_tstz timestamptz NOT NULL DEFAULT now(),
  uid uuid,
  doc json,
  docb jsonb,
  tags text[],
  nums integer[],
  feeling public.mood NOT NULL,
  qty public.posint,
  status text CHECK (status IN ('draft', 'published')),
  pct integer CHECK (pct BETWEEN 0 AND 100),
  label varchar(10) CHECK (char_length(label) >= 2),
  author_id bigint REFERENCES public.authors(id) ON DELETE CASCADE,
  doubled integer GENERATED ALWAYS AS (small * 2) STORED
);
COMMENT ON COLUMN public.everything.title IS 'the title';
CREATE INDEX everything_title_idx ON public.everything (lower(title)) WHERE flag;
CREATE VIEW public.published AS SELECT id, title FROM public.everything WHERE status = 'published';
"""


def run_sql(dsn: str, text: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(text.encode())


def read_only_dsn(dsn: str) -> str:
    """Create a login role with only CONNECT (the documented grants) and return its DSN."""
    parts = urlsplit(dsn)
    dbname = parts.path.lstrip("/")
    role, password = f"sidecar_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(dbname), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS schemaop"))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA schemaop TO {}").format(sql.Identifier(role)))
        for grant in (
            "GRANT SELECT ON ALL TABLES IN SCHEMA schemaop TO {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA schemaop GRANT SELECT ON TABLES TO {}",
        ):
            conn.execute(sql.SQL(grant).format(sql.Identifier(role)))
    host = parts.hostname
    return f"postgresql://{role}:{password}@{host}:{parts.port}/{dbname}"


@contextlib.asynccontextmanager
async def sidecar(dsn: str, **overrides: Any) -> AsyncIterator[tuple[str, SchemaCache]]:
    """An in-process sidecar on a free loopback port; yields its base URL and cache."""
    settings: dict[str, Any] = {
        "database_url": dsn,
        "host": "127.0.0.1",
        "port": 0,
        "rate_limit": 0.0,
        "poll_interval": 30.0,
        "retry_interval": 0.2,
        **overrides,
    }
    config = SidecarConfig(**settings)
    cache = make_cache(config)
    async with running(config, cache) as (_, port):
        yield f"http://127.0.0.1:{port}", cache


async def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> float:
    """Poll an async or sync predicate; returns the seconds it took."""
    started = time.monotonic()
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.02)


def apply_migration(
    dsn: str, version: str, up: str, schemas: tuple[str, ...] = ("public",)
) -> None:
    """Apply one migration through the engine's planner and runner (as a Job would)."""
    from schemaop import planner
    from schemaop.engine import read_state, run_plan
    from schemaop.model import Migration, Version
    from schemaop.model.plan import RunOptions

    with psycopg.connect(dsn) as conn:
        state = read_state(conn)
    applied = [
        Migration(version=a.version, description=f"m{a.version}", up=_known[dsn][a.version.text])
        for a in state.applied
    ]
    new = Migration(version=Version(version), description=f"m{version}", up=up)
    _known.setdefault(dsn, {})[version] = up
    the_plan = planner.plan(
        [*applied, new], state, options=RunOptions(schemas=schemas, lock_wait_ms=5000)
    )
    result = run_plan(lambda: psycopg.connect(dsn), the_plan)
    assert result.ok, result.to_dict()


_known: dict[str, dict[str, str]] = {}
