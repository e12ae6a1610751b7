"""``schemaop console`` and ``kubectl schemaop console``: run the migration console.

Two ways to run the same server (:mod:`schemaop.console`, docs/console.md):

- **cluster mode**, ``schemaop console``: what the chart's Deployment runs. Every
  API call uses the bearer token of the request (forwarded by an authenticating
  proxy, or pasted at the login page); the console's own ServiceAccount has no
  rights and no token. Configuration comes from flags over environment variables
  over defaults, read once here (:func:`cluster_settings`):

  ===============================  ================  ====================================
  environment variable             flag              default
  ===============================  ================  ====================================
  ``SCHEMAOP_CONSOLE_LISTEN``      ``--listen``      ``0.0.0.0:8080`` (``HOST:PORT``)
  ``SCHEMAOP_CONSOLE_API_SERVER``  ``--api-server``  ``https://kubernetes.default.svc``
  ``SCHEMAOP_CONSOLE_CA_FILE``     ``--ca-file``     none (the system's trust store)
  ``SCHEMAOP_CONSOLE_NAMESPACES``  ``--namespaces``  none (the namespaces the user may list)
  ``SCHEMAOP_LOG_LEVEL``           ``--log-level``   ``info``
  ===============================  ================  ====================================

  and the watch limits (:func:`watch_limits`; also flags of local mode):

  ============================================  ==============================  =======
  environment variable                          flag                            default
  ============================================  ==============================  =======
  ``SCHEMAOP_CONSOLE_MAX_WATCHES_PER_STREAM``   ``--max-watches-per-stream``    ``64``
  ``SCHEMAOP_CONSOLE_MAX_WATCHES_PER_SESSION``  ``--max-watches-per-session``   ``128``
  ============================================  ==============================  =======

- **local mode**, ``kubectl schemaop console`` (:func:`run_local`): like ``kubectl
  proxy``, but not open to other local users. It listens on 127.0.0.1 only (a free
  port, or ``--port``), acts with the kubeconfig's credentials, and lets in only a
  browser that brings the one-time code of the URL it prints (valid once, for two
  minutes) and then the session cookie that code bought. It opens the browser
  itself (unless ``--no-browser``, or there is no display) through a redirect file
  readable only by the user, so the code never shows in another process's
  command line (``ps``), as Jupyter does.

Exit codes: 0 stopped by SIGINT (Ctrl-C) or SIGTERM, 1 cannot start (a kubeconfig
that does not work, a port in use), 2 a bad flag or variable; always one line on
stderr, never a traceback. aiohttp and the Kubernetes client are imported only
when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from schemaop.console.config import ConsoleConfig  # type: ignore[import-not-found, unused-ignore]

# Seconds a clean shutdown may take before the process exits anyway (as the sidecar).
SHUTDOWN_GRACE = 10.0
DEFAULT_LISTEN = ("0.0.0.0", 8080)  # noqa: S104 - in a pod, the pod's address
LOCAL_HOST = "127.0.0.1"
_LOG_LEVELS = ("debug", "info", "warning", "error")
# A namespace name (RFC 1123 label), as the chart's values schema says.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ConfigError(ValueError):
    """A flag or variable that cannot be used; the message says which and why."""


# -- cluster mode ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve the migration console (web UI and JSON API) in the cluster. It has no "
        "power of its own: every API call uses the request's bearer token (forwarded "
        "by an authenticating proxy, or pasted at its login page). For your own "
        "machine, use `kubectl schemaop console`."
    )
    from schemaop.redaction import path_argument

    add = parser.add_argument
    add(
        "--listen",
        metavar="HOST:PORT",
        help="address to listen on [SCHEMAOP_CONSOLE_LISTEN; 0.0.0.0:8080]",
    )
    add(
        "--api-server",
        metavar="URL",
        help="the Kubernetes API server [SCHEMAOP_CONSOLE_API_SERVER; https://kubernetes.default.svc]",
    )
    add(
        "--ca-file",
        metavar="PATH",
        type=path_argument,
        help="CA bundle of the API server's certificate [SCHEMAOP_CONSOLE_CA_FILE; system]",
    )
    add(
        "--namespaces",
        metavar="NS,NS",
        help="where to look for users who may not list SchemaVersions in every namespace "
        "[SCHEMAOP_CONSOLE_NAMESPACES; the namespaces the user may list]",
    )
    add("--log-level", choices=_LOG_LEVELS, help="[SCHEMAOP_LOG_LEVEL; info]")
    _add_watch_limit_arguments(parser, cluster=True)


def _add_watch_limit_arguments(parser: argparse.ArgumentParser, *, cluster: bool) -> None:
    """``--max-watches-per-stream`` and ``--max-watches-per-session`` (both modes); the
    values are strings, checked by :func:`watch_limits` (a bad one: exit 2, one line)."""
    from schemaop.console.config import ConsoleConfig  # type: ignore[import-not-found, unused-ignore]

    for flag, env, default, what in (
        (
            "stream",
            "SCHEMAOP_CONSOLE_MAX_WATCHES_PER_STREAM",
            ConsoleConfig.max_watches_per_stream,
            "one event stream",
        ),
        (
            "session",
            "SCHEMAOP_CONSOLE_MAX_WATCHES_PER_SESSION",
            ConsoleConfig.max_watches_per_session,
            "one session or token",
        ),
    ):
        where = f"[{env}; {default}]" if cluster else f"(default: {default})"
        parser.add_argument(
            f"--max-watches-per-{flag}",
            metavar="N",
            default=None,
            help=f"most Kubernetes watches {what} may hold open; more is refused "
            f"with 429 TooManyWatches {where}",
        )


def cluster_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The keyword arguments of :class:`ConsoleConfig` for cluster mode, from flags
    (None = not given) over ``environ`` over defaults; :class:`ConfigError` if one
    cannot be used. ``log_level`` is returned too (not a config field)."""

    def pick(flag: str, env: str) -> str | None:
        value = flags.get(flag)
        if value is not None:
            return str(value)
        return environ.get(env) or None

    host, port = parse_listen(pick("listen", "SCHEMAOP_CONSOLE_LISTEN"))
    settings: dict[str, Any] = {
        "mode": "cluster",
        "listen_host": host,
        "listen_port": port,
        "namespaces": parse_namespaces(pick("namespaces", "SCHEMAOP_CONSOLE_NAMESPACES")),
        "secure_cookies": True,
        "log_level": _log_level(pick("log_level", "SCHEMAOP_LOG_LEVEL")),
    }
    api_server = pick("api_server", "SCHEMAOP_CONSOLE_API_SERVER")
    if api_server is not None:
        settings["api_server"] = check_api_server(api_server)
    ca_file = pick("ca_file", "SCHEMAOP_CONSOLE_CA_FILE")
    if ca_file is not None:
        settings["ca_file"] = _readable(ca_file, "CA file")
    settings.update(
        watch_limits(
            pick("max_watches_per_stream", "SCHEMAOP_CONSOLE_MAX_WATCHES_PER_STREAM"),
            pick("max_watches_per_session", "SCHEMAOP_CONSOLE_MAX_WATCHES_PER_SESSION"),
        )
    )
    return settings


