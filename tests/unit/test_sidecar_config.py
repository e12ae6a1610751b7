"""The sidecar's configuration resolution, its token-bucket rate limiter, the
client address behind trusted proxies and the log mask for tokens (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemaop.engine.schemaread import sidecar_conninfo
from schemaop.sidecar.config import ConfigError, SidecarConfig, load_config
from schemaop.sidecar.ratelimit import RateLimiter
from schemaop.web.forwarded import client_address, parse_networks
from schemaop.web.logs import mask


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
        ({}, {"SCHEMAOP_SIDECAR_TOKEN": " \n"}, "SCHEMAOP_SIDECAR_TOKEN: the token is blank"),
        ({}, {"SCHEMAOP_SIDECAR_TOKEN": "t\u00f6ken"}, "only printable ASCII"),
        ({}, {"SCHEMAOP_SIDECAR_TOKEN": "to\x00ken"}, "only printable ASCII"),
        ({"header_timeout": 0}, {}, "header timeout: must be more than 0"),
        ({}, {"SCHEMAOP_SIDECAR_HEADER_TIMEOUT": "soon"}, "header timeout: 'soon'"),
        ({"trusted_proxies": "10.0.0.0/8,ingress"}, {}, "trusted proxies: 'ingress'"),
        ({}, {"SCHEMAOP_SIDECAR_TRUSTED_PROXIES": "10.0.0.1/8"}, "has host bits set"),
    ],
)
def test_bad_values_are_clear_errors(
    flags: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(flags, env)


def test_conninfo_sends_no_options_of_its_own_and_keeps_the_users() -> None:
    # PgBouncer refuses a client that sends `options`: read-only is per transaction.
    info = sidecar_conninfo("postgresql://u@db/app?options=-c%20search_path%3Dx")
    assert "search_path=x" in info
    assert "application_name=schemaop-sidecar" in info
    assert "options" not in sidecar_conninfo("")
    assert "default_transaction_read_only" not in info


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


def test_the_token_is_stripped_on_both_sides_from_the_environment_and_files(
    tmp_path: Path,
) -> None:
    # `echo token > file`, `kubectl create secret --from-file` and editors add a newline.
    assert load_config({}, {"SCHEMAOP_SIDECAR_TOKEN": "  t0ken\r\n"}).token == "t0ken"
    token_file = tmp_path / "token"
    token_file.write_text("\tfrom-file \n\n")
    assert load_config({"token_file": str(token_file)}, {}).token == "from-file"
    # The file wins over the variable, which is then not looked at.
    env = {"SCHEMAOP_SIDECAR_TOKEN": " "}
    assert load_config({"token_file": str(token_file)}, env).token == "from-file"
    assert load_config({}, {"SCHEMAOP_SIDECAR_TOKEN": ""}).token is None


def test_a_bad_token_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({}, {"SCHEMAOP_SIDECAR_TOKEN": "s3cr\u00e9t"})
    assert "s3cr" not in str(caught.value)


def test_header_timeout_and_trusted_proxies_settings() -> None:
    assert SidecarConfig().header_timeout == 10.0 and SidecarConfig().trusted_proxies == ()
    env = {
        "SCHEMAOP_SIDECAR_HEADER_TIMEOUT": "2.5",
        "SCHEMAOP_SIDECAR_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,fd00::/8",
    }
    config = load_config({}, env)
    assert config.header_timeout == 2.5
    assert [str(n) for n in config.trusted_proxies] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "fd00::/8",
    ]
    config = load_config({"header_timeout": 4.0, "trusted_proxies": "127.0.0.1"}, env)
    assert config.header_timeout == 4.0
    assert [str(n) for n in config.trusted_proxies] == ["127.0.0.1/32"]


INGRESS = parse_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # Not behind a trusted proxy: the header is the client's word, ignored.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        # Behind the ingress: the right-most untrusted address.
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        ("10.1.2.3", ["198.51.100.1, 10.4.4.4"], "198.51.100.1"),
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1", "10.4.4.4"], "198.51.100.1"),
        # A client cannot pick its bucket by writing addresses on the left.
        ("10.1.2.3", ["1.1.1.1, 2.2.2.2, 198.51.100.1"], "198.51.100.1"),
        # Ports and brackets as some proxies write them; IPv6; v4-mapped peers.
        ("10.1.2.3", ["198.51.100.1:4711"], "198.51.100.1"),
        ("10.1.2.3", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("fd00::5", ["2001:db8::1"], "2001:db8::1"),
        ("::ffff:10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        # Every hop trusted: the left-most; garbage: the hop to its right.
        ("10.1.2.3", ["10.9.9.9, 10.4.4.4"], "10.9.9.9"),
        ("10.1.2.3", ["198.51.100.1, unknown, 10.4.4.4"], "10.4.4.4"),
        ("10.1.2.3", ["garbage"], "10.1.2.3"),
        # No header, or an empty one: the peer.
        ("10.1.2.3", [], "10.1.2.3"),
        ("10.1.2.3", [" , "], "10.1.2.3"),
    ],
)
def test_client_address_behind_trusted_proxies(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert client_address(peer, forwarded, INGRESS) == client
    # No trusted proxies configured: always the peer.
    assert client_address(peer, forwarded, ()) == peer


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("GET /api/v1/events?access_token=abc&x=1", "GET /api/v1/events?access_token=***&x=1"),
        ("/api/v1/events?x=1&ACCESS%5Ftoken%3Dabc", "/api/v1/events?x=1&ACCESS%5Ftoken%3D***"),
        (
            "bytearray(b'/api/v1/events?access_token=abcdefgh...')",
            "bytearray(b'/api/v1/events?access_token=***')",
        ),
        (
            "Got more than 8190 bytes: b'Bearer abc.def-ghi...'",
            "Got more than 8190 bytes: b'Bearer ***'",
        ),
        ("authorization: bearer abc", "authorization: bearer ***"),
        ("postgresql://app:hunter2@db/app", "postgresql://app:***@db/app"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_one_mask_for_tokens_in_logs(text: str, masked: str) -> None:
    assert mask(text) == masked
