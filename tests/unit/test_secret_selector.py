"""`schemaop operator --secret-selector`: the flag, and the label check on the one
Secret read (KubeApi.read_secret_key) against a fake CoreV1Api."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from schemaop.commands.operator import _selector
from schemaop.kube.api import KubeApi, SecretNotFound, SecretNotLabelled

URL = "postgresql://app:hunter2@db:5432/app"


class _Response:
    def __init__(self, doc: Any) -> None:
        self.data = json.dumps(doc).encode()


class _FakeCore:
    """read_namespaced_secret only: the one Secret call the operator makes."""

    def __init__(self, secrets: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.secrets = secrets
        self.calls: list[str] = []

    def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> _Response:
        self.calls.append(f"get {namespace}/{name}")
        from kubernetes.client.exceptions import ApiException

        if (namespace, name) not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        return _Response(self.secrets[(namespace, name)])


def _api(**labels: str) -> tuple[KubeApi, _FakeCore]:
    secret = {
        "metadata": {"name": "db", "namespace": "apps", "labels": labels},
        "data": {"url": base64.b64encode(URL.encode()).decode()},
    }
    api = KubeApi.__new__(KubeApi)
    api.core = _FakeCore({("apps", "db"): secret})  # type: ignore[assignment]
    return api, api.core  # type: ignore[return-value]


def _read(api: KubeApi, required: dict[str, str] | None, name: str = "db") -> str:
    return asyncio.run(api.read_secret_key("apps", name, "url", required))


def test_without_a_selector_any_secret_is_read() -> None:
    api, _ = _api()
    assert _read(api, None) == URL and _read(api, {}) == URL


def test_a_labelled_secret_is_read() -> None:
    api, _ = _api(**{"schemaop.io/database": "true", "team": "shop"})
    assert _read(api, {"schemaop.io/database": "true"}) == URL


@pytest.mark.parametrize("labels", [{}, {"schemaop.io/database": "false"}, {"other": "true"}])
def test_an_unlabelled_secret_is_refused_with_the_command_that_labels_it(
    labels: dict[str, str],
) -> None:
    api, core = _api(**labels)
    with pytest.raises(SecretNotLabelled) as refused:
        _read(api, {"schemaop.io/database": "true"})
    message = str(refused.value)
    assert "Secret apps/db is not labelled schemaop.io/database=true" in message
    assert "kubectl label secret db -n apps schemaop.io/database=true" in message
    assert "hunter2" not in message and URL not in message
    assert core.calls == ["get apps/db"]  # one get by name, never a list


def test_a_missing_secret_is_still_not_found() -> None:
    api, _ = _api()
    with pytest.raises(SecretNotFound) as missing:
        _read(api, {"schemaop.io/database": "true"}, name="gone")
    assert not isinstance(missing.value, SecretNotLabelled)


def test_the_flag_takes_label_syntax_and_names_itself_in_errors() -> None:
    assert _selector("schemaop.io/database=true", "--secret-selector") == {
        "schemaop.io/database": "true"
    }
    with pytest.raises(SystemExit, match="bad --secret-selector part 'a!=b'"):
        _selector("a!=b", "--secret-selector")


def test_a_secret_that_is_not_utf8_is_a_clear_error_that_carries_none_of_it() -> None:
    api, core = _api()
    secret = core.secrets[("apps", "db")]
    secret["data"]["url"] = base64.b64encode(b"postgresql://app:\xffhunter2@db/app").decode()
    with pytest.raises(SecretNotFound) as refused:
        _read(api, None)
    assert str(refused.value) == (
        "Secret apps/db key 'url' is not UTF-8 text: store the connection string "
        "(or password) as UTF-8"
    )
    # Nothing of the value rides along in the exception chain (tracebacks, logs).
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
