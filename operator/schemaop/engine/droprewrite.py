"""The Backup and Rename policies' SQL: a migration's drops rewritten so the data survives.

:func:`schemaop.lint.policy.judge` decides (refuse, run as written, or keep the
data of these drops); this module writes the SQL that keeps it. The rewritten
SQL runs in the engine like any other step, in the step's own transaction.
:mod:`schemaop.engine.archives` lists what it leaves (rollback points) and
purges old tombstones.

``Backup``
    Before each ``DROP TABLE`` / ``DROP COLUMN`` the data is copied into schema
    ``schemaop_archive`` (``v3__users``, ``v3__users__email``); the step's
    ``archives`` metadata names each copy so the engine lists it as a rollback
    point. The down step, after the migration's own down SQL recreates the
    structure (or, when it does not, creating it from the archive), restores
    the rows (tables) or the values by primary key (columns), sets owned
    sequences past the restored values, and drops the archive.
``Rename``
    ``DROP TABLE`` / ``DROP COLUMN`` become a rename to a tombstone that records
    the version (``users__schemaop_dropped_v3``), registered in
    ``schemaop_archive.tombstones`` for ``schemaop purge --older-than``. The
    down step renames it back in place of the down SQL that recreated it.

Primary keys and column types are looked up in the catalog when the step runs
(inside ``DO`` blocks), not taken from what lint inferred from the migration
set: the catalog is the only authority on a table that production has held
for months, and this keeps the rewrite correct for tables lint never saw
created. A table without a primary key makes a column ``Backup`` fail with a
clear message before anything is dropped (a transactional step then leaves
no trace). Identifiers are quoted by psycopg.sql, or by PostgreSQL's
``format('%I')`` inside the blocks, never pasted into SQL text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from psycopg import sql

from schemaop.lint.core import LintResult, Statement, lint_set, parse_statements
from schemaop.lint.findings import Finding
from schemaop.lint.policy import (
    TOMBSTONE_MARK,
    Drops,
    Policy,
    Refusal,
    Rewrite,
    archive_name,
    judge,
    tombstone_name,
    version_tag,
)
from schemaop.lint.rules import kind, qualified_key, range_key, strings
from schemaop.lint.status import finding_status, lint_status
from schemaop.model import Migration
from schemaop.model.names import ARCHIVE_SCHEMA, TOMBSTONES_TABLE
from schemaop.model.plan import Plan
from schemaop.model.status import PlanLint

_DOLLAR: Final = "$schemaop$"


def apply_policy(
    migration: Migration,
    policy: Policy | str,
    lint: LintResult | None = None,
) -> Rewrite | Refusal:
    """Apply ``policy`` to ``migration``; ``lint`` is its result from ``lint_set``.

    Pass the result of linting the whole set so tables created earlier in the
    set are not treated as existing; without it, the migration is linted alone.
    """
    outcome = judge(migration, policy, lint)
    if isinstance(outcome, Drops):
        return _Rewriter(migration, outcome.policy, outcome.lint).rewrite(outcome.findings)
    return outcome


# SQL pieces ------------------------------------------------------------------


def _q(composable: sql.Composable) -> str:
    return composable.as_string(None)


def _ident(names: Sequence[str]) -> sql.Identifier:
    return sql.Identifier(*names)


def _do(body: sql.Composable) -> str:
    text = _q(body)
    if _DOLLAR in text:  # only through a hostile identifier; fall back to a quoted literal
        return _q(sql.SQL("DO {}").format(sql.Literal(text)))
    return f"DO {_DOLLAR}\n{text}\n{_DOLLAR}"


_REGISTRY_DDL: Final = sql.SQL(
    "CREATE SCHEMA IF NOT EXISTS {schema};\n"
    "CREATE TABLE IF NOT EXISTS {schema}.{table} (\n"
    "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    kind text NOT NULL CHECK (kind IN ('table', 'column')),\n"
    "    schema_name text NOT NULL,\n"
    "    table_name text NOT NULL,\n"
    "    column_name text,\n"
    "    original text NOT NULL,\n"
    "    version text NOT NULL,\n"
    "    dropped_at timestamptz NOT NULL DEFAULT now(),\n"
    "    renamed jsonb NOT NULL DEFAULT '{{}}'  -- tombstone index/sequence name -> original\n"
    ")"
)


def registry_ddl() -> str:
    """DDL of the tombstone registry (idempotent)."""
    return _q(
        _REGISTRY_DDL.format(
            schema=sql.Identifier(ARCHIVE_SCHEMA), table=sql.Identifier(TOMBSTONES_TABLE)
        )
    )


# A tombstoned table keeps its indexes and sequences; they are renamed too, or a
# new table with the old name (DROP + CREATE in one rollout) would collide with
# them (users_pkey, users_id_seq). The mapping is kept for the rename-back.
_TOMBSTONE_TABLE: Final = (
    "DECLARE\n"
    "    rel regclass := to_regclass({rel});\n"
    "    suffix text := {suffix};\n"
    "    renamed jsonb := '{{}}';\n"
    "    r record;\n"
    "    newname text;\n"
    "BEGIN\n"
    "    IF rel IS NULL THEN\n"
    "{missing}"
    "    END IF;\n"
    "    FOR r IN SELECT c.oid, c.relname::text AS relname, c.relkind\n"
    "               FROM pg_catalog.pg_class c\n"
    "              WHERE c.oid IN (SELECT indexrelid FROM pg_catalog.pg_index\n"
    "                               WHERE indrelid = rel)\n"
    "                 OR (c.relkind = 'S' AND c.oid IN (\n"
    "                     SELECT d.objid FROM pg_catalog.pg_depend d\n"
    "                      WHERE d.classid = 'pg_catalog.pg_class'::regclass\n"
    "                        AND d.refobjid = rel AND d.deptype IN ('a', 'i')))\n"
    "              ORDER BY c.oid LOOP\n"
    "        newname := CASE WHEN octet_length(r.relname || suffix) <= 63\n"
    "                        THEN r.relname || suffix\n"
    "                        ELSE left(r.relname, 63 - octet_length(suffix) - 7)\n"
    "                             || '_' || left(md5(r.relname), 6) || suffix END;\n"
    "        EXECUTE format('ALTER %s %s RENAME TO %I',\n"
    "            CASE r.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'INDEX' END,\n"
    "            r.oid::regclass, newname);\n"
    "        renamed := renamed || jsonb_build_object(newname, r.relname);\n"
    "    END LOOP;\n"
    "    EXECUTE format('ALTER TABLE %s RENAME TO %I', rel, {tomb});\n"
    "    INSERT INTO {registry}\n"
    "        (kind, schema_name, table_name, column_name, original, version, renamed)\n"
    "    SELECT 'table', n.nspname, c.relname, NULL, {original}, {version}, renamed\n"
    "      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "     WHERE c.oid = rel;\n"
    "END"
)

_UNTOMBSTONE_TABLE: Final = (
    "DECLARE\n"
    "    tomb regclass := to_regclass({tomb_rel});\n"
    "    sch text;\n"
    "    renamed jsonb;\n"
    "    r record;\n"
    "BEGIN\n"
    "    IF tomb IS NULL THEN\n"
    "{otherwise}"
    "        RETURN;\n"
    "    END IF;\n"
    "    SELECT n.nspname INTO sch FROM pg_catalog.pg_class c\n"
    "      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tomb;\n"
    "    EXECUTE format('ALTER TABLE %s RENAME TO %I', tomb, {original});\n"
    "    SELECT t.renamed INTO renamed FROM {registry} t\n"
    "     WHERE t.version = {version} AND t.kind = 'table' AND t.original = {original}\n"
    "       AND t.schema_name = sch ORDER BY t.id DESC LIMIT 1;\n"
    "    FOR r IN SELECT c.oid, e.value AS original, c.relkind\n"
    "               FROM jsonb_each_text(coalesce(renamed, '{{}}')) e\n"
    "               JOIN pg_catalog.pg_class c\n"
    "                 ON c.oid = to_regclass(format('%I.%I', sch, e.key))\n"
    "    LOOP\n"
    "        EXECUTE format('ALTER %s %s RENAME TO %I',\n"
    "            CASE r.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'INDEX' END, r.oid::regclass,\n"
    "            r.original);\n"
    "    END LOOP;\n"
    "    DELETE FROM {registry} t\n"
    "     WHERE t.version = {version} AND t.kind = 'table' AND t.original = {original}\n"
    "       AND t.schema_name = sch;\n"
    "END"
)

_BACKUP_TABLE: Final = sql.SQL(
    "DECLARE\n"
    "    rel regclass := to_regclass({rel});\n"
    "BEGIN\n"
    "    IF rel IS NULL THEN\n"
    "        RETURN;  -- nothing to keep; the DROP decides whether that is an error\n"
    "    END IF;\n"
    "    EXECUTE format('CREATE TABLE %I.%I AS TABLE %s', {schema}, {archive}, rel);\n"
    "END"
)

_BACKUP_COLUMN: Final = sql.SQL(
    "DECLARE\n"
    "    rel regclass := to_regclass({rel});\n"
    "    pk text[];\n"
    "BEGIN\n"
    "    IF rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute\n"
    "            WHERE attrelid = rel AND attname = {column} AND attnum > 0 AND NOT attisdropped)\n"
    "    THEN\n"
    "        RETURN;  -- nothing to keep; the DROP decides whether that is an error\n"
    "    END IF;\n"
    "    SELECT array_agg(a.attname::text ORDER BY k.ord) INTO pk\n"
    "      FROM pg_catalog.pg_index i\n"
    "      CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)\n"
    "      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum\n"
    "     WHERE i.indrelid = rel AND i.indisprimary;\n"
    "    IF pk IS NULL OR {column} = ANY (pk) THEN\n"
    "        RAISE EXCEPTION 'schemaop Backup policy: % has no primary key without column %,'\n"
    "            ' so its values cannot be restored by key', rel, {column}\n"
    "            USING HINT = 'add a primary key, use the Rename policy, or allow the drop';\n"
    "    END IF;\n"
    "    EXECUTE format('CREATE TABLE %I.%I AS SELECT %s, %I FROM %s',\n"
    "        {schema}, {archive},\n"
    "        (SELECT string_agg(format('%I', c), ', ') FROM unnest(pk) AS c), {column}, rel);\n"
    "    EXECUTE format('ALTER TABLE %I.%I ADD PRIMARY KEY (%s)', {schema}, {archive},\n"
    "        (SELECT string_agg(format('%I', c), ', ') FROM unnest(pk) AS c));\n"
    "END"
)

_RESTORE_TABLE: Final = sql.SQL(
    "DECLARE\n"
    "    rel regclass := to_regclass({rel});\n"
    "    arch regclass := to_regclass(format('%I.%I', {schema}, {archive}));\n"
    "    cols text;\n"
    "    r record;\n"
    "BEGIN\n"
    "    IF arch IS NULL THEN  -- nothing archived (the up step ran under another policy)\n"
    "        RAISE NOTICE 'schemaop: no archive %.% to restore % from',\n"
    "            {schema}, {archive}, {rel};\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    IF rel IS NULL THEN  -- the down SQL did not recreate it: rebuild from the archive\n"
    "        EXECUTE format('CREATE TABLE %s (LIKE %s)', {rel_sql}, arch);\n"
    "        rel := to_regclass({rel});\n"
    "    END IF;\n"
    "    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO cols\n"
    "      FROM pg_catalog.pg_attribute a\n"
    "     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''\n"
    "       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = arch\n"
    "                   AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped);\n"
    "    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s'\n"
    "        ' ON CONFLICT DO NOTHING', rel, cols, cols, arch);\n"
    "    FOR r IN SELECT a.attname, pg_get_serial_sequence(rel::text, a.attname) AS seq\n"
    "               FROM pg_catalog.pg_attribute a\n"
    "              WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped\n"
    "                AND pg_get_serial_sequence(rel::text, a.attname) IS NOT NULL LOOP\n"
    "        EXECUTE format('SELECT setval(%L, m, true) FROM (SELECT max(%I) AS m FROM %s) s'\n"
    "            ' WHERE m IS NOT NULL', r.seq, r.attname, rel);\n"
    "    END LOOP;\n"
    "    EXECUTE format('DROP TABLE %s', arch);\n"
    "END"
)

_RESTORE_COLUMN: Final = sql.SQL(
    "DECLARE\n"
    "    rel regclass := to_regclass({rel});\n"
    "    arch regclass := to_regclass(format('%I.%I', {schema}, {archive}));\n"
    "    cond text;\n"
    "BEGIN\n"
    "    IF arch IS NULL THEN  -- nothing archived (the up step ran under another policy)\n"
    "        RAISE NOTICE 'schemaop: no archive %.% to restore %.% from',\n"
    "            {schema}, {archive}, {rel}, {column};\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    IF rel IS NULL THEN\n"
    "        RAISE EXCEPTION 'schemaop: cannot restore column % of %: the table does not exist',\n"
    "            {column}, {rel};\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute\n"
    "            WHERE attrelid = rel AND attname = {column} AND attnum > 0 AND NOT attisdropped)\n"
    "    THEN  -- the down SQL did not re-add it: add it with the archived type\n"
    "        EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', rel, {column},\n"
    "            (SELECT format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute\n"
    "              WHERE attrelid = arch AND attname = {column}));\n"
    "    END IF;\n"
    "    SELECT string_agg(format('t.%1$I = a.%1$I', attname), ' AND ') INTO cond\n"
    "      FROM pg_catalog.pg_attribute\n"
    "     WHERE attrelid = arch AND attnum > 0 AND NOT attisdropped AND attname <> {column};\n"
    "    EXECUTE format('UPDATE %s AS t SET %I = a.%I FROM %s AS a WHERE %s',\n"
    "        rel, {column}, {column}, arch, cond);\n"
    "    EXECUTE format('DROP TABLE %s', arch);\n"
    "END"
)


def _register(
    kind_: str, tomb_rel: Sequence[str], original: str, column: str | None, version: str
) -> str:
    """INSERT into the tombstone registry; the schema is resolved from the catalog."""
    return _q(
        sql.SQL(
            "INSERT INTO {schema}.{table}"
            " (kind, schema_name, table_name, column_name, original, version)\n"
            "SELECT {kind}, n.nspname, c.relname, {column}, {original}, {version}\n"
            "  FROM pg_catalog.pg_class c\n"
            "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
            " WHERE c.oid = {rel}::regclass"
        ).format(
            schema=sql.Identifier(ARCHIVE_SCHEMA),
            table=sql.Identifier(TOMBSTONES_TABLE),
            kind=sql.Literal(kind_),
            column=sql.Literal(column),
            original=sql.Literal(original),
            version=sql.Literal(version),
            rel=sql.Literal(_q(_ident(tomb_rel))),
        )
    )


def _registry() -> sql.Composable:
    return sql.Identifier(ARCHIVE_SCHEMA, TOMBSTONES_TABLE)


def _unregister(rel: Sequence[str], kind_: str, original: str, version: str) -> str:
    """DELETE the registry row of a tombstone that was renamed back to ``rel``."""
    return _q(
        sql.SQL(
            "DELETE FROM {schema}.{table}\n"
            " WHERE version = {version} AND kind = {kind} AND original = {original}\n"
            "   AND schema_name = (SELECT n.nspname FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.oid = {rel}::regclass)"
        ).format(
            schema=sql.Identifier(ARCHIVE_SCHEMA),
            table=sql.Identifier(TOMBSTONES_TABLE),
            version=sql.Literal(version),
            kind=sql.Literal(kind_),
            original=sql.Literal(original),
            rel=sql.Literal(_q(_ident(rel))),
        )
    )


# the rewrite -----------------------------------------------------------------


@dataclasses.dataclass
class _Drop:
    names: tuple[str, ...]  # the table as written: (name,) or (schema, name)
    column: str | None
    missing_ok: bool
    statement: int


@dataclasses.dataclass
class _Edit:
    """Text replacing statement ``index`` (``None``: keep it) and text to put before it."""

    before: list[str] = dataclasses.field(default_factory=list)
    replace: str | None = None
    after: list[str] = dataclasses.field(default_factory=list)


class _Rewriter:
    def __init__(self, migration: Migration, policy: Policy, lint: LintResult) -> None:
        self.m = migration
        self.version = migration.version.text
        self.policy = policy
        self.lint = lint

    def rewrite(self, handled: Sequence[Finding]) -> Rewrite:
        targets = {(f.statement_index, f.target) for f in handled}
        drops: list[_Drop] = []
        edits: dict[int, _Edit] = {}
        for st in self.lint.statements:
            found = self._drops_in(st, targets)
            if not found:
                continue
            drops.extend(found)
            edits[st.index] = self._edit_up(st, found)
        up = _apply_edits(self.m.up, self.lint.statements, edits)
        if self.policy is Policy.RENAME:
            up = registry_ddl() + ";\n" + up
        elif self.policy is Policy.BACKUP:
            up = (
                _q(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(ARCHIVE_SCHEMA)))
                + ";\n"
                + up
            )
        down = self._down(drops)
        return Rewrite(up, down, tuple(self._archive(d) for d in drops))

    def _drops_in(self, st: Statement, targets: set[tuple[int, str | None]]) -> list[_Drop]:
        k, v = kind(st.tree)
        out: list[_Drop] = []
        if k == "DropStmt" and v.get("removeType") == "OBJECT_TABLE":
            for obj in v.get("objects") or ():
                names = tuple(strings(kind(obj)[1].get("items")))
                if names and (st.index, qualified_key(list(names))) in targets:
                    out.append(_Drop(names, None, bool(v.get("missing_ok")), st.index))
        elif k == "AlterTableStmt":
            rel = v["relation"]
            names = (
                (rel["schemaname"], rel["relname"]) if rel.get("schemaname") else (rel["relname"],)
            )
            for cmd in v.get("cmds") or ():
                c = kind(cmd)[1]
                if (
                    c.get("subtype") == "AT_DropColumn"
                    and (
                        st.index,
                        f"{range_key(rel)}.{c.get('name')}",
                    )
                    in targets
                ):
                    missing = bool(c.get("missing_ok") or v.get("missing_ok"))
                    out.append(_Drop(names, c["name"], missing, st.index))
        return out

    # up ----------------------------------------------------------------------

    def _edit_up(self, st: Statement, drops: list[_Drop]) -> _Edit:
        edit = _Edit()
        if self.policy is Policy.BACKUP:
            edit.before = [self._backup(d) for d in drops]
            return edit
        renames = [self._rename(d) for d in drops]
        remainder = _remainder(st.text(self.m.up), drops)
        edit.replace = ";\n".join([*renames, *([remainder] if remainder else [])])
        return edit

    def _backup(self, d: _Drop) -> str:
        rel = sql.Literal(_q(_ident(d.names)))
        common = {
            "rel": rel,
            "schema": sql.Literal(ARCHIVE_SCHEMA),
            "archive": sql.Literal(archive_name(self.version, self._table_label(d), d.column)),
        }
        if d.column is None:
            return _do(_BACKUP_TABLE.format(**common))
        return _do(_BACKUP_COLUMN.format(column=sql.Literal(d.column), **common))

    def _rename(self, d: _Drop) -> str:
        if_exists = sql.SQL(" IF EXISTS") if d.missing_ok else sql.SQL("")
        if d.column is None:
            missing = (
                "        RETURN;  -- DROP TABLE IF EXISTS of a missing table\n"
                if d.missing_ok
                else "        RAISE EXCEPTION USING ERRCODE = 'undefined_table',\n"
                "            MESSAGE = format('table %s does not exist', {rel});\n"
            )
            return _do(
                sql.SQL(_TOMBSTONE_TABLE.replace("{missing}", missing)).format(
                    rel=sql.Literal(_q(_ident(d.names))),
                    suffix=sql.Literal(TOMBSTONE_MARK + version_tag(self.version)),
                    tomb=sql.Literal(tombstone_name(d.names[-1], self.version)),
                    registry=_registry(),
                    original=sql.Literal(d.names[-1]),
                    version=sql.Literal(self.version),
                )
            )
        else:
            tomb = tombstone_name(d.column, self.version)
            stmt = _q(
                sql.SQL("ALTER TABLE{} {} RENAME COLUMN {} TO {}").format(
                    if_exists, _ident(d.names), sql.Identifier(d.column), sql.Identifier(tomb)
                )
            )
            reg = _register("column", d.names, d.column, tomb, self.version)
        if d.missing_ok:
            # Conditional: wrap both in a block that checks the object exists.
            return _do(
                sql.SQL(
                    "BEGIN\n"
                    "    IF {check} THEN\n"
                    "        EXECUTE {stmt};\n"
                    "        EXECUTE {reg};\n"
                    "    END IF;\n"
                    "END"
                ).format(
                    check=self._exists_check(d),
                    stmt=sql.Literal(stmt),
                    reg=sql.Literal(reg),
                )
            )
        return f"{stmt};\n{reg}"

    def _exists_check(self, d: _Drop) -> sql.Composable:
        rel = sql.Literal(_q(_ident(d.names)))
        if d.column is None:
            return sql.SQL("to_regclass({}) IS NOT NULL").format(rel)
        return sql.SQL(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass({})"
            " AND attname = {} AND attnum > 0 AND NOT attisdropped)"
        ).format(rel, sql.Literal(d.column))

    def _table_label(self, d: _Drop) -> str:
        if len(d.names) == 2 and d.names[0] != "public":
            return f"{d.names[0]}.{d.names[1]}"
        return d.names[-1]

    def _archive(self, d: _Drop) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "archive" if self.policy is Policy.BACKUP else "tombstone",
            "policy": self.policy.value,
            "version": self.version,
            "object": "table" if d.column is None else "column",
            "table": ".".join(d.names),
        }
        if d.column is not None:
            out["column"] = d.column
        if self.policy is Policy.BACKUP:
            name = archive_name(self.version, self._table_label(d), d.column)
            out["archive"] = f"{ARCHIVE_SCHEMA}.{name}"
            known = self.lint.tables_before.get(qualified_key(list(d.names)))
            if known is not None and known.primary_key:
                out["primaryKey"] = list(known.primary_key)
        else:
            out["tombstone"] = tombstone_name(d.column or d.names[-1], self.version)
        return out

    # down --------------------------------------------------------------------

    def _undo(self, d: _Drop, recreate: str | None = None) -> str:
        """SQL undoing drop ``d``; ``recreate`` is the down SQL that would recreate it.

        Every undo checks what the up step actually left (an archive, a
        tombstone) before using it, so a down step still works when its up step
        ran under another policy, or the object was never there (IF EXISTS).
        """
        if self.policy is Policy.BACKUP:
            common = {
                "rel": sql.Literal(_q(_ident(d.names))),
                "schema": sql.Literal(ARCHIVE_SCHEMA),
                "archive": sql.Literal(archive_name(self.version, self._table_label(d), d.column)),
            }
            restore = (
                _RESTORE_TABLE.format(rel_sql=sql.Literal(_q(_ident(d.names))), **common)
                if d.column is None
                else _RESTORE_COLUMN.format(column=sql.Literal(d.column), **common)
            )
            return _do(restore)
        if d.column is None:
            tomb = (*d.names[:-1], tombstone_name(d.names[-1], self.version))
            otherwise = (
                "        -- no tombstone: recreate it as the down SQL says\n"
                "        EXECUTE {recreate};\n"
                if recreate
                else ""
            )
            return _do(
                sql.SQL(_UNTOMBSTONE_TABLE.replace("{otherwise}", otherwise)).format(
                    tomb_rel=sql.Literal(_q(_ident(tomb))),
                    original=sql.Literal(d.names[-1]),
                    registry=_registry(),
                    version=sql.Literal(self.version),
                    recreate=sql.Literal(recreate),
                )
            )
        else:
            tomb_col = tombstone_name(d.column, self.version)
            back = sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                _ident(d.names), sql.Identifier(tomb_col), sql.Identifier(d.column)
            )
            check = sql.SQL(
                "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid ="
                " to_regclass({}) AND attname = {} AND attnum > 0 AND NOT attisdropped)"
            ).format(sql.Literal(_q(_ident(d.names))), sql.Literal(tomb_col))
            unregister = _unregister(d.names, "column", d.column, self.version)
        else_branch = (
            sql.SQL(
                "    ELSE  -- no tombstone: recreate it as the down SQL says\n        EXECUTE {};\n"
            ).format(sql.Literal(recreate))
            if recreate
            else sql.SQL("")
        )
        return _do(
            sql.SQL(
                "BEGIN\n    IF {check} THEN\n        EXECUTE {back};\n"
                "        EXECUTE {unregister};\n{otherwise}    END IF;\nEND"
            ).format(
                check=check,
                back=sql.Literal(_q(back)),
                unregister=sql.Literal(unregister),
                otherwise=else_branch,
            )
        )

    def _down(self, drops: list[_Drop]) -> str:
        """The migration's down SQL with each drop undone where its object is recreated."""
        text = self.m.down if self.m.down is not None and self.m.down.strip() else ""
        try:
            statements = parse_statements(text) if text else ()
        except Exception:  # an unparseable down: keep it and append (lint reports it)
            statements = ()
        edits: dict[int, _Edit] = {}
        placed: set[int] = set()
        for st in statements:
            for d in drops:
                if id(d) in placed or not _recreates(st, d):
                    continue
                placed.add(id(d))
                edit = edits.setdefault(st.index, _Edit())
                if self.policy is Policy.BACKUP:
                    edit.after.append(self._undo(d))
                else:
                    recreate, remainder = _split_recreate(st.text(text), d)
                    edit.replace = ";\n".join(
                        [*([edit.replace] if edit.replace else []), self._undo(d, recreate)]
                        + ([remainder] if remainder else [])
                    )
            if self.policy is Policy.RENAME and _indexes_renamed_table(st, drops, placed):
                # The renamed-back table has its indexes already.
                edits.setdefault(st.index, _Edit()).replace = _if_not_exists(st.text(text))
        out = _apply_edits(text, statements, edits) if text else ""
        # Drops the down SQL does not recreate: undone at the end, last drop first.
        rest = [self._undo(d) for d in reversed(drops) if id(d) not in placed]
        if rest:
            out = (out.rstrip() + "\n" if out.strip() else "") + ";\n".join(rest) + ";\n"
        return out