def watch_limits(per_stream: str | None, per_session: str | None) -> dict[str, int]:
    """The :class:`ConsoleConfig` keywords of the watch limits given (None: the
    default): each a positive whole number, and one stream's at most one session's."""
    from schemaop.console.config import ConsoleConfig  # type: ignore[import-not-found, unused-ignore]

    limits: dict[str, int] = {}
    for key, text in (
        ("max_watches_per_stream", per_stream),
        ("max_watches_per_session", per_session),
    ):
        if text is None:
            continue
        flag = key.replace("_", "-")
        value = text.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 9 or int(value) < 1:
            raise ConfigError(f"{flag}: {text[:20]!r} is not a whole number from 1 to 999999999")
        limits[key] = int(value)
    stream = limits.get("max_watches_per_stream", ConsoleConfig.max_watches_per_stream)
    session = limits.get("max_watches_per_session", ConsoleConfig.max_watches_per_session)
    if stream > session:
        raise ConfigError(
            f"max-watches-per-stream ({stream}) is more than max-watches-per-session "
            f"({session}): one stream may not hold more than a session"
        )
    return limits


def parse_listen(text: str | None) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (every address)."""
    if text is None:
        return DEFAULT_LISTEN
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError(f"listen: {text[:80]!r} is not HOST:PORT")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"listen: port {port} is not between 0 and 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or DEFAULT_LISTEN[0], port


def parse_namespaces(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if not _NAMESPACE.match(name) or len(name) > 63:
            raise ConfigError(f"namespaces: {name[:80]!r} is not a namespace name")
    return names


def check_api_server(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"API server: {url[:80]!r} is not a URL (e.g. https://kubernetes.default.svc)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("API server: give scheme, host and port only (no user, query or #)")
    return url.strip().rstrip("/")


def _readable(path: str, what: str) -> str:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path[:200]}: {exc.strerror}") from None
    return path


def _log_level(value: str | None) -> str:
    level = (value or "info").lower()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"log level: {level[:20]!r} is not one of {', '.join(_LOG_LEVELS)}")
    return level


def run(args: argparse.Namespace) -> int:
    from schemaop.redaction import install_log_scrubber, scrub

    install_log_scrubber()
    try:
        settings = cluster_settings(vars(args), os.environ)
    except ConfigError as exc:
        print(f"schemaop console: {scrub(str(exc))}", file=sys.stderr)
        return 2
    _configure_logging(settings.pop("log_level"))
    from schemaop.console.config import ConsoleConfig  # type: ignore[import-not-found, unused-ignore]

    config = ConsoleConfig(**settings)
    return _serve(config, "schemaop console", on_ready=None)


# -- local mode (kubectl schemaop console) -----------------------------------------------------


def add_local_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``kubectl schemaop console`` (its subparser in commands/kubectl.py)."""
    parser.description = (
        "Serve the migration console on 127.0.0.1 with your kubeconfig's credentials and "
        "open it in your browser with a one-time URL. Only that browser gets in (the "
        "one-time code, then its session cookie), not other local users. Ctrl-C stops it."
    )
    add = parser.add_argument
    add("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG)")
    add("--context", default=None, help="kubeconfig context")
    add("--port", type=_port, default=0, help="port on 127.0.0.1 (default: a free one)")
    add("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    add(
        "--namespaces",
        metavar="NS,NS",
        default=None,
        help="where to look if you may not list SchemaVersions in every namespace "
        "(default: the namespaces you may list)",
    )
    _add_watch_limit_arguments(parser, cluster=False)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a port (0-65535; 0: a free one)")
    return int(text)


