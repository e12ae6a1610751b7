"""Everything that talks to the target PostgreSQL: history, lock, apply, snapshot, fingerprint.

The public surface is re-exported here; the operator (read-only: ``connect``,
``read_state``, ``fingerprint``) and the Job and CLI (``run_plan``) use only
these names. Layout of the history schema: :mod:`schemaop.engine.history`;
advisory lock key: :mod:`schemaop.engine.lock`; docs/engine.md has both.
"""

from schemaop.engine.connect import APPLICATION_NAME, Conn, connect, describe, redact
from schemaop.engine.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    EngineError,
    InvalidConnectionString,
    LockBusy,
    LockTimeout,
    MigrationFailed,
    Position,
    Refused,
    ResourceExhausted,
    SerializationFailure,
    SnapshotFailed,
    StatementTimeout,
    Stopped,
    classify,
)
from schemaop.engine.fingerprint import fingerprint, fingerprint_query
from schemaop.engine.history import ensure_history, read_history, read_state
from schemaop.engine.lock import DEFAULT_LOCK_KEY, lock_key
from schemaop.engine.runner import RunResult, StepResult, run_plan
from schemaop.model.names import NOTIFY_CHANNEL

__all__ = [
    "APPLICATION_NAME",
    "DEFAULT_LOCK_KEY",
    "NOTIFY_CHANNEL",
    "AuthenticationFailed",
    "Conn",
    "ConnectionFailed",
    "EngineError",
    "InvalidConnectionString",
    "LockBusy",
    "LockTimeout",
    "MigrationFailed",
    "Position",
    "Refused",
    "ResourceExhausted",
    "RunResult",
    "SerializationFailure",
    "SnapshotFailed",
    "StatementTimeout",
    "StepResult",
    "Stopped",
    "classify",
    "connect",
    "describe",
    "ensure_history",
    "fingerprint",
    "fingerprint_query",
    "lock_key",
    "read_history",
    "read_state",
    "redact",
    "run_plan",
]
