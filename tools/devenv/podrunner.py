"""The local pod runner: a stand-in for kubelet, scheduler and container runtime.

Why: there is no container runtime here, yet the product's Jobs and Deployments
must really run, so that the real Job controller completes or fails Jobs with
its own ``backoffLimit`` semantics. This process

- registers one Node (Ready, with capacity) and binds every pending pod to it
  through the ``binding`` subresource (there is no kube-scheduler);
- runs each container of a pod bound to it as a local process: the image's
  entrypoint is ``schemaop`` (so ``args`` alone mean ``schemaop <args>``), a
  ``command`` is honoured as is, resolved on a PATH that starts with the
  project's venv; env with ``$(VAR)`` expansion, ``valueFrom`` (secretKeyRef,
  configMapKeyRef, fieldRef, resourceFieldRef) and ``envFrom``;
- materializes ConfigMap, Secret, emptyDir, downwardAPI, hostPath and projected
  volumes (service-account tokens from the TokenRequest API, refreshed before
  they expire) to a per-pod directory, and makes them appear at their mount
  paths in a private mount namespace per container (``unshare --mount``),
  so product code and ``load_incluster_config()`` need no knowledge of this;
- keeps stdout/stderr as the container log in
  ``<state>/logs/<namespace>/<pod>/<container>.log``;
- reports exit code and the termination message (``terminationMessagePath``,
  mapped to a per-container file) in ``status.containerStatuses`` and sets the
  pod phase from ``restartPolicy``; runs init containers first, in order;
  keeps long-running containers running (restarting per policy) until the pod is
  deleted, then SIGTERM, grace period, SIGKILL, and finishes the deletion as
  the kubelet does (delete with grace period 0).

Only images of this project run (repository's last path component
``schemaop``); any other pod gets phase Failed, reason ``ImageNotRunnable``.
Test infrastructure only: no resource limits, probes, networking or security
contexts. See docs/local-cluster.md.

    python -m devenv.podrunner --server URL --ca-file F --token-file F --state-dir D
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import dataclasses
import datetime
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import urllib3

JSON = dict[str, Any]

TERMINATION_MESSAGE_LIMIT = 4096
FALLBACK_LOG_LIMIT = 2048
RESTART_BACKOFF_START = 1.0
RESTART_BACKOFF_MAX = 20.0
TOKEN_EXPIRATION = 3607
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The checkout the `schemaop` command runs from (an editable install points here).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} [podrunner] {message}", file=sys.stderr, flush=True)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_runnable(image: str) -> bool:
    """Only the project's own image runs: ``[registry/][path/]schemaop[:tag][@digest]``."""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    return last.split(":", 1)[0] == "schemaop"


# --- a small Kubernetes API client -----------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Api:
    """JSON over HTTPS with a bearer token; thread-safe (one urllib3 pool)."""

    def __init__(self, server: str, ca_file: str, token: str) -> None:
        self.server = server.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._pool = urllib3.PoolManager(
            num_pools=2, maxsize=16, ca_certs=ca_file, cert_reqs="CERT_REQUIRED", retries=False
        )

    def _url(self, path: str, query: dict[str, Any] | None) -> str:
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        *,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> JSON:
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        resp = self._pool.request(
            method, self._url(path, query), body=data, headers=headers, timeout=timeout
        )
        payload: JSON = {}
        if resp.data:
            try:
                payload = json.loads(resp.data)
            except ValueError:
                payload = {"message": resp.data[:200].decode(errors="replace")}
        if resp.status >= 400:
            raise ApiError(resp.status, str(payload.get("message", payload)))
        return payload

    def get(self, path: str, **query: Any) -> JSON:
        return self.request("GET", path, query=query or None)

    def merge_patch(self, path: str, body: JSON) -> JSON:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def watch(self, path: str, **query: Any) -> Iterator[JSON]:
        """Yield watch events until the server closes the stream."""
        query = {**query, "watch": "1"}
        resp = self._pool.request(
            "GET",
            self._url(path, query),
            headers=self._headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=5.0, read=float(query.get("timeoutSeconds", 300)) + 30),
        )
        try:
            if resp.status >= 400:
                raise ApiError(resp.status, resp.read()[:200].decode(errors="replace"))
            buffer = b""
            for chunk in resp.stream(amt=None):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()


# --- values from the pod and the API ---------------------------------------


class NotReady(Exception):
    """A referenced object or key is missing: retry (the kubelet does too)."""


class Unsupported(Exception):
    """Something this runner cannot do: the pod fails with this message."""


def _meta(pod: JSON) -> JSON:
    return pod.get("metadata") or {}


