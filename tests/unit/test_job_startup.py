"""What a migration Job's process loads: its start-up is most of its CPU
(docs/benchmarks.md, "Job start-up"), and 1,000 SchemaVersions start 1,000 Jobs.

`schemaop job run` imports the engine and psycopg and nothing of the operator,
the API client or the linter; the SQL lexer's patterns compile in well under a
millisecond (written as negated ASCII classes) and mean the same as the Unicode
ranges they replace.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from schemaop.cli import main
from schemaop.model import migration

# Never loaded by a Job: the operator's and the console's libraries, the linter's parser.
NOT_IN_A_JOB = (
    "kopf",
    "kubernetes",
    "aiohttp",
    "urllib3",
    "yaml",
    "jsonschema",
    "prometheus_client",
    "pglast",
    "schemaop.kube",
    "schemaop.operator",
    "schemaop.decide",
    "schemaop.lint",
    "schemaop.sidecar",
)


def test_a_job_loads_the_engine_and_nothing_of_the_operator(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "V1__t.sql").write_text("create table t (id int);\n")
    plan = tmp_path / "plan.json"
    assert main(["plan", "--dir", str(migrations), "--empty", "--file", str(plan), "-q"]) == 0
    code = (
        "import json, sys\n"
        "from schemaop.cli import main\n"
        f"rc = main(['job', 'run', '--plan', {str(plan)!r}, '-q',"
        f" '--termination-log', {str(tmp_path / 'term')!r}])\n"
        "print(json.dumps({'rc': rc, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
    )
    # Nothing listens on port 1: the run fails at connect, after every import.
    env = {"DATABASE_URL": "postgresql://u@127.0.0.1:1/db", "PGCONNECT_TIMEOUT": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    result = json.loads(out.stderr.strip().splitlines()[-1])
    assert result["rc"] != 0, out.stderr
    modules = result["modules"]
    assert "psycopg" in modules and "schemaop.engine.runner" in modules
    loaded = [m for m in modules if m.split(".")[0] in NOT_IN_A_JOB or m.startswith(NOT_IN_A_JOB)]
    assert loaded == []


def test_the_lexer_classes_are_the_unicode_ranges_they_replace() -> None:
    ident = "A-Za-z_\\u0080-\\U0010FFFF"
    old_token = re.compile(f"[{ident}][{ident}0-9$]*")
    new_token = re.compile(f"{migration._IDENT_START}{migration._IDENT_CONT}*")
    old_delim = re.compile(f"\\$(?:[{ident}][{ident}0-9]*)?\\$")
    # Every ASCII character and the boundaries around it; samples of every plane.
    points = [*range(0x300), 0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF]
    points += range(0x300, 0x110000, 997)
    for cp in points:
        c = chr(cp)
        for text in (c, "a" + c, c + "1$"):
            old, new = old_token.match(text), new_token.match(text)
            assert (old and old.end()) == (new and new.end()), hex(cp)
        for text in (f"${c}$", f"$a{c}$", f"${c}1$"):
            assert bool(old_delim.fullmatch(text)) == bool(
                migration._DOLLAR_DELIM.fullmatch(text)
            ), hex(cp)
