"""`kubectl schemaop console` end to end on the local control plane: the real kubectl
finds the plugin, which serves the console on 127.0.0.1 only, with the kubeconfig's
credentials, and lets in only the client that brings the one-time code of the URL
it prints (once), then that client's session cookie; Ctrl-C (SIGINT) stops it with
exit 0. The browser side of the console is tests/e2e/test_console_*.py of the UI.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kube_support import GROUP, VERSION, apply_crds, schemaversion_body
from kubernetes import client

from devenv import cluster as devcluster
from devenv.util import stop_process

# Seconds: generous, the machine is shared.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class LocalConsole:
    """A `kubectl schemaop console` process and the URL it printed; ``environ``: extra
    variables (without any, no display and so no browser)."""

    def __init__(
        self, cluster: devcluster.Cluster, *args: str, environ: dict[str, str] | None = None
    ) -> None:
        venv_bin = Path(sys.executable).parent
        env = {
            **os.environ,
            "PATH": f"{venv_bin}:{cluster.bin_dir}:{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(cluster.kubeconfig),
        }
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
            env.pop(name, None)
        env.update(environ or {})
        self.proc = subprocess.Popen(
            [str(cluster.bin_dir / "kubectl"), "schemaop", "console", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line)

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        self.printed: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                _, stderr = self.stop()
                raise AssertionError(
                    f"no URL printed in {START_TIMEOUT}s: {self.printed} {stderr}"
                ) from None
            self.printed.append(line)
            if "/login?code=" in line:
                self.url = line.strip()
                break
        parts = urlsplit(self.url)
        assert parts.hostname == "127.0.0.1"
        self.port = int(parts.port or 0)
        self.login_path = f"{parts.path}?{parts.query}"

    def request(
        self, path: str, cookie: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = dict(headers or {})
            if cookie:
                sent["Cookie"] = cookie
            conn.request("GET", path, headers=sent)
            response = conn.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                (response.read().decode()),
            )
        finally:
            conn.close()

    def stop(self) -> tuple[int, str]:
        if self.proc.stderr is None or self.proc.stderr.closed:
            return self.proc.returncode, ""  # stopped already
        stop_process(self.proc, signal.SIGINT, STOP_TIMEOUT)
        assert self.proc.stderr is not None and self.proc.stdout is not None
        stderr = self.proc.stderr.read()
        self.reader.join(10)
        self.proc.stderr.close()
        self.proc.stdout.close()
        return self.proc.returncode, stderr


@pytest.fixture
def local_console(cluster: devcluster.Cluster) -> Iterator[LocalConsole]:
    running = LocalConsole(cluster, "--no-browser")
    try:
        yield running
    finally:
        running.stop()


def test_only_the_one_time_code_and_its_cookie_get_in(
    cluster: devcluster.Cluster, kube: Any, namespace: str, local_console: LocalConsole
) -> None:
    apply_crds(cluster)
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "schemaversions", schemaversion_body("orders")
    )
    text = "".join(local_console.printed)
    assert "valid once, for 2 minutes" in text
    assert local_console.request("/healthz")[0] == 200

    # Listening on 127.0.0.1 only: another loopback address of this host is refused.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", local_console.port), timeout=10).close()

    # Without the code nothing of the API answers, a wrong code buys nothing.
    status, _, body = local_console.request("/api/session")
    assert status == 401 and json.loads(body)["error"]["code"] == "Unauthenticated"
    assert local_console.request("/api/v1/schemaversions")[0] == 401
    assert local_console.request("/login?code=not-the-code")[0] in (401, 403)

    status, headers, _ = local_console.request(local_console.login_path)
    assert status in (302, 303), status
    cookie_header = headers["set-cookie"]
    assert "httponly" in cookie_header.lower() and "samesite=strict" in cookie_header.lower()
    cookie = cookie_header.split(";", 1)[0]
    # Valid once: the same URL again (another local user who saw it, say) is refused.
    assert local_console.request(local_console.login_path)[0] in (401, 403)

    status, _, body = local_console.request("/api/session", cookie=cookie)
    assert status == 200, body
    session = json.loads(body)
    assert session["mode"] == "local" and session["user"] and session["csrfToken"]
    # The kubeconfig's credentials (cluster-admin here) list the SchemaVersion.
    status, _, body = local_console.request("/api/v1/schemaversions", cookie=cookie)
    assert status == 200, body
    names = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in json.loads(body)["items"]}
    assert (namespace, "orders") in names
    # A made-up cookie is no session.
    assert local_console.request("/api/session", cookie="schemaop-console=forged")[0] == 401

    started = time.monotonic()
    code, stderr = local_console.stop()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert time.monotonic() - started < STOP_TIMEOUT


def test_a_port_in_use_is_one_line_and_exit_1(cluster: devcluster.Cluster) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        venv_bin = Path(sys.executable).parent
        done = subprocess.run(
            [str(venv_bin / "kubectl-schemaop"), "console", "--no-browser", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"kubectl schemaop console: cannot listen on 127.0.0.1:{port}: ")


def test_the_browser_opened_through_the_redirect_file_is_signed_in(
    cluster: devcluster.Cluster, kube: Any, namespace: str, tmp_path: Path
) -> None:
    """What `webbrowser` opens is a private file that leads the browser to the one-time
    URL; headless Chromium, handed that file's URI as a browser would be, lands on the
    console signed in and lists the SchemaVersion."""
    from playwright.sync_api import sync_playwright

    from browser_support import CHROMIUM_ARGS, chromium

    apply_crds(cluster)
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "schemaversions", schemaversion_body("orders")
    )
    # $BROWSER is what webbrowser runs; this one only notes what it was given.
    given = tmp_path / "browser-was-given"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {given}\n')
    browser.chmod(0o755)
    running = LocalConsole(cluster, environ={"DISPLAY": ":99", "BROWSER": str(browser)})
    try:
        uri = poll_file(given)
        assert uri.startswith("file://") and "code=" not in uri, uri
        page_file = Path(uri.removeprefix("file://"))
        assert stat.S_IMODE(page_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(page_file.parent.stat().st_mode) == 0o700
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=chromium(),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                page = context.new_page()
                page.goto(uri)
                page.wait_for_selector(f"[data-testid=sv-row-{namespace}-orders]", timeout=60_000)
                assert page.url.startswith(f"http://127.0.0.1:{running.port}/")
                assert "code=" not in page.url
            finally:
                context.close()
        code, stderr = running.stop()
        assert code == 0, stderr
        assert not page_file.exists(), "the redirect file outlived the console"
    finally:
        running.stop()


def poll_file(path: Path, timeout: float = START_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"the browser was not started within {timeout}s")
        time.sleep(0.2)
    return path.read_text()
