"""Every Prometheus metric schemaop exports, defined in one place.

Names carry the ``schemaop`` namespace and a subsystem, counters end in
``_total`` and durations in ``_seconds``. Metrics register in
prometheus-client's default registry when this module is first imported, so
import it only from processes that expose them (the operator, the sidecar),
never from ``schemaop migrate``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- schema sidecar (schemaop.sidecar) ----------------------------------------------

SIDECAR_REQUESTS = Counter(
    "schemaop_sidecar_http_requests_total",
    "HTTP requests answered by the schema sidecar, by route, method and status code.",
    ["route", "method", "status"],
)
SIDECAR_REQUEST_DURATION = Histogram(
    "schemaop_sidecar_http_request_duration_seconds",
    "Time to answer an HTTP request (server-sent event streams excluded), by route.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
SIDECAR_RATE_LIMITED = Counter(
    "schemaop_sidecar_rate_limited_total",
    "Requests refused with 429 by the per-client token bucket.",
)
SIDECAR_REFRESHES = Counter(
    "schemaop_sidecar_refreshes_total",
    "Schema cache refreshes, by result (changed, unchanged, error).",
    ["result"],
)
SIDECAR_INTROSPECTION_DURATION = Histogram(
    "schemaop_sidecar_introspection_duration_seconds",
    "Time to read the schema from the database catalogs (one refresh).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SIDECAR_STALE = Gauge(
    "schemaop_sidecar_schema_stale",
    "1 while the served schema is stale (the database cannot be read), else 0.",
)
SIDECAR_TABLES = Gauge(
    "schemaop_sidecar_schema_tables",
    "Tables and views in the served schema.",
)
SIDECAR_EVENT_CLIENTS = Gauge(
    "schemaop_sidecar_event_clients",
    "Clients connected to the server-sent event stream.",
)
SIDECAR_NOTIFICATIONS = Counter(
    "schemaop_sidecar_notifications_total",
    "Notifications received on the schemaop_schema_changed channel.",
)
