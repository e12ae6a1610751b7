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

# --- operator (schemaop.operator) -----------------------------------------------------

OPERATOR_VERSION_INFO = Gauge(
    "schemaop_schemaversion_info",
    "1 for each SchemaVersion, labelled with its current and target version.",
    ["namespace", "name", "current", "target"],
)
OPERATOR_PENDING = Gauge(
    "schemaop_migrations_pending",
    "Migration steps between a database's current and target version.",
    ["namespace", "name"],
)
OPERATOR_READY = Gauge(
    "schemaop_schemaversion_ready",
    "1 when the SchemaVersion's Ready condition is True, else 0.",
    ["namespace", "name"],
)
OPERATOR_STALLED = Gauge(
    "schemaop_schemaversion_stalled",
    "1 when the SchemaVersion is Stalled (needs a person or a spec change), else 0.",
    ["namespace", "name", "reason"],
)
OPERATOR_DRIFTED = Gauge(
    "schemaop_schema_drifted",
    "1 when the live schema differs from the one recorded after the last migration.",
    ["namespace", "name"],
)
OPERATOR_JOBS = Counter(
    "schemaop_migration_jobs_total",
    "Migration Jobs created by the operator.",
    ["namespace", "name"],
)
OPERATOR_APPLIED = Counter(
    "schemaop_migrations_applied_total",
    "Migration steps applied, seen when their Job finished, by direction.",
    ["namespace", "name", "direction"],
)
OPERATOR_FAILED = Counter(
    "schemaop_migrations_failed_total",
    "Migration Jobs that failed, by SQLSTATE (empty when not an SQL error).",
    ["namespace", "name", "sqlstate"],
)
OPERATOR_MIGRATION_DURATION = Histogram(
    "schemaop_migration_duration_seconds",
    "Duration of one applied migration step, from the database's history table.",
    ["namespace", "name"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0),
)
OPERATOR_RECONCILE_DURATION = Histogram(
    "schemaop_reconcile_duration_seconds",
    "Time of one reconciliation of a SchemaVersion.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPERATOR_RECONCILE_ERRORS = Counter(
    "schemaop_reconcile_errors_total",
    "Reconciliations that ended in an unexpected error (retried), by error type.",
    ["error"],
)
OPERATOR_API_REQUESTS = Counter(
    "schemaop_operator_api_requests_total",
    "Kubernetes API requests the operator's reconciliations made (not kopf's own watches"
    " and patches), by verb.",
    ["verb"],
)
OPERATOR_LINT_FINDINGS = Gauge(
    "schemaop_lint_findings",
    "Lint findings in a SchemaVersion's current plan, by severity.",
    ["namespace", "name", "severity"],
)

# --- batched data migrations (read from status.dataMigration) ----------------------

BACKFILL_ROWS_DONE = Gauge(
    "schemaop_backfill_rows_done",
    "Rows the batched data migration in progress (or the last one) has changed.",
    ["namespace", "name"],
)
BACKFILL_ROWS_TOTAL = Gauge(
    "schemaop_backfill_rows_total_estimate",
    "Rows in the table of the batched data migration, estimated when it started.",
    ["namespace", "name"],
)
BACKFILL_RATE = Gauge(
    "schemaop_backfill_rows_per_second",
    "The recent rate of the batched data migration in progress (0 when none runs).",
    ["namespace", "name"],
)
BACKFILL_THROTTLED = Gauge(
    "schemaop_backfill_throttled",
    "1 while the batched data migration is throttled (lock waits, timeouts, autovacuum, "
    "replication lag), else 0.",
    ["namespace", "name"],
)
BACKFILL_RUNNING = Gauge(
    "schemaop_backfill_running",
    "1 while a batched data migration is under way (not completed, not paused), else 0.",
    ["namespace", "name"],
)
BACKFILL_LAST_PROGRESS = Gauge(
    "schemaop_backfill_last_progress_timestamp_seconds",
    "When the batched data migration last committed a batch (Unix time).",
    ["namespace", "name"],
)
