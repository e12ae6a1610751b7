"""``schemaop lint`` on a directory of a few hundred real-looking migrations is fast.

The bound is deliberately generous (a quarter of a second per hundred
statements, where the measured cost is a few milliseconds) so that it catches an
accidental quadratic walk or per-statement re-parse, not a busy machine.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from schemaop.cli import main

BENCH = Path(__file__).resolve().parents[2] / "bench" / "lint" / "corpus.py"


def _corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_bench_corpus", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_lint_directory_of_hundreds_of_migrations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _corpus().write_directory(tmp_path / "migrations", statements=2_400)
    assert files >= 250
    main(["lint", str(tmp_path / "migrations")])  # warm-up: imports, parser initialisation
    capsys.readouterr()
    t0 = time.perf_counter()
    code = main(["lint", str(tmp_path / "migrations")])
    elapsed = time.perf_counter() - t0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 1  # the corpus has destructive statements on purpose
    assert f"{files} migration(s), 2400 statement(s)" in summary
    assert elapsed < 0.25 * 24, f"{elapsed:.2f}s for 2,400 statements"
