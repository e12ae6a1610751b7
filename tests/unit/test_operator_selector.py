"""`schemaop operator --selector`: label syntax, the same rule as the chart's schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from schemaop.commands.operator import _selector

ROOT = Path(__file__).resolve().parents[2]
GOOD = ["shard=a", "schemaop.io/shard=a,team=x", "app.kubernetes.io/instance=shop", "k="]
BAD = ["shard!=a", "!shard=a", "bad key=v", "=a", "novalue", "a=b=c"]


def test_good_selectors_parse() -> None:
    assert _selector("schemaop.io/shard=a, team=x") == {"schemaop.io/shard": "a", "team": "x"}
    assert _selector("") == {}


@pytest.mark.parametrize("bad", BAD)
def test_bad_selectors_are_refused_with_the_part(bad: str) -> None:
    with pytest.raises(SystemExit, match="bad --selector part"):
        _selector(bad)


def test_the_chart_schema_agrees() -> None:
    schema = json.loads((ROOT / "charts/schemaop/values.schema.json").read_text())
    pattern = re.compile(schema["properties"]["selector"]["pattern"])
    assert all(pattern.match(s) for s in ["", *GOOD])
    assert not any(pattern.match(s) for s in BAD)
    for s in GOOD:
        _selector(s)
