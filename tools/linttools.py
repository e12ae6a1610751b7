"""The tools `make lint` runs beside ruff and mypy, found or installed on first use.

Each shipped artifact is checked by its own ecosystem's tool (tools/check_artifacts.py),
and README's two commands stay the only set-up, so this module installs what is
missing, the way ``devenv.pg`` installs PostgreSQL:

- Python tools (check-jsonschema, cel-python) are dev dependencies in pyproject.toml,
  so ``make venv`` has them; they are looked up beside the running interpreter.
- npm tools (gitlab-ci-local; typescript and @grafana/schema for the dashboard) are
  pinned in ``tools/npm/package-lock.json`` and installed with ``npm ci`` into
  ``tools/npm/node_modules`` (ignored by git); a stamp file skips the install
  while the lock file is unchanged. The console's front end
  (operator/schemaop/console/frontend) is installed the same way (``npm_ci``).
- promtool comes from Debian's ``prometheus`` package, installed with apt-get.
- helm is the pinned one from tools/k8s-testbins (``render_manifests.find_helm``).

A tool that cannot be had is an error (``ToolMissing``), never a skipped check.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from devenv.util import apt_install, log

ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = ROOT / "tools" / "npm"
NPM_STAMP = NPM_DIR / "node_modules" / ".schemaop-lock-sha256"


class ToolMissing(RuntimeError):
    """A tool a check needs is not installed and could not be installed."""


def python_tool(name: str) -> Path:
    """A console script of a dev dependency, from the venv of the running interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            raise ToolMissing(f"{name} is not installed (a dev dependency: run `make venv`)")
        path = Path(found)
    return path


def node() -> Path:
    """Node.js (Debian's nodejs and npm packages installed when missing)."""
    for name in ("node", "nodejs"):
        found = shutil.which(name)
        if found:
            return Path(found)
    log("lint", "Node.js not found; installing Debian's nodejs and npm packages")
    apt_install("nodejs", "npm")
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise ToolMissing("Node.js was installed but node is still not found")
    return Path(found)


def npm_ci(directory: Path) -> None:
    """``npm ci`` of the packages pinned in ``directory/package-lock.json`` into its
    node_modules (ignored by git), skipped while a stamp says the lock is unchanged."""
    lock = directory / "package-lock.json"
    stamp = directory / "node_modules" / ".schemaop-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    node()
    npm = shutil.which("npm")
    if npm is None:
        apt_install("npm")
        npm = shutil.which("npm")
    if npm is None:
        raise ToolMissing("npm is not installed and could not be installed")
    log("lint", f"installing the npm packages pinned in {lock.relative_to(ROOT)}")
    subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory,
        check=True,
    )
    stamp.write_text(digest)


def npm_tool(name: str) -> list[str]:
    """The command line that runs an npm tool pinned in tools/npm (``npm ci`` when needed)."""
    node_path = node()
    bin_path = NPM_DIR / "node_modules" / ".bin" / name
    if not bin_path.exists() and NPM_STAMP.exists():
        NPM_STAMP.unlink()
    npm_ci(NPM_DIR)
    if not bin_path.exists():
        raise ToolMissing(f"{name} is not in {(NPM_DIR / 'package-lock.json').relative_to(ROOT)}")
    return [str(node_path), str(bin_path.resolve())]


def promtool() -> Path:
    """promtool, from Debian's prometheus package (installed when missing)."""
    found = shutil.which("promtool")
    if found is None:
        log("lint", "promtool not found; installing Debian's prometheus package")
        # The package starts a Prometheus server on install; nothing here uses it.
        apt_install("prometheus", services=("prometheus",))
        found = shutil.which("promtool")
    if found is None:
        raise ToolMissing("the prometheus package was installed but promtool is not found")
    return Path(found)


def helm() -> Path:
    """The pinned helm from tools/k8s-testbins (built on first use; cached afterwards)."""
    import render_manifests

    found = render_manifests.find_helm(build=True)
    if found is None or not found.exists():
        raise ToolMissing("the pinned helm (tools/k8s-testbins/build.sh) is not available")
    return found
