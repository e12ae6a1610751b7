"""A throwaway PgBouncer in front of a throwaway PostgreSQL, for tests.

Many production databases are reached through PgBouncer, most often in
transaction pooling mode, where a client's consecutive transactions may run on
different server connections. The tests put one in front of the test cluster
(:mod:`devenv.pg`) to show what schemaop does there. PgBouncer comes from
Debian's package (installed with apt-get when missing); the system service is
never used: each instance gets its own directory, config and free loopback
port, and ``stop`` ends only its own process.

Clients log in as any user named in ``users`` (PgBouncer's ``auth_file``, with
plain-text passwords, so it can log in to PostgreSQL as that user, with SCRAM
for the password users of :mod:`devenv.pg`); the superuser ``postgres`` has no
password (PostgreSQL trusts it on loopback). ``startup parameters`` other than
the few PgBouncer tracks are refused, as with PgBouncer's defaults (a client
that sends ``options`` fails to log in), so the tests see what users see.

    python -m devenv.pgbouncer start DIR PGPORT [transaction|session]
    python -m devenv.pgbouncer stop DIR
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devenv.util import apt_install, free_port, log, wait_for

POOL_MODES = ("session", "transaction", "statement")


def find_binary() -> str | None:
    for candidate in ("/usr/sbin/pgbouncer", shutil.which("pgbouncer")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_installed() -> str:
    """The pgbouncer binary, installing Debian's package if needed."""
    binary = find_binary()
    if binary is not None:
        return binary
    log("pgbouncer", "PgBouncer not found; installing Debian's pgbouncer package")
    # Debian's package ships a system service; we never use it.
    apt_install("pgbouncer", services=("pgbouncer",))
    binary = find_binary()
    if binary is None:
        raise RuntimeError("pgbouncer was installed but its binary is still not found")
    return binary


@dataclasses.dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer in front of one PostgreSQL server."""

    directory: Path
    port: int
    pool_mode: str
    pid: int
    host: str = "127.0.0.1"

    def dsn(
        self, dbname: str = "postgres", user: str = "postgres", password: str | None = None
    ) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def via(self, direct_dsn: str) -> str:
        """The DSN of ``direct_dsn`` (a database of the server behind) through PgBouncer."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(direct_dsn)
        userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
        netloc = f"{userinfo}@{self.host}:{self.port}" if userinfo else f"{self.host}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def add_user(self, user: str, password: str) -> None:
        """Let ``user`` log in (and PgBouncer log in to PostgreSQL as them); reloads."""
        auth = self.directory / "userlist.txt"
        lines = [
            line for line in auth.read_text().splitlines() if not line.startswith(f'"{user}" ')
        ]
        lines.append(f'"{user}" "{password}"')
        auth.write_text("\n".join(lines) + "\n")
        os.kill(self.pid, signal.SIGHUP)
        time.sleep(0.3)  # PgBouncer reloads asynchronously

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGINT)  # immediate shutdown
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def as_json(self) -> str:
        return json.dumps(
            {
                "directory": str(self.directory),
                "port": self.port,
                "poolMode": self.pool_mode,
                "pid": self.pid,
                "dsn": self.dsn(),
            }
        )


def start(
    basedir: Path,
    pg_port: int,
    pool_mode: str = "transaction",
    *,
    pg_host: str = "127.0.0.1",
    pool_size: int = 5,
) -> PgBouncer:
    """Start a PgBouncer in ``pool_mode`` on a free loopback port in front of
    ``pg_host:pg_port`` (every database name maps to the same one behind)."""
    if pool_mode not in POOL_MODES:
        raise ValueError(f"pool_mode must be one of {', '.join(POOL_MODES)}")
    binary = ensure_installed()
    basedir.mkdir(parents=True, exist_ok=True)
    directory = basedir
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root: it runs as the postgres OS user, which
        # must reach its files (pytest's temp root is private to root).
        directory = Path(tempfile.mkdtemp(prefix="schemaop-pgbouncer-"))
        directory.chmod(0o755)
    port = free_port()
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={pg_host} port={pg_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {directory / 'userlist.txt'}\n"
        f"pool_mode = {pool_mode}\n"
        f"default_pool_size = {pool_size}\n"
        "max_client_conn = 200\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
        f"pidfile = {directory / 'pgbouncer.pid'}\n"
        "server_login_retry = 1\n"
    )
    if os.geteuid() == 0:
        for path in (directory, *directory.iterdir()):
            shutil.chown(path, "postgres", "postgres")
    run_as = ["-u", "postgres"] if os.geteuid() == 0 else []
    subprocess.run(
        [binary, "-d", *run_as, str(directory / "pgbouncer.ini")],
        check=True,
        stdout=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
    )
    pidfile = directory / "pgbouncer.pid"
    wait_for("pgbouncer's pid file", lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    bouncer = PgBouncer(
        directory=directory, port=port, pool_mode=pool_mode, pid=int(pidfile.read_text())
    )
    _wait_listening(port)
    (basedir / "pgbouncer.json").write_text(bouncer.as_json())
    log("pgbouncer", f"PgBouncer ({pool_mode} pooling) on 127.0.0.1:{port} -> :{pg_port}")
    return bouncer


def _wait_listening(port: int) -> None:
    import socket

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_for(f"pgbouncer on port {port}", listening, timeout=30)


def load(basedir: Path) -> PgBouncer:
    info = json.loads((basedir / "pgbouncer.json").read_text())
    return PgBouncer(
        directory=Path(info["directory"]),
        port=int(info["port"]),
        pool_mode=str(info["poolMode"]),
        pid=int(info["pid"]),
    )


def main(argv: list[str]) -> int:
    usage = "usage: python -m devenv.pgbouncer start DIR PGPORT [MODE] | stop DIR"
    if not argv or argv[0] not in {"start", "stop"}:
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "start":
        if len(argv) not in (3, 4):
            print(usage, file=sys.stderr)
            return 2
        mode = argv[3] if len(argv) == 4 else "transaction"
        print(start(Path(argv[1]).resolve(), int(argv[2]), mode).as_json())
        return 0
    if len(argv) != 2:
        print(usage, file=sys.stderr)
        return 2
    basedir = Path(argv[1]).resolve()
    if (basedir / "pgbouncer.json").exists():
        load(basedir).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
