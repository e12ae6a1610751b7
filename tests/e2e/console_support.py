"""Support for the console's end-to-end tests (no tests here): users, the console
server, and the browser that walks its pages.

- Users are ServiceAccounts of the test's namespace, bound to a Role, with a token
  from the TokenRequest API: what a person pastes into the login page, or what an
  authenticating proxy (oauth2-proxy) forwards as ``Authorization: Bearer``.
- The console runs in cluster mode in its own process (``schemaop.console.app.serve``
  with a ``ConsoleConfig``) on a free loopback port, pointed at the local API server
  with its CA; it has no credentials of its own, so every call it makes is one of the
  user's.
- The browser is Debian's chromium (``browser_support``) driven by Playwright's sync
  API; each user gets a browser context of their own (own cookies). Every step that
  fails leaves a screenshot and says where, with the console's log and the page's
  errors.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kube_support import GROUP
from kubernetes import client

from browser_support import CHROMIUM_ARGS
from devenv import cluster as devcluster
from devenv.util import free_port, stop_process

#: Generous waits (milliseconds): the machine is shared and loaded; a migration Job
#: goes through the Job controller, the pod runner and PostgreSQL.
UI_WAIT_MS = 30_000
PAGE_LOAD_MS = 90_000
LIVE_WAIT_MS = 180_000

#: What a person who may only look needs: the schemaop objects, Events, the
#: migration Jobs and their pods' logs; get, list and watch only.
VIEW_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [GROUP],
        "resources": ["schemaversions", "schemamigrations", "schemamigrationruns"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": [""],
        "resources": ["events", "pods", "pods/log"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
]
#: And one who operates the database: change SchemaVersions, and the approver right
#: (the verb the chart's admission policy checks).
OPERATE_RULES: list[dict[str, Any]] = [
    *VIEW_RULES,
    {
        "apiGroups": [GROUP],
        "resources": ["schemaversions"],
        "verbs": ["patch", "update", "approve"],
    },
]


def user_token(kube: Any, namespace: str, name: str, rules: list[dict[str, Any]]) -> str:
    """A ServiceAccount ``name`` bound to a Role of ``rules``; a token of it (1 h)."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    request = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}
    )
    return str(request.status.token)


# Runs in the console's process: a ConsoleConfig from JSON (only the fields given;
# the others keep their defaults), then serve() until killed. A field of the
# contract (CONSOLE.md) missing from ConsoleConfig is an error that names it.
_SERVE = """
import asyncio, dataclasses, faulthandler, inspect, json, logging, signal, sys
faulthandler.register(signal.SIGUSR1, all_threads=True)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
from schemaop.console.app import serve
from schemaop.console.config import ConsoleConfig
given = json.loads(sys.argv[1])
fields = {f.name for f in dataclasses.fields(ConsoleConfig)}
unknown = sorted(set(given) - fields)
if unknown:
    sys.exit(f"contract mismatch: ConsoleConfig has no field(s) {unknown}")
config = ConsoleConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
async def main():
    if len(inspect.signature(serve).parameters) > 1:
        await serve(config, asyncio.Event())
    else:
        await serve(config)
asyncio.run(main())
"""


