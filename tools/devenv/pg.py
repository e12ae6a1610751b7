"""A throwaway PostgreSQL cluster for tests and `make dev`.

Uses the server binaries from Debian's packages (installed with apt-get when
missing), never the system service: `initdb` into its own directory, `pg_ctl`
start on a free loopback port with the socket in that directory, and `stop`
removes nothing but the process (the caller owns the directory).

    python -m devenv.pg start DIR   # prints a JSON line with the DSN
    python -m devenv.pg stop DIR
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devenv.util import apt_install, free_port, log


def find_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_major, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).resolve().parent if pg_ctl else None


def _major(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


def ensure_installed() -> Path:
    """Return the PostgreSQL server bin directory, installing Debian's packages if needed."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    log("pg", "PostgreSQL server not found; installing Debian's postgresql packages")
    # Debian starts the system cluster on install; we never use it.
    apt_install("postgresql", "postgresql-client", "postgresql-contrib", services=("postgresql",))
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL was installed but pg_ctl is still not found")
    return bindir


@dataclasses.dataclass(frozen=True)
class Postgres:
    """A running throwaway PostgreSQL cluster."""

    datadir: Path
    bindir: Path
    port: int
    user: str = "postgres"
    host: str = "127.0.0.1"
    # Every address it listens on (comma-separated, as listen_addresses).
    listen: str = "127.0.0.1"

    def dsn(
        self, dbname: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        auth = user or self.user
        if password is not None:
            auth += f":{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def bin(self, name: str) -> str:
        return str(self.bindir / name)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run(
            [
                self.bin("psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.dsn(dbname),
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [
                *_run_as_postgres_prefix(),
                self.bin("pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                mode,
                "-w",
                "stop",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )

    def start(self) -> None:
        _pg_ctl_start(self.bindir, self.datadir, self.port, self.listen)

    def restart(self, mode: str = "immediate", down: float = 0.0) -> None:
        """Stop the server (``immediate``: every session cut, crash recovery at start,
        as after a crash), wait ``down`` seconds, start it again on the same port."""
        self.stop(mode=mode)
        time.sleep(down)
        self.start()

    def destroy(self) -> None:
        """Stop the server and remove its data directory."""
        self.stop(mode="immediate")
        shutil.rmtree(
            self.datadir.parent
            if self.datadir.parent.name.startswith("schemaop-pg-")
            else self.datadir,
            ignore_errors=True,
        )

    def as_json(self) -> str:
        return json.dumps(
            {
                "datadir": str(self.datadir),
                "bindir": str(self.bindir),
                "port": self.port,
                "listen": self.listen,
                "dsn": self.dsn(),
            }
        )


def _env() -> dict[str, str]:
    # Never let the caller's PG* variables point our tools at another server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run_as_postgres_prefix() -> list[str]:
    """initdb and postgres refuse to run as root; use the postgres OS user then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _pg_ctl_start(bindir: Path, datadir: Path, port: int, listen: str = "127.0.0.1") -> None:
    logfile = datadir.parent / f"{datadir.name}.log"
    subprocess.run(
        [
            *_run_as_postgres_prefix(),
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-l",
            str(logfile),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -k {datadir} -c listen_addresses={listen}",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env=_env(),
    )


def start(
    basedir: Path, max_connections: int = 300, networks: tuple[tuple[str, str], ...] = ()
) -> Postgres:
    """initdb (once) and start a cluster under ``basedir``; returns its handle.

    ``networks``: (address, CIDR) pairs beyond loopback, for clients elsewhere on
    this machine (the real node's pods: the bridge address and the pod network);
    it also listens on each address and takes passwords from each CIDR.
    """
    bindir = ensure_installed()
    basedir.mkdir(parents=True, exist_ok=True)
    datadir = basedir / "data"
    if os.geteuid() == 0:
        # The server runs as the postgres OS user and must reach its directory.
        # pytest's temp root is private to root and pytest resets its mode at
        # every session start (another pytest run would cut a running server
        # off), so as root the cluster lives in a directory of its own under
        # /tmp, linked from ``basedir``; ``destroy()`` removes it.
        link = basedir / "data"
        if link.is_symlink():
            datadir = Path(os.readlink(link))
        else:
            real = Path(tempfile.mkdtemp(prefix="schemaop-pg-"))
            real.chmod(0o755)
            shutil.chown(real, "postgres", "postgres")
            datadir = real / "data"
            link.symlink_to(datadir)
    if not (datadir / "PG_VERSION").exists():
        subprocess.run(
            [
                *_run_as_postgres_prefix(),
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            env=_env(),
        )
        with (datadir / "postgresql.conf").open("a") as conf:
            # Throwaway cluster: trade durability for speed, allow many test databases.
            conf.write(
                f"\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                f"max_connections = {max_connections}\nunix_socket_permissions = 0777\n"
            )
        # Password auth over TCP for everyone but the superuser, so tests of
        # wrong passwords are real; the superuser keeps trust for set-up.
        (datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
    hba = datadir / "pg_hba.conf"
    for _address, cidr in networks:
        line = f"host all all {cidr} scram-sha-256\n"
        if line not in hba.read_text():
            with hba.open("a") as f:
                f.write(line)
    listen = ",".join(["127.0.0.1", *(address for address, _cidr in networks)])
    port = free_port()
    _pg_ctl_start(bindir, datadir, port, listen)
    pg = Postgres(datadir=datadir, bindir=bindir, port=port, listen=listen)
    (basedir / "postgres.json").write_text(pg.as_json())
    log("pg", f"PostgreSQL {datadir} listening on 127.0.0.1:{port}")
    return pg


def load(basedir: Path) -> Postgres:
    info = json.loads((basedir / "postgres.json").read_text())
    return Postgres(
        datadir=Path(info["datadir"]),
        bindir=Path(info["bindir"]),
        port=int(info["port"]),
        listen=str(info.get("listen", "127.0.0.1")),
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print("usage: python -m devenv.pg start|stop DIR", file=sys.stderr)
        return 2
    basedir = Path(argv[1]).resolve()
    if argv[0] == "start":
        print(start(basedir).as_json())
    else:
        if (basedir / "postgres.json").exists():
            load(basedir).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
