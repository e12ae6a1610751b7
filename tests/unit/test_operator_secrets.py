"""The operator's side of keeping a Secret's content secret (no API server, no database).

A Secret holding a malformed URL: the connection error names the Secret and the
problem, never its content; the status and Event writers scrub whatever reaches them.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest

from schemaop import redaction
from schemaop.decide import Facts, decide
from schemaop.engine.errors import InvalidConnectionString
from schemaop.engine.observe import read_database
from schemaop.kube.api import KubeApi
from schemaop.model.conditions import ConditionType, Reason
from schemaop.operator.reconcile import OperatorConfig, Reconciler, _engine_error

SPEC = {"connection": {"urlFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}}


class SecretKube:
    def __init__(self, value: str) -> None:
        self.value = value

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any]:
        return {"data": {"url": base64.b64encode(self.value.encode()).decode()}}


@pytest.mark.parametrize("template", ["postgresql://mig:Lea@{t}@db:5432/app", "{t}"])
async def test_malformed_secret_is_named_never_quoted(template: str) -> None:
    tail = f"kPw{uuid.uuid4().hex[:12]}"
    reconciler = Reconciler(SecretKube(template.format(t=tail)), OperatorConfig())  # type: ignore[arg-type]
    conninfo, source = await reconciler._conninfo("ns", SPEC)
    assert source == "Secret ns/db key url"
    with pytest.raises(InvalidConnectionString) as err:
        read_database(conninfo, "schemaop", ["public"], 1, source)
    error = _engine_error(err.value)
    assert error.message.startswith("the database URL from Secret ns/db key url cannot be used")
    assert tail[:6] not in json.dumps(error.to_dict())
    # Read once, the Secret's content is known to the scrubber for the rest of the process.
    assert tail not in redaction.scrub(f"some library said: {tail}")


class _Anything:
    def __getattr__(self, name: str) -> Any:
        return name


class FakeApi(KubeApi):
    """KubeApi with the HTTP call replaced: records what would be sent."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.sent: list[Any] = []
        self.obj = {"metadata": {"name": "db", "namespace": "ns"}, "status": status}

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return json.loads(json.dumps(self.obj))

    def __getattribute__(self, name: str) -> Any:
        if name in ("custom", "core"):
            return _Anything()
        return super().__getattribute__(name)

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(args[-1])
        return args[-1]


async def test_status_and_event_writes_are_scrubbed() -> None:
    password = f"Pw{uuid.uuid4().hex[:12]}"
    redaction.remember(password)
    api = FakeApi({})

    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        status["failure"] = {"message": f"oops {password}", "attempts": 1}
        status["conditions"] = [{"type": "Ready", "message": f"x {password}"}]
        status["schemaHash"] = "abc"
        return status

    await api.update_status("schemaversions", "ns", "db", mutate)
    await api.post_event(api.obj, "Warning", "DatabaseUnreachable", f"bad {password}")
    sent = json.dumps(api.sent)
    assert password not in sent and sent.count("***") == 3
    assert base64.b64encode(password.encode()).decode() not in sent


@pytest.mark.parametrize(
    "password",
    [
        "Lea@der/Wx9",  # URL specials libpq misreads
        "pa?ss#wo&rd=x@y%zz",
        "quo\"te'sPw@x",  # quotes
        "with space s@two",  # spaces
        "database URL/from",  # its words are the message's own
    ],
)
async def test_a_malformed_url_stalls_with_its_own_reason_naming_the_secret_never_its_text(
    password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A memory of its own: these passwords are common words, which would be masked
    # in every later test's messages of this process.
    monkeypatch.setattr(redaction, "_REMEMBERED", redaction._Remembered())
    url = f"postgresql://mig:{password}@db.example:5432/app"
    reconciler = Reconciler(SecretKube(url), OperatorConfig())  # type: ignore[arg-type]
    conninfo, source = await reconciler._conninfo("ns", SPEC)
    with pytest.raises(InvalidConnectionString) as err:
        read_database(conninfo, "schemaop", ["public"], 1, source)
    facts = Facts(
        name="db",
        namespace="ns",
        generation=1,
        spec=SPEC,
        annotations={},
        migrations=[],
        now=dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
        db_error=_engine_error(err.value),
    )
    d = decide(facts)
    stalled = next(c for c in d.conditions if c.type == ConditionType.STALLED)
    assert (stalled.status, stalled.reason) == (True, Reason.INVALID_CONNECTION_SECRET)
    # As the status writer and the Event writer send it (scrubbed):
    written = redaction.scrub_messages(
        {
            "status": {**d.status, "conditions": [{"message": c.message} for c in d.conditions]},
            "event": {"message": stalled.message},
        }
    )
    message = written["event"]["message"]
    assert "Secret ns/db key url" in message and "cannot be used" in message
    text = json.dumps(written)
    pieces = [password, *re.split(r"[@:/?#&=,;\s]+", password)]
    for piece in pieces:
        if len(piece) >= redaction.MIN_FRAGMENT_LENGTH:
            assert piece not in text and json.dumps(piece)[1:-1] not in text, piece


async def test_a_status_write_over_the_object_given_leaves_it_as_it_was() -> None:
    """update_status(current=...) copies only the status it changes: the object
    given (kopf's or the index's) is not modified, the one sent has the new status."""
    api = FakeApi({})
    current = {
        "metadata": {"name": "db", "namespace": "ns", "resourceVersion": "4"},
        "spec": {"target": "3"},
        "status": {"currentVersion": "2", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    before = copy.deepcopy(current)

    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        status["currentVersion"] = "3"
        status["conditions"][0]["status"] = "False"
        return status

    written = await api.update_status("schemaversions", "ns", "db", mutate, current=current)
    assert current == before
    assert api.sent[-1]["status"]["currentVersion"] == "3"
    assert api.sent[-1]["metadata"]["resourceVersion"] == "4"
    assert written is not None and written["status"]["conditions"][0]["status"] == "False"

    # Nothing changed: nothing sent, and the object is handed back as it is.
    sent = len(api.sent)
    same = await api.update_status("schemaversions", "ns", "db", lambda s: s, current=current)
    assert len(api.sent) == sent and same == current
