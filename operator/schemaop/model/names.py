"""Names other systems see, each defined once: the API group and version, the
annotations a person sets, and the PostgreSQL names the engine and the sidecar share.

Pure constants; every module that needs one imports it from here.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "schemaop.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

# The annotation with which a person approves a plan (its hash).
ANNOTATION_APPROVED_PLAN: Final = f"{GROUP}/approved-plan"

# The annotation with which a person asks for a failed run to be retried now: the
# operator skips the failure backoff once for each new value (any text; the console
# writes a timestamp and a nonce). The Job it starts carries the value, so the same
# value never skips a second backoff.
ANNOTATION_RETRY_REQUESTED: Final = f"{GROUP}/retry-requested"

# On a Secret: the hosts its password (passwordFrom) may be sent to, comma-separated
# `host` or `host:port` entries (decide/secrethosts.py).
ANNOTATION_ALLOWED_HOSTS: Final = f"{GROUP}/allowed-hosts"

# libpq's require_auth for a password from passwordFrom, whose host the SchemaVersion's
# author chose: only a SCRAM exchange, never cleartext or md5 (engine/connect.py).
REQUIRE_AUTH_SCRAM: Final = "scram-sha-256"

# The schema holding the Backup policy's copies and the Rename policy's tombstone registry.
ARCHIVE_SCHEMA: Final = "schemaop_archive"
TOMBSTONES_TABLE: Final = "tombstones"

# The channel the runner NOTIFYs after each step and the sidecar LISTENs on.
# The exit code of a run stopped on request (SIGTERM: the batch or step in flight
# finished, nothing failed, progress kept); Jobs do not count it as a failure.
EXIT_STOPPED: Final = 4

NOTIFY_CHANNEL: Final = "schemaop_schema_changed"
