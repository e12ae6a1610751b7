"""The rules: one parsed statement (libpg_query's JSON tree) in, raw findings out.

Statements come from pglast's ``parse_sql_json``: PostgreSQL's own parser, so a
``DROP`` inside a string, a comment or a function body is never mistaken for a
statement (grepping SQL text for ``DROP`` is the classic mistake). We walk the
plain JSON tree instead of pglast's Python AST objects because building those
objects costs ten times the parse itself, and lint runs on every reconcile.

Each check also updates the :class:`~schemaop.lint.catalog.Catalog`, so later
statements know which tables were created in the same migration set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from schemaop.lint.catalog import Catalog, table_key
from schemaop.lint.findings import Severity

Node = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Hit:
    code: str
    message: str
    target: str | None = None
    severity: Severity | None = None  # None: the rule's default
    # Byte offset (libpg_query's) of the offending part, when the tree has one
    # (an ALTER TABLE subcommand); None: the statement's start.
    location: int | None = None


# Functions that are not volatile, so a default using them is evaluated once and
# stored in the catalog (no table rewrite since PostgreSQL 11).
_NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_date",
        "lower",
        "upper",
        "concat",
        "length",
        "to_jsonb",
        "to_json",
        "jsonb_build_object",
        "json_build_object",
        "jsonb_build_array",
        "json_build_array",
        "make_interval",
        "make_date",
        "array_fill",
        "to_timestamp",
        "to_date",
        "abs",
        "round",
        "md5",
        "current_setting",
    }
)
_SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})
_INT_RANK = {"int2": 1, "int4": 2, "int8": 3}
_TEMPORAL_WITH_PRECISION = frozenset({"timestamp", "timestamptz", "time", "timetz", "interval"})


def kind(node: Node) -> tuple[str, Node]:
    ((k, v),) = node.items()
    return k, v


def strings(items: list[Node] | None) -> list[str]:
    out = []
    for item in items or ():
        k, v = kind(item)
        if k == "String":
            out.append(v.get("sval", ""))
    return out


def range_key(rv: Node) -> str:
    return table_key(rv.get("schemaname"), rv["relname"])


def qualified_key(names: list[str]) -> str:
    return table_key(names[-2] if len(names) > 1 else None, names[-1])


@dataclasses.dataclass(frozen=True)
class TypeInfo:
    name: str
    mods: tuple[int, ...]
    array: bool

    def __str__(self) -> str:
        mods = f"({','.join(map(str, self.mods))})" if self.mods else ""
        return f"{self.name}{mods}{'[]' if self.array else ''}"


def type_info(tn: Node) -> TypeInfo:
    names = strings(tn.get("names"))
    name = names[-1] if names else "?"
    name = {
        "bpchar": "char",
        "character varying": "varchar",
        "timestamp with time zone": "timestamptz",
    }.get(name, name)
    mods: list[int] = []
    for m in tn.get("typmods") or ():
        k, v = kind(m)
        if k == "A_Const" and "ival" in v:
            mods.append(int(v["ival"].get("ival", 0)))
        else:
            mods.append(-1)
    return TypeInfo(name, tuple(mods), bool(tn.get("arrayBounds")))


def _int_like(t: TypeInfo) -> int | None:
    return _INT_RANK.get(t.name) if not t.array else None


def _numeric_digits(t: TypeInfo) -> tuple[int, int] | None:
    """(integer digits, scale) of numeric(p,s); None for unconstrained numeric."""
    if not t.mods:
        return None
    p = t.mods[0]
    s = t.mods[1] if len(t.mods) > 1 else 0
    return p - s, s


def lossy_change(old: TypeInfo | None, new: TypeInfo) -> bool:
    """Whether converting to ``new`` can silently lose data (old unknown: can it in general)."""
    if old is not None and old == new:
        return False
    if new.array != (old.array if old else new.array):
        return False  # a failing cast, not a silent loss
    if new.name in ("text", "varchar") and not new.mods:
        return False
    if old is None:
        if new.name in ("float4", "date") or (new.name == "numeric" and new.mods):
            return True
        return new.name in _TEMPORAL_WITH_PRECISION and bool(new.mods)
    if new.name in ("varchar", "char", "bit", "varbit"):
        same_family = old.name in (
            ("varchar", "char") if new.name in ("varchar", "char") else ("bit", "varbit")
        )
        if not same_family:
            return old.name not in _INT_RANK and old.name != "bool"
        return not old.mods or (bool(new.mods) and new.mods[0] < old.mods[0])
    if new.name in _INT_RANK:
        rank = _int_like(old)
        return rank is None or rank > _INT_RANK[new.name]
    if new.name == "numeric":
        digits = _numeric_digits(new)
        if digits is None:
            return False
        if old.name == "numeric":
            od = _numeric_digits(old)
            return od is None or od[0] > digits[0] or od[1] > digits[1]
        if old.name in _INT_RANK:
            return digits[0] < {"int2": 5, "int4": 10, "int8": 19}[old.name]
        return True
    if new.name == "float4":
        return old.name not in {"float4", "int2"}
    if new.name == "float8":
        return old.name in ("int8", "numeric")
    if new.name == "date":
        return old.name in ("timestamp", "timestamptz")
    if new.name in ("time", "timetz"):
        return old.name in ("timestamp", "timestamptz") or (
            bool(new.mods) and (not old.mods or new.mods[0] < old.mods[0])
        )
    if new.name in _TEMPORAL_WITH_PRECISION and new.mods:
        return not old.mods or new.mods[0] < old.mods[0]
    return False


def binary_coercible(old: TypeInfo, new: TypeInfo) -> bool:
    """Changes PostgreSQL makes without rewriting the table (a conservative subset)."""
    if old == new:
        return True
    if old.array != new.array:
        return False
    if old.name == "varchar" and new.name == "text":
        return True
    if old.name in ("varchar", "text") and new.name == "varchar" and not new.mods:
        return True
    if old.name == new.name and old.name in ("varchar", "varbit"):
        return not new.mods or (bool(old.mods) and new.mods[0] >= old.mods[0])
    if old.name == new.name == "numeric":
        if not new.mods:
            return True
        od, nd = _numeric_digits(old), _numeric_digits(new)
        return od is not None and nd is not None and od[1] == nd[1] and nd[0] >= od[0]
    return old.name == "cidr" and new.name == "inet"


def _function_names(expr: Any) -> Iterator[str]:
    """Names of every function called anywhere in an expression tree."""
    stack = [expr]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            call = n.get("FuncCall")
            if isinstance(call, dict):
                names = strings(call.get("funcname"))
                if names:
                    yield names[-1]
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)


def _volatile(expr: Any) -> str | None:
    for name in _function_names(expr):
        if name not in _NON_VOLATILE_FUNCTIONS:
            return name
    return None


def _has_option(options: list[Node] | None, name: str) -> bool:
    for o in options or ():
        k, v = kind(o)
        if k == "DefElem" and v.get("defname") == name:
            arg = v.get("arg")
            if arg is None:
                return True
            ak, av = kind(arg)
            # VACUUM (FULL false) is an explicit "no"
            return not (ak in ("Boolean", "A_Const") and av.get("boolval") is False)
    return False


class Checker:
    """Runs every rule over one statement and keeps the catalog up to date."""

    def __init__(self, catalog: Catalog, transactional: bool, batched: bool = False) -> None:
        self.catalog = catalog
        self.transactional = transactional
        # A batched data migration: its one UPDATE/DELETE runs in short batches.
        self.batched = batched

    def check(self, stmt: Node) -> list[Hit]:
        k, v = kind(stmt)
        method = getattr(self, f"_{k}", None)
        return list(method(v)) if method is not None else []

    # helpers -------------------------------------------------------------

    def _existing(self, key: str) -> bool:
        return not self.catalog.is_new_table(key)

    def _non_tx(self, what: str) -> Iterator[Hit]:
        if self.transactional:
            yield Hit("SO401", f"{what} cannot run inside a transaction; set transactional: false")

    # creation ------------------------------------------------------------

    def _CreateStmt(self, v: Node) -> Iterator[Hit]:
        key = range_key(v["relation"])
        if (
            v.get("if_not_exists")
            and key in self.catalog.tables
            and not self.catalog.is_new_table(key)
        ):
            return
        columns: dict[str, str | None] = {}
        pk: tuple[str, ...] | None = None
        for elt in v.get("tableElts") or ():
            ek, ev = kind(elt)
            if ek == "ColumnDef":
                columns[ev["colname"]] = (
                    str(type_info(ev["typeName"])) if "typeName" in ev else None
                )
                for c in ev.get("constraints") or ():
                    if kind(c)[1].get("contype") == "CONSTR_PRIMARY":
                        pk = (ev["colname"],)
            elif ek == "Constraint" and ev.get("contype") == "CONSTR_PRIMARY":
                pk = tuple(strings(ev.get("keys")))
        self.catalog.create_table(key, columns, pk)
        yield from ()

    def _CreateTableAsStmt(self, v: Node) -> Iterator[Hit]:
        self.catalog.create_table(range_key(v["into"]["rel"]))
        yield from ()

    def _SelectStmt(self, v: Node) -> Iterator[Hit]:
        into = v.get("intoClause")
        if into:
            self.catalog.create_table(range_key(into["rel"]))
        yield from ()

    def _CreateSchemaStmt(self, v: Node) -> Iterator[Hit]:
        if v.get("schemaname"):
            self.catalog.new_schemas.add(v["schemaname"])
        yield from ()

    def _type_created(self, names: list[str]) -> None:
        if names:
            self.catalog.new_types.add(qualified_key(names))

    def _CreateEnumStmt(self, v: Node) -> Iterator[Hit]:
        self._type_created(strings(v.get("typeName")))
        yield from ()

    def _CreateDomainStmt(self, v: Node) -> Iterator[Hit]:
        self._type_created(strings(v.get("domainname")))
        yield from ()

    def _CompositeTypeStmt(self, v: Node) -> Iterator[Hit]:
        rv = v.get("typevar") or {}
        if rv.get("relname"):
            self.catalog.new_types.add(range_key(rv))
        yield from ()

    def _CreateRangeStmt(self, v: Node) -> Iterator[Hit]:
        self._type_created(strings(v.get("typeName")))
        yield from ()

    # data loss -----------------------------------------------------------

    def _DropStmt(self, v: Node) -> Iterator[Hit]:
        rtype = v.get("removeType")
        cascade = v.get("behavior") == "DROP_CASCADE"
        if v.get("concurrent"):
            yield from self._non_tx("DROP INDEX CONCURRENTLY")
        for obj in v.get("objects") or ():
            ok, ov = kind(obj)
            if rtype in ("OBJECT_TABLE", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"):
                names = strings(ov.get("items")) if ok == "List" else []
                if not names:
                    continue
                key = qualified_key(names)
                if rtype == "OBJECT_TABLE" and self._existing(key):
                    yield Hit("SO101", f"DROP TABLE {key} deletes the table and its rows", key)
                self.catalog.drop_table(key)
            elif rtype == "OBJECT_SCHEMA":
                name = ov.get("sval", "") if ok == "String" else ""
                if name and name not in self.catalog.new_schemas:
                    yield Hit(
                        "SO103",
                        f"DROP SCHEMA {name}{' CASCADE' if cascade else ''} deletes"
                        f" {'every object in it' if cascade else 'the schema'}",
                        name,
                        None if cascade else Severity.WARNING,
                    )
            elif rtype in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
                names = strings(ov.get("names")) if ok == "TypeName" else strings(ov.get("items"))
                if not names:
                    continue
                key = qualified_key(names)
                if key not in self.catalog.new_types:
                    word = "DOMAIN" if rtype == "OBJECT_DOMAIN" else "TYPE"
                    yield Hit(
                        "SO108",
                        f"DROP {word} {key}"
                        + (
                            " CASCADE drops every column of this type"
                            if cascade
                            else " fails while columns use it, and loses them with CASCADE"
                        ),
                        key,
                        None if cascade else Severity.WARNING,
                    )

    def _TruncateStmt(self, v: Node) -> Iterator[Hit]:
        keys = [range_key(r["RangeVar"]) for r in v.get("relations") or () if "RangeVar" in r]
        existing = [k for k in keys if self._existing(k)]
        if existing:
            yield Hit("SO104", f"TRUNCATE deletes every row of {', '.join(existing)}", existing[0])

    def _DeleteStmt(self, v: Node) -> Iterator[Hit]:
        rel = v["relation"]
        if rel["relname"] == "pg_enum" and rel.get("schemaname") in (None, "pg_catalog"):
            yield Hit("SO109", "deleting from pg_enum removes enum values rows may still hold")
            return
        key = range_key(rel)
        if not v.get("whereClause") and self._existing(key):
            yield Hit("SO105", f"DELETE without WHERE deletes every row of {key}", key)
        yield from self._backfill("DELETE", key, v.get("whereClause"))

    def _UpdateStmt(self, v: Node) -> Iterator[Hit]:
        key = range_key(v["relation"])
        if not v.get("whereClause") and self._existing(key):
            yield Hit("SO106", f"UPDATE without WHERE overwrites every row of {key}", key)
        yield from self._backfill("UPDATE", key, v.get("whereClause"))

    def _backfill(self, verb: str, key: str, where: Node | None) -> Iterator[Hit]:
        """SO310: a table-wide UPDATE/DELETE in one transaction (not a key lookup, not batched)."""
        if self.batched or not self._existing(key) or _key_lookup(where):
            return
        yield Hit(
            "SO310",
            f"{verb} of {key} in one transaction locks every row it touches until it commits",
            key,
        )

    # breaking ------------------------------------------------------------

    def _RenameStmt(self, v: Node) -> Iterator[Hit]:
        rtype = v.get("renameType")
        rel = v.get("relation")
        if rel is None:
            return
        key = range_key(rel)
        if rtype == "OBJECT_TABLE":
            new_key = table_key(rel.get("schemaname"), v["newname"])
            if self._existing(key):
                yield Hit("SO201", f"renaming table {key} to {v['newname']}", key)
            self.catalog.rename_table(key, new_key)
        elif rtype == "OBJECT_COLUMN" and v.get("relationType") == "OBJECT_TABLE":
            old, new = v.get("subname", ""), v["newname"]
            if not self.catalog.is_new_column(key, old):
                yield Hit("SO202", f"renaming column {key}.{old} to {new}", f"{key}.{old}")
            self.catalog.rename_column(key, old, new)

    def _AlterObjectSchemaStmt(self, v: Node) -> Iterator[Hit]:
        rel = v.get("relation")
        if v.get("objectType") != "OBJECT_TABLE" or rel is None:
            return
        key = range_key(rel)
        if self._existing(key):
            yield Hit("SO201", f"moving table {key} to schema {v['newschema']}", key)
        self.catalog.rename_table(key, table_key(v["newschema"], rel["relname"]))

    def _AlterEnumStmt(self, v: Node) -> Iterator[Hit]:
        key = qualified_key(strings(v.get("typeName")))
        if v.get("oldVal") and key not in self.catalog.new_types:
            yield Hit("SO205", f"renaming value {v['oldVal']!r} of {key} to {v['newVal']!r}", key)

    # ALTER TABLE -------------------------------------------------------------

    def _AlterTableStmt(self, v: Node) -> Iterator[Hit]:
        if v.get("objtype") not in (None, "OBJECT_TABLE"):
            return
        key = range_key(v["relation"])
        existing = self._existing(key)
        for cmd in v.get("cmds") or ():
            ck, cv = kind(cmd)
            if ck != "AlterTableCmd":
                continue
            definition = cv.get("def")
            loc = kind(definition)[1].get("location") if isinstance(definition, dict) else None
            for hit in self._alter_cmd(key, existing, cv):
                yield dataclasses.replace(hit, location=loc) if isinstance(loc, int) else hit

    def _alter_cmd(self, key: str, existing: bool, cmd: Node) -> Iterator[Hit]:
        sub = cmd.get("subtype")
        col = cmd.get("name") or ""
        definition = cmd.get("def") or {}
        old_column = existing and not self.catalog.is_new_column(key, col)
        target = f"{key}.{col}"
        if sub == "AT_DropColumn":
            if old_column:
                yield Hit("SO102", f"DROP COLUMN {col} deletes the data of {target}", target)
            self.catalog.drop_column(key, col)
        elif sub == "AT_AlterColumnType":
            cd = definition.get("ColumnDef", {})
            new_t = type_info(cd["typeName"]) if "typeName" in cd else None
            if new_t is not None and old_column:
                old_text = self.catalog.column_type(key, col)
                old_t = _parse_type_text(old_text) if old_text else None
                using = cd.get("raw_default") is not None
                if lossy_change(old_t, new_t):
                    was = f" from {old_t}" if old_t else ""
                    yield Hit(
                        "SO107",
                        f"changing {target}{was} to {new_t} can truncate values or lose precision",
                        target,
                    )
                if old_t is not None and binary_coercible(old_t, new_t) and not using:
                    pass
                elif old_t is None and not using and new_t.name in ("text", "varchar", "numeric"):
                    yield Hit(
                        "SO304",
                        f"changing {target} to {new_t} rewrites the table unless the old type is"
                        " binary-coercible to it",
                        target,
                        Severity.INFO,
                    )
                else:
                    yield Hit(
                        "SO304",
                        f"changing {target} to {new_t} rewrites the table under an"
                        " ACCESS EXCLUSIVE lock",
                        target,
                    )
            if new_t is not None:
                self.catalog.set_column_type(key, col, str(new_t))
        elif sub == "AT_SetNotNull":
            if old_column:
                yield Hit("SO203", f"SET NOT NULL on existing column {target}", target)
        elif sub == "AT_ColumnDefault":
            if not definition and old_column:
                yield Hit("SO204", f"DROP DEFAULT on {target}", target)
        elif sub == "AT_AddColumn":
            yield from self._add_column(key, existing, definition.get("ColumnDef", {}))
        elif sub == "AT_AddConstraint":
            if existing:
                yield from self._add_constraint(key, definition.get("Constraint", {}))
            con = definition.get("Constraint", {})
            if con.get("contype") == "CONSTR_PRIMARY" and con.get("keys"):
                self.catalog.set_primary_key(key, tuple(strings(con["keys"])))
        elif sub == "AT_DetachPartition" and definition.get("PartitionCmd", {}).get("concurrent"):
            yield from self._non_tx("DETACH PARTITION CONCURRENTLY")

    def _add_column(self, key: str, existing: bool, cd: Node) -> Iterator[Hit]:
        name = cd.get("colname", "")
        t = type_info(cd["typeName"]) if "typeName" in cd else None
        primary = False
        if existing:
            target = f"{key}.{name}"
            if t is not None and t.name in _SERIAL_TYPES:
                yield Hit("SO308", f"ADD COLUMN {target} {t.name} fills every row", target)
            for c in cd.get("constraints") or ():
                con = kind(c)[1]
                contype = con.get("contype")
                if contype == "CONSTR_DEFAULT":
                    fn = _volatile(con.get("raw_expr"))
                    if fn is not None:
                        yield Hit(
                            "SO308", f"ADD COLUMN {target} with volatile default {fn}()", target
                        )
                elif contype == "CONSTR_IDENTITY":
                    yield Hit("SO308", f"ADD COLUMN {target} as an identity column", target)
                elif contype == "CONSTR_GENERATED" and con.get("generated_kind") != "v":
                    yield Hit("SO308", f"ADD COLUMN {target} as a stored generated column", target)
                elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
                    yield Hit("SO309", f"ADD COLUMN {target} with an inline unique index", target)
        for c in cd.get("constraints") or ():
            if kind(c)[1].get("contype") == "CONSTR_PRIMARY":
                primary = True
        self.catalog.add_column(key, name, str(t) if t else None, primary)

    def _add_constraint(self, key: str, con: Node) -> Iterator[Hit]:
        contype = con.get("contype")
        name = con.get("conname") or contype
        if contype == "CONSTR_FOREIGN" and not con.get("skip_validation"):
            yield Hit("SO302", f"ADD FOREIGN KEY {name} on {key} without NOT VALID", key)
        elif contype == "CONSTR_CHECK" and not con.get("skip_validation"):
            yield Hit("SO303", f"ADD CHECK {name} on {key} without NOT VALID", key)
        elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_EXCLUSION") and not con.get(
            "indexname"
        ):
            yield Hit("SO309", f"ADD {name} on {key} builds an index while blocking writes", key)

    # lock-heavy and non-transactional ------------------------------------

    def _IndexStmt(self, v: Node) -> Iterator[Hit]:
        key = range_key(v["relation"])
        if v.get("concurrent"):
            yield from self._non_tx("CREATE INDEX CONCURRENTLY")
        elif self._existing(key):
            yield Hit("SO301", f"CREATE INDEX on existing table {key} without CONCURRENTLY", key)

    def _VacuumStmt(self, v: Node) -> Iterator[Hit]:
        if not v.get("is_vacuumcmd"):
            return  # ANALYZE
        if _has_option(v.get("options"), "full"):
            yield Hit("SO305", "VACUUM FULL rewrites the table")
        yield from self._non_tx("VACUUM")

    def _ClusterStmt(self, v: Node) -> Iterator[Hit]:
        rel = v.get("relation")
        if rel is None or self._existing(range_key(rel)):
            yield Hit("SO306", "CLUSTER rewrites the table", range_key(rel) if rel else None)

    def _ReindexStmt(self, v: Node) -> Iterator[Hit]:
        rk = v.get("kind", "")
        whole = rk in ("REINDEX_OBJECT_SCHEMA", "REINDEX_OBJECT_SYSTEM", "REINDEX_OBJECT_DATABASE")
        if _has_option(v.get("params"), "concurrently"):
            yield from self._non_tx("REINDEX CONCURRENTLY")
            return
        if whole:
            yield from self._non_tx(f"REINDEX {rk.removeprefix('REINDEX_OBJECT_')}")
        rel = v.get("relation")
        if rk == "REINDEX_OBJECT_TABLE" and rel is not None and not self._existing(range_key(rel)):
            return
        yield Hit("SO307", "REINDEX without CONCURRENTLY blocks writes")

    def _TransactionStmt(self, v: Node) -> Iterator[Hit]:
        if v.get("kind") in (
            "TRANS_STMT_BEGIN",
            "TRANS_STMT_START",
            "TRANS_STMT_COMMIT",
            "TRANS_STMT_ROLLBACK",
            "TRANS_STMT_PREPARE",
            "TRANS_STMT_COMMIT_PREPARED",
            "TRANS_STMT_ROLLBACK_PREPARED",
        ):
            word = v["kind"].removeprefix("TRANS_STMT_").replace("_", " ")
            yield Hit("SO402", f"explicit {word} inside a migration")

    def _CreatedbStmt(self, v: Node) -> Iterator[Hit]:
        yield from self._non_tx("CREATE DATABASE")

    def _DropdbStmt(self, v: Node) -> Iterator[Hit]:
        yield from self._non_tx("DROP DATABASE")

    def _AlterSystemStmt(self, v: Node) -> Iterator[Hit]:
        yield from self._non_tx("ALTER SYSTEM")

    def _CreateTableSpaceStmt(self, v: Node) -> Iterator[Hit]:
        yield from self._non_tx("CREATE TABLESPACE")

    def _DropTableSpaceStmt(self, v: Node) -> Iterator[Hit]:
        yield from self._non_tx("DROP TABLESPACE")


def _key_lookup(where: Node | None) -> bool:
    """Whether ``where`` compares a column with constants (``=`` or ``IN``): few rows."""
    if not where:
        return False
    stack: list[Any] = [where]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        expr = node.get("A_Expr")
        if isinstance(expr, dict):
            op = strings(expr.get("name"))
            consts = [
                side
                for side in (expr.get("lexpr"), expr.get("rexpr"))
                if isinstance(side, dict) and ("A_Const" in side or "ParamRef" in side)
            ]
            if expr.get("kind") == "AEXPR_IN" or (op == ["="] and consts):
                return True
        bool_expr = node.get("BoolExpr")
        if isinstance(bool_expr, dict) and bool_expr.get("boolop") == "OR_EXPR":
            continue  # a lookup under OR does not bound the rows
        stack.extend(node.values())
    return False


def _parse_type_text(text: str) -> TypeInfo:
    """Inverse of ``str(TypeInfo)`` for the catalog's stored column types."""
    array = text.endswith("[]")
    text = text.removesuffix("[]")
    name, _, rest = text.partition("(")
    mods = tuple(int(m) for m in rest.rstrip(")").split(",") if m) if rest else ()
    return TypeInfo(name, mods, array)
