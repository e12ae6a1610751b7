"""Where a passwordFrom Secret's password may go (issue: passwordFrom sends a
Secret's password to a host the SchemaVersion's author chose)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from schemaop.decide.gates import Facts, decide
from schemaop.decide.secrethosts import host_problem, parse_allowed_hosts
from schemaop.kube.builders import connection_env
from schemaop.model.conditions import ConditionType, Reason
from schemaop.model.history import DatabaseState
from schemaop.operator.reconcile import HostNotAllowed, OperatorConfig, Reconciler

ANN = "schemaop.io/allowed-hosts"
PASSWORD = "s3cret-Pw-1234"


def conn(host: str, port: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "host": host,
        "dbname": "app",
        "user": "mig",
        "passwordFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
    }
    if port is not None:
        out["port"] = port
    return out


def test_entries_are_hosts_with_or_without_port() -> None:
    assert parse_allowed_hosts(" db.prod.svc , 10.0.0.5:5432,[fd00::5]:6432,DB.Other.") == [
        ("db.prod.svc", None),
        ("10.0.0.5", 5432),
        ("fd00::5", 6432),
        ("db.other", None),
    ]
    for bad in ("db:x", "db:0", ":5432", "[fd00::5", "[fd00::5]x"):
        with pytest.raises(ValueError, match="entry 1"):
            parse_allowed_hosts(bad)


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("db.prod.svc", None, True),
        ("DB.prod.svc.", 6543, True),  # no port in the entry: any port
        ("10.0.0.5", None, True),  # 5432 is the default port
        ("10.0.0.5", 6432, False),
        ("evil.example", None, False),
        ("db.prod.svc.evil.example", None, False),
        ("db.prod.svc,evil.example", None, False),  # every host of a multi-host list
        ("db.prod.svc,10.0.0.5", None, True),
    ],
)
def test_only_named_hosts_get_the_password(host: str, port: int | None, allowed: bool) -> None:
    annotations = {ANN: "db.prod.svc,10.0.0.5:5432"}
    problem = host_problem(conn(host, port), annotations, secret="ns/db")
    assert (problem is None) is allowed, problem
    if problem:
        assert "ns/db" in problem and ANN in problem
        # The allowed hosts are not shown to the SchemaVersion's author.
        assert "db.prod.svc," not in problem and "10.0.0.5:5432" not in problem


def test_without_the_annotation_it_is_required_only_by_the_flag() -> None:
    assert host_problem(conn("anywhere"), {}, secret="ns/db") is None
    problem = host_problem(conn("anywhere"), None, secret="ns/db", required=True)
    assert problem is not None
    assert f"kubectl annotate secret db -n ns {ANN}=" in problem
    bad = host_problem(conn("db"), {ANN: "db:notaport"}, secret="ns/db")
    assert bad is not None and "notaport" not in bad and "entry 1" in bad


def test_a_refused_host_stalls_before_any_connection() -> None:
    facts = Facts(
        name="db",
        namespace="ns",
        generation=1,
        spec={"connection": conn("evil.example"), "targetVersion": "latest"},
        annotations={},
        migrations=[],
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        host_not_allowed="spec.connection points at evil.example:5432, which ...",
        db_state=DatabaseState(),
    )
    d = decide(facts)
    stalled = next(c for c in d.conditions if c.type == ConditionType.STALLED)
    assert (stalled.status, stalled.reason) == (True, Reason.HOST_NOT_ALLOWED)
    assert "evil.example" in stalled.message and d.create_job_for is None


def test_a_job_with_passwordfrom_requires_scram() -> None:
    env = connection_env(conn("db"))
    assert {"name": "PGREQUIREAUTH", "value": "scram-sha-256"} in env
    url_env = connection_env({"urlFrom": {"secretKeyRef": {"name": "db", "key": "url"}}})
    assert all(e["name"] != "PGREQUIREAUTH" for e in url_env)


class AnnotatedSecretKube:
    def __init__(self, annotations: Mapping[str, str]) -> None:
        self.annotations = dict(annotations)

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any]:
        password = base64.b64encode(PASSWORD.encode()).decode()
        return {"metadata": {"annotations": self.annotations}, "data": {"password": password}}


def test_the_operator_checks_the_secret_before_it_connects_and_asks_for_scram() -> None:
    async def conninfo(annotations: Mapping[str, str], host: str, **cfg: Any) -> str:
        reconciler = Reconciler(AnnotatedSecretKube(annotations), OperatorConfig(**cfg))  # type: ignore[arg-type]
        info, source = await reconciler._conninfo("ns", {"connection": conn(host)})
        assert PASSWORD not in source
        return info

    info = asyncio.run(conninfo({ANN: "db.prod.svc"}, "db.prod.svc"))
    assert "require_auth=scram-sha-256" in info
    with pytest.raises(HostNotAllowed) as err:
        asyncio.run(conninfo({ANN: "db.prod.svc"}, "evil.example"))
    assert PASSWORD not in str(err.value)
    assert "require_auth=scram-sha-256" in asyncio.run(conninfo({}, "anywhere"))
    with pytest.raises(HostNotAllowed):
        asyncio.run(conninfo({}, "anywhere", require_allowed_hosts=True))


def test_the_kube_read_returns_the_annotations() -> None:
    import json

    from schemaop.kube.api import KubeApi

    class Response:
        def __init__(self, doc: Any) -> None:
            self.data = json.dumps(doc).encode()

    class Core:
        def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> Response:
            return Response(
                {
                    "metadata": {"name": name, "annotations": {ANN: "db"}},
                    "data": {"password": base64.b64encode(PASSWORD.encode()).decode()},
                }
            )

    api = KubeApi.__new__(KubeApi)
    api.core = Core()  # type: ignore[assignment]
    value, annotations = asyncio.run(api.read_secret_key_annotated("ns", "db", "password"))
    assert value == PASSWORD and annotations == {ANN: "db"}


def test_an_old_libpq_does_not_connect_when_scram_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    from schemaop import engine
    from schemaop.engine.connect import check_require_auth
    from schemaop.engine.errors import AuthMethodRefused

    monkeypatch.setattr(psycopg.pq, "version", lambda: 150018)
    monkeypatch.delenv("PGREQUIREAUTH", raising=False)
    check_require_auth({}, "test")  # nothing asked: nothing to enforce
    with pytest.raises(AuthMethodRefused, match="libpq 150018 cannot enforce"):
        check_require_auth({"require_auth": "scram-sha-256"}, "test")
    monkeypatch.setenv("PGREQUIREAUTH", "scram-sha-256")
    with pytest.raises(AuthMethodRefused):
        # Refused before any connection attempt (nothing listens on port 1).
        engine.connect(f"postgresql://u:{PASSWORD}@127.0.0.1:1/db", source="test")
