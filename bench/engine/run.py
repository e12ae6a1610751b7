"""Engine benchmark: 1,000 small migrations applied by schemaop, psql and the peers.

    .venv/bin/python bench/engine/run.py [--count 1000] [--rounds 3] [--tools psql,schemaop,...]

Generates N small migrations (CREATE TABLE, ALTER TABLE ADD COLUMN, CREATE INDEX,
INSERT, in turn), starts a throwaway PostgreSQL (tools/devenv), and applies the same
SQL to a fresh empty database with each tool, timing the whole command (start-up
included) and taking the median of ``--rounds`` runs. The physical limit is ``psql``
running the SQL in one session with one transaction per migration; every peer is
configured for one transaction per migration too.

Peers are installed by this script, each from its own registry, into
``bench/engine/.cache`` (git-ignored) when missing: golang-migrate and dbmate built
from the Go module proxy, Alembic from PyPI into a venv, sqitch from
Debian (apt-get), Flyway from Maven Central (mvn). A peer that cannot be installed or
run is reported as skipped with the reason. Then it times ``schemaop status`` on the
database with N applied migrations. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from devenv import pg as devpg  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
VENV_BIN = Path(sys.executable).parent
GOLANG_MIGRATE = ("github.com/golang-migrate/migrate/v4", "v4.20.1")
DBMATE = ("github.com/amacneil/dbmate/v2", "v2.26.0")
FLYWAY_VERSION = "10.20.1"
PGJDBC_VERSION = "42.7.4"
ALEMBIC = ["alembic==1.14.0", "psycopg2-binary==2.9.10"]


def migration_sql(i: int) -> str:
    """Migration i (1-based): four kinds in turn, each touching the table of its group."""
    group = (i - 1) // 4
    table = f"t_{group:04d}"
    kind = (i - 1) % 4
    if kind == 0:
        return f"CREATE TABLE {table} (id bigint PRIMARY KEY, a int NOT NULL, b text);"
    if kind == 1:
        return f"ALTER TABLE {table} ADD COLUMN c timestamptz DEFAULT now();"
    if kind == 2:
        return f"CREATE INDEX {table}_a ON {table} (a);"
    return f"INSERT INTO {table} (id, a, b) VALUES (1, 1, 'one'), (2, 2, 'two');"


def generate(count: int, out: Path) -> dict[str, Path]:
    """Write the same migrations in every layout the tools need."""
    names = ("flyway", "updown", "dbmate", "psql", "sqitch", "alembic")
    layouts = {name: out / name for name in names}
    for d in layouts.values():
        d.mkdir(parents=True)
    (layouts["sqitch"] / "deploy").mkdir()
    (layouts["alembic"] / "versions").mkdir()
    plan = ["%syntax-version=1.0.0", "%project=bench", ""]
    with open(layouts["psql"] / "all.sql", "w") as psql_file:
        for i in range(1, count + 1):
            sql = migration_sql(i)
            (layouts["flyway"] / f"V{i}__m{i}.sql").write_text(sql + "\n")
            (layouts["updown"] / f"{i:06d}_m{i}.up.sql").write_text(sql + "\n")
            (layouts["updown"] / f"{i:06d}_m{i}.down.sql").write_text("SELECT 1;\n")
            (layouts["dbmate"] / f"{i:06d}_m{i}.sql").write_text(
                f"-- migrate:up\n{sql}\n\n-- migrate:down\n"
            )
            psql_file.write(f"BEGIN;\n{sql}\nCOMMIT;\n")
            (layouts["sqitch"] / "deploy" / f"m{i}.sql").write_text(f"BEGIN;\n{sql}\nCOMMIT;\n")
            plan.append(f"m{i} 2026-01-01T00:00:00Z bench <bench@example.com> # m{i}")
            down = f'"r{i - 1:04d}"' if i > 1 else "None"
            (layouts["alembic"] / "versions" / f"r{i:04d}.py").write_text(
                f'from alembic import op\n\nrevision = "r{i:04d}"\ndown_revision = {down}\n'
                "branch_labels = None\ndepends_on = None\n\n\n"
                f"def upgrade():\n    op.execute({sql!r})\n\n\ndef downgrade():\n    pass\n"
            )
    (layouts["sqitch"] / "sqitch.plan").write_text("\n".join(plan) + "\n")
    (layouts["sqitch"] / "sqitch.conf").write_text(
        "[core]\n\tengine = pg\n\tplan_file = sqitch.plan\n\ttop_dir = .\n"
    )
    (layouts["alembic"] / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s\n\n[loggers]\nkeys = root\n\n"
        "[handlers]\nkeys = \n\n[formatters]\nkeys = \n\n[logger_root]\nlevel = WARN\n"
        "handlers = \n"
    )
    (layouts["alembic"] / "env.py").write_text(
        "import os\n\nfrom alembic import context\nfrom sqlalchemy import create_engine\n\n"
        'engine = create_engine(os.environ["BENCH_SQLALCHEMY_URL"])\n'
        "with engine.connect() as connection:\n"
        "    context.configure(connection=connection, transaction_per_migration=True)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n"
    )
    return layouts


def sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed: {(out.stderr or out.stdout)[-600:]}")
    return out  # type: ignore[no-any-return]


# --- installers: each returns what to run, or raises with the reason --------------------


def install_go_tool(name: str, module: str, version: str, package: str, tags: str = "") -> Path:
    """Build a Go command from the module proxy into .cache/bin.

    Builds inside a throwaway module that requires ``module@version`` instead of
    ``go install pkg@version``, which also asks the proxy for the module's version
    list (for deprecation notices) and fails where that list is not served.
    """
    binary = CACHE / "bin" / name
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    build = CACHE / f"go-{name}"
    build.mkdir(parents=True, exist_ok=True)
    (build / "go.mod").write_text(f"module bench\n\ngo 1.22\n\nrequire {module} {version}\n")
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    cmd = [go, "build", "-o", str(binary)] + (["-tags", tags] if tags else []) + [package]
    print(f"building {name} {version} from the Go module proxy", file=sys.stderr)
    sh(cmd, env=env, cwd=build, timeout=1800)
    return binary


def install_alembic() -> Path:
    venv = CACHE / "alembic-venv"
    alembic = venv / "bin" / "alembic"
    if not alembic.exists():
        print("installing alembic from PyPI", file=sys.stderr)
        sh([sys.executable, "-m", "venv", str(venv)])
        sh([str(venv / "bin" / "pip"), "install", "-q", *ALEMBIC], timeout=900)
    return alembic


def install_sqitch() -> Path:
    found = shutil.which("sqitch")
    if found:
        return Path(found)
    print("installing sqitch from Debian (apt-get)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    sh([*sudo, "apt-get", "update", "-q"], env=env, timeout=900)
    sh(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "sqitch",
         "libdbd-pg-perl", "postgresql-client"],
        env=env,
        timeout=1800,
    )  # fmt: skip
    found = shutil.which("sqitch")
    if not found:
        raise RuntimeError("sqitch installed but not on PATH")
    return Path(found)


def install_flyway() -> Path:
    lib = CACHE / "flyway" / "lib"
    if lib.exists() and any(lib.glob("flyway-commandline-*.jar")):
        return lib
    mvn = shutil.which("mvn")
    java = shutil.which("java")
    if not mvn or not java:
        raise RuntimeError("Flyway needs mvn and java")
    print("installing Flyway from Maven Central (mvn)", file=sys.stderr)
    pom = CACHE / "flyway" / "pom.xml"
    pom.parent.mkdir(parents=True, exist_ok=True)
    deps = [
        ("org.flywaydb", "flyway-commandline", FLYWAY_VERSION),
        ("org.flywaydb", "flyway-database-postgresql", FLYWAY_VERSION),
        ("org.postgresql", "postgresql", PGJDBC_VERSION),
    ]
    pom.write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>bench</groupId><artifactId>flyway-bench</artifactId><version>1</version>"
        "<dependencies>"
        + "".join(
            f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
            f"<version>{v}</version></dependency>"
            for g, a, v in deps
        )
        + "</dependencies></project>"
    )
    sh(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={lib}", "-DincludeScope=runtime"],
        timeout=1800,
    )  # fmt: skip
    return lib


class Bench:
    def __init__(self, server: devpg.Postgres, count: int, layouts: dict[str, Path]) -> None:
        self.server = server
        self.count = count
        self.layouts = layouts
        self.n = 0

    def fresh_db(self) -> tuple[str, str]:
        self.n += 1
        name = f"bench_{os.getpid()}_{self.n}"
        self.server.psql(f'DROP DATABASE IF EXISTS "{name}"')
        self.server.psql(f'CREATE DATABASE "{name}"')
        return name, self.server.dsn(name)

    def count_tables(self, dbname: str) -> int:
        out = self.server.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\\_%'",
            dbname=dbname,
        )
        return int(out)

    def timed(
        self, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> float:
        t0 = time.perf_counter()
        out = subprocess.run(
            cmd,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {(out.stderr or out.stdout)[-400:]}")
        return elapsed


Runner = Callable[[Bench, str, str], float]


def run_psql(b: Bench, dsn: str, dbname: str) -> float:
    f = b.layouts["psql"] / "all.sql"
    cmd = [b.server.bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(f)]
    return b.timed(cmd)


ENGINE_TIMES: list[float] = []


def run_schemaop(b: Bench, dsn: str, dbname: str) -> float:
    cmd = [str(VENV_BIN / "schemaop"), "migrate", "--dir", str(b.layouts["flyway"]), "-q"]
    t0 = time.perf_counter()
    out = subprocess.run(
        [*cmd, "--output", "json"],
        env={**os.environ, "DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"schemaop failed: {(out.stderr or out.stdout)[-400:]}")
    # run_plan's own time: lock, history, steps, fingerprint; no start-up, no file reads.
    ENGINE_TIMES.append(json.loads(out.stdout)["durationMs"] / 1000)
    return elapsed


def make_golang_migrate() -> Runner:
    module, version = GOLANG_MIGRATE
    binary = install_go_tool("migrate", module, version, module + "/cmd/migrate", tags="postgres")

    def run(b: Bench, dsn: str, dbname: str) -> float:
        url = dsn + "?sslmode=disable"
        return b.timed([str(binary), "-path", str(b.layouts["updown"]), "-database", url, "up"])

    return run


def make_dbmate() -> Runner:
    module, version = DBMATE
    binary = install_go_tool("dbmate", module, version, module)

    def run(b: Bench, dsn: str, dbname: str) -> float:
        cmd = [str(binary), "--url", dsn + "?sslmode=disable", "--migrations-dir",
               str(b.layouts["dbmate"]), "--no-dump-schema", "up"]  # fmt: skip
        return b.timed(cmd)

    return run


def make_alembic() -> Runner:
    alembic = install_alembic()

    def run(b: Bench, dsn: str, dbname: str) -> float:
        url = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
        ini = b.layouts["alembic"] / "alembic.ini"
        return b.timed(
            [str(alembic), "-c", str(ini), "upgrade", "head"], env={"BENCH_SQLALCHEMY_URL": url}
        )

    return run


def make_sqitch() -> Runner:
    sqitch = install_sqitch()

    def run(b: Bench, dsn: str, dbname: str) -> float:
        target = "db:pg://" + dsn.split("://", 1)[1]
        env = {"SQITCH_USER_CONFIG": os.devnull, "SQITCH_FULLNAME": "bench",
               "SQITCH_EMAIL": "bench@example.com"}  # fmt: skip
        return b.timed([str(sqitch), "deploy", target], env=env, cwd=b.layouts["sqitch"])

    return run


def make_flyway() -> Runner:
    lib = install_flyway()
    java = shutil.which("java") or "java"

    def run(b: Bench, dsn: str, dbname: str) -> float:
        cmd = [java, "-cp", f"{lib}/*", "org.flywaydb.commandline.Main",
               f"-url=jdbc:postgresql://{b.server.host}:{b.server.port}/{dbname}",
               f"-user={b.server.user}", f"-locations=filesystem:{b.layouts['flyway']}",
               "-skipCheckForUpdate", "migrate"]  # fmt: skip
        return b.timed(cmd)

    return run


TOOLS: dict[str, Callable[[], Runner]] = {
    "psql": lambda: run_psql,
    "schemaop": lambda: run_schemaop,
    "golang-migrate": make_golang_migrate,
    "dbmate": make_dbmate,
    "flyway": make_flyway,
    "sqitch": make_sqitch,
    "alembic": make_alembic,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per tool; the median counts")
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")

    runners: dict[str, Runner | str] = {}
    for name in tools:
        try:
            runners[name] = TOOLS[name]()
        except Exception as exc:
            runners[name] = f"skipped: {str(exc).strip()}"[:300]

    work = Path(tempfile.mkdtemp(prefix="schemaop-bench-"))
    server = devpg.start(work / "pg")
    try:
        layouts = generate(args.count, work / "migrations")
        b = Bench(server, args.count, layouts)
        results: dict[str, float | str] = {}
        schemaop_db = None
        expected = (args.count + 3) // 4
        # Interleave rounds so background load hits every tool alike.
        times: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.rounds):
            for name in tools:
                runner = runners[name]
                if isinstance(runner, str) or isinstance(results.get(name), str):
                    continue
                try:
                    dbname, dsn = b.fresh_db()
                    times[name].append(runner(b, dsn, dbname))
                    got = b.count_tables(dbname)
                    if got != expected:
                        raise RuntimeError(f"left {got} tables, expected {expected}")
                    if name == "schemaop":
                        schemaop_db = dsn
                except Exception as exc:
                    results[name] = f"failed: {str(exc).strip()}"[:300]
        for name in tools:
            runner = runners[name]
            if isinstance(runner, str):
                results[name] = runner
            elif name not in results:
                results[name] = statistics.median(times[name])
        base = results.get("psql")
        cpu = os.cpu_count()
        load = os.getloadavg()[0]
        print(
            f"\n{args.count} migrations, one transaction each; median of {args.rounds} runs"
            f" ({cpu} CPUs, load {load:.1f}); PostgreSQL {server.psql('SHOW server_version')}"
        )
        print(f"{'tool':<16}{'seconds':>10}{'vs psql':>10}")
        for name, value in results.items():
            if isinstance(value, str):
                print(f"{name:<16}{value}")
                continue
            ratio = f"{value / base:.2f}x" if isinstance(base, float) else "-"
            print(f"{name:<16}{value:>10.3f}{ratio:>10}")
        if ENGINE_TIMES and isinstance(base, float):
            engine_s = statistics.median(ENGINE_TIMES)
            print(
                f"{'(schemaop run)':<16}{engine_s:>10.3f}{engine_s / base:>9.2f}x"
                "  run_plan alone: without process start-up and reading the files"
            )
        if schemaop_db:
            st = [
                b.timed([str(VENV_BIN / "schemaop"), "status"], env={"DATABASE_URL": schemaop_db})
                for _ in range(args.rounds)
            ]
            print(f"\nschemaop status with {args.count} applied: {statistics.median(st):.3f}s")
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