def login_url(port: int, code: str) -> str:
    return f"http://{LOCAL_HOST}:{port}/login?code={code}"


def has_display(environ: Mapping[str, str], platform: str) -> bool:
    """Whether a graphical browser can open: on Linux and the BSDs only with an X or
    Wayland display (without one, :mod:`webbrowser` would start a text browser in
    this terminal); macOS and Windows always have one."""
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    return True


def redirect_page(url: str) -> str:
    """An HTML page that sends the browser on to ``url`` (the one-time URL)."""
    quoted = html.escape(url, quote=True)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
        f'<meta http-equiv="refresh" content="0;url={quoted}">\n'
        "<title>schemaop console</title></head>\n"
        f'<body><p><a href="{quoted}">Open the schemaop console</a></p></body></html>\n'
    )


def write_redirect_file(directory: Path, url: str) -> Path:
    """The redirect page in ``directory``, readable by this user only (0600)."""
    path = directory / "open-console.html"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(redirect_page(url))
    return path


@dataclasses.dataclass
class LocalSession:
    """What ``kubectl schemaop console`` prints and opens once it listens."""

    directory: Path
    open_browser: bool
    out: Any = sys.stdout
    opener: Callable[[str], bool] | None = None
    url: str = ""

    def ready(self, port: int, code: str) -> None:
        self.url = login_url(port, code)
        print(
            f"schemaop console on http://{LOCAL_HOST}:{port}/ with your kubeconfig's "
            "credentials.\n"
            f"Open this one-time URL (valid once, for 2 minutes):\n  {self.url}\n"
            "Press Ctrl-C to stop.",
            file=self.out,
            flush=True,
        )
        if self.open_browser:
            page = write_redirect_file(self.directory, self.url)
            opener = self.opener or _webbrowser_open
            if not opener(page.as_uri()):
                print("(could not open a browser: open the URL above yourself)", file=self.out)