class Console:
    """The console server in cluster mode, in a process of its own (see the module doc)."""

    def __init__(
        self, cluster: devcluster.Cluster, namespaces: tuple[str, ...], log_path: Path
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.config = {
            "listen_host": "127.0.0.1",
            "listen_port": self.port,
            "mode": "cluster",
            "api_server": cluster.server,
            "ca_file": str(cluster.ca_file),
            "namespaces": list(namespaces),
            "local_credentials": None,
            "one_time_code": None,
            # Plain HTTP on loopback here; a Secure cookie is the chart's (TLS) case.
            "secure_cookies": False,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SERVE, json.dumps(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the console exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        self._warm_up()
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the console did not answer /healthz:\n{self.log()}")
            time.sleep(0.3)

    def _warm_up(self) -> None:
        """One API request (a token the API server refuses: a 401) before the browser's:
        the console loads its Kubernetes client on the first one, which took more than
        30 s on a loaded machine and made the first page miss its wait."""
        request = urllib.request.Request(
            self.base + "/api/v1/schemaversions", headers={"Authorization": "Bearer warm-up"}
        )
        with contextlib.suppress(urllib.error.HTTPError):  # the expected refusal
            urllib.request.urlopen(request, timeout=180).close()

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)

    def dump_threads(self) -> None:
        """Have the console write the stack of each of its threads to its log (a hung
        request shows where it waits)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1)

    def log(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Walk:
    """One person's browser tab on the console: steps that fail leave a screenshot."""

    def __init__(self, page: Any, who: str, console: Console, shots: Path) -> None:
        self.page = page
        self.who = who
        self.console = console
        self.shots = shots
        self.errors: list[str] = []
        self.taken: list[Path] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error"
                else None
            ),
        )

    def by(self, testid: str) -> Any:
        return self.page.get_by_test_id(testid)

    def shot(self, label: str) -> Path:
        path = self.shots / f"{len(self.taken) + 1:02d}-{self.who}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """``what`` as one step: on failure, an AssertionError with a screenshot's path,
        the page's URL and errors and the console's log."""
        try:
            yield
        except Exception as exc:
            try:
                path: Path | str = self.shot(
                    "FAILED-" + "".join(c if c.isalnum() else "-" for c in what)[:60]
                )
            except Exception as shot_error:  # the page itself may be gone
                path = f"(no screenshot: {shot_error})"
            self.console.dump_threads()
            raise AssertionError(
                f"[{self.who}] {what}: {type(exc).__name__}: {exc}\n"
                f"screenshot: {path}\nurl: {self.page.url}\n"
                f"page errors: {self.errors[-10:]}\n"
                f"---- console log (tail) ----\n{self.console.log(200)}"
            ) from exc

    # ---- pages ----

    def login(self, token: str) -> None:
        """The login page: paste a token."""
        with self.step("log in with a pasted token"):
            self.page.goto(self.console.base + "/")
            self.by("login-token").fill(token, timeout=PAGE_LOAD_MS)
            self.by("login-submit").click()
            self.by("search-input").wait_for(timeout=PAGE_LOAD_MS)

    def open_list(self) -> None:
        with self.step("open the list of SchemaVersions"):
            self.page.goto(self.console.base + "/")
            self.by("search-input").wait_for(timeout=PAGE_LOAD_MS)

    def open_schemaversion(self, namespace: str, name: str) -> None:
        """From the list, the page of one SchemaVersion (its row's link, or the row)."""
        self.open_list()
        with self.step(f"open SchemaVersion {namespace}/{name} from the list"):
            row = self.by(f"sv-row-{namespace}-{name}")
            row.wait_for(timeout=LIVE_WAIT_MS)
            links = row.get_by_role("link")
            (links.first if links.count() else row).click()
            self.by("target-input").wait_for(timeout=PAGE_LOAD_MS)

    def text(self, testid: str) -> str:
        """Its whole text, folded parts (a closed ``<details>``) included."""
        return str(self.by(testid).first.text_content(timeout=UI_WAIT_MS) or "")

    def wait_text(self, testid: str, *words: str, timeout: float = LIVE_WAIT_MS) -> str:
        """Wait until the first element ``testid`` shows every one of ``words``."""
        from playwright.sync_api import expect

        with self.step(f"{testid} shows {words}"):
            for word in words:
                expect(self.by(testid).first).to_contain_text(word, timeout=timeout)
        return self.text(testid)

    def mark(self) -> None:
        """Mark the document: a reload (or a navigation to another document) loses it."""
        self.page.evaluate("window.__e2eNotReloaded = true")

    def not_reloaded(self) -> bool:
        return bool(self.page.evaluate("window.__e2eNotReloaded === true"))

    def post_of(
        self, path_end: str, click: Callable[[], None], timeout: float = UI_WAIT_MS
    ) -> tuple[int, dict[str, Any]]:
        """Do ``click`` and return the status and JSON body of the POST it makes to a
        URL ending in ``path_end``."""
        with (
            self.step(f"the POST to ...{path_end}"),
            self.page.expect_response(
                lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith(path_end),
                timeout=timeout,
            ) as info,
        ):
            click()
        response = info.value
        try:
            body = response.json()
        except Exception:
            body = {"_text": response.text()}
        return int(response.status), body if isinstance(body, dict) else {"_body": body}


def new_walk(
    browser: Any, who: str, console: Console, shots: Path, bearer: str | None = None
) -> Walk:
    """A browser context of its own for ``who``; with ``bearer``, every request carries
    ``Authorization: Bearer`` as an authenticating proxy in front of the console would."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        extra_http_headers={"Authorization": f"Bearer {bearer}"} if bearer else None,
    )
    return Walk(context.new_page(), who, console, shots)


def launch(pw: Any, executable: str) -> Any:
    return pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
