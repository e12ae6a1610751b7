"""One schema snapshot and its HTTP representations, memoized.

A :class:`Snapshot` is the introspected schema at one moment with everything a
request needs precomputed or memoized (the JSON body, its gzip form, one body
per table, the JSON Schema of a table, the ETag), so a cached GET is a
dictionary lookup and a write. Keeping it fresh is :mod:`schemaop.sidecar.cache`'s
job; serving it is :mod:`schemaop.sidecar.app`'s.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from typing import Any

from schemaop.sidecar.jsonschema_map import table_json_schema

__all__ = ["Snapshot"]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Snapshot:
    """The schema at one moment, with memoized encodings. Never mutated after build."""

    def __init__(
        self,
        schemas: list[dict[str, Any]],
        version: str | None,
        fingerprint: str,
        dirty: bool = False,
        generated_at: str | None = None,
    ) -> None:
        self.schemas = schemas
        self.version = version
        self.fingerprint = fingerprint
        self.dirty = dirty
        self.generated_at = generated_at or dt.datetime.now(dt.UTC).isoformat(
            timespec="milliseconds"
        ).replace("+00:00", "Z")
        tag = hashlib.sha256(f"{fingerprint}\0{version}\0{dirty}".encode()).hexdigest()
        self.etag = f'"{fingerprint[:24]}-{tag[:12]}"'
        self.tables: dict[tuple[str, str], dict[str, Any]] = {
            (t["schema"], t["name"]): t for s in schemas for t in s["tables"]
        }
        self._memo: dict[tuple[Any, ...], bytes] = {}

    @property
    def key(self) -> tuple[str | None, str, bool]:
        """What identifies a change: version, fingerprint, dirtiness."""
        return (self.version, self.fingerprint, self.dirty)

    def meta(self, stale: bool) -> dict[str, Any]:
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "generatedAt": self.generated_at,
            "dirty": self.dirty,
            "stale": stale,
        }

    def document(self, stale: bool) -> bytes:
        """The body of ``GET /api/v1/schema``."""
        key = ("schema", stale)
        if key not in self._memo:
            self._memo[key] = _dumps({**self.meta(stale), "schemas": self.schemas})
        return self._memo[key]

    def document_gzip(self, stale: bool) -> bytes:
        key = ("schema.gz", stale)
        if key not in self._memo:
            self._memo[key] = gzip.compress(self.document(stale), compresslevel=6, mtime=0)
        return self._memo[key]

    def version_body(self, stale: bool) -> bytes:
        key = ("version", stale)
        if key not in self._memo:
            self._memo[key] = _dumps(self.meta(stale))
        return self._memo[key]

    def table_body(self, schema: str, name: str, stale: bool) -> bytes | None:
        table = self.tables.get((schema, name))
        if table is None:
            return None
        key = ("table", schema, name, stale)
        if key not in self._memo:
            self._memo[key] = _dumps({**self.meta(stale), "table": table})
        return self._memo[key]

    def jsonschema_body(self, schema: str, name: str) -> bytes | None:
        table = self.tables.get((schema, name))
        if table is None:
            return None
        key = ("jsonschema", schema, name)
        if key not in self._memo:
            self._memo[key] = _dumps(table_json_schema(table))
        return self._memo[key]

    def event(self) -> dict[str, Any]:
        """The payload of a ``schema-changed`` event."""
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "generatedAt": self.generated_at,
            "etag": self.etag,
        }
