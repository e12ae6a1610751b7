"""``schemaop console`` and ``kubectl schemaop console`` (commands/console.py) without a
server: flags over environment variables, one-line errors with exit codes, the
one-time URL, and the browser opened through a private redirect file so the code
never shows in another process's command line. The servers themselves run in
tests/e2e/test_console_local.py and tests/e2e/test_chart_console.py.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from schemaop.cli import main
from schemaop.commands import console
from schemaop.console.config import ConsoleConfig


def test_cluster_defaults() -> None:
    settings = console.cluster_settings({}, {})
    assert settings == {
        "mode": "cluster",
        "listen_host": "0.0.0.0",
        "listen_port": 8080,
        "namespaces": (),
        "secure_cookies": True,
        "log_level": "info",
    }


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {
        "SCHEMAOP_CONSOLE_LISTEN": "127.0.0.1:9000",
        "SCHEMAOP_CONSOLE_API_SERVER": "https://api.example.com:6443/",
        "SCHEMAOP_CONSOLE_CA_FILE": str(ca),
        "SCHEMAOP_CONSOLE_NAMESPACES": "shop, finance,shop",
        "SCHEMAOP_LOG_LEVEL": "WARNING",
    }
    from_env = console.cluster_settings({}, environ)
    assert (from_env["listen_host"], from_env["listen_port"]) == ("127.0.0.1", 9000)
    assert from_env["api_server"] == "https://api.example.com:6443"
    assert from_env["ca_file"] == str(ca)
    assert from_env["namespaces"] == ("shop", "finance")
    assert from_env["log_level"] == "warning"
    flags = {"listen": "[::1]:9100", "namespaces": "ops", "api_server": "https://k:443"}
    from_flags = console.cluster_settings(flags, environ)
    assert (from_flags["listen_host"], from_flags["listen_port"]) == ("::1", 9100)
    assert from_flags["namespaces"] == ("ops",)
    assert from_flags["api_server"] == "https://k:443"
    assert console.parse_listen(":8443") == ("0.0.0.0", 8443)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"listen": "8080"}, "listen: '8080' is not HOST:PORT"),
        ({"listen": "host:http"}, "is not HOST:PORT"),
        ({"listen": "0.0.0.0:70000"}, "port 70000 is not between 0 and 65535"),
        ({"namespaces": "shop,Not_A_Namespace"}, "'Not_A_Namespace' is not a namespace name"),
        ({"api_server": "kubernetes.default.svc"}, "is not a URL"),
        ({"api_server": "https://user:pw@k8s:443"}, "no user, query or #"),
        ({"ca_file": "/nonexistent/ca.crt"}, "CA file: cannot read /nonexistent/ca.crt"),
        ({"log_level": "loud"}, "log level: 'loud' is not one of"),
        ({"max_watches_per_stream": "0"}, "max-watches-per-stream: '0' is not a whole number"),
        ({"max_watches_per_session": "-5"}, "max-watches-per-session: '-5' is not a whole"),
        ({"max_watches_per_session": "1.5"}, "max-watches-per-session: '1.5' is not a whole"),
        ({"max_watches_per_stream": "lots"}, "max-watches-per-stream: 'lots' is not a whole"),
        ({"max_watches_per_stream": "١٢"}, "is not a whole number"),
        ({"max_watches_per_stream": "9" * 5000}, "is not a whole number"),
        # Against the other's default (128), or the other given.
        ({"max_watches_per_stream": "200"}, "(200) is more than max-watches-per-session (128)"),
        (
            {"max_watches_per_stream": "8", "max_watches_per_session": "4"},
            "max-watches-per-stream (8) is more than max-watches-per-session (4)",
        ),
    ],
)
def test_bad_settings_are_refused_with_a_reason(flags: dict[str, str], message: str) -> None:
    with pytest.raises(console.ConfigError, match=re.escape(message)):
        console.cluster_settings(flags, {})


def test_the_watch_limits_come_from_flags_over_the_environment() -> None:
    environ = {
        "SCHEMAOP_CONSOLE_MAX_WATCHES_PER_STREAM": " 100 ",
        "SCHEMAOP_CONSOLE_MAX_WATCHES_PER_SESSION": "300",
    }
    from_env = console.cluster_settings({}, environ)
    assert (from_env["max_watches_per_stream"], from_env["max_watches_per_session"]) == (100, 300)
    from_flags = console.cluster_settings({"max_watches_per_session": "1000"}, environ)
    assert (from_flags["max_watches_per_stream"], from_flags["max_watches_per_session"]) == (
        100,
        1000,
    )
    # Given alone, each is checked against the other's default; the config takes them.
    assert console.cluster_settings({"max_watches_per_session": "64"}, {}).keys() >= {
        "max_watches_per_session"
    }
    settings = console.cluster_settings({"max_watches_per_stream": "1"}, {})
    settings.pop("log_level")
    config = ConsoleConfig(**settings)
    assert (config.max_watches_per_stream, config.max_watches_per_session) == (1, 128)


def test_a_bad_watch_limit_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["console", "--max-watches-per-stream", "0"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "schemaop console: max-watches-per-stream: '0' is not a whole number from 1 to 999999999\n"
    )
    monkeypatch.setenv("SCHEMAOP_CONSOLE_MAX_WATCHES_PER_SESSION", "32")
    assert main(["console"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(64) is more than max-watches-per-session (32)" in err
    # Local mode: refused before the kubeconfig is read.
    assert main(["kubectl", "console", "--max-watches-per-session", "many"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "kubectl schemaop console: max-watches-per-session: 'many' is not a whole number "
        "from 1 to 999999999\n"
    )


def test_a_bad_setting_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--listen", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err == "schemaop console: listen: 'nowhere' is not HOST:PORT\n"


def test_the_commands_are_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["console", "--help"])
    assert exit_.value.code == 0
    assert "--api-server URL" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["kubectl", "console", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: kubectl schemaop console" in out and "--no-browser" in out
    with pytest.raises(SystemExit) as exit_:
        main(["kubectl", "console", "--port", "http"])
    assert exit_.value.code == 2


def test_a_kubeconfig_that_does_not_work_is_one_line_and_exit_1(tmp_path: Path) -> None:
    # Before anything listens; a subprocess, so nothing of this process's state is touched.
    missing = tmp_path / "none.kubeconfig"
    done = subprocess.run(
        [sys.executable, "-m", "schemaop", "kubectl", "console", "--kubeconfig", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kubectl schemaop console: no usable kubeconfig")
    assert done.stdout == ""


def test_a_display_is_needed_to_open_a_browser_on_linux() -> None:
    assert console.has_display({}, "linux") is False
    assert console.has_display({"DISPLAY": ":0"}, "linux") is True
    assert console.has_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is True
    assert console.has_display({}, "darwin") is True
    assert console.has_display({}, "win32") is True


def test_the_url_is_printed_and_opened_through_a_private_redirect_file(tmp_path: Path) -> None:
    opened: list[str] = []
    out = io.StringIO()

    def opener(uri: str) -> bool:
        opened.append(uri)
        return True

    session = console.LocalSession(tmp_path, open_browser=True, out=out, opener=opener)
    session.ready(41234, "c0de-c0de")
    assert session.url == "http://127.0.0.1:41234/login?code=c0de-c0de"
    text = out.getvalue()
    assert "  http://127.0.0.1:41234/login?code=c0de-c0de\n" in text
    assert "valid once, for 2 minutes" in text and "Ctrl-C" in text
    # The browser's command line holds a file's path, never the code.
    (uri,) = opened
    assert uri.startswith("file://") and "c0de" not in uri
    page = tmp_path / "open-console.html"
    assert uri == page.as_uri()
    assert stat.S_IMODE(os.stat(page).st_mode) == 0o600
    body = page.read_text()
    assert 'http-equiv="refresh" content="0;url=http://127.0.0.1:41234/login?code=c0de-c0de"' in (
        body
    )


def test_no_browser_prints_only(tmp_path: Path) -> None:
    out = io.StringIO()

    def opener(uri: str) -> bool:
        raise AssertionError("no browser wanted")

    console.LocalSession(tmp_path, open_browser=False, out=out, opener=opener).ready(1, "x")
    assert "http://127.0.0.1:1/login?code=x" in out.getvalue()
    assert list(tmp_path.iterdir()) == []
    failing = console.LocalSession(tmp_path, open_browser=True, out=out, opener=lambda u: False)
    failing.ready(2, "y")
    assert "open the URL above yourself" in out.getvalue()


def test_the_redirect_page_escapes_the_url() -> None:
    page = console.redirect_page('http://127.0.0.1:1/login?code=a"b<c&d')
    assert '"b' not in page.split("url=")[1].split('">')[0]
    assert "a&quot;b&lt;c&amp;d" in page


def test_local_flags_default_to_a_free_port_and_the_browser() -> None:
    parser = argparse.ArgumentParser()
    console.add_local_arguments(parser)
    args = parser.parse_args([])
    assert (args.port, args.no_browser, args.kubeconfig, args.context) == (0, False, None, None)
    assert (args.max_watches_per_stream, args.max_watches_per_session) == (None, None)
    assert console.watch_limits(None, None) == {}
    args = parser.parse_args(["--max-watches-per-stream", "100", "--max-watches-per-session=200"])
    assert console.watch_limits(args.max_watches_per_stream, args.max_watches_per_session) == {
        "max_watches_per_stream": 100,
        "max_watches_per_session": 200,
    }
