"""Headless Chromium for the browser tests (no tests here): Debian's package, driven by
the ``playwright`` Python package with ``executable_path``, so no browser is ever
downloaded.

``chromium()`` is the browser's path, installed with apt-get when missing (like the
test PostgreSQL); ``CHROMIUM_ARGS`` keep it from reaching the network by itself.
Used by tests/integration/test_sidecar_browser.py and tests/e2e/test_console_e2e.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from conftest import unavailable

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    """Path to Debian's chromium, installing it when missing (we run as root here)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
            check=False,
            env=env,
            capture_output=True,
        )
        found = shutil.which("chromium")
    if found is None:
        unavailable("chromium", "Debian's chromium package is not installed")
        raise AssertionError("unreachable")
    return found
