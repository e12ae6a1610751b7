"""The console's configuration (what the ``schemaop console`` commands pass to :func:`make_app`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["ConsoleConfig", "Mode"]

Mode = Literal["cluster", "local"]


@dataclasses.dataclass(frozen=True)
class ConsoleConfig:
    """How the console runs.

    ``mode``: ``cluster`` (in a pod: every API call uses the bearer token of the
    request or of the session made by ``POST /login``; the console's own
    ServiceAccount has no rights) or ``local`` (``kubectl schemaop console``: a
    one-time code opens a session that uses the kubeconfig's credentials).

    ``api_server``/``ca_file``: where the API server is and the CA that signs its
    certificate (cluster mode). ``namespaces``: where to look for SchemaVersions
    when the person may not list them cluster-wide (empty: the namespaces the
    person may list). ``local_credentials``: local mode only, a callable that
    returns a ``kubernetes.client.ApiClient`` with the kubeconfig's credentials
    (e.g. ``lambda: client_from_kubeconfig(path, context)[0]``), called once.
    ``one_time_code``: local mode, the code of the URL printed and opened
    (``/login?code=...``), valid once and for :attr:`code_ttl` seconds.
    ``secure_cookies``: the session cookie gets ``Secure`` (cluster mode, behind TLS).
    ``sidecar_openapi_path``: the sidecar's OpenAPI document served at
    ``/api/v1/sidecar-openapi.json`` (None: the one shipped in the package).
    """

    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    mode: Mode = "cluster"
    api_server: str = "https://kubernetes.default.svc"
    ca_file: str | None = None
    namespaces: tuple[str, ...] = ()
    local_credentials: Callable[[], Any] | None = None
    one_time_code: str | None = None
    secure_cookies: bool = True
    sidecar_openapi_path: str | None = None
    # Sessions: at most this long, and ended after this long without a request.
    session_seconds: float = 8 * 3600.0
    session_idle_seconds: float = 3600.0
    code_ttl: float = 120.0
    # The keepalive comment of the event streams.
    keepalive_seconds: float = 15.0
    # Kubernetes watches (each a connection to the API server and a thread here): at
    # most this many for one event stream (two per namespace looked in, one for all
    # namespaces), and at most this many at once for one session or bearer token (a
    # live log counts one); more is a 429 TooManyWatches.
    max_watches_per_stream: int = 64
    max_watches_per_session: int = 128

    def __post_init__(self) -> None:
        if self.mode not in ("cluster", "local"):
            raise ValueError(f"mode must be cluster or local, not {self.mode!r}")
        if self.mode == "local" and self.local_credentials is None:
            raise ValueError("local mode needs local_credentials (the kubeconfig's)")
        if not 1 <= self.max_watches_per_stream <= self.max_watches_per_session:
            raise ValueError(
                "watch limits must satisfy 1 <= max_watches_per_stream <= max_watches_per_session"
            )
        if not 0 <= self.listen_port <= 65535:
            raise ValueError(f"listen_port {self.listen_port} is not a TCP port")
