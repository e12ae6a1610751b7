"""The sidecar's configuration resolution and its token-bucket rate limiter (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemaop.sidecar.cache import read_only_conninfo
from schemaop.sidecar.config import ConfigError, SidecarConfig, load_config
from schemaop.sidecar.ratelimit import RateLimiter


def test_defaults_environment_and_flags_in_that_order(tmp_path: Path) -> None:
    assert load_config({}, {}) == SidecarConfig()
    env = {
        "SCHEMAOP_DATABASE_URL": "postgresql://u:p@db/app",
        "SCHEMAOP_SCHEMAS": "app, Odd Schema ,app",
        "SCHEMAOP_SIDECAR_PORT": "9000",
        "SCHEMAOP_SIDECAR_RATE_LIMIT": "0",
        "SCHEMAOP_SIDECAR_CORS_ORIGINS": "https://a.example,https://b.example",
        "SCHEMAOP_SIDECAR_TOKEN": "t0ken",
        "SCHEMAOP_SIDECAR_ACCESS_LOG": "true",
    }
    config = load_config({}, env)
    assert config.schemas == ("app", "Odd Schema")
    assert config.port == 9000 and config.rate_limit == 0 and config.access_log
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert config.token == "t0ken"
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    flags = {"port": 7000, "schemas": "other", "token_file": str(token_file)}
    config = load_config(flags, env)
    assert config.port == 7000 and config.schemas == ("other",) and config.token == "from-file"


def test_secrets_stay_out_of_repr() -> None:
    config = load_config(
        {},
        {
            "SCHEMAOP_DATABASE_URL": "postgresql://u:hunter2@db/app",
            "SCHEMAOP_SIDECAR_TOKEN": "tok-secret",
        },
    )
    assert "hunter2" not in repr(config) and "tok-secret" not in repr(config)


def test_database_url_from_schemaop_variable_then_database_url() -> None:
    assert load_config({}, {"DATABASE_URL": "postgresql://a@db/x"}).database_url.endswith("/x")
    both = {"DATABASE_URL": "postgresql://a@db/x", "SCHEMAOP_DATABASE_URL": "postgresql://a@db/y"}
    assert load_config({}, both).database_url.endswith("/y")


def test_an_unreadable_secret_file_is_not_echoed() -> None:
    # A URL given where a path belongs must not reach the log.
    with pytest.raises(ConfigError) as caught:
        load_config({"database_url_file": "postgresql://app:hunter2@db/app"}, {})
    assert "hunter2" not in str(caught.value)
    assert "--database-url-file: cannot read the file" in str(caught.value)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"port": 70000}, {}, "port: 70000"),
        ({}, {"SCHEMAOP_SIDECAR_POLL_INTERVAL": "0"}, "poll interval"),
        ({}, {"SCHEMAOP_SIDECAR_RATE_LIMIT": "fast"}, "'fast' is not a number"),
        ({"rate_burst": 0}, {}, "burst >= 1"),
        ({"schemas": "schemaop"}, {}, "history schema"),
        ({"log_level": "loud"}, {}, "log level"),
        ({"token_file": "/nonexistent/token"}, {}, "--token-file: cannot read"),
    ],
)
def test_bad_values_are_clear_errors(
    flags: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(flags, env)


def test_read_only_is_forced_and_existing_options_kept() -> None:
    info = read_only_conninfo("postgresql://u@db/app?options=-c%20search_path%3Dx")
    assert "default_transaction_read_only=on" in info
    assert "search_path=x" in info
    assert "application_name=schemaop-sidecar" in info
    assert "default_transaction_read_only=on" in read_only_conninfo("")


def test_token_bucket_allows_a_burst_then_refills() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a", 0.0)
    assert wait == pytest.approx(0.5) and RateLimiter.retry_after(wait) == 1
    assert limiter.take("b", 0.0) == 0.0  # per client
    assert limiter.take("a", 0.5) == 0.0  # one token back after 1/rate seconds
    assert limiter.take("a", 0.5) > 0


def test_bucket_table_is_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=100)
    for i in range(1000):
        limiter.take(f"client-{i}", float(i) / 1000)
    assert len(limiter) <= 100
