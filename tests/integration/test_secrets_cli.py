"""The real CLI never shows a password, whole or in part, whatever the user typed.

Each case runs ``schemaop`` as a process with a malformed URL (an unencoded ``@``
or ``/`` in the password) whose password holds a marker, pointing at the real
PostgreSQL of the session, and checks: exit 2, one line on stderr, and neither
the marker nor any fragment of it after the first ``@`` anywhere in the output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cli_support import schemaop

from devenv.pg import Postgres
from devenv.util import stop_process

HEAD = "Lea"


@pytest.fixture
def tail() -> str:
    """The part of the password after its unencoded '@': must never show."""
    return f"kPw{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bad_url(postgres: Postgres, tail: str) -> str:
    return f"postgresql://mig:{HEAD}@{tail}@{postgres.host}:{postgres.port}/postgres"


@pytest.fixture
def migdir(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    (d / "V1__t.sql").write_text("CREATE TABLE t (id int);\n")
    return d


def assert_clean(out: subprocess.CompletedProcess[str], tail: str, *, lines: int = 1) -> None:
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert f"{HEAD}@{tail}" not in text
    for n in range(4, len(tail) + 1):  # every fragment of 4 characters or more
        for i in range(len(tail) - n + 1):
            assert tail[i : i + n] not in text, (tail[i : i + n], text)
    assert "Traceback" not in text
    # One line: on stderr, or (--output json) the JSON error object on stdout.
    assert len(text.strip().splitlines()) == lines, text


@pytest.mark.parametrize(
    "command",
    [
        ["migrate", "--dir", "{dir}", "--database-url", "{url}"],
        ["migrate", "--dir", "{dir}", "--database-url", "{url}", "--output", "json"],
        ["plan", "--dir", "{dir}", "--database-url", "{url}"],
        ["status", "--database-url", "{url}"],
        ["status", "--database-url", "{url}", "--output", "json"],
        ["rollback", "--dir", "{dir}", "--to", "0", "--database-url", "{url}"],
        ["repair", "--mark-applied", "1", "--database-url", "{url}"],
        ["purge", "--older-than", "1d", "--database-url", "{url}"],
        # The URL where a path, a duration, a choice or a schema name belongs.
        ["migrate", "--dir", "{url}"],
        ["lint", "{url}"],
        ["validate", "{url}"],
        ["render", "{url}", "--schema-version", "app"],
        ["migrate", "--dir", "{dir}", "--snapshot", "{url}"],
        ["migrate", "--dir", "{dir}", "--lock-timeout", "{url}"],
        ["migrate", "--dir", "{dir}", "--history-schema", "{url}"],
        ["plan", "--dir", "{dir}", "--empty", "--schemas", "{url}"],
        ["migrate", "{url}"],
        ["{url}"],
        # A value echoed by a command's own message: stderr goes through the scrubber.
        ["lint", "{dir}", "--applied-through", "{url}"],
    ],
    ids=" ".join,
)
def test_malformed_url_never_shows_its_password(
    command: list[str], bad_url: str, tail: str, migdir: Path
) -> None:
    args = [a.format(url=bad_url, dir=migdir) for a in command]
    assert_clean(schemaop(*args), tail)


@pytest.mark.parametrize("variable", ["DATABASE_URL"])
def test_malformed_url_from_the_environment(
    variable: str, bad_url: str, tail: str, migdir: Path
) -> None:
    out = schemaop("migrate", "--dir", str(migdir), env={variable: bad_url})
    assert_clean(out, tail)
    assert "$DATABASE_URL" in out.stderr and "more than one '@'" in out.stderr


def test_slash_in_the_password(postgres: Postgres, tail: str, migdir: Path) -> None:
    url = f"postgresql://mig:{HEAD}/{tail}@{postgres.host}:{postgres.port}/postgres"
    assert_clean(schemaop("status", "--database-url", url), tail)


def test_job_run_termination_message_and_output(
    bad_url: str, tail: str, migdir: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    out = schemaop("plan", "--dir", str(migdir), "--empty", "--file", str(plan))
    assert out.returncode == 0, out.stderr
    term = tmp_path / "termination-log"
    out = schemaop(
        "job", "run", "--plan", str(plan), "--termination-log", str(term),
        env={"DATABASE_URL": bad_url},
    )  # fmt: skip
    assert_clean(out, tail, lines=2)  # the JSON result on stdout (the Job's log), one error line
    assert len(out.stderr.strip().splitlines()) == 1
    summary = json.loads(term.read_text())
    assert summary["error"]["kind"] == "InvalidConnectionString"
    assert tail not in term.read_text() and HEAD + "@" not in term.read_text()


def test_sidecar_refuses_a_malformed_url_in_one_line(bad_url: str, tail: str) -> None:
    for env in ({"SCHEMAOP_DATABASE_URL": bad_url}, {"DATABASE_URL": bad_url}):
        out = schemaop("sidecar", "--port", "0", env=env, timeout=30)
        assert_clean(out, tail)
        assert "cannot be used" in out.stderr


def test_sidecar_url_file_and_schemas(bad_url: str, tail: str, tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text(bad_url)
    out = schemaop("sidecar", "--port", "0", "--database-url-file", str(url_file), timeout=30)
    assert_clean(out, tail)
    assert "--database-url-file" in out.stderr
    out = schemaop("sidecar", "--port", "0", "--schemas", bad_url, timeout=30)
    assert_clean(out, tail)
    out = schemaop("sidecar", "--port", "0", env={"SCHEMAOP_SCHEMAS": bad_url, "DATABASE_URL": ""})
    assert_clean(out, tail)


def test_sidecar_logs_never_show_a_password(postgres: Postgres, tmp_path: Path) -> None:
    """A well-formed URL with a wrong password: the sidecar runs, and its log stays clean."""
    secret = f"Wr0ng{uuid.uuid4().hex[:10]}"
    url = postgres.dsn("postgres", "nobody_here", secret)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"SCHEMAOP_DATABASE_URL": url, "SCHEMAOP_LOG_LEVEL": "debug"})
    log = tmp_path / "sidecar.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "schemaop", "sidecar", "--port", "0", "--poll-interval", "0.2"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = 30.0
            while deadline > 0 and "refresh failed" not in log.read_text():
                time.sleep(0.25)
                deadline -= 0.25
        finally:
            # SIGTERM ends it within the timeout; a SIGKILL would be a sidecar that hangs.
            code = stop_process(proc, timeout=30)
    assert code != -signal.SIGKILL, log.read_text()
    text = log.read_text()
    assert "refresh failed" in text, text
    assert secret not in text and secret[:8] not in text
