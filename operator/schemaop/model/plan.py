"""A plan: the exact steps a migration run will execute, and how to run them.

Pure: no I/O. The planner (:mod:`schemaop.planner`) computes a plan from the
desired migration set and the database's history; the operator stores it in an
immutable ConfigMap (``to_json``) and names the ConfigMap and the Job after its
``short_hash``; the Job runs ``schemaop job run --plan FILE`` which reads it back
(``from_json``) and hands it to :func:`schemaop.engine.run_plan`.

The hash is the sha256 of the plan's canonical JSON (sorted keys, no spaces, the
``hash`` field itself left out), so the same inputs always give the same hash,
and a person approving a plan (annotation ``schemaop.io/approved-plan``)
approves exactly these steps with exactly these options.

A plan never holds a secret: it names no host, user or password. The database
comes from the Job's environment (``DATABASE_URL`` or libpq's ``PG*`` variables,
filled from Secrets).

Plan file format (JSON, camelCase like Kubernetes)::

    {"apiVersion": "schemaop.io/v1alpha1", "kind": "Plan",
     "fromVersion": "3" | null, "toVersion": "5" | null, "target": "latest",
     "options": {"lockTimeoutMs": 2000, "retries": 5, "statementTimeoutMs": null,
                 "lockWaitMs": 60000, "snapshot": "None", "snapshotDir": null,
                 "schemas": ["public"], "historySchema": "schemaop",
                 "allowMissing": false},
     "verify": {"1": "<checksum>", ...},
     "steps": [{"version": "4", "description": "...", "direction": "up",
                "sql": "...", "transactional": true, "checksum": "...",
                "archives": [],
                "down": "..." | null, "downChecksum": "..."}],   # up steps
     # a down step made from the history's record (its migration is gone):
     #          {..., "direction": "down", "source": "recorded"}
     "hash": "<sha256 hex>"}

``verify`` maps every version of the migration set the plan was made from to
its checksum; the runner checks the database's applied migrations against it
under the lock, so a plan computed from stale state cannot run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, cast

from schemaop.model.migration import Batched, batched_down
from schemaop.model.names import API_VERSION
from schemaop.model.version import InvalidVersion, Version

PLAN_API_VERSION: Final = API_VERSION
PLAN_KIND: Final = "Plan"

Direction = Literal["up", "down"]
# Where a step's SQL comes from: the migration set, or (down steps only) the down
# SQL the history recorded when the migration was applied.
StepSource = Literal["migration", "recorded"]
SnapshotPolicy = Literal["None", "Schema", "Full"]
SNAPSHOT_POLICIES: Final[tuple[str, ...]] = ("None", "Schema", "Full")

_IDENTIFIER_RE: Final = re.compile(r"^[^\x00]{1,63}$")
#: PostgreSQL's identifier limit in bytes (NAMEDATALEN - 1); longer names are truncated.
NAME_MAX_BYTES: Final = 63


class InvalidPlan(ValueError):
    """A plan file that cannot be read: bad JSON, a missing field, a wrong hash."""


@dataclasses.dataclass(frozen=True)
class PlanStep:
    """One migration applied (``up``) or reverted (``down``).

    ``sql`` is the text that runs (the migration's up or down SQL). ``checksum``
    is the migration's checksum (over up, down and the transactional flag), the
    same for both directions, and is what the history table records.
    ``archives`` is metadata from the destructive-change policy (issue 6): JSON
    objects describing data the step's SQL copies aside before dropping it. The
    engine does not interpret them; it reports them as rollback points.

    ``down`` and ``down_checksum`` (up steps): the migration's down SQL and its
    :func:`~schemaop.model.migration.down_checksum`, which the runner records with
    the step's history row; ``down_checksum`` None records nothing (a plan made
    by an older schemaop). ``source`` ``recorded``: a down step whose SQL is the
    one recorded at apply time, its migration being gone. Left out of the JSON at
    their defaults, so plans without them keep their hash.
    """

    version: Version
    description: str
    direction: Direction
    sql: str
    transactional: bool = True
    checksum: str = ""
    archives: tuple[Mapping[str, Any], ...] = ()
    down: str | None = None
    down_checksum: str | None = None
    source: StepSource = "migration"

    # A batched data migration's settings (both directions: a plain down of a batched
    # migration resets its progress); absent from the JSON when None, so the hash of
    # every other plan is unchanged.
    batched: Batched | None = None

    @property
    def down_batched(self) -> Batched | None:
        """The batched settings of a down that runs batch by batch: this down step's, or
        (an up step) those its history row records with its migration's down."""
        return batched_down(self.batched)

    @property
    def runs_batched(self) -> bool:
        """Whether this step's SQL runs batch by batch (an up, or a down with ``down``)."""
        return self.batched is not None and (self.direction == "up" or self.batched.down)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version.text,
            "description": self.description,
            "direction": self.direction,
            "sql": self.sql,
            "transactional": self.transactional,
            "checksum": self.checksum,
            "archives": [dict(a) for a in self.archives],
        }
        if self.down_checksum is not None:
            out["down"] = self.down
            out["downChecksum"] = self.down_checksum
        if self.source != "migration":
            out["source"] = self.source
        if self.batched is not None:
            out["batched"] = self.batched.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanStep:
        direction = data.get("direction")
        if direction not in ("up", "down"):
            raise InvalidPlan(f"step direction must be 'up' or 'down', not {direction!r}")
        archives = data.get("archives") or []
        if not isinstance(archives, list) or not all(isinstance(a, dict) for a in archives):
            raise InvalidPlan("step archives must be a list of objects")
        source = data.get("source", "migration")
        if source not in ("migration", "recorded"):
            raise InvalidPlan(f"step source must be 'migration' or 'recorded', not {source!r}")
        down = data.get("down")
        down_sum = data.get("downChecksum")
        batched = None
        if data.get("batched") is not None:
            try:
                batched = Batched.from_dict(data["batched"])
            except ValueError as exc:
                raise InvalidPlan(f"step batched: {exc}") from exc
        return cls(
            batched=batched,
            version=_version(data.get("version"), "step version"),
            description=_str(data.get("description", ""), "step description"),
            direction=cast(Direction, direction),
            sql=_str(data.get("sql"), "step sql"),
            transactional=_bool(data.get("transactional", True), "step transactional"),
            checksum=_str(data.get("checksum", ""), "step checksum"),
            archives=tuple(archives),
            down=None if down is None else _str(down, "step down"),
            down_checksum=None if down_sum is None else _str(down_sum, "step downChecksum"),
            source=cast(StepSource, source),
        )


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the runner applies a plan. Part of the plan, so part of its hash.

    Times are whole milliseconds so the JSON (and the hash) is exact.
    """

    # SET lock_timeout for every statement: never queue behind a long transaction.
    lock_timeout_ms: int = 2000
    # Tries of a step whose statement hit the lock timeout (SQLSTATE 55P03).
    retries: int = 5
    # SET statement_timeout for every statement; None leaves the server default.
    statement_timeout_ms: int | None = None
    # How long to wait for the runner's advisory lock when another runner holds it.
    lock_wait_ms: int = 60_000
    snapshot: SnapshotPolicy = "None"
    # Directory for Full snapshots (pg_dump -Fc), e.g. a mounted volume.
    snapshot_dir: str | None = None
    # The schemas the migrations manage: fingerprinted and snapshotted.
    schemas: tuple[str, ...] = ("public",)
    history_schema: str = "schemaop"
    # Applied versions absent from the plan's ``verify`` map are tolerated.
    allow_missing: bool = False

    def __post_init__(self) -> None:
        if self.lock_timeout_ms < 0 or self.lock_wait_ms < 0:
            raise InvalidPlan("lock timeouts must not be negative")
        if self.retries < 1:
            raise InvalidPlan("retries must be at least 1 (the first try counts)")
        if self.statement_timeout_ms is not None and self.statement_timeout_ms < 0:
            raise InvalidPlan("statement timeout must not be negative")
        if self.snapshot not in SNAPSHOT_POLICIES:
            raise InvalidPlan(f"snapshot policy must be one of {', '.join(SNAPSHOT_POLICIES)}")
        if self.snapshot == "Full" and not self.snapshot_dir:
            raise InvalidPlan("snapshot policy Full needs a snapshot directory")
        for name in (*self.schemas, self.history_schema):
            if not isinstance(name, str) or not _IDENTIFIER_RE.match(name):
                raise InvalidPlan(f"invalid schema name {name!r}")
            if len(name.encode()) > NAME_MAX_BYTES:
                # PostgreSQL would cut it to 63 bytes: two spellings, one schema.
                raise InvalidPlan(
                    f"schema name {name!r} is {len(name.encode())} bytes in UTF-8; "
                    f"PostgreSQL keeps at most {NAME_MAX_BYTES} (it would cut the rest)"
                )
        if self.history_schema in self.schemas:
            raise InvalidPlan(
                f"the history schema {self.history_schema!r} cannot be a managed schema"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "lockTimeoutMs": self.lock_timeout_ms,
            "retries": self.retries,
            "statementTimeoutMs": self.statement_timeout_ms,
            "lockWaitMs": self.lock_wait_ms,
            "snapshot": self.snapshot,
            "snapshotDir": self.snapshot_dir,
            "schemas": list(self.schemas),
            "historySchema": self.history_schema,
            "allowMissing": self.allow_missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunOptions:
        d = RunOptions()
        schemas = data.get("schemas", list(d.schemas))
        if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
            raise InvalidPlan("options.schemas must be a list of strings")
        statement_timeout = data.get("statementTimeoutMs")
        snapshot_dir = data.get("snapshotDir")
        return cls(
            lock_timeout_ms=_int(data.get("lockTimeoutMs", d.lock_timeout_ms), "lockTimeoutMs"),
            retries=_int(data.get("retries", d.retries), "retries"),
            statement_timeout_ms=None
            if statement_timeout is None
            else _int(statement_timeout, "statementTimeoutMs"),
            lock_wait_ms=_int(data.get("lockWaitMs", d.lock_wait_ms), "lockWaitMs"),
            snapshot=cast(SnapshotPolicy, _str(data.get("snapshot", d.snapshot), "snapshot")),
            snapshot_dir=None if snapshot_dir is None else _str(snapshot_dir, "snapshotDir"),
            schemas=tuple(schemas),
            history_schema=_str(data.get("historySchema", d.history_schema), "historySchema"),
            allow_missing=_bool(data.get("allowMissing", False), "allowMissing"),
        )


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run will do: steps in order, from one version to another.

    ``from_version``/``to_version`` are None for "no migration applied".
    ``target`` is what was asked for (``"latest"`` or a version text).
    An empty ``steps`` means the database is already there.
    """

    from_version: Version | None
    to_version: Version | None
    target: str
    steps: tuple[PlanStep, ...] = ()
    options: RunOptions = dataclasses.field(default_factory=RunOptions)
    # version text -> checksum for every migration the plan was computed from.
    verify: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def recorded_downs(self) -> tuple[PlanStep, ...]:
        """Its down steps made from the history's record (their migration is gone)."""
        return tuple(s for s in self.steps if s.source == "recorded")

    @property
    def direction(self) -> Literal["up", "down", "mixed", "none"]:
        kinds = {s.direction for s in self.steps}
        if not kinds:
            return "none"
        if len(kinds) == 2:
            return "mixed"
        return "up" if "up" in kinds else "down"

    def _body(self) -> dict[str, Any]:
        return {
            "apiVersion": PLAN_API_VERSION,
            "kind": PLAN_KIND,
            "fromVersion": _vtext(self.from_version),
            "toVersion": _vtext(self.to_version),
            "target": self.target,
            "options": self.options.to_dict(),
            "verify": dict(sorted(self.verify.items())),
            "steps": [s.to_dict() for s in self.steps],
        }

    @functools.cached_property
    def hash(self) -> str:
        """sha256 (hex) of the canonical JSON of everything but the hash itself (cached)."""
        return hashlib.sha256(_canonical(self._body()).encode()).hexdigest()

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of ``hash``: for Kubernetes object names."""
        return self.hash[:12]

    def to_dict(self) -> dict[str, Any]:
        body = self._body()
        body["hash"] = self.hash
        return body

    def to_json(self, indent: int | None = None) -> str:
        """The plan file: canonical JSON (sorted keys) with its hash."""
        if indent is None:
            return _canonical(self.to_dict())
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        if not isinstance(data, Mapping):
            raise InvalidPlan("a plan must be a JSON object")
        if data.get("kind", PLAN_KIND) != PLAN_KIND:
            raise InvalidPlan(f"not a plan: kind is {data.get('kind')!r}")
        if data.get("apiVersion", PLAN_API_VERSION) != PLAN_API_VERSION:
            raise InvalidPlan(f"unsupported plan apiVersion {data.get('apiVersion')!r}")
        steps = data.get("steps", [])
        if not isinstance(steps, list):
            raise InvalidPlan("steps must be a list")
        verify = data.get("verify", {})
        if not isinstance(verify, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in verify.items()
        ):
            raise InvalidPlan("verify must map version strings to checksums")
        options = data.get("options", {})
        if not isinstance(options, dict):
            raise InvalidPlan("options must be an object")
        target = data.get("target", "latest")
        plan = cls(
            from_version=_opt_version(data.get("fromVersion"), "fromVersion"),
            to_version=_opt_version(data.get("toVersion"), "toVersion"),
            target=_str(target, "target"),
            steps=tuple(PlanStep.from_dict(s) for s in steps),
            options=RunOptions.from_dict(options),
            verify=dict(verify),
        )
        expected = data.get("hash")
        if expected is not None and expected != plan.hash:
            raise InvalidPlan(
                f"plan hash mismatch: file says {str(expected)[:12]}..., content is "
                f"{plan.short_hash}...; the plan file was changed after it was made"
            )
        return plan

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidPlan(f"plan is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _vtext(v: Version | None) -> str | None:
    return None if v is None else v.text


def _version(value: Any, what: str) -> Version:
    try:
        return Version(value)
    except InvalidVersion as exc:
        raise InvalidPlan(f"{what}: {exc}") from exc


def _opt_version(value: Any, what: str) -> Version | None:
    return None if value is None else _version(value, what)


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidPlan(f"{what} must be a string")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidPlan(f"{what} must be true or false")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPlan(f"{what} must be an integer")
    return value


def recorded_down_note(
    versions: Sequence[str], what: str = "SchemaMigration", *, done: bool = False
) -> str:
    """What status, Events and the CLI say when down steps come from the history's record,
    e.g. "rolling back 5 with the down SQL recorded at apply time; its SchemaMigration
    is gone". ``what`` names the definition that is gone (``SchemaMigration``,
    ``file``); ``done``: "rolled back".
    """
    verb = "rolled back" if done else "rolling back"
    gone = f"its {what} is gone" if len(versions) == 1 else f"their {what}s are gone"
    return f"{verb} {', '.join(versions)} with the down SQL recorded at apply time; {gone}"


def steps_summary(steps: Sequence[PlanStep]) -> list[dict[str, Any]]:
    """Steps without their SQL: what status and logs show."""
    return [
        {
            "version": s.version.text,
            "description": s.description,
            "direction": s.direction,
            "transactional": s.transactional,
            "checksum": s.checksum,
            **({"source": s.source} if s.source != "migration" else {}),
        }
        for s in steps
    ]
