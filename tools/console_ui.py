"""The console's front end: build it, and check that the committed build is current.

The source is operator/schemaop/console/frontend (package.json, package-lock.json with
integrity hashes, src/, build.mjs); the built files are committed in
operator/schemaop/console/static, which the wheel ships (nothing is built at install
time, nothing is fetched from a CDN at run time). ``npm ci`` from the lock file and
then ``node build.mjs`` give the same bytes every time, so ``make lint`` rebuilds into
a scratch directory and compares: a source change without ``make console-ui`` fails.

    python tools/console_ui.py build     # make console-ui
    python tools/console_ui.py check     # one line per stale file; exit 1 if any
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import linttools

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "operator" / "schemaop" / "console" / "frontend"
STATIC = ROOT / "operator" / "schemaop" / "console" / "static"


def build(out: Path = STATIC) -> None:
    """``npm ci`` (when the lock changed) and the build, into ``out`` (replaced whole)."""
    linttools.npm_ci(FRONTEND)
    result = subprocess.run(
        [str(linttools.node()), "build.mjs", "--out", str(out)],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the console build failed:\n{result.stdout}{result.stderr}")


def _files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {
        p.relative_to(directory).as_posix(): p for p in sorted(directory.rglob("*")) if p.is_file()
    }


def differences(built: Path, committed: Path) -> list[str]:
    """Every file that differs between a fresh build and the committed one."""
    fresh, kept = _files(built), _files(committed)
    where = committed.relative_to(ROOT) if committed.is_relative_to(ROOT) else committed
    problems = []
    for name in sorted(fresh.keys() | kept.keys()):
        if name not in kept:
            problems.append(f"{where}/{name} is missing (the build makes it)")
        elif name not in fresh:
            problems.append(f"{where}/{name} is not made by the build (delete it)")
        elif fresh[name].read_bytes() != kept[name].read_bytes():
            problems.append(f"{where}/{name} is not what the source builds")
    return problems


def stale(committed: Path = STATIC) -> list[str]:
    """A fresh build compared with ``committed``; each problem says to run make console-ui."""
    with tempfile.TemporaryDirectory(prefix="schemaop-console-ui-") as scratch:
        out = Path(scratch) / "static"
        try:
            build(out)
        except RuntimeError as exc:
            return [str(exc)]
        problems = differences(out, committed)
    return [f"{p}: run `make console-ui` and commit static/" for p in problems]


def main(argv: list[str]) -> int:
    if argv == ["build"]:
        build()
        print(f"built {STATIC.relative_to(ROOT)}")
        return 0
    if argv == ["check"]:
        problems = stale()
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
