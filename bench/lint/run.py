"""Lint throughput: statements per second on a generated 10,000-statement corpus.

    .venv/bin/python bench/lint/run.py [--statements 10000] [--repeat 5]

Measures ``schemaop.lint.lint_set`` in process (parse with pglast + every rule +
suppressions; best of ``--repeat``), and ``schemaop lint DIR`` end to end as a
subprocess (reading files, start-up, text output). Results go in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import migrations, write_directory

from schemaop.lint import lint_set
from schemaop.model import Migration, Version


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    texts = migrations(args.statements)
    ms = [Migration(Version(str(n)), f"step {n}", t) for n, t in enumerate(texts, start=1)]
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        results = lint_set(ms)
        best = min(best, time.perf_counter() - t0)
    statements = sum(len(r.statements) for r in results)
    findings = sum(len(r.findings) for r in results)
    print(
        f"lint_set: {statements} statements in {len(ms)} migrations, {findings} findings:"
        f" {best * 1000:.0f} ms (best of {args.repeat}), {statements / best:,.0f} statements/s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "migrations"
        write_directory(d, args.statements)
        cli = [sys.executable, "-m", "schemaop", "lint", str(d)]
        best_cli = float("inf")
        for _ in range(max(1, args.repeat // 2)):
            t0 = time.perf_counter()
            proc = subprocess.run(cli, capture_output=True, text=True, check=False)
            best_cli = min(best_cli, time.perf_counter() - t0)
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    print(
        f"schemaop lint DIR (subprocess, start-up included): {best_cli * 1000:.0f} ms,"
        f" {statements / best_cli:,.0f} statements/s; exit {proc.returncode}; {summary}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
