"""The schemaop CLI run as a user runs it, for the integration tests of its commands
(test_engine_cli.py, test_engine_exactness.py, test_engine_recorded_down.py,
test_secrets_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys

# Where a connection may come from besides the flags: none of this machine's applies.
_CONNECTION_VARIABLES = ("DATABASE_URL", "SCHEMAOP_DATABASE_URL")


def schemaop(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m schemaop ARGS`` (text output captured, not checked) with none of this
    environment's connection settings (libpq's PG* variables, $DATABASE_URL,
    $SCHEMAOP_DATABASE_URL), then ``env`` on top."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for name in _CONNECTION_VARIABLES:
        full_env.pop(name, None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "schemaop", *args],
        check=False,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
