"""Rollback points: a snapshot of the managed schemas taken before a plan runs.

Policies (``RunOptions.snapshot``):

- ``None``: nothing is taken.
- ``Schema``: ``pg_dump --schema-only --no-owner --no-privileges`` of the
  managed schemas, gzip-compressed and stored in ``<history schema>.snapshots``
  with the applied version, fingerprint and plan hash. Restore with
  ``schemaop status --snapshot ID`` (prints the SQL) piped into ``psql``.
- ``Full``: ``pg_dump -Fc`` of the whole database to a file in the snapshot
  directory (e.g. a volume mounted into the Job), named
  ``<dbname>-<version>-<plan short hash>-<UTC time>.dump``; the row in
  ``snapshots`` records its path. Restore with ``pg_restore``.

pg_dump is found as ``$SCHEMAOP_PG_DUMP``, on ``PATH``, or in the newest
``/usr/lib/postgresql/*/bin``. It gets the connection from the live session's
parameters; the password goes through ``PGPASSWORD`` in its environment, never
on its command line.
"""

from __future__ import annotations

import datetime as dt
import glob
import gzip
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from schemaop.engine.connect import redact
from schemaop.engine.errors import SnapshotFailed

Conn = psycopg.Connection[Any]


_DUMP_OPTIONS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "connect_timeout",
        "options",
        "target_session_attrs",
        "service",
    }
)


def find_pg_dump() -> str:
    explicit = os.environ.get("SCHEMAOP_PG_DUMP")
    if explicit:
        return explicit
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_dump"),
        key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return candidates[0]
    found = shutil.which("pg_dump")
    if found:
        return found
    raise SnapshotFailed(
        "pg_dump is not installed (needed for snapshot policy Schema or Full); install "
        "the PostgreSQL client or set SCHEMAOP_PG_DUMP"
    )


def _dump_env_and_dsn(conn: Conn) -> tuple[dict[str, str], str]:
    # Only options every libpq knows: psycopg's bundled libpq may be newer than
    # the pg_dump on the machine, which rejects options it does not know.
    all_params = conn.info.get_parameters()
    params = {k: v for k, v in all_params.items() if k in _DUMP_OPTIONS}
    # A password from passwordFrom goes to pg_dump only by SCRAM too. In the
    # connection string, not only PGREQUIREAUTH: a libpq older than 16 would
    # ignore the variable and answer a cleartext request; the option makes it fail.
    require_auth = all_params.get("require_auth") or os.environ.get("PGREQUIREAUTH")
    if require_auth:
        params["require_auth"] = require_auth
    env = dict(os.environ)
    if conn.info.password:
        env["PGPASSWORD"] = conn.info.password
    return env, psycopg.conninfo.make_conninfo(**params)


def _bundled_libpq() -> Path | None:
    """The libpq inside psycopg's binary wheel (libpq 16+ since psycopg 3.2), if any."""
    try:
        import psycopg_binary
    except ImportError:
        return None
    libs = Path(psycopg_binary.__file__).resolve().parent.parent / "psycopg_binary.libs"
    found = sorted(libs.glob("libpq-*.so.5*"))
    return found[-1] if found else None


def _with_libpq_for_require_auth(env: dict[str, str], workdir: Path) -> None:
    """Let pg_dump honour ``require_auth`` although the machine's libpq predates it.

    The image's pg_dump comes from Debian bookworm (PostgreSQL 15, libpq 15), which
    rejects the option. libpq keeps its ABI (soname libpq.so.5) across versions, so
    pg_dump runs with psycopg's bundled, newer libpq instead: a link named
    ``libpq.so.5`` in a private directory, first on LD_LIBRARY_PATH, next to the
    wheel's own libraries (its OpenSSL, Kerberos). Without a bundled libpq nothing
    changes and an old pg_dump refuses the option (see :func:`pg_dump`).
    """
    bundled = _bundled_libpq()
    if bundled is None:
        return
    link = workdir / "libpq.so.5"
    link.symlink_to(bundled)
    path = [str(workdir), str(bundled.parent)]
    if env.get("LD_LIBRARY_PATH"):
        path.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(path)


