"""The operator bounds glibc's malloc arenas before its worker threads start
(commands/operator.py): with 32 threads, each thread's allocations otherwise land
in one of up to 16 arenas that keep their freed memory (docs/benchmarks.md,
1,000 databases: 17 arenas, 78 MB resident)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "from schemaop.commands.operator import few_malloc_arenas; print(few_malloc_arenas())"


def _run(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


def test_the_arenas_are_bounded_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _run(env) == "True"


def test_an_explicit_malloc_arena_max_is_left_alone() -> None:
    assert _run({**os.environ, "MALLOC_ARENA_MAX": "4"}) == "False"


def test_the_operator_bounds_them_before_it_starts_threads() -> None:
    import inspect

    from schemaop.commands import operator

    source = inspect.getsource(operator.run)
    assert source.index("few_malloc_arenas()") < source.index("ThreadPoolExecutor(")
