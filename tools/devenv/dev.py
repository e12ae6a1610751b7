"""`make dev` / `make dev-down`: a local PostgreSQL and Kubernetes that outlive the command.

Why: a developer wants both running in the background while they work, reachable
with plain ``kubectl`` and ``psql``, and one command to stop them. ``up`` starts
(or reuses, if already running) a throwaway PostgreSQL (:mod:`devenv.pg`) and the
local control plane with its pod runner (:mod:`devenv.cluster`, detached), all
state under ``.dev/`` (``SCHEMAOP_DEV_DIR`` overrides), then writes
``.dev/env.sh`` with KUBECONFIG, DATABASE_URL and a PATH holding kubectl, helm
and the venv's schemaop. ``down`` stops both and keeps the data, so the next
``up`` finds the same objects and databases.

    python -m devenv.dev up|down|env
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv.util import log, state_dir


def _pg_running(base: Path) -> devpg.Postgres | None:
    if not (base / "postgres.json").exists():
        return None
    server = devpg.load(base)
    try:
        server.psql("SELECT 1")
    except (subprocess.CalledProcessError, OSError):
        return None
    return server


def _env_sh(state: Path, server: devpg.Postgres, running: devcluster.Cluster) -> Path:
    venv_bin = Path(sys.executable).parent
    lines = [
        "# Written by `make dev` (python -m devenv.dev up). Source it: . .dev/env.sh",
        f"export KUBECONFIG={shlex.quote(str(running.kubeconfig))}",
        f"export DATABASE_URL={shlex.quote(server.dsn())}",
        f"export SCHEMAOP_DEV_DIR={shlex.quote(str(state))}",
        f'export PATH={shlex.quote(str(running.bin_dir))}:{shlex.quote(str(venv_bin))}:"$PATH"',
    ]
    path = state / "env.sh"
    path.write_text("\n".join(lines) + "\n")
    return path


def up(state: Path) -> int:
    state.mkdir(parents=True, exist_ok=True)
    server = _pg_running(state / "pg")
    if server is None:
        server = devpg.start(state / "pg")
    else:
        log("dev", f"PostgreSQL already running on 127.0.0.1:{server.port}")
    cluster_dir = state / "cluster"
    running = devcluster.Cluster.load(cluster_dir)
    if running is not None and running.alive():
        log("dev", f"control plane already running at {running.server}")
    else:
        if running is not None:
            running.stop()  # a partial or stale one: nothing may be left behind
        running = devcluster.start(cluster_dir, detached=True)
    env_sh = _env_sh(state, server, running)
    rel = _relative(env_sh)
    print(
        f"""
schemaop dev environment is up (state in {_relative(state)}/)
  Kubernetes   {running.server}  (node {running.node_name})
  kubeconfig   {_relative(running.kubeconfig)}
  PostgreSQL   {server.dsn()}
  Pod logs     {_relative(running.pod_log_dir)}/<namespace>/<pod>/<container>.log
  Server logs  {_relative(running.log_dir)}/

Use them from a shell:
  source {rel}
  kubectl get nodes
  psql "$DATABASE_URL"

Stop everything: make dev-down
"""
    )
    return 0


def down(state: Path) -> int:
    stopped = devcluster.stop(state / "cluster")
    server = _pg_running(state / "pg")
    if server is not None:
        server.stop()
        stopped = True
    log("dev", "stopped" if stopped else "nothing was running")
    return 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"up", "down", "env"}:
        print("usage: python -m devenv.dev up|down|env", file=sys.stderr)
        return 2
    state = state_dir().resolve()
    try:
        if argv[0] == "up":
            return up(state)
        if argv[0] == "down":
            return down(state)
        print(state / "env.sh")
        return 0
    except (devcluster.ClusterError, subprocess.CalledProcessError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
