// Swagger UI (bundled from swagger-ui-dist) on the console's or the sidecar's OpenAPI
// document: /static/apidocs/index.html?spec=console|sidecar. No request leaves the
// console's origin: no validator badge, no remote spec. "Try it out" sends the
// session's CSRF token on requests that change something, as the console does.

const SPECS = {
  console: "/api/v1/openapi.json",
  sidecar: "/api/v1/sidecar-openapi.json",
};

const wanted = new URLSearchParams(window.location.search).get("spec");
const spec = Object.prototype.hasOwnProperty.call(SPECS, wanted) ? wanted : "console";
const current = document.getElementById(`nav-${spec}`);
if (current) current.setAttribute("aria-current", "page");

let csrfToken = "";
fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
  .then((response) => (response.ok ? response.json() : null))
  .then((session) => {
    csrfToken = (session && session.csrfToken) || "";
  })
  .catch(() => {});

window.SwaggerUIBundle({
  url: SPECS[spec],
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  tryItOutEnabled: false,
  requestInterceptor: (request) => {
    const method = String(request.method || "GET").toUpperCase();
    if (csrfToken && !["GET", "HEAD", "OPTIONS"].includes(method)) {
      request.headers["X-CSRF-Token"] = csrfToken;
    }
    return request;
  },
});