def _webbrowser_open(uri: str) -> bool:
    import webbrowser

    try:
        return webbrowser.open(uri, new=2)
    except webbrowser.Error:
        return False


def run_local(args: argparse.Namespace) -> int:
    """``kubectl schemaop console``; returns the exit code."""
    import tempfile

    from schemaop.kube.api import KubeConfigError, client_from_kubeconfig
    from schemaop.redaction import install_log_scrubber, scrub

    install_log_scrubber()
    prog = "kubectl schemaop console"
    try:
        namespaces = parse_namespaces(args.namespaces)
        limits = watch_limits(args.max_watches_per_stream, args.max_watches_per_session)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    try:
        # Read now, so a kubeconfig that does not work is an error before anything listens.
        client, _ = client_from_kubeconfig(args.kubeconfig, args.context)
    except KubeConfigError as exc:
        print(f"{prog}: no usable kubeconfig: {scrub(str(exc))}", file=sys.stderr)
        return 1
    _configure_logging("warning")
    from schemaop.console.config import ConsoleConfig  # type: ignore[import-not-found, unused-ignore]

    code = secrets.token_urlsafe(32)
    config = ConsoleConfig(
        mode="local",
        listen_host=LOCAL_HOST,
        listen_port=args.port,
        namespaces=namespaces,
        local_credentials=lambda: client,
        one_time_code=code,
        secure_cookies=False,  # plain HTTP on the loopback
        max_watches_per_stream=limits.get(
            "max_watches_per_stream", ConsoleConfig.max_watches_per_stream
        ),
        max_watches_per_session=limits.get(
            "max_watches_per_session", ConsoleConfig.max_watches_per_session
        ),
    )
    with tempfile.TemporaryDirectory(prefix="schemaop-console-") as directory:
        session = LocalSession(
            Path(directory),
            open_browser=not args.no_browser and has_display(os.environ, sys.platform),
        )
        try:
            return _serve(config, prog, on_ready=lambda port: session.ready(port, code))
        finally:
            client.close()


# -- running ----------------------------------------------------------------------------------


def _configure_logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _serve(config: ConsoleConfig, prog: str, on_ready: Callable[[int], None] | None) -> int:
    """Serve ``config`` until SIGINT or SIGTERM (exit 0); 1 if it cannot listen."""
    import asyncio
    import contextlib
    import signal

    from schemaop.commands.sidecar import _start_watchdog
    from schemaop.console.app import running  # type: ignore[import-not-found, unused-ignore]

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not stop.is_set():
                stop.set()
                _start_watchdog(SHUTDOWN_GRACE, prog)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        stack = contextlib.AsyncExitStack()
        try:
            _, port = await stack.enter_async_context(running(config))
        except OSError as exc:
            print(
                f"{prog}: cannot listen on {config.listen_host}:{config.listen_port}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        async with stack:
            if on_ready is not None:
                on_ready(port)
            else:
                _log_listening(config, port)
            await stop.wait()
        return 0

    return asyncio.run(main())


def _log_listening(config: ConsoleConfig, port: int) -> None:
    import logging

    logging.getLogger("schemaop.console").info(
        "schemaop console (cluster mode) listening on %s:%d, API server %s",
        config.listen_host,
        port,
        config.api_server,
    )
