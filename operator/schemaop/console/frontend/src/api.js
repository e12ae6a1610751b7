// The console's JSON API (CONSOLE.md "JSON API"): every call with the session cookie,
// every POST with the X-CSRF-Token the session gave; a refusal keeps its message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrfToken = "";

export function setCsrfToken(token) {
  csrfToken = token || "";
}

async function answer(response) {
  let body = null;
  const text = await response.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const error = (body && body.error) || {};
    const message = error.message || text.trim() || response.statusText || "request failed";
    throw new ApiError(response.status, error.code || String(response.status), message);
  }
  return body;
}

export async function get(path) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  return answer(response);
}

export async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRF-Token": csrfToken,
    },
    body: JSON.stringify(body === undefined ? {} : body),
  });
  return answer(response);
}

const enc = encodeURIComponent;

export const paths = {
  session: "/api/session",
  login: "/login",
  logout: "/logout",
  list: "/api/v1/schemaversions",
  events: "/api/v1/events",
  sv: (ns, name) => `/api/v1/namespaces/${enc(ns)}/schemaversions/${enc(name)}`,
  preview: (ns, name, target) =>
    `/api/v1/namespaces/${enc(ns)}/schemaversions/${enc(name)}/preview?target=${enc(target)}`,
  action: (ns, name, verb) => `/api/v1/namespaces/${enc(ns)}/schemaversions/${enc(name)}/${verb}`,
  run: (ns, name) => `/api/v1/namespaces/${enc(ns)}/runs/${enc(name)}`,
  runLog: (ns, name) => `/api/v1/namespaces/${enc(ns)}/runs/${enc(name)}/log`,
  jobLog: (ns, job) => `/api/v1/namespaces/${enc(ns)}/jobs/${enc(job)}/log`,
};

// Pages of the UI (History API; the server serves index.html for /ui/...).
export const pages = {
  list: "/ui/",
  sv: (ns, name) => `/ui/namespaces/${enc(ns)}/schemaversions/${enc(name)}`,
  run: (ns, name) => `/ui/namespaces/${enc(ns)}/runs/${enc(name)}`,
  job: (ns, job) => `/ui/namespaces/${enc(ns)}/jobs/${enc(job)}`,
  apidocs: (spec) => `/static/apidocs/index.html?spec=${enc(spec)}`,
};
