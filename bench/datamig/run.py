"""Data-migration benchmark (issue 13): a backfill under application traffic.

    .venv/bin/python bench/datamig/run.py [--rows 5000000] [--clients 4] [--rate 50] [--json]

Starts a throwaway PostgreSQL (tools/devenv/pg.py, its own port), fills a table
``items`` with ``--rows`` rows, and runs application traffic against it from
``--clients`` processes: pgbench-style point reads and updates on random keys
(half each, autocommit), each client at ``--rate`` transactions per second, every
latency recorded. A sampler reads ``pg_stat_activity`` every 50 ms for the
longest lock wait of an application query. First the traffic runs alone
(``--idle`` seconds: the idle baseline); then, each on a freshly built table,
the same backfill (``total_cents = total * 100`` on every row) three ways:

(a) one ``UPDATE`` of the whole table;
(b) the batched migration through the real engine: ``schemaop migrate`` on a
    directory with one batched migration (``--directive``);
(c) what a user writes by hand today: a PL/pgSQL procedure that updates
    fixed-size key ranges (``--manual-batch``) and COMMITs after each.

For each: wall time, rows/s (and as a ratio of (a)'s), the application's
p50/p99/max latency during it (and p99 as a ratio of the idle p99), its longest
lock wait (sampled, and bounded by its max latency), the share of the offered
queries that were served (a client blocked on a lock sends nothing more, so its
missing queries are not in the percentiles: coordinated omission), and whether
every row was backfilled. No replica is set up: replication lag is not measured. Progress on
stderr; the table (or ``--json``) on stdout. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from devenv import pg as devpg  # noqa: E402

VENV_BIN = Path(sys.executable).parent
APP_NAME = "bench-app"
# The batched migration, in the directory format (docs/data-migrations.md).
DIRECTIVE = "-- schemaop:batched table=public.items key=id target=500ms max=50000 pause=20ms"
BACKFILL_WHERE = "total_cents IS NULL"


def log(msg: str) -> None:
    print(f"[bench/datamig] {msg}", file=sys.stderr, flush=True)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# --- the table ------------------------------------------------------------------------


def build_table(dsn: str, rows: int) -> None:
    """A fresh ``items`` table: ``rows`` rows, total_cents NULL, vacuumed and analysed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS items")
        conn.execute(
            "CREATE TABLE items (id bigint NOT NULL, total integer NOT NULL,"
            " total_cents bigint, hits integer NOT NULL DEFAULT 0, note text NOT NULL)"
        )
        conn.execute(
            "INSERT INTO items (id, total, note)"
            " SELECT g, (g::bigint * 7919) %% 100000, md5(g::text)"
            " FROM generate_series(1, %s) AS g",
            (rows,),
        )
        conn.execute("ALTER TABLE items ADD PRIMARY KEY (id)")
        conn.execute("VACUUM (ANALYZE) items")
        conn.execute("CHECKPOINT")