def field_value(pod: JSON, field_path: str) -> str:
    meta = _meta(pod)
    spec = pod.get("spec") or {}
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", field_path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": "127.0.0.1",
        "status.podIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
    }
    if field_path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(field_path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    if field_path not in values:
        raise Unsupported(f"fieldRef {field_path!r} is not supported by the local pod runner")
    return str(values[field_path])


def resource_value(container: JSON, ref: JSON) -> str:
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None:
        value = str(os.cpu_count() or 1) if name == "cpu" else str(8 * 1024**3)
    return str(value)


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, ``$$`` is ``$``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(repl, text)


class Objects:
    """Reads Secrets and ConfigMaps for one pod start (cached for that start only)."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self._cache: dict[tuple[str, str], JSON | None] = {}

    def data(self, kind: str, name: str, optional: bool) -> dict[str, bytes] | None:
        key = (kind, name)
        if key not in self._cache:
            resource = "secrets" if kind == "Secret" else "configmaps"
            try:
                self._cache[key] = self.api.get(
                    f"/api/v1/namespaces/{self.namespace}/{resource}/{name}"
                )
            except ApiError as exc:
                if exc.status != 404:
                    raise
                self._cache[key] = None
        obj = self._cache[key]
        if obj is None:
            if optional:
                return None
            raise NotReady(f'{kind.lower()} "{name}" not found')
        out: dict[str, bytes] = {}
        if kind == "Secret":
            for k, v in (obj.get("data") or {}).items():
                out[k] = base64.b64decode(v)
        else:
            for k, v in (obj.get("data") or {}).items():
                out[k] = str(v).encode()
            for k, v in (obj.get("binaryData") or {}).items():
                out[k] = base64.b64decode(v)
        return out

    def key(self, kind: str, ref: JSON) -> str | None:
        optional = bool(ref.get("optional", False))
        data = self.data(kind, ref.get("name", ""), optional)
        if data is None:
            return None
        if ref["key"] not in data:
            if optional:
                return None
            raise NotReady(f"couldn't find key {ref['key']} in {kind} {ref.get('name')}")
        return data[ref["key"]].decode(errors="replace")


def container_env(
    pod: JSON, container: JSON, objects: Objects, base: dict[str, str]
) -> dict[str, str]:
    env = dict(base)
    declared: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if field in source:
                ref = source[field]
                data = objects.data(kind, ref.get("name", ""), bool(ref.get("optional", False)))
                for k, v in (data or {}).items():
                    declared[prefix + k] = v.decode(errors="replace")
    for item in container.get("env") or []:
        name = item["name"]
        value: str | None
        if "valueFrom" in item:
            source = item["valueFrom"]
            if "secretKeyRef" in source:
                value = objects.key("Secret", source["secretKeyRef"])
            elif "configMapKeyRef" in source:
                value = objects.key("ConfigMap", source["configMapKeyRef"])
            elif "fieldRef" in source:
                value = field_value(pod, source["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in source:
                value = resource_value(container, source["resourceFieldRef"])
            else:
                raise Unsupported(f"env {name}: unsupported valueFrom {sorted(source)}")
            if value is None:
                continue
        else:
            value = expand(str(item.get("value", "")), {**env, **declared})
        declared[name] = value
    env.update(declared)
    return env


# --- volumes ---------------------------------------------------------------


def _write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


@dataclasses.dataclass
class TokenFile:
    path: Path
    service_account: str
    audience: str
    expiration: int
    refresh_at: float = 0.0


class Volumes:
    """Materializes a pod's volumes under ``root`` (``root/<volume name>``)."""

    def __init__(self, api: Api, pod: JSON, root: Path) -> None:
        self.api = api
        self.pod = pod
        self.root = root
        self.paths: dict[str, Path] = {}
        self.tokens: list[TokenFile] = []

    def materialize(self) -> None:
        meta = _meta(self.pod)
        objects = Objects(self.api, meta["namespace"])
        for volume in (self.pod.get("spec") or {}).get("volumes") or []:
            name = volume["name"]
            if name in self.paths:
                continue
            target = self.root / name
            if "hostPath" in volume:
                host = Path(volume["hostPath"]["path"])
                if volume["hostPath"].get("type") == "DirectoryOrCreate":
                    host.mkdir(parents=True, exist_ok=True)
                self.paths[name] = host
                continue
            staging = self.root / f".{name}.staging"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            tokens: list[TokenFile] = []
            if "emptyDir" in volume:
                pass
            elif "configMap" in volume:
                self._keys(staging, objects, "ConfigMap", volume["configMap"], "name")
            elif "secret" in volume:
                self._keys(staging, objects, "Secret", volume["secret"], "secretName")
            elif "downwardAPI" in volume:
                self._downward(staging, volume["downwardAPI"])
            elif "projected" in volume:
                projected = volume["projected"]
                mode = int(projected.get("defaultMode", 0o644))
                for source in projected.get("sources") or []:
                    if "serviceAccountToken" in source:
                        sat = source["serviceAccountToken"]
                        tokens.append(
                            TokenFile(
                                path=staging / sat["path"],
                                service_account=(self.pod.get("spec") or {}).get(
                                    "serviceAccountName", "default"
                                ),
                                audience=sat.get("audience", ""),
                                expiration=int(sat.get("expirationSeconds", TOKEN_EXPIRATION)),
                            )
                        )
                    elif "configMap" in source:
                        self._keys(
                            staging,
                            objects,
                            "ConfigMap",
                            {"defaultMode": mode, **source["configMap"]},
                            "name",
                        )
                    elif "secret" in source:
                        self._keys(
                            staging,
                            objects,
                            "Secret",
                            {"defaultMode": mode, **source["secret"]},
                            "name",
                        )
                    elif "downwardAPI" in source:
                        self._downward(staging, {"defaultMode": mode, **source["downwardAPI"]})
                    else:
                        raise Unsupported(
                            f"volume {name}: unsupported projected source {sorted(source)}"
                        )
                for token in tokens:
                    self._request_token(token)
            else:
                kinds = sorted(k for k in volume if k != "name")
                raise Unsupported(f"volume {name}: type {kinds} is not supported locally")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
            for token in tokens:
                token.path = target / token.path.relative_to(staging)
            self.tokens.extend(tokens)
            self.paths[name] = target

    def _keys(self, into: Path, objects: Objects, kind: str, source: JSON, name_field: str) -> None:
        optional = bool(source.get("optional", False))
        data = objects.data(kind, source.get(name_field, ""), optional)
        if data is None:
            return
        default_mode = int(source.get("defaultMode", 0o644))
        items = source.get("items")
        if items:
            for item in items:
                if item["key"] not in data:
                    if optional:
                        continue
                    raise NotReady(f"{kind} {source.get(name_field)} has no key {item['key']}")
                mode = int(item.get("mode", default_mode))
                _write_file(into / item["path"], data[item["key"]], mode)
        else:
            for key, value in data.items():
                _write_file(into / key, value, default_mode)

    def _downward(self, into: Path, source: JSON) -> None:
        default_mode = int(source.get("defaultMode", 0o644))
        for item in source.get("items") or []:
            if "fieldRef" in item:
                value = field_value(self.pod, item["fieldRef"]["fieldPath"])
            else:
                raise Unsupported("downwardAPI resourceFieldRef is not supported locally")
            _write_file(into / item["path"], value.encode(), int(item.get("mode", default_mode)))

    def _request_token(self, token: TokenFile) -> None:
        meta = _meta(self.pod)
        spec: JSON = {
            "expirationSeconds": token.expiration,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if token.audience:
            spec["audiences"] = [token.audience]
        try:
            result = self.api.request(
                "POST",
                f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/"
                f"{token.service_account}/token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
            )
        except ApiError as exc:
            if exc.status == 404:
                raise NotReady(f'serviceaccount "{token.service_account}" not found') from exc
            raise
        _write_file(token.path, result["status"]["token"].encode(), 0o644)
        token.refresh_at = time.monotonic() + 0.8 * token.expiration

    def refresh_tokens(self) -> float:
        """Renew tokens that are 80% through their life; returns seconds until the next."""
        next_due = 3600.0
        for token in self.tokens:
            if time.monotonic() >= token.refresh_at:
                try:
                    self._request_token(token)
                except (ApiError, NotReady, urllib3.exceptions.HTTPError) as exc:
                    log(f"token refresh for {token.path} failed, retrying: {exc}")
                    token.refresh_at = time.monotonic() + 30
            next_due = min(next_due, token.refresh_at - time.monotonic())
        return max(next_due, 1.0)


# --- private mount namespaces ----------------------------------------------


def probe_isolation() -> str:
    """How containers see their mounts: 'root' (unshare --mount), 'userns', or 'none'."""
    base = ["unshare", "--mount", "--uts", "--propagation", "private"]
    candidates = [("root", base)] if os.geteuid() == 0 else []
    candidates.append(("userns", [*base, "--map-root-user"]))
    for mode, argv in candidates:
        try:
            ok = (
                subprocess.run(
                    [*argv, "true"], check=False, capture_output=True, timeout=10
                ).returncode
                == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return mode
    return "none"


def mount_points() -> list[Path]:
    points = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            points.append(Path(line.split()[4].replace("\\040", " ")))
    except OSError:
        pass
    return points


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclasses.dataclass
class Mount:
    source: Path
    target: Path
    read_only: bool
    is_file: bool


def mount_script(
    mounts: list[Mount],
    overlay_root: Path,
    protected: list[Path],
    hostname: str,
    workdir: str,
    keep: list[Path] | None = None,
) -> str:
    """A bash script run inside a fresh mount namespace, then ``exec "$@"``.

    ``keep`` are host directories the process needs whatever the pod mounts
    (the project and its venv, which ``schemaop`` runs from): one that a mount
    hides (a checkout under ``/tmp`` and an emptyDir at ``/tmp``) is bound
    back at its own path after the pod's mounts.

    Every source is opened first and bound from ``/proc/self/fd/N`` (with
    ``--no-canonicalize``: mount(8) would otherwise resolve the fd back to its
    path, which a mount may hide by then), so a mount
    over a directory that holds other mounts' sources (an emptyDir at ``/tmp``
    while the runner's state lives under ``/tmp``) cannot hide them; targets are
    then bound parents first, so nested mount paths work too.

    A mount target that does not exist is created privately: the nearest
    existing ancestor directory gets a private overlay (its writes land in
    ``overlay_root``), unless that ancestor is ``/``, has other mounts below it
    (``/dev``: an overlay would hide them) or holds the runner's own state; then
    the empty mount point is created on the host, once.
    """
    existing_mounts = mount_points()
    overlays: list[Path] = []
    bound: list[Path] = []
    lines = ["set -e"]
    opens: list[str] = []
    binds: list[str] = []
    closes: list[str] = []
    for i, mount in enumerate(sorted(mounts, key=lambda m: len(m.target.parts))):
        target = Path(os.path.realpath(mount.target))
        if not target.exists() and not any(_under(target, b) for b in bound):
            ancestor = target.parent
            while not ancestor.exists():
                ancestor = ancestor.parent
            ancestor = Path(os.path.realpath(ancestor))
            if any(_under(ancestor, o) for o in overlays):
                pass
            elif (
                ancestor != Path("/")
                and not any(m != ancestor and _under(m, ancestor) for m in existing_mounts)
                and not any(_under(p, ancestor) or _under(ancestor, p) for p in protected)
            ):
                layer = overlay_root / str(len(overlays))
                (layer / "upper").mkdir(parents=True, exist_ok=True)
                (layer / "work").mkdir(parents=True, exist_ok=True)
                lines.append(
                    "mount -t overlay overlay -o "
                    + shlex.quote(
                        f"lowerdir={ancestor},upperdir={layer / 'upper'},workdir={layer / 'work'}"
                    )
                    + f" {shlex.quote(str(ancestor))}"
                )
                overlays.append(ancestor)
            elif mount.is_file:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch(exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
        t = shlex.quote(str(target))
        if mount.is_file:
            binds.append(
                f"[ -e {t} ] || {{ mkdir -p {shlex.quote(str(target.parent))}; : > {t}; }}"
            )
        else:
            binds.append(f"[ -d {t} ] || mkdir -p {t}")
        opens.append(f"exec {{src{i}}}<{shlex.quote(str(mount.source))}")
        binds.append(f'mount --no-canonicalize --bind "/proc/self/fd/${{src{i}}}" {t}')
        closes.append(f"exec {{src{i}}}<&-")
        if mount.read_only:
            binds.append(f"mount -o remount,bind,ro {t}")
        bound.append(target)
    targets = [Path(os.path.realpath(m.target)) for m in mounts if not m.is_file]
    for j, path in enumerate(keep or []):
        real = Path(os.path.realpath(path))
        if not any(_under(real, t) for t in targets):
            continue
        q = shlex.quote(str(real))
        opens.append(f"exec {{keep{j}}}<{q}")
        binds.append(f"[ -d {q} ] || mkdir -p {q}")
        binds.append(f'mount --no-canonicalize --bind "/proc/self/fd/${{keep{j}}}" {q}')
        closes.append(f"exec {{keep{j}}}<&-")
    lines[1:1] = opens  # before the overlays, too
    lines.extend(binds + closes)
    lines.append(f"hostname {shlex.quote(hostname[:63])} 2>/dev/null || true")
    lines.append(f"mkdir -p {shlex.quote(workdir)} && cd {shlex.quote(workdir)}")
    lines.append('exec "$@"')
    return "\n".join(lines) + "\n"


# --- one container ----------------------------------------------------------


def _pdeathsig_kill() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


@dataclasses.dataclass
class Container:
    spec: JSON
    init: bool
    restart_count: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started_at: str = ""
    started_mono: float = 0.0
    log_offset: int = 0
    state: JSON = dataclasses.field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: JSON = dataclasses.field(default_factory=dict)
    next_start: float = 0.0
    backoff: float = RESTART_BACKOFF_START
    exit_code: int | None = None
    done: bool = False

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return self.proc is not None

    def status(self) -> JSON:
        return {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "local://" + str(self.spec.get("image", "")),
            "containerID": f"local://{self.proc.pid}" if self.proc else "",
            "ready": self.running and not self.init,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }


# --- one pod ----------------------------------------------------------------


class PodWorker(threading.Thread):
    """Runs one pod from binding to deletion; the only writer of its status."""

    def __init__(self, runner: Runner, pod: JSON) -> None:
        meta = _meta(pod)
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.runner = runner
        self.api = runner.api
        self.pod = pod
        self.namespace: str = meta["namespace"]
        self.pod_name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.dir = runner.state_dir / "pods" / self.uid
        self.log_dir = runner.state_dir / "logs" / self.namespace / self.pod_name
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self.deleting: float | None = None  # grace period once deletion is requested
        self.finished = False
        self.shutting_down = False
        spec = pod.get("spec") or {}
        self.restart_policy: str = spec.get("restartPolicy", "Always")
        self.inits = [Container(c, True) for c in spec.get("initContainers") or []]
        self.containers = [Container(c, False) for c in spec.get("containers") or []]
        self.volumes = Volumes(self.api, pod, self.dir / "volumes")
        self.start_time = now()
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self._transitions: dict[str, tuple[str, str]] = {}
        self._last_status: JSON | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.pod_name}"

    # called from the watch thread
    def update(self, pod: JSON) -> None:
        self.pod = pod
        self.volumes.pod = pod

    def request_delete(self, grace: float) -> bool:
        """Ask the worker to finish the deletion; False if it already ended."""
        with self._lock:
            if self.finished:
                return False
            self.deleting = grace if self.deleting is None else min(grace, self.deleting)
        self.wake.set()
        return True

    def shutdown(self) -> None:
        self.shutting_down = True
        self.wake.set()

    # the thread
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            log(f"{self.key}: runner error: {exc}\n{traceback.format_exc()}")
            self._kill_all(grace=1)
            self.phase, self.reason, self.message = "Failed", "RunnerError", str(exc)
            with contextlib.suppress(Exception):
                self._push_status()
        finally:
            with self._lock:
                self.finished = True
                deleting = self.deleting
            if deleting is not None and not self.shutting_down:
                self.runner.finish_deletion(self.namespace, self.pod_name, self.uid)

    def _stop_requested(self) -> bool:
        return self.deleting is not None or self.shutting_down

    def _run(self) -> None:
        images = [c.spec.get("image", "") for c in self.inits + self.containers]
        foreign = [i for i in images if not image_runnable(i)]
        if foreign:
            message = (
                f"image {foreign[0]!r} cannot run here: the local pod runner only runs this "
                "project's image (a repository whose last path component is 'schemaop', "
                "e.g. schemaop:dev)"
            )
            for c in self.inits + self.containers:
                reason = (
                    "ImageNotRunnable" if not image_runnable(c.spec.get("image", "")) else "Blocked"
                )
                c.state = {"waiting": {"reason": reason, "message": message}}
            self.phase, self.reason, self.message = "Failed", "ImageNotRunnable", message
            self._push_status()
            log(f"{self.key}: refused: {message}")
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._push_status()
        if not self._prepare_volumes():
            return self._on_stop()
        for init in self.inits:
            if not self._run_init(init):
                return self._on_stop()
        while not self._stop_requested():
            now_mono = time.monotonic()
            for c in self.containers:
                if not c.running and not c.done and now_mono >= c.next_start:
                    self._start(c)
            self._compute_phase()
            self._push_status()
            if self.phase in ("Succeeded", "Failed"):
                self._kill_all(grace=1)  # a container that could not start fails the pod
                log(f"{self.key}: {self.phase}")
                return
            self._wait(self.containers)
            for c in self.containers:
                self._reap(c)
        return self._on_stop()

    def _wait(self, containers: list[Container]) -> None:
        timeout = self.volumes.refresh_tokens() if self.volumes.tokens else 3600.0
        pending = [
            c.next_start - time.monotonic() for c in containers if not c.running and not c.done
        ]
        if pending:
            timeout = min(timeout, max(0.05, *pending))
        self.wake.wait(timeout)
        self.wake.clear()

    def _prepare_volumes(self) -> bool:
        delay = 0.5
        while not self._stop_requested():
            try:
                self.volumes.materialize()
                return True
            except NotReady as exc:
                message = f"MountVolume.SetUp failed: {exc}"
                for c in self.inits + self.containers:
                    c.state = {"waiting": {"reason": "ContainerCreating", "message": message}}
                self._push_status()
            except Unsupported as exc:
                self._fail_unsupported(str(exc))
                return False
            self.wake.wait(delay)
            self.wake.clear()
            delay = min(delay * 2, 5.0)
        return False

    def _fail_unsupported(self, message: str) -> None:
        self.phase, self.reason, self.message = "Failed", "Unsupported", message
        self._push_status()
        log(f"{self.key}: failed: {message}")

    def _run_init(self, init: Container) -> bool:
        while not self._stop_requested():
            if not init.running and time.monotonic() >= init.next_start:
                self._start(init)
            self._push_status()
            if self.phase == "Failed":
                return False
            self._wait([init])
            self._reap(init)
            if init.done:
                if init.exit_code == 0:
                    return True
                self.phase = "Failed"
                self._push_status()
                return False
        return False

    def _base_env(self) -> dict[str, str]:
        runner = self.runner
        return {
            "PATH": runner.path,
            "HOME": os.environ.get("HOME", "/root"),
            "HOSTNAME": self.pod_name,
            "LANG": "C.UTF-8",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(runner.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(runner.api_port),
            "KUBERNETES_PORT": f"tcp://127.0.0.1:{runner.api_port}",
        }

    def _start(self, c: Container) -> None:
        spec = c.spec
        try:
            env = container_env(self.pod, spec, Objects(self.api, self.namespace), self._base_env())
        except NotReady as exc:
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
            c.next_start = time.monotonic() + 2.0
            return
        except Unsupported as exc:
            self._fail_unsupported(str(exc))
            c.done, c.exit_code = True, 128
            return
        command = [expand(x, env) for x in spec.get("command") or []] or ["schemaop"]
        argv = command + [expand(x, env) for x in spec.get("args") or []]
        cdir = self.dir / "containers" / c.name
        cdir.mkdir(parents=True, exist_ok=True)
        termination = cdir / "termination-log"
        termination.write_bytes(b"")
        mounts = [
            Mount(
                termination,
                Path(spec.get("terminationMessagePath") or "/dev/termination-log"),
                False,
                True,
            )
        ]
        for vm in spec.get("volumeMounts") or []:
            source = self.volumes.paths.get(vm["name"])
            if source is None:
                self._fail_unsupported(f"container {c.name}: no volume named {vm['name']!r}")
                c.done, c.exit_code = True, 128
                return
            sub = vm.get("subPath") or ""
            if vm.get("subPathExpr"):
                sub = expand(vm["subPathExpr"], env)
            if sub:
                source = source / sub
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(
                Mount(source, Path(vm["mountPath"]), bool(vm.get("readOnly")), source.is_file())
            )
        logfile = self.log_dir / f"{c.name}.log"
        workdir = spec.get("workingDir") or "/"
        isolation = self.runner.isolation
        if isolation == "none":
            env["SCHEMAOP_LOCAL_MOUNTS"] = json.dumps(
                {str(m.target): str(m.source) for m in mounts}
            )
            full = argv
            cwd: str | None = workdir if os.path.isdir(workdir) else None
        else:
            script = cdir / "start.sh"
            script.write_text(
                mount_script(
                    mounts,
                    cdir / "overlay",
                    [self.runner.state_dir.resolve()],
                    self.pod_name,
                    workdir,
                    keep=[PROJECT_ROOT, Path(sys.prefix)],
                )
            )
            full = ["unshare", "--mount", "--uts", "--propagation", "private"]
            if isolation == "userns":
                full.append("--map-root-user")
            full += ["/bin/bash", str(script), *argv]
            cwd = None
        with logfile.open("ab") as out:
            c.log_offset = out.tell()
            try:
                proc = subprocess.Popen(
                    full,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=_pdeathsig_kill,  # noqa: PLW1509 - prctl only, no locks
                )
            except OSError as exc:
                c.state = {"waiting": {"reason": "RunContainerError", "message": str(exc)}}
                c.next_start = time.monotonic() + c.backoff
                c.backoff = min(c.backoff * 2, RESTART_BACKOFF_MAX)
                return
        c.proc = proc
        # Recorded so that `devenv.cluster.stop` can kill what a killed runner left.
        (self.runner.state_dir / "running").mkdir(exist_ok=True)
        (self.runner.state_dir / "running" / str(proc.pid)).touch()
        c.started_at = now()
        c.started_mono = time.monotonic()
        c.state = {"running": {"startedAt": c.started_at}}
        threading.Thread(target=self._waiter, args=(proc,), daemon=True).start()
        # The spec's words, not the expanded ones: $(VAR) may name a Secret's value.
        shown = shlex.join((spec.get("command") or ["schemaop"]) + (spec.get("args") or []))
        log(f"{self.key}: started {c.name} (pid {proc.pid}): {shown[:200]}")

    def _waiter(self, proc: subprocess.Popen[bytes]) -> None:
        # A container ends with its main process: once that exited (still a
        # zombie, so its pid cannot be reused yet), kill what it left behind.
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.wake.set()

    def _reap(self, c: Container) -> None:
        proc = c.proc
        if proc is None or proc.poll() is None:
            return
        code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        c.proc = None
        with contextlib.suppress(FileNotFoundError):
            (self.runner.state_dir / "running" / str(proc.pid)).unlink()
        c.exit_code = code
        message = self._termination_message(c, code)
        terminated: JSON = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": c.started_at,
            "finishedAt": now(),
            "containerID": f"local://{proc.pid}",
        }
        if message:
            terminated["message"] = message
        c.state = {"terminated": terminated}
        log(f"{self.key}: {c.name} exited with {code}")
        policy = self.restart_policy
        if c.init:  # init containers run to completion; only failures repeat
            restart = policy != "Never" and code != 0
        else:
            restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        if self._stop_requested() or not restart:
            c.done = True
            return
        if time.monotonic() - c.started_mono > 60:
            c.backoff = RESTART_BACKOFF_START
        c.last_state = c.state
        c.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {c.backoff:.0f}s restarting failed container={c.name}",
            }
        }
        c.restart_count += 1
        c.next_start = time.monotonic() + c.backoff
        c.backoff = min(c.backoff * 2, RESTART_BACKOFF_MAX)

    def _termination_message(self, c: Container, code: int) -> str:
        path = self.dir / "containers" / c.name / "termination-log"
        try:
            with path.open("rb") as f:
                data = f.read(TERMINATION_MESSAGE_LIMIT)
        except OSError:
            data = b""
        if (
            not data
            and code != 0
            and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            try:
                with (self.log_dir / f"{c.name}.log").open("rb") as f:
                    f.seek(c.log_offset)
                    tail = f.read()[-FALLBACK_LOG_LIMIT:]
                data = b"\n".join(tail.splitlines()[-80:])
            except OSError:
                data = b""
        return str(data.decode(errors="replace"))

    def _compute_phase(self) -> None:
        if self.phase == "Failed":
            return
        cs = self.containers
        if all(c.done for c in cs):
            self.phase = "Succeeded" if all(c.exit_code == 0 for c in cs) else "Failed"
        elif any(c.running or c.restart_count or c.done for c in cs):
            self.phase = "Running"

    def _condition(self, kind: str, ok: bool, reason: str | None = None) -> JSON:
        status = "True" if ok else "False"
        previous = self._transitions.get(kind)
        if previous is None or previous[0] != status:
            self._transitions[kind] = (status, now())
        cond: JSON = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": self._transitions[kind][1],
        }
        if reason and not ok:
            cond["reason"] = reason
        return cond

    def _push_status(self) -> None:
        terminal = self.phase in ("Succeeded", "Failed")
        initialized = all(c.done and c.exit_code == 0 for c in self.inits)
        ready = not terminal and all(c.running for c in self.containers)
        not_ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
        status: JSON = {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "conditions": [
                self._condition("PodReadyToStartContainers", True),
                self._condition(
                    "Initialized",
                    initialized or (terminal and not self.inits),
                    "ContainersNotInitialized",
                ),
                self._condition("ContainersReady", ready, not_ready_reason),
                self._condition("Ready", ready, not_ready_reason),
                self._condition("PodScheduled", True),
            ],
            "containerStatuses": [c.status() for c in self.containers],
            "reason": self.reason,
            "message": self.message,
        }
        if self.inits:
            status["initContainerStatuses"] = [c.status() for c in self.inits]
        if status == self._last_status:
            return
        for attempt in range(5):
            try:
                self.api.merge_patch(
                    f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}/status",
                    {"status": status},
                )
                self._last_status = status
                return
            except ApiError as exc:
                if exc.status == 404:
                    self.shutdown()
                    return
                log(f"{self.key}: status update failed ({exc}); retrying")
            except urllib3.exceptions.HTTPError as exc:
                log(f"{self.key}: status update failed ({exc}); retrying")
            time.sleep(0.2 * (attempt + 1))

    def _kill_all(self, grace: float) -> None:
        running = [c for c in self.inits + self.containers if c.proc is not None]
        for c in running:
            assert c.proc is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in running:
            assert c.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for c in running:
            assert c.proc is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(timeout=5)

    def _on_stop(self) -> None:
        """Deletion requested (or the runner stops): stop the processes, report, return."""
        if self.shutting_down and self.deleting is None:
            self._kill_all(grace=5)
            return
        grace = min(self.deleting or 0.0, 30.0)
        self._kill_all(grace)
        for c in self.inits + self.containers:
            self._reap(c)
        if self.phase not in ("Succeeded", "Failed"):
            self._compute_phase()
            if self.phase not in ("Succeeded", "Failed"):
                self.phase = "Failed"
        with contextlib.suppress(Exception):
            self._push_status()


