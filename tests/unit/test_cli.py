"""The CLI dispatcher: version, unknown commands, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from schemaop import __version__
from schemaop.cli import main


def test_version_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"schemaop {__version__}"


def test_version_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == __version__


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_version_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from schemaop.cli import main; main(['version']);"
        "heavy = [m for m in ('kopf', 'kubernetes', 'aiohttp', 'pglast') if m in sys.modules];"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout


def test_long_options_are_never_abbreviated(capsys: pytest.CaptureFixture[str]) -> None:
    # --database-url is not a shortened --database-url-file for the sidecar: an error.
    with pytest.raises(SystemExit) as exit_:
        main(["sidecar", "--database-url", "postgresql://db/app"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --database-url" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lint", "--form", "json", "x.sql"])
    assert "unrecognized arguments: --form" in capsys.readouterr().err