def check_backfill(dsn: str) -> int:
    """Rows whose total_cents is not total * 100 (0 when the backfill is whole)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM items WHERE total_cents IS DISTINCT FROM total::bigint * 100"
        ).fetchone()
        return int(row[0]) if row else -1


# --- application traffic --------------------------------------------------------------


def client(dsn: str, rows: int, rate: float, seed: int, stop: Any, out: Any) -> None:
    """One application client: point reads and updates on random keys at ``rate`` tx/s;
    sends its (start time, latency seconds, kind) samples to ``out`` when stopped."""
    rng = random.Random(seed)
    samples: list[tuple[float, float, str]] = []
    errors = 0
    with psycopg.connect(dsn, autocommit=True, application_name=APP_NAME) as conn:
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not stop.is_set():
            key = rng.randint(1, rows)
            kind = "read" if rng.random() < 0.5 else "update"
            t0 = time.monotonic()
            try:
                if kind == "read":
                    conn.execute("SELECT total, total_cents, hits FROM items WHERE id = %s", (key,))
                else:
                    conn.execute("UPDATE items SET hits = hits + 1 WHERE id = %s", (key,))
            except psycopg.Error:
                errors += 1
            t1 = time.monotonic()
            samples.append((t0, t1 - t0, kind))
            # Open loop at a fixed rate: a slow query does not lower the offered load.
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
    out.put((samples, errors))


class Traffic:
    """The application clients and the lock-wait sampler, running until stopped."""

    def __init__(self, dsn: str, rows: int, clients: int, rate: float) -> None:
        ctx = mp.get_context("fork")
        self.stop_event = ctx.Event()
        self.queue: Any = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=client,
                args=(dsn, rows, rate, 1000 + i, self.stop_event, self.queue),
                daemon=True,
            )
            for i in range(clients)
        ]
        self.dsn = dsn
        self.max_lock_wait = 0.0
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        for p in self.procs:
            p.start()
        self._sampler.start()

    def _sample(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._sampling.is_set():
                row = conn.execute(
                    "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0)"
                    " FROM pg_stat_activity WHERE application_name = %s"
                    " AND wait_event_type = 'Lock'",
                    (APP_NAME,),
                ).fetchone()
                if row:
                    self.max_lock_wait = max(self.max_lock_wait, float(row[0]))
                time.sleep(0.05)

    def stop(self) -> tuple[list[tuple[float, float, str]], int]:
        self.stop_event.set()
        samples: list[tuple[float, float, str]] = []
        errors = 0
        for _ in self.procs:
            got, errs = self.queue.get(timeout=120)
            samples += got
            errors += errs
        for p in self.procs:
            p.join(timeout=30)
        self._sampling.set()
        self._sampler.join(timeout=5)
        return samples, errors


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100.0 * (len(ordered) - 1))))
    return ordered[k]


def latency_figures(
    samples: list[tuple[float, float, str]], t0: float, t1: float
) -> dict[str, Any]:
    """p50/p99/max (ms) of the queries started in [t0, t1]."""
    lat = [s[1] for s in samples if t0 <= s[0] <= t1]
    return {
        "queries": len(lat),
        "p50Ms": round(percentile(lat, 50) * 1000, 2),
        "p99Ms": round(percentile(lat, 99) * 1000, 2),
        "maxMs": round(max(lat, default=float("nan")) * 1000, 2),
    }


# --- the three backfills --------------------------------------------------------------


def backfill_update(dsn: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"UPDATE items SET total_cents = total::bigint * 100 WHERE {BACKFILL_WHERE}")
    return {}


def backfill_batched(dsn: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    mdir = work / "migrations"
    shutil.rmtree(mdir, ignore_errors=True)
    mdir.mkdir()
    (mdir / "V1__backfill_total_cents.sql").write_text(
        f"{args.directive}\nUPDATE public.items SET total_cents = total::bigint * 100\n"
        f"WHERE id BETWEEN :lo_id AND :hi_id AND {BACKFILL_WHERE};\n"
    )
    out = subprocess.run(
        [str(VENV_BIN / "schemaop"), "migrate", "--dir", str(mdir), "--output", "json"],
        env={**os.environ, "DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        said = (out.stderr.strip() or out.stdout.strip())[-600:]
        raise RuntimeError(f"schemaop migrate exited {out.returncode}: {said}")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    extra: dict[str, Any] = {}
    for step in summary.get("steps") or []:
        if step.get("batches"):
            extra["batches"] = step["batches"]
    return extra


def backfill_procedure(dsn: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """
            CREATE OR REPLACE PROCEDURE backfill_by_hand(batch bigint)
            LANGUAGE plpgsql AS $$
            DECLARE
                lo bigint;
                top bigint;
            BEGIN
                SELECT min(id), max(id) INTO lo, top FROM items;
                WHILE lo <= top LOOP
                    UPDATE items SET total_cents = total::bigint * 100
                    WHERE id >= lo AND id < lo + batch AND total_cents IS NULL;
                    COMMIT;
                    lo := lo + batch;
                END LOOP;
            END
            $$
            """
        )
        conn.execute("CALL backfill_by_hand(%s)", (args.manual_batch,))
    return {"batchSize": args.manual_batch}


SCENARIOS = {
    "update": ("(a) one UPDATE", backfill_update),
    "batched": ("(b) schemaop batched", backfill_batched),
    "procedure": ("(c) PL/pgSQL + COMMIT", backfill_procedure),
}


# --- main -----------------------------------------------------------------------------


def run_phase(
    dsn: str, args: argparse.Namespace, name: str, work: Path, idle_p99: float | None
) -> dict[str, Any]:
    """Traffic plus one backfill (or, for ``idle``, traffic alone for --idle seconds)."""
    traffic = Traffic(dsn, args.rows, args.clients, args.rate)
    traffic.start()
    time.sleep(1.0)  # connections made, warm-up queries out of the window
    result: dict[str, Any] = {"loadBefore": load()}
    t0 = time.monotonic()
    try:
        if name == "idle":
            time.sleep(args.idle)
        else:
            result.update(SCENARIOS[name][1](dsn, args, work))
    except Exception as exc:
        result["error"] = str(exc).strip()[:600]
    t1 = time.monotonic()
    samples, errors = traffic.stop()
    wall = t1 - t0
    result.update(latency_figures(samples, t0, t1))
    # Queries blocked for the whole window are not in the percentiles (they never
    # started): the share of the offered load that was served says it.
    offered = args.clients * args.rate * wall
    result["servedShare"] = round(result["queries"] / offered, 3) if offered else None
    result.update(
        {
            "wallSeconds": round(wall, 2),
            "appErrors": errors,
            "maxLockWaitMs": round(traffic.max_lock_wait * 1000, 1),
            "loadAfter": load(),
        }
    )
    if name != "idle" and "error" not in result:
        result["rowsPerSecond"] = round(args.rows / wall)
        result["rowsLeft"] = check_backfill(dsn)
    if idle_p99:
        result["p99VsIdle"] = round(result["p99Ms"] / idle_p99, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--clients", type=int, default=4, help="application client processes")
    parser.add_argument("--rate", type=float, default=50.0, help="transactions/s per client")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle baseline")
    parser.add_argument("--manual-batch", type=int, default=10_000, help="(c)'s batch size")
    parser.add_argument("--directive", default=DIRECTIVE, help="(b)'s batched directive line")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args()
    names = [s for s in args.scenarios.split(",") if s]

    work = Path(tempfile.mkdtemp(prefix="schemaop-bench-datamig-"))
    server = devpg.start(work / "pg")
    results: dict[str, Any] = {
        "rows": args.rows,
        "clients": args.clients,
        "ratePerClient": args.rate,
        "cpus": os.cpu_count(),
        "replica": "none (replication lag not measured)",
        "directive": args.directive,
        "manualBatch": args.manual_batch,
    }
    try:
        results["postgres"] = server.psql("SHOW server_version")
        results["lockTimeoutMs"] = 2000
        dsn = server.create_database("bench")
        log(f"building the table: {args.rows} rows (load {load()})")
        build_table(dsn, args.rows)
        log(f"idle baseline: {args.idle:.0f}s of traffic alone")
        idle = run_phase(dsn, args, "idle", work, None)
        results["idle"] = idle
        log(f"idle: p50 {idle['p50Ms']}ms p99 {idle['p99Ms']}ms")
        for name in names:
            log(f"{SCENARIOS[name][0]}: rebuilding the table (load {load()})")
            build_table(dsn, args.rows)
            log(f"{SCENARIOS[name][0]}: running under traffic")
            results[name] = run_phase(dsn, args, name, work, idle["p99Ms"])
            log(f"{SCENARIOS[name][0]}: {json.dumps(results[name])}")
        base = results.get("update", {}).get("rowsPerSecond")
        for name in names:
            rps = results[name].get("rowsPerSecond")
            if base and rps:
                results[name]["rowsPerSecondVsUpdate"] = round(rps / base, 2)
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"\n{args.rows} rows, {args.clients} clients x {args.rate:.0f} tx/s (point reads and"
        f" updates); PostgreSQL {results['postgres']}, {results['cpus']} CPUs; no replica"
    )
    head = (
        f"{'':<24}{'wall s':>8}{'rows/s':>10}{'vs (a)':>8}{'p50 ms':>8}{'p99 ms':>10}"
        f"{'vs idle':>9}{'max ms':>10}{'lock ms':>10}{'served':>8}  load (1/5/15 min, after)"
    )
    print(head)
    for name in ["idle", *names]:
        r = results[name]
        label = "idle (traffic alone)" if name == "idle" else SCENARIOS[name][0]
        if "error" in r:
            print(f"{label:<24}failed: {r['error']}")
            continue
        rps = r.get("rowsPerSecond")
        print(
            f"{label:<24}{r['wallSeconds']:>8.1f}{(str(rps) if rps else '-'):>10}"
            f"{(str(r.get('rowsPerSecondVsUpdate', '-')) + 'x'):>8}{r['p50Ms']:>8.2f}"
            f"{r['p99Ms']:>10.2f}{(str(r.get('p99VsIdle', '-')) + 'x'):>9}{r['maxMs']:>10.1f}"
            f"{r['maxLockWaitMs']:>10.1f}{r['servedShare'] * 100:>7.0f}%  {r['loadAfter']}"
        )
        if r.get("rowsLeft"):
            print(f"{'':<24}NOT WHOLE: {r['rowsLeft']} rows not backfilled")
        if r.get("batches"):
            print(f"{'':<24}engine: {json.dumps(r['batches'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