def _recreates(st: Statement, d: _Drop) -> bool:
    k, v = kind(st.tree)
    key = qualified_key(list(d.names))
    if d.column is None:
        if k == "CreateStmt":
            return range_key(v["relation"]) == key
        if k == "CreateTableAsStmt":
            return range_key(v["into"]["rel"]) == key
        return False
    if k != "AlterTableStmt" or range_key(v["relation"]) != key:
        return False
    for cmd in v.get("cmds") or ():
        c = kind(cmd)[1]
        if (
            c.get("subtype") == "AT_AddColumn"
            and c.get("def", {}).get("ColumnDef", {}).get("colname") == d.column
        ):
            return True
    return False


def _indexes_renamed_table(st: Statement, drops: Sequence[_Drop], placed: set[int]) -> bool:
    """A down's CREATE INDEX on a table that the rename-back restores with its indexes."""
    k, v = kind(st.tree)
    if k != "IndexStmt":
        return False
    key = range_key(v["relation"])
    return any(
        d.column is None and id(d) in placed and qualified_key(list(d.names)) == key for d in drops
    )


def _split_recreate(text: str, d: _Drop) -> tuple[str, str]:
    """(SQL recreating ``d``, the rest of the statement or ""), both deparsed."""
    import pglast
    from pglast.stream import RawStream

    if d.column is None:
        return text, ""
    (raw,) = pglast.parse_sql(text)
    stmt: Any = raw.stmt
    add = pglast.enums.AlterTableType.AT_AddColumn
    mine = tuple(c for c in stmt.cmds if c.subtype == add and c.def_.colname == d.column)
    others = tuple(c for c in stmt.cmds if c not in mine)
    stmt.cmds = mine
    recreate = str(RawStream()(stmt))
    stmt.cmds = others
    return recreate, (str(RawStream()(stmt)) if others else "")


