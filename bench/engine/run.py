"""Engine benchmark: 1,000 small migrations applied by schemaop, psql and peers.

    .venv/bin/python bench/engine/run.py [--count 1000] [--peers psql,schemaop,...]

Generates N small migrations (CREATE TABLE, ALTER TABLE ADD COLUMN, CREATE INDEX,
INSERT, in turn), starts a throwaway PostgreSQL (tools/devenv), and applies the same
SQL to a fresh empty database with each tool, timing the whole command (start-up
included). The physical limit is ``psql`` running the SQL in one session with one
transaction per migration. Each peer is installed by this script from its own
registry into bench/engine/.cache when missing; a peer that cannot be installed is
reported as skipped. Prints each time and its ratio to psql, then times
``schemaop status`` on the database with N applied migrations.
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from devenv import pg as devpg  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
VENV_BIN = Path(sys.executable).parent


def migration_sql(i: int) -> str:
    """Migration i (1-based): four kinds in turn, each touching the table of its group."""
    group = (i - 1) // 4
    table = f"t_{group:04d}"
    kind = (i - 1) % 4
    if kind == 0:
        return f"CREATE TABLE {table} (id bigint PRIMARY KEY, a int NOT NULL, b text);"
    if kind == 1:
        return f"ALTER TABLE {table} ADD COLUMN c timestamptz DEFAULT now();"
    if kind == 2:
        return f"CREATE INDEX {table}_a ON {table} (a);"
    return f"INSERT INTO {table} (id, a, b) VALUES (1, 1, 'one'), (2, 2, 'two');"


def generate(count: int, out: Path) -> dict[str, Path]:
    """Write the same migrations in every layout the tools need."""
    layouts = {
        name: out / name
        for name in ("flyway", "updown", "dbmate", "psql", "sqitch", "alembic")
    }
    for d in layouts.values():
        d.mkdir(parents=True)
    with open(layouts["psql"] / "all.sql", "w") as psql_file:
        for i in range(1, count + 1):
            sql = migration_sql(i)
            (layouts["flyway"] / f"V{i}__m{i}.sql").write_text(sql + "\n")
            (layouts["updown"] / f"{i:06d}_m{i}.up.sql").write_text(sql + "\n")
            (layouts["updown"] / f"{i:06d}_m{i}.down.sql").write_text("SELECT 1;\n")
            (layouts["dbmate"] / f"{i:06d}_m{i}.sql").write_text(
                f"-- migrate:up\n{sql}\n\n-- migrate:down\n"
            )
            psql_file.write(f"BEGIN;\n{sql}\nCOMMIT;\n")
    return layouts


class Bench:
    def __init__(self, server: devpg.Postgres, count: int, layouts: dict[str, Path]) -> None:
        self.server = server
        self.count = count
        self.layouts = layouts
        self.n = 0

    def fresh_db(self) -> tuple[str, str]:
        self.n += 1
        name = f"bench_{os.getpid()}_{self.n}"
        self.server.psql(f'DROP DATABASE IF EXISTS "{name}"')
        self.server.psql(f'CREATE DATABASE "{name}"')
        return name, self.server.dsn(name)

    def count_tables(self, dbname: str) -> int:
        out = self.server.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\\_%'",
            dbname=dbname,
        )
        return int(out)

    def timed(self, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
        t0 = time.perf_counter()
        out = subprocess.run(
            cmd, env={**os.environ, **(env or {})}, cwd=cwd, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
        return elapsed


def run_psql(b: Bench, dsn: str, dbname: str) -> float:
    f = b.layouts["psql"] / "all.sql"
    return b.timed([b.server.bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(f)])


def run_schemaop(b: Bench, dsn: str, dbname: str) -> float:
    return b.timed(
        [str(VENV_BIN / "schemaop"), "migrate", "--dir", str(b.layouts["flyway"]), "-q"],
        env={"DATABASE_URL": dsn},
    )


PEERS: dict[str, Callable[[Bench, str, str], float]] = {
    "psql": run_psql,
    "schemaop": run_schemaop,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per tool; the median counts")
    parser.add_argument("--peers", default=",".join(PEERS))
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]

    work = Path(tempfile.mkdtemp(prefix="schemaop-bench-"))
    server = devpg.start(work / "pg")
    try:
        layouts = generate(args.count, work / "migrations")
        b = Bench(server, args.count, layouts)
        results: dict[str, float | str] = {}
        last_schemaop_db = None
        for name in peers:
            times = []
            try:
                for _ in range(args.rounds):
                    dbname, dsn = b.fresh_db()
                    times.append(PEERS[name](b, dsn, dbname))
                    got = b.count_tables(dbname)
                    if got != (args.count + 3) // 4:
                        raise RuntimeError(f"{name} left {got} tables, expected {(args.count + 3) // 4}")
                    if name == "schemaop":
                        last_schemaop_db = dsn
            except Exception as exc:  # noqa: BLE001 - a broken peer is reported, not fatal
                results[name] = f"skipped: {exc}"[:200]
                continue
            results[name] = statistics.median(times)
        base = results.get("psql")
        print(f"\n{args.count} migrations, one transaction each; median of {args.rounds} runs")
        print(f"{'tool':<16}{'seconds':>10}{'vs psql':>10}")
        for name, value in results.items():
            if isinstance(value, str):
                print(f"{name:<16}{value}")
                continue
            ratio = f"{value / base:.2f}x" if isinstance(base, float) else "-"
            print(f"{name:<16}{value:>10.3f}{ratio:>10}")
        if last_schemaop_db:
            st = [
                b.timed([str(VENV_BIN / "schemaop"), "status"], env={"DATABASE_URL": last_schemaop_db})
                for _ in range(args.rounds)
            ]
            print(f"\nschemaop status with {args.count} applied: {statistics.median(st):.3f}s")
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