# --- the kubelet log endpoint --------------------------------------------------


class _LogHandler(http.server.BaseHTTPRequestHandler):
    """``GET /containerLogs/<namespace>/<pod>/<container>``: what the API server asks
    a kubelet for ``kubectl logs`` (``follow``, ``tailLines``, ``limitBytes``)."""

    server: LogServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if (
            len(parts) != 4
            or parts[0] != "containerLogs"
            or any(p in ("", ".", "..") for p in parts)
        ):
            self.send_error(404, "the local pod runner serves only /containerLogs/NS/POD/CONTAINER")
            return
        _, namespace, pod, container = parts
        query = urllib.parse.parse_qs(url.query)
        follow = query.get("follow", ["false"])[0] == "true"
        try:
            tail = int(query["tailLines"][0]) if "tailLines" in query else None
            limit = int(query["limitBytes"][0]) if "limitBytes" in query else None
        except ValueError:
            self.send_error(400, "tailLines and limitBytes must be integers")
            return
        runner = self.server.runner
        path = runner.state_dir / "logs" / namespace / pod / f"{container}.log"
        if not path.is_file():
            self.send_error(404, f'container "{container}" in pod "{pod}" has no log (yet)')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        with path.open("rb") as f:
            data = f.read()
            if tail is not None:
                data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
            if limit is not None:
                data = data[:limit]
            self.wfile.write(data)
            self.wfile.flush()
            if limit is not None:
                return
            while follow and runner.container_running(namespace, pod, container):
                chunk = f.read()
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                else:
                    time.sleep(0.2)
            if follow:
                self.wfile.write(f.read())


class LogServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, runner: Runner, cert: str, key: str, client_ca: str) -> None:
        super().__init__(("127.0.0.1", 0), _LogHandler)
        self.runner = runner
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED  # only the API server's client certificate
        # The handshake happens in the handler's thread, not in the accept loop.
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    @property
    def port(self) -> int:
        return int(self.server_address[1])


# --- the runner --------------------------------------------------------------


def _was_running(status: JSON) -> bool:
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    return any("running" in (cs.get("state") or {}) for cs in statuses)


class Runner:
    def __init__(
        self, api: Api, node_name: str, state_dir: Path, extra_path: list[str], venv_bin: Path
    ) -> None:
        self.api = api
        self.node_name = node_name
        self.state_dir = state_dir
        self.api_port = urllib.parse.urlsplit(api.server).port or 443
        self.path = ":".join([str(venv_bin), *extra_path, DEFAULT_PATH])
        self.workers: dict[str, PodWorker] = {}
        self.stop = threading.Event()
        self.isolation = probe_isolation()
        self.kubelet_port = 0  # set when the log endpoint runs

    def container_running(self, namespace: str, pod: str, container: str) -> bool:
        for worker in list(self.workers.values()):
            if worker.namespace == namespace and worker.pod_name == pod:
                return any(
                    c.running for c in worker.inits + worker.containers if c.name == container
                )
        return False

    def register_node(self) -> None:
        cpu = str(os.cpu_count() or 1)
        try:
            pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            memory = f"{pages // 1024}Ki"
        except (ValueError, OSError):
            memory = "8Gi"
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "schemaop.io/local-pod-runner": "true",
                },
            },
        }
        with contextlib.suppress(ApiError):
            self.api.request("POST", "/api/v1/nodes", node)
        capacity = {"cpu": cpu, "memory": memory, "pods": "250", "ephemeral-storage": "100Gi"}
        stamp = now()
        conditions = [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
            for kind, status, reason, message in (
                ("Ready", "True", "KubeletReady", "local pod runner is ready"),
                ("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                ("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
            )
        ]
        self.api.merge_patch(
            f"/api/v1/nodes/{self.node_name}/status",
            {
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": conditions,
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
                    "addresses": [
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": self.node_name},
                    ],
                    "nodeInfo": {
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                        "kernelVersion": os.uname().release,
                        "osImage": "local pod runner",
                        "containerRuntimeVersion": f"local://{self.isolation}",
                        "kubeletVersion": "schemaop-podrunner",
                        "kubeProxyVersion": "",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                    },
                }
            },
        )
        log(f"node {self.node_name} registered (mount isolation: {self.isolation})")

    def run(self) -> None:
        delay = 0.5
        while not self.stop.is_set():
            try:
                self.register_node()
                break
            except (ApiError, urllib3.exceptions.HTTPError) as exc:
                log(f"registering the node failed ({exc}); retrying")
                self.stop.wait(delay)
                delay = min(delay * 2, 5.0)
        delay = 0.5
        while not self.stop.is_set():
            try:
                listing = self.api.get("/api/v1/pods")
                seen = set()
                for pod in listing.get("items") or []:
                    seen.add(_meta(pod).get("uid"))
                    self.observe("MODIFIED", pod)
                for uid in [u for u in self.workers if u not in seen]:
                    self._forget(uid)
                rv = listing["metadata"]["resourceVersion"]
                while not self.stop.is_set():
                    for event in self.api.watch(
                        "/api/v1/pods",
                        resourceVersion=rv,
                        allowWatchBookmarks="true",
                        timeoutSeconds=300,
                    ):
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            raise ApiError(int(obj.get("code", 500)), str(obj.get("message")))
                        rv = _meta(obj).get("resourceVersion", rv)
                        if event.get("type") != "BOOKMARK":
                            self.observe(str(event.get("type")), obj)
                        delay = 0.5
            except (ApiError, urllib3.exceptions.HTTPError, ValueError, KeyError) as exc:
                if not (isinstance(exc, ApiError) and exc.status == 410):
                    log(f"pod watch interrupted ({exc}); relisting in {delay:.1f}s")
                    self.stop.wait(delay)
                    delay = min(delay * 2, 10.0)
            except Exception as exc:
                log(f"pod watch error: {exc}\n{traceback.format_exc()}")
                self.stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def observe(self, kind: str, pod: JSON) -> None:
        meta = _meta(pod)
        spec = pod.get("spec") or {}
        uid = meta.get("uid", "")
        if kind == "DELETED":
            self._forget(uid)
            return
        node = spec.get("nodeName")
        deleting = meta.get("deletionTimestamp") is not None
        if not node:
            if (
                not deleting
                and spec.get("schedulerName", "default-scheduler") == "default-scheduler"
            ):
                self._bind(pod)
            return
        if node != self.node_name:
            return
        worker = self.workers.get(uid)
        if deleting:
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            if worker is None or not worker.request_delete(grace):
                self.finish_deletion(meta["namespace"], meta["name"], uid)
            return
        if worker is not None:
            worker.update(pod)
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return  # finished before this runner started
        if spec.get("restartPolicy") == "Never" and _was_running(status):
            self._fail_orphan(pod)  # its process died with a previous runner
            return
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        worker.start()

    def _fail_orphan(self, pod: JSON) -> None:
        """A pod that ran under a previous runner process: what a kubelet reports
        after a node restart for a ``restartPolicy: Never`` pod."""
        meta = _meta(pod)
        message = "the local pod runner restarted while this container was running"
        statuses = []
        for old in (pod.get("status") or {}).get("containerStatuses") or []:
            cs = old
            if "running" in (old.get("state") or {}):
                cs = {
                    **old,
                    "ready": False,
                    "started": False,
                    "state": {
                        "terminated": {
                            "exitCode": 137,
                            "reason": "Error",
                            "message": message,
                            "startedAt": old["state"]["running"].get("startedAt"),
                            "finishedAt": now(),
                        }
                    },
                }
            statuses.append(cs)
        with contextlib.suppress(ApiError, urllib3.exceptions.HTTPError):
            self.api.merge_patch(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {
                    "status": {
                        "phase": "Failed",
                        "reason": "NodeRestarted",
                        "message": message,
                        "containerStatuses": statuses,
                    }
                },
            )
        log(f"{meta['namespace']}/{meta['name']}: failed: {message}")

    def _bind(self, pod: JSON) -> None:
        meta = _meta(pod)
        try:
            self.api.request(
                "POST",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": meta["name"], "uid": meta["uid"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
                },
            )
        except ApiError as exc:
            if exc.status not in (404, 409):
                log(f"binding {meta['namespace']}/{meta['name']} failed: {exc}")

    def finish_deletion(self, namespace: str, name: str, uid: str) -> None:
        """What the kubelet does once a pod's containers are gone: delete with grace 0."""
        try:
            self.api.request(
                "DELETE",
                f"/api/v1/namespaces/{namespace}/pods/{name}",
                {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": uid},
                },
            )
        except ApiError as exc:
            if exc.status not in (404, 409):
                log(f"deleting {namespace}/{name} failed: {exc}")
        except urllib3.exceptions.HTTPError as exc:
            log(f"deleting {namespace}/{name} failed: {exc}")

    def _forget(self, uid: str) -> None:
        worker = self.workers.pop(uid, None)
        if worker is not None:
            worker.shutdown()
        # Volumes go; logs stay (small, and what one reads after a failure).
        shutil.rmtree(self.state_dir / "pods" / uid, ignore_errors=True)

    def shutdown(self) -> None:
        workers = list(self.workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv.podrunner", description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--node-name", default="schemaop-local")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--extra-path", action="append", default=[])
    parser.add_argument("--venv-bin", type=Path, default=Path(sys.executable).parent)
    parser.add_argument("--serving-cert", help="TLS certificate for the kubelet log endpoint")
    parser.add_argument("--serving-key")
    args = parser.parse_args(argv)
    token = Path(args.token_file).read_text().strip()
    api = Api(args.server, args.ca_file, token)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    runner = Runner(api, args.node_name, args.state_dir, args.extra_path, args.venv_bin)

    def on_signal(signum: int, _frame: object) -> None:
        runner.stop.set()

    if args.serving_cert and args.serving_key:
        logs = LogServer(runner, args.serving_cert, args.serving_key, args.ca_file)
        runner.kubelet_port = logs.port
        threading.Thread(target=logs.serve_forever, name="logs", daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher = threading.Thread(target=runner.run, name="watch", daemon=True)
    watcher.start()
    while not runner.stop.wait(1.0):
        if not watcher.is_alive():
            log("watch thread died; exiting")
            break
    log("stopping: terminating running containers")
    runner.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