def _if_not_exists(text: str) -> str:
    """A named CREATE INDEX made idempotent (IF NOT EXISTS)."""
    import pglast
    from pglast.stream import RawStream

    (raw,) = pglast.parse_sql(text)
    stmt: Any = raw.stmt
    if not stmt.idxname:
        return text
    stmt.if_not_exists = True
    return str(RawStream()(stmt))


def _remainder(text: str, drops: Sequence[_Drop]) -> str:
    """What is left of a DROP TABLE / ALTER TABLE once the rewritten drops are taken out."""
    import pglast
    from pglast.stream import RawStream

    (raw,) = pglast.parse_sql(text)
    stmt: Any = raw.stmt
    if type(stmt).__name__ == "DropStmt":
        gone = {d.names for d in drops if d.column is None}
        stmt.objects = tuple(o for o in stmt.objects if tuple(s.sval for s in o) not in gone)
        return str(RawStream()(stmt)) if stmt.objects else ""
    gone_cols = {d.column for d in drops if d.column is not None}
    stmt.cmds = tuple(
        c
        for c in stmt.cmds
        if not (c.subtype == pglast.enums.AlterTableType.AT_DropColumn and c.name in gone_cols)
    )
    return str(RawStream()(stmt)) if stmt.cmds else ""


def _apply_edits(text: str, statements: Sequence[Statement], edits: Mapping[int, _Edit]) -> str:
    """``text`` with statements replaced or surrounded, keeping everything else as written."""
    out: list[str] = []
    pos = 0
    for st in statements:
        edit = edits.get(st.index)
        if edit is None:
            continue
        out.append(text[pos : st.start])
        for b in edit.before:
            out.append(b + ";\n")
        if edit.replace == "":
            # Removed: skip the statement and its semicolon.
            pos = _after_semicolon(text, st.end)
            continue
        out.append(text[st.start : st.end] if edit.replace is None else edit.replace)
        pos = st.end
        if edit.after:
            semi = _after_semicolon(text, pos)
            out.append(text[pos:semi])
            out.append("\n" + ";\n".join(edit.after) + ";")
            pos = semi
    out.append(text[pos:])
    return "".join(out)


