// The schemaop console: session, login, header and the router.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, pages, paths, post, setCsrfToken } from "./api.js";
import { DatabasePage } from "./database.js";
import { ListPage } from "./list.js";
import { closeEvents } from "./live.js";
import { JobPage, RunPage } from "./run.js";
import { Link, errorText, html, navigate, useLocation } from "./ui.js";

function route(path) {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "ui") parts.shift();
  if (parts[0] === "namespaces" && parts.length === 4) {
    const [, ns, kind, name] = parts;
    if (kind === "schemaversions") return html`<${DatabasePage} key=${path} ns=${ns} name=${name} />`;
    if (kind === "runs") return html`<${RunPage} key=${path} ns=${ns} name=${name} />`;
    if (kind === "jobs") return html`<${JobPage} key=${path} ns=${ns} job=${name} />`;
  }
  if (parts.length === 0) return html`<${ListPage} />`;
  return html`<main id="main" tabindex="-1" class="page">
    <h1>Not found</h1>
    <p>There is no page at ${path}. <${Link} href=${pages.list}>See all databases</${Link}>.</p>
  </main>`;
}

function Login({ onDone, problem }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post(paths.login, { token: token.trim() });
      setToken("");
      onDone();
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  return html`<main id="main" tabindex="-1" class="page login">
    <h1>Sign in to the schemaop console</h1>
    <p>
      Paste a Kubernetes bearer token. Every action uses it, so Kubernetes RBAC decides what you
      may see and do. The token stays on the server, in memory; the browser keeps only a session
      cookie.
    </p>
    <form onSubmit=${submit} class="card">
      <label for="token">Bearer token</label>
      <textarea
        id="token"
        data-testid="login-token"
        rows="4"
        autocomplete="off"
        spellcheck="false"
        value=${token}
        onInput=${(e) => setToken(e.currentTarget.value)}
        required
      ></textarea>
      <p class="muted small">
        For example <code>kubectl create token NAME</code>. Started with
        <code>kubectl schemaop console</code>? Open the one-time address it printed instead.
      </p>
      <button type="submit" class="primary" data-testid="login-submit" disabled=${busy}>
        ${busy ? "Signing in…" : "Sign in"}
      </button>
      ${(error || problem) &&
      html`<p class="alert" role="alert" data-testid="login-error">
        ${error ? errorText(error) : problem}
      </p>`}
    </form>
  </main>`;
}

function Header({ session, onLogout }) {
  return html`<header class="top">
    <a class="skip" href="#main">Skip to content</a>
    <${Link} href=${pages.list} class="brand">schemaop console</${Link}>
    <nav aria-label="Main">
      <${Link} href=${pages.list}>Databases</${Link}>
      <a href=${pages.apidocs("console")}>Console API</a>
      <a href=${pages.apidocs("sidecar")}>Schema API (sidecar)</a>
    </nav>
    <div class="who">
      <span title=${(session.groups || []).join(", ")} data-testid="session-user">${session.user}</span>
      ${session.mode === "local" ? html` <span class="tag">local</span>` : ""}
      ${" "}<button type="button" class="small" onClick=${onLogout}>Sign out</button>
    </div>
  </header>`;
}

function App() {
  const [session, setSession] = useState(undefined); // undefined: loading; null: none
  const [problem, setProblem] = useState("");
  const path = useLocation();
  const load = async () => {
    try {
      const s = await get(paths.session);
      setCsrfToken(s.csrfToken);
      setSession(s);
    } catch (exc) {
      setSession(null);
      setProblem(exc instanceof ApiError && exc.status === 401 ? "" : errorText(exc));
    }
  };
  useEffect(() => {
    load();
  }, []);
  const logout = async () => {
    try {
      await post(paths.logout, {});
    } catch {
      // Signed out either way: the session is dropped below.
    }
    closeEvents();
    setCsrfToken("");
    setSession(null);
    navigate(pages.list);
  };
  if (session === undefined) return html`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`;
  if (session === null) return html`<${Login} onDone=${load} problem=${problem} />`;
  return html`<${Header} session=${session} onLogout=${logout} />${route(path)}`;
}

render(html`<${App} />`, document.getElementById("app"));
