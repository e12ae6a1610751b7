"""What the operator does next for one SchemaVersion: facts in, decision out (pure).

The kopf handlers gather the facts (the resource, its SchemaMigrations, the
database's history read through a read-only connection, the Jobs it created)
and call :func:`decide`. All policy lives in this package, so it is unit-tested
without a cluster or a database. One module per job:

- :mod:`~schemaop.decide.spec`: the spec and the SchemaMigrations, read and
  bounds-checked;
- :mod:`~schemaop.decide.jobfacts`: the migration Jobs, read into facts;
- :mod:`~schemaop.decide.gates`: the gates, :func:`decide` and the pure steps
  after acting;
- the status it writes is shaped and changed by :mod:`schemaop.model.status`.
"""

from schemaop.decide.gates import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    DEFAULT_RESYNC,
    MAX_SILENT_FAILURES,
    Decision,
    Facts,
    after_job_created,
    after_job_refused,
    backoff,
    decide,
    with_migration_lint,
)
from schemaop.decide.jobfacts import JobFacts, last_job_status
from schemaop.decide.spec import (
    ACTIVE_DEADLINE_SECONDS,
    BACKOFF_LIMIT,
    LOCK_RETRIES,
    TTL_SECONDS_AFTER_FINISHED,
    InvalidSpec,
    run_options,
    spec_problems,
    to_migrations,
)
from schemaop.kube.builders import job_finished
from schemaop.model.status import MAX_HISTORY, MAX_STATUS_STEPS

__all__ = [
    "ACTIVE_DEADLINE_SECONDS",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "BACKOFF_LIMIT",
    "DEFAULT_RESYNC",
    "LOCK_RETRIES",
    "MAX_HISTORY",
    "MAX_SILENT_FAILURES",
    "MAX_STATUS_STEPS",
    "TTL_SECONDS_AFTER_FINISHED",
    "Decision",
    "Facts",
    "InvalidSpec",
    "JobFacts",
    "after_job_created",
    "after_job_refused",
    "backoff",
    "decide",
    "job_finished",
    "last_job_status",
    "run_options",
    "spec_problems",
    "to_migrations",
    "with_migration_lint",
]