def _after_semicolon(text: str, pos: int) -> int:
    """Offset just past the ``;`` ending the statement at ``pos`` (or ``pos``)."""
    i = pos
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i + 1 if i < len(text) and text[i] == ";" else pos


def apply_to_plan(
    plan: Plan,
    migrations: Iterable[Migration],
    policy: Policy | str,
    *,
    lint_results: Sequence[LintResult] | None = None,
) -> Plan | Refusal:
    """The plan with every step's SQL run through ``policy``, or the first refusal.

    Up steps get the rewritten up SQL and the ``archives`` metadata; down steps
    get the rewritten down SQL (which checks for the archive or tombstone
    before using it). ``lint_results`` is ``lint_set(migrations,
    applied_through=plan.from_version)``, computed here when not given. The
    plan's hash covers the rewritten SQL, so an approval approves what runs.
    """
    from schemaop.lint.core import lint_set

    ms = {m.version: m for m in migrations}
    results = (
        lint_results
        if lint_results is not None
        else lint_set(ms.values(), applied_through=plan.from_version)
    )
    by_version = {r.version: r for r in results}
    steps = []
    for step in plan.steps:
        m = ms.get(step.version)
        if m is None:
            steps.append(step)
            continue
        outcome = apply_policy(m, policy, by_version.get(m.version.text))
        if isinstance(outcome, Refusal):
            if step.direction == "up":
                return outcome
            steps.append(step)
        elif step.direction == "up":
            steps.append(dataclasses.replace(step, sql=outcome.up, archives=outcome.archives))
        else:
            steps.append(dataclasses.replace(step, sql=outcome.down or step.sql))
    return dataclasses.replace(plan, steps=tuple(steps))


def plan_hook(
    plan: Plan, migrations: Iterable[Migration], policy: str
) -> tuple[Plan, list[dict[str, Any]], PlanLint]:
    """The operator's lint gate: ``(plan, blocking findings, lint summary)``.

    The signature of ``schemaop.decide.Facts.apply_policy``. ``blocking`` is
    non-empty when the policy refuses (the plan is then returned unchanged and
    the operator stalls with reason ``DestructiveChange``); the summary covers
    the migrations the plan applies (``lint_status`` shape, for
    ``status.plan.lint``).
    """
    ms = list(migrations)
    results = lint_set(ms, applied_through=plan.from_version)
    up_versions = {s.version.text for s in plan.steps if s.direction == "up"}
    summary = lint_status(f for r in results if r.version in up_versions for f in r.findings)
    outcome = apply_to_plan(plan, ms, policy, lint_results=results)
    if isinstance(outcome, Refusal):
        return plan, [finding_status(f) for f in outcome.findings], summary
    return outcome, [], summary