def _schema_pattern(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pg_dump(conn: Conn, args: Sequence[str]) -> bytes:
    env, dsn = _dump_env_and_dsn(conn)
    cmd = [find_pg_dump(), "--no-password", *args, "--dbname", dsn]
    try:
        with tempfile.TemporaryDirectory(prefix="schemaop-libpq-") as workdir:
            if "require_auth=" in dsn:
                _with_libpq_for_require_auth(env, Path(workdir))
            out = subprocess.run(cmd, env=env, capture_output=True, check=False, timeout=3600)
    except OSError as exc:
        raise SnapshotFailed(f"cannot run pg_dump: {exc}") from exc
    if out.returncode != 0:
        err = redact(out.stderr.decode(errors="replace").strip())
        if "require_auth" in err and "invalid connection option" in err:
            raise SnapshotFailed(
                "pg_dump's libpq is older than 16 and cannot refuse to send the password "
                "from passwordFrom in cleartext or as md5 (require_auth), so the snapshot "
                "was not taken: use a PostgreSQL 16+ client (SCHEMAOP_PG_DUMP), give the "
                "whole URL with connection.urlFrom, or set the snapshot policy to None"
            )
        raise SnapshotFailed(f"pg_dump failed (exit {out.returncode}): {err[-1000:]}")
    return out.stdout


def schema_dump(conn: Conn, schemas: Sequence[str]) -> bytes:
    """``pg_dump --schema-only`` of ``schemas`` (plain SQL, uncompressed)."""
    args = ["--schema-only", "--no-owner", "--no-privileges"]
    for s in schemas:
        args += ["--schema", _schema_pattern(s)]
    return pg_dump(conn, args)


def take(
    conn: Conn,
    *,
    policy: str,
    schemas: Sequence[str],
    history_schema: str,
    version: str | None,
    fingerprint: str | None,
    plan_hash: str,
    snapshot_dir: str | None = None,
) -> dict[str, Any] | None:
    """Take the snapshot the policy asks for; returns its reference (None for ``None``)."""
    if policy == "None":
        return None
    table = sql.Identifier(history_schema, "snapshots")
    if policy == "Schema":
        content = gzip.compress(schema_dump(conn, schemas), mtime=0)
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (kind, version, fingerprint, plan_hash, schemas, format,"
                " size_bytes, content) VALUES ('Schema', %s, %s, %s, %s,"
                " 'pg_dump-schema-only+gzip', %s, %s) RETURNING id, taken_at"
            ).format(table),
            (version, fingerprint, plan_hash, list(schemas), len(content), content),
        ).fetchone()
        assert row is not None
        return {
            "id": row[0],
            "kind": "Schema",
            "takenAt": row[1].isoformat(),
            "version": version,
            "fingerprint": fingerprint,
            "sizeBytes": len(content),
            "location": f"{history_schema}.snapshots/{row[0]}",
        }
    if policy == "Full":
        if not snapshot_dir:
            raise SnapshotFailed("snapshot policy Full needs a snapshot directory")
        directory = Path(snapshot_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SnapshotFailed(f"cannot create snapshot directory {directory}: {exc}") from exc
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        dbname = re.sub(r"[^A-Za-z0-9_.-]", "_", conn.info.dbname or "db")
        path = directory / f"{dbname}-{version or 'empty'}-{plan_hash[:12]}-{stamp}.dump"
        pg_dump(conn, ["--format=custom", "--file", str(path)])
        size = path.stat().st_size
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (kind, version, fingerprint, plan_hash, schemas, format,"
                " location, size_bytes) VALUES ('Full', %s, %s, %s, %s, 'pg_dump-custom', %s, %s)"
                " RETURNING id, taken_at"
            ).format(table),
            (version, fingerprint, plan_hash, list(schemas), str(path), size),
        ).fetchone()
        assert row is not None
        return {
            "id": row[0],
            "kind": "Full",
            "takenAt": row[1].isoformat(),
            "version": version,
            "fingerprint": fingerprint,
            "sizeBytes": size,
            "location": str(path),
        }
    raise SnapshotFailed(f"unknown snapshot policy {policy!r}")


def read_schema_snapshot(conn: Conn, history_schema: str, snapshot_id: int) -> bytes:
    """The SQL of a ``Schema`` snapshot (decompressed)."""
    row = conn.execute(
        sql.SQL("SELECT content FROM {} WHERE id = %s AND kind = 'Schema'").format(
            sql.Identifier(history_schema, "snapshots")
        ),
        (snapshot_id,),
    ).fetchone()
    if row is None or row[0] is None:
        raise SnapshotFailed(f"no schema snapshot with id {snapshot_id}")
    return gzip.decompress(bytes(row[0]))


def list_snapshots(conn: Conn, history_schema: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sql.SQL(
            "SELECT id, kind, taken_at, version, fingerprint, plan_hash, location, size_bytes"
            " FROM {} ORDER BY id"
        ).format(sql.Identifier(history_schema, "snapshots"))
    ).fetchall()
    return [
        {
            "id": r[0],
            "kind": r[1],
            "takenAt": r[2].isoformat(),
            "version": r[3],
            "fingerprint": r[4],
            "planHash": r[5],
            "location": r[6] or f"{history_schema}.snapshots/{r[0]}",
            "sizeBytes": r[7],
        }
        for r in rows
    ]
